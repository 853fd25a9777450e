//! The per-thread heap: the current page of each class, the page
//! reservation, the large span cache and the owner local stacks (B57/B77).
//!
//! A heap is reached through one TLS word (`tls.rs`) and lives in memory
//! mapped by the allocator itself. Heaps of exited threads are recycled.

use crate::config::{B57, B77, BINS, MAX_SPAN_PAGES, MID_SC_COUNT, RESV_PAGES, STACK_SLOTS};
use crate::page::{Block, Page};
use crate::sync::Lock;
use core::cell::UnsafeCell;
use core::ptr::null_mut;
use core::sync::atomic::AtomicU32;

/// Slots per owner local stack actually laid out (0 when B57 is not built).
pub const STACK_ARR: usize = if B57 { STACK_SLOTS } else { 0 };
/// Entries of each B77 per-class byte array (0 when B77 is not built).
pub const ADAPT_ARR: usize = if B77 { MID_SC_COUNT } else { 0 };
/// Words of the planted-work state (0 unless `HZ4_DEBUG_PLANT_NS`): the
/// step remainder and the `HZ4_DEBUG_PLANT_EVERY` tick.
pub const PLANT_ARR: usize = if crate::config::PLANT_NS != 0 { 2 } else { 0 };

/// Pages of one class owned by this thread: a ring through `Page::next/prev`
/// with `cur` the page mallocs come from. `cur` points at `EMPTY_PAGE` when
/// the thread owns no page of the class, so the fast path needs no null test.
#[derive(Clone, Copy)]
pub struct ClassQueue {
    pub cur: *mut Page,
    pub npages: u32,
}

/// Freed large spans of one page count, linked through their first word.
#[derive(Clone, Copy)]
pub struct SpanList {
    pub head: *mut Block,
    pub len: u32,
}

#[repr(C)]
pub struct Heap {
    pub bins: [ClassQueue; BINS],
    /// Mid mallocs so far; drives the periodic remote drain. Atomic only
    /// because the sentinel heap is shared: relaxed load and store, the
    /// same plain moves as a `u32`.
    pub tick: AtomicU32,
    /// Lock-path entries so far; drives lock-time sampling.
    pub lock_ticks: u64,
    /// Pages reserved from the segment supply, not yet formatted.
    pub resv: [*mut Page; RESV_PAGES],
    pub resv_n: usize,
    /// Large span cache, indexed by page count.
    pub spans: [SpanList; MAX_SPAN_PAGES + 1],
    /// Bytes of the spans in `spans` (bounded by `HZ4_LARGE_TCACHE_KB`).
    pub span_bytes: usize,
    /// B57: owner local stack of each mid class and its fill.
    pub stack: [[*mut Block; STACK_ARR]; MID_SC_COUNT],
    pub stack_len: [u8; MID_SC_COUNT],
    /// B77: per-class adaptive state (hot score, probe tick, cooldown).
    pub hot: [u8; ADAPT_ARR],
    pub probe_tick: [u8; ADAPT_ARR],
    pub cooldown: [u8; ADAPT_ARR],
    /// Planted work: `[0]` the fraction of a spin step carried to the next
    /// planted malloc (×1024), so the average work is exact although a step
    /// is ~1 ns; `[1]` mallocs of the path since the last planted one.
    pub plant_carry: [u64; PLANT_ARR],
    /// Link in the pool of recycled heaps.
    pub pool_next: *mut Heap,
    /// Stats counts of the threads that used this heap (none without
    /// stats). Linked into the dump's list when the heap is first mapped;
    /// never reset, so the counts outlive the threads.
    pub stats: [hz4_stats::OwnerBlock; crate::stats::BLOCKS],
}

/// The page every empty class queue points at: no free objects, never owned.
pub struct EmptyPage(UnsafeCell<Page>);
// SAFETY: nobody writes to the empty page (the slow path checks for it first).
unsafe impl Sync for EmptyPage {}

pub static EMPTY_PAGE: EmptyPage = EmptyPage(UnsafeCell::new(Page {
    free: null_mut(),
    used: 0,
    bump: 0,
    next: null_mut(),
    prev: null_mut(),
    capacity: 0,
    block_size: 0,
    div_test: 0,
    bin: 0,
    kind: 0,
    in_bin: 0,
    span_pages: 0,
    owner: core::sync::atomic::AtomicUsize::new(crate::page::UNOWNED),
    remote: core::sync::atomic::AtomicUsize::new(0),
    obj_end: 0,
}));

#[inline(always)]
pub fn empty_page() -> *mut Page {
    EMPTY_PAGE.0.get()
}

