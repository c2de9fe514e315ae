//! Rule documents: parse (YAML → rules → validation) and apply to a fixed set of items
//! (`fsb_modifiers::fuzzing::rules`, which `cargo test` also runs on every kept input).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| fsb_modifiers::fuzzing::rules(data));
