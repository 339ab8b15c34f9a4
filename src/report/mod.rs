//! `REPORT.md` of a run: the metrics table beside the paper's values, the settings, the
//! timings of each stage, and links to every picture.

pub mod figures;
pub mod run_tables;
pub mod table;

use crate::error::Result;
use crate::evaluate::pictures::Layout;
use crate::report::run_tables::pixel_markdown;
use crate::run::{PixelMetrics, PixelRun, REPORT};
use crate::systems::SystemKind;
use crate::util::choice::Choice;
use crate::util::output::write_atomic;

/// Writes `RUN/REPORT.md` from the run's config and metrics, and the rollout pictures made
/// with `layout`; `timings` are (stage, seconds); `preview` is the dataset's contact sheet,
/// relative to the run folder, if one was made.
pub fn write_report(
    run: &PixelRun,
    metrics: &PixelMetrics,
    layout: Layout,
    timings: &[(String, f64)],
    preview: Option<&str>,
) -> Result<()> {
    let eval = &metrics.protocol;
    let d = &run.config.dataset.config;
    let t = &run.config.train;
    let sys = d.sys();
    let kind = d.system.kind();
    let mut s = String::new();
    s += &format!("# pixel-hnn report: {}\n\n", kind.name());
    if kind == SystemKind::Pendulum {
        s += "The pixel-pendulum experiment of \"Hamiltonian Neural Networks\" (Greydanus, Dzamba, Yosinski, 2019), Table 1 row \"Pixel pendulum\".\n\n";
    } else {
        s += &format!(
            "The paper's pixel experiment on another system: {} ({}-D latent), the set later work compares on (Toth et al., 2020). The paper has no figures for it.\n\n",
            kind.help(),
            2 * sys.dof()
        );
    }
    s += "## Metrics\n\n";
    s += &pixel_markdown(metrics);
    s += &format!(
        "\nLosses: per-sample `{}` over every sample, mean +- s.e.m. Energy MSE: a fresh trajectory's first pair encoded, the latent field integrated, every latent decoded and re-encoded by the same model's encoder, mapped to (q, p) by {} fitted on the training latents, `{}` compared with the truth; +- is the std of 5 chunk means / sqrt(5) as in the reference. Where some coordinate's test R^2 is below {} no affine map holds: the energy figures are not shown, and the models are compared on pixel MSE. Learned-H variation (HNN): the range of its own H along its rollout over H's standard deviation on the training latents (no map needed). Details: `metrics.json`.\n\n",
        t.loss.describe(),
        eval.map_fit.describe(),
        sys.energy_formula(),
        crate::evaluate::MAP_R2_MIN
    );
    if metrics.ensemble.is_some() {
        s += &format!(
            "The run is a seed ensemble ({} members, trained at once): each figure is the mean over the members with its 95% interval (percentile bootstrap of the mean, {} resamples); `metrics.json` holds every member's figures.\n\n",
            run.seeds().len(),
            crate::util::stats::BOOTSTRAP_RESAMPLES
        );
    }
    s += "## Pictures\n\n";
    s += "| | |\n|---|---|\n";
    s += "| ground truth, HNN, baseline | ![comparison](rollout/comparison.gif) |\n";
    s += &format!("| every {} | ![sheet](rollout/sheet.png) |\n", every_kth(layout.every));
    s += "| energy over time | ![energy](rollout/energy.png) |\n";
    if run.path(crate::run::ROLLOUT).join("phase-space.png").exists() {
        s += "| learned phase space (HNN) | ![phase space](rollout/phase-space.png) |\n";
    }
    s += "| training loss | ![loss](loss-curve.png) |\n";
    if let Some(p) = preview {
        s += &format!("| dataset | ![dataset]({p}) |\n");
    }
    s += "\nEvery frame as PNG: `rollout/frames/{truth,hnn,baseline}/`.\n\n## Settings\n\n";
    let (what, (lo, hi)) = (sys.window_range().0, sys.window());
    let params: Vec<String> = sys.params().iter().map(|(n, v)| format!("{n} = {v}")).collect();
    s += &format!(
        "- dataset `{}` (SHA-256 {}): {}, {} trials x {} frames ({} s apart), {}x{} px, seed {}, initial {what} in ({lo:.4}, {hi:.4}), first {} trials for testing; parameters {}\n",
        run.config.dataset.path.display(), &run.config.dataset.sha256[..12], kind.name(), d.trials, d.steps, sys.dt(), d.render.side, d.render.side, d.seed,
        d.test_trials(), params.join(", ")
    );
    s += &format!(
        "- training: {} steps, batch {}, Adam lr {:e}, weight decay {:e}, {} {}, models {}\n",
        t.steps,
        t.batch,
        t.adam.lr,
        t.adam.weight_decay,
        if t.is_ensemble() { "seeds" } else { "seed" },
        crate::training::Seeds::describe(&t.seeds),
        t.models.iter().map(|m| m.name()).collect::<Vec<_>>().join(", ")
    );
    let (elo, ehi) = eval.window(sys);
    s += &format!(
        "- evaluation: trajectory seed {} ({} frames, initial {what} in ({elo:.4}, {ehi:.4})), {} rollout frames, integrator {:?}, extra seeds {:?}\n",
        eval.seed, eval.steps, eval.frames, eval.method, eval.seeds
    );
    s += &format!("- latent -> (q, p) map: {} (`--map-fit {}`)\n", eval.map_fit.describe(), eval.map_fit.name());
    if !timings.is_empty() {
        s += "\n## Timings (this machine)\n\n| stage | seconds |\n|---|---|\n";
        for (stage, secs) in timings {
            s += &format!("| {stage} | {secs:.1} |\n");
        }
    }
    write_atomic(&run.path(REPORT), s.as_bytes(), true, "--out")
}

