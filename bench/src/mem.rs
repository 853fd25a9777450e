//! `hz-bench mem SCENARIO [--scale F]`: memory scenarios (issue 12).
//!
//! Each scenario drives `libc::malloc`/`free` in a pattern that ordinary
//! programs have (sizes changing over time, many short threads, idle
//! threads after a burst, big buffers, a size limit on the address space,
//! a server-like churn, a producer/consumer pair) and prints one line
//!
//! ```text
//! [HZ_MEM] scenario=NAME scale=F time_ms=T peak_rss_kb=P final_rss_kb=R metric=M unit=U [k=v ...]
//! ```
//!
//! `final_rss_kb` is read where the scenario says (after everything was
//! freed, after the threads were joined, while threads idle, ...),
//! `peak_rss_kb` is the kernel's high-water mark (`VmHWM`). `metric` is the
//! scenario's own figure (time per iteration, NULL count, ...). Run it
//! under `LD_PRELOAD` to measure another allocator; `hz-lab mem` runs every
//! scenario under hz4 and the peers, interleaved.

use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

/// Scenario names, in the order `hz-lab mem` runs them.
pub const SCENARIOS: &[(&str, &str)] = &[
    (
        "phases",
        "seven phases each allocating 256 MiB of one size (64, 96, 160, 4000, 12000, 40000, 300000 B), freeing all; RSS at the end",
    ),
    (
        "threads",
        "200 threads each allocate a little of many classes, free it and exit; RSS after all are joined",
    ),
    (
        "idle",
        "8 threads each touch and free ~400 MiB of 64 KiB-4 MiB buffers, then idle; RSS while they idle",
    ),
    (
        "huge",
        "loop: malloc 8 MiB, touch every page, free; time per iteration",
    ),
    (
        "mid40k",
        "loop: free the oldest of 64 live 40000 B blocks and malloc a new one; time per pair",
    ),
    (
        "aslimit",
        "RLIMIT_AS = address space in use + 384 MiB: fill 348 MiB with 3000 B objects, free all, then allocate 16 MiB of each of 5 other sizes; sizes that saw NULL",
    ),
    (
        "larson",
        "larson-style server: 4 chains of threads churn 2000 slots of 16-4096 B; each thread hands its live blocks to a successor; time per op",
    ),
    (
        "prodcons",
        "a producer mallocs 16-8192 B blocks, a consumer thread frees them (bounded queue); time per block",
    ),
];

const MIB: usize = 1 << 20;

fn status_kb(field: &str) -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn rss_kb() -> u64 {
    status_kb("VmRSS:")
}

/// Small deterministic generator (splitmix64).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut x = self.0;
        x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        x ^ (x >> 31)
    }
    /// Uniform in lo..=hi.
    fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + (self.next() % (hi - lo + 1) as u64) as usize
    }
}

fn malloc(n: usize) -> *mut u8 {
    // SAFETY: malloc has no preconditions.
    unsafe { libc::malloc(n) as *mut u8 }
}
fn free(p: *mut u8) {
    // SAFETY: every pointer passed here came from `malloc` above (or is null).
    unsafe { libc::free(p as *mut libc::c_void) }
}

/// Write one byte per 4 KiB page of `p..p+n` (and the first byte).
fn touch(p: *mut u8, n: usize, v: u8) {
    let mut off = 0;
    while off < n {
        // SAFETY: inside the n-byte block.
        unsafe { p.add(off).write_volatile(v) };
        off += 4096;
    }
}

/// What a scenario reports besides the common fields.
struct Outcome {
    final_rss_kb: u64,
    metric: f64,
    unit: &'static str,
    extra: String,
}

/// `n` scaled by `f`, at least `min`.
fn sc(n: usize, f: f64, min: usize) -> usize {
    ((n as f64 * f) as usize).max(min)
}

