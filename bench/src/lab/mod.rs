//! `hz-lab` internals: planning ([`plan`]), knob strings ([`knobs`]),
//! builds ([`build`]), peer libraries ([`libs`]), one process per run
//! ([`exec`]) and its noise controls ([`isolate`]), the run loop ([`runner`]), the
//! sequential replay ([`sequential`]), the manifest ([`manifest`]), the
//! memory scenarios ([`mem`]), the workload suite ([`suite`]) and what
//! the two share ([`preload`]), reports through the analyzer
//! ([`report`]), charts ([`svg`]), progress display ([`progress`]) and the
//! command line ([`cli`]).

pub mod build;
pub mod cli;
pub mod exec;
pub mod isolate;
pub mod knobs;
pub mod libs;
pub mod manifest;
pub mod mem;
pub mod noise;
pub mod plan;
pub mod preload;
pub mod progress;
pub mod report;
pub mod runner;
pub mod sequential;
pub mod suite;
pub mod svg;
pub mod sys;
