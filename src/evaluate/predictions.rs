//! Predictions of any model on a dataset's test trials, and their scores: the file any
//! model (pixel-hnn's or anyone's) hands `pixel-hnn score`, and the figures both `score` and
//! `evaluate` compute from it (schema: `datasets/README.md`, "Predictions files").
//!
//! Given the first `context` true frames `f_0 .. f_{context-1}` of each test trial, a model
//! predicts the next `horizon` frames: row `j` of a trial's predictions is frame
//! `context + j`. Scored frame by frame against the dataset: the pixel MSE of each frame, its
//! mean over the horizon, and the valid prediction time (the first frame whose MSE over the
//! true frame's mean square exceeds the threshold, as `evaluate`). Latents of the predicted
//! frames, where given, add the latent-map figures: the affine map to `(q, p)` fitted on the
//! first half of the trials and its R^2 on the other half, and SyMetric on the same split.

use hdf5::types::{FixedAscii, VarLenAscii, VarLenUnicode};
use hdf5::File;
use serde::{Deserialize, Serialize};
use std::path::Path;
use tch::Tensor;

use super::{frame_mse, median, symetric, symetric_of, LatentMap, MapFit, Rollout};
use crate::dataset::{PixelDataset, Split};
use crate::error::{Error, Result};
use crate::integrate::Integrator;
use crate::model::Model;
use crate::util::output::PendingFile;

/// The `format` attribute of a predictions file.
pub const FORMAT: &str = "pixel-hnn/predictions";
pub const FORMAT_VERSION: u32 = 1;

/// One model's predicted frames for every test trial of a dataset.
#[derive(Clone, Debug, PartialEq)]
pub struct Predictions {
    /// What tables call the model (`model` attribute); `None`: the file's name.
    pub model: Option<String>,
    /// True frames the model was given; the first prediction is frame `context`.
    pub context: usize,
    pub trials: usize,
    /// Frames predicted a trial (the file's `horizon` axis).
    pub predicted: usize,
    pub side: usize,
    /// `[trials, horizon, side * side]`.
    pub frames: Vec<f32>,
    /// The latent of each predicted frame: its size and `[trials, horizon, size]`.
    pub latents: Option<(usize, Vec<f64>)>,
    /// The SHA-256 of the dataset file the predictions are for (`dataset_sha256`).
    pub dataset_sha256: Option<String>,
}

/// Reads a text attribute however h5py or another writer stored it.
fn text_attr(file: &File, name: &str) -> Option<String> {
    let a = file.attr(name).ok()?;
    a.read_scalar::<VarLenUnicode>()
        .map(|s| s.as_str().to_string())
        .or_else(|_| a.read_scalar::<VarLenAscii>().map(|s| s.as_str().to_string()))
        .or_else(|_| a.read_scalar::<FixedAscii<256>>().map(|s| s.as_str().to_string()))
        .ok()
}

