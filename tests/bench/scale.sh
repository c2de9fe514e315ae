#!/usr/bin/env bash
# The scale benchmark (issue 18, the scale part): the release plugin binary in ONE large restore
# (default: a ~1 GB backup, 20,000 Deployments with their ReplicaSets, 23,750 pods of which 5,000
# hold FSB data), through Velero's own plugin client, against a real control plane (etcd,
# kube-apiserver, kube-controller-manager on loopback). What is measured: tests/bench/PROD.md,
# "The scale run". Prints figures; asserts none about timing. Fails when the plugin's answers are
# not what they must be (FSB pods and their ReplicaSets corrected, the other items unchanged) or
# the backup was not downloaded exactly once per restore, so it cannot time a no-op.
#
#   tests/bench/scale.sh                                   # ~1 GB: ~1 min to generate (cached), ~4-6 min to run
#   FSB_SCALE_MB=50 FSB_SCALE_WORKLOADS=2000 FSB_SCALE_FSB_PODS=500 tests/bench/scale.sh   # small
#
# Environment:
#   FSB_CACHE              (default /var/cache/velero-fsb-guard): the driver under $FSB_CACHE/bench/prod,
#                          the generated backup under $FSB_CACHE/bench (kept: reused with the same
#                          parameters), the Kubernetes binaries under $FSB_CACHE/k8s-<version>/bin
#   FSB_SCALE_MB           compressed size of the backup in MiB (default 1000)
#   FSB_SCALE_WORKLOADS    Deployments (default 20000)
#   FSB_SCALE_FSB_PODS     pods with FSB data, 4 per `db-` Deployment (default 5000)
#   FSB_SCALE_BENCH_OUT    the JSON figures (default $FSB_CACHE/bench/scale.json)
#   FSB_PLUGIN_BIN         measure this plugin binary instead of building the release one
#   CARGO_TARGET_DIR       where cargo builds the release plugin (default <repo>/target)
#   K8S_VERSION            control-plane version (default v1.37.2)
#   FSB_SCALE_BENCH_ARGS   more driver flags (tests/e2e/driver/bench_scale.go: --scale-log-level, --guard-mode off,
#                          --scale-malloc-trim-probe (gdb),
#                          --scale-first-debug=false, --scale-gzip-runs, --scale-check-every, --url-delay)
#   FSB_SCALE_BENCH_KEEP=1 keep the temp dir (logs, kubeconfig) on success too
# Ends with one line:
#   SCALE-BENCH: items=<n> backup_mb=<n> first_decision_ms=<n> gzip_ms=<n> first_decision_ratio=<x.xx> scale_rss_mb=<n> rss_after_first_mb=<n> p50_first_1000_us=<n> p50_last_1000_us=<n> growth=<x.xx>
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib.sh
source "$here/lib.sh"
bench_init scale-bench "${FSB_SCALE_BENCH_KEEP:-}"
MB="${FSB_SCALE_MB:-1000}"
WORKLOADS="${FSB_SCALE_WORKLOADS:-20000}"
FSB_PODS="${FSB_SCALE_FSB_PODS:-5000}"
OUT="${FSB_SCALE_BENCH_OUT:-$CACHE/bench/scale.json}"
mkdir -p "$(dirname "$OUT")"
backup="$CACHE/bench/scale-${MB}mb-${WORKLOADS}w-${FSB_PODS}f.tar.gz"

# ---------------------------------------------------------------- builds and the backup
command -v gzip >/dev/null || { echo "gzip is not installed" >&2; exit 1; }
bench_builds
step "the backup: $backup (${MB} MiB, $WORKLOADS workloads, $FSB_PODS FSB pods; tests/bench/gen_scale.py, cached)"
nice -n 10 python3 "$here/gen_scale.py" "$backup" --mb "$MB" --workloads "$WORKLOADS" --fsb-pods "$FSB_PODS" \
  2> "$logs/gen-scale.log" || { cat "$logs/gen-scale.log"; echo "gen_scale.py failed"; exit 1; }
step "plugin: $plugin_bin ($(stat -c %s "$work/plugins-ours/velero-fsb-guard") bytes, built $(date -u -r "$plugin_bin" '+%F %T') UTC)"

# ---------------------------------------------------------------- control plane and the restore
# shellcheck disable=SC2086 # FSB_SCALE_BENCH_ARGS holds several flags
bench_drive bench-scale SCALE-BENCH --scale-backup "$backup" --scale-out "$OUT" ${FSB_SCALE_BENCH_ARGS:-}
