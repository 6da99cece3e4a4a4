//! Seeded randomness. Every stream is derived from the world seed and a path of
//! integers (area, household, purpose), so each part of the world is reproducible on
//! its own and the output does not depend on thread scheduling.

use rand::{Rng as _, SeedableRng as _};
use rand_chacha::ChaCha8Rng;

/// SplitMix64: mixes a 64-bit value into a well-distributed one.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A deterministic random stream.
pub struct Rng(ChaCha8Rng);

impl Rng {
    /// The stream for `seed` at `path`.
    pub fn new(seed: u64, path: &[u64]) -> Self {
        let s = path.iter().fold(mix(seed), |acc, p| mix(acc ^ mix(*p)));
        Self(ChaCha8Rng::seed_from_u64(s))
    }
    /// Uniform in [0, 1).
    pub fn f64(&mut self) -> f64 {
        self.0.r#gen::<f64>()
    }
    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        self.f64() < p
    }
    /// Uniform integer in [lo, hi).
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        if hi <= lo {
            lo
        } else {
            self.0.gen_range(lo..hi)
        }
    }
    /// Uniform index in [0, n).
    pub fn index(&mut self, n: usize) -> usize {
        if n == 0 { 0 } else { self.0.gen_range(0..n) }
    }
    /// An element of a non-empty slice.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.index(items.len())]
    }
    /// An index drawn with the given weights.
    pub fn weighted(&mut self, weights: &[f64]) -> usize {
        let total: f64 = weights.iter().sum();
        let mut x = self.f64() * total;
        for (i, w) in weights.iter().enumerate() {
            if x < *w {
                return i;
            }
            x -= w;
        }
        weights.len().saturating_sub(1)
    }
    /// Normal(mean, sd) by Box–Muller.
    pub fn normal(&mut self, mean: f64, sd: f64) -> f64 {
        let u1 = self.f64().max(1e-12);
        let u2 = self.f64();
        mean + sd * (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }
    /// Poisson(λ), for small λ (Knuth).
    pub fn poisson(&mut self, lambda: f64) -> u32 {
        let l = (-lambda).exp();
        let mut k = 0;
        let mut p = 1.0;
        loop {
            p *= self.f64();
            if p <= l || k > 1000 {
                return k;
            }
            k += 1;
        }
    }
    /// Between `lo` and `hi - 1` decimal digits.
    pub fn digits_between(&mut self, lo: usize, hi: usize) -> String {
        let n = lo + self.index(hi.saturating_sub(lo).max(1));
        self.digits(n)
    }
    /// `n` decimal digits.
    pub fn digits(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| char::from(b'0' + self.index(10) as u8))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_reproducible_and_independent() {
        let a: Vec<f64> = (0..5).map(|_| Rng::new(7, &[1, 2]).f64()).collect();
        assert!(a.windows(2).all(|w| w[0] == w[1]));
        let mut x = Rng::new(7, &[1, 2]);
        let mut y = Rng::new(7, &[1, 3]);
        assert_ne!(x.f64(), y.f64());
        let mut r = Rng::new(1, &[]);
        let n = 20_000;
        let mean: f64 = (0..n).map(|_| r.normal(10.0, 2.0)).sum::<f64>() / n as f64;
        assert!((mean - 10.0).abs() < 0.1, "{mean}");
        let pm: f64 = (0..n).map(|_| f64::from(r.poisson(3.0))).sum::<f64>() / n as f64;
        assert!((pm - 3.0).abs() < 0.1, "{pm}");
    }
}
