//! `REPORT.md` of a run: the metrics table beside the paper's values, the settings, the
//! timings of each stage, and links to every picture.

use std::path::Path;

use crate::error::Result;
use crate::evaluate::{markdown_table, EvalConfig, ModelMetrics};
use crate::output::write_atomic;
use crate::train::RunConfig;

/// Writes `RUN/REPORT.md`; `timings` are (stage, seconds); `preview` is the dataset's contact
/// sheet, relative to the run folder, if one was made.
pub fn write_report(run_dir: &Path, metrics: &[ModelMetrics], eval: &EvalConfig, timings: &[(String, f64)], preview: Option<&str>) -> Result<()> {
    let run = RunConfig::load(run_dir)?;
    let d = &run.dataset.config;
    let t = &run.train;
    let mut s = String::new();
    s += "# pixel-hnn report\n\n";
    s += "The pixel-pendulum experiment of \"Hamiltonian Neural Networks\" (Greydanus, Dzamba, Yosinski, 2019), Table 1 row \"Pixel pendulum\".\n\n";
    s += "## Metrics\n\n";
    s += &markdown_table(metrics, eval);
    s += "\nLosses: per-sample `ae + cc + 0.1 hnn` over every sample, mean +- s.e.m. Energy MSE: a fresh trajectory's first pair encoded, the latent field integrated, every latent decoded and re-encoded by the same model's encoder, mapped to (q, p) by a least-squares affine map fitted on the training latents, `1.9 (1 - cos q) + p^2` compared with the truth; +- is the std of 5 chunk means / sqrt(5) as in the reference. Details: `metrics.json`.\n\n";
    s += "## Pictures\n\n";
    s += "| | |\n|---|---|\n";
    s += "| ground truth, HNN, baseline | ![comparison](rollout/comparison.gif) |\n";
    s += "| every 10th frame | ![sheet](rollout/sheet.png) |\n";
    s += "| energy over time | ![energy](rollout/energy.png) |\n";
    s += "| learned phase space (HNN) | ![phase space](rollout/phase-space.png) |\n";
    s += "| training loss | ![loss](loss-curve.png) |\n";
    if let Some(p) = preview {
        s += &format!("| dataset | ![dataset]({p}) |\n");
    }
    s += "\nEvery frame as PNG: `rollout/frames/{truth,hnn,baseline}/`.\n\n## Settings\n\n";
    s += &format!(
        "- dataset `{}` (SHA-256 {}): {} trials x {} frames, {}x{} px, seed {}, deflection in ({:.4}, {:.4}) rad, first {} trials for testing\n",
        run.dataset.path.display(), &run.dataset.sha256[..12], d.trials, d.steps, d.render.side, d.render.side, d.seed,
        d.initial.min_angle, d.initial.max_angle, d.test_trials()
    );
    s += &format!(
        "- training: {} steps, batch {}, Adam lr {:e}, weight decay {:e}, seed {}, models {}\n",
        t.steps, t.batch, t.adam.lr, t.adam.weight_decay, t.seed,
        t.models.iter().map(|m| m.name()).collect::<Vec<_>>().join(", ")
    );
    s += &format!(
        "- evaluation: trajectory seed {} ({} frames, deflection in ({:.4}, {:.4})), {} rollout frames, integrator {:?}, extra seeds {:?}\n",
        eval.seed, eval.steps, eval.min_angle, eval.max_angle, eval.frames, eval.method, eval.seeds
    );
    if !timings.is_empty() {
        s += "\n## Timings (this machine)\n\n| stage | seconds |\n|---|---|\n";
        for (stage, secs) in timings {
            s += &format!("| {stage} | {secs:.1} |\n");
        }
    }
    write_atomic(&run_dir.join("REPORT.md"), s.as_bytes(), true, "--out")
}
