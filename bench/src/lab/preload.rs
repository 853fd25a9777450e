//! What `hz-lab mem` and `hz-lab suite` share: choosing the allocators
//! (hz4 from the workspace build, glibc without a preload, the peers found
//! through [`super::libs`]), finding `hz-bench`, asking it for its list of
//! names, running one `hz-bench` process under `LD_PRELOAD` with a time
//! limit, the interleaved round order and medians.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The peer allocators: name, library file, Debian package.
pub const PEERS: &[(&str, &str, &str)] = &[
    ("jemalloc", "libjemalloc.so.2", "libjemalloc2"),
    (
        "tcmalloc",
        "libtcmalloc_minimal.so.4",
        "libtcmalloc-minimal4",
    ),
    ("mimalloc", "libmimalloc.so.2", "libmimalloc2.0"),
];

/// Every allocator name `--allocators` takes, in the default order.
pub const ALL: &str = "hz4,glibc,jemalloc,tcmalloc,mimalloc";

/// One allocator to run under: no library means the system one.
#[derive(Debug, Clone, PartialEq)]
pub struct Alloc {
    pub name: &'static str,
    pub lib: Option<PathBuf>,
}

/// The allocators of a comma-separated list (None: [`ALL`]). hz4 is
/// `hz4_lib` or `<repo>/target/release/libhz4.so` and must exist; a peer
/// the loader cannot find is skipped with a message naming its package.
pub fn allocators(
    list: Option<&str>,
    hz4_lib: Option<&Path>,
    repo: &Path,
    who: &str,
) -> Result<Vec<Alloc>> {
    let mut out = Vec::new();
    for w in list.unwrap_or(ALL).split(',').map(str::trim) {
        match w {
            "hz4" => {
                let lib = hz4_lib
                    .map(Path::to_path_buf)
                    .unwrap_or_else(|| repo.join("target/release/libhz4.so"));
                if !lib.exists() {
                    bail!(
                        "{}: no hz4 library (cargo build --release -p hz4, or --hz4-lib PATH)",
                        lib.display()
                    );
                }
                out.push(Alloc {
                    name: "hz4",
                    lib: Some(std::fs::canonicalize(lib)?),
                });
            }
            "glibc" => out.push(Alloc {
                name: "glibc",
                lib: None,
            }),
            peer => {
                let Some(&(name, file, pkg)) = PEERS.iter().find(|p| p.0 == peer) else {
                    bail!("unknown allocator '{peer}' (known: {ALL})");
                };
                match super::libs::find_lib(file) {
                    Some(lib) => out.push(Alloc {
                        name,
                        lib: Some(lib),
                    }),
                    None => eprintln!(
                        "{who}: {name} skipped: {file} not found by the loader (Debian package {pkg})"
                    ),
                }
            }
        }
    }
    if out.is_empty() {
        bail!("no allocator to run");
    }
    Ok(out)
}

/// `bench`, or `hz-bench` next to the running binary; must exist.
pub fn bench_path(bench: Option<&Path>) -> Result<PathBuf> {
    let b = match bench {
        Some(b) => b.to_path_buf(),
        None => std::env::current_exe()?
            .parent()
            .context("hz-lab has no directory")?
            .join("hz-bench"),
    };
    if !b.exists() {
        bail!(
            "{}: no hz-bench binary (cargo build --release -p hz-bench, or --bench PATH)",
            b.display()
        );
    }
    Ok(b)
}

/// The first word of each line of `hz-bench SUB --list` (the bench's own
/// table is the one source of truth), narrowed to `pick` (comma
/// separated) when given; an unknown name in `pick` is an error.
pub fn names(bench: &Path, sub: &str, pick: Option<&str>, what: &str) -> Result<Vec<String>> {
    let out = Command::new(bench)
        .args([sub, "--list"])
        .env_remove("LD_PRELOAD")
        .output()
        .with_context(|| format!("{} {sub} --list", bench.display()))?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let all: Vec<String> = text
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect();
    if all.is_empty() {
        bail!("{} {sub} --list printed no {what}", bench.display());
    }
    let Some(pick) = pick else {
        return Ok(all);
    };
    let v: Vec<String> = pick.split(',').map(|s| s.trim().to_string()).collect();
    for s in &v {
        if !all.contains(s) {
            bail!("unknown {what} '{s}' (known: {})", all.join(", "));
        }
    }
    Ok(v)
}

/// Runs `bench args` under `a` (LD_PRELOAD, or none for the system
/// allocator), killing it after `timeout` seconds; its stdout, or an error
/// naming `label`, the exit status and stderr.
pub fn run(bench: &Path, a: &Alloc, args: &[&str], label: &str, timeout: u64) -> Result<String> {
    let mut cmd = Command::new(bench);
    cmd.args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env_remove("LD_PRELOAD");
    if let Some(lib) = &a.lib {
        cmd.env("LD_PRELOAD", lib);
    }
    let mut child = cmd
        .spawn()
        .with_context(|| format!("start {}", bench.display()))?;
    // Read both pipes while the child runs, so a chatty child cannot block.
    let mut so = child.stdout.take().context("stdout pipe")?;
    let mut se = child.stderr.take().context("stderr pipe")?;
    let out_t = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = std::io::Read::read_to_end(&mut so, &mut s);
        s
    });
    let err_t = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = std::io::Read::read_to_end(&mut se, &mut s);
        s
    });
    let start = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait()? {
            break st;
        }
        if start.elapsed() > Duration::from_secs(timeout) {
            let _ = child.kill();
            let _ = child.wait();
            bail!("{label} under {}: killed after {timeout} s", a.name);
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stdout = out_t.join().unwrap_or_default();
    let stderr = err_t.join().unwrap_or_default();
    if !status.success() {
        bail!(
            "{label} under {}: {status} ({})",
            a.name,
            String::from_utf8_lossy(&stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&stdout).into_owned())
}

/// Index of the allocator that runs `k`-th in round `round` of `n`
/// allocators: the order rotates by one each round.
pub fn rotated(round: usize, k: usize, n: usize) -> usize {
    (k + round) % n
}

/// Median (NaN of nothing); sorts `v`.
pub fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// `/proc/loadavg`'s three load averages, or `unknown`.
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&mut [4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(&mut []).is_nan());
    }

    #[test]
    fn every_allocator_goes_first_once() {
        let n = 5;
        let firsts: Vec<usize> = (0..n).map(|r| rotated(r, 0, n)).collect();
        let mut s = firsts.clone();
        s.sort();
        assert_eq!(s, [0, 1, 2, 3, 4]);
        for r in 0..n {
            let mut round: Vec<usize> = (0..n).map(|k| rotated(r, k, n)).collect();
            round.sort();
            assert_eq!(round, [0, 1, 2, 3, 4]);
        }
    }

    #[test]
    fn unknown_allocator_is_an_error() {
        let e = allocators(Some("glibc,nosuch"), None, Path::new("/"), "t")
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown allocator 'nosuch'"), "{e}");
        let a = allocators(Some("glibc"), None, Path::new("/"), "t").unwrap();
        assert_eq!(a[0].lib, None);
    }

    #[test]
    fn loadavg_has_three_numbers() {
        let l = loadavg();
        if l != "unknown" {
            assert_eq!(l.split(' ').count(), 3, "{l}");
        }
    }
}
