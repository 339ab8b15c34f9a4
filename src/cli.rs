//! The command line: clap definitions, their conversion into the library's config structs
//! (validated once there), and dispatch. Nothing else in the library sees clap.

use anyhow::{bail, Context};
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use std::process::Command as Process;

use crate::bench;
use crate::device::{self, DeviceChoice};
use crate::evaluate::EvalConfig;
use crate::integrate::Method;
use crate::model::FieldKind;
use crate::train::{Event, RunConfig, RunMode, TrainConfig};
use crate::dataset::{self, DatasetConfig, PixelDataset};
use crate::output::PendingFile;
use crate::physics::InitialStateRule;
use crate::preview::{self, SheetConfig};
use crate::progress;
use crate::render::{RenderConfig, Window};

#[derive(Parser, Debug)]
#[command(name = "pixel-hnn", version, about = "Hamiltonian Neural Networks that learn a pendulum's physics from pixels")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Simulate the pendulum, render its frames and write a pixel dataset (HDF5).
    Generate(GenerateArgs),
    /// Write a contact sheet (PNG) of a dataset's frames.
    Preview(PreviewArgs),
    /// Train the autoencoder jointly with an HNN and/or a baseline latent field.
    Train(TrainArgs),
    /// Roll the learned dynamics out from a fresh trajectory and draw it (RUN/rollout/).
    Rollout(RolloutArgs),
    /// Score a run's models as the paper's Table 1 (and more); writes RUN/metrics.json.
    Evaluate(EvaluateArgs),
    /// The whole pipeline on defaults: generate, train both models, evaluate, roll out,
    /// and write RUN/REPORT.md.
    Demo(DemoArgs),
    /// A coordinate-space task of Table 1 (rows 1-4): data, HNN and baseline, metrics.
    Coords(CoordsArgs),
    /// Print Table 1 from the run folders under --runs, beside the paper's values.
    Table(TableArgs),
    /// Measure speed; prints one JSON line per figure.
    Bench(BenchArgs),
}

fn defaults() -> DatasetConfig {
    DatasetConfig::default()
}

#[derive(Args, Debug)]
pub struct GenerateArgs {
    /// Where to write the dataset (HDF5); its folder must exist.
    #[arg(long, default_value = "datasets/pendulum.h5")]
    pub out: PathBuf,
    /// Overwrite --out if it exists.
    #[arg(long)]
    pub force: bool,
    /// Seed of the initial states.
    #[arg(long, default_value_t = defaults().seed, allow_negative_numbers = true)]
    pub seed: u64,
    /// Number of trials (trajectories).
    #[arg(long, default_value_t = defaults().trials, allow_negative_numbers = true)]
    pub trials: usize,
    /// Frames per trial (a trial of N frames gives N - 3 samples).
    #[arg(long, default_value_t = defaults().steps, allow_negative_numbers = true)]
    pub steps: usize,
    /// Frame side in pixels.
    #[arg(long, default_value_t = defaults().render.side, allow_negative_numbers = true)]
    pub side: u32,
    /// Initial deflection from hanging down must exceed this (radians).
    #[arg(long, default_value_t = defaults().initial.min_angle, allow_negative_numbers = true)]
    pub min_angle: f64,
    /// Initial deflection from hanging down must stay below this (radians; default pi/6).
    #[arg(long, default_value_t = defaults().initial.max_angle, allow_negative_numbers = true)]
    pub max_angle: f64,
    /// Initial angular speed is drawn from U[-thdot-max, thdot-max] (rad/s).
    #[arg(long, default_value_t = defaults().initial.thdot_max, allow_negative_numbers = true)]
    pub thdot_max: f64,
    /// Fraction of trials, taken first, that form the test set.
    #[arg(long, default_value_t = defaults().test_fraction, allow_negative_numbers = true)]
    pub test_fraction: f64,
    /// The scene is drawn at side * supersample pixels before the anti-aliasing downsample.
    #[arg(long, default_value_t = defaults().render.supersample, allow_negative_numbers = true)]
    pub supersample: u32,
    /// World window framed, as x0,x1,y0,y1 (default: the reference's crop).
    #[arg(long, value_parser = parse_window, allow_hyphen_values = true)]
    pub window: Option<Window>,
    /// Rendering threads (default: all cores). The data do not depend on it.
    #[arg(long, allow_negative_numbers = true)]
    pub threads: Option<usize>,
    /// Print this process's peak memory as JSON on stderr when done (for `bench`).
    #[arg(long, hide = true)]
    pub print_peak_memory: bool,
}

