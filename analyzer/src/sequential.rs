//! Group-sequential boundaries for looking at a paired estimate more than
//! once: Lan–DeMets α-spending with the O'Brien–Fleming-type function
//! `α(t) = 2 − 2Φ(z_{1−α/2} / √t)`.
//!
//! Looking at a plain 95 % interval after rounds 7, 14 and 21 and stopping
//! at the first that excludes the gate gives about 11 % false decisions
//! instead of 5 %. With spending, look `k` at information fraction `t_k`
//! (rounds so far over the planned maximum) uses a wider critical value
//! `c_k`, chosen so that the probability of crossing for the first time at
//! look `k` under the null is exactly `α(t_k) − α(t_{k−1})`; the total over
//! all looks is α. The O'Brien–Fleming shape spends almost nothing early
//! (c ≈ 3.5 at a third of the rounds), so the last look's value stays close
//! to the fixed-sample 1.96 and early stops happen only for clear effects.
//! Looks need not be planned in advance: each new look's value depends only
//! on the earlier looks' fractions.
//!
//! The computation follows the usual recursion on the density of the
//! standardized sum `B(t)` (a Brownian motion under the null) over the
//! continuation region, integrated numerically on a grid.

use crate::paired::{normal_cdf, normal_quantile};

/// Grid points per unit of `B(t)` for the numerical integration.
const GRID_PER_UNIT: f64 = 120.0;

/// The spent two-sided error at information fraction `t` (0 < t <= 1).
pub fn obf_spent(alpha: f64, t: f64) -> f64 {
    if t <= 0.0 {
        return 0.0;
    }
    let z = normal_quantile(1.0 - alpha / 2.0);
    2.0 - 2.0 * normal_cdf(z / t.min(1.0).sqrt())
}

/// Two-sided critical values (on the z scale) for looks at increasing
/// information fractions `ts` (each in (0, 1]; the last is usually 1), at
/// total error `alpha`.
pub fn obf_bounds(alpha: f64, ts: &[f64]) -> Vec<f64> {
    let mut bounds = Vec::with_capacity(ts.len());
    // Density of B(t_{k-1}) on the continuation region, on a grid.
    let mut grid: Vec<f64> = Vec::new();
    let mut dens: Vec<f64> = Vec::new();
    let mut prev_t = 0.0;
    let mut prev_spent = 0.0;
    for &t in ts {
        let t = t.clamp(1e-9, 1.0);
        let spent = obf_spent(alpha, t);
        let target = (spent - prev_spent).max(0.0);
        let dt = t - prev_t;
        let c = if bounds.is_empty() {
            // First look: |B(t)| / sqrt(t) is standard normal.
            normal_quantile(1.0 - target / 2.0)
        } else {
            // Exit probability through ±b·sqrt(t) from the earlier density.
            let exit = |c: f64| -> f64 {
                let b = c * t.sqrt();
                integrate(&grid, &dens, |x| {
                    let s = dt.sqrt();
                    normal_cdf((-b - x) / s) + (1.0 - normal_cdf((b - x) / s))
                })
            };
            if target <= 0.0 {
                f64::INFINITY
            } else {
                // exit(c) decreases in c: bisect.
                let (mut lo, mut hi) = (0.0, 40.0);
                for _ in 0..100 {
                    let mid = 0.5 * (lo + hi);
                    if exit(mid) > target {
                        lo = mid;
                    } else {
                        hi = mid;
                    }
                }
                0.5 * (lo + hi)
            }
        };
        // New density on |y| < c·sqrt(t).
        let b = if c.is_finite() { c * t.sqrt() } else { 40.0 };
        let points = ((2.0 * b * GRID_PER_UNIT).ceil() as usize).max(2) | 1;
        let new_grid: Vec<f64> = (0..points)
            .map(|i| -b + 2.0 * b * i as f64 / (points - 1) as f64)
            .collect();
        let new_dens: Vec<f64> = if bounds.is_empty() {
            new_grid
                .iter()
                .map(|y| normal_pdf(y / t.sqrt()) / t.sqrt())
                .collect()
        } else {
            let s = dt.sqrt();
            new_grid
                .iter()
                .map(|y| integrate(&grid, &dens, |x| normal_pdf((y - x) / s) / s))
                .collect()
        };
        grid = new_grid;
        dens = new_dens;
        bounds.push(c);
        prev_t = t;
        prev_spent = spent;
    }
    bounds
}

