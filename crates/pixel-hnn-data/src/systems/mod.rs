//! The physical systems the models learn, one file each: its state and the canonical
//! `(q, p)` labelling it, its true vector field and simulator, its energy, its initial-state
//! rule with a window, and its scene. The pixel pipeline renders and scores them; the
//! coordinate tasks take their fields and energies from here too.
//!
//! | system | `(q, p)` | H | simulator | scene |
//! |---|---|---|---|---|
//! | [`pendulum`] | deflection, thdot / 4 (the reference's) | scored as `1.9 (1 - cos q) + p^2` | classic-control `Pendulum-v1`, semi-implicit Euler | a rod from a pivot |
//! | [`spring`] | position, momentum | `p^2 / 2m + k q^2 / 2` | exact | a ball on a spring |
//! | [`two_body`] | positions, momenta of both bodies (8-D) | `|p|^2 / 2m - G m^2 / r` | RK45, rtol 1e-10 | two discs |
//! | [`double_pendulum`] | both angles, their momenta | the double pendulum's | RK45, rtol 1e-10 | two rods, two bobs |
//!
//! Adding a system means adding its file and naming it in [`SystemKind`] and
//! [`SystemConfig`]. DeepMind's suite's systems ([`suite`]) draw their parameters per
//! trajectory and render RGB: `generate --preset` makes their datasets, and the pixel
//! pipeline trains and scores on them as the kinds [`SystemKind::SUITE`] (a frame has
//! [`System::channels`] 3).

pub mod double_pendulum;
pub mod pendulum;
pub mod render;
pub mod spring;
pub mod suite;
pub mod two_body;

use serde::{Deserialize, Serialize};

use crate::choice::Choice;
use crate::error::{Error, Result};
use crate::rng::Rng;
use crate::systems::render::{RenderConfig, Window};

/// Draws frames of a system's states (holds its canvas: one per thread).
pub trait Drawer: Send {
    /// Renders the simulator state `sim` into `out`, `[side * side]`.
    fn draw(&mut self, sim: &[f64], out: &mut [f32]);
}

/// What the pipeline needs of a physical system.
pub trait System: Send + Sync {
    /// Degrees of freedom: `q` and `p` have this many coordinates each.
    fn dof(&self) -> usize;

    /// Coordinates the simulator keeps per frame (the labels, except for the pendulum).
    fn sim_dim(&self) -> usize {
        2 * self.dof()
    }

    /// Names of the simulator's coordinates.
    fn sim_names(&self) -> Vec<String> {
        self.label_names()
    }

    /// Names of the label coordinates: the `q`s, then the `p`s.
    fn label_names(&self) -> Vec<String>;

    /// The canonical `(q, p)` of a simulator state.
    fn label(&self, sim: &[f64], out: &mut [f64]) {
        out.copy_from_slice(sim);
    }

    /// The Hamiltonian that generates [`field`](Self::field), in label coordinates and
    /// seconds.
    fn hamiltonian(&self, label: &[f64]) -> f64;

    /// The energy evaluation scores (the Hamiltonian, except where the reference scored
    /// another).
    fn energy(&self, label: &[f64]) -> f64 {
        self.hamiltonian(label)
    }

