//! The patch and rule machinery the decisions need, behind one trait.
//!
//! The decisions are written against [`Engine`] so they stay pure and testable; [`VeleroEngine`]
//! (in `engine_impl`) is the production implementation over `fsb-modifiers` (Velero's rule engine)
//! and `fsb-smp` (strategic merge patch, two-way diff, semantic equality).

use serde_json::Value;

use super::error::Result;

/// What the restore's rules did to one object.
#[derive(Debug, Clone, PartialEq)]
pub struct RulesOutcome {
    /// The object after every rule that matched and applied (failed rules left out, as Velero does:
    /// the object is still created without that rule's patch).
    pub object: Value,
    /// One message per rule that matched but failed (Velero reports these as restore errors).
    pub rule_errors: Vec<String>,
}

/// Rule evaluation, strategic diff/apply and template equality, with Velero's and Kubernetes'
/// semantics.
pub trait Engine {
    /// Parsed resource-modifier rules.
    type Rules;

    /// Applies `rules` to `object` exactly as Velero's restore does for an item of
    /// `group_resource` (e.g. `deployments.apps`): conditions checked on the object before any
    /// patch, patches cumulative in rule order, failed `test` = rule skipped.
    fn apply_rules(
        &self,
        rules: &Self::Rules,
        object: &Value,
        group_resource: &str,
    ) -> Result<RulesOutcome>;

    /// Whether any rule's `groupResource` selects `group_resource` (conditions on the object itself
    /// are not evaluated). Used to skip downloads and API calls for restores that cannot change a
    /// template.
    fn rules_select(&self, rules: &Self::Rules, group_resource: &str) -> bool;

    /// Two-way strategic merge patch from pod template `from` to `to` (`core/v1.PodTemplateSpec`),
    /// lists matched by merge key; a list `to` drops entirely is removed member by member, so list
    /// members a pod has beyond the template (`restore-wait`, sidecars) survive.
    fn template_diff(&self, from: &Value, to: &Value) -> Result<Value>;

    /// Applies a strategic merge patch to `{metadata, spec}` of a pod (`core/v1.Pod` schema).
    fn apply_to_pod(&self, pod: &Value, patch: &Value) -> Result<Value>;

    /// Kubernetes semantic equality of two pod templates, `pod-template-hash` label ignored (what
    /// the Deployment controller uses to pick its ReplicaSet).
    fn templates_equal(&self, a: &Value, b: &Value) -> bool;
}
