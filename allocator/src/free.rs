//! Free dispatch: find the page from the address, check the pointer is the
//! start of a live object of ours, then route by page kind and owner.
//! Anything we cannot vouch for aborts with a one-line reason.

use crate::config::{B57, STATS};
use crate::heap::Heap;
use crate::page::{
    self, Block, Page, KIND_HUGE, KIND_LARGE, KIND_LARGE_TAIL, KIND_MID, KIND_RUN_TAIL, KIND_SMALL,
};
use crate::segment::{is_ours, page_of};
use crate::tls;
use core::sync::atomic::Ordering;

/// Free `ptr` (null is ignored). `func` names the C entry point for error
/// messages.
///
/// The common case -- the start of a live object of a small or mid page
/// that the calling thread owns -- is three tests after the segment map:
/// "a small/mid object start" (kind, then the division-free offset check),
/// "not already free" and "ours"; then the push. Null needs no
/// test of its own: chunk 0 is never a segment, so it fails the map check
/// and `free_foreign` ignores it. Everything else (run tails, large and
/// huge objects, invalid pointers, remote frees, an emptied page) is behind
/// a call.
///
/// # Safety
/// Called from a free-like entry point with a pointer the caller got from us.
#[inline(always)]
pub unsafe fn free(ptr: *mut u8, func: &'static str) {
    let a = ptr as usize;
    if !is_ours(a) {
        // SAFETY: forwarded contract.
        return unsafe { free_foreign(a, func) };
    }
    let p = page_of(a);
    // SAFETY: `a` is in one of our segments, so `p` is a valid page header;
    // its fields are readable whatever the page's kind.
    unsafe {
        let kind = (*p).kind;
        // KIND_SMALL (1) or KIND_MID (2), and an object start; anything
        // else (run tails, spans, invalid pointers) goes to `free_other`,
        // which sorts it out. The offset check reads only header fields.
        if kind.wrapping_sub(KIND_SMALL) > KIND_MID - KIND_SMALL || !page::is_object_start(p, a) {
            return free_other(a, p, kind, func);
        }
        free_object(p, a as *mut Block, kind, func);
    }
}

/// A pointer outside every segment: null (ignored), a big-aligned huge
/// object, or an abort.
#[cold]
#[inline(never)]
unsafe fn free_foreign(a: usize, func: &'static str) {
    if a != 0 {
        // SAFETY: forwarded contract.
        unsafe { crate::huge::foreign(a, func, true) };
    }
}

#[cold]
#[inline(never)]
fn not_object_start(a: usize, func: &'static str) -> ! {
    crate::fatal::invalid_pointer(
        func,
        "not the start of an object (interior or misaligned pointer)",
        a,
    )
}

#[cold]
#[inline(never)]
fn double_free(a: usize, func: &'static str) -> ! {
    crate::fatal::invalid_pointer(func, "double free", a)
}

/// Free object `b` of small/mid page (or run) `p`, already checked to be an
/// object start.
#[inline(always)]
unsafe fn free_object(p: *mut Page, b: *mut Block, kind: u8, func: &'static str) {
    // SAFETY: `p` is a formatted small/mid header and `b` one of its objects.
    unsafe {
        let mark = page::free_mark(p);
        if (*b).guard == mark {
            double_free(b as usize, func);
        }
        let h = tls::current();
        // Relaxed: equality with our own heap can only come from our own
        // store (the sentinel never owns a page).
        if (*p).owner.load(Ordering::Relaxed) != h as usize {
            return free_remote(p, b, kind);
        }
        // Mid pages differ from small ones only with the local stack or stats.
        if (B57 || STATS) && kind == KIND_MID {
            return free_mid_local(h, p, b);
        }
        page::push_free_marked(p, b, mark);
        if (*p).used == 0 {
            crate::refill::note_emptied(h, p);
        }
    }
}

/// Owner free of a mid object with the local stack box (or stats) built.
#[inline(never)]
unsafe fn free_mid_local(h: *mut Heap, p: *mut Page, b: *mut Block) {
    // SAFETY: forwarded: `h` owns mid page `p`, `b` is a live object of it.
    unsafe { crate::mid::free_local(h, p, b) }
}

/// Free by a thread that does not own the page: onto its remote queue.
/// Not `#[cold]`: the cross-thread lanes do this on most frees.
#[inline(never)]
unsafe fn free_remote(p: *mut Page, b: *mut Block, kind: u8) {
    // SAFETY: `b` is a live object of small/mid page `p`; remote pushes are
    // safe from any thread.
    unsafe {
        if kind == KIND_MID {
            crate::mid::free_remote(tls::heap(), p, b);
        } else {
            page::remote_push(p, b, false);
        }
    }
}

#[cold]
#[inline(never)]
unsafe fn free_other(a: usize, p: *mut Page, kind: u8, func: &'static str) {
    // SAFETY: `p` is the header of the page holding `a`, in one of our segments.
    unsafe {
        match kind {
            KIND_SMALL | KIND_MID => not_object_start(a, func),
            KIND_RUN_TAIL => {
                let head = page::run_head(p);
                let off = (a - page::page_start(head) as usize) as u64;
                if !page::is_object_at(head, off) {
                    not_object_start(a, func);
                }
                free_object(head, a as *mut Block, (*head).kind, func);
            }
            KIND_LARGE => {
                if a != page::page_start(p) as usize {
                    crate::fatal::invalid_pointer(func, "interior pointer into a large object", a);
                }
                crate::large::free(tls::heap(), p, a, func);
            }
            KIND_HUGE => {
                if a & (crate::config::PAGE_SIZE - 1) != 0 {
                    crate::fatal::invalid_pointer(func, "interior pointer into a huge object", a);
                }
                crate::huge::free(a);
            }
            KIND_LARGE_TAIL => {
                crate::fatal::invalid_pointer(func, "interior pointer into a large object", a)
            }
            _ => crate::fatal::invalid_pointer(func, "invalid page magic (page not in use)", a),
        }
    }
}

/// Usable size of a live object, validating it like `free` does.
///
/// # Safety
/// `ptr` is non-null.
pub unsafe fn usable_size(ptr: *mut u8, func: &'static str) -> usize {
    let a = ptr as usize;
    if !is_ours(a) {
        // SAFETY: forwarded contract (a big-aligned huge object, or an abort).
        return unsafe { crate::huge::foreign(a, func, false) };
    }
    let p = page_of(a);
    // SAFETY: `a` is in one of our segments.
    unsafe {
        // Read only once the address is known to be an object start.
        let live = |p: *mut Page, size: usize| {
            if (*(a as *const Block)).guard == page::free_mark(p) {
                crate::fatal::invalid_pointer(func, "pointer already freed", a);
            }
            size
        };
        match (*p).kind {
            KIND_RUN_TAIL => {
                let head = page::run_head(p);
                let off = (a - page::page_start(head) as usize) as u64;
                if !page::is_object_at(head, off) {
                    crate::fatal::invalid_pointer(func, "not the start of a live object", a);
                }
                live(head, (*head).block_size as usize)
            }
            KIND_SMALL | KIND_MID if page::is_object_start(p, a) => {
                live(p, (*p).block_size as usize)
            }
            KIND_LARGE if a == page::page_start(p) as usize => {
                live(p, ((*p).span_pages as usize) << crate::config::PAGE_SHIFT)
            }
            KIND_HUGE if a & (crate::config::PAGE_SIZE - 1) == 0 => crate::huge::usable(a),
            _ => crate::fatal::invalid_pointer(func, "not the start of a live object", a),
        }
    }
}
