//! `hz-bench suite`: every workload of its table runs in quick mode under
//! the default allocator and under `LD_PRELOAD` of libhz4.so (when the
//! build left one next to the bench), and prints a sane `[SUITE]` line;
//! the self-check of every workload catches one flipped byte; bad
//! arguments are one-line errors. `hz-lab suite` runs end to end at a tiny
//! scale under glibc.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_hz-bench");

fn bench(preload: Option<&PathBuf>, args: &[&str]) -> Output {
    let mut c = Command::new(BIN);
    c.args(args).env_remove("LD_PRELOAD");
    if let Some(lib) = preload {
        c.env("LD_PRELOAD", lib);
    }
    c.output().expect("spawn hz-bench")
}

/// Workload names and their default thread counts, from `--list`.
fn workloads() -> Vec<(String, u32)> {
    let out = bench(None, &["suite", "--list"]);
    assert!(out.status.success(), "{out:?}");
    let v: Vec<(String, u32)> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            assert_eq!(w[1], "--threads", "{l}");
            (w[0].to_string(), w[2].parse().expect("thread count"))
        })
        .collect();
    assert!(v.len() >= 7, "{v:?}");
    v
}

/// libhz4.so of the same build as the bench (target/<profile>/), if built.
fn hz4_lib() -> Option<PathBuf> {
    let lib = PathBuf::from(BIN).parent()?.join("libhz4.so");
    lib.is_file().then_some(lib)
}

fn fields(line: &str) -> HashMap<String, String> {
    line.split(' ')
        .skip(1)
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn check_quick_run(name: &str, threads: u32, preload: Option<&PathBuf>) {
    let out = bench(preload, &["suite", name, "--quick"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{name} ({preload:?}): {out:?}");
    let line = text
        .lines()
        .find(|l| l.starts_with("[SUITE] "))
        .unwrap_or_else(|| panic!("{name}: no [SUITE] line in {text}"));
    let f = fields(line);
    assert_eq!(f["name"], name, "{line}");
    assert_eq!(f["threads"], threads.to_string(), "{line}");
    let ops: u64 = f["ops"].parse().unwrap();
    let secs: f64 = f["secs"].parse().unwrap();
    let rate: f64 = f["ops_per_s"].parse().unwrap();
    let peak: u64 = f["peak_rss_kb"].parse().unwrap();
    let mallocs: u64 = f["mallocs"].parse().unwrap();
    assert!(ops >= 100, "{name}: ops {ops}");
    assert!(secs > 0.0 && secs < 60.0, "{name}: secs {secs}");
    // ops_per_s is ops / secs (rounded to an integer).
    let want = ops as f64 / secs;
    assert!(
        (rate - want).abs() <= 1.0 + want * 1e-5,
        "{name}: ops_per_s {rate}, ops/secs {want}"
    );
    assert!(peak > 0, "{name}: peak RSS 0");
    assert!(mallocs > 0, "{name}: no mallocs");
    assert_eq!(f["scale"], "0.01", "{line}");
}

#[test]
fn every_workload_runs_quick_under_the_system_allocator() {
    for (name, threads) in workloads() {
        check_quick_run(&name, threads, None);
    }
}

#[test]
fn every_workload_runs_quick_under_hz4() {
    let Some(lib) = hz4_lib() else {
        eprintln!("skipped: no libhz4.so next to {BIN} (cargo build -p hz4)");
        return;
    };
    for (name, threads) in workloads() {
        check_quick_run(&name, threads, Some(&lib));
    }
}

#[test]
fn a_flipped_byte_fails_every_workload() {
    for (name, _) in workloads() {
        let out = bench(None, &["suite", &name, "--quick", "--corrupt"]);
        assert_eq!(out.status.code(), Some(3), "{name}: {out:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.lines().count(), 1, "{name}: {err}");
        assert!(
            err.starts_with(&format!("hz-bench suite: {name}: corruption: block ")),
            "{name}: {err}"
        );
        assert!(
            !String::from_utf8_lossy(&out.stdout).contains("[SUITE]"),
            "{name}: reported a result"
        );
    }
}

#[test]
fn threads_argument_overrides_the_default() {
    let out = bench(
        None,
        &["suite", "thread-loop-1", "--quick", "--threads", "3"],
    );
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains(" threads=3 "));
}

#[test]
fn bad_arguments_are_one_line_errors() {
    let out = bench(None, &["suite", "nosuch"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unknown workload 'nosuch'"), "{err}");
    for args in [
        ["suite", "st-small", "--scale", "-1"],
        ["suite", "st-small", "--threads", "0"],
        ["suite", "st-small", "--bogus", "1"],
    ] {
        let out = bench(None, &args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert_eq!(String::from_utf8_lossy(&out.stderr).lines().count(), 1);
    }
}

#[test]
fn lab_suite_writes_a_table() {
    let lab = PathBuf::from(BIN).with_file_name("hz-lab");
    if !lab.is_file() {
        eprintln!("skipped: no hz-lab next to {BIN}");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let md = dir.path().join("suite.md");
    let out = Command::new(&lab)
        .args([
            "suite", "--rounds", "1", "--scale", "0.01", "--libs", "glibc",
        ])
        .args(["--workloads", "st-small,prodcons", "--bench", BIN, "--out"])
        .arg(&md)
        .env_remove("LD_PRELOAD")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = std::fs::read_to_string(&md).unwrap();
    assert!(text.contains("load average (1/5/15 min)"), "{text}");
    assert!(
        text.contains("| workload | threads | glibc | best peer |"),
        "{text}"
    );
    assert!(text.contains("| st-small | 1 |"), "{text}");
    assert!(text.contains("| prodcons | 4 |"), "{text}");
    let out = Command::new(&lab)
        .args([
            "suite",
            "--libs",
            "glibc",
            "--workloads",
            "nosuch",
            "--bench",
            BIN,
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown workload 'nosuch'"));
}
