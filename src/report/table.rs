//! Table 1: the project's figures beside the paper's ([`crate::paper`]), one row per task
//! and one pixel row per system, collected from run folders; and the pixel rows' longer
//! table that `evaluate` prints.

use serde::Serialize;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::evaluate::{Claim, EnsembleSummary, HeadToHead, ModelMetrics, ModelSummary};
use crate::model::FieldKind;
use crate::paper::{self, Figure};
use crate::report::figures::{Figures, Protocol};
use crate::run::{CoordsMetrics, PixelMetrics, Run, ScoreMetrics};
use crate::systems::SystemKind;
use crate::util::choice::Choice;
use crate::util::stats::Interval;

pub const HEADER: &str = "| task | train loss base / HNN | test loss base / HNN | energy base / HNN | energy ratio | HNN below base, by trajectory | paper train | paper test | paper energy |\n|---|---|---|---|---|---|---|---|---|";

/// One measured figure: a run's value, or an ensemble's mean with its 95% interval over
/// the training seeds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Cell {
    pub value: f64,
    pub interval: Option<(f64, f64)>,
}

impl Cell {
    pub fn one(value: f64) -> Self {
        Cell { value, interval: None }
    }

    pub fn of(i: &Interval) -> Self {
        Cell { value: i.mean, interval: Some((i.lo, i.hi)) }
    }

    fn markdown(&self, unit: f64) -> String {
        match self.interval {
            None => format!("{:.3}", self.value * unit),
            Some((lo, hi)) => format!("{} [{}, {}]", short(self.value * unit), short(lo * unit), short(hi * unit)),
        }
    }
}

/// Our (baseline, HNN) value of a figure, in absolute units; `None` where a model is absent.
pub type Pair = (Option<Cell>, Option<Cell>);

/// One row of Table 1 as measured on a run.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// The paper's row this one reproduces; `None` for the pixel systems the paper did not
    /// run.
    pub task: Option<paper::Row>,
    /// Sort key: the paper's rows in its order, then the other pixel systems.
    pub order: (usize, usize),
    /// How the task is named in the table (`spring`, `pixel pendulum`, ...).
    pub label: String,
    pub train_loss: Pair,
    pub test_loss: Pair,
    pub energy_mse: Pair,
    /// An ensemble's claim, member by member (its ratio column).
    pub claim: Option<Claim>,
    /// Why the energy figures are not shown: no affine latent -> (q, p) map holds.
    pub energy_not_shown: Option<String>,
    /// The HNN against the baseline, trajectory by trajectory (pixel runs).
    pub head_to_head: Option<HeadToHead>,
    /// The run folder it was read from.
    pub source: PathBuf,
}

fn pick<T>(models: &[T], kind: FieldKind, model_of: impl Fn(&T) -> FieldKind, value: impl Fn(&T) -> Cell) -> Option<Cell> {
    models.iter().find(|m| model_of(m) == kind).map(value)
}

impl Row {
    /// The row of a coordinate run.
    pub fn of_coords(m: &CoordsMetrics, source: &Path) -> Row {
        let pair = |f: &dyn Fn(&crate::coords::TaskMetrics) -> f64| {
            let cell = |x: &crate::coords::TaskMetrics| Cell::one(f(x));
            (pick(&m.models, FieldKind::Baseline, |x| x.model, cell), pick(&m.models, FieldKind::Hnn, |x| x.model, cell))
        };
        let task = m.task.paper_row();
        Row {
            task: Some(task),
            order: (task as usize, 0),
            label: m.task.name().to_string(),
            train_loss: pair(&|x| x.train_loss.mean),
            test_loss: pair(&|x| x.test_loss.mean),
            energy_mse: pair(&|x| x.energy_mse.mean),
            claim: None,
            energy_not_shown: None,
            head_to_head: None,
            source: source.to_path_buf(),
        }
    }

