//! The run folder, the thing every later stage reads. This module owns its layout, its
//! format and version, and the type of every file in it, each with `save` and `load`.
//!
//! A pixel run (`format: pixel-hnn/run`, written by `train`, added to by later stages):
//!
//! | file | type | what |
//! |---|---|---|
//! | `config.json` | [`RunConfig`] | format, every training setting (the rollout's `horizon`, `integrator` (`null`: each family's own), `schedule`, `grow`, the loss's `roll` weight; `arch`: `encoder` `mlp-pair`/`conv`, `decoder` `mlp`/`conv`, `context` frames, `latent` (`null`: 2 dof), `channels`), the model's sizes (`model`: `latent_dim` and the same `arch`), the dataset's path, SHA-256 and config; a run written before `arch` existed reads as the paper's autoencoder |
//! | `{family}.safetensors` | weights | final weights (names like `ae.enc.l1.weight`, `field.l1.weight`; the convolutions `ae.enc.c1.weight` .. `ae.enc.c6`, `ae.enc.out`, `ae.dec.in`, `ae.dec.c1` .. `ae.dec.c3`, `ae.dec.out`, laid out as PyTorch's `nn.Conv2d`, `[out, in, 3, 3]`) |
//! | `log-{model}.jsonl` | [`LogLine`]s | train loss and its terms (`roll` where the rollout's pixels count) every `log_every` steps, test loss every `eval_every` (a convolutional model's over at most 500 evenly spaced test windows; `final-losses.json` reads them all) |
//! | `final-losses.json` | [`FinalLosses`] | per-sample loss over the whole train and test sets (per window of `horizon` frames, after the encoder's `context`, when trained over rollouts), mean and s.e.m. |
//! | `loss-curve.png` | picture | the logged losses |
//! | `checkpoints/{model}.safetensors` | checkpoint | weights, Adam state, step and batch-RNG position |
//! | `members/seed-N/` | | a seed ensemble's members (`train.seeds` has more than one): each holds the weights, logs and checkpoints above; a single model's are in the run folder itself |
//! | `metrics.json` | [`PixelMetrics`] | `evaluate`: the protocol and every model's metrics under the paper's protocol and, in `as_trained`, stepped as trained; its latent map, `symetric` and `energy_reading`; in `test_trials`, its predictions of the dataset's test trials scored as `score` scores any model's ([`TrialScores`]) |
//! | `events/{model}/` | TensorBoard | the training's and `evaluate`'s events (below) |
//! | `rollout/` | pictures | `rollout` (see [`crate::evaluate::pictures`]) |
//! | `REPORT.md` | text | `demo` |
//!
//! Every model's TensorBoard events ([`crate::util::tensorboard`]) are in `events/{model}/` of its
//! member's folder: `events.out.tfevents.0.pixel-hnn` (training: the log's lines, rewritten
//! with it on resume) and `events.out.tfevents.1.pixel-hnn-metrics` (`evaluate`'s figures).
//!
//! A score run (`format: pixel-hnn/score-run`, written whole by `score`): `config.json`
//! ([`ScoreRunConfig`]: the dataset's and the predictions file's paths and SHA-256s),
//! `metrics.json` ([`ScoreMetrics`]), `error-per-frame.png`, and the figures' events in
//! `events/{model}/`.
//!
//! A coordinate run (`format: pixel-hnn/coords-run`, written whole by `coords`):
//! `config.json` ([`CoordsRunConfig`]), `{hnn,baseline}.safetensors`, `log-{model}.jsonl`,
//! `metrics.json` ([`CoordsMetrics`]), `energy.png`, `trajectory.png`.
//!
//! [`Run::open`] reads `config.json` alone (a few kB), so listing many runs is cheap; metrics
//! are read when asked for.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use tch::{Device, Tensor};

use crate::coords::{Task, TaskConfig, TaskMetrics};
use crate::dataset::{DatasetConfig, PixelDataset};
use crate::error::{Error, Result};
use crate::evaluate::predictions::TrialScores;
use crate::evaluate::{EnsembleSummary, EvalConfig, ModelMetrics};
use crate::model::{FieldKind, Model, ModelConfig};
use crate::systems::SystemKind;
use crate::training::{Divergence, LogLine, Progress, Recorder, TrainConfig};
use crate::util::choice::Choice;
use crate::util::output::{write_atomic, PendingFile};
use crate::util::stats::{sha256_file, MeanSem};

pub const CONFIG: &str = "config.json";
pub const FINAL_LOSSES: &str = "final-losses.json";
pub const METRICS: &str = "metrics.json";
pub const LOSS_CURVE: &str = "loss-curve.png";
pub const CHECKPOINTS: &str = "checkpoints";
/// An ensemble's members, one folder each (`members/seed-N/`).
pub const MEMBERS: &str = "members";
pub const ROLLOUT: &str = "rollout";
pub const REPORT: &str = "REPORT.md";