fn parse_window(s: &str) -> Result<Window, String> {
    let v: Vec<f64> = s
        .split(',')
        .map(|x| x.trim().parse::<f64>().map_err(|e| format!("'{x}': {e}")))
        .collect::<Result<_, _>>()?;
    match v[..] {
        [x0, x1, y0, y1] => Ok(Window { x0, x1, y0, y1 }),
        _ => Err(format!("expected four numbers x0,x1,y0,y1, got {}", v.len())),
    }
}

impl GenerateArgs {
    pub fn to_config(&self) -> DatasetConfig {
        let d = defaults();
        DatasetConfig {
            seed: self.seed,
            trials: self.trials,
            steps: self.steps,
            test_fraction: self.test_fraction,
            initial: InitialStateRule { min_angle: self.min_angle, max_angle: self.max_angle, thdot_max: self.thdot_max },
            physics: d.physics,
            render: RenderConfig {
                side: self.side,
                supersample: self.supersample,
                window: self.window.unwrap_or(d.render.window),
                ..d.render
            },
        }
    }
}

#[derive(Args, Debug)]
pub struct PreviewArgs {
    /// Dataset to show (HDF5 from `generate`).
    #[arg(long)]
    pub data: PathBuf,
    /// Where to write the contact sheet (PNG).
    #[arg(long)]
    pub out: PathBuf,
    /// Overwrite --out if it exists.
    #[arg(long)]
    pub force: bool,
    /// Rows: the first N trials.
    #[arg(long, default_value_t = SheetConfig::default().trials, allow_negative_numbers = true)]
    pub trials: usize,
    /// Columns: N frames of each trial.
    #[arg(long, default_value_t = SheetConfig::default().frames, allow_negative_numbers = true)]
    pub frames: usize,
    /// Steps between the frames shown.
    #[arg(long, default_value_t = SheetConfig::default().stride, allow_negative_numbers = true)]
    pub stride: usize,
    /// Each frame pixel becomes scale x scale screen pixels.
    #[arg(long, default_value_t = SheetConfig::default().scale, allow_negative_numbers = true)]
    pub scale: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ModelChoice {
    Hnn,
    Baseline,
    /// Both, from the same seed (identical initial weights and batches).
    Both,
}

/// Unset flags take the paper's defaults, or with --resume the run's stored settings.
#[derive(Args, Debug)]
pub struct TrainArgs {
    /// Dataset (HDF5 from `generate`).
    #[arg(long, default_value = "datasets/pendulum.h5")]
    pub data: PathBuf,
    /// Run folder to write (config, weights, logs, plots, checkpoints).
    #[arg(long)]
    pub out: PathBuf,
    /// Which latent field(s) to train [default: both].
    #[arg(long, value_enum)]
    pub model: Option<ModelChoice>,
    /// Seed of the weights and the batch draws [default: 0].
    #[arg(long, allow_negative_numbers = true)]
    pub seed: Option<u64>,
    /// Training steps [default: 10001]. With --resume it may be raised to train longer.
    #[arg(long, allow_negative_numbers = true)]
    pub steps: Option<usize>,
    /// Batch size, drawn at random each step [default: 200].
    #[arg(long, allow_negative_numbers = true)]
    pub batch: Option<usize>,
    /// Adam learning rate [default: 1e-3].
    #[arg(long, allow_negative_numbers = true)]
    pub lr: Option<f64>,
    /// Adam weight decay (L2) [default: 1e-5].
    #[arg(long, allow_negative_numbers = true)]
    pub weight_decay: Option<f64>,
    /// Log the train loss every N steps [default: 10].
    #[arg(long, allow_negative_numbers = true)]
    pub log_every: Option<usize>,
    /// Log the test loss every N steps [default: 200].
    #[arg(long, allow_negative_numbers = true)]
    pub eval_every: Option<usize>,
    /// Write a checkpoint every N steps [default: 1000].
    #[arg(long, allow_negative_numbers = true)]
    pub checkpoint_every: Option<usize>,
    /// Replace an existing run folder.
    #[arg(long, conflicts_with = "resume")]
    pub force: bool,
    /// Continue the run in --out from its last checkpoints.
    #[arg(long)]
    pub resume: bool,
    /// Where to train: cpu, cuda, or auto (CUDA when libtorch sees a GPU).
    #[arg(long, value_enum, default_value_t = DeviceChoice::Auto)]
    pub device: DeviceChoice,
    /// libtorch threads [default: all cores].
    #[arg(long, allow_negative_numbers = true)]
    pub threads: Option<usize>,
}

impl TrainArgs {
    /// Overlays the given flags on `base`.
    pub fn to_config(&self, base: TrainConfig) -> TrainConfig {
        let mut c = base;
        if let Some(m) = self.model {
            c.models = match m {
                ModelChoice::Hnn => vec![FieldKind::Hnn],
                ModelChoice::Baseline => vec![FieldKind::Baseline],
                ModelChoice::Both => vec![FieldKind::Hnn, FieldKind::Baseline],
            };
        }
        c.seed = self.seed.unwrap_or(c.seed);
        c.steps = self.steps.unwrap_or(c.steps);
        c.batch = self.batch.unwrap_or(c.batch);
        c.adam.lr = self.lr.unwrap_or(c.adam.lr);
        c.adam.weight_decay = self.weight_decay.unwrap_or(c.adam.weight_decay);
        c.log_every = self.log_every.unwrap_or(c.log_every);
        c.eval_every = self.eval_every.unwrap_or(c.eval_every);
        c.checkpoint_every = self.checkpoint_every.unwrap_or(c.checkpoint_every);
        c
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum IntegratorChoice {
    /// Adaptive Dormand-Prince 5(4) (--rtol, --atol): the reference's.
    Rk45,
    /// Fixed-step classic Runge-Kutta (--dt).
    Rk4,
    /// Fixed-step implicit midpoint, symplectic (--dt).
    Midpoint,
}

/// The fresh test trajectories and the integrator; defaults are the reference's protocol.
#[derive(Args, Debug)]
pub struct ProtocolArgs {
    /// Seed of the trajectory scored as the paper did.
    #[arg(long, default_value_t = EvalConfig::default().seed, allow_negative_numbers = true)]
    pub seed: u64,
    /// Frames simulated per trajectory (at least --frames + 3).
    #[arg(long, default_value_t = EvalConfig::default().steps, allow_negative_numbers = true)]
    pub steps: usize,
    /// Initial deflection of the trajectories exceeds this (radians; default pi/11).
    #[arg(long, default_value_t = EvalConfig::default().min_angle, allow_negative_numbers = true)]
    pub min_angle: f64,
    /// ... and stays below this (radians; default pi/10).
    #[arg(long, default_value_t = EvalConfig::default().max_angle, allow_negative_numbers = true)]
    pub max_angle: f64,
    /// Rollout length in frames.
    #[arg(long, default_value_t = EvalConfig::default().frames, allow_negative_numbers = true)]
    pub frames: usize,
    /// Integrator of the latent field.
    #[arg(long, value_enum, default_value_t = IntegratorChoice::Rk45)]
    pub integrator: IntegratorChoice,
    /// Relative tolerance of rk45.
    #[arg(long, default_value_t = 1e-3)]
    pub rtol: f64,
    /// Absolute tolerance of rk45.
    #[arg(long, default_value_t = 1e-6)]
    pub atol: f64,
    /// Step of rk4 and midpoint, in frames.
    #[arg(long, default_value_t = 0.25)]
    pub dt: f64,
    /// Seeds of the trajectories averaged beyond the paper, comma-separated.
    #[arg(long, value_delimiter = ',', default_values_t = EvalConfig::default().seeds)]
    pub seeds: Vec<u64>,
    /// How the latent -> (q, p) map is fitted: least squares, or the reference's Adam.
    #[arg(long, value_enum, default_value_t = crate::evaluate::MapFit::Lstsq)]
    pub map_fit: crate::evaluate::MapFit,
}

impl ProtocolArgs {
    pub fn to_config(&self) -> EvalConfig {
        let method = match self.integrator {
            IntegratorChoice::Rk45 => Method::Rk45 { rtol: self.rtol, atol: self.atol },
            IntegratorChoice::Rk4 => Method::Rk4 { dt: self.dt },
            IntegratorChoice::Midpoint => Method::ImplicitMidpoint { dt: self.dt },
        };
        EvalConfig {
            seed: self.seed,
            steps: self.steps,
            min_angle: self.min_angle,
            max_angle: self.max_angle,
            frames: self.frames,
            method,
            seeds: self.seeds.clone(),
            vpt_threshold: EvalConfig::default().vpt_threshold,
            map_fit: self.map_fit,
        }
    }
}

#[derive(Args, Debug)]
pub struct EvaluateArgs {
    /// Run folder written by `train`.
    #[arg(long)]
    pub run: PathBuf,
    #[command(flatten)]
    pub protocol: ProtocolArgs,
    /// Where to evaluate: cpu, cuda, or auto.
    #[arg(long, value_enum, default_value_t = DeviceChoice::Auto)]
    pub device: DeviceChoice,
    /// libtorch threads [default: all cores].
    #[arg(long, allow_negative_numbers = true)]
    pub threads: Option<usize>,
    /// Print this process's peak memory as JSON on stderr when done (for `bench`).
    #[arg(long, hide = true)]
    pub print_peak_memory: bool,
}

#[derive(Args, Debug)]
pub struct RolloutArgs {
    /// Run folder written by `train`.
    #[arg(long)]
    pub run: PathBuf,
    /// Folder for the pictures [default: RUN/rollout]; replaced if it exists.
    #[arg(long)]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub protocol: ProtocolArgs,
    /// Each frame pixel becomes scale x scale pixels.
    #[arg(long, default_value_t = 4, allow_negative_numbers = true)]
    pub scale: u32,
    /// The sheet shows every k-th frame.
    #[arg(long, default_value_t = 10, allow_negative_numbers = true)]
    pub every: usize,
    /// Where to run the models: cpu, cuda, or auto.
    #[arg(long, value_enum, default_value_t = DeviceChoice::Auto)]
    pub device: DeviceChoice,
}

#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Run folder (replaced if it is a run folder already).
    #[arg(long, default_value = "runs/demo")]
    pub out: PathBuf,
    /// Dataset to write (replaced) [default: datasets/pendulum.h5, or OUT.h5 beside the run folder with --quick].
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// A one-minute look: 30 trials of 40 frames, 300 training steps, 60-frame rollouts.
    #[arg(long)]
    pub quick: bool,
    /// Where to train: cpu, cuda, or auto.
    #[arg(long, value_enum, default_value_t = DeviceChoice::Auto)]
    pub device: DeviceChoice,
}

/// Unset flags take the reference's settings for the task.
#[derive(Args, Debug)]
pub struct CoordsArgs {
    #[arg(long, value_enum)]
    pub task: crate::coords::Task,
    /// Run folder to write.
    #[arg(long)]
    pub out: PathBuf,
    /// Replace an existing run folder.
    #[arg(long)]
    pub force: bool,
    /// The real pendulum's measurements (real_pend_h_1.txt), for --task real-pendulum.
    #[arg(long)]
    pub data: Option<PathBuf>,
    #[arg(long, allow_negative_numbers = true)]
    pub seed: Option<u64>,
    /// Training steps [default: the task's, 2000 or 10000].
    #[arg(long, allow_negative_numbers = true)]
    pub steps: Option<usize>,
    /// Trajectories (orbits) to simulate [default: the task's].
    #[arg(long, allow_negative_numbers = true)]
    pub trajectories: Option<usize>,
    /// libtorch threads [default: all cores; 1 per model for two-body, whose models train at once].
    #[arg(long, allow_negative_numbers = true)]
    pub threads: Option<usize>,
}

#[derive(Args, Debug)]
pub struct TableArgs {
    /// Folder whose sub-folders are runs (pixel runs with metrics.json, coords runs).
    #[arg(long, default_value = "runs")]
    pub runs: PathBuf,
}

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Frames rendered for the one-thread throughput figure.
    #[arg(long, default_value_t = 20_000)]
    pub frames: usize,
    /// Only the in-process figures (skip the whole-dataset run).
    #[arg(long)]
    pub quick: bool,
    /// Training steps timed per model and thread count.
    #[arg(long, default_value_t = 200)]
    pub train_steps: usize,
    /// The reference training step in PyTorch, timed in the same run (skipped if absent).
    #[arg(long, default_value = "../shared/peer/reference_train_step.py")]
    pub peer: PathBuf,
    /// Python that runs --peer (the project venv's has torch 2.11).
    #[arg(long, default_value = ".venv/bin/python")]
    pub python: PathBuf,
    /// A trained run for the rollout and evaluate figures (skipped if absent).
    #[arg(long, default_value = "runs/demo")]
    pub run: PathBuf,
    /// The real pendulum's measurements, for the coordinate tasks' figures.
    #[arg(long, default_value = "../shared/data/real_pend_h_1.txt")]
    pub real_data: PathBuf,
    /// Skip the coordinate tasks' full runs (about 2 minutes).
    #[arg(long)]
    pub skip_coords: bool,
}

fn threads_or_all(threads: Option<usize>) -> anyhow::Result<usize> {
    match threads {
        Some(0) => bail!("--threads: must be at least 1"),
        Some(n) => Ok(n),
        None => Ok(std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)),
    }
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Generate(a) => generate(&a),
        Command::Preview(a) => preview(&a),
        Command::Train(a) => train(&a),
        Command::Evaluate(a) => evaluate(&a),
        Command::Rollout(a) => rollout(&a),
        Command::Demo(a) => demo(&a),
        Command::Coords(a) => coords(&a),
        Command::Table(a) => table(&a),
        Command::Bench(a) => bench(&a),
    }
}

