//! Whole-restore scenarios: Velero simulated around the guard's steps (pods → ReplicaSets →
//! Deployment, modifiers applied after each plugin call). Expected values come from each scenario's
//! intent (what the user's rule asks for), never from running the guard.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::*;
use crate::fixtures::*;
use crate::resources::Resource;
use crate::restore::Item;
use crate::toolkit::replicas::Replicas;
use crate::toolkit::template::{ANNOTATION_RE_EMITTED, ANNOTATION_WITHHELD};
use crate::{
    Level, Note, RestoreInputs, Scope, Settings, VeleroEngine, as_velero_hands_it, name_of,
};

const DEPLOYMENTS: &str = Resource::DEPLOYMENTS.group_resource();

/// Deployment `shop/web` whose pod holds FSB volume `data`.
fn web() -> App {
    a_deployment("shop", "web").with_fsb_volume("data")
}

/// The live ReplicaSet already carried what the Deployment will be created with.
fn assert_already_aligned(restored: &Restored) {
    assert_eq!(
        restored.deployment_decision,
        DeploymentDecision::AlreadyAligned
    );
}

/// The Deployment step of `d` (backed up) for `item`, against `live`.
fn deployment_step_of(
    inputs: &RestoreInputs<'_>,
    item: &Value,
    d: &Value,
    live: &Value,
) -> DeploymentOutcome {
    let target = live_target(
        inputs,
        Item {
            received: d,
            from_backup: d,
            restore: &json!({}),
        },
    )
    .unwrap()
    .expect("the Deployment is guarded");
    deployment_step(inputs, item_of(item, d), &target, Some(live)).unwrap()
}

fn container<'a>(pod: &'a Value, name: &str) -> &'a Value {
    pod["spec"]["containers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("container {name}"))
}

/// Without the guard the scenario must roll (else it proves nothing): the backed-up current
/// ReplicaSet's template differs from the Deployment's template after the modifiers.
fn assert_rolls_without_guard(app: &App, rules_doc: &fsb_modifiers::ResourceModifiers) {
    let engine = VeleroEngine;
    let after = engine
        .apply_rules(
            rules_doc,
            &as_velero_hands_it(&app.deployment()),
            DEPLOYMENTS,
        )
        .object;
    assert!(
        !engine.templates_equal(
            &app.replicasets()[0]["spec"]["template"],
            &after["spec"]["template"]
        ),
        "scenario would not roll without the guard"
    );
}

/// The key property: the controller adopts the restored ReplicaSet holding the pods, and every
/// pod's FSB volumes and restore-wait container are exactly as Velero prepared them.
fn assert_no_rollout_and_fsb_intact(app: &App, restored: &Restored) {
    assert!(
        controller_keeps_current(restored),
        "the Deployment would roll"
    );
    let fsb = app.fsb_index();
    let backed_up_pods = app.pods();
    for pod in &restored.pods {
        let backed_up = backed_up_pods
            .iter()
            .find(|p| name_of(p) == name_of(pod))
            .cloned()
            .expect("restored pod was backed up");
        let vols = fsb.volumes_of(&backed_up);
        let prepared = velero_prepares_pod(&backed_up, &vols);
        assert!(
            fsb_restore_intact(&prepared, pod, &vols),
            "FSB restore broken on {}",
            name_of(pod)
        );
    }
}

const RULES_8578: &str = r#"
version: v1
resourceModifierRules:
- conditions:
    groupResource: deployments.apps
    resourceNameRegex: "^(elasticsearch|growi)$"
    namespaces:
    - shop
    - wiki-*
  patches:
  - operation: add
    path: "/spec/template/"
    value: "{}"
  - operation: add
    path: "/spec/template/spec/"
    value: "{}"
  - operation: add
    path: "/spec/template/spec/affinity"
    value: "{}"
  - operation: add
    path: "/spec/template/spec/affinity/nodeAffinity"
    value: "{}"
  - operation: add
    path: "/spec/template/spec/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution"
    value: '{"nodeSelectorTerms":[{"matchExpressions":[{"key":"storage.example.com/tier","operator":"In","values":["ssd"]}]}]}'
  - operation: add
    path: "/spec/template/spec/tolerations"
    value: '[{"key":"storage.example.com/dedicated","operator":"Equal","value":"true","effect":"NoSchedule"}]'
"#;

