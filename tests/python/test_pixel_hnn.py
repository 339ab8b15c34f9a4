"""The Python module against the CLI and against DeepMind's suite (run by scripts/test-python
in a fresh venv holding only the wheel, numpy, h5py and pytest)."""
import os
import subprocess
import sys

import h5py
import numpy as np
import pytest

import pixel_hnn

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.environ.get("PIXEL_HNN_BIN", os.path.join(ROOT, "target", "release", "pixel-hnn"))
FIXTURE = os.path.join(ROOT, "tests", "fixtures", "dm_suite.h5")
SMALL = dict(trials=5, test_trials=2, steps=12, seed=3)


def cli(*args):
    return subprocess.run([BIN, *args], capture_output=True, text=True)


def test_no_libtorch_is_loaded():
    pixel_hnn.generate("dm-pendulum", trials=1, test_trials=0, steps=2)
    with open(f"/proc/{os.getpid()}/maps") as f:
        assert "libtorch" not in f.read()
    assert "torch" not in sys.modules


@pytest.mark.parametrize("preset,extra", [("dm-pendulum", dict(colors=True, friction=0.05)), ("dm-two-body", {})])
def test_write_is_the_clis_file_byte_for_byte_and_generate_its_arrays(tmp_path, preset, extra):
    ours = tmp_path / "py.h5"
    pixel_hnn.write(str(ours), preset, threads=2, **SMALL, **extra)
    flags = ["--preset", preset, "--trials", "5", "--test-trials", "2", "--steps", "12", "--seed", "3"]
    if extra:
        flags += ["--colors", "--friction", "0.05"]
    theirs = tmp_path / "cli.h5"
    r = cli("generate", *flags, "--out", str(theirs), "--threads", "1")
    assert r.returncode == 0, r.stderr
    assert ours.read_bytes() == theirs.read_bytes()

    d = pixel_hnn.generate(preset, **SMALL, **extra)
    with h5py.File(theirs) as f:
        for key in ("frames", "state", "dx_dt", "energy", "offset", "color_index"):
            assert np.array_equal(d[key], f[key][...]), key
            assert d[key].dtype == f[key].dtype, key
        assert np.array_equal(d["is_test"], f["is_test"][...].astype(bool))
        for name, v in d["params"].items():
            assert np.array_equal(v, f["params"][name][...]), name
        assert d["attrs"]["param_names"] == f.attrs["param_names"].split(",")
    assert d["frames"].shape == (5, 12, 32, 32, 3) and d["frames"].dtype == np.uint8


def test_simulate_and_render_give_the_suites_own_states_and_frames():
    with h5py.File(FIXTURE) as f:
        for name, preset, kw in [("pendulum", "dm-pendulum", {}), ("two_body", "dm-two-body", {}),
                                 ("pendulum_colors_friction", "dm-pendulum", dict(friction=0.05)),
                                 ("double_pendulum_colors", "dm-double-pendulum", {})]:
            g = f[name]["0"]
            x, image, other = g["x"][...], g["image"][...], g["other"]
            params = {k: [float(v)] for k, v in ((k, other[k][()]) for k in other if k not in ("offset", "color_index", "m"))}
            if "m" in other:
                m = np.atleast_1d(other["m"][...])
                if preset == "dm-two-body":
                    params.update(m_1=[float(m[0])], m_2=[float(m[1])])
                else:
                    params["m"] = [float(m[0])]
            states = pixel_hnn.simulate(preset, x[:1], len(x), params=params, **kw)
            assert states.shape == (1, len(x), x.shape[1])
            assert np.abs(states[0] - x).max() < 1e-6, name
            o = np.atleast_1d(other["offset"][...])
            offset = [[float(o[0]), float(o[-1])]]
            colors = name.endswith("colors") or name.endswith("friction")
            frames = pixel_hnn.render(preset, x[None], params=params, offset=offset,
                                      color_index=[list(map(int, np.atleast_1d(other["color_index"][...])))], colors=colors)
            assert frames.shape == (1,) + image.shape and frames.dtype == np.uint8
            assert np.abs(frames[0].astype(int) - image.astype(int)).max() <= 1, name


@pytest.mark.parametrize("system", ["pendulum", "spring", "two-body", "double-pendulum"])
def test_our_systems_simulate_and_render_as_the_clis_dataset(tmp_path, system):
    out = tmp_path / "d.h5"
    r = cli("generate", "--system", system, "--trials", "2", "--steps", "9", "--out", str(out))
    assert r.returncode == 0, r.stderr
    with h5py.File(out) as f:
        state, frames = f["state"][...], f["frames"][...]
    ours = pixel_hnn.simulate(system, state[:, 0], 9)
    assert ours.shape == state.shape
    assert np.abs(ours - state).max() <= 1e-12, np.abs(ours - state).max()
    drawn = pixel_hnn.render(system, state)
    assert drawn.shape == frames.shape and drawn.dtype == np.float32
    assert np.array_equal(drawn, frames)


@pytest.mark.parametrize("call,flags", [
    (lambda: pixel_hnn.generate("dm-pendulum", friction=0.05, **SMALL), ["--preset", "dm-pendulum", "--friction", "0.05"]),
    (lambda: pixel_hnn.generate("dm-pendulum", trials=3, test_trials=4), ["--preset", "dm-pendulum", "--trials", "3", "--test-trials", "4"]),
    (lambda: pixel_hnn.generate("dm-two-body", colors=True, friction=0.05), ["--preset", "dm-two-body", "--colors", "--friction", "0.05"]),
    (lambda: pixel_hnn.generate("dm-mass-spring", steps=1), ["--preset", "dm-mass-spring", "--steps", "1"]),
])
def test_bad_input_raises_value_error_with_the_clis_message(tmp_path, call, flags):
    with pytest.raises(ValueError) as e:
        call()
    r = cli("generate", *flags, "--out", str(tmp_path / "x.h5"))
    assert r.returncode == 1
    assert r.stderr.strip() == f"error: {e.value}"
    assert list(tmp_path.iterdir()) == []


def test_bad_names_and_shapes_are_value_errors():
    with pytest.raises(ValueError, match="--preset: 'dm-nope' is not a preset"):
        pixel_hnn.generate("dm-nope")
    with pytest.raises(ValueError, match="--system: 'nope' is neither a system nor a preset"):
        pixel_hnn.simulate("nope", np.zeros((1, 2)), 3)
    with pytest.raises(ValueError, match="--param: the dm-pendulum has no parameter 'k'"):
        pixel_hnn.simulate("dm-pendulum", np.zeros((1, 2)), 3, params={"k": [1.0]})
    with pytest.raises(ValueError, match="initial_states: the last axis must hold 2"):
        pixel_hnn.simulate("dm-pendulum", np.zeros((1, 3)), 3)
    assert pixel_hnn.presets() == ["dm-pendulum", "dm-mass-spring", "dm-double-pendulum", "dm-two-body"]


def test_the_docs_example_holds():
    d = pixel_hnn.generate("dm-pendulum", trials=4, test_trials=1, steps=16, seed=1)
    x = pixel_hnn.simulate("dm-pendulum", d["state"][:, 0], 16)
    assert np.array_equal(x, d["state"])
    assert np.array_equal(pixel_hnn.render("dm-pendulum", x), d["frames"])
