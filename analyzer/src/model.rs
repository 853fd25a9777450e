//! Serde model: parsed runs, per-lane summaries and every report. The JSON
//! output is these structs serialised; field names are part of the stable
//! interface documented in `docs/analyzer.md`.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

pub use crate::lanes::BenchArgs;

/// A place in an input: file name (or `-` for stdin) and 1-based line.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Location {
    /// Path as given on the command line, or `-`.
    pub file: String,
    /// 1-based line number.
    pub line: u64,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

/// How the lane of a run was told.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LaneSource {
    /// `[HZ_LANE] name=...`.
    Marker,
    /// `[BENCH_ARGS]` shape matched a lane.
    BenchArgs,
    /// The file name starts with a lane name.
    FileName,
    /// `--lane NAME=PATH`.
    Flag,
}

/// The throughput line `bench_random_mixed_mt_remote: ... ops/s=X`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Throughput {
    /// Operations per second (`ops/s=`).
    pub ops_per_sec: f64,
    /// `threads=` if present.
    pub threads: Option<u64>,
    /// `ops=` if present.
    pub ops: Option<u64>,
    /// `time=` in seconds if present.
    pub time_s: Option<f64>,
    /// `ops/s=` exactly, in millionths (what the decisions use).
    #[serde(default)]
    pub ops_per_sec_micro: u64,
}

/// Why a run fails the stability check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InstabilityKind {
    /// A panic/assert/abort/segfault/`hz4: ` line.
    CrashMarker,
    /// The run printed no throughput line.
    NoThroughput,
    /// `[ALLOC_FAILURES] count=N` with N > 0.
    AllocFailures,
    /// `[CORRUPTION] count=N` with N > 0 (this project's bench).
    Corruption,
    /// The run is not complete: its last line is cut, or its closing line
    /// (`[ALLOC_FAILURES]`, `[HZ_RUN_STATUS]`) is missing.
    Incomplete,
    /// `ops` disagrees with `ops/s × time` beyond the printed rounding.
    OpsMismatch,
}

/// One stability failure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Instability {
    /// Where: the crash line, or the first line of the run.
    pub location: Location,
    /// Lane of the run.
    pub lane: String,
    /// What happened.
    pub kind: InstabilityKind,
    /// The crash line (cut to 200 bytes) or a short description.
    pub detail: String,
}

/// One process's output, fully parsed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Run {
    /// First line of the run.
    pub location: Location,
    /// Lane name.
    pub lane: String,
    /// How the lane was told.
    pub lane_source: LaneSource,
    /// `[HZ_LANE] variant=` if present.
    pub variant: Option<String>,
    /// `[HZ_LANE] run=` if present.
    pub run: Option<u64>,
    /// `[BENCH_ARGS]` if present.
    pub bench_args: Option<BenchArgs>,
    /// `[HZ4_BUILD]` tokens as key/value pairs (value empty for bare words).
    pub build: Vec<(String, String)>,
    /// True when at least one `[HZ4_MID_STATS_B1]` line was seen.
    pub has_stats: bool,
    /// Every `[HZ4_MID_STATS_B1]` and `[HZ4_MID_LOCK_STATS]` counter, merged.
    pub counters: BTreeMap<String, u64>,
    /// The throughput line, absent when the run crashed before it.
    pub throughput: Option<Throughput>,
    /// `[EFFECTIVE_REMOTE]` fields as written.
    pub effective_remote: Vec<(String, String)>,
    /// `[ALLOC_FAILURES] count=` if present.
    pub alloc_failures: Option<u64>,
    /// `[CORRUPTION] count=` if present (this project's bench).
    #[serde(default)]
    pub corruption: Option<u64>,
    /// Crash marker lines of this run.
    pub crash_lines: Vec<Instability>,
    /// Why the run is incomplete (cut short, closing line missing, ops
    /// mismatch); such a run is left out of every sum and median and counts
    /// as a stability failure.
    #[serde(default)]
    pub incomplete: Option<Instability>,
    /// `[HZ4_MEM_STATS]` fields as written (stats builds that print it).
    #[serde(default)]
    pub mem_stats: Vec<(String, String)>,
    /// True when the run is a stats build: it printed counter lines or its
    /// `[HZ4_BUILD]` says `HZ4_MID_STATS_B1=1`.
    #[serde(default)]
    pub stats_build: bool,
    /// Values of the fixed-field lines of [`crate::scan::FIELD_LINES`], as
    /// `TAG.key` (none are declared yet).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub fields: BTreeMap<String, u64>,
}

