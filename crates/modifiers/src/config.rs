//! The rule document: decoding as `yaml.UnmarshalStrict` into Velero's v1 types does it
//! (YAML→JSON with string coercion for string fields, then `encoding/json` with
//! `DisallowUnknownFields` and case-insensitive field names), and Velero's `Validate()`.

use std::collections::BTreeMap;

use crate::selector::{LabelSelector, LabelSelectorRequirement};
use crate::yaml::{self, GoVal, Pos, Spanned};

/// One JSON-patch operation as written in the rules (all fields are strings).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JsonPatchOp {
    /// `operation` (validated case-insensitively, applied case-sensitively).
    pub operation: String,
    /// `from` (move/copy).
    pub from: String,
    /// `path`.
    pub path: String,
    /// `value`, converted by Velero's quoting heuristic when applied.
    pub value: String,
}

/// One `conditions.matches` entry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MatchRule {
    /// JSON pointer.
    pub path: String,
    /// Value, converted like a patch value.
    pub value: String,
}

/// `conditions`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Conditions {
    /// Namespace globs (original namespace); empty = all.
    pub namespaces: Vec<String>,
    /// `groupResource` glob, `.` is the separator.
    pub group_resource: String,
    /// Go RE2 pattern, unanchored, on `metadata.name`.
    pub resource_name_regex: String,
    /// `labelSelector`.
    pub label_selector: Option<LabelSelector>,
    /// JSON-pointer tests.
    pub matches: Vec<MatchRule>,
}

/// One rule.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rule {
    /// Conditions.
    pub conditions: Conditions,
    /// RFC 6902 operations.
    pub patches: Vec<JsonPatchOp>,
    /// RFC 7386 merge patches (`patchData`, YAML or JSON).
    pub merge_patches: Vec<String>,
    /// Strategic merge patches (`patchData`, YAML or JSON).
    pub strategic_patches: Vec<String>,
}

/// The decoded document.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Document {
    /// `version`.
    pub version: String,
    /// `resourceModifierRules`.
    pub rules: Vec<Rule>,
}

/// Problems found while decoding; every problem is collected.
#[derive(Default)]
pub(crate) struct Problems(pub(crate) Vec<String>);

impl Problems {
    fn at(&mut self, pos: Pos, msg: impl std::fmt::Display) {
        self.0.push(format!("{pos}: {msg}"));
    }
}

fn type_name(v: &GoVal) -> &'static str {
    match v {
        GoVal::Null => "null",
        GoVal::Bool(_) => "bool",
        GoVal::Int(_) | GoVal::Uint(_) | GoVal::Float(_) => "number",
        GoVal::Str(_) => "string",
        GoVal::Seq(_) => "array",
        GoVal::Map(_) => "object",
    }
}

/// A string field: YAML scalars are coerced to their string form; null leaves the field as is.
fn decode_string(v: &Spanned, out: &mut String, what: &str, p: &mut Problems) {
    match &v.val {
        GoVal::Null => {}
        GoVal::Str(s) => *out = s.clone(),
        GoVal::Int(i) => *out = i.to_string(),
        GoVal::Uint(u) => *out = u.to_string(),
        GoVal::Float(f) => *out = yaml::go_format_float32_g(*f),
        GoVal::Bool(b) => *out = b.to_string(),
        other => p.at(
            v.pos,
            format!(
                "{what}: cannot unmarshal {} into a string",
                type_name(other)
            ),
        ),
    }
}

fn decode_string_list(v: &Spanned, out: &mut Vec<String>, what: &str, p: &mut Problems) {
    match &v.val {
        GoVal::Null => out.clear(),
        GoVal::Seq(items) => {
            out.clear();
            for it in items {
                let mut s = String::new();
                decode_string(it, &mut s, what, p);
                out.push(s);
            }
        }
        other => p.at(
            v.pos,
            format!("{what}: cannot unmarshal {} into a list", type_name(other)),
        ),
    }
}

/// Object fields with Go's key stringification, in the order Go's `json.Marshal` emits them
/// (sorted), so a later case-variant of a field overrides an earlier one as in Go.
fn fields<'a>(v: &'a Spanned, what: &str, p: &mut Problems) -> Option<Vec<(String, &'a Spanned)>> {
    match &v.val {
        GoVal::Null => None,
        GoVal::Map(entries) => {
            let mut out = Vec::new();
            for (k, val) in entries {
                match yaml::key_string(k) {
                    Ok(ks) => out.push((ks, val)),
                    Err(e) => p.at(k.pos, e),
                }
            }
            out.sort_by(|a, b| a.0.cmp(&b.0));
            Some(out)
        }
        other => {
            p.at(
                v.pos,
                format!(
                    "{what}: cannot unmarshal {} into an object",
                    type_name(other)
                ),
            );
            None
        }
    }
}

