//! DeepMind's Hamiltonian dynamics suite (`google-deepmind/dm_hamiltonian_dynamics_suite`,
//! commit 345a1a5, "Which priors matter?", Botev et al. 2021): its four mechanical systems as
//! they are in its `datasets.py`, so that a dataset made here is one of its datasets.
//!
//! For each system this file holds the suite's physics (its Hamiltonian, with its friction
//! `dp/dt = -dH/dq - friction dH/dp`), the parameters and the ranges each preset draws them
//! from (one draw a trajectory), the initial-state rule, the canvas, the colours and the
//! renderer: particles of radius `sqrt(m / pi)` as sigmoid discs (temperature 80) over a grey
//! background, `32 x 32 x 3`. Time steps are 0.05 s, the suite's.
//!
//! The random draws are ours (ChaCha8, the project's one source): a preset's dataset has the
//! suite's distributions, not its exact numbers. What is checked against the suite's own
//! generator (`tests/fixtures/dm_suite.h5`, made by `tests/fixtures/make_dm_suite_fixture.py`)
//! is everything given the draws: from the suite's initial states, parameters, offsets and
//! colours, the states, their time derivatives and the frames.
//!
//! The suite's conventions, kept:
//! - a pendulum's angle is measured from straight down, and its bob is drawn at
//!   `(l sin q, -l cos q)`;
//! - image rows follow the canvas's `y` upward from the top row: the frames show the scene
//!   upside down, as the suite's do;
//! - a pixel is `floor(255 v)` of the composited value `v` (the suite's `uint8` cast).

use serde::{Deserialize, Serialize};

use crate::choice::Choice;
use crate::error::{Error, Result};
use crate::rng::Rng;

/// The side of the suite's frames.
pub const SIDE: usize = 32;
/// The suite's time between frames (its datasets' `dt`; `generate_locally.sh` also makes 0.1).
pub const DT: f64 = 0.05;
/// The background colour (RGB) and the sharpness of a particle's edge.
const BACKGROUND: [f64; 3] = [0.321, 0.349, 0.368];
const TEMPERATURE: f64 = 80.0;
/// The friction of the suite's `_FRICTION` datasets.
pub const SUITE_FRICTION: f64 = 0.05;

/// The suite's mechanical systems.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SuiteSystem {
    Pendulum,
    MassSpring,
    DoublePendulum,
    TwoBody,
}

impl Choice for SuiteSystem {
    const ALL: &'static [Self] = &[SuiteSystem::Pendulum, SuiteSystem::MassSpring, SuiteSystem::DoublePendulum, SuiteSystem::TwoBody];

    fn name(self) -> &'static str {
        match self {
            SuiteSystem::Pendulum => "dm-pendulum",
            SuiteSystem::MassSpring => "dm-mass-spring",
            SuiteSystem::DoublePendulum => "dm-double-pendulum",
            SuiteSystem::TwoBody => "dm-two-body",
        }
    }

    fn help(self) -> &'static str {
        match self {
            SuiteSystem::Pendulum => "the suite's PENDULUM: m 0.5, g 3, l 1",
            SuiteSystem::MassSpring => "the suite's MASS_SPRING: k 2, m 0.5",
            SuiteSystem::DoublePendulum => "the suite's DOUBLE_PENDULUM: m 0.5, g 3, l 1",
            SuiteSystem::TwoBody => "the suite's TWO_BODY: m 1, g 1, on a +-2.75 canvas",
        }
    }
}

/// A closed range a parameter is drawn from, uniformly (`min == max`: fixed).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Range {
    pub min: f64,
    pub max: f64,
}

const fn r(min: f64, max: f64) -> Range {
    Range { min, max }
}

impl Range {
    fn size(&self) -> f64 {
        self.max - self.min
    }

    fn draw(&self, rng: &mut Rng) -> f64 {
        if self.min == self.max {
            self.min
        } else {
            rng.uniform(self.min, self.max)
        }
    }
}

/// One of the suite's datasets: a system, plain or with colours, with or without friction
/// (`datasets.py`'s `PENDULUM`, `PENDULUM_COLORS`, `PENDULUM_COLORS_FRICTION`, ...).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Suite {
    pub system: SuiteSystem,
    /// The `_COLORS` variant: wider parameter ranges, six colours, a random canvas offset
    /// (not for the two bodies), initial radii uniform over the annulus' area.
    pub colors: bool,
    /// `friction` in `dp/dt = -dH/dq - friction dH/dp`; the suite's `_FRICTION` datasets
    /// (colours only) use 0.05.
    pub friction: f64,
}