impl Run {
    /// Stage A ratio of this run alone:
    /// `(stale_remote + pop_gated_remote) / max(1, stack_hit)`.
    pub fn stage_a_ratio(&self) -> Option<f64> {
        let g = |k: &str| self.counters.get(k).copied();
        let num = g(crate::keys::STALE_REMOTE)? as u128 + g(crate::keys::POP_GATED_REMOTE)? as u128;
        let den = g(crate::keys::STACK_HIT)? as u128;
        Some(crate::ratios::stage_a_ratio(num, den))
    }

    /// Every stability failure of this run.
    pub fn instabilities(&self) -> Vec<Instability> {
        let mut v = self.crash_lines.clone();
        if let Some(i) = &self.incomplete {
            v.push(i.clone());
            return v;
        }
        if self.throughput.is_none() {
            v.push(Instability {
                location: self.location.clone(),
                lane: self.lane.clone(),
                kind: InstabilityKind::NoThroughput,
                detail: "run printed no throughput line (crash)".into(),
            });
        }
        if let Some(n) = self.corruption.filter(|&n| n > 0) {
            v.push(Instability {
                location: self.location.clone(),
                lane: self.lane.clone(),
                kind: InstabilityKind::Corruption,
                detail: format!("[CORRUPTION] count={n}"),
            });
        }
        if let Some(n) = self.alloc_failures.filter(|&n| n > 0) {
            v.push(Instability {
                location: self.location.clone(),
                lane: self.lane.clone(),
                kind: InstabilityKind::AllocFailures,
                detail: format!("[ALLOC_FAILURES] count={n}"),
            });
        }
        v
    }
}

/// Pooled view of one lane over a set of runs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LaneSummary {
    /// Runs of this lane.
    pub runs: u64,
    /// Runs that carried `[HZ4_MID_STATS_B1]` lines (the ones pooled).
    pub stats_runs: u64,
    /// Variants seen in `[HZ_LANE]` markers.
    pub variants: Vec<String>,
    /// Sum of each counter over the stats runs.
    pub counters: BTreeMap<String, u128>,
    /// Number of stats runs that carried each counter.
    pub counter_runs: BTreeMap<String, u64>,
    /// For each counter the rules need that some stats run lacks: the first
    /// such run.
    pub missing: BTreeMap<String, Location>,
    /// Smallest per-run Stage A ratio.
    pub ratio_min: Option<f64>,
    /// Largest per-run Stage A ratio.
    pub ratio_max: Option<f64>,
    /// Throughput of each run that printed one, in input order.
    pub ops_per_sec: Vec<f64>,
    /// Runs that failed the stability check.
    pub unstable_runs: u64,
    /// The first stability failures (at most 50 are kept).
    pub instabilities: Vec<Instability>,
    /// Sum of `[ALLOC_FAILURES] count=`.
    pub alloc_failures: u128,
    /// Incomplete runs (cut short, closing line missing, ops mismatch):
    /// counted as unstable, left out of `runs`, sums and medians.
    #[serde(default)]
    pub incomplete_runs: u64,
    /// Throughput of each run exactly, in millionths of an op/s (what the
    /// gates decide on).
    #[serde(skip)]
    pub ops_micro: Vec<u64>,
    /// Each distinct `[BENCH_ARGS]` seen in this lane, with its first run.
    #[serde(skip)]
    pub bench_args: Vec<(BenchArgs, Location)>,
    /// Runs with a throughput line whose `[HZ_LANE]` marker carries `run=`:
    /// lab directory (index into `round_dirs`), round and ops/s. The
    /// paired gate estimate pairs base and var by these.
    #[serde(skip)]
    pub rounds: Vec<RoundOps>,
    /// Lab directories of `rounds` (a log's grandparent, `DIR` of
    /// `DIR/<lane>/<variant>-runNN.log`, canonical when it exists).
    #[serde(skip)]
    pub round_dirs: Vec<String>,
}

/// One run's throughput with the round it ran in (from `[HZ_LANE] run=`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RoundOps {
    /// Index into [`LaneSummary::round_dirs`].
    pub dir: u32,
    /// `[HZ_LANE] run=` (the lab's 1-based round of this lane and variant).
    pub round: u64,
    /// Operations per second.
    pub ops: f64,
    /// The same, exactly, in millionths (as [`LaneSummary::ops_micro`]).
    pub micro: u64,
}

