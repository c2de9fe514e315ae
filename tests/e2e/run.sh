#!/usr/bin/env bash
# End to end, stage 1: a real control plane on loopback (etcd, kube-apiserver, kube-controller-manager
# built from their Go modules), Velero's CRDs, and the restore scenarios driven through Velero's plugin
# client (tests/e2e/driver), once per Kubernetes version in K8S_VERSIONS; then stage 2, a real Velero
# restore (tests/e2e/velero/run.sh), and stage 3, a real node (tests/e2e/node/run.sh: kubelet,
# containerd, node-agent, kopia; our plugin from its image), the field report's setup on such a
# node (seed) and restores into live workloads there (existing), unless --control-only (then all
# four not-run). Stages 3, seed and existing (each boots a node of its own) run in two background
# lanes beside stages 1 and 2 (stage 3 then existing; seed), starting once the first version's
# control-plane binaries are built; a lane's lines are printed when it ends.
#
#   tests/e2e/run.sh [--control-only]
#
# K8S_VERSIONS (default "v1.37.2 v1.33.13": the newest release and the oldest we claim; they also differ
# in StatefulSet revision encoding) — the first version runs every scenario, later ones only the
# StatefulSet/DaemonSet scenarios. Missing versions are built by build-k8s.sh (cold: several minutes
# each). K8S_VERSION=<v> alone still selects one version.
# E2E_STAGES (default "control-plane velero node seed existing"): which stages run; tests/matrix.sh runs
# "control-plane" alone once per Kubernetes minor, and "seed" alone (its node-v115 part). seed: the
# field report's own setup on a real node of its own (tests/e2e/node/run.sh with NODE_SET=seed:
# Velero 1.15 with restic, then the newest Velero restoring that backup; about 4 min warm). existing:
# issue 20, restores into a cluster where the workloads still exist (NODE_SET=existing: a drifted
# Deployment, a Deployment and a StatefulSet scaled to 0, a running StatefulSet; policies none and
# update with the plugin, a control without it).
# --control-only: only the runs without our plugin (each must show a rollout: proves the harness
# detects rollouts) and the reference runs (the driver itself corrects like the plugin should: proves
# "no rollout" is reachable). Without it, the with-plugin runs join them (each FSB scenario must show none).
# Ends with one line:
#   E2E-SUMMARY: scenarios=<n> sts-scenarios=<n> ds=<n> replicas=<n> with-plugin-rollouts=<n|not-run>
#                control-rollouts=<n> versions=<v,...> velero-restore=<ok|failed|not-run>
#                velero-scale=<restored>/<items>,lost=<n>,kills=<n>,rss=<MiB>|failed|not-run
#                real-node=<ok|failed|not-run> data-restored=<files ok>/<files> control-data-lost=<n>
#                node-k8s=<version> seed-setup=<ok|failed|not-run> existing=<ok>/<n>|failed|not-run
#                faults=<passed>/<n>|failed|not-run
# faults: on the first version, after the modes, the driver's --mode faults (driver/faults.go) restores
# through our plugin with a broken API (403 from least-privilege RBAC, a closed port, a slow server):
# each must fail open within a bound and say why in a warn line; then (driver/conflicts.go) another
# writer beats the plugin's ReplicaSet PATCH or ControllerRevision DELETE once (the plugin reads
# again and writes) or twice (it fails open, no blind write), each beside a no-conflict baseline.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
CACHE="${FSB_CACHE:-/var/cache/velero-fsb-guard}"
K8S_VERSIONS="${K8S_VERSIONS:-${K8S_VERSION:-v1.37.2 v1.33.13}}"
E2E_STAGES="${E2E_STAGES:-control-plane velero node seed existing}"
has_stage() { [[ " $E2E_STAGES " == *" $1 "* ]]; }
read -r -a versions <<< "$K8S_VERSIONS"
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
scenarios=0 control_rollouts=0 plugin_rollouts=not-run velero_restore=not-run velero_scale=not-run
real_node=not-run node_data=- node_lost=- node_k8s=- seed_setup=not-run existing=not-run faults=not-run
sts_scenarios=0 ds_scenarios=0 replica_scenarios=0 versions_done=""

# shellcheck source=velero/control-plane.sh
source "$here/velero/control-plane.sh"   # cp_start/cp_stop and the shared helpers (free_port, wait_for, stop_pids)

