//! K members of a family trained through libtorch's autograd: each member a [`Model`] with
//! its own Adam, stepped on its own batch of windows. Every family trains here when it is
//! trained over rollouts (`--horizon`, `--integrator`, `--lr-schedule`), and so does any
//! family without a hand-written step: the same loop, logs, checkpoints, resume and
//! ensembles as [`super::members::Members`] (the paper's training of the paper's families).
//!
//! A window is `horizon + 1` consecutive frame pairs; its loss rolls the latent of the
//! first pair out through the family's integrator and compares every predicted latent and
//! decoded frame with the true ones ([`Model::window_terms`]). The rollout grows from 1
//! frame to the horizon over the first `grow` of the steps, and the learning rate follows
//! the schedule.

use std::collections::HashMap;

use rayon::prelude::*;
use tch::{Kind, Tensor};

use super::stack::{PixelMembers, Stack};
use super::{adam_step_if_finite, Divergence, Objective, StepLoss, TrainConfig};
use crate::dataset::Windows;
use crate::error::{Error, Result};
use crate::model::{FieldKind, Handles, LossWeights, Model};
use crate::runtime::ThreadChoice;
use crate::util::adam::Adam;
use crate::util::choice::Choice;

/// Windows per chunk when computing losses without training (bounds the memory): 200 for
/// the MLPs, 16 for convolutions (whose activations over a window are 100 times larger).
fn eval_chunk(arch: &crate::model::Architecture) -> usize {
    if arch.has_convolutions() {
        16
    } else {
        200
    }
}

/// One share of one member's batch: the handles it computes with and its windows.
struct Unit<'a> {
    member: usize,
    net: &'a mut Handles,
    idx: &'a [i64],
    /// The member's whole batch.
    batch: usize,
    data: Windows,
}

/// Shares each member's batch is computed in, side by side (fixed by the settings, never by
/// the thread count: the two shares' gradients add in either order to the same bits).
const SHARES: usize = 2;

pub struct AutogradMembers {
    kind: FieldKind,
    models: Vec<Model>,
    adams: Vec<Adam>,
    train: Windows,
    test: Windows,
    /// The run's settings: the loss, the rollout, the rate and its schedule.
    run: TrainConfig,
    /// The step trained with (the family's where the run names none).
    integrator: crate::integrate::Integrator,
    diverged: Vec<Option<Divergence>>,
    last: Vec<StepLoss>,
    threads: ThreadChoice,
    /// Each member's handles, one per share.
    nets: Vec<Vec<Handles>>,
}

impl AutogradMembers {
    /// The members of `stack` (its batch is the loop's), `train` and `test` on its device;
    /// on up to `threads` worker threads, a member each.
    pub fn new(stack: &Stack, train: Windows, test: Windows, threads: ThreadChoice) -> Self {
        let models: Vec<Model> = stack.seeds().iter().map(|&s| Model::new(stack.model, stack.kind, s, stack.device)).collect();
        let adams = models.iter().map(|m| Adam::new(m.named_parameters(), stack.train.adam)).collect();
        let nets = models.iter().map(|m| (0..SHARES).map(|_| m.handles()).collect()).collect();
        let k = stack.seeds().len();
        AutogradMembers {
            kind: stack.kind,
            models,
            adams,
            train,
            test,
            run: stack.train.clone(),
            integrator: stack.train.integrator_for(stack.kind),
            diverged: vec![None; k],
            last: vec![StepLoss { loss: f64::NAN, terms: None, roll: None }; k],
            threads,
            nets,
        }
    }

    /// Per-window total loss of every `every`-th window of `windows` under member `k`, at the
    /// full horizon, in chunks, the member's [`SHARES`] halves of them side by side on the
    /// workers (fixed by the settings: the same losses on any thread count); nothing is
    /// trained.
    fn window_losses(&mut self, k: usize, windows: &Windows, every: usize) -> Vec<f64> {
        let all: Vec<i64> = (0..windows.len() as i64).step_by(every).collect();
        let chunk = eval_chunk(&self.models[k].config.arch);
        let per = all.len().div_ceil(SHARES).max(1);
        let (loss, horizon, integrator) = (self.run.loss, self.run.horizon as i64, self.integrator);
        let parts: Vec<(&mut Handles, &[i64], Windows)> =
            self.nets[k].iter_mut().zip(all.chunks(per)).map(|(net, idx)| (net, idx, windows.shallow())).collect();
        let losses: Vec<Vec<f64>> = self.threads.run(|| {
            parts
                .into_par_iter()
                .map(|(net, idx, windows)| {
                    let mut out = Vec::with_capacity(idx.len());
                    for idx in idx.chunks(chunk) {
                        let terms = net.window_terms(&windows.gather(idx), horizon, integrator, &loss, false);
                        let total = terms.total(&loss).detach().to_device(tch::Device::Cpu).to_kind(Kind::Double);
                        out.extend(Vec::<f64>::try_from(total).expect("1-D loss"));
                    }
                    out
                })
                .collect()
        });
        losses.concat()
    }
}

