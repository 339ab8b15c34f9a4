//! Models that see several frames through the real binary: the convolutional encoder and
//! decoder with every family of issue 16 and HGN train as ensembles, resume, are scored under
//! both protocols and drawn; the architecture's bad settings are named.

use crate::common;
use crate::common::{bin, fails_cleanly, read_json, small_dataset as dataset, succeeds, train_on_cpu as train};
use pixel_hnn::model::FieldKind;
use pixel_hnn::util::choice::Choice;

#[test]
fn hgn_alone_is_built_on_convolutions_over_five_frames_with_the_benchmarks_loss() {
    let dir = tempfile::tempdir().unwrap();
    let data = dataset(dir.path(), 16);
    let run = dir.path().join("run");
    succeeds(train(&data, &run, &["--model", "hgn", "--horizon", "2", "--batch", "4", "--steps", "3"]));
    let cfg = read_json(run.join("config.json"));
    let arch = &cfg["train"]["arch"];
    assert_eq!(
        (arch["encoder"].as_str(), arch["decoder"].as_str(), arch["context"].as_u64()),
        (Some("conv"), Some("conv"), Some(5)),
        "{cfg}"
    );
    let loss = &cfg["train"]["loss"];
    assert_eq!((loss["cc"].as_f64(), loss["hnn"].as_f64(), loss["roll"].as_f64()), (Some(0.0), Some(0.0), Some(1.0)), "{cfg}");
    assert_eq!(cfg["model"]["arch"], *arch, "the model is built as the training asked");
    // A family list that disagrees keeps the paper's autoencoder unless one is named.
    let both = dir.path().join("both");
    succeeds(train(&data, &both, &["--model", "hgn,hnn", "--steps", "2", "--batch", "4"]));
    assert_eq!(read_json(both.join("config.json"))["train"]["arch"]["encoder"], "mlp-pair");
}

#[test]
fn every_family_takes_the_convolutions_trains_as_an_ensemble_resumes_and_is_scored() {
    let dir = tempfile::tempdir().unwrap();
    let data = dataset(dir.path(), 16);
    let run = dir.path().join("run");
    let args = ["--model", "all", "--encoder", "conv", "--context", "3", "--latent", "4", "--channels", "4"];
    let args = [&args[..], &["--seeds", "0-1", "--horizon", "2", "--batch", "4"]].concat();
    succeeds(train(&data, &run, &[&args[..], &["--steps", "4", "--checkpoint-every", "2"]].concat()));
    let cfg = read_json(run.join("config.json"));
    assert_eq!((cfg["model"]["latent_dim"].as_u64(), cfg["model"]["arch"]["context"].as_u64()), (Some(4), Some(3)), "{cfg}");
    succeeds(train(&data, &run, &[&args[..], &["--steps", "6", "--resume"]].concat()));
    for (encoder, context, latent, says) in [
        ("mlp-pair", "2", "4", "train.arch.encoder: conv -> mlp-pair"),
        ("conv", "4", "4", "train.arch.context: 3 -> 4"),
        ("conv", "3", "6", "train.arch.latent: 4 -> 6"),
    ] {
        let a = ["--model", "all", "--encoder", encoder, "--context", context, "--latent", latent, "--channels", "4"];
        let a = [&a[..], &["--seeds", "0-1", "--horizon", "2", "--batch", "4", "--steps", "8", "--resume"]].concat();
        fails_cleanly(train(&data, &run, &a), says, &run);
    }
    let said =
        succeeds(bin().args(["evaluate", "--device", "cpu", "--frames", "10", "--steps", "13", "--seeds", "1,2", "--run"]).arg(&run));
    assert!(said.contains("hgn") && said.contains("SyMetric"), "{said}");
    let m = read_json(run.join("metrics.json"));
    let models = m["models"].as_array().unwrap();
    assert_eq!(models.len(), 2 * FieldKind::ALL.len(), "every family x 2 seeds");
    for x in models {
        let a = &x["as_trained"];
        assert_eq!(a["trajectories"].as_array().unwrap().len(), 2);
        for t in a["trajectories"].as_array().unwrap() {
            assert_eq!(t["pixel_mse_per_frame"].as_array().unwrap().len(), 10, "one frame per latent, from the conv decoder");
            assert!(t["pixel_mse"].as_f64().is_some_and(f64::is_finite), "{t}");
        }
    }
    let pics = dir.path().join("pics");
    let said = succeeds(
        bin()
            .args(["rollout", "--device", "cpu", "--as-trained", "--frames", "10", "--steps", "13", "--run"])
            .arg(&run)
            .arg("--out")
            .arg(&pics),
    );
    assert!(said.contains("hgn seed 0"), "{said}");
    common::every_family_drawn(&pics, &["comparison.gif", "sheet.png", "energy.png"]);
}

#[test]
fn bad_architectures_are_named_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let data = dataset(dir.path(), 16);
    let run = dir.path().join("run");
    for (data, args, says) in [
        (&data, vec!["--encoder", "conv", "--context", "18", "--horizon", "2"], "--context: a context of 18 frames and a rollout of 2 need windows of 20 frames, longer than the dataset's trajectories of 20 frames allow (at most 19)"),
        (&data, vec!["--latent", "1"], "--latent: must be even (q and p halves) and at least 2 x dof = 2 for this system (got 1)"),
        (&data, vec!["--context", "3"], "--context: the mlp-pair encoder reads a pair of frames (2), not 3; use --encoder conv"),
        (&data, vec!["--encoder", "conv", "--channels", "0"], "--channels: must be between 1 and 512"),
        (&data, vec!["--model", "hgn", "--horizon", "3"], "--batch: 200 exceeds the 96 training windows of 8 frames (5 of context, 3 predicted)"),
    ] {
        fails_cleanly(train(data, &run, &args), says, dir.path());
    }
    let out = train(&data, &run, &["--encoder", "resnet"]).output().unwrap();
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("possible values: mlp-pair, conv"));
    assert!(!run.exists());
}
