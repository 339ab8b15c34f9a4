//! Predictions of any model on a dataset's test trials, and their scores: the file any
//! model (pixel-hnn's or anyone's) hands `pixel-hnn score`, and the figures both `score` and
//! `evaluate` compute from it (schema: `datasets/README.md`, "Predictions files"). The
//! scoring itself is the data crate's ([`pixel_hnn_data::scoring`]), which the Python module
//! shares.
//!
//! Given the first `context` true frames `f_0 .. f_{context-1}` of each test trial, a model
//! predicts the next `horizon` frames: row `j` of a trial's predictions is frame
//! `context + j`. Backward predictions, where the model can run backward, are given the last
//! `context` frames and run back to frame 0: row `j` is frame `steps - 1 - context - j`.
//! Frames are grey (`[side, side]`) for pixel-hnn's own datasets and RGB (`[side, side, 3]`)
//! for DeepMind's suite's, as the dataset's are. Scored frame by frame against the dataset:
//! the pixel MSE of each frame, its mean over the horizon, our valid prediction time and the
//! benchmark's. Latents of the predicted frames, where given, add the latent-map figures.

use hdf5::types::{FixedAscii, VarLenAscii, VarLenUnicode};
use hdf5::File;
use std::path::{Path, PathBuf};
use tch::Tensor;

use super::Rollout;
use crate::dataset::{PixelDataset, Split};
use crate::error::{Error, Result};
use crate::integrate::Integrator;
use crate::model::Model;
use crate::util::choice::Choice;
use crate::util::output::PendingFile;
use pixel_hnn_data::scoring::{non_finite, Forecast, Truth};
pub use pixel_hnn_data::scoring::{BenchmarkVpt, LatentScores, ScoreSettings, TrialScore, TrialScores};

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
    /// 1 (grey frames, `[side, side]`) or 3 (RGB, `[side, side, 3]`).
    pub channels: usize,
    /// `[trials, horizon, side * side * channels]`.
    pub frames: Vec<f32>,
    /// The latent of each predicted frame: its size and `[trials, horizon, size]`.
    pub latents: Option<(usize, Vec<f64>)>,
    /// Backward predictions (`backward_frames`): frames a trial and `[trials, those, side *
    /// side * channels]`.
    pub backward: Option<(usize, Vec<f32>)>,
    /// The frames the model's training windows spanned (`train_window`): where the
    /// benchmark's valid prediction time starts counting, unless `score` is told.
    pub train_window: Option<usize>,
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

