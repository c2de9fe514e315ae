//! Golden plugin-mode log lines: the exact JSON Velero's go-plugin client expects on stderr.

use std::sync::{Arc, Mutex};

use serde_json::{Map, Value};
use tracing::level_filters::LevelFilter;
use tracing_subscriber::Layer as _;
use tracing_subscriber::layer::SubscriberExt as _;
use velero_plugin::logging::{
    LineSink, MAX_LINE_BYTES, PluginJsonLayer, TRUNCATION_MARKER, format_line, log_source,
    plugin_filter,
};

#[derive(Default)]
struct Captured(Mutex<Vec<u8>>);

impl LineSink for Captured {
    fn write_line(&self, line: &[u8]) {
        self.0.lock().unwrap().extend_from_slice(line);
    }
}

/// Runs `emit` under the plugin layer (optionally filtered) and returns the written text.
fn capture(filter: Option<LevelFilter>, emit: impl FnOnce()) -> String {
    let sink = Arc::new(Captured::default());
    let layer = PluginJsonLayer::new(sink.clone() as Arc<dyn LineSink>);
    match filter {
        Some(level) => tracing::subscriber::with_default(
            tracing_subscriber::registry().with(layer.with_filter(plugin_filter(level))),
            emit,
        ),
        None => tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), emit),
    }
    String::from_utf8(sink.0.lock().unwrap().clone()).unwrap()
}

const FILE: &str = "crates/velero-plugin/tests/logging_format.rs";

#[test]
fn info_line_is_exactly_the_velero_shape() {
    let mut line_no = 0;
    let out = capture(None, || {
        line_no = line!() + 1;
        tracing::info!(
            backup = "velero/b1",
            items = 3,
            dry_run = false,
            "restoring item"
        );
    });
    // Shape from go-plugin's JSON path + Velero's logSource convention; no @timestamp.
    let expected = format!(
        "{{\"@level\":\"info\",\"@message\":\"restoring item\",\"logSource\":\"{FILE}:{line_no}\",\
         \"@logSourceSetBy\":\"plugin\",\"backup\":\"velero/b1\",\"items\":3,\"dry_run\":false}}\n"
    );
    assert_eq!(out, expected);
}

