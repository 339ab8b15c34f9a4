//! The pixel task's training objective: K members of one model (a seed ensemble; K = 1 for
//! a single model) stacked and trained at once with the hand-written gradient of
//! [`crate::model::stacked`] and one Adam over the stacked weights.
//!
//! On the CPU a step is split into work units, each one member's gradient on one share (a
//! half) of its batch ([`crate::model::cpu_step`]), computed by one worker thread; Adam then adds the shares.
//! The units are fixed by the run's settings, never by the thread count, so the results are
//! the same on 1 thread or 16, under any load, and member k of an ensemble computes, bit for
//! bit, what the single model of seed k computes. How many threads work is chosen by
//! [`crate::runtime::ThreadChoice`] (measured as training goes). On a GPU all members run
//! as one batched computation.

use std::collections::HashMap;

use rayon::prelude::*;
use tch::{Device, Kind, Tensor};

use crate::dataset::Pairs;
use crate::error::{Error, Result};
use crate::model::cpu_step::{Dims, Workspace};
use crate::model::layout::Layout;
use crate::model::stacked;
use crate::model::FastField;
use crate::model::{FieldKind, LossWeights, ModelConfig};
use crate::runtime::ThreadChoice;
use crate::training::stack::{PixelMembers, Stack};
use crate::training::{Divergence, Objective, StepLoss, TrainConfig};
use crate::util::adam::Adam;
use crate::util::choice::Choice;

/// Samples per chunk when evaluating (bounds the activations' memory).
const EVAL_CHUNK: i64 = 1000;

/// A step's unit of work on the CPU: one member on its batch, or on one share of it.
struct Share<'a> {
    member: usize,
    workspace: &'a mut Workspace,
    idx: &'a [i64],
}

/// K members of one model, their optimiser, the data they train on, and their state.
pub struct Members {
    kind: FieldKind,
    /// The members' parameters as declared by the family (canonical order), each `[K, ...]`.
    layout: Layout,
    field: FastField,
    params: Vec<Tensor>,
    adam: Adam,
    train: Pairs,
    test: Pairs,
    loss: LossWeights,
    batch: usize,
    /// Parts each member's batch is computed in (2 on the CPU, 1 on a GPU).
    shares: usize,
    device: Device,
    threads: ThreadChoice,
    live: Vec<bool>,
    diverged: Vec<Option<Divergence>>,
    last: Vec<StepLoss>,
    /// The CPU step's buffers: one workspace per member and share (`member * shares + s`).
    workspaces: Vec<Workspace>,
    /// The batched step's device state (made at its first step).
    batched: Option<Batched>,
    /// Capture the batched step as a CUDA graph.
    graphs: bool,
}

impl Members {
    /// The members of `stack`; `train` and `test` on its device too. On the CPU up to
    /// `threads` worker threads.
    pub fn new(stack: &Stack, train: Pairs, test: Pairs, threads: ThreadChoice) -> Self {
        let Stack { model: config, kind, device, .. } = *stack;
        let TrainConfig { ref seeds, adam, loss, batch, .. } = stack.train;
        let params = stacked::initial_weights(config, kind, seeds, device);
        let layout = config.layout(kind);
        let named: Vec<(String, Tensor)> = layout.names().into_iter().zip(params.iter().map(Tensor::shallow_clone)).collect();
        let k = seeds.len();
        // On the CPU every member's batch is computed in two shares (halves), so that a single model
        // keeps two threads busy and a member of an ensemble computes exactly what the single
        // model of its seed computes.
        let shares = if device == Device::Cpu { 2.min(batch) } else { 1 };
        let dims = Dims::new(&config, kind);
        let per = batch.div_ceil(shares);
        let workspaces = if device == Device::Cpu {
            (0..k).flat_map(|_| (0..shares).map(|s| Workspace::new(dims.clone(), per.min(batch - s * per)))).collect()
        } else {
            vec![]
        };
        Members {
            kind,
            field: kind.dynamics().fast_path().expect("members train through the hand-written step"),
            layout,
            params,
            adam: Adam::new(named, adam),
            train,
            test,
            loss,
            batch,
            shares,
            device,
            threads,
            live: vec![true; k],
            diverged: vec![None; k],
            last: vec![StepLoss { loss: f64::NAN, terms: None, roll: None }; k],
            workspaces,
            batched: None,
            graphs: false,
        }
    }

