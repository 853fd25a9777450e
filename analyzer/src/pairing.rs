//! The paired gate estimate: pairs base and var runs of a lane by the round
//! the lab ran them in, estimates the change with [`crate::paired`] and
//! decides the gate by its interval.
//!
//! Pairing: a run's round is the `run=` of its `[HZ_LANE]` marker (hz-lab
//! writes run NN of a lane and variant in round NN, the same number as the
//! manifest's `runs[].run`). Base run and var run of round r ran back to
//! back on the same lane. The runs of a lane pair only when every run of
//! both sides carries a round, no round repeats on a side, both sides hold
//! the same rounds and all come from one lab directory; otherwise the lane
//! falls back to the unpaired change of medians with its bootstrap
//! interval, and the note says why.
//!
//! Interval rule, for a gate `change >= g`: **pass** when the interval's
//! lower end is `>= g`, **fail** when its upper end is `< g`, otherwise
//! **undecided** (the interval holds the gate: more rounds are needed).
//! A gate passed this way is passed with 97.5 % one-sided confidence; on
//! A/A data (true change 0) a `+1 %` gate passes at most 2.5 % of the time.
//! The decision is exact (see [`exact_interval_status`]): it compares
//! products of the logs' decimal throughputs with the rational gate, and
//! equality passes. The estimate and interval shown are f64 logarithms.

use crate::exact::{cmp_products, Ratio};
use crate::model::{LaneSummary, PairedGate, PairingKind, RoundOps, Status};
use crate::paired;
use crate::report::fmt::pct;
use crate::stats;

/// Rounds of one lane that pair: `(round, base ops/s, var ops/s)` sorted by
/// round, or why they do not.
pub fn pair_rounds(
    base: Option<&LaneSummary>,
    var: Option<&LaneSummary>,
) -> Result<Vec<(u64, f64, f64)>, String> {
    Ok(pair_runs(base, var)?
        .iter()
        .map(|(r, b, v)| (*r, b.ops, v.ops))
        .collect())
}

/// As [`pair_rounds`], with each side's whole record (the exact
/// throughput included).
pub fn pair_runs(
    base: Option<&LaneSummary>,
    var: Option<&LaneSummary>,
) -> Result<Vec<(u64, RoundOps, RoundOps)>, String> {
    let (Some(b), Some(v)) = (base, var) else {
        return Err("no runs on one side".into());
    };
    let side = |name: &str, l: &LaneSummary| -> Result<(String, Vec<(u64, RoundOps)>), String> {
        if l.rounds.len() != l.ops_per_sec.len() {
            return Err(format!(
                "{name}: {} of {} runs carry no round ([HZ_LANE] run=)",
                l.ops_per_sec.len() - l.rounds.len(),
                l.ops_per_sec.len()
            ));
        }
        if l.round_dirs.len() != 1 {
            return Err(format!(
                "{name}: runs from {} lab directories ({})",
                l.round_dirs.len(),
                l.round_dirs.join(", ")
            ));
        }
        let mut r: Vec<(u64, RoundOps)> = l.rounds.iter().map(|x| (x.round, *x)).collect();
        r.sort_by_key(|x| x.0);
        if let Some(w) = r.windows(2).find(|w| w[0].0 == w[1].0) {
            return Err(format!("{name}: round {} appears twice", w[0].0));
        }
        Ok((l.round_dirs[0].clone(), r))
    };
    let (bd, br) = side("base", b)?;
    let (vd, vr) = side("var", v)?;
    if bd != vd {
        return Err(format!(
            "base and var runs come from different lab directories ({bd}, {vd})"
        ));
    }
    let only = |a: &[(u64, RoundOps)], c: &[(u64, RoundOps)]| -> Vec<String> {
        a.iter()
            .filter(|x| !c.iter().any(|y| y.0 == x.0))
            .map(|x| x.0.to_string())
            .take(8)
            .collect()
    };
    let (ob, ov) = (only(&br, &vr), only(&vr, &br));
    if !ob.is_empty() || !ov.is_empty() {
        return Err(format!(
            "rounds differ (only on base: {}; only on var: {})",
            if ob.is_empty() {
                "-".into()
            } else {
                ob.join(" ")
            },
            if ov.is_empty() {
                "-".into()
            } else {
                ov.join(" ")
            }
        ));
    }
    Ok(br.iter().zip(&vr).map(|(x, y)| (x.0, x.1, y.1)).collect())
}

