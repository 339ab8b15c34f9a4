//! ODE integrators, generic over the vector field `f(t, y, dy)`; the equations stay apart
//! from the steppers. Every method reports the state at the requested times `t_eval`.
//!
//! - [`Method::Rk4`]: classic fixed-step Runge-Kutta, order 4.
//! - [`Method::Rk45`]: adaptive Dormand-Prince 5(4) with `rtol`/`atol` and scipy's error
//!   norm and step control (what the reference's evaluation used via `solve_ivp`); output
//!   between steps by cubic Hermite interpolation on the step's end points and slopes.
//! - [`Method::ImplicitMidpoint`]: `y' = y + h f((y + y') / 2)`, symplectic for any
//!   Hamiltonian, separable or not, and symmetric (time-reversible); order 2. Leapfrog would
//!   assume `dq/dt = p`, which a learned H does not satisfy.
//!
//! Dormand-Prince tableau (c | A, then b for order 5 and b* for order 4):
//! ```text
//!  0    |
//!  1/5  | 1/5
//!  3/10 | 3/40        9/40
//!  4/5  | 44/45      -56/15       32/9
//!  8/9  | 19372/6561 -25360/2187  64448/6561 -212/729
//!  1    | 9017/3168  -355/33      46732/5247  49/176  -5103/18656
//!  1    | 35/384      0           500/1113    125/192 -2187/6784    11/84
//!  b    | 35/384      0           500/1113    125/192 -2187/6784    11/84    0
//!  b*   | 5179/57600  0           7571/16695  393/640 -92097/339200 187/2100 1/40
//! ```

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "snake_case")]
pub enum Method {
    Rk4 { dt: f64 },
    Rk45 { rtol: f64, atol: f64 },
    ImplicitMidpoint { dt: f64 },
}

impl Method {
    /// The reference evaluation's RK45 tolerances, `(rtol, atol)`.
    pub const REFERENCE_TOLERANCES: (f64, f64) = (1e-3, 1e-6);

