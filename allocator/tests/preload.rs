//! `libhz4.so` under LD_PRELOAD running real programs: python3 (a
//! multi-threaded script and `print(1)`), perl, git and sqlite3. Each
//! program runs twice, with and without the preload, and stdout, stderr and
//! the exit status must be identical byte for byte. The preloaded run also
//! has `LD_DEBUG=bindings` writing to files, and every `malloc`/`free`
//! binding any process of it made must point into libhz4.so: proof that
//! the allocator really served the run (and glibc's own internal calls).
//!
//! Needs python3, perl and git (a missing one fails the test); sqlite3 is
//! optional (the test prints `SKIP:` when it is not installed).
//! `HZ4_PRELOAD_LIB=/path/libhz4.so` tests a given build instead of the one
//! cargo built next to this test.

mod common;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The cdylib to preload (absolute path).
fn lib() -> &'static Path {
    static LIB: OnceLock<PathBuf> = OnceLock::new();
    LIB.get_or_init(common::find_or_build_lib)
}

/// Path of `prog` in PATH, or None.
fn which(prog: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(prog))
        .find(|p| std::fs::metadata(p).map(|m| m.is_file()).unwrap_or(false))
}

/// A program the tests cannot do without: fail loudly when it is missing.
fn required(prog: &str, package: &str) -> PathBuf {
    which(prog).unwrap_or_else(|| {
        panic!("`{prog}` not found in PATH: install the `{package}` package (needed by the LD_PRELOAD test)")
    })
}

