#!/usr/bin/env bash
# End to end on a real node (issue 16): the whole user story. A single-node cluster from real parts
# (kube-apiserver, kube-controller-manager with its default controllers, kube-scheduler, kube-proxy,
# kubelet, containerd + runc, CNI bridge), images built locally (our plugin's from ./Dockerfile by
# dockerd), Velero installed with `velero install --use-node-agent --uploader-type kopia` and our
# plugin with `velero plugin add`; five workloads with files of known content are backed up (file
# system backup), deleted, and restored with resource modifiers that change their pod templates;
# the files are read back inside the running restored pods. Then the control run: the plugin removed
# with `velero plugin remove`, the same restore must lose data (Velero issue 8578).
#
#   tests/e2e/node/run.sh
#
# Env: K8S_VERSION (default v1.37.2), FSB_CACHE, NODE_PV_TIMEOUT (the control restore's
# velero.io/pod-volume-timeout, default 90s; seed 45s), E2E_KEEP_LOGS=1 (keep the temp dir), NODE_SET:
#   stage (default)  the five scenarios above, Velero $VELERO_VERSION, kopia
#   seed             issue 22, the field report's own setup (Velero issue 8578): Velero
#                    $SEED_VELERO_VERSION installed with --uploader-type restic, its separate
#                    restore-helper image, one Deployment growi-mongodb restored into another
#                    namespace with the report's rules, with and without the plugin; then Velero
#                    $VELERO_VERSION, installed afresh on the same bucket, restores that restic backup.
#   existing         issue 20, restores into a cluster where the workloads still exist (Velero issues
#                    9461, 5242, 1919/6690/7487): nothing deleted; after the backup a Deployment rolls
#                    to a new image, a Deployment and a StatefulSet are scaled to 0, a StatefulSet keeps
#                    running, every claim's files are overwritten; restores without resource modifiers
#                    with the plugin (existingResourcePolicy none, then update) and without it (control).
# Builds first (build.sh, network for the package registries); then everything runs inside a private
# network and mount namespace (`unshare -n -m`): the node's IP is on a veth pair inside it, so no
# packet leaves; /run, /var/lib/kubelet, /var/lib/cni and /var/log/{pods,containers} are private.
# Last line: REAL-NODE: real-node=<ok|failed> data-restored=<ok>/<files> control-data-lost=<n> node-k8s=<v>
#   (seed: SEED-SETUP: seed-setup=<ok|failed> velero=<v> uploader=restic data-restored=<ok>/<files>
#          control-data-lost=<n> control-restic-restores=<phases> restic-on-<newest>=<ok>/<files>|not-run
#          node-k8s=<v>;
#    existing: EXISTING: existing=<scenarios ok under both policies>/<scenarios> policies=none,update
#          control-data-lost=<n> node-k8s=<v>)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
# shellcheck source=env.sh
source "$here/env.sh"
NODE_NAME=fsb-node
NODE_IP=10.250.0.10    # on a veth inside the namespace; nothing outside it routes there
POD_CIDR=10.244.0.0/24
PLUGIN_VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' "$repo/Cargo.toml" | head -1)
PLUGIN_IMAGE="local/velero-fsb-guard:$PLUGIN_VERSION"
export NODE_SET="${NODE_SET:-stage}"   # scenarios.py reads it too
case "$NODE_SET" in
  stage) NODE_VELERO=$VELERO_VERSION UPLOADER=kopia BACKUP=fsb-node ;;
  seed) NODE_VELERO=$SEED_VELERO_VERSION UPLOADER=restic BACKUP=fsb-seed ;;
  existing) NODE_VELERO=$VELERO_VERSION UPLOADER=kopia BACKUP=fsb-existing ;;
  *) echo "NODE_SET must be stage, seed or existing" >&2; exit 2 ;;
esac
# The control restore's bound: the seed set's one volume is orphaned within seconds (its pod is
# replaced as soon as the Deployment is restored), so it needs less than the stage's six; the existing
# set's restored pods are deleted by the live controllers at once (it also bounds its plugin restores).
PV_TIMEOUT="${NODE_PV_TIMEOUT:-$(case $NODE_SET in seed) echo 45s ;; existing) echo 60s ;; *) echo 90s ;; esac)}"

inside=false
for a in "$@"; do
  case "$a" in
    --in-netns) inside=true ;;
    *) echo "usage: $0" >&2; exit 2 ;;
  esac
done
t0=${FSB_NODE_T0:-$(date +%s)}
export FSB_NODE_T0=$t0
step() { printf '[node-e2e %4ss] %s\n' "$(( $(date +%s) - t0 ))" "$*"; }
data_restored="0/0" control_lost=0 newest_restored=not-run control_pvr=- existing_ok="0/0"
result() {
  if [[ $NODE_SET == existing ]]; then
    echo "EXISTING: existing=$existing_ok policies=none,update control-data-lost=$control_lost node-k8s=$K8S_VERSION"
  elif [[ $NODE_SET == seed ]]; then
    echo "SEED-SETUP: seed-setup=$1 velero=$NODE_VELERO uploader=$UPLOADER data-restored=$data_restored control-data-lost=$control_lost control-restic-restores=$control_pvr restic-on-$VELERO_VERSION=$newest_restored node-k8s=$K8S_VERSION"
  else
    echo "REAL-NODE: real-node=$1 data-restored=$data_restored control-data-lost=$control_lost node-k8s=$K8S_VERSION"
  fi
}

