//! K members of a family that has no hand-written step, trained through libtorch's
//! autograd: each member a [`Model`] with its own Adam, stepped on its own batch. Slower
//! than [`super::members::Members`] (which the paper's families use), but any family that
//! declares its parameters and its `dz/dt` ([`crate::model::Dynamics`]) trains here, with
//! the same loop, logs, checkpoints, resume and ensembles.

use std::collections::HashMap;

use tch::{Kind, Tensor};

use super::adam::Adam;
use super::members::{PixelMembers, Stack};
use super::{autograd_update, per_sample_losses, Divergence, Objective, StepLoss};
use crate::choice::Choice;
use crate::dataset::Pairs;
use crate::error::{Error, Result};
use crate::model::{FieldKind, LossWeights, Model};

pub struct AutogradMembers {
    kind: FieldKind,
    models: Vec<Model>,
    adams: Vec<Adam>,
    train: Pairs,
    test: Pairs,
    loss: LossWeights,
    diverged: Vec<Option<Divergence>>,
    last: Vec<StepLoss>,
}

impl AutogradMembers {
    /// The members of `stack` (its batch is the loop's), `train` and `test` on its device.
    pub fn new(stack: &Stack, train: Pairs, test: Pairs) -> Self {
        let models: Vec<Model> = stack.seeds.iter().map(|&s| Model::new(stack.config, stack.kind, s, stack.device)).collect();
        let adams = models.iter().map(|m| Adam::new(m.named_parameters(), stack.adam)).collect();
        let k = stack.seeds.len();
        AutogradMembers {
            kind: stack.kind,
            models,
            adams,
            train,
            test,
            loss: stack.loss,
            diverged: vec![None; k],
            last: vec![StepLoss { loss: f64::NAN, terms: None }; k],
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
        self.train.x.size()[0] as usize
    }
    fn step(&mut self, step: usize, batches: &[Option<Vec<i64>>]) -> Result<()> {
        for (k, (model, adam)) in self.models.iter().zip(self.adams.iter_mut()).enumerate() {
            if self.diverged[k].is_some() {
                continue;
            }
            let (x, xn) = match &batches[k] {
                Some(b) => {
                    let idx = Tensor::from_slice(b).to_device(self.train.x.device());
                    (self.train.x.index_select(0, &idx), self.train.x_next.index_select(0, &idx))
                }
                None => (self.train.x.shallow_clone(), self.train.x_next.shallow_clone()),
            };
            let terms = model.loss_terms(&x, &xn, true);
            let loss = terms.total(&self.loss).mean(None::<Kind>);
            (self.last[k], self.diverged[k]) = autograd_update(adam, &loss, Some(&terms), step);
        }
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
        t.extend(self.adams[k].state());
        t
    }
}

impl PixelMembers for AutogradMembers {
    fn member_weights(&self, k: usize) -> Vec<(String, Tensor)> {
        self.models[k].named_parameters().into_iter().map(|(n, p)| (n, p.detach())).collect()
    }
    fn restore(&mut self, k: usize, tensors: &HashMap<String, Tensor>, file: &std::path::Path) -> Result<()> {
        let input_dim = self.train.x.size()[1];
        crate::model::load_parameters(&self.models[k].named_parameters(), tensors, "model.", file, input_dim)?;
        let device = self.train.x.device();
        self.adams[k]
            .load_state(&|n: &str| tensors.get(n).map(|t| t.to_device(device)))
            .map_err(|source| Error::Optim { path: file.to_path_buf(), source })
    }
    fn freeze(&mut self, k: usize, at: Divergence) {
        self.diverged[k] = Some(at);
    }
    fn per_sample_losses(&mut self, pairs: &Pairs) -> Vec<Vec<f64>> {
        self.models.iter().map(|m| per_sample_losses(m, pairs, &self.loss)).collect()
    }
    fn data(&self) -> (&Pairs, &Pairs) {
        (&self.train, &self.test)
    }
    fn use_cuda_graphs(&mut self, _on: bool) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::ThreadChoice;
    use crate::training::members::Members;
    use crate::training::tests::{pairs, small_stack};

    fn autograd(seeds: &[u64]) -> AutogradMembers {
        AutogradMembers::new(&small_stack(seeds), pairs(40, 7), pairs(10, 9))
    }

    fn batches(rngs: &mut [crate::rng::Rng]) -> Vec<Option<Vec<i64>>> {
        rngs.iter_mut().map(|r| Some(r.distinct(40, 8))).collect()
    }

    #[test]
    fn autograd_members_train_as_the_hand_written_step_does() {
        // The same family through both objectives: the seam gives a family without a fast
        // path the same training (to f32 rounding) as the paper's families get.
        let seeds = [0u64, 3];
        let mut slow = autograd(&seeds);
        let mut fast = Members::new(&small_stack(&seeds), pairs(40, 7), pairs(10, 9), ThreadChoice::fixed(1));
        let mut rngs: Vec<crate::rng::Rng> = seeds.iter().map(|&s| crate::rng::Rng::new(s)).collect();
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
    fn a_restored_checkpoint_continues_as_if_never_stopped() {
        // Weights and Adam's state (moments, step count) go into the checkpoint and come back.
        let seeds = [5u64];
        let (mut whole, mut first) = (autograd(&seeds), autograd(&seeds));
        let mut rngs = vec![crate::rng::Rng::new(5)];
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