/// The most test windows of a convolutional model the loss logged during training reads
/// (evenly spaced; the final losses read them all).
const CONV_TEST_WINDOWS: usize = 500;

impl AutogradMembers {
    /// Every how many test windows the logged test loss reads: all for the MLPs, at most
    /// [`CONV_TEST_WINDOWS`] for convolutions.
    fn test_stride(&self) -> usize {
        if self.models[0].config.arch.has_convolutions() {
            self.test.len().div_ceil(CONV_TEST_WINDOWS).max(1)
        } else {
            1
        }
    }
}

impl Objective for AutogradMembers {
    fn name(&self) -> &'static str {
        self.kind.name()
    }
    fn members(&self) -> usize {
        self.models.len()
    }
    fn train_len(&self) -> usize {
        self.train.len()
    }
    /// Each member's batch is computed in [`SHARES`] shares side by side on the worker
    /// threads, each share on one libtorch thread, their gradients accumulating into the
    /// member's parameters; then each member's Adam steps. A step is the same computation on
    /// any thread count.
    fn step(&mut self, step: usize, batches: &[Option<Vec<i64>>]) -> Result<()> {
        let started = std::time::Instant::now();
        let r = &self.run;
        let ((k, pixels), lr) = (r.rollout_at(step), r.schedule.lr(r.adam.lr, step, r.steps));
        let (k, integrator) = (k as i64, self.integrator);
        let with_roll = pixels && r.loss.roll != 0.0;
        let loss_w = LossWeights { roll: if with_roll { r.loss.roll } else { 0.0 }, ..r.loss };
        let n = self.train.len() as i64;
        let all: Vec<i64> = (0..n).collect();
        let live: Vec<usize> = (0..self.models.len()).filter(|&m| self.diverged[m].is_none()).collect();
        for &m in &live {
            self.adams[m].zero_grad();
            self.adams[m].set_lr(lr);
        }
        let mut units = vec![];
        for (m, nets) in self.nets.iter_mut().enumerate().filter(|(m, _)| self.diverged[*m].is_none()) {
            let idx: &[i64] = batches[m].as_deref().unwrap_or(&all);
            let per = idx.len().div_ceil(SHARES);
            for (s, net) in nets.iter_mut().enumerate() {
                let part = &idx[(s * per).min(idx.len())..((s + 1) * per).min(idx.len())];
                if !part.is_empty() {
                    units.push(Unit { member: m, net, idx: part, batch: idx.len(), data: self.train.shallow() });
                }
            }
        }
        let shares: Vec<(usize, [f64; 5])> = self.threads.run(|| {
            units
                .into_par_iter()
                .map(|u| {
                    let terms = u.net.window_terms(&u.data.gather(u.idx), k, integrator, &loss_w, true);
                    let b = u.batch as f64;
                    let loss = terms.total(&loss_w).sum(Kind::Float) / b;
                    loss.backward();
                    let mean = |t: &Tensor| t.sum(Kind::Double).double_value(&[]) / b;
                    (u.member, [loss.double_value(&[]), mean(&terms.ae), mean(&terms.cc), mean(&terms.latent), mean(&terms.roll)])
                })
                .collect()
        });
        for &m in &live {
            let mut t = [0.0f64; 5];
            for (_, v) in shares.iter().filter(|(x, _)| *x == m) {
                t.iter_mut().zip(v).for_each(|(a, b)| *a += b);
            }
            let loss = t[0];
            self.last[m] = StepLoss { loss, terms: Some([t[1], t[2], t[3]]), roll: with_roll.then_some(t[4]) };
            self.diverged[m] = adam_step_if_finite(&mut self.adams[m], loss, step);
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
        let (test, every) = (self.test.shallow(), self.test_stride());
        (0..self.models.len())
            .map(|k| {
                let l = self.window_losses(k, &test, every);
                l.iter().sum::<f64>() / l.len().max(1) as f64
            })
            .collect()
    }
    fn checkpoint_tensors(&self, k: usize) -> Vec<(String, Tensor)> {
        let mut t: Vec<(String, Tensor)> = self.member_weights(k).into_iter().map(|(n, p)| (format!("model.{n}"), p)).collect();
        t.extend(self.adams[k].state());
        t
    }
}

