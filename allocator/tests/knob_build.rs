//! Build-time knobs end to end: `HZ4_DEFS_EXTRA=... cargo build -p hz4`
//! with a bad knob string must fail in hz4's build script with the expected
//! message; a good string must build and land in the generated constants.
//!
//! The builds are debug builds into one target dir under this checkout's
//! own target dir (`CARGO_TARGET_TMPDIR`), shared by the tests of this file
//! (cargo's lock serializes them) and reused across runs, so after the
//! first run only the build script reruns. (A dir under the system temp
//! dir was shared by every checkout on the machine: the artifact hashes of
//! workspace path crates do not depend on the checkout, so one checkout's
//! build could hand another a stale `hz4-stats`.)

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

fn target_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("hz4-knob-build-target")
}

fn workspace_manifest() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .join("Cargo.toml")
}

struct Build {
    ok: bool,
    output: String,
}

/// `cargo build -p hz4` (debug) with `HZ4_DEFS_EXTRA=defs`.
fn build(defs: &str) -> Build {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| env!("CARGO").into());
    let t = Instant::now();
    let out = Command::new(cargo)
        .args(["build", "-p", "hz4", "--offline", "--color", "never"])
        .arg("--manifest-path")
        .arg(workspace_manifest())
        .arg("--target-dir")
        .arg(target_dir())
        .env("HZ4_DEFS_EXTRA", defs)
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET_DIR")
        .output()
        .expect("run cargo build");
    let output = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!(
        "HZ4_DEFS_EXTRA='{defs}': {} in {:?}",
        if out.status.success() {
            "built"
        } else {
            "failed"
        },
        t.elapsed()
    );
    Build {
        ok: out.status.success(),
        output,
    }
}

/// The build must fail in hz4's build script with `message` in its output.
fn expect_rejected(defs: &str, messages: &[&str]) {
    let b = build(defs);
    assert!(
        !b.ok,
        "HZ4_DEFS_EXTRA='{defs}' built, expected a failure\n{}",
        b.output
    );
    assert!(
        b.output
            .contains("failed to run custom build command for `hz4"),
        "HZ4_DEFS_EXTRA='{defs}': the failure is not hz4's build script:\n{}",
        b.output
    );
    for m in messages {
        assert!(
            b.output.contains(&format!("error: hz4 knobs: {m}")),
            "HZ4_DEFS_EXTRA='{defs}': expected `{m}` in the build output:\n{}",
            b.output
        );
    }
}

#[test]
fn adaptive_box_without_the_local_stack_box_is_rejected() {
    expect_rejected(
        "-DHZ4_MID_OWNER_LOCAL_STACK_ADAPTIVE_BOX=1",
        &["HZ4_MID_OWNER_LOCAL_STACK_ADAPTIVE_BOX requires HZ4_MID_OWNER_LOCAL_STACK_BOX=1"],
    );
}

#[test]
fn local_stack_box_without_the_remote_queue_is_rejected() {
    expect_rejected(
        "-DHZ4_MID_OWNER_LOCAL_STACK_BOX=1 -DHZ4_MID_OWNER_REMOTE_QUEUE_BOX=0",
        &["HZ4_MID_OWNER_LOCAL_STACK_BOX requires HZ4_MID_OWNER_REMOTE_QUEUE_BOX=1"],
    );
}

#[test]
fn probe_shift_out_of_range_is_rejected() {
    expect_rejected(
        "-DHZ4_MID_OWNER_LOCAL_STACK_BOX=1 -DHZ4_MID_OWNER_LOCAL_STACK_ADAPTIVE_BOX=1 \
         -DHZ4_MID_OWNER_LOCAL_STACK_ADAPTIVE_PROBE_SHIFT=8",
        &["HZ4_MID_OWNER_LOCAL_STACK_ADAPTIVE_PROBE_SHIFT = 8 is out of range 0..=7"],
    );
}

#[test]
fn unknown_knob_is_rejected() {
    expect_rejected(
        "-DHZ4_BOGUS=1",
        &["HZ4_DEFS_EXTRA: unknown knob 'HZ4_BOGUS'"],
    );
}

#[test]
fn lock_shards_must_be_a_power_of_two() {
    expect_rejected(
        "-DHZ4_MID_LOCK_SHARDS=12",
        &["HZ4_MID_LOCK_SHARDS = 12 must be a power of two"],
    );
}

#[test]
fn malformed_strings_are_rejected_and_every_problem_is_reported() {
    expect_rejected(
        "-DHZ4_MID_LOCK_SHARDS=abc HZ4_MID_STATS_B1=1 -DHZ4_BOGUS",
        &[
            "HZ4_DEFS_EXTRA: HZ4_MID_LOCK_SHARDS: 'abc' is not a non-negative integer",
            "HZ4_DEFS_EXTRA: 'HZ4_MID_STATS_B1=1' is not of the form -DNAME or -DNAME=VALUE",
            "HZ4_DEFS_EXTRA: unknown knob 'HZ4_BOGUS'",
        ],
    );
}

/// The generated constants of the last build (the build script's out dir
/// is the same for every knob string; take the newest knobs_gen.rs).
fn generated_knobs() -> String {
    let build_dir = target_dir().join("debug").join("build");
    let newest = std::fs::read_dir(&build_dir)
        .unwrap_or_else(|e| panic!("{}: {e}", build_dir.display()))
        .filter_map(|e| {
            let dir = e.ok()?.path();
            let name = dir.file_name()?.to_str()?.to_string();
            if !name.starts_with("hz4-") {
                return None;
            }
            let f = dir.join("out").join("knobs_gen.rs");
            let t = std::fs::metadata(&f).ok()?.modified().ok()?;
            Some((t, f))
        })
        .max()
        .expect("no knobs_gen.rs under the target dir");
    std::fs::read_to_string(newest.1).unwrap()
}

#[test]
fn a_good_knob_string_builds_and_reaches_the_constants() {
    let defs = "-DHZ4_MID_OWNER_LOCAL_STACK_BOX=1 -DHZ4_MID_OWNER_LOCAL_STACK_ADAPTIVE_BOX=1 \
                -DHZ4_MID_OWNER_LOCAL_STACK_ADAPTIVE_PROBE_SHIFT=7 -DHZ4_MID_LOCK_SHARDS=32";
    // Failing builds stop before writing knobs_gen.rs, and cargo's lock
    // serializes the builds of this file, so the newest file is ours.
    let b = build(defs);
    assert!(
        b.ok,
        "HZ4_DEFS_EXTRA='{defs}' failed to build:\n{}",
        b.output
    );
    let gen = generated_knobs();
    for want in [
        "pub const HZ4_MID_LOCK_SHARDS: u64 = 32;",
        "pub const HZ4_MID_OWNER_LOCAL_STACK_ADAPTIVE_BOX: u64 = 1;",
        "pub const HZ4_MID_OWNER_LOCAL_STACK_ADAPTIVE_PROBE_SHIFT: u64 = 7;",
        "HZ4_MID_LOCK_SHARDS=32",
    ] {
        assert!(gen.contains(want), "generated knobs lack `{want}`:\n{gen}");
    }
    assert!(gen.contains("\"[HZ4_BUILD] "), "no build line:\n{gen}");
}