/// Interval rule: pass when `lo >= g`, fail when `hi < g`, else undecided.
pub fn interval_status(lo: f64, hi: f64, g: f64) -> Status {
    if lo >= g {
        Status::Pass
    } else if hi < g {
        Status::Fail
    } else {
        Status::Undecided
    }
}

/// Rounds an interval of half-width `half` at `n` rounds would need to
/// exclude `g` from an estimate at `est`, if both stay as they are
/// (`None`: the estimate is on the gate).
pub fn rounds_needed(n: u64, half: f64, est: f64, g: f64) -> Option<u64> {
    let dist = (est - g).abs();
    if dist.is_nan() || dist <= 0.0 || !half.is_finite() {
        return None;
    }
    let r = n as f64 * (half / dist).powi(2);
    (r.is_finite() && r < 1e12).then(|| (r.ceil() as u64).max(n + 1))
}

/// The paired estimate of one lane at two-sided `level`, decided against
/// the gate `threshold_pct` by [`interval_status`]. `bootstrap`/`seed` are
/// for the unpaired fallback's interval.
pub fn paired_gate(
    base: Option<&LaneSummary>,
    var: Option<&LaneSummary>,
    threshold_pct: f64,
    level: f64,
    bootstrap: u32,
    seed: u64,
) -> PairedGate {
    let g = threshold_pct / 100.0;
    match pair_runs(base, var) {
        Ok(runs) => {
            let pairs: Vec<(u64, f64, f64)> =
                runs.iter().map(|(r, b, v)| (*r, b.ops, v.ops)).collect();
            let micro: Vec<(u64, u64)> = runs.iter().map(|(_, b, v)| (b.micro, v.micro)).collect();
            paired_decide(&pairs, Some(&micro), threshold_pct, level)
        }
        Err(why) => {
            let ops =
                |l: Option<&LaneSummary>| l.map(|l| l.ops_per_sec.clone()).unwrap_or_default();
            let (b, v) = (ops(base), ops(var));
            let med = |x: &[f64]| crate::ratios::median(x);
            let change = med(&b)
                .zip(med(&v))
                .filter(|(mb, _)| *mb > 0.0)
                .map(|(mb, mv)| mv / mb - 1.0);
            let ci = stats::bootstrap_change_ci(&b, &v, bootstrap, seed, level);
            let n = b.len().min(v.len()) as u64;
            let (status, detail, needed) = match (change, ci) {
                (Some(c), Some((lo, hi))) => {
                    let st = interval_status(lo, hi, g);
                    let needed = (st == Status::Undecided)
                        .then(|| rounds_needed(n, (hi - lo) / 2.0, c, g))
                        .flatten();
                    (
                        st,
                        describe(
                            "unpaired change of medians",
                            n,
                            c,
                            lo,
                            hi,
                            g,
                            st,
                            needed,
                            level,
                        ),
                        needed,
                    )
                }
                _ => (
                    Status::Undecided,
                    "unpaired: a side has no run with throughput".to_owned(),
                    None,
                ),
            };
            PairedGate {
                method: PairingKind::Unpaired,
                rounds: n,
                level,
                change_pct: change.map(|c| c * 100.0),
                ci_low_pct: ci.map(|c| c.0 * 100.0),
                ci_high_pct: ci.map(|c| c.1 * 100.0),
                mean_pct: None,
                mean_ci_low_pct: None,
                mean_ci_high_pct: None,
                sd_pct: None,
                status,
                detail,
                note: Some(format!("not paired: {why}")),
                rounds_needed: needed,
            }
        }
    }
}

/// The paired estimate over rounds already paired: `(round, base, var)`,
/// decided in f64 (the resampling tools use this one).
pub fn paired_from_pairs(pairs: &[(u64, f64, f64)], threshold_pct: f64, level: f64) -> PairedGate {
    paired_decide(pairs, None, threshold_pct, level)
}