    /// The row of an evaluated pixel run: an ensemble's means and intervals over its members.
    pub fn of_pixel(m: &PixelMetrics, source: &Path) -> Row {
        let (train_loss, test_loss, energy_mse, claim) = match &m.ensemble {
            None => {
                let pair = |f: &dyn Fn(&ModelMetrics) -> f64| {
                    let cell = |x: &ModelMetrics| Cell::one(f(x));
                    (pick(&m.models, FieldKind::Baseline, |x| x.model, cell), pick(&m.models, FieldKind::Hnn, |x| x.model, cell))
                };
                (pair(&|x| x.train_loss.mean), pair(&|x| x.test_loss.mean), pair(&|x| x.energy_mse), None)
            }
            Some(e) => {
                let pair = |f: &dyn Fn(&ModelSummary) -> &Interval| {
                    let cell = |x: &ModelSummary| Cell::of(f(x));
                    (pick(&e.models, FieldKind::Baseline, |x| x.model, cell), pick(&e.models, FieldKind::Hnn, |x| x.model, cell))
                };
                (pair(&|x| &x.train_loss), pair(&|x| &x.test_loss), pair(&|x| &x.energy_mse), e.claim.clone())
            }
        };
        let task = (m.system == SystemKind::Pendulum).then_some(paper::Row::PixelPendulum);
        Row {
            task,
            order: task.map_or((paper::Row::ALL.len(), m.system as usize), |t| (t as usize, 0)),
            label: format!("pixel {}", m.system.name()),
            train_loss,
            test_loss,
            energy_mse,
            claim,
            energy_not_shown: (!m.maps_hold()).then(|| format!("n/a (map R^2 {:.2})", m.worst_r2())),
            head_to_head: m.head_to_head(),
            source: source.to_path_buf(),
        }
    }

    /// Baseline energy error over the HNN's (an ensemble's: of the means).
    pub fn energy_ratio(&self) -> Option<f64> {
        if self.energy_not_shown.is_some() {
            return None;
        }
        Some(self.energy_mse.0?.value / self.energy_mse.1?.value)
    }

    /// The ratio column: the ratio, or for an ensemble the median of the members' ratios,
    /// their quartiles, and on how many members the HNN is below the baseline.
    fn ratio_cell(&self) -> String {
        if self.energy_not_shown.is_some() {
            return "-".into();
        }
        match (&self.claim, self.energy_ratio()) {
            (Some(c), _) => {
                format!("{}x [{}-{}], {}/{}", short(c.ratio_median), short(c.ratio_q1), short(c.ratio_q3), c.hnn_below, c.pairs)
            }
            (None, Some(r)) => format!("{r:.0}x"),
            (None, None) => "-".into(),
        }
    }

    /// The row in the layout of [`HEADER`], in the row's unit.
    pub fn markdown(&self) -> String {
        let u = self.task.map_or(1e3, paper::Row::unit);
        let ours = |p: Pair| {
            let f = |v: Option<Cell>| v.map(|v| v.markdown(u)).unwrap_or_else(|| "-".into());
            format!("{} / {}", f(p.0), f(p.1))
        };
        let theirs = |p: &dyn Fn(paper::Values) -> paper::Pair| match self.task {
            Some(t) => {
                let p = p(t.values());
                format!("{} / {}", short(p.baseline.mean * u), short(p.hnn.mean * u))
            }
            None => "-".into(),
        };
        let wins = match self.head_to_head {
            Some(h) => format!("{}/{} ({})", h.hnn_below, h.trajectories, h.basis.describe()),
            None => "-".into(),
        };
        format!(
            "| {} (x1e{}) | {} | {} | {} | {} | {wins} | {} | {} | {} |",
            self.label,
            u.log10().round() as i32,
            ours(self.train_loss),
            ours(self.test_loss),
            self.energy_not_shown.clone().unwrap_or_else(|| ours(self.energy_mse)),
            self.ratio_cell(),
            theirs(&|v| v.train_loss),
            theirs(&|v| v.test_loss),
            theirs(&|v| v.energy_mse),
        )
    }
}

