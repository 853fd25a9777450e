//! Streaming parser: lines to runs.
//!
//! The byte-level work (lines out of the reader's buffer, the table of line
//! kinds, `key=value` fields, integers) is in [`crate::scan`]; this module
//! gives the lines their meaning: where a run starts and ends, what makes it
//! complete, and the errors, which carry `file:line`. Memory stays flat
//! whatever the input size. The crash markers of unrecognised lines are
//! found with one literal-alternation regex.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use regex::bytes::Regex;

use crate::error::{clip, InputError, UsageError};
use crate::exact;
use crate::keys::{KeyTable, N_TRACKED};
use crate::lanes::{self, BenchArgs};
use crate::model::{Instability, InstabilityKind, LaneSource, Location, Run, Throughput};
use crate::scan::{self, parse_u64, split_kv, tokens, FieldLine, Line, LineKind, NumErr};

pub use crate::scan::{MAX_LINE, THROUGHPUT_PREFIX};

/// At most this many warnings are kept; the rest are counted.
const MAX_WARNINGS: usize = 100;

/// How inputs are read.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// `--lane NAME=PATH`: lane of runs in PATH (a file, a directory, or
    /// `-`) whose lane neither a marker, `[BENCH_ARGS]` nor the file name
    /// tells.
    pub lane_overrides: Vec<(String, PathBuf)>,
    /// `--variant NAME`: keep only runs whose `[HZ_LANE]` variant is NAME.
    pub variant: Option<String>,
}

impl LoadOptions {
    /// Parses one `--lane NAME=PATH` value.
    pub fn parse_lane_flag(s: &str) -> Result<(String, PathBuf), UsageError> {
        match s.split_once('=') {
            Some((name, path)) if !name.is_empty() && !path.is_empty() => {
                if lanes::lane_by_name(name).is_none() {
                    return Err(UsageError::BadValue {
                        flag: "--lane",
                        problem: format!("`{name}` is not a lane (lanes: {})", lanes::lane_names()),
                    });
                }
                Ok((name.to_owned(), PathBuf::from(path)))
            }
            _ => Err(UsageError::BadValue {
                flag: "--lane",
                problem: format!("`{s}` is not NAME=PATH (e.g. --lane main_r0=logs/r0.log)"),
            }),
        }
    }
}

/// Identity of an input file: its name, device and inode, and size.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FileKey {
    /// Name used in messages.
    pub name: String,
    /// Device number.
    pub dev: u64,
    /// Inode number.
    pub ino: u64,
    /// Size in bytes.
    pub size: u64,
}

impl FileKey {
    fn of(name: &str, p: &Path) -> io::Result<FileKey> {
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::metadata(p)?;
        Ok(FileKey {
            name: name.to_owned(),
            dev: m.dev(),
            ino: m.ino(),
            size: m.len(),
        })
    }

    /// Same file (device and inode).
    pub fn same_file(&self, o: &FileKey) -> bool {
        self.dev == o.dev && self.ino == o.ino
    }
}

/// True when the two files hold the same bytes (sizes already equal).
pub fn same_content(a: &Path, b: &Path) -> io::Result<bool> {
    let (mut x, mut y) = (
        BufReader::new(File::open(a)?),
        BufReader::new(File::open(b)?),
    );
    loop {
        let (ba, bb) = (x.fill_buf()?, y.fill_buf()?);
        if ba.is_empty() || bb.is_empty() {
            return Ok(ba.is_empty() && bb.is_empty());
        }
        let n = ba.len().min(bb.len());
        if ba[..n] != bb[..n] {
            return Ok(false);
        }
        x.consume(n);
        y.consume(n);
    }
}

/// One input after expanding directories.
#[derive(Debug, Clone)]
pub struct Source {
    /// Name used in messages: the path as found, or `-`.
    pub name: String,
    /// Path, `None` for stdin.
    pub path: Option<PathBuf>,
    /// Lane told by the file name.
    pub file_lane: Option<&'static str>,
    /// Lane given with `--lane`.
    pub flag_lane: Option<String>,
    /// Device, inode and size (files only).
    pub key: Option<FileKey>,
}

/// True for the names a directory walk reads: `*.log`, `*.log.gz`,
/// `*.log.zst`.
pub fn is_log_name(name: &str) -> bool {
    name.ends_with(".log") || name.ends_with(".log.gz") || name.ends_with(".log.zst")
}

/// Expands `inputs` (files, directories holding `*.log`, `*.log.gz`,
/// `*.log.zst`, or `-`) into sources, in the given order, directory entries
/// sorted by name (recursively). Each input is read once: a file reached
/// twice (same device and inode, e.g. a directory given twice or a symlink)
/// or a second file with the same bytes is dropped with a warning; a
/// symlink that leads back into a directory being walked is not followed,
/// with a warning naming it. The warnings are pushed to `warnings`.
pub fn expand_inputs(
    inputs: &[String],
    opts: &LoadOptions,
    warnings: &mut Vec<String>,
) -> Result<Vec<Source>, InputError> {
    let mut out: Vec<Source> = Vec::new();
    let mut stdin_seen = false;
    for input in inputs {
        if input == "-" {
            if stdin_seen {
                warnings.push("-: standard input given twice; read once".into());
            } else {
                stdin_seen = true;
                out.push(make_source(input.clone(), None, opts));
            }
            continue;
        }
        let path = PathBuf::from(input);
        let io = |source| InputError::Io {
            file: input.clone(),
            source,
        };
        let meta = std::fs::metadata(&path).map_err(io)?;
        if meta.is_dir() {
            let mut found = Vec::new();
            let mut stack = Vec::new();
            collect_logs(&path, &mut found, &mut stack, warnings).map_err(io)?;
            if found.is_empty() {
                return Err(InputError::NoLogs { dir: input.clone() });
            }
            found.sort();
            for p in found {
                out.push(make_source(p.display().to_string(), Some(p), opts));
            }
        } else {
            out.push(make_source(input.clone(), Some(path), opts));
        }
    }
    dedup_sources(out, warnings)
}

