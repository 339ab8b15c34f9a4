//! The classic-control "Pendulum" (gym / gymnasium `Pendulum-v1`) with zero torque, as the
//! reference experiment simulates it (SPEC.md section 1). Implemented here rather than taken
//! from `gym-rs`, which has no pendulum and needs SDL2.
//!
//! Convention of that environment: `theta = 0` points straight up, `theta = pi` hangs down.
//! One step is semi-implicit (symplectic) Euler with a speed clip:
//! `thdot' = clip(thdot + 3g/(2l) sin(theta) dt, -8, 8)`, `theta' = theta + thdot' dt`.
//! The arithmetic follows the environment's expression order so that trajectories agree with
//! it to the last bits.

use serde::{Deserialize, Serialize};
use std::f64::consts::PI;

use crate::error::{Error, Result};
use crate::rng::Rng;

/// Physical constants of the environment; `Default` is `Pendulum-v1`'s.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct PendulumParams {
    pub g: f64,
    pub m: f64,
    pub l: f64,
    /// Seconds per step (one frame).
    pub dt: f64,
    /// The environment clips the angular speed to `[-max_speed, max_speed]`.
    pub max_speed: f64,
}

impl Default for PendulumParams {
    fn default() -> Self {
        PendulumParams { g: 10.0, m: 1.0, l: 1.0, dt: 0.05, max_speed: 8.0 }
    }
}

/// The simulator's state: the environment's angle (0 = up, not wrapped) and angular speed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct State {
    pub theta: f64,
    pub thdot: f64,
}

impl State {
    /// Deflection from hanging down, `theta - pi` wrapped to `[-pi, pi)`: the reference's `q`.
    pub fn deflection(&self) -> f64 {
        wrap_angle(self.theta - PI)
    }

    /// The reference's coordinate label `(q, p) = (deflection, 0.25 * thdot)`.
    pub fn label(&self) -> (f64, f64) {
        (self.deflection(), 0.25 * self.thdot)
    }

    /// The energy the reference scores: `H(q, p) = 1.9 (1 - cos q) + p^2`.
    pub fn reference_energy(&self) -> f64 {
        let (q, p) = self.label();
        reference_energy(q, p)
    }
}

/// `H(q, p) = 1.9 (1 - cos q) + p^2`, the reference's energy in label coordinates (about the
/// mechanical energy divided by 8; 1.875 would be exact).
pub fn reference_energy(q: f64, p: f64) -> f64 {
    1.9 * (1.0 - q.cos()) + p * p
}

/// Wraps an angle to `[-pi, pi)`.
pub fn wrap_angle(x: f64) -> f64 {
    (x + PI).rem_euclid(2.0 * PI) - PI
}

impl PendulumParams {
    /// One environment step with zero torque.
    pub fn step(&self, s: State) -> State {
        let u = 0.0;
        let (g, m, l, dt) = (self.g, self.m, self.l, self.dt);
        let thdot = s.thdot + (3.0 * g / (2.0 * l) * s.theta.sin() + 3.0 / (m * (l * l)) * u) * dt;
        let thdot = thdot.clamp(-self.max_speed, self.max_speed);
        State { theta: s.theta + thdot * dt, thdot }
    }

    /// The exact inverse of [`step`](Self::step) wherever the speed clip was not active.
    pub fn step_back(&self, s: State) -> State {
        let theta = s.theta - s.thdot * self.dt;
        let thdot = s.thdot - 3.0 * self.g / (2.0 * self.l) * theta.sin() * self.dt;
        State { theta, thdot }
    }

    /// `n` states starting with `s0` (so `n - 1` steps).
    pub fn trajectory(&self, s0: State, n: usize) -> Vec<State> {
        let mut out = Vec::with_capacity(n);
        let mut s = s0;
        for _ in 0..n {
            out.push(s);
            s = self.step(s);
        }
        out
    }

    /// The mechanical energy per unit mass and length scale of the rigid rod,
    /// `E = (1/6) m l^2 thdot^2 + (m g l / 2) cos(theta)` (theta = 0 up), which the continuous
    /// dynamics `theta_dd = 3g/(2l) sin(theta)` conserve.
    pub fn mechanical_energy(&self, s: State) -> f64 {
        let (m, l, g) = (self.m, self.l, self.g);
        m * l * l * s.thdot * s.thdot / 6.0 + m * g * l / 2.0 * s.theta.cos()
    }

    pub fn validate(&self) -> Result<()> {
        for (flag, v) in [("--g", self.g), ("--dt", self.dt), ("--max-speed", self.max_speed)] {
            if !(v.is_finite() && v > 0.0) {
                return Err(Error::setting(flag, format!("must be a positive number (got {v})")));
            }
        }
        if !(self.m.is_finite() && self.m > 0.0 && self.l.is_finite() && self.l > 0.0) {
            return Err(Error::setting("--m/--l", "mass and length must be positive"));
        }
        Ok(())
    }
}

/// The reference's initial-state rule: draw `theta ~ U[-pi, pi)`, `thdot ~ U[-thdot_max,
/// thdot_max)` and redraw both until the deflection satisfies `min < |deflection| < max`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct InitialStateRule {
    pub min_angle: f64,
    pub max_angle: f64,
    pub thdot_max: f64,
}

