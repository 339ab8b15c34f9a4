//! Any model's predicted frames scored against the true ones, on plain slices (no tensors):
//! what `pixel-hnn score` and `evaluate`'s protocol (c) compute, and what the Python module
//! hands out as `pixel_hnn.score`. Frames are consecutive blocks of `pixels` values (grey or
//! RGB alike: `side * side * channels`).
//!
//! Two valid prediction times, both on `MSE / mean(truth^2)` against a threshold:
//! - **ours**: counted from the first predicted frame, forward only, each trial's count the
//!   index of its first frame past the threshold ([`crate::symetric::vpt`]), summarised by
//!   the median and mean over trials;
//! - **the benchmark's** ([`BenchmarkVpt`]), as DeepMind's `physics_inspired_models`
//!   (`jaxline_train.py`, `_eval_batch_vpt` and `_reconstruct_and_align`) counts it: only
//!   after the training window (the first `window` frames of a trajectory are not counted),
//!   the median over trajectories, and for a model that can run backwards the mean of the
//!   forward median and the backward one. Its backward count runs as that code runs it, in
//!   chronological order over the frames before the last `window`: the number of frames
//!   from the trajectory's **first** frame (the far end of the backward rollout) before one
//!   fails. For a rollout that degrades with distance that is nearly all or nothing; it is
//!   what the benchmark's tables report, so it is kept, and named.

use serde::{Deserialize, Serialize};

use crate::latent_map::LatentMap;
use crate::stats::quartiles;
use crate::symetric::{self, normalised_mse};

/// The benchmark's and the reference's threshold on `MSE / mean(truth^2)`.
pub const VPT_THRESHOLD: f64 = 0.025;

/// Training and test points SyMetric's map is fitted and scored on, at most: every k-th
/// sample (order 5 in 8 dimensions has 1,287 monomials).
pub const SYMETRIC_TRAIN_POINTS: usize = 4000;
pub const SYMETRIC_TEST_POINTS: usize = 2000;

/// The median of the values (numpy's).
pub fn median(v: &[f64]) -> f64 {
    quartiles(v).1
}

/// The MSE of each frame of `pred` against `truth` (consecutive frames of `pixels`).
pub fn frame_mse(pred: &[f32], truth: &[f32], pixels: usize) -> Vec<f64> {
    pred.chunks(pixels)
        .zip(truth.chunks(pixels))
        .map(|(p, t)| t.iter().zip(p).map(|(a, b)| ((a - b) as f64).powi(2)).sum::<f64>() / pixels as f64)
        .collect()
}

/// SyMetric of the latents against the labels, on evenly spaced subsets.
pub fn symetric_of(train_z: &[Vec<f64>], train_s: &[Vec<f64>], test_z: &[Vec<f64>], test_s: &[Vec<f64>]) -> symetric::Symetric {
    let every = |v: &[Vec<f64>], most: usize| -> Vec<Vec<f64>> {
        let k = v.len().div_ceil(most).max(1);
        v.iter().step_by(k).cloned().collect()
    };
    symetric::symetric(
        &every(train_z, SYMETRIC_TRAIN_POINTS),
        &every(train_s, SYMETRIC_TRAIN_POINTS),
        &every(test_z, SYMETRIC_TEST_POINTS),
        &every(test_s, SYMETRIC_TEST_POINTS),
        symetric::MAX_ORDER,
    )
}

/// The true trajectories predictions are scored against.
#[derive(Clone, Copy, Debug)]
pub struct Truth<'a> {
    /// `[trials, steps, pixels]`.
    pub frames: &'a [f32],
    pub steps: usize,
    /// Values a frame (`side * side * channels`).
    pub pixels: usize,
    /// The `(q, p)` of every frame, `[trials, steps, dim]`, and `dim`: what latents are
    /// scored against.
    pub labels: Option<(&'a [f64], usize)>,
    /// Each trial's index in its dataset (for the report), `[trials]`.
    pub trial_ids: &'a [usize],
}

