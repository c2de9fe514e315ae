#!/usr/bin/env python3
"""Compare the Go oracle's and the Rust evaluator's JSONL results case by case.

Equal means: same config_error; same per-rule outcome list (not_matched/applied/skipped/error,
messages are not compared); same resulting object after canonical JSON (sorted keys, integral
floats as integers — Go's unstructured decoding turns 1.0 into float64 1, printed as 1).
Usage: compare.py <label> <go.jsonl> <rust.jsonl>; prints mismatches and "N passed, M failed".
"""
import json
import sys


def canon(v):
    # Beyond 2^53 Go prints a float64 in shortest form (12345678901234567000) and Rust in
    # exponent form; compare such numbers as doubles.
    if isinstance(v, (int, float)) and not isinstance(v, bool) and abs(v) >= 2**53:
        return float(v)
    if isinstance(v, float) and v.is_integer():
        return int(v)
    if isinstance(v, list):
        return [canon(x) for x in v]
    if isinstance(v, dict):
        return {k: canon(x) for k, x in v.items()}
    return v


def load(path):
    out = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                out.append(json.loads(line))
    return out


def main():
    label, go_path, rust_path = sys.argv[1:4]
    go, rust = load(go_path), load(rust_path)
    if len(go) != len(rust):
        print(f"[{label}] result count differs: go {len(go)}, rust {len(rust)}")
        print(f"0 passed, {max(len(go), len(rust))} failed")
        return 1
    passed = failed = 0
    for g, r in zip(go, rust):
        problems = []
        if g.get("panic"):
            problems.append(f"go panicked: {g['panic']}")
        if g["config_error"] != r["config_error"]:
            problems.append(f"config_error go={g['config_error']} rust={r['config_error']}")
        elif g["rules"] != r["rules"]:
            problems.append(f"rules go={g['rules']} rust={r['rules']}")
        else:
            gc = json.dumps(canon(g["object"]), sort_keys=True, ensure_ascii=False)
            rc = json.dumps(canon(r["object"]), sort_keys=True, ensure_ascii=False)
            if gc != rc:
                problems.append(f"object differs\n      go:   {gc[:2000]}\n      rust: {rc[:2000]}")
        if problems:
            failed += 1
            print(f"[{label}] MISMATCH {g['name']}")
            for p in problems:
                print(f"    {p}")
        else:
            passed += 1
    print(f"[{label}] {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
