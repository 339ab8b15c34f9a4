//! `sweep table`: one table per system of every metric over the done points, each a mean
//! with its 95% interval over the training seeds, the HNN's advantage (baseline / HNN for
//! errors, HNN / baseline for the valid prediction time), and on how many
//! seeds the HNN wins; and a plot of the energy ratio per system with the seeds' spread.
//! Reads only each point's small `state.json` (the runner copies its figures there), so a
//! thousand points take well under a second.

use std::collections::BTreeMap;
use std::path::Path;

use super::plan::{plain, Manifest};
use super::point::{PointState, State};
use crate::error::{Error, Result};
use crate::evaluate::MAP_R2_MIN;
use crate::model::FieldKind;
use crate::report::figures::{Figures, Protocol};
use crate::report::table::short;
use crate::run::JsonFile;
use crate::systems::SystemKind;
use crate::util::choice::Choice;
use crate::util::stats::Interval;

/// One group of points: a system and the values of the setting axes; its members' figures,
/// each under every protocol it was scored by.
#[derive(Clone, Debug, Default)]
pub struct Group {
    pub system: Option<SystemKind>,
    /// `train.lr = 0.001, ...` (empty without setting axes).
    pub settings: String,
    pub members: Vec<Figures>,
    /// The dataset of the group's first point (in the sweep folder).
    pub dataset: Option<std::path::PathBuf>,
    /// Other models' predictions of the same dataset's test trials (`score` runs: models
    /// pixel-hnn did not train).
    pub external: Vec<Figures>,
}

/// What the table counts besides the figures.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Tally {
    pub done: usize,
    pub diverged: usize,
    pub other: usize,
}

/// The done points' members, grouped by system and settings, in the grid's order.
pub fn collect(dir: &Path) -> Result<(Manifest, Vec<Group>, Tally)> {
    let manifest = Manifest::open(dir)?;
    let states: Vec<Option<PointState>> = {
        use rayon::prelude::*;
        manifest.points.par_iter().map(|p| PointState::load_if_present(&super::point_dir(dir, p.index))).collect::<Result<_>>()?
    };
    let mut groups: BTreeMap<(SystemKind, usize), Group> = BTreeMap::new();
    let mut order: Vec<String> = vec![];
    let mut tally = Tally::default();
    for (p, st) in manifest.points.iter().zip(states) {
        match st.as_ref().map(|s| s.state) {
            Some(State::Done) => tally.done += 1,
            Some(State::Diverged) => {
                tally.diverged += 1;
                continue;
            }
            _ => {
                tally.other += 1;
                continue;
            }
        }
        let settings = p.setting_coords().iter().map(|(k, v)| format!("{k} = {}", plain(v))).collect::<Vec<_>>().join(", ");
        let k = order.iter().position(|s| *s == settings).unwrap_or_else(|| {
            order.push(settings.clone());
            order.len() - 1
        });
        let dataset = manifest.datasets.get(p.dataset).map(|d| dir.join(&d.file));
        let g = groups.entry((p.system, k)).or_insert_with(|| Group {
            system: Some(p.system),
            settings,
            members: vec![],
            dataset,
            external: vec![],
        });
        g.members.extend(st.expect("done").members);
    }
    Ok((manifest, groups.into_values().collect(), tally))
}

/// A metric of the table: the protocol and figure it reads, and whether lower is better.
struct Metric {
    name: &'static str,
    protocol: Protocol,
    get: fn(&Figures) -> Option<f64>,
    lower_is_better: bool,
    /// Read through the latent map: shown only where every member's map holds.
    mapped: bool,
    fmt: fn(f64) -> String,
}

const fn metric(name: &'static str, protocol: Protocol, get: fn(&Figures) -> Option<f64>, lower_is_better: bool, mapped: bool) -> Metric {
    Metric { name, protocol, get, lower_is_better, mapped, fmt: if lower_is_better { sci } else { frames } }
}

