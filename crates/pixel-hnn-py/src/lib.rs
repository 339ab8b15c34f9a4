//! `pixel_hnn`, the Python module: DeepMind's suite as presets and every system's simulator
//! and renderer, as numpy arrays, from `pixel-hnn-data` alone (no libtorch). Each function
//! is the library call the command line makes, so a dataset is the CLI's to the byte; bad
//! input raises `ValueError` with the CLI's one-line message. The GIL is released while
//! Rust works.

use std::collections::HashMap;
use std::path::PathBuf;

use numpy::{PyArray1, PyArrayDyn, PyArrayMethods, PyReadonlyArrayDyn, PyUntypedArrayMethods};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use pixel_hnn_data::choice::Choice;
use pixel_hnn_data::dataset::{DatasetConfig, PixelDataset};
use pixel_hnn_data::suite_data::{self, SuiteDatasetConfig, FRAME_BYTES};
use pixel_hnn_data::systems::render::RenderConfig;
use pixel_hnn_data::systems::suite::{Draws, Suite, SuiteSystem, SIDE};
use pixel_hnn_data::systems::{SystemConfig, SystemKind};

/// A parameter's values: one number, or one a trajectory.
#[derive(FromPyObject)]
enum Values {
    One(f64),
    Many(Vec<f64>),
}

impl Values {
    fn as_slice(&self) -> &[f64] {
        match self {
            Values::One(v) => std::slice::from_ref(v),
            Values::Many(v) => v,
        }
    }
}

type Params = Option<HashMap<String, Values>>;

fn value_error(e: impl std::fmt::Display) -> PyErr {
    PyValueError::new_err(e.to_string())
}

fn threads(n: Option<usize>) -> usize {
    n.unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)).max(1)
}

/// A preset by its CLI name, or the CLI's message.
fn preset_named(name: &str) -> PyResult<SuiteSystem> {
    SuiteSystem::from_name(name).ok_or_else(|| {
        let known: Vec<&str> = SuiteSystem::ALL.iter().map(|s| s.name()).collect();
        value_error(format!("--preset: '{name}' is not a preset; the presets are {}", known.join(", ")))
    })
}

fn suite_config(
    preset: &str,
    colors: bool,
    friction: f64,
    trials: Option<usize>,
    test_trials: Option<usize>,
    steps: Option<usize>,
    seed: u64,
) -> PyResult<SuiteDatasetConfig> {
    let d = SuiteDatasetConfig::default();
    let cfg = SuiteDatasetConfig {
        suite: Suite { system: preset_named(preset)?, colors, friction },
        seed,
        trials: trials.unwrap_or(d.trials),
        test_trials: test_trials.unwrap_or(d.test_trials),
        steps: steps.unwrap_or(d.steps),
    };
    cfg.validate().map_err(value_error)?;
    Ok(cfg)
}

/// Moves `v` into a numpy array of `shape`, without a copy.
fn array<'py, T: numpy::Element>(py: Python<'py>, v: Vec<T>, shape: &[usize]) -> PyResult<Bound<'py, PyArrayDyn<T>>> {
    PyArray1::from_vec(py, v).reshape(shape.to_vec())
}

/// The names of the presets (`generate --preset`).
#[pyfunction]
fn presets() -> Vec<&'static str> {
    SuiteSystem::ALL.iter().map(|s| s.name()).collect()
}

