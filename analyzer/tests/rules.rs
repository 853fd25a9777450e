//! Each rule at, just above and just below its threshold, plus the missing
//! data cases.

mod common;

use common::*;
use hz_analyze::*;

fn runs(specs: &[Spec]) -> Vec<Run> {
    let text: String = specs.iter().map(Spec::text).collect();
    parse_str("synthetic.log", &text, &LoadOptions::default()).unwrap()
}

/// Stage A with main_r50/cross128_r90 gated pops out of 1000 hits and
/// main_r0 at `r0` out of 1000.
fn stage_a_for(r50: u64, r90: u64, r0: u64) -> StageAReport {
    let specs = [
        Spec::new("main_r0").ratio(1000, 0, r0),
        Spec::new("main_r50").ratio(1000, 0, r50),
        Spec::new("cross128_r90").ratio(1000, 0, r90),
        Spec::new("guard_r0").ratio(0, 0, 0),
    ];
    stage_a(&runs(&specs), &StageAOptions::default())
}

#[test]
fn remote_inefficiency_threshold() {
    // 200/1000 = 0.20: at the threshold counts (>=).
    let at = stage_a_for(200, 0, 0);
    assert_eq!(at.criteria[0].status, Status::Pass);
    assert_eq!(at.decision, StageADecision::Proceed);
    // 199/1000 = 0.199 in both remote lanes: below.
    let below = stage_a_for(199, 199, 0);
    assert_eq!(below.criteria[0].status, Status::Fail);
    assert_eq!(below.decision, StageADecision::Stop);
    assert!(below.reasons[0].contains("remote_inefficiency"));
    // 201/1000 = 0.201: above.
    assert_eq!(stage_a_for(201, 0, 0).decision, StageADecision::Proceed);
    // cross128_r90 alone is enough.
    assert_eq!(stage_a_for(0, 200, 0).criteria[0].status, Status::Pass);
}

#[test]
fn separation_threshold() {
    // main_r50 = 400/1000 = 0.4, so main_r0 must be < 0.5 x 0.4 = 0.2.
    // main_r0 = 200/1000 = 0.2: not strictly below -> STOP.
    let at = stage_a_for(400, 0, 200);
    assert_eq!(at.criteria[1].status, Status::Fail);
    assert_eq!(at.decision, StageADecision::Stop);
    // 199/1000 = 0.199 < 0.2 -> PROCEED.
    assert_eq!(stage_a_for(400, 0, 199).decision, StageADecision::Proceed);
    // 201/1000 = 0.201 -> STOP.
    assert_eq!(stage_a_for(400, 0, 201).decision, StageADecision::Stop);
    // main_r50 ratio 0 makes the limit 0: nothing is below it.
    assert_eq!(stage_a_for(0, 300, 0).criteria[1].status, Status::Fail);
}

#[test]
fn custom_thresholds_apply() {
    let r = runs(&[
        Spec::new("main_r0").ratio(1000, 0, 0),
        Spec::new("main_r50").ratio(1000, 0, 150),
        Spec::new("cross128_r90").ratio(1000, 0, 0),
    ]);
    let o = StageAOptions {
        min_ratio: 0.15,
        ..StageAOptions::default()
    };
    assert_eq!(stage_a(&r, &o).decision, StageADecision::Proceed);
    assert_eq!(
        stage_a(&r, &StageAOptions::default()).decision,
        StageADecision::Stop
    );
}

#[test]
fn zero_hit_counts_as_one() {
    // (3 + 0) / max(1, 0) = 3.
    let r = runs(&[Spec::new("main_r50").ratio(0, 3, 0)]);
    let a = stage_a(&r, &StageAOptions::default());
    assert_eq!(a.lanes["main_r50"].ratio, Some(3.0));
}

#[test]
fn pooled_is_sum_over_sum_with_run_min_max() {
    // Runs 10/100 and 90/100: pooled (10+90)/(100+100) = 0.5, not the mean
    // of 0.1 and 0.9 weighted otherwise; min 0.1, max 0.9.
    let r = runs(&[
        Spec::new("main_r50").ratio(100, 4, 6),
        Spec::new("main_r50").ratio(100, 0, 90),
    ]);
    let a = stage_a(&r, &StageAOptions::default());
    let l = &a.lanes["main_r50"];
    assert_eq!(l.ratio, Some(0.5));
    assert_eq!(l.run_ratio_min, Some(0.1));
    assert_eq!(l.run_ratio_max, Some(0.9));
    assert_eq!(l.runs, 2);
}

