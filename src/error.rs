//! The library's error type. Every message names the flag or file at fault and, where it can,
//! what would fix it; `main` prints the chain on one line and exits non-zero. The data
//! crate's errors (settings, files, simulations) pass through unchanged.

use std::path::PathBuf;

pub use pixel_hnn_data::error::Error as DataError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A setting, a file or a simulation (the data crate's error, as it says it).
    #[error(transparent)]
    Data(#[from] DataError),

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
        DataError::setting(flag, message).into()
    }
    pub(crate) fn input(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        DataError::input(path, message).into()
    }
    pub(crate) fn output(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        DataError::output(path, message).into()
    }
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        DataError::io(path, source).into()
    }
    pub(crate) fn integration(what: impl Into<String>) -> impl FnOnce(crate::integrate::IntegrateError) -> Self {
        let f = DataError::integration(what);
        move |source| f(source).into()
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
        let f = DataError::hdf5(path);
        move |source| f(source).into()
    }
}
