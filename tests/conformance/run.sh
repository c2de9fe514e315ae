#!/usr/bin/env bash
# Conformance of the plugin binary with Velero's own plugin client, for each
# pinned Velero release (go.v<version>.mod / go.v<version>.sum).
#
#   tests/conformance/run.sh                 Go reference plugin + Rust plugin, all versions
#   tests/conformance/run.sh --reference-only  only the Go reference (validates the harness)
#   tests/conformance/run.sh --self-test     also prove each check can fail (faulty reference plugin)
#
# Environment:
#   FSB_PLUGIN_BIN        plugin binary to check (default: cargo build -p velero-fsb-guard)
#   FSB_VELERO_VERSIONS   space-separated subset of the go.v<version>.mod files, or "all"
#                         (default "1.15 1.18": the oldest release we claim and the newest, what CI
#                         runs; tests/matrix.sh runs all of them, 1.12 through 1.18)
#   FSB_CACHE             build outputs go to $FSB_CACHE/conformance (default /var/cache/velero-fsb-guard)
#
# Go downloads and build caches are the normal GOMODCACHE/GOCACHE. Prints a
# closing line "N passed, M failed"; exits non-zero on any failure.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
out="${FSB_CACHE:-/var/cache/velero-fsb-guard}/conformance"
mkdir -p "$out"

# One pinned Velero release per module file go.v<version>.mod.
all_versions="$(cd "$here" && ls go.v*.mod | sed -E 's/^go\.v(.*)\.mod$/\1/' | sort -V | tr '\n' ' ')"
ci_versions="1.15 1.18"
sel="${FSB_VELERO_VERSIONS:-$ci_versions}"
[[ $sel == all ]] && sel="$all_versions"
read -r -a versions <<<"$sel"

reference_only=false
self_test=false
for arg in "$@"; do
  case "$arg" in
    --reference-only) reference_only=true ;;
    --self-test) self_test=true ;;
    *) echo "unknown argument: $arg" >&2; exit 2 ;;
  esac
done

command -v go >/dev/null || { echo "go is not installed (need Go >= 1.25 for Velero v1.18)" >&2; exit 1; }

plugin_bin=""
if ! $reference_only; then
  if [ -n "${FSB_PLUGIN_BIN:-}" ]; then
    plugin_bin="$FSB_PLUGIN_BIN"
  else
    echo "=== cargo build -p velero-fsb-guard"
    if ! (cd "$repo" && cargo build -p velero-fsb-guard); then
      echo "cargo build failed"
      echo "0 passed, 1 failed"
      exit 1
    fi
    plugin_bin="${CARGO_TARGET_DIR:-$repo/target}/debug/velero-fsb-guard"
  fi
  [ -x "$plugin_bin" ] || { echo "plugin binary not found or not executable: $plugin_bin" >&2; exit 1; }
  plugin_bin="$(cd "$(dirname "$plugin_bin")" && pwd)/$(basename "$plugin_bin")"
fi

total_pass=0
total_fail=0
summary=()

# tally <log> -> "passed failed" from the harness's closing line (or "0 1" if absent).
tally() {
  local line
  line="$(grep -E '^conformance: [0-9]+ passed, [0-9]+ failed' "$1" | tail -n1 || true)"
  if [ -z "$line" ]; then echo "0 1"; return; fi
  sed -E 's/^conformance: ([0-9]+) passed, ([0-9]+) failed.*/\1 \2/' <<<"$line"
}

cd "$here"
for v in "${versions[@]}"; do
  [ -f "go.v$v.mod" ] || { echo "no module file go.v$v.mod (known: $all_versions)" >&2; exit 2; }
  velero="$(awk '$1 == "github.com/vmware-tanzu/velero" { print $2 } $1 == "require" && $2 == "github.com/vmware-tanzu/velero" { print $3 }' "go.v$v.mod" | head -n1)"
  harness="$out/harness-v$v.test"
  reference="$out/goplugin-v$v"

  echo
  echo "=== Velero $velero: build (go.v$v.mod)"
  start=$(date +%s)
  if ! nice -n 10 go test -mod=readonly -modfile="go.v$v.mod" -c -o "$harness" \
      -ldflags "-X github.com/fsb-guard/velero-fsb-guard/tests/conformance.veleroVersion=$velero" . ||
    ! nice -n 10 go build -mod=readonly -modfile="go.v$v.mod" -o "$reference" ./goplugin; then
    total_fail=$((total_fail + 1))
    summary+=("Velero $velero: BUILD FAILED")
    continue
  fi
  echo "build took $(( $(date +%s) - start ))s"

  echo "=== Velero $velero: run"
  log="$out/harness-v$v.log"
  env_args=(-u FSB_PLUGIN_BIN FSB_REFERENCE_BIN="$reference")
  [ -n "$plugin_bin" ] && env_args+=(FSB_PLUGIN_BIN="$plugin_bin")
  set +e
  (cd "$out" && env "${env_args[@]}" timeout 300 "$harness" -test.v -test.timeout 280s) 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  set -e
  read -r p f < <(tally "$log")
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi # crashed or timed out outside a check
  total_pass=$((total_pass + p))
  total_fail=$((total_fail + f))
  failed_checks="$(grep -E -- '^\s+--- FAIL: TestRestoreItemActionV2/[^/ ]+/' "$log" | sed -E 's/.*--- FAIL: TestRestoreItemActionV2\/([^ ]+).*/\1/' | tr '\n' ' ' || true)"
  summary+=("Velero $velero: $p passed, $f failed${failed_checks:+ (failed: $failed_checks)}")

  # The reference plugin's rule evaluator (benchmark baseline) has its own unit tests.
  if nice -n 10 go test -mod=readonly -modfile="go.v$v.mod" ./goplugin; then
    total_pass=$((total_pass + 1))
    summary+=("Velero $velero: goplugin rule-evaluator unit tests: ok")
  else
    total_fail=$((total_fail + 1))
    summary+=("Velero $velero: goplugin rule-evaluator unit tests FAILED")
  fi

  if $self_test; then
    # Each deliberate fault of the reference plugin must make its check fail.
    # "large-item" is no fault: the Go framework's 4 MiB limit is the failure.
    for case in "mutate:execute-pod" "rawlog:log-lines" "warning-level:log-lines" "leak-stderr:cleanup" \
      "large-item:execute-large-item"; do
      fault="${case%%:*}"
      want="${case#*:}"
      flog="$out/selftest-v$v-$fault.log"
      extra=()
      [ "$fault" = large-item ] && extra=(FSB_REFERENCE_LARGE_ITEM=1)
      set +e
      (cd "$out" && env -u FSB_PLUGIN_BIN FSB_GOPLUGIN_FAULT="$fault" FSB_REFERENCE_BIN="$reference" "${extra[@]}" \
        timeout 120 "$harness" -test.v) >"$flog" 2>&1
      set -e
      if grep -qE -- "--- FAIL: TestRestoreItemActionV2/goref/$want " "$flog"; then
        total_pass=$((total_pass + 1))
        summary+=("Velero $velero self-test: fault $fault fails check $want: ok")
      else
        total_fail=$((total_fail + 1))
        summary+=("Velero $velero self-test: fault $fault did NOT fail check $want (log: $flog)")
      fi
    done
  fi
done

echo
echo "=== conformance summary"
for line in "${summary[@]}"; do echo "$line"; done
echo "$total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
