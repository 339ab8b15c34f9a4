//! The library's error type. Every message names the flag or file at fault and, where it can,
//! what would fix it; `main` prints the chain on one line and exits non-zero.

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
    Integration { what: String, source: crate::integrate::IntegrateError },

    /// A plot or picture that could not be drawn (the drawing's error, as it says it).
    #[error("{}: {message}", path.display())]
    Plot { path: PathBuf, message: String },

    /// A checkpoint whose optimiser state does not fit the model.
    #[error("{}: {message}", path.display())]
    Optim { path: PathBuf, message: String },

    /// A non-finite loss: training stopped, the last good checkpoint is kept.
    #[error("training of the {model} model diverged at step {step} (loss = {loss}); {kept}; try a lower --lr")]
    Diverged { model: &'static str, step: usize, loss: f64, kept: String },

    #[error("libtorch: {0}")]
    Torch(#[from] tch::TchError),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn setting(flag: &'static str, message: impl Into<String>) -> Self {
        Error::InvalidSetting { flag, message: message.into() }
    }
    pub(crate) fn input(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Error::Input { path: path.into(), message: message.into() }
    }
    pub(crate) fn output(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Error::Output { path: path.into(), message: message.into() }
    }
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { path: path.into(), source }
    }
    pub(crate) fn integration(what: impl Into<String>) -> impl FnOnce(crate::integrate::IntegrateError) -> Self {
        let what = what.into();
        move |source| Error::Integration { what, source }
    }
    /// A drawing's error (any that displays itself) at `path`: the error type stays the
    /// drawing code's, so this module depends on no stage.
    pub(crate) fn plot<E: std::fmt::Display>(path: impl Into<PathBuf>) -> impl FnOnce(E) -> Self {
        let path = path.into();
        move |source| Error::Plot { path, message: source.to_string() }
    }
    /// An optimiser state that does not fit, read from the checkpoint `path`.
    pub(crate) fn optim<E: std::fmt::Display>(path: impl Into<PathBuf>) -> impl FnOnce(E) -> Self {
        let path = path.into();
        move |source| Error::Optim { path, message: source.to_string() }
    }
    pub(crate) fn hdf5(path: impl Into<PathBuf>) -> impl FnOnce(hdf5::Error) -> Self {
        let path = path.into();
        move |source| Error::Hdf5 { path, source }
    }
}
