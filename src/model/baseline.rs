//! The paper's baseline (SPEC.md section 4): the same MLP as the HNN's, with one output per
//! latent coordinate used directly as `dz/dt`.

use tch::Tensor;

use super::field::{declare_mlp, NativeMlp, TanhMlp};
use super::layout::Layout;
use super::{Dynamics, FastField, FieldConfig};

pub struct Baseline;

impl Dynamics for Baseline {
    fn name(&self) -> &'static str {
        "baseline"
    }

    fn help(&self) -> &'static str {
        "the MLP's outputs used directly as dz/dt"
    }

    fn declare_field(&self, c: FieldConfig, layout: &mut Layout) {
        declare_mlp(c, c.dim, layout);
    }

    fn time_derivative(&self, mlp: &TanhMlp, z: &Tensor, _create_graph: bool) -> Tensor {
        mlp.forward(z)
    }

    fn native_derivative(&self, mlp: &NativeMlp, z: &[f64], dz: &mut [f64]) {
        mlp.outputs(z, dz)
    }

    fn fast_path(&self) -> Option<FastField> {
        Some(FastField::Baseline)
    }
}
