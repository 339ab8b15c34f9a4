//! Small statistics shared by the stages: mean and standard error, least squares, the
//! coefficient of determination, and a file's SHA-256.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::Path;

use crate::error::{Error, Result};

/// Mean and standard error of a set of values (per-sample losses, energy errors).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct MeanSem {
    pub mean: f64,
    pub sem: f64,
    pub n: usize,
}

impl MeanSem {
    /// Population standard deviation over sqrt(n), as the reference's `np.std(x) / sqrt(n)`.
    pub fn of(values: &[f64]) -> Self {
        let n = values.len();
        let mean = values.iter().sum::<f64>() / n as f64;
        let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n as f64;
        MeanSem { mean, sem: var.sqrt() / (n as f64).sqrt(), n }
    }

    /// The population standard deviation the s.e.m. was made from.
    pub fn std(&self) -> f64 {
        self.sem * (self.n as f64).sqrt()
    }
}

/// Least-squares coefficients `w` minimising `sum (x_i . w - y_i)^2`, by the normal
/// equations (small and dense: Gaussian elimination with partial pivoting). A column that
/// is all zeros gets coefficient 0.
pub fn least_squares(x: &[Vec<f64>], y: &[f64]) -> Vec<f64> {
    let k = x[0].len();
    let mut m = vec![vec![0.0; k + 1]; k];
    for (row, &t) in x.iter().zip(y) {
        for i in 0..k {
            for j in 0..k {
                m[i][j] += row[i] * row[j];
            }
            m[i][k] += row[i] * t;
        }
    }
    for c in 0..k {
        let p = (c..k).max_by(|&a, &b| m[a][c].abs().total_cmp(&m[b][c].abs())).unwrap();
        m.swap(c, p);
        let pivot = m[c].clone();
        for (r, row) in m.iter_mut().enumerate() {
            if r != c && pivot[c] != 0.0 {
                let f = row[c] / pivot[c];
                for (a, b) in row[c..].iter_mut().zip(&pivot[c..]) {
                    *a -= f * b;
                }
            }
        }
    }
    (0..k).map(|i| if m[i][i] != 0.0 { m[i][k] / m[i][i] } else { 0.0 }).collect()
}

/// Coefficient of determination of `predicted` against `observed`: `1 - SS_res / SS_tot`.
pub fn r_squared(observed: &[f64], predicted: &[f64]) -> f64 {
    let mean = observed.iter().sum::<f64>() / observed.len() as f64;
    let (mut res, mut tot) = (0.0, 0.0);
    for (o, p) in observed.iter().zip(predicted) {
        res += (o - p).powi(2);
        tot += (o - mean).powi(2);
    }
    1.0 - res / tot
}

/// SHA-256 of a file, as lowercase hex.
pub fn sha256_file(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    Ok(format!("{:x}", Sha256::digest(&bytes)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    #[test]
    fn least_squares_recovers_an_exact_affine_map() {
        let mut rng = Rng::new(4);
        let x: Vec<Vec<f64>> = (0..50).map(|_| vec![rng.uniform(-1.0, 1.0), rng.uniform(-2.0, 2.0), 1.0]).collect();
        let y: Vec<f64> = x.iter().map(|r| 0.7 * r[0] - 1.3 * r[1] + 0.25).collect();
        let w = least_squares(&x, &y);
        for (a, b) in w.iter().zip([0.7, -1.3, 0.25]) {
            assert!((a - b).abs() < 1e-12, "{w:?}");
        }
    }

    #[test]
    fn mean_sem_and_r_squared_on_known_values() {
        let m = MeanSem::of(&[1.0, 2.0, 3.0, 4.0]);
        assert_eq!(m.mean, 2.5);
        // population variance 1.25, sem = sqrt(1.25) / 2
        assert!((m.sem - 1.25f64.sqrt() / 2.0).abs() < 1e-15);
        assert!((m.std() - 1.25f64.sqrt()).abs() < 1e-15);
        assert_eq!(r_squared(&[1.0, 2.0, 3.0], &[1.0, 2.0, 3.0]), 1.0);
        // predicting the mean explains nothing
        assert_eq!(r_squared(&[1.0, 2.0, 3.0], &[2.0, 2.0, 2.0]), 0.0);
    }
}
