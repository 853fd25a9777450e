//! Pages and the blocks in them.
//!
//! A page is 64 KiB inside a segment; its metadata (`Page`) lives in the
//! segment header so that `free` finds it from any object address with two
//! masks. A small or mid page holds `capacity` objects of one class; mid
//! classes above 16 KiB and the XL classes (up to 128 KiB) use a *run* of
//! `span_pages` consecutive pages (`config::RUN_PAGES`) described by the
//! first page's header, the others being `KIND_RUN_TAIL` headers that point
//! back to it. A page keeps its
//! class while any of its objects can be reached -- live, queued, or in an
//! owner local stack (B57) -- which is what makes a stale stack pointer safe
//! to re-check. Only once it is `fully_free` may it go back to the segment
//! supply and be formatted again, for any class or as part of a large span.
//!
//! Lists of a page and who may touch them:
//! - `free`: objects ready to hand out. Only the owner thread touches it;
//!   while the page is unowned, only a holder of the page's bin lock.
//! - `remote` (head in the low 48 bits): lock-free stack of objects freed by
//!   other threads (or by anyone while the page is unowned). Anyone pushes
//!   (CAS, Release); the owner or a bin-lock holder takes it all (swap,
//!   Acquire).
//! - never-used objects `bump..capacity` are carved lazily.
//!
//! Counting identity, for an owned page at rest:
//! `used + len(free) + len(remote, not relink) + stacked + (capacity - bump) == capacity`,
//! where `stacked` are objects of the page sitting in its owner's local stack
//! (B57), which count as free. `remote_count` (the high bits of the remote
//! word) counts exactly the not-yet-drained frees on the queue; relinks of
//! stale stack entries ride the queue without being counted.

use core::ptr::null_mut;
use core::sync::atomic::{AtomicUsize, Ordering};

/// A free object: the first word links the list, the second marks it free.
#[repr(C)]
pub struct Block {
    pub next: *mut Block,
    pub guard: usize,
}

pub const KIND_UNUSED: u8 = 0;
pub const KIND_SMALL: u8 = 1;
pub const KIND_MID: u8 = 2;
pub const KIND_LARGE: u8 = 3;
pub const KIND_LARGE_TAIL: u8 = 4;
pub const KIND_HUGE: u8 = 5;
/// A page of a run (mid or XL class) after its first: `span_pages` is the distance back.
pub const KIND_RUN_TAIL: u8 = 6;

/// `Page::div_test` of block size `bs`: ceil(2^64 / bs). An offset `n`
/// below 2^32 is a multiple of `bs` exactly when `n * div_test` (mod 2^64)
/// is below `div_test` (Lemire, Kaser and Kurz, "Faster remainder by direct
/// computation", 2019): one multiply and one compare, no division.
#[inline(always)]
pub const fn div_test_for(bs: u32) -> u64 {
    u64::MAX / bs as u64 + 1
}

/// `owner` of a page no thread owns. Never equal to a heap address or to null.
pub const UNOWNED: usize = 1;

#[repr(C, align(64))]
pub struct Page {
    // ---- owner only (bin lock while unowned) ----
    pub free: *mut Block,
    /// Objects handed out and not yet freed (stacked objects count as free).
    pub used: u32,
    /// Index of the first never-used object.
    pub bump: u32,
    /// Links in the owner's class ring or in the global bin.
    pub next: *mut Page,
    pub prev: *mut Page,
    // ---- fixed while the page is formatted ----
    pub capacity: u32,
    pub block_size: u32,
    /// `div_test_for(block_size)`: the object-start test without a division.
    pub div_test: u64,
    /// Class bin (small or mid) of the page.
    pub bin: u16,
    pub kind: u8,
    /// Set while the page is linked in a global bin (bin lock).
    pub in_bin: u8,
    /// Large spans: number of pages; tail pages: distance back to the head page.
    pub span_pages: u32,
    // ---- shared ----
    /// Heap address of the owning thread, or `UNOWNED`.
    pub owner: AtomicUsize,
    /// Remote queue: head pointer in the low 48 bits, `remote_count` (frees
    /// not yet drained; relinks are not counted) in the high 16. One word, so
    /// a remote free is a single CAS and a drain needs no walk to count.
    pub remote: AtomicUsize,
    // ---- fixed while the page is formatted ----
    /// `capacity * block_size`: offsets from the run start below it are in
    /// an object (0 on the empty page).
    pub obj_end: u32,
}

