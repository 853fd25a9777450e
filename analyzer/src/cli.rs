//! Command line (clap only). `hz-analyze FILES...` means `hz-analyze report
//! FILES...`; see [`normalize_args`].

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Reads hz4 dump logs; decides Stage A, mechanism checks, A/B gates and the
/// GO/NO-GO verdict of the B77 work order.
#[derive(Debug, Parser)]
#[command(name = "hz-analyze", version, about, max_term_width = 100)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
    /// Print one JSON document instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
    /// More diagnostics on stderr (-v info, -vv debug); RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Lane of runs under PATH when no marker, [BENCH_ARGS] shape or file
    /// name tells it (repeatable).
    #[arg(long = "lane", value_name = "NAME=PATH", global = true)]
    pub lane: Vec<String>,
    /// Keep only runs whose [HZ_LANE] marker has this variant.
    #[arg(long, value_name = "NAME", global = true)]
    pub variant: Option<String>,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Per-lane counter table, Stage A, and mechanism checks when adaptive
    /// counters are present (the default).
    Report(ReportArgs),
    /// Stage A proceed/stop decision only.
    StageA(StageAArgs),
    /// Mechanism GO checks only.
    Mechanism(MechArgs),
    /// A/B throughput gates and stability.
    Gates(GatesArgs),
    /// GO/NO-GO: replay gates, stability and mechanism checks.
    Verdict(VerdictArgs),
    /// Every counter of every run.
    Show(FilesArg),
    /// Counter deltas between two sets of runs.
    Diff(DiffArgs),
    /// Generate a realistic log and measure the parse speed.
    Bench(BenchArgs),
}

/// Input files.
#[derive(Debug, Args)]
pub struct FilesArg {
    /// Log files, directories (every *.log inside) or - for stdin.
    #[arg(required = true, value_name = "FILES")]
    pub files: Vec<String>,
}

/// Stage A thresholds.
#[derive(Debug, Args, Clone)]
pub struct StageAFlags {
    /// Minimum stack-inefficiency ratio in main_r50 or cross128_r90.
    #[arg(long, default_value_t = 0.20, value_name = "R")]
    pub stage_a_min_ratio: f64,
    /// main_r0's ratio must be below this factor times main_r50's.
    #[arg(long, default_value_t = 0.5, value_name = "F")]
    pub stage_a_separation: f64,
    /// Runs per lane the work order asks for (fewer gives a warning).
    #[arg(long, default_value_t = 7, value_name = "N")]
    pub stage_a_runs: u64,
}

/// Mechanism thresholds.
#[derive(Debug, Args, Clone)]
pub struct MechFlags {
    /// Minimum pooled value of each skip counter in main_r50/cross128_r90.
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub mech_skip_min: u64,
    /// Minimum hot_promote / malloc_calls in main_r0.
    #[arg(long, default_value_t = 0.5, value_name = "R")]
    pub mech_promote_min: f64,
    /// Remote lanes' resets per call must be at least this times main_r0's.
    #[arg(long, default_value_t = 2.0, value_name = "F")]
    pub mech_reset_factor: f64,
    /// Lanes count as similar when max/min of their rates is at most this.
    #[arg(long, default_value_t = 1.5, value_name = "F")]
    pub mech_separation_factor: f64,
}

/// Gate mode.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum ModeArg {
    /// RUNS=7 screening gates.
    Screen,
    /// RUNS=21 replay gates.
    Replay,
}

/// Gate thresholds (percent) and bootstrap settings.
#[derive(Debug, Args, Clone)]
pub struct GateFlags {
    /// Screen gate for guard_r0, percent.
    #[arg(long, default_value_t = -1.0, allow_negative_numbers = true, value_name = "PCT")]
    pub screen_guard_r0: f64,
    /// Screen gate for main_r0, percent.
    #[arg(
        long,
        default_value_t = 3.0,
        allow_negative_numbers = true,
        value_name = "PCT"
    )]
    pub screen_main_r0: f64,
    /// Screen gate for main_r50, percent.
    #[arg(
        long,
        default_value_t = 1.0,
        allow_negative_numbers = true,
        value_name = "PCT"
    )]
    pub screen_main_r50: f64,
    /// Screen gate for cross128_r90, percent.
    #[arg(
        long,
        default_value_t = 1.0,
        allow_negative_numbers = true,
        value_name = "PCT"
    )]
    pub screen_cross128_r90: f64,
    /// Replay gate for guard_r0, percent.
    #[arg(long, default_value_t = -1.0, allow_negative_numbers = true, value_name = "PCT")]
    pub replay_guard_r0: f64,
    /// Replay gate for main_r0, percent.
    #[arg(
        long,
        default_value_t = 6.0,
        allow_negative_numbers = true,
        value_name = "PCT"
    )]
    pub replay_main_r0: f64,
    /// Replay gate for main_r50, percent.
    #[arg(
        long,
        default_value_t = 1.0,
        allow_negative_numbers = true,
        value_name = "PCT"
    )]
    pub replay_main_r50: f64,
    /// Replay gate for cross128_r90, percent.
    #[arg(
        long,
        default_value_t = 1.0,
        allow_negative_numbers = true,
        value_name = "PCT"
    )]
    pub replay_cross128_r90: f64,
    /// Runs per side the screen asks for (fewer gives a warning).
    #[arg(long, default_value_t = 7, value_name = "N")]
    pub screen_runs: u64,
    /// Runs per side the replay asks for (fewer gives a warning).
    #[arg(long, default_value_t = 21, value_name = "N")]
    pub replay_runs: u64,
    /// Bootstrap resamples for the 95% interval.
    #[arg(long, default_value_t = 2000, value_name = "N")]
    pub bootstrap: u32,
    /// Bootstrap seed (fixed so output is reproducible).
    #[arg(long, default_value_t = 77, value_name = "N")]
    pub seed: u64,
    /// A/A runs (one build run twice) for the per-lane noise floor.
    #[arg(long, num_args = 1.., value_name = "FILES")]
    pub aa: Vec<String>,
}

