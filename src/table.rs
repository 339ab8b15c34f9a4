//! Table 1: the project's figures beside the paper's ([`crate::paper`]), one row per task,
//! collected from run folders; and the pixel row's longer table that `evaluate` prints.

use std::path::{Path, PathBuf};

use crate::choice::Choice;
use crate::error::{Error, Result};
use crate::evaluate::{EvalConfig, ModelMetrics};
use crate::model::FieldKind;
use crate::paper::{self, Figure};
use crate::run::{CoordsMetrics, PixelMetrics, Run};

pub const HEADER: &str = "| task | train loss base / HNN | test loss base / HNN | energy base / HNN | energy ratio | paper train | paper test | paper energy |\n|---|---|---|---|---|---|---|---|";

/// Our (baseline, HNN) value of a figure, in absolute units; `None` where a model is absent.
pub type Pair = (Option<f64>, Option<f64>);

/// One row of Table 1 as measured on a run.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    pub task: paper::Row,
    /// How the task is named in the table (`spring`, `pixel pendulum`, ...).
    pub label: String,
    pub train_loss: Pair,
    pub test_loss: Pair,
    pub energy_mse: Pair,
    /// The run folder it was read from.
    pub source: PathBuf,
}

fn pick<T>(models: &[T], kind: FieldKind, model_of: impl Fn(&T) -> FieldKind, value: impl Fn(&T) -> f64) -> Option<f64> {
    models.iter().find(|m| model_of(m) == kind).map(value)
}

impl Row {
    /// The row of a coordinate run.
    pub fn of_coords(m: &CoordsMetrics, source: &Path) -> Row {
        let pair = |f: &dyn Fn(&crate::coords::TaskMetrics) -> f64| {
            (pick(&m.models, FieldKind::Baseline, |x| x.model, f), pick(&m.models, FieldKind::Hnn, |x| x.model, f))
        };
        Row {
            task: m.task.paper_row(),
            label: m.task.name().to_string(),
            train_loss: pair(&|x| x.train_loss.mean),
            test_loss: pair(&|x| x.test_loss.mean),
            energy_mse: pair(&|x| x.energy_mse.mean),
            source: source.to_path_buf(),
        }
    }

    /// The row of an evaluated pixel run.
    pub fn of_pixel(m: &PixelMetrics, source: &Path) -> Row {
        let pair = |f: &dyn Fn(&ModelMetrics) -> f64| {
            (pick(&m.models, FieldKind::Baseline, |x| x.model, f), pick(&m.models, FieldKind::Hnn, |x| x.model, f))
        };
        Row {
            task: paper::Row::PixelPendulum,
            label: "pixel pendulum".into(),
            train_loss: pair(&|x| x.train_loss.mean),
            test_loss: pair(&|x| x.test_loss.mean),
            energy_mse: pair(&|x| x.energy_mse),
            source: source.to_path_buf(),
        }
    }

    /// Baseline energy error over the HNN's.
    pub fn energy_ratio(&self) -> Option<f64> {
        Some(self.energy_mse.0? / self.energy_mse.1?)
    }