/// Drops a source that is the same file as an earlier one, or holds the same
/// bytes as an earlier one (with a warning each).
fn dedup_sources(
    sources: Vec<Source>,
    warnings: &mut Vec<String>,
) -> Result<Vec<Source>, InputError> {
    let mut kept: Vec<Source> = Vec::with_capacity(sources.len());
    'next: for mut s in sources {
        if let Some(p) = &s.path {
            let key = FileKey::of(&s.name, p).map_err(|source| InputError::Io {
                file: s.name.clone(),
                source,
            })?;
            for k in &kept {
                let Some(kk) = &k.key else { continue };
                if kk.same_file(&key) {
                    warnings.push(format!(
                        "{}: same file as {} (same device and inode); read once",
                        s.name, k.name
                    ));
                    continue 'next;
                }
                if kk.size == key.size {
                    let same =
                        same_content(k.path.as_deref().unwrap_or(p), p).map_err(|source| {
                            InputError::Io {
                                file: s.name.clone(),
                                source,
                            }
                        })?;
                    if same {
                        warnings.push(format!(
                            "{}: same content as {}; counted once",
                            s.name, k.name
                        ));
                        continue 'next;
                    }
                }
            }
            s.key = Some(key);
        }
        kept.push(s);
    }
    Ok(kept)
}

/// Walks `dir`; `stack` holds the (device, inode, path) of the directories
/// being walked, so a symlink back into one of them is a loop.
fn collect_logs(
    dir: &Path,
    out: &mut Vec<PathBuf>,
    stack: &mut Vec<(u64, u64, PathBuf)>,
    warnings: &mut Vec<String>,
) -> io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(dir)?;
    if let Some((_, _, first)) = stack
        .iter()
        .find(|(d, i, _)| *d == m.dev() && *i == m.ino())
    {
        warnings.push(format!(
            "{}: symlink loop (leads back to {}); not followed",
            dir.display(),
            first.display()
        ));
        return Ok(());
    }
    stack.push((m.dev(), m.ino(), dir.to_owned()));
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)?
        .map(|e| e.map(|e| e.path()))
        .collect::<io::Result<_>>()?;
    entries.sort();
    for p in entries {
        let meta = match std::fs::metadata(&p) {
            Ok(m) => m,
            Err(e) => {
                warnings.push(format!("{}: cannot read ({e}); skipped", p.display()));
                continue;
            }
        };
        if meta.is_dir() {
            // A lab's discarded warm-up runs (`hz-lab --warmup`) live in
            // `warmup/` beside the lane directories; they are never data.
            if p.file_name().is_some_and(|f| f == "warmup") {
                continue;
            }
            collect_logs(&p, out, stack, warnings)?;
        } else if p
            .file_name()
            .and_then(|f| f.to_str())
            .is_some_and(is_log_name)
        {
            out.push(p);
        }
    }
    stack.pop();
    Ok(())
}

fn make_source(name: String, path: Option<PathBuf>, opts: &LoadOptions) -> Source {
    let file_lane = path
        .as_ref()
        .and_then(|p| p.file_name())
        .and_then(|f| f.to_str())
        .and_then(lanes::lane_for_file_name)
        .map(|l| l.name);
    let flag_lane = opts
        .lane_overrides
        .iter()
        .rev()
        .find(|(_, o)| match &path {
            None => o.as_os_str() == "-",
            Some(p) => covers(o, p),
        })
        .map(|(l, _)| l.clone());
    Source {
        name,
        path,
        file_lane,
        flag_lane,
        key: None,
    }
}

/// True when `p` is `o` or lies inside directory `o`.
fn covers(o: &Path, p: &Path) -> bool {
    if p.starts_with(o) {
        return true;
    }
    match (o.canonicalize(), p.canonicalize()) {
        (Ok(o), Ok(p)) => p.starts_with(o),
        _ => false,
    }
}

/// `[HZ_LANE]` contents.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Marker {
    pub name: String,
    pub variant: Option<String>,
    pub run: Option<u64>,
}

/// A run as the parser builds it; counters by key id. Buffers are reused
/// from run to run.
#[derive(Debug, Clone, Default)]
pub(crate) struct ParsedRun {
    pub start_line: u64,
    pub marker: Option<Marker>,
    pub bench_args: Option<BenchArgs>,
    pub build: Vec<(String, String)>,
    pub has_stats: bool,
    pub counters: Vec<(u32, u64)>,
    pub tracked: [Option<u64>; N_TRACKED],
    pub throughput: Option<Throughput>,
    pub throughput_line: u64,
    /// `[EFFECTIVE_REMOTE]` text after the tag, checked to be UTF-8
    /// `key=value` words; split into pairs only by [`ParsedRun::to_run`].
    pub effective_remote: Vec<u8>,
    /// Number of words in `effective_remote`.
    pub effective_remote_words: usize,
    /// Values of the [`scan::FIELD_LINES`] lines, in the order of each
    /// line's keys.
    pub fields: Vec<(&'static FieldLine, Vec<u64>)>,
    pub alloc_failures: Option<u64>,
    pub alloc_line: u64,
    pub corruption: Option<u64>,
    pub crash_lines: Vec<(u64, String)>,
    pub lane: String,
    pub lane_source: Option<LaneSource>,
    /// First reason the run is incomplete: line and text.
    pub incomplete: Option<(u64, InstabilityKind, String)>,
    /// Saw the lab's `[HZ_RUN_STATUS]` closing line.
    pub saw_status: bool,
    pub mem_stats: Vec<(String, String)>,
    /// `[HZ4_BUILD]` says `HZ4_MID_STATS_B1=1`.
    pub stats_knob: bool,
}

impl ParsedRun {
    /// The variant named by the run's `[HZ_LANE]` marker, if any.
    pub fn variant(&self) -> Option<&str> {
        self.marker.as_ref().and_then(|m| m.variant.as_deref())
    }

    /// Whether a `--variant` filter keeps this run (`None`: no filter).
    pub fn kept_by(&self, filter: Option<&str>) -> bool {
        filter.is_none_or(|want| self.variant() == Some(want))
    }

    fn clear(&mut self) {
        self.start_line = 0;
        self.marker = None;
        self.bench_args = None;
        self.build.clear();
        self.has_stats = false;
        self.counters.clear();
        self.tracked = [None; N_TRACKED];
        self.throughput = None;
        self.effective_remote.clear();
        self.effective_remote_words = 0;
        self.fields.clear();
        self.alloc_failures = None;
        self.corruption = None;
        self.crash_lines.clear();
        self.lane.clear();
        self.lane_source = None;
        self.incomplete = None;
        self.saw_status = false;
        self.mem_stats.clear();
        self.stats_knob = false;
    }

    /// A stats build: counter lines, or `HZ4_MID_STATS_B1=1` in its build.
    pub fn stats_build(&self) -> bool {
        self.has_stats || self.stats_knob
    }

