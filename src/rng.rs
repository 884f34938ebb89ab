//! Deterministic, portable random numbers (xoshiro256++ seeded by SplitMix64).
//!
//! Independent streams are derived from `(seed, stream index)`, so results never depend on the
//! number of threads: give each unit of work (slice, walker batch) its own stream.

/// SplitMix64 step, used for seeding.
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// xoshiro256++ generator.
///
/// ```
/// use fibstack::rng::Rng;
/// let mut a = Rng::stream(42, 3);
/// let mut b = Rng::stream(42, 3);
/// assert_eq!(a.next_u64(), b.next_u64());
/// let x = a.uniform();
/// assert!((0.0..1.0).contains(&x));
/// ```
#[derive(Debug, Clone)]
pub struct Rng {
    s: [u64; 4],
}

impl Rng {
    /// Generator for `seed`.
    pub fn new(seed: u64) -> Self {
        Self::stream(seed, 0)
    }
    /// Independent stream `index` of `seed`.
    pub fn stream(seed: u64, index: u64) -> Self {
        let mut sm = seed ^ index.wrapping_mul(0xD1B5_4A32_D192_ED03);
        // mix the index in twice so nearby indices give unrelated states
        let _ = splitmix64(&mut sm);
        let mut s = [0u64; 4];
        for v in s.iter_mut() {
            *v = splitmix64(&mut sm);
        }
        if s == [0; 4] {
            s[0] = 1;
        }
        Rng { s }
    }
    /// The next 64 uniformly distributed random bits (advances the state).
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        let result = (self.s[0].wrapping_add(self.s[3]))
            .rotate_left(23)
            .wrapping_add(self.s[0]);
        let t = self.s[1] << 17;
        self.s[2] ^= self.s[0];
        self.s[3] ^= self.s[1];
        self.s[1] ^= self.s[2];
        self.s[0] ^= self.s[3];
        self.s[2] ^= t;
        self.s[3] = self.s[3].rotate_left(45);
        result
    }
    /// Uniform in [0, 1).
    #[inline]
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
    /// Uniform integer in [0, n) (n > 0), without modulo bias (Lemire).
    #[inline]
    pub fn below(&mut self, n: u64) -> u64 {
        debug_assert!(n > 0);
        let mut m = (self.next_u64() as u128) * (n as u128);
        let mut l = m as u64;
        if l < n {
            let t = n.wrapping_neg() % n;
            while l < t {
                m = (self.next_u64() as u128) * (n as u128);
                l = m as u64;
            }
        }
        (m >> 64) as u64
    }
    /// Standard normal (Box–Muller).
    pub fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.uniform(); // (0, 1]
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }
    /// Poisson-distributed count with mean `lambda` (Knuth for small, normal approx for large).
    pub fn poisson(&mut self, lambda: f64) -> f64 {
        if lambda <= 0.0 {
            return 0.0;
        }
        if lambda < 30.0 {
            let l = (-lambda).exp();
            let mut k = 0.0;
            let mut p = 1.0;
            loop {
                p *= self.uniform();
                if p <= l {
                    return k;
                }
                k += 1.0;
            }
        }
        (lambda + lambda.sqrt() * self.normal()).round().max(0.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_differ_and_repeat() {
        let a: Vec<u64> = (0..4).map(|i| Rng::stream(1, i).next_u64()).collect();
        let b: Vec<u64> = (0..4).map(|i| Rng::stream(1, i).next_u64()).collect();
        assert_eq!(a, b);
        for i in 0..4 {
            for j in i + 1..4 {
                assert_ne!(a[i], a[j]);
            }
        }
    }

    #[test]
    fn uniform_mean_and_normal_variance() {
        let mut r = Rng::new(7);
        let n = 200_000;
        let m: f64 = (0..n).map(|_| r.uniform()).sum::<f64>() / n as f64;
        assert!((m - 0.5).abs() < 0.005, "mean {m}");
        let v: f64 = (0..n).map(|_| r.normal().powi(2)).sum::<f64>() / n as f64;
        assert!((v - 1.0).abs() < 0.02, "var {v}");
        let c: f64 = (0..n).map(|_| r.below(6) as f64).sum::<f64>() / n as f64;
        assert!((c - 2.5).abs() < 0.02, "below mean {c}");
        let p: f64 = (0..n / 10).map(|_| r.poisson(4.0)).sum::<f64>() / (n / 10) as f64;
        assert!((p - 4.0).abs() < 0.05, "poisson mean {p}");
    }
}
