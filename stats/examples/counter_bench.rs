//! Micro-benchmark: cost of one counter increment from 1, 2 and 16 threads,
//! sharded vs one shared atomic (issue 4, "Overhead").
//!
//! `cargo run --release -p hz4-stats --example counter_bench [runs] [total]`
//!
//! Each configuration performs `total` increments (default 16 Mi) split
//! evenly over the threads, which start together on a barrier; the wall
//! time is from the first thread's start to the last thread's end, each
//! thread stamping its own times. Reported per
//! configuration, median over `runs` (default 7) rounds, each round running
//! every variant once (interleaved):
//! - `wall ns/inc` = wall time / total increments (inverse throughput);
//! - `core ns/inc` = wall time × min(threads, CPUs) / total increments, the
//!   CPU time one increment costs the core running it.
//!
//! Variants:
//! - `block`: `OwnerBlock::add(key, 1)` on a block of the thread's own —
//!   what the allocator does (its heap holds the block): one plain add;
//! - `owned`: `ShardedCounter::add_owned(slot, 1)`, slot claimed once per
//!   thread with `claim_shard()` (a plain load and store on the static
//!   shards, after a bound check of the slot);
//! - `sharded`: `ShardedCounter::inc(shard)`, shard taken once per thread
//!   from `next_shard()` (an atomic add on the thread's own line);
//! - `sharded_here`: `ShardedCounter::inc_here()` (thread-local lookup per
//!   increment);
//! - `shared_u64`: one `AtomicU64`, `fetch_add(1, Relaxed)` — what the
//!   reference C allocator does;
//! - `shared_rc`: one `atomic_counter::RelaxedCounter` (same operation
//!   through the crate, for reference);
//! - `max_record`: `MaxCounter::record` of pseudo-random values (load, then
//!   fetch_max only for a new maximum);
//! - `max_fetch`: one `AtomicU64`, `fetch_max` on every value.

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use atomic_counter::{AtomicCounter, RelaxedCounter};
use hz4_stats::{
    claim_shard, next_shard, release_shard, Key, MaxCounter, OwnerBlock, ShardedCounter,
};

static SHARDED: ShardedCounter = ShardedCounter::new();
static SHARED: AtomicU64 = AtomicU64::new(0);
static MAX: MaxCounter = MaxCounter::new();
static MAX_RAW: AtomicU64 = AtomicU64::new(0);

#[derive(Clone, Copy, PartialEq, Eq)]
enum Variant {
    Block,
    Owned,
    Sharded,
    ShardedHere,
    SharedU64,
    SharedRc,
    MaxRecord,
    MaxFetch,
}

const VARIANTS: [(Variant, &str); 8] = [
    (Variant::Block, "block"),
    (Variant::Owned, "owned"),
    (Variant::Sharded, "sharded"),
    (Variant::ShardedHere, "sharded_here"),
    (Variant::SharedU64, "shared_u64"),
    (Variant::SharedRc, "shared_rc"),
    (Variant::MaxRecord, "max_record"),
    (Variant::MaxFetch, "max_fetch"),
];

fn worker(v: Variant, n: u64, rc: &RelaxedCounter, seed: u64) {
    match v {
        Variant::Block => {
            // Made before the timed loop; leaked like a heap, never freed.
            let block: &'static OwnerBlock = Box::leak(Box::new(OwnerBlock::new()));
            block.link();
            for _ in 0..n {
                // black_box for the same reason as in `owned`.
                black_box(block).add(Key::malloc_owner_fast, 1);
            }
        }
        Variant::Owned => {
            let slot = black_box(claim_shard());
            for _ in 0..n {
                // black_box on the counter: plain loads and stores could
                // otherwise be merged across iterations, which no real call
                // site allows.
                black_box(&SHARDED).add_owned(slot, 1);
            }
            release_shard(slot);
        }
        Variant::Sharded => {
            // black_box once, outside the loop: inside it would add a
            // store/reload that the locked add must wait for.
            let shard = black_box(next_shard());
            for _ in 0..n {
                SHARDED.inc(shard);
            }
        }
        Variant::ShardedHere => {
            for _ in 0..n {
                SHARDED.inc_here();
            }
        }
        Variant::SharedU64 => {
            for _ in 0..n {
                SHARED.fetch_add(1, Ordering::Relaxed);
            }
        }
        Variant::SharedRc => {
            for _ in 0..n {
                rc.inc();
            }
        }
        Variant::MaxRecord | Variant::MaxFetch => {
            // xorshift64: cheap pseudo-random "latencies" below 2^20.
            let mut x = seed | 1;
            for _ in 0..n {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let val = x >> 44;
                if v == Variant::MaxRecord {
                    MAX.record(val);
                } else {
                    MAX_RAW.fetch_max(val, Ordering::Relaxed);
                }
            }
        }
    }
}

