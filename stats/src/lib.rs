//! hz4-stats: sharded relaxed counters and one-shot exit dumps for the hz4
//! allocator (issue 4).
//!
//! Everything here may run inside `malloc`/`free` or from an `atexit`
//! handler: no heap allocation, no std facility that may call malloc, no
//! locks, no panics on the increment and dump paths; every counter is
//! `const`-constructed in a `static`.
//!
//! # Counters
//!
//! Four statics hold one `pub` field per dump key, named exactly like the
//! key:
//!
//! | static     | struct          | dump lines                                   |
//! |------------|-----------------|----------------------------------------------|
//! | [`MID`]    | [`MidStats`]    | line 1, line 2 (B58), line 3 (B77) — `[HZ4_MID_STATS_B1]` |
//! | [`LOCK`]   | [`LockStats`]   | line 4 — `[HZ4_MID_LOCK_STATS]`               |
//! | [`SUPPLY`] | [`SupplyStats`] | line 5 — `[HZ4_MID_STATS_B1]` `supply_resv_*` |
//! | [`MEM`]    | [`MemStats`]    | line 6 — `[HZ4_MEM_STATS]`                     |
//!
//! Monotonic counts are [`ShardedCounter`]s, the three `*_max` keys are
//! [`MaxCounter`]s. A key's dump value ([`Key::total`]) is its static
//! counter plus its count in every linked [`OwnerBlock`]:
//!
//! - an owner with long-lived per-thread state (the allocator's heap) embeds
//!   an [`OwnerBlock`], links it once, and adds to it with one plain
//!   instruction per event (the cheapest way; the type says why);
//! - code without one adds to the statics, on a shard it picked once
//!   ([`next_shard`], [`claim_shard`]) or through [`ShardedCounter::inc_here`].
//!
//! ```
//! use hz4_stats::{AtShard, CountSink, Key, OwnerBlock};
//! static BLOCK: OwnerBlock = OwnerBlock::new(); // in the allocator: inside a heap
//! BLOCK.link(); // once
//! BLOCK.add(Key::malloc_owner_fast, 1);
//! BLOCK.on_owner_drain(5); // multi-key events are CountSink methods
//! let shard = hz4_stats::next_shard(); // once per thread
//! hz4_stats::MID.malloc_lock_path.inc(shard);
//! AtShard(shard).on_resv_refill(8);
//! hz4_stats::LOCK.lock_wait_ns_max.record(1234);
//! assert_eq!(Key::malloc_owner_drain_objs.total(), 5);
//! ```
//!
//! # Keys
//!
//! The lists are declared once in `fields.rs`; [`KEYS`] is the ordered
//! `(line, key, kind, doc)` table generated from them, [`Key`] the enum of
//! the same keys, and [`field`] looks a key up by name. docs/counters.md documents every key.
//!
//! # Dumps
//!
//! [`DumpConfig`] says which optional lines are built in. [`register_atexit`]
//! (call it on first use; cheap afterwards) dumps once at exit; [`dump`] dumps
//! now (the allocator exports it as `hz4_stats_dump`). Output goes to stderr
//! or, with `HZ4_STATS_FILE=path`, is appended to that file.
//!
//! ```
//! static CFG: hz4_stats::DumpConfig = hz4_stats::DumpConfig {
//!     b58: true,
//!     b77: false,
//!     lock_stats: true,
//!     supply: true,
//!     mem: false,
//!     build_line: None,
//! };
//! let mut lines = 0;
//! hz4_stats::dump_with(&CFG, &mut |_line| lines += 1);
//! assert_eq!(lines, 4);
//! ```
//!
//! # atomic-counter
//!
//! `atomic_counter::RelaxedCounter` has no `const` constructor, so it cannot
//! be a shard of a `static` counter; see the [`counter`] module doc.

#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs, clippy::undocumented_unsafe_blocks)]

#[macro_use]
mod macros;

mod block;
pub mod counter;
mod dump;
mod fields;
mod linebuf;

pub use block::{AtShard, CountSink, OwnerBlock};
pub use counter::{
    claim_shard, current_shard, next_shard, release_shard, MaxCounter, OwnedShard, ShardedCounter,
    SHARDS,
};
#[doc(hidden)]
pub use dump::{atexit_registrations, dump_routed, OnceGate};
pub use dump::{
    dump, dump_to_fd, dump_with, register_atexit, set_pre_dump, DumpConfig, PATH_CAP,
    STATS_FILE_ENV,
};
pub use fields::{
    field, reset_all, FieldRef, Key, KeyInfo, Kind, Line, LockStats, MemStats, MidStats, Store,
    SupplyStats, KEYS, KEY_COUNT, LOCK, MAX_LINE_LEN, MEM, MID, SUPPLY,
};
pub use linebuf::LINE_CAP;
