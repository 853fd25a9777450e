//! The allocator's one internal API; `global.rs` (Rust `GlobalAlloc`) and
//! `ffi.rs` (C malloc family) are thin wrappers over it.

use crate::config::{
    mid_class, small_class, xl_bin, MID_MAX, PAGE_SIZE, PLANT_NS, SMALL_MAX, XL_MAX,
};
use crate::heap::{ClassQueue, Heap};

const _: () = assert!(core::mem::size_of::<ClassQueue>() == 16);
use crate::tls;
use core::ptr::null_mut;

/// Largest alignment supported (2^46). Up to 2 MiB a huge mapping places
/// the object at `seg + align`; above, `huge.rs` maps it on its own.
pub const MAX_ALIGN: usize = crate::huge::MAX_ALIGN;

/// Allocate `size` bytes aligned to 16. Null (errno ENOMEM) when out of
/// memory.
///
/// The common case -- a small size served from the current page of its
/// class -- is this function alone: the TLS word, one class-queue load and
/// the pop, with no call, spill or null test (a thread without a heap has
/// the sentinel, whose queues are empty: `malloc_slow` sets it up). Every
/// other case is behind one tail call.
#[inline(always)]
pub fn malloc(size: usize) -> *mut u8 {
    let h = tls::current();
    // SAFETY: `h` is the calling thread's heap or the sentinel; class
    // indexes are in range by construction.
    unsafe {
        if PLANT_NS != 0 {
            crate::plant::tick(h, size);
        }
        // `size - 1` wraps for 0, which takes the other path (as size 1).
        let s1 = size.wrapping_sub(1);
        if s1 < SMALL_MAX {
            // Step small_class(size) = (s1 >> 4) + 1, whose queue is at
            // byte offset (s1 & !15) + 16 of the 16-byte queue array: the
            // index needs no shift. A step that aliases a bigger class
            // mirrors that class's current page (`refill::set_cur`).
            let q = (*h)
                .bins
                .as_ptr()
                .byte_add((s1 & !15) + core::mem::size_of::<ClassQueue>());
            let b = crate::page::pop((*q).cur);
            if !b.is_null() {
                return b as *mut u8;
            }
            return malloc_slow(h, (s1 >> 4) + 1);
        }
        malloc_other(h, size)
    }
}

/// Every malloc but a small one: size 0, mid, XL, large and huge.
#[inline(never)]
unsafe fn malloc_other(h: *mut Heap, size: usize) -> *mut u8 {
    // SAFETY: forwarded.
    let p = unsafe { malloc_other_inner(h, size) };
    if p.is_null() {
        return oom();
    }
    p
}

#[inline(always)]
unsafe fn malloc_other_inner(h: *mut Heap, size: usize) -> *mut u8 {
    // SAFETY: `h` is the calling thread's heap or the sentinel; class
    // indexes are in range by construction.
    unsafe {
        if size <= SMALL_MAX {
            // Size 0 (1..=SMALL_MAX never gets here): a 16-byte object.
            let bin = small_class(1);
            let b = crate::page::pop((*h).bins.get_unchecked(bin).cur);
            if !b.is_null() {
                return b as *mut u8;
            }
            malloc_slow(h, bin)
        } else if size <= MID_MAX {
            crate::mid::alloc(h, mid_class(size))
        } else if size <= XL_MAX {
            xl_alloc(h, size)
        } else {
            let h = if crate::heap::is_sentinel(h) {
                let h = crate::thread::init();
                if h.is_null() {
                    return null_mut();
                }
                h
            } else {
                h
            };
            crate::large::alloc(h, size)
        }
    }
}

/// Class `bin` had no object on its current page: the class slow path, or
/// for a thread without a heap (the sentinel) its first malloc.
///
/// # Safety
/// `h` is the calling thread's heap or the sentinel; `bin` < BINS.
#[cold]
#[inline(never)]
pub(crate) unsafe fn malloc_slow(h: *mut Heap, bin: usize) -> *mut u8 {
    if crate::heap::is_sentinel(h) {
        return first_malloc(bin);
    }
    // SAFETY: `h` is the caller's own heap (not the sentinel).
    let p = unsafe { crate::refill::alloc_slow(h, bin) };
    if p.is_null() {
        return oom();
    }
    p
}

/// Out of memory: errno ENOMEM (C malloc's contract; harmless for Rust
/// callers), and null.
#[cold]
#[inline(never)]
fn oom() -> *mut u8 {
    // SAFETY: __errno_location returns this thread's errno slot.
    unsafe { *libc::__errno_location() = libc::ENOMEM };
    null_mut()
}

/// The first malloc of a thread (its TLS word holds the sentinel): create
/// its heap, then allocate an object of class `bin` through the normal
/// path, so counts and knobs see an ordinary malloc.
#[cold]
#[inline(never)]
pub(crate) fn first_malloc(bin: usize) -> *mut u8 {
    if crate::thread::init().is_null() {
        return oom();
    }
    malloc(crate::config::bin_block_size(bin))
}

