//! Segments: 4 MiB aligned chunks of address space split into 64 pages of
//! 64 KiB, page 0 being this header. Also the segment map (which 4 MiB
//! chunks are ours, so `free` can reject foreign pointers without touching
//! them) and the page supply (single pages for small/mid classes, runs of
//! pages for large spans), guarded by the one segment lock.

use crate::config::{
    DIRTY_MIN_PAGES, DIRTY_PCT, PAGES_PER_SEG, PAGE_SHIFT, PAGE_SIZE, SEG_MASK, SEG_SHIFT,
    SEG_SIZE, SPARE_BYTES,
};
use crate::page::Page;
use crate::sync::Lock;
use core::cell::UnsafeCell;
use core::ptr::null_mut;
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

pub const SEG_MAGIC: u64 = 0x687a_345f_7365_676d; // "hz4_segm"
pub const SEG_NORMAL: u8 = 1;
pub const SEG_HUGE: u8 = 2;

/// Bits of the pages a normal segment can hand out (page 0 is the header).
const ALL_DATA_PAGES: u64 = !1u64;

#[repr(C)]
pub struct Segment {
    pub magic: u64,
    pub kind: u8,
    /// Which supply list holds the segment: its longest run of free pages
    /// (1..=63), or 0 when it is on none (segment lock).
    pub bucket: u8,
    /// Huge segments: bytes mapped.
    pub huge_len: usize,
    /// Huge segments: bytes from the mapping start that may be non-zero
    /// (the rest reads as zero; `calloc` zeroes only up to here).
    pub huge_dirty: usize,
    /// Pages not handed out, one bit per page (segment lock).
    pub free_mask: u64,
    /// Pages whose memory may be committed: handed out since their last
    /// purge (segment lock).
    pub dirty_mask: u64,
    /// Free dirty pages the previous purge round saw (segment lock).
    pub aged_mask: u64,
    /// Next segment with free pages, or next spare (segment lock).
    pub next: *mut Segment,
    /// Previous segment on the supply list (segment lock).
    pub prev: *mut Segment,
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
// The map pointer is `hot::Hot::map` (read PC-relative on the free path).

/// True when `ptr` lies in a segment of ours. Never touches `ptr` itself.
#[inline(always)]
pub fn is_ours(ptr: usize) -> bool {
    let chunk = ptr >> SEG_SHIFT;
    let map = crate::hot::hot().map.load(Ordering::Relaxed);
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
    let map_ptr = &crate::hot::hot().map;
    let mut map = map_ptr.load(Ordering::Acquire);
    if map.is_null() {
        let fresh = crate::os::map(MAP_WORDS * 8) as *mut AtomicU64;
        if fresh.is_null() {
            return false;
        }
        match map_ptr.compare_exchange(null_mut(), fresh, Ordering::AcqRel, Ordering::Acquire) {
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
//
// Free pages of a segment are the bits of `free_mask`. A page is *dirty*
// (its memory may be committed) from the moment it is handed out until it is
// purged; `dirty_mask` tracks that. Purging is two-generational: a pass
// marks the free dirty pages it sees in `aged_mask`, and the next pass, at
// least `HZ4_PURGE_DELAY_MS` later, purges those still free and aged. So a
// page is purged after it has been free for between one and two delays, and
// a page taken in between (its aged bit is cleared) is not. A segment whose
// pages are all free leaves the supply list for the spare list (bounded in
// bytes by `HZ4_SPARE_SEGMENTS_MB`; spare segments are purged the same way)
// or, past the bound, is unmapped.

struct Supply {
    /// Segments that still have free pages, one list per longest free run:
    /// list `L` holds the segments whose longest run of free pages is `L`
    /// pages (index 0 unused).
    lists: UnsafeCell<[*mut Segment; 64]>,
    /// Bit `L` set while list `L` is non-empty.
    nonempty: UnsafeCell<u64>,
    /// Completely free segments kept instead of unmapped (linked by `next`).
    spare: UnsafeCell<*mut Segment>,
    /// Bytes of the spare segments (including ones a purge has claimed).
    spare_bytes: UnsafeCell<usize>,
}

// SAFETY: every field is only touched with SUPPLY_LOCK held.
unsafe impl Sync for Supply {}

pub static SUPPLY_LOCK: Lock = Lock::new();
static SUPPLY: Supply = Supply {
    lists: UnsafeCell::new([null_mut(); 64]),
    nonempty: UnsafeCell::new(0),
    spare: UnsafeCell::new(null_mut()),
    spare_bytes: UnsafeCell::new(0),
};

// ---- supply counts and the dirty bound -------------------------------------
//
// The supply counts, under the segment lock, its free pages and its free
// dirty (possibly committed) pages, over the listed and the spare segments,
// and the data pages of every normal segment. The counts are atomics only
// so that `over_dirty` can read them without the lock (a stale read just
// moves a purge to the next give). Free dirty memory beyond the dirty bound
// -- `HZ4_DIRTY_MIN_MB`, or `HZ4_DIRTY_PCT` percent of the pages handed out
// when that is more -- is purged by the give that crossed it, so a program
// that frees most of its memory and then idles keeps no more than the bound
// committed in the supply, with no purge round needed.

/// Free pages in the supply.
static FREE_PAGES: AtomicUsize = AtomicUsize::new(0);
/// Free dirty pages in the supply.
static DIRTY_PAGES: AtomicUsize = AtomicUsize::new(0);
/// Data pages of all normal segments.
static SEG_PAGES: AtomicUsize = AtomicUsize::new(0);

/// `seg`'s free pages and free dirty pages. Segment lock held.
#[inline]
unsafe fn tally(seg: *mut Segment) -> (usize, usize) {
    // SAFETY: segment lock held by the caller.
    unsafe {
        let free = (*seg).free_mask;
        (
            free.count_ones() as usize,
            (free & (*seg).dirty_mask).count_ones() as usize,
        )
    }
}

/// Add the change of `seg`'s tally since `before` to the supply counts.
/// Segment lock held (the counts are only written under it).
#[inline]
unsafe fn retally(seg: *mut Segment, before: (usize, usize)) {
    // SAFETY: segment lock held by the caller.
    let now = unsafe { tally(seg) };
    adjust(&FREE_PAGES, before.0, now.0);
    adjust(&DIRTY_PAGES, before.1, now.1);
}

#[inline]
fn adjust(count: &AtomicUsize, before: usize, now: usize) {
    if now != before {
        let v = count.load(Ordering::Relaxed);
        count.store(v.wrapping_add(now).wrapping_sub(before), Ordering::Relaxed);
    }
}

/// Pages of free dirty memory the supply may hold now.
#[inline]
fn dirty_bound() -> usize {
    let out = SEG_PAGES
        .load(Ordering::Relaxed)
        .saturating_sub(FREE_PAGES.load(Ordering::Relaxed));
    (out * DIRTY_PCT / 100).max(DIRTY_MIN_PAGES)
}

/// Whether the supply holds more free dirty pages than the bound.
#[inline]
fn over_dirty() -> bool {
    DIRTY_PAGES.load(Ordering::Relaxed) > dirty_bound()
}

/// The supply's free dirty bytes (telemetry and tests).
pub fn dirty_bytes() -> usize {
    DIRTY_PAGES.load(Ordering::Relaxed) * PAGE_SIZE
}

/// The dirty bound now, in bytes (telemetry).
pub fn dirty_bound_bytes() -> usize {
    dirty_bound() * PAGE_SIZE
}

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
        (*seg).dirty_mask = 0;
        // Data pages are not resident until first handed out.
        crate::os::note_untouched(ALL_DATA_PAGES.count_ones() as usize * PAGE_SIZE);
        (*seg).aged_mask = 0;
        (*seg).next = null_mut();
        (*seg).prev = null_mut();
        (*seg).bucket = 0;
    }
    if !map_set(seg, true) {
        // SAFETY: never published.
        unsafe { crate::os::unmap(raw, SEG_SIZE) };
        return null_mut();
    }
    crate::stats::supply_new_segment();
    let data = ALL_DATA_PAGES.count_ones() as usize;
    adjust(&FREE_PAGES, 0, data);
    adjust(&SEG_PAGES, 0, data);
    seg
}

/// Length of the longest run of set bits of `mask`.
fn longest_run(mut mask: u64) -> u32 {
    let mut n = 0;
    while mask != 0 {
        mask &= mask >> 1;
        n += 1;
    }
    n
}

/// Put `seg` on the supply list its free mask calls for (none when it has
/// no free page), moving it if its longest free run changed. Segment lock
/// held; `seg` is not on the spare list.
unsafe fn relink(seg: *mut Segment) {
    // SAFETY: segment lock held by the caller.
    unsafe {
        let b = longest_run((*seg).free_mask) as u8;
        if b == (*seg).bucket {
            return;
        }
        unlink(seg);
        if b != 0 {
            let lists = &mut *SUPPLY.lists.get();
            let head = lists[b as usize];
            (*seg).next = head;
            (*seg).prev = null_mut();
            if !head.is_null() {
                (*head).prev = seg;
            }
            lists[b as usize] = seg;
            *SUPPLY.nonempty.get() |= 1u64 << b;
            (*seg).bucket = b;
        }
    }
}

/// Best fit: a segment whose longest free run is the shortest one of at
/// least `k` pages (1..=63), and the start of the first `k`-page run in it;
/// null when no listed segment has one. Segment lock held.
unsafe fn find_run(k: u32) -> (*mut Segment, u32) {
    // SAFETY: the lists are only changed under the segment lock we hold.
    unsafe {
        loop {
            let fit = *SUPPLY.nonempty.get() & !((1u64 << k) - 1);
            if fit == 0 {
                return (null_mut(), 0);
            }
            let seg = (*SUPPLY.lists.get())[fit.trailing_zeros() as usize];
            if let Some(i) = run_start((*seg).free_mask, k) {
                return (seg, i);
            }
            // A segment whose list is stale (a bug: every mask change
            // relinks). Move it where it belongs and look again.
            let before = (*seg).bucket;
            relink(seg);
            if (*seg).bucket == before {
                return (null_mut(), 0);
            }
        }
    }
}

/// Take a fresh segment (a spare or a new mapping) and link it. Segment lock held.
unsafe fn grow() -> *mut Segment {
    // SAFETY: segment lock held by the caller.
    unsafe {
        let spare = *SUPPLY.spare.get();
        let seg = if !spare.is_null() {
            *SUPPLY.spare.get() = (*spare).next;
            *SUPPLY.spare_bytes.get() -= SEG_SIZE;
            (*spare).next = null_mut();
            spare
        } else {
            new_segment()
        };
        if !seg.is_null() {
            relink(seg);
        }
        seg
    }
}

/// Mark pages `bits` of `seg` handed out. Segment lock held.
#[inline]
unsafe fn claim(seg: *mut Segment, bits: u64) {
    // SAFETY: segment lock held by the caller.
    unsafe {
        let before = tally(seg);
        let clean = bits & !(*seg).dirty_mask;
        if clean != 0 {
            crate::os::note_recommit(clean.count_ones() as usize * PAGE_SIZE);
        }
        (*seg).free_mask &= !bits;
        (*seg).dirty_mask |= bits;
        (*seg).aged_mask &= !bits;
        retally(seg, before);
    }
}

/// Fill `out` with up to `out.len()` single free pages (for small/mid use),
/// committed (dirty) ones first. Returns how many were taken. Takes the
/// segment lock once.
pub fn take_pages(out: &mut [*mut Page]) -> usize {
    crate::purge::maybe();
    SUPPLY_LOCK.lock();
    let mut n = 0;
    // SAFETY: segment lock held for the whole loop.
    unsafe {
        while n < out.len() {
            // The most fragmented segment first: single pages fill short
            // holes and leave long runs for spans.
            let (mut seg, _) = find_run(1);
            if seg.is_null() {
                seg = grow();
                if seg.is_null() {
                    break;
                }
            }
            while n < out.len() && (*seg).free_mask != 0 {
                let free = (*seg).free_mask;
                let warm = free & (*seg).dirty_mask;
                let i = if warm != 0 { warm } else { free }.trailing_zeros() as usize;
                claim(seg, 1u64 << i);
                out[n] = core::ptr::addr_of_mut!((*seg).pages).cast::<Page>().add(i);
                n += 1;
            }
            relink(seg);
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

/// Bits of the run of `k` pages starting at page `i`.
#[inline]
fn run_bits(i: u32, k: u32) -> u64 {
    if k >= 64 {
        !0
    } else {
        ((1u64 << k) - 1) << i
    }
}

/// Take a run of `k` pages (1..=MAX_SPAN_PAGES) and return its first page, or null.
pub fn take_span(k: u32) -> *mut Page {
    crate::purge::maybe();
    SUPPLY_LOCK.lock();
    // SAFETY: segment lock held.
    let page = unsafe {
        let (mut seg, mut i) = find_run(k);
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
            claim(seg, run_bits(i, k));
            relink(seg);
            core::ptr::addr_of_mut!((*seg).pages)
                .cast::<Page>()
                .add(i as usize)
        }
    };
    SUPPLY_LOCK.unlock();
    page
}

/// Segment and first page index of the run starting at page header `first`.
#[inline]
fn locate(first: *mut Page) -> (*mut Segment, u32) {
    let seg = segment_of(first as usize);
    // SAFETY: `first` points into seg's page array.
    let i = unsafe {
        (first as usize - core::ptr::addr_of!((*seg).pages) as usize) / core::mem::size_of::<Page>()
    };
    (seg, i as u32)
}

/// Where `put_back` left a segment.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Back {
    /// Still has pages handed out: on the supply list.
    Listed,
    /// Completely free: on the spare list.
    Spare,
    /// Completely free past the spare bound: unmapped (do not touch it).
    Unmapped,
}

/// Pages `bits` of `seg` are free again (`purged`: and no longer dirty;
/// `aged`: dirty but idle for good, so the next purge round takes them
/// without waiting a round). A segment that becomes completely free goes
/// to the spare list or is unmapped. Segment lock held.
unsafe fn put_back(seg: *mut Segment, bits: u64, purged: bool, aged: bool) -> Back {
    // SAFETY: segment lock held by the caller; the pages are dead.
    unsafe {
        let before = tally(seg);
        (*seg).free_mask |= bits;
        if purged {
            (*seg).dirty_mask &= !bits;
            (*seg).aged_mask &= !bits;
        } else if aged {
            (*seg).aged_mask |= bits & (*seg).dirty_mask;
        }
        if (*seg).free_mask == ALL_DATA_PAGES {
            unlink(seg);
            if *SUPPLY.spare_bytes.get() + SEG_SIZE <= SPARE_BYTES {
                (*seg).next = *SUPPLY.spare.get();
                *SUPPLY.spare.get() = seg;
                *SUPPLY.spare_bytes.get() += SEG_SIZE;
                retally(seg, before);
                Back::Spare
            } else {
                // The segment leaves the supply, and its pages its counts.
                adjust(&FREE_PAGES, before.0, 0);
                adjust(&DIRTY_PAGES, before.1, 0);
                adjust(&SEG_PAGES, ALL_DATA_PAGES.count_ones() as usize, 0);
                map_set(seg, false);
                let clean = ALL_DATA_PAGES & !(*seg).dirty_mask;
                crate::os::note_recommit(clean.count_ones() as usize * PAGE_SIZE);
                crate::os::unmap_segment(seg as *mut u8);
                Back::Unmapped
            }
        } else {
            retally(seg, before);
            relink(seg);
            Back::Listed
        }
    }
}

/// Mark a dead run's page headers unused.
unsafe fn retire_headers(first: *mut Page, k: u32) {
    for j in 0..k as usize {
        // SAFETY: the run's headers are ours (caller's contract).
        unsafe { (*first.add(j)).kind = crate::page::KIND_UNUSED };
    }
}

/// Return a run of `k` pages starting at page `first` to the supply.
///
/// # Safety
/// The run was taken with `take_span`/`take_pages` and nothing in it is live
/// or reachable (no list, cache or local stack holds any of its objects).
pub unsafe fn give_span(first: *mut Page, k: u32) {
    let (seg, i) = locate(first);
    SUPPLY_LOCK.lock();
    // SAFETY: segment lock held; the run is dead (caller's contract).
    unsafe {
        retire_headers(first, k);
        put_back(seg, run_bits(i, k), false, false);
    }
    SUPPLY_LOCK.unlock();
    if over_dirty() {
        purge_excess();
    }
}

/// Purge and return dead runs `(first page, pages)`: sorted by address,
/// neighbours merged into one madvise each (outside the lock), then all
/// given back in one lock acquisition. Returns the bytes purged.
///
/// # Safety
/// Each run was taken from the supply and is dead and unreachable; no run
/// appears twice.
pub unsafe fn give_runs_purged(runs: &mut [(*mut Page, u32)]) -> usize {
    runs.sort_unstable_by_key(|r| r.0 as usize);
    let mut bytes = 0;
    let mut i = 0;
    while i < runs.len() {
        // Extend over the following runs that start where this one ends.
        let start = crate::page::page_start(runs[i].0) as usize;
        let mut end = start + ((runs[i].1 as usize) << PAGE_SHIFT);
        let mut j = i + 1;
        while j < runs.len() && crate::page::page_start(runs[j].0) as usize == end {
            end += (runs[j].1 as usize) << PAGE_SHIFT;
            j += 1;
        }
        // SAFETY: the merged range covers dead runs of ours (caller's contract).
        let ok = unsafe { crate::os::purge(start as *mut u8, end - start) };
        if ok {
            bytes += end - start;
        } else {
            // Not purged: give these back as dirty.
            for r in runs[i..j].iter_mut() {
                r.1 |= NOT_PURGED;
            }
        }
        i = j;
    }
    SUPPLY_LOCK.lock();
    for &(first, k) in runs.iter() {
        let purged = k & NOT_PURGED == 0;
        let k = k & !NOT_PURGED;
        let (seg, i) = locate(first);
        // SAFETY: segment lock held; the run is dead (caller's contract).
        unsafe {
            retire_headers(first, k);
            put_back(seg, run_bits(i, k), purged, false);
        }
    }
    SUPPLY_LOCK.unlock();
    if over_dirty() {
        bytes += purge_excess();
    }
    bytes
}

/// Free dirty runs (merged with their free dirty neighbours) at least this
/// many pages long are purged by `give_runs_exit` at once; shorter ones are
/// left aged for the next purge round.
const EXIT_PURGE_MIN_PAGES: u32 = 16;

/// Bits of the maximal runs of set bits of `mask` that are at least `min` long.
fn long_runs(mask: u64, min: u32) -> u64 {
    let mut left = mask;
    let mut out = 0;
    while left != 0 {
        let i = left.trailing_zeros();
        let k = (!(left >> i)).trailing_zeros();
        let run = run_bits(i, k);
        left &= !run;
        if k >= min {
            out |= run;
        }
    }
    out
}

/// Return dead runs `(first page, pages)` of an exiting thread: all given
/// back in one lock acquisition, dirty and marked aged (nothing will touch
/// them again soon), then, per segment they belong to, the free dirty page
/// runs of at least `EXIT_PURGE_MIN_PAGES` pages are purged (outside the
/// lock) -- a whole segment in one madvise when it just became spare. The
/// short runs left between pages other threads still hold wait for the next
/// purge round instead of costing one madvise each. Returns the bytes purged.
///
/// # Safety
/// As for `give_runs_purged`.
pub unsafe fn give_runs_exit(runs: &mut [(*mut Page, u32)]) -> usize {
    if runs.is_empty() {
        return 0;
    }
    runs.sort_unstable_by_key(|r| r.0 as usize);
    let mut jobs = [Job::EMPTY; PURGE_BATCH];
    let mut n = 0;
    SUPPLY_LOCK.lock();
    // SAFETY: segment lock held; the runs are dead (caller's contract), and
    // a segment is only looked at again while `put_back` left it mapped.
    unsafe {
        let mut r = 0;
        while r < runs.len() {
            let seg = segment_of(runs[r].0 as usize);
            let mut back = Back::Listed;
            while r < runs.len() && segment_of(runs[r].0 as usize) == seg {
                let (first, k) = runs[r];
                let (_, i) = locate(first);
                retire_headers(first, k);
                back = put_back(seg, run_bits(i, k), false, true);
                r += 1;
            }
            if n == PURGE_BATCH {
                continue;
            }
            match back {
                Back::Unmapped => {}
                Back::Listed => {
                    let bits =
                        long_runs((*seg).free_mask & (*seg).dirty_mask, EXIT_PURGE_MIN_PAGES);
                    if bits != 0 {
                        let before = tally(seg);
                        (*seg).free_mask &= !bits;
                        (*seg).aged_mask &= !bits;
                        retally(seg, before);
                        relink(seg);
                        jobs[n] = Job {
                            seg,
                            bits,
                            purged: 0,
                            spare: false,
                        };
                        n += 1;
                    }
                }
                Back::Spare => {
                    // Just pushed, so at the head of the spare list: claim it.
                    if (*seg).dirty_mask != 0 && *SUPPLY.spare.get() == seg {
                        *SUPPLY.spare.get() = (*seg).next;
                        (*seg).next = null_mut();
                        (*seg).aged_mask = 0;
                        jobs[n] = Job {
                            seg,
                            bits: (*seg).dirty_mask,
                            purged: 0,
                            spare: true,
                        };
                        n += 1;
                    }
                }
            }
        }
    }
    SUPPLY_LOCK.unlock();
    // SAFETY: the jobs' pages were claimed above.
    let mut bytes = unsafe { run_jobs(&mut jobs[..n]) };
    if over_dirty() {
        bytes += purge_excess();
    }
    bytes
}

/// Dead runs collected for `give_runs_purged` (or, for an exiting thread,
/// `give_runs_exit`), flushed every 128.
pub struct PurgeBatch {
    runs: [(*mut Page, u32); 128],
    n: usize,
    /// Thread exit: `give_runs_exit` (coarse purge, the rest left aged).
    exit: bool,
    /// Bytes purged so far.
    pub bytes: usize,
}

impl PurgeBatch {
    /// A batch purged run by run now (trim, aged span cache).
    pub const fn new() -> Self {
        PurgeBatch {
            runs: [(null_mut(), 0); 128],
            n: 0,
            exit: false,
            bytes: 0,
        }
    }

    /// A batch for an exiting thread's caches (`give_runs_exit`).
    pub const fn exit() -> Self {
        let mut b = Self::new();
        b.exit = true;
        b
    }

    /// Add dead run `first..first+k`.
    ///
    /// # Safety
    /// As for `give_runs_purged`.
    pub unsafe fn push(&mut self, first: *mut Page, k: u32) {
        self.runs[self.n] = (first, k);
        self.n += 1;
        if self.n == self.runs.len() {
            // SAFETY: forwarded contract.
            unsafe { self.flush() };
        }
    }

    /// Purge and return what was collected. Returns the bytes purged in total.
    ///
    /// # Safety
    /// As for `give_runs_purged`.
    pub unsafe fn flush(&mut self) -> usize {
        let runs = &mut self.runs[..self.n];
        // SAFETY: forwarded contract.
        self.bytes += unsafe {
            if self.exit {
                give_runs_exit(runs)
            } else {
                give_runs_purged(runs)
            }
        };
        self.n = 0;
        self.bytes
    }
}

/// Flag in a run's page count: its purge failed.
const NOT_PURGED: u32 = 1 << 31;

/// Return single free pages to the supply in one lock acquisition.
///
/// # Safety
/// Each page was taken with `take_pages` and is dead and unreachable.
pub unsafe fn give_pages(pages: &[*mut Page]) {
    SUPPLY_LOCK.lock();
    for &p in pages {
        let (seg, i) = locate(p);
        // SAFETY: segment lock held; the page is dead (caller's contract).
        unsafe {
            retire_headers(p, 1);
            put_back(seg, 1u64 << i, false, false);
        }
    }
    SUPPLY_LOCK.unlock();
    if over_dirty() {
        purge_excess();
    }
}

/// Remove `seg` from its supply list, if it is on one. Segment lock held.
unsafe fn unlink(seg: *mut Segment) {
    // SAFETY: segment lock held by the caller.
    unsafe {
        let b = (*seg).bucket as usize;
        if b == 0 {
            return;
        }
        let (prev, next) = ((*seg).prev, (*seg).next);
        if prev.is_null() {
            (*SUPPLY.lists.get())[b] = next;
            if next.is_null() {
                *SUPPLY.nonempty.get() &= !(1u64 << b);
            }
        } else {
            (*prev).next = next;
        }
        if !next.is_null() {
            (*next).prev = prev;
        }
        (*seg).next = null_mut();
        (*seg).prev = null_mut();
        (*seg).bucket = 0;
    }
}

/// Purge free dirty pages until the supply holds no more than half its
/// dirty bound: spare segments first, then the listed segments with the
/// longest free runs (the least used ones). Run after a give that left the
/// supply over the bound; the caller holds no allocator lock. Returns the
/// bytes purged.
#[cold]
#[inline(never)]
fn purge_excess() -> usize {
    let mut jobs = [Job::EMPTY; PURGE_BATCH];
    let mut n = 0;
    SUPPLY_LOCK.lock();
    // SAFETY: segment lock held while the lists and masks are read and claimed.
    unsafe {
        let target = dirty_bound() / 2;
        // Spare segments claimed here keep counting until `run_jobs`
        // purges them, so track the goal locally.
        let mut dirty = DIRTY_PAGES.load(Ordering::Relaxed);
        let mut prev: *mut *mut Segment = SUPPLY.spare.get();
        while !(*prev).is_null() && n < PURGE_BATCH && dirty > target {
            let seg = *prev;
            let bits = (*seg).dirty_mask;
            if bits != 0 {
                *prev = (*seg).next;
                (*seg).next = null_mut();
                (*seg).aged_mask = 0;
                jobs[n] = Job {
                    seg,
                    bits,
                    purged: 0,
                    spare: true,
                };
                n += 1;
                dirty = dirty.saturating_sub(bits.count_ones() as usize);
            } else {
                prev = core::ptr::addr_of_mut!((*seg).next);
            }
        }
        let mut lists = *SUPPLY.nonempty.get();
        while lists != 0 && n < PURGE_BATCH && dirty > target {
            let b = 63 - lists.leading_zeros() as usize;
            lists &= !(1u64 << b);
            let mut seg = (*SUPPLY.lists.get())[b];
            while !seg.is_null() && n < PURGE_BATCH && dirty > target {
                let bits = (*seg).free_mask & (*seg).dirty_mask;
                if bits != 0 {
                    let before = tally(seg);
                    (*seg).free_mask &= !bits;
                    (*seg).aged_mask &= !bits;
                    retally(seg, before);
                    jobs[n] = Job {
                        seg,
                        bits,
                        purged: 0,
                        spare: false,
                    };
                    n += 1;
                    dirty = dirty.saturating_sub(bits.count_ones() as usize);
                }
                seg = (*seg).next;
            }
        }
        for j in jobs[..n].iter().filter(|j| !j.spare) {
            relink(j.seg);
        }
    }
    SUPPLY_LOCK.unlock();
    crate::stats::note_dirty_trim();
    // SAFETY: the jobs' pages were claimed above.
    unsafe { run_jobs(&mut jobs[..n]) }
}

/// Segments one purge round claims at most (the batch between two lock holds).
const PURGE_BATCH: usize = 64;

/// One claimed purge job: pages `bits` of `seg`, taken off the free mask
/// (or, for a spare segment, off the spare list) while they are madvised.
#[derive(Clone, Copy)]
struct Job {
    seg: *mut Segment,
    /// Pages claimed.
    bits: u64,
    /// Pages whose purge succeeded (clean now).
    purged: u64,
    spare: bool,
}

impl Job {
    const EMPTY: Job = Job {
        seg: null_mut(),
        bits: 0,
        purged: 0,
        spare: false,
    };
}

/// madvise the claimed jobs (segment lock not held), then give their pages
/// back in one lock acquisition, the purged ones clean. Returns bytes purged.
///
/// # Safety
/// Every job's pages were claimed (taken off the free mask, or the segment
/// off the spare list) under the segment lock.
unsafe fn run_jobs(jobs: &mut [Job]) -> usize {
    if jobs.is_empty() {
        return 0;
    }
    let mut total = 0;
    for j in jobs.iter_mut() {
        j.purged = j.bits;
        // SAFETY: the job's pages were claimed (caller's contract).
        total += unsafe { purge_runs(j.seg, &mut j.purged) };
    }
    SUPPLY_LOCK.lock();
    // SAFETY: segment lock held; the claimed pages go back, purged ones clean.
    unsafe {
        for j in jobs.iter() {
            let (claimed, purged) = (j.bits, j.purged);
            let before = tally(j.seg);
            (*j.seg).dirty_mask &= !purged;
            retally(j.seg, before);
            if j.spare {
                (*j.seg).aged_mask &= !purged;
                (*j.seg).next = *SUPPLY.spare.get();
                *SUPPLY.spare.get() = j.seg;
            } else {
                put_back(j.seg, claimed, false, false);
            }
        }
    }
    SUPPLY_LOCK.unlock();
    total
}

/// madvise every run of set bits of `bits` in `seg`. Returns bytes purged
/// and clears from `bits` the pages whose purge failed.
unsafe fn purge_runs(seg: *mut Segment, bits: &mut u64) -> usize {
    let mut left = *bits;
    let mut done = 0;
    while left != 0 {
        let i = left.trailing_zeros();
        let k = (!(left >> i)).trailing_zeros();
        let run = run_bits(i, k);
        left &= !run;
        let start = (seg as usize + ((i as usize) << PAGE_SHIFT)) as *mut u8;
        let len = (k as usize) << PAGE_SHIFT;
        // SAFETY: the pages are claimed by the caller: free, unreachable,
        // and out of the free mask so no thread can take them meanwhile.
        if unsafe { crate::os::purge(start, len) } {
            done += len;
        } else {
            *bits &= !run;
        }
    }
    done
}

/// One purge round over the supply and the spare segments. Not forced: age
/// the free dirty pages and purge the ones aged by the previous round (at
/// most `PURGE_BATCH` segments). Forced: purge every free dirty page now.
/// madvise runs with the segment lock dropped. Returns the bytes purged.
pub fn purge(force: bool) -> usize {
    let mut total = 0;
    // A forced purge repeats until a round finds nothing; bounded in case a
    // madvise keeps failing (those pages stay dirty and would be found again).
    for _ in 0..4096 {
        let mut jobs = [Job::EMPTY; PURGE_BATCH];
        let mut n = 0;
        SUPPLY_LOCK.lock();
        // SAFETY: segment lock held while the lists and masks are read and claimed.
        unsafe {
            let mut lists = *SUPPLY.nonempty.get();
            while lists != 0 && n < PURGE_BATCH {
                let b = lists.trailing_zeros() as usize;
                lists &= lists - 1;
                let mut seg = (*SUPPLY.lists.get())[b];
                while !seg.is_null() && n < PURGE_BATCH {
                    let cand = (*seg).free_mask & (*seg).dirty_mask;
                    let bits = if force { cand } else { cand & (*seg).aged_mask };
                    (*seg).aged_mask = cand & !bits;
                    if bits != 0 {
                        let before = tally(seg);
                        (*seg).free_mask &= !bits;
                        retally(seg, before);
                        jobs[n] = Job {
                            seg,
                            bits,
                            purged: 0,
                            spare: false,
                        };
                        n += 1;
                    }
                    seg = (*seg).next;
                }
            }
            // Claimed pages left their free masks: move those segments to
            // the lists they belong on now that the walk is over.
            for j in jobs[..n].iter().filter(|j| !j.spare) {
                relink(j.seg);
            }
            // Spare segments: claim a whole one by taking it off the list.
            let mut prev: *mut *mut Segment = SUPPLY.spare.get();
            while !(*prev).is_null() && n < PURGE_BATCH {
                let seg = *prev;
                let cand = (*seg).dirty_mask;
                let bits = if force { cand } else { cand & (*seg).aged_mask };
                (*seg).aged_mask = cand & !bits;
                if bits != 0 {
                    *prev = (*seg).next;
                    (*seg).next = null_mut();
                    jobs[n] = Job {
                        seg,
                        bits,
                        purged: 0,
                        spare: true,
                    };
                    n += 1;
                } else {
                    prev = core::ptr::addr_of_mut!((*seg).next);
                }
            }
        }
        SUPPLY_LOCK.unlock();
        if n == 0 {
            break;
        }
        // SAFETY: the jobs' pages were claimed above.
        total += unsafe { run_jobs(&mut jobs[..n]) };
        if !force || n < PURGE_BATCH {
            break;
        }
    }
    total
}

/// Call `f` on every segment in the map (tests and diagnostics; the caller
/// makes sure no segment is unmapped meanwhile).
pub fn for_each_segment(mut f: impl FnMut(*mut Segment)) {
    let map = crate::hot::hot().map.load(Ordering::Acquire);
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
    use super::{longest_run, run_start};

    #[test]
    fn longest_run_measures_the_widest_hole() {
        assert_eq!(longest_run(0), 0);
        assert_eq!(longest_run(1), 1);
        assert_eq!(longest_run(0b1011_0111), 3);
        assert_eq!(longest_run(!1u64), 63);
        assert_eq!(longest_run(!0u64), 64);
        assert_eq!(longest_run(0x8000_0000_0000_0001), 1);
    }

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
