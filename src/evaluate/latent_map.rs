//! The affine map from a model's latents to the true state ([`LatentMap`], in the data
//! crate), fitted here on the training set's encodings, through which energies are read.

use tch::{Device, Kind, Tensor};

use super::MapFit;
use crate::dataset::Pairs;
use crate::model::Model;
use crate::util::adam::{Adam, AdamConfig};
use crate::util::rng::Rng;

pub use pixel_hnn_data::latent_map::LatentMap;

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

/// Fits the affine map of `model`'s latents on `train` and scores R^2 on `train` and `test`
/// (the dataset's pairs).
pub fn fit_map(model: &Model, train: &Pairs, test: &Pairs, how: MapFit) -> LatentMap {
    let (ztr, zte) = (encode_all(model, &train.x), encode_all(model, &test.x));
    fit_latents(&ztr, &labels_of(&train.labels), &zte, &labels_of(&test.labels), how)
}

/// Fits latents `train_z` to their labels `train_l` and scores R^2 on both sets.
pub fn fit_latents(train_z: &[Vec<f64>], train_l: &[Vec<f64>], test_z: &[Vec<f64>], test_l: &[Vec<f64>], how: MapFit) -> LatentMap {
    match how {
        MapFit::Lstsq => LatentMap::fit_lstsq(train_z, train_l, test_z, test_l),
        MapFit::Adam => LatentMap::fit_with(train_z, train_l, test_z, test_l, &|x, y, c| adam_fit(x, y, 4001, 400, 1e-2, c as u64)),
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
