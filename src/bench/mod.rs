//! Benchmarks that print figures (never timed tests): `pixel-hnn bench` runs [`run`], which
//! hands one JSON object per figure to its caller. Whole-command figures run the real binary
//! as a child process and take its wall time and its peak memory, read from the kernel
//! just before the child exits.
//!
//! | file | what |
//! |---|---|
//! | this one | the figures, and [`run`], which measures them in order |
//! | [`profiler`] | a child process's wall time and peak memory ([`profiler::measure`]) |
//! | [`hog`] | another process that keeps one core busy, for the figures under load |

pub mod fakes;
pub mod hog;
pub mod profiler;

use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use crate::error::{Error, Result};
use crate::model::FieldKind;
use crate::systems::pendulum::{PendulumDrawer, PendulumScene};
use crate::systems::render::RenderConfig;
use crate::systems::{SystemConfig, SystemKind};
use crate::util::choice::Choice;
use hog::Hog;
use profiler::measure;

/// The reference pipeline's figures on this machine, quoted by the issue (its renderer needs
/// gym and a display, which no longer install here): per frame, default dataset, memory.
pub const REFERENCE_MS_PER_FRAME: f64 = 7.0;
pub const REFERENCE_DATASET_S: f64 = 165.0;
pub const REFERENCE_DATASET_MB: f64 = 2200.0;
/// The reference's notebook: 37 ms per 100 frames for the HNN's latent rollout (RK45,
/// rtol 1e-3, atol 1e-6) and 77 s / 2.4 GB for its whole analysis, on this machine.
pub const REFERENCE_ROLLOUT_MS_PER_100: f64 = 37.0;
pub const REFERENCE_EVALUATE_S: f64 = 77.0;
pub const REFERENCE_EVALUATE_MB: f64 = 2400.0;

/// What `pixel-hnn bench` measures; `Default` is every figure, with the peers and the
/// trained run where the repository keeps them.
#[derive(Clone, Debug)]
pub struct BenchConfig {
    /// Frames rendered for the one-thread throughput figure.
    pub frames: usize,
    /// Only the in-process figures.
    pub quick: bool,
    /// Training steps timed per model and thread count.
    pub train_steps: usize,
    /// The reference training step in PyTorch, timed in the same run (skipped if absent).
    pub peer: PathBuf,
    /// Python that runs the peer.
    pub python: PathBuf,
    /// A trained run for the rollout and evaluate figures (skipped if absent).
    pub run: PathBuf,
    /// The real pendulum's measurements, for the coordinate tasks' figures.
    pub real_data: PathBuf,
    pub skip_coords: bool,
    /// Only the GPU figures, with the CUDA peer.
    pub gpu: bool,
    /// The CUDA peer (eager, graphed and batched PyTorch).
    pub peer_cuda: PathBuf,
    /// The rollout-training step in PyTorch (this repository's peer script).
    pub peer_rollout: PathBuf,
    /// Only the rollout-training figures, beside the peer.
    pub rollout_only: bool,
}

impl Default for BenchConfig {
    fn default() -> Self {
        BenchConfig {
            frames: 20_000,
            quick: false,
            train_steps: 200,
            peer: "../shared/peer/reference_train_step.py".into(),
            python: ".venv/bin/python".into(),
            run: "runs/demo".into(),
            real_data: "../shared/data/real_pend_h_1.txt".into(),
            skip_coords: false,
            gpu: false,
            peer_cuda: "../shared/peer/cuda_step_limits.py".into(),
            peer_rollout: "scripts/peer/rollout_train_step.py".into(),
            rollout_only: false,
        }
    }
}

fn round(v: f64, digits: i32) -> f64 {
    let k = 10f64.powi(digits);
    (v * k).round() / k
}

