#!/usr/bin/env bash
# Benchmarks (issues 6 and 18): our plugin against a Go plugin on Velero's framework and against
# the floor (our transport answering the item unparsed, or parsed and written once), in one run,
# through Velero's own plugin client; the production binary per item kind against a real control
# plane (tests/bench/prod.sh) and in one large restore (tests/bench/scale.sh); the image's static binary (size, and its Execute); the
# backup index against gzip -dc | tar -x; criterion benches and instruction counts of the pure
# engine. Writes BENCHMARKS.md at the repository root. Prints figures; asserts none.
#
#   tests/bench/run.sh                 everything
#   tests/bench/run.sh --no-criterion  skip the criterion benches and instruction counts (their
#                                      last figures are reused)
#
# Environment:
#   FSB_CACHE          build outputs and generated backups under $FSB_CACHE/bench
#                      (default /var/cache/velero-fsb-guard)
#   FSB_BENCH_COLD     cold starts per plugin (default 20)
#   FSB_BENCH_ITERS    timed Execute calls per item and plugin (default 400)
#   FSB_BENCH_SIZES    backup sizes in MB for the index benchmark (default "50 200")
#   FSB_INSTR_CALLS    calls per instruction count (tests/bench/instructions.sh, default 5)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
out="${FSB_CACHE:-/var/cache/velero-fsb-guard}/bench"
mkdir -p "$out"
target_dir="${CARGO_TARGET_DIR:-$repo/target}"
run_criterion=true
for arg in "$@"; do
  case "$arg" in
    --no-criterion) run_criterion=false ;;
    *) echo "unknown argument: $arg" >&2; exit 2 ;;
  esac
done
command -v go >/dev/null || { echo "go is not installed (need Go >= 1.25)" >&2; exit 1; }

echo "=== build: release plugin, benchmark examples"
(cd "$repo" && cargo build --release -p velero-fsb-guard --bin velero-fsb-guard \
  --example bench_rules_plugin --example bench_index --example bench_floor_plugin)
plugin="$target_dir/release/velero-fsb-guard"
rules_plugin="$target_dir/release/examples/bench_rules_plugin"
index_bin="$target_dir/release/examples/bench_index"
floor_plugin="$target_dir/release/examples/bench_floor_plugin"

echo "=== build: the image's static binary (scripts/build-static.sh)"
static_target="$(uname -m)-unknown-linux-musl"
STATIC_OUT="$out/static" bash "$repo/scripts/build-static.sh" "$static_target" >"$out/static.log" 2>&1 ||
  { tail -n 20 "$out/static.log"; echo "static build failed"; exit 1; }
static_plugin="$out/static/$static_target/velero-fsb-guard"

echo "=== build: Go harness and reference plugin (Velero v1.18 module file)"
(cd "$repo/tests/conformance" &&
  nice -n 10 go test -mod=readonly -modfile=go.v1.18.mod -c -o "$out/bench-harness.test" . &&
  nice -n 10 go build -mod=readonly -modfile=go.v1.18.mod -o "$out/goplugin" ./goplugin)

rules="$here/rules.yaml"
load_before="$(cut -d' ' -f1-3 /proc/loadavg)"

echo "=== plugins through Velero's plugin client"
targets="go-echo=$out/goplugin=fsb-reference.io/echo"
targets+=";rust-guard=$plugin=fsb-guard.io/template-guard"
targets+=";go-rules=$out/goplugin=fsb-reference.io/echo=FSB_GOPLUGIN_RULES=$rules"
targets+=";rust-rules=$rules_plugin=fsb-guard.io/template-guard=FSB_BENCH_RULES=$rules"
targets+=";rust-floor=$floor_plugin=fsb-guard.io/template-guard"
targets+=";rust-json-floor=$floor_plugin=fsb-guard.io/template-guard=FSB_BENCH_FLOOR=json"
targets+=";rust-guard-static=$static_plugin=fsb-guard.io/template-guard"
(cd "$out" && FSB_BENCH_OUT="$out/plugins.json" FSB_BENCH_TARGETS="$targets" \
  timeout 900 "$out/bench-harness.test" -test.run '^TestBench$' -test.v -test.timeout 880s) \
  >"$out/plugins.log" 2>&1 || { tail -n 40 "$out/plugins.log"; echo "plugin benchmark failed"; exit 1; }

