//! The guard issue's cases through `check`: the analysis the operator sees and the objects as they
//! will be created (`--output-dir`). Expected values follow from each scenario's intent.

mod check_support;

use check_support::{App, Layout, app, container, read_json, write, write_backup};
use serde_json::{Value, json};
use velero_fsb_guard::check::workload::{KindFacts, WorkloadReport};
use velero_fsb_guard::check::{self, CheckArgs};

struct Run {
    analysis: check::Analysis,
    out: tempfile::TempDir,
}

fn run(apps: &[App], rules: &str) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let backup = write_backup(dir.path(), apps, Layout::Bucket);
    let rules = write(dir.path(), "rules.yaml", rules);
    let args = CheckArgs {
        backup: Some(backup),
        resource_modifiers: Some(rules),
        output_dir: Some(out.path().to_path_buf()),
        ..CheckArgs::default()
    };
    let outcome = check::check(&args, &mut |_, _| {}).unwrap();
    Run {
        analysis: outcome.analysis,
        out,
    }
}

impl Run {
    fn deployment(&self, name: &str) -> &WorkloadReport {
        self.analysis
            .deployments
            .iter()
            .find(|d| d.name == name)
            .unwrap()
    }
    fn object(&self, gr: &str, name: &str) -> Value {
        read_json(
            &self
                .out
                .path()
                .join(gr)
                .join("shop")
                .join(format!("{name}.json")),
        )
    }
    /// The created ReplicaSet's template equals the created Deployment's: no rollout.
    fn assert_no_rollout(&self, app: &App) {
        let d = self.object("deployments.apps", &app.name);
        let rs = self.object("replicasets.apps", &app.rs_name());
        assert!(
            fsb_smp::pod_templates_semantically_equal(
                &d["spec"]["template"],
                &rs["spec"]["template"]
            ),
            "created ReplicaSet template differs from the Deployment's: the controller would roll out"
        );
    }
}

fn rules_doc(rules: &str) -> String {
    format!("version: v1\nresourceModifierRules:\n{rules}")
}