impl PixelMembers for AutogradMembers {
    fn member_weights(&self, k: usize) -> Vec<(String, Tensor)> {
        self.models[k].named_parameters().into_iter().map(|(n, p)| (n, p.detach())).collect()
    }
    fn restore(&mut self, k: usize, tensors: &HashMap<String, Tensor>, file: &std::path::Path) -> Result<()> {
        let input_dim = self.train.pairs.size()[1];
        crate::model::load_parameters(&self.models[k].named_parameters(), tensors, "model.", file, input_dim)?;
        let device = self.train.pairs.device();
        self.adams[k].load_state(&|n: &str| tensors.get(n).map(|t| t.to_device(device))).map_err(Error::optim(file))
    }
    fn freeze(&mut self, k: usize, at: Divergence) {
        self.diverged[k] = Some(at);
    }
    fn final_losses(&mut self) -> (Vec<Vec<f64>>, Vec<Vec<f64>>) {
        let k = self.models.len();
        let (train, test) = (self.train.shallow(), self.test.shallow());
        ((0..k).map(|m| self.window_losses(m, &train, 1)).collect(), (0..k).map(|m| self.window_losses(m, &test, 1)).collect())
    }
    fn use_cuda_graphs(&mut self, _on: bool) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::ThreadChoice;
    use crate::training::members::Members;
    use crate::training::tests::{pairs, small_stack, windows};

    fn autograd(seeds: &[u64]) -> AutogradMembers {
        AutogradMembers::new(&small_stack(seeds), windows(40, 7), windows(10, 9), ThreadChoice::fixed(2))
    }

    fn batches(rngs: &mut [crate::util::rng::Rng]) -> Vec<Option<Vec<i64>>> {
        rngs.iter_mut().map(|r| Some(r.distinct(40, 8))).collect()
    }

    #[test]
    fn autograd_members_train_as_the_hand_written_step_does() {
        // The same family through both objectives: the seam gives a family without a fast
        // path the same training (to f32 rounding) as the paper's families get.
        let seeds = [0u64, 3];
        let mut slow = autograd(&seeds);
        let mut fast = Members::new(&small_stack(&seeds), pairs(40, 7), pairs(10, 9), ThreadChoice::fixed(1));
        let mut rngs: Vec<crate::util::rng::Rng> = seeds.iter().map(|&s| crate::util::rng::Rng::new(s)).collect();
        for step in 0..6 {
            let b = batches(&mut rngs);
            slow.step(step, &b).unwrap();
            fast.step(step, &b).unwrap();
        }
        for k in 0..2 {
            let (a, b) = (slow.last()[k], fast.last()[k]);
            assert!((a.loss - b.loss).abs() < 1e-5 * a.loss, "member {k}: loss {} vs {}", a.loss, b.loss);
            for ((name, x), (other, y)) in slow.member_weights(k).iter().zip(fast.member_weights(k)) {
                assert_eq!(name, &other);
                let err = (x - &y).abs().max().double_value(&[]);
                assert!(err < 1e-4, "member {k} {name}: {err}");
            }
            let moved =
                (&slow.member_weights(k)[0].1 - autograd(&seeds).member_weights(k)[0].1.shallow_clone()).abs().max().double_value(&[]);
            assert!(moved > 1e-3, "the weights moved");
        }
        let (ls, lf) = (slow.test_losses(), fast.test_losses());
        assert!((ls[0] - lf[0]).abs() < 1e-4 * lf[0], "test losses {ls:?} vs {lf:?}");
    }

