//! Whole-process behaviour, each case in a child process (this test binary
//! re-run with `HZ4_STATS_CHILD` set) so environment variables and the
//! one-per-process atexit registration do not leak between tests.
//!
//! - exactly-once `register_atexit` under a 16-thread race, and the exit
//!   dump printed exactly once;
//! - `HZ4_STATS_FILE` pointing at a writable file and at an unwritable one,
//!   read through the real `getenv` path.

use std::process::{Command, Output};
use std::sync::{Arc, Barrier};

use hz4_stats::{
    atexit_registrations, dump, register_atexit, AtShard, CountSink, DumpConfig, Key, OwnerBlock,
    MID, SUPPLY,
};

const CHILD_ENV: &str = "HZ4_STATS_CHILD";

static CFG: DumpConfig = DumpConfig {
    b58: true,
    b77: true,
    lock_stats: true,
    supply: true,
    mem: true,
    build_line: Some("[HZ4_BUILD] child=1"),
};

/// Runs test `name` of this binary in a child with `CHILD_ENV=name` plus `env`.
fn run_child(name: &str, env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([
        name,
        "--exact",
        "--test-threads=1",
        "--quiet",
        "--nocapture",
    ])
    .env(CHILD_ENV, name)
    .env_remove("HZ4_STATS_FILE");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "child {name} failed: {out:?}");
    out
}

fn is_child(name: &str) -> bool {
    std::env::var(CHILD_ENV).as_deref() == Ok(name)
}

/// Known, distinct values so the parent can check the dump came from here.
fn set_known_values() {
    MID.malloc_calls.add(0, 7);
    // The other 4 through an owner block: the dump must add it in.
    static BLOCK: OwnerBlock = OwnerBlock::new();
    BLOCK.link();
    BLOCK.add(Key::malloc_calls, 4);
    MID.malloc_owner_local_stack_adaptive_hot_reset.inc(9);
    AtShard(2).on_lock_wait_sample(500, 256);
    SUPPLY.supply_resv_new_seg.inc(1);
}

fn check_dump_lines(text: &str) {
    let tagged: Vec<&str> = text.lines().filter(|l| l.starts_with('[')).collect();
    assert_eq!(
        tagged.len(),
        7,
        "one build line + six stats lines exactly once:\n{text}"
    );
    assert_eq!(tagged[0], "[HZ4_BUILD] child=1");
    assert!(
        tagged[1].starts_with("[HZ4_MID_STATS_B1] malloc_calls=11 "),
        "{}",
        tagged[1]
    );
    assert!(
        tagged[2].starts_with("[HZ4_MID_STATS_B1] malloc_owner_local_stack_pop_gated_remote=0 ")
    );
    assert!(tagged[3].contains(" malloc_owner_local_stack_adaptive_hot_reset=1 "));
    assert!(tagged[4].starts_with("[HZ4_MID_LOCK_STATS] lock_enter=0 lock_wait_samples=1 lock_wait_ns_sum=500 lock_wait_ns_max=500 lock_contended_samples=1 "));
    assert_eq!(
        tagged[5],
        "[HZ4_MID_STATS_B1] supply_resv_hit=0 supply_resv_refill=0 supply_resv_pages=0 supply_resv_new_seg=1"
    );
    assert_eq!(
        tagged[6],
        "[HZ4_MEM_STATS] mapped_bytes=0 committed_bytes=0 purge_calls=0 purged_bytes=0 segments_unmapped=0 huge_cache_hit=0 dirty_trims=0"
    );
}

#[test]
fn atexit_registered_once_under_race_and_dumps_once() {
    const NAME: &str = "atexit_registered_once_under_race_and_dumps_once";
    if is_child(NAME) {
        const THREADS: usize = 16;
        set_known_values();
        let go = Arc::new(Barrier::new(THREADS));
        let hs: Vec<_> = (0..THREADS)
            .map(|_| {
                let go = go.clone();
                std::thread::spawn(move || {
                    go.wait();
                    for _ in 0..1000 {
                        register_atexit(&CFG);
                    }
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
        register_atexit(&CFG);
        // On stdout, which the dump never uses.
        println!("registrations={}", atexit_registrations());
        return; // the dump happens at process exit
    }
    let out = run_child(NAME, &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("registrations=1"), "{stdout}");
    check_dump_lines(&String::from_utf8_lossy(&out.stderr));
}

#[test]
fn stats_file_env_good_path() {
    const NAME: &str = "stats_file_env_good_path";
    if is_child(NAME) {
        set_known_values();
        dump(&CFG);
        return;
    }
    let path = std::env::temp_dir().join(format!("hz4-stats-env-{}.log", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let out = run_child(NAME, &[("HZ4_STATS_FILE", path.to_str().unwrap())]);
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    check_dump_lines(&std::fs::read_to_string(&path).unwrap());
    // A second run appends.
    run_child(NAME, &[("HZ4_STATS_FILE", path.to_str().unwrap())]);
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text.lines().count(), 14);
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn stats_file_env_unwritable_path() {
    const NAME: &str = "stats_file_env_unwritable_path";
    if is_child(NAME) {
        set_known_values();
        dump(&CFG);
        return;
    }
    let bad = "/proc/hz4-stats-cannot-create-this.log";
    let out = run_child(NAME, &[("HZ4_STATS_FILE", bad)]);
    let err = String::from_utf8_lossy(&out.stderr);
    let first = err.lines().next().unwrap_or("");
    assert!(
        first.starts_with(&format!(
            "hz4-stats: cannot open HZ4_STATS_FILE={bad}: errno "
        )) && first.ends_with("; dumping to stderr"),
        "{err}"
    );
    check_dump_lines(&err);
}

#[test]
fn no_env_means_stderr() {
    const NAME: &str = "no_env_means_stderr";
    if is_child(NAME) {
        set_known_values();
        dump(&CFG);
        return;
    }
    let out = run_child(NAME, &[]);
    check_dump_lines(&String::from_utf8_lossy(&out.stderr));
}