impl LaneSummary {
    /// Pooled sum of a counter, `None` when no stats run carried it or some
    /// stats run lacks it.
    pub fn pooled(&self, key: &str) -> Option<u128> {
        if self.stats_runs == 0 || self.counter_runs.get(key).copied() != Some(self.stats_runs) {
            return None;
        }
        self.counters.get(key).copied()
    }
}

/// Pooled view of a set of runs: one [`LaneSummary`] per lane.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Inputs as given.
    pub inputs: Vec<String>,
    /// Runs read (after the `--variant` filter).
    pub total_runs: u64,
    /// Lanes by name.
    pub lanes: BTreeMap<String, LaneSummary>,
    /// Things worth knowing that do not stop the analysis.
    pub warnings: Vec<String>,
    /// `[HZ_LANE]` variant this summary is restricted to, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// Files that gave at least one run (after the variant filter).
    #[serde(skip)]
    pub contributing: Vec<crate::parse::FileKey>,
    /// The first run of a stats build, if any.
    #[serde(skip)]
    pub first_stats_run: Option<Location>,
}

impl Summary {
    /// Lane names in report order (work-order lanes first).
    pub fn lane_names(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self.lanes.keys().map(String::as_str).collect();
        v.sort_by_key(|n| crate::lanes::lane_order(n));
        v
    }

    /// Every stability failure over all lanes.
    pub fn instabilities(&self) -> impl Iterator<Item = &Instability> {
        self.lanes.values().flat_map(|l| l.instabilities.iter())
    }

    /// Number of runs failing the stability check over all lanes.
    pub fn unstable_runs(&self) -> u64 {
        self.lanes.values().map(|l| l.unstable_runs).sum()
    }
}

/// Outcome of one rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// The rule holds.
    Pass,
    /// The rule does not hold.
    Fail,
    /// Data needed by the rule is missing.
    Undecided,
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Status::Pass => "pass",
            Status::Fail => "FAIL",
            Status::Undecided => "undecided",
        })
    }
}

impl Status {
    /// Combines statuses: any fail fails, else any undecided, else pass.
    pub fn all(it: impl IntoIterator<Item = Status>) -> Status {
        let mut out = Status::Pass;
        for s in it {
            match s {
                Status::Fail => return Status::Fail,
                Status::Undecided => out = Status::Undecided,
                Status::Pass => {}
            }
        }
        out
    }
}

/// One evaluated rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Criterion {
    /// Stable identifier, e.g. `remote_inefficiency`.
    pub id: String,
    /// The rule as a formula with its thresholds filled in.
    pub rule: String,
    /// Outcome.
    pub status: Status,
    /// Observed values and, when not passing, why.
    pub detail: String,
}

/// Stage A decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum StageADecision {
    /// Both criteria hold: go on to Stage B.
    Proceed,
    /// A criterion fails: stop B77 and pivot.
    Stop,
    /// A lane or counter is missing.
    Undecided,
}

impl fmt::Display for StageADecision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StageADecision::Proceed => "PROCEED (Stage A criteria hold: implement B77)",
            StageADecision::Stop => "STOP (stop B77 and pivot; no implementation)",
            StageADecision::Undecided => "UNDECIDED (supply the missing lanes/counters and rerun)",
        })
    }
}

/// Stage A thresholds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct StageAOptions {
    /// Minimum stack inefficiency ratio in main_r50 or cross128_r90 (0.20).
    pub min_ratio: f64,
    /// main_r0's ratio must be below this factor times main_r50's (0.5).
    pub separation: f64,
    /// Runs per lane the work order asks for; fewer gives a warning (7).
    pub runs: u64,
}

impl Default for StageAOptions {
    fn default() -> Self {
        StageAOptions {
            min_ratio: 0.20,
            separation: 0.5,
            runs: 7,
        }
    }
}

/// Stage A figures of one lane.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageALane {
    /// Runs of the lane.
    pub runs: u64,
    /// Runs carrying stats lines (the ones pooled).
    pub stats_runs: u64,
    /// Pooled `stale_remote + pop_gated_remote`, if both present.
    pub numerator: Option<u128>,
    /// Pooled `malloc_owner_local_stack_hit`, if present.
    pub hit: Option<u128>,
    /// `numerator / max(1, hit)`, if both present.
    pub ratio: Option<f64>,
    /// Smallest per-run ratio.
    pub run_ratio_min: Option<f64>,
    /// Largest per-run ratio.
    pub run_ratio_max: Option<f64>,
    /// The twelve required counters, pooled (`null` when missing).
    pub counters: BTreeMap<String, Option<u128>>,
    /// Required counters missing, each with the first run lacking it.
    pub missing: BTreeMap<String, String>,
}

