//! The run loop: every pending job of the manifest in planned order, one
//! process at a time, each log kept, the manifest rewritten after each run.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};

use super::exec::{classify, scan_output, status_line, Executor, Request};
use super::manifest::{LabState, Manifest, RunRecord, RunStatus};
use super::plan::{eta_s, Job};
use super::progress::Progress;
use super::sys::now_iso;

/// How the loop ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// Every planned run has a record.
    Complete,
    /// Stopped early; the manifest says `interrupted`.
    Interrupted,
}

/// Where and how to run.
pub struct Runner<'a> {
    /// The lab directory.
    pub dir: &'a Path,
    /// The bench binary.
    pub bench: &'a Path,
    /// Process executor.
    pub exec: &'a mut dyn Executor,
    /// Progress display.
    pub progress: &'a mut dyn Progress,
    /// True when asked to stop (Ctrl-C).
    pub stop: &'a dyn Fn() -> bool,
    /// Simulated interrupt after this many runs of this invocation.
    pub stop_after: Option<usize>,
}

fn header(m: &Manifest, job: &Job, argv: &[String], preload: Option<&str>) -> String {
    let mut h = format!(
        "[HZ_LANE] name={} variant={} run={:02}\n",
        job.lane, job.variant, job.run
    );
    let v = m.variant(&job.variant);
    match v.and_then(|v| v.build_line.as_deref()) {
        Some(line) => h.push_str(&format!("{line}\n")),
        None => h.push_str(&format!(
            "[HZ_ALLOC] name={} lib={}\n",
            job.variant,
            preload.unwrap_or("none")
        )),
    }
    let env: Vec<String> = m
        .settings
        .bench_env
        .iter()
        .chain(v.map(|v| v.env.iter()).into_iter().flatten())
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    h.push_str(&format!(
        "[HZ_LAB] preload={} env={} bench_argv={}\n",
        preload.unwrap_or("none"),
        if env.is_empty() {
            "-".into()
        } else {
            env.join(",")
        },
        argv.join(",")
    ));
    h
}

