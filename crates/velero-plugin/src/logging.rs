//! Plugin-mode logging: how `tracing` events leave a plugin process so Velero shows them in
//! `velero restore logs`.
//!
//! # The go-plugin / Velero contract
//!
//! Velero reads the plugin's stderr line by line (64 KiB buffer) and parses each line as a JSON
//! object (hclog convention):
//!
//! - `@level` and `@message` must be JSON **strings** — any other type panics the Velero server.
//!   `@level` must be one of `trace|debug|info|warn|error`; `warning` is not recognised and would
//!   demote the line to a raw debug message.
//! - `@timestamp`, if present, must have an exact layout, so we omit it (Velero's own plugins do too).
//! - `logSource` plus `"@logSourceSetBy":"plugin"` makes Velero keep our `file:line` instead of
//!   overwriting it with its own call site.
//! - every other key becomes a log field in `velero restore logs`.
//! - a line of 64 KiB or more is split and never parsed, so lines are capped (see
//!   [`MAX_LINE_BYTES`]); stdout is reserved for the handshake and is never written here.
//!
//! Writes never panic: errors (e.g. `EPIPE` once the host is gone) are ignored.

use std::fmt::Write as _;
use std::io::Write as _;
use std::sync::Arc;

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::level_filters::LevelFilter;
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::{Context, SubscriberExt as _};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{Layer, Registry};

/// Upper bound of one stderr line in plugin mode, newline included. go-plugin reads stderr with a
/// 64 KiB buffer; a line that does not fit (with its `\n`) is split and logged unparsed.
pub const MAX_LINE_BYTES: usize = 64 * 1024;

/// Appended to a string value that was shortened to keep the line under [`MAX_LINE_BYTES`].
pub const TRUNCATION_MARKER: &str = "...[truncated]";

/// Keys we write ourselves; event fields with these names are renamed so they cannot clobber them.
const RESERVED_KEYS: [&str; 5] = [
    "@level",
    "@message",
    "@timestamp",
    "logSource",
    "@logSourceSetBy",
];

/// Dependencies whose debug/trace output is transport noise for a Velero operator.
const NOISY_TARGETS: [&str; 6] = ["h2", "hyper", "hyper_util", "tower", "tonic", "mio"];

/// Where finished log lines go. Each call receives one complete line ending in `\n`.
pub trait LineSink: Send + Sync + 'static {
    /// Write one line; must not panic and must not block for long.
    fn write_line(&self, line: &[u8]);
}

/// Writes lines to the process's stderr, ignoring every write error.
#[derive(Debug, Clone, Copy, Default)]
pub struct StderrSink;

impl LineSink for StderrSink {
    fn write_line(&self, line: &[u8]) {
        // One write_all under the lock keeps lines from different threads whole. Errors (EPIPE
        // after the host went away, EAGAIN…) are deliberately dropped: logging must never kill
        // or stall the plugin.
        let mut stderr = std::io::stderr().lock();
        let _ = stderr.write_all(line);
        let _ = stderr.flush();
    }
}

/// The hclog `@level` string for a tracing level.
pub fn hclog_level(level: &Level) -> &'static str {
    match *level {
        Level::TRACE => "trace",
        Level::DEBUG => "debug",
        Level::INFO => "info",
        Level::WARN => "warn",
        Level::ERROR => "error",
    }
}

/// Maps a Velero `--log-level` value (logrus names: `panic|fatal|error|warning|info|debug|trace`,
/// case-insensitive; `warn` accepted too) to the threshold of what we emit. `panic` and `fatal`
/// have no tracing equivalent and mean "errors only".
pub fn level_from_velero(name: &str) -> Option<LevelFilter> {
    match name.trim().to_ascii_lowercase().as_str() {
        "panic" | "fatal" | "error" => Some(LevelFilter::ERROR),
        "warning" | "warn" => Some(LevelFilter::WARN),
        "info" => Some(LevelFilter::INFO),
        "debug" => Some(LevelFilter::DEBUG),
        "trace" => Some(LevelFilter::TRACE),
        _ => None,
    }
}

/// Builds one capped JSON log line (with trailing `\n`) in the plugin format.
///
/// Key order: `@level`, `@message`, `logSource` (if known), `@logSourceSetBy`, then `fields` in
/// their order. If the line would reach [`MAX_LINE_BYTES`], the longest string values are cut
/// (marked with [`TRUNCATION_MARKER`]) and, as a last resort, trailing fields are dropped; the
/// result is always one valid JSON object.
pub fn format_line(
    level: &Level,
    message: &str,
    log_source: Option<&str>,
    fields: Map<String, Value>,
) -> Vec<u8> {
    let mut object = Map::new();
    object.insert("@level".into(), Value::from(hclog_level(level)));
    object.insert("@message".into(), Value::from(message));
    if let Some(source) = log_source {
        object.insert("logSource".into(), Value::from(source));
    }
    object.insert("@logSourceSetBy".into(), Value::from("plugin"));
    for (key, value) in fields {
        let key = if RESERVED_KEYS.contains(&key.as_str()) {
            format!("field.{key}")
        } else {
            key
        };
        object.insert(key, value);
    }
    encode_capped(object)
}