#[test]
fn issue_8578_affinity_and_tolerations_reach_pod_and_replicaset() {
    let es = app("shop", "elasticsearch", "75fd944486").fsb_volume("data");
    let text = include_str!("../examples/modifiers-8578.yaml");
    let r = run(std::slice::from_ref(&es), text);
    let d = r.deployment("elasticsearch");
    assert!(d.rollout_without_plugin && !d.rollout_with_plugin);
    assert_eq!(d.at_risk.len(), 1);
    assert_eq!(d.at_risk[0].volumes, ["data"]);
    assert_eq!(d.plugin.action, "corrects");
    assert!(
        d.template_paths
            .iter()
            .any(|p| p.starts_with("spec.affinity.nodeAffinity"))
    );
    assert!(d.template_paths.contains(&"spec.tolerations".to_owned()));
    let pod = r.object("pods", &es.pod_names()[0]);
    assert_eq!(
        pod["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
            [0]["matchExpressions"][0]["key"],
        "storage.example.com/tier"
    );
    assert_eq!(
        pod["spec"]["tolerations"][0]["key"],
        "storage.example.com/dedicated"
    );
    // The pod keeps its name and FSB volume.
    assert_eq!(pod["metadata"]["name"], es.pod_names()[0]);
    assert!(
        pod["spec"]["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v["name"] == "data")
    );
    r.assert_no_rollout(&es);
    assert!(r.analysis.summary.fsb_data_at_risk);
}

#[test]
fn index_based_container_patch_lands_on_the_app_container_not_the_sidecar() {
    let web = app("shop", "web", "6d4cf56db6")
        .fsb_volume("data")
        .sidecar("istio-proxy", "proxy:1");
    let r = run(
        std::slice::from_ref(&web),
        &rules_doc(
            "- conditions: {groupResource: deployments.apps}\n  patches:\n  - {operation: replace, path: /spec/template/spec/containers/0/image, value: registry.example/app:2.0}\n",
        ),
    );
    let pod = r.object("pods", &web.pod_names()[0]);
    assert_eq!(
        container(&pod["spec"], "app")["image"],
        "registry.example/app:2.0"
    );
    assert_eq!(container(&pod["spec"], "istio-proxy")["image"], "proxy:1");
    assert_eq!(
        pod["spec"]["containers"][0]["name"], "istio-proxy",
        "order kept"
    );
    r.assert_no_rollout(&web);
    // The lint names the index-based path whose element differs in the pod.
    assert!(
        r.analysis
            .lint
            .iter()
            .any(|w| w.code == "index-path" && w.message.contains("containers/0")),
        "{:?}",
        r.analysis.lint
    );
}

#[test]
fn strategic_env_patch_merges_by_name() {
    let web = app("shop", "web", "6d4cf56db6")
        .fsb_volume("data")
        .env("LOG", "debug");
    let r = run(
        std::slice::from_ref(&web),
        &rules_doc(
            "- conditions: {groupResource: deployments.apps, resourceNameRegex: ^web$}\n  strategicPatches:\n  - patchData: |\n      {\"spec\": {\"template\": {\"spec\": {\"containers\": [{\"name\": \"app\", \"env\": [{\"name\": \"MODE\", \"value\": \"fast\"}]}]}}}}\n",
        ),
    );
    let pod = r.object("pods", &web.pod_names()[0]);
    let env = &container(&pod["spec"], "app")["env"];
    assert!(
        env.as_array()
            .unwrap()
            .contains(&json!({"name": "LOG", "value": "debug"}))
    );
    assert!(
        env.as_array()
            .unwrap()
            .contains(&json!({"name": "MODE", "value": "fast"}))
    );
    let d = r.deployment("web");
    // The path names the env entry by its merge key, not by index.
    assert!(
        d.template_paths
            .iter()
            .all(|p| p.starts_with("spec.containers[name=app].env[name=MODE]")),
        "{:?}",
        d.template_paths
    );
    r.assert_no_rollout(&web);
}

#[test]
fn merge_patch_on_node_selector() {
    let web = app("shop", "web", "6d4cf56db6").fsb_volume("data");
    let r = run(
        std::slice::from_ref(&web),
        &rules_doc(
            "- conditions: {groupResource: deployments.apps}\n  mergePatches:\n  - patchData: |\n      spec:\n        template:\n          spec:\n            nodeSelector:\n              disk: ssd\n",
        ),
    );
    let pod = r.object("pods", &web.pod_names()[0]);
    assert_eq!(pod["spec"]["nodeSelector"], json!({"disk": "ssd"}));
    assert_eq!(
        r.deployment("web").template_paths,
        ["spec.nodeSelector.disk"]
    );
    r.assert_no_rollout(&web);
}

#[test]
fn rule_selected_by_a_deployment_label_the_pods_do_not_carry() {
    let web = app("shop", "web", "6d4cf56db6")
        .fsb_volume("data")
        .deployment_label("tier", "gold");
    let other = app("shop", "api", "7f8c9d0e1a").fsb_volume("data");
    let r = run(
        &[web.clone(), other.clone()],
        &rules_doc(
            "- conditions:\n    groupResource: deployments.apps\n    labelSelector: {matchLabels: {tier: gold}}\n  mergePatches:\n  - patchData: '{\"spec\":{\"template\":{\"spec\":{\"priorityClassName\":\"gold\"}}}}'\n",
        ),
    );
    // The Deployment matches, the pods (without the label) still get the change through the plugin.
    assert!(r.deployment("web").rollout_without_plugin);
    assert!(!r.deployment("api").rollout_without_plugin);
    let pod = r.object("pods", &web.pod_names()[0]);
    assert_eq!(pod["spec"]["priorityClassName"], "gold");
    let untouched = r.object("pods", &other.pod_names()[0]);
    assert!(untouched["spec"].get("priorityClassName").is_none());
    r.assert_no_rollout(&web);
}

#[test]
fn rule_guarded_by_a_test_on_replicas_applies_only_when_the_test_holds() {
    let rules = rules_doc(
        "- conditions: {groupResource: deployments.apps}\n  patches:\n  - {operation: test, path: /spec/replicas, value: \"2\"}\n  - {operation: replace, path: /spec/template/spec/containers/0/image, value: registry.example/app:2.0}\n",
    );
    let one = app("shop", "web", "6d4cf56db6").fsb_volume("data");
    let r = run(std::slice::from_ref(&one), &rules);
    let d = r.deployment("web");
    assert!(
        !d.rollout_without_plugin,
        "replicas is 1: the test fails, the rule is skipped"
    );
    assert!(!r.analysis.summary.fsb_data_at_risk);
    let two = app("shop", "web", "6d4cf56db6")
        .fsb_volume("data")
        .replicas(2);
    let r = run(std::slice::from_ref(&two), &rules);
    let d = r.deployment("web");
    assert!(d.rollout_without_plugin);
    assert_eq!(d.at_risk.len(), 2);
    assert_eq!(d.plugin.pods.len(), 2);
    for pod in two.pod_names() {
        let pod = r.object("pods", &pod);
        assert_eq!(
            container(&pod["spec"], "app")["image"],
            "registry.example/app:2.0"
        );
    }
    r.assert_no_rollout(&two);
}

#[test]
fn patch_removing_an_fsb_volume_is_withheld_from_the_pod_and_reported() {
    let web = app("shop", "web", "6d4cf56db6")
        .fsb_volume("data")
        .volume(json!({"name": "cache", "emptyDir": {}}), "/cache");
    let r = run(
        std::slice::from_ref(&web),
        &rules_doc(
            "- conditions: {groupResource: deployments.apps}\n  strategicPatches:\n  - patchData: '{\"spec\":{\"template\":{\"spec\":{\"volumes\":[{\"name\":\"data\",\"$patch\":\"delete\"}],\"containers\":[{\"name\":\"app\",\"image\":\"registry.example/app:2.0\"}]}}}}'\n",
        ),
    );
    let d = r.deployment("web");
    assert!(d.rollout_without_plugin);
    assert_eq!(d.plugin.withheld, ["spec.volumes[name=data]"]);
    assert!(d.verdict.contains("withheld"), "{}", d.verdict);
    let pod = r.object("pods", &web.pod_names()[0]);
    assert!(
        pod["spec"]["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v["name"] == "data"),
        "FSB volume kept"
    );
    assert_eq!(
        container(&pod["spec"], "app")["image"],
        "registry.example/app:2.0",
        "the rest applied"
    );
    // The ReplicaSet carries the Deployment's final template (without the volume): no rollout.
    r.assert_no_rollout(&web);
}

#[test]
fn deployment_without_fsb_pods_rolls_but_does_not_count() {
    let web = app("shop", "web", "6d4cf56db6");
    let r = run(
        std::slice::from_ref(&web),
        &rules_doc(
            "- conditions: {groupResource: deployments.apps}\n  patches:\n  - {operation: replace, path: /spec/template/spec/containers/0/image, value: registry.example/app:2.0}\n",
        ),
    );
    let d = r.deployment("web");
    assert!(d.rollout_without_plugin);
    assert!(d.at_risk.is_empty());
    assert_eq!(d.plugin.action, "leaves-alone");
    assert!(!r.analysis.summary.fsb_data_at_risk);
    assert_eq!(r.analysis.summary.rollouts_without_fsb, 1);
    // Its pod is created as backed up (the plugin does not touch it).
    let pod = r.object("pods", &web.pod_names()[0]);
    assert_eq!(
        container(&pod["spec"], "app")["image"],
        "registry.example/app:1.0"
    );
}

#[test]
fn past_revision_equal_to_the_new_template_is_set_apart() {
    // Revision 1 ran image 2.0; revision 2 (current, with the FSB pod) went back to 1.0. A rule
    // moving the Deployment to 2.0 makes revision 1 equal to the new template: the controller
    // would adopt that old, empty ReplicaSet and scale the FSB pod's ReplicaSet down.
    let mut old_spec = app("shop", "web", "x").fsb_volume("data").template_spec;
    old_spec["containers"][0]["image"] = json!("registry.example/app:2.0");
    let web = app("shop", "web", "6d4cf56db6")
        .fsb_volume("data")
        .past_revision("59c8f7b6d5", old_spec);
    let r = run(
        std::slice::from_ref(&web),
        &rules_doc(
            "- conditions: {groupResource: deployments.apps}\n  patches:\n  - {operation: replace, path: /spec/template/spec/containers/0/image, value: registry.example/app:2.0}\n",
        ),
    );
    let d = r.deployment("web");
    let KindFacts::Deployment { replica_sets, .. } = &d.facts else {
        panic!("a Deployment's report")
    };
    let actions: Vec<(&str, &str)> = replica_sets
        .iter()
        .map(|rs| (rs.replica_set.as_str(), rs.action))
        .collect();
    assert_eq!(
        actions,
        [
            ("web-59c8f7b6d5", "past-revision-set-apart"),
            ("web-6d4cf56db6", "retemplated")
        ]
    );
    let past = r.object("replicasets.apps", "web-59c8f7b6d5");
    let deployment = r.object("deployments.apps", "web");
    assert!(
        !fsb_smp::pod_templates_semantically_equal(
            &past["spec"]["template"],
            &deployment["spec"]["template"]
        ),
        "the past revision must no longer equal the new template"
    );
    r.assert_no_rollout(&web);
}

#[test]
fn a_verdict_over_many_workloads_names_ten_and_counts_the_rest() {
    let apps: Vec<App> = (0..12)
        .map(|i| app("shop", &format!("db-{i:02}"), "75fd944486").fsb_volume("data"))
        .collect();
    let r = run(
        &apps,
        include_str!("../examples/modifiers-8578.yaml")
            .replace(
                "resourceNameRegex: \"^(elasticsearch|growi)$\"",
                "resourceNameRegex: \"^db-\"",
            )
            .as_str(),
    );
    let verdict = &r.analysis.summary.verdict;
    assert!(
        verdict.starts_with("AT RISK: without the plugin, 12 workloads (Deployment shop/db-00, "),
        "{verdict}"
    );
    assert!(
        verdict.contains("Deployment shop/db-09 and 2 more, each listed above)"),
        "{verdict}"
    );
    assert!(!verdict.contains("db-10"), "{verdict}");
    assert_eq!(r.analysis.deployments.len(), 12);
}
