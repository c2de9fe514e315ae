//! Rules that select a Deployment and its pods too (issue 19): Velero applies the restore's rules
//! to every pod after the plugin, so a pod rule repeating the template change would land a second
//! time on a pod the guard corrected. Velero is simulated as in `scenarios` (rules applied after
//! each plugin call); expected values come from what the user's rules ask for, never from the guard.

use serde_json::{Value, json};

use super::*;
use crate::engine::Rules;
use crate::fixtures::*;
use crate::toolkit::later_rules::Landing;
use crate::toolkit::template::ANNOTATION_LEFT_TO_RULES;
use crate::{Level, Settings, VeleroEngine};

fn web() -> App {
    a_deployment("shop", "web").with_fsb_volume("data")
}

fn names(pod: &Value, list: &str) -> Vec<String> {
    pod["spec"][list]
        .as_array()
        .map(|l| {
            l.iter()
                .map(|c| c["name"].as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// The only `warn` among `notes` (fails unless there is exactly one).
fn the_one_warning(notes: &[crate::Note]) -> &crate::Note {
    let warn: Vec<&crate::Note> = notes.iter().filter(|n| n.level == Level::Warn).collect();
    assert_eq!(warn.len(), 1, "{notes:?}");
    warn[0]
}

/// The pod step's answer for the first pod of `app` under `rules_doc`, and its notes.
fn pod_answer(app: &App, rules_doc: &Rules) -> (Value, Vec<crate::Note>) {
    let restore = Restore::of_app(app, rules_doc);
    let pod = &app.pods()[0];
    let item = velero_prepares_pod(pod, &restore.fsb.volumes_of(pod));
    let out = pod_step(&restore.inputs(), item_of(&item, pod)).unwrap();
    (out.item.unwrap_or(item), out.notes)
}

#[test]
fn a_sidecar_added_to_the_deployment_and_its_pods_lands_once() {
    let app = web();
    let rules_doc = rules(SIDECAR_FOR_WEB_AND_ITS_PODS);
    // The case is real: a pod carrying the Deployment's change gets the pod rule on top, and the
    // API server refuses two containers named `shipper` (the pod and its FSB data would be lost).
    let mut carried =
        velero_prepares_pod(&app.pods()[0], &app.fsb_index().volumes_of(&app.pods()[0]));
    carried["spec"]["containers"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "shipper", "image": "registry.example/shipper:1"}));
    let twice = VeleroEngine
        .apply_rules(&rules_doc, &carried, "pods")
        .object;
    assert_eq!(names(&twice, "containers"), ["app", "shipper", "shipper"]);

    let restored = restore_with_guard(&app, &rules_doc, &Settings::default(), |_| {});
    let pod = &restored.pods[0];
    assert_eq!(names(pod, "containers"), ["app", "shipper"]);
    assert_eq!(names(pod, "initContainers")[0], "restore-wait");
    assert!(
        controller_keeps_current(&restored),
        "the Deployment would roll"
    );
    let left = pod["metadata"]["annotations"][ANNOTATION_LEFT_TO_RULES]
        .as_str()
        .unwrap();
    assert_eq!(left, r#"["spec.containers (rules [1])"]"#);

    let (_, notes) = pod_answer(&app, &rules_doc);
    let warn = the_one_warning(&notes);
    assert!(warn.message.contains("rules [1]"), "{}", warn.message);
    assert!(warn.message.contains("spec.containers"));
    assert!(warn.message.contains("lands once"));
    assert!(!warn.message.contains("shipper"), "names no value");
}

#[test]
fn a_pod_rule_that_sets_what_the_change_sets_changes_nothing() {
    // `replace` of the image on the Deployment and on its pods: idempotent, nothing lands twice.
    let app = web();
    let rules_doc = rule_list(
        r#"
- conditions: {groupResource: deployments.apps}
  patches: [{operation: replace, path: /spec/template/spec/containers/0/image, value: "registry.example/app:2"}]
- conditions: {groupResource: pods}
  patches: [{operation: replace, path: /spec/containers/0/image, value: "registry.example/app:2"}]
"#,
    );
    let restored = restore_with_guard(&app, &rules_doc, &Settings::default(), |_| {});
    let pod = &restored.pods[0];
    assert_eq!(
        pod["spec"]["containers"][0]["image"],
        "registry.example/app:2"
    );
    assert!(pod["metadata"]["annotations"][ANNOTATION_LEFT_TO_RULES].is_null());
    let (_, notes) = pod_answer(&app, &rules_doc);
    assert!(notes.iter().all(|n| n.level != Level::Warn), "{notes:?}");
    assert!(
        notes
            .iter()
            .any(|n| n.message.contains("already holds their result"))
    );
}

#[test]
fn a_pod_rule_patching_on_top_of_the_change_is_reported_and_the_correction_kept() {
    // The Deployment gets image 2 and an env var; the pods get image 3: the pod rule wins the
    // image, the env var still comes from the template change.
    let app = web();
    let rules_doc = rule_list(
        r#"
- conditions: {groupResource: deployments.apps}
  patches:
  - {operation: replace, path: /spec/template/spec/containers/0/image, value: "registry.example/app:2"}
  - {operation: add, path: /spec/template/spec/containers/0/env, value: '[{"name":"MODE","value":"restored"}]'}
- conditions: {groupResource: pods}
  patches: [{operation: replace, path: /spec/containers/0/image, value: "registry.example/app:3"}]
"#,
    );
    let restored = restore_with_guard(&app, &rules_doc, &Settings::default(), |_| {});
    let pod = &restored.pods[0];
    assert_eq!(
        pod["spec"]["containers"][0]["image"],
        "registry.example/app:3"
    );
    assert_eq!(
        pod["spec"]["containers"][0]["env"],
        json!([{"name": "MODE", "value": "restored"}])
    );
    assert!(
        controller_keeps_current(&restored),
        "the Deployment would roll"
    );
    let (_, notes) = pod_answer(&app, &rules_doc);
    let warn = the_one_warning(&notes);
    assert!(warn.message.contains("rules [1]") && warn.message.contains("again"));
}

#[test]
fn the_plan_records_what_was_left_to_the_pod_rules() {
    let app = web();
    let rules_doc = rules(SIDECAR_FOR_WEB_AND_ITS_PODS);
    let plan: DeploymentPlan = offline(
        &app.backup(),
        &app.fsb_index(),
        &rules_doc,
        &Settings::default(),
    );
    let (_, corrected) = &plan.pods[0];
    let left: Vec<(&str, &[usize], Landing)> = corrected
        .later_rules
        .iter()
        .map(|l| (l.field.as_str(), l.rules.as_slice(), l.landing))
        .collect();
    assert_eq!(left, [("spec.containers", &[1][..], Landing::LeftToRules)]);
    // Pods of a Deployment the rules leave alone are untouched, whatever the pod rules do.
    let untouched = a_deployment("shop", "api").with_fsb_volume("data");
    let plan: DeploymentPlan = offline(
        &untouched.backup(),
        &untouched.fsb_index(),
        &rules_doc,
        &Settings::default(),
    );
    assert!(plan.change.is_none() && plan.pods.is_empty());
}

#[test]
fn a_sidecar_repeated_beside_another_container_change_is_left_to_the_pod_rule() {
    // The Deployment gets the sidecar and a new image; the pods get the sidecar only. Carried,
    // the sidecar would be added twice and the pod refused: the containers are left to the pod
    // rule, the pod keeps its image until the next rollout (its controller keeps it: no rollout).
    let app = web();
    let rules_doc = rule_list(
        r#"
- conditions: {groupResource: deployments.apps, resourceNameRegex: "^web$"}
  patches:
  - {operation: replace, path: /spec/template/spec/containers/0/image, value: "registry.example/app:2"}
  - {operation: add, path: /spec/template/spec/containers/-, value: '{"name":"shipper","image":"registry.example/shipper:1"}'}
- conditions: {groupResource: pods, resourceNameRegex: "^web-"}
  patches:
  - {operation: add, path: /spec/containers/-, value: '{"name":"shipper","image":"registry.example/shipper:1"}'}
"#,
    );
    let restored = restore_with_guard(&app, &rules_doc, &Settings::default(), |_| {});
    let pod = &restored.pods[0];
    assert_eq!(names(pod, "containers"), ["app", "shipper"]);
    assert_eq!(
        pod["spec"]["containers"][0]["image"],
        app.pods()[0]["spec"]["containers"][0]["image"]
    );
    assert!(
        controller_keeps_current(&restored),
        "the Deployment would roll"
    );
    let (_, notes) = pod_answer(&app, &rules_doc);
    let warn = the_one_warning(&notes);
    assert!(
        warn.message.contains("two members of one name"),
        "{}",
        warn.message
    );
}
