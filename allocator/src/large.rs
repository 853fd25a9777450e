//! Large objects: more than 128 KiB (`XL_MAX`; 64–128 KiB objects are XL
//! classes on page runs). Up to `MAX_SPAN_PAGES` pages they are spans of
//! whole pages carved from segments; bigger ones (and alignments above
//! 64 KiB) are huge mappings of their own (`huge.rs`).
//!
//! Freed spans are cached, keyed by page count: first in the freeing
//! thread's cache (any thread -- spans have no owner), bounded in bytes by
//! `HZ4_LARGE_TCACHE_KB` and overflowing in batches into a process-wide
//! cache bounded by `HZ4_LARGE_CACHE_MB`; beyond that the pages go back to
//! the segment supply. So a 64–128 KiB alloc/free loop is served from the
//! caches without mmap or munmap. Each purge round gives the spans that sat
//! in the process-wide cache below its low-water mark for a whole round
//! (unused for at least one purge delay) back to the supply, purged; a
//! thread's own cache goes back purged when it exits.

use crate::config::{LARGE_CACHE_BYTES, LARGE_TCACHE_BYTES, MAX_SPAN_PAGES, PAGE_SHIFT, PAGE_SIZE};
use crate::heap::Heap;
use crate::page::{self, Block, Page, KIND_LARGE, KIND_LARGE_TAIL};
use crate::sync::Lock;
use core::cell::UnsafeCell;
use core::ptr::null_mut;
use core::sync::atomic::{AtomicUsize, Ordering};

struct GlobalSpans {
    head: *mut Block,
    len: u32,
    /// Smallest `len` since the last purge round: that many spans at the
    /// bottom of the (LIFO) list were not touched for a whole round.
    low: u32,
}
struct Global([UnsafeCell<GlobalSpans>; MAX_SPAN_PAGES + 1]);
// SAFETY: entry k is only touched with LOCKS[k] held.
unsafe impl Sync for Global {}

#[allow(clippy::declare_interior_mutable_const)]
const EMPTY: UnsafeCell<GlobalSpans> = UnsafeCell::new(GlobalSpans {
    head: null_mut(),
    len: 0,
    low: 0,
});
static GLOBAL: Global = Global([EMPTY; MAX_SPAN_PAGES + 1]);
#[allow(clippy::declare_interior_mutable_const)]
const NEW_LOCK: Lock = Lock::new();
static LOCKS: [Lock; MAX_SPAN_PAGES + 1] = [NEW_LOCK; MAX_SPAN_PAGES + 1];
/// Bytes held in the process-wide cache.
static GLOBAL_BYTES: AtomicUsize = AtomicUsize::new(0);

/// Spans of `k` pages a refill moves from the global cache into a thread
/// cache: half the thread cache's byte bound, at least one.
#[inline(always)]
fn refill_count(k: usize) -> u32 {
    ((LARGE_TCACHE_BYTES / 2) >> PAGE_SHIFT)
        .div_euclid(k)
        .max(1) as u32
}

/// Pages needed for `size` bytes.
#[inline(always)]
pub fn pages_for(size: usize) -> usize {
    (size + PAGE_SIZE - 1) >> PAGE_SHIFT
}

/// Whether `malloc(size)` is served by a huge mapping of its own (`huge.rs`).
#[inline(always)]
pub const fn is_huge(size: usize) -> bool {
    size > MAX_SPAN_PAGES << PAGE_SHIFT
}

/// Allocate `size` (> 64 KiB; from `api::malloc`, > 128 KiB) bytes, page aligned. `h` may be null.
///
/// # Safety
/// `h` is null or the calling thread's heap.
#[inline(never)]
pub unsafe fn alloc(h: *mut Heap, size: usize) -> *mut u8 {
    if is_huge(size) {
        return crate::huge::alloc(size, 0);
    }
    let k = pages_for(size);
    // SAFETY: `h` is ours; cached spans are free spans of `k` pages.
    unsafe {
        if !h.is_null() {
            let l = &mut (*h).spans[k];
            if l.head.is_null() {
                refill(h, k);
            }
            let b = l.head;
            if !b.is_null() {
                l.head = (*b).next;
                l.len -= 1;
                (*h).span_bytes -= k << PAGE_SHIFT;
                (*b).guard = 0;
                return b as *mut u8;
            }
        }
        let mut first = crate::segment::take_span(k as u32);
        if first.is_null() {
            // Out of address space or memory: give back everything cached
            // or free (other classes' pages included) and try once more.
            crate::purge::trim();
            first = crate::segment::take_span(k as u32);
            if first.is_null() {
                return null_mut();
            }
        }
        format_span(first, k);
        let b = page::page_start(first);
        // The run may hold an old free mark from an earlier life as a span.
        (*(b as *mut Block)).guard = 0;
        b
    }
}

