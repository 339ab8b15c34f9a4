//! The grid: a TOML file names the axes and the fixed settings; `plan` checks every point
//! before anything runs and writes the sweep folder.
//!
//! ```toml
//! name = "systems"                      # optional; default: the file's stem
//! stages = ["generate", "train", "evaluate"]   # what each point runs (this default), or a prefix
//!
//! [grid]                                # every combination is a point
//! system = ["pendulum", "spring"]       # default: the pendulum
//! model = ["hnn", "baseline"]           # a family, a list "hnn,ode", both or all (one run); default: both
//! seed = [0, 1, 2, 3, 4]                # one training seed a point (default 0) ...
//! # seeds = ["0-7", "8-15"]             # ... or a seed ensemble a point
//! # "train.lr" = [1e-3, 3e-4]           # any [dataset], [train] or [evaluate] setting below
//!
//! [dataset]                             # every point's dataset: the system's defaults, except
//! trials = 200                          #   seed, trials, steps, side, supersample, test_fraction
//!
//! [train]                               # steps, batch, lr, weight_decay, log_every, eval_every,
//! steps = 10001                         #   checkpoint_every, horizon, integrator, schedule, grow, roll,
//!                                       #   encoder, decoder, context, latent, channels, preset,
//!                                       #   latent_weight, cc_weight, layers, width, activation, separable,
//!                                       #   time_scale, learn_time_scale, substeps
//!
//! [by_system.two-body]                  # [train] settings for one system's points
//! encoder = "conv"
//!
//! [evaluate]                            # seed, steps, frames, seeds, map_fit
//! frames = 200
//!
//! [slurm]                               # the Slurm executor's defaults (flags override them)
//! partition = "gpu"                     # account, cpus_per_task, mem, time, gpu
//! ```
//!
//! Points are numbered in the order of the axes `system`, `model`, `seed`/`seeds`, then the
//! setting axes by name, the last varying fastest. Points that share a dataset configuration
//! share one dataset file.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::dataset::{DatasetConfig, FIRST_SAMPLE_FRAME, FRAMES_PER_SAMPLE};
use crate::error::{Error, Result};
use crate::evaluate::{EvalConfig, MapFit};
use crate::run::JsonFile;
use crate::systems::SystemKind;
use crate::training::{Models, Seeds, TrainConfig, TrainOverrides};
use crate::util::choice::Choice;

/// The `format` of `manifest.json`.
pub const FORMAT: &str = "pixel-hnn/sweep";
pub const FORMAT_VERSION: u32 = 1;
/// The most points one sweep may hold.
pub const MAX_POINTS: usize = 100_000;

/// What a point runs, in order; a point runs a prefix of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    /// The point's dataset, unless an earlier point made it.
    Generate,
    Train,
    Evaluate,
}

/// The Slurm executor's settings: the TOML's `[slurm]`, overridden by flags.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlurmSettings {
    pub partition: Option<String>,
    pub account: Option<String>,
    /// CPUs per array task [default: 2].
    pub cpus_per_task: Option<u32>,
    /// Memory per array task, as sbatch writes it [default: 4G].
    pub mem: Option<String>,
    /// Time limit per array task, as sbatch writes it [default: 02:00:00].
    pub time: Option<String>,
    /// Ask for one GPU per task (`--gres=gpu:1`).
    pub gpu: Option<bool>,
}

impl SlurmSettings {
    /// `other`'s settings where it has them, else these.
    pub fn overridden_by(&self, other: &SlurmSettings) -> SlurmSettings {
        SlurmSettings {
            partition: other.partition.clone().or_else(|| self.partition.clone()),
            account: other.account.clone().or_else(|| self.account.clone()),
            cpus_per_task: other.cpus_per_task.or(self.cpus_per_task),
            mem: other.mem.clone().or_else(|| self.mem.clone()),
            time: other.time.clone().or_else(|| self.time.clone()),
            gpu: other.gpu.or(self.gpu),
        }
    }
}

