//! `hz-lab mem`: the memory scenarios of `hz-bench mem` under hz4 and the
//! peer allocators, interleaved, several rounds; a Markdown table of the
//! medians (peak RSS, final RSS, the scenario's metric, wall time) with the
//! machine description.
//!
//! Round r runs every scenario once under every allocator, the allocator
//! order rotated by r. hz4 is `target/release/libhz4.so` (or `--hz4-lib`),
//! glibc is the system allocator (no preload), the peers are found through
//! the dynamic loader's cache (`ldconfig -p`) and its configured
//! directories; a missing one is skipped with a message.

use anyhow::{bail, Context, Result};
use clap::Args;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// `hz-lab mem` arguments.
#[derive(Debug, Args)]
pub struct MemArgs {
    /// Rounds (each scenario runs once per allocator per round).
    #[arg(long, default_value_t = 3, value_name = "N")]
    pub rounds: u32,
    /// Scale of every scenario's sizes and iteration counts.
    #[arg(long, default_value_t = 1.0, value_name = "F")]
    pub scale: f64,
    /// Scenarios, comma separated (default: all; `hz-bench mem --list`).
    #[arg(long, value_name = "LIST")]
    pub scenarios: Option<String>,
    /// Allocators, comma separated, from hz4,glibc,jemalloc,tcmalloc,mimalloc (default: all).
    #[arg(long, value_name = "LIST")]
    pub allocators: Option<String>,
    /// hz4 library (default: <repo>/target/release/libhz4.so).
    #[arg(long, value_name = "PATH")]
    pub hz4_lib: Option<PathBuf>,
    /// hz-bench binary (default: next to hz-lab).
    #[arg(long, value_name = "PATH")]
    pub bench: Option<PathBuf>,
    /// Also write the Markdown report to this file.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Kill a run after this many seconds (it counts as failed).
    #[arg(long, default_value_t = 300, value_name = "SECS")]
    pub timeout: u64,
}

/// One `[HZ_MEM]` line.
#[derive(Debug, Clone, PartialEq)]
pub struct MemLine {
    pub scenario: String,
    pub time_ms: f64,
    pub peak_rss_kb: u64,
    pub final_rss_kb: u64,
    pub metric: f64,
    pub unit: String,
}

/// Parse the `[HZ_MEM]` line of a run's output; None when it has none.
pub fn parse_line(out: &str) -> Option<MemLine> {
    let line = out.lines().find(|l| l.starts_with("[HZ_MEM] "))?;
    let kv: BTreeMap<&str, &str> = line
        .split(' ')
        .skip(1)
        .filter_map(|f| f.split_once('='))
        .collect();
    Some(MemLine {
        scenario: kv.get("scenario")?.to_string(),
        time_ms: kv.get("time_ms")?.parse().ok()?,
        peak_rss_kb: kv.get("peak_rss_kb")?.parse().ok()?,
        final_rss_kb: kv.get("final_rss_kb")?.parse().ok()?,
        metric: kv.get("metric")?.parse().ok()?,
        unit: kv.get("unit")?.to_string(),
    })
}

struct Alloc {
    name: &'static str,
    lib: Option<PathBuf>,
}

