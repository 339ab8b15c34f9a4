//! Scoring any model's predictions through the real binary (`predict`, `score`, `table`), the
//! plain-PyTorch example, TensorBoard's reader on every run's events, and pandas on the
//! tables.

use crate::common;
use crate::common::{
    bin, dataset_of, fails_cleanly, python_json, read_events, read_json as json, small_dataset, succeeds, train_on_cpu, venv_python,
};
use std::path::{Path, PathBuf};

/// Writes predictions for `data`'s test trials with Python (h5py), as another model would:
/// `frames[i, j]` is true frame `context + j` plus `offsets[j]`, `latents` the true `(q, p)`
/// of each predicted frame; `tweak` is Python run on the open file `f` before it is closed.
fn write_predictions(data: &Path, out: &Path, context: usize, offsets: &[f64], tweak: &str) {
    let script = format!(
        r#"
import sys, json, hashlib, h5py, numpy as np
d = h5py.File(sys.argv[1], "r")
test = np.flatnonzero(d["is_test"][...])
context, offsets = {context}, np.array({offsets:?}, dtype=np.float32)
h = len(offsets)
frames = d["frames"][...][test][:, context:context + h] + offsets[None, :, None, None]
latents = np.concatenate([d["q"][...][test], d["p"][...][test]], axis=-1)[:, context:context + h]
f = h5py.File(sys.argv[2], "w")
f["frames"] = frames.astype(np.float32)
f["latents"] = latents
f.attrs["format"] = "pixel-hnn/predictions"
f.attrs["format_version"] = 1
f.attrs["context"] = context
f.attrs["model"] = "by-hand"
f.attrs["dataset_sha256"] = hashlib.sha256(open(sys.argv[1], "rb").read()).hexdigest()
{tweak}
f.close()
print(json.dumps(dict(trials=len(test))))
"#
    );
    python_json(&script, &[data.as_os_str(), out.as_os_str()]);
}

/// `score --out OUT`, which must succeed; returns OUT's `metrics.json` path.
fn succeeds_json(data: &Path, pred: &Path, out: &Path) -> PathBuf {
    succeeds(bin().args(["score", "--data"]).arg(data).arg("--predictions").arg(pred).arg("--out").arg(out));
    out.join("metrics.json")
}