/// One axis of the grid and its values, as written.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Axis {
    pub name: String,
    pub values: Vec<serde_json::Value>,
}

/// A dataset the sweep generates once.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DatasetPlan {
    /// Relative to the sweep folder.
    pub file: PathBuf,
    pub config: DatasetConfig,
}

/// One point of the grid, with everything it runs resolved.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Point {
    pub index: usize,
    /// `(axis, value)` of each axis, in the axes' order.
    pub coords: Vec<(String, serde_json::Value)>,
    pub system: SystemKind,
    /// Index into [`Manifest::datasets`].
    pub dataset: usize,
    pub train: TrainConfig,
    pub eval: EvalConfig,
}

impl Point {
    /// `system = spring, model = hnn, seed = 3`.
    pub fn label(&self) -> String {
        self.coords.iter().map(|(k, v)| format!("{k} = {}", plain(v))).collect::<Vec<_>>().join(", ")
    }

    /// The coordinates other than the system, the model and the seeds: the settings a table
    /// groups by.
    pub fn setting_coords(&self) -> Vec<(String, serde_json::Value)> {
        self.coords.iter().filter(|(k, _)| !matches!(k.as_str(), "system" | "model" | "seed" | "seeds")).cloned().collect()
    }
}

/// A JSON value as a person writes it (strings without quotes).
pub fn plain(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `manifest.json`: the resolved plan.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub format_version: u32,
    pub name: String,
    pub stages: Vec<Stage>,
    pub axes: Vec<Axis>,
    pub datasets: Vec<DatasetPlan>,
    pub points: Vec<Point>,
    pub slurm: SlurmSettings,
}

impl JsonFile for Manifest {
    const NAME: &'static str = "manifest.json";
}

impl Manifest {
    /// Reads a sweep folder's manifest, naming the folder when it is not one.
    pub fn open(dir: &Path) -> Result<Self> {
        if !dir.join(Self::NAME).exists() {
            return Err(Error::input(dir, "is not a sweep folder (no manifest.json); make one with `pixel-hnn sweep plan`"));
        }
        let m = Self::load(dir)?;
        if m.format != FORMAT || m.format_version != FORMAT_VERSION {
            return Err(Error::input(
                dir.join(Self::NAME),
                format!("is format '{}' version {}; this build reads '{FORMAT}' version {FORMAT_VERSION}", m.format, m.format_version),
            ));
        }
        Ok(m)
    }

    pub fn runs(&self, stage: Stage) -> bool {
        self.stages.contains(&stage)
    }

    /// `16 points (system (2) x model (2) x seed (4)), 2 datasets`.
    pub fn describe(&self) -> String {
        let axes: Vec<String> = self.axes.iter().map(|x| format!("{} ({})", x.name, x.values.len())).collect();
        let axes = if axes.is_empty() { "no axes".to_string() } else { axes.join(" x ") };
        format!("{} points ({axes}), {} datasets", self.points.len(), self.datasets.len())
    }
}

