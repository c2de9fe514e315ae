#!/usr/bin/env bash
# arm64: the static aarch64 binary (what the linux/arm64 image carries) built and exercised under
# qemu-user emulation on this x86_64 machine.
#   1. the README's main job (`check` on the embedded sample) under qemu: its JSON report must equal
#      the x86_64 binary's, byte for byte;
#   2. Velero's own plugin client (tests/conformance, Velero v1.18 module, x86_64) drives the
#      emulated plugin: discovery, handshake, AppliesTo, Execute, logs, cleanup.
# Prints both binaries' sizes and "N passed, M failed"; exits non-zero on any failure.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
out="${STATIC_OUT:-$repo/target/static}"
work="$(mktemp -d /tmp/fsb-arm64.XXXXXX)"
trap 'rm -rf "$work"' EXIT
passed=0 failed=0
ok() { echo "ok: $*"; passed=$((passed + 1)); }
bad() { echo "FAILED: $*"; failed=$((failed + 1)); }

if ! command -v qemu-aarch64-static >/dev/null; then
  [ "$(id -u)" = 0 ] || { echo "need qemu-user-static (apt-get install qemu-user-static)" >&2; exit 1; }
  [ -n "$(ls -A /var/lib/apt/lists 2>/dev/null | grep -v lock)" ] || apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends qemu-user-static >/dev/null
fi

# build-static.sh skips nothing itself, but cargo reuses its cached target dir: the x86_64 build of
# the image stage is a no-op here.
bash "$repo/scripts/build-static.sh" x86_64-unknown-linux-musl aarch64-unknown-linux-musl
amd64="$out/x86_64-unknown-linux-musl/velero-fsb-guard"
arm64="$out/aarch64-unknown-linux-musl/velero-fsb-guard"
case "$(file -b "$arm64")" in
  *"ARM aarch64"*) ok "the arm64 binary is an aarch64 ELF" ;;
  *) bad "the arm64 binary is not aarch64: $(file -b "$arm64")" ;;
esac
echo "sizes: x86_64 $(stat -c %s "$amd64") bytes, aarch64 $(stat -c %s "$arm64") bytes"

# 1. the main job, both architectures, same JSON
"$amd64" check --format json > "$work/amd64.json"
qemu-aarch64-static "$arm64" check --format json > "$work/arm64.json"
if cmp -s "$work/amd64.json" "$work/arm64.json" && [ -s "$work/amd64.json" ]; then
  ok "check --format json under qemu equals x86_64 ($(wc -c < "$work/arm64.json") bytes)"
else
  bad "check --format json differs between x86_64 and emulated aarch64"
  diff <(python3 -m json.tool "$work/amd64.json") <(python3 -m json.tool "$work/arm64.json") | head -20 || true
fi
qemu-aarch64-static "$arm64" check | head -n 5

# 2. Velero's plugin client against the emulated plugin. go-plugin execs the file in the plugin
# directory; this wrapper runs the aarch64 binary under qemu with argv[0] kept as the wrapper's own
# path (the plugin reports argv[0] as its command, which discovery compares).
cat > "$work/velero-fsb-guard" <<EOF
#!/bin/sh
exec qemu-aarch64-static -0 "\$0" "$arm64" "\$@"
EOF
chmod +x "$work/velero-fsb-guard"
if FSB_PLUGIN_BIN="$work/velero-fsb-guard" FSB_VELERO_VERSIONS=1.18 bash "$repo/tests/conformance/run.sh" > "$work/conformance.log" 2>&1; then
  ok "Velero v1.18 plugin client against the emulated arm64 plugin: $(tail -n 1 "$work/conformance.log")"
else
  grep -E -- '--- FAIL|^Velero' "$work/conformance.log" | head -20 || true
  bad "Velero plugin client against the emulated arm64 plugin: $(tail -n 1 "$work/conformance.log")"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
