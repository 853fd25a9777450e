//! The field list: every key of every dump line, declared once.
//!
//! Lines, tags and key order follow the reference C allocator's dumps
//! (`fixtures/hz4c/*.log` in the repository) byte for byte, so both
//! allocators' logs go through the same tools; `[HZ4_MEM_STATS]` is hz4's
//! own addition. `counter` keys are monotonic event counts
//! ([`ShardedCounter`] plus the owners' [`OwnerBlock`](crate::OwnerBlock)s);
//! `max` keys are running maxima ([`MaxCounter`]).
//! Ratios are left to the analyzer. docs/counters.md documents each key;
//! a test checks it lists exactly these keys.
//!
//! To add a key: add one row below (in the position the reference prints
//! it), a row to docs/counters.md, and increment it in the allocator.

use crate::counter::{MaxCounter, ShardedCounter};
use crate::dump::DumpConfig;
use crate::linebuf::{LINE_CAP, U64_MAX_DIGITS};

/// The dump lines, in the order they are printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Line {
    /// Line 1, `[HZ4_MID_STATS_B1]`: the mid malloc/free paths. Always printed.
    Main,
    /// Line 2, `[HZ4_MID_STATS_B1]`: B58 remote gate of the owner local stack.
    B58,
    /// Line 3, `[HZ4_MID_STATS_B1]`: B77 adaptive owner local stack.
    B77,
    /// Line 4, `[HZ4_MID_LOCK_STATS]`: lock path (`HZ4_MID_LOCK_TIME_STATS`).
    Lock,
    /// Line 5, `[HZ4_MID_STATS_B1]`: page reservation supply.
    Supply,
    /// Line 6, `[HZ4_MEM_STATS]`: memory held from the OS, purges, the huge
    /// cache (hz4's own line; the reference allocator has none).
    Mem,
}

impl Line {
    /// All lines in dump order.
    pub const ALL: [Line; 6] = [
        Line::Main,
        Line::B58,
        Line::B77,
        Line::Lock,
        Line::Supply,
        Line::Mem,
    ];

    /// The line's tag, as printed at its start.
    pub const fn tag(self) -> &'static str {
        match self {
            Line::Lock => "[HZ4_MID_LOCK_STATS]",
            Line::Mem => "[HZ4_MEM_STATS]",
            Line::Main | Line::B58 | Line::B77 | Line::Supply => "[HZ4_MID_STATS_B1]",
        }
    }

    /// Whether a dump with `cfg` prints this line.
    pub const fn enabled(self, cfg: &DumpConfig) -> bool {
        match self {
            Line::Main => true,
            Line::B58 => cfg.b58,
            Line::B77 => cfg.b77,
            Line::Lock => cfg.lock_stats,
            Line::Supply => cfg.supply,
            Line::Mem => cfg.mem,
        }
    }
}

/// What a key holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Monotonic event count (sharded; summed at dump time).
    Counter,
    /// Largest value seen (`*_max`).
    Max,
}

impl Kind {
    /// `"counter"` or `"max"`, as in docs/counters.md.
    pub const fn name(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Max => "max",
        }
    }
}

/// One row of [`KEYS`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyInfo {
    /// The line the key is printed on.
    pub line: Line,
    /// The key, exactly as printed before `=`.
    pub key: &'static str,
    /// Counter or max.
    pub kind: Kind,
    /// One-line meaning.
    pub doc: &'static str,
}

/// Where a key's process-wide part lives: its field in [`MID`], [`LOCK`],
/// [`SUPPLY`] or [`MEM`].
#[derive(Clone, Copy)]
pub enum Store {
    /// A `counter` key: the static sharded counter.
    Counter(&'static ShardedCounter),
    /// A `max` key: the one process-wide maximum.
    Max(&'static MaxCounter),
}

/// Number of keys (all lines): the length of [`KEYS`] and of an
/// [`OwnerBlock`](crate::OwnerBlock)'s counts.
pub const KEY_COUNT: usize = KEYS.len();

impl Key {
    /// The key's row in [`KEYS`].
    pub const fn info(self) -> &'static KeyInfo {
        &KEYS[self as usize]
    }

    /// Counter or max.
    pub const fn kind(self) -> Kind {
        self.info().kind
    }

    /// The key as printed.
    pub const fn name(self) -> &'static str {
        self.info().key
    }