/// Every figure, in order, each handed to `emit` as soon as it is measured.
pub fn run(cfg: &BenchConfig, emit: &mut dyn FnMut(Value)) -> Result<()> {
    if cfg.gpu {
        return gpu(cfg, emit);
    }
    if cfg.rollout_only {
        return rollout_training(cfg, emit);
    }
    emit(render_throughput(RenderConfig::default(), cfg.frames)?);
    if cfg.quick {
        return Ok(());
    }
    training(cfg, emit)?;
    rollout_training(cfg, emit)?;
    systems(cfg, emit)?;
    ensembles(cfg, emit)?;
    under_load(cfg, emit)?;
    evaluation(cfg, emit)?;
    if !cfg.skip_coords {
        coords(cfg, emit)?;
    }
    sweep_table(emit)?;
    dataset(emit)
}

/// Frames per second of render + preprocess on one thread.
pub fn render_throughput(cfg: RenderConfig, frames: usize) -> Result<Value> {
    let mut r = PendulumDrawer::new(cfg, PendulumScene::default())?;
    let mut out = vec![0.0f32; cfg.pixels()];
    for i in 0..frames.min(1000) {
        r.render(i as f64 * 0.01, &mut out); // warm-up
    }
    let t = Instant::now();
    for i in 0..frames {
        r.render(std::f64::consts::PI + 0.5 * (i as f64 * 0.37).sin(), &mut out);
    }
    let s = t.elapsed().as_secs_f64();
    let fps = frames as f64 / s;
    Ok(json!({
        "bench": "render_preprocess_1_thread",
        "side": cfg.side, "supersample": cfg.supersample, "frames": frames,
        "frames_per_s": fps.round(), "us_per_frame": round(1e6 / fps, 2),
        "vs_reference_x": (REFERENCE_MS_PER_FRAME * 1e-3 * fps).round(),
    }))
}

/// Milliseconds per training step of `k` members (1: a single model) on the CPU, with
/// `threads` worker threads (`None`: the default, chosen by measurement as training goes):
/// batch 200 of random 28 x 28 frame pairs, after `warm_up` steps.
pub fn train_step_ms(kind: FieldKind, k: usize, threads: Option<usize>, warm_up: usize, steps: usize) -> Result<Value> {
    train_step_ms_on(kind, k, &crate::runtime::Runtime::cpu(threads), warm_up, steps)
}

/// [`train_step_ms`] on any device (a GPU: all members as one batched step, one CUDA graph
/// when `rt.cuda_graphs`).
pub fn train_step_ms_on(kind: FieldKind, k: usize, rt: &crate::runtime::Runtime, warm_up: usize, steps: usize) -> Result<Value> {
    step_ms(kind, k, crate::model::ModelConfig::default(), rt, warm_up, steps)
}

