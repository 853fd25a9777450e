//! The work order's rules, as data plus small evaluators: Stage A, the
//! mechanism GO checks, the A/B gates with stability, and the verdict.

use std::collections::BTreeMap;

use crate::exact::{self, cmp_products, ratio_at_least, Ratio};
use crate::keys::{self, ADAPTIVE, STAGE_A_B1, STAGE_A_LOCK};
use crate::lanes::{CROSS128_R90, GUARD_R0, LANES, MAIN_R0, MAIN_R50};
use crate::model::*;
use crate::ratios;
use crate::report::fmt::{num, pct, ratio};
use crate::stats;

/// Lanes the Stage A criteria read.
pub const STAGE_A_LANES: [&str; 3] = [MAIN_R0, MAIN_R50, CROSS128_R90];
/// Lanes where the adaptive gate must engage (skips, resets).
pub const REMOTE_LANES: [&str; 2] = [MAIN_R50, CROSS128_R90];
/// Lanes compared by the lane-separation check. guard_r0 is left out: its
/// sizes (max 2048) barely reach the mid allocator (17 mid mallocs in the
/// reference log), so its per-call rates are noise.
pub const SEPARATION_LANES: [&str; 3] = [MAIN_R0, MAIN_R50, CROSS128_R90];

/// Screen gates of the work order: (lane, minimum change in percent).
pub const SCREEN_GATES: [(&str, f64); 4] = [
    (GUARD_R0, -1.0),
    (MAIN_R0, 3.0),
    (MAIN_R50, 1.0),
    (CROSS128_R90, 1.0),
];
/// Replay gates of the work order.
pub const REPLAY_GATES: [(&str, f64); 4] = [
    (GUARD_R0, -1.0),
    (MAIN_R0, 6.0),
    (MAIN_R50, 1.0),
    (CROSS128_R90, 1.0),
];
/// Two-sided level of the bootstrap interval.
pub const CI_LEVEL: f64 = 0.95;

/// A threshold as an exact fraction (the options are validated, so the
/// fallback, a billionths approximation, only serves library callers that
/// pass extreme values).
pub fn rat(x: f64) -> Ratio {
    Ratio::of_f64(x).unwrap_or(Ratio {
        num: (x * 1e9).round() as i128,
        den: 1_000_000_000,
    })
}

/// `n/h = r OP t (n x q OP p x h)`: the fraction, its value and the integer
/// comparison that decided.
fn ratio_text(n: u128, h: u128, t: Ratio, ok: bool) -> String {
    let h1 = h.max(1);
    format!(
        "{n}/{h1} = {} {} {} ({n} x {} {} {} x {h1})",
        ratio(ratios::stage_a_ratio(n, h)),
        if ok { ">=" } else { "<" },
        num(t.num as f64 / t.den as f64),
        t.den,
        if ok { ">=" } else { "<" },
        t.num
    )
}

/// Position of the largest (`max`) or smallest rate `n/d` (d > 0), compared
/// exactly.
fn extreme(rates: &[(u128, u128)], max: bool) -> usize {
    let mut best = 0;
    for (i, &(n, d)) in rates.iter().enumerate().skip(1) {
        let (bn, bd) = rates[best];
        let c = cmp_products(&[n, bd], &[bn, d]);
        if (max && c == std::cmp::Ordering::Greater) || (!max && c == std::cmp::Ordering::Less) {
            best = i;
        }
    }
    best
}

/// Whether `max/min` of the rates exceeds `f`, exactly, and the spread for
/// display (`None`: unbounded, a zero beside a positive rate).
fn spread_exceeds(rates: &[(u128, u128)], f: Ratio) -> (bool, Option<f64>) {
    if rates.is_empty() {
        return (f.num < f.den as i128, Some(1.0));
    }
    let (hi, lo) = (rates[extreme(rates, true)], rates[extreme(rates, false)]);
    if hi.0 == 0 {
        return (f.num < f.den as i128, Some(1.0));
    }
    if lo.0 == 0 {
        return (true, None);
    }
    let show = (hi.0 as f64 / hi.1 as f64) / (lo.0 as f64 / lo.1 as f64);
    if f.num <= 0 {
        return (true, Some(show));
    }
    let ok = cmp_products(&[hi.0, lo.1, f.den], &[f.abs_num(), lo.0, hi.1])
        == std::cmp::Ordering::Greater;
    (ok, Some(show))
}

