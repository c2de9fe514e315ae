//! Test fixtures for DaemonSets that read like sentences: `a_daemonset("shop", "agent")
//! .with_fsb_volume("data").at_generation(3).on_nodes(&["node-1", "node-2"])`.
//!
//! Pods look as the DaemonSet controller creates them (facts §3; `CreatePodTemplate`,
//! `ReplaceDaemonSetPodNodeNameNodeAffinity`): template labels plus `controller-revision-hash` and
//! `pod-template-generation`, the daemon tolerations, and a required node affinity pinning the pod
//! to its node.

use serde_json::{Value, json};

use super::super::steps::BackupObjects;
use super::super::testkit::{add_emptydir_volume, every_pod_volume_backed_up, push};
use super::super::workload::FsbIndex;

/// A DaemonSet being described for a backup.
#[derive(Debug, Clone)]
pub struct DaemonSetApp {
    pub namespace: String,
    pub name: String,
    pub labels: Value,
    pub template_spec: Value,
    pub generation: u64,
    pub hash: String,
    pub nodes: Vec<String>,
    /// Nodes whose pod is still at the previous generation (an OnDelete DaemonSet mid-update).
    pub past_generation_nodes: Vec<String>,
    pub fsb_volumes: Vec<String>,
}

/// `a_daemonset("shop", "agent")`: generation 2, labels `app: <name>`, one container `agent`, one
/// pod on `node-1`.
pub fn a_daemonset(namespace: &str, name: &str) -> DaemonSetApp {
    DaemonSetApp {
        namespace: namespace.into(),
        name: name.into(),
        labels: json!({"app": name}),
        template_spec: json!({"containers": [{"name": "agent", "image": "registry.example/agent:1.0"}]}),
        generation: 2,
        hash: "6d5f8c7b9".into(),
        nodes: vec!["node-1".into()],
        past_generation_nodes: Vec::new(),
        fsb_volumes: Vec::new(),
    }
}

/// The tolerations the DaemonSet controller adds to every pod it creates (`hostNetwork: false`).
pub fn daemon_tolerations() -> Vec<Value> {
    let exists = |key: &str, effect: &str| json!({"key": format!("node.kubernetes.io/{key}"), "operator": "Exists", "effect": effect});
    vec![
        exists("not-ready", "NoExecute"),
        exists("unreachable", "NoExecute"),
        exists("disk-pressure", "NoSchedule"),
        exists("memory-pressure", "NoSchedule"),
        exists("pid-pressure", "NoSchedule"),
        exists("unschedulable", "NoSchedule"),
    ]
}

/// The node pin the controller gives a pod for `node`.
pub fn node_pin(node: &str) -> Value {
    json!({"nodeSelectorTerms": [{"matchFields": [
        {"key": "metadata.name", "operator": "In", "values": [node]}]}]})
}

impl DaemonSetApp {
    /// Adds an emptyDir volume mounted into the first container whose data is in the FSB backup.
    pub fn with_fsb_volume(mut self, volume: &str) -> Self {
        add_emptydir_volume(&mut self.template_spec, volume);
        self.fsb_volumes.push(volume.into());
        self
    }

    pub fn at_generation(mut self, generation: u64) -> Self {
        self.generation = generation;
        self
    }

    pub fn on_nodes(mut self, nodes: &[&str]) -> Self {
        self.nodes = nodes.iter().map(|n| (*n).to_owned()).collect();
        self
    }

    /// One more pod, on `node`, still at the previous generation.
    pub fn with_past_generation_pod_on(mut self, node: &str) -> Self {
        self.past_generation_nodes.push(node.into());
        self
    }

    /// A template toleration (besides the controller's).
    pub fn with_toleration(mut self, toleration: Value) -> Self {
        push(&mut self.template_spec, "tolerations", toleration);
        self
    }

    pub fn template(&self) -> Value {
        json!({"metadata": {"creationTimestamp": null, "labels": self.labels}, "spec": self.template_spec})
    }