/// Low 48 bits of the remote word: the head pointer (user addresses are below 2^47).
pub const REMOTE_PTR_MASK: usize = (1 << 48) - 1;
/// One pending free in the high bits of the remote word.
pub const REMOTE_ONE: usize = 1 << 48;

/// True when `p`'s remote queue holds anything (frees or relinks).
///
/// # Safety
/// `p` is a valid page header.
#[inline(always)]
pub unsafe fn remote_pending(p: *const Page) -> bool {
    // SAFETY: atomic load of a field of a valid header.
    unsafe { (*p).remote.load(Ordering::Relaxed) != 0 }
}

/// Frees pushed on `p`'s remote queue and not yet drained (`remote_count`).
///
/// # Safety
/// `p` is a valid page header.
#[inline(always)]
pub unsafe fn remote_count(p: *const Page) -> u32 {
    // SAFETY: atomic load of a field of a valid header.
    unsafe { ((*p).remote.load(Ordering::Relaxed) >> 48) as u32 }
}

/// The marker a free object of page `p` carries in its second word: the
/// header address mixed with a per-process key (`hot::Hot::guard_key`), so
/// user data is unlikely to look free.
#[inline(always)]
pub fn free_mark(p: *mut Page) -> usize {
    (p as usize) ^ crate::hot::hot().guard_key.load(Ordering::Relaxed)
}

/// Page start address of the page whose metadata is `p`.
#[inline(always)]
pub fn page_start(p: *mut Page) -> *mut u8 {
    let seg = p as usize & !crate::config::SEG_MASK;
    let idx = (p as usize - seg - core::mem::offset_of!(crate::segment::Segment, pages))
        / core::mem::size_of::<Page>();
    (seg + (idx << crate::config::PAGE_SHIFT)) as *mut u8
}

/// Format page `p` for objects of class `bin`, owned by `owner`.
///
/// # Safety
/// `p` is a page of ours that no other thread can reach yet.
pub unsafe fn format(p: *mut Page, bin: usize, kind: u8, owner: usize) {
    let bs = crate::config::bin_block_size(bin) as u32;
    let n = crate::config::RUN_PAGES[bin] as u32;
    // SAFETY: the page (and the rest of its run) is private to the caller
    // (fresh from the supply).
    unsafe {
        for j in 1..n {
            let t = p.add(j as usize);
            (*t).span_pages = j;
            (*t).kind = KIND_RUN_TAIL;
        }
        (*p).free = null_mut();
        (*p).used = 0;
        (*p).bump = 0;
        (*p).next = p;
        (*p).prev = p;
        (*p).capacity = n * (crate::config::PAGE_SIZE as u32) / bs;
        (*p).block_size = bs;
        (*p).div_test = div_test_for(bs);
        (*p).obj_end = (*p).capacity * bs;
        (*p).bin = bin as u16;
        (*p).in_bin = 0;
        (*p).span_pages = n;
        (*p).remote.store(0, Ordering::Relaxed);
        (*p).owner.store(owner, Ordering::Relaxed);
        // Release: the fields above are complete before anyone sees the kind.
        core::sync::atomic::fence(Ordering::Release);
        (*p).kind = kind;
    }
}

/// Pop one object from the owner list, or null.
///
/// # Safety
/// Caller owns `p` (or holds its bin lock while it is unowned).
#[inline(always)]
pub unsafe fn pop(p: *mut Page) -> *mut Block {
    // SAFETY: owner-only list; blocks on it are ours and hold a valid `next`.
    unsafe {
        let b = (*p).free;
        if !b.is_null() {
            (*p).free = (*b).next;
            (*p).used += 1;
            (*b).guard = 0;
        }
        b
    }
}

