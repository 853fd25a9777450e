//! `hz-bench suite NAME [--threads N] [--scale F] [--quick] [--seed S]`:
//! the project's own workload suite (issue 15).
//!
//! Every workload is one row of [`WORKLOADS`]: its name, a one-line
//! description, its default arguments and the function that runs it. The
//! command line, `--list`, the help text, `hz-lab suite` (which asks
//! `hz-bench suite --list`) and the smoke tests all read that table.
//!
//! Heap traffic goes through `libc::malloc`/`free`, so `LD_PRELOAD` picks
//! the allocator under test. Every object gets a pattern (a tag word at the
//! start, a word derived from tag and size at the end) that is checked just
//! before its free; the workload also counts mallocs, frees, bytes and the
//! sum of tags on both sides and checks they agree at the end. A mismatch
//! prints one line `hz-bench suite: NAME: corruption: ...` and exits 3.
//! A run that passes prints
//!
//! ```text
//! [SUITE] name=NAME threads=T ops=N secs=S ops_per_s=X peak_rss_kb=P scale=F seed=S [k=v ...]
//! ```
//!
//! What one op is depends on the workload (see each description); ratios
//! between allocators compare the same workload, so that is enough.

use std::cell::UnsafeCell;
use std::hint::black_box;
use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Barrier, OnceLock};
use std::time::{Duration, Instant};

/// One workload of the suite.
pub struct Workload {
    /// Name on the command line.
    pub name: &'static str,
    /// One line: what it does and what an op is.
    pub about: &'static str,
    /// Arguments applied before the user's (`--threads N`, ...).
    pub args: &'static str,
    /// Runs it.
    pub run: fn(&Params) -> Outcome,
}

/// The workloads, in the order `hz-lab suite` runs them.
pub const WORKLOADS: &[Workload] = &[
    Workload {
        name: "st-small",
        about: "one thread replaces random slots of 16 live blocks of 8-128 B; op = free + malloc",
        args: "--threads 1",
        run: st_small,
    },
    Workload {
        name: "thread-loop-1",
        about: "1 thread for a fixed time toggles random slots of 64 (free if full, else malloc 8-256 B); op = one call",
        args: "--threads 1",
        run: thread_loop,
    },
    Workload {
        name: "thread-loop-2",
        about: "as thread-loop-1 with 2 threads, each for the same fixed time; total ops/s",
        args: "--threads 2",
        run: thread_loop,
    },
    Workload {
        name: "thread-loop-4",
        about: "as thread-loop-1 with 4 threads",
        args: "--threads 4",
        run: thread_loop,
    },
    Workload {
        name: "server",
        about: "larson-like: threads replace random slots of 1000 blocks of 16-1024 B; every 500k ops a new thread takes the array over; op = free + malloc",
        args: "--threads 4",
        run: server,
    },
    Workload {
        name: "prodcons",
        about: "half the threads malloc 16-1024 B and pass them through lock-free rings to the other half, which check and free them; op = one block",
        args: "--threads 4",
        run: prodcons,
    },
    Workload {
        name: "mixed-1",
        about: "1 thread keeps 2000 live blocks of 16 B-64 KiB (skewed to small), replacing random ones; op = free + malloc",
        args: "--threads 1",
        run: mixed,
    },
    Workload {
        name: "mixed-4",
        about: "as mixed-1 with 4 threads, each its own live set",
        args: "--threads 4",
        run: mixed,
    },
    Workload {
        name: "fs-active",
        about: "false sharing, active: threads malloc 24-64 B, write it 1000 times, free; op = one write",
        args: "--threads 2",
        run: fs_active,
    },
    Workload {
        name: "fs-passive",
        about: "false sharing, passive: the main thread mallocs one block per thread and hands it over, then as fs-active; op = one write",
        args: "--threads 2",
        run: fs_passive,
    },
    Workload {
        name: "phases",
        about: "long-lived phases of 7 size ranges: build a 16 MiB live set, churn it, free it in random order; op = one malloc",
        args: "--threads 1",
        run: phases,
    },
];

/// Arguments of one run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Params {
    /// Worker threads.
    pub threads: usize,
    /// Multiplies iteration counts (and the fixed time of thread-loop).
    pub scale: f64,
    /// Seed of every generator.
    pub seed: u64,
}

