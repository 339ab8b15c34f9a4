//! The command line's flags: clap definitions only, each command's arguments as a struct.
//! [`super`] turns them into the library's configs.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

use crate::bench::BenchConfig;
use crate::coords::Task;
use crate::dataset::preview::SheetConfig;
use crate::dataset::DatasetConfig;
use crate::evaluate::pictures::Layout;
use crate::evaluate::{EvalConfig, MapFit};
use crate::integrate::Method;
use crate::model::FieldKind;
use crate::runtime::{CudaGraphs, DeviceChoice};
use crate::systems::render::Window;
use crate::systems::suite::SuiteSystem;
use crate::systems::SystemKind;
use crate::training::{Models, TrainOverrides};
use crate::util::choice::parser as choice;

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
    Train(Box<TrainArgs>),
    /// Roll the learned dynamics out from a fresh trajectory and draw it (RUN/rollout/).
    Rollout(RolloutArgs),
    /// Score a run's models as the paper's Table 1 (and more); writes RUN/metrics.json.
    Evaluate(EvaluateArgs),
    /// The whole pipeline on defaults: generate, train both models, evaluate, roll out,
    /// and write RUN/REPORT.md.
    Demo(DemoArgs),
    /// A coordinate-space task of Table 1 (rows 1-4): data, HNN and baseline, metrics.
    Coords(CoordsArgs),
    /// Score any model's predicted frames of a dataset's test trials (an HDF5 predictions
    /// file: datasets/README.md) with evaluate's figures; --out writes a run folder that
    /// `table` shows beside the trained runs.
    Score(ScoreArgs),
    /// Write a trained model's predictions of its dataset's test trials as a predictions
    /// file (what `score` reads).
    Predict(PredictArgs),
    /// Print Table 1 from the run folders under --runs, beside the paper's values, and every
    /// model's predictions of the test trials.
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
    Table(SweepTableArgs),
    /// A results page (Markdown) from a sweep table's CSV, and its charts: one table and
    /// one chart of the valid prediction time by family a system.
    Page(SweepPageArgs),
    /// Run one point (what the executors start; not needed by hand).
    #[command(hide = true)]
    Point(SweepPointArgs),
}

#[derive(Args, Debug)]
pub struct SweepPlanArgs {
    /// The grid (TOML; see docs/sweeps.md).
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
pub struct SweepPageArgs {
    /// The CSV that `sweep table DIR --format csv` wrote.
    pub csv: PathBuf,
    /// Write the page here (atomically) instead of printing it; the charts go beside it.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct SweepTableArgs {
    /// The sweep folder.
    pub dir: PathBuf,
    /// A folder of `score` runs: each is shown beside the groups trained on its dataset.
    #[arg(long)]
    pub scores: Option<PathBuf>,
    /// markdown (the tables), csv or json (one row per system, settings, model and figure).
    #[arg(long, value_enum, default_value_t = TableFormat::Markdown)]
    pub format: TableFormat,
}

/// How `table` and `sweep table` print.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum TableFormat {
    Markdown,
    Csv,
    Json,
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
    /// Number of trials (trajectories) [default: 200; a preset: 700, the suite's 500
    /// training and 200 test trajectories].
    #[arg(long, allow_negative_numbers = true)]
    pub trials: Option<usize>,
    /// Frames per trial (a trial of N frames gives N - 3 samples) [default: 103; a preset:
    /// 256, the suite's 255 steps and the first frame].
    #[arg(long, allow_negative_numbers = true)]
    pub steps: Option<usize>,
    /// One of DeepMind's Hamiltonian dynamics suite's datasets, as its generator makes them:
    /// its physics, parameter ranges, initial states, dt 0.05 and 32 x 32 RGB frames
    /// (uint8, format pixel-hnn/suite-frames) [default path: datasets/PRESET.h5].
    #[arg(long, value_parser = choice::<SuiteSystem>(),
          conflicts_with_all = ["system", "side", "min", "max", "thdot_max", "params", "test_fraction", "supersample", "window"])]
    pub preset: Option<SuiteSystem>,
    /// The preset's _COLORS dataset: wider parameter ranges, six colours, a random canvas
    /// offset (not for the two bodies).
    // conflicts_with "system" as well: clap does not enforce a requirement on an argument
    // (--preset) that conflicts with one given (--system).
    #[arg(long, requires = "preset", conflicts_with = "system")]
    pub colors: bool,
    /// Friction f in dp/dt = -dH/dq - f dH/dp; the suite's _COLORS_FRICTION datasets use
    /// 0.05 (with --colors; not for the two bodies).
    #[arg(long, requires = "preset", conflicts_with = "system", allow_negative_numbers = true)]
    pub friction: Option<f64>,
    /// A preset's test trajectories, taken first [default: 200].
    #[arg(long, requires = "preset", conflicts_with = "system", allow_negative_numbers = true)]
    pub test_trials: Option<usize>,
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

