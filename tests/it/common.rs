// Shared helpers for the integration tests: the real binary, failure checks, files.
#![allow(dead_code)]
use assert_cmd::Command;
use std::borrow::BorrowMut;
use std::path::{Path, PathBuf};

/// The `pixel-hnn` binary of this build.
pub fn bin() -> Command {
    Command::cargo_bin("pixel-hnn").unwrap()
}

/// A dataset `name` in `dir`: `trials` x `steps` frames of `side` px, with `extra` generate
/// flags (`--system spring`; the pendulum without).
pub fn dataset_of(dir: &Path, name: &str, (trials, steps, side): (u32, u32, u32), extra: &[&str]) -> PathBuf {
    let path = dir.join(name);
    let n = |v: u32| v.to_string();
    bin()
        .args(["generate", "--trials", &n(trials), "--steps", &n(steps), "--side", &n(side), "--out"])
        .arg(&path)
        .args(extra)
        .assert()
        .success();
    path
}

/// A small pendulum dataset of `side` px in `dir`: 10 trials x 20 frames (8 training trials).
pub fn small_dataset(dir: &Path, side: u32) -> PathBuf {
    dataset_of(dir, &format!("d{side}.h5"), (10, 20, side), &[])
}

/// `train` from `data` into `out` with `extra`: on the CPU, the test loss every 50 steps,
/// unless `extra` says otherwise.
pub fn train_on_cpu(data: &Path, out: &Path, extra: &[&str]) -> Command {
    let mut c = bin();
    c.args(["train", "--data"]).arg(data).arg("--out").arg(out).args(extra);
    for (flag, default) in [("--device", "cpu"), ("--eval-every", "50")] {
        if !extra.contains(&flag) {
            c.args([flag, default]);
        }
    }
    c
}

/// A file's bytes, naming the file when it cannot be read.
pub fn read_bytes(p: impl AsRef<Path>) -> Vec<u8> {
    std::fs::read(p.as_ref()).unwrap_or_else(|e| panic!("{}: {e}", p.as_ref().display()))
}

/// Plans the sweep `text` (written to `dir/NAME.toml`) into `dir/sweeps/NAME`.
pub fn plan_sweep(dir: &Path, text: &str, name: &str) -> PathBuf {
    let toml = dir.join(format!("{name}.toml"));
    std::fs::write(&toml, text).unwrap();
    let out = dir.join("sweeps").join(name);
    let said = succeeds(bin().args(["sweep", "plan"]).arg(&toml).arg("--out").arg(&out));
    assert!(said.starts_with("planned "), "{said}");
    out
}

pub fn shared(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared").join(rel)
}

pub fn venv_python() -> PathBuf {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python");
    assert!(p.exists(), "{} is missing: run scripts/setup", p.display());
    p
}

pub fn read_json(path: impl AsRef<Path>) -> serde_json::Value {
    let path = path.as_ref();
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

/// Runs a command that must succeed; returns its stdout.
pub fn succeeds(mut cmd: impl BorrowMut<Command>) -> String {
    let out = cmd.borrow_mut().output().unwrap();
    assert!(out.status.success(), "failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs a command that must fail: exit 1, its last stderr line `error: ...` containing
/// `needle`. Returns stderr.
pub fn fails(mut cmd: impl BorrowMut<Command>, needle: &str) -> String {
    let out = cmd.borrow_mut().output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    let last = stderr.trim().lines().last().unwrap_or("");
    assert!(last.starts_with("error: ") && last.contains(needle), "'{needle}' not in: {stderr}");
    stderr
}

/// Like [`fails`], and the error is the only line on stderr, and `dir` holds exactly the
/// files it held before.
pub fn fails_cleanly(cmd: impl BorrowMut<Command>, needle: &str, dir: &Path) {
    let before = listing(dir);
    let stderr = fails(cmd, needle);
    assert_eq!(stderr.trim().lines().count(), 1, "one line expected: {stderr}");
    assert_eq!(listing(dir), before, "files changed in {}", dir.display());
}

/// The names in a folder, sorted.
pub fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    v.sort();
    v
}

/// 2 systems x 2 models x 2 seeds on tiny data: 8 points, 2 datasets.
pub const TINY_SWEEP: &str = r#"
name = "tiny"
[grid]
system = ["pendulum", "spring"]
model = ["hnn", "baseline"]
seed = [0, 1]
[dataset]
trials = 6
steps = 16
[train]
steps = 30
batch = 20
eval_every = 10
checkpoint_every = 10
[evaluate]
frames = 10
seeds = [1, 2]
"#;

/// Runs `script` with the project venv's Python (arguments `args`) and parses what it
/// prints as JSON.
pub fn python_json(script: &str, args: &[&std::ffi::OsStr]) -> serde_json::Value {
    let out = std::process::Command::new(venv_python()).arg("-c").arg(script).args(args).output().unwrap();
    assert!(out.status.success(), "python failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("python printed no JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)))
}

