//! The binary end to end: golden tables and JSON, exit statuses, stdin,
//! tracing. Set `UPDATE_GOLDEN=1` to rewrite `tests/golden/*`.

mod common;

use std::path::Path;

use common::*;

/// Runs the binary in `dir`; returns (stdout, exit code).
fn run_in(dir: &Path, args: &[&str]) -> (String, i32) {
    let out = bin().current_dir(dir).args(args).output().unwrap();
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("panicked"),
        "{args:?}"
    );
    (
        String::from_utf8(out.stdout).unwrap(),
        out.status.code().unwrap(),
    )
}

/// Base and var logs of all four lanes with `[HZ_LANE]` markers, plus a
/// Var+stats log with adaptive counters. `gain` is main_r0's change.
fn ab_dir(gain: f64, runs: usize) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let (mut base, mut var) = (String::new(), String::new());
    let gains = [0.0, gain, 0.02, 0.015];
    for (i, l) in hz_analyze::LANES.iter().enumerate() {
        for j in 0..runs {
            // Deterministic spread of -2 % .. +2 % around the lane's level.
            let jitter = 1.0 + (((j * 7) % 5) as f64 - 2.0) / 100.0;
            let level = 1e6 * (i + 1) as f64;
            base.push_str(&tput(l.name, level * jitter, "base", j as u64));
            var.push_str(&tput(
                l.name,
                level * jitter * (1.0 + gains[i]),
                "b77",
                j as u64,
            ));
        }
    }
    write(dir.path(), "base.log", &base);
    write(dir.path(), "var.log", &var);
    let c = 1_000_000;
    let stats: String = [
        Spec::new("main_r0").adaptive(c, 10, 770_000, 10),
        Spec::new("main_r50").adaptive(c, 5000, 100_000, 500),
        Spec::new("cross128_r90").adaptive(c, 9000, 50_000, 900),
        Spec::new("guard_r0").adaptive(17, 0, 0, 0),
    ]
    .iter()
    .map(Spec::text)
    .collect();
    write(dir.path(), "stats.log", &stats);
    dir
}

#[test]
fn report_golden_text_and_json() {
    let (text, code) = run_in(&fixtures(), &["hz4c"]);
    assert_eq!(code, 1, "STOP exits 1");
    golden("report_hz4c.txt", &text);
    let (json, code) = run_in(&fixtures(), &["report", "--json", "hz4c"]);
    assert_eq!(code, 1);
    golden("report_hz4c.json", &json);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["stage_a"]["decision"], "STOP");
    assert_eq!(v["stage_a"]["lanes"]["main_r50"]["runs"], 1);
    let r = v["stage_a"]["lanes"]["main_r50"]["ratio"].as_f64().unwrap();
    assert!((r - 61098.0 / 525939.0).abs() < 1e-15);
    assert_eq!(v["stage_a"]["criteria"][0]["status"], "fail");
}

#[test]
fn stage_a_undecided_exits_3() {
    let (text, code) = run_in(&fixtures(), &["stage-a", "hz4c/main_r50_run1_hz4c.log"]);
    assert_eq!(code, 3);
    golden("stage_a_undecided.txt", &text);
}

#[test]
fn stage_a_flags_change_the_decision() {
    // With the bar at 0.10, main_r50's 0.1162 clears it: PROCEED.
    let (text, code) = run_in(
        &fixtures(),
        &["stage-a", "--stage-a-min-ratio", "0.10", "hz4c"],
    );
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("--stage-a-min-ratio 0.1 "));
    assert!(text.contains("Stage A decision: PROCEED"));
}

#[test]
fn show_golden() {
    let (text, code) = run_in(&fixtures(), &["show", "hz4c/main_r50_run1_hz4c.log"]);
    assert_eq!(code, 0);
    golden("show_main_r50.txt", &text);
}

#[test]
fn stdin_input() {
    let data = std::fs::read(fixture("main_r0")).unwrap();
    let out = bin()
        .args(["show", "--json", "-"])
        .write_stdin(data)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["runs"][0]["lane"], "main_r0");
    assert_eq!(v["runs"][0]["location"]["file"], "-");
}

