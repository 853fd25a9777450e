//! `DIR/manifest.json`: everything needed to understand, resume and
//! re-report a lab run. Rewritten atomically (temp file + rename) after
//! every run, so an interrupted lab leaves a valid file.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use hz_analyze::BenchArgs;
use serde::{Deserialize, Serialize};

use super::exec::Rusage;
use super::plan::{Job, TimeoutRule};
use super::sys::{GitInfo, Machine};

/// Manifest format version.
pub const SCHEMA: u32 = 1;

/// State of the whole lab directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LabState {
    /// Builds or runs in progress (or the process was killed hard).
    Running,
    /// Stopped by Ctrl-C / SIGTERM / `--stop-after`; `hz-lab resume DIR`
    /// continues.
    Interrupted,
    /// A variant did not build.
    BuildFailed,
    /// Every planned run is done and the report is written.
    Complete,
}

/// What a variant is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VariantKind {
    /// libhz4.so built from a knob string.
    Hz4,
    /// Another allocator library, preloaded as is.
    Preload,
    /// The C library's malloc (no preload).
    System,
}

/// What a variant's runs are for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Throughput comparison (stats knobs refused).
    Timing,
    /// Counter dumps (Stage A, Var+stats).
    Stats,
    /// An allocator in the peers comparison.
    Peer,
}

/// One build or library under test.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Variant {
    /// Name used in log file names and `[HZ_LANE] variant=`.
    pub name: String,
    /// Kind.
    pub kind: VariantKind,
    /// Purpose.
    pub role: Role,
    /// Knob string (`HZ4_DEFS_EXTRA`) of an hz4 variant.
    pub defs: Option<String>,
    /// Library preloaded in runs (for hz4: the copy kept in `DIR/libs/`).
    pub lib: Option<String>,
    /// Cargo target directory of an hz4 build.
    pub build_dir: Option<String>,
    /// Build output, `DIR`-relative.
    pub build_log: Option<String>,
    /// The build's `[HZ4_BUILD]` line.
    pub build_line: Option<String>,
    /// Extra environment of this variant's runs.
    pub env: Vec<(String, String)>,
    /// Checkout an hz4 variant is built from when it is not the lab's
    /// `repo` (e.g. a worktree of an older commit), with its revision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repo: Option<VariantRepo>,
}

/// Where an hz4 variant's source comes from when it is not the lab's repo.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VariantRepo {
    /// Canonical path of the checkout.
    pub path: String,
    /// Its revision when the lab started.
    pub git: GitInfo,
}

/// Outcome class of one run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Exit 0, a throughput line, no allocation failures.
    Ok,
    /// Killed by a signal (abort, segfault, …).
    Crashed,
    /// Killed by the lab after the time limit.
    Timeout,
    /// `[ALLOC_FAILURES] count>0`.
    AllocFailures,
    /// `[CORRUPTION]` reported by hz-bench.
    Corruption,
    /// Non-zero exit, or no throughput line.
    Failed,
}

impl RunStatus {
    /// Name as written in the manifest and the log trailer.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Ok => "ok",
            RunStatus::Crashed => "crashed",
            RunStatus::Timeout => "timeout",
            RunStatus::AllocFailures => "alloc_failures",
            RunStatus::Corruption => "corruption",
            RunStatus::Failed => "failed",
        }
    }
}

/// One finished run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// Lane.
    pub lane: String,
    /// Variant.
    pub variant: String,
    /// Run number of this (lane, variant).
    pub run: u32,
    /// Log, `DIR`-relative.
    pub log: String,
    /// Outcome class.
    pub status: RunStatus,
    /// Exit code, when the process exited.
    pub exit_code: Option<i32>,
    /// Signal, when the process was killed.
    pub signal: Option<i32>,
    /// Wall time of the process in seconds.
    pub wall_s: f64,
    /// Time limit it ran under.
    pub timeout_s: f64,
    /// `ops/s=` of the throughput line.
    pub ops_per_sec: Option<f64>,
    /// `[RSS] max_rss_kb=`.
    pub max_rss_kb: Option<u64>,
    /// The bench's `[RUSAGE]` line (absent in older lab directories).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rusage: Option<Rusage>,
    /// Start time (UTC).
    pub started_utc: String,
}

impl RunRecord {
    /// The job this record completes.
    pub fn job(&self) -> Job {
        Job {
            lane: self.lane.clone(),
            variant: self.variant.clone(),
            run: self.run,
        }
    }
}

/// A lane as run: the work-order name and the effective bench arguments.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LaneEntry {
    /// Lane name.
    pub name: String,
    /// Arguments after `--scale` and `--threads`.
    pub args: BenchArgs,
}

