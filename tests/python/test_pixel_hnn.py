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


def write_predictions(path, frames, context, latents=None, backward=None, train_window=None):
    with h5py.File(path, "w") as f:
        f["frames"] = frames.astype(np.float32)
        if latents is not None:
            f["latents"] = latents
        if backward is not None:
            f["backward_frames"] = backward.astype(np.float32)
        f.attrs["format"] = "pixel-hnn/predictions"
        f.attrs["format_version"] = 1
        f.attrs["context"] = context
        if train_window is not None:
            f.attrs["train_window"] = train_window


def cli_score(tmp_path, data, pred, *flags):
    out = tmp_path / "score"
    r = cli("score", "--data", str(data), "--predictions", str(pred), "--out", str(out), *flags)
    assert r.returncode == 0, r.stderr
    import json
    with open(out / "metrics.json") as f:
        return json.load(f)["test_trials"]


def test_score_gives_the_clis_figures_exactly_on_a_suite_preset(tmp_path):
    data = tmp_path / "dm.h5"
    pixel_hnn.write(str(data), "dm-pendulum", trials=6, test_trials=3, steps=24, seed=2)
    d = pixel_hnn.generate("dm-pendulum", trials=6, test_trials=3, steps=24, seed=2)
    test = d["is_test"]
    truth, states = d["frames"][test], d["state"][test]
    rng = np.random.default_rng(0)
    # A model that drifts: the true frames plus noise growing with the frame.
    ctx = 4
    grow = np.linspace(0, 0.3, 24 - ctx, dtype=np.float32)[None, :, None, None, None]
    pred = truth[:, ctx:].astype(np.float32) / 255 + grow * rng.standard_normal(truth[:, ctx:].shape).astype(np.float32)
    back = truth[:, :24 - ctx][:, ::-1].astype(np.float32) / 255 + 0.01
    latents = states[:, ctx:] + 0.01 * rng.standard_normal(states[:, ctx:].shape)
    pred_file = tmp_path / "pred.h5"
    write_predictions(pred_file, pred, ctx, latents=latents, backward=back, train_window=8)
    theirs = cli_score(tmp_path, data, pred_file)
    ours = pixel_hnn.score(truth, pred.astype(np.float32), context=ctx, labels=states, latents=latents,
                           backward=back.astype(np.float32), window=8)
    assert ours == theirs
    assert ours["benchmark_vpt"]["window"] == 8 and ours["benchmark_vpt"]["backward"] is not None
    assert 0 < ours["valid_prediction_time_median"] < 20
    # Our VPT alone, trial by trial.
    assert pixel_hnn.vpt(truth[:, ctx:], pred) == [t["valid_prediction_time"] for t in ours["trials"]]
    # SyMetric of the true states against themselves: order 1, symplectic.
    flat = states.reshape(-1, 2)
    s = pixel_hnn.symetric(flat[::2], flat[::2], flat[1::2], flat[1::2])
    assert s["order"] == 1 and s["holds"]


def test_score_gives_the_clis_figures_exactly_on_a_grey_dataset(tmp_path):
    data = tmp_path / "grey.h5"
    r = cli("generate", "--trials", "10", "--steps", "16", "--out", str(data))
    assert r.returncode == 0, r.stderr
    with h5py.File(data) as f:
        test = np.flatnonzero(f["is_test"][...])
        truth = f["frames"][...][test]
        labels = np.concatenate([f["q"][...], f["p"][...]], axis=-1)[test]
    pred = truth[:, 2:] + np.float32(0.02)
    pred_file = tmp_path / "pred.h5"
    write_predictions(pred_file, pred, 2, latents=labels[:, 2:])
    theirs = cli_score(tmp_path, data, pred_file, "--vpt-window", "5")
    assert pixel_hnn.score(truth, pred, context=2, labels=labels, latents=labels[:, 2:], window=5) == theirs


