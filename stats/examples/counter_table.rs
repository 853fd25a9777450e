//! Prints the key table of docs/counters.md from `hz4_stats::KEYS`.
//!
//! `cargo run -p hz4-stats --example counter_table` — paste over the table
//! when keys change, keeping the filled-in "incremented at" cells. A test
//! (`tests/fixture_dump.rs`) fails when the doc and the field list disagree.

use hz4_stats::{Line, KEYS};

/// Reference-allocator paths hz4 does not have: they always print 0.
const NOT_APPLICABLE: &[&str] = &[
    "malloc_obj_cache_hit",
    "malloc_tls_hit",
    "malloc_lock_burst_calls",
    "malloc_lock_burst_objs",
    "malloc_st_local_stack_hit",
    "malloc_page_create_suppress_retry",
    "malloc_page_create_suppress_hit",
    "free_obj_cache_fast",
    "free_active_owner_hit",
    "free_active_owner_miss",
    "free_tls_fast",
    "free_st_local_stack_hit",
    "free_st_local_stack_overflow",
];

fn line_name(l: Line) -> &'static str {
    match l {
        Line::Main => "1 `[HZ4_MID_STATS_B1]`",
        Line::B58 => "2 `[HZ4_MID_STATS_B1]` (B58)",
        Line::B77 => "3 `[HZ4_MID_STATS_B1]` (B77)",
        Line::Lock => "4 `[HZ4_MID_LOCK_STATS]`",
        Line::Supply => "5 `[HZ4_MID_STATS_B1]` (supply)",
        Line::Mem => "6 `[HZ4_MEM_STATS]`",
    }
}

fn main() {
    println!("| line | key | kind | meaning | incremented at |");
    println!("|---|---|---|---|---|");
    for k in KEYS {
        let at = if NOT_APPLICABLE.contains(&k.key) {
            "not applicable (prints 0)"
        } else {
            "(wired by the allocator; see allocator/src/...)"
        };
        println!(
            "| {} | `{}` | {} | {} | {} |",
            line_name(k.line),
            k.key,
            k.kind.name(),
            k.doc,
            at
        );
    }
}