/// Every TensorBoard event file under `dir`, as TensorBoard's own event reader reads it
/// (`tests/python/read_events.py`): `{folder: {tag: [[step, value], ...]}}`.
pub fn read_events(dir: &Path) -> serde_json::Value {
    let reader = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/python/read_events.py");
    let out = std::process::Command::new(venv_python()).arg(&reader).arg(dir).output().unwrap();
    assert!(out.status.success(), "the event reader failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Checks that the TensorBoard events of a training log (`log-{model}.jsonl` at `log`) hold
/// every line's values, as float32: `folder` is the events' folder as [`read_events`] names it.
pub fn assert_events_match_log(events: &serde_json::Value, folder: &str, log: &Path) {
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(log).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(!lines.is_empty(), "{} is empty", log.display());
    let tags = &events[folder];
    assert!(tags.is_object(), "no events in {folder}: {events}");
    for (key, tag) in [("loss", "loss/train"), ("test_loss", "loss/test"), ("ae", "terms/ae"), ("hnn", "terms/hnn"), ("roll", "terms/roll")]
    {
        let want: Vec<(u64, f64)> = lines.iter().filter_map(|l| Some((l["step"].as_u64().unwrap(), l.get(key)?.as_f64()?))).collect();
        let got: Vec<(u64, f64)> = tags
            .get(tag)
            .and_then(|v| v.as_array())
            .map(|v| v.iter().map(|p| (p[0].as_u64().unwrap(), p[1].as_f64().unwrap())).collect())
            .unwrap_or_default();
        assert_eq!(got.len(), want.len(), "{folder} {tag}: {} events for {} log lines", got.len(), want.len());
        for ((gs, gv), (ws, wv)) in got.iter().zip(&want) {
            assert_eq!(gs, ws, "{folder} {tag}: steps");
            assert_eq!(*gv, *wv as f32 as f64, "{folder} {tag} at step {ws}: event {gv}, log {wv}");
        }
    }
}

/// Checks a `rollout` folder: `rollout.json` draws every family, each one's first frame and
/// the truth's open as pictures, and so does each of `files`.
pub fn every_family_drawn(pics: &Path, files: &[&str]) {
    use pixel_hnn::model::FieldKind;
    use pixel_hnn::util::choice::Choice;
    let rolled = read_json(pics.join("rollout.json"));
    let drawn: std::collections::BTreeSet<&str> =
        rolled["models"].as_array().unwrap().iter().map(|m| m["model"].as_str().unwrap()).collect();
    assert_eq!(drawn, FieldKind::ALL.iter().map(|k| k.name()).collect(), "every family");
    for name in std::iter::once("truth").chain(FieldKind::ALL.iter().map(|k| k.name())) {
        image::open(pics.join("frames").join(name).join("0000.png")).unwrap_or_else(|e| panic!("{name}'s first frame: {e}"));
    }
    for file in files {
        image::open(pics.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
    }
}
