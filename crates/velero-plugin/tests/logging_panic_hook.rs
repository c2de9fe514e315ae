//! The plugin-mode panic hook writes one JSON `error` line (own test binary: hooks are global).

use std::sync::{Arc, Mutex};

use serde_json::Value;
use velero_plugin::logging::{LineSink, install_panic_hook};

#[derive(Default)]
struct Captured(Mutex<Vec<u8>>);

impl LineSink for Captured {
    fn write_line(&self, line: &[u8]) {
        self.0.lock().unwrap().extend_from_slice(line);
    }
}

#[test]
fn panic_becomes_a_json_error_line() {
    let sink = Arc::new(Captured::default());
    install_panic_hook(sink.clone());
    let result = std::thread::Builder::new()
        .name("worker-7".into())
        .spawn(move || {
            panic!("bad item {}", 42);
        })
        .unwrap()
        .join();
    assert!(result.is_err());
    let _ = std::panic::take_hook();

    let text = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
    assert_eq!(text.lines().count(), 1, "{text}");
    let line: Value = serde_json::from_str(text.trim_end()).unwrap();
    assert_eq!(line["@level"], "error");
    assert_eq!(line["@message"], "panic: bad item 42");
    assert_eq!(line["@logSourceSetBy"], "plugin");
    assert_eq!(line["thread"], "worker-7");
    let source = line["logSource"].as_str().unwrap();
    assert!(
        source.starts_with("crates/velero-plugin/tests/logging_panic_hook.rs:"),
        "{source}"
    );
}