/// Stage A report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageAReport {
    /// `PROCEED`, `STOP` or `UNDECIDED`.
    pub decision: StageADecision,
    /// Thresholds used.
    pub thresholds: StageAOptions,
    /// Per-lane figures.
    pub lanes: BTreeMap<String, StageALane>,
    /// The two criteria.
    pub criteria: Vec<Criterion>,
    /// Why the decision is not PROCEED (empty when it is).
    pub reasons: Vec<String>,
    /// Notes such as "fewer runs than the work order asks".
    pub warnings: Vec<String>,
}

/// Mechanism thresholds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MechanismOptions {
    /// Minimum pooled value of each skip counter in main_r50/cross128_r90 (1).
    pub skip_min: u64,
    /// Minimum `hot_promote / malloc_calls` in main_r0 (0.5).
    pub promote_min: f64,
    /// Remote lanes' resets per million calls must be at least this factor
    /// times main_r0's, and above 0 (2.0).
    pub reset_factor: f64,
    /// Lanes are "similar" when max/min of a rate is at most this (1.5).
    pub separation_factor: f64,
}

impl Default for MechanismOptions {
    fn default() -> Self {
        MechanismOptions {
            skip_min: 1,
            promote_min: 0.5,
            reset_factor: 2.0,
            separation_factor: 1.5,
        }
    }
}

/// Adaptive figures of one lane.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MechanismLane {
    /// Stats runs pooled.
    pub stats_runs: u64,
    /// Pooled `malloc_calls`.
    pub malloc_calls: Option<u128>,
    /// Pooled `free_calls`.
    pub free_calls: Option<u128>,
    /// The six adaptive counters, pooled (`null` when missing).
    pub counters: BTreeMap<String, Option<u128>>,
    /// `hot_promote / malloc_calls` (`null` when missing or no calls).
    pub promote_per_call: Option<f64>,
    /// `hot_reset * 1e6 / malloc_calls`.
    pub reset_per_million: Option<f64>,
    /// Four skip counters summed, per million `malloc_calls + free_calls`.
    pub skip_per_million: Option<f64>,
}

/// Mechanism GO checks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MechanismReport {
    /// All checks combined.
    pub status: Status,
    /// True when any lane carries an adaptive counter.
    pub adaptive_present: bool,
    /// Thresholds used.
    pub thresholds: MechanismOptions,
    /// Per-lane figures.
    pub lanes: BTreeMap<String, MechanismLane>,
    /// The four checks.
    pub checks: Vec<Criterion>,
}

/// Screen or replay gates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// RUNS=7 screening gates.
    #[default]
    Screen,
    /// RUNS=21 replay gates (the verdict uses these).
    Replay,
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Mode::Screen => "screen",
            Mode::Replay => "replay",
        })
    }
}

/// One gate: minimum throughput change of a lane, in percent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateRule {
    /// Lane name.
    pub lane: String,
    /// Minimum `median(var)/median(base) - 1`, in percent.
    pub min_change_pct: f64,
}

/// Gate thresholds and bootstrap settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateOptions {
    /// Which gate set applies.
    pub mode: Mode,
    /// Screen gates (guard_r0 -1.0, main_r0 +3.0, main_r50 +1.0, cross128_r90 +1.0).
    pub screen: Vec<GateRule>,
    /// Replay gates (guard_r0 -1.0, main_r0 +6.0, main_r50 +1.0, cross128_r90 +1.0).
    pub replay: Vec<GateRule>,
    /// Runs per side the screen asks for (7).
    pub screen_runs: u64,
    /// Runs per side the replay asks for (21).
    pub replay_runs: u64,
    /// Bootstrap resamples (2000).
    pub bootstrap: u32,
    /// Bootstrap seed (77).
    pub seed: u64,
    /// Which rule decides each gate (`median`, the work order's, by
    /// default; `paired` is reported next to it either way).
    #[serde(default)]
    pub rule: GateMethod,
}

/// The rule that decides a gate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum GateMethod {
    /// The work order's: `median(var)/median(base) - 1 >= gate`, exact.
    #[default]
    Median,
    /// The 95 % interval of the paired per-round estimate: pass when its
    /// lower end clears the gate, fail when its upper end is below it, else
    /// undecided.
    Paired,
}

