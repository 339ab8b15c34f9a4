//! `generate --preset dm-*`: the real binary writes a suite dataset that h5py reads back with
//! the schema of datasets/README.md, whose frames are the renderer's frames of its own
//! states and draws, and whose bad input is one line naming the flag, with nothing written.

use crate::common::{self, bin, fails_cleanly, succeeds};
use pixel_hnn::systems::suite::{Draws, Suite, SuiteSystem};
use pixel_hnn::util::choice::Choice;

const CHECK: &str = r#"
import sys, json, h5py, numpy as np
f = h5py.File(sys.argv[1], "r")
a = f.attrs
assert a["format"] == "pixel-hnn/suite-frames" and int(a["format_version"]) == 1
T, S = int(a["trials"]), int(a["steps"])
fr = f["frames"]
assert fr.shape == (T, S, 32, 32, 3) and fr.dtype == np.uint8 and fr.chunks == (1, S, 32, 32, 3), (fr.shape, fr.dtype, fr.chunks)
frames = fr[...]
state, dx, q, p, e = (f[k][...] for k in ("state", "dx_dt", "q", "p", "energy"))
D = q.shape[-1]
assert state.shape == (T, S, 2 * D) and np.array_equal(state, np.concatenate([q, p], -1))
assert dx.shape == state.shape and e.shape == (T, S)
P = {k: f["params"][k][...] for k in a["param_names"].split(",")}
assert all(v.shape == (T,) for v in P.values())
fric = float(a["friction"])
preset = a["preset"]
if preset == "dm-pendulum":
    m, l, g = P["m"][:, None], P["l"][:, None], P["g"][:, None]
    H = m * g * l * (1 - np.cos(q[..., 0])) + p[..., 0] ** 2 / (2 * m * l ** 2)
    assert np.allclose(dx[..., 0], p[..., 0] / (m * l ** 2)) and np.allclose(dx[..., 1], -m * g * l * np.sin(q[..., 0]))
elif preset == "dm-two-body":
    m1, m2, g = P["m_1"][:, None], P["m_2"][:, None], P["g"][:, None]
    r = np.hypot(q[..., 0] - q[..., 2], q[..., 1] - q[..., 3])
    H = (p[..., 0] ** 2 + p[..., 1] ** 2) / (2 * m1) + (p[..., 2] ** 2 + p[..., 3] ** 2) / (2 * m2) - g * m1 * m2 / r
    lo, hi = float(a["canvas_min"]), float(a["canvas_max"])
    assert (q >= lo).all() and (q <= hi).all(), "every body stays in the canvas"
else:
    raise AssertionError(preset)
assert np.allclose(e, H, atol=1e-12), "energy is H"
drift = np.abs(e - e[:, :1]).max()
if fric == 0:
    assert drift < 1e-6, drift
else:
    assert (np.diff(e, axis=1) <= 1e-9).all() and (e[:, -1] < e[:, 0]).all(), "friction only takes energy out"
it = f["is_test"][...]
assert it.tolist() == [1] * int(a["test_trials"]) + [0] * (T - int(a["test_trials"]))
assert f["color_index"].shape[0] == T and f["offset"].shape == (T, 2)
cfg = json.loads(a["config_json"])
print(json.dumps({"sum": int(frames.astype(np.int64).sum()), "background": frames[0, 0, 31, 0].tolist(),
                  "colors": f["color_index"][...].tolist(), "offset": f["offset"][...].tolist(), "cfg": cfg}))
"#;

fn preset_args(name: &str) -> Vec<String> {
    ["--preset", name, "--trials", "5", "--test-trials", "2", "--steps", "12", "--seed", "3"].iter().map(|s| s.to_string()).collect()
}

