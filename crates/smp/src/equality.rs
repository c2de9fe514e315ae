//! Semantic equality as `apiequality.Semantic.DeepEqual` judges the *typed* objects, computed on
//! JSON with the schema: what decoding into the Go struct would make equal is equal here.
//!
//! - absent ≡ `null` everywhere; for a non-pointer field both also equal the zero value (`""`,
//!   `false`, `0`, empty struct), for a pointer field they differ from any present value;
//! - nil ≡ empty for lists and maps;
//! - `resource.Quantity` by value (`1000m` = `1`), `metav1.Time` by instant;
//! - keys the Go type does not have are ignored (decoding drops them).
//!
//! Inputs Go cannot decode (an unparseable quantity, `30.0` for an int field) make Go's comparison
//! fail; here they compare by their JSON text. Field names match exactly (the apiserver's decoder is
//! case-sensitive; plain `encoding/json` would also accept other cases).

use serde_json::{Map, Value};

use crate::gojson::deep_eq;
use crate::gotype::Ty;
use crate::quantity::Quantity;
use crate::schema::{Root, type_def};

/// The label the Deployment controller ignores when it compares templates.
pub const POD_TEMPLATE_HASH_LABEL: &str = "pod-template-hash";

/// `Semantic.DeepEqual` of `a` and `b` decoded as the Go type `root`.
pub fn semantically_equal(a: &Value, b: &Value, root: Root) -> bool {
    eq(Some(a), Some(b), root.ty(), false)
}

/// The Deployment controller's `EqualIgnoreHash`: pod templates (`spec.template`) compared as typed
/// `PodTemplateSpec`s with the `pod-template-hash` label removed from both.
pub fn pod_templates_semantically_equal(a: &Value, b: &Value) -> bool {
    // Only `metadata` differs from a plain comparison: its (small) copies lose the label, the
    // rest of the templates is compared where it lies.
    let without_hash = |metadata: Option<&Value>| {
        let mut metadata = metadata.cloned();
        if let Some(labels) = metadata
            .as_mut()
            .and_then(|m| m.get_mut("labels"))
            .and_then(Value::as_object_mut)
        {
            labels.remove(POD_TEMPLATE_HASH_LABEL);
        }
        metadata
    };
    let (Value::Object(am), Value::Object(bm)) = (a, b) else {
        return semantically_equal(a, b, Root::POD_TEMPLATE_SPEC);
    };
    Root::POD_TEMPLATE_SPEC.fields().iter().all(|f| {
        if f.name == "metadata" {
            let (x, y) = (without_hash(am.get(f.name)), without_hash(bm.get(f.name)));
            eq(x.as_ref(), y.as_ref(), f.ty, f.pointer)
        } else {
            eq(am.get(f.name), bm.get(f.name), f.ty, f.pointer)
        }
    })
}

fn present(v: Option<&Value>) -> Option<&Value> {
    v.filter(|v| !v.is_null())
}

fn eq(a: Option<&Value>, b: Option<&Value>, ty: Ty, pointer: bool) -> bool {
    let (a, b) = (present(a), present(b));
    if pointer {
        match (a, b) {
            (None, None) => return true,
            (None, Some(_)) | (Some(_), None) => return false,
            _ => {}
        }
    }
    match ty {
        Ty::Bool => scalar(a, b, &Value::Bool(false)),
        Ty::Int | Ty::Float => scalar(a, b, &Value::from(0)),
        Ty::String | Ty::Bytes | Ty::Duration => scalar(a, b, &Value::String(String::new())),
        Ty::Any => match (a, b) {
            (Some(x), Some(y)) => deep_eq(x, y),
            (None, None) => true,
            _ => false,
        },
        Ty::Quantity => quantity_eq(a, b),
        Ty::Time => time_eq(a, b),
        Ty::IntOrString => int_or_string(a) == int_or_string(b),
        Ty::Struct(idx) => {
            let empty = Map::new();
            let (Some(am), Some(bm)) = (
                a.map_or(Some(&empty), Value::as_object),
                b.map_or(Some(&empty), Value::as_object),
            ) else {
                return a.zip(b).is_some_and(|(x, y)| deep_eq(x, y));
            };
            type_def(idx)
                .fields
                .iter()
                .all(|f| eq(am.get(f.name), bm.get(f.name), f.ty, f.pointer))
        }
        Ty::Slice(elem) => {
            let empty = Vec::new();
            let (Some(al), Some(bl)) = (
                a.map_or(Some(&empty), Value::as_array),
                b.map_or(Some(&empty), Value::as_array),
            ) else {
                return a.zip(b).is_some_and(|(x, y)| deep_eq(x, y));
            };
            al.len() == bl.len()
                && al
                    .iter()
                    .zip(bl)
                    .all(|(x, y)| eq(Some(x), Some(y), *elem, false))
        }
        Ty::Map(elem) => {
            let empty = Map::new();
            let (Some(am), Some(bm)) = (
                a.map_or(Some(&empty), Value::as_object),
                b.map_or(Some(&empty), Value::as_object),
            ) else {
                return a.zip(b).is_some_and(|(x, y)| deep_eq(x, y));
            };
            am.len() == bm.len()
                && am.iter().all(|(k, x)| {
                    bm.get(k)
                        .is_some_and(|y| eq(Some(x), Some(y), *elem, false))
                })
        }
    }
}