#[test]
fn issue_8578_affinity_and_tolerations_reach_pods_and_replicaset_without_rollout() {
    let app = a_deployment("shop", "elasticsearch").with_fsb_volume("data");
    let rules_doc = rules(RULES_8578);
    assert_rolls_without_guard(&app, &rules_doc);
    let restored = restore_with_guard(&app, &rules_doc, &Settings::default(), |_| {});
    assert_no_rollout_and_fsb_intact(&app, &restored);
    let pod = &restored.pods[0];
    assert_eq!(
        pod["spec"]["tolerations"],
        json!([{"key": "storage.example.com/dedicated", "operator": "Equal", "value": "true", "effect": "NoSchedule"}])
    );
    assert_eq!(
        pod["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
            [0]["matchExpressions"][0]["values"],
        json!(["ssd"])
    );
    // The pod is annotated with paths only.
    let re_emitted = pod["metadata"]["annotations"][ANNOTATION_RE_EMITTED]
        .as_str()
        .unwrap();
    assert!(re_emitted.contains("spec.tolerations") && re_emitted.contains("spec.affinity"));
    assert!(!re_emitted.contains("ssd"), "values must not be recorded");
    assert_already_aligned(&restored);
}

#[test]
fn index_based_container_patch_lands_on_the_app_container_not_the_injected_proxy() {
    let app = web();
    let rules_doc = deployment_rules(&[
        r#"{operation: replace, path: /spec/template/spec/containers/0/image, value: "registry.example/app:2.0"}"#,
    ]);
    assert_rolls_without_guard(&app, &rules_doc);
    let inject_proxy = |pod: &mut Value| {
        let containers = pod["spec"]["containers"].as_array_mut().unwrap();
        containers.insert(0, json!({"name": "proxy", "image": "envoy:1.30"}));
    };
    let restored = restore_with_guard(&app, &rules_doc, &Settings::default(), inject_proxy);
    assert_no_rollout_and_fsb_intact(&app, &restored);
    let pod = &restored.pods[0];
    assert_eq!(container(pod, "app")["image"], "registry.example/app:2.0");
    assert_eq!(container(pod, "proxy")["image"], "envoy:1.30");
    assert_eq!(pod["spec"]["containers"][0]["name"], "proxy");
}

#[test]
fn strategic_env_patch_merges_by_name() {
    let app = web().with_env("LOG", "info");
    let rules_doc = rule_list(
        r#"
- conditions: {groupResource: deployments.apps, resourceNameRegex: "^web$"}
  strategicPatches:
  - patchData: |
      {"spec": {"template": {"spec": {"containers": [{"name": "app", "env": [{"name": "MODE", "value": "restored"}]}]}}}}
"#,
    );
    assert_rolls_without_guard(&app, &rules_doc);
    let restored = restore_with_guard(&app, &rules_doc, &Settings::default(), |_| {});
    assert_no_rollout_and_fsb_intact(&app, &restored);
    let env = &container(&restored.pods[0], "app")["env"];
    let names: BTreeSet<&str> = env
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, BTreeSet::from(["LOG", "MODE"]));
    assert!(
        env.as_array()
            .unwrap()
            .contains(&json!({"name": "MODE", "value": "restored"}))
    );
}

#[test]
fn merge_patch_on_node_selector() {
    let app = web();
    let rules_doc = rule_list(
        r#"
- conditions: {groupResource: deployments.apps}
  mergePatches:
  - patchData: |
      spec:
        template:
          spec:
            nodeSelector:
              disk: ssd
"#,
    );
    assert_rolls_without_guard(&app, &rules_doc);
    let restored = restore_with_guard(&app, &rules_doc, &Settings::default(), |_| {});
    assert_no_rollout_and_fsb_intact(&app, &restored);
    assert_eq!(
        restored.pods[0]["spec"]["nodeSelector"],
        json!({"disk": "ssd"})
    );
}

#[test]
fn rule_selected_by_a_deployment_label_the_pods_do_not_carry() {
    let app = web().with_deployment_label("tier", "storage");
    let rules_doc = rule_list(
        r#"
- conditions:
    groupResource: deployments.apps
    labelSelector: {matchLabels: {tier: storage}}
  patches:
  - {operation: add, path: /spec/template/spec/priorityClassName, value: critical}
"#,
    );
    // The pods do not carry the label, so a pod-scoped copy of this rule would miss them.
    assert!(app.pods()[0]["metadata"]["labels"].get("tier").is_none());
    assert_rolls_without_guard(&app, &rules_doc);
    let restored = restore_with_guard(&app, &rules_doc, &Settings::default(), |_| {});
    assert_no_rollout_and_fsb_intact(&app, &restored);
    assert_eq!(restored.pods[0]["spec"]["priorityClassName"], "critical");
}

const RULES_TEST_REPLICAS: &str = r#"
version: v1
resourceModifierRules:
- conditions: {groupResource: deployments.apps}
  patches:
  - {operation: test, path: /spec/replicas, value: "2"}
  - {operation: add, path: /spec/template/spec/hostname, value: restored}
"#;

