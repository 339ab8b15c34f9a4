//! A neural ODE (the benchmark's ODE family): a free latent vector field, a swish network
//! used directly as `dz/dt`, trained through the integrator it is rolled out with (RK4 by
//! default).

use tch::Tensor;

use super::field::{declare_swish, Activation, NativeMlp, TanhMlp};
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

    fn declare_field(&self, c: FieldConfig, layout: &mut Layout) {
        declare_swish(c, c.dim, layout);
    }

    fn activation(&self) -> Activation {
        Activation::Swish
    }

    fn time_derivative(&self, mlp: &TanhMlp, z: &Tensor, _create_graph: bool) -> Tensor {
        mlp.forward(z)
    }

    fn native_derivative(&self, mlp: &NativeMlp, z: &[f64], dz: &mut [f64]) {
        mlp.outputs(z, dz)
    }

    fn default_integrator(&self, _horizon: usize) -> Integrator {
        Integrator::Rk4
    }
}
