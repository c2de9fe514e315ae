#!/usr/bin/env bash
# The production benchmark (issue 18): the release plugin binary against the Go reference plugin on
# Velero's framework (tests/conformance/goplugin, given the same resource-modifier rules), both
# through Velero's own plugin client, against a real control plane (etcd, kube-apiserver,
# kube-controller-manager on loopback), in a restore with resource modifiers and FSB pods. What is
# measured: tests/bench/PROD.md. Prints figures; asserts none about timing. Fails when a plugin's
# answers are not what they must be (the driver checks them), so it cannot time a no-op.
#
#   tests/bench/prod.sh
#
# Environment:
#   FSB_CACHE              build outputs (default /var/cache/velero-fsb-guard): the driver and the
#                          Go plugin under $FSB_CACHE/bench/prod, the Kubernetes binaries under
#                          $FSB_CACHE/k8s-<version>/bin (built by tests/e2e/build-k8s.sh if missing)
#   FSB_PROD_BENCH_ITERS   timed Execute calls per item kind and plugin (default 300)
#   FSB_PROD_BENCH_WARMUP  untimed calls per kind and plugin first (default 30)
#   FSB_PROD_BENCH_FIRST   fresh processes timing the first item of a restore (default 5)
#   FSB_PROD_BENCH_OUT     the JSON figures (default $FSB_CACHE/bench/prod.json)
#   K8S_VERSION            control-plane version (default v1.37.2)
#   CARGO_TARGET_DIR       where cargo builds the release plugin (default <repo>/target)
#   FSB_PLUGIN_BIN         measure this plugin binary instead of building the release one
#   FSB_PROD_BENCH_ARGS    more driver flags (tests/e2e/driver/bench.go: --url-delay, --bench-log-level,
#                          --first-log-level)
#   FSB_PROD_BENCH_KEEP=1  keep the temp dir (logs, kubeconfig) on success too
# Ends with one line:
#   PROD-BENCH: prod_execute_p50_ratio=<x.xx> worst_kind=<kind> first_item_ms=<n> steady_p50_us=<n> iterations=<n>
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib.sh
source "$here/lib.sh"
bench_init prod-bench "${FSB_PROD_BENCH_KEEP:-}"
ITERS="${FSB_PROD_BENCH_ITERS:-300}"
WARMUP="${FSB_PROD_BENCH_WARMUP:-30}"
FIRST="${FSB_PROD_BENCH_FIRST:-5}"
OUT="${FSB_PROD_BENCH_OUT:-$CACHE/bench/prod.json}"
mkdir -p "$(dirname "$OUT")"

# ---------------------------------------------------------------- builds
bench_builds
step "building the Go reference plugin (Velero v1.18 module file)"
(cd "$repo/tests/conformance" && nice -n 10 go build -mod=readonly -modfile=go.v1.18.mod -o "$bin_dir/goplugin" ./goplugin) \
  > "$logs/goplugin-build.log" 2>&1 || { echo "goplugin build failed"; exit 1; }
mkdir -p "$work/plugins-go"
cp "$bin_dir/goplugin" "$work/plugins-go/fsb-reference-plugin"
step "plugin sizes: ours $(stat -c %s "$work/plugins-ours/velero-fsb-guard") bytes, go $(stat -c %s "$work/plugins-go/fsb-reference-plugin") bytes"

# ---------------------------------------------------------------- control plane and the bench
step "$ITERS iterations, warm-up $WARMUP, $FIRST first-item runs"
# shellcheck disable=SC2086 # FSB_PROD_BENCH_ARGS holds several flags
bench_drive bench PROD-BENCH --go-plugin-dir "$work/plugins-go" \
  --iterations "$ITERS" --warmup "$WARMUP" --first-runs "$FIRST" --out "$OUT" ${FSB_PROD_BENCH_ARGS:-}
