#!/usr/bin/env bash
# The main job on a fresh machine: install HAProxy if missing, build hawatch,
# run `hawatch demo` (a real local HAProxy + hawatch; ends by itself).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
export PATH="$PATH:/usr/sbin"
# The `profiling` profile: optimised like the shipped binary, built in parallel
# (the `release` profile's fat LTO takes minutes longer on a small machine).
cargo run --profile profiling --quiet -- demo "$@"
