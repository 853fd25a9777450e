//! The one thread-local word of the allocator: this thread's heap pointer.
//!
//! A `thread_local!` in a Rust cdylib is reached through `__tls_get_addr`
//! (global-dynamic model), a call on every malloc and free. On x86-64 Linux
//! we instead define the slot ourselves in `.tbss` and read it with the
//! initial-exec sequence (`mov slot@GOTTPOFF(%rip)`, then a `%fs:` load),
//! which is what C code built with `-ftls-model=initial-exec` does. The
//! knob `HZ4_TLS_STD=1` switches back to `thread_local!` so the two can be
//! measured against each other (docs/benchmarks.md).
//!
//! The word is never null: it starts out (and ends, after thread exit)
//! holding the sentinel heap (`heap::SENTINEL`), whose empty class queues
//! send the first malloc into the slow path, so the fast path has no
//! "initialised?" test. `heap` (null without one) is for the slow paths that must
//! know whether the thread has a heap of its own; `current` is the raw word.

use crate::heap::Heap;

#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
core::arch::global_asm!(
    // .tdata: the initial image holds the sentinel's address (relocated by
    // the loader before any thread's block is copied from it).
    ".pushsection .tdata,\"awT\",@progbits",
    ".p2align 3",
    ".globl hz4_tls_heap_slot",
    ".hidden hz4_tls_heap_slot",
    ".type hz4_tls_heap_slot,@object",
    ".size hz4_tls_heap_slot,8",
    "hz4_tls_heap_slot:",
    ".quad {sentinel}",
    ".popsection",
    sentinel = sym crate::heap::SENTINEL,
);

#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
mod ie {
    use super::Heap;

    #[inline(always)]
    pub fn get() -> *mut Heap {
        let v: *mut Heap;
        // SAFETY: reads this thread's own 8-byte slot defined above in .tbss;
        // the initial-exec offset is fixed at load time.
        unsafe {
            core::arch::asm!(
                "mov {v}, qword ptr [rip + hz4_tls_heap_slot@GOTTPOFF]",
                "mov {v}, qword ptr fs:[{v}]",
                v = out(reg) v,
                options(nostack, readonly, preserves_flags)
            );
        }
        v
    }

    #[inline(always)]
    pub fn set(h: *mut Heap) {
        // SAFETY: writes this thread's own slot; no other thread can address it.
        unsafe {
            core::arch::asm!(
                "mov {t}, qword ptr [rip + hz4_tls_heap_slot@GOTTPOFF]",
                "mov qword ptr fs:[{t}], {h}",
                t = out(reg) _,
                h = in(reg) h,
                options(nostack, preserves_flags)
            );
        }
    }
}

mod std_tls {
    use super::Heap;
    use core::cell::Cell;

    std::thread_local! {
        // const-initialised and without a destructor: no lazy registration, no allocation.
        static SLOT: Cell<*mut Heap> = const { Cell::new(crate::heap::SENTINEL.0.get()) };
    }

    #[inline(always)]
    pub fn get() -> *mut Heap {
        SLOT.with(|s| s.get())
    }

    #[inline(always)]
    pub fn set(h: *mut Heap) {
        SLOT.with(|s| s.set(h))
    }
}

/// This thread's heap, or the sentinel before its first allocation (and
/// after its teardown). Never null. The fast paths' read.
#[inline(always)]
pub fn current() -> *mut Heap {
    #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
    if !crate::config::TLS_STD {
        return ie::get();
    }
    std_tls::get()
}

/// This thread's heap, or null when it has none (the TLS word holds the
/// sentinel). For the slow paths.
#[inline]
pub fn heap() -> *mut Heap {
    let h = current();
    if crate::heap::is_sentinel(h) {
        core::ptr::null_mut()
    } else {
        h
    }
}

/// Install this thread's heap pointer (the sentinel when it has none).
#[inline(always)]
pub fn set_heap(h: *mut Heap) {
    #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
    if !crate::config::TLS_STD {
        return ie::set(h);
    }
    std_tls::set(h)
}
