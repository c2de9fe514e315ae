//! DaemonSet restores simulated in Velero's order (pods → ControllerRevisions → DaemonSet) through
//! the plugin shell over an in-memory cluster. Expected values come from each scenario's intent and
//! the API server's generation rules (facts §3), never from running the guard.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

use super::fixtures::*;
use super::*;
use crate::cluster::pods::LabelChanges;
use crate::guard::action::{GuardCluster, TemplateGuard};
use crate::guard::error::Error;
use crate::guard::steps::{BackupObjects, Level, RestoreInputs};
use crate::guard::testkit::{a_restore, execute_input, fsb_restore_intact, velero_prepares_pod};
use crate::guard::{Engine, VeleroEngine};
use velero_plugin::RestoreItemAction;

/// Where the restore maps the backup namespace `shop`.
const TARGET: &str = "shop-dr";

/// An in-memory cluster holding what the restore created in the target namespace; clones share
/// the live objects and the call log (the test keeps one, the guard gets another).
#[derive(Clone)]
struct FakeCluster {
    app: DaemonSetApp,
    rules: String,
    plugin_config: Option<Value>,
    live_pods: Arc<Mutex<BTreeMap<String, Value>>>,
    live_daemonset: Arc<Mutex<Option<Value>>>,
    calls: Arc<Mutex<Vec<String>>>,
    refuse_dry_run: bool,
}

impl FakeCluster {
    fn new(app: DaemonSetApp, patches: &[&str]) -> Self {
        let mut rules = String::from(
            "version: v1\nresourceModifierRules:\n- conditions: {groupResource: daemonsets.apps}\n  patches:\n",
        );
        for p in patches {
            rules.push_str(&format!("  - {p}\n"));
        }
        Self {
            app,
            rules,
            plugin_config: None,
            live_pods: Arc::default(),
            live_daemonset: Arc::default(),
            calls: Arc::default(),
            refuse_dry_run: false,
        }
    }

    fn record(&self, call: String) {
        self.calls.lock().unwrap().push(call);
    }

    fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap().clone()
    }

    /// The app's pods as Velero creates them without the guard (labels as backed up).
    fn has_pods_restored_without_guard(&self) {
        let fsb = self.app.fsb_index();
        for pod in self.app.pods() {
            let mut live = velero_prepares_pod(&pod, &fsb.volumes_of(&pod));
            live["metadata"]["namespace"] = json!(TARGET);
            self.live_pods
                .lock()
                .unwrap()
                .insert(name_of(&pod).to_owned(), live);
        }
    }

    fn live_pod(&self, name: &str) -> Value {
        self.live_pods.lock().unwrap()[name].clone()
    }
}

impl GuardCluster for FakeCluster {
    async fn plugin_settings(&self, ns: &str) -> Result<Option<Value>> {
        self.record(format!("list configmaps {ns}"));
        Ok(self.plugin_config.clone())
    }
    async fn configmap(&self, ns: &str, name: &str) -> Result<Value> {
        self.record(format!("get configmap {ns}/{name}"));
        Ok(json!({"data": {"rules.yaml": self.rules}}))
    }
    async fn pod_volume_backups(&self, ns: &str, backup: &str) -> Result<Vec<Value>> {
        self.record(format!("list podvolumebackups {ns} {backup}"));
        Ok(self.app.pod_volume_backups())
    }
    async fn backup_objects(&self, _: &str, backup: &str, _: Duration) -> Result<BackupObjects> {
        self.record(format!("download {backup}"));
        Ok(self.app.backup())
    }
    async fn get_replicaset(&self, ns: &str, name: &str) -> Result<Option<Value>> {
        self.record(format!("get replicaset {ns}/{name}"));
        Ok(None)
    }
    async fn patch_replicaset(&self, ns: &str, name: &str, _: &Value) -> Result<()> {
        self.record(format!("patch replicaset {ns}/{name}"));
        Err(Error::Cluster("no ReplicaSets here".to_owned()))
    }
    async fn get_daemonset(&self, ns: &str, name: &str) -> Result<Option<Value>> {
        self.record(format!("get daemonset {ns}/{name}"));
        Ok(self.live_daemonset.lock().unwrap().clone())
    }
    async fn list_pods(&self, ns: &str, selector: &str) -> Result<Vec<Value>> {
        self.record(format!("list pods {ns} {selector}"));
        let wanted: Vec<(&str, &str)> = selector
            .split(',')
            .filter(|s| !s.is_empty())
            .filter_map(|s| s.split_once('='))
            .collect();
        Ok(self
            .live_pods
            .lock()
            .unwrap()
            .values()
            .filter(|p| {
                wanted
                    .iter()
                    .all(|(k, v)| p["metadata"]["labels"][*k].as_str() == Some(*v))
            })
            .cloned()
            .collect())
    }
    async fn dry_run_create_daemonset(&self, ns: &str, body: &Value) -> Result<Value> {
        self.record(format!("dry-run create daemonset {ns}"));
        if self.refuse_dry_run {
            return Err(Error::Cluster(
                "create daemonsets.apps: forbidden".to_owned(),
            ));
        }
        // As the API server: defaults filled in (one stands for all here).
        let mut stored = body.clone();
        stored["spec"]["template"]["spec"]["dnsPolicy"] = json!("ClusterFirst");
        Ok(stored)
    }
    async fn patch_pod_labels(
        &self,
        ns: &str,
        name: &str,
        labels: &LabelChanges,
        _: Option<&str>,
    ) -> Result<()> {
        self.record(format!("patch pod {ns}/{name}"));
        let mut pods = self.live_pods.lock().unwrap();
        let Some(pod) = pods.get_mut(name) else {
            return Err(Error::Cluster(format!("patch pods {name}: HTTP 404")));
        };
        for (k, v) in labels {
            match v {
                Some(v) => pod["metadata"]["labels"][k] = json!(v),
                None => {
                    pod["metadata"]["labels"].as_object_mut().unwrap().remove(k);
                }
            }
        }
        Ok(())
    }
}

