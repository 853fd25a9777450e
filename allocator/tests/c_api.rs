//! The exported C malloc family (`hz4::ffi`), called directly: glibc's
//! conventions for the edge cases (NULL, 0, overflow, bad alignments,
//! errno), alignment guarantees, usable sizes and contents kept across
//! `realloc` between the small, mid, large and huge paths.

mod common;

use core::ffi::c_void;
use std::ffi::CStr;

use common::c;

const SMALL_MAX: usize = 2048;
const MID_MAX: usize = 65536;

fn errno() -> i32 {
    // SAFETY: __errno_location returns this thread's errno slot.
    unsafe { *libc::__errno_location() }
}

fn clear_errno() {
    // SAFETY: as above.
    unsafe { *libc::__errno_location() = 0 };
}

fn usable(p: *mut c_void) -> usize {
    // SAFETY: every caller passes null or a live block of ours.
    unsafe { c::malloc_usable_size(p) }
}

fn release(p: *mut c_void) {
    // SAFETY: every caller passes null or a live block of ours, exactly once.
    unsafe { c::free(p) }
}

fn pat(seed: usize, i: usize) -> u8 {
    (seed.wrapping_mul(131) ^ i.wrapping_mul(31) ^ (i >> 8)) as u8
}

/// Write the pattern over `n` bytes: every byte of the first 256 KiB, then
/// the first and last byte of every 4 KiB, then the last 64 bytes.
fn fill(p: *mut c_void, n: usize, seed: usize) {
    let p = p as *mut u8;
    for i in grid(n).chain(tail(n)) {
        // SAFETY: i < n and the block holds at least n bytes.
        unsafe { *p.add(i) = pat(seed, i) };
    }
}

/// Check the pattern of a block filled with `n` bytes.
fn check(p: *mut c_void, n: usize, seed: usize, what: &str) {
    check_prefix(p, n, n, seed, what)
}

/// Check the first `n` bytes of a block that was filled with `written` bytes.
fn check_prefix(p: *mut c_void, n: usize, written: usize, seed: usize, what: &str) {
    let p = p as *const u8;
    let tail_written = tail(written).filter(|&i| i < n);
    for i in grid(n).chain(tail_written) {
        // SAFETY: i < n and the block holds at least n bytes.
        let got = unsafe { *p.add(i) };
        assert_eq!(
            got,
            pat(seed, i),
            "{what}: byte {i} of {n} changed (filled {written})"
        );
    }
}

/// Sampled indexes below `n`; `grid(m)` is a prefix of `grid(n)` for m < n.
fn grid(n: usize) -> impl Iterator<Item = usize> {
    const DENSE: usize = 256 * 1024;
    (0..n.min(DENSE)).chain((DENSE..n).filter(|i| i % 4096 == 0 || i % 4096 == 4095))
}

fn tail(n: usize) -> impl Iterator<Item = usize> {
    n.saturating_sub(64)..n
}

fn all_zero(p: *mut c_void, n: usize) -> bool {
    // SAFETY: the caller passes a live block of at least n bytes.
    let s = unsafe { std::slice::from_raw_parts(p as *const u8, n) };
    s.iter().all(|&b| b == 0)
}

#[test]
fn calloc_overflow_is_null_with_enomem() {
    for (n, size) in [
        (usize::MAX, usize::MAX),
        (usize::MAX / 2 + 1, 2),
        (2, usize::MAX / 2 + 1),
        (1 << 32, 1 << 32),
        (usize::MAX, 16),
    ] {
        clear_errno();
        let p = c::calloc(n, size);
        assert!(p.is_null(), "calloc({n}, {size}) must overflow");
        assert_eq!(errno(), libc::ENOMEM, "calloc({n}, {size}) errno");
    }
}

#[test]
fn malloc_of_impossible_sizes_is_null_with_enomem() {
    for size in [usize::MAX, usize::MAX - 4096, usize::MAX / 2] {
        clear_errno();
        let p = c::malloc(size);
        assert!(p.is_null(), "malloc({size})");
        assert_eq!(errno(), libc::ENOMEM, "malloc({size}) errno");
    }
}