    #[test]
    fn a_member_trains_the_same_beside_others_on_any_thread_count() {
        // Members step side by side on the workers, each on one libtorch thread: member 1 of
        // an ensemble on 2 threads is, bit for bit, the single model of its seed on 1 thread.
        let mut stack = small_stack(&[0, 3]);
        stack.train.integrator = Some(crate::integrate::Integrator::Rk4);
        stack.train.steps = 6;
        let mut two = AutogradMembers::new(&stack, windows(40, 7), windows(10, 9), ThreadChoice::fixed(2));
        let mut one = AutogradMembers::new(
            &Stack { train: TrainConfig { seeds: vec![3], ..stack.train.clone() }, ..stack.clone() },
            windows(40, 7),
            windows(10, 9),
            ThreadChoice::fixed(1),
        );
        let mut rngs: Vec<crate::util::rng::Rng> = [0u64, 3].iter().map(|&s| crate::util::rng::Rng::new(s)).collect();
        for step in 0..4 {
            let b = batches(&mut rngs);
            two.step(step, &b).unwrap();
            one.step(step, &b[1..]).unwrap();
        }
        for ((name, a), (_, b)) in two.member_weights(1).iter().zip(one.member_weights(0)) {
            assert!(a.equal(&b), "{name} differs");
        }
    }

    #[test]
    fn the_rollout_warms_up_then_grows_to_its_horizon() {
        let r = TrainConfig { horizon: 5, grow: 0.4, steps: 100, ..TrainConfig::default() };
        // 40 steps of warm-up and growth: 20 of the paper's one frame, then 1 -> 5 frames.
        let at: Vec<(usize, bool)> = [0, 19, 20, 24, 25, 30, 39, 40, 99].iter().map(|&s| r.rollout_at(s)).collect();
        assert_eq!(at, [(1, false), (1, false), (1, true), (1, true), (2, true), (3, true), (4, true), (5, true), (5, true)]);
        assert_eq!(
            TrainConfig { horizon: 5, steps: 100, ..TrainConfig::default() }.rollout_at(0),
            (5, true),
            "no growth: the whole horizon"
        );
    }

    #[test]
    fn the_cosine_schedule_runs_from_the_rate_to_its_floor() {
        use crate::training::{Schedule, COSINE_FLOOR};
        assert_eq!(Schedule::Constant.lr(1e-3, 50, 100), 1e-3);
        assert_eq!(Schedule::Cosine.lr(1e-3, 0, 101), 1e-3);
        assert!((Schedule::Cosine.lr(1e-3, 50, 101) - 1e-3 * (COSINE_FLOOR + (1.0 - COSINE_FLOOR) * 0.5)).abs() < 1e-15);
        assert!((Schedule::Cosine.lr(1e-3, 100, 101) - 1e-3 * COSINE_FLOOR).abs() < 1e-15);
    }

    #[test]
    fn a_restored_checkpoint_continues_as_if_never_stopped() {
        // Weights and Adam's state (moments, step count) go into the checkpoint and come back.
        let seeds = [5u64];
        let (mut whole, mut first) = (autograd(&seeds), autograd(&seeds));
        let mut rngs = vec![crate::util::rng::Rng::new(5)];
        let plan: Vec<_> = (0..6).map(|_| batches(&mut rngs)).collect();
        for (s, b) in plan.iter().enumerate() {
            whole.step(s, b).unwrap();
        }
        for (s, b) in plan[..3].iter().enumerate() {
            first.step(s, b).unwrap();
        }
        let saved: HashMap<String, Tensor> = first.checkpoint_tensors(0).into_iter().map(|(n, t)| (n, t.copy())).collect();
        assert!(saved.contains_key("adam.step") && saved.contains_key("adam.m.field.l1.weight"));
        let mut resumed = autograd(&seeds);
        resumed.restore(0, &saved, std::path::Path::new("ck.safetensors")).unwrap();
        for (s, b) in plan.iter().enumerate().skip(3) {
            resumed.step(s, b).unwrap();
        }
        for ((name, a), (_, b)) in whole.member_weights(0).iter().zip(resumed.member_weights(0)) {
            assert!(a.equal(&b), "{name} differs after resuming");
        }
        let mut missing: HashMap<String, Tensor> = saved.iter().map(|(n, t)| (n.clone(), t.shallow_clone())).collect();
        missing.remove("adam.step");
        let e = autograd(&seeds).restore(0, &missing, std::path::Path::new("ck.safetensors")).unwrap_err().to_string();
        assert!(e.contains("ck.safetensors") && e.contains("adam.step"), "{e}");
    }
}