    /// The value a dump prints: for a counter, the static shards plus every
    /// linked owner block; for a max, the maximum. Concurrent increments may
    /// or may not be included; once writers have stopped it is exact.
    pub fn total(self) -> u64 {
        match self.store() {
            Store::Counter(c) => c.get().wrapping_add(crate::block::blocks_sum(self)),
            Store::Max(m) => m.get(),
        }
    }

    /// Makes [`total`](Self::total) return `v` (tests, replays, and keys
    /// derived at dump time): zero in every owner block, `v` in the static
    /// part. Not atomic against concurrent increments.
    pub fn set(self, v: u64) {
        match self.store() {
            Store::Counter(c) => {
                crate::block::blocks_clear(self);
                c.set(v);
            }
            Store::Max(m) => m.set(v),
        }
    }
}

/// A key found by [`field`]: reads and writes its dump value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FieldRef(pub Key);

impl FieldRef {
    /// Current dump value ([`Key::total`]).
    pub fn get(self) -> u64 {
        self.0.total()
    }

    /// Overwrites the dump value ([`Key::set`]).
    pub fn set(self, v: u64) {
        self.0.set(v)
    }

    /// Counter or max.
    pub fn kind(self) -> Kind {
        self.0.kind()
    }
}

/// Looks a key up by name (any line). `None` for unknown keys.
pub fn field(name: &str) -> Option<FieldRef> {
    Key::from_name(name).map(FieldRef)
}

