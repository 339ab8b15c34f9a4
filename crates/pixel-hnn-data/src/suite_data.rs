//! Datasets of DeepMind's suite (`generate --preset dm-*`): trajectories of a suite preset
//! ([`crate::systems::suite`]), drawn, simulated and rendered as the suite makes them, and
//! written as HDF5 (`pixel-hnn/suite-frames`, schema in `datasets/README.md`) without ever
//! holding the frames of more than a block of trajectories: a dataset of the suite's size
//! (700 trajectories of 256 frames, 550 MB of bytes) is made in a few tens of MB.
//!
//! The draws, the simulation and the rejection of trajectories that leave the canvas (the
//! suite's `within_canvas_bounds`) run in order on one seeded stream, so the data do not
//! depend on the number of threads; only the rendering and compression run in parallel.

use serde::{Deserialize, Serialize};
use std::path::Path;

use crate::choice::Choice;
use crate::error::{Error, Result};
use crate::output::PendingFile;
use crate::rng::Rng;
use crate::systems::suite::{Draws, Suite, SuiteSystem, DT, SIDE};

/// The format name and version of a suite dataset file.
pub const SUITE_FORMAT: &str = "pixel-hnn/suite-frames";
pub const SUITE_FORMAT_VERSION: u32 = 1;
/// Bytes of one RGB frame.
pub const FRAME_BYTES: usize = SIDE * SIDE * 3;
/// Draws of a trajectory before the generator gives up on the canvas.
const MAX_REDRAWS: usize = 1000;

/// Where `generate --preset` writes when not told: `datasets/PRESET[-colors][-friction].h5`.
pub fn default_path(s: &Suite) -> std::path::PathBuf {
    std::path::PathBuf::from(format!("datasets/{}.h5", s.label()))
}

/// Everything that determines a suite dataset; `Default` is the suite's own size for its
/// pendulum (`generate_locally.sh`: 500 training and 200 test trajectories of 255 steps,
/// 256 frames with the first, dt 0.05).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SuiteDatasetConfig {
    pub suite: Suite,
    pub seed: u64,
    /// Trajectories, the test ones included.
    pub trials: usize,
    /// The first `test_trials` trajectories are the test set.
    pub test_trials: usize,
    /// Frames a trajectory (the initial state's included).
    pub steps: usize,
}

impl Default for SuiteDatasetConfig {
    fn default() -> Self {
        SuiteDatasetConfig { suite: Suite::plain(SuiteSystem::Pendulum), seed: 0, trials: 700, test_trials: 200, steps: 256 }
    }
}

impl SuiteDatasetConfig {
    pub fn validate(&self) -> Result<()> {
        self.suite.validate()?;
        if self.trials == 0 {
            return Err(Error::setting("--trials", "must be at least 1"));
        }
        if self.test_trials > self.trials {
            return Err(Error::setting("--test-trials", format!("{} test trajectories of {} in all", self.test_trials, self.trials)));
        }
        if self.steps < 2 {
            return Err(Error::setting("--steps", format!("must be at least 2 frames (got {})", self.steps)));
        }
        let bytes = self.trials as u128 * self.steps as u128 * (2 * self.suite.dof()) as u128 * 8 * 3;
        if bytes > crate::h5::MAX_FRAME_BYTES as u128 {
            return Err(Error::setting(
                "--trials",
                format!("{} x {} frames need {} GB of states; fewer trials or frames", self.trials, self.steps, bytes >> 30),
            ));
        }
        Ok(())
    }
}

/// One trajectory: what it drew and its states `[steps * 2 dof]` (`q` then `p`).
#[derive(Clone, Debug, PartialEq)]
pub struct SuiteTrial {
    pub draws: Draws,
    pub states: Vec<f64>,
}