/// The TOML file as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PlanFile {
    name: Option<String>,
    stages: Option<Vec<Stage>>,
    #[serde(default)]
    grid: toml::Table,
    #[serde(default)]
    dataset: toml::Table,
    #[serde(default)]
    train: toml::Table,
    #[serde(default)]
    evaluate: toml::Table,
    /// `[by_system.NAME]`: [train] settings for the points of one system, over `[train]`
    /// (a grid axis still wins).
    #[serde(default)]
    by_system: BTreeMap<String, toml::Table>,
    #[serde(default)]
    slurm: SlurmSettings,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DatasetSection {
    seed: Option<u64>,
    trials: Option<usize>,
    steps: Option<usize>,
    side: Option<u32>,
    supersample: Option<u32>,
    test_fraction: Option<f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EvaluateSection {
    seed: Option<u64>,
    steps: Option<usize>,
    frames: Option<usize>,
    seeds: Option<Vec<u64>>,
    map_fit: Option<MapFit>,
}

const SECTIONS: [(&str, &[&str]); 3] = [
    ("dataset", &["seed", "trials", "steps", "side", "supersample", "test_fraction"]),
    (
        "train",
        &[
            "steps",
            "batch",
            "lr",
            "weight_decay",
            "log_every",
            "eval_every",
            "checkpoint_every",
            "horizon",
            "integrator",
            "schedule",
            "grow",
            "roll",
            "encoder",
            "decoder",
            "context",
            "latent",
            "channels",
            "preset",
            "latent_weight",
            "cc_weight",
            "layers",
            "width",
            "activation",
            "separable",
            "time_scale",
            "learn_time_scale",
            "substeps",
        ],
    ),
    ("evaluate", &["seed", "steps", "frames", "seeds", "map_fit"]),
];

const AXIS_HELP: &str =
    "axes are system, model, seed, seeds, or a setting written as \"train.lr\", \"dataset.trials\", \"evaluate.frames\"";

/// Line `n` (1-based) of `text` that holds byte `offset`.
fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// A TOML error as one line: `line N: message`.
fn toml_error(text: &str, e: &toml::de::Error) -> String {
    let msg = e.message().trim().replace('\n', " ");
    match e.span() {
        Some(span) => format!("line {}: {msg}", line_of(text, span.start)),
        None => msg,
    }
}

/// Parses and checks a plan, resolving every point (nothing is written).
pub fn read_plan(path: &Path) -> Result<Manifest> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::input(path, format!("cannot be read ({e})")))?;
    let bad = |m: String| Error::input(path, m);
    let file: PlanFile = toml::from_str(&text).map_err(|e| bad(toml_error(&text, &e)))?;
    let name =
        file.name.clone().unwrap_or_else(|| path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "sweep".into()));
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        return Err(bad(format!("name '{name}' must be letters, digits, '-' or '_' (it names the Slurm job)")));
    }
    let stages = file.stages.clone().unwrap_or_else(|| vec![Stage::Generate, Stage::Train, Stage::Evaluate]);
    let all = [Stage::Generate, Stage::Train, Stage::Evaluate];
    if stages.is_empty() || stages.len() > all.len() || stages[..] != all[..stages.len()] {
        return Err(bad("stages must be [\"generate\"], [\"generate\", \"train\"] or [\"generate\", \"train\", \"evaluate\"]".into()));
    }
    for (section, table, keys) in
        [("dataset", &file.dataset, SECTIONS[0].1), ("train", &file.train, SECTIONS[1].1), ("evaluate", &file.evaluate, SECTIONS[2].1)]
    {
        if let Some(k) = table.keys().find(|k| !keys.contains(&k.as_str())) {
            return Err(bad(format!("unknown key '{k}' in [{section}]; it takes {}", keys.join(", "))));
        }
    }
    for (system, table) in &file.by_system {
        if SystemKind::from_name(system).is_none() {
            return Err(bad(format!(
                "[by_system.{system}]: '{system}' is not one of {}",
                SystemKind::ALL.iter().map(|k| k.name()).collect::<Vec<_>>().join(", ")
            )));
        }
        if let Some(k) = table.keys().find(|k| !SECTIONS[1].1.contains(&k.as_str())) {
            return Err(bad(format!("unknown key '{k}' in [by_system.{system}]; it takes {}", SECTIONS[1].1.join(", "))));
        }
    }
    let axes = read_axes(&file.grid).map_err(bad)?;
    let count = axes.iter().try_fold(1usize, |n, a| n.checked_mul(a.values.len())).filter(|n| *n <= MAX_POINTS);
    let Some(count) = count else {
        return Err(bad(format!("the grid has more than {MAX_POINTS} points; split it into several sweeps")));
    };

    let mut datasets: Vec<DatasetPlan> = vec![];
    let mut points = Vec::with_capacity(count);
    for index in 0..count {
        // Mixed radix, the last axis fastest.
        let mut rest = index;
        let mut pick = vec![0; axes.len()];
        for (k, a) in axes.iter().enumerate().rev() {
            pick[k] = rest % a.values.len();
            rest /= a.values.len();
        }
        let coords: Vec<(String, serde_json::Value)> =
            axes.iter().zip(&pick).map(|(a, &i)| (a.name.clone(), a.values[i].clone())).collect();
        let (system, dataset, train, eval) =
            resolve(&file, &coords).map_err(|e| bad(format!("point {index}{}: {e}", describe(&coords))))?;
        let dataset = match datasets.iter().position(|d| d.config == dataset) {
            Some(i) => i,
            None => {
                let k = datasets.iter().filter(|d| d.config.system.kind() == system).count();
                datasets.push(DatasetPlan { file: PathBuf::from(format!("datasets/{}-{k}.h5", system.name())), config: dataset });
                datasets.len() - 1
            }
        };
        points.push(Point { index, coords, system, dataset, train, eval });
    }
    Ok(Manifest { format: FORMAT.into(), format_version: FORMAT_VERSION, name, stages, axes, datasets, points, slurm: file.slurm })
}

