#!/usr/bin/env bash
# The whole test suite — the command README names and .ci/run calls.
# Each stage installs or builds what it needs; a failing stage fails the run.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"
export FSB_CACHE="${FSB_CACHE:-/var/cache/velero-fsb-guard}"
mkdir -p "$FSB_CACHE"

stage() { printf '\n=== %s ===\n' "$*"; }
failed=()
passed=0
run_stage() {
  local name="$1"; shift
  stage "$name"
  if "$@"; then echo "stage ok: $name"; passed=$((passed + 1)); else echo "STAGE FAILED: $name"; failed+=("$name"); fi
}

run_stage "rust: cargo test --workspace" cargo test --workspace --all-targets
run_stage "readme: the main job (offline check on the embedded sample)" cargo run --release -q -- check
run_stage "examples: sample backup is reproducible and in Velero's layout" python3 examples/generate-sample-backup.py --check
run_stage "image: Dockerfile lint (hadolint)" bash scripts/lint-dockerfile.sh
run_stage "image: static musl build (x86_64)" bash scripts/build-static.sh x86_64-unknown-linux-musl
run_stage "go: Velero plugin-client conformance (v1.15.2, v1.18.1)" bash tests/conformance/run.sh
run_stage "go: engine oracle (json-patch v5, strategicpatch at Velero's pins)" bash tests/oracle/run.sh
run_stage "go: revision encoder oracle (Go-canonical JSON, ControllerRevision hash)" bash tests/oracle/canonical/run.sh
run_stage "fuzz: rule parser and patch engines (${FUZZ_SECONDS:=120} s per target)" env FUZZ_SECONDS="$FUZZ_SECONDS" bash tests/oracle/fuzz.sh
run_stage "e2e: real control plane (no rollout), then a real Velero server restore" bash tests/e2e/run.sh

echo
if [ ${#failed[@]} -gt 0 ]; then
  echo "failed stages: ${failed[*]}"
fi
echo "stages: $passed passed, ${#failed[@]} failed"
[ ${#failed[@]} -eq 0 ]
