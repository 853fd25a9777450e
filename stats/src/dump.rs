//! The dump: `[TAG] key=value …` lines written with `write(2)`.
//!
//! Runs inside the allocator (explicit `hz4_stats_dump`) and from an
//! `atexit` handler, so: one stack line buffer ([`LINE_CAP`] bytes) and a
//! stack path buffer, no heap, no locks, no panics. Each line goes out in
//! one `write` call (looping only on partial writes and `EINTR`), so lines
//! from concurrent dumps appending to one file do not interleave mid-line.

use core::ffi::{c_int, CStr};
use core::ptr;
use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, AtomicU8, Ordering};

use crate::fields::{write_line_values, Line};
use crate::linebuf::{LineBuf, LINE_CAP};

/// Which optional lines a dump prints. Line 1 is always printed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DumpConfig {
    /// Print line 2 (B58 owner-local-stack remote gate).
    pub b58: bool,
    /// Print line 3 (B77 adaptive owner local stack).
    pub b77: bool,
    /// Print the `[HZ4_MID_LOCK_STATS]` line.
    pub lock_stats: bool,
    /// Print the `supply_resv_*` line.
    pub supply: bool,
    /// Print the `[HZ4_MEM_STATS]` line.
    pub mem: bool,
    /// A full `[HZ4_BUILD] …` line (without newline) printed first.
    /// Lines longer than the line buffer are cut to fit.
    pub build_line: Option<&'static str>,
}

/// Address of the function every dump calls first (0: none).
static PRE_DUMP: core::sync::atomic::AtomicUsize = core::sync::atomic::AtomicUsize::new(0);

/// Registers `f` to run at the start of every dump, before any value is
/// read: the place to fill in keys derived from others (the allocator
/// derives `malloc_calls` and `free_calls` from the outcome counters, which
/// saves two increments per malloc/free pair). It must not allocate.
pub fn set_pre_dump(f: fn()) {
    // Release: the function's code and data are ready before a dump sees it.
    PRE_DUMP.store(f as usize, core::sync::atomic::Ordering::Release);
}

fn run_pre_dump() {
    let p = PRE_DUMP.load(core::sync::atomic::Ordering::Acquire);
    if p != 0 {
        // SAFETY: the only non-zero values ever stored are `fn()` pointers
        // (set_pre_dump), and fn pointers and usize have the same size.
        let f: fn() = unsafe { core::mem::transmute::<usize, fn()>(p) };
        f();
    }
}

/// Environment variable naming a file to append the dump to.
pub const STATS_FILE_ENV: &CStr = c"HZ4_STATS_FILE";

/// Longest `HZ4_STATS_FILE` path accepted (bytes, without the NUL).
pub const PATH_CAP: usize = 4095;

/// Calls `emit` once per dump line, in dump order; each slice is one full
/// line ending in `\n`. The building block of [`dump`] and [`dump_to_fd`].
pub fn dump_with(cfg: &DumpConfig, emit: &mut dyn FnMut(&[u8])) {
    run_pre_dump();
    let mut buf = LineBuf::<LINE_CAP>::new();
    if let Some(build) = cfg.build_line {
        let body = build.strip_suffix('\n').unwrap_or(build).as_bytes();
        buf.push_clipped(body.get(..LINE_CAP - 1).unwrap_or(body));
        buf.push(b"\n");
        emit(buf.as_bytes());
    }
    for line in Line::ALL {
        if !line.enabled(cfg) {
            continue;
        }
        buf.clear();
        buf.push(line.tag().as_bytes());
        write_line_values(line, &mut buf);
        buf.push(b"\n");
        // Cannot trigger: MAX_LINE_LEN <= LINE_CAP is a compile-time check.
        debug_assert!(!buf.truncated());
        emit(buf.as_bytes());
    }
}

