//! Stage 3, latent rollouts and the paper's evaluation (SPEC.md sections 6-7), for any system.
//!
//! A fresh test trajectory is simulated and rendered like the dataset; the first pair
//! `x_0 = [f_1 | f_2]` is encoded, the learned latent field is integrated, and every latent
//! is decoded to a pair of frames. For the energy metric the decoded pairs are encoded
//! again, **each model with its own encoder** (the reference used the HNN's encoder for the
//! baseline too: a bug), mapped to `(q, p)` by an affine map fitted on the training set, and
//! their energy (the pendulum's `1.9 (1 - cos q) + p^2`; the system's H for the others)
//! compared with the true energy of frame `i + 1`. Where the map's test R^2 is below
//! [`MAP_R2_MIN`] for some coordinate, no affine map holds and the energy figure means
//! nothing: reports say so and compare the models on pixel MSE instead. The HNN is also
//! scored without any map: the variation of its own learned H along its rollout.
//!
//! Rollout point `i` is frame time `i` (integer frames): predicted pair `i` is compared with
//! the true pair `[f_{i+1} | f_{i+2}]`. (The reference reported 200 points spread over
//! [0, 196] frames, 0.985 frames apart, and compared them index by index with frame labels.)

mod latent_map;
pub mod pictures;
pub mod predictions;
mod rollout;
mod score;
mod summary;
pub use pixel_hnn_data::symetric;

pub use latent_map::*;
pub use rollout::*;
pub use score::*;
pub use summary::*;

use serde::{Deserialize, Serialize};

use crate::dataset::{Pairs, PixelDataset, FIRST_SAMPLE_FRAME};
use crate::error::{Error, Result};
use crate::integrate::Method;
use crate::model::Model;
use crate::systems::System;
use crate::util::choice::Choice;
use crate::util::stats::MeanSem;

/// The two protocols, as tables and reports name them.
pub const PROTOCOLS: &str = "Protocols: rows without a letter and rows (b) are the paper's protocol: each model's learned field integrated by RK45 (rtol 1e-3, atol 1e-6 by default), whatever step it was trained with. Rows (a) roll each model out with the step it was trained with (its integrator, one step a frame: the paper's baseline by Euler, as it was trained), the fair comparison of families. Both score the same fresh trajectories. Valid prediction time: the first frame whose MSE / mean(truth^2) exceeds the threshold, forward and (a vector field, protocol a) backward in time from the last pair. A rollout leaves the training latents when a latent falls outside each coordinate's training range widened by half of it. SyMetric: the lowest-order polynomial map (order at most 5) from the encoder's latents to the true state whose test R^2 is at least 0.9 on every coordinate, and DeepMind's symplecticity test of its Jacobian; the energy is read through it where no affine map holds.";

pub use pixel_hnn_data::latent_map::MAP_R2_MIN;

/// The evaluation protocol; `Default` is the reference's energy protocol.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvalConfig {
    /// Seed of the fresh trajectory scored as the paper did.
    pub seed: u64,
    /// Frames simulated for each fresh trajectory.
    pub steps: usize,
    /// Initial-state window of the fresh trajectories, in the system's quantity (the
    /// pendulum's deflection, radians); `None`: the system's evaluation window (the
    /// pendulum's (pi/11, pi/10), the reference's).
    #[serde(default, alias = "min_angle")]
    pub window_min: Option<f64>,
    #[serde(default, alias = "max_angle")]
    pub window_max: Option<f64>,
    /// Rollout points (frames) scored.
    pub frames: usize,
    pub method: Method,
    /// Seeds of the extra trajectories averaged beyond the paper.
    pub seeds: Vec<u64>,
    /// Valid prediction time: first frame whose MSE / mean(gt^2) exceeds this.
    pub vpt_threshold: f64,
    /// How the latent -> (q, p) map is fitted.
    #[serde(default)]
    pub map_fit: MapFit,
}

/// Fitting the affine latent -> (q, p) map on the training set.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MapFit {
    /// Exact least squares (normal equations).
    #[default]
    Lstsq,
    /// The reference's: Adam on the mean squared error, 4,001 steps of batches of 400
    /// (learning rate 1e-2: the reference's is not recorded), seeded.
    Adam,
}

impl Choice for MapFit {
    const ALL: &'static [Self] = &[MapFit::Lstsq, MapFit::Adam];

    fn name(self) -> &'static str {
        match self {
            MapFit::Lstsq => "lstsq",
            MapFit::Adam => "adam",
        }
    }

    fn help(self) -> &'static str {
        match self {
            MapFit::Lstsq => "exact least squares",
            MapFit::Adam => "the reference's: Adam, 4,001 steps of batches of 400, lr 1e-2",
        }
    }
}