fn step_ms(
    kind: FieldKind,
    k: usize,
    model: crate::model::ModelConfig,
    rt: &crate::runtime::Runtime,
    warm_up: usize,
    steps: usize,
) -> Result<Value> {
    let threads = rt.threads;
    use crate::dataset::Pairs;
    use crate::training::members::Members;
    use crate::training::stack::{PixelMembers, Stack};
    use crate::training::Objective;
    use crate::training::TrainConfig;
    use tch::{Device, Kind, Tensor};
    let dev = rt.device;
    let random = |seed: u64| crate::model::seeded(seed, || Tensor::rand([4000, 1568], (Kind::Float, Device::Cpu)) * 0.5).to_device(dev);
    let empty = || Tensor::zeros([0], (Kind::Float, Device::Cpu));
    let train = Pairs { x: random(0), x_next: random(1), labels: empty(), energy: empty() };
    let test = Pairs { x: random(2).narrow(0, 0, 200), x_next: random(3).narrow(0, 0, 200), labels: empty(), energy: empty() };
    let seeds: Vec<u64> = (0..k as u64).collect();
    let choice = crate::runtime::ThreadChoice::from_flag(threads)?;
    let settings = TrainConfig { seeds: seeds.clone(), steps, batch: 200, ..TrainConfig::default() };
    let stack = Stack { train: settings, model, kind, device: dev };
    let mut members = Members::new(&stack, train, test, choice);
    members.use_cuda_graphs(rt.cuda_graphs);
    let sync = || {
        if let Device::Cuda(i) = dev {
            tch::Cuda::synchronize(i as i64);
        }
    };
    let mut rngs: Vec<crate::util::rng::Rng> = seeds.iter().map(|&s| crate::util::rng::Rng::new(s)).collect();
    let mut step = |s: usize| {
        let batches: Vec<Option<Vec<i64>>> = rngs.iter_mut().map(|r| Some(r.distinct(4000, 200))).collect();
        members.step(s, &batches)
    };
    for s in 0..warm_up {
        step(s)?;
    }
    sync();
    let t = Instant::now();
    for s in 0..steps {
        step(warm_up + s)?;
    }
    sync();
    let ms = t.elapsed().as_secs_f64() / steps as f64 * 1e3;
    let threads = threads.map_or(json!("auto"), |n| json!(n));
    let mut v = json!({"bench": "train_step", "impl": "pixel-hnn", "model": kind.name(), "members": k, "latent": model.latent_dim, "steps": steps,
           "ms_per_step": round(ms, 3), "ms_per_member_step": round(ms / k as f64, 4)});
    if dev == Device::Cpu {
        v["threads"] = threads;
    } else {
        v["device"] = json!(crate::runtime::describe(dev));
        v["cuda_graph"] = json!(rt.cuda_graphs);
    }
    Ok(v)
}

/// The reference step in PyTorch (the peer script), timed by itself.
fn peer_step(cfg: &BenchConfig, kind: FieldKind, threads: usize) -> Result<Option<Value>> {
    let args = ["--threads", &threads.to_string(), "--steps", &cfg.train_steps.to_string(), "--model", kind.name()].map(String::from);
    peer_figure(cfg, &cfg.peer, &args)
}

/// The first JSON figure a peer script prints when run with `args` by the venv's python;
/// `None` where the script or the python is absent.
fn peer_figure(cfg: &BenchConfig, script: &Path, args: &[String]) -> Result<Option<Value>> {
    if !script.exists() || !cfg.python.exists() {
        return Ok(None);
    }
    let out = Command::new(&cfg.python).arg(script).args(args).output().map_err(|e| Error::io(script, e))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let Some(peer) = text.lines().filter_map(|l| serde_json::from_str::<Value>(l).ok()).next() else {
        return Err(Error::input(script, format!("printed no figure: {}", String::from_utf8_lossy(&out.stderr).trim())));
    };
    Ok(Some(peer))
}

/// Our training step and the PyTorch peer's, interleaved per thread count so that both see
/// the same machine load, with the ratio; twice, as this machine's speed drifts.
fn training(cfg: &BenchConfig, emit: &mut dyn FnMut(Value)) -> Result<()> {
    for pass in 1..=2 {
        for threads in [1usize, 2] {
            for kind in [FieldKind::Hnn, FieldKind::Baseline] {
                let ours = train_step_ms(kind, 1, Some(threads), 10, cfg.train_steps)?;
                emit(ours.clone());
                let Some(peer) = peer_step(cfg, kind, threads)? else {
                    emit(
                        json!({"bench": "train_step", "impl": "pytorch-peer", "skipped": format!("{} or {} not found", cfg.peer.display(), cfg.python.display())}),
                    );
                    continue;
                };
                emit(peer.clone());
                if let (Some(p), Some(o)) = (peer["ms_per_step"].as_f64(), ours["ms_per_step"].as_f64()) {
                    emit(
                        json!({"bench": "train_step_ratio", "round": pass, "model": kind.name(), "threads": threads, "peer_over_ours": round(p / o, 2)}),
                    );
                }
            }
        }
    }
    Ok(())
}

/// The rollout-training step's settings in the benchmark: the peer script's defaults.
pub const ROLLOUT_BATCH: usize = 32;
pub const ROLLOUT_HORIZON: usize = 10;