fn normal_pdf(x: f64) -> f64 {
    (-0.5 * x * x).exp() / (2.0 * std::f64::consts::PI).sqrt()
}

/// Simpson's rule of `dens(x) · f(x)` over an odd-length uniform grid.
fn integrate(grid: &[f64], dens: &[f64], f: impl Fn(f64) -> f64) -> f64 {
    let n = grid.len();
    if n < 3 {
        return 0.0;
    }
    let h = (grid[n - 1] - grid[0]) / (n - 1) as f64;
    let mut sum = 0.0;
    for i in 0..n {
        let w = if i == 0 || i == n - 1 {
            1.0
        } else if i % 2 == 1 {
            4.0
        } else {
            2.0
        };
        sum += w * dens[i] * f(grid[i]);
    }
    sum * h / 3.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spending_function_ends_at_alpha() {
        assert!((obf_spent(0.05, 1.0) - 0.05).abs() < 1e-12);
        assert!(obf_spent(0.05, 0.5) < 0.006);
        assert_eq!(obf_spent(0.05, 0.0), 0.0);
    }

    #[test]
    fn one_look_is_the_fixed_sample_value() {
        let b = obf_bounds(0.05, &[1.0]);
        assert!((b[0] - 1.959_963_984_540_054).abs() < 1e-9, "{b:?}");
    }

    #[test]
    fn first_look_has_the_closed_form() {
        // At the first look nothing was spent before, so c_1 is the normal
        // quantile of the spent error: with this spending function exactly
        // z_{1-α/2} / sqrt(t_1).
        let b = obf_bounds(0.05, &[1.0 / 3.0, 2.0 / 3.0, 1.0]);
        let want = 1.959_963_984_540_054 * 3f64.sqrt();
        assert!((b[0] - want).abs() < 1e-9, "{b:?}");
        // Later looks: wider than 1.96, narrowing towards it.
        assert!(
            b[1] > 2.3 && b[1] < b[0] && b[2] > 1.96 && b[2] < b[1],
            "{b:?}"
        );
    }

    #[test]
    fn bounds_fall_and_total_error_is_alpha() {
        let ts: Vec<f64> = (1..=6).map(|k| k as f64 / 6.0).collect();
        let b = obf_bounds(0.05, &ts);
        assert!(b.windows(2).all(|w| w[0] > w[1]), "{b:?}");
        // The last bound is a little above the fixed-sample 1.96.
        assert!(b[5] > 1.96 && b[5] < 2.1, "{b:?}");
    }
}

#[cfg(test)]
mod simulation {
    use super::*;
    use crate::stats::SplitMix64;

    #[test]
    fn simulated_crossing_rate_is_alpha() {
        // Looks after 7, 14, 21 and 28 of 28 rounds; 100 000 null paths.
        let looks = [7usize, 14, 21, 28];
        let ts: Vec<f64> = looks.iter().map(|n| *n as f64 / 28.0).collect();
        let b = obf_bounds(0.05, &ts);
        let mut rng = SplitMix64::new(77);
        let paths = 100_000;
        let mut crossed = 0;
        for _ in 0..paths {
            let mut sum = 0.0;
            let mut n = 0;
            for (k, &at) in looks.iter().enumerate() {
                while n < at {
                    sum += rng.gauss();
                    n += 1;
                }
                if (sum / (n as f64).sqrt()).abs() >= b[k] {
                    crossed += 1;
                    break;
                }
            }
        }
        let rate = crossed as f64 / paths as f64;
        // Monte Carlo SE is 0.0007; allow 4 SE.
        assert!((rate - 0.05).abs() < 0.003, "rate {rate}, bounds {b:?}");
    }
}
