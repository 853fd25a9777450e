//! `hz-bench`: the multi-threaded remote-free lane bench.
//!
//! Every worker thread owns WS slots. One iteration:
//!   1. drain the thread's receive ring (each object received is freed and
//!      counted as one op),
//!   2. pick a random slot; a full slot is freed — with probability
//!      REMOTE_PCT % by handing the pointer to thread (i + 1) % THREADS over
//!      a bounded single-producer/single-consumer ring (ring full → local
//!      "fallback" free), otherwise locally — and an empty slot is filled
//!      with `malloc` of a random size in [MIN, MAX].
//!
//! All heap traffic of the measured loop goes through `libc::malloc` /
//! `libc::free`, so `LD_PRELOAD` chooses the allocator under test. The
//! bench's own bookkeeping (slot arrays, rings) is allocated before the
//! timed section starts.

use std::cell::UnsafeCell;
use std::ffi::CStr;
use std::io::Write;
use std::os::raw::c_char;
use std::process::ExitCode;
use std::ptr;
use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};
use std::sync::Barrier;
use std::time::{Duration, Instant};

#[path = "../mem.rs"]
mod mem;
#[path = "../suite.rs"]
mod suite;

const USAGE: &str = "usage: hz-bench THREADS ITERS WS MIN MAX REMOTE_PCT RING_SLOTS \
(THREADS>=1, WS>=1, 16<=MIN<=MAX, REMOTE_PCT<=100, RING_SLOTS>=2; \
env HZ_BENCH_ABORT_AFTER_MS=N makes the bench abort() after N ms)";

const HELP: &str = "\
hz-bench THREADS ITERS WS MIN MAX REMOTE_PCT RING_SLOTS

  THREADS     worker threads (>= 1)
  ITERS       iterations per thread
  WS          slots per thread (working set, >= 1)
  MIN, MAX    object size range in bytes, uniform, 16 <= MIN <= MAX
  REMOTE_PCT  percent of frees handed to the next thread (0..=100)
  RING_SLOTS  capacity of each thread's receive ring (>= 2)

ops = THREADS*ITERS + objects freed by receivers during the timed section.
Exit status: 0 ok, 2 bad arguments, 3 tag corruption detected.

hz-bench mem SCENARIO [--scale F]   memory scenarios (hz-bench mem --list)
hz-bench suite NAME [--threads N] [--scale F] [--quick]
                                    workload suite (hz-bench suite --help)

Environment:
  HZ_BENCH_ABORT_AFTER_MS=N   call abort() after N milliseconds (simulates a
                              crashing allocator variant in lab-runner tests)

Example lanes (work order B77):
  guard_r0      16 1200000 400 16 2048 0 65536
  main_r0       16 1200000 400 16 32768 0 65536
  main_r50      16 1200000 400 16 32768 50 65536
  cross128_r90  16 400000 400 16 131072 90 65536
";

/// Validated command line.
#[derive(Clone, Copy, Debug)]
struct Args {
    threads: usize,
    iters: u64,
    ws: usize,
    min: usize,
    max: usize,
    remote_pct: u64,
    ring_slots: usize,
}

fn bad(name: &str, why: &str) -> String {
    format!("bad {name}: {why}")
}

fn parse_num<T: std::str::FromStr>(name: &str, text: &str) -> Result<T, String> {
    text.trim()
        .parse::<T>()
        .map_err(|_| bad(name, &format!("'{text}' is not a non-negative integer")))
}