/// ` (system = spring, seed = 3)`, or nothing for a grid without axes.
fn describe(coords: &[(String, serde_json::Value)]) -> String {
    if coords.is_empty() {
        return String::new();
    }
    format!(" ({})", coords.iter().map(|(k, v)| format!("{k} = {}", plain(v))).collect::<Vec<_>>().join(", "))
}

/// The grid's axes in their canonical order, each checked.
fn read_axes(grid: &toml::Table) -> std::result::Result<Vec<Axis>, String> {
    let mut named: BTreeMap<String, Vec<serde_json::Value>> = BTreeMap::new();
    for (name, value) in grid {
        let toml::Value::Array(items) = value else {
            return Err(format!("[grid] {name} must be a list of values, e.g. {name} = [..]"));
        };
        if items.is_empty() {
            return Err(format!("axis '{name}' in [grid] is empty; give it at least one value"));
        }
        let special = matches!(name.as_str(), "system" | "model" | "seed" | "seeds");
        let setting = name.split_once('.').is_some_and(|(s, k)| SECTIONS.iter().any(|(sec, keys)| *sec == s && keys.contains(&k)));
        if !special && !setting {
            return Err(format!("unknown axis '{name}' in [grid]; {AXIS_HELP}"));
        }
        let values: Vec<serde_json::Value> = items
            .iter()
            .map(|v| serde_json::to_value(v).map_err(|e| format!("axis '{name}': {e}")))
            .collect::<std::result::Result<_, _>>()?;
        let mut seen = vec![];
        for v in &values {
            if seen.contains(&v) {
                return Err(format!("axis '{name}' in [grid] lists {} twice", plain(v)));
            }
            seen.push(v);
        }
        named.insert(name.clone(), values);
    }
    if named.contains_key("seed") && named.contains_key("seeds") {
        return Err("[grid] has both seed and seeds; use seed for one training seed a point, seeds for an ensemble a point".into());
    }
    let mut axes = vec![];
    for first in ["system", "model", "seed", "seeds"] {
        if let Some(values) = named.remove(first) {
            axes.push(Axis { name: first.into(), values });
        }
    }
    axes.extend(named.into_iter().map(|(name, values)| Axis { name, values }));
    Ok(axes)
}

