#!/usr/bin/env bash
# Regenerates crates/smp/src/schema_table.rs from the k8s.io/api version pinned in go.mod.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here"
out="$here/../../../crates/smp/src/schema_table.rs"
nice -n 10 go run ./schemagen > "$out.tmp"
mv "$out.tmp" "$out"
echo "wrote $out"
