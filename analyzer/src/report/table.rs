//! Text tables (comfy-table) and the Markdown archive note.

use std::fmt::Write as _;

use comfy_table::{presets, Cell, CellAlignment, ContentArrangement, Table};

use super::fmt::{num, opt, pct, ratio};
use super::Reporter;
use crate::keys::{self, ADAPTIVE};
use crate::lanes::lane_order;
use crate::model::*;

/// Renders tables as plain text, or as Markdown when `markdown` is set.
pub struct TableReporter {
    /// Markdown headings and pipe tables instead of plain text.
    pub markdown: bool,
}

impl TableReporter {
    fn table(&self, header: Vec<String>) -> Table {
        let mut t = Table::new();
        t.load_preset(if self.markdown {
            presets::ASCII_MARKDOWN
        } else {
            presets::ASCII_FULL_CONDENSED
        });
        if self.markdown {
            t.set_content_arrangement(ContentArrangement::Disabled);
        } else {
            // Text stays within 120 columns: long cells wrap.
            t.set_content_arrangement(ContentArrangement::Dynamic);
            t.set_width(TEXT_WIDTH as u16);
        }
        t.set_header(header);
        t
    }

    fn heading(&self, out: &mut String, title: &str) {
        if self.markdown {
            let _ = writeln!(out, "\n## {title}\n");
        } else {
            let _ = writeln!(out, "\n== {title} ==");
        }
    }

    fn bullet(&self, out: &mut String, text: &str) {
        if self.markdown {
            let _ = writeln!(out, "- {text}");
        } else {
            out.push_str(&wrap(text, "  - ", "    "));
        }
    }

    /// A line of text, wrapped to 120 columns in text mode.
    fn line(&self, out: &mut String, text: &str) {
        if self.markdown {
            let _ = writeln!(out, "{text}");
        } else {
            out.push_str(&wrap(text, "", "    "));
        }
    }

    fn push_table(&self, out: &mut String, t: &Table) {
        // Markdown needs a blank line after a table, or the next table or
        // paragraph is read as more rows.
        let _ = writeln!(out, "{t}{}", if self.markdown { "\n" } else { "" });
    }
}

/// Width of the text output.
pub const TEXT_WIDTH: usize = 120;

/// Wraps `text` at spaces to [`TEXT_WIDTH`] columns: `first` before the
/// first line, `rest` before the others; a word longer than a line is cut.
pub fn wrap(text: &str, first: &str, rest: &str) -> String {
    let mut out = String::new();
    let mut line = String::from(first);
    let mut empty = true;
    for word in text.split(' ') {
        let mut word = word;
        loop {
            let room = TEXT_WIDTH.saturating_sub(line.chars().count() + usize::from(!empty));
            if word.chars().count() <= room {
                if !empty {
                    line.push(' ');
                }
                line.push_str(word);
                empty = false;
                break;
            }
            if !empty {
                out.push_str(line.trim_end());
                out.push('\n');
                line = String::from(rest);
                empty = true;
                continue;
            }
            // A single word longer than the line: cut it.
            let cut: usize = word
                .char_indices()
                .nth(room.max(1))
                .map_or(word.len(), |(i, _)| i);
            line.push_str(&word[..cut]);
            out.push_str(&line);
            out.push('\n');
            line = String::from(rest);
            word = &word[cut..];
            if word.is_empty() {
                break;
            }
        }
    }
    out.push_str(line.trim_end());
    out.push('\n');
    out
}

fn sorted<'a, V>(it: impl Iterator<Item = (&'a String, V)>) -> Vec<(&'a String, V)> {
    let mut v: Vec<_> = it.collect();
    v.sort_by_key(|(n, _)| lane_order(n));
    v
}

