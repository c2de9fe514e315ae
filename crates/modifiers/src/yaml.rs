//! YAML read the way `sigs.k8s.io/yaml` (v1.4.0, over its goyaml.v2 fork) reads it.
//!
//! serde-saphyr's event parser (`granit_parser`) gives the node tree with scalar styles, tags
//! and positions; scalars are then resolved with goyaml.v2's YAML 1.1 rules (`yes`/`on` are
//! booleans, `010` is octal, `1_000` is an int, timestamps stay strings, `1e400` stays a string)
//! and converted to JSON values like `yamlToJSONTarget` does.

use serde_saphyr::granit_parser::{Event, Parser, ScalarStyle};

use crate::gojson::{self, Node};

/// A position in the YAML text (1-based line and column).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pos {
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub col: usize,
}

impl std::fmt::Display for Pos {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}, column {}", self.line, self.col)
    }
}

/// A value as goyaml.v2 decodes it into `interface{}`.
#[derive(Clone, Debug)]
pub(crate) enum GoVal {
    Null,
    Bool(bool),
    Int(i64),
    Uint(u64),
    Float(f64),
    Str(String),
    Seq(Vec<Spanned>),
    Map(Vec<(Spanned, Spanned)>),
}

#[derive(Clone, Debug)]
pub(crate) struct Spanned {
    pub(crate) val: GoVal,
    pub(crate) pos: Pos,
}

/// Limit on nodes produced (aliases are expanded), against alias bombs.
const MAX_NODES: usize = 100_000;
const MAX_DEPTH: usize = 256;

#[derive(Debug)]
struct Raw {
    pos: Pos,
    kind: RawKind,
}

#[derive(Debug, Clone)]
enum RawKind {
    Scalar {
        value: String,
        plain: bool,
        tag: Option<String>,
    },
    Seq(Vec<usize>),
    Map(Vec<(usize, usize)>),
}

/// Parse the first YAML document into goyaml.v2 values. An empty stream is `Null`.
pub(crate) fn parse(text: &str) -> Result<Spanned, String> {
    check_tabs(text)?;
    let mut arena: Vec<Raw> = Vec::new();
    let mut anchors: std::collections::HashMap<usize, usize> = std::collections::HashMap::new();
    // Stack of open collections: (arena index, pending key for maps).
    let mut stack: Vec<(usize, Option<usize>)> = Vec::new();
    let mut root: Option<usize> = None;
    let mut started = false;
    for ev in Parser::new_from_str(text) {
        let (ev, span) = ev.map_err(|e| {
            let m = e.marker();
            format!("yaml: line {}, column {}: {e}", m.line(), m.col() + 1)
        })?;
        let pos = Pos {
            line: span.start.line(),
            col: span.start.col() + 1,
        };
        let node = match ev {
            Event::DocumentStart(_, version) => {
                // libyaml as vendored in goyaml.v2 only accepts `%YAML 1.1`.
                if let Some(v) = version
                    && (v.major != 1 || v.minor != 1)
                {
                    return Err(format!("yaml: {pos}: found incompatible YAML document"));
                }
                started = true;
                continue;
            }
            // goyaml.v2 decodes only the first document.
            Event::DocumentEnd => break,
            Event::Scalar(value, style, anchor, tag) => {
                let tag = tag.map(|t| format!("{}{}", t.handle(), t.suffix()));
                push(
                    &mut arena,
                    Raw {
                        pos,
                        kind: RawKind::Scalar {
                            value: value.into_owned(),
                            plain: style == ScalarStyle::Plain,
                            tag,
                        },
                    },
                    anchor,
                    &mut anchors,
                )?
            }
            Event::SequenceStart(_, anchor, _) | Event::MappingStart(_, anchor, _) => {
                let is_seq = matches!(ev, Event::SequenceStart(..));
                let kind = if is_seq {
                    RawKind::Seq(Vec::new())
                } else {
                    RawKind::Map(Vec::new())
                };
                let idx = push(&mut arena, Raw { pos, kind }, anchor, &mut anchors)?;
                attach(&mut arena, &mut stack, &mut root, idx);
                if stack.len() >= MAX_DEPTH {
                    return Err("yaml: nesting too deep".into());
                }
                stack.push((idx, None));
                continue;
            }
            Event::SequenceEnd | Event::MappingEnd => {
                stack.pop();
                continue;
            }
            Event::Alias(id) => *anchors
                .get(&id)
                .ok_or_else(|| format!("yaml: unknown anchor referenced at {pos}"))?,
            _ => continue,
        };
        attach(&mut arena, &mut stack, &mut root, node);
    }
    let _ = started;
    let Some(root) = root else {
        return Ok(Spanned {
            val: GoVal::Null,
            pos: Pos { line: 1, col: 1 },
        });
    };
    let mut budget = MAX_NODES;
    build(&arena, root, &mut budget, 0)
}