# ------------------------------------------------------------------ phase 1: builds (network allowed)
if ! $inside; then
  buildlog="$(mktemp /tmp/fsb-node-build.XXXXXX)"
  step "building/finding the node's parts (tests/e2e/node/build.sh; cold: about 10 min beyond stage 1 and 2)"
  if ! K8S_VERSION="$K8S_VERSION" "$here/build.sh" "$NODE_SET" > "$buildlog" 2>&1; then
    tail -n 60 "$buildlog"; rm -f "$buildlog"; result failed; exit 1
  fi
  grep '^build' "$buildlog" || true
  rm -f "$buildlog"
  if unshare -n -m true 2>/dev/null; then
    exec unshare -n -m --propagation private -- "$0" --in-netns
  fi
  echo "cannot create private network and mount namespaces (unshare -n -m); refusing to run a node outside them"
  result failed
  exit 1
fi

# ------------------------------------------------------------------ phase 2: inside the namespaces
kbin="$CACHE/k8s-$K8S_VERSION/bin"
vbin="$CACHE/velero-$NODE_VELERO/bin"   # the CLI of the Velero being installed (install_velero switches it)
abin="$CACHE/velero-$VELERO_VERSION/bin"  # the aws plugin's
cbin="$NODE_CACHE/containerd-$CONTAINERD_VERSION"
py="$CACHE/venv-moto/bin/python"
work="$(mktemp -d /tmp/fsb-node-e2e.XXXXXX)"
logs="$work/logs"
mkdir -p "$logs"
pids=() made_dirs=() status=1
cgroot="/fsb-node-e2e-$$"       # kubelet's cgroupRoot: its own tree, removed at the end
ctr_sock="$work/containerd/containerd.sock"
export NODE_CTR="$cbin/ctr" NODE_CTR_SOCK="$ctr_sock" NODE_DISKS="$work/disks"
ctr() { "$cbin/ctr" -a "$ctr_sock" -n k8s.io "$@"; }

# shellcheck source=../velero/control-plane.sh
source "$here/../velero/control-plane.sh"   # cp_start, cp_kubeconfig, free_port, wait_for, stop_pids
CP_ADDRESS=$NODE_IP KAPI_AUTHZ=Node,RBAC KAPI_ENDPOINT_RECONCILER=lease KCM_CONTROLLERS='*'

