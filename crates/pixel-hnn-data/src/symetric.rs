//! The latent metrics of DeepMind's benchmark ("Which priors matter? Benchmarking models
//! for learning latent dynamics", Botev et al., NeurIPS 2021 datasets track; their
//! `physics_inspired_models/eval_metric.py` and the VPT of `jaxline_train.py`), on plain
//! `f64` values: no tensors, so every number here has an exact test.
//!
//! - [`PolyMap`]: a polynomial map from a latent `z` (dimension `d`: `q` the first half,
//!   `p` the second) to the true state `s` (dimension `m`: `q` then `p`), all monomials
//!   of total degree `<= order`, fitted by least squares, with its analytic Jacobian.
//! - [`Symplecticity`]: whether the map's Jacobian `J` (`m x d`) keeps the symplectic
//!   structure up to a constant factor: `J Omega_d J^T = c Omega_m`.
//! - [`symetric`]: the map of the lowest sufficient order, its test R^2 per coordinate and
//!   the symplecticity test, as one [`Symetric`] summary (DeepMind's SyMetric is 1 when
//!   both hold: [`Symetric::holds`]).
//! - [`vpt`]: the valid prediction time of a rollout of frames.
//! - [`Region`]: the region of the training latents, and the first rollout point that
//!   leaves it.
//!
//! Where this differs from DeepMind's code, and why:
//! - **Fit.** DeepMind fits Lasso (alpha chosen by 2-fold cross-validation) and stops at
//!   the first order whose in-sample R^2, averaged over the coordinates, reaches 0.9. Here
//!   the fit is least squares with a ridge of [`RIDGE`] (relative to each feature's sum of
//!   squares: only there to keep a degenerate latent solvable), and the order is the lowest
//!   whose **worst** coordinate's R^2 **on held-out points** reaches [`R2_MIN`]
//!   ([`PolyMap::choose`]): a map that explains `q` but not `p` does not pass.
//! - **Standardisation.** DeepMind standardises both the latents and the states before
//!   fitting, so its Jacobian is that of the map between standardised coordinates; for two
//!   or more degrees of freedom with different spreads that rescales the pairs `(q_i, p_i)`
//!   by different factors and changes `J Omega J^T`. Here only the latent is standardised
//!   (inside the map, for the conditioning of the normal equations) and the Jacobian is that
//!   of the map between the coordinates as given.
//! - **Points.** DeepMind evaluates the Jacobian at 10 random points of each trajectory and
//!   zeroes coefficients below 1e-3 first; here it is evaluated at every test point, with
//!   every coefficient (no random draw: same inputs, same bytes).

use serde::{Deserialize, Serialize};

use crate::stats::{least_squares, quartiles, r_squared};

/// The highest polynomial order DeepMind's metric tries (`max_poly_order`).
pub const MAX_ORDER: usize = 5;

/// The R^2 a map must reach on every coordinate for the latent to be read as the state
/// (DeepMind's `rsq_threshold`).
pub const R2_MIN: f64 = 0.9;

/// The symplecticity score below which the map passes (DeepMind's `sym_threshold`); see
/// [`Symplecticity::score`].
pub const SYMPLECTIC_SCORE_MAX: f64 = 0.05;

/// The cap on the symplecticity score (DeepMind's `max_jacobian_score`), so that one
/// degenerate map cannot dominate an average over maps.
pub const SYMPLECTIC_SCORE_CAP: f64 = 1000.0;

/// The ridge of the polynomial fit, relative to each feature's sum of squares over the
/// training points (the intercept has none). Small enough that an exact polynomial is
/// recovered to 1e-9 (tested); it only matters where the features are (nearly) collinear.
pub const RIDGE: f64 = 1e-12;

/// A fitted factor `|c|` at most this fraction of the mean `||J||_F^2` means the map
/// carries no structure at all (its coordinates are not conjugate): it does not pass,
/// whatever the score of its rounding noise.
pub const DEGENERATE_FACTOR: f64 = 1e-9;

/// The margin of [`Region`], as a fraction of each coordinate's training range.
pub const REGION_MARGIN: f64 = 0.5;

/// A polynomial map from a latent `z` (length `d`) to a state `s` (length `m`): every
/// monomial of total degree `<= order` in the standardised latent `u = (z - mean) / scale`,
/// with one row of coefficients per state coordinate.
///
/// # Shapes
/// `mean`, `scale`: `[d]`; `exponents`: `[k][d]`, the monomials in graded order (degree 0,
/// the intercept, first; within a degree, as numpy's `PolynomialFeatures`: `u0^2, u0 u1,
/// u1^2`); `coefficients`: `[m][k]`. `k = C(d + order, order)`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PolyMap {
    /// The highest total degree of the monomials.
    pub order: usize,
    /// The training latents' mean per coordinate.
    pub mean: Vec<f64>,
    /// The training latents' population standard deviation per coordinate (1 where a
    /// coordinate was constant).
    pub scale: Vec<f64>,
    /// The exponent of each latent coordinate in each monomial.
    pub exponents: Vec<Vec<u32>>,
    /// The coefficient of each monomial, per state coordinate.
    pub coefficients: Vec<Vec<f64>>,
}

/// The exponents of every monomial of total degree `<= order` in `d` variables, in graded
/// order (see [`PolyMap`]).
pub fn monomials(d: usize, order: usize) -> Vec<Vec<u32>> {
    fn of_degree(d: usize, degree: u32, prefix: &mut Vec<u32>, out: &mut Vec<Vec<u32>>) {
        if prefix.len() + 1 == d {
            prefix.push(degree);
            out.push(prefix.clone());
            prefix.pop();
            return;
        }
        for e in (0..=degree).rev() {
            prefix.push(e);
            of_degree(d, degree - e, prefix, out);
            prefix.pop();
        }
    }
    let mut out = Vec::new();
    for degree in 0..=order as u32 {
        if d == 0 {
            if degree == 0 {
                out.push(Vec::new());
            }
            continue;
        }
        of_degree(d, degree, &mut Vec::with_capacity(d), &mut out);
    }
    out
}

