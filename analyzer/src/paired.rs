//! Paired estimates of a change from interleaved rounds.
//!
//! hz-lab runs base and var back to back in every round, so the two runs of
//! one round share the machine's state (other load, page cache, thermal
//! state). The per-round log-ratio `d_i = ln(var_i) - ln(base_i)` removes
//! that shared part; its spread is what limits a paired estimate. On the
//! recorded A/A logs the paired standard error is about half the unpaired
//! one on guard_r0 and three quarters on cross128_r90.
//!
//! Two estimators of the centre of the `d_i`, both reported as a change
//! `exp(x) - 1`:
//! - the **mean**, with a Student-t interval (exact under normal noise);
//! - the **Hodges–Lehmann** estimate (median of the Walsh averages
//!   `(d_i + d_j) / 2`, `i <= j`), with the distribution-free interval that
//!   inverts the Wilcoxon signed-rank test: exact null distribution up to
//!   [`EXACT_MAX_N`] rounds, its normal approximation beyond. It loses
//!   about 5 % efficiency against the mean under normal noise and is far
//!   less moved by a round that a VM hiccup spoiled, so it is the one the
//!   gates use.

use crate::ratios::median_sorted;

/// Largest round count for which the signed-rank null distribution is
/// counted exactly (its counts reach 2^n, which fits in a `u128`).
pub const EXACT_MAX_N: usize = 120;

/// A paired estimate in log space, with its two intervals.
#[derive(Debug, Clone, PartialEq)]
pub struct Paired {
    /// Number of rounds (pairs).
    pub n: usize,
    /// Mean of the `d_i`.
    pub mean: f64,
    /// Sample standard deviation of the `d_i` (0 with one round).
    pub sd: f64,
    /// Student-t interval of the mean at the requested level.
    pub mean_ci: Option<(f64, f64)>,
    /// Hodges–Lehmann estimate of the centre.
    pub hl: f64,
    /// Signed-rank interval of the centre at the requested level, or
    /// `None` when the rounds are too few to reach it (an exact two-sided
    /// 95 % interval needs at least 6 rounds).
    pub hl_ci: Option<(f64, f64)>,
}

/// Per-round log-ratios of `(base, var)` throughputs; pairs with a
/// non-positive or non-finite side are skipped.
pub fn log_ratios(pairs: &[(f64, f64)]) -> Vec<f64> {
    pairs
        .iter()
        .filter(|(b, v)| b.is_finite() && v.is_finite() && *b > 0.0 && *v > 0.0)
        .map(|(b, v)| v.ln() - b.ln())
        .collect()
}

