//! Test fixtures that read like sentences, and a small simulation of what Velero does around the
//! plugin (reset metadata, `restore-wait` insertion, modifiers after the plugin, restore order).

use std::collections::BTreeSet;

use serde_json::{Value, json};

use velero_plugin::ExecuteInput;

use super::engine::Engine;
use super::engine_impl::VeleroEngine;
use super::settings::Settings;
use super::steps::{
    BackupObjects, RestoreInputs, deployment_step, deployment_target, pod_step, replicaset_step,
};
use super::workload::{
    FsbIndex, RESTORE_WAIT_CONTAINERS, as_velero_hands_it, name_of, namespace_of,
};
use super::{DeploymentDecision, WorkloadInputs, WorkloadPlan, plan_workload};

/// A Deployment being described for a backup.
#[derive(Debug, Clone)]
pub struct App {
    pub namespace: String,
    pub name: String,
    pub labels: Value,
    pub deployment_labels: Value,
    pub template_spec: Value,
    pub replicas: u64,
    pub fsb_volumes: Vec<String>,
    pub hash: String,
    /// Past revisions: (hash, template spec) — restored beside the current one with 0 replicas.
    pub past: Vec<(String, Value)>,
    /// FSB volumes recorded the pre-PodVolumeBackup way: `snapshot.velero.io/<volume>` pod
    /// annotations, no PodVolumeBackup objects.
    pub legacy_annotations: bool,
    /// FSB volumes backed up through one pod only (a shared claim): volume → pod index.
    pub backed_up_through: Vec<(String, u64)>,
    /// Past revisions that still run pods (a backup taken mid-rollout): hash → pod count.
    pub past_running: Vec<(String, u64)>,
}

/// `a_deployment("shop", "web")`: one replica, labels `app: <name>`, one container `app`.
pub fn a_deployment(namespace: &str, name: &str) -> App {
    App {
        namespace: namespace.into(),
        name: name.into(),
        labels: json!({"app": name}),
        deployment_labels: json!({"app": name}),
        template_spec: json!({"containers": [{"name": "app", "image": "registry.example/app:1.0"}]}),
        replicas: 1,
        fsb_volumes: Vec::new(),
        hash: "5d894cc6b7".into(),
        past: Vec::new(),
        legacy_annotations: false,
        backed_up_through: Vec::new(),
        past_running: Vec::new(),
    }
}

impl App {
    /// Adds an emptyDir volume mounted into the first container whose data is in the FSB backup.
    pub fn with_fsb_volume(mut self, volume: &str) -> Self {
        self = self.with_volume(
            json!({"name": volume, "emptyDir": {}}),
            &format!("/{volume}"),
        );
        self.fsb_volumes.push(volume.into());
        self
    }

    /// Like [`App::with_fsb_volume`], recorded as a legacy `snapshot.velero.io/<volume>` pod
    /// annotation instead of a PodVolumeBackup.
    pub fn with_legacy_fsb_volume(mut self, volume: &str) -> Self {
        self.legacy_annotations = true;
        self.with_fsb_volume(volume)
    }

    /// A ReadWriteMany claim mounted by every pod, backed up (once, as Velero does for a shared
    /// volume) through pod `index` only.
    pub fn with_shared_fsb_claim(mut self, volume: &str, index: u64) -> Self {
        self = self.with_volume(
            json!({"name": volume, "persistentVolumeClaim": {"claimName": format!("{volume}-claim")}}),
            &format!("/{volume}"),
        );
        self.fsb_volumes.push(volume.into());
        self.backed_up_through.push((volume.into(), index));
        self
    }

    /// A past revision that still runs `pods` pods (backup taken mid-rollout).
    pub fn with_older_revision_running(mut self, hash: &str, spec: Value, pods: u64) -> Self {
        self.past.push((hash.into(), spec));
        self.past_running.push((hash.into(), pods));
        self
    }

    /// Adds a volume (mounted into the first container at `mount_path`) without FSB data.
    pub fn with_volume(mut self, volume: Value, mount_path: &str) -> Self {
        let name = volume["name"].clone();
        push(&mut self.template_spec, "volumes", volume);
        push(
            &mut self.template_spec["containers"][0],
            "volumeMounts",
            json!({"name": name, "mountPath": mount_path}),
        );
        self
    }

