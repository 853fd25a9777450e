//! `hz-analyze power`: how often each gate rule gives the right answer, by
//! resampling recorded rounds.
//!
//! A pool is one or more lab directories of an A/A comparison (base and var
//! the same build), or of a measured plant (var carries a known slowdown).
//! Per lane, every round whose base and var runs pair (see
//! [`crate::pairing`]) is one *pair*. One simulated experiment of `n`
//! rounds draws `n` pairs with replacement (whole rounds, so base and var
//! of a round stay together) and applies both rules to them:
//!
//! - **median**: `median(var)/median(base) - 1 >= gate` (pass, else fail);
//! - **paired**: the 95 % interval rule of [`crate::pairing`] (pass, fail
//!   or undecided).
//!
//! A/A pools are **centred** first: each lane's var ops/s are divided by
//! `exp(HL)` of the pool's own log-ratios, so the pool's true change is
//! exactly 0 (otherwise a 21-round pool's chance offset, e.g. +3.8 % on
//! cross128_r90, would be resampled as if it were real). A **synthetic
//! plant** (`--shift PCT`) then multiplies every var ops/s of the centred
//! A/A pairs by `1 + PCT/100`: true change PCT. A **measured plant**
//! (`--plant PCT=DIR`) is a pool recorded with a planted slowdown of
//! nominal size PCT; it is not centred (its offset is the plant).
//!
//! For each cell the report gives the rates of pass, fail and undecided
//! and the rate of the correct answer: pass when the true change is `>=`
//! the gate, fail otherwise. On A/A (true change 0) a pass of a positive
//! gate is a **false pass**; on a plant the correct-answer rate is the
//! **power**. The generator is SplitMix64 with a fixed seed (`--seed`,
//! offset per lane, source and round count), so the figures repeat.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::exact;
use crate::gates::{rat, CI_LEVEL};
use crate::model::{GateRule, Status, Summary};
use crate::paired;
use crate::pairing::{interval_status, pair_rounds};
use crate::stats::SplitMix64;

/// One source of pairs for one lane.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PowerSource {
    /// `aa`, `synthetic +2%`, `measured -2%`.
    pub label: String,
    /// `aa`, `synthetic` or `measured`.
    pub kind: String,
    /// True change in percent (nominal for a measured plant).
    pub true_change_pct: f64,
}

/// Rates of one rule in one cell, in percent of the experiments.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RuleRates {
    /// Gate passed.
    pub pass_pct: f64,
    /// Gate failed.
    pub fail_pct: f64,
    /// Undecided (paired rule only).
    pub undecided_pct: f64,
    /// The correct answer (pass iff the true change >= gate).
    pub correct_pct: f64,
}

/// One lane, source and round count.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PowerCell {
    /// Lane.
    pub lane: String,
    /// Source label (see [`PowerSource::label`]).
    pub source: String,
    /// True change, percent.
    pub true_change_pct: f64,
    /// Gate, percent.
    pub gate_pct: f64,
    /// `pass` or `fail`: the right answer for this true change.
    pub correct: String,
    /// Rounds per simulated experiment.
    pub rounds: u64,
    /// Median rule.
    pub median: RuleRates,
    /// Paired rule.
    pub paired: RuleRates,
}

/// The pool of one lane.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PowerPool {
    /// Lane.
    pub lane: String,
    /// Source label.
    pub source: String,
    /// Pairs (rounds) in the pool.
    pub pairs: u64,
    /// The change removed by centring, percent (A/A pools only).
    pub centred_by_pct: Option<f64>,
    /// Standard deviation of the per-round log-ratios, ×100.
    pub sd_pct: f64,
}

/// `hz-analyze power` result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PowerReport {
    /// Gate mode used (`screen` or `replay`).
    pub mode: String,
    /// Simulated experiments per cell.
    pub resamples: u32,
    /// Seed.
    pub seed: u64,
    /// How experiments were drawn, in words.
    pub method: String,
    /// The pools.
    pub pools: Vec<PowerPool>,
    /// Every cell.
    pub cells: Vec<PowerCell>,
    /// Notes (unpaired lanes, missing pools).
    pub notes: Vec<String>,
}

