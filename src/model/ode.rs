//! A neural ODE (the benchmark's ODE family): a free latent vector field, a swish network
//! used directly as `dz/dt`, trained through the integrator it is rolled out with (RK4 by
//! default).

use super::field::Net;
use super::Dynamics;
use crate::integrate::Integrator;

pub struct Ode;

impl Dynamics for Ode {
    fn name(&self) -> &'static str {
        "ode"
    }

    fn help(&self) -> &'static str {
        "a free latent vector field (swish MLP) trained through its integrator (rk4)"
    }

    fn own_net(&self, width: i64) -> Net {
        Net::swish(width)
    }

    fn own_net_last_bias(&self) -> bool {
        true
    }

    fn default_integrator(&self, _horizon: usize) -> Integrator {
        Integrator::Rk4
    }
}
