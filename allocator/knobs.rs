// The one table of build-time knobs, and the parser/validator for
// `HZ4_DEFS_EXTRA`.
//
// This file is shared by `build.rs` (through `include!`) and by the crate's
// unit tests (through `#[path]`), so it uses only `std` and defines no crate
// paths. Everything else about knobs -- the generated constants, the guards,
// the `[HZ4_BUILD]` line, the README table check -- is derived from `KNOBS`.

/// One build-time knob.
#[derive(Debug, Clone, Copy)]
pub struct Knob {
    /// Macro name as written in `HZ4_DEFS_EXTRA` (`-DNAME=VALUE`).
    pub name: &'static str,
    /// Value when the knob is not given.
    pub default: u64,
    /// Smallest allowed value.
    pub min: u64,
    /// Largest allowed value.
    pub max: u64,
    /// The value must be a power of two.
    pub pow2: bool,
    /// Knobs that must be non-zero when this one is non-zero.
    pub requires: &'static [&'static str],
    /// One-line meaning, shown in docs and error messages.
    pub doc: &'static str,
}

const fn flag(name: &'static str, requires: &'static [&'static str], doc: &'static str) -> Knob {
    Knob {
        name,
        default: 0,
        min: 0,
        max: 1,
        pow2: false,
        requires,
        doc,
    }
}

const fn int(name: &'static str, default: u64, min: u64, max: u64, doc: &'static str) -> Knob {
    Knob {
        name,
        default,
        min,
        max,
        pow2: false,
        requires: &[],
        doc,
    }
}

/// Every knob the allocator understands, in the order the `[HZ4_BUILD]` line prints them.
pub const KNOBS: &[Knob] = &[
    Knob {
        name: "HZ4_MID_OWNER_REMOTE_QUEUE_BOX",
        default: 1,
        min: 0,
        max: 1,
        pow2: false,
        requires: &[],
        doc: "mid frees by a non-owner go to the page's lock-free remote queue (0: through the size-class lock)",
    },
    int(
        "HZ4_MID_OWNER_REMOTE_DRAIN_THRESHOLD",
        16,
        1,
        65535,
        "owner drains a mid page's remote queue once remote_count reaches this",
    ),
    Knob {
        name: "HZ4_MID_OWNER_REMOTE_DRAIN_PERIOD",
        default: 64,
        min: 1,
        max: 65536,
        pow2: true,
        requires: &[],
        doc: "owner also drains a non-empty remote queue every N mid mallocs (power of two)",
    },
    Knob {
        name: "HZ4_MID_LOCK_SHARDS",
        default: 16,
        min: 1,
        max: 256,
        pow2: true,
        requires: &[],
        doc: "number of size-class lock shards guarding the global page bins (power of two)",
    },
    flag(
        "HZ4_MID_OWNER_LOCAL_STACK_BOX",
        &["HZ4_MID_OWNER_REMOTE_QUEUE_BOX"],
        "B57: per-thread per-class stack of recently freed mid objects of owned pages",
    ),
    int(
        "HZ4_MID_OWNER_LOCAL_STACK_SLOTS",
        16,
        4,
        255,
        "B57: slots of each owner local stack",
    ),
    int(
        "HZ4_MID_OWNER_LOCAL_STACK_SC_MAX",
        255,
        8,
        255,
        "B57: largest mid size class (index (size-1)/256) that uses the stack",
    ),
    int(
        "HZ4_MID_OWNER_LOCAL_STACK_STAGE",
        1,
        0,
        64,
        "B57: objects the lock path stages from a page it takes into the stack (malloc-side push)",
    ),
    flag(
        "HZ4_MID_OWNER_LOCAL_STACK_REMOTE_GATE",
        &["HZ4_MID_OWNER_LOCAL_STACK_BOX"],
        "B58: refuse pushes and divert pops while the page has pending remote frees",
    ),
    flag(
        "HZ4_MID_OWNER_LOCAL_STACK_ADAPTIVE_BOX",
        &["HZ4_MID_OWNER_LOCAL_STACK_BOX", "HZ4_MID_OWNER_REMOTE_QUEUE_BOX"],
        "B77: per-class hot/probe/cooldown gate in front of the owner local stack",
    ),
    int(
        "HZ4_MID_OWNER_LOCAL_STACK_ADAPTIVE_PROBE_SHIFT",
        3,
        0,
        7,
        "B77: a cold class lets one push in 2^SHIFT through",
    ),
    int(
        "HZ4_MID_OWNER_LOCAL_STACK_ADAPTIVE_COOLDOWN",
        64,
        1,
        255,
        "B77: pushes skipped after a remote/stale event",
    ),
    flag("HZ4_MID_STATS_B1", &[], "compile the mid stats counters and dump them at exit"),
    flag(
        "HZ4_MID_LOCK_TIME_STATS",
        &["HZ4_MID_STATS_B1"],
        "add the [HZ4_MID_LOCK_STATS] line: sampled lock wait/hold times",
    ),
    int(
        "HZ4_MID_LOCK_TIME_STATS_SAMPLE_SHIFT",
        8,
        0,
        20,
        "time one lock entry in 2^SHIFT",
    ),
    int(
        "HZ4_MID_LOCK_TIME_STATS_CONTENDED_NS",
        256,
        0,
        1_000_000_000,
        "a sampled wait of at least this many ns counts as contended",
    ),
    flag(
        "HZ4_TLS_STD",
        &[],
        "reach the thread heap through std thread_local! (global-dynamic TLS) instead of initial-exec",
    ),
    int(
        "HZ4_LARGE_CACHE_MB",
        64,
        0,
        65536,
        "bound of the process-wide cache of freed large spans, in MiB",
    ),
    int(
        "HZ4_HUGE_CACHE_MB",
        32,
        0,
        65536,
        "bound of the cache of freed huge mappings (kept mapped for reuse), in MiB; 0 unmaps every free",
    ),
    int(
        "HZ4_HUGE_PURGE_MS",
        100,
        0,
        3_600_000,
        "a cached huge mapping unused this long is purged (madvise) at the next huge malloc/free, in ms",
    ),
    int(
        "HZ4_LARGE_TCACHE_KB",
        2048,
        0,
        1048576,
        "bound of each thread's cache of freed large spans, in KiB",
    ),
    int(
        "HZ4_SPARE_SEGMENTS_MB",
        32,
        0,
        65536,
        "completely free 4 MiB segments kept mapped (purged) for reuse instead of unmapped, in MiB",
    ),
    Knob {
        name: "HZ4_SMALL_CLASSES_PER_DOUBLING",
        default: 4,
        min: 1,
        max: 64,
        pow2: true,
        requires: &[],
        doc: "small size classes per power of two above 128 B (16-byte steps up to 128 B; 64: 16-byte steps up to 2048 B, 128 classes)",
    },
    int(
        "HZ4_DIRTY_MIN_MB",
        16,
        0,
        65536,
        "free committed pages the segment supply may hold at any time, in MiB, before it purges at once (the floor of the dirty bound)",
    ),
    int(
        "HZ4_DIRTY_PCT",
        12,
        0,
        1000,
        "the dirty bound grows to this percentage of the pages handed out, when that is above HZ4_DIRTY_MIN_MB",
    ),
    int(
        "HZ4_PURGE_DELAY_MS",
        1000,
        0,
        600000,
        "free pages, spans and spare segments unused for this long (up to twice it) are returned to the OS",
    ),
    int(
        "HZ4_DEBUG_PLANT_NS",
        0,
        0,
        1_000_000,
        "known-answer builds: this many ns of calibrated busy work on every malloc of HZ4_DEBUG_PLANT_PATH (0: none, no code)",
    ),
    int(
        "HZ4_DEBUG_PLANT_EVERY",
        1,
        1,
        1_000_000,
        "known-answer builds: the planted work runs on every K-th malloc of the path, so N/K ns per malloc on average (a fraction of a nanosecond for the fast lanes)",
    ),
    int(
        "HZ4_DEBUG_PLANT_PATH",
        0,
        0,
        2,
        "where the planted work runs: 0 every malloc, 1 every malloc but mid ones (small, XL, large, huge), 2 mid mallocs only",
    ),
    int(
        "HZ4_DEBUG_LAYOUT_PAD",
        0,
        0,
        65536,
        "layout-noise builds: this many bytes of padding placed before the library's code, moving every function (0: none)",
    ),
    flag(
        "HZ4_PURGE_MADV_FREE",
        &[],
        "purge with MADV_FREE (lazy, the kernel reclaims under pressure) instead of MADV_DONTNEED",
    ),
];

/// A parsed, validated knob set: one value per entry of `KNOBS`, same order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnobSet {
    pub values: Vec<u64>,
    /// Problems that do not stop the build (a knob given twice with
    /// different values: the last one is used, as a C compiler does with
    /// a redefined macro). One message each.
    pub warnings: Vec<String>,
}

