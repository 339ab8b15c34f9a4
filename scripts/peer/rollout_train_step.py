"""Issue 16's rollout-training step, written plainly in PyTorch the way a researcher would,
to time against the project's Rust step on the same machine (and, with --check, to check its
loss terms one by one).

    python rollout_train_step.py [--threads N] [--steps N] [--model hnn|baseline|ode|rgn]
        [--integrator euler|rk4|leapfrog|midpoint] [--batch B] [--horizon K]
    python rollout_train_step.py --check [--weights W.safetensors] [--inputs X.safetensors] ...

One step: a batch of B windows of K+1 consecutive frame pairs X_0..X_K ([B, K+1, 1568]); the
paper's autoencoder encodes every pair; the field's step (h = 1, one per frame) rolls Z_0
forward K times; loss = ae + cc + 0.1 hnn + 1.0 roll (below); backward; Adam (lr 1e-3,
weight decay 1e-5). Random inputs of the real shapes; weights orthogonal-init as
reference_train_step.py. Prints one JSON line:
{"peer": "pytorch", "bench": "rollout_train_step", "model", "integrator", "batch", "horizon",
 "threads", "ms_per_step", "loss"}.

--check prints the loss terms {"ae", "cc", "hnn", "roll", "total"} at initialisation in
float64 for torch.manual_seed(0)'s inputs torch.rand(B, K+1, 1568) * 0.5 (drawn in float32,
then widened), or for --inputs (a tensor "x" [B, K+1, 1568]) and --weights (parameters named
as the Rust side names them: ae.enc.l1.weight .. ae.dec.l4.bias, field.l1.weight ..).
Needs only torch and safetensors (the project's own venv has both).
"""
import argparse, json, sys, time
import torch
from torch import nn

PAIR = 1568  # two 28x28 frames
LATENT = 2  # (q, p), one degree of freedom


class ResidualMlp(nn.Module):
    """The paper's encoder or decoder: relu(l1), two residual relu layers, linear l4."""

    def __init__(self, d_in, hidden, d_out):
        super().__init__()
        self.l1, self.l2 = nn.Linear(d_in, hidden), nn.Linear(hidden, hidden)
        self.l3, self.l4 = nn.Linear(hidden, hidden), nn.Linear(hidden, d_out)
        for l in (self.l1, self.l2, self.l3, self.l4):
            nn.init.orthogonal_(l.weight)

    def forward(self, x):
        h = torch.relu(self.l1(x))
        h = h + torch.relu(self.l2(h))
        h = h + torch.relu(self.l3(h))
        return self.l4(h)


class Autoencoder(nn.Module):
    def __init__(self, d_in=PAIR, hidden=200, latent=LATENT):
        super().__init__()
        self.enc = ResidualMlp(d_in, hidden, latent)
        self.dec = ResidualMlp(latent, hidden, d_in)


class TanhField(nn.Module):
    """The paper's MLP 2 -> 200 -> 200 -> 2 (tanh, last layer unbiased).
    hnn: H is output 1 and dz/dt = (dH/dp, -dH/dq); baseline: the outputs are dz/dt."""

    def __init__(self, hamiltonian, d=LATENT, hidden=200):
        super().__init__()
        self.hamiltonian = hamiltonian
        self.l1, self.l2 = nn.Linear(d, hidden), nn.Linear(hidden, hidden)
        self.l3 = nn.Linear(hidden, d, bias=False)
        for l in (self.l1, self.l2, self.l3):
            nn.init.orthogonal_(l.weight)

    def forward(self, z):  # [N, 2] -> [N, 2]
        if self.hamiltonian and not z.requires_grad:
            z = z.detach().requires_grad_(True)
        out = self.l3(torch.tanh(self.l2(torch.tanh(self.l1(z)))))
        if not self.hamiltonian:
            return out
        (g,) = torch.autograd.grad(out[:, 1].sum(), z, create_graph=True)
        dof = z.shape[1] // 2
        return torch.cat([g[:, dof:], -g[:, :dof]], dim=1)


