#!/usr/bin/env bash
# The whole test suite on a fresh machine: install HAProxy if missing, then
# unit tests (parsers, diff, config, store, sinks) and the integration tests,
# which run the hawatch binary against real HAProxy processes on loopback.
# Tests that need what not every machine has (root and network namespaces: the
# keepalived pair of tests/it/pair.rs) are #[ignore]d; they run here too, with
# --include-ignored, when this machine can create a network namespace.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
export PATH="$PATH:/usr/sbin"

# Root, and `ip netns add` works: tried with a throwaway namespace, removed at once.
can_netns() {
  [ "$(id -u)" -eq 0 ] || return 1
  local ns="hawatch-probe-$$"
  ip netns add "$ns" >/dev/null 2>&1 || return 1
  ip netns delete "$ns" >/dev/null 2>&1 || true
}

extra=()
if can_netns; then
  extra=(--include-ignored)
else
  echo "test.sh: no network namespaces here (needs root and ip netns): the tests that need them stay ignored" >&2
fi
# The flag is for the test binaries: after the caller's own `--`, if any.
sep=0
for a in "$@"; do
  if [ "$a" = "--" ]; then sep=1; fi
done
if [ "$sep" -eq 1 ]; then
  cargo test --workspace --locked "$@" ${extra[@]+"${extra[@]}"}
else
  cargo test --workspace --locked "$@" -- ${extra[@]+"${extra[@]}"}
fi
