//! The affine map from a model's latents to the true state, `(q, p) = A z + b`, through which
//! energies are read and latents are scored, on plain `f64` rows (no tensors). The main
//! crate fits it on a model's encodings; `score` and the Python module on any latents.

use serde::{Deserialize, Serialize};

use crate::stats::{least_squares, r_squared};

/// The smallest test R^2, over the coordinates, at which the affine latent -> (q, p) map is
/// taken to hold (the pendulum's is above 0.99).
pub const MAP_R2_MIN: f64 = 0.9;

/// A fit of one label coordinate: `fit(x, y, c)` gives coordinate `c`'s coefficients for the
/// latents `x` (each row with a last 1, for the bias) against its values `y`.
pub type CoordinateFit = dyn Fn(&[Vec<f64>], &[f64], usize) -> Vec<f64>;

/// An affine map from latents to labels, fitted coordinate by coordinate.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LatentMap {
    /// `[2 dof][latent_dim + 1]`: each row `(a_1 .. a_d, b)`.
    pub rows: Vec<Vec<f64>>,
    /// Coefficient of determination of each label coordinate (the `q`s, then the `p`s) on
    /// the training set and on the test set.
    pub r2_train: Vec<f64>,
    pub r2_test: Vec<f64>,
}

impl LatentMap {
    /// Fits latents `train_z` to their labels `train_l` by exact least squares and scores
    /// R^2 on both sets.
    pub fn fit_lstsq(train_z: &[Vec<f64>], train_l: &[Vec<f64>], test_z: &[Vec<f64>], test_l: &[Vec<f64>]) -> Self {
        Self::fit_with(train_z, train_l, test_z, test_l, &|x, y, _| least_squares(x, y))
    }

    /// The same with another fit of each coordinate.
    pub fn fit_with(train_z: &[Vec<f64>], train_l: &[Vec<f64>], test_z: &[Vec<f64>], test_l: &[Vec<f64>], fit: &CoordinateFit) -> Self {
        let aug = |z: &[Vec<f64>]| z.iter().map(|r| r.iter().copied().chain([1.0]).collect()).collect::<Vec<Vec<f64>>>();
        let (ztr, zte) = (aug(train_z), aug(test_z));
        let l = train_l.first().map_or(0, |r| r.len());
        let rows: Vec<Vec<f64>> = (0..l)
            .map(|c| {
                let y: Vec<f64> = train_l.iter().map(|r| r[c]).collect();
                fit(&ztr, &y, c)
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

    #[test]
    fn an_exact_affine_map_is_recovered_and_holds() {
        let z: Vec<Vec<f64>> = (0..20).map(|i| vec![i as f64 * 0.1, (i * i % 7) as f64]).collect();
        let l: Vec<Vec<f64>> = z.iter().map(|r| vec![2.0 * r[0] - r[1] + 0.5, 0.25 * r[1]]).collect();
        let m = LatentMap::fit_lstsq(&z, &l, &z, &l);
        for (row, want) in m.rows.iter().zip([[2.0, -1.0, 0.5], [0.0, 0.25, 0.0]]) {
            for (a, b) in row.iter().zip(want) {
                assert!((a - b).abs() < 1e-10, "{row:?}");
            }
        }
        assert!(m.holds() && (m.worst_r2() - 1.0).abs() < 1e-12);
        assert!((m.apply(&[1.0, 2.0])[0] - 0.5).abs() < 1e-10);
        // Latents that carry nothing of the label: no map holds.
        let noise: Vec<Vec<f64>> = (0..20).map(|i| vec![((i * 37) % 11) as f64, 1.0]).collect();
        let l2: Vec<Vec<f64>> = (0..20).map(|i| vec![(i % 2) as f64, ((i / 2) % 2) as f64]).collect();
        assert!(!LatentMap::fit_lstsq(&noise[..10], &l2[..10], &noise[10..], &l2[10..]).holds());
    }
}
