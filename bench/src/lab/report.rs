//! Reports: hands the run logs to the analyzer library (Stage A, gates,
//! mechanism, verdict), builds the peers table, and draws `lanes.svg`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use anyhow::Result;
use hz_analyze::{
    gates, lanes::lane_order, load_runs, mechanism, ratios::median, render_json, render_markdown,
    render_text, stage_a, verdict, Document, GateOptions, GateReport, LoadOptions,
    MechanismOptions, Mode, Run, StageADecision, StageAOptions, StageAReport, Status,
    VerdictDecision,
};
use serde::Serialize;

use super::manifest::{Manifest, Role, RunStatus, VariantKind};
use super::svg::{self, Bar, Chart, Group, HLine, Key, Mark};

/// Exit status: PROCEED / GO / pass.
pub const EXIT_OK: i32 = 0;
/// Exit status: STOP / NO-GO / fail.
pub const EXIT_FAIL: i32 = 1;
/// Exit status: bad input, usage, build failure.
pub const EXIT_INPUT: i32 = 2;
/// Exit status: UNDECIDED.
pub const EXIT_UNDECIDED: i32 = 3;

/// Rendered reports.
#[derive(Debug, Clone)]
pub struct Analysis {
    /// `report.txt`.
    pub text: String,
    /// `report.json`.
    pub json: String,
    /// `lanes.svg`.
    pub svg: String,
    /// `report.md` (the analyzer's Markdown rendering; not for peers).
    pub markdown: Option<String>,
    /// Exit status.
    pub code: i32,
    /// Decision in words.
    pub decision: String,
}

fn status_code(s: Status) -> i32 {
    match s {
        Status::Pass => EXIT_OK,
        Status::Fail => EXIT_FAIL,
        Status::Undecided => EXIT_UNDECIDED,
    }
}

/// Loads the logs of the finished runs of `variant` through the analyzer.
pub(crate) fn runs_of(dir: &Path, m: &Manifest, variant: &str) -> Result<(Vec<Run>, Vec<String>)> {
    let files: Vec<String> = m
        .runs
        .iter()
        .filter(|r| r.variant == variant)
        .map(|r| dir.join(&r.log).display().to_string())
        .collect();
    if files.is_empty() {
        return Ok((Vec::new(), files));
    }
    let runs = load_runs(&files, &LoadOptions::default())?;
    Ok((runs, files))
}

/// A few lines about the lab run, above the analyzer's tables.
fn lab_header(dir: &Path, m: &Manifest) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "hz-lab {} — {}", m.command, dir.display());
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for r in &m.runs {
        *counts.entry(r.status.as_str()).or_default() += 1;
    }
    let counts: Vec<String> = counts.iter().map(|(k, v)| format!("{k} {v}")).collect();
    let _ = writeln!(
        s,
        "  runs: {} of {} planned ({}); scale {}, threads {}",
        m.runs.len(),
        m.planned.len(),
        counts.join(", "),
        m.settings.scale,
        m.settings.threads.map_or_else(
            || "as in each lane's arguments".to_owned(),
            |t| t.to_string()
        )
    );
    let _ = writeln!(s, "  bench process: {}", m.settings.isolation.describe());
    let _ = writeln!(
        s,
        "  git {}{}; {} ({} CPUs), Linux {}",
        m.git.revision,
        if m.git.dirty { " (dirty)" } else { "" },
        m.machine.cpu_model,
        m.machine.nproc,
        m.machine.kernel
    );
    for v in &m.variants {
        match (&v.defs, &v.lib) {
            (Some(d), _) => {
                let from = v.repo.as_ref().map_or_else(String::new, |r| {
                    format!(
                        " from {} at {}{}",
                        r.path,
                        r.git.revision,
                        if r.git.dirty { " (dirty)" } else { "" }
                    )
                });
                let _ = writeln!(s, "  variant {}: HZ4_DEFS_EXTRA='{d}'{from}", v.name);
            }
            (None, Some(l)) => {
                let _ = writeln!(s, "  variant {}: LD_PRELOAD={l}", v.name);
            }
            (None, None) => {
                let _ = writeln!(s, "  variant {}: no preload", v.name);
            }
        }
    }
    let bad: Vec<String> = m
        .runs
        .iter()
        .filter(|r| r.status != RunStatus::Ok)
        .map(|r| format!("  {} ({}): {}", r.status.as_str(), r.variant, r.log))
        .collect();
    if !bad.is_empty() {
        let _ = writeln!(s, "  runs that did not finish cleanly:");
        for b in bad.iter().take(20) {
            let _ = writeln!(s, "  {b}");
        }
    }
    for n in &m.notes {
        let _ = writeln!(s, "  note: {n}");
    }
    s
}