/// Put a just-freed object on the owner list.
///
/// # Safety
/// Caller owns `p`; `b` is an object of `p` that was in use.
#[inline(always)]
pub unsafe fn push_free(p: *mut Page, b: *mut Block) {
    // SAFETY: forwarded contract.
    unsafe { push_free_marked(p, b, free_mark(p)) }
}

/// `push_free` with the page's free marker already computed (`free` has it
/// from its double-free check, so the key is read once per call).
///
/// # Safety
/// As for `push_free`; `mark == free_mark(p)`.
#[inline(always)]
pub unsafe fn push_free_marked(p: *mut Page, b: *mut Block, mark: usize) {
    // SAFETY: owner-only list; `b` is a dead object of this page.
    unsafe {
        (*b).next = (*p).free;
        (*b).guard = mark;
        (*p).free = b;
        (*p).used -= 1;
    }
}

/// Put an object that already counts as free back on the owner list.
///
/// # Safety
/// Caller owns `p` (or holds its bin lock while unowned); `b` counts as free.
#[inline(always)]
pub unsafe fn relink_free(p: *mut Page, b: *mut Block) {
    // SAFETY: as for push_free, without touching `used`.
    unsafe {
        (*b).next = (*p).free;
        (*b).guard = free_mark(p);
        (*p).free = b;
    }
}

/// Push onto the page's remote queue (any thread). `relink` marks an object
/// that already counts as free (a stale local-stack entry): it is queued but
/// not counted in `remote_count`.
///
/// # Safety
/// `b` is an object of `p` that no one else uses.
#[inline]
pub unsafe fn remote_push(p: *mut Page, b: *mut Block, relink: bool) {
    let add = if relink { 0 } else { REMOTE_ONE };
    // SAFETY: `b` is ours to write until the CAS publishes it.
    unsafe {
        (*b).guard = free_mark(p);
        let mut old = (*p).remote.load(Ordering::Relaxed);
        loop {
            (*b).next = (old & REMOTE_PTR_MASK) as *mut Block;
            let new = (b as usize) | ((old & !REMOTE_PTR_MASK) + add);
            // Release: the link and guard written above are visible to the drainer.
            match (*p)
                .remote
                .compare_exchange_weak(old, new, Ordering::Release, Ordering::Relaxed)
            {
                Ok(_) => break,
                Err(cur) => old = cur,
            }
        }
    }
}

/// Move everything on the remote queue to the owner list. Returns the number
/// of frees drained (relinks not counted).
///
/// # Safety
/// Caller owns `p` (or holds its bin lock while unowned).
#[inline]
pub unsafe fn drain_remote(p: *mut Page) -> u32 {
    // SAFETY: the swap gives us exclusive ownership of the whole chain.
    unsafe {
        // Acquire: pairs with the pushers' Release CAS, so their links are visible.
        let word = (*p).remote.swap(0, Ordering::Acquire);
        let head = (word & REMOTE_PTR_MASK) as *mut Block;
        if head.is_null() {
            return 0;
        }
        let freed = (word >> 48) as u32;
        if (*p).free.is_null() {
            (*p).free = head;
        } else {
            // Splice: walk to the tail of the (short) remote chain.
            let mut tail = head;
            while !(*tail).next.is_null() {
                tail = (*tail).next;
            }
            (*tail).next = (*p).free;
            (*p).free = head;
        }
        (*p).used -= freed;
        freed
    }
}

/// Carve up to one OS page worth of never-used objects onto the owner list.
/// Returns how many were carved.
///
/// # Safety
/// Caller owns `p` (or holds its bin lock while unowned).
#[inline(never)]
pub unsafe fn carve(p: *mut Page) -> u32 {
    // SAFETY: objects bump..capacity are untouched memory of this page.
    unsafe {
        let left = (*p).capacity - (*p).bump;
        if left == 0 {
            return 0;
        }
        let bs = (*p).block_size;
        let want = (4096 / bs).clamp(1, 64).min(left);
        let base = page_start(p);
        let first = (*p).bump;
        let mark = free_mark(p);
        let mut list = (*p).free;
        let mut i = first + want;
        while i > first {
            i -= 1;
            let b = base.add((i * bs) as usize) as *mut Block;
            (*b).next = list;
            (*b).guard = mark;
            list = b;
        }
        (*p).free = list;
        (*p).bump = first + want;
        want
    }
}

