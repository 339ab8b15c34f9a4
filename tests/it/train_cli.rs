//! `pixel-hnn train` through the real binary: determinism, resume, checkpoints, divergence,
//! bad input, and weights that PyTorch loads.

use crate::common;
use crate::common::{bin, fails, read_bytes, succeeds};
use assert_cmd::Command;
use std::path::{Path, PathBuf};

/// A small dataset: 10 trials x 20 frames (8 training trials, 136 training samples).
fn dataset(dir: &Path, side: u32) -> PathBuf {
    common::small_dataset(dir, side)
}

/// `train` on the CPU with 32 samples a step unless `extra` says otherwise (or resumes).
fn train(data: &Path, out: &Path, extra: &[&str]) -> Command {
    let batch: &[&str] = if extra.contains(&"--batch") || extra.contains(&"--resume") { &[] } else { &["--batch", "32"] };
    common::train_on_cpu(data, out, &[extra, batch].concat())
}

#[test]
fn same_seed_same_loss_curve_and_a_complete_run_folder() {
    let dir = tempfile::tempdir().unwrap();
    let data = dataset(dir.path(), 28);
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    for out in [&a, &b] {
        let said = succeeds(train(&data, out, &["--steps", "30", "--log-every", "1"]));
        assert!(said.contains("| hnn |"), "{said}");
    }
    for f in ["log-hnn.jsonl", "log-baseline.jsonl", "hnn.safetensors", "baseline.safetensors"] {
        assert!(read_bytes(a.join(f)) == read_bytes(b.join(f)), "{f} differs between two runs of one seed");
    }
    assert_ne!(read_bytes(a.join("log-hnn.jsonl")), read_bytes(a.join("log-baseline.jsonl")));
    let log = String::from_utf8(read_bytes(a.join("log-hnn.jsonl"))).unwrap();
    assert_eq!(log.lines().count(), 30);
    let first: serde_json::Value = serde_json::from_str(log.lines().next().unwrap()).unwrap();
    for key in ["step", "loss", "ae", "cc", "hnn", "test_loss"] {
        assert!(first[key].is_number(), "{key} missing from {first}");
    }
    let cfg: serde_json::Value = serde_json::from_slice(&read_bytes(a.join("config.json"))).unwrap();
    assert_eq!(cfg["format"], "pixel-hnn/run");
    assert_eq!(cfg["train"]["adam"]["lr"], 1e-3);
    assert_eq!(cfg["dataset"]["sha256"].as_str().unwrap().len(), 64);
    let losses: serde_json::Value = serde_json::from_slice(&read_bytes(a.join("final-losses.json"))).unwrap();
    assert_eq!(losses["models"][0]["test"]["n"], 2 * 17);
    let png = image::open(a.join("loss-curve.png")).unwrap();
    assert_eq!((png.width(), png.height()), (800, 500));
}

#[test]
fn one_run_of_1000_steps_equals_600_then_resume_400_bit_for_bit() {
    let dir = tempfile::tempdir().unwrap();
    let data = dataset(dir.path(), 28);
    let (whole, split) = (dir.path().join("whole"), dir.path().join("split"));
    let common = ["--model", "hnn", "--checkpoint-every", "200"];
    train(&data, &whole, &common).args(["--steps", "1000"]).assert().success();
    train(&data, &split, &common).args(["--steps", "600"]).assert().success();
    // Only --steps changes; the other settings come from the run's config.json.
    bin()
        .args(["train", "--device", "cpu", "--resume", "--steps", "1000", "--data"])
        .arg(&data)
        .arg("--out")
        .arg(&split)
        .assert()
        .success();
    assert!(read_bytes(whole.join("hnn.safetensors")) == read_bytes(split.join("hnn.safetensors")), "weights differ");
    assert!(read_bytes(whole.join("log-hnn.jsonl")) == read_bytes(split.join("log-hnn.jsonl")), "logs differ");
    assert!(read_bytes(whole.join("checkpoints/hnn.safetensors")) == read_bytes(split.join("checkpoints/hnn.safetensors")));
    // The resumed run's TensorBoard events are its log's lines, once each (rewritten at
    // the resume, not appended twice).
    let events = common::read_events(dir.path());
    common::assert_events_match_log(&events, "split/events/hnn", &split.join("log-hnn.jsonl"));
    common::assert_events_match_log(&events, "whole/events/hnn", &whole.join("log-hnn.jsonl"));
}

