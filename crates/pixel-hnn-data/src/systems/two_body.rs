//! Two bodies in the plane under gravity: `q = (x1, x2, y1, y2)`, `p = (px1, px2, py1, py2)`
//! (the coordinate task's ordering), so an 8-D latent. `H = (|p1|^2 + |p2|^2) / 2m - G m^2 / r`
//! with `r` the bodies' distance. The coordinate task shares this definition (with `G = m =
//! 1`). Simulator: RK45 at rtol 1e-10, which keeps `H` to about 1e-8 over a trial.
//!
//! Initial states (the coordinate task's rule, the reference's): body 1's x and y each
//! uniform in the window (so its distance from the centre lies in `sqrt 2` times the window),
//! body 2 mirrored through the origin (the centre of mass stays there), the velocities of a
//! circular orbit scaled by `1 + 0.05 N(0, 1)`. Scene: two discs, body 1
//! brighter than body 2, so that a frame tells them apart.

use serde::{Deserialize, Serialize};

use super::{integrate, Drawer, SceneDrawer, System};
use crate::error::Result;
use crate::rng::Rng;
use crate::systems::render::{RenderConfig, Window};

/// Two bodies; `Default`: `G = m = 1`, frames 0.25 apart (50 per orbit at radius 1), body 1's
/// initial x and y in (0.55, 1.05) (distance 0.78 to 1.48), drawn in the square of half-side
/// 2.5 as discs of radius 0.6 (3.4 px at 28 px; body 1 at shade 0.8, body 2 at 0.4). The
/// coordinate task draws x and y in (0.5, 1.5) (distance up to 2.12, and past 2.9 at
/// apoapsis): drawn in a square of half-side 2.2, 47% of the frames then had a disc cut by
/// the border and some bodies left the frame; with these defaults 1.2% touch it and 0.1%
/// have the discs overlapping (`generate --system two-body`, counted on its file).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct TwoBody {
    pub gravity: f64,
    pub mass: f64,
    pub dt: f64,
    /// Body 1's initial x and y are each drawn in `[min_xy, max_xy)` (stored under the
    /// names `min_radius`/`max_radius` that format-2 datasets already carry).
    #[serde(rename = "min_radius")]
    pub min_xy: f64,
    #[serde(rename = "max_radius")]
    pub max_xy: f64,
    /// The discs' radius (world units).
    pub body_radius: f64,
}

impl Default for TwoBody {
    fn default() -> Self {
        TwoBody { gravity: 1.0, mass: 1.0, dt: 0.25, min_xy: 0.55, max_xy: 1.05, body_radius: 0.6 }
    }
}

impl System for TwoBody {
    fn dof(&self) -> usize {
        4
    }

    fn label_names(&self) -> Vec<String> {
        ["x1", "x2", "y1", "y2", "px1", "px2", "py1", "py2"].map(String::from).to_vec()
    }

    fn hamiltonian(&self, x: &[f64]) -> f64 {
        let (dx, dy) = (x[0] - x[1], x[2] - x[3]);
        let kinetic = (x[4] * x[4] + x[5] * x[5] + x[6] * x[6] + x[7] * x[7]) / (2.0 * self.mass);
        kinetic - self.gravity * self.mass * self.mass / (dx * dx + dy * dy).sqrt()
    }

    fn field(&self, x: &[f64], d: &mut [f64]) {
        let (rx, ry) = (x[1] - x[0], x[3] - x[2]);
        let k = self.gravity * self.mass * self.mass / (rx * rx + ry * ry).powf(1.5);
        for j in 0..4 {
            d[j] = x[4 + j] / self.mass;
        }
        d[4] = k * rx;
        d[5] = -k * rx;
        d[6] = k * ry;
        d[7] = -k * ry;
    }

    fn dt(&self) -> f64 {
        self.dt
    }

    fn window(&self) -> (f64, f64) {
        (self.min_xy, self.max_xy)
    }

    fn initial_in(&self, rng: &mut Rng, (lo, hi): (f64, f64)) -> Vec<f64> {
        let pos = [rng.uniform(lo, hi), rng.uniform(lo, hi)];
        let r = (pos[0] * pos[0] + pos[1] * pos[1]).sqrt();
        // Circular orbit of two equal masses about their centre of mass, 2r apart:
        // m v^2 / r = G m^2 / (2r)^2, so v = sqrt(G m / 4r); p = m v, tangential.
        let v = (self.gravity * self.mass / (4.0 * r)).sqrt() * (1.0 + 0.05 * rng.normal());
        let k = self.mass * v / r;
        let vel = [-pos[1] * k, pos[0] * k];
        // Body 2 mirrors body 1 through the origin.
        vec![pos[0], -pos[0], pos[1], -pos[1], vel[0], -vel[0], vel[1], -vel[1]]
    }

