//! A ball on a spring: one degree of freedom, `H = p^2 / 2m + k q^2 / 2`. With the default
//! `m = 1/2, k = 2` this is the paper's ideal mass-spring, `H = q^2 + p^2` (SPEC.md
//! section 8), which the coordinate task shares. The simulator is the exact solution.
//!
//! Initial states follow the coordinate task's rule: a direction in the `(q, p)` plane and a
//! radius `sqrt(q^2 + p^2)` uniform in the window. Scene: a wall on the left, a
//! zigzag spring from the wall to the ball, the ball at `(q, 0)`.

use serde::{Deserialize, Serialize};

use super::{Drawer, System};
use crate::error::Result;
use crate::rng::Rng;
use crate::systems::render::{Canvas, RenderConfig, Window};

/// A ball on a spring; `Default`: `m = 1/2, k = 2` (`H = q^2 + p^2`, period pi), frames 0.1 s
/// apart (31 a period), amplitudes in (0.3, 1).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Spring {
    pub mass: f64,
    pub stiffness: f64,
    pub dt: f64,
    /// The radius `sqrt(q^2 + p^2)` of the initial state in `(q, p)`, drawn uniformly in this
    /// window (with the default `m` and `k`: the amplitude of the oscillation).
    pub min_radius: f64,
    pub max_radius: f64,
    /// The ball's radius and the wall's position (world units).
    pub ball_radius: f64,
    pub wall_x: f64,
}

impl Default for Spring {
    fn default() -> Self {
        Spring { mass: 0.5, stiffness: 2.0, dt: 0.1, min_radius: 0.3, max_radius: 1.0, ball_radius: 0.25, wall_x: -1.55 }
    }
}

impl Spring {
    fn omega(&self) -> f64 {
        (self.stiffness / self.mass).sqrt()
    }
}

impl System for Spring {
    fn dof(&self) -> usize {
        1
    }

    fn label_names(&self) -> Vec<String> {
        vec!["q".into(), "p".into()]
    }

    fn hamiltonian(&self, x: &[f64]) -> f64 {
        x[1] * x[1] / (2.0 * self.mass) + self.stiffness * x[0] * x[0] / 2.0
    }

    fn field(&self, x: &[f64], d: &mut [f64]) {
        d[0] = x[1] / self.mass;
        d[1] = -self.stiffness * x[0];
    }

    fn dt(&self) -> f64 {
        self.dt
    }

    fn window(&self) -> (f64, f64) {
        (self.min_radius, self.max_radius)
    }

    /// The coordinate task's rule (the reference's): a direction from a point uniform in
    /// `[-1, 1]^2`, a radius uniform in the window.
    fn initial_in(&self, rng: &mut Rng, (lo, hi): (f64, f64)) -> Vec<f64> {
        let mut y = [rng.uniform(-1.0, 1.0), rng.uniform(-1.0, 1.0)];
        let norm = (y[0] * y[0] + y[1] * y[1]).sqrt().max(1e-12);
        let radius = rng.uniform(lo, hi);
        y.iter_mut().for_each(|v| *v *= radius / norm);
        y.to_vec()
    }

    /// The exact solution: `q(t) = q0 cos wt + p0 / (m w) sin wt`, `p(t) = p0 cos wt - m w q0
    /// sin wt` with `w = sqrt(k / m)`.
    fn simulate(&self, s0: &[f64], n: usize) -> Result<Vec<f64>> {
        let (w, m) = (self.omega(), self.mass);
        Ok((0..n)
            .flat_map(|i| {
                let (s, c) = (w * i as f64 * self.dt).sin_cos();
                [s0[0] * c + s0[1] / (m * w) * s, s0[1] * c - m * w * s0[0] * s]
            })
            .collect())
    }

    fn default_window(&self) -> Window {
        Window::square(-0.15, 0.0, 1.5)
    }

    fn drawer(&self, render: RenderConfig) -> Result<Box<dyn Drawer>> {
        let mut canvas = Canvas::new(render)?;
        // The wall never moves: drawn once, and restored with each clear.
        canvas.clear();
        canvas.scene().line(&[(self.wall_x, -0.45), (self.wall_x, 0.45)], 0.1, 0.5);
        canvas.keep_as_background();
        Ok(Box::new(SpringDrawer { canvas, spring: *self, zigzag: Vec::with_capacity(2 * TEETH + 3) }))
    }