pub const PIXEL_FORMAT: &str = "pixel-hnn/run";
/// Version 2 names the members' seeds (`train.seeds`); version 1 runs (`train.seed`) are
/// read as one-member runs.
pub const PIXEL_FORMAT_VERSION: u32 = 2;
pub const COORDS_FORMAT: &str = "pixel-hnn/coords-run";
pub const COORDS_FORMAT_VERSION: u32 = 1;
pub const SCORE_FORMAT: &str = "pixel-hnn/score-run";
pub const SCORE_FORMAT_VERSION: u32 = 1;
/// A score run's per-frame error curve.
pub const ERROR_CURVE: &str = "error-per-frame.png";
/// A member's TensorBoard event files, a folder per model (`events/{model}/`).
pub const EVENTS: &str = "events";
/// The training events' file name (TensorBoard reads any file named `*tfevents*`).
pub const TRAIN_EVENTS: &str = "events.out.tfevents.0.pixel-hnn";
/// The final metrics' events, written by `evaluate` and `score`.
pub const METRIC_EVENTS: &str = "events.out.tfevents.1.pixel-hnn-metrics";

pub fn weights_file(kind: FieldKind) -> String {
    format!("{}.safetensors", kind.name())
}

pub fn log_file(kind: FieldKind) -> String {
    format!("log-{}.jsonl", kind.name())
}

/// A file of a run folder stored as JSON, at `NAME` in the folder.
pub trait JsonFile: Serialize + DeserializeOwned {
    const NAME: &'static str;

    /// Writes `DIR/NAME` atomically (replacing it).
    fn save(&self, dir: &Path) -> Result<()> {
        let text = serde_json::to_string_pretty(self).expect("run files serialise");
        write_atomic(&dir.join(Self::NAME), text.as_bytes(), true, "--out")
    }

    /// Reads `DIR/NAME`, naming the file in any error.
    fn load(dir: &Path) -> Result<Self> {
        let path = dir.join(Self::NAME);
        let text = std::fs::read_to_string(&path).map_err(|e| Error::input(&path, format!("cannot be read ({e})")))?;
        serde_json::from_str(&text).map_err(|e| Error::input(&path, format!("is corrupt ({e})")))
    }

    /// Like [`load`](Self::load), or `None` when the file does not exist.
    fn load_if_present(dir: &Path) -> Result<Option<Self>> {
        if dir.join(Self::NAME).exists() {
            Self::load(dir).map(Some)
        } else {
            Ok(None)
        }
    }
}

/// The dataset a run was trained on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DatasetRef {
    pub path: PathBuf,
    pub sha256: String,
    pub config: DatasetConfig,
}

impl DatasetRef {
    /// Describes the dataset at `path` (reading it whole for its SHA-256).
    pub fn of(path: &Path, config: DatasetConfig) -> Result<Self> {
        Ok(DatasetRef { path: path.to_path_buf(), sha256: sha256_file(path)?, config })
    }
}

/// The dataset a score run scored: one of ours, or one of DeepMind's suite (told apart by
/// their fields, so a grey dataset's reference reads and writes as before).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ScoredDataset {
    Grey(DatasetRef),
    Suite { path: PathBuf, sha256: String, suite: pixel_hnn_data::suite_data::SuiteDatasetConfig },
}

impl ScoredDataset {
    pub fn sha256(&self) -> &str {
        match self {
            ScoredDataset::Grey(d) => &d.sha256,
            ScoredDataset::Suite { sha256, .. } => sha256,
        }
    }
}

/// `config.json` of a pixel run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunConfig {
    pub format: String,
    pub format_version: u32,
    pub train: TrainConfig,
    pub model: ModelConfig,
    pub dataset: DatasetRef,
}

impl JsonFile for RunConfig {
    const NAME: &'static str = CONFIG;
}

impl RunConfig {
    pub fn new(train: TrainConfig, model: ModelConfig, dataset: DatasetRef) -> Self {
        RunConfig { format: PIXEL_FORMAT.into(), format_version: PIXEL_FORMAT_VERSION, train, model, dataset }
    }

    /// The settings that differ from `other`, as `train.batch: 32 -> 16` (leaves of the
    /// JSON; long values such as hashes shortened).
    pub fn differences(&self, other: &RunConfig) -> Vec<String> {
        let (a, b) = (serde_json::to_value(self).unwrap(), serde_json::to_value(other).unwrap());
        let mut out = vec![];
        leaf_differences("", &a, &b, &mut out);
        out
    }
}

