//! What trains K members of one family, whichever way they train: their settings
//! ([`Stack`], [`RolloutTraining`]) and what the loop asks of them ([`PixelMembers`]). The
//! hand-written step ([`super::members`]) and autograd ([`super::autograd_members`]) both
//! implement it; [`super::members_for`] picks one.

use std::collections::HashMap;
use tch::{Device, Tensor};

use crate::error::Result;
use crate::model::{FieldKind, LossWeights, ModelConfig};
use crate::training::{Divergence, Objective};
use crate::util::adam::AdamConfig;

/// K members of one family: its sizes, one seed per member (each draws a member's weights
/// as the single model of that seed, and its batches), and how they train.
#[derive(Clone, Debug, PartialEq)]
pub struct Stack {
    pub config: ModelConfig,
    pub kind: FieldKind,
    pub seeds: Vec<u64>,
    pub adam: AdamConfig,
    pub loss: LossWeights,
    pub batch: usize,
    pub device: Device,
    /// How the rollout is trained (the paper's: one Euler frame, constant rate).
    pub rollout: RolloutTraining,
}

/// How a family is trained over rollouts: the settings of [`crate::training::TrainConfig`]
/// that the step reads, with the family's integrator resolved.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RolloutTraining {
    pub horizon: usize,
    pub integrator: crate::integrate::Integrator,
    pub schedule: crate::training::Schedule,
    pub grow: f64,
    /// The run's steps (the schedule's and the growth's span).
    pub steps: usize,
}

impl RolloutTraining {
    /// The paper's: one Euler frame at a constant rate.
    pub fn papers(steps: usize) -> Self {
        RolloutTraining {
            horizon: 1,
            integrator: crate::integrate::Integrator::Euler,
            schedule: crate::training::Schedule::Constant,
            grow: 0.0,
            steps,
        }
    }

    /// The settings of `cfg` for `kind`.
    pub fn of(cfg: &crate::training::TrainConfig, kind: FieldKind) -> Self {
        RolloutTraining {
            horizon: cfg.horizon,
            integrator: cfg.integrator_for(kind),
            schedule: cfg.schedule,
            grow: cfg.grow,
            steps: cfg.steps,
        }
    }

    /// Whether this, with the loss `w`, is the paper's training (one Euler frame, no rollout
    /// pixels, constant rate): what the hand-written step computes.
    pub fn is_papers(&self, w: &LossWeights) -> bool {
        self.horizon == 1
            && self.integrator == crate::integrate::Integrator::Euler
            && self.schedule == crate::training::Schedule::Constant
            && w.roll == 0.0
    }

    /// The rollout at `step`: its length, and whether its pixels count. Over the first
    /// `grow` of the steps: for the first half the paper's loss alone (one frame, no rollout
    /// pixels: the autoencoder learns to reconstruct first), then the rollout growing from 1
    /// frame to `horizon` with its pixels.
    pub fn at(&self, step: usize) -> (usize, bool) {
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
