//! The bytes Go's `encoding/json` writes for a decoded JSON value: what the API server stores as a
//! ControllerRevision's `data` when Velero (or client-go) creates it, and what the StatefulSet
//! controller compares. `tests/oracle/canonical/` holds it against Go itself.

use serde_json::{Map, Number, Value};

/// The bytes Go's `encoding/json.Marshal` emits for `value` decoded the way Velero and client-go
/// decode items (apimachinery `util/json`: integers that fit `int64` stay integers, other numbers
/// are `float64`): object keys sorted bytewise at every level, no whitespace, `<`, `>`, `&`,
/// U+2028 and U+2029 escaped as `\u003c`…, control characters as `\b \f \n \r \t` or `\u00XX`.
///
/// This is the form the API server stores a ControllerRevision's `data` in when Velero (or
/// client-go) creates it, and the form the StatefulSet controller's `getPatch` produces.
pub fn go_canonical(value: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    write_value(value, &mut out);
    out
}

/// [`go_canonical`] as text (the bytes are always UTF-8).
pub fn go_canonical_string(value: &Value) -> String {
    String::from_utf8(go_canonical(value)).unwrap_or_default()
}

fn write_value(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => write_number(n, out),
        Value::String(s) => write_string(s, out),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(item, out);
            }
            out.push(b']');
        }
        Value::Object(map) => write_object(map, out),
    }
}

fn write_object(map: &Map<String, Value>, out: &mut Vec<u8>) {
    // Go sorts map keys with strings.Compare (bytewise), which is Rust's `str` order.
    let mut entries: Vec<(&String, &Value)> = map.iter().collect();
    entries.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    out.push(b'{');
    for (i, (key, value)) in entries.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_string(key, out);
        out.push(b':');
        write_value(value, out);
    }
    out.push(b'}');
}

fn write_number(n: &Number, out: &mut Vec<u8>) {
    if let Some(i) = n.as_i64() {
        out.extend_from_slice(i.to_string().as_bytes());
    } else if let Some(f) = n.as_f64() {
        // Integers beyond int64 (u64 > i64::MAX) do not survive apimachinery's decoder as
        // integers: they become float64, printed as Go prints floats.
        out.extend_from_slice(fsb_modifiers::go_float(f).as_bytes());
    }
}

fn write_string(s: &str, out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    let mut buf = [0u8; 4];
    for c in s.chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\t' => out.extend_from_slice(b"\\t"),
            // Short forms since Go 1.22 (every Kubernetes and Velero release in scope).
            '\u{8}' => out.extend_from_slice(b"\\b"),
            '\u{c}' => out.extend_from_slice(b"\\f"),
            '\u{0}'..='\u{1f}' | '<' | '>' | '&' => {
                let b = c as u8;
                out.extend_from_slice(b"\\u00");
                out.push(HEX[usize::from(b >> 4)]);
                out.push(HEX[usize::from(b & 0xf)]);
            }
            '\u{2028}' => out.extend_from_slice(b"\\u2028"),
            '\u{2029}' => out.extend_from_slice(b"\\u2029"),
            _ => out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes()),
        }
    }
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn html_and_line_separators_are_escaped_like_go() {
        // Hand-derived from encoding/json's encodeState.string with escapeHTML on.
        let value = json!({"k": "a<b>&c\u{2028}\u{2029}\"\\\n\r\t\u{8}\u{c}\u{1}\u{1f}\u{7f}é"});
        assert_eq!(
            go_canonical_string(&value),
            "{\"k\":\"a\\u003cb\\u003e\\u0026c\\u2028\\u2029\\\"\\\\\\n\\r\\t\\b\\f\\u0001\\u001f\u{7f}é\"}"
        );
    }

    #[test]
    fn keys_sort_bytewise_and_numbers_print_like_go() {
        let value = json!({"b": 1, "B": 2, "a": [], "$": {}, "é": null, "aa": [true, false]});
        assert_eq!(
            go_canonical_string(&value),
            r#"{"$":{},"B":2,"a":[],"aa":[true,false],"b":1,"é":null}"#
        );
        // strconv.AppendFloat(f, 'f' or 'e', -1, 64) + encoding/json's exponent cleanup.
        for (f, go) in [
            (1.0, "1"),
            (0.5, "0.5"),
            (123.456, "123.456"),
            (1e20, "100000000000000000000"),
            (1e21, "1e+21"),
            (1.5e-7, "1.5e-7"),
            (1e-6, "0.000001"),
            (2.5e-10, "2.5e-10"),
            (-3.25, "-3.25"),
            (1.2345e100, "1.2345e+100"),
            // Two 17-digit strings round-trip equally close (…890.25): Go rounds to even.
            (-1.2894438239798902e15, "-1289443823979890.2"),
        ] {
            assert_eq!(fsb_modifiers::go_float(f), go, "{f}");
        }
        // Integers beyond int64 are floats after apimachinery's decoder.
        let big: Value = serde_json::from_str("12345678901234567890").unwrap();
        assert_eq!(go_canonical_string(&big), "12345678901234567000");
        let min: Value = serde_json::from_str("-9223372036854775808").unwrap();
        assert_eq!(go_canonical_string(&min), "-9223372036854775808");
    }
}