    fn mark_incomplete(&mut self, line: u64, kind: InstabilityKind, why: String) {
        if self.incomplete.is_none() {
            self.incomplete = Some((line, kind, why));
        }
    }

    /// Nothing yet that belongs after `[BENCH_ARGS]`.
    fn before_bench(&self) -> bool {
        self.bench_args.is_none()
            && self.throughput.is_none()
            && !self.has_stats
            && self.alloc_failures.is_none()
            && self.corruption.is_none()
            && self.effective_remote_words == 0
    }

    fn has_content(&self) -> bool {
        !self.before_bench()
            || self.marker.is_some()
            || !self.crash_lines.is_empty()
            || self.incomplete.is_some()
    }

    /// Owned [`Run`] with counter names.
    pub fn to_run(&self, file: &str, keys: &KeyTable) -> Run {
        let lane = self.lane.clone();
        Run {
            location: Location {
                file: file.to_owned(),
                line: self.start_line,
            },
            lane: lane.clone(),
            lane_source: self.lane_source.unwrap_or(LaneSource::Flag),
            variant: self.marker.as_ref().and_then(|m| m.variant.clone()),
            run: self.marker.as_ref().and_then(|m| m.run),
            bench_args: self.bench_args,
            build: self.build.clone(),
            has_stats: self.has_stats,
            counters: self
                .counters
                .iter()
                .map(|&(id, v)| (keys.name(id).to_owned(), v))
                .collect(),
            throughput: self.throughput.clone(),
            effective_remote: tokens(&self.effective_remote)
                .map(|t| {
                    let t = String::from_utf8_lossy(t);
                    let (k, v) = t.split_once('=').unwrap_or((&t, ""));
                    (k.to_owned(), v.to_owned())
                })
                .collect(),
            fields: self
                .fields
                .iter()
                .flat_map(|(f, vals)| {
                    f.keys
                        .iter()
                        .zip(vals)
                        .map(|(k, &v)| (format!("{}.{k}", f.tag), v))
                })
                .collect(),
            alloc_failures: self.alloc_failures,
            corruption: self.corruption,
            crash_lines: self
                .crash_lines
                .iter()
                .map(|(line, text)| Instability {
                    location: Location {
                        file: file.to_owned(),
                        line: *line,
                    },
                    lane: lane.clone(),
                    kind: InstabilityKind::CrashMarker,
                    detail: text.clone(),
                })
                .collect(),
            incomplete: self
                .incomplete
                .as_ref()
                .map(|(line, kind, why)| Instability {
                    location: Location {
                        file: file.to_owned(),
                        line: *line,
                    },
                    lane: lane.clone(),
                    kind: *kind,
                    detail: why.clone(),
                }),
            mem_stats: self.mem_stats.clone(),
            stats_build: self.stats_build(),
        }
    }

    /// The reverse of [`ParsedRun::to_run`], interning counter names.
    pub fn from_run(run: &Run, keys: &mut KeyTable) -> ParsedRun {
        let mut p = ParsedRun {
            start_line: run.location.line,
            marker: run.variant.as_ref().map(|v| Marker {
                name: run.lane.clone(),
                variant: Some(v.clone()),
                run: run.run,
            }),
            bench_args: run.bench_args,
            has_stats: run.has_stats,
            throughput: run.throughput.clone(),
            alloc_failures: run.alloc_failures,
            corruption: run.corruption,
            lane: run.lane.clone(),
            lane_source: Some(run.lane_source),
            crash_lines: run
                .crash_lines
                .iter()
                .map(|c| (c.location.line, c.detail.clone()))
                .collect(),
            incomplete: run
                .incomplete
                .as_ref()
                .map(|i| (i.location.line, i.kind, i.detail.clone())),
            saw_status: true,
            mem_stats: run.mem_stats.clone(),
            stats_knob: run.stats_build,
            build: run.build.clone(),
            effective_remote: run
                .effective_remote
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(" ")
                .into_bytes(),
            effective_remote_words: run.effective_remote.len(),
            ..ParsedRun::default()
        };
        for f in scan::FIELD_LINES {
            let vals: Option<Vec<u64>> = f
                .keys
                .iter()
                .map(|k| run.fields.get(&format!("{}.{k}", f.tag)).copied())
                .collect();
            if let Some(vals) = vals {
                p.fields.push((f, vals));
            }
        }
        for (k, &v) in &run.counters {
            let id = keys.intern_str(k);
            p.counters.push((id, v));
            if (id as usize) < N_TRACKED {
                p.tracked[id as usize] = Some(v);
            }
        }
        p
    }
}

fn crash_regex() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"panicked|Assertion|assert|Aborted|Segmentation fault|hz4: ")
            .expect("literal pattern is valid")
    })
}

/// Parse state for one source.
struct Parser<'a> {
    src: &'a Source,
    keys: &'a mut KeyTable,
    warnings: &'a mut Vec<String>,
    /// Per key id: the run generation that last set it, its value and line.
    stamp: Vec<u32>,
    first: Vec<(u64, u64)>,
    gen: u32,
    /// Key id seen at each counter position of the previous run.
    hint: Vec<u32>,
    cur: ParsedRun,
    line: u64,
    /// The current line is the last one and has no newline.
    cut: bool,
    runs: u64,
}

impl<'a> Parser<'a> {
    fn file(&self) -> String {
        self.src.name.clone()
    }

    fn truncated(&self, what: impl Into<String>) -> InputError {
        let mut what = what.into();
        if self.cut {
            what.push_str(" (last line has no newline: file cut short?)");
        }
        InputError::Truncated {
            file: self.file(),
            line: self.line,
            what,
        }
    }

    fn num_err(&self, e: NumErr, k: &[u8], v: &[u8], expected: &'static str) -> InputError {
        match e {
            NumErr::NotNumber => InputError::BadNumber {
                file: self.file(),
                line: self.line,
                key: clip(k),
                value: clip(v),
                expected,
            },
            NumErr::Overflow => InputError::Overflow {
                file: self.file(),
                line: self.line,
                key: clip(k),
                value: clip(v),
            },
        }
    }

