//! Stacked members: K models of one architecture (SPEC.md section 4) whose weights are
//! stacked along a first dimension, `[K, ...]`, and trained together with batched matrix
//! products. The loss (SPEC.md section 5) and its gradient are written out by hand, so a
//! training step is a fixed sequence of tensor operations with no autograd graph: the same
//! code runs on the CPU and on CUDA (where it can be captured as one CUDA graph), and it is
//! checked against libtorch's autograd of [`crate::model::Model`] (tests below).
//!
//! # The gradient
//! With `z = enc(x)`, `z' = enc(x')`, `x^ = dec(z)`, the field `f(z)` and per-sample terms
//! `ae = |x - x^|^2 / D`, `hnn = |z' - z - f|^2 / L`, `cc = sum_j (z_p,j - z'_q,j + z_q,j)^2`,
//! the loss is `(1/B) sum_i (w_ae ae + w_cc cc + w_hnn hnn)`. Each linear layer `y = x W^T + b`
//! passes back `dW = dy^T x`, `db = sum_i dy`, `dx = dy W`; a residual block `h + relu(p)`
//! passes `dh + relu'(p) dp`. The HNN's field is `f = J g` with `g = dH/dz` written as
//! forward operations, `s2 = (1 - a2^2) w3`, `t1 = s2 W2`, `s1 = (1 - a1^2) t1`, `g = s1 W1`
//! (`a1 = tanh(z W1^T + b1)`, `a2 = tanh(a1 W2^T + b2)`, `w3` the last layer's row of H), and
//! its gradient runs that chain back (the product rule through `1 - a^2` gives the
//! `-2 a` terms) and then down the forward chain to `z`.

use tch::{Device, Kind, Tensor};

use crate::model::layout::Layout;
use crate::model::{FastField, FieldKind, LossWeights, Model, ModelConfig};

/// One linear layer's weight `[K, out, in]` and bias `[K, out]`.
#[derive(Debug)]
struct Layer {
    w: Tensor,
    b: Option<Tensor>,
}

impl Layer {
    /// `x W^T + b` for every member: `[K, n, in] -> [K, n, out]`.
    fn forward(&self, x: &Tensor) -> Tensor {
        let wt = self.w.transpose(1, 2);
        match &self.b {
            Some(b) => b.unsqueeze(1).baddbmm(x, &wt, 1, 1),
            None => x.bmm(&wt),
        }
    }

    /// Gradients of the weight and bias for `dy`, `[K, n, out]`, at input `x`.
    fn grads(&self, x: &Tensor, dy: &Tensor) -> (Tensor, Option<Tensor>) {
        let dw = dy.transpose(1, 2).bmm(x);
        let db = self.b.as_ref().map(|_| dy.sum_dim_intlist([1i64].as_slice(), false, None::<Kind>));
        (dw, db)
    }
}

/// The parameters of a stack of members as layers (handles that share the tensors).
#[derive(Debug)]
struct Net {
    enc: [Layer; 4],
    dec: [Layer; 4],
    field: [Layer; 3],
}

impl Net {
    /// Handles to `params` (canonical order of `layout`).
    fn of(layout: &Layout, params: &[Tensor]) -> Net {
        let t = |name: String| params[layout.index(&name)].shallow_clone();
        let layer = |prefix: &str, bias: bool| Layer { w: t(format!("{prefix}.weight")), b: bias.then(|| t(format!("{prefix}.bias"))) };
        Net {
            enc: std::array::from_fn(|l| layer(&format!("ae.enc.l{}", l + 1), true)),
            dec: std::array::from_fn(|l| layer(&format!("ae.dec.l{}", l + 1), true)),
            field: [layer("field.l1", true), layer("field.l2", true), layer("field.l3", false)],
        }
    }

