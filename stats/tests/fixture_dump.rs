//! Byte-exact dump formatting against the reference C allocator's logs.
//!
//! Each test loads a fixture's counter values into the global statics,
//! formats a dump and compares it line by line with the fixture. The
//! statics are process-wide, so the tests in this binary take `LOCK_GLOBALS`.

use std::path::PathBuf;
use std::sync::Mutex;

use hz4_stats::{
    dump_with, field, reset_all, AtShard, CountSink, DumpConfig, Key, Kind, Line, OwnerBlock, KEYS,
};

static LOCK_GLOBALS: Mutex<()> = Mutex::new(());

fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures/hz4c")
}

fn fixture(name: &str) -> String {
    let p = fixture_dir().join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// The fixture's stats lines (our tags only), in file order.
fn stats_lines(text: &str) -> Vec<&str> {
    text.lines()
        .filter(|l| l.starts_with("[HZ4_MID_STATS_B1] ") || l.starts_with("[HZ4_MID_LOCK_STATS] "))
        .collect()
}

/// Stores every `key=value` of the stats lines into the statics.
fn load_values(lines: &[&str]) -> usize {
    reset_all();
    let mut n = 0;
    for line in lines {
        for kv in line.split(' ').skip(1) {
            let (k, v) = kv.split_once('=').expect("key=value");
            let f = field(k).unwrap_or_else(|| panic!("fixture key {k} unknown to hz4-stats"));
            f.set(v.parse().expect("u64 value"));
            n += 1;
        }
    }
    n
}

fn render(cfg: &DumpConfig) -> Vec<String> {
    let mut out = Vec::new();
    dump_with(cfg, &mut |l| {
        assert_eq!(
            l.last(),
            Some(&b'\n'),
            "every emitted chunk is one full line"
        );
        out.push(String::from_utf8(l[..l.len() - 1].to_vec()).unwrap());
    });
    out
}

/// The reference build behind the fixtures: B58 on, B77 off, lock-time
/// stats on, reservation supply on.
const FIXTURE_CFG: DumpConfig = DumpConfig {
    b58: true,
    b77: false,
    lock_stats: true,
    supply: true,
    mem: false,
    build_line: None,
};

fn check_fixture(name: &str) {
    let text = fixture(name);
    let want = stats_lines(&text);
    assert_eq!(want.len(), 4, "{name}: expected 4 stats lines");
    let n = load_values(&want);
    let mem_keys = KEYS.iter().filter(|k| k.line == Line::Mem).count();
    assert_eq!(mem_keys, 7);
    assert_eq!(
        n,
        KEYS.len() - 6 - mem_keys,
        "{name}: every key but the six B77 ones and hz4's own memory line"
    );
    let got = render(&FIXTURE_CFG);
    assert_eq!(got.len(), want.len(), "{name}");
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert_eq!(
            g.as_bytes(),
            w.as_bytes(),
            "{name}: stats line {} differs",
            i + 1
        );
    }
}

#[test]
fn main_r50_is_byte_exact() {
    let _g = LOCK_GLOBALS.lock().unwrap_or_else(|e| e.into_inner());
    check_fixture("main_r50_run1_hz4c.log");
}

#[test]
fn all_fixtures_are_byte_exact() {
    let _g = LOCK_GLOBALS.lock().unwrap_or_else(|e| e.into_inner());
    for name in [
        "guard_r0_run1_hz4c.log",
        "main_r0_run1_hz4c.log",
        "main_r50_run1_hz4c.log",
        "cross128_r90_run1_hz4c.log",
    ] {
        check_fixture(name);
    }
}

