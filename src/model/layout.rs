//! A model's parameters, declared once: each one's name, shape and initialisation, in the
//! order its weights are drawn. Everything that needs the parameters derives from a
//! [`Layout`]: the variable store of a single model ([`Layout::draw`]), the stacked tensors
//! of an ensemble (the same names and shapes with a leading `[K]`), the CPU step's offsets in
//! a flat gradient buffer ([`Layout::flat_offsets`]), the names in the `.safetensors` files
//! ([`Layout::names`]) and the memory estimate ([`Layout::numel`]).
//!
//! The canonical order, the one every list of tensors here is in, is sorted by name (the
//! order of [`super::sorted_parameters`]); the draw order is the order of declaration.

use tch::{nn, Tensor};

/// How a parameter's initial values are drawn.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Init {
    /// Orthogonal rows or columns (gain 1).
    Orthogonal,
    /// PyTorch's default bias: `U(-1/sqrt(fan_in), 1/sqrt(fan_in))`.
    FanInUniform { fan_in: i64 },
    /// Every value `v` (a learned scalar's start).
    Const(f64),
}

impl Init {
    fn tch(self) -> nn::Init {
        match self {
            Init::Orthogonal => nn::Init::Orthogonal { gain: 1.0 },
            Init::FanInUniform { fan_in } => {
                let bound = 1.0 / (fan_in as f64).sqrt();
                nn::Init::Uniform { lo: -bound, up: bound }
            }
            Init::Const(v) => nn::Init::Const(v),
        }
    }
}

/// One declared parameter.
#[derive(Clone, Debug, PartialEq)]
pub struct Param {
    /// Dotted path, e.g. `ae.enc.l1.weight`.
    pub name: String,
    pub shape: Vec<i64>,
    pub init: Init,
}

impl Param {
    pub fn numel(&self) -> i64 {
        self.shape.iter().product()
    }
}

/// The parameters of a model, in draw order, with their canonical (sorted) order.
#[derive(Clone, Debug, PartialEq)]
pub struct Layout {
    drawn: Vec<Param>,
    /// `sorted[i]`: the index in `drawn` of the i-th parameter by name.
    sorted: Vec<usize>,
}

impl Layout {
    pub fn new() -> Self {
        Layout { drawn: vec![], sorted: vec![] }
    }

    /// Declares a parameter (drawn after those declared before it).
    pub fn push(&mut self, name: impl Into<String>, shape: &[i64], init: Init) {
        let name = name.into();
        assert!(!self.drawn.iter().any(|p| p.name == name), "parameter {name} declared twice");
        self.drawn.push(Param { name, shape: shape.to_vec(), init });
        let mut sorted: Vec<usize> = (0..self.drawn.len()).collect();
        sorted.sort_by(|&a, &b| self.drawn[a].name.cmp(&self.drawn[b].name));
        self.sorted = sorted;
    }

    /// A linear layer `y = x W^T + b` at `prefix` as `nn::linear` draws it: the bias (if
    /// any, PyTorch's default) first, then the orthogonal weight `[fan_out, fan_in]`.
    pub fn linear(&mut self, prefix: &str, fan_in: i64, fan_out: i64, bias: bool) {
        if bias {
            self.push(format!("{prefix}.bias"), &[fan_out], Init::FanInUniform { fan_in });
        }
        self.push(format!("{prefix}.weight"), &[fan_out, fan_in], Init::Orthogonal);
    }

    /// A `k x k` convolution at `prefix` as `nn.Conv2d` lays it out: the bias (PyTorch's
    /// default, fan-in `inputs k^2`) first, then the orthogonal weight `[outputs, inputs, k, k]`
    /// (orthogonal rows of the weight flattened to `[outputs, inputs k^2]`).
    pub fn conv(&mut self, prefix: &str, inputs: i64, outputs: i64, k: i64) {
        self.push(format!("{prefix}.bias"), &[outputs], Init::FanInUniform { fan_in: inputs * k * k });
        self.push(format!("{prefix}.weight"), &[outputs, inputs, k, k], Init::Orthogonal);
    }

