//! Property tests: random and mutated logs never panic; splitting or merging
//! runs across files gives the same pooled ratios.

mod common;

use common::*;
use hz_analyze::*;
use proptest::prelude::*;

/// Runs every stage and renderer on whatever parsed.
fn exercise(runs: &[Run]) {
    let a = stage_a(runs, &StageAOptions::default());
    let m = mechanism(runs, &MechanismOptions::default());
    let (half_a, half_b) = runs.split_at(runs.len() / 2);
    let g = gates(half_a, half_b, Some(runs), &GateOptions::replay());
    let v = verdict(&g, &m);
    let doc = Document {
        tool: "hz-analyze".into(),
        command: "test".into(),
        summary: Some(summarize(runs)),
        stage_a: Some(a),
        mechanism: Some(m),
        gates: Some(g),
        verdict: Some(v),
        runs: Some(runs.to_vec()),
        diff: Some(diff(&summarize(half_a), &summarize(half_b))),
        ..Document::default()
    };
    let _ = render_text(&doc);
    let _ = render_markdown(&doc);
    let j = render_json(&doc);
    assert!(serde_json::from_str::<serde_json::Value>(&j).is_ok());
}

fn fixture_text() -> String {
    ["guard_r0", "main_r0", "main_r50", "cross128_r90"]
        .iter()
        .map(|l| std::fs::read_to_string(fixture(l)).unwrap())
        .collect()
}

#[derive(Debug, Clone)]
enum Mutation {
    Delete(usize, usize),
    Insert(usize, Vec<u8>),
    Truncate(usize),
    DupLine(usize),
    SwapLines(usize, usize),
    Flip(usize, u8),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 0usize..64).prop_map(|(a, n)| Mutation::Delete(a, n)),
        (
            any::<usize>(),
            prop_oneof![
                proptest::collection::vec(any::<u8>(), 0..16),
                Just(b"=".to_vec()),
                Just(b"\n".to_vec()),
                Just(b" x=1".to_vec()),
                Just(b"[BENCH_ARGS] ".to_vec()),
                Just(b"[HZ_LANE] name=main_r0\n".to_vec()),
                Just(b"99999999999999999999999".to_vec()),
                Just(b"Segmentation fault\n".to_vec()),
            ]
        )
            .prop_map(|(a, b)| Mutation::Insert(a, b)),
        any::<usize>().prop_map(Mutation::Truncate),
        any::<usize>().prop_map(Mutation::DupLine),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::SwapLines(a, b)),
        (any::<usize>(), any::<u8>()).prop_map(|(a, b)| Mutation::Flip(a, b)),
    ]
}

fn apply(mut b: Vec<u8>, m: &Mutation) -> Vec<u8> {
    let n = b.len().max(1);
    match m {
        Mutation::Delete(a, k) => {
            let a = a % n;
            let e = (a + k).min(b.len());
            if a < e {
                b.drain(a..e);
            }
        }
        Mutation::Insert(a, x) => {
            let a = a % (b.len() + 1);
            b.splice(a..a, x.iter().copied());
        }
        Mutation::Truncate(a) => b.truncate(a % n),
        Mutation::Flip(a, x) => {
            if !b.is_empty() {
                let i = a % b.len();
                b[i] = *x;
            }
        }
        Mutation::DupLine(a) | Mutation::SwapLines(a, _) => {
            let mut lines: Vec<Vec<u8>> = b.split(|&c| c == b'\n').map(|l| l.to_vec()).collect();
            let i = a % lines.len();
            if let Mutation::SwapLines(_, j) = m {
                let j = j % lines.len();
                lines.swap(i, j);
            } else {
                let l = lines[i].clone();
                lines.insert(i, l);
            }
            b = lines.join(&b'\n');
        }
    }
    b
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, .. ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        if let Ok(runs) = parse_bytes("rand.log", &bytes, &LoadOptions::default()) {
            exercise(&runs);
        }
    }

    #[test]
    fn random_lines_never_panic(lines in proptest::collection::vec(
        prop_oneof![
            "\\[HZ4_MID_STATS_B1\\]( [a-z_]{1,12}=[0-9]{0,21}){0,5}",
            "\\[HZ4_MID_LOCK_STATS\\]( [a-z_]{1,8}=[0-9a-z]{0,4}){0,3}",
            "\\[BENCH_ARGS\\]( (threads|iters|ws|min|max|remote_pct|ring_slots)=[0-9]{1,6}){0,8}",
            "\\[HZ_LANE\\]( (name|variant|run)=[a-z0-9_]{0,10}){0,3}",
            "bench_random_mixed_mt_remote:( (ops/s|time|ops|threads)=[0-9.e-]{0,8}){0,4}",
            "\\[ALLOC_FAILURES\\]( count=[0-9]{0,3})?",
            "\\[HZ4_BUILD\\]( [A-Z_=0-9]{0,10}){0,3}",
            "\\[EFFECTIVE_REMOTE\\]( [a-z]{1,5}=[0-9.]{1,4}){0,3}",
            ".{0,40}",
        ],
        0..40,
    )) {
        let text = lines.join("\n");
        if let Ok(runs) = parse_str("main_r0_rand.log", &text, &LoadOptions::default()) {
            exercise(&runs);
        }
    }

    #[test]
    fn mutated_fixtures_never_panic(ms in proptest::collection::vec(mutation(), 1..6)) {
        let mut b = fixture_text().into_bytes();
        for m in &ms {
            b = apply(b, m);
        }
        if let Ok(runs) = parse_bytes("mut.log", &b, &LoadOptions::default()) {
            exercise(&runs);
        }
    }
}