    /// Gradients in the canonical order of `layout`, from each layer's `(weight, bias)`.
    fn flatten(
        layout: &Layout,
        dec: [(Tensor, Option<Tensor>); 4],
        enc: [(Tensor, Option<Tensor>); 4],
        field: [(Tensor, Option<Tensor>); 3],
    ) -> Vec<Tensor> {
        let mut out: Vec<Option<Tensor>> = (0..layout.len()).map(|_| None).collect();
        let prefixes = (1..=4)
            .map(|l| format!("ae.dec.l{l}"))
            .chain((1..=4).map(|l| format!("ae.enc.l{l}")))
            .chain((1..=3).map(|l| format!("field.l{l}")));
        for (prefix, (w, b)) in prefixes.zip(dec.into_iter().chain(enc).chain(field)) {
            out[layout.index(&format!("{prefix}.weight"))] = Some(w);
            if let Some(b) = b {
                out[layout.index(&format!("{prefix}.bias"))] = Some(b);
            }
        }
        out.into_iter().map(|g| g.expect("a gradient for every declared parameter")).collect()
    }
}

/// Per-member sums over the batch's samples of the three loss terms, each `[K]`.
#[derive(Debug)]
pub struct TermSums {
    pub ae: Tensor,
    pub cc: Tensor,
    pub latent: Tensor,
}

/// A residual MLP's forward pass, keeping what its backward pass needs.
struct ResidualPass {
    /// The input and the three hidden activations `h1, h2, h3`, then the output.
    h: [Tensor; 4],
    /// Pre-activations of the three ReLUs.
    p: [Tensor; 3],
    out: Tensor,
}

fn residual_forward(net: &[Layer; 4], x: &Tensor) -> ResidualPass {
    let p1 = net[0].forward(x);
    let h1 = p1.relu();
    let p2 = net[1].forward(&h1);
    let h2 = &h1 + p2.relu();
    let p3 = net[2].forward(&h2);
    let h3 = &h2 + p3.relu();
    let out = net[3].forward(&h3);
    ResidualPass { h: [x.shallow_clone(), h1, h2, h3], p: [p1, p2, p3], out }
}

/// Back through a residual MLP from `d_out`; returns the layers' gradients and, if asked,
/// the gradient at the input.
fn residual_backward(
    net: &[Layer; 4],
    pass: &ResidualPass,
    d_out: &Tensor,
    want_input: bool,
) -> ([(Tensor, Option<Tensor>); 4], Option<Tensor>) {
    let g4 = net[3].grads(&pass.h[3], d_out);
    let dh3 = d_out.bmm(&net[3].w);
    let dp3 = pass.p[2].threshold_backward(&dh3, 0.0);
    let g3 = net[2].grads(&pass.h[2], &dp3);
    let dh2 = dh3 + dp3.bmm(&net[2].w);
    let dp2 = pass.p[1].threshold_backward(&dh2, 0.0);
    let g2 = net[1].grads(&pass.h[1], &dp2);
    let dh1 = dh2 + dp2.bmm(&net[1].w);
    let dp1 = pass.p[0].threshold_backward(&dh1, 0.0);
    let g1 = net[0].grads(&pass.h[0], &dp1);
    let dx = want_input.then(|| dp1.bmm(&net[0].w));
    ([g1, g2, g3, g4], dx)
}

/// The forward pass of a batch, with what the backward pass needs.
struct Forward {
    net: Net,
    enc: ResidualPass,
    dec: ResidualPass,
    /// `x - x^`, `[K, n, D]`.
    e: Tensor,
    a1: Tensor,
    a2: Tensor,
    /// The HNN's `(w3, s2, t1, s1)`.
    hnn: Option<(Tensor, Tensor, Tensor, Tensor)>,
    /// `z' - z - f`, `[K, n, L]`.
    r: Tensor,
    /// `z_p - z'_q + z_q`, `[K, n, dof]`.
    c: Tensor,
}

