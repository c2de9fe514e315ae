//! A JSON tree that keeps number text, parsed and printed the way Go's `encoding/json` does.
//!
//! evanphx/json-patch compares scalars by their compacted source bytes (`1` ≠ `1.0`), and the
//! document it patches is the Go marshalling of an `unstructured.Unstructured` (int64 or float64
//! numbers). Keeping the number lexeme lets the patch engine compare exactly like Go.

use serde_json::{Map, Number, Value};

/// A JSON value with numbers kept as text.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Node {
    Null,
    /// A `null` put into the document by an `add`/`replace` of the current JSON patch: evanphx
    /// keeps it as a raw node, which is not "nil" for a later `test` in the same patch.
    InsertedNull,
    Bool(bool),
    /// Number lexeme exactly as it appears in the source (or as Go would print it).
    Number(String),
    String(String),
    Array(Vec<Node>),
    /// Keys in insertion order; a repeated key keeps its first position and its last value
    /// (Go map semantics plus evanphx's key list).
    Object(Vec<(String, Node)>),
}

impl Node {
    pub(crate) fn object_get(&self, key: &str) -> Option<&Node> {
        match self {
            Node::Object(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }
}

/// Maximum nesting accepted by the parser (Go's decoder allows 10000; we stay well below the
/// stack budget of a fuzzing thread).
const MAX_DEPTH: usize = 512;

/// Parse JSON text with Go `encoding/json` rules (RFC 8259, duplicate keys: last wins,
/// invalid surrogates become U+FFFD). Returns `None` on any syntax error.
pub(crate) fn parse(text: &str) -> Option<Node> {
    let mut p = Parser {
        s: text.as_bytes(),
        i: 0,
        depth: 0,
    };
    p.ws();
    let v = p.value()?;
    p.ws();
    (p.i == p.s.len()).then_some(v)
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
    depth: usize,
}

impl Parser<'_> {
    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.s.get(self.i) {
            self.i += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn lit(&mut self, word: &[u8], node: Node) -> Option<Node> {
        if self.s[self.i..].starts_with(word) {
            self.i += word.len();
            Some(node)
        } else {
            None
        }
    }

    fn value(&mut self) -> Option<Node> {
        match self.peek()? {
            b'{' => self.object(),
            b'[' => self.array(),
            b'"' => self.string().map(Node::String),
            b't' => self.lit(b"true", Node::Bool(true)),
            b'f' => self.lit(b"false", Node::Bool(false)),
            b'n' => self.lit(b"null", Node::Null),
            b'-' | b'0'..=b'9' => self.number(),
            _ => None,
        }
    }

    fn enter(&mut self) -> Option<()> {
        self.depth += 1;
        (self.depth <= MAX_DEPTH).then_some(())
    }

    fn object(&mut self) -> Option<Node> {
        self.enter()?;
        self.i += 1;
        let mut entries: Vec<(String, Node)> = Vec::new();
        self.ws();
        if self.peek()? == b'}' {
            self.i += 1;
            self.depth -= 1;
            return Some(Node::Object(entries));
        }
        loop {
            self.ws();
            if self.peek()? != b'"' {
                return None;
            }
            let k = self.string()?;
            self.ws();
            if self.peek()? != b':' {
                return None;
            }
            self.i += 1;
            self.ws();
            let v = self.value()?;
            match entries.iter_mut().find(|(ek, _)| *ek == k) {
                Some(slot) => slot.1 = v,
                None => entries.push((k, v)),
            }
            self.ws();
            match self.peek()? {
                b',' => self.i += 1,
                b'}' => {
                    self.i += 1;
                    self.depth -= 1;
                    return Some(Node::Object(entries));
                }
                _ => return None,
            }
        }
    }

    fn array(&mut self) -> Option<Node> {
        self.enter()?;
        self.i += 1;
        let mut items = Vec::new();
        self.ws();
        if self.peek()? == b']' {
            self.i += 1;
            self.depth -= 1;
            return Some(Node::Array(items));
        }
        loop {
            self.ws();
            items.push(self.value()?);
            self.ws();
            match self.peek()? {
                b',' => self.i += 1,
                b']' => {
                    self.i += 1;
                    self.depth -= 1;
                    return Some(Node::Array(items));
                }
                _ => return None,
            }
        }
    }

    fn number(&mut self) -> Option<Node> {
        let start = self.i;
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        match self.peek()? {
            b'0' => self.i += 1,
            b'1'..=b'9' => self.digits(),
            _ => return None,
        }
        if self.peek() == Some(b'.') {
            self.i += 1;
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return None;
            }
            self.digits();
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.i += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.i += 1;
            }
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return None;
            }
            self.digits();
        }
        // The slice is ASCII by construction.
        Some(Node::Number(
            String::from_utf8_lossy(&self.s[start..self.i]).into_owned(),
        ))
    }

    fn digits(&mut self) {
        while let Some(b'0'..=b'9') = self.peek() {
            self.i += 1;
        }
    }

    fn hex4(&mut self) -> Option<u32> {
        let h = self.s.get(self.i..self.i + 4)?;
        let h = std::str::from_utf8(h).ok()?;
        if !h.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        self.i += 4;
        u32::from_str_radix(h, 16).ok()
    }

    fn string(&mut self) -> Option<String> {
        self.i += 1;
        let mut out: Vec<u8> = Vec::new();
        loop {
            let b = self.peek()?;
            match b {
                b'"' => {
                    self.i += 1;
                    // Go replaces invalid UTF-8 with U+FFFD.
                    return Some(String::from_utf8_lossy(&out).into_owned());
                }
                b'\\' => {
                    self.i += 1;
                    let e = self.peek()?;
                    self.i += 1;
                    let c = match e {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => {
                            let hi = self.hex4()?;
                            self.unicode_escape(hi)
                        }
                        _ => return None,
                    };
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
                0..=0x1f => return None,
                _ => {
                    out.push(b);
                    self.i += 1;
                }
            }
        }
    }

    /// Decode the code unit after `\u`, pairing surrogates like Go (`unquote` in decode.go).
    fn unicode_escape(&mut self, hi: u32) -> char {
        if (0xD800..0xDC00).contains(&hi) {
            // A valid pair must follow immediately; otherwise Go emits U+FFFD for `hi` only.
            if self.s.get(self.i..self.i + 2) == Some(b"\\u") {
                let save = self.i;
                self.i += 2;
                if let Some(lo) = self.hex4()
                    && (0xDC00..0xE000).contains(&lo)
                {
                    let c = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
                    return char::from_u32(c).unwrap_or('\u{FFFD}');
                }
                self.i = save;
            }
            return '\u{FFFD}';
        }
        char::from_u32(hi).unwrap_or('\u{FFFD}')
    }
}