/// A fresh scratch directory, removed on drop.
struct TempDir(PathBuf);
impl TempDir {
    fn new(tag: &str) -> TempDir {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let p = std::env::temp_dir().join(format!("hz4-preload-{}-{tag}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    fn path(&self) -> &Path {
        &self.0
    }
}
impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    status: Option<i32>,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

impl Outcome {
    fn show(&self) -> String {
        format!(
            "status {:?}\n--- stdout (first 2000 bytes)\n{}\n--- stderr (first 2000 bytes)\n{}\n---",
            self.status,
            String::from_utf8_lossy(&self.stdout[..self.stdout.len().min(2000)]),
            String::from_utf8_lossy(&self.stderr[..self.stderr.len().min(2000)])
        )
    }
}

/// How to run a command: with the preload (and binding log) or plain.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    Plain,
    Preload,
}

/// One run of `argv` in `dir` with `stdin` fed from a string, killed after 60 s.
fn run(
    mode: Mode,
    argv: &[&str],
    dir: &Path,
    env: &[(&str, &str)],
    stdin: &str,
    log: &Path,
) -> Outcome {
    let scratch = TempDir::new("io");
    let out_p = scratch.path().join("out");
    let err_p = scratch.path().join("err");
    let in_p = scratch.path().join("in");
    std::fs::write(&in_p, stdin).unwrap();
    let mut cmd = Command::new(argv[0]);
    cmd.args(&argv[1..])
        .current_dir(dir)
        .env_remove("LD_PRELOAD")
        .env_remove("LD_DEBUG")
        .env_remove("LD_DEBUG_OUTPUT")
        .env("LC_ALL", "C")
        .env("PYTHONHASHSEED", "0")
        .env("PERL_HASH_SEED", "0")
        .stdin(std::fs::File::open(&in_p).unwrap())
        .stdout(std::fs::File::create(&out_p).unwrap())
        .stderr(std::fs::File::create(&err_p).unwrap());
    for (k, v) in env {
        cmd.env(k, v);
    }
    if mode == Mode::Preload {
        cmd.env("LD_PRELOAD", lib())
            .env("LD_DEBUG", "bindings")
            .env("LD_DEBUG_OUTPUT", log.join("ld"));
    }
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {argv:?}: {e}"));
    let deadline = Instant::now() + Duration::from_secs(60);
    let status: ExitStatus = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{mode:?} run of {argv:?} did not finish within 60 s (deadlock?)");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    use std::os::unix::process::ExitStatusExt;
    let o = Outcome {
        status: status.code().or(status.signal().map(|s| 1000 + s)),
        stdout: std::fs::read(&out_p).unwrap(),
        stderr: std::fs::read(&err_p).unwrap(),
    };
    drop(scratch);
    o
}

/// Check the binding log of a preloaded run: at least one `malloc` binding,
/// and every `malloc`/`free`/`calloc`/`realloc` binding of every process
/// resolved into libhz4.so.
fn assert_bound_to_hz4(log: &Path, what: &str) {
    let lib = lib().to_string_lossy().into_owned();
    let mut malloc_bindings = 0;
    let mut files = 0;
    for entry in std::fs::read_dir(log).unwrap() {
        let path = entry.unwrap().path();
        files += 1;
        let text = String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into_owned();
        for line in text.lines() {
            let Some(sym) = ["malloc", "free", "calloc", "realloc"]
                .into_iter()
                .find(|s| line.contains(&format!("normal symbol `{s}'")))
            else {
                continue;
            };
            assert!(
                line.contains(&format!(" to {lib} [")),
                "{what}: `{sym}` bound outside libhz4.so: {line}"
            );
            if sym == "malloc" {
                malloc_bindings += 1;
            }
        }
    }
    assert!(
        files > 0 && malloc_bindings > 0,
        "{what}: no malloc binding logged ({files} log files): LD_PRELOAD not in effect?"
    );
}

/// Run a sequence of commands plain and preloaded (each in its own copy of
/// a directory prepared by `setup`) and require identical outcomes.
fn compare(what: &str, steps: &[(&[&str], &str)], env: &[(&str, &str)], setup: &dyn Fn(&Path)) {
    let mut results = Vec::new();
    for mode in [Mode::Plain, Mode::Preload] {
        let dir = TempDir::new("work");
        let log = TempDir::new("ld");
        setup(dir.path());
        let t = Instant::now();
        let outs: Vec<Outcome> = steps
            .iter()
            .map(|(argv, stdin)| run(mode, argv, dir.path(), env, stdin, log.path()))
            .collect();
        eprintln!("{what}: {mode:?} run took {:?}", t.elapsed());
        if mode == Mode::Preload {
            assert_bound_to_hz4(log.path(), what);
        }
        results.push(outs);
    }
    let plain = &results[0];
    // A stats build (HZ4_MID_STATS_B1=1) dumps `[HZ4_...]` lines to stderr
    // at exit by design; they are the allocator's, not the program's.
    let pre: Vec<Outcome> = results[1]
        .iter()
        .map(|o| Outcome {
            status: o.status,
            stdout: o.stdout.clone(),
            stderr: without_hz4_report(&o.stderr),
        })
        .collect();
    let pre = &pre;
    if std::env::var_os("HZ4_PRELOAD_SHOW").is_some() {
        for ((argv, _), o) in steps.iter().zip(pre) {
            eprintln!("=== {argv:?}\n{}", o.show());
        }
    }
    for (i, ((argv, _), (a, b))) in steps.iter().zip(plain.iter().zip(pre)).enumerate() {
        assert_eq!(
            a.status,
            Some(0),
            "{what}: step {i} {argv:?} failed even without the preload:\n{}",
            a.show()
        );
        assert!(
            a == b,
            "{what}: step {i} {argv:?} differs under LD_PRELOAD={}\n=== plain\n{}\n=== preload\n{}",
            lib().display(),
            a.show(),
            b.show()
        );
    }
}

/// `stderr` without the lines of hz4's own stats dump (`[HZ4_...] ...`).
fn without_hz4_report(stderr: &[u8]) -> Vec<u8> {
    stderr
        .split_inclusive(|&b| b == b'\n')
        .filter(|l| !l.starts_with(b"[HZ4_"))
        .flatten()
        .copied()
        .collect()
}

fn no_setup(_: &Path) {}

const PY_THREADS: &str = r#"
import sys, threading, queue, random, hashlib
sys.setswitchinterval(0.0002)
N = 8
inbox = [queue.Queue() for _ in range(N)]
own = [None] * N
recv = [None] * N

def make(rnd, t, i):
    k = rnd.random()
    if k < 0.45:
        return ("%d:%d;" % (t, i)) * rnd.randint(1, 60)            # small strings
    if k < 0.70:
        return [i * j for j in range(rnd.randint(1, 900))]          # small..mid lists
    if k < 0.90:
        return {"k%d" % j: str(j) * (j % 7) for j in range(rnd.randint(1, 400))}
    return bytes([t, i & 255]) * rnd.randint(1000, 60000)           # mid..large bytes

def digest(obj):
    if isinstance(obj, str):
        return obj.encode()
    if isinstance(obj, list):
        return repr(obj[:50]).encode() + str(len(obj)).encode()
    if isinstance(obj, dict):
        return repr(sorted(obj.items())[:20]).encode() + str(len(obj)).encode()
    return bytes(obj[:64]) + str(len(obj)).encode()

def worker(t):
    rnd = random.Random(1234 + t)
    h = hashlib.sha256()
    hr = hashlib.sha256()
    live = []
    received = 0
    producer_done = False
    for i in range(3000):
        obj = make(rnd, t, i)
        h.update(digest(obj))
        if i % 600 == 0:                      # a huge buffer, dropped at once
            big = bytearray(rnd.randint(4 << 20, 6 << 20))
            big[-1] = t
            h.update(bytes(big[-8:]) + str(len(big)).encode())
            del big
        if rnd.random() < 0.3:
            inbox[(t + 1) % N].put(obj)      # freed by the next thread
        else:
            live.append(obj)
            if len(live) > 200:
                del live[rnd.randrange(len(live))]
        while not producer_done:
            try:
                got = inbox[t].get_nowait()
            except queue.Empty:
                break
            if got is None:
                producer_done = True
            else:
                hr.update(digest(got)); received += 1
                del got
    inbox[(t + 1) % N].put(None)
    while not producer_done:
        got = inbox[t].get()
        if got is None:
            producer_done = True
        else:
            hr.update(digest(got)); received += 1
    own[t] = (h.hexdigest()[:16], len(live), sum(len(x) for x in live))
    recv[t] = (hr.hexdigest()[:16], received)

threads = [threading.Thread(target=worker, args=(t,)) for t in range(N)]
for th in threads: th.start()
for th in threads: th.join()
for t in range(N):
    print("thread", t, "own", *own[t], "recv", *recv[t])
text = "".join(str(x) for x in range(200000))
print("text", len(text), hashlib.sha256(text.encode()).hexdigest()[:16])
print("done")
"#;

#[test]
fn python_threads_same_output_with_and_without_hz4() {
    let py = required("python3", "python3");
    let py = py.to_str().unwrap();
    compare(
        "python3 threads",
        &[(&[py, "-c", PY_THREADS], "")],
        &[],
        &no_setup,
    );
}

#[test]
fn python_print_1() {
    let py = required("python3", "python3");
    let py = py.to_str().unwrap();
    compare(
        "python3 print(1)",
        &[(&[py, "-c", "print(1)"], "")],
        &[],
        &no_setup,
    );
    // And the plain fact: under the preload it prints 1.
    let dir = TempDir::new("p1");
    let o = run(
        Mode::Preload,
        &[py, "-c", "print(1)"],
        dir.path(),
        &[],
        "",
        dir.path(),
    );
    assert_eq!(o.stdout, b"1\n", "{}", o.show());
}

const PY_HZ4_CHECK: &str = r#"
import ctypes
lib = ctypes.CDLL(None)
f = lib.hz4_build_info
f.restype = ctypes.c_char_p
print(f().decode())
malloc_addr = ctypes.cast(lib.malloc, ctypes.c_void_p).value
hit = False
for line in open("/proc/self/maps"):
    parts = line.split()
    lo, hi = (int(x, 16) for x in parts[0].split("-"))
    if lo <= malloc_addr < hi and parts[-1].endswith("libhz4.so"):
        hit = True
print("malloc_in_hz4", hit)
"#;

#[test]
fn python_sees_hz4_symbols_under_preload() {
    let py = required("python3", "python3");
    let dir = TempDir::new("pycheck");
    let o = run(
        Mode::Preload,
        &[py.to_str().unwrap(), "-c", PY_HZ4_CHECK],
        dir.path(),
        &[],
        "",
        dir.path(),
    );
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status, Some(0), "{}", o.show());
    assert!(out.starts_with("[HZ4_BUILD] "), "{}", o.show());
    assert!(out.contains("malloc_in_hz4 True"), "{}", o.show());
}

