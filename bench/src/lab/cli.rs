//! Command line and the pipeline of each command: plan → manifest →
//! builds → runs → analyzer → report files.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};

use super::build::{self, BuildFailure};
use super::exec::{self, ProcessExecutor};
use super::isolate::Isolation;
use super::knobs;
use super::libs;
use super::manifest::{
    LabState, LaneEntry, Manifest, ResultInfo, Role, Settings, Variant, VariantKind, VariantRepo,
    SCHEMA,
};
use super::plan::{self, TimeoutRule};
use super::progress::{self, Progress};
use super::report::{self, EXIT_INPUT};
use super::runner::{Ended, Runner};
use super::sys;

/// Exit status after Ctrl-C / SIGTERM / `--stop-after`.
pub const EXIT_INTERRUPTED: i32 = 130;

/// Lab runner for the B77 work order: builds hz4 variants from knob
/// strings, runs the four lanes interleaved, keeps every log, and hands
/// them to the analyzer. Exit status: 0 PROCEED/GO/pass, 1 STOP/NO-GO/fail,
/// 2 bad input or build failure, 3 UNDECIDED, 130 interrupted.
#[derive(Debug, Parser)]
#[command(name = "hz-lab", version, max_term_width = 100)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Cmd,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Stage A: build the stats variant, run the lanes, print the analyzer's
    /// Stage A table and PROCEED/STOP decision.
    StageA(StageAArgs),
    /// A/B: base and var timing builds interleaved, then a few Var+stats
    /// runs; gates, mechanism checks and verdict.
    Ab(AbArgs),
    /// The lanes under hz4 and every peer allocator found; median table,
    /// hz4/peer ratios and peak RSS.
    Peers(PeersArgs),
    /// Continue an interrupted lab directory (only the missing runs, same
    /// order), then report.
    Resume(ResumeArgs),
    /// Memory scenarios (`hz-bench mem`) under hz4 and every peer found,
    /// interleaved; Markdown table of median peak/final RSS, metric, time.
    Mem(super::mem::MemArgs),
    /// The workload suite (`hz-bench suite`) under hz4 and every peer
    /// found, interleaved; Markdown table of median ops/s, hz4 / best peer
    /// per workload and their geometric mean.
    Suite(super::suite::SuiteArgs),
    /// Which per-run figures (wall, user/system CPU time, page faults,
    /// context switches, peak RSS) move with each lane's throughput spread
    /// in a lab directory.
    Noise(NoiseArgs),
}

/// Flags every run command takes.
#[derive(Debug, Args, Clone)]
pub struct Common {
    /// Lanes to run, comma separated (default: all four).
    #[arg(long, value_name = "LIST")]
    pub lanes: Option<String>,
    /// Multiply each lane's ITERS by F (at least 1000 iterations stay).
    #[arg(long, default_value_t = 1.0, value_name = "F")]
    pub scale: f64,
    /// Lab directory (default: runs/<UTC timestamp>-<command>/ in the repo).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Replace the lanes' THREADS (16).
    #[arg(long, value_name = "N")]
    pub threads: Option<u64>,
    /// Time limit of a run: this many times the median wall time of the
    /// lane's earlier runs.
    #[arg(long, default_value_t = 10.0, value_name = "F")]
    pub timeout_factor: f64,
    /// Floor of the time limit, seconds.
    #[arg(long, default_value_t = 60.0, value_name = "SECS")]
    pub min_timeout: f64,
    /// Time limit of a lane's first run, seconds.
    #[arg(long, default_value_t = 600.0, value_name = "SECS")]
    pub first_timeout: f64,
    /// Allow timing builds whose knobs enable the stats counters.
    #[arg(long)]
    pub allow_stats_timing: bool,
    /// hz-bench binary (default: cargo build --release -p hz-bench).
    #[arg(long, value_name = "PATH")]
    pub bench: Option<PathBuf>,
    /// Root of the per-variant cargo target directories (default:
    /// <repo>/target/lab).
    #[arg(long, value_name = "DIR")]
    pub build_dir: Option<PathBuf>,
    /// Project checkout to build from (default: the one hz-lab was built in).
    #[arg(long, value_name = "DIR")]
    pub repo: Option<PathBuf>,
    /// Environment variable for every bench run (repeatable).
    #[arg(long, value_name = "NAME=VALUE")]
    pub bench_env: Vec<String>,
    /// Nice value of every bench process (-20..=19; below 0 needs root).
    #[arg(long, value_name = "N", allow_hyphen_values = true)]
    pub nice: Option<i32>,
    /// Scheduling policy of every bench process: other, batch, rr or fifo
    /// (rr and fifo at priority 1 need root or CAP_SYS_NICE).
    #[arg(long, value_name = "POLICY")]
    pub sched: Option<String>,
    /// CPUs every bench process may run on, e.g. `0,1` or `0-3`.
    #[arg(long, value_name = "LIST")]
    pub cpus: Option<String>,
    /// Pause before each run, milliseconds.
    #[arg(long, default_value_t = 0, value_name = "MS")]
    pub settle_ms: u64,
    /// Discarded warm-up runs of each lane and variant before the first
    /// recorded run of an invocation.
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub warmup: u32,
    /// Simulate an interrupt after N runs (tests).
    #[arg(long, value_name = "N", hide = true)]
    pub stop_after: Option<usize>,
}

