//! Stage 2a, the models (SPEC.md section 4): the autoencoder between frames and a latent,
//! and the model families, each a way of stepping that latent.
//!
//! A family is one file here plus one line in [`families!`] below: it declares its latent
//! field's parameters once ([`layout::Layout`]) and says how that field gives `dz/dt`
//! ([`Dynamics`]). A model is the autoencoder's declaration plus the family's, drawn from
//! one seed: everything else (the variable store, the stacked tensors of an ensemble, the CPU
//! step's offsets, the `.safetensors` names, the memory estimate) derives from that one
//! [`Layout`](layout::Layout). The paper's families (HNN, baseline) also have a hand-written
//! training step ([`stacked`], [`cpu_step`]); a family without one trains through autograd.
//!
//! All weights are orthogonal-initialised, biases PyTorch's default U(-1/sqrt(fan_in),
//! 1/sqrt(fan_in)). Parameters are named by path, e.g. `ae.enc.l1.weight`,
//! `field.l3.weight`, which is also how they appear in the `.safetensors` files.

pub mod autoencoder;
pub mod baseline;
pub mod cpu_step;
pub mod field;
pub mod hnn;
pub mod layout;
pub mod stacked;

use serde::{Deserialize, Serialize};
use tch::nn;
use tch::Tensor;

pub use crate::choice::Choice;
pub use autoencoder::Autoencoder;
pub use field::{LatentField, NativeField};
use field::{NativeMlp, TanhMlp};
use layout::Layout;

/// What a model family is: its latent field's parameters and how the field moves the latent.
pub trait Dynamics: Sync {
    /// The name `--model` takes and files carry (`hnn.safetensors`).
    fn name(&self) -> &'static str;
    /// One line for `--help`.
    fn help(&self) -> &'static str;
    /// Declares the latent field's parameters (named `field.*`), in the order they are drawn.
    fn declare_field(&self, c: FieldConfig, layout: &mut Layout);
    /// `dz/dt` at `z`; with `create_graph` the result stays differentiable.
    ///
    /// # Shapes
    /// `z`: `[n, d]` -> `[n, d]`
    fn time_derivative(&self, mlp: &TanhMlp, z: &Tensor, create_graph: bool) -> Tensor;
    /// `dz/dt` at one latent in f64, for integrating a trajectory.
    fn native_derivative(&self, mlp: &NativeMlp, z: &[f64], dz: &mut [f64]);
    /// The learned energy, for a family that learns one.
    ///
    /// # Shapes
    /// `z`: `[n, d]` -> `[n]`
    fn learned_energy(&self, _mlp: &TanhMlp, _z: &Tensor) -> Option<Tensor> {
        None
    }
    /// The hand-written training step, where the family has one; `None`: autograd.
    fn fast_path(&self) -> Option<FastField> {
        None
    }
}

/// The fields the hand-written step ([`stacked`], [`cpu_step`]) knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FastField {
    /// `f = (dH/dp, -dH/dq)`, H the last layer's second output.
    Hnn,
    /// `f` the last layer's outputs.
    Baseline,
}

/// Lists the families once: the enum the rest of the code names them by, its names, and the
/// file that holds each one's [`Dynamics`].
macro_rules! families {
    ($($variant:ident => $module:ident :: $ty:ident),+ $(,)?) => {
        /// A model family (which latent field the model learns).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
        #[serde(rename_all = "lowercase")]
        pub enum FieldKind {
            $($variant),+
        }

        impl FieldKind {
            /// The family's definition.
            pub fn dynamics(self) -> &'static dyn Dynamics {
                match self {
                    $(FieldKind::$variant => &$module::$ty),+
                }
            }
        }

        impl Choice for FieldKind {
            const ALL: &'static [Self] = &[$(FieldKind::$variant),+];

            fn name(self) -> &'static str {
                self.dynamics().name()
            }

            fn help(self) -> &'static str {
                self.dynamics().help()
            }
        }
    };
}

