//! The paper's baseline (SPEC.md section 4): the same MLP as the HNN's, with one output per
//! latent coordinate used directly as `dz/dt`.

use tch::Tensor;

use super::field::{declare_net, Mlp, NativeMlp};
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

    fn declare_field(&self, c: &FieldConfig, layout: &mut Layout) {
        declare_net(c, "field", c.dim, (self.own_net(c.hidden), false), false, c.dim, layout);
    }

    fn time_derivative(&self, nets: &[Mlp], z: &Tensor, _create_graph: bool) -> Tensor {
        nets[0].forward(z)
    }

    fn native_derivative(&self, nets: &[NativeMlp], z: &[f64], dz: &mut [f64]) {
        nets[0].outputs(z, dz)
    }

    fn fast_path(&self) -> Option<FastField> {
        Some(FastField::Baseline)
    }
}