/// Writes the dump to `fd` (not closed). Write errors other than `EINTR`
/// end the dump quietly: there is nowhere better to report them.
pub fn dump_to_fd(cfg: &DumpConfig, fd: c_int) {
    let mut ok = true;
    dump_with(cfg, &mut |line| {
        if ok {
            ok = write_all(fd, line).is_ok();
        }
    });
}

/// Dumps to `HZ4_STATS_FILE` (appending; created 0644 if missing) or, when
/// unset or empty, to stderr. If the file cannot be opened, one line naming
/// the path and errno goes to stderr, followed by the dump.
///
/// The allocator exports this as the C symbol `hz4_stats_dump`.
pub fn dump(cfg: &DumpConfig) {
    // SAFETY: getenv with a valid NUL-terminated name; the result is either
    // null or a NUL-terminated string owned by the environment.
    let raw = unsafe { libc::getenv(STATS_FILE_ENV.as_ptr()) };
    let path = if raw.is_null() {
        None
    } else {
        // SAFETY: non-null getenv result, NUL-terminated (checked above);
        // only read here, before anything else can touch the environment.
        Some(unsafe { CStr::from_ptr(raw) }.to_bytes())
    };
    dump_routed(cfg, path, libc::STDERR_FILENO);
}

/// [`dump`] with the path and the fallback fd given explicitly (tests use
/// this so that no environment variable leaks between them). `path`:
/// `None` or empty means `err_fd`.
#[doc(hidden)]
pub fn dump_routed(cfg: &DumpConfig, path: Option<&[u8]>, err_fd: c_int) {
    let path = match path {
        Some(p) if !p.is_empty() => p,
        _ => return dump_to_fd(cfg, err_fd),
    };
    match open_append(path) {
        Ok(fd) => {
            dump_to_fd(cfg, fd);
            // SAFETY: fd was opened above and is not used after this.
            unsafe { libc::close(fd) };
        }
        Err(errno) => {
            report_open_failure(path, errno, err_fd);
            dump_to_fd(cfg, err_fd);
        }
    }
}

/// Opens `path` for appending, copying it into a stack buffer to add the NUL.
fn open_append(path: &[u8]) -> Result<c_int, c_int> {
    let mut cpath = [0u8; PATH_CAP + 1];
    if path.contains(&0) {
        return Err(libc::EINVAL);
    }
    match cpath.get_mut(..path.len()) {
        Some(dst) if path.len() <= PATH_CAP => dst.copy_from_slice(path),
        _ => return Err(libc::ENAMETOOLONG),
    }
    let flags = libc::O_WRONLY | libc::O_APPEND | libc::O_CREAT | libc::O_CLOEXEC;
    // SAFETY: cpath is NUL-terminated (zeroed, path is shorter than it and
    // has no interior NUL); mode is passed as the variadic third argument.
    let fd = unsafe { libc::open(cpath.as_ptr().cast(), flags, 0o644 as libc::c_uint) };
    if fd < 0 {
        Err(errno())
    } else {
        Ok(fd)
    }
}

/// One line: `hz4-stats: cannot open HZ4_STATS_FILE=<path>: errno N (NAME); dumping to stderr`.
fn report_open_failure(path: &[u8], errno: c_int, fd: c_int) {
    let mut msg = LineBuf::<{ LINE_CAP + 256 }>::new();
    msg.push(b"hz4-stats: cannot open HZ4_STATS_FILE=");
    msg.push_clipped(path.get(..PATH_CAP + 1).unwrap_or(path));
    msg.push(b": errno ");
    msg.push_u64(u64::try_from(errno).unwrap_or(0));
    if let Some(name) = errno_name(errno) {
        msg.push(b" (");
        msg.push(name.as_bytes());
        msg.push(b")");
    }
    msg.push(b"; dumping to stderr\n");
    let _ = write_all(fd, msg.as_bytes());
}