/// What Velero creates from an item the plugin returned: the rules for its resource, then the
/// namespace mapping.
fn created(cluster: &FakeCluster, item: &Value, group_resource: &str) -> Value {
    let rules = VeleroEngine::rules_from_yaml(&cluster.rules).unwrap();
    let mut object = VeleroEngine
        .apply_rules(&rules, item, group_resource)
        .unwrap()
        .object;
    object["metadata"]["namespace"] = json!(TARGET);
    object
}

/// The outputs of a whole restore in Velero's order; pods are created in the fake cluster.
struct Run {
    /// `(prepared item, returned item)` per backed-up pod.
    pods: Vec<(Value, Value)>,
    revisions: Vec<Value>,
    daemonset: Value,
}

async fn run_restore(cluster: &FakeCluster, restore: &Value) -> Run {
    let guard = TemplateGuard::new(cluster.clone(), None);
    let app = cluster.app.clone();
    let fsb = app.fsb_index();
    let mut pods = Vec::new();
    for pod in app.pods() {
        let item = velero_prepares_pod(&pod, &fsb.volumes_of(&pod));
        let out = guard
            .execute(execute_input(item.clone(), &pod, restore))
            .await
            .unwrap();
        let live = created(cluster, &out.item, "pods");
        cluster
            .live_pods
            .lock()
            .unwrap()
            .insert(name_of(&pod).to_owned(), live);
        pods.push((item, out.item));
    }
    let mut revisions = Vec::new();
    for cr in app.backup().controllerrevisions {
        let out = guard
            .execute(execute_input(as_velero_hands_it(&cr), &cr, restore))
            .await
            .unwrap();
        revisions.push(out.item);
    }
    let ds = app.daemonset();
    let out = guard
        .execute(execute_input(as_velero_hands_it(&ds), &ds, restore))
        .await
        .unwrap();
    Run {
        pods,
        revisions,
        daemonset: out.item,
    }
}

fn agent() -> DaemonSetApp {
    a_daemonset("shop", "agent")
        .with_fsb_volume("data")
        .at_generation(3)
        .on_nodes(&["node-1", "node-2"])
}

#[tokio::test]
async fn env_modifier_reaches_the_pods_which_stay_current_and_keep_their_fsb_restore() {
    let app = agent();
    let cluster = FakeCluster::new(app.clone(), &[ADD_ENV]);
    let run = run_restore(&cluster, &a_restore(json!({}))).await;
    let volumes = app.fsb_index();
    for (prepared, returned) in &run.pods {
        let fsb = volumes.volumes_of(&app.pods()[0]);
        assert_eq!(
            returned["spec"]["containers"][0]["env"],
            json!([{"name": "MODE", "value": "restored"}])
        );
        assert_eq!(
            returned["spec"]["initContainers"][0]["name"],
            "restore-wait"
        );
        assert!(fsb_restore_intact(prepared, returned, &fsb));
    }
    // The DaemonSet is restored as received.
    assert_eq!(run.daemonset, as_velero_hands_it(&app.daemonset()));
    // The annotation is kept, so the API server keeps generation 3: the controller counts every
    // restored pod as current (IsPodUpdated: pod-template-generation == "3").
    let ds = created(&cluster, &run.daemonset, "daemonsets.apps");
    assert_eq!(
        ds["metadata"]["annotations"][TEMPLATE_GENERATION_ANNOTATION],
        "3"
    );
    for name in ["agent-node-1", "agent-node-2"] {
        assert_eq!(
            cluster.live_pod(name)["metadata"]["labels"][POD_TEMPLATE_GENERATION],
            "3"
        );
    }
    let calls = cluster.calls();
    assert!(calls.contains(&format!("get daemonset {TARGET}/agent")));
    assert!(calls.contains(&format!("list pods {TARGET} app=agent")));
    assert!(!calls.iter().any(|c| c.starts_with("patch")), "{calls:?}");
}

