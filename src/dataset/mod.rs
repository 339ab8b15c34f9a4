//! Stage 1, the pixel dataset: simulate trials of a system ([`crate::systems`]), render every
//! frame, store the frames once per trial in HDF5 with the true state of every frame, and load
//! them back as the (pair, next pair) samples the models train on.
//!
//! Samples follow the reference (SPEC.md section 3): in a trial of `steps` frames
//! `f_0 .. f_{steps-1}`, sample `k` (k = 0 .. steps - 4) is the pair `x = [f_{k+1} | f_{k+2}]`
//! and the next pair `x_next = [f_{k+2} | f_{k+3}]`; 103 frames give 100 samples. The label
//! of a sample is the true state of the first frame of `x`, `f_{k+1}` (the reference read
//! its label one environment step after `f_{k+2}`, i.e. the state of `f_{k+3}`).
//! The schema is documented in `datasets/README.md`.

mod generate;
mod h5;
pub mod preview;
pub use pixel_hnn_data::suite_data as suite;

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use tch::Tensor;

use crate::error::{Error, Result};
use crate::systems::pendulum::{InitialStateRule, Pendulum, PendulumParams, PendulumScene};
use crate::systems::render::{RenderConfig, Window};
use crate::systems::{System, SystemConfig, SystemKind};
use crate::util::choice::Choice;
use crate::util::output::PendingFile;

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
pub use pixel_hnn_data::h5::MAX_FRAME_BYTES;

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

/// Samples as tensors (f32, CPU).
///
/// # Shapes
/// `x`, `x_next`: `[n, 2 * side * side]` (two frames, each flattened row-major);
/// `labels`: `[n, 2 dof]`, the `(q, p)` of the first frame of `x`;
/// `energy`: `[n]`, the energy evaluation scores of that state.
#[derive(Debug)]
pub struct Pairs {
    pub x: Tensor,
    pub x_next: Tensor,
    pub labels: Tensor,
    pub energy: Tensor,
}

impl Pairs {
    /// The same samples with `x` and `x_next` on `device` (labels stay on the CPU).
    pub fn to_device(self, device: tch::Device) -> Pairs {
        Pairs { x: self.x.to_device(device), x_next: self.x_next.to_device(device), ..self }
    }

    /// Another handle to the same samples (no copy).
    pub fn shallow(&self) -> Pairs {
        Pairs {
            x: self.x.shallow_clone(),
            x_next: self.x_next.shallow_clone(),
            labels: self.labels.shallow_clone(),
            energy: self.energy.shallow_clone(),
        }
    }

