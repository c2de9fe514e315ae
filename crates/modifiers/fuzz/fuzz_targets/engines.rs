//! Patch engines and pattern languages on raw inputs: JSON patch, merge patch, glob, Go regex.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut parts = text.splitn(3, '\0');
    let a = parts.next().unwrap_or("");
    let b = parts.next().unwrap_or("");
    let c = parts.next().unwrap_or("");
    fsb_modifiers::fuzzing::json_patch(a, b);
    fsb_modifiers::fuzzing::merge_patch(a, b);
    fsb_modifiers::fuzzing::patterns(b, c);
    fsb_modifiers::fuzzing::patterns(a, c);
});