impl Predictions {
    /// Reads and checks a predictions file on its own (its fit to a dataset:
    /// [`Predictions::check_fits`]); every error names the file.
    pub fn read(path: &Path) -> Result<Self> {
        let bad = |msg: String| Error::input(path, msg);
        if !path.exists() {
            return Err(bad("no such file".into()));
        }
        let file = File::open(path).map_err(|e| bad(format!("is not a readable HDF5 file ({e})")))?;
        match text_attr(&file, "format") {
            Some(f) if f == FORMAT => {}
            Some(f) => return Err(bad(format!("is a '{f}' file, not a predictions file ('{FORMAT}')"))),
            None => return Err(bad(format!("has no 'format' attribute: a predictions file has format = '{FORMAT}'"))),
        }
        let version: i64 = file
            .attr("format_version")
            .and_then(|a| a.read_scalar())
            .map_err(|_| bad("has no integer 'format_version' attribute".into()))?;
        if version != FORMAT_VERSION as i64 {
            return Err(bad(format!("has predictions format version {version}; this build reads version {FORMAT_VERSION}")));
        }
        let context: i64 = file
            .attr("context")
            .and_then(|a| a.read_scalar())
            .map_err(|_| bad("has no integer 'context' attribute (the true frames the model was given)".into()))?;
        if context < 1 {
            return Err(bad(format!("has context = {context}; a model is given at least 1 true frame")));
        }
        let ds = file.dataset("frames").map_err(|_| bad("lacks the 'frames' dataset ([trials, horizon, side, side], float32)".into()))?;
        let shape = ds.shape();
        let [trials, horizon, side, side2] = shape[..] else {
            return Err(bad(format!("'frames' has shape {shape:?}; expected [trials, horizon, side, side]")));
        };
        if side != side2 || trials == 0 || horizon == 0 || side == 0 {
            return Err(bad(format!("'frames' has shape {shape:?}; expected [trials, horizon, side, side], none of them 0")));
        }
        let frames: Vec<f32> = ds.read_raw().map_err(|e| bad(format!("'frames' cannot be read as float32 ({e})")))?;
        if let Some(i) = frames.iter().position(|v| !v.is_finite()) {
            let px = side * side;
            return Err(bad(format!(
                "'frames' holds {} at trial {}, predicted frame {}",
                frames[i],
                i / (horizon * px),
                (i / px) % horizon
            )));
        }
        let latents = match file.dataset("latents") {
            Err(_) => None,
            Ok(l) => {
                let s = l.shape();
                if s.len() != 3 || s[0] != trials || s[1] != horizon || s[2] == 0 {
                    return Err(bad(format!("'latents' has shape {s:?}; expected [{trials}, {horizon}, latent] like 'frames'")));
                }
                let v: Vec<f64> = l.read_raw().map_err(|e| bad(format!("'latents' cannot be read as floats ({e})")))?;
                if v.iter().any(|x| !x.is_finite()) {
                    return Err(bad("'latents' holds non-finite values".into()));
                }
                Some((s[2], v))
            }
        };
        let dataset_sha256 = text_attr(&file, "dataset_sha256");
        let model = text_attr(&file, "model").filter(|m| !m.trim().is_empty());
        Ok(Predictions { model, context: context as usize, trials, predicted: horizon, side, frames, latents, dataset_sha256 })
    }

    /// Checks that the predictions (read from `path`) are for `data` (whose file has SHA-256
    /// `sha256`): its test trials, its side, frames inside its trials, the same file.
    pub fn check_fits(&self, path: &Path, data: &PixelDataset, sha256: &str) -> Result<()> {
        let bad = |msg: String| Error::input(path, msg);
        let c = &data.config;
        let data_name = data.path.as_ref().map(|p| p.display().to_string()).unwrap_or_else(|| "the dataset".into());
        if let Some(s) = &self.dataset_sha256 {
            if !s.eq_ignore_ascii_case(sha256) {
                return Err(bad(format!(
                    "names dataset SHA-256 {s}, but {data_name} has {sha256}: these are another dataset's predictions"
                )));
            }
        }
        if self.side != c.render.side as usize {
            return Err(bad(format!("has {0}x{0} frames; {data_name} has {1}x{1}", self.side, c.render.side)));
        }
        let test = data.trials_of(Split::Test).len();
        if self.trials != test {
            return Err(bad(format!("predicts {} trials; {data_name} has {test} test trials (one row each, in order)", self.trials)));
        }
        if self.context + self.predicted > c.steps {
            return Err(bad(format!(
                "predicts frames {} .. {} (context {} + horizon {}); {data_name}'s trials have {} frames",
                self.context,
                self.context + self.predicted - 1,
                self.context,
                self.predicted,
                c.steps
            )));
        }
        Ok(())
    }

