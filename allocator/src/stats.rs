//! Bridge to the `hz4-stats` counters. With `HZ4_MID_STATS_B1=0` every
//! `count!` sits behind a constant `false`, so no counter code is compiled
//! into the allocator.

use crate::config::{knobs::BUILD_LINE, B58, B77, LOCK_STATS, STATS};
use crate::heap::Heap;

/// Which optional dump lines this build has.
static DUMP: hz4_stats::DumpConfig = hz4_stats::DumpConfig {
    b58: B58,
    b77: B77,
    lock_stats: LOCK_STATS,
    // The per-thread page reservation is always built.
    supply: true,
    mem: true,
    build_line: Some(BUILD_LINE),
};

use hz4_stats::OwnerBlock;

/// Owner blocks per heap: one with stats, none (zero bytes) without.
pub const BLOCKS: usize = STATS as usize;

/// Link the counter block of a newly mapped heap into the dump's list. The
/// block stays with the heap for life (heaps are recycled, never unmapped),
/// and the thread using the heap is its only writer.
///
/// # Safety
/// `h` is a freshly mapped heap that is never unmapped.
#[inline]
pub unsafe fn link_heap(h: *mut Heap) {
    if STATS {
        // SAFETY: caller's contract: the heap's memory lives for the rest of
        // the process, so the block is effectively 'static.
        let b: &'static OwnerBlock = unsafe { &*(*h).stats.as_ptr() };
        b.link();
    }
}

/// The counter block of heap `h`.
///
/// # Safety
/// `h` is a live heap (non-null) and the build has stats (`BLOCKS == 1`).
#[inline(always)]
pub unsafe fn block_of<'a>(h: *mut Heap) -> &'a OwnerBlock {
    debug_assert!(!h.is_null(), "stats::block_of: no heap");
    // SAFETY: caller's contract: `h` is live and `stats` has one element.
    unsafe { &*(*h).stats.as_ptr() }
}

/// A key counted by a thread that may have no heap: the heap's block, or
/// the static shared slot (atomic) without one.
///
/// # Safety
/// `h` is null or a live heap.
#[inline(always)]
pub unsafe fn add_maybe_heapless(h: *mut Heap, key: hz4_stats::Key, n: u64) {
    if h.is_null() {
        if let hz4_stats::Store::Counter(c) = key.store() {
            c.add_owned(hz4_stats::OwnedShard::SHARED, n);
        }
    } else {
        // SAFETY: caller's contract: a non-null `h` is live.
        unsafe { block_of(h) }.add(key, n);
    }
}

/// A new segment was mapped for the page supply.
#[inline(always)]
pub fn supply_new_segment() {
    if STATS {
        hz4_stats::SUPPLY.supply_resv_new_seg.inc_shared();
    }
}

/// Memory returned to the OS with `madvise`: one call covering `bytes`
/// (`[HZ4_MEM_STATS]` purge_calls/purged_bytes). `os::purge` calls it;
/// slow paths only.
#[inline]
pub(crate) fn note_purge(bytes: usize) {
    if STATS {
        hz4_stats::MEM.purge_calls.inc_shared();
        hz4_stats::MEM
            .purged_bytes
            .add_owned(hz4_stats::OwnedShard::SHARED, bytes as u64);
    }
}

/// A normal segment was unmapped (all its pages free).
#[inline]
pub(crate) fn note_segment_unmapped() {
    if STATS {
        hz4_stats::MEM.segments_unmapped.inc_shared();
    }
}

/// The supply went past its dirty bound and purged at once.
#[inline]
pub(crate) fn note_dirty_trim() {
    if STATS {
        hz4_stats::MEM.dirty_trims.inc_shared();
    }
}

/// A huge malloc was served from the huge cache.
#[inline]
pub(crate) fn note_huge_cache_hit() {
    if STATS {
        hz4_stats::MEM.huge_cache_hit.inc_shared();
    }
}

