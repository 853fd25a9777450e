//! Issue 13: the analyzer is never silently wrong. One table, one case per
//! item (cut-off number, missing closing line, ops/time mismatch, the same
//! input twice, symlink loops, incomparable sides, lanes by shape, exact
//! thresholds, mode-true verdicts, compressed logs, line wrapping, CLI):
//! each case builds its inputs in a fresh directory, runs the binary and
//! asserts the exit status and the message.
//!
//! `HZ_ANALYZE_BIN=/path/to/old/hz-analyze cargo test --test hostile` runs
//! the table against another build (every case fails on the code before
//! issue 13).

mod common;

use std::io::Write as _;
use std::path::Path;

use common::*;

/// Where a case expects its message.
#[derive(Clone, Copy, Debug)]
enum Out {
    Stdout,
    Stderr,
}

struct Case {
    name: &'static str,
    /// Writes the inputs into the directory.
    setup: fn(&Path),
    args: &'static [&'static str],
    code: i32,
    /// Each must appear in the chosen stream.
    want: &'static [&'static str],
    /// None of these may appear in stdout.
    not: &'static [&'static str],
    stream: Out,
}

fn lanes_tput(dir: &Path, name: &str, variant: &'static str, ops: [f64; 4], runs: usize) {
    let mut s = String::new();
    for (i, l) in hz_analyze::LANES.iter().enumerate() {
        for j in 0..runs {
            s.push_str(&tput(
                l.name,
                ops[i] * (1.0 + j as f64 / 1000.0),
                variant,
                j as u64,
            ));
        }
    }
    write(dir, name, &s);
}

fn ab(dir: &Path) {
    lanes_tput(dir, "base.log", "base", [1e6, 2e6, 3e6, 4e6], 7);
    lanes_tput(dir, "var.log", "var", [1e6, 2.1e6, 3.1e6, 4.1e6], 7);
}

fn copy_fixtures(dir: &Path, sub: &str) -> std::path::PathBuf {
    let d = dir.join(sub);
    std::fs::create_dir_all(&d).unwrap();
    for l in ["guard_r0", "main_r0", "main_r50", "cross128_r90"] {
        std::fs::copy(fixture(l), d.join(format!("{l}_run1_hz4c.log"))).unwrap();
    }
    d
}

