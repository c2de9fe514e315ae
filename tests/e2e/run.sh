#!/usr/bin/env bash
# End to end, stage 1: a real control plane on loopback (etcd, kube-apiserver, kube-controller-manager
# built from their Go modules), Velero's CRDs, and the restore scenarios driven through Velero's plugin
# client (tests/e2e/driver); then stage 2, a real Velero restore (tests/e2e/velero/run.sh), unless
# --control-only (then velero-restore=not-run).
#
#   tests/e2e/run.sh [--control-only]
#
# --control-only: only the runs without our plugin (each must show a rollout: proves the harness
# detects rollouts) and the reference runs (the driver itself corrects like the plugin should: proves
# "no rollout" is reachable). Without it, the with-plugin runs join them (each FSB scenario must show none).
# Ends with one line:
#   E2E-SUMMARY: scenarios=<n> with-plugin-rollouts=<n|not-run> control-rollouts=<n> velero-restore=<ok|failed|not-run>
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
CACHE="${FSB_CACHE:-/var/cache/velero-fsb-guard}"
K8S_VERSION="${K8S_VERSION:-v1.34.4}"
WINDOW="${E2E_WINDOW:-30s}"   # E2E_KEEP_LOGS=1 keeps the temp dir (logs, kubeconfig) on success too
control_only=false
for a in "$@"; do
  case "$a" in
    --control-only) control_only=true ;;
    *) echo "usage: $0 [--control-only]" >&2; exit 2 ;;
  esac
done

t0=$(date +%s)
work="$(mktemp -d /tmp/fsb-e2e.XXXXXX)"
logs="$work/logs"
mkdir -p "$logs"
pids=()
status=1
scenarios=0 control_rollouts=0 plugin_rollouts=not-run velero_restore=not-run