#[test]
fn two_frames_score_as_computed_by_hand() {
    let dir = tempfile::tempdir().unwrap();
    let data = small_dataset(dir.path(), 28);
    let pred = dir.path().join("hand.h5");
    // Frame 2 off by 0.001 everywhere (MSE 1e-6), frame 3 by 0.1 (MSE 1e-2).
    write_predictions(&data, &pred, 2, &[0.001, 0.1], "");
    let out = dir.path().join("runs/hand");
    let said = succeeds(bin().args(["score", "--data"]).arg(&data).arg("--predictions").arg(&pred).arg("--out").arg(&out));
    assert!(said.contains("| pixel pendulum, by-hand | given 2 frames, predicting 2 |"), "{said}");
    let m = json(out.join("metrics.json"));
    let t = &m["test_trials"];
    assert_eq!(t["trials"].as_array().unwrap().len(), 2, "the small dataset's two test trials");
    // The truth's mean square, frame by frame, from the dataset (h5py): the relative errors
    // 1e-6 / power and 1e-2 / power against the threshold 0.025.
    let power = python_json(
        "import sys, json, h5py, numpy as np\nd = h5py.File(sys.argv[1])\nf = d['frames'][...][np.flatnonzero(d['is_test'][...])].astype(np.float64)\nprint(json.dumps((f[:, 2:4] ** 2).mean(axis=(2, 3)).tolist()))",
        &[data.as_os_str()],
    );
    for (i, trial) in t["trials"].as_array().unwrap().iter().enumerate() {
        let per_frame: Vec<f64> = trial["pixel_mse_per_frame"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
        // float32 sums: truth + 0.001 - truth is 0.001 to 1e-4 relative.
        assert!((per_frame[0] - 1e-6).abs() < 1e-10, "trial {i}: {per_frame:?}");
        assert!((per_frame[1] - 1e-2).abs() < 1e-7, "trial {i}: {per_frame:?}");
        let p: Vec<f64> = power[i].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
        assert!(1e-6 / p[0] < 0.025 && 1e-2 / p[1] > 0.025, "the hand case needs frame 2 valid and frame 3 not: {p:?}");
        assert_eq!(trial["valid_prediction_time"], 1, "trial {i}");
        assert!((trial["pixel_mse"].as_f64().unwrap() - (per_frame[0] + per_frame[1]) / 2.0).abs() < 1e-15);
        assert_eq!(trial["trial"], i, "the test trials are the dataset's first");
    }
    assert_eq!(t["valid_prediction_time_median"], 1.0);
    assert!((t["pixel_mse"].as_f64().unwrap() - 0.0050005).abs() < 1e-7, "{t}");
    // Perfect predictions of every frame, with the true (q, p) as latents: valid over the
    // whole horizon, no pixel error, an affine map and SyMetric (order 1, the identity:
    // symplectic) that read the state exactly on the held-out trial.
    let perfect = dir.path().join("perfect.h5");
    write_predictions(&data, &perfect, 2, &[0.0; 18], "f.attrs['model'] = 'perfect'");
    let p = json(succeeds_json(&data, &perfect, &dir.path().join("runs/perfect")));
    let pt = &p["test_trials"];
    assert_eq!((pt["valid_prediction_time_median"].as_f64(), pt["pixel_mse"].as_f64()), (Some(18.0), Some(0.0)), "{pt}");
    for r2 in
        pt["latent"]["map"]["r2_test"].as_array().unwrap().iter().chain(pt["latent"]["symetric"]["r2_per_coordinate"].as_array().unwrap())
    {
        assert!((r2.as_f64().unwrap() - 1.0).abs() < 1e-9, "{pt}");
    }
    assert_eq!(pt["latent"]["symetric"]["order"], 1);
    assert_eq!(pt["latent"]["symetric"]["holds"], true, "{pt}");
    // The run folder: the error curve, TensorBoard's events of the figures, the table's row.
    image::open(out.join("error-per-frame.png")).unwrap();
    let events = read_events(&out);
    assert_eq!(events["events/by-hand"]["test_trials/valid_prediction_time_median"][0][1], 1.0);
    let table = succeeds(bin().args(["table", "--runs"]).arg(dir.path().join("runs")));
    let mse = format!("{:.3e}", t["pixel_mse"].as_f64().unwrap());
    assert!(table.contains(&format!("| pixel pendulum | by-hand | - | 2 | 1.0 (1.0) | 1.0, W = 2 | {mse} |")), "{table}");
    assert!(table.contains("| pixel pendulum | perfect | - | 2 | 18.0 (18.0) | 18.0, W = 2 | 0.000e0 | 1.000 | 1 |"), "{table}");

    // The benchmark's count: from the context when not told (ours, forward only: no
    // backward predictions), from --vpt-window on (frame 3 is the bad one: none holds).
    let b = &t["benchmark_vpt"];
    assert_eq!((b["window"].as_u64(), b["forward"].clone(), b["vpt"].as_f64()), (Some(2), serde_json::json!([1, 1]), Some(1.0)), "{b}");
    assert!(b.get("backward").is_none(), "{b}");
    let w3 = dir.path().join("runs/w3");
    succeeds(bin().args(["score", "--vpt-window", "3", "--data"]).arg(&data).arg("--predictions").arg(&pred).arg("--out").arg(&w3));
    let b3 = &json(w3.join("metrics.json"))["test_trials"]["benchmark_vpt"];
    assert_eq!(
        (b3["window"].as_u64(), b3["length"].as_u64(), b3["forward"].clone()),
        (Some(3), Some(1), serde_json::json!([0, 0])),
        "{b3}"
    );
    // Options the predictions cannot take, named by flag, nothing written.
    let opt = |extra: &[&str], out: &str| {
        let mut c = bin();
        c.args(["score", "--data"]).arg(&data).arg("--predictions").arg(&pred).arg("--out").arg(dir.path().join(out)).args(extra);
        c
    };
    fails_cleanly(opt(&["--vpt-window", "4"], "runs/w4"), "--vpt-window: ", dir.path());
    fails_cleanly(opt(&["--vpt-window", "1"], "runs/w1"), "--vpt-window: ", dir.path());
    fails_cleanly(opt(&["--vpt-backward"], "runs/back"), "--vpt-backward: ", dir.path());
    assert!(!dir.path().join("runs/w4").exists() && !dir.path().join("runs/back").exists());
}

#[test]
fn bad_predictions_are_refused_in_one_line_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let data = small_dataset(dir.path(), 28);
    let other = dir.path().join("other.h5");
    bin().args(["generate", "--trials", "10", "--steps", "20", "--seed", "5", "--out"]).arg(&other).assert().success();
    let cases: [(&str, &str, &[f64], &str); 9] = [
        ("nan", "f['frames'][0, 1, 3, 4] = float('nan')", &[0.0, 0.0], "'frames' holds NaN at trial 0, predicted frame 1"),
        ("no-context", "del f.attrs['context']", &[0.0], "has no integer 'context' attribute"),
        ("no-format", "del f.attrs['format']", &[0.0], "has no 'format' attribute"),
        ("side", "del f['frames']; f['frames'] = np.zeros((2, 1, 27, 27), np.float32)", &[0.0], "has 27x27 frames; "),
        ("trials", "del f['frames']; f['frames'] = np.zeros((3, 1, 28, 28), np.float32); del f['latents']", &[0.0], "predicts 3 trials;"),
        ("shape", "del f['frames']; f['frames'] = np.zeros((2, 28, 28), np.float32)", &[0.0], "'frames' has shape [2, 28, 28]"),
        ("latents", "del f['latents']; f['latents'] = np.zeros((2, 5, 2))", &[0.0], "'latents' has shape [2, 5, 2]"),
        (
            "past-the-end",
            "del f['frames']; f['frames'] = np.zeros((2, 19, 28, 28), np.float32); del f['latents']",
            &[0.0],
            "predicts frames 2 .. 20 (context 2 + horizon 19)",
        ),
        (
            "sha",
            "f.attrs['dataset_sha256'] = hashlib.sha256(open(sys.argv[1] + '.x', 'rb').read()).hexdigest()",
            &[0.0],
            "another dataset's predictions",
        ),
    ];
    std::fs::copy(&other, PathBuf::from(format!("{}.x", data.display()))).unwrap();
    for (name, tweak, offsets, needle) in cases {
        let pred = dir.path().join(format!("{name}.h5"));
        write_predictions(&data, &pred, 2, offsets, tweak);
        let out = dir.path().join(format!("runs-{name}"));
        let mut cmd = bin();
        cmd.args(["score", "--data"]).arg(&data).arg("--predictions").arg(&pred).arg("--out").arg(&out);
        let stderr = String::from_utf8_lossy(&cmd.output().unwrap().stderr).into_owned();
        assert!(stderr.contains(&format!("{}: ", pred.display())), "{name}: the file is named: {stderr}");
        fails_cleanly(cmd, needle, dir.path());
        assert!(!out.exists(), "{name}: nothing written");
    }
    // Not HDF5 at all; a missing file; a dataset that is not one.
    let text = dir.path().join("text.h5");
    std::fs::write(&text, "not hdf5").unwrap();
    let score = |pred: &Path, data: &Path| {
        let mut c = bin();
        c.args(["score", "--data"]).arg(data).arg("--predictions").arg(pred);
        c
    };
    fails_cleanly(score(&text, &data), "text.h5: is not a readable HDF5 file", dir.path());
    fails_cleanly(score(&dir.path().join("none.h5"), &data), "none.h5: no such file", dir.path());
    fails_cleanly(score(&data, &text), "text.h5: is not a readable HDF5 file", dir.path());
}