/// One model's predictions of the true trajectories.
#[derive(Clone, Copy, Debug)]
pub struct Forecast<'a> {
    /// True frames the model was given; its first prediction is frame `context`.
    pub context: usize,
    /// Frames predicted a trial: `frames` is `[trials, predicted, pixels]`.
    pub predicted: usize,
    pub frames: &'a [f32],
    /// The latent of each predicted frame: its size and `[trials, predicted, size]`.
    pub latents: Option<(usize, &'a [f64])>,
    /// Backward predictions, given the last `context` frames of each trial: row `j` is frame
    /// `steps - 1 - context - j`, `[trials, backward_predicted, pixels]`.
    pub backward: Option<(usize, &'a [f32])>,
}

/// How the predictions are counted.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ScoreSettings {
    pub threshold: f64,
    /// The benchmark's training window: frames of a trajectory not counted by its VPT
    /// (`None`: the context, so that its forward count is ours).
    pub window: Option<usize>,
}

impl Default for ScoreSettings {
    fn default() -> Self {
        ScoreSettings { threshold: VPT_THRESHOLD, window: None }
    }
}

/// One test trial's scores.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrialScore {
    /// The trial's index in the dataset.
    pub trial: usize,
    pub valid_prediction_time: usize,
    /// Mean over the horizon of the per-frame pixel MSE.
    pub pixel_mse: f64,
    pub pixel_mse_per_frame: Vec<f64>,
}

/// The latent-map figures of predictions that carry latents.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LatentScores {
    /// The affine map to `(q, p)` fitted on the first half of the trials, its R^2 there
    /// (`r2_train`) and on the other half (`r2_test`).
    pub map: LatentMap,
    /// SyMetric fitted and tested on the same halves. Read leniently: a non-finite figure is
    /// written as `null` by JSON.
    #[serde(default, deserialize_with = "lenient")]
    pub symetric: Option<symetric::Symetric>,
}

/// `Some` value where it reads, `None` where it does not.
pub fn lenient<'de, D: serde::Deserializer<'de>, T: serde::de::DeserializeOwned>(d: D) -> std::result::Result<Option<T>, D::Error> {
    let v = <serde_json::Value as Deserialize>::deserialize(d)?;
    Ok(serde_json::from_value(v).ok())
}

/// The valid prediction time as DeepMind's benchmark counts it (see the module's docs).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BenchmarkVpt {
    /// Frames of each trajectory inside the training window, not counted.
    pub window: usize,
    /// Frames counted in each direction (the benchmark's `seq_length`).
    pub length: usize,
    /// Each trial's forward count: frames from `window` before one fails.
    pub forward: Vec<usize>,
    pub forward_median: f64,
    /// Each trial's backward count (chronological from the trajectory's first frame, over
    /// frames `0 .. steps - window`), where backward predictions were given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backward: Option<Vec<usize>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backward_median: Option<f64>,
    /// The benchmark's `vpt_abs`: the forward median, or its mean with the backward median.
    pub vpt: f64,
    /// Its `vpt_rel`: `vpt / length`.
    pub vpt_relative: f64,
}

/// Every test trial's scores, and their summaries.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrialScores {
    pub context: usize,
    /// Frames predicted a trial.
    #[serde(rename = "horizon")]
    pub predicted: usize,
    /// The valid prediction time's threshold on MSE / mean(truth^2).
    pub vpt_threshold: f64,
    pub trials: Vec<TrialScore>,
    pub valid_prediction_time_median: f64,
    pub valid_prediction_time_mean: f64,
    /// Mean over the trials and the horizon.
    pub pixel_mse: f64,
    /// Mean over the trials, frame by frame (index `j`: frame `context + j`).
    pub pixel_mse_per_frame: Vec<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latent: Option<LatentScores>,
    /// The benchmark's count of the same predictions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub benchmark_vpt: Option<BenchmarkVpt>,
}

/// Why predictions cannot be scored against the truth: the message says what does not fit.
#[derive(Clone, Debug, PartialEq)]
pub struct Misfit(pub String);

