//! The pipeline's commands as library functions: each takes its configs, calls the stages
//! and reads or writes run folders through [`crate::run`]. The CLI turns flags into these
//! configs and calls one of them; `demo` chains them directly, as `scripts/demo` runs it.

use std::path::{Path, PathBuf};
use std::time::Instant;
use tch::Device;

use crate::coords::{self, CoordsObjective, TaskConfig};
use crate::dataset::preview::{self, SheetConfig};
use crate::dataset::{self, DatasetConfig, PixelDataset, Samples, Split};
use crate::error::{Error, Result};
use crate::evaluate::pictures::{self, Layout, Mapped, RolloutSummary};
use crate::evaluate::predictions::{score_predictions, Predictions, ScoreSettings, TestTrials};
use crate::evaluate::{evaluate_model, EnsembleSummary, EvalConfig};
use crate::model::{self, FieldKind, ModelConfig};
use crate::run::{
    self, CoordsMetrics, CoordsRun, DatasetRef, FinalLosses, JsonFile, ModelLosses, PixelMetrics, PixelRun, RunConfig, TrainedField,
};
use crate::runtime::{self, Runtime, ThreadChoice};
use crate::systems::SystemKind;
use crate::training::stack::Stack;
use crate::training::{self, Autograd, Divergence, LogLine, MemoryLog, Seeds, TrainConfig, TrainOverrides};
use crate::util::adam::Adam;
use crate::util::choice::Choice;
use crate::util::output::PendingFile;
use crate::util::plot;
use crate::util::stats::MeanSem;

/// Progress reports for the caller's bars and messages; every method does nothing unless
/// overridden (the library never prints). Trials are reported from rendering threads.
pub trait Observer: Sync {
    /// A `demo` stage begins.
    fn stage(&self, _name: &str) {}
    /// One trial of a dataset was rendered.
    fn trial_rendered(&self) {}
    /// A model's training starts at step `from` of `total`, takes a step, or is done.
    fn training(&self, _event: TrainEvent) {}
}

/// Reports nothing.
pub struct Quiet;
impl Observer for Quiet {}

#[derive(Clone, Copy, Debug)]
pub enum TrainEvent {
    Start { model: FieldKind, from: usize, total: usize },
    Step { model: FieldKind },
    Done { model: FieldKind },
}

/// Simulates, renders and writes a pixel dataset to `out` (checked before the work, written
/// whole when done).
pub fn generate(cfg: &DatasetConfig, out: &Path, force: bool, threads: usize, obs: &dyn Observer) -> Result<PixelDataset> {
    cfg.validate()?;
    let pending = PendingFile::new(out, force, "--out")?;
    let data = dataset::generate(cfg, threads, &|| obs.trial_rendered())?;
    data.write_to(pending)?;
    Ok(data)
}

/// Writes a contact sheet of the dataset at `data` to `out`; returns its size in pixels.
pub fn preview(data: &Path, out: &Path, force: bool, cfg: &SheetConfig) -> Result<(u32, u32)> {
    cfg.validate()?;
    PendingFile::new(out, force, "--out")?;
    let data = PixelDataset::open(data).map_err(|e| Error::setting("--data", e.to_string()))?;
    let img = preview::contact_sheet(&data, cfg)?;
    img.write(out, force)?;
    Ok((img.width(), img.height()))
}

/// A `train` command: a new run, or the continuation of one.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainRequest {
    /// The run folder.
    pub out: PathBuf,
    /// The dataset; `None`: [`dataset::DEFAULT_PATH`] for a new run, the run's own when
    /// resuming.
    pub data: Option<PathBuf>,
    /// The settings the overrides are laid over; `None`: the paper's for the dataset's system
    /// (a new run), the run's stored ones (resuming). Resuming with a base checks that the run
    /// was made with it (it may train longer).
    pub base: Option<TrainConfig>,
    /// Settings over the base.
    pub overrides: TrainOverrides,
    /// Continue the run in `out` from its checkpoints.
    pub resume: bool,
    /// Replace an existing run folder (a new run).
    pub force: bool,
}

/// What `train` did: the settings it trained with and every member's final losses, model by
/// model, seed by seed.
#[derive(Clone, Debug)]
pub struct Trained {
    pub config: TrainConfig,
    pub losses: Vec<ModelLosses>,
}

