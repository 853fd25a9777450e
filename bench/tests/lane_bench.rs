//! Integration tests for the `hz-bench` lane bench binary (small sizes only).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_hz-bench");

fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env_remove("HZ_BENCH_ABORT_AFTER_MS")
        .env_remove("LD_PRELOAD")
        .output()
        .expect("spawn hz-bench")
}

/// One parsed run: the `key=value` fields of every tagged line.
struct Report {
    lines: Vec<String>,
    fields: HashMap<String, HashMap<String, String>>,
}

impl Report {
    fn parse(stdout: &[u8]) -> Report {
        let text = String::from_utf8(stdout.to_vec()).expect("utf-8 output");
        let lines: Vec<String> = text.lines().map(str::to_string).collect();
        let mut fields = HashMap::new();
        for line in &lines {
            let mut words = line.split_whitespace();
            let head = words.next().unwrap_or("").trim_end_matches(':').to_string();
            let kv: HashMap<String, String> = words
                .map(|w| {
                    let (k, v) = w
                        .split_once('=')
                        .unwrap_or_else(|| panic!("not k=v: {w:?}"));
                    (k.to_string(), v.to_string())
                })
                .collect();
            fields.insert(head, kv);
        }
        Report { lines, fields }
    }

    fn get(&self, line: &str, key: &str) -> &str {
        self.fields
            .get(line)
            .unwrap_or_else(|| panic!("missing line {line}: {:?}", self.lines))
            .get(key)
            .unwrap_or_else(|| panic!("missing {key} in {line}"))
    }

    fn int(&self, line: &str, key: &str) -> u64 {
        self.get(line, key).parse().expect("integer field")
    }

    fn float(&self, line: &str, key: &str) -> f64 {
        self.get(line, key).parse().expect("decimal field")
    }
}

fn decimals(s: &str) -> usize {
    s.split_once('.').map_or(0, |(_, f)| f.len())
}

#[test]
fn output_has_the_reference_shape() {
    let out = run(&["4", "20000", "400", "16", "32768", "50", "65536"]);
    assert!(out.status.success(), "{out:?}");
    let r = Report::parse(&out.stdout);
    let heads: Vec<&str> = r
        .lines
        .iter()
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    assert_eq!(
        heads,
        [
            "[BENCH_ARGS]",
            "bench_random_mixed_mt_remote:",
            "[EFFECTIVE_REMOTE]",
            "[ALLOC_FAILURES]",
            "[RSS]",
            "[RUSAGE]"
        ]
    );
    assert_eq!(
        r.lines[0],
        "[BENCH_ARGS] threads=4 iters=20000 ws=400 min=16 max=32768 remote_pct=50 ring_slots=65536"
    );
    let bench = "bench_random_mixed_mt_remote";
    assert_eq!(r.int(bench, "threads"), 4);
    assert_eq!(decimals(r.get(bench, "time")), 6);
    assert_eq!(decimals(r.get(bench, "ops/s")), 2);
    let er = "[EFFECTIVE_REMOTE]";
    assert_eq!(r.int(er, "target"), 50);
    assert_eq!(decimals(r.get(er, "actual")), 2);
    assert_eq!(decimals(r.get(er, "fallback_rate")), 2);
    let actual = r.float(er, "actual");
    assert!((40.0..=60.0).contains(&actual), "actual={actual}");
    assert_eq!(r.int("[ALLOC_FAILURES]", "count"), 0);
    // The kernel's account: 4 threads did 80000 iterations, so some CPU
    // time and some page faults were counted.
    let ru = "[RUSAGE]";
    assert!(r.int(ru, "utime_us") + r.int(ru, "stime_us") > 0);
    assert!(r.int(ru, "minflt") > 0);
    for k in ["majflt", "nvcsw", "nivcsw"] {
        r.int(ru, k);
    }
    assert!(r.int("[RSS]", "max_rss_kb") > 0);

    // ops = threads*iters + frees done by receivers, which never exceed sends.
    let ops = r.int(bench, "ops");
    let sends = r.int(er, "sends");
    assert!(
        ops >= 80_000 && ops <= 80_000 + sends,
        "ops={ops} sends={sends}"
    );
}

#[test]
fn r0_ops_are_threads_times_iters_and_runs_are_reproducible() {
    let args = ["4", "20000", "400", "16", "2048", "0", "65536"];
    let a = Report::parse(&run(&args).stdout);
    let b = Report::parse(&run(&args).stdout);
    let bench = "bench_random_mixed_mt_remote";
    let er = "[EFFECTIVE_REMOTE]";
    assert_eq!(a.int(bench, "ops"), 80_000);
    assert_eq!(a.int(er, "sends"), 0);
    assert_eq!(a.int(er, "fallback_frees"), 0);
    assert_eq!(a.get(er, "actual"), "0.00");
    // Fixed seeds: the slot/size decisions repeat exactly.
    let frees = a.int(er, "local_frees");
    assert!(frees > 30_000 && frees < 40_000, "local_frees={frees}");
    assert_eq!(frees, b.int(er, "local_frees"));

    // The remote decision does not perturb the slot sequence: with the same
    // shape, sends + local frees at 50 % equals the local frees at 0 %.
    let c = Report::parse(&run(&["4", "20000", "400", "16", "2048", "50", "65536"]).stdout);
    assert_eq!(c.int(er, "sends") + c.int(er, "local_frees"), frees);
}

