//! [`Engine`] over the project's Velero rule engine (`fsb-modifiers`) and strategic merge patch
//! (`fsb-smp`).

use fsb_modifiers::{Glob, ResourceModifiers, RuleOutcome};
use fsb_smp::Root;
use serde_json::Value;

use super::engine::{Engine, RulesOutcome};
use super::error::{Error, Result};

/// The production engine: Velero's semantics for rules, apimachinery's for patches and equality.
#[derive(Debug, Clone, Copy, Default)]
pub struct VeleroEngine;

impl VeleroEngine {
    /// Parses the restore's resource-modifier ConfigMap (exactly one data key, as Velero requires).
    pub fn rules_from_configmap(configmap: &Value) -> Result<ResourceModifiers> {
        ResourceModifiers::from_configmap(configmap).map_err(|e| Error::Rules(e.to_string()))
    }

    /// Parses a rules document (the text of the ConfigMap's data entry, YAML or JSON).
    pub fn rules_from_yaml(text: &str) -> Result<ResourceModifiers> {
        ResourceModifiers::from_yaml(text).map_err(|e| Error::Rules(e.to_string()))
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

impl Engine for VeleroEngine {
    type Rules = ResourceModifiers;

    fn apply_rules(
        &self,
        rules: &ResourceModifiers,
        object: &Value,
        group_resource: &str,
    ) -> Result<RulesOutcome> {
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
        Ok(RulesOutcome {
            object: outcome.object,
            rule_errors,
        })
    }

    fn rules_select(&self, rules: &ResourceModifiers, group_resource: &str) -> bool {
        rules.rules().iter().any(|r| {
            Glob::compile(&r.conditions.group_resource, &['.'])
                .is_ok_and(|g| g.is_match(group_resource))
        })
    }

    fn template_diff(&self, from: &Value, to: &Value) -> Result<Value> {
        fsb_smp::two_way_diff_member_scoped(
            &without_empty_keys(from),
            &without_empty_keys(to),
            Root::POD_TEMPLATE_SPEC,
        )
        .map_err(|e| Error::Patch(e.to_string()))
    }

    fn apply_to_pod(&self, pod: &Value, patch: &Value) -> Result<Value> {
        fsb_smp::apply(pod, patch, Root::POD).map_err(|e| Error::Patch(e.to_string()))
    }

    fn templates_equal(&self, a: &Value, b: &Value) -> bool {
        fsb_smp::pod_templates_semantically_equal(a, b)
    }
}
