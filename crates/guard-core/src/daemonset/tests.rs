//! Unit tests of the DaemonSet decisions. Expected values come from the Kubernetes facts (the API
//! server's generation handling, the controller's pod shape) and each rule's intent.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::*;
use crate::fixtures::*;
use crate::{Item, Level, Settings, VeleroEngine, as_velero_hands_it};

fn generation_of(annotation: Option<&str>) -> RestoredGeneration {
    let annotations = match annotation {
        Some(v) => json!({TEMPLATE_GENERATION_ANNOTATION: v}),
        None => json!({"other": "x"}),
    };
    RestoredGeneration::of(&json!({"metadata": {"annotations": annotations}}))
}

#[test]
fn the_api_server_keeps_the_annotation_raises_it_to_one_and_rejects_garbage() {
    // strconv.ParseInt(s, 10, 64), then PrepareForCreate: below 1 becomes 1.
    assert_eq!(generation_of(Some("3")), RestoredGeneration::Kept(3));
    assert_eq!(generation_of(Some("+4")).label().as_deref(), Some("4"));
    assert_eq!(generation_of(Some("007")).label().as_deref(), Some("7"));
    assert_eq!(generation_of(Some("0")).label().as_deref(), Some("1"));
    assert_eq!(generation_of(Some("-2")).label().as_deref(), Some("1"));
    // Absent: spec.templateGeneration stays 0 after conversion, PrepareForCreate makes it 1.
    assert_eq!(generation_of(None), RestoredGeneration::Removed);
    assert_eq!(generation_of(None).label().as_deref(), Some("1"));
    // Not an integer: the conversion fails, the DaemonSet is rejected.
    for bad in ["x", "", " 3", "3.0", "1_000"] {
        assert_eq!(
            generation_of(Some(bad)),
            RestoredGeneration::Unparseable,
            "{bad:?}"
        );
        assert_eq!(generation_of(Some(bad)).label(), None);
    }
    let not_a_string = json!({"metadata": {"annotations": {TEMPLATE_GENERATION_ANNOTATION: 3}}});
    assert_eq!(
        RestoredGeneration::of(&not_a_string),
        RestoredGeneration::Unparseable
    );
}

#[test]
fn node_eligibility_is_node_selector_node_affinity_tolerations_and_node_name() {
    let paths: Vec<String> = [
        "spec.nodeSelector.disk",
        "spec.nodeSelectorX",
        "spec.affinity",
        "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution",
        "spec.affinity.podAntiAffinity",
        "spec.tolerations",
        "spec.nodeName",
        "spec.containers[name=agent].env[name=MODE]",
    ]
    .map(str::to_owned)
    .to_vec();
    assert_eq!(
        node_eligibility_paths(&paths),
        [
            "spec.nodeSelector.disk",
            "spec.affinity",
            "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution",
            "spec.tolerations",
            "spec.nodeName",
        ]
    );
}

fn change_of(app: &DaemonSetApp, rules: &fsb_modifiers::ResourceModifiers) -> DaemonSetChange {
    let ds = app.daemonset();
    daemonset_change(
        &VeleroEngine,
        rules,
        &as_velero_hands_it(&ds),
        &ds["spec"]["template"],
        backed_up_generation(&ds),
    )
    .unwrap()
}

fn corrected(decision: DaemonSetPodDecision) -> DaemonSetPodCorrection {
    match decision {
        DaemonSetPodDecision::Corrected(c) => *c,
        other => panic!("expected a correction, got {other:?}"),
    }
}

/// The pod decision for backed-up `pod` as Velero hands it, with no FSB volume.
fn decide_without_fsb_volumes(pod: &Value, change: &DaemonSetChange) -> DaemonSetPodDecision {
    correct_daemonset_pod(
        &VeleroEngine,
        &daemonset_rules(&[ADD_ENV]), // selects no pod: nothing lands after the plugin
        &as_velero_hands_it(pod),
        pod_generation(pod),
        change,
        &BTreeSet::new(),
    )
    .unwrap()
}

