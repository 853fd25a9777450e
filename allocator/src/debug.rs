//! Heap census for tests and diagnostics: walks every segment and sums the
//! page accounting. Only meaningful while no other thread allocates or
//! frees (it reads owner-only fields without synchronisation).

use crate::config::PAGES_PER_SEG;
use crate::page::{self, KIND_HUGE, KIND_LARGE, KIND_MID, KIND_SMALL};
use crate::segment::{for_each_segment, Segment, SEG_HUGE};

/// Totals over all pages of the process.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Census {
    /// Small and XL pages (runs) formatted.
    pub small_pages: u64,
    /// Mid pages formatted.
    pub mid_pages: u64,
    /// Small objects handed out and not freed (pending remote frees subtracted).
    pub small_live: u64,
    /// Mid objects handed out and not freed (pending remote frees subtracted).
    pub mid_live: u64,
    /// Large spans not sitting in a span cache.
    pub large_live: u64,
    /// Huge mappings.
    pub huge_live: u64,
}

/// Sum the page accounting of every segment.
///
/// # Safety
/// No other thread may allocate or free while this runs.
pub unsafe fn census() -> Census {
    let mut c = Census::default();
    for_each_segment(|seg: *mut Segment| {
        // SAFETY: the map only holds live segments of ours; quiescence is the caller's contract.
        unsafe {
            if (*seg).kind == SEG_HUGE {
                c.huge_live += 1;
                return;
            }
            for i in 1..PAGES_PER_SEG {
                let p = core::ptr::addr_of_mut!((*seg).pages)
                    .cast::<page::Page>()
                    .add(i);
                let live = || (*p).used as u64 - page::remote_count(p) as u64;
                match (*p).kind {
                    KIND_SMALL => {
                        c.small_pages += 1;
                        c.small_live += live();
                    }
                    KIND_MID => {
                        c.mid_pages += 1;
                        c.mid_live += live();
                    }
                    KIND_LARGE => {
                        let b = page::page_start(p) as *mut page::Block;
                        if (*b).guard != page::free_mark(p) {
                            c.large_live += 1;
                        }
                    }
                    KIND_HUGE => {}
                    _ => {}
                }
            }
        }
    });
    c
}

/// Huge mallocs served from the cache of freed huge mappings so far.
pub fn huge_cache_hits() -> usize {
    crate::huge::figures().hits
}

/// Whether the calling thread has a heap of its own (false before its
/// first allocation and after its teardown, when its TLS word holds the
/// sentinel heap).
pub fn thread_has_heap() -> bool {
    !crate::tls::heap().is_null()
}

/// Whether the sentinel heap is still in its initial state: every class
/// queue on the empty page, every stack, span list and the reservation
/// empty. A slow path that used it as a real heap would break this.
pub fn sentinel_is_pristine() -> bool {
    let h = crate::heap::sentinel();
    let e = crate::heap::empty_page();
    // SAFETY: the sentinel is a static; these fields are only ever written
    // by code that checked `is_sentinel` first (i.e. never), so plain reads
    // race with nothing.
    unsafe {
        (*h).bins.iter().all(|q| q.cur == e && q.npages == 0)
            && (*h).stack_len.iter().all(|&n| n == 0)
            && (*h).spans.iter().all(|s| s.head.is_null() && s.len == 0)
            && (*h).resv_n == 0
            && (*h).span_bytes == 0
            && (*e).free.is_null()
            && (*e).used == 0
    }
}