impl std::fmt::Display for Misfit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl TrialScores {
    /// Scores `forecast` against `truth`, after checking that they fit.
    pub fn of(truth: &Truth, forecast: &Forecast, settings: ScoreSettings) -> Result<Self, Misfit> {
        check_fits(truth, forecast, settings)?;
        let (px, steps) = (truth.pixels, truth.steps);
        let (ctx, h) = (forecast.context, forecast.predicted);
        let n = truth.trial_ids.len();
        let frames_of = |i: usize, from: usize, to: usize| &truth.frames[(i * steps + from) * px..(i * steps + to) * px];
        let trials: Vec<TrialScore> = (0..n)
            .map(|i| {
                let gt = frames_of(i, ctx, ctx + h);
                let pred = &forecast.frames[i * h * px..(i + 1) * h * px];
                let per_frame = frame_mse(pred, gt, px);
                TrialScore {
                    trial: truth.trial_ids[i],
                    valid_prediction_time: symetric::vpt(pred, gt, px, settings.threshold),
                    pixel_mse: per_frame.iter().sum::<f64>() / h as f64,
                    pixel_mse_per_frame: per_frame,
                }
            })
            .collect();
        let nf = n as f64;
        let vpts: Vec<f64> = trials.iter().map(|t| t.valid_prediction_time as f64).collect();
        let pixel_mse_per_frame = (0..h).map(|j| trials.iter().map(|t| t.pixel_mse_per_frame[j]).sum::<f64>() / nf).collect();
        let latent = match (forecast.latents, truth.labels) {
            (Some((d, z)), Some((labels, l))) => {
                let (mut zs, mut ls) = (Vec::with_capacity(n * h), Vec::with_capacity(n * h));
                for i in 0..n {
                    for j in 0..h {
                        zs.push(z[(i * h + j) * d..(i * h + j + 1) * d].to_vec());
                        let f = i * steps + ctx + j;
                        ls.push(labels[f * l..(f + 1) * l].to_vec());
                    }
                }
                // The first half of the trials fits, the rest tests (one trial: itself).
                let cut = if n > 1 { n.div_ceil(2) * h } else { zs.len() };
                let (fit_z, test_z) = if cut < zs.len() { zs.split_at(cut) } else { (&zs[..], &zs[..]) };
                let (fit_s, test_s) = if cut < ls.len() { ls.split_at(cut) } else { (&ls[..], &ls[..]) };
                Some(LatentScores {
                    map: LatentMap::fit_lstsq(fit_z, fit_s, test_z, test_s),
                    symetric: Some(symetric_of(fit_z, fit_s, test_z, test_s)),
                })
            }
            _ => None,
        };
        let benchmark_vpt = Some(BenchmarkVpt::of(truth, forecast, settings));
        Ok(TrialScores {
            context: ctx,
            predicted: h,
            vpt_threshold: settings.threshold,
            valid_prediction_time_median: median(&vpts),
            valid_prediction_time_mean: vpts.iter().sum::<f64>() / nf,
            pixel_mse: trials.iter().map(|t| t.pixel_mse).sum::<f64>() / nf,
            pixel_mse_per_frame,
            trials,
            latent,
            benchmark_vpt,
        })
    }

    /// The worst test R^2 of the latent map, where latents were given.
    pub fn worst_r2(&self) -> Option<f64> {
        self.latent.as_ref().map(|l| l.map.worst_r2())
    }
}