/// Format an f64 the way Go's `encoding/json` does (`strconv.AppendFloat(f, 'f' or 'e', -1, 64)`
/// with the exponent cleanup): shortest round-trip digits, ties to even, `'e'` notation below
/// 1e-6 and from 1e21 on. The one Go float encoder of the workspace (the guard's revision bytes
/// use it too).
pub fn go_float(f: f64) -> String {
    if f == 0.0 {
        return if f.is_sign_negative() { "-0" } else { "0" }.to_owned();
    }
    let abs = f.abs();
    // Shortest round-trip digits and decimal exponent from Rust's `{:e}` formatting. When two
    // digit strings of that length round-trip equally close, Rust rounds the tie up and Go to
    // even; the correctly rounded string of the same length (ties to even) is Go's whenever it
    // round-trips.
    let shortest = format!("{abs:e}");
    let length = shortest
        .split_once('e')
        .map_or(0, |(m, _)| m.chars().filter(char::is_ascii_digit).count());
    let rounded = format!("{:.*e}", length.saturating_sub(1), abs);
    let sci = if rounded.parse::<f64>() == Ok(abs) {
        rounded
    } else {
        shortest
    };
    let (mant, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mant.chars().filter(|c| *c != '.').collect();
    let sign = if f < 0.0 { "-" } else { "" };
    if !(1e-6..1e21).contains(&abs) {
        let mut m = digits[..1].to_owned();
        if digits.len() > 1 {
            m.push('.');
            m.push_str(&digits[1..]);
        }
        let (es, ev) = if exp < 0 { ('-', -exp) } else { ('+', exp) };
        // Go prints at least two exponent digits, then drops a leading zero for negative ones.
        let ev = if es == '-' {
            format!("{ev}")
        } else {
            format!("{ev:02}")
        };
        return format!("{sign}{m}e{es}{ev}");
    }
    // Plain decimal notation.
    let n = digits.len() as i32;
    let point = exp + 1; // digits before the decimal point
    let body = if point <= 0 {
        format!("0.{}{}", "0".repeat((-point) as usize), digits)
    } else if point >= n {
        format!("{}{}", digits, "0".repeat((point - n) as usize))
    } else {
        let (a, b) = digits.split_at(point as usize);
        format!("{a}.{b}")
    };
    format!("{sign}{body}")
}

/// The text Go prints for a number held by an `unstructured.Unstructured` (int64 or float64).
pub(crate) fn go_number_text(n: &Number) -> String {
    if let Some(i) = n.as_i64() {
        i.to_string()
    } else if let Some(u) = n.as_u64() {
        // Beyond int64: Go holds it as float64.
        go_float(u as f64)
    } else {
        go_float(n.as_f64().unwrap_or(0.0))
    }
}

/// serde_json value → tree, numbers printed like Go prints the unstructured object.
pub(crate) fn from_value(v: &Value) -> Node {
    match v {
        Value::Null => Node::Null,
        Value::Bool(b) => Node::Bool(*b),
        Value::Number(n) => Node::Number(go_number_text(n)),
        Value::String(s) => Node::String(s.clone()),
        Value::Array(a) => Node::Array(a.iter().map(from_value).collect()),
        Value::Object(m) => {
            Node::Object(m.iter().map(|(k, v)| (k.clone(), from_value(v))).collect())
        }
    }
}

/// Tree → serde_json value the way `unstructured.UnmarshalJSON` decodes numbers: int64 when the
/// lexeme is an integer that fits, otherwise float64; a float that overflows is an error.
pub(crate) fn to_value(n: &Node) -> Option<Value> {
    Some(match n {
        Node::Null | Node::InsertedNull => Value::Null,
        Node::Bool(b) => Value::Bool(*b),
        Node::Number(t) => {
            if let Ok(i) = t.parse::<i64>() {
                Value::Number(i.into())
            } else {
                let f: f64 = t.parse().ok()?;
                if !f.is_finite() {
                    return None;
                }
                Value::Number(Number::from_f64(f)?)
            }
        }
        Node::String(s) => Value::String(s.clone()),
        Node::Array(a) => Value::Array(a.iter().map(to_value).collect::<Option<_>>()?),
        Node::Object(entries) => {
            let mut m = Map::new();
            for (k, v) in entries {
                m.insert(k.clone(), to_value(v)?);
            }
            Value::Object(m)
        }
    })
}

/// What `unstructured.UnmarshalJSON` makes of the numbers of an item Go marshalled: each becomes
/// the int64 or float64 of its Go text (a float64 `1.0` becomes the int64 1, a uint64 beyond
/// int64 a float64), as [`to_value`] of [`from_value`] does, without copying the item. Returns
/// whether a number changed.
pub(crate) fn normalize_numbers(v: &mut Value) -> bool {
    match v {
        Value::Number(n) if !n.is_i64() => match to_value(&Node::Number(go_number_text(n))) {
            Some(go) if go != *v => {
                *v = go;
                true
            }
            _ => false,
        },
        Value::Array(items) => items
            .iter_mut()
            .fold(false, |changed, x| normalize_numbers(x) | changed),
        Value::Object(m) => m
            .values_mut()
            .fold(false, |changed, x| normalize_numbers(x) | changed),
        _ => false,
    }
}

/// Whether every number lexeme of `n` is the text Go prints for the value it decodes to: then
/// the decoded value is already what [`normalize_numbers`] would make of it.
pub(crate) fn numbers_are_normal(n: &Node) -> bool {
    match n {
        Node::Number(t) => {
            matches!(to_value(n), Some(Value::Number(v)) if go_number_text(&v) == *t)
        }
        Node::Array(items) => items.iter().all(numbers_are_normal),
        Node::Object(entries) => entries.iter().all(|(_, v)| numbers_are_normal(v)),
        _ => true,
    }
}

/// Serialize a tree as compact JSON (number lexemes verbatim).
pub(crate) fn to_text(n: &Node, out: &mut String) {
    match n {
        Node::Null | Node::InsertedNull => out.push_str("null"),
        Node::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Node::Number(t) => out.push_str(t),
        Node::String(s) => out.push_str(&Value::String(s.clone()).to_string()),
        Node::Array(a) => {
            out.push('[');
            for (i, v) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                to_text(v, out);
            }
            out.push(']');
        }
        Node::Object(entries) => {
            out.push('{');
            for (i, (k, v)) in entries.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                to_text(v, out);
            }
            out.push('}');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_float_formatting_matches_encoding_json() {
        // Expected strings are what Go 1.22+ `json.Marshal(float64)` prints.
        let cases = [
            (1.5, "1.5"),
            (1.0, "1"),
            (100.0, "100"),
            (0.1, "0.1"),
            (1e21, "1e+21"),
            (1e20, "100000000000000000000"),
            (1e-7, "1e-7"),
            (0.000001, "0.000001"),
            (-2.5e-10, "-2.5e-10"),
            (123456789.125, "123456789.125"),
            (1.8446744073709552e19, "18446744073709552000"),
            (3.0e22, "3e+22"),
            // Two 17-digit strings round-trip equally close (…890.25): Go rounds to even.
            (-1.2894438239798902e15, "-1289443823979890.2"),
        ];
        for (f, want) in cases {
            assert_eq!(go_float(f), want, "{f}");
        }
    }

    #[test]
    fn parser_rejects_what_go_rejects() {
        for bad in [
            "01",
            "1.",
            ".5",
            "+1",
            "[1,]",
            "{\"a\":1,}",
            "'a'",
            "\"\t\"",
            "tru",
            "1 2",
        ] {
            assert!(parse(bad).is_none(), "{bad}");
        }
        for good in [
            "0",
            "-0",
            "1e5",
            "1E+5",
            "[]",
            "{}",
            " {\"a\" : [1, 2.5e-3]} ",
        ] {
            assert!(parse(good).is_some(), "{good}");
        }
    }

    #[test]
    fn duplicate_keys_last_wins_first_position() {
        let n = parse(r#"{"a":1,"b":2,"a":3}"#).unwrap();
        assert_eq!(
            n,
            Node::Object(vec![
                ("a".into(), Node::Number("3".into())),
                ("b".into(), Node::Number("2".into()))
            ])
        );
    }

    #[test]
    fn lone_surrogate_becomes_replacement_char() {
        assert_eq!(
            parse(r#""\ud800x""#).unwrap(),
            Node::String("\u{FFFD}x".into())
        );
        assert_eq!(
            parse(r#""\ud83d\ude00""#).unwrap(),
            Node::String("😀".into())
        );
    }
}
