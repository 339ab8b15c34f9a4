//! Stage 2b, training: the one loop that fits every model of the project, the pixel
//! autoencoder with its latent field (SPEC.md section 5) and the coordinate tasks' fields
//! (section 8). It draws seeded batches, steps Adam, logs, checkpoints and stops on a
//! non-finite loss; where the log and the checkpoints go is its caller's [`Recorder`]
//! (a run folder: [`crate::run::RunRecorder`]; the coordinate tasks: [`MemoryLog`]).

pub mod autograd_members;
pub mod members;
pub mod stack;

use serde::{Deserialize, Serialize};
use std::time::Instant;
use tch::{Device, Tensor};

use crate::dataset::{DatasetConfig, Pairs};
use crate::error::{Error, Result};
use crate::integrate::Integrator;
use crate::model::{Activation, Architecture, DecoderKind, EncoderKind, FieldKind, FieldSettings, LossTerms, LossWeights, Model, Net};
use crate::systems::SystemKind;
use crate::util::adam::{Adam, AdamConfig};
use crate::util::choice::Choice;
use crate::util::rng::Rng;

/// Settings of the pixel task's training; `Default` is the reference's (SPEC.md section 5).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    pub models: Vec<FieldKind>,
    /// One seed per member: each seeds a member's weights (libtorch) and batch draws
    /// (ChaCha8). One seed: a single model; more: a seed ensemble trained at once.
    pub seeds: Vec<u64>,
    pub steps: usize,
    pub batch: usize,
    pub adam: AdamConfig,
    pub loss: LossWeights,
    pub log_every: usize,
    pub eval_every: usize,
    pub checkpoint_every: usize,
    /// Frames of latent rollout each training window is fitted over (`--horizon`); the
    /// paper's is 1.
    #[serde(default = "one")]
    pub horizon: usize,
    /// The step trained and rolled out with (`--integrator`); `None`: each family's own
    /// ([`crate::model::Dynamics::default_integrator`]).
    #[serde(default)]
    pub integrator: Option<Integrator>,
    /// The learning rate over the run.
    #[serde(default)]
    pub schedule: Schedule,
    /// The fraction of the steps over which the rollout grows from 1 frame to `horizon`.
    #[serde(default)]
    pub grow: f64,
    /// The encoder and decoder (`--encoder`, `--decoder`, `--context`, `--latent`,
    /// `--channels`); the paper's by default.
    #[serde(default)]
    pub arch: Architecture,
    /// Every family's latent field: its net, time scale, substeps, a separable H
    /// (`--layers`, `--width`, `--activation`, `--time-scale`, `--substeps`, `--separable`);
    /// each family's own by default. Not written when it is the default.
    #[serde(default, skip_serializing_if = "FieldSettings::is_default")]
    pub field: FieldSettings,
}

fn one() -> usize {
    1
}

/// The learning rate over a run (`--lr-schedule`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Schedule {
    /// The paper's: `--lr` throughout.
    #[default]
    Constant,
    /// Half a cosine from `--lr` at the first step to [`COSINE_FLOOR`] of it at the last, so
    /// that the final weights are not those of a step at the top of a spike.
    Cosine,
}

/// Where the cosine schedule ends, as a fraction of `--lr`.
pub const COSINE_FLOOR: f64 = 0.01;

impl Choice for Schedule {
    const ALL: &'static [Self] = &[Schedule::Constant, Schedule::Cosine];

    fn name(self) -> &'static str {
        match self {
            Schedule::Constant => "constant",
            Schedule::Cosine => "cosine",
        }
    }

    fn help(self) -> &'static str {
        match self {
            Schedule::Constant => "--lr throughout (the paper's)",
            Schedule::Cosine => "half a cosine from --lr down to 1% of it at the last step",
        }
    }
}

impl Schedule {
    /// The learning rate of step `step` of `steps`, from `lr`.
    pub fn lr(self, lr: f64, step: usize, steps: usize) -> f64 {
        match self {
            Schedule::Constant => lr,
            Schedule::Cosine => {
                let t = step as f64 / (steps.max(2) - 1) as f64;
                lr * (COSINE_FLOOR + (1.0 - COSINE_FLOOR) * 0.5 * (1.0 + (std::f64::consts::PI * t.min(1.0)).cos()))
            }
        }
    }
}

/// The rollout settings `--horizon` K > 1 brings where they are not given: the rollout's
/// pixels in the loss, the cosine schedule, and a warm-up over the first [`ROLLOUT_GROW`] of
/// the steps: the paper's one-frame loss for its first half, then the rollout growing from 1
/// frame to K (a rollout loss on an autoencoder that cannot yet reconstruct pulls it to the
/// mean frame: measured in docs/training.md).
pub const ROLLOUT_GROW: f64 = 0.3;

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            models: vec![FieldKind::Hnn, FieldKind::Baseline],
            seeds: vec![0],
            steps: 10_001,
            batch: 200,
            adam: AdamConfig::default(),
            loss: LossWeights::default(),
            log_every: 10,
            eval_every: 200,
            checkpoint_every: 1000,
            horizon: 1,
            integrator: None,
            schedule: Schedule::Constant,
            grow: 0.0,
            arch: Architecture::default(),
            field: FieldSettings::default(),
        }
    }
}

/// Named recipes a run starts from (`--preset`), before the flags given beside it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Preset {
    /// The paper's run (SPEC.md section 5): each family's own net, one Euler frame.
    Paper,
    /// The controlled comparison's recipe ([`TrainConfig::study`]): every family the same
    /// net, horizon, schedule, batch and steps.
    Study,
}

impl Choice for Preset {
    const ALL: &'static [Self] = &[Preset::Paper, Preset::Study];

