//! B57 owner local stack, B58 remote gate and B77 adaptive gate.
//!
//! Each thread keeps, per mid class, a small array stack of objects it
//! freed from pages it owns. The objects count as free in their page's
//! accounting (`used` already dropped). Pop re-checks the page: still ours
//! → hit; owned by someone else → the object goes to that page's remote
//! queue as a relink (`stale_remote`); unowned → relinked into the page's
//! free list under the class lock (`stale_unowned`). With B58, a page with
//! pending remote frees refuses pushes and has popped objects diverted to
//! its free list (`pop_gated_remote`). With B77, a per-class hot score,
//! probe tick and cooldown decide whether a push is attempted at all.

use super::adaptive::{self, Gate};
use crate::config::{B58, B77, COOLDOWN, PROBE_SHIFT, STACK_SLOTS};
use crate::heap::Heap;
use crate::page::{self, Block, Page, UNOWNED};
use crate::stats::count;
use core::sync::atomic::Ordering;

/// Who is pushing: the free path (owner-local free) or the malloc path
/// (the lock path staging objects of a page it just took).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Site {
    Free,
    Malloc,
}

/// Objects the lock path stages into the stack from a page it just took.
pub const STAGE: usize = crate::config::knobs::HZ4_MID_OWNER_LOCAL_STACK_STAGE as usize;

/// B77 push gate: false when the push must be skipped.
#[inline(always)]
unsafe fn adaptive_allow(h: *mut Heap, sc: usize, site: Site) -> bool {
    // SAFETY: `h` is the caller's heap; sc < MID_SC_COUNT = array length.
    let g = unsafe {
        adaptive::gate(
            *(*h).hot.get_unchecked(sc),
            (*h).probe_tick.get_unchecked_mut(sc),
            (*h).cooldown.get_unchecked_mut(sc),
            PROBE_SHIFT,
        )
    };
    match (g, site) {
        (Gate::Allow, _) => return true,
        (Gate::SkipCooldown, Site::Free) => {
            count!(h, free_owner_local_stack_adaptive_push_skip_cooldown)
        }
        (Gate::SkipCooldown, Site::Malloc) => {
            count!(h, malloc_owner_local_stack_adaptive_push_skip_cooldown)
        }
        (Gate::SkipCold, Site::Free) => count!(h, free_owner_local_stack_adaptive_push_skip_cold),
        (Gate::SkipCold, Site::Malloc) => {
            count!(h, malloc_owner_local_stack_adaptive_push_skip_cold)
        }
    }
    false
}

/// B77: a stale or gated event — the class goes cold and cools down.
#[inline(always)]
unsafe fn adaptive_reset(h: *mut Heap, sc: usize) {
    if B77 {
        // SAFETY: sc < MID_SC_COUNT = array length.
        unsafe {
            adaptive::on_reset(
                (*h).hot.get_unchecked_mut(sc),
                (*h).cooldown.get_unchecked_mut(sc),
                COOLDOWN,
            );
        }
        count!(h, malloc_owner_local_stack_adaptive_hot_reset);
    }
}

/// Try to push free object `b` of owned page `p` (class `sc`). On success
/// the caller accounts the object as free; on failure it goes to the page.
///
/// # Safety
/// `h` owns `p`; `b` is an object of `p` that is being freed (or staged).
#[inline(always)]
pub unsafe fn push(h: *mut Heap, sc: usize, p: *mut Page, b: *mut Block, site: Site) -> bool {
    // SAFETY: `h` is the caller's heap; sc < MID_SC_COUNT.
    unsafe {
        if B77 && !adaptive_allow(h, sc, site) {
            return false;
        }
        if B58 && crate::page::remote_count(p) > 0 {
            if B77 {
                adaptive::on_push_gated((*h).cooldown.get_unchecked_mut(sc), COOLDOWN);
            }
            if site == Site::Free {
                count!(h, free_owner_local_stack_push_gated_remote);
            }
            return false;
        }
        let len = (*h).stack_len.get_unchecked_mut(sc);
        let n = *len as usize;
        if n >= STACK_SLOTS {
            return false;
        }
        *(*h).stack.get_unchecked_mut(sc).get_unchecked_mut(n) = b;
        *len = (n + 1) as u8;
        (*b).guard = page::free_mark(p);
        if B77 {
            adaptive::on_push((*h).hot.get_unchecked_mut(sc));
        }
        true
    }
}

