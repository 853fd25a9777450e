//! The class slow path: the current page of a class is out of objects.
//! In order: drain the page's remote queue, carve never-used objects, walk
//! the other pages this thread owns in the class (retiring surplus empty
//! ones), and finally the lock path (global bin or a new page).

use crate::config::{mid_bin, small_canon, PAGE_WALK, RESV_PAGES, SMALL_CLASSES, SMALL_FIRST};
use crate::heap::{empty_page, Heap};
use crate::page::{self, Page};
use crate::stats::{count, count_event};

/// Make `p` the current page of class `bin` (a class's own step), and of
/// the small steps that alias it (`config::SMALL_FIRST`), so the fast path
/// of every size the class serves pops from the same page.
#[inline]
unsafe fn set_cur(h: *mut Heap, bin: usize, p: *mut Page) {
    // SAFETY: `h` is the caller's heap; alias steps are below `bin`.
    unsafe {
        (*h).bins[bin].cur = p;
        if bin < SMALL_CLASSES {
            for a in SMALL_FIRST[bin] as usize..bin {
                (*h).bins[a].cur = p;
            }
        }
    }
}

/// Make `p` (owned by `h`, not in the ring) the current page of its class.
unsafe fn ring_insert(h: *mut Heap, bin: usize, p: *mut Page) {
    // SAFETY: `h` is the caller's heap and `p` a page it owns.
    unsafe {
        let cur = (*h).bins[bin].cur;
        if cur == empty_page() {
            (*p).next = p;
            (*p).prev = p;
        } else {
            (*p).next = (*cur).next;
            (*p).prev = cur;
            (*(*cur).next).prev = p;
            (*cur).next = p;
        }
        set_cur(h, bin, p);
        (*h).bins[bin].npages += 1;
    }
}

/// Take `p` out of its class ring.
pub unsafe fn ring_remove(h: *mut Heap, bin: usize, p: *mut Page) {
    // SAFETY: `p` is in `h`'s ring of `bin`.
    unsafe {
        if (*p).next == p {
            set_cur(h, bin, empty_page());
        } else {
            (*(*p).prev).next = (*p).next;
            (*(*p).next).prev = (*p).prev;
            if (*h).bins[bin].cur == p {
                set_cur(h, bin, (*p).next);
            }
        }
        (*h).bins[bin].npages -= 1;
    }
}

/// Get an object of class `bin` once the fast path found the current page empty.
/// `h` must be the calling thread's (initialised) heap.
#[cold]
#[inline(never)]
pub unsafe fn alloc_slow(h: *mut Heap, bin: usize) -> *mut u8 {
    // A small step that aliases a class works on the class's own step.
    let bin = if bin < SMALL_CLASSES {
        small_canon(bin)
    } else {
        bin
    };
    let mid = crate::config::is_mid_bin(bin);
    // SAFETY: `h` is the caller's heap; every page reached is owned by `h`.
    unsafe {
        let cur = (*h).bins[bin].cur;
        if cur != empty_page() {
            if let Some(b) = refill_from(h, cur, mid) {
                return b;
            }
            // Walk the rest of the ring from the current page on.
            let mut p = (*cur).next;
            let mut last = cur;
            let mut steps = 0;
            let mut spare_empty = (*cur).used == 0;
            while p != cur && steps < PAGE_WALK {
                steps += 1;
                let next = (*p).next;
                if crate::page::remote_pending(p) {
                    owner_drain(h, p, mid);
                }
                if (*p).used == 0 {
                    if spare_empty {
                        retire(h, bin, p);
                        p = next;
                        continue;
                    }
                    spare_empty = true;
                }
                if !(*p).free.is_null() || (*p).bump < (*p).capacity {
                    set_cur(h, bin, p);
                    if let Some(b) = refill_from(h, p, mid) {
                        return b;
                    }
                }
                last = p;
                p = next;
            }
            // Nothing in this window: the next walk starts where this one
            // stopped, so every page of a long ring is eventually looked at
            // (and its remote frees drained) instead of the same first few.
            set_cur(h, bin, last);
        }
        let p = crate::bins::lock_path(h, bin);
        if p.is_null() {
            return core::ptr::null_mut();
        }
        ring_insert(h, bin, p);
        let b = refill_from(h, p, mid).unwrap_or(core::ptr::null_mut());
        // Stage only after taking our object: a page may hold a single one.
        if mid && crate::config::B57 && !b.is_null() {
            crate::mid::local_stack::stage(h, bin - mid_bin(0), p);
        }
        b
    }
}

/// The owner drains `p`'s remote queue on the malloc path (counted for mid pages).
///
/// # Safety
/// `h` is the calling thread's heap and owns `p`.
#[cold]
#[inline(never)]
pub unsafe fn owner_drain(h: *mut Heap, p: *mut Page, mid: bool) {
    // SAFETY: `p` is owned by `h` (caller's contract).
    let n = unsafe { page::drain_remote(p) };
    if mid {
        count_event!(h, on_owner_drain, n as u64);
    }
}

