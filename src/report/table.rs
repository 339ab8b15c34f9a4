//! Table 1: the project's figures beside the paper's ([`crate::paper`]), one row per task
//! and one pixel row per system, collected from run folders, and every model's figures
//! ([`crate::report::figures`]) as CSV and JSON. One run's longer tables are in
//! [`crate::report::run_tables`].

use serde::Serialize;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::evaluate::{Claim, HeadToHead, ModelMetrics, ModelSummary};
use crate::model::FieldKind;
use crate::paper::{self};
use crate::report::figures::{Figures, Protocol};
use crate::run::{CoordsMetrics, PixelMetrics, Run};
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
            label: m.task(),
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

/// A figure in scientific notation, three decimals.
pub fn sci(v: f64) -> String {
    format!("{v:.3e}")
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
        s += "| task | model | seed | context | valid prediction time (ours: from the first predicted frame), median (mean) | the benchmark's VPT (after the training window of W frames, forward and backward averaged), W | pixel MSE | latent map worst R^2 | SyMetric | run |\n|---|---|---|---|---|---|---|---|---|---|\n";
        let opt = |v: Option<String>| v.unwrap_or_else(|| "-".into());
        for r in trials {
            s += &format!(
                "| {} | {} | {} | {} | {} ({}) | {} | {} | {} | {} | {} |\n",
                r.task,
                r.model,
                opt(r.seed.map(|v| v.to_string())),
                opt(r.context.map(|v| v.to_string())),
                opt(r.valid_prediction_time_median.map(|v| format!("{v:.1}"))),
                opt(r.valid_prediction_time_mean.map(|v| format!("{v:.1}"))),
                opt(r.benchmark_vpt.zip(r.benchmark_vpt_window).map(|(v, w)| format!("{v:.1}, W = {w}"))),
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
