//! The rollout of a model: a fresh test trajectory, simulated and rendered like the dataset
//! ([`Trajectory`]), and the learned latent field integrated from its first observation
//! and decoded ([`Rollout`]).

use tch::{Device, Kind, Tensor};

use super::EvalConfig;
use crate::dataset::{DatasetConfig, PixelDataset, FIRST_SAMPLE_FRAME};
use crate::error::{Error, Result};
use crate::integrate::{self, Integrator, Method};
use crate::model::Model;
use crate::systems::SystemConfig;
use crate::util::choice::Choice;
use crate::util::rng::Rng;

/// A simulated and rendered test trajectory.
pub struct Trajectory {
    /// `[steps, 2 dof]`: the `(q, p)` of every frame.
    pub labels: Vec<f64>,
    /// `[steps]`: the energy evaluation scores of every frame.
    pub energies: Vec<f64>,
    /// `[steps, side * side]` (RGB: `[steps, 3, side, side]`)
    pub frames: Vec<f32>,
    pub pixels: usize,
    /// The suite's preset and the parameters the trajectory drew, where it drew its own (a
    /// suite dataset's test trajectory): a state's energy is the Hamiltonian under them.
    pub drawn: Option<(crate::systems::suite::Suite, Vec<f64>)>,
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
        let px = data.pixels();
        let l = 2 * sys.dof();
        let (mut frames, mut labels, mut energies) = (vec![0.0; steps * px], vec![0.0; steps * l], Vec::with_capacity(steps));
        for ((s, out), label) in states.chunks(sys.sim_dim()).zip(frames.chunks_mut(px)).zip(labels.chunks_mut(l)) {
            drawer.draw(s, out);
            sys.label(s, label);
            energies.push(sys.energy(label));
        }
        Ok(Trajectory { labels, energies, frames, pixels: px, drawn: None })
    }

    /// The protocols' trajectory of `seed`: a fresh one ([`Trajectory::simulate`]), except
    /// on a suite dataset, whose trajectories each draw their own parameters, offset and
    /// colours: there it is test trajectory `seed` (modulo their number), as the benchmark
    /// scores its test split.
    pub fn for_eval(data: &PixelDataset, cfg: &EvalConfig, seed: u64, context: usize) -> Result<Self> {
        let (Some(params), SystemConfig::Suite(suite)) = (&data.trial_params, &data.config.system) else {
            return Trajectory::simulate(&data.config, cfg, seed, context);
        };
        let c = &data.config;
        let test = c.test_trials();
        if test == 0 {
            let why = "holds no test trajectories to evaluate on (make it with `generate --preset ... --test-trials N`)";
            return Err(match &data.path {
                Some(path) => Error::input(path, why),
                None => Error::setting("--data", format!("the suite dataset {why}")),
            });
        }
        let need = if context > 2 { cfg.steps.max(FIRST_SAMPLE_FRAME + cfg.frames + context - 1) } else { cfg.steps };
        if c.steps < need {
            return Err(Error::setting(
                "--steps",
                format!(
                    "a suite dataset is evaluated on its test trajectories, of {} frames here; evaluate with --frames {} --steps {} or fewer",
                    c.steps,
                    c.steps.saturating_sub(FIRST_SAMPLE_FRAME + 2 + context.saturating_sub(2)),
                    c.steps
                ),
            ));
        }
        let trial = seed as usize % test;
        let frames = (0..need).flat_map(|j| data.frame(trial, j).iter().copied()).collect();
        let labels = (0..need).flat_map(|j| data.label(trial, j)).collect();
        let energies = (0..need).map(|j| data.energy(trial, j)).collect();
        Ok(Trajectory { labels, energies, frames, pixels: data.pixels(), drawn: Some((*suite, params[trial].clone())) })
    }

    /// The energy the protocol scores at a state `(q, p)`: under the trajectory's own
    /// parameters where it drew them, else the system's.
    pub fn energy_of(&self, sys: &dyn crate::systems::System, label: &[f64]) -> f64 {
        match &self.drawn {
            Some((suite, params)) => suite.hamiltonian(params, label),
            None => sys.energy(label),
        }
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