fn rules(table: &[(&str, f64)]) -> Vec<GateRule> {
    table
        .iter()
        .map(|&(lane, min_change_pct)| GateRule {
            lane: lane.to_owned(),
            min_change_pct,
        })
        .collect()
}

impl Default for GateOptions {
    fn default() -> Self {
        GateOptions {
            mode: Mode::Screen,
            screen: rules(&SCREEN_GATES),
            replay: rules(&REPLAY_GATES),
            screen_runs: 7,
            replay_runs: 21,
            bootstrap: 2000,
            seed: 77,
            rule: GateMethod::Median,
        }
    }
}

impl GateOptions {
    /// Defaults with the replay gates selected.
    pub fn replay() -> Self {
        GateOptions {
            mode: Mode::Replay,
            ..Self::default()
        }
    }

    /// The rules of the selected mode.
    pub fn active_rules(&self) -> &[GateRule] {
        match self.mode {
            Mode::Screen => &self.screen,
            Mode::Replay => &self.replay,
        }
    }

    /// Runs per side the selected mode asks for.
    pub fn required_runs(&self) -> u64 {
        match self.mode {
            Mode::Screen => self.screen_runs,
            Mode::Replay => self.replay_runs,
        }
    }
}

/// Why a lane cannot feed a counter-based rule, if it cannot.
fn lane_gap(s: &Summary, lane: &str, needed: &[&str]) -> Option<String> {
    let Some(l) = s.lanes.get(lane) else {
        return Some(format!("{lane}: lane missing (no run of this lane)"));
    };
    if l.stats_runs == 0 {
        return Some(format!(
            "{lane}: no run carries [HZ4_MID_STATS_B1]/[HZ4_MID_LOCK_STATS] lines"
        ));
    }
    let gaps: Vec<String> = needed
        .iter()
        .filter(|k| l.pooled(k).is_none())
        .map(|k| match l.missing.get(*k) {
            Some(loc) => format!("{k} (first missing in run at {loc})"),
            None => (*k).to_owned(),
        })
        .collect();
    (!gaps.is_empty()).then(|| format!("{lane}: counter missing: {}", gaps.join(", ")))
}

fn stage_a_needed() -> Vec<&'static str> {
    STAGE_A_B1
        .iter()
        .chain(STAGE_A_LOCK.iter())
        .copied()
        .collect()
}

fn stage_a_lane(l: &LaneSummary) -> StageALane {
    let num = l
        .pooled(keys::STALE_REMOTE)
        .zip(l.pooled(keys::POP_GATED_REMOTE))
        .map(|(a, b)| a + b);
    let hit = l.pooled(keys::STACK_HIT);
    let counters = stage_a_needed()
        .into_iter()
        .map(|k| (k.to_owned(), l.pooled(k)))
        .collect();
    let missing = stage_a_needed()
        .into_iter()
        .filter(|k| l.pooled(k).is_none())
        .map(|k| {
            let at = l
                .missing
                .get(k)
                .map_or_else(|| "no stats run".to_owned(), |loc| loc.to_string());
            (k.to_owned(), at)
        })
        .collect();
    StageALane {
        runs: l.runs,
        stats_runs: l.stats_runs,
        numerator: num,
        hit,
        ratio: num.zip(hit).map(|(n, h)| ratios::stage_a_ratio(n, h)),
        run_ratio_min: l.ratio_min,
        run_ratio_max: l.ratio_max,
        counters,
        missing,
    }
}

