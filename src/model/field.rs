//! The latent field's network, shared by the paper's families: an MLP `d -> hidden -> hidden
//! -> out` with tanh and no bias on its last layer (`field.l1`, `field.l2`, `field.l3`).
//! How its outputs become `dz/dt` is the family's ([`super::Dynamics`]); this module holds
//! the network, its declaration, and its native f64 evaluation for integrating one
//! trajectory.

use tch::nn::{self, Module};
use tch::Tensor;

use super::layout::Layout;
use super::{FieldConfig, FieldKind};

/// Declares the field MLP under `field.`, with `out` outputs, in the reference's draw order.
pub fn declare_mlp(c: FieldConfig, out: i64, layout: &mut Layout) {
    layout.linear("field.l1", c.dim, c.hidden, true);
    layout.linear("field.l2", c.hidden, c.hidden, true);
    layout.linear("field.l3", c.hidden, out, false);
}

/// The field MLP's layers, handles to tensors held by a variable store.
#[derive(Debug)]
pub struct TanhMlp {
    pub l1: nn::Linear,
    pub l2: nn::Linear,
    pub l3: nn::Linear,
}

impl TanhMlp {
    /// The layers among `params` (canonical order of `layout`).
    pub fn of(layout: &Layout, params: &[Tensor]) -> Self {
        let t = |name: &str| params[layout.index(name)].shallow_clone();
        TanhMlp {
            l1: nn::Linear { ws: t("field.l1.weight"), bs: Some(t("field.l1.bias")) },
            l2: nn::Linear { ws: t("field.l2.weight"), bs: Some(t("field.l2.bias")) },
            l3: nn::Linear { ws: t("field.l3.weight"), bs: None },
        }
    }

    /// The MLP's raw outputs.
    ///
    /// # Shapes
    /// `z`: `[n, d]` -> `[n, out]`
    pub fn forward(&self, z: &Tensor) -> Tensor {
        self.l3.forward(&self.l2.forward(&self.l1.forward(z).tanh()).tanh())
    }
}

/// A learned vector field on the latent space: a family's reading of the field MLP. Works in
/// any even dimension `d` (`q` the first half of `z`, `p` the second).
#[derive(Debug)]
pub struct LatentField {
    kind: FieldKind,
    pub(crate) mlp: TanhMlp,
}

impl LatentField {
    pub fn of(kind: FieldKind, layout: &Layout, params: &[Tensor]) -> Self {
        LatentField { kind, mlp: TanhMlp::of(layout, params) }
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
}

/// The field MLP with its weights copied out in f64, for integrating one trajectory with
/// no libtorch dispatch (one evaluation is ~45k multiply-adds).
#[derive(Clone, Debug)]
pub struct NativeMlp {
    pub d: usize,
    pub h: usize,
    w1: Vec<f64>, // [h, d]
    b1: Vec<f64>,
    w2: Vec<f64>, // [h, h]
    /// W2 transposed, so that the forward product is a sum of columns (vectorises).
    w2t: Vec<f64>,
    b2: Vec<f64>,
    /// `[out, h]`
    pub w3: Vec<f64>,
}

fn to_vec(t: &Tensor) -> Vec<f64> {
    Vec::try_from(t.detach().to_device(tch::Device::Cpu).to_kind(tch::Kind::Double).view([-1])).expect("weights")
}

impl NativeMlp {
    pub fn new(mlp: &TanhMlp) -> Self {
        let (h, d) = (mlp.l1.ws.size()[0] as usize, mlp.l1.ws.size()[1] as usize);
        let bias = |l: &nn::Linear| l.bs.as_ref().map(to_vec).unwrap_or_else(|| vec![0.0; h]);
        let w2 = to_vec(&mlp.l2.ws);
        let w2t = (0..h * h).map(|k| w2[(k % h) * h + k / h]).collect();
        NativeMlp { d, h, w1: to_vec(&mlp.l1.ws), b1: bias(&mlp.l1), w2, w2t, b2: bias(&mlp.l2), w3: to_vec(&mlp.l3.ws) }
    }

    /// The two hidden activations `a1 = tanh(W1 z + b1)`, `a2 = tanh(W2 a1 + b2)`.
    pub fn hidden(&self, z: &[f64]) -> (Vec<f64>, Vec<f64>) {
        let (d, h) = (self.d, self.h);
        let a1: Vec<f64> = (0..h).map(|i| (self.b1[i] + (0..d).map(|j| self.w1[i * d + j] * z[j]).sum::<f64>()).tanh()).collect();
        let mut a2 = self.b2.clone();
        for (j, a) in a1.iter().enumerate() {
            for (u, w) in a2.iter_mut().zip(&self.w2t[j * h..(j + 1) * h]) {
                *u += w * a;
            }
        }
        a2.iter_mut().for_each(|u| *u = u.tanh());
        (a1, a2)
    }

    /// The outputs `W3 a2` into `out` (one per row of `W3`).
    pub fn outputs(&self, z: &[f64], out: &mut [f64]) {
        let h = self.h;
        let (_, a2) = self.hidden(z);
        for (k, o) in out.iter_mut().enumerate() {
            *o = self.w3[k * h..(k + 1) * h].iter().zip(&a2).map(|(w, a)| w * a).sum();
        }
    }

    /// The gradient of output `row` with respect to `z`:
    /// `W1^T [(1 - a1^2) * (W2^T [(1 - a2^2) * w3_row])]`.
    pub fn output_gradient(&self, row: usize, z: &[f64]) -> Vec<f64> {
        let (d, h) = (self.d, self.h);
        let (a1, a2) = self.hidden(z);
        let w3 = &self.w3[row * h..(row + 1) * h];
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
        (0..d).map(|j| (0..h).map(|i| self.w1[i * d + j] * g1[i]).sum()).collect()
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
