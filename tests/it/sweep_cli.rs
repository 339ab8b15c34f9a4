//! Sweeps through the real binary on this machine: plan, the local executor, status,
//! recovery of a failed point, the table; and their bad input. (The Slurm executor's
//! tests, against a real one-node cluster, are in `slurm.rs`.)

use crate::common;
use crate::common::{bin, fails_cleanly, listing, plan_sweep, read_json as json, succeeds, TINY_SWEEP as TINY};

#[test]
fn a_local_sweep_runs_every_point_recovers_a_failure_and_tabulates() {
    let dir = tempfile::tempdir().unwrap();
    let sweep = plan_sweep(dir.path(), TINY, "tiny");
    let status = succeeds(bin().args(["sweep", "status"]).arg(&sweep));
    assert!(status.contains("| 7 | system = spring, model = baseline, seed = 1 | pending |") && status.contains("8 pending"), "{status}");

    // Point 3's run folder is corrupt before it starts: it fails, the others do not.
    let bad = sweep.join("points/0003/run");
    std::fs::create_dir_all(&bad).unwrap();
    std::fs::write(bad.join("config.json"), "{ not json").unwrap();
    let out = bin().args(["sweep", "run", "--jobs", "2"]).arg(&sweep).output().unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(said.contains("point 3: failed") && said.matches(": done").count() == 7, "{said}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("1 of 8 points failed"));
    let status = succeeds(bin().args(["sweep", "status"]).arg(&sweep));
    let row = status.lines().find(|l| l.starts_with("| 3 |")).unwrap();
    assert!(row.contains("| failed |") && row.contains("config.json") && row.contains("points/0003/log.txt"), "{row}");
    assert!(status.contains("7 done, 1 failed"), "{status}");
    // Each dataset was generated once, and shared.
    assert_eq!(listing(&sweep.join("datasets")).iter().filter(|f| f.ends_with(".h5")).count(), 2);

    // Run again: only point 3 runs.
    std::fs::remove_dir_all(&bad).unwrap();
    let before: Vec<_> = (0..8).map(|i| std::fs::read(sweep.join(format!("points/{i:04}/state.json"))).unwrap()).collect();
    let said = succeeds(bin().args(["sweep", "run"]).arg(&sweep));
    assert!(said.contains("point 3: done") && said.contains("ran 1 points"), "{said}");
    for (i, b) in before.iter().enumerate().filter(|(i, _)| *i != 3) {
        assert_eq!(&std::fs::read(sweep.join(format!("points/{i:04}/state.json"))).unwrap(), b, "point {i} ran again");
    }
    assert!(succeeds(bin().args(["sweep", "run"]).arg(&sweep)).starts_with("nothing to run: 8 done"));

    // The table: one section per system, seeds counted, and the point's run folder is an
    // ordinary run folder.
    let table = succeeds(bin().args(["sweep", "table"]).arg(&sweep));
    for needle in ["## pixel pendulum", "## pixel spring", "baseline (2 seeds)", "HNN (2 seeds)", "| test loss |", "8 points: 8 done"] {
        assert!(table.contains(needle), "{needle}: {table}");
    }
    assert_eq!(std::fs::read_to_string(sweep.join("table.md")).unwrap(), table.split("\nwrote ").next().unwrap());
    // The same aggregates as data: pandas reads the CSV and finds every figure of the
    // Markdown's cells (mean [lo, hi]); the JSON holds the same rows.
    let csv = dir.path().join("sweep.csv");
    std::fs::write(&csv, succeeds(bin().args(["sweep", "table", "--format", "csv"]).arg(&sweep))).unwrap();
    let rows = common::python_json(
        "import sys, pandas as pd\nprint(pd.read_csv(sys.argv[1], keep_default_na=False).to_json(orient='records'))",
        &[csv.as_os_str()],
    );
    let rows = rows.as_array().unwrap();
    // 2 systems x 2 models x at least train and test loss, pixel MSE, valid prediction time.
    assert!(rows.len() >= 2 * 2 * 4, "{rows:?}");
    let fmt = |figure: &str, v: f64| if figure.contains("valid prediction time") { format!("{v:.1}") } else { format!("{v:.3e}") };
    for r in rows {
        let figure = r["figure"].as_str().unwrap();
        let (mean, lo, hi) = (r["mean"].as_f64().unwrap(), r["lo"].as_f64().unwrap(), r["hi"].as_f64().unwrap());
        let cell = format!("{} [{}, {}]", fmt(figure, mean), fmt(figure, lo), fmt(figure, hi));
        let section = table.split("## ").find(|s| s.starts_with(&format!("pixel {}\n", r["system"].as_str().unwrap()))).unwrap();
        let line = section.lines().find(|l| l.starts_with(&format!("| {figure} |"))).unwrap();
        assert!(line.contains(&cell), "{cell} not in {line}");
        assert_eq!(r["members"], 2);
    }
    // The page of the CSV: a table a system with the same cells, and a chart a system.
    let page = succeeds(bin().args(["sweep", "page"]).arg(&csv));
    for r in rows {
        let figure = r["figure"].as_str().unwrap();
        let (mean, lo, hi) = (r["mean"].as_f64().unwrap(), r["lo"].as_f64().unwrap(), r["hi"].as_f64().unwrap());
        let cell = format!("{} [{}, {}] (2)", fmt(figure, mean), fmt(figure, lo), fmt(figure, hi));
        let section = page.split("#### ").find(|s| s.starts_with(&format!("{}\n", r["system"].as_str().unwrap()))).unwrap();
        assert!(section.lines().any(|l| l.starts_with(&format!("| {figure} |")) && l.contains(&cell)), "{cell}: {section}");
    }
    let out = dir.path().join("page/study.md");
    std::fs::create_dir_all(out.parent().unwrap()).unwrap();
    succeeds(bin().args(["sweep", "page"]).arg(&csv).arg("--out").arg(&out));
    assert_eq!(std::fs::read_to_string(&out).unwrap(), page);
    for system in ["pendulum", "spring"] {
        let png = image::open(dir.path().join(format!("page/{system}-vpt.png"))).unwrap();
        assert_eq!((png.width(), png.height()), (800, 500));
    }
    let as_json = succeeds(bin().args(["sweep", "table", "--format", "json"]).arg(&sweep));
    assert_eq!(serde_json::from_str::<serde_json::Value>(&as_json).unwrap().as_array().unwrap().len(), rows.len());
    // Every model's predictions of the test trials are a row; another model's, scored on
    // the pendulum's dataset, stands beside the pendulum's groups only.
    assert!(table.contains("| valid prediction time on the test trials (frames, median over the trials) |"), "{table}");
    let pendulum_data = sweep.join("datasets/pendulum-0.h5");
    let still = dir.path().join("still.h5");
    common::python_json(
        "import sys, json, h5py, numpy as np\nd = h5py.File(sys.argv[1])\nt = d['frames'][...][np.flatnonzero(d['is_test'][...])]\nf = h5py.File(sys.argv[2], 'w')\nf['frames'] = np.repeat(t[:, 1:2], t.shape[1] - 2, axis=1)\nf.attrs['format'], f.attrs['format_version'], f.attrs['context'], f.attrs['model'] = 'pixel-hnn/predictions', 1, 2, 'still'\nf.close()\nprint('{}')",
        &[pendulum_data.as_os_str(), still.as_os_str()],
    );
    let scores = dir.path().join("scores");
    succeeds(bin().args(["score", "--data"]).arg(&pendulum_data).arg("--predictions").arg(&still).arg("--out").arg(scores.join("still")));
    let with = succeeds(bin().args(["sweep", "table"]).arg(&sweep).arg("--scores").arg(&scores));
    let sections: Vec<&str> = with.split("## ").collect();
    let pendulum = sections.iter().find(|s| s.starts_with("pixel pendulum\n")).unwrap();
    let spring = sections.iter().find(|s| s.starts_with("pixel spring\n")).unwrap();
    assert!(pendulum.lines().any(|l| l.starts_with("| still | ")), "{with}");
    assert!(!spring.contains("| still |"), "{with}");
    let records = succeeds(bin().args(["sweep", "table", "--format", "csv", "--scores"]).arg(&scores).arg(&sweep));
    assert_eq!(records.lines().filter(|l| l.starts_with("pendulum,,still,")).count(), 2, "{records}");
    image::open(sweep.join("energy-ratio.png")).unwrap();
    let m = json(sweep.join("points/0002/run/metrics.json"));
    assert_eq!(m["models"][0]["seed"], 0);
    assert_eq!(m["models"][0]["model"], "baseline");
    // The point ran with the plan's settings.
    let cfg = json(sweep.join("points/0005/run/config.json"));
    assert_eq!(cfg["train"]["steps"], 30);
    assert_eq!(cfg["train"]["seeds"], serde_json::json!([1]));
    assert_eq!(cfg["dataset"]["config"]["system"]["kind"], "spring");
}

#[test]
fn a_point_gives_the_same_figures_whoever_runs_it() {
    // The same point run by the local executor and directly (as a Slurm task runs it), with
    // other thread counts: identical metrics.
    let dir = tempfile::tempdir().unwrap();
    let one = "[grid]\nsystem = [\"spring\"]\n[dataset]\ntrials = 6\nsteps = 16\n[train]\nsteps = 20\nbatch = 20\n[evaluate]\nframes = 10\nseeds = [1]\n";
    let a = plan_sweep(dir.path(), one, "a");
    let b = plan_sweep(dir.path(), one, "b");
    succeeds(bin().args(["sweep", "run", "--threads", "2"]).arg(&a));
    succeeds(bin().args(["sweep", "point"]).arg(&b).args(["--index", "0", "--threads", "1", "--device", "cpu"]));
    let (ma, mb) = (json(a.join("points/0000/run/metrics.json")), json(b.join("points/0000/run/metrics.json")));
    assert_eq!(ma["models"], mb["models"]);
    let (sa, sb) = (json(a.join("points/0000/state.json")), json(b.join("points/0000/state.json")));
    assert_eq!(sa["members"], sb["members"]);
}

#[test]
fn bad_sweep_input_is_one_line_and_starts_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let cases: &[(&str, &str)] = &[
        ("[grid]\nsystem = [\"pendulum\"]\ncolour = [\"red\"]\n", "unknown axis 'colour' in [grid]"),
        ("[grid]\nseed = []\n", "axis 'seed' in [grid] is empty"),
        ("[train]\nsteps = 10\nmomentum = 0.9\n", "unknown key 'momentum' in [train]"),
        ("[gird]\nseed = [1]\n", "line 1: unknown field `gird`"),
        ("[grid]\nsystem = [\"spring\", \"pendulum\"]\n\"train.lr\" = [0.001, -1]\n", "point 1 (system = spring, train.lr = -1): --lr"),
        ("[by_system.moon]\nsteps = 3\n", "[by_system.moon]: 'moon' is not one of pendulum"),
        ("[by_system.spring]\nmomentum = 3\n", "unknown key 'momentum' in [by_system.spring]"),
        ("[grid]\nsystem = [\"spring\"]\n[by_system.spring]\nsubsteps = 0\n", "point 0 (system = spring): --substeps"),
        ("[train]\npreset = \"paper\"\nhorizon = 8\n", "--horizon: contradicts --preset paper"),
    ];
    for (text, needle) in cases {
        let toml = p.join("bad.toml");
        std::fs::write(&toml, text).unwrap();
        fails_cleanly(bin().args(["sweep", "plan"]).arg(&toml).arg("--out").arg(p.join("s")), needle, p);
    }
    // An existing sweep folder needs --force.
    let toml = p.join("ok.toml");
    std::fs::write(&toml, "[grid]\nseed = [0]\n").unwrap();
    succeeds(bin().args(["sweep", "plan"]).arg(&toml).arg("--out").arg(p.join("s")));
    let manifest = std::fs::read(p.join("s/manifest.json")).unwrap();
    fails_cleanly(bin().args(["sweep", "plan"]).arg(&toml).arg("--out").arg(p.join("s")), "already exists; pass --force", p);
    assert_eq!(std::fs::read(p.join("s/manifest.json")).unwrap(), manifest);
    // Slurm without sbatch on the PATH: nothing submitted, nothing written.
    let before = listing(&p.join("s/slurm"));
    fails_cleanly(
        bin().args(["sweep", "run", "--executor", "slurm"]).arg(p.join("s")).env("PATH", "/nonexistent"),
        "--executor: slurm needs sbatch, which is not on the PATH",
        p,
    );
    assert_eq!(listing(&p.join("s/slurm")), before);
    assert!(!p.join("s/points/0000/state.json").exists());
    // One runner a point: while another process holds the point, `sweep point` leaves it.
    let held = pixel_hnn::sweep::point::lock(&p.join("s/points/0000/.lock"), false).unwrap().expect("free");
    fails_cleanly(bin().args(["sweep", "point"]).arg(p.join("s")).args(["--index", "0"]), "point 0 is being run by another runner", p);
    assert!(!p.join("s/points/0000/state.json").exists());
    drop(held);
    // A Slurm submission that squeue cannot tell about (no squeue here): unknown, not
    // failed, and not run again.
    let subs = serde_json::json!([{"job_id": "777", "indices": [0], "submitted": 1.0, "script": "slurm/x.sbatch"}]);
    std::fs::write(p.join("s/slurm/submissions.json"), subs.to_string()).unwrap();
    let status = succeeds(bin().args(["sweep", "status"]).arg(p.join("s")).env("PATH", "/nonexistent"));
    assert!(status.contains("| unknown | squeue did not answer about Slurm job 777_0") && status.contains("1 unknown"), "{status}");
    let said = succeeds(bin().args(["sweep", "run"]).arg(p.join("s")).env("PATH", "/nonexistent"));
    assert!(said.starts_with("nothing to run: 1 unknown"), "{said}");
    std::fs::remove_file(p.join("s/slurm/submissions.json")).unwrap();
    // Not a sweep folder.
    fails_cleanly(bin().args(["sweep", "status"]).arg(p), "is not a sweep folder", p);
    fails_cleanly(bin().args(["sweep", "point"]).arg(p.join("s")).args(["--index", "5"]), "--index: the sweep has points 0-0", p);
}

