"""Issue 16's rollout-training step, written plainly in PyTorch the way a researcher would,
to time against the project's Rust step on the same machine (and, with --check, to check its
loss terms one by one).

    python rollout_train_step.py [--threads N] [--steps N] [--model hnn|baseline|rgn|ode|hgn|lgn]
        [--integrator euler|rk4|leapfrog|midpoint] [--batch B] [--horizon K]
        [--encoder mlp-pair|conv] [--context C] [--channels CH] [--latent D]
    python rollout_train_step.py --check [--weights W.safetensors] [--inputs X.safetensors] ...

The model: an autoencoder between 28x28 frames and a latent z = (q, p) of D values (--latent,
default 2), and a latent field stepped by an integrator (h = 1, one step per frame; default:
hnn and hgn leapfrog, baseline euler, ode rk4; rgn has its own step z + g(z)). hnn: a tanh
MLP D -> 200 -> 200 -> 2, H its output 1, dz/dt = (dH/dp, -dH/dq); hgn: the same with one
output, H, and a decoder that reads q alone (z[:, :D/2]); baseline: a tanh MLP D -> .. -> D
giving dz/dt; ode and rgn: a SiLU MLP D -> 200 x 3 -> D. --encoder picks the autoencoder:

- mlp-pair (the paper's; the default): a residual MLP each way over one pair of frames
  (1568 -> 200 -> 200 -> 200 -> D and back). One step: a batch of B windows of K+1
  consecutive frame pairs X_0..X_K ([B, K+1, 1568]); every pair is encoded; the field rolls
  Z_0 forward K times; loss = ae + cc + 0.1 hnn + 1.0 roll (RolloutModel.pair_losses).
- conv (the benchmark's, "Which priors matter?"): a convolutional encoder over the C frames
  of --context (default 5) stacked on channels (six 3x3 convolutions, strides 1 2 1 2 1 2,
  --channels CH wide, default 32, each followed by a leaky ReLU, then a linear layer to D)
  and a convolutional decoder to one frame (linear to CH x 4 x 4, three times nearest x2
  upsampling, a 3x3 convolution and a leaky ReLU, a 3x3 convolution to one channel, the
  centre 28x28 cropped, linear output as the paper's decoder). A window of P pairs is its P+1 frames; the first C are
  encoded into z_0, rolled forward K = P + 1 - C times; loss = ae + roll, with ae the first
  frame's reconstruction from z_0 and roll the decoded z_1..z_K's error against frames
  1..K (RolloutModel.frame_losses); cc and hnn are not computed (printed as 0).

Then backward; Adam (lr 1e-3, weight decay 1e-5). Random inputs of the real shapes (windows
of P = K + max(C, drawn) - 1 pairs, drawn = 2 frames for the MLP decoder and 1 for the
convolutional one); weights orthogonal-init as reference_train_step.py. Prints one JSON line:
{"peer": "pytorch", "bench": "rollout_train_step", "model", "integrator", "encoder",
 "context", "channels", "latent", "batch", "horizon", "threads", "ms_per_step", "loss"}.

--check prints the loss terms {"ae", "cc", "hnn", "roll", "total"} at initialisation in
float64 for torch.manual_seed(0)'s inputs torch.rand(B, P, 1568) * 0.5 (drawn in float32,
then widened; P as above), or for --inputs (a tensor "x" [B, P, 1568], the horizon then
read from P) and --weights (parameters named as the Rust side names them: ae.enc.l1.weight
.. ae.dec.l4.bias for the MLPs, ae.enc.c1.weight .. ae.enc.c6, ae.enc.out, ae.dec.in,
ae.dec.c1 .. ae.dec.c3, ae.dec.out for the convolutions; field.l1.weight ..).
Needs only torch and safetensors (the project's own venv has both).
"""
import argparse, json, sys, time
import torch
from torch import nn
import torch.nn.functional as F