lane_pids=()
cleanup() {
  local rc=$? p
  # A failure in the foreground still lets the node lanes finish (their logs are printed below).
  for p in ${lane_pids[@]+"${lane_pids[@]}"}; do
    kill -0 "$p" 2>/dev/null && { echo "waiting for a node lane to finish"; wait "$p" || true; }
  done
  # Stop only what this script started, newest first, by PID.
  stop_pids ${pids[@]+"${pids[@]}"}
  if [[ $status -ne 0 || $rc -ne 0 ]]; then
    echo "--- e2e failed; logs in $logs ---"
    for f in $(find "$logs" -name '*.log' | sort); do
      [[ -f "$f" ]] || continue
      echo "===== ${f#"$logs"/} (last 40 lines) ====="
      tail -n 40 "$f"
    done
  elif [[ -n "${E2E_KEEP_LOGS:-}" ]]; then
    echo "logs kept in $logs"
  else
    rm -rf "$work"
  fi
  echo "E2E-SUMMARY: scenarios=$scenarios sts-scenarios=$sts_scenarios ds=$ds_scenarios replicas=$replica_scenarios with-plugin-rollouts=$plugin_rollouts control-rollouts=$control_rollouts versions=${versions_done:-none} velero-restore=$velero_restore velero-scale=$velero_scale real-node=$real_node data-restored=${node_data:--} control-data-lost=${node_lost:--} node-k8s=$node_k8s seed-setup=$seed_setup existing=$existing faults=$faults"
  [[ $status -eq 0 && $rc -eq 0 ]] || exit 1
}
trap cleanup EXIT

step() { printf '[e2e %4ss] %s\n' "$(( $(date +%s) - t0 ))" "$*"; }

# ---------------------------------------------------------------- binaries
# Stage 1's (stages 2, 3, seed and existing build what they need themselves): skipped when it does not run.
build_k8s() { # build_k8s <version>
  step "building/finding kube-apiserver, kube-controller-manager, etcd $1"
  K8S_VERSION="$1" "$here/build-k8s.sh" > "$logs/build-k8s-$1.log" 2>&1 || { echo "build-k8s.sh $1 failed"; exit 1; }
}
# The first version first: the node lanes start on it.
if has_stage control-plane; then build_k8s "${versions[0]}"; fi

