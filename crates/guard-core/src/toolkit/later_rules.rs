//! The restore's own `pods` rules meeting the guard's correction. Velero applies resource
//! modifiers to an item after every RestoreItemAction (`restoreItem`: the actions, then
//! `ApplyResourceModifierRules`), so a rule that selects a pod the guard corrected and patches a
//! field the guard carried from its workload's template change lands on top of it: a toleration
//! added to a Deployment and to its pods would be there twice, a container added to both would be
//! refused by the API server as a duplicate name (the pod, and its file-system restore, lost).
//!
//! The guard runs that last step itself, with the same engine, on the pod it is about to return.
//! Per pod field the change touches ([`Landing`]):
//! - the rules leave the field as the guard carried it: nothing to do;
//! - the rules alone give the field exactly what the guard carries (the same change written for the
//!   pods too): the guard leaves the field to them, so the change lands once;
//! - otherwise the rules patch on top of the carried change: reported, the pod keeps the guard's
//!   correction.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::engine::{Rules, RulesOutcome, VeleroEngine};
use crate::resources::Resource;

/// What the restore's rules do to one pod field after the guard carried the template change there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Landing {
    /// The rules leave the field as the guard carried it (they set what the change sets).
    Unchanged,
    /// The guard did not carry the field: the rules give it the change's result on their own.
    LeftToRules,
    /// The guard did not carry the field: carried, the rules would add a list member whose name
    /// is already there (two containers `shipper`), which the API server refuses — the pod and its
    /// file-system restore would be lost. The pod lacks the rest of the change in that field.
    LeftToRulesPartly,
    /// The rules patch the field again, on top of the carried change.
    OnTop,
}

/// Rules of the restore that patch, after the plugin, a pod field the template change sets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaterRules {
    /// Rule indices (0-based, document order) that match the pod and patch the field.
    pub rules: Vec<usize>,
    /// The pod field, dotted (`spec.tolerations`, `metadata.labels`). Never a value.
    pub field: String,
    pub landing: Landing,
}

/// The pod fields (`spec.tolerations`) that template paths (`spec.containers[name=app].image`)
/// lie in, sorted.
pub fn touched_fields(paths: &[String]) -> BTreeSet<String> {
    paths
        .iter()
        .filter_map(|p| {
            let mut parts = p.split('.');
            let top = parts.next()?;
            let field = parts.next()?.split('[').next()?;
            Some(format!("{top}.{field}"))
        })
        .collect()
}

/// The JSON pointer of a dotted pod field (`spec.tolerations` → `/spec/tolerations`).
pub fn pointer_of(field: &str) -> String {
    format!("/{}", field.replace('.', "/"))
}

/// Velero's last step for a pod: every rule of the restore applied to `item` as the plugin returns
/// it. `None` when no rule selects pods (nothing to simulate).
pub(crate) fn velero_applies(
    engine: &VeleroEngine,
    rules: &Rules,
    item: &Value,
) -> Option<RulesOutcome> {
    let pods = Resource::PODS.group_resource();
    engine
        .rules_select(rules, pods)
        .then(|| engine.apply_rules(rules, item, pods))
}

/// For each field of `fields` that a rule applied in `after` patches: which rules, and whether the
/// field comes out as `carried` holds it ([`Landing::Unchanged`]) or not ([`Landing::OnTop`]).
pub(crate) fn landings(
    rules: &Rules,
    carried: &Value,
    after: &RulesOutcome,
    fields: &BTreeSet<String>,
) -> Vec<LaterRules> {
    let pods = Resource::PODS.group_resource();
    fields
        .iter()
        .filter_map(|field| {
            let pointer = pointer_of(field);
            let patching: Vec<usize> = rules
                .rules_touching(pods, &pointer)
                .into_iter()
                .filter(|i| after.applied.contains(i))
                .collect();
            if patching.is_empty() {
                return None;
            }
            let landing = if after.object.pointer(&pointer) == carried.pointer(&pointer) {
                Landing::Unchanged
            } else {
                Landing::OnTop
            };
            Some(LaterRules {
                rules: patching,
                field: field.clone(),
                landing,
            })
        })
        .collect()
}

/// Whether the list at `pointer` of `pod` has two members with one `name` (containers, init
/// containers, volumes, env…): the API server refuses such a pod.
pub(crate) fn duplicate_names(pod: &Value, pointer: &str) -> bool {
    let Some(list) = pod.pointer(pointer).and_then(Value::as_array) else {
        return false;
    };
    let mut seen = BTreeSet::new();
    list.iter()
        .filter_map(|m| m.get("name").and_then(Value::as_str))
        .any(|name| !seen.insert(name))
}

/// Removes `fields` (dotted pod fields) from a strategic merge patch over `{metadata, spec}`, with
/// the directives that name them (`$setElementOrder/<f>`, `$deleteFromPrimitiveList/<f>`).
pub(crate) fn without_fields(delta: &Value, fields: &BTreeSet<String>) -> Value {
    let mut delta = delta.clone();
    for field in fields {
        let Some((top, name)) = field.split_once('.') else {
            continue;
        };
        if let Some(map) = delta.get_mut(top).and_then(Value::as_object_mut) {
            map.retain(|key, _| {
                let named = key.rsplit_once('/').map_or(key.as_str(), |(_, f)| f);
                named != name
            });
        }
    }
    delta
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn fields_of_template_paths() {
        let paths = [
            "spec.containers[name=app].image".to_owned(),
            "spec.containers[name=app].env[name=MODE]".to_owned(),
            "spec.tolerations".to_owned(),
            "metadata.labels.tier".to_owned(),
        ];
        let fields: Vec<String> = touched_fields(&paths).into_iter().collect();
        assert_eq!(
            fields,
            ["metadata.labels", "spec.containers", "spec.tolerations"]
        );
        assert_eq!(pointer_of("spec.tolerations"), "/spec/tolerations");
    }

    #[test]
    fn two_members_of_one_name() {
        let pod = json!({"spec": {"containers": [{"name": "a"}, {"name": "b"}, {"name": "a"}],
            "tolerations": [{"key": "k"}, {"key": "k"}]}});
        assert!(duplicate_names(&pod, "/spec/containers"));
        assert!(
            !duplicate_names(&pod, "/spec/tolerations"),
            "no names: not judged"
        );
        assert!(!duplicate_names(&pod, "/spec/volumes"));
    }

    #[test]
    fn a_field_leaves_the_patch_with_its_directives() {
        let delta = json!({
            "metadata": {"labels": {"tier": "x"}},
            "spec": {"tolerations": [{"key": "a"}], "$setElementOrder/containers": [{"name": "app"}],
                "containers": [{"name": "app", "image": "x"}],
                "$deleteFromPrimitiveList/tolerations": []},
        });
        let left = without_fields(&delta, &BTreeSet::from(["spec.tolerations".to_owned()]));
        assert_eq!(
            left,
            json!({
                "metadata": {"labels": {"tier": "x"}},
                "spec": {"$setElementOrder/containers": [{"name": "app"}],
                    "containers": [{"name": "app", "image": "x"}]},
            })
        );
    }
}
