#!/usr/bin/env bash
# Run one cargo-fuzz target of partcp-core for a bounded time.
#
#   rust/core/fuzz/run.sh [target] [seconds]     (defaults: wire 600)
#
# New inputs go to corpus/<target> (git-ignored), which starts from the committed seeds/;
# crashes land in artifacts/<target>. cargo-fuzz needs nightly features: a rustup nightly
# toolchain is used when there is one, otherwise the stable toolchain with
# RUSTC_BOOTSTRAP=1. Extra arguments after the first two go to libFuzzer.
set -euo pipefail

target="${1:-wire}"
seconds="${2:-600}"
shift $(( $# < 2 ? $# : 2 ))

cd "$(dirname "$0")"

if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi

if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
    fuzz=(cargo +nightly fuzz)
else
    export RUSTC_BOOTSTRAP=1
    fuzz=(cargo fuzz)
fi

mkdir -p "corpus/$target"
echo "fuzzing '$target' for ${seconds}s with: ${fuzz[*]}${RUSTC_BOOTSTRAP:+ (RUSTC_BOOTSTRAP=1)}"
exec "${fuzz[@]}" run "$target" "corpus/$target" seeds -- \
    -max_total_time="$seconds" -print_final_stats=1 "$@"
