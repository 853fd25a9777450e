//! `hz-lab ab --until-decided`: after the fixed rounds, more rounds of the
//! lanes whose gate the paired estimate cannot decide yet, with
//! group-sequential boundaries so that looking again does not inflate the
//! error rate.
//!
//! Method: Lan–DeMets α-spending with the O'Brien–Fleming-type function
//! (`hz_analyze::sequential::obf_bounds`, total two-sided α = 0.05). When
//! the fixed rounds are done, the planned maximum `N_max` is fixed from the
//! budget and the measured cost of one round of every gated lane:
//! `N_max = fixed + floor(remaining budget / round cost)`. Looks come at
//! the fixed round count and then every `step = ceil((N_max - fixed) / 8)`
//! rounds, at information fraction `t = rounds / N_max`. Look `k` uses the
//! spending bound `c_k` as a two-sided nominal level `2Φ(c_k) - 1` for the
//! lane's paired interval (Hodges–Lehmann, signed-rank; the repeated
//! confidence intervals of Jennison and Turnbull): pass when its lower end
//! clears the gate, fail when its upper end is below it, else the lane runs
//! on. Because each look's bound depends only on the fractions of the looks
//! so far (not on the data), and the spent error never exceeds α, the
//! chance of any wrong decision over all looks stays at most α/2 per side.
//! A lane stopped by the budget before `N_max` has spent less than α: still
//! valid, only conservative. A lane decided stops; the others run on.
//!
//! Every look is recorded in the manifest (`settings.sequential.looks`), so
//! `hz-lab resume` continues at the look it was in, with the same bounds.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Result;
use hz_analyze::paired::normal_cdf;
use hz_analyze::pairing::paired_gate;
use hz_analyze::sequential::obf_bounds;
use hz_analyze::{summarize, GateOptions, Mode, Status};
use serde::{Deserialize, Serialize};

use super::manifest::{Manifest, RunStatus};
use super::plan::{interleave, Job};
use super::runner::{Ended, Runner};
use super::sys::now_iso;

/// Total two-sided error of the sequential test.
pub const ALPHA: f64 = 0.05;
/// Looks after the fixed one, at most (the last is at `N_max`).
pub const MAX_LATER_LOOKS: u32 = 8;

/// The sequential plan and what happened so far (in the manifest).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeqPlan {
    /// `--max-minutes`: budget of run time (the sum of every run's wall
    /// time in the lab directory, fixed rounds included).
    pub max_minutes: f64,
    /// Two-sided α (0.05).
    pub alpha: f64,
    /// Fixed rounds before the first look (the mode's 21).
    pub fixed_rounds: u32,
    /// Planned maximum rounds, fixed when the fixed rounds are done.
    #[serde(default)]
    pub max_rounds: Option<u32>,
    /// Rounds between looks.
    #[serde(default)]
    pub step: Option<u32>,
    /// Measured seconds of one round of every gated lane (base + var).
    #[serde(default)]
    pub round_s: Option<f64>,
    /// Rounds of the look whose runs are planned but not yet evaluated.
    #[serde(default)]
    pub pending_look: Option<u32>,
    /// Looks evaluated.
    #[serde(default)]
    pub looks: Vec<SeqLook>,
    /// Why the sequential phase ended (`decided`, `max_rounds`, `budget`).
    #[serde(default)]
    pub ended: Option<String>,
}

/// One look.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeqLook {
    /// Rounds at this look.
    pub rounds: u32,
    /// Information fraction `rounds / max_rounds`.
    pub t: f64,
    /// Two-sided critical value on the z scale.
    pub bound: f64,
    /// Nominal two-sided level of the intervals at this look.
    pub level: f64,
    /// The lanes still running at this look.
    pub lanes: Vec<SeqLane>,
    /// When it was evaluated.
    pub at_utc: String,
}

