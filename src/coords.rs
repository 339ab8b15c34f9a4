//! Stage 4, the paper's four coordinate-space tasks (Table 1 rows 1-4; SPEC.md section 8):
//! an HNN and a baseline MLP learn time derivatives directly from coordinates.
//!
//! The spring and the two bodies are [`crate::systems`]' definitions (field, energy, initial
//! states), shared with the pixel pipeline; the ideal and the real pendulum keep the
//! reference's toy energies, which the classic-control pendulum's is not.
//!
//! | task | H | data |
//! |---|---|---|
//! | spring | `q^2 + p^2` | 50 trajectories x 30 points on [0, 3], radius U[0.1, 1], noise sd 0.1 on (q, p) |
//! | pendulum | `3 (1 - cos q) + p^2` | 50 x 45 points on [0, 3], radius U[1.3, 2.3], noise 0.1 |
//! | real-pendulum | `2.4 (1 - cos q) + p^2` (the reference's) | Schmidt & Lipson's measurements, forward differences |
//! | two-body | `sum |p_i|^2 / 2 - 1 / r` (G = m = 1) | 1,000 near-circular orbits x 50 points on [0, 20] |
//!
//! Trajectories come from RK45 at rtol 1e-10; derivatives are the true field's at the clean
//! states (noise goes on the states only, as the reference). Splits follow the reference:
//! spring and pendulum train on the first half of the trajectories, two-body tests on the
//! first 20% of the orbits, the real pendulum trains on the first 80% of the rows. Energy:
//! the learned field is integrated (RK45, rtol 1e-9) from clean test initial states over
//! [0, 20] (200 points; two-body 50), the MSE of the true H along the rollout against the
//! true trajectory's, averaged over the test trajectories (+- s.e.m.); the real pendulum's
//! rollout starts at the first test row and spans the measured test segment.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use tch::{Device, Kind, Tensor};

use crate::error::{Error, Result};
use crate::integrate::{self, Method};
use crate::model::{FieldConfig, FieldKind, LatentField, LossTerms, NativeField};
use crate::paper;
use crate::systems::spring::Spring;
use crate::systems::two_body::TwoBody;
use crate::systems::System;
use crate::training::{AutogradLoss, LoopSettings};
use crate::util::adam::AdamConfig;
use crate::util::choice::Choice;
use crate::util::rng::Rng;
use crate::util::stats::MeanSem;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Task {
    Spring,
    Pendulum,
    RealPendulum,
    TwoBody,
}

impl Choice for Task {
    const ALL: &'static [Self] = &[Task::Spring, Task::Pendulum, Task::RealPendulum, Task::TwoBody];

    fn name(self) -> &'static str {
        match self {
            Task::Spring => "spring",
            Task::Pendulum => "pendulum",
            Task::RealPendulum => "real-pendulum",
            Task::TwoBody => "two-body",
        }
    }

    fn help(self) -> &'static str {
        match self {
            Task::Spring => "ideal mass-spring, H = q^2 + p^2",
            Task::Pendulum => "ideal pendulum, H = 3 (1 - cos q) + p^2",
            Task::RealPendulum => "Schmidt & Lipson's measured pendulum (needs --data)",
            Task::TwoBody => "two bodies under gravity, 8-D",
        }
    }
}

impl Task {
    /// This task's row of the paper's Table 1.
    pub fn paper_row(self) -> paper::Row {
        match self {
            Task::Spring => paper::Row::Spring,
            Task::Pendulum => paper::Row::Pendulum,
            Task::RealPendulum => paper::Row::RealPendulum,
            Task::TwoBody => paper::Row::TwoBody,
        }
    }

    pub fn dim(self) -> usize {
        if self == Task::TwoBody {
            8
        } else {
            2
        }
    }

