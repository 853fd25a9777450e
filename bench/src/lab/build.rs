//! Building: one cargo target directory per knob string (so variants never
//! overwrite each other and rebuilds are incremental), the hz-bench binary,
//! and reading a build's `[HZ4_BUILD]` line.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};

use super::knobs;

/// A failed build, with the lines worth showing.
#[derive(Debug)]
pub struct BuildFailure {
    /// Variant name.
    pub variant: String,
    /// Knob string.
    pub defs: String,
    /// Build output.
    pub log: PathBuf,
    /// `error…` lines of the output (at most 12).
    pub errors: Vec<String>,
}

impl std::fmt::Display for BuildFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "build of variant `{}` failed (HZ4_DEFS_EXTRA='{}'); build output: {}",
            self.variant,
            self.defs,
            self.log.display()
        )?;
        for e in &self.errors {
            write!(f, "\n  {e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for BuildFailure {}

/// The lines of a cargo log that say what went wrong: the knob script's
/// `error: hz4 knobs: …` lines first, else other `error` lines.
pub fn error_lines(log_text: &str) -> Vec<String> {
    let knob: Vec<String> = log_text
        .lines()
        .filter(|l| l.contains("error: hz4 knobs:"))
        .map(|l| l.trim().to_owned())
        .collect();
    let pick = if knob.is_empty() {
        log_text
            .lines()
            .filter(|l| l.trim_start().starts_with("error"))
            .map(|l| l.trim().to_owned())
            .collect()
    } else {
        knob
    };
    pick.into_iter().take(12).collect()
}

/// Runs `cargo` in `repo` with output to `log`; true on success.
fn cargo(
    repo: &Path,
    args: &[&str],
    env: &[(&str, &Path)],
    defs: Option<&str>,
    log: &Path,
) -> Result<bool> {
    let out = File::create(log).with_context(|| format!("creating {}", log.display()))?;
    let err = out.try_clone()?;
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(repo)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::from(out))
        .stderr(Stdio::from(err));
    // Only the knob string given here may reach the build script.
    cmd.env_remove("HZ4_DEFS_EXTRA");
    if let Some(d) = defs {
        cmd.env("HZ4_DEFS_EXTRA", d);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let status = cmd.status().context("running cargo")?;
    Ok(status.success())
}

/// Builds `libhz4.so` with `defs` in `build_root/<hash of defs>` (of defs
/// and the checkout's path when `foreign`, i.e. not the lab's own repo, so
/// two checkouts never share a target directory), output to `log`; returns
/// the library path.
pub fn build_hz4(
    repo: &Path,
    foreign: bool,
    build_root: &Path,
    variant: &str,
    defs: &str,
    log: &Path,
) -> Result<PathBuf> {
    let key = if foreign {
        format!(
            "{}@{}",
            knobs::hash(defs),
            knobs::fnv64(&repo.display().to_string())
        )
    } else {
        knobs::hash(defs)
    };
    let target = build_root.join(key);
    std::fs::create_dir_all(&target).with_context(|| format!("creating {}", target.display()))?;
    let ok = cargo(
        repo,
        &["build", "--release", "-p", "hz4"],
        &[("CARGO_TARGET_DIR", &target)],
        Some(&knobs::normalize(defs)),
        log,
    )?;
    let lib = target.join("release").join("libhz4.so");
    if !ok || !lib.exists() {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        return Err(BuildFailure {
            variant: variant.to_owned(),
            defs: defs.to_owned(),
            log: log.to_owned(),
            errors: error_lines(&text),
        }
        .into());
    }
    Ok(lib)
}

/// The release hz-bench: `explicit` when given; else, when this hz-lab is
/// itself a release build, `cargo build --release -p hz-bench` into the
/// same target directory; else into `$CARGO_TARGET_DIR` or `repo/target`.
pub fn ensure_bench(repo: &Path, explicit: Option<&Path>, log: &Path) -> Result<PathBuf> {
    if let Some(p) = explicit {
        if !p.is_file() {
            bail!("--bench {}: no such file", p.display());
        }
        return Ok(std::fs::canonicalize(p)?);
    }
    let own_release = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(Path::to_path_buf))
        .filter(|d| d.file_name().is_some_and(|n| n == "release"))
        .and_then(|d| d.parent().map(Path::to_path_buf));
    let target = own_release
        .or_else(|| std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from))
        .unwrap_or_else(|| repo.join("target"));
    let ok = cargo(
        repo,
        &["build", "--release", "-p", "hz-bench", "--bin", "hz-bench"],
        &[("CARGO_TARGET_DIR", &target)],
        None,
        log,
    )?;
    let bin = target.join("release").join("hz-bench");
    if !ok || !bin.is_file() {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        let mut msg = format!("building hz-bench failed; build output: {}", log.display());
        for e in error_lines(&text) {
            msg.push_str(&format!("\n  {e}"));
        }
        bail!(msg);
    }
    Ok(bin)
}

/// Runs the bench once, minimally, under `lib` and returns the
/// `[HZ4_BUILD]` line hz-bench prints when the library exports
/// `hz4_build_info`.
pub fn probe_build_line(bench: &Path, lib: &Path) -> Result<Option<String>> {
    let out = Command::new(bench)
        .args(["1", "1", "1", "16", "16", "0", "2"])
        .env("LD_PRELOAD", lib)
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running {}", bench.display()))?;
    if !out.status.success() {
        bail!(
            "probe run of {} under LD_PRELOAD={} failed ({}): {}",
            bench.display(),
            lib.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .find(|l| l.starts_with("[HZ4_BUILD]"))
        .map(str::to_owned))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_knob_errors_first() {
        let log = "   Compiling hz4 v0.1.0\n\
error: hz4 knobs: HZ4_DEFS_EXTRA: unknown knob 'HZ4_NOPE' (known: …)\n\
warning: hz4@0.1.0: hz4 knobs: HZ4_DEFS_EXTRA: unknown knob 'HZ4_NOPE'\n\
error: failed to run custom build command for `hz4 v0.1.0`\n";
        assert_eq!(
            error_lines(log),
            ["error: hz4 knobs: HZ4_DEFS_EXTRA: unknown knob 'HZ4_NOPE' (known: …)"]
        );
        assert_eq!(
            error_lines("error[E0425]: x\nerror: could not compile\n").len(),
            2
        );
        assert!(error_lines("fine\n").is_empty());
    }

    #[test]
    fn failure_names_variant_knobs_and_log() {
        let f = BuildFailure {
            variant: "var".into(),
            defs: "-DHZ4_NOPE=1".into(),
            log: "/x/build-var.out".into(),
            errors: vec!["error: hz4 knobs: boom".into()],
        };
        let s = f.to_string();
        assert!(s.starts_with("build of variant `var` failed (HZ4_DEFS_EXTRA='-DHZ4_NOPE=1'); build output: /x/build-var.out"));
        assert!(s.ends_with("\n  error: hz4 knobs: boom"));
    }
}
