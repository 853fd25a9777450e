//! Resampling statistics: a seeded bootstrap of the median ratio and the A/A
//! noise floor. Deterministic for a given seed, so output is reproducible.

use crate::ratios::{median_sorted, percentile_sorted};

/// SplitMix64: small, fast, and good enough for resampling indices.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// Generator with the given seed.
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A standard normal draw (Box–Muller), for the simulation tests.
    #[cfg(test)]
    pub fn gauss(&mut self) -> f64 {
        let u1 = ((self.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
        let u2 = (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }

    /// Uniform index in `0..n` (`n > 0`), by multiply-shift.
    pub fn below(&mut self, n: usize) -> usize {
        ((self.next_u64() as u128 * n as u128) >> 64) as usize
    }
}

/// Median of a with-replacement resample of `xs` (non-empty), reusing `buf`.
fn resample_median(xs: &[f64], rng: &mut SplitMix64, buf: &mut Vec<f64>) -> f64 {
    buf.clear();
    buf.extend((0..xs.len()).map(|_| xs[rng.below(xs.len())]));
    buf.sort_by(f64::total_cmp);
    median_sorted(buf)
}

/// Percentile bootstrap interval of `median(var)/median(base) - 1`.
///
/// Each of `rounds` rounds resamples both sides independently with
/// replacement; rounds whose base median is 0 are skipped. Returns
/// `(low, high)` at the given two-sided `level` (e.g. 0.95), or `None` when a
/// side is empty or no round was usable.
pub fn bootstrap_change_ci(
    base: &[f64],
    var: &[f64],
    rounds: u32,
    seed: u64,
    level: f64,
) -> Option<(f64, f64)> {
    if base.is_empty() || var.is_empty() || rounds == 0 {
        return None;
    }
    let mut rng = SplitMix64::new(seed);
    let (mut b, mut v) = (Vec::new(), Vec::new());
    let mut changes = Vec::with_capacity(rounds as usize);
    for _ in 0..rounds {
        let mb = resample_median(base, &mut rng, &mut b);
        let mv = resample_median(var, &mut rng, &mut v);
        if mb != 0.0 {
            changes.push(mv / mb - 1.0);
        }
    }
    if changes.is_empty() {
        return None;
    }
    changes.sort_by(f64::total_cmp);
    let tail = (1.0 - level) / 2.0;
    Some((
        percentile_sorted(&changes, tail),
        percentile_sorted(&changes, 1.0 - tail),
    ))
}

/// A/A noise floor: the `level` percentile of `|median(X*)/median(Y*) - 1|`
/// where X* and Y* are independent resamples of the same A/A runs. It is the
/// change two identical builds show at this run count. `None` with fewer
/// than 2 runs.
pub fn aa_noise(aa: &[f64], rounds: u32, seed: u64, level: f64) -> Option<f64> {
    if aa.len() < 2 || rounds == 0 {
        return None;
    }
    let mut rng = SplitMix64::new(seed ^ 0xAA);
    let (mut x, mut y) = (Vec::new(), Vec::new());
    let mut d = Vec::with_capacity(rounds as usize);
    for _ in 0..rounds {
        let mx = resample_median(aa, &mut rng, &mut x);
        let my = resample_median(aa, &mut rng, &mut y);
        if my != 0.0 {
            d.push((mx / my - 1.0).abs());
        }
    }
    if d.is_empty() {
        return None;
    }
    d.sort_by(f64::total_cmp);
    Some(percentile_sorted(&d, level))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic() {
        let b = [100.0, 101.0, 99.0, 100.5, 98.0];
        let v = [103.0, 104.0, 102.0, 103.5, 101.0];
        let a = bootstrap_change_ci(&b, &v, 500, 7, 0.95).unwrap();
        assert_eq!(a, bootstrap_change_ci(&b, &v, 500, 7, 0.95).unwrap());
        assert!(a.0 <= a.1);
        assert!(a.0 > 0.0, "{a:?}");
    }

    #[test]
    fn identical_sets_have_zero_width() {
        let b = [5.0; 4];
        assert_eq!(bootstrap_change_ci(&b, &b, 100, 1, 0.95), Some((0.0, 0.0)));
        assert_eq!(aa_noise(&b, 100, 1, 0.95), Some(0.0));
        assert_eq!(aa_noise(&[1.0], 100, 1, 0.95), None);
        assert_eq!(bootstrap_change_ci(&[], &b, 100, 1, 0.95), None);
        assert_eq!(bootstrap_change_ci(&[0.0], &b, 100, 1, 0.95), None);
    }

    #[test]
    fn below_in_range() {
        let mut r = SplitMix64::new(3);
        for n in 1..50 {
            assert!(r.below(n) < n);
        }
    }
}
