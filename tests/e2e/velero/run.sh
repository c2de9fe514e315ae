#!/usr/bin/env bash
# End to end, stage 2: the real Velero server (versions.sh: v1.18.3, built from its Go module) restores a crafted
# file-system backup from an S3 server on loopback (moto), with the Velero issue 8578 resource
# modifiers, through velero-plugin-for-aws and our plugin; the real Deployment controller watches.
#
#   tests/e2e/velero/run.sh [--without-plugin]
#
# --without-plugin: the control run. Same restore with only the aws plugin in the plugin dir; the
# Deployment controller must then roll out (a new ReplicaSet), which shows the checks can see a
# rollout. Ends with `VELERO-RESTORE-CONTROL: ok (...)` when it does, `failed (...)` when it does not.
#
# Env: FSB_CACHE (build cache), FSB_PLUGIN_BIN (our plugin binary; default: cargo build, then
# target/debug/velero-fsb-guard), E2E_WINDOW (seconds with no new ReplicaSet, default 30),
# E2E_KEEP_LOGS=1 (keep the temp dir on success).
# Builds happen first, with network for the Go module proxy/PyPI/crates.io; everything after runs
# inside a private network namespace (`unshare -n`) that has only a loopback interface, so every
# listener (including controller-runtime's metrics server, which Velero binds to :8080 without a
# flag to change it) is reachable on 127.0.0.1 only.
# Ends with `VELERO-RESTORE: ok` or `VELERO-RESTORE: failed (<reason>)`; exit status 0 only for ok.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
CACHE="${FSB_CACHE:-/var/cache/velero-fsb-guard}"
export FSB_CACHE="$CACHE"
K8S_VERSION="${K8S_VERSION:-v1.34.4}"
# shellcheck source=versions.sh
source "$here/versions.sh"
WINDOW="${E2E_WINDOW:-30}"
BACKUP_DIR="$repo/examples/sample-backup/backups/shop-20260302"
MODIFIERS="$repo/examples/modifiers-8578.yaml"
RESTORE=fsb-e2e-8578
NS=shop

inside=false control=false
for a in "$@"; do
  case "$a" in
    --in-netns) inside=true ;;
    --without-plugin) control=true ;;
    *) echo "usage: $0 [--without-plugin]" >&2; exit 2 ;;
  esac
done

t0=${FSB_VELERO_E2E_T0:-$(date +%s)}
export FSB_VELERO_E2E_T0=$t0   # the run inside the network namespace keeps counting from here
step() { printf '[velero-e2e %4ss] %s\n' "$(( $(date +%s) - t0 ))" "$*"; }
if $control; then
  result() { echo "VELERO-RESTORE-CONTROL: $*"; }
else
  result() { echo "VELERO-RESTORE: $*"; }
fi

# ------------------------------------------------------------------ phase 1: builds (network allowed)
if ! $inside; then
  buildlog="$(mktemp /tmp/fsb-velero-build.XXXXXX)"
  fail_build() { cat "$buildlog"; rm -f "$buildlog"; result "failed ($1)"; exit 1; }
  step "building/finding velero $VELERO_VERSION, velero-plugin-for-aws, moto (build.sh)"
  "$here/build.sh" >> "$buildlog" 2>&1 || fail_build "build.sh"
  grep '^build:' "$buildlog" || true
  step "building/finding kube-apiserver, kube-controller-manager, etcd $K8S_VERSION (stage 1's build-k8s.sh)"
  "$here/../build-k8s.sh" >> "$buildlog" 2>&1 || fail_build "build-k8s.sh"
  if $control; then
    FSB_PLUGIN_BIN=/dev/null
  elif [[ -z "${FSB_PLUGIN_BIN:-}" ]]; then
    step "building the plugin (cargo build)"
    (cd "$repo" && cargo build -p velero-fsb-guard --bin velero-fsb-guard) >> "$buildlog" 2>&1 \
      || fail_build "cargo build of the plugin"
    FSB_PLUGIN_BIN="${CARGO_TARGET_DIR:-$repo/target}/debug/velero-fsb-guard"
  fi
  $control || [[ -x "$FSB_PLUGIN_BIN" ]] || fail_build "no plugin binary at $FSB_PLUGIN_BIN"
  rm -f "$buildlog"
  export FSB_PLUGIN_BIN
  if unshare -n true 2>/dev/null; then
    exec unshare -n -- "$0" --in-netns "$@"
  fi
  result "failed (cannot create a private network namespace with unshare -n; refusing to run Velero with listeners outside loopback)"
  exit 1