fn parse_args(argv: &[String]) -> Result<Args, String> {
    const NAMES: [&str; 7] = [
        "THREADS",
        "ITERS",
        "WS",
        "MIN",
        "MAX",
        "REMOTE_PCT",
        "RING_SLOTS",
    ];
    if argv.len() != NAMES.len() {
        return Err(format!(
            "bad argument count: expected {}, got {}",
            NAMES.len(),
            argv.len()
        ));
    }
    let threads: usize = parse_num(NAMES[0], &argv[0])?;
    let iters: u64 = parse_num(NAMES[1], &argv[1])?;
    let ws: usize = parse_num(NAMES[2], &argv[2])?;
    let min: usize = parse_num(NAMES[3], &argv[3])?;
    let max: usize = parse_num(NAMES[4], &argv[4])?;
    let remote_pct: u64 = parse_num(NAMES[5], &argv[5])?;
    let ring_slots: usize = parse_num(NAMES[6], &argv[6])?;

    if threads == 0 {
        return Err(bad("THREADS", "must be at least 1"));
    }
    if ws == 0 || ws > u32::MAX as usize {
        return Err(bad("WS", "must be in 1..=4294967295"));
    }
    if min < 16 {
        return Err(bad("MIN", "must be at least 16 (room for the 8-byte tag)"));
    }
    if min > max {
        return Err(bad("MAX", "must not be smaller than MIN"));
    }
    if remote_pct > 100 {
        return Err(bad("REMOTE_PCT", "must be in 0..=100"));
    }
    if ring_slots < 2 {
        return Err(bad("RING_SLOTS", "must be at least 2"));
    }
    Ok(Args {
        threads,
        iters,
        ws,
        min,
        max,
        remote_pct,
        ring_slots,
    })
}

// ---------------------------------------------------------------------------
// Random numbers: splitmix64 for seeding, wyrand in the loop.

fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

struct WyRand(u64);

impl WyRand {
    fn for_thread(index: usize) -> Self {
        WyRand(splitmix64(0x4A5B_3C2D_1E0F_7788 ^ (index as u64)))
    }

    #[inline(always)]
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0xA076_1D64_78BD_642F);
        let m = (self.0 as u128) * ((self.0 ^ 0xE703_7ED1_A0B4_28DB) as u128);
        ((m >> 64) as u64) ^ (m as u64)
    }
}

/// Maps a 32-bit random value onto 0..n (multiply-high, no division).
#[inline(always)]
fn scale32(r: u32, n: u64) -> u64 {
    (((r as u128) * (n as u128)) >> 32) as u64
}

// ---------------------------------------------------------------------------
// Object tags: the first 8 bytes of every live object hold a value derived
// from its address and the allocating thread; it is checked and wiped just
// before the object is freed. A mismatch means the allocator handed out
// overlapping memory, reused a live object, or wrote into one.

#[inline(always)]
fn tag_for(p: *mut u8, salt: u64) -> u64 {
    let x = (p as u64) ^ salt;
    (x ^ (x >> 29)).wrapping_mul(0xD6E8_FEB8_6659_FD93) | 1
}

fn thread_salt(index: usize) -> u64 {
    splitmix64(0xC0FF_EE00_0000_0000 | index as u64)
}

/// Checks and wipes the tag, then frees. Returns true when the tag was wrong.
///
/// # Safety
/// `p` must be a live pointer obtained from `libc::malloc` with at least 8
/// bytes, not used again afterwards.
#[inline(always)]
unsafe fn check_and_free(p: *mut u8, salt: u64) -> bool {
    let slot = p as *mut u64;
    let bad = slot.read_unaligned() != tag_for(p, salt);
    // Volatile: a plain store right before free() is a dead store to LLVM and
    // would be dropped, losing the double-handout detection.
    if (p as usize) & 7 == 0 {
        slot.write_volatile(0);
    } else {
        (p as *mut [u8; 8]).write_volatile([0; 8]);
    }
    libc::free(p as *mut libc::c_void);
    bad
}

// ---------------------------------------------------------------------------
// Bounded single-producer / single-consumer ring.
//
// `buf` has RING_SLOTS + 1 cells so that RING_SLOTS objects fit (one cell
// stays empty to tell "full" from "empty"). The producer only writes `tail`,
// the consumer only writes `head`; both keep private copies of their own index
// and the producer caches the consumer's index, rereading it only when the ring
// looks full.

#[repr(align(128))]
struct Padded<T>(T);

/// Ring storage: anonymous mmap, outside the allocator under test. Pages a
/// lane never sends through stay untouched, so the rings add nothing to max
/// RSS on the r0 lanes and do not perturb the measured heap (a written-out
/// set of 16 rings x 64 Ki entries would be ~8 MiB).
struct Cells {
    ptr: *mut AtomicPtr<u8>,
    len: usize,
}