    fn simulate(&self, s0: &[f64], n: usize) -> Result<Vec<f64>> {
        integrate(|x, d| self.field(x, d), s0, n, self.dt, "two bodies")
    }

    fn default_window(&self) -> Window {
        Window::square(0.0, 0.0, 2.5)
    }

    fn drawer(&self, render: RenderConfig) -> Result<Box<dyn Drawer>> {
        let r = self.body_radius;
        SceneDrawer::boxed(render, move |sim, scene| {
            scene.disc(sim[1], sim[3], r, 0.4);
            scene.disc(sim[0], sim[2], r, 0.8);
        })
    }

    fn params(&self) -> Vec<(&'static str, f64)> {
        vec![("gravity", self.gravity), ("mass", self.mass), ("dt", self.dt), ("body_radius", self.body_radius)]
    }

    fn set_param(&mut self, name: &str, value: f64) -> bool {
        let slot = match name {
            "gravity" => &mut self.gravity,
            "mass" => &mut self.mass,
            "dt" => &mut self.dt,
            "body_radius" => &mut self.body_radius,
            _ => return false,
        };
        *slot = value;
        true
    }

    fn set_window(&mut self, (lo, hi): (f64, f64)) {
        self.min_xy = lo;
        self.max_xy = hi;
    }

    fn window_range(&self) -> (&'static str, (f64, f64)) {
        ("body-1 x and y", (0.05, 100.0))
    }
}

#[cfg(test)]
mod tests {
    use super::super::checks;
    use super::*;

    #[test]
    fn two_bodies_are_hamiltonian_conserve_energy_and_are_drawn() {
        let s = TwoBody::default();
        let x = s.initial(&mut Rng::new(4));
        checks::field_is_the_symplectic_gradient(&s, &x, 1e-6);
        checks::conserves_energy(&s, 5, 103, 1e-7);
        checks::frames_are_deterministic_and_move(&s, 6);
        // The centre of mass stays at the origin, and so does the total momentum.
        let traj = s.simulate(&x, 50).unwrap();
        for st in traj.chunks(8) {
            assert!((st[0] + st[1]).abs() < 1e-9 && (st[2] + st[3]).abs() < 1e-9 && (st[4] + st[5]).abs() < 1e-9);
        }
        // Near-circular: the distance changes by less than 25% over an orbit.
        let r: Vec<f64> = traj.chunks(8).map(|st| ((st[0] - st[1]).powi(2) + (st[2] - st[3]).powi(2)).sqrt()).collect();
        let (lo, hi) = r.iter().fold((f64::MAX, f64::MIN), |(a, b), v| (a.min(*v), b.max(*v)));
        assert!(hi / lo < 1.25, "{lo} .. {hi}");
    }

    #[test]
    fn default_orbits_stay_in_the_frame() {
        // Over 40 default trials of 103 frames, a disc crosses the frame's border in under 5%
        // of the frames (the coordinate task's window put 47% there).
        let s = TwoBody::default();
        let w = s.default_window();
        let mut rng = Rng::new(0);
        let (mut cut, mut all) = (0, 0);
        for _ in 0..40 {
            let traj = s.simulate(&s.initial(&mut rng), 103).unwrap();
            for st in traj.chunks(8) {
                let out = |x: f64, y: f64| {
                    let r = s.body_radius;
                    x - r < w.x0 || x + r > w.x1 || y - r < w.y0 || y + r > w.y1
                };
                cut += usize::from(out(st[0], st[2]) || out(st[1], st[3]));
                all += 1;
            }
        }
        assert!((cut as f64) < 0.05 * all as f64, "{cut} of {all} frames cut by the border");
    }

    #[test]
    fn the_bodies_are_told_apart_in_a_frame() {
        let s = TwoBody::default();
        let mut d = s.drawer(RenderConfig { window: s.default_window(), ..RenderConfig::default() }).unwrap();
        let mut f = vec![0.0f32; 784];
        d.draw(&[1.0, -1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], &mut f);
        let (left, right) = (f[14 * 28 + 7], f[14 * 28 + 20]);
        // Body 2 (shade 0.4) at x = -1 (column 8.4), body 1 (0.8) at x = 1 (column 19.6).
        assert!(right > 1.5 * left && left > 0.1, "body 1 {right}, body 2 {left}");
    }
}