/// True when the owner can get an object out of `p` without the lock path.
///
/// # Safety
/// Caller owns `p`.
#[inline]
pub unsafe fn has_any_free(p: *mut Page) -> bool {
    // SAFETY: owner-only fields plus an atomic load.
    unsafe { !(*p).free.is_null() || (*p).bump < (*p).capacity || remote_pending(p) }
}

/// True when every object of `p` is back on its free list or never carved:
/// nothing live, nothing on the remote queue, and (with B57) no object of
/// the page in anyone's local stack -- stacked objects count as free in
/// `used` but are not on the list, so the list must hold all `bump` carved
/// objects. Such a page is unreachable from anywhere but its header, so it
/// may go back to the segment supply and be reformatted for another class.
///
/// # Safety
/// Caller owns `p` (or holds its bin lock while it is unowned).
#[inline]
pub unsafe fn fully_free(p: *mut Page) -> bool {
    // SAFETY: owner-only fields plus an atomic load.
    unsafe {
        if (*p).used != 0 || (*p).remote.load(Ordering::Acquire) != 0 {
            return false;
        }
        // Only mid objects are ever stacked; mid pages hold few objects.
        if crate::config::B57 && (*p).kind == KIND_MID {
            let mut n = 0u32;
            let mut b = (*p).free;
            while !b.is_null() {
                n += 1;
                b = (*b).next;
            }
            return n == (*p).bump;
        }
        true
    }
}

/// Object pointer check: `ptr` must be the start of an object of `p`.
/// Returns false for interior or misaligned pointers.
///
/// # Safety
/// `p` is the header of a formatted small or mid page.
#[inline(always)]
pub unsafe fn is_object_start(p: *const Page, ptr: usize) -> bool {
    // SAFETY: forwarded contract; `ptr` is in the run's first page.
    unsafe { is_object_at(p, (ptr & (crate::config::PAGE_SIZE - 1)) as u64) }
}

/// Whether byte offset `off` from the start of `p`'s run is an object start.
///
/// # Safety
/// `p` is the header of a formatted small or mid page (the run's first).
#[inline(always)]
pub unsafe fn is_object_at(p: *const Page, off: u64) -> bool {
    // SAFETY: `p` is a formatted page; these fields are fixed while formatted.
    let (c, end) = unsafe { ((*p).div_test, (*p).obj_end as u64) };
    // `off < end` first: it also keeps `off` below 2^32 for the multiple test.
    off < end && off.wrapping_mul(c) < c
}

/// The first page of the run that tail page `t` belongs to.
///
/// # Safety
/// `t` is a `KIND_RUN_TAIL` header.
#[inline(always)]
pub unsafe fn run_head(t: *mut Page) -> *mut Page {
    // SAFETY: a tail's `span_pages` is its distance back to the run's first page.
    unsafe { t.sub((*t).span_pages as usize) }
}

/// The header describing the small/mid object at `addr` (the run's first
/// page for an object on a tail page).
///
/// # Safety
/// `addr` is in one of our segments.
#[inline(always)]
pub unsafe fn object_page(addr: usize) -> *mut Page {
    let p = crate::segment::page_of(addr);
    // SAFETY: page headers of our segments are readable.
    unsafe {
        if (*p).kind == KIND_RUN_TAIL {
            run_head(p)
        } else {
            p
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn object_start_test_is_exact_for_every_class_and_offset() {
        for bin in 1..crate::config::BINS {
            let bs = crate::config::bin_block_size(bin) as u64;
            let c = super::div_test_for(bs as u32);
            let run = crate::config::RUN_PAGES[bin] as u64 * 65536;
            let end = run / bs * bs;
            // Every offset of the run and a page beyond it, not just aligned ones.
            for off in 0..run + 65536 {
                let want = off % bs == 0 && off < end;
                let got = off < end && off.wrapping_mul(c) < c;
                assert_eq!(got, want, "bs {bs} off {off}");
            }
        }
    }
}
