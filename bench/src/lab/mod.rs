//! `hz-lab` internals: planning ([`plan`]), knob strings ([`knobs`]),
//! builds ([`build`]), peer libraries ([`libs`]), one process per run
//! ([`exec`]) and its noise controls ([`isolate`]), the run loop ([`runner`]), the
//! sequential replay ([`sequential`]), the manifest ([`manifest`]), the
//! memory scenarios ([`mem`]), reports through the analyzer
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
pub mod progress;
pub mod report;
pub mod runner;
pub mod sequential;
pub mod svg;
pub mod sys;
