//! Command line (clap only). `hz-analyze FILES...` means `hz-analyze report
//! FILES...`; see [`normalize_args`].

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Accepted inputs, shown in each subcommand's help.
pub const INPUTS_HELP: &str = "Inputs: log files, directories (every *.log, *.log.gz and *.log.zst below them, \
recursively, in name order; symlink loops are not followed) or - for standard input. Gzip and zstd data \
are read transparently. Each file is read once: the same file given twice, or two files with the same \
bytes, count once (with a warning).";

/// Output formats.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum FormatArg {
    /// Plain-text tables (lines within 120 columns).
    Text,
    /// Markdown headings and pipe tables.
    Md,
    /// One JSON document.
    Json,
}

/// Reads hz4 dump logs; decides Stage A, mechanism checks, A/B gates and the
/// GO/NO-GO verdict of the B77 work order.
#[derive(Debug, Parser)]
#[command(
    name = "hz-analyze",
    version,
    about,
    max_term_width = 100,
    override_usage = "hz-analyze [OPTIONS] [COMMAND] [FILES]...  (no COMMAND: report)",
    after_help = "Exit status: 0 PROCEED / GO / pass (and show, diff, bench), 1 STOP / NO-GO / fail, \
2 bad input or usage (one line on stderr), 3 UNDECIDED. `hz-analyze COMMAND --help` lists each \
command's inputs and flags."
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
    /// Print one JSON document instead of tables (same as --format json).
    #[arg(long, global = true)]
    pub json: bool,
    /// Output format.
    #[arg(long, value_enum, global = true, value_name = "FORMAT")]
    pub format: Option<FormatArg>,
    /// More diagnostics on stderr (-v info, -vv debug); RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Lane of runs under PATH that carry no [BENCH_ARGS], marker or lane
    /// file name (repeatable; NAME must be a lane).
    #[arg(long = "lane", value_name = "NAME=PATH", global = true)]
    pub lane: Vec<String>,
    /// Keep only runs whose [HZ_LANE] marker has this variant (not for
    /// gates/verdict: use --base-variant, --var-variant, ...).
    #[arg(long, value_name = "NAME", global = true)]
    pub variant: Option<String>,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Per-variant lane tables, Stage A on the Stage A build, mechanism
    /// checks on the build with adaptive counters (the default).
    #[command(after_help = concat!(
        "Exit status: from Stage A: 0 PROCEED, 1 STOP, 2 bad input or usage, 3 UNDECIDED.\n\n",
        "Inputs: log files, directories (*.log, *.log.gz, *.log.zst, recursively) or -."
    ))]
    Report(ReportArgs),
    /// Stage A proceed/stop decision only.
    #[command(after_help = concat!(
        "Exit status: 0 PROCEED, 1 STOP, 2 bad input or usage, 3 UNDECIDED.\n\n",
        "Inputs: log files, directories (*.log, *.log.gz, *.log.zst, recursively) or -."
    ))]
    StageA(StageAArgs),
    /// Mechanism GO checks only.
    #[command(after_help = concat!(
        "Exit status: 0 all checks pass, 1 a check fails, 2 bad input or usage, 3 undecided.\n\n",
        "Inputs: log files, directories (*.log, *.log.gz, *.log.zst, recursively) or -."
    ))]
    Mechanism(MechArgs),
    /// A/B throughput gates and stability.
    #[command(after_help = concat!(
        "Exit status: 0 pass, 1 fail, 2 bad input, usage or sides that cannot be compared, 3 undecided.\n\n",
        "Inputs of each side: log files, directories (*.log, *.log.gz, *.log.zst) or -. Per lane all ",
        "sides must have the same [BENCH_ARGS]; no file may be on both sides; a stats build on a ",
        "timing side needs --allow-stats-timing."
    ))]
    Gates(GatesArgs),
    /// GO/NO-GO: replay gates, stability and mechanism checks.
    #[command(after_help = concat!(
        "Exit status: 0 GO, 1 NO-GO, 2 bad input, usage or sides that cannot be compared, 3 UNDECIDED.\n\n",
        "Inputs of each side: log files, directories (*.log, *.log.gz, *.log.zst) or -. One lab ",
        "directory splits into sides with --base-variant/--var-variant/--mech-variant."
    ))]
    Verdict(VerdictArgs),
    /// Every counter of every run.
    #[command(after_help = concat!(
        "Exit status: 0, or 2 for bad input or usage.\n\n",
        "Inputs: log files, directories (*.log, *.log.gz, *.log.zst, recursively) or -."
    ))]
    Show(FilesArg),
    /// Counter and throughput changes between two sets of runs, largest
    /// first.
    #[command(after_help = concat!(
        "Exit status: 0, or 2 for bad input or usage.\n\n",
        "Inputs: A and B are each a log file, a directory (*.log, *.log.gz, *.log.zst) or -."
    ))]
    Diff(DiffArgs),
    /// Generate a realistic log and measure the parse speed.
    #[command(after_help = "Exit status: 0, or 2 for a bad flag or an unwritable file.")]
    Bench(BenchArgs),
    /// False-pass rate and power of the median and the paired gate rules,
    /// by resampling whole rounds of recorded A/A (and planted) lab runs.
    #[command(after_help = concat!(
        "Exit status: 0, or 2 for bad input or a bad flag.\n\n",
        "Pools: lab directories whose base and var runs pair by round ([HZ_LANE] run=)."
    ))]
    Power(PowerArgs),
}