impl MapFit {
    /// How the fit is described in reports.
    pub fn describe(self) -> &'static str {
        match self {
            MapFit::Lstsq => "a least-squares affine map",
            MapFit::Adam => "an affine map fitted by Adam (the reference's way: 4,001 steps of batches of 400, lr 1e-2)",
        }
    }
}

impl Default for EvalConfig {
    fn default() -> Self {
        EvalConfig {
            seed: 1,
            steps: 203,
            window_min: None,
            window_max: None,
            frames: 200,
            method: Method::reference(),
            seeds: vec![1, 2, 3, 4, 5],
            vpt_threshold: 0.025,
            map_fit: MapFit::Lstsq,
        }
    }
}

/// The largest rollout accepted (each frame pair is 2 * side^2 floats per model).
pub const MAX_FRAMES: usize = 100_000;

impl EvalConfig {
    /// The window of the fresh trajectories for `sys`.
    pub fn window(&self, sys: &dyn System) -> (f64, f64) {
        let (lo, hi) = sys.eval_window();
        (self.window_min.unwrap_or(lo), self.window_max.unwrap_or(hi))
    }

    pub fn validate(&self, side: u32, sys: &dyn System) -> Result<()> {
        if self.frames == 0 {
            return Err(Error::setting("--frames", "must be at least 1"));
        }
        if self.frames > MAX_FRAMES {
            let mb = self.frames as f64 * 3.0 * 2.0 * (side * side) as f64 * 4.0 / 1e6;
            return Err(Error::setting(
                "--frames",
                format!("{} frames would need about {mb:.0} MB of frames per trajectory; the limit is {MAX_FRAMES}", self.frames),
            ));
        }
        let need = self.frames + FIRST_SAMPLE_FRAME + 2;
        if self.steps < need {
            return Err(Error::setting("--steps", format!("must be at least --frames + 3 = {need} (got {})", self.steps)));
        }
        sys.check_window(self.window(sys))?;
        match self.method {
            Method::Rk45 { rtol, atol } => {
                if !(rtol > 0.0 && rtol < 1.0 && atol > 0.0 && atol.is_finite()) {
                    return Err(Error::setting("--rtol/--atol", format!("need 0 < rtol < 1 and atol > 0 (got {rtol}, {atol})")));
                }
            }
            Method::Rk4 { dt } | Method::ImplicitMidpoint { dt } => {
                if !(1e-3..=10.0).contains(&dt) {
                    return Err(Error::setting("--dt", format!("must be between 0.001 and 10 frames (got {dt})")));
                }
            }
        }
        Ok(())
    }
}

