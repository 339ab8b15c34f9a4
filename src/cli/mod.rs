//! The command line: clap definitions, their conversion into the library's configs, and
//! dispatch to [`crate::pipeline`] (or [`crate::bench`], [`crate::report::table`]); then a short
//! human summary on stdout. Nothing else in the library sees clap; JSON goes to files.

use anyhow::Context;
use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use std::sync::Mutex;

use crate::bench::BenchConfig;
use crate::choice::Choice;
use crate::coords::{Task, TaskConfig};
use crate::dataset::preview::SheetConfig;
use crate::dataset::DatasetConfig;
use crate::evaluate::pictures::Layout;
use crate::evaluate::{EvalConfig, MapFit};
use crate::integrate::Method;
use crate::model::FieldKind;
use crate::pipeline::{self, DemoConfig, Observer, TrainEvent, TrainRequest};
use crate::progress;
use crate::run::ModelLosses;
use crate::runtime::{self, CudaGraphs, DeviceChoice, Runtime};
use crate::systems::render::{RenderConfig, Window};
use crate::systems::{parse_param, SystemKind};
use crate::training::{Seeds, TrainOverrides};

#[derive(Parser, Debug)]
#[command(
    name = "pixel-hnn",
    version,
    about = "Hamiltonian Neural Networks that learn a pendulum's (and other systems') physics from pixels"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Simulate a system (the pendulum by default), render its frames and write a pixel
    /// dataset (HDF5).
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
    /// A grid of runs (systems x models x seeds x settings), on this machine or as a Slurm
    /// job array: plan, run, status, table.
    #[command(subcommand)]
    Sweep(SweepCommand),
}

#[derive(Subcommand, Debug)]
pub enum SweepCommand {
    /// Check every point of a TOML grid and write the sweep folder (nothing runs yet).
    Plan(SweepPlanArgs),
    /// Run the points not done yet (never run, or failed): here, or through Slurm.
    Run(SweepRunArgs),
    /// Each point's state: pending, queued, running, done, diverged or failed.
    Status(SweepDirArgs),
    /// One table per system over the done points (and energy-ratio.png).
    Table(SweepDirArgs),
    /// Run one point (what the executors start; not needed by hand).
    #[command(hide = true)]
    Point(SweepPointArgs),
}

#[derive(Args, Debug)]
pub struct SweepPlanArgs {
    /// The grid (TOML; see README "Sweeps").
    pub plan: PathBuf,
    /// The sweep folder to write.
    #[arg(long)]
    pub out: PathBuf,
    /// Replace an existing sweep folder (its results are lost).
    #[arg(long)]
    pub force: bool,
}

/// Where the points run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ExecutorArg {
    /// On this machine, --jobs points at a time.
    Local,
    /// As one Slurm job array (sbatch), a task per point.
    Slurm,
}

#[derive(Args, Debug)]
pub struct SweepRunArgs {
    /// The sweep folder (from `sweep plan`).
    pub dir: PathBuf,
    #[arg(long, value_enum, default_value_t = ExecutorArg::Local)]
    pub executor: ExecutorArg,
    /// Local: points at once [default: half the cores, at least 1].
    #[arg(long, allow_negative_numbers = true)]
    pub jobs: Option<usize>,
    /// Local: threads per point [default: the cores split between the jobs].
    #[arg(long, allow_negative_numbers = true)]
    pub threads: Option<usize>,
    /// Slurm: the partition [default: the TOML's, else the cluster's default].
    #[arg(long)]
    pub partition: Option<String>,
    /// Slurm: the account to charge [default: the TOML's, else yours].
    #[arg(long)]
    pub account: Option<String>,
    /// Slurm: CPUs per array task [default: the TOML's, else 2].
    #[arg(long, allow_negative_numbers = true)]
    pub cpus_per_task: Option<u32>,
    /// Slurm: memory per array task, e.g. 4G [default: the TOML's, else 4G].
    #[arg(long)]
    pub mem: Option<String>,
    /// Slurm: time limit per array task, e.g. 02:00:00 [default: the TOML's, else 02:00:00].
    #[arg(long)]
    pub time: Option<String>,
    /// Slurm: one GPU per task (--gres=gpu:1; the points train on CUDA).
    #[arg(long)]
    pub gpu: bool,
    /// Slurm: skip the check that the binary and the sweep folder are on a shared filesystem.
    #[arg(long)]
    pub assume_shared: bool,
    /// Slurm: wait until the submitted points have finished, printing their counts.
    #[arg(long)]
    pub wait: bool,
}