    fn members_count(&self) -> usize {
        self.live.len()
    }

    fn step_cpu(&mut self, step: usize, batches: &[Option<Vec<i64>>]) {
        let k = self.members_count();
        let n_train = self.train.x.size()[0];
        let all: Vec<i64> = if batches.iter().any(Option::is_none) { (0..n_train).collect() } else { vec![] };
        let batches: Vec<&[i64]> = batches.iter().map(|b| b.as_deref().unwrap_or(&all)).collect();
        // Raw views for the workers: parameters are read, never written, during the units.
        let bases: Vec<(usize, usize)> = self.params.iter().map(|p| (p.data_ptr() as usize, p.numel() / k)).collect();
        let d = self.train.x.size()[1] as usize;
        let (x, x_next) = (self.train.x.data_ptr() as usize, self.train.x_next.data_ptr() as usize);
        let (shares, live) = (self.shares, &self.live);
        let mut todo = vec![];
        for (i, ws) in self.workspaces.iter_mut().enumerate() {
            let (m, s) = (i / shares, i % shares);
            if live[m] {
                let per = batches[m].len().div_ceil(shares);
                todo.push(Share { member: m, workspace: ws, idx: &batches[m][s * per..((s + 1) * per).min(batches[m].len())] });
            }
        }
        let (scale, w) = (1.0 / self.batch as f32, self.loss);
        let terms: Vec<(usize, [f64; 3])> = self.threads.run(|| {
            todo.into_par_iter()
                .map(|share| {
                    let ws = share.workspace;
                    assert_eq!(ws.n, share.idx.len(), "the workspace fits the batch share");
                    // SAFETY: x and x_next are contiguous CPU f32 [n_train, d] tensors held by
                    // self for the whole step; the indices are below n_train.
                    let rows = |base: usize, i: i64| unsafe { std::slice::from_raw_parts((base as *const f32).add(i as usize * d), d) };
                    let x2 = ws.x2.as_mut_slice();
                    let n = share.idx.len();
                    for (r, &i) in share.idx.iter().enumerate() {
                        x2[r * d..(r + 1) * d].copy_from_slice(rows(x, i));
                        x2[(n + r) * d..(n + r + 1) * d].copy_from_slice(rows(x_next, i));
                    }
                    // SAFETY: member m's slice of each contiguous CPU f32 parameter, which
                    // nothing writes while the units run.
                    let p: Vec<&[f32]> = bases
                        .iter()
                        .map(|&(base, per)| unsafe { std::slice::from_raw_parts((base as *const f32).add(share.member * per), per) })
                        .collect();
                    (share.member, ws.loss_gradient(&p, scale, &w))
                })
                .collect()
        });
        let mut sums = vec![[0.0f64; 3]; k];
        for (m, t) in terms {
            for (a, b) in sums[m].iter_mut().zip(t) {
                *a += b;
            }
        }
        let b = self.batch as f64;
        let w = self.loss;
        let mut updates: Vec<(usize, Vec<&[f32]>)> = vec![];
        let alive: Vec<usize> = (0..k).filter(|&m| self.live[m]).collect();
        for m in alive {
            let terms = sums[m].map(|v| v / b);
            let loss = w.combine(terms[0], terms[1], terms[2]);
            self.last[m] = StepLoss { loss, terms: Some(terms), roll: None };
            if loss.is_finite() {
                updates.push((m, self.workspaces[m * shares..(m + 1) * shares].iter().map(|ws| ws.grad.as_slice()).collect()));
            } else {
                self.live[m] = false;
                self.diverged[m] = Some(Divergence { step, loss });
            }
        }
        let (adam, offsets) = (&mut self.adam, &self.workspaces[0].dims.offsets);
        self.threads.run(move || adam.update_flat(k, offsets, &updates));
    }