impl fmt::Display for GateMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            GateMethod::Median => "median",
            GateMethod::Paired => "paired",
        })
    }
}

/// How the paired estimate of a lane was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PairingKind {
    /// Base and var paired by round: Hodges–Lehmann of `ln(var/base)` with
    /// its signed-rank interval.
    Paired,
    /// No usable round information: the change of medians with its
    /// bootstrap interval, decided by the same interval rule.
    Unpaired,
}

/// The paired per-round estimate of one lane and its interval decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PairedGate {
    /// `paired`, or `unpaired` when the runs could not be paired (`note`
    /// says why).
    pub method: PairingKind,
    /// Rounds paired (unpaired: the smaller side's run count).
    pub rounds: u64,
    /// Two-sided level of the interval (0.95 in the gates).
    pub level: f64,
    /// Estimated change in percent: `exp(HL) - 1` (unpaired: the change of
    /// medians).
    pub change_pct: Option<f64>,
    /// Lower end of the interval, percent.
    pub ci_low_pct: Option<f64>,
    /// Upper end of the interval, percent.
    pub ci_high_pct: Option<f64>,
    /// Mean of the per-round log-ratios as a change, percent (paired only).
    pub mean_pct: Option<f64>,
    /// Its Student-t interval, percent.
    pub mean_ci_low_pct: Option<f64>,
    /// Its Student-t interval, percent.
    pub mean_ci_high_pct: Option<f64>,
    /// Standard deviation of the per-round log-ratios, ×100 (paired only).
    pub sd_pct: Option<f64>,
    /// Interval rule outcome: pass (lower end >= gate), fail (upper end <
    /// gate), undecided (the interval holds the gate, or too few rounds).
    pub status: Status,
    /// The values that decided.
    pub detail: String,
    /// Why the runs were not paired, when they were not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Undecided only: rounds the interval would need to exclude the gate
    /// if the estimate and the spread stay as they are (`null`: estimate on
    /// the gate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rounds_needed: Option<u64>,
}

/// Per-lane gate result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateLane {
    /// Base runs with a throughput line.
    pub base_runs: u64,
    /// Var runs with a throughput line.
    pub var_runs: u64,
    /// Median base ops/s.
    pub base_median: Option<f64>,
    /// Median var ops/s.
    pub var_median: Option<f64>,
    /// `median(var)/median(base) - 1` in percent (`null` when a side is
    /// empty or the base median is 0).
    pub change_pct: Option<f64>,
    /// Gate threshold in percent.
    pub threshold_pct: f64,
    /// Lower end of the 95 % bootstrap interval of the change, percent.
    pub ci_low_pct: Option<f64>,
    /// Upper end of the 95 % bootstrap interval of the change, percent.
    pub ci_high_pct: Option<f64>,
    /// True when the interval contains both the threshold and 0.
    pub within_noise: bool,
    /// A/A noise floor in percent (only with `--aa`).
    pub aa_noise_pct: Option<f64>,
    /// Gate outcome under the selected rule (`GateReport::rule`).
    pub status: Status,
    /// Explanation.
    pub detail: String,
    /// Outcome of the work order's median rule (the same as `status` unless
    /// the paired rule was selected).
    #[serde(default = "undecided")]
    pub median_status: Status,
    /// The paired per-round estimate and its interval decision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paired: Option<PairedGate>,
}

fn undecided() -> Status {
    Status::Undecided
}

/// Stability over every run given.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stability {
    /// Pass when no run crashed, asserted, aborted or failed an allocation.
    pub status: Status,
    /// Unstable base runs.
    pub base_unstable_runs: u64,
    /// Unstable var runs.
    pub var_unstable_runs: u64,
    /// Unstable A/A runs.
    pub aa_unstable_runs: u64,
    /// The first failures of each side.
    pub failures: Vec<Instability>,
}

/// A/B gate report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateReport {
    /// Gates and stability combined.
    pub status: Status,
    /// Mode used.
    pub mode: Mode,
    /// The gate rules applied.
    pub rules: Vec<GateRule>,
    /// Runs per side the mode asks for.
    pub required_runs: u64,
    /// Bootstrap resamples.
    pub bootstrap: u32,
    /// Bootstrap seed.
    pub seed: u64,
    /// The rule that decided `status` of each lane.
    #[serde(default)]
    pub rule: GateMethod,
    /// Each decision rule in words: the median rule, the paired rule, and
    /// which one decides.
    #[serde(default)]
    pub decision_rules: Vec<String>,
    /// Per-lane results.
    pub lanes: BTreeMap<String, GateLane>,
    /// Stability check.
    pub stability: Stability,
    /// Warnings (e.g. fewer runs than the mode asks).
    pub warnings: Vec<String>,
}

