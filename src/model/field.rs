//! The latent fields' networks and how a field steps. Every family's network is an MLP
//! `d -> width (x layers) -> out` ([`Net`]): by default the family's own (the paper's tanh
//! 2 x 200 with no bias on its last layer for hnn, baseline and hgn, the benchmark's swish
//! 3 x 200 for rgn and ode), or one net for every family (`--layers`, `--width`,
//! `--activation`; [`FieldSettings`]). A Hamiltonian family may instead own two nets, a
//! separable `H = T(p) + V(q)` (`field.t.*`, `field.v.*`). How the nets' outputs become
//! `dz/dt` is the family's ([`super::Dynamics`]); this module holds the nets, their
//! declarations, the time scale and substeps every family shares, and their native f64
//! evaluation for integrating one trajectory.

use serde::{Deserialize, Serialize};
use tch::nn::{self, Module};
use tch::Tensor;

use super::layout::{Init, Layout};
use super::{FieldConfig, FieldKind};
use crate::integrate::Integrator;
use crate::util::choice::Choice;

/// A field network's shape: hidden layers of `width`, each followed by `activation`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Net {
    /// Hidden layers (the paper's: 2).
    pub layers: usize,
    pub width: i64,
    pub activation: Activation,
}

impl Net {
    /// The paper's: tanh, 2 hidden layers.
    pub fn paper(width: i64) -> Self {
        Net { layers: 2, width, activation: Activation::Tanh }
    }

    /// The benchmark's swish net at this project's budget: 3 hidden layers (the benchmark's
    /// are 5 x 250).
    pub fn swish(width: i64) -> Self {
        Net { layers: 3, width, activation: Activation::Swish }
    }
}

/// The most hidden layers and the widest layer accepted (a bound on nonsense, not on memory:
/// the memory estimate checks that).
pub const MAX_LAYERS: usize = 64;
pub const MAX_WIDTH: i64 = 65_536;

/// How every family's latent field is built and stepped, beyond the family itself; `Default`
/// is the paper's (each family's own net, one step a frame, time scale 1). Written into a
/// run's config only where it departs from that, so a paper run's files keep their bytes.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FieldSettings {
    /// One net for every family; `None`: each family's own.
    pub net: Option<Net>,
    /// A Hamiltonian family learns `H = T(p) + V(q)` with two nets (leapfrog is then exactly
    /// symplectic).
    pub separable: bool,
    /// Frames a unit of the field's time is: `dz/dt` is the net's field times this.
    pub time_scale: f64,
    /// The time scale is a parameter (`field.time_scale`, starting at `time_scale`) trained
    /// with the rest.
    pub learn_time_scale: bool,
    /// Integrator steps a frame (`h / substeps` each), in training and rollouts alike.
    pub substeps: usize,
}

impl Default for FieldSettings {
    fn default() -> Self {
        FieldSettings { net: None, separable: false, time_scale: 1.0, learn_time_scale: false, substeps: 1 }
    }
}

impl FieldSettings {
    pub fn is_default(&self) -> bool {
        *self == FieldSettings::default()
    }

    /// The net `kind` is built with: the settings' one, else the family's own.
    pub fn net_of(&self, kind: FieldKind, width: i64) -> Net {
        self.net.unwrap_or_else(|| kind.dynamics().own_net(width))
    }

    /// Checks the settings for a latent of `dim` values; errors name the flag.
    pub fn check(&self, dim: i64) -> std::result::Result<(), (&'static str, String)> {
        if self.substeps == 0 {
            return Err(("--substeps", "must be at least 1 step a frame".into()));
        }
        if let Some(n) = self.net {
            if n.layers == 0 || n.layers > MAX_LAYERS {
                return Err(("--layers", format!("must be between 1 and {MAX_LAYERS} hidden layers (got {})", n.layers)));
            }
            if n.width <= 0 || n.width > MAX_WIDTH {
                return Err(("--width", format!("must be between 1 and {MAX_WIDTH} units (got {})", n.width)));
            }
        }
        if !(self.time_scale.is_finite() && self.time_scale > 0.0) {
            return Err(("--time-scale", format!("must be a positive number of frames (got {})", self.time_scale)));
        }
        if self.separable && dim % 2 != 0 {
            return Err(("--separable", format!("splits the latent into q and p halves, but the latent has {dim} values (odd)")));
        }
        Ok(())
    }
}

