//! Huge objects: bigger than the largest span (63 pages), or aligned above
//! 64 KiB. Each is a mapping of its own, 4 MiB aligned, whose first 64 KiB
//! hold a segment header (`SEG_HUGE`) so that `free` finds it like any
//! segment; the object starts `max(64 KiB, align)` into it.
//!
//! **Cache.** A freed huge mapping goes to a small process-wide cache
//! (`SLOTS` entries, at most `HZ4_HUGE_CACHE_MB` of mapped bytes) instead
//! of `munmap`, still committed. A huge malloc takes the smallest cached
//! mapping that fits (trimming a tail that wastes more than a quarter), or
//! grows the biggest one with `mremap`, before it maps a fresh one. So a
//! malloc/touch/free loop of a few MiB neither maps nor faults. An entry
//! that stays unused for `HZ4_HUGE_PURGE_MS` is purged (`madvise`, header
//! page kept) at the next huge malloc or free, and stays cached for its
//! address space; entries beyond the byte bound are unmapped, oldest first.
//! All of it runs on the huge slow paths (which already make system calls);
//! nothing here is reached from the small/mid/large fast paths.
//!
//! A cached mapping keeps its segment-map bit, with its object page marked
//! unused: a double free aborts ("page not in use"). Each header records
//! how far the mapping may hold non-zero bytes (`huge_dirty`), so `calloc`
//! zeroes only what a previous object could have written.
//!
//! **Alignments of a segment or more** (4 MiB .. 2^46) cannot use a header
//! in the object's own 4 MiB chunk (the object starts the chunk). Such an
//! object gets a 4 KiB header just below it and a bit in a second bitmap
//! (`ALIGNED`); `free`'s foreign-pointer path, which is cold, consults it.
//! They are never cached.
//!
//! Huge mappings are committed mappings (no `MAP_NORESERVE`): a request the
//! kernel will not back fails with null (ENOMEM) instead of succeeding and
//! killing the process at first touch.

use crate::config::{HUGE_CACHE_BYTES, HUGE_PURGE_MS, PAGE_SIZE, SEG_MASK, SEG_SHIFT, SEG_SIZE};
use crate::page::{KIND_HUGE, KIND_UNUSED};
use crate::segment::{map_covers, map_set, page_of, segment_of, Segment, SEG_HUGE, SEG_MAGIC};
use crate::sync::Lock;
use core::cell::UnsafeCell;
use core::ptr::null_mut;
use core::sync::atomic::{AtomicPtr, AtomicU64, AtomicUsize, Ordering};

/// The kernel's page size (x86-64): mapping granularity.
const OS_PAGE: usize = 4096;
/// Largest alignment accepted (half the user address space).
pub const MAX_ALIGN: usize = 1 << 46;

/// Bytes to map for a huge object of `size` bytes starting `off` bytes into
/// its mapping: rounded up to whole 4 KiB pages; None on overflow.
fn mapping_len(off: usize, size: usize) -> Option<usize> {
    off.checked_add(size)?
        .checked_add(OS_PAGE - 1)
        .map(|l| l & !(OS_PAGE - 1))
}

// ---- process-wide figures (relaxed, slow paths only) -----------------------

static LIVE: AtomicUsize = AtomicUsize::new(0);
static LIVE_BYTES: AtomicUsize = AtomicUsize::new(0);
static HITS: AtomicUsize = AtomicUsize::new(0);

/// Figures for `mallinfo2`/`malloc_stats`.
#[derive(Clone, Copy, Debug, Default)]
pub struct HugeFigures {
    /// Live huge objects and the bytes mapped for them.
    pub live: usize,
    pub live_bytes: usize,
    /// Cached mappings, their mapped bytes, and how many of those bytes are
    /// still committed (not purged).
    pub cached: usize,
    pub cached_bytes: usize,
    pub cached_committed: usize,
    /// Huge mallocs served from the cache.
    pub hits: usize,
}

/// Current huge-object figures (takes the cache lock).
pub fn figures() -> HugeFigures {
    let mut f = HugeFigures {
        live: LIVE.load(Ordering::Relaxed),
        live_bytes: LIVE_BYTES.load(Ordering::Relaxed),
        hits: HITS.load(Ordering::Relaxed),
        ..HugeFigures::default()
    };
    LOCK.lock();
    // SAFETY: cache lock held.
    let c = unsafe { &*CACHE.0.get() };
    for e in &c.e[..c.n] {
        f.cached += 1;
        f.cached_bytes += e.len;
        f.cached_committed += e.len - e.purged;
    }
    LOCK.unlock();
    f
}

