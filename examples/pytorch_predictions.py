#!/usr/bin/env python3
"""Score your own PyTorch model with pixel-hnn, using no pixel-hnn code.

This example:
  1. reads a pixel-hnn frames dataset (HDF5) with h5py,
  2. trains a tiny latent-dynamics model on the training trials (is_test == 0):
     an encoder MLP from `context` stacked frames to a latent z of size 2*dof,
     a decoder MLP from z to one frame, and a latent step z' = z + f(z),
  3. predicts every frame after the first `context` frames of each test trial,
  4. writes the predictions in pixel-hnn's predictions schema (HDF5), and
  5. runs `pixel-hnn score` on them (unless --no-score).

Usage (from the repository root):

    .venv/bin/python examples/pytorch_predictions.py \\
        --data pendulum.h5 --out pendulum-pred.h5 [--score-out score-dir]

Predictions schema (what `pixel-hnn score` reads):
  frames   float32 [test trials, horizon, side, side]; frames[i, j] predicts
           frame context + j of test trial i (test trials in dataset order)
  latents  float32 [test trials, horizon, latent]; the latent of that frame
           (optional; float64 is read too)
  attributes: format = "pixel-hnn/predictions", format_version = 1,
              context, model, dataset_sha256 (hex SHA-256 of the dataset file)

Only torch, numpy, h5py and the standard library are used.
"""
import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import torch
from torch import nn

ROLLOUT = 4  # training predicts this many frames ahead through the latent step


def mlp(sizes, last=None):
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    if last is not None:
        layers.append(last)
    return nn.Sequential(*layers)


class LatentModel(nn.Module):
    def __init__(self, pixels, context, latent, hidden=256):
        super().__init__()
        self.encoder = mlp([context * pixels, hidden, hidden, latent])
        self.decoder = mlp([latent, hidden, hidden, pixels], last=nn.Sigmoid())
        self.dynamics = mlp([latent, 64, 64, latent])

    def encode(self, window):  # [batch, context, pixels] -> [batch, latent]
        return self.encoder(window.flatten(1))

    def step(self, z):
        return z + self.dynamics(z)


def sha256_of(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def find_pixel_hnn():
    on_path = shutil.which("pixel-hnn")
    if on_path:
        return on_path
    repo_root = Path(__file__).resolve().parent.parent
    return str(repo_root / "target" / "release" / "pixel-hnn")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, help="pixel-hnn frames dataset (.h5)")
    ap.add_argument("--out", required=True, help="predictions file to write (.h5)")
    ap.add_argument("--context", type=int, default=2, help="true frames given")
    ap.add_argument("--steps", type=int, default=3500,
                    help="training steps (about 60 s at 28x28 on one core)")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--pixel-hnn", default=None, help="pixel-hnn binary")
    ap.add_argument("--score-out", default=None, help="folder for score output")
    ap.add_argument("--no-score", action="store_true", help="only write --out")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)

    # --- read the dataset -------------------------------------------------
    with h5py.File(args.data, "r") as f:
        frames = f["frames"][()].astype(np.float32)  # [trials, steps, side, side]
        is_test = f["is_test"][()] == 1
        dof = f["q"].shape[-1]
        system = f.attrs.get("system", "?")
    trials, steps, side, _ = frames.shape
    ctx = args.context
    if not 1 <= ctx < steps:
        sys.exit(f"--context must be in 1..{steps - 1}")
    pixels = side * side
    flat = torch.from_numpy(frames.reshape(trials, steps, pixels))
    train, test = flat[~is_test], flat[is_test]
    print(f"{args.data}: {system}, {trials} trials ({len(test)} test), "
          f"{steps} steps, {side}x{side}, dof {dof}", file=sys.stderr)

    # --- train on random windows of the training trials -------------------
    model = LatentModel(pixels, ctx, 2 * dof)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    width = max(ctx, ROLLOUT + 1)  # frames a window needs
    offsets = torch.arange(width)
    if len(train) == 0 or steps < width:
        sys.exit(f"need training trials with at least {width} steps")
    t0 = time.perf_counter()
    for step in range(1, args.steps + 1):
        trial = torch.from_numpy(rng.integers(0, len(train), args.batch))
        start = torch.from_numpy(rng.integers(0, steps - width + 1, args.batch))
        window = train[trial[:, None], start[:, None] + offsets]  # [b, width, px]
        z = model.encode(window[:, :ctx])
        loss = nn.functional.mse_loss(model.decoder(z), window[:, 0])
        for k in range(1, ROLLOUT + 1):
            z = model.step(z)
            loss = loss + nn.functional.mse_loss(model.decoder(z), window[:, k])
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % max(1, args.steps // 10) == 0 or step == args.steps:
            print(f"step {step}/{args.steps}  loss {loss.item():.5f}  "
                  f"{time.perf_counter() - t0:.1f}s", file=sys.stderr)

    # --- predict frames context .. steps-1 of every test trial ------------
    horizon = steps - ctx
    with torch.no_grad():
        z = model.encode(test[:, :ctx])  # latent of frame 0
        for _ in range(ctx):
            z = model.step(z)  # now the latent of frame `ctx`
        latents, preds = [], []
        for _ in range(horizon):
            latents.append(z)
            preds.append(model.decoder(z))
            z = model.step(z)
    pred = torch.stack(preds, 1).reshape(len(test), horizon, side, side).numpy()
    lat = torch.stack(latents, 1).numpy()
    truth = frames[is_test][:, ctx:]
    mse = ((pred - truth) ** 2).mean(axis=(0, 2, 3))
    print(f"test MSE: first frame {mse[0]:.5f}, last frame {mse[-1]:.5f}, "
          f"mean {mse.mean():.5f}", file=sys.stderr)

    # --- write the predictions file atomically -----------------------------
    tmp = args.out + ".tmp"
    with h5py.File(tmp, "w") as f:
        f.create_dataset("frames", data=pred.astype(np.float32))
        f.create_dataset("latents", data=lat.astype(np.float32))
        f.attrs["format"] = "pixel-hnn/predictions"
        f.attrs["format_version"] = np.uint32(1)
        f.attrs["context"] = np.uint64(ctx)
        f.attrs["model"] = "pytorch-example"
        f.attrs["dataset_sha256"] = sha256_of(args.data)
    os.replace(tmp, args.out)
    print(f"wrote {args.out}: {len(test)} trials x {horizon} frames", file=sys.stderr)

    if args.no_score:
        return 0
    cmd = [args.pixel_hnn or find_pixel_hnn(), "score",
           "--data", args.data, "--predictions", args.out]
    if args.score_out:
        cmd += ["--out", args.score_out]
    print("+ " + " ".join(cmd), file=sys.stderr)
    try:
        return subprocess.run(cmd).returncode
    except FileNotFoundError:
        print(f"pixel-hnn not found at {cmd[0]}; build it (cargo build --release) "
              "or pass --pixel-hnn BIN", file=sys.stderr)
        return 127


if __name__ == "__main__":
    sys.exit(main())