fn short(v: &serde_json::Value) -> String {
    let s = match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if s.chars().count() > 24 {
        format!("{}...", s.chars().take(12).collect::<String>())
    } else {
        s
    }
}

fn leaf_differences(prefix: &str, a: &serde_json::Value, b: &serde_json::Value, out: &mut Vec<String>) {
    use serde_json::Value::Object;
    match (a, b) {
        (Object(x), Object(y)) => {
            let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
            keys.sort();
            keys.dedup();
            let null = serde_json::Value::Null;
            for k in keys {
                let name = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                leaf_differences(&name, x.get(k).unwrap_or(&null), y.get(k).unwrap_or(&null), out);
            }
        }
        _ if a != b => out.push(format!("{prefix}: {} -> {}", short(a), short(b))),
        _ => {}
    }
}

/// `config.json` of a coordinate run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CoordsRunConfig {
    pub format: String,
    pub format_version: u32,
    pub task: TaskConfig,
}

impl JsonFile for CoordsRunConfig {
    const NAME: &'static str = CONFIG;
}

/// The predictions file a score run scored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PredictionsRef {
    pub path: PathBuf,
    pub sha256: String,
    /// The name tables show (the file's `model` attribute, else its stem).
    pub model: String,
    pub context: usize,
    /// Frames predicted a trial.
    #[serde(rename = "horizon")]
    pub predicted: usize,
    pub trials: usize,
    /// The latents' size, where the file holds latents.
    pub latent: Option<usize>,
}

/// `config.json` of a score run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScoreRunConfig {
    pub format: String,
    pub format_version: u32,
    pub dataset: ScoredDataset,
    pub predictions: PredictionsRef,
}

impl JsonFile for ScoreRunConfig {
    const NAME: &'static str = CONFIG;
}

/// `metrics.json` of a score run: what `score` measured on the dataset's test trials.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScoreMetrics {
    /// The dataset's system: ours by name, or the suite's preset (`dm-pendulum-colors`).
    pub system: String,
    pub model: String,
    pub test_trials: TrialScores,
}

impl JsonFile for ScoreMetrics {
    const NAME: &'static str = METRICS;
}

/// A score run folder and its configuration.
pub struct ScoreRun {
    pub dir: PathBuf,
    pub config: ScoreRunConfig,
}

impl ScoreRun {
    /// Writes the whole folder at once (replacing `dir`, which [`check_replaceable`]
    /// allowed): config, metrics, the error curve, the figures' events.
    pub fn write(dir: &Path, config: ScoreRunConfig, metrics: &ScoreMetrics) -> Result<ScoreRun> {
        crate::util::output::write_dir_atomic(dir, |tmp| {
            config.save(tmp)?;
            metrics.save(tmp)?;
            crate::evaluate::predictions::plot_scores(&metrics.test_trials, &metrics.model, &tmp.join(ERROR_CURVE))?;
            let events = tmp.join(EVENTS).join(crate::util::tensorboard::run_name(&metrics.model)).join(METRIC_EVENTS);
            crate::util::tensorboard::write_scalars(&events, 0, &crate::util::tensorboard::trial_scalars(&metrics.test_trials))
        })?;
        Ok(ScoreRun { dir: dir.to_path_buf(), config })
    }

    pub fn metrics(&self) -> Result<ScoreMetrics> {
        ScoreMetrics::load(&self.dir)
    }
}

/// A version-1 pixel run's config as version 2: its one `train.seed` becomes `train.seeds`.
fn migrate_v1(text: &str) -> serde_json::Result<String> {
    let mut v: serde_json::Value = serde_json::from_str(text)?;
    if let Some(train) = v.get_mut("train").and_then(|t| t.as_object_mut()) {
        if let Some(seed) = train.remove("seed") {
            train.insert("seeds".into(), serde_json::Value::Array(vec![seed]));
        }
    }
    v["format_version"] = PIXEL_FORMAT_VERSION.into();
    serde_json::to_string(&v)
}

/// What every `config.json` begins with.
#[derive(Deserialize)]
struct Header {
    format: Option<String>,
    #[serde(default)]
    format_version: u64,
}

/// One member's per-sample loss of one model over the whole training and test sets.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ModelLosses {
    pub model: FieldKind,
    /// The member's seed.
    #[serde(default)]
    pub seed: u64,
    pub train: MeanSem,
    pub test: MeanSem,
    /// Wall time per training step of the process that finished training (all members).
    pub ms_per_step: Option<f64>,
    /// Where the member's loss stopped being finite (it was frozen there, and has no final
    /// weights and no losses: `train` and `test` are NaN).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diverged: Option<Divergence>,
}

