//! The increment and dump paths must not allocate: they run inside malloc.
//! A counting global allocator records allocations made by this test's
//! thread while "armed"; everything the allocator will call must leave the
//! count at zero.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::os::fd::AsRawFd;

use hz4_stats::{
    dump_routed, dump_to_fd, dump_with, field, reset_all, AtShard, CountSink, DumpConfig, Key,
    OwnerBlock, LOCK, MID, SUPPLY,
};

struct Counting;

std::thread_local! {
    static ARMED: Cell<bool> = const { Cell::new(false) };
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
}

fn note_alloc() {
    let _ = ARMED.try_with(|a| {
        if a.get() {
            let _ = ALLOCS.try_with(|n| n.set(n.get() + 1));
        }
    });
}

// SAFETY: forwards every call unchanged to the system allocator; the only
// extra work touches const-initialised thread-locals without destructors.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        note_alloc();
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        // SAFETY: same contract as our caller's.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        note_alloc();
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc_zeroed(l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        note_alloc();
        // SAFETY: same contract as our caller's.
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

static CFG: DumpConfig = DumpConfig {
    b58: true,
    b77: true,
    lock_stats: true,
    supply: true,
    mem: true,
    build_line: Some("[HZ4_BUILD] no_alloc=1"),
};

#[test]
fn increments_and_dumps_do_not_allocate() {
    let devnull = std::fs::File::options()
        .write(true)
        .open("/dev/null")
        .unwrap();
    let fd = devnull.as_raw_fd();
    let good = format!(
        "{}/hz4-stats-noalloc-{}.log",
        std::env::temp_dir().display(),
        std::process::id()
    );
    let bad = "/nonexistent-hz4-dir/x.log";
    let mut lines = 0usize;
    let mut bytes = 0usize;

    ARMED.with(|a| a.set(true));
    for shard in 0..100 {
        MID.malloc_calls.inc(shard);
        MID.free_calls.add(shard, 2);
        MID.malloc_owner_local_stack_adaptive_hot_promote.inc(shard);
    }
    MID.malloc_calls.inc_here();
    AtShard(1).on_owner_drain(3);
    AtShard(1).on_lock_wait_sample(900, 256);
    AtShard(1).on_lock_hold_sample(90, 4);
    LOCK.lock_wait_ns_max.record(5);
    AtShard(0).on_resv_refill(15);
    // Owner blocks: linking and adding allocate nothing either.
    static BLOCK: OwnerBlock = OwnerBlock::new();
    BLOCK.link();
    BLOCK.add(Key::malloc_calls, 2);
    BLOCK.on_lock_hold_sample(7, 1);
    SUPPLY.supply_resv_hit.inc(0);
    let _ = hz4_stats::next_shard();
    let calls = field("malloc_calls").map(|f| f.get());
    dump_with(&CFG, &mut |l| {
        lines += 1;
        bytes += l.len();
    });
    dump_to_fd(&CFG, fd);
    dump_routed(&CFG, Some(good.as_bytes()), fd);
    dump_routed(&CFG, Some(bad.as_bytes()), fd);
    dump_routed(&CFG, None, fd);
    reset_all();
    ARMED.with(|a| a.set(false));

    let allocs = ALLOCS.with(|n| n.get());
    assert_eq!(
        allocs, 0,
        "the increment/dump paths allocated {allocs} times"
    );
    assert_eq!(calls, Some(103));
    assert_eq!(lines, 7);
    assert!(bytes > 2000);
    assert_eq!(std::fs::read_to_string(&good).unwrap().lines().count(), 7);
    std::fs::remove_file(&good).unwrap();

    // The detector itself works.
    ARMED.with(|a| a.set(true));
    let v: Vec<u8> = Vec::with_capacity(std::hint::black_box(10));
    ARMED.with(|a| a.set(false));
    drop(v);
    assert_eq!(ALLOCS.with(|n| n.get()), 1);
}
