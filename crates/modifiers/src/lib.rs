#![forbid(unsafe_code)]
//! Velero's resource-modifier rule engine (`internal/resourcemodifiers`, Velero v1.15–v1.18),
//! reproduced over `serde_json::Value` so that the plugin can predict exactly what Velero will do
//! to an item.
//!
//! ```
//! use fsb_modifiers::{ResourceModifiers, RuleOutcome};
//! use serde_json::json;
//!
//! let rules = ResourceModifiers::from_yaml(r#"
//! version: v1
//! resourceModifierRules:
//! - conditions:
//!     groupResource: deployments.apps
//!     resourceNameRegex: "^web"
//!   patches:
//!   - operation: replace
//!     path: /spec/replicas
//!     value: "2"
//! "#).unwrap();
//! let deploy = json!({"apiVersion": "apps/v1", "kind": "Deployment",
//!                     "metadata": {"name": "web-1", "namespace": "ns"}, "spec": {"replicas": 1}});
//! let out = rules.apply(&deploy, "deployments.apps");
//! assert_eq!(out.rules, vec![RuleOutcome::Applied]);
//! assert_eq!(out.object["spec"]["replicas"], json!(2));
//! ```
//!
//! What is reproduced, and from which Go library:
//!
//! - **Parsing** ([`ResourceModifiers::from_configmap`], [`ResourceModifiers::from_yaml`]):
//!   `sigs.k8s.io/yaml.UnmarshalStrict` — YAML 1.1 scalars of goyaml.v2 (`yes` is `true`, `010`
//!   is 8), duplicate keys and unknown fields are errors, field names match case-insensitively,
//!   numbers and booleans given for string fields become strings (floats in Go's 32-bit `%g`
//!   form: `value: 1.0` is the string `"1"`). Then Velero's validation. All problems are reported
//!   together.
//! - **Conditions**: `groupResource` is a gobwas glob with `.` as separator; `namespaces` are
//!   gobwas globs on the item's (original) namespace, checked only for namespaced items;
//!   `resourceNameRegex` is a Go RE2 pattern searched (unanchored) in `metadata.name`;
//!   `labelSelector` has metav1 semantics; `matches` are JSON-patch `test`s where a missing path
//!   means "no match". With several rules, conditions see the item before any rule patched it.
//! - **JSON patches**: Velero renders each operation with string formatting and its quoting
//!   heuristic for `value` (no escaping: quotes or backslashes in values change the JSON or make
//!   it invalid, which is a rule error), then evanphx/json-patch v5 applies the rule's operations
//!   atomically. A failed `test` skips the rule silently ([`RuleOutcome::Skipped`]).
//! - **Merge patches**: evanphx `MergePatch`, patch data in YAML or JSON.
//! - **Strategic patches**: [`fsb_smp::apply`] with the Go type of `apiVersion`/`kind`; only
//!   core/v1, apps/v1 and batch/v1 kinds (others are rule errors, as in Velero).
//!
//! A rule that fails leaves the item as it was before that rule; later rules still run
//! (Velero records the error and restores the item anyway).
//!
//! Known limits (checked against the Go libraries by `tests/oracle/run.sh`): gobwas' optimising
//! glob compiler deviates from the pattern's meaning for some `{…}` shapes (wildcards or empty
//! alternatives inside braces, unclosed braces); such rules are listed by
//! [`ResourceModifiers::inexact_rules`] so callers can fail open. Inputs on which the Go side
//! panics (a `test` comparing arrays that contain `null`) get a plain answer here. Regex syntax
//! follows the Go 1.25+ `regexp` (Velero v1.18's toolchain; older toolchains accept fewer
//! Unicode class spellings).

mod config;
mod error;
mod glob;
mod gojson;
mod goregex;
mod jsonpatch;
mod mergepatch;
mod selector;
mod unicode_names;
mod yaml;

use std::collections::BTreeMap;

use serde_json::Value;

pub use config::{Conditions, Document, JsonPatchOp, MatchRule, Rule};
pub use error::{Error, Result};
pub use glob::Glob;
pub use gojson::go_float;
pub use goregex::GoRegex;
pub use selector::{LabelSelector, LabelSelectorRequirement, Selector};
pub use yaml::Pos;

