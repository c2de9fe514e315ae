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
mod patches;
mod selector;
mod tree;
mod unicode_names;
mod yaml;

use serde_json::Value;

pub use config::{Conditions, Document, JsonPatchOp, MatchRule, Rule};
pub use error::{Error, Result};
pub use glob::Glob;
pub use gojson::go_float;
pub use goregex::GoRegex;
use patches::{Item, Patches, patch_text};
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

/// A rule compiled once per document, so that applying it to many items (a restore) parses and
/// compiles nothing. Compile errors stay per rule: Velero reports them for each item that reaches
/// the failing step, so they surface as [`RuleOutcome::Error`] at match or apply time.
#[derive(Debug, Clone)]
struct Compiled {
    /// Sorted, deduplicated namespace globs (`None`: the glob does not compile).
    namespaces: Vec<Option<Glob>>,
    include_all: bool,
    group: Result<Glob, String>,
    regex: Option<Result<GoRegex, String>>,
    selector: Option<Result<Selector, String>>,
    /// `matches` as the JSON-patch `test`s Velero runs (`None`: no `matches`).
    tests: Option<Result<Vec<jsonpatch::Operation>, String>>,
    patches: Patches,
    /// Each merge and strategic `patchData` as JSON (`None`: it does not convert), for
    /// [`ResourceModifiers::rules_touching`], which is asked per item.
    patch_data: Vec<Option<gojson::Node>>,
}

