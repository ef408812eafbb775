#!/usr/bin/env bash
# The main job on a fresh machine: install HAProxy if missing, build hawatch,
# run `hawatch demo` (a real local HAProxy + hawatch; ends by itself).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
export PATH="$PATH:/usr/sbin"
cargo run --release --quiet -- demo "$@"