    fn name(self) -> &'static str {
        match self {
            Preset::Paper => "paper",
            Preset::Study => "study",
        }
    }

    fn help(self) -> &'static str {
        match self {
            Preset::Paper => "the paper's run (the defaults); a flag changing its nets, loss or step is refused beside it",
            Preset::Study => "every family the same net and budget, the best found (docs/results.md); flags given beside it win",
        }
    }
}

/// The study's net, shared by every family: the depth and width of the benchmark's free
/// families here, and tanh, the one activation whose learned H trained in docs/results.md's
/// probes (an HNN of swish or softplus 3 x 200 collapsed to the mean frame at this budget).
pub const STUDY_NET: Net = Net { layers: 3, width: 200, activation: Activation::Tanh };
/// The study's rollout, batch and steps.
pub const STUDY_HORIZON: usize = 8;
pub const STUDY_BATCH: usize = 64;
pub const STUDY_STEPS: usize = 2000;

impl TrainConfig {
    /// The paper's settings for the pendulum; for the other systems the same but no weight
    /// decay. Adam with L2 weight decay (the reference's 1e-5) drives a latent field whose
    /// gradient is weaker than `1e-5 * w` to zero at the full learning rate: on the spring the
    /// HNN's field collapsed to weights of 1e-22 within 1,500 steps (its `hnn` term stayed at
    /// 5.1e-4), and learned with no decay (2.2e-5). The pendulum keeps the paper's value.
    pub fn for_system(kind: SystemKind) -> Self {
        let mut c = TrainConfig::default();
        if kind != SystemKind::Pendulum {
            c.adam.weight_decay = 0.0;
        }
        c
    }

    pub fn validate(&self) -> Result<()> {
        if self.models.is_empty() {
            return Err(Error::setting("--model", "names no model"));
        }
        Seeds::check(&self.seeds)?;
        for (flag, v) in [
            ("--steps", self.steps),
            ("--batch", self.batch),
            ("--log-every", self.log_every),
            ("--eval-every", self.eval_every),
            ("--checkpoint-every", self.checkpoint_every),
        ] {
            if v == 0 {
                return Err(Error::setting(flag, "must be at least 1"));
            }
        }
        if self.horizon == 0 {
            return Err(Error::setting("--horizon", "must be at least 1 frame"));
        }
        for (flag, w) in [("--latent-weight", self.loss.hnn), ("--cc-weight", self.loss.cc), ("--roll-weight", self.loss.roll)] {
            if !(w.is_finite() && w >= 0.0) {
                return Err(Error::setting(flag, format!("is a loss term's weight, a number >= 0 (got {w})")));
            }
        }
        if !(0.0..=1.0).contains(&self.grow) {
            return Err(Error::setting("--grow", format!("is a fraction of the steps, between 0 and 1 (got {})", self.grow)));
        }
        for &kind in &self.models {
            let integrator = self.integrator_for(kind);
            if !kind.dynamics().integrators().contains(&integrator) {
                let can: Vec<&str> = kind.dynamics().integrators().iter().map(|i| i.name()).collect();
                return Err(Error::setting(
                    "--integrator",
                    format!(
                        "the {} family cannot be stepped with {}: it takes {}{}",
                        kind.name(),
                        integrator.name(),
                        can.join(", "),
                        if kind.dynamics().is_map() { " (it is a discrete map, its own one-frame step)" } else { "" }
                    ),
                ));
            }
        }
        self.adam.validate()
    }

    /// The study's recipe ([`Preset::Study`]) over `self` (the system's paper settings):
    /// every family gets [`STUDY_NET`], rollouts of [`STUDY_HORIZON`] frames, the
    /// benchmark's loss (the first frame's reconstruction and the decoded rollout's pixels:
    /// no `cc` and no latent term, which pull the latents together until the autoencoder
    /// draws the mean frame: measured in docs/results.md), the cosine schedule with the warm-up,
    /// [`STUDY_BATCH`] windows a step for [`STUDY_STEPS`] steps, and no weight decay (it
    /// drives weak latent fields to zero: see [`TrainConfig::for_system`]).
    pub fn study(self) -> Self {
        let mut c = self;
        c.field.net = Some(STUDY_NET);
        c.horizon = STUDY_HORIZON;
        c.batch = STUDY_BATCH;
        c.steps = STUDY_STEPS;
        c.schedule = Schedule::Cosine;
        c.grow = ROLLOUT_GROW;
        c.loss = LossWeights { cc: 0.0, hnn: 0.0, roll: crate::model::ROLLOUT_PIXEL_WEIGHT, ..c.loss };
        c.adam.weight_decay = 0.0;
        c
    }

    /// The step `kind` trains and is rolled out with.
    pub fn integrator_for(&self, kind: FieldKind) -> Integrator {
        self.integrator.unwrap_or_else(|| kind.dynamics().default_integrator(self.horizon))
    }

    /// Whether `kind` is stepped in training as the paper stepped its models: one Euler
    /// frame, no rollout pixels, a constant rate.
    pub fn steps_as_paper(&self, kind: FieldKind) -> bool {
        self.horizon == 1 && self.integrator_for(kind) == Integrator::Euler && self.schedule == Schedule::Constant && self.loss.roll == 0.0
    }

    /// The rollout at `step`: its length, and whether its pixels count. Over the first
    /// `grow` of the steps: for the first half the paper's loss alone (one frame, no rollout
    /// pixels: the autoencoder learns to reconstruct first), then the rollout growing from 1
    /// frame to `horizon` with its pixels.
    pub fn rollout_at(&self, step: usize) -> (usize, bool) {
        let span = self.grow * self.steps as f64;
        if span < 2.0 || self.horizon == 1 {
            return (self.horizon, true);
        }
        let (warm, s) = (span / 2.0, step as f64);
        if s < warm {
            return (1, false);
        }
        ((1 + ((self.horizon - 1) as f64 * (s - warm) / warm) as usize).min(self.horizon), true)
    }

    /// Whether the run is a seed ensemble (more than one member).
    pub fn is_ensemble(&self) -> bool {
        self.seeds.len() > 1
    }