#[test]
fn shell_maps_show_libhz4_under_preload() {
    let sh = required("sh", "dash");
    let dir = TempDir::new("maps");
    let o = run(
        Mode::Preload,
        &[sh.to_str().unwrap(), "-c", "cat /proc/$$/maps"],
        dir.path(),
        &[],
        "",
        dir.path(),
    );
    assert_eq!(o.status, Some(0), "{}", o.show());
    let lib = lib().to_string_lossy().into_owned();
    assert!(
        String::from_utf8_lossy(&o.stdout).contains(&lib),
        "{lib} not mapped:\n{}",
        o.show()
    );
}

const PERL_HASH: &str = r#"
use strict; use warnings;
my %h;
for my $i (0 .. 99_999) { $h{"key$i"} = ("v" x ($i % 700)) . $i; }
for my $i (0 .. 99_999) { delete $h{"key$i"} if $i % 3 == 0; }
for my $k (keys %h) { $h{$k} .= ("x" x 3000) if length($h{$k}) % 50 == 0; }
my @big = map { "b" x (70_000 + $_ * 1000) } 0 .. 40;
my ($n, $sum, $dig) = (0, 0, 0);
for my $k (sort keys %h) {
    $n++; $sum += length $h{$k};
    $dig = ($dig * 33 + unpack("%32C*", $k . $h{$k})) % 4294967291;
}
my $bigsum = 0; $bigsum += length for @big;
my @words = sort map { sprintf "%x", $_ * 2654435761 % 4294967296 } 1 .. 50_000;
print "n=$n sum=$sum digest=$dig big=$bigsum words=", scalar(@words), " first=$words[0] last=$words[-1]\n";
"#;