/// Resident set of this process, bytes (`/proc/self/statm`, field 2).
fn rss_bytes() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("read /proc/self/statm");
    let pages: usize = statm
        .split_whitespace()
        .nth(1)
        .and_then(|f| f.parse().ok())
        .expect("statm resident field");
    // SAFETY: sysconf has no preconditions.
    pages * unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as usize
}

#[test]
fn huge_zeroed_allocations_do_not_fault_in_their_pages() {
    use std::alloc::{GlobalAlloc, Layout};
    // A huge object is a fresh mapping: calloc and GlobalAlloc::alloc_zeroed
    // must not write 512 MiB of zeros over memory the kernel already gives
    // as zero.
    const SIZE: usize = 512 << 20;
    for how in [
        "calloc",
        "alloc_zeroed align 16",
        "alloc_zeroed align 1 MiB",
    ] {
        let before = rss_bytes();
        let (p, layout) = match how {
            "calloc" => (c::calloc(1, SIZE) as *mut u8, None),
            _ => {
                let align = if how.ends_with("16") { 16 } else { 1 << 20 };
                let layout = Layout::from_size_align(SIZE, align).unwrap();
                // SAFETY: non-zero size.
                (unsafe { hz4::Hz4.alloc_zeroed(layout) }, Some(layout))
            }
        };
        assert!(!p.is_null(), "{how}");
        let grew = rss_bytes().saturating_sub(before);
        // Read one byte per MiB: zero, and only 512 pages faulted in.
        for off in (0..SIZE).step_by(1 << 20) {
            // SAFETY: inside the SIZE-byte object.
            assert_eq!(unsafe { *p.add(off) }, 0, "{how}: offset {off}");
        }
        match layout {
            None => release(p as *mut c_void),
            // SAFETY: allocated just above with this layout.
            Some(l) => unsafe { hz4::Hz4.dealloc(p, l) },
        }
        // Other tests of this binary run concurrently; they stay far below this.
        assert!(
            grew < 64 << 20,
            "{how} of 512 MiB grew RSS by {} MiB",
            grew >> 20
        );
    }
}

#[test]
fn calloc_is_zeroed_also_when_reusing_a_dirty_block() {
    let sizes = [
        1, 8, 16, 24, 100, 1000, 2048, 2049, 3000, 10_000, 65_536, 65_537, 100_000, 300_000,
        4_200_000, 5_000_000,
    ];
    for &size in &sizes {
        // Fresh memory.
        let p = c::calloc(1, size);
        assert!(!p.is_null());
        assert!(all_zero(p, size), "fresh calloc({size}) not zeroed");
        release(p);
        // Dirty blocks of the same size, freed, then calloc'ed again (the
        // thread's free lists / span caches hand the same memory back).
        let dirty: Vec<*mut c_void> = (0..4)
            .map(|_| {
                let q = c::malloc(size);
                assert!(!q.is_null());
                // SAFETY: fresh block of `size` bytes.
                unsafe { core::ptr::write_bytes(q as *mut u8, 0xAB, usable(q)) };
                q
            })
            .collect();
        let mut addrs: Vec<usize> = dirty.iter().map(|&q| q as usize).collect();
        for q in dirty {
            release(q);
        }
        let mut reused = false;
        let again: Vec<*mut c_void> = (0..4)
            .map(|k| {
                // Same total, split two ways: calloc(1, n) and calloc(n, 1).
                let q = if k % 2 == 0 {
                    c::calloc(1, size)
                } else {
                    c::calloc(size, 1)
                };
                assert!(!q.is_null());
                reused |= addrs.contains(&(q as usize));
                assert!(all_zero(q, size), "calloc({size}) after reuse not zeroed");
                q
            })
            .collect();
        for q in again {
            release(q);
        }
        addrs.clear();
        if size <= MID_MAX {
            assert!(reused, "size {size}: expected a freed block to be reused");
        }
    }
    // An element size times a count.
    let p = c::calloc(1000, 24);
    assert!(all_zero(p, 24_000));
    release(p);
    // calloc(0, x) and calloc(x, 0) give a unique freeable pointer.
    let a = c::calloc(0, 10);
    let b = c::calloc(10, 0);
    assert!(!a.is_null() && !b.is_null() && a != b);
    release(a);
    release(b);
}

