//! A dataset written here, read back by h5py (the venv's Python) and checked there.
mod common;

use pixel_hnn::dataset::{generate, DatasetConfig, PixelDataset, Split};
use std::process::Command;

const CHECK: &str = r#"
import sys, json, h5py, numpy as np
f = h5py.File(sys.argv[1], "r")
a = f.attrs
assert a["format"] == "pixel-hnn/pendulum-frames", a["format"]
assert int(a["format_version"]) == 1
T, S, side = int(a["trials"]), int(a["steps"]), int(a["side"])
fr = f["frames"]
assert fr.shape == (T, S, side, side) and fr.dtype == np.float32, (fr.shape, fr.dtype)
assert fr.chunks == (1, S, side, side) and fr.compression == "gzip" and fr.shuffle
frames = fr[...]
assert frames.min() == 0.0 and abs(frames.max() - 127 / 255) < 1e-6, frames.max()
assert np.allclose(frames * 255, np.round(frames * 255), atol=1e-4)
th, thd, q, p, e = (f[k][...] for k in ("theta", "thdot", "q", "p", "energy"))
for v in (th, thd, q, p, e):
    assert v.shape == (T, S) and v.dtype == np.float64
assert np.allclose(q, (th - np.pi + np.pi) % (2 * np.pi) - np.pi, atol=1e-12)
assert np.allclose(p, 0.25 * thd) and np.allclose(e, 1.9 * (1 - np.cos(q)) + p ** 2)
# consecutive states follow the environment's step
nthd = np.clip(thd[:, :-1] + 15.0 * np.sin(th[:, :-1]) * 0.05, -8, 8)
assert np.allclose(thd[:, 1:], nthd, atol=1e-12) and np.allclose(th[:, 1:], th[:, :-1] + nthd * 0.05, atol=1e-12)
d0 = np.abs(q[:, 0])
assert (d0 > a["min_angle"]).all() and (d0 < a["max_angle"]).all()
it = f["is_test"][...]
assert it.tolist() == [1] * int(a["test_trials"]) + [0] * (T - int(a["test_trials"]))
cfg = json.loads(a["config_json"])
assert cfg["render"]["side"] == side and cfg["seed"] == int(a["seed"])
print(json.dumps({"sum": float(frames.astype(np.float64).sum()), "theta_3_7": float(th[3, 7]),
                  "pixel": float(frames[2, 5, 20, 14]), "samples": int(a["samples_per_trial"])}))
"#;

#[test]
fn h5py_reads_the_schema_and_the_values() {
    let cfg = DatasetConfig { trials: 10, steps: 20, ..DatasetConfig::default() };
    let data = generate(&cfg, 2, &|| {}).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("d.h5");
    data.write(&path, false).unwrap();
    let out = Command::new(common::venv_python()).arg("-c").arg(CHECK).arg(&path).output().unwrap();
    assert!(out.status.success(), "h5py check failed: {}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let sum: f64 = data.frames.iter().map(|&x| x as f64).sum();
    assert!((v["sum"].as_f64().unwrap() - sum).abs() < 1e-6 * sum);
    assert_eq!(v["theta_3_7"].as_f64().unwrap(), data.state(3, 7).theta);
    assert_eq!(v["pixel"].as_f64().unwrap() as f32, data.frame(2, 5)[20 * 28 + 14]);
    assert_eq!(v["samples"].as_u64().unwrap() as usize, cfg.samples_per_trial());

    // And our own loader gives back exactly what was written.
    let back = PixelDataset::open(&path).unwrap();
    assert_eq!(back.config, data.config);
    assert_eq!(back.frames, data.frames);
    assert_eq!(back.states, data.states);
    let pairs = back.pairs(Split::Train);
    assert_eq!(pairs.x.size(), vec![8 * 17, 2 * 784]);
}
