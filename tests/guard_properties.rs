//! Property test over generated resource-modifier rules and Deployment templates, through the
//! guard's Execute (pods, then ReplicaSets, then the Deployment) over the in-memory API server:
//!
//! - the corrected pod keeps every FSB volume exactly as Velero prepared it, every container that
//!   mounted one still mounts it at the same path, and `restore-wait` stays the first init
//!   container, unchanged;
//! - no value a rule carries (nor a value of the backed-up template, such as an env value) ever
//!   appears in a log line the guard writes, at any level.
//!
//! The rules include hostile ones: removing or replacing the FSB volume, dropping the mounts,
//! replacing the container list, prepending init containers, JSON merge patches that replace the
//! volume list, strategic `$patch: delete`/`replace`. Every value is a distinctive token
//! (`tok<hex>q`) so a log line quoting one is found.

mod guard_support;

use std::collections::BTreeSet;

use fsb_guard_core::fixtures::{App, a_deployment, a_restore, velero_prepares_pod};
use fsb_guard_core::{Resource, as_velero_hands_it, name_of};
use guard_support::{FakeCluster, RestoreItem, TARGET, capturing_logs, execute_input};
use proptest::prelude::*;
use serde_json::{Value, json};

/// One patch of a Deployment rule, as a YAML flow item under `patches`, `mergePatches` or
/// `strategicPatches`, its value(s) being `token`.
#[derive(Debug, Clone, Copy)]
enum Patch {
    Hostname,
    Image,
    Env,
    NodeSelector,
    TemplateLabel,
    RemoveFirstVolume,
    ReplaceFirstVolume,
    RemoveMounts,
    AddInitContainers,
    ReplaceContainers,
    MergeReplaceVolumes,
    MergeNullVolumes,
    StrategicEnv,
    StrategicDeleteVolume,
    StrategicReplaceContainers,
    StrategicInitContainer,
}

const PATCHES: [Patch; 16] = [
    Patch::Hostname,
    Patch::Image,
    Patch::Env,
    Patch::NodeSelector,
    Patch::TemplateLabel,
    Patch::RemoveFirstVolume,
    Patch::ReplaceFirstVolume,
    Patch::RemoveMounts,
    Patch::AddInitContainers,
    Patch::ReplaceContainers,
    Patch::MergeReplaceVolumes,
    Patch::MergeNullVolumes,
    Patch::StrategicEnv,
    Patch::StrategicDeleteVolume,
    Patch::StrategicReplaceContainers,
    Patch::StrategicInitContainer,
];

/// Which list of a rule a patch goes to.
enum List {
    Json,
    Merge,
    Strategic,
}

impl Patch {
    fn yaml(self, token: &str, first_fsb: &str) -> (List, String) {
        let t = token;
        let template = "/spec/template/spec";
        let json = |s: String| (List::Json, s);
        // patchData as a single-quoted YAML scalar holding JSON.
        let data = |list: List, v: Value| (list, format!("{{patchData: '{v}'}}"));
        match self {
            Patch::Hostname => json(format!(
                "{{operation: add, path: {template}/hostname, value: {t}}}"
            )),
            Patch::Image => json(format!(
                "{{operation: replace, path: {template}/containers/0/image, value: {t}}}"
            )),
            Patch::Env => json(format!(
                r#"{{operation: add, path: {template}/containers/0/env, value: '[{{"name":"MODE","value":"{t}"}}]'}}"#
            )),
            Patch::NodeSelector => json(format!(
                r#"{{operation: add, path: {template}/nodeSelector, value: '{{"zone":"{t}"}}'}}"#
            )),
            Patch::TemplateLabel => json(format!(
                "{{operation: add, path: /spec/template/metadata/labels/tier, value: {t}}}"
            )),
            Patch::RemoveFirstVolume => {
                json(format!("{{operation: remove, path: {template}/volumes/0}}"))
            }
            Patch::ReplaceFirstVolume => json(format!(
                r#"{{operation: replace, path: {template}/volumes/0, value: '{{"name":"{first_fsb}","hostPath":{{"path":"/{t}"}}}}'}}"#
            )),
            Patch::RemoveMounts => json(format!(
                "{{operation: remove, path: {template}/containers/0/volumeMounts}}"
            )),
            Patch::AddInitContainers => json(format!(
                r#"{{operation: add, path: {template}/initContainers, value: '[{{"name":"init","image":"{t}"}}]'}}"#
            )),
            Patch::ReplaceContainers => json(format!(
                r#"{{operation: replace, path: {template}/containers, value: '[{{"name":"app","image":"{t}"}}]'}}"#
            )),
            Patch::MergeReplaceVolumes => data(
                List::Merge,
                json!({"spec": {"template": {"spec": {
                    "volumes": [{"name": "scratch", "emptyDir": {"medium": t}}]}}}}),
            ),
            Patch::MergeNullVolumes => data(
                List::Merge,
                json!({"spec": {"template": {"spec": {"volumes": null, "hostname": t}}}}),
            ),
            Patch::StrategicEnv => data(
                List::Strategic,
                json!({"spec": {"template": {"spec": {"containers": [
                    {"name": "app", "env": [{"name": "KEY", "value": t}]}]}}}}),
            ),
            Patch::StrategicDeleteVolume => data(
                List::Strategic,
                json!({"spec": {"template": {"spec": {
                    "volumes": [{"name": first_fsb, "$patch": "delete"}],
                    "subdomain": t}}}}),
            ),
            Patch::StrategicReplaceContainers => data(
                List::Strategic,
                json!({"spec": {"template": {"spec": {"containers": [
                    {"$patch": "replace"}, {"name": "app", "image": t}]}}}}),
            ),
            Patch::StrategicInitContainer => data(
                List::Strategic,
                json!({"spec": {"template": {"spec": {"initContainers": [
                    {"name": "seed", "image": t, "volumeMounts": [{"name": first_fsb, "mountPath": "/seed"}]}]}}}}),
            ),
        }
    }
}