/// libyaml (hence goyaml.v2) does not skip a tab where a block-context token may start: in
/// the indentation of a line, or right after a `-` or `?` indicator (after `:` it does). granit accepts those,
/// so they are checked here. Flow collections, quoted scalars and block-scalar bodies are
/// skipped; the check errs on the side of accepting.
fn check_tabs(text: &str) -> Result<(), String> {
    let tab_err = |ln: usize, col: usize| {
        Err(format!(
            "yaml: line {}, column {}: found character that cannot start any token",
            ln + 1,
            col + 1
        ))
    };
    let mut flow = 0i32;
    let mut block_body: Option<usize> = None;
    let mut in_quote: Option<u8> = None;
    for (ln, line) in text.split('\n').enumerate() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        let b = line.as_bytes();
        let indent = b.iter().take_while(|c| **c == b' ').count();
        if let Some(parent) = block_body {
            if line.trim_matches([' ', '\t']).is_empty() || indent > parent {
                continue;
            }
            block_body = None;
        }
        let mut i = 0;
        if in_quote.is_none() && flow == 0 {
            i = indent;
            // Indicators `-` / `?` followed by blanks, possibly repeated (`- - x`).
            loop {
                if b.get(i) == Some(&b'\t') {
                    return tab_err(ln, i);
                }
                match (b.get(i), b.get(i + 1)) {
                    (Some(b'-' | b'?'), None | Some(b' ' | b'\t')) => {
                        i += 1;
                        while b.get(i) == Some(&b' ') {
                            i += 1;
                        }
                    }
                    _ => break,
                }
            }
        }
        let mut value_start = true;
        while i < b.len() {
            let c = b[i];
            if let Some(q) = in_quote {
                if q == b'"' && c == b'\\' {
                    i += 2;
                    continue;
                }
                if c == q {
                    if q == b'\'' && b.get(i + 1) == Some(&b'\'') {
                        i += 2;
                        continue;
                    }
                    in_quote = None;
                }
                i += 1;
                continue;
            }
            match c {
                b'#' if i == 0 || matches!(b[i - 1], b' ' | b'\t') => break,
                b'"' | b'\'' => in_quote = Some(c),
                b'[' | b'{' => flow += 1,
                b']' | b'}' => flow -= 1,
                b'|' | b'>' if flow == 0 && value_start => {
                    block_body = Some(indent);
                    break;
                }
                b':' if flow == 0 && matches!(b.get(i + 1), None | Some(b' ' | b'\t')) => {
                    i += 1;
                    value_start = true;
                    continue;
                }
                b' ' => {
                    i += 1;
                    continue;
                }
                _ => {}
            }
            value_start = false;
            i += 1;
        }
    }
    Ok(())
}

fn push(
    arena: &mut Vec<Raw>,
    raw: Raw,
    anchor: usize,
    anchors: &mut std::collections::HashMap<usize, usize>,
) -> Result<usize, String> {
    if arena.len() >= MAX_NODES {
        return Err("yaml: document too large".into());
    }
    arena.push(raw);
    let idx = arena.len() - 1;
    if anchor != 0 {
        anchors.insert(anchor, idx);
    }
    Ok(idx)
}