fn prepared(app: &DaemonSetApp, pod: &Value) -> (Value, BTreeSet<String>) {
    let volumes = app.fsb_index().volumes_of(pod);
    (velero_prepares_pod(pod, &volumes), volumes)
}

#[test]
fn a_current_pod_gets_the_new_env_keeps_its_fsb_restore_and_its_generation() {
    let app = a_daemonset("shop", "agent")
        .with_fsb_volume("data")
        .at_generation(3);
    let change = change_of(&app, &daemonset_rules(&[ADD_ENV]));
    assert!(change.change.is_some() && !change.relabels());
    let pod = &app.pods()[0];
    let (item, volumes) = prepared(&app, pod);
    let c = corrected(
        correct_daemonset_pod(
            &VeleroEngine,
            &daemonset_rules(&[ADD_ENV]),
            &item,
            pod_generation(pod),
            &change,
            &volumes,
        )
        .unwrap(),
    );
    let out = &c.pod.item;
    assert_eq!(
        out["spec"]["containers"][0]["env"],
        json!([{"name": "MODE", "value": "restored"}])
    );
    assert_eq!(out["spec"]["initContainers"][0]["name"], "restore-wait");
    assert!(fsb_restore_intact(&item, out, &volumes));
    assert_eq!(out["metadata"]["labels"]["pod-template-generation"], "3");
    assert_eq!(c.generation_label, (Some("3".to_owned()), "3".to_owned()));
    // The controller's pin and tolerations are untouched by an env change.
    assert_eq!(out["spec"]["affinity"], item["spec"]["affinity"]);
    assert_eq!(out["spec"]["tolerations"], item["spec"]["tolerations"]);
}

#[test]
fn a_pod_of_a_past_generation_is_left_alone() {
    let app = a_daemonset("shop", "agent")
        .at_generation(3)
        .with_past_generation_pod_on("node-2");
    let change = change_of(&app, &daemonset_rules(&[ADD_ENV]));
    let old = &app.pods()[1];
    assert_eq!(pod_generation(old), Some("2"));
    let decision = decide_without_fsb_volumes(old, &change);
    assert_eq!(
        decision,
        DaemonSetPodDecision::PastGeneration {
            label: Some("2".to_owned())
        }
    );
}

#[test]
fn a_rule_that_sets_the_generation_relabels_current_pods_even_without_a_template_change() {
    // Velero inserts a patch value that is valid JSON as is: `'"9"'` is the string "9".
    let app = a_daemonset("shop", "agent").at_generation(3);
    let rules = daemonset_rules(&[
        r#"{operation: replace, path: /metadata/annotations/deprecated.daemonset.template.generation, value: '"9"'}"#,
    ]);
    let change = change_of(&app, &rules);
    assert!(change.change.is_none() && change.relabels());
    let pod = &app.pods()[0];
    let c = corrected(decide_without_fsb_volumes(pod, &change));
    assert_eq!(
        c.pod.item["metadata"]["labels"]["pod-template-generation"],
        "9"
    );
    assert!(c.pod.re_emitted.is_empty());
}

#[test]
fn removing_the_generation_annotation_relabels_to_one_and_unparseable_protects_nothing() {
    let app = a_daemonset("shop", "agent").at_generation(3);
    let removed = change_of(&app, &daemonset_rules(&[ADD_ENV, REMOVE_GENERATION]));
    assert_eq!(removed.restored_generation, RestoredGeneration::Removed);
    let pod = &app.pods()[0];
    let c = corrected(decide_without_fsb_volumes(pod, &removed));
    assert_eq!(
        c.pod.item["metadata"]["labels"]["pod-template-generation"],
        "1"
    );
    let garbage = change_of(
        &app,
        &daemonset_rules(&[
            r#"{operation: replace, path: /metadata/annotations/deprecated.daemonset.template.generation, value: "three"}"#,
        ]),
    );
    assert_eq!(
        decide_without_fsb_volumes(pod, &garbage),
        DaemonSetPodDecision::Unprotectable
    );
}