/// Declares a family's net under `prefix` with `out` outputs: the settings' net where one is
/// set (its last layer biased unless `energy`: a constant added to an energy moves nothing),
/// else `own`, the family's own net and whether its last layer is biased; in the reference's
/// draw order (each layer's bias, then its weight).
pub fn declare_net(c: &FieldConfig, prefix: &str, inputs: i64, own: (Net, bool), energy: bool, out: i64, layout: &mut Layout) {
    let (net, last_bias) = match c.settings.net {
        Some(n) => (n, !energy),
        None => own,
    };
    let mut width = inputs;
    for l in 1..=net.layers {
        layout.linear(&format!("{prefix}.l{l}"), width, net.width, true);
        width = net.width;
    }
    layout.linear(&format!("{prefix}.l{}", net.layers + 1), width, out, last_bias);
}

/// Declares a learned energy's nets: one net of `d` inputs under `field.` whose output
/// `output` (of `outputs`) is H, or with `separable` `T(p)` under `field.t.` and `V(q)` under
/// `field.v.`, each of `d / 2` inputs and one output.
pub fn declare_energy(c: &FieldConfig, own: Net, outputs: i64, layout: &mut Layout) {
    if c.settings.separable {
        declare_net(c, "field.t", c.dim / 2, (own, false), true, 1, layout);
        declare_net(c, "field.v", c.dim / 2, (own, false), true, 1, layout);
    } else {
        declare_net(c, "field", c.dim, (own, false), true, outputs, layout);
    }
}

/// Declares the learned time scale where the settings ask for one (after the nets, so the
/// nets' weights are drawn as without it).
pub fn declare_time_scale(c: &FieldConfig, layout: &mut Layout) {
    if c.settings.learn_time_scale {
        layout.push(TIME_SCALE, &[1], Init::Const(c.settings.time_scale));
    }
}

/// The learned time scale's parameter.
pub const TIME_SCALE: &str = "field.time_scale";

/// A hidden layer's nonlinearity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Activation {
    Tanh,
    /// `x sigmoid(x)` (SiLU).
    Swish,
    /// `ln(1 + e^x)`.
    Softplus,
}

impl Choice for Activation {
    const ALL: &'static [Self] = &[Activation::Tanh, Activation::Swish, Activation::Softplus];

    fn name(self) -> &'static str {
        match self {
            Activation::Tanh => "tanh",
            Activation::Swish => "swish",
            Activation::Softplus => "softplus",
        }
    }

    fn help(self) -> &'static str {
        match self {
            Activation::Tanh => "the paper's",
            Activation::Swish => "x sigmoid(x), the benchmark's",
            Activation::Softplus => "ln(1 + e^x)",
        }
    }
}

impl Activation {
    fn apply(self, x: &Tensor) -> Tensor {
        match self {
            Activation::Tanh => x.tanh(),
            Activation::Swish => x.silu(),
            Activation::Softplus => x.softplus(),
        }
    }

    fn native(self, x: f64) -> f64 {
        match self {
            Activation::Tanh => x.tanh(),
            Activation::Swish => x / (1.0 + (-x).exp()),
            Activation::Softplus => x.max(0.0) + (-x.abs()).exp().ln_1p(),
        }
    }

    /// The first and second derivatives at pre-activation `x` whose activation is `a`.
    fn native_derivatives(self, x: f64, a: f64) -> (f64, f64) {
        match self {
            Activation::Tanh => {
                let s = 1.0 - a * a;
                (s, -2.0 * a * s)
            }
            Activation::Swish => {
                let g = 1.0 / (1.0 + (-x).exp());
                (g * (1.0 + x * (1.0 - g)), g * (1.0 - g) * (2.0 + x * (1.0 - 2.0 * g)))
            }
            Activation::Softplus => {
                let g = 1.0 / (1.0 + (-x).exp());
                (g, g * (1.0 - g))
            }
        }
    }
}

