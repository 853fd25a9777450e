#!/usr/bin/env bash
# Peer-allocator comparison for the four lanes of work order B77.
#
# Runs hz-bench on every lane at 16 threads under glibc (no preload), jemalloc,
# tcmalloc, mimalloc and hz4 (LD_PRELOAD), RUNS rounds, interleaved: in round
# r every lane runs once under every allocator, the allocator order rotated by
# r so no allocator always goes first or last. Prints a Markdown report with
# median ops/s, hz4/peer ratios and median peak RSS.
#
# usage: bench/peers.sh [--out FILE] [--update-docs] [--help]
#   --out FILE      also write the report to FILE
#   --update-docs   replace the "## Peer allocators" section of docs/benchmarks.md
# environment:
#   RUNS=5          rounds (medians over RUNS runs)
#   SCALE=1         multiplies each lane's ITERS (e.g. 0.1 for a smoke run)
#   HZ4_LIB=...     hz4 library (default target/release/libhz4.so); skipped if absent
#   HZ_BENCH=...    hz-bench binary (default: cargo build --release, then use it)
#   JEMALLOC_LIB, TCMALLOC_LIB, MIMALLOC_LIB   override the peer library paths
#   LOG_DIR=...     keep every run's output here (default: a temporary directory)
#   DOCS=...        the file --update-docs edits (default docs/benchmarks.md)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RUNS=${RUNS:-5}
SCALE=${SCALE:-1}
HZ4_LIB=${HZ4_LIB:-$ROOT/target/release/libhz4.so}
DOCS=${DOCS:-$ROOT/docs/benchmarks.md}
OUT=""
UPDATE_DOCS=0

usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; }
die() { echo "peers.sh: $*" >&2; exit 2; }
say() { echo "peers.sh: $*" >&2; }

while [ $# -gt 0 ]; do
    case "$1" in
        --out) [ $# -ge 2 ] || die "--out needs a file"; OUT=$2; shift 2 ;;
        --out=*) OUT=${1#--out=}; shift ;;
        --update-docs) UPDATE_DOCS=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; die "unknown argument: $1" ;;
    esac
done
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "RUNS must be a positive integer (got '$RUNS')"
[[ $SCALE =~ ^([0-9]+\.?[0-9]*|\.[0-9]+)$ ]] || die "SCALE must be a positive number (got '$SCALE')"
command -v python3 >/dev/null || die "python3 is required"

# --- lanes (work order B77): name THREADS ITERS WS MIN MAX REMOTE_PCT RING_SLOTS
LANES=(
    "guard_r0 16 1200000 400 16 2048 0 65536"
    "main_r0 16 1200000 400 16 32768 0 65536"
    "main_r50 16 1200000 400 16 32768 50 65536"
    "cross128_r90 16 400000 400 16 131072 90 65536"
)

# --- the bench binary
if [ -n "${HZ_BENCH:-}" ]; then
    BENCH=$HZ_BENCH
else
    say "building hz-bench (release)"
    (cd "$ROOT" && cargo build --release --quiet -p hz-bench --bin hz-bench) >&2
    BENCH=${CARGO_TARGET_DIR:-$ROOT/target}/release/hz-bench
fi
[ -x "$BENCH" ] || die "hz-bench not found at $BENCH"

# --- allocators
find_lib() { # find_lib NAME -> path or nothing
    local d arch
    arch=$(uname -m)
    for d in "/usr/lib/$arch-linux-gnu" /usr/lib64 /usr/lib /usr/local/lib; do
        if [ -e "$d/$1" ]; then echo "$d/$1"; return; fi
    done
    ldconfig -p 2>/dev/null | awk -v n="$1" '$1 == n { print $NF; exit }'
}