cleanup() {
  local rc=$? i p d shims
  set +e
  [[ $status -eq 0 && $rc -ne 0 ]] && status=$rc
  # kubelet first, so that it restarts nothing while the containers go; dockerd if still up.
  stop_pids ${kubelet_pid:+"$kubelet_pid"} ${dockerd_pid:+"$dockerd_pid"}
  # Containers outlive containerd by design (a pod's runc shim keeps running, even after its tasks
  # are deleted): note each task's shim (its parent process), kill and remove every task and
  # container, then stop containerd, the other processes and the shims, all by PID.
  shims=()
  if [[ -S "$ctr_sock" ]]; then
    for i in $(ctr tasks ls 2>/dev/null | awk 'NR > 1 {print $2}'); do
      p=$(ps -o ppid= -p "$i" 2>/dev/null) && shims+=("${p// /}")
    done
    for i in $(ctr tasks ls -q 2>/dev/null); do ctr tasks kill -s SIGKILL "$i" >/dev/null 2>&1; done
    sleep 1
    for i in $(ctr tasks ls -q 2>/dev/null); do ctr tasks delete -f "$i" >/dev/null 2>&1; done
    for i in $(ctr containers ls -q 2>/dev/null); do ctr containers delete "$i" >/dev/null 2>&1; done
  fi
  stop_pids ${pids[@]+"${pids[@]}"}
  stop_pids $(printf '%s\n' ${shims[@]+"${shims[@]}"} | sort -u)
  # Anything still working in this run's containerd state (a shim whose task had already exited)?
  for p in /proc/[0-9]*; do
    [[ "$(readlink "$p/cwd" 2>/dev/null)" == "$work/containerd/state/"* ]] || continue
    echo "stopping a shim whose task was gone: ${p#/proc/}"; stop_pids "${p#/proc/}"
  done
  # Mounts: kubelet's (volumes, its rshared root), the bind mounts made below, containerd's overlays.
  for d in /var/lib/kubelet /var/lib/cni /var/log/pods /var/log/containers; do
    mountpoint -q "$d" && umount -R "$d"
  done
  findmnt -rn -o TARGET | grep "^$work" | sort -r | while read -r d; do umount -R "$d" 2>/dev/null || umount -l "$d"; done
  for d in /sys/fs/cgroup/*"$cgroot"; do
    [[ -d $d ]] && find "$d" -depth -type d -exec rmdir {} + 2>/dev/null
  done
  for d in "${made_dirs[@]}"; do rmdir "$d" 2>/dev/null; done
  if [[ $status -ne 0 ]]; then
    echo "--- real node e2e failed; logs in $logs ---"
    for p in $(find "$logs" -name '*.log' | sort); do
      echo "===== ${p#"$logs"/} (last 40 lines) ====="
      tail -n 40 "$p"
    done
  fi
  if [[ -n "${E2E_KEEP_LOGS:-}" ]]; then echo "logs kept in $logs"; else rm -rf "$work"; fi
  if [[ $status -eq 0 ]]; then result ok; else result failed; exit 1; fi
}
trap cleanup EXIT
fail() { echo "FAILED: $*"; exit 1; }

# The images live three times (dockerd, its archive, containerd): about 1 GiB with the rest.
free_mib=$(( $(df -Pk "$work" | awk 'NR == 2 {print $4}') / 1024 ))
[[ $free_mib -ge 2048 ]] || fail "only ${free_mib} MiB free under $work; the node needs about 2 GiB"

# ------------------------------------------------------------------ network and mounts
step "namespace: node IP $NODE_IP on a veth pair; private /run, /var/lib/kubelet, /var/lib/cni, /var/log/{pods,containers}"
ip link set lo up
ip link add fsb-node0 type veth peer name fsb-node1
ip addr add "$NODE_IP/24" dev fsb-node0
ip link set fsb-node0 up
ip link set fsb-node1 up
mount -t tmpfs tmpfs /run    # containerd's shim sockets, runc state, pod network namespaces
for d in /var/lib/kubelet /var/lib/cni /var/log/pods /var/log/containers; do
  [[ -d $d ]] || { mkdir -p "$d"; made_dirs+=("$d"); }
  mkdir -p "$work/host$d"
  mount --bind "$work/host$d" "$d"
done
# Shared, so that HostToContainer mounts of the pods directory (node-agent, its restore pods) work;
# kubelet would otherwise stack a second, shared bind mount on this one, and containerd judges the
# propagation by the lower, private mount ("is mounted on /var/lib/kubelet but it is not a shared
# or slave mount").
mount --make-rshared /var/lib/kubelet
# kubelet's cgroupRoot must exist in every hierarchy; a new cpuset cgroup starts with no CPUs or
# memory nodes, so it gets its parent's.
for d in /sys/fs/cgroup/*/; do
  [[ $d == */unified/ ]] && continue
  mkdir -p "$d${cgroot#/}"
  if [[ -f "${d}cpuset.cpus" ]]; then
    cat "${d}cpuset.cpus" > "$d${cgroot#/}/cpuset.cpus"
    cat "${d}cpuset.mems" > "$d${cgroot#/}/cpuset.mems"
  fi
done

# ------------------------------------------------------------------ images (dockerd, offline)
step "images: dockerd $(dockerd --version | sed 's/Docker version \([^,]*\).*/\1/') with private dirs builds pause, busybox, velero, aws plugin, and our plugin from ./Dockerfile"
mkdir -p "$work/img"
# shellcheck source=../../../scripts/private-daemons.sh
source "$repo/scripts/private-daemons.sh"   # private_dockerd_start (sets dockerd_pid), docker
private_dockerd_start "$work/docker" "$logs/dockerd.log" || fail "dockerd did not start"
images=()
build_image() { # build_image <tag> <Dockerfile> <context> [docker build flags...]
  local tag="$1" file="$2" dir="$3"; shift 3
  docker build --network none -t "$tag" -f "$file" "$@" "$dir" >> "$logs/docker-build.log" 2>&1 || fail "docker build $tag"
  images+=("$tag")
}
ctx="$work/img/pause"; mkdir -p "$ctx"; cp "$NODE_CACHE/pause-$K8S_VERSION/pause" "$ctx/"
build_image "local/pause:$K8S_VERSION" "$here/images/pause.Dockerfile" "$ctx"
ctx="$work/img/busybox"; mkdir -p "$ctx/rootfs/bin" "$ctx/rootfs/tmp"; chmod 1777 "$ctx/rootfs/tmp"
cp /bin/busybox "$ctx/rootfs/bin/busybox"
for a in sh sleep cat head printf sha256sum sync ls echo; do ln -s busybox "$ctx/rootfs/bin/$a"; done
build_image local/busybox:e2e "$here/images/busybox.Dockerfile" "$ctx"
docker tag local/busybox:e2e local/busybox:e2e-v2 && images+=(local/busybox:e2e-v2)
velero_image() { # velero_image <tag> <file...>: Velero's image layout (user cnb) holding <file...> at /
  # (a file named restic goes to /usr/bin, where Velero's own image has it and its uploader looks).
  local tag="$1" f; shift
  ctx="$work/img/${tag//[^a-z0-9.]/_}"; mkdir -p "$ctx/rootfs/etc" "$ctx/rootfs/tmp" "$ctx/rootfs/usr/bin" "$ctx/home/cnb"
  chmod 1777 "$ctx/rootfs/tmp"
  for f in "$@"; do
    if [[ ${f##*/} == restic ]]; then cp "$f" "$ctx/rootfs/usr/bin/"; else cp "$f" "$ctx/rootfs/"; fi
  done
  printf 'root:x:0:0:root:/root:/sbin/nologin\ncnb:x:1000:1000::/home/cnb:/sbin/nologin\n' > "$ctx/rootfs/etc/passwd"
  printf 'root:x:0:\ncnb:x:1000:\n' > "$ctx/rootfs/etc/group"
  build_image "$tag" "$here/images/velero.Dockerfile" "$ctx"
}
if [[ $NODE_SET == seed ]]; then
  # Velero 1.15's image carries restic (its uploader, run by the server and by node-agent) and no
  # restore helper: restore-wait runs velero/velero-restore-helper:<version>, an image of its own
  # built from the same Dockerfile; the newest Velero's image carries both, and still needs restic
  # to restore restic backups.
  restic_bin="$CACHE/restic-$RESTIC_VERSION/bin/restic"
  velero_image "local/velero:$NODE_VELERO" "$vbin/velero" "$restic_bin"
  velero_image "local/velero-restore-helper:$NODE_VELERO" "$vbin/velero-restore-helper"
  velero_image "local/velero:$VELERO_VERSION" "$abin/velero" "$abin/velero-restore-helper" "$restic_bin"
else
  velero_image "local/velero:$VELERO_VERSION" "$vbin/velero" "$vbin/velero-restore-helper"
fi
ctx="$work/img/aws"; mkdir -p "$ctx"; cp "$abin/velero-plugin-for-aws" "$abin/cp-plugin" "$ctx/"
build_image "local/velero-plugin-for-aws:$AWS_PLUGIN_VERSION" "$here/images/aws-plugin.Dockerfile" "$ctx"
# Our plugin: the project's Dockerfile, its offline path (the static binary build.sh made).
build_image "$PLUGIN_IMAGE" "$repo/Dockerfile" "$repo" --target prebuilt --build-arg VERSION="$PLUGIN_VERSION"
docker save -o "$work/img/images.tar" "${images[@]}"
stop_pids "$dockerd_pid"; dockerd_pid=""   # its job is done; containerd below is the node's runtime
step "images built: ${images[*]} ($(du -m "$work/img/images.tar" | cut -f1) MiB)"

# ------------------------------------------------------------------ containerd + runc, CNI
step "containerd $CONTAINERD_VERSION (runc $(/usr/sbin/runc --version | sed -n 's/^runc version //p')), images imported into k8s.io"
mkdir -p "$work/containerd" "$work/cni/net.d"
cat > "$work/containerd/config.toml" <<EOF
version = 3
root = "$work/containerd/root"
state = "$work/containerd/state"
[grpc]
  address = "$ctr_sock"
[plugins.'io.containerd.cri.v1.images']
  snapshotter = "overlayfs"
  [plugins.'io.containerd.cri.v1.images'.pinned_images]
    sandbox = "docker.io/local/pause:$K8S_VERSION"
[plugins.'io.containerd.cri.v1.runtime']
  # Without CAP_SYS_RESOURCE (this machine kind) runc cannot lower oom_score_adj below the
  # parent's: every sandbox fails with "can't get final child's PID from pipe: EOF".
  restrict_oom_score_adj = true
  [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
    runtime_type = "io.containerd.runc.v2"
    [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
      SystemdCgroup = false
      BinaryName = "/usr/sbin/runc"
  [plugins.'io.containerd.cri.v1.runtime'.cni]
    bin_dirs = ["$NODE_CACHE/cni-$CNI_PLUGINS_VERSION"]
    conf_dir = "$work/cni/net.d"
EOF
# The bridge gateway is the node's side of the pod network: pods reach NODE_IP (API server, S3)
# through it. No masquerading: nothing leaves the namespace.
cat > "$work/cni/net.d/10-fsb-e2e.conflist" <<EOF
{"cniVersion": "1.0.0", "name": "fsb-e2e", "plugins": [
  {"type": "bridge", "bridge": "cni-fsb0", "isGateway": true, "ipMasq": false, "hairpinMode": true,
   "ipam": {"type": "host-local", "dataDir": "$work/cni/ipam", "ranges": [[{"subnet": "$POD_CIDR"}]],
            "routes": [{"dst": "0.0.0.0/0"}]}},
  {"type": "portmap", "capabilities": {"portMappings": true}}]}
EOF
PATH="$cbin:$PATH" "$cbin/containerd" --config "$work/containerd/config.toml" > "$logs/containerd.log" 2>&1 &
pids+=($!)
wait_for 60 containerd ctr version || fail "containerd did not start"
ctr images import --all-platforms "$work/img/images.tar" > "$logs/ctr-import.log" 2>&1 || fail "ctr images import"
rm -f "$work/img/images.tar"

# ------------------------------------------------------------------ control plane
cp_start "$kbin" || fail "control plane did not start"
export KUBECONFIG="$kubeconfig"
api() { curl_api "$@"; }
api_code() { curl -s -o /dev/null -w '%{http_code}' --cacert "$KAPI_CA" --cert "$KAPI_CERT" --key "$KAPI_KEY" "$KAPI_SERVER$1"; }

# ------------------------------------------------------------------ the node: scheduler, kube-proxy, kubelet
step "kube-scheduler, kube-proxy (nftables), kubelet $K8S_VERSION (node $NODE_NAME, cgroup v1, cgroupRoot $cgroot)"
cp_kubeconfig "$work/scheduler.kubeconfig" system:kube-scheduler
"$kbin/kube-scheduler" --kubeconfig "$work/scheduler.kubeconfig" \
  --authentication-kubeconfig "$work/scheduler.kubeconfig" --authorization-kubeconfig "$work/scheduler.kubeconfig" \
  --bind-address 127.0.0.1 --secure-port "$(free_port)" --leader-elect=false > "$logs/kube-scheduler.log" 2>&1 &
pids+=($!)
cp_kubeconfig "$work/proxy.kubeconfig" system:kube-proxy
cat > "$work/proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: $work/proxy.kubeconfig}
hostnameOverride: $NODE_NAME
mode: nftables
clusterCIDR: $POD_CIDR
healthzBindAddress: 127.0.0.1:$(free_port)
metricsBindAddress: 127.0.0.1:$(free_port)
# Leave the conntrack sysctls alone: nf_conntrack_max is global, not per network namespace.
conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
EOF
"$kbin/kube-proxy" --config "$work/proxy.yaml" > "$logs/kube-proxy.log" 2>&1 &
pids+=($!)
cp_kubeconfig "$work/kubelet.kubeconfig" "system:node:$NODE_NAME" system:nodes
cat > "$work/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
containerRuntimeEndpoint: unix://$ctr_sock
cgroupDriver: cgroupfs
cgroupRoot: $cgroot
failCgroupV1: false           # this machine is cgroup v1; 1.35+ refuse it unless told
failSwapOn: false
address: $NODE_IP
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
authentication: {anonymous: {enabled: true}, webhook: {enabled: false}}
authorization: {mode: AlwaysAllow}
serverTLSBootstrap: false
imageGCHighThresholdPercent: 100
# Absolute, small thresholds: the node shares the machine's disk, where 1% can be more than is free.
evictionHard: {memory.available: 1Mi, nodefs.available: 200Mi, imagefs.available: 200Mi, nodefs.inodesFree: 1%}
EOF
"$kbin/kubelet" --config "$work/kubelet.yaml" --kubeconfig "$work/kubelet.kubeconfig" \
  --hostname-override "$NODE_NAME" --node-ip "$NODE_IP" \
  --node-labels storage.example.com/tier=ssd > "$logs/kubelet.log" 2>&1 &
kubelet_pid=$!
node_ready() {
  api "/api/v1/nodes/$NODE_NAME" | "$py" -c '
import json, sys
n = json.load(sys.stdin)
ready = any(c["type"] == "Ready" and c["status"] == "True" for c in n["status"].get("conditions", []))
sys.exit(0 if ready and not n["spec"].get("taints") else 1)'
}
wait_for 120 "node $NODE_NAME Ready and untainted" node_ready || fail "node did not become Ready"
# kube-proxy programs the `kubernetes` Service (10.96.0.1:443 -> NODE_IP:<port>) for in-cluster clients.
wait_for 60 "kube-proxy rules for the kubernetes Service" sh -c "nft list table ip kube-proxy | grep -q 10.96.0.1" \
  || fail "kube-proxy did not program the kubernetes Service"
step "node $NODE_NAME Ready ($(api "/api/v1/nodes/$NODE_NAME" | "$py" -c 'import json,sys; i=json.load(sys.stdin)["status"]["nodeInfo"]; print(i["kubeletVersion"], i["containerRuntimeVersion"])'))"

# ------------------------------------------------------------------ object storage, Velero
s3_port=$(free_port)
s3="http://$NODE_IP:$s3_port"
"$CACHE/venv-moto/bin/moto_server" -H "$NODE_IP" -p "$s3_port" > "$logs/moto.log" 2>&1 &
pids+=($!)
wait_for 60 moto curl -sf "$s3/" || fail "moto did not start"
export AWS_ACCESS_KEY_ID=fsb-e2e AWS_SECRET_ACCESS_KEY=fsb-e2e-secret
"$py" "$here/scenarios.py" bucket --endpoint "$s3" --bucket velero > "$logs/bucket.log" 2>&1 || fail "creating the bucket"
printf '[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n' "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY" > "$work/credentials"
velero() { "$vbin/velero" --kubeconfig "$kubeconfig" --namespace velero "$@"; }
pods_running() { # pods_running <namespace> <label selector> <count>: exactly <count> pods, all Running and Ready
  api "/api/v1/namespaces/$1/pods?labelSelector=$2" | "$py" -c '
import json, sys
pods = [p for p in json.load(sys.stdin)["items"] if not p["metadata"].get("deletionTimestamp")]
ok = [p for p in pods if p["status"].get("phase") == "Running" and all(c.get("ready") for c in p["status"].get("containerStatuses", []))]
sys.exit(0 if len(pods) == len(ok) == int(sys.argv[1]) else 1)' "$3"
}
bsl_available() { velero backup-location get default -o json | grep -q '"phase": "Available"'; }
server_has_plugin() { # server_has_plugin yes|no: what the running server reports (velero plugin get)
  local listed=no
  velero plugin get > "$work/plugins.txt" 2>&1 || return 1
  grep -q 'fsb-guard.io/' "$work/plugins.txt" && listed=yes
  [[ $listed == "$1" ]]
}
velero_rolled() { # the Deployment's rollout finished (one pod, from the current template)
  api /apis/apps/v1/namespaces/velero/deployments/velero | "$py" -c '
import json, sys
d = json.load(sys.stdin); s = d.get("status", {})
sys.exit(0 if s.get("observedGeneration") == d["metadata"]["generation"] and s.get("updatedReplicas") == s.get("replicas") == s.get("readyReplicas") == 1 else 1)'
}
install_velero() { # install_velero <version> <uploader>: velero install with that version's CLI, then our plugin
  local v="$1" uploader="$2"
  vbin="$CACHE/velero-$v/bin"
  step "velero install (images local/velero:$v, local/velero-plugin-for-aws:$AWS_PLUGIN_VERSION; node agent, $uploader; S3 $s3)"
  velero install --provider aws --image "local/velero:$v" \
    --plugins "local/velero-plugin-for-aws:$AWS_PLUGIN_VERSION" --bucket velero --secret-file "$work/credentials" \
    --backup-location-config "region=us-east-1,s3ForcePathStyle=true,s3Url=$s3" --use-volume-snapshots=false \
    --use-node-agent --uploader-type "$uploader" --wait > "$logs/velero-install-$v.log" 2>&1 || fail "velero install $v"
  wait_for 120 "node-agent running" pods_running velero name=node-agent 1 || fail "node-agent not running"
  wait_for 120 "BackupStorageLocation Available" bsl_available || fail "BackupStorageLocation never became Available"
  if [[ $v == "$SEED_VELERO_VERSION" ]]; then
    # Up to 1.15 restore-wait's image is velero/velero-restore-helper:<version> unless this plugin
    # ConfigMap names another (the local build of that image; nothing can be pulled here).
    printf '%s\n' "apiVersion: v1" "kind: ConfigMap" "metadata:" "  name: fs-restore-action-config" "  namespace: velero" \
      "  labels: {velero.io/plugin-config: \"\", velero.io/pod-volume-restore: RestoreItemAction}" \
      "data: {image: \"local/velero-restore-helper:$v\"}" > "$work/restore-helper-config.yaml"
    "$py" "$here/../velero/e2e.py" apply "$work/restore-helper-config.yaml" > /dev/null || fail "restore helper ConfigMap"
  fi
  step "velero plugin add $PLUGIN_IMAGE (README Quickstart); the server restarts with it"
  velero plugin add "$PLUGIN_IMAGE" --confirm > "$logs/plugin-add-$v.log" 2>&1 || fail "velero plugin add"
  wait_for 180 "velero Deployment rolled out with the plugin" velero_rolled || fail "velero did not roll out"
  wait_for 120 "the server lists our plugin (velero plugin get)" server_has_plugin yes || fail "server does not list the plugin"
  step "server $(velero version 2>/dev/null | sed -n '/^Server/,$ s/^\s*Version: //p' | head -1), plugins: $(grep -o 'fsb-guard.io/[^ ]*' "$work/plugins.txt" | sort -u | tr '\n' ' ')"
}
install_velero "$NODE_VELERO" "$UPLOADER"
IFS=, read -r -a NAMESPACES <<< "$("$py" "$here/scenarios.py" namespaces)"
MAPPINGS=$("$py" "$here/scenarios.py" mappings)   # the restore's --namespace-mappings, if the set has any

# ------------------------------------------------------------------ the scenarios' workloads and backup
step "deploying the scenarios (${NAMESPACES[*]}) and writing files of known content into their volumes"
"$py" "$here/scenarios.py" deploy --out "$work/expected.json" > "$logs/deploy.log" 2>&1 \
  || { cat "$logs/deploy.log"; fail "deploying the scenarios"; }
cat "$logs/deploy.log"
step "velero backup create $BACKUP --include-namespaces $(IFS=,; echo "${NAMESPACES[*]}") --default-volumes-to-fs-backup --wait"
velero backup create "$BACKUP" --include-namespaces "$(IFS=,; echo "${NAMESPACES[*]}")" \
  --default-volumes-to-fs-backup --wait > "$logs/backup.log" 2>&1 || fail "velero backup create"
backup_state() {
  api "/apis/velero.io/v1/namespaces/velero/backups/$BACKUP" | "$py" -c 'import json,sys; print(json.load(sys.stdin)["status"]["phase"])'
  api "/apis/velero.io/v1/namespaces/velero/podvolumebackups?labelSelector=velero.io/backup-name=$BACKUP" | "$py" -c '
import json, sys
pvbs = json.load(sys.stdin)["items"]
def entry(p):
    st = p.get("status", {})
    # What the uploader saw: bytes (when it reported progress) or "empty" (Velero: "volume was
    # empty so no snapshot was taken"), so a backup that read an empty directory shows here.
    seen = "empty" if "volume was empty" in st.get("message", "") else str(st.get("progress", {}).get("totalBytes", "-"))
    return ":".join([p["spec"]["pod"]["namespace"] + "/" + p["spec"]["pod"]["name"], p["spec"]["volume"],
                     p["spec"].get("uploaderType", ""), st.get("phase", "New"), seen])
print(len(pvbs), " ".join(sorted(entry(p) for p in pvbs)))'
}
backup_info=$(backup_state | tr '\n' ' ')
step "backup: $backup_info"
[[ $backup_info == Completed\ * ]] || fail "backup not Completed: $backup_info"
# Every volume holds the files written before the backup: a PodVolumeBackup that found it empty
# lost them at the backup, before any restore (the node's mounts as node-agent saw them).
[[ $backup_info != *:Completed:empty* ]] || fail "a PodVolumeBackup found its volume empty: $backup_info"

delete_namespaces() { # delete_namespaces <storage generation>: the disaster, then new empty disks
  "$py" "$here/scenarios.py" reset --generation "$1" >> "$logs/reset.log" 2>&1 || fail "deleting the namespaces, resetting storage"
}
# The existing set's restores have no resource modifiers: a workload that already exists loses FSB
# data without any.
RULES=(--resource-modifier-configmap fsb-node-rules)
if [[ $NODE_SET == existing ]]; then
  RULES=()
else
  "$py" "$here/scenarios.py" rules --out "$work/rules.yaml" && "$py" "$here/../velero/e2e.py" apply "$work/rules.yaml" > /dev/null \
    || fail "creating the resource-modifier ConfigMap"
fi

restore() { # restore <name> [velero restore create flags...]: the restore, its logs, the checks' input
  local name="$1"; shift
  [[ -n $MAPPINGS ]] && set -- --namespace-mappings "$MAPPINGS" "$@"
  step "velero restore create $name --from-backup $BACKUP ${RULES[*]:+${RULES[*]} }$* --wait"
  local annotations=()
  if [[ " $* " == *" --annotations "* ]] && ! "$vbin/velero" restore create --help 2>&1 | grep -q -- '--annotations'; then
    # Velero before 1.16 has no `restore create --annotations`: the CLI renders the Restore
    # (-o json, nothing sent), the annotations are added, the API server gets it; then wait for it
    # as --wait does (a terminal phase).
    local rest=()
    while [[ $# -gt 0 ]]; do
      if [[ $1 == --annotations ]]; then annotations+=("$2"); shift 2; else rest+=("$1"); shift; fi
    done
    set -- ${rest[@]+"${rest[@]}"}
    "$vbin/velero" --kubeconfig "$kubeconfig" --namespace velero restore create "$name" --from-backup "$BACKUP" \
      ${RULES[@]+"${RULES[@]}"} "$@" -o json 2> "$logs/restore-$name.log" \
      | "$py" -c 'import json, sys
r = json.load(sys.stdin)
r["metadata"].setdefault("annotations", {}).update(dict(a.split("=", 1) for a in sys.argv[1:]))
print(json.dumps(r))' "${annotations[@]}" > "$work/restore-$name.json" || fail "velero restore create $name -o json"
    curl -sf --cacert "$KAPI_CA" --cert "$KAPI_CERT" --key "$KAPI_KEY" -H 'Content-Type: application/json' \
      --data-binary @"$work/restore-$name.json" "$KAPI_SERVER/apis/velero.io/v1/namespaces/velero/restores" \
      > "$logs/restore-$name.create.json" || fail "creating Restore $name with annotations ${annotations[*]}"
    restore_done() { api "/apis/velero.io/v1/namespaces/velero/restores/$1" | "$py" -c 'import json, sys
sys.exit(0 if json.load(sys.stdin).get("status", {}).get("phase") in ("Completed", "PartiallyFailed", "Failed", "FailedValidation") else 1)'; }
    wait_for 900 "restore $name finished" restore_done "$name" || fail "restore $name did not finish"
    echo "Restore completed with status: $(api "/apis/velero.io/v1/namespaces/velero/restores/$name" | "$py" -c 'import json, sys; print(json.load(sys.stdin)["status"]["phase"])'). (created through the API with ${annotations[*]})" >> "$logs/restore-$name.log"
  else
    timeout 900 "$vbin/velero" --kubeconfig "$kubeconfig" --namespace velero restore create "$name" --from-backup "$BACKUP" \
      ${RULES[@]+"${RULES[@]}"} --wait "$@" > "$logs/restore-$name.log" 2>&1 \
      || fail "velero restore create $name"
  fi
  velero restore logs "$name" > "$work/restore-$name.txt" 2> "$logs/restore-logs-cmd.log" || fail "velero restore logs $name"
  step "restore $name: $(tail -n 1 "$logs/restore-$name.log"); $(grep -c 'pluginName=velero-fsb-guard' "$work/restore-$name.txt" || true) log lines from our plugin"
}
check() { # check <mode> <restore>: prints the checks, sets check_rc
  check_rc=0
  "$py" "$here/scenarios.py" check --mode "$1" --restore "$2" --expected "$work/expected.json" \
    --restore-log "$work/restore-$2.txt" --rules "$work/rules.yaml" --uploader "$UPLOADER" \
    > "$logs/check-$2.log" 2>"$logs/check-$2.err.log" || check_rc=$?
  grep -E '^(CHECK|SCENARIO|INFO|NODE-RESULT|failed)' "$logs/check-$2.log" || true
}
field() { sed -n "s/^NODE-RESULT .*\b$1=\([0-9]*\).*/\1/p" "$logs/check-$2.log" | tail -1; }

if [[ $NODE_SET == existing ]]; then
  # ---------------------------------------------------------------- issue 20: the workloads still exist
  # Nothing is deleted. Before every restore the same drift (scenarios.py drift): the Deployment of
  # `drift` rolled to the new image, `scaled-zero` and `sts-zero` scaled to 0, every claim's files
  # overwritten; the restores run into the live namespaces. Every restore is bounded by
  # velero.io/pod-volume-timeout=$PV_TIMEOUT and --item-operation-timeout 5m (the plugin's asynchronous
  # operations): the plugin's must end Completed well before either.
  drift() { # drift <round>
    "$py" "$here/scenarios.py" drift --round "$1" --state "$work/drift.json" > "$logs/drift-$1.log" 2>&1 \
      || { cat "$logs/drift-$1.log"; fail "applying the drift (round $1)"; }
    sed 's/^/  /' "$logs/drift-$1.log"
  }
  check_existing() { # check_existing plugin|control <restore>: prints the checks, sets check_rc
    check_rc=0
    "$py" "$here/scenarios.py" check-existing --mode "$1" --restore "$2" --expected "$work/expected.json" \
      --drift "$work/drift.json" --restore-log "$work/restore-$2.txt" --pv-timeout "${PV_TIMEOUT%s}" \
      > "$logs/check-$2.log" 2> "$logs/check-$2.err.log" || check_rc=$?
    grep -E '^(CHECK|SCENARIO|INFO|EXISTING-RESULT|failed)' "$logs/check-$2.log" || true
    grep 'pluginName=velero-fsb-guard' "$work/restore-$2.txt" | grep -E 'level=(info|warning)' \
      | sed 's/.*level=\([a-z]*\).*msg="\([^"]*\)".*/  plugin: [\1] \2/' | cut -c1-240 | head -20 || true
  }
  ok_of() { sed -n 's/^EXISTING-RESULT .* ok=\([^ ]*\).*/\1/p' "$logs/check-$1.log" | tail -1 | tr ',' '\n' | grep -v '^-$' | sort; }
  n_scenarios=${#NAMESPACES[@]}
  bound=(--annotations "velero.io/pod-volume-timeout=$PV_TIMEOUT" --item-operation-timeout 5m)

  step "drift 1 (after the backup): the live state each restore starts from"
  drift 1
  restore "$BACKUP-plugin-none" "${bound[@]}"
  check_existing plugin "$BACKUP-plugin-none"; none_rc=$check_rc

  step "drift 2, then the same restore with --existing-resource-policy update"
  drift 2
  restore "$BACKUP-plugin-update" --existing-resource-policy update "${bound[@]}"
  check_existing plugin "$BACKUP-plugin-update"; update_rc=$check_rc
  ok_both=$(comm -12 <(ok_of "$BACKUP-plugin-none") <(ok_of "$BACKUP-plugin-update") | grep -c . || true)
  existing_ok="$ok_both/$n_scenarios"

  step "control: velero plugin remove $PLUGIN_IMAGE; drift 3; the same restore (policy none)"
  velero plugin remove "$PLUGIN_IMAGE" > "$logs/plugin-remove.log" 2>&1 || fail "velero plugin remove"
  wait_for 180 "velero Deployment rolled out without the plugin" velero_rolled || fail "velero did not roll out"
  wait_for 120 "the server no longer lists our plugin" server_has_plugin no || fail "server still lists the plugin"
  drift 3
  restore "$BACKUP-control" "${bound[@]}"
  check_existing control "$BACKUP-control"
  control_lost=$(sed -n 's/^EXISTING-RESULT .* lost=\([0-9]*\).*/\1/p' "$logs/check-$BACKUP-control.log" | tail -1)
  velero restore describe "$BACKUP-control" --details > "$logs/describe-control.log" 2>&1 || true
  grep -i -A4 '^[a-z]* Restores:' "$logs/describe-control.log" | sed 's/^/  describe: /' || true
  [[ $(grep -c 'pluginName=velero-fsb-guard' "$work/restore-$BACKUP-control.txt") == 0 ]] \
    || fail "control restore logs carry lines of our plugin: it was not removed"

  [[ $none_rc -eq 0 ]] || fail "with the plugin, policy none: $(sed -n 's/^failed: //p' "$logs/check-$BACKUP-plugin-none.log" | cut -c1-300)"
  [[ $update_rc -eq 0 ]] || fail "with the plugin, policy update: $(sed -n 's/^failed: //p' "$logs/check-$BACKUP-plugin-update.log" | cut -c1-300)"
  [[ ${control_lost:-0} -gt 0 ]] || fail "control: no data lost without the plugin (the test could not have seen the failure it guards against)"
  step "done"
  status=0
  exit 0
fi

# ------------------------------------------------------------------ with the plugin
delete_namespaces 1
restore "$BACKUP-plugin"
check plugin "$BACKUP-plugin"
data_restored="$(field ok "$BACKUP-plugin")/$(field files "$BACKUP-plugin")"
plugin_rc=$check_rc
grep 'pluginName=velero-fsb-guard' "$work/restore-$BACKUP-plugin.txt" | grep -E 'level=(info|warning)' \
  | sed 's/.*msg="\([^"]*\)".*workload="\([^"]*\)".*/  plugin: [\2] \1/' | cut -c1-220 | head -20

# ------------------------------------------------------------------ control: the same restore without the plugin
step "control: velero plugin remove $PLUGIN_IMAGE; the same restore, velero.io/pod-volume-timeout=$PV_TIMEOUT"
velero plugin remove "$PLUGIN_IMAGE" > "$logs/plugin-remove.log" 2>&1 || fail "velero plugin remove"
wait_for 180 "velero Deployment rolled out without the plugin" velero_rolled || fail "velero did not roll out"
wait_for 120 "the server no longer lists our plugin" server_has_plugin no || fail "server still lists the plugin"
control_restore() { # control_restore <name> <storage generation>: the control restore and its checks
  delete_namespaces "$2"
  restore "$1" --annotations "velero.io/pod-volume-timeout=$PV_TIMEOUT"
  check control "$1"
  control_lost=$(field lost "$1")
  # What the user of the report saw: the uploader's restores section of `velero restore describe`.
  velero restore describe "$1" --details > "$logs/describe-control.log" 2>&1 || true
  grep -i -A3 '^[a-z]* Restores:' "$logs/describe-control.log" | sed 's/^/  describe: /' || true
  control_pvr=$(awk '/^restic Restores:/ {on=1; next} on && /^[^ ]/ {on=0} on && /^  [A-Za-z]+:/ {gsub(/[ :]/, ""); print}' \
    "$logs/describe-control.log" | sort -u | paste -sd, -)
}
control_name="$BACKUP-control"
control_restore "$control_name" 2
if [[ $NODE_SET == seed && $control_pvr == *Completed* ]]; then
  # The report's failure is a race: the rollout deletes the restored pod before restic fills its
  # volume. A small volume on an idle node-agent can win it (seen once under a cold CI's load): the
  # control runs once more, and must show the failure then.
  step "control: restic won the race against the rollout this time (restic Restores: $control_pvr); once more"
  control_name="$BACKUP-control2"
  control_restore "$control_name" 4
fi
if [[ $NODE_SET == seed ]]; then
  # The report's failure: `restic Restores:` lists the volume under Failed (or, when the pod was
  # gone before node-agent took it up, still New/InProgress), never under Completed.
  [[ -n $control_pvr && $control_pvr != *Completed* ]] \
    || fail "control: velero restore describe does not show the report's failure (restic Restores: ${control_pvr:-none})"
fi
[[ $(grep -c 'pluginName=velero-fsb-guard' "$work/restore-$control_name.txt") == 0 ]] \
  || fail "control restore logs carry lines of our plugin: it was not removed"

newest_rc=0
if [[ $NODE_SET == seed ]]; then
  # Velero 1.17 removed restic backups but keeps restoring them until 1.19 (CHANGELOG-1.17
  # "Deprecation of Restic"; node-agent's legacy PodVolumeRestore controller runs restic). A cluster
  # moving to the newest Velero installs it afresh on the same bucket: the restic backup syncs in
  # (with its PodVolumeBackups), restic is no longer an install choice, so the install says kopia.
  step "Velero $VELERO_VERSION restores the $NODE_VELERO restic backup: velero uninstall, then a fresh install on the same bucket"
  velero uninstall --force > "$logs/velero-uninstall.log" 2>&1 || fail "velero uninstall"
  velero_gone() { [[ $(api_code /api/v1/namespaces/velero) == 404 && $(api_code /apis/apiextensions.k8s.io/v1/customresourcedefinitions/backups.velero.io) == 404 ]]; }
  wait_for 180 "namespace velero and Velero's CRDs gone" velero_gone || fail "velero uninstall left the namespace or CRDs"
  install_velero "$VELERO_VERSION" kopia
  # The uninstall took namespace velero and with it the restore's rules ConfigMap.
  "$py" "$here/../velero/e2e.py" apply "$work/rules.yaml" > /dev/null || fail "the rules ConfigMap"
  backup_synced() { [[ $(backup_state | tr '\n' ' ') == Completed\ [1-9]* ]]; }
  wait_for 180 "backup $BACKUP and its PodVolumeBackups synced from the bucket" backup_synced || fail "backup not synced"
  step "synced: $(backup_state | tr '\n' ' ')"
  delete_namespaces 3
  # Bounded: should the legacy restic path never pick the volume up, the restore ends PartiallyFailed.
  restore "$BACKUP-newest" --annotations "velero.io/pod-volume-timeout=300s"
  check plugin "$BACKUP-newest"
  newest_rc=$check_rc
  newest_restored="$(field ok "$BACKUP-newest")/$(field files "$BACKUP-newest")"
fi

if [[ $plugin_rc -ne 0 ]]; then fail "with the plugin: $(sed -n 's/^failed: //p' "$logs/check-$BACKUP-plugin.log" | cut -c1-300)"; fi
if [[ ${control_lost:-0} -eq 0 ]]; then fail "control: no data lost without the plugin (the test could not have seen the failure it guards against)"; fi
if [[ $newest_rc -ne 0 ]]; then fail "Velero $VELERO_VERSION: $(sed -n 's/^failed: //p' "$logs/check-$BACKUP-newest.log" | cut -c1-300)"; fi
step "done"
status=0