impl Trained {
    /// The final losses as a markdown table, with a seed column for an ensemble.
    pub fn markdown(&self) -> String {
        let ensemble = self.config.is_ensemble();
        let mut s = format!("| model |{} train loss | test loss | ms/step |\n", if ensemble { " seed |" } else { "" });
        s += &format!("|---|{}---|---|---|\n", if ensemble { "---|" } else { "" });
        for r in &self.losses {
            let seed = if ensemble { format!(" {} |", r.seed) } else { String::new() };
            s += &match r.diverged {
                Some(d) => format!("| {} |{seed} diverged at step {} | - | - |\n", r.model.name(), d.step),
                None => format!(
                    "| {} |{seed} {:.4e} +- {:.2e} | {:.4e} +- {:.2e} | {} |\n",
                    r.model.name(),
                    r.train.mean,
                    r.train.sem,
                    r.test.mean,
                    r.test.sem,
                    r.ms_per_step.map(|m| format!("{m:.1}")).unwrap_or_else(|| "-".into())
                ),
            };
        }
        s
    }
}

/// Trains every model of the run (see [`TrainRequest`]), each as one stack of the run's
/// members, and writes the run folder.
pub fn train(req: &TrainRequest, rt: &Runtime, obs: &dyn Observer) -> Result<Trained> {
    let (device, threads) = (rt.device, rt.threads);
    let (run, data) = if req.resume { resume_run(req, device, threads)? } else { new_run(req, device, threads)? };
    let cfg = run.config.train.clone();
    run.create_member_dirs()?;

    let mut losses = Vec::new();
    for &kind in &cfg.models {
        let stack = Stack { train: cfg.clone(), model: run.config.model, kind, device };
        let mut members = training::members_for(&stack, &data, ThreadChoice::from_flag(threads)?);
        members.use_cuda_graphs(rt.cuda_graphs);
        let mut from = vec![];
        for (k, &seed) in cfg.seeds.iter().enumerate() {
            let ck = run.checkpoint(kind, seed)?;
            if let Some(ck) = &ck {
                members.restore(k, &ck.tensors, &ck.path)?;
            }
            from.push(ck.map(|c| c.progress));
        }
        // A member whose checkpoint is behind the others' diverged in an earlier run.
        let start = from.iter().flatten().map(|p| p.step).max().unwrap_or(0);
        let mut recorders: Vec<Box<dyn training::Recorder>> = vec![];
        for (k, &seed) in cfg.seeds.iter().enumerate() {
            let behind = start > 0 && from[k].is_none_or(|p| p.step < start);
            if behind {
                members.freeze(k, Divergence { step: from[k].map_or(0, |p| p.step), loss: f64::NAN });
            }
            recorders.push(Box::new(run.recorder(kind, seed, if behind { usize::MAX } else { start })?));
        }
        obs.training(TrainEvent::Start { model: kind, from: start, total: cfg.steps });
        let fitted = training::fit(&mut *members, &cfg, &from, &mut recorders, &|| obs.training(TrainEvent::Step { model: kind }))?;
        for (k, &seed) in cfg.seeds.iter().enumerate() {
            if fitted.diverged[k].is_none() {
                run.save_weights(kind, seed, &members.member_weights(k))?;
            }
        }
        let (tr, te) = members.final_losses();
        for (k, &seed) in cfg.seeds.iter().enumerate() {
            let diverged = fitted.diverged[k];
            let stats = |l: &[f64]| if diverged.is_some() { MeanSem { mean: f64::NAN, sem: f64::NAN, n: 0 } } else { MeanSem::of(l) };
            losses.push(ModelLosses {
                model: kind,
                seed,
                train: stats(&tr[k]),
                test: stats(&te[k]),
                ms_per_step: fitted.ms_per_step,
                diverged,
            });
        }
        obs.training(TrainEvent::Done { model: kind });
    }
    FinalLosses::new(losses.clone(), &cfg.loss).save(&run.dir)?;
    write_loss_curve(&run)?;
    Ok(Trained { config: cfg, losses })
}

/// Refuses an ensemble that would not fit in the device's memory, before anything is written.
fn check_memory(cfg: &TrainConfig, model: &ModelConfig, data: &PixelDataset, device: Device, threads: Option<usize>) -> Result<()> {
    let Some(free) = runtime::available_memory(device) else { return Ok(()) };
    let workers = runtime::threads(threads)?;
    let members: u64 = cfg
        .models
        .iter()
        .map(|&kind| training::members::memory_estimate(model, kind, cfg.seeds.len(), cfg.batch, cfg.horizon, device, workers))
        .max()
        .unwrap_or(0);
    let samples = (data.config.trials * data.config.samples_per_trial()) as u64;
    let needed = members + samples * 2 * model.input_dim as u64 * 4;
    if needed > free {
        let gb = |b: u64| b as f64 / 1e9;
        // A net set wider or deeper than the paper's is what to shrink first.
        let wide = cfg.field.net.is_some_and(|n| n.width * n.layers as i64 > 400);
        return Err(Error::setting(
            if wide { "--width" } else { "--seeds" },
            format!(
                "{} members need about {:.1} GB on {}, but {:.1} GB is free; train fewer members at once, or a smaller net",
                cfg.seeds.len(),
                gb(needed),
                runtime::describe(device),
                gb(free)
            ),
        ));
    }
    Ok(())
}

