#!/usr/bin/env bash
# Go-canonical JSON oracle: our encoder (crates/guard-core/src/toolkit/gojson.rs) against Go's encoding/json over
# apimachinery's int-preserving decoder, plus the ControllerRevision hash of the bytes.
# Corpus: hand-picked tricky documents (corpus.jsonl) + GEN_COUNT generated ones (seeded).
# Prints "N passed, M failed"; exits non-zero on any failure.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
cache="${FSB_CACHE:-/var/cache/velero-fsb-guard}/oracle-canonical"
mkdir -p "$cache"
gen_count="${GEN_COUNT:-2000}"
seed="${SEED:-20261125}"

export GOFLAGS=-mod=mod
export GOPROXY="${GOPROXY:-https://proxy.golang.org,direct}"
oracle="$cache/oracle"
(cd "$here" && nice -n 10 go build -o "$oracle" .) || { echo "0 passed, 1 failed (go build)"; exit 1; }
(cd "$repo" && cargo build -q --example canonical_oracle) || { echo "0 passed, 1 failed (cargo build)"; exit 1; }
ours_bin="$(cd "$repo" && cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/debug/examples/canonical_oracle"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cp "$here/corpus.jsonl" "$work/corpus.jsonl"
"$oracle" gen "$gen_count" "$seed" >>"$work/corpus.jsonl"
"$ours_bin" <"$work/corpus.jsonl" >"$work/ours.txt"
"$oracle" check "$work/corpus.jsonl" "$work/ours.txt"
