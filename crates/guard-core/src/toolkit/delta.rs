//! The template delta as it lands on a pod: which paths it touches (for logs and annotations —
//! paths only, never values), which parts must be withheld to keep FSB restores working, and the
//! invariants checked on the result.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use super::owners::POD_TEMPLATE_HASH;

/// Init containers Velero inserts into pods with FSB data (current and legacy name).
pub const RESTORE_WAIT_CONTAINERS: [&str; 2] = ["restore-wait", "restic-wait"];

/// Whether `container` is Velero's `restore-wait` (or legacy `restic-wait`) init container.
fn is_restore_wait(container: &Value) -> bool {
    container
        .get("name")
        .and_then(Value::as_str)
        .is_some_and(|n| RESTORE_WAIT_CONTAINERS.contains(&n))
}

/// List-element keys used to name an element of a merge list in a reported path
/// (`spec.containers[name=app]`). Reporting only: lists without one of these are reported whole.
const PATH_KEYS: [&str; 5] = [
    "name",
    "mountPath",
    "containerPort",
    "devicePath",
    "topologyKey",
];

/// Template paths a strategic merge patch touches, dotted, list elements named by their merge key
/// (`spec.containers[name=app].env[name=MODE]`). Values never appear. Sorted, deduplicated.
pub fn patch_paths(patch: &Value) -> Vec<String> {
    let mut out = BTreeSet::new();
    walk(patch, "", &mut out);
    out.into_iter().collect()
}

fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_owned()
    } else {
        format!("{prefix}.{key}")
    }
}

fn element_key(element: &Value) -> Option<(&'static str, String)> {
    let map = element.as_object()?;
    PATH_KEYS.iter().find_map(|k| {
        let v = map.get(*k)?;
        let text = match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        Some((*k, text))
    })
}

fn walk(patch: &Value, prefix: &str, out: &mut BTreeSet<String>) {
    let Some(map) = patch.as_object() else {
        if !prefix.is_empty() {
            out.insert(prefix.to_owned());
        }
        return;
    };
    if map.contains_key("$patch") && !prefix.is_empty() {
        out.insert(prefix.to_owned());
        return;
    }
    let mut touched = false;
    for (key, value) in map {
        if key == "$retainKeys" || key.starts_with("$setElementOrder/") {
            continue;
        }
        if let Some(field) = key.strip_prefix("$deleteFromPrimitiveList/") {
            out.insert(join(prefix, field));
            touched = true;
            continue;
        }
        touched = true;
        let path = join(prefix, key);
        match value {
            Value::Array(items)
                if !items.is_empty() && items.iter().all(|i| element_key(i).is_some()) =>
            {
                for item in items {
                    let (k, v) = element_key(item).unwrap_or(("", String::new()));
                    let element = format!("{path}[{k}={v}]");
                    let rest: Map<String, Value> = item
                        .as_object()
                        .into_iter()
                        .flatten()
                        .filter(|(f, _)| f.as_str() != k)
                        .map(|(f, v)| (f.clone(), v.clone()))
                        .collect();
                    if rest.is_empty() || rest.contains_key("$patch") {
                        out.insert(element);
                    } else {
                        walk(&Value::Object(rest), &element, out);
                    }
                }
            }
            Value::Object(_) => walk(value, &path, out),
            _ => {
                out.insert(path);
            }
        }
    }
    if !touched && !prefix.is_empty() {
        // Only ordering directives: the list order changed.
        out.insert(prefix.to_owned());
    }
}

/// Removes from `delta` (a strategic patch over `{metadata, spec}` of a pod) every part that would
/// rename the pod, move it to another namespace, remove or change one of `fsb_volumes`, or touch a
/// `restore-wait`/`restic-wait` init container. Returns the removed parts as paths.
pub fn withhold_unsafe_parts(delta: &mut Value, fsb_volumes: &BTreeSet<String>) -> Vec<String> {
    let mut withheld = Vec::new();
    if let Some(meta) = delta.get_mut("metadata").and_then(Value::as_object_mut) {
        for field in ["name", "namespace", "generateName"] {
            if meta.remove(field).is_some() {
                withheld.push(format!("metadata.{field}"));
            }
        }
    }
    if let Some(spec) = delta.get_mut("spec").and_then(Value::as_object_mut) {
        withhold_named_entries(
            spec,
            "volumes",
            |name| fsb_volumes.contains(name),
            &mut withheld,
        );
        withhold_named_entries(
            spec,
            "initContainers",
            |name| RESTORE_WAIT_CONTAINERS.contains(&name),
            &mut withheld,
        );
    }
    prune_empty(delta);
    withheld
}

