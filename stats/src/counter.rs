//! Sharded event counters and max trackers.
//!
//! # Why not `atomic_counter::RelaxedCounter` for the shards
//!
//! Issue 4 asks for the shards to be `atomic_counter::RelaxedCounter`s "if
//! they fit". They do not fit a `static`: in atomic-counter 1.0.1 the only
//! constructor, `RelaxedCounter::new`, is a plain (non-`const`) `fn`, the
//! wrapped `AtomicUsize` field is private, and `Default` is not `const`
//! either. A counter array that lives in a `static` inside a malloc must be
//! built at compile time, so the shards here are `AtomicU64`s updated with
//! `Relaxed` ordering — the same operations `RelaxedCounter` performs, but
//! with a `const fn new` and a width that does not depend on the target's
//! `usize`. atomic-counter is kept where it fits: as the "one shared counter"
//! baseline of `examples/counter_bench.rs` and as the independent tally in
//! the contention tests (both build counters at run time).
//!
//! # Layout
//!
//! A [`ShardedCounter`] is [`SHARDS`] (64) cache-line-sized slots plus one
//! spare line. The spare line makes the counter's size 65 lines instead of
//! 64, so shard `i` of consecutive counters does not sit at a multiple of
//! 4 KiB from each other: without it every counter's shard `i` would map to
//! the same L1 set and a thread touching more counters than the cache has
//! ways would evict its own shards.
//!
//! Two ways to write:
//!
//! - **Owned slots**. A thread claims a slot for
//!   itself with [`claim_shard`] and is then its only writer, so
//!   [`ShardedCounter::add_owned`] is a plain load and store — no locked
//!   read-modify-write on the hot path, and still exact. When all 64 slots
//!   are claimed, `claim_shard` hands out the shared slot (the 65th line),
//!   which `add_owned` updates with an atomic `fetch_add`. A slot is given
//!   back with [`release_shard`]; the release/claim pair orders the old
//!   owner's last store before the new owner's first load.
//! - **Round-robin slots** ([`next_shard`], [`ShardedCounter::add`]): every
//!   add is an atomic `fetch_add`, so threads may share a slot. Never mix
//!   these with owned slots on the same counter: `add` on a slot that has an
//!   owner could be overwritten by the owner's plain store.
//!
//! The allocator counts its events in per-heap
//! [`OwnerBlock`](crate::OwnerBlock)s (one plain add each, see that type
//! for the measured reason) and uses these statics only for threads without
//! a heap and for rare process-wide events, through the shared slot.

use core::cell::Cell;
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// Number of shards per counter: a power of two, at least the CPU count of
/// the machines we measure on (2 here, 16 threads per bench lane).
pub const SHARDS: usize = 64;
const SHARD_MASK: usize = SHARDS - 1;
const _: () = assert!(SHARDS.is_power_of_two());

/// One shard: a counter alone on its cache line.
#[repr(C, align(64))]
struct Shard(AtomicU64);

impl Shard {
    const fn zero() -> Shard {
        Shard(AtomicU64::new(0))
    }
}

/// A monotonic event counter split into [`SHARDS`] cache-line-padded
/// slots. Increments touch one slot; [`get`](Self::get) sums all slots.
///
/// `const`-constructible, allocation-free and panic-free: usable in a
/// `static` inside a malloc implementation.
#[repr(C)]
pub struct ShardedCounter {
    shards: [Shard; SHARDS],
    // The shared slot: written only with atomic read-modify-writes. Being a
    // 65th line, it also skews the next counter's shards (see module doc).
    shared: Shard,
}

impl ShardedCounter {
    /// A counter at zero.
    pub const fn new() -> Self {
        Self {
            shards: [const { Shard::zero() }; SHARDS],
            shared: Shard::zero(),
        }
    }

    #[inline(always)]
    fn slot(&self, shard: usize) -> &AtomicU64 {
        // The mask keeps the index in range, so this never panics and the
        // compiler drops the bounds check.
        &self.shards[shard & SHARD_MASK].0
    }