    fn kv<'t>(&self, tok: &'t [u8]) -> Result<(&'t [u8], &'t [u8]), InputError> {
        split_kv(tok)
            .ok_or_else(|| self.truncated(format!("field `{}` is not key=value", clip(tok))))
    }

    fn u64_of(&self, k: &[u8], v: &[u8]) -> Result<u64, InputError> {
        parse_u64(v).map_err(|e| self.num_err(e, k, v, "non-negative integer"))
    }

    fn f64_of(&self, k: &[u8], v: &[u8]) -> Result<f64, InputError> {
        std::str::from_utf8(v)
            .ok()
            .and_then(|s| s.parse::<f64>().ok())
            .filter(|x| x.is_finite() && *x >= 0.0)
            .ok_or_else(|| self.num_err(NumErr::NotNumber, k, v, "non-negative number"))
    }

    fn utf8<'t>(&self, b: &'t [u8]) -> Result<&'t str, InputError> {
        std::str::from_utf8(b).map_err(|_| InputError::NotUtf8 {
            file: self.file(),
            line: self.line,
        })
    }

    fn dup(&self, key: &str, first: String, second: String, first_line: u64) -> InputError {
        InputError::Duplicate {
            file: self.file(),
            line: self.line,
            key: key.to_owned(),
            first,
            second,
            first_line,
        }
    }

    fn warn(&mut self, w: String) {
        if self.warnings.len() < MAX_WARNINGS {
            self.warnings.push(w);
        } else if self.warnings.len() == MAX_WARNINGS {
            self.warnings.push("further warnings omitted".into());
        }
    }

    fn touch(&mut self) {
        if self.cur.start_line == 0 {
            self.cur.start_line = self.line;
        }
    }

    /// Ends the current run (if it has content) and hands it to `sink`.
    fn finish_run(
        &mut self,
        sink: &mut dyn FnMut(&ParsedRun, &Source, &KeyTable) -> Result<(), InputError>,
    ) -> Result<(), InputError> {
        if self.cur.has_content() {
            self.check_complete();
            self.resolve_lane()?;
            self.runs += 1;
            sink(&self.cur, self.src, self.keys)?;
        }
        self.cur.clear();
        if self.gen == u32::MAX {
            self.stamp.fill(0);
            self.gen = 0;
        }
        self.gen += 1;
        Ok(())
    }

    /// A complete run ends with its closing line: `[HZ_RUN_STATUS]` for a
    /// lab run (one with an `[HZ_LANE]` marker), else `[ALLOC_FAILURES]`
    /// after the throughput line (hz-bench and the reference allocator both
    /// print it last among the bench lines). A run without a throughput line
    /// is a crash, not an incomplete run.
    fn check_complete(&mut self) {
        if self.cur.incomplete.is_some() {
            return;
        }
        if self.cur.marker.is_some() && !self.cur.saw_status {
            let line = self.cur.start_line;
            self.cur.mark_incomplete(
                line,
                InstabilityKind::Incomplete,
                "lab run without its closing [HZ_RUN_STATUS] line (log cut short?)".into(),
            );
        } else if self.cur.throughput.is_some()
            && self.cur.alloc_failures.is_none()
            && !self.cur.saw_status
        {
            let line = self.cur.throughput_line;
            self.cur.mark_incomplete(
                line,
                InstabilityKind::Incomplete,
                "no [ALLOC_FAILURES] line after the throughput line (log cut short?)".into(),
            );
        }
    }

    /// Lane of the current run: the `[BENCH_ARGS]` shape first; a marker or
    /// file name that says otherwise is a warning. A shape or marker name
    /// that is no lane is a warning and files the run under
    /// [`lanes::UNKNOWN_LANE`], which no decision reads.
    fn resolve_lane(&mut self) -> Result<(), InputError> {
        use std::borrow::Cow;
        let src = self.src;
        let start = self.cur.start_line;
        let at = || format!("{}:{}", src.name, start);
        let marker = self.cur.marker.as_ref().map(|m| m.name.clone());
        let (lane, source): (Cow<'_, str>, _) = if let Some(args) = self.cur.bench_args {
            match lanes::lane_for_args(&args) {
                Some(a) => {
                    if let Some(m) = marker.as_deref().filter(|m| *m != a.name) {
                        self.warn(format!(
                            "{}: [HZ_LANE] name={m} but [BENCH_ARGS] has the shape of {}; using {}",
                            at(),
                            a.name,
                            a.name
                        ));
                    } else if let Some(f) = src.file_lane.filter(|f| *f != a.name) {
                        if marker.is_none() {
                            self.warn(format!(
                                "{}: file name says {f} but [BENCH_ARGS] has the shape of {}; using {}",
                                at(),
                                a.name,
                                a.name
                            ));
                        }
                    }
                    (a.name.into(), LaneSource::BenchArgs)
                }
                None => {
                    self.warn(format!(
                        "{}: [BENCH_ARGS] {} matches no lane's shape; run left out of the lane decisions",
                        at(),
                        lanes::args_text(&args)
                    ));
                    (lanes::UNKNOWN_LANE.into(), LaneSource::BenchArgs)
                }
            }
        } else if let Some(m) = marker {
            if lanes::lane_by_name(&m).is_some() {
                (m.into(), LaneSource::Marker)
            } else {
                self.warn(format!(
                    "{}: [HZ_LANE] name={m} is not a lane ({}); run left out of the lane decisions",
                    at(),
                    lanes::lane_names()
                ));
                (lanes::UNKNOWN_LANE.into(), LaneSource::Marker)
            }
        } else if let Some(l) = src.file_lane {
            (l.into(), LaneSource::FileName)
        } else if let Some(l) = &src.flag_lane {
            (l.as_str().into(), LaneSource::Flag)
        } else {
            return Err(InputError::UnknownLane {
                file: self.file(),
                line: self.cur.start_line,
            });
        };
        // The buffer is reused from run to run.
        self.cur.lane.push_str(&lane);
        self.cur.lane_source = Some(source);
        Ok(())
    }

    /// A counter line. Dumps repeat the same keys in the same order, so
    /// the key this position had in the previous run is tried first, in
    /// place ([`scan::Fields::next_expected`]); any other word takes the
    /// general path (split, checked number, key lookup or interning).
    fn counters_line(&mut self, rest: &[u8]) -> Result<(), InputError> {
        self.touch();
        self.cur.has_stats = true;
        let mut words = tokens(rest);
        if words.at_end() {
            return Err(self.truncated("no key=value fields"));
        }
        loop {
            let pos = self.cur.counters.len();
            let hinted = self.hint.get(pos).and_then(|&h| {
                words
                    .next_expected(self.keys.name(h).as_bytes())
                    .map(|v| (h, v))
            });
            let (id, val) = match hinted {
                Some(x) => x,
                None => {
                    let Some(tok) = words.next() else { break };
                    let (k, v) = self.kv(tok)?;
                    let val = self.u64_of(k, v)?;
                    let id = match self.keys.get(k) {
                        Some(id) => id,
                        None => {
                            let name = self.utf8(k)?.to_owned();
                            self.keys.intern_str(&name)
                        }
                    };
                    (id, val)
                }
            };
            let i = id as usize;
            if i >= self.stamp.len() {
                self.stamp.resize(i + 1, 0);
                self.first.resize(i + 1, (0, 0));
            }
            if self.stamp[i] == self.gen {
                let (fv, fl) = self.first[i];
                if fv != val {
                    let key = self.keys.name(id).to_owned();
                    return Err(self.dup(&key, fv.to_string(), val.to_string(), fl));
                }
                continue;
            }
            self.stamp[i] = self.gen;
            self.first[i] = (val, self.line);
            if pos < self.hint.len() {
                self.hint[pos] = id;
            } else {
                self.hint.push(id);
            }
            self.cur.counters.push((id, val));
            if i < N_TRACKED {
                self.cur.tracked[i] = Some(val);
            }
        }
        Ok(())
    }

    /// The values of `keys` on a line of fixed `key=integer` fields, into
    /// `vals` (one slot per key, all `None` on entry): every key required, a
    /// key repeated with another value an error, other keys ignored. `what`
    /// names the line in messages.
    fn fixed_fields(
        &self,
        rest: &[u8],
        keys: &[&'static str],
        what: &str,
        vals: &mut [Option<u64>],
    ) -> Result<(), InputError> {
        for tok in tokens(rest) {
            let (k, v) = self.kv(tok)?;
            if let Some(i) = keys.iter().position(|n| n.as_bytes() == k) {
                let x = self.u64_of(k, v)?;
                if let Some(old) = vals[i].filter(|&o| o != x) {
                    return Err(self.dup(keys[i], old.to_string(), x.to_string(), self.line));
                }
                vals[i] = Some(x);
            }
        }
        match vals.iter().position(Option::is_none) {
            Some(i) => Err(self.truncated(format!("{what} lacks `{}=`", keys[i]))),
            None => Ok(()),
        }
    }

    /// A [`scan::FIELD_LINES`] line: its values are kept in the run.
    fn field_line(&mut self, f: &'static FieldLine, rest: &[u8]) -> Result<(), InputError> {
        let mut vals = vec![None; f.keys.len()];
        self.fixed_fields(rest, f.keys, f.tag, &mut vals)?;
        self.touch();
        let vals = vals.into_iter().map(|x| x.unwrap_or(0)).collect();
        match self
            .cur
            .fields
            .iter_mut()
            .find(|(g, _)| std::ptr::eq(*g, f))
        {
            Some((_, old)) => *old = vals,
            None => self.cur.fields.push((f, vals)),
        }
        Ok(())
    }

    fn bench_args_line(&mut self, rest: &[u8]) -> Result<(), InputError> {
        let mut vals = [None; lanes::ARG_NAMES.len()];
        self.fixed_fields(rest, &lanes::ARG_NAMES, "[BENCH_ARGS]", &mut vals)?;
        let v = vals.map(|x| x.unwrap_or(0));
        self.touch();
        self.cur.bench_args = Some(BenchArgs {
            threads: v[0],
            iters: v[1],
            ws: v[2],
            min: v[3],
            max: v[4],
            remote_pct: v[5],
            ring_slots: v[6],
        });
        Ok(())
    }

    fn marker_line(&mut self, rest: &[u8]) -> Result<(), InputError> {
        let mut m = Marker::default();
        for tok in tokens(rest) {
            let (k, v) = self.kv(tok)?;
            match k {
                b"name" => m.name = self.utf8(v)?.to_owned(),
                b"variant" => m.variant = Some(self.utf8(v)?.to_owned()),
                b"run" => m.run = Some(self.u64_of(k, v)?),
                _ => {}
            }
        }
        if m.name.is_empty() {
            return Err(self.truncated("[HZ_LANE] lacks `name=`"));
        }
        self.touch();
        self.cur.marker = Some(m);
        Ok(())
    }

    fn throughput_line(&mut self, rest: &[u8]) -> Result<(), InputError> {
        let mut t = Throughput {
            ops_per_sec: f64::NAN,
            threads: None,
            ops: None,
            time_s: None,
            ops_per_sec_micro: 0,
        };
        let (mut rate_dec, mut time_dec) = (None, None);
        for tok in tokens(rest) {
            let (k, v) = self.kv(tok)?;
            match k {
                b"ops/s" => {
                    t.ops_per_sec = self.f64_of(k, v)?;
                    rate_dec = exact::parse_dec(v);
                    t.ops_per_sec_micro = match rate_dec.and_then(exact::to_micro) {
                        Some(m) => m,
                        None if t.ops_per_sec < 1.8e13 => (t.ops_per_sec * 1e6).round() as u64,
                        None => return Err(self.num_err(NumErr::Overflow, k, v, "")),
                    };
                }
                b"threads" => t.threads = Some(self.u64_of(k, v)?),
                b"ops" => t.ops = Some(self.u64_of(k, v)?),
                b"time" => {
                    t.time_s = Some(self.f64_of(k, v)?);
                    time_dec = exact::parse_dec(v);
                }
                _ => {}
            }
        }
        if t.ops_per_sec.is_nan() {
            return Err(self.truncated("throughput line lacks `ops/s=`"));
        }
        if let (Some(ops), Some(r), Some(tm)) = (t.ops, rate_dec, time_dec) {
            if !ops_agree(ops, r, tm) {
                let line = self.line;
                self.cur.mark_incomplete(
                    line,
                    InstabilityKind::OpsMismatch,
                    format!(
                        "ops={ops} but ops/s x time = {:.0}: they disagree beyond the printed rounding",
                        t.ops_per_sec * t.time_s.unwrap_or(0.0)
                    ),
                );
            }
        }
        if let Some(old) = &self.cur.throughput {
            if old.ops_per_sec != t.ops_per_sec {
                return Err(self.dup(
                    "ops/s",
                    old.ops_per_sec.to_string(),
                    t.ops_per_sec.to_string(),
                    self.cur.throughput_line,
                ));
            }
        }
        self.touch();
        self.cur.throughput = Some(t);
        self.cur.throughput_line = self.line;
        Ok(())
    }

    /// The value of `count=` in a `[TAG] count=N` line.
    fn count_of(&self, rest: &[u8], tag: &str) -> Result<u64, InputError> {
        let mut count = None;
        for tok in tokens(rest) {
            let (k, v) = self.kv(tok)?;
            if k == b"count" {
                count = Some(self.u64_of(k, v)?);
            }
        }
        count.ok_or_else(|| self.truncated(format!("{tag} lacks `count=`")))
    }

    fn alloc_failures_line(&mut self, rest: &[u8]) -> Result<(), InputError> {
        let n = self.count_of(rest, "[ALLOC_FAILURES]")?;
        if let Some(old) = self.cur.alloc_failures.filter(|&o| o != n) {
            return Err(self.dup("count", old.to_string(), n.to_string(), self.cur.alloc_line));
        }
        self.touch();
        self.cur.alloc_failures = Some(n);
        self.cur.alloc_line = self.line;
        Ok(())
    }

    /// `[CORRUPTION] count=N`, printed by this project's bench when it
    /// finds a damaged block.
    fn corruption_line(&mut self, rest: &[u8]) -> Result<(), InputError> {
        let n = self.count_of(rest, "[CORRUPTION]")?;
        self.touch();
        self.cur.corruption = Some(self.cur.corruption.unwrap_or(0).max(n));
        Ok(())
    }

    /// `[HZ_RUN_STATUS] status=S ...`, appended by the lab runner after a
    /// run: any status but `ok` (a crash, a timeout, a kill, a non-zero exit,
    /// corruption, allocation failures) makes the run unstable.
    fn run_status_line(&mut self, line: &[u8], rest: &[u8]) -> Result<(), InputError> {
        let mut status = None;
        for tok in tokens(rest) {
            if let Some(v) = tok.strip_prefix(b"status=") {
                status = Some(v);
            }
        }
        let Some(status) = status else {
            return Err(self.truncated("[HZ_RUN_STATUS] lacks `status=`"));
        };
        self.touch();
        self.cur.saw_status = true;
        if status != b"ok" {
            let text = String::from_utf8_lossy(&line[..line.len().min(200)]).into_owned();
            self.cur.crash_lines.push((self.line, text));
        }
        Ok(())
    }

    fn pairs(&self, rest: &[u8], bare_ok: bool) -> Result<Vec<(String, String)>, InputError> {
        let mut out = Vec::new();
        for tok in tokens(rest) {
            let t = self.utf8(tok)?;
            match t.split_once('=') {
                Some((k, v)) => out.push((k.to_owned(), v.to_owned())),
                None if bare_ok => out.push((t.to_owned(), String::new())),
                None => {
                    return Err(self.truncated(format!("field `{}` is not key=value", clip(tok))))
                }
            }
        }
        Ok(out)
    }

    fn other_line(&mut self, line: &[u8]) -> Result<(), InputError> {
        if line.contains(&0) {
            return Err(InputError::Binary {
                file: self.file(),
                line: self.line,
                what: "NUL byte",
            });
        }
        if crash_regex().is_match(line) {
            self.touch();
            let text = String::from_utf8_lossy(&line[..line.len().min(200)]).into_owned();
            tracing::debug!("{}:{}: crash marker: {}", self.src.name, self.line, text);
            self.cur.crash_lines.push((self.line, text));
        }
        Ok(())
    }

    /// The last line of the file, without its newline: the file was cut
    /// while being written, so the run it belongs to is incomplete. The line
    /// still starts a run if it would, but its content is not trusted.
    fn cut_line(
        &mut self,
        line: &[u8],
        sink: &mut dyn FnMut(&ParsedRun, &Source, &KeyTable) -> Result<(), InputError>,
    ) -> Result<(), InputError> {
        if line.iter().all(|b| b.is_ascii_whitespace()) {
            return Ok(());
        }
        if line.contains(&0) {
            return Err(InputError::Binary {
                file: self.file(),
                line: self.line,
                what: "NUL byte",
            });
        }
        let starts = (line.starts_with(b"[BENCH_ARGS]") && !self.cur.before_bench())
            || (line.starts_with(b"[HZ_LANE]")
                && !(self.cur.before_bench() && self.cur.marker.is_none()));
        if starts {
            self.finish_run(sink)?;
        }
        // Parse what is there (a marker or [BENCH_ARGS] still tells the
        // lane); an error in the cut line is the cut, not a bad log.
        let _ = self.handle(line, sink);
        self.touch();
        // The cut explains whatever else is wrong with the line.
        self.cur.incomplete = Some((
            self.line,
            InstabilityKind::Incomplete,
            "last line is cut short (no newline at the end of the file)".into(),
        ));
        Ok(())
    }

    /// Checks that `rest` is UTF-8 `key=value` words (empty parts allowed)
    /// without keeping them; the number of words.
    fn check_pairs(&self, rest: &[u8]) -> Result<usize, InputError> {
        let mut n = 0;
        for tok in tokens(rest) {
            self.utf8(tok)?;
            if memchr::memchr(b'=', tok).is_none() {
                return Err(self.truncated(format!("field `{}` is not key=value", clip(tok))));
            }
            n += 1;
        }
        Ok(n)
    }

    fn handle(
        &mut self,
        line: &[u8],
        sink: &mut dyn FnMut(&ParsedRun, &Source, &KeyTable) -> Result<(), InputError>,
    ) -> Result<(), InputError> {
        let Some((kind, rest)) = scan::kind_of(line) else {
            // Any other well-formed `[HZ4_NAME] ...` line (a newer dump
            // line): known to be the allocator's, so neither a crash marker
            // nor a reason to reject the run.
            if is_hz4_tag(line) {
                return Ok(());
            }
            return self.other_line(line);
        };
        match kind {
            LineKind::Counters => self.counters_line(rest),
            LineKind::BenchArgs => {
                if !self.cur.before_bench() {
                    self.finish_run(sink)?;
                }
                self.bench_args_line(rest)
            }
            LineKind::Marker => {
                if !(self.cur.before_bench() && self.cur.marker.is_none()) {
                    self.finish_run(sink)?;
                }
                self.marker_line(rest)
            }
            LineKind::Throughput => self.throughput_line(rest),
            LineKind::EffectiveRemote => {
                let n = self.check_pairs(rest)?;
                self.touch();
                self.cur.effective_remote.clear();
                self.cur.effective_remote.extend_from_slice(rest);
                self.cur.effective_remote_words = n;
                Ok(())
            }
            LineKind::AllocFailures => self.alloc_failures_line(rest),
            LineKind::Corruption => self.corruption_line(rest),
            LineKind::RunStatus => self.run_status_line(line, rest),
            LineKind::Build => {
                let p = self.pairs(rest, true)?;
                if p.iter().any(|(k, v)| k == "HZ4_MID_STATS_B1" && v != "0") {
                    self.cur.stats_knob = true;
                }
                self.cur.build.extend(p);
                Ok(())
            }
            LineKind::MemStats => {
                let p = self.pairs(rest, false)?;
                self.touch();
                self.cur.mem_stats = p;
                Ok(())
            }
            LineKind::Fields(f) => self.field_line(f, rest),
        }
    }
}