#[derive(Args, Debug)]
pub struct SweepDirArgs {
    /// The sweep folder.
    pub dir: PathBuf,
}

#[derive(Args, Debug)]
pub struct SweepPointArgs {
    /// The sweep folder.
    pub dir: PathBuf,
    /// The point's index.
    #[arg(long)]
    pub index: usize,
    /// Threads [default: all cores].
    #[arg(long, allow_negative_numbers = true)]
    pub threads: Option<usize>,
    /// Where to train.
    #[arg(long, value_parser = choice::<DeviceChoice>(), default_value = "auto")]
    pub device: DeviceChoice,
}

/// A clap parser for a library setting chosen by name.
fn choice<T: Choice + Clone + Send + Sync>() -> impl TypedValueParser<Value = T> {
    PossibleValuesParser::new(T::ALL.iter().map(|c| PossibleValue::new(c.name()).help(c.help())))
        .map(|name| T::from_name(&name).expect("clap offers only known names"))
}

fn data_defaults() -> DatasetConfig {
    DatasetConfig::default()
}

#[derive(Args, Debug)]
pub struct GenerateArgs {
    /// The physical system.
    #[arg(long, value_parser = choice::<SystemKind>(), default_value = "pendulum")]
    pub system: SystemKind,
    /// Where to write the dataset (HDF5); its folder must exist [default: datasets/SYSTEM.h5].
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Overwrite --out if it exists.
    #[arg(long)]
    pub force: bool,
    /// Seed of the initial states.
    #[arg(long, default_value_t = data_defaults().seed, allow_negative_numbers = true)]
    pub seed: u64,
    /// Number of trials (trajectories).
    #[arg(long, default_value_t = data_defaults().trials, allow_negative_numbers = true)]
    pub trials: usize,
    /// Frames per trial (a trial of N frames gives N - 3 samples).
    #[arg(long, default_value_t = data_defaults().steps, allow_negative_numbers = true)]
    pub steps: usize,
    /// Frame side in pixels.
    #[arg(long, default_value_t = data_defaults().render.side, allow_negative_numbers = true)]
    pub side: u32,
    /// Lower end of the initial-state window, in the system's quantity: the pendulum's
    /// deflection from hanging down (rad, default 0), the spring's radius, body 1's x and y
    /// (each), the double pendulum's larger angle [default: the system's].
    #[arg(long, visible_alias = "min-angle", allow_negative_numbers = true)]
    pub min: Option<f64>,
    /// Upper end of the initial-state window (the pendulum's default: pi/6).
    #[arg(long, visible_alias = "max-angle", allow_negative_numbers = true)]
    pub max: Option<f64>,
    /// The pendulum's initial angular speed is drawn from U[-thdot-max, thdot-max] (rad/s;
    /// default 1); the same as --param thdot_max=VALUE.
    #[arg(long, allow_negative_numbers = true)]
    pub thdot_max: Option<f64>,
    /// A physical parameter of the system, NAME=VALUE (repeatable), e.g. g=9.8; an unknown
    /// name lists the system's.
    #[arg(long = "param", value_name = "NAME=VALUE", allow_hyphen_values = true)]
    pub params: Vec<String>,
    /// Fraction of trials, taken first, that form the test set.
    #[arg(long, default_value_t = data_defaults().test_fraction, allow_negative_numbers = true)]
    pub test_fraction: f64,
    /// The scene is drawn at side * supersample pixels before the anti-aliasing downsample.
    #[arg(long, default_value_t = data_defaults().render.supersample, allow_negative_numbers = true)]
    pub supersample: u32,
    /// World window framed, as x0,x1,y0,y1 (default: the system's; the pendulum's is the
    /// reference's crop).
    #[arg(long, value_parser = parse_window, allow_hyphen_values = true)]
    pub window: Option<Window>,
    /// Rendering threads [default: all cores]. The data do not depend on it.
    #[arg(long, allow_negative_numbers = true)]
    pub threads: Option<usize>,
}