// SAFETY: the cells are atomics; the mapping is owned by this value.
unsafe impl Send for Cells {}
unsafe impl Sync for Cells {}

impl Cells {
    fn new(len: usize) -> Self {
        let bytes = len
            .checked_mul(std::mem::size_of::<AtomicPtr<u8>>())
            .expect("ring size overflow");
        // SAFETY: fresh private anonymous mapping; zero bytes are null
        // AtomicPtrs.
        let p = unsafe {
            libc::mmap(
                ptr::null_mut(),
                bytes,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            eprintln!("hz-bench: mmap of {bytes} bytes for a ring failed");
            std::process::exit(1);
        }
        Cells {
            ptr: p as *mut AtomicPtr<u8>,
            len,
        }
    }

    fn len(&self) -> usize {
        self.len
    }

    /// # Safety
    /// `i < self.len()`.
    #[inline(always)]
    unsafe fn get_unchecked(&self, i: usize) -> &AtomicPtr<u8> {
        &*self.ptr.add(i)
    }
}

impl Drop for Cells {
    fn drop(&mut self) {
        // SAFETY: unmapping exactly the mapping created in `new`.
        unsafe {
            libc::munmap(
                self.ptr as *mut libc::c_void,
                self.len * std::mem::size_of::<AtomicPtr<u8>>(),
            );
        }
    }
}

struct Ring {
    tail: Padded<AtomicUsize>,
    head: Padded<AtomicUsize>,
    buf: Cells,
}

impl Ring {
    fn new(slots: usize) -> Self {
        Ring {
            tail: Padded(AtomicUsize::new(0)),
            head: Padded(AtomicUsize::new(0)),
            buf: Cells::new(slots + 1),
        }
    }

    #[inline(always)]
    fn cell(&self, i: usize) -> &AtomicPtr<u8> {
        debug_assert!(i < self.buf.len());
        // SAFETY: every index handed in is produced by `step`, which keeps it
        // below buf.len().
        unsafe { self.buf.get_unchecked(i) }
    }

    #[inline(always)]
    fn step(&self, i: usize) -> usize {
        let n = i + 1;
        if n == self.buf.len() {
            0
        } else {
            n
        }
    }
}

/// Producer-side private state for the ring a thread sends into.
struct Sender<'a> {
    ring: &'a Ring,
    tail: usize,
    head_seen: usize,
}

impl Sender<'_> {
    /// Returns false (and keeps `p`) when the ring is full.
    #[inline(always)]
    fn try_send(&mut self, p: *mut u8) -> bool {
        let next = self.ring.step(self.tail);
        if next == self.head_seen {
            self.head_seen = self.ring.head.0.load(Ordering::Acquire);
            if next == self.head_seen {
                return false;
            }
        }
        self.ring.cell(self.tail).store(p, Ordering::Relaxed);
        self.tail = next;
        self.ring.tail.0.store(next, Ordering::Release);
        true
    }
}

/// Consumer-side private state for a thread's own receive ring.
struct Receiver<'a> {
    ring: &'a Ring,
    head: usize,
}

impl Receiver<'_> {
    /// Frees everything currently in the ring; returns (objects, bad tags).
    #[inline(always)]
    fn drain(&mut self, salt: u64) -> (u64, u64) {
        let tail = self.ring.tail.0.load(Ordering::Acquire);
        if tail == self.head {
            return (0, 0);
        }
        let mut h = self.head;
        let mut n = 0u64;
        let mut corrupt = 0u64;
        while h != tail {
            let p = self.ring.cell(h).load(Ordering::Relaxed);
            // SAFETY: the sender transferred ownership of a live malloc'ed
            // object through the ring.
            corrupt += unsafe { check_and_free(p, salt) } as u64;
            n += 1;
            h = self.ring.step(h);
        }
        self.head = h;
        self.ring.head.0.store(h, Ordering::Release);
        (n, corrupt)
    }
}

// ---------------------------------------------------------------------------
// Worker

#[derive(Default, Clone, Copy)]
struct Counts {
    remote_frees: u64,
    sends: u64,
    local_frees: u64,
    fallback_frees: u64,
    alloc_failures: u64,
    corruption: u64,
}