fn doc(command: &str, inputs: Vec<String>) -> Document {
    Document {
        tool: "hz-analyze".into(),
        command: command.into(),
        inputs,
        ..Document::default()
    }
}

/// Produces the reports of a finished lab directory.
pub fn analyze(dir: &Path, m: &Manifest) -> Result<Analysis> {
    match m.command.as_str() {
        "stage-a" => stage_a_report(dir, m),
        "ab" => ab_report(dir, m),
        "peers" => peers_report(dir, m),
        other => anyhow::bail!("manifest: unknown command `{other}`"),
    }
}

fn stage_a_report(dir: &Path, m: &Manifest) -> Result<Analysis> {
    let stats = m
        .variants
        .iter()
        .find(|v| v.role == Role::Stats)
        .map(|v| v.name.clone())
        .unwrap_or_else(|| "stats".into());
    let (runs, files) = runs_of(dir, m, &stats)?;
    let sa = stage_a(&runs, &StageAOptions::default());
    let code = match sa.decision {
        StageADecision::Proceed => EXIT_OK,
        StageADecision::Stop => EXIT_FAIL,
        StageADecision::Undecided => EXIT_UNDECIDED,
    };
    let decision = serde_json::to_value(sa.decision)?
        .as_str()
        .unwrap_or("?")
        .to_owned();
    let svg = svg::render(&stage_a_chart(&sa, m));
    let mut d = doc("stage-a", files);
    d.stage_a = Some(sa);
    Ok(Analysis {
        text: format!("{}{}", lab_header(dir, m), render_text(&d)),
        json: render_json(&d),
        markdown: Some(render_markdown(&d)),
        svg,
        code,
        decision,
    })
}

fn ab_report(dir: &Path, m: &Manifest) -> Result<Analysis> {
    let (mut base, mut files) = runs_of(dir, m, "base")?;
    let (mut var, f2) = runs_of(dir, m, "var")?;
    if m.settings.sequential.is_some() {
        // The work order's verdict reads the fixed rounds only; the
        // sequential rounds are reported by the sequential section.
        let fixed = m.settings.runs as u64;
        base.retain(|r| r.run.is_none_or(|n| n <= fixed));
        var.retain(|r| r.run.is_none_or(|n| n <= fixed));
    }
    let (stats, f3) = runs_of(dir, m, "var_stats")?;
    files.extend(f2);
    files.extend(f3);
    // The analyzer's comparability checks: one file per side, the same
    // [BENCH_ARGS] per lane on both sides. (Stats timing was refused, or
    // allowed on purpose, when the variants were set up.)
    let (sb, sv) = (hz_analyze::summarize(&base), hz_analyze::summarize(&var));
    hz_analyze::sides::check(
        &[
            hz_analyze::sides::Side {
                flag: "base",
                summary: &sb,
                filtered: true,
                timing: true,
            },
            hz_analyze::sides::Side {
                flag: "var",
                summary: &sv,
                filtered: true,
                timing: true,
            },
        ],
        true,
    )?;
    let mode = match m.settings.mode.as_deref() {
        Some("replay") => Mode::Replay,
        _ => Mode::Screen,
    };
    let g = gates(
        &base,
        &var,
        None,
        &GateOptions {
            mode,
            ..GateOptions::default()
        },
    );
    let mech = mechanism(&stats, &MechanismOptions::default());
    let v = verdict(&g, &mech);
    let (code, decision) = match mode {
        Mode::Replay => (
            match v.decision {
                VerdictDecision::Go => EXIT_OK,
                VerdictDecision::NoGo => EXIT_FAIL,
                VerdictDecision::Undecided => EXIT_UNDECIDED,
            },
            serde_json::to_value(v.decision)?
                .as_str()
                .unwrap_or("?")
                .to_owned(),
        ),
        Mode::Screen => {
            let s = Status::all([g.status, mech.status]);
            (status_code(s), format!("screen {s}"))
        }
    };
    let svg = svg::render(&ab_chart(&g, m));
    let mut d = doc("verdict", files);
    d.gates = Some(g);
    d.mechanism = Some(mech);
    d.verdict = Some(v);
    let mut text = lab_header(dir, m);
    if mode == Mode::Screen {
        text.push_str(
            "  screen mode: the exit status is gates + stability + mechanism (0 pass: go on to \
             `--mode replay`); the verdict below needs the replay gates\n",
        );
    }
    text.push_str(&render_text(&d));
    let seq = super::sequential::report_text(m);
    text.push_str(&seq);
    let _ = writeln!(text, "\nlab decision: {decision} (exit {code})");
    let mut markdown = render_markdown(&d);
    if !seq.is_empty() {
        markdown.push_str("\n```text");
        markdown.push_str(&seq);
        markdown.push_str("```\n");
    }
    Ok(Analysis {
        text,
        json: render_json(&d),
        markdown: Some(markdown),
        svg,
        code,
        decision,
    })
}