/// Unset flags take the paper's defaults, or with --resume the run's stored settings.
#[derive(Args, Debug)]
pub struct TrainArgs {
    /// Dataset (HDF5 from `generate`) [default: datasets/pendulum.h5; with --resume, the run's].
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Run folder to write (config, weights, logs, plots, checkpoints).
    #[arg(long)]
    pub out: PathBuf,
    /// Which model families to train, a list such as hnn,ode (the names: `Models::describe`).
    #[arg(long, help = format!("Which model families to train, a list such as hnn,ode: {} [default: both]", Models::describe()))]
    pub model: Option<String>,
    /// Seed of the weights and the batch draws [default: 0].
    #[arg(long, allow_negative_numbers = true, conflicts_with = "seeds")]
    pub seed: Option<u64>,
    /// Train a seed ensemble: one member per seed, all at once, e.g. 0-31 or 0,3,7 (at most 1024).
    #[arg(long, allow_hyphen_values = true)]
    pub seeds: Option<String>,
    #[command(flatten)]
    pub train: TrainOverrides,
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
    #[arg(long, default_value_t = Method::REFERENCE_TOLERANCES.0)]
    pub rtol: f64,
    /// Absolute tolerance of rk45.
    #[arg(long, default_value_t = Method::REFERENCE_TOLERANCES.1)]
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
    /// Roll each model out with the step it was trained with (protocol a) instead of the
    /// paper's protocol (--integrator, RK45 by default).
    #[arg(long)]
    pub as_trained: bool,
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

#[derive(Args, Debug)]
pub struct TableArgs {
    /// Folder whose sub-folders are runs (evaluated pixel runs, coordinate runs, score runs).
    #[arg(long, default_value = "runs")]
    pub runs: PathBuf,
    /// markdown (Table 1 and the test trials' table), csv or json (one row per run, system,
    /// model, protocol and seed).
    #[arg(long, value_enum, default_value_t = TableFormat::Markdown)]
    pub format: TableFormat,
}

#[derive(Args, Debug)]
pub struct ScoreArgs {
    /// The dataset the predictions are for (HDF5, from `generate`: grey, or a suite preset's RGB).
    #[arg(long)]
    pub data: PathBuf,
    /// The predictions file (HDF5; schema: datasets/README.md, "Predictions files").
    #[arg(long)]
    pub predictions: PathBuf,
    /// The benchmark's valid prediction time counts only frames from this one on (its
    /// training window) [default: the file's train_window, else its context].
    #[arg(long)]
    pub vpt_window: Option<usize>,
    /// Require backward predictions, for the benchmark's average of the forward and
    /// backward counts (refused when the file has none: a map cannot run backward).
    #[arg(long)]
    pub vpt_backward: bool,
    /// Run folder to write (config, metrics.json, error-per-frame.png, TensorBoard events).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Replace an existing run folder at --out.
    #[arg(long)]
    pub force: bool,
}

#[derive(Args, Debug)]
pub struct PredictArgs {
    /// Run folder written by `train`.
    #[arg(long)]
    pub run: PathBuf,
    /// The model whose predictions to write [default: the run's first].
    #[arg(long, value_parser = choice::<FieldKind>())]
    pub model: Option<FieldKind>,
    /// The ensemble member [default: the first seed].
    #[arg(long)]
    pub seed: Option<u64>,
    /// The predictions file to write (HDF5).
    #[arg(long)]
    pub out: PathBuf,
    /// Replace an existing file at --out.
    #[arg(long)]
    pub force: bool,
    #[arg(long, value_parser = choice::<DeviceChoice>(), default_value = "auto")]
    pub device: DeviceChoice,
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
    /// The rollout-training step in plain PyTorch, timed beside ours (skipped if absent).
    #[arg(long, default_value_os_t = BenchConfig::default().peer_rollout)]
    pub peer_rollout: PathBuf,
    /// Only the rollout-training step's figures, beside --peer-rollout.
    #[arg(long)]
    pub rollout: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::training::Schedule;

    fn train(args: &[&str]) -> TrainOverrides {
        let all: Vec<&str> = ["pixel-hnn", "train", "--out", "run"].iter().chain(args).copied().collect();
        match Cli::try_parse_from(all).expect("parses").command {
            Command::Train(t) => t.train,
            _ => unreachable!("train"),
        }
    }

    #[test]
    fn train_flags_fill_the_overrides_and_unset_ones_stay_unset() {
        assert_eq!(train(&[]), TrainOverrides::default(), "no flag, no override: a resumed run keeps its settings");
        let t = train(&["--separable", "--lr-schedule", "cosine", "--roll-weight", "0.5", "--steps", "7", "--activation", "swish"]);
        assert_eq!((t.separable, t.learn_time_scale), (Some(true), None));
        assert_eq!((t.schedule, t.roll, t.steps), (Some(Schedule::Cosine), Some(0.5), Some(7)));
        assert_eq!(t.activation, Some(crate::model::Activation::Swish));
        assert_eq!(train(&["--learn-time-scale"]).learn_time_scale, Some(true));
        assert!(Cli::try_parse_from(["pixel-hnn", "train", "--out", "run", "--separable=false"]).is_err(), "a switch takes no value");
    }

    #[test]
    fn the_model_flags_help_names_every_family() {
        use crate::util::choice::Choice;
        use clap::CommandFactory;
        let cmd = Cli::command();
        let train = cmd.find_subcommand("train").expect("train");
        let help = train.get_arguments().find(|a| a.get_id() == "model").and_then(|a| a.get_help()).expect("--model's help").to_string();
        for k in crate::model::FieldKind::ALL {
            assert!(help.contains(k.name()), "{} missing from: {help}", k.name());
        }
    }
}