/// Stage A over a pooled [`Summary`].
///
/// `ratio = (stale_remote + pop_gated_remote) / max(1, stack_hit)` per lane,
/// pooled (sums over runs). PROCEED iff (ratio(main_r50) >= min_ratio or
/// ratio(cross128_r90) >= min_ratio) and ratio(main_r0) < separation ×
/// ratio(main_r50). A missing criteria lane or required counter gives
/// UNDECIDED.
pub fn stage_a_summary(s: &Summary, o: &StageAOptions) -> StageAReport {
    let lanes: BTreeMap<String, StageALane> = s
        .lanes
        .iter()
        .map(|(n, l)| (n.clone(), stage_a_lane(l)))
        .collect();
    let mut warnings = Vec::new();
    for lane in LANES.iter().map(|l| l.name) {
        match s.lanes.get(lane) {
            None if lane == GUARD_R0 => {
                warnings.push(format!("{lane}: no runs (not used by the criteria)"))
            }
            Some(l) if l.runs < o.runs => warnings.push(format!(
                "{lane}: {} run(s); the work order asks for RUNS={}",
                l.runs, o.runs
            )),
            _ => {}
        }
    }
    let needed = stage_a_needed();
    let gap = |lane| lane_gap(s, lane, &needed);
    let r = |lane: &str| lanes.get(lane).and_then(|l| l.ratio).unwrap_or(0.0);

    let c1_gaps: Vec<String> = [MAIN_R50, CROSS128_R90]
        .iter()
        .filter_map(|l| gap(l))
        .collect();
    let c1 = if !c1_gaps.is_empty() {
        (Status::Undecided, c1_gaps.join("; "))
    } else {
        let t = rat(o.min_ratio);
        let mut ok = false;
        let mut parts = Vec::new();
        for lane in [MAIN_R50, CROSS128_R90] {
            let l = &lanes[lane];
            let (n, h) = (l.numerator.unwrap_or(0), l.hit.unwrap_or(0));
            let pass = ratio_at_least(n, h, t);
            ok |= pass;
            parts.push(format!("{lane} {}", ratio_text(n, h, t, pass)));
        }
        (
            if ok { Status::Pass } else { Status::Fail },
            parts.join("; "),
        )
    };
    let c2_gaps: Vec<String> = [MAIN_R0, MAIN_R50].iter().filter_map(|l| gap(l)).collect();
    let c2 = if !c2_gaps.is_empty() {
        (Status::Undecided, c2_gaps.join("; "))
    } else {
        let sep = rat(o.separation);
        let (l0, l50) = (&lanes[MAIN_R0], &lanes[MAIN_R50]);
        let (n0, h0) = (l0.numerator.unwrap_or(0), l0.hit.unwrap_or(0).max(1));
        let (n50, h50) = (l50.numerator.unwrap_or(0), l50.hit.unwrap_or(0).max(1));
        // n0/h0 < (p/q) x n50/h50  <=>  n0 x h50 x q < p x n50 x h0
        let ok = sep.num > 0
            && cmp_products(&[n0, h50, sep.den], &[sep.abs_num(), n50, h0])
                == std::cmp::Ordering::Less;
        let (z, f) = (r(MAIN_R0), r(MAIN_R50));
        let op = if ok { "<" } else { ">=" };
        (
            if ok { Status::Pass } else { Status::Fail },
            format!(
                "main_r0 {} {op} {} x main_r50 = {} ({n0} x {h50} x {} {op} {} x {n50} x {h0})",
                ratio(z),
                num(o.separation),
                ratio(o.separation * f),
                sep.den,
                sep.num
            ),
        )
    };
    let criteria = vec![
        Criterion {
            id: "remote_inefficiency".into(),
            rule: format!(
                "ratio(main_r50) >= {m} or ratio(cross128_r90) >= {m}, ratio = (malloc_owner_local_stack_stale_remote + malloc_owner_local_stack_pop_gated_remote) / max(1, malloc_owner_local_stack_hit)",
                m = num(o.min_ratio)
            ),
            status: c1.0,
            detail: c1.1,
        },
        Criterion {
            id: "local_remote_separation".into(),
            rule: format!("ratio(main_r0) < {} x ratio(main_r50)", num(o.separation)),
            status: c2.0,
            detail: c2.1,
        },
    ];
    let any = |st| criteria.iter().any(|c| c.status == st);
    let decision = if any(Status::Undecided) {
        StageADecision::Undecided
    } else if any(Status::Fail) {
        StageADecision::Stop
    } else {
        StageADecision::Proceed
    };
    let reasons = criteria
        .iter()
        .filter(|c| c.status != Status::Pass)
        .map(|c| format!("{} {}: {}", c.id, c.status, c.detail))
        .collect();
    StageAReport {
        decision,
        thresholds: *o,
        lanes,
        criteria,
        reasons,
        warnings,
    }
}