    /// Sets an env var on the first container.
    pub fn with_env(mut self, name: &str, value: &str) -> Self {
        push(
            &mut self.template_spec["containers"][0],
            "env",
            json!({"name": name, "value": value}),
        );
        self
    }

    /// A label on the Deployment object only (pods do not carry it).
    pub fn with_deployment_label(mut self, key: &str, value: &str) -> Self {
        self.deployment_labels[key] = json!(value);
        self
    }

    pub fn with_replicas(mut self, n: u64) -> Self {
        self.replicas = n;
        self
    }

    /// A past revision (0 replicas) whose template spec is `spec`.
    pub fn with_past_revision(mut self, hash: &str, spec: Value) -> Self {
        self.past.push((hash.into(), spec));
        self
    }

    pub fn template(&self) -> Value {
        json!({"metadata": {"creationTimestamp": null, "labels": self.labels}, "spec": self.template_spec})
    }

    pub fn deployment(&self) -> Value {
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": self.name, "namespace": self.namespace, "uid": "d-uid",
                "resourceVersion": "100", "generation": 2, "creationTimestamp": "2026-01-01T00:00:00Z",
                "labels": self.deployment_labels,
                "annotations": {"deployment.kubernetes.io/revision": "2"}},
            "spec": {"replicas": self.replicas, "selector": {"matchLabels": self.labels},
                "strategy": {"type": "RollingUpdate"}, "template": self.template()},
            "status": {"replicas": self.replicas, "readyReplicas": self.replicas}
        })
    }

    fn replicaset_with(&self, hash: &str, spec: &Value, replicas: u64, created: &str) -> Value {
        let mut labels = self.labels.clone();
        labels["pod-template-hash"] = json!(hash);
        json!({
            "apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": format!("{}-{hash}", self.name), "namespace": self.namespace,
                "uid": format!("rs-{hash}"), "resourceVersion": "90", "creationTimestamp": created,
                "labels": labels,
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": self.name,
                    "uid": "d-uid", "controller": true, "blockOwnerDeletion": true}]},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                "template": {"metadata": {"creationTimestamp": null, "labels": labels}, "spec": spec}},
            "status": {"replicas": replicas}
        })
    }

    /// The current ReplicaSet and any past revisions, as backed up.
    pub fn replicasets(&self) -> Vec<Value> {
        let mut out = vec![self.replicaset_with(
            &self.hash,
            &self.template_spec,
            self.replicas,
            "2026-01-02T00:00:00Z",
        )];
        for (hash, spec) in &self.past {
            let running = self.running(hash);
            out.push(self.replicaset_with(hash, spec, running, "2026-01-01T00:00:00Z"));
        }
        out
    }

    fn running(&self, hash: &str) -> u64 {
        self.past_running
            .iter()
            .find(|(h, _)| h == hash)
            .map_or(0, |(_, n)| *n)
    }

    pub fn current_replicaset_name(&self) -> String {
        format!("{}-{}", self.name, self.hash)
    }

    /// The pods of the current ReplicaSet, then those of past revisions still running, as backed up.
    pub fn pods(&self) -> Vec<Value> {
        let mut out = self.pods_of(&self.hash, &self.template_spec, self.replicas);
        for (hash, spec) in &self.past {
            out.extend(self.pods_of(hash, spec, self.running(hash)));
        }
        out
    }

    fn pods_of(&self, hash: &str, template_spec: &Value, count: u64) -> Vec<Value> {
        let mut labels = self.labels.clone();
        labels["pod-template-hash"] = json!(hash);
        (0..count)
            .map(|i| {
                let mut spec = template_spec.clone();
                spec["nodeName"] = json!("node-1");
                let mut pod = json!({
                    "apiVersion": "v1", "kind": "Pod",
                    "metadata": {"name": format!("{}-{hash}-pod{i}", self.name),
                        "namespace": self.namespace, "uid": format!("pod-{hash}-{i}"),
                        "labels": labels,
                        "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                            "name": format!("{}-{hash}", self.name), "uid": format!("rs-{hash}"),
                            "controller": true, "blockOwnerDeletion": true}]},
                    "spec": spec,
                    "status": {"phase": "Running"}
                });
                if self.legacy_annotations {
                    for v in &self.fsb_volumes {
                        pod["metadata"]["annotations"][format!("snapshot.velero.io/{v}")] =
                            json!(format!("snap-{v}"));
                    }
                }
                pod
            })
            .collect()
    }

    /// PodVolumeBackups of every pod's FSB volumes.
    pub fn pod_volume_backups(&self) -> Vec<Value> {
        if self.legacy_annotations {
            return Vec::new();
        }
        let current = self.pods_of(&self.hash, &self.template_spec, self.replicas);
        let through = |v: &str, pod: &Value| {
            self.backed_up_through
                .iter()
                .find(|(volume, _)| volume == v)
                .is_none_or(|(_, i)| name_of(pod) == name_of(&current[*i as usize]))
        };
        let through = &through;
        self.pods()
            .iter()
            .flat_map(|pod| {
                self.fsb_volumes
                    .iter()
                    .filter(move |v| through(v, pod))
                    .map(move |v| {
                        a_pod_volume_backup(
                            format!("b-{}", name_of(pod)),
                            &self.namespace,
                            name_of(pod),
                            v,
                        )
                    })
            })
            .collect()
    }

    /// The backed-up objects of this app.
    pub fn backup(&self) -> BackupObjects {
        BackupObjects {
            deployments: vec![self.deployment()],
            replicasets: self.replicasets(),
            pods: self.pods(),
            ..BackupObjects::default()
        }
    }

    pub fn fsb_index(&self) -> FsbIndex {
        FsbIndex::from_pod_volume_backups(&self.pod_volume_backups())
    }
}