/// A Stage A set with main_r50 at `num / hit` and the other lanes low.
fn stage_a_at(dir: &Path, hit: u64, num: u64) {
    let t: String = [
        Spec::new("main_r0").ratio(1_000_000, 0, 1),
        Spec::new("main_r50").ratio(hit, num, 0),
        Spec::new("cross128_r90").ratio(1000, 1, 0),
        Spec::new("guard_r0"),
    ]
    .iter()
    .map(Spec::text)
    .collect();
    write(dir, "sa.log", &t);
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "cut-off number: a var run whose file ends inside ops/s",
            setup: |d| {
                ab(d);
                let mut v = std::fs::read_to_string(d.join("var.log")).unwrap();
                v.push_str("[HZ_LANE] name=main_r50 variant=var run=9\n[BENCH_ARGS] threads=16 iters=1200000 ws=400 min=16 max=32768 remote_pct=50 ring_slots=65536\nbench_random_mixed_mt_remote: threads=16 ops=2390 time=1.000000 ops/s=196");
                std::fs::write(d.join("var.log"), v).unwrap();
            },
            args: &["gates", "--base", "base.log", "--var", "var.log"],
            code: 1,
            want: &[
                "var.log:",
                "incomplete run (excluded): last line is cut short",
                "stability (crash/assert/alloc-failed = 0): FAIL (unstable runs: base 0, var 1",
            ],
            not: &[],
            stream: Out::Stdout,
        },
        Case {
            name: "missing closing line: reference log without [ALLOC_FAILURES]",
            setup: |d| {
                let t = std::fs::read_to_string(fixture("main_r50")).unwrap();
                let cut: String = t
                    .lines()
                    .filter(|l| !l.starts_with("[ALLOC_FAILURES]"))
                    .map(|l| format!("{l}\n"))
                    .collect();
                write(d, "main_r50_cut.log", &cut);
            },
            args: &["report", "main_r50_cut.log"],
            code: 3,
            want: &[
                "main_r50_cut.log:6 [main_r50]: incomplete run (excluded): no [ALLOC_FAILURES] line after the throughput line",
                "| incomplete runs (excluded)",
            ],
            not: &[],
            stream: Out::Stdout,
        },
        Case {
            name: "missing closing line: lab run without [HZ_RUN_STATUS]",
            setup: |d| {
                ab(d);
                let v = std::fs::read_to_string(d.join("var.log")).unwrap();
                let v = v.trim_end().rsplit_once('\n').unwrap().0.to_owned() + "\n";
                std::fs::write(d.join("var.log"), v).unwrap();
            },
            args: &["gates", "--base", "base.log", "--var", "var.log"],
            code: 1,
            want: &["lab run without its closing [HZ_RUN_STATUS] line", "var 1, A/A 0"],
            not: &[],
            stream: Out::Stdout,
        },
        Case {
            name: "ops vs ops/s x time mismatch",
            setup: |d| {
                let t = std::fs::read_to_string(fixture("main_r50"))
                    .unwrap()
                    .replace("ops=23926282", "ops=13926282");
                write(d, "main_r50_x.log", &t);
            },
            args: &["report", "main_r50_x.log"],
            code: 3,
            want: &["main_r50_x.log:6 [main_r50]: incomplete run (excluded): ops=13926282 but ops/s x time = 239262"],
            not: &[],
            stream: Out::Stdout,
        },
        Case {
            name: "same directory twice counts once",
            setup: |d| {
                copy_fixtures(d, "hz4c");
            },
            args: &["stage-a", "hz4c", "hz4c/"],
            code: 1,
            want: &["same file as hz4c/", "main_r50: 1 run(s); the work order asks for RUNS=7"],
            not: &["main_r50: 2 run(s)"],
            stream: Out::Stdout,
        },
        Case {
            name: "identical content under two names counts once",
            setup: |d| {
                let h = copy_fixtures(d, "hz4c");
                std::fs::copy(fixture("main_r50"), h.join("main_r50_copy.log")).unwrap();
            },
            args: &["stage-a", "hz4c"],
            code: 1,
            want: &["same content as", "main_r50: 1 run(s)"],
            not: &[],
            stream: Out::Stdout,
        },
        Case {
            name: "symlink loop detected and named",
            setup: |d| {
                let h = copy_fixtures(d, "hz4c");
                std::os::unix::fs::symlink(".", h.join("loop")).unwrap();
            },
            args: &["stage-a", "hz4c"],
            code: 1,
            want: &["hz4c/loop: symlink loop (leads back to", "main_r50: 1 run(s)"],
            not: &[],
            stream: Out::Stdout,
        },
        Case {
            name: "a lab's warmup/ directory is not read",
            setup: |d| {
                let h = copy_fixtures(d, "hz4c");
                let w = h.join("warmup");
                std::fs::create_dir(&w).unwrap();
                std::fs::copy(fixture("main_r50"), w.join("main_r50-base-1.log")).unwrap();
            },
            args: &["stage-a", "hz4c"],
            code: 1,
            want: &["main_r50: 1 run(s)"],
            not: &["warmup", "same content as"],
            stream: Out::Stdout,
        },
        Case {
            name: "different [BENCH_ARGS] on the two sides",
            setup: |d| {
                ab(d);
                let v = std::fs::read_to_string(d.join("var.log"))
                    .unwrap()
                    .replace("threads=16 iters=1200000 ws=400 min=16 max=32768 remote_pct=50", "threads=4 iters=1000 ws=400 min=16 max=32768 remote_pct=50");
                std::fs::write(d.join("var.log"), v).unwrap();
            },
            args: &["gates", "--base", "base.log", "--var", "var.log"],
            code: 2,
            want: &["main_r50: --base and --var ran different [BENCH_ARGS] (threads=16 vs threads=4, iters=1200000 vs iters=1000): base.log:", "and var.log:"],
            not: &[],
            stream: Out::Stderr,
        },
        Case {
            name: "same directory on both sides",
            setup: ab,
            args: &["gates", "--base", ".", "--var", "."],
            code: 2,
            want: &["runs of several variants (base, var) on one side; choose one with --base-variant NAME"],
            not: &[],
            stream: Out::Stderr,
        },
        Case {
            name: "same file on both sides",
            setup: ab,
            args: &["gates", "--base", "base.log", "--var", "./base.log"],
            code: 2,
            want: &["--base and --var hold the same file: base.log and ./base.log"],
            not: &[],
            stream: Out::Stderr,
        },
        Case {
            name: "one lab directory split by --base-variant/--var-variant",
            setup: ab,
            args: &["gates", "--base", ".", "--var", ".", "--base-variant", "base", "--var-variant", "var"],
            code: 0,
            want: &["| main_r0      |      7/7 |  2006000.00 | 2106300.00 | +5.00% | +3.00% |", "gates: pass"],
            not: &[],
            stream: Out::Stdout,
        },
        Case {
            name: "stats build on a timing side",
            setup: |d| {
                copy_fixtures(d, "hz4c");
            },
            args: &["gates", "--base", "hz4c/main_r0_run1_hz4c.log", "--var", "hz4c/main_r50_run1_hz4c.log"],
            code: 2,
            want: &["--base: hz4c/main_r0_run1_hz4c.log:1 is a stats build", "--allow-stats-timing"],
            not: &[],
            stream: Out::Stderr,
        },
        Case {
            name: "sides swapped",
            setup: ab,
            args: &["gates", "--base", "var.log", "--var", "base.log"],
            code: 2,
            want: &["--base holds variant `var` and --var holds variant `base`: sides swapped?"],
            not: &[],
            stream: Out::Stderr,
        },
        Case {
            name: "unknown [BENCH_ARGS] shape is kept out of the lanes",
            setup: |d| {
                let t = std::fs::read_to_string(fixture("main_r0"))
                    .unwrap()
                    .replace("max=32768 remote_pct=0", "max=32000 remote_pct=0");
                write(d, "main_r0_odd.log", &t);
            },
            args: &["stage-a", "main_r0_odd.log"],
            code: 3,
            want: &["main_r0_odd.log:1: [BENCH_ARGS] threads=16 iters=1200000 ws=400 min=16 max=32000 remote_pct=0 ring_slots=65536 matches no lane's shape; run left out of the lane decisions", "main_r0: lane missing"],
            not: &[],
            stream: Out::Stdout,
        },
        Case {
            name: "marker disagrees with the [BENCH_ARGS] shape",
            setup: |d| {
                let t = std::fs::read_to_string(fixture("main_r50")).unwrap();
                write(d, "x.log", &format!("[HZ_LANE] name=main_r0 variant=base run=1\n{t}[HZ_RUN_STATUS] status=ok\n"));
            },
            args: &["show", "x.log"],
            code: 0,
            want: &["x.log:1: [HZ_LANE] name=main_r0 but [BENCH_ARGS] has the shape of main_r50; using main_r50", "lane main_r50 (from bench_args)"],
            not: &[],
            stream: Out::Stdout,
        },
        Case {
            name: "marker naming no lane",
            setup: |d| {
                write(d, "x.log", "[HZ_LANE] name=main_r5 variant=base run=1\n[HZ_RUN_STATUS] status=crashed signal=11\n");
            },
            args: &["show", "x.log"],
            code: 0,
            want: &["[HZ_LANE] name=main_r5 is not a lane (guard_r0, main_r0, main_r50, cross128_r90)", "lane unknown (from marker)"],
            not: &[],
            stream: Out::Stdout,
        },
        Case {
            name: "--lane with a name that is no lane",
            setup: ab,
            args: &["report", "--lane", "nosuch=base.log", "base.log"],
            code: 2,
            want: &["--lane: `nosuch` is not a lane (lanes: guard_r0, main_r0, main_r50, cross128_r90)"],
            not: &[],
            stream: Out::Stderr,
        },
        Case {
            name: "ratio exactly at 0.20 proceeds",
            setup: |d| stage_a_at(d, 1000, 200),
            args: &["stage-a", "sa.log"],
            code: 0,
            want: &["main_r50 200/1000 = 0.200000 >= 0.2 (200 x 5 >= 1 x 1000)"],
            not: &[],
            stream: Out::Stdout,
        },
        Case {
            name: "ratio one count below 0.20 stops, however close",
            setup: |d| stage_a_at(d, 10_000_000_000, 1_999_999_999),
            args: &["stage-a", "sa.log"],
            code: 1,
            want: &["main_r50 1999999999/10000000000 = 0.200000 < 0.2 (1999999999 x 5 < 1 x", "Stage A decision: STOP"],
            not: &[">= 0.2 (1999999999"],
            stream: Out::Stdout,
        },
        Case {
            name: "percent gate one count below the threshold fails",
            setup: |d| {
                lanes_tput(d, "base.log", "base", [1e5, 1e5, 1e5, 1e5], 1);
                lanes_tput(d, "var.log", "var", [99000.0, 103000.0, 101000.0, 100999.99], 1);
            },
            args: &["gates", "--base", "base.log", "--var", "var.log"],
            code: 1,
            want: &[
                "cross128_r90: +0.99999% < +1.00000% (var median 100999.99 < 1.01 x base median 100000.00)",
                "| guard_r0     |      1/1 |   100000.00 |   99000.00 | -1.00% | -1.00% | [-1.00%, -1.00%] |         - | pass",
                "| main_r50     |      1/1 |   100000.00 |  101000.00 | +1.00% | +1.00% |",
            ],
            not: &["+1.00% < +1.00%"],
            stream: Out::Stdout,
        },
        Case {
            name: "screen flags in verdict are rejected",
            setup: ab,
            args: &["verdict", "--base", "base.log", "--var", "var.log", "--screen-main-r0", "2"],
            code: 2,
            want: &["--screen-main-r0"],
            not: &[],
            stream: Out::Stderr,
        },
        Case {
            name: "replay flags with --mode screen are rejected",
            setup: ab,
            args: &["gates", "--base", "base.log", "--var", "var.log", "--replay-main-r0", "2"],
            code: 2,
            want: &["--replay-main-r0: does nothing with --mode screen"],
            not: &[],
            stream: Out::Stderr,
        },
        Case {
            name: "--variant on gates would filter both sides",
            setup: ab,
            args: &["gates", "--variant", "base", "--base", "base.log", "--var", "var.log"],
            code: 2,
            want: &["--variant: would filter every side of gates at once"],
            not: &[],
            stream: Out::Stderr,
        },
        Case {
            name: "compressed logs in a directory",
            setup: |d| {
                let h = d.join("z");
                std::fs::create_dir_all(&h).unwrap();
                for (i, l) in ["guard_r0", "main_r0", "main_r50", "cross128_r90"].iter().enumerate() {
                    let raw = std::fs::read(fixture(l)).unwrap();
                    if i % 2 == 0 {
                        let f = std::fs::File::create(h.join(format!("{l}.log.gz"))).unwrap();
                        let mut g = flate2::write::GzEncoder::new(f, flate2::Compression::default());
                        g.write_all(&raw).unwrap();
                        g.finish().unwrap();
                    } else {
                        let z = zstd::encode_all(&raw[..], 3).unwrap();
                        std::fs::write(h.join(format!("{l}.log.zst")), z).unwrap();
                    }
                }
            },
            args: &["stage-a", "z"],
            code: 1,
            want: &["main_r50 61098/525939 = 0.116169 < 0.2", "z/main_r50.log.gz", "z/cross128_r90.log.zst"],
            not: &[],
            stream: Out::Stdout,
        },
        Case {
            name: "UNDECIDED output stays within 120 columns, each reason once",
            setup: |d| {
                let t: String = ["main_r0", "main_r50", "cross128_r90", "guard_r0"]
                    .iter()
                    .flat_map(|l| {
                        (0..3).map(move |_| {
                            let mut s = Spec::new(l);
                            s.b58_line = false;
                            s.text()
                        })
                    })
                    .collect();
                write(d, "nob58.log", &t);
            },
            args: &["report", "nob58.log"],
            code: 3,
            want: &["UNDECIDED", "malloc_owner_local_stack_pop_gated_remote"],
            not: &["  - remote_inefficiency undecided:"],
            stream: Out::Stdout,
        },
        Case {
            name: "[HZ4_MEM_STATS] and unknown [HZ4_...] lines are accepted",
            setup: |d| {
                let t = std::fs::read_to_string(fixture("main_r50")).unwrap().replace(
                    "[ALLOC_FAILURES]",
                    "[HZ4_MEM_STATS] mapped_bytes=1 committed_bytes=2 purge_calls=3 purged_bytes=4 segments_unmapped=5 huge_cache_hit=6\n[HZ4_FUTURE_STATS] assert_count=0\n[ALLOC_FAILURES]",
                );
                write(d, "main_r50_mem.log", &t);
            },
            args: &["show", "main_r50_mem.log"],
            code: 0,
            want: &["mem_stats huge_cache_hit", "mem_stats mapped_bytes"],
            not: &["UNSTABLE"],
            stream: Out::Stdout,
        },
        Case {
            name: "bench --keep refuses to overwrite",
            setup: |d| write_unit(d, "keep.log"),
            args: &["bench", "--size-mib", "1", "--keep", "keep.log"],
            code: 2,
            want: &["--keep: keep.log exists; pass --force to overwrite it"],
            not: &[],
            stream: Out::Stderr,
        },
        Case {
            name: "--format md for any subcommand",
            setup: |d| {
                copy_fixtures(d, "hz4c");
            },
            args: &["stage-a", "--format", "md", "hz4c"],
            code: 1,
            want: &["# hz-analyze stage-a", "## Stage A", "| lane "],
            not: &["+-----"],
            stream: Out::Stdout,
        },
        Case {
            name: "diff sorts by absolute change and keeps the top N with throughput",
            setup: |d| {
                write(d, "a.log", &Spec::new("main_r50").with("x_small", 100).with("y_big", 100).ops(1000.0).text());
                write(d, "b.log", &Spec::new("main_r50").with("x_small", 101).with("y_big", 300).ops(1100.0).text());
            },
            args: &["diff", "--top", "1", "a.log", "b.log"],
            code: 0,
            want: &["| median ops/s", "+10.00%", "| y_big", "more beyond --top 1", "unchanged counters hidden"],
            not: &["| x_small"],
            stream: Out::Stdout,
        },
        Case {
            name: "--help lists exit codes and inputs",
            setup: |_| {},
            args: &["verdict", "--help"],
            code: 0,
            want: &["Exit status: 0 GO, 1 NO-GO, 2", "*.log.gz"],
            not: &[],
            stream: Out::Stdout,
        },
    ]
}

