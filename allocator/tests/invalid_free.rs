//! Free dispatch must reject what it does not own: every bad pointer below
//! is handed to hz4 in a child process (this test executable re-run with
//! `HZ4_INVALID_FREE_CASE=<case> --exact child`), which must die by SIGABRT
//! after writing exactly one line `hz4: <func>: <reason> (ptr=0x<hex>)` to
//! stderr naming the pointer it was given. The parent keeps allocating
//! normally afterwards.
//!
//! In this executable hz4's exported `malloc`/`free` replace glibc's (the
//! executable defines them), so there is no foreign heap pointer to hand
//! over; a block of a private `mmap` stands in for "someone else's memory".

use core::ffi::c_void;
use std::hint::black_box;
use std::io::Write;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const CASE_ENV: &str = "HZ4_INVALID_FREE_CASE";
/// Exit code of a child whose bad call returned instead of aborting.
const NO_ABORT: i32 = 97;

/// C entry points called through opaque pointers: LLVM knows `free` and
/// `realloc` by name and may treat a free of a stack address as unreachable.
mod c {
    use core::ffi::c_void;
    use hz4::ffi;
    use std::hint::black_box;

    pub fn malloc(n: usize) -> *mut c_void {
        black_box(ffi::malloc as extern "C" fn(usize) -> *mut c_void)(n)
    }
    /// # Safety
    /// As C `free`, except that the bad pointers of this file are the point.
    pub unsafe fn free(p: *mut c_void) {
        let f = black_box(ffi::free as unsafe extern "C" fn(*mut c_void));
        // SAFETY: forwarded contract.
        unsafe { f(black_box(p)) }
    }
    /// # Safety
    /// As C `realloc`.
    pub unsafe fn realloc(p: *mut c_void, n: usize) -> *mut c_void {
        let f = black_box(ffi::realloc as unsafe extern "C" fn(*mut c_void, usize) -> *mut c_void);
        // SAFETY: forwarded contract.
        unsafe { f(black_box(p), n) }
    }
    /// # Safety
    /// As C `malloc_usable_size`.
    pub unsafe fn malloc_usable_size(p: *mut c_void) -> usize {
        let f = black_box(ffi::malloc_usable_size as unsafe extern "C" fn(*mut c_void) -> usize);
        // SAFETY: forwarded contract.
        unsafe { f(black_box(p)) }
    }
}

static mut STATIC_BUF: [u64; 64] = [0; 64];

/// Which C function the case calls with the bad pointer.
#[derive(Clone, Copy)]
enum Func {
    Free,
    Realloc,
    UsableSize,
}

impl Func {
    fn call(self, p: *mut c_void) {
        announce(p);
        // SAFETY: deliberately invalid pointers: hz4 must abort before using them.
        unsafe {
            match self {
                Func::Free => c::free(p),
                Func::Realloc => {
                    black_box(c::realloc(p, 100_000));
                }
                Func::UsableSize => {
                    black_box(c::malloc_usable_size(p));
                }
            }
        }
    }
}

/// Tell the parent which pointer the bad call gets.
fn announce(p: *mut c_void) {
    let mut out = std::io::stdout().lock();
    writeln!(out, "BAD_PTR={:#x}", p as usize).unwrap();
    out.flush().unwrap();
}

fn live(size: usize) -> *mut u8 {
    let p = c::malloc(size) as *mut u8;
    assert!(!p.is_null());
    // SAFETY: fresh block of `size` bytes.
    unsafe { core::ptr::write_bytes(p, 0x11, size) };
    p
}

fn offset(p: *mut u8, by: usize) -> *mut c_void {
    p.wrapping_add(by) as *mut c_void
}

fn good_free(p: *mut u8) {
    // SAFETY: a live block of ours, freed once.
    unsafe { c::free(p as *mut c_void) }
}