/// What a workload measured.
pub struct Outcome {
    /// Ops done (the workload says what an op is).
    pub ops: u64,
    /// Seconds of the measured part.
    pub secs: f64,
    /// Counts of every block malloc'd and freed.
    pub tally: Tally,
    /// Workload-specific `k=v` fields.
    pub extra: String,
}

// ---------------------------------------------------------------------------
// Failing: one line, exit status 3.

static NAME: OnceLock<&'static str> = OnceLock::new();
/// Set by the hidden `--corrupt` flag: the next block filled gets one
/// byte flipped after its pattern is written (tests of the check).
static CORRUPT: AtomicBool = AtomicBool::new(false);

/// Exit status of a detected corruption or count mismatch.
pub const EXIT_CORRUPT: i32 = 3;

#[cold]
#[inline(never)]
fn fail(msg: String) -> ! {
    eprintln!(
        "hz-bench suite: {}: corruption: {msg}",
        NAME.get().copied().unwrap_or("?")
    );
    std::process::exit(EXIT_CORRUPT);
}

fn status_kb(field: &str) -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

// ---------------------------------------------------------------------------
// Random numbers: xorshift64*, seeded through splitmix64.

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// Deterministic generator; one per thread.
pub struct Rng(u64);

impl Rng {
    /// Generator for stream `stream` of seed `seed` (never zero state).
    pub fn new(seed: u64, stream: u64) -> Rng {
        Rng(splitmix(seed ^ splitmix(stream)) | 1)
    }
    #[inline(always)]
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in 0..n (multiply-high, n >= 1).
    #[inline(always)]
    pub fn below(&mut self, n: usize) -> usize {
        (((self.next() >> 32) * n as u64) >> 32) as usize
    }
    /// Uniform in lo..=hi.
    #[inline(always)]
    pub fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.below(hi - lo + 1)
    }
}

// ---------------------------------------------------------------------------
// Checked blocks.

/// A live block: pointer, size, tag.
#[derive(Clone, Copy)]
pub struct Obj {
    p: *mut u8,
    n: usize,
    tag: u64,
}

// SAFETY: an Obj is plain malloc memory owned by exactly one thread at a
// time; handing it over moves that ownership.
unsafe impl Send for Obj {}

impl Obj {
    const NONE: Obj = Obj {
        p: std::ptr::null_mut(),
        n: 0,
        tag: 0,
    };
    fn is_none(&self) -> bool {
        self.p.is_null()
    }
}

#[inline(always)]
fn tail_word(tag: u64, n: usize) -> u64 {
    tag.rotate_left(23) ^ n as u64
}

/// Per-thread counts of what was malloc'd and freed; merged and compared
/// at the end of a run.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct Tally {
    pub mallocs: u64,
    pub frees: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub tags_in: u64,
    pub tags_out: u64,
    next_tag: u64,
}

impl Tally {
    fn new(seed: u64, stream: u64) -> Tally {
        Tally {
            next_tag: splitmix(seed ^ (stream << 40)),
            ..Tally::default()
        }
    }

    /// malloc(n) (n >= 8), pattern written.
    #[inline(always)]
    fn alloc(&mut self, n: usize) -> Obj {
        // SAFETY: malloc has no preconditions.
        let p = unsafe { libc::malloc(n) } as *mut u8;
        if p.is_null() {
            fail(format!("malloc({n}) returned NULL"));
        }
        self.next_tag = self.next_tag.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let tag = self.next_tag;
        // SAFETY: p is a fresh block of n >= 8 bytes; both words lie inside.
        unsafe {
            (p as *mut u64).write_unaligned(tag);
            if n >= 16 {
                (p.add(n - 8) as *mut u64).write_unaligned(tail_word(tag, n));
            }
        }
        if CORRUPT.load(Ordering::Relaxed) && CORRUPT.swap(false, Ordering::Relaxed) {
            // SAFETY: last byte of the block (tests only).
            unsafe { *p.add(n - 1) ^= 0x40 };
        }
        self.mallocs += 1;
        self.bytes_in += n as u64;
        self.tags_in = self.tags_in.wrapping_add(tag);
        Obj { p, n, tag }
    }