// ---- the cache ---------------------------------------------------------------

const SLOTS: usize = 16;

#[derive(Clone, Copy)]
struct Entry {
    /// Mapping start (the segment header) and length.
    seg: usize,
    len: usize,
    /// When it was cached (coarse monotonic ms).
    since_ms: u64,
    /// Bytes purged (0 while committed).
    purged: usize,
}

const NO_ENTRY: Entry = Entry {
    seg: 0,
    len: 0,
    since_ms: 0,
    purged: 0,
};

struct Cache {
    e: [Entry; SLOTS],
    n: usize,
    bytes: usize,
}
struct CacheCell(UnsafeCell<Cache>);
// SAFETY: only touched with LOCK held.
unsafe impl Sync for CacheCell {}

static LOCK: Lock = Lock::new();
static CACHE: CacheCell = CacheCell(UnsafeCell::new(Cache {
    e: [NO_ENTRY; SLOTS],
    n: 0,
    bytes: 0,
}));

/// Coarse monotonic clock in ms (vDSO, no system call). Slow paths only.
fn now_ms() -> u64 {
    crate::os::coarse_now_ns() / 1_000_000
}

/// Purge entries unused for at least the purge delay (all of them when
/// `all`). Cache lock held. Returns the bytes purged.
unsafe fn purge_stale(c: &mut Cache, now: u64, all: bool) -> usize {
    let mut bytes = 0;
    for e in &mut c.e[..c.n] {
        if e.purged == 0 && (all || now.saturating_sub(e.since_ms) >= HUGE_PURGE_MS) {
            let body = e.len - PAGE_SIZE;
            // SAFETY: a cached mapping is ours and dead past its header page.
            if unsafe { crate::os::purge((e.seg + PAGE_SIZE) as *mut u8, body) } {
                e.purged = body;
                // MADV_DONTNEED pages read back as zero; MADV_FREE ones may
                // keep their old bytes until the kernel reclaims them, so
                // they stay dirty for calloc.
                if !crate::config::PURGE_MADV_FREE {
                    // SAFETY: the header page was kept.
                    unsafe { (*(e.seg as *mut Segment)).huge_dirty = PAGE_SIZE };
                }
                bytes += body;
            }
        }
    }
    bytes
}

/// Remove entry `i` (cache lock held).
fn remove(c: &mut Cache, i: usize) -> Entry {
    let e = c.e[i];
    c.n -= 1;
    c.e[i] = c.e[c.n];
    c.bytes -= e.len;
    e
}

/// Unmap a mapping that left the cache (no lock held).
///
/// # Safety
/// `e` is a cached mapping removed from the cache.
unsafe fn release(e: Entry) {
    crate::os::note_recommit(e.purged);
    crate::segment::SUPPLY_LOCK.lock();
    map_set(e.seg as *mut Segment, false);
    crate::segment::SUPPLY_LOCK.unlock();
    // SAFETY: caller's contract: nobody references the mapping.
    unsafe { crate::os::unmap(e.seg as *mut u8, e.len) };
}

/// Take a cached mapping for `need` bytes: the smallest that fits, or the
/// biggest smaller one. Returns the entry (removed from the cache).
fn take(need: usize) -> Option<Entry> {
    LOCK.lock();
    // SAFETY: cache lock held until the unlock below.
    let c = unsafe { &mut *CACHE.0.get() };
    let now = now_ms();
    // SAFETY: lock held.
    unsafe { purge_stale(c, now, false) };
    let mut fit: Option<usize> = None;
    let mut small: Option<usize> = None;
    for (i, e) in c.e[..c.n].iter().enumerate() {
        if e.len >= need {
            if fit.is_none_or(|f| e.len < c.e[f].len) {
                fit = Some(i);
            }
        } else if small.is_none_or(|s| e.len > c.e[s].len) {
            small = Some(i);
        }
    }
    let got = fit.or(small).map(|i| remove(c, i));
    LOCK.unlock();
    got
}