/// Run one bad case in this (child) process. Returns only if hz4 accepted the pointer.
fn run_case(case: &str) {
    match case {
        "stack" => {
            let buf = black_box([7u64; 8]);
            Func::Free.call(offset(&buf as *const _ as *mut u8, 16));
        }
        "static" => {
            // Only the address is taken; hz4 must not touch the static.
            let p = core::ptr::addr_of_mut!(STATIC_BUF) as *mut u8;
            Func::Free.call(offset(p, 64));
        }
        "mmap" => Func::Free.call(offset(foreign_mapping(), 4096)),
        "mmap_segment_aligned" => Func::Free.call(offset(foreign_segment_aligned(), 65536 + 64)),
        "small_interior" => Func::Free.call(offset(live(100), 16)),
        "small_misaligned" => Func::Free.call(offset(live(100), 1)),
        "mid_interior" => Func::Free.call(offset(live(10_000), 4096)),
        "mid_misaligned" => Func::Free.call(offset(live(10_000), 8)),
        "large_interior_head_page" => Func::Free.call(offset(live(200_000), 4096)),
        "large_interior_tail_page" => Func::Free.call(offset(live(200_000), 65_536)),
        "huge_interior" => Func::Free.call(offset(live(5_000_000), 4096)),
        "unused_page" => {
            // A huge object sits in the second 64 KiB page of its own 4 MiB
            // segment; the pages after it are pages of ours that no object uses.
            Func::Free.call(offset(live(5_000_000), 65_536))
        }
        "segment_header" => {
            // The first 64 KiB of every 4 MiB segment hold its header: no
            // object lives there.
            let seg = live(100) as usize & !((4 << 20) - 1);
            Func::Free.call((seg + 64) as *mut c_void)
        }
        "small_page_slack" | "mid_page_slack" => {
            // 64 KiB pages: class 48 holds 1365 objects (65520 bytes), class
            // 3072 holds 21 (64512 bytes). The class-aligned offset just past
            // the last object is not an object.
            let (size, end) = if case == "small_page_slack" {
                (48, 1365 * 48)
            } else {
                (3072, 21 * 3072)
            };
            let page = live(size) as usize & !0xffff;
            Func::Free.call((page + end) as *mut c_void)
        }
        "small_double" | "mid_double" | "large_double" => {
            let size = match case {
                "small_double" => 48,
                "mid_double" => 20_000,
                _ => 300_000,
            };
            let p = live(size);
            good_free(p);
            Func::Free.call(p as *mut c_void);
        }
        "small_double_remote" | "mid_double_remote" => {
            // Allocated by a thread that is still alive, freed twice by us.
            let size = if case == "small_double_remote" {
                64
            } else {
                6000
            };
            let (tx, rx) = std::sync::mpsc::channel();
            let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
            let t = std::thread::spawn(move || {
                tx.send(live(size) as usize).unwrap();
                let _ = done_rx.recv();
            });
            let p = rx.recv().unwrap() as *mut u8;
            good_free(p);
            Func::Free.call(p as *mut c_void);
            drop(done_tx);
            t.join().unwrap();
        }
        "free_after_realloc_zero" => {
            let p = live(100);
            // SAFETY: live block; realloc(p, 0) frees it (glibc semantics).
            let q = unsafe { c::realloc(p as *mut c_void, 0) };
            assert!(q.is_null());
            Func::Free.call(p as *mut c_void);
        }
        "realloc_stack" => {
            let buf = black_box([7u64; 8]);
            Func::Realloc.call(&buf as *const _ as *mut c_void);
        }
        "realloc_interior" => Func::Realloc.call(offset(live(3000), 256)),
        "realloc_double" => {
            let p = live(32);
            good_free(p);
            Func::Realloc.call(p as *mut c_void);
        }
        "realloc_double_large" => {
            let p = live(300_000);
            good_free(p);
            Func::Realloc.call(p as *mut c_void);
        }
        "usable_size_mmap" => Func::UsableSize.call(offset(foreign_mapping(), 0)),
        "usable_size_interior" => Func::UsableSize.call(offset(live(100), 16)),
        "hot_small_foreign" | "hot_mid_foreign" => {
            let size = if case == "hot_small_foreign" {
                48
            } else {
                6000
            };
            warm_up(size);
            let buf = black_box([7u64; 8]);
            Func::Free.call(offset(&buf as *const _ as *mut u8, 16));
        }
        "hot_small_segment_aligned" => {
            warm_up(48);
            Func::Free.call(offset(foreign_segment_aligned(), 65536 + 48))
        }
        "hot_small_interior" | "hot_mid_interior" => {
            let size = if case == "hot_small_interior" {
                48
            } else {
                6000
            };
            warm_up(size);
            Func::Free.call(offset(live(size), 16))
        }
        "hot_small_double" | "hot_mid_double" => {
            let size = if case == "hot_small_double" { 48 } else { 6000 };
            warm_up(size);
            let p = live(size);
            good_free(p);
            Func::Free.call(p as *mut c_void);
        }
        "hot_small_double_older" => {
            // Not the list head: freed, then another object freed on top.
            warm_up(48);
            let (p, q) = (live(48), live(48));
            good_free(p);
            good_free(q);
            Func::Free.call(p as *mut c_void);
        }
        other => panic!("unknown case {other}"),
    }
}

