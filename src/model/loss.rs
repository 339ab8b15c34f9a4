//! The training loss: the reference's per-sample terms ([`LossTerms`]: reconstruction, the
//! paper's `cc`, the latent term, and the decoded rollout's pixels), their weights
//! ([`LossWeights`]), and how a model computes them over a pair or a window of pairs.

use serde::{Deserialize, Serialize};
use tch::Tensor;

use crate::integrate::Integrator;

use super::{Autoencoder, LatentField, Model, ModelConfig};

/// The reference's per-sample loss terms (SPEC.md section 5).
///
/// # Shapes
/// each `[n]`
pub struct LossTerms {
    /// Mean over pixels of `(x - dec(enc(x)))^2`.
    pub ae: Tensor,
    /// `(z_p - (z'_q - z_q))^2`: the latent momentum tied to the change of the latent position.
    pub cc: Tensor,
    /// Mean over latents of `(z' - (z + f(z)))^2`: one Euler step of one frame. Over a
    /// window of K frames: the mean over the K predicted latents of their distance to the
    /// encodings of the true pairs. Every family's latent term (the paper's `hnn` term).
    pub latent: Tensor,
    /// Over a window: the mean over the K predicted latents, decoded, and their pixels of
    /// the squared error against the true pairs (zero where its weight is).
    pub roll: Tensor,
}

/// Weights of the loss terms; `Default` is the reference's `ae + cc + 0.1 hnn`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct LossWeights {
    pub ae: f64,
    pub cc: f64,
    /// The latent term's weight, whatever the family (`--latent-weight`); its files keep
    /// the paper's name for it, `hnn`.
    #[serde(rename = "hnn")]
    pub latent: f64,
    /// The decoded rollout's pixel error ([`LossTerms::roll`]); 0 in the paper.
    #[serde(default)]
    pub roll: f64,
}

impl Default for LossWeights {
    fn default() -> Self {
        LossWeights { ae: 1.0, cc: 1.0, latent: 0.1, roll: 0.0 }
    }
}

/// The weight of the rollout's pixel term when training over rollouts (`--horizon` > 1).
pub const ROLLOUT_PIXEL_WEIGHT: f64 = 1.0;

impl LossWeights {
    /// `w_ae ae + w_cc cc + w_hnn hnn`: the one place the terms are combined, for numbers
    /// and tensors alike.
    pub fn combine<A, T>(&self, ae: A, cc: A, hnn: A) -> T
    where
        A: std::ops::Mul<f64, Output = T>,
        T: std::ops::Add<Output = T>,
    {
        ae * self.ae + cc * self.cc + hnn * self.latent
    }

    /// The combination as text, `ae + cc + 0.1 hnn` for the reference's weights (and
    /// `+ roll` when the rollout's pixels count).
    pub fn describe(&self) -> String {
        let term = |w: f64, name: &str| if w == 1.0 { name.to_string() } else { format!("{w} {name}") };
        let mut terms = vec![term(self.ae, "ae"), term(self.cc, "cc"), term(self.latent, "hnn")];
        if self.roll != 0.0 {
            terms.push(term(self.roll, "roll"));
        }
        terms.join(" + ")
    }

    /// The total of numbers, the rollout term's included.
    pub fn total(&self, ae: f64, cc: f64, hnn: f64, roll: f64) -> f64 {
        let three: f64 = self.combine(ae, cc, hnn);
        if self.roll == 0.0 {
            three
        } else {
            three + roll * self.roll
        }
    }
}

impl LossTerms {
    /// # Shapes
    /// `[n]`
    pub fn total(&self, w: &LossWeights) -> Tensor {
        let three: Tensor = w.combine(&self.ae, &self.cc, &self.latent);
        if w.roll == 0.0 {
            three
        } else {
            three + &self.roll * w.roll
        }
    }
}

impl Model {
    /// Loss terms of a batch; nothing is detached. `create_graph` keeps the field's own
    /// gradient differentiable (needed to train an HNN).
    ///
    /// # Shapes
    /// `x`, `x_next`: `[n, input_dim]`
    pub fn loss_terms(&self, x: &Tensor, x_next: &Tensor, create_graph: bool) -> LossTerms {
        let z = self.ae.encode(x);
        let z_next = self.ae.encode(x_next);
        let ae = (x - self.ae.decode(&z)).square().mean_dim(1, false, None::<tch::Kind>);
        let dz = self.field.time_derivative(&z, create_graph);
        let hnn = (&z_next - (&z + dz)).square().mean_dim(1, false, None::<tch::Kind>);
        let d = self.config.latent_dim / 2;
        let (q, p, q_next) = (z.narrow(1, 0, d), z.narrow(1, d, d), z_next.narrow(1, 0, d));
        let cc = (p - (q_next - q)).square().sum_dim_intlist(1, false, None::<tch::Kind>);
        let roll = ae.zeros_like();
        LossTerms { ae, cc, latent: hnn, roll }
    }

    /// Loss terms of a batch of windows ([`Handles::window_terms`]).
    ///
    /// # Shapes
    /// `w`: `[n, P, input_dim]`, windows of `P >= arch.window_frames(k) - 1` pairs; each term `[n]`
    pub fn window_terms(&self, w: &Tensor, k: i64, integrator: Integrator, weights: &LossWeights, create_graph: bool) -> LossTerms {
        window_terms(&self.config, &self.ae, &self.field, w, k, integrator, weights, create_graph)
    }

    /// Another set of handles to the model's networks, for another thread to compute with.
    pub fn handles(&self) -> Handles {
        let layout = self.config.layout(self.field.kind());
        let params: Vec<Tensor> = self.named_parameters().into_iter().map(|(_, t)| t).collect();
        let kind = self.field.kind();
        Handles {
            config: self.config,
            ae: Autoencoder::of(&self.config, kind, &layout, &params),
            field: LatentField::of(kind, &self.config.field_settings, &layout, &params),
        }
    }
}