/// In a merge list of `spec`, drops the entries whose `name` is protected. A list-level deletion
/// (`null`) or a replace directive is dropped whole: it would take the protected entries with it.
fn withhold_named_entries(
    spec: &mut Map<String, Value>,
    list: &str,
    protected: impl Fn(&str) -> bool,
    withheld: &mut Vec<String>,
) {
    let Some(entries) = spec.get_mut(list) else {
        return;
    };
    let whole = match entries {
        Value::Array(items) => items
            .iter()
            .any(|i| i.get("$patch").and_then(Value::as_str) == Some("replace")),
        _ => true,
    };
    if whole {
        spec.remove(list);
        withheld.push(format!("spec.{list}"));
        return;
    }
    if let Value::Array(items) = entries {
        items.retain(|item| {
            let name = item.get("name").and_then(Value::as_str).unwrap_or_default();
            if protected(name) {
                withheld.push(format!("spec.{list}[name={name}]"));
                false
            } else {
                true
            }
        });
        if items.is_empty() {
            spec.remove(list);
        }
    }
}

/// Drops objects emptied by withholding (an empty patch map changes nothing, but keeps reports
/// clean).
fn prune_empty(delta: &mut Value) {
    if let Some(map) = delta.as_object_mut() {
        for key in ["metadata", "spec"] {
            if map
                .get(key)
                .and_then(Value::as_object)
                .is_some_and(Map::is_empty)
            {
                map.remove(key);
            }
        }
    }
}

/// Puts `restore-wait`/`restic-wait` back where they were in `before` (index 0 as Velero inserts
/// it) when the patch only moved them: merging a new init container by key can place it ahead of
/// them (strategic merge patch follows the template's order, which does not know `restore-wait`).
/// They must run first so no app init container touches a volume before its data is restored.
/// A wait container whose content changed is left where it is (the invariant check reports it).
pub fn keep_restore_wait_first(before: &Value, after: &mut Value) {
    let Some(original) = before
        .pointer("/spec/initContainers")
        .and_then(Value::as_array)
    else {
        return;
    };
    let Some(list) = after
        .pointer_mut("/spec/initContainers")
        .and_then(Value::as_array_mut)
    else {
        return;
    };
    for (index, wait) in original
        .iter()
        .enumerate()
        .filter(|(_, c)| is_restore_wait(c))
    {
        let Some(at) = list.iter().position(|c| c == wait) else {
            continue;
        };
        if at != index && index < list.len() {
            let moved = list.remove(at);
            list.insert(index, moved);
        }
    }
}

/// Why a corrected pod would break an FSB restore (empty = safe).
pub fn broken_invariants(
    before: &Value,
    after: &Value,
    fsb_volumes: &BTreeSet<String>,
) -> Vec<String> {
    let mut broken = Vec::new();
    for field in ["name", "namespace"] {
        if before.pointer(&format!("/metadata/{field}"))
            != after.pointer(&format!("/metadata/{field}"))
        {
            broken.push(format!("metadata.{field} changed"));
        }
    }
    let volume = |pod: &Value, name: &str| {
        pod.pointer("/spec/volumes")
            .and_then(Value::as_array)
            .and_then(|vs| {
                vs.iter()
                    .find(|v| v.get("name").and_then(Value::as_str) == Some(name))
            })
            .cloned()
    };
    for name in fsb_volumes {
        if volume(before, name) != volume(after, name) {
            broken.push(format!("FSB volume {name} removed or changed"));
        }
    }
    let waits = |pod: &Value| -> Vec<(usize, Value)> {
        pod.pointer("/spec/initContainers")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
            .filter(|(_, c)| is_restore_wait(c))
            .map(|(i, c)| (i, c.clone()))
            .collect()
    };
    if waits(before) != waits(after) {
        broken.push("restore-wait init container moved or changed".to_owned());
    }
    broken
}

/// A stable fingerprint of a pod template: keys sorted, `null` map entries dropped (Kubernetes
/// decodes them as absent), `pod-template-hash` label ignored. Records what the guard emitted so a
/// later step can tell whether the live object still carries it without comparing against
/// apiserver-defaulted JSON.
pub fn template_digest(template: &Value) -> String {
    let mut t = template.clone();
    if let Some(labels) = t
        .pointer_mut("/metadata/labels")
        .and_then(Value::as_object_mut)
    {
        labels.remove(POD_TEMPLATE_HASH);
    }
    let bytes = canonical(&t).to_string();
    // Two FNV-1a 64-bit lanes (different offset bases): a stable 128-bit fingerprint across
    // processes and builds. Not a security boundary: it only detects "not what we emitted".
    let lane = |basis: u64| {
        bytes.bytes().fold(basis, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
        })
    };
    format!(
        "{:016x}{:016x}",
        lane(0xcbf2_9ce4_8422_2325),
        lane(0x6c62_272e_07bb_0142)
    )
}

