//! `--emit-pod-rules`: the generated ConfigMap, applied by the rule engine to the backed-up pods and
//! ReplicaSets (as Velero hands them to the modifiers), gives the same pods as the plugin's
//! correction (semantic equality) and ReplicaSets whose template equals the Deployment's final
//! template (no rollout) — for a cluster without the plugin.

mod check_support;

use check_support::{App, Layout, app, write, write_backup};
use fsb_guard_core::{VeleroEngine, as_velero_hands_it};
use serde_json::{Value, json};
use velero_fsb_guard::check::{self, CheckArgs, input};

/// Drops the plugin's own `fsb-guard.io/` bookkeeping annotations (rules cannot and need not
/// reproduce them).
fn without_guard_annotations(mut pod: Value) -> Value {
    if let Some(a) = pod
        .pointer_mut("/metadata/annotations")
        .and_then(Value::as_object_mut)
    {
        a.retain(|k, _| !k.starts_with("fsb-guard.io/"));
    }
    pod
}

fn assert_equivalent(apps: &[App], rules_text: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let backup = write_backup(dir.path(), apps, Layout::Bucket);
    let rules_path = write(dir.path(), "rules.yaml", rules_text);
    let emitted_path = dir.path().join("pod-rules.yaml");
    let args = CheckArgs {
        backup: Some(backup),
        resource_modifiers: Some(rules_path),
        emit_pod_rules: Some(emitted_path.clone()),
        ..CheckArgs::default()
    };
    let outcome = check::check(&args, &mut |_, _| {}).unwrap();
    let emitted_text = std::fs::read_to_string(&emitted_path).unwrap();
    let emitted = input::parse_rules(&emitted_text, "emitted")
        .unwrap_or_else(|e| panic!("emitted rules do not parse: {e}\n{emitted_text}"));
    let original = input::parse_rules(rules_text, "original").unwrap();
    let engine = VeleroEngine;
    let mut corrected = 0;
    for plan in &outcome.analysis.plans.deployments {
        let app = apps.iter().find(|a| a.name == plan.deployment).unwrap();
        // Pods: plugin output + original rules  ==  backed-up pod + emitted rules.
        for pod in app.pods() {
            let name = pod["metadata"]["name"].as_str().unwrap();
            let correction = plan.pods.iter().find(|(n, _)| n == name).map(|(_, c)| c);
            let with_plugin = match correction {
                Some(c) => c.item.clone(),
                None => as_velero_hands_it(&pod),
            };
            let with_plugin = engine
                .apply_rules(&original.rules, &with_plugin, "pods")
                .object;
            let with_rules = engine
                .apply_rules(&emitted.rules, &as_velero_hands_it(&pod), "pods")
                .object;
            if correction.is_some_and(|c| !c.re_emitted.is_empty()) {
                assert_ne!(
                    with_rules,
                    as_velero_hands_it(&pod),
                    "pod {name}: rules changed nothing"
                );
            }
            assert!(
                fsb_smp::semantically_equal(
                    &without_guard_annotations(with_plugin.clone()),
                    &without_guard_annotations(with_rules.clone()),
                    fsb_smp::Root::POD
                ),
                "pod {name}: plugin {with_plugin:#}\nrules {with_rules:#}\n{emitted_text}"
            );
        }
        if plan.change.is_some() && plan.skipped.is_none() {
            corrected += 1;
            // ReplicaSet and Deployment created from the emitted rules: equal templates.
            let rs = engine
                .apply_rules(
                    &emitted.rules,
                    &as_velero_hands_it(&app.replicaset()),
                    "replicasets.apps",
                )
                .object;
            let d = engine
                .apply_rules(
                    &emitted.rules,
                    &as_velero_hands_it(&app.deployment()),
                    "deployments.apps",
                )
                .object;
            assert!(
                engine.templates_equal(&rs["spec"]["template"], &d["spec"]["template"]),
                "ReplicaSet {} would not be adopted: {:#}\nvs {:#}",
                app.rs_name(),
                rs["spec"]["template"],
                d["spec"]["template"]
            );
        }
    }
    assert!(corrected > 0, "scenario corrects nothing");
    emitted_text
}