families! {
    Hnn => hnn::Hnn,
    Baseline => baseline::Baseline,
}

/// Sizes of the networks; `Default` is the reference's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelConfig {
    /// Autoencoder input: two frames, `2 * side * side`.
    pub input_dim: i64,
    pub ae_hidden: i64,
    /// Latent dimension: `q` and `p` halves, `2 * dof` of the system (2 for the pendulum).
    pub latent_dim: i64,
    pub field_hidden: i64,
}

impl ModelConfig {
    /// The reference's widths for frames of `side` px of a system with `dof` degrees of
    /// freedom.
    pub fn for_frames(side: u32, dof: usize) -> Self {
        ModelConfig { input_dim: 2 * (side as i64) * (side as i64), ae_hidden: 200, latent_dim: 2 * dof as i64, field_hidden: 200 }
    }

    /// The latent field's part of the sizes.
    pub fn field(&self) -> FieldConfig {
        FieldConfig { dim: self.latent_dim, hidden: self.field_hidden }
    }

    /// Every parameter of a model of family `kind`: the autoencoder's, then the field's
    /// (the order their weights are drawn in).
    pub fn layout(&self, kind: FieldKind) -> Layout {
        let mut layout = Layout::new();
        autoencoder::declare(self, &mut layout);
        kind.dynamics().declare_field(self.field(), &mut layout);
        layout
    }
}

/// Sizes of a latent field: its dimension `d` (even: `q` and `p` halves) and hidden width.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldConfig {
    pub dim: i64,
    pub hidden: i64,
}

impl FieldConfig {
    /// The parameters of a field of family `kind` alone (the coordinate tasks).
    pub fn layout(&self, kind: FieldKind) -> Layout {
        let mut layout = Layout::new();
        kind.dynamics().declare_field(*self, &mut layout);
        layout
    }
}

impl Default for ModelConfig {
    fn default() -> Self {
        ModelConfig::for_frames(28, 1)
    }
}

/// Runs `draw` with libtorch's global generator seeded with `seed`, holding it so that no
/// other thread's weights are drawn in between: the one place weights are seeded. libtorch
/// runs on one thread meanwhile: the orthogonal initialisation's QR otherwise rounds
/// differently with the caller's thread count.
pub fn seeded<T>(seed: u64, draw: impl FnOnce() -> T) -> T {
    static GENERATOR: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = GENERATOR.lock().unwrap_or_else(|e| e.into_inner());
    let threads = tch::get_num_threads();
    crate::runtime::set_libtorch_threads(1);
    tch::manual_seed(seed as i64);
    let out = draw();
    tch::set_num_threads(threads);
    out
}

/// A latent field alone in its own variable store (the coordinate tasks), its weights
/// drawn from `seed`.
pub fn field_alone(c: FieldConfig, kind: FieldKind, seed: u64) -> (nn::VarStore, LatentField) {
    seeded(seed, || {
        let vs = nn::VarStore::new(tch::Device::Cpu);
        let layout = c.layout(kind);
        let params = layout.draw(&vs.root());
        let field = LatentField::of(kind, &layout, &params);
        (vs, field)
    })
}

