#!/usr/bin/env bash
# Builds kube-apiserver, kube-controller-manager (from the k8s.io/kubernetes Go module) and etcd
# (from go.etcd.io/etcd/server/v3, the version Kubernetes itself pins) into the shared cache dir.
# A consumer module is needed because `go install pkg@version` refuses modules whose go.mod has
# replace lines, and k8s.io/kubernetes points every staging module (k8s.io/api, ...) at ./staging.
# Idempotent: a stamp file makes warm runs a no-op.
set -euo pipefail

K8S_VERSION="${K8S_VERSION:-v1.34.4}"
CACHE="${FSB_CACHE:-/var/cache/velero-fsb-guard}"
DIR="$CACHE/k8s-$K8S_VERSION"
BIN="$DIR/bin"
STAMP="$BIN/.complete"

mkdir -p "$DIR"
# One build per version at a time: parallel suites (or a suite and a developer) wait for each other.
exec 9>"$DIR/.lock"
flock 9
if [[ -f "$STAMP" ]]; then
  echo "build-k8s: using cached binaries in $BIN"
  exit 0
fi

minor="${K8S_VERSION#v1.}"        # 34.4
staging_version="v0.${minor}"      # v0.34.4
mkdir -p "$DIR/src" "$BIN"
cd "$DIR/src"

# The staging list comes from the module's own go.mod, so a version bump picks up new modules.
go mod download -json "k8s.io/kubernetes@$K8S_VERSION" > kubernetes.json
kmod=$(sed -n 's/^\s*"GoMod": "\(.*\)",\?$/\1/p' kubernetes.json)
mapfile -t staging < <(sed -n 's#^\s*\(k8s\.io/[a-z0-9-]*\) => \./staging/.*#\1#p' "$kmod")
if [[ ${#staging[@]} -lt 10 ]]; then
  echo "build-k8s: could not read staging modules from $kmod" >&2
  exit 1
fi

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

# etcd at exactly the version this Kubernetes release is tested with (its go.mod pins it).
etcd_version=$(sed -n 's#^\s*go\.etcd\.io/etcd/server/v3 \(v[0-9.]*\).*#\1#p' "$kmod")
# Every `go get` carries a version: a bare package path would upgrade the module to latest.
go get "k8s.io/kubernetes/cmd/kube-apiserver@$K8S_VERSION" \
  "k8s.io/kubernetes/cmd/kube-controller-manager@$K8S_VERSION" \
  "go.etcd.io/etcd/server/v3@$etcd_version"

ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$K8S_VERSION"
ldflags+=" -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=${minor%%.*}"
ldflags+=" -X k8s.io/component-base/version.gitTreeState=clean"
start=$(date +%s)
CGO_ENABLED=0 nice -n 10 go build -p 2 -ldflags "$ldflags" -o "$BIN/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver
CGO_ENABLED=0 nice -n 10 go build -p 2 -ldflags "$ldflags" -o "$BIN/kube-controller-manager" k8s.io/kubernetes/cmd/kube-controller-manager
CGO_ENABLED=0 nice -n 10 go build -p 2 -ldflags "-s -w" -o "$BIN/etcd" go.etcd.io/etcd/server/v3
echo "build-k8s: built in $(( $(date +%s) - start ))s into $BIN"
date -u +%FT%TZ > "$STAMP"