/// A suite preset's dataset as numpy arrays: `frames` (T, S, 32, 32, 3) uint8, `state` and
/// `dx_dt` (T, S, 2D), `energy` (T, S), `params` {name: (T,)}, `offset` (T, 2),
/// `color_index` (T, P), `is_test` (T,) bool, and `attrs`. The same arrays as
/// `pixel-hnn generate --preset` writes, for the same settings.
#[pyfunction]
#[pyo3(signature = (preset, *, colors=false, friction=0.0, trials=None, test_trials=None, steps=None, seed=0, threads=None))]
#[allow(clippy::too_many_arguments)]
fn generate<'py>(
    py: Python<'py>,
    preset: &str,
    colors: bool,
    friction: f64,
    trials: Option<usize>,
    test_trials: Option<usize>,
    steps: Option<usize>,
    seed: u64,
    threads: Option<usize>,
) -> PyResult<Bound<'py, PyDict>> {
    let cfg = suite_config(preset, colors, friction, trials, test_trials, steps, seed)?;
    let n = self::threads(threads);
    let (frames, c) = py
        .allow_threads(|| -> pixel_hnn_data::Result<_> {
            let trials = suite_data::simulate_trials(&cfg)?;
            Ok((suite_data::render_frames(&cfg.suite, &trials, n), suite_data::columns(&cfg, &trials)))
        })
        .map_err(value_error)?;
    let (t, s, d, p) = (cfg.trials, cfg.steps, 2 * cfg.suite.dof(), cfg.suite.particles());
    let out = PyDict::new(py);
    out.set_item("frames", array(py, frames, &[t, s, SIDE, SIDE, 3])?)?;
    out.set_item("state", array(py, c.states, &[t, s, d])?)?;
    out.set_item("dx_dt", array(py, c.dx_dt, &[t, s, d])?)?;
    out.set_item("energy", array(py, c.energy, &[t, s])?)?;
    let params = PyDict::new(py);
    for (name, v) in c.params {
        params.set_item(name, PyArray1::from_vec(py, v))?;
    }
    out.set_item("params", params)?;
    out.set_item("offset", array(py, c.offset, &[t, 2])?)?;
    out.set_item("color_index", array(py, c.colors, &[t, p])?)?;
    let is_test: Vec<bool> = c.is_test.iter().map(|&b| b == 1).collect();
    out.set_item("is_test", PyArray1::from_vec(py, is_test))?;
    let attrs = PyDict::new(py);
    attrs.set_item("preset", cfg.suite.system.name())?;
    attrs.set_item("colors", cfg.suite.colors)?;
    attrs.set_item("friction", cfg.suite.friction)?;
    attrs.set_item("dt", pixel_hnn_data::systems::suite::DT)?;
    attrs.set_item("seed", cfg.seed)?;
    attrs.set_item("test_trials", cfg.test_trials)?;
    attrs.set_item("param_names", cfg.suite.param_names())?;
    attrs.set_item("canvas", (cfg.suite.full_canvas().min, cfg.suite.full_canvas().max))?;
    out.set_item("attrs", attrs)?;
    Ok(out)
}

/// Writes a suite preset's dataset to `path` (HDF5, `pixel-hnn/suite-frames`): the bytes
/// `pixel-hnn generate --preset ... --out path` writes.
#[pyfunction]
#[pyo3(signature = (path, preset, *, colors=false, friction=0.0, trials=None, test_trials=None, steps=None, seed=0, threads=None, force=false))]
#[allow(clippy::too_many_arguments)]
fn write(
    py: Python<'_>,
    path: PathBuf,
    preset: &str,
    colors: bool,
    friction: f64,
    trials: Option<usize>,
    test_trials: Option<usize>,
    steps: Option<usize>,
    seed: u64,
    threads: Option<usize>,
    force: bool,
) -> PyResult<()> {
    let cfg = suite_config(preset, colors, friction, trials, test_trials, steps, seed)?;
    let n = self::threads(threads);
    py.allow_threads(|| suite_data::generate_suite(&cfg, &path, force, n, &|| {})).map_err(value_error)
}

/// The parameters of `n` trajectories: each name's value (a number, or one a trajectory),
/// the preset's plain value where not given.
fn suite_params(suite: &Suite, params: Params, n: usize) -> PyResult<Vec<Vec<f64>>> {
    let given = params.unwrap_or_default();
    let names = suite.param_names();
    if let Some(bad) = given.keys().find(|k| !names.contains(&k.as_str())) {
        return Err(value_error(format!("--param: the {} has no parameter '{bad}'; it has {}", suite.system.name(), names.join(", "))));
    }
    let plain = Suite::plain(suite.system).param_ranges();
    (0..n)
        .map(|i| {
            names
                .iter()
                .zip(&plain)
                .map(|(name, (_, range))| match given.get(*name).map(Values::as_slice) {
                    None => Ok(range.min),
                    Some(v) if v.len() == 1 => Ok(v[0]),
                    Some(v) if v.len() == n => Ok(v[i]),
                    Some(v) => Err(value_error(format!("--param: {name} has {} values for {n} trajectories", v.len()))),
                })
                .collect()
        })
        .collect()
}

