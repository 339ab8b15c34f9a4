//! pixel-hnn's physics and data without libtorch: the systems (their fields, simulators,
//! energies, initial states and scenes, DeepMind's suite among them), the ODE integrators,
//! the seeded random source, atomic files and the HDF5 writers' shared parts, the
//! suite's datasets, and the scoring of any model's predicted frames (pixel MSE, both
//! valid prediction times, the affine latent map, SyMetric). The main crate (`pixel-hnn`, on libtorch) re-exports every module
//! here under its old path (`pixel_hnn::systems`, `pixel_hnn::util::rng`, ...); the Python
//! module (`crates/pixel-hnn-py`) is built on this crate alone, so a wheel never links
//! libtorch.

pub mod choice;
pub mod dataset;
pub mod error;
pub mod h5;
pub mod latent_map;
pub mod ode;
pub mod output;
pub mod rng;
pub mod scoring;
pub mod stats;
pub mod suite_data;
pub mod symetric;
pub mod systems;

pub use error::{Error, Result};
