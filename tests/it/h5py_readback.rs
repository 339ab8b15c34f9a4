//! Datasets written here, read back by h5py (the venv's Python) and checked there: every
//! system's schema and values; and a format-1 file written by the pendulum-only release
//! still loads.

use crate::common;
use pixel_hnn::dataset::{generate, DatasetConfig, PixelDataset, Samples, Split};
use pixel_hnn::systems::SystemKind;
use pixel_hnn::util::choice::Choice;
use std::process::Command;

const CHECK: &str = r#"
import sys, json, h5py, numpy as np
f = h5py.File(sys.argv[1], "r")
a = f.attrs
assert a["format"] == "pixel-hnn/frames", a["format"]
assert int(a["format_version"]) == 2
system = a["system"]
T, S, side = int(a["trials"]), int(a["steps"]), int(a["side"])
fr = f["frames"]
assert fr.shape == (T, S, side, side) and fr.dtype == np.float32, (fr.shape, fr.dtype)
assert fr.chunks == (1, S, side, side) and fr.compression == "gzip" and fr.shuffle
frames = fr[...]
assert frames.min() == 0.0 and 0 < frames.max() <= 1, frames.max()
assert np.allclose(frames * 255, np.round(frames * 255), atol=1e-4)
names = a["state_names"].split(",")
qn, pn = a["q_names"].split(","), a["p_names"].split(",")
state, q, p, e = (f[k][...] for k in ("state", "q", "p", "energy"))
assert state.shape == (T, S, len(names)) and q.shape == p.shape == (T, S, len(qn)) and e.shape == (T, S)
assert len(pn) == len(qn)
P = {k: float(v) for k, v in f["params"].attrs.items()}
dt = float(a["dt"])
lo, hi = a["initial_window"]
if system == "pendulum":
    th, thd = state[..., 0], state[..., 1]
    assert names == ["theta", "thdot"] and qn == ["q"] and pn == ["p"]
    assert np.allclose(q[..., 0], (th - np.pi + np.pi) % (2 * np.pi) - np.pi, atol=1e-12)
    assert np.allclose(p[..., 0], 0.25 * thd) and np.allclose(e, 1.9 * (1 - np.cos(q[..., 0])) + p[..., 0] ** 2)
    nthd = np.clip(thd[:, :-1] + 1.5 * P["g"] / P["l"] * np.sin(th[:, :-1]) * dt, -8, 8)
    assert np.allclose(thd[:, 1:], nthd, atol=1e-12) and np.allclose(th[:, 1:], th[:, :-1] + nthd * dt, atol=1e-12)
    d0 = np.abs(q[:, 0, 0])
    assert (d0 > lo).all() and (d0 < hi).all()
else:
    assert np.array_equal(state, np.concatenate([q, p], axis=-1)), "the label is the state"
    if system == "spring":
        H = p[..., 0] ** 2 / (2 * P["mass"]) + P["stiffness"] * q[..., 0] ** 2 / 2
        r0 = np.hypot(q[:, 0, 0], p[:, 0, 0])
        assert (r0 >= lo).all() and (r0 <= hi).all()
    elif system == "two-body":
        x1, x2, y1, y2 = (q[..., i] for i in range(4))
        H = (p ** 2).sum(-1) / (2 * P["mass"]) - P["gravity"] * P["mass"] ** 2 / np.hypot(x1 - x2, y1 - y2)
        assert np.allclose(x1 + x2, 0, atol=1e-8) and np.allclose(p[..., 0] + p[..., 1], 0, atol=1e-8)
    elif system == "double-pendulum":
        t1, t2, p1, p2 = q[..., 0], q[..., 1], p[..., 0], p[..., 1]
        m1, m2, l1, l2, g = P["m1"], P["m2"], P["l1"], P["l2"], P["g"]
        D = t1 - t2
        M = m1 + m2 * np.sin(D) ** 2
        H = (m2 * l2**2 * p1**2 + (m1 + m2) * l1**2 * p2**2 - 2 * m2 * l1 * l2 * p1 * p2 * np.cos(D)) / (2 * m2 * l1**2 * l2**2 * M) \
            - (m1 + m2) * g * l1 * np.cos(t1) - m2 * g * l2 * np.cos(t2)
    else:
        raise AssertionError(system)
    assert np.allclose(e, H, atol=1e-12), "energy column is H"
    # the simulator conserves H along every trial
    assert np.abs(H - H[:, :1]).max() < 1e-6 * max(1.0, np.abs(H).max()), np.abs(H - H[:, :1]).max()
it = f["is_test"][...]
assert it.tolist() == [1] * int(a["test_trials"]) + [0] * (T - int(a["test_trials"]))
cfg = json.loads(a["config_json"])
assert cfg["render"]["side"] == side and cfg["seed"] == int(a["seed"]) and cfg["system"]["kind"] == system
print(json.dumps({"sum": float(frames.astype(np.float64).sum()), "state_3_7": state[3, 7].tolist(),
                  "pixel": float(frames[2, 5, 20, 14]), "samples": int(a["samples_per_trial"]), "system": system}))
"#;

#[test]
fn h5py_reads_every_systems_schema_and_values() {
    for &kind in SystemKind::ALL {
        let cfg = DatasetConfig { trials: 10, steps: 20, ..DatasetConfig::for_system(kind) };
        let data = generate(&cfg, 2, &|| {}).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.h5");
        data.write(&path, false).unwrap();
        let out = Command::new(common::venv_python()).arg("-c").arg(CHECK).arg(&path).output().unwrap();
        assert!(out.status.success(), "{kind:?}: h5py check failed: {}", String::from_utf8_lossy(&out.stderr));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["system"], kind.name());
        let sum: f64 = data.frames.iter().map(|&x| x as f64).sum();
        assert!((v["sum"].as_f64().unwrap() - sum).abs() < 1e-6 * sum);
        let state: Vec<f64> = v["state_3_7"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect();
        // (serde_json's float parsing may be an ulp off Python's shortest repr.)
        for (a, b) in state.iter().zip(data.state(3, 7)) {
            assert!((a - b).abs() <= 4.0 * f64::EPSILON * b.abs(), "{a} vs {b}");
        }
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
}

#[test]
fn a_format_1_pendulum_file_still_loads_and_matches_a_fresh_one() {
    // Written by the pendulum-only release (format pixel-hnn/pendulum-frames, version 1):
    // `generate --trials 5 --steps 9 --seed 5`.
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/pendulum-format1.h5");
    let old = PixelDataset::open(&path).unwrap();
    let cfg = DatasetConfig { trials: 5, steps: 9, seed: 5, ..DatasetConfig::default() };
    assert_eq!(old.config, cfg, "the format-1 settings migrate to the same configuration");
    let fresh = generate(&cfg, 1, &|| {}).unwrap();
    assert_eq!(old.frames, fresh.frames, "the same frames, byte for byte");
    assert_eq!(old.states, fresh.states);
    assert_eq!(old.label(1, 3), fresh.label(1, 3));
}