/// What one rule did to one item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleOutcome {
    /// The conditions did not match (or a `matches` test failed / its path is missing).
    NotMatched,
    /// The rule matched and its patches were applied.
    Applied,
    /// The rule matched but a JSON-patch `test` operation failed: nothing was applied, no error.
    Skipped,
    /// Velero reports an error for this rule (bad glob/regex/selector, patch failure…); the item
    /// keeps the state it had before this rule.
    Error(String),
}

/// The result of applying all rules to one item.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// The item after all rules.
    pub object: Value,
    /// One entry per rule, in rule order.
    pub rules: Vec<RuleOutcome>,
}

/// A parsed and validated resource-modifier document.
#[derive(Debug, Clone)]
pub struct ResourceModifiers {
    doc: Document,
    compiled: Vec<Compiled>,
}

/// A rule's patterns, compiled once. Compile errors stay per rule: Velero reports them for each
/// item that reaches the failing check, so they surface as [`RuleOutcome::Error`] at match time.
#[derive(Debug, Clone)]
struct Compiled {
    /// Sorted, deduplicated namespace globs (`None`: the glob does not compile).
    namespaces: Vec<Option<Glob>>,
    include_all: bool,
    group: Result<Glob, String>,
    regex: Option<Result<GoRegex, String>>,
    selector: Option<Result<Selector, String>>,
}

impl Compiled {
    fn new(c: &Conditions) -> Compiled {
        let mut ns: Vec<&String> = c.namespaces.iter().collect();
        ns.sort();
        ns.dedup();
        Compiled {
            include_all: ns.is_empty() || ns.iter().any(|p| *p == "*"),
            namespaces: ns.iter().map(|p| Glob::compile(p, &[]).ok()).collect(),
            group: Glob::compile(&c.group_resource, &['.'])
                .map_err(|e| format!("bad glob pattern of groupResource in condition: {e}")),
            regex: (!c.resource_name_regex.is_empty()).then(|| {
                GoRegex::new(&c.resource_name_regex)
                    .map_err(|e| format!("error in matching regex {e}"))
            }),
            selector: c.label_selector.as_ref().map(|sel| {
                sel.to_selector()
                    .map_err(|e| format!("error in creating label selector {e}"))
            }),
        }
    }

    /// `collections.IncludesExcludes.ShouldInclude` with only includes: the first glob (in
    /// sorted order) that fails to compile ends the search with "not included".
    fn namespace_included(&self, ns: &str) -> bool {
        if self.include_all {
            return true;
        }
        for g in &self.namespaces {
            match g {
                None => return false,
                Some(g) if g.is_match(ns) => return true,
                Some(_) => {}
            }
        }
        false
    }
}

impl ResourceModifiers {
    /// Read the rules from a ConfigMap object (`{"data": {"<any key>": "<yaml>"}}`): exactly one
    /// data entry, as Velero's `GetResourceModifiersFromConfig` requires.
    pub fn from_configmap(configmap: &Value) -> Result<Self> {
        let data = configmap.get("data").and_then(Value::as_object);
        match data {
            Some(m) if m.len() == 1 => match m.values().next() {
                Some(Value::String(text)) => Self::from_yaml(text),
                _ => Err(Error::ConfigMapShape { found: 0 }),
            },
            Some(m) => Err(Error::ConfigMapShape { found: m.len() }),
            None => Err(Error::ConfigMapShape { found: 0 }),
        }
    }

    /// Parse and validate a rules document (the text of the ConfigMap's data entry).
    pub fn from_yaml(text: &str) -> Result<Self> {
        let root = yaml::parse(text).map_err(Error::Yaml)?;
        let mut problems = config::Problems::default();
        let doc = config::decode_document(&root, &mut problems);
        config::validate(&doc, &mut problems);
        if problems.0.is_empty() {
            let compiled = doc
                .rules
                .iter()
                .map(|r| Compiled::new(&r.conditions))
                .collect();
            Ok(ResourceModifiers { doc, compiled })
        } else {
            Err(Error::Invalid(problems.0))
        }
    }

