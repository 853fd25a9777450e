//! Huge objects and limits: alignments up to 1 GiB through every aligned
//! entry point, requests the kernel will not commit (NULL/ENOMEM), and the
//! cache of freed huge mappings (reuse, zeroing, byte bound, purge).
//!
//! The RSS checks read this process's resident set, so every test here
//! takes `SERIAL` (the test harness runs tests on several threads).

use core::ffi::c_void;
use std::alloc::{GlobalAlloc, Layout};
use std::hint::black_box;
use std::sync::Mutex;

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

mod common;
use common::c;

fn errno() -> i32 {
    // SAFETY: this thread's errno slot.
    unsafe { *libc::__errno_location() }
}
fn clear_errno() {
    // SAFETY: this thread's errno slot.
    unsafe { *libc::__errno_location() = 0 };
}

fn release(p: *mut c_void) {
    // SAFETY: every pointer passed here came from the hz4 entry points.
    unsafe { c::free(p) }
}

/// Write the first, a middle and the last byte of `p..p+n` and read them back.
fn poke(p: *mut c_void, n: usize, what: &str) {
    let b = p as *mut u8;
    for (i, off) in [0, n / 2, n - 1].into_iter().enumerate() {
        // SAFETY: inside the n-byte block.
        unsafe {
            b.add(off).write_volatile(0x5a ^ i as u8);
            assert_eq!(b.add(off).read_volatile(), 0x5a ^ i as u8, "{what} @{off}");
        }
    }
}

const ALIGN_SIZES: [usize; 4] = [1, 100, 70_000, 5_000_000];

#[test]
fn every_power_of_two_alignment_up_to_1_gib_through_every_entry_point() {
    let _g = serial();
    for shift in 3..=30u32 {
        let align = 1usize << shift;
        for &size in &ALIGN_SIZES {
            let what = format!("align 2^{shift} size {size}");
            let mut out = core::ptr::null_mut();
            // SAFETY: valid out slot.
            let rc = unsafe { c::posix_memalign(&mut out, align, size) };
            assert_eq!(rc, 0, "posix_memalign {what}");
            assert_eq!(out as usize % align, 0, "posix_memalign {what}: {out:?}");
            // SAFETY: live block.
            assert!(
                unsafe { c::malloc_usable_size(out) } >= size,
                "{what}: usable"
            );
            poke(out, size, &what);

            let p = c::aligned_alloc(align, size);
            assert!(!p.is_null(), "aligned_alloc {what}");
            assert_eq!(p as usize % align, 0, "aligned_alloc {what}");
            poke(p, size, &what);

            let q = c::memalign(align, size);
            assert!(!q.is_null(), "memalign {what}");
            assert_eq!(q as usize % align, 0, "memalign {what}");
            poke(q, size, &what);

            // All three live at once do not overlap.
            let mut v = [out as usize, p as usize, q as usize];
            v.sort_unstable();
            assert!(
                v[0] + size <= v[1] && v[1] + size <= v[2],
                "{what}: overlap"
            );

            // realloc keeps contents out of a big-aligned block.
            // SAFETY: live block from posix_memalign.
            let r = unsafe {
                *(out as *mut u8) = 0x5a;
                c::realloc(out, size + 10)
            };
            assert!(!r.is_null(), "realloc {what}");
            // SAFETY: first byte survives the move.
            assert_eq!(unsafe { *(r as *const u8) }, 0x5a, "realloc {what}");
            release(r);
            release(p);
            release(q);

            let layout = Layout::from_size_align(size, align).unwrap();
            // SAFETY: non-zero size.
            let g = unsafe { hz4::Hz4.alloc_zeroed(layout) };
            assert!(!g.is_null(), "GlobalAlloc::alloc_zeroed {what}");
            assert_eq!(g as usize % align, 0, "GlobalAlloc {what}");
            // SAFETY: size bytes at g.
            let s = unsafe { std::slice::from_raw_parts(g, size) };
            assert!(
                s.iter().step_by(4096).all(|&x| x == 0) && s[size - 1] == 0,
                "{what}: zeroed"
            );
            poke(g as *mut c_void, size, &what);
            // SAFETY: allocated just above with this layout.
            let g2 = unsafe { hz4::Hz4.realloc(g, layout, size * 2) };
            assert!(
                !g2.is_null() && (g2 as usize).is_multiple_of(align),
                "GlobalAlloc::realloc {what}"
            );
            // SAFETY: realloc'ed with the same alignment.
            unsafe { hz4::Hz4.dealloc(g2, Layout::from_size_align(size * 2, align).unwrap()) };
        }
    }
}

/// The kernel's overcommit policy: in mode 1 ("always") every mapping
/// succeeds, so no allocator can see a request fail.
fn overcommit_always() -> bool {
    std::fs::read_to_string("/proc/sys/vm/overcommit_memory")
        .map(|s| s.trim() == "1")
        .unwrap_or(false)
}