/// One lane at one look.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeqLane {
    /// Lane.
    pub lane: String,
    /// `pass`, `fail` or `undecided`.
    pub status: Status,
    /// Paired rounds used.
    pub rounds: u64,
    /// Gate, percent.
    pub gate_pct: f64,
    /// Estimate, percent.
    pub change_pct: Option<f64>,
    /// Interval at the look's level, percent.
    pub ci_low_pct: Option<f64>,
    /// Interval at the look's level, percent.
    pub ci_high_pct: Option<f64>,
    /// Undecided: rounds the interval would need at this spread.
    pub rounds_needed: Option<u64>,
    /// Unpaired fallback note, if any.
    pub note: Option<String>,
}

impl SeqPlan {
    /// A plan before the fixed rounds ran.
    pub fn new(max_minutes: f64, fixed_rounds: u32) -> Self {
        SeqPlan {
            max_minutes,
            alpha: ALPHA,
            fixed_rounds,
            max_rounds: None,
            step: None,
            round_s: None,
            pending_look: None,
            looks: Vec::new(),
            ended: None,
        }
    }

    /// Rounds of look `k` (0-based) of the schedule.
    pub fn look_rounds(&self, k: usize) -> Option<u32> {
        let (max, step) = (self.max_rounds?, self.step?.max(1));
        let r = self.fixed_rounds + k as u32 * step;
        if k == 0 {
            Some(self.fixed_rounds.min(max))
        } else if r - step >= max {
            None
        } else {
            Some(r.min(max))
        }
    }
}

/// Sum of every run's wall time, seconds.
fn spent_s(m: &Manifest) -> f64 {
    m.runs.iter().map(|r| r.wall_s).sum()
}

/// Median wall time of the ok runs of (lane, variant).
fn median_wall(m: &Manifest, lane: &str, variant: &str) -> Option<f64> {
    let w: Vec<f64> = m
        .runs
        .iter()
        .filter(|r| r.lane == lane && r.variant == variant && r.status == RunStatus::Ok)
        .map(|r| r.wall_s)
        .collect();
    hz_analyze::ratios::median(&w)
}

/// Seconds of one round of `lanes` (base + var).
fn round_cost(m: &Manifest, lanes: &[String]) -> f64 {
    lanes
        .iter()
        .map(|l| median_wall(m, l, "base").unwrap_or(1.0) + median_wall(m, l, "var").unwrap_or(1.0))
        .sum::<f64>()
        .max(1e-3)
}

fn gate_options(m: &Manifest) -> GateOptions {
    GateOptions {
        mode: match m.settings.mode.as_deref() {
            Some("replay") => Mode::Replay,
            _ => Mode::Screen,
        },
        ..GateOptions::default()
    }
}

/// The gated lanes this lab runs, with their thresholds.
fn gated_lanes(m: &Manifest) -> Vec<(String, f64)> {
    gate_options(m)
        .active_rules()
        .iter()
        .filter(|r| m.lanes.iter().any(|l| l.name == r.lane))
        .map(|r| (r.lane.clone(), r.min_change_pct))
        .collect()
}

/// Lanes still running after the looks so far.
fn active_lanes(plan: &SeqPlan, all: &[(String, f64)]) -> Vec<(String, f64)> {
    match plan.looks.last() {
        None => all.to_vec(),
        Some(l) => all
            .iter()
            .filter(|(n, _)| {
                l.lanes
                    .iter()
                    .any(|x| x.lane == *n && x.status == Status::Undecided)
            })
            .cloned()
            .collect(),
    }
}

/// Evaluates a look at `rounds` over the lanes in `active`.
fn evaluate(dir: &Path, m: &Manifest, rounds: u32, active: &[(String, f64)]) -> Result<SeqLook> {
    let plan = m.settings.sequential.as_ref().expect("sequential plan");
    let max = plan.max_rounds.unwrap_or(rounds).max(1);
    let mut ts: Vec<f64> = plan.looks.iter().map(|l| l.t).collect();
    let t = (rounds as f64 / max as f64).min(1.0);
    ts.push(t);
    let bound = *obf_bounds(plan.alpha, &ts).last().expect("one bound");
    let level = if bound.is_finite() {
        2.0 * normal_cdf(bound) - 1.0
    } else {
        1.0
    };
    let (base, _) = super::report::runs_of(dir, m, "base")?;
    let (var, _) = super::report::runs_of(dir, m, "var")?;
    let (sb, sv) = (summarize(&base), summarize(&var));
    let o = gate_options(m);
    let lanes = active
        .iter()
        .map(|(lane, gate)| {
            let p = paired_gate(
                sb.lanes.get(lane),
                sv.lanes.get(lane),
                *gate,
                level,
                o.bootstrap,
                o.seed,
            );
            SeqLane {
                lane: lane.clone(),
                status: p.status,
                rounds: p.rounds,
                gate_pct: *gate,
                change_pct: p.change_pct,
                ci_low_pct: p.ci_low_pct,
                ci_high_pct: p.ci_high_pct,
                rounds_needed: p.rounds_needed,
                note: p.note,
            }
        })
        .collect();
    Ok(SeqLook {
        rounds,
        t,
        bound,
        level,
        lanes,
        at_utc: now_iso(),
    })
}

