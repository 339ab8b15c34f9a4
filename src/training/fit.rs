//! The one training loop ([`fit`]): what it reads of a task's settings ([`LoopSettings`]),
//! what it trains ([`Objective`]: a model through autograd, [`Autograd`], or K members at
//! once), and where its log and checkpoints go ([`Recorder`]).

use serde::{Deserialize, Serialize};
use std::time::Instant;
use tch::{Device, Tensor};

use super::config::TrainConfig;
use crate::dataset::Pairs;
use crate::error::{Error, Result};
use crate::model::{LossTerms, LossWeights, Model};
use crate::util::adam::Adam;
use crate::util::rng::Rng;

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
    /// The latent term (the paper's `hnn`, its key in the file).
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "hnn")]
    pub latent: Option<f64>,
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
                    latent: l.terms.map(|t| t[2]),
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

pub(super) fn mean_of(t: &Tensor) -> f64 {
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
    (StepLoss { loss: value, terms: terms.map(|t| [mean_of(&t.ae), mean_of(&t.cc), mean_of(&t.latent)]), roll }, diverged)
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