    /// Checks the pattern, then frees.
    #[inline(always)]
    fn free(&mut self, o: Obj) {
        // SAFETY: o is a live block of o.n >= 8 bytes made by `alloc`.
        let (head, tail) = unsafe {
            let head = (o.p as *const u64).read_unaligned();
            let tail = if o.n >= 16 {
                (o.p.add(o.n - 8) as *const u64).read_unaligned()
            } else {
                tail_word(o.tag, o.n)
            };
            (head, tail)
        };
        if head != o.tag || tail != tail_word(o.tag, o.n) {
            bad_block(o, head, tail);
        }
        // SAFETY: o.p came from libc::malloc and is freed once.
        unsafe { libc::free(black_box(o.p) as *mut libc::c_void) };
        self.frees += 1;
        self.bytes_out += o.n as u64;
        self.tags_out = self.tags_out.wrapping_add(o.tag);
    }

    fn merge(&mut self, o: &Tally) {
        self.mallocs += o.mallocs;
        self.frees += o.frees;
        self.bytes_in += o.bytes_in;
        self.bytes_out += o.bytes_out;
        self.tags_in = self.tags_in.wrapping_add(o.tags_in);
        self.tags_out = self.tags_out.wrapping_add(o.tags_out);
    }

    /// Everything malloc'd was freed with its own size and tag.
    pub fn check(&self) -> Result<(), String> {
        if self.mallocs != self.frees
            || self.bytes_in != self.bytes_out
            || self.tags_in != self.tags_out
        {
            return Err(format!(
                "totals differ: {} mallocs / {} frees, {} / {} bytes, tag sums {:#x} / {:#x}",
                self.mallocs,
                self.frees,
                self.bytes_in,
                self.bytes_out,
                self.tags_in,
                self.tags_out
            ));
        }
        Ok(())
    }
}

#[cold]
#[inline(never)]
fn bad_block(o: Obj, head: u64, tail: u64) -> ! {
    fail(format!(
        "block {:p} of {} B: head {head:#018x} (want {:#018x}), tail {tail:#018x} (want {:#018x})",
        o.p,
        o.n,
        o.tag,
        tail_word(o.tag, o.n)
    ))
}

fn merged(ts: &[Tally]) -> Tally {
    let mut t = Tally::default();
    for x in ts {
        t.merge(x);
    }
    t
}

/// `n` scaled by `f`, at least `min`.
fn sc(n: u64, f: f64, min: u64) -> u64 {
    ((n as f64 * f) as u64).max(min)
}

/// Runs `f(i)` on `n` threads released together; returns their results in
/// order and the wall time from release to the last join.
fn on_threads<T: Send>(n: usize, f: impl Fn(usize) -> T + Sync) -> (Vec<T>, f64) {
    let gate = Barrier::new(n + 1);
    std::thread::scope(|s| {
        let hs: Vec<_> = (0..n)
            .map(|i| {
                let (gate, f) = (&gate, &f);
                s.spawn(move || {
                    gate.wait();
                    f(i)
                })
            })
            .collect();
        gate.wait();
        let t = Instant::now();
        let out: Vec<T> = hs
            .into_iter()
            .map(|h| h.join().expect("worker panicked"))
            .collect();
        (out, t.elapsed().as_secs_f64())
    })
}

// ---------------------------------------------------------------------------
// Workloads.

fn st_small(p: &Params) -> Outcome {
    const LIVE: usize = 16;
    let ops = sc(60_000_000, p.scale, 1000);
    let mut r = Rng::new(p.seed, 0);
    let mut t = Tally::new(p.seed, 0);
    let mut live = [Obj::NONE; LIVE];
    for o in live.iter_mut() {
        *o = t.alloc(r.range(8, 128));
    }
    let start = Instant::now();
    for _ in 0..ops {
        let i = r.below(LIVE);
        t.free(live[i]);
        live[i] = t.alloc(r.range(8, 128));
    }
    let secs = start.elapsed().as_secs_f64();
    for o in live {
        t.free(o);
    }
    Outcome {
        ops,
        secs,
        tally: t,
        extra: format!("live={LIVE}"),
    }
}