impl BenchmarkVpt {
    /// The benchmark's count of predictions that fit the truth (checked by
    /// [`TrialScores::of`]).
    fn of(truth: &Truth, forecast: &Forecast, settings: ScoreSettings) -> Self {
        let (px, steps, ctx, h) = (truth.pixels, truth.steps, forecast.context, forecast.predicted);
        let window = settings.window.unwrap_or(ctx);
        let n = truth.trial_ids.len();
        let first_failure = |errors: Vec<f64>| symetric::first_failure(&errors, settings.threshold);
        // Forward: frames window .. ctx + h, in order.
        let forward: Vec<usize> = (0..n)
            .map(|i| {
                let pred = &forecast.frames[(i * h + window - ctx) * px..(i + 1) * h * px];
                let gt = &truth.frames[(i * steps + window) * px..(i * steps + ctx + h) * px];
                first_failure(normalised_mse(pred, gt, px))
            })
            .collect();
        let length = ctx + h - window;
        // Backward: frames 0 .. steps - window, chronologically; frame f is row steps-1-ctx-f.
        let backward: Option<Vec<usize>> = forecast.backward.map(|(bh, rows)| {
            let counted = steps - window;
            (0..n)
                .map(|i| {
                    let pred: Vec<f32> = (0..counted)
                        .flat_map(|f| {
                            let j = steps - 1 - ctx - f;
                            rows[(i * bh + j) * px..(i * bh + j + 1) * px].iter().copied()
                        })
                        .collect();
                    let gt = &truth.frames[i * steps * px..(i * steps + counted) * px];
                    first_failure(normalised_mse(&pred, gt, px))
                })
                .collect()
        });
        let med = |v: &[usize]| median(&v.iter().map(|&x| x as f64).collect::<Vec<_>>());
        let forward_median = med(&forward);
        let backward_median = backward.as_deref().map(med);
        let vpt = backward_median.map_or(forward_median, |b| (forward_median + b) / 2.0);
        BenchmarkVpt { window, length, forward, forward_median, backward, backward_median, vpt, vpt_relative: vpt / length as f64 }
    }
}

/// Where the first non-finite value of frames `[trials, h, px]` is, in words ("NaN at trial
/// 0, predicted frame 3"; `None` when all are finite).
pub fn non_finite(frames: &[f32], h: usize, px: usize) -> Option<String> {
    let i = frames.iter().position(|v| !v.is_finite())?;
    Some(format!("{} at trial {}, predicted frame {}", frames[i], i / (h * px).max(1), (i / px.max(1)) % h.max(1)))
}

/// Checks that a model's predictions handed in from outside are all finite, as a
/// predictions file must be. (`evaluate`'s own rollouts are scored as they come: a frame
/// that is not finite fails the valid prediction time there.)
pub fn check_finite(f: &Forecast, pixels: usize) -> Result<(), Misfit> {
    if let Some(at) = non_finite(f.frames, f.predicted, pixels) {
        return Err(Misfit(format!("the predictions hold {at}")));
    }
    if let Some((bh, rows)) = f.backward {
        if let Some(at) = non_finite(rows, bh, pixels) {
            return Err(Misfit(format!("the backward predictions hold {at}")));
        }
    }
    Ok(())
}