fn attach(
    arena: &mut [Raw],
    stack: &mut [(usize, Option<usize>)],
    root: &mut Option<usize>,
    node: usize,
) {
    let Some((parent, pending)) = stack.last_mut() else {
        if root.is_none() {
            *root = Some(node);
        }
        return;
    };
    match &mut arena[*parent].kind {
        RawKind::Seq(items) => items.push(node),
        RawKind::Map(entries) => match pending.take() {
            None => *pending = Some(node),
            Some(k) => entries.push((k, node)),
        },
        RawKind::Scalar { .. } => {}
    }
}

fn build(arena: &[Raw], idx: usize, budget: &mut usize, depth: usize) -> Result<Spanned, String> {
    if *budget == 0 || depth > MAX_DEPTH {
        return Err("yaml: document too large (aliases)".into());
    }
    *budget -= 1;
    let raw = &arena[idx];
    let pos = raw.pos;
    let val = match &raw.kind {
        RawKind::Scalar { value, plain, tag } => {
            resolve_scalar(value, *plain, tag.as_deref(), pos)?
        }
        RawKind::Seq(items) => GoVal::Seq(
            items
                .iter()
                .map(|i| build(arena, *i, budget, depth + 1))
                .collect::<Result<_, _>>()?,
        ),
        RawKind::Map(entries) => {
            let mut out: Vec<(Spanned, Spanned)> = Vec::new();
            for (k, v) in entries {
                if let RawKind::Scalar {
                    value, plain: true, ..
                } = &arena[*k].kind
                    && value == "<<"
                {
                    merge_into(arena, *v, &mut out, budget, depth)?;
                    continue;
                }
                let key = build(arena, *k, budget, depth + 1)?;
                let val = build(arena, *v, budget, depth + 1)?;
                insert_strict(&mut out, key, val)?;
            }
            GoVal::Map(out)
        }
    };
    Ok(Spanned { val, pos })
}

/// `<<` merge keys (goyaml.v2 `merge`): a mapping, or a sequence of mappings applied last-first.
fn merge_into(
    arena: &[Raw],
    idx: usize,
    out: &mut Vec<(Spanned, Spanned)>,
    budget: &mut usize,
    depth: usize,
) -> Result<(), String> {
    let merged = build(arena, idx, budget, depth + 1)?;
    let maps: Vec<Spanned> = match merged.val {
        GoVal::Map(_) => vec![merged],
        GoVal::Seq(items) => items.into_iter().rev().collect(),
        _ => {
            return Err(format!(
                "yaml: map merge requires map or sequence of maps as the value at {}",
                merged.pos
            ));
        }
    };
    for m in maps {
        let GoVal::Map(entries) = m.val else {
            return Err(format!(
                "yaml: map merge requires map or sequence of maps as the value at {}",
                m.pos
            ));
        };
        for (k, v) in entries {
            insert_strict(out, k, v)?;
        }
    }
    Ok(())
}

/// Strict mode: a key already present in the map (by Go interface equality) is an error.
fn insert_strict(
    out: &mut Vec<(Spanned, Spanned)>,
    key: Spanned,
    val: Spanned,
) -> Result<(), String> {
    if matches!(key.val, GoVal::Seq(_) | GoVal::Map(_)) {
        return Err(format!("yaml: invalid map key at {}", key.pos));
    }
    if out.iter().any(|(k, _)| same_key(&k.val, &key.val)) {
        return Err(format!("yaml: {}: key already set in map", key.pos));
    }
    out.push((key, val));
    Ok(())
}

fn same_key(a: &GoVal, b: &GoVal) -> bool {
    match (a, b) {
        (GoVal::Null, GoVal::Null) => true,
        (GoVal::Bool(x), GoVal::Bool(y)) => x == y,
        (GoVal::Int(x), GoVal::Int(y)) => x == y,
        (GoVal::Uint(x), GoVal::Uint(y)) => x == y,
        (GoVal::Float(x), GoVal::Float(y)) => x == y,
        (GoVal::Str(x), GoVal::Str(y)) => x == y,
        _ => false,
    }
}