/// The model a run of `cfg` on the dataset `data` trains: the dataset's frames (side and
/// channels), its system's degrees of freedom, the run's architecture and field.
fn model_config(data: &DatasetConfig, cfg: &TrainConfig) -> ModelConfig {
    ModelConfig::with(data.render.side, data.sys().dof(), cfg.arch).with_channels(data.sys().channels()).with_field(cfg.field)
}

fn new_run(req: &TrainRequest, device: Device, threads: Option<usize>) -> Result<(PixelRun, PixelDataset)> {
    let path = req.data.clone().unwrap_or_else(|| PathBuf::from(dataset::DEFAULT_PATH));
    let data = PixelDataset::open(&path)?;
    let base = req.base.clone().unwrap_or_else(|| TrainConfig::for_system(data.config.system.kind()));
    req.overrides.check_preset()?;
    let cfg = req.overrides.apply(base);
    cfg.validate()?;
    cfg.check_batch(&data.config)?;
    let model = model_config(&data.config, &cfg);
    check_memory(&cfg, &model, &data, device, threads)?;
    let config = RunConfig::new(cfg, model, DatasetRef::of(&path, data.config.clone())?);
    Ok((PixelRun::create(&req.out, config, req.force)?, data))
}

/// Every setting from the run folder, except what a flag overrides; any change but more
/// steps (or the same dataset at another path) is refused, naming what changed.
fn resume_run(req: &TrainRequest, device: Device, threads: Option<usize>) -> Result<(PixelRun, PixelDataset)> {
    let mut run = PixelRun::open(&req.out).map_err(|e| Error::setting("--resume", e.to_string()))?;
    if let Some(seeds) = req.overrides.seeds.as_ref().or(req.base.as_ref().map(|b| &b.seeds)) {
        if *seeds != run.config.train.seeds {
            return Err(Error::setting(
                "--seeds",
                format!(
                    "the run's members are seeds {}; resume them with the same seeds, or leave --seeds out",
                    Seeds::describe(&run.config.train.seeds)
                ),
            ));
        }
    }
    req.overrides.check_preset()?;
    let cfg = req.overrides.apply(req.base.clone().unwrap_or_else(|| run.config.train.clone()));
    cfg.validate()?;
    let path = req.data.clone().unwrap_or_else(|| run.config.dataset.path.clone());
    let data = PixelDataset::open(&path)?;
    let (ours, theirs) = (run.config.dataset.config.system.kind(), data.config.system.kind());
    if ours != theirs {
        return Err(Error::setting(
            "--data",
            format!(
                "{} holds a {} dataset, but the run in {} learned the {}",
                path.display(),
                theirs.name(),
                req.out.display(),
                ours.name()
            ),
        ));
    }
    let config = RunConfig::new(cfg.clone(), model_config(&data.config, &cfg), DatasetRef::of(&path, data.config.clone())?);
    let changed: Vec<String> =
        run.config.differences(&config).into_iter().filter(|d| !d.starts_with("train.steps:") && !d.starts_with("dataset.path:")).collect();
    if !changed.is_empty() {
        return Err(Error::setting(
            "--resume",
            format!(
                "{} was trained with other settings ({}); pass the same settings, or train a new run",
                req.out.display(),
                changed.join(", ")
            ),
        ));
    }
    for &kind in &cfg.models {
        for &seed in &cfg.seeds {
            if let Some(done) = run.checkpoint(kind, seed)?.map(|c| c.progress.step) {
                if done > cfg.steps {
                    return Err(Error::setting(
                        "--steps",
                        format!(
                            "the {} model's checkpoint has done {done} steps; a resumed run may raise --steps, not lower it below that",
                            kind.name()
                        ),
                    ));
                }
            }
        }
    }
    cfg.check_batch(&data.config)?;
    check_memory(&cfg, &config.model, &data, device, threads)?;
    run.update_config(config)?;
    Ok((run, data))
}