#[test]
fn a_request_the_kernel_will_not_commit_is_null_with_enomem() {
    let _g = serial();
    if overcommit_always() {
        eprintln!("skipped: vm.overcommit_memory = 1 commits anything (glibc succeeds too)");
        return;
    }
    for size in [1usize << 40, 1 << 44, (1 << 46) + 12345] {
        clear_errno();
        let p = c::malloc(size);
        assert!(p.is_null(), "malloc({size}) succeeded: {p:?}");
        assert_eq!(errno(), libc::ENOMEM, "malloc({size}) errno");
        clear_errno();
        assert!(c::calloc(1, size).is_null(), "calloc(1, {size})");
        assert_eq!(errno(), libc::ENOMEM, "calloc({size}) errno");
        let mut out = core::ptr::null_mut();
        // SAFETY: valid out slot.
        let rc = unsafe { c::posix_memalign(&mut out, 1 << 30, size) };
        assert_eq!(rc, libc::ENOMEM, "posix_memalign(1 GiB, {size})");
        clear_errno();
        let r = c::memalign(8 << 20, size);
        assert!(
            r.is_null() && errno() == libc::ENOMEM,
            "memalign(8 MiB, {size})"
        );
    }
    // A failed growth keeps the block.
    let p = c::malloc(8 << 20);
    poke(p, 8 << 20, "before realloc");
    // SAFETY: live block.
    unsafe { *(p as *mut u8) = 0x5a };
    clear_errno();
    // SAFETY: live block.
    let q = unsafe { c::realloc(p, 1 << 40) };
    assert!(q.is_null() && errno() == libc::ENOMEM, "realloc to 1 TiB");
    // SAFETY: p is still live.
    assert_eq!(unsafe { *(p as *const u8) }, 0x5a);
    release(p);
    // And afterwards the allocator still works.
    let p = c::malloc(8 << 20);
    poke(p, 8 << 20, "after");
    release(p);
}

/// Resident set of this process, bytes.
fn rss() -> usize {
    let s = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: usize = s.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

fn touch(p: *mut c_void, n: usize, v: u8) {
    for off in (0..n).step_by(4096) {
        // SAFETY: inside the n-byte block.
        unsafe { (p as *mut u8).add(off).write_volatile(v) };
    }
}

#[test]
fn a_freed_huge_mapping_is_reused_and_calloc_still_zeroes_it() {
    let _g = serial();
    const N: usize = 8 << 20;
    let p = c::malloc(N);
    touch(p, N, 0xab);
    release(p);
    let before = rss();
    let hits = hz4::debug::huge_cache_hits();
    let mut same = 0;
    for i in 0..50 {
        let q = c::malloc(N);
        same += (q == p) as usize;
        touch(q, N, i as u8 | 1);
        release(q);
    }
    // Reused every time, and touching it again faults nothing in.
    assert_eq!(same, 50, "8 MiB was not served from the huge cache");
    assert!(hz4::debug::huge_cache_hits() >= hits + 50);
    let grew = rss().saturating_sub(before);
    assert!(grew < 4 << 20, "RSS grew {} KiB", grew >> 10);
    // calloc of a dirty cached mapping is zero (also past a trimmed tail).
    for size in [N, N - 100_000, 6 << 20] {
        let z = c::calloc(1, size);
        assert!(!z.is_null());
        // SAFETY: size bytes at z.
        let s = unsafe { std::slice::from_raw_parts(z as *const u8, size) };
        assert!(
            s.iter().all(|&b| b == 0),
            "calloc({size}) of a reused mapping"
        );
        touch(z, size, 7);
        release(z);
    }
    // A smaller request reuses a bigger mapping; a bigger one grows it.
    let a = c::malloc(N);
    touch(a, N, 1);
    release(a);
    let b = c::malloc(12 << 20);
    touch(b, 12 << 20, 2);
    // SAFETY: live block.
    assert!(unsafe { c::malloc_usable_size(b) } >= 12 << 20);
    release(b);
}

#[test]
fn the_huge_cache_is_bounded_in_bytes_and_purged_when_idle() {
    let _g = serial();
    // Default knobs: 32 MiB bound, 100 ms purge delay.
    let bound = hz4::config::HUGE_CACHE_BYTES;
    let delay = hz4::config::HUGE_PURGE_MS;
    if bound == 0 {
        eprintln!("skipped: HZ4_HUGE_CACHE_MB=0 (no cache)");
        return;
    }
    const N: usize = 6 << 20;
    let base = rss();
    let blocks: Vec<_> = (0..24)
        .map(|i| {
            let p = c::malloc(N + i * 4096);
            touch(p, N, 3);
            p
        })
        .collect();
    let full = rss();
    assert!(
        full >= base + 20 * N,
        "touching 24 x 6 MiB did not show in RSS"
    );
    for p in blocks {
        release(p);
    }
    // At most the bound stays committed in the cache.
    let kept = rss().saturating_sub(base);
    assert!(
        kept <= bound + (4 << 20),
        "after freeing 144 MiB of huge blocks RSS is {} MiB above the start (bound {} MiB)",
        kept >> 20,
        bound >> 20
    );
    if hz4::config::PURGE_MADV_FREE {
        // MADV_FREE pages leave RSS only when the kernel needs them.
        eprintln!("skipped the idle-purge RSS check: HZ4_PURGE_MADV_FREE=1");
        return;
    }
    // After the delay, the next huge operation purges what stayed unused.
    std::thread::sleep(std::time::Duration::from_millis(delay + 50));
    let x = c::malloc(40 << 20); // bigger than any entry: a fresh mapping
    release(black_box(x));
    let idle = rss().saturating_sub(base);
    assert!(
        idle < 4 << 20,
        "idle huge cache still holds {} MiB after {delay} ms",
        idle >> 20
    );
}