/// `final-losses.json` of a pixel run.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FinalLosses {
    pub models: Vec<ModelLosses>,
    pub note: String,
}

impl JsonFile for FinalLosses {
    const NAME: &'static str = FINAL_LOSSES;
}

impl FinalLosses {
    pub fn new(models: Vec<ModelLosses>, loss: &crate::model::LossWeights) -> Self {
        let note = format!("per-sample loss {} over every sample of the set; sem = population std / sqrt(n)", loss.describe());
        FinalLosses { models, note }
    }

    /// Member `seed`'s losses of model `kind`; `dir` names the run for the error.
    pub fn of(&self, kind: FieldKind, seed: u64, dir: &Path) -> Result<&ModelLosses> {
        self.models.iter().find(|m| m.model == kind && m.seed == seed).ok_or_else(|| {
            Error::input(
                dir.join(FINAL_LOSSES),
                format!("has no losses of the {} model of seed {seed}: was training finished?", kind.name()),
            )
        })
    }
}

/// `metrics.json` of a pixel run: what `evaluate` measured, and how.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PixelMetrics {
    /// The system the run learned (runs before there were others: the pendulum).
    #[serde(default)]
    pub system: SystemKind,
    /// A suite preset's variant, where the run learned one (`dm-pendulum-colors`): tables
    /// show it in place of the system's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// One entry per model and member (seed).
    pub models: Vec<ModelMetrics>,
    pub protocol: EvalConfig,
    /// A seed ensemble's statistics across its members.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ensemble: Option<EnsembleSummary>,
}

impl JsonFile for PixelMetrics {
    const NAME: &'static str = METRICS;
}

impl PixelMetrics {
    /// The task as tables name it: `pixel SYSTEM` (or the suite's variant).
    pub fn task(&self) -> String {
        format!("pixel {}", self.variant.as_deref().unwrap_or(self.system.name()))
    }

    /// The HNN against the baseline, trajectory by trajectory.
    pub fn head_to_head(&self) -> Option<crate::evaluate::HeadToHead> {
        crate::evaluate::HeadToHead::of(&self.models, &self.protocol)
    }

    /// Whether every model's energy is read through a map that holds (the affine one, else
    /// SyMetric's polynomial one), so that energies mean something.
    pub fn maps_hold(&self) -> bool {
        self.models.iter().all(|m| m.energy_reads())
    }

    /// The worst test R^2 of any model's map.
    pub fn worst_r2(&self) -> f64 {
        self.models.iter().map(|m| m.map.worst_r2()).fold(f64::INFINITY, f64::min)
    }
}

/// `metrics.json` of a coordinate run.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CoordsMetrics {
    pub models: Vec<TaskMetrics>,
    pub task: Task,
}

impl JsonFile for CoordsMetrics {
    const NAME: &'static str = METRICS;
}

/// A run folder of either kind.
#[allow(clippy::large_enum_variant)] // a handful are open at a time
pub enum Run {
    Pixel(PixelRun),
    Coords(CoordsRun),
    Score(ScoreRun),
}

impl Run {
    /// Opens the run in `dir` by its `config.json`, checking format and version.
    pub fn open(dir: &Path) -> Result<Run> {
        if !dir.is_dir() {
            return Err(Error::input(dir, "no such run folder; make one with `pixel-hnn train --out DIR`"));
        }
        let path = dir.join(CONFIG);
        let text = std::fs::read_to_string(&path)
            .map_err(|e| Error::input(&path, format!("cannot be read ({e}); is {} a run folder?", dir.display())))?;
        let header: Header = serde_json::from_str(&text).map_err(|e| Error::input(&path, format!("is not valid JSON ({e})")))?;
        let (kind, version) = match header.format.as_deref() {
            Some(PIXEL_FORMAT) => ("pixel", PIXEL_FORMAT_VERSION),
            Some(COORDS_FORMAT) => ("coords", COORDS_FORMAT_VERSION),
            Some(SCORE_FORMAT) => ("score", SCORE_FORMAT_VERSION),
            _ => {
                return Err(Error::input(
                    &path,
                    format!("is not a pixel-hnn run config (format '{PIXEL_FORMAT}', '{COORDS_FORMAT}' or '{SCORE_FORMAT}')"),
                ))
            }
        };
        let older_pixel_run = kind == "pixel" && header.format_version == 1;
        if header.format_version != version as u64 && !older_pixel_run {
            return Err(Error::input(
                &path,
                format!("has run format version {}; this build reads version {version}: train the run again", header.format_version),
            ));
        }
        let text = if older_pixel_run { migrate_v1(&text).map_err(|e| Error::input(&path, format!("is corrupt ({e})")))? } else { text };
        let corrupt = |e: serde_json::Error| Error::input(&path, format!("is corrupt ({e})"));
        Ok(match kind {
            "pixel" => Run::Pixel(PixelRun { dir: dir.to_path_buf(), config: serde_json::from_str(&text).map_err(corrupt)? }),
            "score" => Run::Score(ScoreRun { dir: dir.to_path_buf(), config: serde_json::from_str(&text).map_err(corrupt)? }),
            _ => Run::Coords(CoordsRun { dir: dir.to_path_buf(), config: serde_json::from_str(&text).map_err(corrupt)? }),
        })
    }