    fn params(&self) -> Vec<(&'static str, f64)> {
        vec![("mass", self.mass), ("stiffness", self.stiffness), ("dt", self.dt), ("ball_radius", self.ball_radius)]
    }

    fn set_param(&mut self, name: &str, value: f64) -> bool {
        let slot = match name {
            "mass" => &mut self.mass,
            "stiffness" => &mut self.stiffness,
            "dt" => &mut self.dt,
            "ball_radius" => &mut self.ball_radius,
            _ => return false,
        };
        *slot = value;
        true
    }

    fn set_window(&mut self, (lo, hi): (f64, f64)) {
        self.min_radius = lo;
        self.max_radius = hi;
    }

    fn window_range(&self) -> (&'static str, (f64, f64)) {
        ("radius", (0.0, 100.0))
    }
}

/// Teeth of the spring's zigzag.
const TEETH: usize = 10;

/// The spring's scene: the wall (kept as the canvas's background), a zigzag of [`TEETH`]
/// teeth from the wall to the ball, and the ball at `(q, 0)`.
struct SpringDrawer {
    canvas: Canvas,
    spring: Spring,
    /// The zigzag's points, reused from frame to frame.
    zigzag: Vec<(f64, f64)>,
}

impl Drawer for SpringDrawer {
    fn draw(&mut self, sim: &[f64], out: &mut [f32]) {
        let (x, r, wall) = (sim[0], self.spring.ball_radius, self.spring.wall_x);
        let end = x - r;
        let n = 2 * TEETH + 2;
        self.zigzag.clear();
        self.zigzag.extend((0..=n).map(|i| {
            let f = i as f64 / n as f64;
            let y = if i == 0 || i == n {
                0.0
            } else if i % 2 == 1 {
                0.18
            } else {
                -0.18
            };
            (wall + f * (end - wall), y)
        }));
        self.canvas.clear();
        let mut scene = self.canvas.scene();
        scene.line(&self.zigzag, 0.05, 0.3);
        scene.disc(x, 0.0, r, 0.5);
        self.canvas.finish(None, out);
    }
}

#[cfg(test)]
mod tests {
    use super::super::checks;
    use super::*;

    #[test]
    fn the_spring_is_hamiltonian_exact_and_drawn() {
        let s = Spring::default();
        checks::field_is_the_symplectic_gradient(&s, &[0.4, -0.7], 1e-8);
        // The default is the paper's H = q^2 + p^2.
        assert!((s.hamiltonian(&[0.3, 0.4]) - 0.25).abs() < 1e-15);
        checks::conserves_energy(&s, 1, 200, 1e-12);
        checks::frames_are_deterministic_and_move(&s, 2);
        // The exact solution agrees with RK45 on the field.
        let s0 = [0.6, 0.2];
        let exact = s.simulate(&s0, 40).unwrap();
        let numeric = super::super::integrate(|x, d| s.field(x, d), &s0, 40, s.dt, "spring").unwrap();
        for (a, b) in exact.iter().zip(&numeric) {
            assert!((a - b).abs() < 1e-8, "{a} vs {b}");
        }
    }

    #[test]
    fn the_ball_sits_where_q_puts_it() {
        let s = Spring::default();
        let mut d = s.drawer(RenderConfig { window: s.default_window(), ..RenderConfig::default() }).unwrap();
        let mut f = vec![0.0f32; 784];
        let column_of_peak = |f: &[f32]| {
            // The ball is the brightest blob on the row through y = 0 (row 14 of 28).
            let row = &f[14 * 28..15 * 28];
            (0..28).max_by(|&a, &b| row[a].total_cmp(&row[b])).unwrap()
        };
        d.draw(&[-0.5, 0.0], &mut f);
        let left = column_of_peak(&f);
        d.draw(&[0.8, 0.0], &mut f);
        let right = column_of_peak(&f);
        // 1.3 world units apart in a 3-unit window of 28 px: about 12 px.
        assert!((right as i64 - left as i64 - 12).abs() <= 1, "{left} -> {right}");
    }
}