fn doc(rules: &str) -> String {
    format!("version: v1\nresourceModifierRules:\n{rules}")
}

#[test]
fn issue_8578_rules() {
    let text = assert_equivalent(
        &[
            app("shop", "growi", "5d894cc6b7")
                .fsb_volume("data")
                .replicas(2),
            app("shop", "elasticsearch", "75fd944486").fsb_volume("data"),
        ],
        include_str!("../examples/modifiers-8578.yaml"),
    );
    // What it cannot do is said in the file.
    assert!(text.contains("cannot do"));
    assert!(text.contains("by exact name"));
    assert!(text.contains("groupResource: \"pods\""));
    assert!(text.contains("groupResource: \"replicasets.apps\""));
}

#[test]
fn index_based_patch_with_sidecar_becomes_a_by_name_pod_patch() {
    assert_equivalent(
        &[app("shop", "web", "6d4cf56db6")
            .fsb_volume("data")
            .sidecar("istio-proxy", "proxy:1")],
        &doc(
            "- conditions: {groupResource: deployments.apps}\n  patches:\n  - {operation: replace, path: /spec/template/spec/containers/0/image, value: registry.example/app:2.0}\n",
        ),
    );
}

#[test]
fn strategic_env_and_merge_node_selector() {
    assert_equivalent(
        &[app("shop", "web", "6d4cf56db6")
            .fsb_volume("data")
            .env("LOG", "debug")],
        &doc(
            "- conditions: {groupResource: deployments.apps}\n  strategicPatches:\n  - patchData: '{\"spec\":{\"template\":{\"spec\":{\"containers\":[{\"name\":\"app\",\"env\":[{\"name\":\"MODE\",\"value\":\"fast\"}]}]}}}}'\n- conditions: {groupResource: deployments.apps}\n  mergePatches:\n  - patchData: '{\"spec\":{\"template\":{\"spec\":{\"nodeSelector\":{\"disk\":\"ssd\"}}}}}'\n",
        ),
    );
}

#[test]
fn withheld_fsb_volume_removal_stays_withheld_in_the_rules() {
    let text = assert_equivalent(
        &[app("shop", "web", "6d4cf56db6")
            .fsb_volume("data")
            .volume(json!({"name": "cache", "emptyDir": {}}), "/cache")],
        &doc(
            "- conditions: {groupResource: deployments.apps}\n  strategicPatches:\n  - patchData: '{\"spec\":{\"template\":{\"spec\":{\"volumes\":[{\"name\":\"data\",\"$patch\":\"delete\"}],\"containers\":[{\"name\":\"app\",\"image\":\"registry.example/app:2.0\"}]}}}}'\n",
        ),
    );
    assert!(text.contains("withheld spec.volumes[name=data]"), "{text}");
}

#[test]
fn past_revision_is_set_apart_by_the_rules_too() {
    let mut old_spec = app("shop", "web", "x").fsb_volume("data").template_spec;
    old_spec["containers"][0]["image"] = json!("registry.example/app:2.0");
    let web = app("shop", "web", "6d4cf56db6")
        .fsb_volume("data")
        .past_revision("59c8f7b6d5", old_spec);
    let rules = doc(
        "- conditions: {groupResource: deployments.apps}\n  patches:\n  - {operation: replace, path: /spec/template/spec/containers/0/image, value: registry.example/app:2.0}\n",
    );
    let text = assert_equivalent(std::slice::from_ref(&web), &rules);
    let emitted = input::parse_rules(&text, "emitted").unwrap();
    let engine = VeleroEngine;
    let past = engine
        .apply_rules(
            &emitted.rules,
            &as_velero_hands_it(&web.past_replicaset(0)),
            "replicasets.apps",
        )
        .object;
    let d = engine
        .apply_rules(
            &emitted.rules,
            &as_velero_hands_it(&web.deployment()),
            "deployments.apps",
        )
        .object;
    assert!(
        !engine.templates_equal(&past["spec"]["template"], &d["spec"]["template"]),
        "the past revision would be adopted instead of the ReplicaSet holding the FSB pod"
    );
}