impl KnobSet {
    /// Value of a knob by name (panics on an unknown name: callers use names from `KNOBS`).
    pub fn get(&self, name: &str) -> u64 {
        let i = KNOBS
            .iter()
            .position(|k| k.name == name)
            .expect("knob name from KNOBS");
        self.values[i]
    }

    /// The `[HZ4_BUILD] NAME=V ...` line describing this build.
    pub fn build_line(&self) -> String {
        let mut s = String::from("[HZ4_BUILD]");
        for (k, v) in KNOBS.iter().zip(&self.values) {
            s.push(' ');
            s.push_str(k.name);
            s.push('=');
            s.push_str(&v.to_string());
        }
        s
    }
}

fn parse_value(text: &str) -> Option<u64> {
    let t = text.trim_end_matches(['u', 'U', 'l', 'L']);
    if let Some(hex) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        u64::from_str_radix(hex, 16).ok()
    } else if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
        t.parse().ok()
    } else {
        None
    }
}

/// Parse `HZ4_DEFS_EXTRA` (`-DNAME=VALUE` / `-DNAME` tokens separated by
/// whitespace) and check every knob's range and every guard. Errors are
/// returned as one message per problem. A knob given again with another
/// value takes the later value, with one warning (the "base string plus one
/// override" pattern of the work order's `make` builds).
pub fn parse_defs(defs: &str) -> Result<KnobSet, Vec<String>> {
    let mut values: Vec<u64> = KNOBS.iter().map(|k| k.default).collect();
    let mut given: Vec<Option<(u64, String)>> = vec![None; KNOBS.len()];
    let mut errs = Vec::new();
    let mut warnings = Vec::new();
    for tok in defs.split_whitespace() {
        let Some(body) = tok.strip_prefix("-D") else {
            errs.push(format!(
                "HZ4_DEFS_EXTRA: '{tok}' is not of the form -DNAME or -DNAME=VALUE"
            ));
            continue;
        };
        let (name, value_text) = match body.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (body, None),
        };
        let Some(idx) = KNOBS.iter().position(|k| k.name == name) else {
            let known: Vec<&str> = KNOBS.iter().map(|k| k.name).collect();
            errs.push(format!(
                "HZ4_DEFS_EXTRA: unknown knob '{name}' (known: {})",
                known.join(", ")
            ));
            continue;
        };
        let value = match value_text {
            None => 1,
            Some(v) => match parse_value(v) {
                Some(x) => x,
                None => {
                    errs.push(format!(
                        "HZ4_DEFS_EXTRA: {name}: '{v}' is not a non-negative integer"
                    ));
                    continue;
                }
            },
        };
        if let Some((prev, prev_tok)) = &given[idx] {
            if *prev != value {
                warnings.push(format!(
                    "HZ4_DEFS_EXTRA: {name} given again ('{prev_tok}', then '{tok}'); using the last value, {value}"
                ));
            }
        }
        given[idx] = Some((value, tok.to_string()));
        values[idx] = value;
    }
    for (k, v) in KNOBS.iter().zip(&values) {
        if *v < k.min || *v > k.max {
            errs.push(format!(
                "{} = {v} is out of range {}..={}",
                k.name, k.min, k.max
            ));
        } else if k.pow2 && !v.is_power_of_two() {
            errs.push(format!("{} = {v} must be a power of two", k.name));
        }
    }
    let set = KnobSet { values, warnings };
    let get = |n: &str| set.get(n);
    for k in KNOBS {
        if get(k.name) == 0 {
            continue;
        }
        for r in k.requires {
            if get(r) == 0 {
                errs.push(format!("{} requires {}=1", k.name, r));
            }
        }
    }
    if errs.is_empty() {
        Ok(set)
    } else {
        Err(errs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "-DHZ4_MID_OWNER_REMOTE_QUEUE_BOX=1 -DHZ4_MID_OWNER_LOCAL_STACK_BOX=1 \
        -DHZ4_MID_OWNER_LOCAL_STACK_SLOTS=8 -DHZ4_MID_OWNER_LOCAL_STACK_REMOTE_GATE=1";

    fn err_of(defs: &str) -> String {
        parse_defs(defs).expect_err("should be rejected").join("\n")
    }

    #[test]
    fn empty_string_gives_defaults() {
        let s = parse_defs("").unwrap();
        for (k, v) in KNOBS.iter().zip(&s.values) {
            assert_eq!(k.default, *v, "{}", k.name);
        }
    }

    #[test]
    fn work_order_strings_parse() {
        let s = parse_defs(BASE).unwrap();
        assert_eq!(s.get("HZ4_MID_OWNER_LOCAL_STACK_SLOTS"), 8);
        let var = format!(
            "{BASE} -DHZ4_MID_OWNER_LOCAL_STACK_ADAPTIVE_BOX=1 \
             -DHZ4_MID_OWNER_LOCAL_STACK_ADAPTIVE_PROBE_SHIFT=3 -DHZ4_MID_OWNER_LOCAL_STACK_ADAPTIVE_COOLDOWN=64 \
             -DHZ4_MID_STATS_B1=1 -DHZ4_MID_LOCK_TIME_STATS=1 -DHZ4_MID_LOCK_TIME_STATS_SAMPLE_SHIFT=7"
        );
        let s = parse_defs(&var).unwrap();
        assert_eq!(s.get("HZ4_MID_OWNER_LOCAL_STACK_ADAPTIVE_BOX"), 1);
        assert_eq!(s.get("HZ4_MID_LOCK_TIME_STATS_SAMPLE_SHIFT"), 7);
        assert!(s
            .build_line()
            .starts_with("[HZ4_BUILD] HZ4_MID_OWNER_REMOTE_QUEUE_BOX=1 "));
        assert!(s
            .build_line()
            .contains(" HZ4_MID_OWNER_LOCAL_STACK_ADAPTIVE_COOLDOWN=64"));
    }

    #[test]
    fn bare_name_means_one_and_hex_is_accepted() {
        let s = parse_defs("-DHZ4_MID_STATS_B1 -DHZ4_MID_LOCK_SHARDS=0x20").unwrap();
        assert_eq!(s.get("HZ4_MID_STATS_B1"), 1);
        assert_eq!(s.get("HZ4_MID_LOCK_SHARDS"), 32);
    }

    #[test]
    fn malformed_strings_are_rejected_with_the_token() {
        assert!(err_of("HZ4_MID_STATS_B1=1").contains("'HZ4_MID_STATS_B1=1' is not of the form"));
        assert!(err_of("-DHZ4_NOPE=1").contains("unknown knob 'HZ4_NOPE'"));
        assert!(err_of("-DHZ4_MID_LOCK_SHARDS=abc").contains("HZ4_MID_LOCK_SHARDS: 'abc' is not"));
        assert!(err_of("-DHZ4_MID_LOCK_SHARDS=-4").contains("is not a non-negative integer"));
        assert!(err_of("-DHZ4_MID_LOCK_SHARDS=").contains("is not a non-negative integer"));
        assert!(
            err_of("-DHZ4_MID_LOCK_SHARDS=99999999999999999999999").contains("not a non-negative")
        );
        // The same value twice is harmless and silent.
        let s = parse_defs("-DHZ4_MID_STATS_B1=1 -DHZ4_MID_STATS_B1=1").unwrap();
        assert!(s.warnings.is_empty(), "{:?}", s.warnings);
    }

    #[test]
    fn a_knob_given_again_takes_the_last_value_with_one_warning() {
        let s = parse_defs(&format!("{BASE} -DHZ4_MID_OWNER_LOCAL_STACK_SLOTS=16")).unwrap();
        assert_eq!(s.get("HZ4_MID_OWNER_LOCAL_STACK_SLOTS"), 16);
        assert_eq!(
            s.warnings,
            ["HZ4_DEFS_EXTRA: HZ4_MID_OWNER_LOCAL_STACK_SLOTS given again \
              ('-DHZ4_MID_OWNER_LOCAL_STACK_SLOTS=8', then '-DHZ4_MID_OWNER_LOCAL_STACK_SLOTS=16'); \
              using the last value, 16"]
        );
        // Three values: the last wins, one warning per change.
        let s = parse_defs("-DHZ4_MID_STATS_B1=1 -DHZ4_MID_STATS_B1=0 -DHZ4_MID_STATS_B1").unwrap();
        assert_eq!(s.get("HZ4_MID_STATS_B1"), 1);
        assert_eq!(s.warnings.len(), 2);
        // The last value is what the range and guard checks see.
        assert!(err_of("-DHZ4_MID_LOCK_SHARDS=4 -DHZ4_MID_LOCK_SHARDS=3").contains("power of two"));
        assert!(parse_defs("-DHZ4_MID_LOCK_SHARDS=3 -DHZ4_MID_LOCK_SHARDS=4").is_ok());
    }

    #[test]
    fn ranges_and_powers_of_two_are_enforced() {
        assert!(err_of("-DHZ4_MID_LOCK_SHARDS=12")
            .contains("HZ4_MID_LOCK_SHARDS = 12 must be a power of two"));
        assert!(err_of("-DHZ4_MID_OWNER_LOCAL_STACK_SLOTS=3").contains("out of range 4..=255"));
        assert!(err_of("-DHZ4_MID_OWNER_LOCAL_STACK_SLOTS=256").contains("out of range 4..=255"));
        assert!(parse_defs("-DHZ4_MID_OWNER_LOCAL_STACK_SLOTS=4").is_ok());
        assert!(parse_defs("-DHZ4_MID_OWNER_LOCAL_STACK_SLOTS=255").is_ok());
        assert!(err_of("-DHZ4_MID_STATS_B1=2").contains("out of range 0..=1"));
    }

    #[test]
    fn work_order_guards() {
        // B77 requires B57 and the remote queue box.
        assert!(
            err_of("-DHZ4_MID_OWNER_LOCAL_STACK_ADAPTIVE_BOX=1").contains(
                "HZ4_MID_OWNER_LOCAL_STACK_ADAPTIVE_BOX requires HZ4_MID_OWNER_LOCAL_STACK_BOX=1"
            )
        );
        let e = err_of(
            "-DHZ4_MID_OWNER_REMOTE_QUEUE_BOX=0 -DHZ4_MID_OWNER_LOCAL_STACK_BOX=1 -DHZ4_MID_OWNER_LOCAL_STACK_ADAPTIVE_BOX=1",
        );
        assert!(e.contains(
            "HZ4_MID_OWNER_LOCAL_STACK_ADAPTIVE_BOX requires HZ4_MID_OWNER_REMOTE_QUEUE_BOX=1"
        ));
        assert!(
            e.contains("HZ4_MID_OWNER_LOCAL_STACK_BOX requires HZ4_MID_OWNER_REMOTE_QUEUE_BOX=1")
        );
        // PROBE_SHIFT <= 7, COOLDOWN in 1..=255.
        assert!(err_of(&format!(
            "{BASE} -DHZ4_MID_OWNER_LOCAL_STACK_ADAPTIVE_PROBE_SHIFT=8"
        ))
        .contains("HZ4_MID_OWNER_LOCAL_STACK_ADAPTIVE_PROBE_SHIFT = 8 is out of range 0..=7"));
        assert!(err_of("-DHZ4_MID_OWNER_LOCAL_STACK_ADAPTIVE_COOLDOWN=0")
            .contains("out of range 1..=255"));
        // B58 requires B57; lock stats require B1.
        assert!(
            err_of("-DHZ4_MID_OWNER_LOCAL_STACK_REMOTE_GATE=1").contains(
                "HZ4_MID_OWNER_LOCAL_STACK_REMOTE_GATE requires HZ4_MID_OWNER_LOCAL_STACK_BOX=1"
            )
        );
        assert!(err_of("-DHZ4_MID_LOCK_TIME_STATS=1")
            .contains("HZ4_MID_LOCK_TIME_STATS requires HZ4_MID_STATS_B1=1"));
    }

    #[test]
    fn every_error_is_reported_not_just_the_first() {
        let errs = parse_defs("-DHZ4_A=1 -DHZ4_B=2").unwrap_err();
        assert_eq!(errs.len(), 2);
    }
}
