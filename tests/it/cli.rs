//! The real binary, end to end: generate, preview, determinism, and bad input.

use crate::common::{bin, fails_cleanly as fails, listing};
use std::path::Path;

const SMALL: [&str; 4] = ["--trials", "4", "--steps", "12"];

fn generate(out: &Path, extra: &[&str]) -> assert_cmd::assert::Assert {
    bin().args(["generate", "--out"]).arg(out).args(SMALL).args(extra).assert()
}

#[test]
fn generate_then_preview_writes_a_dataset_and_a_viewable_png() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("p.h5");
    let said = String::from_utf8_lossy(&generate(&data, &[]).success().get_output().stdout).into_owned();
    assert!(said.contains("4 trials x 12 frames"), "{said}");
    let sheet = dir.path().join("sheet.png");
    bin().args(["preview", "--data"]).arg(&data).arg("--out").arg(&sheet).args(["--trials", "3", "--scale", "2"]).assert().success();
    let img = image::open(&sheet).unwrap().to_luma8();
    // 3 trials x 3 frames (steps 0, 4, 8 of 12) of 56 px with 2 px gaps.
    assert_eq!((img.width(), img.height()), (3 * 58 + 2, 3 * 58 + 2));
    let dark = img.pixels().filter(|p| p.0[0] < 64).count();
    assert!(dark > 9 * 100, "the rods should show: {dark} dark pixels");
    assert_eq!(listing(dir.path()), vec!["p.h5", "sheet.png"]);
}

#[test]
fn same_seed_same_bytes_other_seed_other_data() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, c) = (dir.path().join("a.h5"), dir.path().join("b.h5"), dir.path().join("c.h5"));
    generate(&a, &["--threads", "1"]).success();
    generate(&b, &["--threads", "2"]).success();
    generate(&c, &["--seed", "1"]).success();
    let (ba, bb) = (std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    assert!(ba == bb, "same seed gave different files");
    let (da, dc) = (pixel_hnn::dataset::PixelDataset::open(&a).unwrap(), pixel_hnn::dataset::PixelDataset::open(&c).unwrap());
    assert_ne!(da.states, dc.states);
    assert_ne!(da.frames, dc.frames);
}

#[test]
fn existing_output_needs_force() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("d.h5");
    generate(&out, &[]).success();
    let before = std::fs::read(&out).unwrap();
    fails(bin().args(["generate", "--out"]).arg(&out).args(SMALL).args(["--seed", "5"]), "--force", dir.path());
    assert_eq!(std::fs::read(&out).unwrap(), before);
    generate(&out, &["--seed", "5", "--force"]).success();
    assert_ne!(std::fs::read(&out).unwrap(), before);
}

#[test]
fn bad_settings_fail_naming_the_flag_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x.h5");
    let cases: &[(&[&str], &str)] = &[
        (&["--trials", "0"], "--trials"),
        (&["--steps", "3"], "--steps"),
        (&["--side", "4"], "--side"),
        (&["--side", "0"], "--side"),
        (&["--supersample", "0"], "--supersample"),
        (&["--min-angle", "0.6", "--max-angle", "0.5"], "--min/--max: the initial deflection window (0.6, 0.5) admits no state"),
        (&["--max", "4"], "--min/--max"),
        (&["--param", "g=-1"], "--param: g must be a positive number"),
        (&["--param", "mass=1"], "--param: the pendulum has no parameter 'mass'; it has g, m, l, dt, max_speed, thdot_max"),
        (&["--param", "g"], "--param: 'g' is not NAME=VALUE"),
        (&["--system", "spring", "--param", "mass=-0.5"], "--param: mass must be a positive number"),
        (&["--system", "spring", "--thdot-max", "2"], "--thdot-max"),
        (&["--system", "two-body", "--min", "1.5", "--max", "0.5"], "--min/--max: the initial body-1 x and y window"),
        (&["--system", "double-pendulum", "--max", "4"], "--min/--max: the initial angle window"),
        (&["--test-fraction", "1.5"], "--test-fraction"),
        (&["--window=0.5,-0.5,-1,0"], "--window"),
        (&["--threads", "0"], "--threads"),
        (&["--trials", "100000", "--side", "256"], "GiB"),
    ];
    for (args, needle) in cases {
        fails(bin().args(["generate", "--out"]).arg(&out).args(*args), needle, dir.path());
    }
    // Negative sizes are refused by the parser, naming the flag (clap's own message, exit 2).
    let o = bin().args(["generate", "--out"]).arg(&out).args(["--trials", "-3"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--trials"));
    // An unknown system: the parser lists the known ones.
    let o = bin().args(["generate", "--out"]).arg(&out).args(["--system", "triple-pendulum"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    let said = String::from_utf8_lossy(&o.stderr);
    assert!(said.contains("[possible values: pendulum, spring, two-body, double-pendulum]"), "{said}");
    assert!(listing(dir.path()).is_empty());
}

#[test]
fn unusable_output_paths_are_named() {
    let dir = tempfile::tempdir().unwrap();
    fails(bin().args(["generate", "--out"]).arg(dir.path().join("no/such/dir/x.h5")), "does not exist", dir.path());
    fails(bin().args(["generate", "--out"]).arg(dir.path()), "is a folder", dir.path());
    // /proc refuses new files even to root.
    fails(bin().args(["generate", "--out", "/proc/pixel-hnn-test.h5"]), "cannot write in /proc", dir.path());
}

#[test]
fn bad_datasets_are_named_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.h5");
    generate(&good, &[]).success();
    let text = dir.path().join("notes.h5");
    std::fs::write(&text, "not hdf5 at all\n").unwrap();
    let truncated = dir.path().join("truncated.h5");
    let bytes = std::fs::read(&good).unwrap();
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let foreign = dir.path().join("foreign.h5");
    {
        // Unlocked, as the tool writes: a child spawned by another test meanwhile would
        // inherit HDF5's lock and keep `preview` from opening the file.
        let f = hdf5::File::with_options().with_fapl(|p| p.file_locking(false)).create(&foreign).unwrap();
        f.new_dataset::<f32>().shape([3]).create("frames").unwrap();
    }
    let sheet = dir.path().join("s.png");
    let cases = [
        (dir.path().join("missing.h5"), "no such file"),
        (text, "not a readable HDF5 file"),
        (truncated, "truncated.h5"),
        (foreign, "not a pixel-hnn dataset"),
    ];
    for (data, needle) in cases {
        fails(bin().args(["preview", "--data"]).arg(&data).arg("--out").arg(&sheet), needle, dir.path());
        fails(bin().args(["preview", "--data"]).arg(&data).arg("--out").arg(&sheet), &data.display().to_string(), dir.path());
    }
}

#[test]
fn an_interrupted_run_leaves_nothing_at_out() {
    // Killed while its file is being written (its temporary is there): nothing is at --out,
    // and the only thing left is the temporary, named for the process.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("big.h5");
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("pixel-hnn"))
        .args(["generate", "--out"])
        .arg(&out)
        .args(["--trials", "400", "--side", "64", "--threads", "1"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let partial = format!(".big.h5.{}.partial", child.id());
    let started = std::time::Instant::now();
    while !dir.path().join(&partial).exists() {
        assert!(child.try_wait().unwrap().is_none(), "generate ended before its temporary was seen: {:?}", listing(dir.path()));
        assert!(started.elapsed().as_secs() < 300, "no temporary after 300 s");
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(!out.exists(), "a half-written file at --out");
    assert_eq!(listing(dir.path()), vec![partial]);
}
