#!/usr/bin/env bash
# The whole test suite on a fresh machine: install HAProxy if missing, then
# unit tests (parsers, diff, config, store, sinks) and the integration tests,
# which run the hawatch binary against real HAProxy processes on loopback.
# Tests that need what not every machine has (root and network namespaces: the
# keepalived pair of tests/it/pair.rs) are #[ignore]d; they run here too, with
# --include-ignored, when this machine can create a network namespace.
# Then the version matrix (scripts/test-versions.sh): the tests that touch
# HAProxy again on HAProxy 2.2, 3.0 and 3.2 and the pair on keepalived 2.3,
# from Debian's archive (cached after the first run). Skipped when arguments
# are given (a targeted run) or with HAWATCH_VERSIONS=0. Last, as root, the
# packages (scripts/test-package.sh; HAWATCH_PACKAGE=0 skips them).
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
  # Not the ignored tests that need another version than the machine's (the
  # version matrix below runs those, scripts/test-versions.sh), nor those of the
  # installed package (scripts/test-package.sh, below).
  extra=(--include-ignored
    --skip ops::apply_waits_out_a_reload_still_in_progress
    --skip ops::doctor_says_when_keepalived_cannot_start
    --skip package::)
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
if [ $# -eq 0 ] && [ "${HAWATCH_VERSIONS:-1}" != 0 ]; then
  bash scripts/test-versions.sh
fi
# Then the packages (scripts/test-package.sh): build the .deb, .rpm and the
# portable binary, install the .deb here and check it, run the binary inside a
# Debian 11 root. Needs root; skipped with arguments or HAWATCH_PACKAGE=0.
if [ $# -eq 0 ] && [ "${HAWATCH_PACKAGE:-1}" != 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then
    bash scripts/test-package.sh
  else
    echo "test.sh: not root: the package tests (scripts/test-package.sh) are skipped" >&2
  fi
fi
