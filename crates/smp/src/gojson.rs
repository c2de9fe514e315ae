//! Go's view of decoded JSON (`interface{}` trees from `encoding/json`): every number is a float64,
//! `==` on interface values, `reflect.DeepEqual`, and `fmt.Sprintf("%v")` used for sorting.
//! apimachinery's strategic-merge code is built on these, so the port must see values the same way.

use serde_json::Value;
use std::cmp::Ordering;

use crate::error::{Error, Result};

/// Go dynamic type of a decoded JSON value (`reflect.TypeOf`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GoKind {
    Nil,
    Bool,
    Float,
    String,
    Map,
    Slice,
}

pub(crate) fn kind(v: &Value) -> GoKind {
    match v {
        Value::Null => GoKind::Nil,
        Value::Bool(_) => GoKind::Bool,
        Value::Number(_) => GoKind::Float,
        Value::String(_) => GoKind::String,
        Value::Object(_) => GoKind::Map,
        Value::Array(_) => GoKind::Slice,
    }
}

fn f64_of(n: &serde_json::Number) -> f64 {
    n.as_f64().unwrap_or(f64::NAN)
}

/// Go `a == b` on two `interface{}` values. Comparing two maps or two slices panics in Go; that is
/// reported as an error here.
pub(crate) fn go_eq(a: &Value, b: &Value, path: &str) -> Result<bool> {
    Ok(match (a, b) {
        (Value::Null, Value::Null) => true,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::Number(x), Value::Number(y)) => f64_of(x) == f64_of(y),
        (Value::String(x), Value::String(y)) => x == y,
        (Value::Object(_), Value::Object(_)) | (Value::Array(_), Value::Array(_)) => {
            return Err(Error::Invalid {
                path: path.to_owned(),
                reason: "comparing uncomparable values (maps or lists) as merge keys".into(),
            });
        }
        _ => false,
    })
}

/// `reflect.DeepEqual` on decoded JSON: structural, numbers as float64.
pub(crate) fn deep_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => f64_of(x) == f64_of(y),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| deep_eq(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| deep_eq(v, w)))
        }
        _ => a == b,
    }
}

/// `fmt.Sprintf("%v", v)` for scalars (the only values apimachinery formats this way in practice).
pub(crate) fn fmt_v(v: &Value) -> String {
    match v {
        Value::Null => "<nil>".into(),
        Value::Bool(b) => b.to_string(),
        Value::String(s) => s.clone(),
        Value::Number(n) => fmt_float(f64_of(n)),
        Value::Array(a) => format!("[{}]", a.iter().map(fmt_v).collect::<Vec<_>>().join(" ")),
        Value::Object(m) => {
            let mut keys: Vec<_> = m.keys().collect();
            keys.sort();
            let parts: Vec<_> = keys
                .iter()
                .map(|k| format!("{k}:{}", fmt_v(&m[*k])))
                .collect();
            format!("map[{}]", parts.join(" "))
        }
    }
}

/// Go `%v` of a float64: shortest digits, `%e` style when the decimal exponent is < -4 or >= 6.
fn fmt_float(f: f64) -> String {
    if f == 0.0 {
        return if f.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    if f.is_infinite() {
        return if f > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    // Rust's `{:e}` gives the shortest round-trip digits, like Go's strconv with precision -1.
    let sci = format!("{f:e}");
    let (mant, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let neg = mant.starts_with('-');
    let digits: String = mant.chars().filter(char::is_ascii_digit).collect();
    let sign = if neg { "-" } else { "" };
    // %v is %g with the shortest precision; Go then switches to the exponent form when
    // exp < -4 || exp >= 6.
    if !(-4..6).contains(&exp) {
        let mut m = digits[..1].to_string();
        if digits.len() > 1 {
            m.push('.');
            m.push_str(&digits[1..]);
        }
        let es = if exp < 0 { '-' } else { '+' };
        return format!("{sign}{m}e{es}{:02}", exp.abs());
    }
    let point = exp + 1; // digits before the decimal point
    if point <= 0 {
        format!(
            "{sign}0.{}{digits}",
            "0".repeat(point.unsigned_abs() as usize)
        )
    } else if (point as usize) >= digits.len() {
        format!(
            "{sign}{digits}{}",
            "0".repeat(point as usize - digits.len())
        )
    } else {
        let (a, b) = digits.split_at(point as usize);
        format!("{sign}{a}.{b}")
    }
}

/// Go's `sort.StringsAreSorted([]string{a, b})` as an ordering (non-strict less: a <= b).
pub(crate) fn cmp_v(a: &Value, b: &Value) -> Ordering {
    fmt_v(a).cmp(&fmt_v(b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn formats_like_go_percent_v() {
        // Expected strings from Go's fmt documentation/behaviour for %v of float64.
        assert_eq!(fmt_v(&json!(80)), "80");
        assert_eq!(fmt_v(&json!(0.5)), "0.5");
        assert_eq!(fmt_v(&json!(1e21)), "1e+21");
        assert_eq!(fmt_v(&json!(123456789.0)), "1.23456789e+08");
        assert_eq!(fmt_v(&json!(0.0001)), "0.0001");
        assert_eq!(fmt_v(&json!(0.00001)), "1e-05");
        assert_eq!(fmt_v(&json!(123456)), "123456");
        assert_eq!(fmt_v(&json!(1e6)), "1e+06");
        assert_eq!(fmt_v(&json!(1.5e7)), "1.5e+07");
        assert_eq!(fmt_v(&json!(-2.5)), "-2.5");
        assert_eq!(fmt_v(&json!(null)), "<nil>");
        assert_eq!(fmt_v(&json!(true)), "true");
    }
}
