//! Stage 2b, training: the one loop that fits every model of the project, the pixel
//! autoencoder with its latent field (SPEC.md section 5) and the coordinate tasks' fields
//! (section 8). It draws seeded batches, steps Adam, logs, checkpoints and stops on a
//! non-finite loss; where the log and the checkpoints go is its caller's [`Recorder`]
//! (a run folder: [`crate::run::RunRecorder`]; the coordinate tasks: [`MemoryLog`]).

use serde::{Deserialize, Serialize};
use std::time::Instant;
use tch::{Device, Tensor};

use crate::dataset::Pairs;
use crate::error::{Error, Result};
use crate::model::{FieldKind, LossTerms, LossWeights, Model};
use crate::optim::{Adam, AdamConfig};
use crate::rng::Rng;
use crate::stats::MeanSem;

/// Settings of the pixel task's training; `Default` is the reference's (SPEC.md section 5).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    pub models: Vec<FieldKind>,
    /// Seeds the weights (libtorch) and the batch draws (ChaCha8).
    pub seed: u64,
    pub steps: usize,
    pub batch: usize,
    pub adam: AdamConfig,
    pub loss: LossWeights,
    pub log_every: usize,
    pub eval_every: usize,
    pub checkpoint_every: usize,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            models: vec![FieldKind::Hnn, FieldKind::Baseline],
            seed: 0,
            steps: 10_001,
            batch: 200,
            adam: AdamConfig::default(),
            loss: LossWeights::default(),
            log_every: 10,
            eval_every: 200,
            checkpoint_every: 1000,
        }
    }
}

impl TrainConfig {
    pub fn validate(&self) -> Result<()> {
        if self.models.is_empty() {
            return Err(Error::setting("--model", "names no model"));
        }
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
        self.adam.validate()
    }

    /// The loop's settings for this task.
    pub fn loop_config(&self) -> LoopConfig {
        LoopConfig {
            seed: self.seed,
            steps: self.steps,
            batch: Some(self.batch),
            log_every: self.log_every,
            eval_every: self.eval_every,
            checkpoint_every: Some(self.checkpoint_every),
            log_last: false,
        }
    }
}

/// Settings given on the command line, laid over a [`TrainConfig`] (the paper's, or the one
/// a resumed run was made with); `None` keeps the base's.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TrainOverrides {
    pub models: Option<Vec<FieldKind>>,
    pub seed: Option<u64>,
    pub steps: Option<usize>,
    pub batch: Option<usize>,
    pub lr: Option<f64>,
    pub weight_decay: Option<f64>,
    pub log_every: Option<usize>,
    pub eval_every: Option<usize>,
    pub checkpoint_every: Option<usize>,
}

impl TrainOverrides {
    pub fn apply(&self, base: TrainConfig) -> TrainConfig {
        let mut c = base;
        if let Some(m) = &self.models {
            c.models = m.clone();
        }
        c.seed = self.seed.unwrap_or(c.seed);
        c.steps = self.steps.unwrap_or(c.steps);
        c.batch = self.batch.unwrap_or(c.batch);
        c.adam.lr = self.lr.unwrap_or(c.adam.lr);
        c.adam.weight_decay = self.weight_decay.unwrap_or(c.adam.weight_decay);
        c.log_every = self.log_every.unwrap_or(c.log_every);
        c.eval_every = self.eval_every.unwrap_or(c.eval_every);
        c.checkpoint_every = self.checkpoint_every.unwrap_or(c.checkpoint_every);
        c
    }
}

/// Settings of one training loop.
#[derive(Clone, Debug, PartialEq)]
pub struct LoopConfig {
    /// Seeds the batch draws.
    pub seed: u64,
    pub steps: usize,
    /// Samples per step, drawn without replacement each step; `None`: the whole set.
    pub batch: Option<usize>,
    /// The train loss is logged every `log_every` steps, the test loss every `eval_every`.
    pub log_every: usize,
    pub eval_every: usize,
    /// `None`: no checkpoints.
    pub checkpoint_every: Option<usize>,
    /// Also log (and evaluate) the last step.
    pub log_last: bool,
}