/// Reshape cached mapping `e` to exactly fit `need` bytes: trim a tail
/// wasting more than a quarter, grow a short one in place or by moving it.
/// Returns the (possibly moved) segment and its length, or None (the
/// mapping was released).
///
/// # Safety
/// `e` was just taken out of the cache.
unsafe fn fit_entry(e: Entry, need: usize) -> Option<(usize, usize)> {
    let seg = e.seg as *mut Segment;
    // SAFETY: the mapping is ours and its header page intact.
    unsafe {
        if e.len >= need {
            if e.len - need > need / 4 {
                crate::os::unmap((e.seg + need) as *mut u8, e.len - need);
                (*seg).huge_len = need;
                (*seg).huge_dirty = (*seg).huge_dirty.min(need);
                return Some((e.seg, need));
            }
            return Some((e.seg, e.len));
        }
        match grow_mapping(seg, e.len, need) {
            Some(s) => Some((s as usize, need)),
            None => {
                release(e);
                None
            }
        }
    }
}

/// Grow the huge mapping at `seg` from `old_len` to `new_len` bytes keeping
/// its pages: in place if the range after it is free, else moved by the
/// kernel onto a fresh segment-aligned range. Null on failure (unchanged).
///
/// # Safety
/// `seg` is a huge mapping of ours that nobody else touches now.
unsafe fn grow_mapping(seg: *mut Segment, old_len: usize, new_len: usize) -> Option<*mut Segment> {
    // SAFETY: caller's contract.
    unsafe {
        if crate::os::grow_in_place(seg as *mut u8, old_len, new_len) {
            (*seg).huge_len = new_len;
            return Some(seg);
        }
        // Move: reserve an aligned range, then have the kernel move the
        // pages onto it. The old range's map bit goes first: once mremap
        // frees that range another thread may map a segment there and set
        // the bit for itself.
        let dst = crate::os::map_aligned_with(new_len, SEG_SIZE, true);
        if dst.is_null() {
            return None;
        }
        if !map_covers(dst as *mut Segment) {
            crate::os::unmap(dst, new_len);
            return None;
        }
        crate::segment::SUPPLY_LOCK.lock();
        map_set(seg, false);
        crate::segment::SUPPLY_LOCK.unlock();
        if !crate::os::move_to(seg as *mut u8, old_len, dst, new_len) {
            crate::segment::SUPPLY_LOCK.lock();
            map_set(seg, true);
            crate::segment::SUPPLY_LOCK.unlock();
            crate::os::unmap(dst, new_len);
            return None;
        }
        let moved = dst as *mut Segment;
        crate::segment::SUPPLY_LOCK.lock();
        // Cannot fail: the map exists (the old bit was in it) and covers
        // `dst` (checked above).
        map_set(moved, true);
        crate::segment::SUPPLY_LOCK.unlock();
        (*moved).huge_len = new_len;
        Some(moved)
    }
}

/// Purge every cached mapping now (`malloc_trim`). Returns the bytes purged.
pub fn trim() -> usize {
    LOCK.lock();
    // SAFETY: cache lock held.
    let bytes = unsafe { purge_stale(&mut *CACHE.0.get(), 0, true) };
    LOCK.unlock();
    bytes
}

/// Unmap every cached mapping (address-space pressure). True if any was.
/// Takes the cache lock and then the segment lock: call it holding neither.
pub fn release_cache() -> bool {
    let mut out = [NO_ENTRY; SLOTS];
    LOCK.lock();
    // SAFETY: cache lock held.
    let c = unsafe { &mut *CACHE.0.get() };
    let n = c.n;
    out[..n].copy_from_slice(&c.e[..n]);
    c.n = 0;
    c.bytes = 0;
    LOCK.unlock();
    for e in &out[..n] {
        // SAFETY: removed from the cache above; nobody references it.
        unsafe { release(*e) };
    }
    n > 0
}

// ---- malloc / free -------------------------------------------------------------

