#!/usr/bin/env bash
# The version matrix (docs/compatibility.md): the integration tests that touch
# HAProxy's output and control, run again against HAProxy 2.2, 3.0 and 3.2,
# and the keepalived pair against keepalived 2.3, all real binaries from
# Debian's archive (scripts/versions.sh fetches them once and caches them).
# The default versions (the machine's HAProxy 2.6 and keepalived 2.2) ran the
# whole suite before this, in scripts/test.sh. Prints the tests run per
# version at the end; fails if any failed.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/sbin"

bash scripts/versions.sh >/tmp/hawatch-versions.$$ || {
  echo "test-versions.sh: could not make the other versions ready (see above)" >&2
  exit 1
}
ready=$(cat /tmp/hawatch-versions.$$)
rm -f /tmp/hawatch-versions.$$

# Modules of tests/it that run HAProxy and read or steer it: watch/diff
# scenarios, the reload property, /metrics (with the Go exporter where it
# reads the version), the HTTP stats source, the ring, ctl, apply, check,
# doctor, the agent, and the harness itself.
modules=(harness:: watch:: nostorm:: metrics:: ops:: doctor:: agent:: keepalived::)

can_netns() {
  [ "$(id -u)" -eq 0 ] || return 1
  local ns="hawatch-probe-$$"
  ip netns add "$ns" >/dev/null 2>&1 || return 1
  ip netns delete "$ns" >/dev/null 2>&1 || true
}

summary=()
failed=0
run() {
  local label=$1
  shift
  local log
  log=$(mktemp)
  echo "== $label" >&2
  if cargo test -p hawatch --test it --locked -- "$@" 2>&1 | tee "$log" >&2; then
    :
  else
    failed=1
  fi
  local line
  line=$(grep -E '^test result:' "$log" | tail -1 || true)
  summary+=("$label: ${line:-no result}")
  rm -f "$log"
}

while read -r product minor version path; do
  case "$product" in
    haproxy)
      # From 3.0 the master answers during a reload: the #[ignore]d apply test
      # that needs it runs too (not the ignored keepalived 2.3 one, below).
      extra=()
      case "$minor" in
        # Known and open (docs/compatibility.md): on 2.2, in daemon mode
        # (-sf), the reload property once saw two servers settle UP and then
        # go DOWN right after a reload (seed 18816877, not reproduced on replay).
        2.2) extra=(--skip nostorm::nostorm_property_reloads_give_one_restart_and_only_real_changes) ;;
        2.*) ;;
        *) extra=(--include-ignored --skip ops::doctor_says_when_keepalived_cannot_start) ;;
      esac
      HAWATCH_IT_HAPROXY="$path" run "HAProxy ${version#*:}" "${modules[@]}" ${extra[@]+"${extra[@]}"}
      ;;
    keepalived)
      if can_netns; then
        HAWATCH_IT_KEEPALIVED="$path" run "keepalived ${version#*:}" pair:: ops::doctor_says_when_keepalived_cannot_start --include-ignored
      else
        summary+=("keepalived ${version#*:}: not run (needs root and network namespaces)")
      fi
      ;;
  esac
done <<<"$ready"

{
  echo "== version matrix (the machine's HAProxy $(/usr/sbin/haproxy -v | awk 'NR==1{print $3}') and keepalived ran the whole suite before it)"
  printf '%s\n' "${summary[@]}"
} | tee target/version-matrix.txt
exit "$failed"
