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

pub mod pictures;
pub mod predictions;
pub mod symetric;

use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor};

use crate::dataset::{DatasetConfig, Pairs, PixelDataset, FIRST_SAMPLE_FRAME};
use crate::error::{Error, Result};
use crate::integrate::{self, Integrator, Method};
use crate::model::{FieldKind, Model};
use crate::systems::System;
use crate::util::adam::{Adam, AdamConfig};
use crate::util::choice::Choice;
use crate::util::rng::Rng;
use crate::util::stats::{least_squares, quartiles, r_squared, Interval, MeanSem};

/// The two protocols, as tables and reports name them.
pub const PROTOCOLS: &str = "Protocols: rows without a letter and rows (b) are the paper's protocol: each model's learned field integrated by RK45 (rtol 1e-3, atol 1e-6 by default), whatever step it was trained with. Rows (a) roll each model out with the step it was trained with (its integrator, one step a frame: the paper's baseline by Euler, as it was trained), the fair comparison of families. Both score the same fresh trajectories. Valid prediction time: the first frame whose MSE / mean(truth^2) exceeds the threshold, forward and (a vector field, protocol a) backward in time from the last pair. A rollout leaves the training latents when a latent falls outside each coordinate's training range widened by half of it. SyMetric: the lowest-order polynomial map (order at most 5) from the encoder's latents to the true state whose test R^2 is at least 0.9 on every coordinate, and DeepMind's symplecticity test of its Jacobian; the energy is read through it where no affine map holds.";

/// The smallest test R^2, over the coordinates, at which the affine latent -> (q, p) map is
/// taken to hold (the pendulum's is above 0.99).
pub const MAP_R2_MIN: f64 = 0.9;

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

/// A simulated and rendered test trajectory.
pub struct Trajectory {
    /// `[steps, 2 dof]`: the `(q, p)` of every frame.
    pub labels: Vec<f64>,
    /// `[steps]`: the energy evaluation scores of every frame.
    pub energies: Vec<f64>,
    /// `[steps, side * side]`
    pub frames: Vec<f32>,
    pub pixels: usize,
}

impl Trajectory {
    /// One trajectory drawn like the dataset's (same system, parameters and scene) but from
    /// `seed` and the evaluation's window.
    /// An encoder reading `context` frames (more than the pair) gets the frames it needs past
    /// the protocol's `steps` to start a rollout at the last frame scored.
    pub fn simulate(data: &DatasetConfig, cfg: &EvalConfig, seed: u64, context: usize) -> Result<Self> {
        let sys = data.sys();
        let s0 = sys.initial_in(&mut Rng::new(seed), cfg.window(sys));
        let steps = if context > 2 { cfg.steps.max(FIRST_SAMPLE_FRAME + cfg.frames + context - 1) } else { cfg.steps };
        let states = sys.simulate(&s0, steps)?;
        let mut drawer = sys.drawer(data.render)?;
        let px = data.render.pixels();
        let l = 2 * sys.dof();
        let (mut frames, mut labels, mut energies) = (vec![0.0; steps * px], vec![0.0; steps * l], Vec::with_capacity(steps));
        for ((s, out), label) in states.chunks(sys.sim_dim()).zip(frames.chunks_mut(px)).zip(labels.chunks_mut(l)) {
            drawer.draw(s, out);
            sys.label(s, label);
            energies.push(sys.energy(label));
        }
        Ok(Trajectory { labels, energies, frames, pixels: px })
    }

    pub fn frame(&self, i: usize) -> &[f32] {
        &self.frames[i * self.pixels..(i + 1) * self.pixels]
    }

    /// Pair `i` as the loader forms it: `[f_{i+1} | f_{i+2}]`, shape `[1, 2 * px]`.
    pub fn pair(&self, i: usize) -> Tensor {
        self.observation(i, 2)
    }

    /// The `context` frames an encoder reads for point `i`, `[f_{i+1} | .. | f_{i+context}]`
    /// (the pair for the paper's), shape `[1, context * px]`.
    pub fn observation(&self, i: usize, context: usize) -> Tensor {
        let f = FIRST_SAMPLE_FRAME + i;
        let frames: Vec<Tensor> = (f..f + context).map(|j| Tensor::from_slice(self.frame(j))).collect();
        Tensor::cat(&frames, 0).view([1, -1])
    }