#[test]
fn missing_lane_is_undecided() {
    let r = runs(&[
        Spec::new("main_r0").ratio(1000, 0, 0),
        Spec::new("main_r50").ratio(1000, 0, 500),
    ]);
    let a = stage_a(&r, &StageAOptions::default());
    assert_eq!(a.decision, StageADecision::Undecided);
    assert!(a
        .reasons
        .iter()
        .any(|x| x.contains("cross128_r90: lane missing")));
}

#[test]
fn missing_b58_line_is_undecided_not_zero() {
    let mut s = Spec::new("main_r50").ratio(1000, 0, 500);
    s.b58_line = false;
    let r = runs(&[
        Spec::new("main_r0"),
        s,
        Spec::new("cross128_r90").ratio(1000, 0, 500),
    ]);
    let a = stage_a(&r, &StageAOptions::default());
    assert_eq!(a.decision, StageADecision::Undecided);
    let why = a.reasons.join(" ");
    assert!(
        why.contains("malloc_owner_local_stack_pop_gated_remote"),
        "{why}"
    );
    // Names the run lacking it: the second run, starting at line 7 (the
    // first run has 6 lines).
    assert!(why.contains("synthetic.log:7"), "{why}");
    assert_eq!(a.lanes["main_r50"].ratio, None);
}

#[test]
fn missing_in_one_run_of_several_is_undecided() {
    let mut s = Spec::new("main_r0");
    s.lock_line = false;
    let r = runs(&[
        Spec::new("main_r0"),
        s,
        Spec::new("main_r50").ratio(1000, 0, 500),
        Spec::new("cross128_r90"),
    ]);
    let a = stage_a(&r, &StageAOptions::default());
    assert_eq!(a.decision, StageADecision::Undecided);
    assert!(a.lanes["main_r0"].missing.contains_key("lock_enter"));
}

fn mech(specs: &[Spec], o: &MechanismOptions) -> MechanismReport {
    mechanism(&runs(specs), o)
}

fn check(m: &MechanismReport, id: &str) -> Status {
    m.checks.iter().find(|c| c.id == id).unwrap().status
}

/// Lanes with 1e6 calls each; `skip` per skip counter, promote and reset
/// counts per lane as (main_r0, main_r50, cross128_r90).
fn mech_for(skip: [u64; 3], promote: u64, reset: [u64; 3]) -> MechanismReport {
    let c = 1_000_000;
    mech(
        &[
            Spec::new("main_r0").adaptive(c, skip[0], promote, reset[0]),
            Spec::new("main_r50").adaptive(c, skip[1], 0, reset[1]),
            Spec::new("cross128_r90").adaptive(c, skip[2], 0, reset[2]),
        ],
        &MechanismOptions::default(),
    )
}

#[test]
fn skip_nonzero_threshold() {
    assert_eq!(
        check(&mech_for([0, 1, 1], 0, [0; 3]), "skip_nonzero"),
        Status::Pass
    );
    assert_eq!(
        check(&mech_for([0, 1, 0], 0, [0; 3]), "skip_nonzero"),
        Status::Fail
    );
    let specs = [
        Spec::new("main_r50").adaptive(10, 2, 0, 0),
        Spec::new("cross128_r90").adaptive(10, 1, 0, 0),
    ];
    let o = MechanismOptions {
        skip_min: 2,
        ..Default::default()
    };
    // cross128_r90 at 1 < 2 fails; main_r50 at 2 passes.
    let m = mech(&specs, &o);
    assert_eq!(check(&m, "skip_nonzero"), Status::Fail);
    assert!(m.checks[0].detail.contains("cross128_r90"));
    assert!(!m.checks[0].detail.contains("main_r50"));
}

#[test]
fn hot_promote_threshold() {
    // 500000 / 1e6 = 0.5 at threshold.
    assert_eq!(
        check(&mech_for([0; 3], 500_000, [0; 3]), "hot_promote_high"),
        Status::Pass
    );
    assert_eq!(
        check(&mech_for([0; 3], 499_999, [0; 3]), "hot_promote_high"),
        Status::Fail
    );
    assert_eq!(
        check(&mech_for([0; 3], 500_001, [0; 3]), "hot_promote_high"),
        Status::Pass
    );
}