#[test]
fn levels_are_hclog_names_never_warning() {
    let out = capture(None, || {
        tracing::trace!("t");
        tracing::debug!("d");
        tracing::info!("i");
        tracing::warn!("w");
        tracing::error!("e");
    });
    let levels: Vec<String> = out
        .lines()
        .map(|line| {
            serde_json::from_str::<Value>(line).unwrap()["@level"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(levels, ["trace", "debug", "info", "warn", "error"]);
    assert!(!out.contains("warning"));
}

#[test]
fn span_fields_come_before_event_fields() {
    let mut line_no = 0;
    let out = capture(None, || {
        let restore = tracing::info_span!("restore", restore = "velero/r1", item = "outer");
        let _outer = restore.enter();
        let execute = tracing::debug_span!("execute", kind = "Pod");
        let _inner = execute.enter();
        line_no = line!() + 1;
        tracing::warn!(item = "shop/web-1", "volume left out");
    });
    let expected = format!(
        "{{\"@level\":\"warn\",\"@message\":\"volume left out\",\"logSource\":\"{FILE}:{line_no}\",\
         \"@logSourceSetBy\":\"plugin\",\"restore\":\"velero/r1\",\"item\":\"shop/web-1\",\"kind\":\"Pod\"}}\n"
    );
    assert_eq!(out, expected);
}

#[test]
fn display_debug_and_error_values_become_strings() {
    let error = std::io::Error::other("disk on fire");
    let out = capture(None, || {
        tracing::error!(error = &error as &dyn std::error::Error, path = ?"/spec/template", count = %7, "failed");
    });
    let line: Value = serde_json::from_str(out.trim_end()).unwrap();
    assert_eq!(line["error"], "disk on fire");
    assert_eq!(line["path"], "\"/spec/template\"");
    assert_eq!(line["count"], "7");
    assert_eq!(line["@message"], "failed");
}

#[test]
fn formatted_message_and_missing_message() {
    let out = capture(None, || {
        tracing::info!("{} rules for {}", 2, "web");
        tracing::info!(only = "fields");
    });
    let lines: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[0]["@message"], "2 rules for web");
    // @message must always be a string (a missing or non-string one crashes Velero's reader).
    assert_eq!(lines[1]["@message"], "");
}

#[test]
fn fields_cannot_clobber_reserved_keys() {
    let line = format_line(
        &tracing::Level::INFO,
        "m",
        Some("src/x.rs:1"),
        Map::from_iter([
            ("@level".to_owned(), Value::from(5)),
            ("@message".to_owned(), Value::Null),
            ("@timestamp".to_owned(), Value::from("yesterday")),
        ]),
    );
    let text = String::from_utf8(line).unwrap();
    assert_eq!(
        text,
        "{\"@level\":\"info\",\"@message\":\"m\",\"logSource\":\"src/x.rs:1\",\"@logSourceSetBy\":\"plugin\",\
         \"field.@level\":5,\"field.@message\":null,\"field.@timestamp\":\"yesterday\"}\n"
    );
}

fn assert_capped(line: &[u8]) -> Map<String, Value> {
    assert!(line.len() <= MAX_LINE_BYTES, "line is {} bytes", line.len());
    assert_eq!(line.last(), Some(&b'\n'));
    assert_eq!(
        line.iter().filter(|b| **b == b'\n').count(),
        1,
        "one line only"
    );
    match serde_json::from_slice(line).expect("valid JSON") {
        Value::Object(object) => object,
        other => panic!("not an object: {other}"),
    }
}

#[test]
fn long_message_is_cut_below_64_kib() {
    let message = "m".repeat(200 * 1024);
    let line = format_line(
        &tracing::Level::INFO,
        &message,
        Some("src/x.rs:1"),
        Map::new(),
    );
    let object = assert_capped(&line);
    let kept = object["@message"].as_str().unwrap();
    assert!(kept.ends_with(TRUNCATION_MARKER));
    assert!(kept.len() > 60 * 1024, "kept only {} bytes", kept.len());
    assert_eq!(object["@level"], "info");
    assert_eq!(object["@logSourceSetBy"], "plugin");
    assert_eq!(object["logSource"], "src/x.rs:1");
}

#[test]
fn escaped_and_multibyte_content_is_cut_correctly() {
    // Control characters serialise to 6 bytes each; multibyte characters must not be split.
    let message = "\u{1}é✓".repeat(40 * 1024);
    let mut fields = Map::new();
    fields.insert("other".into(), Value::from("\"".repeat(50 * 1024)));
    fields.insert("small".into(), Value::from(1));
    let line = format_line(&tracing::Level::WARN, &message, None, fields);
    let object = assert_capped(&line);
    assert_eq!(object["@level"], "warn");
    assert!(object["@message"].is_string());
}

#[test]
fn many_fields_are_dropped_when_cutting_strings_is_not_enough() {
    let fields: Map<String, Value> = (0..20_000)
        .map(|i| (format!("field_{i:05}"), Value::from(i)))
        .collect();
    let line = format_line(&tracing::Level::ERROR, "many", None, fields);
    let object = assert_capped(&line);
    assert_eq!(object["@message"], "many");
    assert_eq!(object["@level"], "error");
    assert_eq!(object["@truncated"], true);
    // Fields are dropped from the end: the first ones survive.
    assert_eq!(object["field_00000"], 0);
}

#[test]
fn oversized_event_through_the_layer_is_capped() {
    let big = "z".repeat(100 * 1024);
    let out = capture(None, || tracing::info!(payload = %big, "big"));
    assert_capped(out.as_bytes());
}

#[test]
fn threshold_and_transport_noise_filter() {
    let out = capture(Some(LevelFilter::WARN), || {
        tracing::info!("hidden");
        tracing::warn!("shown");
    });
    assert_eq!(out.lines().count(), 1);
    assert!(out.contains("shown"));

    let out = capture(Some(LevelFilter::DEBUG), || {
        tracing::debug!("ours");
        tracing::debug!(target: "h2::codec", "frame");
        tracing::warn!(target: "hyper::proto", "transport warning");
    });
    assert!(out.contains("ours"));
    assert!(!out.contains("frame"));
    assert!(out.contains("transport warning"));
}

#[test]
fn log_source_paths() {
    assert_eq!(
        log_source("src/plugin/server.rs", 12),
        "src/plugin/server.rs:12"
    );
    assert_eq!(
        log_source(
            "/root/.cargo/registry/src/index.crates.io-abc/h2-0.4.20/src/proto/streams.rs",
            9
        ),
        "h2-0.4.20/src/proto/streams.rs:9"
    );
    assert_eq!(log_source("/elsewhere/lib.rs", 3), "lib.rs:3");
}
