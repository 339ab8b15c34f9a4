//! The pixel task's training objective: K members of one model (a seed ensemble; K = 1 for
//! a single model) stacked and trained at once with the hand-written gradient of
//! [`crate::stacked`] and one Adam over the stacked weights.
//!
//! On the CPU a step is split into work units, each one member's gradient on one half of
//! its batch ([`crate::cpu_step`]), computed by one worker thread; Adam then adds the halves.
//! The units are fixed by the run's settings, never by the thread count, so the results are
//! the same on 1 thread or 16, under any load, and member k of an ensemble computes, bit for
//! bit, what the single model of seed k computes. How many threads work is chosen by
//! [`crate::device::ThreadChoice`] (measured as training goes). On a GPU all members run
//! as one batched computation.

use rayon::prelude::*;
use tch::{Device, Kind, Tensor};

use crate::choice::Choice;
use crate::cpu_step::{Dims, Params, Workspace};
use crate::dataset::Pairs;
use crate::device::ThreadChoice;
use crate::error::{Error, Result};
use crate::model::{FieldKind, LossWeights, ModelConfig};
use crate::optim::{Adam, AdamConfig};
use crate::stacked::{self, parameter_names};
use crate::train::{Divergence, Objective, StepLoss};

/// Samples per chunk when evaluating (bounds the activations' memory).
const EVAL_CHUNK: i64 = 1000;

/// A step's unit of work on the CPU: one member on its batch, or on one share of it.
struct Job<'a> {
    member: usize,
    workspace: &'a mut Workspace,
    idx: &'a [i64],
}

/// K members of one model, their optimiser, the data they train on, and their state.
pub struct Members {
    kind: FieldKind,
    params: Vec<Tensor>,
    adam: Adam,
    train: Pairs,
    test: Pairs,
    loss: LossWeights,
    batch: usize,
    /// Parts each member's batch is computed in (2 on the CPU, 1 on a GPU).
    shards: usize,
    device: Device,
    threads: ThreadChoice,
    live: Vec<bool>,
    diverged: Vec<Option<Divergence>>,
    last: Vec<StepLoss>,
    /// The CPU step's buffers: one workspace per member and share (`member * shards + s`).
    workspaces: Vec<Workspace>,
    layout: Vec<(usize, usize)>,
}