/// Milliseconds per rollout-training step of one model of `kind` stepped by `integrator`
/// (`ROLLOUT_BATCH` windows of `ROLLOUT_HORIZON` frames of random 28 x 28 pairs, the loss
/// `ae + cc + 0.1 hnn + roll`, Adam), on `threads` workers, after `warm_up` steps.
///
/// With the convolutional `arch` the windows hold its context's frames too, and the loss is
/// the benchmark's (`ae + roll`).
pub fn rollout_step_ms(
    kind: FieldKind,
    integrator: crate::integrate::Integrator,
    arch: crate::model::Architecture,
    threads: usize,
    warm_up: usize,
    steps: usize,
) -> Result<Value> {
    use crate::dataset::Windows;
    use crate::training::members_for_windows as for_family_windows;
    use crate::training::stack::Stack;
    use crate::training::TrainConfig;
    use tch::{Device, Kind, Tensor};
    let pairs_of_a_window = arch.window_pairs(ROLLOUT_HORIZON);
    let random = |seed: u64, trials: usize| {
        let pairs = crate::model::seeded(seed, || Tensor::rand([(trials * 101) as i64, 1568], (Kind::Float, Device::Cpu)) * 0.5);
        Windows { pairs, trials, pairs_per_trial: 101, span: pairs_of_a_window }
    };
    let (train, test) = (random(0, 40), random(1, 2));
    let n = train.len();
    let conv = arch.encoder == crate::model::EncoderKind::Conv;
    let loss = crate::model::LossWeights {
        cc: if conv { 0.0 } else { 1.0 },
        latent: if conv { 0.0 } else { 0.1 },
        roll: crate::model::ROLLOUT_PIXEL_WEIGHT,
        ..Default::default()
    };
    let settings = TrainConfig {
        seeds: vec![0],
        steps: warm_up + steps,
        batch: ROLLOUT_BATCH,
        loss,
        horizon: ROLLOUT_HORIZON,
        integrator: Some(integrator),
        ..TrainConfig::default()
    };
    let stack = Stack { train: settings, model: crate::model::ModelConfig::with(28, 1, arch), kind, device: Device::Cpu };
    let mut members = for_family_windows(&stack, train, test, crate::runtime::ThreadChoice::fixed(threads));
    crate::runtime::set_libtorch_threads(1);
    let mut rng = crate::util::rng::Rng::new(0);
    let mut step = |s: usize| members.step(s, &[Some(rng.distinct(n, ROLLOUT_BATCH))]);
    for s in 0..warm_up {
        step(s)?;
    }
    let t = Instant::now();
    for s in 0..steps {
        step(warm_up + s)?;
    }
    let ms = t.elapsed().as_secs_f64() / steps as f64 * 1e3;
    Ok(json!({"bench": "rollout_train_step", "impl": "pixel-hnn", "model": kind.name(), "integrator": integrator.name(),
              "encoder": arch.encoder.name(), "batch": ROLLOUT_BATCH, "horizon": ROLLOUT_HORIZON, "threads": threads, "steps": steps,
              "ms_per_step": round(ms, 2)}))
}