/// Both estimates of the `d_i` at two-sided `level` (e.g. 0.95); `None`
/// for an empty input.
pub fn estimate(d: &[f64], level: f64) -> Option<Paired> {
    if d.is_empty() {
        return None;
    }
    let n = d.len();
    let mean = d.iter().sum::<f64>() / n as f64;
    let sd = if n > 1 {
        (d.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt()
    } else {
        0.0
    };
    let mean_ci = (n > 1).then(|| {
        let half = t_quantile(0.5 + level / 2.0, (n - 1) as f64) * sd / (n as f64).sqrt();
        (mean - half, mean + half)
    });
    let walsh = walsh_sorted(d);
    Some(Paired {
        n,
        mean,
        sd,
        mean_ci,
        hl: median_sorted(&walsh),
        hl_ci: signed_rank_ci(&walsh, n, level),
    })
}

/// The `n(n+1)/2` Walsh averages of `d`, sorted.
fn walsh_sorted(d: &[f64]) -> Vec<f64> {
    let mut w = Vec::with_capacity(d.len() * (d.len() + 1) / 2);
    for i in 0..d.len() {
        for j in i..d.len() {
            w.push((d[i] + d[j]) / 2.0);
        }
    }
    w.sort_by(f64::total_cmp);
    w
}

/// The interval `[W_(k), W_(M+1-k)]` of the `M` sorted Walsh averages
/// (1-based), where `k - 1` is the largest signed-rank count `c` with
/// `P(T <= c) <= (1 - level) / 2` under the null.
fn signed_rank_ci(walsh: &[f64], n: usize, level: f64) -> Option<(f64, f64)> {
    let k = signed_rank_k(n, level)?;
    Some((walsh[k - 1], walsh[walsh.len() - k]))
}

/// The 1-based index `k` of the signed-rank interval's lower end among the
/// `n(n+1)/2` sorted Walsh averages of `n` rounds (the upper end is the
/// `k`-th from the top), or `None` when the rounds are too few.
pub fn signed_rank_k(n: usize, level: f64) -> Option<usize> {
    let m = n * (n + 1) / 2;
    let tail = (1.0 - level) / 2.0;
    let exact_level = crate::exact::Ratio::of_f64(level).filter(|r| r.num > 0);
    let k = if let (true, Some(r)) = (n <= EXACT_MAX_N, exact_level) {
        // Number of counts c with P(T <= c) <= tail; the interval drops
        // that many Walsh averages at each end. With level = a / b, the
        // tail is (b - a) / (2 b), compared in integers:
        // cum(c) * 2 b <= (b - a) * 2^n.
        let (a, b) = (r.num as u128, r.den);
        let spare = b.checked_sub(a)?;
        let all = 1u128 << n;
        signed_rank_cum(n)
            .iter()
            .take_while(|c| crate::exact::cmp_products(&[**c, 2, b], &[spare, all]).is_le())
            .count()
    } else if n <= EXACT_MAX_N {
        let cdf = signed_rank_cdf(n);
        cdf.iter().take_while(|p| **p <= tail).count()
    } else {
        let mu = (n * (n + 1)) as f64 / 4.0;
        let sigma = ((n * (n + 1) * (2 * n + 1)) as f64 / 24.0).sqrt();
        // P(T <= c) ≈ Φ((c + 0.5 - mu) / sigma) <= tail, continuity-corrected.
        let c = mu - 0.5 - normal_quantile(1.0 - tail) * sigma;
        if c < 0.0 {
            0
        } else {
            c.floor() as usize + 1
        }
    };
    (k >= 1 && k <= m / 2).then_some(k)
}

/// `P(T <= c)` for `c = 0..=n(n+1)/2`, `T` the signed-rank statistic of
/// `n` rounds under the null (each rank's sign a fair coin).
pub fn signed_rank_cdf(n: usize) -> Vec<f64> {
    let total = 2f64.powi(n as i32);
    signed_rank_cum(n)
        .iter()
        .map(|c| *c as f64 / total)
        .collect()
}

/// The counts behind [`signed_rank_cdf`]: how many of the `2^n` sign
/// patterns give `T <= c`, for `c = 0..=n(n+1)/2` (`n <= EXACT_MAX_N`).
pub fn signed_rank_cum(n: usize) -> Vec<u128> {
    let max = n * (n + 1) / 2;
    let mut ways = vec![0u128; max + 1];
    ways[0] = 1;
    for r in 1..=n {
        for s in (r..=max).rev() {
            ways[s] += ways[s - r];
        }
    }
    let mut acc = 0u128;
    ways.iter()
        .map(|w| {
            acc += w;
            acc
        })
        .collect()
}

/// Standard normal CDF, through the complementary error function (series
/// below 2, continued fraction above; about 1e-14 accurate).
pub fn normal_cdf(x: f64) -> f64 {
    0.5 * erfc(-x / std::f64::consts::SQRT_2)
}

/// Complementary error function.
fn erfc(x: f64) -> f64 {
    if x < 0.0 {
        return 2.0 - erfc(-x);
    }
    if x < 2.0 {
        // Series of erf: 2/sqrt(pi) * sum (-1)^k x^(2k+1) / (k! (2k+1)).
        let mut term = x;
        let mut sum = x;
        let x2 = x * x;
        for k in 1..200 {
            term *= -x2 / k as f64;
            let add = term / (2 * k + 1) as f64;
            sum += add;
            if add.abs() < 1e-17 * sum.abs() {
                break;
            }
        }
        1.0 - sum * 2.0 / std::f64::consts::PI.sqrt()
    } else {
        // Continued fraction (Lentz), good for x >= 2.
        let tiny = 1e-300;
        let mut f = x;
        let mut c = x;
        let mut d = 0.0;
        for k in 1..300 {
            let a = k as f64 / 2.0;
            d = x + a * d;
            d = if d.abs() < tiny { tiny } else { d };
            c = x + a / c;
            c = if c.abs() < tiny { tiny } else { c };
            d = 1.0 / d;
            let delta = c * d;
            f *= delta;
            if (delta - 1.0).abs() < 1e-16 {
                break;
            }
        }
        (-x * x).exp() / (f * std::f64::consts::PI.sqrt())
    }
}

/// Standard normal quantile, by bisection on [`normal_cdf`] (slow paths
/// only; about 1e-13 accurate).
pub fn normal_quantile(p: f64) -> f64 {
    bisect(|x| normal_cdf(x) - p, -40.0, 40.0)
}

/// Student-t CDF with `df` degrees of freedom, through the regularized
/// incomplete beta function.
pub fn t_cdf(t: f64, df: f64) -> f64 {
    let x = df / (df + t * t);
    let tail = 0.5 * incomplete_beta(df / 2.0, 0.5, x);
    if t >= 0.0 {
        1.0 - tail
    } else {
        tail
    }
}

/// Student-t quantile by bisection on [`t_cdf`].
pub fn t_quantile(p: f64, df: f64) -> f64 {
    bisect(|x| t_cdf(x, df) - p, -1e4, 1e4)
}

fn bisect(f: impl Fn(f64) -> f64, mut lo: f64, mut hi: f64) -> f64 {
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if f(mid) < 0.0 {
            lo = mid;
        } else {
            hi = mid;
        }
        if hi - lo < 1e-14 * (1.0 + mid.abs()) {
            break;
        }
    }
    0.5 * (lo + hi)
}