fn canonical(v: &Value) -> Value {
    match v {
        Value::Object(map) => {
            let mut keys: Vec<_> = map.iter().filter(|(_, v)| !v.is_null()).collect();
            keys.sort_by(|a, b| a.0.cmp(b.0));
            Value::Object(
                keys.into_iter()
                    .map(|(k, v)| (k.clone(), canonical(v)))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.iter().map(canonical).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn set(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn paths_name_merge_list_elements_and_skip_directives() {
        let patch = json!({
            "spec": {
                "$setElementOrder/containers": [{"name": "app"}],
                "containers": [{"name": "app", "env": [{"name": "MODE", "value": "x"}], "image": "i"}],
                "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{"matchExpressions": []}]}}},
                "tolerations": [{"key": "k", "operator": "Exists"}],
                "volumes": [{"name": "old", "$patch": "delete"}],
                "nodeSelector": {"disk": null}
            }
        });
        assert_eq!(
            patch_paths(&patch),
            [
                "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms",
                "spec.containers[name=app].env[name=MODE].value",
                "spec.containers[name=app].image",
                "spec.nodeSelector.disk",
                "spec.tolerations",
                "spec.volumes[name=old]",
            ]
        );
    }

    #[test]
    fn fsb_volume_and_restore_wait_parts_are_withheld() {
        let mut delta = json!({
            "metadata": {"name": "renamed", "labels": {"tier": "gold"}},
            "spec": {
                "volumes": [{"name": "data", "$patch": "delete"}, {"name": "cache", "emptyDir": {}}],
                "initContainers": [{"name": "restore-wait", "image": "x"}]
            }
        });
        let withheld = withhold_unsafe_parts(&mut delta, &set(&["data"]));
        assert_eq!(
            withheld,
            [
                "metadata.name",
                "spec.volumes[name=data]",
                "spec.initContainers[name=restore-wait]"
            ]
        );
        assert_eq!(
            delta,
            json!({"metadata": {"labels": {"tier": "gold"}}, "spec": {"volumes": [{"name": "cache", "emptyDir": {}}]}})
        );
        // A list-level deletion would take the FSB volume along: withheld whole.
        let mut delta = json!({"spec": {"volumes": null}});
        assert_eq!(
            withhold_unsafe_parts(&mut delta, &set(&["data"])),
            ["spec.volumes"]
        );
        assert_eq!(delta, json!({}));
    }

    #[test]
    fn invariants_detect_each_breakage() {
        let before = json!({"metadata": {"name": "p", "namespace": "n"}, "spec": {
            "initContainers": [{"name": "restore-wait", "image": "v"}],
            "volumes": [{"name": "data", "emptyDir": {}}]}});
        assert!(broken_invariants(&before, &before, &set(&["data"])).is_empty());
        let mut renamed = before.clone();
        renamed["metadata"]["name"] = json!("q");
        assert_eq!(
            broken_invariants(&before, &renamed, &set(&["data"])).len(),
            1
        );
        let mut volume_changed = before.clone();
        volume_changed["spec"]["volumes"][0]["emptyDir"] = json!({"medium": "Memory"});
        assert_eq!(
            broken_invariants(&before, &volume_changed, &set(&["data"])).len(),
            1
        );
        let mut moved = before.clone();
        moved["spec"]["initContainers"] =
            json!([{"name": "init"}, {"name": "restore-wait", "image": "v"}]);
        assert_eq!(broken_invariants(&before, &moved, &set(&["data"])).len(), 1);
    }

    #[test]
    fn digest_ignores_key_order_nulls_and_hash_label() {
        let a = json!({"metadata": {"labels": {"app": "web", "pod-template-hash": "abc"}, "creationTimestamp": null},
            "spec": {"containers": [{"name": "c", "image": "i"}]}});
        let b = json!({"spec": {"containers": [{"image": "i", "name": "c"}]},
            "metadata": {"labels": {"app": "web"}}});
        assert_eq!(template_digest(&a), template_digest(&b));
        let c = json!({"spec": {"containers": [{"image": "j", "name": "c"}]}, "metadata": {"labels": {"app": "web"}}});
        assert_ne!(template_digest(&b), template_digest(&c));
    }
}