/// A field network's layers (`PREFIX.l1` .. in order), handles to tensors held by a variable
/// store; the activation follows every layer but the last.
#[derive(Debug)]
pub struct Mlp {
    pub layers: Vec<nn::Linear>,
    pub activation: Activation,
}

impl Mlp {
    /// The layers under `prefix` among `params` (canonical order of `layout`): `PREFIX.l1`,
    /// `PREFIX.l2`, ... as many as are declared, each biased where its bias is declared.
    pub fn of(layout: &Layout, params: &[Tensor], prefix: &str, activation: Activation) -> Self {
        let names = layout.names();
        let has = |n: &str| names.iter().any(|x| x == n);
        let t = |name: &str| params[layout.index(name)].shallow_clone();
        let layers = (1..)
            .map(|l| format!("{prefix}.l{l}"))
            .take_while(|p| has(&format!("{p}.weight")))
            .map(|p| {
                let bias = format!("{p}.bias");
                nn::Linear { ws: t(&format!("{p}.weight")), bs: has(&bias).then(|| t(&bias)) }
            })
            .collect();
        Mlp { layers, activation }
    }

    /// The network's raw outputs.
    ///
    /// # Shapes
    /// `z`: `[n, inputs]` -> `[n, out]`
    pub fn forward(&self, z: &Tensor) -> Tensor {
        let (last, hidden) = self.layers.split_last().expect("a field has layers");
        let h = hidden.iter().fold(z.shallow_clone(), |h, l| self.activation.apply(&l.forward(&h)));
        last.forward(&h)
    }
}

/// The time scale a field's `dz/dt` is multiplied by: a fixed number, or a parameter.
#[derive(Debug)]
enum Scale {
    Fixed(f64),
    Learned(Tensor),
}

/// A learned vector field on the latent space: a family's reading of its nets. Works in
/// any even dimension `d` (`q` the first half of `z`, `p` the second).
#[derive(Debug)]
pub struct LatentField {
    kind: FieldKind,
    /// The family's nets: one under `field.`, or a separable H's `T` and `V`.
    pub(crate) nets: Vec<Mlp>,
    scale: Scale,
    substeps: usize,
}

impl LatentField {
    pub fn of(kind: FieldKind, settings: &FieldSettings, layout: &Layout, params: &[Tensor]) -> Self {
        let activation = settings.net_of(kind, 0).activation; // the widths are the layout's
        let nets = if settings.separable && kind.dynamics().learns_energy() {
            vec![Mlp::of(layout, params, "field.t", activation), Mlp::of(layout, params, "field.v", activation)]
        } else {
            vec![Mlp::of(layout, params, "field", activation)]
        };
        let scale = if settings.learn_time_scale {
            Scale::Learned(params[layout.index(TIME_SCALE)].shallow_clone())
        } else {
            Scale::Fixed(settings.time_scale)
        };
        // A map steps once a frame, its own step.
        let substeps = if kind.dynamics().is_map() { 1 } else { settings.substeps };
        LatentField { kind, nets, scale, substeps }
    }

    pub fn kind(&self) -> FieldKind {
        self.kind
    }

    fn scaled(&self, t: Tensor) -> Tensor {
        match &self.scale {
            Scale::Fixed(s) if *s == 1.0 => t,
            Scale::Fixed(s) => t * *s,
            Scale::Learned(s) => t * s,
        }
    }

    /// The time scale now (a learned one's current value).
    pub fn time_scale(&self) -> f64 {
        match &self.scale {
            Scale::Fixed(s) => *s,
            Scale::Learned(s) => s.double_value(&[0]),
        }
    }

    /// The learned energy, for families that learn one (the HNN's H), times the time scale:
    /// the energy whose symplectic gradient is `dz/dt`.
    ///
    /// # Shapes
    /// `z`: `[n, d]` -> `[n]`
    pub fn learned_energy(&self, z: &Tensor) -> Option<Tensor> {
        self.kind.dynamics().learned_energy(&self.nets, z).map(|h| self.scaled(h))
    }

