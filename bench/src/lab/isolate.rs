//! Noise controls of a bench process (issue 14): CPU priority, scheduling
//! policy, CPU affinity, a pause before each run and discarded warm-up
//! runs. None of them changes the lane's arguments; each is recorded in the
//! manifest so `resume` and the report use the same settings.
//!
//! The process settings are applied in the child between `fork` and `exec`
//! (`pre_exec`), with plain system calls only, and are inherited by every
//! bench thread.

use std::io;

use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};

/// Scheduling policy of the bench process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Policy {
    /// `SCHED_OTHER` (the kernel's default, CFS).
    Other,
    /// `SCHED_BATCH`: CFS, but never preempts on wake-up.
    Batch,
    /// `SCHED_RR` at priority 1: ahead of every CFS task on the machine.
    Rr,
    /// `SCHED_FIFO` at priority 1: as `rr` without a time slice.
    Fifo,
}

impl Policy {
    /// Parses `other|batch|rr|fifo`.
    pub fn parse(s: &str) -> Result<Policy> {
        Ok(match s {
            "other" => Policy::Other,
            "batch" => Policy::Batch,
            "rr" => Policy::Rr,
            "fifo" => Policy::Fifo,
            _ => bail!("--sched: `{s}` is not one of other, batch, rr, fifo"),
        })
    }

    /// The name `parse` takes.
    pub fn name(self) -> &'static str {
        match self {
            Policy::Other => "other",
            Policy::Batch => "batch",
            Policy::Rr => "rr",
            Policy::Fifo => "fifo",
        }
    }

    fn libc(self) -> (libc::c_int, libc::c_int) {
        match self {
            Policy::Other => (libc::SCHED_OTHER, 0),
            Policy::Batch => (libc::SCHED_BATCH, 0),
            Policy::Rr => (libc::SCHED_RR, 1),
            Policy::Fifo => (libc::SCHED_FIFO, 1),
        }
    }
}

/// The noise controls of a lab. The default changes nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Isolation {
    /// Nice value of the bench (-20..=19).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nice: Option<i32>,
    /// Scheduling policy of the bench.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sched: Option<Policy>,
    /// CPUs the bench may run on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpus: Option<Vec<usize>>,
    /// Pause before each run, milliseconds.
    #[serde(default)]
    pub settle_ms: u64,
    /// Discarded runs of each (lane, variant) before the first recorded
    /// one of an invocation.
    #[serde(default)]
    pub warmup: u32,
}

impl Isolation {
    /// Checks ranges and builds the settings from the CLI values.
    pub fn new(
        nice: Option<i32>,
        sched: Option<&str>,
        cpus: Option<&str>,
        settle_ms: u64,
        warmup: u32,
    ) -> Result<Isolation> {
        if let Some(n) = nice {
            if !(-20..=19).contains(&n) {
                bail!("--nice: {n} is outside -20..=19");
            }
        }
        let sched = sched.map(Policy::parse).transpose()?;
        let cpus = cpus.map(parse_cpus).transpose()?;
        Ok(Isolation {
            nice,
            sched,
            cpus,
            settle_ms,
            warmup,
        })
    }

    /// True when a process setting must be applied in the child.
    pub fn touches_process(&self) -> bool {
        self.nice.is_some() || self.sched.is_some() || self.cpus.is_some()
    }

    /// One line for reports: `nice=-5 sched=rr cpus=0,1 settle_ms=0 warmup=1`
    /// (`default` when nothing is set).
    pub fn describe(&self) -> String {
        if *self == Isolation::default() {
            return "default".into();
        }
        let mut parts = Vec::new();
        if let Some(n) = self.nice {
            parts.push(format!("nice={n}"));
        }
        if let Some(p) = self.sched {
            parts.push(format!("sched={}", p.name()));
        }
        if let Some(c) = &self.cpus {
            let list: Vec<String> = c.iter().map(usize::to_string).collect();
            parts.push(format!("cpus={}", list.join(",")));
        }
        if self.settle_ms > 0 {
            parts.push(format!("settle_ms={}", self.settle_ms));
        }
        if self.warmup > 0 {
            parts.push(format!("warmup={}", self.warmup));
        }
        parts.join(" ")
    }