    /// The task's energy (SPEC.md section 8): the spring's and two bodies' are the
    /// systems' own ([`crate::systems`], default parameters).
    pub fn energy(self, x: &[f64]) -> f64 {
        match self {
            Task::Spring => Spring::default().hamiltonian(x),
            Task::Pendulum => 3.0 * (1.0 - x[0].cos()) + x[1] * x[1],
            Task::RealPendulum => 2.4 * (1.0 - x[0].cos()) + x[1] * x[1],
            Task::TwoBody => TwoBody::default().hamiltonian(x),
        }
    }

    /// The true time derivative (not for the real pendulum, whose field is unknown).
    pub fn field(self, x: &[f64], dx: &mut [f64]) {
        match self {
            Task::Spring => Spring::default().field(x, dx),
            Task::Pendulum => {
                dx[0] = 2.0 * x[1];
                dx[1] = -3.0 * x[0].sin();
            }
            Task::RealPendulum => unreachable!("the real pendulum has no analytic field"),
            Task::TwoBody => TwoBody::default().field(x, dx),
        }
    }
}

/// A task's settings; [`TaskConfig::reference`] gives the paper's.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TaskConfig {
    pub task: Task,
    pub seed: u64,
    pub trajectories: usize,
    pub points: usize,
    pub t_end: f64,
    pub radius: (f64, f64),
    pub noise: f64,
    pub steps: usize,
    /// `None`: full batch.
    pub batch: Option<usize>,
    pub adam: AdamConfig,
    pub hidden: i64,
    /// Test trajectories rolled out for the energy metric (all, up to this many).
    pub energy_trajectories: usize,
    /// Their horizon and number of points (the simulated tasks; the real pendulum uses its
    /// measured test segment).
    pub energy_t_end: f64,
    pub energy_points: usize,
    /// The measured data (real pendulum).
    pub data: Option<PathBuf>,
}

impl TaskConfig {
    pub fn reference(task: Task) -> Self {
        let adam = |wd| AdamConfig { weight_decay: wd, ..AdamConfig::default() };
        let base = TaskConfig {
            task,
            seed: 0,
            trajectories: 50,
            points: 30,
            t_end: 3.0,
            radius: (0.1, 1.0),
            noise: 0.1,
            steps: 2000,
            batch: None,
            adam: adam(1e-4),
            hidden: 200,
            energy_trajectories: 25,
            energy_t_end: 20.0,
            energy_points: 200,
            data: None,
        };
        match task {
            Task::Spring => base,
            Task::Pendulum => TaskConfig { points: 45, radius: (1.3, 2.3), ..base },
            Task::RealPendulum => TaskConfig { trajectories: 1, points: 0, noise: 0.0, adam: adam(1e-5), energy_trajectories: 1, ..base },
            Task::TwoBody => TaskConfig {
                trajectories: 1000,
                points: 50,
                t_end: 20.0,
                radius: (0.5, 1.5),
                noise: 0.0,
                steps: 10_000,
                batch: Some(200),
                adam: adam(0.0),
                energy_trajectories: 20,
                energy_points: 50,
                ..base
            },
        }
    }

    /// Mini-batch steps are too small for libtorch's threads to help: such tasks train both
    /// models at once, one thread each (two-body: 41 -> 30 s here). Full-batch tasks gain
    /// more from two threads per step and train one model after the other.
    pub fn train_concurrently(&self) -> bool {
        self.batch.is_some()
    }

    /// The task's latent field sizes.
    pub fn field(&self, d: usize) -> FieldConfig {
        FieldConfig { dim: d as i64, hidden: self.hidden, settings: Default::default() }
    }

