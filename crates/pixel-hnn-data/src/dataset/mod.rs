//! Stage 1, the pixel dataset: simulate trials of a system ([`crate::systems`]), render every
//! frame, store the frames once per trial in HDF5 with the true state of every frame, and read
//! them back (a suite dataset too: [`PixelDataset::open`]). The main crate forms the (pair,
//! next pair) samples the models train on from it, as tensors.
//!
//! Samples follow the reference (SPEC.md section 3): in a trial of `steps` frames
//! `f_0 .. f_{steps-1}`, sample `k` (k = 0 .. steps - 4) is the pair `x = [f_{k+1} | f_{k+2}]`
//! and the next pair `x_next = [f_{k+2} | f_{k+3}]`; 103 frames give 100 samples. The label
//! of a sample is the true state of the first frame of `x`, `f_{k+1}` (the reference read
//! its label one environment step after `f_{k+2}`, i.e. the state of `f_{k+3}`).
//! The schema is documented in `datasets/README.md`.

mod generate;
mod h5;
pub use crate::suite_data as suite;

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

use crate::choice::Choice;
use crate::error::{Error, Result};
use crate::output::PendingFile;
use crate::systems::pendulum::{InitialStateRule, Pendulum, PendulumParams, PendulumScene};
use crate::systems::render::{RenderConfig, Window};
use crate::systems::{System, SystemConfig, SystemKind};

pub use generate::generate;
pub use h5::{FORMAT, FORMAT_VERSION};

/// Where `generate` writes and `train` reads when not told.
pub const DEFAULT_PATH: &str = "datasets/pendulum.h5";

/// Where `generate --system NAME` writes when not told (`datasets/NAME.h5`).
pub fn default_path(kind: SystemKind) -> PathBuf {
    PathBuf::from(format!("datasets/{}.h5", kind.name()))
}

/// Frames before the first frame of sample 0 (the reference drops `f_0`).
pub const FIRST_SAMPLE_FRAME: usize = 1;
/// Frames per sample: `x` uses two, `x_next` one more.
pub const FRAMES_PER_SAMPLE: usize = 3;
pub use crate::h5::MAX_FRAME_BYTES;

/// Everything that determines a dataset; `Default` is the reference's (the pendulum, seed 0,
/// 200 trials of 103 frames, 28 x 28, deflection in (0, pi/6), first 20% of trials for
/// testing). Other systems take the same sizes ([`DatasetConfig::for_system`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(from = "ConfigRepr")]
pub struct DatasetConfig {
    pub seed: u64,
    pub trials: usize,
    /// Frames per trial.
    pub steps: usize,
    /// The first `floor(trials * test_fraction)` trials are the test set.
    pub test_fraction: f64,
    pub system: SystemConfig,
    pub render: RenderConfig,
    /// The test trials' count where it is not `floor(trials * test_fraction)`: a suite
    /// dataset's (its first `test_trials` trajectories).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_trials: Option<usize>,
}

/// The two layouts a stored configuration has had: format 1 (the pendulum's settings at the
/// top level, its scene in `render`) and the current one.
#[derive(Deserialize)]
#[serde(untagged)]
enum ConfigRepr {
    Current {
        seed: u64,
        trials: usize,
        steps: usize,
        test_fraction: f64,
        system: SystemConfig,
        render: RenderConfig,
        #[serde(default)]
        test_trials: Option<usize>,
    },
    PendulumV1 {
        seed: u64,
        trials: usize,
        steps: usize,
        test_fraction: f64,
        initial: InitialStateRule,
        physics: PendulumParams,
        render: RenderV1,
    },
}

#[derive(Deserialize)]
struct RenderV1 {
    side: u32,
    supersample: u32,
    window: Window,
    rod_length: f64,
    rod_width: f64,
    axle_radius: f64,
}

impl From<ConfigRepr> for DatasetConfig {
    fn from(r: ConfigRepr) -> Self {
        match r {
            ConfigRepr::Current { seed, trials, steps, test_fraction, system, render, test_trials } => {
                DatasetConfig { seed, trials, steps, test_fraction, system, render, test_trials }
            }
            ConfigRepr::PendulumV1 { seed, trials, steps, test_fraction, initial, physics, render } => DatasetConfig {
                seed,
                trials,
                steps,
                test_fraction,
                system: SystemConfig::Pendulum(Pendulum {
                    physics,
                    initial,
                    scene: PendulumScene { rod_length: render.rod_length, rod_width: render.rod_width, axle_radius: render.axle_radius },
                }),
                render: RenderConfig { side: render.side, supersample: render.supersample, window: render.window },
                test_trials: None,
            },
        }
    }
}

impl Default for DatasetConfig {
    fn default() -> Self {
        DatasetConfig::for_system(SystemKind::Pendulum)
    }
}

impl DatasetConfig {
    /// The reference's sizes (200 trials of 103 frames, 28 x 28, 20% for testing) for any
    /// system, with its default parameters and window.
    pub fn for_system(kind: SystemKind) -> Self {
        let system = SystemConfig::of(kind);
        let render = RenderConfig { window: system.get().default_window(), ..RenderConfig::default() };
        DatasetConfig { seed: 0, trials: 200, steps: 103, test_fraction: 0.2, system, render, test_trials: None }
    }

    /// A suite dataset's configuration as the pixel pipeline sees it: the preset as its
    /// system, 32 x 32 RGB frames, its first `test_trials` trajectories for testing.
    pub fn of_suite(c: &suite::SuiteDatasetConfig) -> Self {
        let system = SystemConfig::Suite(c.suite);
        let render = RenderConfig { side: crate::systems::suite::SIDE as u32, supersample: 1, window: system.get().default_window() };
        let test_fraction = c.test_trials as f64 / c.trials as f64;
        DatasetConfig { seed: c.seed, trials: c.trials, steps: c.steps, test_fraction, system, render, test_trials: Some(c.test_trials) }
    }