fn forward(layout: &Layout, params: &[Tensor], field: FastField, x2: &Tensor) -> Forward {
    let net = Net::of(layout, params);
    let n = x2.size()[1] / 2;
    // Both encodes as one product of 2n rows.
    let enc = residual_forward(&net.enc, x2);
    let half = enc.out.size()[2] / 2;
    let (z, zn) = (enc.out.narrow(1, 0, n), enc.out.narrow(1, n, n));
    let dec = residual_forward(&net.dec, &z);
    let e = x2.narrow(1, 0, n) - &dec.out;
    let [f1, f2, f3] = &net.field;
    let a1 = f1.forward(&z).tanh();
    let a2 = f2.forward(&a1).tanh();
    // HNN: s2 = (1 - a2^2) w3, t1 = s2 W2, s1 = (1 - a1^2) t1, g = s1 W1, f = (g_p, -g_q).
    let (f, hnn) = if field == FastField::Hnn {
        let w3 = f3.w.select(1, 1).unsqueeze(1); // [K, 1, H]
        let s2 = Tensor::tanh_backward(&w3.expand_as(&a2), &a2);
        let t1 = s2.bmm(&f2.w);
        let s1 = Tensor::tanh_backward(&t1, &a1);
        let g = s1.bmm(&f1.w);
        (Tensor::cat(&[g.narrow(2, half, half), -g.narrow(2, 0, half)], 2), Some((w3, s2, t1, s1)))
    } else {
        (f3.forward(&a2), None)
    };
    let r = &zn - &z - &f;
    let c = z.narrow(2, half, half) - (zn.narrow(2, 0, half) - z.narrow(2, 0, half));
    Forward { net, enc, dec, e, a1, a2, hnn, r, c }
}

impl Forward {
    fn latent(&self) -> i64 {
        self.r.size()[2]
    }

    /// Per-sample terms `(ae, cc, hnn)`, each `[K, n]`.
    fn terms(&self) -> (Tensor, Tensor, Tensor) {
        let over = |t: &Tensor| t.square().sum_dim_intlist([2i64].as_slice(), false, None::<Kind>);
        (over(&self.e) / self.e.size()[2] as f64, over(&self.c), over(&self.r) / self.latent() as f64)
    }
}

/// Each member's per-sample loss `w_ae ae + w_cc cc + w_hnn hnn` (no gradient).
///
/// # Shapes
/// `x2`: `[K, 2n, D]` (pairs, then next pairs) -> `[K, n]`
pub fn per_sample_losses(layout: &Layout, params: &[Tensor], field: FastField, x2: &Tensor, w: &LossWeights) -> Tensor {
    let (ae, cc, hnn) = forward(layout, params, field, x2).terms();
    w.combine(ae, cc, hnn)
}