    /// The reference evaluation's choice: RK45 with [`Self::REFERENCE_TOLERANCES`].
    pub fn reference() -> Self {
        let (rtol, atol) = Self::REFERENCE_TOLERANCES;
        Method::Rk45 { rtol, atol }
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum IntegrateError {
    #[error("the state left the finite range at t = {t}")]
    NonFinite { t: f64 },
    #[error("the step size fell below {min:e} at t = {t} (the field is too stiff or singular there)")]
    StepTooSmall { t: f64, min: f64 },
    #[error("the implicit midpoint iteration did not converge at t = {t}; use a smaller step")]
    NoConvergence { t: f64 },
    #[error("{0}")]
    BadRequest(String),
}

type Result<T> = std::result::Result<T, IntegrateError>;

/// Integrates `y' = f(t, y)` from `y0` at `t_eval[0]` and returns the state at every time of
/// `t_eval` (which must not decrease). The first row is `y0`.
pub fn solve<F>(mut f: F, y0: &[f64], t_eval: &[f64], method: Method) -> Result<Vec<Vec<f64>>>
where
    F: FnMut(f64, &[f64], &mut [f64]),
{
    if t_eval.is_empty() {
        return Ok(vec![]);
    }
    if t_eval.iter().any(|t| !t.is_finite()) || t_eval.windows(2).any(|w| w[1] < w[0]) {
        return Err(IntegrateError::BadRequest("t_eval must be finite and non-decreasing".into()));
    }
    match method {
        Method::Rk4 { dt } | Method::ImplicitMidpoint { dt } if !(dt.is_finite() && dt > 0.0) => {
            Err(IntegrateError::BadRequest(format!("step {dt} must be positive")))
        }
        Method::Rk45 { rtol, atol } if !(rtol > 0.0 && atol > 0.0 && rtol.is_finite() && atol.is_finite()) => {
            Err(IntegrateError::BadRequest("rtol and atol must be positive".into()))
        }
        Method::Rk4 { dt } => fixed(&mut f, y0, t_eval, dt, rk4_step),
        Method::ImplicitMidpoint { dt } => fixed(&mut f, y0, t_eval, dt, midpoint_step),
        Method::Rk45 { rtol, atol } => rk45(&mut f, y0, t_eval, rtol, atol),
    }
}

type Stepper<F> = fn(&mut F, f64, &[f64], f64) -> Result<Vec<f64>>;

/// Fixed steps of at most `dt`, shortened to land on every output time.
fn fixed<F>(f: &mut F, y0: &[f64], t_eval: &[f64], dt: f64, step: Stepper<F>) -> Result<Vec<Vec<f64>>>
where
    F: FnMut(f64, &[f64], &mut [f64]),
{
    let mut out = Vec::with_capacity(t_eval.len());
    let (mut t, mut y) = (t_eval[0], y0.to_vec());
    for &target in t_eval {
        while target - t > 1e-12 * dt {
            let h = dt.min(target - t);
            y = step(f, t, &y, h)?;
            t = if target - (t + h) <= 1e-12 * dt { target } else { t + h };
            if y.iter().any(|v| !v.is_finite()) {
                return Err(IntegrateError::NonFinite { t });
            }
        }
        out.push(y.clone());
    }
    Ok(out)
}

fn axpy(y: &[f64], h: f64, k: &[f64]) -> Vec<f64> {
    y.iter().zip(k).map(|(a, b)| a + h * b).collect()
}

fn eval<F: FnMut(f64, &[f64], &mut [f64])>(f: &mut F, t: f64, y: &[f64]) -> Vec<f64> {
    let mut dy = vec![0.0; y.len()];
    f(t, y, &mut dy);
    dy
}

/// One classic RK4 step.
pub fn rk4_step<F: FnMut(f64, &[f64], &mut [f64])>(f: &mut F, t: f64, y: &[f64], h: f64) -> Result<Vec<f64>> {
    let k1 = eval(f, t, y);
    let k2 = eval(f, t + h / 2.0, &axpy(y, h / 2.0, &k1));
    let k3 = eval(f, t + h / 2.0, &axpy(y, h / 2.0, &k2));
    let k4 = eval(f, t + h, &axpy(y, h, &k3));
    Ok((0..y.len()).map(|i| y[i] + h / 6.0 * (k1[i] + 2.0 * k2[i] + 2.0 * k3[i] + k4[i])).collect())
}

/// One implicit midpoint step, solved by fixed-point iteration to round-off: until the
/// update is below 1e-14 of the state, or stops shrinking once below 1e-6 of it (a field
/// evaluated in f32 cannot agree with itself to more digits than that).
pub fn midpoint_step<F: FnMut(f64, &[f64], &mut [f64])>(f: &mut F, t: f64, y: &[f64], h: f64) -> Result<Vec<f64>> {
    let mut next = axpy(y, h, &eval(f, t, y));
    let mut last_change = f64::INFINITY;
    for _ in 0..100 {
        let mid: Vec<f64> = y.iter().zip(&next).map(|(a, b)| 0.5 * (a + b)).collect();
        let cand = axpy(y, h, &eval(f, t + h / 2.0, &mid));
        let change = cand.iter().zip(&next).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
        let scale = cand.iter().map(|v| v.abs()).fold(1.0, f64::max);
        next = cand;
        if !next.iter().all(|v| v.is_finite()) {
            return Err(IntegrateError::NonFinite { t });
        }
        if change <= 1e-14 * scale || (change >= last_change && change <= 1e-6 * scale) {
            return Ok(next);
        }
        last_change = change;
    }
    Err(IntegrateError::NoConvergence { t })
}

const C: [f64; 7] = [0.0, 1.0 / 5.0, 3.0 / 10.0, 4.0 / 5.0, 8.0 / 9.0, 1.0, 1.0];
const A: [[f64; 6]; 7] = [
    [0.0; 6],
    [1.0 / 5.0, 0.0, 0.0, 0.0, 0.0, 0.0],
    [3.0 / 40.0, 9.0 / 40.0, 0.0, 0.0, 0.0, 0.0],
    [44.0 / 45.0, -56.0 / 15.0, 32.0 / 9.0, 0.0, 0.0, 0.0],
    [19372.0 / 6561.0, -25360.0 / 2187.0, 64448.0 / 6561.0, -212.0 / 729.0, 0.0, 0.0],
    [9017.0 / 3168.0, -355.0 / 33.0, 46732.0 / 5247.0, 49.0 / 176.0, -5103.0 / 18656.0, 0.0],
    [35.0 / 384.0, 0.0, 500.0 / 1113.0, 125.0 / 192.0, -2187.0 / 6784.0, 11.0 / 84.0],
];
/// b - b*: the embedded error estimate's weights.
const E: [f64; 7] = [71.0 / 57600.0, 0.0, -71.0 / 16695.0, 71.0 / 1920.0, -17253.0 / 339200.0, 22.0 / 525.0, -1.0 / 40.0];

fn rms_norm(v: &[f64], scale: &[f64]) -> f64 {
    (v.iter().zip(scale).map(|(a, s)| (a / s).powi(2)).sum::<f64>() / v.len() as f64).sqrt()
}

fn rk45<F: FnMut(f64, &[f64], &mut [f64])>(f: &mut F, y0: &[f64], t_eval: &[f64], rtol: f64, atol: f64) -> Result<Vec<Vec<f64>>> {
    let n = y0.len();
    let (t0, t_end) = (t_eval[0], *t_eval.last().unwrap());
    let mut out = Vec::with_capacity(t_eval.len());
    let mut next_out = 0;
    let (mut t, mut y) = (t0, y0.to_vec());
    let mut k0 = eval(f, t, &y);
    while next_out < t_eval.len() && t_eval[next_out] <= t {
        out.push(y.clone());
        next_out += 1;
    }
    if next_out == t_eval.len() {
        return Ok(out);
    }
    // scipy's initial step selection (Hairer, Norsett & Wanner, II.4).
    let scale: Vec<f64> = y.iter().map(|v| atol + v.abs() * rtol).collect();
    let (d0, d1) = (rms_norm(&y, &scale), rms_norm(&k0, &scale));
    let h0 = if d0 < 1e-5 || d1 < 1e-5 { 1e-6 } else { 0.01 * d0 / d1 };
    let k1 = eval(f, t + h0, &axpy(&y, h0, &k0));
    let d2 = rms_norm(&k1.iter().zip(&k0).map(|(a, b)| a - b).collect::<Vec<_>>(), &scale) / h0;
    let h1 = if d1 <= 1e-15 && d2 <= 1e-15 { (h0 * 1e-3).max(1e-6) } else { (0.01 / d1.max(d2)).powf(0.2) };
    let mut h = (100.0 * h0).min(h1).min(t_end - t0);
    let mut k = vec![vec![0.0; n]; 7];
    while next_out < t_eval.len() {
        let min_step = 10.0 * f64::EPSILON * t.abs().max(1.0);
        if h < min_step {
            return Err(IntegrateError::StepTooSmall { t, min: min_step });
        }
        let h_try = h.min(t_end - t);
        k[0].clone_from(&k0);
        for s in 1..7 {
            let ys: Vec<f64> = (0..n).map(|i| y[i] + h_try * (0..s).map(|j| A[s][j] * k[j][i]).sum::<f64>()).collect();
            k[s] = eval(f, t + C[s] * h_try, &ys);
        }
        let y_new: Vec<f64> = (0..n).map(|i| y[i] + h_try * (0..6).map(|j| A[6][j] * k[j][i]).sum::<f64>()).collect();
        if !y_new.iter().all(|v| v.is_finite()) {
            return Err(IntegrateError::NonFinite { t: t + h_try });
        }
        let err: Vec<f64> = (0..n).map(|i| h_try * (0..7).map(|j| E[j] * k[j][i]).sum::<f64>()).collect();
        let scale: Vec<f64> = (0..n).map(|i| atol + y[i].abs().max(y_new[i].abs()) * rtol).collect();
        let err_norm = rms_norm(&err, &scale);
        if err_norm <= 1.0 {
            let t_new = t + h_try;
            let k_new = k[6].clone(); // FSAL: the last stage is f(t_new, y_new)
            while next_out < t_eval.len() && t_eval[next_out] <= t_new + 1e-12 * h_try {
                let x = ((t_eval[next_out] - t) / h_try).clamp(0.0, 1.0);
                out.push(hermite(&y, &y_new, &k0, &k_new, h_try, x));
                next_out += 1;
            }
            let factor = if err_norm == 0.0 { 10.0 } else { (0.9 * err_norm.powf(-0.2)).min(10.0) };
            (t, y, k0) = (t_new, y_new, k_new);
            h = h_try * factor;
        } else {
            h = h_try * (0.9 * err_norm.powf(-0.2)).max(0.2);
        }
    }
    Ok(out)
}

/// Cubic Hermite interpolation at fraction `x` of a step of length `h`.
fn hermite(y0: &[f64], y1: &[f64], f0: &[f64], f1: &[f64], h: f64, x: f64) -> Vec<f64> {
    let (x2, x3) = (x * x, x * x * x);
    let (h00, h10, h01, h11) = (2.0 * x3 - 3.0 * x2 + 1.0, x3 - 2.0 * x2 + x, -2.0 * x3 + 3.0 * x2, x3 - x2);
    (0..y0.len()).map(|i| h00 * y0[i] + h10 * h * f0[i] + h01 * y1[i] + h11 * h * f1[i]).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Harmonic oscillator q' = p, p' = -q: exact (q, p) = (cos t, -sin t) from (1, 0).
    fn oscillator(_t: f64, y: &[f64], dy: &mut [f64]) {
        dy[0] = y[1];
        dy[1] = -y[0];
    }

    fn error_at(method: Method, t_end: f64) -> f64 {
        let y = solve(oscillator, &[1.0, 0.0], &[0.0, t_end], method).unwrap();
        ((y[1][0] - t_end.cos()).powi(2) + (y[1][1] + t_end.sin()).powi(2)).sqrt()
    }

    #[test]
    fn rk4_is_fourth_order_and_midpoint_second_order() {
        let r = error_at(Method::Rk4 { dt: 0.1 }, 5.0) / error_at(Method::Rk4 { dt: 0.05 }, 5.0);
        assert!((r - 16.0).abs() < 1.0, "RK4 error ratio {r}");
        let m = error_at(Method::ImplicitMidpoint { dt: 0.1 }, 5.0) / error_at(Method::ImplicitMidpoint { dt: 0.05 }, 5.0);
        assert!((m - 4.0).abs() < 0.2, "midpoint error ratio {m}");
    }

    #[test]
    fn rk45_meets_its_tolerance_and_tightens_with_it() {
        let loose = error_at(Method::Rk45 { rtol: 1e-3, atol: 1e-6 }, 10.0);
        let tight = error_at(Method::Rk45 { rtol: 1e-9, atol: 1e-12 }, 10.0);
        assert!(loose < 2e-2, "{loose}");
        assert!(tight < 1e-7, "{tight}");
        assert!(tight < loose / 1000.0);
    }

    #[test]
    fn outputs_land_on_the_requested_times_including_between_steps() {
        let t: Vec<f64> = (0..200).map(|i| i as f64 * 196.0 / 199.0 / 10.0).collect();
        for method in [Method::Rk4 { dt: 0.01 }, Method::Rk45 { rtol: 1e-10, atol: 1e-12 }, Method::ImplicitMidpoint { dt: 0.003 }] {
            let ys = solve(oscillator, &[1.0, 0.0], &t, method).unwrap();
            assert_eq!(ys.len(), 200);
            for (ti, y) in t.iter().zip(&ys) {
                assert!((y[0] - ti.cos()).abs() < 2e-4, "{method:?} at {ti}: {} vs {}", y[0], ti.cos());
            }
        }
    }

    /// Pendulum H = p^2 / 2 - cos q (not separable in the quadratic sense that makes linear
    /// problems easy): q' = p, p' = -sin q.
    fn pendulum(_t: f64, y: &[f64], dy: &mut [f64]) {
        dy[0] = y[1];
        dy[1] = -y[0].sin();
    }

    fn energy(y: &[f64]) -> f64 {
        0.5 * y[1] * y[1] - y[0].cos()
    }

    #[test]
    fn implicit_midpoint_keeps_energy_bounded_over_10000_steps() {
        let t: Vec<f64> = (0..=10_000).map(|i| i as f64 * 0.2).collect();
        let ys = solve(pendulum, &[2.0, 0.0], &t, Method::ImplicitMidpoint { dt: 0.2 }).unwrap();
        let e0 = energy(&ys[0]);
        let err = |r: &[Vec<f64>]| r.iter().map(|y| (energy(y) - e0).abs()).fold(0.0, f64::max);
        let (early, late) = (err(&ys[..1000]), err(&ys[9000..]));
        assert!(early < 5e-2, "{early}");
        assert!(late < 1.2 * early, "energy drifts: {early} -> {late}");
        // A non-symplectic method of higher order drifts over the same span.
        let rk = solve(pendulum, &[2.0, 0.0], &t, Method::Rk4 { dt: 0.2 }).unwrap();
        let rk_late = err(&rk[9000..]);
        assert!(rk_late > 3.0 * err(&rk[..1000]), "RK4 was expected to drift: {rk_late}");
    }

    #[test]
    fn implicit_midpoint_is_time_reversible() {
        let forward = solve(pendulum, &[1.0, 0.5], &[0.0, 20.0], Method::ImplicitMidpoint { dt: 0.1 }).unwrap();
        let end = forward[1].clone();
        // Integrating the reversed field from the end for the same time returns to the start.
        let back = solve(
            |t, y: &[f64], dy: &mut [f64]| {
                pendulum(t, y, dy);
                dy[0] = -dy[0];
                dy[1] = -dy[1];
            },
            &end,
            &[0.0, 20.0],
            Method::ImplicitMidpoint { dt: 0.1 },
        )
        .unwrap();
        assert!((back[1][0] - 1.0).abs() < 1e-10 && (back[1][1] - 0.5).abs() < 1e-10, "{:?}", back[1]);
    }

    #[test]
    fn failures_are_reported_not_panicked() {
        let blow_up = |_t: f64, y: &[f64], dy: &mut [f64]| dy[0] = y[0] * y[0];
        let e = solve(blow_up, &[1.0], &[0.0, 2.0], Method::Rk4 { dt: 0.01 }).unwrap_err();
        assert!(matches!(e, IntegrateError::NonFinite { .. }), "{e}");
        let e = solve(blow_up, &[1.0], &[0.0, 2.0], Method::Rk45 { rtol: 1e-6, atol: 1e-9 }).unwrap_err();
        assert!(matches!(e, IntegrateError::StepTooSmall { .. } | IntegrateError::NonFinite { .. }), "{e}");
        let e = solve(blow_up, &[1.0], &[0.0, 2.0], Method::ImplicitMidpoint { dt: 0.5 }).unwrap_err();
        assert!(matches!(e, IntegrateError::NoConvergence { .. } | IntegrateError::NonFinite { .. }), "{e}");
        assert!(solve(oscillator, &[1.0, 0.0], &[1.0, 0.0], Method::Rk4 { dt: 0.1 }).is_err());
    }
}
