//! pixel-hnn: the pixel-pendulum experiment of "Hamiltonian Neural Networks" (Greydanus,
//! Dzamba, Yosinski, NeurIPS 2019), as a Rust pipeline on libtorch, for the pendulum and
//! the other systems later work compares on.
//!
//! One module per pipeline stage, lower floors first:
//! - [`systems`]: the physical systems (the classic-control pendulum, a spring, two bodies,
//!   a double pendulum): fields, simulators, energies, scenes;
//! - [`render`]: a system's scene to preprocessed frames;
//! - [`dataset`]: generate, store (HDF5) and load the pixel dataset;
//! - [`preview`]: contact sheets of a dataset;
//! - [`model`]: the autoencoder and the latent fields (HNN, baseline);
//! - [`train`]: the one training loop ([`optim`]: Adam); [`ensemble`]: K seeds trained at
//!   once; [`stacked`] and [`cpu_step`]: the hand-written gradient (libtorch ops, raw CPU
//!   buffers); [`cuda_graphs`]: the whole step as one CUDA graph;
//! - [`integrate`]: ODE integrators; [`evaluate`]: rollouts and the paper's metrics;
//! - [`coords`]: the coordinate-space tasks (Table 1 rows 1-4);
//! - [`run`]: the run folder, every file in it typed;
//! - [`rollout`]: pictures of the learned dynamics; [`report`]: REPORT.md;
//! - [`paper`]: the paper's numbers; [`table`]: Table 1 from run folders;
//! - [`pipeline`]: the commands as library functions (`demo` among them);
//! - [`sweep`]: grids of runs, on this machine or as a Slurm job array, and their table;
//! - [`bench`]: speed figures.
//!
//! [`cli`] turns the command line into configs and calls [`pipeline`]; [`output`] writes
//! files atomically; [`plot`] draws PNG plots; [`device`] picks CPU or CUDA and threads;
//! [`stats`] holds the small statistics; [`rng`] the one seeded random source.

pub mod bench;
pub mod choice;
pub mod cli;
pub mod coords;
pub mod dataset;
pub mod error;
pub mod evaluate;
pub mod integrate;
pub mod model;
pub mod output;
pub mod pipeline;
pub mod plot;
pub mod progress;
pub mod report;
pub mod rng;
pub mod run;
pub mod runtime;
pub mod stats;
pub mod sweep;
pub mod systems;
pub mod training;

pub use error::{Error, Result};