    /// Adds `n` to the slot of `shard` (any value; it is masked). Wraps on
    /// u64 overflow instead of panicking.
    #[inline(always)]
    pub fn add(&self, shard: usize, n: u64) {
        // Relaxed: the count is only read for the dump; no other memory is
        // published through it.
        self.slot(shard).fetch_add(n, Ordering::Relaxed);
    }

    /// Adds one to the slot of `shard`.
    #[inline(always)]
    pub fn inc(&self, shard: usize) {
        self.add(shard, 1);
    }

    /// Adds `n` through a slot claimed with [`claim_shard`]: a plain load
    /// and store when the slot is owned (the caller is its only writer), an
    /// atomic add on the shared slot otherwise.
    #[inline(always)]
    pub fn add_owned(&self, shard: OwnedShard, n: u64) {
        match self.shards.get(shard.0) {
            Some(s) => {
                // Relaxed load and store: this thread is the slot's only
                // writer, so nothing can come between them; readers only
                // need an untorn value, which an aligned u64 access gives.
                let v = s.0.load(Ordering::Relaxed);
                s.0.store(v.wrapping_add(n), Ordering::Relaxed);
            }
            None => {
                self.shared.0.fetch_add(n, Ordering::Relaxed);
            }
        }
    }

    /// Adds one to the shared slot (atomic; for rare events of callers
    /// without a slot of their own).
    #[inline]
    pub fn inc_shared(&self) {
        self.shared.0.fetch_add(1, Ordering::Relaxed);
    }

    /// Adds one to the calling thread's shard, found through a thread-local
    /// index (assigned by [`next_shard`] on first use). For callers without
    /// their own per-thread state; a caller that keeps its shard in its own
    /// state passes it to [`inc`](Self::inc) instead and saves the TLS lookup.
    #[inline]
    pub fn inc_here(&self) {
        self.inc(current_shard());
    }

    /// Sum of all shards. Concurrent increments may or may not be included;
    /// once writers have stopped the sum is exact.
    pub fn get(&self) -> u64 {
        self.shards
            .iter()
            .chain(core::iter::once(&self.shared))
            // Relaxed: a snapshot of independent counters is all a dump needs.
            .fold(0u64, |acc, s| acc.wrapping_add(s.0.load(Ordering::Relaxed)))
    }

    /// Sets every shard to zero. Increments racing with the reset may
    /// survive it; meant for tests and between runs.
    pub fn reset(&self) {
        for s in self.shards.iter().chain(core::iter::once(&self.shared)) {
            s.0.store(0, Ordering::Relaxed);
        }
    }

    /// Makes [`get`](Self::get) return `v` (reset, then `v` in shard 0).
    /// Not atomic against concurrent increments; for tests and replays.
    pub fn set(&self, v: u64) {
        self.reset();
        self.add(0, v);
    }
}

impl Default for ShardedCounter {
    fn default() -> Self {
        Self::new()
    }
}

/// Tracks the largest value seen (`*_ns_max`, `*_steps_max`).
///
/// One atomic, not sharded: it is only updated on sampled lock events (one
/// in 2^`HZ4_MID_LOCK_TIME_STATS_SAMPLE_SHIFT` lock entries), and
/// [`record`](Self::record) first does a plain load and skips the
/// read-modify-write when the value is not a new maximum. After warm-up
/// nearly every sample is below the running max, so the line stays shared
/// read-only in all caches instead of bouncing. `examples/counter_bench.rs`
/// measures it next to the sharded counter.
#[repr(C, align(64))]
pub struct MaxCounter(AtomicU64);

impl MaxCounter {
    /// A tracker at zero.
    pub const fn new() -> Self {
        Self(AtomicU64::new(0))
    }

    /// Raises the maximum to `v` if `v` is larger.
    #[inline]
    pub fn record(&self, v: u64) {
        // Relaxed: the maximum is a standalone statistic; the load is only a
        // filter, fetch_max makes the update itself race-free.
        if v > self.0.load(Ordering::Relaxed) {
            self.0.fetch_max(v, Ordering::Relaxed);
        }
    }

    /// The largest value recorded since the last reset.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }

