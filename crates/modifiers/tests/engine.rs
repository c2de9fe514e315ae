//! Engine-level behaviour, with expectations derived by hand from Velero's documented semantics
//! (facts/velero.md §6) — not from this crate's output.

use fsb_modifiers::{Error, ResourceModifiers, RuleOutcome};
use serde_json::json;

fn deploy() -> serde_json::Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment",
           "metadata": {"name": "web", "namespace": "prod", "labels": {"app": "web"}},
           "spec": {"replicas": 3, "template": {"spec": {"containers": [{"name": "app", "image": "a"}]}}}})
}

#[test]
fn conditions_see_the_item_before_any_patch() {
    let m = ResourceModifiers::from_yaml(
        r#"
version: v1
resourceModifierRules:
- conditions: {groupResource: deployments.apps, matches: [{path: /spec/replicas, value: "3"}]}
  patches: [{operation: replace, path: /spec/replicas, value: "1"}]
- conditions: {groupResource: deployments.apps, matches: [{path: /spec/replicas, value: "1"}]}
  patches: [{operation: add, path: /metadata/labels/second, value: "x"}]
- conditions: {groupResource: deployments.apps, matches: [{path: /spec/replicas, value: "3"}]}
  patches: [{operation: add, path: /metadata/labels/third, value: "x"}]
"#,
    )
    .unwrap();
    let out = m.apply(&deploy(), "deployments.apps");
    assert_eq!(
        out.rules,
        vec![
            RuleOutcome::Applied,
            RuleOutcome::NotMatched,
            RuleOutcome::Applied
        ]
    );
    assert_eq!(out.object["spec"]["replicas"], json!(1));
    assert_eq!(
        out.object["metadata"]["labels"],
        json!({"app": "web", "third": "x"})
    );
}

#[test]
fn failed_test_skips_and_errors_keep_the_item() {
    let m = ResourceModifiers::from_yaml(
        r#"
version: v1
resourceModifierRules:
- conditions: {groupResource: "*.apps"}
  patches:
  - {operation: test, path: /spec/replicas, value: "2"}
  - {operation: replace, path: /spec/replicas, value: "9"}
- conditions: {groupResource: "*.apps"}
  patches:
  - {operation: replace, path: /spec/replicas, value: "5"}
  - {operation: remove, path: /spec/nothing}
"#,
    )
    .unwrap();
    let out = m.apply(&deploy(), "deployments.apps");
    assert_eq!(out.rules[0], RuleOutcome::Skipped);
    assert!(matches!(out.rules[1], RuleOutcome::Error(_)));
    assert_eq!(out.object, deploy());
}

#[test]
fn every_problem_is_reported_with_its_rule() {
    let err = ResourceModifiers::from_yaml(
        r#"
version: v2
resourceModifierRules:
- conditions: {groupResource: ""}
  patches: [{operation: upsert, path: ""}]
  mergePatches: [{patchData: "{}"}]
"#,
    )
    .unwrap_err();
    let Error::Invalid(problems) = err else {
        panic!("want Invalid, got {err:?}");
    };
    assert_eq!(problems.len(), 5, "{problems:?}");
    assert!(problems.iter().filter(|p| p.starts_with("rule 0")).count() == 4);
}

#[test]
fn unknown_field_names_its_position() {
    let err = ResourceModifiers::from_yaml(
        "version: v1\nresourceModifierRules:\n- conditions:\n    groupresource: x\n    bogus: 1\n",
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("line 5"), "{err}");
    assert!(err.contains("bogus"), "{err}");
}

#[test]
fn configmap_needs_exactly_one_key() {
    let rules = "version: v1\nresourceModifierRules:\n- conditions: {groupResource: pods}\n  patches: [{operation: remove, path: /a}]\n";
    assert!(ResourceModifiers::from_configmap(&json!({"data": {"x": rules}})).is_ok());
    assert!(ResourceModifiers::from_configmap(&json!({"data": {"x": rules, "y": rules}})).is_err());
    assert!(ResourceModifiers::from_configmap(&json!({"data": {}})).is_err());
}