/// A number with three significant digits, trailing zeros dropped (37, 0.38, 9.27, 63000).
pub fn short(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return format!("{v}");
    }
    let digits = (2 - v.abs().log10().floor() as i32).max(0) as usize;
    let s = format!("{v:.digits$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// Every run folder directly under a folder: Table 1's rows and every model's records.
#[derive(Clone, Debug, Default)]
pub struct Runs {
    pub rows: Vec<Row>,
    pub records: Vec<Figures>,
}

/// The Table 1 rows and the records of every evaluated run directly under `runs` (pixel runs
/// with `metrics.json`, coordinate runs, score runs), in the paper's order; folders that
/// hold no run, or a pixel run not yet evaluated, are passed over.
pub fn collect_runs(runs: &Path) -> Result<Runs> {
    let entries = std::fs::read_dir(runs).map_err(|e| Error::input(runs, format!("cannot be read ({e})")))?;
    let mut dirs: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.join(crate::run::CONFIG).exists()).collect();
    dirs.sort();
    let mut out = Runs::default();
    for dir in &dirs {
        match Run::open(dir)? {
            Run::Coords(r) => {
                let m = r.metrics()?;
                out.rows.push(Row::of_coords(&m, dir));
                out.records.extend(Figures::of_coords(&m, dir));
            }
            Run::Pixel(r) => {
                if let Some(m) = r.metrics()? {
                    out.rows.push(Row::of_pixel(&m, dir));
                    out.records.extend(Figures::of_pixel(&m, dir));
                }
            }
            Run::Score(r) => out.records.push(Figures::of_score(&r.metrics()?, dir)),
        }
    }
    out.rows.sort_by(|a, b| a.order.cmp(&b.order).then_with(|| a.source.cmp(&b.source)));
    Ok(out)
}

/// Table 1 (each row naming its run folder), then every model's predictions of the test
/// trials: the trained runs' protocol (c) beside the score runs of other models.
pub fn markdown(runs: &Runs) -> String {
    let mut s = String::new();
    if !runs.rows.is_empty() {
        s += &format!("{HEADER}\n");
        for r in &runs.rows {
            s += &format!("{}  <- {}\n", r.markdown(), r.source.display());
        }
    }
    let trials: Vec<&Figures> = runs.records.iter().filter(|r| r.protocol == Protocol::TestTrials).collect();
    if !trials.is_empty() {
        if !s.is_empty() {
            s += "\n";
        }
        s += "Predictions of each dataset's test trials (given the first `context` frames; pixel-hnn's models stepped as trained, other models by `pixel-hnn score`):\n\n";
        s += "| task | model | seed | context | valid prediction time, median (mean) | pixel MSE | latent map worst R^2 | SyMetric | run |\n|---|---|---|---|---|---|---|---|---|\n";
        let opt = |v: Option<String>| v.unwrap_or_else(|| "-".into());
        for r in trials {
            s += &format!(
                "| {} | {} | {} | {} | {} ({}) | {} | {} | {} | {} |\n",
                r.task,
                r.model,
                opt(r.seed.map(|v| v.to_string())),
                opt(r.context.map(|v| v.to_string())),
                opt(r.valid_prediction_time_median.map(|v| format!("{v:.1}"))),
                opt(r.valid_prediction_time_mean.map(|v| format!("{v:.1}"))),
                opt(r.pixel_mse.map(sci)),
                opt(r.latent_map_worst_r2.map(|v| format!("{v:.3}"))),
                opt(r.symetric.map(|v| if v { "1".into() } else { "0".into() })),
                r.run
            );
        }
    }
    s
}

/// The records as CSV: a header of the field names in their order, then a row each (RFC
/// 4180 quoting; an empty cell for a figure that does not apply; floats in their shortest
/// exact form).
pub fn records_csv<T: Serialize>(records: &[T]) -> String {
    let mut w = csv::Writer::from_writer(vec![]);
    for r in records {
        w.serialize(r).expect("records are flat structs");
    }
    String::from_utf8(w.into_inner().expect("writing to memory")).expect("UTF-8 fields")
}

/// The records as a JSON array of objects (`null` for a figure that does not apply).
pub fn records_json<T: Serialize>(records: &[T]) -> String {
    serde_json::to_string_pretty(records).expect("records serialise")
}