    /// Back to zero.
    pub fn reset(&self) {
        self.0.store(0, Ordering::Relaxed);
    }

    /// Overwrites the maximum with `v` (for tests and replays).
    pub fn set(&self, v: u64) {
        self.0.store(v, Ordering::Relaxed);
    }
}

impl Default for MaxCounter {
    fn default() -> Self {
        Self::new()
    }
}

/// A counter slot claimed by one thread ([`claim_shard`]); pass it to
/// [`ShardedCounter::add_owned`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OwnedShard(usize);

impl OwnedShard {
    /// The shared slot: every add through it is atomic.
    pub const SHARED: OwnedShard = OwnedShard(SHARDS);

    /// Slot index (`SHARDS` for the shared slot).
    pub fn index(self) -> usize {
        self.0
    }
}

/// One bit per owned slot: set while some thread holds it.
static CLAIMED: AtomicU64 = AtomicU64::new(0);

/// Claims a slot for the calling thread's exclusive use, or the shared slot
/// when all [`SHARDS`] are taken. Lock-free, no allocation.
pub fn claim_shard() -> OwnedShard {
    let mut cur = CLAIMED.load(Ordering::Relaxed);
    loop {
        if cur == u64::MAX {
            return OwnedShard::SHARED;
        }
        let i = (!cur).trailing_zeros() as usize;
        // Acquire: the previous owner's last adds (before its Release in
        // `release_shard`) happen before ours.
        match CLAIMED.compare_exchange_weak(
            cur,
            cur | (1 << i),
            Ordering::Acquire,
            Ordering::Relaxed,
        ) {
            Ok(_) => return OwnedShard(i),
            Err(now) => cur = now,
        }
    }
}

/// Gives a slot back (no-op for the shared slot). The caller must not add
/// through it afterwards.
pub fn release_shard(shard: OwnedShard) {
    if shard.0 < SHARDS {
        // Release: our adds are complete before the next owner's.
        CLAIMED.fetch_and(!(1u64 << shard.0), Ordering::Release);
    }
}

static NEXT_SHARD: AtomicUsize = AtomicUsize::new(0);

/// Hands out shard indices round-robin (`0, 1, …, SHARDS-1, 0, …`). Call
/// once per thread and keep the result in the thread's own state.
pub fn next_shard() -> usize {
    // Relaxed: only uniqueness of consecutive values matters, which the
    // atomic RMW gives under any ordering.
    NEXT_SHARD.fetch_add(1, Ordering::Relaxed) & SHARD_MASK
}

const UNASSIGNED: usize = usize::MAX;

std::thread_local! {
    // Const-initialised `Cell<usize>`: no lazy-init closure and no
    // destructor, so no TLS-destructor registration (which may allocate).
    static THREAD_SHARD: Cell<usize> = const { Cell::new(UNASSIGNED) };
}