const METRICS: [Metric; 13] = [
    metric("train loss", Protocol::Paper, |m| m.train_loss, true, false),
    metric("test loss", Protocol::Paper, |m| m.test_loss, true, false),
    metric("energy MSE (trajectory seed 1)", Protocol::Paper, |m| m.energy_mse, true, true),
    metric("energy MSE (mean of the trajectories)", Protocol::Paper, |m| m.energy_mse_seeds_mean, true, true),
    metric("pixel MSE over the rollout", Protocol::Paper, |m| m.pixel_mse, true, false),
    metric("valid prediction time (frames)", Protocol::Paper, |m| m.valid_prediction_time_mean, false, false),
    metric("learned-H variation (HNN)", Protocol::Paper, |m| m.learned_h_variation, true, false),
    metric(TRIALS_VPT, Protocol::TestTrials, |m| m.valid_prediction_time_median, false, false),
    metric(TRIALS_MSE, Protocol::TestTrials, |m| m.pixel_mse, true, false),
    metric(AS_TRAINED_VPT, Protocol::AsTrained, |m| m.valid_prediction_time_median, false, false),
    metric(AS_TRAINED_VPT_BACKWARD, Protocol::AsTrained, |m| m.valid_prediction_time_backward_median, false, false),
    metric("(a) energy MSE (mean of the trajectories)", Protocol::AsTrained, |m| m.energy_mse_seeds_mean, true, true),
    metric("(a) pixel MSE over the rollout", Protocol::AsTrained, |m| m.pixel_mse, true, false),
];

/// Protocol (a)'s valid prediction times, each member's median over the fresh trajectories:
/// what the study's charts show.
pub const AS_TRAINED_VPT: &str = "(a) valid prediction time forward (frames, median of the trajectories)";
pub const AS_TRAINED_VPT_BACKWARD: &str = "(a) valid prediction time backward (frames, median of the trajectories)";

/// The test trials' figures: rows of every model (protocol c), and of other models'
/// predictions of the same trials.
const TRIALS_VPT: &str = "valid prediction time on the test trials (frames, median over the trials)";
const TRIALS_MSE: &str = "pixel MSE on the test trials";

fn cell(i: &Interval, fmt: fn(f64) -> String) -> String {
    if i.n == 0 {
        "-".into()
    } else {
        format!("{} [{}, {}]", fmt(i.mean), fmt(i.lo), fmt(i.hi))
    }
}

fn sci(v: f64) -> String {
    format!("{v:.3e}")
}

fn frames(v: f64) -> String {
    format!("{v:.1}")
}

/// The figures of family `kind` under `protocol`.
fn of(members: &[Figures], kind: FieldKind, protocol: Protocol) -> Vec<&Figures> {
    members.iter().filter(|f| f.protocol == protocol && f.model == kind.name()).collect()
}

/// The seeds both models have under `protocol`, and each model's value of `get` on them.
fn paired(members: &[Figures], protocol: Protocol, get: fn(&Figures) -> Option<f64>) -> Vec<(f64, f64)> {
    let rows: Vec<(FieldKind, u64, &Figures)> =
        members.iter().filter(|f| f.protocol == protocol).filter_map(|f| Some((FieldKind::from_name(&f.model)?, f.seed?, f))).collect();
    let mut seeds: Vec<u64> = rows.iter().filter(|(k, _, _)| *k == FieldKind::Hnn).map(|(_, s, _)| *s).collect();
    seeds.sort();
    seeds.dedup();
    crate::model::paper_pairs(&rows, seeds, |(k, s, _)| (*k, *s))
        .into_iter()
        .filter_map(|(b, h)| Some((get(b.2)?, get(h.2)?)))
        .filter(|(b, h)| b.is_finite() && h.is_finite())
        .collect()
}

/// The figures under `protocol`.
fn of_protocol(members: &[Figures], protocol: Protocol) -> impl Iterator<Item = &Figures> {
    members.iter().filter(move |m| m.protocol == protocol)
}

/// Whether every member's latent map holds (the paper's protocol's map).
fn maps_hold(members: &[Figures]) -> bool {
    of_protocol(members, Protocol::Paper).all(|m| m.latent_map_worst_r2.is_none_or(|r| r >= MAP_R2_MIN))
}

