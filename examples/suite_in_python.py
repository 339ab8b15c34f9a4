#!/usr/bin/env python3
"""DeepMind's suite's pendulum from Python, a tiny PyTorch model, and its scores: the
notebook-sized example of docs/suite.md.

  1. `pixel_hnn.generate` makes a dm-pendulum dataset as numpy arrays (RGB frames
     (N, S, 32, 32, 3) uint8, states, a test mask), in memory, without libtorch;
  2. a small model is trained on the training trajectories: an MLP encoder of `CONTEXT`
     frames to a latent of 2 numbers, an MLP decoder of a latent to a frame, and a residual
     latent step z' = z + f(z), fitted over rollouts of `ROLLOUT` frames;
  3. it predicts every frame after the first `CONTEXT` of each test trajectory, and back
     from the last `CONTEXT` to the first (the step inverted by fixed-point iteration);
  4. `pixel_hnn.score` scores them exactly as `pixel-hnn score` would: our valid prediction
     time, the benchmark's (after the training window, forward and backward averaged), the
     pixel MSE, the latent map's R^2 and SyMetric.

Usage: python examples/suite_in_python.py [--steps 600] [--trials 60] [--seed 0]
Needs numpy, torch and pixel_hnn (pip install ./crates/pixel-hnn-py).
"""
import argparse
import json
import time

import numpy as np
import torch
from torch import nn

import pixel_hnn

CONTEXT = 2
ROLLOUT = 4


def mlp(sizes):
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.Tanh())
    return nn.Sequential(*layers)


class Tiny(nn.Module):
    def __init__(self, pixels, hidden=128, latent=2):
        super().__init__()
        self.encoder = mlp([CONTEXT * pixels, hidden, latent])
        self.decoder = mlp([latent, hidden, pixels])
        self.step = mlp([latent, 64, latent])

    def forward_step(self, z):
        return z + self.step(z)

    def backward_step(self, z, iterations=20):
        # Solves z = w + f(w) for w: the residual step run backward in time.
        w = z
        for _ in range(iterations):
            w = z - self.step(w)
        return w


def rollout(model, step, z, n):
    """Frames and latents 0 .. n-1 from the latent z of the first, one step a frame, as trained."""
    zs = [z]
    for _ in range(1, n):
        zs.append(step(zs[-1]))
    return torch.stack([model.decoder(z) for z in zs], 1), torch.stack(zs, 1)


def predict(model, truth):
    """The predictions `pixel_hnn.score` takes, from the true frames (N, S, pixels): forward,
    given frames 0 .. CONTEXT-1, frames CONTEXT .. S-1 (row j: frame CONTEXT + j), and their
    latents; backward, given the last CONTEXT frames (the first of them, frame S-CONTEXT, is
    point 0), frames S-CONTEXT-1 .. 0 (row j: frame S-1-CONTEXT-j)."""
    steps = truth.shape[1]
    with torch.no_grad():
        frames, latents = rollout(model, model.forward_step, model.encoder(truth[:, :CONTEXT].flatten(1)), steps)
        back, _ = rollout(model, model.backward_step, model.encoder(truth[:, steps - CONTEXT:].flatten(1)), steps - CONTEXT + 1)
    return frames[:, CONTEXT:], back[:, 1:], latents[:, CONTEXT:]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--trials", type=int, default=60)
    ap.add_argument("--frames", type=int, default=40)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    torch.set_num_threads(1)

    t0 = time.time()
    d = pixel_hnn.generate("dm-pendulum", trials=args.trials, test_trials=args.trials // 5, steps=args.frames, seed=args.seed)
    test = d["is_test"]
    frames = torch.from_numpy(d["frames"]).float().div(255).flatten(2)  # (N, S, 3072), as score reads the bytes
    n, steps, pixels = frames.shape
    train = frames[~torch.from_numpy(test)]
    print(f"generated {n} trajectories of {steps} frames in {time.time() - t0:.2f} s")

    model = Tiny(pixels)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    window = CONTEXT + ROLLOUT
    for step in range(args.steps):
        i = torch.randint(0, train.shape[0], (32,))
        j = torch.randint(0, steps - window + 1, (32,))
        w = torch.stack([train[a, b:b + window] for a, b in zip(i.tolist(), j.tolist())])  # (32, window, px)
        z = model.encoder(w[:, :CONTEXT].flatten(1))
        loss = (model.decoder(z) - w[:, 0]).pow(2).mean()
        for k in range(1, window - CONTEXT + 1):
            z = model.forward_step(z)
            loss = loss + (model.decoder(z) - w[:, k]).pow(2).mean() / ROLLOUT
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 200 == 0 or step == args.steps - 1:
            print(f"step {step}: loss {loss.item():.3e}")

    truth = frames[torch.from_numpy(test)]
    predictions, backward, latents = predict(model, truth)
    shape = (truth.shape[0], -1, 32, 32, 3)
    predictions = predictions.reshape(shape).clamp(0, 1).numpy().astype(np.float32)
    backward = backward.reshape(shape).clamp(0, 1).numpy().astype(np.float32)
    latents = latents.double().numpy()

    s = pixel_hnn.score(d["frames"][test], predictions, context=CONTEXT, labels=d["state"][test], latents=latents,
                        backward=backward, window=window)
    b = s["benchmark_vpt"]
    print(json.dumps({
        "model": "tiny residual step (PyTorch)",
        "vpt_ours_median": s["valid_prediction_time_median"],
        "vpt_benchmark": b["vpt"],
        "vpt_benchmark_forward_median": b["forward_median"],
        "vpt_benchmark_backward_median": b["backward_median"],
        "benchmark_window": b["window"],
        "pixel_mse": s["pixel_mse"],
        "latent_map_r2_test": s["latent"]["map"]["r2_test"],
        "symetric_holds": s["latent"]["symetric"]["holds"],
    }))


if __name__ == "__main__":
    main()
