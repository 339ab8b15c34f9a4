"""pixel-hnn from Python: DeepMind's Hamiltonian dynamics suite as presets, and the
simulators and renderers behind them, as numpy arrays. Built on pixel-hnn's data crate, so
it never loads libtorch: it works beside any torch or jax.

    import pixel_hnn
    d = pixel_hnn.generate(preset="dm-pendulum", trials=50, test_trials=10, steps=64)
    d["frames"].shape        # (50, 64, 32, 32, 3) uint8
"""
from ._pixel_hnn import generate, write, simulate, render, presets  # noqa: F401

__all__ = ["generate", "write", "simulate", "render", "presets"]