/// Pop from `p`, draining its remote queue and carving as needed.
#[inline(always)]
unsafe fn refill_from(h: *mut Heap, p: *mut Page, mid: bool) -> Option<*mut u8> {
    // SAFETY: `p` is owned by `h`, the calling thread's heap.
    unsafe {
        if (*p).free.is_null() && crate::page::remote_pending(p) {
            owner_drain(h, p, mid);
        }
        if (*p).free.is_null() {
            page::carve(p);
        }
        let b = page::pop(p);
        if b.is_null() {
            None
        } else {
            if mid {
                count!(h, malloc_owner_fast);
            }
            Some(b as *mut u8)
        }
    }
}

/// A free just made page `p` of `h` empty. Only a class ring longer than
/// `RING_KEEP` pages can give one up, so the common case -- a class with
/// one or a few pages, emptied and refilled over and over by a small live
/// set -- is one inline compare and no call.
///
/// # Safety
/// `h` is the calling thread's heap and owns `p`.
#[inline(always)]
pub unsafe fn note_emptied(h: *mut Heap, p: *mut Page) {
    // SAFETY: `p` is owned by `h`, so it is formatted and its `bin` is
    // below `BINS`: an unchecked index (a bounds check would give free a
    // stack frame for the panic call).
    unsafe {
        let q = (*h).bins.as_ptr().add((*p).bin as usize);
        if (*q).npages > crate::config::RING_KEEP {
            page_emptied(h, p);
        }
    }
}

/// The out-of-line half of `note_emptied`, which has checked that the
/// class holds more than `RING_KEEP` pages: a page that is not the current
/// one goes to the global bin, where any thread (or class-mate) can take it.
///
/// # Safety
/// `h` is the calling thread's heap and owns `p`.
#[cold]
#[inline(never)]
unsafe fn page_emptied(h: *mut Heap, p: *mut Page) {
    // SAFETY: `p` is owned by `h`, so it is in `h`'s ring of its class.
    unsafe {
        let bin = (*p).bin as usize;
        let q = &(*h).bins[bin];
        if q.cur != p {
            retire(h, bin, p);
        }
    }
}

/// Hand an empty surplus page of `h` to the global bin, or, when it is
/// completely free and the bin keeps enough of those, to the page supply.
unsafe fn retire(h: *mut Heap, bin: usize, p: *mut Page) {
    // SAFETY: `p` is owned by `h` and in its ring of `bin`.
    unsafe {
        ring_remove(h, bin, p);
        let empty = page::fully_free(p);
        if !crate::bins::release_page(p, empty) {
            free_page(h, p);
        }
    }
}

/// Give a completely free page (or run) of `h` back for any use: a single
/// page to the thread's reservation (spilling half of a full one to the
/// supply in one lock), a run straight to the supply.
///
/// # Safety
/// `h` is the calling thread's heap, owns `p`, and `page::fully_free(p)`.
unsafe fn free_page(h: *mut Heap, p: *mut Page) {
    // SAFETY: `p` is completely free and ours: nothing else reaches it.
    unsafe {
        let k = (*p).span_pages;
        (*p).owner
            .store(page::UNOWNED, core::sync::atomic::Ordering::Relaxed);
        if k != 1 {
            crate::segment::give_span(p, k);
            return;
        }
        (*p).kind = page::KIND_UNUSED;
        if (*h).resv_n == RESV_PAGES {
            let keep = RESV_PAGES / 2;
            let resv = &(*h).resv;
            crate::segment::give_pages(&resv[keep..]);
            (*h).resv_n = keep;
        }
        (*h).resv[(*h).resv_n] = p;
        (*h).resv_n += 1;
    }
}

/// Release every page of every class of `h` (thread exit): completely free
/// ones go into `batch` (back to the supply, see `segment::give_runs_exit`),
/// the rest to the global bins.
///
/// # Safety
/// `h` is the calling thread's heap, being torn down, with its local stacks
/// already flushed.
pub unsafe fn release_all(h: *mut Heap, batch: &mut crate::segment::PurgeBatch) {
    // SAFETY: every page in `h`'s rings is owned by `h`.
    unsafe {
        for bin in 0..crate::config::BINS {
            if bin < SMALL_CLASSES && small_canon(bin) != bin {
                // An alias step: its class's own step empties it.
                continue;
            }
            while (*h).bins[bin].cur != empty_page() {
                let p = (*h).bins[bin].cur;
                ring_remove(h, bin, p);
                if crate::page::remote_pending(p) {
                    page::drain_remote(p);
                }
                if page::fully_free(p) {
                    batch.push(p, (*p).span_pages);
                } else {
                    crate::bins::release_page(p, false);
                }
            }
        }
    }
}
