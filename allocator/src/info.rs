//! Memory figures for `mallinfo2`, `mallinfo` and `malloc_stats`: hz4's
//! own accounting (bytes mapped and committed from `os.rs`, huge objects
//! from `huge.rs`) plus a walk of the segment map for the bytes in use.
//!
//! The walk holds the segment lock, so no segment is unmapped under it; it
//! reads page counters that their owner threads change concurrently, so
//! figures taken while other threads allocate are approximate (exact at
//! rest). Nothing here allocates.

use crate::config::{PAGES_PER_SEG, PAGE_SHIFT, PAGE_SIZE, SEG_SIZE};
use crate::page::{self, Page, KIND_LARGE, KIND_MID, KIND_SMALL};
use crate::segment::{for_each_segment, Segment, SEG_HUGE};
use core::ptr::{addr_of, read_volatile};

/// One snapshot of the allocator's memory.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemInfo {
    /// Bytes mapped from the OS now (segments, huge objects, metadata).
    pub mapped: usize,
    /// Of those, bytes not purged since last use (upper bound of resident).
    pub committed: usize,
    /// Normal (4 MiB) segments mapped.
    pub segments: usize,
    /// Bytes handed to the program and not freed (objects at their class
    /// size, spans and huge mappings whole).
    pub in_use: usize,
    /// Live huge objects and the bytes mapped for them.
    pub huge_live: usize,
    pub huge_live_bytes: usize,
    /// Freed huge mappings kept for reuse: count, mapped bytes, committed bytes.
    pub huge_cached: usize,
    pub huge_cached_bytes: usize,
    pub huge_cached_committed: usize,
    /// Huge mallocs served from that cache.
    pub huge_cache_hits: usize,
    /// `madvise` purges so far: calls and bytes.
    pub purge_calls: usize,
    pub purged_bytes: usize,
    /// Free pages of the segment supply not purged since use, in bytes: the
    /// supply's running count, and the same figure summed over the segments'
    /// masks (the two agree unless the accounting is broken), and the dirty
    /// bound the count is held to.
    pub supply_dirty: usize,
    pub supply_dirty_walk: usize,
    pub supply_dirty_bound: usize,
}

impl MemInfo {
    /// Committed bytes not in use: free memory the allocator still holds.
    pub fn free_committed(&self) -> usize {
        self.committed.saturating_sub(self.in_use)
    }
}

/// Bytes in use in the normal segment `seg` (segment lock held).
///
/// # Safety
/// `seg` is a live normal segment and the segment lock is held.
unsafe fn segment_in_use(seg: *mut Segment) -> usize {
    let mut bytes = 0;
    // SAFETY: the header array has PAGES_PER_SEG pages; fields are read
    // with volatile loads because their owners may be updating them.
    unsafe {
        let pages = addr_of!((*seg).pages).cast::<Page>();
        for i in 1..PAGES_PER_SEG {
            let p = pages.add(i);
            match read_volatile(addr_of!((*p).kind)) {
                KIND_SMALL | KIND_MID => {
                    let used = read_volatile(addr_of!((*p).used)) as usize;
                    let pending = page::remote_count(p as *mut Page) as usize;
                    let size = read_volatile(addr_of!((*p).block_size)) as usize;
                    bytes += used.saturating_sub(pending) * size;
                }
                KIND_LARGE => {
                    let k = read_volatile(addr_of!((*p).span_pages)) as usize;
                    let b = page::page_start(p as *mut Page) as *const page::Block;
                    // A cached span carries the free mark in its second word.
                    if read_volatile(addr_of!((*b).guard)) != page::free_mark(p as *mut Page) {
                        bytes += k << PAGE_SHIFT;
                    }
                }
                _ => {}
            }
        }
    }
    bytes
}