/// Training losses by step: each model's train and test loss; for an ensemble the median
/// over its members, with the band from the lowest to the highest.
fn write_loss_curve(run: &PixelRun) -> Result<()> {
    let ensemble = run.config.train.is_ensemble();
    let mut series = vec![];
    for &kind in &run.config.train.models {
        let logs: Vec<Vec<LogLine>> = run.seeds().iter().map(|&s| run.read_log(kind, s)).collect::<Result<_>>()?;
        let train: Vec<Vec<(f64, f64)>> = logs.iter().map(|log| log.iter().map(|l| (l.step as f64, l.loss)).collect()).collect();
        let test: Vec<Vec<(f64, f64)>> =
            logs.iter().map(|log| log.iter().filter_map(|l| Some((l.step as f64, l.test_loss?))).collect()).collect();
        let suffix = if ensemble { format!(" (median, range of {} seeds)", run.seeds().len()) } else { String::new() };
        series.push(plot::Series::spread(format!("{} train{suffix}", kind.name()), &train));
        series.push(plot::Series::spread(format!("{} test", kind.name()), &test));
    }
    let title = format!("Training loss ({})", run.config.train.loss.describe());
    let p = plot::LinePlot { title: &title, x_label: "step", y_label: "loss", log_y: true, series: &series };
    plot::write(&p, &run.path(run::LOSS_CURVE))
}

/// A pixel run with its dataset (checked to be the one it was trained on) and the dataset's
/// samples on `device`.
struct Opened {
    run: PixelRun,
    data: PixelDataset,
    train: dataset::Pairs,
    test: dataset::Pairs,
}

/// Opens a run for `evaluate` or `rollout`. Scoring runs libtorch on one thread (it takes
/// a few seconds) so that its figures never depend on the machine's thread count.
fn open_for_scoring(run_dir: &Path, cfg: &EvalConfig, device: Device) -> Result<Opened> {
    runtime::set_libtorch_threads(1);
    let run = PixelRun::open(run_dir)?;
    let d = &run.config.dataset.config;
    cfg.validate(d.render.side, d.sys())?;
    let data = run.open_dataset()?;
    let context = run.config.model.arch.context;
    let (train, test) =
        (data.observations(Split::Train, context).to_device(device), data.observations(Split::Test, context).to_device(device));
    Ok(Opened { run, data, train, test })
}

/// Scores every model of a pixel run (the paper's Table 1 row and more) and stores the
/// result as the run's `metrics.json`.
pub fn evaluate(run_dir: &Path, cfg: &EvalConfig, device: Device) -> Result<PixelMetrics> {
    let Opened { run, data, train, test } = open_for_scoring(run_dir, cfg, device)?;
    let mut final_losses = None; // read after the first model's weights, whose absence names the file to fix
    let mut models = Vec::new();
    for &kind in &run.config.train.models {
        for &seed in run.seeds() {
            if !run.has_model(kind, seed) && run.config.train.is_ensemble() {
                continue; // a member that diverged
            }
            let model = run.load_model(kind, seed, device)?;
            let stored = match &final_losses {
                Some(f) => f,
                None => final_losses.insert(FinalLosses::load(&run.dir)?),
            };
            let losses = stored.of(kind, seed, &run.dir)?;
            let trained = &run.config.train;
            models.push(evaluate_model(&model, &data, &train, &test, cfg, (losses.train, losses.test), trained)?.for_seed(seed));
        }
    }
    let ensemble = EnsembleSummary::of(&models, run.seeds());
    let system = &run.config.dataset.config.system;
    let variant = Some(system.label()).filter(|l| l != system.kind().name());
    let metrics = PixelMetrics { system: system.kind(), variant, protocol: cfg.clone(), models, ensemble };
    metrics.save(&run.dir)?;
    for m in &metrics.models {
        let events = run.events_dir(m.model, m.seed).join(run::METRIC_EVENTS);
        crate::util::tensorboard::write_scalars(&events, run.config.train.steps, &crate::util::tensorboard::metric_scalars(m))?;
    }
    Ok(metrics)
}

/// What `score` measured, and where it wrote it.
#[derive(Clone, Debug)]
pub struct Scored {
    pub metrics: run::ScoreMetrics,
    pub config: run::ScoreRunConfig,
    /// The run folder written, if one was asked for.
    pub out: Option<PathBuf>,
}

