//! `hz-lab noise DIR`: which of the kernel's per-run figures move with the
//! run-to-run spread of a lane's throughput.
//!
//! Every run of hz-bench ends with a `[RUSAGE]` line (user and system CPU
//! time, page faults, voluntary and involuntary context switches) that the
//! lab keeps in the manifest next to wall time and peak RSS. For each lane
//! the runs of each variant are centred on that variant's own mean (so a
//! real difference between variants is not counted as noise), pooled, and
//! each figure's Pearson correlation with `ln(ops/s)` is reported. The
//! figure with the largest |r| is the one that "explains" the most of the
//! spread (r² of it, as a share of the variance of `ln(ops/s)`).
//!
//! Correlation is not cause: system time and throughput both fall when a
//! neighbour takes the CPU. The table says where to look, and the A/A
//! spread before and after a change says whether looking there helped.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::exec::Rusage;
use super::manifest::{Manifest, RunRecord, RunStatus};

/// Reads one figure of a run.
pub type Figure = fn(&RunRecord, &Rusage) -> f64;

/// The per-run figures the table correlates with throughput, in column order.
/// (Wall time is left out: it is throughput's own reciprocal plus start-up.)
pub const FIGURES: [(&str, Figure); 6] = [
    ("user", |_, u| u.utime_us as f64),
    ("sys", |_, u| u.stime_us as f64),
    ("minflt", |_, u| u.minflt as f64),
    ("nvcsw", |_, u| u.nvcsw as f64),
    ("nivcsw", |_, u| u.nivcsw as f64),
    ("rss", |r, _| r.max_rss_kb.unwrap_or(0) as f64),
];

/// One lane's row.
#[derive(Debug, Clone, PartialEq)]
pub struct LaneNoise {
    /// Runs used (status ok, with throughput and `[RUSAGE]`).
    pub runs: usize,
    /// Standard deviation of `ln(ops/s)` after centring per variant, in %.
    pub sd_pct: f64,
    /// Coefficient of variation of each figure (sd / mean, %), as `FIGURES`.
    pub cv_pct: Vec<Option<f64>>,
    /// Correlation of each figure with `ln(ops/s)`, as `FIGURES`; None when
    /// the figure does not vary.
    pub r: Vec<Option<f64>>,
}

impl LaneNoise {
    /// The figure with the largest |r|, and that r.
    pub fn strongest(&self) -> Option<(&'static str, f64)> {
        self.r
            .iter()
            .enumerate()
            .filter_map(|(i, r)| r.map(|r| (FIGURES[i].0, r)))
            .max_by(|a, b| a.1.abs().total_cmp(&b.1.abs()))
    }
}

fn mean(x: &[f64]) -> f64 {
    x.iter().sum::<f64>() / x.len() as f64
}

/// Pearson correlation, None when either side is constant.
pub fn pearson(x: &[f64], y: &[f64]) -> Option<f64> {
    if x.len() != y.len() || x.len() < 3 {
        return None;
    }
    let (mx, my) = (mean(x), mean(y));
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in x.iter().zip(y) {
        sxy += (a - mx) * (b - my);
        sxx += (a - mx) * (a - mx);
        syy += (b - my) * (b - my);
    }
    (sxx > 0.0 && syy > 0.0).then(|| sxy / (sxx * syy).sqrt())
}

/// Noise table of every lane that has at least 3 usable runs.
pub fn lanes(m: &Manifest) -> BTreeMap<String, LaneNoise> {
    m.lanes
        .iter()
        .filter_map(|lane| {
            let runs: Vec<&RunRecord> = m.runs.iter().filter(|r| r.lane == lane.name).collect();
            lane_noise(&runs).map(|n| (lane.name.clone(), n))
        })
        .collect()
}

