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

use super::preload::{self, median, Alloc};

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

fn run_one(bench: &Path, a: &Alloc, scenario: &str, scale: f64, timeout: u64) -> Result<MemLine> {
    let scale = scale.to_string();
    let text = preload::run(
        bench,
        a,
        &["mem", scenario, "--scale", &scale],
        scenario,
        timeout,
    )?;
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
    let bench = preload::bench_path(a.bench.as_deref())?;
    let scenarios = preload::names(&bench, "mem", a.scenarios.as_deref(), "scenario")
        .map_err(|e| anyhow::anyhow!("--scenarios: {e:#}"))?;
    let allocs = preload::allocators(
        a.allocators.as_deref(),
        a.hz4_lib.as_deref(),
        repo,
        "hz-lab mem",
    )
    .map_err(|e| anyhow::anyhow!("--allocators: {e:#}"))?;
    // results[(scenario, allocator)] = lines
    let mut results: BTreeMap<(usize, usize), Vec<MemLine>> = BTreeMap::new();
    let mut failures = Vec::new();
    let total = a.rounds as usize * scenarios.len() * allocs.len();
    let mut done = 0;
    for r in 0..a.rounds as usize {
        for (si, s) in scenarios.iter().enumerate() {
            for k in 0..allocs.len() {
                let ai = preload::rotated(r, k, allocs.len());
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
}
