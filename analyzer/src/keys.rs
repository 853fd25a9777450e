//! Counter names: the ones the rules need, and an interning table so the
//! streaming parser can refer to every key by a small integer.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// `[HZ4_MID_STATS_B1]` counters the work order requires for Stage A.
pub const STAGE_A_B1: [&str; 9] = [
    "malloc_owner_local_stack_hit",
    "malloc_owner_local_stack_stale_remote",
    "malloc_owner_local_stack_stale_unowned",
    "malloc_owner_local_stack_pop_gated_remote",
    "free_owner_local_stack_hit",
    "free_owner_local_stack_overflow",
    "free_owner_local_stack_push_gated_remote",
    "malloc_lock_path",
    "free_owner_remote",
];

/// `[HZ4_MID_LOCK_STATS]` counters the work order requires for Stage A.
pub const STAGE_A_LOCK: [&str; 3] = [
    "lock_enter",
    "inlock_remote_drain_calls",
    "inlock_remote_drain_objs",
];

/// The six B77 adaptive counters the mechanism checks need.
pub const ADAPTIVE: [&str; 6] = [
    "malloc_owner_local_stack_adaptive_push_skip_cold",
    "malloc_owner_local_stack_adaptive_push_skip_cooldown",
    "malloc_owner_local_stack_adaptive_hot_promote",
    "malloc_owner_local_stack_adaptive_hot_reset",
    "free_owner_local_stack_adaptive_push_skip_cold",
    "free_owner_local_stack_adaptive_push_skip_cooldown",
];

/// Call counts used as denominators by the mechanism checks.
pub const CALLS: [&str; 2] = ["malloc_calls", "free_calls"];

/// Stage A numerator, part 1.
pub const STALE_REMOTE: &str = "malloc_owner_local_stack_stale_remote";
/// Stage A numerator, part 2.
pub const POP_GATED_REMOTE: &str = "malloc_owner_local_stack_pop_gated_remote";
/// Stage A denominator.
pub const STACK_HIT: &str = "malloc_owner_local_stack_hit";
/// Mid malloc calls.
pub const MALLOC_CALLS: &str = "malloc_calls";
/// Mid free calls.
pub const FREE_CALLS: &str = "free_calls";
/// Adaptive hot promotions.
pub const HOT_PROMOTE: &str = "malloc_owner_local_stack_adaptive_hot_promote";
/// Adaptive hot resets.
pub const HOT_RESET: &str = "malloc_owner_local_stack_adaptive_hot_reset";

/// Every key the rules look at; these are interned first, so their ids are
/// their positions here.
pub fn tracked() -> impl Iterator<Item = &'static str> {
    STAGE_A_B1
        .iter()
        .chain(STAGE_A_LOCK.iter())
        .chain(ADAPTIVE.iter())
        .chain(CALLS.iter())
        .copied()
}

/// Number of tracked keys.
pub const N_TRACKED: usize = STAGE_A_B1.len() + STAGE_A_LOCK.len() + ADAPTIVE.len() + CALLS.len();

/// Id of the Stage A denominator in every [`KeyTable`].
pub const ID_STACK_HIT: u32 = 0;
/// Id of `malloc_owner_local_stack_stale_remote` in every [`KeyTable`].
pub const ID_STALE_REMOTE: u32 = 1;
/// Id of `malloc_owner_local_stack_pop_gated_remote` in every [`KeyTable`].
pub const ID_POP_GATED_REMOTE: u32 = 3;

/// True for keys of the Stage A required list.
pub fn is_stage_a_key(k: &str) -> bool {
    STAGE_A_B1.contains(&k) || STAGE_A_LOCK.contains(&k)
}

/// A small multiply-rotate hasher: keys are short ASCII words from our own
/// logs, so hash flooding is not a concern and SipHash would dominate the
/// parse time.
#[derive(Default, Clone, Copy)]
pub struct WordHasher(u64);

impl Hasher for WordHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        const K: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut h = self.0;
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            h = (h.rotate_left(5) ^ u64::from_le_bytes(w)).wrapping_mul(K);
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            h = (h.rotate_left(5) ^ u64::from_le_bytes(w)).wrapping_mul(K);
        }
        self.0 = h ^ bytes.len() as u64;
    }
}

/// Interns counter names to dense `u32` ids.
#[derive(Debug, Clone)]
pub struct KeyTable {
    ids: HashMap<Box<[u8]>, u32, BuildHasherDefault<WordHasher>>,
    names: Vec<String>,
}

impl Default for KeyTable {
    fn default() -> Self {
        Self::new()
    }
}

impl KeyTable {
    /// A table holding the tracked keys at ids `0..N_TRACKED`.
    pub fn new() -> Self {
        let mut t = KeyTable {
            ids: HashMap::default(),
            names: Vec::new(),
        };
        for k in tracked() {
            t.intern_str(k);
        }
        t
    }

    /// Id of an existing key.
    #[inline]
    pub fn get(&self, key: &[u8]) -> Option<u32> {
        self.ids.get(key).copied()
    }

    /// Id of `key`, adding it when new. The caller has checked it is UTF-8.
    pub fn intern_str(&mut self, key: &str) -> u32 {
        if let Some(id) = self.get(key.as_bytes()) {
            return id;
        }
        let id = self.names.len() as u32;
        self.ids.insert(key.as_bytes().into(), id);
        self.names.push(key.to_owned());
        id
    }

    /// Name of an id.
    pub fn name(&self, id: u32) -> &str {
        &self.names[id as usize]
    }

    /// Number of keys interned so far.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Never true: the tracked keys are always present.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracked_ids_are_fixed() {
        let t = KeyTable::new();
        assert_eq!(t.name(ID_STACK_HIT), STACK_HIT);
        assert_eq!(t.name(ID_STALE_REMOTE), STALE_REMOTE);
        assert_eq!(t.name(ID_POP_GATED_REMOTE), POP_GATED_REMOTE);
        assert_eq!(t.len(), N_TRACKED);
    }

    #[test]
    fn intern_is_stable() {
        let mut t = KeyTable::new();
        let a = t.intern_str("x_new");
        assert_eq!(t.intern_str("x_new"), a);
        assert_eq!(t.get(b"x_new"), Some(a));
        assert_eq!(t.get(b"x_ne"), None);
    }
}
