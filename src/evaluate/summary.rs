//! What `evaluate` reports: one model's figures under both protocols ([`ModelMetrics`],
//! [`AsTrained`]), an ensemble's intervals ([`EnsembleSummary`]) and the paper's claim
//! checked seed by seed ([`Claim`], [`HeadToHead`]).

use serde::{Deserialize, Serialize};

use super::latent_map::LatentMap;
use super::score::TrajectoryScore;
use super::{predictions, symetric, EvalConfig};
use crate::integrate::Integrator;
use crate::model::FieldKind;
use crate::util::choice::Choice;
use crate::util::stats::{quartiles, Interval, MeanSem};

/// Everything `evaluate` reports for one model (one member of an ensemble).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ModelMetrics {
    pub model: FieldKind,
    /// The member's seed.
    #[serde(default)]
    pub seed: u64,
    pub train_loss: MeanSem,
    pub test_loss: MeanSem,
    /// The paper's metric, on the `seed` trajectory.
    pub energy_mse: f64,
    pub energy_mse_pm: f64,
    /// Mean and standard deviation over the `seeds` trajectories.
    pub energy_mse_seeds_mean: f64,
    pub energy_mse_seeds_std: f64,
    pub pixel_mse: f64,
    pub valid_prediction_time: f64,
    /// Mean over the `seeds` trajectories of [`TrajectoryScore::learned_h_variation`]
    /// (HNN only).
    #[serde(default)]
    pub learned_h_variation: Option<f64>,
    pub map: LatentMap,
    pub trajectories: Vec<TrajectoryScore>,
    /// The median over the `seeds` trajectories of the valid prediction time (this
    /// protocol: the paper's).
    #[serde(default)]
    pub valid_prediction_time_median: f64,
    /// The `seeds` trajectories whose rollout left the region of the training latents.
    #[serde(default)]
    pub left_region: usize,
    /// Protocol (a): the model rolled out with the step it was trained with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub as_trained: Option<AsTrained>,
    /// The benchmark's SyMetric of the encoder's latents against the true states (a
    /// polynomial map of order up to 5, its R^2, the symplecticity of its Jacobian). A
    /// non-finite figure in it (a constant coordinate's R^2) is written as `null` by JSON,
    /// so reading it back is lenient: such a SyMetric reads as absent.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "lenient")]
    pub symetric: Option<symetric::Symetric>,
    /// What the energy figures are read through.
    #[serde(default)]
    pub energy_reading: EnergyReading,
    /// Protocol (c): the model's predictions of the dataset's test trials, stepped as
    /// trained from each trial's first `context` frames, scored as `pixel-hnn score` scores
    /// any model's ([`predictions`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_trials: Option<predictions::TrialScores>,
}

pub(super) use pixel_hnn_data::scoring::lenient;

/// What a model's energy figures are read through: the paper's affine latent map where it
/// holds, else SyMetric's polynomial map where it holds, else nothing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EnergyReading {
    #[default]
    Affine,
    Polynomial,
    None,
}

impl EnergyReading {
    pub fn describe(self) -> &'static str {
        match self {
            EnergyReading::Affine => "the affine latent map",
            EnergyReading::Polynomial => "SyMetric's polynomial map (no affine map holds)",
            EnergyReading::None => "no map: neither the affine nor the polynomial map reads the state (R^2 < 0.9)",
        }
    }
}

impl ModelMetrics {
    /// Whether its energy figures mean something (some map reads the state).
    pub fn energy_reads(&self) -> bool {
        self.map.holds() || self.energy_reading == EnergyReading::Polynomial
    }
}

/// A model scored under protocol (a): its latent stepped by the integrator it was trained
/// with, one step per frame, on the same trajectories as the paper's protocol.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AsTrained {
    pub integrator: Integrator,
    /// The rollout it was trained over (frames).
    pub horizon: usize,
    /// On the `seed` trajectory.
    pub energy_mse: f64,
    /// Means over the `seeds` trajectories.
    pub energy_mse_seeds_mean: f64,
    pub pixel_mse: f64,
    pub valid_prediction_time: f64,
    /// Medians over the `seeds` trajectories, forward and (a vector field) backward.
    pub valid_prediction_time_median: f64,
    pub valid_prediction_time_backward_median: Option<f64>,
    /// The `seeds` trajectories whose rollout left the region of the training latents.
    pub left_region: usize,
    pub trajectories: Vec<TrajectoryScore>,
}

impl ModelMetrics {
    /// The same metrics, labelled as member `seed`'s.
    pub fn for_seed(self, seed: u64) -> Self {
        ModelMetrics { seed, ..self }
    }
}

/// A seed ensemble's figures for one model: each one's mean and 95% interval over the
/// members that were evaluated (members that diverged have none).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ModelSummary {
    pub model: FieldKind,
    pub members: usize,
    pub train_loss: Interval,
    pub test_loss: Interval,
    pub energy_mse: Interval,
    pub energy_mse_seeds_mean: Interval,
    pub pixel_mse: Interval,
    pub valid_prediction_time: Interval,
}