/// Strings shorter than this are never cut; if only such strings remain, fields are dropped.
const MIN_CUTTABLE_STRING: usize = 1024;
/// Rounds of "cut the longest string" before falling back to dropping fields in bulk; keeps the
/// work bounded for events with thousands of fields.
const MAX_CUT_ROUNDS: usize = 16;

fn encode_capped(mut object: Map<String, Value>) -> Vec<u8> {
    let mut cut_rounds = 0;
    // Every round shrinks the line; the bound is a safety net.
    for _ in 0..MAX_CUT_ROUNDS + 16 {
        let mut line = serde_json::to_vec(&object).unwrap_or_default();
        if line.len() < MAX_LINE_BYTES {
            line.push(b'\n');
            return line;
        }
        let excess = line.len() + 1 - MAX_LINE_BYTES;
        if cut_rounds < MAX_CUT_ROUNDS && shorten_longest_string(&mut object, excess) {
            cut_rounds += 1;
        } else if !drop_trailing_fields(&mut object, excess) {
            break;
        }
    }
    // Only reachable with absurd reserved values: never emit an oversize line.
    let mut minimal = Map::new();
    for key in ["@level", "@logSourceSetBy"] {
        if let Some(value) = object.get(key) {
            minimal.insert(key.into(), value.clone());
        }
    }
    minimal.insert("@message".into(), Value::from(TRUNCATION_MARKER));
    let mut line = serde_json::to_vec(&minimal).unwrap_or_default();
    line.push(b'\n');
    line
}

/// Cuts the longest string value by at least `excess` bytes (serialised size shrinks at least as
/// much as the raw size, because every raw byte serialises to one or more bytes). Returns false if
/// no string is long enough to be worth cutting.
fn shorten_longest_string(object: &mut Map<String, Value>, excess: usize) -> bool {
    let longest = object
        .iter()
        .filter(|(key, _)| *key != "@level" && *key != "@logSourceSetBy")
        .filter_map(|(key, value)| value.as_str().map(|s| (key.clone(), s.len())))
        .max_by_key(|(_, len)| *len);
    let Some((key, len)) = longest else {
        return false;
    };
    if len < MIN_CUTTABLE_STRING {
        return false;
    }
    let Some(Value::String(text)) = object.get_mut(&key) else {
        return false;
    };
    let mut keep = len.saturating_sub(excess + TRUNCATION_MARKER.len());
    while !text.is_char_boundary(keep) {
        keep -= 1;
    }
    text.truncate(keep);
    text.push_str(TRUNCATION_MARKER);
    true
}

/// Drops as many trailing event/span fields as needed to remove `excess` serialised bytes (plus a
/// `"@truncated":true` marker's worth). Returns false if there was nothing left to drop.
fn drop_trailing_fields(object: &mut Map<String, Value>, excess: usize) -> bool {
    const MARKER_COST: usize = r#","@truncated":true"#.len();
    let mut freed = 0;
    let mut doomed = Vec::new();
    for (key, value) in object.iter().rev() {
        if freed >= excess + MARKER_COST {
            break;
        }
        if RESERVED_KEYS.contains(&key.as_str()) || key == "@truncated" {
            continue;
        }
        let key_len = serde_json::to_vec(key).map_or(key.len() + 2, |k| k.len());
        let value_len = serde_json::to_vec(value).map_or(0, |v| v.len());
        // key, colon, value, comma
        freed += key_len + 1 + value_len + 1;
        doomed.push(key.clone());
    }
    if doomed.is_empty() {
        return object.shift_remove("logSource").is_some();
    }
    for key in doomed {
        object.shift_remove(&key);
    }
    object.insert("@truncated".into(), Value::Bool(true));
    true
}

/// `file.rs:line` for Velero's `logSource`. Paths of dependencies are absolute (cargo registry);
/// keep them readable by starting at the crate directory.
pub fn log_source(file: &str, line: u32) -> String {
    let file = if file.starts_with('/') {
        match file.rfind("/src/") {
            Some(src) => {
                let crate_start = file[..src].rfind('/').map_or(0, |slash| slash + 1);
                &file[crate_start..]
            }
            None => file.rsplit('/').next().unwrap_or(file),
        }
    } else {
        file
    };
    format!("{file}:{line}")
}

/// Span fields remembered for the JSON layer.
struct SpanFields(Map<String, Value>);

/// Collects tracing fields as JSON values; `message` is kept apart for `@message`.
struct JsonVisitor<'a> {
    message: Option<String>,
    fields: &'a mut Map<String, Value>,
}

