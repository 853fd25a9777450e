//! `hz-analyze bench`: writes a realistic log (the reference dump shape,
//! cycling through the four lanes) and measures the streaming parse.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::error::InputError;
use crate::lanes::LANES;
use crate::model::BenchReport;
use crate::parse::LoadOptions;
use crate::stats::SplitMix64;

/// Keys of the reference allocator's main `[HZ4_MID_STATS_B1]` line.
const B1_MAIN: [&str; 43] = [
    "malloc_calls",
    "malloc_obj_cache_hit",
    "malloc_tls_hit",
    "malloc_alloc_cache_hit",
    "malloc_free_batch_hit",
    "malloc_free_batch_refill",
    "malloc_free_batch_refill_objs",
    "malloc_alloc_cache_refill",
    "malloc_alloc_cache_refill_objs",
    "malloc_owner_fast",
    "malloc_owner_drain",
    "malloc_owner_drain_objs",
    "malloc_lock_burst_calls",
    "malloc_lock_burst_objs",
    "malloc_lock_path",
    "malloc_st_local_stack_hit",
    "malloc_owner_local_stack_hit",
    "malloc_owner_local_stack_stale_remote",
    "malloc_owner_local_stack_stale_unowned",
    "malloc_owner_local_stack_sc_skip",
    "malloc_bin_hit",
    "malloc_bin_miss",
    "malloc_page_create",
    "malloc_page_create_suppress_retry",
    "malloc_page_create_suppress_hit",
    "free_calls",
    "free_obj_cache_fast",
    "free_active_owner_hit",
    "free_active_owner_miss",
    "free_tls_fast",
    "free_owner_local",
    "free_owner_remote",
    "free_locked",
    "free_st_local_stack_hit",
    "free_st_local_stack_overflow",
    "free_owner_local_stack_hit",
    "free_owner_local_stack_overflow",
    "free_batch_enq",
    "free_batch_flush",
    "free_batch_flush_objs",
    // The B77 adaptive counters, as a Var+stats build would print them.
    "malloc_owner_local_stack_adaptive_push_skip_cold",
    "malloc_owner_local_stack_adaptive_hot_promote",
    "malloc_owner_local_stack_adaptive_hot_reset",
];

/// The B58 line.
const B1_B58: [&str; 4] = [
    "malloc_owner_local_stack_pop_gated_remote",
    "free_owner_local_stack_push_gated_remote",
    "free_owner_local_stack_adaptive_push_skip_cold",
    "free_owner_local_stack_adaptive_push_skip_cooldown",
];

/// `[HZ4_MID_LOCK_STATS]` keys.
const LOCK: [&str; 20] = [
    "lock_enter",
    "lock_wait_samples",
    "lock_wait_ns_sum",
    "lock_wait_ns_max",
    "lock_contended_samples",
    "lock_hold_samples",
    "lock_hold_ns_sum",
    "lock_hold_ns_max",
    "hold_binscan_steps_sum",
    "hold_binscan_steps_max",
    "hold_page_create_calls",
    "hold_page_create_ns_sum",
    "prelock_alloc_run_hit",
    "prelock_alloc_run_miss",
    "prelock_free_batch_refill_calls",
    "prelock_free_batch_refill_objs",
    "inlock_remote_drain_calls",
    "inlock_remote_drain_objs",
    "malloc_owner_local_stack_adaptive_push_skip_cooldown",
    "lock_spare",
];

const SUPPLY: [&str; 4] = [
    "supply_resv_hit",
    "supply_resv_refill",
    "supply_resv_pages",
    "supply_resv_new_seg",
];

fn kv_line(w: &mut impl Write, tag: &str, keys: &[&str], rng: &mut SplitMix64) -> io::Result<()> {
    w.write_all(tag.as_bytes())?;
    for k in keys {
        // Magnitudes like the reference log: 0 to ~10^7.
        let v = match rng.next_u64() % 4 {
            0 => 0,
            1 => rng.next_u64() % 1000,
            _ => rng.next_u64() % 10_000_000,
        };
        write!(w, " {k}={v}")?;
    }
    w.write_all(b"\n")
}

