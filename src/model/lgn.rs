//! The Lagrangian network (Cranmer et al. 2020, "Lagrangian Neural Networks"; the
//! benchmark's LGN): the latent is a position and a velocity, `z = (q, q')`, a net learns
//! the Lagrangian `L(q, q') = |q'|^2 / 2 + net(q, q')` (one output; with `--separable` the
//! net is `T(q') - V(q)`, two nets),
//! and the latent moves by the Euler-Lagrange equations solved for the acceleration:
//!
//! `dq/dt = q'`, `dq'/dt = (d2L/dq'2)^-1 (dL/dq - d2L/dq'dq q')`.
//!
//! Its flow conserves the energy `E = q' . dL/dq' - L`, which is its learned energy. The
//! accelerations need L's Hessian (a gradient of a gradient, so training takes a third
//! derivative); natively the Hessian is carried forward through the net
//! ([`NativeMlp::output_hessian`]). It is stepped by RK4 unless told otherwise (the flow is
//! not canonical in `(q, q')`, so leapfrog is not symplectic for it).

use tch::Tensor;

use super::field::{declare_energy, Mlp, NativeMlp};
use super::layout::Layout;
use super::{Dynamics, FieldConfig};
use crate::integrate::Integrator;

pub struct Lgn;

/// `L` at `z`: a free particle's `|q'|^2 / 2` plus the one net's output, or plus
/// `T(q') - V(q)` for a separable L's two nets (`T` first). The net learns L's departure from
/// the free particle, so the mass `d2L/dq'2` starts near the identity: a net alone starts
/// near singular (accelerations of order 10^3 at the orthogonal init, and a singular solve
/// on the convolutional latents).
///
/// # Shapes
/// `z`: `[n, d]` -> `[n]`
fn lagrangian(nets: &[Mlp], z: &Tensor) -> Tensor {
    let h = z.size()[1] / 2;
    let v = z.narrow(1, h, h);
    let free = v.square().sum_dim_intlist(1, false, None::<tch::Kind>) * 0.5;
    let learned = match nets {
        [l] => l.forward(z).select(1, 0),
        [t, u] => t.forward(&v).select(1, 0) - u.forward(&z.narrow(1, 0, h)).select(1, 0),
        _ => unreachable!("a Lagrangian is one net or two"),
    };
    free + learned
}

/// L's gradient `[n, d]` and the velocity rows of its Hessian, `d2L/dq'_j dz`, `[n, h, d]`.
/// The gradient stays differentiable (the Hessian is its derivative); the Hessian does with
/// `create_graph`.
fn derivatives(nets: &[Mlp], z: &Tensor, create_graph: bool) -> (Tensor, Tensor) {
    let z = if z.requires_grad() { z.shallow_clone() } else { z.detach().set_requires_grad(true) };
    let l = lagrangian(nets, &z).sum(None::<tch::Kind>);
    let g = Tensor::run_backward(&[l], &[&z], true, true).pop().expect("one gradient");
    let h = g.size()[1] / 2;
    let rows: Vec<Tensor> = (0..h)
        .map(|j| {
            let gj = g.select(1, h + j).sum(None::<tch::Kind>);
            Tensor::run_backward(&[gj], &[&z], true, create_graph).pop().expect("one gradient")
        })
        .collect();
    (g, Tensor::stack(&rows, 1))
}

/// `(q', q'')` at `z`, the Euler-Lagrange equations solved for `q''`.
///
/// # Shapes
/// `z`: `[n, d]` -> `[n, d]`
fn euler_lagrange(nets: &[Mlp], z: &Tensor, create_graph: bool) -> Tensor {
    let (g, rows) = tch::with_grad(|| derivatives(nets, z, create_graph));
    let h = g.size()[1] / 2;
    let v = z.narrow(1, h, h);
    let (mixed, mass) = (rows.narrow(2, 0, h), rows.narrow(2, h, h));
    let force = g.narrow(1, 0, h) - mixed.matmul(&v.unsqueeze(-1)).squeeze_dim(-1);
    let acc = Tensor::linalg_solve(&mass, &force, true);
    let acc = if create_graph { acc } else { acc.detach() };
    Tensor::cat(&[v, acc], 1)
}

/// L's gradient and Hessian (`d x d`, row-major) at one latent, natively.
fn native_derivatives(nets: &[NativeMlp], z: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let (d, h) = (z.len(), z.len() / 2);
    let (mut g, mut hess) = net_derivatives(nets, z);
    for j in h..d {
        g[j] += z[j];
        hess[j * d + j] += 1.0;
    }
    (g, hess)
}

