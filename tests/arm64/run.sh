#!/usr/bin/env bash
# arm64: the static aarch64 binary (what the linux/arm64 image carries) built and exercised under
# qemu-user emulation (Debian's qemu-user-static; no binfmt_misc needed) on an x86_64 machine.
#   1. the README's main job (`check` on the embedded sample) under qemu: its JSON report and its
#      table must equal the x86_64 binary's, byte for byte;
#   2. Velero's own plugin client (tests/conformance, Velero v1.18 module, x86_64) drives the
#      emulated plugin: discovery, handshake, AppliesTo, Execute, logs, cleanup — every check of
#      the conformance harness, with the same bounds as for the native binary.
# Prints both binaries' sizes and "N passed, M failed"; exits non-zero on any failure.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# shellcheck source=../../scripts/private-daemons.sh
source "$repo/scripts/private-daemons.sh"
out="${STATIC_OUT:-$repo/target/static}"
work="$(mktemp -d /tmp/fsb-arm64.XXXXXX)"
passed=0 failed=0
ok() { echo "ok: $*"; passed=$((passed + 1)); }
bad() { echo "FAILED: $*"; failed=$((failed + 1)); }
cleanup() {
  local rc=$?
  if [[ $rc -ne 0 || $failed -ne 0 ]]; then
    for f in "$work"/*.log; do [[ -f $f ]] && { echo "===== ${f##*/} (last 40 lines)"; tail -n 40 "$f"; }; done
  fi
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT

debian_install qemu-user-static file
echo "=== build: scripts/build-static.sh x86_64-unknown-linux-musl aarch64-unknown-linux-musl"
if ! nice -n 10 bash "$repo/scripts/build-static.sh" x86_64-unknown-linux-musl aarch64-unknown-linux-musl > "$work/build-static.log" 2>&1; then
  echo "scripts/build-static.sh failed"; exit 1
fi
grep -E '^(file|ok):' "$work/build-static.log"
amd64="$out/x86_64-unknown-linux-musl/velero-fsb-guard"
arm64="$out/aarch64-unknown-linux-musl/velero-fsb-guard"
for b in "amd64:$amd64:x86-64" "arm64:$arm64:ARM aarch64"; do
  IFS=: read -r arch bin want <<<"$b"
  desc="$(file -b "$bin")"
  if [[ $desc == ELF\ 64-bit\ LSB*", $want,"*static* ]]; then ok "the $arch binary is a static $want ELF"; else bad "the $arch binary: $desc"; fi
done
echo "sizes: x86_64 $(stat -c %s "$amd64") bytes, aarch64 $(stat -c %s "$arm64") bytes"

echo "=== the main job: check on the embedded sample, x86_64 and under $(qemu-aarch64-static --version | head -1)"
for fmt in json table; do
  t=$(date +%s%N)
  "$amd64" check --format "$fmt" > "$work/amd64.$fmt" 2> "$work/check-amd64-$fmt.log"
  t1=$(date +%s%N)
  qemu-aarch64-static "$arm64" check --format "$fmt" > "$work/arm64.$fmt" 2> "$work/check-arm64-$fmt.log"
  t2=$(date +%s%N)
  echo "check --format $fmt: x86_64 $(( (t1 - t) / 1000000 )) ms, aarch64 under qemu $(( (t2 - t1) / 1000000 )) ms"
  if [[ -s $work/amd64.$fmt ]] && cmp -s "$work/amd64.$fmt" "$work/arm64.$fmt"; then
    ok "check --format $fmt under qemu equals x86_64 ($(wc -c < "$work/arm64.$fmt") bytes, sha256 $(sha256sum < "$work/arm64.$fmt" | cut -c1-16))"
  else
    bad "check --format $fmt differs between x86_64 and emulated aarch64"
    diff "$work/amd64.$fmt" "$work/arm64.$fmt" | head -20 || true
  fi
done
head -n 8 "$work/arm64.table"

echo "=== Velero's plugin client (v1.18, x86_64) against the emulated arm64 plugin"
# go-plugin execs the file in the plugin directory: this wrapper runs the aarch64 binary under qemu
# with argv[0] kept as the wrapper's own path (the plugin reports argv[0] as its command, which
# discovery compares with the path it started).
cat > "$work/velero-fsb-guard" <<EOF
#!/bin/sh
exec qemu-aarch64-static -0 "\$0" "$arm64" "\$@"
EOF
chmod +x "$work/velero-fsb-guard"
if FSB_PLUGIN_BIN="$work/velero-fsb-guard" FSB_VELERO_VERSIONS=1.18 bash "$repo/tests/conformance/run.sh" > "$work/conformance.log" 2>&1; then
  ok "Velero plugin client against the emulated arm64 plugin: $(grep -E '^Velero v' "$work/conformance.log" | paste -sd ';')"
else
  grep -E -- '--- FAIL|^Velero v' "$work/conformance.log" | head -20 || true
  bad "Velero plugin client against the emulated arm64 plugin: $(tail -n 1 "$work/conformance.log")"
fi
for r in PASS FAIL; do
  names="$(sed -n "s/^ *--- $r: TestRestoreItemActionV2\/rust\/\([^ ]*\) .*/\1/p" "$work/conformance.log" | paste -sd ' ')"
  echo "emulated plugin, checks ${r}ED: $(wc -w <<<"$names")${names:+ ($names)}"
done
grep -o 'CleanupClients took [^ ]*' "$work/conformance.log" | paste -sd ' ' | sed 's/^/cleanup bound 1s (go reference, then emulated): /' || true
echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