    pub fn len(&self) -> usize {
        self.x.size()[0] as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Windows of consecutive frame pairs, for training over rollouts: every trial's pairs
/// `[f_{j+1} | f_{j+2}]`, and the windows of `span + 1` consecutive ones. With span 1 the
/// windows are the pairs of [`Pairs`], in the same order. (A rollout of `--horizon` K frames
/// reads windows of span [`crate::model::Architecture::window_pairs`]`(K)`.)
#[derive(Debug)]
pub struct Windows {
    /// `[trials * pairs_per_trial, 2 * side * side]`, trial-major.
    pub pairs: Tensor,
    pub trials: usize,
    pub pairs_per_trial: usize,
    /// Pairs a window holds, less one.
    pub span: usize,
}

impl Windows {
    /// The largest span trajectories of `steps` frames allow.
    pub fn max_span(steps: usize) -> usize {
        Self::pairs_per_trial(steps).saturating_sub(1)
    }

    fn pairs_per_trial(steps: usize) -> usize {
        steps.saturating_sub(FIRST_SAMPLE_FRAME + 1)
    }

    /// Windows per trial.
    pub fn per_trial(&self) -> usize {
        self.pairs_per_trial - self.span
    }

    pub fn len(&self) -> usize {
        self.trials * self.per_trial()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The windows numbered `idx` (trial-major, then by first pair).
    ///
    /// # Shapes
    /// returns `[idx.len(), span + 1, 2 * side * side]`
    pub fn gather(&self, idx: &[i64]) -> Tensor {
        let (per, k) = (self.per_trial() as i64, self.span as i64);
        let p = self.pairs_per_trial as i64;
        let rows: Vec<i64> = idx.iter().flat_map(|&w| (0..=k).map(move |j| (w / per) * p + w % per + j)).collect();
        let rows = Tensor::from_slice(&rows).to_device(self.pairs.device());
        self.pairs.index_select(0, &rows).view([idx.len() as i64, k + 1, -1])
    }

    /// Another handle to the same windows (no copy).
    pub fn shallow(&self) -> Windows {
        Windows { pairs: self.pairs.shallow_clone(), ..*self }
    }

    pub fn to_device(self, device: tch::Device) -> Windows {
        Windows { pairs: self.pairs.to_device(device), ..self }
    }
}

impl PixelDataset {
    /// The windows of `span + 1` pairs of the trials of `split`.
    pub fn windows(&self, split: Split, span: usize) -> Windows {
        let trials = self.trials_of(split);
        let per = Windows::pairs_per_trial(self.config.steps);
        let px = self.pixels();
        let mut pairs = Vec::with_capacity(trials.len() * per * 2 * px);
        for trial in trials.clone() {
            for j in 0..per {
                let f = FIRST_SAMPLE_FRAME + j;
                pairs.extend_from_slice(self.frame(trial, f));
                pairs.extend_from_slice(self.frame(trial, f + 1));
            }
        }
        let n = (trials.len() * per) as i64;
        Windows { pairs: Tensor::from_slice(&pairs).view([n, 2 * px as i64]), trials: trials.len(), pairs_per_trial: per, span }
    }

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

    /// What an encoder reading `context` frames reads at every sample of `split`: `x` the
    /// `context` frames from the sample's first, `x_next` those from the next, the labels
    /// and energies of the first. Two frames are the pairs ([`PixelDataset::pairs`]); more
    /// leave out the samples whose frames would run past their trajectory.
    pub fn observations(&self, split: Split, context: usize) -> Pairs {
        if context == 2 {
            return self.pairs(split);
        }
        let trials = self.trials_of(split);
        let per = self.config.steps.saturating_sub(FIRST_SAMPLE_FRAME + context);
        let px = self.pixels();
        let l = 2 * self.config.sys().dof();
        let (mut x, mut x_next, mut labels, mut energy) = (vec![], vec![], vec![], vec![]);
        for trial in trials.clone() {
            for k in 0..per {
                let f = FIRST_SAMPLE_FRAME + k;
                (f..f + context).for_each(|j| x.extend_from_slice(self.frame(trial, j)));
                (f + 1..f + 1 + context).for_each(|j| x_next.extend_from_slice(self.frame(trial, j)));
                labels.extend(self.label(trial, f).iter().map(|v| *v as f32));
                energy.push(self.energy(trial, f) as f32);
            }
        }
        let (n, w) = ((trials.len() * per) as i64, (context * px) as i64);
        Pairs {
            x: Tensor::from_slice(&x).view([n, w]),
            x_next: Tensor::from_slice(&x_next).view([n, w]),
            labels: Tensor::from_slice(&labels).view([n, l as i64]),
            energy: Tensor::from_slice(&energy),
        }
    }

    /// The samples of `split`, materialised as tensors.
    pub fn pairs(&self, split: Split) -> Pairs {
        let trials = self.trials_of(split);
        let per = self.config.samples_per_trial();
        let n = trials.len() * per;
        let px = self.pixels();
        let (mut x, mut x_next) = (Vec::with_capacity(n * 2 * px), Vec::with_capacity(n * 2 * px));
        let l = 2 * self.config.sys().dof();
        let (mut labels, mut energy) = (Vec::with_capacity(n * l), Vec::with_capacity(n));
        for trial in trials {
            for k in 0..per {
                let f = FIRST_SAMPLE_FRAME + k;
                x.extend_from_slice(self.frame(trial, f));
                x.extend_from_slice(self.frame(trial, f + 1));
                x_next.extend_from_slice(self.frame(trial, f + 1));
                x_next.extend_from_slice(self.frame(trial, f + 2));
                labels.extend(self.label(trial, f).iter().map(|v| *v as f32));
                energy.push(self.energy(trial, f) as f32);
            }
        }
        let n = n as i64;
        Pairs {
            x: Tensor::from_slice(&x).view([n, 2 * px as i64]),
            x_next: Tensor::from_slice(&x_next).view([n, 2 * px as i64]),
            labels: Tensor::from_slice(&labels).view([n, l as i64]),
            energy: Tensor::from_slice(&energy),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_of_one_frame_are_the_pairs_and_longer_ones_follow_the_trial() {
        let mut cfg = DatasetConfig::for_system(SystemKind::Pendulum);
        (cfg.trials, cfg.steps, cfg.render.side) = (3, 9, 4);
        let px = 16;
        // Frame (trial, step) holds the value 100 trial + step in every pixel.
        let frames: Vec<f32> = (0..3).flat_map(|t| (0..9).flat_map(move |s| vec![(100 * t + s) as f32; px])).collect();
        let data = PixelDataset { config: cfg, frames, states: vec![0.0; 3 * 9 * 2], trial_params: None, path: None };
        let pairs = data.pairs(Split::Train);
        let one = data.windows(Split::Train, 1);
        assert_eq!(one.len(), pairs.len());
        let all: Vec<i64> = (0..one.len() as i64).collect();
        let w = one.gather(&all);
        assert!(w.select(1, 0).equal(&pairs.x) && w.select(1, 1).equal(&pairs.x_next), "horizon 1 is the pairs, in order");
        assert_eq!(Windows::max_span(9), 6);
        let long = data.windows(Split::All, 6);
        assert_eq!((long.per_trial(), long.len()), (1, 3));
        let w = long.gather(&[2]);
        // Trial 2's only window: pairs [f_{j+1} | f_{j+2}] for j = 0..=6.
        for j in 0..=6i64 {
            assert_eq!(w.double_value(&[0, j, 0]), (200 + j + 1) as f64);
            assert_eq!(w.double_value(&[0, j, px as i64]), (200 + j + 2) as f64);
        }
    }

    #[test]
    fn the_frame_window_follows_the_parameters() {
        let mut d = DatasetConfig::for_system(SystemKind::DoublePendulum);
        let before = d.render.window;
        d.set_param("l1", 2.0).unwrap();
        assert_eq!(d.render.window, d.sys().default_window());
        assert!(d.render.window.x1 > before.x1 && d.render.window.y0 < before.y0, "a longer rod, a wider window");
        // An unknown name changes nothing and names the system's parameters.
        let e = d.set_param("colour", 1.0).unwrap_err().to_string();
        assert!(e.starts_with("--param: the double-pendulum has no parameter 'colour'"), "{e}");
    }
}
