//! The convolutional encoder and decoder (issue 17), in the shape of DeepMind's benchmark
//! ("Which priors matter?", Botev et al. 2021) scaled to the dataset's frames:
//!
//! - **encoder** (`ae.enc.*`): the context's frames stacked on channels, 3 blocks of two 3x3
//!   convolutions (the first stride 1, the second stride 2, padding 1), `channels` wide, each
//!   followed by a leaky ReLU (slope 0.01), then a linear layer from the last block's
//!   `channels x s3 x s3` to the latent (`s3 = ceil(side / 8)`);
//! - **decoder** (`ae.dec.*`): a linear layer from the latent (or its `q` half) to
//!   `channels x s3 x s3`, leaky ReLU, 3 blocks of nearest-neighbour upsampling x2, a 3x3
//!   convolution and a leaky ReLU, then a 3x3 convolution to the output frames, cropped to the
//!   centre `side x side`, with a linear output as the paper's MLP decoder has (the
//!   benchmark's sigmoid, under the pixels' squared error, saturated at the black background
//!   within 10 steps on the two bodies and its gradient never brought the bodies back:
//!   measured).
//!
//! The benchmark's are 64 channels wide at 32 px; [`CONV_CHANNELS`] is the width on 2 cores.
//! Weights are laid out as PyTorch's `nn.Conv2d` (`[out, in, 3, 3]`), so they load there.

use tch::Tensor;

use super::layout::Layout;

/// Convolution channels by default (the benchmark's: 64).
pub const CONV_CHANNELS: i64 = 32;
/// Blocks of the encoder and the decoder, each halving (doubling) the side.
pub const BLOCKS: usize = 3;
/// The smallest frame side the strides can read: 3 halvings to one pixel.
pub const MIN_SIDE: u32 = 1 << BLOCKS;

/// The side after each of the encoder's blocks: `ceil(side / 2)`, three times (28 -> 14, 7, 4).
pub fn encoder_sides(side: i64) -> [i64; BLOCKS] {
    let mut s = side;
    std::array::from_fn(|_| {
        s = (s + 1) / 2;
        s
    })
}

/// The side the decoder starts from and the side it upsamples to before cropping:
/// `ceil(side / 8)` and 8 times that (28: 4 and 32).
pub fn decoder_sides(side: i64) -> (i64, i64) {
    let s0 = encoder_sides(side)[BLOCKS - 1];
    (s0, s0 << BLOCKS)
}

/// Declares the encoder of `frames` input frames of `side` px into `latent` values.
pub fn declare_encoder(layout: &mut Layout, frames: i64, side: i64, channels: i64, latent: i64) {
    let mut inputs = frames;
    for b in 0..BLOCKS {
        layout.conv(&format!("ae.enc.c{}", 2 * b + 1), inputs, channels, 3);
        layout.conv(&format!("ae.enc.c{}", 2 * b + 2), channels, channels, 3);
        inputs = channels;
    }
    let s3 = encoder_sides(side)[BLOCKS - 1];
    layout.linear("ae.enc.out", channels * s3 * s3, latent, true);
}

/// Declares the decoder of `inputs` latent values into `frames` frames of `side` px.
pub fn declare_decoder(layout: &mut Layout, inputs: i64, frames: i64, side: i64, channels: i64) {
    let (s0, _) = decoder_sides(side);
    layout.linear("ae.dec.in", inputs, channels * s0 * s0, true);
    for b in 0..BLOCKS {
        layout.conv(&format!("ae.dec.c{}", b + 1), channels, channels, 3);
    }
    layout.conv("ae.dec.out", channels, frames, 3);
}

/// A 3x3 convolution's weight and bias.
#[derive(Debug)]
struct Conv {
    w: Tensor,
    b: Tensor,
}

impl Conv {
    fn of(layout: &Layout, params: &[Tensor], prefix: &str) -> Self {
        let t = |what: &str| params[layout.index(&format!("{prefix}.{what}"))].shallow_clone();
        Conv { w: t("weight"), b: t("bias") }
    }

    fn forward(&self, x: &Tensor, stride: i64) -> Tensor {
        x.conv2d(&self.w, Some(&self.b), [stride, stride], [1, 1], [1, 1], 1)
    }
}

fn linear(layout: &Layout, params: &[Tensor], prefix: &str) -> tch::nn::Linear {
    let t = |what: &str| params[layout.index(&format!("{prefix}.{what}"))].shallow_clone();
    tch::nn::Linear { ws: t("weight"), bs: Some(t("bias")) }
}

