//! Stage 1, the pixel dataset (its configuration, file format and generator live in the
//! data crate: [`pixel_hnn_data::dataset`], re-exported here), and the samples the models
//! train on as tensors: the (pair, next pair) samples ([`Samples::pairs`]), the windows of
//! consecutive pairs ([`Samples::windows`]) and what an encoder of several frames reads
//! ([`Samples::observations`]).
//!
//! Samples follow the reference (SPEC.md section 3): in a trial of `steps` frames
//! `f_0 .. f_{steps-1}`, sample `k` (k = 0 .. steps - 4) is the pair `x = [f_{k+1} | f_{k+2}]`
//! and the next pair `x_next = [f_{k+2} | f_{k+3}]`; 103 frames give 100 samples. The label
//! of a sample is the true state of the first frame of `x`, `f_{k+1}`.

pub mod preview;
pub use pixel_hnn_data::dataset::*;

use tch::Tensor;

/// Samples as tensors (f32, CPU).
///
/// # Shapes
/// `x`, `x_next`: `[n, 2 * side * side]` (two frames, each flattened row-major);
/// `labels`: `[n, 2 dof]`, the `(q, p)` of the first frame of `x`;
/// `energy`: `[n]`, the energy evaluation scores of that state.
#[derive(Debug)]
pub struct Pairs {
    pub x: Tensor,
    pub x_next: Tensor,
    pub labels: Tensor,
    pub energy: Tensor,
}

impl Pairs {
    /// The same samples with `x` and `x_next` on `device` (labels stay on the CPU).
    pub fn to_device(self, device: tch::Device) -> Pairs {
        Pairs { x: self.x.to_device(device), x_next: self.x_next.to_device(device), ..self }
    }

    /// Another handle to the same samples (no copy).
    pub fn shallow(&self) -> Pairs {
        Pairs {
            x: self.x.shallow_clone(),
            x_next: self.x_next.shallow_clone(),
            labels: self.labels.shallow_clone(),
            energy: self.energy.shallow_clone(),
        }
    }