/// One point's system, dataset, training and evaluation settings, checked.
fn resolve(file: &PlanFile, coords: &[(String, serde_json::Value)]) -> Result<(SystemKind, DatasetConfig, TrainConfig, EvalConfig)> {
    let invalid = |m: String| Error::setting("[grid]", m);
    let (mut dataset, mut train, mut evaluate) = (file.dataset.clone(), file.train.clone(), file.evaluate.clone());
    let mut system = SystemKind::Pendulum;
    // The point's system's [by_system] settings over [train], before the axes lay theirs.
    let named = coords.iter().find(|(n, _)| n == "system").map_or(Some(system.name()), |(_, v)| v.as_str());
    if let Some(table) = named.and_then(|n| file.by_system.get(n)) {
        train.extend(table.clone());
    }
    let mut models = Models::parse(Models::BOTH)?;
    let mut seeds = vec![0u64];
    for (name, value) in coords {
        match name.as_str() {
            "system" => {
                let s = value.as_str().unwrap_or_default();
                system = SystemKind::from_name(s).ok_or_else(|| {
                    invalid(format!(
                        "system '{}' is not one of {}",
                        plain(value),
                        SystemKind::ALL.iter().map(|k| k.name()).collect::<Vec<_>>().join(", ")
                    ))
                })?;
            }
            "model" => {
                models = match value.as_str() {
                    Some(m) => Models::parse(m).map_err(|_| invalid(format!("model '{m}' is not a list of {}", Models::describe())))?,
                    None => return Err(invalid(format!("model {value} is not {}", Models::describe()))),
                }
            }
            "seed" => seeds = vec![value.as_u64().ok_or_else(|| invalid(format!("seed {value} is not a whole number >= 0")))?],
            "seeds" => {
                seeds = Seeds::parse(value.as_str().ok_or_else(|| invalid(format!("seeds {value} must be a string such as \"0-7\"")))?)?
            }
            setting => {
                let (section, key) = setting.split_once('.').expect("checked when the axes were read");
                let table = match section {
                    "dataset" => &mut dataset,
                    "train" => &mut train,
                    _ => &mut evaluate,
                };
                let v = toml::Value::try_from(value).map_err(|e| invalid(format!("{setting}: {e}")))?;
                table.insert(key.to_string(), v);
            }
        }
    }
    let section = |what: &str, e: toml::de::Error| Error::setting("[grid]", format!("[{what}] {}", e.message().trim().replace('\n', " ")));
    let d: DatasetSection = toml::Value::Table(dataset).try_into().map_err(|e| section("dataset", e))?;
    let mut t: TrainOverrides = toml::Value::Table(train).try_into().map_err(|e| section("train", e))?;
    let e: EvaluateSection = toml::Value::Table(evaluate).try_into().map_err(|e| section("evaluate", e))?;

    let mut data = DatasetConfig::for_system(system);
    data.seed = d.seed.unwrap_or(data.seed);
    data.trials = d.trials.unwrap_or(data.trials);
    data.steps = d.steps.unwrap_or(data.steps);
    data.render.side = d.side.unwrap_or(data.render.side);
    data.render.supersample = d.supersample.unwrap_or(data.render.supersample);
    data.test_fraction = d.test_fraction.unwrap_or(data.test_fraction);
    data.validate()?;

    t.models = Some(models);
    t.seeds = Some(seeds);
    t.check_preset()?;
    let tc = t.apply(TrainConfig::for_system(system));
    tc.validate()?;
    tc.check_batch(&data)?;

    let mut ec = EvalConfig::default();
    ec.seed = e.seed.unwrap_or(ec.seed);
    ec.frames = e.frames.unwrap_or(ec.frames);
    ec.steps = e.steps.unwrap_or(ec.frames + FIRST_SAMPLE_FRAME + FRAMES_PER_SAMPLE - 1);
    ec.seeds = e.seeds.unwrap_or(ec.seeds);
    ec.map_fit = e.map_fit.unwrap_or(ec.map_fit);
    ec.validate(data.render.side, data.sys())?;
    Ok((system, data, tc, ec))
}

