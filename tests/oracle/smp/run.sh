#!/usr/bin/env bash
# Strategic-merge-patch oracle: runs tests/corpus/smp through apimachinery (at the k8s.io versions
# each Velero release we support pins: 1.15 … 1.18) and through fsb-smp, and compares the answers case
# by case. The merge keys come from the bundled k8s.io/api, so each pin is its own oracle.
# Prints "N passed, M failed" per Go version; exits non-zero on any mismatch.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
corpus="$repo/tests/corpus/smp"
cache="${FSB_CACHE:-/var/cache/velero-fsb-guard}/smp-oracle"
mkdir -p "$cache"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

echo "building fsb-smp evaluator"
(cd "$repo" && cargo build -q -p fsb-smp --example smp_eval)
target_dir="$(cd "$repo" && cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
"$target_dir/debug/examples/smp_eval" "$corpus" > "$work/ours.jsonl"

status=0
total_pass=0
total_fail=0
# velero v1.18.3 -> k8s.io/* v0.33.12 (go.mod); v1.17.2 -> v0.33.3; v1.16.2 -> v0.31.3; v1.15.2 -> v0.29.0
for modfile in go.mod go.v1.17.mod go.v1.16.mod go.v1.15.mod; do
  bin="$cache/oracle-${modfile%.mod}"
  echo "building Go oracle with $modfile"
  (cd "$here" && nice -n 10 go build -modfile "$modfile" -o "$bin" ./oracle)
  "$bin" expect "$corpus" > "$work/go-$modfile.jsonl"
  echo "== comparing against apimachinery from $modfile"
  if ! "$bin" compare "$corpus" "$work/go-$modfile.jsonl" "$work/ours.jsonl" | tee "$work/report"; then
    status=1
  fi
  read -r p _ f _ < <(tail -n 1 "$work/report")
  total_pass=$((total_pass + p))
  total_fail=$((total_fail + f))
done
echo "smp oracle total (every apimachinery pin):"
echo "$total_pass passed, $total_fail failed"
exit $status
