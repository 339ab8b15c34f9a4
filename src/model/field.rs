//! The latent fields' networks: the paper's MLP `d -> hidden -> hidden -> out` with tanh and
//! no bias on its last layer (`field.l1`, `field.l2`, `field.l3`), and the benchmark's swish
//! MLP `d -> hidden -> hidden -> hidden -> out`, every layer biased (`field.l1` .. `field.l4`).
//! How a network's outputs become `dz/dt` is the family's ([`super::Dynamics`]); this module
//! holds the networks, their declarations, and their native f64 evaluation for integrating
//! one trajectory.

use tch::nn::{self, Module};
use tch::Tensor;

use super::layout::Layout;
use super::{FieldConfig, FieldKind};

/// Declares the paper's field MLP under `field.`, with `out` outputs, in the reference's draw
/// order.
pub fn declare_mlp(c: FieldConfig, out: i64, layout: &mut Layout) {
    layout.linear("field.l1", c.dim, c.hidden, true);
    layout.linear("field.l2", c.hidden, c.hidden, true);
    layout.linear("field.l3", c.hidden, out, false);
}

/// Hidden layers of the swish MLP. The benchmark's nets are 5 x 250; these are 3 x `hidden`
/// (200 by default), a budget of 2 cores.
pub const SWISH_HIDDEN_LAYERS: usize = 3;

/// Declares the swish MLP under `field.`: [`SWISH_HIDDEN_LAYERS`] hidden layers of
/// `c.hidden`, `out` outputs, every layer biased.
pub fn declare_swish(c: FieldConfig, out: i64, layout: &mut Layout) {
    let mut width = c.dim;
    for l in 1..=SWISH_HIDDEN_LAYERS {
        layout.linear(&format!("field.l{l}"), width, c.hidden, true);
        width = c.hidden;
    }
    layout.linear(&format!("field.l{}", SWISH_HIDDEN_LAYERS + 1), width, out, true);
}

/// A hidden layer's nonlinearity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activation {
    Tanh,
    /// `x sigmoid(x)` (SiLU).
    Swish,
}

impl Activation {
    fn apply(self, x: &Tensor) -> Tensor {
        match self {
            Activation::Tanh => x.tanh(),
            Activation::Swish => x.silu(),
        }
    }

    fn native(self, x: f64) -> f64 {
        match self {
            Activation::Tanh => x.tanh(),
            Activation::Swish => x / (1.0 + (-x).exp()),
        }
    }

    /// The derivative at pre-activation `x` whose activation is `a`.
    fn native_slope(self, x: f64, a: f64) -> f64 {
        match self {
            Activation::Tanh => 1.0 - a * a,
            Activation::Swish => {
                let s = 1.0 / (1.0 + (-x).exp());
                s * (1.0 + x * (1.0 - s))
            }
        }
    }
}

/// A field network's layers (`field.l1` .. in order), handles to tensors held by a variable
/// store; the activation follows every layer but the last.
#[derive(Debug)]
pub struct TanhMlp {
    pub layers: Vec<nn::Linear>,
    pub activation: Activation,
}

impl TanhMlp {
    /// The layers among `params` (canonical order of `layout`): `field.l1`, `field.l2`, ...
    /// as many as are declared, each biased where its bias is declared.
    pub fn of(layout: &Layout, params: &[Tensor], activation: Activation) -> Self {
        let names = layout.names();
        let has = |n: &str| names.iter().any(|x| x == n);
        let t = |name: &str| params[layout.index(name)].shallow_clone();
        let layers = (1..)
            .map(|l| format!("field.l{l}"))
            .take_while(|p| has(&format!("{p}.weight")))
            .map(|p| {
                let bias = format!("{p}.bias");
                nn::Linear { ws: t(&format!("{p}.weight")), bs: has(&bias).then(|| t(&bias)) }
            })
            .collect();
        TanhMlp { layers, activation }
    }

    /// The network's raw outputs.
    ///
    /// # Shapes
    /// `z`: `[n, d]` -> `[n, out]`
    pub fn forward(&self, z: &Tensor) -> Tensor {
        let (last, hidden) = self.layers.split_last().expect("a field has layers");
        let h = hidden.iter().fold(z.shallow_clone(), |h, l| self.activation.apply(&l.forward(&h)));
        last.forward(&h)
    }
}

/// A learned vector field on the latent space: a family's reading of its network. Works in
/// any even dimension `d` (`q` the first half of `z`, `p` the second).
#[derive(Debug)]
pub struct LatentField {
    kind: FieldKind,
    pub(crate) mlp: TanhMlp,
}

impl LatentField {
    pub fn of(kind: FieldKind, layout: &Layout, params: &[Tensor]) -> Self {
        LatentField { kind, mlp: TanhMlp::of(layout, params, kind.dynamics().activation()) }
    }

    pub fn kind(&self) -> FieldKind {
        self.kind
    }

    /// The learned energy, for families that learn one (the HNN's H).
    ///
    /// # Shapes
    /// `z`: `[n, d]` -> `[n]`
    pub fn learned_energy(&self, z: &Tensor) -> Option<Tensor> {
        self.kind.dynamics().learned_energy(&self.mlp, z)
    }

    /// `dz/dt` at `z`. With `create_graph` the result can itself be differentiated
    /// (training an HNN: double backward).
    ///
    /// # Shapes
    /// `z`: `[n, d]` (d even) -> `[n, d]`
    pub fn time_derivative(&self, z: &Tensor, create_graph: bool) -> Tensor {
        self.kind.dynamics().time_derivative(&self.mlp, z, create_graph)
    }

    /// The latent after one step of `h` frames with `integrator` (the family's own step for
    /// a family that is a discrete map).
    ///
    /// # Shapes
    /// `z`: `[n, d]` -> `[n, d]`
    pub fn step(&self, integrator: crate::integrate::Integrator, z: &Tensor, h: f64, create_graph: bool) -> Tensor {
        let mut f = |z: &Tensor| self.time_derivative(z, create_graph);
        integrator.step(&mut f, z, h)
    }
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
    pub fn new(mlp: &TanhMlp) -> Self {
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
        let mut g: Vec<f64> = (0..h).map(|i| self.activation.native_slope(pre[i], a[i]) * last.w[row * h + i]).collect();
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
                *p *= self.activation.native_slope(*x, *a);
            }
            g = prev;
        }
        let first = &self.layers[0];
        (0..self.d).map(|j| (0..first.outputs).map(|i| first.w[i * self.d + j] * g[i]).sum()).collect()
    }
}

/// A latent field evaluated natively in f64: the family's reading of a [`NativeMlp`].
#[derive(Clone, Debug)]
pub struct NativeField {
    kind: FieldKind,
    mlp: NativeMlp,
}

impl NativeField {
    pub fn new(field: &LatentField) -> Self {
        NativeField { kind: field.kind, mlp: NativeMlp::new(&field.mlp) }
    }

    /// `dz/dt` at `z`; `z` and `dz` have the latent dimension.
    pub fn eval(&self, z: &[f64], dz: &mut [f64]) {
        self.kind.dynamics().native_derivative(&self.mlp, z, dz)
    }
}