    /// The batched step (a GPU): all members in one computation, every decision on the
    /// device, captured as one CUDA graph after a few eager steps when graphs are on.
    fn step_batched(&mut self, step: usize, batches: &[Option<Vec<i64>>]) -> Result<()> {
        let k = self.members_count() as i64;
        let n_train = self.train.x.size()[0];
        let flat: Vec<i64> = batches.iter().flat_map(|b| b.clone().unwrap_or_else(|| (0..n_train).collect())).collect();
        if self.batched.is_none() {
            self.batched = Some(Batched::new(k, flat.len() as i64, self.adam.steps_taken(), &self.live, &self.diverged, self.device));
        }
        let mut state = self.batched.take().expect("made above");
        let result = (|| -> Result<()> {
            tch::no_grad(|| state.idx.copy_(&Tensor::from_slice(&flat)));
            if let Some(graph) = &state.graph {
                return graph.replay().map_err(|e| Error::setting("--cuda-graphs", e));
            }
            let _ = state.step_no.fill_(step as i64);
            if self.graphs && state.eager_steps >= WARM_UP_STEPS {
                let graph = crate::runtime::cuda_graphs::Graph::capture(|| self.record_step(&mut state))
                    .map_err(|e| Error::setting("--cuda-graphs", e))?;
                graph.replay().map_err(|e| Error::setting("--cuda-graphs", e))?;
                state.graph = Some(graph);
            } else {
                self.record_step(&mut state);
                state.eager_steps += 1;
            }
            Ok(())
        })();
        self.batched = Some(state);
        result
    }

    /// Queues one training step of all members on the device; nothing is read back.
    fn record_step(&mut self, s: &mut Batched) {
        let k = self.members_count() as i64;
        let b = self.batch as f64;
        let x = self.train.x.index_select(0, &s.idx).view([k, -1, self.train.x.size()[1]]);
        let xn = self.train.x_next.index_select(0, &s.idx).view([k, -1, self.train.x.size()[1]]);
        let x2 = Tensor::cat(&[x, xn], 1);
        let (grads, terms) = stacked::loss_gradient(&self.layout, &self.params, self.field, &x2, 1.0 / b, &self.loss);
        let w = self.loss;
        tch::no_grad(|| {
            let t = Tensor::stack(&[terms.ae, terms.cc, terms.latent], 1).to_kind(Kind::Double) / b;
            s.terms.copy_(&t);
            let loss: Tensor = w.combine(t.select(1, 0), t.select(1, 1), t.select(1, 2));
            let finite = loss.isfinite();
            let newly = s.alive.logical_and(&finite.logical_not());
            s.died.copy_(&s.step_no.expand_as(&s.died).where_self(&newly, &s.died));
            s.alive.copy_(&s.alive.logical_and(&finite));
        });
        self.adam.update_on_device(&grads, &s.alive, &mut s.adam_step);
        tch::no_grad(|| {
            let _ = s.step_no.g_add_scalar_(1);
        });
    }
}

impl PixelMembers for Members {
    /// Captures the batched (GPU) step as a CUDA graph after a few eager steps.
    fn use_cuda_graphs(&mut self, on: bool) {
        self.graphs = on && self.device != Device::Cpu;
    }

    /// Member `k`'s weights, named as a single model's (`ae.enc.l1.weight`, ...).
    fn member_weights(&self, k: usize) -> Vec<(String, Tensor)> {
        self.layout.names().into_iter().zip(self.params.iter().map(|p| p.get(k as i64).detach())).collect()
    }

    /// Restores member `k` from a checkpoint's tensors (`model.NAME`, `adam.*`); `file`
    /// names the checkpoint for errors.
    fn restore(&mut self, k: usize, tensors: &HashMap<String, Tensor>, file: &std::path::Path) -> Result<()> {
        let slots: Vec<(String, Tensor)> = self.layout.names().into_iter().zip(self.params.iter().map(|p| p.get(k as i64))).collect();
        let input_dim = self.train.x.size()[1];
        crate::model::load_parameters(&slots, tensors, "model.", file, input_dim)?;
        let device = self.device;
        self.adam.load_member_state(k as i64, &|n: &str| tensors.get(n).map(|t| t.to_device(device))).map_err(Error::optim(file))
    }