    /// Checks the architecture, the horizon and the batch against a dataset made with `data`.
    pub fn check_batch(&self, data: &DatasetConfig) -> Result<()> {
        // The field's settings first: a separable H on an odd latent names --separable.
        let latent = self.arch.latent.unwrap_or(2 * data.sys().dof()) as i64;
        self.field.check(latent).map_err(|(flag, msg)| Error::setting(flag, msg))?;
        self.arch.check(data.render.side, data.sys().dof()).map_err(|(flag, msg)| Error::setting(flag, msg))?;
        let most = crate::dataset::Windows::max_span(data.steps);
        let pairs = self.window_pairs();
        if !self.arch.is_papers() && pairs > most {
            return Err(Error::setting(
                "--context",
                format!(
                    "a context of {} frames and a rollout of {} need windows of {} frames, longer than the dataset's trajectories of {} frames allow (at most {}); make longer ones with generate --steps",
                    self.arch.context,
                    self.horizon,
                    self.arch.window_frames(self.horizon),
                    data.steps,
                    most + 2
                ),
            ));
        }
        if self.horizon > most {
            return Err(Error::setting(
                "--horizon",
                format!(
                    "{} frames is longer than the dataset's trajectories of {} frames allow (at most {most}); make longer ones with generate --steps",
                    self.horizon, data.steps
                ),
            ));
        }
        let per = if self.horizon == 1 && self.arch.is_papers() { data.samples_per_trial() } else { most + 1 - pairs };
        let n_train = (data.trials - data.test_trials()) * per;
        if self.batch > n_train {
            let what = if !self.arch.is_papers() {
                format!(
                    "training windows of {} frames ({} of context, {} predicted)",
                    self.arch.window_frames(self.horizon),
                    self.arch.context,
                    self.horizon
                )
            } else if self.horizon == 1 {
                "training samples".to_string()
            } else {
                format!("training windows of {} frames", self.horizon)
            };
            return Err(Error::setting("--batch", format!("{} exceeds the {n_train} {what}", self.batch)));
        }
        Ok(())
    }

    /// The horizon of the windows of pairs training reads (`Windows`): a window of
    /// `window_pairs + 1` pairs holds the frames a rollout of `horizon` frames needs.
    pub fn window_pairs(&self) -> usize {
        self.arch.window_pairs(self.horizon)
    }
}

/// Settings given on the command line (or a sweep's `[train]` section and axes), laid over a
/// [`TrainConfig`] (the paper's, or the one a resumed run was made with); `None` keeps the
/// base's.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainOverrides {
    pub models: Option<Vec<FieldKind>>,
    pub seeds: Option<Vec<u64>>,
    pub steps: Option<usize>,
    pub batch: Option<usize>,
    pub lr: Option<f64>,
    pub weight_decay: Option<f64>,
    pub log_every: Option<usize>,
    pub eval_every: Option<usize>,
    pub checkpoint_every: Option<usize>,
    pub horizon: Option<usize>,
    pub integrator: Option<Integrator>,
    #[serde(alias = "lr_schedule")]
    pub schedule: Option<Schedule>,
    pub grow: Option<f64>,
    /// The weight of the rollout's pixel term.
    pub roll: Option<f64>,
    pub encoder: Option<EncoderKind>,
    pub decoder: Option<DecoderKind>,
    pub context: Option<usize>,
    pub latent: Option<usize>,
    pub channels: Option<usize>,
    /// The recipe the rest is laid over: the paper's (the base as given) or the study's.
    pub preset: Option<Preset>,
    /// The weight of the latent term (the paper's 0.1 `hnn`).
    pub latent_weight: Option<f64>,
    /// The weight of the paper's `cc` term (1).
    pub cc_weight: Option<f64>,
    /// Every family's net: hidden layers, width, activation (unset ones from the base's net,
    /// else the paper's tanh 2 x 200).
    pub layers: Option<usize>,
    pub width: Option<i64>,
    pub activation: Option<Activation>,
    pub separable: Option<bool>,
    pub time_scale: Option<f64>,
    pub learn_time_scale: Option<bool>,
    pub substeps: Option<usize>,
}

impl TrainOverrides {
    /// The overrides laid over `base`. A horizon above 1 over a base of one frame brings the
    /// rollout settings ([`ROLLOUT_GROW`]) for what is not given.
    pub fn apply(&self, base: TrainConfig) -> TrainConfig {
        let base = if self.preset == Some(Preset::Study) { base.study() } else { base };
        let rollouts_begin = base.horizon == 1 && self.horizon.is_some_and(|k| k > 1);
        let mut c = base;
        if let Some(m) = &self.models {
            c.models = m.clone();
        }
        if let Some(s) = &self.seeds {
            c.seeds = s.clone();
        }
        c.steps = self.steps.unwrap_or(c.steps);
        c.batch = self.batch.unwrap_or(c.batch);
        c.adam.lr = self.lr.unwrap_or(c.adam.lr);
        c.adam.weight_decay = self.weight_decay.unwrap_or(c.adam.weight_decay);
        c.log_every = self.log_every.unwrap_or(c.log_every);
        c.eval_every = self.eval_every.unwrap_or(c.eval_every);
        c.checkpoint_every = self.checkpoint_every.unwrap_or(c.checkpoint_every);
        c.horizon = self.horizon.unwrap_or(c.horizon);
        if self.integrator.is_some() {
            c.integrator = self.integrator;
        }
        if rollouts_begin {
            c.schedule = Schedule::Cosine;
            c.grow = ROLLOUT_GROW;
            c.loss.roll = crate::model::ROLLOUT_PIXEL_WEIGHT;
        }
        c.schedule = self.schedule.unwrap_or(c.schedule);
        c.grow = self.grow.unwrap_or(c.grow);
        self.apply_arch(&mut c);
        c.loss.roll = self.roll.unwrap_or(c.loss.roll);
        c.loss.hnn = self.latent_weight.unwrap_or(c.loss.hnn);
        c.loss.cc = self.cc_weight.unwrap_or(c.loss.cc);
        self.apply_field(&mut c.field);
        c
    }