    /// `dz/dt` at `z`. With `create_graph` the result can itself be differentiated
    /// (training an HNN: double backward).
    ///
    /// # Shapes
    /// `z`: `[n, d]` (d even) -> `[n, d]`
    pub fn time_derivative(&self, z: &Tensor, create_graph: bool) -> Tensor {
        self.scaled(self.kind.dynamics().time_derivative(&self.nets, z, create_graph))
    }

    /// The latent after one step of `h` frames with `integrator` (the family's own step for
    /// a family that is a discrete map), taken as `substeps` steps of `h / substeps`.
    ///
    /// # Shapes
    /// `z`: `[n, d]` -> `[n, d]`
    pub fn step(&self, integrator: Integrator, z: &Tensor, h: f64, create_graph: bool) -> Tensor {
        let mut f = |z: &Tensor| self.time_derivative(z, create_graph);
        substepped(integrator, &mut f, z, h, self.substeps)
    }
}

/// `substeps` steps of `h / substeps` (one step of `h` itself when `substeps` is 1).
fn substepped<V: crate::integrate::Vector>(integrator: Integrator, f: &mut dyn FnMut(&V) -> V, z: &V, h: f64, substeps: usize) -> V {
    if substeps == 1 {
        return integrator.step(f, z, h);
    }
    let dt = h / substeps as f64;
    let mut at = integrator.step(f, z, dt);
    for _ in 1..substeps {
        at = integrator.step(f, &at, dt);
    }
    at
}

/// A field network with its weights copied out in f64, for integrating one trajectory with
/// no libtorch dispatch (one evaluation of the paper's is ~45k multiply-adds). The first and
/// last layers are dot products; the hidden-to-hidden ones sums of columns (which vectorise).
#[derive(Clone, Debug)]
pub struct NativeMlp {
    pub d: usize,
    activation: Activation,
    /// Each layer's `(W [out, in], W^T, b, in, out)`; the last one's rows are the outputs.
    layers: Vec<NativeLayer>,
}

#[derive(Clone, Debug)]
struct NativeLayer {
    w: Vec<f64>,
    wt: Vec<f64>,
    b: Vec<f64>,
    inputs: usize,
    outputs: usize,
}

fn to_vec(t: &Tensor) -> Vec<f64> {
    Vec::try_from(t.detach().to_device(tch::Device::Cpu).to_kind(tch::Kind::Double).view([-1])).expect("weights")
}

impl NativeLayer {
    /// `b + W x`: a dot product per output (`columns`: a sum of columns instead).
    fn apply(&self, x: &[f64], columns: bool) -> Vec<f64> {
        let (n, m) = (self.inputs, self.outputs);
        if columns {
            let mut out = self.b.clone();
            for (j, a) in x.iter().enumerate() {
                for (u, w) in out.iter_mut().zip(&self.wt[j * m..(j + 1) * m]) {
                    *u += w * a;
                }
            }
            out
        } else {
            (0..m).map(|i| self.b[i] + (0..n).map(|j| self.w[i * n + j] * x[j]).sum::<f64>()).collect()
        }
    }
}

impl NativeMlp {
    pub fn new(mlp: &Mlp) -> Self {
        let layers: Vec<NativeLayer> = mlp
            .layers
            .iter()
            .map(|l| {
                let (m, n) = (l.ws.size()[0] as usize, l.ws.size()[1] as usize);
                let w = to_vec(&l.ws);
                let wt = (0..m * n).map(|k| w[(k % m) * n + k / m]).collect();
                NativeLayer { w, wt, b: l.bs.as_ref().map(to_vec).unwrap_or_else(|| vec![0.0; m]), inputs: n, outputs: m }
            })
            .collect();
        NativeMlp { d: layers[0].inputs, activation: mlp.activation, layers }
    }

    /// Every hidden layer's pre-activation and activation.
    fn hidden(&self, z: &[f64]) -> Vec<(Vec<f64>, Vec<f64>)> {
        let hidden = &self.layers[..self.layers.len() - 1];
        let mut out: Vec<(Vec<f64>, Vec<f64>)> = Vec::with_capacity(hidden.len());
        for (i, l) in hidden.iter().enumerate() {
            let x = if i == 0 { z } else { &out[i - 1].1 };
            let pre = l.apply(x, i > 0);
            let a = pre.iter().map(|&v| self.activation.native(v)).collect();
            out.push((pre, a));
        }
        out
    }

