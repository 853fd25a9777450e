//! Segments: 4 MiB aligned chunks of address space split into 64 pages of
//! 64 KiB, page 0 being this header. Also the segment map (which 4 MiB
//! chunks are ours, so `free` can reject foreign pointers without touching
//! them) and the page supply (single pages for small/mid classes, runs of
//! pages for large spans), guarded by the one segment lock.

use crate::config::{PAGES_PER_SEG, PAGE_SHIFT, PAGE_SIZE, SEG_MASK, SEG_SHIFT, SEG_SIZE};
use crate::page::Page;
use crate::sync::Lock;
use core::cell::UnsafeCell;
use core::ptr::null_mut;
use core::sync::atomic::{AtomicPtr, AtomicU64, Ordering};

pub const SEG_MAGIC: u64 = 0x687a_345f_7365_676d; // "hz4_segm"
pub const SEG_NORMAL: u8 = 1;
pub const SEG_HUGE: u8 = 2;

/// Bits of the pages a normal segment can hand out (page 0 is the header).
const ALL_DATA_PAGES: u64 = !1u64;

#[repr(C)]
pub struct Segment {
    pub magic: u64,
    pub kind: u8,
    /// Supply list membership (segment lock).
    pub in_list: u8,
    /// Huge segments: bytes mapped.
    pub huge_len: usize,
    /// Huge segments: bytes from the mapping start that may be non-zero
    /// (the rest reads as zero; `calloc` zeroes only up to here).
    pub huge_dirty: usize,
    /// Pages not handed out, one bit per page (segment lock).
    pub free_mask: u64,
    /// Next segment with free pages (segment lock).
    pub next: *mut Segment,
    pub pages: [Page; PAGES_PER_SEG],
}

const _: () = assert!(core::mem::size_of::<Segment>() <= PAGE_SIZE);

/// Segment of any address inside it.
#[inline(always)]
pub fn segment_of(ptr: usize) -> *mut Segment {
    (ptr & !SEG_MASK) as *mut Segment
}

/// Page metadata of any address inside a segment.
#[inline(always)]
pub fn page_of(ptr: usize) -> *mut Page {
    let seg = segment_of(ptr);
    let idx = (ptr >> PAGE_SHIFT) & (PAGES_PER_SEG - 1);
    // SAFETY: idx < PAGES_PER_SEG, so the address stays inside the header array.
    unsafe {
        core::ptr::addr_of_mut!((*seg).pages)
            .cast::<Page>()
            .add(idx)
    }
}

// ---- segment map ---------------------------------------------------------

/// User-space addresses are below 2^47 on x86-64 Linux (4-level paging).
const ADDR_BITS: usize = 47;
pub(crate) const MAP_WORDS: usize = 1 << (ADDR_BITS - SEG_SHIFT - 6);
static MAP: AtomicPtr<AtomicU64> = AtomicPtr::new(null_mut());

/// True when `ptr` lies in a segment of ours. Never touches `ptr` itself.
#[inline(always)]
pub fn is_ours(ptr: usize) -> bool {
    let chunk = ptr >> SEG_SHIFT;
    let map = MAP.load(Ordering::Relaxed);
    if chunk >= MAP_WORDS * 64 || map.is_null() {
        return false;
    }
    // SAFETY: chunk / 64 < MAP_WORDS and the map is MAP_WORDS words long.
    let word = unsafe { (*map.add(chunk >> 6)).load(Ordering::Relaxed) };
    word & (1u64 << (chunk & 63)) != 0
}

/// Whether the map has a bit for the segment at `seg`.
pub(crate) fn map_covers(seg: *mut Segment) -> bool {
    (seg as usize >> SEG_SHIFT) < MAP_WORDS * 64
}

/// Mark or unmark a segment in the map (segment lock held, or the map's own init).
pub(crate) fn map_set(seg: *mut Segment, on: bool) -> bool {
    let mut map = MAP.load(Ordering::Acquire);
    if map.is_null() {
        let fresh = crate::os::map(MAP_WORDS * 8) as *mut AtomicU64;
        if fresh.is_null() {
            return false;
        }
        match MAP.compare_exchange(null_mut(), fresh, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => map = fresh,
            Err(other) => {
                // SAFETY: our fresh mapping lost the race and was never shared.
                unsafe { crate::os::unmap(fresh as *mut u8, MAP_WORDS * 8) };
                map = other;
            }
        }
    }
    if !map_covers(seg) {
        return false;
    }
    let chunk = seg as usize >> SEG_SHIFT;
    // SAFETY: index checked against the map length just above.
    let w = unsafe { &*map.add(chunk >> 6) };
    let bit = 1u64 << (chunk & 63);
    if on {
        w.fetch_or(bit, Ordering::Release);
    } else {
        w.fetch_and(!bit, Ordering::Release);
    }
    true
}