    pub fn validate(&self) -> Result<()> {
        if self.task == Task::RealPendulum {
            match &self.data {
                None => {
                    return Err(Error::setting("--data", "the real-pendulum task reads the measurements: pass --data real_pend_h_1.txt"))
                }
                Some(p) if !p.exists() => return Err(Error::input(p, "no such file (the real pendulum's measurements)")),
                _ => {}
            }
        } else if self.trajectories < 2 || self.points < 2 {
            return Err(Error::setting("--trajectories/--points", "need at least 2 trajectories of 2 points"));
        }
        if self.steps == 0 {
            return Err(Error::setting("--steps", "must be at least 1"));
        }
        if self.batch == Some(0) {
            return Err(Error::setting("--batch", "must be at least 1"));
        }
        Ok(())
    }
}

/// Samples and trajectories of a task.
///
/// # Shapes
/// `x`, `dx`: `[n, d]` row-major.
pub struct TaskData {
    pub d: usize,
    pub x: Vec<f64>,
    pub dx: Vec<f64>,
    pub test_x: Vec<f64>,
    pub test_dx: Vec<f64>,
    /// Clean test trajectories `(times, states [points, d])` for the energy metric.
    pub test_trajectories: Vec<(Vec<f64>, Vec<f64>)>,
}

fn simulate(task: Task, y0: &[f64], t: &[f64]) -> Result<Vec<f64>> {
    let ys = integrate::solve(|_t, y: &[f64], dy: &mut [f64]| task.field(y, dy), y0, t, Method::Rk45 { rtol: 1e-10, atol: 1e-12 })
        .map_err(Error::integration(format!("simulating the {} task", task.name())))?;
    Ok(ys.concat())
}

/// The task's initial states, drawn as the reference does: the two bodies' and the
/// spring's rules are the systems' own; the ideal pendulum shares the spring's.
fn initial_state(cfg: &TaskConfig, rng: &mut Rng) -> Vec<f64> {
    match cfg.task {
        Task::TwoBody => TwoBody::default().initial_in(rng, cfg.radius),
        _ => Spring::default().initial_in(rng, cfg.radius),
    }
}

pub fn make_data(cfg: &TaskConfig) -> Result<TaskData> {
    cfg.validate()?;
    if cfg.task == Task::RealPendulum {
        return real_pendulum(cfg.data.as_deref().expect("validated"));
    }
    let d = cfg.task.dim();
    let mut rng = Rng::new(cfg.seed);
    let t: Vec<f64> = (0..cfg.points).map(|i| cfg.t_end * i as f64 / (cfg.points - 1) as f64).collect();
    let n_test = match cfg.task {
        Task::TwoBody => cfg.trajectories / 5,
        _ => cfg.trajectories - cfg.trajectories / 2,
    };
    let t_energy: Vec<f64> = (0..cfg.energy_points).map(|i| cfg.energy_t_end * i as f64 / (cfg.energy_points.max(2) - 1) as f64).collect();
    let mut out = TaskData { d, x: vec![], dx: vec![], test_x: vec![], test_dx: vec![], test_trajectories: vec![] };
    for k in 0..cfg.trajectories {
        let y0 = initial_state(cfg, &mut rng);
        let states = simulate(cfg.task, &y0, &t)?;
        let mut derivs = vec![0.0; states.len()];
        for (s, ds) in states.chunks(d).zip(derivs.chunks_mut(d)) {
            cfg.task.field(s, ds);
        }
        let noisy: Vec<f64> = states.iter().map(|v| v + cfg.noise * rng.normal()).collect();
        let is_test = match cfg.task {
            Task::TwoBody => k < n_test,
            _ => k >= cfg.trajectories - n_test,
        };
        if is_test {
            out.test_x.extend(noisy);
            out.test_dx.extend(derivs);
            if out.test_trajectories.len() < cfg.energy_trajectories {
                out.test_trajectories.push((t_energy.clone(), simulate(cfg.task, &y0, &t_energy)?));
            }
        } else {
            out.x.extend(noisy);
            out.dx.extend(derivs);
        }
    }
    Ok(out)
}