    /// True energy of pair `i` (state of its first frame).
    pub fn energy(&self, i: usize) -> f64 {
        self.energies[FIRST_SAMPLE_FRAME + i]
    }

    /// True `(q, p)` of pair `i`.
    pub fn label(&self, i: usize) -> &[f64] {
        let l = self.labels.len() / self.energies.len();
        let f = FIRST_SAMPLE_FRAME + i;
        &self.labels[f * l..(f + 1) * l]
    }
}

/// A latent trajectory and its decoded frames.
pub struct Rollout {
    /// `[n][latent_dim]`
    pub latents: Vec<Vec<f64>>,
    /// `[n, input_dim]` on the CPU
    pub decoded: Tensor,
}

impl Rollout {
    /// Integrates the model's latent field from `enc(x0)` and reports frame times `0..n`.
    pub fn integrate(model: &Model, x0: &Tensor, n: usize, method: Method) -> Result<Rollout> {
        let device = model.vs.device();
        let z0: Vec<f64> =
            Vec::try_from(model.ae.encode(&x0.to_device(device)).detach().to_kind(Kind::Double).view([-1]).to_device(Device::Cpu))?;
        let d = z0.len() as i64;
        let native = crate::model::NativeField::new(&model.field);
        let field = |_t: f64, y: &[f64], dy: &mut [f64]| native.eval(y, dy);
        let t_eval: Vec<f64> = (0..n).map(|i| i as f64).collect();
        let latents = integrate::solve(field, &z0, &t_eval, method)
            .map_err(Error::integration(format!("the {} model's latent rollout", model.field.kind().name())))?;
        let flat: Vec<f32> = latents.iter().flatten().map(|&v| v as f32).collect();
        let z = Tensor::from_slice(&flat).view([n as i64, d]).to_device(device);
        let decoded = tch::no_grad(|| model.ae.decode(&z)).to_device(Device::Cpu);
        Ok(Rollout { latents, decoded })
    }
}

impl Rollout {
    /// Steps the model's latent from `enc(x0)` by `integrator`, `n - 1` steps of `h` frames
    /// (`h = -1`: backward in time), in f64: the model rolled out with the step it was
    /// trained with. A latent that stops being finite ends the motion there (it stays at the
    /// last finite latent), and the step where it did is returned.
    pub fn step(model: &Model, x0: &Tensor, n: usize, integrator: Integrator, h: f64) -> Result<(Rollout, Option<usize>)> {
        let device = model.vs.device();
        let z0: Vec<f64> =
            Vec::try_from(model.ae.encode(&x0.to_device(device)).detach().to_kind(Kind::Double).view([-1]).to_device(Device::Cpu))?;
        let d = z0.len() as i64;
        let native = crate::model::NativeField::new(&model.field);
        let mut latents = vec![z0];
        let mut blew_up = None;
        for i in 1..n {
            let last = latents.last().expect("the first latent");
            let next = if blew_up.is_some() { last.clone() } else { native.step(integrator, last, h) };
            if next.iter().all(|v| v.is_finite()) {
                latents.push(next);
            } else {
                blew_up = Some(i);
                latents.push(last.clone());
            }
        }
        let flat: Vec<f32> = latents.iter().flatten().map(|&v| v as f32).collect();
        let z = Tensor::from_slice(&flat).view([n as i64, d]).to_device(device);
        let decoded = tch::no_grad(|| model.ae.decode(&z)).to_device(Device::Cpu);
        Ok((Rollout { latents, decoded }, blew_up))
    }
}

/// An affine map from latents to labels, `(q, p) = A z + b`, fitted by least squares.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LatentMap {
    /// `[2 dof][latent_dim + 1]`: each row `(a_1 .. a_d, b)`.
    pub rows: Vec<Vec<f64>>,
    /// Coefficient of determination of each label coordinate (the `q`s, then the `p`s) on
    /// the training set and on the test set.
    pub r2_train: Vec<f64>,
    pub r2_test: Vec<f64>,
}

/// Rows a convolutional encoder encodes at once (its activations are ~100 times the MLP's).
const CONV_ENCODE_CHUNK: i64 = 256;