    /// The field's settings over `f`.
    fn apply_field(&self, f: &mut FieldSettings) {
        if self.layers.is_some() || self.width.is_some() || self.activation.is_some() {
            let base = f.net.unwrap_or(Net::paper(200));
            f.net = Some(Net {
                layers: self.layers.unwrap_or(base.layers),
                width: self.width.unwrap_or(base.width),
                activation: self.activation.unwrap_or(base.activation),
            });
        }
        f.separable = self.separable.unwrap_or(f.separable);
        f.time_scale = self.time_scale.unwrap_or(f.time_scale);
        f.learn_time_scale = self.learn_time_scale.unwrap_or(f.learn_time_scale);
        f.substeps = self.substeps.unwrap_or(f.substeps);
    }

    /// Refuses settings that contradict `--preset paper` (the paper's nets, loss and one-frame
    /// step), naming the first flag that does; the budget (seeds, steps, batch, learning rate,
    /// weight decay) and the bookkeeping may be set beside it.
    pub fn check_preset(&self) -> Result<()> {
        if self.preset != Some(Preset::Paper) {
            return Ok(());
        }
        let given = [
            ("--horizon", self.horizon.is_some()),
            ("--integrator", self.integrator.is_some()),
            ("--lr-schedule", self.schedule.is_some()),
            ("--grow", self.grow.is_some()),
            ("--roll-weight", self.roll.is_some()),
            ("--latent-weight", self.latent_weight.is_some()),
            ("--cc-weight", self.cc_weight.is_some()),
            ("--encoder", self.encoder.is_some()),
            ("--decoder", self.decoder.is_some()),
            ("--context", self.context.is_some()),
            ("--latent", self.latent.is_some()),
            ("--channels", self.channels.is_some()),
            ("--layers", self.layers.is_some()),
            ("--width", self.width.is_some()),
            ("--activation", self.activation.is_some()),
            ("--separable", self.separable == Some(true)),
            ("--time-scale", self.time_scale.is_some()),
            ("--learn-time-scale", self.learn_time_scale == Some(true)),
            ("--substeps", self.substeps.is_some()),
        ];
        match given.iter().find(|(_, set)| *set) {
            Some((flag, _)) => Err(Error::setting(
                flag,
                "contradicts --preset paper (the paper's nets, loss and step fix it); drop --preset paper to change it, or start from --preset study",
            )),
            None => Ok(()),
        }
    }

    /// The encoder and decoder: those named, else the one every family of a new list asks
    /// for ([`crate::model::Dynamics::architecture`]: HGN's convolutions), else the base's.
    /// The convolutional encoder brings the convolutional decoder and a context of
    /// [`crate::model::autoencoder::CONV_CONTEXT`] frames unless they are named, and the
    /// benchmark's loss: the decoded rollout's pixels (`ae + roll`), its encoder reading the
    /// first frames only.
    fn apply_arch(&self, c: &mut TrainConfig) {
        let before = c.arch;
        let named = self.encoder.is_some() || self.decoder.is_some() || self.context.is_some();
        if let (false, Some(models), true) = (named, &self.models, before == Architecture::default()) {
            let asked: Vec<Option<Architecture>> = models.iter().map(|k| k.dynamics().architecture()).collect();
            if let Some(Some(a)) = asked.first().filter(|a| asked.iter().all(|b| b == *a)) {
                c.arch = *a;
            }
        }
        if let Some(e) = self.encoder {
            c.arch.encoder = e;
            if e != before.encoder {
                // The benchmark's pair (conv each way, 5 frames) or the paper's, unless named.
                c.arch.context = if e == EncoderKind::Conv { crate::model::autoencoder::CONV_CONTEXT } else { 2 };
                c.arch.decoder = if e == EncoderKind::Conv { DecoderKind::Conv } else { DecoderKind::Mlp };
            }
        }
        c.arch.decoder = self.decoder.unwrap_or(c.arch.decoder);
        c.arch.context = self.context.unwrap_or(c.arch.context);
        c.arch.latent = self.latent.or(c.arch.latent);
        c.arch.channels = self.channels.unwrap_or(c.arch.channels);
        if c.arch.encoder == EncoderKind::Conv && before.encoder != EncoderKind::Conv {
            c.loss = LossWeights { cc: 0.0, hnn: 0.0, roll: crate::model::ROLLOUT_PIXEL_WEIGHT, ..c.loss };
        }
    }
}

/// Model lists as `--model` and a sweep's `model` axis name them: families by name, comma
/// separated (`hnn,ode`), `both` (the HNN and the baseline trained from the same seed:
/// identical initial weights and batches) or `all` (every family).
pub struct Models;

impl Models {
    /// The name of the HNN-and-baseline pair.
    pub const BOTH: &'static str = "both";
    /// The name of every family.
    pub const ALL: &'static str = "all";

    /// Every name accepted, with its line for `--help`.
    pub fn names() -> Vec<(&'static str, &'static str)> {
        let mut names: Vec<_> = FieldKind::ALL.iter().map(|k| (k.name(), k.help())).collect();
        names.push((Self::BOTH, "hnn and baseline, from the same seed (identical initial weights and batches)"));
        names.push((Self::ALL, "every family"));
        names
    }

