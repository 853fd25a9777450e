//! The byte-level scanner under the parser: lines out of a reader, the table
//! of line kinds, and the fields of a line.
//!
//! Everything here works on bytes and allocates nothing per line:
//!
//! - [`for_each_line`] hands out lines straight from the reader's buffer
//!   (`memchr` for the newline); only a line that straddles two buffer
//!   fills is copied, into one reused buffer.
//! - [`LINE_KINDS`] says which tag starts which kind of line; the parser
//!   matches a line against it once.
//! - [`Fields`] walks `key=value` fields; [`Fields::next_expected`] is the
//!   fast path of the counter lines: the key the previous run had at this
//!   position is compared in place and the digits are read in the same pass,
//!   so most fields cost one compare and one digit loop, without searching
//!   for the separator, hashing the key or checking UTF-8.
//!
//! The meaning of each line (runs, errors with `file:line`) stays in
//! [`crate::parse`].

use std::io::{self, BufRead};

/// Lines longer than this are taken as binary data.
pub const MAX_LINE: usize = 1 << 20;

/// Prefix of the throughput line.
pub const THROUGHPUT_PREFIX: &[u8] = b"bench_random_mixed_mt_remote:";

/// The kinds of line the parser gives a meaning to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineKind {
    /// `[HZ4_MID_STATS_B1]` / `[HZ4_MID_LOCK_STATS]`: allocator counters,
    /// any keys, summed per lane.
    Counters,
    /// `[BENCH_ARGS]`: starts a run; the fields of [`crate::lanes::ARG_NAMES`].
    BenchArgs,
    /// `[HZ_LANE]`: the lab's run marker (name, variant, run).
    Marker,
    /// The bench's throughput line (`ops/s=` and friends).
    Throughput,
    /// `[EFFECTIVE_REMOTE]`: key=value text, kept as written.
    EffectiveRemote,
    /// `[ALLOC_FAILURES] count=N`: the closing line of a bench run.
    AllocFailures,
    /// `[CORRUPTION] count=N`: the bench found a damaged block.
    Corruption,
    /// `[HZ_RUN_STATUS] status=S`: the lab's closing line of a run.
    RunStatus,
    /// `[HZ4_BUILD]`: the build's knobs (bare words allowed).
    Build,
    /// `[HZ4_MEM_STATS]`: key=value text, kept as written.
    MemStats,
    /// A line of `key=integer` fields with a fixed key list, kept per run
    /// in [`crate::model::Run::fields`] (see [`FIELD_LINES`]).
    Fields(&'static FieldLine),
}

/// A line kind made only of `key=integer` fields with a fixed key list.
/// Declaring one in [`FIELD_LINES`] is all it takes to read a new line of
/// this shape: the parser checks every listed key is there once, as an
/// integer, and keeps the values in the run under `TAG.key`.
#[derive(Debug, PartialEq, Eq)]
pub struct FieldLine {
    /// The tag that starts the line, e.g. `[HZ_RUSAGE]`.
    pub tag: &'static str,
    /// The keys, each required; other keys on the line are ignored.
    pub keys: &'static [&'static str],
}

/// Line kinds of fixed integer fields beyond the ones the decisions read.
/// Add an entry here for a new one (e.g. a `[HZ_RUSAGE] utime_us=...` line
/// with its six keys).
pub const FIELD_LINES: &[FieldLine] = &[];

/// Tag → kind, most frequent first. The throughput line is recognised by
/// [`THROUGHPUT_PREFIX`], every other kind by its tag.
pub const LINE_KINDS: &[(&[u8], LineKind)] = &[
    (b"[HZ4_MID_STATS_B1]", LineKind::Counters),
    (b"[HZ4_MID_LOCK_STATS]", LineKind::Counters),
    (b"[BENCH_ARGS]", LineKind::BenchArgs),
    (b"[EFFECTIVE_REMOTE]", LineKind::EffectiveRemote),
    (b"[ALLOC_FAILURES]", LineKind::AllocFailures),
    (b"[HZ_LANE]", LineKind::Marker),
    (b"[HZ_RUN_STATUS]", LineKind::RunStatus),
    (b"[CORRUPTION]", LineKind::Corruption),
    (b"[HZ4_BUILD]", LineKind::Build),
    (b"[HZ4_MEM_STATS]", LineKind::MemStats),
];

/// The kind of `line` and the text after its tag, or `None` for a line the
/// parser gives no meaning to (crash markers are looked for there).
#[inline]
pub fn kind_of(line: &[u8]) -> Option<(LineKind, &[u8])> {
    if line.first() != Some(&b'[') {
        return line
            .strip_prefix(THROUGHPUT_PREFIX)
            .map(|rest| (LineKind::Throughput, rest));
    }
    for &(tag, kind) in LINE_KINDS {
        if let Some(rest) = line.strip_prefix(tag) {
            return Some((kind, rest));
        }
    }
    FIELD_LINES.iter().find_map(|f| {
        line.strip_prefix(f.tag.as_bytes())
            .map(|rest| (LineKind::Fields(f), rest))
    })
}