/// What `score` prints: the summary, then each trial's valid prediction time and pixel MSE.
pub fn score_markdown(m: &ScoreMetrics) -> String {
    let t = &m.test_trials;
    let mut s = format!(
        "| pixel {}, {} | given {} frames, predicting {} |\n|---|---|\n| valid prediction time (frames, threshold {}), median of {} trials | {:.1} |\n| valid prediction time, mean | {:.1} |\n| pixel MSE over the horizon | {} |\n",
        m.system.name(),
        m.model,
        t.context,
        t.predicted,
        t.vpt_threshold,
        t.trials.len(),
        t.valid_prediction_time_median,
        t.valid_prediction_time_mean,
        sci(t.pixel_mse)
    );
    if let Some(l) = &t.latent {
        s += &format!(
            "| latent map R^2 (test half), per coordinate | {} |\n",
            l.map.r2_test.iter().map(|r| format!("{r:.3}")).collect::<Vec<_>>().join(", ")
        );
        if let Some(y) = &l.symetric {
            s += &format!(
                "| SyMetric: order, worst R^2, symplectic | {}, {:.3}, {} |\n",
                y.order,
                y.r2_per_coordinate.iter().copied().fold(f64::INFINITY, f64::min),
                y.symplectic
            );
        }
    }
    s += "\n| trial | valid prediction time | pixel MSE |\n|---|---|---|\n";
    for x in &t.trials {
        s += &format!("| {} | {} | {} |\n", x.trial, x.valid_prediction_time, sci(x.pixel_mse));
    }
    s
}

fn sci(v: f64) -> String {
    format!("{v:.3e}")
}

fn paper_cell(f: Figure) -> String {
    match f.pm {
        Some(pm) => format!("{} +- {pm:.2e}", sci(f.mean)),
        None => sci(f.mean),
    }
}

/// A pixel run's metrics as a markdown table beside the paper's values (what `evaluate`
/// prints and REPORT.md shows; the paper's columns for the pendulum only); an ensemble's as
/// means with 95% intervals over its members, the claim member by member, and a row per
/// member. Energy figures are replaced by "n/a" where no affine latent map holds.
pub fn pixel_markdown(m: &PixelMetrics) -> String {
    let mut t = match &m.ensemble {
        None => single_markdown(m),
        Some(e) => ensemble_markdown(m, e),
    };
    if let Some(h) = m.head_to_head() {
        t += &format!(
            "\nTrajectory by trajectory ({}): the HNN is below the baseline on {} of {}{}.\n",
            h.basis.describe(),
            h.hnn_below,
            h.trajectories,
            if m.ensemble.is_some() { " (member, trajectory) pairs" } else { " trajectories" }
        );
    }
    if !m.maps_hold() {
        t += &format!(
            "\nNo affine latent -> (q, p) map holds (worst test R^2 {:.3} < {}), nor for every model SyMetric's polynomial map: the energy read through them means nothing and is not shown; compare pixel MSE, valid prediction time and the HNN's learned-H variation.\n",
            m.worst_r2(),
            crate::evaluate::MAP_R2_MIN
        );
    }
    if m.models.iter().any(|x| x.as_trained.is_some()) {
        t += &format!("\n{}\n", crate::evaluate::PROTOCOLS);
    }
    t
}

fn interval_cell(i: &Interval, fmt: &dyn Fn(f64) -> String) -> String {
    format!("{} [{}, {}]", fmt(i.mean), fmt(i.lo), fmt(i.hi))
}

/// The paper's (baseline | HNN) cells for the pendulum, dashes for the other systems.
fn paper_cells(m: &PixelMetrics) -> impl Fn(fn(paper::Values) -> paper::Pair) -> String {
    let values = (m.system == SystemKind::Pendulum).then(|| paper::Row::PixelPendulum.values());
    move |pick| match values {
        Some(v) => {
            let p = pick(v);
            format!("{} | {}", paper_cell(p.baseline), paper_cell(p.hnn))
        }
        None => "- | -".into(),
    }
}

/// The model columns of a run's table: the paper's pair (baseline, HNN) always, in the
/// paper's order, then every other family the run trained.
fn columns(present: &[FieldKind]) -> Vec<FieldKind> {
    let pair = crate::model::PAPER_PAIR;
    pair.into_iter().chain(FieldKind::ALL.iter().copied().filter(|k| !pair.contains(k) && present.contains(k))).collect()
}