fn generate(a: &GenerateArgs) -> anyhow::Result<()> {
    let config = a.to_config();
    config.validate()?;
    let threads = threads_or_all(a.threads)?;
    // Check the target before the work, write it only when complete.
    let pending = PendingFile::new(&a.out, a.force, "--out")?;
    let bar = progress::bar(config.trials as u64, "render");
    let data = dataset::generate(&config, threads, &|| bar.inc(1))?;
    bar.finish_and_clear();
    data.write_to(pending)?;
    println!(
        "wrote {}: {} trials x {} frames of {}x{} ({} test trials, {} samples)",
        a.out.display(),
        config.trials,
        config.steps,
        config.render.side,
        config.render.side,
        config.test_trials(),
        config.trials * config.samples_per_trial()
    );
    if a.print_peak_memory {
        eprintln!("{}", bench::peak_memory_line());
    }
    Ok(())
}

fn preview(a: &PreviewArgs) -> anyhow::Result<()> {
    let cfg = SheetConfig { trials: a.trials, frames: a.frames, stride: a.stride, scale: a.scale };
    cfg.validate()?;
    PendingFile::new(&a.out, a.force, "--out")?;
    let data = PixelDataset::open(&a.data).context("--data")?;
    let img = preview::contact_sheet(&data, &cfg)?;
    preview::write_png(&img, &a.out, a.force)?;
    println!("wrote {} ({}x{} px)", a.out.display(), img.width(), img.height());
    Ok(())
}

