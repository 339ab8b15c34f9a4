//! DeepMind's suite's RGB frames through the whole pipeline, by the real binary: a contact
//! sheet in the file's own colours, every family trained on a preset's frames (the MLP
//! autoencoder and the convolutions), evaluated on the dataset's test trajectories with
//! their own parameters, its predictions scored as `evaluate` scores them, the pictures RGB.

use crate::common::{bin, fails_cleanly, python_json, read_json as json, succeeds, train_on_cpu};
use pixel_hnn::util::choice::Choice;
use std::path::{Path, PathBuf};

/// A small dm-pendulum dataset with colours: 10 trajectories (3 for testing) of 24 frames.
fn suite_dataset(dir: &Path) -> PathBuf {
    let path = dir.join("dm.h5");
    succeeds(
        bin()
            .args([
                "generate",
                "--preset",
                "dm-pendulum",
                "--colors",
                "--trials",
                "10",
                "--test-trials",
                "3",
                "--steps",
                "24",
                "--seed",
                "2",
            ])
            .arg("--out")
            .arg(&path),
    );
    path
}

#[test]
fn the_contact_sheet_of_a_suite_dataset_shows_its_own_colours() {
    let dir = tempfile::tempdir().unwrap();
    let data = suite_dataset(dir.path());
    let sheet = dir.path().join("sheet.png");
    succeeds(
        bin()
            .args(["preview", "--scale", "1", "--trials", "2", "--frames", "3", "--stride", "5", "--data"])
            .arg(&data)
            .arg("--out")
            .arg(&sheet),
    );
    let img = image::open(&sheet).unwrap();
    assert_eq!(img.color(), image::ColorType::Rgb8, "an RGB sheet of RGB frames");
    let img = img.to_rgb8();
    // Trial 1's frame 10 sits in row 1, column 2 (gap 2 px); its pixels are the file's bytes.
    let frame =
        python_json("import sys, json, h5py\nprint(json.dumps(h5py.File(sys.argv[1])['frames'][1, 10].tolist()))", &[data.as_os_str()]);
    for (y, x) in [(0u32, 0u32), (16, 16), (31, 7), (5, 29)] {
        let want: Vec<u64> = frame[y as usize][x as usize].as_array().unwrap().iter().map(|v| v.as_u64().unwrap()).collect();
        let got = img.get_pixel(2 + 2 * (32 + 2) + x, 2 + (32 + 2) + y).0;
        assert_eq!(got.iter().map(|&v| v as u64).collect::<Vec<_>>(), want, "pixel ({y}, {x})");
    }
}

#[test]
fn every_family_trains_on_rgb_frames_and_is_scored_on_the_test_trajectories() {
    let dir = tempfile::tempdir().unwrap();
    let data = suite_dataset(dir.path());
    let runs = dir.path().join("runs");
    let (mlp, conv) = (runs.join("mlp"), runs.join("conv"));
    succeeds(train_on_cpu(&data, &mlp, &["--model", "all", "--steps", "20", "--batch", "16", "--log-every", "10"]));
    succeeds(train_on_cpu(
        &data,
        &conv,
        &["--model", "hnn,hgn", "--encoder", "conv", "--horizon", "3", "--steps", "6", "--batch", "4", "--log-every", "3"],
    ));
    let config = json(mlp.join("config.json"));
    assert_eq!(config["model"]["input_dim"], 2 * 32 * 32 * 3);
    assert_eq!(config["model"]["frame_channels"], 3);
    assert_eq!(config["dataset"]["config"]["system"]["kind"], "suite");
    // The protocols on a suite dataset: its test trajectories (seed s: test trajectory s mod 3).
    let mut too_long = bin();
    too_long.args(["evaluate", "--device", "cpu", "--run"]).arg(&mlp);
    fails_cleanly(too_long, "--steps: a suite dataset is evaluated on its test trajectories, of 24 frames here", dir.path());
    for run in [&mlp, &conv] {
        succeeds(bin().args(["evaluate", "--device", "cpu", "--frames", "12", "--steps", "20", "--run"]).arg(run));
    }
    let m = json(mlp.join("metrics.json"));
    assert_eq!((m["system"].as_str(), m["variant"].as_str()), (Some("dm-pendulum"), Some("dm-pendulum-colors")));
    let families: Vec<&str> = m["models"].as_array().unwrap().iter().map(|x| x["model"].as_str().unwrap()).collect();
    assert_eq!(families.len(), pixel_hnn::model::FieldKind::ALL.len(), "{families:?}");
    // The true energies are the file's: trajectory 1's frames 1 .. 12, under its own parameters.
    let energy =
        python_json("import sys, json, h5py\nprint(json.dumps(h5py.File(sys.argv[1])['energy'][1, 1:13].tolist()))", &[data.as_os_str()]);
    let first = &m["models"][0]["trajectories"][0];
    assert_eq!(first["seed"], 1);
    for (a, b) in first["true_energy"].as_array().unwrap().iter().zip(energy.as_array().unwrap()) {
        assert!((a.as_f64().unwrap() - b.as_f64().unwrap()).abs() < 1e-12, "{a} vs {b}");
    }
    // predict + score of a member give evaluate's protocol (c) exactly, on RGB frames.
    for (run, model) in [(&mlp, "lgn"), (&conv, "hgn")] {
        let pred = dir.path().join(format!("{model}.h5"));
        succeeds(bin().args(["predict", "--device", "cpu", "--model", model, "--out"]).arg(&pred).arg("--run").arg(run));
        let shape = python_json("import sys, json, h5py\nprint(json.dumps(h5py.File(sys.argv[1])['frames'].shape))", &[pred.as_os_str()]);
        assert_eq!(shape.as_array().unwrap().last().unwrap(), 3, "RGB predictions, as the dataset stores its frames: {shape}");
        let out = runs.join(format!("score-{model}"));
        succeeds(bin().args(["score", "--data"]).arg(&data).arg("--predictions").arg(&pred).arg("--out").arg(&out));
        let evaluated = json(run.join("metrics.json"));
        let member = evaluated["models"].as_array().unwrap().iter().find(|x| x["model"] == model).unwrap().clone();
        assert_eq!(json(out.join("metrics.json"))["test_trials"], member["test_trials"], "score and evaluate disagree on {model}");
    }
    // The pictures are RGB.
    succeeds(bin().args(["rollout", "--device", "cpu", "--frames", "12", "--steps", "20", "--run"]).arg(&conv));
    for name in ["rollout/sheet.png", "rollout/frames/truth/0000.png", "rollout/frames/hgn/0003.png"] {
        assert_eq!(image::open(conv.join(name)).unwrap().color(), image::ColorType::Rgb8, "{name}");
    }
    assert!(image::open(conv.join("rollout/comparison.gif")).unwrap().width() > 3 * 32 * 4);
    // Trained runs and score runs of the colours variant share its label, apart from the plain preset's.
    let table = succeeds(bin().args(["table", "--runs"]).arg(&runs));
    assert!(table.lines().any(|l| l.starts_with("| pixel dm-pendulum-colors | hgn | - | 5 |")), "{table}");
    assert!(table.lines().any(|l| l.starts_with("| pixel dm-pendulum-colors | lgn | 0 | 2 |")), "{table}");
}