    /// Marks member `k` as frozen before training continues (it diverged in an earlier run).
    fn freeze(&mut self, k: usize, at: Divergence) {
        self.live[k] = false;
        self.diverged[k] = Some(at);
    }

    fn final_losses(&mut self) -> (Vec<Vec<f64>>, Vec<Vec<f64>>) {
        let (train, test) = (self.train.shallow(), self.test.shallow());
        (self.per_sample_losses(&train), self.per_sample_losses(&test))
    }
}

impl Members {
    /// Every member's per-sample loss over `pairs` (no gradient), `[K][n]`.
    fn per_sample_losses(&mut self, pairs: &Pairs) -> Vec<Vec<f64>> {
        let k = self.members_count();
        let n = pairs.x.size()[0];
        let chunks: Vec<(i64, i64)> = (0..n).step_by(EVAL_CHUNK as usize).map(|s| (s, EVAL_CHUNK.min(n - s))).collect();
        let (layout, field, w) = (&self.layout, self.field, self.loss);
        let mut out = vec![Vec::with_capacity(n as usize); k];
        if self.device == Device::Cpu {
            let units: Vec<(usize, Vec<Tensor>, Tensor)> = (0..k)
                .flat_map(|m| chunks.iter().map(move |&(s, len)| (m, s, len)).collect::<Vec<_>>())
                .map(|(m, s, len)| {
                    let x2 = Tensor::cat(&[pairs.x.narrow(0, s, len), pairs.x_next.narrow(0, s, len)], 0).unsqueeze(0);
                    (m, self.params.iter().map(|p| p.narrow(0, m as i64, 1)).collect(), x2)
                })
                .collect();
            let results: Vec<(usize, Vec<f64>)> = self.threads.run(|| {
                units
                    .into_par_iter()
                    .map(|(m, params, x2)| {
                        let l = tch::no_grad(|| stacked::per_sample_losses(layout, &params, field, &x2, &w));
                        (m, Vec::try_from(l.view([-1]).to_kind(Kind::Double)).expect("losses"))
                    })
                    .collect()
            });
            for (m, l) in results {
                out[m].extend(l);
            }
        } else {
            for &(s, len) in &chunks {
                let x2 = Tensor::cat(&[pairs.x.narrow(0, s, len), pairs.x_next.narrow(0, s, len)], 0);
                let x2 = x2.unsqueeze(0).expand([k as i64, 2 * len, x2.size()[1]], false).contiguous();
                let l = tch::no_grad(|| stacked::per_sample_losses(layout, &self.params, field, &x2, &w))
                    .to_device(Device::Cpu)
                    .to_kind(Kind::Double);
                for (m, row) in out.iter_mut().enumerate() {
                    row.extend(Vec::<f64>::try_from(l.get(m as i64)).expect("losses"));
                }
            }
        }
        out
    }
}

/// Eager steps before a CUDA graph is captured (libraries initialise on first use).
const WARM_UP_STEPS: usize = 3;

/// The batched step's state on the device.
struct Batched {
    /// The step's batch indices, all members' (`[K * B]`), filled before each step.
    idx: Tensor,
    /// Which members still train (bool `[K]`).
    alive: Tensor,
    /// The step where a member's loss stopped being finite (-1: it has not).
    died: Tensor,
    /// The loop's step number (0-dimensional), advanced by each step.
    step_no: Tensor,
    /// The last step's mean terms `(ae, cc, hnn)` of each member (`[K, 3]`).
    terms: Tensor,
    /// Adam's step count (0-dimensional f64).
    adam_step: Tensor,
    graph: Option<crate::runtime::cuda_graphs::Graph>,
    eager_steps: usize,
}

impl Batched {
    fn new(k: i64, indices: i64, adam_steps: i64, live: &[bool], diverged: &[Option<Divergence>], device: Device) -> Self {
        let died: Vec<i64> = diverged.iter().map(|d| d.map_or(-1, |d| d.step as i64)).collect();
        Batched {
            idx: Tensor::zeros([indices], (Kind::Int64, device)),
            alive: Tensor::from_slice(live).to_device(device),
            died: Tensor::from_slice(&died).to_device(device),
            step_no: Tensor::zeros([], (Kind::Int64, device)),
            terms: Tensor::zeros([k, 3], (Kind::Double, device)),
            adam_step: Tensor::from(adam_steps as f64).to_device(device),
            graph: None,
            eager_steps: 0,
        }
    }
}

