//! The integration tests, one binary (one link of the crate and libtorch instead of one a
//! file): the real `pixel-hnn` binary through its commands, the library against reference
//! fixtures and peers, and the house's rules. `common` holds the helpers they share.

mod common;

mod adam_reference;
mod cli;
mod coords_cli;
mod ensemble_cli;
mod frames_cli;
mod h5py_readback;
mod house;
mod pipeline_cli;
mod quickstart;
mod reference_fixtures;
mod rollout_cli;
mod rollout_peer;
mod score_cli;
mod slurm;
mod suite_cli;
mod suite_fixture;
mod suite_train;
mod sweep_cli;
mod systems_cli;
mod train_cli;
