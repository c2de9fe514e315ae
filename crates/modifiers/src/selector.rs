//! `metav1.LabelSelector` → `labels.Selector` (`LabelSelectorAsSelector`) and matching.

use std::collections::BTreeMap;

/// One `matchExpressions` entry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabelSelectorRequirement {
    /// Label key.
    pub key: String,
    /// `In`, `NotIn`, `Exists` or `DoesNotExist` (case-sensitive).
    pub operator: String,
    /// Values for `In` / `NotIn`.
    pub values: Vec<String>,
}

/// `metav1.LabelSelector`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabelSelector {
    /// `matchLabels`.
    pub match_labels: BTreeMap<String, String>,
    /// `matchExpressions`.
    pub match_expressions: Vec<LabelSelectorRequirement>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Equals,
    In,
    NotIn,
    Exists,
    DoesNotExist,
}

#[derive(Debug, Clone)]
struct Requirement {
    key: String,
    op: Op,
    values: Vec<String>,
}

/// A validated selector.
#[derive(Debug, Clone)]
pub struct Selector {
    reqs: Vec<Requirement>,
}

impl LabelSelector {
    /// `metav1.LabelSelectorAsSelector`: validates keys, values and operators.
    pub fn to_selector(&self) -> Result<Selector, String> {
        let mut reqs = Vec::new();
        for (k, v) in &self.match_labels {
            reqs.push(requirement(k, Op::Equals, std::slice::from_ref(v))?);
        }
        for e in &self.match_expressions {
            let op = match e.operator.as_str() {
                "In" => Op::In,
                "NotIn" => Op::NotIn,
                "Exists" => Op::Exists,
                "DoesNotExist" => Op::DoesNotExist,
                other => return Err(format!("{other:?} is not a valid label selector operator")),
            };
            reqs.push(requirement(&e.key, op, &e.values)?);
        }
        Ok(Selector { reqs })
    }
}

fn requirement(key: &str, op: Op, values: &[String]) -> Result<Requirement, String> {
    let mut errs = Vec::new();
    if let Err(e) = qualified_name(key) {
        errs.push(format!("key: {e}"));
    }
    match op {
        Op::In | Op::NotIn if values.is_empty() => {
            errs.push("for 'in', 'notin' operators, values set can't be empty".into());
        }
        Op::Equals if values.len() != 1 => {
            errs.push("exact-match compatibility requires one single value".into())
        }
        Op::Exists | Op::DoesNotExist if !values.is_empty() => {
            errs.push("values set must be empty for exists and does not exist".into());
        }
        _ => {}
    }
    for v in values {
        if !label_value(v) {
            errs.push(format!("invalid label value {v:?}"));
        }
    }
    if errs.is_empty() {
        Ok(Requirement {
            key: key.to_owned(),
            op,
            values: values.to_vec(),
        })
    } else {
        Err(errs.join("; "))
    }
}

fn is_alnum(c: u8) -> bool {
    c.is_ascii_alphanumeric()
}

/// `([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]`
fn name_part(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && is_alnum(b[0])
        && is_alnum(b[b.len() - 1])
        && b.iter()
            .all(|c| is_alnum(*c) || matches!(c, b'-' | b'_' | b'.'))
}

/// DNS-1123 subdomain.
fn dns_subdomain(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|l| {
            let b = l.as_bytes();
            !b.is_empty()
                && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
                && (b[b.len() - 1].is_ascii_lowercase() || b[b.len() - 1].is_ascii_digit())
                && b.iter()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        })
}

/// `validation.IsQualifiedName`.
fn qualified_name(k: &str) -> Result<(), String> {
    let parts: Vec<&str> = k.split('/').collect();
    let name = match parts.as_slice() {
        [n] => *n,
        [p, n] => {
            if p.is_empty() || !dns_subdomain(p) {
                return Err(format!("invalid prefix in {k:?}"));
            }
            *n
        }
        _ => return Err(format!("{k:?}: a qualified name has at most one '/'")),
    };
    if name_part(name) {
        Ok(())
    } else {
        Err(format!("{k:?}: invalid name part"))
    }
}

/// `validation.IsValidLabelValue`.
fn label_value(v: &str) -> bool {
    v.is_empty() || name_part(v)
}

impl Selector {
    /// `Selector.Matches(labels.Set(labels))`.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.matches_with(|key| labels.get(key).map(String::as_str))
    }

    /// [`Self::matches`] on an object's labels as `unstructured.GetLabels` reads them (a map of
    /// strings, or no labels at all when any value is not a string), read where they lie.
    pub(crate) fn matches_labels_of(&self, obj: &serde_json::Value) -> bool {
        let labels = obj
            .get("metadata")
            .and_then(|m| m.get("labels"))
            .and_then(serde_json::Value::as_object)
            .filter(|m| m.values().all(serde_json::Value::is_string));
        self.matches_with(|key| labels?.get(key)?.as_str())
    }

    fn matches_with<'a>(&self, label: impl Fn(&str) -> Option<&'a str>) -> bool {
        self.reqs.iter().all(|r| {
            let got = label(&r.key);
            let listed = |v: &str| r.values.iter().any(|x| x == v);
            match r.op {
                Op::Equals | Op::In => got.is_some_and(listed),
                Op::NotIn => got.is_none_or(|v| !listed(v)),
                Op::Exists => got.is_some(),
                Op::DoesNotExist => got.is_none(),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(kv: &[(&str, &str)]) -> BTreeMap<String, String> {
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    // metav1 semantics: NotIn matches a missing key; In needs the key.
    #[test]
    fn operators() {
        let sel = LabelSelector {
            match_labels: labels(&[("app", "web")]).into_iter().collect(),
            match_expressions: vec![LabelSelectorRequirement {
                key: "tier".into(),
                operator: "NotIn".into(),
                values: vec!["db".into()],
            }],
        }
        .to_selector()
        .unwrap();
        assert!(sel.matches(&labels(&[("app", "web")])));
        assert!(!sel.matches(&labels(&[("app", "web"), ("tier", "db")])));
        assert!(!sel.matches(&labels(&[])));
    }

    #[test]
    fn validation() {
        let bad = |k: &str, op: &str, v: &[&str]| {
            LabelSelector {
                match_labels: BTreeMap::new(),
                match_expressions: vec![LabelSelectorRequirement {
                    key: k.into(),
                    operator: op.into(),
                    values: v.iter().map(|s| s.to_string()).collect(),
                }],
            }
            .to_selector()
            .is_err()
        };
        assert!(bad("a", "in", &["x"]));
        assert!(bad("a", "In", &[]));
        assert!(bad("a", "Exists", &["x"]));
        assert!(bad("-a", "Exists", &[]));
        assert!(bad("Example.com/a", "Exists", &[]));
        assert!(!bad("example.com/a", "Exists", &[]));
        assert!(bad("a", "In", &["bad value"]));
    }
}
