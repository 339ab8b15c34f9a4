//! Stage 2b, joint training of the autoencoder and a latent field (SPEC.md section 5), and
//! the run folder every later stage reads:
//!
//! | file | what |
//! |---|---|
//! | `config.json` | format, every setting, the dataset's path, SHA-256 and config |
//! | `{hnn,baseline}.safetensors` | final weights (names like `ae.enc.l1.weight`) |
//! | `log-{model}.jsonl` | step, train loss and its terms every `log_every` steps, test loss every `eval_every` |
//! | `final-losses.json` | per-sample loss over the whole train and test sets, mean and s.e.m. |
//! | `loss-curve.png` | the logged losses |
//! | `checkpoints/{model}.safetensors` | weights, Adam state, step and batch-RNG position |

use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;
use tch::{Device, Tensor};

use crate::dataset::{DatasetConfig, Pairs, PixelDataset, Split};
use crate::error::{Error, Result};
use crate::model::{FieldKind, LossWeights, Model, ModelConfig};
use crate::optim::{Adam, AdamConfig};
use crate::output::{write_atomic, PendingFile};
use crate::plot;
use crate::rng::Rng;

pub const RUN_FORMAT: &str = "pixel-hnn/run";
pub const RUN_FORMAT_VERSION: u32 = 1;

/// Training settings; `Default` is the reference's (SPEC.md section 5).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    pub models: Vec<FieldKind>,
    /// Seeds the weights (libtorch) and the batch draws (ChaCha8).
    pub seed: u64,
    pub steps: usize,
    pub batch: usize,
    pub adam: AdamConfig,
    pub loss: LossWeights,
    pub log_every: usize,
    pub eval_every: usize,
    pub checkpoint_every: usize,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            models: vec![FieldKind::Hnn, FieldKind::Baseline],
            seed: 0,
            steps: 10_001,
            batch: 200,
            adam: AdamConfig::default(),
            loss: LossWeights::default(),
            log_every: 10,
            eval_every: 200,
            checkpoint_every: 1000,
        }
    }
}

impl TrainConfig {
    pub fn validate(&self) -> Result<()> {
        if self.models.is_empty() {
            return Err(Error::setting("--model", "names no model"));
        }
        for (flag, v) in [
            ("--steps", self.steps),
            ("--batch", self.batch),
            ("--log-every", self.log_every),
            ("--eval-every", self.eval_every),
            ("--checkpoint-every", self.checkpoint_every),
        ] {
            if v == 0 {
                return Err(Error::setting(flag, "must be at least 1"));
            }
        }
        let a = self.adam;
        if !(a.lr.is_finite() && a.lr > 0.0) {
            return Err(Error::setting("--lr", format!("must be a positive number (got {})", a.lr)));
        }
        if !(a.weight_decay.is_finite() && a.weight_decay >= 0.0) {
            return Err(Error::setting("--weight-decay", format!("must be >= 0 (got {})", a.weight_decay)));
        }
        Ok(())
    }
}

/// The dataset a run was trained on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DatasetRef {
    pub path: PathBuf,
    pub sha256: String,
    pub config: DatasetConfig,
}

/// `config.json` of a run folder.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunConfig {
    pub format: String,
    pub format_version: u32,
    pub train: TrainConfig,
    pub model: ModelConfig,
    pub dataset: DatasetRef,
}

impl RunConfig {
    /// Reads and checks `DIR/config.json`.
    pub fn load(run_dir: &Path) -> Result<Self> {
        let path = run_dir.join("config.json");
        if !run_dir.is_dir() {
            return Err(Error::input(run_dir, "no such run folder; make one with `pixel-hnn train --out DIR`"));
        }
        let text = std::fs::read_to_string(&path)
            .map_err(|e| Error::input(&path, format!("cannot be read ({e}); is {} a run folder?", run_dir.display())))?;
        let v: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| Error::input(&path, format!("is not valid JSON ({e})")))?;
        if v.get("format").and_then(|f| f.as_str()) != Some(RUN_FORMAT) {
            return Err(Error::input(&path, format!("is not a pixel-hnn run config (format '{RUN_FORMAT}')")));
        }
        let version = v.get("format_version").and_then(|f| f.as_u64()).unwrap_or(0);
        if version != RUN_FORMAT_VERSION as u64 {
            return Err(Error::input(
                &path,
                format!("has run format version {version}; this build reads version {RUN_FORMAT_VERSION}: train the run again"),
            ));
        }
        serde_json::from_value(v).map_err(|e| Error::input(&path, format!("is corrupt ({e})")))
    }
}