fn encode_all(model: &Model, x: &Tensor) -> Vec<Vec<f64>> {
    let x = x.to_device(model.vs.device());
    let encode = |x: &Tensor| tch::no_grad(|| model.ae.encode(x));
    let z = if model.config.arch.encoder == crate::model::EncoderKind::Conv {
        let n = x.size()[0];
        let parts: Vec<Tensor> =
            (0..n).step_by(CONV_ENCODE_CHUNK as usize).map(|i| encode(&x.narrow(0, i, CONV_ENCODE_CHUNK.min(n - i)))).collect();
        Tensor::cat(&parts, 0)
    } else {
        encode(&x)
    };
    let z = z.to_device(Device::Cpu).to_kind(Kind::Double);
    let d = z.size()[1] as usize;
    let flat: Vec<f64> = Vec::try_from(z.view([-1])).expect("latents");
    flat.chunks(d).map(|c| c.to_vec()).collect()
}

fn labels_of(t: &Tensor) -> Vec<Vec<f64>> {
    let l = t.size()[1] as usize;
    let flat: Vec<f64> = Vec::try_from(t.to_kind(Kind::Double).view([-1])).expect("labels");
    flat.chunks(l).map(|c| c.to_vec()).collect()
}

/// Least squares by Adam on random batches (the reference's way of fitting the map), with
/// the project's one Adam ([`crate::util::adam::Adam`]) in f64.
fn adam_fit(x: &[Vec<f64>], y: &[f64], steps: usize, batch: usize, lr: f64, seed: u64) -> Vec<f64> {
    let (n, k) = (x.len(), x[0].len());
    let xt = Tensor::from_slice(&x.concat()).view([n as i64, k as i64]);
    let yt = Tensor::from_slice(y);
    let w = Tensor::zeros([k as i64], (Kind::Double, Device::Cpu)).set_requires_grad(true);
    let mut adam = Adam::new(vec![("w".into(), w.shallow_clone())], AdamConfig { lr, weight_decay: 0.0, ..AdamConfig::default() });
    let mut rng = Rng::new(seed);
    let batch = batch.min(n);
    for _ in 0..steps {
        let idx = Tensor::from_slice(&rng.distinct(n, batch));
        let err = xt.index_select(0, &idx).mv(&w) - yt.index_select(0, &idx);
        let loss = err.square().mean(None::<Kind>);
        adam.zero_grad();
        loss.backward();
        adam.step();
    }
    Vec::try_from(w.detach()).expect("coefficients")
}

impl LatentMap {
    /// Fits on `train` and scores R^2 on `train` and `test` (the dataset's pairs).
    pub fn fit(model: &Model, train: &Pairs, test: &Pairs, how: MapFit) -> Self {
        let (ztr, zte) = (encode_all(model, &train.x), encode_all(model, &test.x));
        LatentMap::fit_latents(&ztr, &labels_of(&train.labels), &zte, &labels_of(&test.labels), how)
    }

    /// Fits latents `train_z` to their labels `train_l` and scores R^2 on both sets.
    pub fn fit_latents(train_z: &[Vec<f64>], train_l: &[Vec<f64>], test_z: &[Vec<f64>], test_l: &[Vec<f64>], how: MapFit) -> Self {
        let aug = |z: &[Vec<f64>]| z.iter().map(|r| r.iter().copied().chain([1.0]).collect()).collect::<Vec<Vec<f64>>>();
        let (ztr, zte) = (aug(train_z), aug(test_z));
        let l = train_l.first().map_or(0, |r| r.len());
        let rows: Vec<Vec<f64>> = (0..l)
            .map(|c| {
                let y: Vec<f64> = train_l.iter().map(|r| r[c]).collect();
                match how {
                    MapFit::Lstsq => least_squares(&ztr, &y),
                    MapFit::Adam => adam_fit(&ztr, &y, 4001, 400, 1e-2, c as u64),
                }
            })
            .collect();
        let r2 = |z: &[Vec<f64>], labels: &[Vec<f64>]| -> Vec<f64> {
            (0..l)
                .map(|c| {
                    let observed: Vec<f64> = labels.iter().map(|v| v[c]).collect();
                    let predicted: Vec<f64> = z.iter().map(|zr| zr.iter().zip(&rows[c]).map(|(a, b)| a * b).sum()).collect();
                    r_squared(&observed, &predicted)
                })
                .collect()
        };
        let (r2_train, r2_test) = (r2(&ztr, train_l), r2(&zte, test_l));
        LatentMap { rows, r2_train, r2_test }
    }

