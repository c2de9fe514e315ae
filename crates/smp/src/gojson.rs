//! Go's view of decoded JSON (`interface{}` trees from apimachinery's `util/json`, which keeps an
//! integral literal as int64 and every other number as float64): `==` on interface values,
//! `reflect.DeepEqual`, and `fmt.Sprintf("%v")` used for sorting.
//! apimachinery's strategic-merge code is built on these, so the port must see values the same way.

use serde_json::Value;

use crate::error::{Error, Result};

/// Go dynamic type of a decoded JSON value (`reflect.TypeOf`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GoKind {
    Nil,
    Bool,
    Int,
    Float,
    String,
    Map,
    Slice,
}

/// A JSON number as Go holds it after decoding.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum GoNum {
    Int(i64),
    Float(f64),
}

/// `util/json.convertNumber`: `strconv.ParseInt` of the literal, else float64.
pub(crate) fn go_num(n: &serde_json::Number) -> GoNum {
    match n.as_i64() {
        Some(i) => GoNum::Int(i),
        None => GoNum::Float(n.as_f64().unwrap_or(f64::NAN)),
    }
}

pub(crate) fn kind(v: &Value) -> GoKind {
    match v {
        Value::Null => GoKind::Nil,
        Value::Bool(_) => GoKind::Bool,
        Value::Number(n) => match go_num(n) {
            GoNum::Int(_) => GoKind::Int,
            GoNum::Float(_) => GoKind::Float,
        },
        Value::String(_) => GoKind::String,
        Value::Object(_) => GoKind::Map,
        Value::Array(_) => GoKind::Slice,
    }
}

/// Go `a == b` on two `interface{}` values. Comparing two maps or two slices panics in Go; that is
/// reported as an error here.
pub(crate) fn go_eq(a: &Value, b: &Value, path: &str) -> Result<bool> {
    Ok(match (a, b) {
        (Value::Null, Value::Null) => true,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::Number(x), Value::Number(y)) => go_num(x) == go_num(y),
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

/// `reflect.DeepEqual` on decoded JSON: structural; an int64 never equals a float64.
pub(crate) fn deep_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => go_num(x) == go_num(y),
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
        Value::Number(n) => match go_num(n) {
            GoNum::Int(i) => i.to_string(),
            GoNum::Float(f) => fmt_float(f),
        },
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

/// Go's `sort.Sort` with apimachinery's non-strict `Less` (`a <= b` on the `%v` strings), on
/// members paired with their keys (each key computed once). For up to 12 elements pdqsort is an
/// insertion sort, which moves each element before the equal ones ahead of it; that is replayed
/// exactly. Longer lists are sorted stably (identical unless keys repeat, which valid objects do
/// not).
pub(crate) fn go_sort_keyed<T>(v: &mut [(String, T)]) {
    if v.len() > 12 {
        v.sort_by(|a, b| a.0.cmp(&b.0));
        return;
    }
    for i in 1..v.len() {
        let mut j = i;
        while j > 0 && v[j].0 <= v[j - 1].0 {
            v.swap(j, j - 1);
            j -= 1;
        }
    }
}

/// `list` sorted as [`go_sort_keyed`] sorts it, by `key`, without copying its members.
pub(crate) fn go_sorted_by_key(
    list: &[Value],
    key: impl Fn(&Value) -> String,
) -> Vec<(String, &Value)> {
    let mut keyed: Vec<(String, &Value)> = list.iter().map(|v| (key(v), v)).collect();
    go_sort_keyed(&mut keyed);
    keyed
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn formats_like_go_percent_v() {
        // Expected strings from Go's fmt documentation/behaviour for %v of float64.
        assert_eq!(fmt_v(&json!(80)), "80");
        assert_eq!(fmt_v(&json!(1000000)), "1000000");
        assert_eq!(fmt_v(&json!(1000000.0)), "1e+06");
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