/// Appends `item` to the array `target[list]`, created when missing.
pub fn push(target: &mut Value, list: &str, item: Value) {
    if !target[list].is_array() {
        target[list] = json!([]);
    }
    if let Some(items) = target[list].as_array_mut() {
        items.push(item);
    }
}

/// Adds emptyDir volume `volume` to a pod template's spec, mounted at `/<volume>` in its first
/// container.
pub fn add_emptydir_volume(template_spec: &mut Value, volume: &str) {
    push(
        template_spec,
        "volumes",
        json!({"name": volume, "emptyDir": {}}),
    );
    push(
        &mut template_spec["containers"][0],
        "volumeMounts",
        json!({"name": volume, "mountPath": format!("/{volume}")}),
    );
}

/// A completed PodVolumeBackup `name` of backup `nightly`: volume `volume` of pod
/// `namespace/pod`.
pub fn a_pod_volume_backup(name: String, namespace: &str, pod: &str, volume: &str) -> Value {
    json!({"apiVersion": "velero.io/v1", "kind": "PodVolumeBackup",
        "metadata": {"name": name, "namespace": "velero",
            "labels": {"velero.io/backup-name": "nightly"}},
        "spec": {"pod": {"kind": "Pod", "namespace": namespace, "name": pod},
            "volume": volume},
        "status": {"phase": "Completed", "snapshotID": format!("snap-{volume}")}})
}

/// PodVolumeBackups `b-<pod>-<volume>` of each of `fsb_volumes` of every pod in `pods`.
pub fn every_pod_volume_backed_up(pods: &[Value], fsb_volumes: &[String]) -> Vec<Value> {
    pods.iter()
        .flat_map(|pod| {
            fsb_volumes.iter().map(move |v| {
                let name = format!("b-{}-{v}", name_of(pod));
                a_pod_volume_backup(name, namespace_of(pod), name_of(pod), v)
            })
        })
        .collect()
}

/// Rules from a YAML document (the ConfigMap data entry).
pub fn rules(yaml: &str) -> fsb_modifiers::ResourceModifiers {
    VeleroEngine::rules_from_yaml(yaml).expect("test rules parse")
}

