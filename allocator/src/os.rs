//! The only place that talks to the kernel about memory: mmap, munmap,
//! mremap, madvise (`purge`), and the coarse clock the purge delays read.
//! Everything returns null/false on failure; nothing here allocates.
//!
//! Process-wide byte accounting lives here too (relaxed atomics, updated
//! only by these wrappers and the segment supply, on slow paths): bytes
//! mapped now, and bytes of those that are not resident (never touched, or
//! purged and not handed out again since). `mallinfo2`, `malloc_stats` and
//! the `[HZ4_MEM_STATS]` dump line read them.

use crate::config::{PURGE_MADV_FREE, SEG_MASK, SEG_SIZE};
use core::ptr::null_mut;
use core::sync::atomic::{AtomicUsize, Ordering};

/// Bytes currently mapped through this module.
static MAPPED: AtomicUsize = AtomicUsize::new(0);
/// Bytes of mapped memory purged and not handed out again since.
static DECOMMITTED: AtomicUsize = AtomicUsize::new(0);
/// `madvise` purge calls made and bytes they covered (monotonic).
static PURGE_CALLS: AtomicUsize = AtomicUsize::new(0);
static PURGED_BYTES: AtomicUsize = AtomicUsize::new(0);

/// Bytes currently mapped by the allocator (segments, huge objects, metadata).
pub fn mapped_bytes() -> usize {
    MAPPED.load(Ordering::Relaxed)
}

/// Mapped bytes minus those purged and not reused since: an upper bound of
/// what the allocator holds resident.
pub fn committed_bytes() -> usize {
    mapped_bytes().saturating_sub(DECOMMITTED.load(Ordering::Relaxed))
}

/// `(calls, bytes)` of every purge so far.
pub fn purge_totals() -> (usize, usize) {
    (
        PURGE_CALLS.load(Ordering::Relaxed),
        PURGED_BYTES.load(Ordering::Relaxed),
    )
}

