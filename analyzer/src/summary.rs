//! Pools runs per lane while they stream by: memory grows with the number of
//! lanes and counter names, plus 8 bytes of throughput per run.

use std::collections::{BTreeMap, BTreeSet};

use crate::error::InputError;
use crate::keys::{self, KeyTable, N_TRACKED};
use crate::model::{Instability, InstabilityKind, LaneSummary, Location, Run, Summary};
use crate::parse::{self, LoadOptions, ParsedRun, Source};
use crate::ratios;

/// Stability failures kept per lane (the rest are only counted).
const MAX_KEPT: usize = 50;

#[derive(Default)]
struct LaneAcc {
    runs: u64,
    stats_runs: u64,
    variants: BTreeSet<String>,
    sums: Vec<u128>,
    present: Vec<u64>,
    missing: [Option<Location>; N_TRACKED],
    ratio_min: Option<f64>,
    ratio_max: Option<f64>,
    ops: Vec<f64>,
    unstable_runs: u64,
    instabilities: Vec<Instability>,
    alloc_failures: u128,
    incomplete_runs: u64,
    ops_micro: Vec<u64>,
    bench_args: Vec<(crate::lanes::BenchArgs, Location)>,
    rounds: Vec<crate::model::RoundOps>,
    round_dirs: Vec<String>,
}

/// Streaming aggregator behind [`Summary`].
pub(crate) struct Aggregator {
    variant: Option<String>,
    lanes: Vec<(String, LaneAcc)>,
    total_runs: u64,
    contributing: Vec<parse::FileKey>,
    first_stats_run: Option<Location>,
}

impl Aggregator {
    pub fn new(variant: Option<String>) -> Self {
        Aggregator {
            variant,
            lanes: Vec::new(),
            total_runs: 0,
            contributing: Vec::new(),
            first_stats_run: None,
        }
    }

    /// Records that `key` gave a run.
    fn contributed(&mut self, src: &Source) {
        let same = match (&src.key, self.contributing.last()) {
            (Some(k), Some(last)) => k == last,
            // Stdin: the key made below, compared without building it.
            (None, Some(last)) => {
                last.name == src.name && (last.dev, last.ino, last.size) == (0, 0, 0)
            }
            (_, None) => false,
        };
        if !same {
            self.contributing
                .push(src.key.clone().unwrap_or_else(|| parse::FileKey {
                    name: src.name.clone(),
                    ..Default::default()
                }));
        }
    }

    fn lane(&mut self, name: &str) -> &mut LaneAcc {
        let i = match self.lanes.iter().position(|(n, _)| n == name) {
            Some(i) => i,
            None => {
                self.lanes.push((name.to_owned(), LaneAcc::default()));
                self.lanes.len() - 1
            }
        };
        &mut self.lanes[i].1
    }

    /// Adds one run of `src`.
    pub fn add_from(&mut self, run: &ParsedRun, src: &Source, nkeys: usize) {
        if run.kept_by(self.variant.as_deref()) {
            self.contributed(src);
            self.add(run, &src.name, nkeys);
        }
    }