fn mech_lane(l: &LaneSummary) -> MechanismLane {
    let mc = l.pooled(keys::MALLOC_CALLS);
    let fc = l.pooled(keys::FREE_CALLS);
    let counters: BTreeMap<String, Option<u128>> = ADAPTIVE
        .iter()
        .map(|k| (k.to_string(), l.pooled(k)))
        .collect();
    let skips: Option<u128> = [ADAPTIVE[0], ADAPTIVE[1], ADAPTIVE[4], ADAPTIVE[5]]
        .iter()
        .map(|k| l.pooled(k))
        .sum();
    MechanismLane {
        stats_runs: l.stats_runs,
        malloc_calls: mc,
        free_calls: fc,
        promote_per_call: l
            .pooled(keys::HOT_PROMOTE)
            .zip(mc)
            .and_then(|(p, c)| ratios::per_call(p, c)),
        reset_per_million: l
            .pooled(keys::HOT_RESET)
            .zip(mc)
            .and_then(|(r, c)| ratios::per_million(r, c)),
        skip_per_million: skips
            .zip(mc.zip(fc))
            .and_then(|(s, (m, f))| ratios::per_million(s, m + f)),
        counters,
    }
}

fn crit(id: &str, rule: String, status: Status, detail: String) -> Criterion {
    Criterion {
        id: id.into(),
        rule,
        status,
        detail,
    }
}