impl Members {
    /// Members drawn from `seeds` as single models of those seeds would be, on `device`;
    /// `train` and `test` on `device` too. On the CPU up to `threads` worker threads.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        config: ModelConfig,
        kind: FieldKind,
        seeds: &[u64],
        train: Pairs,
        test: Pairs,
        adam: AdamConfig,
        loss: LossWeights,
        batch: usize,
        device: Device,
        threads: ThreadChoice,
    ) -> Self {
        let params = stacked::initial_weights(config, kind, seeds, device);
        let named: Vec<(String, Tensor)> = parameter_names(kind).into_iter().zip(params.iter().map(Tensor::shallow_clone)).collect();
        let k = seeds.len();
        // On the CPU every member's batch is computed in two halves, so that a single model
        // keeps two threads busy and a member of an ensemble computes exactly what the single
        // model of its seed computes.
        let shards = if device == Device::Cpu { 2.min(batch) } else { 1 };
        let dims = Dims::new(&config, kind);
        let per = batch.div_ceil(shards);
        let workspaces = if device == Device::Cpu {
            (0..k).flat_map(|_| (0..shards).map(|s| Workspace::new(dims, per.min(batch - s * per)))).collect()
        } else {
            vec![]
        };
        Members {
            kind,
            params,
            adam: Adam::new(named, adam),
            train,
            test,
            loss,
            batch,
            shards,
            device,
            threads,
            live: vec![true; k],
            diverged: vec![None; k],
            last: vec![StepLoss { loss: f64::NAN, terms: None }; k],
            workspaces,
            layout: dims.layout(),
        }
    }

    pub fn kind(&self) -> FieldKind {
        self.kind
    }

    /// Member `k`'s weights, named as a single model's (`ae.enc.l1.weight`, ...).
    pub fn member_weights(&self, k: usize) -> Vec<(String, Tensor)> {
        parameter_names(self.kind).into_iter().zip(self.params.iter().map(|p| p.get(k as i64).detach())).collect()
    }

    /// Restores member `k` from a checkpoint's tensors (`model.NAME`, `adam.*`); `file`
    /// names the checkpoint for errors.
    pub fn restore(&mut self, k: usize, get: &dyn Fn(&str) -> Option<Tensor>, file: &std::path::Path) -> Result<()> {
        for (name, p) in parameter_names(self.kind).iter().zip(&self.params) {
            let key = format!("model.{name}");
            let t = get(&key).ok_or_else(|| Error::input(file, format!("lacks '{key}': weights of another architecture or model kind")))?;
            let mut slot = p.get(k as i64);
            if t.size() != slot.size() {
                return Err(Error::input(
                    file,
                    format!(
                        "'{key}' has shape {:?} but the model needs {:?}: weights of another architecture or frame size",
                        t.size(),
                        slot.size()
                    ),
                ));
            }
            tch::no_grad(|| slot.copy_(&t.to_device(self.device)));
        }
        let device = self.device;
        self.adam
            .load_member_state(k as i64, &|n: &str| get(n).map(|t| t.to_device(device)))
            .map_err(|source| Error::Optim { path: file.to_path_buf(), source })
    }

    /// Marks member `k` as frozen before training continues (it diverged in an earlier run).
    pub fn freeze(&mut self, k: usize, at: Divergence) {
        self.live[k] = false;
        self.diverged[k] = Some(at);
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
        let (shards, live) = (self.shards, &self.live);
        let mut jobs = vec![];
        for (i, ws) in self.workspaces.iter_mut().enumerate() {
            let (m, s) = (i / shards, i % shards);
            if live[m] {
                let per = batches[m].len().div_ceil(shards);
                jobs.push(Job { member: m, workspace: ws, idx: &batches[m][s * per..((s + 1) * per).min(batches[m].len())] });
            }
        }
        let (scale, w) = (1.0 / self.batch as f32, self.loss);
        let terms: Vec<(usize, [f64; 3])> = self.threads.run(|| {
            jobs.into_par_iter()
                .map(|job| {
                    let ws = job.workspace;
                    assert_eq!(ws.n, job.idx.len(), "the workspace fits the batch share");
                    // SAFETY: x and x_next are contiguous CPU f32 [n_train, d] tensors held by
                    // self for the whole step; the indices are below n_train.
                    let rows = |base: usize, i: i64| unsafe { std::slice::from_raw_parts((base as *const f32).add(i as usize * d), d) };
                    let x2 = ws.x2.as_mut_slice();
                    let n = job.idx.len();
                    for (r, &i) in job.idx.iter().enumerate() {
                        x2[r * d..(r + 1) * d].copy_from_slice(rows(x, i));
                        x2[(n + r) * d..(n + r + 1) * d].copy_from_slice(rows(x_next, i));
                    }
                    // SAFETY: member m's slice of each contiguous CPU f32 parameter, which
                    // nothing writes while the units run.
                    let p: Params = std::array::from_fn(|j| unsafe {
                        std::slice::from_raw_parts((bases[j].0 as *const f32).add(job.member * bases[j].1), bases[j].1)
                    });
                    (job.member, ws.loss_gradient(&p, scale, &w))
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
            let loss = w.ae * terms[0] + w.cc * terms[1] + w.hnn * terms[2];
            self.last[m] = StepLoss { loss, terms: Some(terms) };
            if loss.is_finite() {
                updates.push((m, self.workspaces[m * shards..(m + 1) * shards].iter().map(|ws| ws.grad.as_slice()).collect()));
            } else {
                self.live[m] = false;
                self.diverged[m] = Some(Divergence { step, loss });
            }
        }
        let (adam, layout) = (&mut self.adam, &self.layout);
        self.threads.run(move || adam.update_flat(k, layout, &updates));
    }

    fn step_batched(&mut self, step: usize, batches: &[Option<Vec<i64>>]) {
        let k = self.members_count() as i64;
        let n_train = self.train.x.size()[0];
        let flat: Vec<i64> = batches.iter().flat_map(|b| b.clone().unwrap_or_else(|| (0..n_train).collect())).collect();
        let idx = Tensor::from_slice(&flat).to_device(self.device);
        let n = flat.len() as i64 / k;
        let x = self.train.x.index_select(0, &idx).view([k, n, -1]);
        let xn = self.train.x_next.index_select(0, &idx).view([k, n, -1]);
        let x2 = Tensor::cat(&[x, xn], 1);
        let (grads, terms) = stacked::loss_gradient(&self.params, self.kind, &x2, 1.0 / self.batch as f64, &self.loss);
        let b = self.batch as f64;
        let stacked_terms = Tensor::stack(&[terms.ae, terms.cc, terms.hnn], 1).to_device(Device::Cpu).to_kind(Kind::Double) / b;
        let rows: Vec<f64> = Vec::try_from(stacked_terms.view([-1])).expect("terms");
        let w = self.loss;
        for (m, t) in rows.chunks(3).enumerate() {
            let loss = w.ae * t[0] + w.cc * t[1] + w.hnn * t[2];
            self.last[m] = StepLoss { loss, terms: Some([t[0], t[1], t[2]]) };
            if self.live[m] && !loss.is_finite() {
                self.live[m] = false;
                self.diverged[m] = Some(Divergence { step, loss });
            }
        }
        let live = self.live.clone();
        self.adam.update(&grads, Some(&live));
    }

    /// Every member's per-sample loss over `pairs` (no gradient), `[K][n]`.
    pub fn per_sample_losses(&mut self, pairs: &Pairs) -> Vec<Vec<f64>> {
        let k = self.members_count();
        let n = pairs.x.size()[0];
        let chunks: Vec<(i64, i64)> = (0..n).step_by(EVAL_CHUNK as usize).map(|s| (s, EVAL_CHUNK.min(n - s))).collect();
        let (kind, w) = (self.kind, self.loss);
        let mut out = vec![Vec::with_capacity(n as usize); k];
        if self.device == Device::Cpu {
            let jobs: Vec<(usize, Vec<Tensor>, Tensor)> = (0..k)
                .flat_map(|m| chunks.iter().map(move |&(s, len)| (m, s, len)).collect::<Vec<_>>())
                .map(|(m, s, len)| {
                    let x2 = Tensor::cat(&[pairs.x.narrow(0, s, len), pairs.x_next.narrow(0, s, len)], 0).unsqueeze(0);
                    (m, self.params.iter().map(|p| p.narrow(0, m as i64, 1)).collect(), x2)
                })
                .collect();
            let results: Vec<(usize, Vec<f64>)> = self.threads.run(|| {
                jobs.into_par_iter()
                    .map(|(m, params, x2)| {
                        let l = tch::no_grad(|| stacked::per_sample_losses(&params, kind, &x2, &w));
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
                let l =
                    tch::no_grad(|| stacked::per_sample_losses(&self.params, kind, &x2, &w)).to_device(Device::Cpu).to_kind(Kind::Double);
                for (m, row) in out.iter_mut().enumerate() {
                    row.extend(Vec::<f64>::try_from(l.get(m as i64)).expect("losses"));
                }
            }
        }
        out
    }

    /// The training and test pairs (for the final losses).
    pub fn data(&self) -> (&Pairs, &Pairs) {
        (&self.train, &self.test)
    }

    /// Which members are still training.
    pub fn live(&self) -> &[bool] {
        &self.live
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
        if self.device == Device::Cpu {
            self.step_cpu(step, batches);
        } else {
            self.step_batched(step, batches);
        }
        self.threads.observe(started.elapsed());
        Ok(())
    }
    fn last(&mut self) -> Vec<StepLoss> {
        self.last.clone()
    }
    fn diverged(&mut self) -> Vec<Option<Divergence>> {
        self.diverged.clone()
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
/// of `batch` pairs (on the CPU only `threads` members compute at once).
pub fn memory_estimate(config: &ModelConfig, kind: FieldKind, k: usize, batch: usize, device: Device, threads: usize) -> u64 {
    let params: i64 = stacked::initial_weights_shapes(config, kind).iter().map(|s| s.iter().product::<i64>()).sum();
    let at_once = if device == Device::Cpu { k.min(threads.max(1)) } else { k } as u64;
    let activations = batch as u64 * (6 * config.input_dim as u64 + 30 * config.ae_hidden as u64 + 12 * config.field_hidden as u64);
    4 * (4 * params as u64 * k as u64 + activations * at_once)
}