/// What a trajectory draws beside its initial state: the physical parameters (in
/// [`Suite::param_names`]' order, a value per particle where the suite draws one per
/// particle), the canvas offset and each particle's colour.
#[derive(Clone, Debug, PartialEq)]
pub struct Draws {
    pub params: Vec<f64>,
    pub offset: [f64; 2],
    pub colors: Vec<usize>,
}

impl Suite {
    /// The plain preset of a system.
    pub fn plain(system: SuiteSystem) -> Self {
        Suite { system, colors: false, friction: 0.0 }
    }

    /// The preset with its variant, as tables and file names show it:
    /// `PRESET[-colors][-friction]`.
    pub fn label(&self) -> String {
        let colors = if self.colors { "-colors" } else { "" };
        let friction = if self.friction > 0.0 { "-friction" } else { "" };
        format!("{}{colors}{friction}", self.system.name())
    }

    /// Checks a preset's variant: friction comes only with colours, as in the suite.
    pub fn validate(&self) -> Result<()> {
        if !(self.friction.is_finite() && self.friction >= 0.0) {
            return Err(Error::setting("--friction", format!("must be a number >= 0 (got {})", self.friction)));
        }
        if self.friction > 0.0 && !self.colors {
            return Err(Error::setting("--friction", "the suite has friction only in its colour datasets; add --colors"));
        }
        if self.friction > 0.0 && self.system == SuiteSystem::TwoBody {
            return Err(Error::setting("--friction", "the suite has no two-body dataset with friction"));
        }
        Ok(())
    }

    /// Degrees of freedom (`q` and `p` each have this many coordinates).
    pub fn dof(&self) -> usize {
        match self.system {
            SuiteSystem::Pendulum | SuiteSystem::MassSpring => 1,
            SuiteSystem::DoublePendulum => 2,
            SuiteSystem::TwoBody => 4,
        }
    }

    /// Particles drawn a frame.
    pub fn particles(&self) -> usize {
        match self.system {
            SuiteSystem::Pendulum | SuiteSystem::MassSpring => 1,
            SuiteSystem::DoublePendulum | SuiteSystem::TwoBody => 2,
        }
    }

    /// The parameters, named as the suite names them, with their ranges
    /// (`datasets.py`); the two bodies draw a mass for each body.
    pub fn param_ranges(&self) -> Vec<(&'static str, Range)> {
        use SuiteSystem::*;
        match (self.system, self.colors) {
            (Pendulum, false) => vec![("m", r(0.5, 0.5)), ("l", r(1.0, 1.0)), ("g", r(3.0, 3.0))],
            (Pendulum, true) => vec![("m", r(0.5, 1.5)), ("l", r(0.5, 1.0)), ("g", r(3.0, 4.0))],
            (MassSpring, false) => vec![("k", r(2.0, 2.0)), ("m", r(0.5, 0.5))],
            (MassSpring, true) => vec![("k", r(2.0, 2.0)), ("m", r(0.2, 1.0))],
            (DoublePendulum, false) => {
                vec![("m_1", r(0.5, 0.5)), ("m_2", r(0.5, 0.5)), ("l_1", r(1.0, 1.0)), ("l_2", r(1.0, 1.0)), ("g", r(3.0, 3.0))]
            }
            (DoublePendulum, true) => {
                vec![("m_1", r(0.4, 0.6)), ("m_2", r(0.4, 0.6)), ("l_1", r(0.75, 1.0)), ("l_2", r(0.75, 1.0)), ("g", r(2.5, 4.0))]
            }
            (TwoBody, false) => vec![("m_1", r(1.0, 1.0)), ("m_2", r(1.0, 1.0)), ("g", r(1.0, 1.0))],
            (TwoBody, true) => vec![("m_1", r(0.5, 1.5)), ("m_2", r(0.5, 1.5)), ("g", r(0.5, 1.5))],
        }
    }