    /// The `(q, p)` the map gives a latent.
    pub fn apply(&self, z: &[f64]) -> Vec<f64> {
        self.rows.iter().map(|r| z.iter().zip(r).map(|(a, b)| a * b).sum::<f64>() + r[z.len()]).collect()
    }

    /// The smallest test R^2 over the coordinates.
    pub fn worst_r2(&self) -> f64 {
        self.r2_test.iter().copied().fold(f64::INFINITY, f64::min)
    }

    /// Whether an affine map holds (every coordinate's test R^2 at least [`MAP_R2_MIN`]), so
    /// that the energy through it means something.
    pub fn holds(&self) -> bool {
        self.worst_r2() >= MAP_R2_MIN
    }
}

/// What one model's rollout of one trajectory scores.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TrajectoryScore {
    pub seed: u64,
    /// Mean over the rollout of (H_true - H_predicted)^2.
    pub energy_mse: f64,
    /// The reference's +-: std of the means of 5 contiguous chunks / sqrt(5).
    pub energy_mse_pm: f64,
    /// Mean over the horizon of the per-frame pixel MSE of the decoded first frame.
    pub pixel_mse: f64,
    /// Frames until the per-frame MSE / mean(gt^2) first exceeds the threshold.
    pub valid_prediction_time: usize,
    pub true_energy: Vec<f64>,
    pub predicted_energy: Vec<f64>,
    pub pixel_mse_per_frame: Vec<f64>,
    /// The HNN's own learned H along its rollout: its range over the rollout divided by its
    /// standard deviation over the training latents (0 for an exact integrator of the
    /// learned field; no map needed). `None` for the baseline, which has no H.
    #[serde(default)]
    pub learned_h_variation: Option<f64>,
    /// The first rollout point outside the region of the training latents
    /// ([`symetric::Region`]), or where the latent stopped being finite; `None`: it stayed.
    #[serde(default)]
    pub left_region_at: Option<usize>,
    /// The valid prediction time of the rollout backward in time from the last pair (models
    /// stepped as trained that are vector fields; a discrete map steps only forward).
    #[serde(default)]
    pub valid_prediction_time_backward: Option<usize>,
}

/// What scoring one model's rollouts needs besides the rollouts.
pub struct Scorer<'a> {
    pub model: &'a Model,
    pub sys: &'a dyn System,
    pub map: &'a LatentMap,
    pub cfg: &'a EvalConfig,
    /// The learned H's standard deviation over the training latents (HNN only).
    pub h_scale: Option<f64>,
    /// The region of the training latents, to flag rollouts that leave it.
    pub region: Option<&'a symetric::Region>,
    /// The polynomial latent -> state map the energy is read through where the affine
    /// `map` does not hold.
    pub poly: Option<&'a symetric::PolyMap>,
}

impl<'a> Scorer<'a> {
    /// For `model` on `data`'s system, with its map and the H scale from the training pairs.
    pub fn new(
        model: &'a Model,
        data: &'a DatasetConfig,
        map: &'a LatentMap,
        train: &Pairs,
        cfg: &'a EvalConfig,
        region: Option<&'a symetric::Region>,
    ) -> Self {
        let h_scale = learned_h(model, &encode_all(model, &train.x)).map(|h| MeanSem::of(&h).std().max(1e-12));
        Scorer { model, sys: data.sys(), map, cfg, h_scale, region, poly: None }
    }

    /// Reads the energy through `poly` where the affine map does not hold.
    pub fn with_poly(self, poly: Option<&'a symetric::PolyMap>) -> Self {
        Scorer { poly: if self.map.holds() { None } else { poly }, ..self }
    }

    /// Scores one rollout of `traj` (drawn from `seed`).
    pub fn score(&self, traj: &Trajectory, roll: &Rollout, seed: u64) -> TrajectoryScore {
        score(self, traj, roll, seed)
    }
}

