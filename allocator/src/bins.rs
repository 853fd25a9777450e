//! Global bins: per class, the pages no thread owns (released by exited
//! threads or retired as empty surplus), behind sharded locks. The lock
//! path -- taken only when a thread's own pages of the class are exhausted
//! -- takes a page from the bin, or creates one from the thread's page
//! reservation.
//!
//! A bin keeps at most `BIN_EMPTY_KEEP` completely free pages (see
//! `page::fully_free`); a surplus one goes back to the segment supply
//! instead, where any class or a large span can take it. A purge round's
//! `sweep` moves the completely free pages a bin still holds (emptied by
//! remote frees or stale-entry relinks while unowned, or kept) to the supply
//! too, so a class the program stopped using gives all its pages back.

use crate::config::{BINS, BIN_SCAN, LOCK_SHARDS};
use crate::heap::Heap;
use crate::page::{self, Page, KIND_MID, KIND_SMALL, UNOWNED};
use crate::stats::{count, count_event};
use crate::sync::Lock;
use core::cell::UnsafeCell;
use core::ptr::null_mut;
use core::sync::atomic::Ordering;

struct BinList {
    head: *mut Page,
    tail: *mut Page,
    /// Pages that were completely free when inserted (`in_bin == 2`).
    nempty: u32,
}

/// Completely free pages a class bin keeps for the class before surplus
/// ones go back to the segment supply.
const BIN_EMPTY_KEEP: u32 = 16;
/// `Page::in_bin` of a page that was completely free when binned.
const IN_BIN_EMPTY: u8 = 2;

struct Bins([UnsafeCell<BinList>; BINS]);
// SAFETY: bin `i` is only touched with `shard_lock(i)` held.
unsafe impl Sync for Bins {}

#[allow(clippy::declare_interior_mutable_const)]
const EMPTY_BIN: UnsafeCell<BinList> = UnsafeCell::new(BinList {
    head: null_mut(),
    tail: null_mut(),
    nempty: 0,
});
static BINS_: Bins = Bins([EMPTY_BIN; BINS]);

#[allow(clippy::declare_interior_mutable_const)]
const NEW_LOCK: Lock = Lock::new();
/// The size-class lock shards (`HZ4_MID_LOCK_SHARDS`).
pub static SHARDS: [Lock; LOCK_SHARDS] = [NEW_LOCK; LOCK_SHARDS];

/// The lock guarding class bin `bin` and the unowned pages in it.
#[inline(always)]
pub fn shard_lock(bin: usize) -> &'static Lock {
    &SHARDS[bin & (LOCK_SHARDS - 1)]
}

#[inline(always)]
fn is_mid(bin: usize) -> bool {
    crate::config::is_mid_bin(bin)
}

/// Append `p` at the tail (or head) of its bin. Shard lock held.
unsafe fn bin_insert(bin: usize, p: *mut Page, at_head: bool) {
    // SAFETY: shard lock for `bin` held by the caller; `p` is unowned.
    unsafe {
        let l = &mut *BINS_.0[bin].get();
        (*p).in_bin = 1;
        if l.head.is_null() {
            (*p).next = null_mut();
            (*p).prev = null_mut();
            l.head = p;
            l.tail = p;
        } else if at_head {
            (*p).prev = null_mut();
            (*p).next = l.head;
            (*l.head).prev = p;
            l.head = p;
        } else {
            (*p).next = null_mut();
            (*p).prev = l.tail;
            (*l.tail).next = p;
            l.tail = p;
        }
    }
}

/// Pop the head page of a bin, or null. Shard lock held.
unsafe fn bin_pop(bin: usize) -> *mut Page {
    // SAFETY: shard lock for `bin` held by the caller.
    unsafe {
        let p = (*BINS_.0[bin].get()).head;
        if !p.is_null() {
            bin_unlink(bin, p);
        }
        p
    }
}

/// Take `p` out of its bin. Shard lock held.
unsafe fn bin_unlink(bin: usize, p: *mut Page) {
    // SAFETY: shard lock for `bin` held by the caller; `p` is in this bin.
    unsafe {
        let l = &mut *BINS_.0[bin].get();
        if (*p).prev.is_null() {
            l.head = (*p).next;
        } else {
            (*(*p).prev).next = (*p).next;
        }
        if (*p).next.is_null() {
            l.tail = (*p).prev;
        } else {
            (*(*p).next).prev = (*p).prev;
        }
        if (*p).in_bin == IN_BIN_EMPTY {
            l.nempty -= 1;
        }
        (*p).in_bin = 0;
    }
}

/// Give page `p` (owned by the calling thread, already out of its class
/// ring) to the global bin of its class, as unowned. A completely free page
/// (`empty`: checked by the caller with `page::fully_free`) is refused when
/// the bin already keeps `BIN_EMPTY_KEEP` of them: then it returns false and
/// the caller still owns the page (and gives it to the segment supply).
///
/// # Safety
/// The caller owns `p` and forgets it afterwards if this returns true.
pub unsafe fn release_page(p: *mut Page, empty: bool) -> bool {
    // SAFETY: we own `p` until the owner store below, made under the bin lock.
    unsafe {
        let bin = (*p).bin as usize;
        let lk = shard_lock(bin);
        lk.lock();
        let l = &mut *BINS_.0[bin].get();
        if empty && l.nempty >= BIN_EMPTY_KEEP {
            lk.unlock();
            return false;
        }
        // Release: our list updates are visible to the next owner (which
        // takes the page under this same lock anyway).
        (*p).owner.store(UNOWNED, Ordering::Release);
        let has_free = !(*p).free.is_null() || (*p).bump < (*p).capacity;
        bin_insert(bin, p, has_free);
        if empty {
            (*p).in_bin = IN_BIN_EMPTY;
            (*BINS_.0[bin].get()).nempty += 1;
        }
        lk.unlock();
        true
    }
}