    pub fn len(&self) -> usize {
        self.x.size()[0] as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Windows of consecutive frame pairs, for training over rollouts: every trial's pairs
/// `[f_{j+1} | f_{j+2}]`, and the windows of `span + 1` consecutive ones. With span 1 the
/// windows are the pairs of [`Pairs`], in the same order. (A rollout of `--horizon` K frames
/// reads windows of span [`crate::model::Architecture::window_pairs`]`(K)`.)
#[derive(Debug)]
pub struct Windows {
    /// `[trials * pairs_per_trial, 2 * side * side]`, trial-major.
    pub pairs: Tensor,
    pub trials: usize,
    pub pairs_per_trial: usize,
    /// Pairs a window holds, less one.
    pub span: usize,
}

impl Windows {
    /// The largest span trajectories of `steps` frames allow.
    pub fn max_span(steps: usize) -> usize {
        Self::pairs_per_trial(steps).saturating_sub(1)
    }

    fn pairs_per_trial(steps: usize) -> usize {
        steps.saturating_sub(FIRST_SAMPLE_FRAME + 1)
    }

    /// Windows per trial.
    pub fn per_trial(&self) -> usize {
        self.pairs_per_trial - self.span
    }

    pub fn len(&self) -> usize {
        self.trials * self.per_trial()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The windows numbered `idx` (trial-major, then by first pair).
    ///
    /// # Shapes
    /// returns `[idx.len(), span + 1, 2 * side * side]`
    pub fn gather(&self, idx: &[i64]) -> Tensor {
        let (per, k) = (self.per_trial() as i64, self.span as i64);
        let p = self.pairs_per_trial as i64;
        let rows: Vec<i64> = idx.iter().flat_map(|&w| (0..=k).map(move |j| (w / per) * p + w % per + j)).collect();
        let rows = Tensor::from_slice(&rows).to_device(self.pairs.device());
        self.pairs.index_select(0, &rows).view([idx.len() as i64, k + 1, -1])
    }

    /// Another handle to the same windows (no copy).
    pub fn shallow(&self) -> Windows {
        Windows { pairs: self.pairs.shallow_clone(), ..*self }
    }

    pub fn to_device(self, device: tch::Device) -> Windows {
        Windows { pairs: self.pairs.to_device(device), ..self }
    }
}

/// The samples of a dataset as tensors (f32, CPU).
pub trait Samples {
    /// The windows of `span + 1` pairs of the trials of `split`.
    fn windows(&self, split: Split, span: usize) -> Windows;
    /// What an encoder reading `context` frames reads at every sample of `split`.
    fn observations(&self, split: Split, context: usize) -> Pairs;
    /// The samples of `split`, materialised as tensors.
    fn pairs(&self, split: Split) -> Pairs;
}

impl Samples for PixelDataset {
    /// The windows of `span + 1` pairs of the trials of `split`.
    fn windows(&self, split: Split, span: usize) -> Windows {
        let trials = self.trials_of(split);
        let per = Windows::pairs_per_trial(self.config.steps);
        let px = self.pixels();
        let mut pairs = Vec::with_capacity(trials.len() * per * 2 * px);
        for trial in trials.clone() {
            for j in 0..per {
                let f = FIRST_SAMPLE_FRAME + j;
                pairs.extend_from_slice(self.frame(trial, f));
                pairs.extend_from_slice(self.frame(trial, f + 1));
            }
        }
        let n = (trials.len() * per) as i64;
        Windows { pairs: Tensor::from_slice(&pairs).view([n, 2 * px as i64]), trials: trials.len(), pairs_per_trial: per, span }
    }

    /// What an encoder reading `context` frames reads at every sample of `split`: `x` the
    /// `context` frames from the sample's first, `x_next` those from the next, the labels
    /// and energies of the first. Two frames are the pairs ([`PixelDataset::pairs`]); more
    /// leave out the samples whose frames would run past their trajectory.
    fn observations(&self, split: Split, context: usize) -> Pairs {
        if context == 2 {
            return self.pairs(split);
        }
        let trials = self.trials_of(split);
        let per = self.config.steps.saturating_sub(FIRST_SAMPLE_FRAME + context);
        let px = self.pixels();
        let l = 2 * self.config.sys().dof();
        let (mut x, mut x_next, mut labels, mut energy) = (vec![], vec![], vec![], vec![]);
        for trial in trials.clone() {
            for k in 0..per {
                let f = FIRST_SAMPLE_FRAME + k;
                (f..f + context).for_each(|j| x.extend_from_slice(self.frame(trial, j)));
                (f + 1..f + 1 + context).for_each(|j| x_next.extend_from_slice(self.frame(trial, j)));
                labels.extend(self.label(trial, f).iter().map(|v| *v as f32));
                energy.push(self.energy(trial, f) as f32);
            }
        }
        let (n, w) = ((trials.len() * per) as i64, (context * px) as i64);
        Pairs {
            x: Tensor::from_slice(&x).view([n, w]),
            x_next: Tensor::from_slice(&x_next).view([n, w]),
            labels: Tensor::from_slice(&labels).view([n, l as i64]),
            energy: Tensor::from_slice(&energy),
        }
    }

    /// The samples of `split`, materialised as tensors.
    fn pairs(&self, split: Split) -> Pairs {
        let trials = self.trials_of(split);
        let per = self.config.samples_per_trial();
        let n = trials.len() * per;
        let px = self.pixels();
        let (mut x, mut x_next) = (Vec::with_capacity(n * 2 * px), Vec::with_capacity(n * 2 * px));
        let l = 2 * self.config.sys().dof();
        let (mut labels, mut energy) = (Vec::with_capacity(n * l), Vec::with_capacity(n));
        for trial in trials {
            for k in 0..per {
                let f = FIRST_SAMPLE_FRAME + k;
                x.extend_from_slice(self.frame(trial, f));
                x.extend_from_slice(self.frame(trial, f + 1));
                x_next.extend_from_slice(self.frame(trial, f + 1));
                x_next.extend_from_slice(self.frame(trial, f + 2));
                labels.extend(self.label(trial, f).iter().map(|v| *v as f32));
                energy.push(self.energy(trial, f) as f32);
            }
        }
        let n = n as i64;
        Pairs {
            x: Tensor::from_slice(&x).view([n, 2 * px as i64]),
            x_next: Tensor::from_slice(&x_next).view([n, 2 * px as i64]),
            labels: Tensor::from_slice(&labels).view([n, l as i64]),
            energy: Tensor::from_slice(&energy),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::systems::pendulum::State;
    use crate::systems::SystemKind;

    #[test]
    fn pairs_are_consecutive_frames_with_the_first_frames_label() {
        let cfg = DatasetConfig { trials: 10, steps: 9, ..DatasetConfig::default() };
        let d = generate(&cfg, 2, &|| {}).unwrap();
        assert_eq!(cfg.samples_per_trial(), 6);
        assert_eq!(cfg.test_trials(), 2);
        let test = d.pairs(Split::Test);
        let train = d.pairs(Split::Train);
        assert_eq!(test.x.size(), vec![12, 2 * 784]);
        assert_eq!(train.x_next.size(), vec![48, 2 * 784]);
        assert_eq!(train.labels.size(), vec![48, 2]);
        // Training sample 7 = trial 3 (the second training trial), k = 1: frames 2, 3, 4.
        let row = |t: &tch::Tensor, i: i64| Vec::<f32>::try_from(t.get(i)).unwrap();
        let x = row(&train.x, 7);
        let xn = row(&train.x_next, 7);
        assert_eq!(&x[..784], d.frame(3, 2));
        assert_eq!(&x[784..], d.frame(3, 3));
        assert_eq!(&xn[..784], d.frame(3, 3));
        assert_eq!(&xn[784..], d.frame(3, 4));
        let (q, p) = State { theta: d.state(3, 2)[0], thdot: d.state(3, 2)[1] }.label();
        assert_eq!(row(&train.labels, 7), vec![q as f32, p as f32]);
        // The reference's 200 x 103 gives 100 samples a trial, 4,000 of them for testing.
        let reference = DatasetConfig::default();
        assert_eq!(reference.samples_per_trial() * reference.test_trials(), 4000);
        assert_eq!(reference.samples_per_trial() * reference.trials, 20_000);
    }

    #[test]
    fn every_system_generates_its_own_labels_and_pairs() {
        use crate::util::choice::Choice;
        for &kind in SystemKind::ALL {
            let cfg = DatasetConfig { trials: 4, steps: 10, ..DatasetConfig::for_system(kind) };
            let d = generate(&cfg, 2, &|| {}).unwrap();
            let sys = cfg.sys();
            let l = 2 * sys.dof();
            assert_eq!(d.states.len(), 4 * 10 * sys.sim_dim());
            // Trials follow the simulator from their first state.
            assert_eq!(&sys.simulate(d.state(2, 0), 10).unwrap()[..], &d.states[2 * 10 * sys.sim_dim()..3 * 10 * sys.sim_dim()]);
            let pairs = d.pairs(Split::All);
            assert_eq!(pairs.labels.size(), vec![4 * 7, l as i64]);
            let first: Vec<f32> = Vec::try_from(pairs.labels.get(0)).unwrap();
            let want: Vec<f32> = d.label(0, 1).iter().map(|v| *v as f32).collect();
            assert_eq!(first, want, "{kind:?}");
            let e: Vec<f32> = Vec::try_from(&pairs.energy).unwrap();
            assert!((e[0] as f64 - sys.energy(&d.label(0, 1))).abs() < 1e-6);
        }
    }

    #[test]
    fn windows_of_one_frame_are_the_pairs_and_longer_ones_follow_the_trial() {
        let mut cfg = DatasetConfig::for_system(SystemKind::Pendulum);
        (cfg.trials, cfg.steps, cfg.render.side) = (3, 9, 4);
        let px = 16;
        // Frame (trial, step) holds the value 100 trial + step in every pixel.
        let frames: Vec<f32> = (0..3).flat_map(|t| (0..9).flat_map(move |s| vec![(100 * t + s) as f32; px])).collect();
        let data = PixelDataset { config: cfg, frames, states: vec![0.0; 3 * 9 * 2], trial_params: None, path: None };
        let pairs = data.pairs(Split::Train);
        let one = data.windows(Split::Train, 1);
        assert_eq!(one.len(), pairs.len());
        let all: Vec<i64> = (0..one.len() as i64).collect();
        let w = one.gather(&all);
        assert!(w.select(1, 0).equal(&pairs.x) && w.select(1, 1).equal(&pairs.x_next), "horizon 1 is the pairs, in order");
        assert_eq!(Windows::max_span(9), 6);
        let long = data.windows(Split::All, 6);
        assert_eq!((long.per_trial(), long.len()), (1, 3));
        let w = long.gather(&[2]);
        // Trial 2's only window: pairs [f_{j+1} | f_{j+2}] for j = 0..=6.
        for j in 0..=6i64 {
            assert_eq!(w.double_value(&[0, j, 0]), (200 + j + 1) as f64);
            assert_eq!(w.double_value(&[0, j, px as i64]), (200 + j + 2) as f64);
        }
    }

    #[test]
    fn the_frame_window_follows_the_parameters() {
        let mut d = DatasetConfig::for_system(SystemKind::DoublePendulum);
        let before = d.render.window;
        d.set_param("l1", 2.0).unwrap();
        assert_eq!(d.render.window, d.sys().default_window());
        assert!(d.render.window.x1 > before.x1 && d.render.window.y0 < before.y0, "a longer rod, a wider window");
        // An unknown name changes nothing and names the system's parameters.
        let e = d.set_param("colour", 1.0).unwrap_err().to_string();
        assert!(e.starts_with("--param: the double-pendulum has no parameter 'colour'"), "{e}");
    }
}
