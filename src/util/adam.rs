//! Adam exactly as `torch.optim.Adam` updates (weight decay added to the gradient, as L2),
//! kept in Rust so that its state (moments and step count) can be checkpointed and a resumed
//! run continues bit for bit.
//!
//! One rule, run two ways: on f32 CPU tensors as one fused pass over each parameter's memory
//! (read p, g, m, v once, write p, m, v once; parallel over parameters and members), and
//! elsewhere (CUDA, f64) as tensor operations. Parameters may be stacked members (`[K, ...]`):
//! a member that is not live keeps its parameters and moments.

use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor};

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

/// The per-step constants of the update.
#[derive(Clone, Copy)]
struct Coefficients {
    b1: f64,
    b2: f64,
    wd: f64,
    eps: f64,
    /// `lr / (1 - beta1^t)`
    step_size: f64,
    /// `sqrt(1 - beta2^t)`
    bc2_sqrt: f64,
}

/// Adam's rule for one element, the one statement of it: the gradient `g` (with L2 weight
/// decay added), the moments `m` and `v`, and the bias-corrected step of `p`. The tensor
/// paths ([`tensor_rule`]) state the same rule over whole tensors; tests hold each path to
/// the other and to `torch.optim.Adam`'s numbers.
#[inline(always)]
fn rule(c: &Coefficients32, p: &mut f32, g: f32, m: &mut f32, v: &mut f32) {
    let g = g + c.wd * *p;
    *m = c.b1 * *m + (1.0 - c.b1) * g;
    *v = c.b2 * *v + (1.0 - c.b2) * g * g;
    *p -= c.step_size * *m / (v.sqrt() * c.inv_bc2 + c.eps);
}

/// [`Coefficients`] in f32, as the fused pass uses them.
#[derive(Clone, Copy)]
struct Coefficients32 {
    b1: f32,
    b2: f32,
    wd: f32,
    eps: f32,
    step_size: f32,
    inv_bc2: f32,
}

impl Coefficients {
    fn f32(self) -> Coefficients32 {
        Coefficients32 {
            b1: self.b1 as f32,
            b2: self.b2 as f32,
            wd: self.wd as f32,
            eps: self.eps as f32,
            step_size: self.step_size as f32,
            inv_bc2: (1.0 / self.bc2_sqrt) as f32,
        }
    }
}

/// One fused pass of the update over a parameter's memory (read p, g, m, v once, write p,
/// m, v once), the gradient given as one share or the sum of two (a batch computed in two
/// shares (its two halves), `g = g0 + g1`, read in that order).
fn fused(c: Coefficients, p: &mut [f32], shares: &[&[f32]], m: &mut [f32], v: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
        // SAFETY: the CPU has AVX2 and FMA (checked just above).
        return unsafe { fused_avx2(c, p, shares, m, v) };
    }
    fused_portable(c, p, shares, m, v)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn fused_avx2(c: Coefficients, p: &mut [f32], shares: &[&[f32]], m: &mut [f32], v: &mut [f32]) {
    fused_portable(c, p, shares, m, v)
}

#[inline(always)]
fn fused_portable(c: Coefficients, p: &mut [f32], shares: &[&[f32]], m: &mut [f32], v: &mut [f32]) {
    let c = c.f32();
    match shares {
        [g] => {
            for (((p, g), m), v) in p.iter_mut().zip(*g).zip(m.iter_mut()).zip(v.iter_mut()) {
                rule(&c, p, *g, m, v);
            }
        }
        [g0, g1] => {
            for ((((p, g0), g1), m), v) in p.iter_mut().zip(*g0).zip(*g1).zip(m.iter_mut()).zip(v.iter_mut()) {
                rule(&c, p, g0 + g1, m, v);
            }
        }
        _ => unreachable!("one or two gradient shares"),
    }
}

/// The rule over tensors (any device, any float kind), with the bias corrections `k` as
/// numbers or as tensors on the parameters' device (so that a CUDA graph can replay it). Where `live` (bool `[K]`) is
/// given, stacked members that are not live keep their parameters and moments.
/// The bias corrections of one step: `lr / (1 - beta1^t)` and `sqrt(1 - beta2^t)`.
#[derive(Clone, Copy)]
enum Corrections<'a> {
    /// f64 numbers (the host knows the step).
    Numbers(f64, f64),
    /// Tensors on the parameters' device (the step lives there, as in a CUDA graph).
    Tensors(&'a Tensor, &'a Tensor),
}

