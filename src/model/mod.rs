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
pub mod conv;
pub mod cpu_step;
pub mod field;
pub mod layout;
mod loss;
pub mod stacked;

use serde::{Deserialize, Serialize};
use tch::nn;
use tch::Tensor;

use crate::integrate::Integrator;
pub use crate::util::choice::Choice;
pub use autoencoder::{Architecture, Autoencoder, DecoderKind, EncoderKind};
pub use field::{Activation, FieldSettings, LatentField, NativeField, Net};
use field::{Mlp, NativeMlp};
use layout::Layout;
pub use loss::*;

/// What a model family is: its latent field's parameters and how the field moves the latent.
pub trait Dynamics: Sync {
    /// The name `--model` takes and files carry (`hnn.safetensors`).
    fn name(&self) -> &'static str;
    /// One line for `--help`.
    fn help(&self) -> &'static str;
    /// Declares the latent field's nets (named `field.*`), in the order they are drawn, with
    /// [`field::declare_net`] or [`field::declare_energy`] (which honour `c.settings`). By
    /// default a free field: one net (the run's, else the family's own) whose outputs are
    /// `dz/dt` ([`Self::time_derivative`]'s default).
    fn declare_field(&self, c: &FieldConfig, layout: &mut Layout) {
        field::declare_net(c, "field", c.dim, (self.own_net(c.hidden), self.own_net_last_bias()), false, c.dim, layout);
    }
    /// The family's own net, when the run sets none (`--preset paper`).
    fn own_net(&self, width: i64) -> Net {
        Net::paper(width)
    }
    /// Whether the family's own free net biases its last layer (the paper's baseline does
    /// not).
    fn own_net_last_bias(&self) -> bool {
        false
    }
    /// Whether it learns an energy (and so may learn it separable, `T(p) + V(q)`).
    fn learns_energy(&self) -> bool {
        false
    }
    /// `dz/dt` at `z` from the family's nets (one, or a separable H's `T` and `V`); with
    /// `create_graph` the result stays differentiable.
    ///
    /// # Shapes
    /// `z`: `[n, d]` -> `[n, d]`
    /// By default the free field's: the net's outputs.
    fn time_derivative(&self, nets: &[Mlp], z: &Tensor, _create_graph: bool) -> Tensor {
        nets[0].forward(z)
    }
    /// `dz/dt` at one latent in f64, for integrating a trajectory; by default the free
    /// field's.
    fn native_derivative(&self, nets: &[NativeMlp], z: &[f64], dz: &mut [f64]) {
        nets[0].outputs(z, dz)
    }
    /// The learned energy, for a family that learns one.
    ///
    /// # Shapes
    /// `z`: `[n, d]` -> `[n]`
    fn learned_energy(&self, _nets: &[Mlp], _z: &Tensor) -> Option<Tensor> {
        None
    }
    /// The hand-written training step, where the family has one; `None`: autograd.
    fn fast_path(&self) -> Option<FastField> {
        None
    }
    /// The integrators it can be trained and rolled out with.
    fn integrators(&self) -> &'static [Integrator] {
        <Integrator as Choice>::ALL
    }
    /// The integrator it trains with when none is asked for, over rollouts of `horizon`
    /// frames (the paper's families at 1 frame: Euler).
    fn default_integrator(&self, _horizon: usize) -> Integrator {
        Integrator::Euler
    }
    /// Whether it is a discrete map from frame to frame rather than a vector field: a map
    /// steps only forward, one frame at a time.
    fn is_map(&self) -> bool {
        false
    }
    /// Whether its decoder reads the latent's `q` half alone (HGN's).
    fn decodes_q_only(&self) -> bool {
        false
    }
    /// The autoencoder it is built with when the run names none and every family of the run
    /// agrees (HGN: convolutions over several frames); `None`: the paper's.
    fn architecture(&self) -> Option<Architecture> {
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
        $(pub mod $module;)+

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
    Rgn => rgn::Rgn,
    Ode => ode::Ode,
    Hgn => hgn::Hgn,
    Lgn => lgn::Lgn,
}

/// The paper's comparison: its baseline against its HNN, trained from the same seed.
pub const PAPER_PAIR: [FieldKind; 2] = [FieldKind::Baseline, FieldKind::Hnn];