/// The loss gradient of every member of a stack for one batch, and the per-member sums of
/// the loss terms.
///
/// # Shapes
/// `params`: canonical order of `layout` ([`ModelConfig::layout`]), each `[K, ...]`; `x2`: `[K, 2n, D]`, the `n` pairs
/// `x` then the `n` next pairs `x'`; returns gradients shaped like `params`. `scale` is `1 / B`
/// for the batch size `B` the loss averages over (`n` may be a share of it: the gradients of
/// the shares then add up to the batch's).
pub fn loss_gradient(
    layout: &Layout,
    params: &[Tensor],
    field: FastField,
    x2: &Tensor,
    scale: f64,
    w: &LossWeights,
) -> (Vec<Tensor>, TermSums) {
    let fw = forward(layout, params, field, x2);
    let (ae, cc, hnn) = fw.terms();
    let sum1 = |t: &Tensor| t.sum_dim_intlist([1i64].as_slice(), false, None::<Kind>);
    let terms = TermSums { ae: sum1(&ae), cc: sum1(&cc), latent: sum1(&hnn) };
    let Forward { net, enc, dec, e, a1, a2, hnn: hnn_parts, r, c } = fw;
    let n = x2.size()[1] / 2;
    let (latent, d) = (r.size()[2], e.size()[2] as f64);
    let half = latent / 2;
    let z = enc.out.narrow(1, 0, n);

    let d_xr = &e * (-2.0 * w.ae * scale / d);
    let dr = &r * (2.0 * w.latent * scale / latent as f64);
    let dc = &c * (2.0 * w.cc * scale);
    // dL/dz and dL/dz' from the hnn and cc terms: r = z' - z - f, c = z_p - z'_q + z_q.
    let mut dz = Tensor::cat(&[&dc - dr.narrow(2, 0, half), &dc - dr.narrow(2, half, half)], 2);
    let dzn = Tensor::cat(&[dr.narrow(2, 0, half) - &dc, dr.narrow(2, half, half)], 2);
    let df = -&dr;

    let (dec_grads, dz_dec) = residual_backward(&net.dec, &dec, &d_xr, true);
    dz += dz_dec.expect("asked for");

    let [f1, f2, f3] = &net.field;
    let field_grads = match &hnn_parts {
        None => {
            let g3 = f3.grads(&a2, &df);
            let da2 = df.bmm(&f3.w);
            let dpa2 = Tensor::tanh_backward(&da2, &a2);
            let g2 = f2.grads(&a1, &dpa2);
            let da1 = dpa2.bmm(&f2.w);
            let dpa1 = Tensor::tanh_backward(&da1, &a1);
            let g1 = f1.grads(&z, &dpa1);
            dz += dpa1.bmm(&f1.w);
            [g1, g2, g3]
        }
        Some((w3, s2, t1, s1)) => {
            // f = (g_p, -g_q) => dg = (-df_p, df_q).
            let dg = Tensor::cat(&[-df.narrow(2, half, half), df.narrow(2, 0, half)], 2);
            let dw1 = s1.transpose(1, 2).bmm(&dg); // g = s1 W1
            let ds1 = dg.bmm(&f1.w.transpose(1, 2));
            let dt1 = Tensor::tanh_backward(&ds1, &a1); // s1 = (1 - a1^2) t1
            let mut da1 = &ds1 * t1 * &a1 * -2.0;
            let mut dw2 = s2.transpose(1, 2).bmm(&dt1); // t1 = s2 W2
            let ds2 = dt1.bmm(&f2.w.transpose(1, 2));
            let da2 = &ds2 * w3 * &a2 * -2.0; // s2 = (1 - a2^2) w3
            let dw3_row = sum1(&Tensor::tanh_backward(&ds2, &a2)); // [K, H]
            let dw3 = Tensor::stack(&[dw3_row.zeros_like(), dw3_row], 1); // only H's row
                                                                          // Down the forward chain a2 = tanh(a1 W2^T + b2), a1 = tanh(z W1^T + b1).
            let dpa2 = Tensor::tanh_backward(&da2, &a2);
            let (dw2b, db2) = f2.grads(&a1, &dpa2);
            dw2 += dw2b;
            da1 += dpa2.bmm(&f2.w);
            let dpa1 = Tensor::tanh_backward(&da1, &a1);
            let (dw1b, db1) = f1.grads(&z, &dpa1);
            dz += dpa1.bmm(&f1.w);
            [(dw1 + dw1b, db1), (dw2, db2), (dw3, None)]
        }
    };
    let dzz = Tensor::cat(&[dz, dzn], 1);
    let (enc_grads, _) = residual_backward(&net.enc, &enc, &dzz, false);
    (Net::flatten(layout, dec_grads, enc_grads, field_grads), terms)
}

