//! The residual discrete step (the benchmark's RGN): a swish network `g` and the map
//! `z' = z + g(z)` from one frame to the next. It is a map, not a vector field: it is rolled
//! out only forward and only with its own step (`--integrator euler`, one frame). It is what
//! the paper's baseline is when it is stepped as it was trained; the paper's protocol
//! integrates its `g` by RK45 as if it were `dz/dt`, which is scored too (protocol b).

use super::field::Net;
use super::Dynamics;
use crate::integrate::Integrator;

pub struct Rgn;

impl Dynamics for Rgn {
    fn name(&self) -> &'static str {
        "rgn"
    }

    fn help(&self) -> &'static str {
        "a residual discrete step z' = z + g(z) (swish MLP), rolled out as trained"
    }

    fn own_net(&self, width: i64) -> Net {
        Net::swish(width)
    }

    fn own_net_last_bias(&self) -> bool {
        true
    }

    fn integrators(&self) -> &'static [Integrator] {
        &[Integrator::Euler]
    }

    fn is_map(&self) -> bool {
        true
    }
}