/// A column's heading: the paper's "HNN", the other families by name.
fn heading(k: FieldKind) -> String {
    match k {
        FieldKind::Hnn => "HNN".into(),
        k => k.name().into(),
    }
}

fn r2_cell(m: &ModelMetrics) -> String {
    m.map.r2_test.iter().map(|r| format!("{r:.3}")).collect::<Vec<_>>().join(", ")
}

fn ensemble_markdown(metrics: &PixelMetrics, e: &EnsembleSummary) -> String {
    let (models, cfg) = (&metrics.models, &metrics.protocol);
    let get = |k: FieldKind| e.models.iter().find(|m| m.model == k);
    let cols = columns(&e.models.iter().map(|m| m.model).collect::<Vec<_>>());
    let both = |f: &dyn Fn(&ModelSummary) -> String| {
        cols.iter().map(|&k| get(k).map(f).unwrap_or_else(|| "-".into())).collect::<Vec<_>>().join(" | ")
    };
    let mapped = metrics.maps_hold();
    let energy = |f: &dyn Fn(&ModelSummary) -> String| if mapped { both(f) } else { vec!["n/a"; cols.len()].join(" | ") };
    let members = |k: FieldKind| get(k).map(|m| m.members).unwrap_or(0);
    let theirs = paper_cells(metrics);
    let seeds_text = crate::training::Seeds::describe(&e.seeds);
    let heads: Vec<String> = cols.iter().map(|&k| format!("{} ({} members)", heading(k), members(k))).collect();
    let mut t = format!(
        "| pixel {}, training seeds {seeds_text}: mean [95% interval] | {} | paper baseline (one seed) | paper HNN |\n|---|{}---|---|\n",
        metrics.system.name(),
        heads.join(" | "),
        "---|".repeat(cols.len())
    );
    t += &format!("| train loss | {} | {} |\n", both(&|m| interval_cell(&m.train_loss, &sci)), theirs(|v| v.train_loss));
    t += &format!("| test loss | {} | {} |\n", both(&|m| interval_cell(&m.test_loss, &sci)), theirs(|v| v.test_loss));
    t += &format!(
        "| energy MSE (trajectory seed {}) | {} | {} |\n",
        cfg.seed,
        energy(&|m| interval_cell(&m.energy_mse, &sci)),
        theirs(|v| v.energy_mse)
    );
    let eval_seeds = cfg.seeds.iter().map(|s| s.to_string()).collect::<Vec<_>>().join(",");
    t += &format!(
        "| energy MSE (mean of trajectories {eval_seeds}) | {} | - | - |\n",
        energy(&|m| interval_cell(&m.energy_mse_seeds_mean, &sci))
    );
    t += &format!("| pixel MSE over {} frames | {} | - | - |\n", cfg.frames, both(&|m| interval_cell(&m.pixel_mse, &sci)));
    t += &format!(
        "| valid prediction time (frames, threshold {}) | {} | - | - |\n",
        cfg.vpt_threshold,
        both(&|m| interval_cell(&m.valid_prediction_time, &|v| format!("{v:.1}")))
    );
    t += &protocol_rows(metrics, &cols);
    if let Some(c) = e.claim.as_ref().filter(|_| mapped) {
        let paper_ratio = match metrics.system {
            SystemKind::Pendulum => format!(" The paper, one seed: {:.0}x.", paper::Row::PixelPendulum.values().energy_mse.ratio()),
            _ => String::new(),
        };
        t += &format!(
            "\nThe claim, seed by seed: the HNN's energy error is below the baseline's on {} of {} members on trajectory seed {} (baseline / HNN ratio median {}x, quartiles {}x-{}x), and on {} of {} on the mean of trajectories {eval_seeds} (median {}x, quartiles {}x-{}x).{paper_ratio}\n",
            c.hnn_below, c.pairs, cfg.seed, short(c.ratio_median), short(c.ratio_q1), short(c.ratio_q3),
            c.seeds_hnn_below, c.pairs, short(c.seeds_ratio_median), short(c.seeds_ratio_q1), short(c.seeds_ratio_q3),
        );
    }
    if e.claim.is_some() {
        t += "\n| seed | baseline energy MSE | HNN energy MSE | ratio | baseline pixel MSE | HNN pixel MSE | baseline test loss | HNN test loss |\n|---|---|---|---|---|---|---|---|\n";
        for &seed in &e.seeds {
            let m = |k: FieldKind| models.iter().find(|x| x.model == k && x.seed == seed);
            let f = |k: FieldKind, v: &dyn Fn(&ModelMetrics) -> f64| m(k).map(|x| sci(v(x))).unwrap_or_else(|| "diverged".into());
            let ratio = match (m(FieldKind::Baseline), m(FieldKind::Hnn)) {
                (Some(b), Some(h)) if mapped => format!("{}x", short(b.energy_mse / h.energy_mse)),
                _ => "-".into(),
            };
            let e = |k: FieldKind| if mapped { f(k, &|x| x.energy_mse) } else { "n/a".into() };
            t += &format!(
                "| {seed} | {} | {} | {ratio} | {} | {} | {} | {} |\n",
                e(FieldKind::Baseline),
                e(FieldKind::Hnn),
                f(FieldKind::Baseline, &|x| x.pixel_mse),
                f(FieldKind::Hnn, &|x| x.pixel_mse),
                f(FieldKind::Baseline, &|x| x.test_loss.mean),
                f(FieldKind::Hnn, &|x| x.test_loss.mean)
            );
        }
    }
    t
}