    /// The energy's formula, for plots.
    fn energy_formula(&self) -> &'static str {
        "H(q, p)"
    }

    /// The true time derivative of a label state: `(dH/dp, -dH/dq)`.
    fn field(&self, label: &[f64], d: &mut [f64]);

    /// Seconds between frames.
    fn dt(&self) -> f64;

    /// The initial-state rule's window: the range of the quantity it draws (an angle, a
    /// radius; see the system).
    fn window(&self) -> (f64, f64);

    /// Sets the window of the initial-state rule (checked by [`validate`](Self::validate)).
    fn set_window(&mut self, window: (f64, f64));

    /// What the window ranges over and the range it must lie in, e.g. `("deflection", (0,
    /// pi))`.
    fn window_range(&self) -> (&'static str, (f64, f64));

    /// Checks a window `(lo, hi)` for the initial-state rule (`--min/--max`).
    fn check_window(&self, window: (f64, f64)) -> Result<()> {
        let (what, range) = self.window_range();
        check_window(what, window, range)
    }

    /// An initial simulator state, drawn with the window `(lo, hi)`.
    fn initial_in(&self, rng: &mut Rng, window: (f64, f64)) -> Vec<f64>;

    /// An initial simulator state drawn by the system's own rule.
    fn initial(&self, rng: &mut Rng) -> Vec<f64> {
        self.initial_in(rng, self.window())
    }

    /// The window of evaluation's fresh trajectories (the system's own, except where the
    /// reference used another).
    fn eval_window(&self) -> (f64, f64) {
        self.window()
    }

    /// `n` simulator states from `s0`, one frame apart, flat `[n * sim_dim]`.
    fn simulate(&self, s0: &[f64], n: usize) -> Result<Vec<f64>>;

    /// The world window the frames show by default.
    fn default_window(&self) -> Window;

    /// A drawer of this system's frames.
    fn drawer(&self, render: RenderConfig) -> Result<Box<dyn Drawer>>;

    /// The physical parameters `--param NAME=VALUE` can set, with their values.
    fn params(&self) -> Vec<(&'static str, f64)>;

    /// Sets a parameter by name; `Ok(false)` if the system has none of that name.
    fn set_param(&mut self, name: &str, value: f64) -> bool;

    /// Colour channels of a frame: 1 (grey, `[side, side]`) or 3 (RGB, held channel-major
    /// `[3, side, side]`: DeepMind's suite).
    fn channels(&self) -> usize {
        1
    }

    /// Checks the parameters and the window, naming the flag at fault: by default every
    /// parameter positive and the window within [`window_range`](Self::window_range).
    fn validate(&self) -> Result<()> {
        for (name, v) in self.params() {
            positive(name, v)?;
        }
        self.check_window(self.window())
    }
}

/// The systems by name.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SystemKind {
    #[default]
    Pendulum,
    Spring,
    TwoBody,
    DoublePendulum,
    /// DeepMind's suite's systems (`generate --preset`): not in [`Choice::ALL`], which lists
    /// the systems `--system` draws.
    DmPendulum,
    DmMassSpring,
    DmDoublePendulum,
    DmTwoBody,
}

impl SystemKind {
    /// The suite's systems, as datasets of `generate --preset` name them.
    pub const SUITE: &'static [Self] =
        &[SystemKind::DmPendulum, SystemKind::DmMassSpring, SystemKind::DmDoublePendulum, SystemKind::DmTwoBody];

    /// The suite's system this is, if it is one.
    pub fn suite(self) -> Option<suite::SuiteSystem> {
        use suite::SuiteSystem as S;
        match self {
            SystemKind::DmPendulum => Some(S::Pendulum),
            SystemKind::DmMassSpring => Some(S::MassSpring),
            SystemKind::DmDoublePendulum => Some(S::DoublePendulum),
            SystemKind::DmTwoBody => Some(S::TwoBody),
            _ => None,
        }
    }

    fn of_suite(s: suite::SuiteSystem) -> Self {
        use suite::SuiteSystem as S;
        match s {
            S::Pendulum => SystemKind::DmPendulum,
            S::MassSpring => SystemKind::DmMassSpring,
            S::DoublePendulum => SystemKind::DmDoublePendulum,
            S::TwoBody => SystemKind::DmTwoBody,
        }
    }
}

impl Choice for SystemKind {
    const ALL: &'static [Self] = &[SystemKind::Pendulum, SystemKind::Spring, SystemKind::TwoBody, SystemKind::DoublePendulum];

    fn name(self) -> &'static str {
        match self {
            SystemKind::Pendulum => "pendulum",
            SystemKind::Spring => "spring",
            SystemKind::TwoBody => "two-body",
            SystemKind::DoublePendulum => "double-pendulum",
            k => k.suite().expect("a suite system").name(),
        }
    }

    fn help(self) -> &'static str {
        match self {
            SystemKind::Pendulum => "the classic-control pendulum (the paper's)",
            SystemKind::Spring => "a ball on a spring, 1 degree of freedom",
            SystemKind::TwoBody => "two bodies orbiting under gravity, an 8-D latent",
            SystemKind::DoublePendulum => "a double pendulum at low energy, a 4-D latent",
            k => k.suite().expect("a suite system").help(),
        }
    }
}

/// A system with its parameters: what a dataset stores and is generated from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum SystemConfig {
    Pendulum(pendulum::Pendulum),
    Spring(spring::Spring),
    TwoBody(two_body::TwoBody),
    DoublePendulum(double_pendulum::DoublePendulum),
    /// A preset of DeepMind's suite (its datasets are read, not generated, by the pixel
    /// pipeline: `generate --preset` makes them).
    Suite(suite::Suite),
}

impl Default for SystemConfig {
    fn default() -> Self {
        SystemConfig::Pendulum(pendulum::Pendulum::default())
    }
}