/// How `score` counts the benchmark's valid prediction time; `Default`: from the file's
/// `train_window` (else its context), backward where the file holds backward predictions.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ScoreOptions {
    /// `--vpt-window`: frames of each trajectory the benchmark's count leaves out.
    pub window: Option<usize>,
    /// `--vpt-backward`: require backward predictions (the benchmark's forward and backward
    /// average).
    pub backward: bool,
}

/// Scores a predictions file of any model against a dataset's test trials (the schema:
/// `datasets/README.md`; our grey datasets and the suite's RGB ones alike), and writes a
/// score run folder at `out` (replaced only with `force`) that `table` reads beside the
/// trained runs.
pub fn score(data_path: &Path, predictions_path: &Path, out: Option<&Path>, force: bool, opts: ScoreOptions) -> Result<Scored> {
    if let Some(out) = out {
        run::check_replaceable(out, force, "")?;
    }
    let sha256 = crate::util::stats::sha256_file(data_path)?;
    let (truth, dataset) = if dataset::suite::format_of(data_path).as_deref() == Some(dataset::suite::SUITE_FORMAT) {
        let t = dataset::suite::read_test_trials(data_path)?;
        let suite = t.config.clone();
        (TestTrials::of_suite(data_path, t), run::ScoredDataset::Suite { path: data_path.to_path_buf(), sha256: sha256.clone(), suite })
    } else {
        let data = PixelDataset::open(data_path)?;
        let r = DatasetRef { path: data_path.to_path_buf(), sha256: sha256.clone(), config: data.config.clone() };
        (TestTrials::of(&data), run::ScoredDataset::Grey(r))
    };
    let predictions = Predictions::read(predictions_path)?;
    predictions.check_fits(predictions_path, &truth, &sha256)?;
    if opts.backward && predictions.backward.is_none() {
        return Err(Error::setting(
            "--vpt-backward",
            format!(
                "{} holds no backward_frames: its model was not run backward (a map of one frame to the next cannot be)",
                predictions_path.display()
            ),
        ));
    }
    let model = predictions
        .model
        .clone()
        .unwrap_or_else(|| predictions_path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "predictions".into()));
    let settings = ScoreSettings { threshold: EvalConfig::default().vpt_threshold, window: opts.window };
    if let Some(w) = opts.window {
        let (c, end) = (predictions.context, predictions.context + predictions.predicted);
        if w < c || w >= end {
            return Err(Error::setting(
                "--vpt-window",
                format!(
                    "{w} frames; the predictions are given {c} and end at frame {}: the window must lie in {c} .. {}",
                    end - 1,
                    end - 1
                ),
            ));
        }
    }
    let test_trials = score_predictions(&truth, &predictions, settings, predictions_path)?;
    let metrics = run::ScoreMetrics { system: truth.system.clone(), model: model.clone(), test_trials };
    let config = run::ScoreRunConfig {
        format: run::SCORE_FORMAT.into(),
        format_version: run::SCORE_FORMAT_VERSION,
        dataset,
        predictions: run::PredictionsRef {
            path: predictions_path.to_path_buf(),
            sha256: crate::util::stats::sha256_file(predictions_path)?,
            model,
            context: predictions.context,
            predicted: predictions.predicted,
            trials: predictions.trials,
            latent: predictions.latents.as_ref().map(|(d, _)| *d),
        },
    };
    if let Some(out) = out {
        run::ScoreRun::write(out, config.clone(), &metrics)?;
    }
    Ok(Scored { metrics, config, out: out.map(Path::to_path_buf) })
}

/// Writes a trained model's predictions of its dataset's test trials as a predictions file
/// (stepped as trained: what `evaluate` scores as protocol (c), and `score` reads).
pub fn predict(run_dir: &Path, kind: Option<FieldKind>, seed: Option<u64>, out: &Path, force: bool, device: Device) -> Result<Predictions> {
    runtime::set_libtorch_threads(1);
    let run = PixelRun::open(run_dir)?;
    let models = &run.config.train.models;
    let kind = match kind {
        Some(k) if models.contains(&k) => k,
        Some(k) => {
            let trained: Vec<&str> = models.iter().map(|m| m.name()).collect();
            return Err(Error::setting("--model", format!("the run trained no {} model (it has {})", k.name(), trained.join(", "))));
        }
        None => models[0],
    };
    let seed = match seed {
        Some(s) if run.seeds().contains(&s) => s,
        Some(s) => return Err(Error::setting("--seed", format!("the run has no member of seed {s} (its seeds: {:?})", run.seeds()))),
        None => run.seeds()[0],
    };
    // Checked before any work, so that nothing is computed for a file that may not be written.
    drop(PendingFile::new(out, force, "--out")?);
    let data = run.open_dataset()?;
    let model = run.load_model(kind, seed, device)?;
    let name = if run.config.train.is_ensemble() { format!("{} seed {seed}", kind.name()) } else { kind.name().to_string() };
    let train = &run.config.train;
    let window = Some(train.train_window(&model.config.arch));
    let p = Predictions::of_model(&model, &data, train.integrator_for(kind), window, name, Some(run.config.dataset.sha256.clone()))?;
    p.write(out, force, "--out")?;
    Ok(p)
}

