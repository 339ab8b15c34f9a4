//! The rollout-training loss against the plain-PyTorch peer (`scripts/peer/
//! rollout_train_step.py`, which `scripts/bench` times beside ours): the same weights and
//! windows give the same loss terms, family by family, integrator by integrator, in f64.

use crate::common;
use pixel_hnn::integrate::Integrator;
use pixel_hnn::model::{Architecture, FieldKind, LossWeights, Model, ModelConfig};
use pixel_hnn::util::choice::Choice;
use std::path::Path;
use tch::{Device, Kind, Tensor};

/// Our loss terms of a model of `kind` (seed 3, in f64) on the windows `x` (written at
/// `inputs`), rolled out `k` frames by `integrator`, and the PyTorch peer's `--check` of the
/// same weights and windows (`peer_args` added to its command line).
#[allow(clippy::too_many_arguments)]
fn ours_and_peers(
    dir: &Path,
    kind: FieldKind,
    config: ModelConfig,
    x: &Tensor,
    inputs: &Path,
    k: i64,
    integrator: Integrator,
    weights: &LossWeights,
    peer_args: &[&str],
) -> (Vec<(&'static str, f64)>, serde_json::Value) {
    let m = Model::new(config, kind, 3, Device::Cpu);
    let mut vs = m.vs;
    vs.double();
    let m = Model { vs, ..m };
    let file = dir.join(format!("{}.safetensors", kind.name()));
    let named = m.named_parameters();
    Tensor::write_safetensors(&named.iter().map(|(n, t)| (n.as_str(), t)).collect::<Vec<_>>(), &file).unwrap();
    let terms = m.window_terms(x, k, integrator, weights, false);
    let mean = |t: &Tensor| t.mean(Kind::Double).double_value(&[]);
    let ours = vec![
        ("ae", mean(&terms.ae)),
        ("cc", mean(&terms.cc)),
        ("hnn", mean(&terms.latent)),
        ("roll", mean(&terms.roll)),
        ("total", mean(&terms.total(weights))),
    ];
    let mut cmd = std::process::Command::new(common::venv_python());
    cmd.arg("scripts/peer/rollout_train_step.py").args(["--check", "--model", kind.name()]).args(peer_args);
    if !kind.dynamics().is_map() {
        cmd.args(["--integrator", integrator.name()]);
    }
    let out = cmd.arg("--weights").arg(&file).arg("--inputs").arg(inputs).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    (ours, serde_json::from_slice(&out.stdout).unwrap())
}

#[test]
fn every_familys_rollout_loss_is_the_pytorch_peers() {
    let dir = tempfile::tempdir().unwrap();
    let (n, k) = (4i64, 3i64);
    let mut rng = pixel_hnn::util::rng::Rng::new(5);
    let values: Vec<f64> = (0..n * (k + 1) * 1568).map(|_| 0.5 * rng.uniform(0.0, 1.0)).collect();
    let x = Tensor::from_slice(&values).view([n, k + 1, 1568]);
    let inputs = dir.path().join("x.safetensors");
    Tensor::write_safetensors(&[("x", &x)], &inputs).unwrap();
    let weights = LossWeights { roll: 1.0, ..LossWeights::default() };
    // Every family at its own step over rollouts, and the HNN's implicit midpoint step.
    let own = FieldKind::ALL.iter().map(|&f| (f, f.dynamics().default_integrator(k as usize)));
    for (kind, integrator) in own.chain([(FieldKind::Hnn, Integrator::Midpoint)]) {
        let (ours, theirs) = ours_and_peers(dir.path(), kind, ModelConfig::default(), &x, &inputs, k, integrator, &weights, &[]);
        for (name, v) in ours {
            let t = theirs[name].as_f64().unwrap();
            assert!((v - t).abs() <= 1e-9 * t.abs(), "{kind:?} {integrator:?} {name}: ours {v}, PyTorch {t}");
        }
    }
}

#[test]
fn every_familys_convolutional_rollout_loss_is_the_pytorch_peers() {
    // The convolutional encoder over 5 frames and decoder (HGN's reading q alone), the
    // benchmark's loss: our weights loaded into the PyTorch peer's nn.Conv2d layers give the
    // same loss, family by family, in f64.
    let dir = tempfile::tempdir().unwrap();
    let arch = Architecture { channels: 4, latent: Some(4), ..Architecture::convolutional() };
    let (n, k) = (3i64, 2i64);
    let p = arch.window_frames(k as usize) as i64 - 1;
    // Windows of pairs cut from one sequence of frames, as the dataset's are.
    let mut rng = pixel_hnn::util::rng::Rng::new(6);
    let frames: Vec<Vec<f64>> = (0..n * (p + 1)).map(|_| (0..784).map(|_| rng.uniform(0.0, 1.0)).collect()).collect();
    let mut values = vec![];
    for w in 0..n {
        for j in 0..p {
            let f = (w * (p + 1) + j) as usize;
            values.extend_from_slice(&frames[f]);
            values.extend_from_slice(&frames[f + 1]);
        }
    }
    let x = Tensor::from_slice(&values).view([n, p, 1568]);
    let inputs = dir.path().join("x.safetensors");
    Tensor::write_safetensors(&[("x", &x)], &inputs).unwrap();
    let weights = LossWeights { cc: 0.0, latent: 0.0, roll: 1.0, ..LossWeights::default() };
    for &kind in FieldKind::ALL {
        let integrator = kind.dynamics().default_integrator(k as usize);
        let conv = ["--encoder", "conv", "--context", "5", "--channels", "4", "--latent", "4"];
        let config = ModelConfig::with(28, 1, arch);
        let (ours, theirs) = ours_and_peers(dir.path(), kind, config, &x, &inputs, k, integrator, &weights, &conv);
        assert_eq!(theirs["horizon"].as_i64(), Some(k), "{theirs}");
        for (name, v) in ours.into_iter().filter(|(name, _)| ["ae", "roll", "total"].contains(name)) {
            let t = theirs[name].as_f64().unwrap();
            assert!(v > 0.0 && (v - t).abs() <= 1e-9 * t.abs(), "{kind:?} {name}: ours {v}, PyTorch {t}");
        }
    }
}
