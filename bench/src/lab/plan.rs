//! Pure planning: which lanes, with which bench arguments, in which order,
//! and how long a run may take.

use anyhow::{bail, Result};
use hz_analyze::{BenchArgs, Lane, LANES};
use serde::{Deserialize, Serialize};

/// Scaled runs never go below this many iterations per thread.
pub const MIN_ITERS: u64 = 1000;

/// One run to do: a lane, a variant and the 1-based run number of that pair.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Job {
    /// Lane name.
    pub lane: String,
    /// Variant name.
    pub variant: String,
    /// Run number of this (lane, variant), starting at 1.
    pub run: u32,
}

impl Job {
    /// `DIR`-relative log path: `<lane>/<variant>-runNN.log`.
    pub fn log_rel(&self) -> String {
        format!("{}/{}-run{:02}.log", self.lane, self.variant, self.run)
    }
}

/// The lanes named in `list` (comma separated, work-order names), or all
/// four in work-order order when `list` is `None`.
pub fn select_lanes(list: Option<&str>) -> Result<Vec<&'static Lane>> {
    let Some(list) = list else {
        return Ok(LANES.iter().collect());
    };
    let mut out: Vec<&'static Lane> = Vec::new();
    for name in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let Some(lane) = LANES.iter().find(|l| l.name == name) else {
            let known: Vec<&str> = LANES.iter().map(|l| l.name).collect();
            bail!(
                "--lanes: unknown lane `{name}` (known: {})",
                known.join(", ")
            );
        };
        if !out.iter().any(|l| l.name == lane.name) {
            out.push(lane);
        }
    }
    if out.is_empty() {
        bail!("--lanes: no lane given");
    }
    Ok(out)
}

/// The lane's bench arguments with ITERS multiplied by `scale` (at least
/// [`MIN_ITERS`]) and THREADS replaced by `threads` when given.
pub fn scaled_args(lane: &Lane, scale: f64, threads: Option<u64>) -> BenchArgs {
    let mut a = lane.args;
    let iters = (a.iters as f64 * scale).round();
    a.iters = if iters.is_finite() && iters >= MIN_ITERS as f64 {
        iters as u64
    } else {
        MIN_ITERS
    };
    if let Some(t) = threads {
        a.threads = t;
    }
    a
}

/// Interleaved order: in round `r` (0-based) the lanes come rotated left by
/// `r`, and for each lane the variants come rotated left by `r` — with two
/// variants, base/var in even rounds and var/base in odd ones. Run numbers
/// count rounds from `first_run`.
pub fn interleave(lanes: &[String], variants: &[String], rounds: u32, first_run: u32) -> Vec<Job> {
    let mut jobs = Vec::new();
    if lanes.is_empty() || variants.is_empty() {
        return jobs;
    }
    for r in 0..rounds as usize {
        for i in 0..lanes.len() {
            let lane = &lanes[(i + r) % lanes.len()];
            for k in 0..variants.len() {
                let variant = &variants[(k + r) % variants.len()];
                jobs.push(Job {
                    lane: lane.clone(),
                    variant: variant.clone(),
                    run: first_run + r as u32,
                });
            }
        }
    }
    jobs
}

/// Timeout rules (seconds).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TimeoutRule {
    /// Multiple of the median wall time of earlier runs of the lane (10).
    pub factor: f64,
    /// Floor (60 s).
    pub min_s: f64,
    /// Limit of a lane's first run, when there is nothing to take a median
    /// of (600 s).
    pub first_s: f64,
}

impl Default for TimeoutRule {
    fn default() -> Self {
        TimeoutRule {
            factor: 10.0,
            min_s: 60.0,
            first_s: 600.0,
        }
    }
}

impl TimeoutRule {
    /// Limit for the next run of a lane whose earlier completed runs took
    /// `earlier` seconds.
    pub fn limit(&self, earlier: &[f64]) -> f64 {
        match hz_analyze::ratios::median(earlier) {
            None => self.first_s.max(self.min_s),
            Some(m) => (m * self.factor).max(self.min_s),
        }
    }
}

/// Estimated seconds left: each pending job costs the median wall time of
/// its lane's finished runs, or the median over all finished runs when its
/// lane has none yet. `None` before any run finished.
pub fn eta_s(pending: &[Job], done: &[(String, f64)]) -> Option<f64> {
    let all: Vec<f64> = done.iter().map(|(_, w)| *w).collect();
    let overall = hz_analyze::ratios::median(&all)?;
    let mut total = 0.0;
    for job in pending {
        let lane: Vec<f64> = done
            .iter()
            .filter(|(l, _)| *l == job.lane)
            .map(|(_, w)| *w)
            .collect();
        total += hz_analyze::ratios::median(&lane).unwrap_or(overall);
    }
    Some(total)
}

