//! Running one bench process: the [`Executor`] trait, the real process
//! executor (own process group, time limit, kill on interrupt), the
//! Ctrl-C flag, and classification of a finished run.

use std::fs::OpenOptions;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use super::isolate::Isolation;
use super::manifest::RunStatus;

/// One process to run.
#[derive(Debug, Clone)]
pub struct Request {
    /// Lane (for executors that fake output).
    pub lane: String,
    /// Variant (same).
    pub variant: String,
    /// The bench binary.
    pub program: PathBuf,
    /// Its arguments.
    pub args: Vec<String>,
    /// Library to preload, none for the system allocator.
    pub preload: Option<PathBuf>,
    /// Extra environment.
    pub env: Vec<(String, String)>,
    /// Log the output is appended to (stdout and stderr).
    pub log: PathBuf,
    /// Time limit.
    pub timeout: Duration,
    /// Priority, policy and affinity of the process.
    pub isolation: Isolation,
}

/// How the process ended.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Outcome {
    /// Exit code, when it exited.
    pub exit_code: Option<i32>,
    /// Signal, when it was killed.
    pub signal: Option<i32>,
    /// Wall time in seconds.
    pub wall_s: f64,
    /// The lab killed it at the time limit.
    pub timed_out: bool,
    /// The lab killed it because it was asked to stop.
    pub interrupted: bool,
}

/// Runs bench processes. The real one spawns them; tests use a mock.
pub trait Executor {
    /// Runs `req`, polling `stop` while it runs.
    fn run(&mut self, req: &Request, stop: &dyn Fn() -> bool) -> Result<Outcome>;
}

/// Spawns the bench in its own process group (so a terminal Ctrl-C reaches
/// only the lab, which then kills the whole group).
pub struct ProcessExecutor;

fn kill_group(pid: u32) {
    // SAFETY: kill(2) with a negative pid signals that process group; the
    // group is the child's own (process_group(0) at spawn).
    unsafe {
        libc::kill(-(pid as libc::pid_t), libc::SIGKILL);
    }
}

impl Executor for ProcessExecutor {
    fn run(&mut self, req: &Request, stop: &dyn Fn() -> bool) -> Result<Outcome> {
        let log = OpenOptions::new()
            .append(true)
            .create(true)
            .open(&req.log)
            .with_context(|| format!("opening {}", req.log.display()))?;
        let err = log.try_clone().context("duplicating the log handle")?;
        let mut cmd = Command::new(&req.program);
        cmd.args(&req.args)
            .env_remove("LD_PRELOAD")
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(err))
            .process_group(0);
        if let Some(lib) = &req.preload {
            cmd.env("LD_PRELOAD", lib);
        }
        for (k, v) in &req.env {
            cmd.env(k, v);
        }
        if req.isolation.touches_process() {
            let iso = req.isolation.clone();
            // SAFETY: the hook runs in the forked child before exec and only
            // makes system calls (setpriority, sched_setaffinity,
            // sched_setscheduler) on data moved in before the fork.
            unsafe { cmd.pre_exec(move || iso.apply_to_self()) };
        }
        let start = Instant::now();
        let mut child = cmd.spawn().with_context(|| {
            format!(
                "starting {} ({} {})",
                req.program.display(),
                req.lane,
                req.variant
            )
        })?;
        let mut out = Outcome::default();
        let status = loop {
            if let Some(s) = child.try_wait().context("waiting for the bench")? {
                break s;
            }
            let elapsed = start.elapsed();
            if stop() {
                out.interrupted = true;
                kill_group(child.id());
                break child.wait().context("reaping the bench")?;
            }
            if elapsed >= req.timeout {
                out.timed_out = true;
                kill_group(child.id());
                break child.wait().context("reaping the bench")?;
            }
            // Short polls early (most quick runs end within milliseconds),
            // then 20 ms.
            let nap = if elapsed < Duration::from_millis(50) {
                2
            } else {
                20
            };
            std::thread::sleep(Duration::from_millis(nap));
        };
        out.wall_s = start.elapsed().as_secs_f64();
        out.exit_code = status.code();
        out.signal = status.signal();
        Ok(out)
    }
}

/// Set by SIGINT / SIGTERM.
static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_sig: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

/// Installs the SIGINT and SIGTERM handlers that set the stop flag.
pub fn install_stop_handler() {
    let handler: extern "C" fn(libc::c_int) = on_signal;
    // SAFETY: the handler only stores to an atomic, which is
    // async-signal-safe.
    unsafe {
        libc::signal(libc::SIGINT, handler as libc::sighandler_t);
        libc::signal(libc::SIGTERM, handler as libc::sighandler_t);
    }
}

/// True once a stop was asked for.
pub fn stop_requested() -> bool {
    STOP.load(Ordering::SeqCst)
}

