//! The Hamiltonian Neural Network (SPEC.md section 4): the field MLP's second output is a
//! learned Hamiltonian H, and the latent moves along its symplectic gradient,
//! `dz/dt = (dH/dp, -dH/dq)`. The MLP has two outputs in any dimension (the reference's
//! "solenoidal" F2 is the second); training it needs the gradient of a gradient.

use tch::Tensor;

use super::field::{declare_mlp, NativeMlp, TanhMlp};
use super::layout::Layout;
use super::{Dynamics, FastField, FieldConfig};
use crate::integrate::Integrator;

pub struct Hnn;

/// `(dH/dp, -dH/dq)` with `H` the network's output `output`, which needs `z` in the autograd
/// graph: a `z` that does not require grad is detached and made a leaf that does.
///
/// # Shapes
/// `z`: `[n, d]` -> `[n, d]`
pub fn symplectic_gradient(mlp: &TanhMlp, output: i64, z: &Tensor, create_graph: bool) -> Tensor {
    let z = if z.requires_grad() { z.shallow_clone() } else { z.detach().set_requires_grad(true) };
    let h = mlp.forward(&z).select(1, output).sum(None::<tch::Kind>);
    let g = Tensor::run_backward(&[h], &[&z], true, create_graph).pop().expect("one gradient");
    let d = g.size()[1] / 2;
    let (dh_dq, dh_dp) = (g.narrow(1, 0, d), g.narrow(1, d, d));
    Tensor::cat(&[dh_dp, -dh_dq], 1)
}

/// [`symplectic_gradient`] at one latent, natively in f64.
pub fn native_symplectic_gradient(mlp: &NativeMlp, output: usize, z: &[f64], dz: &mut [f64]) {
    let grad = mlp.output_gradient(output, z);
    let half = mlp.d / 2;
    for j in 0..half {
        dz[j] = grad[half + j];
        dz[half + j] = -grad[j];
    }
}

impl Dynamics for Hnn {
    fn name(&self) -> &'static str {
        "hnn"
    }

    fn help(&self) -> &'static str {
        "the symplectic gradient of a learned H"
    }

    fn declare_field(&self, c: FieldConfig, layout: &mut Layout) {
        declare_mlp(c, 2, layout);
    }

    fn learned_energy(&self, mlp: &TanhMlp, z: &Tensor) -> Option<Tensor> {
        Some(mlp.forward(z).select(1, 1))
    }

    fn time_derivative(&self, mlp: &TanhMlp, z: &Tensor, create_graph: bool) -> Tensor {
        symplectic_gradient(mlp, 1, z, create_graph) // H is output 1 (the reference's F2)
    }

    fn native_derivative(&self, mlp: &NativeMlp, z: &[f64], dz: &mut [f64]) {
        native_symplectic_gradient(mlp, 1, z, dz)
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