fn run_once(v: Variant, threads: usize, total: u64) -> Duration {
    let per = total / threads as u64;
    let rc = Arc::new(RelaxedCounter::new(0));
    let go = Arc::new(Barrier::new(threads));
    let hs: Vec<_> = (0..threads)
        .map(|t| {
            let (go, rc) = (go.clone(), rc.clone());
            std::thread::spawn(move || {
                go.wait();
                // Each thread stamps its own start and end: a timer in the
                // main thread could be descheduled right after the barrier
                // (16 threads on 2 CPUs) and start the clock late.
                let t0 = Instant::now();
                worker(
                    v,
                    per,
                    &rc,
                    0x9E37_79B9_7F4A_7C15 ^ ((t as u64 + 1) * 0x1234_5678_9ABC_DEF1),
                );
                (t0, Instant::now())
            })
        })
        .collect();
    let spans: Vec<(Instant, Instant)> = hs.into_iter().map(|h| h.join().unwrap()).collect();
    let start = spans.iter().map(|s| s.0).min().unwrap();
    let end = spans.iter().map(|s| s.1).max().unwrap();
    let dt = end - start;
    // Sanity: the counters are exact.
    match v {
        Variant::Block => {
            assert_eq!(Key::malloc_owner_fast.total(), per * threads as u64);
            Key::malloc_owner_fast.set(0);
        }
        Variant::Owned | Variant::Sharded | Variant::ShardedHere => {
            assert_eq!(SHARDED.get(), per * threads as u64);
            SHARDED.reset();
        }
        Variant::SharedU64 => {
            assert_eq!(SHARED.swap(0, Ordering::Relaxed), per * threads as u64);
        }
        Variant::SharedRc => assert_eq!(rc.get() as u64, per * threads as u64),
        Variant::MaxRecord | Variant::MaxFetch => {
            MAX.reset();
            MAX_RAW.store(0, Ordering::Relaxed);
        }
    }
    dt
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn main() {
    let mut args = std::env::args().skip(1);
    let runs: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(7);
    let total: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(16 << 20);
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("# {runs} runs, {total} increments per run, {cpus} CPUs; median ns per increment");
    println!("| variant | threads | wall ns/inc | core ns/inc | min..max wall ns/inc |");
    println!("|---|---:|---:|---:|---:|");
    for threads in [1usize, 2, 16] {
        // One discarded warm-up run per variant (page faults, frequency
        // ramp), then `runs` rounds that each run every variant once, so
        // noise from other load on the machine spreads over all variants.
        for (v, _) in VARIANTS {
            run_once(v, threads, total / 4);
        }
        let mut wall = vec![Vec::with_capacity(runs); VARIANTS.len()];
        for _ in 0..runs {
            for (i, (v, _)) in VARIANTS.iter().enumerate() {
                let dt = run_once(*v, threads, total);
                wall[i].push(dt.as_nanos() as f64 / total as f64);
            }
        }
        for ((_, name), w) in VARIANTS.iter().zip(wall) {
            let (lo, hi) = w
                .iter()
                .fold((f64::MAX, 0f64), |(lo, hi), &x| (lo.min(x), hi.max(x)));
            let m = median(w);
            let core = m * threads.min(cpus) as f64;
            println!("| {name} | {threads} | {m:.2} | {core:.2} | {lo:.2}..{hi:.2} |");
        }
    }
}