/// The mechanism GO checks over a pooled [`Summary`] (normally the
/// Var+stats build's runs).
pub fn mechanism_summary(s: &Summary, o: &MechanismOptions) -> MechanismReport {
    let lanes: BTreeMap<String, MechanismLane> = s
        .lanes
        .iter()
        .map(|(n, l)| (n.clone(), mech_lane(l)))
        .collect();
    let adaptive_present = s
        .lanes
        .values()
        .any(|l| ADAPTIVE.iter().any(|k| l.counters.contains_key(*k)));
    let mut checks = Vec::new();

    // 1. Skip counters engage in the remote lanes.
    let skip_keys = [ADAPTIVE[0], ADAPTIVE[1], ADAPTIVE[4], ADAPTIVE[5]];
    let gaps: Vec<String> = REMOTE_LANES
        .iter()
        .filter_map(|l| lane_gap(s, l, &skip_keys))
        .collect();
    let (st, detail) = if !gaps.is_empty() {
        (Status::Undecided, gaps.join("; "))
    } else {
        let mut low = Vec::new();
        let mut least: Option<(u128, String)> = None;
        for lane in REMOTE_LANES {
            let l = &s.lanes[lane];
            for k in skip_keys {
                let v = l.pooled(k).unwrap_or(0);
                let name = format!("{lane}.{}={v}", short(k));
                if least.as_ref().is_none_or(|(m, _)| v < *m) {
                    least = Some((v, name.clone()));
                }
                if v < o.skip_min as u128 {
                    low.push(name);
                }
            }
        }
        if low.is_empty() {
            let least = least.map(|(_, n)| n).unwrap_or_default();
            (Status::Pass, format!("smallest of the 8: {least}"))
        } else {
            (
                Status::Fail,
                format!("below {}: {}", o.skip_min, low.join(" ")),
            )
        }
    };
    checks.push(crit(
        "skip_nonzero",
        format!(
            "malloc/free adaptive_push_skip_cold and _skip_cooldown >= {} in main_r50 and cross128_r90",
            o.skip_min
        ),
        st,
        detail,
    ));

    // 2. Hot promotions stay high in main_r0.
    let need = [keys::HOT_PROMOTE, keys::MALLOC_CALLS];
    let (st, detail) = match lane_gap(s, MAIN_R0, &need) {
        Some(g) => (Status::Undecided, g),
        None => match lanes[MAIN_R0].promote_per_call {
            None => (
                Status::Undecided,
                "main_r0: malloc_calls = 0, promote rate undefined".into(),
            ),
            Some(_) => {
                let l = &s.lanes[MAIN_R0];
                let (p, c) = (
                    l.pooled(keys::HOT_PROMOTE).unwrap_or(0),
                    l.pooled(keys::MALLOC_CALLS).unwrap_or(0),
                );
                let t = rat(o.promote_min);
                let ok = ratio_at_least(p, c, t);
                (
                    if ok { Status::Pass } else { Status::Fail },
                    format!(
                        "main_r0 hot_promote/malloc_calls = {}",
                        ratio_text(p, c, t, ok)
                    ),
                )
            }
        },
    };
    checks.push(crit(
        "hot_promote_high",
        format!(
            "main_r0: adaptive_hot_promote / malloc_calls >= {}",
            num(o.promote_min)
        ),
        st,
        detail,
    ));

    // 3. Hot resets materially higher in the remote lanes.
    let need = [keys::HOT_RESET, keys::MALLOC_CALLS];
    let gaps: Vec<String> = [MAIN_R0, MAIN_R50, CROSS128_R90]
        .iter()
        .filter_map(|l| lane_gap(s, l, &need))
        .collect();
    let (st, detail) = if !gaps.is_empty() {
        (Status::Undecided, gaps.join("; "))
    } else {
        let rate = |l: &str| lanes[l].reset_per_million;
        match rate(MAIN_R0) {
            None => (
                Status::Undecided,
                "main_r0: malloc_calls = 0, reset rate undefined".into(),
            ),
            Some(base) => {
                let mut parts = vec![format!("main_r0 {}/M", num(base))];
                let mut st = Status::Pass;
                for lane in REMOTE_LANES {
                    match rate(lane) {
                        None => {
                            parts.push(format!("{lane}: malloc_calls = 0"));
                            st = Status::all([st, Status::Undecided]);
                        }
                        Some(r) => {
                            // reset_l/calls_l >= (p/q) x reset_0/calls_0, exactly.
                            let f = rat(o.reset_factor);
                            let g = |l: &str, k| s.lanes[l].pooled(k).unwrap_or(0);
                            let (rl, cl) = (g(lane, keys::HOT_RESET), g(lane, keys::MALLOC_CALLS));
                            let (r0, c0) =
                                (g(MAIN_R0, keys::HOT_RESET), g(MAIN_R0, keys::MALLOC_CALLS));
                            let ok = rl > 0
                                && (f.num <= 0
                                    || cmp_products(&[rl, c0, f.den], &[f.abs_num(), r0, cl])
                                        != std::cmp::Ordering::Less);
                            parts.push(format!(
                                "{lane} {}/M {} {} x main_r0",
                                num(r),
                                if ok { ">=" } else { "<" },
                                num(o.reset_factor)
                            ));
                            if !ok {
                                st = Status::Fail;
                            }
                        }
                    }
                }
                (st, parts.join(", "))
            }
        }
    };
    checks.push(crit(
        "hot_reset_higher",
        format!(
            "adaptive_hot_reset per million malloc_calls in main_r50 and cross128_r90 >= {} x main_r0's, and > 0",
            num(o.reset_factor)
        ),
        st,
        detail,
    ));

    // 4. Lane separation.
    let need: Vec<&str> = ADAPTIVE
        .iter()
        .copied()
        .chain([keys::MALLOC_CALLS, keys::FREE_CALLS])
        .collect();
    let gaps: Vec<String> = SEPARATION_LANES
        .iter()
        .filter_map(|l| lane_gap(s, l, &need))
        .collect();
    let (st, detail) = if !gaps.is_empty() {
        (Status::Undecided, gaps.join("; "))
    } else {
        let g = |l: &str, k| s.lanes[l].pooled(k).unwrap_or(0);
        let skip_keys = [ADAPTIVE[0], ADAPTIVE[1], ADAPTIVE[4], ADAPTIVE[5]];
        let sk: Vec<(u128, u128)> = SEPARATION_LANES
            .iter()
            .map(|l| {
                let n: u128 = skip_keys.iter().map(|k| g(l, k)).sum();
                (n, g(l, keys::MALLOC_CALLS) + g(l, keys::FREE_CALLS))
            })
            .collect();
        let rs: Vec<(u128, u128)> = SEPARATION_LANES
            .iter()
            .map(|l| (g(l, keys::HOT_RESET), g(l, keys::MALLOC_CALLS)))
            .collect();
        if sk.iter().chain(&rs).any(|&(_, d)| d == 0) {
            (
                Status::Undecided,
                "a lane has no mid calls; rates undefined".into(),
            )
        } else {
            let f = rat(o.separation_factor);
            let show = |sp: Option<f64>| sp.map_or("unbounded".to_owned(), num);
            let ((a_ok, a), (b_ok, b)) = (spread_exceeds(&sk, f), spread_exceeds(&rs, f));
            let ok = a_ok || b_ok;
            (
                if ok { Status::Pass } else { Status::Fail },
                format!(
                    "max/min over main_r0, main_r50, cross128_r90: skip rate {} ({}), reset rate {} ({})",
                    show(a),
                    if a_ok { "> limit" } else { "<= limit" },
                    show(b),
                    if b_ok { "> limit" } else { "<= limit" }
                ),
            )
        }
    };
    checks.push(crit(
        "lane_separation",
        format!(
            "max/min of skips per call or of resets per call over main_r0, main_r50, cross128_r90 > {}",
            num(o.separation_factor)
        ),
        st,
        detail,
    ));

    MechanismReport {
        status: Status::all(checks.iter().map(|c| c.status)),
        adaptive_present,
        thresholds: *o,
        lanes,
        checks,
    }
}