/// Draws and simulates every trajectory, in order on the seed's stream; a trajectory that
/// leaves the canvas is drawn again (parameters, offset, colours and initial state), as the
/// suite does.
pub fn simulate_trials(cfg: &SuiteDatasetConfig) -> Result<Vec<SuiteTrial>> {
    cfg.validate()?;
    let s = &cfg.suite;
    let mut rng = Rng::new(cfg.seed);
    (0..cfg.trials)
        .map(|i| {
            for _ in 0..MAX_REDRAWS {
                let draws = s.draw(&mut rng);
                let z0 = s.initial(&mut rng, &draws.params);
                let states = s.simulate(&draws.params, &z0, cfg.steps)?;
                if s.stays_in_canvas(&draws.params, &states) {
                    return Ok(SuiteTrial { draws, states });
                }
            }
            Err(Error::setting("--preset", format!("trajectory {i} left the canvas in {MAX_REDRAWS} draws")))
        })
        .collect()
}

/// The frames of a trajectory, `[steps * FRAME_BYTES]` bytes.
pub fn render_trial(s: &Suite, trial: &SuiteTrial) -> Vec<u8> {
    let d = 2 * s.dof();
    let mut out = vec![0u8; trial.states.len() / d * FRAME_BYTES];
    for (frame, z) in out.chunks_mut(FRAME_BYTES).zip(trial.states.chunks(d)) {
        s.render(&trial.draws, z, frame);
    }
    out
}

