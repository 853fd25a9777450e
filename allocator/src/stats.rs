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
    build_line: Some(BUILD_LINE),
};

pub use hz4_stats::OwnedShard;

/// Counter slot for a newly mapped heap: owned by the heap for life (heaps
/// are recycled, never unmapped), so each thread using it is the slot's
/// only writer and increments need no locked instruction.
#[inline]
pub fn claim_shard() -> OwnedShard {
    if STATS {
        hz4_stats::claim_shard()
    } else {
        OwnedShard::SHARED
    }
}

/// Counter slot of heap `h` (the shared, atomic slot for a thread without a heap).
///
/// # Safety
/// `h` is null or a live heap.
#[inline(always)]
pub unsafe fn shard_of(h: *mut Heap) -> OwnedShard {
    if h.is_null() {
        OwnedShard::SHARED
    } else {
        // SAFETY: caller's contract: a non-null `h` is a live heap.
        unsafe { (*h).shard }
    }
}

/// A new segment was mapped for the page supply.
#[inline(always)]
pub fn supply_new_segment() {
    if STATS {
        hz4_stats::SUPPLY.supply_resv_new_seg.inc_shared();
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
        let m = &hz4_stats::MID;
        m.malloc_calls.set(
            m.malloc_owner_local_stack_hit.get()
                + m.malloc_owner_fast.get()
                + MID_MALLOC_FAILED.get(),
        );
        m.free_calls.set(
            m.free_owner_local.get()
                + m.free_owner_local_stack_hit.get()
                + m.free_owner_remote.get()
                + m.free_locked.get(),
        );
        // With the stack built, every owner free to the page list of a
        // stacked class is one the stack did not take (full, B58, B77).
        let overflow = if crate::config::B57 {
            m.free_owner_local
                .get()
                .saturating_sub(MID_FREE_UNSTACKED.get())
        } else {
            0
        };
        m.free_owner_local_stack_overflow.set(overflow);
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

/// Increment a `[HZ4_MID_STATS_B1]` counter of the main, B58 or B77 line:
/// `count!(heap, key)` or `count!(heap, key, n)`.
macro_rules! count {
    ($h:expr, $field:ident) => {
        $crate::stats::count!($h, $field, 1u64)
    };
    ($h:expr, $field:ident, $n:expr) => {{
        if $crate::config::STATS {
            // SAFETY: every call site passes null or the calling thread's live heap.
            #[allow(unused_unsafe)]
            let shard = unsafe { $crate::stats::shard_of($h) };
            hz4_stats::MID.$field.add_owned(shard, $n);
        }
    }};
}

/// Increment a `[HZ4_MID_LOCK_STATS]` counter (only with lock-time stats).
macro_rules! count_lock {
    ($h:expr, $field:ident, $n:expr) => {{
        if $crate::config::LOCK_STATS {
            // SAFETY: every call site passes null or the calling thread's live heap.
            #[allow(unused_unsafe)]
            let shard = unsafe { $crate::stats::shard_of($h) };
            hz4_stats::LOCK.$field.add_owned(shard, $n);
        }
    }};
}

/// Increment a page-supply (`supply_resv_*`) counter.
macro_rules! count_supply {
    ($h:expr, $field:ident, $n:expr) => {{
        if $crate::config::STATS {
            // SAFETY: every call site passes null or the calling thread's live heap.
            #[allow(unused_unsafe)]
            let shard = unsafe { $crate::stats::shard_of($h) };
            hz4_stats::SUPPLY.$field.add_owned(shard, $n);
        }
    }};
}
pub(crate) use {count, count_lock, count_supply};
