//! `--emit-pod-rules`: the plugin's correction written as resource-modifier rules, for clusters
//! that cannot run the plugin (the manual workaround of Velero issue 8578, generated).
//!
//! The ConfigMap holds the original rules unchanged (the Deployments still get their new template)
//! followed by, per corrected Deployment:
//! - a `pods` rule per group of pods that receive the same change: the template delta as a
//!   strategic merge patch (lists matched by merge key, so `restore-wait` and sidecars stay where
//!   they are), with the parts that would break an FSB restore withheld exactly as the plugin does;
//! - a `replicasets.apps` rule giving the current ReplicaSet the new template (same delta), so the
//!   Deployment controller adopts it instead of rolling out;
//! - a rule setting apart a past revision that already equals the new template.
//!
//! Strategic patches derived from the delta do not depend on list positions or on the other
//! rules' order; each generated rule names its objects exactly.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use fsb_modifiers::{ResourceModifiers, Rule};
use serde_json::{Value, json};

use fsb_guard_core::deployment::{ANNOTATION_SUPERSEDED_BY, DeploymentPlan, ReplicaSetDecision};
use fsb_guard_core::toolkit::delta::withhold_unsafe_parts;

/// What the generated rules cannot do; written at the top of the file.
pub const LIMITATIONS: &str = "\
# What these rules cannot do (the plugin can):
# - They match pods and ReplicaSets by exact name (resourceNameRegex) and original namespace, so
#   they only fit THIS backup; regenerate them for every backup you restore.
# - They are computed from the backed-up Deployment. If another plugin changes a Deployment during
#   the restore, or your own replicasets.apps rules change the ReplicaSet again, nothing aligns the
#   live ReplicaSet and the Deployment rolls out anyway.
# - Template parts that would remove or change a volume holding file-system-backup data, or touch
#   the restore-wait init container, are left out for the pods (listed below); the pods lack them
#   until the next rollout.
# - Rules for pods run after Velero's own actions, like the plugin; a mutating webhook or a GitOps
#   controller that changes templates during the restore is not accounted for.
# - Rules cannot skip a pod. If your rules lower a Deployment's or StatefulSet's replicas below the
#   pods being restored, the controller deletes restoring pods (not-ready ones first); restore with
#   the backed-up count and scale down once the restore finished. (The plugin restores only the
#   pods it keeps, those holding backup data first.)
";

fn q(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

fn regex_escape(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c.to_string()
            } else {
                format!("\\{c}")
            }
        })
        .collect()
}

/// A rule as YAML lines (list item), every scalar double-quoted so it decodes to the same string.
fn rule_yaml(rule: &Rule, out: &mut String) {
    let c = &rule.conditions;
    out.push_str("- conditions:\n");
    let _ = writeln!(out, "    groupResource: {}", q(&c.group_resource));
    if !c.resource_name_regex.is_empty() {
        let _ = writeln!(out, "    resourceNameRegex: {}", q(&c.resource_name_regex));
    }
    if !c.namespaces.is_empty() {
        let list: Vec<String> = c.namespaces.iter().map(|n| q(n)).collect();
        let _ = writeln!(out, "    namespaces: [{}]", list.join(", "));
    }
    if let Some(sel) = &c.label_selector {
        let exprs: Vec<Value> = sel
            .match_expressions
            .iter()
            .map(|e| json!({"key": e.key, "operator": e.operator, "values": e.values}))
            .collect();
        let mut v = serde_json::Map::new();
        if !sel.match_labels.is_empty() {
            v.insert("matchLabels".into(), json!(sel.match_labels));
        }
        if !exprs.is_empty() {
            v.insert("matchExpressions".into(), Value::Array(exprs));
        }
        let _ = writeln!(out, "    labelSelector: {}", Value::Object(v));
    }
    if !c.matches.is_empty() {
        out.push_str("    matches:\n");
        for m in &c.matches {
            let _ = writeln!(
                out,
                "    - {{path: {}, value: {}}}",
                q(&m.path),
                q(&m.value)
            );
        }
    }
    if !rule.patches.is_empty() {
        out.push_str("  patches:\n");
        for op in &rule.patches {
            let mut fields = vec![format!("operation: {}", q(&op.operation))];
            if !op.from.is_empty() {
                fields.push(format!("from: {}", q(&op.from)));
            }
            fields.push(format!("path: {}", q(&op.path)));
            if !op.value.is_empty() {
                fields.push(format!("value: {}", q(&op.value)));
            }
            let _ = writeln!(out, "  - {{{}}}", fields.join(", "));
        }
    }
    for (key, docs) in [
        ("mergePatches", &rule.merge_patches),
        ("strategicPatches", &rule.strategic_patches),
    ] {
        if !docs.is_empty() {
            let _ = writeln!(out, "  {key}:");
            for d in docs {
                let _ = writeln!(out, "  - patchData: {}", q(d));
            }
        }
    }
}