/// Short form of an adaptive counter name for details.
fn short(k: &str) -> String {
    k.replace("_owner_local_stack_adaptive", "")
}

/// A/B gates and stability over pooled summaries. `aa`, when given, holds
/// A/A runs for the noise floor.
pub fn gates_summary(
    base: &Summary,
    var: &Summary,
    aa: Option<&Summary>,
    o: &GateOptions,
) -> GateReport {
    let mut warnings = Vec::new();
    let need = o.required_runs();
    let mut lanes = BTreeMap::new();
    let mut short: Vec<(String, usize, usize)> = Vec::new();
    for (i, rule) in o.active_rules().iter().enumerate() {
        let ops = |s: &Summary| {
            s.lanes
                .get(&rule.lane)
                .map(|l| l.ops_per_sec.clone())
                .unwrap_or_default()
        };
        let (b, v) = (ops(base), ops(var));
        short.push((rule.lane.clone(), b.len(), v.len()));
        let micro = |s: &Summary| {
            s.lanes
                .get(&rule.lane)
                .map(|l| l.ops_micro.clone())
                .unwrap_or_default()
        };
        let (bx, vx) = (micro(base), micro(var));
        // Exact medians (twice the median, in millionths of an op/s).
        let (bm2, vm2) = (exact::median2(&bx), exact::median2(&vx));
        let as_f = |m: u128| m as f64 / 2e6;
        let (bm, vm) = (bm2.map(as_f), vm2.map(as_f));
        let thr = rule.min_change_pct / 100.0;
        let change = bm2
            .zip(vm2)
            .filter(|(b, _)| *b != 0)
            .map(|(b, v)| v as f64 / b as f64 - 1.0);
        let seed = o.seed.wrapping_add(i as u64);
        let ci = stats::bootstrap_change_ci(&b, &v, o.bootstrap, seed, CI_LEVEL);
        let within_noise = ci.is_some_and(|(lo, hi)| lo <= thr.min(0.0) && hi >= thr.max(0.0));
        let aa_noise = aa.and_then(|a| {
            let x = a.lanes.get(&rule.lane)?;
            stats::aa_noise(&x.ops_per_sec, o.bootstrap, seed, CI_LEVEL)
        });
        let (status, detail) = match (bm2, vm2, change) {
            (None, _, _) => (Status::Undecided, "no base run with throughput".to_owned()),
            (_, None, _) => (Status::Undecided, "no var run with throughput".to_owned()),
            (_, _, None) => (Status::Undecided, "base median is 0".to_owned()),
            (Some(b2), Some(v2), Some(c)) => {
                let t = rat(rule.min_change_pct);
                let ok = exact::change_at_least(b2, v2, t);
                let (cs, ts) = pct_pair(c, thr, ok);
                let op = if ok { ">=" } else { "<" };
                let mut d = format!(
                    "{cs} {op} {ts} (var median {} {op} {} x base median {})",
                    exact::micro_str(v2, true),
                    exact::factor_str(rule.min_change_pct),
                    exact::micro_str(b2, true)
                );
                if within_noise {
                    d.push_str(" (within noise)");
                }
                (if ok { Status::Pass } else { Status::Fail }, d)
            }
        };
        let paired = crate::pairing::paired_gate(
            base.lanes.get(&rule.lane),
            var.lanes.get(&rule.lane),
            rule.min_change_pct,
            CI_LEVEL,
            o.bootstrap,
            seed,
        );
        let median_status = status;
        let (status, detail) = match o.rule {
            GateMethod::Median => (status, detail),
            GateMethod::Paired => (paired.status, paired.detail.clone()),
        };
        lanes.insert(
            rule.lane.clone(),
            GateLane {
                base_runs: b.len() as u64,
                var_runs: v.len() as u64,
                base_median: bm,
                var_median: vm,
                change_pct: change.map(|c| c * 100.0),
                threshold_pct: rule.min_change_pct,
                ci_low_pct: ci.map(|c| c.0 * 100.0),
                ci_high_pct: ci.map(|c| c.1 * 100.0),
                within_noise,
                aa_noise_pct: aa_noise.map(|x| x * 100.0),
                status,
                detail,
                median_status,
                paired: Some(paired),
            },
        );
    }
    // One warning per side and run count: "base: 7 run(s) in guard_r0, ...".
    for (side, pick) in [("base", 0usize), ("var", 1)] {
        let mut groups: Vec<(usize, Vec<&str>)> = Vec::new();
        for (lane, b, v) in &short {
            let n = if pick == 0 { *b } else { *v };
            if (n as u64) >= need {
                continue;
            }
            match groups.iter_mut().find(|(k, _)| *k == n) {
                Some((_, l)) => l.push(lane),
                None => groups.push((n, vec![lane])),
            }
        }
        for (n, l) in groups {
            warnings.push(format!(
                "{side}: {n} run(s) with throughput in {}; {} mode asks for RUNS={need}",
                l.join(", "),
                o.mode
            ));
        }
    }
    let failures: Vec<Instability> = base
        .instabilities()
        .chain(var.instabilities())
        .chain(aa.into_iter().flat_map(|a| a.instabilities()))
        .take(50)
        .cloned()
        .collect();
    let (bu, vu, au) = (
        base.unstable_runs(),
        var.unstable_runs(),
        aa.map_or(0, |a| a.unstable_runs()),
    );
    let stability = Stability {
        status: if bu + vu + au == 0 {
            Status::Pass
        } else {
            Status::Fail
        },
        base_unstable_runs: bu,
        var_unstable_runs: vu,
        aa_unstable_runs: au,
        failures,
    };
    let status = Status::all(
        lanes
            .values()
            .map(|l: &GateLane| l.status)
            .chain([stability.status]),
    );
    GateReport {
        status,
        mode: o.mode,
        rules: o.active_rules().to_vec(),
        required_runs: need,
        bootstrap: o.bootstrap,
        seed: o.seed,
        rule: o.rule,
        decision_rules: decision_rules(o.rule),
        lanes,
        stability,
        warnings,
    }
}

