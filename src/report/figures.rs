//! One model's figures under one protocol ([`Figures`]): read from a run's metrics once,
//! here, and used by `table`, its CSV and JSON, and the sweeps.

use serde::{Deserialize, Serialize};
use std::path::Path;

use crate::evaluate::predictions::TrialScores;
use crate::run::{CoordsMetrics, ModelLosses, PixelMetrics, ScoreMetrics};
use crate::util::choice::Choice;

/// How a model was scored.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Protocol {
    /// The paper's: RK45 on fresh trajectories.
    #[default]
    Paper,
    /// Protocol (a): stepped as trained, on the same trajectories.
    AsTrained,
    /// The dataset's test trials: protocol (c), and `score`.
    TestTrials,
    /// A coordinate task.
    Coords,
}

/// One model's figures under one protocol: one per run, task, model, protocol and member
/// seed. Empty where a figure does not apply or, for energies, where no map reads the
/// state. The one declaration of a model's figures: `table --format csv|json` writes them,
/// Table 1's test-trials rows and a sweep's points (`state.json`) hold them, and the
/// sweep's table reads them.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Figures {
    /// The run folder it was read from.
    pub run: String,
    /// As Table 1 names it: `pixel pendulum`, `spring`, ...
    pub task: String,
    pub model: String,
    pub protocol: Protocol,
    /// The ensemble member's seed; empty for a model pixel-hnn did not train.
    pub seed: Option<u64>,
    pub train_loss: Option<f64>,
    pub test_loss: Option<f64>,
    /// On the protocol's first trajectory (the paper's seed); a coordinate task's mean.
    pub energy_mse: Option<f64>,
    pub energy_mse_seeds_mean: Option<f64>,
    pub pixel_mse: Option<f64>,
    pub valid_prediction_time_mean: Option<f64>,
    pub valid_prediction_time_median: Option<f64>,
    /// Stepped backward in time from the last pair (protocol a, a vector field): the median.
    pub valid_prediction_time_backward_median: Option<f64>,
    /// Frames given before the first prediction (test trials).
    pub context: Option<usize>,
    /// Trajectories or trials scored.
    pub trajectories: Option<usize>,
    pub latent_map_worst_r2: Option<f64>,
    /// SyMetric: the polynomial map reads the state and is symplectic.
    pub symetric: Option<bool>,
    /// The range of the learned energy along the rollout over its mean (a family that
    /// learns one; the paper's protocol).
    #[serde(default)]
    pub learned_h_variation: Option<f64>,
    /// The benchmark's valid prediction time (DeepMind's `vpt_abs`: the median over the
    /// trials after the training window, averaged with the backward median where the model
    /// ran backward; test trials).
    #[serde(default)]
    pub benchmark_vpt: Option<f64>,
    /// The frames its count left out: the training window.
    #[serde(default)]
    pub benchmark_vpt_window: Option<usize>,
}

impl Figures {
    pub fn new(run: &Path, task: &str, model: &str, protocol: Protocol, seed: Option<u64>) -> Figures {
        Figures { run: run.display().to_string(), task: task.into(), model: model.into(), protocol, seed, ..Figures::default() }
    }

    fn test_trials(self, t: &TrialScores) -> Figures {
        Figures {
            pixel_mse: Some(t.pixel_mse),
            valid_prediction_time_mean: Some(t.valid_prediction_time_mean),
            valid_prediction_time_median: Some(t.valid_prediction_time_median),
            context: Some(t.context),
            trajectories: Some(t.trials.len()),
            latent_map_worst_r2: t.worst_r2(),
            symetric: t.latent.as_ref().and_then(|l| l.symetric.as_ref()).map(|s| s.holds),
            benchmark_vpt: t.benchmark_vpt.as_ref().map(|b| b.vpt),
            benchmark_vpt_window: t.benchmark_vpt.as_ref().map(|b| b.window),
            ..self
        }
    }

    /// A pixel run's records: each member under each protocol it was scored by.
    pub fn of_pixel(m: &PixelMetrics, source: &Path) -> Vec<Figures> {
        let task = m.task();
        let n = m.protocol.seeds.len();
        let mut out = vec![];
        for x in &m.models {
            let base = Figures::new(source, &task, x.model.name(), Protocol::Paper, Some(x.seed));
            let energy = |v: f64| x.energy_reads().then_some(v);
            let losses = Figures { train_loss: Some(x.train_loss.mean), test_loss: Some(x.test_loss.mean), ..base };
            out.push(Figures {
                energy_mse: energy(x.energy_mse),
                energy_mse_seeds_mean: energy(x.energy_mse_seeds_mean),
                pixel_mse: Some(x.pixel_mse),
                valid_prediction_time_mean: Some(x.valid_prediction_time),
                valid_prediction_time_median: Some(x.valid_prediction_time_median),
                trajectories: Some(n),
                latent_map_worst_r2: Some(x.map.worst_r2()),
                symetric: x.symetric.as_ref().map(|s| s.holds),
                learned_h_variation: x.learned_h_variation,
                ..losses.clone()
            });
            if let Some(a) = &x.as_trained {
                out.push(Figures {
                    protocol: Protocol::AsTrained,
                    energy_mse: energy(a.energy_mse),
                    energy_mse_seeds_mean: energy(a.energy_mse_seeds_mean),
                    pixel_mse: Some(a.pixel_mse),
                    valid_prediction_time_mean: Some(a.valid_prediction_time),
                    valid_prediction_time_median: Some(a.valid_prediction_time_median),
                    valid_prediction_time_backward_median: a.valid_prediction_time_backward_median,
                    trajectories: Some(n),
                    ..losses.clone()
                });
            }
            if let Some(t) = &x.test_trials {
                out.push(Figures { protocol: Protocol::TestTrials, ..losses.clone() }.test_trials(t));
            }
        }
        out
    }

    /// A member's training losses alone (a sweep that does not evaluate), under the paper's
    /// protocol.
    pub fn of_losses(l: &ModelLosses, source: &Path, task: &str) -> Figures {
        Figures {
            train_loss: Some(l.train.mean),
            test_loss: Some(l.test.mean),
            ..Figures::new(source, task, l.model.name(), Protocol::Paper, Some(l.seed))
        }
    }

    /// A coordinate run's records.
    pub fn of_coords(m: &CoordsMetrics, source: &Path) -> Vec<Figures> {
        m.models
            .iter()
            .map(|x| Figures {
                train_loss: Some(x.train_loss.mean),
                test_loss: Some(x.test_loss.mean),
                energy_mse: Some(x.energy_mse.mean),
                ..Figures::new(source, m.task.name(), x.model.name(), Protocol::Coords, None)
            })
            .collect()
    }

    /// A score run's record.
    pub fn of_score(m: &ScoreMetrics, source: &Path) -> Figures {
        Figures::new(source, &format!("pixel {}", m.system), &m.model, Protocol::TestTrials, None).test_trials(&m.test_trials)
    }
}