/// What `rollout` made.
#[derive(Clone, Debug)]
pub struct Pictures {
    /// The folder written.
    pub out: PathBuf,
    pub summary: RolloutSummary,
    /// Whether the run is a seed ensemble (its members are named by seed).
    pub ensemble: bool,
}

impl Pictures {
    /// A line per member (its energy MSE, pixel MSE, valid prediction time, learned H's
    /// variation), then the folder and its files.
    pub fn describe(&self) -> String {
        let mut s = String::new();
        for m in &self.summary.models {
            let who = if self.ensemble { format!("{} seed {}", m.model.name(), m.seed) } else { m.model.name().to_string() };
            let energy =
                if m.map_holds { format!("energy MSE {:.3e}", m.energy_mse) } else { "energy n/a (no affine latent map holds)".into() };
            let h = m.learned_h_variation.map(|v| format!(", learned H varies by {v:.3} of its spread")).unwrap_or_default();
            s += &format!(
                "{who}: {energy}, pixel MSE {:.3e}, valid for {} of {} frames{h}\n",
                m.pixel_mse, m.valid_prediction_time, self.summary.frames
            );
        }
        s += &format!("wrote {} ({})\n", self.out.display(), self.summary.files.join(", "));
        s
    }
}

/// Draws a pixel run's rollout pictures into `out` (default `RUN/rollout`): every member
/// of an ensemble is rolled out (the energy plot shows their spread), the frames are the
/// first member's. Each member's latent map is the one `evaluate` stored when it was fitted
/// the same way, else fitted now. `as_trained`: each model rolled out with the step it was
/// trained with (protocol a), else by the paper's protocol.
pub fn pictures(
    run_dir: &Path,
    cfg: &EvalConfig,
    layout: Layout,
    out: Option<&Path>,
    device: Device,
    as_trained: bool,
) -> Result<Pictures> {
    layout.validate()?;
    let Opened { run, data, train, test } = open_for_scoring(run_dir, cfg, device)?;
    let stored = run.metrics()?.filter(|m| m.protocol.map_fit == cfg.map_fit);
    let mut models = vec![];
    for &kind in &run.config.train.models {
        for &seed in run.seeds() {
            if !run.has_model(kind, seed) && run.config.train.is_ensemble() {
                continue; // a member that diverged
            }
            let model = run.load_model(kind, seed, device)?;
            let map = match stored.as_ref().and_then(|m| m.models.iter().find(|x| x.model == kind && x.seed == seed)) {
                Some(m) => m.map.clone(),
                None => crate::evaluate::fit_map(&model, &train, &test, cfg.map_fit),
            };
            models.push((seed, model, map));
        }
    }
    let t = &run.config.train;
    let mapped: Vec<Mapped> = models
        .iter()
        .map(|(seed, model, map)| {
            let kind = model.field.kind();
            let as_trained = as_trained.then(|| t.integrator_for(kind));
            Mapped { seed: *seed, model, map, as_trained }
        })
        .collect();
    let out = out.map(Path::to_path_buf).unwrap_or_else(|| run.path(run::ROLLOUT));
    let summary = pictures::write_rollout(&data, &train, &mapped, cfg, layout, &out)?;
    Ok(Pictures { out, summary, ensemble: run.config.train.is_ensemble() })
}