/// `[HZ4_` + upper-case letters, digits or `_` + `]`.
fn is_hz4_tag(line: &[u8]) -> bool {
    let Some(rest) = line.strip_prefix(b"[HZ4_") else {
        return false;
    };
    match rest.iter().position(|&b| b == b']') {
        Some(end) if end > 0 => rest[..end]
            .iter()
            .all(|&b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_'),
        _ => false,
    }
}

/// `ops` agrees with `ops/s × time` within the printed rounding: with the
/// rate `R / 10^a` and the time `T / 10^b` each off by at most half a unit
/// of their last digit, `(R - ½)(T - ½) <= ops·10^(a+b) <= (R + ½)(T + ½)`,
/// checked in integers as `(2R-1)(2T-1) <= 4·ops·10^a·10^b <= (2R+1)(2T+1)`.
fn ops_agree(ops: u64, r: exact::Dec, t: exact::Dec) -> bool {
    use std::cmp::Ordering::*;
    let (Some(ea), Some(eb)) = (10u128.checked_pow(r.scale), 10u128.checked_pow(t.scale)) else {
        return true;
    };
    let mid = [4, ops as u128, ea, eb];
    let hi = [2 * r.mant + 1, 2 * t.mant + 1];
    if exact::cmp_products(&mid, &hi) == Greater {
        return false;
    }
    if r.mant == 0 || t.mant == 0 {
        return true;
    }
    let lo = [2 * r.mant - 1, 2 * t.mant - 1];
    exact::cmp_products(&lo, &mid) != Greater
}

/// Parses one source, calling `sink` for each run in order. Returns the
/// number of runs. `warnings` collects non-fatal notes.
pub(crate) fn parse_source(
    src: &Source,
    keys: &mut KeyTable,
    warnings: &mut Vec<String>,
    sink: &mut dyn FnMut(&ParsedRun, &Source, &KeyTable) -> Result<(), InputError>,
) -> Result<u64, InputError> {
    let io_err = |source| InputError::Io {
        file: src.name.clone(),
        source,
    };
    let r = match &src.path {
        None => open_reader(Box::new(io::stdin().lock())).map_err(io_err)?,
        Some(p) => open_reader(Box::new(File::open(p).map_err(io_err)?)).map_err(io_err)?,
    };
    parse_reader(src, r, keys, warnings, sink)
}

/// A buffered reader over `raw`, decompressing gzip (`1f 8b`) or zstd
/// (`28 b5 2f fd`) when the first bytes say so, whatever the file's name.
pub fn open_reader<'a>(raw: Box<dyn Read + 'a>) -> io::Result<Box<dyn BufRead + 'a>> {
    let mut r = BufReader::with_capacity(1 << 18, raw);
    let head = r.fill_buf()?;
    if head.starts_with(&[0x1f, 0x8b]) {
        let d = flate2::bufread::MultiGzDecoder::new(r);
        Ok(Box::new(BufReader::with_capacity(1 << 18, d)))
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        let d = zstd::stream::read::Decoder::with_buffer(r)?;
        Ok(Box::new(BufReader::with_capacity(1 << 18, d)))
    } else {
        Ok(Box::new(r))
    }
}