/// Paired pool of one lane: `(base, var)` of each round.
pub type Pairs = Vec<(f64, f64)>;

/// The pairs of each gated lane in one lab directory's summaries (base and
/// var variants); lanes that do not pair are noted and skipped.
pub fn pool_pairs(
    base: &Summary,
    var: &Summary,
    rules: &[GateRule],
    label: &str,
    notes: &mut Vec<String>,
) -> Vec<(String, Pairs)> {
    let mut out = Vec::new();
    for r in rules {
        match pair_rounds(base.lanes.get(&r.lane), var.lanes.get(&r.lane)) {
            Ok(p) => out.push((r.lane.clone(), p.iter().map(|x| (x.1, x.2)).collect())),
            Err(e) => notes.push(format!("{label}: {}: not used ({e})", r.lane)),
        }
    }
    out
}

/// Hodges–Lehmann centre of the pairs' log-ratios.
fn hl_of(p: &Pairs) -> Option<f64> {
    paired::estimate(&paired::log_ratios(p), CI_LEVEL).map(|e| e.hl)
}

/// Divides every var by `exp(c)`: the pool's centre becomes 0.
pub fn centre(p: &Pairs) -> (Pairs, f64) {
    let c = hl_of(p).unwrap_or(0.0);
    let k = (-c).exp();
    (p.iter().map(|&(b, v)| (b, v * k)).collect(), c)
}

/// Multiplies every var by `1 + pct/100`.
pub fn shift(p: &Pairs, pct: f64) -> Pairs {
    let k = 1.0 + pct / 100.0;
    p.iter().map(|&(b, v)| (b, v * k)).collect()
}

/// Ops/s in millionths, as the gates hold them.
fn micro(x: f64) -> u64 {
    (x * 1e6).round().clamp(0.0, u64::MAX as f64) as u64
}

/// The median rule on the drawn pairs: the same exact integer comparison
/// as `gates` (medians in millionths of an op/s, integer products).
fn median_rule(draw: &[(f64, f64)], gate_pct: f64) -> Status {
    let b: Vec<u64> = draw.iter().map(|x| micro(x.0)).collect();
    let v: Vec<u64> = draw.iter().map(|x| micro(x.1)).collect();
    match (exact::median2(&b), exact::median2(&v)) {
        (Some(mb), Some(mv)) if mb > 0 && exact::change_at_least(mb, mv, rat(gate_pct)) => {
            Status::Pass
        }
        _ => Status::Fail,
    }
}

/// Signed-rank interval index `k` per round count, cached.
struct KCache(Vec<Option<Option<usize>>>);

impl KCache {
    fn k(&mut self, n: usize) -> Option<usize> {
        if self.0.len() <= n {
            self.0.resize(n + 1, None);
        }
        *self.0[n].get_or_insert_with(|| paired::signed_rank_k(n, CI_LEVEL))
    }
}

fn walsh(d: &[f64]) -> Vec<f64> {
    let mut w = Vec::with_capacity(d.len() * (d.len() + 1) / 2);
    for i in 0..d.len() {
        for j in i..d.len() {
            w.push((d[i] + d[j]) / 2.0);
        }
    }
    w
}

/// The paired rule on the drawn pairs (the same interval as
/// [`crate::pairing::paired_from_pairs`], with the signed-rank index
/// cached per round count).
fn paired_rule(draw: &[(f64, f64)], gate: f64, ks: &mut KCache) -> Status {
    let d = paired::log_ratios(draw);
    let Some(k) = ks.k(d.len()) else {
        return Status::Undecided;
    };
    let mut w = walsh(&d);
    w.sort_by(f64::total_cmp);
    let (lo, hi) = (w[k - 1], w[w.len() - k]);
    interval_status(lo, hi, (1.0 + gate).ln())
}

