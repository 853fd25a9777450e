//! `HZ4_MID_STATS_B1=0` compiles no counter code: the only trace of
//! hz4-stats left in `libhz4.so` is the exported `hz4_stats_dump` entry
//! point, and it is a bare `ret`. A stats build, for contrast, must show
//! hz4-stats code (so the check can fail both ways). The expectation is
//! read from the library's own `[HZ4_BUILD]` string, so whichever build
//! is examined is judged by its own knobs. Needs binutils (`nm`,
//! `objdump`), which come with gcc.

mod common;

use std::path::Path;
use std::process::Command;

fn run(tool: &str, args: &[&str], lib: &Path) -> String {
    let out = Command::new(tool)
        .args(args)
        .arg(lib)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {tool} (binutils): {e}"));
    assert!(
        out.status.success(),
        "{tool} {args:?} {}: {out:?}",
        lib.display()
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The library's HZ4_MID_STATS_B1, from the build line compiled into it.
fn stats_knob(lib: &Path) -> bool {
    let bytes = std::fs::read(lib).unwrap();
    let needle = b"HZ4_MID_STATS_B1=";
    let at = bytes
        .windows(needle.len())
        .position(|w| w == needle)
        .unwrap_or_else(|| panic!("{}: no HZ4_MID_STATS_B1= in its build line", lib.display()));
    match bytes[at + needle.len()] {
        b'0' => false,
        b'1' => true,
        other => panic!("{}: HZ4_MID_STATS_B1={}", lib.display(), other as char),
    }
}

#[test]
fn stats_code_exists_only_with_the_knob() {
    let lib = common::find_or_build_lib();
    let syms = run("nm", &["-C", "--defined-only"], &lib);
    let stats_syms: Vec<&str> = syms
        .lines()
        .filter(|l| l.contains("hz4_stats"))
        .map(|l| l.rsplit(' ').next().unwrap_or(l))
        .collect();
    if stats_knob(&lib) {
        assert!(
            stats_syms.iter().any(|s| s.starts_with("hz4_stats::")),
            "{}: a stats build with no hz4_stats code: {stats_syms:?}",
            lib.display()
        );
        return;
    }
    assert_eq!(
        stats_syms,
        ["hz4_stats_dump"],
        "{}: hz4-stats code in a build without HZ4_MID_STATS_B1",
        lib.display()
    );
    let dis = run(
        "objdump",
        &["-d", "--no-show-raw-insn", "--disassemble=hz4_stats_dump"],
        &lib,
    );
    let body: Vec<&str> = dis
        .lines()
        .skip_while(|l| !l.contains("<hz4_stats_dump>:"))
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .map(|l| l.split('\t').nth(1).unwrap_or("").trim())
        .collect();
    assert_eq!(
        body,
        ["ret"],
        "{}: hz4_stats_dump is not empty without stats",
        lib.display()
    );
}