impl Objective for Members {
    fn name(&self) -> &'static str {
        self.kind.name()
    }
    fn members(&self) -> usize {
        self.members_count()
    }
    fn train_len(&self) -> usize {
        self.train.x.size()[0] as usize
    }
    fn step(&mut self, step: usize, batches: &[Option<Vec<i64>>]) -> Result<()> {
        let started = std::time::Instant::now();
        if self.workspaces.is_empty() {
            self.step_batched(step, batches)?;
        } else {
            self.step_cpu(step, batches);
        }
        self.threads.observe(started.elapsed());
        Ok(())
    }
    fn last(&mut self) -> Vec<StepLoss> {
        if let Some(s) = &self.batched {
            let t: Vec<f64> = Vec::try_from(s.terms.to_device(Device::Cpu).view([-1])).expect("terms");
            let w = self.loss;
            for (m, t) in t.chunks(3).enumerate() {
                self.last[m] = StepLoss { loss: w.combine(t[0], t[1], t[2]), terms: Some([t[0], t[1], t[2]]), roll: None };
            }
        }
        self.last.clone()
    }
    fn diverged(&mut self) -> Vec<Option<Divergence>> {
        if let Some(s) = &self.batched {
            let alive: Vec<bool> = Vec::try_from(s.alive.to_device(Device::Cpu)).expect("alive");
            let died: Vec<i64> = Vec::try_from(s.died.to_device(Device::Cpu)).expect("died");
            let last = self.last();
            for m in 0..alive.len() {
                if !alive[m] && self.diverged[m].is_none() {
                    self.live[m] = false;
                    self.diverged[m] = Some(Divergence { step: died[m].max(0) as usize, loss: last[m].loss });
                }
            }
        }
        self.diverged.clone()
    }
    fn check_every(&self) -> usize {
        if self.batched.is_some() {
            10
        } else {
            1
        }
    }
    fn test_losses(&mut self) -> Vec<f64> {
        let test = self.test.shallow();
        self.per_sample_losses(&test).iter().map(|l| l.iter().sum::<f64>() / l.len().max(1) as f64).collect()
    }
    fn checkpoint_tensors(&self, k: usize) -> Vec<(String, Tensor)> {
        let mut t: Vec<(String, Tensor)> = self.member_weights(k).into_iter().map(|(n, p)| (format!("model.{n}"), p)).collect();
        t.extend(self.adam.member_state(k as i64));
        t
    }
}

