//! Pure arithmetic of the rules. Every zero denominator is handled here,
//! explicitly, and documented on the function.

/// Slack for comparing a computed ratio with a threshold, so that a value
/// exactly at a threshold (e.g. 99/100 - 1 against -1 %) is not lost to
/// binary rounding.
pub const EPS: f64 = 1e-9;

/// `a >= b`, allowing [`EPS`] of rounding.
pub fn at_least(a: f64, b: f64) -> bool {
    a >= b - EPS * b.abs().max(1.0)
}

/// `a < b`, the negation of [`at_least`].
pub fn below(a: f64, b: f64) -> bool {
    !at_least(a, b)
}

/// Stage A stack inefficiency `num / max(1, hit)`. A zero `hit` counts as 1,
/// as the work order writes it.
pub fn stage_a_ratio(num: u128, hit: u128) -> f64 {
    num as f64 / hit.max(1) as f64
}

/// `num / den`, or `None` when `den` is 0.
pub fn per_call(num: u128, den: u128) -> Option<f64> {
    (den != 0).then(|| num as f64 / den as f64)
}

/// `num * 1e6 / den`, or `None` when `den` is 0.
pub fn per_million(num: u128, den: u128) -> Option<f64> {
    per_call(num, den).map(|r| r * 1e6)
}

/// Relative change `var / base - 1`, or `None` when `base` is 0 or either is
/// not finite.
pub fn change(base: f64, var: f64) -> Option<f64> {
    (base != 0.0 && base.is_finite() && var.is_finite()).then(|| var / base - 1.0)
}

/// Spread `max / min` of non-negative rates.
///
/// All zero gives `Some(1.0)` (identical); a zero minimum with a positive
/// maximum gives `None`, meaning unbounded (the lanes differ as much as they
/// can). An empty slice gives `Some(1.0)`.
pub fn spread(rates: &[f64]) -> Option<f64> {
    let max = rates.iter().copied().fold(0.0f64, f64::max);
    let min = rates.iter().copied().fold(f64::INFINITY, f64::min);
    if rates.is_empty() || max == 0.0 {
        Some(1.0)
    } else if min == 0.0 {
        None
    } else {
        Some(max / min)
    }
}

/// Median of `xs` (mean of the two middle values for an even count), or
/// `None` when empty. NaN values are not expected (the parser rejects them).
pub fn median(xs: &[f64]) -> Option<f64> {
    if xs.is_empty() {
        return None;
    }
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    Some(median_sorted(&v))
}

/// Median of an already sorted non-empty slice.
pub fn median_sorted(v: &[f64]) -> f64 {
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Percentile `p` in `[0, 1]` of a sorted non-empty slice, by linear
/// interpolation between closest ranks.
pub fn percentile_sorted(v: &[f64], p: f64) -> f64 {
    let pos = p.clamp(0.0, 1.0) * (v.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    v[lo] + (v[hi] - v[lo]) * (pos - lo as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_denominators() {
        assert_eq!(stage_a_ratio(5, 0), 5.0);
        assert_eq!(per_call(1, 0), None);
        assert_eq!(change(0.0, 1.0), None);
        assert_eq!(spread(&[0.0, 0.0]), Some(1.0));
        assert_eq!(spread(&[0.0, 2.0]), None);
        assert_eq!(spread(&[2.0, 3.0]), Some(1.5));
        assert_eq!(median(&[]), None);
    }

    #[test]
    fn medians() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(percentile_sorted(&[1.0, 2.0, 3.0], 0.5), 2.0);
        assert_eq!(percentile_sorted(&[1.0, 3.0], 0.25), 1.5);
    }

    #[test]
    fn thresholds_with_rounding() {
        // 99/100 - 1 is -0.010000000000000009 in binary floating point.
        assert!(at_least(99.0 / 100.0 - 1.0, -0.01));
        assert!(below(98.99 / 100.0 - 1.0, -0.01));
        assert!(at_least(0.2, 0.2));
        assert!(below(0.1999, 0.2));
    }
}