/// Regularized incomplete beta `I_x(a, b)`, by its continued fraction
/// (modified Lentz), using the symmetry `I_x(a,b) = 1 - I_{1-x}(b,a)` where
/// the fraction converges slowly.
fn incomplete_beta(a: f64, b: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let ln_front = ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b) + a * x.ln() + b * (1.0 - x).ln();
    if x > (a + 1.0) / (a + b + 2.0) {
        return 1.0 - incomplete_beta(b, a, 1.0 - x);
    }
    let tiny = 1e-300;
    let mut c = 1.0;
    let mut d = 1.0 - (a + b) * x / (a + 1.0);
    d = if d.abs() < tiny { tiny } else { d };
    d = 1.0 / d;
    let mut h = d;
    for m in 1..500 {
        let m = m as f64;
        for step in 0..2 {
            let num = if step == 0 {
                m * (b - m) * x / ((a + 2.0 * m - 1.0) * (a + 2.0 * m))
            } else {
                -(a + m) * (a + b + m) * x / ((a + 2.0 * m) * (a + 2.0 * m + 1.0))
            };
            d = 1.0 + num * d;
            d = if d.abs() < tiny { tiny } else { d };
            c = 1.0 + num / c;
            c = if c.abs() < tiny { tiny } else { c };
            d = 1.0 / d;
            h *= d * c;
        }
        if (d * c - 1.0).abs() < 1e-15 {
            break;
        }
    }
    ln_front.exp() * h / a
}

