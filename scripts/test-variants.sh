#!/usr/bin/env bash
# Build the allocator in each work-order variant (and with purging on
# every slow path: a zero purge delay; with the known-answer plant on;
# with the old 16-byte small classes and with power-of-two ones) and run its stress,
# accounting, counter and huge-object tests on every one. Variants share one target dir:
# a change of HZ4_DEFS_EXTRA rebuilds only the hz4 crate and its tests.
set -euo pipefail
cd "$(dirname "$0")/.."

B57_B58='-DHZ4_MID_OWNER_REMOTE_QUEUE_BOX=1 -DHZ4_MID_OWNER_LOCAL_STACK_BOX=1 -DHZ4_MID_OWNER_LOCAL_STACK_SLOTS=8 -DHZ4_MID_OWNER_LOCAL_STACK_REMOTE_GATE=1'
B77='-DHZ4_MID_OWNER_LOCAL_STACK_ADAPTIVE_BOX=1 -DHZ4_MID_OWNER_LOCAL_STACK_ADAPTIVE_PROBE_SHIFT=3 -DHZ4_MID_OWNER_LOCAL_STACK_ADAPTIVE_COOLDOWN=64'
STATS='-DHZ4_MID_STATS_B1=1 -DHZ4_MID_LOCK_TIME_STATS=1'

variants=(
  "base|$B57_B58"
  "var|$B57_B58 $B77"
  "var+stats|$B57_B58 $B77 $STATS"
  "stage-a|$B57_B58 $STATS -DHZ4_MID_LOCK_TIME_STATS_SAMPLE_SHIFT=7"
  "locked-remote+stats+steps|-DHZ4_MID_OWNER_REMOTE_QUEUE_BOX=0 -DHZ4_MID_STATS_B1=1 -DHZ4_SMALL_CLASSES_PER_DOUBLING=64"
  "std-tls+plant+pow2|-DHZ4_SMALL_CLASSES_PER_DOUBLING=1 -DHZ4_TLS_STD=1 -DHZ4_DEBUG_PLANT_NS=20 -DHZ4_DEBUG_PLANT_PATH=2 -DHZ4_DEBUG_PLANT_EVERY=3"
  "purge0+stats|$B57_B58 $B77 $STATS -DHZ4_PURGE_DELAY_MS=0"
  "purge0-nocache|-DHZ4_PURGE_DELAY_MS=0 -DHZ4_DIRTY_MIN_MB=0 -DHZ4_DIRTY_PCT=0 -DHZ4_PURGE_MADV_FREE=1 -DHZ4_SPARE_SEGMENTS_MB=0 -DHZ4_LARGE_TCACHE_KB=0 -DHZ4_LARGE_CACHE_MB=0"
)

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}/variants"
for v in "${variants[@]}"; do
  name=${v%%|*}
  defs=${v#*|}
  echo "== variant $name: HZ4_DEFS_EXTRA='$defs'"
  HZ4_DEFS_EXTRA="$defs" cargo test --release -p hz4 --lib --test stress --test accounting --test stats_exact --test stats_zero_cost --test huge
done
echo "all ${#variants[@]} variants passed"
