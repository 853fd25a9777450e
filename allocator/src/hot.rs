//! The process-wide words that `free` reads on every call: the segment map
//! pointer and the free-marker key.
//!
//! `libhz4.so` is built from the same objects as the rlib (crate types
//! `rlib` and `cdylib` in one rustc run), so rustc treats every Rust static
//! as possibly preempted and reaches it through a GOT slot: one extra load
//! per static per call. On x86-64 Linux these two words instead live at a
//! `.hidden` symbol defined here in assembly and read PC-relative (`lea`),
//! the same way `tls.rs` defines the heap slot; a hidden symbol can never be
//! preempted, so the reference links in a shared object and in an
//! executable alike. Elsewhere they are an ordinary static.

use core::sync::atomic::{AtomicPtr, AtomicU64, AtomicUsize};

/// The words; `map` first, `guard_key` second (the assembly below lays
/// them out in this order).
#[repr(C)]
pub struct Hot {
    /// The segment map (`segment.rs`), null until the first segment.
    pub map: AtomicPtr<AtomicU64>,
    /// Key mixed into the free marker (`page::free_mark`), so user data is
    /// unlikely to look free; set once by the first thread's setup.
    pub guard_key: AtomicUsize,
}

/// Initial free-marker key, until `thread::global_init` draws one.
pub const GUARD_KEY_INIT: usize = 0x9e37_79b9_7f4a_7c15;

#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
core::arch::global_asm!(
    ".pushsection .data.hz4_hot,\"aw\",@progbits",
    ".p2align 4",
    ".globl hz4_hot_words",
    ".hidden hz4_hot_words",
    ".type hz4_hot_words,@object",
    ".size hz4_hot_words,16",
    "hz4_hot_words:",
    ".quad 0",
    ".quad {key}",
    ".popsection",
    key = const GUARD_KEY_INIT,
);

/// The hot words.
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
#[inline(always)]
pub fn hot() -> &'static Hot {
    let p: *const Hot;
    // SAFETY: `hz4_hot_words` is the 16-byte, 16-aligned object defined
    // above with the layout of `Hot` (two 8-byte atomics), alive for the
    // whole process; `lea` only computes its address.
    unsafe {
        core::arch::asm!(
            "lea {p}, [rip + hz4_hot_words]",
            p = out(reg) p,
            options(pure, nomem, nostack, preserves_flags)
        );
        &*p
    }
}

#[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
static HOT: Hot = Hot {
    map: AtomicPtr::new(core::ptr::null_mut()),
    guard_key: AtomicUsize::new(GUARD_KEY_INIT),
};

/// The hot words.
#[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
#[inline(always)]
pub fn hot() -> &'static Hot {
    &HOT
}

const _: () = assert!(core::mem::size_of::<Hot>() == 16 && core::mem::align_of::<Hot>() <= 16);
