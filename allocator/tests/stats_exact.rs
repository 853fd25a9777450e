//! Counters are exact: N threads do a known number of mid mallocs and frees,
//! some of them cross-thread, and the counter deltas must add up exactly.
//! In a build without `HZ4_MID_STATS_B1` the counters must not move at all
//! (no counter code is compiled in).

use std::sync::Mutex;

#[global_allocator]
static A: hz4::Hz4 = hz4::Hz4;

const THREADS: usize = 8;
const PER_THREAD: usize = 20_000;
const HANDOFF: usize = 500; // objects each thread frees for its neighbour

fn get(key: &str) -> u64 {
    hz4_stats::field(key).expect("known key").get()
}

const KEYS: &[&str] = &[
    "malloc_calls",
    "free_calls",
    "malloc_owner_fast",
    "malloc_owner_local_stack_hit",
    "free_owner_local",
    "free_owner_local_stack_hit",
    "free_owner_remote",
    "free_locked",
    "free_owner_local_stack_overflow",
];

fn snapshot() -> Vec<u64> {
    // The call totals are derived from the outcome counters (as the dump does).
    hz4::stats::refresh_derived();
    KEYS.iter().map(|k| get(k)).collect()
}

#[test]
fn mid_counters_add_up_exactly() {
    // Mailboxes for the cross-thread handoff, allocated before the baseline.
    let boxes: Vec<Mutex<Vec<usize>>> = (0..THREADS)
        .map(|_| Mutex::new(Vec::with_capacity(HANDOFF)))
        .collect();
    let boxes = &boxes;
    let before = snapshot();
    std::thread::scope(|s| {
        for t in 0..THREADS {
            s.spawn(move || {
                let mut sizes = 0x9e37_79b9u64.wrapping_mul(t as u64 + 1);
                let mut handed = 0;
                for i in 0..PER_THREAD {
                    sizes ^= sizes << 13;
                    sizes ^= sizes >> 7;
                    sizes ^= sizes << 17;
                    let size = 2049 + (sizes % (65536 - 2048)) as usize;
                    let p = hz4::api::malloc(size);
                    assert!(!p.is_null());
                    if i % 37 == 0 && handed < HANDOFF {
                        boxes[(t + 1) % THREADS].lock().unwrap().push(p as usize);
                        handed += 1;
                    } else {
                        // SAFETY: live object, freed once.
                        unsafe { hz4::api::free(p) };
                    }
                }
                assert_eq!(handed, HANDOFF);
            });
        }
    });
    // Every thread has exited; their pages are unowned now. Free the
    // handed-off objects from fresh threads, so the frees are non-owner.
    std::thread::scope(|s| {
        for b in boxes {
            s.spawn(move || {
                for p in b.lock().unwrap().drain(..) {
                    // SAFETY: objects from the first phase, freed once here.
                    unsafe { hz4::api::free(p as *mut u8) };
                }
            });
        }
    });
    let after = snapshot();
    let d: Vec<u64> = after.iter().zip(&before).map(|(a, b)| a - b).collect();
    let delta = |k: &str| d[KEYS.iter().position(|x| *x == k).unwrap()];
    if !hz4::config::STATS {
        assert!(
            d.iter().all(|&v| v == 0),
            "counters moved in a build without stats: {d:?}"
        );
        eprintln!("note: stats not built; checked that no counter moved");
        return;
    }
    let mallocs = (THREADS * PER_THREAD) as u64;
    let remote = (THREADS * HANDOFF) as u64;
    assert_eq!(delta("malloc_calls"), mallocs);
    assert_eq!(delta("free_calls"), mallocs);
    assert_eq!(
        delta("malloc_owner_fast") + delta("malloc_owner_local_stack_hit"),
        mallocs
    );
    assert_eq!(delta("free_owner_remote") + delta("free_locked"), remote);
    assert_eq!(
        delta("free_owner_local") + delta("free_owner_local_stack_hit"),
        mallocs - remote,
        "owner frees split between page list and local stack"
    );
    if hz4::config::B57 && hz4::config::STACK_SC_MAX == 255 {
        // Every owner free that missed the stack went to the page list.
        assert_eq!(
            delta("free_owner_local_stack_overflow"),
            delta("free_owner_local")
        );
    } else if !hz4::config::B57 {
        assert_eq!(delta("free_owner_local_stack_overflow"), 0);
    }
}