impl Compiled {
    fn new(rule: &Rule) -> Compiled {
        let c = &rule.conditions;
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
            tests: (!c.matches.is_empty()).then(|| match_tests(&c.matches)),
            patches: Patches::new(rule),
            patch_data: rule
                .merge_patches
                .iter()
                .chain(&rule.strategic_patches)
                .map(|d| yaml::yaml_to_json(d).ok())
                .collect(),
        }
    }

    /// Whether the rule's `groupResource` glob (compiled once) selects `group_resource`.
    fn selects(&self, group_resource: &str) -> bool {
        self.group
            .as_ref()
            .is_ok_and(|g| g.is_match(group_resource))
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

/// `conditions.matches` as Velero runs them: one JSON patch of `test` operations.
fn match_tests(matches: &[MatchRule]) -> Result<Vec<jsonpatch::Operation>, String> {
    let mut tests = Vec::with_capacity(matches.len());
    for m in matches {
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
    jsonpatch::decode(&patch_text(&tests)).map_err(|e| e.message().to_owned())
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
            let compiled = doc.rules.iter().map(Compiled::new).collect();
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
    ///
    /// Cost: the item is copied once (when a rule matches, or for the result) and every patch
    /// is applied to that copy where it lies; conditions read `object`. Velero keeps the item
    /// of a failing rule as it was before the rule: when a rule fails after writing, the copy is
    /// rebuilt from `object` by applying the rules applied so far again (they give the same
    /// result), so that the common path never keeps a second copy.
    pub fn apply(&self, object: &Value, group_resource: &str) -> Outcome {
        let mut current: Option<Item> = None;
        let mut rules = Vec::with_capacity(self.doc.rules.len());
        for compiled in &self.compiled {
            let outcome = match rule_matches(compiled, object, group_resource) {
                Err(e) => RuleOutcome::Error(e),
                Ok(false) => RuleOutcome::NotMatched,
                Ok(true) => {
                    let item = current.get_or_insert_with(|| Item::new(object.clone()));
                    let done = compiled.patches.apply(item);
                    if done.wrote && done.outcome != RuleOutcome::Applied {
                        current = Some(self.replay(object, &rules));
                    }
                    done.outcome
                }
            };
            rules.push(outcome);
        }
        Outcome {
            object: current.map_or_else(|| object.clone(), |item| item.value),
            rules,
        }
    }

    /// `object` after the rules `outcomes` says were applied, applied again.
    fn replay(&self, object: &Value, outcomes: &[RuleOutcome]) -> Item {
        let mut item = Item::new(object.clone());
        for (compiled, outcome) in self.compiled.iter().zip(outcomes) {
            if *outcome == RuleOutcome::Applied {
                compiled.patches.apply(&mut item);
            }
        }
        item
    }

    /// Whether any rule's `groupResource` matches `group_resource` (with the globs compiled
    /// once): items of other resources leave every rule `NotMatched` or in error.
    pub fn selects(&self, group_resource: &str) -> bool {
        self.compiled.iter().any(|c| c.selects(group_resource))
    }

    /// Why Velero 1.12–1.14 may evaluate these rules differently from 1.15–1.18 (whose
    /// semantics this crate follows, checked by the oracle at each release's pins); empty when
    /// every supported-looking release agrees. Judged from the rule text only:
    ///
    /// - `matches`: a missing path is a rule error up to 1.14 (no match from 1.15), and absent
    ///   before 1.12.2;
    /// - merge and strategic patches, `groupResource` globs: absent before 1.12.2; strategic
    ///   merge keys come from k8s.io/api v0.25 in 1.12–1.13;
    /// - several rules with `labelSelector` or `matches`: up to 1.13 a rule's conditions see
    ///   the object as already patched by the earlier rules.
    ///
    /// The reasons are fixed texts: they never quote a rule's values.
    pub fn release_differences(&self) -> Vec<&'static str> {
        let rules = &self.doc.rules;
        let mut reasons = Vec::new();
        if rules.iter().any(|r| !r.conditions.matches.is_empty()) {
            reasons.push(
                "conditions.matches (a missing path is a rule error up to Velero 1.14, and matches is absent before 1.12.2)",
            );
        }
        if rules
            .iter()
            .any(|r| !r.merge_patches.is_empty() || !r.strategic_patches.is_empty())
        {
            reasons.push(
                "mergePatches/strategicPatches (absent before Velero 1.12.2; strategic merge keys of k8s.io/api v0.25 up to 1.13)",
            );
        }
        if rules
            .iter()
            .any(|r| r.conditions.group_resource.contains(['*', '?', '[', '{']))
        {
            reasons.push("a groupResource glob (an exact match before Velero 1.12.2)");
        }
        let reads_fields =
            |r: &Rule| r.conditions.label_selector.is_some() || !r.conditions.matches.is_empty();
        if rules.len() > 1 && rules.iter().skip(1).any(reads_fields) {
            reasons.push(
                "several rules whose later conditions read labels or fields (up to Velero 1.13 they see the earlier rules' patches)",
            );
        }
        reasons
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
            .zip(&self.compiled)
            .enumerate()
            .filter(|(_, (_, c))| c.selects(group_resource))
            .filter(|(_, (r, c))| {
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
                    || c.patch_data
                        .iter()
                        .any(|n| n.as_ref().is_none_or(|n| node_has_prefix(n, &target)))
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

fn rule_matches(compiled: &Compiled, obj: &Value, group_resource: &str) -> Result<bool, String> {
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
        && !sel.as_ref().map_err(Clone::clone)?.matches_labels_of(obj)
    {
        return Ok(false);
    }
    let Some(tests) = &compiled.tests else {
        return Ok(true);
    };
    match jsonpatch::test_all(tests.as_ref().map_err(Clone::clone)?, obj) {
        Ok(()) => Ok(true),
        Err(jsonpatch::PatchError::TestFailed(_) | jsonpatch::PatchError::Missing(_)) => Ok(false),
        Err(e) => Err(e.message().to_owned()),
    }
}

/// Entry points for the fuzz targets (`crates/modifiers/fuzz`); not a stable API.
#[doc(hidden)]
pub mod fuzzing {
    use serde_json::Value;

    use crate::{glob, gojson, goregex, jsonpatch, mergepatch, tree, yaml};

    /// The item as the rule engine holds it (`None`: not a document the engine can hold).
    fn item(doc: &str) -> Option<Value> {
        gojson::parse(doc).as_ref().and_then(gojson::to_value)
    }

    /// The tree's result read back as the item, member order included.
    fn same_item(tree: &gojson::Node, in_place: &Value, doc: &str) {
        let tree = gojson::to_value(tree).map(|v| v.to_string());
        assert_eq!(tree, Some(in_place.to_string()), "{doc}");
    }

    /// Decode and apply an RFC 6902 patch text to a JSON document text. Where the patch can run
    /// on the item in place, that must give what the Go-JSON tree gives: panics otherwise.
    pub fn json_patch(doc: &str, patch: &str) {
        let (Some(d), Ok(ops)) = (gojson::parse(doc), jsonpatch::decode(patch)) else {
            return;
        };
        if let Ok(out) = jsonpatch::apply(&ops, &d) {
            let _ = gojson::to_value(&out);
        }
        let patch = jsonpatch::Patch::new(ops);
        let Some(item) = item(doc).filter(|_| patch.in_place) else {
            return;
        };
        let on_tree = jsonpatch::apply(&patch.ops, &gojson::from_value(&item));
        let mut in_place = item;
        gojson::normalize_numbers(&mut in_place);
        match (on_tree, jsonpatch::apply_in_place(&patch, &mut in_place)) {
            (Ok(n), Ok(())) => same_item(&n, &in_place, doc),
            (Err(a), Err(b)) => assert_eq!(a, b.error, "{doc} {patch:?}"),
            (a, b) => panic!("tree {a:?}, in place {b:?}: {doc} {patch:?}"),
        }
    }

    /// Apply a YAML/JSON merge patch to a JSON document text; in place on the item too, which
    /// must give the same (panics otherwise).
    pub fn merge_patch(doc: &str, patch: &str) {
        let (Some(mut d), Ok(p)) = (gojson::parse(doc), yaml::yaml_to_json(patch)) else {
            return;
        };
        let _ = mergepatch::merge_patch(&mut d, &p);
        let Some(item) = item(doc).filter(|_| tree::from_patch::<Value>(&p).is_some()) else {
            return;
        };
        let mut on_tree = gojson::from_value(&item);
        let on_tree = mergepatch::merge_patch(&mut on_tree, &p).map(|()| on_tree);
        let mut in_place = item;
        gojson::normalize_numbers(&mut in_place);
        match (on_tree, mergepatch::merge_patch(&mut in_place, &p)) {
            (Ok(n), Ok(())) => same_item(&n, &in_place, doc),
            (Err(a), Err(b)) => assert_eq!(a, b, "{doc} {patch}"),
            (a, b) => panic!("tree {a:?}, in place {b:?}: {doc} {patch}"),
        }
    }

    /// The `rules` target: a rule document (YAML), optionally followed by a NUL and a JSON item;
    /// parsed and validated, then applied to a Deployment, a pod and the item, and asked which
    /// rules touch a Deployment's template. Panics (the target's failure) only on a bug.
    pub fn rules(data: &[u8]) {
        let text = String::from_utf8_lossy(data);
        let (rules, item) = match text.split_once('\0') {
            Some((r, i)) => (r.to_owned(), serde_json::from_str::<Value>(i).ok()),
            None => (text.into_owned(), None),
        };
        let Ok(m) = crate::ResourceModifiers::from_yaml(&rules) else {
            return;
        };
        let deploy = serde_json::json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "prod", "labels": {"app": "web"}},
            "spec": {"replicas": 2, "template": {"metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "app", "image": "nginx", "env": [{"name": "A", "value": "1"}]}]}}}});
        let pod = serde_json::json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web-1", "namespace": "prod"},
            "spec": {"containers": [{"name": "app", "image": "nginx"}], "tolerations": [{"key": "k"}]}});
        let _ = m.apply(&deploy, "deployments.apps");
        let _ = m.apply(&pod, "pods");
        if let Some(item) = item {
            let _ = m.apply(&item, "configmaps");
        }
        let _ = m.rules_touching("deployments.apps", "/spec/template");
    }

    /// The `engines` target: up to three NUL-separated parts, run through the JSON patch and merge
    /// patch engines (document, patch) and the pattern languages (pattern, subject).
    pub fn engines(data: &[u8]) {
        let text = String::from_utf8_lossy(data);
        let mut parts = text.splitn(3, '\0');
        let a = parts.next().unwrap_or("");
        let b = parts.next().unwrap_or("");
        let c = parts.next().unwrap_or("");
        json_patch(a, b);
        merge_patch(a, b);
        patterns(b, c);
        patterns(a, c);
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