fn train(a: &TrainArgs) -> anyhow::Result<()> {
    let (base, mode) = if a.resume {
        (RunConfig::load(&a.out).context("--resume")?.train, RunMode::Resume)
    } else {
        (TrainConfig::default(), RunMode::Fresh { force: a.force })
    };
    let cfg = a.to_config(base);
    cfg.validate()?;
    let threads = device::set_threads(a.threads)?;
    let dev = device::resolve(a.device)?;
    let bars = std::cell::RefCell::new(None::<indicatif::ProgressBar>);
    let on_event = |e: Event| match e {
        Event::Start { model, from, total } => {
            let bar = progress::bar(total as u64, model.name());
            bar.set_position(from as u64);
            *bars.borrow_mut() = Some(bar);
        }
        Event::Step { .. } => {
            if let Some(b) = bars.borrow().as_ref() {
                b.inc(1)
            }
        }
        Event::Done { .. } => {
            if let Some(b) = bars.borrow_mut().take() {
                b.finish_and_clear()
            }
        }
    };
    eprintln!("training on {} with {threads} thread(s) into {}", device::describe(dev), a.out.display());
    let reports = crate::train::train(&a.out, &a.data, &cfg, dev, mode, &on_event)?;
    println!("| model | train loss | test loss | ms/step |");
    println!("|---|---|---|---|");
    for r in &reports {
        println!(
            "| {} | {:.4e} +- {:.2e} | {:.4e} +- {:.2e} | {} |",
            r.model.name(),
            r.train.mean,
            r.train.sem,
            r.test.mean,
            r.test.sem,
            r.ms_per_step.map(|m| format!("{m:.1}")).unwrap_or_else(|| "-".into())
        );
    }
    println!("run folder: {}", a.out.display());
    Ok(())
}