/// States as `(trajectories, rest, width)` and the leading shape to give back.
fn rows(states: &PyReadonlyArrayDyn<'_, f64>, width: usize, what: &str) -> PyResult<(Vec<f64>, Vec<usize>)> {
    let shape = states.shape().to_vec();
    if shape.last() != Some(&width) {
        return Err(value_error(format!("{what}: the last axis must hold {width} coordinates (got shape {shape:?})")));
    }
    let flat: Vec<f64> = states.as_array().iter().copied().collect();
    Ok((flat, shape[..shape.len() - 1].to_vec()))
}

/// Our systems by name, with `params` set (one value each).
fn our_system(name: &str, params: &Params) -> PyResult<Option<SystemConfig>> {
    let Some(kind) = SystemKind::from_name(name) else { return Ok(None) };
    let mut cfg = SystemConfig::of(kind);
    for (k, v) in params.iter().flatten() {
        let [value] = v.as_slice()[..] else { return Err(value_error(format!("--param: {k} takes one value for the {name}"))) };
        cfg.set_param(k, value).map_err(value_error)?;
    }
    cfg.get().validate().map_err(value_error)?;
    Ok(Some(cfg))
}

fn unknown_system(name: &str) -> PyErr {
    let mut known: Vec<&str> = SystemKind::ALL.iter().map(|s| s.name()).collect();
    known.extend(SuiteSystem::ALL.iter().map(|s| s.name()));
    value_error(format!("--system: '{name}' is neither a system nor a preset; they are {}", known.join(", ")))
}

/// `steps` states from each initial state (`(..., 2D)`; the pendulum: `theta, thdot`), one
/// frame apart: `(..., steps, 2D)`. `system` is a preset (`dm-pendulum`, ...) or one of our
/// systems (`pendulum`, `spring`, `two-body`, `double-pendulum`); `params` maps a name to a
/// value (a preset: or one a trajectory), and `friction` is a preset's.
#[pyfunction]
#[pyo3(signature = (system, initial_states, steps, *, params=None, friction=0.0))]
fn simulate<'py>(
    py: Python<'py>,
    system: &str,
    initial_states: PyReadonlyArrayDyn<'py, f64>,
    steps: usize,
    params: Params,
    friction: f64,
) -> PyResult<Bound<'py, PyArrayDyn<f64>>> {
    if steps == 0 {
        return Err(value_error("--steps: must be at least 1"));
    }
    if let Some(cfg) = our_system(system, &params)? {
        let sys = cfg.get();
        let (s0, lead) = rows(&initial_states, sys.sim_dim(), "initial_states")?;
        let out = py
            .allow_threads(|| -> pixel_hnn_data::Result<Vec<f64>> {
                let mut out = Vec::with_capacity(s0.len() * steps);
                for z in s0.chunks(sys.sim_dim()) {
                    out.extend(sys.simulate(z, steps)?);
                }
                Ok(out)
            })
            .map_err(value_error)?;
        return array(py, out, &[lead, vec![steps, sys.sim_dim()]].concat());
    }
    let suite = Suite { system: preset_named(system).map_err(|_| unknown_system(system))?, colors: true, friction };
    if !(friction.is_finite() && friction >= 0.0) {
        return Err(value_error(format!("--friction: must be a number >= 0 (got {friction})")));
    }
    let d = 2 * suite.dof();
    let (s0, lead) = rows(&initial_states, d, "initial_states")?;
    let n = s0.len() / d;
    let params = suite_params(&suite, params, n)?;
    let out = py
        .allow_threads(|| -> pixel_hnn_data::Result<Vec<f64>> {
            let mut out = Vec::with_capacity(n * steps * d);
            for (z, p) in s0.chunks(d).zip(&params) {
                out.extend(suite.simulate(p, z, steps)?);
            }
            Ok(out)
        })
        .map_err(value_error)?;
    array(py, out, &[lead, vec![steps, d]].concat())
}

