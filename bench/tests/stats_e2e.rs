//! End to end: hz-bench under LD_PRELOAD of a stats build of libhz4.so
//! prints each dump line exactly once with parseable values.

use std::path::PathBuf;
use std::process::Command;

const DEFS: &str = "-DHZ4_MID_OWNER_REMOTE_QUEUE_BOX=1 -DHZ4_MID_OWNER_LOCAL_STACK_BOX=1 \
    -DHZ4_MID_OWNER_LOCAL_STACK_SLOTS=8 -DHZ4_MID_OWNER_LOCAL_STACK_REMOTE_GATE=1 \
    -DHZ4_MID_OWNER_LOCAL_STACK_ADAPTIVE_BOX=1 -DHZ4_MID_STATS_B1=1 -DHZ4_MID_LOCK_TIME_STATS=1";

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Build the stats variant of libhz4.so in its own target dir (kept between runs).
fn build_stats_lib() -> PathBuf {
    let target = repo_root().join("target").join("e2e-stats");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["build", "--release", "-p", "hz4"])
        .env("HZ4_DEFS_EXTRA", DEFS)
        .env("CARGO_TARGET_DIR", &target)
        .current_dir(repo_root())
        .output()
        .expect("run cargo");
    assert!(
        out.status.success(),
        "stats build failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    target.join("release").join("libhz4.so")
}

#[test]
fn stats_build_dumps_each_line_once() {
    let lib = build_stats_lib();
    let out = Command::new(env!("CARGO_BIN_EXE_hz-bench"))
        .args(["4", "20000", "100", "16", "40000", "50", "4096"])
        .env("LD_PRELOAD", &lib)
        .output()
        .expect("run hz-bench");
    assert!(out.status.success(), "hz-bench failed: {:?}", out.status);
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = text.lines().collect();
    let with = |prefix: &str| lines.iter().filter(|l| l.starts_with(prefix)).count();
    // Main line, B58 line, B77 line and the supply line share the tag.
    let first_keys = [
        "[HZ4_MID_STATS_B1] malloc_calls=",
        "[HZ4_MID_STATS_B1] malloc_owner_local_stack_pop_gated_remote=",
        "[HZ4_MID_STATS_B1] malloc_owner_local_stack_adaptive_push_skip_cold=",
        "[HZ4_MID_STATS_B1] supply_resv_hit=",
        "[HZ4_MID_LOCK_STATS] lock_enter=",
    ];
    for k in first_keys {
        assert_eq!(
            with(k),
            1,
            "expected exactly one line starting with {k:?} in:\n{text}"
        );
    }
    assert_eq!(with("[HZ4_MID_STATS_B1]"), 4);
    for l in lines.iter().filter(|l| l.starts_with("[HZ4_MID_")) {
        for kv in l.split_whitespace().skip(1) {
            let (k, v) = kv
                .split_once('=')
                .unwrap_or_else(|| panic!("not key=value: {kv:?} in {l}"));
            assert!(!k.is_empty());
            v.parse::<u64>()
                .unwrap_or_else(|_| panic!("value of {k} is not a u64: {v:?}"));
        }
    }
    // The bench really ran mid objects through the counters.
    let calls: u64 = lines
        .iter()
        .find_map(|l| l.strip_prefix("[HZ4_MID_STATS_B1] malloc_calls="))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap();
    assert!(calls > 10_000, "malloc_calls={calls}");
}
