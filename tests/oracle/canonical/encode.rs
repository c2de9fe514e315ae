//! Our side of the canonical-JSON oracle (tests/oracle/canonical/run.sh): reads JSON documents,
//! one per line, and prints `<Go-canonical bytes>\t<ControllerRevision hash>` per line.

use std::io::{BufRead, Write};

use fsb_guard_core::toolkit::gojson::go_canonical;
use fsb_guard_core::toolkit::revision::revision_hash;

fn main() {
    let stdin = std::io::stdin();
    let mut out = std::io::BufWriter::new(std::io::stdout());
    for line in stdin.lock().lines() {
        let line = line.expect("read corpus line");
        let text = match serde_json::from_str::<serde_json::Value>(&line) {
            Ok(value) => {
                let bytes = go_canonical(&value);
                let hash = revision_hash(&bytes, 0);
                format!("{}\t{hash}", String::from_utf8_lossy(&bytes))
            }
            Err(e) => format!("<serde_json cannot parse: {e}>"),
        };
        writeln!(out, "{text}").expect("write");
    }
}
