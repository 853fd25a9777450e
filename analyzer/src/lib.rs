//! `hz-analyze`: reads hz4 dump logs (of this project's allocator and of the
//! reference C allocator) and makes the B77 work order's decisions: Stage A
//! proceed/stop, the mechanism GO checks, the A/B gates with stability, and
//! the GO/NO-GO verdict.
//!
//! Pipeline: [`parse`] (streaming, lines to runs) → [`summary`] (pooled per
//! lane) → [`gates`] (rules as data) → [`report`] (tables, JSON, Markdown).
//!
//! Library use (the lab runner):
//!
//! ```no_run
//! use hz_analyze::*;
//! let runs = load_runs(&["logs/".to_string()], &LoadOptions::default())?;
//! let (base, var): (Vec<Run>, Vec<Run>) = runs
//!     .into_iter()
//!     .partition(|r| r.variant.as_deref() == Some("base"));
//! let g = gates(&base, &var, None, &GateOptions::replay());
//! let m = mechanism(&var, &MechanismOptions::default());
//! let v = verdict(&g, &m);
//! let doc = Document { tool: "hz-analyze".into(), command: "verdict".into(),
//!     gates: Some(g), mechanism: Some(m), verdict: Some(v), ..Default::default() };
//! print!("{}", render_text(&doc));
//! # Ok::<(), hz_analyze::InputError>(())
//! ```

pub mod app;
pub mod bench;
pub mod cli;
pub mod error;
pub mod exact;
pub mod gates;
pub mod keys;
pub mod lanes;
pub mod model;
pub mod options;
pub mod paired;
pub mod pairing;
pub mod parse;
pub mod power;
pub mod ratios;
pub mod report;
pub mod scan;
pub mod sequential;
pub mod sides;
pub mod stats;
pub mod summary;

pub use error::{InputError, SidesError, UsageError};
pub use gates::{gates_summary, mechanism_summary, stage_a_summary, verdict};
pub use lanes::{lane_for_args, Lane, CROSS128_R90, GUARD_R0, LANES, MAIN_R0, MAIN_R50};
pub use model::*;
pub use parse::{load_runs, parse_bytes, parse_str, LoadOptions};
pub use report::{render_json, render_markdown, render_text};
pub use summary::{diff, summarize, summarize_by_variant, summarize_inputs};

/// Stage A over runs in memory (pooled per lane). See
/// [`gates::stage_a_summary`] for the rule.
pub fn stage_a(runs: &[Run], opts: &StageAOptions) -> StageAReport {
    stage_a_summary(&summarize(runs), opts)
}

/// Mechanism GO checks over runs in memory (normally the Var+stats build).
pub fn mechanism(runs: &[Run], opts: &MechanismOptions) -> MechanismReport {
    mechanism_summary(&summarize(runs), opts)
}

/// A/B gates (mode in `opts`) and stability over runs in memory; `aa`
/// optionally holds A/A runs for the noise floor.
pub fn gates(base: &[Run], var: &[Run], aa: Option<&[Run]>, opts: &GateOptions) -> GateReport {
    let aa = aa.map(summarize);
    gates_summary(&summarize(base), &summarize(var), aa.as_ref(), opts)
}