/// The two gate rules in words, and which one decides.
pub fn decision_rules(rule: GateMethod) -> Vec<String> {
    let decides = |r: GateMethod| {
        if r == rule {
            " (decides)"
        } else {
            " (reported)"
        }
    };
    vec![
        format!(
            "median rule{}: pass iff median(var)/median(base) - 1 >= gate, exact (ops/s in millionths, integer products)",
            decides(GateMethod::Median)
        ),
        format!(
            "paired rule{}: d = ln(var/base) per round (runs paired by [HZ_LANE] run= within one lab directory); \
             Hodges-Lehmann estimate, exact signed-rank 95% interval (normal approximation above {} rounds); \
             pass iff lower end >= gate, FAIL iff upper end < gate, else undecided; unpaired lanes use the \
             bootstrap interval of the change of medians the same way",
            decides(GateMethod::Paired),
            crate::paired::EXACT_MAX_N
        ),
    ]
}

/// The change and the threshold as percentages with two decimals, or with
/// as many more as it takes for a failing change not to print like its
/// threshold (0.99999 % against 1 %).
pub fn pct_pair(c: f64, thr: f64, ok: bool) -> (String, String) {
    for d in 2..=8 {
        let (a, b) = (
            format!("{:+.*}%", d, c * 100.0),
            format!("{:+.*}%", d, thr * 100.0),
        );
        if ok || a != b {
            return (a, b);
        }
    }
    (format!("{:+e}", c * 100.0), format!("{:+e}", thr * 100.0))
}

