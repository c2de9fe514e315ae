# Sourced by tests/bench/prod.sh and tests/bench/scale.sh: what both need around their driver run —
# a temp dir with its logs and an exit trap that stops what the script started, the Kubernetes
# binaries, the release plugin (or FSB_PLUGIN_BIN), the e2e driver and Velero's CRDs, a control
# plane (tests/e2e/velero/control-plane.sh), and the driver run itself with its last line.
#
# bench_init <name> <keep>: call first, under `set -euo pipefail`; <name> labels the steps and the
# temp dir (fsb-<name>.XXXXXX), <keep> non-empty keeps the temp dir on success. Sets here, repo,
# e2e, CACHE, K8S_VERSION, bin_dir ($CACHE/bench/prod), work, logs, pids, status, step.
bench_init() {
  bench_name="$1" bench_keep="$2"
  repo="$(cd "$here/../.." && pwd)"
  e2e="$repo/tests/e2e"
  CACHE="${FSB_CACHE:-/var/cache/velero-fsb-guard}"
  K8S_VERSION="${K8S_VERSION:-v1.37.2}"
  bin_dir="$CACHE/bench/prod"
  mkdir -p "$bin_dir"
  t0=$(date +%s)
  work="$(mktemp -d "/tmp/fsb-$bench_name.XXXXXX")"
  logs="$work/logs"
  mkdir -p "$logs"
  pids=()
  status=1
  # shellcheck source=../e2e/velero/control-plane.sh
  source "$e2e/velero/control-plane.sh"   # cp_start/cp_stop, free_port, wait_for, stop_pids
  trap bench_cleanup EXIT
}

step() { printf '[%s %4ss] %s\n' "$bench_name" "$(( $(date +%s) - t0 ))" "$*"; }

bench_cleanup() {
  local rc=$? f p exe
  # Only what this script started, newest first, by PID (the driver ends its plugin processes).
  stop_pids ${pids[@]+"${pids[@]}"}
  # Plugin processes a killed driver left behind: those running our copies in $work, by PID.
  for p in /proc/[0-9]*; do
    exe="$(readlink "$p/exe" 2>/dev/null || true)"
    [[ $exe == "$work"/plugins-* ]] && kill "${p#/proc/}" 2>/dev/null || true
  done
  if [[ $status -ne 0 || $rc -ne 0 ]]; then
    echo "--- $bench_name failed; logs in $logs ---"
    for f in $(find "$logs" -name '*.log' | sort); do
      echo "===== ${f#"$logs"/} (last 30 lines) ====="
      tail -n 30 "$f"
    done
  elif [[ -n $bench_keep ]]; then
    echo "logs kept in $logs"
  else
    rm -rf "$work"
  fi
  [[ $status -eq 0 && $rc -eq 0 ]] || exit 1
}

# bench_builds: the Kubernetes binaries, the plugin (sets plugin_bin), the driver ($bin_dir/driver)
# and Velero's CRDs (sets crd_dir).
bench_builds() {
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
    plugin_bin="${CARGO_TARGET_DIR:-$repo/target}/release/velero-fsb-guard"
  fi
  step "building the scenario driver"
  (cd "$e2e/driver" && nice -n 10 go build -o "$bin_dir/driver" .) > "$logs/driver-build.log" 2>&1 \
    || { cat "$logs/driver-build.log"; echo "driver build failed"; exit 1; }
  local velero_dir
  velero_dir="$(cd "$e2e/driver" && go list -m -f '{{.Dir}}' github.com/vmware-tanzu/velero)"
  crd_dir="$velero_dir/config/crd/v1/bases"
  # One plugin per directory: Velero's registry starts every binary it finds there.
  mkdir -p "$work/plugins-ours"
  cp "$plugin_bin" "$work/plugins-ours/velero-fsb-guard"
}

# bench_drive <mode> <LINE-PREFIX> [driver args...]: starts the control plane, runs the driver in
# <mode> (plugin processes inherit KUBECONFIG and VELERO_NAMESPACE as they inherit the Velero
# server pod's), stops the control plane, prints the driver's output and, last, its <LINE-PREFIX>
# line; exits 1 when the driver failed or printed no such line.
bench_drive() {
  local mode="$1" prefix="$2" rc=0 line
  shift 2
  cp_start "$CACHE/k8s-$K8S_VERSION/bin"
  step "running the driver in $mode mode"
  KUBECONFIG="$kubeconfig" VELERO_NAMESPACE=velero \
    "$bin_dir/driver" --kubeconfig "$kubeconfig" --mode "$mode" --crd-dir "$crd_dir" --run-id "$$" \
    --plugin-dir "$work/plugins-ours" "$@" > "$logs/driver-$mode.out" 2> "$logs/driver-$mode.log" &
  local drv_pid=$!
  pids+=("$drv_pid")
  wait "$drv_pid" || rc=$?
  cp_stop
  grep -v "^$prefix: " "$logs/driver-$mode.out" || true
  if [[ $rc -ne 0 ]]; then
    grep -E '^driver:' "$logs/driver-$mode.log" | tail -n 5 || true
    echo "driver --mode $mode exited $rc"
    exit 1
  fi
  line="$(grep "^$prefix: " "$logs/driver-$mode.out" | tail -n 1 || true)"
  [[ -n $line ]] || { echo "no $prefix line"; exit 1; }
  status=0
  echo "$line"
}