unsafe fn format_span(first: *mut Page, k: usize) {
    // SAFETY: the run is private to us, fresh from the supply.
    unsafe {
        for j in 1..k {
            let t = first.add(j);
            (*t).span_pages = j as u32;
            (*t).kind = KIND_LARGE_TAIL;
        }
        (*first).span_pages = k as u32;
        (*first).block_size = 0;
        core::sync::atomic::fence(Ordering::Release);
        (*first).kind = KIND_LARGE;
    }
}

/// Take up to half a thread cache of spans from the global cache.
#[cold]
unsafe fn refill(h: *mut Heap, k: usize) {
    let want = refill_count(k);
    LOCKS[k].lock();
    // SAFETY: LOCKS[k] held; `h` is ours.
    unsafe {
        let g = &mut *GLOBAL.0[k].get();
        let l = &mut (*h).spans[k];
        let mut moved = 0;
        while moved < want && !g.head.is_null() {
            let b = g.head;
            g.head = (*b).next;
            g.len -= 1;
            (*b).next = l.head;
            l.head = b;
            l.len += 1;
            moved += 1;
        }
        g.low = g.low.min(g.len);
        (*h).span_bytes += (moved as usize * k) << PAGE_SHIFT;
        GLOBAL_BYTES.fetch_sub((moved as usize * k) << PAGE_SHIFT, Ordering::Relaxed);
    }
    LOCKS[k].unlock();
}

/// Free a large span whose head page is `p`. `h` may be null; `func` names
/// the C entry point for error messages.
///
/// # Safety
/// `ptr` is the start of the live span headed by `p`.
#[inline(never)]
pub unsafe fn free(h: *mut Heap, p: *mut Page, ptr: usize, func: &'static str) {
    // SAFETY: validated by the caller: head page of a live span.
    unsafe {
        let k = (*p).span_pages as usize;
        let b = ptr as *mut Block;
        let mark = page::free_mark(p);
        if (*b).guard == mark {
            crate::fatal::invalid_pointer(func, "double free of a large object", ptr);
        }
        (*b).guard = mark;
        if h.is_null() {
            (*b).next = null_mut();
            give_global(k, b, b, 1);
            return;
        }
        let l = &mut (*h).spans[k];
        (*b).next = l.head;
        l.head = b;
        l.len += 1;
        (*h).span_bytes += k << PAGE_SHIFT;
        if (*h).span_bytes > LARGE_TCACHE_BYTES {
            over_bound(h, k);
        }
    }
}

/// `h`'s span cache is over its byte bound after a free of a `k`-page
/// span: spill half of that size's list (at least one), then whole lists
/// until the cache fits.
#[cold]
#[inline(never)]
unsafe fn over_bound(h: *mut Heap, k: usize) {
    // SAFETY: `h` is ours.
    unsafe {
        let n = (*h).spans[k].len.div_ceil(2);
        spill(h, k, n);
        let mut j = MAX_SPAN_PAGES;
        while (*h).span_bytes > LARGE_TCACHE_BYTES && j > 0 {
            let n = (*h).spans[j].len;
            if n > 0 {
                spill(h, j, n);
            }
            j -= 1;
        }
    }
    crate::purge::maybe();
}