const TAG_PREFIX: &str = "tag:yaml.org,2002:";

fn resolve_scalar(value: &str, plain: bool, tag: Option<&str>, pos: Pos) -> Result<GoVal, String> {
    let short = tag.map(|t| match t.strip_prefix(TAG_PREFIX) {
        Some(s) => format!("!!{s}"),
        None => t.to_owned(),
    });
    match short.as_deref() {
        None if !plain => Ok(GoVal::Str(value.to_owned())),
        None => Ok(resolve_plain(value)),
        Some("!!str") => Ok(GoVal::Str(value.to_owned())),
        Some("!!binary") => base64_decode(value)
            .map(|b| GoVal::Str(String::from_utf8_lossy(&b).into_owned()))
            .ok_or_else(|| format!("yaml: {pos}: !!binary value contains invalid base64 data")),
        Some(t @ ("!!int" | "!!float" | "!!bool" | "!!null" | "!!timestamp")) => {
            let r = resolve_plain(value);
            let ok = matches!(
                (t, &r),
                ("!!int", GoVal::Int(_) | GoVal::Uint(_))
                    | ("!!float", GoVal::Float(_))
                    | ("!!bool", GoVal::Bool(_))
                    | ("!!null", GoVal::Null)
            );
            if ok {
                return Ok(r);
            }
            match (t, r) {
                ("!!float", GoVal::Int(i)) => Ok(GoVal::Float(i as f64)),
                ("!!float", GoVal::Uint(u)) => Ok(GoVal::Float(u as f64)),
                _ => Err(format!("yaml: {pos}: cannot decode {value:?} as a {t}")),
            }
        }
        // Tags goyaml cannot resolve keep the text.
        Some(_) => Ok(GoVal::Str(value.to_owned())),
    }
}

/// `base64.StdEncoding.DecodeString`: padded standard alphabet; CR and LF are ignored.
fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let chars: Vec<u8> = s.bytes().filter(|b| *b != b'\n' && *b != b'\r').collect();
    if !chars.len().is_multiple_of(4) {
        return None;
    }
    let val = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => u32::from(c - b'A'),
            b'a'..=b'z' => u32::from(c - b'a') + 26,
            b'0'..=b'9' => u32::from(c - b'0') + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        })
    };
    let mut out = Vec::with_capacity(chars.len() / 4 * 3);
    let n = chars.len() / 4;
    for (i, q) in chars.chunks(4).enumerate() {
        let pad = q.iter().rev().take_while(|c| **c == b'=').count();
        if pad > 2 || (pad > 0 && i + 1 != n) {
            return None;
        }
        let mut acc = 0u32;
        for c in &q[..4 - pad] {
            acc = (acc << 6) | val(*c)?;
        }
        acc <<= 6 * pad as u32;
        let bytes = [(acc >> 16) as u8, (acc >> 8) as u8, acc as u8];
        // Go rejects non-zero trailing bits in padded input (strict decoding is off, but the
        // padding itself must be well formed); keep the decoded bytes only.
        out.extend_from_slice(&bytes[..3 - pad]);
    }
    Some(out)
}

/// goyaml.v2 `resolve("", in)` for a plain scalar.
pub(crate) fn resolve_plain(s: &str) -> GoVal {
    match s {
        "y" | "Y" | "yes" | "Yes" | "YES" | "true" | "True" | "TRUE" | "on" | "On" | "ON" => {
            return GoVal::Bool(true);
        }
        "n" | "N" | "no" | "No" | "NO" | "false" | "False" | "FALSE" | "off" | "Off" | "OFF" => {
            return GoVal::Bool(false);
        }
        "" | "~" | "null" | "Null" | "NULL" => return GoVal::Null,
        ".nan" | ".NaN" | ".NAN" => return GoVal::Float(f64::NAN),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return GoVal::Float(f64::INFINITY);
        }
        "-.inf" | "-.Inf" | "-.INF" => return GoVal::Float(f64::NEG_INFINITY),
        _ => {}
    }
    let first = s.as_bytes()[0];
    match first {
        b'.' => match go_parse_float(s) {
            Some(f) => GoVal::Float(f),
            None => GoVal::Str(s.to_owned()),
        },
        b'+' | b'-' | b'0'..=b'9' => {
            if looks_like_timestamp(s) {
                return GoVal::Str(s.to_owned());
            }
            let plain: String = s.chars().filter(|c| *c != '_').collect();
            if let Some(i) = go_parse_int_base0(&plain) {
                return GoVal::Int(i);
            }
            if let Some(u) = go_parse_uint_base0(&plain) {
                return GoVal::Uint(u);
            }
            if yaml_style_float(&plain)
                && let Some(f) = go_parse_float(&plain)
            {
                return GoVal::Float(f);
            }
            GoVal::Str(s.to_owned())
        }
        _ => GoVal::Str(s.to_owned()),
    }
}