/// What a shape of frames says: `(trials, frames, side, channels)`, for `[trials, frames,
/// side, side]` (grey) or `[trials, frames, side, side, 3]` (RGB).
fn frame_shape(shape: &[usize]) -> Option<(usize, usize, usize, usize)> {
    match *shape {
        [t, h, s, s2] if s == s2 => Some((t, h, s, 1)),
        [t, h, s, s2, 3] if s == s2 => Some((t, h, s, 3)),
        _ => None,
    }
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
        let expected = "[trials, horizon, side, side] (grey) or [trials, horizon, side, side, 3] (RGB), none of them 0";
        let ds = file.dataset("frames").map_err(|_| bad(format!("lacks the 'frames' dataset ({expected}, float32)")))?;
        let shape = ds.shape();
        let Some((trials, horizon, side, channels)) = frame_shape(&shape).filter(|&(t, h, s, _)| t > 0 && h > 0 && s > 0) else {
            return Err(bad(format!("'frames' has shape {shape:?}; expected {expected}")));
        };
        let frames: Vec<f32> = ds.read_raw().map_err(|e| bad(format!("'frames' cannot be read as float32 ({e})")))?;
        let px = side * side * channels;
        if let Some(at) = non_finite(&frames, horizon, px) {
            return Err(bad(format!("'frames' holds {at}")));
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
        let backward = match file.dataset("backward_frames") {
            Err(_) => None,
            Ok(b) => {
                let s = b.shape();
                match frame_shape(&s) {
                    Some((t, bh, bs, c)) if t == trials && bs == side && c == channels && bh > 0 => {
                        let v: Vec<f32> = b.read_raw().map_err(|e| bad(format!("'backward_frames' cannot be read as float32 ({e})")))?;
                        if let Some(at) = non_finite(&v, bh, px) {
                            return Err(bad(format!("'backward_frames' holds {at}")));
                        }
                        Some((bh, v))
                    }
                    _ => {
                        return Err(bad(format!(
                            "'backward_frames' has shape {s:?}; expected [{trials}, frames, ...] with the frames of 'frames'"
                        )))
                    }
                }
            }
        };
        let train_window = match file.attr("train_window") {
            Err(_) => None,
            Ok(a) => match a.read_scalar::<i64>() {
                Ok(w) if w >= 1 => Some(w as usize),
                _ => return Err(bad("has a 'train_window' attribute that is not a positive integer".into())),
            },
        };
        let dataset_sha256 = text_attr(&file, "dataset_sha256");
        let model = text_attr(&file, "model").filter(|m| !m.trim().is_empty());
        Ok(Predictions {
            model,
            context: context as usize,
            trials,
            predicted: horizon,
            side,
            channels,
            frames,
            latents,
            backward,
            train_window,
            dataset_sha256,
        })
    }

    /// Checks that the predictions (read from `path`) are for `truth` (whose file has SHA-256
    /// `sha256`): its test trials, its frames, frames inside its trials, the same file.
    pub fn check_fits(&self, path: &Path, truth: &TestTrials, sha256: &str) -> Result<()> {
        let bad = |msg: String| Error::input(path, msg);
        let data_name = truth.path.as_ref().map(|p| p.display().to_string()).unwrap_or_else(|| "the dataset".into());
        if let Some(s) = &self.dataset_sha256 {
            if !s.eq_ignore_ascii_case(sha256) {
                return Err(bad(format!(
                    "names dataset SHA-256 {s}, but {data_name} has {sha256}: these are another dataset's predictions"
                )));
            }
        }
        let kind = |c: usize| if c == 1 { "grey" } else { "RGB" };
        let article = |c: usize| if c == 1 { "a grey" } else { "an RGB" };
        if self.channels != truth.channels {
            return Err(bad(format!(
                "has {} frames; {data_name} is {} dataset (its frames are {}): predict its frames as it stores them",
                kind(self.channels),
                article(truth.channels),
                truth.frame_shape()
            )));
        }
        if self.side != truth.side {
            return Err(bad(format!("has {0}x{0} frames; {data_name} has {1}x{1}", self.side, truth.side)));
        }
        let test = truth.trial_ids.len();
        if self.trials != test {
            return Err(bad(format!("predicts {} trials; {data_name} has {test} test trials (one row each, in order)", self.trials)));
        }
        if self.context + self.predicted > truth.steps {
            return Err(bad(format!(
                "predicts frames {} .. {} (context {} + horizon {}); {data_name}'s trials have {} frames",
                self.context,
                self.context + self.predicted - 1,
                self.context,
                self.predicted,
                truth.steps
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

    fn shape(&self, frames: usize) -> Vec<usize> {
        let mut s = vec![self.trials, frames, self.side, self.side];
        if self.channels != 1 {
            s.push(self.channels);
        }
        s
    }

    fn write_file(&self, pending: &PendingFile) -> hdf5::Result<()> {
        let text = |s: &str| -> VarLenUnicode { s.parse().expect("no NUL in attribute text") };
        let file = pending.create_hdf5()?;
        let (t, h) = (self.trials, self.predicted);
        file.new_dataset::<f32>().shape(self.shape(h)).obj_track_times(false).create("frames")?.write_raw(&self.frames)?;
        if let Some((d, z)) = &self.latents {
            file.new_dataset::<f64>().shape([t, h, *d]).obj_track_times(false).create("latents")?.write_raw(z)?;
        }
        if let Some((bh, b)) = &self.backward {
            file.new_dataset::<f32>().shape(self.shape(*bh)).obj_track_times(false).create("backward_frames")?.write_raw(b)?;
        }
        file.new_attr::<VarLenUnicode>().create("format")?.write_scalar(&text(FORMAT))?;
        file.new_attr::<u32>().create("format_version")?.write_scalar(&FORMAT_VERSION)?;
        file.new_attr::<u64>().create("context")?.write_scalar(&(self.context as u64))?;
        if let Some(w) = self.train_window {
            file.new_attr::<u64>().create("train_window")?.write_scalar(&(w as u64))?;
        }
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
    /// and the latent at frame `context + j` decoded, its first frame the prediction. A
    /// family that can run backward also predicts back from each trial's last `context`
    /// frames to frame 0. `train_window` is the frames the model's training windows spanned.
    pub fn of_model(
        model: &Model,
        data: &PixelDataset,
        integrator: Integrator,
        train_window: Option<usize>,
        name: String,
        sha256: Option<String>,
    ) -> Result<Self> {
        let context = model.config.arch.context;
        let steps = data.config.steps;
        let horizon = steps.checked_sub(context).filter(|h| *h > 0).ok_or_else(|| {
            Error::setting("--context", format!("{context} frames leave none of the dataset's {steps}-frame trials to predict"))
        })?;
        let px = data.pixels();
        let drawn = model.config.arch.drawn_frames();
        let backward = !model.field.kind().dynamics().is_map();
        let (mut frames, mut latents, mut back) = (Vec::new(), Vec::new(), Vec::new());
        let trials = data.trials_of(Split::Test);
        let given = |trial: usize, from: usize| {
            let f: Vec<Tensor> = (from..from + context).map(|j| Tensor::from_slice(data.frame(trial, j))).collect();
            Tensor::cat(&f, 0).view([1, -1])
        };
        let channels = data.config.sys().channels();
        let first_frames = |roll: &Rollout| -> Result<Vec<Vec<f32>>> {
            let decoded: Vec<f32> = Vec::try_from(roll.decoded.view([-1]))?;
            Ok(decoded.chunks(drawn * px).map(|row| as_stored(&row[..px], channels)).collect())
        };
        for trial in trials.clone() {
            let (roll, _) = Rollout::step(model, &given(trial, 0), steps, integrator, 1.0)?;
            for (j, row) in first_frames(&roll)?.into_iter().enumerate().skip(context) {
                frames.extend_from_slice(&row);
                latents.extend_from_slice(&roll.latents[j]);
            }
            if backward {
                // Point k of the backward rollout is frame steps - context - k.
                let (roll, _) = Rollout::step(model, &given(trial, steps - context), horizon + 1, integrator, -1.0)?;
                first_frames(&roll)?.into_iter().skip(1).for_each(|row| back.extend_from_slice(&row));
            }
        }
        let d = latents.len() / (trials.len() * horizon).max(1);
        Ok(Predictions {
            model: Some(name),
            context,
            trials: trials.len(),
            predicted: horizon,
            side: data.config.render.side as usize,
            channels,
            frames,
            latents: Some((d, latents)),
            backward: backward.then_some((horizon, back)),
            train_window: train_window.filter(|w| *w >= context && *w < steps),
            dataset_sha256: sha256,
        })
    }
}

/// The true test trials predictions are scored against, as `f32` frames in `[0, 1]`: a grey
/// dataset's (`pixel-hnn/frames`) or a suite dataset's (`pixel-hnn/suite-frames`, its bytes
/// over 255), with every frame's `(q, p)`.
#[derive(Clone, Debug)]
pub struct TestTrials {
    pub path: Option<PathBuf>,
    /// What tables call the dataset's system: our system's name, or the suite preset's with
    /// its variant (`dm-pendulum-colors`).
    pub system: String,
    pub steps: usize,
    pub side: usize,
    pub channels: usize,
    /// `[trials, steps, side * side * channels]`.
    pub frames: Vec<f32>,
    /// `[trials, steps, label_dim]`.
    pub labels: Vec<f64>,
    pub label_dim: usize,
    /// The trials' indices in the dataset.
    pub trial_ids: Vec<usize>,
}

/// A frame as its file stores it: grey as it is, RGB rows of `[r, g, b]` (the pipeline
/// holds RGB frames channel-major).
fn as_stored(frame: &[f32], channels: usize) -> Vec<f32> {
    if channels == 1 {
        return frame.to_vec();
    }
    let mut out = vec![0.0; frame.len()];
    crate::systems::suite::planes_to_rows(frame, &mut out);
    out
}

impl TestTrials {
    /// The test trials of a dataset the pipeline holds, its frames as its file stores them.
    pub fn of(data: &PixelDataset) -> Self {
        let ids: Vec<usize> = data.trials_of(Split::Test).collect();
        let steps = data.config.steps;
        let channels = data.config.sys().channels();
        let frames = ids.iter().flat_map(|&t| (0..steps).flat_map(move |j| as_stored(data.frame(t, j), channels))).collect();
        let labels = ids.iter().flat_map(|&t| (0..steps).flat_map(move |j| data.label(t, j))).collect();
        TestTrials {
            path: data.path.clone(),
            system: data.config.system.kind().name().into(),
            steps,
            side: data.config.render.side as usize,
            channels,
            frames,
            labels,
            label_dim: 2 * data.config.sys().dof(),
            trial_ids: ids,
        }
    }

    /// The test trajectories of a suite dataset file.
    pub fn of_suite(path: &Path, t: pixel_hnn_data::suite_data::SuiteTrials) -> Self {
        let c = &t.config;
        TestTrials {
            path: Some(path.to_path_buf()),
            system: c.suite.label(),
            steps: c.steps,
            side: crate::systems::suite::SIDE,
            channels: 3,
            frames: t.frames.iter().map(|&b| b as f32 / 255.0).collect(),
            labels: t.states,
            label_dim: 2 * c.suite.dof(),
            trial_ids: (0..c.test_trials).collect(),
        }
    }

    /// How the dataset's frames are laid out, in words.
    pub fn frame_shape(&self) -> String {
        if self.channels == 1 {
            format!("[trials, steps, {0}, {0}]", self.side)
        } else {
            format!("[trials, steps, {0}, {0}, {1}]", self.side, self.channels)
        }
    }

    fn truth(&self) -> Truth<'_> {
        Truth {
            frames: &self.frames,
            steps: self.steps,
            pixels: self.side * self.side * self.channels,
            labels: Some((&self.labels, self.label_dim)),
            trial_ids: &self.trial_ids,
        }
    }
}

/// Scores `p` against the test trials (checked to fit with [`Predictions::check_fits`]);
/// `path` names the predictions in an error, `settings` the threshold and the benchmark's
/// window (`None`: the file's `train_window`, else its context).
pub fn score_predictions(truth: &TestTrials, p: &Predictions, settings: ScoreSettings, path: &Path) -> Result<TrialScores> {
    let forecast = Forecast {
        context: p.context,
        predicted: p.predicted,
        frames: &p.frames,
        latents: p.latents.as_ref().map(|(d, z)| (*d, &z[..])),
        backward: p.backward.as_ref().map(|(h, b)| (*h, &b[..])),
    };
    let settings = ScoreSettings { window: settings.window.or(p.train_window), ..settings };
    TrialScores::of(&truth.truth(), &forecast, settings).map_err(|m| Error::input(path, m.0))
}

/// Writes the per-frame error curve (the mean over the trials, shaded between the
/// trials' lowest and highest) as a PNG; on a log axis where it spans more than a decade.
pub fn plot_scores(scores: &TrialScores, model: &str, out: &Path) -> Result<()> {
    use crate::util::plot::{LinePlot, Series};
    let frame = |j: usize| (scores.context + j) as f64;
    let lines: Vec<Vec<(f64, f64)>> =
        scores.trials.iter().map(|t| t.pixel_mse_per_frame.iter().enumerate().map(|(j, v)| (frame(j), *v)).collect()).collect();
    let mean: Vec<(f64, f64)> = scores.pixel_mse_per_frame.iter().enumerate().map(|(j, v)| (frame(j), *v)).collect();
    let name = format!("{model}: mean of {} trials (shaded: their range)", scores.trials.len());
    let series = [Series { name, points: mean, band: Series::spread("", &lines).band, dots: false }];
    let positive = || scores.trials.iter().flat_map(|t| &t.pixel_mse_per_frame).copied().filter(|v| *v > 0.0);
    let (lo, hi) = (positive().fold(f64::INFINITY, f64::min), positive().fold(0.0, f64::max));
    let log_y = hi > 10.0 * lo;
    let title = "Pixel MSE per predicted frame on the test trials";
    crate::util::plot::write(&LinePlot { title, x_label: "frame", y_label: "pixel MSE", log_y, series: &series }, out)
}