fn parse_window(s: &str) -> Result<Window, String> {
    let v: Vec<f64> = s.split(',').map(|x| x.trim().parse::<f64>().map_err(|e| format!("'{x}': {e}"))).collect::<Result<_, _>>()?;
    match v[..] {
        [x0, x1, y0, y1] => Ok(Window { x0, x1, y0, y1 }),
        _ => Err(format!("expected four numbers x0,x1,y0,y1, got {}", v.len())),
    }
}

impl GenerateArgs {
    pub fn to_config(&self) -> crate::Result<DatasetConfig> {
        let mut d = DatasetConfig::for_system(self.system);
        for text in &self.params {
            let (name, value) = parse_param(text)?;
            d.system.set_param(&name, value)?;
        }
        if let Some(v) = self.thdot_max {
            d.system
                .set_param("thdot_max", v)
                .map_err(|_| crate::Error::setting("--thdot-max", "is the pendulum's; this system has no initial speed range"))?;
        }
        let (lo, hi) = d.sys().window();
        d.system.set_window((self.min.unwrap_or(lo), self.max.unwrap_or(hi)));
        Ok(DatasetConfig {
            seed: self.seed,
            trials: self.trials,
            steps: self.steps,
            test_fraction: self.test_fraction,
            render: RenderConfig {
                side: self.side,
                supersample: self.supersample,
                // The system's window follows its parameters (a longer rod needs a wider one).
                window: self.window.unwrap_or_else(|| d.sys().default_window()),
            },
            ..d
        })
    }