#[test]
fn a_node_affinity_rule_leaves_the_controllers_node_pin_on_the_pod() {
    let app = a_daemonset("shop", "agent").on_nodes(&["node-7"]);
    let rules = daemonset_rules(&[
        r#"{operation: add, path: /spec/template/spec/affinity, value: '{"nodeAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":{"nodeSelectorTerms":[{"matchExpressions":[{"key":"disk","operator":"In","values":["ssd"]}]}]},"preferredDuringSchedulingIgnoredDuringExecution":[{"weight":1,"preference":{"matchExpressions":[{"key":"zone","operator":"In","values":["a"]}]}}]}}'}"#,
    ]);
    let change = change_of(&app, &rules);
    assert!(
        change
            .node_eligibility
            .iter()
            .any(|p| p.starts_with("spec.affinity.nodeAffinity.required"))
    );
    let pod = &app.pods()[0];
    let c = corrected(decide_without_fsb_volumes(pod, &change));
    let affinity = &c.pod.item["spec"]["affinity"]["nodeAffinity"];
    // The controller pins every pod it creates to its node, replacing the template's required
    // terms (ReplaceDaemonSetPodNodeNameNodeAffinity); the preferred terms reach the pod.
    assert_eq!(
        affinity["requiredDuringSchedulingIgnoredDuringExecution"],
        node_pin("node-7")
    );
    assert_eq!(
        affinity["preferredDuringSchedulingIgnoredDuringExecution"][0]["weight"],
        1
    );
    assert_eq!(c.controller_owned, [CONTROLLER_NODE_PIN]);
    assert!(
        !c.pod
            .re_emitted
            .iter()
            .any(|p| p.starts_with(CONTROLLER_NODE_PIN))
    );
}

#[test]
fn a_rule_that_drops_the_whole_affinity_still_leaves_the_pin() {
    let app = a_daemonset("shop", "agent");
    let mut with_anti = app.clone();
    with_anti.template_spec["affinity"] = json!({"podAntiAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": [{"topologyKey": "zone",
            "labelSelector": {"matchLabels": {"app": "agent"}}}]}});
    let rules = daemonset_rules(&[r#"{operation: remove, path: /spec/template/spec/affinity}"#]);
    let change = change_of(&with_anti, &rules);
    let mut pod = with_anti.pods()[0].clone();
    // The controller's pod: template affinity plus the pin.
    pod["spec"]["affinity"] = json!({"podAntiAffinity": with_anti.template_spec["affinity"]["podAntiAffinity"],
        "nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": node_pin("node-1")}});
    let c = corrected(decide_without_fsb_volumes(&pod, &change));
    assert_eq!(
        c.pod.item["spec"]["affinity"],
        json!({"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": node_pin("node-1")}})
    );
}