impl Runner<'_> {
    /// Runs what the manifest still lacks.
    pub fn execute(&mut self, m: &mut Manifest) -> Result<Ended> {
        let pending = m.pending();
        let total = m.planned.len();
        let mut ran = 0usize;
        m.state = LabState::Running;
        m.save(self.dir)?;
        if !self.warm_up(m, &pending)? {
            return self.interrupted(m, 0);
        }
        for (i, job) in pending.iter().enumerate() {
            if (self.stop)() || self.stop_after.is_some_and(|n| ran >= n) {
                return self.interrupted(m, ran);
            }
            let index = m.runs.len() + 1;
            let eta = eta_s(&pending[i..], &finished_walls(&m.runs));
            self.progress.begin(job, index, total, eta);
            match self.run_one(m, job)? {
                Some(rec) => {
                    m.runs.push(rec.clone());
                    m.save(self.dir)?;
                    let eta = eta_s(&pending[i + 1..], &finished_walls(&m.runs));
                    self.progress.end(&rec, index, total, eta);
                    ran += 1;
                }
                None => return self.interrupted(m, ran),
            }
        }
        self.progress.finish();
        Ok(Ended::Complete)
    }

    fn interrupted(&mut self, m: &mut Manifest, ran: usize) -> Result<Ended> {
        self.progress.finish();
        m.state = LabState::Interrupted;
        m.notes.push(format!(
            "{}: interrupted after {ran} run(s) of this invocation; {} of {} planned runs done (hz-lab resume DIR continues)",
            now_iso(),
            m.runs.len(),
            m.planned.len()
        ));
        m.save(self.dir)?;
        Ok(Ended::Interrupted)
    }

    /// `--warmup N`: N discarded runs of each (lane, variant) that has
    /// pending jobs, in plan order, before the first recorded run. Their
    /// logs go to `warmup/`, which the analyzer skips when it walks a
    /// directory. False when interrupted.
    fn warm_up(&mut self, m: &Manifest, pending: &[Job]) -> Result<bool> {
        let n = m.settings.isolation.warmup;
        let mut seen: Vec<(&str, &str)> = Vec::new();
        for job in pending {
            let key = (job.lane.as_str(), job.variant.as_str());
            if seen.contains(&key) {
                continue;
            }
            seen.push(key);
            for k in 1..=n {
                if (self.stop)() {
                    return Ok(false);
                }
                let rel = format!("warmup/{}-{}-{k}.log", job.lane, job.variant);
                let (req, _) = self.request(m, job, &rel)?;
                let outcome = self.exec.run(&req, self.stop)?;
                if outcome.interrupted {
                    return Ok(false);
                }
            }
        }
        Ok(true)
    }

    /// The process request of `job`, its log (`rel` under the lab
    /// directory) started with the run header, and the run's time limit.
    fn request(&self, m: &Manifest, job: &Job, rel: &str) -> Result<(Request, f64)> {
        let variant = m
            .variant(&job.variant)
            .with_context(|| format!("manifest: no variant `{}`", job.variant))?;
        let args = m
            .lane_args(&job.lane)
            .with_context(|| format!("manifest: no lane `{}`", job.lane))?;
        let argv: Vec<String> = args.to_argv().iter().map(u64::to_string).collect();
        let log = self.dir.join(rel);
        if let Some(parent) = log.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(&log, header(m, job, &argv, variant.lib.as_deref()))
            .with_context(|| format!("writing {}", log.display()))?;
        let earlier: Vec<f64> = m
            .runs
            .iter()
            .filter(|r| r.lane == job.lane && r.status == RunStatus::Ok)
            .map(|r| r.wall_s)
            .collect();
        let limit = m.settings.timeout.limit(&earlier);
        let req = Request {
            lane: job.lane.clone(),
            variant: job.variant.clone(),
            program: self.bench.to_path_buf(),
            args: argv,
            preload: variant.lib.as_ref().map(Into::into),
            env: m
                .settings
                .bench_env
                .iter()
                .chain(&variant.env)
                .cloned()
                .collect(),
            log,
            timeout: Duration::from_secs_f64(limit),
            isolation: m.settings.isolation.clone(),
        };
        Ok((req, limit))
    }

    /// One run; `None` when it was interrupted (its log is renamed to
    /// `*.log.interrupted` so the analyzer never reads it).
    fn run_one(&mut self, m: &Manifest, job: &Job) -> Result<Option<RunRecord>> {
        let rel = job.log_rel();
        let (req, limit) = self.request(m, job, &rel)?;
        let log = req.log.clone();
        if m.settings.isolation.settle_ms > 0 {
            std::thread::sleep(Duration::from_millis(m.settings.isolation.settle_ms));
        }
        let started = now_iso();
        let outcome = self.exec.run(&req, self.stop)?;
        if outcome.interrupted {
            let aside = self.dir.join(format!("{rel}.interrupted"));
            let _ = std::fs::rename(&log, aside);
            return Ok(None);
        }
        let text = std::fs::read(&log).with_context(|| format!("reading {}", log.display()))?;
        let printed = scan_output(&String::from_utf8_lossy(&text));
        let status = classify(&outcome, &printed);
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&log)
            .with_context(|| format!("appending to {}", log.display()))?;
        if !text.ends_with(b"\n") {
            writeln!(f)?;
        }
        writeln!(f, "{}", status_line(status, &outcome, limit))?;
        Ok(Some(RunRecord {
            lane: job.lane.clone(),
            variant: job.variant.clone(),
            run: job.run,
            log: rel,
            status,
            exit_code: outcome.exit_code,
            signal: outcome.signal,
            wall_s: outcome.wall_s,
            timeout_s: limit,
            ops_per_sec: printed.ops_per_sec,
            max_rss_kb: printed.max_rss_kb,
            rusage: printed.rusage,
            started_utc: started,
        }))
    }
}