    /// Adds one run.
    pub fn add(&mut self, run: &ParsedRun, file: &str, nkeys: usize) {
        if !run.kept_by(self.variant.as_deref()) {
            return;
        }
        let variant = run.variant();
        if run.stats_build() && self.first_stats_run.is_none() {
            self.first_stats_run = Some(Location {
                file: file.to_owned(),
                line: run.start_line,
            });
        }
        let acc = self.lane(&run.lane);
        if let Some((line, kind, why)) = &run.incomplete {
            // Left out of every sum and median; a stability failure.
            acc.incomplete_runs += 1;
            acc.unstable_runs += 1;
            if acc.instabilities.len() < MAX_KEPT {
                acc.instabilities.push(Instability {
                    location: Location {
                        file: file.to_owned(),
                        line: *line,
                    },
                    lane: run.lane.clone(),
                    kind: *kind,
                    detail: format!("incomplete run (excluded): {why}"),
                });
            }
            return;
        }
        self.total_runs += 1;
        let acc = self.lane(&run.lane);
        acc.runs += 1;
        if let Some(a) = run.bench_args {
            if acc.bench_args.len() < 8 && !acc.bench_args.iter().any(|(b, _)| *b == a) {
                acc.bench_args.push((
                    a,
                    Location {
                        file: file.to_owned(),
                        line: run.start_line,
                    },
                ));
            }
        }
        if let Some(v) = variant {
            if !acc.variants.contains(v) {
                acc.variants.insert(v.to_owned());
            }
        }
        if run.has_stats {
            acc.stats_runs += 1;
            if acc.sums.len() < nkeys {
                acc.sums.resize(nkeys, 0);
                acc.present.resize(nkeys, 0);
            }
            for &(id, v) in &run.counters {
                acc.sums[id as usize] += v as u128;
                acc.present[id as usize] += 1;
            }
            for (i, t) in run.tracked.iter().enumerate() {
                if t.is_none() && acc.missing[i].is_none() {
                    acc.missing[i] = Some(Location {
                        file: file.to_owned(),
                        line: run.start_line,
                    });
                }
            }
            let t = &run.tracked;
            if let (Some(hit), Some(stale), Some(gated)) = (
                t[keys::ID_STACK_HIT as usize],
                t[keys::ID_STALE_REMOTE as usize],
                t[keys::ID_POP_GATED_REMOTE as usize],
            ) {
                let r = ratios::stage_a_ratio(stale as u128 + gated as u128, hit as u128);
                acc.ratio_min = Some(acc.ratio_min.map_or(r, |m| m.min(r)));
                acc.ratio_max = Some(acc.ratio_max.map_or(r, |m| m.max(r)));
            }
        }
        if let Some(t) = &run.throughput {
            acc.ops.push(t.ops_per_sec);
            acc.ops_micro.push(t.ops_per_sec_micro);
            if let Some(round) = run.marker.as_ref().and_then(|m| m.run) {
                // A lab log is DIR/<lane>/<variant>-runNN.log: DIR names the
                // lab run the round belongs to.
                let dir = std::path::Path::new(file)
                    .parent()
                    .and_then(std::path::Path::parent)
                    .map_or_else(String::new, |d| d.display().to_string());
                let i = match acc.round_dirs.iter().position(|d| *d == dir) {
                    Some(i) => i,
                    None => {
                        acc.round_dirs.push(dir);
                        acc.round_dirs.len() - 1
                    }
                };
                acc.rounds.push(crate::model::RoundOps {
                    dir: i as u32,
                    round,
                    ops: t.ops_per_sec,
                    micro: t.ops_per_sec_micro,
                });
            }
        }
        acc.alloc_failures += run.alloc_failures.unwrap_or(0) as u128;
        let unstable = !run.crash_lines.is_empty()
            || run.throughput.is_none()
            || run.alloc_failures.unwrap_or(0) > 0
            || run.corruption.unwrap_or(0) > 0;
        if unstable {
            acc.unstable_runs += 1;
            let loc = |line| Location {
                file: file.to_owned(),
                line,
            };
            let lane = run.lane.clone();
            let mut push = |i: Instability| {
                if acc.instabilities.len() < MAX_KEPT {
                    acc.instabilities.push(i);
                }
            };
            for (line, text) in &run.crash_lines {
                push(Instability {
                    location: loc(*line),
                    lane: lane.clone(),
                    kind: InstabilityKind::CrashMarker,
                    detail: text.clone(),
                });
            }
            if run.throughput.is_none() {
                push(Instability {
                    location: loc(run.start_line),
                    lane: lane.clone(),
                    kind: InstabilityKind::NoThroughput,
                    detail: "run printed no throughput line (crash)".into(),
                });
            }
            if let Some(n) = run.corruption.filter(|&n| n > 0) {
                push(Instability {
                    location: loc(run.start_line),
                    lane: lane.clone(),
                    kind: InstabilityKind::Corruption,
                    detail: format!("[CORRUPTION] count={n}"),
                });
            }
            if let Some(n) = run.alloc_failures.filter(|&n| n > 0) {
                push(Instability {
                    location: loc(run.alloc_line.max(run.start_line)),
                    lane,
                    kind: InstabilityKind::AllocFailures,
                    detail: format!("[ALLOC_FAILURES] count={n}"),
                });
            }
        }
    }