#[test]
fn a_killed_run_leaves_a_whole_checkpoint_to_resume_from() {
    let dir = tempfile::tempdir().unwrap();
    let data = dataset(dir.path(), 28);
    let out = dir.path().join("run");
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("pixel-hnn"))
        .args(["train", "--device", "cpu", "--batch", "32", "--model", "hnn", "--steps", "100000", "--checkpoint-every", "3", "--data"])
        .arg(&data)
        .arg("--out")
        .arg(&out)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let ck = out.join("checkpoints/hnn.safetensors");
    let t = std::time::Instant::now();
    while !ck.exists() && t.elapsed().as_secs() < 60 {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    std::thread::sleep(std::time::Duration::from_millis(150)); // land somewhere in a later write
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(ck.exists());
    // The checkpoint loads (a torn file would not): resume it for 3 more steps.
    let done =
        pixel_hnn::run::PixelRun::open(&out).unwrap().checkpoint(pixel_hnn::model::FieldKind::Hnn, 0).unwrap().unwrap().progress.step;
    let more = (done + 3).to_string();
    bin().args(["train", "--device", "cpu", "--resume", "--steps", &more, "--data"]).arg(&data).arg("--out").arg(&out).assert().success();
    assert!(out.join("hnn.safetensors").exists());
    // Lowering --steps below what the checkpoint has done is refused, naming the flag.
    fails(
        bin().args(["train", "--device", "cpu", "--resume", "--steps", "1", "--data"]).arg(&data).arg("--out").arg(&out),
        "--steps: the hnn model's checkpoint has done",
    );
}

#[test]
fn resume_takes_every_setting_from_the_run_and_names_what_changed_in_one_short_line() {
    let dir = tempfile::tempdir().unwrap();
    let data = dataset(dir.path(), 28); // not datasets/pendulum.h5
    let out = dir.path().join("run");
    train(&data, &out, &["--model", "hnn", "--steps", "4", "--lr", "2e-3", "--log-every", "1"]).assert().success();
    // No --data, --lr, --batch or --log-every: all from the run folder; only --steps given.
    bin().args(["train", "--device", "cpu", "--resume", "--steps", "6", "--out"]).arg(&out).assert().success();
    let log = String::from_utf8(read_bytes(out.join("log-hnn.jsonl"))).unwrap();
    assert_eq!(log.lines().count(), 6, "every step of 0..6 logged: {log}");
    let cfg = common::read_json(out.join("config.json"));
    assert_eq!((cfg["train"]["steps"].as_u64(), cfg["train"]["adam"]["lr"].as_f64()), (Some(6), Some(2e-3)));
    // Another dataset: refused, naming what differs, in one short line.
    let other = dir.path().join("other.h5");
    bin().args(["generate", "--trials", "12", "--steps", "20", "--out"]).arg(&other).assert().success();
    let err = fails(
        bin().args(["train", "--device", "cpu", "--resume", "--steps", "8", "--lr", "1e-3", "--data"]).arg(&other).arg("--out").arg(&out),
        "--resume",
    );
    let line = err.trim().lines().last().unwrap();
    for needle in ["dataset.config.trials: 10 -> 12", "dataset.sha256", "train.adam.lr: 0.002 -> 0.001"] {
        assert!(line.contains(needle), "{needle} not in {line}");
    }
    assert!(line.len() < 400, "{} characters: {line}", line.len());
}

#[test]
fn divergence_stops_naming_the_step_and_keeps_the_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let data = dataset(dir.path(), 28);
    let out = dir.path().join("run");
    fails(train(&data, &out, &["--model", "baseline", "--lr", "1e12", "--steps", "500", "--checkpoint-every", "1"]), "diverged at step");
    assert!(out.join("checkpoints/baseline.safetensors").exists());
    assert!(!out.join("baseline.safetensors").exists(), "no final weights after divergence");
}