impl Default for InitialStateRule {
    fn default() -> Self {
        InitialStateRule { min_angle: 0.0, max_angle: PI / 6.0, thdot_max: 1.0 }
    }
}

impl InitialStateRule {
    pub fn validate(&self) -> Result<()> {
        let (lo, hi) = (self.min_angle, self.max_angle);
        if !(lo.is_finite() && lo >= 0.0) {
            return Err(Error::setting("--min-angle", format!("must be >= 0 radians (got {lo})")));
        }
        if !(hi.is_finite() && hi <= PI) {
            return Err(Error::setting("--max-angle", format!("must be <= pi radians (got {hi})")));
        }
        if lo >= hi {
            return Err(Error::setting("--min-angle", format!("must be below --max-angle (got {lo} >= {hi})")));
        }
        if !(self.thdot_max.is_finite() && self.thdot_max >= 0.0) {
            return Err(Error::setting("--thdot-max", "must be a number >= 0"));
        }
        Ok(())
    }

    /// Draws one initial state. The window `(min, max)` has probability `(max - min) / pi`
    /// per draw, so validated windows always terminate.
    pub fn sample(&self, rng: &mut Rng) -> State {
        loop {
            let theta = rng.uniform(-PI, PI);
            let thdot = rng.uniform(-self.thdot_max, self.thdot_max);
            let d = wrap_angle(theta - PI).abs();
            if d > self.min_angle && d < self.max_angle {
                return State { theta, thdot };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_angle_is_in_range_and_periodic() {
        for k in -5..=5 {
            for x in [-3.0, -1.0, 0.0, 0.5, 3.1] {
                let w = wrap_angle(x + 2.0 * PI * k as f64);
                assert!((-PI..PI).contains(&w));
                assert!((w - x).abs() < 1e-12, "{x} {k} {w}");
            }
        }
        assert_eq!(wrap_angle(PI), -PI);
    }

    #[test]
    fn step_back_inverts_step_away_from_the_clip() {
        let p = PendulumParams::default();
        let mut s = State { theta: PI + 0.4, thdot: 0.3 };
        let start = s;
        for _ in 0..500 {
            s = p.step(s);
        }
        for _ in 0..500 {
            s = p.step_back(s);
        }
        assert!((s.theta - start.theta).abs() < 1e-9 && (s.thdot - start.thdot).abs() < 1e-9);
    }

    #[test]
    fn symplectic_euler_keeps_energy_bounded_over_long_runs() {
        // A symplectic map conserves a modified energy: the true energy oscillates within
        // O(dt) and does not drift. Over 100,000 steps (5,000 s) the worst error in the last
        // 2,000 steps is the same as in the first 2,000 (a drifting integrator grows).
        let p = PendulumParams::default();
        let s0 = State { theta: PI + 0.5, thdot: 0.0 };
        let e0 = p.mechanical_energy(s0);
        let exchange = 5.0 * (1.0 - 0.5f64.cos()); // potential energy traded per swing
        let (mut s, mut early, mut late) = (s0, 0.0f64, 0.0f64);
        for i in 0..100_000 {
            s = p.step(s);
            let err = (p.mechanical_energy(s) - e0).abs();
            if i < 2000 {
                early = early.max(err);
            } else if i >= 98_000 {
                late = late.max(err);
            }
        }
        assert!(early < 0.15 * exchange && early > 0.01 * exchange, "early {early}");
        assert!((late - early).abs() < 0.01 * early, "drift: {early} -> {late}");
    }

    #[test]
    fn speed_is_clipped() {
        let p = PendulumParams::default();
        let s = p.step(State { theta: PI / 2.0, thdot: 7.9 });
        assert_eq!(s.thdot, 8.0);
        assert_eq!(s.theta, PI / 2.0 + 8.0 * 0.05);
    }

    #[test]
    fn initial_states_respect_the_window_and_the_seed() {
        let rule = InitialStateRule { min_angle: 0.1, max_angle: 0.3, thdot_max: 1.0 };
        let mut a = Rng::new(3);
        let mut b = Rng::new(3);
        for _ in 0..2000 {
            let s = rule.sample(&mut a);
            let d = s.deflection().abs();
            assert!(d > 0.1 && d < 0.3, "{d}");
            assert!(s.thdot.abs() <= 1.0);
            assert_eq!(s, rule.sample(&mut b));
        }
    }

    #[test]
    fn labels_follow_the_reference_convention() {
        let s = State { theta: PI + 0.2, thdot: 2.0 };
        let (q, p) = s.label();
        assert!((q - 0.2).abs() < 1e-12);
        assert_eq!(p, 0.5);
        assert!((s.reference_energy() - (1.9 * (1.0 - 0.2f64.cos()) + 0.25)).abs() < 1e-15);
        assert_eq!(State { theta: PI, thdot: 0.0 }.reference_energy(), 0.0);
    }

    #[test]
    fn bad_windows_are_rejected_naming_the_flag() {
        let r = InitialStateRule { min_angle: 0.5, max_angle: 0.5, thdot_max: 1.0 };
        assert!(r.validate().unwrap_err().to_string().starts_with("--min-angle"));
        let r = InitialStateRule { min_angle: 0.0, max_angle: 4.0, thdot_max: 1.0 };
        assert!(r.validate().unwrap_err().to_string().starts_with("--max-angle"));
    }
}
