//! Live pods (and the workloads that own them): the reads and the one write the guard makes on
//! restored pods — get, list, and a label-only merge patch (labels are mutable on a running pod, so
//! the patch never restarts it).

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::{Cluster, Resource, Result};

impl Resource {
    pub const PODS: Self = Self {
        group: "",
        version: "v1",
        plural: "pods",
    };
    pub const DAEMON_SETS: Self = Self {
        group: "apps",
        version: "v1",
        plural: "daemonsets",
    };
}

/// A label change for [`Cluster::patch_pod_labels`]: `Some(value)` sets the label, `None` removes
/// it (a JSON merge patch `null`).
pub type LabelChanges = BTreeMap<String, Option<String>>;

/// The JSON merge patch (RFC 7386) that applies `labels` to an object's `metadata.labels`. With
/// `expected_resource_version` it also carries `metadata.resourceVersion`, which the API server
/// treats as a precondition: a concurrent change answers 409 Conflict instead of being overwritten.
pub fn label_merge_patch(labels: &LabelChanges, expected_resource_version: Option<&str>) -> Value {
    let labels: Map<String, Value> = labels
        .iter()
        .map(|(k, v)| (k.clone(), v.as_ref().map_or(Value::Null, |v| json!(v))))
        .collect();
    let mut metadata = Map::new();
    metadata.insert("labels".to_owned(), Value::Object(labels));
    if let Some(version) = expected_resource_version {
        metadata.insert("resourceVersion".to_owned(), json!(version));
    }
    json!({ "metadata": metadata })
}

/// A label selector string (`k=v,k2=v2`) for a workload's `spec.selector.matchLabels`, sorted by
/// key. `None` when the selector has no `matchLabels`. `matchExpressions` are not rendered: the
/// result selects a superset of the workload's pods, so callers filter by name.
pub fn match_labels_selector(selector: &Value) -> Option<String> {
    let labels = selector.get("matchLabels")?.as_object()?;
    if labels.is_empty() {
        return None;
    }
    let mut pairs: Vec<String> = labels
        .iter()
        .filter_map(|(k, v)| v.as_str().map(|v| format!("{k}={v}")))
        .collect();
    pairs.sort();
    Some(pairs.join(","))
}

impl Cluster {
    /// A live pod, `None` if not found.
    pub async fn get_pod(&self, namespace: &str, name: &str) -> Result<Option<Value>> {
        self.get(Resource::PODS, namespace, name).await
    }

    /// Live pods in `namespace` matching `label_selector` (`""` = every pod).
    pub async fn list_pods(&self, namespace: &str, label_selector: &str) -> Result<Vec<Value>> {
        self.list(Resource::PODS, namespace, label_selector).await
    }

    /// Sets or removes labels on a live pod with one JSON merge patch (see [`label_merge_patch`]
    /// for the `expected_resource_version` precondition). Returns the pod as stored.
    pub async fn patch_pod_labels(
        &self,
        namespace: &str,
        name: &str,
        labels: &LabelChanges,
        expected_resource_version: Option<&str>,
    ) -> Result<Value> {
        let patch = label_merge_patch(labels, expected_resource_version);
        self.merge_patch(Resource::PODS, namespace, name, &patch)
            .await
    }

    /// PATCH with a JSON merge patch (`application/merge-patch+json`).
    pub async fn merge_patch(
        &self,
        resource: Resource,
        namespace: &str,
        name: &str,
        patch: &Value,
    ) -> Result<Value> {
        self.patch(
            resource,
            namespace,
            name,
            patch,
            "application/merge-patch+json",
        )
        .await
    }

    /// A live DaemonSet, `None` if not found.
    pub async fn get_daemon_set(&self, namespace: &str, name: &str) -> Result<Option<Value>> {
        self.get(Resource::DAEMON_SETS, namespace, name).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_patch_sets_removes_and_preconditions() {
        let mut labels = LabelChanges::new();
        labels.insert("pod-template-generation".into(), Some("3".into()));
        labels.insert("stale".into(), None);
        // RFC 7386: null removes a member; resourceVersion in a merge patch is a precondition.
        assert_eq!(
            label_merge_patch(&labels, Some("42")),
            json!({"metadata": {"labels": {"pod-template-generation": "3", "stale": null},
                "resourceVersion": "42"}})
        );
        assert_eq!(
            label_merge_patch(&labels, None),
            json!({"metadata": {"labels": {"pod-template-generation": "3", "stale": null}}})
        );
    }

    #[test]
    fn selector_from_match_labels_only() {
        let selector = json!({"matchLabels": {"b": "2", "a": "1"},
            "matchExpressions": [{"key": "c", "operator": "Exists"}]});
        assert_eq!(match_labels_selector(&selector).as_deref(), Some("a=1,b=2"));
        assert_eq!(
            match_labels_selector(&json!({"matchExpressions": []})),
            None
        );
        assert_eq!(match_labels_selector(&json!({"matchLabels": {}})), None);
    }

    #[test]
    fn resources_are_named_as_rbac_names_them() {
        assert_eq!(Resource::PODS.qualified(), "pods");
        assert_eq!(
            Resource::PODS.url_path("shop"),
            "/api/v1/namespaces/shop/pods"
        );
        assert_eq!(Resource::DAEMON_SETS.qualified(), "daemonsets.apps");
        assert_eq!(
            Resource::DAEMON_SETS.url_path("shop"),
            "/apis/apps/v1/namespaces/shop/daemonsets"
        );
    }
}