/// Parses any buffered reader as the source `src`.
pub(crate) fn parse_reader<R: BufRead>(
    src: &Source,
    mut r: R,
    keys: &mut KeyTable,
    warnings: &mut Vec<String>,
    sink: &mut dyn FnMut(&ParsedRun, &Source, &KeyTable) -> Result<(), InputError>,
) -> Result<u64, InputError> {
    let mut p = Parser {
        src,
        keys,
        warnings,
        stamp: Vec::new(),
        first: Vec::new(),
        gen: 1,
        hint: Vec::new(),
        cur: ParsedRun::default(),
        line: 0,
        cut: false,
        runs: 0,
    };
    let mut carry: Vec<u8> = Vec::new();
    let mut non_blank = false;
    let io_err = |source| InputError::Io {
        file: src.name.clone(),
        source,
    };
    scan::for_each_line(&mut r, &mut carry, io_err, |l| {
        p.line += 1;
        let line = match l {
            Line::Full(line) => line,
            Line::Last(line) => {
                p.cut = true;
                line
            }
            Line::TooLong => {
                return Err(InputError::Binary {
                    file: src.name.clone(),
                    line: p.line,
                    what: "line longer than 1 MiB",
                })
            }
        };
        if !non_blank && line.iter().any(|b| !b.is_ascii_whitespace()) {
            non_blank = true;
        }
        if p.cut {
            p.cut_line(line, sink)
        } else {
            p.handle(line, sink)
        }
    })?;
    if !non_blank {
        return Err(InputError::Empty {
            file: src.name.clone(),
        });
    }
    p.finish_run(sink)?;
    if p.runs == 0 {
        return Err(InputError::NoRuns {
            file: src.name.clone(),
        });
    }
    Ok(p.runs)
}