/// `ln Γ(x)` for `x > 0` (Lanczos, g = 7, nine terms).
fn ln_gamma(x: f64) -> f64 {
    const G: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut a = G[0];
    let t = x + 7.5;
    for (i, g) in G.iter().enumerate().skip(1) {
        a += g / (x + i as f64);
    }
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) {
        assert!((a - b).abs() <= tol, "{a} vs {b}");
    }

    #[test]
    fn distribution_functions_match_tables() {
        close(normal_cdf(0.0), 0.5, 1e-15);
        close(normal_cdf(1.959_963_984_540_054), 0.975, 1e-12);
        close(normal_cdf(-3.0), 0.001_349_898_031_630_094_5, 1e-15);
        close(normal_quantile(0.975), 1.959_963_984_540_054, 1e-10);
        // Student t: 97.5 % points from the usual tables.
        close(t_quantile(0.975, 1.0), 12.706_204_736, 1e-6);
        close(t_quantile(0.975, 6.0), 2.446_911_851, 1e-8);
        close(t_quantile(0.975, 20.0), 2.085_963_447, 1e-8);
        close(t_quantile(0.975, 1e6), 1.959_966, 1e-5);
        close(t_cdf(0.0, 5.0), 0.5, 1e-15);
    }

    #[test]
    fn signed_rank_null_distribution_by_hand() {
        // n = 3: sums of subsets of {1,2,3}: 0,1,2,3,3,4,5,6 → counts
        // 1,1,1,2,1,1,1 over 8.
        let cdf = signed_rank_cdf(3);
        let want = [1.0, 2.0, 3.0, 5.0, 6.0, 7.0, 8.0].map(|c| c / 8.0);
        assert_eq!(cdf.len(), 7);
        for (a, b) in cdf.iter().zip(want) {
            close(*a, b, 1e-15);
        }
        // Tabled two-sided 5 % critical values of T: n=6 → 0, n=10 → 8,
        // n=20 → 52 (P(T <= c) <= 0.025 at c, not at c + 1).
        for (n, c) in [(6usize, 0usize), (10, 8), (20, 52)] {
            let cdf = signed_rank_cdf(n);
            assert!(cdf[c] <= 0.025 && cdf[c + 1] > 0.025, "n={n}");
        }
    }

    #[test]
    fn hodges_lehmann_and_its_interval_by_hand() {
        // Five rounds: too few for an exact 95 % interval (min tail 1/32 > 0.025).
        let p = estimate(&[0.01, 0.02, 0.03, 0.04, 0.10], 0.95).unwrap();
        assert_eq!(p.hl_ci, None);
        // Walsh averages of {1,2,3,4,10} (×0.01), sorted: 1 1.5 2 2 2.5 2.5
        // 3 3 3.5 4 5.5 6 6.5 7 10; the 8th of 15 is 3 → 0.03.
        close(p.hl, 0.03, 1e-15);
        close(p.mean, 0.04, 1e-15);
        // Six rounds: k = 1, the interval is [min d, max d].
        let d = [0.05, -0.01, 0.02, 0.03, 0.00, 0.04];
        let p = estimate(&d, 0.95).unwrap();
        assert_eq!(p.hl_ci, Some((-0.01, 0.05)));
        // At 90 % (tail 0.05): P(T<=2) = 3/64 <= 0.05 < P(T<=3) = 5/64,
        // so k = 3.
        let p90 = estimate(&d, 0.90).unwrap();
        let w = walsh_sorted(&d);
        assert_eq!(p90.hl_ci, Some((w[2], w[w.len() - 3])));
    }

    #[test]
    fn mean_interval_by_hand() {
        // d = 1,2,3,4: mean 2.5, sd sqrt(5/3), t(0.975, 3) = 3.182446305.
        let p = estimate(&[1.0, 2.0, 3.0, 4.0], 0.95).unwrap();
        let half = 3.182_446_305_284_263 * (5.0f64 / 3.0).sqrt() / 2.0;
        let (lo, hi) = p.mean_ci.unwrap();
        close(lo, 2.5 - half, 1e-8);
        close(hi, 2.5 + half, 1e-8);
        assert_eq!(estimate(&[], 0.95), None);
        assert_eq!(estimate(&[0.1], 0.95).unwrap().mean_ci, None);
    }

    #[test]
    fn large_n_uses_the_normal_approximation_consistently() {
        // At the switch-over the exact and approximate counts agree to 1.
        let n = EXACT_MAX_N;
        let cdf = signed_rank_cdf(n);
        let exact = cdf.iter().take_while(|p| **p <= 0.025).count();
        let mu = (n * (n + 1)) as f64 / 4.0;
        let sigma = ((n * (n + 1) * (2 * n + 1)) as f64 / 24.0).sqrt();
        let approx = (mu - 0.5 - 1.959_963_984_540_054 * sigma).floor() as usize + 1;
        assert!(exact.abs_diff(approx) <= 1, "{exact} vs {approx}");
        let d: Vec<f64> = (0..200).map(|i| ((i * 37) % 101) as f64 / 1000.0).collect();
        let p = estimate(&d, 0.95).unwrap();
        let (lo, hi) = p.hl_ci.unwrap();
        assert!(lo < p.hl && p.hl < hi);
    }

    #[test]
    fn log_ratios_skip_bad_pairs() {
        let d = log_ratios(&[(100.0, 110.0), (0.0, 5.0), (f64::NAN, 1.0), (50.0, 50.0)]);
        assert_eq!(d.len(), 2);
        close(d[0], (1.1f64).ln(), 1e-15);
        assert_eq!(d[1], 0.0);
    }

    #[test]
    fn intervals_cover_a_null_centre_at_their_level() {
        // 4000 synthetic A/A pools of 21 rounds with heavy-ish noise: both
        // intervals must hold 0 about 95 % of the time (exact signed-rank
        // intervals are a little conservative by construction).
        let mut rng = crate::stats::SplitMix64::new(2026);
        let (mut hl_in, mut mean_in) = (0, 0);
        let pools = 4000;
        for _ in 0..pools {
            let d: Vec<f64> = (0..21).map(|_| 0.05 * rng.gauss()).collect();
            let p = estimate(&d, 0.95).unwrap();
            let (lo, hi) = p.hl_ci.unwrap();
            hl_in += (lo <= 0.0 && 0.0 <= hi) as u32;
            let (lo, hi) = p.mean_ci.unwrap();
            mean_in += (lo <= 0.0 && 0.0 <= hi) as u32;
        }
        let hl = hl_in as f64 / pools as f64;
        let mean = mean_in as f64 / pools as f64;
        // Monte Carlo SE 0.0034; allow about 4 SE below and some above.
        assert!((0.936..=0.975).contains(&hl), "HL coverage {hl}");
        assert!((0.936..=0.965).contains(&mean), "mean coverage {mean}");
    }
}
