//! Small numerics without tensors, shared by the scoring here and in the main crate:
//! quartiles (numpy's interpolation), least squares by the normal equations, and the
//! coefficient of determination.

/// The first quartile, median and third quartile (linear interpolation between order
/// statistics, numpy's default).
pub fn quartiles(values: &[f64]) -> (f64, f64, f64) {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let at = |q: f64| {
        if v.is_empty() {
            return f64::NAN;
        }
        let pos = q * (v.len() - 1) as f64;
        let (i, f) = (pos.floor() as usize, pos - pos.floor());
        if i + 1 < v.len() {
            v[i] + f * (v[i + 1] - v[i])
        } else {
            v[i]
        }
    };
    (at(0.25), at(0.5), at(0.75))
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
    fn quartiles_and_r_squared_on_known_values() {
        assert_eq!(quartiles(&[4.0, 1.0, 3.0, 2.0]), (1.75, 2.5, 3.25));
        assert_eq!(r_squared(&[1.0, 2.0, 3.0], &[1.0, 2.0, 3.0]), 1.0);
        assert_eq!(r_squared(&[1.0, 2.0, 3.0], &[2.0, 2.0, 2.0]), 0.0);
    }
}