/// Reads every run of `inputs` into memory. Meant for small sets (the lab
/// runner, `show`); the reports stream instead (see [`crate::summarize_inputs`]).
/// Warnings go to the log (`tracing`); [`load_runs_warned`] returns them.
pub fn load_runs(inputs: &[String], opts: &LoadOptions) -> Result<Vec<Run>, InputError> {
    let (runs, warnings) = load_runs_warned(inputs, opts)?;
    for w in warnings {
        tracing::warn!("{w}");
    }
    Ok(runs)
}

/// [`load_runs`], also returning the warnings (same file twice, lane
/// disagreements, ...).
pub fn load_runs_warned(
    inputs: &[String],
    opts: &LoadOptions,
) -> Result<(Vec<Run>, Vec<String>), InputError> {
    let mut warnings = Vec::new();
    let sources = expand_inputs(inputs, opts, &mut warnings)?;
    let mut keys = KeyTable::new();
    let mut runs = Vec::new();
    for src in &sources {
        parse_source(src, &mut keys, &mut warnings, &mut |pr, s, k| {
            if pr.kept_by(opts.variant.as_deref()) {
                runs.push(pr.to_run(&s.name, k));
            }
            Ok(())
        })?;
    }
    Ok((runs, warnings))
}

/// Parses log text held in memory (tests, the lab runner). `name` is used in
/// messages and for the file-name lane rule.
pub fn parse_str(name: &str, text: &str, opts: &LoadOptions) -> Result<Vec<Run>, InputError> {
    parse_bytes(name, text.as_bytes(), opts)
}