stat_fields! {
    /// Mid-path counters: dump lines 1 (always), 2 (B58) and 3 (B77), all
    /// tagged `[HZ4_MID_STATS_B1]`.
    MidStats MID {
        Main {
            counter malloc_calls: "Calls into the mid-size malloc path.";
            counter malloc_obj_cache_hit: "Mid mallocs served from the reference allocator's per-thread object cache.";
            counter malloc_tls_hit: "Mid mallocs served from the reference allocator's TLS page hint.";
            counter malloc_alloc_cache_hit: "Mid mallocs served from the thread's alloc cache (objects staged by an alloc run or a free-batch refill).";
            counter malloc_free_batch_hit: "Mid mallocs whose object came from a free-batch refill.";
            counter malloc_free_batch_refill: "Refills of the thread's alloc cache from its free batch.";
            counter malloc_free_batch_refill_objs: "Objects moved by those free-batch refills.";
            counter malloc_alloc_cache_refill: "Refills of the alloc cache from a page (outside the free batch).";
            counter malloc_alloc_cache_refill_objs: "Objects moved by those alloc-cache refills.";
            counter malloc_owner_fast: "Mid mallocs served from an owned page's local free list without the lock.";
            counter malloc_owner_drain: "Owner drains of a page's remote-free queue on the malloc path.";
            counter malloc_owner_drain_objs: "Objects taken back by those owner drains.";
            counter malloc_lock_burst_calls: "Reference lock-burst refills (several objects per lock hold).";
            counter malloc_lock_burst_objs: "Objects taken by those lock bursts.";
            counter malloc_lock_path: "Mid mallocs that fell through to the locked slow path.";
            counter malloc_st_local_stack_hit: "Mid mallocs served from the reference single-thread local stack.";
            counter malloc_owner_local_stack_hit: "Pops from the owner local stack (B57) that returned an object.";
            counter malloc_owner_local_stack_stale_remote: "Owner-local-stack pops that found an entry whose page had pending remote frees (entry dropped).";
            counter malloc_owner_local_stack_stale_unowned: "Owner-local-stack pops that found an entry whose page is no longer owned by this thread (entry dropped).";
            counter malloc_owner_local_stack_sc_skip: "Mid mallocs that bypassed the owner local stack because their size class is not stacked.";
            counter malloc_bin_hit: "Lock-path mallocs that found a page with free objects in the size-class bin.";
            counter malloc_bin_miss: "Lock-path mallocs that found no usable page in the bin.";
            counter malloc_page_create: "New mid pages created for a size class.";
            counter malloc_page_create_suppress_retry: "Reference page-create suppression: retries instead of creating a page.";
            counter malloc_page_create_suppress_hit: "Reference page-create suppression: retries that found an object.";
            counter free_calls: "Calls into the mid-size free path.";
            counter free_obj_cache_fast: "Mid frees absorbed by the reference per-thread object cache.";
            counter free_active_owner_hit: "Reference active-owner check: free by the page's active owner.";
            counter free_active_owner_miss: "Reference active-owner check: free by another thread.";
            counter free_tls_fast: "Mid frees absorbed by the reference TLS fast path.";
            counter free_owner_local: "Frees by the owning thread put straight on the page's local free list.";
            counter free_owner_remote: "Frees by a non-owner thread pushed to the owner's remote queue.";
            counter free_locked: "Mid frees that took the page lock.";
            counter free_st_local_stack_hit: "Frees pushed on the reference single-thread local stack.";
            counter free_st_local_stack_overflow: "Frees that found the reference single-thread local stack full.";
            counter free_owner_local_stack_hit: "Owner frees pushed on the owner local stack (B57).";
            counter free_owner_local_stack_overflow: "Owner frees that found the owner local stack full (fell back to the page list).";
            counter free_batch_enq: "Objects appended to the thread's free batch.";
            counter free_batch_flush: "Flushes of the free batch back to pages.";
            counter free_batch_flush_objs: "Objects returned to pages by those flushes.";
        }
        B58 {
            counter malloc_owner_local_stack_pop_gated_remote: "Owner-local-stack pops refused because the entry's page has pending remote frees (B58 gate).";
            counter free_owner_local_stack_push_gated_remote: "Owner-local-stack pushes refused because the page has pending remote frees (B58 gate).";
        }
        B77 {
            counter malloc_owner_local_stack_adaptive_push_skip_cold: "Malloc (lock) path: pushes of extra objects to the owner local stack skipped because the size class is cold (not a probe tick).";
            counter malloc_owner_local_stack_adaptive_push_skip_cooldown: "Malloc (lock) path: pushes of extra objects to the owner local stack skipped during the size class's cooldown.";
            counter malloc_owner_local_stack_adaptive_hot_promote: "Owner-hit pops that boost the size class's hot score (counted even when hot is already 255).";
            counter malloc_owner_local_stack_adaptive_hot_reset: "Reset events (hot = 0, cooldown armed) after a stale or gated pop (counted even when hot was already 0).";
            counter free_owner_local_stack_adaptive_push_skip_cold: "Free path: owner-local-stack pushes skipped because the size class is cold (not a probe tick).";
            counter free_owner_local_stack_adaptive_push_skip_cooldown: "Free path: owner-local-stack pushes skipped during the size class's cooldown.";
        }
    }

    /// Lock-path statistics: dump line 4, `[HZ4_MID_LOCK_STATS]`. Times and
    /// scan steps are sampled (1 in 2^`HZ4_MID_LOCK_TIME_STATS_SAMPLE_SHIFT`
    /// lock entries); `lock_enter` and the prelock/inlock counts are not.
    LockStats LOCK {
        Lock {
            counter lock_enter: "Acquisitions of a mid size-class lock.";
            counter lock_wait_samples: "Sampled acquisitions whose wait time was measured.";
            counter lock_wait_ns_sum: "Total wait time of the sampled acquisitions, ns.";
            max lock_wait_ns_max: "Longest sampled wait for the lock, ns.";
            counter lock_contended_samples: "Sampled waits of at least HZ4_MID_LOCK_TIME_STATS_CONTENDED_NS (default 256 ns).";
            counter lock_hold_samples: "Sampled lock holds whose duration was measured.";
            counter lock_hold_ns_sum: "Total duration of the sampled lock holds, ns.";
            max lock_hold_ns_max: "Longest sampled lock hold, ns.";
            counter hold_binscan_steps_sum: "Bin entries examined during sampled lock holds.";
            max hold_binscan_steps_max: "Most bin entries examined in one sampled lock hold.";
            counter hold_page_create_calls: "Page creations inside sampled lock holds.";
            counter hold_page_create_ns_sum: "Time spent creating those pages, ns.";
            counter prelock_alloc_run_hit: "Before taking the lock: alloc-run attempts that got objects.";
            counter prelock_alloc_run_miss: "Before taking the lock: alloc-run attempts that got none.";
            counter prelock_free_batch_refill_calls: "Before taking the lock: refills from the thread's free batch.";
            counter prelock_free_batch_refill_objs: "Objects moved by those pre-lock refills.";
            counter inlock_remote_drain_calls: "Remote-queue drains done while holding the lock.";
            counter inlock_remote_drain_objs: "Objects taken back by those in-lock drains.";
        }
    }

    /// Page-supply statistics: dump line 5, `[HZ4_MID_STATS_B1]`, printed
    /// when the reservation supply is built (always, in this allocator).
    SupplyStats SUPPLY {
        Supply {
            counter supply_resv_hit: "Pages handed out from the page reservation.";
            counter supply_resv_refill: "Refills of the empty page reservation.";
            counter supply_resv_pages: "Pages added to the reservation by those refills.";
            counter supply_resv_new_seg: "Segments mapped from the OS to refill the reservation.";
        }
    }

    /// Memory statistics: dump line 6, `[HZ4_MEM_STATS]`, printed when the
    /// build has it (hz4 stats builds). `mapped_bytes` and `committed_bytes`
    /// are levels filled in just before the dump, not event counts.
    MemStats MEM {
        Mem {
            counter mapped_bytes: "Bytes the allocator has mapped from the OS at dump time (segments, huge objects, metadata).";
            counter committed_bytes: "Of those, bytes not purged (or used again since their purge) at dump time: an upper bound of the allocator's resident memory.";
            counter purge_calls: "madvise calls that returned free memory to the OS.";
            counter purged_bytes: "Bytes covered by those calls.";
            counter segments_unmapped: "Normal segments unmapped because all their pages were free.";
            counter huge_cache_hit: "Huge mallocs served from the cache of freed huge mappings (no mmap).";
            counter dirty_trims: "Purges run at once by a give that left more free committed memory in the segment supply than the dirty bound (HZ4_DIRTY_MIN_MB, HZ4_DIRTY_PCT).";
        }
    }
}