/// `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`
fn yaml_style_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    if matches!(b.first(), Some(b'+' | b'-')) {
        i += 1;
    }
    let digits = |i: &mut usize| {
        let st = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i - st
    };
    if b.get(i) == Some(&b'.') {
        i += 1;
        if digits(&mut i) == 0 {
            return false;
        }
    } else {
        if digits(&mut i) == 0 {
            return false;
        }
        if b.get(i) == Some(&b'.') {
            i += 1;
            digits(&mut i);
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

/// goyaml.v2 `parseTimestamp`: 4 digits then `-`, and one of its layouts parses. We accept the
/// shapes of those layouts (date, date+time); a near miss only changes int-vs-string for inputs
/// that are neither valid ints nor floats anyway.
fn looks_like_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() > 4 && b[..4].iter().all(u8::is_ascii_digit) && b[4] == b'-' && {
        let rest = &s[5..];
        let date_end = rest
            .char_indices()
            .find(|(_, c)| !(c.is_ascii_digit() || *c == '-'))
            .map(|(i, _)| i)
            .unwrap_or(rest.len());
        let parts: Vec<&str> = rest[..date_end].split('-').collect();
        parts.len() == 2
            && parts.iter().all(|p| (1..=2).contains(&p.len()))
            && parts[0].parse::<u32>().is_ok_and(|m| (1..=12).contains(&m))
            && parts[1].parse::<u32>().is_ok_and(|d| (1..=31).contains(&d))
            && (date_end == rest.len() || matches!(rest.as_bytes()[date_end], b'T' | b't' | b' '))
    }
}

/// `strconv.ParseInt(s, 0, 64)` (underscores already removed by the caller).
fn go_parse_int_base0(s: &str) -> Option<i64> {
    let (neg, body) = match s.as_bytes().first()? {
        b'+' => (false, &s[1..]),
        b'-' => (true, &s[1..]),
        _ => (false, s),
    };
    let u = parse_uint_prefixed(body)?;
    if neg {
        if u <= (i64::MAX as u64) + 1 {
            Some(
                (u as i128)
                    .checked_neg()
                    .and_then(|v| i64::try_from(v).ok())?,
            )
        } else {
            None
        }
    } else {
        i64::try_from(u).ok()
    }
}

/// `strconv.ParseUint(s, 0, 64)`.
fn go_parse_uint_base0(s: &str) -> Option<u64> {
    parse_uint_prefixed(s)
}

fn parse_uint_prefixed(s: &str) -> Option<u64> {
    let lower = s.to_ascii_lowercase();
    let (radix, digits) = if let Some(d) = lower.strip_prefix("0x") {
        (16, d)
    } else if let Some(d) = lower.strip_prefix("0b") {
        (2, d)
    } else if let Some(d) = lower.strip_prefix("0o") {
        (8, d)
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, &lower[1..])
    } else {
        (10, lower.as_str())
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    u64::from_str_radix(digits, radix).ok()
}

/// `strconv.ParseFloat(s, 64)` acceptance for decimal text, special values and hex floats.
/// `None` on a syntax error or an overflow (Go returns ErrRange).
pub(crate) fn go_parse_float(s: &str) -> Option<f64> {
    let (neg, body) = match s.as_bytes().first()? {
        b'+' => (false, &s[1..]),
        b'-' => (true, &s[1..]),
        _ => (false, s),
    };
    let lower = body.to_ascii_lowercase();
    if lower == "inf" || lower == "infinity" {
        return Some(if neg {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        });
    }
    if lower == "nan" {
        // Go accepts "nan" only without a sign.
        return (s.len() == 3).then_some(f64::NAN);
    }
    if let Some(hex) = lower.strip_prefix("0x") {
        return go_parse_hex_float(hex).map(|f| if neg { -f } else { f });
    }
    // Decimal: digits [. digits] [e [+-] digits], at least one mantissa digit. Underscores are
    // only allowed with a base prefix.
    let b = lower.as_bytes();
    let mut i = 0;
    let mut mant = 0;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
        mant += 1;
    }
    if i < b.len() && b[i] == b'.' {
        i += 1;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
            mant += 1;
        }
    }
    if mant == 0 {
        return None;
    }
    if i < b.len() && b[i] == b'e' {
        i += 1;
        if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            i += 1;
        }
        let st = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == st {
            return None;
        }
    }
    if i != b.len() {
        return None;
    }
    let f: f64 = lower.parse().ok()?;
    if f.is_infinite() {
        return None;
    }
    Some(if neg { -f } else { f })
}