/// Our training step and the PyTorch peer's, interleaved per thread count so that both see
/// the same machine load; prints the ratio.
fn bench_training(a: &BenchArgs) -> anyhow::Result<()> {
    for threads in [1usize, 2] {
        for kind in [FieldKind::Hnn, FieldKind::Baseline] {
            let ours = bench::train_step_ms(kind, threads, a.train_steps);
            println!("{ours}");
            if !a.peer.exists() || !a.python.exists() {
                println!("{}", serde_json::json!({"bench": "train_step", "impl": "pytorch-peer", "skipped": format!("{} or {} not found", a.peer.display(), a.python.display())}));
                continue;
            }
            let out = Process::new(&a.python)
                .arg(&a.peer)
                .args(["--threads", &threads.to_string(), "--steps", &a.train_steps.to_string(), "--model", kind.name()])
                .output()
                .with_context(|| format!("running {}", a.peer.display()))?;
            let text = String::from_utf8_lossy(&out.stdout);
            let Some(peer) = text.lines().filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok()).next() else {
                bail!("{} printed no figure: {}", a.peer.display(), String::from_utf8_lossy(&out.stderr));
            };
            println!("{peer}");
            if let (Some(p), Some(o)) = (peer["ms_per_step"].as_f64(), ours["ms_per_step"].as_f64()) {
                println!("{}", serde_json::json!({"bench": "train_step_ratio", "model": kind.name(), "threads": threads,
                    "peer_over_ours": (p / o * 100.0).round() / 100.0}));
            }
        }
    }
    Ok(())
}