#[tokio::test]
async fn a_rule_removing_the_generation_annotation_moves_current_pods_to_generation_one() {
    let app = agent().with_past_generation_pod_on("node-3");
    let cluster = FakeCluster::new(app.clone(), &[ADD_ENV, REMOVE_GENERATION]);
    let run = run_restore(&cluster, &a_restore(json!({}))).await;
    // Without the annotation the API server creates the DaemonSet at generation 1
    // (PrepareForCreate), so current pods must say 1; the past-generation pod is left at 2.
    let ds = created(&cluster, &run.daemonset, "daemonsets.apps");
    assert!(
        ds["metadata"]["annotations"]
            .get(TEMPLATE_GENERATION_ANNOTATION)
            .is_none()
    );
    let label =
        |n: &str| cluster.live_pod(n)["metadata"]["labels"][POD_TEMPLATE_GENERATION].clone();
    assert_eq!(label("agent-node-1"), "1");
    assert_eq!(label("agent-node-2"), "1");
    assert_eq!(label("agent-node-3"), "2");
    let (_, old) = &run.pods[2];
    assert!(old["spec"]["containers"][0].get("env").is_none());
}

#[tokio::test]
async fn the_daemonset_step_relabels_live_pods_the_pod_step_missed() {
    let app = agent();
    let cluster = FakeCluster::new(app.clone(), &[ADD_ENV, REMOVE_GENERATION]);
    let guard = TemplateGuard::new(cluster.clone(), None);
    // The pods were created without the guard (e.g. restored by an earlier attempt).
    cluster.has_pods_restored_without_guard();
    let ds = app.daemonset();
    let restore = a_restore(json!({}));
    let out = guard
        .execute(execute_input(as_velero_hands_it(&ds), &ds, &restore))
        .await
        .unwrap();
    assert_eq!(out.item, as_velero_hands_it(&ds));
    let calls = cluster.calls();
    assert!(calls.contains(&format!("patch pod {TARGET}/agent-node-1")));
    assert!(calls.contains(&format!("patch pod {TARGET}/agent-node-2")));
    for name in ["agent-node-1", "agent-node-2"] {
        assert_eq!(
            cluster.live_pod(name)["metadata"]["labels"][POD_TEMPLATE_GENERATION],
            "1"
        );
    }
}

#[tokio::test]
async fn dry_run_changes_no_item_and_patches_nothing() {
    let app = agent();
    let cluster = FakeCluster::new(app.clone(), &[ADD_ENV, REMOVE_GENERATION]);
    let run = run_restore(
        &cluster,
        &a_restore(json!({"fsb-guard.io/mode": "dry-run"})),
    )
    .await;
    for (prepared, returned) in &run.pods {
        assert_eq!(prepared, returned);
    }
    assert_eq!(run.daemonset, as_velero_hands_it(&app.daemonset()));
    let calls = cluster.calls();
    // It read what enforce would read, and wrote nothing although the labels are stale.
    assert!(calls.contains(&format!("list pods {TARGET} app=agent")));
    assert!(!calls.iter().any(|c| c.starts_with("patch")), "{calls:?}");
    assert_eq!(
        cluster.live_pod("agent-node-1")["metadata"]["labels"][POD_TEMPLATE_GENERATION],
        "3"
    );
}

#[tokio::test]
async fn an_existing_daemonset_is_left_alone() {
    let app = agent();
    let cluster = FakeCluster::new(app.clone(), &[ADD_ENV, REMOVE_GENERATION]);
    cluster.has_pods_restored_without_guard();
    *cluster.live_daemonset.lock().unwrap() = Some(app.daemonset());
    let guard = TemplateGuard::new(cluster.clone(), None);
    let ds = app.daemonset();
    let out = guard
        .execute(execute_input(
            as_velero_hands_it(&ds),
            &ds,
            &a_restore(json!({})),
        ))
        .await
        .unwrap();
    assert_eq!(out.item, as_velero_hands_it(&ds));
    // Enforce would relabel these pods (see the test above) if the DaemonSet were new.
    let calls = cluster.calls();
    assert!(calls.contains(&format!("get daemonset {TARGET}/agent")));
    assert!(!calls.iter().any(|c| c.starts_with("patch")), "{calls:?}");
}

