//! Multi-threaded stress of hz4 as the global allocator: random sizes over
//! the small, mid, large and huge paths, cross-thread frees through
//! channels, byte patterns checked before every free, alignment, realloc and
//! zeroed allocation checks, and threads that exit while others still hold
//! (and later free) their objects. Not a benchmark.

mod common;

use common::Rng;
use std::alloc::{alloc, alloc_zeroed, dealloc, realloc, Layout};
use std::sync::mpsc;

#[global_allocator]
static A: hz4::Hz4 = hz4::Hz4;

/// One live object: address, layout, and the seed of its byte pattern.
struct Obj {
    ptr: usize,
    layout: Layout,
    tag: u8,
}

fn pattern(tag: u8, i: usize) -> u8 {
    tag.wrapping_add((i as u8).wrapping_mul(31))
}

fn pick_layout(rng: &mut Rng) -> Layout {
    let size = match rng.below(100) {
        0..=49 => 1 + rng.below(2048),
        50..=84 => 2049 + rng.below(65536 - 2048),
        85..=98 => 65537 + rng.below(600_000),
        _ => 4_300_000 + rng.below(2_000_000),
    };
    let align = match rng.below(10) {
        0 => 1usize << (5 + rng.below(8)),                    // 32 .. 4096
        1 if size < 300_000 => 1usize << (13 + rng.below(5)), // 8 KiB .. 128 KiB
        _ => 8,
    };
    Layout::from_size_align(size, align).unwrap()
}

/// Write the pattern: every byte for small objects, a sample for big ones.
fn fill(o: &Obj) {
    let p = o.ptr as *mut u8;
    let n = o.layout.size();
    let step = step_for(n);
    let mut i = 0;
    while i < n {
        // SAFETY: i < size of the live allocation.
        unsafe { *p.add(i) = pattern(o.tag, i) };
        i += step;
    }
    // SAFETY: last byte of the allocation.
    unsafe { *p.add(n - 1) = pattern(o.tag, n - 1) };
}

/// Bytes between pattern samples for an object of `size` bytes.
fn step_for(size: usize) -> usize {
    if size > 4096 {
        61
    } else {
        1
    }
}

fn check(o: &Obj, upto: usize) {
    check_sampled(o, upto, step_for(o.layout.size()));
}

/// Check the pattern of bytes below `upto` at multiples of `step` (plus the
/// last byte when `upto` covers the whole object).
fn check_sampled(o: &Obj, upto: usize, step: usize) {
    let p = o.ptr as *const u8;
    let n = o.layout.size().min(upto);
    let mut i = 0;
    while i < n {
        // SAFETY: i < size of the live allocation.
        let v = unsafe { *p.add(i) };
        assert_eq!(
            v,
            pattern(o.tag, i),
            "object {:#x} size {} byte {i} corrupted",
            o.ptr,
            o.layout.size()
        );
        i += step;
    }
    if upto >= o.layout.size() {
        // SAFETY: last byte.
        assert_eq!(
            unsafe { *p.add(o.layout.size() - 1) },
            pattern(o.tag, o.layout.size() - 1)
        );
    }
}

fn new_obj(rng: &mut Rng) -> Obj {
    let layout = pick_layout(rng);
    let zeroed = rng.below(8) == 0;
    // SAFETY: non-zero size layouts.
    let p = unsafe {
        if zeroed {
            alloc_zeroed(layout)
        } else {
            alloc(layout)
        }
    };
    assert!(!p.is_null(), "allocation of {layout:?} failed");
    assert_eq!(
        p as usize % layout.align(),
        0,
        "misaligned {layout:?} at {p:p}"
    );
    if zeroed {
        let n = layout.size();
        for i in (0..n).step_by(if n > 4096 { 97 } else { 1 }) {
            // SAFETY: i < n.
            assert_eq!(
                unsafe { *p.add(i) },
                0,
                "alloc_zeroed byte {i} of {n} not zero"
            );
        }
    }
    let o = Obj {
        ptr: p as usize,
        layout,
        tag: rng.next() as u8,
    };
    fill(&o);
    o
}

