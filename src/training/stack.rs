//! What trains K members of one family, whichever way they train: their settings
//! ([`Stack`]) and what the loop asks of them ([`PixelMembers`]). The
//! hand-written step ([`super::members`]) and autograd ([`super::autograd_members`]) both
//! implement it; [`super::members_for`] picks one.

use std::collections::HashMap;
use tch::{Device, Tensor};

use crate::error::Result;
use crate::model::{FieldKind, ModelConfig};
use crate::training::{Divergence, Objective, TrainConfig};

/// K members of one family: the run's training settings (one member per seed: each draws
/// a member's weights as the single model of that seed, and its batches), the model's
/// sizes, the family, and where they train. Every training setting is read from `train`.
#[derive(Clone, Debug, PartialEq)]
pub struct Stack {
    pub train: TrainConfig,
    pub model: ModelConfig,
    pub kind: FieldKind,
    pub device: Device,
}

impl Stack {
    /// The members' seeds.
    pub fn seeds(&self) -> &[u64] {
        &self.train.seeds
    }

    /// Whether the hand-written step trains it: the family has one, and the run trains as
    /// the paper did (one Euler frame, no rollout pixels, a constant rate, the paper's
    /// autoencoder and the family's own net).
    pub fn trains_as_paper(&self) -> bool {
        self.train.steps_as_paper(self.kind)
            && self.model.arch.is_papers()
            && self.model.field_settings.is_default()
            && self.kind.dynamics().fast_path().is_some()
    }
}

/// K members of one family on the pixel task, as the pipeline trains them: through the
/// hand-written step ([`super::members::Members`], the paper's families) or through autograd
/// ([`super::autograd_members::AutogradMembers`], any other family).
pub trait PixelMembers: Objective {
    /// Member `k`'s weights, named as a single model's (`ae.enc.l1.weight`, ...).
    fn member_weights(&self, k: usize) -> Vec<(String, Tensor)>;
    /// Restores member `k` from a checkpoint's tensors (`model.NAME`, `adam.*`); `file`
    /// names the checkpoint for errors.
    fn restore(&mut self, k: usize, tensors: &HashMap<String, Tensor>, file: &std::path::Path) -> Result<()>;
    /// Marks member `k` as frozen before training continues (it diverged in an earlier run).
    fn freeze(&mut self, k: usize, at: Divergence);
    /// Every member's per-sample loss (no gradient) over the training and the test samples,
    /// each `[K][n]`: the final losses.
    fn final_losses(&mut self) -> (Vec<Vec<f64>>, Vec<Vec<f64>>);
    /// Captures the batched (GPU) step as a CUDA graph, where the objective has one.
    fn use_cuda_graphs(&mut self, on: bool);
}