/// "frame", "2nd frame", "10th frame".
fn every_kth(k: usize) -> String {
    let suffix = match (k % 10, k % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    if k == 1 {
        "frame".into()
    } else {
        format!("{k}{suffix} frame")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::DatasetConfig;
    use crate::evaluate::{EvalConfig, MapFit};
    use crate::model::ModelConfig;
    use crate::run::{DatasetRef, RunConfig};
    use crate::training::TrainConfig;

    #[test]
    fn the_report_says_how_the_map_was_fitted_and_which_frames_the_sheet_shows() {
        let dir = tempfile::tempdir().unwrap();
        let data = DatasetRef { path: "d.h5".into(), sha256: "0".repeat(64), config: DatasetConfig::default() };
        let run =
            PixelRun::create(&dir.path().join("run"), RunConfig::new(TrainConfig::default(), ModelConfig::default(), data), false).unwrap();
        for (fit, every, says) in
            [(MapFit::Lstsq, 10, ["least-squares", "every 10th frame"]), (MapFit::Adam, 5, ["fitted by Adam", "every 5th frame"])]
        {
            let metrics = PixelMetrics {
                system: Default::default(),
                variant: None,
                models: vec![],
                protocol: EvalConfig { map_fit: fit, ..EvalConfig::default() },
                ensemble: None,
            };
            write_report(&run, &metrics, Layout { scale: 4, every }, &[], None).unwrap();
            let text = std::fs::read_to_string(run.path(REPORT)).unwrap();
            for needle in says {
                assert!(text.contains(needle), "{needle} missing:\n{text}");
            }
            assert_eq!(text.contains("least-squares"), fit == MapFit::Lstsq);
        }
    }

    #[test]
    fn ordinals_read_as_english() {
        let names: Vec<String> = [1, 2, 3, 4, 10, 11, 12, 21, 22, 113].iter().map(|&k| super::every_kth(k)).collect();
        assert_eq!(
            names,
            [
                "frame",
                "2nd frame",
                "3rd frame",
                "4th frame",
                "10th frame",
                "11th frame",
                "12th frame",
                "21st frame",
                "22nd frame",
                "113th frame"
            ]
        );
    }
}
