//! Facts about the machine and the checkout, and UTC timestamps (no date
//! crate needed: days-to-civil conversion of the proleptic Gregorian
//! calendar).

use std::path::Path;
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// Machine description for the manifest.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Machine {
    /// `model name` of the first CPU in /proc/cpuinfo.
    pub cpu_model: String,
    /// Online CPUs.
    pub nproc: usize,
    /// `uname -r`.
    pub kernel: String,
    /// Host name.
    pub hostname: String,
}

/// Git revision of the project.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GitInfo {
    /// `git rev-parse HEAD`, or `unknown`.
    pub revision: String,
    /// Tracked files differ from HEAD.
    pub dirty: bool,
}

/// Year, month, day of a day count since 1970-01-01.
fn civil(days: i64) -> (i64, u32, u32) {
    // Shift the epoch to 0000-03-01 so leap days end each 400-year era.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

fn parts(t: SystemTime) -> (i64, u32, u32, u64, u64, u64) {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (y, m, d) = civil((secs / 86_400) as i64);
    let s = secs % 86_400;
    (y, m, d, s / 3600, (s % 3600) / 60, s % 60)
}

/// `2026-02-17T09:05:00Z`.
pub fn iso_utc(t: SystemTime) -> String {
    let (y, mo, d, h, mi, s) = parts(t);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
}

/// `20260217T090500Z` (for directory names).
pub fn compact_utc(t: SystemTime) -> String {
    let (y, mo, d, h, mi, s) = parts(t);
    format!("{y:04}{mo:02}{d:02}T{h:02}{mi:02}{s:02}Z")
}

/// Now, ISO form.
pub fn now_iso() -> String {
    iso_utc(SystemTime::now())
}

fn first_line(cmd: &mut Command) -> Option<String> {
    let out = cmd.output().ok()?;
    if !out.status.success() {
        return None;
    }
    let s = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    (!s.is_empty()).then_some(s)
}

/// CPU model, core count, kernel and host name of this machine.
pub fn machine() -> Machine {
    let cpu_model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".into());
    let nproc = std::thread::available_parallelism().map_or(0, |n| n.get());
    let kernel = first_line(Command::new("uname").arg("-r")).unwrap_or_else(|| "unknown".into());
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .or_else(|| first_line(&mut Command::new("hostname")))
        .unwrap_or_else(|| "unknown".into());
    Machine {
        cpu_model,
        nproc,
        kernel,
        hostname,
    }
}

/// HEAD of the checkout at `repo` and whether tracked files are modified.
pub fn git_info(repo: &Path) -> GitInfo {
    let revision = first_line(
        Command::new("git")
            .arg("-C")
            .arg(repo)
            .args(["rev-parse", "HEAD"]),
    )
    .unwrap_or_else(|| "unknown".into());
    let dirty = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(["status", "--porcelain", "--untracked-files=no"])
        .output()
        .map(|o| o.status.success() && !o.stdout.is_empty())
        .unwrap_or(false);
    GitInfo { revision, dirty }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn utc_formats() {
        assert_eq!(iso_utc(at(0)), "1970-01-01T00:00:00Z");
        // 2000-02-29 is a leap day; 951782400 is its midnight.
        assert_eq!(iso_utc(at(951_782_400 + 3661)), "2000-02-29T01:01:01Z");
        assert_eq!(compact_utc(at(1_771_319_100)), "20260217T090500Z");
        assert_eq!(iso_utc(at(4_107_542_399)), "2100-02-28T23:59:59Z");
    }

    #[test]
    fn machine_has_cores() {
        assert!(machine().nproc >= 1);
    }
}
