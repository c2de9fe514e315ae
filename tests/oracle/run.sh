#!/usr/bin/env bash
# Oracle suite: our Rust engines against the Go libraries Velero links.
#  - resource modifiers (tests/oracle/modifiers): corpus tests/corpus/modifiers/cases.json, run with
#    the library versions of every Velero release we support: v1.15 (go.v115.mod), v1.16 (go.v116.mod),
#    v1.17 (go.v117.mod) and v1.18 (go.mod).
#  - strategic merge patch (tests/oracle/smp/run.sh), when present.
# Prints "N passed, M failed" and exits non-zero on any mismatch.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cache="${FSB_CACHE:-/var/cache/velero-fsb-guard}/oracle-modifiers"
mkdir -p "$cache"
corpus="$root/tests/corpus/modifiers/cases.json"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

echo "== building Go oracle (Velero v1.15 … v1.18 library pins)"
(cd "$root/tests/oracle/modifiers" &&
  nice -n 10 go build -o "$cache/oracle-v1.18" . &&
  for m in 15 16 17; do nice -n 10 go build -modfile=go.v1$m.mod -o "$cache/oracle-v1.$m" . || exit 1; done)

echo "== building Rust evaluator"
(cd "$root" && cargo build -q -p fsb-modifiers --example modifiers_eval)
target_dir="$(cd "$root" && cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
"$target_dir/debug/examples/modifiers_eval" "$corpus" > "$work/rust.jsonl"

total_pass=0
total_fail=0
status=0
for v in v1.15 v1.16 v1.17 v1.18; do
  "$cache/oracle-$v" "$corpus" > "$work/go-$v.jsonl"
  if python3 "$root/tests/oracle/modifiers/compare.py" "modifiers $v" "$work/go-$v.jsonl" "$work/rust.jsonl" > "$work/cmp-$v.txt"; then :; else status=1; fi
  cat "$work/cmp-$v.txt"
  line="$(tail -n 1 "$work/cmp-$v.txt")"
  p="$(sed -E 's/.* ([0-9]+) passed, ([0-9]+) failed/\1/' <<<"$line")"
  f="$(sed -E 's/.* ([0-9]+) passed, ([0-9]+) failed/\2/' <<<"$line")"
  total_pass=$((total_pass + p)); total_fail=$((total_fail + f))
done

if [ -f "$root/tests/oracle/smp/run.sh" ]; then
  echo "== strategic merge patch oracle"
  if bash "$root/tests/oracle/smp/run.sh" > "$work/smp.txt" 2>&1; then :; else status=1; fi
  cat "$work/smp.txt"
  line="$(grep -E '[0-9]+ passed, [0-9]+ failed' "$work/smp.txt" | tail -n 1 || true)"
  if [ -n "$line" ]; then
    p="$(grep -oE '[0-9]+ passed' <<<"$line" | grep -oE '[0-9]+')"
    f="$(grep -oE '[0-9]+ failed' <<<"$line" | grep -oE '[0-9]+')"
    total_pass=$((total_pass + p)); total_fail=$((total_fail + f))
  else
    total_fail=$((total_fail + 1))
  fi
fi

echo "$total_pass passed, $total_fail failed"
if [ "$total_fail" -ne 0 ]; then status=1; fi
exit "$status"
