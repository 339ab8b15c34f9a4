//! The autoencoder between frames and a latent. The paper's (SPEC.md section 4) is a
//! residual MLP each way over one pair of frames, `h = relu(L1 x); h += relu(L2 h);
//! h += relu(L3 h); L4 h`, sizes `input -> 200 -> 200 -> 200 -> latent` and back, every layer
//! with a bias. The convolutional encoder reads `context` frames and the convolutional
//! decoder draws one ([`super::conv`]); either side may be either kind ([`Architecture`]).
//!
//! An encoder reads the `context` frames starting at its latent's frame (the paper's pair:
//! frames `t, t + 1`); a decoder draws the frames starting there (the MLP: the pair; the
//! convolutional: frame `t`). A family whose decoder reads `q` only (HGN) gets a decoder
//! whose input is the latent's first half.

use serde::{Deserialize, Serialize};
use tch::nn::{self, Module};
use tch::Tensor;

use super::conv::{self, ConvDecoder, ConvEncoder};
use super::layout::Layout;
use super::{FieldKind, ModelConfig};
use crate::util::choice::Choice;

/// What reads the frames (`--encoder`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EncoderKind {
    /// The paper's residual MLP over one pair of frames.
    #[default]
    MlpPair,
    /// Convolutions over `--context` frames stacked on channels.
    Conv,
}

impl Choice for EncoderKind {
    const ALL: &'static [Self] = &[EncoderKind::MlpPair, EncoderKind::Conv];

    fn name(self) -> &'static str {
        match self {
            EncoderKind::MlpPair => "mlp-pair",
            EncoderKind::Conv => "conv",
        }
    }

    fn help(self) -> &'static str {
        match self {
            EncoderKind::MlpPair => "the paper's residual MLP over a pair of frames",
            EncoderKind::Conv => "3 blocks of 2 convolutions over --context frames (the benchmark's)",
        }
    }
}

/// What draws the frames (`--decoder`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DecoderKind {
    /// The paper's residual MLP to a pair of frames (linear output).
    #[default]
    Mlp,
    /// Upsampling and convolutions to one frame (linear output).
    Conv,
}

impl Choice for DecoderKind {
    const ALL: &'static [Self] = &[DecoderKind::Mlp, DecoderKind::Conv];

    fn name(self) -> &'static str {
        match self {
            DecoderKind::Mlp => "mlp",
            DecoderKind::Conv => "conv",
        }
    }

    fn help(self) -> &'static str {
        match self {
            DecoderKind::Mlp => "the paper's residual MLP to a pair of frames",
            DecoderKind::Conv => "3 blocks of upsampling and convolution to one frame (the benchmark's)",
        }
    }
}

/// The networks between frames and latents; `Default` is the paper's (an MLP each way over a
/// pair of frames, a latent of `2 dof`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Architecture {
    pub encoder: EncoderKind,
    pub decoder: DecoderKind,
    /// Frames the encoder reads (the MLP: the pair, 2).
    pub context: usize,
    /// The latent's size, `q` and `p` halves; `None`: `2 dof` (the paper's).
    pub latent: Option<usize>,
    /// Convolution channels.
    pub channels: usize,
}

impl Default for Architecture {
    fn default() -> Self {
        Architecture {
            encoder: EncoderKind::MlpPair,
            decoder: DecoderKind::Mlp,
            context: 2,
            latent: None,
            channels: conv::CONV_CHANNELS as usize,
        }
    }
}

/// Frames the convolutional encoder reads unless `--context` says (the benchmark's).
pub const CONV_CONTEXT: usize = 5;

impl Architecture {
    /// The benchmark's: convolutions each way over [`CONV_CONTEXT`] frames.
    pub fn convolutional() -> Self {
        Architecture { encoder: EncoderKind::Conv, decoder: DecoderKind::Conv, context: CONV_CONTEXT, ..Architecture::default() }
    }

    /// Whether this is the paper's autoencoder.
    pub fn is_papers(&self) -> bool {
        self.encoder == EncoderKind::MlpPair && self.decoder == DecoderKind::Mlp && self.latent.is_none()
    }