/// The number of monomials of total degree `<= order` in `d` variables, `C(d + order, order)`.
pub fn monomial_count(d: usize, order: usize) -> usize {
    (1..=order).fold(1usize, |c, i| c * (d + i) / i)
}

impl PolyMap {
    /// Fits the map of `order` (1..=[`MAX_ORDER`] in the metric; any order works) by least
    /// squares from the latents `z` to the states `s`, one coordinate at a time.
    ///
    /// # Shapes
    /// `z`: `[n][d]`, `s`: `[n][m]`, the same `n >= 1`.
    pub fn fit(z: &[Vec<f64>], s: &[Vec<f64>], order: usize) -> PolyMap {
        assert!(!z.is_empty() && z.len() == s.len(), "fit: {} latents for {} states", z.len(), s.len());
        let (n, d, m) = (z.len(), z[0].len(), s[0].len());
        let mean: Vec<f64> = (0..d).map(|j| z.iter().map(|r| r[j]).sum::<f64>() / n as f64).collect();
        let scale: Vec<f64> = (0..d)
            .map(|j| {
                let sd = (z.iter().map(|r| (r[j] - mean[j]).powi(2)).sum::<f64>() / n as f64).sqrt();
                if sd > 0.0 && sd.is_finite() {
                    sd
                } else {
                    1.0
                }
            })
            .collect();
        let exponents = monomials(d, order);
        let k = exponents.len();
        let mut map = PolyMap { order, mean, scale, exponents, coefficients: Vec::new() };
        let mut rows: Vec<Vec<f64>> = z.iter().map(|zi| map.features(&map.standardise(zi))).collect();
        // The ridge as extra rows sqrt(lambda_j) e_j with target 0: the normal equations
        // gain lambda_j on feature j's diagonal.
        for j in 1..k {
            let sum_sq: f64 = rows[..n].iter().map(|r| r[j] * r[j]).sum();
            let mut row = vec![0.0; k];
            row[j] = (RIDGE * sum_sq).sqrt();
            rows.push(row);
        }
        map.coefficients = (0..m)
            .map(|o| {
                let y: Vec<f64> = s.iter().map(|si| si[o]).chain(std::iter::repeat_n(0.0, k - 1)).collect();
                least_squares(&rows, &y)
            })
            .collect();
        map
    }

    /// The state the map gives for the latent `z` (`[d]` -> `[m]`).
    pub fn apply(&self, z: &[f64]) -> Vec<f64> {
        let f = self.features(&self.standardise(z));
        self.coefficients.iter().map(|w| w.iter().zip(&f).map(|(a, b)| a * b).sum()).collect()
    }

    /// The analytic Jacobian `d s_i / d z_j` at the latent `z`, `[m][d]` (the chain rule
    /// through the standardisation included).
    pub fn jacobian(&self, z: &[f64]) -> Vec<Vec<f64>> {
        let d = z.len();
        let powers = self.powers(&self.standardise(z));
        // grads[k][j] = d monomial_k / d u_j
        let grads: Vec<Vec<f64>> = self
            .exponents
            .iter()
            .map(|e| {
                (0..d)
                    .map(|j| {
                        if e[j] == 0 {
                            return 0.0;
                        }
                        let mut g = e[j] as f64 * powers[j][e[j] as usize - 1];
                        for (l, &el) in e.iter().enumerate() {
                            if l != j {
                                g *= powers[l][el as usize];
                            }
                        }
                        g
                    })
                    .collect()
            })
            .collect();
        self.coefficients
            .iter()
            .map(|w| (0..d).map(|j| w.iter().zip(&grads).map(|(wk, gk)| wk * gk[j]).sum::<f64>() / self.scale[j]).collect())
            .collect()
    }

    /// The coefficient of determination of each state coordinate over the points `z` with
    /// states `s` (`[m]`; NaN for a coordinate that is constant over `s`).
    pub fn r2(&self, z: &[Vec<f64>], s: &[Vec<f64>]) -> Vec<f64> {
        let predicted: Vec<Vec<f64>> = z.iter().map(|zi| self.apply(zi)).collect();
        (0..self.coefficients.len())
            .map(|o| {
                let obs: Vec<f64> = s.iter().map(|si| si[o]).collect();
                let pred: Vec<f64> = predicted.iter().map(|p| p[o]).collect();
                r_squared(&obs, &pred)
            })
            .collect()
    }

    /// The map of the lowest order (1..=`max_order`) fitted on the training points whose
    /// worst coordinate's R^2 on the test points is at least [`R2_MIN`]; where no order
    /// reaches it, the order with the highest worst test R^2 (the lower on a tie). An order
    /// with more monomials than half the training points is not tried (it would
    /// interpolate rather than fit); order 1 always is.
    pub fn choose(train_z: &[Vec<f64>], train_s: &[Vec<f64>], test_z: &[Vec<f64>], test_s: &[Vec<f64>], max_order: usize) -> PolyMap {
        choose_with_trace(train_z, train_s, test_z, test_s, max_order).0
    }

    fn standardise(&self, z: &[f64]) -> Vec<f64> {
        assert_eq!(z.len(), self.mean.len(), "a latent of {} values for a map of {}", z.len(), self.mean.len());
        z.iter().zip(&self.mean).zip(&self.scale).map(|((v, m), s)| (v - m) / s).collect()
    }

    /// `powers[j][e] = u_j^e` for `e` in `0..=order`.
    fn powers(&self, u: &[f64]) -> Vec<Vec<f64>> {
        u.iter()
            .map(|&x| {
                let mut p = vec![1.0; self.order + 1];
                for e in 1..=self.order {
                    p[e] = p[e - 1] * x;
                }
                p
            })
            .collect()
    }

    fn features(&self, u: &[f64]) -> Vec<f64> {
        let powers = self.powers(u);
        self.exponents.iter().map(|e| e.iter().enumerate().map(|(j, &ej)| powers[j][ej as usize]).product()).collect()
    }
}