    pub fn dir(&self) -> &Path {
        match self {
            Run::Pixel(r) => &r.dir,
            Run::Coords(r) => &r.dir,
            Run::Score(r) => &r.dir,
        }
    }
}

/// Checks that the run folder `dir` may be written: absent or empty, or else a run folder
/// (it holds `config.json`) with `force`. `or_else` is appended to the "pass --force" advice.
/// Returns whether a previous run is there to replace. An unreadable folder counts as
/// non-empty.
pub fn check_replaceable(dir: &Path, force: bool, or_else: &str) -> Result<bool> {
    check_replaceable_as(dir, force, CONFIG, "a pixel-hnn run folder", or_else)
}

/// [`check_replaceable`] for any folder the file `marker` marks as `what` (`a sweep folder`).
pub fn check_replaceable_as(dir: &Path, force: bool, marker: &str, what: &str, or_else: &str) -> Result<bool> {
    let occupied = dir.exists() && dir.read_dir().map(|mut d| d.next().is_some()).unwrap_or(true);
    if occupied {
        if !force {
            return Err(Error::output(dir, format!("already exists; pass --force to replace it{or_else}")));
        }
        if !dir.join(marker).exists() {
            return Err(Error::output(dir, format!("exists and is not {what}; refusing to replace it")));
        }
    }
    Ok(occupied)
}

/// A pixel run folder and its configuration.
pub struct PixelRun {
    pub dir: PathBuf,
    pub config: RunConfig,
}

impl PixelRun {
    /// Opens a pixel run (a coordinate run is refused, naming the folder).
    pub fn open(dir: &Path) -> Result<Self> {
        match Run::open(dir)? {
            Run::Pixel(r) => Ok(r),
            Run::Coords(_) => Err(Error::input(dir, "is a coordinate-task run (pixel-hnn coords), not a pixel run")),
            Run::Score(_) => Err(Error::input(dir, "is a score run (pixel-hnn score): it holds figures, not a model")),
        }
    }

