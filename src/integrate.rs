//! The fixed one-frame steps models train and roll out with ([`Integrator`], on f64 vectors
//! and tensors alike), beside the ODE integrators of the data crate
//! ([`pixel_hnn_data::ode`]: RK4, RK45, implicit midpoint), re-exported here.

pub use pixel_hnn_data::ode::*;
use serde::{Deserialize, Serialize};

/// The fixed one-frame steps a model is trained and rolled out with (`--integrator`), on a
/// latent `z = (q, p)` moved by a field `f = (f_q, f_p)`. One definition serves training (on
/// tensors, differentiated through) and the rollouts that score a model as it was trained
/// (in f64), through [`Vector`].
///
/// - `euler`: `z' = z + h f(z)` (the paper's training step with `h = 1`);
/// - `rk4`: classic Runge-Kutta, order 4;
/// - `leapfrog`: `p½ = p + h/2 f_p(q, p)`, `q' = q + h f_q(q, p½)`, `p' = p½ + h/2 f_p(q', p½)`:
///   symplectic and time-reversible for a separable Hamiltonian (`f_q` a function of `p`,
///   `f_p` of `q`), order 2;
/// - `midpoint`: the implicit midpoint rule `z' = z + h f((z + z') / 2)`, symplectic for any
///   Hamiltonian and symmetric, solved by [`MIDPOINT_ITERATIONS`] fixed-point iterations from
///   the Euler guess (unrolled, so training differentiates through them).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Integrator {
    Euler,
    Rk4,
    Leapfrog,
    Midpoint,
}

/// Fixed-point iterations of the implicit midpoint rule, in training and in rollouts alike.
/// With a field of Lipschitz constant `L` one iteration shrinks the error by `L h / 2`; the
/// latent fields move at most ~0.5 per frame, so 6 iterations reach f32 rounding.
pub const MIDPOINT_ITERATIONS: usize = 6;

impl crate::util::choice::Choice for Integrator {
    const ALL: &'static [Self] = &[Integrator::Euler, Integrator::Rk4, Integrator::Leapfrog, Integrator::Midpoint];

    fn name(self) -> &'static str {
        match self {
            Integrator::Euler => "euler",
            Integrator::Rk4 => "rk4",
            Integrator::Leapfrog => "leapfrog",
            Integrator::Midpoint => "midpoint",
        }
    }

    fn help(self) -> &'static str {
        match self {
            Integrator::Euler => "z' = z + h f(z): the paper's training step",
            Integrator::Rk4 => "classic Runge-Kutta, order 4",
            Integrator::Leapfrog => "Stormer-Verlet: symplectic for a separable H",
            Integrator::Midpoint => "implicit midpoint rule: symplectic for any H",
        }
    }
}

/// A state the steps can move: `f64` vectors (one latent) and tensors (`[n, d]`, a batch).
pub trait Vector: Sized {
    /// `self + h k`
    fn axpy(&self, h: f64, k: &Self) -> Self;
    /// The `q` and `p` halves.
    fn halves(&self) -> (Self, Self);
    /// `(q, p)` joined.
    fn join(q: &Self, p: &Self) -> Self;
}

impl Vector for Vec<f64> {
    fn axpy(&self, h: f64, k: &Self) -> Self {
        self.iter().zip(k).map(|(a, b)| a + h * b).collect()
    }
    fn halves(&self) -> (Self, Self) {
        let d = self.len() / 2;
        (self[..d].to_vec(), self[d..].to_vec())
    }
    fn join(q: &Self, p: &Self) -> Self {
        q.iter().chain(p).copied().collect()
    }
}

impl Vector for tch::Tensor {
    fn axpy(&self, h: f64, k: &Self) -> Self {
        self + k * h
    }
    fn halves(&self) -> (Self, Self) {
        let d = self.size()[1] / 2;
        (self.narrow(1, 0, d), self.narrow(1, d, d))
    }
    fn join(q: &Self, p: &Self) -> Self {
        tch::Tensor::cat(&[q, p], 1)
    }
}

