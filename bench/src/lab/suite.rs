//! `hz-lab suite`: every workload of `hz-bench suite` under hz4 and the
//! peer allocators, interleaved, several rounds; a Markdown table of the
//! median ops/s per allocator, hz4 / best peer per workload, the geometric
//! mean of those ratios, peak RSS, and the machine line (CPU, cores,
//! kernel, load average at start and end).
//!
//! Round r runs every workload once under every allocator, the allocator
//! order rotated by r (the same choice of allocators and the same run
//! helper as `hz-lab mem`: [`super::preload`]).

use anyhow::{bail, Context, Result};
use clap::Args;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::preload::{self, median, Alloc};

/// `hz-lab suite` arguments.
#[derive(Debug, Args)]
pub struct SuiteArgs {
    /// Rounds (each workload runs once per allocator per round).
    #[arg(long, default_value_t = 3, value_name = "N")]
    pub rounds: u32,
    /// Scale of every workload's iteration counts (`hz-bench suite --scale`).
    #[arg(long, default_value_t = 1.0, value_name = "F")]
    pub scale: f64,
    /// Workloads, comma separated (default: all; `hz-bench suite --list`).
    #[arg(long, value_name = "LIST")]
    pub workloads: Option<String>,
    /// Allocators, comma separated, from hz4,glibc,jemalloc,tcmalloc,mimalloc (default: all).
    #[arg(long, alias = "allocators", value_name = "LIST")]
    pub libs: Option<String>,
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
    #[arg(long, default_value_t = 120, value_name = "SECS")]
    pub timeout: u64,
}

/// The fields of one `[SUITE]` line that the report uses.
#[derive(Debug, Clone, PartialEq)]
pub struct SuiteLine {
    pub name: String,
    pub threads: u32,
    pub ops: u64,
    pub secs: f64,
    pub ops_per_s: f64,
    pub peak_rss_kb: u64,
}

/// Parse the `[SUITE]` line of a run's output; None when it has none or a
/// field is missing.
pub fn parse_line(out: &str) -> Option<SuiteLine> {
    let line = out.lines().find(|l| l.starts_with("[SUITE] "))?;
    let kv: BTreeMap<&str, &str> = line
        .split(' ')
        .skip(1)
        .filter_map(|f| f.split_once('='))
        .collect();
    Some(SuiteLine {
        name: kv.get("name")?.to_string(),
        threads: kv.get("threads")?.parse().ok()?,
        ops: kv.get("ops")?.parse().ok()?,
        secs: kv.get("secs")?.parse().ok()?,
        ops_per_s: kv.get("ops_per_s")?.parse().ok()?,
        peak_rss_kb: kv.get("peak_rss_kb")?.parse().ok()?,
    })
}

/// One workload's row of the summary.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// Index of the fastest allocator other than hz4, if any ran.
    pub best_peer: Option<usize>,
    /// hz4's median / the best peer's median.
    pub ratio: Option<f64>,
}

/// For each workload's medians (one per allocator, None when no run
/// succeeded): the best peer and hz4 / best peer; and the geometric mean
/// of the ratios that exist.
pub fn summarize(names: &[&str], medians: &[Vec<Option<f64>>]) -> (Vec<Row>, Option<f64>) {
    let hz4 = names.iter().position(|n| *n == "hz4");
    let rows: Vec<Row> = medians
        .iter()
        .map(|m| {
            let best_peer = (0..names.len())
                .filter(|&i| Some(i) != hz4)
                .filter_map(|i| m.get(i).copied().flatten().map(|v| (i, v)))
                .filter(|(_, v)| v.is_finite() && *v > 0.0)
                .max_by(|a, b| a.1.total_cmp(&b.1))
                .map(|(i, _)| i);
            let ratio = match (hz4.and_then(|h| m.get(h).copied().flatten()), best_peer) {
                (Some(h), Some(b)) if h.is_finite() => m[b].map(|bv| h / bv),
                _ => None,
            };
            Row { best_peer, ratio }
        })
        .collect();
    let logs: Vec<f64> = rows
        .iter()
        .filter_map(|r| r.ratio)
        .filter(|r| *r > 0.0)
        .map(f64::ln)
        .collect();
    let geo = (!logs.is_empty()).then(|| (logs.iter().sum::<f64>() / logs.len() as f64).exp());
    (rows, geo)
}

fn run_one(bench: &Path, a: &Alloc, workload: &str, scale: f64, timeout: u64) -> Result<SuiteLine> {
    let scale = scale.to_string();
    let text = preload::run(
        bench,
        a,
        &["suite", workload, "--scale", &scale],
        workload,
        timeout,
    )?;
    let l = parse_line(&text)
        .with_context(|| format!("{workload} under {}: no [SUITE] line", a.name))?;
    if l.name != workload {
        bail!("{workload} under {}: [SUITE] line of {}", a.name, l.name);
    }
    Ok(l)
}

/// What the report needs besides the runs.
pub struct Header {
    pub machine: String,
    pub rounds: u32,
    pub scale: f64,
}