/// Everything a suite dataset holds beside its frames, a row a trajectory (then a frame):
/// what the HDF5 file and the Python module hand out.
#[derive(Clone, Debug, PartialEq)]
pub struct Columns {
    /// `[T * S * 2D]`: `q` then `p`.
    pub states: Vec<f64>,
    /// `[T * S * 2D]`: the conservative field at each state (the suite's `dx_dt`).
    pub dx_dt: Vec<f64>,
    /// `[T * S]`: `H` under the trajectory's parameters.
    pub energy: Vec<f64>,
    /// Each parameter's draws, `[T]`, in [`Suite::param_names`]' order.
    pub params: Vec<(&'static str, Vec<f64>)>,
    /// `[T * 2]`.
    pub offset: Vec<f64>,
    /// `[T * P]`.
    pub colors: Vec<i64>,
    /// `[T]`: 1 for the test trajectories (the first `test_trials`).
    pub is_test: Vec<u8>,
}

/// The columns of `trials`.
pub fn columns(cfg: &SuiteDatasetConfig, trials: &[SuiteTrial]) -> Columns {
    let s = &cfg.suite;
    let d = 2 * s.dof();
    let mut c = Columns {
        states: Vec::with_capacity(trials.len() * cfg.steps * d),
        dx_dt: Vec::with_capacity(trials.len() * cfg.steps * d),
        energy: Vec::with_capacity(trials.len() * cfg.steps),
        params: s
            .param_names()
            .into_iter()
            .enumerate()
            .map(|(k, name)| (name, trials.iter().map(|tr| tr.draws.params[k]).collect()))
            .collect(),
        offset: trials.iter().flat_map(|tr| tr.draws.offset).collect(),
        colors: trials.iter().flat_map(|tr| tr.draws.colors.iter().map(|&c| c as i64)).collect(),
        is_test: (0..trials.len()).map(|i| (i < cfg.test_trials) as u8).collect(),
    };
    let mut field = vec![0.0; d];
    for trial in trials {
        c.states.extend_from_slice(&trial.states);
        for z in trial.states.chunks(d) {
            s.field(&trial.draws.params, z, &mut field);
            c.dx_dt.extend_from_slice(&field);
            c.energy.push(s.hamiltonian(&trial.draws.params, z));
        }
    }
    c
}

/// Every frame of `trials` in memory, `[T * S * FRAME_BYTES]`, rendered on `threads` threads.
pub fn render_frames(s: &Suite, trials: &[SuiteTrial], threads: usize) -> Vec<u8> {
    let per_trial = trials.first().map_or(0, |t| t.states.len() / (2 * s.dof()) * FRAME_BYTES);
    let mut out = vec![0u8; trials.len() * per_trial];
    if per_trial == 0 {
        return out;
    }
    let per = trials.len().div_ceil(threads.max(1));
    std::thread::scope(|scope| {
        for (part, dst) in trials.chunks(per).zip(out.chunks_mut(per * per_trial)) {
            scope.spawn(move || {
                for (trial, frames) in part.iter().zip(dst.chunks_mut(per_trial)) {
                    frames.copy_from_slice(&render_trial(s, trial));
                }
            });
        }
    });
    out
}

/// Generates `cfg`'s dataset and writes it to `out` (atomically; `force` overwrites),
/// rendering and compressing on `threads` threads, calling `on_trial` once a trajectory.
pub fn generate_suite(cfg: &SuiteDatasetConfig, out: &Path, force: bool, threads: usize, on_trial: &(dyn Fn() + Sync)) -> Result<()> {
    cfg.validate()?;
    let pending = PendingFile::new(out, force, "--out")?;
    let trials = simulate_trials(cfg)?;
    write(cfg, &trials, &pending, threads.max(1), on_trial).map_err(Error::hdf5(out))?;
    pending.commit()
}

fn write(
    cfg: &SuiteDatasetConfig,
    trials: &[SuiteTrial],
    pending: &PendingFile,
    threads: usize,
    on_trial: &(dyn Fn() + Sync),
) -> hdf5::Result<()> {
    use hdf5::types::VarLenUnicode;
    let s = &cfg.suite;
    let (t, n, d) = (cfg.trials, cfg.steps, 2 * s.dof());
    let text = |v: &str| -> VarLenUnicode { v.parse().expect("no NUL in attribute text") };
    let file = pending.create_hdf5()?;
    let frames = file
        .new_dataset::<u8>()
        .shape([t, n, SIDE, SIDE, 3])
        .chunk([1, n, SIDE, SIDE, 3])
        .deflate(crate::h5::DEFLATE_LEVEL)
        .obj_track_times(false)
        .create("frames")?;
    // A block of trajectories at a time: rendered and compressed in parallel, then written
    // in order, so memory holds one block's frames.
    let block = (threads * 4).min(t);
    for (b, chunk) in trials.chunks(block).enumerate() {
        let per = chunk.len().div_ceil(threads);
        let compressed: Vec<Vec<u8>> = std::thread::scope(|scope| {
            let workers: Vec<_> = chunk
                .chunks(per)
                .map(|part| {
                    scope.spawn(move || {
                        part.iter()
                            .map(|trial| {
                                let bytes = crate::h5::deflate(&render_trial(s, trial));
                                on_trial();
                                bytes
                            })
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            workers.into_iter().flat_map(|w| w.join().expect("a rendering worker panicked")).collect()
        });
        for (i, bytes) in compressed.iter().enumerate() {
            crate::h5::write_chunk(&frames, &[(b * block + i) as u64, 0, 0, 0, 0], bytes)?;
        }
    }

    let c = columns(cfg, trials);
    let plain = |name: &str, shape: &[usize], values: &[f64]| -> hdf5::Result<()> {
        file.new_dataset::<f64>().shape(shape).obj_track_times(false).create(name)?.write_raw(values)?;
        Ok(())
    };
    let dof = s.dof();
    let (q, p): (Vec<f64>, Vec<f64>) = {
        let (mut q, mut p) = (Vec::with_capacity(t * n * dof), Vec::with_capacity(t * n * dof));
        for z in c.states.chunks(d) {
            q.extend_from_slice(&z[..dof]);
            p.extend_from_slice(&z[dof..]);
        }
        (q, p)
    };
    plain("state", &[t, n, d], &c.states)?;
    plain("dx_dt", &[t, n, d], &c.dx_dt)?;
    plain("q", &[t, n, dof], &q)?;
    plain("p", &[t, n, dof], &p)?;
    plain("energy", &[t, n], &c.energy)?;
    let params = file.create_group("params")?;
    for (name, v) in &c.params {
        params.new_dataset::<f64>().shape([t]).obj_track_times(false).create(*name)?.write_raw(v)?;
    }
    plain("offset", &[t, 2], &c.offset)?;
    file.new_dataset::<i64>().shape([t, s.particles()]).obj_track_times(false).create("color_index")?.write_raw(&c.colors)?;
    file.new_dataset::<u8>().shape([t]).obj_track_times(false).create("is_test")?.write_raw(&c.is_test)?;

    let put_text = |name: &str, v: &str| file.new_attr::<VarLenUnicode>().create(name)?.write_scalar(&text(v));
    put_text("format", SUITE_FORMAT)?;
    file.new_attr::<u32>().create("format_version")?.write_scalar(&SUITE_FORMAT_VERSION)?;
    put_text("generator", concat!("pixel-hnn ", env!("CARGO_PKG_VERSION")))?;
    put_text("preset", s.system.name())?;
    put_text("config_json", &serde_json::to_string(cfg).expect("config serialises"))?;
    put_text("q_names", &(1..=dof).map(|i| format!("q{i}")).collect::<Vec<_>>().join(","))?;
    put_text("p_names", &(1..=dof).map(|i| format!("p{i}")).collect::<Vec<_>>().join(","))?;
    put_text("param_names", &s.param_names().join(","))?;
    put_text("suite_commit", "345a1a5")?;
    for (name, v) in [("seed", cfg.seed), ("trials", t as u64), ("test_trials", cfg.test_trials as u64), ("steps", n as u64)] {
        file.new_attr::<u64>().create(name)?.write_scalar(&v)?;
    }
    for (name, v) in [("side", SIDE as u64), ("channels", 3), ("colors", s.colors as u64), ("num_colors", s.num_colors() as u64)] {
        file.new_attr::<u64>().create(name)?.write_scalar(&v)?;
    }
    for (name, v) in [("dt", DT), ("friction", s.friction), ("canvas_min", s.full_canvas().min), ("canvas_max", s.full_canvas().max)] {
        file.new_attr::<f64>().create(name)?.write_scalar(&v)?;
    }
    file.close()
}

/// The format attribute of an HDF5 file, if it has a readable one (`None`: not HDF5, or no
/// attribute).
pub fn format_of(path: &Path) -> Option<String> {
    let file = hdf5::File::open(path).ok()?;
    let a = file.attr("format").ok()?;
    a.read_scalar::<hdf5::types::VarLenUnicode>().ok().map(|s| s.as_str().to_string())
}

/// Trajectories of a suite dataset file, read back: all of them ([`read`]) or the test
/// ones, the file's first `test_trials` ([`read_test_trials`]: what `score` scores
/// predictions against).
#[derive(Clone, Debug, PartialEq)]
pub struct SuiteTrials {
    pub config: SuiteDatasetConfig,
    /// `[trials read, steps, SIDE, SIDE, 3]`, as stored.
    pub frames: Vec<u8>,
    /// `[trials read, steps, 2 dof]`: `q` then `p`.
    pub states: Vec<f64>,
    /// Each trajectory's parameters, in [`Suite::param_names`]' order.
    pub params: Vec<Vec<f64>>,
}

/// Reads every trajectory of the suite dataset at `path`; every error names the file.
pub fn read(path: &Path) -> Result<SuiteTrials> {
    read_first(path, |c| c.trials)
}

/// Reads the test trajectories of the suite dataset at `path`.
pub fn read_test_trials(path: &Path) -> Result<SuiteTrials> {
    read_first(path, |c| c.test_trials)
}

fn read_first(path: &Path, count: impl Fn(&SuiteDatasetConfig) -> usize) -> Result<SuiteTrials> {
    let bad = |m: String| Error::input(path, m);
    if !path.exists() {
        return Err(bad("no such file; make one with `pixel-hnn generate --preset PRESET --out FILE`".into()));
    }
    let file = hdf5::File::open(path).map_err(|e| bad(format!("is not a readable HDF5 file ({e})")))?;
    match format_of(path) {
        Some(f) if f == SUITE_FORMAT => {}
        Some(f) => return Err(bad(format!("is a '{f}' file, not a suite dataset ('{SUITE_FORMAT}')"))),
        None => return Err(bad("is HDF5 but not a pixel-hnn dataset (no 'format' attribute)".into())),
    }
    let version: u32 =
        file.attr("format_version").and_then(|a| a.read_scalar()).map_err(|e| bad(format!("has no readable format_version ({e})")))?;
    if version != SUITE_FORMAT_VERSION {
        return Err(bad(format!("has suite format version {version}; this build reads version {SUITE_FORMAT_VERSION}")));
    }
    let config: SuiteDatasetConfig = crate::h5::config_json(&file, path)?;
    config.validate().map_err(|e| bad(format!("holds an invalid configuration ({e})")))?;
    let (n, s, d) = (count(&config), config.steps, 2 * config.suite.dof());
    let dataset = |name: &str, shape: &[usize]| crate::h5::dataset_of_shape(&file, path, name, shape);
    let truncated = |name: &str, e: hdf5::Error| crate::h5::truncated(path, name, e);
    let frames: ndarray::Array5<u8> =
        dataset("frames", &[config.trials, s, SIDE, SIDE, 3])?.read_slice((0..n, .., .., .., ..)).map_err(|e| truncated("frames", e))?;
    let states: ndarray::Array3<f64> =
        dataset("state", &[config.trials, s, d])?.read_slice((0..n, .., ..)).map_err(|e| truncated("state", e))?;
    let states = states.into_raw_vec_and_offset().0;
    if states.iter().any(|v| !v.is_finite()) {
        return Err(bad("'state' holds non-finite values".into()));
    }
    let names = config.suite.param_names();
    let mut columns = Vec::with_capacity(names.len());
    for name in &names {
        let key = format!("params/{name}");
        let v: Vec<f64> = dataset(&key, &[config.trials])?.read_raw().map_err(|e| truncated(&key, e))?;
        columns.push(v);
    }
    let params = (0..n).map(|i| columns.iter().map(|c| c[i]).collect()).collect();
    Ok(SuiteTrials { config, frames: frames.into_raw_vec_and_offset().0, states, params })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small(system: SuiteSystem) -> SuiteDatasetConfig {
        SuiteDatasetConfig { suite: Suite::plain(system), trials: 6, test_trials: 2, steps: 20, seed: 4 }
    }

    #[test]
    fn the_threads_do_not_change_the_file_and_the_seed_does() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b, c) = (dir.path().join("a.h5"), dir.path().join("b.h5"), dir.path().join("c.h5"));
        let cfg = small(SuiteSystem::TwoBody);
        generate_suite(&cfg, &a, false, 1, &|| {}).unwrap();
        generate_suite(&cfg, &b, false, 3, &|| {}).unwrap();
        assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap(), "the same bytes on 1 and 3 threads");
        generate_suite(&SuiteDatasetConfig { seed: 5, ..cfg }, &c, false, 1, &|| {}).unwrap();
        assert_ne!(std::fs::read(&a).unwrap(), std::fs::read(&c).unwrap());
    }

    #[test]
    fn every_trajectory_stays_in_the_canvas_and_follows_the_simulator() {
        for &system in SuiteSystem::ALL {
            let cfg = small(system);
            let trials = simulate_trials(&cfg).unwrap();
            for tr in &trials {
                assert!(cfg.suite.stays_in_canvas(&tr.draws.params, &tr.states));
                let again = cfg.suite.simulate(&tr.draws.params, &tr.states[..2 * cfg.suite.dof()], cfg.steps).unwrap();
                assert_eq!(again, tr.states);
            }
        }
    }

    #[test]
    fn bad_sizes_are_named() {
        let e = SuiteDatasetConfig { test_trials: 9, ..small(SuiteSystem::Pendulum) }.validate().unwrap_err().to_string();
        assert!(e.starts_with("--test-trials: "), "{e}");
        let e = SuiteDatasetConfig { steps: 1, ..small(SuiteSystem::Pendulum) }.validate().unwrap_err().to_string();
        assert!(e.starts_with("--steps: "), "{e}");
    }
}