/// Match a JSON key to one of `names` like encoding/json: exact, else ASCII case-insensitive.
fn field_index(key: &str, names: &[&str]) -> Option<usize> {
    names
        .iter()
        .position(|n| *n == key)
        .or_else(|| names.iter().position(|n| n.eq_ignore_ascii_case(key)))
}

fn unknown(p: &mut Problems, v: &Spanned, key: &str, what: &str) {
    p.at(v.pos, format!("{what}: unknown field {key:?}"));
}

pub(crate) fn decode_document(root: &Spanned, p: &mut Problems) -> Document {
    let mut d = Document::default();
    let Some(fs) = fields(root, "document", p) else {
        return d;
    };
    for (k, v) in fs {
        match field_index(&k, &["version", "resourceModifierRules"]) {
            Some(0) => decode_string(v, &mut d.version, "version", p),
            Some(_) => decode_rules(v, &mut d.rules, p),
            None => unknown(p, v, &k, "document"),
        }
    }
    d
}

fn decode_rules(v: &Spanned, out: &mut Vec<Rule>, p: &mut Problems) {
    match &v.val {
        GoVal::Null => out.clear(),
        GoVal::Seq(items) => {
            out.clear();
            for (i, it) in items.iter().enumerate() {
                let mut r = Rule::default();
                decode_rule(it, &mut r, i, p);
                out.push(r);
            }
        }
        other => p.at(
            v.pos,
            format!(
                "resourceModifierRules: cannot unmarshal {} into a list",
                type_name(other)
            ),
        ),
    }
}

fn decode_rule(v: &Spanned, r: &mut Rule, idx: usize, p: &mut Problems) {
    let what = format!("rule {idx}");
    let Some(fs) = fields(v, &what, p) else {
        return;
    };
    for (k, val) in fs {
        match field_index(
            &k,
            &["conditions", "patches", "mergePatches", "strategicPatches"],
        ) {
            Some(0) => decode_conditions(val, &mut r.conditions, &what, p),
            Some(1) => decode_list(val, &mut r.patches, &what, p, decode_op),
            Some(2) => decode_list(val, &mut r.merge_patches, &what, p, decode_patch_data),
            Some(_) => decode_list(val, &mut r.strategic_patches, &what, p, decode_patch_data),
            None => unknown(p, val, &k, &what),
        }
    }
}

fn decode_list<T: Default>(
    v: &Spanned,
    out: &mut Vec<T>,
    what: &str,
    p: &mut Problems,
    item: fn(&Spanned, &mut T, &str, &mut Problems),
) {
    match &v.val {
        GoVal::Null => out.clear(),
        GoVal::Seq(items) => {
            out.clear();
            for it in items {
                let mut t = T::default();
                item(it, &mut t, what, p);
                out.push(t);
            }
        }
        other => p.at(
            v.pos,
            format!("{what}: cannot unmarshal {} into a list", type_name(other)),
        ),
    }
}

fn decode_op(v: &Spanned, op: &mut JsonPatchOp, what: &str, p: &mut Problems) {
    let Some(fs) = fields(v, what, p) else {
        return;
    };
    for (k, val) in fs {
        match field_index(&k, &["operation", "from", "path", "value"]) {
            Some(0) => decode_string(val, &mut op.operation, what, p),
            Some(1) => decode_string(val, &mut op.from, what, p),
            Some(2) => decode_string(val, &mut op.path, what, p),
            Some(_) => decode_string(val, &mut op.value, what, p),
            None => unknown(p, val, &k, what),
        }
    }
}

fn decode_patch_data(v: &Spanned, data: &mut String, what: &str, p: &mut Problems) {
    let Some(fs) = fields(v, what, p) else {
        return;
    };
    for (k, val) in fs {
        match field_index(&k, &["patchData"]) {
            Some(_) => decode_string(val, data, what, p),
            None => unknown(p, val, &k, what),
        }
    }
}