/// The row of one lane's runs; None with fewer than 3 usable runs.
pub fn lane_noise(runs: &[&RunRecord]) -> Option<LaneNoise> {
    // Per variant: (ln ops/s, figures) of each usable run.
    let mut by_variant: BTreeMap<&str, Vec<(f64, Vec<f64>)>> = BTreeMap::new();
    for r in runs {
        let (Some(ops), Some(u), RunStatus::Ok) = (r.ops_per_sec, r.rusage, r.status) else {
            continue;
        };
        if ops <= 0.0 {
            continue;
        }
        let figs = FIGURES.iter().map(|(_, f)| f(r, &u)).collect();
        by_variant
            .entry(r.variant.as_str())
            .or_default()
            .push((ops.ln(), figs));
    }
    // Centre each variant's runs on its own means; the CV divides by the
    // uncentred means.
    let mut y = Vec::new();
    let mut cols: Vec<Vec<f64>> = vec![Vec::new(); FIGURES.len()];
    let mut ss = vec![0.0; FIGURES.len()];
    let mut sum = vec![0.0; FIGURES.len()];
    let groups: Vec<_> = by_variant.values().filter(|v| v.len() >= 2).collect();
    for runs in &groups {
        let my = mean(&runs.iter().map(|r| r.0).collect::<Vec<_>>());
        for (i, col) in cols.iter_mut().enumerate() {
            let xs: Vec<f64> = runs.iter().map(|r| r.1[i]).collect();
            let mx = mean(&xs);
            col.extend(xs.iter().map(|x| x - mx));
            ss[i] += xs.iter().map(|x| (x - mx) * (x - mx)).sum::<f64>();
            sum[i] += xs.iter().sum::<f64>();
        }
        y.extend(runs.iter().map(|r| r.0 - my));
    }
    let n = y.len();
    if n < 3 {
        return None;
    }
    let dof = (n - groups.len()).max(1) as f64;
    let sd = (y.iter().map(|v| v * v).sum::<f64>() / dof).sqrt();
    let cv_pct = (0..FIGURES.len())
        .map(|i| {
            let m = sum[i] / n as f64;
            (m > 0.0).then(|| 100.0 * (ss[i] / dof).sqrt() / m)
        })
        .collect();
    Some(LaneNoise {
        runs: n,
        sd_pct: 100.0 * sd,
        cv_pct,
        r: cols.iter().map(|c| pearson(c, &y)).collect(),
    })
}

/// The paired spread of one lane: what an A/A of two timing variants says
/// about the precision the lab can reach on it.
#[derive(Debug, Clone, PartialEq)]
pub struct PairedSpread {
    /// Rounds in which both variants have an ok run.
    pub rounds: usize,
    /// Standard deviation of the per-round `ln(var/base)`, in %.
    pub sd_pct: f64,
    /// Mean of the per-round `ln(var/base)`, in %.
    pub mean_pct: f64,
    /// Half-width of the 95 % t interval of the mean at `rounds`, in %.
    pub half_pct: f64,
    /// Machine seconds of one round of this lane (both runs' wall time,
    /// the median over rounds).
    pub round_s: f64,
    /// Rounds a 95 % half-width of 1 % needs at this spread (the smallest
    /// n with t(0.975, n-1) * sd / sqrt(n) <= 1 %).
    pub rounds_for_1pct: u64,
}

impl PairedSpread {
    /// Machine minutes of `rounds_for_1pct` rounds.
    pub fn minutes_for_1pct(&self) -> f64 {
        self.rounds_for_1pct as f64 * self.round_s / 60.0
    }
}

/// Smallest n >= 2 with t(0.975, n-1) * sd / sqrt(n) <= target (both in
/// the same unit); capped at 1e6.
pub fn rounds_for(sd: f64, target: f64) -> u64 {
    let mut n = 2u64;
    while n < 1_000_000 {
        let t = hz_analyze::paired::t_quantile(0.975, (n - 1) as f64);
        if t * sd / (n as f64).sqrt() <= target {
            return n;
        }
        // Grow geometrically far from the answer, then step by one.
        let z_n = (1.96 * sd / target).powi(2) as u64;
        n = if z_n > n + 8 { z_n } else { n + 1 };
    }
    n
}