/// Final verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum VerdictDecision {
    /// Every replay gate, stability and every mechanism check pass.
    Go,
    /// Some condition of the work order's NO-GO list holds.
    NoGo,
    /// Data is missing.
    Undecided,
}

impl fmt::Display for VerdictDecision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            VerdictDecision::Go => "GO",
            VerdictDecision::NoGo => "NO-GO (archive the note and keep the baseline unchanged)",
            VerdictDecision::Undecided => "UNDECIDED (supply the missing runs and rerun)",
        })
    }
}

/// The verdict and its reasons.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VerdictReport {
    /// `GO`, `NO_GO` or `UNDECIDED`.
    pub decision: VerdictDecision,
    /// Failed conditions, each naming the work order's NO-GO item.
    pub reasons: Vec<String>,
    /// What is missing for a decision.
    pub undecided: Vec<String>,
    /// Gate mode the verdict was given in.
    #[serde(default)]
    pub mode: Mode,
    /// Screen mode only: the screen gates, stability and mechanism checks
    /// that failed (the work order's NO-GO items are for the replay).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub screen: Vec<String>,
}

/// Change of one counter between two sets (means per stats run).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CounterDelta {
    /// Mean per stats run in set A (`null` when absent).
    pub a: Option<f64>,
    /// Mean per stats run in set B.
    pub b: Option<f64>,
    /// `b - a`.
    pub delta: Option<f64>,
    /// `(b - a) / a` in percent (`null` when `a` is 0 or absent).
    pub change_pct: Option<f64>,
}

/// Counter deltas between two sets of runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DiffReport {
    /// Inputs of set A.
    pub a_inputs: Vec<String>,
    /// Inputs of set B.
    pub b_inputs: Vec<String>,
    /// Lane name to counter name to delta.
    pub lanes: BTreeMap<String, BTreeMap<String, CounterDelta>>,
    /// Per lane: median ops/s in A and B (`a`, `b` are medians here).
    #[serde(default)]
    pub throughput: BTreeMap<String, CounterDelta>,
    /// `--top N` (rows per lane shown in text).
    #[serde(default)]
    pub top: Option<usize>,
    /// `--min-change PCT`.
    #[serde(default)]
    pub min_change_pct: f64,
}

/// Parse benchmark figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchReport {
    /// Log file parsed.
    pub file: String,
    /// Its size in bytes.
    pub bytes: u64,
    /// Runs found.
    pub runs: u64,
    /// Wall time of the parse in seconds.
    pub seconds: f64,
    /// Parse speed in MB/s (10^6 bytes per wall-clock second).
    pub mb_per_s: f64,
    /// CPU time of the parsing thread in seconds, if readable.
    pub cpu_seconds: Option<f64>,
    /// Parse speed per CPU second of the parsing thread (one core).
    pub cpu_mb_per_s: Option<f64>,
    /// Peak resident set (`VmHWM`) in KiB, if readable.
    pub peak_rss_kib: Option<u64>,
}

/// Everything one command prints; each section is present only when the
/// command produced it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Document {
    /// Always `hz-analyze`.
    pub tool: String,
    /// Subcommand that produced the document.
    pub command: String,
    /// Inputs read.
    pub inputs: Vec<String>,
    /// Warnings from parsing and rules.
    pub warnings: Vec<String>,
    /// Per-lane pooled view (`report`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<Summary>,
    /// `report` over runs of several variants: one pooled view per variant
    /// (then `summary` is absent).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub variants: Vec<Summary>,
    /// Notes on which variant each decision used (`report`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub uses: Vec<String>,
    /// Stage A.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stage_a: Option<StageAReport>,
    /// Mechanism checks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mechanism: Option<MechanismReport>,
    /// A/B gates.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gates: Option<GateReport>,
    /// Verdict.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verdict: Option<VerdictReport>,
    /// Every run (`show`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runs: Option<Vec<Run>>,
    /// Counter deltas (`diff`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diff: Option<DiffReport>,
    /// Parse benchmark (`bench`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bench: Option<BenchReport>,
    /// Power and false-pass rates (`power`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub power: Option<crate::power::PowerReport>,
}
