//! Owner blocks: one private count per key for one owner (the allocator
//! embeds one in each per-thread heap).
//!
//! # Why a second kind of shard
//!
//! A [`ShardedCounter`](crate::ShardedCounter) keeps a key's shards
//! together: shard `i` of key `k` sits at `&STATIC.k + 64 * i`. An increment
//! must load the thread's shard index, bound-check it (the last slot is the
//! shared one, updated atomically), scale it and fetch the static's address
//! from the GOT before it can add: about six instructions in the allocator's
//! `free`, and a separate cache line per key. On the `main_r50` lane that
//! cost about 5 % of throughput (docs/benchmarks.md).
//!
//! An [`OwnerBlock`] turns the layout around: all keys of one owner are
//! contiguous, inside a structure the owner already holds in a register, so
//! an increment is one `add` to a constant offset. There is no fixed number
//! of blocks, so no owner ever has to share one and fall back to atomics:
//! every block is its owner's alone, and exactness needs only that.
//!
//! Blocks are linked once into a process-wide list and never unlinked (the
//! allocator never unmaps a heap; a recycled heap keeps its block and its
//! counts). A dump adds every linked block to the static part of each key
//! ([`Key::total`]). Increments of code without an owner block go to the
//! statics, whose shards stay what issue 4 describes.

use core::ptr;
use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, Ordering};

use crate::fields::{Key, Store, KEY_COUNT};

/// One owner's counts of every key, indexed by [`Key`].
///
/// Single writer: [`add`](Self::add) is a plain load and store, so a block is
/// exact only while one thread at a time writes it, with each hand-over
/// between threads ordered (a lock, or a release/acquire pair). Readers may
/// run at any time. `max` keys have a slot here but are never written
/// through blocks; their maximum is process-wide.
#[repr(C, align(64))]
pub struct OwnerBlock {
    counts: [AtomicU64; KEY_COUNT],
    next: AtomicPtr<OwnerBlock>,
    linked: AtomicBool,
}

impl OwnerBlock {
    /// A block at zero, not linked. All-zero bytes are this same state, so
    /// a block inside zero-filled `mmap` memory needs no initialisation.
    pub const fn new() -> Self {
        Self {
            counts: [const { AtomicU64::new(0) }; KEY_COUNT],
            next: AtomicPtr::new(ptr::null_mut()),
            linked: AtomicBool::new(false),
        }
    }

    /// Adds `n` to `key` (wrapping). Call only from the block's current
    /// owner (see the type's doc).
    #[inline(always)]
    pub fn add(&self, key: Key, n: u64) {
        // `key as usize < KEY_COUNT` by construction of `Key`: no panic, and
        // with a constant key the index is a constant offset.
        let c = &self.counts[key as usize];
        // Relaxed load and store: the owner is the only writer, so nothing
        // comes between them; readers need only an untorn u64.
        c.store(c.load(Ordering::Relaxed).wrapping_add(n), Ordering::Relaxed);
    }

    /// This block's count of `key`.
    pub fn get(&self, key: Key) -> u64 {
        // Relaxed: a snapshot of an independent count.
        self.counts[key as usize].load(Ordering::Relaxed)
    }

    /// Adds the block to the process-wide list read by dumps. Idempotent
    /// and lock-free; a block is never unlinked, hence `'static`.
    pub fn link(&'static self) {
        // AcqRel: exactly one caller wins the flag and pushes.
        if self.linked.swap(true, Ordering::AcqRel) {
            return;
        }
        let me = self as *const OwnerBlock as *mut OwnerBlock;
        let mut head = HEAD.load(Ordering::Acquire);
        loop {
            self.next.store(head, Ordering::Relaxed);
            // Release: `next` is visible to whoever reads the new head.
            // Push-only, so no ABA: a head we saw is never freed or reused.
            match HEAD.compare_exchange_weak(head, me, Ordering::Release, Ordering::Acquire) {
                Ok(_) => return,
                Err(now) => head = now,
            }
        }
    }

    /// Whether [`link`](Self::link) has been called.
    pub fn is_linked(&self) -> bool {
        self.linked.load(Ordering::Acquire)
    }

    fn clear(&self, key: Key) {
        self.counts[key as usize].store(0, Ordering::Relaxed);
    }
}

impl Default for OwnerBlock {
    fn default() -> Self {
        Self::new()
    }
}

/// Head of the list of linked blocks.
static HEAD: AtomicPtr<OwnerBlock> = AtomicPtr::new(ptr::null_mut());