#[test]
fn hot_reset_threshold() {
    // main_r0 10 per million; remote lanes need >= 2 x 10 = 20.
    assert_eq!(
        check(&mech_for([0; 3], 0, [10, 20, 20]), "hot_reset_higher"),
        Status::Pass
    );
    assert_eq!(
        check(&mech_for([0; 3], 0, [10, 19, 30]), "hot_reset_higher"),
        Status::Fail
    );
    assert_eq!(
        check(&mech_for([0; 3], 0, [10, 21, 21]), "hot_reset_higher"),
        Status::Pass
    );
    // All zero: 0 >= 2 x 0, but the rate must also be > 0.
    assert_eq!(
        check(&mech_for([0; 3], 0, [0, 0, 0]), "hot_reset_higher"),
        Status::Fail
    );
    assert_eq!(
        check(&mech_for([0; 3], 0, [0, 1, 1]), "hot_reset_higher"),
        Status::Pass
    );
}

#[test]
fn lane_separation_threshold() {
    // Skip rates 100:150:120 (spread exactly 1.5) and equal reset rates:
    // every lane similar -> fail.
    let m = mech_for([100, 150, 120], 0, [100, 100, 100]);
    assert_eq!(check(&m, "lane_separation"), Status::Fail);
    // Skip spread 1.49 -> still similar.
    assert_eq!(
        check(
            &mech_for([100, 149, 120], 0, [100, 100, 100]),
            "lane_separation"
        ),
        Status::Fail
    );
    // Skip spread 1.51 -> separated.
    assert_eq!(
        check(
            &mech_for([100, 151, 120], 0, [100, 100, 100]),
            "lane_separation"
        ),
        Status::Pass
    );
    // Reset spread alone can separate; a zero rate beside a positive one is
    // unbounded.
    assert_eq!(
        check(
            &mech_for([100, 100, 100], 0, [0, 50, 50]),
            "lane_separation"
        ),
        Status::Pass
    );
    // All zero: identical profiles.
    assert_eq!(
        check(&mech_for([0; 3], 0, [0; 3]), "lane_separation"),
        Status::Fail
    );
}

#[test]
fn mechanism_undecided_without_counters() {
    let m = mech(
        &[Spec::new("main_r0"), Spec::new("main_r50")],
        &Default::default(),
    );
    assert!(!m.adaptive_present);
    assert!(m.checks.iter().all(|c| c.status == Status::Undecided));
}

fn tputs(lane: &'static str, ops: &[f64], variant: &'static str) -> Vec<Run> {
    let text: String = ops
        .iter()
        .enumerate()
        .map(|(i, &o)| tput(lane, o, variant, i as u64))
        .collect();
    parse_str("ab.log", &text, &LoadOptions::default()).unwrap()
}

fn all_lanes(base: f64, var: [f64; 4], n: usize) -> (Vec<Run>, Vec<Run>) {
    let mut b = Vec::new();
    let mut v = Vec::new();
    for (i, l) in LANES.iter().enumerate() {
        b.extend(tputs(l.name, &vec![base; n], "base"));
        v.extend(tputs(l.name, &vec![var[i]; n], "var"));
    }
    (b, v)
}

fn gate(var: [f64; 4], mode: Mode) -> GateReport {
    let (b, v) = all_lanes(100.0, var, 7);
    let o = GateOptions {
        mode,
        ..GateOptions::default()
    };
    gates(&b, &v, None, &o)
}

#[test]
fn screen_gates_thresholds() {
    // guard_r0 -1 %, main_r0 +3 %, main_r50 +1 %, cross128_r90 +1 %.
    let at = gate([99.0, 103.0, 101.0, 101.0], Mode::Screen);
    assert_eq!(at.status, Status::Pass, "{:#?}", at.lanes);
    let below = gate([98.99, 102.99, 100.99, 100.99], Mode::Screen);
    for l in ["guard_r0", "main_r0", "main_r50", "cross128_r90"] {
        assert_eq!(below.lanes[l].status, Status::Fail, "{l}");
    }
    let above = gate([99.01, 103.01, 101.01, 101.01], Mode::Screen);
    assert_eq!(above.status, Status::Pass);
}