#[test]
fn rule_guarded_by_a_test_on_replicas_applies_only_when_the_test_holds() {
    let rules_doc = rules(RULES_TEST_REPLICAS);
    // Two replicas: the test holds, the template changes, both pods get it.
    let two = web().with_replicas(2);
    assert_rolls_without_guard(&two, &rules_doc);
    let restored = restore_with_guard(&two, &rules_doc, &Settings::default(), |_| {});
    assert_no_rollout_and_fsb_intact(&two, &restored);
    assert_eq!(restored.pods.len(), 2);
    for pod in &restored.pods {
        assert_eq!(pod["spec"]["hostname"], "restored");
    }
    // One replica: the test fails, the rule is skipped, nothing changes anywhere.
    let one = a_deployment("shop", "web").with_fsb_volume("data");
    let plan = offline_plan(&one, &rules_doc, &Settings::default());
    assert!(plan.change.is_none() && !plan.rolls_without_guard);
    let restored = restore_with_guard(&one, &rules_doc, &Settings::default(), |_| {});
    assert!(restored.pods[0]["spec"].get("hostname").is_none());
    assert!(restored.pods[0]["metadata"].get("annotations").is_none());
    assert_eq!(
        restored.deployment_decision,
        DeploymentDecision::NothingToDo
    );
    assert!(controller_keeps_current(&restored));
}