#[test]
fn perl_hash_same_output_with_and_without_hz4() {
    let perl = required("perl", "perl-base");
    let perl = perl.to_str().unwrap();
    compare(
        "perl hash",
        &[(&[perl, "-e", PERL_HASH], "")],
        &[],
        &no_setup,
    );
    // Perl itself maps libhz4.so under the preload.
    let dir = TempDir::new("perlmaps");
    let o = run(
        Mode::Preload,
        &[
            perl,
            "-e",
            r#"open my $m, "<", "/proc/self/maps" or die; print scalar(grep { /libhz4\.so/ } <$m>) ? "hz4\n" : "none\n";"#,
        ],
        dir.path(),
        &[],
        "",
        dir.path(),
    );
    assert_eq!(o.stdout, b"hz4\n", "{}", o.show());
}

/// Write a small deterministic tree into `dir`.
fn git_tree(dir: &Path) {
    let mut a = String::new();
    for i in 0..2000 {
        a.push_str(&format!("line {i} {}\n", "abc".repeat(i % 40)));
    }
    std::fs::write(dir.join("a.txt"), a).unwrap();
    let b: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(dir.join("b.bin"), b).unwrap();
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    for i in 0..50 {
        std::fs::write(
            dir.join(format!("sub/f{i}.txt")),
            format!("{i}\n").repeat(i * 10),
        )
        .unwrap();
    }
}

