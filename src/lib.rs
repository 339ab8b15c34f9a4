//! pixel-hnn: the pixel-pendulum experiment of "Hamiltonian Neural Networks" (Greydanus,
//! Dzamba, Yosinski, NeurIPS 2019), as a Rust pipeline on libtorch, for the pendulum and
//! the other systems later work compares on.
//!
//! One folder per floor, lower floors first (each imports only from those below it; the
//! test `tests/house.rs` holds that no files import each other in a circle):
//! - [`util`]: helpers every stage uses (the one seeded random source, statistics, named
//!   choices, atomic files, progress, plots, TensorBoard events, Adam); [`error`]; [`paper`]
//!   (the paper's numbers);
//! - [`runtime`]: CPU or CUDA, threads, CUDA graphs;
//! - [`systems`]: the physical systems (the classic-control pendulum, a spring, two bodies,
//!   a double pendulum, and DeepMind's suite's four): fields, simulators, energies, scenes,
//!   and the renderers; [`integrate`]: the learned models' steps, and the ODE integrators.
//!   These, the random source, named choices and atomic files live in the data crate
//!   (`crates/pixel-hnn-data`, no libtorch, under the Python module) and are re-exported
//!   here under these paths;
//! - [`dataset`]: generate, store (HDF5), load and preview the pixel dataset;
//! - [`model`]: the model families (one file each), the one declaration of a model's
//!   parameters, the autoencoder and latent fields, the hand-written training step;
//! - [`training`]: the one training loop, its config, the members of a family trained at
//!   once;
//! - [`evaluate`]: rollouts, the paper's metrics and pictures; [`coords`]: the
//!   coordinate-space tasks (Table 1 rows 1-4);
//! - [`run`]: the run folder, every file in it typed;
//! - [`report`]: REPORT.md and Table 1 from run folders;
//! - [`pipeline`]: the commands as library functions (`demo` among them); [`sweep`]: grids
//!   of runs, on this machine or as a Slurm job array, and their table;
//! - [`bench`]: speed figures, and the made-up sweeps they time;
//! - [`cli`]: flags -> configs -> one library call -> a printed summary.

pub mod bench;
pub mod cli;
pub mod coords;
pub mod dataset;
pub mod error;
pub mod evaluate;
pub mod integrate;
pub mod model;
pub mod paper;
pub mod pipeline;
pub mod report;
pub mod run;
pub mod runtime;
pub mod sweep;
pub use pixel_hnn_data::systems;
pub mod training;
pub mod util;

pub use error::{Error, Result};