    /// Makes a new run folder holding `config` (an existing run is replaced only with
    /// `force`).
    pub fn create(dir: &Path, config: RunConfig, force: bool) -> Result<Self> {
        if check_replaceable(dir, force, " or --resume to continue it")? {
            std::fs::remove_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        std::fs::create_dir_all(dir.join(CHECKPOINTS)).map_err(|e| Error::output(dir, format!("cannot create the run folder ({e})")))?;
        write_atomic(&dir.join(CONFIG), serde_json::to_string_pretty(&config).unwrap().as_bytes(), false, "--out")?;
        Ok(PixelRun { dir: dir.to_path_buf(), config })
    }

    /// Stores `config` for a resumed run (which may train longer), and removes what was
    /// derived from the old weights: metrics, pictures, report.
    pub fn update_config(&mut self, config: RunConfig) -> Result<()> {
        config.save(&self.dir)?;
        self.config = config;
        for f in [METRICS, REPORT] {
            let p = self.dir.join(f);
            if p.exists() {
                std::fs::remove_file(&p).map_err(|e| Error::io(&p, e))?;
            }
        }
        let pictures = self.dir.join(ROLLOUT);
        if pictures.exists() {
            std::fs::remove_dir_all(&pictures).map_err(|e| Error::io(&pictures, e))?;
        }
        Ok(())
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// The seeds of the run's members (one for a single model).
    pub fn seeds(&self) -> &[u64] {
        &self.config.train.seeds
    }

    /// Where member `seed`'s files are: the run folder of a single model, `members/seed-N/`
    /// of an ensemble's.
    pub fn member_dir(&self, seed: u64) -> PathBuf {
        if self.config.train.is_ensemble() {
            self.dir.join(MEMBERS).join(format!("seed-{seed}"))
        } else {
            self.dir.clone()
        }
    }

    pub fn weights_path(&self, kind: FieldKind, seed: u64) -> PathBuf {
        self.member_dir(seed).join(weights_file(kind))
    }

    pub fn log_path(&self, kind: FieldKind, seed: u64) -> PathBuf {
        self.member_dir(seed).join(log_file(kind))
    }

    pub fn checkpoint_path(&self, kind: FieldKind, seed: u64) -> PathBuf {
        self.member_dir(seed).join(CHECKPOINTS).join(weights_file(kind))
    }

    /// Makes the members' folders (an ensemble's).
    pub fn create_member_dirs(&self) -> Result<()> {
        for &seed in self.seeds() {
            let dir = self.member_dir(seed).join(CHECKPOINTS);
            std::fs::create_dir_all(&dir).map_err(|e| Error::output(&dir, format!("cannot create the member's folder ({e})")))?;
        }
        Ok(())
    }

    /// Opens the dataset the run was trained on, refusing one changed since (SHA-256).
    pub fn open_dataset(&self) -> Result<PixelDataset> {
        let path = &self.config.dataset.path;
        let data = PixelDataset::open(path)?;
        if sha256_file(path)? != self.config.dataset.sha256 {
            return Err(Error::input(path, "changed since the run was trained (SHA-256 differs); regenerate it with the run's settings"));
        }
        Ok(data)
    }

    /// Whether member `seed` has final weights of model `kind` (a member that diverged
    /// has none).
    pub fn has_model(&self, kind: FieldKind, seed: u64) -> bool {
        self.weights_path(kind, seed).exists()
    }

    /// Loads member `seed`'s final weights of model `kind`.
    pub fn load_model(&self, kind: FieldKind, seed: u64, device: Device) -> Result<Model> {
        let path = self.weights_path(kind, seed);
        if !path.exists() {
            return Err(Error::input(&path, format!("missing: the run has no trained {} model (was training finished?)", kind.name())));
        }
        let model = Model::new(self.config.model, kind, seed, device);
        crate::model::load_parameters(&model.named_parameters(), &read_tensors(&path)?, "", &path, self.config.model.input_dim)?;
        Ok(model)
    }

    /// Writes member `seed`'s final weights of model `kind` (named as a single model's).
    pub fn save_weights(&self, kind: FieldKind, seed: u64, weights: &[(String, Tensor)]) -> Result<()> {
        write_tensors(&self.weights_path(kind, seed), weights)
    }

    /// A member's checkpoint, if it has one: its tensors (`model.*`, `adam.*`) and progress.
    pub fn checkpoint(&self, kind: FieldKind, seed: u64) -> Result<Option<Checkpoint>> {
        let path = self.checkpoint_path(kind, seed);
        if !path.exists() {
            return Ok(None);
        }
        let tensors = read_tensors(&path)?;
        let get = |k: &str| tensors.get(k).ok_or_else(|| Error::input(&path, format!("lacks '{k}'")));
        let step = get("train.step")?.int64_value(&[0]) as usize;
        let r = get("train.rng_position")?;
        let rng_position = ((r.int64_value(&[0]) as u64 as u128) << 64) | r.int64_value(&[1]) as u64 as u128;
        Ok(Some(Checkpoint { path, progress: Progress { step, rng_position }, tensors }))
    }

    /// A recorder for member `seed`'s training of model `kind` from step `from`: its log
    /// keeps the lines of earlier steps (a resumed run logs the rest again), checkpoints go
    /// to its `checkpoints/`.
    pub fn recorder(&self, kind: FieldKind, seed: u64, from: usize) -> Result<RunRecorder> {
        let log_path = self.log_path(kind, seed);
        let text = std::fs::read_to_string(&log_path).unwrap_or_default();
        let kept: Vec<(&str, LogLine)> =
            text.lines().filter_map(|l| Some((l, serde_json::from_str::<LogLine>(l).ok()?))).filter(|(_, v)| v.step < from).collect();
        let kept_text: String = kept.iter().map(|(l, _)| format!("{l}\n")).collect();
        write_atomic(&log_path, kept_text.as_bytes(), true, "--out")?;
        let log = std::fs::OpenOptions::new().append(true).open(&log_path).map_err(|e| Error::io(&log_path, e))?;
        let lines: Vec<LogLine> = kept.into_iter().map(|(_, v)| v).collect();
        let events = crate::util::tensorboard::EventWriter::rewrite(&self.events_dir(kind, seed).join(TRAIN_EVENTS), &lines)?;
        Ok(RunRecorder { log, log_path, events, checkpoint_path: self.checkpoint_path(kind, seed) })
    }

    /// Member `seed`'s TensorBoard folder for model `kind` (`events/{model}/` of its folder).
    pub fn events_dir(&self, kind: FieldKind, seed: u64) -> PathBuf {
        self.member_dir(seed).join(EVENTS).join(kind.name())
    }

    /// Reads member `seed`'s training log of model `kind`.
    pub fn read_log(&self, kind: FieldKind, seed: u64) -> Result<Vec<LogLine>> {
        let path = self.log_path(kind, seed);
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        text.lines().map(|l| serde_json::from_str(l).map_err(|e| Error::input(&path, format!("corrupt line ({e})")))).collect()
    }

    /// The metrics `evaluate` stored, if it ran.
    pub fn metrics(&self) -> Result<Option<PixelMetrics>> {
        PixelMetrics::load_if_present(&self.dir)
    }
}

/// A member's checkpoint as read back.
pub struct Checkpoint {
    pub path: PathBuf,
    pub progress: Progress,
    /// `model.NAME`, `adam.m.NAME`, `adam.v.NAME`, `adam.step`, `train.*`.
    pub tensors: HashMap<String, Tensor>,
}

/// Writes a member's log lines and checkpoints into its folder.
pub struct RunRecorder {
    log: std::fs::File,
    log_path: PathBuf,
    events: crate::util::tensorboard::EventWriter,
    checkpoint_path: PathBuf,
}

impl Recorder for RunRecorder {
    fn log(&mut self, line: &LogLine) -> Result<()> {
        let text = serde_json::to_string(line).expect("log lines serialise");
        writeln!(self.log, "{text}").map_err(|e| Error::io(&self.log_path, e))?;
        self.events.log(line)
    }

    fn checkpoint(&mut self, at: Progress, tensors: &[(String, Tensor)]) -> Result<()> {
        self.log.flush().map_err(|e| Error::io(&self.log_path, e))?;
        self.events.flush()?;
        let mut t: Vec<(String, Tensor)> = tensors.iter().map(|(n, p)| (n.clone(), p.detach())).collect();
        t.push(("train.step".into(), Tensor::from_slice(&[at.step as i64])));
        let pos = at.rng_position;
        t.push(("train.rng_position".into(), Tensor::from_slice(&[(pos >> 64) as i64, pos as u64 as i64])));
        write_tensors(&self.checkpoint_path, &t)
    }

    fn kept(&self, last_checkpoint: Option<usize>) -> String {
        match last_checkpoint {
            Some(s) => format!("the last good checkpoint (step {s}) is kept in {}", self.checkpoint_path.display()),
            None => "no checkpoint had been written yet".to_string(),
        }
    }
}

/// Writes named tensors as safetensors, atomically (moved to the CPU first).
pub fn write_tensors(path: &Path, tensors: &[(String, Tensor)]) -> Result<()> {
    let pending = PendingFile::new(path, true, "--out")?;
    let cpu: Vec<(String, Tensor)> = tensors.iter().map(|(n, t)| (n.clone(), t.to_device(Device::Cpu))).collect();
    Tensor::write_safetensors(&cpu, pending.path())?;
    Ok(pending.commit()?)
}

fn read_tensors(path: &Path) -> Result<HashMap<String, Tensor>> {
    let v = Tensor::read_safetensors(path).map_err(|e| Error::input(path, format!("is not a readable safetensors file ({e})")))?;
    Ok(v.into_iter().collect())
}

/// A coordinate run folder and its configuration.
pub struct CoordsRun {
    pub dir: PathBuf,
    pub config: CoordsRunConfig,
}

/// One trained model of a coordinate run, to be written.
pub struct TrainedField<'a> {
    pub kind: FieldKind,
    pub vs: &'a tch::nn::VarStore,
    pub log: &'a [LogLine],
}

impl CoordsRun {
    /// Writes the whole folder at once (replacing `dir`, which [`check_replaceable`]
    /// allowed): config, weights, logs, metrics, and what `pictures` draws into it.
    pub fn write(
        dir: &Path,
        task: &TaskConfig,
        fields: &[TrainedField],
        metrics: &CoordsMetrics,
        pictures: impl FnOnce(&Path) -> Result<()>,
    ) -> Result<CoordsRun> {
        let config = CoordsRunConfig { format: COORDS_FORMAT.into(), format_version: COORDS_FORMAT_VERSION, task: task.clone() };
        crate::util::output::write_dir_atomic(dir, |tmp| {
            config.save(tmp)?;
            for f in fields {
                f.vs.save(tmp.join(weights_file(f.kind)))?;
                let lines: String = f.log.iter().map(|l| format!("{}\n", serde_json::to_string(l).unwrap())).collect();
                write_atomic(&tmp.join(log_file(f.kind)), lines.as_bytes(), true, "--out")?;
                let events = tmp.join(EVENTS).join(f.kind.name());
                crate::util::tensorboard::EventWriter::rewrite(&events.join(TRAIN_EVENTS), f.log)?;
                if let Some(m) = metrics.models.iter().find(|m| m.model == f.kind) {
                    let step = f.log.last().map_or(0, |l| l.step);
                    let values = [
                        ("final/train_loss".to_string(), m.train_loss.mean),
                        ("final/test_loss".into(), m.test_loss.mean),
                        ("final/energy_mse".into(), m.energy_mse.mean),
                    ];
                    crate::util::tensorboard::write_scalars(&events.join(METRIC_EVENTS), step, &values)?;
                }
            }
            metrics.save(tmp)?;
            pictures(tmp)
        })?;
        Ok(CoordsRun { dir: dir.to_path_buf(), config })
    }