struct WorkerResult {
    counts: Counts,
    start: Instant,
    end: Instant,
}

/// Slot storage that never reallocates and whose indexing carries no bounds
/// check in the hot loop (indexes come from `scale32(_, ws)` < ws).
struct Slots(Box<[UnsafeCell<*mut u8>]>);

impl Slots {
    fn new(n: usize) -> Self {
        Slots((0..n).map(|_| UnsafeCell::new(ptr::null_mut())).collect())
    }

    #[inline(always)]
    fn at(&self, i: usize) -> *mut *mut u8 {
        debug_assert!(i < self.0.len());
        // SAFETY: callers pass i < len.
        unsafe { self.0.get_unchecked(i).get() }
    }
}

fn worker(
    index: usize,
    args: Args,
    rings: &[Ring],
    start_gate: &Barrier,
    done_gate: &Barrier,
) -> WorkerResult {
    let t = args.threads;
    let my_salt = thread_salt(index);
    let prev_salt = thread_salt((index + t - 1) % t);
    let mut rx = Receiver {
        ring: &rings[index],
        head: 0,
    };
    let mut tx = Sender {
        ring: &rings[(index + 1) % t],
        tail: 0,
        head_seen: 0,
    };
    let slots = Slots::new(args.ws);
    let mut rng = WyRand::for_thread(index);
    let ws = args.ws as u64;
    let min = args.min;
    let span = (args.max - args.min) as u64 + 1;
    let pct = args.remote_pct;
    let mut c = Counts::default();

    start_gate.wait();
    let start = Instant::now();
    for _ in 0..args.iters {
        let (n, bad) = rx.drain(prev_salt);
        c.remote_frees += n;
        c.corruption += bad;

        let r = rng.next();
        let cell = slots.at(scale32(r as u32, ws) as usize);
        let hi = (r >> 32) as u32;
        // SAFETY: `cell` points into this thread's own slot array.
        let p = unsafe { *cell };
        if !p.is_null() {
            unsafe { *cell = ptr::null_mut() };
            if scale32(hi, 100) < pct {
                if tx.try_send(p) {
                    c.sends += 1;
                    continue;
                }
                c.fallback_frees += 1;
            }
            c.local_frees += 1;
            // SAFETY: `p` came from malloc in this thread and left its slot.
            c.corruption += unsafe { check_and_free(p, my_salt) } as u64;
        } else {
            let size = min + scale32(hi, span) as usize;
            // SAFETY: plain C allocation; the tag fits since size >= 16.
            let q = unsafe { libc::malloc(size) } as *mut u8;
            if q.is_null() {
                c.alloc_failures += 1;
            } else {
                unsafe {
                    (q as *mut u64).write_unaligned(tag_for(q, my_salt));
                    *cell = q;
                }
            }
        }
    }
    let end = Instant::now();

    // Untimed cleanup once every producer has stopped.
    done_gate.wait();
    let (_, bad) = rx.drain(prev_salt);
    c.corruption += bad;
    for i in 0..args.ws {
        // SAFETY: index within the slot array; objects are ours.
        let p = unsafe { *slots.at(i) };
        if !p.is_null() {
            c.corruption += unsafe { check_and_free(p, my_salt) } as u64;
        }
    }
    WorkerResult {
        counts: c,
        start,
        end,
    }
}

// ---------------------------------------------------------------------------

fn build_info() -> Option<String> {
    type InfoFn = unsafe extern "C" fn() -> *const c_char;
    // SAFETY: dlsym with a NUL-terminated name; if found, the symbol has the
    // documented signature and returns a NUL-terminated static string.
    unsafe {
        let sym = libc::dlsym(libc::RTLD_DEFAULT, c"hz4_build_info".as_ptr());
        if sym.is_null() {
            return None;
        }
        let f: InfoFn = std::mem::transmute::<*mut libc::c_void, InfoFn>(sym);
        let s = f();
        if s.is_null() {
            return None;
        }
        Some(CStr::from_ptr(s).to_string_lossy().trim_end().to_string())
    }
}