/// What Velero's own actions do to a pod before our plugin sees it: metadata reset, `nodeName`
/// cleared (`velero.io/pod`), `restore-wait` prepended with one mount per FSB volume
/// (`velero.io/pod-volume-restore`).
pub fn velero_prepares_pod(pod: &Value, fsb_volumes: &BTreeSet<String>) -> Value {
    let mut item = as_velero_hands_it(pod);
    if let Some(spec) = item["spec"].as_object_mut() {
        spec.remove("nodeName");
    }
    if !fsb_volumes.is_empty() {
        let mounts: Vec<Value> = fsb_volumes
            .iter()
            .map(|v| json!({"name": v, "mountPath": format!("/restores/{v}")}))
            .collect();
        let wait = json!({"name": RESTORE_WAIT_CONTAINERS[0], "image": "velero/velero:v1.17.0",
            "command": ["/velero-restore-helper"], "args": ["restore-uid"],
            "volumeMounts": mounts});
        let mut inits = item["spec"]["initContainers"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        inits.insert(0, wait);
        item["spec"]["initContainers"] = Value::Array(inits);
    }
    item
}

/// The objects as created in the cluster after a simulated restore.
#[derive(Debug, Clone)]
pub struct Restored {
    /// Pods Velero creates (skipped ones left out).
    pub pods: Vec<Value>,
    /// Pods the plugin asked Velero not to restore (`skipRestore`).
    pub skipped_pods: Vec<String>,
    /// Current ReplicaSet first, then past revisions, as restored (before any live alignment).
    pub replicasets: Vec<Value>,
    /// The current ReplicaSet after the Deployment step (live object, aligned if it patched).
    pub live_current_replicaset: Value,
    pub deployment: Value,
    pub deployment_decision: DeploymentDecision,
}

/// Simulates a Velero restore of `app` through the guard's steps in enforce mode: pods, then
/// ReplicaSets, then the Deployment; after each plugin call the rules are applied as Velero does.
/// `mutate_pod` lets a scenario change a pod the way another plugin or webhook would (e.g. inject a
/// sidecar) before our plugin sees it.
pub fn restore_with_guard(
    app: &App,
    rules_doc: &fsb_modifiers::ResourceModifiers,
    settings: &Settings,
    mutate_pod: impl Fn(&mut Value),
) -> Restored {
    let engine = VeleroEngine;
    let backup = app.backup();
    let fsb = app.fsb_index();
    // As the plugin shell does: the FSB workloads are computed once per restore.
    let workloads = super::steps::fsb_workloads(&backup, &fsb);
    let changes = super::steps::ChangeCache::default();
    let inputs = RestoreInputs {
        engine: &engine,
        rules: rules_doc,
        settings,
        backup: &backup,
        fsb: &fsb,
        fsb_workloads: Some(&workloads),
        changes: Some(&changes),
    };
    let modifiers = |obj: &Value, gr: &str| engine.apply_rules(rules_doc, obj, gr).unwrap().object;
    let mut pods = Vec::new();
    let mut skipped_pods = Vec::new();
    for pod in &backup.pods {
        let mut item = velero_prepares_pod(pod, &fsb.volumes_of(pod));
        mutate_pod(&mut item);
        let out = pod_step(&inputs, &item, pod).unwrap();
        if out.skip_restore {
            skipped_pods.push(name_of(pod).to_owned());
            continue;
        }
        pods.push(modifiers(&out.item.unwrap_or(item), "pods"));
    }
    let replicasets: Vec<Value> = backup
        .replicasets
        .iter()
        .map(|rs| {
            let item = as_velero_hands_it(rs);
            let out = replicaset_step(&inputs, &item, rs).unwrap();
            modifiers(&out.item.unwrap_or(item), "replicasets.apps")
        })
        .collect();
    let from_backup = &backup.deployments[0];
    let item = as_velero_hands_it(from_backup);
    let restore = json!({"metadata": {"namespace": "velero", "uid": "restore-uid"}, "spec": {"backupName": "nightly"}});
    let target = deployment_target(&inputs, from_backup, &restore);
    let mut live = replicasets[0].clone();
    let decision = match target {
        Some((_, name)) => {
            assert_eq!(name, app.current_replicaset_name());
            let out = deployment_step(&inputs, &item, from_backup, Some(&live)).unwrap();
            if let DeploymentDecision::Align { patch, .. } = &out.decision {
                live = apply_json_patch(&live, patch);
            }
            out.decision
        }
        None => DeploymentDecision::NothingToDo,
    };
    Restored {
        pods,
        skipped_pods,
        replicasets,
        live_current_replicaset: live,
        deployment: modifiers(&item, "deployments.apps"),
        deployment_decision: decision,
    }
}

/// Applies the guard's RFC 6902 patch (ops `test`, `replace`, `add`, `remove` on object members
/// only) the way the API server would; panics when a `test` fails (no concurrent writer here).
pub fn apply_json_patch(target: &Value, patch: &Value) -> Value {
    try_apply_json_patch(target, patch).unwrap_or_else(|e| panic!("{e}"))
}

/// [`apply_json_patch`], with a failed `test` reported as an error (the API server answers 422).
pub fn try_apply_json_patch(target: &Value, patch: &Value) -> Result<Value, String> {
    let mut out = target.clone();
    for op in patch.as_array().unwrap() {
        let path = op["path"].as_str().unwrap();
        if op["op"] == "test" {
            if out.pointer(path) != Some(&op["value"]) {
                return Err(format!("testing value {path} failed"));
            }
            continue;
        }
        let tokens: Vec<String> = path
            .split('/')
            .skip(1)
            .map(|t| t.replace("~1", "/").replace("~0", "~"))
            .collect();
        let (last, parents) = tokens.split_last().unwrap();
        let mut cursor = &mut out;
        for t in parents {
            cursor = cursor.get_mut(t.as_str()).expect("patch parent exists");
        }
        let map = cursor.as_object_mut().expect("patch parent is an object");
        match op["op"].as_str().unwrap() {
            "add" | "replace" => {
                map.insert(last.clone(), op["value"].clone());
            }
            "remove" => {
                map.remove(last.as_str());
            }
            other => panic!("unexpected op {other}"),
        }
    }
    Ok(out)
}

/// The controller's view after the restore: does the Deployment adopt the ReplicaSet holding the
/// pods? True when the live current ReplicaSet's template equals the Deployment's (hash ignored)
/// and no *older* restored ReplicaSet (past revisions are restored with older names order here)
/// equals it too.
pub fn controller_keeps_current(restored: &Restored) -> bool {
    let engine = VeleroEngine;
    let deployment_template = &restored.deployment["spec"]["template"];
    let current_equal = engine.templates_equal(
        &restored.live_current_replicaset["spec"]["template"],
        deployment_template,
    );
    let past_equal = restored.replicasets[1..]
        .iter()
        .any(|rs| engine.templates_equal(&rs["spec"]["template"], deployment_template));
    current_equal && !past_equal
}

/// FSB volumes and the `restore-wait` container of `pod` are exactly as Velero prepared them.
pub fn fsb_restore_intact(
    prepared: &Value,
    restored: &Value,
    fsb_volumes: &BTreeSet<String>,
) -> bool {
    super::delta::broken_invariants(prepared, restored, fsb_volumes).is_empty()
}

/// [`plan_workload`] of `app` with `rules_doc`.
pub fn plan_of(
    app: &App,
    rules_doc: &fsb_modifiers::ResourceModifiers,
    settings: &Settings,
) -> WorkloadPlan {
    let backup = app.backup();
    plan_workload(
        &VeleroEngine,
        rules_doc,
        WorkloadInputs {
            deployment: &backup.deployments[0],
            replicasets: &backup.replicasets,
            pods: &backup.pods,
            fsb: &app.fsb_index(),
            settings,
        },
    )
    .unwrap()
}

/// A Restore of backup `nightly` carrying `annotations`, mapping namespace `shop` to `shop-dr`,
/// with the resource modifiers of ConfigMap `mods`.
pub fn a_restore(annotations: Value) -> Value {
    json!({"metadata": {"name": "r1", "namespace": "velero", "uid": "uid-1", "annotations": annotations},
        "spec": {"backupName": "nightly", "namespaceMapping": {"shop": "shop-dr"},
            "resourceModifier": {"kind": "ConfigMap", "name": "mods"}}})
}

/// What Velero hands the plugin's `Execute` for `item` (its backed-up copy `from_backup`).
pub fn execute_input(item: Value, from_backup: &Value, restore: &Value) -> ExecuteInput {
    ExecuteInput {
        item,
        item_from_backup: from_backup.clone(),
        restore: restore.clone(),
    }
}