/// Parses Schmidt & Lipson's `real_pend_h_1.txt`: a header line, then rows of
/// (trial, time s, angle rad, angular velocity rad/s).
pub fn read_real_pendulum(path: &Path) -> Result<Vec<[f64; 4]>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::input(path, format!("cannot be read ({e})")))?;
    let mut rows = vec![];
    for (i, line) in text.lines().enumerate().skip(1) {
        if line.trim().is_empty() {
            continue;
        }
        let vals: Vec<f64> = line
            .split_whitespace()
            .map(|v| v.parse::<f64>())
            .collect::<std::result::Result<_, _>>()
            .map_err(|e| Error::input(path, format!("line {}: not a number ({e})", i + 1)))?;
        if vals.len() != 4 || vals.iter().any(|v| !v.is_finite()) {
            return Err(Error::input(
                path,
                format!("line {}: expected 4 finite numbers (trial, t, angle, velocity), got {}", i + 1, vals.len()),
            ));
        }
        rows.push([vals[0], vals[1], vals[2], vals[3]]);
    }
    if rows.len() < 10 {
        return Err(Error::input(path, format!("holds {} rows; the real-pendulum task needs at least 10", rows.len())));
    }
    if rows.windows(2).any(|w| w[1][1] <= w[0][1]) {
        return Err(Error::input(path, "times must increase from row to row"));
    }
    Ok(rows)
}

fn real_pendulum(path: &Path) -> Result<TaskData> {
    let rows = read_real_pendulum(path)?;
    // Forward differences, the state at the left end (the reference's).
    let n = rows.len() - 1;
    let mut x = Vec::with_capacity(2 * n);
    let mut dx = Vec::with_capacity(2 * n);
    for w in rows.windows(2) {
        let dt = w[1][1] - w[0][1];
        x.extend([w[0][2], w[0][3]]);
        dx.extend([(w[1][2] - w[0][2]) / dt, (w[1][3] - w[0][3]) / dt]);
    }
    let split = (n as f64 * 0.8) as usize;
    let t: Vec<f64> = rows[split..n].iter().map(|r| r[1] - rows[split][1]).collect();
    let states: Vec<f64> = rows[split..n].iter().flat_map(|r| [r[2], r[3]]).collect();
    Ok(TaskData {
        d: 2,
        test_x: x[2 * split..].to_vec(),
        test_dx: dx[2 * split..].to_vec(),
        x: x[..2 * split].to_vec(),
        dx: dx[..2 * split].to_vec(),
        test_trajectories: vec![(t, states)],
    })
}

fn tensor(v: &[f64], d: usize) -> Tensor {
    Tensor::from_slice(v).to_kind(Kind::Float).view([-1, d as i64])
}

/// Per-sample mean squared error of the field's derivatives.
fn per_sample(field: &LatentField, x: &Tensor, dx: &Tensor) -> Vec<f64> {
    let err = (field.time_derivative(x, false) - dx).square().mean_dim(1, false, None::<Kind>);
    Vec::try_from(err.detach().to_kind(Kind::Double)).expect("1-D")
}

/// A coordinate task as the training loop sees it: the field's derivatives against the
/// true ones, squared error.
pub struct CoordsObjective<'a> {
    pub field: &'a LatentField,
    x: Tensor,
    dx: Tensor,
    test_x: Tensor,
    test_dx: Tensor,
}

impl<'a> CoordsObjective<'a> {
    pub fn new(field: &'a LatentField, data: &TaskData) -> Self {
        let d = data.d;
        CoordsObjective {
            field,
            x: tensor(&data.x, d),
            dx: tensor(&data.dx, d),
            test_x: tensor(&data.test_x, d),
            test_dx: tensor(&data.test_dx, d),
        }
    }
}