/// The nets' part of [`native_derivatives`].
fn net_derivatives(nets: &[NativeMlp], z: &[f64]) -> (Vec<f64>, Vec<f64>) {
    match nets {
        [l] => {
            let (_, g, hess) = l.output_hessian(0, z);
            (g, hess)
        }
        [t, v] => {
            let (h, d) = (z.len() / 2, z.len());
            let ((_, gt, ht), (_, gv, hv)) = (t.output_hessian(0, &z[h..]), v.output_hessian(0, &z[..h]));
            let mut g: Vec<f64> = gv.iter().map(|x| -x).collect();
            g.extend(gt);
            let mut hess = vec![0.0; d * d];
            for i in 0..h {
                for j in 0..h {
                    hess[i * d + j] = -hv[i * h + j];
                    hess[(h + i) * d + h + j] = ht[i * h + j];
                }
            }
            (g, hess)
        }
        _ => unreachable!("a Lagrangian is one net or two"),
    }
}

/// Solves `a x = b` in place (`a` is `n x n`, row-major; `b` becomes `x`), by Gaussian
/// elimination with partial pivoting.
fn solve(a: &mut [f64], b: &mut [f64]) {
    let n = b.len();
    for col in 0..n {
        let pivot = (col..n).max_by(|&i, &j| a[i * n + col].abs().total_cmp(&a[j * n + col].abs())).expect("a row");
        if pivot != col {
            for k in 0..n {
                a.swap(col * n + k, pivot * n + k);
            }
            b.swap(col, pivot);
        }
        for row in col + 1..n {
            let f = a[row * n + col] / a[col * n + col];
            for k in col..n {
                a[row * n + k] -= f * a[col * n + k];
            }
            b[row] -= f * b[col];
        }
    }
    for row in (0..n).rev() {
        let s: f64 = (row + 1..n).map(|k| a[row * n + k] * b[k]).sum();
        b[row] = (b[row] - s) / a[row * n + row];
    }
}