/// Pop an object of class `sc` that the calling thread may hand out, or null.
///
/// # Safety
/// `h` is the calling thread's heap.
#[inline(always)]
pub unsafe fn pop(h: *mut Heap, sc: usize) -> *mut Block {
    // SAFETY: `h` is the caller's heap; stack entries are free objects.
    unsafe {
        loop {
            let len = (*h).stack_len.get_unchecked_mut(sc);
            let n = *len as usize;
            if n == 0 {
                return core::ptr::null_mut();
            }
            *len = (n - 1) as u8;
            let b = *(*h).stack.get_unchecked(sc).get_unchecked(n - 1);
            let p = page::object_page(b as usize);
            // Relaxed: only this thread ever stores its own heap as owner, so
            // seeing `h` here is reading our own earlier store.
            if (*p).owner.load(Ordering::Relaxed) == h as usize {
                if B58 && crate::page::remote_count(p) > 0 {
                    page::relink_free(p, b);
                    count!(h, malloc_owner_local_stack_pop_gated_remote);
                    adaptive_reset(h, sc);
                    continue;
                }
                (*p).used += 1;
                (*b).guard = 0;
                count!(h, malloc_owner_local_stack_hit);
                if B77 {
                    adaptive::on_hit((*h).hot.get_unchecked_mut(sc));
                    count!(h, malloc_owner_local_stack_adaptive_hot_promote);
                }
                return b;
            }
            stale(h, p, b, true);
            adaptive_reset(h, sc);
        }
    }
}

/// Return a stacked object whose page this thread no longer owns.
#[cold]
#[inline(never)]
unsafe fn stale(h: *mut Heap, p: *mut Page, b: *mut Block, counted: bool) {
    // SAFETY: `b` counts as free in `p`; the bin lock orders us against a
    // thread taking the page from the bin.
    unsafe {
        let lk = crate::bins::shard_lock((*p).bin as usize);
        lk.lock();
        // Acquire: pairs with the releasing owner's store.
        if (*p).owner.load(Ordering::Acquire) == UNOWNED {
            page::relink_free(p, b);
            lk.unlock();
            if counted {
                count!(h, malloc_owner_local_stack_stale_unowned);
            }
        } else {
            lk.unlock();
            page::remote_push(p, b, true);
            if counted {
                count!(h, malloc_owner_local_stack_stale_remote);
            }
        }
    }
}

/// Malloc-side push: after the lock path hands `h` page `p` of class `sc`,
/// move up to `STAGE` of its free objects into the stack through the same
/// gate, so the next mallocs of the class pop them without touching the page
/// list.
///
/// # Safety
/// `h` is the calling thread's heap and owns `p`.
#[inline(never)]
pub unsafe fn stage(h: *mut Heap, sc: usize, p: *mut Page) {
    if STAGE == 0 || sc > crate::config::STACK_SC_MAX {
        return;
    }
    // SAFETY: owner-only page and stack operations.
    unsafe {
        for _ in 0..STAGE {
            if (*p).free.is_null() && page::carve(p) == 0 {
                return;
            }
            let b = (*p).free;
            if !push(h, sc, p, b, Site::Malloc) {
                return;
            }
            // `b` was free on the page list and stays free in the stack.
            (*p).free = (*b).next;
        }
    }
}

/// Empty every stack of `h` back into the pages (thread exit).
///
/// # Safety
/// `h` is the calling thread's heap, being torn down, before its pages are released.
pub unsafe fn flush(h: *mut Heap) {
    // SAFETY: `h` is ours; stacked objects count as free.
    unsafe {
        for sc in 0..crate::config::MID_SC_COUNT {
            while (*h).stack_len[sc] > 0 {
                let n = (*h).stack_len[sc] as usize - 1;
                (*h).stack_len[sc] = n as u8;
                let b = (*h).stack[sc][n];
                let p = page::object_page(b as usize);
                if (*p).owner.load(Ordering::Relaxed) == h as usize {
                    page::relink_free(p, b);
                } else {
                    stale(h, p, b, false);
                }
            }
        }
    }
}
