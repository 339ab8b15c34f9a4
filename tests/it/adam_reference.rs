//! The project's Adam against `torch.optim.Adam` over 20 steps: the same parameters and
//! gradients (tests/fixtures/adam_reference.json, written by make_adam_reference.py), the
//! parameters compared after every step, in f32 and f64, through `update` (explicit
//! gradients) and through `step` (gradients left by autograd).
use pixel_hnn::util::adam::{Adam, AdamConfig};
use serde_json::Value;
use tch::{Kind, Tensor};

const NAMES: [&str; 3] = ["w", "b", "c"];

fn reference() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/adam_reference.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect()
}

fn config(r: &Value) -> AdamConfig {
    let c = &r["config"];
    let f = |k: &str| c[k].as_f64().unwrap();
    AdamConfig { lr: f("lr"), beta1: f("beta1"), beta2: f("beta2"), eps: f("eps"), weight_decay: f("weight_decay") }
}

fn tensor(values: &[f64], shape: &[i64], kind: Kind) -> Tensor {
    Tensor::from_slice(values).to_kind(kind).view(shape)
}

fn shape(r: &Value, name: &str) -> Vec<i64> {
    r["shapes"][name].as_array().unwrap().iter().map(|x| x.as_i64().unwrap()).collect()
}

/// Feeds the reference's gradients to the project's Adam (by `update`, or by `step` after a
/// backward pass whose gradient is that gradient) and checks every parameter after every
/// step within `tol`, relative.
fn compare(dtype: &str, kind: Kind, tol: f64, autograd: bool) {
    let r = reference();
    let run = &r[dtype];
    let params: Vec<(String, Tensor)> = NAMES
        .iter()
        .map(|n| (n.to_string(), tensor(&floats(&run["initial"][n]), &shape(&r, n), kind).set_requires_grad(autograd)))
        .collect();
    let handles: Vec<Tensor> = params.iter().map(|(_, p)| p.shallow_clone()).collect();
    let mut adam = Adam::new(params, config(&r));
    let steps = run["params"].as_array().unwrap().len();
    assert_eq!(steps, 20);
    let mut worst = 0.0f64;
    for t in 0..steps {
        let grads: Vec<Tensor> = NAMES.iter().map(|n| tensor(&floats(&run["grads"][t][n]), &shape(&r, n), kind)).collect();
        if autograd {
            adam.zero_grad();
            let loss = handles.iter().zip(&grads).map(|(p, g)| (p * g).sum(kind)).reduce(|a, b| a + b).unwrap();
            loss.backward();
            adam.step();
        } else {
            tch::no_grad(|| adam.update(&grads, None));
        }
        for (n, p) in NAMES.iter().zip(&handles) {
            let got: Vec<f64> = Vec::try_from(p.detach().to_kind(Kind::Double).view([-1])).unwrap();
            let want = floats(&run["params"][t][n]);
            for (i, (a, b)) in got.iter().zip(&want).enumerate() {
                let rel = (a - b).abs() / b.abs();
                worst = worst.max(rel);
                assert!(rel <= tol, "{dtype}, step {}: {n}[{i}] = {a:e}, torch {b:e} (relative {rel:e})", t + 1);
            }
        }
    }
    assert_eq!(adam.steps_taken(), steps as i64);
    // The parameters did move: a no-op update would fail above, but say how far.
    let first = floats(&run["initial"]["w"]);
    let last = floats(&run["params"][steps - 1]["w"]);
    assert!(first.iter().zip(&last).any(|(a, b)| (a - b).abs() > 1e-3), "the reference barely moves");
    eprintln!("{dtype} (autograd {autograd}): worst relative difference {worst:e}");
}

#[test]
fn f32_updates_match_torch() {
    compare("float32", Kind::Float, 1e-6, false);
}

#[test]
fn f64_updates_match_torch() {
    compare("float64", Kind::Double, 1e-12, false);
}

#[test]
fn f32_steps_from_autograd_match_torch() {
    compare("float32", Kind::Float, 1e-6, true);
}

#[test]
fn f64_steps_from_autograd_match_torch() {
    compare("float64", Kind::Double, 1e-12, true);
}
