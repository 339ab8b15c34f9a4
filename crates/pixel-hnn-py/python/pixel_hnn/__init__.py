"""pixel-hnn from Python: DeepMind's Hamiltonian dynamics suite as presets, the
simulators and renderers behind them, and the scoring of any model's predicted frames, as
numpy arrays. Built on pixel-hnn's data crate, so it never loads libtorch: it works beside
any torch or jax.

    import pixel_hnn
    d = pixel_hnn.generate(preset="dm-pendulum", trials=50, test_trials=10, steps=64)
    d["frames"].shape        # (50, 64, 32, 32, 3) uint8
    test = d["is_test"]
    s = pixel_hnn.score(d["frames"][test], predictions, context=5, labels=d["state"][test])
    s["valid_prediction_time_median"], s["benchmark_vpt"]["vpt"]
    g = pixel_hnn.generate(system="pendulum", trials=20, steps=40, g=9.8)   # our own systems
    pixel_hnn.read("datasets/pendulum.h5")                                  # either kind of file
"""
import json as _json
import operator as _operator

import numpy as _np

from ._pixel_hnn import simulate, render, presets, vpt, read  # noqa: F401
from . import _pixel_hnn

__all__ = ["generate", "write", "read", "simulate", "render", "presets", "score", "vpt", "symetric"]

_SUITE_KEYS = ("colors", "friction", "trials", "test_trials", "steps", "seed", "threads")
_SYSTEM_KEYS = ("trials", "steps", "side", "seed", "test_fraction", "threads")
# The flags as the command line's parser names them in its messages.
_FLAGS = {"colors": "--colors", "friction": "--friction <FRICTION>", "test_trials": "--test-trials <TEST_TRIALS>",
          "side": "--side <SIDE>", "test_fraction": "--test-fraction <TEST_FRACTION>"}


def _conflict(a, b):
    return ValueError(f"the argument '{a}' cannot be used with '{b}'")


def _split(preset, system, kw):
    """generate's keywords as the command line takes them: (settings, physical parameters),
    or the command line's message where it would refuse them."""
    if preset is not None and system is not None:
        raise _conflict("--preset <PRESET>", "--system <SYSTEM>")
    if preset is None and system is None:
        raise ValueError("--preset/--system: name one: a suite preset (preset=...) or one of our systems (system=...)")
    own, other = (_SUITE_KEYS, _SYSTEM_KEYS) if preset is not None else (_SYSTEM_KEYS, _SUITE_KEYS)
    for k in kw:
        if k not in own and k in other:
            pair = ("--preset <PRESET>", _FLAGS[k]) if preset is not None else ("--system <SYSTEM>", _FLAGS[k])
            raise _conflict(*pair)
    settings = {k: v for k, v in kw.items() if k in own}
    params = {k: float(v) for k, v in kw.items() if k not in own}
    if preset is not None and params:
        raise _conflict("--preset <PRESET>", "--param <NAME=VALUE>")
    return settings, params


def generate(preset=None, *, system=None, **kw):
    """A dataset as numpy arrays, the arrays `pixel-hnn generate` writes for the same settings.

    generate("dm-pendulum", colors=False, friction=0.0, trials=700, test_trials=200, steps=256, seed=0)
      DeepMind's suite's preset: frames (T, S, 32, 32, 3) uint8, state, dx_dt, energy, params,
      offset, color_index, is_test, attrs.
    generate(system="pendulum", trials=200, steps=103, side=28, seed=0, test_fraction=0.2, **params)
      one of our systems (pendulum, spring, two-body, double-pendulum) with physical
      parameters by name (g=9.8, ...): frames (T, S, side, side) float32, state, q, p, energy,
      is_test, attrs.
    """
    settings, params = _split(preset, system, kw)
    if preset is not None:
        return _pixel_hnn.generate(preset, **settings)
    return _pixel_hnn.generate_system(system, params=params, **settings)


def write(path, preset=None, *, system=None, force=False, **kw):
    """Writes a dataset to `path` (HDF5): the bytes `pixel-hnn generate ... --out path` writes.
    Takes generate's settings; `force` replaces an existing file."""
    settings, params = _split(preset, system, kw)
    if preset is not None:
        return _pixel_hnn.write(str(path), preset, force=force, **settings)
    return _pixel_hnn.write_system(str(path), system, params=params, force=force, **settings)


def _whole(v, name, least):
    """`v` as an int of at least `least` (numpy's integers too), or a ValueError naming `name`."""
    try:
        i = _operator.index(v)
    except TypeError:
        i = None
    if i is None or i < least:
        raise ValueError(f"{name}: must be a whole number, at least {least} (got {v!r})")
    return i


def score(truth, predictions, *, context, labels=None, latents=None, backward=None, window=None,
          threshold=0.025, trial_ids=None):
    """Scores predicted frames as `pixel-hnn score` does, figure for figure.

    truth: the true trajectories, (N, S, H, W) or (N, S, H, W, C), uint8 (read as value / 255,
      as the command line reads a suite dataset) or float32 in [0, 1].
    predictions: (N, P, ...) float32; row j of trial i is frame context + j.
    labels, latents: the true (q, p) of every frame (N, S, D) and the model's latent of every
      predicted frame (N, P, L): add the affine map's R^2 and SyMetric.
    backward: (N, S - context, ...) predictions given the last `context` frames, row j
      being frame S - 1 - context - j: the benchmark's backward count.
    window: the benchmark's training window (frames not counted; default: the context).
    Returns the dictionary `metrics.json` holds under `test_trials`.
    """
    context = _whole(context, "context", 1)
    window = None if window is None else _whole(window, "window", 1)
    trial_ids = None if trial_ids is None else [_whole(i, "trial_ids", 0) for i in trial_ids]
    as_f64 = lambda a: None if a is None else _np.ascontiguousarray(a, dtype=_np.float64)  # noqa: E731
    return _json.loads(_pixel_hnn.score_json(truth, predictions, context=context, labels=as_f64(labels),
                                             latents=as_f64(latents), backward=backward, window=window,
                                             threshold=threshold, trial_ids=trial_ids))


def symetric(train_latents, train_states, test_latents, test_states, *, max_order=5):
    """DeepMind's SyMetric of latents against the true states (rows of equal length): the
    lowest-order polynomial map whose worst held-out R^2 reaches 0.9, and whether its
    Jacobian is symplectic. Returns a dictionary (`holds` is SyMetric = 1)."""
    as_rows = lambda a: [list(map(float, r)) for r in a]  # noqa: E731
    return _json.loads(_pixel_hnn.symetric_json(as_rows(train_latents), as_rows(train_states), as_rows(test_latents),
                                                as_rows(test_states), max_order=max_order))