class SwishField(nn.Module):
    """A free field d -> 200 -> 200 -> 200 -> d (SiLU, every layer biased): the neural ODE's
    dz/dt, or the RGN's residual g in z' = z + g(z)."""

    def __init__(self, d=LATENT, hidden=200):
        super().__init__()
        self.l1, self.l2 = nn.Linear(d, hidden), nn.Linear(hidden, hidden)
        self.l3, self.l4 = nn.Linear(hidden, hidden), nn.Linear(hidden, d)
        for l in (self.l1, self.l2, self.l3, self.l4):
            nn.init.orthogonal_(l.weight)

    def forward(self, z):  # [N, d] -> [N, d]
        act = nn.functional.silu
        return self.l4(act(self.l3(act(self.l2(act(self.l1(z)))))))


# One step of h for a field f, z [N, 2] -> [N, 2].
def euler(f, z, h):
    return z + h * f(z)


def rk4(f, z, h):
    k1 = f(z)
    k2 = f(z + h / 2 * k1)
    k3 = f(z + h / 2 * k2)
    k4 = f(z + h * k3)
    return z + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)


def leapfrog(f, z, h):
    d = z.shape[1] // 2
    q, p = z[:, :d], z[:, d:]
    p_half = p + h / 2 * f(z)[:, d:]
    q_next = q + h * f(torch.cat([q, p_half], 1))[:, :d]
    p_next = p_half + h / 2 * f(torch.cat([q_next, p_half], 1))[:, d:]
    return torch.cat([q_next, p_next], 1)


def midpoint(f, z, h, iterations=6):
    """Implicit midpoint z' = z + h f((z + z') / 2) by fixed-point iteration from the Euler
    guess, differentiated through the unrolled iterations."""
    z_next = z + h * f(z)
    for _ in range(iterations):
        z_next = z + h * f((z + z_next) / 2)
    return z_next


def residual(g, z, h):
    return z + g(z)  # the RGN's discrete step; h plays no part


INTEGRATORS = {"euler": euler, "rk4": rk4, "leapfrog": leapfrog, "midpoint": midpoint}
DEFAULT_INTEGRATOR = {"hnn": "leapfrog", "baseline": "euler", "ode": "rk4", "rgn": "residual"}


class RolloutModel(nn.Module):
    """Parameters named as the Rust side names them: ae.enc.l1.weight .. ae.dec.l4.bias,
    field.l1.weight .. (field.l3.weight for the tanh nets, field.l4.bias for the swish nets)."""

    def __init__(self, model, integrator):
        super().__init__()
        self.ae = Autoencoder()
        self.field = TanhField(model == "hnn") if model in ("hnn", "baseline") else SwishField()
        self.step = residual if integrator == "residual" else INTEGRATORS[integrator]

    def losses(self, x, h=1.0):
        """x [B, K+1, 1568] -> dict of scalar losses (means over the batch)."""
        b, k1, d_in = x.shape
        z = self.ae.enc(x.reshape(b * k1, d_in)).reshape(b, k1, -1)  # [B, K+1, 2]
        dof = z.shape[2] // 2
        ae = ((self.ae.dec(z[:, 0]) - x[:, 0]) ** 2).mean()
        q0, p0, q1 = z[:, 0, :dof], z[:, 0, dof:], z[:, 1, :dof]
        cc = ((p0 - (q1 - q0)) ** 2).sum(1).mean()
        zhat, preds = z[:, 0], []
        for _ in range(k1 - 1):
            zhat = self.step(self.field, zhat, h)
            preds.append(zhat)
        zhat = torch.stack(preds, 1)  # [B, K, 2]
        hnn = ((z[:, 1:] - zhat) ** 2).mean()
        decoded = self.ae.dec(zhat.reshape(b * (k1 - 1), -1)).reshape(b, k1 - 1, d_in)
        roll = ((decoded - x[:, 1:]) ** 2).mean()
        total = ae + cc + 0.1 * hnn + 1.0 * roll
        return {"ae": ae, "cc": cc, "hnn": hnn, "roll": roll, "total": total}


def fail(message):
    sys.exit(f"rollout_train_step.py: {message}")


def load_weights(model, path):
    from safetensors.torch import load_file
    try:
        tensors = load_file(path)
    except Exception as e:
        fail(f"--weights {path}: cannot read as safetensors ({e})")
    want = model.state_dict()
    missing = sorted(set(want) - set(tensors))
    extra = sorted(set(tensors) - set(want))
    if missing or extra:
        parts = [f"missing {missing}"] * bool(missing) + [f"unexpected {extra}"] * bool(extra)
        fail(f"--weights {path}: {', '.join(parts)} (names as ae.enc.l1.weight, field.l1.bias)")
    for name, t in tensors.items():
        if tuple(t.shape) != tuple(want[name].shape):
            fail(f"--weights {path}: {name} has shape {list(t.shape)}, want {list(want[name].shape)}")
    dtype = next(model.parameters()).dtype
    model.load_state_dict({n: t.to(dtype) for n, t in tensors.items()})


