//! hz4: a multi-threaded malloc with per-thread owner pages, lock-free
//! remote frees and build-time experiment boxes (B57/B58/B77).
//!
//! Map of the crate (see docs/architecture.md for the paths through it):
//! - `config` — knob constants from `HZ4_DEFS_EXTRA` and the size geometry.
//! - `api` — the internal malloc/free/realloc API; `global` and `ffi` wrap it.
//! - `heap`, `thread`, `tls` — per-thread heap, its life cycle, the TLS word.
//! - `page`, `segment`, `os` — page lists, 4 MiB segments and the supply, mmap/madvise.
//! - `purge` — when free pages, spans and spare segments go back to the OS; `malloc_trim`.
//! - `refill`, `bins` — class slow path and the global bins (lock path).
//! - `mid` — mid fast paths and the owner local stack boxes (`mid::local_stack`).
//! - `large` — page spans and their caches; `huge` — huge mappings, their cache, big alignments.
//! - `free` — free dispatch and pointer validation; `fatal` — loud aborts.
//! - `stats`, `lockstat` — counter wiring to `hz4-stats`; `info` — mallinfo/malloc_stats figures.
#![deny(unsafe_op_in_unsafe_fn)]
#![allow(clippy::missing_safety_doc)]

pub mod api;
mod bins;
pub mod config;
pub mod debug;
mod fatal;
#[cfg(feature = "c-abi")]
pub mod ffi;
mod free;
mod global;
pub mod heap;
mod hot;
mod huge;
pub mod info;
mod large;
mod layout;
mod lockstat;
mod mid;
mod os;
pub mod page;
mod plant;
pub mod purge;
mod refill;
mod segment;
pub mod stats;
mod sync;
mod thread;
mod tls;

pub use global::Hz4;

#[cfg(test)]
#[path = "../knobs.rs"]
#[allow(dead_code)]
mod knob_table;