    /// The models a list stands for, in the order named (each once); an unknown name is
    /// named in the error with the known ones.
    pub fn parse(text: &str) -> Result<Vec<FieldKind>> {
        let mut out: Vec<FieldKind> = vec![];
        for name in text.split(',').map(str::trim) {
            let kinds = match name {
                Self::BOTH => vec![FieldKind::Hnn, FieldKind::Baseline],
                Self::ALL => FieldKind::ALL.to_vec(),
                one => vec![FieldKind::from_name(one).ok_or_else(|| {
                    Error::setting("--model", format!("'{one}' is not a model family; the families are {}", Self::describe()))
                })?],
            };
            for k in kinds {
                if !out.contains(&k) {
                    out.push(k);
                }
            }
        }
        Ok(out)
    }

    /// Every name accepted, `hnn, baseline, ..., both or all`, for messages.
    pub fn describe() -> String {
        let names: Vec<&str> = Self::names().iter().map(|n| n.0).collect();
        match names.split_last() {
            Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
            _ => names.join(""),
        }
    }
}

/// The members of `stack` on `data` (on the stack's device): through the family's
/// hand-written step where it has one and trains as the paper did, else through autograd
/// over windows of the stack's horizon.
pub fn members_for(
    stack: &stack::Stack,
    data: &crate::dataset::PixelDataset,
    threads: crate::runtime::ThreadChoice,
) -> Box<dyn stack::PixelMembers> {
    if stack.trains_as_paper() {
        let (train, test) = (
            data.pairs(crate::dataset::Split::Train).to_device(stack.device),
            data.pairs(crate::dataset::Split::Test).to_device(stack.device),
        );
        Box::new(members::Members::new(stack, train, test, threads))
    } else {
        let k = stack.train.window_pairs();
        let (train, test) = (
            data.windows(crate::dataset::Split::Train, k).to_device(stack.device),
            data.windows(crate::dataset::Split::Test, k).to_device(stack.device),
        );
        members_for_windows(stack, train, test, threads)
    }
}

/// The members of `stack` trained through autograd over the windows `train` (tested on
/// `test`), whatever the family.
pub fn members_for_windows(
    stack: &stack::Stack,
    train: crate::dataset::Windows,
    test: crate::dataset::Windows,
    threads: crate::runtime::ThreadChoice,
) -> Box<dyn stack::PixelMembers> {
    Box::new(autograd_members::AutogradMembers::new(stack, train, test, threads))
}

/// The largest seed ensemble accepted.
pub const MAX_MEMBERS: usize = 1024;

/// Seed lists as `--seeds` writes them: `0-31` (a range, both ends included), `0,3,7`, or
/// both (`0-3,8`).
pub struct Seeds;

impl Seeds {
    /// Parses `--seeds`.
    pub fn parse(text: &str) -> Result<Vec<u64>> {
        let bad = |m: String| Error::setting("--seeds", m);
        let mut out = vec![];
        for item in text.split(',').map(str::trim) {
            if item.is_empty() {
                return Err(bad(format!("'{text}' has an empty item; write e.g. 0-31 or 0,3,7")));
            }
            let num = |s: &str| {
                s.trim().parse::<u64>().map_err(|_| bad(format!("'{s}' is not a seed (a whole number >= 0); write e.g. 0-31 or 0,3,7")))
            };
            match item.split_once('-') {
                Some((a, b)) => {
                    let (a, b) = (num(a)?, num(b)?);
                    if b < a {
                        return Err(bad(format!("the range {a}-{b} is reversed; write {b}-{a}")));
                    }
                    if b - a >= MAX_MEMBERS as u64 {
                        return Err(bad(format!("{a}-{b} names {} seeds; at most {MAX_MEMBERS} members train at once", b - a + 1)));
                    }
                    out.extend(a..=b);
                }
                None => out.push(num(item)?),
            }
        }
        Seeds::check(&out)?;
        Ok(out)
    }

    /// At least one seed, at most [`MAX_MEMBERS`], none twice.
    pub fn check(seeds: &[u64]) -> Result<()> {
        if seeds.is_empty() {
            return Err(Error::setting("--seeds", "names no seed"));
        }
        if seeds.len() > MAX_MEMBERS {
            return Err(Error::setting("--seeds", format!("names {} seeds; at most {MAX_MEMBERS} members train at once", seeds.len())));
        }
        let mut sorted = seeds.to_vec();
        sorted.sort_unstable();
        if let Some(w) = sorted.windows(2).find(|w| w[0] == w[1]) {
            return Err(Error::setting("--seeds", format!("names seed {} twice", w[0])));
        }
        Ok(())
    }

    /// `0-3,8` for `[0, 1, 2, 3, 8]`.
    pub fn describe(seeds: &[u64]) -> String {
        let mut parts: Vec<String> = vec![];
        let mut i = 0;
        while i < seeds.len() {
            let mut j = i;
            while j + 1 < seeds.len() && seeds[j + 1] == seeds[j] + 1 {
                j += 1;
            }
            parts.push(if j > i + 1 {
                format!("{}-{}", seeds[i], seeds[j])
            } else {
                (i..=j).map(|x| seeds[x].to_string()).collect::<Vec<_>>().join(",")
            });
            i = j + 1;
        }
        parts.join(",")
    }
}

/// What the training loop reads of a task's settings: [`TrainConfig`] (the pixel task) and
/// [`crate::coords::TaskConfig`] (a coordinate task) each answer from their own fields.
pub trait LoopSettings {
    /// Seeds of the members' batch draws, one per member.
    fn seeds(&self) -> &[u64];
    fn steps(&self) -> usize;
    /// Samples per step, drawn without replacement each step; `None`: the whole set.
    fn batch(&self) -> Option<usize>;
    /// The train loss is logged every `log_every` steps, the test loss every `eval_every`.
    fn log_every(&self) -> usize;
    fn eval_every(&self) -> usize;
    /// `None`: no checkpoints.
    fn checkpoint_every(&self) -> Option<usize>;
    /// Also log (and evaluate) the last step.
    fn log_last(&self) -> bool;
}