/// The paired spread of every lane, when the lab has exactly two timing
/// variants (an A/A or an A/B); runs are paired by round number.
pub fn paired(m: &Manifest) -> BTreeMap<String, PairedSpread> {
    use super::manifest::Role;
    let timing: Vec<&str> = m
        .variants
        .iter()
        .filter(|v| v.role == Role::Timing)
        .map(|v| v.name.as_str())
        .collect();
    let mut out = BTreeMap::new();
    let [base, var] = timing[..] else {
        return out;
    };
    for lane in &m.lanes {
        let ok = |variant: &str, run: u32| {
            m.runs.iter().find(|r| {
                r.lane == lane.name
                    && r.variant == variant
                    && r.run == run
                    && r.status == RunStatus::Ok
                    && r.ops_per_sec.is_some_and(|o| o > 0.0)
            })
        };
        let mut d = Vec::new();
        let mut walls = Vec::new();
        let mut rounds: Vec<u32> = m
            .runs
            .iter()
            .filter(|r| r.lane == lane.name)
            .map(|r| r.run)
            .collect();
        rounds.sort_unstable();
        rounds.dedup();
        for run in rounds {
            if let (Some(b), Some(v)) = (ok(base, run), ok(var, run)) {
                d.push((v.ops_per_sec.unwrap() / b.ops_per_sec.unwrap()).ln());
                walls.push(b.wall_s + v.wall_s);
            }
        }
        let n = d.len();
        if n < 3 {
            continue;
        }
        let md = mean(&d);
        let sd = (d.iter().map(|x| (x - md) * (x - md)).sum::<f64>() / (n - 1) as f64).sqrt();
        let t = hz_analyze::paired::t_quantile(0.975, (n - 1) as f64);
        walls.sort_by(f64::total_cmp);
        out.insert(
            lane.name.clone(),
            PairedSpread {
                rounds: n,
                sd_pct: 100.0 * sd,
                mean_pct: 100.0 * md,
                half_pct: 100.0 * t * sd / (n as f64).sqrt(),
                round_s: walls[n / 2],
                rounds_for_1pct: rounds_for(sd, 0.01),
            },
        );
    }
    out
}

fn render_paired(m: &Manifest, s: &mut String) {
    let rows = paired(m);
    if rows.is_empty() {
        return;
    }
    let _ = writeln!(
        s,
        "\n== Paired spread: per-round d = ln(var/base), paired by round ==\n\
         half = 95 % t half-width at these rounds; 1 % needs = rounds (and machine minutes) \
         for a half-width of 1 % at this sd"
    );
    let _ = writeln!(
        s,
        "{:<13} {:>6} {:>8} {:>7} {:>7} {:>8} {:>12} {:>8}",
        "lane", "rounds", "mean d%", "sd d%", "half%", "round s", "1% needs", "minutes"
    );
    let mut order: Vec<&String> = rows.keys().collect();
    order.sort_by_key(|n| hz_analyze::lanes::lane_order(n));
    let mut total_min = 0.0;
    for lane in order {
        let p = &rows[lane];
        total_min += p.minutes_for_1pct();
        let _ = writeln!(
            s,
            "{:<13} {:>6} {:>+8.2} {:>7.2} {:>7.2} {:>8.2} {:>12} {:>8.1}",
            lane,
            p.rounds,
            p.mean_pct,
            p.sd_pct,
            p.half_pct,
            p.round_s,
            p.rounds_for_1pct,
            p.minutes_for_1pct()
        );
    }
    let _ = writeln!(
        s,
        "all lanes to 1 %, each stopping when it gets there: {total_min:.1} machine minutes"
    );
}