/// Parameters of a variable store in a fixed order (sorted by name), for the optimiser and
/// checkpoints.
pub fn sorted_parameters(vs: &nn::VarStore) -> Vec<(String, Tensor)> {
    let mut v: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

/// An autoencoder and a latent field in one variable store.
pub struct Model {
    pub vs: nn::VarStore,
    pub config: ModelConfig,
    pub ae: Autoencoder,
    pub field: LatentField,
}

impl Model {
    /// Builds the model with weights drawn from libtorch's generator seeded with `seed`:
    /// the autoencoder first, then the field, so models of two families made from the same
    /// seed start from identical autoencoders (and the HNN and the baseline from identical
    /// hidden field layers).
    pub fn new(config: ModelConfig, kind: FieldKind, seed: u64, device: tch::Device) -> Self {
        seeded(seed, || {
            let vs = nn::VarStore::new(device);
            let layout = config.layout(kind);
            let params = layout.draw(&vs.root());
            let ae = Autoencoder::of(&layout, &params);
            let field = LatentField::of(kind, &layout, &params);
            Model { vs, config, ae, field }
        })
    }

    /// Parameters in the layout's (canonical) order, for the optimiser and checkpoints.
    pub fn named_parameters(&self) -> Vec<(String, Tensor)> {
        sorted_parameters(&self.vs)
    }
}

/// Copies weights named like `params` from `tensors` (with `prefix`), checking every name
/// and shape; `params` may be views (one member's slice of stacked weights).
pub fn load_parameters(
    params: &[(String, Tensor)],
    tensors: &std::collections::HashMap<String, Tensor>,
    prefix: &str,
    file: &std::path::Path,
    input_dim: i64,
) -> crate::error::Result<()> {
    for (name, p) in params {
        let key = format!("{prefix}{name}");
        let t = tensors
            .get(&key)
            .ok_or_else(|| crate::error::Error::input(file, format!("lacks '{key}': weights of another architecture or model kind")))?;
        if t.size() != p.size() {
            return Err(crate::error::Error::input(
                file,
                format!(
                    "'{key}' has shape {:?} but the model needs {:?} (input {input_dim} = 2 x side^2): weights of another architecture or frame size",
                    t.size(),
                    p.size(),
                ),
            ));
        }
        let mut p = p.shallow_clone();
        tch::no_grad(|| p.copy_(t));
    }
    Ok(())
}

/// The reference's per-sample loss terms (SPEC.md section 5).
///
/// # Shapes
/// each `[n]`
pub struct LossTerms {
    /// Mean over pixels of `(x - dec(enc(x)))^2`.
    pub ae: Tensor,
    /// `(z_p - (z'_q - z_q))^2`: the latent momentum tied to the change of the latent position.
    pub cc: Tensor,
    /// Mean over latents of `(z' - (z + f(z)))^2`: one Euler step of one frame.
    pub hnn: Tensor,
}

/// Weights of the loss terms; `Default` is the reference's `ae + cc + 0.1 hnn`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct LossWeights {
    pub ae: f64,
    pub cc: f64,
    pub hnn: f64,
}

impl Default for LossWeights {
    fn default() -> Self {
        LossWeights { ae: 1.0, cc: 1.0, hnn: 0.1 }
    }
}

impl LossWeights {
    /// `w_ae ae + w_cc cc + w_hnn hnn`: the one place the terms are combined, for numbers
    /// and tensors alike.
    pub fn combine<A, T>(&self, ae: A, cc: A, hnn: A) -> T
    where
        A: std::ops::Mul<f64, Output = T>,
        T: std::ops::Add<Output = T>,
    {
        ae * self.ae + cc * self.cc + hnn * self.hnn
    }

    /// The combination as text, `ae + cc + 0.1 hnn` for the reference's weights.
    pub fn describe(&self) -> String {
        let term = |w: f64, name: &str| if w == 1.0 { name.to_string() } else { format!("{w} {name}") };
        [term(self.ae, "ae"), term(self.cc, "cc"), term(self.hnn, "hnn")].join(" + ")
    }
}

