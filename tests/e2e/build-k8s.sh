#!/usr/bin/env bash
# Builds Kubernetes components from the k8s.io/kubernetes Go module into the shared cache dir.
#   K8S_COMPONENTS=control-plane (default): kube-apiserver, kube-controller-manager and etcd (from
#     go.etcd.io/etcd/server/v3, the version Kubernetes itself pins); stamp bin/.complete
#   K8S_COMPONENTS=node: kubelet, kube-scheduler, kube-proxy for the real node (tests/e2e/node);
#     stamp bin/.node-complete
# A consumer module is needed because `go install pkg@version` refuses modules whose go.mod has
# replace lines, and k8s.io/kubernetes points every staging module (k8s.io/api, ...) at ./staging.
# Both sets share the consumer module (src/) and the Go build cache, so the node set after the
# control plane compiles little more than kubelet's own packages.
# Idempotent and safe to run concurrently on the same version: a lock serialises runs, stamps make
# warm runs a no-op.
set -euo pipefail

K8S_VERSION="${K8S_VERSION:-v1.34.4}"
K8S_COMPONENTS="${K8S_COMPONENTS:-control-plane}"
CACHE="${FSB_CACHE:-/var/cache/velero-fsb-guard}"
DIR="$CACHE/k8s-$K8S_VERSION"
BIN="$DIR/bin"
case "$K8S_COMPONENTS" in
  control-plane) STAMP="$BIN/.complete"
    pkgs=(k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager) ;;
  node) STAMP="$BIN/.node-complete"
    pkgs=(k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kube-proxy) ;;
  *) echo "build-k8s: K8S_COMPONENTS must be control-plane or node" >&2; exit 2 ;;
esac

mkdir -p "$DIR"
# One build per version at a time: parallel suites (or a suite and a developer) wait for each other.
exec 9>"$DIR/.lock"
flock 9
if [[ -f "$STAMP" ]]; then
  echo "build-k8s: using cached $K8S_COMPONENTS binaries in $BIN"
  exit 0
fi
mkdir -p "$DIR/src" "$BIN"

minor="${K8S_VERSION#v1.}"        # 34.4
staging_version="v0.${minor}"      # v0.34.4
cd "$DIR/src"

# The staging list comes from the module's own go.mod, so a version bump picks up new modules.
go mod download -json "k8s.io/kubernetes@$K8S_VERSION" > kubernetes.json
kmod=$(sed -n 's/^\s*"GoMod": "\(.*\)",\?$/\1/p' kubernetes.json)
mapfile -t staging < <(sed -n 's#^\s*\(k8s\.io/[a-z0-9-]*\) => \./staging/.*#\1#p' "$kmod")
if [[ ${#staging[@]} -lt 10 ]]; then
  echo "build-k8s: could not read staging modules from $kmod" >&2
  exit 1
fi

# Written once: the second component set adds its requirements to the same module.
if [[ ! -f go.mod ]]; then
  {
    echo "module fsb-e2e/k8sbuild"
    echo
    echo "go 1.24.0"
    echo
    echo "godebug default=go1.24"
    echo
    echo "replace ("
    for m in "${staging[@]}"; do echo "	$m => $m $staging_version"; done
    echo ")"
  } > go.mod
fi

# Every `go get` carries a version: a bare package path would upgrade the module to latest.
gets=()
for p in "${pkgs[@]}"; do gets+=("$p@$K8S_VERSION"); done
if [[ $K8S_COMPONENTS == control-plane ]]; then
  # etcd at exactly the version this Kubernetes release is tested with (its go.mod pins it).
  etcd_version=$(sed -n 's#^\s*go\.etcd\.io/etcd/server/v3 \(v[0-9.]*\).*#\1#p' "$kmod")
  gets+=("go.etcd.io/etcd/server/v3@$etcd_version")
fi
go get "${gets[@]}"

ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$K8S_VERSION"
ldflags+=" -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=${minor%%.*}"
ldflags+=" -X k8s.io/component-base/version.gitTreeState=clean"
start=$(date +%s)
for p in "${pkgs[@]}"; do
  t=$(date +%s)
  CGO_ENABLED=0 nice -n 10 go build -p 2 -ldflags "$ldflags" -o "$BIN/${p##*/}" "$p"
  echo "build-k8s: ${p##*/} built in $(( $(date +%s) - t ))s"
done
if [[ $K8S_COMPONENTS == control-plane ]]; then
  CGO_ENABLED=0 nice -n 10 go build -p 2 -ldflags "-s -w" -o "$BIN/etcd" go.etcd.io/etcd/server/v3
fi
echo "build-k8s: $K8S_COMPONENTS built in $(( $(date +%s) - start ))s into $BIN"
date -u +%FT%TZ > "$STAMP"
