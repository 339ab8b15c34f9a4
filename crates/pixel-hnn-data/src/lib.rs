//! pixel-hnn's physics and data without libtorch: the systems (their fields, simulators,
//! energies, initial states and scenes, DeepMind's suite among them), the ODE integrators,
//! the seeded random source, atomic files and the HDF5 writers' shared parts, and the
//! suite's datasets. The main crate (`pixel-hnn`, on libtorch) re-exports every module
//! here under its old path (`pixel_hnn::systems`, `pixel_hnn::util::rng`, ...); the Python
//! module (`crates/pixel-hnn-py`) is built on this crate alone, so a wheel never links
//! libtorch.

pub mod choice;
pub mod error;
pub mod h5;
pub mod ode;
pub mod output;
pub mod rng;
pub mod suite_data;
pub mod systems;

pub use error::{Error, Result};