    /// Whether the encoder or the decoder is convolutional.
    pub fn has_convolutions(&self) -> bool {
        self.encoder == EncoderKind::Conv || self.decoder == DecoderKind::Conv
    }

    /// Whether the decoder draws what the encoder reads (a pair each way), so that decoded
    /// frames can be encoded again (the paper's protocol reads energies so).
    pub fn reencodes(&self) -> bool {
        self.encoder == EncoderKind::MlpPair && self.decoder == DecoderKind::Mlp
    }

    /// Frames the decoder draws from one latent.
    pub fn drawn_frames(&self) -> usize {
        match self.decoder {
            DecoderKind::Mlp => 2,
            DecoderKind::Conv => 1,
        }
    }

    /// Frames a window of a `k`-frame rollout needs: every latent's encoder input from the
    /// first to the `k`-th, and every decoder's target.
    pub fn window_frames(&self, k: usize) -> usize {
        k + self.context.max(self.drawn_frames())
    }

    /// The `K` of the windows of pairs ([`crate::dataset::Windows`]) a `k`-frame rollout
    /// reads: a window of `K + 1` pairs holds its [`Self::window_frames`].
    pub fn window_pairs(&self, k: usize) -> usize {
        self.window_frames(k) - 2
    }

    /// One line naming what is wrong with this on frames of `side` px of a system of `dof`
    /// degrees of freedom, with the flag to change.
    pub fn check(&self, side: u32, dof: usize) -> Result<(), (&'static str, String)> {
        if self.encoder == EncoderKind::MlpPair && self.context != 2 {
            return Err((
                "--context",
                format!("the mlp-pair encoder reads a pair of frames (2), not {}; use --encoder conv", self.context),
            ));
        }
        if self.context == 0 {
            return Err(("--context", "must be at least 1 frame".into()));
        }
        let conv = self.has_convolutions();
        if conv && side < conv::MIN_SIDE {
            return Err((
                if self.encoder == EncoderKind::Conv { "--encoder" } else { "--decoder" },
                format!("the convolutions' 3 strides of 2 need frames of at least {} px, and these are {side} px", conv::MIN_SIDE),
            ));
        }
        if conv && !(1..=512).contains(&self.channels) {
            return Err(("--channels", format!("must be between 1 and 512 (got {})", self.channels)));
        }
        if let Some(d) = self.latent {
            if d < 2 * dof || d % 2 == 1 {
                return Err((
                    "--latent",
                    format!("must be even (q and p halves) and at least 2 x dof = {} for this system (got {d})", 2 * dof),
                ));
            }
        }
        Ok(())
    }
}

/// Declares the encoder (`ae.enc.*`) then the decoder (`ae.dec.*`), drawn in that order,
/// for family `kind`.
pub fn declare(c: &ModelConfig, kind: FieldKind, layout: &mut Layout) {
    let a = c.arch;
    let (side, px, channels) = (c.side(), c.pixels(), c.frame_channels);
    let h = c.ae_hidden;
    match a.encoder {
        EncoderKind::MlpPair => residual_mlp(layout, "ae.enc", c.input_dim, h, c.latent_dim),
        EncoderKind::Conv => conv::declare_encoder(layout, a.context as i64 * channels, side, a.channels as i64, c.latent_dim),
    }
    let inputs = decoder_inputs(c, kind);
    match a.decoder {
        DecoderKind::Mlp => residual_mlp(layout, "ae.dec", inputs, h, a.drawn_frames() as i64 * px),
        DecoderKind::Conv => conv::declare_decoder(layout, inputs, a.drawn_frames() as i64 * channels, side, a.channels as i64),
    }
}

/// The decoder's input: the latent, or its `q` half for a family that decodes `q` alone.
fn decoder_inputs(c: &ModelConfig, kind: FieldKind) -> i64 {
    if kind.dynamics().decodes_q_only() {
        c.latent_dim / 2
    } else {
        c.latent_dim
    }
}