/// The worst of a set of R^2 values, NaN counted as the worst of all.
fn worst(r2: &[f64]) -> f64 {
    r2.iter().fold(f64::INFINITY, |w, &v| if v.is_nan() { f64::NEG_INFINITY } else { w.min(v) })
}

/// [`PolyMap::choose`], with the worst test R^2 of every order tried (index 0 is order 1).
fn choose_with_trace(
    train_z: &[Vec<f64>],
    train_s: &[Vec<f64>],
    test_z: &[Vec<f64>],
    test_s: &[Vec<f64>],
    max_order: usize,
) -> (PolyMap, Vec<f64>, Vec<f64>) {
    let d = train_z.first().map_or(0, |z| z.len());
    let mut best: Option<(PolyMap, Vec<f64>)> = None;
    let mut trace = Vec::new();
    for order in 1..=max_order.max(1) {
        if order > 1 && monomial_count(d, order) > train_z.len() / 2 {
            break;
        }
        let map = PolyMap::fit(train_z, train_s, order);
        let r2 = map.r2(test_z, test_s);
        let w = worst(&r2);
        trace.push(w);
        if w >= R2_MIN {
            return (map, r2, trace);
        }
        if best.as_ref().is_none_or(|(_, b)| w > worst(b)) {
            best = Some((map, r2));
        }
    }
    let (map, r2) = best.expect("order 1 is always tried");
    (map, r2, trace)
}

/// The canonical symplectic matrix of even dimension `n`, `Omega = [[0, I], [-I, 0]]`, so
/// that Hamilton's equations read `z' = Omega grad H(z)` with `z = (q, p)`. (DeepMind's
/// `symplectic_matrix` is its negative; only the sign of the fitted factor differs.)
pub fn omega(n: usize) -> Vec<Vec<f64>> {
    let h = n / 2;
    let entry = |i: usize, j: usize| f64::from(u8::from(j == i + h)) - f64::from(u8::from(i == j + h));
    (0..n).map(|i| (0..n).map(|j| entry(i, j)).collect()).collect()
}

/// `J Omega_d J^T` for a Jacobian `J` of `m` rows and `d` columns (`[m][m]`): the
/// symplectic structure of the latent carried to the state. The map is symplectic (for
/// `d = m`; a Poisson map for `d > m`) up to the factor `c` where this is `c Omega_m`. For
/// `d = m` and an invertible `J` that is the same condition as `J^T Omega_m J = c Omega_d`.
pub fn carried_structure(j: &[Vec<f64>]) -> Vec<Vec<f64>> {
    let m = j.len();
    let d = j.first().map_or(0, |r| r.len());
    let h = d / 2;
    // (J Omega)[a][l] = -J[a][l + h] for l < h, J[a][l - h] for l >= h.
    let j_omega: Vec<Vec<f64>> = j.iter().map(|r| (0..d).map(|l| if l < h { -r[l + h] } else { r[l - h] }).collect()).collect();
    (0..m).map(|a| (0..m).map(|b| j_omega[a].iter().zip(&j[b]).map(|(x, y)| x * y).sum()).collect()).collect()
}

/// The symplecticity test of a map's Jacobians over a set of points.
///
/// For each point `k`, `A_k = J_k Omega_d J_k^T` ([`carried_structure`]); the factor `c`
/// minimises `sum_k || A_k - c Omega_m ||_F^2`, i.e. `c = sum_k <A_k, Omega_m> / (N m)`,
/// and the residual of point `k` is `|| A_k - c Omega_m ||_F / || c Omega_m ||_F`.
///
/// The pass flag is DeepMind's rule: with `P_k = A_k A_k^T` (`c^2 I` for a map that
/// passes) divided by the mean over the points of `max |P_k|`, the score is the mean over
/// points and entries of `(P_k / norm - I)^2`, capped at [`SYMPLECTIC_SCORE_CAP`], and the
/// map passes when it is below [`SYMPLECTIC_SCORE_MAX`] and `c` is not negligible
/// ([`DEGENERATE_FACTOR`]). (DeepMind adds 1e-6 to every
/// Jacobian entry first, against zeros; not here.) The residuals are the finer reading:
/// the score accepts any `A_k` proportional to an orthogonal matrix, the residual only the
/// pairing `(q_i, p_i)` of the coordinates' order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Symplecticity {
    /// The fitted factor `c` (negative for an orientation-reversing map).
    pub factor: f64,
    /// The median of the per-point residuals.
    pub residual_median: f64,
    /// The largest per-point residual.
    pub residual_max: f64,
    /// DeepMind's symplecticity score (0 for a map that is symplectic up to a constant).
    pub score: f64,
    /// `score < SYMPLECTIC_SCORE_MAX` and `c` is not negligible.
    pub symplectic: bool,
    /// The number of points the Jacobian was evaluated at.
    pub points: usize,
}