    /// The decoded rules.
    pub fn rules(&self) -> &[Rule] {
        &self.doc.rules
    }

    /// Apply every rule to `object` as Velero does for an item of `group_resource`
    /// (`"deployments.apps"`, `"pods"`, …). `object` is the item as Velero hands it to the
    /// modifiers (original namespace).
    pub fn apply(&self, object: &Value, group_resource: &str) -> Outcome {
        let origin = object.clone();
        let mut current = object.clone();
        let mut rules = Vec::with_capacity(self.doc.rules.len());
        for (rule, compiled) in self.doc.rules.iter().zip(&self.compiled) {
            let outcome = match rule_matches(rule, compiled, &origin, group_resource) {
                Err(e) => RuleOutcome::Error(e),
                Ok(false) => RuleOutcome::NotMatched,
                Ok(true) => match apply_rule(rule, &current) {
                    Ok(Some(next)) => {
                        current = next;
                        RuleOutcome::Applied
                    }
                    Ok(None) => RuleOutcome::Skipped,
                    Err(e) => RuleOutcome::Error(e),
                },
            };
            rules.push(outcome);
        }
        Outcome {
            object: current,
            rules,
        }
    }

    /// Indexes of the rules whose `groupResource` or `namespaces` globs use `{…}` shapes that
    /// gobwas compiles idiosyncratically (see [`Glob::is_exact`]): for those rules our match
    /// decision may differ from Velero's, so a caller that needs certainty should fail open.
    pub fn inexact_rules(&self) -> Vec<usize> {
        let inexact = |p: &str, seps: &[char]| Glob::compile(p, seps).is_ok_and(|g| !g.is_exact());
        self.doc
            .rules
            .iter()
            .enumerate()
            .filter(|(_, r)| {
                inexact(&r.conditions.group_resource, &['.'])
                    || r.conditions.namespaces.iter().any(|n| inexact(n, &[]))
            })
            .map(|(i, _)| i)
            .collect()
    }

    /// Indexes of the rules whose patches could change something at or under `pointer`
    /// (e.g. `/spec/template`) of an item of `group_resource`, judged from the rule text only:
    /// JSON-patch paths/froms that overlap the pointer, and merge/strategic patches that
    /// contain its first keys. Conservative: a rule listed here may still not match an item.
    pub fn rules_touching(&self, group_resource: &str, pointer: &str) -> Vec<usize> {
        let target: Vec<&str> = pointer.split('/').skip(1).collect();
        self.doc
            .rules
            .iter()
            .enumerate()
            .filter(|(_, r)| {
                Glob::compile(&r.conditions.group_resource, &['.'])
                    .is_ok_and(|g| g.is_match(group_resource))
            })
            .filter(|(_, r)| {
                let overlaps = |p: &str| {
                    let toks: Vec<&str> = p.split('/').skip(1).collect();
                    toks.iter().zip(&target).all(|(a, b)| a == b)
                };
                r.patches
                    .iter()
                    .filter(|op| !op.operation.eq_ignore_ascii_case("test"))
                    .any(|op| {
                        overlaps(&op.path)
                            || (op.operation.eq_ignore_ascii_case("move") && overlaps(&op.from))
                    })
                    || r.merge_patches.iter().chain(&r.strategic_patches).any(|d| {
                        yaml::yaml_to_json(d).map_or(true, |n| node_has_prefix(&n, &target))
                    })
            })
            .map(|(i, _)| i)
            .collect()
    }
}

fn node_has_prefix(n: &gojson::Node, target: &[&str]) -> bool {
    match target.split_first() {
        None => true,
        Some((first, rest)) => match n.object_get(first) {
            Some(child) => {
                node_has_prefix(child, rest) || !matches!(child, gojson::Node::Object(_))
            }
            // `$patch: replace`/`delete` at this level can touch everything below.
            None => n.object_get("$patch").is_some() || !matches!(n, gojson::Node::Object(_)),
        },
    }
}