/// Allocate a huge object of `size` bytes whose start is `align`-aligned
/// (a power of two up to `MAX_ALIGN`; 0 means none). Null when the kernel
/// refuses the memory.
#[inline(never)]
pub fn alloc(size: usize, align: usize) -> *mut u8 {
    let off = align.max(PAGE_SIZE);
    if off >= SEG_SIZE {
        return big_alloc(size, align);
    }
    let Some(need) = mapping_len(off, size) else {
        return null_mut();
    };
    if HUGE_CACHE_BYTES > 0 {
        if let Some(e) = take(need) {
            // SAFETY: taken out of the cache just now.
            if let Some((seg, len)) = unsafe { fit_entry(e, need) } {
                crate::os::note_recommit(e.purged);
                HITS.fetch_add(1, Ordering::Relaxed);
                crate::stats::note_huge_cache_hit();
                // SAFETY: a mapping of ours with an intact header, private to us.
                return unsafe { publish(seg as *mut Segment, len, off) };
            }
        }
    }
    let mut raw = crate::os::map_aligned_with(need, SEG_SIZE, true);
    if raw.is_null() && release_cache() {
        raw = crate::os::map_aligned_with(need, SEG_SIZE, true);
    }
    if raw.is_null() {
        return raw;
    }
    let seg = raw as *mut Segment;
    // SAFETY: fresh zeroed mapping, private to us until returned.
    unsafe {
        (*seg).magic = SEG_MAGIC;
        (*seg).kind = SEG_HUGE;
        (*seg).huge_dirty = PAGE_SIZE;
        (*seg).huge_len = need;
    }
    crate::segment::SUPPLY_LOCK.lock();
    let ok = map_set(seg, true);
    crate::segment::SUPPLY_LOCK.unlock();
    if !ok {
        // SAFETY: never published.
        unsafe { crate::os::unmap(raw, need) };
        return null_mut();
    }
    // SAFETY: as above.
    unsafe { publish(seg, need, off) }
}

/// Mark the object page of huge mapping `seg` (length `len`, object at
/// `off`) in use and count it live.
///
/// # Safety
/// `seg` is a huge mapping of ours, in the segment map, private to the caller.
unsafe fn publish(seg: *mut Segment, len: usize, off: usize) -> *mut u8 {
    let ptr = seg as usize + off;
    // SAFETY: caller's contract; the page header lies in the header page.
    unsafe {
        (*seg).huge_len = len;
        let page = page_of(ptr);
        (*page).span_pages = 0;
        (*page).kind = KIND_HUGE;
    }
    LIVE.fetch_add(1, Ordering::Relaxed);
    LIVE_BYTES.fetch_add(len, Ordering::Relaxed);
    ptr as *mut u8
}

/// Usable bytes of a huge object.
///
/// # Safety
/// `ptr` is a live huge object.
pub unsafe fn usable(ptr: usize) -> usize {
    let seg = segment_of(ptr);
    // SAFETY: live huge object, header intact.
    unsafe { (*seg).huge_len - (ptr - seg as usize) }
}

/// How many bytes from `ptr` on may be non-zero (for `calloc`).
///
/// # Safety
/// `ptr` is a live huge object.
pub unsafe fn dirty_from(ptr: usize) -> usize {
    let seg = segment_of(ptr);
    // SAFETY: live huge object, header intact.
    unsafe { (*seg).huge_dirty.saturating_sub(ptr - seg as usize) }
}

/// Free a huge object: into the cache, or unmapped.
///
/// # Safety
/// `ptr` is a live huge object that the caller is freeing.
pub unsafe fn free(ptr: usize) {
    let seg = segment_of(ptr);
    // SAFETY: live huge object, header intact; no one uses it after this.
    unsafe {
        let len = (*seg).huge_len;
        (*page_of(ptr)).kind = KIND_UNUSED;
        (*seg).huge_dirty = len;
        LIVE.fetch_sub(1, Ordering::Relaxed);
        LIVE_BYTES.fetch_sub(len, Ordering::Relaxed);
        let e = Entry {
            seg: seg as usize,
            len,
            since_ms: 0,
            purged: 0,
        };
        if len > HUGE_CACHE_BYTES {
            release(e);
            return;
        }
        let mut out = [NO_ENTRY; SLOTS + 1];
        let mut nout = 0;
        LOCK.lock();
        let c = &mut *CACHE.0.get();
        let now = now_ms();
        if c.n == SLOTS {
            // Full: the oldest entry makes room.
            let oldest = (0..c.n).min_by_key(|&i| c.e[i].since_ms).unwrap_or(0);
            out[nout] = remove(c, oldest);
            nout += 1;
        }
        c.e[c.n] = Entry { since_ms: now, ..e };
        c.n += 1;
        c.bytes += len;
        while c.bytes > HUGE_CACHE_BYTES {
            // Over the byte bound: unmap the oldest others first.
            let newest = c.n - 1;
            let Some(oldest) = (0..newest).min_by_key(|&i| c.e[i].since_ms) else {
                break;
            };
            out[nout] = remove(c, oldest);
            nout += 1;
        }
        purge_stale(c, now, false);
        LOCK.unlock();
        for e in &out[..nout] {
            release(*e);
        }
    }
}

