//! Comparable sides for `gates` and `verdict`: each side one build (one
//! variant), no file on both sides, no stats build timed, and per lane the
//! same `[BENCH_ARGS]` on every side.

use std::collections::BTreeSet;

use crate::error::SidesError;
use crate::lanes::{self, LANES};
use crate::model::Summary;
use crate::parse;

/// One side: its flag (`--base`), its summary, and whether a
/// `--X-variant` filter selected it.
pub struct Side<'a> {
    /// Flag naming the side, e.g. `--base`.
    pub flag: &'static str,
    /// Its runs, pooled.
    pub summary: &'a Summary,
    /// True when `--X-variant` chose the runs.
    pub filtered: bool,
    /// A timing side (base, var, A/A): no stats build unless allowed.
    pub timing: bool,
}

fn variants(s: &Summary) -> BTreeSet<&str> {
    s.lanes
        .values()
        .flat_map(|l| l.variants.iter().map(String::as_str))
        .collect()
}

fn same_file(a: &parse::FileKey, b: &parse::FileKey) -> bool {
    if a.dev != 0 || a.ino != 0 {
        if a.same_file(b) {
            return true;
        }
        if a.size == b.size {
            return parse::same_content(a.name.as_ref(), b.name.as_ref()).unwrap_or(false);
        }
        return false;
    }
    a.name == b.name
}

/// Checks the sides; the first problem is the error.
pub fn check(sides: &[Side<'_>], allow_stats_timing: bool) -> Result<(), SidesError> {
    for s in sides {
        let v = variants(s.summary);
        if !s.filtered && v.len() > 1 {
            let names: Vec<&str> = v.into_iter().collect();
            return Err(SidesError(format!(
                "{}: runs of several variants ({}) on one side; choose one with {}-variant NAME",
                s.flag,
                names.join(", "),
                s.flag
            )));
        }
    }
    for (i, a) in sides.iter().enumerate() {
        for b in &sides[i + 1..] {
            if !(a.timing && b.timing) || b.flag == "--aa" {
                continue;
            }
            for x in &a.summary.contributing {
                if let Some(y) = b.summary.contributing.iter().find(|y| same_file(x, y)) {
                    let shown = if x.name == y.name {
                        x.name.clone()
                    } else {
                        format!("{} and {}", x.name, y.name)
                    };
                    return Err(SidesError(format!(
                        "{} and {} hold the same file: {shown}; give each side its own runs \
                         (one lab directory splits with --base-variant/--var-variant)",
                        a.flag, b.flag
                    )));
                }
            }
        }
    }
    if let [base, var, ..] = sides {
        let (vb, vv) = (variants(base.summary), variants(var.summary));
        if vb.len() == 1 && vv.len() == 1 && vb.contains("var") && vv.contains("base") {
            return Err(SidesError(format!(
                "{} holds variant `var` and {} holds variant `base`: sides swapped?",
                base.flag, var.flag
            )));
        }
    }
    if !allow_stats_timing {
        for s in sides.iter().filter(|s| s.timing) {
            if let Some(loc) = &s.summary.first_stats_run {
                return Err(SidesError(format!(
                    "{}: {loc} is a stats build (counter lines or HZ4_MID_STATS_B1=1), whose \
                     timing is not the build's; pass --allow-stats-timing to use it anyway",
                    s.flag
                )));
            }
        }
    }
    for lane in LANES.iter().map(|l| l.name) {
        let mut first: Option<(&str, &crate::lanes::BenchArgs, &crate::model::Location)> = None;
        for s in sides.iter().filter(|s| s.timing) {
            let Some(l) = s.summary.lanes.get(lane) else {
                continue;
            };
            for (args, loc) in &l.bench_args {
                match first {
                    None => first = Some((s.flag, args, loc)),
                    Some((flag, a0, loc0)) if a0 != args => {
                        let fields = lanes::args_diff(a0, args).join(", ");
                        let what = if flag == s.flag {
                            format!("{flag} holds runs with different [BENCH_ARGS]")
                        } else {
                            format!("{flag} and {} ran different [BENCH_ARGS]", s.flag)
                        };
                        return Err(SidesError(format!(
                            "{lane}: {what} ({fields}): {loc0} and {loc}"
                        )));
                    }
                    Some(_) => {}
                }
            }
        }
    }
    Ok(())
}