/// Jobs of rounds `from..=to` of `lanes` (base/var interleaved as in the
/// fixed rounds), minus those already planned.
fn block(m: &Manifest, lanes: &[String], from: u32, to: u32) -> Vec<Job> {
    if to < from {
        return Vec::new();
    }
    let vars = vec!["base".to_owned(), "var".to_owned()];
    interleave(lanes, &vars, to - from + 1, from)
        .into_iter()
        .filter(|j| !m.planned.contains(j))
        .collect()
}

/// Runs the sequential phase after the fixed rounds: looks, extra rounds
/// of the undecided lanes, until every lane is decided, `N_max` is reached
/// or the budget ends. Returns how the run loop ended.
pub fn run(dir: &Path, m: &mut Manifest, runner: &mut Runner) -> Result<Ended> {
    let all = gated_lanes(m);
    loop {
        let Some(plan) = m.settings.sequential.as_ref() else {
            return Ok(Ended::Complete);
        };
        if plan.ended.is_some() {
            return Ok(Ended::Complete);
        }
        let plan = plan.clone();
        if plan.max_rounds.is_none() {
            // Fixed rounds done: fix N_max from the budget and the round cost.
            let names: Vec<String> = all.iter().map(|(n, _)| n.clone()).collect();
            let round_s = round_cost(m, &names);
            let remaining = plan.max_minutes * 60.0 - spent_s(m);
            let extra = if remaining > 0.0 {
                (remaining / round_s).floor() as u32
            } else {
                0
            };
            let p = m.settings.sequential.as_mut().expect("plan");
            p.round_s = Some(round_s);
            p.max_rounds = Some(plan.fixed_rounds + extra);
            p.step = Some(extra.div_ceil(MAX_LATER_LOOKS).max(1));
            m.notes.push(format!(
                "{}: sequential plan: N_max = {} rounds ({} fixed + {extra} within the budget of {} min at {:.1} s per round of all lanes), a look every {} rounds",
                now_iso(),
                plan.fixed_rounds + extra,
                plan.fixed_rounds,
                plan.max_minutes,
                round_s,
                p.step.unwrap_or(1)
            ));
            m.save(dir)?;
            continue;
        }
        let k = plan.looks.len();
        let active = active_lanes(&plan, &all);
        let end = |m: &mut Manifest, why: &str| -> Result<Ended> {
            let p = m.settings.sequential.as_mut().expect("plan");
            p.ended = Some(why.to_owned());
            p.pending_look = None;
            m.save(dir)?;
            Ok(Ended::Complete)
        };
        if active.is_empty() {
            return end(m, "decided");
        }
        let rounds = match plan.pending_look {
            Some(r) => r,
            None => {
                let Some(target) = plan.look_rounds(k) else {
                    return end(m, "max_rounds");
                };
                let done = plan.looks.last().map_or(0, |l| l.rounds);
                let names: Vec<String> = active.iter().map(|(n, _)| n.clone()).collect();
                let target = if k == 0 {
                    target
                } else {
                    // The block must fit the budget; a shorter last block
                    // is a look at a smaller fraction (still valid).
                    let left = plan.max_minutes * 60.0 - spent_s(m);
                    let fit = (left / round_cost(m, &names)).floor().max(0.0) as u32;
                    target.min(done + fit)
                };
                if target <= done {
                    return end(m, "budget");
                }
                let jobs = block(m, &names, done + 1, target);
                m.planned.extend(jobs);
                m.settings.sequential.as_mut().expect("plan").pending_look = Some(target);
                m.save(dir)?;
                target
            }
        };
        if runner.execute(m)? == Ended::Interrupted {
            return Ok(Ended::Interrupted);
        }
        let look = evaluate(dir, m, rounds, &active)?;
        let p = m.settings.sequential.as_mut().expect("plan");
        p.looks.push(look);
        p.pending_look = None;
        m.save(dir)?;
    }
}

