//! Every input the fuzzers kept (`tests/fuzz/corpus/<target>`: the minimized corpus of the long
//! runs; `tests/fuzz/crashes/<target>`: each input that once failed) run once through the fuzz
//! targets' own functions, in the ordinary test build: CI replays them here, the fuzzing itself runs
//! outside CI (`tests/oracle/fuzz.sh`, hours recorded in RELIABILITY.md).

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;

/// This package's directory as the run sees it: `cargo test` sets `CARGO_MANIFEST_DIR` when it
/// runs a test, and tests/reliability/run.sh runs each binary from its package's directory. Not the
/// compile-time `env!`: a binary reused from a shared target directory names the checkout that
/// built it, which may be gone.
fn package_dir() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::current_dir().unwrap())
}

fn kept_inputs(target: &str) -> Vec<PathBuf> {
    let root = package_dir().join("../../tests/fuzz");
    let mut files = Vec::new();
    for dir in ["corpus", "crashes"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir).join(target)) else {
            continue;
        };
        files.extend(entries.map(|e| e.unwrap().path()).filter(|p| p.is_file()));
    }
    files.sort();
    files
}

fn replay(target: &str, run: fn(&[u8]), at_least: usize) {
    let inputs = kept_inputs(target);
    assert!(
        inputs.len() >= at_least,
        "{target}: {} kept inputs, expected at least {at_least} (tests/fuzz/corpus/{target})",
        inputs.len()
    );
    let failed: Vec<String> = inputs
        .iter()
        .filter(|path| {
            let data = std::fs::read(path).unwrap();
            catch_unwind(AssertUnwindSafe(|| run(&data))).is_err()
        })
        .map(|p| p.display().to_string())
        .collect();
    assert!(failed.is_empty(), "{target}: inputs that fail: {failed:#?}");
}

#[test]
fn every_kept_rules_input_runs_through_the_rules_target() {
    replay("rules", fsb_modifiers::fuzzing::rules, 1000);
}

#[test]
fn every_kept_engines_input_runs_through_the_engines_target() {
    replay("engines", fsb_modifiers::fuzzing::engines, 700);
}