    pub fn param_names(&self) -> Vec<&'static str> {
        self.param_ranges().into_iter().map(|(n, _)| n).collect()
    }

    /// The initial state's radius range (a radius in phase space; the two bodies: each
    /// coordinate of the first body's position).
    fn radius_range(&self) -> Range {
        use SuiteSystem::*;
        match (self.system, self.colors) {
            (Pendulum, _) => r(1.3, 2.3),
            (MassSpring, _) => r(0.1, 1.0),
            (DoublePendulum, false) => r(1.3, 2.3),
            (DoublePendulum, true) => r(1.0, 2.5),
            (TwoBody, _) => r(0.5, 1.5),
        }
    }

    /// The suite's `uniform_annulus`: radii uniform over the annulus' area (the colour
    /// datasets, by the suite's default) or uniform in the radius (the plain ones).
    fn uniform_annulus(&self) -> bool {
        self.colors
    }

    pub fn num_colors(&self) -> usize {
        match (self.system, self.colors) {
            (_, true) => 6,
            (SuiteSystem::Pendulum | SuiteSystem::MassSpring, false) => 1,
            (SuiteSystem::DoublePendulum | SuiteSystem::TwoBody, false) => 2,
        }
    }

    /// Whether the canvas is shifted by a random offset (the suite's
    /// `randomize_canvas_location`, on by default and off in every plain dataset and both
    /// two-body ones).
    fn random_canvas(&self) -> bool {
        self.colors && self.system != SuiteSystem::TwoBody
    }

    /// The canvas bounds trajectories must stay in (`canvas_bounds`), the same on both axes.
    pub fn canvas_bounds(&self) -> Range {
        let ranges = self.param_ranges();
        let max = |name: &str| ranges.iter().find(|(n, _)| *n == name).map(|(_, r)| r.max).expect("a named parameter");
        let b = match self.system {
            SuiteSystem::Pendulum => max("l") + (max("m") / std::f64::consts::PI).sqrt(),
            SuiteSystem::MassSpring => self.radius_range().max + (max("m") / std::f64::consts::PI).sqrt(),
            SuiteSystem::DoublePendulum => 2.0 * max("l_1") + (max("m_1") / std::f64::consts::PI).sqrt(),
            SuiteSystem::TwoBody => {
                if self.colors {
                    5.0
                } else {
                    2.75
                }
            }
        };
        r(-b, b)
    }

    /// The random offset's bounds (`random_offset_bounds`: 0.4 of the canvas, centred).
    fn offset_bounds(&self) -> Range {
        let extra = 0.4 * self.canvas_bounds().size() / 2.0;
        r(-extra, extra)
    }

    /// The canvas the frames show (`full_canvas_bounds`).
    pub fn full_canvas(&self) -> Range {
        let c = self.canvas_bounds();
        if self.random_canvas() {
            let o = self.offset_bounds();
            r(c.min + o.min, c.max + o.max)
        } else {
            c
        }
    }

    /// A trajectory's parameters, canvas offset and colours, drawn as the suite draws them.
    pub fn draw(&self, rng: &mut Rng) -> Draws {
        let params = self.param_ranges().iter().map(|(_, range)| range.draw(rng)).collect();
        let mut offset = [0.0; 2];
        if self.system == SuiteSystem::MassSpring && self.colors {
            // `randomize_x`: a horizontal shift uniform in [0, 1) (not scaled to the canvas);
            // then the canvas offset, one value added to both axes (the suite's shape [n, 1]).
            offset[0] = rng.uniform(0.0, 1.0);
            let shift = self.offset_bounds();
            let s = rng.uniform(shift.min, shift.max);
            offset = [offset[0] + s, s];
        } else if self.random_canvas() {
            let o = self.offset_bounds();
            offset = [rng.uniform(o.min, o.max), rng.uniform(o.min, o.max)];
        }
        let n = self.num_colors();
        let colors = match self.particles() {
            _ if n == 1 => vec![0; self.particles()],
            1 => vec![rng.below(n)],
            k => rng.distinct(n, k).into_iter().map(|c| c as usize).collect(),
        };
        Draws { params, offset, colors }
    }

    /// An initial state `(q, p)` by the suite's rule, given the trajectory's parameters.
    pub fn initial(&self, rng: &mut Rng, params: &[f64]) -> Vec<f64> {
        let radius = self.radius_range();
        let annulus = |rng: &mut Rng| -> [f64; 2] {
            let (a, b) = (rng.normal(), rng.normal());
            let norm = a.hypot(b);
            let u = rng.uniform(0.0, 1.0);
            let rad = if self.uniform_annulus() {
                (radius.min * radius.min + u * (radius.max * radius.max - radius.min * radius.min)).sqrt()
            } else {
                radius.min + u * radius.size()
            };
            [a / norm * rad, b / norm * rad]
        };
        // The suite casts the angle systems' states to float32.
        let f32_round = |v: f64| v as f32 as f64;
        match self.system {
            SuiteSystem::Pendulum => annulus(rng).iter().map(|&v| f32_round(v)).collect(),
            SuiteSystem::MassSpring => {
                let [q, p] = annulus(rng);
                let (k, m) = (params[0], params[1]);
                vec![q, p * (k * m).sqrt()]
            }
            SuiteSystem::DoublePendulum => {
                let (a, b) = (annulus(rng), annulus(rng));
                [a[0], b[0], a[1], b[1]].iter().map(|&v| f32_round(v)).collect()
            }
            SuiteSystem::TwoBody => {
                let (x, y) = (radius.min + rng.uniform(0.0, 1.0) * radius.size(), radius.min + rng.uniform(0.0, 1.0) * radius.size());
                let rr = x.hypot(y).powf(1.5);
                let (vx, vy) = (y / (2.0 * rr), -x / (2.0 * rr));
                vec![x, y, -x, -y, vx, vy, -vx, -vy]
            }
        }
    }

    /// The Hamiltonian of a state `(q, p)` under parameters `params`.
    pub fn hamiltonian(&self, params: &[f64], z: &[f64]) -> f64 {
        match self.system {
            SuiteSystem::Pendulum => {
                let (m, l, g) = (params[0], params[1], params[2]);
                m * g * l * (1.0 - z[0].cos()) + z[1] * z[1] / (2.0 * m * l * l)
            }
            SuiteSystem::MassSpring => {
                let (k, m) = (params[0], params[1]);
                k * z[0] * z[0] / 2.0 + z[1] * z[1] / (2.0 * m)
            }
            SuiteSystem::DoublePendulum => {
                let (m1, m2, l1, l2, g) = (params[0], params[1], params[2], params[3], params[4]);
                let (q1, q2, p1, p2) = (z[0], z[1], z[2], z[3]);
                let d = q1 - q2;
                let num = m2 * l2 * l2 * p1 * p1 + (m1 + m2) * l1 * l1 * p2 * p2 - 2.0 * m2 * l1 * l2 * p1 * p2 * d.cos();
                let den = 2.0 * m2 * l1 * l1 * l2 * l2 * (m1 + m2 * d.sin().powi(2));
                num / den - (m1 + m2) * g * l1 * q1.cos() - m2 * g * l2 * q2.cos()
            }
            SuiteSystem::TwoBody => {
                let (m1, m2, g) = (params[0], params[1], params[2]);
                let dist = (z[0] - z[2]).hypot(z[1] - z[3]);
                (z[4] * z[4] + z[5] * z[5]) / (2.0 * m1) + (z[6] * z[6] + z[7] * z[7]) / (2.0 * m2) - g * m1 * m2 / dist
            }
        }
    }

    /// The conservative field `(dH/dp, -dH/dq)` (the suite's `dx_dt`, which leaves friction out).
    pub fn field(&self, params: &[f64], z: &[f64], d: &mut [f64]) {
        match self.system {
            SuiteSystem::Pendulum => {
                let (m, l, g) = (params[0], params[1], params[2]);
                d[0] = z[1] / (m * l * l);
                d[1] = -m * g * l * z[0].sin();
            }
            SuiteSystem::MassSpring => {
                let (k, m) = (params[0], params[1]);
                d[0] = z[1] / m;
                d[1] = -k * z[0];
            }
            SuiteSystem::DoublePendulum => {
                let (m1, m2, l1, l2, g) = (params[0], params[1], params[2], params[3], params[4]);
                let (q1, q2, p1, p2) = (z[0], z[1], z[2], z[3]);
                let (s, c) = (q1 - q2).sin_cos();
                let den = m1 + m2 * s * s;
                d[0] = (l2 * p1 - l1 * p2 * c) / (l1 * l1 * l2 * den);
                d[1] = ((m1 + m2) * l1 * p2 - m2 * l2 * p1 * c) / (m2 * l1 * l2 * l2 * den);
                let c1 = p1 * p2 * s / (l1 * l2 * den);
                let c2 = (m2 * l2 * l2 * p1 * p1 + (m1 + m2) * l1 * l1 * p2 * p2 - 2.0 * m2 * l1 * l2 * p1 * p2 * c) * (2.0 * s * c)
                    / (2.0 * l1 * l1 * l2 * l2 * den * den);
                d[2] = -(m1 + m2) * g * l1 * q1.sin() - c1 + c2;
                d[3] = -m2 * g * l2 * q2.sin() + c1 - c2;
            }
            SuiteSystem::TwoBody => {
                let (m1, m2, g) = (params[0], params[1], params[2]);
                let (dx, dy) = (z[0] - z[2], z[1] - z[3]);
                let dist = dx.hypot(dy);
                let f = g * m1 * m2 / (dist * dist * dist);
                d[0] = z[4] / m1;
                d[1] = z[5] / m1;
                d[2] = z[6] / m2;
                d[3] = z[7] / m2;
                d[4] = -f * dx;
                d[5] = -f * dy;
                d[6] = f * dx;
                d[7] = f * dy;
            }
        }
    }

    /// `n` states from `z0`, [`DT`] apart, flat `[n * 2 dof]`: the mass-spring without
    /// friction by its exact solution (as the suite does), every other by RK45 at tight
    /// tolerances (the suite: scipy's RK45 at 1e-9).
    pub fn simulate(&self, params: &[f64], z0: &[f64], n: usize) -> Result<Vec<f64>> {
        if self.system == SuiteSystem::MassSpring && self.friction == 0.0 {
            let (k, m) = (params[0], params[1]);
            let w = (k / m).sqrt();
            let (q0, v0) = (z0[0], z0[1] / m);
            return Ok((0..n)
                .flat_map(|i| {
                    let (s, c) = (w * i as f64 * DT).sin_cos();
                    let q = q0 * c + v0 / w * s;
                    [q, m * (v0 * c - q0 * w * s)]
                })
                .collect());
        }
        let dof = self.dof();
        let friction = self.friction;
        super::integrate(
            |z, d| {
                self.field(params, z, d);
                for j in 0..dof {
                    d[dof + j] -= friction * d[j];
                }
            },
            z0,
            n,
            DT,
            self.system.name(),
        )
    }

    /// The particles' canvas positions `[x, y]` of a state (before the offset): the
    /// suite's `canvas_position`, and for the double pendulum the second bob hung from the
    /// first.
    pub fn positions(&self, params: &[f64], z: &[f64]) -> Vec<[f64; 2]> {
        let bob = |angle: f64, l: f64| [angle.sin() * l, -angle.cos() * l];
        match self.system {
            SuiteSystem::Pendulum => vec![bob(z[0], params[1])],
            SuiteSystem::MassSpring => vec![[0.0, z[0]]],
            SuiteSystem::DoublePendulum => {
                let (a, b) = (bob(z[0], params[2]), bob(z[1], params[3]));
                vec![a, [a[0] + b[0], a[1] + b[1]]]
            }
            SuiteSystem::TwoBody => vec![[z[0], z[1]], [z[2], z[3]]],
        }
    }

    /// Whether a trajectory stays in the canvas (the suite draws again those that leave it):
    /// every bob of the suite's `canvas_position` (for the double pendulum, each bob relative
    /// to its own pivot) within [`canvas_bounds`](Self::canvas_bounds) on both axes.
    pub fn stays_in_canvas(&self, params: &[f64], states: &[f64]) -> bool {
        let b = self.canvas_bounds();
        let inside = |v: f64| v >= b.min && v <= b.max;
        states.chunks(2 * self.dof()).all(|z| {
            let points = match self.system {
                SuiteSystem::DoublePendulum => {
                    let p = self.positions(params, z);
                    vec![p[0], [p[1][0] - p[0][0], p[1][1] - p[0][1]]]
                }
                _ => self.positions(params, z),
            };
            points.iter().all(|p| inside(p[0]) && inside(p[1]))
        })
    }

    /// The particles' radii: `sqrt(m / pi)` of each particle's mass.
    fn radii(&self, params: &[f64]) -> Vec<f64> {
        let radius = |m: f64| (m / std::f64::consts::PI).sqrt();
        match self.system {
            SuiteSystem::Pendulum => vec![radius(params[0])],
            SuiteSystem::MassSpring => vec![radius(params[1])],
            SuiteSystem::DoublePendulum | SuiteSystem::TwoBody => vec![radius(params[0]), radius(params[1])],
        }
    }

    /// Renders a state into `out`, `[SIDE * SIDE * 3]` row-major RGB bytes: `floor(255 v)`
    /// of the composited value `v` in `[0, 1]`, the suite's `uint8` cast.
    pub fn render(&self, draws: &Draws, z: &[f64], out: &mut [u8]) {
        let canvas = self.full_canvas();
        let size = canvas.size();
        let hue_count = self.num_colors() as f64;
        let particles: Vec<([f64; 2], f64, [f64; 3])> = self
            .positions(&draws.params, z)
            .into_iter()
            .zip(self.radii(&draws.params))
            .zip(&draws.colors)
            .map(|((p, rad), &c)| {
                let unit = [(p[0] + draws.offset[0] - canvas.min) / size, (p[1] + draws.offset[1] - canvas.min) / size];
                (unit, rad / size, hsv_to_rgb(c as f64 / hue_count))
            })
            .collect();
        let step = 1.0 / (SIDE - 1) as f64;
        for row in 0..SIDE {
            for col in 0..SIDE {
                let (x, y) = (col as f64 * step, row as f64 * step);
                let mut value = [0.0; 3];
                let mut left = 1.0;
                for (p, rad, rgb) in &particles {
                    let d = (p[0] - x).hypot(p[1] - y);
                    let mask = 1.0 / (1.0 + ((d - rad) * TEMPERATURE).exp());
                    for ch in 0..3 {
                        value[ch] += left * mask * rgb[ch];
                    }
                    left *= 1.0 - mask;
                }
                let px = &mut out[(row * SIDE + col) * 3..][..3];
                for ch in 0..3 {
                    px[ch] = ((value[ch] + left * BACKGROUND[ch]) * 255.0).floor() as u8;
                }
            }
        }
    }
}