fn residual_mlp(layout: &mut Layout, part: &str, inputs: i64, hidden: i64, outputs: i64) {
    let dims = [inputs, hidden, hidden, hidden, outputs];
    for l in 0..4 {
        layout.linear(&format!("{part}.l{}", l + 1), dims[l], dims[l + 1], true);
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

#[derive(Debug)]
enum Encoder {
    Mlp(ResidualMlp),
    Conv(ConvEncoder),
}

#[derive(Debug)]
enum Decoder {
    Mlp(ResidualMlp),
    Conv(ConvDecoder),
}

/// The autoencoder between frames and latents.
#[derive(Debug)]
pub struct Autoencoder {
    enc: Encoder,
    dec: Decoder,
    /// The decoder reads the latent's first half only.
    q_only: bool,
}

impl Autoencoder {
    /// The autoencoder's networks among `params` (canonical order of `layout`) for a model
    /// of `c` and family `kind`.
    pub fn of(c: &ModelConfig, kind: FieldKind, layout: &Layout, params: &[Tensor]) -> Self {
        let enc = match c.arch.encoder {
            EncoderKind::MlpPair => Encoder::Mlp(ResidualMlp::of(layout, params, "ae.enc")),
            EncoderKind::Conv => Encoder::Conv(ConvEncoder::of(layout, params, c.arch.context as i64 * c.frame_channels, c.side())),
        };
        let dec = match c.arch.decoder {
            DecoderKind::Mlp => Decoder::Mlp(ResidualMlp::of(layout, params, "ae.dec")),
            DecoderKind::Conv => Decoder::Conv(ConvDecoder::of(layout, params, c.side())),
        };
        Autoencoder { enc, dec, q_only: kind.dynamics().decodes_q_only() }
    }

    /// # Shapes
    /// `x`: `[n, context * channels * side^2]` (the context's frames one after another, each
    /// channel-major) -> `[n, latent_dim]`
    pub fn encode(&self, x: &Tensor) -> Tensor {
        match &self.enc {
            Encoder::Mlp(m) => m.forward(x),
            Encoder::Conv(c) => c.forward(x),
        }
    }

    /// # Shapes
    /// `z`: `[n, latent_dim]` -> `[n, drawn_frames * channels * side^2]` (the MLP: linear output)
    pub fn decode(&self, z: &Tensor) -> Tensor {
        let z = if self.q_only { z.narrow(1, 0, z.size()[1] / 2) } else { z.shallow_clone() };
        match &self.dec {
            Decoder::Mlp(m) => m.forward(&z),
            Decoder::Conv(c) => c.forward(&z),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_architecture_names_the_flag_that_is_wrong() {
        let conv = Architecture::convolutional();
        let flag = |a: Architecture, side: u32, dof: usize| a.check(side, dof).err().map(|(f, msg)| format!("{f}: {msg}"));
        assert_eq!(flag(Architecture::default(), 4, 1), None, "the MLPs read any side");
        // Frames smaller than the strides (`generate` makes none below 8 px; a dataset
        // written elsewhere might hold them).
        let e = flag(conv, 6, 1).unwrap();
        assert_eq!(e, "--encoder: the convolutions' 3 strides of 2 need frames of at least 8 px, and these are 6 px");
        let e = flag(Architecture { decoder: DecoderKind::Conv, ..Architecture::default() }, 7, 1).unwrap();
        assert!(e.starts_with("--decoder: "), "{e}");
        assert_eq!(flag(conv, 8, 1), None);
        assert!(flag(Architecture { latent: Some(6), ..conv }, 28, 4)
            .unwrap()
            .starts_with("--latent: must be even (q and p halves) and at least 2 x dof = 8"));
        assert!(flag(Architecture { latent: Some(5), ..conv }, 28, 1).unwrap().starts_with("--latent"));
        assert_eq!(flag(Architecture { latent: Some(32), ..conv }, 28, 4), None, "the benchmark's 32");
        assert!(flag(Architecture { context: 0, ..conv }, 28, 1).unwrap().starts_with("--context"));
        assert_eq!(conv.window_frames(8), 13, "5 frames of context, 8 more predicted");
        assert_eq!(Architecture::default().window_frames(8), 10, "the paper's: 9 pairs");
    }
}