/// The heap of every thread that has none yet (or no more): what the TLS
/// word holds before a thread's first allocation and after its teardown,
/// so the fast paths never test for null. Every class queue points at
/// `EMPTY_PAGE` and every stack is empty, so a malloc through it always
/// falls into the slow path (`api::malloc_slow`), which sees the sentinel,
/// creates the thread's heap and starts the malloc again; it owns no page,
/// so a free through it always takes the remote path. The fast paths'
/// only writes to it are atomic (`tick`, stats counts that nobody dumps:
/// the retried malloc counts again on the real heap).
pub struct SentinelHeap(pub(crate) UnsafeCell<Heap>);
// SAFETY: the fast paths only read it, apart from the atomic writes above;
// the slow paths never use it as a heap (they check `is_sentinel`).
unsafe impl Sync for SentinelHeap {}

pub static SENTINEL: SentinelHeap = SentinelHeap(UnsafeCell::new(Heap {
    bins: [ClassQueue {
        cur: EMPTY_PAGE.0.get(),
        npages: 0,
    }; BINS],
    tick: AtomicU32::new(0),
    lock_ticks: 0,
    resv: [null_mut(); RESV_PAGES],
    resv_n: 0,
    spans: [SpanList {
        head: null_mut(),
        len: 0,
    }; MAX_SPAN_PAGES + 1],
    span_bytes: 0,
    stack: [[null_mut(); STACK_ARR]; MID_SC_COUNT],
    stack_len: [0; MID_SC_COUNT],
    hot: [0; ADAPT_ARR],
    probe_tick: [0; ADAPT_ARR],
    cooldown: [0; ADAPT_ARR],
    plant_carry: [0; PLANT_ARR],
    pool_next: null_mut(),
    stats: [const { hz4_stats::OwnerBlock::new() }; crate::stats::BLOCKS],
}));

/// The sentinel heap's address.
#[inline(always)]
pub fn sentinel() -> *mut Heap {
    SENTINEL.0.get()
}

/// Whether `h` is the sentinel, i.e. the calling thread has no heap.
#[inline(always)]
pub fn is_sentinel(h: *mut Heap) -> bool {
    h == sentinel()
}

struct Pool {
    head: UnsafeCell<*mut Heap>,
}
// SAFETY: `head` is only touched with POOL_LOCK held.
unsafe impl Sync for Pool {}
pub static POOL_LOCK: Lock = Lock::new();
static POOL: Pool = Pool {
    head: UnsafeCell::new(null_mut()),
};

const HEAP_BYTES: usize = (core::mem::size_of::<Heap>() + 4095) & !4095;

/// Get a heap (recycled or freshly mapped) in its initial state, or null.
pub fn acquire() -> *mut Heap {
    POOL_LOCK.lock();
    // SAFETY: pool lock held.
    let mut h = unsafe {
        let h = *POOL.head.get();
        if !h.is_null() {
            *POOL.head.get() = (*h).pool_next;
        }
        h
    };
    POOL_LOCK.unlock();
    if h.is_null() {
        h = crate::os::map(HEAP_BYTES) as *mut Heap;
        if h.is_null() {
            return h;
        }
        // SAFETY: fresh mapping, zero-filled (a zero block is a new block),
        // and heaps are never unmapped.
        unsafe { crate::stats::link_heap(h) };
    }
    // SAFETY: `h` is a private heap-sized region; every field is written below
    // before the heap is published through TLS.
    unsafe {
        let e = empty_page();
        for q in (*h).bins.iter_mut() {
            *q = ClassQueue { cur: e, npages: 0 };
        }
        (*h).tick = AtomicU32::new(0);
        (*h).lock_ticks = 0;
        (*h).resv_n = 0;
        (*h).span_bytes = 0;
        for s in (*h).spans.iter_mut() {
            *s = SpanList {
                head: null_mut(),
                len: 0,
            };
        }
        (*h).stack_len = [0; MID_SC_COUNT];
        (*h).hot = [0; ADAPT_ARR];
        (*h).probe_tick = [0; ADAPT_ARR];
        (*h).cooldown = [0; ADAPT_ARR];
        (*h).plant_carry = [0; PLANT_ARR];
        (*h).pool_next = null_mut();
    }
    h
}

/// Give a torn-down heap back to the pool.
///
/// # Safety
/// `h` owns no pages, stacks or spans any more and no thread uses it.
pub unsafe fn release(h: *mut Heap) {
    POOL_LOCK.lock();
    // SAFETY: pool lock held; `h` is dead.
    unsafe {
        (*h).pool_next = *POOL.head.get();
        *POOL.head.get() = h;
    }
    POOL_LOCK.unlock();
}

/// Bytes of per-thread state the B77 box adds (three byte arrays).
pub const B77_STATE_BYTES: usize = 3 * ADAPT_ARR;
