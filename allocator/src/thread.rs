//! Thread life cycle: the first allocation of a thread creates its heap;
//! a pthread key destructor tears it down at thread exit (no std TLS
//! destructors: they may allocate). Process-wide one-time setup (the key,
//! fork handlers, the stats dump) happens on the first thread's first
//! allocation.

use crate::heap::{self, Heap};
use crate::tls;
use core::sync::atomic::{AtomicU32, AtomicU8, Ordering};

const INIT_NONE: u8 = 0;
const INIT_RUNNING: u8 = 1;
const INIT_DONE: u8 = 2;
static INIT: AtomicU8 = AtomicU8::new(INIT_NONE);
static KEY: AtomicU32 = AtomicU32::new(0);

/// Create the calling thread's heap and install it. Null when out of memory.
#[cold]
#[inline(never)]
pub fn init() -> *mut Heap {
    let h = heap::acquire();
    if h.is_null() {
        return h;
    }
    // Installed first: the process setup below may call malloc, which then
    // finds this heap instead of coming back here.
    tls::set_heap(h);
    global_init();
    // SAFETY: the key was created by global_init; setspecific for a key made
    // early in the process does not allocate in glibc.
    unsafe { libc::pthread_setspecific(KEY.load(Ordering::Acquire), h as *const libc::c_void) };
    h
}

fn global_init() {
    match INIT.compare_exchange(INIT_NONE, INIT_RUNNING, Ordering::AcqRel, Ordering::Acquire) {
        Ok(_) => {}
        Err(INIT_DONE) => return,
        Err(_) => {
            // Another thread is in the middle of it; it does not need us.
            while INIT.load(Ordering::Acquire) != INIT_DONE {
                // SAFETY: sched_yield has no preconditions.
                unsafe { libc::sched_yield() };
            }
            return;
        }
    }
    let mut seed = 0usize;
    seed ^= &seed as *const usize as usize;
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: rdtsc is available on every x86-64 CPU.
        seed ^= unsafe { core::arch::x86_64::_rdtsc() } as usize;
    }
    seed ^= init as fn() -> *mut Heap as usize;
    crate::hot::hot()
        .guard_key
        .store(seed.rotate_left(17) | 1, Ordering::Relaxed);
    let mut key: libc::pthread_key_t = 0;
    // SAFETY: plain pthread calls with valid pointers and extern "C" callbacks.
    unsafe {
        libc::pthread_key_create(&mut key, Some(thread_exit));
        KEY.store(key, Ordering::Release);
        libc::pthread_atfork(Some(fork_prepare), Some(fork_parent), Some(fork_child));
    }
    crate::stats::register_exit_dump();
    INIT.store(INIT_DONE, Ordering::Release);
}

/// pthread key destructor: give everything the dying thread holds back.
unsafe extern "C" fn thread_exit(arg: *mut libc::c_void) {
    let h = arg as *mut Heap;
    if h.is_null() {
        return;
    }
    // SAFETY: `h` is this thread's heap (the key value set in `init`).
    unsafe { teardown(h) };
}

/// Flush stacks and caches, release pages, return the heap to the pool.
///
/// # Safety
/// `h` is the calling thread's heap and is not used after this.
pub unsafe fn teardown(h: *mut Heap) {
    // SAFETY: `h` is ours; after this the thread has no heap and later
    // frees from it go the remote way.
    unsafe {
        if crate::config::B57 {
            crate::mid::local_stack::flush(h);
        }
        // The thread's caches go back to the supply in one batch: its free
        // pages, its span cache and its reservation. Long free runs are
        // purged now, short ones at the next purge round.
        let mut batch = crate::segment::PurgeBatch::exit();
        crate::refill::release_all(h, &mut batch);
        crate::large::release_thread_cache(h, &mut batch);
        crate::bins::return_reservation(h, &mut batch);
        crate::purge::note_purged(batch.flush());
        tls::set_heap(heap::sentinel());
        heap::release(h);
        crate::purge::maybe();
    }
}

// ---- fork ------------------------------------------------------------------
// Every allocator lock is taken before fork and released in both processes,
// so the child never inherits a lock held by a thread that does not exist
// there. No code path holds two of these locks at once, so the order here
// cannot deadlock with normal operation.

extern "C" fn fork_prepare() {
    crate::bins::lock_all();
    crate::large::lock_all();
    crate::huge::lock();
    crate::segment::SUPPLY_LOCK.lock();
    heap::POOL_LOCK.lock();
}

extern "C" fn fork_parent() {
    heap::POOL_LOCK.unlock();
    crate::segment::SUPPLY_LOCK.unlock();
    crate::huge::unlock();
    crate::large::unlock_all();
    crate::bins::unlock_all();
}

extern "C" fn fork_child() {
    crate::purge::reset_after_fork();
    heap::POOL_LOCK.force_unlock();
    crate::segment::SUPPLY_LOCK.force_unlock();
    crate::huge::reset();
    crate::large::reset_all();
    crate::bins::reset_all();
}