    /// The outputs into `out` (one per row of the last layer).
    pub fn outputs(&self, z: &[f64], out: &mut [f64]) {
        let hidden = self.hidden(z);
        let last = self.layers.last().expect("a field has layers");
        let a = &hidden.last().expect("a hidden layer").1;
        let h = last.inputs;
        for (k, o) in out.iter_mut().enumerate() {
            *o = last.b[k] + last.w[k * h..(k + 1) * h].iter().zip(a).map(|(w, a)| w * a).sum::<f64>();
        }
    }

    /// The gradient of output `row` with respect to `z`, backward through the layers:
    /// `W1^T [s1 * (W2^T [s2 * w_row])]` for the paper's net (`s` the activations' slopes).
    pub fn output_gradient(&self, row: usize, z: &[f64]) -> Vec<f64> {
        let hidden = self.hidden(z);
        let last = self.layers.last().expect("a field has layers");
        let h = last.inputs;
        let (pre, a) = hidden.last().expect("a hidden layer");
        let mut g: Vec<f64> = (0..h).map(|i| self.activation.native_derivatives(pre[i], a[i]).0 * last.w[row * h + i]).collect();
        for k in (1..hidden.len()).rev() {
            let l = &self.layers[k];
            let mut prev = vec![0.0; l.inputs];
            for (i, gi) in g.iter().enumerate() {
                for (p, w) in prev.iter_mut().zip(&l.w[i * l.inputs..(i + 1) * l.inputs]) {
                    *p += w * gi;
                }
            }
            let (pre, a) = &hidden[k - 1];
            for ((p, x), a) in prev.iter_mut().zip(pre).zip(a) {
                *p *= self.activation.native_derivatives(*x, *a).0;
            }
            g = prev;
        }
        let first = &self.layers[0];
        (0..self.d).map(|j| (0..first.outputs).map(|i| first.w[i * self.d + j] * g[i]).sum()).collect()
    }

    /// Output `row`'s value, gradient and Hessian (`d x d`, row-major) with respect to `z`,
    /// carried forward through the layers: a unit's gradient `s J` and Hessian
    /// `c J J^T + s H` from its input's (`s`, `c` the activation's slope and curvature).
    pub fn output_hessian(&self, row: usize, z: &[f64]) -> (f64, Vec<f64>, Vec<f64>) {
        let d = self.d;
        let (mut a, mut ja, mut ha) = (z.to_vec(), vec![0.0; d * d], vec![0.0; d * d * d]);
        for j in 0..d {
            ja[j * d + j] = 1.0;
        }
        let (hidden, last) = self.layers.split_at(self.layers.len() - 1);
        // One unit of a layer: its pre-activation, gradient and Hessian from the layer below.
        let unit = |l: &NativeLayer, i: usize, a: &[f64], ja: &[f64], ha: &[f64]| {
            let (mut x, mut jx, mut hx) = (l.b[i], vec![0.0; d], vec![0.0; d * d]);
            for (j, w) in l.w[i * l.inputs..(i + 1) * l.inputs].iter().enumerate() {
                x += w * a[j];
                jx.iter_mut().zip(&ja[j * d..(j + 1) * d]).for_each(|(u, v)| *u += w * v);
                hx.iter_mut().zip(&ha[j * d * d..(j + 1) * d * d]).for_each(|(u, v)| *u += w * v);
            }
            (x, jx, hx)
        };
        for l in hidden {
            let (mut na, mut nja, mut nha) = (Vec::with_capacity(l.outputs), vec![0.0; l.outputs * d], vec![0.0; l.outputs * d * d]);
            for i in 0..l.outputs {
                let (x, jx, hx) = unit(l, i, &a, &ja, &ha);
                let y = self.activation.native(x);
                let (s, c) = self.activation.native_derivatives(x, y);
                na.push(y);
                for u in 0..d {
                    nja[i * d + u] = s * jx[u];
                    for v in 0..d {
                        nha[(i * d + u) * d + v] = c * jx[u] * jx[v] + s * hx[u * d + v];
                    }
                }
            }
            (a, ja, ha) = (na, nja, nha);
        }
        unit(&last[0], row, &a, &ja, &ha)
    }
}