/// One line as [`for_each_line`] hands it out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Line<'a> {
    /// A line that ended with `\n` (the newline and a `\r` before it taken
    /// off).
    Full(&'a [u8]),
    /// The last line of the input, without a newline (`\r` taken off).
    Last(&'a [u8]),
    /// A line longer than [`MAX_LINE`]: the input is not a text log.
    TooLong,
}

fn strip_cr(l: &[u8]) -> &[u8] {
    l.strip_suffix(b"\r").unwrap_or(l)
}

/// Calls `f` on every line of `r`, in order, stopping at the first error
/// (of `f`, or of reading, turned into `E` by `io_err`). After
/// [`Line::TooLong`] no further line is read. `carry` is the reused buffer
/// for lines that straddle two fills of the reader's buffer.
pub fn for_each_line<R: BufRead + ?Sized, E>(
    r: &mut R,
    carry: &mut Vec<u8>,
    io_err: impl Fn(io::Error) -> E,
    mut f: impl FnMut(Line<'_>) -> Result<(), E>,
) -> Result<(), E> {
    carry.clear();
    loop {
        let avail = match r.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(io_err(e)),
        };
        if avail.is_empty() {
            if !carry.is_empty() {
                f(Line::Last(strip_cr(carry)))?;
            }
            return Ok(());
        }
        let total = avail.len();
        let mut start = 0;
        if !carry.is_empty() {
            // Finish the line begun in the previous fill.
            match memchr::memchr(b'\n', avail) {
                Some(i) if carry.len() + i <= MAX_LINE => {
                    carry.extend_from_slice(&avail[..i]);
                    f(Line::Full(strip_cr(carry)))?;
                    carry.clear();
                    start = i + 1;
                }
                Some(_) => return f(Line::TooLong),
                None if carry.len() + total > MAX_LINE => return f(Line::TooLong),
                None => {
                    carry.extend_from_slice(avail);
                    r.consume(total);
                    continue;
                }
            }
        }
        let mut rest = &avail[start..];
        while let Some(i) = memchr::memchr(b'\n', rest) {
            if i > MAX_LINE {
                return f(Line::TooLong);
            }
            f(Line::Full(strip_cr(&rest[..i])))?;
            rest = &rest[i + 1..];
        }
        if rest.len() > MAX_LINE {
            return f(Line::TooLong);
        }
        carry.extend_from_slice(rest);
        r.consume(total);
    }
}

/// Space or tab: the field separators.
#[inline]
fn is_sep(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// The space- or tab-separated words of `s` (empty words skipped).
#[inline]
pub fn tokens(s: &[u8]) -> Fields<'_> {
    Fields { s, pos: 0 }
}

/// A cursor over the space- or tab-separated words of a line.
#[derive(Debug, Clone)]
pub struct Fields<'a> {
    s: &'a [u8],
    pos: usize,
}

impl<'a> Fields<'a> {
    /// Skips separators; false at the end of the line.
    #[inline]
    fn skip_sep(&mut self) -> bool {
        while let Some(&b) = self.s.get(self.pos) {
            if !is_sep(b) {
                return true;
            }
            self.pos += 1;
        }
        false
    }

    /// True when no word is left.
    #[inline]
    pub fn at_end(&mut self) -> bool {
        !self.skip_sep()
    }

    /// The fast path of a counter line: when the next word is exactly
    /// `key=DIGITS` (at most 19 digits, so no overflow is possible), steps
    /// over it and returns the value. Otherwise leaves the cursor where it
    /// was and returns `None`; the caller then reads the word with
    /// [`Iterator::next`], which keeps every error message as it was.
    #[inline]
    pub fn next_expected(&mut self, key: &[u8]) -> Option<u64> {
        if !self.skip_sep() {
            return None;
        }
        let s = self.s;
        let at = self.pos;
        let eq = at + key.len();
        if s.get(eq) != Some(&b'=') || !eq_bytes(&s[at..eq], key) {
            return None;
        }
        let digits = eq + 1;
        let mut j = digits;
        let mut v: u64 = 0;
        while let Some(&b) = s.get(j) {
            let d = b.wrapping_sub(b'0');
            if d > 9 {
                if !is_sep(b) {
                    return None;
                }
                break;
            }
            if j - digits == 19 {
                // A 20th digit may overflow: the slow path decides.
                return None;
            }
            v = v * 10 + d as u64;
            j += 1;
        }
        if j == digits {
            return None;
        }
        self.pos = j;
        Some(v)
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = &'a [u8];

    #[inline]
    fn next(&mut self) -> Option<&'a [u8]> {
        if !self.skip_sep() {
            return None;
        }
        let rest = &self.s[self.pos..];
        let end = memchr::memchr2(b' ', b'\t', rest).unwrap_or(rest.len());
        self.pos += end;
        Some(&rest[..end])
    }
}

/// `a == b` for short keys, compared eight bytes at a time in place (the
/// library `memcmp` call costs more than the compare at these lengths).
#[inline]
fn eq_bytes(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut ca = a.chunks_exact(8);
    let mut cb = b.chunks_exact(8);
    for (x, y) in (&mut ca).zip(&mut cb) {
        let x = u64::from_ne_bytes([x[0], x[1], x[2], x[3], x[4], x[5], x[6], x[7]]);
        let y = u64::from_ne_bytes([y[0], y[1], y[2], y[3], y[4], y[5], y[6], y[7]]);
        if x != y {
            return false;
        }
    }
    ca.remainder() == cb.remainder()
}

