//! StatefulSet fixtures that read like sentences: `a_statefulset("shop", "db").with_replicas(3)
//! .with_fsb_volume("data")`.

use serde_json::{Value, json};

use super::super::engine_impl::VeleroEngine;
use super::super::revision::{HASH_LABEL, REVISION_HASH_LABEL, revision_data};
use super::super::settings::Settings;
use super::super::steps::{BackupObjects, RestoreInputs};
use super::super::testkit::{add_emptydir_volume, every_pod_volume_backed_up};
use super::super::workload::FsbIndex;

/// The backed-up update revision's name (any `<sts>-<hash>`-shaped name works: pods only carry it).
pub const UPDATE_REVISION: &str = "db-6c9f7d8b5";
/// An older revision's name (mid-rollout backups).
pub const OLDER_REVISION: &str = "db-58d4b9c7f";

/// A StatefulSet being described for a backup.
#[derive(Debug, Clone)]
pub struct Db {
    pub namespace: String,
    pub name: String,
    pub labels: Value,
    pub template_spec: Value,
    pub replicas: u64,
    pub fsb_volumes: Vec<String>,
    /// Ordinals below this still run the older revision (`partition` rollout in progress).
    pub older_below: u64,
    /// `status.updateRevision` recorded in the backup.
    pub with_status: bool,
    /// The update revision carries a `controller.kubernetes.io/hash` label.
    pub hash_label: Option<String>,
}

/// `a_statefulset("shop", "db")`: one replica, labels `app: <name>`, one container `db`, status
/// naming [`UPDATE_REVISION`].
pub fn a_statefulset(namespace: &str, name: &str) -> Db {
    Db {
        namespace: namespace.into(),
        name: name.into(),
        labels: json!({"app": name}),
        template_spec: json!({"containers": [{"name": "db", "image": "registry.example/db:1.0"}]}),
        replicas: 1,
        fsb_volumes: Vec::new(),
        older_below: 0,
        with_status: true,
        hash_label: Some("1234567".into()),
    }
}

impl Db {
    pub fn with_replicas(mut self, n: u64) -> Self {
        self.replicas = n;
        self
    }

    /// An emptyDir volume mounted into the first container, its data in the FSB backup.
    pub fn with_fsb_volume(mut self, volume: &str) -> Self {
        add_emptydir_volume(&mut self.template_spec, volume);
        self.fsb_volumes.push(volume.into());
        self
    }

    /// Ordinals below `n` were backed up at [`OLDER_REVISION`] (a partitioned rollout).
    pub fn mid_rollout_below(mut self, n: u64) -> Self {
        self.older_below = n;
        self
    }

    /// No `status` in the backed-up StatefulSet.
    pub fn without_status(mut self) -> Self {
        self.with_status = false;
        self
    }

    pub fn template(&self) -> Value {
        json!({"metadata": {"creationTimestamp": null, "labels": self.labels}, "spec": self.template_spec})
    }

    pub fn statefulset(&self) -> Value {
        let mut sts = json!({
            "apiVersion": "apps/v1", "kind": "StatefulSet",
            "metadata": {"name": self.name, "namespace": self.namespace, "uid": "sts-uid",
                "resourceVersion": "100", "generation": 2, "labels": self.labels},
            "spec": {"replicas": self.replicas, "selector": {"matchLabels": self.labels},
                "serviceName": self.name, "podManagementPolicy": "OrderedReady",
                "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}},
                "template": self.template()},
        });
        if self.with_status {
            sts["status"] = json!({"replicas": self.replicas, "updateRevision": UPDATE_REVISION,
                "currentRevision": UPDATE_REVISION, "collisionCount": 0});
        }
        sts
    }

