//! Knob strings (`HZ4_DEFS_EXTRA`): the work order's defaults, stats
//! detection for the timing-run rule, the Var+stats derivation and the
//! build-directory hash. Validation itself is the allocator build script's
//! job; the lab only reads what it needs.

/// Stage A build of the work order (stats counters on).
pub const STAGE_A_DEFS: &str =
    "-DHZ4_MID_OWNER_REMOTE_QUEUE_BOX=1 -DHZ4_MID_OWNER_LOCAL_STACK_BOX=1 \
-DHZ4_MID_OWNER_LOCAL_STACK_SLOTS=8 -DHZ4_MID_OWNER_LOCAL_STACK_REMOTE_GATE=1 -DHZ4_MID_STATS_B1=1 \
-DHZ4_MID_LOCK_TIME_STATS=1 -DHZ4_MID_LOCK_TIME_STATS_SAMPLE_SHIFT=7";

/// Knobs that compile the stats counters in; a timing build must not set
/// them.
pub const STATS_KNOBS: [&str; 2] = ["HZ4_MID_STATS_B1", "HZ4_MID_LOCK_TIME_STATS"];

/// What the Var+stats build appends to the var knobs.
pub const STATS_SUFFIX: &str = "-DHZ4_MID_STATS_B1=1 -DHZ4_MID_LOCK_TIME_STATS=1";

/// Tokens joined by single spaces.
pub fn normalize(defs: &str) -> String {
    defs.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Splits `-DNAME=VALUE` / `-DNAME` into name and optional value text.
fn split_token(tok: &str) -> Option<(&str, Option<&str>)> {
    let body = tok.strip_prefix("-D")?;
    Some(match body.split_once('=') {
        Some((n, v)) => (n, Some(v)),
        None => (body, None),
    })
}

/// True when a knob value text means 0 (`0`, `0x0`, `0u`, …).
fn is_zero(v: &str) -> bool {
    let t = v.trim_end_matches(['u', 'U', 'l', 'L']);
    let digits = t
        .strip_prefix("0x")
        .or_else(|| t.strip_prefix("0X"))
        .unwrap_or(t);
    !digits.is_empty() && digits.bytes().all(|b| b == b'0')
}

/// The first token that turns a stats knob on (`-DHZ4_MID_STATS_B1=1`, a
/// bare `-DHZ4_MID_STATS_B1`, …), if any. A later `=0` of the same knob
/// wins, as in the build script (which takes a knob's last value).
pub fn stats_knob(defs: &str) -> Option<String> {
    let mut on: Vec<(String, String)> = Vec::new();
    for tok in defs.split_whitespace() {
        let Some((name, value)) = split_token(tok) else {
            continue;
        };
        if !STATS_KNOBS.contains(&name) {
            continue;
        }
        on.retain(|(n, _)| n != name);
        if !value.is_some_and(is_zero) {
            on.push((name.to_owned(), tok.to_owned()));
        }
    }
    on.into_iter().next().map(|(_, tok)| tok)
}

/// The Var+stats knobs: `defs` without any stats knob of its own, plus
/// [`STATS_SUFFIX`].
pub fn with_stats(defs: &str) -> String {
    let mut v: Vec<&str> = defs
        .split_whitespace()
        .filter(|t| !split_token(t).is_some_and(|(n, _)| STATS_KNOBS.contains(&n)))
        .collect();
    v.extend(STATS_SUFFIX.split_whitespace());
    v.join(" ")
}

/// Short stable hash of the normalized knob string (FNV-1a, 64 bit), used
/// to name the variant's build directory: equal knobs share one build.
pub fn hash(defs: &str) -> String {
    fnv64(&normalize(defs))
}

/// 64-bit FNV-1a of `text`, as 16 hex digits.
pub fn fnv64(text: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{h:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_stats_knobs() {
        assert_eq!(
            stats_knob(STAGE_A_DEFS).as_deref(),
            Some("-DHZ4_MID_STATS_B1=1")
        );
        assert_eq!(
            stats_knob("-DHZ4_MID_STATS_B1").as_deref(),
            Some("-DHZ4_MID_STATS_B1")
        );
        assert_eq!(stats_knob("-DHZ4_MID_STATS_B1=0"), None);
        assert_eq!(stats_knob("-DHZ4_MID_STATS_B1=0x0"), None);
        assert_eq!(
            stats_knob("-DHZ4_MID_STATS_B1=0x1").as_deref(),
            Some("-DHZ4_MID_STATS_B1=0x1")
        );
        assert_eq!(
            stats_knob("-DHZ4_MID_STATS_B1=1 -DHZ4_MID_STATS_B1=0"),
            None
        );
        assert_eq!(
            stats_knob("-DHZ4_MID_LOCK_TIME_STATS=1").as_deref(),
            Some("-DHZ4_MID_LOCK_TIME_STATS=1")
        );
        // The sample-shift knob is not a stats switch.
        assert_eq!(stats_knob("-DHZ4_MID_LOCK_TIME_STATS_SAMPLE_SHIFT=7"), None);
        assert_eq!(stats_knob(""), None);
    }

    #[test]
    fn var_plus_stats() {
        let var = "-DHZ4_MID_OWNER_REMOTE_QUEUE_BOX=1  -DHZ4_MID_STATS_B1=0";
        assert_eq!(
            with_stats(var),
            "-DHZ4_MID_OWNER_REMOTE_QUEUE_BOX=1 -DHZ4_MID_STATS_B1=1 -DHZ4_MID_LOCK_TIME_STATS=1"
        );
        assert_eq!(with_stats(""), STATS_SUFFIX);
        assert!(stats_knob(&with_stats("")).is_some());
    }

    #[test]
    fn hash_ignores_spacing() {
        assert_eq!(hash(" -DA=1   -DB=2 "), hash("-DA=1 -DB=2"));
        assert_ne!(hash("-DA=1"), hash("-DA=2"));
        assert_eq!(hash("").len(), 16);
    }
}