    /// `--out`, or the system's default path.
    pub fn out(&self) -> PathBuf {
        self.out.clone().unwrap_or_else(|| crate::dataset::default_path(self.system))
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

/// Which latent fields to train.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ModelArg {
    Hnn,
    Baseline,
    /// Both, from the same seed (identical initial weights and batches).
    Both,
}

/// Unset flags take the paper's defaults, or with --resume the run's stored settings.
#[derive(Args, Debug)]
pub struct TrainArgs {
    /// Dataset (HDF5 from `generate`) [default: datasets/pendulum.h5; with --resume, the run's].
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Run folder to write (config, weights, logs, plots, checkpoints).
    #[arg(long)]
    pub out: PathBuf,
    /// Which latent field(s) to train [default: both].
    #[arg(long, value_enum)]
    pub model: Option<ModelArg>,
    /// Seed of the weights and the batch draws [default: 0].
    #[arg(long, allow_negative_numbers = true, conflicts_with = "seeds")]
    pub seed: Option<u64>,
    /// Train a seed ensemble: one member per seed, all at once, e.g. 0-31 or 0,3,7 (at most 1024).
    #[arg(long, allow_hyphen_values = true)]
    pub seeds: Option<String>,
    /// Training steps [default: 10001]. With --resume it may be raised to train longer.
    #[arg(long, allow_negative_numbers = true)]
    pub steps: Option<usize>,
    /// Batch size, drawn at random each step [default: 200].
    #[arg(long, allow_negative_numbers = true)]
    pub batch: Option<usize>,
    /// Adam learning rate [default: 1e-3].
    #[arg(long, allow_negative_numbers = true)]
    pub lr: Option<f64>,
    /// Adam weight decay (L2) [default: 1e-5 for the pendulum (the paper's), 0 for the other systems].
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
    /// Continue the run in --out from its last checkpoints, with its stored settings.
    #[arg(long)]
    pub resume: bool,
    /// Where to train.
    #[arg(long, value_parser = choice::<DeviceChoice>(), default_value = "auto")]
    pub device: DeviceChoice,
    /// Worker threads on the CPU [default: all cores or one, whichever measures faster as training goes].
    #[arg(long, allow_negative_numbers = true)]
    pub threads: Option<usize>,
    /// Capture each GPU training step as one CUDA graph.
    #[arg(long, value_parser = choice::<CudaGraphs>(), default_value = "auto")]
    pub cuda_graphs: CudaGraphs,
}

impl TrainArgs {
    pub fn to_request(&self) -> crate::Result<TrainRequest> {
        let models = self.model.map(|m| match m {
            ModelArg::Hnn => vec![FieldKind::Hnn],
            ModelArg::Baseline => vec![FieldKind::Baseline],
            ModelArg::Both => vec![FieldKind::Hnn, FieldKind::Baseline],
        });
        let seeds = match (&self.seeds, self.seed) {
            (Some(text), _) => Some(Seeds::parse(text)?),
            (None, seed) => seed.map(|s| vec![s]),
        };
        Ok(TrainRequest {
            out: self.out.clone(),
            data: self.data.clone(),
            overrides: TrainOverrides {
                models,
                seeds,
                steps: self.steps,
                batch: self.batch,
                lr: self.lr,
                weight_decay: self.weight_decay,
                log_every: self.log_every,
                eval_every: self.eval_every,
                checkpoint_every: self.checkpoint_every,
            },
            resume: self.resume,
            force: self.force,
        })
    }
}

/// The integrator of the latent field.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum IntegratorArg {
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
    /// Initial-state window of the trajectories, lower end, in the system's quantity (the
    /// pendulum's deflection: default pi/11, the reference's) [default: the system's].
    #[arg(long, visible_alias = "min-angle", allow_negative_numbers = true)]
    pub min: Option<f64>,
    /// ... upper end (the pendulum's default: pi/10).
    #[arg(long, visible_alias = "max-angle", allow_negative_numbers = true)]
    pub max: Option<f64>,
    /// Rollout length in frames.
    #[arg(long, default_value_t = EvalConfig::default().frames, allow_negative_numbers = true)]
    pub frames: usize,
    /// Integrator of the latent field.
    #[arg(long, value_enum, default_value_t = IntegratorArg::Rk45)]
    pub integrator: IntegratorArg,
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
    /// How the latent -> (q, p) map is fitted.
    #[arg(long, value_parser = choice::<MapFit>(), default_value = "lstsq")]
    pub map_fit: MapFit,
}

