//! Sweeps: a grid of pixel runs (systems x models x seeds x settings) planned from a TOML
//! file into a sweep folder, run point by point on this machine or as a Slurm job array,
//! watched, resumed, and summarised in one table per system.
//!
//! | file | what |
//! |---|---|
//! | [`plan`] | the TOML grid, its validation, the sweep folder and its manifest |
//! | [`point`] | one point run: dataset (generated once, under a lock), train, evaluate, its state file |
//! | [`executor`] | `sweep run` ([`executor::run`]): the local executor (N points at a time) and the Slurm one (an sbatch job array) |
//! | [`status`] | pending, queued, running, done, diverged or failed, from the folder and `squeue`/`sacct` |
//! | [`aggregate`] | one table per system over the seeds, and the energy-ratio plot |
//!
//! A sweep folder:
//!
//! | path | what |
//! |---|---|
//! | `plan.toml` | the TOML it was planned from, as written |
//! | `manifest.json` | [`plan::Manifest`]: every point's coordinates and settings, every dataset |
//! | `datasets/SYSTEM-K.h5` | the datasets, each generated once by the first point that needs it |
//! | `points/NNNN/` | `state.json` ([`point::PointState`]), `log.txt`, and `run/`, an ordinary run folder |
//! | `slurm/` | the sbatch scripts and `submissions.json` (job id, array indices, time) |
//! | `table.md`, `energy-ratio.png` | what `sweep table` writes |

pub mod aggregate;
pub mod executor;
pub mod page;
pub mod plan;
pub mod point;
pub mod status;

pub use plan::{plan, Manifest};

/// The point folder of point `index`, relative to the sweep folder.
pub fn point_dir(sweep: &std::path::Path, index: usize) -> std::path::PathBuf {
    sweep.join("points").join(format!("{index:04}"))
}