/// The process's resource usage so far, or None when getrusage fails.
fn rusage() -> Option<libc::rusage> {
    // SAFETY: getrusage only writes the struct it is given, and a zeroed
    // rusage is a valid value of that plain C struct.
    unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        (libc::getrusage(libc::RUSAGE_SELF, &mut ru) == 0).then_some(ru)
    }
}

/// `[RSS]` and `[RUSAGE]` lines: what the kernel counted for this run (CPU
/// time in user and kernel mode, page faults, context switches), so the
/// lab can tell which of them moves with the run-to-run spread.
fn print_rusage() {
    let Some(ru) = rusage() else {
        println!("[RSS] max_rss_kb=-1");
        return;
    };
    let us = |t: libc::timeval| t.tv_sec * 1_000_000 + t.tv_usec;
    println!("[RSS] max_rss_kb={}", ru.ru_maxrss);
    println!(
        "[RUSAGE] utime_us={} stime_us={} minflt={} majflt={} nvcsw={} nivcsw={}",
        us(ru.ru_utime),
        us(ru.ru_stime),
        ru.ru_minflt,
        ru.ru_majflt,
        ru.ru_nvcsw,
        ru.ru_nivcsw
    );
}

fn arm_abort_timer() -> Result<(), String> {
    let Ok(text) = std::env::var("HZ_BENCH_ABORT_AFTER_MS") else {
        return Ok(());
    };
    let ms: u64 = text
        .trim()
        .parse()
        .map_err(|_| format!("bad HZ_BENCH_ABORT_AFTER_MS: '{text}' is not a number"))?;
    let fire = move || {
        let _ = std::io::stdout().flush();
        eprintln!("hz-bench: HZ_BENCH_ABORT_AFTER_MS={ms} reached, aborting");
        std::process::abort();
    };
    if ms == 0 {
        // At once, on this thread: a timer thread might not be scheduled
        // before a tiny run ends (seen on a loaded machine: the "crashing"
        // variant then finished cleanly).
        fire();
    }
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(ms));
        fire();
    });
    Ok(())
}

