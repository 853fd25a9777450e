//! Known answers for the statistics: a build with `HZ4_DEBUG_PLANT_NS=N`
//! does about N ns of busy work on every malloc of the chosen path
//! (`HZ4_DEBUG_PLANT_PATH`), or on every K-th with `HZ4_DEBUG_PLANT_EVERY=K`
//! (N/K ns per malloc on average: the fast lanes spend 35-60 ns of CPU per
//! malloc, so a 2 % plant there is 0.7-1.2 ns), so an A/B of it against the
//! same build without the plant has a slowdown that is known in advance (planted ns × mallocs
//! per second of CPU time). `hz-analyze power` and the sequential replay
//! are validated on such pairs.
//!
//! The work is a chain of dependent multiply-adds the compiler cannot drop
//! (`black_box`), not `pause` (whose cost varies by CPU). The number of
//! steps per µs is measured once per process, on the first planted malloc,
//! with CLOCK_MONOTONIC; until then, and in every build with the knob at 0,
//! nothing here runs — the call site is behind a constant `if` and vanishes.

use core::hint::black_box;
use core::sync::atomic::{AtomicU64, Ordering};

use crate::config::{MID_MAX, PLANT_EVERY, PLANT_NS, PLANT_PATH, SMALL_MAX};
use crate::heap::Heap;

/// Steps of [`spin`] per µs, fixed point ×1024; 0 until calibrated.
static STEPS_PER_US_X1024: AtomicU64 = AtomicU64::new(0);

/// Runs `steps` dependent multiply-adds.
#[inline(never)]
fn spin(steps: u64) -> u64 {
    let mut x = black_box(steps | 1);
    for _ in 0..steps {
        x = black_box(x.wrapping_mul(0x5851_f42d_4c95_7f2d).wrapping_add(1));
    }
    x
}

/// Measures the spin rate: at least 2 ms of steps, in rounds of 2^16.
#[cold]
#[inline(never)]
fn calibrate() -> u64 {
    let t0 = crate::lockstat::now_ns();
    let mut steps = 0u64;
    let mut t = t0;
    while t.wrapping_sub(t0) < 2_000_000 {
        black_box(spin(1 << 16));
        steps += 1 << 16;
        t = crate::lockstat::now_ns();
    }
    let ns = t.wrapping_sub(t0).max(1);
    let rate = (steps as u128 * 1000 * 1024 / ns as u128).clamp(1, u64::MAX as u128) as u64;
    // Racing first mallocs may each calibrate; any of their results will do.
    STEPS_PER_US_X1024.store(rate, Ordering::Relaxed);
    rate
}

/// Whether a malloc of `size` bytes is on the planted path.
#[inline(always)]
fn on_path(size: usize) -> bool {
    match PLANT_PATH {
        1 => size <= SMALL_MAX || size > MID_MAX,
        2 => size > SMALL_MAX && size <= MID_MAX,
        _ => true,
    }
}

/// Called by every malloc of a planted build: counts the mallocs of the
/// path and runs the planted work on every `PLANT_EVERY`-th. With
/// `PLANT_EVERY` = 1 it is the call to [`work`] alone.
///
/// # Safety
/// `h` is the calling thread's heap or the sentinel.
#[inline(always)]
pub(crate) unsafe fn tick(h: *mut Heap, size: usize) {
    // The sentinel (no heap yet) is shared and never written: the retried
    // malloc on the new heap plants.
    if !on_path(size) || crate::heap::is_sentinel(h) {
        return;
    }
    if PLANT_EVERY > 1 {
        // SAFETY: `h` is the caller's own heap (not the sentinel), whose
        // state only this thread touches; the array has its two words in
        // every build that calls this (PLANT_NS != 0).
        unsafe {
            let Some(t) = (*h).plant_carry.get_mut(1) else {
                return;
            };
            *t += 1;
            if *t < PLANT_EVERY {
                return;
            }
            *t = 0;
        }
    }
    // SAFETY: `h` is the caller's own heap, checked above.
    unsafe { work(h) }
}

/// The planted work for one malloc on the path by the thread of `h`.
///
/// # Safety
/// `h` is the calling thread's own heap (not the sentinel).
#[inline(never)]
unsafe fn work(h: *mut Heap) {
    let mut rate = STEPS_PER_US_X1024.load(Ordering::Relaxed);
    if rate == 0 {
        rate = calibrate();
    }
    // Steps ×1024 owed for this malloc plus the fraction left by the last.
    // SAFETY: only the owning thread touches its heap. (The array has its
    // words whenever PLANT_NS != 0, the only builds that call this.)
    let Some(carry) = (unsafe { (*h).plant_carry.first_mut() }) else {
        return;
    };
    let owed = *carry + PLANT_NS * rate / 1000;
    *carry = owed & 1023;
    black_box(spin(owed >> 10));
}