/// Frames of states `(N, S, 2D)` (or `(S, 2D)`, one trajectory). A preset gives the suite's
/// `(..., 32, 32, 3)` uint8 frames, drawn with each trajectory's `params`, `offset` (N, 2)
/// and `color_index` (N, P) (the plain preset's where not given; `colors=True` for the
/// colour datasets' canvas); our systems give `(..., 28, 28)` float32 frames in [0, 1].
#[pyfunction]
#[pyo3(signature = (system, states, *, params=None, offset=None, color_index=None, colors=false))]
fn render<'py>(
    py: Python<'py>,
    system: &str,
    states: PyReadonlyArrayDyn<'py, f64>,
    params: Params,
    offset: Option<Vec<[f64; 2]>>,
    color_index: Option<Vec<Vec<usize>>>,
    colors: bool,
) -> PyResult<PyObject> {
    if let Some(cfg) = our_system(system, &params)? {
        let sys = cfg.get();
        let (z, lead) = rows(&states, sys.sim_dim(), "states")?;
        let render = RenderConfig { window: sys.default_window(), ..RenderConfig::default() };
        let px = render.pixels();
        let out = py
            .allow_threads(|| -> pixel_hnn_data::Result<Vec<f32>> {
                let mut drawer = sys.drawer(render)?;
                let mut out = vec![0.0f32; z.len() / sys.sim_dim() * px];
                for (s, frame) in z.chunks(sys.sim_dim()).zip(out.chunks_mut(px)) {
                    drawer.draw(s, frame);
                }
                Ok(out)
            })
            .map_err(value_error)?;
        let side = render.side as usize;
        return Ok(array(py, out, &[lead, vec![side, side]].concat())?.into_any().unbind());
    }
    let suite = Suite { system: preset_named(system).map_err(|_| unknown_system(system))?, colors, friction: 0.0 };
    let d = 2 * suite.dof();
    let (z, lead) = rows(&states, d, "states")?;
    let n = if lead.len() >= 2 { lead[0] } else { 1 };
    let per = z.len() / d / n.max(1);
    let params = suite_params(&suite, params, n)?;
    let offset = offset.unwrap_or_else(|| vec![[0.0; 2]; n]);
    let default_colors: Vec<usize> =
        if suite.num_colors() == 1 || suite.particles() == 1 { vec![0; suite.particles()] } else { (0..suite.particles()).collect() };
    let color_index = color_index.unwrap_or_else(|| vec![default_colors; n]);
    if offset.len() != n || color_index.len() != n || color_index.iter().any(|c| c.len() != suite.particles()) {
        return Err(value_error(format!(
            "render: offset needs ({n}, 2) and color_index ({n}, {}) for {n} trajectories",
            suite.particles()
        )));
    }
    if color_index.iter().flatten().any(|&c| c >= suite.num_colors()) {
        return Err(value_error(format!("--colors: a colour index is not below {}", suite.num_colors())));
    }
    let out = py.allow_threads(|| {
        let mut out = vec![0u8; n * per * FRAME_BYTES];
        for (i, frames) in out.chunks_mut(per * FRAME_BYTES).enumerate() {
            let draws = Draws { params: params[i].clone(), offset: offset[i], colors: color_index[i].clone() };
            for (s, frame) in z[i * per * d..][..per * d].chunks(d).zip(frames.chunks_mut(FRAME_BYTES)) {
                suite.render(&draws, s, frame);
            }
        }
        out
    });
    Ok(array(py, out, &[lead, vec![SIDE, SIDE, 3]].concat())?.into_any().unbind())
}