/// `stage-a`.
#[derive(Debug, Args)]
pub struct StageAArgs {
    /// Rounds (runs per lane).
    #[arg(long, default_value_t = 7, value_name = "N")]
    pub runs: u32,
    /// Knob string of the stats build (default: the work order's Stage A
    /// BASE_DEFS).
    #[arg(long, value_name = "DEFS", allow_hyphen_values = true)]
    pub defs: Option<String>,
    /// Common flags.
    #[command(flatten)]
    pub common: Common,
}

/// Gate mode.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum ModeArg {
    /// RUNS=7 screening gates.
    Screen,
    /// RUNS=21 replay gates (needed for GO).
    Replay,
}

/// `ab`.
#[derive(Debug, Args)]
pub struct AbArgs {
    /// Knob string of the base build.
    #[arg(long, value_name = "DEFS", allow_hyphen_values = true)]
    pub base_defs: String,
    /// Knob string of the var build.
    #[arg(long, value_name = "DEFS", allow_hyphen_values = true)]
    pub var_defs: String,
    /// Gate set.
    #[arg(long, value_enum, default_value_t = ModeArg::Screen)]
    pub mode: ModeArg,
    /// Rounds of base/var runs (default 7 screen, 21 replay).
    #[arg(long, value_name = "N")]
    pub runs: Option<u32>,
    /// Rounds of Var+stats runs for the mechanism checks (0: none).
    #[arg(long, default_value_t = 3, value_name = "N")]
    pub stats_runs: u32,
    /// Environment variable for the base runs only (repeatable).
    #[arg(long, value_name = "NAME=VALUE")]
    pub base_env: Vec<String>,
    /// Environment variable for the var timing runs only (repeatable), e.g.
    /// HZ_BENCH_ABORT_AFTER_MS=0 to simulate a crashing variant.
    #[arg(long, value_name = "NAME=VALUE")]
    pub var_env: Vec<String>,
    /// Build the base from this checkout instead of --repo (e.g. a git
    /// worktree of the commit before a change, to A/B old code against new).
    #[arg(long, value_name = "DIR")]
    pub base_repo: Option<PathBuf>,
    /// Build var and var_stats from this checkout instead of --repo.
    #[arg(long, value_name = "DIR")]
    pub var_repo: Option<PathBuf>,
    /// Also write the Markdown note (gates, mechanism, verdict) to
    /// DIR/README.md, as `hz-analyze verdict --archive DIR` does.
    #[arg(long, value_name = "DIR")]
    pub archive: Option<PathBuf>,
    /// After the fixed rounds, keep running rounds of the lanes whose
    /// paired gate interval still holds the gate, with group-sequential
    /// (O'Brien-Fleming spending) bounds, until each is decided or the
    /// budget ends. The fixed-round verdict stays the lab's decision.
    #[arg(long, requires = "max_minutes")]
    pub until_decided: bool,
    /// Budget of --until-decided: minutes of run time (every run's wall
    /// time, the fixed rounds included).
    #[arg(long, value_name = "M", requires = "until_decided")]
    pub max_minutes: Option<f64>,
    /// Common flags.
    #[command(flatten)]
    pub common: Common,
}

