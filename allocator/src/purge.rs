//! When free memory goes back to the OS.
//!
//! A purge round (`round`) does three things, each taking its own locks one
//! at a time and making no system call under any of them:
//! 1. the process-wide large span cache gives back the spans that sat
//!    unused below its low-water mark since the last round (`large::age`);
//! 2. the global bins give back the pages that are completely free — their
//!    remote queues drained and no owner local stack holding any of their
//!    objects (`bins::sweep`) — to the segment supply, where any class or a
//!    large span can take them;
//! 3. the supply purges the free pages that have stayed free since the
//!    previous round, and the spare segments likewise (`segment::purge`).
//!
//! Rounds run from slow paths only (`maybe`: the segment supply's take
//! paths and the span cache spill), at most one every `HZ4_PURGE_DELAY_MS`,
//! one thread at a time. The clock read is the coarse monotonic clock (vDSO,
//! no system call), and only after the caller is already on a path that
//! takes the segment lock. So memory freed and left alone is purged after
//! one to two delays, as long as the process still allocates now and then;
//! `malloc_trim` and thread exit purge at once (`trim`, `thread::teardown`).

use crate::config::PURGE_DELAY_NS;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Earliest coarse-clock time of the next round.
static NEXT_NS: AtomicU64 = AtomicU64::new(0);
/// Set while a thread runs a round.
static BUSY: AtomicBool = AtomicBool::new(false);
/// Diagnostics for tests: rounds run and bytes purged by them and by trims.
static ROUNDS: AtomicU64 = AtomicU64::new(0);
static PURGED: AtomicU64 = AtomicU64::new(0);

/// Run a purge round if the delay has passed since the last one. Slow paths
/// only; the caller holds no allocator lock.
#[inline(never)]
pub fn maybe() {
    let now = crate::os::coarse_now_ns();
    if now < NEXT_NS.load(Ordering::Relaxed) {
        return;
    }
    if BUSY.swap(true, Ordering::Acquire) {
        return;
    }
    NEXT_NS.store(now + PURGE_DELAY_NS, Ordering::Relaxed);
    round(false);
    BUSY.store(false, Ordering::Release);
}

/// One round; `force` gives back and purges everything free now.
fn round(force: bool) -> usize {
    let mut bytes = crate::large::age(force);
    bytes += crate::bins::sweep();
    bytes += crate::segment::purge(force);
    ROUNDS.fetch_add(1, Ordering::Relaxed);
    PURGED.fetch_add(bytes as u64, Ordering::Relaxed);
    bytes
}

/// `malloc_trim`: give back the calling thread's span cache and page
/// reservation, then purge everything free in the process now. Returns the
/// bytes returned to the OS.
pub fn trim() -> usize {
    let h = crate::tls::heap();
    let mut bytes = 0;
    if !h.is_null() {
        // SAFETY: `h` is the calling thread's live heap.
        unsafe {
            let mut batch = crate::segment::PurgeBatch::new();
            crate::large::release_thread_cache(h, &mut batch);
            crate::bins::return_reservation(h, &mut batch);
            bytes += batch.flush();
        }
    }
    while BUSY.swap(true, Ordering::Acquire) {
        // SAFETY: sched_yield has no preconditions.
        unsafe { libc::sched_yield() };
    }
    note_purged(bytes);
    bytes += round(true);
    BUSY.store(false, Ordering::Release);
    bytes
}

/// Fork child: a round another thread of the parent was running does not
/// exist here.
pub fn reset_after_fork() {
    BUSY.store(false, Ordering::Relaxed);
}

/// Count bytes purged outside a round (thread exit).
pub fn note_purged(bytes: usize) {
    PURGED.fetch_add(bytes as u64, Ordering::Relaxed);
}

/// Purge rounds run so far and bytes purged (tests and diagnostics).
pub fn totals() -> (u64, u64) {
    (
        ROUNDS.load(Ordering::Relaxed),
        PURGED.load(Ordering::Relaxed),
    )
}