/// One of our systems' dataset configuration, built as `pixel-hnn generate --system` builds
/// it from its flags: the system's defaults, then each parameter, then the sizes.
#[allow(clippy::too_many_arguments)]
fn system_config(
    system: &str,
    params: Option<HashMap<String, f64>>,
    trials: Option<usize>,
    steps: Option<usize>,
    side: Option<u32>,
    seed: u64,
    test_fraction: Option<f64>,
) -> PyResult<DatasetConfig> {
    let kind = SystemKind::from_name(system).ok_or_else(|| {
        let known: Vec<&str> = SystemKind::ALL.iter().map(|s| s.name()).collect();
        value_error(format!("--system: '{system}' is not a system; the systems are {} (a suite preset: preset=...)", known.join(", ")))
    })?;
    let mut d = DatasetConfig::for_system(kind);
    let mut params: Vec<(String, f64)> = params.unwrap_or_default().into_iter().collect();
    params.sort_by(|a, b| a.0.cmp(&b.0));
    for (name, value) in params {
        d.set_param(&name, value).map_err(value_error)?;
    }
    d.seed = seed;
    d.trials = trials.unwrap_or(d.trials);
    d.steps = steps.unwrap_or(d.steps);
    d.test_fraction = test_fraction.unwrap_or(d.test_fraction);
    d.render.side = side.unwrap_or(d.render.side);
    d.validate().map_err(value_error)?;
    Ok(d)
}

/// A grey dataset's arrays, as its HDF5 file holds them.
fn grey_arrays<'py>(py: Python<'py>, data: PixelDataset) -> PyResult<Bound<'py, PyDict>> {
    let c = data.config.clone();
    let sys = c.sys();
    let (t, s, side, dof) = (c.trials, c.steps, c.render.side as usize, sys.dof());
    let (mut q, mut p, mut energy) = (Vec::with_capacity(t * s * dof), Vec::with_capacity(t * s * dof), Vec::with_capacity(t * s));
    for trial in 0..t {
        for step in 0..s {
            let label = data.label(trial, step);
            q.extend_from_slice(&label[..dof]);
            p.extend_from_slice(&label[dof..]);
            energy.push(data.energy(trial, step));
        }
    }
    let is_test: Vec<bool> = (0..t).map(|i| data.is_test(i)).collect();
    let out = PyDict::new(py);
    out.set_item("frames", array(py, data.frames, &[t, s, side, side])?)?;
    out.set_item("state", array(py, data.states, &[t, s, sys.sim_dim()])?)?;
    out.set_item("q", array(py, q, &[t, s, dof])?)?;
    out.set_item("p", array(py, p, &[t, s, dof])?)?;
    out.set_item("energy", array(py, energy, &[t, s])?)?;
    out.set_item("is_test", PyArray1::from_vec(py, is_test))?;
    let attrs = PyDict::new(py);
    attrs.set_item("system", c.system.kind().name())?;
    attrs.set_item("dt", sys.dt())?;
    attrs.set_item("seed", c.seed)?;
    attrs.set_item("test_trials", c.test_trials())?;
    attrs.set_item("state_names", sys.sim_names())?;
    attrs.set_item("label_names", sys.label_names())?;
    let params = PyDict::new(py);
    for (name, v) in sys.params() {
        params.set_item(name, v)?;
    }
    attrs.set_item("params", params)?;
    attrs.set_item("config_json", serde_json::to_string(&c).expect("config serialises"))?;
    out.set_item("attrs", attrs)?;
    Ok(out)
}

/// One of our systems' dataset as numpy arrays (see `generate`).
#[pyfunction]
#[pyo3(signature = (system, *, params=None, trials=None, steps=None, side=None, seed=0, test_fraction=None, threads=None))]
#[allow(clippy::too_many_arguments)]
fn generate_system<'py>(
    py: Python<'py>,
    system: &str,
    params: Option<HashMap<String, f64>>,
    trials: Option<usize>,
    steps: Option<usize>,
    side: Option<u32>,
    seed: u64,
    test_fraction: Option<f64>,
    threads: Option<usize>,
) -> PyResult<Bound<'py, PyDict>> {
    let cfg = system_config(system, params, trials, steps, side, seed, test_fraction)?;
    let n = self::threads(threads);
    let data = py.allow_threads(|| pixel_hnn_data::dataset::generate(&cfg, n, &|| {})).map_err(value_error)?;
    grey_arrays(py, data)
}

