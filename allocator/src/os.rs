//! The only place that talks to the kernel about memory: mmap, munmap,
//! madvise. Everything returns null on failure; nothing here allocates.

use crate::config::{SEG_MASK, SEG_SIZE};
use core::ptr::null_mut;

/// Map `len` bytes of fresh zeroed read/write memory, or null.
pub fn map(len: usize) -> *mut u8 {
    // SAFETY: anonymous private mapping with no address hint has no preconditions.
    let p = unsafe {
        libc::mmap(
            null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        null_mut()
    } else {
        p as *mut u8
    }
}

/// Unmap a range previously returned by `map`/`map_aligned` (or a whole-page part of it).
///
/// # Safety
/// `p..p+len` must be a mapping of ours that nobody uses any more.
pub unsafe fn unmap(p: *mut u8, len: usize) {
    // SAFETY: the caller owns the range and no references into it remain.
    unsafe { libc::munmap(p as *mut libc::c_void, len) };
}

/// Map `len` bytes (a multiple of 4 KiB) aligned to `align` (a power of two, at
/// least SEG_SIZE), by over-mapping and trimming both ends. Null on failure.
pub fn map_aligned(len: usize, align: usize) -> *mut u8 {
    debug_assert!(align.is_power_of_two() && align >= SEG_SIZE);
    let Some(over) = len.checked_add(align) else {
        return null_mut();
    };
    let raw = map(over);
    if raw.is_null() {
        return raw;
    }
    let start = raw as usize;
    let aligned = (start + align - 1) & !(align - 1);
    let head = aligned - start;
    let tail = over - head - len;
    // SAFETY: head and tail are the unused ends of the mapping we just made.
    unsafe {
        if head > 0 {
            unmap(raw, head);
        }
        if tail > 0 {
            unmap((aligned + len) as *mut u8, tail);
        }
    }
    debug_assert_eq!(aligned & SEG_MASK, 0);
    aligned as *mut u8
}