/// Initial weights of members, each drawn as [`Model::new`] draws a single model's from its
/// seed, stacked: the layout's canonical order, each `[K, ...]`, on `device`.
pub fn initial_weights(config: ModelConfig, kind: FieldKind, seeds: &[u64], device: Device) -> Vec<Tensor> {
    let members: Vec<Vec<Tensor>> = seeds
        .iter()
        .map(|&s| Model::new(config, kind, s, Device::Cpu).named_parameters().into_iter().map(|(_, p)| p.detach()).collect())
        .collect();
    (0..members[0].len())
        .map(|i| Tensor::stack(&members.iter().map(|m| m[i].shallow_clone()).collect::<Vec<_>>(), 0).to_device(device))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::LossWeights;

    fn small_config() -> ModelConfig {
        ModelConfig {
            input_dim: 18,
            frame_channels: 1,
            ae_hidden: 16,
            latent_dim: 2,
            field_hidden: 12,
            arch: Default::default(),
            field_settings: Default::default(),
        }
    }

    /// The gradient of member k equals libtorch's autograd of the single model of seed k
    /// (f64, so agreement is to round-off).
    fn check_against_autograd(config: ModelConfig, kind: FieldKind) {
        let seeds = [3u64, 11, 5];
        let mut rng = crate::util::rng::Rng::new(1);
        let n = 7i64;
        let d = config.input_dim;
        let data: Vec<f64> = (0..seeds.len() as i64 * 2 * n * d).map(|_| rng.uniform(0.0, 0.5)).collect();
        let x2 = Tensor::from_slice(&data).view([seeds.len() as i64, 2 * n, d]);
        let params: Vec<Tensor> = initial_weights(config, kind, &seeds, Device::Cpu).into_iter().map(|p| p.to_kind(Kind::Double)).collect();
        let w = LossWeights::default();
        let batch = 10.0; // n = 7 samples of a batch of 10
        let layout = config.layout(kind);
        let fast = kind.dynamics().fast_path().expect("a hand-written step");
        let (grads, terms) = loss_gradient(&layout, &params, fast, &x2, 1.0 / batch, &w);
        let names = layout.names();
        for (k, &seed) in seeds.iter().enumerate() {
            let model = Model::new(config, kind, seed, Device::Cpu);
            let mut vs = model.vs;
            vs.double();
            let model = Model { vs, ..model };
            let xk = x2.get(k as i64);
            let t = model.loss_terms(&xk.narrow(0, 0, n), &xk.narrow(0, n, n), true);
            let loss = t.total(&w).sum(Kind::Double) / batch;
            let ours_terms =
                [terms.ae.double_value(&[k as i64]), terms.cc.double_value(&[k as i64]), terms.latent.double_value(&[k as i64])];
            let theirs_terms = [
                t.ae.sum(Kind::Double).double_value(&[]),
                t.cc.sum(Kind::Double).double_value(&[]),
                t.latent.sum(Kind::Double).double_value(&[]),
            ];
            for (a, b) in ours_terms.iter().zip(theirs_terms) {
                assert!((a - b).abs() < 1e-12 * b.abs().max(1e-6), "{kind:?} member {k}: term {a} vs {b}");
            }
            let params = model.named_parameters();
            for (_, p) in &params {
                let mut p = p.shallow_clone();
                p.zero_grad();
            }
            loss.backward();
            for ((name, p), (ours, ours_name)) in params.iter().zip(grads.iter().zip(&names)) {
                assert_eq!(name, ours_name);
                let theirs = p.grad();
                let mine = ours.get(k as i64);
                let scale = theirs.abs().max().double_value(&[]).max(1e-12);
                let err = (mine - &theirs).abs().max().double_value(&[]);
                assert!(err < 1e-10 * scale, "{kind:?} member {k} {name}: max error {err} (scale {scale})");
            }
        }
    }

    #[test]
    fn the_hand_written_gradient_equals_autograd_for_the_hnn() {
        check_against_autograd(small_config(), FieldKind::Hnn);
    }

    #[test]
    fn the_hand_written_gradient_equals_autograd_for_the_baseline() {
        check_against_autograd(small_config(), FieldKind::Baseline);
    }

    #[test]
    fn the_layout_is_the_models() {
        for kind in [FieldKind::Hnn, FieldKind::Baseline] {
            let c = ModelConfig { latent_dim: 4, ..small_config() };
            let model = Model::new(c, kind, 0, Device::Cpu);
            let (names, shapes): (Vec<String>, Vec<Vec<i64>>) = model.named_parameters().into_iter().map(|(n, p)| (n, p.size())).unzip();
            let layout = c.layout(kind);
            assert_eq!((names, shapes), (layout.names(), layout.shapes()));
            assert_eq!(layout.len(), 21, "8 autoencoder layers with biases, 2 field layers with and 1 without");
        }
    }

    #[test]
    fn four_dimensional_latents_work_too() {
        let c = ModelConfig { latent_dim: 4, ..small_config() };
        check_against_autograd(c, FieldKind::Hnn);
        check_against_autograd(c, FieldKind::Baseline);
    }
}