fn evaluate(a: &EvaluateArgs) -> anyhow::Result<()> {
    let cfg = a.protocol.to_config();
    device::set_threads(a.threads)?;
    let dev = device::resolve(a.device)?;
    let metrics = crate::evaluate::evaluate_run(&a.run, &cfg, dev)?;
    let json = serde_json::json!({"protocol": cfg, "models": metrics});
    crate::output::write_atomic(&a.run.join("metrics.json"), serde_json::to_string_pretty(&json)?.as_bytes(), true, "--run")?;
    print!("{}", crate::evaluate::markdown_table(&metrics, &cfg));
    println!("wrote {}", a.run.join("metrics.json").display());
    if a.print_peak_memory {
        eprintln!("{}", bench::peak_memory_line());
    }
    Ok(())
}

fn rollout(a: &RolloutArgs) -> anyhow::Result<()> {
    let cfg = a.protocol.to_config();
    let dev = device::resolve(a.device)?;
    let out = a.out.clone().unwrap_or_else(|| crate::rollout::default_out(&a.run));
    let layout = crate::rollout::Layout { scale: a.scale, every: a.every };
    let summary = crate::rollout::write_rollout(&a.run, &cfg, layout, &out, dev)?;
    println!("{}", serde_json::to_string(&summary["models"])?);
    println!("wrote {} (comparison.gif, sheet.png, energy.png, phase-space.png, frames/)", out.display());
    Ok(())
}

