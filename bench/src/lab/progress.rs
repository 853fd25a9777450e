//! Progress display: an indicatif bar on a terminal, one plain line per run
//! otherwise, nothing in unit tests.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use super::manifest::RunRecord;
use super::plan::{human_s, Job};

/// Receives run events.
pub trait Progress {
    /// A run starts; `index` is 1-based over `total` planned runs.
    fn begin(&mut self, job: &Job, index: usize, total: usize, eta_s: Option<f64>);
    /// A run ended.
    fn end(&mut self, rec: &RunRecord, index: usize, total: usize, eta_s: Option<f64>);
    /// A line worth showing (build steps, notes).
    fn note(&mut self, msg: &str);
    /// No more runs.
    fn finish(&mut self);
}

/// Bar or plain lines, depending on whether stderr is a terminal.
pub fn for_stderr() -> Box<dyn Progress> {
    if std::io::stderr().is_terminal() {
        Box::new(Bar::default())
    } else {
        Box::new(Plain)
    }
}

fn eta_text(eta: Option<f64>) -> String {
    eta.map_or_else(|| "ETA ?".to_owned(), |s| format!("ETA {}", human_s(s)))
}

/// One line per run on stderr.
pub struct Plain;

impl Progress for Plain {
    fn begin(&mut self, _: &Job, _: usize, _: usize, _: Option<f64>) {}

    fn end(&mut self, rec: &RunRecord, index: usize, total: usize, eta: Option<f64>) {
        let ops = rec
            .ops_per_sec
            .map_or_else(String::new, |x| format!(" {:.2} Mops/s", x / 1e6));
        eprintln!(
            "hz-lab: [{index}/{total}] {} {} run {:02}: {} {:.2}s{ops} ({})",
            rec.lane,
            rec.variant,
            rec.run,
            rec.status.as_str(),
            rec.wall_s,
            eta_text(eta)
        );
    }

    fn note(&mut self, msg: &str) {
        eprintln!("hz-lab: {msg}");
    }

    fn finish(&mut self) {}
}

/// indicatif bar: position i/N, lane, variant, run, ETA from lane medians.
#[derive(Default)]
pub struct Bar {
    bar: Option<ProgressBar>,
}

impl Bar {
    fn get(&mut self, total: usize) -> &ProgressBar {
        self.bar.get_or_insert_with(|| {
            let b = ProgressBar::new(total as u64);
            b.set_style(
                ProgressStyle::with_template("{spinner} [{bar:30}] {pos}/{len} {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
            );
            b.enable_steady_tick(Duration::from_millis(200));
            b
        })
    }
}

impl Progress for Bar {
    fn begin(&mut self, job: &Job, index: usize, total: usize, eta: Option<f64>) {
        let b = self.get(total);
        b.set_position(index.saturating_sub(1) as u64);
        b.set_message(format!(
            "{} {} run {:02} ({})",
            job.lane,
            job.variant,
            job.run,
            eta_text(eta)
        ));
    }

    fn end(&mut self, rec: &RunRecord, index: usize, total: usize, _eta: Option<f64>) {
        let b = self.get(total);
        b.set_position(index as u64);
        if rec.status != super::manifest::RunStatus::Ok {
            b.println(format!(
                "hz-lab: {} {} run {:02}: {} (log {})",
                rec.lane,
                rec.variant,
                rec.run,
                rec.status.as_str(),
                rec.log
            ));
        }
    }

    fn note(&mut self, msg: &str) {
        match &self.bar {
            Some(b) => b.println(format!("hz-lab: {msg}")),
            None => eprintln!("hz-lab: {msg}"),
        }
    }

    fn finish(&mut self) {
        if let Some(b) = self.bar.take() {
            b.finish_and_clear();
        }
    }
}

/// Silent (unit tests).
#[cfg(test)]
pub struct Quiet;

#[cfg(test)]
impl Progress for Quiet {
    fn begin(&mut self, _: &Job, _: usize, _: usize, _: Option<f64>) {}
    fn end(&mut self, _: &RunRecord, _: usize, _: usize, _: Option<f64>) {}
    fn note(&mut self, _: &str) {}
    fn finish(&mut self) {}
}
