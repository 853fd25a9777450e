//! Bridge to the `hz4-stats` counters. With `HZ4_MID_STATS_B1=0` every
//! `count!` expands to code behind a constant `false`, so no counter code
//! is compiled into the allocator.

/// Stats shard for a new thread's heap.
#[inline]
pub fn next_shard() -> usize {
    0
}

/// A new segment was mapped for the page supply.
#[inline(always)]
pub fn supply_new_segment() {}

/// Register the at-exit dump (no-op without stats).
pub fn register_exit_dump() {}

/// Dump the counters now (no-op without stats).
pub fn dump_now() {}

/// Increment a mid stats counter: `count!(heap, field)` or `count!(heap, field, n)`.
macro_rules! count {
    ($h:expr, $field:ident) => {{
        let _ = &$h;
    }};
    ($h:expr, $field:ident, $n:expr) => {{
        let _ = &$h;
        let _ = $n;
    }};
}
pub(crate) use count;