/// The exact form of the interval rule. The signed-rank interval's ends
/// are Walsh averages `(d_i + d_j) / 2` of `d = ln(var / base)`, and
/// `(d_i + d_j) / 2 < ln(1 + g)` holds exactly when
/// `var_i * var_j < (1 + g)^2 * base_i * base_j`. So the `k`-th smallest
/// Walsh average is at least the gate when fewer than `k` of the
/// `n(n+1)/2` products fall below it (pass), and the `k`-th largest is
/// below the gate when fewer than `k` reach it (fail). Throughputs are the
/// logs' decimals in millionths and `1 + g = (100 q + p) / (100 q)` for the
/// gate `p / q` %, so no float takes part. `None` when a throughput is 0
/// or the gate is not a finite decimal.
pub fn exact_interval_status(micro: &[(u64, u64)], k: usize, gate_pct: f64) -> Option<Status> {
    let g = Ratio::of_f64(gate_pct)?;
    let den = 100 * g.den;
    let num = u128::try_from(100 * g.den as i128 + g.num).ok()?;
    if num == 0 || micro.iter().any(|(b, v)| *b == 0 || *v == 0) {
        return None;
    }
    let m = micro.len() * (micro.len() + 1) / 2;
    let mut below = 0usize;
    for i in 0..micro.len() {
        for j in i..micro.len() {
            let (bi, vi) = (micro[i].0 as u128, micro[i].1 as u128);
            let (bj, vj) = (micro[j].0 as u128, micro[j].1 as u128);
            if cmp_products(&[vi, vj, den, den], &[bi, bj, num, num]).is_lt() {
                below += 1;
            }
        }
    }
    Some(if below < k {
        Status::Pass
    } else if m - below < k {
        Status::Fail
    } else {
        Status::Undecided
    })
}

/// The paired estimate and its decision; with `micro` (the same rounds'
/// exact throughputs) the decision is [`exact_interval_status`], else the
/// f64 interval's.
pub fn paired_decide(
    pairs: &[(u64, f64, f64)],
    micro: Option<&[(u64, u64)]>,
    threshold_pct: f64,
    level: f64,
) -> PairedGate {
    let g = threshold_pct / 100.0;
    let gl = (1.0 + g).ln();
    let bv: Vec<(f64, f64)> = pairs.iter().map(|p| (p.1, p.2)).collect();
    let d = paired::log_ratios(&bv);
    let est = paired::estimate(&d, level);
    let ch = |x: f64| x.exp_m1();
    let n = d.len() as u64;
    let (status, detail, needed) = match &est {
        None => (Status::Undecided, "no paired round".to_owned(), None),
        Some(p) => match p.hl_ci {
            None => (
                Status::Undecided,
                format!(
                    "paired over {n} rounds: {} (too few rounds for a {:.0}% signed-rank interval)",
                    pct(ch(p.hl)),
                    level * 100.0
                ),
                None,
            ),
            Some((lo, hi)) => {
                let exact = micro
                    .filter(|m| m.len() == d.len())
                    .zip(paired::signed_rank_k(d.len(), level))
                    .and_then(|(m, k)| exact_interval_status(m, k, threshold_pct));
                let st = exact.unwrap_or_else(|| interval_status(lo, hi, gl));
                let needed = (st == Status::Undecided)
                    .then(|| rounds_needed(n, (hi - lo) / 2.0, p.hl, gl))
                    .flatten();
                (
                    st,
                    describe("paired", n, ch(p.hl), ch(lo), ch(hi), g, st, needed, level),
                    needed,
                )
            }
        },
    };
    let e = est.as_ref();
    PairedGate {
        method: PairingKind::Paired,
        rounds: n,
        level,
        change_pct: e.map(|p| ch(p.hl) * 100.0),
        ci_low_pct: e.and_then(|p| p.hl_ci).map(|c| ch(c.0) * 100.0),
        ci_high_pct: e.and_then(|p| p.hl_ci).map(|c| ch(c.1) * 100.0),
        mean_pct: e.map(|p| ch(p.mean) * 100.0),
        mean_ci_low_pct: e.and_then(|p| p.mean_ci).map(|c| ch(c.0) * 100.0),
        mean_ci_high_pct: e.and_then(|p| p.mean_ci).map(|c| ch(c.1) * 100.0),
        sd_pct: e.map(|p| p.sd * 100.0),
        status,
        detail,
        note: None,
        rounds_needed: needed,
    }
}

