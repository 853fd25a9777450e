//! Every bad-input case: a one-line error naming file:line, exit status 2,
//! and never a panic.

mod common;

use common::*;
use hz_analyze::*;

const ARGS: &str =
    "[BENCH_ARGS] threads=16 iters=1200000 ws=400 min=16 max=32768 remote_pct=50 ring_slots=65536\n";
const TPUT: &str =
    "bench_random_mixed_mt_remote: threads=16 ops=11 time=2.0 ops/s=5.5\n[ALLOC_FAILURES] count=0\n";

fn err(text: &str) -> String {
    parse_str("bad.log", text, &LoadOptions::default())
        .unwrap_err()
        .to_string()
}

fn err_bytes(bytes: &[u8]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("bad.log");
    std::fs::write(&p, bytes).unwrap();
    let e = load_runs(&[p.display().to_string()], &LoadOptions::default()).unwrap_err();
    e.to_string().replace(&p.display().to_string(), "bad.log")
}

#[test]
fn truncated_lines() {
    let e = err(&format!(
        "{ARGS}[HZ4_MID_STATS_B1] malloc_calls=12 malloc_tls_\n"
    ));
    assert!(e.starts_with("bad.log:2: truncated line"), "{e}");
    assert!(e.contains("malloc_tls_"), "{e}");
    let e = err("[BENCH_ARGS] threads=16 iters=\n");
    assert!(e.starts_with("bad.log:1: truncated line"), "{e}");
    let e = err("[BENCH_ARGS] threads=16 iters=1200000 ws=400 min=16\n");
    assert!(e.contains("lacks `max=`"), "{e}");
    let e = err(&format!(
        "{ARGS}bench_random_mixed_mt_remote: threads=16 ops=1 time=1.0\n"
    ));
    assert!(
        e.starts_with("bad.log:2: truncated line: throughput line lacks `ops/s=`"),
        "{e}"
    );
    let e = err(&format!("{ARGS}[ALLOC_FAILURES]\n"));
    assert!(e.contains("lacks `count=`"), "{e}");
    let e = err(&format!("{ARGS}[HZ4_MID_STATS_B1]\n"));
    assert!(e.contains("no key=value fields"), "{e}");
    let e = err("[HZ_LANE] variant=x\n");
    assert!(e.contains("lacks `name=`"), "{e}");
    // Cut at the end of the file, without a newline: not a bad log but an
    // incomplete run, left out and counted as unstable.
    let runs = parse_str(
        "cut.log",
        &format!("{ARGS}[HZ4_MID_STATS_B1] malloc_calls="),
        &LoadOptions::default(),
    )
    .unwrap();
    let i = runs[0].incomplete.as_ref().unwrap();
    assert_eq!(i.location.to_string(), "cut.log:2");
    assert!(i.detail.contains("cut short"), "{}", i.detail);
}

#[test]
fn non_numeric_values() {
    for v in ["12x", "-1", "1.5", "0x10", "+3"] {
        let e = err(&format!("{ARGS}[HZ4_MID_STATS_B1] malloc_calls={v}\n"));
        assert_eq!(
            e,
            format!("bad.log:2: `malloc_calls={v}`: not a non-negative integer"),
        );
    }
    let e = err(&format!("{ARGS}bench_random_mixed_mt_remote: ops/s=fast\n"));
    assert!(
        e.starts_with("bad.log:2: `ops/s=fast`: not a non-negative number"),
        "{e}"
    );
    let e = err(&format!("{ARGS}bench_random_mixed_mt_remote: ops/s=inf\n"));
    assert!(e.contains("not a non-negative number"), "{e}");
    let e = err("[BENCH_ARGS] threads=a iters=1 ws=1 min=1 max=1 remote_pct=1 ring_slots=1\n");
    assert!(e.starts_with("bad.log:1: `threads=a`"), "{e}");
}