/// The paper's (baseline, HNN) pairs among `items`: one for each of `seeds`, in that order,
/// that has both; `key` is an item's family and seed. The one place the pairing is made.
pub fn paper_pairs<T>(items: &[T], seeds: impl IntoIterator<Item = u64>, key: impl Fn(&T) -> (FieldKind, u64)) -> Vec<(&T, &T)> {
    let of = |kind: FieldKind, seed: u64| items.iter().find(|x| key(x) == (kind, seed));
    let [base, hnn] = PAPER_PAIR;
    seeds.into_iter().filter_map(|s| Some((of(base, s)?, of(hnn, s)?))).collect()
}

/// Sizes of the networks; `Default` is the reference's.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelConfig {
    /// A pair of frames, `2 * side * side * frame_channels` (the paper's autoencoder's input).
    pub input_dim: i64,
    /// Colour channels of a frame: 1 (grey), 3 (RGB: DeepMind's suite, held channel-major).
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub frame_channels: i64,
    pub ae_hidden: i64,
    /// Latent dimension: `q` and `p` halves, `2 * dof` of the system (2 for the pendulum)
    /// unless the architecture asks for more.
    pub latent_dim: i64,
    pub field_hidden: i64,
    /// The encoder and decoder (the paper's unless `--encoder`, `--decoder` say).
    #[serde(default)]
    pub arch: Architecture,
    /// The latent field's net, time scale and substeps (each family's own by default).
    #[serde(default, skip_serializing_if = "FieldSettings::is_default")]
    pub field_settings: FieldSettings,
}

impl ModelConfig {
    /// The reference's widths for frames of `side` px of a system with `dof` degrees of
    /// freedom.
    pub fn for_frames(side: u32, dof: usize) -> Self {
        ModelConfig::with(side, dof, Architecture::default())
    }

    /// The reference's widths with the encoder and decoder of `arch`.
    pub fn with(side: u32, dof: usize, arch: Architecture) -> Self {
        let latent = arch.latent.unwrap_or(2 * dof) as i64;
        ModelConfig {
            input_dim: 2 * (side as i64) * (side as i64),
            frame_channels: 1,
            ae_hidden: 200,
            latent_dim: latent,
            field_hidden: 200,
            arch,
            field_settings: FieldSettings::default(),
        }
    }

    /// These sizes for frames of `channels` colour channels (the paper's: 1).
    pub fn with_channels(self, channels: usize) -> Self {
        let c = channels as i64;
        ModelConfig { input_dim: self.input_dim / self.frame_channels * c, frame_channels: c, ..self }
    }

    /// These sizes with the latent field built and stepped as `settings` say.
    pub fn with_field(self, settings: FieldSettings) -> Self {
        ModelConfig { field_settings: settings, ..self }
    }

    /// The frames' side in px.
    pub fn side(&self) -> i64 {
        ((self.input_dim / (2 * self.frame_channels)) as f64).sqrt().round() as i64
    }

    /// Values of a frame: its pixels times its channels.
    pub fn pixels(&self) -> i64 {
        self.input_dim / 2
    }

    /// The latent field's part of the sizes.
    pub fn field(&self) -> FieldConfig {
        FieldConfig { dim: self.latent_dim, hidden: self.field_hidden, settings: self.field_settings }
    }

    /// Every parameter of a model of family `kind`: the autoencoder's, then the field's
    /// (the order their weights are drawn in).
    pub fn layout(&self, kind: FieldKind) -> Layout {
        let mut layout = Layout::new();
        autoencoder::declare(self, kind, &mut layout);
        self.field().declare(kind, &mut layout);
        layout
    }
}

/// Sizes of a latent field: its dimension `d` (even: `q` and `p` halves), the hidden width
/// of a family's own net, and the run's settings of every family's field.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct FieldConfig {
    pub dim: i64,
    pub hidden: i64,
    #[serde(default, skip_serializing_if = "FieldSettings::is_default")]
    pub settings: FieldSettings,
}