/// The rows of protocol (a), each model rolled out with the step it was trained with, and
/// the rows both protocols share that are new with it: a value per model (a single run) or
/// the mean and 95% interval over an ensemble's members, and for an ensemble the seeds on
/// which each family's valid prediction time (as trained, median over the trajectories) is
/// the longest.
fn protocol_rows(metrics: &PixelMetrics, cols: &[FieldKind]) -> String {
    let cfg = &metrics.protocol;
    let ensemble = metrics.ensemble.is_some();
    let members = |k: FieldKind| metrics.models.iter().filter(move |m| m.model == k);
    let cell = |k: FieldKind, f: &dyn Fn(&ModelMetrics) -> Option<f64>, fmt: &dyn Fn(f64) -> String| -> String {
        let v: Vec<f64> = members(k).filter_map(f).collect();
        match v.len() {
            0 => "-".into(),
            1 if !ensemble => fmt(v[0]),
            _ => interval_cell(&Interval::of(&v), fmt),
        }
    };
    let row = |name: String, f: &dyn Fn(&ModelMetrics) -> Option<f64>, fmt: &dyn Fn(f64) -> String| -> String {
        format!("| {name} | {} | - | - |\n", cols.iter().map(|&k| cell(k, f, fmt)).collect::<Vec<_>>().join(" | "))
    };
    let frames = |v: f64| format!("{v:.1}");
    let count = |v: f64| format!("{v:.0}");
    let mut t = String::new();
    let n = cfg.seeds.len();
    t += &row(format!("(b) valid prediction time, median of {n} trajectories"), &|m| Some(m.valid_prediction_time_median), &frames);
    t += &row(format!("(b) rollouts leaving the training latents, of {n}"), &|m| Some(m.left_region as f64), &count);
    let steps: Vec<String> = cols
        .iter()
        .map(|&k| {
            members(k)
                .next()
                .and_then(|m| m.as_trained.as_ref())
                .map(|a| format!("{} x{}", a.integrator.name(), a.horizon))
                .unwrap_or_else(|| "-".into())
        })
        .collect();
    t += &format!("| **(a) as trained**: step x training horizon | {} | - | - |\n", steps.join(" | "));
    let a = |f: fn(&crate::evaluate::AsTrained) -> Option<f64>| move |m: &ModelMetrics| m.as_trained.as_ref().and_then(f);
    t += &row(format!("(a) valid prediction time, median of {n} trajectories"), &a(|x| Some(x.valid_prediction_time_median)), &frames);
    t += &row(format!("(a) valid prediction time backward, median of {n}"), &a(|x| x.valid_prediction_time_backward_median), &frames);
    t += &row(format!("(a) pixel MSE over {} frames", cfg.frames), &a(|x| Some(x.pixel_mse)), &sci);
    if metrics.maps_hold() {
        t += &row(format!("(a) energy MSE (mean of {n} trajectories)"), &a(|x| Some(x.energy_mse_seeds_mean)), &sci);
    }
    t += &row(format!("(a) rollouts leaving the training latents, of {n}"), &a(|x| Some(x.left_region as f64)), &count);
    let sy = |f: fn(&crate::evaluate::symetric::Symetric) -> Option<f64>| move |m: &ModelMetrics| m.symetric.as_ref().and_then(f);
    t += &row("SyMetric: polynomial map's order (at most 5)".into(), &sy(|x| Some(x.order as f64)), &count);
    t += &row(
        "SyMetric: worst test R^2 of latent -> state".into(),
        &sy(|x| Some(x.r2_per_coordinate.iter().copied().fold(f64::INFINITY, f64::min))),
        &|v| format!("{v:.3}"),
    );
    t += &row("SyMetric: symplectic (1) or not (0); a mean over members".into(), &sy(|x| Some(x.symplectic as u8 as f64)), &|v| {
        format!("{v:.2}")
    });
    let readings: Vec<String> = cols
        .iter()
        .map(|&k| members(k).next().map(|m| format!("{:?}", m.energy_reading).to_lowercase()).unwrap_or_else(|| "-".into()))
        .collect();
    t += &format!("| energy read through (affine, else polynomial map) | {} | - | - |\n", readings.join(" | "));
    if let Some(e) = &metrics.ensemble {
        let vpt = |k: FieldKind, seed: u64| {
            metrics
                .models
                .iter()
                .find(|m| m.model == k && m.seed == seed)
                .and_then(|m| m.as_trained.as_ref())
                .map(|a| a.valid_prediction_time_median)
        };
        let wins: Vec<String> = cols
            .iter()
            .map(|&k| {
                let won = e
                    .seeds
                    .iter()
                    .filter(|&&seed| {
                        let best = cols.iter().filter_map(|&o| vpt(o, seed)).fold(f64::NEG_INFINITY, f64::max);
                        vpt(k, seed).is_some_and(|v| v >= best)
                    })
                    .count();
                format!("{won} of {}", e.seeds.len())
            })
            .collect();
        t +=
            &format!("| (a) seeds where its valid prediction time is the longest (ties count for each) | {} | - | - |\n", wins.join(" | "));
    }
    t
}