#[test]
fn overflowing_values() {
    let max = format!("{ARGS}[HZ4_MID_STATS_B1] malloc_calls=18446744073709551615\n{TPUT}");
    let runs = parse_str("ok.log", &max, &LoadOptions::default()).unwrap();
    assert_eq!(runs[0].counters["malloc_calls"], u64::MAX);
    let e = err(&format!(
        "{ARGS}[HZ4_MID_STATS_B1] malloc_calls=18446744073709551616\n"
    ));
    assert_eq!(
        e,
        "bad.log:2: `malloc_calls=18446744073709551616`: value overflows u64"
    );
}

#[test]
fn duplicated_keys() {
    let e = err(&format!(
        "{ARGS}[HZ4_MID_STATS_B1] malloc_calls=1\n[HZ4_MID_STATS_B1] malloc_calls=2\n"
    ));
    assert_eq!(
        e,
        "bad.log:3: duplicated key `malloc_calls` in one dump: 2 here, 1 at line 2"
    );
    // Same value twice is harmless.
    let ok = format!("{ARGS}[HZ4_MID_STATS_B1] malloc_calls=1 malloc_calls=1\n{TPUT}");
    assert!(parse_str("ok.log", &ok, &LoadOptions::default()).is_ok());
    // The same key in the next run is a new dump.
    let two = format!("{ARGS}[HZ4_MID_STATS_B1] malloc_calls=1\n{TPUT}{ARGS}[HZ4_MID_STATS_B1] malloc_calls=2\n{TPUT}");
    assert_eq!(
        parse_str("ok.log", &two, &LoadOptions::default())
            .unwrap()
            .len(),
        2
    );
    let e = err(&format!(
        "{ARGS}{TPUT}bench_random_mixed_mt_remote: ops/s=6.5\n"
    ));
    assert!(e.contains("duplicated key `ops/s`"), "{e}");
    let e = err(&format!(
        "{ARGS}{TPUT}[ALLOC_FAILURES] count=0\n[ALLOC_FAILURES] count=3\n"
    ));
    assert!(e.contains("duplicated key `count`"), "{e}");
}

#[test]
fn dump_without_throughput_is_a_crash_of_that_run() {
    let text = format!("{ARGS}[HZ4_MID_STATS_B1] malloc_calls=1\n{ARGS}{TPUT}");
    let runs = parse_str("crash.log", &text, &LoadOptions::default()).unwrap();
    assert_eq!(runs.len(), 2);
    let i = runs[0].instabilities();
    assert_eq!(i.len(), 1);
    assert_eq!(i[0].kind, InstabilityKind::NoThroughput);
    assert_eq!(i[0].location.to_string(), "crash.log:1");
    assert!(runs[1].instabilities().is_empty());
}

#[test]
fn empty_and_blank_files() {
    assert_eq!(err(""), "bad.log: empty file");
    assert_eq!(err("\n  \n\t\n"), "bad.log: empty file");
    assert_eq!(err_bytes(b""), "bad.log: empty file");
}

#[test]
fn text_without_dump_lines() {
    assert!(err("make: Nothing to be done\n").contains("no dump lines"));
}

#[test]
fn binary_files() {
    let e = err_bytes(b"\x7fELF\x02\x01\x01\x00\x00\x00garbage\n");
    assert_eq!(e, "bad.log:1: binary data (NUL byte); not a text log");
    let long = vec![b'a'; (1 << 20) + 10];
    let e = err_bytes(&long);
    assert!(e.contains("line longer than 1 MiB"), "{e}");
    // Invalid UTF-8 inside a recognised line.
    let mut b = ARGS.as_bytes().to_vec();
    b.extend_from_slice(b"[HZ4_MID_STATS_B1] \xff\xfe=1\n");
    assert_eq!(
        err_bytes(&b),
        "bad.log:2: recognised line is not valid UTF-8"
    );
    // ... but in an unrelated line it is ignored.
    let mut b = ARGS.as_bytes().to_vec();
    b.extend_from_slice(b"noise \xff\xfe\n");
    b.extend_from_slice(TPUT.as_bytes());
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "x.log", "");
    std::fs::write(&p, &b).unwrap();
    assert_eq!(load_runs(&[p], &LoadOptions::default()).unwrap().len(), 1);
}