/// The group's table.
pub fn group_markdown(g: &Group) -> String {
    let [b0, h0] = crate::model::PAPER_PAIR;
    let seeds = |kind: FieldKind| of(&g.members, kind, Protocol::Paper).len();
    let mapped = maps_hold(&g.members);
    let mut t = format!(
        "| metric | baseline ({} seeds): mean [95% interval] | HNN ({} seeds) | HNN's advantage (above 1: HNN better) | HNN wins (seeds) |\n|---|---|---|---|---|\n",
        seeds(b0),
        seeds(h0)
    );
    for m in &METRICS {
        let values = |kind: FieldKind| of(&g.members, kind, m.protocol).iter().filter_map(|x| (m.get)(x)).collect::<Vec<f64>>();
        let (b, h) = (Interval::of(&values(b0)), Interval::of(&values(h0)));
        if b.n == 0 && h.n == 0 {
            continue;
        }
        if m.mapped && !mapped {
            t += &format!("| {} | n/a | n/a | - | - |\n", m.name);
            continue;
        }
        let pairs = paired(&g.members, m.protocol, m.get);
        let wins = pairs.iter().filter(|(b, h)| if m.lower_is_better { h < b } else { h > b }).count();
        // baseline / HNN for errors, HNN / baseline for what is better higher.
        let ratio = if m.lower_is_better { b.mean / h.mean } else { h.mean / b.mean };
        let ratio = if b.n > 0 && h.n > 0 && ratio.is_finite() { format!("{}x", short(ratio)) } else { "-".into() };
        let wins = if pairs.is_empty() { "-".into() } else { format!("{wins}/{}", pairs.len()) };
        t += &format!("| {} | {} | {} | {ratio} | {wins} |\n", m.name, cell(&b, m.fmt), cell(&h, m.fmt));
    }
    if !g.external.is_empty() {
        t += "\nOther models' predictions of the same dataset's test trials (`pixel-hnn score`), beside the rows above:\n\n| model | valid prediction time on the test trials (frames, median) | pixel MSE on the test trials | run |\n|---|---|---|---|\n";
        for e in &g.external {
            let (vpt, mse) = (e.valid_prediction_time_median.unwrap_or(f64::NAN), e.pixel_mse.unwrap_or(f64::NAN));
            t += &format!("| {} | {vpt:.1} | {} | {} |\n", e.model, sci(mse), e.run);
        }
    }
    if !mapped {
        let worst = of_protocol(&g.members, Protocol::Paper).filter_map(|m| m.latent_map_worst_r2).fold(f64::INFINITY, f64::min);
        t += &format!(
            "\nNo affine latent -> (q, p) map holds for every seed (worst test R^2 {worst:.3} < {MAP_R2_MIN}): energy figures are not shown; compare pixel MSE.\n"
        );
    }
    t
}

/// Per-seed baseline / HNN ratios of the figure a system's models are compared on: the
/// energy error over the trajectories where every map holds, else the pixel error.
pub fn seed_ratios(g: &Group) -> (Vec<f64>, &'static str) {
    if maps_hold(&g.members) && of_protocol(&g.members, Protocol::Paper).any(|m| m.energy_mse_seeds_mean.is_some()) {
        (paired(&g.members, Protocol::Paper, |m| m.energy_mse_seeds_mean).iter().map(|(b, h)| b / h).collect(), "energy")
    } else {
        (paired(&g.members, Protocol::Paper, |m| m.pixel_mse).iter().map(|(b, h)| b / h).collect(), "pixel")
    }
}

/// The whole table: a section per system (and per setting group).
pub fn markdown(m: &Manifest, groups: &[Group], tally: &Tally) -> String {
    let mut s = format!("# Sweep {}\n\n", m.name);
    s += &format!(
        "{} points: {} done, {} diverged, {} not done (not counted). Each figure: the mean over the training seeds with its 95% interval (percentile bootstrap of the mean, {} resamples); ratios are of the means; a seed's win compares the HNN with the baseline of the same seed.\n",
        m.points.len(),
        tally.done,
        tally.diverged,
        tally.other,
        crate::util::stats::BOOTSTRAP_RESAMPLES
    );
    for g in groups {
        let system = g.system.map(|k| k.name()).unwrap_or("?");
        s += &format!("\n## pixel {system}{}\n\n", if g.settings.is_empty() { String::new() } else { format!(", {}", g.settings) });
        s += &group_markdown(g);
    }
    s
}

/// One aggregate of `sweep table --format csv|json`: a figure of one model over one group's
/// members (its seeds), as the Markdown table's cell shows it.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct AggregateRecord {
    pub system: String,
    /// The group's setting axes (`train.lr = 0.001, ...`; empty without them).
    pub settings: String,
    pub model: String,
    pub figure: &'static str,
    /// Members with the figure.
    pub members: usize,
    pub mean: f64,
    /// The 95% interval of the mean (percentile bootstrap over the members).
    pub lo: f64,
    pub hi: f64,
    /// Whether the figure is read through a latent map that holds for every member (an
    /// energy where it does not is left out, as in the Markdown table).
    pub mapped: bool,
}