/// `report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Inputs.
    #[command(flatten)]
    pub files: FilesArg,
    /// Stage A thresholds.
    #[command(flatten)]
    pub stage_a: StageAFlags,
    /// Mechanism thresholds.
    #[command(flatten)]
    pub mech: MechFlags,
}

/// `stage-a`.
#[derive(Debug, Args)]
pub struct StageAArgs {
    /// Inputs.
    #[command(flatten)]
    pub files: FilesArg,
    /// Stage A thresholds.
    #[command(flatten)]
    pub stage_a: StageAFlags,
}

/// `mechanism`.
#[derive(Debug, Args)]
pub struct MechArgs {
    /// Inputs.
    #[command(flatten)]
    pub files: FilesArg,
    /// Mechanism thresholds.
    #[command(flatten)]
    pub mech: MechFlags,
}

/// `gates`.
#[derive(Debug, Args)]
pub struct GatesArgs {
    /// Base build runs.
    #[arg(long, required = true, num_args = 1.., value_name = "FILES")]
    pub base: Vec<String>,
    /// Variant build runs.
    #[arg(long = "var", required = true, num_args = 1.., value_name = "FILES")]
    pub var: Vec<String>,
    /// Gate set.
    #[arg(long, value_enum, default_value_t = ModeArg::Screen)]
    pub mode: ModeArg,
    /// Gate thresholds.
    #[command(flatten)]
    pub gates: GateFlags,
}

/// `verdict`.
#[derive(Debug, Args)]
pub struct VerdictArgs {
    /// Base build runs (replay).
    #[arg(long, required = true, num_args = 1.., value_name = "FILES")]
    pub base: Vec<String>,
    /// Variant build runs (replay).
    #[arg(long = "var", required = true, num_args = 1.., value_name = "FILES")]
    pub var: Vec<String>,
    /// Var+stats build runs for the mechanism checks (default: the --var runs).
    #[arg(long, num_args = 1.., value_name = "FILES")]
    pub mech: Vec<String>,
    /// Write a Markdown note to DIR/README.md.
    #[arg(long, value_name = "DIR")]
    pub archive: Option<PathBuf>,
    /// Gate thresholds (the verdict always uses the replay set).
    #[command(flatten)]
    pub gates: GateFlags,
    /// Mechanism thresholds.
    #[command(flatten)]
    pub mech_flags: MechFlags,
}

/// `diff`.
#[derive(Debug, Args)]
pub struct DiffArgs {
    /// Set A: a file, a directory or -.
    pub a: String,
    /// Set B: a file, a directory or -.
    pub b: String,
}

/// `bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Size of the generated log in MiB.
    #[arg(long, default_value_t = 1024, value_name = "N")]
    pub size_mib: u64,
    /// Keep the generated log at PATH (e.g. to compare with `grep -c`).
    #[arg(long, value_name = "PATH")]
    pub keep: Option<PathBuf>,
}

/// Names of the subcommands.
pub const SUBCOMMANDS: [&str; 8] = [
    "report",
    "stage-a",
    "mechanism",
    "gates",
    "verdict",
    "show",
    "diff",
    "bench",
];

/// Inserts `report` when no subcommand is named, so `hz-analyze FILES...`
/// works. A subcommand counts as named when it appears after nothing but
/// flags; `help`, `-h`, `--help` and `-V`/`--version` are left alone.
pub fn normalize_args(args: impl IntoIterator<Item = OsString>) -> Vec<OsString> {
    let mut v: Vec<OsString> = args.into_iter().collect();
    if v.len() < 2 {
        return v;
    }
    let rest = &v[1..];
    let named = rest
        .iter()
        .find(|a| !a.to_string_lossy().starts_with('-'))
        .is_some_and(|a| {
            let a = a.to_string_lossy();
            SUBCOMMANDS.contains(&a.as_ref()) || a == "help"
        });
    let meta = rest
        .iter()
        .any(|a| matches!(a.to_str(), Some("-h" | "--help" | "-V" | "--version")));
    let bare_meta = meta && rest.len() == 1;
    if !(named || bare_meta) {
        v.insert(1, OsString::from("report"));
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(args: &[&str]) -> Vec<String> {
        normalize_args(args.iter().map(OsString::from))
            .into_iter()
            .map(|s| s.into_string().unwrap())
            .collect()
    }

    #[test]
    fn default_subcommand() {
        assert_eq!(n(&["x", "a.log"]), ["x", "report", "a.log"]);
        assert_eq!(
            n(&["x", "--json", "a.log"]),
            ["x", "report", "--json", "a.log"]
        );
        assert_eq!(n(&["x", "show", "a.log"]), ["x", "show", "a.log"]);
        assert_eq!(n(&["x", "-v", "gates"]), ["x", "-v", "gates"]);
        assert_eq!(n(&["x", "--help"]), ["x", "--help"]);
        assert_eq!(n(&["x"]), ["x"]);
    }

    #[test]
    fn clap_definition_is_valid() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