#[test]
fn realloc_null_is_malloc_and_zero_frees() {
    // SAFETY: null pointer: realloc acts as malloc.
    let p = unsafe { c::realloc(core::ptr::null_mut(), 100) };
    assert!(!p.is_null());
    assert!(usable(p) >= 100);
    fill(p, 100, 1);
    check(p, 100, 1, "realloc(NULL, 100)");
    // glibc: realloc(p, 0) frees p and returns NULL.
    clear_errno();
    // SAFETY: `p` is live; it is freed by this call.
    let q = unsafe { c::realloc(p, 0) };
    assert!(q.is_null(), "realloc(p, 0) must return NULL");
    // realloc(NULL, 0) is malloc(0): a unique non-null pointer.
    // SAFETY: null pointer.
    let z = unsafe { c::realloc(core::ptr::null_mut(), 0) };
    assert!(!z.is_null());
    release(z);
    // The same for every path: realloc(p, 0) frees it (a leak would not
    // show here; invalid_free.rs checks that a later free of p is a double free).
    for size in [10, 5000, 100_000, 5_000_000] {
        let p = c::malloc(size);
        assert!(!p.is_null());
        // SAFETY: `p` is live; it is freed by this call.
        assert!(unsafe { c::realloc(p, 0) }.is_null());
    }
}

/// Sizes on both sides of every path boundary.
const LADDER: &[usize] = &[
    1,
    15,
    16,
    17,
    100,
    1000,
    SMALL_MAX - 1,
    SMALL_MAX,
    SMALL_MAX + 1,
    4000,
    20_000,
    MID_MAX - 1,
    MID_MAX,
    MID_MAX + 1,
    100_000,
    1_000_000,
    4_000_000,
    4 << 20,
    (4 << 20) + 1,
    5_000_000,
    9_000_000,
];

#[test]
fn realloc_grow_and_shrink_keep_contents_across_all_paths() {
    // Walk up the ladder, then down, then jump between far apart sizes.
    let mut order: Vec<usize> = LADDER.to_vec();
    order.extend(LADDER.iter().rev().skip(1));
    order.extend([
        10, 9_000_000, 30, 100_000, 3000, 5_000_000, 70_000, 1, 65_536, 2048, 5_000_000, 2049,
    ]);
    let mut p = c::malloc(order[0]);
    let mut cur = order[0];
    fill(p, cur, 0);
    for (step, &next) in order.iter().enumerate().skip(1) {
        // SAFETY: `p` is live; it is consumed by realloc and replaced by the result.
        let q = unsafe { c::realloc(p, next) };
        assert!(!q.is_null(), "realloc {cur} -> {next}");
        assert_eq!(q as usize % 16, 0, "realloc result misaligned");
        assert!(usable(q) >= next, "usable after realloc {cur} -> {next}");
        check_prefix(
            q,
            cur.min(next),
            cur,
            step - 1,
            &format!("realloc {cur} -> {next}"),
        );
        fill(q, next, step);
        p = q;
        cur = next;
    }
    release(p);
}

