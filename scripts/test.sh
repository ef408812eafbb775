#!/usr/bin/env bash
# The whole test suite on a fresh machine: install HAProxy if missing, then
# unit tests (parsers, diff, config, store, sinks) and the integration tests,
# which run the hawatch binary against real HAProxy processes on loopback.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
export PATH="$PATH:/usr/sbin"
cargo test --workspace --locked "$@"
