//! Benchmarks that print figures (never timed tests). Each returns one JSON object; the CLI
//! prints them as JSON lines. Whole-command figures run the real binary as a child process
//! and read its wall time, and the peak memory the child reports of itself (`--print-peak-memory`).

use serde_json::{json, Value};
use std::process::Command;
use std::time::Instant;

use crate::error::Result;
use crate::render::{RenderConfig, Renderer};

/// The reference pipeline's figures on this machine, quoted by the issue (its renderer needs
/// gym and a display, which no longer install here): per frame, default dataset, memory.
pub const REFERENCE_MS_PER_FRAME: f64 = 7.0;
pub const REFERENCE_DATASET_S: f64 = 165.0;
pub const REFERENCE_DATASET_MB: f64 = 2200.0;

/// Frames per second of render + preprocess on one thread.
pub fn render_throughput(cfg: RenderConfig, frames: usize) -> Result<Value> {
    let mut r = Renderer::new(cfg)?;
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
        "frames_per_s": fps.round(), "us_per_frame": (1e6 / fps * 100.0).round() / 100.0,
        "vs_reference_x": (REFERENCE_MS_PER_FRAME * 1e-3 * fps).round(),
    }))
}

/// Peak resident memory of this process's own address space (`VmHWM`), in MB. Unlike a
/// child's `ru_maxrss`, it does not count the parent's pages held between spawn and exec.
pub fn own_peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// The line a command run with `--print-peak-memory` writes on stderr when done; [`measure`]
/// reads it back.
pub fn peak_memory_line() -> String {
    json!({"peak_rss_mb": own_peak_rss_mb()}).to_string()
}

/// Wall time, exit status and stderr of a child process, and the peak memory it reported
/// with [`peak_memory_line`] (none if it did not).
#[derive(Clone, Debug)]
pub struct ChildRun {
    pub wall_s: f64,
    pub peak_rss_mb: Option<f64>,
    pub success: bool,
    pub stderr: String,
}

/// Runs `cmd` to completion with its stderr in a scratch file. (The child's peak memory is
/// taken from its own report: after `posix_spawn` its `ru_maxrss` also counts the parent's
/// pages, 281 MB reported here for a 196 MB process.)
pub fn measure(cmd: &mut Command) -> std::io::Result<ChildRun> {
    static COUNT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = COUNT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let err_path = std::env::temp_dir().join(format!("pixel-hnn-bench-{}-{n}.stderr", std::process::id()));
    cmd.stderr(std::fs::File::create(&err_path)?);
    let t = Instant::now();
    let status = cmd.status();
    let wall_s = t.elapsed().as_secs_f64();
    let stderr = std::fs::read_to_string(&err_path).unwrap_or_default();
    let _ = std::fs::remove_file(&err_path);
    let peak_rss_mb =
        stderr.lines().filter_map(|l| serde_json::from_str::<Value>(l).ok()).find_map(|v| v["peak_rss_mb"].as_f64());
    Ok(ChildRun { wall_s, peak_rss_mb, success: status?.success(), stderr })
}

/// The default dataset made in-process, timed by phase: simulate + render, then the HDF5
/// write (the whole command adds libtorch's start-up, ~0.3 s, to these).
pub fn dataset_phases(threads: usize, dir: &std::path::Path) -> Result<Value> {
    let cfg = crate::dataset::DatasetConfig::default();
    let t = Instant::now();
    let data = crate::dataset::generate(&cfg, threads, &|| {})?;
    let render_s = t.elapsed().as_secs_f64();
    let out = dir.join("phases.h5");
    let t = Instant::now();
    data.write(&out, true)?;
    let write_s = t.elapsed().as_secs_f64();
    let _ = std::fs::remove_file(&out);
    Ok(json!({
        "bench": "default_dataset_phases", "threads": threads,
        "render_s": (render_s * 1000.0).round() / 1000.0,
        "hdf5_write_s": (write_s * 1000.0).round() / 1000.0,
    }))
}

/// Milliseconds per training step (batch 200 of the default frame pairs, after 20 warm-up
/// steps) of this project's step, on the CPU with `threads` libtorch threads.
pub fn train_step_ms(kind: crate::model::FieldKind, threads: usize, steps: usize) -> Value {
    use crate::model::{LossWeights, Model, ModelConfig};
    use tch::{Device, Kind, Tensor};
    tch::set_num_threads(threads as i32);
    let model = Model::new(ModelConfig::default(), kind, 0, Device::Cpu);
    let mut adam = crate::optim::Adam::new(model.named_parameters(), Default::default());
    tch::manual_seed(0);
    let data = Tensor::rand([4000, 1568], (Kind::Float, Device::Cpu)) * 0.5;
    let data_next = Tensor::rand([4000, 1568], (Kind::Float, Device::Cpu)) * 0.5;
    let mut rng = crate::rng::Rng::new(0);
    let w = LossWeights::default();
    let mut step = || {
        let idx = Tensor::from_slice(&rng.distinct(4000, 200));
        crate::train::step_on(&model, &mut adam, &data.index_select(0, &idx), &data_next.index_select(0, &idx), &w);
    };
    for _ in 0..20 {
        step();
    }
    let t = Instant::now();
    for _ in 0..steps {
        step();
    }
    let ms = t.elapsed().as_secs_f64() / steps as f64 * 1e3;
    json!({"bench": "train_step", "impl": "pixel-hnn", "model": kind.name(), "threads": threads, "steps": steps,
           "ms_per_step": (ms * 1000.0).round() / 1000.0})
}

/// The reference's notebook: 37 ms per 100 frames for the HNN's latent rollout (RK45,
/// rtol 1e-3, atol 1e-6) and 77 s / 2.4 GB for its whole analysis, on this machine.
pub const REFERENCE_ROLLOUT_MS_PER_100: f64 = 37.0;
pub const REFERENCE_EVALUATE_S: f64 = 77.0;

/// Latent rollout + decode of `frames` frames per model of a run (RK45 at the reference's
/// tolerances), best of `repeats`, on the CPU.
pub fn rollout_ms(run_dir: &std::path::Path, frames: usize, repeats: usize) -> Result<Vec<Value>> {
    use crate::evaluate::{rollout, EvalConfig, Trajectory};
    let run = crate::train::RunConfig::load(run_dir)?;
    let cfg = EvalConfig { frames, steps: frames + 3, ..EvalConfig::default() };
    let traj = Trajectory::simulate(&run.dataset.config, &cfg, cfg.seed)?;
    let mut out = vec![];
    for &kind in &run.train.models {
        let model = crate::train::load_model(run_dir, &run, kind, tch::Device::Cpu)?;
        let x0 = traj.pair(0);
        let mut best = f64::INFINITY;
        for _ in 0..repeats.max(1) {
            let t = Instant::now();
            rollout(&model, &x0, frames, cfg.method)?;
            best = best.min(t.elapsed().as_secs_f64() * 1e3);
        }
        let per100 = best / frames as f64 * 100.0;
        out.push(json!({"bench": "latent_rollout_decode", "model": kind.name(), "frames": frames, "integrator": "rk45 rtol 1e-3 atol 1e-6",
            "ms": (best * 100.0).round() / 100.0, "ms_per_100_frames": (per100 * 100.0).round() / 100.0,
            "vs_reference_x": ((REFERENCE_ROLLOUT_MS_PER_100 / per100) * 10.0).round() / 10.0}));
    }
    Ok(out)
}