impl LoopSettings for TrainConfig {
    fn seeds(&self) -> &[u64] {
        &self.seeds
    }
    fn steps(&self) -> usize {
        self.steps
    }
    fn batch(&self) -> Option<usize> {
        Some(self.batch)
    }
    fn log_every(&self) -> usize {
        self.log_every
    }
    fn eval_every(&self) -> usize {
        self.eval_every
    }
    fn checkpoint_every(&self) -> Option<usize> {
        Some(self.checkpoint_every)
    }
    fn log_last(&self) -> bool {
        false
    }
}

/// A member's batch loss of one step, with its mean terms when the loss has terms.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepLoss {
    pub loss: f64,
    /// Means over the batch of `(ae, cc, hnn)`.
    pub terms: Option<[f64; 3]>,
    /// The mean of the rollout's pixel term, where the loss has it.
    pub roll: Option<f64>,
}

/// Where a member's loss stopped being finite: it was frozen there.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Divergence {
    pub step: usize,
    pub loss: f64,
}

/// What a loop trains: `members()` models at once (one for a single model), each on its own
/// batches, with their optimiser.
pub trait Objective {
    /// The model's name, for messages.
    fn name(&self) -> &'static str;
    /// Models trained together.
    fn members(&self) -> usize {
        1
    }
    /// Training samples a batch is drawn from.
    fn train_len(&self) -> usize;
    /// One training step, numbered `step`: member `k` trains on the samples `batches[k]`
    /// (all of them when `None`). A member whose loss is not finite is frozen from then on:
    /// it keeps its parameters and optimiser state.
    fn step(&mut self, step: usize, batches: &[Option<Vec<i64>>]) -> Result<()>;
    /// Every member's batch loss of the last step.
    fn last(&mut self) -> Vec<StepLoss>;
    /// The members frozen so far.
    fn diverged(&mut self) -> Vec<Option<Divergence>>;
    /// Steps between reads of [`diverged`](Self::diverged): 1 where reading is free (the
    /// CPU); more where it stalls a queue (a GPU).
    fn check_every(&self) -> usize {
        1
    }
    /// Every member's mean per-sample loss over the test set.
    fn test_losses(&mut self) -> Vec<f64>;
    /// Member `k`'s parameters (`model.NAME`) and optimiser state (`adam.*`), for a
    /// checkpoint.
    fn checkpoint_tensors(&self, k: usize) -> Vec<(String, Tensor)>;
}

/// One line of a training log (`log-{model}.jsonl`): the batch loss of `step` and its terms,
/// and the test loss on evaluation steps.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LogLine {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ae: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cc: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hnn: Option<f64>,
    pub loss: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roll: Option<f64>,
    pub step: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_loss: Option<f64>,
}

/// How far a loop got: steps done and the batch stream's position (a checkpoint's).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress {
    pub step: usize,
    pub rng_position: u128,
}

/// Where a member's log lines and checkpoints go.
pub trait Recorder {
    fn log(&mut self, line: &LogLine) -> Result<()>;
    /// Saves the member's parameters and optimiser state (named as
    /// [`Objective::checkpoint_tensors`] names them) with the progress.
    fn checkpoint(&mut self, at: Progress, tensors: &[(String, Tensor)]) -> Result<()>;
    /// What is left after a divergence (for the error message), given the last checkpoint.
    fn kept(&self, last_checkpoint: Option<usize>) -> String;
}

impl<R: Recorder + ?Sized> Recorder for &mut R {
    fn log(&mut self, line: &LogLine) -> Result<()> {
        (**self).log(line)
    }
    fn checkpoint(&mut self, at: Progress, tensors: &[(String, Tensor)]) -> Result<()> {
        (**self).checkpoint(at, tensors)
    }
    fn kept(&self, last_checkpoint: Option<usize>) -> String {
        (**self).kept(last_checkpoint)
    }
}

/// A recorder that keeps the log in memory and writes no checkpoint.
#[derive(Debug, Default)]
pub struct MemoryLog(pub Vec<LogLine>);

impl Recorder for MemoryLog {
    fn log(&mut self, line: &LogLine) -> Result<()> {
        self.0.push(line.clone());
        Ok(())
    }
    fn checkpoint(&mut self, _: Progress, _: &[(String, Tensor)]) -> Result<()> {
        Ok(())
    }
    fn kept(&self, _: Option<usize>) -> String {
        "nothing was written".into()
    }
}

/// What a finished loop reports.
#[derive(Clone, Debug)]
pub struct Fitted {
    /// Wall time per step of this process's steps (evaluations excluded), all members.
    pub ms_per_step: Option<f64>,
    /// The members frozen on a non-finite loss.
    pub diverged: Vec<Option<Divergence>>,
}

