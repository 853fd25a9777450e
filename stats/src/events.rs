//! Event-named helpers for the events that move more than one key.
//!
//! A single-key event is just `MID.<key>.inc(shard)`. Events that update a
//! count together with an object total, or a sum together with its maximum,
//! go through these helpers so a call site cannot update one half and forget
//! the other (and so the counter/max split stays in one place).

use crate::fields::{LockStats, MidStats, SupplyStats};

impl MidStats {
    /// The thread's alloc cache was refilled from its free batch with `objs`
    /// objects (`malloc_free_batch_refill`, `_objs`).
    #[inline]
    pub fn on_free_batch_refill(&self, shard: usize, objs: u64) {
        self.malloc_free_batch_refill.inc(shard);
        self.malloc_free_batch_refill_objs.add(shard, objs);
    }

    /// The alloc cache was refilled from a page with `objs` objects
    /// (`malloc_alloc_cache_refill`, `_objs`).
    #[inline]
    pub fn on_alloc_cache_refill(&self, shard: usize, objs: u64) {
        self.malloc_alloc_cache_refill.inc(shard);
        self.malloc_alloc_cache_refill_objs.add(shard, objs);
    }

    /// The owner drained its remote queue on the malloc path and got `objs`
    /// objects back (`malloc_owner_drain`, `_objs`).
    #[inline]
    pub fn on_owner_drain(&self, shard: usize, objs: u64) {
        self.malloc_owner_drain.inc(shard);
        self.malloc_owner_drain_objs.add(shard, objs);
    }

    /// The free batch was flushed, returning `objs` objects to their pages
    /// (`free_batch_flush`, `_objs`).
    #[inline]
    pub fn on_free_batch_flush(&self, shard: usize, objs: u64) {
        self.free_batch_flush.inc(shard);
        self.free_batch_flush_objs.add(shard, objs);
    }
}

impl LockStats {
    /// A sampled lock acquisition waited `wait_ns`; it counts as contended
    /// when `wait_ns >= contended_ns` (`lock_wait_samples`, `_ns_sum`,
    /// `_ns_max`, `lock_contended_samples`).
    #[inline]
    pub fn on_lock_wait_sample(&self, shard: usize, wait_ns: u64, contended_ns: u64) {
        self.lock_wait_samples.inc(shard);
        self.lock_wait_ns_sum.add(shard, wait_ns);
        self.lock_wait_ns_max.record(wait_ns);
        if wait_ns >= contended_ns {
            self.lock_contended_samples.inc(shard);
        }
    }

    /// A sampled lock hold lasted `hold_ns` and examined `binscan_steps`
    /// bin entries (`lock_hold_samples`, `_ns_sum`, `_ns_max`,
    /// `hold_binscan_steps_sum`, `_max`).
    #[inline]
    pub fn on_lock_hold_sample(&self, shard: usize, hold_ns: u64, binscan_steps: u64) {
        self.lock_hold_samples.inc(shard);
        self.lock_hold_ns_sum.add(shard, hold_ns);
        self.lock_hold_ns_max.record(hold_ns);
        self.hold_binscan_steps_sum.add(shard, binscan_steps);
        self.hold_binscan_steps_max.record(binscan_steps);
    }

    /// A page was created inside a sampled lock hold in `ns`
    /// (`hold_page_create_calls`, `_ns_sum`).
    #[inline]
    pub fn on_page_create_in_lock(&self, shard: usize, ns: u64) {
        self.hold_page_create_calls.inc(shard);
        self.hold_page_create_ns_sum.add(shard, ns);
    }

    /// Before taking the lock, a free-batch refill moved `objs` objects
    /// (`prelock_free_batch_refill_calls`, `_objs`).
    #[inline]
    pub fn on_prelock_free_batch_refill(&self, shard: usize, objs: u64) {
        self.prelock_free_batch_refill_calls.inc(shard);
        self.prelock_free_batch_refill_objs.add(shard, objs);
    }

    /// A remote queue was drained under the lock, returning `objs` objects
    /// (`inlock_remote_drain_calls`, `_objs`).
    #[inline]
    pub fn on_inlock_remote_drain(&self, shard: usize, objs: u64) {
        self.inlock_remote_drain_calls.inc(shard);
        self.inlock_remote_drain_objs.add(shard, objs);
    }
}

impl SupplyStats {
    /// The reservation was refilled with `pages` pages
    /// (`supply_resv_refill`, `supply_resv_pages`; `supply_resv_new_seg` is
    /// a separate event).
    #[inline]
    pub fn on_resv_refill(&self, shard: usize, pages: u64) {
        self.supply_resv_refill.inc(shard);
        self.supply_resv_pages.add(shard, pages);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_samples_update_sum_max_and_contended() {
        let l = Box::new(LockStats::new());
        l.on_lock_wait_sample(0, 100, 256);
        l.on_lock_wait_sample(1, 300, 256);
        l.on_lock_wait_sample(2, 256, 256);
        assert_eq!(l.lock_wait_samples.get(), 3);
        assert_eq!(l.lock_wait_ns_sum.get(), 656);
        assert_eq!(l.lock_wait_ns_max.get(), 300);
        assert_eq!(l.lock_contended_samples.get(), 2);
        l.on_lock_hold_sample(3, 50, 7);
        l.on_lock_hold_sample(4, 20, 9);
        assert_eq!(l.lock_hold_samples.get(), 2);
        assert_eq!(l.lock_hold_ns_sum.get(), 70);
        assert_eq!(l.lock_hold_ns_max.get(), 50);
        assert_eq!(l.hold_binscan_steps_sum.get(), 16);
        assert_eq!(l.hold_binscan_steps_max.get(), 9);
        l.on_page_create_in_lock(0, 1000);
        l.on_prelock_free_batch_refill(0, 8);
        l.on_inlock_remote_drain(0, 3);
        assert_eq!(l.hold_page_create_ns_sum.get(), 1000);
        assert_eq!(l.prelock_free_batch_refill_objs.get(), 8);
        assert_eq!(l.inlock_remote_drain_calls.get(), 1);
        l.reset();
        assert_eq!(l.lock_wait_ns_max.get(), 0);
        assert_eq!(l.lock_wait_samples.get(), 0);
    }

    #[test]
    fn mid_and_supply_pairs() {
        let m = Box::new(MidStats::new());
        m.on_free_batch_refill(0, 7);
        m.on_free_batch_refill(9, 3);
        m.on_owner_drain(1, 2);
        m.on_alloc_cache_refill(1, 4);
        m.on_free_batch_flush(5, 6);
        assert_eq!(m.malloc_free_batch_refill.get(), 2);
        assert_eq!(m.malloc_free_batch_refill_objs.get(), 10);
        assert_eq!(m.malloc_owner_drain_objs.get(), 2);
        assert_eq!(m.malloc_alloc_cache_refill_objs.get(), 4);
        assert_eq!(m.free_batch_flush.get(), 1);
        let s = Box::new(SupplyStats::new());
        s.on_resv_refill(0, 15);
        assert_eq!(
            (s.supply_resv_refill.get(), s.supply_resv_pages.get()),
            (1, 15)
        );
    }
}