#[allow(clippy::too_many_arguments)]
fn describe(
    what: &str,
    n: u64,
    c: f64,
    lo: f64,
    hi: f64,
    g: f64,
    st: Status,
    needed: Option<u64>,
    level: f64,
) -> String {
    let head = format!(
        "{what} over {n} rounds: {} [{}, {}] ({}% interval)",
        pct(c),
        pct(lo),
        pct(hi),
        fmt_level(level)
    );
    match st {
        Status::Pass => {
            let (a, b) = crate::gates::pct_pair(lo, g, true);
            format!("{head}: lower end {a} >= gate {b}")
        }
        Status::Fail => {
            let (a, b) = crate::gates::pct_pair(hi, g, false);
            format!("{head}: upper end {a} < gate {b}")
        }
        Status::Undecided => format!(
            "{head} holds the gate {}: undecided{}",
            pct(g),
            needed.map_or_else(
                || " (estimate on the gate)".to_owned(),
                |r| format!(" (about {r} rounds would exclude it at this spread)")
            )
        ),
    }
}

/// `95`, `99.6`, `99.93`: the level in percent with the digits it needs.
pub fn fmt_level(level: f64) -> String {
    let p = level * 100.0;
    for d in 0..=4 {
        let s = format!("{p:.d$}");
        if (s.parse::<f64>().unwrap_or(p) - p).abs() < 1e-9 || d == 4 {
            return s;
        }
    }
    format!("{p}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::RoundOps;

    fn lane(rounds: &[(u64, f64)], dir: &str) -> LaneSummary {
        LaneSummary {
            ops_per_sec: rounds.iter().map(|r| r.1).collect(),
            rounds: rounds
                .iter()
                .map(|r| RoundOps {
                    dir: 0,
                    round: r.0,
                    ops: r.1,
                    micro: (r.1 * 1e6).round() as u64,
                })
                .collect(),
            round_dirs: vec![dir.into()],
            ..LaneSummary::default()
        }
    }

    #[test]
    fn pairs_by_round_not_by_order() {
        let b = lane(&[(2, 200.0), (1, 100.0)], "L");
        let v = lane(&[(1, 110.0), (2, 220.0)], "L");
        assert_eq!(
            pair_rounds(Some(&b), Some(&v)).unwrap(),
            [(1, 100.0, 110.0), (2, 200.0, 220.0)]
        );
    }

    #[test]
    fn unpairable_inputs_say_why() {
        let b = lane(&[(1, 1.0), (2, 1.0)], "L");
        let e = pair_rounds(Some(&b), Some(&lane(&[(1, 1.0)], "L"))).unwrap_err();
        assert!(e.contains("only on base: 2"), "{e}");
        let e = pair_rounds(Some(&b), Some(&lane(&[(1, 1.0), (2, 1.0)], "M"))).unwrap_err();
        assert!(e.contains("different lab directories"), "{e}");
        let e = pair_rounds(Some(&b), Some(&lane(&[(1, 1.0), (1, 1.0)], "L"))).unwrap_err();
        assert!(e.contains("round 1 appears twice"), "{e}");
        let mut n = b.clone();
        n.rounds.pop();
        let e = pair_rounds(Some(&n), Some(&b)).unwrap_err();
        assert!(e.contains("1 of 2 runs carry no round"), "{e}");
        assert!(pair_rounds(None, Some(&b)).is_err());
    }

    #[test]
    fn interval_rule_by_hand() {
        assert_eq!(interval_status(0.01, 0.03, 0.01), Status::Pass);
        assert_eq!(interval_status(0.0, 0.03, 0.01), Status::Undecided);
        assert_eq!(interval_status(-0.02, 0.0099, 0.01), Status::Fail);
        assert_eq!(interval_status(-0.02, 0.01, 0.01), Status::Undecided);
        // Half-width 2 at 10 rounds, estimate 1 from the gate: 40 rounds.
        assert_eq!(rounds_needed(10, 2.0, 1.0, 0.0), Some(40));
        assert_eq!(rounds_needed(10, 2.0, 1.0, 1.0), None);
    }

    #[test]
    fn paired_gate_by_hand() {
        // Six rounds, each var exactly 5 % faster except one at 4 % and one
        // at 6 %: d sorted = ln 1.04, ln 1.05 x4, ln 1.06; with six rounds
        // the exact 95 % interval is [min d, max d] = [+4 %, +6 %].
        let mut r = Vec::new();
        let f = [1.05, 1.04, 1.05, 1.06, 1.05, 1.05];
        for (i, x) in f.iter().enumerate() {
            r.push((i as u64 + 1, 1000.0, 1000.0 * x));
        }
        let p = paired_from_pairs(&r, 3.0, 0.95);
        assert_eq!(p.method, PairingKind::Paired);
        assert_eq!(p.rounds, 6);
        assert!((p.ci_low_pct.unwrap() - 4.0).abs() < 1e-9, "{p:?}");
        assert!((p.ci_high_pct.unwrap() - 6.0).abs() < 1e-9, "{p:?}");
        assert!((p.change_pct.unwrap() - 5.0).abs() < 1e-9, "{p:?}");
        assert_eq!(p.status, Status::Pass);
        assert!(
            p.detail.contains("lower end +4.00% >= gate +3.00%"),
            "{}",
            p.detail
        );
        // Gate +4 %: the lower end is the gate itself (equality passes).
        assert_eq!(paired_from_pairs(&r, 4.0, 0.95).status, Status::Pass);
        // Gate +5 %: holds it.
        let u = paired_from_pairs(&r, 5.0, 0.95);
        assert_eq!(u.status, Status::Undecided);
        assert_eq!(u.rounds_needed, None, "estimate is on the gate");
        // Gate +6.5 %: the upper end is below.
        let f = paired_from_pairs(&r, 6.5, 0.95);
        assert_eq!(f.status, Status::Fail);
        assert!(
            f.detail.contains("upper end +6.00% < gate +6.50%"),
            "{}",
            f.detail
        );
        // Five rounds are too few for an exact 95 % interval.
        let u = paired_from_pairs(&r[..5], 0.0, 0.95);
        assert_eq!(u.status, Status::Undecided);
        assert!(u.detail.contains("too few rounds"), "{}", u.detail);
    }

    #[test]
    fn unpaired_fallback_uses_the_bootstrap_interval() {
        let b = LaneSummary {
            ops_per_sec: vec![100.0; 9],
            ..LaneSummary::default()
        };
        let v = LaneSummary {
            ops_per_sec: vec![110.0; 9],
            ..LaneSummary::default()
        };
        let p = paired_gate(Some(&b), Some(&v), 1.0, 0.95, 200, 1);
        assert_eq!(p.method, PairingKind::Unpaired);
        assert!(p.note.as_deref().unwrap().contains("carry no round"));
        assert_eq!(p.status, Status::Pass);
        assert!((p.ci_low_pct.unwrap() - 10.0).abs() < 1e-9);
        assert_eq!(fmt_level(0.95), "95");
        assert_eq!(fmt_level(0.9961), "99.61");
    }

    #[test]
    fn exact_rule_passes_a_change_exactly_at_the_gate() {
        // Every round is exactly +1 %: the interval is the single point
        // ln(1.01), which meets a +1 % gate (equality passes) and fails
        // a +1.000001 % one.
        let micro: Vec<(u64, u64)> = (0..11)
            .map(|i| {
                let b = 100_000_000 + 7_700 * i;
                (b, b / 100 * 101)
            })
            .collect();
        let k = paired::signed_rank_k(11, 0.95).unwrap();
        assert_eq!(exact_interval_status(&micro, k, 1.0), Some(Status::Pass));
        assert_eq!(
            exact_interval_status(&micro, k, 1.000001),
            Some(Status::Fail)
        );
        assert_eq!(
            exact_interval_status(&micro, k, 0.999999),
            Some(Status::Pass)
        );
        // A zero throughput has no ratio: no exact decision.
        let mut z = micro.clone();
        z[3].1 = 0;
        assert_eq!(exact_interval_status(&z, k, 1.0), None);
    }

    #[test]
    fn exact_rule_counts_walsh_products() {
        // Ratios 0.98, 0.99, ..., 1.04 over 7 rounds (k = 3 at 95 %):
        // 28 Walsh averages; a gate of 0 % has 3 products strictly below
        // (0.98*0.98, 0.98*0.99, 0.98*1.00... no: 0.98*1.00 < 1 too).
        let q = [98u64, 99, 100, 101, 102, 103, 104];
        let micro: Vec<(u64, u64)> = q.iter().map(|x| (100_000_000, x * 1_000_000)).collect();
        let k = paired::signed_rank_k(7, 0.95).unwrap();
        assert_eq!(k, 3);
        // Products below 1: (98,98) (98,99) (98,100) (98,101) (99,99)
        // (99,100) = 6 >= k, and 28 - 6 >= k: undecided at 0 %.
        assert_eq!(
            exact_interval_status(&micro, k, 0.0),
            Some(Status::Undecided)
        );
        // Gate -3 %: (1 - 0.03)^2 = 0.9409; nothing below: pass.
        assert_eq!(exact_interval_status(&micro, k, -3.0), Some(Status::Pass));
        // Gate +5 %: 1.1025; every product is below: fail.
        assert_eq!(exact_interval_status(&micro, k, 5.0), Some(Status::Fail));
    }

    #[test]
    fn exact_rule_agrees_with_the_float_interval_away_from_ties() {
        let mut rng = crate::stats::SplitMix64::new(11);
        for n in [6usize, 9, 21, 40] {
            let k = paired::signed_rank_k(n, 0.95).unwrap();
            for _ in 0..50 {
                let micro: Vec<(u64, u64)> = (0..n)
                    .map(|_| {
                        let b = 50_000_000.0 * (1.0 + 0.1 * rng.gauss().abs());
                        let v = b * (1.0 + 0.01 + 0.03 * rng.gauss());
                        (b as u64, v as u64)
                    })
                    .collect();
                let pairs: Vec<(u64, f64, f64)> = micro
                    .iter()
                    .enumerate()
                    .map(|(i, (b, v))| (i as u64, *b as f64 / 1e6, *v as f64 / 1e6))
                    .collect();
                let float = paired_from_pairs(&pairs, 1.0, 0.95).status;
                let exact = exact_interval_status(&micro, k, 1.0).unwrap();
                assert_eq!(float, exact, "n={n} {micro:?}");
                assert_eq!(paired_decide(&pairs, Some(&micro), 1.0, 0.95).status, exact);
            }
        }
    }

    #[test]
    fn signed_rank_index_from_integers_matches_the_tables() {
        // Two-sided 95 %: critical values of the signed-rank statistic
        // (largest c with P(T <= c) <= 0.025) are 0 at n = 6, 8 at n = 10,
        // 25 at n = 15 and 52 at n = 20; k = c + 1.
        assert_eq!(paired::signed_rank_k(5, 0.95), None);
        assert_eq!(paired::signed_rank_k(6, 0.95), Some(1));
        assert_eq!(paired::signed_rank_k(10, 0.95), Some(9));
        assert_eq!(paired::signed_rank_k(15, 0.95), Some(26));
        assert_eq!(paired::signed_rank_k(20, 0.95), Some(53));
        // The float CDF gives the same index wherever no tie sits on the tail.
        for n in 6..=120 {
            let cdf = paired::signed_rank_cdf(n);
            let float_k = cdf.iter().take_while(|p| **p <= 0.025).count();
            assert_eq!(paired::signed_rank_k(n, 0.95), Some(float_k), "n={n}");
        }
    }
}