/// The suite's `hsv2rgb` at full saturation and value.
fn hsv_to_rgb(h: f64) -> [f64; 3] {
    let hi = (h * 6.0).floor();
    let f = h * 6.0 - hi;
    let (p, q, t, v) = (0.0, 1.0 - f, f, 1.0);
    match (hi as i64).rem_euclid(6) {
        0 => [v, t, p],
        1 => [q, v, p],
        2 => [p, v, t],
        3 => [p, q, v],
        4 => [t, p, v],
        _ => [v, p, q],
    }
}

/// The frames the pipeline holds of one RGB frame of bytes `[SIDE, SIDE, 3]` (row-major,
/// as the suite and its files store them): channel-major `[3, SIDE, SIDE]` values over 255,
/// the layout the convolutions read (a frame's channels stacked on the context's).
pub fn bytes_to_planes(bytes: &[u8], out: &mut [f32]) {
    let px = SIDE * SIDE;
    for (i, rgb) in bytes.chunks(3).enumerate() {
        for (c, &b) in rgb.iter().enumerate() {
            out[c * px + i] = b as f32 / 255.0;
        }
    }
}

/// The inverse order of [`bytes_to_planes`] on values: `[3, SIDE, SIDE]` to `[SIDE, SIDE, 3]`.
pub fn planes_to_rows(planes: &[f32], out: &mut [f32]) {
    let px = planes.len() / 3;
    for i in 0..px {
        for c in 0..3 {
            out[i * 3 + c] = planes[c * px + i];
        }
    }
}