/// An XL object (MID_MAX+1..=XL_MAX bytes): the small-class path on XL runs.
#[inline(never)]
unsafe fn xl_alloc(h: *mut Heap, size: usize) -> *mut u8 {
    let bin = xl_bin(size);
    // SAFETY: `h` is the caller's heap or the sentinel; `bin` < BINS by construction.
    unsafe {
        let b = crate::page::pop((*h).bins.get_unchecked(bin).cur);
        if !b.is_null() {
            return b as *mut u8;
        }
        malloc_slow(h, bin)
    }
}

/// Allocate `size` bytes aligned to `align` (a power of two). Null when out
/// of memory or when `align` exceeds `MAX_ALIGN`.
pub fn malloc_aligned(size: usize, align: usize) -> *mut u8 {
    debug_assert!(align.is_power_of_two());
    if align <= 16 {
        return malloc(size);
    }
    if align > MAX_ALIGN {
        return null_mut();
    }
    if align <= PAGE_SIZE {
        // Class sizes are exact multiples of 16 (small) or 256 (mid) and
        // objects sit at multiples of the class size from a 64 KiB aligned
        // page start, so rounding the size up to `align` gives an aligned
        // object; large spans are page aligned.
        let Some(size) = size.max(1).checked_next_multiple_of(align) else {
            return null_mut();
        };
        return malloc(size);
    }
    crate::huge::alloc(size, align)
}

/// Give every free page, cached span, spare segment and cached huge
/// mapping back to the OS now (`malloc_trim`). Returns the bytes released.
pub fn trim() -> usize {
    crate::purge::trim() + crate::huge::trim()
}

/// Free an object (null is ignored).
///
/// # Safety
/// `ptr` is null or a live object from this allocator.
#[inline(always)]
pub unsafe fn free(ptr: *mut u8) {
    // SAFETY: forwarded contract (`free::free` takes null too).
    unsafe { crate::free::free(ptr, "free") }
}

/// Usable size of a live object (0 for null).
///
/// # Safety
/// `ptr` is null or a live object from this allocator.
pub unsafe fn usable_size(ptr: *mut u8) -> usize {
    if ptr.is_null() {
        return 0;
    }
    // SAFETY: forwarded contract.
    unsafe { crate::free::usable_size(ptr, "malloc_usable_size") }
}

/// Resize keeping contents, glibc style: null `ptr` is malloc; the caller
/// handles `new_size == 0`.
///
/// # Safety
/// `ptr` is null or a live object from this allocator.
pub unsafe fn realloc(ptr: *mut u8, new_size: usize) -> *mut u8 {
    if ptr.is_null() {
        return malloc(new_size);
    }
    // SAFETY: `ptr` is live (caller's contract).
    unsafe {
        let old = crate::free::usable_size(ptr, "realloc");
        // Huge to huge: resize the mapping, never copy.
        // (A pointer outside every segment is a big-aligned object: copied.)
        if crate::large::is_huge(new_size)
            && crate::segment::is_ours(ptr as usize)
            && (*crate::segment::page_of(ptr as usize)).kind == crate::page::KIND_HUGE
        {
            let q = crate::huge::resize(ptr as usize, new_size);
            if !q.is_null() {
                return q;
            }
        }
        // Stay in place when the new size fits and wastes at most half.
        if new_size <= old && new_size >= old / 2 {
            return ptr;
        }
        let q = malloc(new_size);
        if q.is_null() {
            return q;
        }
        core::ptr::copy_nonoverlapping(ptr, q, old.min(new_size));
        crate::free::free(ptr, "realloc");
        q
    }
}

/// Zeroed allocation of `n * size` bytes; null on overflow or out of memory.
pub fn calloc(n: usize, size: usize) -> *mut u8 {
    let Some(total) = n.checked_mul(size) else {
        return null_mut();
    };
    let p = malloc(total);
    if !p.is_null() {
        // SAFETY: `p` is a fresh object of at least `total` bytes.
        unsafe { zero_new(p, total) };
    }
    p
}

/// Zero the first `size` bytes of new block `p`. A huge object is zeroed
/// only as far as its mapping may hold old bytes (a fresh or purged mapping
/// reads as zero; writing it would only fault in every page: a 1 GiB
/// calloc would cost 1 GiB of RSS at once).
///
/// # Safety
/// `p` was just returned by `malloc`/`malloc_aligned` for at least `size` bytes.
#[inline]
pub unsafe fn zero_new(p: *mut u8, size: usize) {
    // Only huge objects can skip, and only sizes above the largest span can
    // be huge without an alignment request; checking the size first keeps
    // the page-header load off small callocs. Aligned huge objects of
    // smaller sizes are simply zeroed.
    // A huge object outside every segment is big-aligned: a fresh mapping.
    let a = p as usize;
    let mut n = size;
    if crate::large::is_huge(size) {
        if !crate::segment::is_ours(a) {
            return;
        }
        // SAFETY: `p` is one of our objects, so its page header is readable.
        if unsafe { (*crate::segment::page_of(a)).kind } == crate::page::KIND_HUGE {
            // SAFETY: `p` is a live huge object.
            n = n.min(unsafe { crate::huge::dirty_from(a) });
        }
    }
    // SAFETY: caller's contract: `size` (≥ n) bytes at `p` are ours.
    unsafe { core::ptr::write_bytes(p, 0, n) }
}