fn phases(f: f64) -> Outcome {
    let per_phase = sc(256 * MIB, f, MIB);
    let sizes = [64usize, 96, 160, 4000, 12_000, 40_000, 300_000];
    let max_n = per_phase / sizes[0];
    let mut v: Vec<*mut u8> = Vec::with_capacity(max_n);
    for &s in &sizes {
        let n = per_phase / s;
        for i in 0..n {
            let p = malloc(s);
            if p.is_null() {
                break;
            }
            touch(p, s, i as u8);
            v.push(p);
        }
        for p in v.drain(..) {
            free(p);
        }
    }
    drop(v);
    Outcome {
        final_rss_kb: rss_kb(),
        metric: rss_kb() as f64 / 1024.0,
        unit: "MiB_final",
        extra: format!("per_phase_mib={}", per_phase / MIB),
    }
}

fn threads(f: f64) -> Outcome {
    let n = sc(200, f, 4);
    let start = Arc::new(Barrier::new(n));
    let hs: Vec<_> = (0..n)
        .map(|t| {
            let start = start.clone();
            std::thread::spawn(move || {
                start.wait();
                let mut r = Rng(t as u64 + 1);
                let mut live = Vec::with_capacity(256);
                // A little of many classes: 16 B .. 128 KiB, geometric.
                let mut s = 16usize;
                while s <= 128 << 10 {
                    for _ in 0..4 {
                        let sz = r.range(s, s + s / 2);
                        let p = malloc(sz);
                        touch(p, sz, 1);
                        live.push(p);
                    }
                    s = s * 3 / 2;
                }
                for p in live {
                    free(p);
                }
            })
        })
        .collect();
    for h in hs {
        h.join().expect("thread panicked");
    }
    Outcome {
        final_rss_kb: rss_kb(),
        metric: rss_kb() as f64 / 1024.0,
        unit: "MiB_after_join",
        extra: format!("threads={n}"),
    }
}

fn idle(f: f64) -> Outcome {
    const T: usize = 8;
    let per_thread = sc(400 * MIB, f, 4 * MIB);
    let done = Arc::new(Barrier::new(T + 1));
    let leave = Arc::new(Barrier::new(T + 1));
    let hs: Vec<_> = (0..T)
        .map(|t| {
            let (done, leave) = (done.clone(), leave.clone());
            std::thread::spawn(move || {
                let mut r = Rng(100 + t as u64);
                let mut live: Vec<*mut u8> = Vec::with_capacity(16);
                let mut touched = 0;
                while touched < per_thread {
                    let sz = r.range(64 << 10, 4 << 20);
                    let p = malloc(sz);
                    touch(p, sz, 3);
                    touched += sz;
                    live.push(p);
                    if live.len() == 16 {
                        free(live.remove(0));
                    }
                }
                for p in live {
                    free(p);
                }
                done.wait();
                leave.wait();
            })
        })
        .collect();
    done.wait();
    // Everything is freed; the threads idle (blocked) while we look.
    std::thread::sleep(Duration::from_millis(300));
    let rss = rss_kb();
    leave.wait();
    for h in hs {
        h.join().expect("thread panicked");
    }
    Outcome {
        final_rss_kb: rss,
        metric: rss as f64 / 1024.0,
        unit: "MiB_idle",
        extra: format!("per_thread_mib={}", per_thread / MIB),
    }
}

fn huge(f: f64) -> Outcome {
    let iters = sc(300, f, 5);
    let n = 8 * MIB;
    for i in 0..5 {
        let p = malloc(n);
        touch(p, n, i);
        free(p);
    }
    let t = Instant::now();
    for i in 0..iters {
        let p = black_box(malloc(n));
        touch(p, n, i as u8);
        free(p);
    }
    let us = t.elapsed().as_secs_f64() * 1e6 / iters as f64;
    Outcome {
        final_rss_kb: rss_kb(),
        metric: us,
        unit: "us_per_iter",
        extra: format!("iters={iters}"),
    }
}

fn mid40k(f: f64) -> Outcome {
    let pairs = sc(4_000_000, f, 1000);
    let mut ring = [std::ptr::null_mut::<u8>(); 64];
    for p in ring.iter_mut() {
        *p = malloc(40_000);
    }
    let t = Instant::now();
    for i in 0..pairs {
        let slot = i & 63;
        free(ring[slot]);
        let p = black_box(malloc(40_000));
        // SAFETY: fresh 40000-byte block.
        unsafe { p.write_volatile(i as u8) };
        ring[slot] = p;
    }
    let ns = t.elapsed().as_secs_f64() * 1e9 / pairs as f64;
    for p in ring {
        free(p);
    }
    Outcome {
        final_rss_kb: rss_kb(),
        metric: ns,
        unit: "ns_per_pair",
        extra: format!("pairs={pairs}"),
    }
}

