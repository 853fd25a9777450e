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
}
