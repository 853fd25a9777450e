//! Memory comes back: resident set size (from /proc/self/statm) after
//! programs whose allocation pattern changes, after many threads exit, after
//! `malloc_trim(0)`, and address space reused across size classes under an
//! `RLIMIT_AS`. Each scenario runs in a child process of its own (the
//! `#[ignore]`d `child_*` tests, started by the drivers below) so no other
//! test's memory is counted.

use std::process::Command;
use std::time::Duration;

#[global_allocator]
static A: hz4::Hz4 = hz4::Hz4;

const MIB: usize = 1 << 20;

/// Resident bytes of this process.
fn rss() -> usize {
    let s = std::fs::read_to_string("/proc/self/statm").expect("read /proc/self/statm");
    let pages: usize = s
        .split_whitespace()
        .nth(1)
        .and_then(|f| f.parse().ok())
        .expect("statm: second field");
    pages * 4096
}

/// Mapped bytes of this process (VmSize).
fn vm_size() -> usize {
    let s = std::fs::read_to_string("/proc/self/statm").expect("read /proc/self/statm");
    let pages: usize = s
        .split_whitespace()
        .next()
        .and_then(|f| f.parse().ok())
        .expect("statm: first field");
    pages * 4096
}

fn mib(b: usize) -> usize {
    b / MIB
}