/// Plans a sweep: reads and checks `toml`, then writes the sweep folder `out` whole
/// (replacing a sweep folder only with `force`).
pub fn plan(toml_path: &Path, out: &Path, force: bool) -> Result<Manifest> {
    let manifest = read_plan(toml_path)?;
    crate::run::check_replaceable_as(out, force, Manifest::NAME, "a sweep folder", "")?;
    if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| Error::output(out, format!("cannot create its parent folder ({e})")))?;
    }
    let source = std::fs::read(toml_path).map_err(|e| Error::io(toml_path, e))?;
    crate::util::output::write_dir_atomic(out, |tmp| {
        std::fs::write(tmp.join("plan.toml"), &source).map_err(|e| Error::io(tmp, e))?;
        for dir in ["datasets", "slurm"] {
            std::fs::create_dir_all(tmp.join(dir)).map_err(|e| Error::io(tmp, e))?;
        }
        for p in &manifest.points {
            let dir = super::point_dir(tmp, p.index);
            std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        }
        manifest.save(tmp)
    })?;
    Ok(manifest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::FieldKind;

    fn write(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.toml");
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    fn err(text: &str) -> String {
        let (_d, p) = write(text);
        read_plan(&p).unwrap_err().to_string()
    }

    #[test]
    fn the_grid_is_every_combination_in_a_fixed_order_and_datasets_are_shared() {
        let (_d, p) = write(
            r#"
            [grid]
            seed = [0, 1]
            model = ["hnn", "baseline"]
            system = ["pendulum", "spring"]
            "train.lr" = [1e-3, 3e-4]
            [dataset]
            trials = 10
            steps = 20
            [train]
            steps = 50
            batch = 20
            "#,
        );
        let m = read_plan(&p).unwrap();
        assert_eq!(m.points.len(), 16);
        assert_eq!(m.axes.iter().map(|a| a.name.as_str()).collect::<Vec<_>>(), ["system", "model", "seed", "train.lr"]);
        assert_eq!(m.points[0].label(), "system = pendulum, model = hnn, seed = 0, train.lr = 0.001");
        assert_eq!(m.points[5].label(), "system = pendulum, model = baseline, seed = 0, train.lr = 0.0003");
        assert_eq!(m.points[15].label(), "system = spring, model = baseline, seed = 1, train.lr = 0.0003");
        // One dataset per system, shared by the 8 points of each.
        assert_eq!(m.datasets.len(), 2);
        assert_eq!(m.datasets[1].file, PathBuf::from("datasets/spring-0.h5"));
        assert!(m.points.iter().all(|p| m.datasets[p.dataset].config.system.kind() == p.system));
        let p5 = &m.points[5];
        assert_eq!(
            (p5.train.models.clone(), p5.train.seeds.clone(), p5.train.adam.lr, p5.train.steps),
            (vec![FieldKind::Baseline], vec![0], 3e-4, 50)
        );
        assert_eq!(m.points[0].setting_coords(), vec![("train.lr".to_string(), serde_json::json!(1e-3))]);
        // An ensemble a point, both models in one run by default; a dataset axis makes datasets.
        let (_d, p) =
            write("[grid]\nseeds = [\"0-3\", \"4-7\"]\n\"dataset.trials\" = [10, 12]\n[dataset]\nsteps = 20\n[train]\nbatch = 20\n");
        let m = read_plan(&p).unwrap();
        assert_eq!(m.points[3].train.seeds, vec![4, 5, 6, 7]);
        assert_eq!(m.points[3].train.models, vec![FieldKind::Hnn, FieldKind::Baseline]);
        assert_eq!(m.datasets.len(), 2);
        assert_eq!(m.points[0].eval.steps, 203, "rollout frames + 3");
    }

    #[test]
    fn bad_plans_are_refused_in_one_line_naming_the_fault() {
        let one_line = |t: &str, needle: &str| {
            let e = err(t);
            assert!(e.contains("s.toml: ") && e.contains(needle) && !e.contains('\n'), "{needle}: {e}");
        };
        one_line("[grid]\nsystem = [\"pendulum\"]\n[oops]\nx = 1\n", "line 3: unknown field `oops`");
        one_line("[grid]\ncolour = [1]\n", "unknown axis 'colour' in [grid]; axes are system, model, seed, seeds");
        one_line("[grid]\n\"train.momentum\" = [1]\n", "unknown axis 'train.momentum'");
        one_line("[grid]\nseed = []\n", "axis 'seed' in [grid] is empty");
        one_line("[grid]\nseed = 3\n", "[grid] seed must be a list");
        one_line("[grid]\nseed = [1, 1]\n", "lists 1 twice");
        one_line("[train]\nmomentum = 0.9\n", "unknown key 'momentum' in [train]; it takes steps, batch, lr");
        // Models and seeds are axes: [train] never takes them (the grid would overwrite them).
        one_line("[train]\nseeds = [1, 2]\n", "unknown key 'seeds' in [train]");
        one_line("[train]\nmodels = [\"hnn\"]\n", "unknown key 'models' in [train]");
        one_line("stages = [\"train\"]\n", "stages must be");
        one_line("stages = [\"generate\", \"train\", \"evaluate\", \"evaluate\"]\n", "stages must be");
        one_line(
            "[grid]\nsystem = [\"pendulum\", \"spring\"]\n\"train.lr\" = [1e-3, -1]\n",
            "point 1 (system = pendulum, train.lr = -1): --lr",
        );
        one_line(
            "[grid]\nsystem = [\"pendulum\", \"triple\"]\n",
            "point 1 (system = triple): [grid]: system 'triple' is not one of pendulum, spring",
        );
        one_line("[grid]\nmodel = [\"mlp\"]\n", &format!("model 'mlp' is not a list of {}", crate::training::Models::describe()));
        one_line("[dataset]\ntrials = 5\nsteps = 10\n[train]\nbatch = 200\n", "point 0: --batch: 200 exceeds the 28 training samples");
        one_line("[grid]\n\"evaluate.frames\" = [10, 0]\n", "point 1 (evaluate.frames = 0): --frames");
        one_line("[grid]\nseed = [0]\nseeds = [\"0-3\"]\n", "both seed and seeds");
        one_line(
            "[grid]\nseed = [0, 1]\n\"train.steps\" = [\"many\"]\n",
            "point 0 (seed = 0, train.steps = many): [grid]: [train] invalid type",
        );
    }

    #[test]
    fn plan_writes_the_folder_whole_and_refuses_to_replace_without_force() {
        let (dir, p) = write("[grid]\nsystem = [\"spring\"]\nseed = [0, 1]\n[dataset]\ntrials = 10\nsteps = 20\n[train]\nbatch = 20\n");
        let out = dir.path().join("sweeps/a");
        let m = plan(&p, &out, false).unwrap();
        assert_eq!(Manifest::open(&out).unwrap(), m);
        assert!(out.join("plan.toml").exists() && super::super::point_dir(&out, 1).is_dir());
        let e = plan(&p, &out, false).unwrap_err().to_string();
        assert!(e.ends_with("already exists; pass --force to replace it"), "{e}");
        plan(&p, &out, true).unwrap();
        // A folder that is not a sweep is never replaced (an empty one is taken, as by
        // `train`: the same check, run::check_replaceable_as).
        let other = dir.path().join("other");
        std::fs::create_dir(&other).unwrap();
        assert!(Manifest::open(&other).unwrap_err().to_string().contains("is not a sweep folder"));
        std::fs::write(other.join("notes.txt"), "mine").unwrap();
        for force in [false, true] {
            assert!(plan(&p, &other, force).is_err());
        }
        assert!(plan(&p, &other, true).unwrap_err().to_string().ends_with("exists and is not a sweep folder; refusing to replace it"));
        assert_eq!(std::fs::read_to_string(other.join("notes.txt")).unwrap(), "mine");
        let empty = dir.path().join("empty");
        std::fs::create_dir(&empty).unwrap();
        plan(&p, &empty, false).unwrap();
        assert!(Manifest::open(&empty).is_ok());
    }
}