fn rates(counts: [u32; 3], total: u32, correct_pass: bool) -> RuleRates {
    let p = |c: u32| 100.0 * c as f64 / total.max(1) as f64;
    RuleRates {
        pass_pct: p(counts[0]),
        fail_pct: p(counts[1]),
        undecided_pct: p(counts[2]),
        correct_pct: p(if correct_pass { counts[0] } else { counts[1] }),
    }
}

fn slot(s: Status) -> usize {
    match s {
        Status::Pass => 0,
        Status::Fail => 1,
        Status::Undecided => 2,
    }
}

/// Simulates `resamples` experiments of `n` rounds drawn from `pool` and
/// returns the rates of both rules for a gate of `gate_pct` whose true
/// change is `true_pct`.
pub fn simulate(
    pool: &Pairs,
    n: usize,
    gate_pct: f64,
    true_pct: f64,
    resamples: u32,
    seed: u64,
) -> (RuleRates, RuleRates) {
    let mut rng = SplitMix64::new(seed);
    let gate = gate_pct / 100.0;
    let mut ks = KCache(Vec::new());
    let (mut m, mut p) = ([0u32; 3], [0u32; 3]);
    let mut draw = Vec::with_capacity(n);
    for _ in 0..resamples {
        draw.clear();
        draw.extend((0..n).map(|_| pool[rng.below(pool.len())]));
        m[slot(median_rule(&draw, gate_pct))] += 1;
        p[slot(paired_rule(&draw, gate, &mut ks))] += 1;
    }
    let correct_pass = true_pct >= gate_pct;
    (
        rates(m, resamples, correct_pass),
        rates(p, resamples, correct_pass),
    )
}

/// The whole table: every lane of `rules`, every source, every round
/// count. `aa` holds the A/A pairs per lane (pooled over directories),
/// `measured` the measured plants `(nominal pct, pairs per lane)`.
#[allow(clippy::too_many_arguments)]
pub fn power(
    rules: &[GateRule],
    aa: &[(String, Pairs)],
    measured: &[(f64, Vec<(String, Pairs)>)],
    shifts: &[f64],
    rounds: &[u64],
    resamples: u32,
    seed: u64,
    mode: &str,
    mut notes: Vec<String>,
) -> PowerReport {
    let mut pools = Vec::new();
    let mut cells = Vec::new();
    let sd = |p: &Pairs| {
        paired::estimate(&paired::log_ratios(p), CI_LEVEL).map_or(0.0, |e| e.sd * 100.0)
    };
    for (li, r) in rules.iter().enumerate() {
        let mut sources: Vec<(PowerSource, Pairs)> = Vec::new();
        if let Some((_, p)) = aa.iter().find(|(l, _)| *l == r.lane) {
            if !p.is_empty() {
                let (c, by) = centre(p);
                pools.push(PowerPool {
                    lane: r.lane.clone(),
                    source: "aa".into(),
                    pairs: p.len() as u64,
                    centred_by_pct: Some(by.exp_m1() * 100.0),
                    sd_pct: sd(p),
                });
                for &s in shifts {
                    sources.push((
                        PowerSource {
                            label: format!("synthetic {s:+}%"),
                            kind: "synthetic".into(),
                            true_change_pct: s,
                        },
                        shift(&c, s),
                    ));
                }
                sources.insert(
                    0,
                    (
                        PowerSource {
                            label: "aa".into(),
                            kind: "aa".into(),
                            true_change_pct: 0.0,
                        },
                        c,
                    ),
                );
            }
        } else if !aa.is_empty() {
            notes.push(format!("{}: no A/A pairs", r.lane));
        }
        for (pct, lanes) in measured {
            if let Some((_, p)) = lanes.iter().find(|(l, _)| *l == r.lane) {
                let label = format!("measured {pct:+}%");
                pools.push(PowerPool {
                    lane: r.lane.clone(),
                    source: label.clone(),
                    pairs: p.len() as u64,
                    centred_by_pct: None,
                    sd_pct: sd(p),
                });
                sources.push((
                    PowerSource {
                        label,
                        kind: "measured".into(),
                        true_change_pct: *pct,
                    },
                    p.clone(),
                ));
            }
        }
        for (si, (src, pool)) in sources.iter().enumerate() {
            for (ni, &n) in rounds.iter().enumerate() {
                let s = seed
                    .wrapping_add((li as u64) << 32)
                    .wrapping_add((si as u64) << 16)
                    .wrapping_add(ni as u64);
                let (m, p) = simulate(
                    pool,
                    n as usize,
                    r.min_change_pct,
                    src.true_change_pct,
                    resamples,
                    s,
                );
                cells.push(PowerCell {
                    lane: r.lane.clone(),
                    source: src.label.clone(),
                    true_change_pct: src.true_change_pct,
                    gate_pct: r.min_change_pct,
                    correct: if src.true_change_pct >= r.min_change_pct {
                        "pass".into()
                    } else {
                        "fail".into()
                    },
                    rounds: n,
                    median: m,
                    paired: p,
                });
            }
        }
    }
    PowerReport {
        mode: mode.into(),
        resamples,
        seed,
        method: format!(
            "{resamples} simulated experiments per cell; each draws N whole rounds (base and var of one round together) \
             with replacement from the lane's pool; A/A pools centred to a true change of 0; synthetic plants multiply \
             the centred A/A var ops/s by (1 + PCT/100); SplitMix64 seed {seed}"
        ),
        pools,
        cells,
        notes,
    }
}