    fn revision(&self, name: &str, number: i64, template: &Value, hash: Option<&str>) -> Value {
        let mut labels = self.labels.clone();
        if let Some(hash) = hash {
            labels[HASH_LABEL] = json!(hash);
        }
        json!({
            "apiVersion": "apps/v1", "kind": "ControllerRevision",
            "metadata": {"name": name, "namespace": self.namespace, "uid": format!("cr-{name}"),
                "resourceVersion": "80", "labels": labels,
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "StatefulSet", "name": self.name,
                    "uid": "sts-uid", "controller": true, "blockOwnerDeletion": true}]},
            "data": revision_data(template),
            "revision": number,
        })
    }

    /// The backed-up revisions: an older one (revision 1) and the update revision (revision 2).
    pub fn revisions(&self) -> Vec<Value> {
        let mut older = self.template();
        older["spec"]["containers"][0]["image"] = json!("registry.example/db:0.9");
        vec![
            self.revision(OLDER_REVISION, 1, &older, Some("7654321")),
            self.revision(
                UPDATE_REVISION,
                2,
                &self.template(),
                self.hash_label.as_deref(),
            ),
        ]
    }

    /// The pods, as backed up: `<name>-<n>`, labelled with their revision.
    pub fn pods(&self) -> Vec<Value> {
        (0..self.replicas)
            .map(|i| {
                let revision = if i < self.older_below {
                    OLDER_REVISION
                } else {
                    UPDATE_REVISION
                };
                let mut labels = self.labels.clone();
                labels[REVISION_HASH_LABEL] = json!(revision);
                labels["statefulset.kubernetes.io/pod-name"] = json!(format!("{}-{i}", self.name));
                let mut spec = self.template_spec.clone();
                spec["nodeName"] = json!("node-1");
                spec["hostname"] = json!(format!("{}-{i}", self.name));
                json!({
                    "apiVersion": "v1", "kind": "Pod",
                    "metadata": {"name": format!("{}-{i}", self.name), "namespace": self.namespace,
                        "uid": format!("pod-{i}"), "labels": labels,
                        "ownerReferences": [{"apiVersion": "apps/v1", "kind": "StatefulSet",
                            "name": self.name, "uid": "sts-uid", "controller": true,
                            "blockOwnerDeletion": true}]},
                    "spec": spec,
                    "status": {"phase": "Running"}
                })
            })
            .collect()
    }

    /// PodVolumeBackups of every pod's FSB volumes.
    pub fn pod_volume_backups(&self) -> Vec<Value> {
        every_pod_volume_backed_up(&self.pods(), &self.fsb_volumes)
    }

    pub fn backup(&self) -> BackupObjects {
        BackupObjects {
            statefulsets: vec![self.statefulset()],
            controllerrevisions: self.revisions(),
            pods: self.pods(),
            ..BackupObjects::default()
        }
    }

    pub fn fsb_index(&self) -> FsbIndex {
        FsbIndex::from_pod_volume_backups(&self.pod_volume_backups())
    }
}

/// Rules: a StatefulSet rule adding an env var to the first container (a template change).
pub const ENV_RULE: &str = r#"
version: v1
resourceModifierRules:
- conditions: {groupResource: statefulsets.apps}
  patches:
  - {operation: add, path: /spec/template/spec/containers/0/env, value: '[{"name":"MODE","value":"restored"}]'}
"#;

/// Rules: the StatefulSet's replica count lowered to `n`, template untouched.
pub fn replicas_rule(n: u64) -> String {
    format!(
        "version: v1\nresourceModifierRules:\n- conditions: {{groupResource: statefulsets.apps}}\n  patches:\n  - {{operation: replace, path: /spec/replicas, value: \"{n}\"}}\n"
    )
}

/// Everything a step reads, over owned parts.
pub struct Restore {
    pub engine: VeleroEngine,
    pub rules: fsb_modifiers::ResourceModifiers,
    pub settings: Settings,
    pub backup: BackupObjects,
    pub fsb: FsbIndex,
}

impl Restore {
    pub fn of(db: &Db, rules: &str) -> Self {
        Self {
            engine: VeleroEngine,
            rules: VeleroEngine::rules_from_yaml(rules).expect("test rules parse"),
            settings: Settings::default(),
            backup: db.backup(),
            fsb: db.fsb_index(),
        }
    }

    pub fn inputs(&self) -> RestoreInputs<'_, VeleroEngine> {
        RestoreInputs {
            engine: &self.engine,
            rules: &self.rules,
            settings: &self.settings,
            backup: &self.backup,
            fsb: &self.fsb,
            fsb_workloads: None,
            changes: None,
        }
    }
}

/// A restore object mapping `shop` to `shop-dr`.
pub fn restore_object() -> Value {
    json!({"metadata": {"name": "r1", "namespace": "velero", "uid": "uid-1"},
        "spec": {"backupName": "nightly", "namespaceMapping": {"shop": "shop-dr"},
            "resourceModifier": {"kind": "ConfigMap", "name": "mods"}}})
}