fn median(v: &mut [f64]) -> f64 {
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

fn run_one(bench: &Path, a: &Alloc, scenario: &str, scale: f64, timeout: u64) -> Result<MemLine> {
    let mut cmd = Command::new(bench);
    cmd.args(["mem", scenario, "--scale", &scale.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env_remove("LD_PRELOAD");
    if let Some(lib) = &a.lib {
        cmd.env("LD_PRELOAD", lib);
    }
    let mut child = cmd
        .spawn()
        .with_context(|| format!("start {}", bench.display()))?;
    let start = Instant::now();
    loop {
        if child.try_wait()?.is_some() {
            break;
        }
        if start.elapsed() > Duration::from_secs(timeout) {
            let _ = child.kill();
            let _ = child.wait();
            bail!("{scenario} under {}: killed after {timeout} s", a.name);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        bail!(
            "{scenario} under {}: {} ({})",
            a.name,
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    parse_line(&text).with_context(|| format!("{scenario} under {}: no [HZ_MEM] line", a.name))
}

/// Entry point; returns the exit status.
pub fn mem_cmd(a: MemArgs, repo: &Path) -> Result<i32> {
    if a.rounds == 0 {
        bail!("--rounds 0: at least one round is needed");
    }
    if !(a.scale.is_finite() && a.scale > 0.0) {
        bail!("--scale {}: must be a positive number", a.scale);
    }
    let bench = match a.bench {
        Some(b) => b,
        None => std::env::current_exe()?
            .parent()
            .context("hz-lab has no directory")?
            .join("hz-bench"),
    };
    if !bench.exists() {
        bail!(
            "{}: no hz-bench binary (cargo build --release -p hz-bench, or --bench PATH)",
            bench.display()
        );
    }
    // The scenario list comes from the bench itself (one source of truth).
    let list = Command::new(&bench)
        .args(["mem", "--list"])
        .env_remove("LD_PRELOAD")
        .output()
        .with_context(|| format!("{} mem --list", bench.display()))?;
    let list = String::from_utf8_lossy(&list.stdout).into_owned();
    let all: Vec<&str> = list
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    if all.is_empty() {
        bail!("{} mem --list printed no scenario", bench.display());
    }
    let scenarios: Vec<String> = match &a.scenarios {
        None => all.iter().map(|s| s.to_string()).collect(),
        Some(list) => {
            let v: Vec<String> = list.split(',').map(|s| s.trim().to_string()).collect();
            for s in &v {
                if !all.contains(&s.as_str()) {
                    bail!(
                        "--scenarios: unknown scenario '{s}' (known: {})",
                        all.join(", ")
                    );
                }
            }
            v
        }
    };
    let want: Vec<String> = a
        .allocators
        .as_deref()
        .unwrap_or("hz4,glibc,jemalloc,tcmalloc,mimalloc")
        .split(',')
        .map(|s| s.trim().to_string())
        .collect();
    let mut allocs = Vec::new();
    for w in &want {
        match w.as_str() {
            "hz4" => {
                let lib = a
                    .hz4_lib
                    .clone()
                    .unwrap_or_else(|| repo.join("target/release/libhz4.so"));
                if !lib.exists() {
                    bail!(
                        "{}: no hz4 library (cargo build --release -p hz4, or --hz4-lib PATH)",
                        lib.display()
                    );
                }
                allocs.push(Alloc {
                    name: "hz4",
                    lib: Some(std::fs::canonicalize(lib)?),
                });
            }
            "glibc" => allocs.push(Alloc {
                name: "glibc",
                lib: None,
            }),
            peer => {
                let (name, file, pkg) = match peer {
                    "jemalloc" => ("jemalloc", "libjemalloc.so.2", "libjemalloc2"),
                    "tcmalloc" => (
                        "tcmalloc",
                        "libtcmalloc_minimal.so.4",
                        "libtcmalloc-minimal4",
                    ),
                    "mimalloc" => ("mimalloc", "libmimalloc.so.2", "libmimalloc2.0"),
                    other => bail!("--allocators: unknown allocator '{other}'"),
                };
                match super::libs::find_lib(file) {
                    Some(lib) => allocs.push(Alloc {
                        name,
                        lib: Some(lib),
                    }),
                    None => eprintln!(
                        "hz-lab mem: {name} skipped: {file} not found by the loader (Debian package {pkg})"
                    ),
                }
            }
        }
    }
    // results[(scenario, allocator)] = lines
    let mut results: BTreeMap<(usize, usize), Vec<MemLine>> = BTreeMap::new();
    let mut failures = Vec::new();
    let total = a.rounds as usize * scenarios.len() * allocs.len();
    let mut done = 0;
    for r in 0..a.rounds as usize {
        for (si, s) in scenarios.iter().enumerate() {
            for k in 0..allocs.len() {
                let ai = (k + r) % allocs.len();
                done += 1;
                eprintln!(
                    "hz-lab mem: [{done}/{total}] round {} {s} under {}",
                    r + 1,
                    allocs[ai].name
                );
                match run_one(&bench, &allocs[ai], s, a.scale, a.timeout) {
                    Ok(l) => results.entry((si, ai)).or_default().push(l),
                    Err(e) => {
                        eprintln!("hz-lab mem: {e:#}");
                        failures.push(format!("{e:#}"));
                    }
                }
            }
        }
    }
    let md = report(&scenarios, &allocs, &results, a.rounds, a.scale, &failures);
    print!("{md}");
    if let Some(out) = &a.out {
        std::fs::write(out, &md).with_context(|| format!("write {}", out.display()))?;
    }
    Ok(if failures.is_empty() { 0 } else { 1 })
}

fn report(
    scenarios: &[String],
    allocs: &[Alloc],
    results: &BTreeMap<(usize, usize), Vec<MemLine>>,
    rounds: u32,
    scale: f64,
    failures: &[String],
) -> String {
    use std::fmt::Write;
    let m = super::sys::machine();
    let mut s = String::new();
    let _ = writeln!(
        s,
        "Machine: {} ({} cores), Linux {}; {} round(s), scale {scale}, medians; allocator order rotated per round.\n",
        m.cpu_model, m.nproc, m.kernel, rounds
    );
    for (title, pick) in [
        ("final RSS, MiB (where the scenario reads it)", 0u8),
        ("peak RSS, MiB", 1),
        ("scenario metric", 2),
        ("wall time, ms", 3),
    ] {
        let _ = writeln!(s, "**{title}**\n");
        let _ = write!(s, "| scenario |");
        for a in allocs {
            let _ = write!(s, " {} |", a.name);
        }
        if pick == 2 {
            let _ = write!(s, " unit |");
        }
        let _ = writeln!(s);
        let _ = write!(s, "|---|");
        for _ in allocs {
            let _ = write!(s, "---:|");
        }
        if pick == 2 {
            let _ = write!(s, "---|");
        }
        let _ = writeln!(s);
        for (si, sc) in scenarios.iter().enumerate() {
            let _ = write!(s, "| {sc} |");
            let mut unit = String::new();
            for ai in 0..allocs.len() {
                match results.get(&(si, ai)) {
                    Some(v) if !v.is_empty() => {
                        let mut xs: Vec<f64> = v
                            .iter()
                            .map(|l| match pick {
                                0 => l.final_rss_kb as f64 / 1024.0,
                                1 => l.peak_rss_kb as f64 / 1024.0,
                                2 => l.metric,
                                _ => l.time_ms,
                            })
                            .collect();
                        unit = v[0].unit.clone();
                        let med = median(&mut xs);
                        let _ = if med.abs() >= 100.0 {
                            write!(s, " {med:.0} |")
                        } else {
                            write!(s, " {med:.1} |")
                        };
                    }
                    _ => {
                        let _ = write!(s, " – |");
                    }
                }
            }
            if pick == 2 {
                let _ = write!(s, " {unit} |");
            }
            let _ = writeln!(s);
        }
        let _ = writeln!(s);
    }
    if !failures.is_empty() {
        let _ = writeln!(s, "Failed runs:\n");
        for f in failures {
            let _ = writeln!(s, "- {f}");
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_bench_line_and_rejects_others() {
        let out = "noise\n[HZ_MEM] scenario=huge scale=1 time_ms=12.5 peak_rss_kb=9000 final_rss_kb=8000 metric=31.250 unit=us_per_iter iters=300\n";
        let l = parse_line(out).unwrap();
        assert_eq!(l.scenario, "huge");
        assert_eq!(l.peak_rss_kb, 9000);
        assert_eq!(l.final_rss_kb, 8000);
        assert_eq!(l.metric, 31.25);
        assert_eq!(l.unit, "us_per_iter");
        assert!(parse_line("[HZ_MEM] scenario=x").is_none());
        assert!(parse_line("nothing").is_none());
    }

    #[test]
    fn median_of_odd_and_even() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&mut [4.0, 1.0, 2.0, 3.0]), 2.5);
    }
}