#[test]
fn huge_realloc_resizes_the_mapping_and_keeps_contents() {
    // Huge to huge goes through mremap (grow in place, or move the pages
    // to a new segment-aligned range, or unmap the tail). Several live huge
    // blocks make in-place growth fail now and then, so moves happen too;
    // every result must keep its contents and still be freeable (its new
    // segment is in the map).
    let mut rng = common::Rng(0x2545_F491_4F6C_DD1D);
    let mut blocks: Vec<(*mut c_void, usize, usize)> = (0..4)
        .map(|i| {
            let n = 4_200_000 + i * 1_000_000;
            let p = c::malloc(n);
            assert!(!p.is_null());
            fill(p, n, i);
            (p, n, i)
        })
        .collect();
    for step in 0..60 {
        let k = rng.below(blocks.len() as u64);
        let new = 4_200_000 + rng.below(60_000_000);
        let (p, cur, seed) = blocks[k];
        // SAFETY: `p` is live; it is consumed by realloc and replaced by the result.
        let q = unsafe { c::realloc(p, new) };
        let what = format!("step {step}: huge realloc {cur} -> {new}");
        assert!(!q.is_null(), "{what}");
        assert_eq!(
            q as usize % 65_536,
            0,
            "{what}: huge objects are page aligned"
        );
        assert!(usable(q) >= new, "{what}: usable {}", usable(q));
        check_prefix(q, cur.min(new), cur, seed, &what);
        fill(q, new, 100 + step);
        blocks[k] = (q, new, 100 + step);
    }
    for (p, n, seed) in blocks {
        check(p, n, seed, "before free");
        release(p);
    }
}

#[test]
fn realloc_to_the_same_or_a_little_smaller_size_keeps_contents() {
    for &size in LADDER {
        let p = c::malloc(size);
        fill(p, size, 7);
        // SAFETY: live block, consumed.
        let q = unsafe { c::realloc(p, size) };
        check(q, size, 7, "realloc same size");
        let smaller = size - size / 4;
        // SAFETY: live block, consumed.
        let r = unsafe { c::realloc(q, smaller.max(1)) };
        check_prefix(r, smaller.max(1), size, 7, "realloc 3/4 size");
        release(r);
    }
}

#[test]
fn reallocarray_overflow_is_null_with_enomem_and_keeps_the_block() {
    let p = c::malloc(64);
    fill(p, 64, 3);
    for (n, size) in [(usize::MAX, 2), (1 << 33, 1 << 31), (usize::MAX / 8 + 1, 8)] {
        clear_errno();
        // SAFETY: `p` is live; on failure realloc leaves it untouched.
        let q = unsafe { c::reallocarray(p, n, size) };
        assert!(q.is_null(), "reallocarray({n}, {size}) must overflow");
        assert_eq!(errno(), libc::ENOMEM);
    }
    check(p, 64, 3, "block after failed reallocarray");
    // And a normal one grows it.
    // SAFETY: `p` is live, consumed.
    let q = unsafe { c::reallocarray(p, 1000, 8) };
    assert!(!q.is_null() && usable(q) >= 8000);
    check(q, 64, 3, "reallocarray growth");
    release(q);
    // reallocarray(NULL, n, size) is malloc.
    // SAFETY: null pointer.
    let r = unsafe { c::reallocarray(core::ptr::null_mut(), 10, 10) };
    assert!(!r.is_null() && usable(r) >= 100);
    release(r);
}

#[test]
fn posix_memalign_rejects_bad_alignments_with_einval() {
    let sentinel = 0x1234usize as *mut c_void;
    for align in [0, 1, 2, 3, 4, 12, 24, 48, 100, 4097, 3 << 20, usize::MAX] {
        let mut out = sentinel;
        // SAFETY: `out` is a valid slot.
        let rc = unsafe { c::posix_memalign(&mut out, align, 64) };
        assert_eq!(rc, libc::EINVAL, "posix_memalign(align={align})");
        // POSIX: memptr is left unmodified or set to NULL on failure.
        assert!(
            out == sentinel || out.is_null(),
            "align {align}: out = {out:?}"
        );
    }
}

