//! The work order's four benchmark lanes, declared once.
//!
//! The bench runner imports [`LANES`] from here so that lane shapes live in a
//! single place.

use serde::Serialize;

/// Arguments of `bench_random_mixed_mt_remote`, in the order the bench takes
/// them: `threads iters ws min max remote_pct ring_slots`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct BenchArgs {
    /// Number of worker threads.
    pub threads: u64,
    /// Iterations per thread.
    pub iters: u64,
    /// Working-set slots per thread.
    pub ws: u64,
    /// Smallest allocation size in bytes.
    pub min: u64,
    /// Largest allocation size in bytes.
    pub max: u64,
    /// Percentage of frees sent to another thread.
    pub remote_pct: u64,
    /// Slots of each remote-free ring.
    pub ring_slots: u64,
}

/// The `[BENCH_ARGS]` field names, in the order of [`BenchArgs::to_argv`].
pub const ARG_NAMES: [&str; 7] = [
    "threads",
    "iters",
    "ws",
    "min",
    "max",
    "remote_pct",
    "ring_slots",
];

impl BenchArgs {
    /// The seven arguments as the bench's command line takes them.
    pub fn to_argv(&self) -> [u64; 7] {
        [
            self.threads,
            self.iters,
            self.ws,
            self.min,
            self.max,
            self.remote_pct,
            self.ring_slots,
        ]
    }

    /// True when `self` has the same shape as `other`.
    ///
    /// The shape is `ws`, `min`, `max`, `remote_pct` and `ring_slots`;
    /// `threads` and `iters` are ignored because the lab runs scaled-down
    /// iteration counts and other thread counts of the same lane.
    pub fn same_shape(&self, other: &BenchArgs) -> bool {
        self.ws == other.ws
            && self.min == other.min
            && self.max == other.max
            && self.remote_pct == other.remote_pct
            && self.ring_slots == other.ring_slots
    }
}

/// One lane of the work order: a name and its bench arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Lane {
    /// Lane name as used in file names, `[HZ_LANE] name=` and reports.
    pub name: &'static str,
    /// The work order's bench arguments for this lane.
    pub args: BenchArgs,
}

const fn lane(name: &'static str, a: [u64; 7]) -> Lane {
    Lane {
        name,
        args: BenchArgs {
            threads: a[0],
            iters: a[1],
            ws: a[2],
            min: a[3],
            max: a[4],
            remote_pct: a[5],
            ring_slots: a[6],
        },
    }
}

/// The four lanes of the B77 work order, in report order.
pub const LANES: [Lane; 4] = [
    lane(GUARD_R0, [16, 1_200_000, 400, 16, 2048, 0, 65536]),
    lane(MAIN_R0, [16, 1_200_000, 400, 16, 32768, 0, 65536]),
    lane(MAIN_R50, [16, 1_200_000, 400, 16, 32768, 50, 65536]),
    lane(CROSS128_R90, [16, 400_000, 400, 16, 131072, 90, 65536]),
];

/// Name of the small-size guard lane.
pub const GUARD_R0: &str = "guard_r0";
/// Name of the local-only mid lane.
pub const MAIN_R0: &str = "main_r0";
/// Name of the 50 % remote mid lane.
pub const MAIN_R50: &str = "main_r50";
/// Name of the 90 % remote lane up to 128 KiB.
pub const CROSS128_R90: &str = "cross128_r90";

/// Lane name under which runs whose shape or marker names no lane are
/// filed: shown, counted for stability, and read by no decision.
pub const UNKNOWN_LANE: &str = "unknown";

/// The four lane names, comma-separated, for messages.
pub fn lane_names() -> String {
    LANES.iter().map(|l| l.name).collect::<Vec<_>>().join(", ")
}

/// `threads=.. iters=.. ws=.. min=.. max=.. remote_pct=.. ring_slots=..`.
pub fn args_text(a: &BenchArgs) -> String {
    format!(
        "threads={} iters={} ws={} min={} max={} remote_pct={} ring_slots={}",
        a.threads, a.iters, a.ws, a.min, a.max, a.remote_pct, a.ring_slots
    )
}

/// The fields where `a` and `b` differ, as `name=a/b` words.
pub fn args_diff(a: &BenchArgs, b: &BenchArgs) -> Vec<String> {
    let (x, y) = (a.to_argv(), b.to_argv());
    ARG_NAMES
        .iter()
        .zip(x.iter().zip(y.iter()))
        .filter(|(_, (p, q))| p != q)
        .map(|(n, (p, q))| format!("{n}={p} vs {n}={q}"))
        .collect()
}

/// The lane whose shape matches `args` (threads and iters ignored).
pub fn lane_for_args(args: &BenchArgs) -> Option<&'static Lane> {
    LANES.iter().find(|l| l.args.same_shape(args))
}

/// Looks a lane up by name.
pub fn lane_by_name(name: &str) -> Option<&'static Lane> {
    LANES.iter().find(|l| l.name == name)
}

/// The lane whose name starts the file name `file_name` (the longest match,
/// followed by a non-alphanumeric character or the end), e.g.
/// `main_r50_run1_hz4c.log` gives `main_r50`.
pub fn lane_for_file_name(file_name: &str) -> Option<&'static Lane> {
    LANES
        .iter()
        .filter(|l| {
            file_name.starts_with(l.name)
                && file_name[l.name.len()..]
                    .chars()
                    .next()
                    .is_none_or(|c| !c.is_ascii_alphanumeric())
        })
        .max_by_key(|l| l.name.len())
}

/// Position of a lane name in report order: the four work-order lanes first,
/// then other names alphabetically.
pub fn lane_order(name: &str) -> (usize, &str) {
    let pos = LANES
        .iter()
        .position(|l| l.name == name)
        .unwrap_or(LANES.len());
    (pos, name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_are_distinct() {
        for (i, a) in LANES.iter().enumerate() {
            for b in &LANES[i + 1..] {
                assert!(!a.args.same_shape(&b.args), "{} vs {}", a.name, b.name);
            }
        }
    }

    #[test]
    fn shape_ignores_threads_and_iters() {
        let mut a = LANES[2].args;
        a.threads = 4;
        a.iters = 1000;
        assert_eq!(lane_for_args(&a).map(|l| l.name), Some(MAIN_R50));
        a.remote_pct = 49;
        assert!(lane_for_args(&a).is_none());
    }

    #[test]
    fn file_names() {
        let n = |s| lane_for_file_name(s).map(|l| l.name);
        assert_eq!(n("main_r50_run1_hz4c.log"), Some(MAIN_R50));
        assert_eq!(n("main_r0.log"), Some(MAIN_R0));
        assert_eq!(n("main_r0x.log"), None);
        assert_eq!(n("cross128_r90"), Some(CROSS128_R90));
        assert_eq!(n("run_main_r0.log"), None);
    }
}