fn stage_a_chart(sa: &StageAReport, m: &Manifest) -> Chart {
    let mut lanes: Vec<(&String, _)> = sa.lanes.iter().collect();
    lanes.sort_by_key(|(n, _)| lane_order(n));
    let min = sa.thresholds.min_ratio;
    let r50 = sa.lanes.get("main_r50").and_then(|l| l.ratio);
    let groups = lanes
        .iter()
        .map(|(name, l)| {
            let remote = name.as_str() == "main_r50" || name.as_str() == "cross128_r90";
            let color = match l.ratio {
                Some(r) if remote && r >= min => svg::GOOD,
                Some(_) if remote => svg::BAD,
                _ => svg::PALETTE[0],
            };
            let mut marks = Vec::new();
            if name.as_str() == "main_r0" {
                if let Some(r) = r50 {
                    marks.push(Mark {
                        value: r * sa.thresholds.separation,
                        label: format!("{} x main_r50", sa.thresholds.separation),
                    });
                }
            }
            Group {
                label: name.to_string(),
                bars: vec![l.ratio.map(|r| Bar {
                    value: r,
                    label: format!("{r:.3}"),
                    color: Some(color.into()),
                    ci: None,
                })],
                marks,
            }
        })
        .collect();
    Chart {
        title: format!("Stage A: {}", serde_json::to_value(sa.decision).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()),
        subtitle: format!(
            "(stale_remote + pop_gated_remote) / max(1, stack_hit), pooled; scale {}, {} run(s) per lane",
            m.settings.scale, m.settings.runs
        ),
        y_label: "stack inefficiency ratio".into(),
        x_label: "lane".into(),
        series: vec![svg::PALETTE[0].into()],
        groups,
        hlines: vec![HLine {
            value: min,
            label: format!("{min} threshold"),
        }],
        legend: vec![
            (Key::Fill(svg::GOOD.into()), format!("remote lane >= {min}")),
            (Key::Fill(svg::BAD.into()), format!("remote lane < {min}")),
            (Key::Fill(svg::PALETTE[0].into()), "local lane".into()),
            (Key::Dash(svg::THRESHOLD.into()), "thresholds".into()),
        ],
    }
}

fn ab_chart(g: &GateReport, m: &Manifest) -> Chart {
    let mut lanes: Vec<(&String, _)> = g.lanes.iter().collect();
    lanes.sort_by_key(|(n, _)| lane_order(n));
    let groups = lanes
        .iter()
        .map(|(name, l)| Group {
            label: name.to_string(),
            bars: vec![l.change_pct.map(|c| Bar {
                value: c,
                label: format!("{c:+.2}%{}", if l.within_noise { " ~" } else { "" }),
                color: Some(
                    match l.status {
                        Status::Pass => svg::GOOD,
                        Status::Fail => svg::BAD,
                        Status::Undecided => svg::GREY,
                    }
                    .into(),
                ),
                ci: l.ci_low_pct.zip(l.ci_high_pct),
            })],
            marks: vec![Mark {
                value: l.threshold_pct,
                label: format!("gate {:+}%", l.threshold_pct),
            }],
        })
        .collect();
    Chart {
        title: format!("A/B ({}): median ops/s change, var vs base", g.mode),
        subtitle: format!(
            "gates+stability: {}; stability {}; scale {}, {} run(s) per side",
            g.status, g.stability.status, m.settings.scale, m.settings.runs
        ),
        y_label: "median(var) / median(base) - 1, %".into(),
        x_label: "lane".into(),
        series: vec![svg::PALETTE[0].into()],
        groups,
        hlines: Vec::new(),
        legend: vec![
            (Key::Fill(svg::GOOD.into()), "gate passes".into()),
            (Key::Fill(svg::BAD.into()), "gate fails".into()),
            (Key::Dash(svg::THRESHOLD.into()), "gate threshold".into()),
            (Key::Whisker, "95% bootstrap CI".into()),
            (Key::Fill("white".into()), "~ within noise".into()),
        ],
    }
}