    /// The pooled view, with counter names.
    pub fn finish(self, keys: &KeyTable, inputs: Vec<String>, warnings: Vec<String>) -> Summary {
        let mut lanes = BTreeMap::new();
        for (name, acc) in self.lanes {
            let mut s = LaneSummary {
                runs: acc.runs,
                stats_runs: acc.stats_runs,
                variants: acc.variants.into_iter().collect(),
                ratio_min: acc.ratio_min,
                ratio_max: acc.ratio_max,
                ops_per_sec: acc.ops,
                unstable_runs: acc.unstable_runs,
                instabilities: acc.instabilities,
                alloc_failures: acc.alloc_failures,
                incomplete_runs: acc.incomplete_runs,
                ops_micro: acc.ops_micro,
                bench_args: acc.bench_args,
                rounds: acc.rounds,
                round_dirs: acc
                    .round_dirs
                    .into_iter()
                    .map(|d| {
                        std::fs::canonicalize(if d.is_empty() { "." } else { &d })
                            .map_or(d, |c| c.display().to_string())
                    })
                    .collect(),
                ..LaneSummary::default()
            };
            for (id, (&sum, &n)) in acc.sums.iter().zip(&acc.present).enumerate() {
                if n > 0 {
                    let k = keys.name(id as u32).to_owned();
                    s.counters.insert(k.clone(), sum);
                    s.counter_runs.insert(k, n);
                }
            }
            for (id, m) in acc.missing.into_iter().enumerate() {
                if let Some(loc) = m {
                    s.missing.insert(keys.name(id as u32).to_owned(), loc);
                }
            }
            lanes.insert(name, s);
        }
        Summary {
            inputs,
            total_runs: self.total_runs,
            lanes,
            warnings,
            variant: self.variant,
            contributing: self.contributing,
            first_stats_run: self.first_stats_run,
        }
    }
}

/// Pools runs already in memory.
pub fn summarize(runs: &[Run]) -> Summary {
    let mut keys = KeyTable::new();
    let mut agg = Aggregator::new(None);
    let mut inputs: Vec<String> = Vec::new();
    for r in runs {
        if !inputs.contains(&r.location.file) {
            inputs.push(r.location.file.clone());
        }
        let p = ParsedRun::from_run(r, &mut keys);
        let key = parse::FileKey {
            name: r.location.file.clone(),
            ..Default::default()
        };
        if agg.contributing.last() != Some(&key) {
            agg.contributing.push(key);
        }
        agg.add(&p, &r.location.file, keys.len());
    }
    agg.finish(&keys, inputs, Vec::new())
}

/// Streams `inputs` (files, directories, `-`) into a [`Summary`] without
/// keeping the runs.
pub fn summarize_inputs(inputs: &[String], opts: &LoadOptions) -> Result<Summary, InputError> {
    let mut warnings = Vec::new();
    let sources: Vec<Source> = parse::expand_inputs(inputs, opts, &mut warnings)?;
    let mut keys = KeyTable::new();
    let mut agg = Aggregator::new(opts.variant.clone());
    for src in &sources {
        let n = parse::parse_source(src, &mut keys, &mut warnings, &mut |pr, s, k| {
            agg.add_from(pr, s, k.len());
            Ok(())
        })?;
        tracing::info!("{}: {} runs", src.name, n);
    }
    if let Some(v) = &opts.variant {
        if agg.total_runs == 0 && agg.lanes.is_empty() {
            warnings.push(format!("variant {v}: no run carries this variant"));
        }
    }
    let names = sources.iter().map(|s| s.name.clone()).collect();
    Ok(agg.finish(&keys, names, warnings))
}