fn thread_loop(p: &Params) -> Outcome {
    const SLOTS: usize = 64;
    let run_for = Duration::from_secs_f64((1.0 * p.scale).max(0.01));
    let (res, _) = on_threads(p.threads, |i| {
        let mut r = Rng::new(p.seed, i as u64);
        let mut t = Tally::new(p.seed, i as u64);
        let mut slots = [Obj::NONE; SLOTS];
        let mut ops = 0u64;
        let start = Instant::now();
        loop {
            for _ in 0..256 {
                let k = r.below(SLOTS);
                if slots[k].is_none() {
                    slots[k] = t.alloc(r.range(8, 256));
                } else {
                    t.free(slots[k]);
                    slots[k] = Obj::NONE;
                }
            }
            ops += 256;
            if start.elapsed() >= run_for {
                break;
            }
        }
        let secs = start.elapsed().as_secs_f64();
        for o in slots {
            if !o.is_none() {
                t.free(o);
            }
        }
        (ops, secs, t)
    });
    let ops: u64 = res.iter().map(|x| x.0).sum();
    // Each thread ran for its own fixed time; the rate is the sum of the
    // threads' rates.
    let rate: f64 = res.iter().map(|x| x.0 as f64 / x.1).sum();
    let tallies: Vec<Tally> = res.iter().map(|x| x.2).collect();
    Outcome {
        ops,
        secs: ops as f64 / rate,
        tally: merged(&tallies),
        extra: format!("slots={SLOTS} run_ms={}", run_for.as_millis()),
    }
}

fn server(p: &Params) -> Outcome {
    const SLOTS: usize = 1000;
    let total = sc(60_000_000, p.scale, 4000);
    let per_thread = (total / p.threads as u64).max(1);
    let per_gen = 500_000u64.min(per_thread);
    let gens = per_thread.div_ceil(per_gen);
    let done = AtomicUsize::new(0);
    let pp = *p;
    let (res, secs) = on_threads(p.threads, |c| {
        let mut r = Rng::new(p.seed, c as u64);
        let mut t = Tally::new(p.seed, c as u64);
        let mut slots: Vec<Obj> = (0..SLOTS).map(|_| t.alloc(r.range(16, 1024))).collect();
        let mut left = per_thread;
        for g in 0..gens {
            let n = per_gen.min(left);
            left -= n;
            let stream = ((c as u64) << 32) | (g + 1);
            // A fresh thread takes the array (and its counts) over: its
            // frees are of blocks another thread allocated.
            let (s2, t2) = std::thread::spawn(move || {
                let mut r = Rng::new(pp.seed, stream);
                let (mut s, mut t) = (slots, t);
                for _ in 0..n {
                    let k = r.below(SLOTS);
                    t.free(s[k]);
                    s[k] = t.alloc(r.range(16, 1024));
                }
                (s, t)
            })
            .join()
            .expect("server thread panicked");
            slots = s2;
            t = t2;
            done.fetch_add(n as usize, Ordering::Relaxed);
        }
        for o in slots {
            t.free(o);
        }
        t
    });
    let ops = done.load(Ordering::Relaxed) as u64;
    Outcome {
        ops,
        secs,
        tally: merged(&res),
        extra: format!("slots={SLOTS} generations={gens}"),
    }
}

/// Bounded single-producer/single-consumer ring of blocks; its storage is
/// allocated before the measured part and never during it.
struct Ring {
    head: Pad<AtomicUsize>,
    tail: Pad<AtomicUsize>,
    cells: Box<[UnsafeCell<MaybeUninit<Obj>>]>,
}

#[repr(align(128))]
struct Pad<T>(T);

// SAFETY: a cell is written by the one producer before it publishes `tail`
// (Release) and read by the one consumer after it sees `tail` (Acquire),
// and the reverse for `head`; no cell is accessed by both at once.
unsafe impl Sync for Ring {}

impl Ring {
    fn new(cap: usize) -> Ring {
        Ring {
            head: Pad(AtomicUsize::new(0)),
            tail: Pad(AtomicUsize::new(0)),
            cells: (0..cap)
                .map(|_| UnsafeCell::new(MaybeUninit::uninit()))
                .collect(),
        }
    }
    /// Producer side; spins (yielding) while the ring is full.
    fn push(&self, o: Obj) {
        let t = self.tail.0.load(Ordering::Relaxed);
        while t - self.head.0.load(Ordering::Acquire) == self.cells.len() {
            std::thread::yield_now();
        }
        // SAFETY: the cell at t is free (the consumer is past it) and only
        // this producer writes cells.
        unsafe { (*self.cells[t % self.cells.len()].get()).write(o) };
        self.tail.0.store(t + 1, Ordering::Release);
    }
    /// Consumer side; spins (yielding) while the ring is empty.
    fn pop(&self) -> Obj {
        let h = self.head.0.load(Ordering::Relaxed);
        while self.tail.0.load(Ordering::Acquire) == h {
            std::thread::yield_now();
        }
        // SAFETY: the producer wrote the cell at h before publishing tail > h.
        let o = unsafe { (*self.cells[h % self.cells.len()].get()).assume_init() };
        self.head.0.store(h + 1, Ordering::Release);
        o
    }
}