#[test]
fn a_preset_dataset_reads_back_in_h5py_and_its_frames_are_its_states_drawn() {
    let dir = tempfile::tempdir().unwrap();
    for (name, extra) in [("dm-pendulum", vec!["--colors", "--friction", "0.05"]), ("dm-two-body", vec![])] {
        let out = dir.path().join(format!("{name}.h5"));
        let text = succeeds(bin().arg("generate").args(preset_args(name)).args(&extra).arg("--out").arg(&out).arg("--threads").arg("2"));
        assert!(text.contains("5 trajectories x 12 frames of 32x32 RGB (2 test trajectories)"), "{text}");
        let v = common::python_json(CHECK, &[out.as_os_str()]);
        // The same seed gives the same bytes; our loader's numbers re-render every frame.
        let again = dir.path().join("again.h5");
        succeeds(bin().arg("generate").args(preset_args(name)).args(&extra).arg("--out").arg(&again).arg("--threads").arg("1"));
        assert_eq!(common::read_bytes(&out), common::read_bytes(&again), "{name}: same seed, same file, whatever the threads");
        std::fs::remove_file(&again).unwrap();

        let system = *SuiteSystem::ALL.iter().find(|s| s.name() == name).unwrap();
        let suite = Suite { system, colors: !extra.is_empty(), friction: if extra.is_empty() { 0.0 } else { 0.05 } };
        assert_eq!(v["cfg"]["suite"]["colors"], suite.colors);
        let f = hdf5::File::open(&out).unwrap();
        let states = f.dataset("state").unwrap().read_raw::<f64>().unwrap();
        let frames = f.dataset("frames").unwrap().read_raw::<u8>().unwrap();
        let params: Vec<Vec<f64>> =
            suite.param_names().iter().map(|n| f.group("params").unwrap().dataset(n).unwrap().read_raw::<f64>().unwrap()).collect();
        let d = 2 * suite.dof();
        let mut frame = vec![0u8; 32 * 32 * 3];
        for trial in 0..5 {
            let draws = Draws {
                params: params.iter().map(|p| p[trial]).collect(),
                offset: [v["offset"][trial][0].as_f64().unwrap(), v["offset"][trial][1].as_f64().unwrap()],
                colors: v["colors"][trial].as_array().unwrap().iter().map(|c| c.as_u64().unwrap() as usize).collect(),
            };
            for step in [0, 11] {
                let z = &states[(trial * 12 + step) * d..][..d];
                suite.render(&draws, z, &mut frame);
                assert_eq!(&frames[(trial * 12 + step) * frame.len()..][..frame.len()], &frame[..], "{name} trial {trial} frame {step}");
            }
            let again = suite.simulate(&draws.params, &states[trial * 12 * d..][..d], 12).unwrap();
            assert_eq!(&states[trial * 12 * d..][..12 * d], &again[..], "{name}: the states are the simulator's");
        }
    }
}

#[test]
fn bad_preset_input_is_one_line_naming_the_flag_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x.h5");
    let run = |extra: &[&str]| {
        let mut c = bin();
        c.current_dir(dir.path()).arg("generate").args(extra).arg("--out").arg(&out);
        c
    };
    fails_cleanly(
        run(&["--preset", "dm-pendulum", "--friction", "0.05"]),
        "--friction: the suite has friction only in its colour datasets",
        dir.path(),
    );
    fails_cleanly(
        run(&["--preset", "dm-two-body", "--colors", "--friction", "0.05"]),
        "--friction: the suite has no two-body dataset",
        dir.path(),
    );
    fails_cleanly(run(&["--preset", "dm-pendulum", "--colors", "--friction", "-1"]), "--friction: must be a number >= 0", dir.path());
    fails_cleanly(
        run(&["--preset", "dm-pendulum", "--trials", "3", "--test-trials", "4"]),
        "--test-trials: 4 test trajectories of 3",
        dir.path(),
    );
    fails_cleanly(run(&["--preset", "dm-mass-spring", "--steps", "1"]), "--steps: must be at least 2", dir.path());
    // Flags of our own systems, and an unknown preset, are clap's errors (exit 2).
    for extra in [
        &["--preset", "dm-pendulum", "--side", "28"][..],
        &["--preset", "dm-pendulum", "--param", "g=3"],
        &["--preset", "dm-pendulum", "--system", "spring"],
        &["--colors"],
        &["--system", "pendulum", "--colors"],
        &["--system", "spring", "--friction", "0.05"],
        &["--system", "pendulum", "--test-trials", "3"],
        &["--preset", "dm-nope"],
    ] {
        let o = run(extra).output().unwrap();
        assert_eq!(o.status.code(), Some(2), "{extra:?}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.starts_with("error: "), "{extra:?}: {err}");
    }
    assert_eq!(common::listing(dir.path()), Vec::<String>::new());
}