/// Input files.
#[derive(Debug, Args)]
pub struct FilesArg {
    /// Log files, directories (every *.log, *.log.gz, *.log.zst inside) or -
    /// for stdin.
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

/// Screen gate thresholds (percent); unset flags take the work order's.
#[derive(Debug, Args, Clone, Default)]
pub struct ScreenFlags {
    /// Screen gate for guard_r0, percent [default: -1].
    #[arg(long, allow_negative_numbers = true, value_name = "PCT")]
    pub screen_guard_r0: Option<f64>,
    /// Screen gate for main_r0, percent [default: 3].
    #[arg(long, allow_negative_numbers = true, value_name = "PCT")]
    pub screen_main_r0: Option<f64>,
    /// Screen gate for main_r50, percent [default: 1].
    #[arg(long, allow_negative_numbers = true, value_name = "PCT")]
    pub screen_main_r50: Option<f64>,
    /// Screen gate for cross128_r90, percent [default: 1].
    #[arg(long, allow_negative_numbers = true, value_name = "PCT")]
    pub screen_cross128_r90: Option<f64>,
    /// Runs per side the screen asks for (fewer gives a warning) [default: 7].
    #[arg(long, value_name = "N")]
    pub screen_runs: Option<u64>,
}

/// Replay gate thresholds (percent); unset flags take the work order's.
#[derive(Debug, Args, Clone, Default)]
pub struct ReplayFlags {
    /// Replay gate for guard_r0, percent [default: -1].
    #[arg(long, allow_negative_numbers = true, value_name = "PCT")]
    pub replay_guard_r0: Option<f64>,
    /// Replay gate for main_r0, percent [default: 6].
    #[arg(long, allow_negative_numbers = true, value_name = "PCT")]
    pub replay_main_r0: Option<f64>,
    /// Replay gate for main_r50, percent [default: 1].
    #[arg(long, allow_negative_numbers = true, value_name = "PCT")]
    pub replay_main_r50: Option<f64>,
    /// Replay gate for cross128_r90, percent [default: 1].
    #[arg(long, allow_negative_numbers = true, value_name = "PCT")]
    pub replay_cross128_r90: Option<f64>,
    /// Runs per side the replay asks for (fewer gives a warning) [default: 21].
    #[arg(long, value_name = "N")]
    pub replay_runs: Option<u64>,
}

/// Bootstrap, A/A runs and the way sides are chosen.
#[derive(Debug, Args, Clone)]
pub struct GateFlags {
    /// Bootstrap resamples for the 95% interval.
    #[arg(long, default_value_t = 2000, value_name = "N")]
    pub bootstrap: u32,
    /// Bootstrap seed (fixed so output is reproducible).
    #[arg(long, default_value_t = 77, value_name = "N")]
    pub seed: u64,
    /// A/A runs (one build run twice) for the per-lane noise floor.
    #[arg(long, num_args = 1.., value_name = "FILES")]
    pub aa: Vec<String>,
    /// Keep only --base runs of this [HZ_LANE] variant.
    #[arg(long, value_name = "NAME")]
    pub base_variant: Option<String>,
    /// Keep only --var runs of this [HZ_LANE] variant.
    #[arg(long, value_name = "NAME")]
    pub var_variant: Option<String>,
    /// Keep only --aa runs of this [HZ_LANE] variant.
    #[arg(long, value_name = "NAME")]
    pub aa_variant: Option<String>,
    /// Accept a stats build (counter lines) on a timing side.
    #[arg(long)]
    pub allow_stats_timing: bool,
    /// Rule that decides each gate: `median` (the work order's change of
    /// medians, default) or `paired` (the 95% interval of the per-round
    /// paired estimate). Both are reported.
    #[arg(long, value_enum, default_value_t = RuleArg::Median)]
    pub rule: RuleArg,
}

/// `--rule`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RuleArg {
    /// The work order's: median(var)/median(base) - 1 >= gate.
    Median,
    /// Paired per-round estimate: lower end of its 95% interval >= gate
    /// passes, upper end < gate fails, else undecided.
    Paired,
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
    /// Screen thresholds (only with --mode screen).
    #[command(flatten)]
    pub screen: ScreenFlags,
    /// Replay thresholds (only with --mode replay).
    #[command(flatten)]
    pub replay: ReplayFlags,
    /// Bootstrap and sides.
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
    /// Keep only --mech runs of this [HZ_LANE] variant.
    #[arg(long, value_name = "NAME")]
    pub mech_variant: Option<String>,
    /// Write a Markdown note to DIR/README.md.
    #[arg(long, value_name = "DIR")]
    pub archive: Option<PathBuf>,
    /// Replay thresholds (the verdict always uses the replay gates).
    #[command(flatten)]
    pub replay: ReplayFlags,
    /// Bootstrap and sides.
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
    /// Show only the N largest changes per lane.
    #[arg(long, value_name = "N")]
    pub top: Option<usize>,
    /// Show only changes of at least PCT percent (either way).
    #[arg(long, value_name = "PCT", default_value_t = 0.0)]
    pub min_change: f64,
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
    /// Overwrite the --keep file if it exists.
    #[arg(long, requires = "keep")]
    pub force: bool,
}

