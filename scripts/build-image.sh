#!/usr/bin/env bash
# The multi-arch plugin image, offline: linux/amd64 and linux/arm64 in one OCI image index.
#
#   scripts/build-image.sh
#
# 1. scripts/build-static.sh builds the static musl binaries (x86_64, aarch64);
# 2. Debian's dockerd (docker.io, installed if missing), started privately (scripts/private-daemons.sh:
#    no network, its own directories) builds the Dockerfile's `prebuilt` stage once per platform
#    (`--platform linux/<arch> --build-arg STATIC_TARGET=<target> --network none`) and saves each;
# 3. scripts/oci-index.py joins the two saves into one OCI image layout whose index lists both.
#
# Output in ${IMAGE_OUT:-<repo>/target/image}: velero-fsb-guard-<version>.oci/ (OCI layout) and
# velero-fsb-guard-<version>.oci.tar (the same as an oci-archive: `ctr images import --all-platforms`,
# `skopeo copy --all oci-archive:<file> docker://<registry>/...`). IMAGE_NAME names the image in the
# index (default ghcr.io/fsb-guard/velero-fsb-guard). With a registry, `docker buildx build --platform
# linux/amd64,linux/arm64 --push` does all of this in one step (docs/building.md).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=private-daemons.sh
source "$repo/scripts/private-daemons.sh"
version=$(sed -n 's/^version = "\(.*\)"/\1/p' "$repo/Cargo.toml" | head -1)
name="${IMAGE_NAME:-ghcr.io/fsb-guard/velero-fsb-guard}"
out="${IMAGE_OUT:-$repo/target/image}"
declare -A targets=([amd64]=x86_64-unknown-linux-musl [arm64]=aarch64-unknown-linux-musl)
t0=$(date +%s)
step() { printf '[image %4ss] %s\n' "$(( $(date +%s) - t0 ))" "$*"; }

work="$(mktemp -d /tmp/fsb-image.XXXXXX)"
dockerd_pid=""
cleanup() {
  local rc=$?
  set +e
  private_stop ${dockerd_pid:+"$dockerd_pid"}
  if [[ $rc -ne 0 ]]; then
    for f in "$work"/*.log; do [[ -f $f ]] && { echo "===== ${f##*/} (last 40 lines)"; tail -n 40 "$f"; }; done
    echo "image: FAILED"
  fi
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT

step "static binaries: scripts/build-static.sh ${targets[amd64]} ${targets[arm64]}"
if ! nice -n 10 bash "$repo/scripts/build-static.sh" "${targets[amd64]}" "${targets[arm64]}" > "$work/build-static.log" 2>&1; then
  echo "scripts/build-static.sh failed"; exit 1
fi
grep -E '^(file|ok):' "$work/build-static.log"

debian_install docker.io
step "dockerd $(dockerd --version | sed 's/Docker version \([^,]*\).*/\1/'), private (own network namespace, directories under $work)"
private_dockerd_start "$work/docker" "$work/dockerd.log"
saves=()
for arch in amd64 arm64; do
  tag="velero-fsb-guard:$version-$arch"
  step "docker build --target prebuilt --platform linux/$arch --build-arg STATIC_TARGET=${targets[$arch]} -t $tag"
  docker build --network none --target prebuilt --platform "linux/$arch" \
    --build-arg STATIC_TARGET="${targets[$arch]}" --build-arg VERSION="$version" -t "$tag" "$repo" \
    > "$work/docker-build-$arch.log" 2>&1
  docker save -o "$work/$arch.tar" "$tag"
  saves+=("$work/$arch.tar")
done
private_stop "$dockerd_pid"; dockerd_pid=""

layout="$out/velero-fsb-guard-$version.oci"
step "joining the saves into one OCI image index: $layout"
mkdir -p "$out"
rm -rf "$layout" "$layout.tar"
python3 "$repo/scripts/oci-index.py" --layout "$layout" --archive "$layout.tar" --name "$name" --tag "$version" "${saves[@]}"
step "done: $layout ($(du -sk "$layout" | cut -f1) KiB), $layout.tar"