/// The input list for a report header: every file when there are a few,
/// else one entry per directory with its file count (a replay has ~200).
fn compact_inputs(inputs: &[String]) -> String {
    const LIST_MAX: usize = 12;
    if inputs.len() <= LIST_MAX {
        return inputs.join(" ");
    }
    let mut dirs: Vec<(&str, usize)> = Vec::new();
    for f in inputs {
        let dir = f.rsplit_once('/').map_or(".", |(d, _)| d);
        match dirs.iter_mut().find(|(d, _)| *d == dir) {
            Some((_, n)) => *n += 1,
            None => dirs.push((dir, 1)),
        }
    }
    let parts: Vec<String> = dirs
        .iter()
        .map(|(d, n)| format!("{d}/ ({n} files)"))
        .collect();
    format!("{} files: {}", inputs.len(), parts.join(", "))
}

fn right(s: String) -> Cell {
    Cell::new(s).set_alignment(CellAlignment::Right)
}

impl Reporter for TableReporter {
    fn render(&self, doc: &Document) -> String {
        let mut out = String::new();
        if self.markdown {
            let _ = writeln!(out, "# hz-analyze {}", doc.command);
        } else {
            let _ = writeln!(out, "hz-analyze {}", doc.command);
        }
        if !doc.inputs.is_empty() {
            if self.markdown {
                out.push('\n');
            }
            self.line(
                &mut out,
                &format!("inputs: {}", compact_inputs(&doc.inputs)),
            );
        }
        for u in &doc.uses {
            self.line(&mut out, &format!("uses: {u}"));
        }
        if let Some(v) = &doc.verdict {
            self.verdict(&mut out, v);
        }
        if let Some(s) = &doc.summary {
            self.summary(&mut out, s);
        }
        for s in &doc.variants {
            self.summary(&mut out, s);
        }
        if let Some(a) = &doc.stage_a {
            self.stage_a(&mut out, a);
        }
        if let Some(g) = &doc.gates {
            self.gates(&mut out, g, doc.verdict.is_none());
        }
        if let Some(m) = &doc.mechanism {
            self.mechanism(&mut out, m);
        }
        if let Some(r) = &doc.runs {
            self.runs(&mut out, r);
        }
        if let Some(d) = &doc.diff {
            self.diff(&mut out, d);
        }
        if let Some(b) = &doc.bench {
            self.bench(&mut out, b);
        }
        if let Some(p) = &doc.power {
            out.push_str(&crate::power::render(p, self.markdown));
        }
        if !doc.warnings.is_empty() {
            self.heading(&mut out, "Warnings");
            let mut seen: Vec<&String> = Vec::new();
            for w in &doc.warnings {
                if !seen.contains(&w) {
                    seen.push(w);
                    self.bullet(&mut out, w);
                }
            }
        }
        out
    }
}

impl TableReporter {
    fn summary(&self, out: &mut String, s: &Summary) {
        match &s.variant {
            Some(v) => self.heading(
                out,
                &format!("Lanes of variant {v} (counters pooled over runs)"),
            ),
            None => self.heading(out, "Lanes (counters pooled over runs)"),
        }
        let names = s.lane_names();
        let mut header = vec!["counter".to_owned()];
        header.extend(names.iter().map(|n| n.to_string()));
        let mut t = self.table(header);
        let lanes: Vec<&LaneSummary> = names.iter().map(|n| &s.lanes[*n]).collect();
        let row = |t: &mut Table, label: &str, f: &dyn Fn(&LaneSummary) -> String| {
            let mut r = vec![Cell::new(label)];
            r.extend(lanes.iter().map(|l| right(f(l))));
            t.add_row(r);
        };
        row(&mut t, "runs", &|l| l.runs.to_string());
        row(&mut t, "stats runs", &|l| l.stats_runs.to_string());
        for k in keys::STAGE_A_B1.iter().chain(keys::STAGE_A_LOCK.iter()) {
            row(&mut t, k, &|l| opt(l.pooled(k), |v| v.to_string()));
        }
        row(&mut t, "stage A ratio (pooled)", &|l| {
            let n = l
                .pooled(keys::STALE_REMOTE)
                .zip(l.pooled(keys::POP_GATED_REMOTE));
            opt(n.zip(l.pooled(keys::STACK_HIT)), |((a, b), h)| {
                ratio(crate::ratios::stage_a_ratio(a + b, h))
            })
        });
        row(&mut t, "stage A ratio, run min", &|l| {
            opt(l.ratio_min, ratio)
        });
        row(&mut t, "stage A ratio, run max", &|l| {
            opt(l.ratio_max, ratio)
        });
        row(&mut t, "median ops/s", &|l| {
            opt(crate::exact::median2(&l.ops_micro), |m| {
                crate::exact::micro_str(m, true)
            })
        });
        row(&mut t, "unstable runs", &|l| l.unstable_runs.to_string());
        if lanes.iter().any(|l| l.incomplete_runs > 0) {
            row(&mut t, "incomplete runs (excluded)", &|l| {
                l.incomplete_runs.to_string()
            });
        }
        self.push_table(out, &t);
        for i in s.instabilities() {
            self.bullet(
                out,
                &format!("unstable run: {} [{}]: {}", i.location, i.lane, i.detail),
            );
        }
        let mut other: Vec<&String> = s
            .lanes
            .values()
            .flat_map(|l| l.counters.keys())
            .filter(|k| !keys::is_stage_a_key(k))
            .collect();
        other.sort();
        other.dedup();
        if !other.is_empty() {
            let _ = writeln!(
                out,
                "{} further counters kept (`hz-analyze show` lists every counter of every run)",
                other.len()
            );
        }
    }