/// The leaky ReLU, `max(x, 0.01 x)` (libtorch's default slope, the benchmark's).
fn leaky(x: &Tensor) -> Tensor {
    x.leaky_relu()
}

/// The convolutional encoder.
#[derive(Debug)]
pub struct ConvEncoder {
    convs: Vec<Conv>,
    out: tch::nn::Linear,
    frames: i64,
    side: i64,
}

impl ConvEncoder {
    pub fn of(layout: &Layout, params: &[Tensor], frames: i64, side: i64) -> Self {
        let convs = (1..=2 * BLOCKS).map(|c| Conv::of(layout, params, &format!("ae.enc.c{c}"))).collect();
        ConvEncoder { convs, out: linear(layout, params, "ae.enc.out"), frames, side }
    }

    /// # Shapes
    /// `x`: `[n, frames * side * side]` -> `[n, latent]`
    pub fn forward(&self, x: &Tensor) -> Tensor {
        use tch::nn::Module;
        let n = x.size()[0];
        let mut h = x.view([n, self.frames, self.side, self.side]);
        for (i, c) in self.convs.iter().enumerate() {
            h = leaky(&c.forward(&h, if i % 2 == 1 { 2 } else { 1 }));
        }
        self.out.forward(&h.reshape([n, -1]))
    }
}

/// The convolutional decoder.
#[derive(Debug)]
pub struct ConvDecoder {
    input: tch::nn::Linear,
    convs: Vec<Conv>,
    out: Conv,
    channels: i64,
    side: i64,
}

impl ConvDecoder {
    pub fn of(layout: &Layout, params: &[Tensor], side: i64) -> Self {
        let input = linear(layout, params, "ae.dec.in");
        let channels = input.ws.size()[0] / decoder_sides(side).0.pow(2);
        let convs = (1..=BLOCKS).map(|c| Conv::of(layout, params, &format!("ae.dec.c{c}"))).collect();
        ConvDecoder { input, convs, out: Conv::of(layout, params, "ae.dec.out"), channels, side }
    }

    /// # Shapes
    /// `z`: `[n, inputs]` -> `[n, frames * side * side]` (linear output)
    pub fn forward(&self, z: &Tensor) -> Tensor {
        use tch::nn::Module;
        let n = z.size()[0];
        let (s0, up) = decoder_sides(self.side);
        let mut h = leaky(&self.input.forward(z)).view([n, self.channels, s0, s0]);
        for c in &self.convs {
            h = leaky(&c.forward(&h.upsample_nearest2d_vec(None::<&[i64]>, &[2.0, 2.0][..]), 1));
        }
        let crop = (up - self.side) / 2;
        let y = self.out.forward(&h, 1).narrow(2, crop, self.side).narrow(3, crop, self.side);
        y.reshape([n, -1])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sides_follow_the_strides() {
        assert_eq!(encoder_sides(28), [14, 7, 4]);
        assert_eq!(encoder_sides(32), [16, 8, 4]);
        assert_eq!(encoder_sides(20), [10, 5, 3]);
        assert_eq!(encoder_sides(8), [4, 2, 1]);
        assert_eq!(decoder_sides(28), (4, 32));
        assert_eq!(decoder_sides(20), (3, 24));
        assert_eq!(decoder_sides(64), (8, 64));
    }

    #[test]
    fn the_networks_have_the_shapes_of_their_side() {
        for side in [8i64, 20, 28, 32, 45] {
            let mut layout = Layout::new();
            declare_encoder(&mut layout, 5, side, 4, 6);
            declare_decoder(&mut layout, 3, 2, side, 4);
            let params = crate::model::seeded(0, || {
                let vs = tch::nn::VarStore::new(tch::Device::Cpu);
                let p = layout.draw(&vs.root());
                (vs, p)
            });
            let (enc, dec) = (ConvEncoder::of(&layout, &params.1, 5, side), ConvDecoder::of(&layout, &params.1, side));
            let x = crate::model::seeded(side as u64, || Tensor::rand([3, 5 * side * side], (tch::Kind::Float, tch::Device::Cpu)));
            let z = enc.forward(&x);
            assert_eq!(z.size(), [3, 6], "side {side}");
            let y = dec.forward(&z.narrow(1, 0, 3));
            assert_eq!(y.size(), [3, 2 * side * side], "side {side}");
        }
    }
}