fn single_markdown(metrics: &PixelMetrics) -> String {
    let cfg = &metrics.protocol;
    let get = |k: FieldKind| metrics.models.iter().find(|m| m.model == k);
    let cols = columns(&metrics.models.iter().map(|m| m.model).collect::<Vec<_>>());
    let both = |f: &dyn Fn(&ModelMetrics) -> String| {
        cols.iter().map(|&k| get(k).map(f).unwrap_or_else(|| "-".into())).collect::<Vec<_>>().join(" | ")
    };
    let mapped = metrics.maps_hold();
    let energy = |f: &dyn Fn(&ModelMetrics) -> String| if mapped { both(f) } else { vec!["n/a"; cols.len()].join(" | ") };
    let theirs = paper_cells(metrics);
    let mut t = String::new();
    let heads: Vec<String> = cols.iter().map(|&k| heading(k)).collect();
    t += &format!(
        "| pixel {} | {} | paper baseline | paper HNN |\n|---|{}---|---|\n",
        metrics.system.name(),
        heads.join(" | "),
        "---|".repeat(cols.len())
    );
    t += &format!(
        "| train loss | {} | {} |\n",
        both(&|m| format!("{} +- {:.2e}", sci(m.train_loss.mean), m.train_loss.sem)),
        theirs(|v| v.train_loss)
    );
    t += &format!(
        "| test loss | {} | {} |\n",
        both(&|m| format!("{} +- {:.2e}", sci(m.test_loss.mean), m.test_loss.sem)),
        theirs(|v| v.test_loss)
    );
    t += &format!(
        "| energy MSE (seed {}) | {} | {} |\n",
        cfg.seed,
        energy(&|m| format!("{} +- {:.2e}", sci(m.energy_mse), m.energy_mse_pm)),
        theirs(|v| v.energy_mse)
    );
    let seeds = cfg.seeds.iter().map(|s| s.to_string()).collect::<Vec<_>>().join(",");
    t += &format!(
        "| energy MSE (seeds {seeds}: mean, std) | {} | - | - |\n",
        energy(&|m| format!("{} ({:.1e})", sci(m.energy_mse_seeds_mean), m.energy_mse_seeds_std))
    );
    t += &format!("| pixel MSE over {} frames | {} | - | - |\n", cfg.frames, both(&|m| sci(m.pixel_mse)));
    t += &format!(
        "| valid prediction time (frames, threshold {}) | {} | - | - |\n",
        cfg.vpt_threshold,
        both(&|m| format!("{:.1}", m.valid_prediction_time))
    );
    t += &format!("| R^2 of latent -> (q, p), test set | {} | - | - |\n", both(&r2_cell));
    t += &format!(
        "| learned-H variation along the rollout (seeds {seeds}) | {} | - | - |\n",
        both(&|m| m.learned_h_variation.map(|v| format!("{v:.3}")).unwrap_or_else(|| "-".into()))
    );
    t += &protocol_rows(metrics, &cols);
    if let (Some(b), Some(h), true) = (get(FieldKind::Baseline), get(FieldKind::Hnn), mapped) {
        let paper_ratio = match metrics.system {
            SystemKind::Pendulum => format!("; the paper: {:.0}x", paper::Row::PixelPendulum.values().energy_mse.ratio()),
            _ => String::new(),
        };
        t += &format!(
            "\nEnergy MSE ratio baseline / HNN: {:.1}x on seed {} ({:.1}x on the mean of seeds {seeds}){paper_ratio}.\n",
            b.energy_mse / h.energy_mse,
            cfg.seed,
            b.energy_mse_seeds_mean / h.energy_mse_seeds_mean,
        );
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_numbers_keep_three_significant_digits() {
        assert_eq!(short(37.0), "37");
        assert_eq!(short(0.38), "0.38");
        assert_eq!(short(63000.0), "63000");
        assert_eq!(short(9.2748), "9.27");
        assert_eq!(short(0.17731), "0.177");
        assert_eq!(short(2.7), "2.7");
    }

    #[test]
    fn a_row_prints_ours_beside_the_papers_in_the_rows_unit() {
        let c = Cell::one;
        let row = Row {
            task: Some(paper::Row::Spring),
            order: (0, 0),
            label: "spring".into(),
            train_loss: (Some(c(0.0394)), Some(c(0.0389))),
            test_loss: (Some(c(0.0382)), None),
            energy_mse: (Some(c(0.0317)), Some(c(0.0000224))),
            claim: None,
            energy_not_shown: None,
            head_to_head: None,
            source: "runs/s".into(),
        };
        assert_eq!(
            row.markdown(),
            "| spring (x1e3) | 39.400 / 38.900 | 38.200 / - | 31.700 / 0.022 | 1415x | - | 37 / 37 | 37 / 36 | 170 / 0.38 |"
        );
        // A pixel system the paper did not run, whose latent map does not hold: no energy
        // figures, no paper columns, the head-to-head on pixel MSE.
        let other = Row {
            task: None,
            order: (5, 3),
            label: "pixel double-pendulum".into(),
            energy_not_shown: Some("n/a (map R^2 0.41)".into()),
            head_to_head: Some(HeadToHead { basis: crate::evaluate::Basis::PixelMse, hnn_below: 4, trajectories: 5 }),
            ..row
        };
        assert_eq!(
            other.markdown(),
            "| pixel double-pendulum (x1e3) | 39.400 / 38.900 | 38.200 / - | n/a (map R^2 0.41) | - | 4/5 (pixel MSE) | - | - | - |"
        );
    }
}
