#!/usr/bin/env bash
# Builds or installs everything the real node needs (tests/e2e/node/run.sh), each piece once
# (stamp files under ${FSB_CACHE:-/var/cache/velero-fsb-guard}); only package registries are used:
#   Debian apt   docker.io (dockerd: the image builder), runc, busybox-static (the workload image),
#                nftables (kube-proxy's nftables mode), musl-tools (the pause binary)
#   Go modules   kubelet, kube-scheduler, kube-proxy (../build-k8s.sh, K8S_COMPONENTS=node) beside
#                kube-apiserver, kube-controller-manager, etcd (K8S_COMPONENTS=control-plane);
#                containerd, its runc shim and ctr; the CNI plugins; velero, velero-restore-helper and
#                velero-plugin-for-aws (../velero/build.sh, which also installs moto from PyPI)
#   the k8s.io/kubernetes module's own build/pause/linux/pause.c, compiled static with musl-gcc
#   crates.io    our plugin, static (scripts/build-static.sh), for the image built from ./Dockerfile
#   build.sh [stage|seed]   seed (NODE_SET=seed, issue 22) adds Velero $SEED_VELERO_VERSION and restic
# Prints `build: <piece> ... in Ns` lines (cold costs) and nothing else on success.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
# shellcheck source=env.sh
source "$here/env.sh"
mkdir -p "$NODE_CACHE"
# One build at a time (parallel suites wait for each other); build-k8s.sh and velero/build.sh lock
# their own directories.
exec 8>"$NODE_CACHE/.lock"
flock 8

timed() { # timed <label> <command...>: runs the command, prints its cost
  local label="$1" t; shift
  t=$(date +%s)
  "$@"
  echo "build: $label in $(( $(date +%s) - t ))s"
}

# ------------------------------------------------------------------ Debian packages
# shellcheck source=../../../scripts/private-daemons.sh
source "$repo/scripts/private-daemons.sh"   # debian_install: no service started on the host
debs=()
for p in docker.io runc busybox-static nftables musl-tools file; do
  dpkg -s "$p" >/dev/null 2>&1 || debs+=("$p")
done
if [[ ${#debs[@]} -gt 0 ]]; then
  timed "apt-get install ${debs[*]}" debian_install "${debs[@]}"
fi

# ------------------------------------------------------------------ containerd, CNI plugins
go_install() { # go_install <out dir> <ldflags> <package@version...>
  local out="$1" ldflags="$2"; shift 2
  CGO_ENABLED=0 GOBIN="$out" nice -n 10 go install -p 2 -trimpath -ldflags "$ldflags" "$@"
}
dir="$NODE_CACHE/containerd-$CONTAINERD_VERSION"
if [[ ! -f "$dir/.complete" ]]; then
  # btrfs needs cgo and no_devmapper/no_zfs drop snapshotters the node does not use (overlayfs).
  timed "containerd $CONTAINERD_VERSION (containerd, containerd-shim-runc-v2, ctr)" \
    go_install "$dir" "-s -w -X github.com/containerd/containerd/v2/version.Version=$CONTAINERD_VERSION" \
    -tags "no_btrfs no_devmapper no_zfs urfave_cli_no_docs" \
    "github.com/containerd/containerd/v2/cmd/containerd@$CONTAINERD_VERSION" \
    "github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2@$CONTAINERD_VERSION" \
    "github.com/containerd/containerd/v2/cmd/ctr@$CONTAINERD_VERSION"
  touch "$dir/.complete"
fi
dir="$NODE_CACHE/cni-$CNI_PLUGINS_VERSION"
if [[ ! -f "$dir/.complete" ]]; then
  timed "CNI plugins $CNI_PLUGINS_VERSION (bridge, host-local, loopback, portmap)" go_install "$dir" "-s -w" \
    "github.com/containernetworking/plugins/plugins/main/bridge@$CNI_PLUGINS_VERSION" \
    "github.com/containernetworking/plugins/plugins/ipam/host-local@$CNI_PLUGINS_VERSION" \
    "github.com/containernetworking/plugins/plugins/main/loopback@$CNI_PLUGINS_VERSION" \
    "github.com/containernetworking/plugins/plugins/meta/portmap@$CNI_PLUGINS_VERSION"
  touch "$dir/.complete"
fi

# ------------------------------------------------------------------ pause, from Kubernetes' own source
dir="$NODE_CACHE/pause-$K8S_VERSION"
if [[ ! -f "$dir/.complete" ]]; then
  kdir=$(go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/^\s*"Dir": "\(.*\)",\?$/\1/p')
  mkdir -p "$dir"
  # The flags of build/pause/Makefile (CFLAGS), with musl instead of glibc: a static binary.
  timed "pause (build/pause/linux/pause.c of k8s.io/kubernetes@$K8S_VERSION)" \
    musl-gcc -Os -Wall -Werror -static -DVERSION="$K8S_VERSION-fsb-e2e" -o "$dir/pause" "$kdir/build/pause/linux/pause.c"
  touch "$dir/.complete"
fi

# ------------------------------------------------------------------ Kubernetes, Velero, moto
timed "kubernetes $K8S_VERSION control plane (build-k8s.sh)" env K8S_VERSION="$K8S_VERSION" "$here/../build-k8s.sh"
timed "kubernetes $K8S_VERSION node components (build-k8s.sh)" \
  env K8S_VERSION="$K8S_VERSION" K8S_COMPONENTS=node "$here/../build-k8s.sh"
if [[ ${1:-stage} == seed ]]; then
  timed "velero $VELERO_VERSION and $SEED_VELERO_VERSION, restore helpers, restic $RESTIC_VERSION, aws plugin, moto (velero/build.sh seed)" \
    "$here/../velero/build.sh" seed
else
  timed "velero $VELERO_VERSION, restore helper, aws plugin, moto (velero/build.sh)" "$here/../velero/build.sh"
fi

# ------------------------------------------------------------------ our plugin, static
t=$(date +%s)
(cd "$repo" && nice -n 10 bash scripts/build-static.sh x86_64-unknown-linux-musl) > "$NODE_CACHE/build-static.log" 2>&1 \
  || { cat "$NODE_CACHE/build-static.log"; echo "build: scripts/build-static.sh failed" >&2; exit 1; }
echo "build: plugin static binary (scripts/build-static.sh) in $(( $(date +%s) - t ))s"