/// Bytes a training of `k` members of `config` needs on its device, roughly: weights,
/// gradients and Adam's two moments per member, plus each member's activations for a batch
/// of `batch` pairs (on the CPU only `threads` members compute at once); with convolutions,
/// each of the `horizon + 1` frames of a window a batch decodes keeps about 8 maps of
/// `channels` at the decoder's widest side.
pub fn memory_estimate(
    config: &ModelConfig,
    kind: FieldKind,
    k: usize,
    batch: usize,
    horizon: usize,
    device: Device,
    threads: usize,
) -> u64 {
    let params = config.layout(kind).numel();
    let at_once = if device == Device::Cpu { k.min(threads.max(1)) } else { k } as u64;
    let net = config.field_settings.net_of(kind, config.field_hidden);
    let field_units = (net.width * net.layers as i64) as u64 * (config.field_settings.substeps as u64);
    let mut activations = batch as u64 * (6 * config.input_dim as u64 + 30 * config.ae_hidden as u64 + 6 * field_units);
    let a = config.arch;
    if a.has_convolutions() {
        let widest = crate::model::conv::decoder_sides(config.side()).1 as u64;
        activations += batch as u64 * (horizon as u64 + 1) * 8 * a.channels as u64 * widest * widest;
    }
    4 * (4 * params as u64 * k as u64 + activations * at_once)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::training::{fit, MemoryLog, Recorder};
    use crate::util::adam::AdamConfig;

    use crate::training::tests::{pairs, small_stack};

    /// Small HNN members of `seeds` on random data, on the CPU with `threads` workers.
    fn small_members(seeds: &[u64], threads: usize) -> Members {
        let mut stack = small_stack(seeds);
        stack.train.adam = AdamConfig::default();
        Members::new(&stack, pairs(40, 7), pairs(10, 9), ThreadChoice::fixed(threads))
    }

    #[test]
    fn a_member_that_diverges_is_frozen_and_the_others_train_on() {
        let seeds = [0u64, 1, 2];
        let mut m = small_members(&seeds, 2);
        // Member 1's decoder output bias is poisoned: its loss is not finite from step 0.
        let bias = m.layout.index("ae.dec.l4.bias");
        tch::no_grad(|| {
            let _ = m.params[bias].get(1).fill_(f64::NAN);
        });
        let before: Vec<Vec<(String, Tensor)>> =
            (0..3).map(|k| m.member_weights(k).into_iter().map(|(n, t)| (n, t.copy())).collect()).collect();
        let mut logs: Vec<MemoryLog> = (0..3).map(|_| MemoryLog::default()).collect();
        let cfg = TrainConfig { seeds: seeds.to_vec(), steps: 5, batch: 8, log_every: 1, eval_every: 100, ..TrainConfig::default() };
        let fitted = {
            let mut recs: Vec<Box<dyn Recorder + '_>> = logs.iter_mut().map(|l| Box::new(l) as Box<dyn Recorder>).collect();
            fit(&mut m, &cfg, &[None; 3], &mut recs, &|| {}).expect("two members train on")
        };
        assert_eq!(fitted.diverged[1].map(|d| d.step), Some(0));
        assert!(fitted.diverged[0].is_none() && fitted.diverged[2].is_none());
        assert_eq!((logs[0].0.len(), logs[1].0.len(), logs[2].0.len()), (5, 0, 5), "the frozen member logs nothing more");
        let same = |k: usize| {
            before[k]
                .iter()
                .zip(m.member_weights(k))
                .all(|((_, a), (_, b))| a.nan_to_num(0.0, None, None).equal(&b.nan_to_num(0.0, None, None)))
        };
        assert!(same(1), "the frozen member keeps its weights");
        assert!(!same(0) && !same(2), "the others train");
    }

    /// The batched step (what a GPU runs, every decision on the device) on CPU tensors.
    fn batched(m: &mut Members) {
        m.workspaces.clear();
        m.shares = 1;
    }

    #[test]
    fn the_batched_step_trains_as_the_cpu_step_and_freezes_on_the_device() {
        let seeds = [0u64, 1, 2];
        let make = || small_members(&seeds, 1);
        let (mut cpu, mut dev) = (make(), make());
        batched(&mut dev);
        let bias = cpu.layout.index("ae.dec.l4.bias");
        for m in [&mut cpu, &mut dev] {
            tch::no_grad(|| {
                let _ = m.params[bias].get(1).fill_(f64::NAN);
            });
        }
        let mut rngs: Vec<crate::util::rng::Rng> = seeds.iter().map(|&s| crate::util::rng::Rng::new(s)).collect();
        for step in 0..4 {
            let batches: Vec<Option<Vec<i64>>> = rngs.iter_mut().map(|r| Some(r.distinct(40, 8))).collect();
            cpu.step(step, &batches).unwrap();
            dev.step(step, &batches).unwrap();
        }
        assert_eq!(dev.diverged()[1].map(|d| d.step), Some(0), "frozen at step 0, found on the device");
        assert!(dev.diverged()[0].is_none() && dev.diverged()[2].is_none());
        for k in [0, 2] {
            let (a, b) = (cpu.last()[k], dev.last()[k]);
            assert!((a.loss - b.loss).abs() < 1e-5 * a.loss, "member {k}: loss {} vs {}", a.loss, b.loss);
            for ((name, x), (_, y)) in cpu.member_weights(k).iter().zip(dev.member_weights(k)) {
                let err = (x - &y).abs().max().double_value(&[]);
                assert!(err < 1e-5, "member {k} {name}: {err}");
            }
        }
    }
}