/// Writes one of our systems' dataset to `path`: the bytes `pixel-hnn generate --system`
/// writes for the same settings.
#[pyfunction]
#[pyo3(signature = (path, system, *, params=None, trials=None, steps=None, side=None, seed=0, test_fraction=None, threads=None, force=false))]
#[allow(clippy::too_many_arguments)]
fn write_system(
    py: Python<'_>,
    path: PathBuf,
    system: &str,
    params: Option<HashMap<String, f64>>,
    trials: Option<usize>,
    steps: Option<usize>,
    side: Option<u32>,
    seed: u64,
    test_fraction: Option<f64>,
    threads: Option<usize>,
    force: bool,
) -> PyResult<()> {
    let cfg = system_config(system, params, trials, steps, side, seed, test_fraction)?;
    let n = self::threads(threads);
    py.allow_threads(|| -> pixel_hnn_data::Result<()> {
        let pending = pixel_hnn_data::output::PendingFile::new(&path, force, "--out")?;
        pixel_hnn_data::dataset::generate(&cfg, n, &|| {})?.write_to(pending)
    })
    .map_err(value_error)
}

/// Reads a pixel-hnn dataset file, ours (`pixel-hnn/frames`: grey float32 frames) or a
/// suite preset's (`pixel-hnn/suite-frames`: RGB uint8 frames as stored), as numpy arrays.
#[pyfunction]
fn read<'py>(py: Python<'py>, path: PathBuf) -> PyResult<Bound<'py, PyDict>> {
    if suite_data::format_of(&path).as_deref() == Some(suite_data::SUITE_FORMAT) {
        let t = py.allow_threads(|| suite_data::read(&path)).map_err(value_error)?;
        let c = &t.config;
        let (n, s, d) = (c.trials, c.steps, 2 * c.suite.dof());
        let energy: Vec<f64> = t
            .params
            .iter()
            .enumerate()
            .flat_map(|(i, p)| t.states[i * s * d..(i + 1) * s * d].chunks(d).map(|z| c.suite.hamiltonian(p, z)).collect::<Vec<_>>())
            .collect();
        let out = PyDict::new(py);
        let params = PyDict::new(py);
        for (k, name) in c.suite.param_names().iter().enumerate() {
            params.set_item(*name, PyArray1::from_vec(py, t.params.iter().map(|p| p[k]).collect()))?;
        }
        out.set_item("frames", array(py, t.frames, &[n, s, SIDE, SIDE, 3])?)?;
        out.set_item("state", array(py, t.states, &[n, s, d])?)?;
        out.set_item("energy", array(py, energy, &[n, s])?)?;
        out.set_item("params", params)?;
        out.set_item("is_test", PyArray1::from_vec(py, (0..n).map(|i| i < c.test_trials).collect::<Vec<bool>>()))?;
        let attrs = PyDict::new(py);
        attrs.set_item("preset", c.suite.system.name())?;
        attrs.set_item("colors", c.suite.colors)?;
        attrs.set_item("friction", c.suite.friction)?;
        attrs.set_item("dt", pixel_hnn_data::systems::suite::DT)?;
        attrs.set_item("seed", c.seed)?;
        attrs.set_item("test_trials", c.test_trials)?;
        attrs.set_item("config_json", serde_json::to_string(c).expect("config serialises"))?;
        out.set_item("attrs", attrs)?;
        return Ok(out);
    }
    let data = py.allow_threads(|| PixelDataset::open(&path)).map_err(value_error)?;
    grey_arrays(py, data)
}

/// Frames as `f32` values in `[0, 1]` and their shape: `uint8` frames over 255 (as the
/// command line reads a suite dataset), `float32` as they are.
fn frames_f32(x: &Bound<'_, PyAny>, what: &str) -> PyResult<(Vec<f32>, Vec<usize>)> {
    if let Ok(a) = x.extract::<PyReadonlyArrayDyn<'_, u8>>() {
        return Ok((a.as_array().iter().map(|&b| b as f32 / 255.0).collect(), a.shape().to_vec()));
    }
    if let Ok(a) = x.extract::<PyReadonlyArrayDyn<'_, f32>>() {
        return Ok((a.as_array().iter().copied().collect(), a.shape().to_vec()));
    }
    Err(value_error(format!("{what}: frames must be a numpy array of uint8 or float32")))
}