fn decode_conditions(v: &Spanned, c: &mut Conditions, what: &str, p: &mut Problems) {
    let Some(fs) = fields(v, what, p) else {
        return;
    };
    for (k, val) in fs {
        match field_index(
            &k,
            &[
                "namespaces",
                "groupResource",
                "resourceNameRegex",
                "labelSelector",
                "matches",
            ],
        ) {
            Some(0) => decode_string_list(val, &mut c.namespaces, what, p),
            Some(1) => decode_string(val, &mut c.group_resource, what, p),
            Some(2) => decode_string(val, &mut c.resource_name_regex, what, p),
            Some(3) => decode_selector(val, &mut c.label_selector, what, p),
            Some(_) => decode_list(val, &mut c.matches, what, p, decode_match),
            None => unknown(p, val, &k, what),
        }
    }
}

fn decode_match(v: &Spanned, m: &mut MatchRule, what: &str, p: &mut Problems) {
    let Some(fs) = fields(v, what, p) else {
        return;
    };
    for (k, val) in fs {
        match field_index(&k, &["path", "value"]) {
            Some(0) => decode_string(val, &mut m.path, what, p),
            Some(_) => decode_string(val, &mut m.value, what, p),
            None => unknown(p, val, &k, what),
        }
    }
}

fn decode_selector(v: &Spanned, out: &mut Option<LabelSelector>, what: &str, p: &mut Problems) {
    if matches!(v.val, GoVal::Null) {
        *out = None;
        return;
    }
    let Some(fs) = fields(v, what, p) else {
        return;
    };
    let sel = out.get_or_insert_with(LabelSelector::default);
    for (k, val) in fs {
        match field_index(&k, &["matchLabels", "matchExpressions"]) {
            Some(0) => decode_labels(val, &mut sel.match_labels, what, p),
            Some(_) => decode_list(val, &mut sel.match_expressions, what, p, decode_requirement),
            None => unknown(p, val, &k, what),
        }
    }
}

fn decode_labels(v: &Spanned, out: &mut BTreeMap<String, String>, what: &str, p: &mut Problems) {
    let Some(fs) = fields(v, what, p) else {
        if matches!(v.val, GoVal::Null) {
            out.clear();
        }
        return;
    };
    for (k, val) in fs {
        let mut s = String::new();
        decode_string(val, &mut s, what, p);
        out.insert(k, s);
    }
}

fn decode_requirement(v: &Spanned, r: &mut LabelSelectorRequirement, what: &str, p: &mut Problems) {
    let Some(fs) = fields(v, what, p) else {
        return;
    };
    for (k, val) in fs {
        match field_index(&k, &["key", "operator", "values"]) {
            Some(0) => decode_string(val, &mut r.key, what, p),
            Some(1) => decode_string(val, &mut r.operator, what, p),
            Some(_) => decode_string_list(val, &mut r.values, what, p),
            None => unknown(p, val, &k, what),
        }
    }
}

/// Velero's `ResourceModifiers.Validate()`, but collecting every problem.
pub(crate) fn validate(d: &Document, p: &mut Problems) {
    if !d.version.eq_ignore_ascii_case("v1") {
        p.0.push(format!(
            "unsupported resource modifier version {:?}",
            d.version
        ));
    }
    if d.rules.is_empty() {
        p.0.push("resource modifier rules cannot be empty".into());
    }
    for (i, r) in d.rules.iter().enumerate() {
        if r.conditions.group_resource.is_empty() {
            p.0.push(format!("rule {i}: groupResource cannot be empty"));
        }
        let kinds = [
            r.patches.len(),
            r.merge_patches.len(),
            r.strategic_patches.len(),
        ]
        .iter()
        .filter(|n| **n > 0)
        .count();
        if kinds > 1 {
            p.0.push(format!(
                "rule {i}: only one of patches, mergePatches, strategicPatches can be specified"
            ));
        }
        for (j, op) in r.patches.iter().enumerate() {
            if op.operation.is_empty() {
                p.0.push(format!("rule {i} patch {j}: operation cannot be empty"));
            } else if !["add", "remove", "replace", "test", "move", "copy"]
                .contains(&op.operation.to_lowercase().as_str())
            {
                p.0.push(format!(
                    "rule {i} patch {j}: unsupported operation {:?}",
                    op.operation
                ));
            }
            if op.path.is_empty() {
                p.0.push(format!("rule {i} patch {j}: path cannot be empty"));
            }
        }
    }
}