/// Calls `f` on every linked block.
fn for_each_block(mut f: impl FnMut(&OwnerBlock)) {
    // Acquire: pairs with the Release of `link`, so each block's `next` is
    // the value stored before it was published.
    let mut p = HEAD.load(Ordering::Acquire);
    while !p.is_null() {
        // SAFETY: only `&'static OwnerBlock`s are ever linked (see `link`).
        let b = unsafe { &*p };
        f(b);
        p = b.next.load(Ordering::Relaxed);
    }
}

/// Sum of `key` over every linked block.
pub(crate) fn blocks_sum(key: Key) -> u64 {
    let mut sum = 0u64;
    for_each_block(|b| sum = sum.wrapping_add(b.get(key)));
    sum
}

/// Sets `key` to zero in every linked block.
pub(crate) fn blocks_clear(key: Key) {
    for_each_block(|b| b.clear(key));
}

/// Sets every key of every linked block to zero.
pub(crate) fn reset_blocks() {
    for_each_block(|b| b.counts.iter().for_each(|c| c.store(0, Ordering::Relaxed)));
}

/// Where an event's counts go: an [`OwnerBlock`] (its owner's plain
/// increments) or [`AtShard`] (atomic adds on the static shards). The
/// multi-key events are written once here, for both.
pub trait CountSink {
    /// Adds `n` to counter `key`.
    fn add(&self, key: Key, n: u64);

    /// Adds one to counter `key`.
    #[inline(always)]
    fn inc(&self, key: Key) {
        self.add(key, 1);
    }

    /// The alloc cache was refilled from the free batch with `objs` objects
    /// (`malloc_free_batch_refill`, `_objs`).
    #[inline]
    fn on_free_batch_refill(&self, objs: u64) {
        self.inc(Key::malloc_free_batch_refill);
        self.add(Key::malloc_free_batch_refill_objs, objs);
    }

    /// The alloc cache was refilled from a page with `objs` objects
    /// (`malloc_alloc_cache_refill`, `_objs`).
    #[inline]
    fn on_alloc_cache_refill(&self, objs: u64) {
        self.inc(Key::malloc_alloc_cache_refill);
        self.add(Key::malloc_alloc_cache_refill_objs, objs);
    }

    /// The owner drained a page's remote queue on the malloc path and got
    /// `objs` objects back (`malloc_owner_drain`, `_objs`).
    #[inline]
    fn on_owner_drain(&self, objs: u64) {
        self.inc(Key::malloc_owner_drain);
        self.add(Key::malloc_owner_drain_objs, objs);
    }

    /// The free batch was flushed, returning `objs` objects to their pages
    /// (`free_batch_flush`, `_objs`).
    #[inline]
    fn on_free_batch_flush(&self, objs: u64) {
        self.inc(Key::free_batch_flush);
        self.add(Key::free_batch_flush_objs, objs);
    }

    /// A sampled lock acquisition waited `wait_ns`; it counts as contended
    /// when `wait_ns >= contended_ns` (`lock_wait_samples`, `_ns_sum`,
    /// `_ns_max`, `lock_contended_samples`).
    #[inline]
    fn on_lock_wait_sample(&self, wait_ns: u64, contended_ns: u64) {
        self.inc(Key::lock_wait_samples);
        self.add(Key::lock_wait_ns_sum, wait_ns);
        crate::LOCK.lock_wait_ns_max.record(wait_ns);
        if wait_ns >= contended_ns {
            self.inc(Key::lock_contended_samples);
        }
    }

    /// A sampled lock hold lasted `hold_ns` and examined `binscan_steps` bin
    /// entries (`lock_hold_samples`, `_ns_sum`, `_ns_max`,
    /// `hold_binscan_steps_sum`, `_max`).
    #[inline]
    fn on_lock_hold_sample(&self, hold_ns: u64, binscan_steps: u64) {
        self.inc(Key::lock_hold_samples);
        self.add(Key::lock_hold_ns_sum, hold_ns);
        crate::LOCK.lock_hold_ns_max.record(hold_ns);
        self.add(Key::hold_binscan_steps_sum, binscan_steps);
        crate::LOCK.hold_binscan_steps_max.record(binscan_steps);
    }

    /// A page was created inside a sampled lock hold in `ns`
    /// (`hold_page_create_calls`, `_ns_sum`).
    #[inline]
    fn on_page_create_in_lock(&self, ns: u64) {
        self.inc(Key::hold_page_create_calls);
        self.add(Key::hold_page_create_ns_sum, ns);
    }

    /// Before taking the lock, a free-batch refill moved `objs` objects
    /// (`prelock_free_batch_refill_calls`, `_objs`).
    #[inline]
    fn on_prelock_free_batch_refill(&self, objs: u64) {
        self.inc(Key::prelock_free_batch_refill_calls);
        self.add(Key::prelock_free_batch_refill_objs, objs);
    }