/// Entry point; returns the exit status (1 when a run failed).
pub fn suite_cmd(a: SuiteArgs, repo: &Path) -> Result<i32> {
    if a.rounds == 0 {
        bail!("--rounds 0: at least one round is needed");
    }
    if !(a.scale.is_finite() && a.scale > 0.0) {
        bail!("--scale {}: must be a positive number", a.scale);
    }
    let bench = preload::bench_path(a.bench.as_deref())?;
    let workloads = preload::names(&bench, "suite", a.workloads.as_deref(), "workload")
        .map_err(|e| anyhow::anyhow!("--workloads: {e:#}"))?;
    let allocs = preload::allocators(
        a.libs.as_deref(),
        a.hz4_lib.as_deref(),
        repo,
        "hz-lab suite",
    )
    .map_err(|e| anyhow::anyhow!("--libs: {e:#}"))?;
    let load_start = preload::loadavg();
    let mut results: BTreeMap<(usize, usize), Vec<SuiteLine>> = BTreeMap::new();
    let mut failures = Vec::new();
    let total = a.rounds as usize * workloads.len() * allocs.len();
    let mut done = 0;
    for r in 0..a.rounds as usize {
        for (wi, w) in workloads.iter().enumerate() {
            for k in 0..allocs.len() {
                let ai = preload::rotated(r, k, allocs.len());
                done += 1;
                eprintln!(
                    "hz-lab suite: [{done}/{total}] round {} {w} under {}",
                    r + 1,
                    allocs[ai].name
                );
                match run_one(&bench, &allocs[ai], w, a.scale, a.timeout) {
                    Ok(l) => results.entry((wi, ai)).or_default().push(l),
                    Err(e) => {
                        eprintln!("hz-lab suite: {e:#}");
                        failures.push(format!("{e:#}"));
                    }
                }
            }
        }
    }
    let load_end = preload::loadavg();
    let m = super::sys::machine();
    let ctx = Header {
        machine: format!(
            "Machine: {} ({} cores), Linux {}; load average (1/5/15 min) {load_start} at start, {load_end} at end",
            m.cpu_model, m.nproc, m.kernel
        ),
        rounds: a.rounds,
        scale: a.scale,
    };
    let md = report(&ctx, &workloads, &allocs, &results, &failures);
    print!("{md}");
    if let Some(out) = &a.out {
        std::fs::write(out, &md).with_context(|| format!("write {}", out.display()))?;
    }
    Ok(if failures.is_empty() { 0 } else { 1 })
}

fn fmt_rate(v: f64) -> String {
    let m = v / 1e6;
    if m >= 100.0 {
        format!("{m:.0}")
    } else if m >= 10.0 {
        format!("{m:.1}")
    } else {
        format!("{m:.2}")
    }
}

