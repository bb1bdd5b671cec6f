//! A tiny deterministic pseudo-random generator (SplitMix64) and the few distributions
//! the demo data needs. Only integer and IEEE `+ - * /` arithmetic is used (no `ln`,
//! `exp` or `cos` from the platform's libm), so the same seed gives the same numbers on
//! every platform.

/// SplitMix64: 64 bits of state, passes BigCrush, and any seed is a good seed.
#[derive(Debug, Clone)]
pub(super) struct Rng(u64);

const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

/// Mixes two numbers into one well-spread 64-bit value (the SplitMix64 finaliser).
/// Used to derive independent streams and per-entity attributes from ids.
pub(super) fn mix(a: u64, b: u64) -> u64 {
    let mut z = a ^ b.wrapping_mul(GOLDEN).rotate_left(29);
    z = z.wrapping_add(GOLDEN);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Rng {
    #[cfg(test)]
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// An independent stream for `(seed, key)`, e.g. one per agent and day, so that
    /// what one part of the generator draws does not shift another part's numbers.
    pub fn stream(seed: u64, key: u64) -> Rng {
        Rng(mix(seed, key))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(GOLDEN);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in [0, n); 0 when n is 0.
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform index into a collection of length `n`; 0 when n is 0.
    pub fn index(&mut self, n: usize) -> usize {
        self.below(n as u64) as usize
    }

    /// Uniform in [lo, hi); lo when the range is empty.
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        if hi <= lo {
            lo
        } else {
            lo + self.below((hi - lo) as u64) as i64
        }
    }

    /// Uniform milliseconds between `lo` and `hi` seconds.
    pub fn secs(&mut self, lo: f64, hi: f64) -> i64 {
        let lo_ms = (lo * 1000.0) as i64;
        let hi_ms = (hi * 1000.0) as i64;
        self.range(lo_ms, hi_ms.max(lo_ms + 1))
    }

    pub fn chance(&mut self, p: f64) -> bool {
        self.f64() < p
    }

    /// Picks an index with probability proportional to its weight (the last index
    /// when all weights are zero).
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

    /// Approximately standard normal (Irwin–Hall of four uniforms, rescaled); bounded
    /// to about ±3.5, which keeps durations sane without clamping every draw.
    pub fn normal(&mut self) -> f64 {
        let s = self.f64() + self.f64() + self.f64() + self.f64();
        (s - 2.0) * 1.732_050_807_568_877_2
    }

    /// Log-normal with the given median (same unit as returned) and shape `sigma`.
    pub fn lognormal(&mut self, median: f64, sigma: f64) -> f64 {
        median * exp(sigma * self.normal())
    }

    /// Log-normal duration in milliseconds, median given in seconds, clamped to
    /// [`lo`, `hi`] seconds.
    pub fn duration(&mut self, median_s: f64, sigma: f64, lo_s: f64, hi_s: f64) -> i64 {
        let s = self.lognormal(median_s, sigma).clamp(lo_s, hi_s);
        // Millisecond jitter so that timestamps do not all end in .000.
        (s * 1000.0) as i64 + self.range(0, 1000) - 500
    }
}

/// `e^x` by repeated squaring of `1 + x/2^20`: plain IEEE arithmetic, so deterministic
/// everywhere, and accurate to well under 0.1 % for the |x| < 4 used here.
pub(super) fn exp(x: f64) -> f64 {
    let mut y = 1.0 + x / 1_048_576.0;
    for _ in 0..20 {
        y *= y;
    }
    y
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_deterministic_and_distinct() {
        let (mut a, mut b) = (Rng::new(7), Rng::new(7));
        for _ in 0..4 {
            assert_eq!(a.next_u64(), b.next_u64());
        }
        assert_ne!(Rng::stream(1, 2).next_u64(), Rng::stream(1, 3).next_u64());
    }

    #[test]
    fn distributions_stay_in_range() {
        let mut r = Rng::new(42);
        for _ in 0..10_000 {
            let x = r.f64();
            assert!((0.0..1.0).contains(&x));
            assert!(r.below(10) < 10);
            let v = r.range(-5, 5);
            assert!((-5..5).contains(&v));
            let n = r.normal();
            assert!(n.abs() < 3.5);
            let d = r.duration(60.0, 0.5, 10.0, 600.0);
            assert!((9_500..=600_500).contains(&d));
        }
        assert!((exp(1.0) - std::f64::consts::E).abs() < 1e-3);
        assert!((exp(-2.0) - 0.135_335_283).abs() < 1e-3);
    }
}