fn score(s: &Scorer, traj: &Trajectory, roll: &Rollout, seed: u64) -> TrajectoryScore {
    let Scorer { model, sys, map, cfg, h_scale, poly, .. } = *s;
    let n = roll.latents.len();
    let px = traj.pixels;
    // The paper's protocol reads the energy of the decoded pairs, encoded again; a model
    // whose decoder does not draw what its encoder reads is read at its predicted latents.
    let re = if model.config.arch.reencodes() { encode_all(model, &roll.decoded) } else { roll.latents.clone() };
    let state = |z: &[f64]| poly.map_or_else(|| map.apply(z), |p| p.apply(z));
    let predicted: Vec<f64> = re.iter().map(|z| sys.energy(&state(z))).collect();
    let truth: Vec<f64> = (0..n).map(|i| traj.energy(i)).collect();
    let sq: Vec<f64> = truth.iter().zip(&predicted).map(|(a, b)| (a - b).powi(2)).collect();
    let chunks: Vec<f64> = sq.chunks(n.div_ceil(5).max(1)).map(|c| c.iter().sum::<f64>() / c.len() as f64).collect();
    let chunk_stats = MeanSem::of(&chunks);
    let decoded: Vec<f32> = Vec::try_from(roll.decoded.view([-1])).expect("decoded frames");
    let drawn = model.config.arch.drawn_frames();
    let predicted_frames: Vec<f32> = decoded.chunks(drawn * px).flat_map(|pair| pair[..px].iter().copied()).collect();
    let truth_frames: Vec<f32> = (0..n).flat_map(|i| traj.frame(FIRST_SAMPLE_FRAME + i).iter().copied()).collect();
    let per_frame = frame_mse(&predicted_frames, &truth_frames, px);
    let vpt = symetric::vpt(&predicted_frames, &truth_frames, px, cfg.vpt_threshold);
    TrajectoryScore {
        seed,
        energy_mse: sq.iter().sum::<f64>() / n as f64,
        energy_mse_pm: chunk_stats.sem,
        pixel_mse: per_frame.iter().sum::<f64>() / n as f64,
        valid_prediction_time: vpt,
        true_energy: truth,
        predicted_energy: predicted,
        pixel_mse_per_frame: per_frame,
        learned_h_variation: h_scale.and_then(|scale| {
            let h = learned_h(model, &roll.latents)?;
            let (lo, hi) = h.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(*v), b.max(*v)));
            Some((hi - lo) / scale)
        }),
        left_region_at: s.region.and_then(|r| r.first_exit(&roll.latents)),
        valid_prediction_time_backward: None,
    }
}

/// The MSE of each frame of `pred` against `truth` (consecutive frames of `pixels`).
pub(crate) fn frame_mse(pred: &[f32], truth: &[f32], pixels: usize) -> Vec<f64> {
    pred.chunks(pixels)
        .zip(truth.chunks(pixels))
        .map(|(p, t)| t.iter().zip(p).map(|(a, b)| ((a - b) as f64).powi(2)).sum::<f64>() / pixels as f64)
        .collect()
}

/// The valid prediction time of a rollout backward in time whose point `i` is pair
/// `n - 1 - i` of `traj`.
fn backward_vpt(traj: &Trajectory, roll: &Rollout, drawn: usize, threshold: f64) -> usize {
    let (n, px) = (roll.latents.len(), traj.pixels);
    let decoded: Vec<f32> = Vec::try_from(roll.decoded.view([-1])).expect("decoded frames");
    let predicted: Vec<f32> = decoded.chunks(drawn * px).flat_map(|pair| pair[..px].iter().copied()).collect();
    let truth: Vec<f32> = (0..n).rev().flat_map(|i| traj.frame(FIRST_SAMPLE_FRAME + i).iter().copied()).collect();
    symetric::vpt(&predicted, &truth, px, threshold)
}