fn tensor_rule(c: &AdamConfig, p: &mut Tensor, g: &Tensor, m: &mut Tensor, v: &mut Tensor, k: Corrections, live: Option<&Tensor>) {
    tch::no_grad(|| {
        let g = if c.weight_decay != 0.0 { g + &*p * c.weight_decay } else { g.shallow_clone() };
        let new_m = &*m * c.beta1 + &g * (1.0 - c.beta1);
        let new_v = &*v * c.beta2 + &g * &g * (1.0 - c.beta2);
        let new_p = match k {
            Corrections::Numbers(step_size, bc2_sqrt) => &*p - (&new_m * step_size) / (new_v.sqrt() / bc2_sqrt + c.eps),
            Corrections::Tensors(step_size, bc2_sqrt) => &*p - (&new_m * step_size) / (new_v.sqrt() / bc2_sqrt + c.eps),
        };
        match live {
            None => {
                m.copy_(&new_m);
                v.copy_(&new_v);
                p.copy_(&new_p);
            }
            Some(live) => {
                let mut shape = vec![live.size()[0]];
                shape.extend(std::iter::repeat_n(1, p.dim() - 1));
                let mask = live.view(shape.as_slice());
                m.copy_(&new_m.where_self(&mask, m));
                v.copy_(&new_v.where_self(&mask, v));
                p.copy_(&new_p.where_self(&mask, p));
            }
        }
    });
}

/// The bias corrections of step `t` (a 0-dimensional f64 tensor), as `kind` tensors:
/// `(lr / (1 - beta1^t), sqrt(1 - beta2^t))`.
fn bias_corrections(c: &AdamConfig, t: &Tensor, kind: Kind) -> (Tensor, Tensor) {
    let bc1: Tensor = 1.0 - (t * c.beta1.ln()).exp();
    let bc2: Tensor = 1.0 - (t * c.beta2.ln()).exp();
    ((bc1.reciprocal() * c.lr).to_kind(kind), bc2.sqrt().to_kind(kind))
}

/// A contiguous CPU f32 tensor's elements `[start, start + len)` as a mutable slice.
///
/// # Safety
/// The tensor must be contiguous, on the CPU, f32, hold at least `start + len` elements, and
/// no other slice of the same elements may be alive.
unsafe fn slice_of<'a>(t: &Tensor, start: usize, len: usize) -> &'a mut [f32] {
    std::slice::from_raw_parts_mut((t.data_ptr() as *mut f32).add(start), len)
}

fn fusable(t: &Tensor) -> bool {
    t.device() == Device::Cpu && t.kind() == Kind::Float && t.is_contiguous()
}

impl Adam {
    /// `params` in a fixed order (their names key the checkpointed state).
    pub fn new(params: Vec<(String, Tensor)>, cfg: AdamConfig) -> Self {
        let m = params.iter().map(|(_, p)| p.zeros_like()).collect();
        let v = params.iter().map(|(_, p)| p.zeros_like()).collect();
        Adam { cfg, params, m, v, step: 0 }
    }

