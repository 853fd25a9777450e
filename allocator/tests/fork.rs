//! Fork safety: while 8 threads allocate and free continuously (hz4 as the
//! global allocator, plus the exported C `malloc`/`free`), the test thread
//! forks 50 times. Each child allocates and frees on every path (small,
//! mid, large, huge; Rust and C entry points), frees objects the parent's
//! worker threads allocated, spawns a thread that does the same, and
//! `_exit(0)`s. A child that deadlocks (an allocator lock inherited from a
//! thread that does not exist in the child) is killed at its deadline and
//! fails the test. Threads in children are raw pthreads (see `raw_thread`).
//! (Checked: with hz4's `pthread_atfork` call removed, most
//! children of this test deadlock.)

mod common;

use common::Rng;
use core::ffi::c_void;
use std::alloc::{alloc, dealloc, Layout};
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[global_allocator]
static A: hz4::Hz4 = hz4::Hz4;

const WORKERS: usize = 8;
const FORKS: usize = 50;
const CHILD_DEADLINE: Duration = Duration::from_secs(10);

/// C entry points through opaque pointers (LLVM knows `malloc`/`free` by
/// name and could elide a pair whose block is not observed).
fn c_malloc(n: usize) -> *mut u8 {
    black_box(hz4::ffi::malloc as extern "C" fn(usize) -> *mut c_void)(n) as *mut u8
}
fn c_calloc(n: usize, s: usize) -> *mut u8 {
    black_box(hz4::ffi::calloc as extern "C" fn(usize, usize) -> *mut c_void)(n, s) as *mut u8
}
/// # Safety
/// As C `realloc`.
unsafe fn c_realloc(p: *mut u8, n: usize) -> *mut u8 {
    let f = black_box(hz4::ffi::realloc as unsafe extern "C" fn(*mut c_void, usize) -> *mut c_void);
    // SAFETY: forwarded contract.
    unsafe { f(p as *mut c_void, n) as *mut u8 }
}
/// # Safety
/// As C `free`.
unsafe fn c_free(p: *mut u8) {
    let f = black_box(hz4::ffi::free as unsafe extern "C" fn(*mut c_void));
    // SAFETY: forwarded contract.
    unsafe { f(p as *mut c_void) }
}

impl Rng {
    /// 60 % small, 30 % mid, 9 % large, 1 % huge.
    fn size(&mut self) -> usize {
        match self.below(100) {
            0..=59 => 1 + self.below(2048),
            60..=89 => 2049 + self.below(65536 - 2048),
            90..=98 => 65537 + self.below(1 << 20),
            _ => (4 << 20) + self.below(1 << 20),
        }
    }
}

/// A block from the global allocator (hz4) whose first and last 32 bytes
/// carry a tag; the rest is never touched, so huge blocks stay cheap.
struct Tagged {
    ptr: *mut u8,
    layout: Layout,
}

// SAFETY: a uniquely owned heap block, like a Box<[u8]>.
unsafe impl Send for Tagged {}

impl Tagged {
    fn new(size: usize, tag: u8) -> Tagged {
        let layout = Layout::from_size_align(size.max(1), 8).unwrap();
        // SAFETY: non-zero size.
        let ptr = unsafe { alloc(layout) };
        assert!(!ptr.is_null(), "alloc({size}) failed");
        let t = Tagged { ptr, layout };
        t.set(tag);
        t
    }
    fn ends(&self) -> [(usize, usize); 2] {
        let len = self.layout.size();
        let n = len.min(32);
        [(0, n), (len - n, n)]
    }
    fn set(&self, tag: u8) {
        for (off, n) in self.ends() {
            // SAFETY: off + n <= size of the live block.
            unsafe { core::ptr::write_bytes(self.ptr.add(off), tag, n) };
        }
    }
    fn ok(&self, tag: u8) -> bool {
        self.ends().iter().all(|&(off, n)| {
            // SAFETY: off + n <= size of the live block.
            unsafe { std::slice::from_raw_parts(self.ptr.add(off), n) }
                .iter()
                .all(|&b| b == tag)
        })
    }
}

impl Drop for Tagged {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this layout, freed once.
        unsafe { dealloc(self.ptr, self.layout) }
    }
}