fi

# ------------------------------------------------------------------ phase 2: inside the network namespace
ip link set lo up
vbin="$CACHE/velero-$VELERO_VERSION/bin"
kbin="$CACHE/k8s-$K8S_VERSION/bin"
py="$CACHE/venv-moto/bin/python"
work="$(mktemp -d /tmp/fsb-velero-e2e.XXXXXX)"
logs="$work/logs"
mkdir -p "$logs" "$work/plugins"
pids=()
reason="" control_seen=""

# shellcheck source=control-plane.sh
source "$here/control-plane.sh"   # cp_start/cp_stop and the shared helpers (free_port, wait_for, stop_pids)

cleanup() {
  local rc=$?
  [[ -z "$reason" && $rc -ne 0 ]] && reason="script error (exit $rc)"
  stop_pids ${pids[@]+"${pids[@]}"}
  if [[ -n "$reason" ]]; then
    echo "--- velero e2e failed; logs in $logs ---"
    for f in "$logs"/*.log; do
      [[ -f "$f" ]] || continue
      echo "===== $(basename "$f") (last 60 lines) ====="
      tail -n 60 "$f"
    done
    result "failed ($reason)"
    exit 1
  fi
  if [[ -n "${E2E_KEEP_LOGS:-}" ]]; then echo "logs kept in $logs"; else rm -rf "$work"; fi
  if $control; then result "ok (without the plugin the Deployment controller rolled out: $control_seen)"; else result "ok"; fi
}
trap cleanup EXIT
fail() { reason="$1"; exit 1; }

cp_start "$kbin" || fail "control plane did not start"
export KUBECONFIG="$kubeconfig"
velero() { "$vbin/velero" --kubeconfig "$kubeconfig" --namespace velero "$@"; }

# ------------------------------------------------------------------ object storage
s3_port=$(free_port)
s3="http://127.0.0.1:$s3_port"
step "starting moto's S3 server on $s3"
"$CACHE/venv-moto/bin/moto_server" -H 127.0.0.1 -p "$s3_port" > "$logs/moto.log" 2>&1 &
pids+=($!)
wait_for 60 "moto" curl -sf "$s3/" || fail "moto did not start"
export AWS_ACCESS_KEY_ID=fsb-e2e AWS_SECRET_ACCESS_KEY=fsb-e2e-secret
"$py" "$here/e2e.py" seed --endpoint "$s3" --bucket velero --backup-dir "$BACKUP_DIR" > "$logs/seed.log" 2>&1 \
  || fail "seeding the bucket"
cat > "$work/credentials" <<EOF
[default]
aws_access_key_id = $AWS_ACCESS_KEY_ID
aws_secret_access_key = $AWS_SECRET_ACCESS_KEY
EOF

# ------------------------------------------------------------------ Velero objects
step "installing Velero's CRDs (velero install --crds-only)"
velero install --crds-only > "$logs/crds.log" 2>&1 || fail "velero install --crds-only"
wait_for 60 "Velero CRDs established" curl_api /apis/velero.io/v1/backupstoragelocations || fail "CRDs not served"
"$py" "$here/e2e.py" apply "$here/fixtures.yaml" "$MODIFIERS" > "$logs/apply.log" 2>&1 || fail "creating fixtures"
modifiers_cm=$("$py" -c 'import sys,yaml; print(yaml.safe_load(open(sys.argv[1]))["metadata"]["name"])' "$MODIFIERS")
velero backup-location create default --provider aws --bucket velero --default \
  --config "region=us-east-1,s3ForcePathStyle=true,s3Url=$s3" > "$logs/bsl.log" 2>&1 \
  || fail "creating the BackupStorageLocation"

cp "$vbin/velero-plugin-for-aws" "$work/plugins/velero-plugin-for-aws"
$control || cp "$FSB_PLUGIN_BIN" "$work/plugins/velero-fsb-guard"

metrics_port=$(free_port); profiler_port=$(free_port)
step "starting velero server (plugins: $(ls "$work/plugins" | tr '\n' ' '))"
# Plugin processes inherit this environment as they would the server pod's: KUBECONFIG stands in
# for the in-cluster service account, VELERO_NAMESPACE is what the pod sets.
(
  cd "$work"
  AWS_SHARED_CREDENTIALS_FILE="$work/credentials" VELERO_NAMESPACE=velero KUBECONFIG="$kubeconfig" \
  exec "$vbin/velero" server --kubeconfig "$kubeconfig" --namespace velero \
    --plugin-dir "$work/plugins" --uploader-type=kopia --fs-backup-timeout=1m \
    --log-level debug --metrics-address "127.0.0.1:$metrics_port" --profiler-address "127.0.0.1:$profiler_port" \
    --backup-sync-period 5s --store-validation-frequency 5s
) > "$logs/velero-server.log" 2>&1 &
velero_pid=$!
pids+=("$velero_pid")

bsl_available() { velero backup-location get default -o json | grep -q '"phase": "Available"'; }
wait_for 120 "BackupStorageLocation default Available" bsl_available || fail "BackupStorageLocation never became Available"
step "backup storage location available; waiting for the backup sync"
pvb_count() {
  curl_api "/apis/velero.io/v1/namespaces/velero/podvolumebackups?labelSelector=velero.io/backup-name=shop-20260302" \
    | "$py" -c 'import json, sys; print(len(json.load(sys.stdin)["items"]))'
}
backup_synced() { velero backup get shop-20260302 -o json | grep -q '"phase": "Completed"' && [[ $(pvb_count) -ge 1 ]]; }
wait_for 120 "Backup shop-20260302 and its PodVolumeBackups synced" backup_synced || fail "backup was not synced"
step "backup synced (PodVolumeBackups: $(pvb_count))"

# ------------------------------------------------------------------ the restore
"$py" "$here/e2e.py" watch-rs --namespace "$NS" --out "$work/seen-rs.jsonl" 2> "$logs/watch-rs.log" &
pids+=($!)
step "velero restore create $RESTORE --from-backup shop-20260302 --resource-modifier-configmap $modifiers_cm --wait"
restore_rc=0
timeout 600 "$vbin/velero" --kubeconfig "$kubeconfig" --namespace velero restore create "$RESTORE" \
  --from-backup shop-20260302 --resource-modifier-configmap "$modifiers_cm" --wait \
  > "$logs/restore-create.log" 2>&1 || restore_rc=$?
tail -n 3 "$logs/restore-create.log"
[[ $restore_rc -eq 0 ]] || fail "velero restore create exited $restore_rc"
velero restore describe "$RESTORE" --details --colorized=false > "$logs/restore-describe.log" 2>&1 || true
phase=$(sed -n 's/^Phase:\s*\(\S*\).*/\1/p' "$logs/restore-describe.log" | head -1)
step "restore phase: ${phase:-unknown}"
sed -n '/^Errors:/,/^Backup:/p' "$logs/restore-describe.log" | head -20
velero restore logs "$RESTORE" > "$work/restore.log" 2> "$logs/restore-logs-cmd.log" \
  || fail "velero restore logs failed: $(tail -n 1 "$logs/restore-logs-cmd.log")"
step "velero restore logs: $(wc -l < "$work/restore.log") lines, $(grep -c 'pluginName=velero-fsb-guard' "$work/restore.log" || true) from our plugin"
grep 'pluginName=velero-fsb-guard' "$work/restore.log" | grep -E 'level=(info|warning|error)' | head -20 || true

step "checks (window ${WINDOW}s after the Deployments were created)"
checks_rc=0
"$py" "$here/e2e.py" check --namespace "$NS" --backup-dir "$BACKUP_DIR" --modifiers "$MODIFIERS" \
  --restore "$RESTORE" --restore-log "$work/restore.log" --seen-rs "$work/seen-rs.jsonl" --window "$WINDOW" \
  > "$logs/checks.log" || checks_rc=$?
cat "$logs/checks.log"
if $control; then
  # Without the plugin the 8578 rules must roll both FSB Deployments out: the checks that a plugin
  # run needs must fail here, or they could not have caught a rollout.
  control_seen=$(grep -E '^CHECK FAIL no new ReplicaSet' "$logs/checks.log" | sed 's/.*new: //' || true)
  [[ -n "$control_seen" ]] || fail "control: no new ReplicaSet appeared without the plugin"
elif [[ $checks_rc -ne 0 ]]; then
  cp "$work/restore.log" "$logs/restore.log"
  fail "$(sed -n 's/^failed: //p' "$logs/checks.log" | cut -c1-300)"
fi

# ------------------------------------------------------------------ the scale restore
# 10,001 items (1,000 Deployments, their ReplicaSets, 8,000 pods, 200 of them FSB pods of 25 Deployments
# the rules change; gen_scale_backup.py says why not more) through
# the same server, with the plugin process killed twice (scale.py): once inside an Execute, once
# later. The restore must finish, lose at most the item whose Execute was in flight per kill, roll
# nothing out, and keep every plugin process under E2E_SCALE_MAX_RSS_MB.
if ! $control && [[ "${E2E_SCALE_DEPLOYMENTS:-1000}" != 0 ]]; then
  scale_root="$work/scale"
  "$py" "$here/gen_scale_backup.py" "$scale_root" --deployments "${E2E_SCALE_DEPLOYMENTS:-1000}" > "$logs/scale-gen.log" 2>&1 \
    || fail "generating the scale backup: $(tail -n 1 "$logs/scale-gen.log")"
  step "$(cat "$logs/scale-gen.log")"
  scale_dir="$scale_root/backups/scale-20260302"
  "$py" "$here/e2e.py" seed --endpoint "$s3" --bucket velero --backup-dir "$scale_dir" > "$logs/scale-seed.log" 2>&1 \
    || fail "seeding the scale backup"
  "$py" "$here/e2e.py" apply "$scale_root/modifiers.yaml" > /dev/null || fail "creating the scale modifiers"
  scale_pvbs=$(zcat "$scale_dir/scale-20260302-podvolumebackups.json.gz" | "$py" -c 'import json,sys; print(len(json.load(sys.stdin)))')
  scale_pvb_count() {
    curl_api "/apis/velero.io/v1/namespaces/velero/podvolumebackups?labelSelector=velero.io/backup-name=scale-20260302" \
      | "$py" -c 'import json, sys; print(len(json.load(sys.stdin)["items"]))'
  }
  # Every 3 s, not wait_for's 0.2 s: each count lists thousands of PodVolumeBackups.
  sync_deadline=$(( $(date +%s) + 600 ))
  until velero backup get scale-20260302 -o json 2>/dev/null | grep -q '"phase": "Completed"' \
      && [[ $(scale_pvb_count 2>/dev/null || echo 0) -ge $scale_pvbs ]]; do
    (( $(date +%s) < sync_deadline )) || fail "the scale backup and its $scale_pvbs PodVolumeBackups were not synced within 600 s ($(scale_pvb_count) synced)"
    sleep 3
  done
  step "scale backup synced ($(scale_pvb_count) PodVolumeBackups)"
  "$py" "$here/scale.py" monitor --plugin "$work/plugins/velero-fsb-guard" --backup scale-20260302 --restore scale-restore \
    --kill-at-items "${E2E_SCALE_KILL_AT:-5000}" --out "$work/scale-monitor.json" 2> "$logs/scale-monitor.log" &
  monitor_pid=$!
  pids+=("$monitor_pid")
  step "velero restore create scale-restore --from-backup scale-20260302 --wait (the plugin killed twice)"
  scale_t0=$(date +%s)
  scale_rc=0
  timeout 1800 "$vbin/velero" --kubeconfig "$kubeconfig" --namespace velero restore create scale-restore \
    --from-backup scale-20260302 --resource-modifier-configmap scale-storage-node-move --wait \
    > "$logs/scale-restore-create.log" 2>&1 || scale_rc=$?
  step "scale restore ended after $(( $(date +%s) - scale_t0 )) s (velero exit $scale_rc)"
  kill -TERM "$monitor_pid" 2>/dev/null || true
  wait "$monitor_pid" 2>/dev/null || true
  [[ $scale_rc -eq 0 ]] || fail "velero restore create (scale) exited $scale_rc"
  velero restore logs scale-restore > "$work/scale-restore.log" 2> "$logs/scale-restore-logs-cmd.log" \
    || fail "velero restore logs (scale) failed: $(tail -n 1 "$logs/scale-restore-logs-cmd.log")"
  scale_rc=0
  "$py" "$here/scale.py" check --backup-dir "$scale_dir" --namespace scale --restore scale-restore \
    --restore-log "$work/scale-restore.log" --monitor "$work/scale-monitor.json" --window "$WINDOW" \
    --max-rss-mb "${E2E_SCALE_MAX_RSS_MB:-128}" > "$logs/scale-checks.log" || scale_rc=$?
  cat "$logs/scale-checks.log"
  if [[ $scale_rc -ne 0 ]]; then
    grep -E 'pluginName=velero-fsb-guard.*level=(warning|error)' "$work/scale-restore.log" | head -20 > "$logs/scale-plugin-warnings.log" || true
    fail "scale: $(sed -n 's/^failed: //p' "$logs/scale-checks.log" | cut -c1-300)"
  fi
fi
step "done"