impl SystemConfig {
    /// The system with its default parameters.
    pub fn of(kind: SystemKind) -> Self {
        match kind {
            SystemKind::Pendulum => SystemConfig::Pendulum(Default::default()),
            SystemKind::Spring => SystemConfig::Spring(Default::default()),
            SystemKind::TwoBody => SystemConfig::TwoBody(Default::default()),
            SystemKind::DoublePendulum => SystemConfig::DoublePendulum(Default::default()),
            k => SystemConfig::Suite(suite::Suite::plain(k.suite().expect("a suite system"))),
        }
    }

    pub fn kind(&self) -> SystemKind {
        match self {
            SystemConfig::Pendulum(_) => SystemKind::Pendulum,
            SystemConfig::Spring(_) => SystemKind::Spring,
            SystemConfig::TwoBody(_) => SystemKind::TwoBody,
            SystemConfig::DoublePendulum(_) => SystemKind::DoublePendulum,
            SystemConfig::Suite(s) => SystemKind::of_suite(s.system),
        }
    }

    /// The dataset's system as tables show it: ours by name, a suite preset with its variant
    /// (`dm-pendulum-colors`).
    pub fn label(&self) -> String {
        match self {
            SystemConfig::Suite(s) => s.label(),
            other => other.kind().name().into(),
        }
    }

    pub fn get(&self) -> &dyn System {
        match self {
            SystemConfig::Pendulum(s) => s,
            SystemConfig::Spring(s) => s,
            SystemConfig::TwoBody(s) => s,
            SystemConfig::DoublePendulum(s) => s,
            SystemConfig::Suite(s) => s,
        }
    }

    fn get_mut(&mut self) -> &mut dyn System {
        match self {
            SystemConfig::Pendulum(s) => s,
            SystemConfig::Spring(s) => s,
            SystemConfig::TwoBody(s) => s,
            SystemConfig::DoublePendulum(s) => s,
            SystemConfig::Suite(s) => s,
        }
    }

    /// Sets the initial-state window (`--min`, `--max`).
    pub fn set_window(&mut self, window: (f64, f64)) {
        self.get_mut().set_window(window)
    }

    /// Sets a physical parameter (`--param NAME=VALUE`), naming the known ones when
    /// `name` is not one of them.
    pub fn set_param(&mut self, name: &str, value: f64) -> Result<()> {
        if self.get_mut().set_param(name, value) {
            return Ok(());
        }
        let known: Vec<&str> = self.get().params().iter().map(|p| p.0).collect();
        Err(Error::setting("--param", format!("the {} has no parameter '{name}'; it has {}", self.kind().name(), known.join(", "))))
    }
}

/// Parses `--param NAME=VALUE`.
pub fn parse_param(text: &str) -> Result<(String, f64)> {
    let bad = || Error::setting("--param", format!("'{text}' is not NAME=VALUE with a number (e.g. g=9.8)"));
    let (name, value) = text.split_once('=').ok_or_else(bad)?;
    let value: f64 = value.trim().parse().map_err(|_| bad())?;
    Ok((name.trim().to_string(), value))
}

/// Checks that a parameter is a finite positive number.
pub(crate) fn positive(name: &str, v: f64) -> Result<()> {
    if v.is_finite() && v > 0.0 {
        Ok(())
    } else {
        Err(Error::setting("--param", format!("{name} must be a positive number (got {v})")))
    }
}

/// Checks an initial-state window `(lo, hi)` against the system's admissible range `(min, max)`.
pub(crate) fn check_window(what: &str, (lo, hi): (f64, f64), (min, max): (f64, f64)) -> Result<()> {
    if !(lo.is_finite() && hi.is_finite() && lo >= min && hi <= max && lo < hi) {
        return Err(Error::setting(
            "--min/--max",
            format!("the initial {what} window ({lo}, {hi}) admits no state; it must satisfy {min} <= min < max <= {max}"),
        ));
    }
    Ok(())
}

/// States of an ODE system one frame apart by RK45 at tight tolerances.
pub(crate) fn integrate(field: impl Fn(&[f64], &mut [f64]), s0: &[f64], n: usize, dt: f64, what: &str) -> Result<Vec<f64>> {
    let t: Vec<f64> = (0..n).map(|i| i as f64 * dt).collect();
    let method = crate::ode::Method::Rk45 { rtol: 1e-10, atol: 1e-12 };
    let ys = crate::ode::solve(|_t, y: &[f64], dy: &mut [f64]| field(y, dy), s0, &t, method)
        .map_err(Error::integration(format!("simulating the {what}")))?;
    Ok(ys.concat())
}

/// A drawer of scenes drawn by `scene` on a canvas, the whole canvas filtered.
pub(crate) struct SceneDrawer<F: FnMut(&[f64], &mut crate::systems::render::Scene) + Send> {
    canvas: crate::systems::render::Canvas,
    scene: F,
}