/// Like [`parse_str`] for raw bytes (which may be anything).
pub fn parse_bytes(name: &str, bytes: &[u8], opts: &LoadOptions) -> Result<Vec<Run>, InputError> {
    let src = make_source(name.to_owned(), Some(PathBuf::from(name)), opts);
    let mut keys = KeyTable::new();
    let mut warnings = Vec::new();
    let mut runs = Vec::new();
    parse_reader(&src, bytes, &mut keys, &mut warnings, &mut |pr, s, k| {
        if pr.kept_by(opts.variant.as_deref()) {
            runs.push(pr.to_run(&s.name, k));
        }
        Ok(())
    })?;
    Ok(runs)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARGS: &str =
        "[BENCH_ARGS] threads=4 iters=10 ws=400 min=16 max=32768 remote_pct=50 ring_slots=65536\n";
    const TPUT: &str =
        "bench_random_mixed_mt_remote: threads=4 ops=2 time=1 ops/s=2\n[ALLOC_FAILURES] count=0\n";

    fn runs(text: &str) -> Vec<Run> {
        parse_str("t.log", text, &LoadOptions::default()).unwrap()
    }

    #[test]
    fn marker_build_and_args_make_one_run() {
        let t = format!("[HZ_LANE] name=main_r50 variant=base run=3\n[HZ4_BUILD] A=1 B\n{ARGS}[HZ4_MID_STATS_B1] x=1\n{TPUT}[HZ_RUN_STATUS] status=ok\n");
        let r = runs(&t);
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].variant.as_deref(), Some("base"));
        assert_eq!(r[0].run, Some(3));
        assert_eq!(
            r[0].build,
            [("A".into(), "1".into()), ("B".into(), String::new())]
        );
        // The [BENCH_ARGS] shape tells the lane first.
        assert_eq!(r[0].lane_source, LaneSource::BenchArgs);
        assert!(r[0].bench_args.is_some());
        assert!(r[0].incomplete.is_none());
        assert!(r[0].stats_build);
    }

    #[test]
    fn boundaries() {
        // Two [BENCH_ARGS]: two runs.
        assert_eq!(runs(&format!("{ARGS}{TPUT}{ARGS}{TPUT}")).len(), 2);
        // A marker after a complete run starts the next one.
        let t =
            format!("{ARGS}{TPUT}[HZ_LANE] name=main_r50\n{ARGS}{TPUT}[HZ_RUN_STATUS] status=ok\n");
        let r = runs(&t);
        assert_eq!(r.len(), 2);
        assert_eq!(r[1].lane, "main_r50");
        assert!(r[1].incomplete.is_none());
        // Two markers in a row: the first run has no closing line.
        let t = format!("[HZ_LANE] name=main_r0\n[HZ_LANE] name=main_r0\n{ARGS}{TPUT}[HZ_RUN_STATUS] status=ok\n");
        let r = runs(&t);
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].instabilities()[0].kind, InstabilityKind::Incomplete);
        // A run cut after its throughput line is incomplete, not a crash.
        let r = runs(&format!(
            "{ARGS}bench_random_mixed_mt_remote: threads=4 ops=2 time=1 ops/s=2\n"
        ));
        assert_eq!(r[0].instabilities()[0].kind, InstabilityKind::Incomplete);
        // A crash line after the dump belongs to that run.
        let t = format!("{ARGS}{TPUT}Segmentation fault (core dumped)\n{ARGS}{TPUT}");
        let r = runs(&t);
        assert_eq!(r[0].crash_lines.len(), 1);
        assert_eq!(r[0].crash_lines[0].location.line, 4);
        assert!(r[1].crash_lines.is_empty());
        // Unrelated text alone is not a run.
        let r = runs(&format!("hello\n{ARGS}{TPUT}bye\n"));
        assert_eq!(r.len(), 1);
    }

    #[test]
    fn corruption_is_a_stability_failure() {
        let t = format!(
            "{ARGS}{TPUT}[ALLOC_FAILURES] count=0\n[RSS] max_rss_kb=100\n[CORRUPTION] count=2\n"
        );
        let r = runs(&t);
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].corruption, Some(2));
        assert_eq!(r[0].instabilities()[0].kind, InstabilityKind::Corruption);
        let s = crate::summarize(&r);
        assert_eq!(s.unstable_runs(), 1);
    }

    #[test]
    fn lab_run_status_other_than_ok_is_a_stability_failure() {
        let ok = runs(&format!(
            "{ARGS}{TPUT}[HZ_RUN_STATUS] status=ok exit=0 wall_ms=10\n"
        ));
        assert!(ok[0].crash_lines.is_empty());
        for st in [
            "crashed signal=6",
            "timeout",
            "exit_nonzero exit=3",
            "alloc_failures",
        ] {
            let r = runs(&format!("{ARGS}{TPUT}[HZ_RUN_STATUS] status={st}\n"));
            assert_eq!(r[0].crash_lines.len(), 1, "{st}");
            assert_eq!(crate::summarize(&r).unstable_runs(), 1, "{st}");
        }
        // A crash before the throughput line: one run, unstable.
        let r = runs(&format!("{ARGS}[HZ_RUN_STATUS] status=crashed signal=11\n"));
        assert_eq!(crate::summarize(&r).unstable_runs(), 1);
    }

    #[test]
    fn crlf_and_tabs() {
        let t = format!(
            "{}\r\n[HZ4_MID_STATS_B1]\tx=1\t y=2\r\n{TPUT}",
            ARGS.trim_end()
        );
        let r = runs(&t);
        assert_eq!(r[0].counters["y"], 2);
    }
}