#[test]
fn all_remote_single_thread_ring_to_itself() {
    let out = run(&["1", "5000", "64", "16", "256", "100", "2"]);
    assert!(out.status.success(), "{out:?}");
    let r = Report::parse(&out.stdout);
    let er = "[EFFECTIVE_REMOTE]";
    assert_eq!(r.int(er, "local_frees"), 0);
    assert_eq!(r.get(er, "actual"), "100.00");
    // A single thread drains its own ring before every send: all frees land.
    assert_eq!(
        r.int("bench_random_mixed_mt_remote", "ops"),
        5000 + r.int(er, "sends")
    );
}

#[test]
fn bad_arguments_exit_2_with_usage_naming_the_argument() {
    let cases: &[(&[&str], &str)] = &[
        (&[], "count"),
        (&["4", "100", "400", "16", "2048", "0"], "count"),
        (&["4", "100", "400", "16", "2048", "0", "64", "9"], "count"),
        (&["x", "100", "400", "16", "2048", "0", "64"], "THREADS"),
        (&["0", "100", "400", "16", "2048", "0", "64"], "THREADS"),
        (&["4", "-5", "400", "16", "2048", "0", "64"], "ITERS"),
        (&["4", "100", "0", "16", "2048", "0", "64"], "WS"),
        (&["4", "100", "400", "8", "2048", "0", "64"], "MIN"),
        (&["4", "100", "400", "4096", "2048", "0", "64"], "MAX"),
        (
            &["4", "100", "400", "16", "2048", "101", "64"],
            "REMOTE_PCT",
        ),
        (&["4", "100", "400", "16", "2048", "0", "1"], "RING_SLOTS"),
        (&["4", "100", "400", "16", "2048", "0", "1.5"], "RING_SLOTS"),
    ];
    for (args, name) in cases {
        let out = run(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.starts_with("usage: hz-bench"), "{err}");
        assert!(err.contains(name), "{args:?}: {err}");
        assert!(err.contains("HZ_BENCH_ABORT_AFTER_MS"), "{err}");
    }
}

#[test]
fn help_documents_the_abort_variable() {
    let out = run(&["--help"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("HZ_BENCH_ABORT_AFTER_MS"));
}

#[test]
fn abort_after_ms_kills_the_run() {
    use std::os::unix::process::ExitStatusExt;
    let out = Command::new(BIN)
        .args(["2", "4000000000", "400", "16", "2048", "0", "64"])
        .env("HZ_BENCH_ABORT_AFTER_MS", "50")
        .env_remove("LD_PRELOAD")
        .output()
        .unwrap();
    assert_eq!(out.status.signal(), Some(libc::SIGABRT), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("[BENCH_ARGS]"));
}

/// Compiles a tiny preload library with the system C compiler; None (test
/// skipped) when no compiler is available.
fn build_shim(name: &str, source: &str) -> Option<(tempfile::TempDir, PathBuf)> {
    let dir = tempfile::tempdir().unwrap();
    let c = dir.path().join(format!("{name}.c"));
    let so = dir.path().join(format!("lib{name}.so"));
    std::fs::write(&c, source).unwrap();
    let status = Command::new("cc")
        .args(["-O1", "-shared", "-fPIC", "-o"])
        .arg(&so)
        .arg(&c)
        .status();
    match status {
        Ok(s) if s.success() => Some((dir, so)),
        _ => {
            eprintln!("skipping: no working C compiler");
            None
        }
    }
}

fn run_preloaded(so: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env("LD_PRELOAD", so)
        .env_remove("HZ_BENCH_ABORT_AFTER_MS")
        .output()
        .unwrap()
}

#[test]
fn build_info_symbol_is_printed_first() {
    let src =
        r#"const char *hz4_build_info(void) { return "[HZ4_BUILD] variant=test knobs=none"; }"#;
    let Some((_dir, so)) = build_shim("info", src) else {
        return;
    };
    let out = run_preloaded(&so, &["2", "1000", "50", "16", "64", "50", "64"]);
    assert!(out.status.success(), "{out:?}");
    let r = Report::parse(&out.stdout);
    assert_eq!(r.lines[0], "[HZ4_BUILD] variant=test knobs=none");
    assert!(r.lines[1].starts_with("[BENCH_ARGS]"));
}

#[test]
fn double_handout_is_reported_as_corruption() {
    // A broken "allocator": every 16th request of exactly 4000 bytes returns
    // the previous such block again while it is still live; free leaks, so
    // glibc itself never sees a double free.
    let src = r#"
        #include <stddef.h>
        extern void *__libc_malloc(size_t);
        extern void __libc_free(void *);
        static void *last;
        static unsigned long n;
        void *malloc(size_t size) {
            if (size == 4000) {
                if (last && (++n % 16) == 0) return last;
                last = __libc_malloc(size);
                return last;
            }
            return __libc_malloc(size);
        }
        void free(void *p) { (void)p; }
    "#;
    let Some((_dir, so)) = build_shim("dup", src) else {
        return;
    };
    let out = run_preloaded(&so, &["1", "20000", "100", "4000", "4000", "0", "64"]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    let r = Report::parse(&out.stdout);
    assert!(r.int("[CORRUPTION]", "count") > 0);
    assert!(r.lines.last().unwrap().starts_with("[CORRUPTION]"));
    assert!(r.lines.iter().any(|l| l.starts_with("[RSS]")));
}