fn aslimit(f: f64) -> Outcome {
    let fill = sc(348 * MIB, f, 2 * MIB);
    let headroom = sc(384 * MIB, f, 8 * MIB) + if f < 1.0 { 64 * MIB } else { 0 };
    let vm = status_kb("VmSize:") as usize * 1024;
    let limit = (vm + headroom) as libc::rlim_t;
    let lim = libc::rlimit {
        rlim_cur: limit,
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: valid rlimit struct.
    if unsafe { libc::setrlimit(libc::RLIMIT_AS, &lim) } != 0 {
        eprintln!("hz-bench mem aslimit: setrlimit(RLIMIT_AS) failed");
    }
    let mut v: Vec<*mut u8> = Vec::with_capacity(fill / 3000 + 1);
    let mut filled = 0;
    while filled < fill {
        let p = malloc(3000);
        if p.is_null() {
            break;
        }
        touch(p, 3000, 1);
        v.push(p);
        filled += 3000;
    }
    let fill_nulls = (filled < fill) as u32;
    for p in v.drain(..) {
        free(p);
    }
    drop(v);
    let sizes = [100usize, 12_000, 40_000, 300_000, 8 * MIB];
    let each = sc(16 * MIB, f, MIB);
    // No Rust allocation until the limit is lifted again: a failed one
    // would abort the bench instead of counting.
    let mut failed = [false; 5];
    let mut got: Vec<*mut u8> = Vec::with_capacity(each / 100 + 1);
    for (k, &s) in sizes.iter().enumerate() {
        let n = (each / s).max(1);
        for _ in 0..n {
            let p = malloc(s);
            if p.is_null() {
                failed[k] = true;
                break;
            }
            touch(p, s, 2);
            got.push(p);
        }
        for p in got.drain(..) {
            free(p);
        }
    }
    drop(got);
    let unlimited = libc::rlimit {
        rlim_cur: libc::RLIM_INFINITY,
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: valid rlimit struct.
    unsafe { libc::setrlimit(libc::RLIMIT_AS, &unlimited) };
    let failed: Vec<String> = sizes
        .iter()
        .zip(failed)
        .filter(|(_, f)| *f)
        .map(|(s, _)| s.to_string())
        .collect();
    let rss = rss_kb();
    Outcome {
        final_rss_kb: rss,
        metric: failed.len() as f64,
        unit: "sizes_with_null_of_5",
        extra: format!(
            "limit_mib={} fill_mib={} fill_stopped_early={fill_nulls} failed_sizes={}",
            limit as usize / MIB,
            filled / MIB,
            if failed.is_empty() {
                "none".to_string()
            } else {
                failed.join(",")
            }
        ),
    }
}

/// Raw pointers handed between threads.
struct Blocks(Vec<*mut u8>);
// SAFETY: the blocks are plain malloc memory; exactly one thread owns the
// vector at a time (it moves from a thread to its successor).
unsafe impl Send for Blocks {}

fn larson(f: f64) -> Outcome {
    const CHAINS: usize = 4;
    const SLOTS: usize = 2000;
    let generations = sc(10, f.sqrt(), 2);
    let ops_per_gen = sc(200_000, f.sqrt(), 1000);
    let total = Arc::new(AtomicUsize::new(0));
    let t = Instant::now();
    let chains: Vec<_> = (0..CHAINS)
        .map(|c| {
            let total = total.clone();
            std::thread::spawn(move || {
                let mut r = Rng(7 + c as u64);
                let mut blocks = Blocks(
                    (0..SLOTS)
                        .map(|_| {
                            let p = malloc(r.range(16, 4096));
                            touch(p, 16, 1);
                            p
                        })
                        .collect(),
                );
                for g in 0..generations {
                    let total = total.clone();
                    let seed = r.next() ^ g as u64;
                    // Each generation is a fresh thread that inherits the
                    // previous one's live blocks (frees of foreign blocks).
                    blocks = std::thread::spawn(move || {
                        let mut r = Rng(seed);
                        let mut b = blocks;
                        for _ in 0..ops_per_gen {
                            let i = r.range(0, SLOTS - 1);
                            free(b.0[i]);
                            let sz = r.range(16, 4096);
                            let p = malloc(sz);
                            // SAFETY: fresh block of at least 16 bytes.
                            unsafe { p.write_volatile(sz as u8) };
                            b.0[i] = p;
                        }
                        total.fetch_add(ops_per_gen, Ordering::Relaxed);
                        b
                    })
                    .join()
                    .expect("generation panicked");
                }
                for p in blocks.0 {
                    free(p);
                }
            })
        })
        .collect();
    for h in chains {
        h.join().expect("chain panicked");
    }
    let ops = total.load(Ordering::Relaxed);
    let ns = t.elapsed().as_secs_f64() * 1e9 / ops as f64;
    Outcome {
        final_rss_kb: rss_kb(),
        metric: ns,
        unit: "ns_per_op",
        extra: format!("ops={ops} chains={CHAINS} generations={generations}"),
    }
}

fn prodcons(f: f64) -> Outcome {
    let n = sc(500_000, f, 1000);
    let (tx, rx) = std::sync::mpsc::sync_channel::<usize>(1024);
    let t = Instant::now();
    let consumer = std::thread::spawn(move || {
        let mut got = 0usize;
        while let Ok(p) = rx.recv() {
            free(p as *mut u8);
            got += 1;
        }
        got
    });
    let mut r = Rng(99);
    for _ in 0..n {
        let sz = r.range(16, 8192);
        let p = malloc(sz);
        // SAFETY: fresh block of at least 16 bytes.
        unsafe { p.write_volatile(1) };
        tx.send(p as usize).expect("consumer gone");
    }
    drop(tx);
    let got = consumer.join().expect("consumer panicked");
    assert_eq!(got, n);
    let ns = t.elapsed().as_secs_f64() * 1e9 / n as f64;
    Outcome {
        final_rss_kb: rss_kb(),
        metric: ns,
        unit: "ns_per_block",
        extra: format!("blocks={n}"),
    }
}

/// Entry point of `hz-bench mem ...`; returns the exit status.
pub fn main(args: &[String]) -> i32 {
    let usage = || {
        eprintln!("usage: hz-bench mem SCENARIO [--scale F]   (hz-bench mem --list)");
        2
    };
    let Some(name) = args.first() else {
        return usage();
    };
    if name == "--list" {
        for (n, doc) in SCENARIOS {
            println!("{n:10} {doc}");
        }
        return 0;
    }
    let mut scale = 1.0f64;
    match &args[1..] {
        [] => {}
        [flag, v] if flag == "--scale" => match v.parse::<f64>() {
            Ok(s) if s.is_finite() && s > 0.0 => scale = s,
            _ => {
                eprintln!("hz-bench mem: --scale {v}: must be a positive number");
                return 2;
            }
        },
        _ => return usage(),
    }
    let run: fn(f64) -> Outcome = match name.as_str() {
        "phases" => phases,
        "threads" => threads,
        "idle" => idle,
        "huge" => huge,
        "mid40k" => mid40k,
        "aslimit" => aslimit,
        "larson" => larson,
        "prodcons" => prodcons,
        other => {
            eprintln!(
                "hz-bench mem: unknown scenario '{other}' (known: {})",
                SCENARIOS.iter().map(|s| s.0).collect::<Vec<_>>().join(", ")
            );
            return 2;
        }
    };
    let t = Instant::now();
    let o = run(scale);
    let ms = t.elapsed().as_secs_f64() * 1e3;
    println!(
        "[HZ_MEM] scenario={name} scale={scale} time_ms={ms:.1} peak_rss_kb={} final_rss_kb={} metric={:.3} unit={} {}",
        status_kb("VmHWM:"),
        o.final_rss_kb,
        o.metric,
        o.unit,
        o.extra
    );
    0
}