#[test]
fn a_systems_own_settings_reach_its_points_only_and_an_axis_wins_over_them() {
    let dir = tempfile::tempdir().unwrap();
    let text = "[grid]\nsystem = [\"pendulum\", \"spring\"]\n\"train.batch\" = [16, 32]\n[train]\npreset = \"study\"\nsteps = 5\n[by_system.spring]\nsubsteps = 3\nsteps = 7\nbatch = 8\n";
    let sweep = plan_sweep(dir.path(), text, "by-system");
    let m = json(sweep.join("manifest.json"));
    for p in m["points"].as_array().unwrap() {
        let t = &p["train"];
        let spring = p["coords"][0][1] == "spring";
        assert_eq!(t["steps"], if spring { 7 } else { 5 }, "{p}");
        assert_eq!(t["field"]["substeps"], if spring { 3 } else { 1 }, "{p}");
        assert_eq!(t["batch"], p["coords"][1][1], "the axis wins: {p}");
        assert_eq!(t["field"]["net"]["layers"], 3, "the preset reaches every point: {p}");
    }
}

#[test]
fn the_committed_study_page_is_what_sweep_page_makes_of_the_committed_csv() {
    // results/study.csv is `sweep table sweeps/study --format csv` of the study's run;
    // results/study.md, which the guide shows, must be its page, unedited.
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("results");
    let page = succeeds(bin().args(["sweep", "page"]).arg(root.join("study.csv")));
    assert_eq!(
        std::fs::read_to_string(root.join("study.md")).unwrap(),
        page,
        "regenerate results/study.md with `pixel-hnn sweep page results/study.csv --out results/study.md`"
    );
    for line in page.lines().filter(|l| l.starts_with("![")) {
        let file = line.rsplit_once('(').unwrap().1.trim_end_matches(')');
        image::open(root.join(file)).unwrap_or_else(|e| panic!("results/{file}: {e}"));
    }
}