/// The learned energy at each latent, for a family that learns one (the HNN's H).
fn learned_h(model: &Model, latents: &[Vec<f64>]) -> Option<Vec<f64>> {
    let d = latents.first().map_or(0, |z| z.len()) as i64;
    let flat: Vec<f32> = latents.iter().flatten().map(|v| *v as f32).collect();
    let z = Tensor::from_slice(&flat).view([-1, d]).to_device(model.vs.device());
    let h = tch::no_grad(|| model.field.learned_energy(&z))?.to_device(Device::Cpu).to_kind(Kind::Double);
    Some(Vec::try_from(h).expect("1-D"))
}

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

/// `Some` value where it reads, `None` where it does not.
fn lenient<'de, D: serde::Deserializer<'de>, T: serde::de::DeserializeOwned>(d: D) -> std::result::Result<Option<T>, D::Error> {
    let v = <serde_json::Value as Deserialize>::deserialize(d)?;
    Ok(serde_json::from_value(v).ok())
}

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

/// The median of the values.
fn median(v: &[f64]) -> f64 {
    quartiles(v).1
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
    let map = LatentMap::fit(model, train, test, cfg.map_fit);
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
        let traj = Trajectory::simulate(&data.config, cfg, seed, context)?;
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
    let predicted = predictions::Predictions::of_model(model, data, integrator, model.field.kind().name().into(), None)?;
    let test_trials = predictions::TrialScores::of(data, &predicted, cfg.vpt_threshold);
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

/// Training and test points SyMetric's map is fitted and scored on, at most: every k-th
/// sample (order 5 in 8 dimensions has 1,287 monomials).
const SYMETRIC_TRAIN_POINTS: usize = 4000;
const SYMETRIC_TEST_POINTS: usize = 2000;

/// SyMetric of the latents against the labels, on evenly spaced subsets.
fn symetric_of(train_z: &[Vec<f64>], train_s: &[Vec<f64>], test_z: &[Vec<f64>], test_s: &[Vec<f64>]) -> symetric::Symetric {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_adam_fit_approaches_the_least_squares_solution() {
        let mut rng = Rng::new(9);
        let x: Vec<Vec<f64>> = (0..2000).map(|_| vec![rng.uniform(-1.0, 1.0), rng.uniform(-1.0, 1.0), 1.0]).collect();
        let y: Vec<f64> = x.iter().map(|r| 0.3 * r[0] - 0.2 * r[1] + 0.05 + 0.01 * rng.uniform(-1.0, 1.0)).collect();
        let exact = least_squares(&x, &y);
        let adam = adam_fit(&x, &y, 4001, 400, 1e-2, 0);
        for (a, b) in adam.iter().zip(&exact) {
            assert!((a - b).abs() < 2e-3, "adam {adam:?} vs least squares {exact:?}");
        }
    }

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

#[cfg(test)]
mod scoring_tests {
    use super::*;
    use crate::model::ModelConfig;

    /// A trajectory of `steps` frames of 4 pixels, frame `j` all `value(j)`, with energies.
    fn trajectory(value: impl Fn(usize) -> f32, energies: Vec<f64>) -> Trajectory {
        let steps = energies.len();
        let frames = (0..steps).flat_map(|j| vec![value(j); 4]).collect();
        Trajectory { labels: vec![0.0; 2 * steps], energies, frames, pixels: 4 }
    }

    /// Scores a baseline whose latent map sends every latent to `(q, p) = (0, 1)`, so its
    /// predicted pendulum energy is exactly 1, on a rollout whose decoded first frames are
    /// `first[i]` (4 pixels each; the second frame of each pair is junk).
    fn score_of(traj: &Trajectory, first: &[Vec<f32>]) -> TrajectoryScore {
        let n = first.len();
        let model = Model::new(
            ModelConfig {
                input_dim: 8,
                ae_hidden: 3,
                latent_dim: 2,
                field_hidden: 3,
                arch: Default::default(),
                field_settings: Default::default(),
            },
            FieldKind::Baseline,
            0,
            Device::Cpu,
        );
        let map = LatentMap { rows: vec![vec![0.0, 0.0, 0.0], vec![0.0, 0.0, 1.0]], r2_train: vec![1.0; 2], r2_test: vec![1.0; 2] };
        let sys = crate::systems::pendulum::Pendulum::default();
        let cfg = EvalConfig { frames: n, ..Default::default() };
        assert_eq!(cfg.vpt_threshold, 0.025, "the reference's threshold");
        let decoded: Vec<f32> = first.iter().flat_map(|f| f.iter().copied().chain([7.0; 4])).collect();
        let roll = Rollout { latents: vec![vec![0.0, 0.0]; n], decoded: Tensor::from_slice(&decoded).view([n as i64, 8]) };
        let scorer = Scorer { model: &model, sys: &sys, map: &map, cfg: &cfg, h_scale: None, region: None, poly: None };
        scorer.score(traj, &roll, 3)
    }

    #[test]
    fn the_energy_error_and_its_plus_minus_of_five_contiguous_chunks() {
        // Pair i's true energy is frame i + 1's; frame 0's (1000) is never compared. The
        // errors against the predicted 1 are k = 1,2, 2,3, 3,4, 4,5, 5,6.
        let k = [1.0, 2.0, 2.0, 3.0, 3.0, 4.0, 4.0, 5.0, 5.0, 6.0];
        let energies: Vec<f64> = [1000.0].into_iter().chain(k.iter().map(|k| 1.0 + k)).chain([0.0]).collect();
        let traj = trajectory(|_| 0.5, energies);
        let s = score_of(&traj, &vec![vec![0.5; 4]; 10]);
        assert_eq!(s.predicted_energy, vec![1.0; 10]);
        assert_eq!(s.true_energy, k.iter().map(|k| 1.0 + k).collect::<Vec<_>>());
        // Squared errors 1,4, 4,9, 9,16, 16,25, 25,36: mean 14.5. The chunk means 2.5, 6.5,
        // 12.5, 20.5, 30.5 have population variance 100.8, so +- = sqrt(100.8 / 5).
        assert_eq!(s.energy_mse, 14.5);
        assert!((s.energy_mse_pm - (100.8f64 / 5.0).sqrt()).abs() < 1e-12, "{}", s.energy_mse_pm);
        // Not the s.e.m. of the 10 values (sqrt(115.05 / 10)), nor of strided chunks.
        assert!((s.energy_mse_pm - (115.05f64 / 10.0).sqrt()).abs() > 0.1);
    }

    #[test]
    fn the_valid_prediction_time_is_the_first_frame_whose_relative_error_passes_the_threshold() {
        // True frames are 0.5 (power 0.25) except frame 4 (pair 3), which is 1.0 (power 1).
        let value = |j: usize| if j == 4 { 1.0 } else { 0.5 };
        let traj = trajectory(value, vec![1.0; 12]);
        // Each decoded first frame is the true one plus d: MSE d^2, relative MSE d^2 / power.
        let d: [f32; 10] = [0.0, 0.05, 0.07, 0.1, 0.09, 0.2, 0.0, 0.0, 0.0, 0.0];
        let first: Vec<Vec<f32>> = d.iter().enumerate().map(|(i, d)| vec![value(i + 1) + d; 4]).collect();
        let s = score_of(&traj, &first);
        // Relative MSE: 0, .01, .0196, .01 (pair 3: power 1), .0324 > .025 at pair 4, although
        // its plain MSE .0081 is below .025; pair 5 (.16) does not move it; later pairs
        // back under the threshold do not either.
        assert_eq!(s.valid_prediction_time, 4);
        for (i, (got, d)) in s.pixel_mse_per_frame.iter().zip(d).enumerate() {
            let e = ((value(i + 1) - (value(i + 1) + d)) as f64).powi(2);
            assert!((got - e).abs() <= 1e-12 * e.max(1e-30), "pair {i}: {got} vs {e}");
        }
        assert!((s.pixel_mse - s.pixel_mse_per_frame.iter().sum::<f64>() / 10.0).abs() < 1e-15);
        // Never past the threshold: the whole horizon.
        let exact: Vec<Vec<f32>> = (0..10).map(|i| vec![value(i + 1); 4]).collect();
        assert_eq!(score_of(&traj, &exact).valid_prediction_time, 10);
        // Past it at once: 0.
        let off: Vec<Vec<f32>> = (0..10).map(|i| vec![value(i + 1) + 0.3; 4]).collect();
        assert_eq!(score_of(&traj, &off).valid_prediction_time, 0);
    }
}