#[test]
fn replay_gates_thresholds() {
    let at = gate([99.0, 106.0, 101.0, 101.0], Mode::Replay);
    assert_eq!(at.lanes["main_r0"].status, Status::Pass);
    let below = gate([99.0, 105.99, 101.0, 101.0], Mode::Replay);
    assert_eq!(below.lanes["main_r0"].status, Status::Fail);
    assert_eq!(below.status, Status::Fail);
    let above = gate([99.0, 106.01, 101.0, 101.0], Mode::Replay);
    assert_eq!(above.status, Status::Pass);
    // 7 runs per side: replay asks for 21.
    assert!(at.warnings.iter().any(|w| w.contains("RUNS=21")));
}

#[test]
fn change_is_ratio_of_medians() {
    // base median 100 (of 90, 100, 400), var median 105 (of 1, 105, 106).
    let b = tputs("main_r0", &[90.0, 100.0, 400.0], "base");
    let v = tputs("main_r0", &[1.0, 105.0, 106.0], "var");
    let g = gates(&b, &v, None, &GateOptions::default());
    let l = &g.lanes["main_r0"];
    assert_eq!(l.base_median, Some(100.0));
    assert_eq!(l.var_median, Some(105.0));
    assert!((l.change_pct.unwrap() - 5.0).abs() < 1e-9);
    assert_eq!(l.status, Status::Pass);
    // Other lanes have no runs: undecided, so the whole set is undecided.
    assert_eq!(g.lanes["guard_r0"].status, Status::Undecided);
    assert_eq!(g.status, Status::Undecided);
}

#[test]
fn bootstrap_ci_and_noise() {
    let b = tputs(
        "main_r0",
        &[95.0, 100.0, 105.0, 98.0, 102.0, 97.0, 103.0],
        "base",
    );
    let v = tputs(
        "main_r0",
        &[96.0, 101.0, 106.0, 99.0, 103.0, 98.0, 104.0],
        "var",
    );
    let g = gates(&b, &v, None, &GateOptions::default());
    let l = &g.lanes["main_r0"];
    let (lo, hi) = (l.ci_low_pct.unwrap(), l.ci_high_pct.unwrap());
    assert!(lo < 0.0 && hi > 3.0, "[{lo}, {hi}]");
    assert!(l.within_noise);
    assert!(l.detail.contains("within noise"));
    // Reproducible: same seed, same interval.
    let again = gates(&b, &v, None, &GateOptions::default());
    assert_eq!(again.lanes["main_r0"].ci_low_pct, Some(lo));
    // Constant sets: the interval is a point, never "within noise".
    let g = gate([99.0, 103.0, 101.0, 101.0], Mode::Screen);
    assert_eq!(
        g.lanes["main_r0"].ci_low_pct,
        g.lanes["main_r0"].ci_high_pct
    );
    assert!(!g.lanes["main_r0"].within_noise);
}

#[test]
fn aa_noise_floor() {
    let (b, v) = all_lanes(100.0, [100.0; 4], 7);
    let aa = tputs("main_r0", &[95.0, 100.0, 105.0, 98.0, 102.0], "aa");
    let g = gates(&b, &v, Some(&aa), &GateOptions::default());
    let n = g.lanes["main_r0"].aa_noise_pct.unwrap();
    assert!(n > 0.0 && n < 15.0, "{n}");
    assert_eq!(g.lanes["main_r50"].aa_noise_pct, None);
}

#[test]
fn zero_base_median_is_undecided() {
    let b = tputs("main_r0", &[0.0, 0.0, 0.0], "base");
    let v = tputs("main_r0", &[5.0, 5.0, 5.0], "var");
    let g = gates(&b, &v, None, &GateOptions::default());
    assert_eq!(g.lanes["main_r0"].status, Status::Undecided);
    assert_eq!(g.lanes["main_r0"].change_pct, None);
}

fn unstable(extra_line: &str) -> GateReport {
    let (mut b, v) = all_lanes(100.0, [100.0, 110.0, 102.0, 102.0], 7);
    let text = format!("{}{extra_line}\n", tput("main_r0", 100.0, "base", 99));
    b.extend(parse_str("crash.log", &text, &LoadOptions::default()).unwrap());
    gates(&b, &v, None, &GateOptions::default())
}

