//! Made-up sweeps for timing and testing the sweep's table: done points with figures drawn
//! from a seed, planned as a real sweep.

use std::path::Path;

use crate::error::{Error, Result};
use crate::model::FieldKind;
use crate::report::figures::{Figures, Protocol};
use crate::run::JsonFile;
use crate::sweep::plan::Manifest;
use crate::sweep::point::{PointState, State};
use crate::systems::SystemKind;
use crate::util::choice::Choice;

/// Made-up figures of one member: the given energy error and worst map R^2, the HNN a little
/// better than the baseline elsewhere (pixel MSE 1 against 2, valid prediction time 15
/// frames against 10).
pub fn made_up_member(model: FieldKind, seed: u64, energy: f64, r2: f64) -> Figures {
    let hnn = model == FieldKind::Hnn;
    Figures {
        train_loss: Some(1e-3),
        test_loss: Some(1e-3),
        energy_mse: Some(energy),
        energy_mse_seeds_mean: Some(energy),
        pixel_mse: Some(if hnn { 1.0 } else { 2.0 }),
        valid_prediction_time_mean: Some(if hnn { 15.0 } else { 10.0 }),
        learned_h_variation: hnn.then_some(0.1),
        latent_map_worst_r2: Some(r2),
        ..Figures::new(Path::new("made-up"), "made-up", model.name(), Protocol::Paper, Some(seed))
    }
}

/// A sweep folder at `out` of done points with made-up figures, for measuring and testing
/// the table: every system x both models x `seeds` training seeds, planned as a real sweep,
/// each point's `state.json` written with errors drawn from `rng_seed` (uniform in 1e-4 ..
/// 1e-2). Replaces a sweep folder already at `out`.
pub fn synthetic(out: &Path, seeds: usize, rng_seed: u64) -> Result<Manifest> {
    let toml = out.with_extension("toml");
    let systems: Vec<String> = SystemKind::ALL.iter().map(|s| format!("\"{}\"", s.name())).collect();
    let seeds: Vec<String> = (0..seeds).map(|s| s.to_string()).collect();
    let text = format!("[grid]\nsystem = [{}]\nmodel = [\"hnn\", \"baseline\"]\nseed = [{}]\n", systems.join(", "), seeds.join(", "));
    if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
    }
    std::fs::write(&toml, text).map_err(|e| Error::io(&toml, e))?;
    let m = crate::sweep::plan(&toml, out, true);
    let _ = std::fs::remove_file(&toml);
    let m = m?;
    let mut rng = crate::util::rng::Rng::new(rng_seed);
    for p in &m.points {
        let mut e = || rng.uniform(1e-4, 1e-2);
        let (train_loss, test_loss, energy, seeds_mean, pixel) = (e(), e(), e(), e(), e());
        let figures = Figures {
            train_loss: Some(train_loss),
            test_loss: Some(test_loss),
            energy_mse_seeds_mean: Some(seeds_mean),
            pixel_mse: Some(pixel),
            ..made_up_member(p.train.models[0], p.train.seeds[0], energy, 0.99)
        };
        let st = PointState {
            state: State::Done,
            host: "synthetic".into(),
            pid: 0,
            slurm_job: None,
            started: 0.0,
            seconds: Some(60.0),
            error: None,
            members: vec![figures],
            diverged: vec![],
        };
        st.save(&crate::sweep::point_dir(out, p.index))?;
    }
    Ok(m)
}