    fn criteria(&self, out: &mut String, cs: &[Criterion]) {
        let mut t = self.table(vec!["criterion".into(), "status".into(), "observed".into()]);
        for c in cs {
            t.add_row(vec![c.id.clone(), c.status.to_string(), c.detail.clone()]);
        }
        self.push_table(out, &t);
        let _ = writeln!(out, "{}rules:", if self.markdown { "\n" } else { "" });
        for c in cs {
            self.bullet(out, &format!("{}: {}", c.id, c.rule));
        }
    }

    fn stage_a(&self, out: &mut String, a: &StageAReport) {
        self.heading(out, "Stage A");
        let th = &a.thresholds;
        let _ = writeln!(
            out,
            "thresholds: --stage-a-min-ratio {} --stage-a-separation {} --stage-a-runs {}{}",
            num(th.min_ratio),
            num(th.separation),
            th.runs,
            if self.markdown { "\n" } else { "" }
        );
        let mut t = self.table(
            [
                "lane",
                "runs",
                "stats runs",
                "numerator",
                "hit",
                "ratio",
                "run min",
                "run max",
            ]
            .map(String::from)
            .to_vec(),
        );
        for (name, l) in sorted(a.lanes.iter()) {
            t.add_row(vec![
                Cell::new(name),
                right(l.runs.to_string()),
                right(l.stats_runs.to_string()),
                right(opt(l.numerator, |v| v.to_string())),
                right(opt(l.hit, |v| v.to_string())),
                right(opt(l.ratio, ratio)),
                right(opt(l.run_ratio_min, ratio)),
                right(opt(l.run_ratio_max, ratio)),
            ]);
        }
        self.push_table(out, &t);
        self.criteria(out, &a.criteria);
        let _ = writeln!(
            out,
            "{}Stage A decision: {}",
            if self.markdown { "\n" } else { "" },
            a.decision
        );
        // The reasons are the criteria's details above; each is shown once.
        for w in &a.warnings {
            self.bullet(out, &format!("warning: {w}"));
        }
    }