/// A generated case: the Deployment and the restore's rules.
#[derive(Debug, Clone)]
struct Case {
    fsb_volumes: Vec<&'static str>,
    plain_volume: bool,
    env_value: Option<u32>,
    replicas: u64,
    /// Rules, each a list of (patch, token seed).
    rules: Vec<Vec<(Patch, u32)>>,
    /// A second rule selecting the pods themselves (the double-targeting case).
    pod_rule: Option<u32>,
}

fn token(seed: u32) -> String {
    format!("tok{seed:08x}q")
}

impl Case {
    fn app(&self) -> App {
        let mut app = a_deployment("shop", "web").with_replicas(self.replicas);
        for v in &self.fsb_volumes {
            app = app.with_fsb_volume(v);
        }
        if self.plain_volume {
            app = app.with_volume(json!({"name": "cache", "emptyDir": {}}), "/cache");
        }
        if let Some(seed) = self.env_value {
            app = app.with_env("SECRET", &token(seed));
        }
        app
    }

    fn rules_yaml(&self) -> String {
        let mut yaml = String::from("version: v1\nresourceModifierRules:\n");
        for rule in &self.rules {
            let mut lists: [(&str, Vec<String>); 3] = [
                ("patches", Vec::new()),
                ("mergePatches", Vec::new()),
                ("strategicPatches", Vec::new()),
            ];
            for (patch, seed) in rule {
                let (list, item) = patch.yaml(&token(*seed), self.fsb_volumes[0]);
                let at = match list {
                    List::Json => 0,
                    List::Merge => 1,
                    List::Strategic => 2,
                };
                lists[at].1.push(item);
            }
            // Velero takes one kind of patch list per rule: a rule per kind, in this order.
            for (key, items) in lists.iter().filter(|(_, items)| !items.is_empty()) {
                yaml.push_str("- conditions: {groupResource: deployments.apps}\n");
                yaml.push_str(&format!("  {key}:\n"));
                for item in items {
                    yaml.push_str(&format!("  - {item}\n"));
                }
            }
        }
        if let Some(seed) = self.pod_rule {
            let t = token(seed);
            yaml.push_str(&format!(
                "- conditions: {{groupResource: pods}}\n  patches:\n  - {{operation: add, path: /spec/hostname, value: {t}}}\n"
            ));
        }
        yaml
    }

    /// Every value a log line must not quote.
    fn tokens(&self) -> BTreeSet<String> {
        self.rules
            .iter()
            .flatten()
            .map(|(_, seed)| *seed)
            .chain(self.env_value)
            .chain(self.pod_rule)
            .map(token)
            .collect()
    }
}

fn case() -> impl Strategy<Value = Case> {
    (
        proptest::sample::subsequence(vec!["data", "logs"], 1..=2),
        any::<bool>(),
        proptest::option::of(any::<u32>()),
        1u64..=2,
        prop::collection::vec(
            prop::collection::vec(
                (proptest::sample::select(PATCHES.to_vec()), any::<u32>()),
                1..=3,
            ),
            1..=2,
        ),
        proptest::option::weighted(0.2, any::<u32>()),
    )
        .prop_map(
            |(fsb_volumes, plain_volume, env_value, replicas, rules, pod_rule)| Case {
                fsb_volumes,
                plain_volume,
                env_value,
                replicas,
                rules,
                pod_rule,
            },
        )
}

/// The named entry of list `list` (`volumes`, `containers`, `initContainers`) of a pod.
fn named<'a>(pod: &'a Value, list: &str, name: &str) -> Option<&'a Value> {
    pod["spec"][list]
        .as_array()?
        .iter()
        .find(|e| e["name"] == name)
}