impl AutogradLoss for CoordsObjective<'_> {
    fn name(&self) -> &'static str {
        self.field.kind().name()
    }
    fn train_len(&self) -> usize {
        self.x.size()[0] as usize
    }
    fn device(&self) -> Device {
        Device::Cpu
    }
    fn batch_loss(&self, idx: Option<&Tensor>) -> (Tensor, Option<LossTerms>) {
        let (bx, bdx) = match idx {
            Some(i) => (self.x.index_select(0, i), self.dx.index_select(0, i)),
            None => (self.x.shallow_clone(), self.dx.shallow_clone()),
        };
        ((self.field.time_derivative(&bx, true) - bdx).square().mean(None::<Kind>), None)
    }
    fn test_loss(&self) -> f64 {
        let test = per_sample(self.field, &self.test_x, &self.test_dx);
        test.iter().sum::<f64>() / test.len().max(1) as f64
    }
}

/// What a trained model scores on a task.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TaskMetrics {
    pub model: FieldKind,
    pub train_loss: MeanSem,
    pub test_loss: MeanSem,
    pub energy_mse: MeanSem,
}

/// Loss and energy metrics of a trained field; the rollouts are returned for plotting.
pub fn score(cfg: &TaskConfig, data: &TaskData, field: &LatentField) -> Result<(TaskMetrics, Vec<Vec<f64>>)> {
    let d = data.d;
    let train_loss = MeanSem::of(&per_sample(field, &tensor(&data.x, d), &tensor(&data.dx, d)));
    let test_loss = MeanSem::of(&per_sample(field, &tensor(&data.test_x, d), &tensor(&data.test_dx, d)));
    let native = NativeField::new(field);
    let mut mses = vec![];
    let mut rollouts = vec![];
    for (t, states) in &data.test_trajectories {
        let pred =
            integrate::solve(|_t, y: &[f64], dy: &mut [f64]| native.eval(y, dy), &states[..d], t, Method::Rk45 { rtol: 1e-9, atol: 1e-12 })
                .map_err(Error::integration(format!("the {} rollout of the {} task", field.kind().name(), cfg.task.name())))?;
        let mse = pred.iter().zip(states.chunks(d)).map(|(p, s)| (cfg.task.energy(p) - cfg.task.energy(s)).powi(2)).sum::<f64>()
            / pred.len() as f64;
        mses.push(mse);
        rollouts.push(pred.concat());
    }
    Ok((TaskMetrics { model: field.kind(), train_loss, test_loss, energy_mse: MeanSem::of(&mses) }, rollouts))
}

/// `energy.png` and `trajectory.png` of a run: the first test trajectory, true and as each
/// model rolls it out (`rollouts[k]`: the model's rollouts, first trajectory first).
pub fn draw_pictures(cfg: &TaskConfig, data: &TaskData, rollouts: &[(FieldKind, Vec<Vec<f64>>)], dir: &Path) -> Result<()> {
    use crate::util::plot::{self, LinePlot, Series};
    let Some((t, states)) = data.test_trajectories.first() else { return Ok(()) };
    let d = data.d;
    let task = cfg.task;
    let mut energy = vec![Series::line("true", t.iter().zip(states.chunks(d)).map(|(t, s)| (*t, task.energy(s))).collect())];
    let mut paths = vec![Series::line("true", states.chunks(d).map(|s| (s[0], s[d / 2])).collect())];
    for (kind, rolls) in rollouts {
        let r = &rolls[0];
        energy.push(Series::line(kind.name(), t.iter().zip(r.chunks(d)).map(|(t, s)| (*t, task.energy(s))).collect()));
        paths.push(Series::line(kind.name(), r.chunks(d).map(|s| (s[0], s[d / 2])).collect()));
    }
    // A model that runs away is clipped (and named) so that the truth stays readable.
    let title = format!("{}: energy along a test rollout", task.name());
    let energy_plot = LinePlot { title: &title, x_label: "time", y_label: "H (true)", log_y: false, series: &energy };
    plot::write_in(&energy_plot, &plot::readable_view(&energy, 0), &dir.join("energy.png"))?;
    let title = format!("{}: test trajectory (first q against first p)", task.name());
    let path_plot = LinePlot { title: &title, x_label: "q", y_label: "p", log_y: false, series: &paths };
    plot::write_in(&path_plot, &plot::readable_view(&paths, 0), &dir.join("trajectory.png"))
}

