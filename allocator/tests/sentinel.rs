//! The sentinel heap. A thread's TLS word holds it until the thread's first
//! allocation and again after hz4's thread-exit teardown, so malloc's fast
//! path needs no "initialised?" test: the sentinel's empty class queues
//! send the first malloc into the slow path, which must create the heap
//! and still hand out a usable block, for every size path. A free from a
//! thread without a heap goes the remote way and must not create one.
//! Allocating in thread-exit destructors -- a Rust `thread_local!` with a
//! `Drop` that allocates, and a pthread key destructor that runs after
//! hz4's teardown -- must work too. After all of it the sentinel itself
//! must be untouched (no slow path used it as a heap).

use core::ffi::c_void;
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};

#[global_allocator]
static A: hz4::Hz4 = hz4::Hz4;

fn malloc(n: usize) -> *mut u8 {
    black_box(hz4::ffi::malloc as extern "C" fn(usize) -> *mut c_void)(n) as *mut u8
}

/// # Safety
/// `p` is null or a live block of ours.
unsafe fn free(p: *mut u8) {
    let f = black_box(hz4::ffi::free as unsafe extern "C" fn(*mut c_void));
    // SAFETY: forwarded contract.
    unsafe { f(black_box(p) as *mut c_void) }
}

/// Fill `n` bytes of `p` with a pattern and read it back.
fn usable(p: *mut u8, n: usize) -> bool {
    if p.is_null() {
        return false;
    }
    // SAFETY: `p` is a live block of at least `n` bytes.
    unsafe {
        for i in 0..n {
            *p.add(i) = (i % 251) as u8;
        }
        (0..n).all(|i| *p.add(i) == (i % 251) as u8)
    }
}

/// Run `f(arg)` on a fresh pthread (std's spawn may allocate on the new
/// thread before the closure runs; a raw pthread's first allocation is the
/// one `f` makes) and return its result.
fn on_fresh_thread(f: extern "C" fn(*mut c_void) -> *mut c_void, arg: usize) -> usize {
    let mut t: libc::pthread_t = 0;
    // SAFETY: valid out pointer, extern "C" start routine, no attributes.
    let rc = unsafe { libc::pthread_create(&mut t, core::ptr::null(), f, arg as *mut c_void) };
    assert_eq!(rc, 0, "pthread_create");
    let mut ret: *mut c_void = core::ptr::null_mut();
    // SAFETY: `t` was created above and is joined once.
    assert_eq!(unsafe { libc::pthread_join(t, &mut ret) }, 0);
    ret as usize
}

/// Problems seen by `first_malloc_thread`, as bits of its result.
const HAD_HEAP: usize = 1;
const NULL: usize = 2;
const NO_HEAP_AFTER: usize = 4;
const NOT_USABLE: usize = 8;
const SECOND_FAILED: usize = 16;

extern "C" fn first_malloc_thread(arg: *mut c_void) -> *mut c_void {
    let size = arg as usize;
    let mut bad = 0;
    if hz4::debug::thread_has_heap() {
        bad |= HAD_HEAP;
    }
    let p = malloc(size);
    if p.is_null() {
        bad |= NULL;
    } else {
        if !hz4::debug::thread_has_heap() {
            bad |= NO_HEAP_AFTER;
        }
        if !usable(p, size.max(1)) {
            bad |= NOT_USABLE;
        }
        // The second malloc of the class (now through the real heap).
        let q = malloc(size);
        if !usable(q, size.max(1)) || q == p {
            bad |= SECOND_FAILED;
        }
        // SAFETY: both are live blocks of ours, freed once.
        unsafe {
            free(q);
            free(p);
        }
    }
    bad as *mut c_void
}

#[test]
fn first_malloc_of_a_new_thread_works_on_every_size_path() {
    // Size 0, small, mid, XL, large, huge.
    for size in [
        0usize, 1, 16, 32, 2048, 2049, 10_000, 65_536, 65_537, 131_072, 200_000, 5_000_000,
    ] {
        let bad = on_fresh_thread(first_malloc_thread, size);
        assert_eq!(
            bad, 0,
            "first malloc({size}) of a new thread: problem bits {bad:#b}"
        );
    }
    assert!(hz4::debug::sentinel_is_pristine());
}

extern "C" fn free_first_thread(arg: *mut c_void) -> *mut c_void {
    let blocks = arg as *const [usize; 3];
    let mut bad = 0;
    // SAFETY: the parent keeps the array alive until the join; each block
    // is a live block of ours, freed once here.
    unsafe {
        free(core::ptr::null_mut());
        for &b in &*blocks {
            free(b as *mut u8);
        }
    }
    if hz4::debug::thread_has_heap() {
        bad |= HAD_HEAP; // a free must not create a heap
    }
    bad as *mut c_void
}