/// A generated rule: exact names in one namespace, one strategic patch.
fn generated(group_resource: &str, namespace: &str, names: &[&str], patch: &Value) -> Rule {
    let alternatives: Vec<String> = names.iter().map(|n| regex_escape(n)).collect();
    let regex = if alternatives.len() == 1 {
        format!("^{}$", alternatives[0])
    } else {
        format!("^({})$", alternatives.join("|"))
    };
    Rule {
        conditions: fsb_modifiers::Conditions {
            namespaces: vec![namespace.to_owned()],
            group_resource: group_resource.to_owned(),
            resource_name_regex: regex,
            label_selector: None,
            matches: Vec::new(),
        },
        patches: Vec::new(),
        merge_patches: Vec::new(),
        strategic_patches: vec![patch.to_string()],
    }
}

/// Builds the ConfigMap manifest text.
pub fn emit(
    rules: &ResourceModifiers,
    configmap_name: Option<&str>,
    plans: &[DeploymentPlan],
) -> String {
    let mut body = String::from("version: v1\nresourceModifierRules:\n");
    body.push_str("# --- your rules, unchanged ---\n");
    for rule in rules.rules() {
        rule_yaml(rule, &mut body);
    }
    let mut notes = Vec::new();
    for plan in plans.iter().filter(|p| p.skipped.is_none()) {
        let Some(change) = &plan.change else { continue };
        let _ = writeln!(
            body,
            "# --- Deployment {}/{}: template change re-emitted onto its pods and ReplicaSet ---",
            plan.namespace, plan.deployment
        );
        // Pods that get the same (withheld) delta share a rule.
        let mut groups: BTreeMap<String, (Value, Vec<&str>)> = BTreeMap::new();
        for (pod, correction) in &plan.pods {
            if !correction.broken.is_empty() || correction.re_emitted.is_empty() {
                notes.push(format!(
                    "# pod {}/{pod}: nothing re-emitted (withheld: {})",
                    plan.namespace,
                    correction.withheld.join(", ")
                ));
                continue;
            }
            let volumes = plan
                .fsb_pods
                .iter()
                .find(|f| f.name == *pod)
                .map(|f| f.volumes.clone())
                .unwrap_or_default();
            let mut delta = change.delta.clone();
            let withheld = withhold_unsafe_parts(&mut delta, &volumes);
            if !withheld.is_empty() {
                notes.push(format!(
                    "# pod {}/{pod}: withheld {}",
                    plan.namespace,
                    withheld.join(", ")
                ));
            }
            groups
                .entry(delta.to_string())
                .or_insert_with(|| (delta, Vec::new()))
                .1
                .push(pod);
        }
        for (delta, pods) in groups.values() {
            rule_yaml(&generated("pods", &plan.namespace, pods, delta), &mut body);
        }
        for (rs, decision) in &plan.replicasets {
            let patch = match decision {
                ReplicaSetDecision::Retemplated { .. } => {
                    json!({"spec": {"template": change.delta}})
                }
                ReplicaSetDecision::PastRevisionSetApart { .. } => json!({"spec": {"template":
                    {"metadata": {"annotations": {ANNOTATION_SUPERSEDED_BY:
                        plan.current_replicaset.clone().unwrap_or_default()}}}}}),
                ReplicaSetDecision::Unchanged => continue,
            };
            rule_yaml(
                &generated("replicasets.apps", &plan.namespace, &[rs.as_str()], &patch),
                &mut body,
            );
        }
    }
    let name = format!(
        "{}-fsb-pod-rules",
        configmap_name.unwrap_or("resource-modifiers")
    );
    let mut out = String::new();
    out.push_str(
        "# Generated by `velero-fsb-guard check --emit-pod-rules` for clusters without the\n\
         # velero-fsb-guard plugin: your resource modifiers plus pod- and ReplicaSet-scoped rules\n\
         # that carry each Deployment's template change onto the restored pods and ReplicaSet, so the\n\
         # Deployment controller adopts the restored ReplicaSet instead of rolling out and deleting\n\
         # pods whose file-system-backup data is still being restored.\n#\n",
    );
    out.push_str(LIMITATIONS);
    for n in &notes {
        out.push_str(n);
        out.push('\n');
    }
    let _ = write!(
        out,
        "#\n# Use: kubectl -n velero apply -f <this file>\n#      velero restore create --from-backup <backup> --resource-modifier-configmap {name}\n\
         apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: velero\ndata:\n  rules.yaml: |\n"
    );
    for line in body.lines() {
        let _ = writeln!(out, "    {line}");
    }
    out
}