#[test]
fn posix_memalign_aligns_every_power_of_two_up_to_2_mib() {
    let sizes = [1usize, 100, 5000, 70_000, 5_000_000];
    let mut live = Vec::new();
    let mut align = 8usize;
    while align <= 2 << 20 {
        for &size in &sizes {
            let mut out = core::ptr::null_mut();
            // SAFETY: `out` is a valid slot.
            let rc = unsafe { c::posix_memalign(&mut out, align, size) };
            assert_eq!(rc, 0, "posix_memalign(align={align}, size={size})");
            assert!(!out.is_null());
            assert_eq!(
                out as usize % align,
                0,
                "align {align} size {size}: {out:?}"
            );
            assert!(usable(out) >= size, "align {align} size {size}: usable");
            let seed = live.len();
            fill(out, size, seed);
            live.push((out, size, align, seed));
        }
        align *= 2;
    }
    // All were live at once: no two overlap, so every pattern is intact.
    for &(p, size, align, seed) in &live {
        check(
            p,
            size,
            seed,
            &format!("posix_memalign align {align} size {size}"),
        );
    }
    for (p, ..) in live {
        release(p);
    }
}

#[test]
fn posix_memalign_beyond_the_supported_alignment_fails_cleanly() {
    // Alignments above what the allocator supports must not return a
    // misaligned block: either success and aligned, or ENOMEM.
    for align in [4usize << 20, 8 << 20] {
        let mut out = core::ptr::null_mut();
        // SAFETY: `out` is a valid slot.
        let rc = unsafe { c::posix_memalign(&mut out, align, 100) };
        if rc == 0 {
            assert_eq!(out as usize % align, 0);
            release(out);
        } else {
            assert_eq!(rc, libc::ENOMEM, "align {align}");
        }
    }
    // A size that cannot be satisfied.
    let mut out = core::ptr::null_mut();
    // SAFETY: `out` is a valid slot.
    let rc = unsafe { c::posix_memalign(&mut out, 64, usize::MAX - 8) };
    assert_eq!(rc, libc::ENOMEM);
}

#[test]
fn aligned_alloc_rejects_non_powers_of_two_with_einval() {
    for align in [0usize, 3, 24, 48, 100, 4095] {
        clear_errno();
        let p = c::aligned_alloc(align, 256);
        assert!(p.is_null(), "aligned_alloc({align}) must fail");
        assert_eq!(errno(), libc::EINVAL, "aligned_alloc({align}) errno");
    }
    for align in [1usize, 2, 4, 8, 16, 32, 64, 256, 4096, 65_536, 1 << 20] {
        for size in [1usize, 64, 3000, 100_000] {
            let p = c::aligned_alloc(align, size);
            assert!(!p.is_null(), "aligned_alloc({align}, {size})");
            assert_eq!(p as usize % align, 0, "aligned_alloc({align}, {size})");
            assert!(usable(p) >= size);
            fill(p, size, align);
            check(p, size, align, "aligned_alloc");
            release(p);
        }
    }
}

#[test]
fn memalign_rounds_a_non_power_of_two_alignment_up() {
    for (align, expect) in [
        (0usize, 1usize),
        (3, 4),
        (24, 32),
        (100, 128),
        (3000, 4096),
        (5000, 8192),
        (40_000, 65_536),
        (100_000, 131_072),
    ] {
        for size in [1usize, 100, 10_000] {
            let p = c::memalign(align, size);
            assert!(!p.is_null(), "memalign({align}, {size})");
            assert_eq!(p as usize % expect, 0, "memalign({align}, {size}) = {p:?}");
            assert!(usable(p) >= size);
            fill(p, size, 9);
            check(p, size, 9, "memalign");
            release(p);
        }
    }
}

