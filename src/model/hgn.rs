//! The Hamiltonian Generative Network (Toth et al., ICLR 2020; the benchmark's HGN): a
//! learned Hamiltonian `H(q, p)` (a tanh MLP with one output), the latent stepped along its
//! symplectic gradient by leapfrog inside training, over the whole rollout, and a decoder
//! that reads `q` alone. By default it is built with the convolutional encoder over several
//! frames and the convolutional decoder ([`Architecture::convolutional`]). The published
//! HGN is variational (a KL term on the encoder's posterior); this one's encoder is
//! deterministic, as the other families' are.

use tch::Tensor;

use super::field::{declare_energy, Mlp, NativeMlp};
use super::hnn::{energy, native_symplectic_gradient, symplectic_gradient};
use super::layout::Layout;
use super::{Architecture, Dynamics, FieldConfig};
use crate::integrate::Integrator;

pub struct Hgn;

impl Dynamics for Hgn {
    fn name(&self) -> &'static str {
        "hgn"
    }

    fn help(&self) -> &'static str {
        "a learned H stepped by leapfrog, its decoder reading q only (conv over 5 frames by default)"
    }

    fn declare_field(&self, c: &FieldConfig, layout: &mut Layout) {
        declare_energy(c, self.own_net(c.hidden), 1, layout);
    }

    fn learns_energy(&self) -> bool {
        true
    }

    fn learned_energy(&self, nets: &[Mlp], z: &Tensor) -> Option<Tensor> {
        Some(energy(nets, 0, z))
    }

    fn time_derivative(&self, nets: &[Mlp], z: &Tensor, create_graph: bool) -> Tensor {
        symplectic_gradient(nets, 0, z, create_graph)
    }

    fn native_derivative(&self, nets: &[NativeMlp], z: &[f64], dz: &mut [f64]) {
        native_symplectic_gradient(nets, 0, z, dz)
    }

    fn default_integrator(&self, _horizon: usize) -> Integrator {
        Integrator::Leapfrog
    }

    fn decodes_q_only(&self) -> bool {
        true
    }

    fn architecture(&self) -> Option<Architecture> {
        Some(Architecture::convolutional())
    }
}