/// Writes about `bytes` of log to `w`; returns the runs written.
pub fn generate(w: &mut impl Write, bytes: u64, seed: u64) -> io::Result<u64> {
    let mut rng = SplitMix64::new(seed);
    let mut counter = CountingWriter { inner: w, n: 0 };
    let mut runs = 0u64;
    while counter.n < bytes {
        let lane = &LANES[(runs % 4) as usize];
        let a = lane.args;
        writeln!(
            counter,
            "[BENCH_ARGS] threads={} iters={} ws={} min={} max={} remote_pct={} ring_slots={}",
            a.threads, a.iters, a.ws, a.min, a.max, a.remote_pct, a.ring_slots
        )?;
        kv_line(&mut counter, "[HZ4_MID_STATS_B1]", &B1_MAIN, &mut rng)?;
        kv_line(&mut counter, "[HZ4_MID_STATS_B1]", &B1_B58, &mut rng)?;
        kv_line(&mut counter, "[HZ4_MID_LOCK_STATS]", &LOCK, &mut rng)?;
        kv_line(&mut counter, "[HZ4_MID_STATS_B1]", &SUPPLY, &mut rng)?;
        // ops, time and ops/s agree as hz-bench prints them.
        let ops = 9_000_000 + rng.next_u64() % 20_000_000;
        let micros = 250_000 + rng.next_u64() % 3_000_000;
        let secs = micros as f64 / 1e6;
        writeln!(
            counter,
            "bench_random_mixed_mt_remote: threads=16 ops={ops} time={secs:.6} ops/s={:.2}",
            ops as f64 / secs
        )?;
        writeln!(
            counter,
            "[EFFECTIVE_REMOTE] target={r} actual={r}.02 fallback_rate=0.00 sends=4802361 local_frees=4796061 fallback_frees=0",
            r = a.remote_pct
        )?;
        writeln!(counter, "[ALLOC_FAILURES] count=0")?;
        runs += 1;
    }
    Ok(runs)
}

struct CountingWriter<'a, W: Write> {
    inner: &'a mut W,
    n: u64,
}

impl<W: Write> Write for CountingWriter<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let k = self.inner.write(buf)?;
        self.n += k as u64;
        Ok(k)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// CPU time this thread has run, in seconds (`/proc/thread-self/schedstat`).
/// Unlike wall time it does not count waiting for a shared core.
pub fn thread_cpu_seconds() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: u64 = s.split_whitespace().next()?.parse().ok()?;
    Some(ns as f64 / 1e9)
}

/// Peak resident set size (`VmHWM`) of this process in KiB, if readable.
pub fn peak_rss_kib() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Generates `size_mib` MiB at `keep` (or a temporary file removed
/// afterwards), parses it with the streaming path and reports the speed.
pub fn run_bench(size_mib: u64, keep: Option<&Path>) -> Result<BenchReport, InputError> {
    let path: PathBuf = match keep {
        Some(p) => p.to_owned(),
        None => std::env::temp_dir().join(format!("hz-analyze-bench-{}.log", std::process::id())),
    };
    let name = path.display().to_string();
    let io_err = |source| InputError::Io {
        file: name.clone(),
        source,
    };
    {
        let f = File::create(&path).map_err(io_err)?;
        let mut w = BufWriter::with_capacity(1 << 20, f);
        generate(&mut w, size_mib << 20, 77).map_err(io_err)?;
        w.flush().map_err(io_err)?;
    }
    let bytes = std::fs::metadata(&path).map_err(io_err)?.len();
    tracing::info!("generated {name}: {bytes} bytes");
    let c0 = thread_cpu_seconds();
    let t0 = Instant::now();
    let result = crate::summarize_inputs(std::slice::from_ref(&name), &LoadOptions::default());
    let seconds = t0.elapsed().as_secs_f64();
    let cpu_seconds = c0.zip(thread_cpu_seconds()).map(|(a, b)| b - a);
    if keep.is_none() {
        let _ = std::fs::remove_file(&path);
    }
    let summary = result?;
    Ok(BenchReport {
        file: name,
        bytes,
        runs: summary.total_runs,
        seconds,
        mb_per_s: bytes as f64 / 1e6 / seconds.max(1e-9),
        cpu_seconds,
        cpu_mb_per_s: cpu_seconds.map(|c| bytes as f64 / 1e6 / c.max(1e-9)),
        peak_rss_kib: peak_rss_kib(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_log_parses() {
        let mut buf = Vec::new();
        let runs = generate(&mut buf, 64 << 10, 1).unwrap();
        let text = String::from_utf8(buf).unwrap();
        let parsed = crate::parse_str("gen.log", &text, &LoadOptions::default()).unwrap();
        assert_eq!(parsed.len() as u64, runs);
        assert!(parsed.iter().all(|r| r.throughput.is_some()));
    }
}