fn prodcons(p: &Params) -> Outcome {
    let pairs = (p.threads / 2).max(1);
    let per = sc(6_000_000, p.scale, 1000) / pairs as u64;
    let rings: Vec<Ring> = (0..pairs).map(|_| Ring::new(256)).collect();
    let (res, secs) = on_threads(pairs * 2, |i| {
        let ring = &rings[i / 2];
        let mut t = Tally::new(p.seed, i as u64);
        let mut n = 0u64;
        if i % 2 == 0 {
            let mut r = Rng::new(p.seed, i as u64);
            for _ in 0..per {
                ring.push(t.alloc(r.range(16, 1024)));
            }
        } else {
            for _ in 0..per {
                t.free(ring.pop());
                n += 1;
            }
        }
        (n, t)
    });
    let got: u64 = res.iter().map(|x| x.0).sum();
    if got != per * pairs as u64 {
        fail(format!(
            "consumers freed {got} blocks, producers sent {}",
            per * pairs as u64
        ));
    }
    let tallies: Vec<Tally> = res.iter().map(|x| x.1).collect();
    Outcome {
        ops: got,
        secs,
        tally: merged(&tallies),
        extra: format!("producers={pairs} consumers={pairs} ring=256"),
    }
}

/// Weights (percent) of the size ranges 16·2^e ..= 32·2^e - 1, e = 0..=12.
const MIXED_WEIGHTS: [u32; 13] = [30, 20, 14, 10, 7, 5, 4, 3, 2, 2, 1, 1, 1];

/// A size of 16 B ..= 64 KiB, mostly small.
#[inline(always)]
fn mixed_size(r: &mut Rng) -> usize {
    let mut u = r.below(100) as u32;
    let mut e = 0;
    while u >= MIXED_WEIGHTS[e] {
        u -= MIXED_WEIGHTS[e];
        e += 1;
    }
    let lo = 16usize << e;
    r.range(lo, (2 * lo - 1).min(64 << 10))
}

fn mixed(p: &Params) -> Outcome {
    const LIVE: usize = 2000;
    let per = sc(24_000_000, p.scale, 1000) / p.threads as u64;
    let (res, secs) = on_threads(p.threads, |i| {
        let mut r = Rng::new(p.seed, i as u64);
        let mut t = Tally::new(p.seed, i as u64);
        let mut live: Vec<Obj> = (0..LIVE).map(|_| t.alloc(mixed_size(&mut r))).collect();
        for _ in 0..per {
            let k = r.below(LIVE);
            t.free(live[k]);
            live[k] = t.alloc(mixed_size(&mut r));
        }
        for o in live {
            t.free(o);
        }
        t
    });
    Outcome {
        ops: per * p.threads as u64,
        secs,
        tally: merged(&res),
        extra: format!("live_per_thread={LIVE}"),
    }
}

const FS_WRITES: u64 = 1000;

/// Writes the counter word of `o` (offset 8) `FS_WRITES` times, checks it.
#[inline(always)]
fn hammer(o: Obj) {
    // SAFETY: o is a live block of at least 24 bytes; bytes 8..16 are
    // neither the head tag nor the tail word.
    let c = unsafe { o.p.add(8) } as *mut u64;
    // SAFETY: as above; the block is 8-aligned (malloc alignment).
    unsafe { c.write_volatile(0) };
    for _ in 0..FS_WRITES {
        // SAFETY: as above.
        unsafe { c.write_volatile(c.read_volatile() + 1) };
    }
    // SAFETY: as above.
    let got = unsafe { c.read_volatile() };
    if got != FS_WRITES {
        fail(format!("block {:p}: counter {got}, wrote {FS_WRITES}", o.p));
    }
}

