#!/usr/bin/env bash
# Instructions per call of every criterion benchmark of the pure engine (fsb-smp `strategic`,
# fsb-modifiers `rules`), counted by callgrind: each bench binary runs one benchmark body
# FSB_BENCH_REPEAT times without criterion (FSB_BENCH_ONLY=<name>); the count of a run with
# 1 + N calls minus that of a run with 1 call, divided by N, is the cost of one call with
# setup, warm-up allocations and process start taken out. Unlike wall time this does not move
# with the load of a shared machine, so it is what before/after comparisons of the engine use.
#
#   tests/bench/instructions.sh [OUT]   prints "<bench> <instructions per call>" lines (and
#                                       writes them to OUT when given)
# Environment: FSB_INSTR_CALLS (N above, default 5).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
calls="${FSB_INSTR_CALLS:-5}"
out="${1:-/dev/null}"
command -v valgrind >/dev/null || { echo "valgrind is not installed" >&2; exit 1; }

# `cargo bench --no-run` prints the path of each bench executable on stderr.
bench_binary() {
  (cd "$repo" && cargo bench -p "$1" --bench "$2" --no-run 2>&1) |
    sed -nE 's/.*Executable [^(]*\((.*)\).*/\1/p' | tail -n 1
}

# Total instructions of one run (callgrind's "Collected" line; no output file is written). Cargo
# prints the path relative to the workspace, or absolute under an absolute CARGO_TARGET_DIR.
instructions() {
  local bin="$1"
  [[ $bin == /* ]] || bin="$repo/$bin"
  FSB_BENCH_ONLY="$2" FSB_BENCH_REPEAT="$3" valgrind --tool=callgrind \
    --callgrind-out-file=/dev/null "$bin" 2>&1 >/dev/null |
    sed -nE 's/.*Collected : ([0-9]+).*/\1/p'
}

: >"$out"
for spec in "fsb-smp strategic smp/apply_template_patch smp/two_way_diff_template smp/semantically_equal_template" \
  "fsb-modifiers rules rules/match_10_none_apply rules/json_patch rules/merge_patch rules/strategic_patch rules/bench_10_rules"; do
  read -r package bench names <<<"$spec"
  bin="$(bench_binary "$package" "$bench")"
  [ -n "$bin" ] || { echo "no bench executable for $package $bench" >&2; exit 1; }
  for name in $names; do
    one="$(instructions "$bin" "$name" 1)"
    many="$(instructions "$bin" "$name" $((1 + calls)))"
    echo "$name $(((many - one) / calls))" | tee -a "$out"
  done
done