impl Integrator {
    /// One step of `h` frames of `z` along `f`.
    pub fn step<V: Vector>(self, f: &mut dyn FnMut(&V) -> V, z: &V, h: f64) -> V {
        match self {
            Integrator::Euler => z.axpy(h, &f(z)),
            Integrator::Rk4 => {
                let k1 = f(z);
                let k2 = f(&z.axpy(h / 2.0, &k1));
                let k3 = f(&z.axpy(h / 2.0, &k2));
                let k4 = f(&z.axpy(h, &k3));
                let sum = k1.axpy(2.0, &k2).axpy(2.0, &k3).axpy(1.0, &k4);
                z.axpy(h / 6.0, &sum)
            }
            Integrator::Leapfrog => {
                let (q, p) = z.halves();
                let (_, fp) = f(z).halves();
                let p_half = p.axpy(h / 2.0, &fp);
                let (fq, _) = f(&V::join(&q, &p_half)).halves();
                let q_next = q.axpy(h, &fq);
                let (_, fp) = f(&V::join(&q_next, &p_half)).halves();
                V::join(&q_next, &p_half.axpy(h / 2.0, &fp))
            }
            Integrator::Midpoint => {
                let mut next = z.axpy(h, &f(z));
                for _ in 0..MIDPOINT_ITERATIONS {
                    let mid = z.axpy(0.5, &next.axpy(-1.0, z));
                    next = z.axpy(h, &f(&mid));
                }
                next
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One step of `integrator` of the oscillator `(q, p)' = (p, -q)` from `(q, p)`.
    fn one_step(integrator: Integrator, q: f64, p: f64, h: f64) -> Vec<f64> {
        let mut f = |z: &Vec<f64>| vec![z[1], -z[0]];
        integrator.step(&mut f, &vec![q, p], h)
    }

    #[test]
    fn each_integrators_step_is_its_exact_map_of_the_oscillator() {
        // On the linear field A = [[0, 1], [-1, 0]] each method's step is a known matrix:
        // Euler I + hA; RK4 the Taylor series of e^{hA} to h^4; leapfrog
        // [[1 - h^2/2, h], [-h + h^3/4, 1 - h^2/2]]; the implicit midpoint rule the Cayley
        // transform (I - hA/2)^{-1} (I + hA/2) (to the iterations' contraction, (h/2)^7).
        let h: f64 = 0.3;
        let exact = |m: [[f64; 2]; 2], q: f64, p: f64| vec![m[0][0] * q + m[0][1] * p, m[1][0] * q + m[1][1] * p];
        let (h2, h3, h4) = (h * h, h.powi(3), h.powi(4));
        let rk4 = [[1.0 - h2 / 2.0 + h4 / 24.0, h - h3 / 6.0], [-h + h3 / 6.0, 1.0 - h2 / 2.0 + h4 / 24.0]];
        let c = 1.0 + h2 / 4.0;
        let cayley = [[(1.0 - h2 / 4.0) / c, h / c], [-h / c, (1.0 - h2 / 4.0) / c]];
        let cases = [
            (Integrator::Euler, [[1.0, h], [-h, 1.0]], 1e-15),
            (Integrator::Rk4, rk4, 1e-15),
            (Integrator::Leapfrog, [[1.0 - h2 / 2.0, h], [-h + h3 / 4.0, 1.0 - h2 / 2.0]], 1e-15),
            (Integrator::Midpoint, cayley, 2.0 * (h / 2.0).powi(MIDPOINT_ITERATIONS as i32 + 1)),
        ];
        for (integrator, m, tol) in cases {
            for (q, p) in [(1.0, 0.0), (0.0, 1.0), (0.4, -0.7)] {
                let (got, want) = (one_step(integrator, q, p, h), exact(m, q, p));
                for (a, b) in got.iter().zip(&want) {
                    assert!((a - b).abs() <= tol, "{integrator:?} from ({q}, {p}): {got:?} vs {want:?}");
                }
            }
        }
    }

    #[test]
    fn integrators_converge_to_the_exact_solution_at_their_order() {
        // Error at t = 1 of the oscillator from (1, 0) (exact: (cos t, -sin t)); halving the
        // step divides it by 2^order.
        let err = |integrator: Integrator, n: usize| {
            let h = 1.0 / n as f64;
            let mut z = vec![1.0, 0.0];
            let mut f = |z: &Vec<f64>| vec![z[1], -z[0]];
            for _ in 0..n {
                z = integrator.step(&mut f, &z, h);
            }
            ((z[0] - 1f64.cos()).powi(2) + (z[1] + 1f64.sin()).powi(2)).sqrt()
        };
        for (integrator, order) in
            [(Integrator::Euler, 1.0), (Integrator::Rk4, 4.0), (Integrator::Leapfrog, 2.0), (Integrator::Midpoint, 2.0)]
        {
            let rate = (err(integrator, 20) / err(integrator, 40)).log2();
            assert!((rate - order).abs() < 0.15, "{integrator:?}: observed order {rate}");
        }
    }

    #[test]
    fn the_symplectic_steps_run_backward_to_where_they_started() {
        // Leapfrog and the implicit midpoint rule are symmetric: a step of -h undoes one of h
        // (on a separable nonlinear field, the pendulum's); Euler's does not.
        let mut f = |z: &Vec<f64>| vec![z[1], -z[0].sin()];
        for (integrator, reversible) in [(Integrator::Leapfrog, true), (Integrator::Midpoint, true), (Integrator::Euler, false)] {
            let z0 = vec![1.2, 0.3];
            let there = integrator.step(&mut f, &z0, 0.25);
            let back = integrator.step(&mut f, &there, -0.25);
            let err = (back[0] - z0[0]).abs() + (back[1] - z0[1]).abs();
            assert_eq!(err < 1e-6, reversible, "{integrator:?}: back by {err}");
        }
    }

    #[test]
    fn a_step_on_tensors_is_the_step_on_vectors() {
        let zs = [vec![0.4, -0.7], vec![1.1, 0.2]];
        let t = tch::Tensor::from_slice(&zs.concat()).view([2, 2]);
        let mut ft = |z: &tch::Tensor| tch::Tensor::cat(&[z.narrow(1, 1, 1), -z.narrow(1, 0, 1).sin()], 1);
        let mut fv = |z: &Vec<f64>| vec![z[1], -z[0].sin()];
        for &integrator in <Integrator as crate::util::choice::Choice>::ALL {
            let st = integrator.step(&mut ft, &t, 0.7);
            for (i, z) in zs.iter().enumerate() {
                let sv = integrator.step(&mut fv, z, 0.7);
                for j in 0..2 {
                    assert!((st.double_value(&[i as i64, j]) - sv[j as usize]).abs() < 1e-12, "{integrator:?}");
                }
            }
        }
    }
}
