#!/usr/bin/env bash
# The project's test command: formatting, lints, the workspace tests, then
# the allocator tests again in every work-order knob variant.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --release -- -D warnings
cargo test --workspace --release
scripts/test-variants.sh