fn free_obj(o: Obj) {
    check(&o, usize::MAX);
    // SAFETY: allocated with this layout and not freed yet.
    unsafe { dealloc(o.ptr as *mut u8, o.layout) };
}

fn resize(o: Obj, rng: &mut Rng) -> Obj {
    check(&o, usize::MAX);
    let old = o.layout.size();
    let new_size = if rng.below(2) == 0 {
        (old / 2).max(1)
    } else {
        old + 1 + rng.below(old as u64 * 2)
    };
    // SAFETY: live allocation with this layout; new size non-zero.
    let q = unsafe { realloc(o.ptr as *mut u8, o.layout, new_size) };
    assert!(!q.is_null());
    let no = Obj {
        ptr: q as usize,
        layout: Layout::from_size_align(new_size, o.layout.align()).unwrap(),
        tag: o.tag,
    };
    assert_eq!(q as usize % no.layout.align(), 0);
    // Contents up to min(old, new) survive: check the bytes the old fill wrote
    // (its sampling step; stop one short of the end, whose last byte a shrink
    // cut off).
    check_sampled(&no, old.min(new_size) - 1, step_for(old));
    fill(&no);
    no
}

fn worker(
    seed: u64,
    id: usize,
    inbox: mpsc::Receiver<Vec<Obj>>,
    peers: Vec<mpsc::Sender<Vec<Obj>>>,
    rounds: usize,
) {
    let mut rng = Rng(seed ^ (id as u64).wrapping_mul(0x1234_5678_9abc));
    let mut live: Vec<Obj> = Vec::new();
    for round in 0..rounds {
        for _ in 0..400 {
            match rng.below(10) {
                0..=4 => live.push(new_obj(&mut rng)),
                5 | 6 if !live.is_empty() => {
                    let i = rng.below(live.len() as u64);
                    free_obj(live.swap_remove(i));
                }
                7 if !live.is_empty() => {
                    let i = rng.below(live.len() as u64);
                    let o = live.swap_remove(i);
                    live.push(resize(o, &mut rng));
                }
                _ => {}
            }
        }
        // Hand a third of our objects to a random peer: they free them remotely.
        let take = live.len() / 3;
        let batch: Vec<Obj> = live.drain(..take).collect();
        let to = rng.below(peers.len() as u64);
        let _ = peers[to].send(batch);
        while let Ok(batch) = inbox.try_recv() {
            for o in batch {
                if rng.below(4) == 0 {
                    live.push(o);
                } else {
                    free_obj(o);
                }
            }
        }
        // Now and then a short-lived thread allocates objects and exits
        // before we free them.
        if round % 5 == 0 {
            let s = rng.next();
            let got = std::thread::spawn(move || {
                let mut r = Rng(s);
                (0..50).map(|_| new_obj(&mut r)).collect::<Vec<_>>()
            })
            .join()
            .unwrap();
            live.extend(got);
        }
    }
    drop(peers);
    for o in live {
        free_obj(o);
    }
    // Drain what peers still send us until they are all gone.
    for batch in inbox {
        for o in batch {
            free_obj(o);
        }
    }
}

fn run(seed: u64, threads: usize, rounds: usize) {
    let (txs, rxs): (Vec<_>, Vec<_>) = (0..threads).map(|_| mpsc::channel::<Vec<Obj>>()).unzip();
    let handles: Vec<_> = rxs
        .into_iter()
        .enumerate()
        .map(|(id, rx)| {
            let peers = txs.clone();
            std::thread::spawn(move || worker(seed, id, rx, peers, rounds))
        })
        .collect();
    drop(txs);
    for h in handles {
        h.join().unwrap();
    }
}

#[test]
fn stress_eight_threads_several_seeds() {
    for seed in [1u64, 0xdead_beef, 42, 7_777_777] {
        run(seed, 8, 30);
    }
}