#[tokio::test]
async fn rules_that_leave_daemonsets_alone_cost_no_daemonset_call() {
    let app = agent();
    let mut cluster = FakeCluster::new(app.clone(), &[ADD_ENV]);
    cluster.rules = cluster.rules.replace("daemonsets.apps", "deployments.apps");
    let run = run_restore(&cluster, &a_restore(json!({}))).await;
    for (prepared, returned) in &run.pods {
        assert_eq!(prepared, returned);
    }
    let calls = cluster.calls();
    assert!(
        !calls
            .iter()
            .any(|c| c.contains("daemonset") || c.starts_with("list pods")),
        "{calls:?}"
    );
}

/// The DaemonSet step's notes for `app` with `patches`, all pods live and current.
fn daemonset_notes(app: &DaemonSetApp, patches: &[&str]) -> Vec<(Level, String)> {
    let rules = daemonset_rules(patches);
    let backup = app.backup();
    let fsb = app.fsb_index();
    let settings = crate::guard::Settings::default();
    let inputs = RestoreInputs {
        engine: &VeleroEngine,
        rules: &rules,
        settings: &settings,
        backup: &backup,
        fsb: &fsb,
        fsb_workloads: None,
        changes: None,
    };
    let ds = &backup.daemonsets[0];
    let item = as_velero_hands_it(ds);
    let restore = a_restore(json!({}));
    let target = daemonset_target(&inputs, None, &item, ds, &restore)
        .unwrap()
        .expect("guarded");
    let live = DaemonSetLive {
        daemonset: None,
        pods: backup.pods.clone(),
    };
    daemonset_step(&inputs, &item, ds, &target, &live)
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

#[tokio::test]
async fn a_rule_that_only_removes_the_generation_still_gets_the_pods_relabelled() {
    // No template change at all: the rule must still be read (GUARDED_FIELDS), else the pods keep
    // generation 3 while the API server creates the DaemonSet at 1.
    let cluster = FakeCluster::new(agent(), &[REMOVE_GENERATION]);
    run_restore(&cluster, &a_restore(json!({}))).await;
    for name in ["agent-node-1", "agent-node-2"] {
        assert_eq!(
            cluster.live_pod(name)["metadata"]["labels"][POD_TEMPLATE_GENERATION],
            "1"
        );
    }
}

/// The revision `data` the controller computes for a DaemonSet with template `template` as the
/// API server stores it (facts §3: `{"spec":{"template": … + "$patch":"replace"}}`).
fn data_for(template: Value) -> Value {
    let mut template = template;
    template["$patch"] = json!("replace");
    json!({"spec": {"template": template}})
}

#[tokio::test]
async fn the_revision_of_the_current_pods_gets_the_final_template_as_the_server_stores_it() {
    let app = agent().with_past_generation_pod_on("node-3");
    let cluster = FakeCluster::new(app.clone(), &[ADD_ENV]);
    let run = run_restore(&cluster, &a_restore(json!({}))).await;
    // T' = T + env, with the server's defaults (the fake server adds dnsPolicy).
    let mut expected = app.template();
    expected["spec"]["containers"][0]["env"] = json!([{"name": "MODE", "value": "restored"}]);
    expected["spec"]["dnsPolicy"] = json!("ClusterFirst");
    assert_eq!(run.revisions[0]["data"], data_for(expected));
    // Name and labels kept: the pods' hash label still points at it.
    assert_eq!(
        run.revisions[0]["metadata"],
        as_velero_hands_it(&app.controller_revision())["metadata"]
    );
    assert!(
        cluster
            .calls()
            .contains(&format!("dry-run create daemonset {TARGET}"))
    );
}

#[tokio::test]
async fn a_refused_dry_run_or_dry_run_mode_leaves_the_revision_as_backed_up() {
    let app = agent();
    let mut refused = FakeCluster::new(app.clone(), &[ADD_ENV]);
    refused.refuse_dry_run = true;
    let run = run_restore(&refused, &a_restore(json!({}))).await;
    assert_eq!(
        run.revisions,
        [as_velero_hands_it(&app.controller_revision())]
    );
    let dry = FakeCluster::new(app.clone(), &[ADD_ENV]);
    let run = run_restore(&dry, &a_restore(json!({"fsb-guard.io/mode": "dry-run"}))).await;
    assert_eq!(
        run.revisions,
        [as_velero_hands_it(&app.controller_revision())]
    );
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
    let rules = daemonset_rules(&[ADD_ENV, REMOVE_GENERATION]);
    let backup = app.backup();
    let fsb = app.fsb_index();
    let settings = crate::guard::Settings::default();
    let inputs = RestoreInputs {
        engine: &VeleroEngine,
        rules: &rules,
        settings: &settings,
        backup: &backup,
        fsb: &fsb,
        fsb_workloads: None,
        changes: None,
    };
    let judged =
        as_enforce_restores(&inputs, None, &backup.daemonsets[0], backup.pods.clone()).unwrap();
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
