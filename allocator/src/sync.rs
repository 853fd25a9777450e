//! A small futex lock that spins briefly and then parks.
//!
//! The lanes run 16 threads on 2 cores, so a lock holder is often
//! preempted; spinning until it runs again would burn the waiter's whole
//! time slice. After a short spin the waiter sleeps in the kernel.
//! `const` constructible, no allocation, safe to use inside malloc.

use core::sync::atomic::{AtomicU32, Ordering};

const UNLOCKED: u32 = 0;
const LOCKED: u32 = 1;
/// Locked and at least one thread may be asleep on the futex.
const CONTENDED: u32 = 2;
const SPINS: u32 = 64;

#[repr(C, align(64))]
pub struct Lock {
    state: AtomicU32,
}

impl Lock {
    pub const fn new() -> Self {
        Lock {
            state: AtomicU32::new(UNLOCKED),
        }
    }

    /// Take the lock. Returns true when the fast CAS failed (the caller may count contention).
    #[inline]
    pub fn lock(&self) -> bool {
        // Acquire: everything the previous holder wrote before unlocking is visible.
        if self
            .state
            .compare_exchange(UNLOCKED, LOCKED, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
        {
            return false;
        }
        self.lock_slow();
        true
    }

    #[cold]
    #[inline(never)]
    fn lock_slow(&self) {
        for _ in 0..SPINS {
            if self.state.load(Ordering::Relaxed) == UNLOCKED
                && self
                    .state
                    .compare_exchange(UNLOCKED, LOCKED, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
            {
                return;
            }
            core::hint::spin_loop();
        }
        // Mark the lock contended; whoever swaps UNLOCKED out owns it.
        while self.state.swap(CONTENDED, Ordering::Acquire) != UNLOCKED {
            futex_wait(&self.state, CONTENDED);
        }
    }

    /// Release the lock; wakes one sleeper if there may be one.
    #[inline]
    pub fn unlock(&self) {
        // Release: publish the critical section to the next holder.
        if self.state.swap(UNLOCKED, Ordering::Release) == CONTENDED {
            futex_wake(&self.state);
        }
    }

    /// Reset to unlocked without waking anyone: only for the child after fork,
    /// where the only thread is the one that held every lock.
    pub fn force_unlock(&self) {
        self.state.store(UNLOCKED, Ordering::Relaxed);
    }
}

impl Default for Lock {
    fn default() -> Self {
        Self::new()
    }
}

fn futex_wait(word: &AtomicU32, expected: u32) {
    // SAFETY: FUTEX_WAIT on a valid aligned u32 we own a reference to; a spurious
    // return is fine because the caller loops.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT | libc::FUTEX_PRIVATE_FLAG,
            expected,
            core::ptr::null::<libc::timespec>(),
        );
    }
}

fn futex_wake(word: &AtomicU32) {
    // SAFETY: FUTEX_WAKE on a valid aligned u32 has no memory effects.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAKE | libc::FUTEX_PRIVATE_FLAG,
            1,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU64;

    #[test]
    fn lock_excludes_under_contention() {
        static L: Lock = Lock::new();
        static N: AtomicU64 = AtomicU64::new(0);
        let threads: Vec<_> = (0..8)
            .map(|_| {
                std::thread::spawn(|| {
                    for _ in 0..20_000 {
                        L.lock();
                        // A non-atomic style read-modify-write: only safe under the lock.
                        let v = N.load(Ordering::Relaxed);
                        N.store(v + 1, Ordering::Relaxed);
                        L.unlock();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(N.load(Ordering::Relaxed), 160_000);
    }
}