echo "=== the production binary per item kind, against a real control plane (tests/bench/prod.sh)"
FSB_PLUGIN_BIN="$plugin" FSB_PROD_BENCH_OUT="$out/prod.json" bash "$here/prod.sh" >"$out/prod.log" 2>&1 ||
  { tail -n 40 "$out/prod.log"; echo "production benchmark failed"; exit 1; }
grep -E '^(PROD-BENCH|kind|pod-|replicaset|deployment|first item|breakdown)' "$out/prod.log" || true

# The image's binary: its memory (musl's allocator) is what a restore pays.
echo "=== the image's binary in one large restore (tests/bench/scale.sh; FSB_SCALE_MB, default 1000)"
FSB_PLUGIN_BIN="$static_plugin" FSB_SCALE_BENCH_OUT="$out/scale.json" bash "$here/scale.sh" >"$out/scale.log" 2>&1 ||
  { tail -n 40 "$out/scale.log"; echo "scale benchmark failed"; exit 1; }
grep -E '^SCALE-BENCH' "$out/scale.log" || true

echo "=== backup index vs gzip -dc | tar -x"
: >"$out/index.txt"
for mb in ${FSB_BENCH_SIZES:-50 200}; do
  backup="$out/backup-${mb}mb.tar.gz"
  [ -s "$backup" ] || nice -n 5 python3 "$here/gen_backup.py" "$backup" "$mb"
  tar_bytes="$(gzip -dc "$backup" | wc -c)"
  for round in 1 2 3; do
    line="$("$index_bin" "$backup")"
    echo "ours mb=$mb round=$round tar_bytes=$tar_bytes $line" | tee -a "$out/index.txt"
    rm -rf "$out/untar" && mkdir -p "$out/untar"
    # %e wall seconds, %M max RSS (KiB) of the largest process of the pipeline.
    tm="$( { /usr/bin/time -f '%e %M' sh -c "gzip -dc '$backup' | tar -x -C '$out/untar'" ; } 2>&1 | tail -n1)"
    # Decompression alone (no tar, no disk): the floor any reader of this file pays.
    tz="$( { /usr/bin/time -f '%e %M' sh -c "gzip -dc '$backup' >/dev/null" ; } 2>&1 | tail -n1)"
    echo "gzipnull mb=$mb round=$round tar_bytes=$tar_bytes bytes=$(stat -c %s "$backup") seconds=${tz% *} peak_rss_kib=${tz#* }" |
      tee -a "$out/index.txt"
    echo "gunzip mb=$mb round=$round tar_bytes=$tar_bytes bytes=$(stat -c %s "$backup") seconds=${tm% *} peak_rss_kib=${tm#* }" |
      tee -a "$out/index.txt"
  done
done
rm -rf "$out/untar"

if $run_criterion; then
  echo "=== criterion (pure engine), baseline saved as 'bench'"
  : >"$out/criterion.log"
  for bench in "fsb-smp strategic" "fsb-modifiers rules"; do
    read -r package name <<<"$bench"
    (cd "$repo" && cargo bench -p "$package" --bench "$name" -- --save-baseline bench \
      --warm-up-time 0.5 --measurement-time 2 --noplot) >>"$out/criterion.log" 2>&1 ||
      { tail -n 20 "$out/criterion.log"; echo "criterion bench $name failed"; exit 1; }
  done
  grep -E 'time:' "$out/criterion.log" || true
  echo "=== instructions per call of the same benches (callgrind)"
  if command -v valgrind >/dev/null; then
    bash "$here/instructions.sh" "$out/instructions.txt" >"$out/instructions.log" 2>&1 ||
      { tail -n 20 "$out/instructions.log"; echo "instruction counts failed"; exit 1; }
    cat "$out/instructions.txt"
  else
    echo "valgrind is not installed: no instruction counts"
    : >"$out/instructions.txt"
  fi
fi
touch "$out/instructions.txt"
load_after="$(cut -d' ' -f1-3 /proc/loadavg)"

python3 "$here/report.py" --plugins "$out/plugins.json" --index "$out/index.txt" \
  --criterion "$target_dir/criterion" --load "$load_before" --load "$load_after" \
  --plugin-bin "$plugin" --static-bin "$static_plugin" --instructions "$out/instructions.txt" \
  --prod "$out/prod.json" --scale "$out/scale.json" --repo "$repo" >"$repo/BENCHMARKS.md"
echo "=== wrote $repo/BENCHMARKS.md"
tail -n 1 "$repo/BENCHMARKS.md"