fn worker(
    id: usize,
    stop: Arc<AtomicBool>,
    pause: Arc<AtomicBool>,
    ops: Arc<AtomicU64>,
    to_main: SyncSender<Tagged>,
) {
    let mut rng = Rng(0x5eed + id as u64);
    let mut slots: Vec<Option<(Tagged, u8)>> = (0..64).map(|_| None).collect();
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) {
        while pause.load(Ordering::Relaxed) && !stop.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_micros(200));
        }
        let i = rng.below(slots.len() as u64);
        match slots[i].take() {
            Some((t, tag)) => {
                assert!(t.ok(tag), "worker {id}: block corrupted");
                if rng.below(20) == 0 {
                    // Hand it to the test thread (freed there or in a child).
                    let _ = to_main.try_send(t);
                }
            }
            None => {
                let tag = rng.next() as u8;
                slots[i] = Some((Tagged::new(rng.size(), tag), tag));
            }
        }
        // The C entry points too.
        let size = rng.size().min(200_000);
        let p = c_malloc(size);
        assert!(!p.is_null());
        // SAFETY: fresh block of `size` bytes, freed once.
        unsafe {
            *p = 1;
            *p.add(size - 1) = 2;
            c_free(p);
        }
        lock_heavy(id % 4, &mut rng);
        n += 1;
        if n.is_multiple_of(256) {
            ops.fetch_add(256, Ordering::Relaxed);
        }
    }
}

/// Extra work per worker kind that goes through the allocator's shared
/// locks, so that forks often catch one of them held (or contended) by a
/// thread that will not exist in the child.
fn lock_heavy(kind: usize, rng: &mut Rng) {
    match kind {
        // Thread churn: heap pool lock at thread start and exit; the exit
        // releases pages and caches to the global bins and span lists.
        1 => {
            let seed = rng.next();
            let h = std::thread::spawn(move || {
                let mut rng = Rng(seed);
                (0..40)
                    .map(|_| Tagged::new(rng.size().min(200_000), 5))
                    .collect::<Vec<_>>()
            });
            let blocks = h.join().unwrap();
            assert!(blocks.iter().all(|t| t.ok(5)));
        }
        // Huge mappings: the segment supply lock on every alloc and free.
        2 => drop(Tagged::new((4 << 20) + rng.below(2 << 20), 6)),
        // Large spans: overflow the thread cache into the global span lists.
        3 => {
            let pages = 2 + rng.below(40);
            let v: Vec<Tagged> = (0..48).map(|_| Tagged::new(pages << 16, 7)).collect();
            drop(v);
        }
        _ => {}
    }
}

/// Run `f` on a new thread made with `pthread_create` and join it.
///
/// Not `std::thread::spawn`: std's thread start takes process-wide locks
/// of its own (the stack-overflow handler's thread-info mutex), which a
/// thread of the parent may hold at the fork -- a std limitation after
/// fork, not the allocator's. A panic in `f` aborts the process.
fn raw_thread(f: impl FnOnce() -> usize + Send + 'static) -> usize {
    type Job = Box<dyn FnOnce() -> usize + Send>;
    extern "C" fn start(arg: *mut c_void) -> *mut c_void {
        // SAFETY: `arg` is the Box<Job> leaked by the spawner below, taken once.
        let job = unsafe { Box::from_raw(arg as *mut Job) };
        job() as *mut c_void
    }
    let job: Box<Job> = Box::new(Box::new(f));
    // SAFETY: plain pthread_create/join with a valid start routine and a
    // heap argument that the new thread takes ownership of.
    unsafe {
        let mut tid: libc::pthread_t = 0;
        let rc = libc::pthread_create(
            &mut tid,
            core::ptr::null(),
            start,
            Box::into_raw(job) as *mut c_void,
        );
        assert_eq!(rc, 0, "pthread_create failed");
        let mut ret: *mut c_void = core::ptr::null_mut();
        assert_eq!(libc::pthread_join(tid, &mut ret), 0);
        ret as usize
    }
}

