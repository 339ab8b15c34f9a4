//! The affine map from a model's latents to the true state ([`LatentMap`]), fitted on the
//! training set, through which energies are read.

use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor};

use super::{MapFit, MAP_R2_MIN};
use crate::dataset::Pairs;
use crate::model::Model;
use crate::util::adam::{Adam, AdamConfig};
use crate::util::rng::Rng;
use crate::util::stats::{least_squares, r_squared};

/// An affine map from latents to labels, `(q, p) = A z + b`, fitted by least squares.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LatentMap {
    /// `[2 dof][latent_dim + 1]`: each row `(a_1 .. a_d, b)`.
    pub rows: Vec<Vec<f64>>,
    /// Coefficient of determination of each label coordinate (the `q`s, then the `p`s) on
    /// the training set and on the test set.
    pub r2_train: Vec<f64>,
    pub r2_test: Vec<f64>,
}

/// Rows a convolutional encoder encodes at once (its activations are ~100 times the MLP's).
pub(super) const CONV_ENCODE_CHUNK: i64 = 256;

pub(super) fn encode_all(model: &Model, x: &Tensor) -> Vec<Vec<f64>> {
    let x = x.to_device(model.vs.device());
    let encode = |x: &Tensor| tch::no_grad(|| model.ae.encode(x));
    let z = if model.config.arch.encoder == crate::model::EncoderKind::Conv {
        let n = x.size()[0];
        let parts: Vec<Tensor> =
            (0..n).step_by(CONV_ENCODE_CHUNK as usize).map(|i| encode(&x.narrow(0, i, CONV_ENCODE_CHUNK.min(n - i)))).collect();
        Tensor::cat(&parts, 0)
    } else {
        encode(&x)
    };
    let z = z.to_device(Device::Cpu).to_kind(Kind::Double);
    let d = z.size()[1] as usize;
    let flat: Vec<f64> = Vec::try_from(z.view([-1])).expect("latents");
    flat.chunks(d).map(|c| c.to_vec()).collect()
}

pub(super) fn labels_of(t: &Tensor) -> Vec<Vec<f64>> {
    let l = t.size()[1] as usize;
    let flat: Vec<f64> = Vec::try_from(t.to_kind(Kind::Double).view([-1])).expect("labels");
    flat.chunks(l).map(|c| c.to_vec()).collect()
}

/// Least squares by Adam on random batches (the reference's way of fitting the map), with
/// the project's one Adam ([`crate::util::adam::Adam`]) in f64.
pub(super) fn adam_fit(x: &[Vec<f64>], y: &[f64], steps: usize, batch: usize, lr: f64, seed: u64) -> Vec<f64> {
    let (n, k) = (x.len(), x[0].len());
    let xt = Tensor::from_slice(&x.concat()).view([n as i64, k as i64]);
    let yt = Tensor::from_slice(y);
    let w = Tensor::zeros([k as i64], (Kind::Double, Device::Cpu)).set_requires_grad(true);
    let mut adam = Adam::new(vec![("w".into(), w.shallow_clone())], AdamConfig { lr, weight_decay: 0.0, ..AdamConfig::default() });
    let mut rng = Rng::new(seed);
    let batch = batch.min(n);
    for _ in 0..steps {
        let idx = Tensor::from_slice(&rng.distinct(n, batch));
        let err = xt.index_select(0, &idx).mv(&w) - yt.index_select(0, &idx);
        let loss = err.square().mean(None::<Kind>);
        adam.zero_grad();
        loss.backward();
        adam.step();
    }
    Vec::try_from(w.detach()).expect("coefficients")
}

impl LatentMap {
    /// Fits on `train` and scores R^2 on `train` and `test` (the dataset's pairs).
    pub fn fit(model: &Model, train: &Pairs, test: &Pairs, how: MapFit) -> Self {
        let (ztr, zte) = (encode_all(model, &train.x), encode_all(model, &test.x));
        LatentMap::fit_latents(&ztr, &labels_of(&train.labels), &zte, &labels_of(&test.labels), how)
    }

    /// Fits latents `train_z` to their labels `train_l` and scores R^2 on both sets.
    pub fn fit_latents(train_z: &[Vec<f64>], train_l: &[Vec<f64>], test_z: &[Vec<f64>], test_l: &[Vec<f64>], how: MapFit) -> Self {
        let aug = |z: &[Vec<f64>]| z.iter().map(|r| r.iter().copied().chain([1.0]).collect()).collect::<Vec<Vec<f64>>>();
        let (ztr, zte) = (aug(train_z), aug(test_z));
        let l = train_l.first().map_or(0, |r| r.len());
        let rows: Vec<Vec<f64>> = (0..l)
            .map(|c| {
                let y: Vec<f64> = train_l.iter().map(|r| r[c]).collect();
                match how {
                    MapFit::Lstsq => least_squares(&ztr, &y),
                    MapFit::Adam => adam_fit(&ztr, &y, 4001, 400, 1e-2, c as u64),
                }
            })
            .collect();
        let r2 = |z: &[Vec<f64>], labels: &[Vec<f64>]| -> Vec<f64> {
            (0..l)
                .map(|c| {
                    let observed: Vec<f64> = labels.iter().map(|v| v[c]).collect();
                    let predicted: Vec<f64> = z.iter().map(|zr| zr.iter().zip(&rows[c]).map(|(a, b)| a * b).sum()).collect();
                    r_squared(&observed, &predicted)
                })
                .collect()
        };
        let (r2_train, r2_test) = (r2(&ztr, train_l), r2(&zte, test_l));
        LatentMap { rows, r2_train, r2_test }
    }

    /// The `(q, p)` the map gives a latent.
    pub fn apply(&self, z: &[f64]) -> Vec<f64> {
        self.rows.iter().map(|r| z.iter().zip(r).map(|(a, b)| a * b).sum::<f64>() + r[z.len()]).collect()
    }

    /// The smallest test R^2 over the coordinates.
    pub fn worst_r2(&self) -> f64 {
        self.r2_test.iter().copied().fold(f64::INFINITY, f64::min)
    }

    /// Whether an affine map holds (every coordinate's test R^2 at least [`MAP_R2_MIN`]), so
    /// that the energy through it means something.
    pub fn holds(&self) -> bool {
        self.worst_r2() >= MAP_R2_MIN
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::util::rng::Rng;
    use crate::util::stats::least_squares;

    #[test]
    fn the_adam_fit_approaches_the_least_squares_solution() {
        let mut rng = Rng::new(9);
        let x: Vec<Vec<f64>> = (0..2000).map(|_| vec![rng.uniform(-1.0, 1.0), rng.uniform(-1.0, 1.0), 1.0]).collect();
        let y: Vec<f64> = x.iter().map(|r| 0.3 * r[0] - 0.2 * r[1] + 0.05 + 0.01 * rng.uniform(-1.0, 1.0)).collect();
        let exact = least_squares(&x, &y);
        let adam = adam_fit(&x, &y, 4001, 400, 1e-2, 0);
        for (a, b) in adam.iter().zip(&exact) {
            assert!((a - b).abs() < 2e-3, "adam {adam:?} vs least squares {exact:?}");
        }
    }
}