/// Move `n` spans of `k` pages from `h`'s cache to the global cache.
#[cold]
unsafe fn spill(h: *mut Heap, k: usize, n: u32) {
    // SAFETY: `h` is ours; the first `n` entries form a chain we detach.
    unsafe {
        let l = &mut (*h).spans[k];
        let first = l.head;
        let mut last = first;
        for _ in 1..n {
            last = (*last).next;
        }
        l.head = (*last).next;
        l.len -= n;
        (*h).span_bytes -= (n as usize * k) << PAGE_SHIFT;
        (*last).next = null_mut();
        give_global(k, first, last, n);
    }
}

/// Add the chain `first..=last` of `n` spans to the global cache; what does
/// not fit in the byte budget goes back to the segment supply.
unsafe fn give_global(k: usize, first: *mut Block, last: *mut Block, n: u32) {
    let bytes = (n as usize * k) << PAGE_SHIFT;
    let fits = GLOBAL_BYTES.load(Ordering::Relaxed) + bytes <= LARGE_CACHE_BYTES;
    // SAFETY: the chain is ours; spans in it are free.
    unsafe {
        if fits {
            GLOBAL_BYTES.fetch_add(bytes, Ordering::Relaxed);
            LOCKS[k].lock();
            let g = &mut *GLOBAL.0[k].get();
            (*last).next = g.head;
            g.head = first;
            g.len += n;
            LOCKS[k].unlock();
        } else {
            let mut b = first;
            while !b.is_null() {
                let next = (*b).next;
                crate::segment::give_span(crate::segment::page_of(b as usize), k as u32);
                b = next;
            }
        }
    }
}

/// Put every span of `h`'s cache into `batch`, which gives them back to
/// the segment supply (thread exit, trim).
///
/// # Safety
/// `h` is the calling thread's heap.
pub unsafe fn release_thread_cache(h: *mut Heap, batch: &mut crate::segment::PurgeBatch) {
    for k in 1..=MAX_SPAN_PAGES {
        // SAFETY: `h` is ours; cached spans are free and unreachable.
        unsafe {
            let l = &mut (*h).spans[k];
            while !l.head.is_null() {
                let b = l.head;
                l.head = (*b).next;
                l.len -= 1;
                batch.push(crate::segment::page_of(b as usize), k as u32);
            }
        }
    }
    // SAFETY: `h` is ours.
    unsafe { (*h).span_bytes = 0 };
}

/// Purge round: give back, purged, the spans of the process-wide cache that
/// stayed below its low-water mark since the last round (all of them when
/// `force`). Returns the bytes purged.
pub fn age(force: bool) -> usize {
    let mut batch = crate::segment::PurgeBatch::new();
    for (k, lock) in LOCKS.iter().enumerate().skip(1) {
        lock.lock();
        // SAFETY: LOCKS[k] held.
        let chain = unsafe {
            let g = &mut *GLOBAL.0[k].get();
            let old = if force { g.len } else { g.low.min(g.len) };
            let keep = g.len - old;
            // The oldest spans are at the bottom: cut the list after `keep`.
            let chain = if old == 0 {
                null_mut()
            } else if keep == 0 {
                let c = g.head;
                g.head = null_mut();
                c
            } else {
                let mut last = g.head;
                for _ in 1..keep {
                    last = (*last).next;
                }
                let c = (*last).next;
                (*last).next = null_mut();
                c
            };
            g.len = keep;
            g.low = keep;
            GLOBAL_BYTES.fetch_sub((old as usize * k) << PAGE_SHIFT, Ordering::Relaxed);
            chain
        };
        lock.unlock();
        let mut b = chain;
        while !b.is_null() {
            // SAFETY: detached from the cache: free spans nobody else reaches.
            unsafe {
                let next = (*b).next;
                batch.push(crate::segment::page_of(b as usize), k as u32);
                b = next;
            }
        }
    }
    // SAFETY: the batch holds detached, dead spans.
    unsafe { batch.flush() }
}

/// Lock every global span list (fork prepare).
pub fn lock_all() {
    for l in LOCKS.iter() {
        l.lock();
    }
}
/// Unlock every global span list (fork parent).
pub fn unlock_all() {
    for l in LOCKS.iter().rev() {
        l.unlock();
    }
}
/// Reset every global span lock (fork child).
pub fn reset_all() {
    for l in LOCKS.iter() {
        l.force_unlock();
    }
}
