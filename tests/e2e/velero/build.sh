#!/usr/bin/env bash
# Builds what stage 2 needs into the shared cache dir, each piece once (stamp files):
#   $CACHE/velero-$VELERO_VERSION/bin/velero                 Velero server + CLI (one binary)
#   $CACHE/velero-$VELERO_VERSION/bin/velero-restore-helper  restore-wait's binary (the real node's image)
#   $CACHE/velero-$VELERO_VERSION/bin/velero-plugin-for-aws  object-store plugin, release line for that Velero
#   $CACHE/velero-$VELERO_VERSION/bin/cp-plugin              that plugin image's entrypoint (the real node's image)
#   $CACHE/venv-moto                                         moto's S3 server from PyPI
# The Go binaries come from the consumer modules beside this script (server/, aws-plugin/), whose
# go.mod pin the versions; nothing is fetched but Go modules and PyPI packages.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE="${FSB_CACHE:-/var/cache/velero-fsb-guard}"
# shellcheck source=versions.sh
source "$here/versions.sh"
BIN="$CACHE/velero-$VELERO_VERSION/bin"
mkdir -p "$BIN"
# One build at a time per version (parallel suites wait for each other).
exec 9>"$BIN/.lock"
flock 9

build_go() { # build_go <module dir> <package> <output> <ldflags>
  local dir="$1" pkg="$2" out="$3" ldflags="$4" start
  start=$(date +%s)
  (cd "$dir" && CGO_ENABLED=0 nice -n 10 go build -p 2 -ldflags "$ldflags" -o "$out.tmp" "$pkg")
  mv "$out.tmp" "$out"
  echo "build: $(basename "$out") built in $(( $(date +%s) - start ))s"
}

stamp="$BIN/.velero-complete"
if [[ -f "$stamp" && -x "$BIN/velero" ]]; then
  echo "build: using cached $BIN/velero"
else
  build_go "$here/server" github.com/vmware-tanzu/velero/cmd/velero "$BIN/velero" \
    "-s -w -X github.com/vmware-tanzu/velero/pkg/buildinfo.Version=$VELERO_VERSION -X github.com/vmware-tanzu/velero/pkg/buildinfo.GitTreeState=clean"
  touch "$stamp"
fi

# The init container Velero puts first in restored pods with file-system backups (the real node's
# Velero image carries it beside /velero, as Velero's own image does); standard library only.
stamp="$BIN/.restore-helper-complete"
if [[ -f "$stamp" && -x "$BIN/velero-restore-helper" ]]; then
  echo "build: using cached $BIN/velero-restore-helper"
else
  build_go "$here/server" github.com/vmware-tanzu/velero/cmd/velero-restore-helper "$BIN/velero-restore-helper" "-s -w"
  touch "$stamp"
fi

stamp="$BIN/.aws-plugin-$AWS_PLUGIN_VERSION-complete"
if [[ -f "$stamp" && -x "$BIN/velero-plugin-for-aws" ]]; then
  echo "build: using cached $BIN/velero-plugin-for-aws"
else
  build_go "$here/aws-plugin" github.com/vmware-tanzu/velero-plugin-for-aws/velero-plugin-for-aws \
    "$BIN/velero-plugin-for-aws" "-s -w"
  touch "$stamp"
fi

# The aws plugin image's entrypoint (its init container copies the plugin with it; the image is scratch).
stamp="$BIN/.cp-plugin-$AWS_PLUGIN_VERSION-complete"
if [[ -f "$stamp" && -x "$BIN/cp-plugin" ]]; then
  echo "build: using cached $BIN/cp-plugin"
else
  build_go "$here/aws-plugin" github.com/vmware-tanzu/velero-plugin-for-aws/hack/cp-plugin "$BIN/cp-plugin" "-s -w"
  touch "$stamp"
fi

venv="$CACHE/venv-moto"
stamp="$venv/.moto-$MOTO_VERSION-complete"
if [[ -f "$stamp" ]]; then
  echo "build: using cached $venv"
else
  start=$(date +%s)
  python3 -m venv "$venv"
  # moto[server] brings flask (the HTTP server), boto3 (bucket seeding) and PyYAML (manifests).
  "$venv/bin/pip" install -q "moto[server]==$MOTO_VERSION"
  touch "$stamp"
  echo "build: moto $MOTO_VERSION installed in $(( $(date +%s) - start ))s"
fi