fn pct(num: u64, den: u64) -> f64 {
    if den == 0 {
        0.0
    } else {
        100.0 * num as f64 / den as f64
    }
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    if argv.first().map(String::as_str) == Some("mem") {
        // Memory scenarios (issue 12): `hz-bench mem SCENARIO [--scale F]`.
        return ExitCode::from(mem::main(&argv[1..]) as u8);
    }
    if argv.first().map(String::as_str) == Some("suite") {
        // Workload suite (issue 15): `hz-bench suite NAME [args]`.
        return ExitCode::from(suite::main(&argv[1..]) as u8);
    }
    if argv.len() == 1 && (argv[0] == "-h" || argv[0] == "--help") {
        print!("{HELP}");
        return ExitCode::SUCCESS;
    }
    let args = match parse_args(&argv) {
        Ok(a) => a,
        Err(why) => {
            eprintln!("{USAGE} -- {why}");
            return ExitCode::from(2);
        }
    };
    if let Err(why) = arm_abort_timer() {
        eprintln!("{USAGE} -- {why}");
        return ExitCode::from(2);
    }

    if let Some(line) = build_info() {
        println!("{line}");
    }
    println!(
        "[BENCH_ARGS] threads={} iters={} ws={} min={} max={} remote_pct={} ring_slots={}",
        args.threads, args.iters, args.ws, args.min, args.max, args.remote_pct, args.ring_slots
    );
    let _ = std::io::stdout().flush();

    let rings: Vec<Ring> = (0..args.threads)
        .map(|_| Ring::new(args.ring_slots))
        .collect();
    let start_gate = Barrier::new(args.threads);
    let done_gate = Barrier::new(args.threads);
    let results: Vec<WorkerResult> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..args.threads)
            .map(|i| {
                let (rings, sg, dg) = (&rings, &start_gate, &done_gate);
                std::thread::Builder::new()
                    .name(format!("hz-bench-{i}"))
                    .spawn_scoped(s, move || worker(i, args, rings, sg, dg))
                    .expect("spawn worker thread")
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("worker thread panicked"))
            .collect()
    });

    let mut total = Counts::default();
    for r in &results {
        let c = r.counts;
        total.remote_frees += c.remote_frees;
        total.sends += c.sends;
        total.local_frees += c.local_frees;
        total.fallback_frees += c.fallback_frees;
        total.alloc_failures += c.alloc_failures;
        total.corruption += c.corruption;
    }
    let start = results.iter().map(|r| r.start).min().expect("threads >= 1");
    let end = results.iter().map(|r| r.end).max().expect("threads >= 1");
    let secs = end.duration_since(start).as_secs_f64();
    let ops = args.threads as u64 * args.iters + total.remote_frees;
    let rate = if secs > 0.0 { ops as f64 / secs } else { 0.0 };

    println!(
        "bench_random_mixed_mt_remote: threads={} ops={} time={:.6} ops/s={:.2}",
        args.threads, ops, secs, rate
    );
    println!(
        "[EFFECTIVE_REMOTE] target={} actual={:.2} fallback_rate={:.2} sends={} local_frees={} fallback_frees={}",
        args.remote_pct,
        pct(total.sends, total.sends + total.local_frees),
        pct(total.fallback_frees, total.sends + total.fallback_frees),
        total.sends,
        total.local_frees,
        total.fallback_frees
    );
    println!("[ALLOC_FAILURES] count={}", total.alloc_failures);
    print_rusage();
    if total.corruption > 0 {
        println!("[CORRUPTION] count={}", total.corruption);
        let _ = std::io::stdout().flush();
        return ExitCode::from(3);
    }
    let _ = std::io::stdout().flush();
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strs(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parses_a_lane() {
        let a = parse_args(&strs(&[
            "16", "1200000", "400", "16", "32768", "50", "65536",
        ]))
        .unwrap();
        assert_eq!(a.threads, 16);
        assert_eq!(a.max, 32768);
        assert_eq!(a.remote_pct, 50);
    }

    #[test]
    fn names_the_bad_argument() {
        let e = parse_args(&strs(&["0", "1", "1", "16", "32", "0", "8"])).unwrap_err();
        assert!(e.contains("THREADS"), "{e}");
        let e = parse_args(&strs(&["1", "1", "1", "8", "32", "0", "8"])).unwrap_err();
        assert!(e.contains("MIN"), "{e}");
        let e = parse_args(&strs(&["1", "1", "1", "64", "32", "0", "8"])).unwrap_err();
        assert!(e.contains("MAX"), "{e}");
        let e = parse_args(&strs(&["1", "1", "1", "16", "32", "101", "8"])).unwrap_err();
        assert!(e.contains("REMOTE_PCT"), "{e}");
        let e = parse_args(&strs(&["1", "1", "1", "16", "32", "0", "1"])).unwrap_err();
        assert!(e.contains("RING_SLOTS"), "{e}");
        let e = parse_args(&strs(&["1", "x", "1", "16", "32", "0", "8"])).unwrap_err();
        assert!(e.contains("ITERS"), "{e}");
        let e = parse_args(&strs(&["1"])).unwrap_err();
        assert!(e.contains("count"), "{e}");
    }

    #[test]
    fn scale_stays_in_range() {
        for n in [1u64, 2, 100, 400, 131057, u32::MAX as u64] {
            assert!(scale32(u32::MAX, n) < n);
            assert_eq!(scale32(0, n), 0);
        }
        // REMOTE_PCT=100 is always below the threshold, REMOTE_PCT=0 never.
        assert!(scale32(u32::MAX, 100) < 100);
    }

    #[test]
    fn ring_holds_exactly_its_capacity() {
        let ring = Ring::new(3);
        let mut tx = Sender {
            ring: &ring,
            tail: 0,
            head_seen: 0,
        };
        let mut boxes: Vec<u64> = vec![0; 4];
        for b in boxes.iter_mut().take(3) {
            assert!(tx.try_send(b as *mut u64 as *mut u8));
        }
        assert!(!tx.try_send(&mut boxes[3] as *mut u64 as *mut u8));
        assert_eq!(ring.tail.0.load(Ordering::Relaxed), 3);
    }
}