/// Make the class of `size` hot in this thread: a current local page with
/// objects on its free list, so the bad free that follows meets free's
/// common path (owned page, no slow path) rather than a cold one.
fn warm_up(size: usize) {
    let blocks: Vec<*mut u8> = (0..200).map(|_| live(size)).collect();
    for p in blocks {
        good_free(p);
    }
    for _ in 0..1000 {
        good_free(live(size));
    }
}

/// A private anonymous mapping of 1 MiB (not hz4's).
fn foreign_mapping() -> *mut u8 {
    // SAFETY: anonymous private mapping, no address hint.
    let p = unsafe {
        libc::mmap(
            core::ptr::null_mut(),
            1 << 20,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    assert_ne!(p, libc::MAP_FAILED);
    p as *mut u8
}

/// A private mapping aligned like an hz4 segment (4 MiB), whose first page
/// looks like garbage: the segment map, not the address shape, must reject it.
fn foreign_segment_aligned() -> *mut u8 {
    const SEG: usize = 4 << 20;
    // SAFETY: anonymous private mapping, no address hint.
    let raw = unsafe {
        libc::mmap(
            core::ptr::null_mut(),
            2 * SEG,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    assert_ne!(raw, libc::MAP_FAILED);
    let base = (raw as usize + SEG - 1) & !(SEG - 1);
    // SAFETY: base..base+SEG lies inside the mapping made above.
    unsafe { core::ptr::write_bytes(base as *mut u8, 0x01, SEG) };
    base as *mut u8
}

/// Entry point of the child process; a no-op in a normal test run.
#[test]
fn child() {
    let Ok(case) = std::env::var(CASE_ENV) else {
        return;
    };
    run_case(&case);
    println!("hz4 accepted the bad pointer of case {case}");
    std::process::exit(NO_ABORT);
}

/// Run `case` in a child process and check it died by SIGABRT after
/// printing exactly `hz4: <func>: <reason> (ptr=<the pointer>)`.
fn expect_abort(case: &str, func: &str, reason: &str) {
    let dir = std::env::temp_dir();
    let tag = format!("hz4-invalid-free-{}-{case}", std::process::id());
    let out_path = dir.join(format!("{tag}.out"));
    let err_path = dir.join(format!("{tag}.err"));
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", "child", "--nocapture", "--test-threads=1"])
        .env(CASE_ENV, case)
        .env("RUST_BACKTRACE", "0")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap());
    // SAFETY: setrlimit is async-signal-safe; no core files for the expected aborts.
    unsafe {
        cmd.pre_exec(|| {
            let none = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            libc::setrlimit(libc::RLIMIT_CORE, &none);
            Ok(())
        });
    }
    let mut child = cmd.spawn().expect("spawn the test executable");
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("case {case}: child did not finish within 20 s (hang in hz4?)");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let stdout = std::fs::read_to_string(&out_path).unwrap();
    let stderr = std::fs::read_to_string(&err_path).unwrap();
    let _ = std::fs::remove_file(&out_path);
    let _ = std::fs::remove_file(&err_path);
    let ctx =
        format!("case {case}: status {status:?}\n--- stdout\n{stdout}--- stderr\n{stderr}---");
    assert_eq!(
        status.signal(),
        Some(libc::SIGABRT),
        "{ctx}\nexpected death by SIGABRT"
    );
    let ptr = stdout
        .lines()
        .find_map(|l| l.split("BAD_PTR=").nth(1))
        .unwrap_or_else(|| panic!("{ctx}\nchild never reached the bad call"))
        .to_string();
    let want = format!("hz4: {func}: {reason} (ptr={ptr})");
    let hz4_lines: Vec<&str> = stderr.lines().filter(|l| l.starts_with("hz4: ")).collect();
    assert_eq!(
        hz4_lines,
        [want.as_str()],
        "{ctx}\nexpected exactly one line {want:?}"
    );
    parent_still_works();
}

/// The parent process is unaffected: allocate, fill, check and free on every path.
fn parent_still_works() {
    let sizes = [
        1usize, 48, 100, 2048, 3000, 10_000, 65_536, 200_000, 5_000_000,
    ];
    let blocks: Vec<(*mut u8, usize)> = sizes
        .iter()
        .map(|&s| {
            let p = live(s);
            // SAFETY: fresh block of `s` bytes.
            unsafe { core::ptr::write_bytes(p, s as u8, s) };
            (p, s)
        })
        .collect();
    for (p, s) in blocks {
        // SAFETY: still live, `s` bytes.
        let ok = unsafe { std::slice::from_raw_parts(p, s) }
            .iter()
            .all(|&b| b == s as u8);
        assert!(ok, "parent block of {s} bytes corrupted");
        good_free(p);
    }
    let v: Vec<String> = (0..1000).map(|i| i.to_string()).collect();
    assert_eq!(v.iter().map(|s| s.len()).sum::<usize>(), 2890);
}

const NOT_OURS: &str = "pointer not allocated by hz4";
const NOT_START: &str = "not the start of an object (interior or misaligned pointer)";
const LARGE_INTERIOR: &str = "interior pointer into a large object";

#[test]
fn free_of_a_stack_pointer_aborts() {
    expect_abort("stack", "free", NOT_OURS);
}

#[test]
fn free_of_a_static_aborts() {
    expect_abort("static", "free", NOT_OURS);
}

#[test]
fn free_of_a_foreign_mmap_pointer_aborts() {
    expect_abort("mmap", "free", NOT_OURS);
}

#[test]
fn free_into_a_foreign_segment_aligned_mapping_aborts() {
    expect_abort("mmap_segment_aligned", "free", NOT_OURS);
}

#[test]
fn free_of_an_interior_small_pointer_aborts() {
    expect_abort("small_interior", "free", NOT_START);
    expect_abort("small_misaligned", "free", NOT_START);
}

#[test]
fn free_of_an_interior_mid_pointer_aborts() {
    expect_abort("mid_interior", "free", NOT_START);
    expect_abort("mid_misaligned", "free", NOT_START);
}

#[test]
fn free_of_an_interior_large_pointer_aborts() {
    expect_abort("large_interior_head_page", "free", LARGE_INTERIOR);
    expect_abort("large_interior_tail_page", "free", LARGE_INTERIOR);
}

#[test]
fn free_of_an_interior_huge_pointer_aborts() {
    expect_abort(
        "huge_interior",
        "free",
        "interior pointer into a huge object",
    );
}

#[test]
fn free_into_a_page_not_in_use_aborts() {
    expect_abort(
        "unused_page",
        "free",
        "invalid page magic (page not in use)",
    );
}

#[test]
fn free_into_a_segment_header_aborts() {
    expect_abort(
        "segment_header",
        "free",
        "invalid page magic (page not in use)",
    );
}

#[test]
fn free_past_the_last_object_of_a_page_aborts() {
    expect_abort("small_page_slack", "free", NOT_START);
    expect_abort("mid_page_slack", "free", NOT_START);
}

#[test]
fn double_free_of_a_small_object_aborts() {
    expect_abort("small_double", "free", "double free");
}

#[test]
fn double_free_of_a_mid_object_aborts() {
    expect_abort("mid_double", "free", "double free");
}

#[test]
fn double_free_of_a_large_object_aborts() {
    expect_abort("large_double", "free", "double free of a large object");
}

#[test]
fn double_free_of_another_threads_object_aborts() {
    expect_abort("small_double_remote", "free", "double free");
    expect_abort("mid_double_remote", "free", "double free");
}

#[test]
fn free_after_realloc_to_zero_is_a_double_free() {
    expect_abort("free_after_realloc_zero", "free", "double free");
}

// The same three kinds of bad pointer after the class has been warmed up,
// so the object's page is the thread's own current page: free's fast path
// (one map test, one small/mid object-start test, the free-marker test,
// the owner test) must still catch each of them.

#[test]
fn hot_path_free_of_a_foreign_pointer_aborts() {
    expect_abort("hot_small_foreign", "free", NOT_OURS);
    expect_abort("hot_mid_foreign", "free", NOT_OURS);
    expect_abort("hot_small_segment_aligned", "free", NOT_OURS);
}

#[test]
fn hot_path_free_of_an_interior_pointer_aborts() {
    expect_abort("hot_small_interior", "free", NOT_START);
    expect_abort("hot_mid_interior", "free", NOT_START);
}

#[test]
fn hot_path_double_free_aborts() {
    expect_abort("hot_small_double", "free", "double free");
    expect_abort("hot_mid_double", "free", "double free");
    expect_abort("hot_small_double_older", "free", "double free");
}

#[test]
fn realloc_of_bad_pointers_aborts_naming_realloc() {
    expect_abort("realloc_stack", "realloc", NOT_OURS);
    expect_abort(
        "realloc_interior",
        "realloc",
        "not the start of a live object",
    );
    expect_abort("realloc_double", "realloc", "pointer already freed");
}

#[test]
fn realloc_of_a_freed_large_object_names_realloc() {
    expect_abort("realloc_double_large", "realloc", "pointer already freed");
}

#[test]
fn malloc_usable_size_of_bad_pointers_aborts_naming_it() {
    expect_abort("usable_size_mmap", "malloc_usable_size", NOT_OURS);
    expect_abort(
        "usable_size_interior",
        "malloc_usable_size",
        "not the start of a live object",
    );
}