/// `power`.
#[derive(Debug, Args)]
pub struct PowerArgs {
    /// A/A lab directories (base and var the same build), pooled per lane.
    #[arg(long, num_args = 1.., value_name = "DIRS")]
    pub aa: Vec<String>,
    /// A measured plant: a lab directory whose var carries a planted change
    /// of nominal size PCT percent (repeatable).
    #[arg(long, value_name = "PCT=DIR", allow_hyphen_values = true)]
    pub plant: Vec<String>,
    /// A synthetic plant: the centred A/A pairs with var's ops/s multiplied
    /// by 1 + PCT/100 (repeatable).
    #[arg(long, value_name = "PCT", allow_hyphen_values = true)]
    pub shift: Vec<f64>,
    /// Rounds per simulated experiment, comma separated.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "7,11,21,31,41",
        value_name = "LIST"
    )]
    pub rounds: Vec<u64>,
    /// Simulated experiments per cell.
    #[arg(long, default_value_t = 1000, value_name = "N")]
    pub resamples: u32,
    /// Seed of the resampling (fixed so output is reproducible).
    #[arg(long, default_value_t = 77, value_name = "N")]
    pub seed: u64,
    /// Gate set whose thresholds are simulated.
    #[arg(long, value_enum, default_value_t = ModeArg::Replay)]
    pub mode: ModeArg,
    /// Variant name of the base runs in the pools.
    #[arg(long, default_value = "base", value_name = "NAME")]
    pub base_variant: String,
    /// Variant name of the var runs in the pools.
    #[arg(long, default_value = "var", value_name = "NAME")]
    pub var_variant: String,
}

/// Names of the subcommands.
pub const SUBCOMMANDS: [&str; 9] = [
    "report",
    "stage-a",
    "mechanism",
    "gates",
    "verdict",
    "show",
    "diff",
    "bench",
    "power",
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