    pub fn daemonset(&self) -> Value {
        json!({
            "apiVersion": "apps/v1", "kind": "DaemonSet",
            "metadata": {"name": self.name, "namespace": self.namespace, "uid": "ds-uid",
                "resourceVersion": "100", "generation": self.generation,
                "creationTimestamp": "2026-01-01T00:00:00Z", "labels": self.labels,
                "annotations": {"deprecated.daemonset.template.generation": self.generation.to_string()}},
            "spec": {"selector": {"matchLabels": self.labels}, "template": self.template(),
                "updateStrategy": {"type": "RollingUpdate",
                    "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}},
                "revisionHistoryLimit": 10},
            "status": {"desiredNumberScheduled": self.nodes.len(),
                "updatedNumberScheduled": self.nodes.len()}
        })
    }

    fn pod(&self, node: &str, generation: u64, hash: &str) -> Value {
        let mut labels = self.labels.clone();
        labels["controller-revision-hash"] = json!(hash);
        labels["pod-template-generation"] = json!(generation.to_string());
        let mut spec = self.template_spec.clone();
        spec["nodeName"] = json!(node);
        spec["affinity"] = json!({"nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": node_pin(node)}});
        for t in daemon_tolerations() {
            push(&mut spec, "tolerations", t);
        }
        json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": format!("{}-{node}", self.name), "namespace": self.namespace,
                "uid": format!("pod-{node}"), "labels": labels,
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "DaemonSet", "name": self.name,
                    "uid": "ds-uid", "controller": true, "blockOwnerDeletion": true}]},
            "spec": spec,
            "status": {"phase": "Running"}
        })
    }

    /// Pods as backed up: one per node at the current generation, then the past-generation ones.
    pub fn pods(&self) -> Vec<Value> {
        let current = self
            .nodes
            .iter()
            .map(|n| self.pod(n, self.generation, &self.hash));
        let past = self
            .past_generation_nodes
            .iter()
            .map(|n| self.pod(n, self.generation - 1, "5c4b3a2f1"));
        current.chain(past).collect()
    }

    /// The current ControllerRevision as backed up.
    pub fn controller_revision(&self) -> Value {
        let mut template = self.template();
        template["$patch"] = json!("replace");
        let mut labels = self.labels.clone();
        labels["controller-revision-hash"] = json!(self.hash);
        json!({
            "apiVersion": "apps/v1", "kind": "ControllerRevision",
            "metadata": {"name": format!("{}-{}", self.name, self.hash), "namespace": self.namespace,
                "labels": labels,
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "DaemonSet", "name": self.name,
                    "uid": "ds-uid", "controller": true, "blockOwnerDeletion": true}]},
            "data": {"spec": {"template": template}},
            "revision": self.generation
        })
    }

    pub fn pod_volume_backups(&self) -> Vec<Value> {
        every_pod_volume_backed_up(&self.pods(), &self.fsb_volumes)
    }

    pub fn fsb_index(&self) -> FsbIndex {
        FsbIndex::from_pod_volume_backups(&self.pod_volume_backups())
    }

    pub fn backup(&self) -> BackupObjects {
        BackupObjects {
            daemonsets: vec![self.daemonset()],
            pods: self.pods(),
            controllerrevisions: vec![self.controller_revision()],
            ..BackupObjects::default()
        }
    }
}

/// A resource-modifier rule document whose one rule selects DaemonSets and applies `patches`
/// (YAML flow sequence items).
pub fn daemonset_rules(patches: &[&str]) -> fsb_modifiers::ResourceModifiers {
    let mut yaml = String::from(
        "version: v1\nresourceModifierRules:\n- conditions: {groupResource: daemonsets.apps}\n  patches:\n",
    );
    for p in patches {
        yaml.push_str(&format!("  - {p}\n"));
    }
    super::super::testkit::rules(&yaml)
}

/// Rule patch: sets env `MODE=restored` on the first container.
pub const ADD_ENV: &str = r#"{operation: add, path: /spec/template/spec/containers/0/env, value: '[{"name":"MODE","value":"restored"}]'}"#;
/// Rule patch: adds a node selector.
pub const ADD_NODE_SELECTOR: &str =
    r#"{operation: add, path: /spec/template/spec/nodeSelector, value: '{"disk":"ssd"}'}"#;
/// Rule patch: removes the template-generation annotation.
pub const REMOVE_GENERATION: &str =
    r#"{operation: remove, path: /metadata/annotations/deprecated.daemonset.template.generation}"#;
