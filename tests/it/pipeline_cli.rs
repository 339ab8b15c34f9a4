//! The whole pipeline through the real binary: `demo --quick` end to end, then `evaluate`
//! and `rollout` on its run, and their bad input.

use crate::common::{bin, fails, read_json as json, succeeds};

#[test]
fn quick_demo_runs_the_whole_pipeline_and_its_outputs_hold_up() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("demo");
    let said = succeeds(bin().args(["demo", "--quick", "--device", "cpu", "--out"]).arg(&run));
    assert!(said.contains("REPORT.md"), "{said}");
    assert!(!said.lines().any(|l| l.trim_start().starts_with('{')), "JSON goes to files, not stdout: {said}");

    let report = std::fs::read_to_string(run.join("REPORT.md")).unwrap();
    for needle in ["| energy MSE (seed 1) |", "paper HNN", "rollout/comparison.gif", "## Timings"] {
        assert!(report.contains(needle), "REPORT.md lacks {needle}");
    }
    for f in [
        "rollout/comparison.gif",
        "rollout/sheet.png",
        "rollout/energy.png",
        "rollout/phase-space.png",
        "loss-curve.png",
        "dataset-preview.png",
    ] {
        let p = run.join(f);
        assert!(p.exists(), "{f} missing");
        image::open(&p).unwrap_or_else(|e| panic!("{f} does not decode: {e}"));
    }
    for panel in ["truth", "hnn", "baseline"] {
        assert_eq!(std::fs::read_dir(run.join("rollout/frames").join(panel)).unwrap().count(), 60, "{panel} frames");
    }
    let gif = std::fs::File::open(run.join("rollout/comparison.gif")).unwrap();
    let frames = image::codecs::gif::GifDecoder::new(std::io::BufReader::new(gif)).unwrap();
    use image::AnimationDecoder;
    assert_eq!(frames.into_frames().count(), 60);

    let m = json(run.join("metrics.json"));
    let models = m["models"].as_array().unwrap();
    assert_eq!(models.len(), 2);
    // The final losses are computed once, by training: metrics.json reports exactly what
    // final-losses.json holds, for every model.
    let losses = json(run.join("final-losses.json"));
    for model in models {
        let stored = losses["models"].as_array().unwrap().iter().find(|l| l["model"] == model["model"]).expect("final losses of the model");
        for (ours, theirs) in [("train_loss", "train"), ("test_loss", "test")] {
            assert_eq!(model[ours], stored[theirs], "{ours} of {}", model["model"]);
            assert!(model[ours]["mean"].as_f64().is_some_and(|v| v > 0.0 && v < 0.1), "{ours} of {}", model["model"]);
        }
    }
    for model in models {
        for key in ["energy_mse", "energy_mse_seeds_mean", "pixel_mse", "valid_prediction_time"] {
            assert!(model[key].as_f64().is_some_and(|v| v.is_finite() && v >= 0.0), "{key} in {}", model["model"]);
        }
        assert_eq!(model["trajectories"][0]["true_energy"].as_array().unwrap().len(), 60);
        // The true energy of a pendulum under symplectic Euler barely moves.
        let e: Vec<f64> = model["trajectories"][0]["true_energy"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
        let (lo, hi) = e.iter().fold((f64::MAX, f64::MIN), |(a, b), v| (a.min(*v), b.max(*v)));
        assert!(hi - lo < 0.3 * hi, "true energy {lo}..{hi}");
        // The true energies are those of the simulator's trajectory (seed 1, the protocol
        // in metrics.json), by SPEC.md's formula 1.9 (1 - cos q) + p^2 of its labels.
        let data: pixel_hnn::dataset::DatasetConfig =
            serde_json::from_value(json(run.join("config.json"))["dataset"]["config"].clone()).unwrap();
        let protocol: pixel_hnn::evaluate::EvalConfig = serde_json::from_value(m["protocol"].clone()).unwrap();
        let traj = pixel_hnn::evaluate::Trajectory::simulate(&data, &protocol, 1, 2).unwrap();
        for (i, got) in e.iter().enumerate() {
            let (q, p) = (traj.label(i)[0], traj.label(i)[1]);
            let want = 1.9 * (1.0 - q.cos()) + p * p;
            assert!((got - want).abs() <= 1e-12 * want.abs().max(1e-12), "frame {i}: {got} vs {want}");
        }
        // Averages over the trajectories of seeds 1 and 2.
        let t = model["trajectories"].as_array().unwrap();
        let mean = |k: &str| t.iter().map(|t| t[k].as_f64().unwrap()).sum::<f64>() / t.len() as f64;
        assert_eq!(t.len(), 2);
        assert!((model["energy_mse_seeds_mean"].as_f64().unwrap() - mean("energy_mse")).abs() <= 1e-12 * mean("energy_mse"));
        assert!((model["pixel_mse"].as_f64().unwrap() - mean("pixel_mse")).abs() <= 1e-12 * mean("pixel_mse"));
        assert_eq!(model["energy_mse"], t[0]["energy_mse"], "the paper's figure is seed 1's");
        // The HNN keeps its own learned H along its rollout (measured: 3e-4 of its spread over
        // the training latents); the baseline has none.
        match model["model"].as_str().unwrap() {
            "hnn" => assert!(model["learned_h_variation"].as_f64().unwrap() < 0.01, "{}", model["learned_h_variation"]),
            _ => assert!(model["learned_h_variation"].is_null()),
        }
    }

    // evaluate and rollout again on the same run: same seed, same metrics.
    let before = json(run.join("metrics.json"));
    bin().args(["evaluate", "--device", "cpu", "--frames", "60", "--steps", "63", "--seeds", "1,2", "--run"]).arg(&run).assert().success();
    let after = json(run.join("metrics.json"));
    assert_eq!(before["models"][0]["energy_mse"], after["models"][0]["energy_mse"]);
    bin()
        .args(["rollout", "--device", "cpu", "--frames", "30", "--steps", "33", "--integrator", "midpoint", "--run"])
        .arg(&run)
        .assert()
        .success();
    assert_eq!(std::fs::read_dir(run.join("rollout/frames/hnn")).unwrap().count(), 30);

    // rollout reads each model's latent map from metrics.json rather than fitting it again:
    // with the stored maps set to zero every predicted energy is H(0, 0) = 0, so the energy
    // error is the mean square of the true energies.
    let mut m = json(run.join("metrics.json"));
    for model in m["models"].as_array_mut().unwrap() {
        for row in model["map"]["rows"].as_array_mut().unwrap() {
            *row = serde_json::json!([0.0, 0.0, 0.0]);
        }
    }
    std::fs::write(run.join("metrics.json"), m.to_string()).unwrap();
    let said = succeeds(bin().args(["rollout", "--device", "cpu", "--frames", "60", "--steps", "63", "--run"]).arg(&run));
    assert!(said.contains("hnn: energy ") && !said.contains('{'), "a short human summary: {said}");
    let rolled = json(run.join("rollout/rollout.json"));
    let truth: Vec<f64> =
        m["models"][0]["trajectories"][0]["true_energy"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    let expect = truth.iter().map(|e| e * e).sum::<f64>() / truth.len() as f64;
    for model in rolled["models"].as_array().unwrap() {
        let got = model["energy_mse"].as_f64().unwrap();
        assert!((got - expect).abs() < 1e-12 * expect, "{}: {got} vs {expect}", model["model"]);
    }

    // Bad input: each a clear error, nothing half-written.
    let ev = |args: &[&str]| {
        let mut c = bin();
        c.args(["evaluate", "--device", "cpu", "--run"]).arg(&run).args(args);
        c
    };
    fails(&mut ev(&["--frames", "0"]), "--frames");
    fails(&mut ev(&["--frames", "50000000", "--steps", "50000003"]), "MB");
    fails(&mut ev(&["--dt", "1e-9", "--integrator", "rk4", "--frames", "60", "--steps", "63"]), "--dt");
    let out = dir.path().join("pictures");
    fails(bin().args(["rollout", "--device", "cpu", "--frames", "0", "--run"]).arg(&run).arg("--out").arg(&out), "--frames");
    assert!(!out.exists(), "rollout left a folder behind");
    fails(bin().args(["evaluate", "--run"]).arg(dir.path().join("nothing")), "no such run folder");
    // Incomplete run: no weights.
    let incomplete = dir.path().join("incomplete");
    std::fs::create_dir(&incomplete).unwrap();
    std::fs::copy(run.join("config.json"), incomplete.join("config.json")).unwrap();
    fails(bin().args(["evaluate", "--device", "cpu", "--run"]).arg(&incomplete), "hnn.safetensors: missing");
    // Another format version.
    let mut cfg = json(run.join("config.json"));
    cfg["format_version"] = 99.into();
    std::fs::write(incomplete.join("config.json"), cfg.to_string()).unwrap();
    fails(bin().args(["rollout", "--run"]).arg(&incomplete), "format version 99");
    // The dataset regenerated since training: both commands refuse it, naming the file.
    let data = dir.path().join("demo.h5");
    bin().args(["generate", "--force", "--seed", "5", "--trials", "30", "--steps", "40", "--out"]).arg(&data).assert().success();
    fails(bin().args(["evaluate", "--device", "cpu", "--run"]).arg(&run), "demo.h5: changed since the run was trained");
    fails(
        bin().args(["rollout", "--device", "cpu", "--out"]).arg(&out).arg("--run").arg(&run),
        "demo.h5: changed since the run was trained",
    );
    assert!(!out.exists(), "rollout left a folder behind");
}
