//! One run's tables, as `evaluate` and `score` print them and REPORT.md holds them: a pixel
//! run's (a single model's, or an ensemble's intervals), each protocol's rows, beside the
//! paper's values; and a score run's.

use super::table::{sci, short};
use crate::evaluate::{EnsembleSummary, ModelMetrics, ModelSummary};
use crate::model::FieldKind;
use crate::paper::{self, Figure};
use crate::run::{PixelMetrics, ScoreMetrics};
use crate::systems::SystemKind;
use crate::util::choice::Choice;
use crate::util::stats::Interval;

/// What `score` prints: the summary, then each trial's valid prediction time and pixel MSE.
pub fn score_markdown(m: &ScoreMetrics) -> String {
    let t = &m.test_trials;
    let mut s = format!(
        "| pixel {}, {} | given {} frames, predicting {} |\n|---|---|\n| valid prediction time (ours: frames from the first predicted one, threshold {}), median of {} trials | {:.1} |\n| valid prediction time, mean | {:.1} |\n| pixel MSE over the horizon | {} |\n",
        m.system,
        m.model,
        t.context,
        t.predicted,
        t.vpt_threshold,
        t.trials.len(),
        t.valid_prediction_time_median,
        t.valid_prediction_time_mean,
        sci(t.pixel_mse)
    );
    if let Some(b) = &t.benchmark_vpt {
        let back = b.backward_median.map_or(", no backward predictions".into(), |back| format!(", backward {back:.1}"));
        s += &format!(
            "| the benchmark's VPT (DeepMind's: frames after the training window of {} frames, median; forward {:.1}{back}) | {:.1} |\n",
            b.window, b.forward_median, b.vpt
        );
    }
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
        "| {}, training seeds {seeds_text}: mean [95% interval] | {} | paper baseline (one seed) | paper HNN |\n|---|{}---|---|\n",
        metrics.task(),
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
        "| {} | {} | paper baseline | paper HNN |\n|---|{}---|---|\n",
        metrics.task(),
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