/// The calling thread's shard, assigned by [`next_shard`] on first call.
/// Falls back to shard 0 if thread-locals are unavailable (never expected:
/// the slot has no destructor, so it is never torn down).
#[inline]
pub fn current_shard() -> usize {
    THREAD_SHARD
        .try_with(|s| {
            let v = s.get();
            if v != UNASSIGNED {
                v
            } else {
                let n = next_shard();
                s.set(n);
                n
            }
        })
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use atomic_counter::{AtomicCounter, RelaxedCounter};
    use std::sync::{Arc, Barrier};

    #[test]
    fn layout_is_padded_and_skewed() {
        assert_eq!(core::mem::size_of::<Shard>(), 64);
        assert_eq!(core::mem::align_of::<ShardedCounter>(), 64);
        assert_eq!(core::mem::size_of::<ShardedCounter>(), 65 * 64);
        assert_eq!(core::mem::size_of::<MaxCounter>(), 64);
    }

    #[test]
    fn shard_index_is_masked() {
        let c = ShardedCounter::new();
        c.inc(usize::MAX);
        c.add(SHARDS, 2);
        c.add(3, u64::MAX);
        // 1 + 2 + u64::MAX wraps to 2.
        assert_eq!(c.get(), 2);
        c.set(41);
        c.inc(7);
        assert_eq!(c.get(), 42);
        c.reset();
        assert_eq!(c.get(), 0);
    }

    #[test]
    fn sum_is_exact_under_contention() {
        const THREADS: usize = 16;
        const PER_THREAD: u64 = 50_000;
        let c = Arc::new(ShardedCounter::new());
        // Tally kept with atomic-counter as an independent witness.
        let tally = Arc::new(RelaxedCounter::new(0));
        let go = Arc::new(Barrier::new(THREADS));
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let (c, tally, go) = (c.clone(), tally.clone(), go.clone());
                std::thread::spawn(move || {
                    // Half the threads share shard 0 to force contention on
                    // one slot; the rest take their own.
                    let shard = if t % 2 == 0 { 0 } else { next_shard() };
                    go.wait();
                    for i in 0..PER_THREAD {
                        if i % 3 == 0 {
                            c.add(shard, 2);
                            tally.add(2);
                        } else {
                            c.inc(shard);
                            tally.inc();
                        }
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        let per_thread = PER_THREAD + PER_THREAD.div_ceil(3);
        assert_eq!(c.get(), THREADS as u64 * per_thread);
        assert_eq!(c.get(), tally.get() as u64);
    }

    #[test]
    fn inc_here_from_many_threads() {
        const THREADS: usize = 8;
        static C: ShardedCounter = ShardedCounter::new();
        let handles: Vec<_> = (0..THREADS)
            .map(|_| {
                std::thread::spawn(|| {
                    let first = current_shard();
                    for _ in 0..10_000 {
                        C.inc_here();
                    }
                    // The shard sticks to the thread.
                    assert_eq!(current_shard(), first);
                    assert!(first < SHARDS);
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(C.get(), THREADS as u64 * 10_000);
    }

    #[test]
    fn next_shard_round_robin_stays_in_range() {
        let a = next_shard();
        for _ in 0..(3 * SHARDS) {
            assert!(next_shard() < SHARDS);
        }
        assert!(a < SHARDS);
    }

    #[test]
    fn max_counter_keeps_largest() {
        let m = MaxCounter::new();
        assert_eq!(m.get(), 0);
        m.record(5);
        m.record(3);
        assert_eq!(m.get(), 5);
        m.record(u64::MAX);
        assert_eq!(m.get(), u64::MAX);
        m.reset();
        assert_eq!(m.get(), 0);
        m.set(7);
        m.record(6);
        assert_eq!(m.get(), 7);
    }

    #[test]
    fn max_counter_under_contention() {
        const THREADS: u64 = 16;
        let m = Arc::new(MaxCounter::new());
        let go = Arc::new(Barrier::new(THREADS as usize));
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let (m, go) = (m.clone(), go.clone());
                std::thread::spawn(move || {
                    go.wait();
                    // Interleaved, non-monotonic values; thread t's largest
                    // is 1000 * 16 + t, the global largest belongs to t = 15.
                    for i in (0..=1000u64).rev().chain(0..500) {
                        m.record(i * THREADS + t);
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(m.get(), 1000 * THREADS + THREADS - 1);
    }
}

#[cfg(test)]
mod owned_tests {
    use super::*;

    #[test]
    fn owned_slots_are_exclusive_and_exact() {
        static C: ShardedCounter = ShardedCounter::new();
        let before = C.get();
        // More threads than slots: some get the shared slot, all counts land.
        std::thread::scope(|s| {
            for _ in 0..80 {
                s.spawn(|| {
                    let slot = claim_shard();
                    for _ in 0..10_000 {
                        C.add_owned(slot, 1);
                    }
                    // Hold the slot until every thread has claimed one, so
                    // at least 80 - 64 of them share.
                    std::thread::sleep(std::time::Duration::from_millis(50));
                    release_shard(slot);
                });
            }
        });
        assert_eq!(C.get() - before, 800_000);
    }

    #[test]
    fn claim_release_round_trip() {
        let a = claim_shard();
        let b = claim_shard();
        assert_ne!(a, b);
        release_shard(a);
        release_shard(b);
        assert!(OwnedShard::SHARED.index() == SHARDS);
    }
}