SIDE = 28  # frames are SIDE x SIDE
PX = SIDE * SIDE  # one frame
PAIR = 2 * PX  # two 28x28 frames
LATENT = 2  # (q, p), one degree of freedom
CONV_CONTEXT = 5  # frames the convolutional encoder reads by default (the benchmark's)
CONV_CHANNELS = 32  # the convolutions' width by default (the benchmark's: 64)


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
    """The paper's: a residual MLP each way over one pair of frames. The decoder reads
    dec_in values of the latent (all of it, or q alone for hgn)."""

    def __init__(self, d_in=PAIR, hidden=200, latent=LATENT, dec_in=None):
        super().__init__()
        self.enc = ResidualMlp(d_in, hidden, latent)
        self.dec = ResidualMlp(dec_in or latent, hidden, d_in)


class ConvEncoder(nn.Module):
    """C frames stacked on channels [N, C, 28, 28] -> [N, D]: six 3x3 convolutions (strides
    1, 2, 1, 2, 1, 2: 28 -> 14 -> 7 -> 4), each followed by a leaky ReLU, then a linear
    layer from the flattened [N, CH, 4, 4]."""

    def __init__(self, context, channels, latent, side=SIDE):
        super().__init__()
        for i in range(6):
            conv = nn.Conv2d(context if i == 0 else channels, channels, 3,
                             stride=2 if i % 2 else 1, padding=1)
            nn.init.orthogonal_(conv.weight)
            self.add_module(f"c{i + 1}", conv)
        s = side
        for _ in range(3):
            s = (s + 1) // 2
        self.out = nn.Linear(channels * s * s, latent)
        nn.init.orthogonal_(self.out.weight)

    def forward(self, x):
        h = x
        for i in range(6):
            h = F.leaky_relu(getattr(self, f"c{i + 1}")(h))
        return self.out(h.flatten(1))


class ConvDecoder(nn.Module):
    """[N, Din] -> one frame [N, 784]: a linear layer to [N, CH, 4, 4] and a leaky
    ReLU, three times nearest x2 upsampling, a 3x3 convolution and a leaky ReLU (-> 32x32),
    a 3x3 convolution to one channel, the centre 28x28, linear output."""

    def __init__(self, d_in, channels, side=SIDE):
        super().__init__()
        s = side
        for _ in range(3):
            s = (s + 1) // 2
        self.channels, self.s0, self.side = channels, s, side
        self.add_module("in", nn.Linear(d_in, channels * s * s))  # "in": the Rust side's name
        self.c1, self.c2, self.c3 = (nn.Conv2d(channels, channels, 3, padding=1) for _ in range(3))
        self.out = nn.Conv2d(channels, 1, 3, padding=1)
        for m in (getattr(self, "in"), self.c1, self.c2, self.c3, self.out):
            nn.init.orthogonal_(m.weight)

    def forward(self, z):
        h = F.leaky_relu(getattr(self, "in")(z)).view(-1, self.channels, self.s0, self.s0)
        for conv in (self.c1, self.c2, self.c3):
            h = F.leaky_relu(conv(F.interpolate(h, scale_factor=2, mode="nearest")))
        crop = (h.shape[-1] - self.side) // 2
        y = self.out(h)[:, :, crop:crop + self.side, crop:crop + self.side]
        return y.flatten(1)


class ConvAutoencoder(nn.Module):
    def __init__(self, context, channels, latent, dec_in=None):
        super().__init__()
        self.enc = ConvEncoder(context, channels, latent)
        self.dec = ConvDecoder(dec_in or latent, channels)


class TanhField(nn.Module):
    """The paper's MLP d -> 200 -> 200 -> outputs (tanh, last layer unbiased). With energy
    set (hnn: output 1 of 2; hgn: output 0 of 1) H is that output and dz/dt = (dH/dp, -dH/dq);
    without (baseline, outputs = d) the outputs are dz/dt."""

    def __init__(self, d=LATENT, outputs=LATENT, energy=None, hidden=200):
        super().__init__()
        self.energy = energy
        self.l1, self.l2 = nn.Linear(d, hidden), nn.Linear(hidden, hidden)
        self.l3 = nn.Linear(hidden, outputs, bias=False)
        for l in (self.l1, self.l2, self.l3):
            nn.init.orthogonal_(l.weight)

    def forward(self, z):  # [N, d] -> [N, d]
        if self.energy is not None and not z.requires_grad:
            z = z.detach().requires_grad_(True)
        out = self.l3(torch.tanh(self.l2(torch.tanh(self.l1(z)))))
        if self.energy is None:
            return out
        (g,) = torch.autograd.grad(out[:, self.energy].sum(), z, create_graph=True)
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