/// GO only if the gates ran in replay mode and every gate, the stability
/// check and every mechanism check pass. Otherwise NO-GO with each failed
/// condition (named after the work order's NO-GO list), or UNDECIDED when
/// nothing failed but data is missing.
pub fn verdict(g: &GateReport, m: &MechanismReport) -> VerdictReport {
    if g.mode != Mode::Replay {
        return screen_verdict(g, m);
    }
    let mut reasons = Vec::new();
    let mut undecided = Vec::new();
    let mut lanes: Vec<(&String, &GateLane)> = g.lanes.iter().collect();
    lanes.sort_by_key(|(n, _)| crate::lanes::lane_order(n));
    for (lane, l) in lanes {
        match l.status {
            Status::Fail => {
                reasons.push(format!("Any replay gate failure: {lane} {}", l.detail));
                if lane == GUARD_R0 {
                    reasons.push(format!(
                        "Significant guard_r0 regression (< {}): guard_r0 {}",
                        pct(l.threshold_pct / 100.0),
                        l.change_pct.map_or("-".into(), |c| pct(c / 100.0))
                    ));
                }
            }
            Status::Undecided => undecided.push(format!("gate {lane}: {}", l.detail)),
            Status::Pass => {}
        }
    }
    if g.stability.status == Status::Fail {
        let first = g
            .stability
            .failures
            .first()
            .map(|f| format!("; first at {}: {}", f.location, f.detail))
            .unwrap_or_default();
        reasons.push(format!(
            "Stability (crash/assert/alloc-failed = 0): {} unstable run(s) (base {}, var {}, A/A {}){first}",
            g.stability.base_unstable_runs + g.stability.var_unstable_runs + g.stability.aa_unstable_runs,
            g.stability.base_unstable_runs,
            g.stability.var_unstable_runs,
            g.stability.aa_unstable_runs
        ));
    }
    for c in &m.checks {
        match c.status {
            Status::Fail if c.id == "lane_separation" => reasons.push(format!(
                "Adaptive counters indicate no lane separation (all lanes show similar skip/reset profile): {}",
                c.detail
            )),
            Status::Fail => {
                reasons.push(format!("Mechanism GO check {} failed: {}", c.id, c.detail))
            }
            Status::Undecided => undecided.push(format!("mechanism {}: {}", c.id, c.detail)),
            Status::Pass => {}
        }
    }
    let decision = if !reasons.is_empty() {
        VerdictDecision::NoGo
    } else if !undecided.is_empty() {
        VerdictDecision::Undecided
    } else {
        VerdictDecision::Go
    };
    VerdictReport {
        decision,
        reasons,
        undecided,
        mode: g.mode,
        screen: Vec::new(),
    }
}

/// Screen mode: no GO/NO-GO (that needs the replay); the verdict is
/// UNDECIDED and lists what the screen found, each once, without the work
/// order's NO-GO wording.
fn screen_verdict(g: &GateReport, m: &MechanismReport) -> VerdictReport {
    let mut screen = Vec::new();
    let mut lanes: Vec<(&String, &GateLane)> = g.lanes.iter().collect();
    lanes.sort_by_key(|(n, _)| crate::lanes::lane_order(n));
    for (lane, l) in lanes {
        if l.status != Status::Pass {
            screen.push(format!("screen gate {lane} {}: {}", l.status, l.detail));
        }
    }
    if g.stability.status == Status::Fail {
        screen.push(format!(
            "stability FAIL: {} unstable run(s) (base {}, var {}, A/A {})",
            g.stability.base_unstable_runs
                + g.stability.var_unstable_runs
                + g.stability.aa_unstable_runs,
            g.stability.base_unstable_runs,
            g.stability.var_unstable_runs,
            g.stability.aa_unstable_runs
        ));
    }
    for c in m.checks.iter().filter(|c| c.status != Status::Pass) {
        screen.push(format!("mechanism {} {}", c.id, c.status));
    }
    VerdictReport {
        decision: VerdictDecision::Undecided,
        reasons: Vec::new(),
        undecided: vec![format!(
            "screen mode (screen gates {}): GO/NO-GO needs the replay gates (--mode replay)",
            g.status
        )],
        mode: g.mode,
        screen,
    }
}