/// One allocator on one lane.
#[derive(Debug, Clone, Serialize)]
pub struct PeerCell {
    /// Runs done.
    pub runs: usize,
    /// Runs with status ok (the ones in the medians).
    pub ok_runs: usize,
    /// Median ops/s.
    pub median_ops_per_sec: Option<f64>,
    /// Median `max_rss_kb`.
    pub median_max_rss_kb: Option<f64>,
}

/// Peers comparison.
#[derive(Debug, Clone, Serialize)]
pub struct PeersReport {
    /// Allocators in plan order, with the preloaded library.
    pub allocators: Vec<(String, Option<String>)>,
    /// Lane → allocator → figures.
    pub lanes: BTreeMap<String, BTreeMap<String, PeerCell>>,
    /// Lane → peer → hz4 median / peer median.
    pub hz4_ratios: BTreeMap<String, BTreeMap<String, f64>>,
    /// Runs that did not finish cleanly (`lane variant run: status`).
    pub failures: Vec<String>,
    /// Notes (skipped allocators).
    pub notes: Vec<String>,
    /// pass when every run finished cleanly.
    pub status: Status,
}

/// Document written to report.json by `peers`.
#[derive(Debug, Clone, Serialize)]
struct PeersDoc<'a> {
    tool: &'static str,
    command: &'static str,
    peers: &'a PeersReport,
}

/// Peers figures from the manifest's run records.
pub fn peers_summary(m: &Manifest) -> PeersReport {
    let allocators: Vec<(String, Option<String>)> = m
        .variants
        .iter()
        .map(|v| (v.name.clone(), v.lib.clone()))
        .collect();
    let mut lanes: BTreeMap<String, BTreeMap<String, PeerCell>> = BTreeMap::new();
    for lane in &m.lanes {
        let row = lanes.entry(lane.name.clone()).or_default();
        for (a, _) in &allocators {
            let recs: Vec<_> = m
                .runs
                .iter()
                .filter(|r| r.lane == lane.name && &r.variant == a)
                .collect();
            let ok: Vec<_> = recs.iter().filter(|r| r.status == RunStatus::Ok).collect();
            let ops: Vec<f64> = ok.iter().filter_map(|r| r.ops_per_sec).collect();
            let rss: Vec<f64> = ok
                .iter()
                .filter_map(|r| r.max_rss_kb.map(|k| k as f64))
                .collect();
            row.insert(
                a.clone(),
                PeerCell {
                    runs: recs.len(),
                    ok_runs: ok.len(),
                    median_ops_per_sec: median(&ops),
                    median_max_rss_kb: median(&rss),
                },
            );
        }
    }
    let mut hz4_ratios: BTreeMap<String, BTreeMap<String, f64>> = BTreeMap::new();
    for (lane, row) in &lanes {
        let Some(h) = row.get("hz4").and_then(|c| c.median_ops_per_sec) else {
            continue;
        };
        for (a, c) in row {
            if a == "hz4" {
                continue;
            }
            if let Some(p) = c.median_ops_per_sec.filter(|p| *p > 0.0) {
                hz4_ratios
                    .entry(lane.clone())
                    .or_default()
                    .insert(a.clone(), h / p);
            }
        }
    }
    let failures: Vec<String> = m
        .runs
        .iter()
        .filter(|r| r.status != RunStatus::Ok)
        .map(|r| {
            format!(
                "{} {} run {:02}: {} ({})",
                r.lane,
                r.variant,
                r.run,
                r.status.as_str(),
                r.log
            )
        })
        .collect();
    PeersReport {
        allocators,
        lanes,
        hz4_ratios,
        status: if failures.is_empty() {
            Status::Pass
        } else {
            Status::Fail
        },
        failures,
        notes: m.notes.clone(),
    }
}

/// A Markdown table with one row per lane: header `lane` plus `columns`,
/// then `cell(lane, column index)` for each column (first column left,
/// numbers right).
fn lane_table(
    s: &mut String,
    lanes: &[&String],
    columns: Vec<String>,
    cell: impl Fn(&str, usize) -> String,
) {
    let n = columns.len();
    let mut head = vec!["lane".to_owned()];
    head.extend(columns);
    let _ = writeln!(s, "| {} |", head.join(" | "));
    let _ = writeln!(s, "|---|{}", "---:|".repeat(n));
    for lane in lanes {
        let mut cells = vec![lane.to_string()];
        cells.extend((0..n).map(|i| cell(lane.as_str(), i)));
        let _ = writeln!(s, "| {} |", cells.join(" | "));
    }
}