/// The text table, or a sentence saying why there is none.
pub fn render(m: &Manifest) -> String {
    let rows = lanes(m);
    let mut s = String::new();
    if rows.is_empty() {
        let _ = writeln!(
            s,
            "no lane has 3 ok runs with a [RUSAGE] line (lab directories from before hz-bench \
             printed it have none)"
        );
        return s;
    }
    let _ = writeln!(
        s,
        "== Noise sources: correlation r of each per-run figure with ln(ops/s) ==\n\
         runs centred on their variant's mean; sd = spread of ln(ops/s); cv = spread of the \
         figure itself"
    );
    let mut head = format!("{:<13} {:>4} {:>6}", "lane", "runs", "sd%");
    for (name, _) in FIGURES {
        let _ = write!(head, " {name:>13}");
    }
    let _ = writeln!(s, "{head} {:>16}", "strongest (r²)");
    let mut order: Vec<&String> = rows.keys().collect();
    order.sort_by_key(|n| hz_analyze::lanes::lane_order(n));
    for lane in order {
        let l = &rows[lane];
        let mut line = format!("{:<13} {:>4} {:>6.2}", lane, l.runs, l.sd_pct);
        for i in 0..FIGURES.len() {
            let cell = match (l.r[i], l.cv_pct[i]) {
                (Some(r), Some(cv)) => format!("{r:+.2} ({cv:.0}%)"),
                (Some(r), None) => format!("{r:+.2}"),
                _ => "-".into(),
            };
            let _ = write!(line, " {cell:>13}");
        }
        let best = l
            .strongest()
            .map_or_else(|| "-".into(), |(n, r)| format!("{n} ({:.2})", r * r));
        let _ = writeln!(s, "{line} {best:>16}");
    }
    render_paired(m, &mut s);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pearson_known_values() {
        let x = [1.0, 2.0, 3.0, 4.0];
        assert!((pearson(&x, &[2.0, 4.0, 6.0, 8.0]).unwrap() - 1.0).abs() < 1e-12);
        assert!((pearson(&x, &[8.0, 6.0, 4.0, 2.0]).unwrap() + 1.0).abs() < 1e-12);
        // By hand: deviations x −1.5 −0.5 0.5 1.5, y −1 1 0 0; Sxy = 1,
        // Sxx = 5, Syy = 2, so r = 1 / √10.
        let r = pearson(&x, &[1.0, 3.0, 2.0, 2.0]).unwrap();
        assert!((r - 1.0 / 10f64.sqrt()).abs() < 1e-12, "{r}");
        assert_eq!(pearson(&x, &[1.0; 4]), None);
        assert_eq!(pearson(&x[..2], &[1.0, 2.0]), None);
    }

    fn run(variant: &str, ops: f64, stime_us: u64, nivcsw: u64) -> RunRecord {
        RunRecord {
            lane: "main_r50".into(),
            variant: variant.into(),
            run: 1,
            log: String::new(),
            status: RunStatus::Ok,
            exit_code: Some(0),
            signal: None,
            wall_s: 1.0,
            timeout_s: 60.0,
            ops_per_sec: Some(ops),
            max_rss_kb: Some(1000),
            rusage: Some(Rusage {
                utime_us: 1_000_000,
                stime_us,
                minflt: 10,
                majflt: 0,
                nvcsw: 5,
                nivcsw,
            }),
            started_utc: String::new(),
        }
    }

    #[test]
    fn finds_the_figure_that_moves_with_throughput() {
        // Throughput falls as system time rises, in both variants; var is
        // 10 % faster throughout, which must not count as noise.
        let mut runs = Vec::new();
        for (i, st) in [100u64, 200, 300, 400, 500].iter().enumerate() {
            let ops = 1e6 * (1.0 - *st as f64 / 2000.0);
            runs.push(run("base", ops, *st, [3, 1, 4, 1, 5][i]));
            runs.push(run("var", 1.1 * ops, *st, [9, 2, 6, 5, 3][i]));
        }
        let refs: Vec<&RunRecord> = runs.iter().collect();
        let n = lane_noise(&refs).unwrap();
        assert_eq!(n.runs, 10);
        let (name, r) = n.strongest().unwrap();
        assert_eq!(name, "sys");
        assert!(r < -0.99, "{r}");
        // Constant figures have no correlation.
        assert_eq!(
            n.r[FIGURES.iter().position(|f| f.0 == "user").unwrap()],
            None
        );
        // The 10 % between variants is centred away: the pooled spread is
        // exactly that of one variant's ramp (same shape in both).
        let base: Vec<f64> = runs
            .iter()
            .filter(|r| r.variant == "base")
            .map(|r| r.ops_per_sec.unwrap().ln())
            .collect();
        let m = mean(&base);
        let sd_base = (base.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / 4.0).sqrt();
        assert!(
            (n.sd_pct - 100.0 * sd_base).abs() < 1e-9,
            "{} {sd_base}",
            n.sd_pct
        );
        // Too few runs: no row.
        assert!(lane_noise(&refs[..2]).is_none());
        // A run without [RUSAGE] is left out, not guessed.
        let mut old = run("base", 1e6, 1, 1);
        old.rusage = None;
        let mut with_old = refs.clone();
        with_old.push(&old);
        assert_eq!(lane_noise(&with_old).unwrap().runs, 10);
    }

    #[test]
    fn rounds_for_one_percent_is_the_smallest_that_reaches_it() {
        use hz_analyze::paired::t_quantile;
        for sd in [0.005, 0.028, 0.074, 0.2] {
            let n = rounds_for(sd, 0.01);
            let half = |n: u64| t_quantile(0.975, (n - 1) as f64) * sd / (n as f64).sqrt();
            assert!(half(n) <= 0.01, "sd {sd}: n {n}");
            if n > 2 {
                assert!(half(n - 1) > 0.01, "sd {sd}: n {n} is not the smallest");
            }
        }
        // By hand: sd 2.8 %: (1.96 * 2.8)^2 = 30.1 with z; t pushes it to 33.
        assert_eq!(rounds_for(0.028, 0.01), 33);
    }

    #[test]
    fn paired_spread_pairs_by_round_and_skips_failed_rounds() {
        let mut m =
            crate::lab::runner::tests::manifest("ab", Some("replay"), &[(&["base", "var"], 5)]);
        let ratios = [1.02, 0.98, 1.01, 0.99];
        for (i, q) in ratios.iter().enumerate() {
            let mut b = run("base", 1e6, 1, 1);
            b.run = i as u32 + 1;
            b.wall_s = 1.0;
            let mut v = run("var", 1e6 * q, 1, 1);
            v.run = i as u32 + 1;
            v.wall_s = 2.0;
            m.runs.push(b);
            m.runs.push(v);
        }
        // Round 5: var crashed, so the round has no pair.
        let mut b = run("base", 5e6, 1, 1);
        b.run = 5;
        let mut v = run("var", 1e6, 1, 1);
        v.run = 5;
        v.status = RunStatus::Crashed;
        m.runs.push(b);
        m.runs.push(v);
        let rows = paired(&m);
        assert_eq!(rows.len(), 1, "only main_r50 has runs");
        let p = &rows["main_r50"];
        assert_eq!(p.rounds, 4);
        let d: Vec<f64> = ratios.iter().map(|q: &f64| q.ln()).collect();
        let md = d.iter().sum::<f64>() / 4.0;
        let sd = (d.iter().map(|x| (x - md) * (x - md)).sum::<f64>() / 3.0).sqrt();
        assert!((p.mean_pct - 100.0 * md).abs() < 1e-9);
        assert!((p.sd_pct - 100.0 * sd).abs() < 1e-9);
        // t(0.975, 3) = 3.182446.
        assert!((p.half_pct - 100.0 * 3.182446 * sd / 2.0).abs() < 1e-4);
        assert_eq!(p.round_s, 3.0);
        assert_eq!(p.rounds_for_1pct, rounds_for(sd, 0.01));
        assert!(render(&m).contains("== Paired spread"));
    }
}
