//! The paper's baseline (SPEC.md section 4): the same MLP as the HNN's, with one output per
//! latent coordinate used directly as `dz/dt`.

use super::{Dynamics, FastField};

pub struct Baseline;

impl Dynamics for Baseline {
    fn name(&self) -> &'static str {
        "baseline"
    }

    fn help(&self) -> &'static str {
        "the MLP's outputs used directly as dz/dt"
    }

    fn fast_path(&self) -> Option<FastField> {
        Some(FastField::Baseline)
    }
}