/// A latent field evaluated natively in f64: the family's reading of its nets as
/// [`NativeMlp`]s, with the time scale and substeps of the [`LatentField`] it copies.
#[derive(Clone, Debug)]
pub struct NativeField {
    kind: FieldKind,
    nets: Vec<NativeMlp>,
    scale: f64,
    substeps: usize,
}

impl NativeField {
    pub fn new(field: &LatentField) -> Self {
        NativeField {
            kind: field.kind,
            nets: field.nets.iter().map(NativeMlp::new).collect(),
            scale: field.time_scale(),
            substeps: field.substeps,
        }
    }

    /// `dz/dt` at `z`; `z` and `dz` have the latent dimension.
    pub fn eval(&self, z: &[f64], dz: &mut [f64]) {
        self.kind.dynamics().native_derivative(&self.nets, z, dz);
        if self.scale != 1.0 {
            dz.iter_mut().for_each(|v| *v *= self.scale);
        }
    }

    /// One step of `h` frames with `integrator`, in the field's substeps: what
    /// [`LatentField::step`] computes, in f64.
    pub fn step(&self, integrator: Integrator, z: &Vec<f64>, h: f64) -> Vec<f64> {
        let mut f = |z: &Vec<f64>| {
            let mut dz = vec![0.0; z.len()];
            self.eval(z, &mut dz);
            dz
        };
        substepped(integrator, &mut f, z, h, self.substeps)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The oscillator `q' = p, p' = -q`, whose exact flow over `t` from `(q, p)` is the
    /// rotation `(q cos t + p sin t, p cos t - q sin t)`.
    #[allow(clippy::ptr_arg)] // the steps' signature: a field of Vec<f64>
    fn oscillator(z: &Vec<f64>) -> Vec<f64> {
        vec![z[1], -z[0]]
    }

    fn substep_error(integrator: Integrator, substeps: usize) -> f64 {
        let (z0, t): (Vec<f64>, f64) = (vec![0.8, -0.3], 1.0);
        let exact = [z0[0] * t.cos() + z0[1] * t.sin(), z0[1] * t.cos() - z0[0] * t.sin()];
        let z = substepped(integrator, &mut oscillator, &z0, t, substeps);
        ((z[0] - exact[0]).powi(2) + (z[1] - exact[1]).powi(2)).sqrt()
    }

    #[test]
    fn substeps_converge_to_the_exact_flow_at_each_integrators_order() {
        // Doubling the substeps of one frame divides the error by 2^order.
        for (integrator, order) in [(Integrator::Euler, 1), (Integrator::Leapfrog, 2), (Integrator::Midpoint, 2), (Integrator::Rk4, 4)] {
            let errors: Vec<f64> = [4, 8, 16, 32].iter().map(|&n| substep_error(integrator, n)).collect();
            for w in errors.windows(2) {
                let ratio = w[0] / w[1];
                let want = 2f64.powi(order);
                assert!((ratio / want - 1.0).abs() < 0.15, "{integrator:?}: ratio {ratio}, want {want} ({errors:?})");
            }
            assert!(errors[3] < errors[0], "{integrator:?} converges");
        }
        assert!(substep_error(Integrator::Rk4, 32) < 1e-7);
    }

    #[test]
    fn leapfrog_keeps_a_quadratic_separable_h_to_round_off() {
        // For H = (p^2 + q^2) / 2 leapfrog with step h conserves exactly the modified energy
        // p^2 / 2 + (1 - h^2 / 4) q^2 / 2; over 10,000 steps it moves only by rounding, and
        // H itself stays within its O(h^2) band without drifting.
        let h = 0.3;
        let shadow = |z: &Vec<f64>| z[1] * z[1] / 2.0 + (1.0 - h * h / 4.0) * z[0] * z[0] / 2.0;
        let energy = |z: &Vec<f64>| (z[0] * z[0] + z[1] * z[1]) / 2.0;
        let mut z = vec![0.8, -0.3];
        let (s0, e0) = (shadow(&z), energy(&z));
        let mut worst: f64 = 0.0;
        for _ in 0..10_000 {
            z = Integrator::Leapfrog.step(&mut oscillator, &z, h);
            worst = worst.max((shadow(&z) - s0).abs());
            assert!((energy(&z) - e0).abs() < h * h * e0, "H left its band: {} vs {e0}", energy(&z));
        }
        assert!(worst < 1e-12, "modified energy moved {worst}");
    }

    #[test]
    fn every_activation_its_slope_and_curvature_are_the_tensor_ones() {
        for &act in Activation::ALL {
            for x in [-30.0, -2.0, -0.1, 0.0, 0.7, 3.0, 40.0] {
                let t = Tensor::from_slice(&[x]).set_requires_grad(true);
                let y = act.apply(&t);
                let g = Tensor::run_backward(&[&y], &[&t], true, true).pop().unwrap();
                let c = Tensor::run_backward(&[&g], &[&t], false, false).pop().unwrap();
                let (v, g, c) = (y.double_value(&[0]), g.double_value(&[0]), c.double_value(&[0]));
                let (s, k) = act.native_derivatives(x, act.native(x));
                assert!((act.native(x) - v).abs() < 1e-12, "{act:?} {x}");
                assert!((s - g).abs() < 1e-12 && (k - c).abs() < 1e-12, "{act:?} {x}: ({s}, {k}) vs ({g}, {c})");
            }
        }
    }

    #[test]
    fn the_native_hessian_is_libtorchs() {
        // A net of 3 inputs, 2 hidden layers and 2 outputs; output 1's Hessian by double
        // backward against the native forward-mode one, under every activation.
        for &act in Activation::ALL {
            let dims = [3, 7, 5, 2];
            let (mut vs, layers) = crate::model::seeded(3, || {
                let vs = nn::VarStore::new(tch::Device::Cpu);
                let layers: Vec<nn::Linear> = dims
                    .windows(2)
                    .enumerate()
                    .map(|(i, w)| nn::linear(vs.root() / format!("l{i}"), w[0], w[1], Default::default()))
                    .collect();
                (vs, layers)
            });
            vs.double();
            let mlp = Mlp { layers, activation: act };
            let native = NativeMlp::new(&mlp);
            let z0 = [0.3, -0.8, 1.1];
            let z = Tensor::from_slice(&z0).view([1, 3]).set_requires_grad(true);
            let y = mlp.forward(&z).select(1, 1).sum(None);
            let g = Tensor::run_backward(&[&y], &[&z], true, true).pop().unwrap();
            let (value, grad, hess) = native.output_hessian(1, &z0);
            assert!((value - y.double_value(&[])).abs() < 1e-12, "{act:?}");
            for u in 0..3 {
                assert!((grad[u] - g.double_value(&[0, u as i64])).abs() < 1e-12, "{act:?}");
                let row = Tensor::run_backward(&[g.select(1, u as i64).sum(None)], &[&z], true, false).pop().unwrap();
                for v in 0..3 {
                    let want = row.double_value(&[0, v]);
                    assert!((hess[u * 3 + v as usize] - want).abs() < 1e-12, "{act:?} ({u}, {v}): {} vs {want}", hess[u * 3 + v as usize]);
                }
            }
        }
    }

    #[test]
    fn bad_settings_name_their_flag() {
        let d = FieldSettings::default();
        let flag = |s: FieldSettings, dim: i64| s.check(dim).unwrap_err().0;
        assert_eq!(flag(FieldSettings { substeps: 0, ..d }, 2), "--substeps");
        assert_eq!(flag(FieldSettings { net: Some(Net { width: 0, ..Net::paper(200) }), ..d }, 2), "--width");
        assert_eq!(flag(FieldSettings { net: Some(Net { layers: 0, ..Net::paper(200) }), ..d }, 2), "--layers");
        assert_eq!(flag(FieldSettings { time_scale: 0.0, ..d }, 2), "--time-scale");
        assert_eq!(flag(FieldSettings { separable: true, ..d }, 3), "--separable");
        assert!(FieldSettings { separable: true, ..d }.check(4).is_ok());
    }
}