impl JsonVisitor<'_> {
    fn put(&mut self, field: &Field, value: Value) {
        let name = field.name();
        if name == "message" {
            self.message = Some(match value {
                Value::String(text) => text,
                other => other.to_string(),
            });
        } else if !name.starts_with("log.") {
            // `log.*` fields are tracing-log's bookkeeping, not information.
            self.fields.insert(name.to_owned(), value);
        }
    }
}

impl Visit for JsonVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, Value::from(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, Value::from(value));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, Value::from(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, Value::from(value));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        // NaN/inf are not JSON numbers: serde_json turns them into null, keep the text instead.
        let number = serde_json::Number::from_f64(value)
            .map_or_else(|| Value::from(value.to_string()), Value::Number);
        self.put(field, number);
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        let mut text = value.to_string();
        let mut source = value.source();
        while let Some(cause) = source {
            let _ = write!(text, ": {cause}");
            source = cause.source();
        }
        self.put(field, Value::from(text));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.put(field, Value::from(format!("{value:?}")));
    }
}

/// `tracing` layer writing the plugin-mode JSON lines (see the module docs) to a [`LineSink`].
///
/// Fields of enclosing spans come first (outermost first), then the event's own fields; a later
/// field with the same name replaces an earlier one.
pub struct PluginJsonLayer {
    sink: Arc<dyn LineSink>,
}

impl PluginJsonLayer {
    pub fn new(sink: Arc<dyn LineSink>) -> Self {
        Self { sink }
    }
}

impl<S> Layer<S> for PluginJsonLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        id: &tracing::span::Id,
        ctx: Context<'_, S>,
    ) {
        let Some(span) = ctx.span(id) else { return };
        let mut fields = Map::new();
        let mut visitor = JsonVisitor {
            message: None,
            fields: &mut fields,
        };
        attrs.record(&mut visitor);
        span.extensions_mut().insert(SpanFields(fields));
    }

    fn on_record(
        &self,
        id: &tracing::span::Id,
        values: &tracing::span::Record<'_>,
        ctx: Context<'_, S>,
    ) {
        let Some(span) = ctx.span(id) else { return };
        let mut extensions = span.extensions_mut();
        if let Some(SpanFields(fields)) = extensions.get_mut::<SpanFields>() {
            let mut visitor = JsonVisitor {
                message: None,
                fields,
            };
            values.record(&mut visitor);
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let mut fields = Map::new();
        if let Some(scope) = ctx.event_scope(event) {
            for span in scope.from_root() {
                if let Some(SpanFields(span_fields)) = span.extensions().get::<SpanFields>() {
                    for (key, value) in span_fields {
                        fields.insert(key.clone(), value.clone());
                    }
                }
            }
        }
        let mut visitor = JsonVisitor {
            message: None,
            fields: &mut fields,
        };
        event.record(&mut visitor);
        let message = visitor.message.take().unwrap_or_default();
        let metadata = event.metadata();
        let source = match (metadata.file(), metadata.line()) {
            (Some(file), Some(line)) => Some(log_source(file, line)),
            _ => metadata.module_path().map(str::to_owned),
        };
        let line = format_line(metadata.level(), &message, source.as_deref(), fields);
        self.sink.write_line(&line);
    }
}

/// Per-target filter for plugin mode: our code at `level`, transport crates at most at `warn`.
pub fn plugin_filter(level: LevelFilter) -> Targets {
    let transport = level.min(LevelFilter::WARN);
    NOISY_TARGETS
        .iter()
        .fold(Targets::new().with_default(level), |targets, target| {
            targets.with_target(*target, transport)
        })
}

/// Installs plugin-mode logging: JSON lines on stderr at `level` and a panic hook that reports
/// panics as JSON `error` lines. Safe to call more than once (later calls keep the first setup).
pub fn init_plugin(level: LevelFilter) {
    let sink: Arc<dyn LineSink> = Arc::new(StderrSink);
    let _ = Registry::default()
        .with(PluginJsonLayer::new(Arc::clone(&sink)).with_filter(plugin_filter(level)))
        .try_init();
    install_panic_hook(sink);
}

/// Replaces the default panic message (which Velero would only show at debug level) with a JSON
/// `error` line: `@message` = `panic: <payload>`, `logSource` = the panic location, `thread`.
pub fn install_panic_hook(sink: Arc<dyn LineSink>) {
    std::panic::set_hook(Box::new(move |info| {
        let payload = panic_message(info.payload());
        let source = info
            .location()
            .map(|location| log_source(location.file(), location.line()));
        let mut fields = Map::new();
        if let Some(name) = std::thread::current().name() {
            fields.insert("thread".into(), Value::from(name));
        }
        let line = format_line(
            &Level::ERROR,
            &format!("panic: {payload}"),
            source.as_deref(),
            fields,
        );
        sink.write_line(&line);
    }));
}

/// Text of a panic payload (`panic!` with a literal or a formatted message).
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_owned()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "non-text panic payload".to_owned()
    }
}