/// The training loop: steps `from .. cfg.steps` of every member of `obj` (whose state the
/// caller restored when resuming; `from` gives each member's checkpoint progress, which must
/// share one step), logging and checkpointing each member through its recorder, calling
/// `on_step` after each step. A member whose loss stops being finite is frozen and reported;
/// when every member has, the loop stops with [`Error::Diverged`] naming the first.
pub fn fit(
    obj: &mut dyn Objective,
    cfg: &dyn LoopSettings,
    from: &[Option<Progress>],
    recs: &mut [Box<dyn Recorder + '_>],
    on_step: &dyn Fn(),
) -> Result<Fitted> {
    let k = obj.members();
    assert!(cfg.seeds().len() == k && from.len() == k && recs.len() == k, "one seed, progress and recorder per member");
    // The loop's own thread runs libtorch on one thread: the parallel work is the workers'
    // (crate::runtime::ThreadChoice), and a libtorch op threaded here made two runs of one
    // seed differ by 1e-6 (and a 1-thread run differ from a 2-thread one).
    crate::runtime::flush_denormals();
    crate::runtime::set_libtorch_threads(1);
    let n = obj.train_len();
    let start = from.iter().flatten().map(|p| p.step).max().unwrap_or(0);
    let mut rngs: Vec<Rng> = cfg
        .seeds()
        .iter()
        .zip(from)
        .map(|(&seed, p)| match p {
            Some(p) => Rng::at(seed, p.rng_position),
            None => Rng::new(seed),
        })
        .collect();
    let mut last_checkpoint: Vec<Option<usize>> = from.iter().map(|p| p.map(|p| p.step).filter(|&s| s > 0)).collect();
    let mut known = vec![None; k];
    let (mut step_time, mut timed_steps) = (0.0f64, 0usize);
    for s in start..cfg.steps() {
        let t0 = Instant::now();
        let batches: Vec<Option<Vec<i64>>> = rngs
            .iter_mut()
            .map(|r| match cfg.batch() {
                Some(b) if b < n => Some(r.distinct(n, b)),
                _ => None,
            })
            .collect();
        obj.step(s, &batches)?;
        step_time += t0.elapsed().as_secs_f64();
        timed_steps += 1;
        let done = s + 1;
        let last = done == cfg.steps();
        let evaluate = s % cfg.eval_every() == 0 || (cfg.log_last() && last);
        let log = s % cfg.log_every() == 0 || evaluate;
        let checkpoint = cfg.checkpoint_every().is_some_and(|every| done % every == 0 || last);
        if s % obj.check_every() == 0 || log || checkpoint || last {
            for (i, d) in obj.diverged().into_iter().enumerate() {
                if known[i].is_none() {
                    known[i] = d;
                }
            }
            if known.iter().all(Option::is_some) {
                let (i, d) =
                    known.iter().enumerate().filter_map(|(i, d)| d.map(|d| (i, d))).min_by_key(|(_, d)| d.step).expect("all diverged");
                return Err(Error::Diverged { model: obj.name(), step: d.step, loss: d.loss, kept: recs[i].kept(last_checkpoint[i]) });
            }
        }
        if log {
            let losses = obj.last();
            let tests = evaluate.then(|| obj.test_losses());
            for (i, rec) in recs.iter_mut().enumerate().filter(|(i, _)| known[*i].is_none()) {
                let l = losses[i];
                rec.log(&LogLine {
                    ae: l.terms.map(|t| t[0]),
                    cc: l.terms.map(|t| t[1]),
                    hnn: l.terms.map(|t| t[2]),
                    loss: l.loss,
                    roll: l.roll,
                    step: s,
                    test_loss: tests.as_ref().map(|t| t[i]),
                })?;
            }
        }
        if checkpoint {
            for (i, rec) in recs.iter_mut().enumerate().filter(|(i, _)| known[*i].is_none()) {
                rec.checkpoint(Progress { step: done, rng_position: rngs[i].position() }, &obj.checkpoint_tensors(i))?;
                last_checkpoint[i] = Some(done);
            }
        }
        on_step();
    }
    Ok(Fitted { ms_per_step: (timed_steps > 0).then(|| step_time / timed_steps as f64 * 1e3), diverged: known })
}

/// A single model trained through libtorch's autograd: its loss on the chosen samples.
/// The coordinate tasks use it ([`crate::coords::CoordsObjective`]).
pub trait AutogradLoss {
    fn name(&self) -> &'static str;
    fn train_len(&self) -> usize;
    fn device(&self) -> Device;
    /// Mean loss over the training samples `idx` (all of them when `None`), differentiable,
    /// with the per-sample terms the log reports, if the loss has terms.
    fn batch_loss(&self, idx: Option<&Tensor>) -> (Tensor, Option<LossTerms>);
    /// Mean per-sample loss over the test set.
    fn test_loss(&self) -> f64;
}

/// An [`AutogradLoss`] and its Adam as a one-member [`Objective`]: loss, backward, update.
pub struct Autograd<'a, L: AutogradLoss> {
    pub loss: &'a L,
    pub adam: Adam,
    last: Option<StepLoss>,
    diverged: Option<Divergence>,
}

impl<'a, L: AutogradLoss> Autograd<'a, L> {
    pub fn new(loss: &'a L, adam: Adam) -> Self {
        Autograd { loss, adam, last: None, diverged: None }
    }
}

fn mean_of(t: &Tensor) -> f64 {
    t.mean(None::<tch::Kind>).double_value(&[])
}

/// One autograd update of a model's objective at `step`: the loss's gradient, and Adam's
/// step where the loss is finite (else the divergence, and the parameters stay); the batch
/// loss and the means of its terms as the log reports them (the rollout's pixel term with
/// `with_roll`).
pub(crate) fn autograd_update(
    adam: &mut Adam,
    loss: &Tensor,
    terms: Option<&LossTerms>,
    with_roll: bool,
    step: usize,
) -> (StepLoss, Option<Divergence>) {
    adam.zero_grad();
    loss.backward();
    let value = loss.double_value(&[]);
    let diverged = adam_step_if_finite(adam, value, step);
    let roll = terms.filter(|_| with_roll).map(|t| mean_of(&t.roll));
    (StepLoss { loss: value, terms: terms.map(|t| [mean_of(&t.ae), mean_of(&t.cc), mean_of(&t.hnn)]), roll }, diverged)
}

/// Adam's step from the gradients its parameters hold, where the loss `value` of `step` is
/// finite; else the divergence, and the parameters stay.
pub(crate) fn adam_step_if_finite(adam: &mut Adam, value: f64, step: usize) -> Option<Divergence> {
    if value.is_finite() {
        adam.step();
        None
    } else {
        Some(Divergence { step, loss: value })
    }
}