#[test]
fn valloc_and_pvalloc_are_page_aligned_and_pvalloc_rounds_the_size() {
    for size in [0usize, 1, 100, 4095, 4096, 4097, 10_000, 70_000, 5_000_000] {
        let p = c::valloc(size);
        assert!(!p.is_null(), "valloc({size})");
        assert_eq!(p as usize % 4096, 0, "valloc({size})");
        assert!(usable(p) >= size);
        fill(p, size, 5);
        check(p, size, 5, "valloc");
        release(p);

        let rounded = size.max(1).div_ceil(4096) * 4096;
        let q = c::pvalloc(size);
        assert!(!q.is_null(), "pvalloc({size})");
        assert_eq!(q as usize % 4096, 0, "pvalloc({size})");
        assert!(
            usable(q) >= rounded,
            "pvalloc({size}): usable {} < rounded size {rounded}",
            usable(q)
        );
        // The whole rounded size is writable.
        fill(q, rounded, 6);
        check(q, rounded, 6, "pvalloc");
        release(q);
    }
    clear_errno();
    assert!(c::pvalloc(usize::MAX - 100).is_null());
    assert_eq!(errno(), libc::ENOMEM);
}

#[test]
fn malloc_usable_size_is_zero_for_null_and_at_least_the_request() {
    assert_eq!(usable(core::ptr::null_mut()), 0);
    let mut sizes: Vec<usize> = (0..=SMALL_MAX + 64).collect();
    sizes.extend((SMALL_MAX..=MID_MAX + 1024).step_by(97));
    sizes.extend([
        MID_MAX,
        MID_MAX + 1,
        100_000,
        262_144,
        1 << 20,
        4_128_768,
        4 << 20,
        6_000_000,
    ]);
    let mut batch = Vec::with_capacity(64);
    for &size in &sizes {
        let p = c::malloc(size);
        assert!(!p.is_null(), "malloc({size})");
        assert_eq!(p as usize % 16, 0, "malloc({size}) alignment");
        let u = usable(p);
        assert!(u >= size, "malloc_usable_size = {u} < {size}");
        // All usable bytes are really usable: write the last one.
        // SAFETY: u bytes are usable.
        unsafe { *(p as *mut u8).add(u.max(1) - 1) = 0x5a };
        batch.push(p);
        if batch.len() == 64 {
            batch.drain(..).for_each(release);
        }
    }
    batch.into_iter().for_each(release);
}

#[test]
fn malloc_zero_is_non_null_and_unique() {
    let ptrs: Vec<*mut c_void> = (0..2000).map(|_| c::malloc(0)).collect();
    assert!(ptrs.iter().all(|p| !p.is_null()));
    let mut addrs: Vec<usize> = ptrs.iter().map(|&p| p as usize).collect();
    addrs.sort_unstable();
    addrs.dedup();
    assert_eq!(
        addrs.len(),
        ptrs.len(),
        "malloc(0) returned a pointer twice"
    );
    for p in ptrs {
        release(p);
    }
}

#[test]
fn free_of_null_is_a_no_op() {
    release(core::ptr::null_mut());
    // SAFETY: null is always allowed.
    unsafe { libc::free(core::ptr::null_mut()) };
}

#[test]
fn libc_malloc_in_this_process_is_hz4() {
    // The test executable exports hz4's malloc family, so libc's symbols
    // (what std and C code call) resolve to it: a block from libc::malloc
    // is one hz4 recognizes, and the other way round.
    // SAFETY: plain malloc/free pairs.
    unsafe {
        let p = libc::malloc(3000);
        assert!(!p.is_null());
        assert!(usable(p) >= 3000);
        c::free(p);
        let q = c::malloc(100);
        assert!(libc::malloc_usable_size(q) >= 100);
        libc::free(q);
    }
}

#[test]
fn build_info_is_one_hz4_build_line() {
    let p = c::hz4_build_info();
    assert!(!p.is_null());
    // SAFETY: hz4_build_info returns a static NUL-terminated string.
    let s = unsafe { CStr::from_ptr(p) }.to_str().expect("utf-8");
    assert!(s.starts_with("[HZ4_BUILD] "), "got {s:?}");
    assert!(!s.contains('\n'), "one line: {s:?}");
    assert!(s.contains("HZ4_MID_LOCK_SHARDS="), "got {s:?}");
    // Stable: the same pointer each call.
    assert_eq!(p, c::hz4_build_info());
}