    /// A remote queue was drained under the lock, returning `objs` objects
    /// (`inlock_remote_drain_calls`, `_objs`).
    #[inline]
    fn on_inlock_remote_drain(&self, objs: u64) {
        self.inc(Key::inlock_remote_drain_calls);
        self.add(Key::inlock_remote_drain_objs, objs);
    }

    /// The page reservation was refilled with `pages` pages
    /// (`supply_resv_refill`, `supply_resv_pages`).
    #[inline]
    fn on_resv_refill(&self, pages: u64) {
        self.inc(Key::supply_resv_refill);
        self.add(Key::supply_resv_pages, pages);
    }
}

impl CountSink for OwnerBlock {
    #[inline(always)]
    fn add(&self, key: Key, n: u64) {
        OwnerBlock::add(self, key, n);
    }
}

/// The static counters at shard `.0` (masked), updated with atomic adds:
/// for code without an owner block of its own. Adding to a `max` key does
/// nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AtShard(pub usize);

impl CountSink for AtShard {
    #[inline]
    fn add(&self, key: Key, n: u64) {
        if let Store::Counter(c) = key.store() {
            c.add(self.0, n);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fields::KEYS;

    // The list and the statics are process-wide and tests run in parallel:
    // each test here uses keys no other unit test of this crate touches
    // (free_obj_cache_fast, free_batch_enq, malloc_owner_drain*,
    // supply_resv_refill/pages, free_batch_flush*), and leaked blocks.

    #[test]
    fn zero_filled_memory_is_a_new_block() {
        // What the allocator relies on: a block inside zero-filled mmap
        // memory is usable without initialisation.
        let layout = std::alloc::Layout::new::<OwnerBlock>();
        assert_eq!(layout.align(), 64);
        // 76 counts + link + flag, padded to 64 B: the figure docs/counters.md gives.
        assert_eq!(layout.size(), 640);
        assert!(layout.size() >= KEYS.len() * 8 + 9);
        // SAFETY: non-zero-sized layout; the memory is leaked, so the block
        // lives for the rest of the process.
        let b: &'static OwnerBlock = unsafe {
            let p = std::alloc::alloc_zeroed(layout) as *const OwnerBlock;
            assert!(!p.is_null());
            &*p
        };
        assert!(!b.is_linked());
        assert!(KEYS
            .iter()
            .all(|k| b.get(Key::from_name(k.key).unwrap()) == 0));
        let before = Key::free_obj_cache_fast.total();
        b.link();
        b.add(Key::free_obj_cache_fast, 2);
        assert_eq!(Key::free_obj_cache_fast.total() - before, 2);
    }

    #[test]
    fn linked_blocks_add_up_and_link_is_idempotent() {
        let key = Key::free_batch_enq;
        let before = key.total();
        let blocks: Vec<&'static OwnerBlock> = (0..5)
            .map(|_| &*Box::leak(Box::new(OwnerBlock::new())))
            .collect();
        std::thread::scope(|s| {
            for (i, b) in blocks.iter().enumerate() {
                s.spawn(move || {
                    // Racing links, twice each: every block lands once.
                    b.link();
                    b.link();
                    for _ in 0..10_000 {
                        b.add(key, i as u64 + 1);
                    }
                });
            }
        });
        assert!(blocks.iter().all(|b| b.is_linked()));
        // 10_000 * (1 + 2 + 3 + 4 + 5).
        assert_eq!(key.total() - before, 150_000);
        let unlinked = Box::leak(Box::new(OwnerBlock::new()));
        unlinked.add(key, 7);
        assert_eq!(unlinked.get(key), 7);
        assert_eq!(
            key.total() - before,
            150_000,
            "unlinked blocks are not summed"
        );
        key.set(3);
        assert_eq!(key.total(), 3);
        assert!(blocks.iter().all(|b| b.get(key) == 0));
    }

    #[test]
    fn events_land_in_the_sink_they_are_given() {
        let b: &'static OwnerBlock = Box::leak(Box::new(OwnerBlock::new()));
        b.on_owner_drain(5);
        b.on_owner_drain(2);
        assert_eq!(b.get(Key::malloc_owner_drain), 2);
        assert_eq!(b.get(Key::malloc_owner_drain_objs), 7);
        b.on_resv_refill(15);
        assert_eq!(
            (
                b.get(Key::supply_resv_refill),
                b.get(Key::supply_resv_pages)
            ),
            (1, 15)
        );
        // Not linked: the process totals do not see it.
        let s = AtShard(3);
        let before = Key::free_batch_flush_objs.total();
        s.on_free_batch_flush(4);
        assert_eq!(Key::free_batch_flush_objs.total() - before, 4);
    }
}
