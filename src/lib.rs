//! pixel-hnn: the pixel-pendulum experiment of "Hamiltonian Neural Networks" (Greydanus,
//! Dzamba, Yosinski, NeurIPS 2019), as a Rust pipeline on libtorch.
//!
//! One module per pipeline stage:
//! - [`physics`]: the classic-control pendulum the frames come from;
//! - [`render`]: states to preprocessed frames;
//! - [`dataset`]: generate, store (HDF5) and load the pixel dataset;
//! - [`preview`]: contact sheets of a dataset;
//! - [`model`]: the autoencoder and the latent fields (HNN, baseline);
//! - [`train`]: joint training, run folders, checkpoints ([`optim`]: Adam);
//! - [`bench`]: speed figures.
//!
//! [`cli`] turns the command line into configs; [`output`] writes files atomically;
//! [`plot`] draws PNG plots; [`device`] picks CPU or CUDA.

pub mod bench;
pub mod cli;
pub mod coords;
pub mod dataset;
pub mod device;
pub mod error;
pub mod evaluate;
pub mod integrate;
pub mod model;
pub mod optim;
pub mod output;
pub mod physics;
pub mod plot;
pub mod preview;
pub mod progress;
pub mod render;
pub mod report;
pub mod rng;
pub mod rollout;
pub mod train;

pub use error::{Error, Result};