#[test]
fn stress_sixteen_threads() {
    run(99, 16, 15);
}

#[test]
fn many_threads_come_and_go_while_objects_travel() {
    // Objects allocated by threads that have exited are freed later by others.
    let (tx, rx) = mpsc::channel::<Vec<Obj>>();
    let freer = std::thread::spawn(move || {
        let mut n = 0;
        for batch in rx {
            for o in batch {
                free_obj(o);
                n += 1;
            }
        }
        n
    });
    let mut total = 0;
    for wave in 0..20u64 {
        let hs: Vec<_> = (0..8u64)
            .map(|i| {
                let tx = tx.clone();
                std::thread::spawn(move || {
                    let mut r = Rng(wave * 100 + i);
                    let objs: Vec<Obj> = (0..200).map(|_| new_obj(&mut r)).collect();
                    tx.send(objs).unwrap();
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
        total += 8 * 200;
    }
    drop(tx);
    assert_eq!(freer.join().unwrap(), total);
}

/// Phases of one size each (small, mid, mid runs, large spans), with a
/// third of every phase freed by the next thread, while another thread
/// purges everything free over and over (`malloc_trim`). Pages move from
/// class to class through the segment supply and get purged under the
/// threads' feet; every byte pattern must survive. With a purge delay of 0
/// (a test-variants build) the delayed purge rounds run all the time too.
#[test]
fn size_phases_while_memory_is_purged() {
    const THREADS: usize = 4;
    const SIZES: [usize; 6] = [48, 3000, 40_000, 200_000, 900, 17_000];
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let trimmer = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut n = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                hz4::api::trim();
                n += 1;
                std::thread::yield_now();
            }
            n
        })
    };
    let (txs, rxs): (Vec<_>, Vec<_>) = (0..THREADS).map(|_| mpsc::channel::<Vec<Obj>>()).unzip();
    let hs: Vec<_> = rxs
        .into_iter()
        .enumerate()
        .map(|(id, rx)| {
            let next = txs[(id + 1) % THREADS].clone();
            std::thread::spawn(move || {
                let mut rng = Rng(0x5eed ^ id as u64);
                for round in 0..3 {
                    for (i, &size) in SIZES.iter().enumerate() {
                        let size = size + (id + round) * 16;
                        let n = (8 << 20) / size.max(4096) + 64;
                        let layout = Layout::from_size_align(size, 8).unwrap();
                        let mut live: Vec<Obj> = (0..n)
                            .map(|_| {
                                // SAFETY: non-zero size layout.
                                let p = unsafe { alloc(layout) };
                                assert!(!p.is_null(), "allocation of {size} B failed");
                                let o = Obj {
                                    ptr: p as usize,
                                    layout,
                                    tag: rng.next() as u8,
                                };
                                fill(&o);
                                o
                            })
                            .collect();
                        let give: Vec<Obj> = live.drain(..n / 3).collect();
                        let _ = next.send(give);
                        // Free what the previous thread sent (remote frees).
                        while let Ok(batch) = rx.try_recv() {
                            batch.into_iter().for_each(free_obj);
                        }
                        if i % 2 == 0 {
                            std::thread::yield_now();
                        }
                        live.into_iter().for_each(free_obj);
                    }
                }
                drop(next);
                for batch in rx {
                    batch.into_iter().for_each(free_obj);
                }
            })
        })
        .collect();
    drop(txs);
    for h in hs {
        h.join().unwrap();
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(trimmer.join().unwrap() > 0);
    let (rounds, _) = hz4::purge::totals();
    assert!(rounds > 0, "no purge round ran");
    if hz4::config::PURGE_DELAY_NS == 0 {
        // Delayed rounds as well, not only the trims: more rounds than trims
        // is not guaranteed, but at least the slow paths must have run some.
        assert!(rounds > 10, "only {rounds} purge rounds with a zero delay");
    }
}