/// The rollout-training step against the repository's PyTorch peer of it, interleaved per
/// thread count, twice, with the ratio (goal: at least 1.5): the paper's autoencoder with
/// every family, and the convolutions (issue 17) with HGN and the neural ODE.
fn rollout_training(cfg: &BenchConfig, emit: &mut dyn FnMut(Value)) -> Result<()> {
    use crate::model::Architecture;
    let steps = (cfg.train_steps / 4).max(10);
    for pass in 1..=2 {
        for threads in [1usize, 2] {
            let (mlp, conv) = (Architecture::default(), Architecture::convolutional());
            // Every family at its own step on the paper's autoencoder, then HGN's and the
            // neural ODE's on the convolutions.
            let own = |k: FieldKind, arch| (k, k.dynamics().default_integrator(ROLLOUT_HORIZON), arch);
            let on_conv = [own(FieldKind::Hgn, conv), own(FieldKind::Ode, conv)];
            for (kind, integrator, arch) in FieldKind::ALL.iter().map(|&k| own(k, mlp)).chain(on_conv) {
                let ours = rollout_step_ms(kind, integrator, arch, threads, 3, steps)?;
                emit(ours.clone());
                let (batch, horizon) = (ROLLOUT_BATCH.to_string(), ROLLOUT_HORIZON.to_string());
                let mut args: Vec<String> = ["--threads", &threads.to_string(), "--steps", &steps.to_string(), "--model", kind.name()]
                    .into_iter()
                    .chain(["--batch", &batch, "--horizon", &horizon, "--encoder", arch.encoder.name()])
                    .map(String::from)
                    .collect();
                if !kind.dynamics().is_map() {
                    args.extend(["--integrator".to_string(), integrator.name().to_string()]);
                }
                let Some(peer) = peer_figure(cfg, &cfg.peer_rollout, &args)? else {
                    emit(
                        json!({"bench": "rollout_train_step", "impl": "pytorch-peer", "skipped": format!("{} or {} not found", cfg.peer_rollout.display(), cfg.python.display())}),
                    );
                    continue;
                };
                emit(peer.clone());
                if let (Some(p), Some(o)) = (peer["ms_per_step"].as_f64(), ours["ms_per_step"].as_f64()) {
                    emit(
                        json!({"bench": "rollout_train_step_ratio", "round": pass, "model": kind.name(), "integrator": integrator.name(), "encoder": arch.encoder.name(), "threads": threads, "peer_over_ours": round(p / o, 2), "goal": 1.5}),
                    );
                }
            }
        }
    }
    Ok(())
}

/// The HNN's step for each system's latent (2, 2, 8, 4), interleaved, twice: each over the
/// pendulum's measured beside it.
fn systems(cfg: &BenchConfig, emit: &mut dyn FnMut(Value)) -> Result<()> {
    let threads = crate::runtime::threads(None)?;
    let rt = crate::runtime::Runtime::cpu(Some(threads));
    for pass in 1..=2 {
        let mut pendulum = f64::NAN;
        for &system in SystemKind::ALL {
            let dof = SystemConfig::of(system).get().dof();
            let mut v = step_ms(FieldKind::Hnn, 1, crate::model::ModelConfig::for_frames(28, dof), &rt, 10, cfg.train_steps)?;
            v["system"] = json!(system.name());
            let ms = v["ms_per_step"].as_f64().unwrap_or(f64::NAN);
            if system == SystemKind::Pendulum {
                pendulum = ms;
            }
            emit(v);
            emit(
                json!({"bench": "train_step_system_over_pendulum", "round": pass, "system": system.name(), "threads": threads, "ratio": round(ms / pendulum, 2), "goal": 1.2}),
            );
        }
    }
    Ok(())
}

/// Seed ensembles on the CPU: the per-member step of K members beside the single model's,
/// interleaved, on all cores.
fn ensembles(cfg: &BenchConfig, emit: &mut dyn FnMut(Value)) -> Result<()> {
    let threads = crate::runtime::threads(None)?;
    for pass in 1..=2 {
        let single = train_step_ms(FieldKind::Hnn, 1, Some(threads), 10, cfg.train_steps)?;
        emit(single.clone());
        let one = single["ms_per_member_step"].as_f64().unwrap_or(f64::NAN);
        for k in [4usize, 8] {
            let many = train_step_ms(FieldKind::Hnn, k, Some(threads), 3, (cfg.train_steps / k).max(10))?;
            emit(many.clone());
            let per = many["ms_per_member_step"].as_f64().unwrap_or(f64::NAN);
            emit(
                json!({"bench": "ensemble_per_member_over_single", "round": pass, "members": k, "threads": threads, "ratio": round(per / one, 2), "goal": 0.8}),
            );
        }
    }
    Ok(())
}