// ---- page supply -----------------------------------------------------------

struct Supply {
    /// Segments that still have free pages.
    head: UnsafeCell<*mut Segment>,
    /// Completely free segments kept instead of unmapped (linked by `next`).
    spare: UnsafeCell<*mut Segment>,
    spare_n: UnsafeCell<usize>,
}

/// Empty segments kept mapped (and committed) for reuse: a large-object
/// workload that frees and reallocates whole segments' worth of spans would
/// otherwise unmap and re-fault them over and over.
const SPARE_MAX: usize = 8;

// SAFETY: every field is only touched with SUPPLY_LOCK held.
unsafe impl Sync for Supply {}

pub static SUPPLY_LOCK: Lock = Lock::new();
static SUPPLY: Supply = Supply {
    head: UnsafeCell::new(null_mut()),
    spare: UnsafeCell::new(null_mut()),
    spare_n: UnsafeCell::new(0),
};

/// Map and register a fresh normal segment. Segment lock held.
unsafe fn new_segment() -> *mut Segment {
    let raw = crate::os::map_aligned(SEG_SIZE, SEG_SIZE);
    if raw.is_null() {
        return null_mut();
    }
    let seg = raw as *mut Segment;
    // SAFETY: fresh zeroed mapping, private to us until linked.
    unsafe {
        (*seg).magic = SEG_MAGIC;
        (*seg).kind = SEG_NORMAL;
        (*seg).free_mask = ALL_DATA_PAGES;
        (*seg).next = null_mut();
        (*seg).in_list = 0;
    }
    if !map_set(seg, true) {
        // SAFETY: never published.
        unsafe { crate::os::unmap(raw, SEG_SIZE) };
        return null_mut();
    }
    crate::stats::supply_new_segment();
    seg
}

/// Put `seg` on the supply list if it is not there. Segment lock held.
unsafe fn link(seg: *mut Segment) {
    // SAFETY: segment lock held by the caller.
    unsafe {
        if (*seg).in_list == 0 {
            (*seg).next = *SUPPLY.head.get();
            *SUPPLY.head.get() = seg;
            (*seg).in_list = 1;
        }
    }
}

/// Drop segments without free pages from the front part of the list while
/// walking it. Segment lock held. Returns the first segment with a page run
/// satisfying `pick`, or null.
unsafe fn find(mut pick: impl FnMut(u64) -> Option<u32>) -> (*mut Segment, u32) {
    // SAFETY: list links are only changed under the segment lock we hold.
    unsafe {
        let mut prev: *mut *mut Segment = SUPPLY.head.get();
        let mut cur = *prev;
        while !cur.is_null() {
            let mask = (*cur).free_mask;
            if mask == 0 {
                *prev = (*cur).next;
                (*cur).in_list = 0;
                cur = *prev;
                continue;
            }
            if let Some(i) = pick(mask) {
                return (cur, i);
            }
            prev = core::ptr::addr_of_mut!((*cur).next);
            cur = *prev;
        }
        (null_mut(), 0)
    }
}

/// Take a fresh segment (the spare or a new mapping) and link it. Segment lock held.
unsafe fn grow() -> *mut Segment {
    // SAFETY: segment lock held by the caller.
    unsafe {
        let spare = *SUPPLY.spare.get();
        let seg = if !spare.is_null() {
            *SUPPLY.spare.get() = (*spare).next;
            *SUPPLY.spare_n.get() -= 1;
            (*spare).next = null_mut();
            spare
        } else {
            new_segment()
        };
        if !seg.is_null() {
            link(seg);
        }
        seg
    }
}

/// Fill `out` with up to `out.len()` single free pages (for small/mid use).
/// Returns how many were taken. Takes the segment lock once.
pub fn take_pages(out: &mut [*mut Page]) -> usize {
    SUPPLY_LOCK.lock();
    let mut n = 0;
    // SAFETY: segment lock held for the whole loop.
    unsafe {
        while n < out.len() {
            let (mut seg, _) = find(|m| if m != 0 { Some(0) } else { None });
            if seg.is_null() {
                seg = grow();
                if seg.is_null() {
                    break;
                }
            }
            while n < out.len() && (*seg).free_mask != 0 {
                let i = (*seg).free_mask.trailing_zeros() as usize;
                (*seg).free_mask &= !(1u64 << i);
                out[n] = core::ptr::addr_of_mut!((*seg).pages).cast::<Page>().add(i);
                n += 1;
            }
        }
    }
    SUPPLY_LOCK.unlock();
    n
}