#[test]
fn rules_touching_the_pod_template() {
    let m = ResourceModifiers::from_yaml(
        r#"
version: v1
resourceModifierRules:
- conditions: {groupResource: deployments.apps}
  patches: [{operation: add, path: /spec/template/, value: "{}"}]
- conditions: {groupResource: deployments.apps}
  patches: [{operation: replace, path: /spec/replicas, value: "1"}]
- conditions: {groupResource: pods}
  patches: [{operation: replace, path: /spec/template/x, value: "1"}]
- conditions: {groupResource: "*.apps"}
  strategicPatches: [{patchData: '{"spec":{"template":{"spec":{"tolerations":[]}}}}'}]
- conditions: {groupResource: "*.apps"}
  mergePatches: [{patchData: '{"metadata":{"labels":{"a":"b"}}}'}]
- conditions: {groupResource: "**"}
  patches: [{operation: move, from: /spec/template, path: /spec/x}]
"#,
    )
    .unwrap();
    assert_eq!(
        m.rules_touching("deployments.apps", "/spec/template"),
        vec![0, 3, 5]
    );
}

#[test]
fn gobwas_alternative_shapes_are_flagged() {
    let m = ResourceModifiers::from_yaml(
        r#"
version: v1
resourceModifierRules:
- conditions: {groupResource: "{deployments,statefulsets}.apps"}
  patches: [{operation: remove, path: /a}]
- conditions: {groupResource: "{*,x}.apps"}
  patches: [{operation: remove, path: /a}]
- conditions: {groupResource: pods, namespaces: ["team-{a"]}
  patches: [{operation: remove, path: /a}]
"#,
    )
    .unwrap();
    assert_eq!(m.inexact_rules(), vec![1, 2]);
}

/// The rule shapes Velero 1.12–1.14 evaluate differently (`../shared/facts/versions.md`), and the
/// field report's own rules, which every release since 1.12.0 evaluates alike.
#[test]
fn rules_that_older_releases_read_differently_are_named() {
    let same_everywhere = ResourceModifiers::from_yaml(
        r#"
version: v1
resourceModifierRules:
- conditions: {groupResource: deployments.apps, resourceNameRegex: "^growi-mongodb$"}
  patches:
  - {operation: add, path: /spec/template/spec/tolerations, value: '[{"key":"k","operator":"Exists"}]'}
- conditions: {groupResource: deployments.apps, namespaces: [growi]}
  patches: [{operation: replace, path: /spec/replicas, value: "1"}]
"#,
    )
    .unwrap();
    assert!(same_everywhere.release_differences().is_empty());

    let one = |yaml: &str| {
        ResourceModifiers::from_yaml(&format!("version: v1\nresourceModifierRules:\n{yaml}"))
            .unwrap()
            .release_differences()
    };
    let matches = one(
        "- conditions: {groupResource: pods, matches: [{path: /spec/x, value: y}]}\n  patches: [{operation: remove, path: /a}]\n",
    );
    assert_eq!(matches.len(), 1);
    assert!(matches[0].starts_with("conditions.matches"));
    let strategic = one(
        "- conditions: {groupResource: pods}\n  strategicPatches: [{patchData: '{\"spec\":{}}'}]\n",
    );
    assert!(strategic[0].starts_with("mergePatches/strategicPatches"));
    let glob = one(
        "- conditions: {groupResource: '*.apps'}\n  patches: [{operation: remove, path: /a}]\n",
    );
    assert!(glob[0].starts_with("a groupResource glob"));
    let ordered = one(concat!(
        "- conditions: {groupResource: pods}\n  patches: [{operation: add, path: /metadata/labels/x, value: y}]\n",
        "- conditions: {groupResource: pods, labelSelector: {matchLabels: {x: y}}}\n  patches: [{operation: remove, path: /a}]\n",
    ));
    assert_eq!(ordered.len(), 1);
    assert!(ordered[0].starts_with("several rules"));
    // A label selector on the first rule alone reads the object every release hands it.
    let first_only = one(concat!(
        "- conditions: {groupResource: pods, labelSelector: {matchLabels: {x: y}}}\n  patches: [{operation: remove, path: /a}]\n",
        "- conditions: {groupResource: pods}\n  patches: [{operation: remove, path: /b}]\n",
    ));
    assert!(first_only.is_empty());
}