    /// The row in the layout of [`HEADER`], in the row's unit.
    pub fn markdown(&self) -> String {
        let u = self.task.unit();
        let ours = |p: Pair| {
            let f = |v: Option<f64>| v.map(|v| format!("{:.3}", v * u)).unwrap_or_else(|| "-".into());
            format!("{} / {}", f(p.0), f(p.1))
        };
        let theirs = |p: paper::Pair| format!("{} / {}", short(p.baseline.mean * u), short(p.hnn.mean * u));
        let paper = self.task.values();
        format!(
            "| {} (x1e{}) | {} | {} | {} | {} | {} | {} | {} |",
            self.label,
            u.log10().round() as i32,
            ours(self.train_loss),
            ours(self.test_loss),
            ours(self.energy_mse),
            self.energy_ratio().map(|r| format!("{r:.0}x")).unwrap_or_else(|| "-".into()),
            theirs(paper.train_loss),
            theirs(paper.test_loss),
            theirs(paper.energy_mse),
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

/// The Table 1 rows of every evaluated run directly under `runs` (pixel runs with
/// `metrics.json`, coordinate runs), in the paper's order; folders that hold no run, or a
/// pixel run not yet evaluated, are passed over.
pub fn collect(runs: &Path) -> Result<Vec<Row>> {
    let entries = std::fs::read_dir(runs).map_err(|e| Error::input(runs, format!("cannot be read ({e})")))?;
    let mut dirs: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.join(crate::run::CONFIG).exists()).collect();
    dirs.sort();
    let mut rows = vec![];
    for dir in &dirs {
        match Run::open(dir)? {
            Run::Coords(r) => rows.push(Row::of_coords(&r.metrics()?, dir)),
            Run::Pixel(r) => {
                if let Some(m) = r.metrics()? {
                    rows.push(Row::of_pixel(&m, dir));
                }
            }
        }
    }
    rows.sort_by_key(|r| r.task);
    Ok(rows)
}

/// The rows as a markdown table, each naming its run folder.
pub fn markdown(rows: &[Row]) -> String {
    let mut s = format!("{HEADER}\n");
    for r in rows {
        s += &format!("{}  <- {}\n", r.markdown(), r.source.display());
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
/// prints and REPORT.md shows).
pub fn pixel_markdown(metrics: &[ModelMetrics], cfg: &EvalConfig) -> String {
    let get = |k: FieldKind| metrics.iter().find(|m| m.model == k);
    let cell = |k: FieldKind, f: &dyn Fn(&ModelMetrics) -> String| get(k).map(f).unwrap_or_else(|| "-".into());
    let both = |f: &dyn Fn(&ModelMetrics) -> String| format!("{} | {}", cell(FieldKind::Baseline, f), cell(FieldKind::Hnn, f));
    let paper = paper::Row::PixelPendulum.values();
    let theirs = |p: paper::Pair| format!("{} | {}", paper_cell(p.baseline), paper_cell(p.hnn));
    let mut t = String::new();
    t += "| pixel pendulum | baseline | HNN | paper baseline | paper HNN |\n|---|---|---|---|---|\n";
    t += &format!(
        "| train loss | {} | {} |\n",
        both(&|m| format!("{} +- {:.2e}", sci(m.train_loss.mean), m.train_loss.sem)),
        theirs(paper.train_loss)
    );
    t += &format!(
        "| test loss | {} | {} |\n",
        both(&|m| format!("{} +- {:.2e}", sci(m.test_loss.mean), m.test_loss.sem)),
        theirs(paper.test_loss)
    );
    t += &format!(
        "| energy MSE (seed {}) | {} | {} |\n",
        cfg.seed,
        both(&|m| format!("{} +- {:.2e}", sci(m.energy_mse), m.energy_mse_pm)),
        theirs(paper.energy_mse)
    );
    let seeds = cfg.seeds.iter().map(|s| s.to_string()).collect::<Vec<_>>().join(",");
    t += &format!(
        "| energy MSE (seeds {seeds}: mean, std) | {} | - | - |\n",
        both(&|m| format!("{} ({:.1e})", sci(m.energy_mse_seeds_mean), m.energy_mse_seeds_std))
    );
    t += &format!("| pixel MSE over {} frames | {} | - | - |\n", cfg.frames, both(&|m| sci(m.pixel_mse)));
    t += &format!(
        "| valid prediction time (frames, threshold {}) | {} | - | - |\n",
        cfg.vpt_threshold,
        both(&|m| format!("{:.1}", m.valid_prediction_time))
    );
    t += &format!(
        "| R^2 of latent -> (q, p), test set | {} | - | - |\n",
        both(&|m| format!("{:.3}, {:.3}", m.map.r2_test[0], m.map.r2_test[1]))
    );
    if let (Some(b), Some(h)) = (get(FieldKind::Baseline), get(FieldKind::Hnn)) {
        t += &format!(
            "\nEnergy MSE ratio baseline / HNN: {:.1}x on seed {} ({:.1}x on the mean of seeds {seeds}); the paper: {:.0}x.\n",
            b.energy_mse / h.energy_mse,
            cfg.seed,
            b.energy_mse_seeds_mean / h.energy_mse_seeds_mean,
            paper.energy_mse.ratio()
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
        let row = Row {
            task: paper::Row::Spring,
            label: "spring".into(),
            train_loss: (Some(0.0394), Some(0.0389)),
            test_loss: (Some(0.0382), None),
            energy_mse: (Some(0.0317), Some(0.0000224)),
            source: "runs/s".into(),
        };
        assert_eq!(
            row.markdown(),
            "| spring (x1e3) | 39.400 / 38.900 | 38.200 / - | 31.700 / 0.022 | 1415x | 37 / 37 | 37 / 36 | 170 / 0.38 |"
        );
    }
}
