//! Page accounting and the owner-local-stack stale paths, driven on purpose.
//!
//! One test function (so nothing else allocates concurrently while the
//! census runs). It drives, by construction:
//! - `stale_unowned`: A frees a burst of mid objects; pages emptied while
//!   their objects sit in A's local stack are handed to the global bin; A's
//!   next mallocs pop those objects from unowned pages.
//! - `stale_remote`: as above, but thread B takes the binned pages first.
//! - `pop_gated_remote` / `push_gated_remote` (B58): A stacks an object of a
//!   page, B frees another object of that page remotely, A mallocs.
//!
//! - cross-class reuse: pages freed by a mid class serve a small class, and
//!   purges (`trim`) run between the frees and the stale pops above.
//!
//! In every build it checks that every object comes back exactly once and
//! the census of live mid objects returns to where it started. In builds
//! with the local stack and stats, it also checks the stale counters moved.

use std::sync::mpsc;

#[global_allocator]
static A: hz4::Hz4 = hz4::Hz4;

const SIZE: usize = 32 * 1024; // mid class with two objects per page

fn mid_live() -> u64 {
    // SAFETY: called only while the other threads of this test are parked or gone.
    unsafe { hz4::debug::census().mid_live }
}

fn alloc_n(n: usize) -> Vec<usize> {
    alloc_sized(SIZE, n)
}

fn alloc_sized(size: usize, n: usize) -> Vec<usize> {
    (0..n)
        .map(|i| {
            let p = hz4::api::malloc(size);
            assert!(!p.is_null());
            // SAFETY: fresh object of `size` bytes.
            unsafe { p.write_bytes(i as u8, size) };
            p as usize
        })
        .collect()
}

fn free_all(v: Vec<usize>) {
    for p in v {
        // SAFETY: live objects from alloc_n, freed once.
        unsafe { hz4::api::free(p as *mut u8) };
    }
}

fn counter(key: &str) -> u64 {
    hz4_stats::field(key).map(|f| f.get()).unwrap_or(0)
}