/// Settings the runs depend on (kept for `resume`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    /// ITERS multiplier.
    pub scale: f64,
    /// THREADS override.
    pub threads: Option<u64>,
    /// Rounds of the timing (or Stage A, or peers) runs.
    pub runs: u32,
    /// Rounds of the Var+stats runs (`ab`).
    pub stats_runs: u32,
    /// Gate mode (`ab`): `screen` or `replay`.
    pub mode: Option<String>,
    /// Time limits.
    pub timeout: TimeoutRule,
    /// `--allow-stats-timing` was given.
    pub allow_stats_timing: bool,
    /// Environment of every run (`--bench-env`).
    pub bench_env: Vec<(String, String)>,
    /// Root of the per-variant cargo target directories.
    pub build_root: String,
    /// `ab --archive DIR`: where the Markdown note goes.
    #[serde(default)]
    pub archive: Option<String>,
    /// `ab --until-decided`: the sequential plan and its looks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequential: Option<super::sequential::SeqPlan>,
    /// Noise controls of the bench processes (`--nice`, `--sched`,
    /// `--cpus`, `--settle-ms`, `--warmup`).
    #[serde(default)]
    pub isolation: super::isolate::Isolation,
}

/// Report files and the decision, once written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResultInfo {
    /// Exit status of the lab (the analyzer's).
    pub exit_code: i32,
    /// Decision in words (`PROCEED`, `NO_GO`, `pass`, …).
    pub decision: String,
    /// Files written, `DIR`-relative.
    pub files: Vec<String>,
}

/// The manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// [`SCHEMA`].
    pub schema: u32,
    /// `hz-lab`.
    pub tool: String,
    /// `stage-a`, `ab` or `peers`.
    pub command: String,
    /// Command line as given.
    pub argv: Vec<String>,
    /// State.
    pub state: LabState,
    /// Creation time (UTC).
    pub created_utc: String,
    /// Last rewrite (UTC).
    pub updated_utc: String,
    /// Project checkout.
    pub repo: String,
    /// Its git revision.
    pub git: GitInfo,
    /// The machine.
    pub machine: Machine,
    /// Settings.
    pub settings: Settings,
    /// Lanes in plan order.
    pub lanes: Vec<LaneEntry>,
    /// Variants.
    pub variants: Vec<Variant>,
    /// hz-bench binary used.
    pub bench: Option<String>,
    /// Every run in planned order.
    pub planned: Vec<Job>,
    /// Finished runs in the order they ran.
    pub runs: Vec<RunRecord>,
    /// Notes (skipped peers, resumes, interruptions).
    pub notes: Vec<String>,
    /// Report, once written.
    pub result: Option<ResultInfo>,
}

impl Manifest {
    /// Path of the manifest in `dir`.
    pub fn path(dir: &Path) -> PathBuf {
        dir.join("manifest.json")
    }

    /// Reads `dir/manifest.json`.
    pub fn load(dir: &Path) -> Result<Manifest> {
        let p = Self::path(dir);
        let text =
            std::fs::read_to_string(&p).with_context(|| format!("reading {}", p.display()))?;
        let m: Manifest =
            serde_json::from_str(&text).with_context(|| format!("parsing {}", p.display()))?;
        if m.schema != SCHEMA {
            anyhow::bail!(
                "{}: manifest schema {} (this hz-lab writes {SCHEMA})",
                p.display(),
                m.schema
            );
        }
        Ok(m)
    }

    /// Writes `dir/manifest.json` atomically, stamping `updated_utc`.
    pub fn save(&mut self, dir: &Path) -> Result<()> {
        self.updated_utc = super::sys::now_iso();
        let p = Self::path(dir);
        let tmp = dir.join(".manifest.json.tmp");
        let mut text = serde_json::to_string_pretty(self).context("serialising the manifest")?;
        text.push('\n');
        std::fs::write(&tmp, text).with_context(|| format!("writing {}", tmp.display()))?;
        std::fs::rename(&tmp, &p).with_context(|| format!("renaming to {}", p.display()))?;
        Ok(())
    }

    /// Planned jobs without a record, in planned order.
    pub fn pending(&self) -> Vec<Job> {
        let done: HashSet<Job> = self.runs.iter().map(RunRecord::job).collect();
        self.planned
            .iter()
            .filter(|j| !done.contains(*j))
            .cloned()
            .collect()
    }

    /// The variant called `name`.
    pub fn variant(&self, name: &str) -> Option<&Variant> {
        self.variants.iter().find(|v| v.name == name)
    }

    /// Bench arguments of lane `name`.
    pub fn lane_args(&self, name: &str) -> Option<BenchArgs> {
        self.lanes.iter().find(|l| l.name == name).map(|l| l.args)
    }
}
