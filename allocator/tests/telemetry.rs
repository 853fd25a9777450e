//! `mallinfo2`, `mallinfo` and `malloc_stats` report hz4's own figures.
//! Every test takes `SERIAL`: the figures are process-wide.

use std::hint::black_box;
use std::process::Command;
use std::sync::Mutex;

use hz4::info::{Mallinfo, Mallinfo2};

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn mi2() -> Mallinfo2 {
    black_box(hz4::ffi::mallinfo2 as extern "C" fn() -> Mallinfo2)()
}
fn mi() -> Mallinfo {
    black_box(hz4::ffi::mallinfo as extern "C" fn() -> Mallinfo)()
}
fn malloc(n: usize) -> *mut u8 {
    black_box(hz4::ffi::malloc as extern "C" fn(usize) -> *mut core::ffi::c_void)(n) as *mut u8
}
fn free(p: *mut u8) {
    let f = black_box(hz4::ffi::free as unsafe extern "C" fn(*mut core::ffi::c_void));
    // SAFETY: p came from malloc above.
    unsafe { f(p as *mut core::ffi::c_void) }
}

#[test]
fn the_struct_layouts_are_glibcs() {
    // Ten size_t / ten int fields, in glibc's order.
    assert_eq!(core::mem::size_of::<Mallinfo2>(), 10 * 8);
    assert_eq!(core::mem::size_of::<Mallinfo>(), 10 * 4);
    assert_eq!(
        core::mem::size_of::<libc::mallinfo2>(),
        core::mem::size_of::<Mallinfo2>()
    );
    let a = Mallinfo2 {
        uordblks: 7,
        keepcost: 9,
        ..Mallinfo2::default()
    };
    // SAFETY: same size, both repr(C) structs of ten size_t.
    let g: libc::mallinfo2 = unsafe { core::mem::transmute(a) };
    assert_eq!((g.uordblks, g.keepcost, g.arena), (7, 9, 0));
}

#[test]
fn in_use_follows_small_mid_large_and_huge_objects() {
    let _g = serial();
    for (size, count) in [(1000usize, 20_000usize), (20_000, 1000), (200_000, 100)] {
        let before = mi2();
        let v: Vec<*mut u8> = (0..count)
            .map(|_| {
                let p = malloc(size);
                // SAFETY: fresh block.
                unsafe { p.write_volatile(1) };
                p
            })
            .collect();
        let during = mi2();
        let want = size * count;
        let grew = during.uordblks.saturating_sub(before.uordblks);
        assert!(
            // Class rounding: at most 2x (200000 B takes 4 pages of 64 KiB).
            grew >= want && grew <= 2 * want + (1 << 20),
            "{count} x {size} B: uordblks grew {grew}, want about {want}"
        );
        assert!(
            during.arena >= before.arena,
            "{size}: arena shrank while allocating"
        );
        for p in v {
            free(p);
        }
        let after = mi2();
        let left = after.uordblks.saturating_sub(before.uordblks);
        assert!(
            left < 1 << 20,
            "{size}: {left} B still in use after freeing"
        );
        // Freed but kept: shows as free committed memory.
        assert!(after.fordblks + after.uordblks <= after.arena + after.hblkhd);
    }
    // A huge object bigger than the huge cache: a mapping of its own.
    let before = mi2();
    let n = 96 << 20;
    let p = malloc(n);
    let during = mi2();
    assert_eq!(during.hblks, before.hblks + 1);
    assert!(during.hblkhd >= before.hblkhd + n);
    assert!(during.uordblks >= before.uordblks + n);
    free(p);
    let after = mi2();
    assert_eq!(after.hblks, before.hblks);
    assert_eq!(after.hblkhd, before.hblkhd);
    // mallinfo agrees (ints, saturating).
    let m = mi();
    let m2 = mi2();
    assert_eq!(m.hblks as usize, m2.hblks);
    assert_eq!(m.ordblks as usize, m2.ordblks);
    assert_eq!(m.arena, i32::try_from(m2.arena).unwrap_or(i32::MAX));
}

#[test]
fn a_cached_huge_mapping_shows_as_keepcost() {
    let _g = serial();
    let n = 8 << 20;
    let p = malloc(n);
    for off in (0..n).step_by(4096) {
        // SAFETY: inside the block.
        unsafe { p.add(off).write_volatile(1) };
    }
    free(p);
    let m = mi2();
    if hz4::config::HUGE_CACHE_BYTES >= n + (1 << 20) {
        assert!(m.fsmblks >= n, "cached huge bytes {}", m.fsmblks);
        assert!(
            m.keepcost >= n || m.keepcost == 0,
            "keepcost {}",
            m.keepcost
        );
    }
}

const CHILD: &str = "HZ4_TELEMETRY_CHILD";

#[test]
fn malloc_stats_prints_a_short_summary_to_stderr() {
    if std::env::var_os(CHILD).is_some() {
        let p = malloc(5 << 20);
        let q = malloc(100);
        black_box(hz4::ffi::malloc_stats as extern "C" fn())();
        free(p);
        free(q);
        return;
    }
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "malloc_stats_prints_a_short_summary_to_stderr",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, "1")
        .output()
        .unwrap();
    assert!(out.status.success(), "child failed: {out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    let start = err
        .find("hz4 malloc_stats:")
        .unwrap_or_else(|| panic!("{err}"));
    let lines: Vec<&str> = err[start..].lines().take(8).collect();
    let field = |name: &str| -> u64 {
        let l = lines
            .iter()
            .find(|l| l.trim_start().starts_with(name))
            .unwrap_or_else(|| panic!("no `{name}` line in:\n{err}"));
        let v = l.split_once(':').unwrap().1.trim();
        v.split(' ').next().unwrap().parse().unwrap()
    };
    assert!(field("mapped") >= 4 << 20);
    assert!(field("in use") >= 5 << 20);
    assert_eq!(field("huge live"), 1);
    let _ = field("committed");
    let _ = field("free, committed");
    let _ = field("huge cache");
    let _ = field("purged");
}