/// What a frame shape says: `(trials, frames, values a frame)`, for `(N, S, H, W)` or
/// `(N, S, H, W, C)`.
fn frame_axes(shape: &[usize], what: &str) -> PyResult<(usize, usize, usize)> {
    match shape {
        [n, s, rest @ ..] if rest.len() == 2 || rest.len() == 3 => Ok((*n, *s, rest.iter().product())),
        _ => Err(value_error(format!(
            "{what}: expected (trials, frames, side, side) or (trials, frames, side, side, channels), got {shape:?}"
        ))),
    }
}

/// Every trial's scores as `pixel-hnn score` computes them, as JSON (see `score`).
#[pyfunction]
#[pyo3(signature = (truth, predictions, *, context, labels=None, latents=None, backward=None, window=None, threshold=0.025, trial_ids=None))]
#[allow(clippy::too_many_arguments)]
fn score_json(
    py: Python<'_>,
    truth: &Bound<'_, PyAny>,
    predictions: &Bound<'_, PyAny>,
    context: usize,
    labels: Option<PyReadonlyArrayDyn<'_, f64>>,
    latents: Option<PyReadonlyArrayDyn<'_, f64>>,
    backward: Option<&Bound<'_, PyAny>>,
    window: Option<usize>,
    threshold: f64,
    trial_ids: Option<Vec<usize>>,
) -> PyResult<String> {
    use pixel_hnn_data::scoring::{Forecast, ScoreSettings, TrialScores, Truth};
    let (gt, gt_shape) = frames_f32(truth, "truth")?;
    let (pred, pred_shape) = frames_f32(predictions, "predictions")?;
    let (n, steps, px) = frame_axes(&gt_shape, "truth")?;
    let (pn, h, ppx) = frame_axes(&pred_shape, "predictions")?;
    let colour = |s: &[usize]| if s.len() == 5 { "RGB" } else { "grey" };
    if gt_shape[2..] != pred_shape[2..] {
        return Err(value_error(format!(
            "predictions: has {} frames {:?}; the truth's are {} {:?}: predict the frames as the dataset stores them",
            colour(&pred_shape),
            &pred_shape[2..],
            colour(&gt_shape),
            &gt_shape[2..]
        )));
    }
    if pn != n {
        return Err(value_error(format!("predictions: predicts {pn} trials; the truth has {n}")));
    }
    let labels = labels.map(|l| (l.shape().to_vec(), l.as_array().iter().copied().collect::<Vec<f64>>()));
    let latents = latents.map(|l| (l.shape().to_vec(), l.as_array().iter().copied().collect::<Vec<f64>>()));
    let label_dim = match &labels {
        Some((s, _)) if s.len() == 3 && s[0] == n && s[1] == steps => Some(s[2]),
        Some((s, _)) => return Err(value_error(format!("labels: expected ({n}, {steps}, dim) like the truth, got {s:?}"))),
        None => None,
    };
    let latent_dim = match &latents {
        Some((s, _)) if s.len() == 3 && s[0] == n && s[1] == h => Some(s[2]),
        Some((s, _)) => return Err(value_error(format!("latents: expected ({n}, {h}, dim) like the predictions, got {s:?}"))),
        None => None,
    };
    if latents.is_some() != labels.is_some() {
        return Err(value_error("latents: latents are scored against labels; give both or neither"));
    }
    let backward = match backward {
        Some(b) => {
            let (v, s) = frames_f32(b, "backward")?;
            let (bn, bh, _) = frame_axes(&s, "backward")?;
            if bn != n || s[2..] != gt_shape[2..] {
                return Err(value_error(format!("backward: expected ({n}, frames, {:?}) like the truth, got {s:?}", &gt_shape[2..])));
            }
            Some((bh, v))
        }
        None => None,
    };
    let ids = trial_ids.unwrap_or_else(|| (0..n).collect());
    if ids.len() != n {
        return Err(value_error(format!("trial_ids: {} ids for {n} trials", ids.len())));
    }
    debug_assert_eq!(px, ppx);
    let scores = py.allow_threads(|| {
        let truth = Truth {
            frames: &gt,
            steps,
            pixels: px,
            labels: labels.as_ref().map(|(_, v)| (&v[..], label_dim.unwrap_or(0))),
            trial_ids: &ids,
        };
        let forecast = Forecast {
            context,
            predicted: h,
            frames: &pred,
            latents: latents.as_ref().map(|(_, v)| (latent_dim.unwrap_or(0), &v[..])),
            backward: backward.as_ref().map(|(bh, v)| (*bh, &v[..])),
        };
        // Finite, as a predictions file must be for `pixel-hnn score`.
        pixel_hnn_data::scoring::check_finite(&forecast, px)?;
        TrialScores::of(&truth, &forecast, ScoreSettings { threshold, window })
    });
    let scores = scores.map_err(|m| value_error(format!("predictions: {m}")))?;
    Ok(serde_json::to_string(&scores).expect("scores serialise"))
}