#[test]
fn bad_input_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let data = dataset(dir.path(), 28);
    let run = dir.path().join("run");
    fails(train(&dir.path().join("nope.h5"), &run, &[]), "nope.h5: no such file");
    let text = dir.path().join("text.h5");
    std::fs::write(&text, "hello").unwrap();
    fails(train(&text, &run, &[]), "text.h5: is not a readable HDF5 file");
    fails(train(&data, &run, &["--steps", "0"]), "--steps");
    fails(train(&data, &run, &["--batch", "500"]), "--batch: 500 exceeds the 136 training samples");
    fails(train(&data, &run, &["--lr", "-1"]), "--lr");
    fails(bin().args(["train", "--resume", "--data"]).arg(&data).arg("--out").arg(dir.path().join("none")), "--resume");
    if !Path::new("/proc/driver/nvidia/version").exists() {
        fails(train(&data, &run, &["--device", "cuda"]), "--device");
    }
    assert!(!run.exists(), "nothing may be written for bad input");

    train(&data, &run, &["--model", "hnn", "--steps", "5"]).assert().success();
    let before = read_bytes(run.join("hnn.safetensors"));
    fails(train(&data, &run, &["--model", "hnn", "--steps", "5"]), "already exists; pass --force");
    fails(train(&data, &run, &["--model", "hnn", "--steps", "8", "--resume", "--batch", "16"]), "train.batch: 32 -> 16");
    assert_eq!(read_bytes(run.join("hnn.safetensors")), before);

    // A checkpoint of another architecture (16 x 16 frames) in a 28 x 28 run.
    let data16 = dataset(dir.path(), 16);
    let run16 = dir.path().join("run16");
    train(&data16, &run16, &["--model", "hnn", "--steps", "5"]).assert().success();
    std::fs::copy(run16.join("checkpoints/hnn.safetensors"), run.join("checkpoints/hnn.safetensors")).unwrap();
    fails(train(&data, &run, &["--resume", "--steps", "8"]), "another architecture or frame size");
}

const TORCH_CHECK: &str = r#"
import sys, json, h5py, torch
from safetensors.torch import load_file
w = load_file(sys.argv[1])
assert w["ae.enc.l1.weight"].shape == (200, 1568) and w["field.l3.weight"].shape == (2, 200)
assert "field.l3.bias" not in w
f = h5py.File(sys.argv[2])
fr = torch.from_numpy(f["frames"][0, 1:3]).reshape(1, -1)    # the first test sample's x
lin = lambda x, n: x @ w[n + ".weight"].T + w[n + ".bias"]
h = torch.relu(lin(fr, "ae.enc.l1"))
h = h + torch.relu(lin(h, "ae.enc.l2"))
h = h + torch.relu(lin(h, "ae.enc.l3"))
print(json.dumps(lin(h, "ae.enc.l4")[0].tolist()))
"#;

#[test]
fn weights_load_in_pytorch_and_encode_the_same_latent() {
    let dir = tempfile::tempdir().unwrap();
    let data = dataset(dir.path(), 28);
    let run = dir.path().join("run");
    train(&data, &run, &["--model", "hnn", "--steps", "20"]).assert().success();
    let out = std::process::Command::new(common::venv_python())
        .args(["-c", TORCH_CHECK])
        .arg(run.join("hnn.safetensors"))
        .arg(&data)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let torch_z: Vec<f64> = serde_json::from_slice(&out.stdout).unwrap();

    let opened = pixel_hnn::run::PixelRun::open(&run).unwrap();
    let model = opened.load_model(pixel_hnn::model::FieldKind::Hnn, 0, tch::Device::Cpu).unwrap();
    let ds = pixel_hnn::dataset::PixelDataset::open(&data).unwrap();
    let x = pixel_hnn::dataset::Samples::pairs(&ds, pixel_hnn::dataset::Split::Test).x.narrow(0, 0, 1);
    let z = model.ae.encode(&x);
    for (i, tz) in torch_z.iter().enumerate() {
        let ours = z.double_value(&[0, i as i64]);
        assert!((ours - tz).abs() < 1e-5 * tz.abs().max(1.0), "latent {i}: ours {ours}, PyTorch {tz}");
    }
}

#[test]
fn preset_paper_is_the_papers_run_byte_for_byte() {
    // The paper's run with and without --preset paper: the same config, weights and losses,
    // and a config.json that writes no field settings (so a paper run's files keep the bytes
    // they had before the settings existed).
    let dir = tempfile::tempdir().unwrap();
    let data = dataset(dir.path(), 28);
    let (plain, paper) = (dir.path().join("plain"), dir.path().join("paper"));
    train(&data, &plain, &["--steps", "12"]).assert().success();
    train(&data, &paper, &["--steps", "12", "--preset", "paper"]).assert().success();
    for file in ["config.json", "hnn.safetensors", "baseline.safetensors"] {
        let (a, b) = (read_bytes(plain.join(file)), read_bytes(paper.join(file)));
        assert!(a == b, "{file} differs between the plain run and --preset paper");
    }
    // The final losses to the bit; only the time a step took may differ.
    let losses = |run: &Path| {
        let mut v = common::read_json(run.join("final-losses.json"));
        v["models"].as_array_mut().unwrap().iter_mut().for_each(|m| {
            m.as_object_mut().unwrap().remove("ms_per_step");
        });
        v
    };
    assert_eq!(losses(&plain), losses(&paper));
    let config = common::read_json(paper.join("config.json"));
    assert!(config["train"].get("field").is_none() && config["model"].get("field_settings").is_none(), "{config}");
    assert_eq!(config["model"]["field_hidden"], 200);
}

