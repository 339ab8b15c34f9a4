//! Simulation and rendering of a whole dataset, in parallel over trials. The initial states
//! are drawn in order from one seeded stream before any rendering, so the result does not
//! depend on the number of threads.

use super::{DatasetConfig, PixelDataset};
use crate::error::Result;
use crate::rng::Rng;

/// Simulates and renders `config`'s trials on `threads` threads (at least one), calling
/// `on_trial` once per finished trial (for progress bars).
pub fn generate(config: &DatasetConfig, threads: usize, on_trial: &(dyn Fn() + Sync)) -> Result<PixelDataset> {
    config.validate()?;
    let sys = config.sys();
    let d = sys.sim_dim();
    let mut rng = Rng::new(config.seed);
    let initial: Vec<Vec<f64>> = (0..config.trials).map(|_| sys.initial(&mut rng)).collect();

    let px = config.pixels();
    let per_trial = config.steps * px;
    let mut frames = vec![0.0f32; config.trials * per_trial];
    let mut states = vec![0.0f64; config.trials * config.steps * d];
    let threads = threads.clamp(1, config.trials);
    let block = config.trials.div_ceil(threads);
    // One drawer per worker, made up front so that a bad setting fails before any work.
    let drawers = (0..threads).map(|_| sys.drawer(config.render)).collect::<crate::Result<Vec<_>>>()?;
    let per_state = config.steps * d;
    let results: Vec<Result<()>> = std::thread::scope(|scope| {
        let workers: Vec<_> = frames
            .chunks_mut(block * per_trial)
            .zip(states.chunks_mut(block * per_state))
            .zip(initial.chunks(block))
            .zip(drawers)
            .map(|(((frames, states), initial), mut drawer)| {
                scope.spawn(move || -> Result<()> {
                    for ((trial_frames, trial_states), s0) in frames.chunks_mut(per_trial).zip(states.chunks_mut(per_state)).zip(initial) {
                        trial_states.copy_from_slice(&sys.simulate(s0, config.steps)?);
                        for (out, s) in trial_frames.chunks_mut(px).zip(trial_states.chunks(d)) {
                            drawer.draw(s, out);
                        }
                        on_trial();
                    }
                    Ok(())
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().expect("a generation worker panicked")).collect()
    });
    results.into_iter().collect::<Result<()>>()?;
    Ok(PixelDataset { config: config.clone(), frames, states, trial_params: None, path: None })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::systems::pendulum::{PendulumDrawer, State};
    use crate::systems::SystemConfig;

    fn small() -> DatasetConfig {
        DatasetConfig { trials: 5, steps: 12, ..DatasetConfig::default() }
    }

    #[test]
    fn thread_count_does_not_change_the_data() {
        let a = generate(&small(), 1, &|| {}).unwrap();
        let b = generate(&small(), 3, &|| {}).unwrap();
        assert_eq!(a, b);
        let c = generate(&DatasetConfig { seed: 1, ..small() }, 1, &|| {}).unwrap();
        assert_ne!(a.states, c.states);
    }

    #[test]
    fn trials_follow_the_simulator_and_frames_follow_the_states() {
        let cfg = small();
        let d = generate(&cfg, 2, &|| {}).unwrap();
        let SystemConfig::Pendulum(p) = &cfg.system else { unreachable!() };
        let mut r = PendulumDrawer::new(cfg.render, p.scene).unwrap();
        let mut f = vec![0.0; d.pixels()];
        let state = |trial, step| {
            let s = d.state(trial, step);
            State { theta: s[0], thdot: s[1] }
        };
        for trial in 0..cfg.trials {
            let d0 = state(trial, 0).deflection().abs();
            assert!(d0 > 0.0 && d0 < std::f64::consts::PI / 6.0);
            for step in 1..cfg.steps {
                assert_eq!(state(trial, step), p.physics.step(state(trial, step - 1)));
            }
            r.render(state(trial, 7).theta, &mut f);
            assert_eq!(d.frame(trial, 7), &f[..]);
        }
    }

    #[test]
    fn progress_is_reported_once_per_trial() {
        let n = std::sync::atomic::AtomicUsize::new(0);
        generate(&small(), 2, &|| {
            n.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        })
        .unwrap();
        assert_eq!(n.into_inner(), 5);
    }
}