    /// Writes the file atomically (`force`: replacing one); `flag` names the option that
    /// chose the path.
    pub fn write(&self, path: &Path, force: bool, flag: &str) -> Result<()> {
        let pending = PendingFile::new(path, force, flag)?;
        self.write_file(&pending).map_err(Error::hdf5(path))?;
        Ok(pending.commit()?)
    }

    fn write_file(&self, pending: &PendingFile) -> hdf5::Result<()> {
        let text = |s: &str| -> VarLenUnicode { s.parse().expect("no NUL in attribute text") };
        let file = pending.create_hdf5()?;
        let (t, h, s) = (self.trials, self.predicted, self.side);
        file.new_dataset::<f32>().shape([t, h, s, s]).obj_track_times(false).create("frames")?.write_raw(&self.frames)?;
        if let Some((d, z)) = &self.latents {
            file.new_dataset::<f64>().shape([t, h, *d]).obj_track_times(false).create("latents")?.write_raw(z)?;
        }
        file.new_attr::<VarLenUnicode>().create("format")?.write_scalar(&text(FORMAT))?;
        file.new_attr::<u32>().create("format_version")?.write_scalar(&FORMAT_VERSION)?;
        file.new_attr::<u64>().create("context")?.write_scalar(&(self.context as u64))?;
        if let Some(m) = &self.model {
            file.new_attr::<VarLenUnicode>().create("model")?.write_scalar(&text(m))?;
        }
        if let Some(s) = &self.dataset_sha256 {
            file.new_attr::<VarLenUnicode>().create("dataset_sha256")?.write_scalar(&text(s))?;
        }
        file.close()
    }

    /// A model's predictions for `data`'s test trials: the first `context` frames its encoder
    /// reads are encoded, the latent stepped with `integrator` one step a frame (as trained),
    /// and the latent at frame `context + j` decoded, its first frame the prediction.
    pub fn of_model(model: &Model, data: &PixelDataset, integrator: Integrator, name: String, sha256: Option<String>) -> Result<Self> {
        let context = model.config.arch.context;
        let steps = data.config.steps;
        let horizon = steps.checked_sub(context).filter(|h| *h > 0).ok_or_else(|| {
            Error::setting("--context", format!("{context} frames leave none of the dataset's {steps}-frame trials to predict"))
        })?;
        let px = data.pixels();
        let drawn = model.config.arch.drawn_frames();
        let (mut frames, mut latents) = (Vec::new(), Vec::new());
        let trials = data.trials_of(Split::Test);
        for trial in trials.clone() {
            let given: Vec<Tensor> = (0..context).map(|j| Tensor::from_slice(data.frame(trial, j))).collect();
            let x0 = Tensor::cat(&given, 0).view([1, -1]);
            let (roll, _) = Rollout::step(model, &x0, steps, integrator, 1.0)?;
            let decoded: Vec<f32> = Vec::try_from(roll.decoded.view([-1]))?;
            for (j, row) in decoded.chunks(drawn * px).enumerate().skip(context) {
                frames.extend_from_slice(&row[..px]);
                latents.extend_from_slice(&roll.latents[j]);
            }
        }
        let d = latents.len() / (trials.len() * horizon).max(1);
        Ok(Predictions {
            model: Some(name),
            context,
            trials: trials.len(),
            predicted: horizon,
            side: data.config.render.side as usize,
            frames,
            latents: Some((d, latents)),
            dataset_sha256: sha256,
        })
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
    #[serde(default, deserialize_with = "super::lenient")]
    pub symetric: Option<symetric::Symetric>,
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
}

impl TrialScores {
    /// Scores `p` against `data`'s test trials (checked to fit with
    /// [`Predictions::check_fits`]).
    pub fn of(data: &PixelDataset, p: &Predictions, vpt_threshold: f64) -> Self {
        let px = data.pixels();
        let (ctx, h) = (p.context, p.predicted);
        let test: Vec<usize> = data.trials_of(Split::Test).collect();
        let trials: Vec<TrialScore> = test
            .iter()
            .enumerate()
            .map(|(i, &trial)| {
                let truth: Vec<f32> = (ctx..ctx + h).flat_map(|j| data.frame(trial, j).iter().copied()).collect();
                let pred = &p.frames[i * h * px..(i + 1) * h * px];
                let per_frame = frame_mse(pred, &truth, px);
                TrialScore {
                    trial,
                    valid_prediction_time: symetric::vpt(pred, &truth, px, vpt_threshold),
                    pixel_mse: per_frame.iter().sum::<f64>() / h as f64,
                    pixel_mse_per_frame: per_frame,
                }
            })
            .collect();
        let n = trials.len() as f64;
        let vpts: Vec<f64> = trials.iter().map(|t| t.valid_prediction_time as f64).collect();
        let pixel_mse_per_frame = (0..h).map(|j| trials.iter().map(|t| t.pixel_mse_per_frame[j]).sum::<f64>() / n).collect();
        let latent = p.latents.as_ref().map(|(d, z)| {
            let (mut zs, mut labels) = (Vec::new(), Vec::new());
            for (i, &trial) in test.iter().enumerate() {
                for j in 0..h {
                    zs.push(z[(i * h + j) * d..(i * h + j + 1) * d].to_vec());
                    labels.push(data.label(trial, ctx + j));
                }
            }
            // The first half of the trials fits, the rest tests (one trial: itself).
            let cut = if test.len() > 1 { test.len().div_ceil(2) * h } else { zs.len() };
            let (fit_z, test_z) = if cut < zs.len() { zs.split_at(cut) } else { (&zs[..], &zs[..]) };
            let (fit_s, test_s) = if cut < labels.len() { labels.split_at(cut) } else { (&labels[..], &labels[..]) };
            LatentScores {
                map: LatentMap::fit_latents(fit_z, fit_s, test_z, test_s, MapFit::Lstsq),
                symetric: Some(symetric_of(fit_z, fit_s, test_z, test_s)),
            }
        });
        TrialScores {
            context: ctx,
            predicted: h,
            vpt_threshold,
            valid_prediction_time_median: median(&vpts),
            valid_prediction_time_mean: vpts.iter().sum::<f64>() / n,
            pixel_mse: trials.iter().map(|t| t.pixel_mse).sum::<f64>() / n,
            pixel_mse_per_frame,
            trials,
            latent,
        }
    }