cleanup() {
  local rc=$?
  # Stop only what this script started, newest first, by PID.
  for ((i=${#pids[@]}-1; i>=0; i--)); do
    kill "${pids[i]}" 2>/dev/null || true
  done
  for p in "${pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$p" 2>/dev/null || true
  done
  if [[ $status -ne 0 || $rc -ne 0 ]]; then
    echo "--- e2e failed; logs in $logs ---"
    for f in "$logs"/*.log; do
      [[ -f "$f" ]] || continue
      echo "===== $(basename "$f") (last 40 lines) ====="
      tail -n 40 "$f"
    done
  elif [[ -n "${E2E_KEEP_LOGS:-}" ]]; then
    echo "logs kept in $logs"
  else
    rm -rf "$work"
  fi
  echo "E2E-SUMMARY: scenarios=$scenarios with-plugin-rollouts=$plugin_rollouts control-rollouts=$control_rollouts velero-restore=$velero_restore"
  [[ $status -eq 0 && $rc -eq 0 ]] || exit 1
}
trap cleanup EXIT

step() { printf '[e2e %4ss] %s\n' "$(( $(date +%s) - t0 ))" "$*"; }

free_port() {
  local p
  while :; do
    p=$(( 20000 + RANDOM % 40000 ))
    if [[ -z "$(ss -Hltn "sport = :$p" 2>/dev/null)" ]] && ! grep -qw "$p" "$work/ports" 2>/dev/null; then
      echo "$p" >> "$work/ports"
      echo "$p"
      return
    fi
  done
}

wait_for() { # wait_for <seconds> <description> <command...>
  local secs="$1" what="$2"; shift 2
  for _ in $(seq $(( secs * 5 ))); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.2
  done
  echo "timed out after ${secs}s waiting for $what" >&2
  return 1
}

# ---------------------------------------------------------------- binaries
step "building/finding kube-apiserver, kube-controller-manager, etcd $K8S_VERSION"
"$here/build-k8s.sh" > "$logs/build-k8s.log" 2>&1 || { echo "build-k8s.sh failed"; exit 1; }
bin="$CACHE/k8s-$K8S_VERSION/bin"

step "building the scenario driver"
drv_bin="$CACHE/e2e/driver"
mkdir -p "$CACHE/e2e"
(cd "$here/driver" && nice -n 10 go build -o "$drv_bin" .) > "$logs/driver-build.log" 2>&1 \
  || { echo "driver build failed"; exit 1; }
velero_dir="$(cd "$here/driver" && go list -m -f '{{.Dir}}' github.com/vmware-tanzu/velero)"
crd_dir="$velero_dir/config/crd/v1/bases"

if ! $control_only; then
  step "building the plugin (cargo build)"
  (cd "$repo" && cargo build -p velero-fsb-guard --bin velero-fsb-guard) > "$logs/cargo-build.log" 2>&1 \
    || { echo "cargo build of the plugin failed"; exit 1; }
  mkdir -p "$work/plugins"
  cp "$repo/target/debug/velero-fsb-guard" "$work/plugins/velero-fsb-guard"
fi
mkdir -p "$work/no-plugins"

# ---------------------------------------------------------------- PKI
step "generating certificates and the service-account key"
pki="$work/pki"
mkdir -p "$pki"
(
  cd "$pki"
  openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 2 -subj "/CN=fsb-e2e-ca" 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes.default.svc\nextendedKeyUsage=serverAuth\n' > server.ext
  openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj "/CN=kube-apiserver" 2>/dev/null
  openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out server.crt -days 2 -extfile server.ext 2>/dev/null
  printf 'extendedKeyUsage=clientAuth\n' > client.ext
  openssl req -newkey rsa:2048 -nodes -keyout admin.key -out admin.csr -subj "/O=system:masters/CN=fsb-e2e-admin" 2>/dev/null
  openssl x509 -req -in admin.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out admin.crt -days 2 -extfile client.ext 2>/dev/null
  openssl genrsa -out sa.key 2048 2>/dev/null
  openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
)

# ---------------------------------------------------------------- etcd
etcd_client=$(free_port); etcd_peer=$(free_port)
step "starting etcd on 127.0.0.1:$etcd_client"
"$bin/etcd" --name fsb-e2e --data-dir "$work/etcd" \
  --listen-client-urls "http://127.0.0.1:$etcd_client" --advertise-client-urls "http://127.0.0.1:$etcd_client" \
  --listen-peer-urls "http://127.0.0.1:$etcd_peer" --initial-advertise-peer-urls "http://127.0.0.1:$etcd_peer" \
  --initial-cluster "fsb-e2e=http://127.0.0.1:$etcd_peer" --unsafe-no-fsync \
  > "$logs/etcd.log" 2>&1 &
pids+=($!)
wait_for 30 etcd curl -sf "http://127.0.0.1:$etcd_client/health"

# ---------------------------------------------------------------- kube-apiserver
api_port=$(free_port)
server="https://127.0.0.1:$api_port"
step "starting kube-apiserver on $server"
"$bin/kube-apiserver" \
  --etcd-servers "http://127.0.0.1:$etcd_client" \
  --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$api_port" \
  --tls-cert-file "$pki/server.crt" --tls-private-key-file "$pki/server.key" \
  --client-ca-file "$pki/ca.crt" \
  --service-account-key-file "$pki/sa.pub" --service-account-signing-key-file "$pki/sa.key" \
  --service-account-issuer https://kubernetes.default.svc \
  --service-cluster-ip-range 10.96.0.0/16 \
  --authorization-mode RBAC --allow-privileged=true --profiling=false \
  --endpoint-reconciler-type none \
  > "$logs/kube-apiserver.log" 2>&1 &
pids+=($!)

kubeconfig="$work/kubeconfig"
b64() { base64 -w0 < "$1"; }
cat > "$kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: fsb-e2e
  cluster:
    server: $server
    certificate-authority-data: $(b64 "$pki/ca.crt")
users:
- name: admin
  user:
    client-certificate-data: $(b64 "$pki/admin.crt")
    client-key-data: $(b64 "$pki/admin.key")
contexts:
- name: fsb-e2e
  context: {cluster: fsb-e2e, user: admin}
current-context: fsb-e2e
EOF
curl_api() { curl -sf --cacert "$pki/ca.crt" --cert "$pki/admin.crt" --key "$pki/admin.key" "$server$1"; }
wait_for 90 "kube-apiserver /readyz" curl_api /readyz

# ---------------------------------------------------------------- kube-controller-manager
kcm_port=$(free_port)
step "starting kube-controller-manager (deployment, replicaset, garbagecollector, serviceaccount)"
"$bin/kube-controller-manager" \
  --kubeconfig "$kubeconfig" \
  --authentication-kubeconfig "$kubeconfig" --authorization-kubeconfig "$kubeconfig" \
  --bind-address 127.0.0.1 --secure-port "$kcm_port" \
  --controllers deployment,replicaset,garbagecollector,serviceaccount \
  --leader-elect=false --use-service-account-credentials=false \
  --root-ca-file "$pki/ca.crt" \
  > "$logs/kube-controller-manager.log" 2>&1 &
pids+=($!)
# The serviceaccount controller creating default/default proves the controller manager is syncing.
wait_for 60 "kube-controller-manager (default service account)" curl_api /api/v1/namespaces/default/serviceaccounts/default
step "control plane ready"
echo "KUBECONFIG=$kubeconfig" > "$logs/env.log"

# ---------------------------------------------------------------- scenarios
# The modes run side by side (own namespaces, backups and restores each), so the 30 s windows overlap.
start_driver() { # start_driver <mode> <plugin dir>; sets drv_pid
  local mode="$1" dir="$2"
  # Plugin processes inherit this environment, as they inherit the Velero server pod's: the
  # kubeconfig stands in for the in-cluster service account, VELERO_NAMESPACE is what Velero's pod sets.
  KUBECONFIG="$kubeconfig" VELERO_NAMESPACE=velero \
  "$drv_bin" --kubeconfig "$kubeconfig" --mode "$mode" --plugin-dir "$dir" --crd-dir "$crd_dir" \
    --window "$WINDOW" --run-id "$$" > "$logs/driver-$mode.out" 2> "$logs/driver-$mode.log" &
  drv_pid=$!
  pids+=("$drv_pid")
}
finish_driver() { # finish_driver <mode> <pid>
  local rc=0
  wait "$2" || rc=$?
  echo "--- mode=$1"
  grep -E '^(SCENARIO|DRIVER-RESULT)' "$logs/driver-$1.out" || true
  [[ $rc -eq 0 ]] || echo "driver mode=$1 exited $rc"
  return $rc
}
field() { sed -n "s/^DRIVER-RESULT .* $1=\([0-9]*\).*/\1/p" "$logs/driver-$2.out" 2>/dev/null | tail -1; }

# CRDs first (one driver installs them), then the modes in parallel.
"$drv_bin" --kubeconfig "$kubeconfig" --crd-dir "$crd_dir" --install-only > "$logs/crds.log" 2>&1 \
  || { echo "installing Velero CRDs failed"; exit 1; }
modes=(control reference)
$control_only || modes+=(plugin)
step "scenarios, modes: ${modes[*]} (window $WINDOW)"
declare -A mode_pid
for m in "${modes[@]}"; do
  dir="$work/no-plugins"; [[ $m == plugin ]] && dir="$work/plugins"
  start_driver "$m" "$dir"
  mode_pid[$m]=$drv_pid
done
failed=0
for m in "${modes[@]}"; do finish_driver "$m" "${mode_pid[$m]}" || failed=1; done
scenarios=$(field scenarios control); scenarios=${scenarios:-0}
control_rollouts=$(field rollouts control); control_rollouts=${control_rollouts:-0}
echo "reference correction (harness self-check): rollouts it had to prevent=$(field prevent-rollouts reference) failures=$(field failures reference)"
if ! $control_only; then
  plugin_rollouts=$(field prevent-rollouts plugin); plugin_rollouts=${plugin_rollouts:-unknown}
fi
step "driver go tests: kube API fixture checks (kubeapi_test.go) and unit tests"
if (cd "$here/driver" && E2E_KUBECONFIG="$kubeconfig" nice -n 10 go test -count=1 -v .) > "$logs/kubeapi-test.log" 2>&1; then
  echo "driver go tests: $(grep -c '^--- PASS' "$logs/kubeapi-test.log") passed"
else
  grep -E '^(--- FAIL|\s+\S+_test.go)' "$logs/kubeapi-test.log" || true
  echo "driver go tests failed"
  failed=1
fi
if ! $control_only; then
  # Stage 2 starts its own control plane inside its own network namespace: no port clashes.
  step "stage 2: a real Velero server restore (tests/e2e/velero/run.sh)"
  if "$here/velero/run.sh" > "$logs/velero-restore.log" 2>&1; then
    velero_restore=ok
  else
    velero_restore=failed
    failed=1
  fi
  grep -E '^(CHECK|VELERO-RESTORE)' "$logs/velero-restore.log" || true
fi
step "done"
status=$failed
