//! The reference allocator's real logs (`fixtures/hz4c/` at the workspace root): Stage A
//! must equal the hand computation below.

mod common;

use common::*;
use hz_analyze::*;

fn close(a: f64, b: f64) {
    assert!((a - b).abs() < 1e-12, "{a} != {b}");
}

#[test]
fn stage_a_equals_hand_computation() {
    let dir = hz4c().display().to_string();
    let s = summarize_inputs(&[dir], &LoadOptions::default()).unwrap();
    let r = stage_a_summary(&s, &StageAOptions::default());
    let ratio = |l: &str| r.lanes[l].ratio.unwrap();

    // main_r50: (stale_remote 0 + pop_gated_remote 61098) / max(1, hit 525939)
    //         = 61098 / 525939 = 0.11616936564886803
    close(ratio("main_r50"), 61098.0 / 525939.0);
    close(ratio("main_r50"), 0.116_169_365_648_868);
    assert_eq!(r.lanes["main_r50"].numerator, Some(61098));
    assert_eq!(r.lanes["main_r50"].hit, Some(525939));
    // cross128_r90: (0 + 4373) / 25693 = 0.1702020005448955
    close(ratio("cross128_r90"), 0.170_202_000_544_895_5);
    // main_r0: (0 + 2431) / 6944494 = 0.000350061501961122
    close(ratio("main_r0"), 0.000_350_061_501_961_122);
    // guard_r0: (0 + 0) / max(1, 0) = 0 / 1 = 0
    close(ratio("guard_r0"), 0.0);
    assert_eq!(r.lanes["guard_r0"].hit, Some(0));

    // Criterion 1: 0.1162 < 0.20 and 0.1702 < 0.20 -> fails.
    // Criterion 2: 0.000350 < 0.5 x 0.1162 = 0.0581 -> holds.
    // One criterion fails -> STOP.
    assert_eq!(r.criteria[0].id, "remote_inefficiency");
    assert_eq!(r.criteria[0].status, Status::Fail);
    assert_eq!(r.criteria[1].id, "local_remote_separation");
    assert_eq!(r.criteria[1].status, Status::Pass);
    assert_eq!(r.decision, StageADecision::Stop);

    // One run per lane: per-run min = max = pooled.
    for l in ["main_r0", "main_r50", "cross128_r90", "guard_r0"] {
        assert_eq!(r.lanes[l].runs, 1);
        assert_eq!(r.lanes[l].run_ratio_min, r.lanes[l].ratio);
        assert_eq!(r.lanes[l].run_ratio_max, r.lanes[l].ratio);
        assert!(
            r.lanes[l].missing.is_empty(),
            "{l}: {:?}",
            r.lanes[l].missing
        );
    }
    // The required counters are shown as read: main_r50's lock_enter.
    assert_eq!(r.lanes["main_r50"].counters["lock_enter"], Some(682742));
    assert_eq!(
        r.lanes["cross128_r90"].counters["free_owner_remote"],
        Some(380980)
    );
}

#[test]
fn lanes_come_from_bench_args() {
    let runs = load_runs(&[hz4c().display().to_string()], &LoadOptions::default()).unwrap();
    assert_eq!(runs.len(), 4);
    for r in &runs {
        assert_eq!(r.lane_source, LaneSource::BenchArgs, "{}", r.location);
        assert!(r.location.file.contains(&r.lane));
        assert_eq!(r.location.line, 1);
        assert_eq!(r.alloc_failures, Some(0));
        assert!(r.instabilities().is_empty());
    }
    let r50 = runs.iter().find(|r| r.lane == "main_r50").unwrap();
    assert_eq!(r50.throughput.as_ref().unwrap().ops_per_sec, 7699476.68);
    // Unknown keys are kept: supply_resv_* are not used by any rule.
    assert_eq!(r50.counters["supply_resv_pages"], 23580);
    // The lock line and the B1 lines are merged into one run.
    assert_eq!(r50.counters["lock_wait_ns_max"], 14284513);
    assert_eq!(r50.counters.len(), 40 + 2 + 18 + 4);
}

#[test]
fn stage_a_from_runs_equals_streaming() {
    let dir = hz4c().display().to_string();
    let runs = load_runs(std::slice::from_ref(&dir), &LoadOptions::default()).unwrap();
    let a = stage_a(&runs, &StageAOptions::default());
    let s = summarize_inputs(&[dir], &LoadOptions::default()).unwrap();
    let b = stage_a_summary(&s, &StageAOptions::default());
    assert_eq!(a, b);
}

#[test]
fn fixtures_have_no_adaptive_counters() {
    let runs = load_runs(&[hz4c().display().to_string()], &LoadOptions::default()).unwrap();
    let m = mechanism(&runs, &MechanismOptions::default());
    assert!(!m.adaptive_present);
    assert_eq!(m.status, Status::Undecided);
}

#[test]
fn file_name_rule_when_bench_args_absent() {
    // Drop [BENCH_ARGS]: the lane must come from the file name.
    let text = std::fs::read_to_string(fixture("main_r0")).unwrap();
    let body: String = text
        .lines()
        .filter(|l| !l.starts_with("[BENCH_ARGS]"))
        .map(|l| format!("{l}\n"))
        .collect();
    let runs = parse_str("main_r0_noargs.log", &body, &LoadOptions::default()).unwrap();
    assert_eq!(runs[0].lane, "main_r0");
    assert_eq!(runs[0].lane_source, LaneSource::FileName);
}