fn meta_str<'a>(obj: &'a Value, key: &str) -> &'a str {
    obj.get("metadata")
        .and_then(|m| m.get(key))
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// `unstructured.GetLabels`: a map of strings, or nothing when any value is not a string.
fn labels_of(obj: &Value) -> BTreeMap<String, String> {
    let Some(m) = obj
        .get("metadata")
        .and_then(|m| m.get("labels"))
        .and_then(Value::as_object)
    else {
        return BTreeMap::new();
    };
    let mut out = BTreeMap::new();
    for (k, v) in m {
        match v.as_str() {
            Some(s) => {
                out.insert(k.clone(), s.to_owned());
            }
            None => return BTreeMap::new(),
        }
    }
    out
}

fn rule_matches(
    rule: &Rule,
    compiled: &Compiled,
    obj: &Value,
    group_resource: &str,
) -> Result<bool, String> {
    let c = &rule.conditions;
    let ns = meta_str(obj, "namespace");
    if !ns.is_empty() && !compiled.namespace_included(ns) {
        return Ok(false);
    }
    if !compiled
        .group
        .as_ref()
        .map_err(Clone::clone)?
        .is_match(group_resource)
    {
        return Ok(false);
    }
    if let Some(re) = &compiled.regex
        && !re
            .as_ref()
            .map_err(Clone::clone)?
            .is_match(meta_str(obj, "name"))
    {
        return Ok(false);
    }
    if let Some(sel) = &compiled.selector
        && !sel.as_ref().map_err(Clone::clone)?.matches(&labels_of(obj))
    {
        return Ok(false);
    }
    if c.matches.is_empty() {
        return Ok(true);
    }
    let mut tests = Vec::with_capacity(c.matches.len());
    for m in &c.matches {
        if m.path.is_empty() {
            return Err("path is required for match rule".into());
        }
        tests.push(JsonPatchOp {
            operation: "test".into(),
            from: String::new(),
            path: m.path.clone(),
            value: m.value.clone(),
        });
    }
    match run_json_patch(&tests, obj) {
        Ok(_) => Ok(true),
        Err(jsonpatch::PatchError::TestFailed(_) | jsonpatch::PatchError::Missing(_)) => Ok(false),
        Err(e) => Err(e.message().to_owned()),
    }
}

/// Velero's `addQuotes`: returns the JSON text put after `"value": `.
fn value_json(value: &str) -> String {
    if value.is_empty() {
        return "\"\"".into();
    }
    if value.starts_with('"') && value.ends_with('"') {
        // Trim one quote at each end (a lone `"` trims to the empty string).
        let inner = value.strip_prefix('"').unwrap_or(value);
        let inner = inner.strip_suffix('"').unwrap_or(inner);
        return format!("\"{inner}\"");
    }
    if value == "null" {
        return value.into();
    }
    let lower = value.to_lowercase();
    if lower == "true" || lower == "false" {
        return value.into();
    }
    if value.starts_with('{') || value.starts_with('[') {
        return value.into();
    }
    if yaml::go_parse_float(value).is_some() {
        return value.into();
    }
    format!("\"{value}\"")
}

/// The patch document exactly as Velero builds it with `fmt.Sprintf` (no escaping).
fn patch_text(ops: &[JsonPatchOp]) -> String {
    let parts: Vec<String> = ops
        .iter()
        .map(|p| {
            format!(
                r#"{{"op": "{}", "from": "{}", "path": "{}", "value": {}}}"#,
                p.operation,
                p.from,
                p.path,
                value_json(&p.value)
            )
        })
        .collect();
    format!("[{}]", parts.join(",\n\t"))
}

fn run_json_patch(ops: &[JsonPatchOp], obj: &Value) -> Result<gojson::Node, jsonpatch::PatchError> {
    let decoded = jsonpatch::decode(&patch_text(ops))?;
    jsonpatch::apply(&decoded, &gojson::from_value(obj))
}

/// `Unstructured.UnmarshalJSON` of a patch result: an object with a string `kind` (non-empty)
/// and an `apiVersion` Go can parse; numbers become int64 or float64.
fn to_unstructured(n: &gojson::Node) -> Result<Value, String> {
    let v =
        gojson::to_value(n).ok_or("error in unmarshalling modified object: number out of range")?;
    if !v.is_object() {
        return Err("error in unmarshalling modified object: not an object".into());
    }
    let kind = v.get("kind").and_then(Value::as_str).unwrap_or("");
    let api = v.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    if kind.is_empty() || (api != "/" && api.matches('/').count() > 1) {
        return Err("error in unmarshalling modified object: Object 'Kind' is missing".into());
    }
    Ok(v)
}