/// Every group's figures, model by model (the paper's pair first, then the other families).
pub fn records(groups: &[Group]) -> Vec<AggregateRecord> {
    let mut out = vec![];
    for g in groups {
        let mapped = maps_hold(&g.members);
        for kind in FieldKind::ALL {
            if !g.members.iter().any(|m| m.model == kind.name()) {
                continue;
            }
            for m in &METRICS {
                let values: Vec<f64> = of(&g.members, *kind, m.protocol).iter().filter_map(|x| (m.get)(x)).collect();
                let i = Interval::of(&values);
                if i.n == 0 || (m.mapped && !mapped) {
                    continue;
                }
                out.push(AggregateRecord {
                    system: g.system.map(|k| k.name()).unwrap_or("?").to_string(),
                    settings: g.settings.clone(),
                    model: kind.name().to_string(),
                    figure: m.name,
                    members: i.n,
                    mean: i.mean,
                    lo: i.lo,
                    hi: i.hi,
                    mapped: m.mapped,
                });
            }
        }
        for e in &g.external {
            for (figure, v) in [(TRIALS_VPT, e.valid_prediction_time_median), (TRIALS_MSE, e.pixel_mse)] {
                let Some(v) = v else { continue };
                out.push(AggregateRecord {
                    system: g.system.map(|k| k.name()).unwrap_or("?").to_string(),
                    settings: g.settings.clone(),
                    model: e.model.clone(),
                    figure,
                    members: 1,
                    mean: v,
                    lo: v,
                    hi: v,
                    mapped: false,
                });
            }
        }
    }
    out
}

/// Adds to each group the score runs directly under `scores` whose dataset is the group's
/// (the same SHA-256): other models' predictions of the same test trials.
pub fn add_scores(groups: &mut [Group], scores: &Path) -> Result<()> {
    let entries = std::fs::read_dir(scores).map_err(|e| Error::input(scores, format!("cannot be read ({e})")))?;
    let mut dirs: Vec<std::path::PathBuf> =
        entries.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.join(crate::run::CONFIG).exists()).collect();
    dirs.sort();
    let mut runs = vec![];
    for dir in dirs {
        if let crate::run::Run::Score(r) = crate::run::Run::open(&dir)? {
            runs.push((r.config.dataset.sha256().to_string(), Figures::of_score(&r.metrics()?, &dir)));
        }
    }
    let mut hashes: BTreeMap<std::path::PathBuf, String> = BTreeMap::new();
    for g in groups.iter_mut() {
        let Some(path) = g.dataset.clone().filter(|p| p.exists()) else { continue };
        if !hashes.contains_key(&path) {
            hashes.insert(path.clone(), crate::util::stats::sha256_file(&path)?);
        }
        let sha = &hashes[&path];
        g.external = runs.iter().filter(|(h, _)| h == sha).map(|(_, e)| e.clone()).collect();
    }
    Ok(())
}

/// `energy-ratio.png`: each system's per-seed baseline / HNN ratios (dots) and their range
/// (box), on a log scale.
pub fn ratio_plot(groups: &[Group], out: &Path) -> Result<()> {
    use crate::util::plot::{LinePlot, Series};
    let mut series = vec![];
    let mut names = vec![];
    for (i, g) in groups.iter().enumerate() {
        let (ratios, basis) = seed_ratios(g);
        if ratios.is_empty() {
            continue;
        }
        let x = i as f64;
        let n = ratios.len();
        let points: Vec<(f64, f64)> = ratios.iter().enumerate().map(|(k, r)| (x - 0.2 + 0.4 * (k as f64 + 0.5) / n as f64, *r)).collect();
        let (lo, hi) = ratios.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), r| (a.min(*r), b.max(*r)));
        let label = format!(
            "{}{} ({basis}, {n} seeds)",
            g.system.map(|k| k.name()).unwrap_or("?"),
            if g.settings.is_empty() { String::new() } else { format!(" {}", g.settings) }
        );
        names.push(label.clone());
        series.push(Series { name: label, points, band: vec![(x - 0.3, lo, hi), (x + 0.3, lo, hi)], dots: true });
    }
    series.push(Series::line("ratio 1 (no difference)", vec![(-0.5, 1.0), (groups.len() as f64 - 0.5, 1.0)]));
    let title = "Baseline / HNN error per seed (energy; pixel where no latent map holds)";
    crate::util::plot::write(&LinePlot { title, x_label: "system", y_label: "baseline / HNN", log_y: true, series: &series }, out)
}