/// `key=value` with both parts non-empty, split at the first `=`.
#[inline]
pub fn split_kv(tok: &[u8]) -> Option<(&[u8], &[u8])> {
    let eq = memchr::memchr(b'=', tok)?;
    let (k, v) = (&tok[..eq], &tok[eq + 1..]);
    (!k.is_empty() && !v.is_empty()).then_some((k, v))
}

/// Why a word is not a `u64`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NumErr {
    /// Empty, or a byte that is not a decimal digit.
    NotNumber,
    /// More than `u64::MAX`.
    Overflow,
}

/// Decimal digits to `u64`, checked; no sign, no spaces, no UTF-8 step.
#[inline]
pub fn parse_u64(s: &[u8]) -> Result<u64, NumErr> {
    if s.is_empty() {
        return Err(NumErr::NotNumber);
    }
    let mut v: u64 = 0;
    for &b in s {
        let d = b.wrapping_sub(b'0');
        if d > 9 {
            return Err(NumErr::NotNumber);
        }
        v = v
            .checked_mul(10)
            .and_then(|v| v.checked_add(d as u64))
            .ok_or(NumErr::Overflow)?;
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(input: &[u8], cap: usize) -> Vec<String> {
        let mut r = io::BufReader::with_capacity(cap, input);
        let mut out = Vec::new();
        let mut carry = Vec::new();
        let res: Result<(), ()> = for_each_line(
            &mut r,
            &mut carry,
            |_| (),
            |l| {
                out.push(match l {
                    Line::Full(b) => format!("F:{}", String::from_utf8_lossy(b)),
                    Line::Last(b) => format!("L:{}", String::from_utf8_lossy(b)),
                    Line::TooLong => "TooLong".into(),
                });
                Ok(())
            },
        );
        res.unwrap();
        out
    }

    #[test]
    fn lines_across_buffer_fills() {
        let text = b"alpha\r\nbeta gamma\n\nlast";
        let want = ["F:alpha", "F:beta gamma", "F:", "L:last"];
        // Every buffer size, so each line straddles a fill somewhere.
        for cap in 1..=text.len() + 1 {
            assert_eq!(lines(text, cap), want, "capacity {cap}");
        }
        assert_eq!(lines(b"", 8), Vec::<String>::new());
        assert_eq!(lines(b"x\n", 1), ["F:x"]);
    }

    #[test]
    fn over_long_line_stops_the_reading() {
        let mut text = vec![b'a'; MAX_LINE + 1];
        text.extend_from_slice(b"\nnext\n");
        for cap in [1 << 12, 1 << 18, 1 << 21] {
            assert_eq!(lines(&text, cap), ["TooLong"], "capacity {cap}");
        }
        let mut ok = vec![b'a'; MAX_LINE];
        ok.push(b'\n');
        assert_eq!(lines(&ok, 1 << 12).len(), 1);
        assert_eq!(lines(&vec![b'a'; MAX_LINE + 1], 1 << 12), ["TooLong"]);
    }

    #[test]
    fn expected_key_fast_path() {
        let mut f = tokens(b" a=12\tbb=3 a=x c=1 d=12345678901234567890 e=5=");
        assert_eq!(f.next_expected(b"a"), Some(12));
        assert_eq!(f.next_expected(b"b"), None);
        assert_eq!(f.next_expected(b"bb"), Some(3));
        // Not digits: left for the slow path, cursor unmoved.
        assert_eq!(f.next_expected(b"a"), None);
        assert_eq!(f.next(), Some(&b"a=x"[..]));
        assert_eq!(f.next_expected(b"c"), Some(1));
        // Twenty digits: the slow path decides about the overflow.
        assert_eq!(f.next_expected(b"d"), None);
        assert_eq!(f.next(), Some(&b"d=12345678901234567890"[..]));
        assert_eq!(f.next_expected(b"e"), None);
        assert_eq!(f.next(), Some(&b"e=5="[..]));
        assert!(f.at_end());
        assert_eq!(f.next_expected(b"e"), None);
    }

    #[test]
    fn kinds() {
        assert_eq!(
            kind_of(b"[HZ4_MID_LOCK_STATS] a=1"),
            Some((LineKind::Counters, &b" a=1"[..]))
        );
        assert_eq!(
            kind_of(b"bench_random_mixed_mt_remote: ops=1").map(|k| k.0),
            Some(LineKind::Throughput)
        );
        assert_eq!(kind_of(b"[HZ4_OTHER] a=1"), None);
        assert_eq!(kind_of(b"hello"), None);
        assert!(eq_bytes(
            b"malloc_owner_local_stack",
            b"malloc_owner_local_stack"
        ));
        assert!(!eq_bytes(
            b"malloc_owner_local_stacK",
            b"malloc_owner_local_stack"
        ));
        assert!(!eq_bytes(b"abc", b"abcd"));
    }
}