#[test]
fn git_same_output_with_and_without_hz4() {
    let git = required("git", "git");
    let git = git.to_str().unwrap();
    let home = TempDir::new("home");
    let home_s = home.path().to_str().unwrap().to_string();
    let env: Vec<(&str, &str)> = vec![
        ("HOME", &home_s),
        ("GIT_CONFIG_NOSYSTEM", "1"),
        ("GIT_CONFIG_GLOBAL", "/dev/null"),
        ("GIT_AUTHOR_NAME", "hz4 test"),
        ("GIT_AUTHOR_EMAIL", "hz4@example.invalid"),
        ("GIT_COMMITTER_NAME", "hz4 test"),
        ("GIT_COMMITTER_EMAIL", "hz4@example.invalid"),
        ("GIT_AUTHOR_DATE", "2024-01-01T00:00:00Z"),
        ("GIT_COMMITTER_DATE", "2024-01-01T00:00:00Z"),
    ];
    let steps: &[(&[&str], &str)] = &[
        (&[git, "--version"], ""),
        (&[git, "init", "-q", "-b", "main", "."], ""),
        (&[git, "add", "."], ""),
        (&[git, "commit", "-q", "-m", "first"], ""),
        (&[git, "rm", "-q", "sub/f3.txt"], ""),
        (&[git, "mv", "a.txt", "renamed.txt"], ""),
        (&[git, "commit", "-q", "-m", "second"], ""),
        (&[git, "log", "--oneline", "-5"], ""),
        (&[git, "log", "--stat", "--format=%H %s"], ""),
        (&[git, "diff", "--stat", "HEAD~1", "HEAD"], ""),
        (
            &[git, "-c", "pack.threads=4", "repack", "-a", "-d", "-q"],
            "",
        ),
        (&[git, "fsck", "--no-progress"], ""),
        (&[git, "ls-tree", "-r", "HEAD"], ""),
        (&[git, "grep", "-c", "abcabc"], ""),
    ];
    compare("git", steps, &env, &git_tree);

    // `git log --oneline -5` in this workspace, at a commit fixed before
    // both runs (others may commit meanwhile). Only when it is a git checkout.
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let head = Command::new(git)
        .args(["rev-parse", "--verify", "-q", "HEAD"])
        .current_dir(repo)
        .stderr(Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    match head {
        Some(head) => {
            let repo_s = repo.to_str().unwrap();
            compare(
                "git log in the workspace",
                &[(&[git, "-C", repo_s, "log", "--oneline", "-5", &head], "")],
                &env,
                &no_setup,
            );
        }
        None => eprintln!(
            "note: {} is not a git checkout; workspace log part not run",
            repo.display()
        ),
    }
}

const SQL: &str = "
PRAGMA journal_mode=WAL;
CREATE TABLE t(id INTEGER PRIMARY KEY, k TEXT, b BLOB);
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 10000)
INSERT INTO t
SELECT x,
       printf('k%05d', (x * 7919) % 10007),
       CAST(substr(replace(hex(zeroblob((x * 7919) % 3000 + CASE WHEN x % 500 = 1 THEN 100000 ELSE 0 END)),
                           '00', char(65 + x % 26) || char(97 + x % 7)),
                   1, (x * 7919) % 3000 + CASE WHEN x % 500 = 1 THEN 100000 ELSE 0 END) AS BLOB)
FROM c;
CREATE INDEX tk ON t(k);
SELECT count(*), sum(length(b)), max(length(b)), min(length(b)), count(DISTINCT k) FROM t;
SELECT id % 7 AS g, count(*), sum(length(b)), max(k), min(hex(substr(b, 1, 4))) FROM t GROUP BY g ORDER BY g;
UPDATE t SET b = b || b WHERE id % 3 = 0;
DELETE FROM t WHERE id % 5 = 0;
VACUUM;
SELECT count(*), sum(length(b)), total(unicode(substr(b, 2, 1))) FROM t;
SELECT k, length(b) FROM t ORDER BY length(b) DESC, k LIMIT 10;
SELECT group_concat(k, ',') FROM (SELECT k FROM t WHERE id < 200 ORDER BY k);
PRAGMA integrity_check;
";

#[test]
fn sqlite3_same_output_with_and_without_hz4() {
    let Some(sqlite) = which("sqlite3") else {
        println!("SKIP: sqlite3 not installed (install the sqlite3 package to run this part)");
        eprintln!("SKIP: sqlite3 not installed (install the sqlite3 package to run this part)");
        return;
    };
    let sqlite = sqlite.to_str().unwrap();
    compare(
        "sqlite3",
        &[(&[sqlite, "-batch", "test.db"], SQL)],
        &[],
        &no_setup,
    );
}

#[test]
fn lib_path_is_absolute_and_exports_malloc() {
    let l = lib();
    assert!(l.is_absolute());
    let os: OsString = l.as_os_str().to_owned();
    eprintln!("preloading {}", os.to_string_lossy());
    let bytes = std::fs::read(l).unwrap();
    assert_eq!(&bytes[..4], b"\x7fELF");
}