fn write_unit(d: &Path, name: &str) {
    write(d, name, "precious\n");
}

#[test]
fn hostile_inputs_table() {
    let bin_path = std::env::var("HZ_ANALYZE_BIN")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_hz-analyze").to_owned());
    let mut failed = Vec::new();
    for c in cases() {
        let dir = tempfile::tempdir().unwrap();
        (c.setup)(dir.path());
        let out = std::process::Command::new(&bin_path)
            .current_dir(dir.path())
            .args(c.args)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        // Wrapped bullets continue on lines indented by four spaces.
        let joined = stdout.replace("\n    ", " ");
        let text = match c.stream {
            Out::Stdout => &joined,
            Out::Stderr => &stderr,
        };
        let mut why = Vec::new();
        if out.status.code() != Some(c.code) {
            why.push(format!("exit {:?}, want {}", out.status.code(), c.code));
        }
        for w in c.want {
            if !text.contains(w) {
                why.push(format!("missing `{w}`"));
            }
        }
        for n in c.not {
            if stdout.contains(n) {
                why.push(format!("unexpected `{n}`"));
            }
        }
        if stderr.contains("panicked") {
            why.push("panicked".into());
        }
        if matches!(c.stream, Out::Stderr)
            && c.code == 2
            && !stderr.starts_with("error: unexpected argument")
            && stderr.lines().count() != 1
        {
            why.push(format!("stderr is not one line: {stderr}"));
        }
        if !why.is_empty() {
            failed.push(format!(
                "{}: {}\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
                c.name,
                why.join("; ")
            ));
        }
    }
    assert!(
        failed.is_empty(),
        "{} case(s) failed:\n{}",
        failed.len(),
        failed.join("\n")
    );
}

