#!/usr/bin/env bash
# The multi-arch plugin image (issue 21): built offline by scripts/build-image.sh (Debian's dockerd,
# private, `docker build --target prebuilt` per platform, the saves joined in one OCI image index),
# then checked:
#   1. check_image.py reads the layout: the index lists exactly linux/amd64 and linux/arm64; each
#      entry's config has that platform, the entrypoint ["/plugins/velero-fsb-guard", "install",
#      "--to", "/target"], user 65532:65532, the version label; its layer holds the binary, static,
#      with the ELF machine of its platform (x86-64 / AArch64). Expected values are in the checker.
#   2. self-test: four copies of the layout with one deliberate fault each (the amd64 binary in the
#      arm64 entry, root user, another entrypoint, one platform only) must fail exactly that check;
#   3. the archive is loaded back by a second consumer: Debian's containerd (private) imports it with
#      `ctr images import --all-platforms`; the image must list both platforms, and containerd's own
#      export of it (`ctr images export --all-platforms`: every blob present) must pass check 1 again.
# Prints "N passed, M failed"; exits non-zero on any failure.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# shellcheck source=../../scripts/private-daemons.sh
source "$repo/scripts/private-daemons.sh"
version=$(sed -n 's/^version = "\(.*\)"/\1/p' "$repo/Cargo.toml" | head -1)
name=ghcr.io/fsb-guard/velero-fsb-guard
out="${IMAGE_OUT:-$repo/target/image}"
layout="$out/velero-fsb-guard-$version.oci"
work="$(mktemp -d /tmp/fsb-image-test.XXXXXX)"
containerd_pid=""
passed=0 failed=0
ok() { echo "ok: $*"; passed=$((passed + 1)); }
bad() { echo "FAILED: $*"; failed=$((failed + 1)); }
cleanup() {
  local rc=$?
  set +e
  private_stop ${containerd_pid:+"$containerd_pid"}
  if [[ $rc -ne 0 || $failed -ne 0 ]]; then
    for f in "$work"/*.log; do [[ -f $f ]] && { echo "===== ${f##*/} (last 30 lines)"; tail -n 30 "$f"; }; done
  fi
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT

echo "=== build: scripts/build-image.sh"
IMAGE_NAME="$name" IMAGE_OUT="$out" bash "$repo/scripts/build-image.sh"

echo "=== check: tests/arm64/check_image.py $layout"
if python3 "$repo/tests/arm64/check_image.py" check "$layout" --tag "$version"; then
  ok "the image index and both images are as specified"
else
  bad "the image index or an image is not as specified (FAILED lines above)"
fi

echo "=== self-test: each deliberate fault fails exactly its check"
for f in "wrong-arch-binary:linux/arm64 /plugins/velero-fsb-guard ELF machine" "root-user:linux/arm64 user" \
  "shell-entrypoint:linux/arm64 entrypoint" "one-platform:image index platforms"; do
  fault="${f%%:*}" want="${f#*:}"
  python3 "$repo/tests/arm64/check_image.py" mutate "$layout" "$work/$fault" "$fault"
  rc=0
  python3 "$repo/tests/arm64/check_image.py" check "$work/$fault" --tag "$version" > "$work/selftest-$fault.out" || rc=$?
  got="$(sed -n 's/^FAILED: \([^:]*\):.*/\1/p' "$work/selftest-$fault.out" | paste -sd '|')"
  if [[ $rc -ne 0 && $got == "$want" ]]; then
    ok "fault $fault fails: $(grep '^FAILED' "$work/selftest-$fault.out")"
  else
    bad "fault $fault: exit $rc, failed checks [$got], want [$want]"
    cat "$work/selftest-$fault.out"
  fi
  rm -rf "${work:?}/$fault"
done

echo "=== load back: containerd $(/usr/bin/containerd --version | awk '{print $3}') (private), ctr images import --all-platforms"
debian_install containerd
private_containerd_start "$work/containerd" "$work/containerd.log"
private_ctr images import --all-platforms "$layout.tar" > "$work/ctr-import.log" 2>&1 || { cat "$work/ctr-import.log"; bad "ctr images import"; }
private_ctr images ls > "$work/ctr-images.txt"
cat "$work/ctr-images.txt"
platforms="$(awk -v ref="$name:$version" '$1 == ref { for (i = 2; i <= NF; i++) if ($i ~ /^linux\//) print $i }' "$work/ctr-images.txt")"
if [[ $platforms == linux/amd64,linux/arm64 || $platforms == linux/arm64,linux/amd64 ]]; then
  ok "containerd imported $name:$version for $platforms"
else
  bad "containerd lists $name:$version with platforms [$platforms], want linux/amd64 and linux/arm64"
fi
# `ctr images check` looks at this machine's platform only; an export with --all-platforms needs every
# blob of both images, and what containerd writes must pass the same checks.
mkdir -p "$work/export"
if private_ctr images export --all-platforms "$work/export.tar" "$name:$version" > "$work/ctr-export.log" 2>&1 \
  && tar -xf "$work/export.tar" -C "$work/export" \
  && python3 "$repo/tests/arm64/check_image.py" check "$work/export" --tag "$version" > "$work/export-check.out"; then
  ok "containerd's export (--all-platforms) passes the same checks: $(tail -n 1 "$work/export-check.out")"
else
  cat "$work/export-check.out" 2>/dev/null; bad "containerd's export of $name:$version"
fi
private_stop "$containerd_pid"; containerd_pid=""

echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