fn demo(a: &DemoArgs) -> anyhow::Result<()> {
    use clap::Parser as _;
    let data = a.data.clone().unwrap_or_else(|| if a.quick { a.out.with_extension("h5") } else { PathBuf::from("datasets/pendulum.h5") });
    if let Some(dir) = data.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let (data_s, out_s) = (data.display().to_string(), a.out.display().to_string());
    let dev = match a.device {
        DeviceChoice::Cpu => "cpu",
        DeviceChoice::Cuda => "cuda",
        DeviceChoice::Auto => "auto",
    };
    let quick_data: &[&str] = if a.quick { &["--trials", "30", "--steps", "40"] } else { &[] };
    let quick_train: &[&str] = if a.quick { &["--steps", "300", "--batch", "100", "--eval-every", "100"] } else { &[] };
    let quick_eval: &[&str] = if a.quick { &["--frames", "60", "--steps", "63", "--seeds", "1,2"] } else { &[] };
    let parse = |args: Vec<&str>| Cli::try_parse_from(std::iter::once("pixel-hnn").chain(args)).map(|c| c.command);
    let mut timings = vec![];
    let mut stage = |name: &str, cmd: Command| -> anyhow::Result<()> {
        eprintln!("demo: {name}");
        let t = std::time::Instant::now();
        run(Cli { command: cmd })?;
        timings.push((name.to_string(), t.elapsed().as_secs_f64()));
        Ok(())
    };
    stage("generate", parse([&["generate", "--force", "--out", &data_s][..], quick_data].concat())?)?;
    stage("train", parse([&["train", "--force", "--data", &data_s, "--out", &out_s, "--device", dev][..], quick_train].concat())?)?;
    let preview = a.out.join("dataset-preview.png");
    stage("preview", parse(vec!["preview", "--force", "--data", &data_s, "--out", preview.to_str().unwrap_or("dataset-preview.png")])?)?;
    let eval_args = [&["--run", &out_s, "--device", dev][..], quick_eval].concat();
    stage("evaluate", parse([&["evaluate"][..], &eval_args].concat())?)?;
    stage("rollout", parse([&["rollout"][..], &eval_args].concat())?)?;
    let Command::Evaluate(ev) = parse([&["evaluate"][..], &eval_args].concat())? else { unreachable!() };
    let metrics: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(a.out.join("metrics.json"))?)?;
    let models: Vec<crate::evaluate::ModelMetrics> = serde_json::from_value(metrics["models"].clone())?;
    crate::report::write_report(&a.out, &models, &ev.protocol.to_config(), &timings, Some("dataset-preview.png"))?;
    println!("demo: report {}", a.out.join("REPORT.md").display());
    Ok(())
}

/// Rollout + decode per model, and `evaluate` as a whole command, on a trained run.
fn bench_evaluation(a: &BenchArgs) -> anyhow::Result<()> {
    if !a.run.join("config.json").exists() {
        println!("{}", serde_json::json!({"bench": "evaluate", "skipped": format!("no trained run at {} (scripts/demo makes runs/demo)", a.run.display())}));
        return Ok(());
    }
    tch::set_num_threads(1);
    for line in bench::rollout_ms(&a.run, 200, 5)? {
        println!("{line}");
    }
    let exe = std::env::current_exe().context("locating the pixel-hnn binary")?;
    let run = bench::measure(
        Process::new(exe).args(["evaluate", "--device", "cpu", "--print-peak-memory", "--run"]).arg(&a.run).stdout(std::process::Stdio::null()),
    )?;
    if !run.success {
        bail!("pixel-hnn evaluate failed during the benchmark: {}", run.stderr.trim());
    }
    let peak = run.peak_rss_mb;
    println!("{}", serde_json::json!({"bench": "evaluate_command", "run": a.run, "wall_s": (run.wall_s * 100.0).round() / 100.0,
        "peak_rss_mb": peak.map(|p| p.round()), "reference_s": bench::REFERENCE_EVALUATE_S, "reference_peak_mb": 2400,
        "vs_reference_x": (bench::REFERENCE_EVALUATE_S / run.wall_s).round()}));
    Ok(())
}

fn coords(a: &CoordsArgs) -> anyhow::Result<()> {
    let mut cfg = crate::coords::TaskConfig::reference(a.task);
    cfg.data = a.data.clone();
    cfg.seed = a.seed.unwrap_or(cfg.seed);
    cfg.steps = a.steps.unwrap_or(cfg.steps);
    cfg.trajectories = a.trajectories.unwrap_or(cfg.trajectories);
    cfg.validate()?;
    device::set_threads(Some(a.threads.unwrap_or(cfg.default_threads())))?;
    let t = std::time::Instant::now();
    let metrics = crate::coords::run_task(&cfg, &a.out, a.force)?;
    println!("{}", crate::coords::TABLE_HEADER);
    println!("{}", crate::coords::table_row(a.task, &metrics));
    println!("wrote {} in {:.1} s", a.out.display(), t.elapsed().as_secs_f64());
    Ok(())
}