/// Typed scalars: numbers by value (both decode into the same Go number type), others exactly.
fn scalar(a: Option<&Value>, b: Option<&Value>, zero: &Value) -> bool {
    match (a.unwrap_or(zero), b.unwrap_or(zero)) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (x, y) => x == y,
    }
}

fn quantity_of(v: Option<&Value>) -> Option<Quantity> {
    match v {
        None => "0".parse().ok(),
        Some(Value::String(s)) => s.parse().ok(),
        Some(Value::Number(n)) => n.to_string().parse().ok(),
        Some(_) => None,
    }
}

fn quantity_eq(a: Option<&Value>, b: Option<&Value>) -> bool {
    match (quantity_of(a), quantity_of(b)) {
        (Some(x), Some(y)) => x == y,
        // Unparseable quantities fail decoding in Go; compare the text so equal inputs stay equal.
        _ => a.zip(b).is_some_and(|(x, y)| deep_eq(x, y)),
    }
}

#[derive(PartialEq)]
enum IntOrString<'a> {
    Int(f64),
    Str(&'a str),
    Other(&'a Value),
}

fn int_or_string(v: Option<&Value>) -> IntOrString<'_> {
    match v {
        None => IntOrString::Int(0.0),
        Some(Value::Number(n)) => IntOrString::Int(n.as_f64().unwrap_or(f64::NAN)),
        Some(Value::String(s)) => IntOrString::Str(s),
        Some(other) => IntOrString::Other(other),
    }
}

fn time_eq(a: Option<&Value>, b: Option<&Value>) -> bool {
    let instant = |v: Option<&Value>| match v {
        None => Some((i64::MIN, 0)),
        Some(Value::String(s)) => parse_rfc3339(s),
        Some(_) => None,
    };
    match (instant(a), instant(b)) {
        (Some(x), Some(y)) => x == y,
        _ => a.zip(b).is_some_and(|(x, y)| deep_eq(x, y)),
    }
}

/// RFC 3339 → (seconds since the epoch, nanoseconds). Enough for `metav1.Time` (`time.RFC3339`).
fn parse_rfc3339(s: &str) -> Option<(i64, u32)> {
    let b = s.as_bytes();
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> { s.get(r)?.parse().ok() };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let mut pos = 19;
    let mut nanos: u32 = 0;
    if b.get(pos) == Some(&b'.') {
        pos += 1;
        let start = pos;
        while pos < b.len() && b[pos].is_ascii_digit() {
            pos += 1;
        }
        let frac = &s[start..pos];
        if frac.is_empty() || frac.len() > 9 {
            return None;
        }
        nanos = format!("{frac:0<9}").parse().ok()?;
    }
    let offset = match &s[pos..] {
        "Z" | "z" => 0,
        tz if tz.len() == 6 && (tz.starts_with('+') || tz.starts_with('-')) && &tz[3..4] == ":" => {
            let oh: i64 = tz[1..3].parse().ok()?;
            let om: i64 = tz[4..6].parse().ok()?;
            let o = oh * 3600 + om * 60;
            if tz.starts_with('-') { -o } else { o }
        }
        _ => return None,
    };
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 59 {
        return None;
    }
    // Days from civil (proleptic Gregorian), Howard Hinnant's algorithm.
    let (yy, m) = if mo <= 2 {
        (y - 1, mo + 9)
    } else {
        (y, mo - 3)
    };
    let era = yy.div_euclid(400);
    let yoe = yy - era * 400;
    let doy = (153 * m + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some((days * 86_400 + h * 3600 + mi * 60 + sec - offset, nanos))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn hash_label_and_empty_collections_ignored() {
        let a = json!({"metadata": {"labels": {"app": "x", "pod-template-hash": "abc"}},
                       "spec": {"containers": [{"name": "c", "image": "i", "env": []}]}});
        let b = json!({"metadata": {"labels": {"app": "x"}, "annotations": {}},
                       "spec": {"containers": [{"name": "c", "image": "i"}], "volumes": null}});
        assert!(pod_templates_semantically_equal(&a, &b));
    }

    #[test]
    fn pointer_zero_differs_from_absent_but_value_zero_does_not() {
        let a = json!({"spec": {"containers": []}});
        // terminationGracePeriodSeconds is *int64; hostNetwork is bool.
        let b = json!({"spec": {"terminationGracePeriodSeconds": 0}});
        let c = json!({"spec": {"hostNetwork": false, "dnsPolicy": ""}});
        assert!(!pod_templates_semantically_equal(&a, &b));
        assert!(pod_templates_semantically_equal(&a, &c));
    }

    #[test]
    fn quantities_by_value() {
        let r = |cpu: &str, mem: &str| {
            json!({"spec": {"containers": [{"name": "c",
                "resources": {"limits": {"cpu": cpu, "memory": mem}}}]}})
        };
        assert!(pod_templates_semantically_equal(
            &r("1000m", "1Gi"),
            &r("1", "1024Mi")
        ));
        assert!(!pod_templates_semantically_equal(
            &r("1001m", "1Gi"),
            &r("1", "1024Mi")
        ));
    }

    #[test]
    fn times_by_instant() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some((0, 0)));
        assert_eq!(
            parse_rfc3339("2024-03-01T01:00:00+01:00"),
            parse_rfc3339("2024-03-01T00:00:00Z")
        );
    }
}
