//! Adam exactly as `torch.optim.Adam` updates (weight decay added to the gradient, as L2),
//! kept in Rust so that its state (moments and step count) can be checkpointed and a resumed
//! run continues bit for bit.

use serde::{Deserialize, Serialize};
use tch::Tensor;

/// `Default` is the reference's: lr 1e-3, betas (0.9, 0.999), eps 1e-8, weight decay 1e-5.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct AdamConfig {
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
}

impl Default for AdamConfig {
    fn default() -> Self {
        AdamConfig { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 1e-5 }
    }
}

impl AdamConfig {
    pub fn validate(&self) -> crate::error::Result<()> {
        use crate::error::Error;
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return Err(Error::setting("--lr", format!("must be a positive number (got {})", self.lr)));
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return Err(Error::setting("--weight-decay", format!("must be >= 0 (got {})", self.weight_decay)));
        }
        Ok(())
    }
}

/// A checkpointed optimiser state that does not fit the parameters.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum OptimError {
    #[error("lacks '{0}'")]
    Missing(String),
    #[error("'{name}' has shape {found:?}, the parameter {expected:?}")]
    Shape { name: String, found: Vec<i64>, expected: Vec<i64> },
}

pub struct Adam {
    cfg: AdamConfig,
    params: Vec<(String, Tensor)>,
    m: Vec<Tensor>,
    v: Vec<Tensor>,
    step: i64,
}

impl Adam {
    /// `params` in a fixed order (their names key the checkpointed state).
    pub fn new(params: Vec<(String, Tensor)>, cfg: AdamConfig) -> Self {
        let m = params.iter().map(|(_, p)| p.zeros_like()).collect();
        let v = params.iter().map(|(_, p)| p.zeros_like()).collect();
        Adam { cfg, params, m, v, step: 0 }
    }

    pub fn steps_taken(&self) -> i64 {
        self.step
    }

    /// The parameters it updates, in its order (shallow handles).
    pub fn parameters(&self) -> Vec<(String, Tensor)> {
        self.params.iter().map(|(n, p)| (n.clone(), p.shallow_clone())).collect()
    }

    pub fn zero_grad(&mut self) {
        for (_, p) in self.params.iter_mut() {
            p.zero_grad();
        }
    }

    /// One update from the gradients accumulated in the parameters.
    pub fn step(&mut self) {
        let c = self.cfg;
        self.step += 1;
        let bc1 = 1.0 - c.beta1.powi(self.step as i32);
        let bc2 = 1.0 - c.beta2.powi(self.step as i32);
        tch::no_grad(|| {
            for ((_, p), (m, v)) in self.params.iter_mut().zip(self.m.iter_mut().zip(self.v.iter_mut())) {
                let g = p.grad();
                if !g.defined() {
                    continue;
                }
                let g = if c.weight_decay != 0.0 { g + &*p * c.weight_decay } else { g };
                let _ = m.g_mul_scalar_(c.beta1).g_add_(&(&g * (1.0 - c.beta1)));
                let _ = v.g_mul_scalar_(c.beta2).addcmul_(&(&g * (1.0 - c.beta2)), &g);
                let denom = v.sqrt() / bc2.sqrt() + c.eps;
                let _ = p.addcdiv_(&(&*m * (-c.lr / bc1)), &denom);
            }
        });
    }

    /// The state as named tensors (`adam.m.NAME`, `adam.v.NAME`, `adam.step`).
    pub fn state(&self) -> Vec<(String, Tensor)> {
        let mut out = Vec::with_capacity(2 * self.params.len() + 1);
        for ((name, _), (m, v)) in self.params.iter().zip(self.m.iter().zip(&self.v)) {
            out.push((format!("adam.m.{name}"), m.shallow_clone()));
            out.push((format!("adam.v.{name}"), v.shallow_clone()));
        }
        out.push(("adam.step".into(), Tensor::from_slice(&[self.step])));
        out
    }

    /// Restores a state written by [`state`](Self::state); `get` looks a tensor up by name.
    pub fn load_state(&mut self, get: &dyn Fn(&str) -> Option<Tensor>) -> Result<(), OptimError> {
        for ((name, p), (m, v)) in self.params.iter().zip(self.m.iter_mut().zip(self.v.iter_mut())) {
            for (slot, key) in [(m, format!("adam.m.{name}")), (v, format!("adam.v.{name}"))] {
                let t = get(&key).ok_or_else(|| OptimError::Missing(key.clone()))?;
                if t.size() != p.size() {
                    return Err(OptimError::Shape { name: key, found: t.size(), expected: p.size() });
                }
                tch::no_grad(|| slot.copy_(&t));
            }
        }
        let step = get("adam.step").ok_or_else(|| OptimError::Missing("adam.step".into()))?;
        self.step = step.int64_value(&[0]);
        Ok(())
    }
}
