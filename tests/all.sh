#!/usr/bin/env bash
# The whole test suite — the command README names and .ci/run calls.
# Each stage installs or builds what it needs; a failing stage fails the run.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"
export FSB_CACHE="${FSB_CACHE:-/var/cache/velero-fsb-guard}"
mkdir -p "$FSB_CACHE"
# Every Go harness builds without cgo (none needs it), so the conformance harness, the e2e driver,
# the Velero server and the Kubernetes binaries share one Go build cache: a package compiled once
# with the same flags is reused by the next build instead of compiled again.
export CGO_ENABLED=0

stage() { printf '\n=== %s ===\n' "$*"; }
failed=()
passed=0
timings=()
suite_t0=$(date +%s)
# run_stage <name> <warm marker> <command...>: the marker is a file or directory that exists when the
# stage's build cache is warm (checked before the stage runs; "-" when the stage builds nothing).
# FSB_STAGES, an extended regular expression (e.g. FSB_STAGES=^arm64): only the stages it matches run.
skipped=0
run_stage() {
  local name="$1" marker="$2" warm="-" t rc=0; shift 2
  if [[ -n ${FSB_STAGES:-} && ! $name =~ $FSB_STAGES ]]; then skipped=$((skipped + 1)); return 0; fi
  if [[ $marker != - ]]; then if compgen -G "$marker" >/dev/null; then warm=warm; else warm=cold; fi; fi
  stage "$name"
  t=$(date +%s)
  ${nice_fg[@]+"${nice_fg[@]}"} "$@" || rc=$?
  t=$(( $(date +%s) - t ))
  if [[ $rc -eq 0 ]]; then echo "stage ok: $name (${t}s)"; passed=$((passed + 1)); r=ok
  else echo "STAGE FAILED: $name (${t}s, exit $rc)"; failed+=("$name"); r=FAILED; fi
  timings+=("$(printf '%6s  %-5s  %-6s  %s' "$t" "$warm" "$r" "$name")")
}

# run_stage_bg <name> <warm marker> <command...>: the same, in the background, output kept in a file
# and printed by finish_bg_stage; at most one at a time. The e2e runs so: most of its time is waiting
# (Velero, kopia, pod-volume timeouts, controllers' windows), which the CPU-bound stages after it fill.
# Those run at nice 10 meanwhile, as every Go build of the suite does, so the clusters' own processes
# keep their share of the cores.
bg_name="" bg_pid="" bg_t0=0 bg_warm="-" bg_log=""
nice_fg=()
run_stage_bg() {
  local name="$1" marker="$2"; shift 2
  if [[ -n ${FSB_STAGES:-} && ! $name =~ $FSB_STAGES ]]; then skipped=$((skipped + 1)); return 0; fi
  bg_warm="-"
  if [[ $marker != - ]]; then if compgen -G "$marker" >/dev/null; then bg_warm=warm; else bg_warm=cold; fi; fi
  bg_name="$name" bg_log="$(mktemp /tmp/fsb-stage-bg.XXXXXX)" bg_t0=$(date +%s)
  stage "$name (started in the background; its output follows when it ends)"
  "$@" > "$bg_log" 2>&1 &
  bg_pid=$!
  nice_fg=(nice -n 10)
}
finish_bg_stage() {
  [[ -n $bg_pid ]] || return 0
  local rc=0 t
  stage "$bg_name (waiting for it)"
  wait "$bg_pid" || rc=$?
  t=$(( $(date +%s) - bg_t0 ))
  cat "$bg_log"; rm -f "$bg_log"
  if [[ $rc -eq 0 ]]; then echo "stage ok: $bg_name (${t}s, beside the stages after it)"; passed=$((passed + 1)); r=ok
  else echo "STAGE FAILED: $bg_name (${t}s, exit $rc)"; failed+=("$bg_name"); r=FAILED; fi
  timings+=("$(printf '%6s  %-5s  %-6s  %s' "$t" "$bg_warm" "$r" "$bg_name (background)")")
  bg_pid="" nice_fg=()
}
trap '[[ -n $bg_pid ]] && kill "$bg_pid" 2>/dev/null; true' EXIT

target_dir="${CARGO_TARGET_DIR:-$here/target}"
run_stage "rust: cargo test --workspace" "$target_dir/debug/deps/velero_fsb_guard-*" \
  cargo test --workspace --all-targets --locked
run_stage_bg "e2e: real control plane (no rollout), a real Velero server restore, a real node (FSB bytes land), the field report's setup (Velero 1.15, restic)" "$FSB_CACHE/k8s-*/bin/.complete" \
  bash tests/e2e/run.sh
run_stage "reliability: every row of RELIABILITY.md proved by its test (RELIABILITY-SUMMARY)" - \
  bash tests/reliability/run.sh
run_stage "readme: the main job (offline check on the embedded sample)" "$target_dir/debug/velero-fsb-guard" \
  cargo run -q --locked -- check
run_stage "examples: sample backup is reproducible and in Velero's layout" - python3 examples/generate-sample-backup.py --check
run_stage "image: Dockerfile lint (hadolint)" "$FSB_CACHE/venv-lint/bin/hadolint" bash scripts/lint-dockerfile.sh
run_stage "image: static musl build (x86_64)" "$FSB_CACHE/target-static/x86_64-unknown-linux-musl/release/velero-fsb-guard" \
  bash scripts/build-static.sh x86_64-unknown-linux-musl
# Fuzzing itself runs outside CI (tests/oracle/fuzz.sh, for hours; RELIABILITY.md records them):
# every input it kept is replayed by the rust stage (crates/modifiers/tests/fuzz_corpus.rs), so CI
# needs no nightly toolchain and no sanitizer build, and cannot go red on a slow input found by chance.
# The stages that build Velero's plugin client (arm64 runs it too) last: on a cold machine the e2e's
# node lanes compile Velero, client-go and apimachinery meanwhile, and a Go build reuses the
# packages another build already finished (one GOCACHE) but compiles again those another build is
# compiling at the same moment.
run_stage "go: engine oracle (json-patch v5, strategicpatch at the pins of Velero 1.15-1.18)" "$FSB_CACHE/oracle-modifiers/oracle-v1.18" \
  bash tests/oracle/run.sh
run_stage "go: revision encoder oracle (Go-canonical JSON, ControllerRevision hash)" "$FSB_CACHE/oracle-canonical/oracle" \
  bash tests/oracle/canonical/run.sh
run_stage "arm64: static aarch64 build; check and Velero's plugin client under qemu" "$FSB_CACHE/target-static/aarch64-unknown-linux-musl/release/velero-fsb-guard" \
  bash tests/arm64/run.sh
run_stage "arm64: two-platform OCI image (linux/amd64, linux/arm64), offline, checked" - \
  bash tests/arm64/image.sh
run_stage "go: Velero plugin-client conformance (v1.15.2, v1.18.3)" "$FSB_CACHE/conformance/harness-v*.test" \
  bash tests/conformance/run.sh

finish_bg_stage

echo
echo "=== stage timings (seconds; build cache as found before the stage) ==="
printf '%6s  %-5s  %-6s  %s\n' secs cache result stage
for line in "${timings[@]}"; do echo "$line"; done
printf '%6s  %-5s  %-6s  %s\n' "$(( $(date +%s) - suite_t0 ))" "" "" "total"
echo
if [ ${#failed[@]} -gt 0 ]; then
  echo "failed stages: ${failed[*]}"
fi
echo "stages: $passed passed, ${#failed[@]} failed${FSB_STAGES:+, $skipped not selected by FSB_STAGES=$FSB_STAGES}"
[ ${#failed[@]} -eq 0 ]