impl Dynamics for Lgn {
    fn name(&self) -> &'static str {
        "lgn"
    }

    fn help(&self) -> &'static str {
        "a learned Lagrangian L(q, q') moved by the Euler-Lagrange equations (rk4)"
    }

    fn declare_field(&self, c: &FieldConfig, layout: &mut Layout) {
        declare_energy(c, self.own_net(c.hidden), 1, layout);
    }

    fn learns_energy(&self) -> bool {
        true
    }

    /// `E = q' . dL/dq' - L`, which the Euler-Lagrange flow conserves.
    fn learned_energy(&self, nets: &[Mlp], z: &Tensor) -> Option<Tensor> {
        let create_graph = z.requires_grad();
        let energy = tch::with_grad(|| {
            let z = if z.requires_grad() { z.shallow_clone() } else { z.detach().set_requires_grad(true) };
            let l = lagrangian(nets, &z);
            let g = Tensor::run_backward(&[l.sum(None::<tch::Kind>)], &[&z], true, create_graph).pop().expect("one gradient");
            let h = g.size()[1] / 2;
            (z.narrow(1, h, h) * g.narrow(1, h, h)).sum_dim_intlist(1, false, None::<tch::Kind>) - l
        });
        Some(if create_graph { energy } else { energy.detach() })
    }

    fn time_derivative(&self, nets: &[Mlp], z: &Tensor, create_graph: bool) -> Tensor {
        euler_lagrange(nets, z, create_graph)
    }

    fn native_derivative(&self, nets: &[NativeMlp], z: &[f64], dz: &mut [f64]) {
        let (d, h) = (z.len(), z.len() / 2);
        let (g, hess) = native_derivatives(nets, z);
        let mut mass: Vec<f64> = (0..h * h).map(|k| hess[(h + k / h) * d + h + k % h]).collect();
        let mut acc: Vec<f64> = (0..h).map(|j| g[j] - (0..h).map(|k| hess[(h + j) * d + k] * z[h + k]).sum::<f64>()).collect();
        solve(&mut mass, &mut acc);
        dz[..h].copy_from_slice(&z[h..]);
        dz[h..].copy_from_slice(&acc);
    }

    fn default_integrator(&self, _horizon: usize) -> Integrator {
        Integrator::Rk4
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{field_alone, FieldConfig, FieldKind, FieldSettings, NativeField};
    use tch::nn::OptimizerConfig;
    use tch::Kind;

    fn field(hidden: i64, seed: u64) -> (tch::nn::VarStore, crate::model::LatentField) {
        let c = FieldConfig { dim: 2, hidden, settings: FieldSettings::default() };
        let (mut vs, f) = field_alone(c, FieldKind::Lgn, seed);
        vs.double();
        (vs, f)
    }

    fn rk4_energy_drift(native: &NativeField, energy: &dyn Fn(&[f64]) -> f64, z0: [f64; 2], h: f64, steps: usize) -> f64 {
        let (mut z, e0) = (z0.to_vec(), energy(&z0));
        let mut worst: f64 = 0.0;
        for _ in 0..steps {
            z = native.step(Integrator::Rk4, &z, h);
            worst = worst.max((energy(&z) - e0).abs());
        }
        worst
    }

    #[test]
    fn the_euler_lagrange_step_solves_the_equations_of_a_known_lagrangian() {
        // For any net, q'' from the step satisfies d/dt dL/dq' = dL/dq: checked by finite
        // differences of L along the step's own velocity, independently of the solve.
        let (_vs, f) = field(16, 3);
        let native = NativeField::new(&f);
        let l = |q: f64, v: f64| {
            let z = Tensor::from_slice(&[q, v]).view([1, 2]);
            lagrangian(&f.nets, &z).double_value(&[0])
        };
        let eps = 1e-4;
        for (q, v) in [(0.3, -0.2), (-1.1, 0.7)] {
            let mut dz = [0.0; 2];
            native.eval(&[q, v], &mut dz);
            assert_eq!(dz[0], v, "dq/dt is the velocity");
            let a = dz[1];
            let dl_dv = |q: f64, v: f64| (l(q, v + eps) - l(q, v - eps)) / (2.0 * eps);
            let dl_dq = (l(q + eps, v) - l(q - eps, v)) / (2.0 * eps);
            // d/dt dL/dq' along (q', q'') = dL/dq'dq q' + d2L/dq'2 q''.
            let mixed = (dl_dv(q + eps, v) - dl_dv(q - eps, v)) / (2.0 * eps);
            let mass = (dl_dv(q, v + eps) - dl_dv(q, v - eps)) / (2.0 * eps);
            let residual = mixed * v + mass * a - dl_dq;
            assert!(residual.abs() < 1e-5 * (dl_dq.abs() + mass.abs() * a.abs()).max(1e-3), "({q}, {v}): residual {residual}");
        }
    }

    #[test]
    fn the_flow_conserves_the_learned_energy_of_any_lagrangian() {
        // E = q' dL/dq' - L is a constant of the Euler-Lagrange flow: along RK4 the drift falls
        // as h^4 to round-off.
        let (_vs, f) = field(16, 5);
        let native = NativeField::new(&f);
        let energy = |z: &[f64]| {
            let t = Tensor::from_slice(z).view([1, 2]);
            f.learned_energy(&t).unwrap().double_value(&[0])
        };
        let coarse = rk4_energy_drift(&native, &energy, [0.4, 0.3], 0.02, 100);
        let fine = rk4_energy_drift(&native, &energy, [0.4, 0.3], 0.01, 200);
        assert!(fine < 1e-8, "{fine}");
        assert!(coarse / fine > 10.0, "RK4's h^4: {coarse} vs {fine}");
    }

    #[test]
    fn trained_on_an_ideal_pendulums_coordinates_its_step_conserves_the_true_energy() {
        // The ideal pendulum (g = l = 1): q'' = -sin q, E = q'^2 / 2 - cos q. An LGN (the
        // family's own tanh net, 2 x 128) fitted to (q, q') -> (q', q'') on 256 states keeps
        // E within 5% of its swing over 15 periods from a state it was not trained on, and
        // does not drift: the last 10 periods stray no further than 1.5x the first 5.
        let (vs, f) = field(128, 0);
        let mut rng = crate::util::rng::Rng::new(11);
        let (n, mut states, mut targets) = (256, vec![], vec![]);
        for _ in 0..n {
            let (q, v) = (rng.uniform(-2.0, 2.0), rng.uniform(-1.5, 1.5));
            states.extend([q, v]);
            targets.extend([v, -f64::sin(q)]);
        }
        let x = Tensor::from_slice(&states).view([n, 2]);
        let y = Tensor::from_slice(&targets).view([n, 2]);
        let mut opt = tch::nn::Adam::default().build(&vs, 3e-3).unwrap();
        for _ in 0..1500 {
            let loss = (f.time_derivative(&x, true) - &y).square().mean(Kind::Double);
            opt.backward_step(&loss);
        }
        let native = NativeField::new(&f);
        let truth = |z: &[f64]| z[1] * z[1] / 2.0 - z[0].cos();
        let z0 = [1.0, 0.2];
        let swing = truth(&z0) + 1.0; // above the bottom
        let period = 6.6; // of this swing, in time units; steps of 0.1
        let first = rk4_energy_drift(&native, &truth, z0, 0.1, (5.0 * period / 0.1) as usize);
        let all = rk4_energy_drift(&native, &truth, z0, 0.1, (15.0 * period / 0.1) as usize);
        assert!(all < 0.05 * swing, "drift {all} of {swing}");
        assert!(all < 1.5 * first, "the drift grows: {first} over 5 periods, {all} over 15");
    }
}
