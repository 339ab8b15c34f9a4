//! The settings of a training run: [`TrainConfig`] (the one description of a run; its
//! `Default` is the paper's), the overrides the command line and the sweeps lay over it
//! ([`TrainOverrides`]), the recipes ([`Preset`]), the schedule, and the lists of seeds and
//! families the flags take.

use serde::{Deserialize, Serialize};

use crate::dataset::DatasetConfig;
use crate::error::{Error, Result};
use crate::integrate::Integrator;
use crate::model::{Activation, Architecture, DecoderKind, EncoderKind, FieldKind, FieldSettings, LossWeights, Net};
use crate::systems::SystemKind;
use crate::util::adam::AdamConfig;
use crate::util::choice::Choice;

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

pub(super) fn one() -> usize {
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
        for (flag, w) in [("--latent-weight", self.loss.latent), ("--cc-weight", self.loss.cc), ("--roll-weight", self.loss.roll)] {
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
        c.loss = LossWeights { cc: 0.0, latent: 0.0, roll: crate::model::ROLLOUT_PIXEL_WEIGHT, ..c.loss };
        c.adam.weight_decay = 0.0;
        c
    }

    /// The frames a training window of `arch` spans: its encoder's context (or its decoder's
    /// frames, the more) and the frames its rollout is fitted over (the paper's pair and next
    /// pair: 3), as [`Architecture::window_frames`] counts them for the training batches. The
    /// benchmark's valid prediction time counts only the frames after it.
    pub fn train_window(&self, arch: &Architecture) -> usize {
        arch.window_frames(self.horizon)
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
/// base's. `train`'s flags are these fields (their docs are the flags' help): the command
/// line fills them once, beside `--model` and `--seeds`, which it parses into `models` and
/// `seeds`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, clap::Args)]
#[serde(default, deny_unknown_fields)]
pub struct TrainOverrides {
    /// The families (`--model`).
    #[arg(skip)]
    pub models: Option<Vec<FieldKind>>,
    /// One seed per member (`--seed`, `--seeds`).
    #[arg(skip)]
    pub seeds: Option<Vec<u64>>,
    /// Training steps [default: 10001]. With --resume it may be raised to train longer.
    #[arg(long, allow_negative_numbers = true)]
    pub steps: Option<usize>,
    /// Batch size, drawn at random each step [default: 200].
    #[arg(long, allow_negative_numbers = true)]
    pub batch: Option<usize>,
    /// Adam learning rate [default: 1e-3].
    #[arg(long, allow_negative_numbers = true)]
    pub lr: Option<f64>,
    /// Adam weight decay (L2) [default: 1e-5 for the pendulum (the paper's), 0 for the other systems].
    #[arg(long, allow_negative_numbers = true)]
    pub weight_decay: Option<f64>,
    /// Log the train loss every N steps [default: 10].
    #[arg(long, allow_negative_numbers = true)]
    pub log_every: Option<usize>,
    /// Log the test loss every N steps [default: 200].
    #[arg(long, allow_negative_numbers = true)]
    pub eval_every: Option<usize>,
    /// Write a checkpoint every N steps [default: 1000].
    #[arg(long, allow_negative_numbers = true)]
    pub checkpoint_every: Option<usize>,
    /// Fit the latent rollout over K frames, decoding every predicted frame [default: 1, the
    /// paper's]. Above 1 it brings --lr-schedule cosine, --grow 0.3 and the rollout's pixels in the loss.
    #[arg(long, allow_negative_numbers = true)]
    pub horizon: Option<usize>,
    /// The step trained and rolled out with [default: the family's: euler for baseline and rgn
    /// (its own step), rk4 for ode; euler for hnn at --horizon 1 (the paper's), leapfrog above].
    #[arg(long, value_parser = crate::util::choice::parser::<Integrator>())]
    pub integrator: Option<Integrator>,
    /// Learning rate over the run [default: constant; cosine with --horizon above 1].
    #[arg(long = "lr-schedule", value_name = "LR_SCHEDULE", value_parser = crate::util::choice::parser::<Schedule>())]
    #[serde(alias = "lr_schedule")]
    pub schedule: Option<Schedule>,
    /// Fraction of the steps over which the rollout grows from 1 frame to --horizon [default: 0; 0.3 with --horizon above 1].
    #[arg(long, allow_negative_numbers = true)]
    pub grow: Option<f64>,
    /// What reads the frames [default: mlp-pair, the paper's; conv for hgn alone]. Conv brings
    /// --decoder conv, --context 5 and the benchmark's loss (the decoded rollout's pixels).
    #[arg(long, value_parser = crate::util::choice::parser::<EncoderKind>())]
    pub encoder: Option<EncoderKind>,
    /// What draws the frames [default: mlp, the paper's; conv for hgn alone].
    #[arg(long, value_parser = crate::util::choice::parser::<DecoderKind>())]
    pub decoder: Option<DecoderKind>,
    /// Frames the encoder reads [default: 2 for mlp-pair (the pair), 5 for conv].
    #[arg(long, allow_negative_numbers = true)]
    pub context: Option<usize>,
    /// The latent's size, q and p halves [default: 2 x the system's degrees of freedom].
    #[arg(long, allow_negative_numbers = true)]
    pub latent: Option<usize>,
    /// Channels of the convolutions [default: 32; the benchmark's 64].
    #[arg(long, allow_negative_numbers = true)]
    pub channels: Option<usize>,
    /// The recipe the other flags are laid over [default: paper]: paper (the paper's run; a
    /// flag that changes its nets, loss or step beside it is refused, its budget flags win) or
    /// study (every family the same net and budget; the flags given beside it win).
    #[arg(long, value_parser = crate::util::choice::parser::<Preset>())]
    pub preset: Option<Preset>,
    /// Hidden layers of every family's net. Any of --layers, --width, --activation gives
    /// every family one net, its unset parts the preset's (study: tanh 3 x 200) or the
    /// paper's (tanh 2 x 200) [default: each family's own: tanh 2 x 200 for hnn, baseline,
    /// hgn and lgn, swish 3 x 200 for rgn and ode].
    #[arg(long, allow_negative_numbers = true)]
    pub layers: Option<usize>,
    /// Width of every family's net's hidden layers (see --layers).
    #[arg(long, allow_negative_numbers = true)]
    pub width: Option<i64>,
    /// Activation of every family's net (see --layers).
    #[arg(long, value_parser = crate::util::choice::parser::<Activation>())]
    pub activation: Option<Activation>,
    /// Learn H as T(p) + V(q), two nets (hnn, hgn; leapfrog is then exactly symplectic).
    #[arg(long, num_args = 0, default_missing_value = "true")]
    pub separable: Option<bool>,
    /// Frames a unit of the field's time is: dz/dt is the net's output times this [default: 1].
    #[arg(long, allow_negative_numbers = true)]
    pub time_scale: Option<f64>,
    /// Train the time scale with the rest (from --time-scale).
    #[arg(long, num_args = 0, default_missing_value = "true")]
    pub learn_time_scale: Option<bool>,
    /// Integrator steps a frame, in training and rollouts [default: 1].
    #[arg(long, allow_negative_numbers = true)]
    pub substeps: Option<usize>,
    /// Weight of the latent term (the encoded frames' distance to the predicted latents)
    /// [default: 0.1, the paper's].
    #[arg(long, allow_negative_numbers = true)]
    pub latent_weight: Option<f64>,
    /// Weight of the paper's cc term, latent p tied to the change of latent q [default: 1,
    /// the paper's; 0 on the convolutions, the benchmark's loss].
    #[arg(long, allow_negative_numbers = true)]
    pub cc_weight: Option<f64>,
    /// Weight of the decoded rollout's pixel term [default: 0; 1 with --horizon above 1].
    #[arg(long = "roll-weight", value_name = "ROLL_WEIGHT", allow_negative_numbers = true)]
    pub roll: Option<f64>,
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
        c.loss.latent = self.latent_weight.unwrap_or(c.loss.latent);
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
            c.loss = LossWeights { cc: 0.0, latent: 0.0, roll: crate::model::ROLLOUT_PIXEL_WEIGHT, ..c.loss };
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