impl Symplecticity {
    /// The test over Jacobians `[N][m][d]` of a map from `d` latent to `m` state
    /// coordinates. `None` where it does not apply: no points, `m` or `d` odd or zero, or
    /// `d < m` (a latent smaller than the state cannot carry its structure).
    pub fn of_jacobians(jacobians: &[Vec<Vec<f64>>]) -> Option<Symplecticity> {
        let first = jacobians.first()?;
        let (m, d) = (first.len(), first.first().map_or(0, |r| r.len()));
        if m == 0 || d == 0 || m % 2 == 1 || d % 2 == 1 || d < m {
            return None;
        }
        let om = omega(m);
        let carried: Vec<Vec<Vec<f64>>> = jacobians.iter().map(|j| carried_structure(j)).collect();
        let inner = |a: &[Vec<f64>], b: &[Vec<f64>]| a.iter().flatten().zip(b.iter().flatten()).map(|(x, y)| x * y).sum::<f64>();
        let n = carried.len();
        let c = carried.iter().map(|a| inner(a, &om)).sum::<f64>() / (n * m) as f64;
        let residuals: Vec<f64> = carried
            .iter()
            .map(|a| {
                let off = a.iter().flatten().zip(om.iter().flatten()).map(|(x, o)| (x - c * o).powi(2)).sum::<f64>().sqrt();
                off / (c.abs() * (m as f64).sqrt())
            })
            .collect();
        let products: Vec<Vec<Vec<f64>>> = carried
            .iter()
            .map(|a| (0..m).map(|r| (0..m).map(|s| a[r].iter().zip(&a[s]).map(|(x, y)| x * y).sum()).collect()).collect())
            .collect();
        let norm = products.iter().map(|p| p.iter().flatten().fold(0.0f64, |mx, v| mx.max(v.abs()))).sum::<f64>() / n as f64;
        let norm = if norm != 0.0 { norm } else { 1.0 };
        let score = products
            .iter()
            .map(|p| {
                (0..m)
                    .flat_map(|r| (0..m).map(move |s| (r, s)))
                    .map(|(r, s)| (p[r][s] / norm - if r == s { 1.0 } else { 0.0 }).powi(2))
                    .sum::<f64>()
                    / (m * m) as f64
            })
            .sum::<f64>()
            / n as f64;
        let score = if score.is_nan() { SYMPLECTIC_SCORE_CAP } else { score.min(SYMPLECTIC_SCORE_CAP) };
        let residual_max = residuals.iter().fold(0.0f64, |mx, &r| if r.is_nan() { f64::INFINITY } else { mx.max(r) });
        let size = jacobians.iter().map(|j| j.iter().flatten().map(|v| v * v).sum::<f64>()).sum::<f64>() / n as f64;
        Some(Symplecticity {
            factor: c,
            residual_median: quartiles(&residuals).1,
            residual_max,
            score,
            symplectic: score < SYMPLECTIC_SCORE_MAX && c.abs() > DEGENERATE_FACTOR * size,
            points: n,
        })
    }

    /// The test of `map` at the latents `points` (`[N][d]`); `None` where it does not apply
    /// (see [`Symplecticity::of_jacobians`]).
    pub fn of_map(map: &PolyMap, points: &[Vec<f64>]) -> Option<Symplecticity> {
        let jacobians: Vec<Vec<Vec<f64>>> = points.iter().map(|z| map.jacobian(z)).collect();
        Symplecticity::of_jacobians(&jacobians)
    }
}

/// DeepMind's SyMetric for one model: the polynomial map from its latents to the true
/// states, how well it reads the state, and whether it is symplectic.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Symetric {
    /// The order [`PolyMap::choose`] chose.
    pub order: usize,
    /// The worst test R^2 of every order tried, lowest first (the choice's trace).
    pub worst_r2_by_order: Vec<f64>,
    /// The chosen map's R^2 on the test points, per state coordinate.
    pub r2_per_coordinate: Vec<f64>,
    /// Every coordinate's test R^2 is at least [`R2_MIN`].
    pub r2_holds: bool,
    /// The symplecticity test at the test points; `None` where it does not apply.
    pub symplecticity: Option<Symplecticity>,
    /// The median per-point residual of the symplecticity test.
    pub symplectic_residual_median: Option<f64>,
    /// The largest per-point residual of the symplecticity test.
    pub symplectic_residual_max: Option<f64>,
    /// The map passes the symplecticity test (false where it does not apply).
    pub symplectic: bool,
    /// DeepMind's SyMetric is 1: `r2_holds && symplectic`.
    pub holds: bool,
    /// The chosen map itself.
    pub map: PolyMap,
}

/// Why [`symetric`] cannot take these points, in words (`None`: it can): each set's latents
/// and states row for row, every latent of one size and every state of one size in both
/// sets, every value finite.
pub fn check_points(train_z: &[Vec<f64>], train_s: &[Vec<f64>], test_z: &[Vec<f64>], test_s: &[Vec<f64>]) -> Option<String> {
    let width = |rows: &[Vec<f64>]| rows.first().map_or(0, |r| r.len());
    let (wz, ws) = (width(train_z), width(train_s));
    for (set, z, s) in [("train", train_z, train_s), ("test", test_z, test_s)] {
        if z.is_empty() || z.len() != s.len() {
            return Some(format!(
                "{set}_latents and {set}_states: {} and {} rows; they need the same number, at least one",
                z.len(),
                s.len()
            ));
        }
        if wz == 0 || ws == 0 || z.iter().any(|r| r.len() != wz) || s.iter().any(|r| r.len() != ws) {
            return Some(format!(
                "{set}_latents and {set}_states: every latent needs the training latents' {wz} values and every state the training states' {ws} (none empty)"
            ));
        }
        if z.iter().chain(s).flatten().any(|v| !v.is_finite()) {
            return Some(format!("{set}_latents and {set}_states: a value is not finite"));
        }
    }
    None
}

/// The SyMetric of latents `train_z`, `test_z` (`[n][d]`) against their true states
/// `train_s`, `test_s` (`[n][m]`): the map is chosen by [`PolyMap::choose`] up to
/// `max_order` ([`MAX_ORDER`] in the benchmark), scored and tested at the test points
/// (points as [`check_points`] asks).
pub fn symetric(train_z: &[Vec<f64>], train_s: &[Vec<f64>], test_z: &[Vec<f64>], test_s: &[Vec<f64>], max_order: usize) -> Symetric {
    let (map, r2, trace) = choose_with_trace(train_z, train_s, test_z, test_s, max_order);
    let r2_holds = worst(&r2) >= R2_MIN;
    let symplecticity = Symplecticity::of_map(&map, test_z);
    let symplectic = symplecticity.as_ref().is_some_and(|s| s.symplectic);
    Symetric {
        order: map.order,
        worst_r2_by_order: trace,
        r2_per_coordinate: r2,
        r2_holds,
        symplectic_residual_median: symplecticity.as_ref().map(|s| s.residual_median),
        symplectic_residual_max: symplecticity.as_ref().map(|s| s.residual_max),
        symplecticity,
        symplectic,
        holds: r2_holds && symplectic,
        map,
    }
}

