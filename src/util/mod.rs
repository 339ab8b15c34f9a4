//! Helpers every stage uses, depending on no stage: [`rng`] (the one seeded random source),
//! [`stats`], [`choice`] (named choices of flags), [`output`] (atomic files), [`progress`],
//! [`plot`] (line plots, heatmaps, label strips), [`tensorboard`] (event files), and
//! [`adam`] (the optimiser that training, the latent map's fit and the coordinate tasks
//! share).

pub mod adam;
pub mod choice;
pub mod plot;
pub mod progress;
pub mod stats;
pub mod tensorboard;

pub mod output;
pub use pixel_hnn_data::rng;