/// What a child does; any failure panics (turned into a non-zero exit).
fn child_work(held: Vec<Tagged>, seed: u64) {
    // Free what the parent's worker threads allocated (their heaps have no
    // thread in this process).
    for t in &held {
        assert!(t.ok(0x77), "held block corrupted in the child");
    }
    drop(held);
    let mut rng = Rng(seed);
    let mut live: Vec<(Tagged, u8)> = Vec::new();
    for size in [
        1,
        16,
        100,
        2048,
        2049,
        10_000,
        65_536,
        65_537,
        300_000,
        4 << 20,
        5_000_000,
    ] {
        let tag = size as u8 | 1;
        live.push((Tagged::new(size, tag), tag));
        // C path: malloc, calloc, realloc grow and shrink.
        let p = c_malloc(size);
        assert!(!p.is_null());
        // SAFETY: fresh blocks of the stated sizes, each freed once.
        unsafe {
            core::ptr::write_bytes(p, 0xcd, size);
            let q = c_realloc(p, size * 2 + 1);
            assert!(!q.is_null());
            assert_eq!(*q.add(size - 1), 0xcd);
            let r = c_realloc(q, size / 2 + 1);
            assert_eq!(*r, 0xcd);
            c_free(r);
            let z = c_calloc(size, 1);
            assert!(!z.is_null() && *z == 0 && *z.add(size - 1) == 0);
            c_free(z);
        }
    }
    for _ in 0..1000 {
        let tag = rng.next() as u8;
        live.push((Tagged::new(rng.size().min(100_000), tag), tag));
        if live.len() > 100 {
            let (t, tag) = live.swap_remove(rng.below(live.len() as u64));
            assert!(t.ok(tag));
        }
    }
    // A thread in the child: allocates, frees, and frees some of ours.
    let give: Vec<(Tagged, u8)> = live.drain(..live.len() / 2).collect();
    let n = raw_thread(move || {
        for (t, tag) in give {
            assert!(t.ok(tag));
        }
        let mut rng = Rng(seed ^ 0xabc);
        let v: Vec<Tagged> = (0..500)
            .map(|_| Tagged::new(rng.size().min(300_000), 9))
            .collect();
        assert!(v.iter().all(|t| t.ok(9)));
        v.len()
    });
    assert_eq!(n, 500);
    for (t, tag) in live {
        assert!(t.ok(tag));
    }
}