/// Plain-text (or Markdown) tables of a [`PowerReport`].
pub fn render(p: &PowerReport, markdown: bool) -> String {
    let mut s = String::new();
    let h = if markdown { "## " } else { "" };
    let _ = writeln!(s, "{h}Power and false-pass rates ({} gates)\n", p.mode);
    let _ = writeln!(s, "{}\n", p.method);
    let _ = writeln!(s, "| lane | pool | pairs | sd/round | centred by |");
    let _ = writeln!(s, "|---|---|---:|---:|---:|");
    for x in &p.pools {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {:.2}% | {} |",
            x.lane,
            x.source,
            x.pairs,
            x.sd_pct,
            x.centred_by_pct.map_or("-".into(), |c| format!("{c:+.2}%"))
        );
    }
    let _ = writeln!(
        s,
        "\nPer cell: pass / fail / undecided in % of the experiments; `ok` = the correct answer's rate \
         (a false pass is `pass` where the correct answer is fail; power is `ok` of a plant).\n"
    );
    let _ = writeln!(
        s,
        "| lane | source | gate | correct | rounds | median pass/fail | median ok | paired pass/fail/undec. | paired ok |"
    );
    let _ = writeln!(s, "|---|---|---:|---|---:|---:|---:|---:|---:|");
    for c in &p.cells {
        let _ = writeln!(
            s,
            "| {} | {} | {:+.1}% | {} | {} | {:.1}/{:.1} | {:.1} | {:.1}/{:.1}/{:.1} | {:.1} |",
            c.lane,
            c.source,
            c.gate_pct,
            c.correct,
            c.rounds,
            c.median.pass_pct,
            c.median.fail_pct,
            c.median.correct_pct,
            c.paired.pass_pct,
            c.paired.fail_pct,
            c.paired.undecided_pct,
            c.paired.correct_pct
        );
    }
    for n in &p.notes {
        let _ = writeln!(s, "- note: {n}");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(ds: &[f64]) -> Pairs {
        ds.iter().map(|d| (1000.0, 1000.0 * d.exp())).collect()
    }

    #[test]
    fn cached_paired_rule_matches_the_estimator() {
        let mut rng = SplitMix64::new(5);
        let mut ks = KCache(Vec::new());
        for n in [6usize, 7, 11, 21, 31] {
            for _ in 0..20 {
                let d: Vec<f64> = (0..n).map(|_| 0.03 * rng.gauss() + 0.01).collect();
                let p = pool(&d);
                let want = crate::pairing::paired_from_pairs(
                    &p.iter()
                        .enumerate()
                        .map(|(i, x)| (i as u64, x.0, x.1))
                        .collect::<Vec<_>>(),
                    1.0,
                    CI_LEVEL,
                )
                .status;
                assert_eq!(paired_rule(&p, 0.01, &mut ks), want, "n={n}");
            }
        }
        assert_eq!(
            paired_rule(&pool(&[0.1; 5]), 0.0, &mut ks),
            Status::Undecided
        );
    }

    #[test]
    fn constant_pools_give_certain_answers() {
        // Every round +3 %: the median rule and the paired interval agree.
        let p = pool(&[(1.03f64).ln(); 10]);
        let (m, q) = simulate(&p, 11, 1.0, 3.0, 50, 1);
        assert_eq!((m.pass_pct, m.correct_pct), (100.0, 100.0));
        assert_eq!((q.pass_pct, q.correct_pct), (100.0, 100.0));
        let (m, q) = simulate(&p, 11, 6.0, 3.0, 50, 1);
        assert_eq!((m.fail_pct, q.fail_pct), (100.0, 100.0));
    }

    #[test]
    fn centring_and_shifting() {
        let p = pool(&[0.01, 0.02, 0.03, 0.05, 0.04, 0.02, 0.03]);
        let (c, by) = centre(&p);
        assert!((hl_of(&c).unwrap()).abs() < 1e-12 && by > 0.0);
        let s = shift(&c, 2.0);
        assert!((hl_of(&s).unwrap() - (1.02f64).ln()).abs() < 1e-12);
    }

    #[test]
    fn noisy_aa_false_passes_median_more_than_paired() {
        // A/A with 7 % per-round noise: a +1 % gate passes by chance far
        // more often under the median rule than under the interval rule,
        // which is bounded by about 2.5 %.
        let mut rng = SplitMix64::new(9);
        let p: Pairs = (0..200)
            .map(|_| {
                let shared = 0.05 * rng.gauss();
                (
                    1e6 * shared.exp(),
                    1e6 * (shared + 0.07 * rng.gauss()).exp(),
                )
            })
            .collect();
        let (c, _) = centre(&p);
        let (m, q) = simulate(&c, 21, 1.0, 0.0, 2000, 3);
        assert!(m.pass_pct > 15.0, "{m:?}");
        assert!(q.pass_pct < 4.0, "{q:?}");
        // The same seed gives the same figures.
        assert_eq!(simulate(&c, 21, 1.0, 0.0, 2000, 3), (m, q));
    }

    #[test]
    fn median_rule_is_exact_at_the_gate() {
        // var median exactly 1.01 x base median: a +1 % gate passes, a
        // +1.0001 % gate fails (no float slack either way).
        let d = [(100.0, 101.0), (200.0, 202.0), (300.0, 303.0)];
        assert_eq!(median_rule(&d, 1.0), Status::Pass);
        assert_eq!(median_rule(&d, 1.0001), Status::Fail);
        // Medians 200 and 198: -1 % passes a -1 % gate.
        let d = [(100.0, 99.0), (200.0, 198.0), (300.0, 297.0)];
        assert_eq!(median_rule(&d, -1.0), Status::Pass);
        assert_eq!(median_rule(&d, -0.99), Status::Fail);
    }

    #[test]
    fn one_round_experiments_pass_at_the_share_of_passing_rounds() {
        // One round per experiment from a pool of one +5 % round and three
        // -5 % rounds: the median rule passes a +1 % gate exactly when the
        // +5 % round is drawn, about 25 % of the time; the paired rule has
        // too few rounds and is always undecided.
        let p: Pairs = vec![(100.0, 105.0), (100.0, 95.0), (100.0, 95.0), (100.0, 95.0)];
        let (m, q) = simulate(&p, 1, 1.0, 0.0, 4000, 11);
        assert!((m.pass_pct - 25.0).abs() < 2.5, "{m:?}");
        assert_eq!(m.pass_pct + m.fail_pct, 100.0);
        assert_eq!(m.correct_pct, m.fail_pct);
        assert_eq!(q.undecided_pct, 100.0);
    }
}