class LagrangianField(TanhField):
    """The LGN: L = |q'|^2 / 2 + the paper's MLP d -> 200 -> 200 -> 1 (tanh, last layer
    unbiased) at z = (q, q'), and dz/dt = (q', (d2L/dq'2)^-1 (dL/dq - d2L/dq'dq q'))."""

    def __init__(self, d=LATENT, hidden=200):
        super().__init__(d, 1, hidden=hidden)

    def forward(self, z):  # [N, d] -> [N, d]
        if not z.requires_grad:
            z = z.detach().requires_grad_(True)
        dof = z.shape[1] // 2
        v = z[:, dof:]
        lag = 0.5 * (v ** 2).sum(1) + super().forward(z)[:, 0]
        (g,) = torch.autograd.grad(lag.sum(), z, create_graph=True)
        rows = [torch.autograd.grad(g[:, dof + j].sum(), z, create_graph=True)[0] for j in range(dof)]
        hess = torch.stack(rows, 1)  # [N, dof, d]: d2L/dq'_j dz
        mixed, mass = hess[:, :, :dof], hess[:, :, dof:]
        force = g[:, :dof] - (mixed @ v.unsqueeze(-1)).squeeze(-1)
        return torch.cat([v, torch.linalg.solve(mass, force)], 1)


# One step of h for a field f, z [N, d] -> [N, d].
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
# Every family: its field (of the latent's size) and its default step over rollouts. The Rust
# side's families (`FieldKind::ALL`) are checked against this table, family by family.
FAMILIES = {
    "hnn": (lambda d: TanhField(d, 2, energy=1), "leapfrog"),
    "baseline": (lambda d: TanhField(d, d), "euler"),
    "rgn": (lambda d: SwishField(d), "residual"),
    "ode": (lambda d: SwishField(d), "rk4"),
    "hgn": (lambda d: TanhField(d, 1, energy=0), "leapfrog"),
    "lgn": (lambda d: LagrangianField(d), "rk4"),
}
DEFAULT_INTEGRATOR = {name: step for name, (_, step) in FAMILIES.items()}


def drawn_frames(encoder):
    """Frames the decoder draws from one latent: the MLP a pair, the convolutions one."""
    return 1 if encoder == "conv" else 2


def window_pairs(encoder, context, horizon):
    """Pairs in a window of a K-frame rollout (the Rust side's window_frames(K) - 1)."""
    return horizon + max(context, drawn_frames(encoder)) - 1


