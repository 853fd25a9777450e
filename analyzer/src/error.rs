//! Error types, one per stage. Every message is a single line naming the
//! file and line (input errors) or the flag (usage errors).

use thiserror::Error;

/// A problem with an input log. Exit status 2.
#[derive(Debug, Error)]
pub enum InputError {
    /// The file or directory could not be read.
    #[error("{file}: cannot read: {source}")]
    Io {
        /// Path as given.
        file: String,
        /// Underlying I/O error.
        source: std::io::Error,
    },
    /// The file holds no bytes (or only blank lines).
    #[error("{file}: empty file")]
    Empty {
        /// Path as given.
        file: String,
    },
    /// A directory holds no `*.log` file.
    #[error("{dir}: directory holds no *.log file")]
    NoLogs {
        /// Directory as given.
        dir: String,
    },
    /// The file holds text, but none of the dump lines.
    #[error("{file}: no dump lines ([BENCH_ARGS], [HZ4_MID_STATS_B1], throughput, ...) found")]
    NoRuns {
        /// Path as given.
        file: String,
    },
    /// A NUL byte or an over-long line: not a text log.
    #[error("{file}:{line}: binary data ({what}); not a text log")]
    Binary {
        /// Path as given.
        file: String,
        /// 1-based line number.
        line: u64,
        /// What gave it away.
        what: &'static str,
    },
    /// A recognised line is missing part of its content.
    #[error("{file}:{line}: truncated line: {what}")]
    Truncated {
        /// Path as given.
        file: String,
        /// 1-based line number.
        line: u64,
        /// What is missing.
        what: String,
    },
    /// A value is not a number of the expected kind.
    #[error("{file}:{line}: `{key}={value}`: not a {expected}")]
    BadNumber {
        /// Path as given.
        file: String,
        /// 1-based line number.
        line: u64,
        /// Key of the field.
        key: String,
        /// Offending value (cut to 40 bytes).
        value: String,
        /// "non-negative integer" or "number".
        expected: &'static str,
    },
    /// An integer does not fit in 64 bits.
    #[error("{file}:{line}: `{key}={value}`: value overflows u64")]
    Overflow {
        /// Path as given.
        file: String,
        /// 1-based line number.
        line: u64,
        /// Key of the field.
        key: String,
        /// Offending value (cut to 40 bytes).
        value: String,
    },
    /// The same key appears twice in one dump with different values.
    #[error("{file}:{line}: duplicated key `{key}` in one dump: {second} here, {first} at line {first_line}")]
    Duplicate {
        /// Path as given.
        file: String,
        /// Line of the second occurrence.
        line: u64,
        /// The key.
        key: String,
        /// First value.
        first: String,
        /// Second value.
        second: String,
        /// Line of the first occurrence.
        first_line: u64,
    },
    /// Text that is not UTF-8 inside a recognised line.
    #[error("{file}:{line}: recognised line is not valid UTF-8")]
    NotUtf8 {
        /// Path as given.
        file: String,
        /// 1-based line number.
        line: u64,
    },
    /// No rule could tell the lane of a run.
    #[error("{file}:{line}: cannot tell the lane of the run starting here (no [BENCH_ARGS], no [HZ_LANE] marker, file name starts with no lane name); pass --lane NAME=PATH")]
    UnknownLane {
        /// Path as given.
        file: String,
        /// First line of the run.
        line: u64,
    },
}

/// Inputs that cannot be compared (sides of `gates`/`verdict`). Exit
/// status 2; the message names a file of each side.
#[derive(Debug, Error)]
#[error("{0}")]
pub struct SidesError(pub String);

/// A bad flag or flag combination. Exit status 2.
#[derive(Debug, Error)]
pub enum UsageError {
    /// A flag value is outside its allowed range.
    #[error("{flag}: {problem}")]
    BadValue {
        /// The flag, e.g. `--lane`.
        flag: &'static str,
        /// What is wrong and how to fix it.
        problem: String,
    },
    /// The archive note could not be written.
    #[error("--archive {dir}: cannot write: {source}")]
    Archive {
        /// Directory as given.
        dir: String,
        /// Underlying I/O error.
        source: std::io::Error,
    },
}

/// Cuts a value for an error message.
pub(crate) fn clip(bytes: &[u8]) -> String {
    let s = String::from_utf8_lossy(&bytes[..bytes.len().min(40)]).into_owned();
    if bytes.len() > 40 {
        format!("{s}...")
    } else {
        s
    }
}
