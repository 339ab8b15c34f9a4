//! A double pendulum: two point masses `m1, m2` on massless rods `l1, l2`, angles measured from
//! hanging down, `q = (theta1, theta2)` and their canonical momenta `p = (p1, p2)`: a 4-D
//! latent. With `D = theta1 - theta2` and `M(D) = m1 + m2 sin^2 D`,
//!
//! ```text
//! H = (m2 l2^2 p1^2 + (m1 + m2) l1^2 p2^2 - 2 m2 l1 l2 p1 p2 cos D) / (2 m2 l1^2 l2^2 M(D))
//!     - (m1 + m2) g l1 cos theta1 - m2 g l2 cos theta2
//! ```
//!
//! Simulator: RK45 at rtol 1e-10 (H kept to about 1e-9 over a trial). Initial states are
//! at rest with both angles uniform in `[-max, max]` and the larger beyond `min`: at the
//! default `max` of 0.5 rad the motion stays regular (near its two normal modes) over the
//! evaluation's horizon. Scene: two rods from a pivot, the bobs as discs (the first dimmer).

use serde::{Deserialize, Serialize};

use super::{integrate, Drawer, SceneDrawer, System};
use crate::error::Result;
use crate::rng::Rng;
use crate::systems::render::{RenderConfig, Window};

/// `Default`: unit masses and rods, g = 10, frames 0.05 s apart (the slow mode's period is
/// 2.6 s, 52 frames), angles up to 0.5 rad.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct DoublePendulum {
    pub m1: f64,
    pub m2: f64,
    pub l1: f64,
    pub l2: f64,
    pub g: f64,
    pub dt: f64,
    /// The larger initial angle is at least `min_angle`; both are within `max_angle`.
    pub min_angle: f64,
    pub max_angle: f64,
}

impl Default for DoublePendulum {
    fn default() -> Self {
        DoublePendulum { m1: 1.0, m2: 1.0, l1: 1.0, l2: 1.0, g: 10.0, dt: 0.05, min_angle: 0.1, max_angle: 0.5 }
    }
}

impl System for DoublePendulum {
    fn dof(&self) -> usize {
        2
    }

    fn label_names(&self) -> Vec<String> {
        ["theta1", "theta2", "p1", "p2"].map(String::from).to_vec()
    }

    fn hamiltonian(&self, x: &[f64]) -> f64 {
        let DoublePendulum { m1, m2, l1, l2, g, .. } = *self;
        let (t1, t2, p1, p2) = (x[0], x[1], x[2], x[3]);
        let d = t1 - t2;
        let big_m = m1 + m2 * d.sin().powi(2);
        let kinetic = (m2 * l2 * l2 * p1 * p1 + (m1 + m2) * l1 * l1 * p2 * p2 - 2.0 * m2 * l1 * l2 * p1 * p2 * d.cos())
            / (2.0 * m2 * l1 * l1 * l2 * l2 * big_m);
        kinetic - (m1 + m2) * g * l1 * t1.cos() - m2 * g * l2 * t2.cos()
    }

    fn field(&self, x: &[f64], d: &mut [f64]) {
        let DoublePendulum { m1, m2, l1, l2, g, .. } = *self;
        let (t1, t2, p1, p2) = (x[0], x[1], x[2], x[3]);
        let delta = t1 - t2;
        let (s, c) = delta.sin_cos();
        let big_m = m1 + m2 * s * s;
        d[0] = (l2 * p1 - l1 * p2 * c) / (l1 * l1 * l2 * big_m);
        d[1] = ((m1 + m2) * l1 * p2 - m2 * l2 * p1 * c) / (m2 * l1 * l2 * l2 * big_m);
        let c1 = p1 * p2 * s / (l1 * l2 * big_m);
        let c2 = (m2 * l2 * l2 * p1 * p1 + (m1 + m2) * l1 * l1 * p2 * p2 - 2.0 * m2 * l1 * l2 * p1 * p2 * c) * (2.0 * delta).sin()
            / (2.0 * l1 * l1 * l2 * l2 * big_m * big_m);
        d[2] = -(m1 + m2) * g * l1 * t1.sin() - c1 + c2;
        d[3] = -m2 * g * l2 * t2.sin() + c1 - c2;
    }

    fn dt(&self) -> f64 {
        self.dt
    }