#[test]
fn a_tolerations_rule_keeps_the_daemon_tolerations() {
    let app = a_daemonset("shop", "agent")
        .with_toleration(json!({"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}));
    let rules = daemonset_rules(&[
        r#"{operation: replace, path: /spec/template/spec/tolerations, value: '[{"key":"storage","operator":"Equal","value":"true","effect":"NoSchedule"}]'}"#,
    ]);
    let change = change_of(&app, &rules);
    let pod = &app.pods()[0];
    let c = corrected(decide_without_fsb_volumes(pod, &change));
    // What the controller would create from T': T' tolerations plus its daemon tolerations; the
    // old template toleration is gone.
    let mut expected = vec![
        json!({"key": "storage", "operator": "Equal", "value": "true", "effect": "NoSchedule"}),
    ];
    expected.extend(daemon_tolerations());
    assert_eq!(c.pod.item["spec"]["tolerations"], Value::Array(expected));
}

#[test]
fn only_current_pods_with_another_label_are_relabelled() {
    let pod = |name: &str, generation: Option<&str>| {
        let mut p = json!({"metadata": {"name": name, "labels": {"app": "agent"}}});
        if let Some(g) = generation {
            p["metadata"]["labels"]["pod-template-generation"] = json!(g);
        }
        p
    };
    let live = [
        pod("agent-a", Some("3")),
        pod("agent-b", Some("1")),
        pod("agent-c", None),
        pod("agent-old", Some("2")),
    ];
    let current: BTreeSet<String> = ["agent-a", "agent-b", "agent-c", "agent-gone"]
        .map(str::to_owned)
        .into();
    assert_eq!(
        pods_to_relabel(&live, &current, "3"),
        [
            Relabel {
                pod: "agent-b".into(),
                from: Some("1".into()),
                to: "3".into()
            },
            Relabel {
                pod: "agent-c".into(),
                from: None,
                to: "3".into()
            },
        ]
    );
}

fn plan(
    app: &DaemonSetApp,
    rules: &fsb_modifiers::ResourceModifiers,
    settings: &Settings,
) -> DaemonSetPlan {
    offline(&app.backup(), &app.fsb_index(), rules, settings)
}

#[test]
fn the_plan_lists_fsb_pods_corrections_and_what_happens_without_the_guard() {
    let app = a_daemonset("shop", "agent")
        .with_fsb_volume("data")
        .on_nodes(&["node-1", "node-2"])
        .with_past_generation_pod_on("node-3");
    let plan = plan(&app, &daemonset_rules(&[ADD_ENV]), &Settings::default());
    assert_eq!(plan.skipped, None);
    assert_eq!(
        plan.after_rules.change.as_ref().map(|c| c.paths.clone()),
        Some(vec![
            "spec.containers[name=agent].env[name=MODE].value".to_owned()
        ])
    );
    assert_eq!(
        plan.fsb_pods
            .iter()
            .map(|p| p.name.as_str())
            .collect::<Vec<_>>(),
        ["agent-node-1", "agent-node-2", "agent-node-3"]
    );
    assert_eq!(
        plan.pods
            .iter()
            .map(|(n, _)| n.as_str())
            .collect::<Vec<_>>(),
        ["agent-node-1", "agent-node-2"]
    );
    assert_eq!(plan.past_generation_pods, ["agent-node-3"]);
    assert!(plan.after_rules.node_eligibility.is_empty());
    assert!(
        !plan.rolls_without_guard,
        "the annotation is kept: pods stay current"
    );
    assert!(plan.pods_keep_old_template_without_guard);
    assert_eq!(plan.after_rules.backed_up_generation.as_deref(), Some("2"));
    assert_eq!(
        plan.after_rules.restored_generation,
        RestoredGeneration::Kept(2)
    );

    let removed = self::plan(
        &app,
        &daemonset_rules(&[ADD_ENV, REMOVE_GENERATION]),
        &Settings::default(),
    );
    assert!(removed.rolls_without_guard);
    let selector = self::plan(
        &app,
        &daemonset_rules(&[ADD_NODE_SELECTOR]),
        &Settings::default(),
    );
    assert_eq!(
        selector.after_rules.node_eligibility,
        ["spec.nodeSelector.disk"]
    );
}

#[test]
fn the_plan_respects_scope_and_namespaces() {
    let no_fsb = a_daemonset("shop", "agent");
    let rules = daemonset_rules(&[ADD_ENV]);
    let plan_fsb_only = plan(&no_fsb, &rules, &Settings::default());
    assert!(plan_fsb_only.skipped.is_some());
    assert!(plan_fsb_only.pods.is_empty());
    let all = Settings {
        scope: crate::Scope::AllWorkloads,
        ..Settings::default()
    };
    assert_eq!(plan(&no_fsb, &rules, &all).pods.len(), 1);
    let (excluded, _) = Settings::from_config_data(Some(&json!({"excludeNamespaces": "shop"})));
    let with_fsb = a_daemonset("shop", "agent").with_fsb_volume("data");
    assert_eq!(
        plan(&with_fsb, &rules, &excluded).skipped.as_deref(),
        Some("namespace out of scope")
    );
}

#[test]
fn engine_sees_the_daemonset_rules_only_for_daemonsets() {
    // The fixture rule selects daemonsets.apps: a Deployment with the same template is untouched.
    let rules = daemonset_rules(&[ADD_ENV]);
    assert!(VeleroEngine.rules_select(&rules, "daemonsets.apps"));
    assert!(!VeleroEngine.rules_select(&rules, "deployments.apps"));
}

fn agent() -> DaemonSetApp {
    a_daemonset("shop", "agent")
        .with_fsb_volume("data")
        .at_generation(3)
        .on_nodes(&["node-1", "node-2"])
}

/// What the DaemonSet step of `restore`'s DaemonSet reads (it is guarded).
fn target_of(restore: &Restore) -> DaemonSetTarget {
    let ds = &restore.backup.daemonsets[0];
    let item = Item {
        received: &as_velero_hands_it(ds),
        from_backup: ds,
        restore: &a_restore(json!({})),
    };
    daemonset_target(&restore.inputs(), item)
        .unwrap()
        .expect("guarded")
}

/// The DaemonSet step's notes for `app` with `patches`, all pods live and current.
fn daemonset_notes(app: &DaemonSetApp, patches: &[&str]) -> Vec<(Level, String)> {
    let restore = Restore::of_daemonset(app, patches);
    let inputs = restore.inputs();
    let ds = &restore.backup.daemonsets[0];
    let item = as_velero_hands_it(ds);
    let target = target_of(&restore);
    let live = DaemonSetLive {
        daemonset: None,
        pods: restore.backup.pods.clone(),
    };
    daemonset_step(&inputs, item_of(&item, ds), &target, &live)
        .unwrap()
        .notes
        .into_iter()
        .map(|n| (n.level, n.message))
        .collect()
}

#[test]
fn a_node_selector_change_is_reported_as_a_warning() {
    let notes = daemonset_notes(&agent(), &[ADD_NODE_SELECTOR]);
    assert!(
        notes.iter().any(|(level, m)| *level == Level::Warn
            && m.contains("alters which nodes")
            && m.contains("spec.nodeSelector.disk")
            && !m.contains("ssd")),
        "{notes:?}"
    );
}

#[test]
fn a_removed_generation_annotation_is_a_warning_and_the_summary_counts_relabels() {
    let notes = daemonset_notes(&agent(), &[ADD_ENV, REMOVE_GENERATION]);
    assert!(
        notes.iter().any(|(level, m)| *level == Level::Warn
            && m.contains("remove annotation deprecated.daemonset.template.generation")),
        "{notes:?}"
    );
    let summary = notes
        .iter()
        .find(|(level, _)| *level == Level::Info)
        .map(|(_, m)| m.as_str())
        .unwrap();
    assert!(
        summary.starts_with("template change kept off the rollout path: 2 pods"),
        "{summary}"
    );
    assert!(
        summary.ends_with("pod-template-generation 1: 0 pods carry it, 2 relabelled"),
        "{summary}"
    );
    assert!(!summary.contains("restored\""), "values must not be logged");
}

#[test]
fn an_unparseable_generation_is_a_warning_and_nothing_is_relabelled() {
    let notes = daemonset_notes(
        &agent(),
        &[
            r#"{operation: replace, path: /metadata/annotations/deprecated.daemonset.template.generation, value: "three"}"#,
        ],
    );
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert_eq!(notes[0].0, Level::Warn);
    assert!(notes[0].1.contains("will reject the DaemonSet"));
}

#[test]
fn only_the_hash_of_current_pods_counts() {
    let app = agent().with_past_generation_pod_on("node-3");
    let backup = app.backup();
    // Current pods carry the fixture's hash; the past-generation pod another one.
    assert_eq!(
        current_pod_hashes(&backup.daemonsets[0], &backup.pods),
        BTreeSet::from(["6d5f8c7b9".to_owned()])
    );
}

#[test]
fn dry_run_judges_live_pods_as_enforce_would_have_labelled_them() {
    let app = agent().with_past_generation_pod_on("node-3");
    let restore = Restore::of_daemonset(&app, &[ADD_ENV, REMOVE_GENERATION]);
    let target = target_of(&restore);
    let judged = as_enforce_restores(&target, restore.backup.pods.clone());
    let labels: Vec<&str> = judged
        .iter()
        .map(|p| {
            p["metadata"]["labels"][POD_TEMPLATE_GENERATION]
                .as_str()
                .unwrap()
        })
        .collect();
    // Current pods (3) would carry 1 after the pod step; the past-generation pod keeps 2.
    assert_eq!(labels, ["1", "1", "2"]);
}