/// A preset's nominal parameters: its plain dataset's (within every variant's ranges).
fn nominal(system: SuiteSystem) -> Vec<f64> {
    Suite::plain(system).param_ranges().iter().map(|(_, r)| r.min).collect()
}

/// Draws a preset's frames with its plain draws: the nominal parameters, no canvas offset,
/// the first colours.
struct SuiteDrawer {
    suite: Suite,
    draws: Draws,
    bytes: Vec<u8>,
}

impl super::Drawer for SuiteDrawer {
    fn draw(&mut self, sim: &[f64], out: &mut [f32]) {
        self.suite.render(&self.draws, sim, &mut self.bytes);
        bytes_to_planes(&self.bytes, out);
    }
}

/// A suite preset as a system of the pixel pipeline (training, evaluation, pictures), its
/// frames RGB (`channels() == 3`, held channel-major). A dataset of a preset draws
/// parameters, offsets and colours per trajectory, and a [`crate::systems`] system has one
/// set: the preset's nominal (its plain dataset's) parameters, which the fresh trajectories
/// an evaluation simulates use. The evaluation of a suite run scores the dataset's own test
/// trajectories, each with its own draws (the main crate's `Trajectory`).
impl super::System for Suite {
    fn dof(&self) -> usize {
        Suite::dof(self)
    }