/// Collects, writes `table.md` and `energy-ratio.png` into the sweep folder, and returns the
/// table.
pub fn table(dir: &Path) -> Result<String> {
    table_with(dir, None)
}

/// [`table`], with the score runs under `scores` beside the groups of their dataset
/// ([`add_scores`]).
pub fn table_with(dir: &Path, scores: Option<&Path>) -> Result<String> {
    let (m, mut groups, tally) = collect(dir)?;
    if let Some(s) = scores {
        add_scores(&mut groups, s)?;
    }
    let text = markdown(&m, &groups, &tally);
    crate::util::output::write_atomic(&dir.join("table.md"), text.as_bytes(), true, "--out")?;
    ratio_plot(&groups, &dir.join("energy-ratio.png"))?;
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::fakes::{made_up_member, synthetic};

    #[test]
    fn a_group_counts_wins_seed_by_seed_and_hides_energies_without_a_map() {
        let mut members = vec![];
        for (seed, (b, h)) in [(1.0, 0.1), (1.0, 0.2), (0.1, 0.5)].into_iter().enumerate() {
            members.push(made_up_member(FieldKind::Baseline, seed as u64, b, 0.99));
            members.push(made_up_member(FieldKind::Hnn, seed as u64, h, 0.99));
        }
        let g = Group { system: Some(SystemKind::Spring), settings: String::new(), members, dataset: None, external: vec![] };
        let t = group_markdown(&g);
        assert!(t.contains("| energy MSE (trajectory seed 1) | 7.000e-1 ["), "{t}");
        // HNN below on seeds 0 and 1, not 2; ratio of means 0.7 / 0.2667.
        assert!(t.contains("| 2.63x | 2/3 |"), "{t}");
        assert!(t.contains("| pixel MSE over the rollout | 2.000e0 [2.000e0, 2.000e0] | 1.000e0 [1.000e0, 1.000e0] | 2x | 3/3 |"), "{t}");
        // Better higher: the advantage is HNN / baseline.
        assert!(t.contains("| valid prediction time (frames) | 10.0 [10.0, 10.0] | 15.0 [15.0, 15.0] | 1.5x | 3/3 |"), "{t}");
        assert_eq!(seed_ratios(&g), (vec![10.0, 5.0, 0.2], "energy"));
        // One member's map fails: energies become n/a and the ratio plot uses pixel MSE.
        let mut g2 = g.clone();
        g2.members[3].latent_map_worst_r2 = Some(0.5);
        let t2 = group_markdown(&g2);
        assert!(t2.contains("| energy MSE (trajectory seed 1) | n/a | n/a | - | - |") && t2.contains("worst test R^2 0.500"), "{t2}");
        assert_eq!(seed_ratios(&g2), (vec![2.0, 2.0, 2.0], "pixel"));
        // Nothing valid on either side: no ratio, not NaN.
        for m in &mut g2.members {
            m.valid_prediction_time_mean = Some(0.0);
        }
        assert!(group_markdown(&g2).contains("| valid prediction time (frames) | 0.0 [0.0, 0.0] | 0.0 [0.0, 0.0] | - | 0/3 |"));
    }

    #[test]
    fn a_synthetic_sweep_is_every_point_done_and_tabled() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("sweep");
        let m = synthetic(&out, 3, 1).unwrap();
        assert_eq!(m.points.len(), SystemKind::ALL.len() * 2 * 3);
        let (_, groups, tally) = collect(&out).unwrap();
        assert_eq!(tally, Tally { done: m.points.len(), diverged: 0, other: 0 });
        assert_eq!(groups.len(), SystemKind::ALL.len());
        assert!(groups
            .iter()
            .all(|g| g.members.len() == 6 && g.members.iter().all(|f| f.train_loss.is_some_and(|l| (1e-4..1e-2).contains(&l)))));
        // Planned as a real sweep: the table reads it, and the plan's TOML is not left beside it.
        let text = table(&out).unwrap();
        assert!(text.contains("done, 0 diverged") && text.contains("## pixel two-body"), "{text}");
        assert!(!out.with_extension("toml").exists());
        // The same seed makes the same figures.
        let again = dir.path().join("again");
        synthetic(&again, 3, 1).unwrap();
        let state = |d: &Path| std::fs::read_to_string(super::super::point_dir(d, 5).join("state.json")).unwrap();
        assert_eq!(state(&out), state(&again));
    }
}