#[test]
fn unknown_lane_names_file_and_line() {
    // No marker, no [BENCH_ARGS], no lane in the file name.
    let text = format!("noise\n{TPUT}");
    assert_eq!(
        err(&text),
        "bad.log:2: cannot tell the lane of the run starting here (no [BENCH_ARGS], no [HZ_LANE] marker, file name starts with no lane name); pass --lane NAME=PATH"
    );
    // --lane resolves it.
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "odd.log", &text);
    let opts = LoadOptions {
        lane_overrides: vec![("main_r0".into(), dir.path().to_owned())],
        variant: None,
    };
    let runs = load_runs(&[p], &opts).unwrap();
    assert_eq!(runs[0].lane, "main_r0");
    assert_eq!(runs[0].lane_source, LaneSource::Flag);
}

#[test]
fn missing_paths_and_empty_dirs() {
    let e = load_runs(&["/nonexistent/x.log".into()], &LoadOptions::default()).unwrap_err();
    assert!(
        e.to_string().starts_with("/nonexistent/x.log: cannot read"),
        "{e}"
    );
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "notes.txt", "hello");
    let d = dir.path().display().to_string();
    let e = load_runs(std::slice::from_ref(&d), &LoadOptions::default()).unwrap_err();
    assert_eq!(e.to_string(), format!("{d}: directory holds no *.log file"));
}

#[test]
fn bad_lane_flag() {
    let e = LoadOptions::parse_lane_flag("main_r0").unwrap_err();
    assert!(e
        .to_string()
        .starts_with("--lane: `main_r0` is not NAME=PATH"));
}

/// The binary: exit 2, one line on stderr naming file:line, nothing on
/// stdout.
#[test]
fn binary_exit_status_2() {
    let dir = tempfile::tempdir().unwrap();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "trunc.log",
            format!("{ARGS}[HZ4_MID_STATS_B1] a\n").into_bytes(),
            ":2: truncated",
        ),
        (
            "nan.log",
            format!("{ARGS}[HZ4_MID_STATS_B1] a=b\n").into_bytes(),
            ":2: `a=b`",
        ),
        (
            "big.log",
            format!("{ARGS}[HZ4_MID_STATS_B1] a=99999999999999999999\n").into_bytes(),
            ":2: `a=99999999999999999999`: value overflows u64",
        ),
        (
            "dup.log",
            format!("{ARGS}[HZ4_MID_STATS_B1] a=1 a=2\n").into_bytes(),
            ":2: duplicated key `a`",
        ),
        ("empty.log", Vec::new(), ": empty file"),
        ("bin.log", b"\x00\x01\x02".to_vec(), ":1: binary data"),
    ];
    for (name, bytes, want) in cases {
        let p = dir.path().join(name);
        std::fs::write(&p, &bytes).unwrap();
        let out = bin().arg(&p).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{name}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{name}: {stderr}");
        assert!(
            stderr.contains(&format!("{name}{want}")),
            "{name}: {stderr}"
        );
        assert!(out.stdout.is_empty(), "{name}");
        assert!(!stderr.contains("panicked"), "{name}");
    }
}

#[test]
fn binary_usage_errors_exit_2() {
    bin().args(["--lane", "nonsense", "x.log"]).assert().code(2);
    bin().args(["gates", "--var", "x.log"]).assert().code(2);
    bin()
        .args(["report", "--stage-a-separation", "0", "x.log"])
        .assert()
        .code(2);
    bin().args(["bench", "--size-mib", "0"]).assert().code(2);
    bin().arg("/nonexistent.log").assert().code(2);
}