/// Scores one model under both protocols; `train` and `test` are the dataset's pairs on the
/// model's device, `losses` its final train and test losses as training computed them (the
/// run's `final-losses.json`: computed once, reported in both files), and `trained` the
/// run's training settings (the step and the rollout it was trained with).
pub fn evaluate_model(
    model: &Model,
    data: &PixelDataset,
    train: &Pairs,
    test: &Pairs,
    cfg: &EvalConfig,
    losses: (MeanSem, MeanSem),
    trained: &crate::training::TrainConfig,
) -> Result<ModelMetrics> {
    let integrator = trained.integrator_for(model.field.kind());
    let map = fit_map(model, train, test, cfg.map_fit);
    let train_z = encode_all(model, &train.x);
    let region = symetric::Region::of(&train_z);
    let sym = symetric_of(&train_z, &labels_of(&train.labels), &encode_all(model, &test.x), &labels_of(&test.labels));
    let energy_reading = if map.holds() {
        EnergyReading::Affine
    } else if sym.r2_holds {
        EnergyReading::Polynomial
    } else {
        EnergyReading::None
    };
    let scorer = Scorer::new(model, &data.config, &map, train, cfg, Some(&region)).with_poly(Some(&sym.map));
    let (train_loss, test_loss) = losses;
    let mut seeds = vec![cfg.seed];
    seeds.extend(cfg.seeds.iter().filter(|s| **s != cfg.seed));
    let (mut paper, mut own) = (Vec::new(), Vec::new());
    let field = !model.field.kind().dynamics().is_map();
    let context = model.config.arch.context;
    for &seed in &seeds {
        let traj = Trajectory::for_eval(data, cfg, seed, context)?;
        let roll = Rollout::integrate(model, &traj.observation(0, context), cfg.frames, cfg.method)?;
        paper.push(scorer.score(&traj, &roll, seed));
        let (roll, blew_up) = Rollout::step(model, &traj.observation(0, context), cfg.frames, integrator, 1.0)?;
        let mut score = scorer.score(&traj, &roll, seed);
        score.left_region_at = match (score.left_region_at, blew_up) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        if field {
            let (back, _) = Rollout::step(model, &traj.observation(cfg.frames - 1, context), cfg.frames, integrator, -1.0)?;
            score.valid_prediction_time_backward = Some(backward_vpt(&traj, &back, model.config.arch.drawn_frames(), cfg.vpt_threshold));
        }
        own.push(score);
    }
    let over =
        |scores: &[TrajectoryScore]| -> Vec<TrajectoryScore> { scores.iter().filter(|s| cfg.seeds.contains(&s.seed)).cloned().collect() };
    let mean = |v: &[TrajectoryScore], f: &dyn Fn(&TrajectoryScore) -> f64| v.iter().map(f).sum::<f64>() / v.len().max(1) as f64;
    let vpts = |v: &[TrajectoryScore]| v.iter().map(|s| s.valid_prediction_time as f64).collect::<Vec<_>>();
    let (paper_over, own_over) = (over(&paper), over(&own));
    let backward: Vec<f64> = own_over.iter().filter_map(|s| s.valid_prediction_time_backward.map(|v| v as f64)).collect();
    let as_trained = AsTrained {
        integrator,
        horizon: trained.horizon,
        energy_mse: own[0].energy_mse,
        energy_mse_seeds_mean: mean(&own_over, &|s| s.energy_mse),
        pixel_mse: mean(&own_over, &|s| s.pixel_mse),
        valid_prediction_time: mean(&own_over, &|s| s.valid_prediction_time as f64),
        valid_prediction_time_median: median(&vpts(&own_over)),
        valid_prediction_time_backward_median: (!backward.is_empty()).then(|| median(&backward)),
        left_region: own_over.iter().filter(|s| s.left_region_at.is_some()).count(),
        trajectories: own,
    };
    let predicted = predictions::Predictions::of_model(
        model,
        data,
        integrator,
        Some(trained.train_window(&model.config.arch)),
        model.field.kind().name().into(),
        None,
    )?;
    let settings = predictions::ScoreSettings { threshold: cfg.vpt_threshold, window: None };
    let test_trials =
        predictions::score_predictions(&predictions::TestTrials::of(data), &predicted, settings, std::path::Path::new("predictions"))?;
    let e: Vec<f64> = paper_over.iter().map(|s| s.energy_mse).collect();
    let stats = MeanSem::of(&e);
    let first = &paper[0];
    Ok(ModelMetrics {
        model: model.field.kind(),
        seed: 0,
        train_loss,
        test_loss,
        energy_mse: first.energy_mse,
        energy_mse_pm: first.energy_mse_pm,
        energy_mse_seeds_mean: stats.mean,
        energy_mse_seeds_std: stats.std(),
        pixel_mse: mean(&paper_over, &|s| s.pixel_mse),
        valid_prediction_time: mean(&paper_over, &|s| s.valid_prediction_time as f64),
        learned_h_variation: scorer
            .h_scale
            .map(|_| paper_over.iter().filter_map(|s| s.learned_h_variation).sum::<f64>() / paper_over.len().max(1) as f64),
        map,
        valid_prediction_time_median: median(&vpts(&paper_over)),
        left_region: paper_over.iter().filter(|s| s.left_region_at.is_some()).count(),
        trajectories: paper,
        as_trained: Some(as_trained),
        symetric: Some(sym),
        energy_reading,
        test_trials: Some(test_trials),
    })
}

pub(crate) use pixel_hnn_data::scoring::symetric_of;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocol_settings_are_checked_naming_the_flag() {
        let sys = crate::systems::pendulum::Pendulum::default();
        let bad = |c: EvalConfig, flag: &str| assert!(c.validate(28, &sys).unwrap_err().to_string().starts_with(flag), "{flag}");
        bad(EvalConfig { frames: 0, ..Default::default() }, "--frames");
        bad(EvalConfig { frames: 10_000_000, steps: 10_000_003, ..Default::default() }, "--frames");
        bad(EvalConfig { frames: 201, ..Default::default() }, "--steps");
        bad(EvalConfig { method: Method::Rk4 { dt: 1e-9 }, ..Default::default() }, "--dt");
        bad(EvalConfig { method: Method::Rk45 { rtol: 0.0, atol: 1e-6 }, ..Default::default() }, "--rtol");
        bad(EvalConfig { window_min: Some(0.4), window_max: Some(0.3), ..Default::default() }, "--min/--max");
        assert!(EvalConfig::default().validate(28, &sys).is_ok());
        assert_eq!(EvalConfig::default().window(&sys), (std::f64::consts::PI / 11.0, std::f64::consts::PI / 10.0));
        let msg = EvalConfig { frames: 10_000_000, steps: 10_000_003, ..Default::default() }.validate(28, &sys).unwrap_err().to_string();
        assert!(msg.contains("MB"), "says what memory it would need: {msg}");
    }
}