# ---------------------------------------------------------------- the node lanes
# Stage 3 (a real node), seed and existing each boot a node of their own. They run in the background
# beside stages 1 and 2, in two lanes (stage 3 then existing; seed), because they spend most of their
# time waiting on Velero, kopia and the pod-volume timeouts. Nothing is shared between the nodes or
# with stages 1 and 2: each node has its own network and mount namespaces (its IP, /run,
# /var/lib/kubelet, ports), its own dockerd, containerd and cgroupRoot; the build scripts lock their
# cache directories. A lane's lines are printed when it ends; its results come back through a file.
node_set() { # node_set stage|seed|existing <env file>: one node run; appends its results to <env file>
  local set="$1" env="$2" rc=0 log line v
  case $set in
    stage)
      # Stage 3: the whole user story on a real node (kubelet, containerd, node-agent, kopia), our
      # plugin installed from its image with `velero plugin add`; its own namespaces, on the first version.
      step "stage 3: a real node (tests/e2e/node/run.sh, Kubernetes ${versions[0]})"
      log="$logs/real-node.log" ;;
    seed)
      # The field report's own setup (issue 22): Velero 1.15 installed with the restic uploader, the
      # report's workload and rules, with and without the plugin; then the newest Velero restores that
      # restic backup.
      step "real node, the field report's setup (tests/e2e/node/run.sh NODE_SET=seed, Kubernetes ${versions[0]})"
      log="$logs/seed-setup.log" ;;
    existing)
      # Issue 20: restores into a cluster where the workloads still exist (Velero issues 9461, 5242,
      # 1919/6690/7487), no resource modifiers.
      step "real node, restores into live workloads (tests/e2e/node/run.sh NODE_SET=existing, Kubernetes ${versions[0]})"
      log="$logs/existing.log" ;;
  esac
  NODE_SET="$set" K8S_VERSION="${versions[0]}" "$here/node/run.sh" > "$log" 2>&1 || rc=1
  case $set in
    stage)
      grep -E '^(\[node-e2e|build|CHECK|SCENARIO|FAILED|REAL-NODE)' "$log" || true
      line=$(grep '^REAL-NODE:' "$log" | tail -1 || true)
      v=$(sed -n 's/.*real-node=\([a-z-]*\).*/\1/p' <<< "$line")
      printf 'real_node=%q\nnode_data=%q\nnode_lost=%q\nnode_k8s=%q\n' "${v:-failed}" \
        "$(sed -n 's/.*data-restored=\([0-9/]*\).*/\1/p' <<< "$line")" \
        "$(sed -n 's/.*control-data-lost=\([0-9]*\).*/\1/p' <<< "$line")" "${versions[0]}" >> "$env" ;;
    seed)
      grep -E '^(\[node-e2e|build|CHECK|SCENARIO|FAILED|SEED-SETUP|  (describe|plugin):)' "$log" || true
      line=$(grep '^SEED-SETUP:' "$log" | tail -1 || true)
      v=$(sed -n 's/.*seed-setup=\([a-z-]*\).*/\1/p' <<< "$line")
      printf 'seed_setup=%q\n' "${v:-failed}" >> "$env" ;;
    existing)
      grep -E '^(\[node-e2e|build|CHECK|INFO restore|SCENARIO|FAILED|EXISTING|  (describe|plugin):)' "$log" || true
      line=$(grep '^EXISTING:' "$log" | tail -1 || true)
      v=$(sed -n 's/.*existing=\([0-9]*\/[0-9]*\).*/\1/p' <<< "$line")
      printf 'existing=%q\n' "${v:-failed}" >> "$env" ;;
  esac
  [[ $rc -eq 0 ]] || echo "lane_failed=1" >> "$env"
  return $rc
}
node_lane() { # node_lane <name> <set...>: the sets one after the other, each whatever the last did
  local name="$1" set rc=0; shift
  : > "$work/lane-$name.env"
  for set in "$@"; do node_set "$set" "$work/lane-$name.env" || rc=1; done
  step "lane $name done"
  return $rc
}
lane_pids=() lane_names=()
start_lane() { # start_lane <name> <set...>: only the sets E2E_STAGES selects (stage 3 is "node")
  local name="$1" set sets=(); shift
  for set in "$@"; do has_stage "${set/#stage/node}" && sets+=("$set"); done
  [[ ${#sets[@]} -gt 0 ]] || return 0
  step "lane $name in the background: ${sets[*]}"
  node_lane "$name" "${sets[@]}" > "$logs/lane-$name.out" 2>&1 &
  lane_pids+=($!) lane_names+=("$name")
}
if ! $control_only; then
  # The first version's control-plane binaries are built above (stage 1) or by the lane's own
  # build.sh; later versions build in the foreground while the lanes run.
  start_lane node-existing stage existing
  start_lane seed seed
fi

if has_stage control-plane; then
  for v in "${versions[@]:1}"; do build_k8s "$v"; done

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
    cp "${CARGO_TARGET_DIR:-$repo/target}/debug/velero-fsb-guard" "$work/plugins/velero-fsb-guard"
  fi
fi
mkdir -p "$work/no-plugins"

# ---------------------------------------------------------------- one Kubernetes version
# The modes run side by side (own namespaces, backups and restores each), so the windows overlap.
start_driver() { # start_driver <mode> <plugin dir> <scenario set> [driver args...]; sets drv_pid
  local mode="$1" dir="$2" set="$3"; shift 3
  # Plugin processes inherit this environment, as they inherit the Velero server pod's: the
  # kubeconfig stands in for the in-cluster service account, VELERO_NAMESPACE is what Velero's pod sets.
  KUBECONFIG="$kubeconfig" VELERO_NAMESPACE=velero \
  "$drv_bin" --kubeconfig "$kubeconfig" --mode "$mode" --plugin-dir "$dir" --crd-dir "$crd_dir" \
    --window "$WINDOW" --run-id "$$" --set "$set" "$@" > "$logs/driver-$mode.out" 2> "$logs/driver-$mode.log" &
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

failed=0
run_version() { # run_version <version> <scenario set: all|workloads> <with kubeapi tests: true|false> <previous version or "">
  local v="$1" set="$2" kubeapi="$3" prev="$4" outer_work="$work" outer_logs="$logs" m dir n
  # Each version keeps its captured workload backups; the next one restores them (sts-cross-version).
  local xargs=(--save-backups "$outer_work/backups/$v")
  [[ -n $prev ]] && xargs+=(--load-backups "$outer_work/backups/$prev")
  work="$outer_work/$v"; logs="$outer_logs/$v"
  mkdir -p "$work" "$logs"
  step "=== Kubernetes $v (scenarios: $set)"
  cp_start "$CACHE/k8s-$v/bin"
  echo "KUBECONFIG=$kubeconfig" > "$logs/env.log"
  # CRDs and the DaemonSet node first (one driver installs them), then the modes in parallel.
  if ! "$drv_bin" --kubeconfig "$kubeconfig" --crd-dir "$crd_dir" --install-only > "$logs/crds.log" 2>&1; then
    echo "installing Velero CRDs failed"; failed=1
  else
    local modes=(control)
    [[ $set == all ]] && modes+=(reference)
    $control_only || modes+=(plugin)
    step "scenarios, modes: ${modes[*]} (window $WINDOW)"
    declare -A mode_pid
    for m in "${modes[@]}"; do
      dir="$outer_work/no-plugins"; [[ $m == plugin ]] && dir="$outer_work/plugins"
      start_driver "$m" "$dir" "$set" "${xargs[@]}"
      mode_pid[$m]=$drv_pid
    done
    for m in "${modes[@]}"; do finish_driver "$m" "${mode_pid[$m]}" || failed=1; done
    if [[ $set == all ]] && ! $control_only; then
      # Alone, after the modes: the slow-server fault measures how long Execute takes.
      step "fault scenarios: our plugin against a broken API (driver --mode faults)"
      local frc=0
      start_driver faults "$outer_work/plugins" "$set" --rbac "$repo/deploy/rbac.yaml"
      wait "$drv_pid" || frc=$?
      grep -E '^(FAULT|FAULTS-RESULT)' "$logs/driver-faults.out" || true
      faults=$(sed -n 's/^FAULTS-RESULT faults=\([0-9]*\/[0-9]*\).*/\1/p' "$logs/driver-faults.out" | tail -1)
      [[ -n $faults ]] || faults=failed
      [[ $frc -eq 0 ]] || { echo "driver mode=faults exited $frc"; failed=1; }
    fi
    n=$(field scenarios control); scenarios=$(( scenarios + ${n:-0} ))
    n=$(field rollouts control); control_rollouts=$(( control_rollouts + ${n:-0} ))
    n=$(field sts control); sts_scenarios=$(( sts_scenarios + ${n:-0} ))
    n=$(field ds control); ds_scenarios=$(( ds_scenarios + ${n:-0} ))
    n=$(field replicas control); replica_scenarios=$(( replica_scenarios + ${n:-0} ))
    if [[ $set == all ]]; then
      echo "reference correction (harness self-check): rollouts it had to prevent=$(field prevent-rollouts reference) failures=$(field failures reference)"
    fi
    if ! $control_only; then
      n=$(field prevent-rollouts plugin)
      if [[ -z $n ]]; then plugin_rollouts=unknown
      elif [[ $plugin_rollouts != unknown ]]; then plugin_rollouts=$(( ${plugin_rollouts/not-run/0} + n )); fi
    fi
    if $kubeapi; then
      step "driver go tests: kube API fixture checks (kubeapi_test.go) and unit tests"
      if (cd "$here/driver" && E2E_KUBECONFIG="$kubeconfig" nice -n 10 go test -count=1 -v .) > "$logs/kubeapi-test.log" 2>&1; then
        echo "driver go tests: $(grep -c '^--- PASS' "$logs/kubeapi-test.log") passed"
      else
        grep -E '^(--- FAIL|\s+\S+_test.go)' "$logs/kubeapi-test.log" || true
        echo "driver go tests failed"
        failed=1
      fi
    fi
  fi
  cp_stop
  versions_done="${versions_done:+$versions_done,}$v"
  work="$outer_work"; logs="$outer_logs"
}

prev=""
for v in "${versions[@]}"; do
  has_stage control-plane || break
  if [[ -z $prev ]]; then run_version "$v" all true ""; else run_version "$v" workloads false "$prev"; fi
  prev="$v"
done

if ! $control_only && has_stage velero; then
  # Stage 2 starts its own control plane inside its own network namespace: no port clashes.
  step "stage 2: a real Velero server restore (tests/e2e/velero/run.sh)"
  if K8S_VERSION="${versions[0]}" "$here/velero/run.sh" > "$logs/velero-restore.log" 2>&1; then
    velero_restore=ok
  else
    velero_restore=failed
    failed=1
  fi
  grep -E '^(CHECK|VELERO-RESTORE|VELERO-SCALE)' "$logs/velero-restore.log" || true
  # The scale restore's line: items restored/items, lost, kills and the plugin's peak memory.
  velero_scale=$(sed -n 's/^VELERO-SCALE: items=\([0-9]*\) restored=\([0-9]*\) lost=\([0-9]*\) kills=\([0-9]*\).*plugin-peak-rss-mb=\([0-9]*\).*/\2\/\1,lost=\3,kills=\4,rss=\5MiB/p' "$logs/velero-restore.log" | tail -1)
  [[ -n $velero_scale ]] || velero_scale=failed
fi

# The lanes' results, read back from the files they write (they run in subshells).
for i in "${!lane_pids[@]}"; do
  step "waiting for lane ${lane_names[$i]}"
  wait "${lane_pids[$i]}" || failed=1
  cat "$logs/lane-${lane_names[$i]}.out"
  lane_failed=0
  # shellcheck disable=SC1090
  source "$work/lane-${lane_names[$i]}.env"
  [[ $lane_failed -eq 0 ]] || failed=1
done
lane_pids=()
step "done"
status=$failed