    /// Applies the process settings to the calling process. Meant for the
    /// child between `fork` and `exec`: it only makes system calls and
    /// touches no heap.
    pub fn apply_to_self(&self) -> io::Result<()> {
        if let Some(n) = self.nice {
            // SAFETY: setpriority(2) on the calling process; no memory is
            // passed.
            if unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, n) } != 0 {
                return Err(io::Error::last_os_error());
            }
        }
        if let Some(cpus) = &self.cpus {
            // SAFETY: cpu_set_t is plain bits; zeroed is the empty set.
            let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
            for &c in cpus {
                // SAFETY: `c` < CPU_SETSIZE, checked by parse_cpus.
                unsafe { libc::CPU_SET(c, &mut set) };
            }
            // SAFETY: `set` lives across the call and its size is passed.
            let rc =
                unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) };
            if rc != 0 {
                return Err(io::Error::last_os_error());
            }
        }
        if let Some(p) = self.sched {
            let (policy, prio) = p.libc();
            let param = libc::sched_param {
                sched_priority: prio,
            };
            // SAFETY: `param` lives across the call; pid 0 is the caller.
            if unsafe { libc::sched_setscheduler(0, policy, &param) } != 0 {
                return Err(io::Error::last_os_error());
            }
        }
        Ok(())
    }
}

/// Parses `0,1` or `0-3,6` into a sorted, deduplicated CPU list.
pub fn parse_cpus(s: &str) -> Result<Vec<usize>> {
    let mut out = Vec::new();
    for part in s.split(',') {
        let part = part.trim();
        let (lo, hi) = match part.split_once('-') {
            Some((a, b)) => (a, b),
            None => (part, part),
        };
        let lo: usize = lo
            .parse()
            .map_err(|_| anyhow::anyhow!("--cpus: `{part}` is not a CPU number or range"))?;
        let hi: usize = hi
            .parse()
            .map_err(|_| anyhow::anyhow!("--cpus: `{part}` is not a CPU number or range"))?;
        if lo > hi {
            bail!("--cpus: range `{part}` runs backwards");
        }
        if hi >= libc::CPU_SETSIZE as usize {
            bail!("--cpus: CPU {hi} is beyond the kernel's set size");
        }
        out.extend(lo..=hi);
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists() {
        assert_eq!(parse_cpus("0,1").unwrap(), vec![0, 1]);
        assert_eq!(parse_cpus("3-5,1,4").unwrap(), vec![1, 3, 4, 5]);
        assert!(parse_cpus("2-1").is_err());
        assert!(parse_cpus("x").is_err());
        assert!(parse_cpus("0,99999").is_err());
    }

    #[test]
    fn checks_and_describes() {
        assert!(Isolation::new(Some(-21), None, None, 0, 0).is_err());
        assert!(Isolation::new(None, Some("idle"), None, 0, 0).is_err());
        assert_eq!(Isolation::default().describe(), "default");
        let i = Isolation::new(Some(-5), Some("rr"), Some("1,0"), 50, 1).unwrap();
        assert_eq!(
            i.describe(),
            "nice=-5 sched=rr cpus=0,1 settle_ms=50 warmup=1"
        );
        assert!(i.touches_process());
        let j = Isolation::new(None, None, None, 10, 2).unwrap();
        assert!(!j.touches_process());
    }

    #[test]
    fn applies_in_a_child() {
        // The child raises its own nice value by one step, which needs no
        // privilege, and prints what the kernel then reports.
        use std::os::unix::process::CommandExt;
        let mine = unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) };
        let want = (mine + 1).min(19);
        let iso = Isolation::new(Some(want), None, None, 0, 0).unwrap();
        let mut cmd = std::process::Command::new("sh");
        cmd.args(["-c", "cut -d' ' -f19 /proc/self/stat"]);
        let child_iso = iso.clone();
        // SAFETY: apply_to_self makes system calls only.
        unsafe { cmd.pre_exec(move || child_iso.apply_to_self()) };
        let out = cmd.output().unwrap();
        let nice: i32 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
        assert_eq!(nice, want);
    }
}
