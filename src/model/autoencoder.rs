//! The paper's autoencoder between a pair of frames and a latent (SPEC.md section 4): a
//! residual MLP each way, `h = relu(L1 x); h += relu(L2 h); h += relu(L3 h); L4 h`, sizes
//! `input -> 200 -> 200 -> 200 -> latent` and back, every layer with a bias.

use tch::nn::{self, Module};
use tch::Tensor;

use super::layout::Layout;
use super::ModelConfig;

/// Declares the encoder (`ae.enc.l1..l4`) then the decoder (`ae.dec.l1..l4`), drawn in
/// that order.
pub fn declare(c: &ModelConfig, layout: &mut Layout) {
    let h = c.ae_hidden;
    for (part, dims) in [("ae.enc", [c.input_dim, h, h, h, c.latent_dim]), ("ae.dec", [c.latent_dim, h, h, h, c.input_dim])] {
        for l in 0..4 {
            layout.linear(&format!("{part}.l{}", l + 1), dims[l], dims[l + 1], true);
        }
    }
}

/// `h = relu(L1 x); h += relu(L2 h); h += relu(L3 h); L4 h`.
#[derive(Debug)]
struct ResidualMlp {
    l: [nn::Linear; 4],
}

impl ResidualMlp {
    fn of(layout: &Layout, params: &[Tensor], part: &str) -> Self {
        let t = |l: usize, what: &str| params[layout.index(&format!("{part}.l{l}.{what}"))].shallow_clone();
        ResidualMlp { l: std::array::from_fn(|i| nn::Linear { ws: t(i + 1, "weight"), bs: Some(t(i + 1, "bias")) }) }
    }

    fn forward(&self, x: &Tensor) -> Tensor {
        let h = self.l[0].forward(x).relu();
        let h = &h + self.l[1].forward(&h).relu();
        let h = &h + self.l[2].forward(&h).relu();
        self.l[3].forward(&h)
    }
}

/// The autoencoder between frame pairs and latents.
#[derive(Debug)]
pub struct Autoencoder {
    enc: ResidualMlp,
    dec: ResidualMlp,
}

impl Autoencoder {
    /// The autoencoder's layers among `params` (canonical order of `layout`).
    pub fn of(layout: &Layout, params: &[Tensor]) -> Self {
        Autoencoder { enc: ResidualMlp::of(layout, params, "ae.enc"), dec: ResidualMlp::of(layout, params, "ae.dec") }
    }

    /// # Shapes
    /// `x`: `[n, input_dim]` -> `[n, latent_dim]`
    pub fn encode(&self, x: &Tensor) -> Tensor {
        self.enc.forward(x)
    }

    /// # Shapes
    /// `z`: `[n, latent_dim]` -> `[n, input_dim]` (linear output)
    pub fn decode(&self, z: &Tensor) -> Tensor {
        self.dec.forward(z)
    }
}