/// The MSE of each predicted frame over its true frame's mean square, `MSE / mean(truth^2)`:
/// frames are consecutive blocks of `pixels` values in `pred` and `truth` (the same
/// length, a multiple of `pixels`). Term by term the rule of `evaluate`'s scoring: the
/// difference in `f32`, the sums in `f64`. A black true frame gives `inf`, or 0 where the
/// prediction is black too (an exact prediction is 0 whatever the frame); a non-finite
/// prediction gives NaN or `inf`.
pub fn normalised_mse(pred: &[f32], truth: &[f32], pixels: usize) -> Vec<f64> {
    assert!(
        pixels > 0 && pred.len() == truth.len() && truth.len() % pixels == 0,
        "frames of {pixels} pixels: {} predicted values for {} true",
        pred.len(),
        truth.len()
    );
    truth
        .chunks(pixels)
        .zip(pred.chunks(pixels))
        .map(|(gt, p)| {
            let mse = gt.iter().zip(p).map(|(a, b)| ((a - b) as f64).powi(2)).sum::<f64>() / pixels as f64;
            let power = gt.iter().map(|a| (*a as f64).powi(2)).sum::<f64>() / pixels as f64;
            if mse == 0.0 {
                0.0
            } else {
                mse / power
            }
        })
        .collect()
}

/// The index of the first frame whose error is not at most `threshold` (NaN fails: a
/// prediction that blew up), or the number of frames when none fails. The one rule behind
/// every valid prediction time, ours and the benchmark's.
pub fn first_failure(errors: &[f64], threshold: f64) -> usize {
    errors.iter().position(|&e| e.is_nan() || e > threshold).unwrap_or(errors.len())
}

/// The valid prediction time: the index of the first frame whose [`normalised_mse`]
/// exceeds `threshold` (strictly; 0.025 in the benchmark and the reference), or the number
/// of frames when none does. As DeepMind's `_eval_batch_vpt` and `evaluate`'s scoring.
pub fn vpt(pred: &[f32], truth: &[f32], pixels: usize, threshold: f64) -> usize {
    first_failure(&normalised_mse(pred, truth, pixels), threshold)
}

/// The region of the training latents: each coordinate's training range widened by
/// [`REGION_MARGIN`] of that range on either side. A rollout point is inside when every
/// coordinate is finite and within its widened range (bounds included).
///
/// A box rather than a ball: an escape in any one coordinate is flagged, whatever the
/// others do, and a reader checks it by eye against the latents' scatter plot. A coordinate
/// that was constant over training admits only that value.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Region {
    /// The smallest training value of each coordinate.
    pub min: Vec<f64>,
    /// The largest training value of each coordinate.
    pub max: Vec<f64>,
    /// The margin as a fraction of each coordinate's range.
    pub margin: f64,
}

impl Region {
    /// The region of `training_latents` (`[n][d]`, `n >= 1`); non-finite values are
    /// ignored.
    pub fn of(training_latents: &[Vec<f64>]) -> Region {
        let d = training_latents.first().map_or(0, |z| z.len());
        let mut min = vec![f64::INFINITY; d];
        let mut max = vec![f64::NEG_INFINITY; d];
        for z in training_latents {
            for (j, &v) in z.iter().enumerate() {
                if v.is_finite() {
                    min[j] = min[j].min(v);
                    max[j] = max[j].max(v);
                }
            }
        }
        Region { min, max, margin: REGION_MARGIN }
    }

    /// The widened bounds `(lo, hi)` of coordinate `j`.
    pub fn bounds(&self, j: usize) -> (f64, f64) {
        let range = self.max[j] - self.min[j];
        (self.min[j] - self.margin * range, self.max[j] + self.margin * range)
    }

    /// Whether the latent `z` lies in the region.
    pub fn contains(&self, z: &[f64]) -> bool {
        z.len() == self.min.len()
            && z.iter().enumerate().all(|(j, &v)| {
                let (lo, hi) = self.bounds(j);
                v.is_finite() && lo <= v && v <= hi
            })
    }