#[test]
fn stale_paths_keep_page_accounting_exact() {
    let base = mid_live();

    // --- stale_unowned, on one thread -------------------------------------
    std::thread::spawn(|| {
        let objs = alloc_n(64); // 32 pages of this class
        free_all(objs); // the first frees fill the stack; emptied pages go to the bin
                        // Purge everything free now: pages whose objects sit in our stack
                        // must stay in their class (not completely free), or the pops below
                        // would hand out objects of reformatted pages.
        hz4::api::trim();
        let again = alloc_n(64); // pops meet pages nobody owns now
        let mut sorted = again.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), 64, "an object was handed out twice");
        free_all(again);
    })
    .join()
    .unwrap();
    assert_eq!(
        mid_live(),
        base,
        "mid objects leaked or double counted (stale_unowned phase)"
    );

    // --- stale_remote: B takes the binned pages before A pops --------------
    // 16 KiB objects, four per page. A frees one object of every page first
    // (those fill its stack), then the rest (to the page lists), so each
    // emptied page goes to the bin with objects on its list -- usable by B --
    // and one object still in A's stack.
    const SMALLER: usize = 16 * 1024;
    let (to_a, a_rx) = mpsc::channel::<()>();
    let (to_b, b_rx) = mpsc::channel::<()>();
    let (a_done, a_done_rx) = mpsc::channel::<()>();
    let a = std::thread::spawn(move || {
        let objs = alloc_sized(SMALLER, 64);
        let firsts = objs.iter().step_by(4).copied().collect();
        let rest = objs
            .iter()
            .enumerate()
            .filter(|(i, _)| i % 4 != 0)
            .map(|(_, p)| *p)
            .collect();
        free_all(firsts);
        free_all(rest);
        hz4::api::trim(); // as above: stacked objects keep their pages' class
        to_b.send(()).unwrap(); // B may now take our emptied pages
        a_rx.recv().unwrap();
        let again = alloc_sized(SMALLER, 16);
        free_all(again);
        a_done.send(()).unwrap();
    });
    let b = std::thread::spawn(move || {
        b_rx.recv().unwrap();
        // Enough to empty the bin: the lock path makes every binned page B's.
        let mine = alloc_sized(SMALLER, 512);
        to_a.send(()).unwrap();
        // Stay alive (and owner of those pages) until A has popped.
        a_done_rx.recv().unwrap();
        mine
    });
    a.join().unwrap();
    let mine = b.join().unwrap();
    free_all(mine); // remote frees into pages of an exited thread
    assert_eq!(
        mid_live(),
        base,
        "mid objects leaked or double counted (stale_remote phase)"
    );

    // --- pop_gated_remote: remote free lands while our object is stacked ---
    let (tx, rx) = mpsc::channel::<usize>();
    let (done_tx, done_rx) = mpsc::channel::<()>();
    let remote = std::thread::spawn(move || {
        for p in rx {
            // SAFETY: objects sent by the owner thread, freed once here.
            unsafe { hz4::api::free(p as *mut u8) };
            done_tx.send(()).unwrap();
        }
    });
    std::thread::spawn(move || {
        for _ in 0..32 {
            let pair = alloc_n(2);
            // SAFETY: live object, freed once (goes to our stack).
            unsafe { hz4::api::free(pair[0] as *mut u8) };
            tx.send(pair[1]).unwrap(); // the other one is freed remotely
            done_rx.recv().unwrap();
            let p = hz4::api::malloc(SIZE);
            // SAFETY: live object, freed once.
            unsafe { hz4::api::free(p) };
        }
    })
    .join()
    .unwrap();
    remote.join().unwrap();
    assert_eq!(
        mid_live(),
        base,
        "mid objects leaked or double counted (gated phase)"
    );

    // --- cross-class reuse: completely free mid pages serve small objects --
    let mid_pages = std::thread::spawn(|| {
        let objs = alloc_n(256); // 32 KiB objects in runs of two pages
        let pages: std::collections::HashSet<usize> = objs.iter().map(|p| p & !0xffff).collect();
        free_all(objs);
        pages
    })
    .join()
    .unwrap();
    hz4::api::trim(); // the bins give their completely free pages back
    let reused = std::thread::spawn(move || {
        let small = alloc_sized(200, 8 * 1024 * 1024 / 200);
        let hits = small
            .iter()
            .filter(|p| mid_pages.contains(&(**p & !0xffff)))
            .count();
        free_all(small);
        hits
    })
    .join()
    .unwrap();
    assert!(
        reused > 0,
        "no page that held 32 KiB objects was reused for 200 B objects"
    );
    assert_eq!(
        mid_live(),
        base,
        "mid objects leaked or double counted (cross-class phase)"
    );

    // The test's classes (16 and 32 KiB) must be ones the stack covers.
    let stacked = hz4::config::STACK_SC_MAX >= hz4::config::mid_class(SIZE);
    if hz4::config::STATS && hz4::config::B57 && stacked {
        assert!(
            counter("malloc_owner_local_stack_stale_unowned") > 0,
            "stale_unowned never happened"
        );
        assert!(
            counter("malloc_owner_local_stack_stale_remote") > 0,
            "stale_remote never happened"
        );
        if hz4::config::B58 {
            assert!(
                counter("malloc_owner_local_stack_pop_gated_remote") > 0,
                "pop_gated_remote never happened"
            );
        }
        if hz4::config::B77 {
            let resets = counter("malloc_owner_local_stack_adaptive_hot_reset");
            let events = counter("malloc_owner_local_stack_stale_unowned")
                + counter("malloc_owner_local_stack_stale_remote")
                + counter("malloc_owner_local_stack_pop_gated_remote");
            assert_eq!(resets, events, "every stale/gated event resets the class");
        }
    } else {
        eprintln!(
            "note: stale counters not checked (build without B57, stats, or a stacked class)"
        );
    }
}
