//! Seed ensembles through the real binary: a member is the single run of its seed, the
//! statistics across members, and bad --seeds.

use crate::common;
use crate::common::{bin, fails, fails_cleanly, read_bytes, read_json, succeeds};
use assert_cmd::Command;
use std::path::{Path, PathBuf};

fn dataset(dir: &Path, name: &str, trials: u32, steps: u32, side: u32) -> PathBuf {
    common::dataset_of(dir, name, (trials, steps, side), &[])
}

/// This file's training budget, then `extra`.
fn train(data: &Path, out: &Path, extra: &[&str]) -> Command {
    common::train_on_cpu(data, out, &[&["--steps", "120", "--batch", "32", "--eval-every", "40"], extra].concat())
}

const QUICK: [&str; 6] = ["--frames", "20", "--steps", "23", "--seeds", "1,2"];

#[test]
fn a_member_is_the_single_run_of_its_seed_and_the_ensemble_is_summarised() {
    let dir = tempfile::tempdir().unwrap();
    let data = dataset(dir.path(), "d.h5", 10, 24, 28);
    let ens = dir.path().join("ens");
    let said = succeeds(train(&data, &ens, &["--seeds", "0-2"]));
    assert!(said.contains("| hnn | 2 |") && said.contains("| baseline | 0 |"), "{said}");
    for seed in 0..3u64 {
        let single = dir.path().join(format!("single{seed}"));
        succeeds(train(&data, &single, &["--seed", &seed.to_string()]));
        let member = ens.join("members").join(format!("seed-{seed}"));
        for f in ["hnn.safetensors", "baseline.safetensors", "log-hnn.jsonl", "log-baseline.jsonl", "checkpoints/hnn.safetensors"] {
            assert!(read_bytes(member.join(f)) == read_bytes(single.join(f)), "seed {seed}: {f} differs from the single run's");
        }
        let (e, s) = (read_json(ens.join("final-losses.json")), read_json(single.join("final-losses.json")));
        let pick = |v: &serde_json::Value, model: &str| {
            v["models"].as_array().unwrap().iter().find(|m| m["model"] == model && m["seed"] == seed).cloned().unwrap()
        };
        for model in ["hnn", "baseline"] {
            assert_eq!(pick(&e, model)["test"], pick(&s, model)["test"], "seed {seed} {model}: final test loss");
        }
        // The final metrics of a member are the single run's, to the last digit.
        succeeds(bin().args(["evaluate", "--device", "cpu", "--run"]).arg(&single).args(QUICK));
        if seed == 0 {
            succeeds(bin().args(["evaluate", "--device", "cpu", "--run"]).arg(&ens).args(QUICK));
        }
        let (em, sm) = (read_json(ens.join("metrics.json")), read_json(single.join("metrics.json")));
        for model in ["hnn", "baseline"] {
            let (a, b) = (pick(&em, model), pick(&sm, model));
            for key in ["energy_mse", "pixel_mse", "valid_prediction_time", "energy_mse_seeds_mean"] {
                assert_eq!(a[key], b[key], "seed {seed} {model} {key}");
            }
        }
    }
    // Statistics across the members: intervals around each mean, the claim counted per seed.
    let m = read_json(ens.join("metrics.json"));
    assert_eq!(m["models"].as_array().unwrap().len(), 6, "a row per model and member");
    let e = &m["ensemble"];
    assert_eq!(e["seeds"], serde_json::json!([0, 1, 2]));
    for s in e["models"].as_array().unwrap() {
        let i = &s["energy_mse"];
        let (lo, mean, hi) = (i["lo"].as_f64().unwrap(), i["mean"].as_f64().unwrap(), i["hi"].as_f64().unwrap());
        assert!(lo <= mean && mean <= hi && i["n"] == 3, "{i}");
    }
    let claim = &e["claim"];
    assert_eq!(claim["pairs"], 3);
    let below = claim["hnn_below"].as_u64().unwrap();
    let counted = (0..3u64)
        .filter(|&s| {
            let get = |model: &str| {
                m["models"].as_array().unwrap().iter().find(|x| x["model"] == model && x["seed"] == s).unwrap()["energy_mse"]
                    .as_f64()
                    .unwrap()
            };
            get("hnn") < get("baseline")
        })
        .count() as u64;
    assert_eq!(below, counted);
    // table and rollout take the ensemble.
    let runs = dir.path().join("runs");
    std::fs::create_dir(&runs).unwrap();
    std::fs::rename(&ens, runs.join("ens")).unwrap();
    let ens = runs.join("ens");
    // The claim's count where every member's latent map holds (test R^2 >= 0.9); where not,
    // the energy is not shown and the row says so. Both, on this ensemble's metrics with
    // every map's test R^2 set to 0.95, then one member's to 0.41.
    let original = std::fs::read(ens.join("metrics.json")).unwrap();
    let with_r2 = |worst: f64| {
        let mut m = m.clone();
        for (i, x) in m["models"].as_array_mut().unwrap().iter_mut().enumerate() {
            for r in x["map"]["r2_test"].as_array_mut().unwrap() {
                *r = serde_json::json!(if i == 0 { worst } else { 0.95 });
            }
        }
        std::fs::write(ens.join("metrics.json"), serde_json::to_vec(&m).unwrap()).unwrap();
        succeeds(bin().args(["table", "--runs"]).arg(&runs))
    };
    let table = with_r2(0.95);
    assert!(table.contains(&format!(", {below}/3 |")) && !table.contains("n/a (map R^2"), "{table}");
    let table = with_r2(0.41);
    assert!(table.contains("| n/a (map R^2 0.41) |") && !table.contains(&format!(", {below}/3 |")), "{table}");
    std::fs::write(ens.join("metrics.json"), original).unwrap();
    let said = succeeds(bin().args(["rollout", "--device", "cpu", "--run"]).arg(&ens).args(QUICK));
    assert!(said.contains("hnn seed 2:"), "{said}");
    let rolled = read_json(ens.join("rollout/rollout.json"));
    assert_eq!(rolled["models"].as_array().unwrap().len(), 6);
    image::open(ens.join("rollout/energy.png")).unwrap();
    image::open(ens.join("loss-curve.png")).unwrap();
}

#[test]
fn bad_seeds_are_named_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let data = dataset(dir.path(), "d.h5", 10, 24, 28);
    let out = dir.path().join("run");
    for (seeds, says) in
        [("", "--seeds: ''"), ("5-2", "reversed"), ("a", "'a' is not a seed"), ("0-1024", "at most 1024"), ("1,1", "seed 1 twice")]
    {
        fails_cleanly(train(&data, &out, &["--seeds", seeds]), says, dir.path());
    }
    // Too many members for the memory there is: 128 x 128 frames, 1024 members.
    let big = dataset(dir.path(), "big.h5", 6, 12, 128);
    fails_cleanly(train(&big, &out, &["--seeds", "0-1023"]), "--seeds: 1024 members need about", dir.path());
    // Resuming with other seeds than the run has.
    succeeds(
        bin()
            .args(["train", "--device", "cpu", "--batch", "32", "--seeds", "0-2", "--model", "hnn", "--steps", "5", "--data"])
            .arg(&data)
            .arg("--out")
            .arg(&out),
    );
    fails(
        bin().args(["train", "--device", "cpu", "--resume", "--seeds", "0,1,5", "--steps", "9", "--out"]).arg(&out),
        "--seeds: the run's members are seeds 0-2",
    );
}