    fn window(&self) -> (f64, f64) {
        (self.min_angle, self.max_angle)
    }

    fn initial_in(&self, rng: &mut Rng, (lo, hi): (f64, f64)) -> Vec<f64> {
        loop {
            let (t1, t2) = (rng.uniform(-hi, hi), rng.uniform(-hi, hi));
            if t1.abs().max(t2.abs()) > lo {
                return vec![t1, t2, 0.0, 0.0];
            }
        }
    }

    fn simulate(&self, s0: &[f64], n: usize) -> Result<Vec<f64>> {
        integrate(|x, d| self.field(x, d), s0, n, self.dt, "double pendulum")
    }

    fn default_window(&self) -> Window {
        let reach = self.l1 + self.l2;
        Window { x0: -0.575 * reach, x1: 0.575 * reach, y0: -1.1 * reach, y1: 0.05 * reach }
    }

    fn drawer(&self, render: RenderConfig) -> Result<Box<dyn Drawer>> {
        let (l1, l2) = (self.l1, self.l2);
        let scale = (l1 + l2) / 2.0;
        SceneDrawer::boxed(render, move |sim, scene| {
            let b1 = (l1 * sim[0].sin(), -l1 * sim[0].cos());
            let b2 = (b1.0 + l2 * sim[1].sin(), b1.1 - l2 * sim[1].cos());
            scene.line(&[(0.0, 0.0), b1, b2], 0.07 * scale, 0.3);
            scene.disc(b1.0, b1.1, 0.13 * scale, 0.35);
            scene.disc(b2.0, b2.1, 0.13 * scale, 0.5);
        })
    }

    fn params(&self) -> Vec<(&'static str, f64)> {
        vec![("m1", self.m1), ("m2", self.m2), ("l1", self.l1), ("l2", self.l2), ("g", self.g), ("dt", self.dt)]
    }

    fn set_param(&mut self, name: &str, value: f64) -> bool {
        let slot = match name {
            "m1" => &mut self.m1,
            "m2" => &mut self.m2,
            "l1" => &mut self.l1,
            "l2" => &mut self.l2,
            "g" => &mut self.g,
            "dt" => &mut self.dt,
            _ => return false,
        };
        *slot = value;
        true
    }

    fn set_window(&mut self, (lo, hi): (f64, f64)) {
        self.min_angle = lo;
        self.max_angle = hi;
    }

    fn window_range(&self) -> (&'static str, (f64, f64)) {
        ("angle", (0.0, std::f64::consts::PI))
    }
}

#[cfg(test)]
mod tests {
    use super::super::checks;
    use super::*;

    #[test]
    fn the_double_pendulum_is_hamiltonian_conserves_energy_and_is_drawn() {
        let s = DoublePendulum::default();
        for x in [[0.3, -0.2, 0.5, -0.1], [1.0, 2.0, -0.3, 0.7], [0.0, 0.0, 0.2, 0.2]] {
            checks::field_is_the_symplectic_gradient(&s, &x, 1e-6);
        }
        let uneven = DoublePendulum { m1: 2.0, l2: 0.7, ..s };
        checks::field_is_the_symplectic_gradient(&uneven, &[0.4, -0.9, 0.3, 0.2], 1e-6);
        checks::conserves_energy(&s, 7, 203, 1e-8);
        checks::frames_are_deterministic_and_move(&s, 8);
    }

    #[test]
    fn small_swings_follow_the_normal_modes() {
        // Linearised, unit masses and rods: the modes have w^2 = (2 -+ sqrt 2) g. Started on
        // the slow mode (theta2 = sqrt(2) theta1) it returns after one period T = 2 pi / w.
        let s = DoublePendulum::default();
        let w = ((2.0 - 2f64.sqrt()) * s.g).sqrt();
        let a = 0.01;
        let period_frames = (2.0 * std::f64::consts::PI / w / s.dt).round() as usize;
        let dt_fit = 2.0 * std::f64::consts::PI / w / period_frames as f64;
        let fine = DoublePendulum { dt: dt_fit, ..s };
        let traj = fine.simulate(&[a, 2f64.sqrt() * a, 0.0, 0.0], period_frames + 1).unwrap();
        let end = &traj[period_frames * 4..];
        assert!((end[0] - a).abs() < 0.02 * a && (end[1] - 2f64.sqrt() * a).abs() < 0.02 * a, "{end:?}");
    }
}