/// Resize huge object `ptr` in place or by moving its pages, for `realloc`
/// to `new_size` bytes (itself a huge size). The contents up to the smaller
/// size are kept and nothing is copied: shrinking unmaps the tail, growing
/// extends the mapping where it is or has the kernel move it to a fresh
/// segment-aligned range. Null when that fails (the object is unchanged and
/// the caller copies instead).
///
/// # Safety
/// `ptr` is a live huge object that the calling thread is reallocating.
pub unsafe fn resize(ptr: usize, new_size: usize) -> *mut u8 {
    let seg = segment_of(ptr);
    let off = ptr - seg as usize;
    let Some(new_len) = mapping_len(off, new_size) else {
        return null_mut();
    };
    // SAFETY: live huge object: the header at `seg` is ours to read and
    // update, and nobody else touches the object while it is reallocated.
    unsafe {
        let old_len = (*seg).huge_len;
        if new_len <= old_len {
            if new_len < old_len {
                crate::os::unmap((seg as usize + new_len) as *mut u8, old_len - new_len);
                (*seg).huge_len = new_len;
                (*seg).huge_dirty = (*seg).huge_dirty.min(new_len);
                LIVE_BYTES.fetch_sub(old_len - new_len, Ordering::Relaxed);
            }
            return ptr as *mut u8;
        }
        match grow_mapping(seg, old_len, new_len) {
            Some(moved) => {
                LIVE_BYTES.fetch_add(new_len - old_len, Ordering::Relaxed);
                (moved as usize + off) as *mut u8
            }
            None => null_mut(),
        }
    }
}

// ---- alignments of a segment or more --------------------------------------------

const BIG_MAGIC: u64 = 0x687a_345f_6269_6761; // "hz4_biga"
const MAP_WORDS: usize = crate::segment::MAP_WORDS;

/// Header one OS page below a big-aligned object.
#[repr(C)]
struct BigHeader {
    magic: u64,
    /// Mapping start and length (header page included).
    base: usize,
    len: usize,
}

/// One bit per 4 MiB chunk that starts a big-aligned object.
static ALIGNED: AtomicPtr<AtomicU64> = AtomicPtr::new(null_mut());

fn aligned_map(create: bool) -> *mut AtomicU64 {
    let map = ALIGNED.load(Ordering::Acquire);
    if !map.is_null() || !create {
        return map;
    }
    let fresh = crate::os::map(MAP_WORDS * 8) as *mut AtomicU64;
    if fresh.is_null() {
        return fresh;
    }
    match ALIGNED.compare_exchange(null_mut(), fresh, Ordering::AcqRel, Ordering::Acquire) {
        Ok(_) => fresh,
        Err(other) => {
            // SAFETY: our fresh mapping lost the race and was never shared.
            unsafe { crate::os::unmap(fresh as *mut u8, MAP_WORDS * 8) };
            other
        }
    }
}