fn go_parse_hex_float(h: &str) -> Option<f64> {
    // mantissa: hex digits with optional '.', underscores between digits; exponent 'p' mandatory.
    let (mant, exp) = h.split_once('p')?;
    let mant: String = mant.chars().filter(|c| *c != '_').collect();
    let (ip, fp) = mant.split_once('.').unwrap_or((&mant, ""));
    if ip.is_empty() && fp.is_empty() {
        return None;
    }
    if !ip.chars().chain(fp.chars()).all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    let exp: String = exp.chars().filter(|c| *c != '_').collect();
    let e: i64 = exp.strip_prefix('+').unwrap_or(&exp).parse().ok()?;
    let mut v = 0f64;
    for c in ip.chars().chain(fp.chars()) {
        v = v * 16.0 + f64::from(c.to_digit(16)?);
    }
    let e = e - 4 * fp.len() as i64;
    let f = v * 2f64.powi(e.clamp(-2000, 2000) as i32);
    f.is_finite().then_some(f)
}

/// `strconv.FormatFloat(f, 'g', -1, 32)`, as sigs.k8s.io/yaml renders a float for a string target.
pub(crate) fn go_format_float32_g(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    let x = f as f32;
    if x.is_infinite() {
        return if x > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    if x == 0.0 {
        return if x.is_sign_negative() { "-0" } else { "0" }.into();
    }
    let sci = format!("{:e}", x.abs());
    let (mant, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mant.chars().filter(|c| *c != '.').collect();
    let sign = if x < 0.0 { "-" } else { "" };
    let nd = digits.len() as i32;
    if !(-4..6).contains(&exp) {
        let mut m = digits[..1].to_owned();
        if nd > 1 {
            m.push('.');
            m.push_str(&digits[1..]);
        }
        let (es, ev) = if exp < 0 { ('-', -exp) } else { ('+', exp) };
        return format!("{sign}{m}e{es}{ev:02}");
    }
    let point = exp + 1;
    let body = if point <= 0 {
        format!("0.{}{}", "0".repeat((-point) as usize), digits)
    } else if point >= nd {
        format!("{}{}", digits, "0".repeat((point - nd) as usize))
    } else {
        let (a, b) = digits.split_at(point as usize);
        format!("{a}.{b}")
    };
    format!("{sign}{body}")
}

/// A map key as sigs.k8s.io/yaml turns it into a JSON object key.
pub(crate) fn key_string(k: &Spanned) -> Result<String, String> {
    match &k.val {
        GoVal::Str(s) => Ok(s.clone()),
        GoVal::Int(i) => Ok(i.to_string()),
        GoVal::Uint(u) => Ok(u.to_string()),
        GoVal::Float(f) => Ok(match go_format_float32_g(*f).as_str() {
            "+Inf" => ".inf".into(),
            "-Inf" => "-.inf".into(),
            "NaN" => ".nan".into(),
            s => s.to_owned(),
        }),
        GoVal::Bool(b) => Ok(b.to_string()),
        _ => Err(format!("unsupported map key at {}", k.pos)),
    }
}

/// `yaml.YAMLToJSON`: the JSON value of a YAML text (no target type).
pub(crate) fn yaml_to_json(text: &str) -> Result<Node, String> {
    let v = parse(text)?;
    to_json(&v, 0)
}

fn to_json(v: &Spanned, depth: usize) -> Result<Node, String> {
    if depth > MAX_DEPTH {
        return Err("too deep".into());
    }
    Ok(match &v.val {
        GoVal::Null => Node::Null,
        GoVal::Bool(b) => Node::Bool(*b),
        GoVal::Int(i) => Node::Number(i.to_string()),
        GoVal::Uint(u) => Node::Number(u.to_string()),
        GoVal::Float(f) => {
            if !f.is_finite() {
                return Err(format!("json: unsupported value: {f} at {}", v.pos));
            }
            Node::Number(gojson::go_float(*f))
        }
        GoVal::Str(s) => Node::String(s.clone()),
        GoVal::Seq(items) => Node::Array(
            items
                .iter()
                .map(|i| to_json(i, depth + 1))
                .collect::<Result<_, _>>()?,
        ),
        GoVal::Map(entries) => {
            let mut out: Vec<(String, Node)> = Vec::new();
            for (k, val) in entries {
                let ks = key_string(k)?;
                let jv = to_json(val, depth + 1)?;
                match out.iter_mut().find(|(ek, _)| *ek == ks) {
                    Some(slot) => slot.1 = jv,
                    None => out.push((ks, jv)),
                }
            }
            Node::Object(out)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(s: &str) -> String {
        format!("{:?}", resolve_plain(s))
    }

    // Expectations derived from goyaml.v2 resolve.go and strconv semantics.
    #[test]
    fn yaml11_scalars() {
        assert_eq!(plain("yes"), "Bool(true)");
        assert_eq!(plain("Off"), "Bool(false)");
        assert_eq!(plain("010"), "Int(8)");
        assert_eq!(plain("08"), "Float(8.0)");
        assert_eq!(plain("0x1F"), "Int(31)");
        assert_eq!(plain("1_000"), "Int(1000)");
        assert_eq!(plain("1e400"), "Str(\"1e400\")");
        assert_eq!(plain("2001-12-14"), "Str(\"2001-12-14\")");
        assert_eq!(plain(".5"), "Float(0.5)");
        assert_eq!(plain("-"), "Str(\"-\")");
        assert_eq!(plain("YES!"), "Str(\"YES!\")");
    }

    #[test]
    fn float32_g_format() {
        assert_eq!(go_format_float32_g(1.5), "1.5");
        assert_eq!(go_format_float32_g(1000.0), "1000");
        assert_eq!(go_format_float32_g(1e6), "1e+06");
        assert_eq!(go_format_float32_g(123456.0), "123456");
        assert_eq!(go_format_float32_g(0.0001), "0.0001");
        assert_eq!(go_format_float32_g(0.00001), "1e-05");
        assert_eq!(go_format_float32_g(1.2345678901), "1.2345679");
        assert_eq!(go_format_float32_g(0.1), "0.1");
    }

    #[test]
    fn duplicate_keys_are_errors() {
        assert!(parse("a: 1\na: 2\n").is_err());
        assert!(parse("yes: 1\ntrue: 2\n").is_err());
        assert!(parse("1: a\n\"1\": b\n").is_ok());
    }

    #[test]
    fn yaml_to_json_numbers() {
        let n = yaml_to_json("a: 1.0\nb: 010\nc: [x, ~]\n").unwrap();
        let mut s = String::new();
        gojson::to_text(&n, &mut s);
        assert_eq!(s, r#"{"a":1,"b":8,"c":["x",null]}"#);
    }
}