/// The paper's claim checked member by member: for each seed with both models, the
/// baseline's energy error over the HNN's.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Claim {
    /// Seeds with both models evaluated.
    pub pairs: usize,
    /// On the paper's trajectory: members where the HNN's energy error is below the
    /// baseline's, and the ratio's quartiles.
    pub hnn_below: usize,
    pub ratio_q1: f64,
    pub ratio_median: f64,
    pub ratio_q3: f64,
    /// The same on the mean over the extra trajectories.
    pub seeds_hnn_below: usize,
    pub seeds_ratio_q1: f64,
    pub seeds_ratio_median: f64,
    pub seeds_ratio_q3: f64,
}

/// Statistics across an ensemble's training seeds.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EnsembleSummary {
    pub seeds: Vec<u64>,
    pub models: Vec<ModelSummary>,
    pub claim: Option<Claim>,
}

impl EnsembleSummary {
    /// From per-member metrics; `None` for a single model (one member per model).
    pub fn of(models: &[ModelMetrics], seeds: &[u64]) -> Option<Self> {
        if seeds.len() < 2 {
            return None;
        }
        let kinds: Vec<FieldKind> = FieldKind::ALL.iter().copied().filter(|k| models.iter().any(|m| m.model == *k)).collect();
        let summaries = kinds
            .iter()
            .map(|&kind| {
                let of =
                    |f: &dyn Fn(&ModelMetrics) -> f64| Interval::of(&models.iter().filter(|m| m.model == kind).map(f).collect::<Vec<_>>());
                ModelSummary {
                    model: kind,
                    members: models.iter().filter(|m| m.model == kind).count(),
                    train_loss: of(&|m| m.train_loss.mean),
                    test_loss: of(&|m| m.test_loss.mean),
                    energy_mse: of(&|m| m.energy_mse),
                    energy_mse_seeds_mean: of(&|m| m.energy_mse_seeds_mean),
                    pixel_mse: of(&|m| m.pixel_mse),
                    valid_prediction_time: of(&|m| m.valid_prediction_time),
                }
            })
            .collect();
        let pairs = crate::model::paper_pairs(models, seeds.iter().copied(), |m| (m.model, m.seed));
        let claim = (!pairs.is_empty()).then(|| {
            let ratios: Vec<f64> = pairs.iter().map(|(b, h)| b.energy_mse / h.energy_mse).collect();
            let seeds_ratios: Vec<f64> = pairs.iter().map(|(b, h)| b.energy_mse_seeds_mean / h.energy_mse_seeds_mean).collect();
            let (q1, med, q3) = quartiles(&ratios);
            let (s1, smed, s3) = quartiles(&seeds_ratios);
            Claim {
                pairs: pairs.len(),
                hnn_below: ratios.iter().filter(|r| **r > 1.0).count(),
                ratio_q1: q1,
                ratio_median: med,
                ratio_q3: q3,
                seeds_hnn_below: seeds_ratios.iter().filter(|r| **r > 1.0).count(),
                seeds_ratio_q1: s1,
                seeds_ratio_median: smed,
                seeds_ratio_q3: s3,
            }
        });
        Some(EnsembleSummary { seeds: seeds.to_vec(), models: summaries, claim })
    }
}

/// What the HNN is compared with the baseline on, trajectory by trajectory.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Basis {
    /// The energy MSE through the latent map (every model's map holds).
    Energy,
    /// The pixel MSE over the horizon (some model's map does not hold).
    PixelMse,
}

impl Basis {
    pub fn describe(self) -> &'static str {
        match self {
            Basis::Energy => "energy MSE",
            Basis::PixelMse => "pixel MSE",
        }
    }
}

/// The HNN against the baseline on every extra trajectory of every member that has both.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeadToHead {
    pub basis: Basis,
    /// (member, trajectory) pairs where the HNN's figure is below the baseline's.
    pub hnn_below: usize,
    pub trajectories: usize,
}

impl HeadToHead {
    /// On energy where every model's map holds, else on pixel MSE; `None` without both
    /// models.
    pub fn of(models: &[ModelMetrics], cfg: &EvalConfig) -> Option<Self> {
        let basis = if models.iter().all(|m| m.energy_reads()) { Basis::Energy } else { Basis::PixelMse };
        let figure = |s: &TrajectoryScore| if basis == Basis::Energy { s.energy_mse } else { s.pixel_mse };
        let (mut hnn_below, mut trajectories) = (0, 0);
        let hnn_seeds = models.iter().filter(|m| m.model == FieldKind::Hnn).map(|m| m.seed);
        for (b, h) in crate::model::paper_pairs(models, hnn_seeds, |m| (m.model, m.seed)) {
            for hs in h.trajectories.iter().filter(|s| cfg.seeds.contains(&s.seed)) {
                if let Some(bs) = b.trajectories.iter().find(|s| s.seed == hs.seed) {
                    trajectories += 1;
                    hnn_below += (figure(hs) < figure(bs)) as usize;
                }
            }
        }
        (trajectories > 0).then_some(HeadToHead { basis, hnn_below, trajectories })
    }
}

pub(super) use pixel_hnn_data::scoring::median;