/// Handles to a model's networks without its variable store: its tensors are the model's
/// own (gradients computed through them reach the model's parameters). Each worker thread
/// of a step computes with its own.
pub struct Handles {
    pub config: ModelConfig,
    pub ae: Autoencoder,
    pub field: LatentField,
}

impl Handles {
    /// Loss terms of a batch of windows, each the rollout of `k` frames from its first
    /// latent (the encoding of the window's first `context` frames): `ae` the first latent's
    /// decoding against its frames, `cc` the paper's on the first two latents, `hnn` the
    /// predicted latents' distance to the encodings of the true frames, `roll` the decoded
    /// predictions' pixel error. A term whose weight in `weights` is 0 is not computed (it
    /// is 0): with the latent terms off only the first latent is encoded, as HGN's encoder
    /// sees only the first frames. With `k = 1`, Euler and the paper's autoencoder these are
    /// the paper's terms ([`Model::loss_terms`]).
    ///
    /// # Shapes
    /// `w`: `[n, P, input_dim]`, windows of `P >= arch.window_frames(k) - 1` pairs; each term `[n]`
    pub fn window_terms(&self, w: &Tensor, k: i64, integrator: Integrator, weights: &LossWeights, create_graph: bool) -> LossTerms {
        window_terms(&self.config, &self.ae, &self.field, w, k, integrator, weights, create_graph)
    }
}

/// The frames of windows of pairs: every pair's first frame, then the last pair's second.
///
/// # Shapes
/// `w`: `[n, P, 2 px]` -> `[n, P + 1, px]`
pub fn frames_of_pairs(w: &Tensor, px: i64) -> Tensor {
    let p = w.size()[1];
    Tensor::cat(&[w.narrow(2, 0, px), w.narrow(1, p - 1, 1).narrow(2, px, px)], 1)
}

/// The `count` runs of `width` consecutive frames starting at frames `first`, `first + 1`,
/// ..., each flattened frame after frame: encoder inputs (`width` the context) or decoder
/// targets (`width` the frames drawn).
///
/// # Shapes
/// `frames`: `[n, T, px]` -> `[n, count, width * px]`
pub fn runs_of(frames: &Tensor, first: i64, count: i64, width: i64) -> Tensor {
    let (n, px) = (frames.size()[0], frames.size()[2]);
    frames.narrow(1, first, count + width - 1).unfold(1, width, 1).permute([0, 1, 3, 2]).reshape([n, count, width * px])
}

/// [`runs_of`] the frames of the windows of pairs `w`, runs of two being the pairs
/// themselves (the paper's encoder input and decoder target).
///
/// # Shapes
/// `w`: `[n, P, 2 px]` -> `[n, count, width * px]`
pub(super) fn runs_of_pairs(w: &Tensor, frames: &Tensor, first: i64, count: i64, width: i64) -> Tensor {
    if width == 2 {
        w.narrow(1, first, count)
    } else {
        runs_of(frames, first, count, width)
    }
}

#[allow(clippy::too_many_arguments)]
pub(super) fn window_terms(
    config: &ModelConfig,
    ae_net: &Autoencoder,
    field: &LatentField,
    w: &Tensor,
    k: i64,
    integrator: Integrator,
    weights: &LossWeights,
    create_graph: bool,
) -> LossTerms {
    let (n, px) = (w.size()[0], config.pixels());
    let (context, drawn) = (config.arch.context as i64, config.arch.drawn_frames() as i64);
    // The paper's autoencoder reads and draws the pairs themselves: no frames to cut.
    let frames = if context == 2 && drawn == 2 { w.shallow_clone() } else { frames_of_pairs(w, px) };
    let d = config.latent_dim;
    let encoded = if weights.latent != 0.0 {
        k + 1
    } else if weights.cc != 0.0 {
        2
    } else {
        1
    };
    let z = ae_net.encode(&runs_of_pairs(w, &frames, 0, encoded, context).reshape([n * encoded, context * px])).view([n, encoded, d]);
    let z0 = z.select(1, 0);
    let target = |first: i64, count: i64| runs_of_pairs(w, &frames, first, count, drawn);
    let ae = (target(0, 1).select(1, 0) - ae_net.decode(&z0)).square().mean_dim(1, false, None::<tch::Kind>);
    let h = d / 2;
    let cc = if weights.cc != 0.0 {
        let z1 = z.select(1, 1);
        (z0.narrow(1, h, h) - (z1.narrow(1, 0, h) - z0.narrow(1, 0, h))).square().sum_dim_intlist(1, false, None::<tch::Kind>)
    } else {
        ae.zeros_like()
    };
    let mut predicted = Vec::with_capacity(k as usize);
    let mut at = z0;
    for _ in 0..k {
        at = field.step(integrator, &at, 1.0, create_graph);
        predicted.push(at.shallow_clone());
    }
    let predicted = Tensor::stack(&predicted, 1);
    let hnn = if weights.latent != 0.0 {
        (z.narrow(1, 1, k) - &predicted).square().mean_dim(&[1i64, 2][..], false, None::<tch::Kind>)
    } else {
        ae.zeros_like()
    };
    let roll = if weights.roll != 0.0 {
        let decoded = ae_net.decode(&predicted.reshape([-1, d])).view([n, k, drawn * px]);
        (decoded - target(1, k)).square().mean_dim(&[1i64, 2][..], false, None::<tch::Kind>)
    } else {
        ae.zeros_like()
    };
    LossTerms { ae, cc, latent: hnn, roll }
}