pub fn sha256_file(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    Ok(format!("{:x}", Sha256::digest(&bytes)))
}

/// How the run folder is treated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunMode {
    /// A new run; an existing run folder is replaced only with `force`.
    Fresh { force: bool },
    /// Continue the run in the folder from its checkpoints (`steps` may grow).
    Resume,
}

/// Progress reports for the caller's bars.
#[derive(Clone, Copy, Debug)]
pub enum Event {
    Start { model: FieldKind, from: usize, total: usize },
    Step { model: FieldKind },
    Done { model: FieldKind },
}

/// Mean and standard error of the per-sample loss over a set.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct MeanSem {
    pub mean: f64,
    pub sem: f64,
    pub n: usize,
}

impl MeanSem {
    /// Population standard deviation over sqrt(n), as the reference's `np.std(x) / sqrt(n)`.
    pub fn of(values: &[f64]) -> Self {
        let n = values.len();
        let mean = values.iter().sum::<f64>() / n as f64;
        let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n as f64;
        MeanSem { mean, sem: var.sqrt() / (n as f64).sqrt(), n }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ModelReport {
    pub model: FieldKind,
    pub train: MeanSem,
    pub test: MeanSem,
    /// Wall time per training step of this process's steps (evaluations excluded).
    pub ms_per_step: Option<f64>,
}

/// Per-sample total loss of every sample in `pairs`, in chunks.
///
/// # Shapes
/// returns `n` values
pub fn per_sample_losses(model: &Model, pairs: &Pairs, w: &LossWeights) -> Vec<f64> {
    let n = pairs.x.size()[0];
    let mut out = Vec::with_capacity(n as usize);
    let chunk = 1000;
    let mut i = 0;
    while i < n {
        let len = chunk.min(n - i);
        let terms = model.loss_terms(&pairs.x.narrow(0, i, len), &pairs.x_next.narrow(0, i, len), false);
        let total = terms.total(w).detach().to_device(Device::Cpu).to_kind(tch::Kind::Double);
        out.extend(Vec::<f64>::try_from(total).expect("1-D loss"));
        i += len;
    }
    out
}

/// Trains every model of `cfg` on the dataset at `data_path` into `run_dir`.
pub fn train(
    run_dir: &Path,
    data_path: &Path,
    cfg: &TrainConfig,
    device: Device,
    mode: RunMode,
    on_event: &dyn Fn(Event),
) -> Result<Vec<ModelReport>> {
    cfg.validate()?;
    let data = PixelDataset::open(data_path)?;
    let model_cfg = ModelConfig::for_side(data.config.render.side);
    let run = RunConfig {
        format: RUN_FORMAT.into(),
        format_version: RUN_FORMAT_VERSION,
        train: cfg.clone(),
        model: model_cfg,
        dataset: DatasetRef { path: data_path.to_path_buf(), sha256: sha256_file(data_path)?, config: data.config.clone() },
    };
    let n_train = data.config.samples_per_trial() * data.trials_of(Split::Train).len();
    if cfg.batch > n_train {
        return Err(Error::setting("--batch", format!("{} exceeds the {n_train} training samples", cfg.batch)));
    }
    if mode == RunMode::Resume {
        for &kind in &cfg.models {
            if let Some(done) = checkpoint_step(run_dir, kind)? {
                if done > cfg.steps {
                    return Err(Error::setting(
                        "--steps",
                        format!("the {} model's checkpoint has done {done} steps; a resumed run may raise --steps, not lower it below that", kind.name()),
                    ));
                }
            }
        }
    }
    prepare_run_dir(run_dir, &run, mode)?;
    let train = data.pairs(Split::Train).to_device(device);
    let test = data.pairs(Split::Test).to_device(device);
    drop(data);

    let mut reports = Vec::new();
    for &kind in &cfg.models {
        reports.push(train_model(run_dir, &run, kind, &train, &test, device, on_event)?);
    }
    let losses = json!({
        "models": reports,
        "note": "per-sample loss ae + cc + 0.1 hnn over every sample of the set; sem = population std / sqrt(n)",
    });
    write_atomic(&run_dir.join("final-losses.json"), serde_json::to_string_pretty(&losses).unwrap().as_bytes(), true, "--out")?;
    write_loss_curve(run_dir, cfg)?;
    Ok(reports)
}

fn prepare_run_dir(dir: &Path, run: &RunConfig, mode: RunMode) -> Result<()> {
    match mode {
        RunMode::Resume => {
            let stored = RunConfig::load(dir).map_err(|e| Error::setting("--resume", e.to_string()))?;
            let mut same = stored.clone();
            same.train.steps = run.train.steps; // a resumed run may be extended
            if same != *run {
                return Err(Error::setting(
                    "--resume",
                    format!("{} was made with other settings ({}); pass the same settings, or train a new run", dir.display(), config_diff(&stored, run)),
                ));
            }
            write_atomic(&dir.join("config.json"), serde_json::to_string_pretty(run).unwrap().as_bytes(), true, "--out")
        }
        RunMode::Fresh { force } => {
            if crate::output::check_run_folder(dir, force, " or --resume to continue it")? {
                std::fs::remove_dir_all(dir).map_err(|e| Error::io(dir, e))?;
            }
            std::fs::create_dir_all(dir.join("checkpoints"))
                .map_err(|e| Error::output(dir, format!("cannot create the run folder ({e})")))?;
            write_atomic(&dir.join("config.json"), serde_json::to_string_pretty(run).unwrap().as_bytes(), false, "--out")
        }
    }
}

/// Names the top-level settings that differ, e.g. `train.batch: 200 -> 100`.
fn config_diff(a: &RunConfig, b: &RunConfig) -> String {
    let (va, vb) = (serde_json::to_value(a).unwrap(), serde_json::to_value(b).unwrap());
    let mut diffs = vec![];
    for section in ["train", "model", "dataset"] {
        if let (Some(x), Some(y)) = (va[section].as_object(), vb[section].as_object()) {
            for (k, v) in x {
                if y.get(k) != Some(v) {
                    diffs.push(format!("{section}.{k}: {} -> {}", v, y.get(k).unwrap_or(&serde_json::Value::Null)));
                }
            }
        }
    }
    diffs.join(", ")
}

fn checkpoint_path(dir: &Path, kind: FieldKind) -> PathBuf {
    dir.join("checkpoints").join(format!("{}.safetensors", kind.name()))
}

pub fn weights_path(dir: &Path, kind: FieldKind) -> PathBuf {
    dir.join(format!("{}.safetensors", kind.name()))
}

fn log_path(dir: &Path, kind: FieldKind) -> PathBuf {
    dir.join(format!("log-{}.jsonl", kind.name()))
}

fn write_tensors(path: &Path, tensors: &[(String, Tensor)]) -> Result<()> {
    let pending = PendingFile::new(path, true, "--out")?;
    let cpu: Vec<(String, Tensor)> = tensors.iter().map(|(n, t)| (n.clone(), t.to_device(Device::Cpu))).collect();
    Tensor::write_safetensors(&cpu, pending.path())?;
    pending.commit()
}

fn read_tensors(path: &Path) -> Result<HashMap<String, Tensor>> {
    let v = Tensor::read_safetensors(path).map_err(|e| Error::input(path, format!("is not a readable safetensors file ({e})")))?;
    Ok(v.into_iter().collect())
}

/// Copies weights named like the model's parameters from `tensors` (with `prefix`),
/// checking every name and shape.
fn load_parameters(model: &Model, tensors: &HashMap<String, Tensor>, prefix: &str, file: &Path) -> Result<()> {
    for (name, mut p) in model.named_parameters() {
        let key = format!("{prefix}{name}");
        let t = tensors.get(&key).ok_or_else(|| {
            Error::input(file, format!("lacks '{key}': weights of another architecture or model kind"))
        })?;
        if t.size() != p.size() {
            return Err(Error::input(
                file,
                format!(
                    "'{key}' has shape {:?} but the model needs {:?} (input {} = 2 x side^2): weights of another architecture or frame size",
                    t.size(),
                    p.size(),
                    model.config.input_dim
                ),
            ));
        }
        tch::no_grad(|| p.copy_(t));
    }
    Ok(())
}

/// Loads a model's final weights from a run folder.
pub fn load_model(run_dir: &Path, run: &RunConfig, kind: FieldKind, device: Device) -> Result<Model> {
    let path = weights_path(run_dir, kind);
    if !path.exists() {
        return Err(Error::input(&path, format!("missing: the run has no trained {} model (was training finished?)", kind.name())));
    }
    let model = Model::new(run.model, kind, run.train.seed, device);
    load_parameters(&model, &read_tensors(&path)?, "", &path)?;
    Ok(model)
}

struct Checkpoint {
    step: usize,
    rng_position: u128,
}

fn save_checkpoint(dir: &Path, kind: FieldKind, model: &Model, adam: &Adam, ck: &Checkpoint) -> Result<()> {
    let mut t: Vec<(String, Tensor)> =
        model.named_parameters().into_iter().map(|(n, p)| (format!("model.{n}"), p.detach())).collect();
    t.extend(adam.state());
    t.push(("train.step".into(), Tensor::from_slice(&[ck.step as i64])));
    let pos = ck.rng_position;
    t.push(("train.rng_position".into(), Tensor::from_slice(&[(pos >> 64) as i64, pos as u64 as i64])));
    write_tensors(&checkpoint_path(dir, kind), &t)
}

/// Steps done by a model's checkpoint, if the run has one.
pub fn checkpoint_step(dir: &Path, kind: FieldKind) -> Result<Option<usize>> {
    let path = checkpoint_path(dir, kind);
    if !path.exists() {
        return Ok(None);
    }
    let t = read_tensors(&path)?;
    let step = t.get("train.step").ok_or_else(|| Error::input(&path, "lacks 'train.step'"))?;
    Ok(Some(step.int64_value(&[0]) as usize))
}

fn load_checkpoint(dir: &Path, kind: FieldKind, model: &Model, adam: &mut Adam) -> Result<Option<Checkpoint>> {
    let path = checkpoint_path(dir, kind);
    if !path.exists() {
        return Ok(None);
    }
    let t = read_tensors(&path)?;
    load_parameters(model, &t, "model.", &path)?;
    let device = model.vs.device();
    adam.load_state(&|k: &str| t.get(k).map(|x| x.to_device(device))).map_err(|e| Error::input(&path, e))?;
    let get = |k: &str| t.get(k).ok_or_else(|| Error::input(&path, format!("lacks '{k}'")));
    let step = get("train.step")?.int64_value(&[0]) as usize;
    let r = get("train.rng_position")?;
    let rng_position = ((r.int64_value(&[0]) as u64 as u128) << 64) | r.int64_value(&[1]) as u64 as u128;
    Ok(Some(Checkpoint { step, rng_position }))
}

/// Keeps the log lines of steps before `step` (a resumed run logs the rest again).
fn truncate_log(path: &Path, step: usize) -> Result<()> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let kept: String = text
        .lines()
        .filter(|l| serde_json::from_str::<serde_json::Value>(l).ok().and_then(|v| v["step"].as_u64()).is_some_and(|s| (s as usize) < step))
        .map(|l| format!("{l}\n"))
        .collect();
    write_atomic(path, kept.as_bytes(), true, "--out")
}

fn mean_of(t: &Tensor) -> f64 {
    t.mean(None::<tch::Kind>).double_value(&[])
}

/// One training step on a batch: loss, double backward, and (if the loss is finite) the
/// Adam update. Returns the batch loss and its per-sample terms.
pub fn step_on(model: &Model, adam: &mut Adam, x: &Tensor, x_next: &Tensor, w: &LossWeights) -> (f64, crate::model::LossTerms) {
    let terms = model.loss_terms(x, x_next, true);
    let loss = terms.total(w).mean(None::<tch::Kind>);
    adam.zero_grad();
    loss.backward();
    let value = loss.double_value(&[]);
    if value.is_finite() {
        adam.step();
    }
    (value, terms)
}

fn train_model(
    dir: &Path,
    run: &RunConfig,
    kind: FieldKind,
    train: &Pairs,
    test: &Pairs,
    device: Device,
    on_event: &dyn Fn(Event),
) -> Result<ModelReport> {
    let cfg = &run.train;
    let model = Model::new(run.model, kind, cfg.seed, device);
    let mut adam = Adam::new(model.named_parameters(), cfg.adam);
    let mut rng = Rng::new(cfg.seed);
    let mut start = 0;
    if let Some(ck) = load_checkpoint(dir, kind, &model, &mut adam)? {
        start = ck.step; // train() refused checkpoints past cfg.steps
        rng = Rng::at(cfg.seed, ck.rng_position);
    }
    truncate_log(&log_path(dir, kind), start)?;
    let mut log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log_path(dir, kind))
        .map_err(|e| Error::io(log_path(dir, kind), e))?;
    let n_train = train.x.size()[0] as usize;
    let mut last_checkpoint = (start > 0).then_some(start);
    on_event(Event::Start { model: kind, from: start, total: cfg.steps });
    let (mut step_time, mut timed_steps) = (0.0f64, 0usize);
    for step in start..cfg.steps {
        let t0 = Instant::now();
        let idx = Tensor::from_slice(&rng.distinct(n_train, cfg.batch)).to_device(device);
        let (value, terms) = step_on(&model, &mut adam, &train.x.index_select(0, &idx), &train.x_next.index_select(0, &idx), &cfg.loss);
        if !value.is_finite() {
            let kept = match last_checkpoint {
                Some(s) => format!("the last good checkpoint (step {s}) is kept in {}", checkpoint_path(dir, kind).display()),
                None => "no checkpoint had been written yet".to_string(),
            };
            return Err(Error::Diverged { model: kind.name(), step, loss: value, kept });
        }
        step_time += t0.elapsed().as_secs_f64();
        timed_steps += 1;
        if step % cfg.log_every == 0 || step % cfg.eval_every == 0 {
            let mut line = json!({
                "step": step, "loss": value,
                "ae": mean_of(&terms.ae), "cc": mean_of(&terms.cc), "hnn": mean_of(&terms.hnn),
            });
            if step % cfg.eval_every == 0 {
                let l = per_sample_losses(&model, test, &cfg.loss);
                line["test_loss"] = json!(MeanSem::of(&l).mean);
            }
            writeln!(log, "{line}").map_err(|e| Error::io(log_path(dir, kind), e))?;
        }
        let done = step + 1;
        if done % cfg.checkpoint_every == 0 || done == cfg.steps {
            log.flush().map_err(|e| Error::io(log_path(dir, kind), e))?;
            save_checkpoint(dir, kind, &model, &adam, &Checkpoint { step: done, rng_position: rng.position() })?;
            last_checkpoint = Some(done);
        }
        on_event(Event::Step { model: kind });
    }
    let weights: Vec<(String, Tensor)> = model.named_parameters().into_iter().map(|(n, p)| (n, p.detach())).collect();
    write_tensors(&weights_path(dir, kind), &weights)?;
    let report = ModelReport {
        model: kind,
        train: MeanSem::of(&per_sample_losses(&model, train, &cfg.loss)),
        test: MeanSem::of(&per_sample_losses(&model, test, &cfg.loss)),
        ms_per_step: (timed_steps > 0).then(|| step_time / timed_steps as f64 * 1e3),
    };
    on_event(Event::Done { model: kind });
    Ok(report)
}

/// Reads a model's training log.
pub fn read_log(dir: &Path, kind: FieldKind) -> Result<Vec<serde_json::Value>> {
    let path = log_path(dir, kind);
    let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
    text.lines().map(|l| serde_json::from_str(l).map_err(|e| Error::input(&path, format!("corrupt line ({e})")))).collect()
}

fn write_loss_curve(dir: &Path, cfg: &TrainConfig) -> Result<()> {
    let mut series = vec![];
    for &kind in &cfg.models {
        let log = read_log(dir, kind)?;
        let pick = |key: &str| -> Vec<(f64, f64)> {
            log.iter().filter_map(|v| Some((v["step"].as_f64()?, v[key].as_f64()?))).collect()
        };
        series.push(plot::Series { name: format!("{} train", kind.name()), points: pick("loss") });
        series.push(plot::Series { name: format!("{} test", kind.name()), points: pick("test_loss") });
    }
    let p = plot::LinePlot { title: "Training loss (ae + cc + 0.1 hnn)", x_label: "step", y_label: "loss", log_y: true, series: &series };
    plot::write(&p, &dir.join("loss-curve.png"))
}
