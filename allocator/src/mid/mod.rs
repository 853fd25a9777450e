//! The mid path: 2049..=65536 bytes in 256-byte classes.
//!
//! Malloc: the owner local stack (B57) first, then the current owned page
//! of the class, draining its remote queue when `remote_count` reaches the
//! threshold or every `DRAIN_PERIOD` mallocs; then the class slow path.
//! Free: by the owner, onto the local stack or the page list; by anyone
//! else, onto the page's remote queue (or under the class lock without the
//! remote queue box).

pub mod adaptive;
pub mod local_stack;

use crate::config::{mid_bin, B57, DRAIN_PERIOD_MASK, DRAIN_THRESHOLD, REMOTE_QUEUE, STACK_SC_MAX};
use crate::heap::Heap;
use crate::page::{self, Block, Page};
use crate::stats::count;
use core::sync::atomic::Ordering;

/// Allocate an object of mid class `sc` for the calling thread's heap `h`.
///
/// # Safety
/// `h` is the calling thread's initialised heap; `sc` is a mid class index.
#[inline(always)]
pub unsafe fn alloc(h: *mut Heap, sc: usize) -> *mut u8 {
    // SAFETY: `h` is ours; the current page is owned by `h` or the empty page.
    unsafe {
        if B57 {
            if sc <= STACK_SC_MAX {
                let b = local_stack::pop(h, sc);
                if !b.is_null() {
                    return b as *mut u8;
                }
            } else {
                count!(h, malloc_owner_local_stack_sc_skip);
            }
        }
        let bin = mid_bin(sc);
        let p = (*h).bins.get_unchecked(bin).cur;
        // Relaxed load and store, not an atomic add: only the sentinel is
        // shared, and a lost tick there does not matter.
        let tick = (*h).tick.load(Ordering::Relaxed).wrapping_add(1);
        (*h).tick.store(tick, Ordering::Relaxed);
        let rc = crate::page::remote_count(p);
        if rc != 0 && (rc >= DRAIN_THRESHOLD || tick & DRAIN_PERIOD_MASK == 0) {
            crate::refill::owner_drain(h, p, true);
        }
        let b = page::pop(p);
        if !b.is_null() {
            count!(h, malloc_owner_fast);
            return b as *mut u8;
        }
        if crate::heap::is_sentinel(h) {
            // The thread's first malloc: counted by the retry on its heap.
            return crate::api::first_malloc(bin);
        }
        let b = crate::refill::alloc_slow(h, bin);
        if b.is_null() {
            crate::stats::mid_malloc_failed();
        }
        b
    }
}

/// Free `b` of page `p`, which the calling thread `h` owns.
///
/// # Safety
/// `h` owns `p`; `b` is a live object of `p`.
#[inline(always)]
pub unsafe fn free_local(h: *mut Heap, p: *mut Page, b: *mut Block) {
    // SAFETY: owner-only operations on an owned page.
    unsafe {
        if B57 {
            let sc = (*p).bin as usize - mid_bin(0);
            if sc <= STACK_SC_MAX {
                if local_stack::push(h, sc, p, b, local_stack::Site::Free) {
                    (*p).used -= 1;
                    count!(h, free_owner_local_stack_hit);
                    if (*p).used == 0 {
                        crate::refill::note_emptied(h, p);
                    }
                    return;
                }
                // Not pushed: counted as `free_owner_local` below, and
                // `free_owner_local_stack_overflow` is derived from it.
            } else {
                crate::stats::mid_free_unstacked();
            }
        }
        page::push_free(p, b);
        count!(h, free_owner_local);
        if (*p).used == 0 {
            crate::refill::note_emptied(h, p);
        }
    }
}

/// Free `b` of page `p`, which the calling thread does not own.
///
/// # Safety
/// `b` is a live object of mid page `p`; `h` may be null.
#[inline]
pub unsafe fn free_remote(h: *mut Heap, p: *mut Page, b: *mut Block) {
    // SAFETY: remote pushes are safe from any thread.
    unsafe {
        if REMOTE_QUEUE {
            page::remote_push(p, b, false);
            if crate::config::STATS {
                // A thread without a heap counts on the shared static slot.
                crate::stats::add_maybe_heapless(h, hz4_stats::Key::free_owner_remote, 1);
            }
        } else {
            let lk = crate::bins::shard_lock((*p).bin as usize);
            lk.lock();
            page::remote_push(p, b, false);
            lk.unlock();
            if crate::config::STATS {
                crate::stats::add_maybe_heapless(h, hz4_stats::Key::free_locked, 1);
            }
        }
    }
}