    /// Sets the learning rate of the next updates (a schedule's).
    pub fn set_lr(&mut self, lr: f64) {
        self.cfg.lr = lr;
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

    fn coefficients(&self) -> Coefficients {
        let c = self.cfg;
        let t = self.step as i32;
        Coefficients {
            b1: c.beta1,
            b2: c.beta2,
            wd: c.weight_decay,
            eps: c.eps,
            step_size: c.lr / (1.0 - c.beta1.powi(t)),
            bc2_sqrt: (1.0 - c.beta2.powi(t)).sqrt(),
        }
    }

    /// One update from the gradients accumulated in the parameters (autograd).
    pub fn step(&mut self) {
        let grads: Vec<Tensor> = self.params.iter().map(|(_, p)| p.grad()).collect();
        if grads.iter().all(|g| g.defined()) {
            self.update(&grads, None);
        } else {
            self.step += 1;
            for (i, g) in grads.iter().enumerate() {
                if g.defined() {
                    self.update_tensors(i, g, None);
                }
            }
        }
    }

    /// One update from explicit gradients, shaped like the parameters. For stacked members
    /// (`[K, ...]`), `live` names those that move; the others keep parameters and moments.
    pub fn update(&mut self, grads: &[Tensor], live: Option<&[bool]>) {
        self.step += 1;
        let c = self.coefficients();
        let all_fusable = self.params.iter().zip(grads).all(|((_, p), g)| fusable(p) && fusable(g));
        if all_fusable {
            let members = live.map_or(1, |l| l.len());
            let mut jobs = vec![];
            for (i, g) in grads.iter().enumerate() {
                let per = self.params[i].1.numel() / members;
                for k in 0..members {
                    if live.is_none_or(|l| l[k]) {
                        jobs.push((
                            i,
                            k * per,
                            per,
                            g.shallow_clone(),
                            self.params[i].1.shallow_clone(),
                            self.m[i].shallow_clone(),
                            self.v[i].shallow_clone(),
                        ));
                    }
                }
            }
            use rayon::prelude::*;
            jobs.into_par_iter().for_each(|(_, start, len, g, p, m, v)| {
                // SAFETY: every job owns a distinct range of distinct tensors; all are
                // contiguous CPU f32 (checked), shaped alike, and outlive the job.
                unsafe {
                    fused(c, slice_of(&p, start, len), &[slice_of(&g, start, len)], slice_of(&m, start, len), slice_of(&v, start, len))
                }
            });
        } else {
            for (i, g) in grads.iter().enumerate() {
                self.update_tensors(i, g, live);
            }
        }
    }

    /// One update of stacked CPU f32 parameters from flat gradient buffers: member `k`'s
    /// gradient is the sum of its one or two `shares`, each laid out by `offsets` (offset and
    /// size of each parameter). Members not listed keep their parameters and moments.
    pub fn update_flat(&mut self, members: usize, offsets: &[(usize, usize)], grads: &[(usize, Vec<&[f32]>)]) {
        assert!(self.params.iter().all(|(_, p)| fusable(p)), "flat updates are for CPU f32 parameters");
        self.step += 1;
        let c = self.coefficients();
        let mut jobs = vec![];
        for (k, shares) in grads {
            assert!((1..=2).contains(&shares.len()), "one or two gradient shares");
            for (i, &(off, size)) in offsets.iter().enumerate() {
                let per = self.params[i].1.numel() / members;
                assert_eq!(per, size, "the offsets fit the parameters");
                let g: Vec<&[f32]> = shares.iter().map(|s| &s[off..off + size]).collect();
                jobs.push((
                    k * per,
                    per,
                    g,
                    self.params[i].1.data_ptr() as usize,
                    self.m[i].data_ptr() as usize,
                    self.v[i].data_ptr() as usize,
                ));
            }
        }
        use rayon::prelude::*;
        jobs.into_par_iter().for_each(|(start, len, g, p, m, v)| {
            // SAFETY: each job owns member k's range of parameter i (distinct for distinct
            // jobs) of contiguous CPU f32 tensors (asserted above) that outlive the call.
            let slice = |base: usize| unsafe { std::slice::from_raw_parts_mut((base as *mut f32).add(start), len) };
            let (p, m, v) = (slice(p), slice(m), slice(v));
            fused(c, p, &g, m, v)
        });
    }

    /// One update on the device with nothing read back to the host (so that it can be
    /// captured in a CUDA graph): the step count lives in `step` (a 0-dimensional f64 tensor
    /// on the parameters' device, incremented here) and the bias corrections are computed
    /// from it there; `live` (bool `[K]`) masks the members of stacked parameters.
    pub fn update_on_device(&mut self, grads: &[Tensor], live: &Tensor, step: &mut Tensor) {
        self.step += 1;
        let _ = tch::no_grad(|| step.g_add_scalar_(1.0));
        let kind = self.params.first().map_or(Kind::Float, |(_, p)| p.kind());
        let (step_size, bc2_sqrt) = tch::no_grad(|| bias_corrections(&self.cfg, step, kind));
        for (i, g) in grads.iter().enumerate() {
            let (p, m, v) = (&mut self.params[i].1, &mut self.m[i], &mut self.v[i]);
            tensor_rule(&self.cfg, p, g, m, v, Corrections::Tensors(&step_size, &bc2_sqrt), Some(live));
        }
    }

    /// The update of parameter `i` as tensor operations at the current step count (any
    /// device, any float kind), the bias corrections as f64 numbers; `live` as in
    /// [`update`](Self::update).
    fn update_tensors(&mut self, i: usize, g: &Tensor, live: Option<&[bool]>) {
        let c = self.coefficients();
        let mask = live.map(|l| Tensor::from_slice(l).to_device(self.params[i].1.device()));
        let (p, m, v) = (&mut self.params[i].1, &mut self.m[i], &mut self.v[i]);
        tensor_rule(&self.cfg, p, g, m, v, Corrections::Numbers(c.step_size, c.bc2_sqrt), mask.as_ref());
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

    /// Member `k`'s part of the state of stacked parameters, named as [`state`](Self::state)
    /// names a single model's.
    pub fn member_state(&self, k: i64) -> Vec<(String, Tensor)> {
        let mut out = Vec::with_capacity(2 * self.params.len() + 1);
        for ((name, _), (m, v)) in self.params.iter().zip(self.m.iter().zip(&self.v)) {
            out.push((format!("adam.m.{name}"), m.get(k)));
            out.push((format!("adam.v.{name}"), v.get(k)));
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

    /// Restores member `k` of stacked parameters from a single model's state (as
    /// [`member_state`](Self::member_state) wrote it).
    pub fn load_member_state(&mut self, k: i64, get: &dyn Fn(&str) -> Option<Tensor>) -> Result<(), OptimError> {
        for ((name, p), (m, v)) in self.params.iter().zip(self.m.iter_mut().zip(self.v.iter_mut())) {
            for (slot, key) in [(m, format!("adam.m.{name}")), (v, format!("adam.v.{name}"))] {
                let t = get(&key).ok_or_else(|| OptimError::Missing(key.clone()))?;
                let expected = p.size()[1..].to_vec();
                if t.size() != expected {
                    return Err(OptimError::Shape { name: key, found: t.size(), expected });
                }
                tch::no_grad(|| slot.get(k).copy_(&t));
            }
        }
        let step = get("adam.step").ok_or_else(|| OptimError::Missing("adam.step".into()))?;
        self.step = step.int64_value(&[0]);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn random(seed: i64, shape: &[i64]) -> Tensor {
        crate::model::seeded(seed as u64, || Tensor::randn(shape, (Kind::Float, Device::Cpu)))
    }

    #[test]
    fn the_fused_pass_equals_the_tensor_operations() {
        let shape = [3i64, 40, 7];
        let grads: Vec<Tensor> = (0..5).map(|s| random(10 + s, &shape)).collect();
        let start = random(1, &shape);
        let run = |fused: bool| {
            let p = start.copy();
            let mut adam = Adam::new(vec![("w".into(), p.shallow_clone())], AdamConfig { lr: 0.01, ..AdamConfig::default() });
            for g in &grads {
                if fused {
                    adam.update(std::slice::from_ref(g), Some(&[true, false, true]));
                } else {
                    adam.step += 1;
                    adam.update_tensors(0, g, Some(&[true, false, true]));
                }
            }
            (p, adam.m[0].copy())
        };
        let (pf, mf) = run(true);
        let (pt, mt) = run(false);
        let diff = (&pf - &pt).abs().max().double_value(&[]);
        assert!(pf.allclose(&pt, 1e-6, 2e-6, false), "parameters differ by {diff}");
        assert!(mf.allclose(&mt, 1e-6, 2e-6, false), "moments differ");
        // The member that is not live kept its parameters and moments.
        assert!(pf.get(1).equal(&start.get(1)) && mf.get(1).equal(&Tensor::zeros([40, 7], (Kind::Float, Device::Cpu))));
        assert!(!pf.get(0).equal(&start.get(0)));
    }

    #[test]
    fn the_on_device_variant_equals_the_fused_pass() {
        // The CUDA path (bias corrections from a step tensor, members masked on the device)
        // run on CPU tensors, against the fused pass over the same gradients.
        let shape = [3i64, 40, 7];
        let grads: Vec<Tensor> = (0..6).map(|s| random(20 + s, &shape)).collect();
        let start = random(2, &shape);
        let live = [true, false, true];
        let cfg = AdamConfig { lr: 0.01, ..AdamConfig::default() };
        let (pf, pd) = (start.copy(), start.copy());
        let mut fused = Adam::new(vec![("w".into(), pf.shallow_clone())], cfg);
        let mut device = Adam::new(vec![("w".into(), pd.shallow_clone())], cfg);
        let mut step = Tensor::from(0.0f64);
        for g in &grads {
            fused.update(std::slice::from_ref(g), Some(&live));
            device.update_on_device(std::slice::from_ref(g), &Tensor::from_slice(&live), &mut step);
        }
        assert_eq!(step.double_value(&[]), 6.0, "the step count lives on the device");
        let diff = (&pf - &pd).abs().max().double_value(&[]);
        assert!(pf.allclose(&pd, 1e-6, 2e-6, false), "parameters differ by {diff}");
        // The fused pass rounds 1 - beta2 to f32 (0.000999987, 1.3e-5 off), the tensor rule
        // keeps it in f64: the second moments agree to that.
        assert!(fused.v[0].allclose(&device.v[0], 3e-5, 1e-12, false), "second moments differ");
        assert!(pd.get(1).equal(&start.get(1)), "the member that is not live kept its parameters");
    }

    #[test]
    fn one_step_moves_each_parameter_by_about_the_learning_rate() {
        // At t = 1 the bias-corrected update is lr * g / (|g| + eps) = lr * sign(g).
        let p = Tensor::from_slice(&[1.0f32, -2.0, 3.0]);
        let mut adam = Adam::new(vec![("w".into(), p.shallow_clone())], AdamConfig { lr: 0.1, weight_decay: 0.0, ..AdamConfig::default() });
        adam.update(&[Tensor::from_slice(&[0.5f32, -4.0, 0.0])], None);
        let got: Vec<f32> = Vec::try_from(&p).unwrap();
        assert!((got[0] - 0.9).abs() < 1e-6 && (got[1] + 1.9).abs() < 1e-6 && got[2] == 3.0, "{got:?}");
    }
}