peer_paths() {
    JEMALLOC=${JEMALLOC_LIB:-$(find_lib libjemalloc.so.2)}
    TCMALLOC=${TCMALLOC_LIB:-$(find_lib libtcmalloc_minimal.so.4)}
    MIMALLOC=${MIMALLOC_LIB:-$(find_lib libmimalloc.so.2)}
}
peer_paths
if [ -z "$JEMALLOC" ] || [ -z "$TCMALLOC" ] || [ -z "$MIMALLOC" ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        say "installing missing peer allocators (apt-get, once)"
        if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
            libjemalloc2 libtcmalloc-minimal4 libmimalloc2.0 >/tmp/peers-apt.$$.log 2>&1; then
            say "apt-get install failed (see /tmp/peers-apt.$$.log); missing peers are skipped"
        fi
        peer_paths
    fi
fi

NAMES=()
LIBS=()
NOTES=()
add_alloc() { # add_alloc NAME LIB ("" = no preload)
    NAMES+=("$1")
    LIBS+=("$2")
}
add_alloc glibc ""
for spec in "jemalloc:$JEMALLOC:libjemalloc2" "tcmalloc:$TCMALLOC:libtcmalloc-minimal4" \
    "mimalloc:$MIMALLOC:libmimalloc2.0"; do
    IFS=: read -r name lib pkg <<<"$spec"
    if [ -n "$lib" ] && [ -e "$lib" ]; then
        add_alloc "$name" "$lib"
    else
        NOTES+=("$name skipped: library not found (Debian package $pkg)")
        say "${NOTES[-1]}"
    fi
done
if [ -e "$HZ4_LIB" ]; then
    add_alloc hz4 "$(cd "$(dirname "$HZ4_LIB")" && pwd)/$(basename "$HZ4_LIB")"
else
    NOTES+=("hz4 skipped: $HZ4_LIB does not exist (build it with cargo build --release -p hz4, or set HZ4_LIB)")
    say "${NOTES[-1]}"
fi

# --- runs
if [ -n "${LOG_DIR:-}" ]; then
    mkdir -p "$LOG_DIR"
    LOGS=$LOG_DIR
else
    LOGS=$(mktemp -d /tmp/peers.XXXXXX)
    trap 'rm -rf "$LOGS"' EXIT
fi
RESULTS=$LOGS/results.tsv
: >"$RESULTS"

scaled_iters() { python3 -c "import sys; print(max(1, round(int(sys.argv[1]) * float(sys.argv[2]))))" "$1" "$SCALE"; }

n=${#NAMES[@]}
total=$((RUNS * ${#LANES[@]} * n))
done_runs=0
say "allocators: ${NAMES[*]}; RUNS=$RUNS SCALE=$SCALE; $total runs; logs in $LOGS"
for ((r = 0; r < RUNS; r++)); do
    for lane_spec in "${LANES[@]}"; do
        read -r lane threads iters ws min max pct ring <<<"$lane_spec"
        iters=$(scaled_iters "$iters")
        for ((k = 0; k < n; k++)); do
            a=$(((k + r) % n))
            name=${NAMES[$a]}
            lib=${LIBS[$a]}
            log=$LOGS/${lane}_${name}_run$((r + 1)).log
            done_runs=$((done_runs + 1))
            printf 'peers.sh: [%d/%d] %s %s run %d\n' "$done_runs" "$total" "$lane" "$name" $((r + 1)) >&2
            rc=0
            if [ -n "$lib" ]; then
                env LD_PRELOAD="$lib" "$BENCH" "$threads" "$iters" "$ws" "$min" "$max" "$pct" "$ring" >"$log" 2>&1 || rc=$?
            else
                env -u LD_PRELOAD "$BENCH" "$threads" "$iters" "$ws" "$min" "$max" "$pct" "$ring" >"$log" 2>&1 || rc=$?
            fi
            printf '%s\t%s\t%d\t%d\t%s\n' "$lane" "$name" $((r + 1)) "$rc" "$log" >>"$RESULTS"
        done
    done
done

# --- report
MACHINE="$(grep -m1 '^model name' /proc/cpuinfo 2>/dev/null | sed 's/^[^:]*: *//' || echo unknown CPU), $(nproc) CPUs, Linux $(uname -r), $(date -u '+%Y-%m-%d %H:%M UTC')"
REPORT=$LOGS/report.md
NOTES_TEXT=$(printf '%s\n' "${NOTES[@]+"${NOTES[@]}"}")
ALLOCS_TEXT=""
for ((k = 0; k < n; k++)); do
    ALLOCS_TEXT+="${NAMES[$k]}=${LIBS[$k]}"$'\n'
done
python3 - "$RESULTS" "$REPORT" "$MACHINE" "$RUNS" "$SCALE" "$NOTES_TEXT" "$ALLOCS_TEXT" <<'PY'
import re
import statistics
import sys

results, report, machine, runs, scale, notes, allocs = sys.argv[1:8]
libs = dict(line.split("=", 1) for line in allocs.splitlines() if line)
names = list(libs)
lanes = ["guard_r0", "main_r0", "main_r50", "cross128_r90"]

ops = {}      # (lane, alloc) -> [ops/s]
rss = {}      # (lane, alloc) -> [kb]
fails = {}    # (lane, alloc) -> [reason]
build = None  # the hz4 library's [HZ4_BUILD] line, if it prints one
for row in open(results):
    lane, alloc, run, rc, log = row.rstrip("\n").split("\t")
    text = open(log, errors="replace").read()
    m = re.search(r"^bench_random_mixed_mt_remote: .* ops/s=([0-9.]+)", text, re.M)
    k = re.search(r"^\[RSS\] max_rss_kb=(\d+)", text, re.M)
    af = re.search(r"^\[ALLOC_FAILURES\] count=(\d+)", text, re.M)
    bad = re.search(r"^\[CORRUPTION\] count=(\d+)", text, re.M)
    if rc != "0" or not m:
        code = int(rc)
        why = f"signal {code - 128}" if code > 128 else f"exit {code}"
        fails.setdefault((lane, alloc), []).append(f"run {run}: {why}")
        continue
    if bad or (af and af.group(1) != "0"):
        fails.setdefault((lane, alloc), []).append(f"run {run}: alloc failures/corruption")
    b = re.search(r"^\[HZ4_BUILD\].*$", text, re.M)
    if b and alloc == "hz4":
        build = b.group(0)
    ops.setdefault((lane, alloc), []).append(float(m.group(1)))
    if k:
        rss.setdefault((lane, alloc), []).append(int(k.group(1)))

def med(d, key):
    v = d.get(key)
    return statistics.median(v) if v else None

def mops(x):
    return "n/a" if x is None else f"{x / 1e6:.2f}"

def ratio(a, b):
    return "n/a" if a is None or b is None or b == 0 else f"{a / b:.2f}"

def mib(kb):
    return "n/a" if kb is None else f"{kb / 1024:.0f}"

out = []
out.append(f"Machine: {machine}")
out.append("")
out.append("Allocators: " + ", ".join(
    f"{a} (`{libs[a]}`)" if libs[a] else f"{a} (no preload)" for a in names))
if build:
    out.append("")
    out.append(f"hz4 build: `{build}`")
out.append("")
out.append(f"Command: `RUNS={runs} SCALE={scale} bench/peers.sh` (16 threads, interleaved runs, "
           f"medians of {runs}; lanes from work order B77, ITERS x {scale})")
out.append("")
out.append("Median throughput, million ops/s:")
out.append("")
out.append("| lane | " + " | ".join(names) + " |")
out.append("|---|" + "---:|" * len(names))
for lane in lanes:
    out.append(f"| {lane} | " + " | ".join(mops(med(ops, (lane, a))) for a in names) + " |")
peers = [a for a in names if a != "hz4"]
if "hz4" in names and peers:
    out.append("")
    out.append("hz4 / peer, ratio of median ops/s (> 1: hz4 faster):")
    out.append("")
    out.append("| lane | " + " | ".join(f"hz4/{p}" for p in peers) + " |")
    out.append("|---|" + "---:|" * len(peers))
    for lane in lanes:
        h = med(ops, (lane, "hz4"))
        out.append(f"| {lane} | " + " | ".join(ratio(h, med(ops, (lane, p))) for p in peers) + " |")
out.append("")
out.append("Peak RSS, median max_rss_kb in MiB:")
out.append("")
extra = "hz4" in names and "mimalloc" in names
out.append("| lane | " + " | ".join(names) + (" | hz4/mimalloc |" if extra else " |"))
out.append("|---|" + "---:|" * (len(names) + (1 if extra else 0)))
for lane in lanes:
    cells = [mib(med(rss, (lane, a))) for a in names]
    if extra:
        cells.append(ratio(med(rss, (lane, "hz4")), med(rss, (lane, "mimalloc"))))
    out.append(f"| {lane} | " + " | ".join(cells) + " |")
problems = [f"- {lane} {a}: " + "; ".join(v) for (lane, a), v in sorted(fails.items())]
note_lines = [f"- {n}" for n in notes.splitlines() if n.strip()]
if problems or note_lines:
    out.append("")
    out.append("Notes:")
    out.append("")
    out.extend(note_lines + problems)
open(report, "w").write("\n".join(out) + "\n")
PY

cat "$REPORT"
if [ -n "$OUT" ]; then
    cp "$REPORT" "$OUT"
    say "report written to $OUT"
fi
if [ "$UPDATE_DOCS" = 1 ]; then
    python3 - "$DOCS" "$REPORT" <<'PY'
import os
import sys

docs, report = sys.argv[1:3]
body = open(report).read().rstrip("\n")
section = "## Peer allocators\n\nGenerated by `bench/peers.sh --update-docs`.\n\n" + body + "\n"
text = open(docs).read() if os.path.exists(docs) else "# Benchmarks\n"
lines = text.splitlines(keepends=True)
start = next((i for i, l in enumerate(lines) if l.rstrip() == "## Peer allocators"), None)
if start is None:
    new = text.rstrip("\n") + "\n\n" + section
else:
    end = next((j for j in range(start + 1, len(lines)) if lines[j].startswith("## ")), len(lines))
    tail = "".join(lines[end:])
    new = "".join(lines[:start]) + section + ("\n" + tail if tail else "")
os.makedirs(os.path.dirname(os.path.abspath(docs)), exist_ok=True)
open(docs, "w").write(new)
PY
    say "updated the Peer allocators section of $DOCS"
fi