#[test]
fn stability() {
    assert_eq!(unstable("").stability.status, Status::Pass);
    assert_eq!(unstable("").status, Status::Pass);
    for line in [
        "thread 'main' panicked at src/x.rs:1:1",
        "hz4_mid.c:10: Assertion `x' failed.",
        "Aborted (core dumped)",
        "Segmentation fault",
        "hz4: fatal: out of segments",
        "debug_assert tripped",
    ] {
        let g = unstable(line);
        assert_eq!(g.stability.status, Status::Fail, "{line}");
        assert_eq!(g.status, Status::Fail, "{line}");
        assert_eq!(g.stability.base_unstable_runs, 1);
        assert!(g.stability.failures[0]
            .location
            .to_string()
            .starts_with("crash.log:"));
    }
    // Non-zero allocation failures.
    let mut s = Spec::new("main_r0");
    s.alloc_failures = 3;
    let r = runs(&[s]);
    assert_eq!(r[0].instabilities()[0].kind, InstabilityKind::AllocFailures);
    let (b, v) = all_lanes(100.0, [100.0, 110.0, 102.0, 102.0], 7);
    let g = gates(&b, &[v, r].concat(), None, &GateOptions::default());
    assert_eq!(g.stability.var_unstable_runs, 1);
    assert_eq!(g.status, Status::Fail);
    // A run without a throughput line is a crash.
    let text = "[BENCH_ARGS] threads=16 iters=1 ws=400 min=16 max=32768 remote_pct=0 ring_slots=65536\n[HZ4_MID_STATS_B1] malloc_calls=1\n";
    let crashed = parse_str("nothru.log", text, &LoadOptions::default()).unwrap();
    assert_eq!(
        crashed[0].instabilities()[0].kind,
        InstabilityKind::NoThroughput
    );
}

fn verdict_for(var: [f64; 4], skip: [u64; 3], mode: Mode) -> VerdictReport {
    let (b, v) = all_lanes(100.0, var, 21);
    let g = gates(
        &b,
        &v,
        None,
        &GateOptions {
            mode,
            ..Default::default()
        },
    );
    let c = 1_000_000;
    let m = mechanism(
        &runs(&[
            Spec::new("main_r0").adaptive(c, skip[0], 770_000, 10),
            Spec::new("main_r50").adaptive(c, skip[1], 100_000, 500),
            Spec::new("cross128_r90").adaptive(c, skip[2], 50_000, 900),
        ]),
        &MechanismOptions::default(),
    );
    verdict(&g, &m)
}

#[test]
fn verdict_go_and_no_go() {
    let go = verdict_for([99.5, 107.0, 102.0, 102.0], [10, 5000, 9000], Mode::Replay);
    assert_eq!(go.decision, VerdictDecision::Go, "{go:#?}");
    // guard_r0 at -1.5 %: a replay gate failure and the guard NO-GO item.
    let nogo = verdict_for([98.5, 107.0, 102.0, 102.0], [10, 5000, 9000], Mode::Replay);
    assert_eq!(nogo.decision, VerdictDecision::NoGo);
    assert!(nogo
        .reasons
        .iter()
        .any(|r| r.starts_with("Any replay gate failure: guard_r0")));
    assert!(nogo
        .reasons
        .iter()
        .any(|r| r.starts_with("Significant guard_r0 regression")));
    // Similar skip profiles but resets still separate: separation holds.
    let sep = verdict_for(
        [99.5, 107.0, 102.0, 102.0],
        [5000, 5000, 5000],
        Mode::Replay,
    );
    assert_eq!(sep.decision, VerdictDecision::Go);
    // Screen mode cannot give a verdict.
    let scr = verdict_for([99.5, 107.0, 102.0, 102.0], [10, 5000, 9000], Mode::Screen);
    assert_eq!(scr.decision, VerdictDecision::Undecided);
}

#[test]
fn verdict_lists_lane_separation() {
    let (b, v) = all_lanes(100.0, [100.0, 107.0, 102.0, 102.0], 21);
    let g = gates(&b, &v, None, &GateOptions::replay());
    let c = 1_000_000;
    let m = mechanism(
        &runs(&[
            Spec::new("main_r0").adaptive(c, 100, 770_000, 100),
            Spec::new("main_r50").adaptive(c, 100, 0, 100),
            Spec::new("cross128_r90").adaptive(c, 100, 0, 100),
        ]),
        &MechanismOptions::default(),
    );
    let v = verdict(&g, &m);
    assert_eq!(v.decision, VerdictDecision::NoGo);
    assert!(
        v.reasons.iter().any(|r| r.contains("no lane separation")),
        "{v:#?}"
    );
    assert!(v.reasons.iter().any(|r| r.contains("hot_reset_higher")));
}