fn table(a: &TableArgs) -> anyhow::Result<()> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&a.runs)
        .with_context(|| format!("--runs {}", a.runs.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("metrics.json").exists())
        .collect();
    dirs.sort();
    // (paper order, line): spring, pendulum, real pendulum, two-body, pixel pendulum.
    let mut rows: Vec<(usize, String)> = vec![];
    for dir in &dirs {
        let m: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join("metrics.json"))?)?;
        if let (Some(task), Some(models)) = (m.get("task"), m.get("models")) {
            let task: crate::coords::Task = serde_json::from_value(task.clone())?;
            let models: Vec<crate::coords::TaskMetrics> = serde_json::from_value(models.clone())?;
            rows.push((task as usize, format!("{}  <- {}", crate::coords::table_row(task, &models), dir.display())));
        } else if let Some(models) = m.get("models") {
            let models: Vec<crate::evaluate::ModelMetrics> = serde_json::from_value(models.clone())?;
            if let Some(row) = crate::evaluate::table_row(&models) {
                rows.push((4, format!("{row}  <- {}", dir.display())));
            }
        }
    }
    rows.sort_by_key(|r| r.0);
    println!("{}", crate::coords::TABLE_HEADER);
    for (_, line) in &rows {
        println!("{line}");
    }
    if rows.is_empty() {
        bail!("--runs {}: no evaluated runs found (run `pixel-hnn evaluate` or `pixel-hnn coords`)", a.runs.display());
    }
    Ok(())
}

/// Wall time of each coordinate task's full default run (data, both models, evaluation).
fn bench_coords(a: &BenchArgs) -> anyhow::Result<()> {
    let exe = std::env::current_exe().context("locating the pixel-hnn binary")?;
    let dir = std::env::temp_dir().join(format!("pixel-hnn-bench-coords-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    for task in ["spring", "pendulum", "real-pendulum", "two-body"] {
        let mut cmd = Process::new(&exe);
        cmd.args(["coords", "--force", "--task", task, "--out"]).arg(dir.join(task)).stdout(std::process::Stdio::null());
        if task == "real-pendulum" {
            cmd.arg("--data").arg(&a.real_data);
        }
        let run = bench::measure(&mut cmd)?;
        println!("{}", serde_json::json!({"bench": "coords_task_full_run", "task": task, "ok": run.success,
            "wall_s": (run.wall_s * 10.0).round() / 10.0, "goal_s": 30}));
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

fn bench(a: &BenchArgs) -> anyhow::Result<()> {
    println!("{}", bench::render_throughput(RenderConfig::default(), a.frames)?);
    if a.quick {
        return Ok(());
    }
    bench_training(a)?;
    bench_evaluation(a)?;
    if !a.skip_coords {
        bench_coords(a)?;
    }
    let dir = std::env::temp_dir().join(format!("pixel-hnn-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let threads = threads_or_all(None)?;
    let out = dir.join("pendulum.h5");
    let exe = std::env::current_exe().context("locating the pixel-hnn binary")?;
    println!("{}", bench::dataset_phases(threads, &dir)?);
    // Three runs: this machine is shared, so report the median and the best.
    let (mut walls, mut peaks, mut size) = (vec![], vec![], 0);
    for _ in 0..3 {
        let run = bench::measure(
            Process::new(&exe).args(["generate", "--force", "--print-peak-memory", "--out"]).arg(&out).stdout(std::process::Stdio::null()),
        )
        .context("running pixel-hnn generate")?;
        if !run.success {
            let _ = std::fs::remove_dir_all(&dir);
            bail!("pixel-hnn generate failed during the benchmark: {}", run.stderr.trim());
        }
        size = std::fs::metadata(&out).map(|m| m.len()).unwrap_or(0);
        walls.push(run.wall_s);
        peaks.extend(run.peak_rss_mb);
    }
    let _ = std::fs::remove_dir_all(&dir);
    walls.sort_by(f64::total_cmp);
    let ms = |s: f64| (s * 1000.0).round() / 1000.0;
    let line = serde_json::json!({
        "bench": "generate_default_dataset", "threads": threads, "runs": walls.len(),
        "wall_s_median": ms(walls[1]), "wall_s_best": ms(walls[0]),
        "peak_rss_mb": peaks.iter().cloned().fold(f64::NAN, f64::max).round(),
        "file_mb": (size as f64 / 1e6 * 10.0).round() / 10.0,
        "vs_reference_x": (bench::REFERENCE_DATASET_S / walls[1]).round(),
        "reference_s": bench::REFERENCE_DATASET_S, "reference_peak_mb": bench::REFERENCE_DATASET_MB,
    });
    println!("{line}");
    Ok(())
}