fn fs_run(p: &Params, handed: Option<Vec<Obj>>) -> Outcome {
    let rounds = sc(1_500_000, p.scale, 20);
    let handed: Vec<Option<Obj>> = match handed {
        Some(v) => v.into_iter().map(Some).collect(),
        None => vec![None; p.threads],
    };
    let handed: Vec<std::sync::Mutex<Option<Obj>>> =
        handed.into_iter().map(std::sync::Mutex::new).collect();
    let (res, secs) = on_threads(p.threads, |i| {
        let mut r = Rng::new(p.seed, i as u64);
        let mut t = Tally::new(p.seed, i as u64);
        let first = handed[i].lock().expect("lock").take();
        for k in 0..rounds {
            let o = match (k, first) {
                (0, Some(o)) => o,
                _ => t.alloc(r.range(24, 64)),
            };
            hammer(o);
            t.free(o);
        }
        t
    });
    Outcome {
        ops: rounds * FS_WRITES * p.threads as u64,
        secs,
        tally: merged(&res),
        extra: format!("rounds_per_thread={rounds} writes_per_block={FS_WRITES}"),
    }
}

fn fs_active(p: &Params) -> Outcome {
    fs_run(p, None)
}

fn fs_passive(p: &Params) -> Outcome {
    // Blocks the main thread allocated one after the other (likely sharing
    // cache lines), one per worker; the workers' frees are remote.
    let mut main = Tally::new(p.seed, 1 << 20);
    let mut r = Rng::new(p.seed, 1 << 20);
    let v: Vec<Obj> = (0..p.threads)
        .map(|_| main.alloc(r.range(24, 64)))
        .collect();
    let mut o = fs_run(p, Some(v));
    o.tally.merge(&main);
    o
}

fn phases(p: &Params) -> Outcome {
    const BUDGET: usize = 16 << 20;
    const RANGES: [(usize, usize); 7] = [
        (16, 32),
        (256, 512),
        (2048, 4096),
        (24, 64),
        (8192, 16384),
        (64, 128),
        (32768, 65536),
    ];
    let cycles = sc(1, p.scale, 1);
    let budget = ((BUDGET as f64 * p.scale.min(1.0)) as usize).max(256 << 10);
    let (res, secs) = on_threads(p.threads, |i| {
        let mut r = Rng::new(p.seed, i as u64);
        let mut t = Tally::new(p.seed, i as u64);
        let mut live: Vec<Obj> = Vec::with_capacity(budget / 16);
        for _ in 0..cycles {
            for &(lo, hi) in &RANGES {
                let n = budget / ((lo + hi) / 2);
                for _ in 0..n {
                    live.push(t.alloc(r.range(lo, hi)));
                }
                for _ in 0..2 * n {
                    let k = r.below(n);
                    t.free(live[k]);
                    live[k] = t.alloc(r.range(lo, hi));
                }
                // Tear down in random order.
                for k in (1..live.len()).rev() {
                    live.swap(k, r.below(k + 1));
                }
                for o in live.drain(..) {
                    t.free(o);
                }
            }
        }
        t
    });
    let tally = merged(&res);
    Outcome {
        ops: tally.mallocs,
        secs,
        tally,
        extra: format!(
            "cycles={cycles} live_mib_per_phase={:.2}",
            budget as f64 / (1 << 20) as f64
        ),
    }
}

// ---------------------------------------------------------------------------
// Command line.

fn usage() -> String {
    let mut s = String::from(
        "usage: hz-bench suite NAME [--threads N] [--scale F] [--quick] [--seed S]\n\
         \x20      hz-bench suite --list\n\
         \n\
         \x20 --threads N   worker threads (default: the workload's)\n\
         \x20 --scale F     multiply iteration counts and fixed times by F (default 1)\n\
         \x20 --quick       --scale 0.01 (tests)\n\
         \x20 --seed S      seed of every generator (default 1)\n\
         \n\
         Prints one [SUITE] line; exit 0 ok, 2 bad arguments, 3 corruption.\n\
         \nworkloads (default arguments, what one op is):\n",
    );
    for w in WORKLOADS {
        s.push_str(&format!("  {:14} {:12} {}\n", w.name, w.args, w.about));
    }
    s
}

