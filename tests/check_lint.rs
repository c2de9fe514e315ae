//! Lint warnings, each triggered by the mistake it names and silent for correct rules.

mod check_support;

use check_support::{App, Layout, app, write, write_backup};
use serde_json::json;
use velero_fsb_guard::check::{self, CheckArgs, lint::LintWarning};

fn apps() -> Vec<App> {
    vec![
        app("shop", "growi", "5d894cc6b7").fsb_volume("data"),
        app("shop", "web", "6d4cf56db6"),
    ]
}

fn lint_with(apps: &[App], rules: &str) -> Vec<LintWarning> {
    let dir = tempfile::tempdir().unwrap();
    let args = CheckArgs {
        backup: Some(write_backup(dir.path(), apps, Layout::Bucket)),
        resource_modifiers: Some(write(
            dir.path(),
            "r.yaml",
            &format!("version: v1\nresourceModifierRules:\n{rules}"),
        )),
        ..CheckArgs::default()
    };
    check::check(&args, &mut |_, _| {}).unwrap().analysis.lint
}

fn lint(rules: &str) -> Vec<LintWarning> {
    lint_with(&apps(), rules)
}

fn codes(w: &[LintWarning]) -> Vec<&str> {
    w.iter().map(|w| w.code).collect()
}

const IMAGE: &str = "  patches:\n  - {operation: replace, path: /spec/template/spec/containers/0/image, value: x:2}\n";

#[test]
fn correct_rules_give_no_warning() {
    let w = lint(&format!(
        "- conditions: {{groupResource: deployments.apps, namespaces: [shop], resourceNameRegex: ^growi$}}\n{IMAGE}"
    ));
    assert!(w.is_empty(), "{w:?}");
}

#[test]
fn group_resource_without_group_suggests_the_qualified_name() {
    let w = lint(&format!(
        "- conditions: {{groupResource: deployments}}\n{IMAGE}"
    ));
    assert_eq!(codes(&w), ["no-match"]);
    assert!(
        w[0].message.contains("deployments.apps"),
        "{}",
        w[0].message
    );
    assert_eq!(w[0].rule, Some(0));
}

#[test]
fn namespace_or_name_matching_nothing() {
    let w = lint(&format!(
        "- conditions: {{groupResource: deployments.apps, namespaces: [prod]}}\n{IMAGE}"
    ));
    assert_eq!(codes(&w), ["no-match"]);
    assert!(w[0].message.contains("namespaces"), "{}", w[0].message);
    let w = lint(&format!(
        "- conditions: {{groupResource: deployments.apps, resourceNameRegex: ^gorwi$}}\n{IMAGE}"
    ));
    assert_eq!(codes(&w), ["no-match"]);
    assert!(
        w[0].message.contains("resourceNameRegex"),
        "{}",
        w[0].message
    );
}

#[test]
fn values_velero_converts_against_intent() {
    // "2" becomes a JSON number: a label value must be a string.
    let w = lint(
        "- conditions: {groupResource: deployments.apps, resourceNameRegex: ^growi$}\n  patches:\n  - {operation: add, path: /spec/template/metadata/labels/version, value: \"2\"}\n",
    );
    assert!(codes(&w).contains(&"value-type"), "{w:?}");
    // true becomes a boolean: an annotation value must be a string.
    let w = lint(
        "- conditions: {groupResource: deployments.apps, resourceNameRegex: ^growi$}\n  patches:\n  - {operation: add, path: /metadata/annotations/ready, value: \"true\"}\n",
    );
    assert!(codes(&w).contains(&"value-type"), "{w:?}");
    // '"3"' is forced to a string: replicas is a number.
    let w = lint(
        "- conditions: {groupResource: deployments.apps, resourceNameRegex: ^growi$}\n  patches:\n  - {operation: replace, path: /spec/replicas, value: '\"3\"'}\n",
    );
    assert!(codes(&w).contains(&"value-type"), "{w:?}");
    // A plain "3" for replicas is what the user means: no warning.
    let w = lint(
        "- conditions: {groupResource: deployments.apps, resourceNameRegex: ^growi$}\n  patches:\n  - {operation: replace, path: /spec/replicas, value: \"3\"}\n",
    );
    assert!(!codes(&w).contains(&"value-type"), "{w:?}");
}

#[test]
fn test_on_a_path_that_exists_nowhere() {
    let w = lint(
        "- conditions: {groupResource: deployments.apps}\n  patches:\n  - {operation: test, path: /spec/template/spec/priorityClassName, value: gold}\n  - {operation: replace, path: /spec/replicas, value: \"3\"}\n",
    );
    assert!(codes(&w).contains(&"test-path-missing"), "{w:?}");
    // A test on an existing path (the guard issue's /spec/replicas) is fine.
    let w = lint(
        "- conditions: {groupResource: deployments.apps}\n  patches:\n  - {operation: test, path: /spec/replicas, value: \"2\"}\n  - {operation: replace, path: /spec/replicas, value: \"3\"}\n",
    );
    assert!(!codes(&w).contains(&"test-path-missing"), "{w:?}");
    let w = lint(
        "- conditions:\n    groupResource: deployments.apps\n    matches: [{path: /spec/paused, value: \"true\"}]\n  patches:\n  - {operation: replace, path: /spec/replicas, value: \"3\"}\n",
    );
    assert!(codes(&w).contains(&"test-path-missing"), "{w:?}");
}