/// Per lane: decided at N rounds, or undecided with the interval and the
/// rounds still needed; plus the plan. Empty without a plan.
pub fn report_text(m: &Manifest) -> String {
    let Some(p) = &m.settings.sequential else {
        return String::new();
    };
    let mut s = String::new();
    let _ = writeln!(
        s,
        "\nSequential replay (--until-decided, budget {} min of run time; Lan-DeMets O'Brien-Fleming spending, alpha {}):",
        p.max_minutes, p.alpha
    );
    let _ = writeln!(
        s,
        "  plan: {} fixed rounds, N_max {}, a look every {} rounds ({} s per round of all lanes); ended: {}",
        p.fixed_rounds,
        p.max_rounds.map_or("-".into(), |n| n.to_string()),
        p.step.map_or("-".into(), |n| n.to_string()),
        p.round_s.map_or("-".into(), |r| format!("{r:.1}")),
        p.ended.as_deref().unwrap_or("not yet")
    );
    let _ = writeln!(
        s,
        "  rule at each look: paired Hodges-Lehmann interval at the look's nominal level; pass iff lower end >= gate, FAIL iff upper end < gate, else the lane runs on"
    );
    for l in &p.looks {
        let _ = writeln!(
            s,
            "  look at {} rounds: t = {:.3}, bound z = {:.3}, interval level {}%",
            l.rounds,
            l.t,
            l.bound,
            hz_analyze::pairing::fmt_level(l.level)
        );
    }
    let mut last: Vec<(&SeqLane, &SeqLook)> = Vec::new();
    for look in &p.looks {
        for lane in &look.lanes {
            match last.iter_mut().find(|(x, _)| x.lane == lane.lane) {
                Some(e) => *e = (lane, look),
                None => last.push((lane, look)),
            }
        }
    }
    last.sort_by_key(|(l, _)| hz_analyze::lanes::lane_order(&l.lane));
    let pc = |x: Option<f64>| x.map_or("-".into(), |v| format!("{v:+.2}%"));
    for (lane, look) in last {
        let ci = format!("[{}, {}]", pc(lane.ci_low_pct), pc(lane.ci_high_pct));
        let line = match lane.status {
            Status::Undecided => format!(
                "  {}: undecided after {} rounds: {} {ci} ({}% interval) holds the gate {:+.2}%; {}",
                lane.lane,
                lane.rounds,
                pc(lane.change_pct),
                hz_analyze::pairing::fmt_level(look.level),
                lane.gate_pct,
                lane.rounds_needed.map_or_else(
                    || "estimate on the gate: no round count would decide it".to_owned(),
                    |r| format!("about {r} rounds would decide it at this spread")
                )
            ),
            st => format!(
                "  {}: decided at {} rounds: {} ({} {ci}, gate {:+.2}%)",
                lane.lane,
                lane.rounds,
                st,
                pc(lane.change_pct),
                lane.gate_pct
            ),
        };
        let _ = writeln!(s, "{line}");
        if let Some(n) = &lane.note {
            let _ = writeln!(s, "    note: {n}");
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lab::manifest::LabState;
    use crate::lab::progress::Quiet;
    use crate::lab::runner::tests::{manifest, Mock};

    /// Deterministic noise in [-1, 1] from a call index.
    fn noise(n: usize) -> f64 {
        let mut r = hz_analyze::stats::SplitMix64::new(n as u64 * 7919 + 13);
        (r.next_u64() >> 11) as f64 / (1u64 << 52) as f64 - 1.0
    }

    fn gate_of(lane: &str) -> f64 {
        match lane {
            "guard_r0" => -1.0,
            "main_r0" => 6.0,
            _ => 1.0,
        }
    }

    /// var 20 % faster than the largest gate, 2 % noise.
    fn large(_: &str, v: &str, n: usize) -> Option<f64> {
        let e = if v == "var" { 1.26 } else { 1.0 };
        Some(1e6 * e * (1.0 + 0.02 * noise(n)))
    }

    /// var exactly at the lane's gate, 2 % noise.
    fn at_gate(l: &str, v: &str, n: usize) -> Option<f64> {
        let e = if v == "var" {
            1.0 + gate_of(l) / 100.0
        } else {
            1.0
        };
        Some(1e6 * e * (1.0 + 0.02 * noise(n)))
    }

    fn lab(budget_min: f64) -> Manifest {
        let mut m = manifest("ab", Some("replay"), &[(&["base", "var"], 21)]);
        m.settings.runs = 21;
        m.settings.sequential = Some(SeqPlan::new(budget_min, 21));
        m
    }

    fn go(dir: &Path, m: &mut Manifest, mock: &mut Mock, stop_after: Option<usize>) -> Ended {
        let never = || false;
        let mut r = Runner {
            dir,
            bench: Path::new("/nonexistent/hz-bench"),
            exec: mock,
            progress: &mut Quiet,
            stop: &never,
            stop_after,
        };
        if r.execute(m).unwrap() == Ended::Interrupted {
            return Ended::Interrupted;
        }
        run(dir, m, &mut r).unwrap()
    }

    fn plan(m: &Manifest) -> &SeqPlan {
        m.settings.sequential.as_ref().unwrap()
    }

    #[test]
    fn look_schedule() {
        let mut p = SeqPlan::new(10.0, 21);
        p.max_rounds = Some(37);
        p.step = Some(2);
        let looks: Vec<u32> = (0..20).map_while(|k| p.look_rounds(k)).collect();
        assert_eq!(looks, [21, 23, 25, 27, 29, 31, 33, 35, 37]);
        p.max_rounds = Some(21);
        assert_eq!(p.look_rounds(0), Some(21));
        assert_eq!(p.look_rounds(1), None);
        p.max_rounds = Some(24);
        p.step = Some(5);
        assert_eq!(p.look_rounds(1), Some(24));
        assert_eq!(p.look_rounds(2), None);
    }

    #[test]
    fn a_large_effect_stops_at_the_first_look() {
        let dir = tempfile::tempdir().unwrap();
        // Mock runs take 1-3 s: 21 rounds x 8 runs ~ 336 s; 10 min leaves
        // room for about 16 more rounds of all lanes.
        let mut m = lab(10.0);
        let mut mock = Mock::new(large);
        assert_eq!(go(dir.path(), &mut m, &mut mock, None), Ended::Complete);
        let p = plan(&m);
        assert!(p.max_rounds.unwrap() > 30, "{p:?}");
        assert_eq!(p.looks.len(), 1);
        assert_eq!(p.ended.as_deref(), Some("decided"));
        assert!(p.looks[0].bound > 1.96 && p.looks[0].level > 0.95);
        for l in &p.looks[0].lanes {
            assert_eq!(l.status, Status::Pass, "{l:?}");
            assert_eq!(l.rounds, 21);
        }
        // No run beyond the fixed rounds.
        assert_eq!(m.runs.len(), 21 * 8);
        let text = report_text(&m);
        assert!(
            text.contains("main_r50: decided at 21 rounds: pass"),
            "{text}"
        );
    }

    #[test]
    fn an_effect_at_the_gate_runs_on_to_the_planned_maximum() {
        let dir = tempfile::tempdir().unwrap();
        let mut m = lab(10.0);
        let mut mock = Mock::new(at_gate);
        assert_eq!(go(dir.path(), &mut m, &mut mock, None), Ended::Complete);
        let p = plan(&m);
        let max = p.max_rounds.unwrap();
        assert!(p.looks.len() > 2, "{p:?}");
        let last = p.looks.last().unwrap();
        assert!(
            p.ended.as_deref() == Some("max_rounds") || p.ended.as_deref() == Some("budget"),
            "{p:?}"
        );
        // Every lane still undecided, with an interval holding its gate.
        for l in &last.lanes {
            assert_eq!(l.status, Status::Undecided, "{l:?}");
            assert!(l.ci_low_pct.unwrap() < l.gate_pct && l.ci_high_pct.unwrap() >= l.gate_pct);
        }
        assert_eq!(last.lanes.len(), 4);
        assert!(last.rounds > 21 && last.rounds <= max);
        // Extra rounds ran for the undecided lanes only: base and var each.
        let extra = m.runs.iter().filter(|r| r.run > 21).count();
        assert_eq!(extra as u32, (last.rounds - 21) * 8);
        // Looks after the first use falling bounds.
        assert!(p.looks.windows(2).all(|w| w[1].bound < w[0].bound), "{p:?}");
        let text = report_text(&m);
        assert!(text.contains("undecided after"), "{text}");
        // The budget held (within one run).
        let spent: f64 = m.runs.iter().map(|r| r.wall_s).sum();
        assert!(spent <= 10.0 * 60.0 + 3.0, "{spent}");
    }

    #[test]
    fn a_small_budget_stops_at_the_budget() {
        let dir = tempfile::tempdir().unwrap();
        // About 336 s of fixed rounds; 6.2 min leaves ~36 s: two rounds.
        let mut m = lab(6.2);
        let mut mock = Mock::new(at_gate);
        assert_eq!(go(dir.path(), &mut m, &mut mock, None), Ended::Complete);
        let p = plan(&m);
        assert!(p.max_rounds.unwrap() <= 24, "{p:?}");
        let spent: f64 = m.runs.iter().map(|r| r.wall_s).sum();
        assert!(spent <= 6.2 * 60.0 + 3.0, "{spent}");
        assert!(matches!(
            p.ended.as_deref(),
            Some("budget") | Some("max_rounds")
        ));
        // No budget at all: only the fixed look, which then is the final one
        // (t = 1, the fixed-sample 1.96).
        let dir = tempfile::tempdir().unwrap();
        let mut m = lab(1.0);
        go(dir.path(), &mut m, &mut Mock::new(at_gate), None);
        let p = plan(&m);
        assert_eq!(p.max_rounds, Some(21));
        assert_eq!(p.looks.len(), 1);
        assert!((p.looks[0].bound - 1.959_964).abs() < 1e-5, "{p:?}");
        assert_eq!(m.runs.len(), 21 * 8);
    }

    #[test]
    fn interrupt_and_resume_in_the_sequential_phase() {
        let dir = tempfile::tempdir().unwrap();
        let mut m = lab(10.0);
        // Interrupt the fourth run of the first extra block.
        let mut mock = Mock::new(at_gate);
        mock.interrupt_at = Some(21 * 8 + 3);
        assert_eq!(go(dir.path(), &mut m, &mut mock, None), Ended::Interrupted);
        let mut saved = Manifest::load(dir.path()).unwrap();
        let before = plan(&saved).clone();
        assert_eq!(saved.state, LabState::Interrupted);
        assert_eq!(before.looks.len(), 1);
        assert_eq!(before.pending_look, before.look_rounds(1));
        // Resume: the same plan, the block finishes, the looks go on.
        let mut mock = Mock::new(at_gate);
        assert_eq!(go(dir.path(), &mut saved, &mut mock, None), Ended::Complete);
        let after = plan(&saved);
        assert_eq!(after.max_rounds, before.max_rounds);
        assert_eq!(after.looks[0], before.looks[0]);
        assert!(after.looks.len() > 1 && after.ended.is_some(), "{after:?}");
        assert_eq!(Some(after.looks[1].rounds), before.pending_look);
        // Each job ran once, and every planned job ran.
        let mut jobs: Vec<_> = saved.runs.iter().map(|r| r.job()).collect();
        let n = jobs.len();
        jobs.sort_by_key(|j| (j.lane.clone(), j.variant.clone(), j.run));
        jobs.dedup();
        assert_eq!(jobs.len(), n);
        assert!(saved.pending().is_empty());
    }
}