    /// The index of the first point of `rollout` (`[T][d]`) outside the region; `None`
    /// when it stays inside throughout.
    pub fn first_exit(&self, rollout: &[Vec<f64>]) -> Option<usize> {
        rollout.iter().position(|z| !self.contains(z))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    fn points(seed: u64, n: usize, ranges: &[(f64, f64)]) -> Vec<Vec<f64>> {
        let mut rng = Rng::new(seed);
        (0..n).map(|_| ranges.iter().map(|&(lo, hi)| rng.uniform(lo, hi)).collect()).collect()
    }

    fn known(z: &[f64]) -> Vec<f64> {
        let (a, b) = (z[0], z[1]);
        vec![1.0 + a - 2.0 * a * a * b + 0.5 * b.powi(3), a * b - b.powi(5)]
    }

    fn known_jacobian(z: &[f64]) -> Vec<Vec<f64>> {
        let (a, b) = (z[0], z[1]);
        vec![vec![1.0 - 4.0 * a * b, -2.0 * a * a + 1.5 * b * b], vec![b, a - 5.0 * b.powi(4)]]
    }

    #[test]
    fn monomials_are_graded_and_counted() {
        let e = monomials(2, 2);
        assert_eq!(e, vec![vec![0, 0], vec![1, 0], vec![0, 1], vec![2, 0], vec![1, 1], vec![0, 2]]);
        for (d, order) in [(1, 5), (2, 5), (4, 5), (4, 3), (3, 0)] {
            let e = monomials(d, order);
            assert_eq!(e.len(), monomial_count(d, order), "d {d} order {order}");
            let mut sorted = e.clone();
            sorted.dedup();
            assert_eq!(sorted.len(), e.len(), "no monomial twice");
            assert!(e.windows(2).all(|w| w[0].iter().sum::<u32>() <= w[1].iter().sum::<u32>()));
            assert!(e.iter().all(|m| m.len() == d && m.iter().sum::<u32>() as usize <= order));
        }
        assert_eq!(monomial_count(4, 5), 126);
    }

    #[test]
    fn the_polynomial_map_recovers_a_known_polynomial_and_its_jacobian() {
        // Off-centre and of unequal spreads, so that the standardisation matters.
        let ranges = [(0.5, 3.0), (-2.0, -0.2)];
        let train = points(1, 400, &ranges);
        let test = points(2, 200, &ranges);
        let s_train: Vec<Vec<f64>> = train.iter().map(|z| known(z)).collect();
        let s_test: Vec<Vec<f64>> = test.iter().map(|z| known(z)).collect();
        let scale = s_test.iter().flatten().fold(0.0f64, |m, v| m.max(v.abs()));
        let map = PolyMap::fit(&train, &s_train, 5);
        let err = test
            .iter()
            .zip(&s_test)
            .flat_map(|(z, s)| map.apply(z).into_iter().zip(s.clone()).map(|(a, b)| (a - b).abs()))
            .fold(0.0, f64::max);
        assert!(err < 1e-9 * scale, "max error {err:e} of values up to {scale}");
        assert!(map.r2(&test, &s_test).iter().all(|r| (1.0 - r).abs() < 1e-12));
        // Order 4 cannot represent z1^5: the exactness above is not a tautology.
        let four = PolyMap::fit(&train, &s_train, 4);
        let err4 = test.iter().zip(&s_test).map(|(z, s)| (four.apply(z)[1] - s[1]).abs()).fold(0.0, f64::max);
        assert!(err4 > 1e-4 * scale, "{err4:e}");

        let h = 1e-5;
        for z in &test[..20] {
            let j = map.jacobian(z);
            let exact = known_jacobian(z);
            for col in 0..2 {
                let (mut up, mut down) = (z.clone(), z.clone());
                up[col] += h;
                down[col] -= h;
                let (su, sd) = (map.apply(&up), map.apply(&down));
                for row in 0..2 {
                    let fd = (su[row] - sd[row]) / (2.0 * h);
                    assert!((j[row][col] - fd).abs() < 1e-6 * (1.0 + fd.abs()), "{row},{col}: {} vs {fd}", j[row][col]);
                    assert!((j[row][col] - exact[row][col]).abs() < 1e-8 * (1.0 + exact[row][col].abs()), "{j:?} vs {exact:?}");
                }
            }
        }
        let back: PolyMap = serde_json::from_str(&serde_json::to_string(&map).unwrap()).unwrap();
        assert_eq!(back, map, "the map survives JSON exactly");
    }

    /// Legendre polynomials, orthogonal under the uniform law on [-1, 1]: a lower order
    /// explains almost none of a higher one.
    fn legendre(n: usize, x: f64) -> f64 {
        match n {
            1 => x,
            2 => (3.0 * x * x - 1.0) / 2.0,
            3 => (5.0 * x.powi(3) - 3.0 * x) / 2.0,
            5 => (63.0 * x.powi(5) - 70.0 * x.powi(3) + 15.0 * x) / 8.0,
            _ => unreachable!(),
        }
    }

    #[test]
    fn choose_takes_the_lowest_order_that_reads_every_coordinate() {
        let ranges = [(-1.0, 1.0), (-1.0, 1.0)];
        let (train, test) = (points(3, 400, &ranges), points(4, 300, &ranges));
        let states = |f: &dyn Fn(&[f64]) -> Vec<f64>, z: &[Vec<f64>]| z.iter().map(|z| f(z)).collect::<Vec<_>>();

        // q is read by order 1, p only by order 5.
        let f5 = |z: &[f64]| vec![z[0] + 0.2 * z[1], legendre(5, z[1]) + 0.1 * z[0]];
        let s = symetric(&train, &states(&f5, &train), &test, &states(&f5, &test), MAX_ORDER);
        assert_eq!(s.order, 5, "{:?}", s.worst_r2_by_order);
        assert_eq!(s.worst_r2_by_order.len(), 5);
        assert!(s.worst_r2_by_order[..4].iter().all(|&w| w < 0.5), "{:?}", s.worst_r2_by_order);
        assert!(s.r2_holds && s.r2_per_coordinate.iter().all(|&r| r > 1.0 - 1e-10));

        // Order 3 suffices: choose stops there.
        let f3 = |z: &[f64]| vec![legendre(3, z[0]), legendre(2, z[1]) + z[0]];
        let m3 = PolyMap::choose(&train, &states(&f3, &train), &test, &states(&f3, &test), MAX_ORDER);
        assert_eq!(m3.order, 3);

        // Nothing reads noise: the order with the best worst R^2, checked against fits of
        // every order made here.
        let mut rng = Rng::new(9);
        let noise = |n: usize, rng: &mut Rng| (0..n).map(|_| vec![rng.normal(), rng.normal()]).collect::<Vec<_>>();
        let (s_train, s_test) = (noise(train.len(), &mut rng), noise(test.len(), &mut rng));
        let s = symetric(&train, &s_train, &test, &s_test, MAX_ORDER);
        let worst_of = |o: usize| worst(&PolyMap::fit(&train, &s_train, o).r2(&test, &s_test));
        let best = (1..=MAX_ORDER).max_by(|&a, &b| worst_of(a).total_cmp(&worst_of(b)).then(b.cmp(&a))).unwrap();
        assert!(!s.r2_holds && !s.holds);
        assert_eq!(s.order, best, "{:?}", s.worst_r2_by_order);

        // Too few points for order 5 in 4 latent dimensions (126 monomials): not tried.
        let few = points(5, 100, &[(-1.0, 1.0); 4]);
        let s_few: Vec<Vec<f64>> = few.iter().map(|z| vec![legendre(5, z[0]), z[1]]).collect();
        let s = symetric(&few, &s_few, &few, &s_few, MAX_ORDER);
        assert_eq!(s.worst_r2_by_order.len(), 3, "orders 1-3 (35 monomials <= 50), not 4 (70)");
    }

    /// The map of `f` fitted on uniform points of `ranges` at `order`, tested at others.
    fn test_of(f: impl Fn(&[f64]) -> Vec<f64>, ranges: &[(f64, f64)], order: usize) -> Option<Symplecticity> {
        let (train, test) = (points(11, 600, ranges), points(12, 100, ranges));
        let s: Vec<Vec<f64>> = train.iter().map(|z| f(z)).collect();
        let map = PolyMap::fit(&train, &s, order);
        Symplecticity::of_map(&map, &test)
    }

    fn passes(t: &Option<Symplecticity>, factor: f64) {
        let t = t.as_ref().expect("the test applies");
        assert!(t.symplectic && t.score < 1e-12 && t.residual_max < 1e-8, "{t:?}");
        assert!((t.factor - factor).abs() < 1e-8 * factor.abs(), "{t:?}");
    }

    fn fails(t: &Option<Symplecticity>) {
        let t = t.as_ref().expect("the test applies");
        assert!(!t.symplectic && t.score > SYMPLECTIC_SCORE_MAX && t.residual_median > 0.1, "{t:?}");
    }

    #[test]
    fn the_symplecticity_test_on_known_maps_with_one_degree_of_freedom() {
        let r = [(-1.0, 1.0), (-1.5, 0.5)];
        // A rotation of (q, p) times 3 and a shift: J Omega J^T = 9 Omega.
        let (c, s) = (0.6f64.cos(), 0.6f64.sin());
        passes(&test_of(|z| vec![3.0 * (c * z[0] - s * z[1]) + 1.0, 3.0 * (s * z[0] + c * z[1]) - 2.0], &r, 1), 9.0);
        // A shear (q, p + V'(q)): the kick of a symplectic step.
        passes(&test_of(|z| vec![z[0], z[1] + z[0] * z[0] - 0.5 * z[0].powi(3)], &r, 3), 1.0);
        // Swapping q and p reverses the orientation: c = -1, still symplectic up to c.
        passes(&test_of(|z| vec![z[1], z[0]], &r, 1), -1.0);
        // q -> 2q is area-scaling by a constant: symplectic up to c = 2 with one dof.
        passes(&test_of(|z| vec![2.0 * z[0], z[1]], &r, 1), 2.0);
        // Area changing from point to point (det J = 1 + q^2 + p): not symplectic.
        fails(&test_of(|z| vec![z[0] + z[0].powi(3) / 3.0, z[1] + z[0] * z[1] + 0.5 * z[1] * z[1]], &r, 3));
    }

    #[test]
    fn the_symplecticity_test_on_known_maps_with_two_degrees_of_freedom() {
        let r = [(-1.0, 1.0), (-0.5, 1.5), (-1.0, 1.0), (-2.0, 0.0)];
        // (q, p) -> (A q, 2 A^-T p) with A = [[2, 1], [1, 1]] (A^-T = [[1, -1], [-1, 2]]).
        passes(&test_of(|z| vec![2.0 * z[0] + z[1], z[0] + z[1], 2.0 * (z[2] - z[3]), 2.0 * (-z[2] + 2.0 * z[3])], &r, 1), 2.0);
        // A kick p -> p + grad V(q), V = q0^2 q1.
        passes(&test_of(|z| vec![z[0], z[1], z[2] + 2.0 * z[0] * z[1], z[3] + z[0] * z[0]], &r, 2), 1.0);
        // The degrees of freedom swapped: a symplectic relabelling.
        passes(&test_of(|z| vec![z[1], z[0], z[3], z[2]], &r, 1), 1.0);
        // q0 -> 2 q0 alone scales one pair's area and not the other's: not symplectic.
        fails(&test_of(|z| vec![2.0 * z[0], z[1], z[2], z[3]], &r, 1));
        // A nonlinear, volume-changing map.
        fails(&test_of(|z| vec![z[0] + z[2] * z[2], z[1], z[2] + z[0] * z[2], z[3] * (1.0 + 0.3 * z[1])], &r, 2));
    }

    #[test]
    fn the_symplecticity_test_applies_to_latents_larger_than_the_state_only() {
        let r = [(-1.0, 1.0); 4];
        // A latent (q0, q1, p0, p1) read as the state (q0, p0): a Poisson map, c = 1.
        passes(&test_of(|z| vec![z[0], z[2]], &r, 1), 1.0);
        // Read as (q0, q1): the two coordinates are not conjugate, c = 0.
        let t = test_of(|z| vec![z[0], z[1]], &r, 1).expect("applies");
        assert!(!t.symplectic && t.factor.abs() < 1e-10, "{t:?}");
        // A latent smaller than the state, an odd one, or no points: the test does not apply.
        assert_eq!(test_of(|z| vec![z[0], z[1], z[0], z[1]], &[(-1.0, 1.0); 2], 1), None);
        assert_eq!(test_of(|z| vec![z[0], z[1]], &[(-1.0, 1.0); 3], 1), None);
        assert_eq!(Symplecticity::of_jacobians(&[]), None);
    }

    #[test]
    fn the_symplecticity_score_and_residuals_on_hand_values() {
        // det J = 1 and 2: A = det Omega, P = det^2 I = I, 4I; norm = mean max = 2.5, so
        // P / norm = 0.4 I, 1.6 I: each point's mean square deviation is 2 * 0.36 / 4.
        let t = Symplecticity::of_jacobians(&[vec![vec![1.0, 0.0], vec![0.0, 1.0]], vec![vec![2.0, 0.0], vec![0.0, 1.0]]]).unwrap();
        assert!((t.score - 0.18).abs() < 1e-15, "{t:?}");
        assert!(
            (t.factor - 1.5).abs() < 1e-15 && (t.residual_median - 1.0 / 3.0).abs() < 1e-15 && (t.residual_max - 1.0 / 3.0).abs() < 1e-15
        );
        assert!(!t.symplectic && t.points == 2);
        // The carried structure of a 2 x 2 Jacobian is its determinant times Omega.
        let a = carried_structure(&[vec![1.0, 2.0], vec![3.0, 5.0]]);
        assert_eq!(a, vec![vec![0.0, -1.0], vec![1.0, 0.0]]);
        assert_eq!(omega(4)[0], vec![0.0, 0.0, 1.0, 0.0]);
        assert_eq!(omega(4)[3], vec![0.0, -1.0, 0.0, 0.0]);
    }

    #[test]
    fn symetric_holds_for_a_symplectic_latent_and_not_for_a_distorted_one() {
        let r = [(-1.0, 1.0), (-1.0, 1.0)];
        let (train, test) = (points(21, 500, &r), points(22, 200, &r));
        // A shear (q - 2 p^2, p): order 1 reads q with R^2 about 0.5 only, order 2 exactly.
        let shear = |z: &[f64]| vec![z[0] - 2.0 * z[1].powi(2), z[1]];
        let st = |f: &dyn Fn(&[f64]) -> Vec<f64>, z: &[Vec<f64>]| z.iter().map(|z| f(z)).collect::<Vec<_>>();
        let good = symetric(&train, &st(&shear, &train), &test, &st(&shear, &test), MAX_ORDER);
        assert_eq!(good.order, 2, "{:?}", good.worst_r2_by_order);
        assert!(good.r2_holds && good.symplectic && good.holds, "{good:?}");
        assert!(good.symplectic_residual_max.unwrap() < 1e-8, "{good:?}");
        // (q + 0.8 q^3, p (0.2 + q^2)): orders 1-2 read p with R^2 about 0.76, order 3
        // exactly; det J = (1 + 2.4 q^2)(0.2 + q^2) varies tenfold.
        let distorted = |z: &[f64]| vec![z[0] + 0.8 * z[0].powi(3), z[1] * (0.2 + z[0] * z[0])];
        let bad = symetric(&train, &st(&distorted, &train), &test, &st(&distorted, &test), MAX_ORDER);
        assert_eq!(bad.order, 3, "{:?}", bad.worst_r2_by_order);
        assert!(bad.r2_holds && !bad.symplectic && !bad.holds, "{bad:?}");
        assert_eq!(bad.symplectic_residual_median, bad.symplecticity.as_ref().map(|s| s.residual_median));
        let back: Symetric = serde_json::from_str(&serde_json::to_string(&bad).unwrap()).unwrap();
        assert_eq!(back, bad);
    }

    #[test]
    fn vpt_is_the_first_frame_past_the_threshold() {
        let px = 4;
        let truth: Vec<f32> = vec![1.0; 5 * px];
        // Per-frame errors e give normalised MSEs e^2: 0, 0.01, 0.0625, 0.25 (= 0.5^2
        // exactly), 1.
        let frames = |errs: &[f32]| errs.iter().flat_map(|e| vec![1.0 + e; px]).collect::<Vec<f32>>();
        let pred = frames(&[0.0, 0.1, 0.25, 0.5, 1.0]);
        assert_eq!(vpt(&pred, &truth, px, 0.025), 2);
        assert_eq!(vpt(&pred, &truth, px, 0.25), 4, "strictly above: 0.25 itself is still valid");
        assert_eq!(vpt(&pred, &truth, px, 1e-6), 1);
        assert_eq!(vpt(&pred, &truth, px, 2.0), 5, "never: the number of frames");
        assert_eq!(vpt(&frames(&[0.5, 0.0, 0.0, 0.0, 0.0]), &truth, px, 0.025), 0);
        // Normalised by the true frame's power: the same error on a brighter frame is valid.
        let mut bright = truth.clone();
        bright[..px].iter_mut().for_each(|v| *v = 4.0);
        let pred_b: Vec<f32> = bright.iter().map(|v| v + 0.5).collect();
        assert_eq!(normalised_mse(&pred_b, &bright, px)[..2], [0.25 / 16.0, 0.25]);
        assert_eq!(vpt(&pred_b, &bright, px, 0.025), 1);
        // A black true frame: valid only if predicted black.
        let black = vec![0.0f32; 2 * px];
        assert_eq!(vpt(&black, &black, px, 0.025), 2);
        assert_eq!(vpt(&[0.0, 0.0, 0.0, 0.1, 0.0, 0.0, 0.0, 0.0], &black, px, 0.025), 0);
        assert_eq!(vpt(&[], &[], px, 0.025), 0);
        // A prediction that blew up fails where it turns non-finite, black truth or not.
        let mut blown = pred.clone();
        blown[px + 1] = f32::NAN;
        assert_eq!(vpt(&blown, &truth, px, 2.0), 1);
        blown[px + 1] = f32::INFINITY;
        assert_eq!(vpt(&blown, &truth, px, 2.0), 1);
        assert_eq!(vpt(&[0.0, 0.0, 0.0, 0.0, f32::NAN, 0.0, 0.0, 0.0], &black, px, 0.025), 1);
    }

    #[test]
    fn the_region_flags_the_first_point_that_leaves_it() {
        // Training latents on the unit circle: ranges [-1, 1], widened by 1 each side.
        let train: Vec<Vec<f64>> = (0..64).map(|i| i as f64 * std::f64::consts::TAU / 64.0).map(|t| vec![t.cos(), 3.0 * t.sin()]).collect();
        let region = Region::of(&train);
        assert_eq!(region.bounds(0), (-2.0, 2.0));
        let (lo, hi) = region.bounds(1);
        assert!((lo + 6.0).abs() < 1e-12 && (hi - 6.0).abs() < 1e-12);
        let inside: Vec<Vec<f64>> = vec![vec![0.0, 0.0], vec![1.9, -5.9], vec![2.0, 5.0], vec![-2.0, 0.0]];
        assert_eq!(region.first_exit(&inside), None);
        assert_eq!(region.first_exit(&train), None);
        let mut out = inside.clone();
        out.extend([vec![2.01, 0.0], vec![0.0, 0.0]]);
        assert_eq!(region.first_exit(&out), Some(4));
        assert_eq!(region.first_exit(&[vec![0.0, 0.0], vec![0.0, -6.5]]), Some(1));
        assert_eq!(region.first_exit(&[vec![0.0, 0.0], vec![0.0, f64::NAN]]), Some(1), "a diverged latent has left");
        assert_eq!(region.first_exit(&[vec![0.0, f64::INFINITY]]), Some(0));
        assert_eq!(region.first_exit(&[]), None);
    }
}