/// Every text line of a report stays within 120 columns, and no reason is
/// printed twice.
#[test]
fn undecided_output_is_narrow_and_says_each_reason_once() {
    let dir = tempfile::tempdir().unwrap();
    let t: String = ["main_r0", "main_r50", "cross128_r90", "guard_r0"]
        .iter()
        .map(|l| {
            let mut s = Spec::new(l);
            s.b58_line = false;
            s.text()
        })
        .collect();
    write(dir.path(), "nob58.log", &t);
    let out = bin()
        .current_dir(dir.path())
        .args(["report", "nob58.log"])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    for l in text.lines() {
        assert!(
            l.chars().count() <= 120,
            "{} columns: {l}",
            l.chars().count()
        );
    }
    let n = text.matches("first missing in run at nob58.log:1").count();
    assert_eq!(n, 1, "{text}");
}

/// Screen mode: the verdict is UNDECIDED, reports the screen gates, and cites
/// no replay NO-GO item.
#[test]
fn screen_mode_verdict_wording() {
    use hz_analyze::*;
    let dir = tempfile::tempdir().unwrap();
    lanes_tput(dir.path(), "base.log", "base", [1e6, 2e6, 3e6, 4e6], 7);
    lanes_tput(dir.path(), "var.log", "var", [0.9e6, 2e6, 3e6, 4e6], 7);
    let load = |f: &str| {
        load_runs(
            &[dir.path().join(f).display().to_string()],
            &LoadOptions::default(),
        )
        .unwrap()
    };
    let g = gates(
        &load("base.log"),
        &load("var.log"),
        None,
        &GateOptions::default(),
    );
    let v = verdict(&g, &mechanism(&[], &MechanismOptions::default()));
    assert_eq!(v.decision, VerdictDecision::Undecided);
    assert!(v.reasons.is_empty(), "{:?}", v.reasons);
    let doc = Document {
        command: "verdict".into(),
        gates: Some(g),
        verdict: Some(v),
        ..Default::default()
    };
    let text = render_text(&doc);
    assert!(text.contains("verdict: UNDECIDED (screen mode"), "{text}");
    assert!(
        text.contains("screen gate guard_r0 FAIL: -10.00% < -1.00%"),
        "{text}"
    );
    assert!(!text.contains("NO-GO:"), "{text}");
    assert!(!text.contains("Any replay gate failure"), "{text}");
}