/// A coordinate task: its data, an HNN and a baseline from one seed, their scores, and the
/// run folder, written whole. With two `threads` or more both models train at once, each on
/// its own thread (libtorch held to one thread each, so the results do not depend on it).
pub fn coords(cfg: &TaskConfig, out: &Path, force: bool, threads: usize) -> Result<CoordsMetrics> {
    cfg.validate()?;
    run::check_replaceable(out, force, "")?;
    let data = coords::make_data(cfg)?;
    runtime::set_libtorch_threads(1);
    let built: Vec<_> =
        [FieldKind::Hnn, FieldKind::Baseline].into_iter().map(|k| model::field_alone(cfg.field(data.d), k, cfg.seed)).collect();
    let one = |(vs, field): (tch::nn::VarStore, model::LatentField)| -> Result<_> {
        runtime::set_libtorch_threads(1);
        let objective = CoordsObjective::new(&field, &data);
        let mut trainer = Autograd::new(&objective, Adam::new(model::sorted_parameters(&vs), cfg.adam));
        let mut log = MemoryLog::default();
        training::fit(&mut trainer, cfg, &[None], &mut [Box::new(&mut log) as Box<dyn training::Recorder>], &|| {})?;
        let (metrics, rollouts) = coords::score(cfg, &data, &field)?;
        Ok((field.kind(), vs, log.0, rollouts, metrics))
    };
    let outcomes: Vec<Result<_>> = if threads >= 2 {
        std::thread::scope(|scope| {
            let handles: Vec<_> = built.into_iter().map(|b| scope.spawn(|| one(b))).collect();
            handles.into_iter().map(|h| h.join().expect("training thread panicked")).collect()
        })
    } else {
        built.into_iter().map(one).collect()
    };
    let (mut trained, mut results) = (vec![], vec![]);
    for o in outcomes {
        let (kind, vs, log, rollouts, metrics) = o?;
        results.push(metrics);
        trained.push((kind, vs, log, rollouts));
    }
    let metrics = CoordsMetrics { task: cfg.task, models: results };
    let fields: Vec<TrainedField> = trained.iter().map(|(kind, vs, log, _)| TrainedField { kind: *kind, vs, log }).collect();
    let rollouts: Vec<(FieldKind, Vec<Vec<f64>>)> = trained.iter().map(|(k, _, _, r)| (*k, r.clone())).collect();
    CoordsRun::write(out, cfg, &fields, &metrics, |dir| coords::draw_pictures(cfg, &data, &rollouts, dir))?;
    Ok(metrics)
}

/// The whole pipeline on one run folder: `Default`-like settings from [`DemoConfig::new`].
#[derive(Clone, Debug, PartialEq)]
pub struct DemoConfig {
    pub out: PathBuf,
    /// The dataset written (replaced).
    pub data: PathBuf,
    pub dataset: DatasetConfig,
    pub train: TrainOverrides,
    pub eval: EvalConfig,
    pub layout: Layout,
    pub sheet: SheetConfig,
}

impl DemoConfig {
    /// The paper's settings for `system` into `out` (default `runs/demo` for the pendulum,
    /// `runs/demo-SYSTEM` for the others), the dataset at `data` (default
    /// `datasets/SYSTEM.h5`); `quick`: a one-minute look (30 trials of 40 frames, 300
    /// training steps, 60-frame rollouts, its dataset `OUT.h5` beside the run folder).
    pub fn new(system: SystemKind, out: Option<PathBuf>, data: Option<PathBuf>, quick: bool) -> Self {
        let out = out.unwrap_or_else(|| match system {
            SystemKind::Pendulum => PathBuf::from("runs/demo"),
            other => PathBuf::from(format!("runs/demo-{}", other.name())),
        });
        let data = data.unwrap_or_else(|| if quick { out.with_extension("h5") } else { dataset::default_path(system) });
        let mut c = DemoConfig {
            out,
            data,
            dataset: DatasetConfig::for_system(system),
            train: TrainOverrides::default(),
            eval: EvalConfig::default(),
            layout: Layout::default(),
            sheet: SheetConfig::default(),
        };
        if quick {
            c.dataset.trials = 30;
            c.dataset.steps = 40;
            c.train = TrainOverrides { steps: Some(300), batch: Some(100), eval_every: Some(100), ..TrainOverrides::default() };
            c.eval = EvalConfig { frames: 60, steps: 63, seeds: vec![1, 2], ..EvalConfig::default() };
        }
        c
    }
}

/// What `demo` made.
pub struct DemoOutcome {
    pub metrics: PixelMetrics,
    pub rollout: RolloutSummary,
    /// (stage, seconds)
    pub timings: Vec<(String, f64)>,
    pub report: PathBuf,
}