/// The Markdown report.
pub fn report(
    ctx: &Header,
    workloads: &[String],
    allocs: &[Alloc],
    results: &BTreeMap<(usize, usize), Vec<SuiteLine>>,
    failures: &[String],
) -> String {
    use std::fmt::Write;
    let names: Vec<&str> = allocs.iter().map(|a| a.name).collect();
    let med = |wi: usize, ai: usize, f: fn(&SuiteLine) -> f64| -> Option<f64> {
        let v = results.get(&(wi, ai))?;
        let mut xs: Vec<f64> = v.iter().map(f).collect();
        (!xs.is_empty()).then(|| median(&mut xs))
    };
    let rates: Vec<Vec<Option<f64>>> = (0..workloads.len())
        .map(|wi| {
            (0..allocs.len())
                .map(|ai| med(wi, ai, |l| l.ops_per_s))
                .collect()
        })
        .collect();
    let (rows, geo) = summarize(&names, &rates);
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{}; {} round(s), scale {}, medians; allocator order rotated per round.\n",
        ctx.machine, ctx.rounds, ctx.scale
    );
    let _ = writeln!(
        s,
        "**Median throughput, million ops/s** (what an op is: `hz-bench suite --list`)\n"
    );
    let _ = write!(s, "| workload | threads |");
    for n in &names {
        let _ = write!(s, " {n} |");
    }
    let _ = writeln!(s, " best peer | hz4 / best peer |");
    let _ = write!(s, "|---|---:|");
    for _ in &names {
        let _ = write!(s, "---:|");
    }
    let _ = writeln!(s, "---|---:|");
    for (wi, w) in workloads.iter().enumerate() {
        let threads = (0..allocs.len())
            .find_map(|ai| results.get(&(wi, ai)).and_then(|v| v.first()))
            .map_or("–".to_string(), |l| l.threads.to_string());
        let _ = write!(s, "| {w} | {threads} |");
        for r in &rates[wi] {
            let _ = write!(s, " {} |", r.map_or("–".to_string(), fmt_rate));
        }
        let row = &rows[wi];
        let _ = writeln!(
            s,
            " {} | {} |",
            row.best_peer.map_or("–", |i| names[i]),
            row.ratio.map_or("–".to_string(), |r| format!("{r:.2}"))
        );
    }
    let n_ratios = rows.iter().filter(|r| r.ratio.is_some()).count();
    let _ = writeln!(
        s,
        "\nGeometric mean of hz4 / best peer over {n_ratios} workload(s): **{}**\n",
        geo.map_or("–".to_string(), |g| format!("{g:.3}"))
    );
    let _ = writeln!(s, "**Peak RSS (VmHWM), MiB, median**\n");
    let _ = write!(s, "| workload |");
    for n in &names {
        let _ = write!(s, " {n} |");
    }
    let _ = writeln!(s);
    let _ = write!(s, "|---|");
    for _ in &names {
        let _ = write!(s, "---:|");
    }
    let _ = writeln!(s);
    for (wi, w) in workloads.iter().enumerate() {
        let _ = write!(s, "| {w} |");
        for ai in 0..allocs.len() {
            let _ = match med(wi, ai, |l| l.peak_rss_kb as f64 / 1024.0) {
                Some(v) if v >= 100.0 => write!(s, " {v:.0} |"),
                Some(v) => write!(s, " {v:.1} |"),
                None => write!(s, " – |"),
            };
        }
        let _ = writeln!(s);
    }
    if !failures.is_empty() {
        let _ = writeln!(s, "\nFailed runs:\n");
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
    fn parses_the_suite_line_and_rejects_others() {
        let out = "x\n[SUITE] name=st-small threads=1 ops=1000 secs=0.5 ops_per_s=2000 peak_rss_kb=3000 scale=1 seed=1 mallocs=1016 live=16\n";
        let l = parse_line(out).unwrap();
        assert_eq!(l.name, "st-small");
        assert_eq!((l.threads, l.ops, l.peak_rss_kb), (1, 1000, 3000));
        assert_eq!((l.secs, l.ops_per_s), (0.5, 2000.0));
        assert!(parse_line("[SUITE] name=x threads=1").is_none());
        assert!(
            parse_line("[SUITE] name=x threads=a ops=1 secs=1 ops_per_s=1 peak_rss_kb=1").is_none()
        );
        assert!(parse_line("nothing").is_none());
    }

    #[test]
    fn best_peer_ratio_and_geomean_on_hand_made_numbers() {
        let names = ["glibc", "hz4", "jemalloc", "mimalloc"];
        let m = vec![
            // best peer jemalloc 50: 100 / 50 = 2
            vec![Some(10.0), Some(100.0), Some(50.0), Some(40.0)],
            // best peer mimalloc 80: 40 / 80 = 0.5
            vec![Some(20.0), Some(40.0), None, Some(80.0)],
            // hz4 failed: no ratio, still a best peer
            vec![Some(5.0), None, Some(6.0), Some(1.0)],
            // best peer glibc 3: 12 / 3 = 4
            vec![Some(3.0), Some(12.0), None, None],
        ];
        let (rows, geo) = summarize(&names, &m);
        assert_eq!(rows[0].best_peer, Some(2));
        assert_eq!(rows[0].ratio, Some(2.0));
        assert_eq!(rows[1].best_peer, Some(3));
        assert_eq!(rows[1].ratio, Some(0.5));
        assert_eq!(rows[2].best_peer, Some(2));
        assert_eq!(rows[2].ratio, None);
        assert_eq!(rows[3].best_peer, Some(0));
        assert_eq!(rows[3].ratio, Some(4.0));
        // (2 * 0.5 * 4)^(1/3) = 4^(1/3)
        let want = 4f64.powf(1.0 / 3.0);
        assert!((geo.unwrap() - want).abs() < 1e-12, "{geo:?} vs {want}");
        // No peer at all, or no hz4: no ratios, no mean.
        let (rows, geo) = summarize(&["hz4"], &[vec![Some(1.0)]]);
        assert_eq!(
            rows[0],
            Row {
                best_peer: None,
                ratio: None
            }
        );
        assert_eq!(geo, None);
        let (_, geo) = summarize(&["glibc"], &[vec![Some(1.0)]]);
        assert_eq!(geo, None);
    }

    #[test]
    fn report_has_the_ratio_columns_and_the_mean() {
        let allocs = vec![
            Alloc {
                name: "hz4",
                lib: None,
            },
            Alloc {
                name: "glibc",
                lib: None,
            },
        ];
        let line = |name: &str, rate: f64| SuiteLine {
            name: name.into(),
            threads: 2,
            ops: 1,
            secs: 1.0,
            ops_per_s: rate,
            peak_rss_kb: 2048,
        };
        let mut res = BTreeMap::new();
        res.insert(
            (0, 0),
            vec![line("a", 30e6), line("a", 10e6), line("a", 20e6)],
        );
        res.insert(
            (0, 1),
            vec![line("a", 8e6), line("a", 12e6), line("a", 10e6)],
        );
        let ctx = Header {
            machine: "Machine: test".into(),
            rounds: 3,
            scale: 1.0,
        };
        let md = report(&ctx, &["a".into()], &allocs, &res, &["boom".into()]);
        assert!(
            md.contains("| a | 2 | 20.0 | 10.0 | glibc | 2.00 |"),
            "{md}"
        );
        assert!(md.contains("over 1 workload(s): **2.000**"), "{md}");
        assert!(md.contains("| a | 2.0 | 2.0 |"), "{md}");
        assert!(md.contains("- boom"), "{md}");
    }
}