    fn mechanism(&self, out: &mut String, m: &MechanismReport) {
        self.heading(out, "Mechanism GO checks");
        let th = &m.thresholds;
        let _ = writeln!(
            out,
            "thresholds: --mech-skip-min {} --mech-promote-min {} --mech-reset-factor {}\n  --mech-separation-factor {}{}",
            th.skip_min,
            num(th.promote_min),
            num(th.reset_factor),
            num(th.separation_factor),
            if self.markdown { "\n" } else { "" }
        );
        if !m.adaptive_present {
            let _ = writeln!(
                out,
                "no adaptive counters in these runs (not a B77 stats build)"
            );
        }
        let lanes = sorted(m.lanes.iter());
        let mut header = vec!["counter".to_owned()];
        header.extend(lanes.iter().map(|(n, _)| n.to_string()));
        let mut t = self.table(header);
        let row = |t: &mut Table, label: &str, f: &dyn Fn(&MechanismLane) -> String| {
            let mut r = vec![Cell::new(label)];
            r.extend(lanes.iter().map(|(_, l)| right(f(l))));
            t.add_row(r);
        };
        row(&mut t, "malloc_calls", &|l| {
            opt(l.malloc_calls, |v| v.to_string())
        });
        row(&mut t, "free_calls", &|l| {
            opt(l.free_calls, |v| v.to_string())
        });
        for k in ADAPTIVE {
            row(&mut t, k, &|l| {
                opt(l.counters.get(k).copied().flatten(), |v| v.to_string())
            });
        }
        row(&mut t, "hot_promote per malloc call", &|l| {
            opt(l.promote_per_call, ratio)
        });
        row(&mut t, "hot_reset per M malloc calls", &|l| {
            opt(l.reset_per_million, |x| format!("{x:.2}"))
        });
        row(&mut t, "skips per M calls", &|l| {
            opt(l.skip_per_million, |x| format!("{x:.2}"))
        });
        self.push_table(out, &t);
        self.criteria(out, &m.checks);
        let _ = writeln!(
            out,
            "{}mechanism: {}",
            if self.markdown { "\n" } else { "" },
            m.status
        );
    }

    fn gates(&self, out: &mut String, g: &GateReport, details: bool) {
        self.heading(out, &format!("A/B gates ({} mode)", g.mode));
        let rules: Vec<String> = g
            .rules
            .iter()
            .map(|r| format!("{} >= {}", r.lane, pct(r.min_change_pct / 100.0)))
            .collect();
        self.line(
            out,
            &format!(
                "thresholds: {}; RUNS={} per side; bootstrap {} resamples, seed {}, 95% CI{}",
                rules.join(", "),
                g.required_runs,
                g.bootstrap,
                g.seed,
                if self.markdown { "\n" } else { "" }
            ),
        );
        let mut t = self.table(
            [
                "lane",
                "runs b/v",
                "base median",
                "var median",
                "change",
                "gate",
                "95% CI",
                "A/A noise",
                "status",
            ]
            .map(String::from)
            .to_vec(),
        );
        let mut noisy = false;
        for (name, l) in sorted(g.lanes.iter()) {
            let mut status = l.status.to_string();
            if l.within_noise {
                status.push('*');
                noisy = true;
            }
            t.add_row(vec![
                Cell::new(name),
                right(format!("{}/{}", l.base_runs, l.var_runs)),
                right(opt(l.base_median, |x| format!("{x:.2}"))),
                right(opt(l.var_median, |x| format!("{x:.2}"))),
                right(opt(l.change_pct, |x| pct(x / 100.0))),
                right(pct(l.threshold_pct / 100.0)),
                right(opt(l.ci_low_pct.zip(l.ci_high_pct), |(a, b)| {
                    format!("[{}, {}]", pct(a / 100.0), pct(b / 100.0))
                })),
                right(opt(l.aa_noise_pct, |x| format!("{:.2}%", x))),
                Cell::new(status),
            ]);
        }
        self.push_table(out, &t);
        if noisy {
            self.line(
                out,
                "* within noise: the 95% interval holds both 0 and the gate",
            );
        }
        for (lane, l) in sorted(g.lanes.iter()).into_iter().filter(|_| details) {
            if l.status != Status::Pass {
                self.bullet(out, &format!("{lane}: {}", l.detail));
            }
        }
        self.paired(out, g);
        let s = &g.stability;
        let _ = writeln!(
            out,
            "{}stability (crash/assert/alloc-failed = 0): {} (unstable runs: base {}, var {}, A/A {})",
            if self.markdown { "\n" } else { "" },
            s.status,
            s.base_unstable_runs,
            s.var_unstable_runs,
            s.aa_unstable_runs
        );
        for f in &s.failures {
            self.bullet(out, &format!("{} [{}]: {}", f.location, f.lane, f.detail));
        }
        let _ = writeln!(out, "gates: {}", g.status);
        for w in &g.warnings {
            self.bullet(out, &format!("warning: {w}"));
        }
    }

