//! Every system through the real binary: generate, train, evaluate and roll out a small run
//! of each; a dataset of one system refused by a run of another.

use crate::common::{bin, fails, read_json as json, succeeds, train_on_cpu};
use std::path::Path;

fn floats(v: &serde_json::Value) -> Vec<f64> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect()
}

fn small_run(dir: &Path, system: &str) -> std::path::PathBuf {
    let data = dir.join(format!("{system}.h5"));
    let said = succeeds(bin().args(["generate", "--system", system, "--trials", "6", "--steps", "16", "--out"]).arg(&data));
    assert!(said.contains(system), "{said}");
    let run = dir.join(format!("run-{system}"));
    let train = ["--steps", "30", "--batch", "20", "--eval-every", "10", "--checkpoint-every", "10"];
    succeeds(train_on_cpu(&data, &run, &train));
    run
}

#[test]
fn every_system_runs_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    for (system, latent) in [("spring", 2), ("two-body", 8), ("double-pendulum", 4), ("pendulum", 2)] {
        let run = small_run(dir.path(), system);
        let cfg = json(run.join("config.json"));
        assert_eq!(cfg["model"]["latent_dim"], latent, "{system}: latent = 2 x dof");
        assert_eq!(cfg["dataset"]["config"]["system"]["kind"], system);
        let said =
            succeeds(bin().args(["evaluate", "--device", "cpu", "--frames", "12", "--steps", "15", "--seeds", "1,2", "--run"]).arg(&run));
        assert!(said.contains(&format!("| pixel {system} |")), "{said}");
        let m = json(run.join("metrics.json"));
        assert_eq!(m["system"], system);
        for model in m["models"].as_array().unwrap() {
            let r2 = model["map"]["r2_test"].as_array().unwrap();
            assert_eq!(r2.len(), latent, "{system}: an R^2 per label coordinate");
            assert_eq!(model["map"]["rows"][0].as_array().unwrap().len(), latent + 1);
            assert!(model["pixel_mse"].as_f64().unwrap().is_finite());
            let h = &model["learned_h_variation"];
            assert_eq!(h.is_f64(), model["model"] == "hnn", "{system}: learned H for the HNN only: {h}");
            let trajectories = model["trajectories"].as_array().unwrap();
            assert_eq!(trajectories.len(), 2, "seeds 1, 2");
            for t in trajectories {
                // The HNN's rollout follows the symplectic gradient of its learned H, so it
                // keeps that H (to the integrator's tolerance), trained or not: well under
                // 1% of H's spread over the training latents (measured: at most 0.3%).
                if let Some(v) = t["learned_h_variation"].as_f64() {
                    assert!(v < 0.02, "{system}: the HNN's learned H varies by {v} along its own rollout");
                }
                // The true energies are the simulator's: conserved by the exact or adaptive
                // integrators (the pendulum's symplectic Euler wobbles by up to ~20%).
                let e = floats(&t["true_energy"]);
                assert_eq!(e.len(), 12);
                let (lo, hi) = e.iter().fold((f64::MAX, f64::MIN), |(a, b), v| (a.min(*v), b.max(*v)));
                let bound = if system == "pendulum" { 0.3 } else { 1e-6 };
                assert!(hi - lo <= bound * hi.abs(), "{system}: true energy {lo}..{hi}");
                // energy_mse is the mean square of true minus predicted.
                let p = floats(&t["predicted_energy"]);
                let mse = e.iter().zip(&p).map(|(a, b)| (a - b).powi(2)).sum::<f64>() / e.len() as f64;
                assert!((t["energy_mse"].as_f64().unwrap() - mse).abs() <= 1e-12 * mse, "{system}");
                let per_frame = floats(&t["pixel_mse_per_frame"]);
                let vpt = t["valid_prediction_time"].as_u64().unwrap() as usize;
                assert!(per_frame.len() == 12 && vpt <= 12, "{system}");
            }
        }
        // Both models are scored on the same fresh trajectories.
        assert_eq!(m["models"][0]["trajectories"][0]["true_energy"], m["models"][1]["trajectories"][0]["true_energy"]);
        let said = succeeds(bin().args(["rollout", "--device", "cpu", "--frames", "12", "--steps", "15", "--run"]).arg(&run));
        assert!(said.contains("hnn:") && said.contains("baseline:"), "{said}");
        for f in ["comparison.gif", "sheet.png", "energy.png"] {
            image::open(run.join("rollout").join(f)).unwrap_or_else(|e| panic!("{system} {f}: {e}"));
        }
        assert_eq!(run.join("rollout/phase-space.png").exists(), latent == 2, "{system}: the phase plane of 2-D latents only");
        // One picture per frame of the horizon, each the frame scaled up 4x.
        let side = cfg["dataset"]["config"]["render"]["side"].as_u64().unwrap() as u32;
        for panel in ["truth", "hnn", "baseline"] {
            let dir = run.join("rollout/frames").join(panel);
            assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 12, "{system} {panel}");
            let img = image::open(dir.join("0011.png")).unwrap();
            assert_eq!((img.width(), img.height()), (4 * side, 4 * side), "{system} {panel}");
        }
        let sheet = dir.path().join(format!("{system}.png"));
        succeeds(bin().args(["preview", "--data"]).arg(dir.path().join(format!("{system}.h5"))).arg("--out").arg(&sheet));
        image::open(&sheet).unwrap();
    }
    // One table row per system.
    let said = succeeds(bin().args(["table", "--runs"]).arg(dir.path()));
    for system in ["pendulum", "spring", "two-body", "double-pendulum"] {
        assert!(said.contains(&format!("| pixel {system} (x1e3) |")), "{system} row missing: {said}");
    }

    // A dataset of another system given to a run: refused, the run untouched.
    let run = dir.path().join("run-pendulum");
    let before = std::fs::read(run.join("config.json")).unwrap();
    let said = fails(
        bin()
            .args(["train", "--device", "cpu", "--resume", "--steps", "40", "--out"])
            .arg(&run)
            .arg("--data")
            .arg(dir.path().join("spring.h5")),
        "--data: ",
    );
    let spring = dir.path().join("spring.h5");
    let says = format!("--data: {} holds a spring dataset, but the run in {} learned the pendulum", spring.display(), run.display());
    assert_eq!(said.trim(), format!("error: {says}"), "one line naming the flag, the file, both systems");
    let said = fails(
        bin()
            .args(["train", "--device", "cpu", "--resume", "--steps", "40", "--out"])
            .arg(&run)
            .arg("--data")
            .arg(dir.path().join("two-body.h5")),
        "holds a two-body dataset, but the run in",
    );
    assert!(said.trim().ends_with("learned the pendulum"), "{said}");
    assert_eq!(std::fs::read(run.join("config.json")).unwrap(), before);
}