/// Take a snapshot (takes the segment lock and the huge cache lock, one
/// after the other). Must not be called with an allocator lock held.
pub fn snapshot() -> MemInfo {
    let h = crate::huge::figures();
    let (purge_calls, purged_bytes) = crate::os::purge_totals();
    let mut m = MemInfo {
        huge_live: h.live,
        huge_live_bytes: h.live_bytes,
        huge_cached: h.cached,
        huge_cached_bytes: h.cached_bytes,
        huge_cached_committed: h.cached_committed,
        huge_cache_hits: h.hits,
        purge_calls,
        purged_bytes,
        in_use: h.live_bytes,
        ..MemInfo::default()
    };
    crate::segment::SUPPLY_LOCK.lock();
    for_each_segment(|seg| {
        // SAFETY: the map holds live segments and the lock keeps them mapped.
        unsafe {
            if read_volatile(addr_of!((*seg).kind)) == SEG_HUGE {
                return;
            }
            m.segments += 1;
            m.in_use += segment_in_use(seg);
            let free = read_volatile(addr_of!((*seg).free_mask));
            let dirty = read_volatile(addr_of!((*seg).dirty_mask));
            m.supply_dirty_walk += (free & dirty).count_ones() as usize * PAGE_SIZE;
        }
    });
    m.supply_dirty = crate::segment::dirty_bytes();
    m.supply_dirty_bound = crate::segment::dirty_bound_bytes();
    crate::segment::SUPPLY_LOCK.unlock();
    m.mapped = crate::os::mapped_bytes();
    m.committed = crate::os::committed_bytes();
    debug_assert!(m.segments * SEG_SIZE <= m.mapped || m.mapped == 0);
    m
}

/// glibc's `struct mallinfo2` (all `size_t`), field for field.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Mallinfo2 {
    /// hz4: bytes mapped other than live huge objects (segments, cached
    /// huge mappings, metadata).
    pub arena: usize,
    /// hz4: normal segments mapped.
    pub ordblks: usize,
    /// hz4: 0.
    pub smblks: usize,
    /// Live huge objects (glibc: mmapped chunks).
    pub hblks: usize,
    /// Bytes mapped for them.
    pub hblkhd: usize,
    /// hz4: 0 (glibc: 0 too).
    pub usmblks: usize,
    /// hz4: bytes of freed huge mappings kept for reuse.
    pub fsmblks: usize,
    /// Bytes in use by the program (huge objects included).
    pub uordblks: usize,
    /// Committed bytes not in use (free but not returned to the OS).
    pub fordblks: usize,
    /// Committed bytes of the huge cache: what `malloc_trim` releases at once.
    pub keepcost: usize,
}

/// glibc's `struct mallinfo` (all `int`); values saturate at `i32::MAX`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Mallinfo {
    pub arena: i32,
    pub ordblks: i32,
    pub smblks: i32,
    pub hblks: i32,
    pub hblkhd: i32,
    pub usmblks: i32,
    pub fsmblks: i32,
    pub uordblks: i32,
    pub fordblks: i32,
    pub keepcost: i32,
}

/// `mallinfo2` from a snapshot.
pub fn mallinfo2_of(m: &MemInfo) -> Mallinfo2 {
    Mallinfo2 {
        arena: m.mapped.saturating_sub(m.huge_live_bytes),
        ordblks: m.segments,
        smblks: 0,
        hblks: m.huge_live,
        hblkhd: m.huge_live_bytes,
        usmblks: 0,
        fsmblks: m.huge_cached_bytes,
        uordblks: m.in_use,
        fordblks: m.free_committed(),
        keepcost: m.huge_cached_committed,
    }
}

/// `mallinfo` (ints) from `mallinfo2`.
pub fn mallinfo_of(m: &Mallinfo2) -> Mallinfo {
    let c = |v: usize| i32::try_from(v).unwrap_or(i32::MAX);
    Mallinfo {
        arena: c(m.arena),
        ordblks: c(m.ordblks),
        smblks: c(m.smblks),
        hblks: c(m.hblks),
        hblkhd: c(m.hblkhd),
        usmblks: c(m.usmblks),
        fsmblks: c(m.fsmblks),
        uordblks: c(m.uordblks),
        fordblks: c(m.fordblks),
        keepcost: c(m.keepcost),
    }
}

/// A fixed stack buffer that text is appended to (cut when full).
pub struct StackText<const N: usize> {
    buf: [u8; N],
    len: usize,
}