class RolloutModel(nn.Module):
    """Parameters named as the Rust side names them: ae.enc.l1.weight .. ae.dec.l4.bias (the
    MLPs) or ae.enc.c1.weight .. ae.enc.out.bias, ae.dec.in.weight .. ae.dec.out.bias (the
    convolutions), field.l1.weight .. (field.l3.weight for the tanh nets, field.l4.bias for
    the swish nets)."""

    def __init__(self, model, integrator, encoder="mlp-pair", context=2,
                 channels=CONV_CHANNELS, latent=LATENT):
        super().__init__()
        self.encoder, self.context = encoder, context
        self.q_only = model == "hgn"  # HGN's decoder reads q alone
        dec_in = latent // 2 if self.q_only else latent
        if encoder == "conv":
            self.ae = ConvAutoencoder(context, channels, latent, dec_in)
        else:
            self.ae = Autoencoder(latent=latent, dec_in=dec_in)
        self.field = FAMILIES[model][0](latent)
        self.step = residual if integrator == "residual" else INTEGRATORS[integrator]

    def decode(self, z):
        return self.ae.dec(z[:, :z.shape[1] // 2] if self.q_only else z)

    def losses(self, x, h=1.0):
        """x [B, P, 1568] windows of frame pairs -> dict of scalar losses (means over the batch)."""
        return self.frame_losses(x, h) if self.encoder == "conv" else self.pair_losses(x, h)

    def pair_losses(self, x, h=1.0):
        """The paper's autoencoder; x [B, K+1, 1568]: every pair encoded, decoded to a pair."""
        b, k1, d_in = x.shape
        z = self.ae.enc(x.reshape(b * k1, d_in)).reshape(b, k1, -1)  # [B, K+1, D]
        dof = z.shape[2] // 2
        ae = ((self.decode(z[:, 0]) - x[:, 0]) ** 2).mean()
        q0, p0, q1 = z[:, 0, :dof], z[:, 0, dof:], z[:, 1, :dof]
        cc = ((p0 - (q1 - q0)) ** 2).sum(1).mean()
        zhat, preds = z[:, 0], []
        for _ in range(k1 - 1):
            zhat = self.step(self.field, zhat, h)
            preds.append(zhat)
        zhat = torch.stack(preds, 1)  # [B, K, D]
        hnn = ((z[:, 1:] - zhat) ** 2).mean()
        decoded = self.decode(zhat.reshape(b * (k1 - 1), -1)).reshape(b, k1 - 1, d_in)
        roll = ((decoded - x[:, 1:]) ** 2).mean()
        total = ae + cc + 0.1 * hnn + 1.0 * roll
        return {"ae": ae, "cc": cc, "hnn": hnn, "roll": roll, "total": total}

    def frame_losses(self, x, h=1.0):
        """The benchmark's (the convolutions); x [B, P, 1568]: its P+1 frames, the first C
        encoded into z_0, rolled K = P + 1 - C frames on, each latent decoded to its frame."""
        b = x.shape[0]
        frames = torch.cat([x[:, :, :PX], x[:, -1:, PX:]], dim=1)  # [B, P+1, 784]
        c = self.context
        k = frames.shape[1] - max(c, 1)
        z = self.ae.enc(frames[:, :c].reshape(b, c, SIDE, SIDE))  # [B, D]
        ae = ((self.decode(z) - frames[:, 0]) ** 2).mean()
        preds = []
        for _ in range(k):
            z = self.step(self.field, z, h)
            preds.append(z)
        zhat = torch.stack(preds, 1)  # [B, K, D]
        decoded = self.decode(zhat.reshape(b * k, -1)).reshape(b, k, PX)
        roll = ((decoded - frames[:, 1:k + 1]) ** 2).mean()
        zero = torch.zeros((), dtype=x.dtype)  # cc and hnn weigh 0: not computed
        return {"ae": ae, "cc": zero, "hnn": zero, "roll": roll, "total": ae + roll}


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
        fail(f"--weights {path}: {', '.join(parts)} (names as ae.enc.l1.weight, field.l1.bias;"
             f" check --model, --encoder, --latent)")
    for name, t in tensors.items():
        if tuple(t.shape) != tuple(want[name].shape):
            fail(f"--weights {path}: {name} has shape {list(t.shape)}, want {list(want[name].shape)}"
                 f" (check --context, --channels, --latent)")
    dtype = next(model.parameters()).dtype
    model.load_state_dict({n: t.to(dtype) for n, t in tensors.items()})


def load_inputs(path, min_pairs, why):
    from safetensors.torch import load_file
    try:
        tensors = load_file(path)
    except Exception as e:
        fail(f"--inputs {path}: cannot read as safetensors ({e})")
    if "x" not in tensors:
        fail(f"--inputs {path}: no tensor named x (has {sorted(tensors)})")
    x = tensors["x"]
    if x.dim() != 3 or x.shape[1] < min_pairs or x.shape[2] != PAIR:
        fail(f"--inputs {path}: x has shape {list(x.shape)}, want [B, P >= {min_pairs}, {PAIR}] ({why})")
    return x


def architecture(a):
    return {"encoder": a.encoder, "context": a.context, "channels": a.channels, "latent": a.latent}


def build(a):
    return RolloutModel(a.model, a.integrator, a.encoder, a.context, a.channels, a.latent)


def check(a):
    """Loss terms at initialisation, float64."""
    torch.manual_seed(0)
    model = build(a).double()
    if a.weights:
        load_weights(model, a.weights)
    reach = max(a.context, drawn_frames(a.encoder))  # frames before the first predicted one
    if a.inputs:
        why = (f"P + 1 frames: {a.context} of context and at least one to predict"
               if a.encoder == "conv" else "at least 2 pairs: one to encode, one to predict")
        x = load_inputs(a.inputs, reach, why)
    else:
        torch.manual_seed(0)
        x = torch.rand(a.batch, window_pairs(a.encoder, a.context, a.horizon), PAIR) * 0.5
    x = x.double()
    terms = {n: t.item() for n, t in model.losses(x).items()}
    return {"peer": "pytorch", "check": "rollout_train_step", "model": a.model,
            "integrator": a.integrator, **architecture(a), "batch": x.shape[0],
            "horizon": x.shape[1] + 1 - reach, "dtype": "float64", **terms}


def bench(a, pool=4000):
    torch.manual_seed(0)
    model = build(a)
    if a.weights:
        load_weights(model, a.weights)
    opt = torch.optim.Adam(model.parameters(), 1e-3, weight_decay=1e-5)
    data = torch.rand(pool, PAIR) * 0.5  # frame pairs of one long random sequence
    pairs = window_pairs(a.encoder, a.context, a.horizon)  # K predicted frames per window
    offsets = torch.arange(pairs)

    def step():
        start = torch.randint(0, pool - pairs + 1, (a.batch,))
        x = data[start[:, None] + offsets]  # [B, P, 1568]
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
            "integrator": a.integrator, **architecture(a), "batch": a.batch,
            "horizon": a.horizon, "threads": a.threads, "ms_per_step": round(ms, 3), "loss": loss}


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    ap.add_argument("--steps", type=int, default=50, help="timed steps, after 3 warm-up steps")
    ap.add_argument("--model", choices=list(FAMILIES), default="hnn")
    ap.add_argument("--integrator", choices=sorted(INTEGRATORS),
                    help="default: the family's (" + ", ".join(f"{m} {s}" for m, s in DEFAULT_INTEGRATOR.items()) + ")")
    ap.add_argument("--encoder", choices=["mlp-pair", "conv"], default="mlp-pair",
                    help="the paper's MLP over a pair, or convolutions over --context frames "
                         "(with the convolutional decoder and the loss ae + roll)")
    ap.add_argument("--context", type=int,
                    help=f"frames the encoder reads (default: {CONV_CONTEXT} for conv; 2 for mlp-pair)")
    ap.add_argument("--channels", type=int, default=CONV_CHANNELS, help="the convolutions' width")
    ap.add_argument("--latent", type=int, default=LATENT, help="the latent's size D, q and p halves")
    ap.add_argument("--batch", type=int, default=32, help="windows per step (B)")
    ap.add_argument("--horizon", type=int, default=10, help="predicted frames per window (K)")
    ap.add_argument("--check", action="store_true", help="print the loss terms at init, float64")
    ap.add_argument("--weights", help="safetensors file of parameters named as the Rust side's")
    ap.add_argument("--inputs", help="safetensors file holding x [B, P, 1568] (with --check)")
    a = ap.parse_args()
    if a.model == "rgn" and a.integrator:
        fail("--integrator: rgn takes none (its step is z + g(z)); leave the flag out")
    a.integrator = a.integrator or DEFAULT_INTEGRATOR[a.model]
    if a.context is None:
        a.context = CONV_CONTEXT if a.encoder == "conv" else 2
    if a.encoder == "mlp-pair" and a.context != 2:
        fail(f"--context {a.context}: the mlp-pair encoder reads a pair of frames (2); use --encoder conv")
    for flag, value in (("--threads", a.threads), ("--steps", a.steps), ("--batch", a.batch),
                        ("--horizon", a.horizon), ("--context", a.context)):
        if value < 1:
            fail(f"{flag} {value}: must be at least 1")
    if not 1 <= a.channels <= 512:
        fail(f"--channels {a.channels}: must be between 1 and 512")
    if a.latent < 2 or a.latent % 2:
        fail(f"--latent {a.latent}: must be even (q and p halves) and at least 2")
    if a.inputs and not a.check:
        fail("--inputs: only read with --check (the timed step draws its own windows)")
    return a


if __name__ == "__main__":
    a = parse_args()
    torch.set_num_threads(a.threads)
    print(json.dumps(check(a) if a.check else bench(a)), flush=True)