/// Parses `args` (the workload's defaults first, then the user's) into
/// Params and the hidden corrupt flag.
pub fn parse(defaults: &str, args: &[String]) -> Result<(Params, bool), String> {
    let mut p = Params {
        threads: 1,
        scale: 1.0,
        seed: 1,
    };
    let mut corrupt = false;
    let all: Vec<String> = defaults
        .split_whitespace()
        .map(str::to_string)
        .chain(args.iter().cloned())
        .collect();
    let mut it = all.iter();
    while let Some(a) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match a.as_str() {
            "--threads" => {
                let v = value("--threads")?;
                p.threads = match v.parse::<usize>() {
                    Ok(n) if (1..=1024).contains(&n) => n,
                    _ => return Err(format!("--threads {v}: must be in 1..=1024")),
                };
            }
            "--scale" => {
                let v = value("--scale")?;
                p.scale = match v.parse::<f64>() {
                    Ok(f) if f.is_finite() && f > 0.0 => f,
                    _ => return Err(format!("--scale {v}: must be a positive number")),
                };
            }
            "--quick" => p.scale = 0.01,
            "--seed" => {
                let v = value("--seed")?;
                p.seed = v
                    .parse()
                    .map_err(|_| format!("--seed {v}: must be a non-negative integer"))?;
            }
            "--corrupt" => corrupt = true,
            other => return Err(format!("unknown argument '{other}'")),
        }
    }
    Ok((p, corrupt))
}

/// Entry point of `hz-bench suite ...`; returns the exit status.
pub fn main(args: &[String]) -> i32 {
    let Some(name) = args.first() else {
        eprint!("{}", usage());
        return 2;
    };
    match name.as_str() {
        "--list" => {
            for w in WORKLOADS {
                println!("{:14} {:12} {}", w.name, w.args, w.about);
            }
            return 0;
        }
        "-h" | "--help" => {
            print!("{}", usage());
            return 0;
        }
        _ => {}
    }
    let Some(w) = WORKLOADS.iter().find(|w| w.name == name) else {
        eprintln!(
            "hz-bench suite: unknown workload '{name}' (known: {})",
            WORKLOADS
                .iter()
                .map(|w| w.name)
                .collect::<Vec<_>>()
                .join(", ")
        );
        return 2;
    };
    let (p, corrupt) = match parse(w.args, &args[1..]) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("hz-bench suite: {e}");
            return 2;
        }
    };
    let _ = NAME.set(w.name);
    CORRUPT.store(corrupt, Ordering::Relaxed);
    let o = (w.run)(&p);
    if let Err(e) = o.tally.check() {
        fail(e);
    }
    let rate = if o.secs > 0.0 {
        o.ops as f64 / o.secs
    } else {
        0.0
    };
    println!(
        "[SUITE] name={} threads={} ops={} secs={:.9} ops_per_s={rate:.0} peak_rss_kb={} scale={} seed={} mallocs={} {}",
        w.name,
        p.threads,
        o.ops,
        o.secs,
        status_kb("VmHWM:"),
        p.scale,
        p.seed,
        o.tally.mallocs,
        o.extra
    );
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn user_arguments_override_the_defaults() {
        let (p, c) = parse("--threads 4", &s(&["--threads", "2", "--quick"])).unwrap();
        assert_eq!((p.threads, p.scale, c), (2, 0.01, false));
        let (p, c) = parse("--threads 4", &s(&["--corrupt", "--seed", "7"])).unwrap();
        assert_eq!((p.threads, p.seed, c), (4, 7, true));
        assert!(parse("", &s(&["--threads", "0"])).is_err());
        assert!(parse("", &s(&["--scale"])).is_err());
        assert!(parse("", &s(&["--what"])).is_err());
    }

    #[test]
    fn every_default_parses_and_names_are_unique() {
        for (i, w) in WORKLOADS.iter().enumerate() {
            parse(w.args, &[]).unwrap_or_else(|e| panic!("{}: {e}", w.name));
            assert!(
                WORKLOADS[..i].iter().all(|x| x.name != w.name),
                "{}",
                w.name
            );
            assert!(!w.name.contains(' ') && !w.about.is_empty());
        }
    }

    #[test]
    fn sizes_stay_in_range() {
        let mut r = Rng::new(1, 0);
        let mut small = 0;
        for _ in 0..100_000 {
            let n = mixed_size(&mut r);
            assert!((16..=65536).contains(&n), "{n}");
            small += (n < 64) as u32;
            let k = r.range(8, 128);
            assert!((8..=128).contains(&k));
        }
        // 50 % of the weight is below 64 B.
        assert!((45_000..55_000).contains(&small), "{small}");
        assert_eq!(MIXED_WEIGHTS.iter().sum::<u32>(), 100);
    }

    #[test]
    fn tally_notices_a_missing_free() {
        let mut t = Tally::new(1, 0);
        let a = t.alloc(40);
        let b = t.alloc(8);
        t.free(a);
        assert!(t.check().is_err());
        t.free(b);
        assert_eq!(t.check(), Ok(()));
    }
}
