//! Lock path timing (`HZ4_MID_LOCK_TIME_STATS`): every entry is counted;
//! one in 2^SAMPLE_SHIFT is timed (wait to acquire, hold until release).
//! Without the knob, `enter`/`leave` are a plain lock and unlock.

use crate::heap::Heap;
use crate::sync::Lock;

/// What `enter` measured, handed back to `leave`.
#[derive(Clone, Copy)]
pub struct Entry {
    /// Monotonic ns when the lock was acquired, 0 when this entry is not sampled.
    acquired_ns: u64,
}

#[inline]
pub fn enter(h: *mut Heap, lk: &Lock) -> Entry {
    let _ = h;
    lk.lock();
    Entry { acquired_ns: 0 }
}

#[inline]
pub fn leave(h: *mut Heap, lk: &Lock, e: Entry, binscan_steps: u64) {
    let _ = (h, e, binscan_steps);
    lk.unlock();
}
