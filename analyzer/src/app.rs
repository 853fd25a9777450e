//! The binary's pipeline: options → streaming summaries → rules → report.
//! `main.rs` only parses the command line and maps the outcome to an exit
//! status.

use thiserror::Error;

use crate::cli::{Cli, Command, ModeArg};
use crate::error::{InputError, UsageError};
use crate::gates::{gates_summary, mechanism_summary, stage_a_summary, verdict};
use crate::model::*;
use crate::report::{render_json, render_markdown, render_text};
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
    let mut doc = Document {
        tool: "hz-analyze".into(),
        ..Document::default()
    };
    let summarize = |files: &[String]| summarize_inputs(files, &load);
    let code = match cli.command {
        Command::Report(a) => {
            doc.command = "report".into();
            let (so, mo) = (options::stage_a(&a.stage_a)?, options::mechanism(&a.mech)?);
            let s = summarize(&a.files.files)?;
            let sa = stage_a_summary(&s, &so);
            let m = mechanism_summary(&s, &mo);
            let code = stage_a_code(sa.decision);
            doc.inputs = s.inputs.clone();
            doc.warnings = s.warnings.clone();
            doc.mechanism = m.adaptive_present.then_some(m);
            doc.summary = Some(s);
            doc.stage_a = Some(sa);
            code
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
            let go = options::gates(&a.gates, a.mode)?;
            let base = summarize(&a.base)?;
            let var = summarize(&a.var)?;
            let aa = if a.gates.aa.is_empty() {
                None
            } else {
                Some(summarize(&a.gates.aa)?)
            };
            let g = gates_summary(&base, &var, aa.as_ref(), &go);
            collect_inputs(&mut doc, [Some(&base), Some(&var), aa.as_ref()]);
            let code = status_code(g.status);
            doc.gates = Some(g);
            code
        }
        Command::Verdict(a) => {
            doc.command = "verdict".into();
            let go = options::gates(&a.gates, ModeArg::Replay)?;
            let mo = options::mechanism(&a.mech_flags)?;
            let base = summarize(&a.base)?;
            let var = summarize(&a.var)?;
            let mech = if a.mech.is_empty() {
                None
            } else {
                Some(summarize(&a.mech)?)
            };
            let aa = if a.gates.aa.is_empty() {
                None
            } else {
                Some(summarize(&a.gates.aa)?)
            };
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
            let runs = crate::load_runs(&a.files, &load)?;
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
            let x = summarize(std::slice::from_ref(&a.a))?;
            let y = summarize(std::slice::from_ref(&a.b))?;
            collect_inputs(&mut doc, [Some(&x), Some(&y)]);
            doc.diff = Some(crate::summary::diff(&x, &y));
            EXIT_OK
        }
        Command::Bench(a) => {
            doc.command = "bench".into();
            if a.size_mib == 0 {
                return Err(UsageError::BadValue {
                    flag: "--size-mib",
                    problem: "must be at least 1".into(),
                }
                .into());
            }
            doc.bench = Some(crate::bench::run_bench(a.size_mib, a.keep.as_deref())?);
            EXIT_OK
        }
    };
    let output = if cli.json {
        render_json(&doc)
    } else {
        render_text(&doc)
    };
    Ok(Outcome { output, code })
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