/// Mid mallocs that returned null (not a dump key; part of `malloc_calls`).
static MID_MALLOC_FAILED: hz4_stats::ShardedCounter = hz4_stats::ShardedCounter::new();

/// A mid malloc returned null.
#[cold]
pub fn mid_malloc_failed() {
    if STATS {
        MID_MALLOC_FAILED.inc_shared();
    }
}

/// Owner frees of mid classes above `HZ4_MID_OWNER_LOCAL_STACK_SC_MAX` (not
/// a dump key; they go to the page list without being stack overflows).
static MID_FREE_UNSTACKED: hz4_stats::ShardedCounter = hz4_stats::ShardedCounter::new();

/// An owner free of a class the local stack does not cover.
#[cold]
pub fn mid_free_unstacked() {
    if STATS {
        MID_FREE_UNSTACKED.inc_shared();
    }
}

/// Fill in the derived counts. Every mid malloc ends in
/// exactly one of: a stack hit, an owner-page pop (`malloc_owner_fast`), or
/// null; every mid free in exactly one of: the page list, the local stack,
/// the remote queue, or the locked push. Deriving the totals saves two
/// increments per malloc/free pair on the hot paths. Runs before every dump
/// (and tests call it before reading the totals).
pub fn refresh_derived() {
    if STATS {
        use hz4_stats::Key;
        Key::malloc_calls.set(
            Key::malloc_owner_local_stack_hit.total()
                + Key::malloc_owner_fast.total()
                + MID_MALLOC_FAILED.get(),
        );
        Key::free_calls.set(
            Key::free_owner_local.total()
                + Key::free_owner_local_stack_hit.total()
                + Key::free_owner_remote.total()
                + Key::free_locked.total(),
        );
        // With the stack built, every owner free to the page list of a
        // stacked class is one the stack did not take (full, B58, B77).
        let overflow = if crate::config::B57 {
            Key::free_owner_local
                .total()
                .saturating_sub(MID_FREE_UNSTACKED.get())
        } else {
            0
        };
        Key::free_owner_local_stack_overflow.set(overflow);
        // Levels, not events: read from the OS-layer accounting.
        Key::mapped_bytes.set(crate::os::mapped_bytes() as u64);
        Key::committed_bytes.set(crate::os::committed_bytes() as u64);
    }
}

/// Register the one-shot exit dump (nothing without stats).
pub fn register_exit_dump() {
    if STATS {
        hz4_stats::set_pre_dump(refresh_derived);
        hz4_stats::register_atexit(&DUMP);
    }
}

/// Dump the counters now (nothing without stats).
pub fn dump_now() {
    if STATS {
        hz4_stats::dump(&DUMP);
    }
}

/// Count an event of the calling thread in its heap's block:
/// `count!(heap, key)` or `count!(heap, key, n)`, `key` any counter key of
/// any line (`hz4_stats::Key`). One `add` to a constant offset of the heap.
/// `heap` must be the calling thread's live heap (never null); a site that
/// may run without a heap calls `add_maybe_heapless` instead.
macro_rules! count {
    ($h:expr, $key:ident) => {
        $crate::stats::count!($h, $key, 1u64)
    };
    ($h:expr, $key:ident, $n:expr) => {{
        if $crate::config::STATS {
            // SAFETY: every call site passes the calling thread's live heap.
            #[allow(unused_unsafe)]
            let b = unsafe { $crate::stats::block_of($h) };
            b.add(hz4_stats::Key::$key, $n);
        }
    }};
}

/// Count a multi-key event (a `hz4_stats::CountSink` method) of the
/// calling thread in its heap's block: `count_event!(heap, on_owner_drain, n)`.
macro_rules! count_event {
    ($h:expr, $event:ident $(, $arg:expr)*) => {{
        if $crate::config::STATS {
            // SAFETY: every call site passes the calling thread's live heap.
            #[allow(unused_unsafe)]
            let b = unsafe { $crate::stats::block_of($h) };
            hz4_stats::CountSink::$event(b $(, $arg)*);
        }
    }};
}
pub(crate) use {count, count_event};