/// Names of the errnos `open` commonly returns (no `strerror`: it is not
/// thread-safe and may allocate for unknown codes).
fn errno_name(e: c_int) -> Option<&'static str> {
    Some(match e {
        libc::ENOENT => "ENOENT",
        libc::EACCES => "EACCES",
        libc::EPERM => "EPERM",
        libc::EISDIR => "EISDIR",
        libc::ENOTDIR => "ENOTDIR",
        libc::EROFS => "EROFS",
        libc::ENAMETOOLONG => "ENAMETOOLONG",
        libc::ENOSPC => "ENOSPC",
        libc::EMFILE => "EMFILE",
        libc::ENFILE => "ENFILE",
        libc::ELOOP => "ELOOP",
        libc::EINVAL => "EINVAL",
        libc::EEXIST => "EEXIST",
        _ => return None,
    })
}

fn errno() -> c_int {
    // Reads errno without allocating (an `Os` error is a plain integer).
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// `write(2)` until all of `bytes` is out; retries on `EINTR`.
fn write_all(fd: c_int, mut bytes: &[u8]) -> Result<(), c_int> {
    while !bytes.is_empty() {
        // SAFETY: the pointer and length describe the live slice `bytes`.
        let n = unsafe { libc::write(fd, bytes.as_ptr().cast(), bytes.len()) };
        if n < 0 {
            let e = errno();
            if e == libc::EINTR {
                continue;
            }
            return Err(e);
        }
        if n == 0 {
            // write(2) never returns 0 for a non-empty buffer on a regular
            // fd; give up rather than spin.
            return Err(0);
        }
        bytes = bytes.get(n.unsigned_abs()..).unwrap_or(&[]);
    }
    Ok(())
}

// --- atexit registration ---------------------------------------------------

/// A "run exactly once" gate built on one `AtomicU8`, safe to hit from many
/// threads inside malloc: no parking, no allocation, losers return at once.
#[doc(hidden)]
pub struct OnceGate(AtomicU8);

const GATE_IDLE: u8 = 0;
const GATE_RUNNING: u8 = 1;
const GATE_DONE: u8 = 2;
const GATE_FAILED: u8 = 3;

impl OnceGate {
    /// A gate that has not run.
    pub const fn new() -> Self {
        Self(AtomicU8::new(GATE_IDLE))
    }

    /// Runs `f` if no call has run it before; `f` returns success. Returns
    /// true only for the call that ran `f`. Callers that lose the race do
    /// not wait for the winner.
    #[inline]
    pub fn run_once(&self, f: impl FnOnce() -> bool) -> bool {
        // Acquire on both: a caller that sees DONE also sees what the winner
        // stored before publishing it (the config pointer).
        if self.0.load(Ordering::Acquire) != GATE_IDLE {
            return false;
        }
        if self
            .0
            .compare_exchange(
                GATE_IDLE,
                GATE_RUNNING,
                Ordering::Acquire,
                Ordering::Relaxed,
            )
            .is_err()
        {
            return false;
        }
        let state = if f() { GATE_DONE } else { GATE_FAILED };
        // Release: publish f's side effects with the final state.
        self.0.store(state, Ordering::Release);
        true
    }

    /// True once `f` has run and succeeded.
    pub fn is_done(&self) -> bool {
        self.0.load(Ordering::Acquire) == GATE_DONE
    }
}

impl Default for OnceGate {
    fn default() -> Self {
        Self::new()
    }
}

static ATEXIT_GATE: OnceGate = OnceGate::new();
static ATEXIT_CFG: AtomicPtr<DumpConfig> = AtomicPtr::new(ptr::null_mut());
static ATEXIT_DUMPED: AtomicBool = AtomicBool::new(false);
static ATEXIT_REGISTRATIONS: AtomicU32 = AtomicU32::new(0);

/// Registers the exit dump with `atexit(3)` — exactly once per process, no
/// matter how many threads call this or how often (later calls are one
/// atomic load). The first caller's `cfg` is the one used at exit.
///
/// glibc keeps the first 32 `atexit` entries in a static block; a program
/// that already registered more makes `atexit` call `calloc`, so an
/// allocator calling this from inside malloc must tolerate that re-entry.
pub fn register_atexit(cfg: &'static DumpConfig) {
    ATEXIT_GATE.run_once(|| {
        // Release: the handler's Acquire load sees the whole config.
        ATEXIT_CFG.store(ptr::from_ref(cfg).cast_mut(), Ordering::Release);
        ATEXIT_REGISTRATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: registers a function with C ABI and no arguments that
        // never unwinds (dump is panic-free; a panic would abort anyway).
        unsafe { libc::atexit(atexit_dump) == 0 }
    });
}

/// Test hook: how many times [`register_atexit`] actually called `atexit`
/// in this process (0 or 1).
#[doc(hidden)]
pub fn atexit_registrations() -> u32 {
    ATEXIT_REGISTRATIONS.load(Ordering::Relaxed)
}

extern "C" fn atexit_dump() {
    // The dump runs once even if the handler were somehow invoked twice.
    if ATEXIT_DUMPED.swap(true, Ordering::AcqRel) {
        return;
    }
    let cfg = ATEXIT_CFG.load(Ordering::Acquire);
    // SAFETY: the pointer is null or came from a `&'static DumpConfig`.
    if let Some(cfg) = unsafe { cfg.as_ref() } {
        dump(cfg);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Seek};
    use std::os::fd::AsRawFd;
    use std::sync::atomic::AtomicUsize;
    use std::sync::{Arc, Barrier};

    #[test]
    fn once_gate_runs_once_under_race() {
        for _round in 0..20 {
            const THREADS: usize = 16;
            let gate = Arc::new(OnceGate::new());
            let runs = Arc::new(AtomicUsize::new(0));
            let wins = Arc::new(AtomicUsize::new(0));
            let go = Arc::new(Barrier::new(THREADS));
            let hs: Vec<_> = (0..THREADS)
                .map(|_| {
                    let (gate, runs, wins, go) =
                        (gate.clone(), runs.clone(), wins.clone(), go.clone());
                    std::thread::spawn(move || {
                        go.wait();
                        for _ in 0..100 {
                            if gate.run_once(|| {
                                runs.fetch_add(1, Ordering::Relaxed);
                                std::thread::yield_now();
                                true
                            }) {
                                wins.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    })
                })
                .collect();
            for h in hs {
                h.join().unwrap();
            }
            assert_eq!(runs.load(Ordering::Relaxed), 1);
            assert_eq!(wins.load(Ordering::Relaxed), 1);
            assert!(gate.is_done());
        }
    }

    #[test]
    fn failed_gate_does_not_rerun() {
        let gate = OnceGate::new();
        assert!(gate.run_once(|| false));
        assert!(!gate.run_once(|| panic!("must not run again")));
        assert!(!gate.is_done());
    }

    fn temp_path(name: &str) -> std::path::PathBuf {
        std::env::temp_dir().join(format!("hz4-stats-{}-{name}", std::process::id()))
    }

    /// A fresh read/write file at `path` (truncated), for capturing a dump.
    fn scratch_file(path: &std::path::Path) -> std::fs::File {
        std::fs::File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)
            .unwrap()
    }

    fn read_fd_file(f: &mut std::fs::File) -> String {
        let mut s = String::new();
        f.rewind().unwrap();
        f.read_to_string(&mut s).unwrap();
        s
    }

    const CFG: DumpConfig = DumpConfig {
        b58: false,
        b77: false,
        lock_stats: false,
        supply: true,
        mem: false,
        build_line: Some("[HZ4_BUILD] test"),
    };

    #[test]
    fn stats_file_good_path_appends() {
        let path = temp_path("good.log");
        let _ = std::fs::remove_file(&path);
        let errp = temp_path("good.err");
        let mut err = scratch_file(&errp);
        let p = path.as_os_str().as_encoded_bytes();
        dump_routed(&CFG, Some(p), err.as_raw_fd());
        dump_routed(&CFG, Some(p), err.as_raw_fd());
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<_> = text.lines().collect();
        // Two dumps of three lines each, appended.
        assert_eq!(lines.len(), 6, "{text}");
        assert_eq!(lines[0], "[HZ4_BUILD] test");
        assert!(lines[1].starts_with("[HZ4_MID_STATS_B1] malloc_calls="));
        assert!(lines[2].starts_with("[HZ4_MID_STATS_B1] supply_resv_hit="));
        assert_eq!(lines[3], lines[0]);
        assert!(read_fd_file(&mut err).is_empty());
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        // 0644 minus whatever the umask removes.
        assert_eq!(mode & !0o644, 0, "mode {mode:o}");
        std::fs::remove_file(&path).unwrap();
        std::fs::remove_file(&errp).unwrap();
    }

    #[test]
    fn stats_file_unwritable_falls_back_to_err_fd() {
        let errp = temp_path("bad.err");
        let mut err = scratch_file(&errp);
        let bad = b"/nonexistent-hz4-dir/sub/stats.log";
        dump_routed(&CFG, Some(bad), err.as_raw_fd());
        let text = read_fd_file(&mut err);
        let lines: Vec<_> = text.lines().collect();
        assert_eq!(
            lines[0],
            "hz4-stats: cannot open HZ4_STATS_FILE=/nonexistent-hz4-dir/sub/stats.log: errno 2 (ENOENT); dumping to stderr"
        );
        assert_eq!(lines[1], "[HZ4_BUILD] test");
        assert!(lines[2].starts_with("[HZ4_MID_STATS_B1] malloc_calls="));
        assert_eq!(lines.len(), 4);
        std::fs::remove_file(&errp).unwrap();
    }

    #[test]
    fn stats_file_directory_and_overlong_paths() {
        let errp = temp_path("dir.err");
        let mut err = scratch_file(&errp);
        dump_routed(&CFG, Some(b"/"), err.as_raw_fd());
        let long = vec![b'a'; PATH_CAP + 10];
        dump_routed(&CFG, Some(&long), err.as_raw_fd());
        let text = read_fd_file(&mut err);
        let notes: Vec<_> = text
            .lines()
            .filter(|l| l.starts_with("hz4-stats:"))
            .collect();
        assert_eq!(notes.len(), 2, "{text}");
        assert!(
            notes[0].ends_with("=/: errno 21 (EISDIR); dumping to stderr"),
            "{}",
            notes[0]
        );
        assert!(notes[1].contains(": errno 36 (ENAMETOOLONG); dumping to stderr"));
        assert_eq!(
            text.lines()
                .filter(|l| l.starts_with("[HZ4_BUILD]"))
                .count(),
            2
        );
        std::fs::remove_file(&errp).unwrap();
    }

    #[test]
    fn empty_or_missing_path_means_err_fd() {
        let errp = temp_path("none.err");
        let mut err = scratch_file(&errp);
        dump_routed(&CFG, None, err.as_raw_fd());
        dump_routed(&CFG, Some(b""), err.as_raw_fd());
        let text = read_fd_file(&mut err);
        assert_eq!(text.lines().count(), 6);
        assert!(!text.contains("hz4-stats:"));
        std::fs::remove_file(&errp).unwrap();
    }

    #[test]
    fn long_build_line_is_clipped_to_one_line() {
        let long: &'static str = Box::leak("x".repeat(3 * LINE_CAP).into_boxed_str());
        let cfg = DumpConfig {
            build_line: Some(long),
            ..CFG
        };
        let mut lines = Vec::new();
        dump_with(&cfg, &mut |l| lines.push(l.to_vec()));
        assert_eq!(lines[0].len(), LINE_CAP);
        assert_eq!(lines[0].last(), Some(&b'\n'));
        assert_eq!(lines.len(), 3);
    }

    #[test]
    fn write_all_reports_bad_fd() {
        assert_eq!(write_all(-1, b"x"), Err(libc::EBADF));
        assert_eq!(write_all(-1, b""), Ok(()));
    }
}
