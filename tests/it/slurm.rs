//! Sweeps through a real Slurm cluster: `scripts/slurm-local up` starts a one-node one on
//! this machine and `scripts/test` runs these with its SLURM_CONF. Plain `cargo test` lists
//! them as ignored: they need the cluster.

use crate::common::{bin, fails_cleanly, listing, plan_sweep, read_json as json, succeeds, TINY_SWEEP};
use std::path::Path;

fn cluster() {
    let conf = std::env::var("SLURM_CONF").unwrap_or_default();
    assert!(
        !conf.is_empty() && Path::new(&conf).exists(),
        "these tests need a Slurm cluster: run `scripts/slurm-local up` and export the SLURM_CONF it prints (scripts/test does)"
    );
}

/// The sweep's table without its first lines (which name the sweep).
fn table_body(sweep: &Path) -> String {
    let t = succeeds(bin().args(["sweep", "table"]).arg(sweep));
    t.split_once("\n## ").map(|(_, rest)| rest.split("\nwrote ").next().unwrap().to_string()).unwrap()
}

#[test]
#[ignore = "needs a Slurm cluster (scripts/slurm-local up); scripts/test runs it"]
fn a_sweep_through_sbatch_gives_the_local_sweeps_table() {
    cluster();
    let dir = tempfile::tempdir().unwrap();
    let local = plan_sweep(dir.path(), TINY_SWEEP, "local");
    let slurm = plan_sweep(dir.path(), TINY_SWEEP, "slurm");
    succeeds(bin().args(["sweep", "run", "--jobs", "2"]).arg(&local));
    let said = succeeds(
        bin()
            .args([
                "sweep",
                "run",
                "--executor",
                "slurm",
                "--partition",
                "debug",
                "--cpus-per-task",
                "1",
                "--mem",
                "1G",
                "--time",
                "00:10:00",
                "--wait",
            ])
            .arg(&slurm),
    );
    assert!(said.contains("submitted job ") && said.contains("an array of 8 tasks (0-7)") && said.contains("8 done"), "{said}");
    let script = std::fs::read_to_string(slurm.join("slurm/array-0.sbatch")).unwrap();
    for line in ["#SBATCH --array=0-7", "#SBATCH --cpus-per-task=1", "#SBATCH --mem=1G", "#SBATCH --partition=debug", "--open-mode=append"]
    {
        assert!(script.contains(line), "{line} missing:\n{script}");
    }
    // Every point ran as a Slurm task, and gave exactly what it gave locally.
    for i in 0..8 {
        let st = json(slurm.join(format!("points/{i:04}/state.json")));
        assert!(st["slurm_job"].as_str().is_some_and(|j| j.ends_with(&format!("_{i}"))), "point {i}: {st}");
        assert_eq!(st["members"], json(local.join(format!("points/{i:04}/state.json")))["members"], "point {i}");
    }
    assert_eq!(table_body(&slurm), table_body(&local));
    let status = succeeds(bin().args(["sweep", "status"]).arg(&slurm));
    assert!(status.contains("8 done"), "{status}");

    // A partition the cluster lacks: refused before anything is submitted.
    let before = listing(&slurm.join("slurm"));
    std::fs::remove_file(slurm.join("points/0004/state.json")).unwrap();
    fails_cleanly(
        bin().args(["sweep", "run", "--executor", "slurm", "--partition", "nosuch"]).arg(&slurm),
        "--partition: the cluster has no partition 'nosuch'; it has debug",
        dir.path(),
    );
    assert_eq!(listing(&slurm.join("slurm")), before);
}

#[test]
#[ignore = "needs a Slurm cluster (scripts/slurm-local up); scripts/test runs it"]
fn a_killed_array_task_loses_only_its_point_and_is_resubmitted_alone() {
    cluster();
    let dir = tempfile::tempdir().unwrap();
    let text = TINY_SWEEP.replace("system = [\"pendulum\", \"spring\"]", "system = [\"spring\"]").replace("steps = 30\n", "steps = 400\n");
    let sweep = plan_sweep(dir.path(), &text, "killed");
    let said = succeeds(bin().args(["sweep", "run", "--executor", "slurm", "--cpus-per-task", "1", "--mem", "1G"]).arg(&sweep));
    let job = said.split("submitted job ").nth(1).unwrap().split(':').next().unwrap().to_string();
    // Kill task 2, queued or running.
    let out = std::process::Command::new("scancel").arg(format!("{job}_2")).output().unwrap();
    assert!(out.status.success(), "scancel: {}", String::from_utf8_lossy(&out.stderr));
    // Wait for the others.
    let waited = std::time::Instant::now();
    let status = loop {
        let s = succeeds(bin().args(["sweep", "status"]).arg(&sweep));
        if !s.contains("| running |") && !s.contains("| queued |") {
            break s;
        }
        assert!(waited.elapsed().as_secs() < 600, "the sweep did not finish in 10 minutes:\n{s}");
        std::thread::sleep(std::time::Duration::from_secs(2));
    };
    let row = status.lines().find(|l| l.starts_with("| 2 |")).unwrap();
    assert!(row.contains("| failed |") && row.contains(&format!("Slurm job {job}_2")) && row.contains("points/0002/log.txt"), "{row}");
    assert!(status.contains("3 done, 1 failed"), "{status}");

    // Run again: one task, point 2's.
    let said = succeeds(bin().args(["sweep", "run", "--executor", "slurm", "--cpus-per-task", "1", "--mem", "1G", "--wait"]).arg(&sweep));
    assert!(said.contains("an array of 1 tasks (2)") && said.contains("4 done"), "{said}");
    let subs = json(sweep.join("slurm/submissions.json"));
    assert_eq!(subs.as_array().unwrap().len(), 2);
    assert_eq!(subs[1]["indices"], serde_json::json!([2]));
    assert!(std::fs::read_to_string(sweep.join("slurm/array-1.sbatch")).unwrap().contains("#SBATCH --array=2\n"));
    assert!(succeeds(bin().args(["sweep", "table"]).arg(&sweep)).contains("HNN (2 seeds)"));
}