/// Our valid prediction time of each trial: the index of the first predicted frame whose
/// `MSE / mean(truth^2)` exceeds `threshold` (the number of frames where none does);
/// `truth` and `predictions` are the same frames, `(N, H, ...)`.
#[pyfunction]
#[pyo3(signature = (truth, predictions, *, threshold=0.025))]
fn vpt(truth: &Bound<'_, PyAny>, predictions: &Bound<'_, PyAny>, threshold: f64) -> PyResult<Vec<usize>> {
    let (gt, gs) = frames_f32(truth, "truth")?;
    let (pred, ps) = frames_f32(predictions, "predictions")?;
    if gs != ps {
        return Err(value_error(format!("predictions: shape {ps:?}; the truth's is {gs:?}")));
    }
    let (n, h, px) = frame_axes(&gs, "truth")?;
    if px == 0 {
        return Err(value_error(format!("truth: frames of shape {gs:?} hold no pixels")));
    }
    if !(threshold.is_finite() && threshold > 0.0) {
        return Err(value_error(format!("threshold: must be a positive number (got {threshold})")));
    }
    if let Some(at) = pixel_hnn_data::scoring::non_finite(&pred, h, px) {
        return Err(value_error(format!("predictions: hold {at}")));
    }
    Ok((0..n)
        .map(|i| pixel_hnn_data::symetric::vpt(&pred[i * h * px..(i + 1) * h * px], &gt[i * h * px..(i + 1) * h * px], px, threshold))
        .collect())
}

/// The benchmark's SyMetric of latents against true states, as JSON (see `symetric`).
#[pyfunction]
#[pyo3(signature = (train_latents, train_states, test_latents, test_states, *, max_order=5))]
fn symetric_json(
    py: Python<'_>,
    train_latents: Vec<Vec<f64>>,
    train_states: Vec<Vec<f64>>,
    test_latents: Vec<Vec<f64>>,
    test_states: Vec<Vec<f64>>,
    max_order: usize,
) -> PyResult<String> {
    if let Some(why) = pixel_hnn_data::symetric::check_points(&train_latents, &train_states, &test_latents, &test_states) {
        return Err(value_error(why));
    }
    if !(1..=pixel_hnn_data::symetric::MAX_ORDER).contains(&max_order) {
        return Err(value_error(format!("max_order: must be 1 .. {}", pixel_hnn_data::symetric::MAX_ORDER)));
    }
    let s = py.allow_threads(|| pixel_hnn_data::symetric::symetric(&train_latents, &train_states, &test_latents, &test_states, max_order));
    Ok(serde_json::to_string(&s).expect("SyMetric serialises"))
}

#[pymodule]
fn _pixel_hnn(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(presets, m)?)?;
    m.add_function(wrap_pyfunction!(generate, m)?)?;
    m.add_function(wrap_pyfunction!(write, m)?)?;
    m.add_function(wrap_pyfunction!(simulate, m)?)?;
    m.add_function(wrap_pyfunction!(render, m)?)?;
    m.add_function(wrap_pyfunction!(score_json, m)?)?;
    m.add_function(wrap_pyfunction!(generate_system, m)?)?;
    m.add_function(wrap_pyfunction!(write_system, m)?)?;
    m.add_function(wrap_pyfunction!(read, m)?)?;
    m.add_function(wrap_pyfunction!(vpt, m)?)?;
    m.add_function(wrap_pyfunction!(symetric_json, m)?)?;
    Ok(())
}