#[test]
fn index_path_into_a_list_whose_order_differs() {
    let mut growi = app("shop", "growi", "5d894cc6b7").fsb_volume("data");
    growi.template_spec["initContainers"] = json!([{"name": "init-db", "image": "db:1"}]);
    // restore-wait is prepended to the FSB pod: initContainers/0 is another container there.
    let w = lint_with(
        &[growi],
        "- conditions: {groupResource: deployments.apps}\n  patches:\n  - {operation: replace, path: /spec/template/spec/initContainers/0/image, value: db:2}\n",
    );
    assert!(codes(&w).contains(&"index-path"), "{w:?}");
    let msg = &w.iter().find(|w| w.code == "index-path").unwrap().message;
    assert!(
        msg.contains("restore-wait") && msg.contains("init-db"),
        "{msg}"
    );
}

#[test]
fn rule_that_also_targets_the_pods_the_plugin_corrects() {
    // The pods get another image than the Deployment: the pod rule patches on top of the change.
    let w = lint(&format!(
        "- conditions: {{groupResource: deployments.apps, resourceNameRegex: ^growi$}}\n{IMAGE}- conditions: {{groupResource: pods, resourceNameRegex: ^growi-}}\n  patches:\n  - {{operation: replace, path: /spec/containers/0/image, value: x:3}}\n"
    ));
    let twice: Vec<&LintWarning> = w.iter().filter(|w| w.code == "lands-twice").collect();
    assert_eq!(twice.len(), 1, "{w:?}");
    assert_eq!(twice[0].rule, Some(1));
    let message = &twice[0].message;
    assert!(message.contains("growi-5d894cc6b7-p0000"), "{message}");
    assert!(
        message.contains("spec.containers") && message.contains("again"),
        "{message}"
    );
    // A sidecar added to the Deployment and to its pods: the plugin leaves the containers to the
    // pod rule, the sidecar lands once.
    let sidecar = r#"'{"name":"shipper","image":"registry.example/shipper:1"}'"#;
    let w = lint(&format!(
        "- conditions: {{groupResource: deployments.apps, resourceNameRegex: ^growi$}}\n  patches:\n  - {{operation: add, path: /spec/template/spec/containers/-, value: {sidecar}}}\n- conditions: {{groupResource: pods, resourceNameRegex: ^growi-}}\n  patches:\n  - {{operation: add, path: /spec/containers/-, value: {sidecar}}}\n"
    ));
    let twice: Vec<&LintWarning> = w.iter().filter(|w| w.code == "lands-twice").collect();
    assert_eq!(twice.len(), 1, "{w:?}");
    assert_eq!(twice[0].rule, Some(1));
    assert!(
        twice[0].message.contains("lands once"),
        "{}",
        twice[0].message
    );
    // The same image for the pods as for the Deployment: it lands as carried, nothing to say.
    let w = lint(&format!(
        "- conditions: {{groupResource: deployments.apps, resourceNameRegex: ^growi$}}\n{IMAGE}- conditions: {{groupResource: pods, resourceNameRegex: ^growi-}}\n  patches:\n  - {{operation: replace, path: /spec/containers/0/image, value: x:2}}\n"
    ));
    assert!(!codes(&w).contains(&"lands-twice"), "{w:?}");
    // A pod rule that changes something else (a label) does not repeat the template change.
    let w = lint(&format!(
        "- conditions: {{groupResource: deployments.apps, resourceNameRegex: ^growi$}}\n{IMAGE}- conditions: {{groupResource: pods, resourceNameRegex: ^growi-}}\n  patches:\n  - {{operation: add, path: /metadata/labels/restored, value: yes-it-is}}\n"
    ));
    assert!(!codes(&w).contains(&"lands-twice"), "{w:?}");
    // The same pod rule without a Deployment change: the plugin corrects nothing, no warning.
    let w = lint(
        "- conditions: {groupResource: pods, resourceNameRegex: ^growi-}\n  patches:\n  - {operation: replace, path: /spec/containers/0/image, value: x:2}\n",
    );
    assert!(!codes(&w).contains(&"lands-twice"), "{w:?}");
}

#[test]
fn rule_errors_velero_will_report() {
    let w = lint(
        "- conditions: {groupResource: deployments.apps, resourceNameRegex: ^web$}\n  patches:\n  - {operation: remove, path: /spec/template/spec/nodeSelector}\n",
    );
    assert!(codes(&w).contains(&"rule-error"), "{w:?}");
}