/// Like [`summarize_inputs`], one [`Summary`] per `[HZ_LANE]` variant (in
/// order of first appearance; runs without a marker form the `None` one).
/// The parse warnings go to the first summary.
pub fn summarize_by_variant(
    inputs: &[String],
    opts: &LoadOptions,
) -> Result<Vec<Summary>, InputError> {
    let mut warnings = Vec::new();
    let sources: Vec<Source> = parse::expand_inputs(inputs, opts, &mut warnings)?;
    let mut keys = KeyTable::new();
    let mut aggs: Vec<Aggregator> = Vec::new();
    for src in &sources {
        parse::parse_source(src, &mut keys, &mut warnings, &mut |pr, s, k| {
            if !pr.kept_by(opts.variant.as_deref()) {
                return Ok(());
            }
            let v = pr.variant();
            let i = match aggs.iter().position(|a| a.variant.as_deref() == v) {
                Some(i) => i,
                None => {
                    aggs.push(Aggregator::new(v.map(str::to_owned)));
                    aggs.len() - 1
                }
            };
            aggs[i].add_from(pr, s, k.len());
            Ok(())
        })?;
    }
    let names: Vec<String> = sources.iter().map(|s| s.name.clone()).collect();
    let mut out: Vec<Summary> = Vec::new();
    for (i, a) in aggs.into_iter().enumerate() {
        let w = if i == 0 {
            std::mem::take(&mut warnings)
        } else {
            Vec::new()
        };
        let mut s = a.finish(&keys, names.clone(), w);
        s.inputs = s.contributing.iter().map(|k| k.name.clone()).collect();
        out.push(s);
    }
    if out.is_empty() {
        out.push(Aggregator::new(None).finish(&keys, names, warnings));
    }
    Ok(out)
}

/// Counter deltas between two sets, as means per stats run, for every lane
/// and counter seen in either set.
pub fn diff(a: &Summary, b: &Summary) -> crate::model::DiffReport {
    use crate::model::CounterDelta;
    let mut lanes = BTreeMap::new();
    let names: BTreeSet<&String> = a.lanes.keys().chain(b.lanes.keys()).collect();
    for lane in names {
        let (la, lb) = (a.lanes.get(lane), b.lanes.get(lane));
        let keys: BTreeSet<&String> = la
            .into_iter()
            .chain(lb)
            .flat_map(|l| l.counters.keys())
            .collect();
        let mean = |l: Option<&LaneSummary>, k: &str| {
            let l = l?;
            let n = *l.counter_runs.get(k)?;
            Some(*l.counters.get(k)? as f64 / n as f64)
        };
        let mut m = BTreeMap::new();
        for k in keys {
            let (x, y) = (mean(la, k), mean(lb, k));
            let delta = x.zip(y).map(|(x, y)| y - x);
            m.insert(
                k.clone(),
                CounterDelta {
                    a: x,
                    b: y,
                    delta,
                    change_pct: x
                        .zip(y)
                        .and_then(|(x, y)| ratios::change(x, y))
                        .map(|c| c * 100.0),
                },
            );
        }
        lanes.insert(lane.clone(), m);
    }
    let mut throughput = BTreeMap::new();
    for lane in a.lanes.keys().chain(b.lanes.keys()) {
        let med = |s: &Summary| {
            s.lanes
                .get(lane)
                .and_then(|l| crate::exact::median2(&l.ops_micro))
                .map(|m| m as f64 / 2e6)
        };
        let (x, y) = (med(a), med(b));
        throughput.insert(
            lane.clone(),
            CounterDelta {
                a: x,
                b: y,
                delta: x.zip(y).map(|(x, y)| y - x),
                change_pct: x
                    .zip(y)
                    .and_then(|(x, y)| ratios::change(x, y))
                    .map(|c| c * 100.0),
            },
        );
    }
    crate::model::DiffReport {
        a_inputs: a.inputs.clone(),
        b_inputs: b.inputs.clone(),
        lanes,
        throughput,
        top: None,
        min_change_pct: 0.0,
    }
}
