#!/usr/bin/env bash
# Fuzz fsb-modifiers for a bounded time: the rule parser/engine (`rules`) and the raw patch
# engines and pattern languages (`engines`). Any crash, panic, timeout or OOM fails the run.
#   FUZZ_SECONDS  seconds per target (default 60; see README/report for what is meaningful)
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

passed=0
failed=0
for target in rules engines; do
  echo "== fuzzing $target for ${secs}s"
  if (cd "$fuzz_dir" && cargo +nightly fuzz run "$target" "$cache/corpus/$target" -- \
        -max_total_time="$secs" -max_len=16384 -timeout=20 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$cache/artifacts-$target-"); then
    passed=$((passed + 1))
  else
    echo "FUZZ FAILURE in $target (artifacts under $cache/artifacts-$target-*)"
    failed=$((failed + 1))
  fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