/// Length of the longest line the dump can produce (tag, every key with a
/// 20-digit value, newline). Checked against the line buffer at compile
/// time below and again by a test.
pub const MAX_LINE_LEN: usize = {
    let mut worst = 0;
    let mut l = 0;
    while l < Line::ALL.len() {
        let line = Line::ALL[l];
        let mut len = line.tag().len() + 1; // + '\n'
        let mut k = 0;
        while k < KEYS.len() {
            if KEYS[k].line as u8 == line as u8 {
                len += 1 + KEYS[k].key.len() + 1 + U64_MAX_DIGITS; // " key=value"
            }
            k += 1;
        }
        if len > worst {
            worst = len;
        }
        l += 1;
    }
    worst
};

const _: () = assert!(
    MAX_LINE_LEN <= LINE_CAP,
    "a dump line can overflow the line buffer"
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linebuf::LineBuf;

    #[test]
    fn keys_are_unique_and_found() {
        let mut seen = std::collections::HashSet::new();
        for k in KEYS {
            assert!(seen.insert(k.key), "duplicate key {}", k.key);
            let f = field(k.key).expect("key not found by field()");
            assert_eq!(f.kind(), k.kind, "{}", k.key);
            assert!(!k.doc.is_empty());
        }
        assert!(field("no_such_key").is_none());
        // 40 + 2 + 6 + 18 + 4 + 7.
        assert_eq!(KEYS.len(), 77);
    }

    #[test]
    fn max_keys_are_the_three_maxima() {
        let maxima: Vec<_> = KEYS
            .iter()
            .filter(|k| k.kind == Kind::Max)
            .map(|k| k.key)
            .collect();
        assert_eq!(
            maxima,
            [
                "lock_wait_ns_max",
                "lock_hold_ns_max",
                "hold_binscan_steps_max"
            ]
        );
        for k in KEYS {
            assert_eq!(k.key.ends_with("_max"), k.kind == Kind::Max, "{}", k.key);
        }
    }

    #[test]
    fn keys_are_grouped_by_line_in_dump_order() {
        let order: Vec<Line> = KEYS.iter().map(|k| k.line).collect();
        let mut dedup = order.clone();
        dedup.dedup();
        assert_eq!(dedup, Line::ALL);
    }

    #[test]
    fn worst_case_line_fits() {
        // Build the longest line for real: all values u64::MAX.
        let mut worst = 0;
        for line in Line::ALL {
            let mut buf = LineBuf::<{ 2 * LINE_CAP }>::new();
            buf.push(line.tag().as_bytes());
            for k in KEYS.iter().filter(|k| k.line == line) {
                buf.push_kv(k.key, u64::MAX);
            }
            buf.push(b"\n");
            assert!(!buf.truncated());
            worst = worst.max(buf.len());
        }
        assert_eq!(worst, MAX_LINE_LEN);
        assert!(worst <= LINE_CAP, "worst line {worst} B > {LINE_CAP} B");
        // Line 1 is the long one: 19 B tag + 40 keys (about 1.3 KB of
        // names) + 40 × 20 digits = 1774 B with the newline.
        assert_eq!(worst, 1774);
    }
}