/// Generate, train both models, preview, evaluate, roll out and write `REPORT.md`, calling
/// each stage directly.
pub fn demo(cfg: &DemoConfig, rt: &Runtime, obs: &dyn Observer) -> Result<DemoOutcome> {
    let (device, threads) = (rt.device, rt.threads);
    if let Some(dir) = cfg.data.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| Error::output(dir, format!("cannot create the dataset's folder ({e})")))?;
    }
    let mut timings = vec![];
    let mut timed = |name: &str, t: Instant| timings.push((name.to_string(), t.elapsed().as_secs_f64()));

    obs.stage("generate");
    let t = Instant::now();
    generate(&cfg.dataset, &cfg.data, true, runtime::threads(threads)?, obs)?;
    timed("generate", t);

    obs.stage("train");
    let t = Instant::now();
    let req = TrainRequest {
        out: cfg.out.clone(),
        data: Some(cfg.data.clone()),
        base: None,
        overrides: cfg.train.clone(),
        resume: false,
        force: true,
    };
    train(&req, rt, obs)?;
    timed("train", t);

    obs.stage("preview");
    let t = Instant::now();
    let preview_file = "dataset-preview.png";
    preview(&cfg.data, &cfg.out.join(preview_file), true, &cfg.sheet)?;
    timed("preview", t);

    obs.stage("evaluate");
    let t = Instant::now();
    let metrics = evaluate(&cfg.out, &cfg.eval, device)?;
    timed("evaluate", t);

    obs.stage("rollout");
    let t = Instant::now();
    let rolled = pictures(&cfg.out, &cfg.eval, cfg.layout, None, device, false)?.summary;
    timed("rollout", t);

    let run = PixelRun::open(&cfg.out)?;
    crate::report::write_report(&run, &metrics, cfg.layout, &timings, Some(preview_file))?;
    Ok(DemoOutcome { metrics, rollout: rolled, timings, report: run.path(run::REPORT) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evaluate::pictures::ModelRollout;

    fn losses(model: FieldKind, seed: u64, diverged: Option<usize>) -> ModelLosses {
        let m = |mean| MeanSem { mean, sem: mean / 10.0, n: 4 };
        ModelLosses {
            model,
            seed,
            train: m(1.5e-3),
            test: m(2.25e-3),
            ms_per_step: Some(3.04),
            diverged: diverged.map(|step| Divergence { step, loss: f64::NAN }),
        }
    }

    #[test]
    fn the_losses_table_has_a_seed_column_for_an_ensemble_only() {
        let one = Trained { config: TrainConfig::default(), losses: vec![losses(FieldKind::Hnn, 0, None)] };
        assert_eq!(
            one.markdown(),
            "| model | train loss | test loss | ms/step |\n|---|---|---|---|\n| hnn | 1.5000e-3 +- 1.50e-4 | 2.2500e-3 +- 2.25e-4 | 3.0 |\n"
        );
        let config = TrainConfig { seeds: vec![0, 1], ..TrainConfig::default() };
        let two = Trained { config, losses: vec![losses(FieldKind::Baseline, 0, None), losses(FieldKind::Baseline, 1, Some(7))] };
        assert_eq!(
            two.markdown(),
            "| model | seed | train loss | test loss | ms/step |\n|---|---|---|---|---|\n\
             | baseline | 0 | 1.5000e-3 +- 1.50e-4 | 2.2500e-3 +- 2.25e-4 | 3.0 |\n\
             | baseline | 1 | diverged at step 7 | - | - |\n"
        );
    }

    #[test]
    fn the_rollout_summary_names_each_member_and_the_files_written() {
        let member = |model, seed, map_holds, h| ModelRollout {
            model,
            seed,
            energy_mse: 1.25e-2,
            energy_mse_pm: 0.0,
            pixel_mse: 3.5e-3,
            valid_prediction_time: 40,
            learned_h_variation: h,
            map_holds,
        };
        let summary = RolloutSummary {
            protocol: EvalConfig::default(),
            layout: Layout::default(),
            frames: 200,
            models: vec![member(FieldKind::Hnn, 3, true, Some(0.0125)), member(FieldKind::Baseline, 3, false, None)],
            files: vec!["sheet.png", "rollout.json"],
        };
        let rolled = Pictures { out: PathBuf::from("r/rollout"), summary, ensemble: false };
        assert_eq!(
            rolled.describe(),
            "hnn: energy MSE 1.250e-2, pixel MSE 3.500e-3, valid for 40 of 200 frames, learned H varies by 0.013 of its spread\n\
             baseline: energy n/a (no affine latent map holds), pixel MSE 3.500e-3, valid for 40 of 200 frames\n\
             wrote r/rollout (sheet.png, rollout.json)\n"
        );
        let ensemble = Pictures { ensemble: true, ..rolled };
        assert!(ensemble.describe().starts_with("hnn seed 3: energy MSE"), "{}", ensemble.describe());
    }
}