fn peers_text(p: &PeersReport, m: &Manifest) -> String {
    let names: Vec<&str> = p.allocators.iter().map(|(n, _)| n.as_str()).collect();
    let mut lanes: Vec<&String> = p.lanes.keys().collect();
    lanes.sort_by_key(|n| lane_order(n));
    let mut s = String::new();
    let columns = |v: &[&str]| v.iter().map(|n| n.to_string()).collect::<Vec<_>>();
    let na = || "n/a".to_owned();
    let _ = writeln!(
        s,
        "\n== Median throughput, million ops/s (medians of {} run(s)) ==",
        m.settings.runs
    );
    lane_table(&mut s, &lanes, columns(&names), |lane, i| {
        p.lanes[lane]
            .get(names[i])
            .and_then(|c| c.median_ops_per_sec)
            .map_or_else(na, |x| format!("{:.2}", x / 1e6))
    });
    let peers: Vec<&str> = names.iter().copied().filter(|n| *n != "hz4").collect();
    if names.contains(&"hz4") && !peers.is_empty() {
        let _ = writeln!(
            s,
            "\n== hz4 / peer, ratio of median ops/s (> 1: hz4 faster) =="
        );
        let head = peers.iter().map(|n| format!("hz4/{n}")).collect();
        lane_table(&mut s, &lanes, head, |lane, i| {
            p.hz4_ratios
                .get(lane)
                .and_then(|r| r.get(peers[i]))
                .map_or_else(na, |x| format!("{x:.2}"))
        });
    }
    let _ = writeln!(s, "\n== Peak RSS, median max_rss_kb in MiB ==");
    lane_table(&mut s, &lanes, columns(&names), |lane, i| {
        p.lanes[lane]
            .get(names[i])
            .and_then(|c| c.median_max_rss_kb)
            .map_or_else(na, |x| format!("{:.0}", x / 1024.0))
    });
    let _ = writeln!(s, "\nstability: {}", p.status);
    for f in &p.failures {
        let _ = writeln!(s, "  - {f}");
    }
    s
}

fn peers_chart(p: &PeersReport, m: &Manifest) -> Chart {
    let names: Vec<&str> = p.allocators.iter().map(|(n, _)| n.as_str()).collect();
    let mut lanes: Vec<&String> = p.lanes.keys().collect();
    lanes.sort_by_key(|n| lane_order(n));
    let series: Vec<String> = (0..names.len())
        .map(|i| svg::PALETTE[i % svg::PALETTE.len()].to_owned())
        .collect();
    let groups = lanes
        .iter()
        .map(|lane| Group {
            label: lane.to_string(),
            bars: names
                .iter()
                .map(|n| {
                    p.lanes[*lane]
                        .get(*n)
                        .and_then(|c| c.median_ops_per_sec)
                        .map(|x| Bar {
                            value: x / 1e6,
                            label: format!("{:.1}", x / 1e6),
                            color: None,
                            ci: None,
                        })
                })
                .collect(),
            marks: Vec::new(),
        })
        .collect();
    Chart {
        title: "Peers: median throughput per lane".into(),
        subtitle: format!(
            "LD_PRELOAD per allocator, interleaved; scale {}, {} run(s) each",
            m.settings.scale, m.settings.runs
        ),
        y_label: "million ops/s (median)".into(),
        x_label: "lane".into(),
        legend: names
            .iter()
            .zip(&series)
            .map(|(n, c)| (Key::Fill(c.clone()), n.to_string()))
            .collect(),
        series,
        groups,
        hlines: Vec::new(),
    }
}

fn peers_report(dir: &Path, m: &Manifest) -> Result<Analysis> {
    let p = peers_summary(m);
    let mut text = lab_header(dir, m);
    if let Some(line) = m
        .variants
        .iter()
        .find(|v| v.kind == VariantKind::Hz4)
        .and_then(|v| v.build_line.as_deref())
    {
        let _ = writeln!(text, "  hz4 build: {line}");
    }
    text.push_str(&peers_text(&p, m));
    let json = serde_json::to_string_pretty(&PeersDoc {
        tool: "hz-lab",
        command: "peers",
        peers: &p,
    })? + "\n";
    Ok(Analysis {
        text,
        json,
        svg: svg::render(&peers_chart(&p, m)),
        markdown: None,
        code: status_code(p.status),
        decision: p.status.to_string(),
    })
}