/// What the bench printed, as far as the lab needs it.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Printed {
    /// `ops/s=` of the throughput line.
    pub ops_per_sec: Option<f64>,
    /// `[ALLOC_FAILURES] count=`.
    pub alloc_failures: Option<u64>,
    /// `[CORRUPTION]` seen.
    pub corruption: bool,
    /// `[RSS] max_rss_kb=`.
    pub max_rss_kb: Option<u64>,
    /// `[RUSAGE]` line.
    pub rusage: Option<Rusage>,
}

/// The bench's `[RUSAGE]` line: the kernel's account of the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Rusage {
    /// CPU time in user mode, µs.
    pub utime_us: u64,
    /// CPU time in kernel mode, µs.
    pub stime_us: u64,
    /// Page faults served without I/O.
    pub minflt: u64,
    /// Page faults that needed I/O.
    pub majflt: u64,
    /// Voluntary context switches (waits).
    pub nvcsw: u64,
    /// Involuntary context switches (preemptions).
    pub nivcsw: u64,
}

impl Rusage {
    /// Every field of the line, or None when one is missing or not a count.
    fn parse(rest: &str) -> Option<Rusage> {
        let n = |k| field(rest, k).and_then(|v| v.parse().ok());
        Some(Rusage {
            utime_us: n("utime_us")?,
            stime_us: n("stime_us")?,
            minflt: n("minflt")?,
            majflt: n("majflt")?,
            nvcsw: n("nvcsw")?,
            nivcsw: n("nivcsw")?,
        })
    }
}

fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    line.split_whitespace()
        .find_map(|t| t.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
}

/// Scans bench output for the throughput, failure, corruption and RSS lines.
pub fn scan_output(text: &str) -> Printed {
    let mut p = Printed::default();
    for line in text.lines() {
        let prefix = hz_analyze::parse::THROUGHPUT_PREFIX;
        if line.as_bytes().starts_with(prefix) {
            // The prefix is ASCII, so this slices at a char boundary.
            let rest = &line[prefix.len()..];
            p.ops_per_sec = field(rest, "ops/s").and_then(|v| v.parse().ok());
        } else if let Some(rest) = line.strip_prefix("[ALLOC_FAILURES]") {
            p.alloc_failures = field(rest, "count").and_then(|v| v.parse().ok());
        } else if line.starts_with("[CORRUPTION]") {
            p.corruption = true;
        } else if let Some(rest) = line.strip_prefix("[RSS]") {
            p.max_rss_kb = field(rest, "max_rss_kb").and_then(|v| v.parse().ok());
        } else if let Some(rest) = line.strip_prefix("[RUSAGE]") {
            p.rusage = Rusage::parse(rest);
        }
    }
    p
}

/// The outcome class of a finished (not interrupted) run.
pub fn classify(o: &Outcome, p: &Printed) -> RunStatus {
    if o.timed_out {
        RunStatus::Timeout
    } else if o.signal.is_some() {
        RunStatus::Crashed
    } else if p.corruption {
        RunStatus::Corruption
    } else if o.exit_code != Some(0) || p.ops_per_sec.is_none() {
        RunStatus::Failed
    } else if p.alloc_failures.unwrap_or(0) > 0 {
        RunStatus::AllocFailures
    } else {
        RunStatus::Ok
    }
}