/// A single run (hnn and baseline) and an ensemble (hnn, seeds 0 and 1) on `data`, trained
/// and evaluated into `runs/`.
fn trained_runs(data: &Path, runs: &Path) -> (PathBuf, PathBuf) {
    let (single, ensemble) = (runs.join("single"), runs.join("ensemble"));
    succeeds(train_on_cpu(data, &single, &["--steps", "60", "--batch", "32", "--log-every", "10"]));
    succeeds(train_on_cpu(data, &ensemble, &["--model", "hnn", "--seeds", "0,1", "--steps", "40", "--batch", "32", "--log-every", "10"]));
    for run in [&single, &ensemble] {
        succeeds(bin().args(["evaluate", "--device", "cpu", "--frames", "20", "--steps", "23", "--run"]).arg(run));
    }
    (single, ensemble)
}

#[test]
fn score_gives_evaluates_figures_for_our_own_model_and_every_reader_reads_the_runs() {
    let dir = tempfile::tempdir().unwrap();
    let data = small_dataset(dir.path(), 28);
    let runs = dir.path().join("runs");
    let (single, ensemble) = trained_runs(&data, &runs);

    // Our own model's predictions, written in the schema and scored: evaluate's figures.
    for (run, model, seed, name) in [(&single, "baseline", None, "baseline"), (&ensemble, "hnn", Some(1u64), "hnn seed 1")] {
        let pred = dir.path().join(format!("{model}.h5"));
        let mut predict = bin();
        predict.args(["predict", "--device", "cpu", "--model", model, "--out"]).arg(&pred).arg("--run").arg(run);
        if let Some(s) = seed {
            predict.args(["--seed", &s.to_string()]);
        }
        let said = succeeds(predict);
        assert!(said.contains("2 test trials x 18 frames (frames 2 .. 19, given frames 0 .. 1)"), "{said}");
        let out = runs.join(format!("score-{model}"));
        succeeds(bin().args(["score", "--data"]).arg(&data).arg("--predictions").arg(&pred).arg("--out").arg(&out));
        let scored = json(out.join("metrics.json"));
        assert_eq!(scored["model"], name);
        let evaluated = json(run.join("metrics.json"));
        let member =
            evaluated["models"].as_array().unwrap().iter().find(|m| m["model"] == model && m["seed"] == seed.unwrap_or(0)).unwrap().clone();
        assert_eq!(scored["test_trials"], member["test_trials"], "score and evaluate disagree on {model}");
        // Both families are fields: predicted backward too, and counted as the benchmark
        // counts them after the training window (context 2 + horizon 1).
        let b = &scored["test_trials"]["benchmark_vpt"];
        assert_eq!((b["window"].as_u64(), b["backward"].as_array().map(|v| v.len())), (Some(3), Some(2)), "{b}");
        let mean = (b["forward_median"].as_f64().unwrap() + b["backward_median"].as_f64().unwrap()) / 2.0;
        assert_eq!(b["vpt"].as_f64(), Some(mean));
        assert!(scored["test_trials"]["pixel_mse"].as_f64().unwrap().is_finite());
        assert_eq!(json(out.join("config.json"))["predictions"]["latent"], 2);
    }
    // predict's bad input: a model or member the run lacks, a file already there.
    let predict = |extra: &[&str]| {
        let mut c = bin();
        c.args(["predict", "--device", "cpu", "--run"]).arg(&ensemble).arg("--out").arg(dir.path().join("hnn.h5")).args(extra);
        c
    };
    fails_cleanly(predict(&["--model", "baseline", "--force"]), "--model: the run trained no baseline model (it has hnn)", dir.path());
    fails_cleanly(predict(&["--seed", "7", "--force"]), "--seed: the run has no member of seed 7", dir.path());
    fails_cleanly(predict(&[]), "hnn.h5: already exists; pass --force", dir.path());
    // A file that names this dataset is refused against another one.
    let other = dir.path().join("other.h5");
    bin().args(["generate", "--trials", "10", "--steps", "20", "--seed", "5", "--out"]).arg(&other).assert().success();
    fails_cleanly(
        bin().args(["score", "--data"]).arg(&other).arg("--predictions").arg(dir.path().join("hnn.h5")),
        "another dataset's predictions",
        dir.path(),
    );

    // TensorBoard's reader: every model and member's training, as the JSONL log has it, and
    // its final figures as metrics.json has them.
    let events = read_events(&runs);
    common::assert_events_match_log(&events, "single/events/hnn", &single.join("log-hnn.jsonl"));
    common::assert_events_match_log(&events, "single/events/baseline", &single.join("log-baseline.jsonl"));
    for seed in [0, 1] {
        let member = format!("ensemble/members/seed-{seed}");
        common::assert_events_match_log(&events, &format!("{member}/events/hnn"), &runs.join(&member).join("log-hnn.jsonl"));
    }
    let m = json(single.join("metrics.json"));
    for model in m["models"].as_array().unwrap() {
        let tags = &events[format!("single/events/{}", model["model"].as_str().unwrap())];
        let f32_of = |v: &serde_json::Value| v.as_f64().unwrap() as f32 as f64;
        assert_eq!(tags["final/test_loss"][0], serde_json::json!([60, f32_of(&model["test_loss"]["mean"])]));
        assert_eq!(tags["paper/pixel_mse"][0][1].as_f64().unwrap(), f32_of(&model["pixel_mse"]));
        assert_eq!(tags["test_trials/pixel_mse"][0][1].as_f64().unwrap(), f32_of(&model["test_trials"]["pixel_mse"]));
    }
    assert!(events["score-hnn/events/hnn_seed_1"]["test_trials/pixel_mse"].is_array(), "{events}");

    // The tables as data: pandas reads the CSV and finds the Markdown table's figures.
    let markdown = succeeds(bin().args(["table", "--runs"]).arg(&runs));
    let csv = dir.path().join("table.csv");
    std::fs::write(&csv, succeeds(bin().args(["table", "--format", "csv", "--runs"]).arg(&runs))).unwrap();
    let read = python_json(
        r#"
import sys, json, pandas as pd
t = pd.read_csv(sys.argv[1])
paper = t[(t.protocol == "paper") & t.run.str.endswith("single")].set_index("model")
trials = t[t.protocol == "test-trials"]
print(json.dumps(dict(
    columns=list(t.columns), rows=len(t),
    train=[paper.loc["baseline", "train_loss"], paper.loc["hnn", "train_loss"]],
    test=[paper.loc["baseline", "test_loss"], paper.loc["hnn", "test_loss"]],
    ensemble_train=t[(t.protocol == "paper") & t.run.str.endswith("ensemble")].train_loss.tolist(),
    trials=[[r.run, r.model, None if pd.isna(r.seed) else int(r.seed), r.valid_prediction_time_median, r.pixel_mse] for r in trials.itertuples()],
)))
"#,
        &[csv.as_os_str()],
    );
    let pair = |v: &serde_json::Value| format!("{:.3} / {:.3}", v[0].as_f64().unwrap() * 1e3, v[1].as_f64().unwrap() * 1e3);
    let row = markdown.lines().find(|l| l.contains("<- ") && l.ends_with("single")).unwrap();
    assert!(row.contains(&format!("| {} | {} |", pair(&read["train"]), pair(&read["test"]))), "{row} vs {read}");
    // The ensemble's row is the mean of its members' (two seeds).
    let e: Vec<f64> = read["ensemble_train"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    assert_eq!(e.len(), 2);
    let erow = markdown.lines().find(|l| l.contains("<- ") && l.ends_with("ensemble")).unwrap();
    let short = pixel_hnn::report::table::short;
    assert!(erow.contains(&format!("| - / {} [", short((e[0] + e[1]) / 2.0 * 1e3))), "{erow} vs {e:?}");
    // Every test-trials record is a row of the Markdown's second table, and the external
    // ones sit beside the trained ones.
    let trials = read["trials"].as_array().unwrap();
    assert_eq!(trials.len(), 2 + 2 + 2, "single's two models, the ensemble's two members, two score runs: {read}");
    assert!(
        markdown.contains("| the benchmark's VPT (after the training window of W frames, forward and backward averaged), W |"),
        "{markdown}"
    );
    for r in trials {
        let seed = r[2].as_u64().map(|s| s.to_string()).unwrap_or_else(|| "-".into());
        let line = format!("| pixel pendulum | {} | {seed} | 2 | {:.1} (", r[1].as_str().unwrap(), r[3].as_f64().unwrap());
        let found = markdown.lines().find(|l| l.starts_with(&line) && l.ends_with(&format!("| {} |", r[0].as_str().unwrap())));
        let found = found.unwrap_or_else(|| panic!("{line} not in {markdown}"));
        assert!(found.contains(&format!("| {:.3e} |", r[4].as_f64().unwrap())), "{found} vs {r}");
    }
    let json_rows =
        serde_json::from_str::<serde_json::Value>(&succeeds(bin().args(["table", "--format", "json", "--runs"]).arg(&runs))).unwrap();
    assert_eq!(json_rows.as_array().unwrap().len(), read["rows"].as_u64().unwrap() as usize);
    assert_eq!(read["columns"][0], "run");
}

#[test]
fn the_pytorch_example_trains_writes_predictions_and_its_row_appears_in_the_table() {
    let dir = tempfile::tempdir().unwrap();
    let data = small_dataset(dir.path(), 28);
    let runs = dir.path().join("runs");
    let pred = dir.path().join("example.h5");
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/pytorch_predictions.py");
    let out = std::process::Command::new(venv_python())
        .arg(&script)
        .arg("--data")
        .arg(&data)
        .arg("--out")
        .arg(&pred)
        .args(["--steps", "300", "--pixel-hnn"])
        .arg(assert_cmd::cargo::cargo_bin("pixel-hnn"))
        .arg("--score-out")
        .arg(runs.join("example"))
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{said}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(said.contains("| pixel pendulum, pytorch-example | given 2 frames, predicting 18 |"), "{said}");
    let m = json(runs.join("example/metrics.json"));
    let t = &m["test_trials"];
    assert!(t["pixel_mse"].as_f64().unwrap().is_finite() && t["pixel_mse"].as_f64().unwrap() > 0.0, "{t}");
    assert!(t["latent"]["map"]["r2_test"].as_array().unwrap().iter().all(|r| r.as_f64().is_some()), "{t}");
    let table = succeeds(bin().args(["table", "--runs"]).arg(&runs));
    assert!(table.lines().any(|l| l.starts_with("| pixel pendulum | pytorch-example | - | 2 |")), "{table}");
    // No temporary left beside the predictions.
    assert!(!dir.path().join("example.h5.tmp").exists());
}

/// Writes RGB predictions of a suite dataset's test trajectories with h5py: the true frames
/// over 255 plus `offset` from frame `context` on, for `horizon` frames.
fn write_suite_predictions(data: &Path, out: &Path, context: usize, horizon: usize, offset: f64, grey: bool) {
    let script = format!(
        r#"
import sys, h5py, numpy as np, json
d = h5py.File(sys.argv[1], "r")
n = int(d.attrs["test_trials"])
frames = d["frames"][:n, {context}:{context} + {horizon}].astype(np.float32) / 255 + np.float32({offset})
if {grey}:
    frames = frames.mean(axis=-1)
f = h5py.File(sys.argv[2], "w")
f["frames"] = frames
f.attrs["format"] = "pixel-hnn/predictions"
f.attrs["format_version"] = 1
f.attrs["context"] = {context}
f.attrs["model"] = "rgb-by-hand"
f.close()
print(json.dumps(n))
"#,
        grey = if grey { "True" } else { "False" }
    );
    python_json(&script, &[data.as_os_str(), out.as_os_str()]);
}

#[test]
fn rgb_predictions_of_a_suite_dataset_are_scored_and_the_wrong_colours_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let suite = dir.path().join("dm-pendulum.h5");
    succeeds(
        bin().args(["generate", "--preset", "dm-pendulum", "--trials", "6", "--test-trials", "3", "--steps", "20", "--out"]).arg(&suite),
    );
    let pred = dir.path().join("rgb.h5");
    write_suite_predictions(&suite, &pred, 5, 15, 0.0, false);
    let out = dir.path().join("runs/rgb");
    let said = succeeds(bin().args(["score", "--data"]).arg(&suite).arg("--predictions").arg(&pred).arg("--out").arg(&out));
    assert!(said.contains("| pixel dm-pendulum, rgb-by-hand | given 5 frames, predicting 15 |"), "{said}");
    let m = json(out.join("metrics.json"));
    assert_eq!(m["system"], "dm-pendulum");
    let t = &m["test_trials"];
    assert_eq!((t["valid_prediction_time_median"].as_f64(), t["pixel_mse"].as_f64()), (Some(15.0), Some(0.0)), "{t}");
    assert_eq!(t["trials"].as_array().unwrap().len(), 3);
    let dataset = &json(out.join("config.json"))["dataset"];
    assert_eq!(
        (dataset["suite"]["suite"]["system"].as_str(), dataset["suite"]["test_trials"].as_u64()),
        (Some("pendulum"), Some(3)),
        "{dataset}"
    );
    // An offset of 0.1 on every value: pixel MSE 0.01 on every frame (in f32).
    let off = dir.path().join("off.h5");
    write_suite_predictions(&suite, &off, 5, 15, 0.1, false);
    let o = json(succeeds_json(&suite, &off, &dir.path().join("runs/off")));
    assert!((o["test_trials"]["pixel_mse"].as_f64().unwrap() - 0.01).abs() < 1e-6, "{o}");
    let table = succeeds(bin().args(["table", "--runs"]).arg(dir.path().join("runs")));
    assert!(table.contains("| pixel dm-pendulum | rgb-by-hand | - | 5 | 15.0 (15.0) | 15.0, W = 5 | 0.000e0 |"), "{table}");
    // Grey predictions of the RGB dataset, and RGB ones of a grey dataset: named, nothing written.
    let grey = dir.path().join("grey.h5");
    write_suite_predictions(&suite, &grey, 5, 15, 0.0, true);
    let score = |data: &Path, pred: &Path, out: &str| {
        let mut c = bin();
        c.args(["score", "--data"]).arg(data).arg("--predictions").arg(pred).arg("--out").arg(dir.path().join(out));
        c
    };
    fails_cleanly(score(&suite, &grey, "runs/grey"), "grey.h5: has grey frames; ", dir.path());
    fails_cleanly(score(&suite, &grey, "runs/grey"), "is an RGB dataset (its frames are [trials, steps, 32, 32, 3])", dir.path());
    let ours = dataset_of(dir.path(), "ours.h5", (10, 20, 32), &[]);
    fails_cleanly(score(&ours, &pred, "runs/wrong"), "rgb.h5: has RGB frames; ", dir.path());
    assert!(!dir.path().join("runs/grey").exists() && !dir.path().join("runs/wrong").exists());
}