fn mmap_anon(len: usize, noreserve: bool) -> *mut u8 {
    let flags =
        libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | if noreserve { libc::MAP_NORESERVE } else { 0 };
    // SAFETY: anonymous private mapping with no address hint has no preconditions.
    let p = unsafe {
        libc::mmap(
            null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            flags,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        null_mut()
    } else {
        MAPPED.fetch_add(len, Ordering::Relaxed);
        p as *mut u8
    }
}

/// Map `len` bytes of fresh zeroed read/write memory without reserving
/// swap for it (`MAP_NORESERVE`: segments and metadata), or null.
pub fn map(len: usize) -> *mut u8 {
    mmap_anon(len, true)
}

/// Unmap a range previously returned by `map`/`map_aligned` (or a whole-page part of it).
///
/// # Safety
/// `p..p+len` must be a mapping of ours that nobody uses any more.
pub unsafe fn unmap(p: *mut u8, len: usize) {
    // SAFETY: the caller owns the range and no references into it remain.
    if unsafe { libc::munmap(p as *mut libc::c_void, len) } == 0 {
        MAPPED.fetch_sub(len, Ordering::Relaxed);
    }
}

/// Map `len` bytes (a multiple of 4 KiB) aligned to `align` (a power of two,
/// at least SEG_SIZE), by over-mapping and trimming both ends. `commit`:
/// without `MAP_NORESERVE`, so the kernel refuses (null) a range it will
/// not commit instead of killing the process later (huge objects). Null on
/// failure.
pub fn map_aligned_with(len: usize, align: usize, commit: bool) -> *mut u8 {
    debug_assert!(align.is_power_of_two() && align >= SEG_SIZE);
    let Some(over) = len.checked_add(align) else {
        return null_mut();
    };
    let raw = mmap_anon(over, !commit);
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

/// `map_aligned_with(len, align, false)`: segments.
pub fn map_aligned(len: usize, align: usize) -> *mut u8 {
    map_aligned_with(len, align, false)
}

/// Map `over` committed bytes anywhere (huge objects with alignments above
/// a segment, which place and trim themselves). Null on failure.
pub fn map_committed(over: usize) -> *mut u8 {
    mmap_anon(over, false)
}

/// Grow the mapping `p..p+old_len` to `new_len` bytes where it is, without
/// moving it; false when the pages after it are taken. The new bytes are zero.
///
/// # Safety
/// `p..p+old_len` is a whole mapping of ours (from `map`/`map_aligned`).
pub unsafe fn grow_in_place(p: *mut u8, old_len: usize, new_len: usize) -> bool {
    // SAFETY: flags 0: the kernel either extends this exact range or fails.
    let r = unsafe { libc::mremap(p as *mut libc::c_void, old_len, new_len, 0) };
    if r == libc::MAP_FAILED {
        return false;
    }
    MAPPED.fetch_add(new_len - old_len, Ordering::Relaxed);
    true
}

/// Move the mapping `p..p+old_len` onto `dst`, growing it to `new_len`
/// bytes: the kernel moves the pages (no copy), the new tail is zero, and
/// whatever was mapped at `dst..dst+new_len` is replaced. False on failure,
/// with the old mapping untouched.
///
/// # Safety
/// `p..p+old_len` is a whole mapping of ours; `dst..dst+new_len` is a
/// mapping of ours that nobody uses (a placeholder from `map_aligned`).
pub unsafe fn move_to(p: *mut u8, old_len: usize, dst: *mut u8, new_len: usize) -> bool {
    // SAFETY: MAYMOVE|FIXED onto a range the caller owns.
    let r = unsafe {
        libc::mremap(
            p as *mut libc::c_void,
            old_len,
            new_len,
            libc::MREMAP_MAYMOVE | libc::MREMAP_FIXED,
            dst as *mut libc::c_void,
        )
    };
    if r == libc::MAP_FAILED {
        return false;
    }
    // The placeholder's new_len bytes were already counted; the old range is gone.
    MAPPED.fetch_sub(old_len, Ordering::Relaxed);
    true
}

/// `len` bytes earlier given to `purge` are in use again (handed out, or
/// unmapped): they leave the decommitted count.
pub fn note_recommit(len: usize) {
    let _ = DECOMMITTED.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |d| {
        Some(d.saturating_sub(len))
    });
}

/// Give the physical pages of `p..p+len` back to the kernel, keeping the
/// address range mapped: `MADV_DONTNEED` (the next touch reads zeros), or
/// `MADV_FREE` with `HZ4_PURGE_MADV_FREE` (the kernel reclaims them lazily,
/// under memory pressure; until then they may keep their old bytes). Every
/// purge of the allocator goes through here, and is counted. False when the
/// kernel refused (the range stays as it was, still committed).
///
/// # Safety
/// `p..p+len` is page aligned, inside a mapping of ours, and holds nothing
/// anyone still needs.
pub unsafe fn purge(p: *mut u8, len: usize) -> bool {
    let advice = if PURGE_MADV_FREE {
        libc::MADV_FREE
    } else {
        libc::MADV_DONTNEED
    };
    if len == 0 {
        return true;
    }
    // SAFETY: the caller owns the range and its contents are dead.
    let r = unsafe { libc::madvise(p as *mut libc::c_void, len, advice) };
    if r != 0 {
        return false;
    }
    DECOMMITTED.fetch_add(len, Ordering::Relaxed);
    PURGE_CALLS.fetch_add(1, Ordering::Relaxed);
    PURGED_BYTES.fetch_add(len, Ordering::Relaxed);
    crate::stats::note_purge(len);
    true
}

/// `len` bytes of a fresh mapping that nothing has touched yet (so not
/// resident): they count as not committed until handed out
/// (`note_recommit`).
pub fn note_untouched(len: usize) {
    DECOMMITTED.fetch_add(len, Ordering::Relaxed);
}

/// Unmap a whole normal segment the allocator no longer uses, counted.
///
/// # Safety
/// As for `unmap`: `seg..seg+SEG_SIZE` is a segment of ours nobody uses.
pub unsafe fn unmap_segment(seg: *mut u8) {
    // SAFETY: caller's contract.
    unsafe { unmap(seg, SEG_SIZE) };
    crate::stats::note_segment_unmapped();
}

/// Monotonic time in nanoseconds from the coarse clock (a vDSO read, no
/// system call; ticks every few ms). Slow paths only.
pub fn coarse_now_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: valid out pointer; CLOCK_MONOTONIC_COARSE always exists on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC_COARSE, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}
