//! Stage 2a, the models (SPEC.md section 4): the residual MLP autoencoder between frame
//! pairs and a 2-D latent, and the latent vector fields: the Hamiltonian Neural Network
//! (the symplectic gradient of a learned scalar H) and the plain-MLP baseline.
//!
//! All weights are orthogonal-initialised, biases PyTorch's default U(-1/sqrt(fan_in),
//! 1/sqrt(fan_in)). Parameters are named by path, e.g. `ae.enc.l1.weight`,
//! `field.l3.weight`, which is also how they appear in the `.safetensors` files.

pub mod cpu_step;
pub mod stacked;

use serde::{Deserialize, Serialize};
use tch::nn::{self, Module};
use tch::Tensor;

pub use crate::choice::Choice;

/// Which latent vector field the model learns.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FieldKind {
    /// `dz/dt = (dH/dp, -dH/dq)` with `H` the second output of the MLP.
    Hnn,
    /// The MLP's two outputs used directly as `dz/dt`.
    Baseline,
}

impl Choice for FieldKind {
    const ALL: &'static [Self] = &[FieldKind::Hnn, FieldKind::Baseline];

    fn name(self) -> &'static str {
        match self {
            FieldKind::Hnn => "hnn",
            FieldKind::Baseline => "baseline",
        }
    }

    fn help(self) -> &'static str {
        match self {
            FieldKind::Hnn => "the symplectic gradient of a learned H",
            FieldKind::Baseline => "the MLP's outputs used directly as dz/dt",
        }
    }
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
}

/// Sizes of a latent field: its dimension `d` (even: `q` and `p` halves) and hidden width.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldConfig {
    pub dim: i64,
    pub hidden: i64,
}

impl Default for ModelConfig {
    fn default() -> Self {
        ModelConfig::for_frames(28, 1)
    }
}

fn linear(p: nn::Path, fan_in: i64, fan_out: i64, bias: bool) -> nn::Linear {
    let bound = 1.0 / (fan_in as f64).sqrt();
    let cfg =
        nn::LinearConfig { ws_init: nn::Init::Orthogonal { gain: 1.0 }, bs_init: Some(nn::Init::Uniform { lo: -bound, up: bound }), bias };
    nn::linear(p, fan_in, fan_out, cfg)
}

/// `h = relu(L1 x); h += relu(L2 h); h += relu(L3 h); L4 h`.
#[derive(Debug)]
struct ResidualMlp {
    l: [nn::Linear; 4],
}