/// `peers`.
#[derive(Debug, Args)]
pub struct PeersArgs {
    /// Extra allocator library (repeatable).
    #[arg(long, value_name = "NAME=PATH")]
    pub lib: Vec<String>,
    /// Knob string of the hz4 timing build (default: default knobs).
    #[arg(
        long,
        value_name = "DEFS",
        allow_hyphen_values = true,
        default_value = ""
    )]
    pub defs: String,
    /// Rounds (runs per lane and allocator).
    #[arg(long, default_value_t = 5, value_name = "N")]
    pub runs: u32,
    /// Common flags.
    #[command(flatten)]
    pub common: Common,
}

/// `resume`.
#[derive(Debug, Args)]
pub struct ResumeArgs {
    /// Lab directory holding manifest.json.
    pub dir: PathBuf,
    /// hz-bench binary (default: the one in the manifest, else build it).
    #[arg(long, value_name = "PATH")]
    pub bench: Option<PathBuf>,
    /// Simulate an interrupt after N runs (tests).
    #[arg(long, value_name = "N", hide = true)]
    pub stop_after: Option<usize>,
}

/// `noise`.
#[derive(Debug, Args)]
pub struct NoiseArgs {
    /// Lab directory holding manifest.json.
    pub dir: PathBuf,
}

/// An error that ends the lab with a specific exit status.
#[derive(Debug)]
pub struct Exit {
    /// Exit status.
    pub code: i32,
    /// One-line message (may continue on indented lines).
    pub msg: String,
}

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.msg)
    }
}

impl std::error::Error for Exit {}

fn usage(msg: impl Into<String>) -> anyhow::Error {
    Exit {
        code: EXIT_INPUT,
        msg: msg.into(),
    }
    .into()
}

/// `NAME=VALUE` pairs of a repeatable flag.
fn pairs(flag: &str, items: &[String]) -> Result<Vec<(String, String)>> {
    items
        .iter()
        .map(|s| match s.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
            _ => Err(usage(format!("{flag}: `{s}` is not NAME=VALUE"))),
        })
        .collect()
}

/// The checkout hz-lab was built from.
fn default_repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