    /// The paired per-round estimate of each lane and the decision rules.
    fn paired(&self, out: &mut String, g: &GateReport) {
        if g.lanes.values().all(|l| l.paired.is_none()) {
            return;
        }
        let _ = writeln!(
            out,
            "{}paired per-round estimate ({} rule decides the gates):",
            if self.markdown { "\n" } else { "" },
            g.rule
        );
        let mut t = self.table(
            [
                "lane",
                "pairing",
                "rounds",
                "change",
                "95% CI",
                "sd/round",
                "gate",
                "median rule",
                "paired rule",
            ]
            .map(String::from)
            .to_vec(),
        );
        let mut notes = Vec::new();
        for (name, l) in sorted(g.lanes.iter()) {
            let Some(p) = &l.paired else { continue };
            if let Some(n) = &p.note {
                notes.push(format!("{name}: {n}"));
            }
            t.add_row(vec![
                Cell::new(name),
                Cell::new(match p.method {
                    crate::model::PairingKind::Paired => "paired",
                    crate::model::PairingKind::Unpaired => "unpaired",
                }),
                right(p.rounds.to_string()),
                right(opt(p.change_pct, |x| pct(x / 100.0))),
                right(opt(p.ci_low_pct.zip(p.ci_high_pct), |(a, b)| {
                    format!("[{}, {}]", pct(a / 100.0), pct(b / 100.0))
                })),
                right(opt(p.sd_pct, |x| format!("{x:.2}%"))),
                right(pct(l.threshold_pct / 100.0)),
                Cell::new(l.median_status.to_string()),
                Cell::new(p.status.to_string()),
            ]);
        }
        self.push_table(out, &t);
        for r in &g.decision_rules {
            self.bullet(out, r);
        }
        for n in notes {
            self.bullet(out, &n);
        }
    }

    fn verdict(&self, out: &mut String, v: &VerdictReport) {
        self.heading(out, "Verdict");
        if v.mode == Mode::Screen {
            let _ = writeln!(
                out,
                "verdict: UNDECIDED (screen mode: GO/NO-GO is decided on the replay gates)"
            );
            for r in &v.screen {
                self.bullet(out, r);
            }
            return;
        }
        let _ = writeln!(out, "verdict: {}", v.decision);
        for r in &v.reasons {
            self.bullet(out, &format!("NO-GO: {r}"));
        }
        for r in &v.undecided {
            self.bullet(out, &format!("missing: {r}"));
        }
    }

