//! Shared test helpers: fixture paths, the binary, golden files, and a
//! builder for synthetic dump logs.
#![allow(dead_code)]

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use hz_analyze::lanes::lane_by_name;

/// The repository's `fixtures/` folder, which holds the reference logs in
/// `hz4c/`; fails the test, naming the folder, if that is missing.
pub fn fixtures() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures");
    let logs = dir.join("hz4c");
    assert!(
        logs.is_dir(),
        "reference fixtures missing: {} is not a directory",
        logs.display()
    );
    dir
}

/// The reference allocator's real logs.
pub fn hz4c() -> PathBuf {
    fixtures().join("hz4c")
}

/// One fixture file by lane; fails the test, naming the path, if it is
/// missing.
pub fn fixture(lane: &str) -> String {
    let p = hz4c().join(format!("{lane}_run1_hz4c.log"));
    assert!(p.is_file(), "reference fixture missing: {}", p.display());
    p.display().to_string()
}

/// The binary under test.
pub fn bin() -> assert_cmd::Command {
    assert_cmd::Command::new(env!("CARGO_BIN_EXE_hz-analyze"))
}

/// Compares `actual` with `tests/golden/NAME`; with `UPDATE_GOLDEN=1`
/// rewrites the file instead.
pub fn golden(name: &str, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some_and(|v| v == "1") {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}; run with UPDATE_GOLDEN=1", path.display()));
    if expected != actual {
        let line = expected
            .lines()
            .zip(actual.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(expected.lines().count().min(actual.lines().count()));
        panic!(
            "{} differs from the output at line {}:\n--- expected\n{}\n--- actual\n{}\n(rerun with UPDATE_GOLDEN=1 if the change is intended)",
            path.display(),
            line + 1,
            expected.lines().nth(line).unwrap_or("<end>"),
            actual.lines().nth(line).unwrap_or("<end>")
        );
    }
}

/// A synthetic run. Counters not set are written as 0.
#[derive(Clone, Debug)]
pub struct Spec {
    pub lane: &'static str,
    pub hit: u64,
    pub stale: u64,
    pub gated: u64,
    pub extra: Vec<(&'static str, u64)>,
    pub ops: Option<f64>,
    pub marker: Option<(&'static str, u64)>,
    pub alloc_failures: u64,
    pub lock_line: bool,
    pub b58_line: bool,
}

impl Spec {
    pub fn new(lane: &'static str) -> Self {
        Spec {
            lane,
            hit: 1000,
            stale: 0,
            gated: 0,
            extra: Vec::new(),
            ops: Some(1_000_000.0),
            marker: None,
            alloc_failures: 0,
            lock_line: true,
            b58_line: true,
        }
    }

    pub fn ratio(mut self, hit: u64, stale: u64, gated: u64) -> Self {
        self.hit = hit;
        self.stale = stale;
        self.gated = gated;
        self
    }

    pub fn ops(mut self, ops: f64) -> Self {
        self.ops = Some(ops);
        self
    }

    pub fn with(mut self, k: &'static str, v: u64) -> Self {
        self.extra.push((k, v));
        self
    }

    /// Adaptive counters: per-lane mechanism figures.
    pub fn adaptive(self, calls: u64, skip: u64, promote: u64, reset: u64) -> Self {
        self.with("malloc_calls", calls)
            .with("free_calls", calls)
            .with("malloc_owner_local_stack_adaptive_push_skip_cold", skip)
            .with("malloc_owner_local_stack_adaptive_push_skip_cooldown", skip)
            .with("free_owner_local_stack_adaptive_push_skip_cold", skip)
            .with("free_owner_local_stack_adaptive_push_skip_cooldown", skip)
            .with("malloc_owner_local_stack_adaptive_hot_promote", promote)
            .with("malloc_owner_local_stack_adaptive_hot_reset", reset)
    }

    pub fn text(&self) -> String {
        let mut s = String::new();
        if let Some((variant, run)) = self.marker {
            writeln!(
                s,
                "[HZ_LANE] name={} variant={variant} run={run}",
                self.lane
            )
            .unwrap();
            writeln!(s, "[HZ4_BUILD] HZ4_MID_STATS_B1=1 note").unwrap();
        }
        let a = lane_by_name(self.lane).unwrap().args;
        writeln!(
            s,
            "[BENCH_ARGS] threads={} iters={} ws={} min={} max={} remote_pct={} ring_slots={}",
            a.threads, a.iters, a.ws, a.min, a.max, a.remote_pct, a.ring_slots
        )
        .unwrap();
        write!(
            s,
            "[HZ4_MID_STATS_B1] malloc_owner_local_stack_hit={} malloc_owner_local_stack_stale_remote={} malloc_owner_local_stack_stale_unowned=0 free_owner_local_stack_hit=7 free_owner_local_stack_overflow=3 malloc_lock_path=11 free_owner_remote=5",
            self.hit, self.stale
        )
        .unwrap();
        for (k, v) in &self.extra {
            write!(s, " {k}={v}").unwrap();
        }
        s.push('\n');
        if self.b58_line {
            writeln!(
                s,
                "[HZ4_MID_STATS_B1] malloc_owner_local_stack_pop_gated_remote={} free_owner_local_stack_push_gated_remote=2",
                self.gated
            )
            .unwrap();
        }
        if self.lock_line {
            writeln!(
                s,
                "[HZ4_MID_LOCK_STATS] lock_enter=11 inlock_remote_drain_calls=1 inlock_remote_drain_objs=1"
            )
            .unwrap();
        }
        if let Some(ops) = self.ops {
            s.push_str(&tput_line(ops));
        }
        writeln!(s, "[ALLOC_FAILURES] count={}", self.alloc_failures).unwrap();
        if self.marker.is_some() {
            writeln!(s, "[HZ_RUN_STATUS] status=ok exit=0").unwrap();
        }
        s
    }
}

/// A throughput line whose `ops` agrees exactly with `ops/s x time`
/// (time 100 s, so ops is the printed rate without its point).
pub fn tput_line(ops: f64) -> String {
    let r = format!("{ops:.2}");
    let count: u64 = r.replace('.', "").parse().unwrap();
    format!("bench_random_mixed_mt_remote: threads=16 ops={count} time=100.000000 ops/s={r}\n")
}

/// Throughput-only run of a lane (no stats lines), as a non-stats build
/// prints, with the lab's marker and closing line.
pub fn tput(lane: &'static str, ops: f64, variant: &'static str, run: u64) -> String {
    let a = lane_by_name(lane).unwrap().args;
    format!(
        "[HZ_LANE] name={lane} variant={variant} run={run}\n[BENCH_ARGS] threads={} iters={} ws={} min={} max={} remote_pct={} ring_slots={}\n{}[ALLOC_FAILURES] count=0\n[HZ_RUN_STATUS] status=ok exit=0\n",
        a.threads, a.iters, a.ws, a.min, a.max, a.remote_pct, a.ring_slots, tput_line(ops)
    )
}

/// Writes `text` to `dir/name` and returns the path as a string.
pub fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}
