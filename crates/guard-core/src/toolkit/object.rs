//! Reading and writing items: names, the reset Velero applies before actions run, pod templates,
//! and the few paths the guard sets (labels, annotations, nested fields).

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::error::{Error, Result};

/// Metadata fields Velero's `resetMetadataAndStatus` deletes before actions and modifiers run.
const RESET_METADATA_FIELDS: [&str; 9] = [
    "generateName",
    "selfLink",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "ownerReferences",
];

/// The object as Velero hands it to restore item actions and resource modifiers: metadata reset
/// (see `RESET_METADATA_FIELDS`), `status` removed, namespace and labels untouched (the namespace
/// mapping and restore labels are applied after the modifiers).
pub fn as_velero_hands_it(object: &Value) -> Value {
    let mut object = object.clone();
    if let Some(map) = object.as_object_mut() {
        map.remove("status");
        if let Some(meta) = map.get_mut("metadata").and_then(Value::as_object_mut) {
            for field in RESET_METADATA_FIELDS {
                meta.remove(field);
            }
        }
    }
    object
}

/// The string at JSON pointer `pointer`, if there is one.
pub fn str_at<'a>(object: &'a Value, pointer: &str) -> Option<&'a str> {
    object.pointer(pointer).and_then(Value::as_str)
}

/// `metadata.name` or `""`.
pub fn name_of(object: &Value) -> &str {
    str_at(object, "/metadata/name").unwrap_or_default()
}

/// `metadata.namespace` or `""`.
pub fn namespace_of(object: &Value) -> &str {
    str_at(object, "/metadata/namespace").unwrap_or_default()
}

/// `spec.template` of a `kind` workload (Deployment, StatefulSet, DaemonSet); an error naming it
/// when missing.
pub fn pod_template<'a>(kind: &str, object: &'a Value) -> Result<&'a Value> {
    object
        .pointer("/spec/template")
        .ok_or_else(|| Error::NoTemplate {
            object: format!("{kind} {}/{}", namespace_of(object), name_of(object)),
            after_rules: false,
        })
}

/// Sets `value` at `path`, creating (or replacing non-object) intermediate maps.
pub fn set_path(target: &mut Value, path: &[&str], value: Value) {
    let Some((first, rest)) = path.split_first() else {
        *target = value;
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    if let Value::Object(map) = target {
        let child = map.entry((*first).to_owned()).or_insert(Value::Null);
        set_path(child, rest, value);
    }
}

/// Sets annotation `key` of `item`.
pub fn annotate(item: &mut Value, key: &str, value: Value) {
    set_path(item, &["metadata", "annotations", key], value);
}

/// Sets label `key` of `item`.
pub fn set_label(item: &mut Value, key: &str, value: &str) {
    set_path(item, &["metadata", "labels", key], json!(value));
}

/// Template paths as an annotation value: a JSON list in a string.
pub fn json_list(paths: &[String]) -> Value {
    Value::String(Value::from(paths.to_vec()).to_string())
}

/// A label change on a live object: `Some(value)` sets the label, `None` removes it.
pub type LabelChanges = BTreeMap<String, Option<String>>;

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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reset_removes_what_velero_removes_and_keeps_the_rest() {
        let obj = json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "shop", "uid": "u", "resourceVersion": "7",
                "generation": 3, "creationTimestamp": "2024-01-01T00:00:00Z", "selfLink": "/x",
                "generateName": "w-", "ownerReferences": [{}], "deletionTimestamp": "t",
                "deletionGracePeriodSeconds": 30, "labels": {"app": "web"},
                "annotations": {"a": "b"}, "finalizers": ["f"], "managedFields": [{}]},
            "spec": {"replicas": 1},
            "status": {"replicas": 1}
        });
        let reset = as_velero_hands_it(&obj);
        assert_eq!(
            reset,
            json!({
                "apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": "web", "namespace": "shop", "labels": {"app": "web"},
                    "annotations": {"a": "b"}, "finalizers": ["f"], "managedFields": [{}]},
                "spec": {"replicas": 1}
            })
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
}