#[test]
fn gates_golden_and_exit_codes() {
    let d = ab_dir(0.04, 7);
    let (text, code) = run_in(
        d.path(),
        &["gates", "--base", "base.log", "--var", "var.log"],
    );
    assert_eq!(code, 0, "{text}");
    golden("gates_screen.txt", &text);
    let (json, _) = run_in(
        d.path(),
        &[
            "gates", "--json", "--base", "base.log", "--var", "var.log", "--aa", "base.log",
        ],
    );
    golden("gates_screen.json", &json);
    // Replay wants +6 % on main_r0: +4 % fails.
    let (text, code) = run_in(
        d.path(),
        &[
            "gates", "--mode", "replay", "--base", "base.log", "--var", "var.log",
        ],
    );
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("RUNS=21"));
    // The threshold is a flag.
    let (_, code) = run_in(
        d.path(),
        &[
            "gates",
            "--mode",
            "replay",
            "--replay-main-r0",
            "4",
            "--base",
            "base.log",
            "--var",
            "var.log",
        ],
    );
    assert_eq!(code, 0);
    // No lane on both sides: undecided. (A definite failure in one lane
    // would win over missing lanes: exit 1.)
    let (_, code) = run_in(
        &fixtures(),
        &[
            "gates",
            "--allow-stats-timing",
            "--base",
            "hz4c/main_r0_run1_hz4c.log",
            "--var",
            "hz4c/main_r50_run1_hz4c.log",
        ],
    );
    assert_eq!(code, 3);
}

#[test]
fn verdict_golden_and_archive() {
    let d = ab_dir(0.07, 21);
    let args = [
        "verdict",
        "--base",
        "base.log",
        "--var",
        "var.log",
        "--mech",
        "stats.log",
        "--archive",
        "note",
    ];
    let (text, code) = run_in(d.path(), &args);
    assert_eq!(code, 0, "{text}");
    golden("verdict_go.txt", &text);
    let note = std::fs::read_to_string(d.path().join("note/README.md")).unwrap();
    golden("verdict_go_archive.md", &note);
    // +4 % on main_r0 misses the +6 % replay gate: NO-GO, exit 1.
    let d = ab_dir(0.04, 21);
    let (text, code) = run_in(d.path(), &args);
    assert_eq!(code, 1, "{text}");
    golden("verdict_nogo.txt", &text);
    let (json, _) = run_in(d.path(), &[&["--json"][..], &args[..]].concat());
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["verdict"]["decision"], "NO_GO");
}

#[test]
fn mechanism_and_diff() {
    let d = ab_dir(0.07, 1);
    let (text, code) = run_in(d.path(), &["mechanism", "stats.log"]);
    assert_eq!(code, 0, "{text}");
    golden("mechanism.txt", &text);
    let (_, code) = run_in(&fixtures(), &["mechanism", "hz4c"]);
    assert_eq!(code, 3, "no adaptive counters: undecided");
    let (text, code) = run_in(
        &fixtures(),
        &[
            "diff",
            "hz4c/main_r0_run1_hz4c.log",
            "hz4c/main_r0_run1_hz4c.log",
        ],
    );
    assert_eq!(code, 0);
    // Nothing changed: only the throughput row, and a count of the hidden rows.
    assert!(text.contains("| median ops/s "), "{text}");
    assert!(text.contains("unchanged counters hidden"), "{text}");
    assert!(!text.contains("| malloc_calls "), "{text}");
    let (json, _) = run_in(d.path(), &["diff", "--json", "stats.log", "base.log"]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert!(v["diff"]["lanes"]["main_r0"]["malloc_calls"]["b"].is_null());
}

#[test]
fn report_shows_mechanism_when_adaptive_counters_present() {
    let d = ab_dir(0.07, 1);
    let (text, _) = run_in(d.path(), &["stats.log"]);
    assert!(text.contains("== Mechanism GO checks =="), "{text}");
    let (text, _) = run_in(&fixtures(), &["hz4c"]);
    assert!(!text.contains("Mechanism"));
}

#[test]
fn variant_filter() {
    let d = ab_dir(0.07, 2);
    std::fs::write(
        d.path().join("both.log"),
        [
            std::fs::read_to_string(d.path().join("base.log")).unwrap(),
            std::fs::read_to_string(d.path().join("var.log")).unwrap(),
        ]
        .concat(),
    )
    .unwrap();
    let (json, _) = run_in(
        d.path(),
        &["stage-a", "--json", "--variant", "b77", "both.log"],
    );
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["stage_a"]["lanes"]["main_r0"]["runs"], 2);
}