/// Run the ignored test `name` of this binary in a child process and fail
/// with its output unless it passes.
fn run_child(name: &str) {
    let exe = std::env::current_exe().unwrap();
    let out = Command::new(exe)
        .args([
            name,
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .output()
        .expect("spawn the test binary");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("{text}");
    assert!(out.status.success(), "child {name} failed: {}", out.status);
    assert!(text.contains("1 passed"), "child {name} did not run");
}

/// Allocate `total` bytes in objects of `size`, touching every page.
fn fill(size: usize, total: usize) -> Vec<usize> {
    let n = total / size;
    (0..n)
        .map(|i| {
            let p = hz4::api::malloc(size);
            assert!(!p.is_null(), "malloc({size}) failed after {i} objects");
            let mut off = 0;
            while off < size {
                // SAFETY: off < size of the fresh object.
                unsafe { *p.add(off) = i as u8 };
                off += 4096;
            }
            p as usize
        })
        .collect()
}

fn free_all(v: Vec<usize>) {
    for p in v {
        // SAFETY: live objects from `fill`, freed once.
        unsafe { hz4::api::free(p as *mut u8) };
    }
}

/// Sleep past a purge delay and go through the allocator's slow paths, so
/// the purge rounds a running program would run happen.
fn idle_a_little() {
    let delay = Duration::from_nanos(hz4::config::PURGE_DELAY_NS) + Duration::from_millis(20);
    for _ in 0..3 {
        std::thread::sleep(delay);
        // A thread's exit and a fresh class's page reservation both reach
        // the purge check.
        std::thread::spawn(|| free_all(fill(1000, MIB)))
            .join()
            .unwrap();
    }
}

// ---- phases -----------------------------------------------------------------

const PHASE_SIZES: [usize; 7] = [64, 96, 160, 4000, 12000, 40000, 300_000];
const PHASE_BYTES: usize = 64 * MIB;

#[test]
#[ignore = "run in a child process by phases_give_memory_back"]
fn child_phases() {
    let base = rss();
    let mut peak = 0;
    for size in PHASE_SIZES {
        let v = fill(size, PHASE_BYTES);
        let now = rss();
        peak = peak.max(now);
        eprintln!("phase {size:>6} B: rss {} MiB", mib(now));
        free_all(v);
    }
    let after = rss();
    idle_a_little();
    let end = rss();
    eprintln!(
        "base {} MiB, peak {} MiB, right after {} MiB, after idling {} MiB",
        mib(base),
        mib(peak),
        mib(after),
        mib(end)
    );
    // Each phase reuses the pages the previous one freed: the peak stays
    // near one phase's worth (the 40000 B phase wastes most: pages of one
    // object), not the sum of all phases.
    assert!(
        peak <= base + 2 * PHASE_BYTES + 16 * MIB,
        "peak rss {} MiB over base {} MiB + 2 phases",
        mib(peak),
        mib(base)
    );
    // Once idle for a purge delay, the free memory is back with the OS.
    assert!(
        end <= base + 16 * MIB,
        "rss {} MiB after idling, base {} MiB",
        mib(end),
        mib(base)
    );
}

#[test]
fn phases_give_memory_back() {
    run_child("child_phases");
}

// ---- many threads -----------------------------------------------------------

const THREADS: usize = 100;

#[test]
#[ignore = "run in a child process by joined_threads_give_memory_back"]
fn child_threads() {
    let base = rss();
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(THREADS + 1));
    let release = std::sync::Arc::new(std::sync::Barrier::new(THREADS + 1));
    let hs: Vec<_> = (0..THREADS)
        .map(|t| {
            let b = barrier.clone();
            let r = release.clone();
            std::thread::spawn(move || {
                // About 2 MiB over many small and mid classes.
                let mut v = Vec::new();
                for (j, size) in (16..40_000).step_by(997).enumerate() {
                    v.extend(fill(size + t % 7, 30 * 1024));
                    if j % 8 == 0 {
                        v.extend(fill(70_000 + 4096 * (t % 5), 140_000));
                    }
                }
                b.wait(); // all threads hold their memory at once
                r.wait(); // until the main thread has measured
                free_all(v);
            })
        })
        .collect();
    barrier.wait();
    let peak = rss();
    release.wait();
    for h in hs {
        h.join().unwrap();
    }
    let end = rss();
    eprintln!(
        "base {} MiB, all {THREADS} threads live {} MiB, after join {} MiB",
        mib(base),
        mib(peak),
        mib(end)
    );
    assert!(peak > base + 100 * MIB, "scenario too small to measure");
    assert!(
        end <= base + 24 * MIB,
        "rss {} MiB after joining {THREADS} threads, base {} MiB",
        mib(end),
        mib(base)
    );
}

#[test]
fn joined_threads_give_memory_back() {
    run_child("child_threads");
}

// ---- idle threads -------------------------------------------------------------

const IDLE_THREADS: usize = 8;

#[test]
#[ignore = "run in a child process by idle_threads_hold_little_after_freeing"]
fn child_idle() {
    let base = rss();
    let done = std::sync::Arc::new(std::sync::Barrier::new(IDLE_THREADS + 1));
    let leave = std::sync::Arc::new(std::sync::Barrier::new(IDLE_THREADS + 1));
    let hs: Vec<_> = (0..IDLE_THREADS)
        .map(|t| {
            let (d, l) = (done.clone(), leave.clone());
            std::thread::spawn(move || {
                // 200 MiB of 64 KiB..4 MiB buffers, 16 live at a time.
                let mut x = 0x9e37_79b9_7f4a_7c15u64 ^ t as u64;
                let mut live = std::collections::VecDeque::new();
                let mut touched = 0;
                while touched < 200 * MIB {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    let size = (64 << 10) + (x as usize) % ((4 << 20) - (64 << 10));
                    live.extend(fill(size, size));
                    touched += size;
                    if live.len() > 16 {
                        free_all(live.pop_front().into_iter().collect());
                    }
                }
                free_all(live.into_iter().collect());
                d.wait();
                l.wait(); // idle, blocked, until the main thread has measured
            })
        })
        .collect();
    done.wait();
    std::thread::sleep(Duration::from_millis(50));
    let idle = rss();
    let m = hz4::info::snapshot();
    leave.wait();
    for h in hs {
        h.join().unwrap();
    }
    eprintln!(
        "base {} MiB, {IDLE_THREADS} idle threads {} MiB; supply dirty {} MiB (walk {} MiB, bound {} MiB)",
        mib(base),
        mib(idle),
        mib(m.supply_dirty),
        mib(m.supply_dirty_walk),
        mib(m.supply_dirty_bound)
    );
    // The supply's running count is what its masks say.
    assert_eq!(
        m.supply_dirty, m.supply_dirty_walk,
        "supply dirty count drifted"
    );
    assert!(
        m.supply_dirty <= m.supply_dirty_bound,
        "supply holds {} MiB dirty, over its bound of {} MiB",
        mib(m.supply_dirty),
        mib(m.supply_dirty_bound)
    );
    // What the idle threads hold is the caches (span caches, huge cache,
    // spare segments, each bounded in bytes) and the supply's dirty bound,
    // not the ~256 MiB the threads had live at their peak.
    let caches = hz4::config::LARGE_CACHE_BYTES
        + IDLE_THREADS * hz4::config::LARGE_TCACHE_BYTES
        + hz4::config::HUGE_CACHE_BYTES
        + hz4::config::SPARE_BYTES
        + m.supply_dirty_bound;
    assert!(
        idle <= base + caches + 16 * MIB,
        "rss {} MiB with {IDLE_THREADS} idle threads, base {} MiB, caches and dirty bound {} MiB",
        mib(idle),
        mib(base),
        mib(caches)
    );
}

#[test]
fn idle_threads_hold_little_after_freeing() {
    run_child("child_idle");
}

// ---- malloc_trim ------------------------------------------------------------

#[test]
#[ignore = "run in a child process by malloc_trim_returns_memory"]
fn child_trim() {
    let base = rss();
    let small = fill(1000, 48 * MIB);
    let spans = fill(200_000, 16 * MIB);
    let held = rss();
    free_all(small);
    free_all(spans);
    let freed = rss();
    let r = hz4::ffi::malloc_trim(0);
    let end = rss();
    eprintln!(
        "base {} MiB, held {} MiB, freed {} MiB, after malloc_trim(0)={r} {} MiB",
        mib(base),
        mib(held),
        mib(freed),
        mib(end)
    );
    assert_eq!(r, 1, "malloc_trim(0) released nothing");
    assert!(
        end <= base + 8 * MIB,
        "rss {} MiB after malloc_trim, base {} MiB",
        mib(end),
        mib(base)
    );
    // Still a working allocator afterwards.
    free_all(fill(1000, 4 * MIB));
    free_all(fill(200_000, 4 * MIB));
}

#[test]
fn malloc_trim_returns_memory() {
    run_child("child_trim");
}

// ---- address-space limit ------------------------------------------------------

#[test]
#[ignore = "run in a child process by freed_pages_serve_other_sizes_under_rlimit_as"]
fn child_rlimit() {
    const FILL: usize = 160 * MIB;
    // Room for the 3000 B fill plus a little: not for a second one.
    let limit = vm_size() + FILL + 64 * MIB;
    let mut objs: Vec<usize> = Vec::with_capacity(FILL / 3000 + 1);
    let rl = libc::rlimit {
        rlim_cur: limit as libc::rlim_t,
        rlim_max: limit as libc::rlim_t,
    };
    // SAFETY: plain setrlimit on this process.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_AS, &rl) }, 0);
    for i in 0..FILL / 3000 {
        let p = hz4::api::malloc(3000);
        assert!(!p.is_null(), "malloc(3000) #{i} failed under the limit");
        // SAFETY: fresh 3000 B object.
        unsafe { p.write_bytes(1, 3000) };
        objs.push(p as usize);
    }
    for &p in &objs {
        // SAFETY: live objects, freed once.
        unsafe { hz4::api::free(p as *mut u8) };
    }
    objs.clear();
    // Other sizes, each about 100 MiB: only possible if the 3000 B pages
    // are reused.
    for size in [40_000usize, 64, 12_000, 300_000, 1000] {
        let n = 100 * MIB / size;
        for i in 0..n {
            let p = hz4::api::malloc(size);
            assert!(
                !p.is_null(),
                "malloc({size}) #{i} of {n} failed after the 3000 B pages were freed"
            );
            // SAFETY: fresh object of `size` bytes.
            unsafe { p.write_bytes(2, size) };
            objs.push(p as usize);
        }
        for &p in &objs {
            // SAFETY: live objects, freed once.
            unsafe { hz4::api::free(p as *mut u8) };
        }
        objs.clear();
    }
}

#[test]
fn freed_pages_serve_other_sizes_under_rlimit_as() {
    run_child("child_rlimit");
}