    fn label_names(&self) -> Vec<String> {
        let d = Suite::dof(self);
        (1..=d).map(|i| format!("q{i}")).chain((1..=d).map(|i| format!("p{i}"))).collect()
    }

    fn hamiltonian(&self, label: &[f64]) -> f64 {
        Suite::hamiltonian(self, &nominal(self.system), label)
    }

    fn field(&self, label: &[f64], d: &mut [f64]) {
        Suite::field(self, &nominal(self.system), label, d)
    }

    fn dt(&self) -> f64 {
        DT
    }

    fn window(&self) -> (f64, f64) {
        let r = self.radius_range();
        (r.min, r.max)
    }

    /// The suite's radius range is the preset's own: a window is not set.
    fn set_window(&mut self, _window: (f64, f64)) {}

    fn window_range(&self) -> (&'static str, (f64, f64)) {
        ("radius", (0.0, f64::INFINITY))
    }

    /// The suite's own rule with the nominal parameters (the window is the preset's).
    fn initial_in(&self, rng: &mut Rng, _window: (f64, f64)) -> Vec<f64> {
        Suite::initial(self, rng, &nominal(self.system))
    }

    fn simulate(&self, s0: &[f64], n: usize) -> Result<Vec<f64>> {
        Suite::simulate(self, &nominal(self.system), s0, n)
    }