impl<L: AutogradLoss> Objective for Autograd<'_, L> {
    fn name(&self) -> &'static str {
        self.loss.name()
    }
    fn train_len(&self) -> usize {
        self.loss.train_len()
    }
    fn step(&mut self, step: usize, batches: &[Option<Vec<i64>>]) -> Result<()> {
        if self.diverged.is_some() {
            return Ok(());
        }
        let idx = batches[0].as_ref().map(|b| Tensor::from_slice(b).to_device(self.loss.device()));
        let (loss, terms) = self.loss.batch_loss(idx.as_ref());
        let (last, diverged) = autograd_update(&mut self.adam, &loss, terms.as_ref(), false, step);
        self.last = Some(last);
        self.diverged = diverged;
        Ok(())
    }
    fn last(&mut self) -> Vec<StepLoss> {
        vec![self.last.expect("a step was taken")]
    }
    fn diverged(&mut self) -> Vec<Option<Divergence>> {
        vec![self.diverged]
    }
    fn test_losses(&mut self) -> Vec<f64> {
        vec![self.loss.test_loss()]
    }
    fn checkpoint_tensors(&self, _: usize) -> Vec<(String, Tensor)> {
        let mut t: Vec<(String, Tensor)> = self.adam.parameters().into_iter().map(|(n, p)| (format!("model.{n}"), p.detach())).collect();
        t.extend(self.adam.state());
        t
    }
}

/// Per-sample total loss of every sample in `pairs`, in chunks.
///
/// # Shapes
/// returns `n` values
pub fn per_sample_losses(model: &Model, pairs: &Pairs, w: &LossWeights) -> Vec<f64> {
    let n = pairs.x.size()[0];
    let mut out = Vec::with_capacity(n as usize);
    let chunk = 1000;
    let mut i = 0;
    while i < n {
        let len = chunk.min(n - i);
        let terms = model.loss_terms(&pairs.x.narrow(0, i, len), &pairs.x_next.narrow(0, i, len), false);
        let total = terms.total(w).detach().to_device(Device::Cpu).to_kind(tch::Kind::Double);
        out.extend(Vec::<f64>::try_from(total).expect("1-D loss"));
        i += len;
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// `n` random pairs of 18 values (tests of the members).
    pub(crate) fn pairs(n: i64, seed: u64) -> Pairs {
        let r = |s: u64| crate::model::seeded(s, || Tensor::rand([n, 18], (tch::Kind::Float, Device::Cpu)) * 0.5);
        let empty = Tensor::zeros([0], (tch::Kind::Float, Device::Cpu));
        Pairs { x: r(seed), x_next: r(seed + 1), labels: empty.shallow_clone(), energy: empty }
    }

    /// The pairs of [`pairs`] as windows of one frame: trial `i` holds `x[i]` and
    /// `x_next[i]`, so window `i` is sample `i`.
    pub(crate) fn windows(n: i64, seed: u64) -> crate::dataset::Windows {
        let p = pairs(n, seed);
        let both = Tensor::stack(&[p.x, p.x_next], 1).view([2 * n, 18]);
        crate::dataset::Windows { pairs: both, trials: n as usize, pairs_per_trial: 2, span: 1 }
    }

    /// Small HNN members of `seeds` on [`pairs`], batch 8, on the CPU, Adam at lr 1e-2.
    pub(crate) fn small_stack(seeds: &[u64]) -> stack::Stack {
        stack::Stack {
            train: TrainConfig {
                seeds: seeds.to_vec(),
                steps: 100,
                batch: 8,
                adam: AdamConfig { lr: 1e-2, ..AdamConfig::default() },
                ..TrainConfig::default()
            },
            model: crate::model::ModelConfig {
                input_dim: 18,
                ae_hidden: 16,
                latent_dim: 2,
                field_hidden: 12,
                arch: Default::default(),
                field_settings: Default::default(),
            },
            kind: FieldKind::Hnn,
            device: Device::Cpu,
        }
    }

    #[test]
    fn overrides_replace_only_what_they_name() {
        let base = TrainConfig { batch: 32, ..TrainConfig::default() };
        let o = TrainOverrides { steps: Some(7), lr: Some(0.5), ..TrainOverrides::default() };
        let c = o.apply(base.clone());
        assert_eq!((c.steps, c.adam.lr, c.batch, &c.seeds), (7, 0.5, 32, &base.seeds));
        assert_eq!(TrainOverrides::default().apply(base.clone()), base);
    }

    #[test]
    fn seed_lists_parse_and_bad_ones_are_named() {
        assert_eq!(Seeds::parse("0-3").unwrap(), vec![0, 1, 2, 3]);
        assert_eq!(Seeds::parse("0,3,7").unwrap(), vec![0, 3, 7]);
        assert_eq!(Seeds::parse("5, 0-2").unwrap(), vec![5, 0, 1, 2]);
        assert_eq!(Seeds::parse("0-1023").unwrap().len(), 1024);
        for (text, says) in [
            ("", "empty item"),
            ("3-1", "reversed"),
            ("a", "'a' is not a seed"),
            ("1-", "'' is not a seed"),
            ("0-1024", "at most 1024"),
            ("1,2,1", "seed 1 twice"),
            ("-3", "'' is not a seed"),
        ] {
            let e = Seeds::parse(text).unwrap_err().to_string();
            assert!(e.starts_with("--seeds: ") && e.contains(says), "{text}: {e}");
        }
        assert_eq!(Seeds::describe(&[0, 1, 2, 3, 8, 10, 11]), "0-3,8,10,11");
    }

    #[test]
    fn log_lines_keep_the_layout_of_their_files() {
        let line = LogLine { ae: Some(1.0), cc: Some(2.0), hnn: Some(3.0), loss: 0.5, roll: None, step: 10, test_loss: None };
        assert_eq!(serde_json::to_string(&line).unwrap(), r#"{"ae":1.0,"cc":2.0,"hnn":3.0,"loss":0.5,"step":10}"#);
        let bare = LogLine { ae: None, cc: None, hnn: None, loss: 0.5, roll: None, step: 0, test_loss: Some(0.25) };
        assert_eq!(serde_json::to_string(&bare).unwrap(), r#"{"loss":0.5,"step":0,"test_loss":0.25}"#);
    }
}
