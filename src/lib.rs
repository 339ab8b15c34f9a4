//! pixel-hnn: the pixel-pendulum experiment of "Hamiltonian Neural Networks" (Greydanus,
//! Dzamba, Yosinski, NeurIPS 2019), as a Rust pipeline on libtorch.
//!
//! One module per pipeline stage:
//! - [`physics`]: the classic-control pendulum the frames come from;
//! - [`render`]: states to preprocessed frames;
//! - [`dataset`]: generate, store (HDF5) and load the pixel dataset;
//! - [`preview`]: contact sheets of a dataset;
//! - [`bench`]: speed figures.
//!
//! [`cli`] turns the command line into configs; [`output`] writes files atomically.

pub mod bench;
pub mod cli;
pub mod dataset;
pub mod error;
pub mod output;
pub mod physics;
pub mod preview;
pub mod progress;
pub mod render;
pub mod rng;

pub use error::{Error, Result};