/// Lowest start index of `k` consecutive set bits in `mask`, if any.
fn run_start(mask: u64, k: u32) -> Option<u32> {
    let mut m = mask;
    for s in 1..k {
        m &= mask >> s;
        if m == 0 {
            return None;
        }
    }
    if m == 0 {
        None
    } else {
        Some(m.trailing_zeros())
    }
}

/// Take a run of `k` pages (1..=MAX_SPAN_PAGES) and return its first page, or null.
pub fn take_span(k: u32) -> *mut Page {
    SUPPLY_LOCK.lock();
    // SAFETY: segment lock held.
    let page = unsafe {
        let (mut seg, mut i) = find(|m| run_start(m, k));
        if seg.is_null() {
            seg = grow();
            i = if seg.is_null() {
                0
            } else {
                run_start((*seg).free_mask, k).unwrap_or(0)
            };
        }
        if seg.is_null() || i == 0 {
            null_mut()
        } else {
            let bits = if k == 64 { !0 } else { ((1u64 << k) - 1) << i };
            (*seg).free_mask &= !bits;
            core::ptr::addr_of_mut!((*seg).pages)
                .cast::<Page>()
                .add(i as usize)
        }
    };
    SUPPLY_LOCK.unlock();
    page
}

/// Return a run of `k` pages starting at page `first` to the supply.
///
/// # Safety
/// The run was taken with `take_span`/`take_pages` and nothing in it is live.
pub unsafe fn give_span(first: *mut Page, k: u32) {
    let seg = segment_of(first as usize);
    // SAFETY: `first` points into seg's page array.
    let i = unsafe {
        (first as usize - core::ptr::addr_of!((*seg).pages) as usize) / core::mem::size_of::<Page>()
    };
    let bits = ((1u64 << k) - 1) << i;
    SUPPLY_LOCK.lock();
    // SAFETY: segment lock held; the run is dead (caller's contract).
    unsafe {
        for j in 0..k as usize {
            (*first.add(j)).kind = crate::page::KIND_UNUSED;
        }
        (*seg).free_mask |= bits;
        if (*seg).free_mask == ALL_DATA_PAGES {
            unlink(seg);
            if *SUPPLY.spare_n.get() < SPARE_MAX {
                (*seg).next = *SUPPLY.spare.get();
                *SUPPLY.spare.get() = seg;
                *SUPPLY.spare_n.get() += 1;
            } else {
                map_set(seg, false);
                crate::os::unmap(seg as *mut u8, SEG_SIZE);
            }
        } else {
            link(seg);
        }
    }
    SUPPLY_LOCK.unlock();
}

/// Remove `seg` from the supply list. Segment lock held.
unsafe fn unlink(seg: *mut Segment) {
    // SAFETY: segment lock held by the caller.
    unsafe {
        if (*seg).in_list == 0 {
            return;
        }
        let mut prev: *mut *mut Segment = SUPPLY.head.get();
        while !(*prev).is_null() {
            if *prev == seg {
                *prev = (*seg).next;
                break;
            }
            prev = core::ptr::addr_of_mut!((**prev).next);
        }
        (*seg).in_list = 0;
    }
}

/// Call `f` on every segment in the map (tests and diagnostics; the caller
/// makes sure no segment is unmapped meanwhile).
pub fn for_each_segment(mut f: impl FnMut(*mut Segment)) {
    let map = MAP.load(Ordering::Acquire);
    if map.is_null() {
        return;
    }
    for w in 0..MAP_WORDS {
        // SAFETY: w < MAP_WORDS, the map's length.
        let mut bits = unsafe { (*map.add(w)).load(Ordering::Relaxed) };
        while bits != 0 {
            let b = bits.trailing_zeros() as usize;
            bits &= bits - 1;
            f(((w * 64 + b) << SEG_SHIFT) as *mut Segment);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::run_start;

    #[test]
    fn run_start_finds_lowest_run() {
        assert_eq!(run_start(0b1110, 3), Some(1));
        assert_eq!(run_start(0b1011_0110, 2), Some(1));
        assert_eq!(run_start(0b1011_0100, 2), Some(4));
        assert_eq!(run_start(0b1010_1010, 2), None);
        assert_eq!(run_start(!1u64, 63), Some(1));
        assert_eq!(run_start(!1u64, 1), Some(1));
    }
}