impl LossTerms {
    /// # Shapes
    /// `[n]`
    pub fn total(&self, w: &LossWeights) -> Tensor {
        w.combine(&self.ae, &self.cc, &self.hnn)
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
        LossTerms { ae, cc, hnn }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    #[test]
    fn the_loss_combination_reads_as_its_weights() {
        assert_eq!(LossWeights::default().describe(), "ae + cc + 0.1 hnn");
        assert_eq!(LossWeights { ae: 2.0, cc: 0.0, hnn: 1.0 }.describe(), "2 ae + 0 cc + hnn");
        assert_eq!(LossWeights::default().combine(1.0, 2.0, 10.0), 4.0);
    }

    #[test]
    fn each_family_is_stored_under_the_name_it_is_asked_for_by() {
        // The serde name (config.json, final-losses.json) and Dynamics::name (--model, the
        // weights' file names) are written apart: they must agree for every family.
        for &kind in FieldKind::ALL {
            assert_eq!(serde_json::to_string(&kind).unwrap(), format!("\"{}\"", kind.name()));
            assert_eq!(FieldKind::from_name(kind.name()), Some(kind));
        }
    }

    fn small(kind: FieldKind) -> Model {
        let c = ModelConfig { input_dim: 18, ae_hidden: 16, latent_dim: 2, field_hidden: 32 };
        let m = Model::new(c, kind, 3, Device::Cpu);
        let mut vs = m.vs;
        vs.double();
        Model { vs, ..m }
    }

    fn z(values: &[f64]) -> Tensor {
        Tensor::from_slice(values).view([-1, 2])
    }

    fn h_at(m: &Model, q: f64, p: f64) -> f64 {
        m.field.learned_energy(&z(&[q, p])).expect("an HNN learns H").double_value(&[0])
    }

    fn f_at(m: &Model, q: f64, p: f64) -> (f64, f64) {
        let f = m.field.time_derivative(&z(&[q, p]), false);
        (f.double_value(&[0, 0]), f.double_value(&[0, 1]))
    }

    #[test]
    fn hnn_field_is_the_symplectic_gradient_of_h() {
        let m = small(FieldKind::Hnn);
        let eps = 1e-5;
        for (q, p) in [(0.3, -0.2), (-1.1, 0.7), (0.0, 0.0), (2.0, 1.5)] {
            let (fq, fp) = f_at(&m, q, p);
            let dh_dq = (h_at(&m, q + eps, p) - h_at(&m, q - eps, p)) / (2.0 * eps);
            let dh_dp = (h_at(&m, q, p + eps) - h_at(&m, q, p - eps)) / (2.0 * eps);
            assert!((fq - dh_dp).abs() < 1e-8, "dq/dt {fq} vs dH/dp {dh_dp}");
            assert!((fp + dh_dq).abs() < 1e-8, "dp/dt {fp} vs -dH/dq {}", -dh_dq);
        }
    }

    fn divergence(m: &Model, q: f64, p: f64) -> f64 {
        let eps = 1e-5;
        let dfq_dq = (f_at(m, q + eps, p).0 - f_at(m, q - eps, p).0) / (2.0 * eps);
        let dfp_dp = (f_at(m, q, p + eps).1 - f_at(m, q, p - eps).1) / (2.0 * eps);
        dfq_dq + dfp_dp
    }

    #[test]
    fn hnn_field_is_divergence_free_and_the_baseline_is_not() {
        let (hnn, base) = (small(FieldKind::Hnn), small(FieldKind::Baseline));
        let mut base_div: f64 = 0.0;
        for (q, p) in [(0.3, -0.2), (-1.1, 0.7), (0.5, 1.5)] {
            assert!(divergence(&hnn, q, p).abs() < 1e-7, "{}", divergence(&hnn, q, p));
            base_div = base_div.max(divergence(&base, q, p).abs());
        }
        assert!(base_div > 1e-3, "a generic MLP field has divergence: {base_div}");
    }

    #[test]
    fn hnn_conserves_its_own_h_along_an_exact_rollout() {
        // RK4 with a small step is exact to ~1e-12 here; H must stay put, while the state moves.
        let m = small(FieldKind::Hnn);
        let f = |s: &Tensor| m.field.time_derivative(s, false).detach();
        let mut s = z(&[0.4, -0.3]);
        let h0 = m.field.learned_energy(&s).expect("an HNN learns H").double_value(&[0]);
        let dt = 1e-3;
        for _ in 0..2000 {
            let k1 = f(&s);
            let k2 = f(&(&s + &k1 * (dt / 2.0)));
            let k3 = f(&(&s + &k2 * (dt / 2.0)));
            let k4 = f(&(&s + &k3 * dt));
            s = &s + (k1 + k2 * 2.0 + k3 * 2.0 + k4) * (dt / 6.0);
        }
        let h1 = m.field.learned_energy(&s).expect("an HNN learns H").double_value(&[0]);
        let moved = (s.double_value(&[0, 0]) - 0.4).abs() + (s.double_value(&[0, 1]) + 0.3).abs();
        assert!(moved > 1e-3, "the state should move");
        assert!((h1 - h0).abs() < 1e-9 * h0.abs().max(1.0), "H drifted {h0} -> {h1}");
    }

    #[test]
    fn loss_gradient_through_the_double_backward_matches_finite_differences() {
        let m = small(FieldKind::Hnn);
        let mut rng = crate::rng::Rng::new(11);
        let mut rand = || Tensor::from_slice(&(0..90).map(|_| rng.uniform(0.0, 1.0)).collect::<Vec<_>>()).view([5, 18]);
        let (x, xn) = (rand(), rand());
        let w = LossWeights::default();
        let loss = |m: &Model| m.loss_terms(&x, &xn, true).total(&w).mean(Kind::Double);
        let params = m.named_parameters();
        // Field weights: the HNN term reaches them only through the gradient dH/dz.
        for name in ["field.l1.weight", "field.l3.weight", "ae.enc.l2.weight"] {
            let mut p = params.iter().find(|(n, _)| n == name).unwrap().1.shallow_clone();
            p.zero_grad();
            loss(&m).backward();
            let g = p.grad().double_value(&[1, 0]);
            let eps = 1e-5;
            let orig = p.double_value(&[1, 0]);
            let set = |p: &mut Tensor, v: f64| {
                tch::no_grad(|| {
                    let _ = p.get(1).get(0).fill_(v);
                })
            };
            set(&mut p, orig + eps);
            let up = loss(&m).double_value(&[]);
            set(&mut p, orig - eps);
            let down = loss(&m).double_value(&[]);
            set(&mut p, orig);
            let fd = (up - down) / (2.0 * eps);
            assert!((g - fd).abs() < 1e-7 * fd.abs().max(1e-2), "{name}: autograd {g} vs finite difference {fd}");
        }
    }

    #[test]
    fn the_native_field_equals_libtorchs() {
        for kind in [FieldKind::Hnn, FieldKind::Baseline] {
            let m = small(kind);
            let native = NativeField::new(&m.field);
            for (q, p) in [(0.3, -0.2), (-1.1, 0.7), (2.0, 1.5)] {
                let (fq, fp) = f_at(&m, q, p);
                let mut dz = [0.0; 2];
                native.eval(&[q, p], &mut dz);
                assert!((dz[0] - fq).abs() < 1e-12 && (dz[1] - fp).abs() < 1e-12, "{kind:?}: {dz:?} vs ({fq}, {fp})");
            }
        }
    }

    #[test]
    fn hnn_and_baseline_from_one_seed_start_identical() {
        let (a, b) = (small(FieldKind::Hnn), small(FieldKind::Baseline));
        for ((na, ta), (nb, tb)) in a.named_parameters().iter().zip(b.named_parameters().iter()) {
            assert_eq!(na, nb);
            assert!(ta.equal(tb), "{na} differs");
        }
        // Orthogonal init: W W^T = I for a wide-or-square weight.
        let w = &a.named_parameters().into_iter().find(|(n, _)| n == "field.l2.weight").unwrap().1;
        let eye = Tensor::eye(32, (Kind::Double, Device::Cpu));
        assert!(w.matmul(&w.tr()).allclose(&eye, 1e-5, 1e-5, false));
        // Last field layer has no bias.
        assert!(!a.named_parameters().iter().any(|(n, _)| n == "field.l3.bias"));
    }
}