/// Training while another process keeps one core busy (a shell loop that stops itself after
/// a minute): the default thread count beside a fixed one thread and a fixed all cores.
fn under_load(cfg: &BenchConfig, emit: &mut dyn FnMut(Value)) -> Result<()> {
    let all = crate::runtime::threads(None)?;
    if all < 2 {
        emit(json!({"bench": "train_step_under_load", "skipped": "one core: nothing to choose"}));
        return Ok(());
    }
    let hog = Hog::start()?;
    std::thread::sleep(std::time::Duration::from_millis(300));
    let steps = cfg.train_steps.max(60);
    let mut figures = vec![];
    for threads in [None, Some(1), Some(all)] {
        let mut v = train_step_ms(FieldKind::Hnn, 1, threads, 20, steps)?;
        v["bench"] = json!("train_step_under_load");
        figures.push(v["ms_per_step"].as_f64().unwrap_or(f64::NAN));
        emit(v);
    }
    drop(hog);
    emit(json!({"bench": "train_step_under_load_ratio", "default_over_one_thread": round(figures[0] / figures[1], 2),
        "all_cores_over_one_thread": round(figures[2] / figures[1], 2), "goal": "default <= 1.0 x one thread"}));
    Ok(())
}

/// The GPU figures: the project's step on CUDA for one model and for ensembles of 8 and 32
/// (eager and as one CUDA graph), then the PyTorch peer (eager, graphed, batched) in the same
/// run, and what 32 seeds of both models for 10,001 steps would take.
fn gpu(cfg: &BenchConfig, emit: &mut dyn FnMut(Value)) -> Result<()> {
    use crate::runtime::{CudaGraphs, DeviceChoice, Runtime};
    let eager = match Runtime::new(DeviceChoice::Cuda, None, CudaGraphs::Off) {
        Ok(rt) => rt,
        Err(e) => {
            emit(json!({"bench": "gpu", "skipped": e.to_string()}));
            return Ok(());
        }
    };
    let graphs = match crate::runtime::cuda_graphs::available() {
        Ok(()) => true,
        Err(e) => {
            emit(json!({"bench": "cuda_graph", "skipped": e}));
            false
        }
    };
    let steps = cfg.train_steps.max(100);
    let mut per_32 = vec![];
    for kind in [FieldKind::Hnn, FieldKind::Baseline] {
        emit(train_step_ms_on(kind, 1, &eager, 20, steps)?);
        let graphed = Runtime::new(DeviceChoice::Cuda, None, if graphs { CudaGraphs::On } else { CudaGraphs::Off })?;
        for k in [1usize, 8, 32] {
            let v = train_step_ms_on(kind, k, &graphed, 20, steps)?;
            if k == 32 {
                per_32.push(v["ms_per_step"].as_f64().unwrap_or(f64::NAN));
            }
            emit(v);
        }
    }
    let total: f64 = per_32.iter().sum::<f64>() * 10_001.0 / 1e3;
    emit(json!({"bench": "gpu_32_seeds_both_models_10001_steps", "estimate_s": round(total, 1), "goal_s": 90, "cuda_graph": graphs}));
    if cfg.peer_cuda.exists() {
        let out = Command::new(&cfg.python)
            .arg(&cfg.peer_cuda)
            .args(["--k", "1,8,32", "--steps", &steps.to_string()])
            .output()
            .map_err(|e| Error::io(&cfg.peer_cuda, e))?;
        for line in String::from_utf8_lossy(&out.stdout).lines().filter_map(|l| serde_json::from_str::<Value>(l).ok()) {
            let mut line = line;
            line["impl"] = json!("pytorch-peer");
            emit(line);
        }
        if !out.status.success() {
            emit(json!({"bench": "gpu_peer", "failed": String::from_utf8_lossy(&out.stderr).trim().lines().last().unwrap_or("")}));
        }
    } else {
        emit(json!({"bench": "gpu_peer", "skipped": format!("{} not found", cfg.peer_cuda.display())}));
    }
    Ok(())
}

