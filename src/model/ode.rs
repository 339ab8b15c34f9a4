//! A neural ODE (the benchmark's ODE family): a free latent vector field, a swish network
//! used directly as `dz/dt`, trained through the integrator it is rolled out with (RK4 by
//! default).

use tch::Tensor;

use super::field::{declare_net, Mlp, NativeMlp, Net};
use super::layout::Layout;
use super::{Dynamics, FieldConfig};
use crate::integrate::Integrator;

pub struct Ode;

impl Dynamics for Ode {
    fn name(&self) -> &'static str {
        "ode"
    }

    fn help(&self) -> &'static str {
        "a free latent vector field (swish MLP) trained through its integrator (rk4)"
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

    fn default_integrator(&self, _horizon: usize) -> Integrator {
        Integrator::Rk4
    }
}