/// The `[HZ_RUN_STATUS]` trailer appended to each log. The analyzer reads
/// it: any status but `ok` makes the run unstable (a corruption run, for
/// one, still has its throughput line). The note after `--` is for people.
pub fn status_line(status: RunStatus, o: &Outcome, timeout_s: f64) -> String {
    let mut s = format!("[HZ_RUN_STATUS] status={}", status.as_str());
    if let Some(c) = o.exit_code {
        s.push_str(&format!(" exit={c}"));
    }
    if let Some(sig) = o.signal {
        s.push_str(&format!(" signal={sig}"));
    }
    s.push_str(&format!(" wall_s={:.3} limit_s={:.0}", o.wall_s, timeout_s));
    let note = match status {
        RunStatus::Ok | RunStatus::AllocFailures => None,
        RunStatus::Crashed => Some(format!("killed by signal {}", o.signal.unwrap_or_default())),
        RunStatus::Timeout => Some(format!("killed by hz-lab after the {timeout_s:.0} s limit")),
        RunStatus::Corruption => Some("hz-bench reported [CORRUPTION]".to_owned()),
        RunStatus::Failed => Some(match o.exit_code {
            Some(0) | None => "no throughput line".to_owned(),
            Some(c) => format!("exit status {c}"),
        }),
    };
    if let Some(n) = note {
        s.push_str(&format!(" -- {n}"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    const OK: &str =
        "[BENCH_ARGS] threads=4 iters=1000 ws=400 min=16 max=2048 remote_pct=0 ring_slots=65536\n\
bench_random_mixed_mt_remote: threads=4 ops=4000 time=0.001 ops/s=4000000.50\n\
[ALLOC_FAILURES] count=0\n[RSS] max_rss_kb=2048\n";

    fn exited(code: i32) -> Outcome {
        Outcome {
            exit_code: Some(code),
            wall_s: 0.5,
            ..Outcome::default()
        }
    }

    #[test]
    fn scans_bench_lines() {
        let p = scan_output(OK);
        assert_eq!(p.ops_per_sec, Some(4000000.5));
        assert_eq!(p.alloc_failures, Some(0));
        assert_eq!(p.max_rss_kb, Some(2048));
        assert!(!p.corruption);
        assert_eq!(p.rusage, None);
        let with = format!(
            "{OK}[RUSAGE] utime_us=1500 stime_us=20 minflt=300 majflt=0 nvcsw=7 nivcsw=9\n"
        );
        let r = scan_output(&with).rusage.expect("[RUSAGE] line");
        assert_eq!((r.utime_us, r.stime_us, r.minflt), (1500, 20, 300));
        assert_eq!((r.majflt, r.nvcsw, r.nivcsw), (0, 7, 9));
        // One field missing or not a count: no rusage rather than a guess.
        let cut = format!("{OK}[RUSAGE] utime_us=1500 stime_us=20 minflt=300 majflt=0 nvcsw=7\n");
        assert_eq!(scan_output(&cut).rusage, None);
        let bad =
            format!("{OK}[RUSAGE] utime_us=-1 stime_us=20 minflt=300 majflt=0 nvcsw=7 nivcsw=9\n");
        assert_eq!(scan_output(&bad).rusage, None);
    }

    #[test]
    fn classification() {
        let ok = scan_output(OK);
        assert_eq!(classify(&exited(0), &ok), RunStatus::Ok);
        assert_eq!(classify(&exited(2), &ok), RunStatus::Failed);
        let none = scan_output("");
        assert_eq!(classify(&exited(0), &none), RunStatus::Failed);
        let killed = Outcome {
            signal: Some(6),
            ..Outcome::default()
        };
        assert_eq!(classify(&killed, &none), RunStatus::Crashed);
        let late = Outcome {
            signal: Some(9),
            timed_out: true,
            ..Outcome::default()
        };
        assert_eq!(classify(&late, &none), RunStatus::Timeout);
        let af = scan_output(&OK.replace("count=0", "count=3"));
        assert_eq!(classify(&exited(0), &af), RunStatus::AllocFailures);
        let bad = scan_output(&format!("{OK}[CORRUPTION] count=1\n"));
        assert_eq!(classify(&exited(3), &bad), RunStatus::Corruption);
    }

    #[test]
    fn trailers_are_seen_by_the_analyzer() {
        let killed = Outcome {
            signal: Some(6),
            wall_s: 0.01,
            ..Outcome::default()
        };
        let line = status_line(RunStatus::Crashed, &killed, 60.0);
        assert!(
            line.starts_with("[HZ_RUN_STATUS] status=crashed signal=6"),
            "{line}"
        );
        // A corruption run still has its throughput line: the trailer alone
        // must make the analyzer count it.
        let text = format!(
            "[HZ_LANE] name=guard_r0 variant=var run=1\n{OK}[CORRUPTION] count=1\n{}\n",
            status_line(RunStatus::Corruption, &exited(3), 60.0)
        );
        let runs = hz_analyze::parse_str("x.log", &text, &Default::default()).unwrap();
        assert_eq!(runs.len(), 1);
        assert!(!runs[0].instabilities().is_empty());
        // An ok trailer must not.
        let text = format!(
            "[HZ_LANE] name=guard_r0 variant=var run=1\n{OK}{}\n",
            status_line(RunStatus::Ok, &exited(0), 60.0)
        );
        let runs = hz_analyze::parse_str("x.log", &text, &Default::default()).unwrap();
        assert!(runs[0].instabilities().is_empty());
    }

    #[test]
    fn real_process_exit_and_timeout() {
        let dir = tempfile::tempdir().unwrap();
        let req = |args: &[&str], timeout_ms: u64| Request {
            isolation: Isolation::default(),
            lane: "l".into(),
            variant: "v".into(),
            program: "/bin/sh".into(),
            args: args.iter().map(|s| s.to_string()).collect(),
            preload: None,
            env: vec![("HZ_LAB_T".into(), "7".into())],
            log: dir.path().join("x.log"),
            timeout: Duration::from_millis(timeout_ms),
        };
        let o = ProcessExecutor
            .run(
                &req(&["-c", "echo out $HZ_LAB_T; echo err >&2; exit 4"], 10_000),
                &|| false,
            )
            .unwrap();
        assert_eq!(o.exit_code, Some(4));
        let text = std::fs::read_to_string(dir.path().join("x.log")).unwrap();
        assert!(text.contains("out 7") && text.contains("err"), "{text}");
        // The child's own child is killed with the group.
        let o = ProcessExecutor
            .run(&req(&["-c", "sleep 30 & wait"], 200), &|| false)
            .unwrap();
        assert!(
            o.timed_out && o.signal == Some(9) && o.wall_s < 5.0,
            "{o:?}"
        );
        let o = ProcessExecutor
            .run(&req(&["-c", "sleep 30"], 10_000), &|| true)
            .unwrap();
        assert!(o.interrupted && !o.timed_out, "{o:?}");
    }
}