fn spec_strategy() -> impl Strategy<Value = Spec> {
    (0usize..4, 0u64..5000, 0u64..500, 0u64..500, 1.0f64..1e8)
        .prop_map(|(l, h, s, g, o)| Spec::new(LANES[l].name).ratio(h, s, g).ops(o))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, .. ProptestConfig::default() })]

    /// Pooled ratios do not depend on how runs are spread over files.
    #[test]
    fn split_and_merge_give_same_pooled_ratios(
        specs in proptest::collection::vec(spec_strategy(), 1..24),
        cuts in proptest::collection::vec(any::<usize>(), 0..5),
    ) {
        let texts: Vec<String> = specs.iter().map(Spec::text).collect();
        let whole = parse_str("all.log", &texts.concat(), &LoadOptions::default()).unwrap();
        let mut idx: Vec<usize> = cuts.iter().map(|c| c % (texts.len() + 1)).collect();
        idx.push(0);
        idx.push(texts.len());
        idx.sort();
        idx.dedup();
        let mut pieces = Vec::new();
        for (k, w) in idx.windows(2).enumerate() {
            let t = texts[w[0]..w[1]].concat();
            pieces.extend(parse_str(&format!("part{k}.log"), &t, &LoadOptions::default()).unwrap());
        }
        prop_assert_eq!(whole.len(), specs.len());
        prop_assert_eq!(pieces.len(), specs.len());
        let a = stage_a(&whole, &StageAOptions::default());
        let b = stage_a(&pieces, &StageAOptions::default());
        for (lane, la) in &a.lanes {
            let lb = &b.lanes[lane];
            prop_assert_eq!(la.numerator, lb.numerator);
            prop_assert_eq!(la.hit, lb.hit);
            prop_assert_eq!(la.ratio, lb.ratio);
            prop_assert_eq!(la.run_ratio_min, lb.run_ratio_min);
            prop_assert_eq!(la.run_ratio_max, lb.run_ratio_max);
        }
        prop_assert_eq!(a.decision, b.decision);
        // And the streaming path over real files agrees.
        let dir = tempfile::tempdir().unwrap();
        let mut paths = Vec::new();
        for (k, w) in idx.windows(2).enumerate() {
            paths.push(write(dir.path(), &format!("p{k}.log"), &texts[w[0]..w[1]].concat()));
        }
        let paths: Vec<String> = paths.into_iter().filter(|p| {
            std::fs::metadata(p).map(|m| m.len() > 0).unwrap_or(false)
        }).collect();
        let s = summarize_inputs(&paths, &LoadOptions::default()).unwrap();
        let c = stage_a_summary(&s, &StageAOptions::default());
        for (lane, la) in &a.lanes {
            prop_assert_eq!(la.ratio, c.lanes[lane].ratio);
        }
    }
}
