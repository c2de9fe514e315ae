#!/usr/bin/env bash
# Builds what stage 2 needs into the shared cache dir, each piece once (stamp files):
#   $CACHE/velero-$VELERO_VERSION/bin/velero                 Velero server + CLI (one binary)
#   $CACHE/velero-$VELERO_VERSION/bin/velero-restore-helper  restore-wait's binary (the real node's image)
#   $CACHE/velero-$VELERO_VERSION/bin/velero-plugin-for-aws  object-store plugin, release line for that Velero
#   $CACHE/velero-$VELERO_VERSION/bin/cp-plugin              that plugin image's entrypoint (the real node's image)
#   $CACHE/venv-moto                                         moto's S3 server from PyPI
# The Go binaries come from the consumer modules beside this script (server/, aws-plugin/), whose
# go.mod pin the versions; nothing is fetched but Go modules and PyPI packages.
#
#   build.sh [seed]
#
# `seed` adds what the real node's field-report set needs (tests/e2e/node, NODE_SET=seed):
#   $CACHE/velero-$SEED_VELERO_VERSION/bin/{velero,velero-restore-helper}  from server-v1.15/
#   $CACHE/restic-$RESTIC_VERSION/bin/restic                               from restic/ (the uploader
#                                                                          Velero's image carries)
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

build_velero() { # build_velero <consumer module> <version> <bin dir>: the server/CLI and the restore helper
  local dir="$1" version="$2" bin="$3" stamp
  stamp="$bin/.velero-complete"
  if [[ -f "$stamp" && -x "$bin/velero" ]]; then
    echo "build: using cached $bin/velero"
  else
    build_go "$dir" github.com/vmware-tanzu/velero/cmd/velero "$bin/velero" \
      "-s -w -X github.com/vmware-tanzu/velero/pkg/buildinfo.Version=$version -X github.com/vmware-tanzu/velero/pkg/buildinfo.GitTreeState=clean"
    touch "$stamp"
  fi
  # The init container Velero puts first in restored pods with file-system backups (the real node's
  # Velero image carries it beside /velero, as Velero's own image does from v1.16; up to v1.15 it is
  # an image of its own); standard library only.
  stamp="$bin/.restore-helper-complete"
  if [[ -f "$stamp" && -x "$bin/velero-restore-helper" ]]; then
    echo "build: using cached $bin/velero-restore-helper"
  else
    build_go "$dir" github.com/vmware-tanzu/velero/cmd/velero-restore-helper "$bin/velero-restore-helper" "-s -w"
    touch "$stamp"
  fi
}
build_velero "$here/server" "$VELERO_VERSION" "$BIN"

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

if [[ ${1:-} == seed ]]; then
  bin="$CACHE/velero-$SEED_VELERO_VERSION/bin"
  mkdir -p "$bin"
  exec 7>"$bin/.lock"
  flock 7
  build_velero "$here/server-v1.15" "$SEED_VELERO_VERSION" "$bin"
  bin="$CACHE/restic-$RESTIC_VERSION/bin"
  mkdir -p "$bin"
  exec 6>"$bin/.lock"
  flock 6
  if [[ -f "$bin/.complete" && -x "$bin/restic" ]]; then
    echo "build: using cached $bin/restic"
  else
    # restic's build.go stamps main.version the same way.
    build_go "$here/restic" github.com/restic/restic/cmd/restic "$bin/restic" "-s -w -X main.version=${RESTIC_VERSION#v}"
    touch "$bin/.complete"
  fi
fi