/// `1h02m`, `3m05s`, `42s`.
pub fn human_s(s: f64) -> String {
    let s = s.max(0.0).round() as u64;
    if s >= 3600 {
        format!("{}h{:02}m", s / 3600, (s % 3600) / 60)
    } else if s >= 60 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{s}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn order(jobs: &[Job]) -> Vec<String> {
        jobs.iter()
            .map(|j| format!("{}:{}:{}", j.lane, j.variant, j.run))
            .collect()
    }

    #[test]
    fn rounds_rotate_lanes_and_alternate_the_first_variant() {
        let jobs = interleave(&names(&["a", "b", "c"]), &names(&["base", "var"]), 3, 1);
        assert_eq!(jobs.len(), 18);
        assert_eq!(
            order(&jobs),
            [
                "a:base:1", "a:var:1", "b:base:1", "b:var:1", "c:base:1", "c:var:1", //
                "b:var:2", "b:base:2", "c:var:2", "c:base:2", "a:var:2", "a:base:2", //
                "c:base:3", "c:var:3", "a:base:3", "a:var:3", "b:base:3", "b:var:3",
            ]
        );
    }

    #[test]
    fn every_pair_gets_every_run_once() {
        let lanes = names(&["guard_r0", "main_r0", "main_r50", "cross128_r90"]);
        let vars = names(&["hz4", "glibc", "jemalloc"]);
        let jobs = interleave(&lanes, &vars, 5, 1);
        let set: std::collections::HashSet<_> = jobs.iter().collect();
        assert_eq!(set.len(), jobs.len());
        assert_eq!(jobs.len(), 4 * 3 * 5);
        // Each allocator goes first in some round.
        let firsts: std::collections::HashSet<_> =
            (0..3).map(|r| jobs[r * 12].variant.clone()).collect();
        assert_eq!(firsts.len(), 3);
    }

    #[test]
    fn first_run_offsets_numbers() {
        let jobs = interleave(&names(&["a"]), &names(&["s"]), 2, 4);
        assert_eq!(order(&jobs), ["a:s:4", "a:s:5"]);
        assert!(interleave(&[], &names(&["s"]), 2, 1).is_empty());
    }

    #[test]
    fn scaling_keeps_a_floor() {
        let main = &LANES[2];
        let a = scaled_args(main, 0.5, None);
        assert_eq!(a.iters, 600_000);
        assert_eq!(a.threads, 16);
        let a = scaled_args(main, 0.0001, Some(4));
        assert_eq!(a.iters, MIN_ITERS);
        assert_eq!(a.threads, 4);
        assert!(a.same_shape(&main.args));
        assert_eq!(scaled_args(main, 1.0, None), main.args);
    }

    #[test]
    fn lane_selection() {
        let l = select_lanes(Some("main_r50, guard_r0,main_r50")).unwrap();
        assert_eq!(
            l.iter().map(|l| l.name).collect::<Vec<_>>(),
            ["main_r50", "guard_r0"]
        );
        assert_eq!(select_lanes(None).unwrap().len(), 4);
        let e = select_lanes(Some("main_r7")).unwrap_err().to_string();
        assert!(e.contains("main_r7") && e.contains("cross128_r90"), "{e}");
        assert!(select_lanes(Some(",")).is_err());
    }

    #[test]
    fn timeout_is_ten_medians_with_a_floor() {
        let t = TimeoutRule::default();
        assert_eq!(t.limit(&[]), 600.0);
        assert_eq!(t.limit(&[1.0, 2.0, 3.0]), 60.0);
        assert_eq!(t.limit(&[7.0, 9.0, 100.0]), 90.0);
        assert_eq!(t.limit(&[7.0, 8.0]), 75.0);
        let quick = TimeoutRule {
            factor: 2.0,
            min_s: 1.0,
            first_s: 5.0,
        };
        assert_eq!(quick.limit(&[3.0]), 6.0);
        assert_eq!(quick.limit(&[0.1]), 1.0);
        assert_eq!(quick.limit(&[]), 5.0);
    }

    #[test]
    fn eta_uses_lane_medians() {
        let job = |l: &str| Job {
            lane: l.into(),
            variant: "v".into(),
            run: 1,
        };
        assert_eq!(eta_s(&[job("a")], &[]), None);
        let done = vec![
            ("a".to_string(), 2.0),
            ("a".into(), 4.0),
            ("b".into(), 10.0),
        ];
        // a: median 3; c: overall median 4.
        assert_eq!(eta_s(&[job("a"), job("c")], &done), Some(7.0));
        assert_eq!(human_s(42.4), "42s");
        assert_eq!(human_s(185.0), "3m05s");
        assert_eq!(human_s(3720.0), "1h02m");
    }
}