/// What a loop trains: a model's loss on a batch of training samples, and on the test set.
pub trait Objective {
    /// The model's name, for messages.
    fn name(&self) -> &'static str;
    /// Training samples a batch is drawn from.
    fn train_len(&self) -> usize;
    /// Where the batch indices must live.
    fn device(&self) -> Device;
    /// Mean loss over the training samples `idx` (all of them when `None`), differentiable,
    /// with the per-sample terms the log reports, if the loss has terms.
    fn batch_loss(&self, idx: Option<&Tensor>) -> (Tensor, Option<LossTerms>);
    /// Mean per-sample loss over the test set.
    fn test_loss(&self) -> f64;
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

/// Where a loop's log lines and checkpoints go.
pub trait Recorder {
    fn log(&mut self, line: &LogLine) -> Result<()>;
    /// Saves the parameters, the optimiser's state and the progress (every
    /// `checkpoint_every` steps and at the end).
    fn checkpoint(&mut self, at: Progress, params: &[(String, Tensor)], adam: &Adam) -> Result<()>;
    /// What is left after a divergence (for the error message), given the last checkpoint.
    fn kept(&self, last_checkpoint: Option<usize>) -> String;
}

/// A recorder that keeps the log in memory and writes no checkpoint.
#[derive(Debug, Default)]
pub struct MemoryLog(pub Vec<LogLine>);

impl Recorder for MemoryLog {
    fn log(&mut self, line: &LogLine) -> Result<()> {
        self.0.push(line.clone());
        Ok(())
    }
    fn checkpoint(&mut self, _: Progress, _: &[(String, Tensor)], _: &Adam) -> Result<()> {
        Ok(())
    }
    fn kept(&self, _: Option<usize>) -> String {
        "nothing was written".into()
    }
}

/// What a finished loop reports.
#[derive(Clone, Copy, Debug)]
pub struct Fitted {
    /// Wall time per step of this process's steps (evaluations excluded).
    pub ms_per_step: Option<f64>,
}

fn mean_of(t: &Tensor) -> f64 {
    t.mean(None::<tch::Kind>).double_value(&[])
}

/// One training step on the samples `idx`: loss, backward, and (if the loss is finite) the
/// Adam update. Returns the batch loss and its terms.
pub fn step(obj: &dyn Objective, adam: &mut Adam, idx: Option<&Tensor>) -> (f64, Option<LossTerms>) {
    let (loss, terms) = obj.batch_loss(idx);
    adam.zero_grad();
    loss.backward();
    let value = loss.double_value(&[]);
    if value.is_finite() {
        adam.step();
    }
    (value, terms)
}

/// The training loop: steps `from.step .. cfg.steps` of `obj` with `adam` (whose state the
/// caller restored when resuming), calling `on_step` after each.
pub fn fit(
    obj: &dyn Objective,
    adam: &mut Adam,
    cfg: &LoopConfig,
    from: Option<Progress>,
    rec: &mut dyn Recorder,
    on_step: &dyn Fn(),
) -> Result<Fitted> {
    let n = obj.train_len();
    let (start, mut rng) = match from {
        Some(p) => (p.step, Rng::at(cfg.seed, p.rng_position)),
        None => (0, Rng::new(cfg.seed)),
    };
    let mut last_checkpoint = (start > 0).then_some(start);
    let (mut step_time, mut timed_steps) = (0.0f64, 0usize);
    for s in start..cfg.steps {
        let t0 = Instant::now();
        let idx = match cfg.batch {
            Some(b) if b < n => Some(Tensor::from_slice(&rng.distinct(n, b)).to_device(obj.device())),
            _ => None,
        };
        let (value, terms) = step(obj, adam, idx.as_ref());
        if !value.is_finite() {
            return Err(Error::Diverged { model: obj.name(), step: s, loss: value, kept: rec.kept(last_checkpoint) });
        }
        step_time += t0.elapsed().as_secs_f64();
        timed_steps += 1;
        let last = cfg.log_last && s + 1 == cfg.steps;
        let evaluate = s % cfg.eval_every == 0 || last;
        if s % cfg.log_every == 0 || evaluate {
            rec.log(&LogLine {
                ae: terms.as_ref().map(|t| mean_of(&t.ae)),
                cc: terms.as_ref().map(|t| mean_of(&t.cc)),
                hnn: terms.as_ref().map(|t| mean_of(&t.hnn)),
                loss: value,
                step: s,
                test_loss: evaluate.then(|| obj.test_loss()),
            })?;
        }
        let done = s + 1;
        if let Some(every) = cfg.checkpoint_every {
            if done % every == 0 || done == cfg.steps {
                rec.checkpoint(Progress { step: done, rng_position: rng.position() }, &adam.parameters(), adam)?;
                last_checkpoint = Some(done);
            }
        }
        on_step();
    }
    Ok(Fitted { ms_per_step: (timed_steps > 0).then(|| step_time / timed_steps as f64 * 1e3) })
}

/// The pixel task: an autoencoder and its latent field trained jointly on frame pairs.
pub struct PixelObjective<'a> {
    pub model: &'a Model,
    pub train: &'a Pairs,
    pub test: &'a Pairs,
    pub loss: LossWeights,
}

impl Objective for PixelObjective<'_> {
    fn name(&self) -> &'static str {
        crate::choice::Choice::name(self.model.field.kind())
    }
    fn train_len(&self) -> usize {
        self.train.x.size()[0] as usize
    }
    fn device(&self) -> Device {
        self.model.vs.device()
    }
    fn batch_loss(&self, idx: Option<&Tensor>) -> (Tensor, Option<LossTerms>) {
        let (x, x_next) = match idx {
            Some(i) => (self.train.x.index_select(0, i), self.train.x_next.index_select(0, i)),
            None => (self.train.x.shallow_clone(), self.train.x_next.shallow_clone()),
        };
        let terms = self.model.loss_terms(&x, &x_next, true);
        (terms.total(&self.loss).mean(None::<tch::Kind>), Some(terms))
    }
    fn test_loss(&self) -> f64 {
        MeanSem::of(&per_sample_losses(self.model, self.test, &self.loss)).mean
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
mod tests {
    use super::*;

    #[test]
    fn overrides_replace_only_what_they_name() {
        let base = TrainConfig { batch: 32, ..TrainConfig::default() };
        let o = TrainOverrides { steps: Some(7), lr: Some(0.5), ..TrainOverrides::default() };
        let c = o.apply(base.clone());
        assert_eq!((c.steps, c.adam.lr, c.batch, c.seed), (7, 0.5, 32, base.seed));
        assert_eq!(TrainOverrides::default().apply(base.clone()), base);
    }

    #[test]
    fn log_lines_keep_the_layout_of_their_files() {
        let line = LogLine { ae: Some(1.0), cc: Some(2.0), hnn: Some(3.0), loss: 0.5, step: 10, test_loss: None };
        assert_eq!(serde_json::to_string(&line).unwrap(), r#"{"ae":1.0,"cc":2.0,"hnn":3.0,"loss":0.5,"step":10}"#);
        let bare = LogLine { ae: None, cc: None, hnn: None, loss: 0.5, step: 0, test_loss: Some(0.25) };
        assert_eq!(serde_json::to_string(&bare).unwrap(), r#"{"loss":0.5,"step":0,"test_loss":0.25}"#);
    }
}