def load_inputs(path):
    from safetensors.torch import load_file
    try:
        tensors = load_file(path)
    except Exception as e:
        fail(f"--inputs {path}: cannot read as safetensors ({e})")
    if "x" not in tensors:
        fail(f"--inputs {path}: no tensor named x (has {sorted(tensors)})")
    x = tensors["x"]
    if x.dim() != 3 or x.shape[1] < 2 or x.shape[2] != PAIR:
        fail(f"--inputs {path}: x has shape {list(x.shape)}, want [B, K+1 >= 2, {PAIR}]")
    return x


def check(a):
    """Loss terms at initialisation, float64."""
    torch.manual_seed(0)
    model = RolloutModel(a.model, a.integrator).double()
    if a.weights:
        load_weights(model, a.weights)
    if a.inputs:
        x = load_inputs(a.inputs)
    else:
        torch.manual_seed(0)
        x = torch.rand(a.batch, a.horizon + 1, PAIR) * 0.5
    x = x.double()
    terms = {n: t.item() for n, t in model.losses(x).items()}
    return {"peer": "pytorch", "check": "rollout_train_step", "model": a.model,
            "integrator": a.integrator, "batch": x.shape[0], "horizon": x.shape[1] - 1,
            "dtype": "float64", **terms}


def bench(a, pool=4000):
    torch.manual_seed(0)
    model = RolloutModel(a.model, a.integrator)
    if a.weights:
        load_weights(model, a.weights)
    opt = torch.optim.Adam(model.parameters(), 1e-3, weight_decay=1e-5)
    data = torch.rand(pool, PAIR) * 0.5  # frame pairs of one long random sequence
    offsets = torch.arange(a.horizon + 1)

    def step():
        start = torch.randint(0, pool - a.horizon, (a.batch,))
        x = data[start[:, None] + offsets]  # [B, K+1, 1568]
        loss = model.losses(x)["total"]
        loss.backward(); opt.step(); opt.zero_grad()
        return loss.item()

    for _ in range(3):
        step()
    t = time.perf_counter()
    for _ in range(a.steps):
        loss = step()
    ms = (time.perf_counter() - t) / a.steps * 1e3
    return {"peer": "pytorch", "bench": "rollout_train_step", "model": a.model,
            "integrator": a.integrator, "batch": a.batch, "horizon": a.horizon,
            "threads": a.threads, "ms_per_step": round(ms, 3), "loss": loss}


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    ap.add_argument("--steps", type=int, default=50, help="timed steps, after 3 warm-up steps")
    ap.add_argument("--model", choices=["hnn", "baseline", "ode", "rgn"], default="hnn")
    ap.add_argument("--integrator", choices=sorted(INTEGRATORS),
                    help="default: hnn leapfrog, baseline euler, ode rk4; rgn has its own step")
    ap.add_argument("--batch", type=int, default=32, help="windows per step (B)")
    ap.add_argument("--horizon", type=int, default=10, help="predicted frames per window (K)")
    ap.add_argument("--check", action="store_true", help="print the loss terms at init, float64")
    ap.add_argument("--weights", help="safetensors file of parameters named as the Rust side's")
    ap.add_argument("--inputs", help="safetensors file holding x [B, K+1, 1568] (with --check)")
    a = ap.parse_args()
    if a.model == "rgn" and a.integrator:
        fail("--integrator: rgn takes none (its step is z + g(z)); leave the flag out")
    a.integrator = a.integrator or DEFAULT_INTEGRATOR[a.model]
    for flag, value in (("--threads", a.threads), ("--steps", a.steps), ("--batch", a.batch),
                        ("--horizon", a.horizon)):
        if value < 1:
            fail(f"{flag} {value}: must be at least 1")
    if a.inputs and not a.check:
        fail("--inputs: only read with --check (the timed step draws its own windows)")
    return a


if __name__ == "__main__":
    a = parse_args()
    torch.set_num_threads(a.threads)
    print(json.dumps(check(a) if a.check else bench(a)), flush=True)