    fn default_window(&self) -> super::render::Window {
        let c = self.full_canvas();
        super::render::Window { x0: c.min, x1: c.max, y0: c.min, y1: c.max }
    }

    fn drawer(&self, _render: super::render::RenderConfig) -> Result<Box<dyn super::Drawer>> {
        let draws = Suite::plain(self.system).draw(&mut Rng::new(0));
        Ok(Box::new(SuiteDrawer { suite: *self, draws: Draws { params: nominal(self.system), ..draws }, bytes: vec![0; SIDE * SIDE * 3] }))
    }

    fn params(&self) -> Vec<(&'static str, f64)> {
        self.param_names().into_iter().zip(nominal(self.system)).collect()
    }

    fn set_param(&mut self, _name: &str, _value: f64) -> bool {
        false
    }

    fn validate(&self) -> Result<()> {
        Suite::validate(self)
    }

    fn channels(&self) -> usize {
        3
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every_preset() -> Vec<Suite> {
        let mut all = vec![];
        for &system in SuiteSystem::ALL {
            all.push(Suite::plain(system));
            all.push(Suite { system, colors: true, friction: 0.0 });
            if system != SuiteSystem::TwoBody {
                all.push(Suite { system, colors: true, friction: SUITE_FRICTION });
            }
        }
        all
    }

    #[test]
    fn the_field_is_the_symplectic_gradient_of_the_hamiltonian() {
        let mut rng = Rng::new(3);
        for s in every_preset() {
            let draws = s.draw(&mut rng);
            let z = s.initial(&mut rng, &draws.params);
            let d = z.len();
            let mut f = vec![0.0; d];
            s.field(&draws.params, &z, &mut f);
            for j in 0..d {
                let (mut up, mut down) = (z.clone(), z.clone());
                let h = 1e-6;
                up[j] += h;
                down[j] -= h;
                let g = (s.hamiltonian(&draws.params, &up) - s.hamiltonian(&draws.params, &down)) / (2.0 * h);
                let (i, expect) = if j < d / 2 { (j + d / 2, -g) } else { (j - d / 2, g) };
                assert!((f[i] - expect).abs() < 1e-6 * expect.abs().max(1.0), "{s:?} coordinate {j}: {} vs {expect}", f[i]);
            }
        }
    }

    #[test]
    fn energy_is_conserved_without_friction_and_falls_with_it() {
        let mut rng = Rng::new(5);
        for s in every_preset() {
            let draws = s.draw(&mut rng);
            let z0 = s.initial(&mut rng, &draws.params);
            let traj = s.simulate(&draws.params, &z0, 100).unwrap();
            let h: Vec<f64> = traj.chunks(z0.len()).map(|z| s.hamiltonian(&draws.params, z)).collect();
            if s.friction == 0.0 {
                let drift = h.iter().map(|e| (e - h[0]).abs()).fold(0.0, f64::max);
                assert!(drift < 1e-6 * h[0].abs().max(1.0), "{s:?}: drift {drift}");
            } else {
                assert!(h.windows(2).all(|w| w[1] <= w[0] + 1e-12), "{s:?}: friction must not add energy");
                assert!(h[99] < h[0] - 1e-3, "{s:?}: friction must take energy out");
            }
        }
    }

    #[test]
    fn draws_follow_the_presets_ranges_and_colours() {
        let mut rng = Rng::new(9);
        for s in every_preset() {
            for _ in 0..50 {
                let d = s.draw(&mut rng);
                for ((name, range), v) in s.param_ranges().iter().zip(&d.params) {
                    assert!(*v >= range.min && *v <= range.max, "{s:?} {name} = {v}");
                }
                assert_eq!(d.colors.len(), s.particles());
                assert!(d.colors.iter().all(|&c| c < s.num_colors()));
                if d.colors.len() == 2 {
                    assert_ne!(d.colors[0], d.colors[1], "{s:?}: two particles, two colours");
                }
                if !(s.random_canvas() || s.colors && s.system == SuiteSystem::MassSpring) {
                    assert_eq!(d.offset, [0.0, 0.0]);
                }
            }
        }
    }

    #[test]
    fn the_mass_springs_exact_solution_is_what_rk45_integrates() {
        let s = Suite { system: SuiteSystem::MassSpring, colors: true, friction: 0.0 };
        let params = [2.0, 0.7];
        let z0 = [0.4, -0.3];
        let exact = s.simulate(&params, &z0, 60).unwrap();
        let numeric = super::super::integrate(|z, d| s.field(&params, z, d), &z0, 60, DT, "check").unwrap();
        for (a, b) in exact.iter().zip(&numeric) {
            assert!((a - b).abs() < 1e-8, "{a} vs {b}");
        }
    }

    #[test]
    fn a_frame_shows_the_background_and_the_particles_colour() {
        let s = Suite::plain(SuiteSystem::TwoBody);
        let draws = Draws { params: vec![1.0, 1.0, 1.0], offset: [0.0, 0.0], colors: vec![0, 1] };
        let mut out = vec![0u8; SIDE * SIDE * 3];
        // Body 1 at the canvas' centre, body 2 off it.
        s.render(&draws, &[0.0, 0.0, 10.0, 10.0, 0.0, 0.0, 0.0, 0.0], &mut out);
        let px = |row: usize, col: usize| &out[(row * SIDE + col) * 3..][..3];
        // A corner is the background, floor(255 v): 81, 88, 93.
        assert_eq!(px(0, 0), &[81, 88, 93]);
        // Hue 0 of 2 colours is red: the pixels nearest the centre are red.
        let centre = px(16, 16);
        assert!(centre[0] > 240 && centre[1] < 12 && centre[2] < 12, "{centre:?}");
    }

    #[test]
    fn friction_without_colours_or_on_two_bodies_is_refused_naming_the_flag() {
        let e = Suite { system: SuiteSystem::Pendulum, colors: false, friction: 0.05 }.validate().unwrap_err().to_string();
        assert!(e.starts_with("--friction: ") && e.contains("--colors"), "{e}");
        let e = Suite { system: SuiteSystem::TwoBody, colors: true, friction: 0.05 }.validate().unwrap_err().to_string();
        assert!(e.starts_with("--friction: "), "{e}");
        for s in every_preset() {
            s.validate().unwrap();
        }
    }
}
