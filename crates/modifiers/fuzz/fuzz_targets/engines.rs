//! Patch engines and pattern languages on raw inputs: JSON patch, merge patch, glob, Go regex
//! (`fsb_modifiers::fuzzing::engines`, which `cargo test` also runs on every kept input).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| fsb_modifiers::fuzzing::engines(data));