/// Checks that `forecast` can be scored against `truth` under `settings`.
pub fn check_fits(truth: &Truth, f: &Forecast, settings: ScoreSettings) -> Result<(), Misfit> {
    let bad = |m: String| Err(Misfit(m));
    let (n, px, steps) = (truth.trial_ids.len(), truth.pixels, truth.steps);
    if n == 0 || px == 0 || steps == 0 {
        return bad("there are no true frames to score against".into());
    }
    if truth.frames.len() != n * steps * px {
        return bad(format!("the true frames hold {} values, not {n} trials x {steps} frames x {px}", truth.frames.len()));
    }
    if f.context < 1 || f.predicted < 1 {
        return bad(format!("context {} and horizon {} must both be at least 1", f.context, f.predicted));
    }
    if f.context + f.predicted > steps {
        return bad(format!(
            "predicts frames {} .. {} (context {} + horizon {}); the trials have {steps} frames",
            f.context,
            f.context + f.predicted - 1,
            f.context,
            f.predicted
        ));
    }
    if f.frames.len() != n * f.predicted * px {
        return bad(format!("the predictions hold {} values, not {n} trials x {} frames x {px}", f.frames.len(), f.predicted));
    }
    if let (Some((d, z)), Some(_)) = (f.latents, truth.labels) {
        if d == 0 || z.len() != n * f.predicted * d {
            return bad(format!("the latents hold {} values, not {n} trials x {} frames x {d}", z.len(), f.predicted));
        }
    }
    if let Some((l, dim)) = truth.labels {
        if dim == 0 || l.len() != n * steps * dim {
            return bad(format!("the labels hold {} values, not {n} trials x {steps} frames x {dim}", l.len()));
        }
    }
    let window = settings.window.unwrap_or(f.context);
    if window < f.context || window >= f.context + f.predicted {
        return bad(format!(
            "the benchmark's window of {window} frames must be at least the context ({}) and leave a predicted frame (below {})",
            f.context,
            f.context + f.predicted
        ));
    }
    if let Some((bh, rows)) = f.backward {
        if rows.len() != n * bh * px {
            return bad(format!("the backward predictions hold {} values, not {n} trials x {bh} frames x {px}", rows.len()));
        }
        if f.context + f.predicted != steps {
            return bad(format!(
                "backward predictions need forward ones to the trials' last frame (horizon {}, not {}), so that both counts span as many frames",
                steps - f.context,
                f.predicted
            ));
        }
        if bh != steps - f.context {
            return bad(format!(
                "the backward predictions have {bh} frames; given the last {} of {steps}, they run back to frame 0: {}",
                f.context,
                steps - f.context
            ));
        }
    }
    if !(settings.threshold.is_finite() && settings.threshold > 0.0) {
        return bad(format!("the threshold must be a positive number (got {})", settings.threshold));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two trials of 10 frames of 4 values, frame `f` all `0.05 (f + 1)`.
    fn truth_frames() -> Vec<f32> {
        (0..2).flat_map(|_| (0..10).flat_map(|f| vec![0.05 * (f + 1) as f32; 4])).collect()
    }

    /// `frames` with frame `f` of trial `i` (of `per` frames) spoiled: far past any threshold.
    fn spoil(mut frames: Vec<f32>, per: usize, at: &[(usize, usize)]) -> Vec<f32> {
        for &(i, f) in at {
            frames[(i * per + f) * 4..(i * per + f + 1) * 4].iter_mut().for_each(|v| *v += 1.0);
        }
        frames
    }

    #[test]
    fn ours_and_the_benchmarks_vpt_count_constructed_frames_as_each_defines_them() {
        let gt = truth_frames();
        let ids = [3, 7];
        let truth = Truth { frames: &gt, steps: 10, pixels: 4, labels: None, trial_ids: &ids };
        // Given frames 0, 1; predicted 2 .. 9 exactly but for trial 0's frame 5 and trial 1's frame 8.
        let fwd: Vec<f32> = (0..2).flat_map(|i| gt[(i * 10 + 2) * 4..(i * 10 + 10) * 4].to_vec()).collect();
        let fwd = spoil(fwd, 8, &[(0, 5 - 2), (1, 8 - 2)]);
        // Backward from frames 8, 9: row j is frame 7 - j; trial 0's frame 1 spoiled.
        let g = &gt;
        let bwd: Vec<f32> =
            (0..2).flat_map(|i| (0..8).rev().flat_map(move |f| g[(i * 10 + f) * 4..(i * 10 + f + 1) * 4].to_vec())).collect();
        let bwd = spoil(bwd, 8, &[(0, 7 - 1)]);
        let f = Forecast { context: 2, predicted: 8, frames: &fwd, latents: None, backward: Some((8, &bwd)) };
        let s = TrialScores::of(&truth, &f, ScoreSettings { threshold: 0.025, window: Some(4) }).unwrap();
        // Ours: from frame 2, the first failing frame's index.
        assert_eq!(s.trials.iter().map(|t| (t.trial, t.valid_prediction_time)).collect::<Vec<_>>(), [(3, 3), (7, 6)]);
        assert_eq!((s.valid_prediction_time_median, s.valid_prediction_time_mean), (4.5, 4.5));
        let b = s.benchmark_vpt.unwrap();
        // Theirs: forward over frames 4 .. 9 (trial 0 fails at frame 5, trial 1 at 8).
        assert_eq!((b.window, b.length, b.forward.clone(), b.forward_median), (4, 6, vec![1, 4], 2.5));
        // Backward over frames 0 .. 5, chronologically: trial 0 fails at frame 1, trial 1 never.
        assert_eq!((b.backward.clone(), b.backward_median), (Some(vec![1, 6]), Some(3.5)));
        assert_eq!((b.vpt, b.vpt_relative), (3.0, 0.5));
        // Without a window the forward count starts where ours does; without backward
        // predictions (a map) the figure is the forward median alone.
        let f1 = Forecast { backward: None, ..f };
        let b1 = TrialScores::of(&truth, &f1, ScoreSettings::default()).unwrap().benchmark_vpt.unwrap();
        assert_eq!((b1.forward.clone(), b1.vpt, b1.length), (vec![3, 6], 4.5, 8));
        // Perfect predictions: every frame counts, in both directions.
        let exact: Vec<f32> = (0..2).flat_map(|i| gt[(i * 10 + 2) * 4..(i * 10 + 10) * 4].to_vec()).collect();
        let p = TrialScores::of(&truth, &Forecast { frames: &exact, backward: None, ..f }, ScoreSettings::default()).unwrap();
        assert_eq!((p.valid_prediction_time_median, p.pixel_mse), (8.0, 0.0));
    }

    #[test]
    fn predictions_that_do_not_fit_are_named() {
        let gt = truth_frames();
        let ids = [0, 1];
        let truth = Truth { frames: &gt, steps: 10, pixels: 4, labels: None, trial_ids: &ids };
        let short = vec![0.0f32; 2 * 7 * 4];
        let f = Forecast { context: 2, predicted: 8, frames: &short, latents: None, backward: None };
        let e = TrialScores::of(&truth, &f, ScoreSettings::default()).unwrap_err().0;
        assert!(e.starts_with("the predictions hold 56 values"), "{e}");
        let ok = vec![0.0f32; 2 * 8 * 4];
        let f = Forecast { frames: &ok, ..f };
        let e = TrialScores::of(&truth, &f, ScoreSettings { window: Some(1), ..Default::default() }).unwrap_err().0;
        assert!(e.contains("window of 1 frames"), "{e}");
        let e = TrialScores::of(&truth, &Forecast { backward: Some((5, &ok[..40])), ..f }, ScoreSettings::default()).unwrap_err().0;
        assert!(e.contains("backward predictions have 5 frames"), "{e}");
        let e = TrialScores::of(&truth, &Forecast { predicted: 9, frames: &vec![0.0; 72], ..f }, ScoreSettings::default()).unwrap_err().0;
        assert!(e.starts_with("predicts frames 2 .. 10"), "{e}");
        // Backward predictions beside a short forward horizon: the two counts would span
        // different frames (a relative VPT over 1).
        let (fwd5, bwd) = (vec![0.0f32; 2 * 5 * 4], vec![0.0f32; 2 * 8 * 4]);
        let short = Forecast { predicted: 5, frames: &fwd5, backward: Some((8, &bwd)), ..f };
        let e = TrialScores::of(&truth, &short, ScoreSettings::default()).unwrap_err().0;
        assert!(e.starts_with("backward predictions need forward ones to the trials' last frame (horizon 8, not 5)"), "{e}");
        // Outside predictions must be finite; where they are not, the trial and frame are named.
        let mut blown = ok.clone();
        blown[(8 + 3) * 4 + 1] = f32::NAN;
        assert_eq!(
            check_finite(&Forecast { frames: &blown, ..f }, 4).unwrap_err().0,
            "the predictions hold NaN at trial 1, predicted frame 3"
        );
        let back = Forecast { backward: Some((8, &blown)), ..f };
        assert_eq!(check_finite(&back, 4).unwrap_err().0, "the backward predictions hold NaN at trial 1, predicted frame 3");
        assert!(check_finite(&f, 4).is_ok());
    }
}