#[test]
fn tracing_verbosity() {
    let out = bin()
        .current_dir(fixtures())
        .args(["-v", "stage-a", "hz4c"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("runs"));
    let out = bin()
        .current_dir(fixtures())
        .env("RUST_LOG", "debug")
        .args(["stage-a", "hz4c"])
        .output()
        .unwrap();
    assert!(!out.stderr.is_empty());
    let out = bin()
        .current_dir(fixtures())
        .args(["stage-a", "hz4c"])
        .output()
        .unwrap();
    assert!(out.stderr.is_empty());
}

#[test]
fn help_and_version() {
    bin().arg("--help").assert().success();
    bin().arg("--version").assert().success();
    bin().args(["gates", "--help"]).assert().success();
}

/// `report` on a lab directory: one table per variant, Stage A only on a
/// Stage A build (none here), mechanism only on var_stats; every line
/// within 120 columns.
#[test]
fn report_per_variant_golden() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let (text, code) = run_in(&root, &["report", "docs/results/b77/screen"]);
    assert_eq!(code, 3, "{text}");
    assert!(
        text.contains("uses: mechanism checks: variant var_stats"),
        "{text}"
    );
    for l in text.lines() {
        assert!(l.chars().count() <= 120, "{l}");
    }
    golden("report_lab_variants.txt", &text);
}

/// `power` on a lab directory whose var is exactly +5 % in every round:
/// centred, the A/A pool is exactly 0 (every answer certain), and a
/// synthetic +2 % passes the +1 % gates and fails main_r0's +6 % under
/// both rules, in every experiment.
#[test]
fn power_on_a_constant_ratio_pool_is_certain() {
    let dir = tempfile::tempdir().unwrap();
    for l in &hz_analyze::lanes::LANES {
        let d = dir.path().join(l.name);
        std::fs::create_dir_all(&d).unwrap();
        for j in 1..=9u64 {
            let b = 1e6 * (1.0 + 0.03 * j as f64);
            write(
                &d,
                &format!("base-run{j:02}.log"),
                &tput(l.name, b, "base", j),
            );
            write(
                &d,
                &format!("var-run{j:02}.log"),
                &tput(l.name, b * 1.05, "var", j),
            );
        }
    }
    let p = dir.path().display().to_string();
    let args = [
        "power",
        "--aa",
        &p,
        "--shift",
        "2",
        "--rounds",
        "7,11",
        "--resamples",
        "200",
        "--format",
        "md",
    ];
    let (out, code) = run_in(dir.path(), &args);
    assert_eq!(code, 0, "{out}");
    for (lane, gate, aa, plant) in [
        ("guard_r0", "-1.0%", "pass", "pass"),
        ("main_r0", "+6.0%", "fail", "fail"),
        ("main_r50", "+1.0%", "fail", "pass"),
        ("cross128_r90", "+1.0%", "fail", "pass"),
    ] {
        assert!(
            out.contains(&format!("| {lane} | aa | 9 | 0.00% | +5.00% |")),
            "{out}"
        );
        for (src, want) in [("aa", aa), ("synthetic +2%", plant)] {
            let cells = if want == "pass" {
                "100.0/0.0 | 100.0 | 100.0/0.0/0.0 | 100.0"
            } else {
                "0.0/100.0 | 100.0 | 0.0/100.0/0.0 | 100.0"
            };
            for n in [7, 11] {
                let row = format!("| {lane} | {src} | {gate} | {want} | {n} | {cells} |");
                assert!(out.contains(&row), "missing {row}\n{out}");
            }
        }
    }
    // Same seed, same output; a bad flag is a usage error.
    assert_eq!(run_in(dir.path(), &args).0, out);
    assert_eq!(run_in(dir.path(), &["power"]).1, 2);
    assert_eq!(
        run_in(dir.path(), &["power", "--aa", &p, "--rounds", "0"]).1,
        2
    );
}
