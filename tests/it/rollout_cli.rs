//! Training over rollouts and the model families through the real binary: every family
//! trains, resumes, is scored under both protocols and drawn; bad input is named.

use crate::common;
use crate::common::{bin, fails_cleanly, read_json, succeeds, train_on_cpu as train};
use pixel_hnn::model::FieldKind;
use pixel_hnn::training::Models;
use pixel_hnn::util::choice::Choice;
use std::path::{Path, PathBuf};

/// A small dataset: 10 trials x 20 frames (8 training trials; windows of up to 17 frames).
fn dataset(dir: &Path) -> PathBuf {
    common::small_dataset(dir, 28)
}

#[test]
fn every_family_trains_over_rollouts_resumes_and_is_scored_as_trained() {
    let dir = tempfile::tempdir().unwrap();
    let data = dataset(dir.path());
    let run = dir.path().join("run");
    let args = ["--model", "all", "--seeds", "0-1", "--horizon", "3", "--batch", "16"];
    succeeds(train(&data, &run, &[&args[..], &["--steps", "6", "--checkpoint-every", "3"]].concat()));
    let cfg = read_json(run.join("config.json"));
    assert_eq!((cfg["train"]["horizon"].as_u64(), cfg["train"]["schedule"].as_str()), (Some(3), Some("cosine")), "{cfg}");
    assert_eq!(cfg["train"]["loss"]["roll"], 1.0, "a horizon brings the rollout's pixels");
    // The log has the rollout's pixel term once it counts.
    let log = std::fs::read_to_string(run.join("members/seed-0/log-ode.jsonl")).unwrap();
    assert!(log.lines().last().unwrap().contains("\"roll\""), "{log}");
    // Resuming with the same settings trains on; with another horizon, step or family it
    // is refused, naming what changed, and nothing is written.
    succeeds(train(&data, &run, &[&args[..], &["--steps", "8", "--resume"]].concat()));
    for (flag, says) in [
        (vec!["--horizon", "4"], "train.horizon: 3 -> 4"),
        (vec!["--horizon", "3", "--integrator", "midpoint", "--model", "hnn,baseline,ode"], "train.integrator: null -> midpoint"),
        (vec!["--horizon", "3", "--model", "hnn"], "train.models"),
    ] {
        let mut a = vec!["--seeds", "0-1", "--steps", "10", "--resume"];
        a.extend(flag);
        fails_cleanly(train(&data, &run, &a), says, &run);
    }
    let said =
        succeeds(bin().args(["evaluate", "--device", "cpu", "--frames", "12", "--steps", "15", "--seeds", "1,2", "--run"]).arg(&run));
    assert!(said.contains("(a) valid prediction time") && said.contains("SyMetric"), "{said}");
    let m = read_json(run.join("metrics.json"));
    let models = m["models"].as_array().unwrap();
    assert_eq!(models.len(), 2 * FieldKind::ALL.len(), "every family x 2 seeds");
    for x in models {
        let (name, a) = (x["model"].as_str().unwrap(), &x["as_trained"]);
        let kind = FieldKind::from_name(name).unwrap();
        assert_eq!(a["integrator"], kind.dynamics().default_integrator(3).name(), "{name}");
        assert_eq!(a["horizon"], 3);
        assert_eq!(a["trajectories"].as_array().unwrap().len(), 2, "seeds 1 and 2 (the paper's trajectory, seed 1, among them)");
        let back = &a["trajectories"][0]["valid_prediction_time_backward"];
        assert_eq!(back.is_null(), kind.dynamics().is_map(), "{name}: a map steps only forward; fields also backward");
        assert!(x["symetric"]["order"].as_u64().is_some_and(|o| (1..=5).contains(&o)), "{x}");
    }
    let pics = dir.path().join("pics");
    let said = succeeds(
        bin()
            .args(["rollout", "--device", "cpu", "--as-trained", "--frames", "12", "--steps", "15", "--run"])
            .arg(&run)
            .arg("--out")
            .arg(&pics),
    );
    assert!(said.contains("rgn seed 0") && said.contains("ode seed 1"), "{said}");
    // Every family's frames and scores, and the pictures, which open.
    common::every_family_drawn(&pics, &["comparison.gif", "sheet.png", "energy.png", "phase-space.png"]);
}

#[test]
fn bad_rollout_settings_are_named_and_nothing_is_written() {
    let unknown = format!("--model: 'sindy' is not a model family; the families are {}", Models::describe());
    let dir = tempfile::tempdir().unwrap();
    let data = dataset(dir.path());
    let run = dir.path().join("run");
    for (args, says) in [
        (vec!["--horizon", "18"], "--horizon: 18 frames is longer than the dataset's trajectories of 20 frames allow (at most 17)"),
        (vec!["--horizon", "0"], "--horizon: must be at least 1"),
        (vec!["--model", "hnn,sindy"], unknown.as_str()),
        (vec!["--model", "rgn", "--integrator", "rk4"], "--integrator: the rgn family cannot be stepped with rk4: it takes euler"),
        (vec!["--horizon", "3", "--grow", "2"], "--grow"),
        (vec!["--horizon", "17", "--batch", "9"], "--batch: 9 exceeds the 8 training windows of 17 frames"),
    ] {
        fails_cleanly(train(&data, &run, &args), says, dir.path());
    }
    let out = train(&data, &run, &["--integrator", "verlet"]).output().unwrap();
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("possible values: euler, rk4, leapfrog, midpoint"));
    assert!(!run.exists());
}

const SWISH_FIELD: &str = r#"
import sys, json, torch
from safetensors.torch import load_file
w = load_file(sys.argv[1])
z = torch.tensor([[0.3, -0.2]], dtype=torch.float64)
h = z
for l in (1, 2, 3):
    h = torch.nn.functional.silu(h @ w[f"field.l{l}.weight"].double().T + w[f"field.l{l}.bias"].double())
print(json.dumps((h @ w["field.l4.weight"].double().T + w["field.l4.bias"].double())[0].tolist()))
"#;

#[test]
fn a_neural_odes_weights_load_in_pytorch_and_give_its_field() {
    let dir = tempfile::tempdir().unwrap();
    let data = dataset(dir.path());
    let run = dir.path().join("run");
    succeeds(train(&data, &run, &["--model", "ode", "--horizon", "2", "--batch", "16", "--steps", "4"]));
    let out =
        std::process::Command::new(common::venv_python()).args(["-c", SWISH_FIELD]).arg(run.join("ode.safetensors")).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let torch_f: Vec<f64> = serde_json::from_slice(&out.stdout).unwrap();
    let opened = pixel_hnn::run::PixelRun::open(&run).unwrap();
    let model = opened.load_model(pixel_hnn::model::FieldKind::Ode, 0, tch::Device::Cpu).unwrap();
    let mut ours = [0.0; 2];
    pixel_hnn::model::NativeField::new(&model.field).eval(&[0.3, -0.2], &mut ours);
    for (a, b) in ours.iter().zip(&torch_f) {
        assert!((a - b).abs() < 1e-5 * b.abs().max(1.0), "ours {ours:?}, PyTorch {torch_f:?}");
    }
}