impl FieldConfig {
    /// The parameters of a field of family `kind` alone (the coordinate tasks).
    pub fn layout(&self, kind: FieldKind) -> Layout {
        let mut layout = Layout::new();
        self.declare(kind, &mut layout);
        layout
    }

    /// Declares the field of `kind`: the family's nets, then a learned time scale if asked.
    fn declare(&self, kind: FieldKind, layout: &mut Layout) {
        kind.dynamics().declare_field(self, layout);
        field::declare_time_scale(self, layout);
    }
}

fn one() -> i64 {
    1
}

fn is_one(v: &i64) -> bool {
    *v == 1
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
        let field = LatentField::of(kind, &c.settings, &layout, &params);
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
            let ae = Autoencoder::of(&config, kind, &layout, &params);
            let field = LatentField::of(kind, &config.field_settings, &layout, &params);
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
                    "'{key}' has shape {:?} but the model needs {:?} (input {input_dim} = 2 x side^2 x channels): weights of another architecture or frame size",
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

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    #[test]
    fn the_loss_combination_reads_as_its_weights() {
        assert_eq!(LossWeights::default().describe(), "ae + cc + 0.1 hnn");
        assert_eq!(LossWeights { ae: 2.0, cc: 0.0, latent: 1.0, roll: 0.0 }.describe(), "2 ae + 0 cc + hnn");
        assert_eq!(LossWeights { roll: 1.0, ..LossWeights::default() }.describe(), "ae + cc + 0.1 hnn + roll");
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
        small_with(kind, FieldSettings::default())
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
        let mut rng = crate::util::rng::Rng::new(11);
        let mut rand = || Tensor::from_slice(&(0..90).map(|_| rng.uniform(0.0, 1.0)).collect::<Vec<_>>()).view([5, 18]);
        let (x, xn) = (rand(), rand());
        let w = LossWeights::default();
        let loss = |m: &Model| m.loss_terms(&x, &xn, true).total(&w).mean(Kind::Double);
        let params = m.named_parameters();
        // Field weights: the HNN term reaches them only through the gradient dH/dz.
        for name in ["field.l1.weight", "field.l3.weight", "ae.enc.l2.weight"] {
            let (g, fd) = gradient_and_difference(&m, &params, name, [1, 0], 1e-5, &loss);
            assert!((g - fd).abs() < 1e-7 * fd.abs().max(1e-2), "{name}: autograd {g} vs finite difference {fd}");
        }
    }

    /// The autograd derivative of `loss` by entry `at` of parameter `name`, and its central
    /// difference with step `eps`.
    fn gradient_and_difference(
        m: &Model,
        params: &[(String, Tensor)],
        name: &str,
        at: [i64; 2],
        eps: f64,
        loss: &dyn Fn(&Model) -> Tensor,
    ) -> (f64, f64) {
        gradient_and_difference_at(m, params, name, &at, eps, loss)
    }

    /// [`gradient_and_difference`] at entry `at` of a parameter of any shape.
    fn gradient_and_difference_at(
        m: &Model,
        params: &[(String, Tensor)],
        name: &str,
        at: &[i64],
        eps: f64,
        loss: &dyn Fn(&Model) -> Tensor,
    ) -> (f64, f64) {
        let mut p = params.iter().find(|(n, _)| n == name).unwrap_or_else(|| panic!("no {name}")).1.shallow_clone();
        let flat = at.iter().zip(p.stride()).map(|(i, s)| i * s).sum::<i64>();
        p.zero_grad();
        loss(m).backward();
        let g = p.grad().view([-1]).double_value(&[flat]);
        let orig = p.view([-1]).double_value(&[flat]);
        let set = |p: &mut Tensor, v: f64| {
            tch::no_grad(|| {
                let _ = p.view([-1]).get(flat).fill_(v);
            })
        };
        set(&mut p, orig + eps);
        let up = loss(m).double_value(&[]);
        set(&mut p, orig - eps);
        let down = loss(m).double_value(&[]);
        set(&mut p, orig);
        (g, (up - down) / (2.0 * eps))
    }

    /// `n` random windows of `k + 1` pairs of 18 values, in f64.
    fn windows(n: i64, k: i64, seed: u64) -> Tensor {
        let mut rng = crate::util::rng::Rng::new(seed);
        let v: Vec<f64> = (0..n * (k + 1) * 18).map(|_| rng.uniform(0.0, 1.0)).collect();
        Tensor::from_slice(&v).view([n, k + 1, 18])
    }

    #[test]
    fn a_window_of_one_euler_frame_is_the_papers_loss() {
        for kind in [FieldKind::Hnn, FieldKind::Baseline, FieldKind::Ode] {
            let m = small(kind);
            let w = windows(5, 1, 4);
            let (x, xn) = (w.select(1, 0), w.select(1, 1));
            let (a, b) = (m.loss_terms(&x, &xn, false), m.window_terms(&w, 1, Integrator::Euler, &LossWeights::default(), false));
            for (name, p, q) in [("ae", &a.ae, &b.ae), ("cc", &a.cc, &b.cc), ("latent", &a.latent, &b.latent)] {
                let err = (p - q).abs().max().double_value(&[]);
                assert!(err < 1e-12, "{kind:?} {name}: {err}");
            }
        }
    }

    #[test]
    fn every_familys_rollout_loss_gradient_matches_finite_differences() {
        // Through every integrator the family takes, over a rollout of 3 frames with the
        // decoded pixels in the loss: the gradient autograd gives (through the HNN's double
        // backward, the midpoint rule's iterations) is the loss's derivative.
        let w = windows(4, 3, 8);
        let weights = LossWeights { roll: 1.0, ..LossWeights::default() };
        for &kind in FieldKind::ALL {
            for &integrator in kind.dynamics().integrators() {
                let m = small(kind);
                let loss = |m: &Model| m.window_terms(&w, 3, integrator, &weights, true).total(&weights).mean(Kind::Double);
                let params = m.named_parameters();
                for name in ["field.l1.weight", "field.l2.weight", "ae.dec.l1.weight", "ae.enc.l4.weight"] {
                    let (g, fd) = gradient_and_difference(&m, &params, name, [1, 0], 1e-6, &loss);
                    assert!(
                        (g - fd).abs() < 1e-6 * fd.abs().max(1e-3),
                        "{kind:?} {integrator:?} {name}: autograd {g} vs finite difference {fd}"
                    );
                }
            }
        }
    }

    /// A family's model with the convolutional encoder (3 frames) and decoder on frames of
    /// 8 px, 3 channels, a latent of 4, in f64.
    fn small_conv(kind: FieldKind) -> Model {
        let arch = Architecture { context: 3, latent: Some(4), channels: 3, ..Architecture::convolutional() };
        let c = ModelConfig { ae_hidden: 16, field_hidden: 32, ..ModelConfig::with(8, 1, arch) };
        let m = Model::new(c, kind, 3, Device::Cpu);
        let mut vs = m.vs;
        vs.double();
        Model { vs, ..m }
    }

    /// `n` random windows of `p` pairs of 8 px frames, in f64.
    fn pair_windows(n: i64, p: i64, seed: u64) -> Tensor {
        let mut rng = crate::util::rng::Rng::new(seed);
        let v: Vec<f64> = (0..n * p * 128).map(|_| rng.uniform(0.0, 1.0)).collect();
        Tensor::from_slice(&v).view([n, p, 128])
    }

    #[test]
    fn every_familys_convolutional_rollout_loss_gradient_matches_finite_differences() {
        // Through the convolutions (both ways), the q-only decoder of HGN and each family's
        // own step, over a rollout of 3 frames from a context of 3: the benchmark's loss
        // (the decoded rollout's pixels) and the paper's terms on top.
        let k = 3;
        let w = pair_windows(3, Architecture { context: 3, ..Architecture::convolutional() }.window_frames(k as usize) as i64 - 1, 9);
        for weights in
            [LossWeights { cc: 0.0, latent: 0.0, roll: 1.0, ..LossWeights::default() }, LossWeights { roll: 1.0, ..LossWeights::default() }]
        {
            for &kind in FieldKind::ALL {
                let m = small_conv(kind);
                let integrator = kind.dynamics().default_integrator(k as usize);
                let loss = |m: &Model| m.window_terms(&w, k, integrator, &weights, true).total(&weights).mean(Kind::Double);
                let params = m.named_parameters();
                for (name, at) in [
                    ("field.l1.weight", [0, 1]),
                    ("ae.enc.c1.weight", [1, 2]),
                    ("ae.enc.c6.bias", [0, 2]),
                    ("ae.enc.out.weight", [1, 0]),
                    ("ae.dec.c2.weight", [2, 1]),
                    ("ae.dec.in.weight", [2, 1]),
                ] {
                    let (g, fd) = gradient_and_difference(&m, &params, name, at, 1e-6, &loss);
                    assert!(
                        (g - fd).abs() < 1e-6 * fd.abs().max(1e-4),
                        "{kind:?} {name} {weights:?}: autograd {g} vs finite difference {fd}"
                    );
                }
            }
        }
    }

    #[test]
    fn the_q_only_decoder_reads_no_p() {
        let z = Tensor::from_slice(&[0.3, -0.2, 0.5, 0.1, -0.7, 0.4, 0.9, -0.3]).view([2, 4]).set_requires_grad(true);
        let other = &z * Tensor::from_slice(&[1.0, 1.0, 3.0, -2.0]).view([1, 4]);
        for kind in [FieldKind::Hgn, FieldKind::Ode] {
            for m in [small_conv(kind), small(kind)] {
                let d = m.config.latent_dim;
                let z = z.narrow(1, 0, d).detach().set_requires_grad(true);
                let moved = other.narrow(1, 0, d).detach();
                let moved = if d == 4 { moved } else { Tensor::cat(&[z.narrow(1, 0, 1).detach(), z.narrow(1, 1, 1).detach() * 5.0], 1) };
                let same = m.ae.decode(&z).equal(&m.ae.decode(&moved));
                m.ae.decode(&z).sum(Kind::Double).backward();
                let dp = z.grad().narrow(1, d / 2, d / 2).abs().max().double_value(&[]);
                let dq = z.grad().narrow(1, 0, d / 2).abs().max().double_value(&[]);
                assert!(dq > 0.0, "{kind:?}: the decoder reads q");
                if kind == FieldKind::Hgn {
                    assert!(same && dp == 0.0, "HGN's decoder must not read p: {dp}");
                } else {
                    assert!(!same && dp > 0.0, "{kind:?}'s decoder reads p");
                }
            }
        }
    }

    #[test]
    fn a_map_family_takes_only_its_own_step() {
        assert_eq!(FieldKind::Rgn.dynamics().integrators(), &[Integrator::Euler]);
        assert!(FieldKind::Rgn.dynamics().is_map() && !FieldKind::Ode.dynamics().is_map());
        assert_eq!(FieldKind::Hnn.dynamics().default_integrator(1), Integrator::Euler, "the paper's");
        assert_eq!(FieldKind::Hnn.dynamics().default_integrator(8), Integrator::Leapfrog);
        assert_eq!(FieldKind::Ode.dynamics().default_integrator(1), Integrator::Rk4);
    }

    #[test]
    fn the_native_field_equals_libtorchs() {
        for &kind in FieldKind::ALL {
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

    /// The settings the issue-24 tests run every family under: each option alone, then all.
    fn settings_variants() -> Vec<FieldSettings> {
        let net = Some(Net { layers: 3, width: 16, activation: Activation::Softplus });
        let d = FieldSettings::default();
        vec![
            FieldSettings { net, ..d },
            FieldSettings { net: Some(Net { layers: 1, width: 8, activation: Activation::Swish }), ..d },
            FieldSettings { separable: true, ..d },
            FieldSettings { substeps: 3, ..d },
            FieldSettings { time_scale: 0.6, ..d },
            FieldSettings { learn_time_scale: true, time_scale: 0.8, ..d },
            FieldSettings { net, separable: true, substeps: 2, learn_time_scale: true, time_scale: 1.3 },
        ]
    }

    /// A small model of `kind` (frames of 9 px pairs, a latent of 2) with the field built as
    /// `settings` say, in f64.
    fn small_with(kind: FieldKind, settings: FieldSettings) -> Model {
        let c = ModelConfig {
            input_dim: 18,
            frame_channels: 1,
            ae_hidden: 16,
            latent_dim: 2,
            field_hidden: 32,
            arch: Default::default(),
            field_settings: settings,
        };
        let m = Model::new(c, kind, 3, Device::Cpu);
        let mut vs = m.vs;
        vs.double();
        Model { vs, ..m }
    }

    #[test]
    fn every_setting_of_every_familys_field_gives_finite_difference_gradients() {
        // The rollout loss over 3 frames with the decoded pixels, through each family's
        // integrators: every net parameter, the learned time scale and the autoencoder get
        // the loss's derivative (the HNN's through its double backward, substeps unrolled).
        let w = windows(3, 3, 12);
        let weights = LossWeights { roll: 1.0, ..LossWeights::default() };
        for settings in settings_variants() {
            for &kind in FieldKind::ALL {
                let m = small_with(kind, settings);
                let params = m.named_parameters();
                let mut names: Vec<&str> = params.iter().map(|(n, _)| n.as_str()).filter(|n| n.starts_with("field.")).collect();
                names.push("ae.enc.l4.weight");
                assert_eq!(
                    names.iter().any(|n| n.starts_with("field.t.")),
                    settings.separable && kind.dynamics().learns_energy(),
                    "{kind:?} {settings:?}"
                );
                for &integrator in kind.dynamics().integrators() {
                    let loss = |m: &Model| m.window_terms(&w, 3, integrator, &weights, true).total(&weights).mean(Kind::Double);
                    for name in &names {
                        let at: Vec<i64> = vec![0; params.iter().find(|(n, _)| n == name).unwrap().1.dim()];
                        let (g, fd) = gradient_and_difference_at(&m, &params, name, &at, 1e-6, &loss);
                        assert!(
                            (g - fd).abs() < 1e-6 * fd.abs().max(1e-3),
                            "{kind:?} {integrator:?} {settings:?} {name}: autograd {g} vs finite difference {fd}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn the_native_field_and_step_equal_libtorchs_under_every_setting() {
        for settings in settings_variants() {
            for &kind in FieldKind::ALL {
                let m = small_with(kind, settings);
                let native = NativeField::new(&m.field);
                for &integrator in kind.dynamics().integrators() {
                    for (q, p) in [(0.3, -0.2), (-1.1, 0.7)] {
                        let (fq, fp) = f_at(&m, q, p);
                        let mut dz = [0.0; 2];
                        native.eval(&[q, p], &mut dz);
                        assert!((dz[0] - fq).abs() < 1e-12 && (dz[1] - fp).abs() < 1e-12, "{kind:?} {settings:?}: {dz:?} vs ({fq}, {fp})");
                        let ours = native.step(integrator, &vec![q, p], 0.7);
                        let theirs = m.field.step(integrator, &z(&[q, p]), 0.7, false);
                        for (j, v) in ours.iter().enumerate() {
                            let t = theirs.double_value(&[0, j as i64]);
                            assert!((v - t).abs() < 1e-12, "{kind:?} {integrator:?} {settings:?}: {v} vs {t}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn substeps_are_that_many_steps_of_a_fraction_of_the_frame() {
        let one = small_with(FieldKind::Ode, FieldSettings::default());
        let four = small_with(FieldKind::Ode, FieldSettings { substeps: 4, ..Default::default() });
        for ((_, a), (_, b)) in one.named_parameters().iter().zip(four.named_parameters().iter()) {
            assert!(a.equal(b), "substeps change no weight");
        }
        for integrator in [Integrator::Euler, Integrator::Rk4, Integrator::Leapfrog, Integrator::Midpoint] {
            let z0 = z(&[0.4, -0.3]);
            let by_four = four.field.step(integrator, &z0, 1.0, false);
            let mut by_hand = z0.shallow_clone();
            for _ in 0..4 {
                by_hand = one.field.step(integrator, &by_hand, 0.25, false);
            }
            assert!(by_four.equal(&by_hand), "{integrator:?}");
        }
        // A map takes its own one-frame step whatever the substeps.
        let rgn = small_with(FieldKind::Rgn, FieldSettings { substeps: 4, ..Default::default() });
        let g = rgn.field.time_derivative(&z(&[0.4, -0.3]), false);
        assert!(rgn.field.step(Integrator::Euler, &z(&[0.4, -0.3]), 1.0, false).equal(&(z(&[0.4, -0.3]) + g)));
    }

    #[test]
    fn a_separable_h_moves_q_by_p_alone_and_p_by_q_alone() {
        let m = small_with(FieldKind::Hnn, FieldSettings { separable: true, ..Default::default() });
        let eps = 1e-6;
        for (q, p) in [(0.3, -0.2), (-1.1, 0.7)] {
            let dfq_dq = (f_at(&m, q + eps, p).0 - f_at(&m, q - eps, p).0) / (2.0 * eps);
            let dfp_dp = (f_at(&m, q, p + eps).1 - f_at(&m, q, p - eps).1) / (2.0 * eps);
            let dfq_dp = (f_at(&m, q, p + eps).0 - f_at(&m, q, p - eps).0) / (2.0 * eps);
            assert!(dfq_dq.abs() < 1e-9 && dfp_dp.abs() < 1e-9, "dq/dt reads only p, dp/dt only q: {dfq_dq} {dfp_dp}");
            assert!(dfq_dp.abs() > 1e-4, "dq/dt reads p: {dfq_dp}");
        }
        // H is T(p) + V(q): its mixed difference is zero, and dz/dt its symplectic gradient.
        let h = |q: f64, p: f64| h_at(&m, q, p);
        let mixed = h(0.5, 0.5) - h(0.5, -0.4) - h(-0.3, 0.5) + h(-0.3, -0.4);
        assert!(mixed.abs() < 1e-12, "{mixed}");
        let (fq, fp) = f_at(&m, 0.2, 0.1);
        assert!((fq - (h(0.2, 0.1 + eps) - h(0.2, 0.1 - eps)) / (2.0 * eps)).abs() < 1e-8);
        assert!((fp + (h(0.2 + eps, 0.1) - h(0.2 - eps, 0.1)) / (2.0 * eps)).abs() < 1e-8);
    }

    #[test]
    fn leapfrog_is_reversible_for_a_separable_h_and_not_for_a_general_one() {
        // 200 steps forward, 200 back (h = -1): a separable H's leapfrog returns to its start
        // to round-off; the general H's, stepped by the same formula, does not.
        let back_and_forth = |settings: FieldSettings| {
            let native = NativeField::new(&small_with(FieldKind::Hnn, settings).field);
            let z0 = vec![0.4, -0.3];
            let mut z = z0.clone();
            for h in [1.0, -1.0] {
                for _ in 0..200 {
                    z = native.step(Integrator::Leapfrog, &z, h);
                }
            }
            (z[0] - z0[0]).abs().max((z[1] - z0[1]).abs())
        };
        let separable = back_and_forth(FieldSettings { separable: true, ..Default::default() });
        let general = back_and_forth(FieldSettings::default());
        assert!(separable < 1e-12, "separable: {separable}");
        assert!(general > 1e-6, "general: {general}");
    }

    #[test]
    fn a_learned_time_scale_starts_at_the_given_one_and_scales_the_field() {
        let fixed = small_with(FieldKind::Hnn, FieldSettings { time_scale: 0.6, ..Default::default() });
        let learned = small_with(FieldKind::Hnn, FieldSettings { time_scale: 0.6, learn_time_scale: true, ..Default::default() });
        let plain = small_with(FieldKind::Hnn, FieldSettings::default());
        // The parameter is drawn in f32 (then the test's store is made f64).
        let s = learned.field.time_scale();
        assert_eq!(s, 0.6f32 as f64);
        let (a, b, c) = (f_at(&fixed, 0.3, 0.2), f_at(&learned, 0.3, 0.2), f_at(&plain, 0.3, 0.2));
        assert!((a.0 - 0.6 * c.0).abs() < 1e-14 && (a.1 - 0.6 * c.1).abs() < 1e-14);
        assert!((b.0 - s * c.0).abs() < 1e-14 && (b.1 - s * c.1).abs() < 1e-14);
        assert!(learned.named_parameters().iter().any(|(n, _)| n == field::TIME_SCALE));
        assert!(!fixed.named_parameters().iter().any(|(n, _)| n == field::TIME_SCALE));
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
