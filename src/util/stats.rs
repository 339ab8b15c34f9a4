//! Small statistics shared by the stages: mean and standard error, least squares, the
//! coefficient of determination, and a file's SHA-256.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::Path;

use crate::error::{Error, Result};
pub use pixel_hnn_data::stats::{least_squares, quartiles, r_squared};

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

/// Resamples of the bootstrap behind [`Interval`].
pub const BOOTSTRAP_RESAMPLES: usize = 2000;

/// The mean of a set of values (an ensemble's members) with its 95% interval, and the
/// median. The interval is the percentile bootstrap of the mean: the 2.5% and 97.5% points
/// of the means of [`BOOTSTRAP_RESAMPLES`] resamples with replacement (seeded, so the same
/// values give the same interval). Unlike `mean +- t s / sqrt(n)` it stays within the
/// values' range, which matters for energy errors spread over decades.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    pub mean: f64,
    pub lo: f64,
    pub hi: f64,
    pub median: f64,
    pub n: usize,
}

impl Interval {
    /// Over the finite `values` (a member that diverged contributes none). With fewer than
    /// two values the interval is the value itself.
    pub fn of(values: &[f64]) -> Self {
        let v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
        let n = v.len();
        if n == 0 {
            return Interval { mean: f64::NAN, lo: f64::NAN, hi: f64::NAN, median: f64::NAN, n };
        }
        let mean = v.iter().sum::<f64>() / n as f64;
        let (lo, hi) = if n < 2 {
            (mean, mean)
        } else {
            let mut rng = crate::util::rng::Rng::new(0x5eed);
            let mut means: Vec<f64> = (0..BOOTSTRAP_RESAMPLES).map(|_| (0..n).map(|_| v[rng.below(n)]).sum::<f64>() / n as f64).collect();
            means.sort_by(f64::total_cmp);
            let at = |q: f64| means[((q * (BOOTSTRAP_RESAMPLES - 1) as f64).round() as usize).min(BOOTSTRAP_RESAMPLES - 1)];
            (at(0.025), at(0.975))
        };
        Interval { mean, lo, hi, median: quartiles(&v).1, n }
    }
}

/// SHA-256 of a file, as lowercase hex.
pub fn sha256_file(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    Ok(format!("{:x}", Sha256::digest(&bytes)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_cover_the_mean_as_the_normal_theory_says_and_stay_in_range() {
        let i = Interval::of(&[1.0, 2.0, 3.0, 4.0, 5.0, f64::NAN]);
        assert_eq!((i.mean, i.median, i.n), (3.0, 3.0, 5));
        // For 5 evenly spread values the bootstrap interval of the mean is close to the
        // normal one, 3 +- 1.96 sqrt(2) / sqrt(5) = [1.76, 4.24] (the percentile bootstrap
        // is a little narrower at small n).
        assert!(i.lo > 1.6 && i.lo < 2.1 && i.hi > 3.9 && i.hi < 4.4, "{i:?}");
        assert_eq!(Interval::of(&[1.0, 2.0, 3.0, 4.0, 5.0]), i, "seeded: same values, same interval");
        // Skewed values (energy errors): the interval stays inside their range.
        let skew = Interval::of(&[1e-4, 2e-4, 1e-4, 3e-4, 5e-2]);
        assert!(skew.lo >= 1e-4 && skew.hi <= 5e-2 && skew.lo < skew.mean && skew.mean < skew.hi, "{skew:?}");
        assert_eq!(quartiles(&[4.0, 1.0, 3.0, 2.0]), (1.75, 2.5, 3.25));
        let one = Interval::of(&[7.0]);
        assert_eq!((one.lo, one.hi), (7.0, 7.0));
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