/// Map an object of `size` bytes aligned to `align` (≥ SEG_SIZE).
#[cold]
fn big_alloc(size: usize, align: usize) -> *mut u8 {
    if align > MAX_ALIGN {
        return null_mut();
    }
    let Some(body) = mapping_len(0, size.max(1)) else {
        return null_mut();
    };
    let Some(over) = body.checked_add(OS_PAGE).and_then(|l| l.checked_add(align)) else {
        return null_mut();
    };
    let map = aligned_map(true);
    if map.is_null() {
        return null_mut();
    }
    let mut raw = crate::os::map_committed(over);
    if raw.is_null() && release_cache() {
        raw = crate::os::map_committed(over);
    }
    if raw.is_null() {
        return raw;
    }
    let start = raw as usize;
    let ptr = (start + OS_PAGE + align - 1) & !(align - 1);
    let base = ptr - OS_PAGE;
    let len = OS_PAGE + body;
    // SAFETY: head and tail are unused parts of the mapping just made.
    unsafe {
        if base > start {
            crate::os::unmap(raw, base - start);
        }
        let end = start + over;
        if end > base + len {
            crate::os::unmap((base + len) as *mut u8, end - (base + len));
        }
    }
    let chunk = ptr >> SEG_SHIFT;
    if chunk >= MAP_WORDS * 64 {
        // SAFETY: never published.
        unsafe { crate::os::unmap(base as *mut u8, len) };
        return null_mut();
    }
    // SAFETY: fresh mapping; the header page is ours; chunk / 64 < MAP_WORDS.
    unsafe {
        let h = base as *mut BigHeader;
        (*h).magic = BIG_MAGIC;
        (*h).base = base;
        (*h).len = len;
        (*map.add(chunk >> 6)).fetch_or(1 << (chunk & 63), Ordering::Release);
    }
    LIVE.fetch_add(1, Ordering::Relaxed);
    LIVE_BYTES.fetch_add(len, Ordering::Relaxed);
    ptr as *mut u8
}

/// Header of the big-aligned object starting at `a`, if there is one.
/// Never touches memory that is not a live big-aligned header.
#[cold]
fn big_header(a: usize) -> Option<*mut BigHeader> {
    if a & SEG_MASK != 0 || a == 0 {
        return None;
    }
    let map = aligned_map(false);
    let chunk = a >> SEG_SHIFT;
    if map.is_null() || chunk >= MAP_WORDS * 64 {
        return None;
    }
    // SAFETY: chunk / 64 < MAP_WORDS.
    let bits = unsafe { (*map.add(chunk >> 6)).load(Ordering::Acquire) };
    if bits & (1 << (chunk & 63)) == 0 {
        return None;
    }
    let h = (a - OS_PAGE) as *mut BigHeader;
    // SAFETY: the bit says a big-aligned object starts at `a`, so its
    // header page is mapped just below it.
    if unsafe { (*h).magic } != BIG_MAGIC {
        return None;
    }
    Some(h)
}

/// `free`/`malloc_usable_size`/`realloc` of a pointer outside every
/// segment: a big-aligned object, or an abort naming `func`.
/// `free_it`: unmap it; returns its usable size.
///
/// # Safety
/// Called from a free-like entry point with a pointer the caller got from us.
#[cold]
#[inline(never)]
pub unsafe fn foreign(a: usize, func: &'static str, free_it: bool) -> usize {
    let Some(h) = big_header(a) else {
        crate::fatal::invalid_pointer(func, "pointer not allocated by hz4", a)
    };
    // SAFETY: a live big-aligned header.
    let (base, len) = unsafe { ((*h).base, (*h).len) };
    if free_it {
        let map = aligned_map(false);
        let chunk = a >> SEG_SHIFT;
        // SAFETY: big_header checked the map exists and covers `chunk`; the
        // object dies here, so its header and bit go with it.
        unsafe {
            (*h).magic = 0;
            (*map.add(chunk >> 6)).fetch_and(!(1 << (chunk & 63)), Ordering::Release);
            crate::os::unmap(base as *mut u8, len);
        }
        LIVE.fetch_sub(1, Ordering::Relaxed);
        LIVE_BYTES.fetch_sub(len, Ordering::Relaxed);
    }
    len - OS_PAGE
}

/// Take the cache lock (fork prepare).
pub fn lock() {
    LOCK.lock();
}
/// Release it (fork parent).
pub fn unlock() {
    LOCK.unlock();
}
/// Reset it (fork child).
pub fn reset() {
    LOCK.force_unlock();
}

#[cfg(test)]
mod tests {
    use super::mapping_len;

    #[test]
    fn mapping_len_rounds_to_os_pages_and_catches_overflow() {
        assert_eq!(mapping_len(65536, 1), Some(65536 + 4096));
        assert_eq!(mapping_len(65536, 4096), Some(65536 + 4096));
        assert_eq!(mapping_len(65536, usize::MAX - 100), None);
    }
}