/// (lane, wall seconds) of every run that finished ok: what the ETA is
/// estimated from.
fn finished_walls(runs: &[RunRecord]) -> Vec<(String, f64)> {
    runs.iter()
        .filter(|r| r.status == RunStatus::Ok)
        .map(|r| (r.lane.clone(), r.wall_s))
        .collect()
}

#[cfg(test)]
pub mod tests {
    use super::*;
    use crate::lab::exec::Outcome;
    use crate::lab::manifest::{LaneEntry, Role, Settings, Variant, VariantKind, SCHEMA};
    use crate::lab::plan::{interleave, TimeoutRule};
    use crate::lab::progress::Quiet;
    use crate::lab::sys::{GitInfo, Machine};

    /// Fake bench: writes plausible output, never starts a process.
    pub struct Mock {
        /// Requests seen.
        pub seen: Vec<Request>,
        /// Manifest run counts observed on disk at each call.
        pub on_disk: Vec<usize>,
        /// (lane, variant) → ops/s; variants not listed crash.
        pub ops: fn(&str, &str, usize) -> Option<f64>,
        /// Return `interrupted` at this call (0-based).
        pub interrupt_at: Option<usize>,
    }

    impl Mock {
        pub fn new(ops: fn(&str, &str, usize) -> Option<f64>) -> Self {
            Mock {
                seen: Vec::new(),
                on_disk: Vec::new(),
                ops,
                interrupt_at: None,
            }
        }
    }

    impl Executor for Mock {
        fn run(&mut self, req: &Request, _stop: &dyn Fn() -> bool) -> Result<Outcome> {
            let n = self.seen.len();
            self.seen.push(req.clone());
            let dir = req.log.ancestors().nth(2).unwrap();
            self.on_disk
                .push(Manifest::load(dir).map(|m| m.runs.len()).unwrap_or(999));
            if self.interrupt_at == Some(n) {
                return Ok(Outcome {
                    signal: Some(9),
                    interrupted: true,
                    wall_s: 0.1,
                    ..Outcome::default()
                });
            }
            let mut f = std::fs::OpenOptions::new().append(true).open(&req.log)?;
            let a = &req.args;
            writeln!(
                f,
                "[BENCH_ARGS] threads={} iters={} ws={} min={} max={} remote_pct={} ring_slots={}",
                a[0], a[1], a[2], a[3], a[4], a[5], a[6]
            )?;
            match (self.ops)(&req.lane, &req.variant, n) {
                Some(ops) => {
                    // ops agrees with ops/s x time (100 s): the rate without its point.
                    let r = format!("{ops:.2}");
                    writeln!(
                        f,
                        "bench_random_mixed_mt_remote: threads={} ops={} time=100.000000 ops/s={r}",
                        a[0],
                        r.replace('.', "")
                    )?;
                    writeln!(f, "[ALLOC_FAILURES] count=0\n[RSS] max_rss_kb={}", 1000 + n)?;
                    Ok(Outcome {
                        exit_code: Some(0),
                        wall_s: 1.0 + (n % 3) as f64,
                        ..Outcome::default()
                    })
                }
                None => {
                    writeln!(f, "hz-bench: HZ_BENCH_ABORT_AFTER_MS=0 reached, aborting")?;
                    Ok(Outcome {
                        signal: Some(6),
                        wall_s: 0.01,
                        ..Outcome::default()
                    })
                }
            }
        }
    }

    fn hz4(name: &str, role: Role) -> Variant {
        Variant {
            name: name.into(),
            kind: VariantKind::Hz4,
            role,
            defs: Some(String::new()),
            lib: Some("/nonexistent/libhz4.so".into()),
            build_dir: None,
            build_log: None,
            build_line: Some(format!("[HZ4_BUILD] LAB_TEST_{name}=1")),
            env: Vec::new(),
            repo: None,
        }
    }