#[test]
fn free_as_a_threads_first_call_goes_remote_without_a_heap() {
    let blocks = [
        malloc(64) as usize,
        malloc(6000) as usize,
        malloc(300_000) as usize,
    ];
    assert!(blocks.iter().all(|&b| b != 0));
    let bad = on_fresh_thread(free_first_thread, &blocks as *const _ as usize);
    assert_eq!(bad, 0, "a thread without a heap created one in free");
    // The objects are back: the owner takes its remote frees in again.
    for _ in 0..3 {
        let v: Vec<*mut u8> = (0..2000).map(|_| malloc(64)).collect();
        assert!(v.iter().all(|&p| usable(p, 64)));
        for p in v {
            // SAFETY: live blocks of ours, freed once.
            unsafe { free(p) };
        }
    }
    assert!(hz4::debug::sentinel_is_pristine());
}

static RUST_DTOR_OK: AtomicUsize = AtomicUsize::new(0);

struct AllocOnDrop;

impl Drop for AllocOnDrop {
    fn drop(&mut self) {
        // Runs at thread exit (before pthread key destructors in glibc).
        let v: Vec<u64> = (0..1000).collect();
        let s: String = (0..100)
            .map(|i| char::from(b'a' + (i % 26) as u8))
            .collect();
        let big = vec![3u8; 300_000];
        if v.iter().sum::<u64>() == 499_500 && s.len() == 100 && big.iter().all(|&b| b == 3) {
            RUST_DTOR_OK.fetch_add(1, Ordering::SeqCst);
        }
    }
}

thread_local! {
    static ON_EXIT: std::cell::RefCell<Option<AllocOnDrop>> = const { std::cell::RefCell::new(None) };
}

#[test]
fn thread_local_destructor_may_allocate() {
    let before = RUST_DTOR_OK.load(Ordering::SeqCst);
    let threads: Vec<_> = (0..4)
        .map(|_| {
            std::thread::spawn(|| {
                ON_EXIT.with(|c| *c.borrow_mut() = Some(AllocOnDrop));
                let v: Vec<u32> = (0..100).collect();
                black_box(v);
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(RUST_DTOR_OK.load(Ordering::SeqCst) - before, 4);
    assert!(hz4::debug::sentinel_is_pristine());
}

/// Calls of the key destructor; results of its second call.
static KEY_CALLS: AtomicUsize = AtomicUsize::new(0);
static KEY_SECOND: AtomicUsize = AtomicUsize::new(usize::MAX);

unsafe extern "C" fn key_dtor(arg: *mut c_void) {
    let key = arg as usize as libc::pthread_key_t;
    let n = KEY_CALLS.fetch_add(1, Ordering::SeqCst);
    if n == 0 {
        // Re-arm once: glibc runs another round, and by then hz4's own key
        // destructor (whatever its place in the order) has torn the
        // thread's heap down once, so the TLS word holds the sentinel.
        // SAFETY: our own key; a non-null value asks for another round.
        unsafe { libc::pthread_setspecific(key, arg) };
        return;
    }
    let mut bad = 0;
    if hz4::debug::thread_has_heap() {
        bad |= HAD_HEAP;
    }
    let p = malloc(100);
    let q = malloc(20_000);
    if !usable(p, 100) || !usable(q, 20_000) {
        bad |= NOT_USABLE;
    }
    // SAFETY: live blocks of ours, freed once.
    unsafe {
        free(q);
        free(p);
    }
    KEY_SECOND.store(bad, Ordering::SeqCst);
}

extern "C" fn key_thread(arg: *mut c_void) -> *mut c_void {
    let key = arg as usize as libc::pthread_key_t;
    // The thread has a heap (this malloc) and a value for our key.
    let p = malloc(64);
    // SAFETY: our own key; the value is the key number itself (non-zero).
    unsafe {
        libc::pthread_setspecific(key, arg);
        free(p);
    }
    core::ptr::null_mut()
}

#[test]
fn pthread_key_destructor_after_teardown_may_allocate() {
    // hz4 set up its own key at the process's first allocation, long before.
    let mut key: libc::pthread_key_t = 0;
    // SAFETY: valid out pointer and an extern "C" destructor.
    assert_eq!(
        unsafe { libc::pthread_key_create(&mut key, Some(key_dtor)) },
        0
    );
    // The key travels as the thread's value, which must be non-null for
    // the destructor to run: take another key if we got number 0.
    let key = if key == 0 {
        let mut k2: libc::pthread_key_t = 0;
        // SAFETY: as above.
        assert_eq!(
            unsafe { libc::pthread_key_create(&mut k2, Some(key_dtor)) },
            0
        );
        k2
    } else {
        key
    };
    let arg = key as usize;
    on_fresh_thread(key_thread, arg);
    assert_eq!(KEY_CALLS.load(Ordering::SeqCst), 2, "key destructor calls");
    assert_eq!(
        KEY_SECOND.load(Ordering::SeqCst),
        0,
        "malloc in a key destructor after hz4's teardown: problem bits (1: the thread still had a heap)"
    );
    // SAFETY: our key, no thread uses it any more.
    unsafe { libc::pthread_key_delete(key) };
    assert!(hz4::debug::sentinel_is_pristine());
}
