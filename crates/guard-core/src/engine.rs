//! The patch and rule machinery every decision uses: Velero's rule engine (`fsb-modifiers`) and
//! apimachinery's strategic merge patch and semantic equality (`fsb-smp`), behind one type.

use fsb_modifiers::{ResourceModifiers, RuleOutcome};
use fsb_smp::Root;
use serde_json::Value;

use crate::error::Result;

/// The restore's parsed resource-modifier rules.
pub type Rules = ResourceModifiers;

/// What the restore's rules did to one object.
#[derive(Debug, Clone, PartialEq)]
pub struct RulesOutcome {
    /// The object after every rule that matched and applied (failed rules left out, as Velero does:
    /// the object is still created without that rule's patch).
    pub object: Value,
    /// One message per rule that matched but failed (Velero reports these as restore errors).
    pub rule_errors: Vec<String>,
    /// Indices (document order) of the rules that matched and whose patches were applied.
    pub applied: Vec<usize>,
}

/// Rule evaluation, strategic diff/apply and template equality, with Velero's and Kubernetes'
/// semantics. Stateless: one value serves every restore.
#[derive(Debug, Clone, Copy, Default)]
pub struct VeleroEngine;

impl VeleroEngine {
    /// Parses the restore's resource-modifier ConfigMap (exactly one data key, as Velero requires).
    pub fn rules_from_configmap(configmap: &Value) -> Result<Rules> {
        Ok(ResourceModifiers::from_configmap(configmap)?)
    }

    /// Parses a rules document (the text of the ConfigMap's data entry, YAML or JSON).
    pub fn rules_from_yaml(text: &str) -> Result<Rules> {
        Ok(ResourceModifiers::from_yaml(text)?)
    }

    /// Applies `rules` to `object` exactly as Velero's restore does for an item of
    /// `group_resource` (e.g. `deployments.apps`): conditions checked on the object before any
    /// patch, patches cumulative in rule order, failed `test` = rule skipped.
    pub fn apply_rules(&self, rules: &Rules, object: &Value, group_resource: &str) -> RulesOutcome {
        #[cfg(test)]
        if group_resource == crate::resources::Resource::DEPLOYMENTS.group_resource() {
            counted::DEPLOYMENT_RULE_RUNS.with(|n| n.set(n.get() + 1));
        }
        let outcome = rules.apply(object, group_resource);
        let rule_errors = outcome
            .rules
            .iter()
            .enumerate()
            .filter_map(|(i, r)| match r {
                RuleOutcome::Error(e) => Some(format!("rule {i}: {e}")),
                _ => None,
            })
            .collect();
        let applied = outcome
            .rules
            .iter()
            .enumerate()
            .filter_map(|(i, r)| (*r == RuleOutcome::Applied).then_some(i))
            .collect();
        RulesOutcome {
            object: outcome.object,
            rule_errors,
            applied,
        }
    }

    /// Whether any rule's `groupResource` selects `group_resource` (conditions on the object itself
    /// are not evaluated).
    pub fn rules_select(&self, rules: &Rules, group_resource: &str) -> bool {
        rules.selects(group_resource)
    }

    /// Two-way strategic merge patch from pod template `from` to `to` (`core/v1.PodTemplateSpec`),
    /// lists matched by merge key; a list `to` drops entirely is removed member by member, so list
    /// members a pod has beyond the template (`restore-wait`, sidecars) survive.
    pub fn template_diff(&self, from: &Value, to: &Value) -> Result<Value> {
        #[cfg(test)]
        counted::DIFFS.with(|n| n.set(n.get() + 1));
        Ok(fsb_smp::two_way_diff_member_scoped(
            &without_empty_keys(from),
            &without_empty_keys(to),
            Root::POD_TEMPLATE_SPEC,
        )?)
    }

    /// Applies a strategic merge patch to `{metadata, spec}` of a pod (`core/v1.Pod` schema).
    pub fn apply_to_pod(&self, pod: &Value, patch: &Value) -> Result<Value> {
        Ok(fsb_smp::apply(pod, patch, Root::POD)?)
    }

    /// Kubernetes semantic equality of two pod templates, `pod-template-hash` label ignored (what
    /// the Deployment controller uses to pick its ReplicaSet).
    pub fn templates_equal(&self, a: &Value, b: &Value) -> bool {
        fsb_smp::pod_templates_semantically_equal(a, b)
    }
}

/// Members named `""` are what a trailing-slash JSON-patch path creates (`add /spec/template/`):
/// no Go type has such a field, so the API server drops them. They carry no intent; leaving them
/// out keeps diffs and patches to what Kubernetes will keep.
fn without_empty_keys(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(k, _)| !k.is_empty())
                .map(|(k, v)| (k.clone(), without_empty_keys(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(without_empty_keys).collect()),
        other => other.clone(),
    }
}

/// The expensive calls, counted per thread in this crate's tests (each test runs on its own
/// thread): what "computed once per workload" means, measured.
#[cfg(test)]
pub(crate) mod counted {
    use std::cell::Cell;

    thread_local! {
        /// Rule evaluations on `deployments.apps` objects.
        pub static DEPLOYMENT_RULE_RUNS: Cell<usize> = const { Cell::new(0) };
        /// Two-way template diffs.
        pub static DIFFS: Cell<usize> = const { Cell::new(0) };
    }
}