    /// Values a frame holds: `side * side` grey, `3 * side * side` RGB.
    pub fn pixels(&self) -> usize {
        self.render.pixels() * self.sys().channels()
    }

    /// Sets a physical parameter of the system (`--param NAME=VALUE`); the frame window
    /// follows the parameters (a longer rod needs a wider one): it becomes the system's
    /// default for them, so a window of one's own is set after the parameters.
    pub fn set_param(&mut self, name: &str, value: f64) -> Result<()> {
        self.system.set_param(name, value)?;
        self.render.window = self.sys().default_window();
        Ok(())
    }

    /// The system.
    pub fn sys(&self) -> &dyn System {
        self.system.get()
    }

    pub fn validate(&self) -> Result<()> {
        if self.trials == 0 {
            return Err(Error::setting("--trials", "must be at least 1 (got 0)"));
        }
        let min_steps = FIRST_SAMPLE_FRAME + FRAMES_PER_SAMPLE;
        if self.steps < min_steps {
            return Err(Error::setting(
                "--steps",
                format!("must be at least {min_steps} frames so that a trial holds one sample (got {})", self.steps),
            ));
        }
        if !(self.test_fraction.is_finite() && (0.0..1.0).contains(&self.test_fraction)) {
            return Err(Error::setting("--test-fraction", format!("must be in [0, 1) (got {})", self.test_fraction)));
        }
        self.sys().validate()?;
        self.render.validate()?;
        let bytes = self.trials as u64 * self.steps as u64 * self.pixels() as u64 * 4;
        if bytes > MAX_FRAME_BYTES {
            return Err(Error::setting(
                "--trials/--steps/--side",
                format!(
                    "the frames would need {:.1} GiB of memory (limit {} GiB); use fewer trials, steps or a smaller side",
                    bytes as f64 / (1u64 << 30) as f64,
                    MAX_FRAME_BYTES >> 30
                ),
            ));
        }
        Ok(())
    }

    pub fn test_trials(&self) -> usize {
        self.test_trials.unwrap_or((self.trials as f64 * self.test_fraction) as usize)
    }

    pub fn samples_per_trial(&self) -> usize {
        self.steps - FIRST_SAMPLE_FRAME - FRAMES_PER_SAMPLE + 1
    }
}

/// A pixel dataset in memory: what `generate` makes and `open` reads back.
#[derive(Clone, Debug, PartialEq)]
pub struct PixelDataset {
    pub config: DatasetConfig,
    /// `[trials, steps, side, side]`, row-major; RGB frames (a suite dataset's) channel-major,
    /// `[trials, steps, 3, side, side]`.
    pub frames: Vec<f32>,
    /// `[trials, steps, sim_dim]`: the simulator's true state of every frame.
    pub states: Vec<f64>,
    /// Each trajectory's parameters where they were drawn per trajectory (a suite dataset's,
    /// in its preset's order): the energies are the Hamiltonian under them.
    pub trial_params: Option<Vec<Vec<f64>>>,
    /// Where it was read from, if it was.
    pub path: Option<PathBuf>,
}

/// Which trials to take samples from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Split {
    Train,
    Test,
    All,
}

impl PixelDataset {
    /// Reads and validates a dataset written by `write` or by `generate --preset` (a suite
    /// dataset, its RGB bytes over 255; see `datasets/README.md`).
    pub fn open(path: &Path) -> Result<Self> {
        if suite::format_of(path).as_deref() == Some(suite::SUITE_FORMAT) {
            return h5::read_suite(path);
        }
        h5::read(path)
    }

    /// Writes the dataset to `out` atomically; an existing file only with `force`.
    pub fn write(&self, out: &Path, force: bool) -> Result<()> {
        h5::write(self, PendingFile::new(out, force, "--out")?)
    }

    /// Writes the dataset into a target reserved (and checked) before generation began.
    pub fn write_to(&self, pending: PendingFile) -> Result<()> {
        h5::write(self, pending)
    }

    pub fn pixels(&self) -> usize {
        self.config.pixels()
    }

    /// The energy of a frame (the evaluation's): the system's of its label, or under the
    /// trajectory's own parameters where it drew them.
    pub fn energy(&self, trial: usize, step: usize) -> f64 {
        let label = self.label(trial, step);
        match (&self.trial_params, &self.config.system) {
            (Some(p), SystemConfig::Suite(s)) => s.hamiltonian(&p[trial], &label),
            _ => self.config.sys().energy(&label),
        }
    }

    pub fn frame(&self, trial: usize, step: usize) -> &[f32] {
        let px = self.pixels();
        let i = trial * self.config.steps + step;
        &self.frames[i * px..(i + 1) * px]
    }

    /// The simulator's state of a frame.
    pub fn state(&self, trial: usize, step: usize) -> &[f64] {
        let d = self.config.sys().sim_dim();
        let i = trial * self.config.steps + step;
        &self.states[i * d..(i + 1) * d]
    }

    /// The `(q, p)` label of a frame.
    pub fn label(&self, trial: usize, step: usize) -> Vec<f64> {
        let mut out = vec![0.0; 2 * self.config.sys().dof()];
        self.config.sys().label(self.state(trial, step), &mut out);
        out
    }

    pub fn is_test(&self, trial: usize) -> bool {
        trial < self.config.test_trials()
    }

    pub fn trials_of(&self, split: Split) -> std::ops::Range<usize> {
        let t = self.config.test_trials();
        match split {
            Split::Train => t..self.config.trials,
            Split::Test => 0..t,
            Split::All => 0..self.config.trials,
        }
    }
}