impl<F: FnMut(&[f64], &mut crate::systems::render::Scene) + Send> SceneDrawer<F> {
    pub(crate) fn boxed(render: RenderConfig, scene: F) -> Result<Box<dyn Drawer>>
    where
        F: 'static,
    {
        Ok(Box::new(SceneDrawer { canvas: crate::systems::render::Canvas::new(render)?, scene }))
    }
}

impl<F: FnMut(&[f64], &mut crate::systems::render::Scene) + Send> Drawer for SceneDrawer<F> {
    fn draw(&mut self, sim: &[f64], out: &mut [f32]) {
        self.canvas.clear();
        (self.scene)(sim, &mut self.canvas.scene());
        self.canvas.finish(None, out);
    }
}

#[cfg(test)]
pub(crate) mod checks {
    //! Checks every system's file runs on its own definition.
    use super::*;

    /// The field is the symplectic gradient of the Hamiltonian (central differences).
    pub fn field_is_the_symplectic_gradient(s: &dyn System, at: &[f64], tol: f64) {
        let d = 2 * s.dof();
        let mut f = vec![0.0; d];
        s.field(at, &mut f);
        let h = 1e-6;
        for j in 0..d {
            let (mut up, mut down) = (at.to_vec(), at.to_vec());
            up[j] += h;
            down[j] -= h;
            let g = (s.hamiltonian(&up) - s.hamiltonian(&down)) / (2.0 * h);
            // dq/dt = dH/dp, dp/dt = -dH/dq
            let (index, expect) = if j < d / 2 { (j + d / 2, -g) } else { (j - d / 2, g) };
            assert!((f[index] - expect).abs() < tol * expect.abs().max(1.0), "coordinate {j}: field {} vs {expect}", f[index]);
        }
    }

    /// A simulated trajectory conserves the Hamiltonian to `tol` (relative to its scale).
    pub fn conserves_energy(s: &dyn System, seed: u64, n: usize, tol: f64) {
        let s0 = s.initial(&mut Rng::new(seed));
        let traj = s.simulate(&s0, n).unwrap();
        let mut label = vec![0.0; 2 * s.dof()];
        let energies: Vec<f64> = traj
            .chunks(s.sim_dim())
            .map(|sim| {
                s.label(sim, &mut label);
                s.hamiltonian(&label)
            })
            .collect();
        let e0 = energies[0];
        let drift = energies.iter().map(|e| (e - e0).abs()).fold(0.0, f64::max);
        assert!(drift <= tol * e0.abs().max(1e-3), "energy {e0} drifts by {drift}");
    }

    /// Frames are deterministic, show ink, and differ between distinct states.
    pub fn frames_are_deterministic_and_move(s: &dyn System, seed: u64) {
        let render = RenderConfig { window: s.default_window(), ..RenderConfig::default() };
        let mut a = s.drawer(render).unwrap();
        let mut b = s.drawer(render).unwrap();
        let traj = s.simulate(&s.initial(&mut Rng::new(seed)), 30).unwrap();
        let (mut f0, mut f1, mut g) = (vec![0.0; 784], vec![0.0; 784], vec![0.0; 784]);
        a.draw(&traj[..s.sim_dim()], &mut f0);
        b.draw(&traj[..s.sim_dim()], &mut g);
        assert_eq!(f0, g, "same state, same frame");
        a.draw(&traj[29 * s.sim_dim()..], &mut f1);
        assert!(f0.iter().sum::<f32>() > 5.0, "the scene shows");
        assert_ne!(f0, f1, "the scene moves");
        assert!(f0.iter().all(|v| (0.0..=1.0).contains(v)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_system_validates_its_defaults_and_names_unknown_parameters() {
        for &kind in SystemKind::ALL {
            let mut c = SystemConfig::of(kind);
            c.get().validate().unwrap();
            assert_eq!(c.kind(), kind);
            let e = c.set_param("nonsense", 1.0).unwrap_err().to_string();
            assert!(e.starts_with("--param: the ") && e.contains("has no parameter 'nonsense'"), "{e}");
            // Every parameter refuses a negative value.
            for (name, _) in c.get().params() {
                let mut bad = c.clone();
                bad.set_param(name, -1.0).unwrap();
                assert!(bad.get().validate().unwrap_err().to_string().starts_with("--param"), "{kind:?} {name}");
            }
        }
        assert_eq!(parse_param("g = 9.8").unwrap(), ("g".to_string(), 9.8));
        assert!(parse_param("g").is_err() && parse_param("g=x").is_err());
    }
}
