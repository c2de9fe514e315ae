#!/usr/bin/env bash
# Runs the tests RELIABILITY.md's table names and prints its totals as one last line:
#
#   RELIABILITY-SUMMARY: inputs=<n> faults=<n> lost=<n> panics=<n>
#
# Rows whose runner is `cargo` are run here (each test binary run directly, tests by exact name,
# after one `cargo test --workspace --all-targets --no-run`: the rust stage's build); `go` and
# `stage` rows are proved by the CI stage they name and only listed. Counting (RELIABILITY.md, "Running it"):
#   inputs / faults  passed rows of kind input / of kind fault or load
#   lost             failed rows whose `data` column says `kept`
#   panics           `panicked at <file>` lines in the tests' output whose file is not a test file
# A named test that does not exist (0 tests ran) fails its row. Exits non-zero when a row fails or
# anything panicked outside a test file.
#
# Environment: CARGO_TARGET_DIR as for any cargo build; FSB_RELIABILITY_TABLE another table file
# (default RELIABILITY.md); FSB_RELIABILITY_VERBOSE=1 prints every
# test's output.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
table_file="${FSB_RELIABILITY_TABLE:-RELIABILITY.md}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
export RUST_BACKTRACE=0

trim() { local s="$1"; s="${s#"${s%%[![:space:]]*}"}"; printf '%s' "${s%"${s##*[![:space:]]}"}"; }

# The package of crates/<dir>: the first `name = "…"` of its Cargo.toml.
package_of() {
  sed -n 's/^name = "\(.*\)"$/\1/p' "crates/$1/Cargo.toml" | head -n 1
}

# --- the table ---------------------------------------------------------------------------------
rows=()
while IFS= read -r line; do
  [[ $line == \|* ]] || continue
  [[ $line == '| id |'* || $line == '|---'* ]] && continue
  rows+=("$line")
done < <(sed -n '/<!-- reliability-table:start -->/,/<!-- reliability-table:end -->/p' "$table_file")
if [[ ${#rows[@]} -eq 0 ]]; then
  echo "no table rows found in $table_file" >&2
  exit 2
fi

declare -A row_kind row_data row_runner row_tests target_tests
ids=()
for line in "${rows[@]}"; do
  IFS='|' read -r _ id kind _what _plugin _check data runner tests _ <<<"$line"
  id="$(trim "$id")"
  ids+=("$id")
  row_kind[$id]="$(trim "$kind")"
  row_data[$id]="$(trim "$data")"
  row_runner[$id]="$(trim "$runner")"
  names=""
  tick='`'
  while IFS= read -r t; do
    if [[ -n $t ]]; then names+="${t//$tick/} "; fi
  done < <(grep -o "${tick}[^${tick}]*${tick}" <<<"$tests" || true)
  row_tests[$id]="$names"
  case "${row_kind[$id]}" in input | fault | load) ;; *)
    echo "row $id: kind ${row_kind[$id]:-<empty>} is none of input, fault, load" >&2; exit 2 ;;
  esac
  if [[ ${row_runner[$id]} == cargo ]]; then
    [[ -n $names ]] || { echo "row $id names no test" >&2; exit 2; }
    for t in $names; do
      [[ $t == *::* ]] || { echo "row $id: $t is not <target>::<test path>" >&2; exit 2; }
      target="${t%%::*}"
      case " ${target_tests[$target]:-} " in *" ${t#*::} "*) ;; *)
        target_tests[$target]+="${t#*::} " ;;
      esac
    done
  fi
done

# --- build once, then run target by target -------------------------------------------------------
# The same build as the rust stage (`cargo test --workspace --all-targets`), so nothing compiles
# again; each test binary then runs directly, from its package's directory as `cargo test` does.
echo "== building the test binaries (cargo test --workspace --all-targets --no-run)"
cargo test --locked --workspace --all-targets --no-run --message-format=json 2>"$work/build.log" >"$work/build.json" || {
  cat "$work/build.log" >&2
  echo "RELIABILITY-SUMMARY: build failed" >&2
  exit 1
}
# <target> <package dir> <executable>, <target> as in RELIABILITY.md.
python3 - "$root" "$work/build.json" >"$work/binaries" <<'PY'
import json, os, sys
root, path = sys.argv[1], sys.argv[2]
for line in open(path, encoding="utf-8"):
    try:
        m = json.loads(line)
    except ValueError:
        continue
    if m.get("reason") != "compiler-artifact" or not m.get("profile", {}).get("test") or not m.get("executable"):
        continue
    rel = os.path.relpath(m["target"]["src_path"], root).split(os.sep)
    if rel == ["src", "lib.rs"]:
        print("lib", root, m["executable"])
    elif len(rel) == 2 and rel[0] == "tests" and rel[1].endswith(".rs"):
        print(rel[1][:-3], root, m["executable"])
    elif len(rel) == 4 and rel[0] == "crates" and rel[2:] == ["src", "lib.rs"]:
        print(f"crates/{rel[1]}/lib", os.path.join(root, "crates", rel[1]), m["executable"])
    elif len(rel) == 4 and rel[0] == "crates" and rel[2] == "tests" and rel[3].endswith(".rs"):
        print(f"crates/{rel[1]}/tests/{rel[3][:-3]}", os.path.join(root, "crates", rel[1]), m["executable"])
PY
declare -A exe_of dir_of
while read -r t d e; do exe_of[$t]="$e" dir_of[$t]="$d"; done <"$work/binaries"

declare -A result # <target>::<name> -> ok | FAILED | missing
panics=0
for target in "${!target_tests[@]}"; do
  read -r -a names <<<"${target_tests[$target]}"
  exe="${exe_of[$target]:-}"
  if [[ -z $exe ]]; then
    for n in "${names[@]}"; do result[$target::$n]=missing; done
    continue
  fi
  # Which of the names exist (`--list` prints `<name>: test`).
  (cd "${dir_of[$target]}" && "$exe" --list --exact "${names[@]}") >"$work/list" 2>/dev/null || true
  declare -A listed=()
  while IFS= read -r l; do listed[${l%: test}]=1; done < <(grep ': test$' "$work/list" || true)
  present=()
  for n in "${names[@]}"; do
    if [[ -n ${listed[$n]:-} ]]; then present+=("$n"); else result[$target::$n]=missing; fi
  done
  unset listed
  [[ ${#present[@]} -gt 0 ]] || continue
  log="$work/run.${target//\//_}"
  # One at a time and uncaptured, so a panic in a test that passes is seen too.
  (cd "${dir_of[$target]}" && "$exe" --exact --nocapture --test-threads=1 "${present[@]}") >"$log" 2>&1 || true
  if [[ ${FSB_RELIABILITY_VERBOSE:-} == 1 ]]; then echo "--- $target"; cat "$log"; fi
  completed=false
  grep -q '^test result: ' "$log" && completed=true
  declare -A failed=()
  # The closing `failures:` list (four-space-indented names), printed before `test result:`.
  while IFS= read -r l; do failed[$l]=1; done < <(awk '
    /^failures:$/ { n = 0; inlist = 1; next }
    /^---- / { inlist = 0 }
    inlist && /^    [^ ]+$/ { names[n++] = $1; next }
    /^test result:/ { for (i = 0; i < n; i++) print names[i]; n = 0; inlist = 0 }' "$log")
  for n in "${present[@]}"; do
    if [[ $completed == true && -z ${failed[$n]:-} ]]; then result[$target::$n]=ok; else result[$target::$n]=FAILED; fi
  done
  unset failed
  while IFS= read -r where; do
    case "$where" in tests/* | crates/*/tests/*) ;; *)
      panics=$((panics + 1))
      echo "PANIC in $target: panicked at $where" ;;
    esac
  done < <(sed -n "s/.*panicked at \([^:]*\):[0-9]*:[0-9]*:.*/\1/p" "$log")
done

# --- rows ----------------------------------------------------------------------------------------
inputs=0 faults=0 lost=0 failed_rows=0 elsewhere=0
for id in "${ids[@]}"; do
  runner="${row_runner[$id]}"
  if [[ $runner != cargo ]]; then
    elsewhere=$((elsewhere + 1))
    printf 'not run here  %-4s (%s) %s\n' "$id" "$runner" "${row_tests[$id]}"
    continue
  fi
  bad=()
  for t in ${row_tests[$id]}; do
    r="${result[$t]:-missing}"
    [[ $r == ok ]] || bad+=("$t ($r)")
  done
  if [[ ${#bad[@]} -eq 0 ]]; then
    printf 'ok            %-4s %s\n' "$id" "${row_tests[$id]}"
    case "${row_kind[$id]}" in input) inputs=$((inputs + 1)) ;; *) faults=$((faults + 1)) ;; esac
  else
    failed_rows=$((failed_rows + 1))
    printf 'FAILED        %-4s %s\n' "$id" "${bad[*]}"
    if [[ ${row_data[$id]} == kept ]]; then lost=$((lost + 1)); fi
  fi
done
echo "rows: ${#ids[@]} (${failed_rows} failed, ${elsewhere} proved by a CI stage and not run here)"
echo "RELIABILITY-SUMMARY: inputs=$inputs faults=$faults lost=$lost panics=$panics"
[[ $failed_rows -eq 0 && $panics -eq 0 ]]
