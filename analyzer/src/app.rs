//! The binary's pipeline: options → streaming summaries → rules → report.
//! `main.rs` only parses the command line and maps the outcome to an exit
//! status.

use thiserror::Error;

use crate::cli::{Cli, Command, FormatArg, ModeArg};
use crate::error::{InputError, SidesError, UsageError};
use crate::gates::{gates_summary, mechanism_summary, stage_a_summary, verdict};
use crate::model::*;
use crate::parse::LoadOptions;
use crate::report::{render_json, render_markdown, render_text};
use crate::sides::{self, Side};
use crate::{options, summarize_inputs};

/// Exit status for PROCEED / GO / pass.
pub const EXIT_OK: u8 = 0;
/// Exit status for STOP / NO-GO / fail.
pub const EXIT_FAIL: u8 = 1;
/// Exit status for bad input or usage.
pub const EXIT_INPUT: u8 = 2;
/// Exit status for UNDECIDED.
pub const EXIT_UNDECIDED: u8 = 3;

/// Anything that stops a command. Exit status 2.
#[derive(Debug, Error)]
pub enum AppError {
    /// A bad input log.
    #[error(transparent)]
    Input(#[from] InputError),
    /// A bad flag.
    #[error(transparent)]
    Usage(#[from] UsageError),
    /// Sides that cannot be compared.
    #[error(transparent)]
    Sides(#[from] SidesError),
}

fn usage(flag: &'static str, problem: &str) -> AppError {
    AppError::Usage(UsageError::BadValue {
        flag,
        problem: problem.to_owned(),
    })
}

/// Stage A build: stats runs and no adaptive counter.
fn is_stage_a_build(s: &Summary) -> bool {
    s.lanes.values().any(|l| l.stats_runs > 0) && !has_adaptive(s)
}

fn has_adaptive(s: &Summary) -> bool {
    s.lanes.values().any(|l| {
        crate::keys::ADAPTIVE
            .iter()
            .any(|k| l.counters.contains_key(*k))
    })
}

fn variant_name(s: &Summary) -> String {
    s.variant.clone().unwrap_or_else(|| "(no marker)".into())
}

/// What a command printed and its exit status.
#[derive(Debug)]
pub struct Outcome {
    /// Rendered document (tables or JSON).
    pub output: String,
    /// Exit status (0, 1 or 3).
    pub code: u8,
}

fn status_code(s: Status) -> u8 {
    match s {
        Status::Pass => EXIT_OK,
        Status::Fail => EXIT_FAIL,
        Status::Undecided => EXIT_UNDECIDED,
    }
}

/// Runs one parsed command line.
pub fn run(cli: Cli) -> Result<Outcome, AppError> {
    let load = options::load_options(&cli.lane, cli.variant.clone())?;
    let format = match (cli.json, cli.format) {
        (true, Some(f)) if f != FormatArg::Json => {
            return Err(usage("--json", "conflicts with --format; give one of them"))
        }
        (true, _) => FormatArg::Json,
        (false, f) => f.unwrap_or(FormatArg::Text),
    };
    let mut doc = Document {
        tool: "hz-analyze".into(),
        ..Document::default()
    };
    let summarize = |files: &[String]| summarize_inputs(files, &load);
    let sided = |files: &[String], v: &Option<String>| {
        let o = LoadOptions {
            variant: v.clone(),
            ..load.clone()
        };
        summarize_inputs(files, &o)
    };
    let no_variant = |cmd: &str| -> Result<(), AppError> {
        if cli.variant.is_some() {
            return Err(AppError::Usage(UsageError::BadValue {
                flag: "--variant",
                problem: format!(
                    "would filter every side of {cmd} at once; use --base-variant, --var-variant, --aa-variant{}",
                    if cmd == "verdict" { ", --mech-variant" } else { "" }
                ),
            }));
        }
        Ok(())
    };
    let code = match cli.command {
        Command::Report(a) => {
            doc.command = "report".into();
            let (so, mo) = (options::stage_a(&a.stage_a)?, options::mechanism(&a.mech)?);
            let mut sums = crate::summarize_by_variant(&a.files.files, &load)?;
            if sums.len() == 1 {
                let s = sums.pop().expect("one summary");
                let sa = stage_a_summary(&s, &so);
                let m = mechanism_summary(&s, &mo);
                if let Some(v) = &s.variant {
                    doc.uses.push(format!("every run is variant {v}"));
                }
                let code = stage_a_code(sa.decision);
                doc.inputs = s.inputs.clone();
                doc.warnings = s.warnings.clone();
                doc.mechanism = m.adaptive_present.then_some(m);
                doc.summary = Some(s);
                doc.stage_a = Some(sa);
                code
            } else {
                let names: Vec<String> = sums.iter().map(variant_name).collect();
                let stage: Vec<&Summary> = sums.iter().filter(|s| is_stage_a_build(s)).collect();
                let sa = match stage.first() {
                    Some(s) => {
                        doc.uses.push(format!(
                            "Stage A: variant {} (a stats build without adaptive counters){}",
                            variant_name(s),
                            if stage.len() > 1 {
                                format!("; {} such variants, the first is used", stage.len())
                            } else {
                                String::new()
                            }
                        ));
                        stage_a_summary(s, &so)
                    }
                    None => {
                        doc.uses.push(format!(
                            "Stage A: none of the variants ({}) is a stats build without adaptive counters",
                            names.join(", ")
                        ));
                        stage_a_summary(&Summary::default(), &so)
                    }
                };
                if let Some(s) = sums.iter().find(|s| has_adaptive(s)) {
                    doc.uses.push(format!(
                        "mechanism checks: variant {} (the build with adaptive counters)",
                        variant_name(s)
                    ));
                    doc.mechanism = Some(mechanism_summary(s, &mo));
                }
                let code = stage_a_code(sa.decision);
                for s in &sums {
                    for i in &s.inputs {
                        if !doc.inputs.contains(i) {
                            doc.inputs.push(i.clone());
                        }
                    }
                    doc.warnings.extend(s.warnings.iter().cloned());
                }
                doc.stage_a = Some(sa);
                doc.variants = sums;
                code
            }
        }
        Command::StageA(a) => {
            doc.command = "stage-a".into();
            let so = options::stage_a(&a.stage_a)?;
            let s = summarize(&a.files.files)?;
            let sa = stage_a_summary(&s, &so);
            doc.inputs = s.inputs;
            doc.warnings = s.warnings;
            let code = stage_a_code(sa.decision);
            doc.stage_a = Some(sa);
            code
        }
        Command::Mechanism(a) => {
            doc.command = "mechanism".into();
            let mo = options::mechanism(&a.mech)?;
            let s = summarize(&a.files.files)?;
            let m = mechanism_summary(&s, &mo);
            doc.inputs = s.inputs;
            doc.warnings = s.warnings;
            let code = status_code(m.status);
            doc.mechanism = Some(m);
            code
        }
        Command::Gates(a) => {
            doc.command = "gates".into();
            no_variant("gates")?;
            let go = options::gates(Some(&a.screen), &a.replay, &a.gates, a.mode)?;
            let f = &a.gates;
            let base = sided(&a.base, &f.base_variant)?;
            let var = sided(&a.var, &f.var_variant)?;
            let aa = if f.aa.is_empty() {
                None
            } else {
                Some(sided(&f.aa, &f.aa_variant)?)
            };
            check_sides(f, &base, &var, aa.as_ref())?;
            let g = gates_summary(&base, &var, aa.as_ref(), &go);
            collect_inputs(&mut doc, [Some(&base), Some(&var), aa.as_ref()]);
            let code = status_code(g.status);
            doc.gates = Some(g);
            code
        }
        Command::Verdict(a) => {
            doc.command = "verdict".into();
            no_variant("verdict")?;
            let go = options::gates(None, &a.replay, &a.gates, ModeArg::Replay)?;
            let mo = options::mechanism(&a.mech_flags)?;
            let f = &a.gates;
            let base = sided(&a.base, &f.base_variant)?;
            let var = sided(&a.var, &f.var_variant)?;
            let mech = if a.mech.is_empty() {
                if a.mech_variant.is_some() {
                    return Err(usage("--mech-variant", "needs --mech FILES"));
                }
                None
            } else {
                Some(sided(&a.mech, &a.mech_variant)?)
            };
            let aa = if f.aa.is_empty() {
                None
            } else {
                Some(sided(&f.aa, &f.aa_variant)?)
            };
            check_sides(f, &base, &var, aa.as_ref())?;
            if let Some(m) = &mech {
                if a.mech_variant.is_none() {
                    sides::check(
                        &[Side {
                            flag: "--mech",
                            summary: m,
                            filtered: false,
                            timing: false,
                        }],
                        true,
                    )?;
                }
            }
            let g = gates_summary(&base, &var, aa.as_ref(), &go);
            let m = mechanism_summary(mech.as_ref().unwrap_or(&var), &mo);
            let v = verdict(&g, &m);
            collect_inputs(
                &mut doc,
                [Some(&base), Some(&var), mech.as_ref(), aa.as_ref()],
            );
            let code = match v.decision {
                VerdictDecision::Go => EXIT_OK,
                VerdictDecision::NoGo => EXIT_FAIL,
                VerdictDecision::Undecided => EXIT_UNDECIDED,
            };
            doc.gates = Some(g);
            doc.mechanism = Some(m);
            doc.verdict = Some(v);
            if let Some(dir) = &a.archive {
                write_archive(dir, &doc)?;
            }
            code
        }
        Command::Show(a) => {
            doc.command = "show".into();
            let (runs, warnings) = crate::parse::load_runs_warned(&a.files, &load)?;
            doc.warnings = warnings;
            let mut inputs: Vec<String> = Vec::new();
            for r in &runs {
                if !inputs.contains(&r.location.file) {
                    inputs.push(r.location.file.clone());
                }
            }
            doc.inputs = inputs;
            doc.runs = Some(runs);
            EXIT_OK
        }
        Command::Diff(a) => {
            doc.command = "diff".into();
            if !(a.min_change.is_finite() && a.min_change >= 0.0) {
                return Err(usage(
                    "--min-change",
                    "must be a non-negative number of percent",
                ));
            }
            if a.top == Some(0) {
                return Err(usage("--top", "must be at least 1"));
            }
            let x = summarize(std::slice::from_ref(&a.a))?;
            let y = summarize(std::slice::from_ref(&a.b))?;
            collect_inputs(&mut doc, [Some(&x), Some(&y)]);
            let mut d = crate::summary::diff(&x, &y);
            d.top = a.top;
            d.min_change_pct = a.min_change;
            doc.diff = Some(d);
            EXIT_OK
        }
        Command::Bench(a) => {
            doc.command = "bench".into();
            if !cli.lane.is_empty() {
                return Err(usage("--lane", "does nothing in bench"));
            }
            if cli.variant.is_some() {
                return Err(usage("--variant", "does nothing in bench"));
            }
            if a.size_mib == 0 {
                return Err(usage("--size-mib", "must be at least 1"));
            }
            if let Some(k) = &a.keep {
                if k.exists() && !a.force {
                    return Err(AppError::Usage(UsageError::BadValue {
                        flag: "--keep",
                        problem: format!("{} exists; pass --force to overwrite it", k.display()),
                    }));
                }
            }
            doc.bench = Some(crate::bench::run_bench(a.size_mib, a.keep.as_deref())?);
            EXIT_OK
        }
        Command::Power(a) => {
            doc.command = "power".into();
            doc.power = Some(power_cmd(&a, &load, &mut doc)?);
            EXIT_OK
        }
    };
    let output = match format {
        FormatArg::Json => render_json(&doc),
        FormatArg::Md => render_markdown(&doc),
        FormatArg::Text => render_text(&doc),
    };
    Ok(Outcome { output, code })
}

/// `power`: loads the pools and simulates.
fn power_cmd(
    a: &crate::cli::PowerArgs,
    load: &LoadOptions,
    doc: &mut Document,
) -> Result<crate::power::PowerReport, AppError> {
    if a.aa.is_empty() && a.plant.is_empty() {
        return Err(usage(
            "--aa",
            "give at least one A/A lab directory (or --plant PCT=DIR)",
        ));
    }
    if a.resamples == 0 {
        return Err(usage("--resamples", "must be at least 1"));
    }
    if a.rounds.is_empty() || a.rounds.contains(&0) {
        return Err(usage("--rounds", "every round count must be at least 1"));
    }
    if a.shift.iter().any(|s| !s.is_finite() || *s <= -100.0) {
        return Err(usage("--shift", "must be a finite percentage above -100"));
    }
    if !a.shift.is_empty() && a.aa.is_empty() {
        return Err(usage(
            "--shift",
            "plants into the A/A pairs; give --aa DIRS",
        ));
    }
    let mode = match a.mode {
        ModeArg::Screen => Mode::Screen,
        ModeArg::Replay => Mode::Replay,
    };
    let o = GateOptions {
        mode,
        ..GateOptions::default()
    };
    let rules = o.active_rules().to_vec();
    let mut notes = Vec::new();
    let side = |dir: &str, v: &str| {
        summarize_inputs(
            &[dir.to_owned()],
            &LoadOptions {
                variant: Some(v.to_owned()),
                ..load.clone()
            },
        )
    };
    let mut pool_dir = |dir: &str,
                        notes: &mut Vec<String>|
     -> Result<Vec<(String, crate::power::Pairs)>, AppError> {
        let (b, v) = (side(dir, &a.base_variant)?, side(dir, &a.var_variant)?);
        for s in [&b, &v] {
            doc.inputs.extend(s.inputs.iter().cloned());
            doc.warnings.extend(s.warnings.iter().cloned());
            if s.unstable_runs() > 0 {
                notes.push(format!(
                    "{dir}: {} unstable run(s) (not paired)",
                    s.unstable_runs()
                ));
            }
        }
        Ok(crate::power::pool_pairs(&b, &v, &rules, dir, notes))
    };
    let mut aa: Vec<(String, crate::power::Pairs)> = Vec::new();
    for dir in &a.aa {
        for (lane, p) in pool_dir(dir, &mut notes)? {
            match aa.iter_mut().find(|(l, _)| *l == lane) {
                Some((_, q)) => q.extend(p),
                None => aa.push((lane, p)),
            }
        }
    }
    let mut measured = Vec::new();
    for p in &a.plant {
        let Some((pct, dir)) = p.split_once('=') else {
            return Err(usage(
                "--plant",
                "expects PCT=DIR, e.g. --plant -2=runs/plant2",
            ));
        };
        let pct: f64 = pct
            .trim()
            .parse()
            .ok()
            .filter(|x: &f64| x.is_finite())
            .ok_or_else(|| usage("--plant", &format!("`{pct}` is not a percentage")))?;
        measured.push((pct, pool_dir(dir, &mut notes)?));
    }
    Ok(crate::power::power(
        &rules,
        &aa,
        &measured,
        &a.shift,
        &a.rounds,
        a.resamples,
        a.seed,
        &mode.to_string(),
        notes,
    ))
}

/// The comparability checks of `gates` / `verdict` (see [`sides::check`]).
fn check_sides(
    f: &crate::cli::GateFlags,
    base: &Summary,
    var: &Summary,
    aa: Option<&Summary>,
) -> Result<(), SidesError> {
    let mut v = vec![
        Side {
            flag: "--base",
            summary: base,
            filtered: f.base_variant.is_some(),
            timing: true,
        },
        Side {
            flag: "--var",
            summary: var,
            filtered: f.var_variant.is_some(),
            timing: true,
        },
    ];
    if let Some(a) = aa {
        v.push(Side {
            flag: "--aa",
            summary: a,
            filtered: f.aa_variant.is_some(),
            timing: true,
        });
    }
    sides::check(&v, f.allow_stats_timing)
}

fn stage_a_code(d: StageADecision) -> u8 {
    match d {
        StageADecision::Proceed => EXIT_OK,
        StageADecision::Stop => EXIT_FAIL,
        StageADecision::Undecided => EXIT_UNDECIDED,
    }
}

fn collect_inputs<'a>(doc: &mut Document, sets: impl IntoIterator<Item = Option<&'a Summary>>) {
    for s in sets.into_iter().flatten() {
        doc.inputs.extend(s.inputs.iter().cloned());
        doc.warnings.extend(s.warnings.iter().cloned());
    }
}

fn write_archive(dir: &std::path::Path, doc: &Document) -> Result<(), UsageError> {
    let err = |source| UsageError::Archive {
        dir: dir.display().to_string(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(err)?;
    std::fs::write(dir.join("README.md"), render_markdown(doc)).map_err(err)
}
