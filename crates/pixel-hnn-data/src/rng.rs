//! The one random source of the project: ChaCha8 seeded from a `u64`, whose stream is fixed
//! by its algorithm, so the same seed gives the same numbers on every machine and release.

use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};

#[derive(Clone, Debug)]
pub struct Rng(ChaCha8Rng);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(ChaCha8Rng::seed_from_u64(seed))
    }

    /// Uniform in `[lo, hi)`, from the top 53 bits of one `u64` draw.
    pub fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        let unit = (self.0.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64);
        lo + (hi - lo) * unit
    }

    /// A standard normal draw (Box-Muller from two uniform draws; `1 - U` keeps the
    /// logarithm finite).
    pub fn normal(&mut self) -> f64 {
        let (u, v) = (1.0 - self.uniform(0.0, 1.0), self.uniform(0.0, 1.0));
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// Uniform integer in `0..m` (multiply-shift; bias below 2^-40 for m < 2^24).
    pub fn below(&mut self, m: usize) -> usize {
        ((self.0.next_u64() as u128 * m as u128) >> 64) as usize
    }

    /// `k` distinct indices from `0..n`, uniformly (Floyd's algorithm; `k <= n`).
    pub fn distinct(&mut self, n: usize, k: usize) -> Vec<i64> {
        assert!(k <= n, "cannot draw {k} distinct indices from {n}");
        let mut taken = vec![false; n];
        let mut out = Vec::with_capacity(k);
        for j in n - k..n {
            let t = self.below(j + 1);
            let pick = if taken[t] { j } else { t };
            taken[pick] = true;
            out.push(pick as i64);
        }
        out
    }

    /// Position in the stream, for checkpoints: `(seed, position)` restores it exactly.
    pub fn position(&self) -> u128 {
        self.0.get_word_pos()
    }

    pub fn at(seed: u64, position: u128) -> Self {
        let mut r = Rng::new(seed);
        r.0.set_word_pos(position);
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_stream_and_range_respected() {
        let (mut a, mut b) = (Rng::new(7), Rng::new(7));
        for _ in 0..1000 {
            let x = a.uniform(-2.0, 3.0);
            assert_eq!(x.to_bits(), b.uniform(-2.0, 3.0).to_bits());
            assert!((-2.0..3.0).contains(&x));
        }
        assert_ne!(Rng::new(1).next_u64(), Rng::new(2).next_u64());
    }

    #[test]
    fn distinct_draws_are_distinct_in_range_and_resumable() {
        let mut r = Rng::new(5);
        for _ in 0..50 {
            let mut v = r.distinct(300, 200);
            v.sort();
            v.dedup();
            assert_eq!(v.len(), 200);
            assert!(v.iter().all(|&i| (0..300).contains(&i)));
        }
        let pos = r.position();
        let a: Vec<u64> = (0..10).map(|_| r.next_u64()).collect();
        let mut b = Rng::at(5, pos);
        assert_eq!(a, (0..10).map(|_| b.next_u64()).collect::<Vec<_>>());
        // Every index is equally likely: 20,000 draws of 5 from 10, each index ~10,000 times.
        let mut counts = [0usize; 10];
        for _ in 0..20_000 {
            for i in r.distinct(10, 5) {
                counts[i as usize] += 1;
            }
        }
        assert!(counts.iter().all(|&c| (9_500..10_500).contains(&c)), "{counts:?}");
    }

    #[test]
    fn uniform_mean_and_spread_match_the_distribution() {
        let mut r = Rng::new(0);
        let n = 200_000;
        let xs: Vec<f64> = (0..n).map(|_| r.uniform(0.0, 1.0)).collect();
        let mean = xs.iter().sum::<f64>() / n as f64;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
        // standard error of the mean is 0.29 / sqrt(n) = 6.5e-4
        assert!((mean - 0.5).abs() < 4e-3, "mean {mean}");
        assert!((var - 1.0 / 12.0).abs() < 2e-3, "var {var}");
    }
}