    /// The worst test R^2 of the latent map, where latents were given.
    pub fn worst_r2(&self) -> Option<f64> {
        self.latent.as_ref().map(|l| l.map.worst_r2())
    }

    /// Writes the per-frame error curve (the mean over the trials, shaded between the
    /// trials' lowest and highest) as a PNG; on a log axis where it spans more than a decade.
    pub fn plot(&self, model: &str, out: &Path) -> Result<()> {
        use crate::util::plot::{LinePlot, Series};
        let frame = |j: usize| (self.context + j) as f64;
        let lines: Vec<Vec<(f64, f64)>> =
            self.trials.iter().map(|t| t.pixel_mse_per_frame.iter().enumerate().map(|(j, v)| (frame(j), *v)).collect()).collect();
        let mean: Vec<(f64, f64)> = self.pixel_mse_per_frame.iter().enumerate().map(|(j, v)| (frame(j), *v)).collect();
        let name = format!("{model}: mean of {} trials (shaded: their range)", self.trials.len());
        let series = [Series { name, points: mean, band: Series::spread("", &lines).band, dots: false }];
        let positive = || self.trials.iter().flat_map(|t| &t.pixel_mse_per_frame).copied().filter(|v| *v > 0.0);
        let (lo, hi) = (positive().fold(f64::INFINITY, f64::min), positive().fold(0.0, f64::max));
        let log_y = hi > 10.0 * lo;
        let title = "Pixel MSE per predicted frame on the test trials";
        crate::util::plot::write(&LinePlot { title, x_label: "frame", y_label: "pixel MSE", log_y, series: &series }, out)
    }
}
