//! The residual discrete step (the benchmark's RGN): a swish network `g` and the map
//! `z' = z + g(z)` from one frame to the next. It is a map, not a vector field: it is rolled
//! out only forward and only with its own step (`--integrator euler`, one frame). It is what
//! the paper's baseline is when it is stepped as it was trained; the paper's protocol
//! integrates its `g` by RK45 as if it were `dz/dt`, which is scored too (protocol b).

use tch::Tensor;

use super::field::{declare_net, Mlp, NativeMlp, Net};
use super::layout::Layout;
use super::{Dynamics, FieldConfig};
use crate::integrate::Integrator;

pub struct Rgn;

impl Dynamics for Rgn {
    fn name(&self) -> &'static str {
        "rgn"
    }

    fn help(&self) -> &'static str {
        "a residual discrete step z' = z + g(z) (swish MLP), rolled out as trained"
    }

    fn declare_field(&self, c: &FieldConfig, layout: &mut Layout) {
        declare_net(c, "field", c.dim, (self.own_net(c.hidden), true), false, c.dim, layout);
    }

    fn own_net(&self, width: i64) -> Net {
        Net::swish(width)
    }

    fn time_derivative(&self, nets: &[Mlp], z: &Tensor, _create_graph: bool) -> Tensor {
        nets[0].forward(z)
    }

    fn native_derivative(&self, nets: &[NativeMlp], z: &[f64], dz: &mut [f64]) {
        nets[0].outputs(z, dz)
    }

    fn integrators(&self) -> &'static [Integrator] {
        &[Integrator::Euler]
    }

    fn is_map(&self) -> bool {
        true
    }
}
