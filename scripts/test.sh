#!/usr/bin/env bash
# The project's test command: formatting, lints, the workspace tests, then
# the allocator tests again in every work-order knob variant, and the
# zero-cost checks of the B77, plant and layout boxes.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --release -- -D warnings
cargo test --workspace --release
scripts/test-variants.sh
# Boxes that must vanish when off: same machine code as a tree without them.
python3 scripts/zero-cost.py b77
python3 scripts/zero-cost.py plant
python3 scripts/zero-cost.py layout
# Fast paths (issue 15): hot-path limits of malloc/free in libhz4.so
# (cargo test does not leave the cdylib in target/release: build it).
cargo build --release -p hz4
python3 scripts/fastpath-insns.py malloc.hot=17 malloc.push=0 malloc.got=0 malloc.lock=0 free.hot=55 free.push=0 free.got=0 free.lock=0 free.lockall=0
