//! Evaluate a resource-modifier corpus with fsb-modifiers and print one JSON result per case,
//! in the same shape as the Go oracle (`tests/oracle/modifiers`):
//! `{"name", "config_error", "rules": ["not_matched"|"applied"|"skipped"|"error"], "object"}`.
//!
//! Usage: `cargo run -p fsb-modifiers --example modifiers_eval -- tests/corpus/modifiers/cases.json`

use fsb_modifiers::{ResourceModifiers, RuleOutcome};
use serde_json::{Value, json};

fn main() {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: modifiers_eval <cases.json>");
        std::process::exit(2);
    };
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        eprintln!("{path}: {e}");
        std::process::exit(2);
    });
    let cases: Vec<Value> = serde_json::from_str(&text).unwrap_or_else(|e| {
        eprintln!("{path}: {e}");
        std::process::exit(2);
    });
    for c in cases {
        let name = c["name"].clone();
        let parsed = match c.get("config").and_then(Value::as_str) {
            Some(yaml) => ResourceModifiers::from_yaml(yaml),
            None => ResourceModifiers::from_configmap(&c["configmap"]),
        };
        let result = match parsed {
            Err(_) => json!({"name": name, "config_error": true, "rules": [], "object": null}),
            Ok(rules) => {
                let gr = c["groupResource"].as_str().unwrap_or("");
                let out = rules.apply(&c["object"], gr);
                let outcomes: Vec<&str> = out
                    .rules
                    .iter()
                    .map(|r| match r {
                        RuleOutcome::NotMatched => "not_matched",
                        RuleOutcome::Applied => "applied",
                        RuleOutcome::Skipped => "skipped",
                        RuleOutcome::Error(_) => "error",
                    })
                    .collect();
                json!({"name": name, "config_error": false, "rules": outcomes, "object": out.object})
            }
        };
        println!("{result}");
    }
}