/// Why `restored` (the guard's answer for `prepared`) would lose FSB data; empty when it keeps it.
/// `intended` is the Deployment's pod template after the restore's rules (what the user asked
/// for): a container's mount of an FSB volume must survive unless the user's rules themselves
/// take it out of the template (the design protects FSB volumes and `restore-wait`, whose own
/// mounts make the data land; an app container's mount follows the user's template).
fn losses(prepared: &Value, restored: &Value, fsb: &[&str], intended: &Value) -> Vec<String> {
    let mut lost = Vec::new();
    for field in ["name", "namespace"] {
        if prepared["metadata"][field] != restored["metadata"][field] {
            lost.push(format!("metadata.{field} changed"));
        }
    }
    for volume in fsb {
        if named(prepared, "volumes", volume) != named(restored, "volumes", volume) {
            lost.push(format!("FSB volume {volume} removed or changed"));
        }
    }
    let mounts_of = |pod: &Value, list: &str, name: &str| -> Vec<Value> {
        named(pod, list, name)
            .and_then(|c| c["volumeMounts"].as_array())
            .cloned()
            .unwrap_or_default()
    };
    for container in prepared["spec"]["containers"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let name = container["name"].as_str().unwrap();
        for mount in container["volumeMounts"].as_array().into_iter().flatten() {
            let of_fsb = fsb.iter().any(|v| mount["name"] == *v);
            let asked_for = mounts_of(intended, "containers", name).contains(mount);
            if of_fsb && asked_for && !mounts_of(restored, "containers", name).contains(mount) {
                lost.push(format!("container {name} lost its mount {mount}"));
            }
        }
    }
    let first_init = |pod: &Value| pod["spec"]["initContainers"].get(0).cloned();
    if first_init(prepared) != first_init(restored) {
        lost.push("restore-wait is no longer the first init container, unchanged".into());
    }
    lost
}

/// The Deployment's pod template as Velero creates it after the case's rules (the user's intent),
/// from the rule engine `check` and the guard share (held to Velero's Go libraries by the oracle
/// suite, tests/oracle).
fn intended_template(case: &Case) -> Value {
    let app = case.app();
    let cluster = FakeCluster::serving(
        app.backup(),
        app.pod_volume_backups(),
        &case.rules_yaml(),
        |_| {},
    );
    let created =
        cluster.velero_creates(&as_velero_hands_it(&app.deployment()), "deployments.apps");
    created["spec"]["template"].clone()
}

/// Runs the case's restore through the guard; returns (prepared, restored) per pod and every log
/// line.
fn restore(case: &Case) -> (Vec<(Value, Value)>, Vec<String>) {
    let app = case.app();
    let cluster = FakeCluster::serving(
        app.backup(),
        app.pod_volume_backups(),
        &case.rules_yaml(),
        |_| {},
    );
    let guard = cluster.guard();
    let restore = a_restore(json!({}));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let capture = capturing_logs();
    let pods = runtime.block_on(async {
        let fsb = app.fsb_index();
        let mut pods = Vec::new();
        for pod in app.pods() {
            let prepared = velero_prepares_pod(&pod, &fsb.volumes_of(&pod));
            let out = guard
                .restore_item(execute_input(prepared.clone(), &pod, &restore))
                .await
                .unwrap_or_else(|e| panic!("fail open: no item error, got {e}"));
            pods.push((prepared, out.item));
        }
        for rs in app.replicasets() {
            let out = guard
                .restore_item(execute_input(as_velero_hands_it(&rs), &rs, &restore))
                .await
                .unwrap_or_else(|e| panic!("ReplicaSet: {e}"));
            let mut created = cluster.velero_creates(&out.item, "replicasets.apps");
            created["metadata"]["resourceVersion"] = json!("500");
            cluster.put(Resource::REPLICA_SETS, TARGET, name_of(&rs), created);
        }
        let d = app.deployment();
        guard
            .restore_item(execute_input(as_velero_hands_it(&d), &d, &restore))
            .await
            .unwrap_or_else(|e| panic!("Deployment: {e}"));
        pods
    });
    (pods, capture.logs.lines())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 96,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn corrected_pods_keep_fsb_data_and_logs_carry_no_value(case in case()) {
        let (pods, lines) = restore(&case);
        prop_assert!(!pods.is_empty());
        let intended = intended_template(&case);
        for (prepared, restored) in &pods {
            let lost = losses(prepared, restored, &case.fsb_volumes, &intended);
            prop_assert!(lost.is_empty(), "{lost:?}\nrules:\n{}", case.rules_yaml());
            // The correction did happen: a field no invariant protects reaches the pod as the
            // user's rules set it on the template.
            prop_assert_eq!(
                &restored["spec"]["hostname"],
                &intended["spec"]["hostname"],
                "rules:\n{}",
                case.rules_yaml()
            );
        }
        prop_assert!(!lines.is_empty(), "the guard logged nothing: the capture is not working");
        for t in case.tokens() {
            let quoting: Vec<&String> = lines.iter().filter(|l| l.contains(&t)).collect();
            prop_assert!(quoting.is_empty(), "value {t} logged: {quoting:#?}\nrules:\n{}", case.rules_yaml());
        }
    }
}

/// The capture and the token check above can fail: a line quoting a value is caught.
#[test]
fn the_log_capture_sees_a_value_written_on_this_thread() {
    let capture = capturing_logs();
    tracing::warn!(value = %token(7), "a careless line");
    assert!(capture.logs.lines().iter().any(|l| l.contains(&token(7))));
}