    fn runs(&self, out: &mut String, runs: &[Run]) {
        for (i, r) in runs.iter().enumerate() {
            self.heading(
                out,
                &format!(
                    "run {} at {}: lane {} (from {}){}",
                    i + 1,
                    r.location,
                    r.lane,
                    serde_json::to_value(r.lane_source)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_owned))
                        .unwrap_or_default(),
                    r.variant
                        .as_ref()
                        .map(|v| format!(", variant {v}"))
                        .unwrap_or_default()
                ),
            );
            let mut t = self.table(vec!["key".into(), "value".into()]);
            if let Some(a) = &r.bench_args {
                let args: Vec<String> = a.to_argv().iter().map(|x| x.to_string()).collect();
                t.add_row(vec![Cell::new("bench args"), Cell::new(args.join(" "))]);
            }
            if let Some(n) = r.run {
                t.add_row(vec![Cell::new("run"), right(n.to_string())]);
            }
            for (k, v) in &r.build {
                t.add_row(vec![Cell::new(format!("build {k}")), Cell::new(v)]);
            }
            for (k, v) in &r.counters {
                t.add_row(vec![Cell::new(k), right(v.to_string())]);
            }
            if let Some(x) = &r.throughput {
                t.add_row(vec![
                    Cell::new("ops/s"),
                    right(format!("{:.2}", x.ops_per_sec)),
                ]);
            }
            for (k, v) in &r.effective_remote {
                t.add_row(vec![
                    Cell::new(format!("effective_remote {k}")),
                    right(v.clone()),
                ]);
            }
            for (k, v) in &r.mem_stats {
                t.add_row(vec![Cell::new(format!("mem_stats {k}")), right(v.clone())]);
            }
            if let Some(n) = r.alloc_failures {
                t.add_row(vec![Cell::new("alloc failures"), right(n.to_string())]);
            }
            for c in r.instabilities() {
                t.add_row(vec![
                    Cell::new(format!("UNSTABLE {}", c.location)),
                    Cell::new(c.detail),
                ]);
            }
            self.push_table(out, &t);
        }
    }

    fn diff(&self, out: &mut String, d: &DiffReport) {
        let key = |c: &CounterDelta| match (c.a, c.b, c.change_pct) {
            (_, _, Some(p)) => p.abs(),
            // From 0 (or absent) to something: the largest change there is.
            (a, b, None) if a != b && b.is_some_and(|b| b != 0.0) => f64::INFINITY,
            _ => 0.0,
        };
        let shown = |c: &CounterDelta| {
            let k = key(c);
            if d.min_change_pct > 0.0 {
                k >= d.min_change_pct
            } else {
                k > 0.0 || c.a != c.b
            }
        };
        for (lane, counters) in sorted(d.lanes.iter()) {
            self.heading(
                out,
                &format!("diff {lane} (means per stats run; largest change first)"),
            );
            let mut t = self.table(
                ["counter", "A", "B", "B - A", "change"]
                    .map(String::from)
                    .to_vec(),
            );
            let row = |t: &mut Table, k: &str, c: &CounterDelta| {
                t.add_row(vec![
                    Cell::new(k),
                    right(opt(c.a, |x| format!("{x:.2}"))),
                    right(opt(c.b, |x| format!("{x:.2}"))),
                    right(opt(c.delta, |x| format!("{x:+.2}"))),
                    right(opt(c.change_pct, |x| pct(x / 100.0))),
                ]);
            };
            if let Some(c) = d.throughput.get(lane) {
                row(&mut t, "median ops/s", c);
            }
            let mut rows: Vec<(&String, &CounterDelta)> =
                counters.iter().filter(|(_, c)| shown(c)).collect();
            rows.sort_by(|x, y| key(y.1).total_cmp(&key(x.1)).then_with(|| x.0.cmp(y.0)));
            let total = rows.len();
            let hidden_same = counters.len() - total;
            rows.truncate(d.top.unwrap_or(usize::MAX));
            for (k, c) in &rows {
                row(&mut t, k, c);
            }
            self.push_table(out, &t);
            let mut notes = Vec::new();
            if rows.len() < total {
                notes.push(format!(
                    "{} more beyond --top {}",
                    total - rows.len(),
                    rows.len()
                ));
            }
            if hidden_same > 0 {
                notes.push(if d.min_change_pct > 0.0 {
                    format!(
                        "{hidden_same} counters changed less than {}%",
                        num(d.min_change_pct)
                    )
                } else {
                    format!("{hidden_same} unchanged counters hidden")
                });
            }
            if !notes.is_empty() {
                self.line(out, &notes.join("; "));
            }
        }
    }

    fn bench(&self, out: &mut String, b: &BenchReport) {
        self.heading(out, "Parse benchmark");
        let _ = writeln!(
            out,
            "file {} ({:.1} MiB, {} runs): wall {:.3} s = {:.1} MB/s; thread CPU {} = {} MB/s; peak RSS {}",
            b.file,
            b.bytes as f64 / (1024.0 * 1024.0),
            b.runs,
            b.seconds,
            b.mb_per_s,
            opt(b.cpu_seconds, |c| format!("{c:.3} s")),
            opt(b.cpu_mb_per_s, |c| format!("{c:.1}")),
            opt(b.peak_rss_kib, |k| format!("{:.1} MiB", k as f64 / 1024.0))
        );
    }
}
