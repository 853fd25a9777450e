//! Free dispatch: find the page from the address, check the pointer is the
//! start of a live object of ours, then route by page kind and owner.
//! Anything we cannot vouch for aborts with a one-line reason.

use crate::page::{
    self, Block, Page, KIND_HUGE, KIND_LARGE, KIND_LARGE_TAIL, KIND_MID, KIND_RUN_TAIL, KIND_SMALL,
};
use crate::segment::{is_ours, page_of};
use crate::tls;
use core::sync::atomic::Ordering;

/// Free `ptr` (non-null). `func` names the C entry point for error messages.
///
/// # Safety
/// Called from a free-like entry point with a pointer the caller got from us.
#[inline(always)]
pub unsafe fn free(ptr: *mut u8, func: &'static str) {
    let a = ptr as usize;
    if !is_ours(a) {
        // SAFETY: forwarded contract (a big-aligned huge object, or an abort).
        unsafe { crate::huge::foreign(a, func, true) };
        return;
    }
    let p = page_of(a);
    // SAFETY: `a` is in one of our segments, so `p` is a valid page header.
    unsafe {
        let kind = (*p).kind;
        if kind == KIND_SMALL || kind == KIND_MID {
            if !page::is_object_start(p, a) {
                not_object_start(a, func);
            }
            free_object(p, a as *mut Block, kind, func);
        } else {
            free_other(a, p, kind, func);
        }
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

/// Free object `b` of small/mid page (or run) `p`, already checked to be an
/// object start.
#[inline(always)]
unsafe fn free_object(p: *mut Page, b: *mut Block, kind: u8, func: &'static str) {
    // SAFETY: `p` is a formatted small/mid header and `b` one of its objects.
    unsafe {
        if (*b).guard == page::free_mark(p) {
            crate::fatal::invalid_pointer(func, "double free", b as usize);
        }
        let h = tls::heap();
        // Relaxed: equality with our own heap can only come from our own store.
        if (*p).owner.load(Ordering::Relaxed) == h as usize {
            if kind == KIND_MID {
                crate::mid::free_local(h, p, b);
            } else {
                page::push_free(p, b);
                if (*p).used == 0 {
                    crate::refill::page_emptied(h, p);
                }
            }
        } else if kind == KIND_MID {
            crate::mid::free_remote(h, p, b);
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
