#!/usr/bin/env bash
# Runs every cargo-fuzz target (fuzz/) for FUZZ_SECONDS each (default 20)
# over its committed corpus, one target and one job at a time; fails on the
# first crash, panic, timeout or broken invariant (the input is then in
# fuzz/artifacts/<target>/). Installs cargo-fuzz if missing. Works on a
# stable toolchain: RUSTC_BOOTSTRAP lets cargo-fuzz pass its nightly flags.
# Usage: scripts/fuzz.sh [TARGET...]    (docs/testing.md)
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds=${FUZZ_SECONDS:-20}
export RUSTC_BOOTSTRAP=1
if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi
# No sanitizer: the code under test is safe Rust, and ASan would halve the
# executions; debug assertions make arithmetic overflow a crash.
flags=(--sanitizer none --debug-assertions)
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    mapfile -t targets < <(cargo fuzz list)
fi
cargo fuzz build "${flags[@]}"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
for t in "${targets[@]}"; do
    echo "== fuzz $t (${seconds}s)"
    # New inputs go to a scratch directory; the committed corpus is only read.
    mkdir -p "$scratch/$t"
    if cargo fuzz run "${flags[@]}" "$t" "$scratch/$t" "corpus/$t" -- \
        -max_total_time="$seconds" -timeout=10 -print_final_stats=1 >"$scratch/$t.log" 2>&1; then
        grep -E '^(Done [0-9]+ runs|stat::number_of_executed_units|stat::peak_rss_mb)' "$scratch/$t.log" || true
    else
        tail -n 60 "$scratch/$t.log" >&2
        echo "fuzz target $t failed: the input is in fuzz/artifacts/$t/" >&2
        exit 1
    fi
done
