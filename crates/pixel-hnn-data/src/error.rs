//! The data crate's error type. Every message names the flag or file at fault and, where it
//! can, what would fix it. The main crate's error wraps it unchanged.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A setting is out of range. `flag` is the command-line flag that sets it (config fields
    /// and flags share their names, `max_angle` <-> `--max-angle`).
    #[error("{flag}: {message}")]
    InvalidSetting { flag: &'static str, message: String },

    /// An output path that may not be written.
    #[error("{}: {message}", path.display())]
    Output { path: PathBuf, message: String },

    /// An input file that is missing, unreadable, or not what it should be.
    #[error("{}: {message}", path.display())]
    Input { path: PathBuf, message: String },

    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },

    #[error("{}: HDF5: {source}", path.display())]
    Hdf5 { path: PathBuf, source: hdf5::Error },

    #[error("{}: {source}", path.display())]
    Image { path: PathBuf, source: image::ImageError },

    /// An integration that could not be carried out (a rollout, a simulation).
    #[error("{what}: {source}")]
    Integration { what: String, source: crate::ode::IntegrateError },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn setting(flag: &'static str, message: impl Into<String>) -> Self {
        Error::InvalidSetting { flag, message: message.into() }
    }
    pub fn input(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Error::Input { path: path.into(), message: message.into() }
    }
    pub fn output(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Error::Output { path: path.into(), message: message.into() }
    }
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { path: path.into(), source }
    }
    pub fn integration(what: impl Into<String>) -> impl FnOnce(crate::ode::IntegrateError) -> Self {
        let what = what.into();
        move |source| Error::Integration { what, source }
    }
    pub fn hdf5(path: impl Into<PathBuf>) -> impl FnOnce(hdf5::Error) -> Self {
        let path = path.into();
        move |source| Error::Hdf5 { path, source }
    }
}
