#!/usr/bin/env bash
# The compatibility matrix, outside CI (hours cold; CI runs the oldest claimed and the newest versions):
#   - every Velero release with RestoreItemAction v2 and resource modifiers (1.12 … 1.18, one module
#     file per minor in tests/conformance) through Velero's own plugin client (tests/conformance/run.sh);
#   - every Kubernetes minor 1.33 … 1.37 through the real-control-plane scenarios
#     (tests/e2e/run.sh, control-plane stage only, every scenario on each version);
#   - node-v115: the field report's own setup on the real node (tests/e2e/run.sh, seed stage only:
#     Velero 1.15 with the restic uploader, with and without the plugin, then the newest Velero
#     restoring that restic backup; issue 22). CI runs it too (tests/e2e/run.sh's default stages);
#     here it gets a dated row for the README's compatibility table.
#
#   tests/matrix.sh [velero] [kubernetes] [node-v115]   (default: velero kubernetes)
#
# Env: MATRIX_K8S_VERSIONS (default below), FSB_VELERO_VERSIONS (default all), FSB_CACHE.
# Prints one Markdown table per part, headed with the date and commit, and writes them to
# $FSB_CACHE/matrix/<date>-<commit>.md; README.md's compatibility tables are copied from it.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
export FSB_CACHE="${FSB_CACHE:-/var/cache/velero-fsb-guard}"
export CGO_ENABLED=0   # as tests/all.sh: one Go build cache for every harness
K8S_MATRIX="${MATRIX_K8S_VERSIONS:-v1.33.13 v1.34.4 v1.35.8 v1.36.5 v1.37.2}"
parts=("$@")
[[ ${#parts[@]} -eq 0 ]] && parts=(velero kubernetes)

commit="$(git -C "$repo" rev-parse --short HEAD)$(git -C "$repo" diff --quiet || echo '+dirty')"
day="$(date -u +%F)"
out="$FSB_CACHE/matrix"
mkdir -p "$out"
report="$out/$day-$commit.md"
: > "$report"
emit() { echo "$*" | tee -a "$report"; }

for part in "${parts[@]}"; do
  case "$part" in
    velero)
      emit ""
      emit "Velero plugin-client conformance (tests/conformance), $day, commit $commit"
      emit ""
      emit "| Velero | checks passed | checks failed | result |"
      emit "|---|---|---|---|"
      log="$out/conformance-$day.log"
      FSB_VELERO_VERSIONS="${FSB_VELERO_VERSIONS:-all}" bash "$here/conformance/run.sh" > "$log" 2>&1 || true
      # run.sh ends with one summary line per version: "Velero vX.Y.Z: P passed, F failed[ (failed: …)]"
      grep -E '^Velero v[0-9.]+: ([0-9]+ passed|BUILD FAILED)' "$log" | while read -r line; do
        v="$(sed -E 's/^Velero (v[0-9.]+):.*/\1/' <<<"$line")"
        if [[ $line == *"BUILD FAILED"* ]]; then emit "| $v | 0 | - | build failed |"; continue; fi
        p="$(sed -E 's/.*: ([0-9]+) passed.*/\1/' <<<"$line")"
        f="$(sed -E 's/.* ([0-9]+) failed.*/\1/' <<<"$line")"
        detail="$(sed -nE 's/.*\(failed: (.*)\)$/\1/p' <<<"$line")"
        if [[ $f -eq 0 ]]; then emit "| $v | $p | 0 | verified |"; else emit "| $v | $p | $f | failed: ${detail:-see log} |"; fi
      done
      ;;
    kubernetes)
      emit ""
      emit "Real control plane, every scenario, with and without the plugin (tests/e2e/run.sh), $day, commit $commit"
      emit ""
      emit "| Kubernetes | result | E2E-SUMMARY | minutes |"
      emit "|---|---|---|---|"
      for v in $K8S_MATRIX; do
        log="$out/e2e-$v-$day.log"
        t=$(date +%s)
        if K8S_VERSIONS="$v" E2E_STAGES="control-plane" bash "$here/e2e/run.sh" > "$log" 2>&1; then r=verified; else r=failed; fi
        summary="$(grep -E '^E2E-SUMMARY:' "$log" | tail -1 | sed 's/^E2E-SUMMARY: //')"
        emit "| $v | $r | ${summary:-none (see $log)} | $(( ($(date +%s) - t + 30) / 60 )) |"
      done
      ;;
    node-v115)
      # shellcheck source=e2e/velero/versions.sh
      source "$here/e2e/velero/versions.sh"
      v="${MATRIX_NODE_K8S_VERSION:-v1.37.2}"
      emit ""
      emit "Real node, the field report's setup: Velero $SEED_VELERO_VERSION with restic, then $VELERO_VERSION restoring its restic backup (tests/e2e/run.sh, E2E_STAGES=seed), $day, commit $commit"
      emit ""
      emit "| Kubernetes | result | SEED-SETUP | minutes |"
      emit "|---|---|---|---|"
      log="$out/e2e-seed-$v-$day.log"
      t=$(date +%s)
      if K8S_VERSIONS="$v" E2E_STAGES="seed" bash "$here/e2e/run.sh" > "$log" 2>&1; then r=verified; else r=failed; fi
      summary="$(grep -E '^SEED-SETUP:' "$log" | tail -1 | sed 's/^SEED-SETUP: //')"
      emit "| $v | $r | ${summary:-none (see $log)} | $(( ($(date +%s) - t + 30) / 60 )) |"
      ;;
    *) echo "usage: $0 [velero] [kubernetes] [node-v115]" >&2; exit 2 ;;
  esac
done
echo
echo "matrix written to $report"