def test_bad_scoring_input_raises_value_error_naming_what_does_not_fit():
    d = pixel_hnn.generate("dm-pendulum", trials=3, test_trials=2, steps=10)
    truth = d["frames"][:2]
    grey = truth.mean(axis=-1).astype(np.float32)[:, 3:]
    with pytest.raises(ValueError, match="predictions: has grey frames .* the truth's are RGB"):
        pixel_hnn.score(truth, grey, context=3)
    with pytest.raises(ValueError, match="predictions: has RGB frames .* the truth's are grey"):
        pixel_hnn.score(truth.mean(axis=-1).astype(np.float32), truth[:, 3:].astype(np.float32), context=3)
    rgb = truth[:, 3:].astype(np.float32) / 255
    with pytest.raises(ValueError, match="window of 2 frames must be at least the context"):
        pixel_hnn.score(truth, rgb, context=3, window=2)
    with pytest.raises(ValueError, match="the backward predictions have 4 frames"):
        pixel_hnn.score(truth, rgb, context=3, backward=rgb[:, :4])
    with pytest.raises(ValueError, match="frames must be a numpy array of uint8 or float32"):
        pixel_hnn.score(truth, rgb.astype(np.float64), context=3)
    # A prediction that blew up is refused (the CLI refuses such a file), not scored as valid.
    blown = rgb.copy()
    blown[1, 2, 5, 5, 0] = np.nan
    with pytest.raises(ValueError, match="the predictions hold NaN at trial 1, predicted frame 2"):
        pixel_hnn.score(truth, blown, context=3)
    with pytest.raises(ValueError, match="the backward predictions hold NaN at trial 1, predicted frame 2"):
        pixel_hnn.score(truth, rgb, context=3, backward=blown)
    with pytest.raises(ValueError, match="predictions: hold NaN at trial 1, predicted frame 2"):
        pixel_hnn.vpt(truth[:, 3:], blown)
    # Backward counts need forward predictions over as many frames.
    with pytest.raises(ValueError, match="backward predictions need forward ones to the trials' last frame"):
        pixel_hnn.score(truth, rgb[:, :3], context=3, backward=rgb)
    with pytest.raises(ValueError, match="hold no pixels"):
        pixel_hnn.vpt(np.zeros((1, 2, 0, 0), np.float32), np.zeros((1, 2, 0, 0), np.float32))
    with pytest.raises(ValueError, match="threshold: must be a positive number"):
        pixel_hnn.vpt(truth[:, 3:], rgb, threshold=float("nan"))
    for kw, words in [(dict(context=-1), "context: must be a whole number, at least 1"),
                      (dict(context=3, window=2.5), "window: must be a whole number"),
                      (dict(context=3, trial_ids=[0, -4]), "trial_ids: must be a whole number, at least 0")]:
        with pytest.raises(ValueError, match=words):
            pixel_hnn.score(truth, rgb, **kw)
    # Labels and latents of any float type; numpy's integers as counts.
    lat = np.zeros((2, 7, 2), np.float32)
    s = pixel_hnn.score(truth, rgb, context=np.int64(3), labels=d["state"][:2].astype(np.float32), latents=lat)
    assert s["context"] == 3 and s["latent"] is not None


def test_symetric_refuses_points_that_do_not_fit():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(40, 2))
    x = z @ np.array([[2.0, 0.5], [0.0, 1.0]])  # linear in the latents: order 1
    assert pixel_hnn.symetric(z, x, z, x)["order"] == 1
    for args, words in [
        ((z, x, z[:, :1], x), "every latent needs the training latents' 2 values"),
        ((z, x, z, x[:, :1]), "every state the training states' 2"),
        ((z, x[:39], z, x), "train_latents and train_states: 40 and 39 rows"),
        ((z, x, z[:0], x[:0]), "test_latents and test_states: 0 and 0 rows"),
        ((z, x, np.full_like(z, np.nan), x), "test_latents and test_states: a value is not finite"),
    ]:
        with pytest.raises(ValueError, match=words):
            pixel_hnn.symetric(*args)
    with pytest.raises(ValueError, match="train_latents and train_states: every latent needs"):
        pixel_hnn.symetric([[1.0, 2.0], [1.0]] * 20, x, z, x)


@pytest.mark.parametrize("system,params,flags", [
    ("pendulum", {}, []),
    ("spring", {"stiffness": 2.5}, ["--param", "stiffness=2.5"]),
    ("double-pendulum", {"l1": 1.2, "m2": 0.7}, ["--param", "l1=1.2", "--param", "m2=0.7"]),
])
def test_our_systems_generate_and_write_the_clis_dataset(tmp_path, system, params, flags):
    sizes = dict(trials=6, steps=11, side=20, seed=4, test_fraction=0.5)
    cli_flags = ["--system", system, "--trials", "6", "--steps", "11", "--side", "20", "--seed", "4", "--test-fraction", "0.5", *flags]
    theirs = tmp_path / "cli.h5"
    r = cli("generate", *cli_flags, "--out", str(theirs))
    assert r.returncode == 0, r.stderr
    ours = tmp_path / "py.h5"
    pixel_hnn.write(ours, system=system, threads=2, **sizes, **params)
    assert ours.read_bytes() == theirs.read_bytes()
    d = pixel_hnn.generate(system=system, **sizes, **params)
    back = pixel_hnn.read(theirs)
    with h5py.File(theirs) as f:
        for key in ("frames", "state", "q", "p", "energy"):
            assert np.array_equal(d[key], f[key][...]), key
            assert d[key].dtype == f[key].dtype, key
            assert np.array_equal(back[key], f[key][...]), key
        assert np.array_equal(d["is_test"], f["is_test"][...].astype(bool))
        assert d["attrs"]["config_json"] == f.attrs["config_json"]


def test_read_gives_a_suite_files_arrays():
    d = pixel_hnn.generate("dm-two-body", **SMALL)
    import tempfile
    with tempfile.TemporaryDirectory() as t:
        path = os.path.join(t, "s.h5")
        pixel_hnn.write(path, "dm-two-body", **SMALL)
        back = pixel_hnn.read(path)
    for key in ("frames", "state", "is_test"):
        assert np.array_equal(back[key], d[key]), key
    assert np.allclose(back["energy"], d["energy"], rtol=0, atol=1e-12)
    for name, v in d["params"].items():
        assert np.array_equal(back["params"][name], v)