    pub fn metrics(&self) -> Result<CoordsMetrics> {
        CoordsMetrics::load(&self.dir)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn differences_name_the_leaves_that_changed_and_shorten_long_values() {
        let data = DatasetRef { path: "a.h5".into(), sha256: "0".repeat(64), config: DatasetConfig::default() };
        let a = RunConfig::new(TrainConfig::default(), ModelConfig::default(), data.clone());
        let mut b = a.clone();
        b.train.batch = 16;
        b.dataset.sha256 = "f".repeat(64);
        b.dataset.config.trials = 30;
        let d = a.differences(&b);
        assert_eq!(
            d,
            vec![
                "dataset.config.trials: 200 -> 30".to_string(),
                format!("dataset.sha256: {}... -> {}...", "0".repeat(12), "f".repeat(12)),
                "train.batch: 200 -> 16".to_string(),
            ]
        );
        assert!(a.differences(&a).is_empty());
    }

    #[test]
    fn a_folder_that_is_no_run_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let e = Run::open(&dir.path().join("none")).err().unwrap();
        assert!(e.to_string().contains("no such run folder"), "{e}");
        std::fs::write(dir.path().join(CONFIG), r#"{"format": "something/else"}"#).unwrap();
        let e = Run::open(dir.path()).err().unwrap();
        assert!(e.to_string().contains("is not a pixel-hnn run config"), "{e}");
        std::fs::write(dir.path().join(CONFIG), r#"{"format": "pixel-hnn/run", "format_version": 99}"#).unwrap();
        let e = Run::open(dir.path()).err().unwrap();
        assert!(e.to_string().contains("format version 99"), "{e}");
    }
}

#[cfg(test)]
mod migrate_tests {
    use super::*;

    /// A version-1 `config.json` as such a run wrote it: `train.seed` where version 2 has
    /// `train.seeds`, `format_version` 1.
    fn version_1(of: &RunConfig) -> String {
        let mut v = serde_json::to_value(of).unwrap();
        v["format_version"] = 1.into();
        let train = v["train"].as_object_mut().unwrap();
        let seeds = train.remove("seeds").unwrap();
        assert_eq!(seeds.as_array().unwrap().len(), 1);
        train.insert("seed".into(), seeds[0].clone());
        serde_json::to_string_pretty(&v).unwrap()
    }

    #[test]
    fn a_version_1_run_is_read_as_a_one_member_run() {
        let data = DatasetRef { path: "a.h5".into(), sha256: "0".repeat(64), config: DatasetConfig::default() };
        let mut v2 = RunConfig::new(TrainConfig::default(), ModelConfig::default(), data);
        v2.train.seeds = vec![7];
        v2.train.steps = 123;
        let text = version_1(&v2);
        assert!(text.contains("\"seed\": 7") && !text.contains("\"seeds\""), "{text}");

        // The text itself: seed 7 becomes seeds [7], the version 2, nothing else changes.
        let migrated: RunConfig = serde_json::from_str(&migrate_v1(&text).unwrap()).unwrap();
        assert_eq!(migrated, v2);

        // Through Run::open, as every stage reads a run folder.
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(CONFIG), &text).unwrap();
        let run = PixelRun::open(dir.path()).unwrap();
        assert_eq!(run.config, v2);
        assert_eq!(run.seeds(), &[7]);
        assert!(!run.config.train.is_ensemble());
        assert_eq!(run.member_dir(7), dir.path(), "a single model's files are in the run folder itself");
        assert_eq!(run.weights_path(FieldKind::Hnn, 7), dir.path().join("hnn.safetensors"));
        // Opening does not rewrite the file.
        assert_eq!(std::fs::read_to_string(dir.path().join(CONFIG)).unwrap(), text);

        // Only version 1 is migrated: version 0 is refused.
        let mut v0: serde_json::Value = serde_json::from_str(&text).unwrap();
        v0["format_version"] = 0.into();
        std::fs::write(dir.path().join(CONFIG), v0.to_string()).unwrap();
        let e = Run::open(dir.path()).err().unwrap().to_string();
        assert!(e.contains("format version 0"), "{e}");
    }
}