    /// A manifest for `command` with all four lanes and the given phases.
    pub fn manifest(command: &str, mode: Option<&str>, phases: &[(&[&str], u32)]) -> Manifest {
        let lanes: Vec<String> = hz_analyze::LANES
            .iter()
            .map(|l| l.name.to_owned())
            .collect();
        let mut planned = Vec::new();
        let mut variants = Vec::new();
        for (vars, rounds) in phases {
            let vs: Vec<String> = vars.iter().map(|s| s.to_string()).collect();
            planned.extend(interleave(&lanes, &vs, *rounds, 1));
            for v in *vars {
                let role = if v.contains("stats") {
                    Role::Stats
                } else {
                    Role::Timing
                };
                variants.push(hz4(v, role));
            }
        }
        Manifest {
            schema: SCHEMA,
            tool: "hz-lab".into(),
            command: command.into(),
            argv: vec![],
            state: LabState::Running,
            created_utc: String::new(),
            updated_utc: String::new(),
            repo: "/nonexistent".into(),
            git: GitInfo::default(),
            machine: Machine::default(),
            settings: Settings {
                scale: 0.001,
                threads: Some(2),
                runs: phases[0].1,
                stats_runs: 0,
                mode: mode.map(Into::into),
                timeout: TimeoutRule {
                    factor: 10.0,
                    min_s: 5.0,
                    first_s: 30.0,
                },
                allow_stats_timing: false,
                bench_env: vec![("HZ_ALL".into(), "1".into())],
                build_root: String::new(),
                archive: None,
                sequential: None,
                isolation: Default::default(),
            },
            lanes: hz_analyze::LANES
                .iter()
                .map(|l| LaneEntry {
                    name: l.name.into(),
                    args: crate::lab::plan::scaled_args(l, 0.001, Some(2)),
                })
                .collect(),
            variants,
            bench: None,
            planned,
            runs: Vec::new(),
            notes: Vec::new(),
            result: None,
        }
    }

    pub fn run(dir: &Path, m: &mut Manifest, mock: &mut Mock, stop_after: Option<usize>) -> Ended {
        let never = || false;
        let mut r = Runner {
            dir,
            bench: Path::new("/nonexistent/hz-bench"),
            exec: mock,
            progress: &mut Quiet,
            stop: &never,
            stop_after,
        };
        r.execute(m).unwrap()
    }

    fn same(_: &str, _: &str, n: usize) -> Option<f64> {
        Some(1e6 * (1.0 + 0.01 * (n % 5) as f64))
    }

    #[test]
    fn runs_in_plan_order_and_rewrites_the_manifest_each_time() {
        let dir = tempfile::tempdir().unwrap();
        let mut m = manifest("ab", Some("screen"), &[(&["base", "var"], 3)]);
        let mut mock = Mock::new(same);
        assert_eq!(run(dir.path(), &mut m, &mut mock, None), Ended::Complete);
        assert_eq!(m.runs.len(), 24);
        let done: Vec<Job> = m.runs.iter().map(RunRecord::job).collect();
        assert_eq!(done, m.planned);
        // Before call k the file on disk held k runs.
        assert_eq!(mock.on_disk, (0..24).collect::<Vec<_>>());
        let on_disk = Manifest::load(dir.path()).unwrap();
        assert_eq!(on_disk.runs.len(), 24);
        // Layout and log contents.
        let log = std::fs::read_to_string(dir.path().join("main_r50/var-run02.log")).unwrap();
        let lines: Vec<&str> = log.lines().collect();
        assert_eq!(lines[0], "[HZ_LANE] name=main_r50 variant=var run=02");
        assert_eq!(lines[1], "[HZ4_BUILD] LAB_TEST_var=1");
        assert!(lines[2].starts_with("[HZ_LAB] preload=/nonexistent/libhz4.so env=HZ_ALL=1"));
        assert!(lines
            .last()
            .unwrap()
            .starts_with("[HZ_RUN_STATUS] status=ok exit=0"));
        // Environment and arguments reach the executor.
        let req = &mock.seen[0];
        assert_eq!(req.args, ["2", "1200", "400", "16", "2048", "0", "65536"]);
        assert_eq!(req.env, [("HZ_ALL".to_string(), "1".to_string())]);
    }