#[test]
fn preset_study_gives_every_family_one_net_and_flags_beside_it_win() {
    let dir = tempfile::tempdir().unwrap();
    let data = dataset(dir.path(), 28);
    let run = dir.path().join("study");
    let common = ["--preset", "study", "--steps", "3", "--batch", "16", "--horizon", "2"];
    train(&data, &run, &[&common[..], &["--model", "hnn,baseline,ode", "--substeps", "2", "--separable"]].concat()).assert().success();
    let config = common::read_json(run.join("config.json"));
    let t = &config["train"];
    assert_eq!((t["steps"].as_u64(), t["batch"].as_u64(), t["horizon"].as_u64()), (Some(3), Some(16), Some(2)), "the flags win");
    assert_eq!(t["schedule"], "cosine");
    assert_eq!(t["adam"]["weight_decay"], 0.0);
    assert_eq!(t["loss"], serde_json::json!({"ae": 1.0, "cc": 0.0, "hnn": 0.0, "roll": 1.0}), "the benchmark's loss");
    assert_eq!(t["field"]["net"], serde_json::json!({"layers": 3, "width": 200, "activation": "tanh"}));
    assert_eq!((t["field"]["substeps"].as_u64(), t["field"]["separable"].as_bool()), (Some(2), Some(true)));
    // Every family has the same hidden layers; the HNN's H is T(p) + V(q).
    // The weights' names and shapes, from the safetensors header (8 bytes of length, JSON).
    let names = |family: &str| -> Vec<(String, Vec<i64>)> {
        let bytes = read_bytes(run.join(format!("{family}.safetensors")));
        let len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
        let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + len]).unwrap();
        let mut v: Vec<(String, Vec<i64>)> = header
            .as_object()
            .unwrap()
            .iter()
            .filter(|(n, _)| n.starts_with("field."))
            .map(|(n, t)| (n.clone(), t["shape"].as_array().unwrap().iter().map(|d| d.as_i64().unwrap()).collect()))
            .collect();
        v.sort();
        v
    };
    let ode = names("ode");
    assert_eq!(ode.iter().filter(|(n, _)| n.ends_with(".weight")).count(), 4, "{ode:?}");
    assert!(ode.iter().any(|(n, s)| n == "field.l2.weight" && s == &vec![200, 200]));
    assert_eq!(
        names("baseline").iter().map(|(_, s)| s.clone()).collect::<Vec<_>>(),
        ode.iter().map(|(_, s)| s.clone()).collect::<Vec<_>>()
    );
    let hnn = names("hnn");
    assert!(hnn.iter().any(|(n, s)| n == "field.t.l1.weight" && s == &vec![200, 1]), "{hnn:?}");
    assert!(hnn.iter().any(|(n, s)| n == "field.v.l4.weight" && s == &vec![1, 200]), "{hnn:?}");
    // Evaluated as trained, with the substeps it was trained with.
    succeeds(bin().args(["evaluate", "--frames", "20", "--seeds", "1", "--run"]).arg(&run));
    let m = common::read_json(run.join("metrics.json"));
    assert!(m.to_string().contains("as_trained"), "{m}");
}

#[test]
fn bad_field_settings_are_named_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = dataset(dir.path(), 28);
    let run = dir.path().join("run");
    for (args, needle) in [
        (&["--substeps", "0"][..], "--substeps: must be at least 1"),
        (&["--width", "0"][..], "--width: must be between 1"),
        (&["--layers", "0"][..], "--layers: must be between 1"),
        (&["--time-scale", "0"][..], "--time-scale: must be a positive"),
        (&["--separable", "--latent", "3"][..], "--separable: splits the latent into q and p halves, but the latent has 3"),
        (&["--preset", "paper", "--horizon", "8"][..], "--horizon: contradicts --preset paper"),
        (&["--preset", "paper", "--substeps", "2"][..], "--substeps: contradicts --preset paper"),
        (&["--preset", "paper", "--activation", "swish"][..], "--activation: contradicts --preset paper"),
        (&["--width", "60000", "--layers", "60", "--model", "hnn"][..], "--width: 1 members need about"),
    ] {
        common::fails_cleanly(train(&data, &run, args), needle, dir.path());
    }
    for (flag, value) in [("--activation", "relu"), ("--preset", "fast")] {
        let out = train(&data, &run, &[flag, value]).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(&format!("invalid value '{value}' for '{flag}")), "{stderr}");
    }
    assert!(!run.exists());
}
