//! K members of a family that has no hand-written step, trained through libtorch's
//! autograd: each member a [`Model`] with its own Adam, stepped on its own batch. Slower
//! than [`super::members::Members`] (which the paper's families use), but any family that
//! declares its parameters and its `dz/dt` ([`crate::model::Dynamics`]) trains here, with
//! the same loop, logs, checkpoints, resume and ensembles.

use std::collections::HashMap;

use tch::{Device, Kind, Tensor};

use super::adam::{Adam, AdamConfig};
use super::members::PixelMembers;
use super::{per_sample_losses, Divergence, Objective, StepLoss};
use crate::choice::Choice;
use crate::dataset::Pairs;
use crate::error::{Error, Result};
use crate::model::{FieldKind, LossWeights, Model, ModelConfig};

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
    /// Members drawn from `seeds` as single models of those seeds are, on `device`.
    pub fn new(
        config: ModelConfig,
        kind: FieldKind,
        seeds: &[u64],
        train: Pairs,
        test: Pairs,
        adam: AdamConfig,
        loss: LossWeights,
        device: Device,
    ) -> Self {
        let models: Vec<Model> = seeds.iter().map(|&s| Model::new(config, kind, s, device)).collect();
        let adams = models.iter().map(|m| Adam::new(m.named_parameters(), adam)).collect();
        let k = seeds.len();
        AutogradMembers {
            kind,
            models,
            adams,
            train,
            test,
            loss,
            diverged: vec![None; k],
            last: vec![StepLoss { loss: f64::NAN, terms: None }; k],
        }
    }
}

fn mean_of(t: &Tensor) -> f64 {
    t.mean(Kind::Double).double_value(&[])
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
            adam.zero_grad();
            loss.backward();
            let value = loss.double_value(&[]);
            self.last[k] = StepLoss { loss: value, terms: Some([mean_of(&terms.ae), mean_of(&terms.cc), mean_of(&terms.hnn)]) };
            if value.is_finite() {
                adam.step();
            } else {
                self.diverged[k] = Some(Divergence { step, loss: value });
            }
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
        crate::run::load_parameters(&self.models[k].named_parameters(), tensors, "model.", file, input_dim)?;
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