def test_a_preset_with_a_parameter_or_two_kinds_at_once_is_refused(tmp_path):
    # Each in the command line's words: its parser's first line.
    for kw, args in [
        (dict(preset="dm-pendulum", g=3.0), ["--preset", "dm-pendulum", "--param", "g=3"]),
        (dict(preset="dm-pendulum", system="pendulum"), ["--preset", "dm-pendulum", "--system", "pendulum"]),
        (dict(preset="dm-pendulum", side=32), ["--preset", "dm-pendulum", "--side", "32"]),
        (dict(preset="dm-pendulum", test_fraction=0.1), ["--preset", "dm-pendulum", "--test-fraction", "0.1"]),
        (dict(system="pendulum", colors=True), ["--system", "pendulum", "--colors"]),
        (dict(system="spring", friction=0.05), ["--system", "spring", "--friction", "0.05"]),
        (dict(system="pendulum", test_trials=3), ["--system", "pendulum", "--test-trials", "3"]),
        (dict(system="spring", g=3.0), ["--system", "spring", "--param", "g=3"]),
    ]:
        r = cli("generate", *args, "--out", str(tmp_path / "x.h5"))
        assert r.returncode != 0, args
        with pytest.raises(ValueError) as e:
            pixel_hnn.write(tmp_path / "x.h5", **kw)
        assert r.stderr.splitlines()[0] == f"error: {e.value}", args
        with pytest.raises(ValueError):
            pixel_hnn.generate(**kw)
    with pytest.raises(ValueError, match="--preset/--system: name one"):
        pixel_hnn.generate()
    with pytest.raises(ValueError, match="--system: 'dm-pendulum' is not a system; the systems are pendulum, spring"):
        pixel_hnn.generate(system="dm-pendulum")
    with pytest.raises(ValueError, match="no such file"):
        pixel_hnn.read(tmp_path / "none.h5")
    assert list(tmp_path.iterdir()) == []


def test_the_notebook_example_runs_and_scores_a_pytorch_model():
    torch_python = os.environ.get("PIXEL_HNN_TORCH_PYTHON")
    if not torch_python:
        pytest.skip("scripts/test-python names the project's torch venv in PIXEL_HNN_TORCH_PYTHON")
    import json
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(pixel_hnn.__file__)))
    r = subprocess.run([torch_python, os.path.join(ROOT, "examples", "suite_in_python.py"), "--steps", "30", "--trials", "10",
                        "--frames", "16"], capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    row = json.loads(r.stdout.strip().splitlines()[-1])
    assert row["benchmark_window"] == 6 and row["vpt_benchmark_backward_median"] is not None
    assert 0 < row["pixel_mse"] < 1 and len(row["latent_map_r2_test"]) == 2


ORACLE = r'''
import json, sys
import numpy as np, torch
import pixel_hnn
sys.path.insert(0, sys.argv[1])
import suite_in_python as ex

# Random frames (any two differ far past the threshold). The oracle's latent is (trial i,
# frame k); its steps move k by one; its decoder draws the true frame. Predicted right,
# every frame is valid, forward and backward; a frame off, none is.
n, s, px = 3, 12, 32 * 32 * 3
truth = torch.rand(n, s, px, generator=torch.Generator().manual_seed(0))

class Oracle:
    def encoder(self, x):
        first = x[:, :px]
        return torch.tensor([[float(i), float((truth[i] == first[i]).all(1).nonzero()[0, 0])] for i in range(n)])
    def decoder(self, z):
        return torch.stack([truth[int(i), int(k)] for i, k in z.tolist()])
    def forward_step(self, z):
        return z + torch.tensor([0.0, 1.0])
    def backward_step(self, z):
        return z - torch.tensor([0.0, 1.0])

fwd, back, lat = ex.predict(Oracle(), truth)
shape = (n, -1, 32, 32, 3)
r = pixel_hnn.score(truth.reshape(n, s, 32, 32, 3).numpy(), fwd.reshape(shape).numpy(), context=ex.CONTEXT,
                    backward=back.reshape(shape).numpy())
print(json.dumps([r["valid_prediction_time_median"], r["benchmark_vpt"]["forward_median"],
                  r["benchmark_vpt"]["backward_median"], lat[:, 0].tolist()]))
'''


def test_the_notebook_examples_predictions_are_the_frames_score_expects():
    torch_python = os.environ.get("PIXEL_HNN_TORCH_PYTHON")
    if not torch_python:
        pytest.skip("scripts/test-python names the project's torch venv in PIXEL_HNN_TORCH_PYTHON")
    import json
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(pixel_hnn.__file__)))
    r = subprocess.run([torch_python, "-c", ORACLE, os.path.join(ROOT, "examples")], capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    vpt, forward, backward, first_latents = json.loads(r.stdout)
    assert (vpt, forward, backward) == (10.0, 10.0, 10.0)
    assert first_latents == [[i, 2.0] for i in range(3)]  # the latent of frame CONTEXT = 2