impl ProtocolArgs {
    pub fn to_config(&self) -> EvalConfig {
        let method = match self.integrator {
            IntegratorArg::Rk45 => Method::Rk45 { rtol: self.rtol, atol: self.atol },
            IntegratorArg::Rk4 => Method::Rk4 { dt: self.dt },
            IntegratorArg::Midpoint => Method::ImplicitMidpoint { dt: self.dt },
        };
        EvalConfig {
            seed: self.seed,
            steps: self.steps,
            window_min: self.min,
            window_max: self.max,
            frames: self.frames,
            method,
            seeds: self.seeds.clone(),
            map_fit: self.map_fit,
            ..EvalConfig::default()
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
    /// Where to evaluate (on the CPU one thread: the figures never depend on the thread count).
    #[arg(long, value_parser = choice::<DeviceChoice>(), default_value = "auto")]
    pub device: DeviceChoice,
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
    #[arg(long, default_value_t = Layout::default().scale, allow_negative_numbers = true)]
    pub scale: u32,
    /// The sheet shows every k-th frame.
    #[arg(long, default_value_t = Layout::default().every, allow_negative_numbers = true)]
    pub every: usize,
    /// Where to run the models.
    #[arg(long, value_parser = choice::<DeviceChoice>(), default_value = "auto")]
    pub device: DeviceChoice,
}

#[derive(Args, Debug)]
pub struct DemoArgs {
    /// The physical system.
    #[arg(long, value_parser = choice::<SystemKind>(), default_value = "pendulum")]
    pub system: SystemKind,
    /// Run folder (replaced if it is a run folder already) [default: runs/demo for the
    /// pendulum, runs/demo-SYSTEM for the others].
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Dataset to write (replaced) [default: datasets/SYSTEM.h5, or OUT.h5 beside the run folder with --quick].
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// A one-minute look: 30 trials of 40 frames, 300 training steps, 60-frame rollouts.
    #[arg(long)]
    pub quick: bool,
    /// Train a seed ensemble instead of one model, e.g. 0-7 (at most 1024).
    #[arg(long, allow_hyphen_values = true)]
    pub seeds: Option<String>,
    /// Where to train.
    #[arg(long, value_parser = choice::<DeviceChoice>(), default_value = "auto")]
    pub device: DeviceChoice,
    /// Capture each GPU training step as one CUDA graph.
    #[arg(long, value_parser = choice::<CudaGraphs>(), default_value = "auto")]
    pub cuda_graphs: CudaGraphs,
}

/// Unset flags take the reference's settings for the task.
#[derive(Args, Debug)]
pub struct CoordsArgs {
    #[arg(long, value_parser = choice::<Task>())]
    pub task: Task,
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
    /// Threads [default: all cores], split among the models trained at once (two-body's).
    #[arg(long, allow_negative_numbers = true)]
    pub threads: Option<usize>,
}

impl CoordsArgs {
    pub fn to_config(&self) -> TaskConfig {
        let mut cfg = TaskConfig::reference(self.task);
        cfg.data = self.data.clone();
        cfg.seed = self.seed.unwrap_or(cfg.seed);
        cfg.steps = self.steps.unwrap_or(cfg.steps);
        cfg.trajectories = self.trajectories.unwrap_or(cfg.trajectories);
        cfg
    }
}

#[derive(Args, Debug)]
pub struct TableArgs {
    /// Folder whose sub-folders are runs (evaluated pixel runs, coordinate runs).
    #[arg(long, default_value = "runs")]
    pub runs: PathBuf,
}

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Frames rendered for the one-thread throughput figure.
    #[arg(long, default_value_t = BenchConfig::default().frames)]
    pub frames: usize,
    /// Only the in-process figures (skip the whole-dataset run).
    #[arg(long)]
    pub quick: bool,
    /// Training steps timed per model and thread count.
    #[arg(long, default_value_t = BenchConfig::default().train_steps)]
    pub train_steps: usize,
    /// The reference training step in PyTorch, timed in the same run (skipped if absent).
    #[arg(long, default_value_os_t = BenchConfig::default().peer)]
    pub peer: PathBuf,
    /// Python that runs --peer (the project venv's has torch 2.11).
    #[arg(long, default_value_os_t = BenchConfig::default().python)]
    pub python: PathBuf,
    /// A trained run for the rollout and evaluate figures (skipped if absent).
    #[arg(long, default_value_os_t = BenchConfig::default().run)]
    pub run: PathBuf,
    /// The real pendulum's measurements, for the coordinate tasks' figures.
    #[arg(long, default_value_os_t = BenchConfig::default().real_data)]
    pub real_data: PathBuf,
    /// Skip the coordinate tasks' full runs (about 2 minutes).
    #[arg(long)]
    pub skip_coords: bool,
    /// Only the GPU figures (CUDA, one model and ensembles of 8 and 32), beside --peer-cuda.
    #[arg(long)]
    pub gpu: bool,
    /// The CUDA peer: the reference step in PyTorch, eager, graphed and batched.
    #[arg(long, default_value_os_t = BenchConfig::default().peer_cuda)]
    pub peer_cuda: PathBuf,
}

impl BenchArgs {
    pub fn to_config(&self) -> BenchConfig {
        BenchConfig {
            frames: self.frames,
            quick: self.quick,
            train_steps: self.train_steps,
            peer: self.peer.clone(),
            python: self.python.clone(),
            run: self.run.clone(),
            real_data: self.real_data.clone(),
            skip_coords: self.skip_coords,
            gpu: self.gpu,
            peer_cuda: self.peer_cuda.clone(),
        }
    }
}

/// Progress bars on stderr (hidden off a terminal) and the demo's stage names.
#[derive(Default)]
struct Bars {
    render: Option<indicatif::ProgressBar>,
    train: Mutex<Option<indicatif::ProgressBar>>,
    stages: bool,
    /// Said on stderr when training starts (after every check has passed).
    header: Mutex<Option<String>>,
}

impl Bars {
    fn rendering(trials: usize) -> Self {
        Bars { render: Some(progress::bar(trials as u64, "render")), ..Bars::default() }
    }
}

impl Observer for Bars {
    fn stage(&self, name: &str) {
        if self.stages {
            eprintln!("demo: {name}");
        }
    }
    fn trial_rendered(&self) {
        if let Some(b) = &self.render {
            b.inc(1)
        }
    }
    fn training(&self, e: TrainEvent) {
        let mut bar = self.train.lock().unwrap_or_else(|e| e.into_inner());
        match e {
            TrainEvent::Start { model, from, total } => {
                if let Some(h) = self.header.lock().unwrap_or_else(|e| e.into_inner()).take() {
                    eprintln!("{h}");
                }
                let b = progress::bar(total as u64, model.name());
                b.set_position(from as u64);
                *bar = Some(b);
            }
            TrainEvent::Step { .. } => {
                if let Some(b) = bar.as_ref() {
                    b.inc(1)
                }
            }
            TrainEvent::Done { .. } => {
                if let Some(b) = bar.take() {
                    b.finish_and_clear()
                }
            }
        }
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
        Command::Sweep(c) => sweep(&c),
    }
}

fn sweep(c: &SweepCommand) -> anyhow::Result<()> {
    use crate::sweep::{aggregate, executor, point, status};
    match c {
        SweepCommand::Plan(a) => {
            let m = crate::sweep::plan(&a.plan, &a.out, a.force)?;
            let axes: Vec<String> = m.axes.iter().map(|x| format!("{} ({})", x.name, x.values.len())).collect();
            println!(
                "planned {} points ({}), {} datasets, into {}",
                m.points.len(),
                if axes.is_empty() { "no axes".to_string() } else { axes.join(" x ") },
                m.datasets.len(),
                a.out.display()
            );
        }
        SweepCommand::Run(a) => {
            let (todo, all) = executor::points_to_run(&a.dir)?;
            let busy = all
                .iter()
                .filter(|p| matches!(p.standing, status::Standing::Queued | status::Standing::Running | status::Standing::Unknown))
                .count();
            if todo.is_empty() {
                println!(
                    "nothing to run: {}",
                    status::counts(&all).iter().map(|(s, n)| format!("{n} {}", s.name())).collect::<Vec<_>>().join(", ")
                );
                return Ok(());
            }
            if busy > 0 {
                println!("{busy} points are queued or running already (or squeue cannot say); leaving them alone");
            }
            match a.executor {
                ExecutorArg::Local => {
                    let jobs = a.jobs.unwrap_or_else(|| (runtime::threads(None).unwrap_or(1) / 2).max(1));
                    let t = std::time::Instant::now();
                    let done = executor::run_local(&a.dir, &todo, executor::Local { jobs, threads: a.threads }, &mut |f| {
                        println!("point {}: {} {}", f.index, f.standing.name(), f.detail);
                    })?;
                    let failed = done.iter().filter(|f| f.standing == status::Standing::Failed).count();
                    println!(
                        "ran {} points in {:.0} s ({failed} failed); see `pixel-hnn sweep status {}`",
                        done.len(),
                        t.elapsed().as_secs_f64(),
                        a.dir.display()
                    );
                    if failed > 0 {
                        anyhow::bail!(
                            "{}: {failed} of {} points failed; `pixel-hnn sweep status` names each with its log",
                            a.dir.display(),
                            done.len()
                        );
                    }
                }
                ExecutorArg::Slurm => {
                    let settings = crate::sweep::plan::SlurmSettings {
                        partition: a.partition.clone(),
                        account: a.account.clone(),
                        cpus_per_task: a.cpus_per_task,
                        mem: a.mem.clone(),
                        time: a.time.clone(),
                        gpu: a.gpu.then_some(true),
                    };
                    let job = executor::submit_slurm(&a.dir, &todo, &executor::Slurm { settings, assume_shared: a.assume_shared })?;
                    println!("submitted job {job}: an array of {} tasks ({})", todo.len(), executor::array_spec(&todo));
                    if a.wait {
                        let all = executor::wait(&a.dir, std::time::Duration::from_secs(2), &mut std::io::stdout())?;
                        let failed = all.iter().filter(|p| p.standing == status::Standing::Failed).count();
                        if failed > 0 {
                            anyhow::bail!("{}: {failed} points failed; `pixel-hnn sweep status` names each with its log", a.dir.display());
                        }
                    }
                }
            }
        }
        SweepCommand::Status(a) => print!("{}", status::markdown(&status::status(&a.dir)?)),
        SweepCommand::Table(a) => {
            print!("{}", aggregate::table(&a.dir)?);
            println!("\nwrote {} and {}", a.dir.join("table.md").display(), a.dir.join("energy-ratio.png").display());
        }
        SweepCommand::Point(a) => {
            let st = point::run_point(&a.dir, a.index, point::PointRuntime { threads: a.threads, device: a.device })?;
            match st.state {
                point::State::Failed => anyhow::bail!("{}", st.error.unwrap_or_default()),
                s => println!("point {}: {:?} in {:.0} s", a.index, s, st.seconds.unwrap_or(0.0)),
            }
        }
    }
    Ok(())
}

fn generate(a: &GenerateArgs) -> anyhow::Result<()> {
    let config = a.to_config()?;
    config.validate()?;
    let threads = runtime::threads(a.threads)?;
    let bars = Bars::rendering(config.trials);
    let out = a.out();
    pipeline::generate(&config, &out, a.force, threads, &bars)?;
    if let Some(b) = &bars.render {
        b.finish_and_clear();
    }
    println!(
        "wrote {}: {}, {} trials x {} frames of {}x{} ({} test trials, {} samples)",
        out.display(),
        a.system.name(),
        config.trials,
        config.steps,
        config.render.side,
        config.render.side,
        config.test_trials(),
        config.trials * config.samples_per_trial()
    );
    Ok(())
}

fn preview(a: &PreviewArgs) -> anyhow::Result<()> {
    let cfg = SheetConfig { trials: a.trials, frames: a.frames, stride: a.stride, scale: a.scale };
    let (w, h) = pipeline::preview(&a.data, &a.out, a.force, &cfg)?;
    println!("wrote {} ({w}x{h} px)", a.out.display());
    Ok(())
}

fn print_losses(losses: &[ModelLosses]) {
    let ensemble = losses.iter().any(|l| l.seed != losses[0].seed);
    println!("| model |{} train loss | test loss | ms/step |", if ensemble { " seed |" } else { "" });
    println!("|---|{}---|---|---|", if ensemble { "---|" } else { "" });
    for r in losses {
        let seed = if ensemble { format!(" {} |", r.seed) } else { String::new() };
        match r.diverged {
            Some(d) => println!("| {} |{seed} diverged at step {} | - | - |", r.model.name(), d.step),
            None => println!(
                "| {} |{seed} {:.4e} +- {:.2e} | {:.4e} +- {:.2e} | {} |",
                r.model.name(),
                r.train.mean,
                r.train.sem,
                r.test.mean,
                r.test.sem,
                r.ms_per_step.map(|m| format!("{m:.1}")).unwrap_or_else(|| "-".into())
            ),
        }
    }
}

fn train(a: &TrainArgs) -> anyhow::Result<()> {
    let req = a.to_request()?;
    let dev = runtime::resolve(a.device)?;
    let rt = Runtime { device: dev, threads: a.threads, cuda_graphs: a.cuda_graphs.resolve(dev)? };
    let bars = Bars { header: Mutex::new(Some(format!("training on {} into {}", rt.describe()?, a.out.display()))), ..Bars::default() };
    let losses = pipeline::train(&req, &rt, &bars)?;
    print_losses(&losses);
    println!("run folder: {}", a.out.display());
    Ok(())
}

fn evaluate(a: &EvaluateArgs) -> anyhow::Result<()> {
    let cfg = a.protocol.to_config();
    let dev = runtime::resolve(a.device)?;
    let metrics = pipeline::evaluate(&a.run, &cfg, dev)?;
    print!("{}", crate::report::table::pixel_markdown(&metrics));
    println!("wrote {}", a.run.join(crate::run::METRICS).display());
    Ok(())
}

fn rollout(a: &RolloutArgs) -> anyhow::Result<()> {
    let cfg = a.protocol.to_config();
    let dev = runtime::resolve(a.device)?;
    let layout = Layout { scale: a.scale, every: a.every };
    let (out, summary) = pipeline::rollout(&a.run, &cfg, layout, a.out.as_deref(), dev)?;
    let ensemble = summary.models.iter().any(|m| m.seed != summary.models[0].seed);
    for m in &summary.models {
        let who = if ensemble { format!("{} seed {}", m.model.name(), m.seed) } else { m.model.name().to_string() };
        let energy =
            if m.map_holds { format!("energy MSE {:.3e}", m.energy_mse) } else { "energy n/a (no affine latent map holds)".into() };
        let h = m.learned_h_variation.map(|v| format!(", learned H varies by {v:.3} of its spread")).unwrap_or_default();
        println!("{who}: {energy}, pixel MSE {:.3e}, valid for {} of {} frames{h}", m.pixel_mse, m.valid_prediction_time, summary.frames);
    }
    let phase = if out.join("phase-space.png").exists() { "phase-space.png, " } else { "" };
    println!("wrote {} (comparison.gif, sheet.png, energy.png, {phase}frames/, rollout.json)", out.display());
    Ok(())
}

fn demo(a: &DemoArgs) -> anyhow::Result<()> {
    let mut cfg = DemoConfig::new(a.system, a.out.clone(), a.data.clone(), a.quick);
    if let Some(seeds) = &a.seeds {
        cfg.train.seeds = Some(Seeds::parse(seeds)?);
    }
    let dev = runtime::resolve(a.device)?;
    let rt = Runtime { device: dev, threads: None, cuda_graphs: a.cuda_graphs.resolve(dev)? };
    let bars = Bars { stages: true, ..Bars::default() };
    let outcome = pipeline::demo(&cfg, &rt, &bars)?;
    print!("{}", crate::report::table::pixel_markdown(&outcome.metrics));
    let total: f64 = outcome.timings.iter().map(|t| t.1).sum();
    println!("demo: {:.0} s; report {}", total, outcome.report.display());
    Ok(())
}

fn coords(a: &CoordsArgs) -> anyhow::Result<()> {
    let cfg = a.to_config();
    cfg.validate()?;
    let threads = runtime::threads(a.threads)?;
    let t = std::time::Instant::now();
    let metrics = pipeline::coords(&cfg, &a.out, a.force, threads)?;
    let row = crate::report::table::Row::of_coords(&metrics, &a.out);
    println!("{}", crate::report::table::HEADER);
    println!("{}", row.markdown());
    println!("wrote {} in {:.1} s", a.out.display(), t.elapsed().as_secs_f64());
    Ok(())
}

fn table(a: &TableArgs) -> anyhow::Result<()> {
    let rows = crate::report::table::collect(&a.runs).with_context(|| format!("--runs {}", a.runs.display()))?;
    if rows.is_empty() {
        anyhow::bail!("--runs {}: no evaluated runs found (run `pixel-hnn evaluate` or `pixel-hnn coords`)", a.runs.display());
    }
    print!("{}", crate::report::table::markdown(&rows));
    Ok(())
}

fn bench(a: &BenchArgs) -> anyhow::Result<()> {
    crate::bench::run(&a.to_config(), &mut |line| println!("{line}"))?;
    Ok(())
}