    #[test]
    fn warm_up_runs_come_first_and_are_not_recorded() {
        let dir = tempfile::tempdir().unwrap();
        let mut m = manifest("ab", Some("screen"), &[(&["base", "var"], 2)]);
        m.settings.isolation.warmup = 2;
        m.settings.isolation.nice = Some(5);
        let mut mock = Mock::new(same);
        assert_eq!(run(dir.path(), &mut m, &mut mock, None), Ended::Complete);
        // 4 lanes x 2 variants x 2 warm-up runs, then the 16 planned runs.
        assert_eq!(mock.seen.len(), 16 + 16);
        assert_eq!(m.runs.len(), 16);
        for (i, req) in mock.seen[..16].iter().enumerate() {
            let rel = req.log.strip_prefix(dir.path()).unwrap();
            assert!(rel.starts_with("warmup"), "call {i}: {}", rel.display());
            // Before any planned run, nothing is recorded.
            assert_eq!(mock.on_disk[i], 0);
        }
        // Each (lane, variant) pair is warmed twice.
        let first = &mock.seen[0];
        assert_eq!(
            mock.seen[..16]
                .iter()
                .filter(|r| r.lane == first.lane && r.variant == first.variant)
                .count(),
            2
        );
        assert!(m.runs.iter().all(|r| !r.log.starts_with("warmup")));
        // The process settings reach every request.
        assert!(mock.seen.iter().all(|r| r.isolation.nice == Some(5)));
    }

    #[test]
    fn timeouts_follow_the_lane_median() {
        let dir = tempfile::tempdir().unwrap();
        let mut m = manifest("stage-a", None, &[(&["stats"], 3)]);
        let mut mock = Mock::new(same);
        run(dir.path(), &mut m, &mut mock, None);
        let limits: Vec<(String, f64)> = mock
            .seen
            .iter()
            .map(|r| (r.lane.clone(), r.timeout.as_secs_f64()))
            .collect();
        // Round 1: no earlier run of any lane → first_s.
        assert!(limits[..4].iter().all(|(_, t)| *t == 30.0));
        // Later: 10 × median of the lane's earlier wall times (1..3 s).
        for (i, rec) in m.runs.iter().enumerate().skip(4) {
            let earlier: Vec<f64> = m.runs[..i]
                .iter()
                .filter(|r| r.lane == rec.lane)
                .map(|r| r.wall_s)
                .collect();
            let want = (hz_analyze::ratios::median(&earlier).unwrap() * 10.0).max(5.0);
            assert_eq!(limits[i].1, want, "run {i}");
            assert_eq!(rec.timeout_s, want);
        }
    }

    #[test]
    fn interrupt_then_resume_runs_each_job_once() {
        let dir = tempfile::tempdir().unwrap();
        let mut m = manifest(
            "ab",
            Some("screen"),
            &[(&["base", "var"], 2), (&["var_stats"], 1)],
        );
        let mut mock = Mock::new(same);
        assert_eq!(
            run(dir.path(), &mut m, &mut mock, Some(5)),
            Ended::Interrupted
        );
        let saved = Manifest::load(dir.path()).unwrap();
        assert_eq!(saved.state, LabState::Interrupted);
        assert_eq!(saved.runs.len(), 5);
        assert!(saved.notes[0].contains("interrupted after 5 run(s)"));
        // A stop during a run: that run is dropped and its log set aside.
        let mut m = saved;
        let mut mock = Mock::new(same);
        mock.interrupt_at = Some(1);
        assert_eq!(run(dir.path(), &mut m, &mut mock, None), Ended::Interrupted);
        assert_eq!(m.runs.len(), 6);
        let cut = &m.planned[6];
        assert!(!dir.path().join(cut.log_rel()).exists());
        assert!(dir
            .path()
            .join(format!("{}.interrupted", cut.log_rel()))
            .exists());
        // Resume from disk.
        let mut m = Manifest::load(dir.path()).unwrap();
        let mut mock = Mock::new(same);
        assert_eq!(run(dir.path(), &mut m, &mut mock, None), Ended::Complete);
        assert_eq!(mock.seen.len(), 20 - 6);
        assert_eq!(
            m.runs.iter().map(RunRecord::job).collect::<Vec<_>>(),
            m.planned
        );
        assert!(m.pending().is_empty());
    }