impl<const N: usize> StackText<N> {
    pub const fn new() -> Self {
        Self {
            buf: [0; N],
            len: 0,
        }
    }
    pub fn push(&mut self, s: &[u8]) {
        let n = s.len().min(N - self.len);
        self.buf[self.len..self.len + n].copy_from_slice(&s[..n]);
        self.len += n;
    }
    pub fn num(&mut self, mut v: usize) {
        let mut d = [0u8; 20];
        let mut i = d.len();
        loop {
            i -= 1;
            d[i] = b'0' + (v % 10) as u8;
            v /= 10;
            if v == 0 {
                break;
            }
        }
        self.push(&d[i..]);
    }
    /// `v` bytes as `N B (M MiB)`.
    pub fn bytes(&mut self, v: usize) {
        self.num(v);
        self.push(b" B (");
        self.num(v >> 20);
        self.push(b" MiB)");
    }
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl<const N: usize> Default for StackText<N> {
    fn default() -> Self {
        Self::new()
    }
}

/// The `malloc_stats` text for a snapshot.
pub fn format_stats(m: &MemInfo, out: &mut StackText<1024>) {
    out.push(b"hz4 malloc_stats:\n  mapped:          ");
    out.bytes(m.mapped);
    out.push(b", ");
    out.num(m.segments);
    out.push(b" segments of 4 MiB\n  committed:       ");
    out.bytes(m.committed);
    out.push(b"\n  in use:          ");
    out.bytes(m.in_use);
    out.push(b"\n  free, committed: ");
    out.bytes(m.free_committed());
    out.push(b"\n  huge live:       ");
    out.num(m.huge_live);
    out.push(b" objects, ");
    out.bytes(m.huge_live_bytes);
    out.push(b"\n  huge cache:      ");
    out.num(m.huge_cached);
    out.push(b" mappings, ");
    out.bytes(m.huge_cached_bytes);
    out.push(b", committed ");
    out.bytes(m.huge_cached_committed);
    out.push(b", hits ");
    out.num(m.huge_cache_hits);
    out.push(b"\n  purged:          ");
    out.num(m.purge_calls);
    out.push(b" calls, ");
    out.bytes(m.purged_bytes);
    out.push(b"\n  supply dirty:    ");
    out.bytes(m.supply_dirty);
    out.push(b" (bound ");
    out.bytes(m.supply_dirty_bound);
    out.push(b")\n");
}

/// Write the `malloc_stats` summary to stderr with one `write(2)`.
pub fn print_stats() {
    let m = snapshot();
    let mut t = StackText::<1024>::new();
    format_stats(&m, &mut t);
    let b = t.as_bytes();
    let mut done = 0;
    while done < b.len() {
        // SAFETY: the slice is live; fd 2 may be closed, then write fails.
        let n = unsafe { libc::write(2, b[done..].as_ptr().cast(), b.len() - done) };
        if n <= 0 {
            // SAFETY: this thread's errno slot.
            if n < 0 && unsafe { *libc::__errno_location() } == libc::EINTR {
                continue;
            }
            break;
        }
        done += n as usize;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stack_text_formats_numbers_and_cuts_when_full() {
        let mut t = StackText::<32>::new();
        t.num(0);
        t.push(b" ");
        t.num(18_446_744_073_709_551_615);
        assert_eq!(t.as_bytes(), b"0 18446744073709551615");
        t.push(b"0123456789abcdef");
        assert_eq!(t.as_bytes().len(), 32);
    }

    #[test]
    fn mallinfo_saturates_and_maps_fields() {
        let m = MemInfo {
            mapped: 10 << 30,
            committed: 9 << 30,
            in_use: 1 << 20,
            huge_live_bytes: 3 << 20,
            huge_live: 1,
            huge_cached_committed: 5,
            ..MemInfo::default()
        };
        let m2 = mallinfo2_of(&m);
        assert_eq!(m2.arena, (10 << 30) - (3 << 20));
        assert_eq!(m2.fordblks, (9 << 30) - (1 << 20));
        assert_eq!(m2.keepcost, 5);
        let m1 = mallinfo_of(&m2);
        assert_eq!(m1.arena, i32::MAX);
        assert_eq!(m1.uordblks, 1 << 20);
        assert_eq!(m1.hblks, 1);
    }
}