#[test]
fn optional_lines_follow_the_config() {
    let _g = LOCK_GLOBALS.lock().unwrap_or_else(|e| e.into_inner());
    let text = fixture("main_r50_run1_hz4c.log");
    let want = stats_lines(&text);
    load_values(&want);
    for (i, k) in KEYS.iter().filter(|k| k.line == Line::B77).enumerate() {
        field(k.key).unwrap().set(100 + i as u64);
    }

    // B77 goes right after the B58 line and before the lock line.
    let all = DumpConfig {
        b77: true,
        build_line: Some("[HZ4_BUILD] knobs=test"),
        ..FIXTURE_CFG
    };
    let got = render(&all);
    assert_eq!(got.len(), 6);
    assert_eq!(got[0], "[HZ4_BUILD] knobs=test");
    assert_eq!(got[1], want[0]);
    assert_eq!(got[2], want[1]);
    assert_eq!(
        got[3],
        "[HZ4_MID_STATS_B1] malloc_owner_local_stack_adaptive_push_skip_cold=100 \
         malloc_owner_local_stack_adaptive_push_skip_cooldown=101 \
         malloc_owner_local_stack_adaptive_hot_promote=102 \
         malloc_owner_local_stack_adaptive_hot_reset=103 \
         free_owner_local_stack_adaptive_push_skip_cold=104 \
         free_owner_local_stack_adaptive_push_skip_cooldown=105"
    );
    assert_eq!(got[4], want[2]);
    assert_eq!(got[5], want[3]);

    // B77 without B58.
    let b77_only = DumpConfig {
        b58: false,
        b77: true,
        ..FIXTURE_CFG
    };
    let got = render(&b77_only);
    assert_eq!(got.len(), 4);
    assert!(got[1]
        .starts_with("[HZ4_MID_STATS_B1] malloc_owner_local_stack_adaptive_push_skip_cold=100 "));

    // Minimal: only line 1.
    let got = render(&DumpConfig::default());
    assert_eq!(got, [want[0]]);
}

#[test]
fn sharded_sums_and_maxima_show_in_the_dump() {
    let _g = LOCK_GLOBALS.lock().unwrap_or_else(|e| e.into_inner());
    reset_all();
    // 150 on the static shards, 50 in two owner blocks.
    static BLOCKS: [OwnerBlock; 2] = [OwnerBlock::new(), OwnerBlock::new()];
    for b in &BLOCKS {
        b.link();
    }
    for shard in 0..200 {
        if shard < 150 {
            hz4_stats::MID.malloc_calls.inc(shard);
        } else {
            BLOCKS[shard % 2].add(Key::malloc_calls, 1);
        }
        hz4_stats::LOCK.lock_hold_ns_max.record(shard as u64);
    }
    AtShard(3).on_lock_wait_sample(999, 256);
    let cfg = DumpConfig {
        lock_stats: true,
        ..DumpConfig::default()
    };
    let got = render(&cfg);
    assert!(got[0].starts_with("[HZ4_MID_STATS_B1] malloc_calls=200 malloc_obj_cache_hit=0 "));
    assert!(got[1].starts_with(
        "[HZ4_MID_LOCK_STATS] lock_enter=0 lock_wait_samples=1 lock_wait_ns_sum=999 \
         lock_wait_ns_max=999 lock_contended_samples=1 lock_hold_samples=0 lock_hold_ns_sum=0 \
         lock_hold_ns_max=199 "
    ));
    reset_all();
    let got = render(&cfg);
    assert!(got
        .iter()
        .all(|l| l.split(' ').skip(1).all(|kv| kv.ends_with("=0"))));
}

/// docs/counters.md must list exactly the keys of `KEYS`, in order, with
/// their kind (the "incremented at" column is free text).
#[test]
fn docs_table_lists_every_key() {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/counters.md");
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    let rows: Vec<(String, String)> = text
        .lines()
        .filter(|l| l.starts_with('|'))
        .filter_map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            // | line | key | kind | meaning | incremented at |
            let key = cells.get(2)?.trim_matches('`');
            let kind = cells.get(3)?;
            (*kind == "counter" || *kind == "max").then(|| (key.to_string(), kind.to_string()))
        })
        .collect();
    let want: Vec<(String, String)> = KEYS
        .iter()
        .map(|k| (k.key.to_string(), k.kind.name().to_string()))
        .collect();
    assert_eq!(
        rows, want,
        "docs/counters.md table out of sync with stats/src/fields.rs"
    );
    assert!(KEYS.iter().any(|k| k.kind == Kind::Max));
}