    #[test]
    fn crashes_are_recorded_and_the_loop_goes_on() {
        fn crash_var(_: &str, v: &str, _: usize) -> Option<f64> {
            (v != "var").then_some(2e6)
        }
        let dir = tempfile::tempdir().unwrap();
        let mut m = manifest("ab", Some("screen"), &[(&["base", "var"], 2)]);
        let mut mock = Mock::new(crash_var);
        assert_eq!(run(dir.path(), &mut m, &mut mock, None), Ended::Complete);
        assert_eq!(m.runs.len(), 16);
        for r in &m.runs {
            let want = if r.variant == "var" {
                RunStatus::Crashed
            } else {
                RunStatus::Ok
            };
            assert_eq!(r.status, want);
        }
        let log = std::fs::read_to_string(dir.path().join("guard_r0/var-run01.log")).unwrap();
        assert!(
            log.contains("[HZ_RUN_STATUS] status=crashed signal=6"),
            "{log}"
        );
        // The analyzer's stability gate fails on them.
        let a = crate::lab::report::analyze(dir.path(), &m).unwrap();
        let j: serde_json::Value = serde_json::from_str(&a.json).unwrap();
        assert_eq!(j["gates"]["stability"]["status"], "fail");
        assert_eq!(j["gates"]["stability"]["var_unstable_runs"], 8);
        assert_eq!(a.code, crate::lab::report::EXIT_FAIL);
    }

    #[test]
    fn identical_sides_are_within_noise() {
        fn noisy(_: &str, _: &str, n: usize) -> Option<f64> {
            // Same distribution on both sides, ±5 %.
            Some(1e6 * (0.95 + 0.1 * ((n * 7) % 11) as f64 / 10.0))
        }
        let dir = tempfile::tempdir().unwrap();
        let mut m = manifest("ab", Some("screen"), &[(&["base", "var"], 7)]);
        run(dir.path(), &mut m, &mut Mock::new(noisy), None);
        let a = crate::lab::report::analyze(dir.path(), &m).unwrap();
        let j: serde_json::Value = serde_json::from_str(&a.json).unwrap();
        for lane in ["guard_r0", "main_r0", "main_r50", "cross128_r90"] {
            assert_eq!(j["gates"]["lanes"][lane]["within_noise"], true, "{lane}");
        }
        assert!(a.svg.contains("A/B (screen)") && a.svg.contains(">main_r50<"));
        assert!(a.text.contains("hz-lab ab"));
    }

    #[test]
    fn peers_table_and_chart() {
        fn by_alloc(_: &str, v: &str, _: usize) -> Option<f64> {
            Some(if v == "hz4" { 4e6 } else { 2e6 })
        }
        let dir = tempfile::tempdir().unwrap();
        let mut m = manifest("peers", None, &[(&["hz4", "glibc"], 3)]);
        m.variants[1].kind = VariantKind::System;
        m.variants[1].lib = None;
        m.variants[1].build_line = None;
        run(dir.path(), &mut m, &mut Mock::new(by_alloc), None);
        let log = std::fs::read_to_string(dir.path().join("main_r0/glibc-run01.log")).unwrap();
        assert!(log.contains("[HZ_ALLOC] name=glibc lib=none"), "{log}");
        let a = crate::lab::report::analyze(dir.path(), &m).unwrap();
        assert_eq!(a.code, 0);
        let j: serde_json::Value = serde_json::from_str(&a.json).unwrap();
        assert_eq!(j["peers"]["hz4_ratios"]["main_r0"]["glibc"], 2.0);
        assert_eq!(
            j["peers"]["lanes"]["main_r0"]["hz4"]["median_ops_per_sec"],
            4e6
        );
        assert!(a.text.contains("| main_r0 | 2.00 |"), "{}", a.text);
        assert!(a.svg.contains(">4.0<") && a.svg.contains(">glibc<"));
    }
}
