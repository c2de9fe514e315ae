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
repo="$(cd "$here/../.." && pwd)"
e2e="$repo/tests/e2e"
CACHE="${FSB_CACHE:-/var/cache/velero-fsb-guard}"
K8S_VERSION="${K8S_VERSION:-v1.37.2}"
ITERS="${FSB_PROD_BENCH_ITERS:-300}"
WARMUP="${FSB_PROD_BENCH_WARMUP:-30}"
FIRST="${FSB_PROD_BENCH_FIRST:-5}"
OUT="${FSB_PROD_BENCH_OUT:-$CACHE/bench/prod.json}"
target_dir="${CARGO_TARGET_DIR:-$repo/target}"
bin_dir="$CACHE/bench/prod"
mkdir -p "$bin_dir" "$(dirname "$OUT")"

t0=$(date +%s)
work="$(mktemp -d /tmp/fsb-prod-bench.XXXXXX)"
logs="$work/logs"
mkdir -p "$logs"
pids=()
status=1
step() { printf '[prod-bench %4ss] %s\n' "$(( $(date +%s) - t0 ))" "$*"; }

# shellcheck source=../e2e/velero/control-plane.sh
source "$e2e/velero/control-plane.sh"   # cp_start/cp_stop, free_port, wait_for, stop_pids

cleanup() {
  local rc=$? f
  # Only what this script started, newest first, by PID (the driver ends its plugin processes).
  stop_pids ${pids[@]+"${pids[@]}"}
  # Plugin processes a killed driver left behind: those running our copies in $work, by PID.
  local p exe
  for p in /proc/[0-9]*; do
    exe="$(readlink "$p/exe" 2>/dev/null || true)"
    [[ $exe == "$work"/plugins-* ]] && kill "${p#/proc/}" 2>/dev/null || true
  done
  if [[ $status -ne 0 || $rc -ne 0 ]]; then
    echo "--- prod bench failed; logs in $logs ---"
    for f in $(find "$logs" -name '*.log' | sort); do
      echo "===== ${f#"$logs"/} (last 30 lines) ====="
      tail -n 30 "$f"
    done
  elif [[ -n "${FSB_PROD_BENCH_KEEP:-}" ]]; then
    echo "logs kept in $logs"
  else
    rm -rf "$work"
  fi
  [[ $status -eq 0 && $rc -eq 0 ]] || exit 1
}
trap cleanup EXIT

# ---------------------------------------------------------------- builds
command -v go >/dev/null || { echo "go is not installed" >&2; exit 1; }
if [[ ! -x "$CACHE/k8s-$K8S_VERSION/bin/kube-apiserver" ]]; then
  step "building kube-apiserver, kube-controller-manager, etcd $K8S_VERSION (tests/e2e/build-k8s.sh)"
  K8S_VERSION="$K8S_VERSION" "$e2e/build-k8s.sh" > "$logs/build-k8s.log" 2>&1 || { echo "build-k8s.sh failed"; exit 1; }
fi
plugin_bin="${FSB_PLUGIN_BIN:-}"
if [[ -z $plugin_bin ]]; then
  step "building the release plugin (cargo build --release -p velero-fsb-guard --bin velero-fsb-guard)"
  (cd "$repo" && nice -n 10 cargo build --release -p velero-fsb-guard --bin velero-fsb-guard) > "$logs/cargo-build.log" 2>&1 \
    || { tail -n 20 "$logs/cargo-build.log"; echo "cargo build --release failed"; exit 1; }
  plugin_bin="$target_dir/release/velero-fsb-guard"
fi
step "building the scenario driver and the Go reference plugin (Velero v1.18 module file)"
(cd "$e2e/driver" && nice -n 10 go build -o "$bin_dir/driver" .) > "$logs/driver-build.log" 2>&1 \
  || { echo "driver build failed"; exit 1; }
(cd "$repo/tests/conformance" && nice -n 10 go build -mod=readonly -modfile=go.v1.18.mod -o "$bin_dir/goplugin" ./goplugin) \
  > "$logs/goplugin-build.log" 2>&1 || { echo "goplugin build failed"; exit 1; }
velero_dir="$(cd "$e2e/driver" && go list -m -f '{{.Dir}}' github.com/vmware-tanzu/velero)"
crd_dir="$velero_dir/config/crd/v1/bases"

# One plugin per directory: Velero's registry starts every binary it finds there.
mkdir -p "$work/plugins-ours" "$work/plugins-go"
cp "$plugin_bin" "$work/plugins-ours/velero-fsb-guard"
cp "$bin_dir/goplugin" "$work/plugins-go/fsb-reference-plugin"
step "plugin sizes: ours $(stat -c %s "$work/plugins-ours/velero-fsb-guard") bytes, go $(stat -c %s "$work/plugins-go/fsb-reference-plugin") bytes"

# ---------------------------------------------------------------- control plane and the bench
cp_start "$CACHE/k8s-$K8S_VERSION/bin"
step "running the driver in bench mode ($ITERS iterations, warm-up $WARMUP, $FIRST first-item runs)"
rc=0
# Plugin processes inherit this environment as they inherit the Velero server pod's.
KUBECONFIG="$kubeconfig" VELERO_NAMESPACE=velero \
  "$bin_dir/driver" --kubeconfig "$kubeconfig" --mode bench --crd-dir "$crd_dir" --run-id "$$" \
  --plugin-dir "$work/plugins-ours" --go-plugin-dir "$work/plugins-go" \
  --iterations "$ITERS" --warmup "$WARMUP" --first-runs "$FIRST" --out "$OUT" ${FSB_PROD_BENCH_ARGS:-} \
  > "$logs/driver-bench.out" 2> "$logs/driver-bench.log" &
drv_pid=$!
pids+=("$drv_pid")
wait "$drv_pid" || rc=$?
cp_stop
grep -v '^PROD-BENCH: ' "$logs/driver-bench.out" || true
if [[ $rc -ne 0 ]]; then
  grep -E '^driver:' "$logs/driver-bench.log" | tail -n 5 || true
  echo "driver --mode bench exited $rc"
  exit 1
fi
line="$(grep '^PROD-BENCH: ' "$logs/driver-bench.out" | tail -n 1 || true)"
[[ -n $line ]] || { echo "no PROD-BENCH line"; exit 1; }
step "figures written to $OUT"
status=0
echo "$line"