fn exe() -> Result<PathBuf> {
    std::env::current_exe().map_err(|e| Error::io("pixel-hnn", e))
}

/// Latent rollout + decode of `frames` frames per model of a run (RK45 at the reference's
/// tolerances), best of `repeats`, on the CPU.
pub fn rollout_ms(run_dir: &Path, frames: usize, repeats: usize) -> Result<Vec<Value>> {
    use crate::evaluate::{EvalConfig, Rollout, Trajectory};
    let run = crate::run::PixelRun::open(run_dir)?;
    let cfg = EvalConfig { frames, steps: frames + 3, ..EvalConfig::default() };
    let traj = Trajectory::simulate(&run.config.dataset.config, &cfg, cfg.seed, run.config.model.arch.context)?;
    let mut out = vec![];
    for &kind in &run.config.train.models {
        let model = run.load_model(kind, run.seeds()[0], tch::Device::Cpu)?;
        let x0 = traj.observation(0, model.config.arch.context);
        let mut best = f64::INFINITY;
        for _ in 0..repeats.max(1) {
            let t = Instant::now();
            Rollout::integrate(&model, &x0, frames, cfg.method)?;
            best = best.min(t.elapsed().as_secs_f64() * 1e3);
        }
        let per100 = best / frames as f64 * 100.0;
        out.push(
            json!({"bench": "latent_rollout_decode", "model": kind.name(), "frames": frames, "integrator": "rk45 rtol 1e-3 atol 1e-6",
            "ms": round(best, 2), "ms_per_100_frames": round(per100, 2),
            "vs_reference_x": round(REFERENCE_ROLLOUT_MS_PER_100 / per100, 1)}),
        );
    }
    Ok(out)
}

/// Rollout + decode per model, and `evaluate` as a whole command, on a trained run.
fn evaluation(cfg: &BenchConfig, emit: &mut dyn FnMut(Value)) -> Result<()> {
    if !cfg.run.join(crate::run::CONFIG).exists() {
        emit(json!({"bench": "evaluate", "skipped": format!("no trained run at {} (scripts/demo makes runs/demo)", cfg.run.display())}));
        return Ok(());
    }
    crate::runtime::set_libtorch_threads(1);
    for line in rollout_ms(&cfg.run, 200, 5)? {
        emit(line);
    }
    let run =
        measure(Command::new(exe()?).args(["evaluate", "--device", "cpu", "--run"]).arg(&cfg.run).stdout(std::process::Stdio::null()))
            .map_err(|e| Error::io("pixel-hnn evaluate", e))?;
    if !run.success {
        return Err(Error::input(&cfg.run, format!("pixel-hnn evaluate failed during the benchmark: {}", run.stderr.trim())));
    }
    emit(json!({"bench": "evaluate_command", "run": cfg.run, "wall_s": round(run.wall_s, 2),
        "peak_rss_mb": run.peak_rss_mb.map(|p| p.round()), "reference_s": REFERENCE_EVALUATE_S, "reference_peak_mb": REFERENCE_EVALUATE_MB,
        "vs_reference_x": (REFERENCE_EVALUATE_S / run.wall_s).round()}));
    Ok(())
}