fn fresh_dir(repo: &Path, out: Option<&Path>, command: &str) -> Result<PathBuf> {
    let dir = match out {
        Some(d) => d.to_path_buf(),
        None => {
            let base = repo.join("runs").join(format!(
                "{}-{command}",
                sys::compact_utc(std::time::SystemTime::now())
            ));
            let mut d = base.clone();
            let mut n = 2;
            while d.exists() {
                d = PathBuf::from(format!("{}-{n}", base.display()));
                n += 1;
            }
            d
        }
    };
    if Manifest::path(&dir).exists() {
        return Err(usage(format!(
            "{} already holds a lab run (manifest.json); use `hz-lab resume {}` or another --out",
            dir.display(),
            dir.display()
        )));
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(std::fs::canonicalize(&dir)?)
}

/// A checkout given for one side of an A/B: it must hold the allocator crate.
fn variant_repo(dir: &Path) -> Result<VariantRepo> {
    if !dir.join("allocator").join("Cargo.toml").is_file() {
        return Err(usage(format!(
            "--base-repo/--var-repo {}: not an hz4 checkout (no allocator/Cargo.toml)",
            dir.display()
        )));
    }
    let path = std::fs::canonicalize(dir)?;
    Ok(VariantRepo {
        git: sys::git_info(&path),
        path: path.display().to_string(),
    })
}

fn hz4(name: &str, role: Role, defs: &str, env: Vec<(String, String)>) -> Variant {
    Variant {
        name: name.into(),
        kind: VariantKind::Hz4,
        role,
        defs: Some(knobs::normalize(defs)),
        lib: None,
        build_dir: None,
        build_log: None,
        build_line: None,
        env,
        repo: None,
    }
}

/// Refuses a timing variant whose knobs turn the stats counters on.
fn check_stats_timing(variants: &[Variant], allow: bool) -> Result<()> {
    if allow {
        return Ok(());
    }
    for v in variants.iter().filter(|v| v.role != Role::Stats) {
        if let Some(tok) = v.defs.as_deref().and_then(knobs::stats_knob) {
            return Err(usage(format!(
                "refusing timing variant `{}`: its knobs enable stats counters ({tok}), which distort timing; drop the knob or pass --allow-stats-timing",
                v.name
            )));
        }
    }
    Ok(())
}

fn valid_name(n: &str) -> bool {
    !n.is_empty()
        && n.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.+-".contains(&b))
}

struct NewLab {
    command: &'static str,
    common: Common,
    runs: u32,
    sequential: Option<super::sequential::SeqPlan>,
    stats_runs: u32,
    mode: Option<String>,
    archive: Option<PathBuf>,
    variants: Vec<Variant>,
    /// (variant names, rounds) phases, run in this order.
    phases: Vec<(Vec<String>, u32)>,
    notes: Vec<String>,
}

fn new_manifest(lab: NewLab, repo: &Path) -> Result<Manifest> {
    let c = &lab.common;
    if !(c.scale.is_finite() && c.scale > 0.0) {
        return Err(usage(format!(
            "--scale {}: must be a positive number",
            c.scale
        )));
    }
    if c.threads == Some(0) {
        return Err(usage("--threads 0: must be at least 1"));
    }
    if !(c.timeout_factor > 0.0 && c.min_timeout > 0.0 && c.first_timeout > 0.0) {
        return Err(usage(
            "--timeout-factor, --min-timeout and --first-timeout must be positive",
        ));
    }
    let lanes = plan::select_lanes(c.lanes.as_deref()).map_err(|e| usage(e.to_string()))?;
    let lane_names: Vec<String> = lanes.iter().map(|l| l.name.to_owned()).collect();
    let mut planned = Vec::new();
    for (vars, rounds) in &lab.phases {
        planned.extend(plan::interleave(&lane_names, vars, *rounds, 1));
    }
    let now = sys::now_iso();
    let build_root = c
        .build_dir
        .clone()
        .unwrap_or_else(|| repo.join("target").join("lab"));
    Ok(Manifest {
        schema: SCHEMA,
        tool: "hz-lab".into(),
        command: lab.command.into(),
        argv: std::env::args().collect(),
        state: LabState::Running,
        created_utc: now.clone(),
        updated_utc: now,
        repo: repo.display().to_string(),
        git: sys::git_info(repo),
        machine: sys::machine(),
        settings: Settings {
            scale: c.scale,
            threads: c.threads,
            runs: lab.runs,
            stats_runs: lab.stats_runs,
            mode: lab.mode,
            timeout: TimeoutRule {
                factor: c.timeout_factor,
                min_s: c.min_timeout,
                first_s: c.first_timeout,
            },
            allow_stats_timing: c.allow_stats_timing,
            bench_env: pairs("--bench-env", &c.bench_env)?,
            build_root: build_root.display().to_string(),
            archive: lab
                .archive
                .map(|a| std::path::absolute(&a).unwrap_or(a).display().to_string()),
            sequential: lab.sequential,
            isolation: Isolation::new(
                c.nice,
                c.sched.as_deref(),
                c.cpus.as_deref(),
                c.settle_ms,
                c.warmup,
            )
            .map_err(|e| usage(e.to_string()))?,
        },
        lanes: lanes
            .iter()
            .map(|l| LaneEntry {
                name: l.name.into(),
                args: plan::scaled_args(l, c.scale, c.threads),
            })
            .collect(),
        variants: lab.variants,
        bench: None,
        planned,
        runs: Vec::new(),
        notes: lab.notes,
        result: None,
    })
}

/// Builds what the manifest's variants need (hz-bench, each hz4 knob
/// string), keeping a copy of each library in `DIR/libs/`.
fn prepare(
    dir: &Path,
    m: &mut Manifest,
    bench: Option<&Path>,
    p: &mut dyn Progress,
) -> Result<PathBuf> {
    let repo = PathBuf::from(&m.repo);
    let bench_path = match (bench, m.bench.as_deref().map(Path::new)) {
        (Some(b), _) => build::ensure_bench(&repo, Some(b), &dir.join("build-hz-bench.out"))?,
        (None, Some(b)) if b.is_file() => b.to_path_buf(),
        _ => {
            p.note("building hz-bench (cargo build --release -p hz-bench)");
            build::ensure_bench(&repo, None, &dir.join("build-hz-bench.out"))?
        }
    };
    m.bench = Some(bench_path.display().to_string());
    let build_root = PathBuf::from(&m.settings.build_root);
    std::fs::create_dir_all(dir.join("libs"))?;
    for i in 0..m.variants.len() {
        let v = m.variants[i].clone();
        match v.kind {
            VariantKind::Hz4 => {
                if v.lib.as_deref().is_some_and(|l| Path::new(l).is_file())
                    && v.build_line.is_some()
                {
                    continue;
                }
                let defs = v.defs.clone().unwrap_or_default();
                let log_rel = format!("build-{}.out", v.name);
                p.note(&format!(
                    "building variant {} (HZ4_DEFS_EXTRA='{defs}')",
                    v.name
                ));
                let src = v.repo.as_ref().map(|r| PathBuf::from(&r.path));
                let built = match build::build_hz4(
                    src.as_deref().unwrap_or(&repo),
                    src.is_some(),
                    &build_root,
                    &v.name,
                    &defs,
                    &dir.join(&log_rel),
                ) {
                    Ok(lib) => lib,
                    Err(_) if exec::stop_requested() => {
                        // Ctrl-C reached cargo too (same process group).
                        m.state = LabState::Interrupted;
                        m.notes.push(format!(
                            "{}: interrupted while building variant {}",
                            sys::now_iso(),
                            v.name
                        ));
                        m.save(dir)?;
                        return Err(Exit {
                                code: EXIT_INTERRUPTED,
                                msg: format!(
                                    "interrupted while building variant {}; continue with: hz-lab resume {}",
                                    v.name,
                                    dir.display()
                                ),
                            }
                            .into());
                    }
                    Err(e) => {
                        m.state = LabState::BuildFailed;
                        m.notes.push(format!("{}: {e}", sys::now_iso()));
                        m.save(dir)?;
                        return Err(match e.downcast::<BuildFailure>() {
                            Ok(f) => Exit {
                                code: EXIT_INPUT,
                                msg: f.to_string(),
                            }
                            .into(),
                            Err(e) => e,
                        });
                    }
                };
                let copy = dir.join("libs").join(format!("libhz4-{}.so", v.name));
                std::fs::copy(&built, &copy).with_context(|| {
                    format!("copying {} to {}", built.display(), copy.display())
                })?;
                let line = build::probe_build_line(&bench_path, &copy)?;
                let mv = &mut m.variants[i];
                mv.lib = Some(copy.display().to_string());
                mv.build_dir = built
                    .parent()
                    .and_then(Path::parent)
                    .map(|d| d.display().to_string());
                mv.build_log = Some(log_rel);
                mv.build_line = line;
            }
            VariantKind::Preload => {
                let lib = v.lib.clone().unwrap_or_default();
                if !Path::new(&lib).exists() {
                    return Err(usage(format!(
                        "variant `{}`: library {lib} does not exist",
                        v.name
                    )));
                }
            }
            VariantKind::System => {}
        }
        m.save(dir)?;
    }
    Ok(bench_path)
}

/// Runs what is missing, then writes the reports. Returns the exit status.
fn drive(
    dir: &Path,
    m: &mut Manifest,
    bench: Option<&Path>,
    stop_after: Option<usize>,
) -> Result<i32> {
    let mut progress = progress::for_stderr();
    let bench_path = prepare(dir, m, bench, progress.as_mut())?;
    let ended = {
        let stop = exec::stop_requested;
        let mut runner = Runner {
            dir,
            bench: &bench_path,
            exec: &mut ProcessExecutor,
            progress: progress.as_mut(),
            stop: &stop,
            stop_after,
        };
        match runner.execute(m)? {
            Ended::Complete if m.settings.sequential.is_some() => {
                super::sequential::run(dir, m, &mut runner)?
            }
            e => e,
        }
    };
    if ended == Ended::Interrupted {
        eprintln!(
            "hz-lab: interrupted; {} of {} runs done, manifest written. Continue with: hz-lab resume {}",
            m.runs.len(),
            m.planned.len(),
            dir.display()
        );
        return Ok(EXIT_INTERRUPTED);
    }
    finish(dir, m)
}

/// Writes report.txt, report.json and lanes.svg, marks the manifest
/// complete and prints the text report.
fn finish(dir: &Path, m: &mut Manifest) -> Result<i32> {
    let a = match report::analyze(dir, m) {
        Ok(a) => a,
        Err(e) => {
            return Err(Exit {
                code: EXIT_INPUT,
                msg: format!("the analyzer rejected the logs in {}: {e:#}", dir.display()),
            }
            .into())
        }
    };
    std::fs::write(dir.join("report.txt"), &a.text)?;
    std::fs::write(dir.join("report.json"), &a.json)?;
    std::fs::write(dir.join("lanes.svg"), &a.svg)?;
    let mut files = vec![
        "report.txt".into(),
        "report.json".into(),
        "lanes.svg".into(),
    ];
    if let Some(md) = &a.markdown {
        std::fs::write(dir.join("report.md"), md)?;
        files.push("report.md".into());
        if let Some(arch) = &m.settings.archive {
            std::fs::create_dir_all(arch).with_context(|| format!("--archive {arch}"))?;
            let note = Path::new(arch).join("README.md");
            std::fs::write(&note, md).with_context(|| format!("writing {}", note.display()))?;
            eprintln!("hz-lab: archive note written to {}", note.display());
        }
    }
    m.result = Some(ResultInfo {
        exit_code: a.code,
        decision: a.decision.clone(),
        files,
    });
    m.state = LabState::Complete;
    m.save(dir)?;
    print!("{}", a.text);
    eprintln!(
        "hz-lab: {} (exit {}); reports in {}",
        a.decision,
        a.code,
        dir.display()
    );
    Ok(a.code)
}

fn start(lab: NewLab) -> Result<i32> {
    let repo = lab.common.repo.clone().unwrap_or_else(default_repo);
    let repo =
        std::fs::canonicalize(&repo).with_context(|| format!("--repo {}", repo.display()))?;
    check_stats_timing(&lab.variants, lab.common.allow_stats_timing)?;
    let (bench, stop_after, out) = (
        lab.common.bench.clone(),
        lab.common.stop_after,
        lab.common.out.clone(),
    );
    let command = lab.command;
    let mut m = new_manifest(lab, &repo)?;
    let dir = fresh_dir(&repo, out.as_deref(), command)?;
    m.save(&dir)?;
    eprintln!(
        "hz-lab: {command}: {} runs planned; lab directory {}",
        m.planned.len(),
        dir.display()
    );
    drive(&dir, &mut m, bench.as_deref(), stop_after)
}

fn stage_a_cmd(a: StageAArgs) -> Result<i32> {
    if a.runs == 0 {
        return Err(usage("--runs 0: at least one run is needed"));
    }
    let defs = a.defs.unwrap_or_else(|| knobs::STAGE_A_DEFS.to_owned());
    let mut notes = Vec::new();
    if knobs::stats_knob(&defs).is_none() {
        notes.push("the Stage A knob string does not enable HZ4_MID_STATS_B1: there will be no counters to decide on".into());
    }
    start(NewLab {
        command: "stage-a",
        runs: a.runs,
        sequential: None,
        stats_runs: 0,
        mode: None,
        archive: None,
        variants: vec![hz4("stats", Role::Stats, &defs, Vec::new())],
        phases: vec![(vec!["stats".into()], a.runs)],
        notes,
        common: a.common,
    })
}

fn ab_cmd(a: AbArgs) -> Result<i32> {
    let runs = a.runs.unwrap_or(match a.mode {
        ModeArg::Screen => 7,
        ModeArg::Replay => 21,
    });
    if runs == 0 {
        return Err(usage("--runs 0: at least one run per side is needed"));
    }
    let mut variants = vec![
        hz4(
            "base",
            Role::Timing,
            &a.base_defs,
            pairs("--base-env", &a.base_env)?,
        ),
        hz4(
            "var",
            Role::Timing,
            &a.var_defs,
            pairs("--var-env", &a.var_env)?,
        ),
    ];
    let mut phases = vec![(vec!["base".to_owned(), "var".to_owned()], runs)];
    let sequential = match a.max_minutes {
        Some(mm) if !(mm.is_finite() && mm > 0.0) => {
            return Err(usage(format!(
                "--max-minutes {mm}: must be a positive number"
            )))
        }
        Some(mm) if a.until_decided => Some(super::sequential::SeqPlan::new(mm, runs)),
        _ => None,
    };
    if a.stats_runs > 0 {
        variants.push(hz4(
            "var_stats",
            Role::Stats,
            &knobs::with_stats(&a.var_defs),
            Vec::new(),
        ));
        phases.push((vec!["var_stats".to_owned()], a.stats_runs));
    }
    let base_repo = a.base_repo.as_deref().map(variant_repo).transpose()?;
    let var_repo = a.var_repo.as_deref().map(variant_repo).transpose()?;
    for v in &mut variants {
        v.repo = if v.name == "base" {
            base_repo.clone()
        } else {
            var_repo.clone()
        };
    }
    start(NewLab {
        command: "ab",
        runs,
        sequential,
        stats_runs: a.stats_runs,
        mode: Some(
            match a.mode {
                ModeArg::Screen => "screen",
                ModeArg::Replay => "replay",
            }
            .into(),
        ),
        archive: a.archive,
        variants,
        phases,
        notes: Vec::new(),
        common: a.common,
    })
}

fn peers_cmd(a: PeersArgs) -> Result<i32> {
    if a.runs == 0 {
        return Err(usage("--runs 0: at least one run is needed"));
    }
    let mut variants = vec![hz4("hz4", Role::Peer, &a.defs, Vec::new())];
    let mut notes = Vec::new();
    variants.push(Variant {
        name: "glibc".into(),
        kind: VariantKind::System,
        role: Role::Peer,
        defs: None,
        lib: None,
        build_dir: None,
        build_log: None,
        build_line: None,
        env: Vec::new(),
        repo: None,
    });
    let preload = |name: &str, lib: &Path| Variant {
        name: name.into(),
        kind: VariantKind::Preload,
        role: Role::Peer,
        defs: None,
        lib: Some(lib.display().to_string()),
        build_dir: None,
        build_log: None,
        build_line: None,
        env: Vec::new(),
        repo: None,
    };
    for &(name, file, pkg) in super::preload::PEERS {
        match libs::find_lib(file) {
            Some(p) => variants.push(preload(name, &p)),
            None => notes.push(format!(
                "{name} skipped: {file} not found (Debian package {pkg})"
            )),
        }
    }
    for (name, path) in pairs("--lib", &a.lib)? {
        if !valid_name(&name) {
            return Err(usage(format!(
                "--lib {name}=…: names may hold letters, digits and _ . + - only"
            )));
        }
        let p = PathBuf::from(&path);
        if !p.exists() {
            return Err(usage(format!("--lib {name}={path}: no such file")));
        }
        let p = std::fs::canonicalize(p)?;
        if let Some(v) = variants.iter_mut().find(|v| v.name == name) {
            if v.kind == VariantKind::Hz4 {
                return Err(usage("--lib hz4=…: hz4 is built by the lab (use --defs)"));
            }
            *v = preload(&name, &p);
        } else {
            variants.push(preload(&name, &p));
        }
    }
    for n in &notes {
        eprintln!("hz-lab: {n}");
    }
    let names: Vec<String> = variants.iter().map(|v| v.name.clone()).collect();
    start(NewLab {
        command: "peers",
        runs: a.runs,
        sequential: None,
        stats_runs: 0,
        mode: None,
        archive: None,
        variants,
        phases: vec![(names, a.runs)],
        notes,
        common: a.common,
    })
}

fn resume_cmd(a: ResumeArgs) -> Result<i32> {
    let dir = std::fs::canonicalize(&a.dir)
        .with_context(|| format!("lab directory {}", a.dir.display()))?;
    let mut m = Manifest::load(&dir).map_err(|e| usage(format!("{e:#}")))?;
    let pending = m.pending().len();
    let head = sys::git_info(Path::new(&m.repo));
    m.notes.push(format!(
        "{}: resumed with {pending} of {} runs to go",
        sys::now_iso(),
        m.planned.len()
    ));
    if head.revision != m.git.revision {
        m.notes.push(format!(
            "{}: resumed at git {} (the lab started at {})",
            sys::now_iso(),
            head.revision,
            m.git.revision
        ));
    }
    eprintln!(
        "hz-lab: resuming {} ({}): {pending} of {} runs to go",
        dir.display(),
        m.command,
        m.planned.len()
    );
    drive(&dir, &mut m, a.bench.as_deref(), a.stop_after)
}

/// Parses the command line, runs the command, returns the exit status.
pub fn main() -> i32 {
    let cli = Cli::parse();
    exec::install_stop_handler();
    let result = match cli.command {
        Cmd::StageA(a) => stage_a_cmd(a),
        Cmd::Ab(a) => ab_cmd(a),
        Cmd::Peers(a) => peers_cmd(a),
        Cmd::Resume(a) => resume_cmd(a),
        Cmd::Mem(a) => super::mem::mem_cmd(a, &default_repo()),
        Cmd::Suite(a) => super::suite::suite_cmd(a, &default_repo()),
        Cmd::Noise(a) => Manifest::load(&a.dir)
            .map_err(|e| usage(format!("{e:#}")))
            .map(|m| {
                print!("{}", super::noise::render(&m));
                0
            }),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            let code = e.downcast_ref::<Exit>().map_or(EXIT_INPUT, |x| x.code);
            eprintln!("hz-lab: error: {e:#}");
            code
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn clap_definition_is_valid() {
        Cli::command().debug_assert();
    }

    #[test]
    fn stats_timing_is_refused_by_name() {
        let v = vec![
            hz4(
                "base",
                Role::Timing,
                "-DHZ4_MID_OWNER_REMOTE_QUEUE_BOX=1",
                vec![],
            ),
            hz4("var", Role::Timing, "-DHZ4_MID_STATS_B1", vec![]),
            hz4("var_stats", Role::Stats, knobs::STATS_SUFFIX, vec![]),
        ];
        let e = check_stats_timing(&v, false).unwrap_err().to_string();
        assert!(
            e.contains("`var`") && e.contains("-DHZ4_MID_STATS_B1"),
            "{e}"
        );
        assert!(check_stats_timing(&v, true).is_ok());
        assert!(check_stats_timing(&v[2..], false).is_ok());
    }

    #[test]
    fn env_pairs() {
        assert_eq!(
            pairs("--x", &["A=1".into(), "B=".into()]).unwrap(),
            [("A".into(), "1".into()), ("B".into(), String::new())]
        );
        assert!(pairs("--x", &["=1".into()]).is_err());
        assert!(valid_name("my-alloc_2.1") && !valid_name("a b") && !valid_name(""));
    }
}