/// Wait for `pid` until the deadline; kill it if it is still running.
fn wait_child(pid: libc::pid_t, what: &str, limit: Duration) -> Result<(), String> {
    let deadline = Instant::now() + limit;
    loop {
        let mut status = 0;
        // SAFETY: waiting for our own child with a valid status pointer.
        let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        if r == pid {
            if libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0 {
                return Ok(());
            }
            return Err(if libc::WIFSIGNALED(status) {
                format!("{what}: child killed by signal {}", libc::WTERMSIG(status))
            } else {
                format!("{what}: child exited with {}", libc::WEXITSTATUS(status))
            });
        }
        assert_eq!(r, 0, "waitpid failed: {}", std::io::Error::last_os_error());
        if Instant::now() > deadline {
            let stacks = gdb_backtrace(pid);
            // SAFETY: killing and reaping our own child.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::waitpid(pid, &mut status, 0);
            }
            return Err(format!(
                "{what}: child still running after {limit:?} (deadlock after fork?)\n{stacks}"
            ));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// The stacks of a hung child, when gdb is installed (diagnostics only).
fn gdb_backtrace(pid: libc::pid_t) -> String {
    let out = std::process::Command::new("gdb")
        .args([
            "-p",
            &pid.to_string(),
            "-batch",
            "-nx",
            "-ex",
            "thread apply all bt 30",
        ])
        .stdin(std::process::Stdio::null())
        .output();
    match out {
        Ok(o) => {
            let text = String::from_utf8_lossy(&o.stdout);
            let frames: Vec<&str> = text
                .lines()
                .filter(|l| l.starts_with('#') || l.starts_with("Thread"))
                .collect();
            format!("child stacks (gdb):\n{}", frames.join("\n"))
        }
        Err(e) => format!("(no stacks: gdb not runnable: {e})"),
    }
}

/// Fork; the child runs `f` and `_exit`s with 0 on success, 1 on a panic.
fn fork_run(f: impl FnOnce()) -> libc::pid_t {
    // SAFETY: the child only runs `f` (allocation and thread creation, which
    // is what this test is about) and leaves with _exit, never returning
    // into the test harness.
    unsafe {
        let pid = libc::fork();
        assert!(pid >= 0, "fork failed: {}", std::io::Error::last_os_error());
        if pid == 0 {
            let ok = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).is_ok();
            libc::_exit(if ok { 0 } else { 1 });
        }
        pid
    }
}

#[test]
fn children_forked_while_threads_allocate_can_allocate() {
    let stop = Arc::new(AtomicBool::new(false));
    let pause = Arc::new(AtomicBool::new(false));
    let ops = Arc::new(AtomicU64::new(0));
    let (tx, rx): (SyncSender<Tagged>, Receiver<Tagged>) = sync_channel(256);
    let workers: Vec<_> = (0..WORKERS)
        .map(|id| {
            let (stop, pause, ops, tx) = (stop.clone(), pause.clone(), ops.clone(), tx.clone());
            std::thread::spawn(move || worker(id, stop, pause, ops, tx))
        })
        .collect();
    drop(tx);
    // Let the workers get going.
    while ops.load(Ordering::Relaxed) < 2048 {
        std::thread::sleep(Duration::from_millis(1));
    }
    let t0 = Instant::now();
    let mut failures = Vec::new();
    for i in 0..FORKS {
        // Some blocks allocated by the workers, re-tagged for the child.
        let held: Vec<Tagged> = rx.try_iter().take(20).collect();
        for t in &held {
            t.set(0x77);
        }
        let tf = Instant::now();
        let pid = fork_run(move || child_work(held, 1000 + i as u64));
        let forked = tf.elapsed();
        let r = wait_child(pid, &format!("fork {i}"), CHILD_DEADLINE);
        if std::env::var_os("FORK_DEBUG").is_some() {
            eprintln!("fork {forked:?} child {:?}", tf.elapsed());
        }
        if let Err(e) = r {
            failures.push(e);
            if failures.len() >= 2 {
                break; // enough evidence; do not spend 10 s per broken child
            }
        }
        // The parent keeps allocating between forks too.
        let v: Vec<Tagged> = (0..50).map(|k| Tagged::new(1 + k * 997, 3)).collect();
        assert!(v.iter().all(|t| t.ok(3)));
    }
    let elapsed = t0.elapsed();
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().expect("worker panicked");
    }
    drop(rx);
    eprintln!(
        "{FORKS} forks in {elapsed:?}, workers did {} ops",
        ops.load(Ordering::Relaxed)
    );
    assert!(
        failures.is_empty(),
        "children failed:\n{}",
        failures.join("\n")
    );
}

#[test]
fn a_child_can_fork_again() {
    // Fork inside a forked child (atfork handlers run in a process whose
    // locks were reset by the previous fork), with a thread running there.
    let pid = fork_run(|| {
        // The busy thread must run during the inner fork, so it is joined
        // after it; a raw pthread (see `raw_thread`) started by hand.
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        type Job = Box<dyn FnOnce() + Send>;
        extern "C" fn start(arg: *mut c_void) -> *mut c_void {
            // SAFETY: the Box<Job> leaked below, taken once.
            let job = unsafe { Box::from_raw(arg as *mut Job) };
            job();
            core::ptr::null_mut()
        }
        let job: Box<Job> = Box::new(Box::new(move || {
            let mut rng = Rng(77);
            while !stop2.load(Ordering::Relaxed) {
                black_box(Tagged::new(rng.size().min(100_000), 1));
            }
        }));
        let mut tid: libc::pthread_t = 0;
        // SAFETY: valid start routine; the thread owns the leaked job.
        let rc = unsafe {
            libc::pthread_create(
                &mut tid,
                core::ptr::null(),
                start,
                Box::into_raw(job) as *mut c_void,
            )
        };
        assert_eq!(rc, 0);
        std::thread::sleep(Duration::from_millis(5));
        let grandchild = fork_run(|| child_work(Vec::new(), 5));
        let r = wait_child(grandchild, "grandchild", CHILD_DEADLINE);
        stop.store(true, Ordering::Relaxed);
        // SAFETY: joining the thread created above, once.
        unsafe { libc::pthread_join(tid, core::ptr::null_mut()) };
        r.unwrap();
    });
    wait_child(pid, "child", 2 * CHILD_DEADLINE).unwrap();
}