/// Wall time of each coordinate task's full default run (data, both models, evaluation).
fn coords(cfg: &BenchConfig, emit: &mut dyn FnMut(Value)) -> Result<()> {
    let dir = std::env::temp_dir().join(format!("pixel-hnn-bench-coords-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    for task in crate::coords::Task::ALL {
        let mut cmd = Command::new(exe()?);
        cmd.args(["coords", "--force", "--task", task.name(), "--out"]).arg(dir.join(task.name())).stdout(std::process::Stdio::null());
        if *task == crate::coords::Task::RealPendulum {
            cmd.arg("--data").arg(&cfg.real_data);
        }
        let run = measure(&mut cmd).map_err(|e| Error::io("pixel-hnn coords", e))?;
        emit(
            json!({"bench": "coords_task_full_run", "task": task.name(), "ok": run.success, "wall_s": round(run.wall_s, 1), "goal_s": 30}),
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// `sweep table` over a sweep of 1,000 done points (4 systems x 2 models x 125 seeds, their
/// state files written by [`fakes::synthetic`] with made-up figures):
/// reading and summarising them.
fn sweep_table(emit: &mut dyn FnMut(Value)) -> Result<()> {
    let dir = std::env::temp_dir().join(format!("pixel-hnn-bench-sweep-{}", std::process::id()));
    let sweep = dir.join("sweep");
    let m = fakes::synthetic(&sweep, 125, 1)?;
    let mut times = vec![];
    for _ in 0..3 {
        let t = Instant::now();
        crate::sweep::aggregate::table(&sweep)?;
        times.push(t.elapsed().as_secs_f64());
    }
    let _ = std::fs::remove_dir_all(&dir);
    times.sort_by(f64::total_cmp);
    emit(
        json!({"bench": "sweep_table_1000_points", "points": m.points.len(), "s_median": round(times[1], 3), "s_best": round(times[0], 3), "goal": "a few seconds"}),
    );
    Ok(())
}

/// The default dataset made in-process, timed by phase (simulate + render, then the HDF5
/// write), then `generate` as a whole command three times (median and best: this machine is
/// shared), with its peak memory and file size.
fn dataset(emit: &mut dyn FnMut(Value)) -> Result<()> {
    let dir = std::env::temp_dir().join(format!("pixel-hnn-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    let threads = crate::runtime::threads(None)?;
    let cfg = crate::dataset::DatasetConfig::default();
    let t = Instant::now();
    let data = crate::dataset::generate(&cfg, threads, &|| {})?;
    let render_s = t.elapsed().as_secs_f64();
    let phases = dir.join("phases.h5");
    let t = Instant::now();
    data.write(&phases, true)?;
    let write_s = t.elapsed().as_secs_f64();
    drop(data);
    let _ = std::fs::remove_file(&phases);
    emit(json!({"bench": "default_dataset_phases", "threads": threads, "render_s": round(render_s, 3), "hdf5_write_s": round(write_s, 3)}));

    for &system in SystemKind::ALL {
        let out = dir.join(format!("{}.h5", system.name()));
        let (mut walls, mut peaks, mut size) = (vec![], vec![], 0);
        for _ in 0..3 {
            let run = measure(
                Command::new(exe()?)
                    .args(["generate", "--force", "--system", system.name(), "--out"])
                    .arg(&out)
                    .stdout(std::process::Stdio::null()),
            )
            .map_err(|e| Error::io("pixel-hnn generate", e))?;
            if !run.success {
                let _ = std::fs::remove_dir_all(&dir);
                return Err(Error::input(&out, format!("pixel-hnn generate failed during the benchmark: {}", run.stderr.trim())));
            }
            size = std::fs::metadata(&out).map(|m| m.len()).unwrap_or(0);
            walls.push(run.wall_s);
            peaks.extend(run.peak_rss_mb);
        }
        walls.sort_by(f64::total_cmp);
        let mut v = json!({
            "bench": "generate_default_dataset", "system": system.name(), "threads": threads, "runs": walls.len(),
            "wall_s_median": round(walls[1], 3), "wall_s_best": round(walls[0], 3),
            "peak_rss_mb": peaks.iter().cloned().fold(f64::NAN, f64::max).round(),
            "file_mb": round(size as f64 / 1e6, 1), "goal": "<= 2 s, <= 300 MB",
        });
        if system == SystemKind::Pendulum {
            v["vs_reference_x"] = json!((REFERENCE_DATASET_S / walls[1]).round());
            v["reference_s"] = json!(REFERENCE_DATASET_S);
            v["reference_peak_mb"] = json!(REFERENCE_DATASET_MB);
        }
        emit(v);
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
