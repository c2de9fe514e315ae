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
repo="$(cd "$here/../.." && pwd)"
e2e="$repo/tests/e2e"
CACHE="${FSB_CACHE:-/var/cache/velero-fsb-guard}"
K8S_VERSION="${K8S_VERSION:-v1.37.2}"
MB="${FSB_SCALE_MB:-1000}"
WORKLOADS="${FSB_SCALE_WORKLOADS:-20000}"
FSB_PODS="${FSB_SCALE_FSB_PODS:-5000}"
OUT="${FSB_SCALE_BENCH_OUT:-$CACHE/bench/scale.json}"
target_dir="${CARGO_TARGET_DIR:-$repo/target}"
bin_dir="$CACHE/bench/prod"
backup="$CACHE/bench/scale-${MB}mb-${WORKLOADS}w-${FSB_PODS}f.tar.gz"
mkdir -p "$bin_dir" "$(dirname "$OUT")"

t0=$(date +%s)
work="$(mktemp -d /tmp/fsb-scale-bench.XXXXXX)"
logs="$work/logs"
mkdir -p "$logs"
pids=()
status=1
step() { printf '[scale-bench %4ss] %s\n' "$(( $(date +%s) - t0 ))" "$*"; }

# shellcheck source=../e2e/velero/control-plane.sh
source "$e2e/velero/control-plane.sh"   # cp_start/cp_stop, free_port, wait_for, stop_pids

cleanup() {
  local rc=$? f
  stop_pids ${pids[@]+"${pids[@]}"}
  # Plugin processes a killed driver left behind: those running our copy in $work, by PID.
  local p exe
  for p in /proc/[0-9]*; do
    exe="$(readlink "$p/exe" 2>/dev/null || true)"
    [[ $exe == "$work"/plugins-* ]] && kill "${p#/proc/}" 2>/dev/null || true
  done
  if [[ $status -ne 0 || $rc -ne 0 ]]; then
    echo "--- scale bench failed; logs in $logs ---"
    for f in $(find "$logs" -name '*.log' | sort); do
      echo "===== ${f#"$logs"/} (last 30 lines) ====="
      tail -n 30 "$f"
    done
  elif [[ -n "${FSB_SCALE_BENCH_KEEP:-}" ]]; then
    echo "logs kept in $logs"
  else
    rm -rf "$work"
  fi
  [[ $status -eq 0 && $rc -eq 0 ]] || exit 1
}
trap cleanup EXIT

# ---------------------------------------------------------------- builds and the backup
command -v go >/dev/null || { echo "go is not installed" >&2; exit 1; }
command -v gzip >/dev/null || { echo "gzip is not installed" >&2; exit 1; }
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
step "building the scenario driver"
(cd "$e2e/driver" && nice -n 10 go build -o "$bin_dir/driver" .) > "$logs/driver-build.log" 2>&1 \
  || { cat "$logs/driver-build.log"; echo "driver build failed"; exit 1; }
velero_dir="$(cd "$e2e/driver" && go list -m -f '{{.Dir}}' github.com/vmware-tanzu/velero)"
crd_dir="$velero_dir/config/crd/v1/bases"
step "the backup: $backup (${MB} MiB, $WORKLOADS workloads, $FSB_PODS FSB pods; tests/bench/gen_scale.py, cached)"
nice -n 10 python3 "$here/gen_scale.py" "$backup" --mb "$MB" --workloads "$WORKLOADS" --fsb-pods "$FSB_PODS" \
  2> "$logs/gen-scale.log" || { cat "$logs/gen-scale.log"; echo "gen_scale.py failed"; exit 1; }

mkdir -p "$work/plugins-ours"
cp "$plugin_bin" "$work/plugins-ours/velero-fsb-guard"
step "plugin: $plugin_bin ($(stat -c %s "$work/plugins-ours/velero-fsb-guard") bytes, built $(date -u -r "$plugin_bin" '+%F %T') UTC)"

# ---------------------------------------------------------------- control plane and the restore
cp_start "$CACHE/k8s-$K8S_VERSION/bin"
step "running the driver in bench-scale mode"
rc=0
# The plugin process inherits this environment as it inherits the Velero server pod's.
KUBECONFIG="$kubeconfig" VELERO_NAMESPACE=velero \
  "$bin_dir/driver" --kubeconfig "$kubeconfig" --mode bench-scale --crd-dir "$crd_dir" --run-id "$$" \
  --plugin-dir "$work/plugins-ours" --scale-backup "$backup" --scale-out "$OUT" ${FSB_SCALE_BENCH_ARGS:-} \
  > "$logs/driver-scale.out" 2> "$logs/driver-scale.log" &
drv_pid=$!
pids+=("$drv_pid")
wait "$drv_pid" || rc=$?
cp_stop
grep -v '^SCALE-BENCH: ' "$logs/driver-scale.out" || true
if [[ $rc -ne 0 ]]; then
  grep -E '^driver:' "$logs/driver-scale.log" | tail -n 5 || true
  echo "driver --mode bench-scale exited $rc"
  exit 1
fi
line="$(grep '^SCALE-BENCH: ' "$logs/driver-scale.out" | tail -n 1 || true)"
[[ -n $line ]] || { echo "no SCALE-BENCH line"; exit 1; }
step "figures written to $OUT"
status=0
echo "$line"