#[test]
fn removing_an_fsb_volume_is_withheld_from_the_pod_and_reported() {
    let app = web();
    let rules_doc = deployment_rules(&[
        r#"{operation: remove, path: /spec/template/spec/containers/0/volumeMounts/0}"#,
        r#"{operation: remove, path: /spec/template/spec/volumes/0}"#,
    ]);
    assert_rolls_without_guard(&app, &rules_doc);
    let plan = offline_plan(&app, &rules_doc, &Settings::default());
    let (_, pod_plan) = &plan.pods[0];
    assert_eq!(pod_plan.withheld, ["spec.volumes[name=data]"]);
    let restored = restore_with_guard(&app, &rules_doc, &Settings::default(), |_| {});
    assert_no_rollout_and_fsb_intact(&app, &restored);
    let pod = &restored.pods[0];
    assert_eq!(
        pod["spec"]["volumes"],
        json!([{"name": "data", "emptyDir": {}}])
    );
    // The mount removal is the user's intent and does not endanger the restore: applied.
    assert!(
        container(pod, "app")
            .get("volumeMounts")
            .is_none_or(|m| m.as_array().unwrap().is_empty())
    );
    assert_eq!(
        pod["metadata"]["annotations"][ANNOTATION_WITHHELD],
        json!(r#"["spec.volumes[name=data]"]"#)
    );
    // The ReplicaSet carries the user's template (no data volume): it matches the Deployment.
    let rs_volumes = restored.live_current_replicaset["spec"]["template"]["spec"].get("volumes");
    assert!(rs_volumes.is_none_or(|v| v.as_array().is_some_and(Vec::is_empty)));
}

#[test]
fn deployment_without_fsb_pods_is_left_alone() {
    let app = a_deployment("shop", "web");
    let rules_doc = rules(RULES_8578.replace("elasticsearch", "web").as_str());
    let plan = offline_plan(&app, &rules_doc, &Settings::default());
    assert!(plan.rolls_without_guard);
    assert!(plan.skipped.is_some() && plan.pods.is_empty() && plan.replicasets.is_empty());
    let restored = restore_with_guard(&app, &rules_doc, &Settings::default(), |_| {});
    let prepared = velero_prepares_pod(&app.pods()[0], &BTreeSet::new());
    assert_eq!(restored.pods[0], prepared, "pod untouched");
    assert_eq!(
        restored.replicasets[0],
        as_velero_hands_it(&app.replicasets()[0]),
        "ReplicaSet untouched"
    );
    assert_eq!(
        restored.deployment_decision,
        DeploymentDecision::NothingToDo
    );
}

#[test]
fn all_workloads_scope_protects_deployments_without_fsb_too() {
    let app = a_deployment("shop", "web");
    let rules_doc = rules(RULES_8578.replace("elasticsearch", "web").as_str());
    let settings = Settings {
        scope: Scope::AllWorkloads,
        ..Settings::default()
    };
    let restored = restore_with_guard(&app, &rules_doc, &settings, |_| {});
    assert!(controller_keeps_current(&restored));
}

#[test]
fn past_revision_equal_to_the_new_template_is_set_apart() {
    let new_spec = json!({"containers": [{"name": "app", "image": "registry.example/app:2.0",
        "volumeMounts": [{"name": "data", "mountPath": "/data"}]}],
        "volumes": [{"name": "data", "emptyDir": {}}]});
    let app = web().with_past_revision("6f7c8d9b5", new_spec);
    let rules_doc = deployment_rules(&[
        r#"{operation: replace, path: /spec/template/spec/containers/0/image, value: "registry.example/app:2.0"}"#,
    ]);
    assert_rolls_without_guard(&app, &rules_doc);
    // Without the guard's step on the past revision, the controller could adopt it (equal to T').
    let engine = VeleroEngine;
    let target = engine
        .apply_rules(
            &rules_doc,
            &as_velero_hands_it(&app.deployment()),
            DEPLOYMENTS,
        )
        .object["spec"]["template"]
        .clone();
    assert!(engine.templates_equal(&app.replicasets()[1]["spec"]["template"], &target));
    let restored = restore_with_guard(&app, &rules_doc, &Settings::default(), |_| {});
    assert_no_rollout_and_fsb_intact(&app, &restored);
    assert_eq!(
        restored.replicasets[1]["spec"]["template"]["metadata"]["annotations"]
            [ANNOTATION_SUPERSEDED_BY],
        app.current_replicaset_name()
    );
}

#[test]
fn replicaset_rules_that_change_the_template_after_the_guard_are_aligned_at_the_deployment_step() {
    let app = web();
    let rules_doc = rule_list(
        r#"
- conditions: {groupResource: deployments.apps}
  patches:
  - {operation: add, path: /spec/template/spec/hostname, value: restored}
- conditions: {groupResource: replicasets.apps}
  patches:
  - {operation: add, path: /spec/template/metadata/annotations, value: '{"audit": "rs"}'}
"#,
    );
    let restored = restore_with_guard(&app, &rules_doc, &Settings::default(), |_| {});
    // The ReplicaSet as created differs from the Deployment (the RS rule added an annotation)…
    let engine = VeleroEngine;
    assert!(!engine.templates_equal(
        &restored.replicasets[0]["spec"]["template"],
        &restored.deployment["spec"]["template"]
    ));
    // …so the Deployment step aligned the live object with one patch.
    assert!(matches!(
        restored.deployment_decision,
        DeploymentDecision::Align { .. }
    ));
    assert_no_rollout_and_fsb_intact(&app, &restored);
}

#[test]
fn earlier_plugin_changes_to_the_deployment_are_aligned_and_reported() {
    let app = web();
    let rules_doc = deployment_rules(&[
        r#"{operation: add, path: /spec/template/spec/hostname, value: restored}"#,
    ]);
    let restore = Restore::of_app(&app, &rules_doc);
    let inputs = restore.inputs();
    let backup = &restore.backup;
    // The RS step ran with T' from the backup.
    let rs_item = as_velero_hands_it(&backup.replicasets[0]);
    let live = replicaset_step(&inputs, item_of(&rs_item, &backup.replicasets[0]))
        .unwrap()
        .item
        .unwrap();
    // Another plugin changed the Deployment's image before us.
    let mut item = as_velero_hands_it(&backup.deployments[0]);
    item["spec"]["template"]["spec"]["containers"][0]["image"] = json!("registry.example/app:9");
    let out = deployment_step_of(&inputs, &item, &backup.deployments[0], &live);
    let DeploymentDecision::Align { patch, pods_lack } = out.decision else {
        panic!("expected an alignment, got {:?}", out.decision)
    };
    assert_eq!(pods_lack, ["spec.containers[name=app].image"]);
    let aligned = apply_json_patch(&live, &patch);
    let engine = &restore.engine;
    let final_deployment = engine.apply_rules(&rules_doc, &item, DEPLOYMENTS).object;
    assert!(engine.templates_equal(
        &aligned["spec"]["template"],
        &final_deployment["spec"]["template"]
    ));
    assert_eq!(
        aligned["spec"]["template"]["metadata"]["labels"]["pod-template-hash"],
        app.hash.as_str()
    );
}

#[test]
fn rules_on_all_apps_resources_land_once_on_the_replicaset() {
    // `*.apps` selects Deployments and ReplicaSets alike: Velero patches the ReplicaSet itself, so
    // the guard must not add the change a second time.
    let app = web().with_env("LOG", "info");
    let rules_doc = rule_list(
        r#"
- conditions: {groupResource: "*.apps"}
  patches:
  - {operation: add, path: /spec/template/spec/tolerations, value: '[{"key": "dr", "operator": "Exists"}]'}
  - {operation: add, path: /spec/template/spec/containers/0/env/-, value: '{"name": "MODE", "value": "dr"}'}
"#,
    );
    let restored = restore_with_guard(&app, &rules_doc, &Settings::default(), |_| {});
    assert_no_rollout_and_fsb_intact(&app, &restored);
    assert_eq!(
        restored.live_current_replicaset["spec"]["template"]["spec"]["tolerations"],
        json!([{"key": "dr", "operator": "Exists"}])
    );
    // The append is not idempotent: applied twice it would list MODE twice.
    let both = json!([{"name": "LOG", "value": "info"}, {"name": "MODE", "value": "dr"}]);
    assert_eq!(
        restored.live_current_replicaset["spec"]["template"]["spec"]["containers"][0]["env"],
        both
    );
    assert_eq!(container(&restored.pods[0], "app")["env"], both);
    assert_already_aligned(&restored);
}

#[test]
fn notes_name_workloads_and_paths_but_never_patch_values() {
    let app = web();
    let rules_doc = deployment_rules(&[
        r#"{operation: add, path: /spec/template/spec/containers/0/env, value: '[{"name": "TOKEN", "value": "s3cr3t-value"}]'}"#,
        r#"{operation: remove, path: /spec/template/spec/volumes/0}"#,
    ]);
    let restore = Restore::of_app(&app, &rules_doc);
    let inputs = restore.inputs();
    let (backup, fsb) = (&restore.backup, &restore.fsb);
    let pod = &backup.pods[0];
    let item = velero_prepares_pod(pod, &fsb.volumes_of(pod));
    let pod_out = pod_step(&inputs, item_of(&item, pod)).unwrap();
    assert!(pod_out.item.is_some());
    let rs = &backup.replicasets[0];
    let rs_out = replicaset_step(&inputs, item_of(&as_velero_hands_it(rs), rs)).unwrap();
    // The live ReplicaSet missed the correction: the Deployment step aligns it (the patch holds the
    // value) and writes its summary.
    let d = &backup.deployments[0];
    let d_out = deployment_step_of(&inputs, &as_velero_hands_it(d), d, &as_velero_hands_it(rs));
    assert!(matches!(d_out.decision, DeploymentDecision::Align { .. }));
    let notes: Vec<&Note> = pod_out
        .notes
        .iter()
        .chain(&rs_out.notes)
        .chain(&d_out.notes)
        .collect();
    let text: String = notes
        .iter()
        .map(|n| format!("{} {}\n", n.workload, n.message))
        .collect();
    assert!(
        notes.iter().all(|n| n.workload == "Deployment shop/web"),
        "{text}"
    );
    assert!(
        text.contains("spec.containers[name=app].env[name=TOKEN]"),
        "{text}"
    );
    assert!(
        notes
            .iter()
            .any(|n| n.level == Level::Warn && n.message.contains("spec.volumes[name=data]"))
    );
    assert!(
        notes
            .iter()
            .any(|n| n.level == Level::Info && n.message.contains("aligned"))
    );
    assert!(
        !text.contains("s3cr3t"),
        "a patch value reached the log:\n{text}"
    );
}

#[test]
fn removing_the_whole_volume_list_keeps_the_fsb_volume_on_the_pod() {
    let app = web().with_volume(json!({"name": "scratch", "emptyDir": {}}), "/scratch");
    let rules_doc = deployment_rules(&[
        r#"{operation: remove, path: /spec/template/spec/containers/0/volumeMounts}"#,
        r#"{operation: remove, path: /spec/template/spec/volumes}"#,
    ]);
    assert_rolls_without_guard(&app, &rules_doc);
    let restored = restore_with_guard(&app, &rules_doc, &Settings::default(), |_| {});
    assert_no_rollout_and_fsb_intact(&app, &restored);
    let pod = &restored.pods[0];
    let names: Vec<&str> = pod["spec"]["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"data"), "{names:?}");
    let withheld = pod["metadata"]["annotations"][ANNOTATION_WITHHELD]
        .as_str()
        .unwrap();
    assert!(withheld.contains("spec.volumes"), "{withheld}");
}

fn init_container_names(pod: &Value) -> Vec<&str> {
    pod["spec"]["initContainers"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| c["name"].as_str().unwrap_or_default())
        .collect()
}

#[test]
fn an_init_container_added_by_a_rule_runs_after_restore_wait() {
    // Velero's node agent restores the data while restore-wait runs; an app init container placed
    // before it would run on an empty volume. The rule's container is the user's intent: applied,
    // after restore-wait, nothing withheld.
    let app = web();
    let rules_doc = rule_list(
        r#"
- conditions: {groupResource: deployments.apps}
  patches:
  - operation: add
    path: /spec/template/spec/initContainers
    value: '[{"name": "migrate", "image": "registry.example/migrate:1"}]'
"#,
    );
    assert_rolls_without_guard(&app, &rules_doc);
    let plan = offline_plan(&app, &rules_doc, &Settings::default());
    let (_, pod_plan) = &plan.pods[0];
    assert!(pod_plan.withheld.is_empty(), "{:?}", pod_plan.withheld);
    assert!(pod_plan.broken.is_empty(), "{:?}", pod_plan.broken);
    let restored = restore_with_guard(&app, &rules_doc, &Settings::default(), |_| {});
    assert_no_rollout_and_fsb_intact(&app, &restored);
    let pod = &restored.pods[0];
    assert_eq!(init_container_names(pod), ["restore-wait", "migrate"]);
    let fsb = app.fsb_index();
    let prepared = velero_prepares_pod(&app.pods()[0], &fsb.volumes_of(&app.pods()[0]));
    assert_eq!(
        pod["spec"]["initContainers"][0], prepared["spec"]["initContainers"][0],
        "restore-wait unchanged"
    );
    assert!(
        pod["metadata"]["annotations"]
            .get(ANNOTATION_WITHHELD)
            .is_none()
    );
}

#[test]
fn a_rule_that_changes_restore_wait_itself_is_still_withheld() {
    // The template names an init container `restore-wait` (as a Velero-restored workload might):
    // changing it would change the container Velero inserted, so that part stays withheld.
    let mut app = a_deployment("shop", "web").with_fsb_volume("data");
    app.template_spec["initContainers"] = json!([{"name": "restore-wait", "image": "old"}]);
    let rules_doc = deployment_rules(&[
        r#"{operation: replace, path: /spec/template/spec/initContainers/0/image, value: new}"#,
    ]);
    let plan = offline_plan(&app, &rules_doc, &Settings::default());
    let (_, pod_plan) = &plan.pods[0];
    assert_eq!(
        pod_plan.withheld,
        ["spec.initContainers[name=restore-wait]"]
    );
}

#[test]
fn the_template_change_is_computed_once_per_deployment_not_per_pod() {
    // Three pods and a ReplicaSet of one Deployment: T' and diff(T, T') are the same for all four
    // items, so one rule evaluation on the Deployment and one diff serve the restore.
    let app = web().with_replicas(3);
    let rules_doc = rules(RULES_8578.replace("elasticsearch", "web").as_str());
    let restore = Restore::of_app(&app, &rules_doc);
    let inputs = restore.inputs();
    let (backup, fsb) = (&restore.backup, &restore.fsb);
    use crate::engine::counted::{DEPLOYMENT_RULE_RUNS, DIFFS};
    DEPLOYMENT_RULE_RUNS.with(|n| n.set(0));
    DIFFS.with(|n| n.set(0));
    for pod in &backup.pods {
        let item = velero_prepares_pod(pod, &fsb.volumes_of(pod));
        let out = pod_step(&inputs, item_of(&item, pod)).unwrap();
        assert!(out.item.is_some(), "pod corrected");
    }
    let rs = &backup.replicasets[0];
    let out = replicaset_step(&inputs, item_of(&as_velero_hands_it(rs), rs)).unwrap();
    assert!(out.item.is_some(), "ReplicaSet corrected");
    assert_eq!(DEPLOYMENT_RULE_RUNS.with(|n| n.get()), 1);
    assert_eq!(DIFFS.with(|n| n.get()), 1);
}

// ---- Replica-count changes (issue 8). Expected values follow from the rule (the replica count
// the user asks for) and from which pod holds the backup data, never from running the guard.

fn replicas_rule(to: u64) -> fsb_modifiers::ResourceModifiers {
    rules(&format!(
        "version: v1\nresourceModifierRules:\n- conditions: {{groupResource: deployments.apps, resourceNameRegex: \"^web$\"}}\n  patches:\n  - {{operation: replace, path: /spec/replicas, value: \"{to}\"}}\n"
    ))
}

fn names(pods: &[Value]) -> Vec<&str> {
    pods.iter().map(name_of).collect()
}

/// What the controllers do with the restored objects: the ReplicaSet controller deletes pods
/// beyond `spec.replicas` of the current ReplicaSet, the Deployment controller scales it to the
/// Deployment's replicas. Nothing is deleted when both equal the restored pods of that ReplicaSet.
fn assert_controllers_delete_nothing(app: &App, restored: &Restored) {
    let current = app.current_replicaset_name();
    let restored_current = restored
        .pods
        .iter()
        .filter(|p| p["metadata"]["labels"]["pod-template-hash"] == app.hash.as_str())
        .count() as u64;
    assert_eq!(
        restored.live_current_replicaset["spec"]["replicas"],
        json!(restored_current),
        "ReplicaSet {current} would delete or create pods"
    );
    assert_eq!(
        restored.deployment["spec"]["replicas"],
        restored.live_current_replicaset["spec"]["replicas"],
        "the Deployment would scale ReplicaSet {current}"
    );
}

#[test]
fn lowering_replicas_keeps_the_pod_holding_a_shared_volume_backup_and_deletes_nothing() {
    // Three pods share one RWX claim; Velero backed it up once, through pod 2.
    let app = a_deployment("shop", "web")
        .with_replicas(3)
        .with_shared_fsb_claim("shared", 2);
    let restored = restore_with_guard(&app, &replicas_rule(1), &Settings::default(), |_| {});
    assert_eq!(names(&restored.pods), ["web-5d894cc6b7-pod2"]);
    assert_eq!(
        restored.skipped_pods,
        ["web-5d894cc6b7-pod0", "web-5d894cc6b7-pod1"]
    );
    assert_eq!(restored.replicasets[0]["spec"]["replicas"], 1);
    assert_eq!(
        restored.replicasets[0]["metadata"]["annotations"][ANNOTATION_DESIRED_REPLICAS],
        "1"
    );
    assert_controllers_delete_nothing(&app, &restored);
    assert!(controller_keeps_current(&restored), "no rollout either");
    assert_no_rollout_and_fsb_intact(&app, &restored);
}

#[test]
fn per_pod_data_beyond_the_new_count_is_dropped_with_a_warning_per_pod_and_volume() {
    let app = a_deployment("shop", "web")
        .with_replicas(3)
        .with_fsb_volume("data")
        .with_fsb_volume("logs");
    let rules_doc = replicas_rule(2);
    let restored = restore_with_guard(&app, &rules_doc, &Settings::default(), |_| {});
    // Every pod holds its own data: the first two by name are kept.
    assert_eq!(
        names(&restored.pods),
        ["web-5d894cc6b7-pod0", "web-5d894cc6b7-pod1"]
    );
    assert_eq!(restored.skipped_pods, ["web-5d894cc6b7-pod2"]);
    assert_controllers_delete_nothing(&app, &restored);
    // The pod step's notes: one warn per dropped volume, naming pod and volume, counts only.
    let restore = Restore::of_app(&app, &rules_doc);
    let inputs = restore.inputs();
    let (backup, fsb) = (&restore.backup, &restore.fsb);
    let pod = &backup.pods[2];
    let out = pod_step(
        &inputs,
        item_of(&velero_prepares_pod(pod, &fsb.volumes_of(pod)), pod),
    )
    .unwrap();
    assert!(out.skip_restore && out.item.is_none());
    let warns: Vec<&str> = out
        .notes
        .iter()
        .filter(|n| n.level == Level::Warn)
        .map(|n| n.message.as_str())
        .collect();
    assert_eq!(warns.len(), 2, "{warns:?}");
    assert!(warns[0].starts_with("pod shop/web-5d894cc6b7-pod2: not restored (skipRestore)"));
    assert!(warns[0].contains("volume data will not be restored"));
    assert!(warns[1].contains("volume logs will not be restored"));
    assert!(warns[0].contains("3 -> 2"));
    // The Deployment step's summary names the change and the lost data.
    let d = &backup.deployments[0];
    let live = restored.live_current_replicaset.clone();
    let d_out = deployment_step_of(&inputs, &as_velero_hands_it(d), d, &live);
    assert_eq!(d_out.decision, DeploymentDecision::NothingToDo);
    let summary = &d_out.notes[0];
    assert_eq!(summary.level, Level::Info);
    assert!(
        summary.message.starts_with(
            "replica change kept off the scale-down path: replicas lowered 3 -> 2: 2 of 3 pods restored, 1 skipped (skipRestore)"
        ),
        "{}",
        summary.message
    );
    assert!(
        summary
            .message
            .contains(r#"["web-5d894cc6b7-pod2/data", "web-5d894cc6b7-pod2/logs"]"#)
    );
}

#[test]
fn lowering_replicas_to_zero_restores_no_pod() {
    let app = a_deployment("shop", "web")
        .with_replicas(2)
        .with_fsb_volume("data");
    let restored = restore_with_guard(&app, &replicas_rule(0), &Settings::default(), |_| {});
    assert!(restored.pods.is_empty());
    assert_eq!(restored.skipped_pods.len(), 2);
    assert_eq!(restored.replicasets[0]["spec"]["replicas"], 0);
    assert_controllers_delete_nothing(&app, &restored);
}

#[test]
fn raising_replicas_needs_nothing() {
    let app = a_deployment("shop", "web")
        .with_replicas(1)
        .with_fsb_volume("data");
    let restored = restore_with_guard(&app, &replicas_rule(3), &Settings::default(), |_| {});
    assert!(restored.skipped_pods.is_empty());
    // Restored as backed up: the controller creates the two new pods.
    assert_eq!(
        restored.replicasets[0],
        as_velero_hands_it(&app.replicasets()[0])
    );
    assert_eq!(restored.deployment["spec"]["replicas"], 3);
}

#[test]
fn the_live_replicaset_is_scaled_to_the_new_count_when_it_missed_the_step() {
    let app = a_deployment("shop", "web")
        .with_replicas(3)
        .with_fsb_volume("data");
    let rules_doc = replicas_rule(1);
    let restore = Restore::of_app(&app, &rules_doc);
    let inputs = restore.inputs();
    let backup = &restore.backup;
    // Created as backed up (another plugin undid the guard's ReplicaSet step): 3 replicas.
    let mut live = as_velero_hands_it(&backup.replicasets[0]);
    live["metadata"]["resourceVersion"] = json!("500");
    let d = &backup.deployments[0];
    let out = deployment_step_of(&inputs, &as_velero_hands_it(d), d, &live);
    let DeploymentDecision::Align { patch, pods_lack } = &out.decision else {
        panic!("expected an alignment, got {:?}", out.decision)
    };
    assert!(pods_lack.is_empty());
    let aligned = apply_json_patch(&live, patch);
    assert_eq!(aligned["spec"]["replicas"], 1);
    assert_eq!(aligned["spec"]["template"], live["spec"]["template"]);
    assert!(
        out.notes[0]
            .message
            .ends_with("ReplicaSet web-5d894cc6b7 scaled to 1 replicas"),
        "{}",
        out.notes[0].message
    );
}

#[test]
fn template_and_replica_changes_land_on_the_same_replicaset() {
    let app = a_deployment("shop", "elasticsearch")
        .with_replicas(3)
        .with_fsb_volume("data");
    let doc = format!(
        "{}- conditions: {{groupResource: deployments.apps}}\n  patches:\n  - {{operation: replace, path: /spec/replicas, value: \"1\"}}\n",
        RULES_8578.trim_start()
    );
    let rules_doc = rules(&doc);
    assert_rolls_without_guard(&app, &rules_doc);
    let restored = restore_with_guard(&app, &rules_doc, &Settings::default(), |_| {});
    assert_eq!(names(&restored.pods), ["elasticsearch-5d894cc6b7-pod0"]);
    assert!(restored.pods[0]["spec"]["tolerations"].is_array());
    let rs = &restored.replicasets[0];
    assert_eq!(rs["spec"]["replicas"], 1);
    assert!(rs["spec"]["template"]["spec"]["tolerations"].is_array());
    assert_no_rollout_and_fsb_intact(&app, &restored);
    assert_controllers_delete_nothing(&app, &restored);
    assert_already_aligned(&restored);
}

#[test]
fn mid_rollout_backup_keeps_older_pods_and_stops_the_proportional_scale_down() {
    // The backup caught a rollout: the current ReplicaSet runs 2 pods, the older one 2 more.
    let older = json!({"containers": [{"name": "app", "image": "registry.example/app:0.9",
        "volumeMounts": [{"name": "data", "mountPath": "/data"}]}],
        "volumes": [{"name": "data", "emptyDir": {}}]});
    let app = a_deployment("shop", "web")
        .with_replicas(2)
        .with_fsb_volume("data")
        .with_older_revision_running("6f7c8d9b5", older, 2);
    let restored = restore_with_guard(&app, &replicas_rule(1), &Settings::default(), |_| {});
    assert_eq!(
        names(&restored.pods),
        [
            "web-5d894cc6b7-pod0",
            "web-6f7c8d9b5-pod0",
            "web-6f7c8d9b5-pod1"
        ]
    );
    assert_eq!(restored.skipped_pods, ["web-5d894cc6b7-pod1"]);
    let (current, older) = (&restored.replicasets[0], &restored.replicasets[1]);
    assert_eq!(current["spec"]["replicas"], 1);
    // The older ReplicaSet keeps its pods and replicas; its desired-replicas equals the
    // Deployment's so the controller resumes the rollout (scaling only older ReplicaSets down)
    // instead of scaling every active ReplicaSet proportionally.
    assert_eq!(older["spec"]["replicas"], 2);
    for rs in [current, older] {
        assert_eq!(
            rs["metadata"]["annotations"][ANNOTATION_DESIRED_REPLICAS],
            restored.deployment["spec"]["replicas"].to_string()
        );
    }
    assert_controllers_delete_nothing(&app, &restored);
}

#[test]
fn a_deployment_without_fsb_pods_keeps_all_its_pods_when_lowered() {
    // Scope fsb-only: nothing to protect, the controller scales as it likes.
    let app = a_deployment("shop", "web").with_replicas(3);
    let restored = restore_with_guard(&app, &replicas_rule(1), &Settings::default(), |_| {});
    assert!(restored.skipped_pods.is_empty());
    assert_eq!(restored.pods.len(), 3);
    assert_eq!(restored.replicasets[0]["spec"]["replicas"], 3);
}

#[test]
fn an_unparseable_replica_count_is_reported_and_left_alone() {
    let app = a_deployment("shop", "web")
        .with_replicas(3)
        .with_fsb_volume("data");
    let rules_doc = rules(
        "version: v1\nresourceModifierRules:\n- conditions: {groupResource: deployments.apps}\n  patches:\n  - {operation: replace, path: /spec/replicas, value: '\"1\"'}\n",
    );
    let restored = restore_with_guard(&app, &rules_doc, &Settings::default(), |_| {});
    assert!(restored.skipped_pods.is_empty());
    let plan = offline_plan(&app, &rules_doc, &Settings::default());
    assert_eq!(plan.replicas.to, Replicas::Unparseable("string"));
    assert_eq!(plan.replicas.choice, None);
}
