//! Every input the fuzzers kept (`tests/fuzz/corpus/<target>`: the minimized corpus of the long
//! runs; `tests/fuzz/crashes/<target>`: each input that once failed) run once through the fuzz
//! targets' own functions, in the ordinary test build: CI replays them here, the fuzzing itself runs
//! outside CI (`tests/oracle/fuzz.sh`, hours recorded in RELIABILITY.md).

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

fn kept_inputs(target: &str) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fuzz");
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