impl ResidualMlp {
    fn new(p: nn::Path, dims: [i64; 5]) -> Self {
        let l = [
            linear(&p / "l1", dims[0], dims[1], true),
            linear(&p / "l2", dims[1], dims[2], true),
            linear(&p / "l3", dims[2], dims[3], true),
            linear(&p / "l4", dims[3], dims[4], true),
        ];
        ResidualMlp { l }
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
    pub fn new(p: &nn::Path, c: &ModelConfig) -> Self {
        let h = c.ae_hidden;
        Autoencoder {
            enc: ResidualMlp::new(p / "enc", [c.input_dim, h, h, h, c.latent_dim]),
            dec: ResidualMlp::new(p / "dec", [c.latent_dim, h, h, h, c.input_dim]),
        }
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

/// A learned vector field on the latent space: an MLP `d -> hidden -> hidden -> out` with
/// tanh and no bias on its last layer, read as an HNN (`out = 2`, H the second output) or a
/// baseline (`out = d`). Works in any even dimension `d`.
#[derive(Debug)]
pub struct LatentField {
    kind: FieldKind,
    l1: nn::Linear,
    l2: nn::Linear,
    l3: nn::Linear,
}

impl LatentField {
    pub fn new(p: &nn::Path, c: FieldConfig, kind: FieldKind) -> Self {
        LatentField {
            kind,
            l1: linear(p / "l1", c.dim, c.hidden, true),
            l2: linear(p / "l2", c.hidden, c.hidden, true),
            // The reference's HNN MLP has two outputs (H is the second) in any dimension;
            // the baseline's has one per coordinate.
            l3: linear(p / "l3", c.hidden, if kind == FieldKind::Hnn { 2 } else { c.dim }, false),
        }
    }

    pub fn kind(&self) -> FieldKind {
        self.kind
    }

    /// The MLP's raw outputs.
    ///
    /// # Shapes
    /// `z`: `[n, d]` -> `[n, d]`
    pub fn mlp(&self, z: &Tensor) -> Tensor {
        self.l3.forward(&self.l2.forward(&self.l1.forward(z).tanh()).tanh())
    }

    /// The learned Hamiltonian, the MLP's second output (the reference's "solenoidal" F2);
    /// only meaningful for the HNN.
    ///
    /// # Shapes
    /// `z`: `[n, d]` -> `[n]`
    pub fn hamiltonian(&self, z: &Tensor) -> Tensor {
        self.mlp(z).select(1, 1)
    }

    /// `dz/dt` at `z`. For the HNN it is the symplectic gradient of H, `(dH/dp, -dH/dq)` with
    /// `q` the first and `p` the second half of `z`, which needs `z` in the autograd graph:
    /// a `z` that does not require grad is detached and made a leaf that does. With
    /// `create_graph` the result can itself be differentiated (training: double backward).
    ///
    /// # Shapes
    /// `z`: `[n, d]` (d even) -> `[n, d]`
    pub fn time_derivative(&self, z: &Tensor, create_graph: bool) -> Tensor {
        match self.kind {
            FieldKind::Baseline => self.mlp(z),
            FieldKind::Hnn => {
                let z = if z.requires_grad() { z.shallow_clone() } else { z.detach().set_requires_grad(true) };
                let h = self.hamiltonian(&z).sum(None::<tch::Kind>);
                let g = Tensor::run_backward(&[h], &[&z], true, create_graph).pop().expect("one gradient");
                let d = g.size()[1] / 2;
                let (dh_dq, dh_dp) = (g.narrow(1, 0, d), g.narrow(1, d, d));
                Tensor::cat(&[dh_dp, -dh_dq], 1)
            }
        }
    }
}

/// A latent field evaluated natively in f64, for integrating one trajectory: the same MLP
/// with its weights copied out, and for the HNN the exact gradient written out,
/// `dH/dz = W1^T [(1 - a1^2) * (W2^T [(1 - a2^2) * w3])]` with `w3` the last layer's row of
/// H. One evaluation is ~45k multiply-adds and no libtorch dispatch.
#[derive(Clone, Debug)]
pub struct NativeField {
    kind: FieldKind,
    d: usize,
    h: usize,
    w1: Vec<f64>, // [h, d]
    b1: Vec<f64>,
    w2: Vec<f64>, // [h, h]
    /// W2 transposed, so that the forward product is a sum of columns (vectorises).
    w2t: Vec<f64>,
    b2: Vec<f64>,
    w3: Vec<f64>, // [d, h]
}

fn to_vec(t: &Tensor) -> Vec<f64> {
    Vec::try_from(t.detach().to_device(tch::Device::Cpu).to_kind(tch::Kind::Double).view([-1])).expect("weights")
}

impl NativeField {
    pub fn new(field: &LatentField) -> Self {
        let (h, d) = (field.l1.ws.size()[0] as usize, field.l1.ws.size()[1] as usize);
        let bias = |l: &nn::Linear| l.bs.as_ref().map(to_vec).unwrap_or_else(|| vec![0.0; h]);
        let w2 = to_vec(&field.l2.ws);
        let w2t = (0..h * h).map(|k| w2[(k % h) * h + k / h]).collect();
        NativeField {
            kind: field.kind,
            d,
            h,
            w1: to_vec(&field.l1.ws),
            b1: bias(&field.l1),
            w2,
            w2t,
            b2: bias(&field.l2),
            w3: to_vec(&field.l3.ws),
        }
    }

    /// `dz/dt` at `z`; `z` and `dz` have the latent dimension.
    pub fn eval(&self, z: &[f64], dz: &mut [f64]) {
        let (d, h) = (self.d, self.h);
        let a1: Vec<f64> = (0..h).map(|i| (self.b1[i] + (0..d).map(|j| self.w1[i * d + j] * z[j]).sum::<f64>()).tanh()).collect();
        let mut a2 = self.b2.clone();
        for (j, a) in a1.iter().enumerate() {
            for (u, w) in a2.iter_mut().zip(&self.w2t[j * h..(j + 1) * h]) {
                *u += w * a;
            }
        }
        a2.iter_mut().for_each(|u| *u = u.tanh());
        match self.kind {
            FieldKind::Baseline => {
                for (k, out) in dz.iter_mut().enumerate() {
                    *out = self.w3[k * h..(k + 1) * h].iter().zip(&a2).map(|(w, a)| w * a).sum();
                }
            }
            FieldKind::Hnn => {
                // H is output 1 (the reference's F2).
                let w3 = &self.w3[h..2 * h];
                let g2: Vec<f64> = (0..h).map(|i| (1.0 - a2[i] * a2[i]) * w3[i]).collect();
                let mut g1 = vec![0.0; h];
                for (i, gi) in g2.iter().enumerate() {
                    for (g, w) in g1.iter_mut().zip(&self.w2[i * h..(i + 1) * h]) {
                        *g += w * gi;
                    }
                }
                for (g, a) in g1.iter_mut().zip(&a1) {
                    *g *= 1.0 - a * a;
                }
                let grad: Vec<f64> = (0..d).map(|j| (0..h).map(|i| self.w1[i * d + j] * g1[i]).sum()).collect();
                let half = d / 2;
                for j in 0..half {
                    dz[j] = grad[half + j];
                    dz[half + j] = -grad[j];
                }
            }
        }
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
        let field = LatentField::new(&(vs.root() / "field"), c, kind);
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
    /// the autoencoder first, then the field, so an HNN and a baseline made from the same
    /// seed start from identical weights.
    pub fn new(config: ModelConfig, kind: FieldKind, seed: u64, device: tch::Device) -> Self {
        seeded(seed, || {
            let vs = nn::VarStore::new(device);
            let root = vs.root();
            let ae = Autoencoder::new(&(&root / "ae"), &config);
            let field = LatentField::new(&(&root / "field"), config.field(), kind);
            Model { vs, config, ae, field }
        })
    }

    /// Parameters in a fixed order (sorted by name), for the optimiser and checkpoints.
    pub fn named_parameters(&self) -> Vec<(String, Tensor)> {
        sorted_parameters(&self.vs)
    }
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

impl LossTerms {
    /// # Shapes
    /// `[n]`
    pub fn total(&self, w: &LossWeights) -> Tensor {
        &self.ae * w.ae + &self.cc * w.cc + &self.hnn * w.hnn
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
        m.field.hamiltonian(&z(&[q, p])).double_value(&[0])
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
        let h0 = m.field.hamiltonian(&s).double_value(&[0]);
        let dt = 1e-3;
        for _ in 0..2000 {
            let k1 = f(&s);
            let k2 = f(&(&s + &k1 * (dt / 2.0)));
            let k3 = f(&(&s + &k2 * (dt / 2.0)));
            let k4 = f(&(&s + &k3 * dt));
            s = &s + (k1 + k2 * 2.0 + k3 * 2.0 + k4) * (dt / 6.0);
        }
        let h1 = m.field.hamiltonian(&s).double_value(&[0]);
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