    /// The parameters in canonical order.
    pub fn params(&self) -> impl Iterator<Item = &Param> + '_ {
        self.sorted.iter().map(|&i| &self.drawn[i])
    }

    pub fn len(&self) -> usize {
        self.drawn.len()
    }

    pub fn is_empty(&self) -> bool {
        self.drawn.is_empty()
    }

    /// Names in canonical order: the `.safetensors` names and the order of stacked tensors.
    pub fn names(&self) -> Vec<String> {
        self.params().map(|p| p.name.clone()).collect()
    }

    /// Shapes of one member, in canonical order.
    pub fn shapes(&self) -> Vec<Vec<i64>> {
        self.params().map(|p| p.shape.clone()).collect()
    }

    /// The canonical index of `name`; a name no family declares is a bug, not user input.
    pub fn index(&self, name: &str) -> usize {
        self.params().position(|p| p.name == name).unwrap_or_else(|| panic!("no parameter {name} in the layout"))
    }

    /// Elements of one member.
    pub fn numel(&self) -> i64 {
        self.drawn.iter().map(Param::numel).sum()
    }

    /// Makes the variables under `root`, drawn in declaration order from libtorch's
    /// generator; returns them in canonical order.
    pub fn draw(&self, root: &nn::Path) -> Vec<Tensor> {
        let made: Vec<Tensor> = self
            .drawn
            .iter()
            .map(|p| {
                let mut parts: Vec<&str> = p.name.split('.').collect();
                let leaf = parts.pop().expect("a name");
                let path = parts.iter().fold(root.clone(), |path, part| path.sub(*part));
                if p.init == Init::Orthogonal && p.shape.len() > 2 {
                    // tch's orthogonal init returns the flattened `[out, rest]` matrix; drawn
                    // into the variable of the full shape it is PyTorch's `orthogonal_`.
                    let mut v = path.var(leaf, &p.shape, nn::Init::Const(0.0));
                    tch::no_grad(|| p.init.tch().set(&mut v));
                    v
                } else {
                    path.var(leaf, &p.shape, p.init.tch())
                }
            })
            .collect();
        self.sorted.iter().map(|&i| made[i].shallow_clone()).collect()
    }

    /// Offset and size of each parameter (canonical order) in a member's flat buffer, each
    /// starting on a 64-byte boundary.
    pub fn flat_offsets(&self) -> Vec<(usize, usize)> {
        let mut off = 0;
        self.params()
            .map(|p| {
                let size = p.numel() as usize;
                let r = (off, size);
                off += size.div_ceil(16) * 16;
                r
            })
            .collect()
    }

    /// Floats in a member's flat buffer (with the alignment padding).
    pub fn flat_len(&self) -> usize {
        self.flat_offsets().last().map(|(o, s)| o + s.div_ceil(16) * 16).unwrap_or(0)
    }
}

impl Default for Layout {
    fn default() -> Self {
        Layout::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_order_is_by_name_and_draw_order_is_declaration() {
        let mut l = Layout::new();
        l.linear("b", 3, 4, true);
        l.linear("a", 4, 2, false);
        assert_eq!(l.names(), ["a.weight", "b.bias", "b.weight"]);
        assert_eq!(l.shapes(), [vec![2, 4], vec![4], vec![4, 3]]);
        assert_eq!(l.numel(), 8 + 4 + 12);
        assert_eq!(l.index("b.weight"), 2);
        // 64-byte aligned: 8 floats then padding to 16, 4 then padding, 12.
        assert_eq!(l.flat_offsets(), [(0, 8), (16, 4), (32, 12)]);
        assert_eq!(l.flat_len(), 48);
    }

    #[test]
    fn drawing_equals_nn_linear_from_the_same_seed() {
        let mut l = Layout::new();
        l.linear("net.l1", 5, 7, true);
        l.linear("net.l2", 7, 3, false);
        let ours = crate::model::seeded(4, || {
            let vs = nn::VarStore::new(tch::Device::Cpu);
            (l.draw(&vs.root()), vs)
        });
        let theirs = crate::model::seeded(4, || {
            let vs = nn::VarStore::new(tch::Device::Cpu);
            let root = vs.root();
            let cfg = |bias| nn::LinearConfig { ws_init: nn::Init::Orthogonal { gain: 1.0 }, bs_init: None, bias };
            let a = nn::linear(&root / "net" / "l1", 5, 7, cfg(true));
            let b = nn::linear(&root / "net" / "l2", 7, 3, cfg(false));
            (vec![a.bs.unwrap(), a.ws, b.ws], vs)
        });
        for (x, y) in ours.0.iter().zip(&theirs.0) {
            assert!(x.equal(y));
        }
        let names: Vec<String> = crate::model::sorted_parameters(&ours.1).into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, l.names());
    }
}