/// Purge round: move every completely free page of every bin to the
/// segment supply (draining remote queues on the way, as the lock path
/// does). Returns 0: the pages are purged later by the supply, with the
/// delay (or right after, by a forced round).
pub fn sweep() -> usize {
    const BATCH: usize = 64;
    let mut batch = [null_mut::<Page>(); BATCH];
    for (shard, lk) in SHARDS.iter().enumerate() {
        let mut more = true;
        while more {
            more = false;
            let mut n = 0;
            lk.lock();
            // SAFETY: shard lock held; pages in its bins are unowned and
            // only touched under it.
            unsafe {
                'bins: for bin in (shard..BINS).step_by(LOCK_SHARDS) {
                    let mut p = (*BINS_.0[bin].get()).head;
                    while !p.is_null() {
                        let next = (*p).next;
                        if crate::page::remote_pending(p) {
                            page::drain_remote(p);
                        }
                        if page::fully_free(p) {
                            bin_unlink(bin, p);
                            batch[n] = p;
                            n += 1;
                            if n == BATCH {
                                more = true;
                                break 'bins;
                            }
                        }
                        p = next;
                    }
                }
            }
            lk.unlock();
            for &p in batch.iter().take(n) {
                // SAFETY: taken out of its bin, completely free: nothing can
                // reach it any more.
                unsafe { crate::segment::give_span(p, (*p).span_pages) };
            }
        }
    }
    0
}

/// Lock path: find an unowned page of `bin` with free objects and make `h`
/// its owner, or create one. Returns null only when out of memory.
///
/// # Safety
/// `h` is the calling thread's heap.
#[cold]
#[inline(never)]
pub unsafe fn lock_path(h: *mut Heap, bin: usize) -> *mut Page {
    let mid = is_mid(bin);
    if mid {
        count!(h, malloc_lock_path);
    }
    let lk = shard_lock(bin);
    let t0 = crate::lockstat::enter(h, lk, mid);
    let mut found = null_mut();
    let mut steps = 0u64;
    // SAFETY: shard lock held for the scan; pages in the bin are unowned.
    unsafe {
        let mut budget = BIN_SCAN;
        while budget > 0 {
            budget -= 1;
            let p = bin_pop(bin);
            if p.is_null() {
                break;
            }
            steps += 1;
            if crate::page::remote_pending(p) {
                let n = page::drain_remote(p);
                if mid && crate::config::LOCK_STATS {
                    count_event!(h, on_inlock_remote_drain, n as u64);
                }
            }
            if !(*p).free.is_null() || (*p).bump < (*p).capacity {
                (*p).owner.store(h as usize, Ordering::Relaxed);
                found = p;
                break;
            }
            // Full and nothing pending: keep it, at the back.
            bin_insert(bin, p, false);
        }
    }
    crate::lockstat::leave(h, lk, t0, steps);
    if !found.is_null() {
        if mid {
            count!(h, malloc_bin_hit);
        }
        return found;
    }
    if mid {
        count!(h, malloc_bin_miss);
    }
    // SAFETY: `h` is the caller's heap.
    unsafe { create_page(h, bin) }
}

/// Format a page from the thread's reservation (refilled from the segment
/// supply in one lock acquisition) for class `bin`, owned by `h`.
unsafe fn create_page(h: *mut Heap, bin: usize) -> *mut Page {
    // SAFETY: `h` is the caller's heap; reserved pages are private to it.
    unsafe {
        let kind = if is_mid(bin) { KIND_MID } else { KIND_SMALL };
        let n = crate::config::RUN_PAGES[bin] as u32;
        if n > 1 {
            // A run: straight from the supply.
            let mut p = crate::segment::take_span(n);
            if p.is_null() {
                crate::purge::trim();
                p = crate::segment::take_span(n);
                if p.is_null() {
                    return null_mut();
                }
            }
            page::format(p, bin, kind, h as usize);
            count!(h, malloc_page_create);
            return p;
        }
        if (*h).resv_n == 0 {
            let mut n = crate::segment::take_pages(&mut (*h).resv);
            if n == 0 {
                // Out of address space or memory: give back everything
                // cached or free (other classes' pages included), retry once.
                crate::purge::trim();
                n = crate::segment::take_pages(&mut (*h).resv);
            }
            (*h).resv_n = n;
            count_event!(h, on_resv_refill, n as u64);
            if n == 0 {
                return null_mut();
            }
        } else {
            count!(h, supply_resv_hit);
        }
        (*h).resv_n -= 1;
        let p = (*h).resv[(*h).resv_n];
        page::format(p, bin, kind, h as usize);
        if is_mid(bin) {
            count!(h, malloc_page_create);
        }
        p
    }
}

/// Lock every shard (fork prepare), in index order.
pub fn lock_all() {
    for l in SHARDS.iter() {
        l.lock();
    }
}

/// Unlock every shard (fork parent).
pub fn unlock_all() {
    for l in SHARDS.iter().rev() {
        l.unlock();
    }
}

/// Reset every shard (fork child).
pub fn reset_all() {
    for l in SHARDS.iter() {
        l.force_unlock();
    }
}

/// Reserved pages go into `batch`, back to the supply (thread exit, trim).
///
/// # Safety
/// `h` is the calling thread's heap (or one being torn down by its thread).
pub unsafe fn return_reservation(h: *mut Heap, batch: &mut crate::segment::PurgeBatch) {
    // SAFETY: reserved pages are unformatted or completely free, and belong to `h`.
    unsafe {
        while (*h).resv_n > 0 {
            (*h).resv_n -= 1;
            batch.push((*h).resv[(*h).resv_n], 1);
        }
    }
}