/// `Ok(None)`: skipped by a failed `test`.
fn apply_rule(rule: &Rule, obj: &Value) -> Result<Option<Value>, String> {
    if !rule.patches.is_empty() {
        return match run_json_patch(&rule.patches, obj) {
            Ok(n) => to_unstructured(&n).map(Some),
            Err(jsonpatch::PatchError::TestFailed(_)) => Ok(None),
            Err(e) => Err(format!("error in applying JSON Patch {}", e.message())),
        };
    }
    if !rule.merge_patches.is_empty() {
        let mut doc = gojson::from_value(obj);
        for data in &rule.merge_patches {
            let patch = yaml::yaml_to_json(data)
                .map_err(|e| format!("error in converting YAML to JSON {e}"))?;
            doc = mergepatch::merge_patch(doc, patch)
                .map_err(|e| format!("error in applying JSON Patch: {e}"))?;
        }
        return to_unstructured(&doc).map(Some);
    }
    if !rule.strategic_patches.is_empty() {
        let api = obj.get("apiVersion").and_then(Value::as_str).unwrap_or("");
        let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("");
        let root = fsb_smp::Root::for_kind(api, kind).map_err(|e| e.to_string())?;
        let mut current = obj.clone();
        for data in &rule.strategic_patches {
            let patch = yaml::yaml_to_json(data)
                .map_err(|e| format!("error in converting YAML to JSON {e}"))?;
            let mut patch = gojson::to_value(&patch).ok_or("patch number out of range")?;
            if patch.is_null() {
                // Go decodes a `null` patch into a nil map: nothing to merge.
                patch = Value::Object(serde_json::Map::new());
            }
            let next = fsb_smp::apply(&current, &patch, root)
                .map_err(|e| format!("error in applying Strategic Patch {e}"))?;
            current = to_unstructured(&gojson::from_value(&next))?;
        }
        return Ok(Some(current));
    }
    Err("error in applying patch no patch data found".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_quoting_heuristic() {
        // Hand-derived from Velero's addQuotes.
        assert_eq!(value_json(""), r#""""#);
        assert_eq!(value_json(r#""true""#), r#""true""#);
        assert_eq!(value_json("True"), "True");
        assert_eq!(value_json("1.5"), "1.5");
        assert_eq!(value_json("1e400"), r#""1e400""#);
        assert_eq!(value_json("+1"), "+1");
        assert_eq!(value_json("abc"), r#""abc""#);
        assert_eq!(value_json("{}"), "{}");
        assert_eq!(value_json("\""), r#""""#);
    }
}

/// Entry points for the fuzz targets (`crates/modifiers/fuzz`); not a stable API.
#[doc(hidden)]
pub mod fuzzing {
    use crate::{glob, gojson, goregex, jsonpatch, mergepatch, yaml};

    /// Decode and apply an RFC 6902 patch text to a JSON document text.
    pub fn json_patch(doc: &str, patch: &str) {
        if let (Some(d), Ok(ops)) = (gojson::parse(doc), jsonpatch::decode(patch))
            && let Ok(out) = jsonpatch::apply(&ops, &d)
        {
            let _ = gojson::to_value(&out);
        }
    }

    /// Apply a YAML/JSON merge patch to a JSON document text.
    pub fn merge_patch(doc: &str, patch: &str) {
        if let (Some(d), Ok(p)) = (gojson::parse(doc), yaml::yaml_to_json(patch)) {
            let _ = mergepatch::merge_patch(d, p);
        }
    }

    /// Compile and match a gobwas glob and a Go regex.
    pub fn patterns(pattern: &str, subject: &str) {
        if let Ok(g) = glob::Glob::compile(pattern, &['.']) {
            let _ = g.is_match(subject);
        }
        if let Ok(r) = goregex::GoRegex::new(pattern) {
            let _ = r.is_match(subject);
        }
    }
}
