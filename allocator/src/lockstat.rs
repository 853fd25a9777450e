//! Lock path timing (`HZ4_MID_LOCK_TIME_STATS`): every entry is counted;
//! one in 2^SAMPLE_SHIFT entries of a thread is timed (wait to acquire,
//! hold until release, bin entries examined while holding). Without the
//! knob, `enter`/`leave` are a plain lock and unlock.

use crate::config::{LOCK_CONTENDED_NS, LOCK_SAMPLE_MASK, LOCK_STATS};
use crate::heap::Heap;
use crate::sync::Lock;
use hz4_stats::CountSink;

/// What `enter` measured, handed back to `leave`.
#[derive(Clone, Copy)]
pub struct Entry {
    /// Monotonic ns when the lock was acquired, 0 when this entry is not sampled.
    acquired_ns: u64,
}

/// CLOCK_MONOTONIC in ns (vDSO; no allocation, no lock).
pub(crate) fn now_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes the timespec we pass; CLOCK_MONOTONIC is
    // served by the vDSO without allocating.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    (ts.tv_sec as u64)
        .wrapping_mul(1_000_000_000)
        .wrapping_add(ts.tv_nsec as u64)
}

/// Take `lk` on the lock path of heap `h`; `mid` says whether this is a
/// mid class (only those are counted and timed, as in the reference dumps).
#[inline]
pub fn enter(h: *mut Heap, lk: &Lock, mid: bool) -> Entry {
    if !LOCK_STATS || !mid {
        lk.lock();
        return Entry { acquired_ns: 0 };
    }
    // SAFETY: the lock path runs with the calling thread's live heap.
    let stats = unsafe { crate::stats::block_of(h) };
    stats.inc(hz4_stats::Key::lock_enter);
    // SAFETY: the lock path always runs with the caller's live heap.
    let n = unsafe {
        (*h).lock_ticks = (*h).lock_ticks.wrapping_add(1);
        (*h).lock_ticks
    };
    if n & LOCK_SAMPLE_MASK != 0 {
        lk.lock();
        return Entry { acquired_ns: 0 };
    }
    let t0 = now_ns();
    lk.lock();
    let t1 = now_ns();
    stats.on_lock_wait_sample(t1.saturating_sub(t0), LOCK_CONTENDED_NS);
    Entry {
        acquired_ns: t1.max(1),
    }
}

/// Release `lk`; for a sampled entry record the hold time and the bin
/// entries examined while holding it.
#[inline]
pub fn leave(h: *mut Heap, lk: &Lock, e: Entry, binscan_steps: u64) {
    if LOCK_STATS && e.acquired_ns != 0 {
        let held = now_ns().saturating_sub(e.acquired_ns);
        lk.unlock();
        // SAFETY: the lock path runs with the calling thread's live heap.
        unsafe { crate::stats::block_of(h) }.on_lock_hold_sample(held, binscan_steps);
    } else {
        lk.unlock();
    }
}