/// The loop reads a task's own settings: batches as configured, the losses logged every
/// 100 steps and at the last, no checkpoints (a task trains in seconds).
impl LoopSettings for TaskConfig {
    fn seeds(&self) -> &[u64] {
        std::slice::from_ref(&self.seed)
    }
    fn steps(&self) -> usize {
        self.steps
    }
    fn batch(&self) -> Option<usize> {
        self.batch
    }
    fn log_every(&self) -> usize {
        100
    }
    fn eval_every(&self) -> usize {
        100
    }
    fn checkpoint_every(&self) -> Option<usize> {
        None
    }
    fn log_last(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_trajectories_conserve_the_analytic_energy() {
        for task in [Task::Spring, Task::Pendulum, Task::TwoBody] {
            let cfg = TaskConfig { trajectories: 6, noise: 0.0, ..TaskConfig::reference(task) };
            let data = make_data(&cfg).unwrap();
            for (_, states) in &data.test_trajectories {
                let e: Vec<f64> = states.chunks(task.dim()).map(|s| task.energy(s)).collect();
                let drift = e.iter().map(|v| (v - e[0]).abs()).fold(0.0, f64::max);
                assert!(drift < 1e-7 * e[0].abs().max(1.0), "{task:?}: energy drifts by {drift}");
            }
        }
    }

    #[test]
    fn fields_are_the_symplectic_gradients_of_their_energies() {
        let mut rng = Rng::new(2);
        for task in [Task::Spring, Task::Pendulum, Task::TwoBody] {
            let d = task.dim();
            let x: Vec<f64> = (0..d).map(|_| rng.uniform(0.3, 1.2) * if rng.uniform(0.0, 1.0) < 0.5 { -1.0 } else { 1.0 }).collect();
            let x = if task == Task::TwoBody { initial_state(&TaskConfig::reference(task), &mut rng) } else { x };
            let mut f = vec![0.0; d];
            task.field(&x, &mut f);
            let h = 1e-6;
            for j in 0..d {
                let (mut up, mut down) = (x.clone(), x.clone());
                up[j] += h;
                down[j] -= h;
                let g = (task.energy(&up) - task.energy(&down)) / (2.0 * h);
                // dq/dt = dH/dp, dp/dt = -dH/dq
                let expect_index = if j < d / 2 { j + d / 2 } else { j - d / 2 };
                let expect = if j < d / 2 { -g } else { g };
                assert!((f[expect_index] - expect).abs() < 1e-6, "{task:?} coordinate {j}");
            }
        }
    }

    #[test]
    fn the_real_data_parser_reads_the_shared_file_and_names_bad_lines() {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data/real_pend_h_1.txt");
        let rows = read_real_pendulum(&path).unwrap();
        assert_eq!(rows.len(), 556);
        assert_eq!(rows[0][1], 5.0);
        let data = real_pendulum(&path).unwrap();
        assert_eq!(data.x.len() / 2, 444); // 80% of the 555 differences
        assert!((data.dx[0] - (rows[1][2] - rows[0][2]) * 6.0).abs() < 1e-9);
        let dir = tempfile::tempdir().unwrap();
        let bad = dir.path().join("bad.txt");
        std::fs::write(&bad, "%o v\n0 5.0 1.0 0.5\n0 5.1 abc 0.5\n").unwrap();
        assert!(read_real_pendulum(&bad).unwrap_err().to_string().contains("line 3: not a number"));
        std::fs::write(&bad, "%o v\n0 5.0 1.0\n").unwrap();
        assert!(read_real_pendulum(&bad).unwrap_err().to_string().contains("line 2: expected 4"));
    }
}
