//! The Hamiltonian Neural Network (SPEC.md section 4): the field MLP's second output is a
//! learned Hamiltonian H, and the latent moves along its symplectic gradient,
//! `dz/dt = (dH/dp, -dH/dq)`. The MLP has two outputs in any dimension (the reference's
//! "solenoidal" F2 is the second); training it needs the gradient of a gradient. With
//! `--separable` H is `T(p) + V(q)`, two nets of one output, for which leapfrog is exactly
//! symplectic and reversible.

use tch::Tensor;

use super::field::{declare_energy, Mlp, NativeMlp};
use super::layout::Layout;
use super::{Dynamics, FastField, FieldConfig};
use crate::integrate::Integrator;

pub struct Hnn;

/// The energy of `nets` at `z`: output `output` of the one net, or `T(p) + V(q)` for a
/// separable H's two nets (`T` first).
///
/// # Shapes
/// `z`: `[n, d]` -> `[n]`
pub fn energy(nets: &[Mlp], output: i64, z: &Tensor) -> Tensor {
    match nets {
        [h] => h.forward(z).select(1, output),
        [t, v] => {
            let d = z.size()[1] / 2;
            t.forward(&z.narrow(1, d, d)).select(1, 0) + v.forward(&z.narrow(1, 0, d)).select(1, 0)
        }
        _ => unreachable!("an energy is one net or two"),
    }
}

/// `(dH/dp, -dH/dq)` with `H` the [`energy`] of `nets`, which needs `z` in the autograd
/// graph: a `z` that does not require grad is detached and made a leaf that does.
///
/// # Shapes
/// `z`: `[n, d]` -> `[n, d]`
pub fn symplectic_gradient(nets: &[Mlp], output: i64, z: &Tensor, create_graph: bool) -> Tensor {
    let z = if z.requires_grad() { z.shallow_clone() } else { z.detach().set_requires_grad(true) };
    let h = energy(nets, output, &z).sum(None::<tch::Kind>);
    let g = Tensor::run_backward(&[h], &[&z], true, create_graph).pop().expect("one gradient");
    let d = g.size()[1] / 2;
    let (dh_dq, dh_dp) = (g.narrow(1, 0, d), g.narrow(1, d, d));
    Tensor::cat(&[dh_dp, -dh_dq], 1)
}

/// [`symplectic_gradient`] at one latent, natively in f64.
pub fn native_symplectic_gradient(nets: &[NativeMlp], output: usize, z: &[f64], dz: &mut [f64]) {
    let half = z.len() / 2;
    let (dh_dq, dh_dp) = match nets {
        [h] => {
            let g = h.output_gradient(output, z);
            (g[..half].to_vec(), g[half..].to_vec())
        }
        [t, v] => (v.output_gradient(0, &z[..half]), t.output_gradient(0, &z[half..])),
        _ => unreachable!("an energy is one net or two"),
    };
    for j in 0..half {
        dz[j] = dh_dp[j];
        dz[half + j] = -dh_dq[j];
    }
}

impl Dynamics for Hnn {
    fn name(&self) -> &'static str {
        "hnn"
    }

    fn help(&self) -> &'static str {
        "the symplectic gradient of a learned H"
    }

    fn declare_field(&self, c: &FieldConfig, layout: &mut Layout) {
        declare_energy(c, self.own_net(c.hidden), 2, layout);
    }

    fn learns_energy(&self) -> bool {
        true
    }

    fn learned_energy(&self, nets: &[Mlp], z: &Tensor) -> Option<Tensor> {
        Some(energy(nets, 1, z))
    }

    fn time_derivative(&self, nets: &[Mlp], z: &Tensor, create_graph: bool) -> Tensor {
        symplectic_gradient(nets, 1, z, create_graph) // H is output 1 (the reference's F2)
    }

    fn native_derivative(&self, nets: &[NativeMlp], z: &[f64], dz: &mut [f64]) {
        native_symplectic_gradient(nets, 1, z, dz)
    }

    fn fast_path(&self) -> Option<FastField> {
        Some(FastField::Hnn)
    }

    /// Euler at one frame (the paper's training); over longer rollouts leapfrog, as the
    /// Hamiltonian Generative Networks step their H (Euler is not symplectic: an HNN stepped
    /// by it drifts off its energy).
    fn default_integrator(&self, horizon: usize) -> Integrator {
        if horizon == 1 {
            Integrator::Euler
        } else {
            Integrator::Leapfrog
        }
    }
}
