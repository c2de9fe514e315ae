//! The Deployment's ReplicaSets as its revisions: which one is current (its template equals the
//! Deployment's), and what each becomes when the rules change the template — the current one gets
//! `T'` with its own `pod-template-hash`, a past one already equal to `T'` is set apart.

use serde_json::{Value, json};

use crate::engine::{Rules, VeleroEngine};
use crate::error::{Error, Result};
use crate::resources::Resource;
use crate::toolkit::delta::template_digest;
use crate::toolkit::object::{annotate, json_list, name_of, namespace_of, set_path, str_at};
use crate::toolkit::owners::{POD_TEMPLATE_HASH, replicaset_owner};
use crate::toolkit::template::{ANNOTATION_RE_EMITTED, TemplateChange};

/// Annotation (ReplicaSets): fingerprint of the template the guard gave the ReplicaSet.
pub const ANNOTATION_TEMPLATE_DIGEST: &str = "fsb-guard.io/template-digest";
/// Annotation (ReplicaSets): the restore's own ReplicaSet rules will change the template after the
/// guard; the Deployment step must align the live object.
pub const ANNOTATION_RULES_CHANGE_TEMPLATE: &str = "fsb-guard.io/rules-change-template";
/// Template annotation on a past revision that would otherwise equal the new template and be
/// adopted instead of the ReplicaSet holding the FSB pods.
pub const ANNOTATION_SUPERSEDED_BY: &str = "fsb-guard.io/superseded-by";

/// What the ReplicaSet step did to one ReplicaSet of a corrected Deployment.
#[derive(Debug, Clone, PartialEq)]
pub enum ReplicaSetDecision {
    /// Restore as is (not this Deployment's current ReplicaSet, or the rules already make it equal).
    Unchanged,
    /// The current ReplicaSet (template `≡ T`) now carries `T'` with its own hash label.
    Retemplated {
        item: Value,
        /// The restore's ReplicaSet rules will change the template again after the guard; the
        /// Deployment step aligns the live object.
        rules_change_it_after: bool,
    },
    /// A past revision whose template already equals `T'`: set apart by a template annotation so
    /// the controller adopts the ReplicaSet holding the FSB pods instead.
    PastRevisionSetApart { item: Value },
}

/// The `pod-template-hash` a ReplicaSet carries (template label, else object label).
pub fn replicaset_hash(replicaset: &Value) -> Option<&str> {
    str_at(
        replicaset,
        "/spec/template/metadata/labels/pod-template-hash",
    )
    .or_else(|| str_at(replicaset, "/metadata/labels/pod-template-hash"))
}

/// `T'` with the ReplicaSet's own hash label: what the ReplicaSet must carry.
pub(super) fn with_own_hash(target: &Value, replicaset: &Value) -> Value {
    let mut template = target.clone();
    if let Some(hash) = replicaset_hash(replicaset) {
        set_path(
            &mut template,
            &["metadata", "labels", POD_TEMPLATE_HASH],
            json!(hash),
        );
    }
    template
}

/// The template a ReplicaSet will be created with: its template after the restore's
/// `replicasets.apps` rules (if any select ReplicaSets).
pub(super) fn final_template(
    engine: &VeleroEngine,
    rules: &Rules,
    replicaset: &Value,
) -> Result<Value> {
    let gr = Resource::REPLICA_SETS.group_resource();
    if !engine.rules_select(rules, gr) {
        return template_of(replicaset).cloned();
    }
    let outcome = engine.apply_rules(rules, replicaset, gr);
    template_of(&outcome.object).cloned()
}

pub(super) fn template_of(object: &Value) -> Result<&Value> {
    object.pointer("/spec/template").ok_or_else(|| {
        let kind = object
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or("object");
        Error::NoTemplate {
            object: format!("{kind} {}", name_of(object)),
            after_rules: false,
        }
    })
}

/// The decision for `replicaset` (the item as Velero hands it to the plugin) of a Deployment
/// whose template changes by `change`. `current` names the ReplicaSet that holds the Deployment's
/// (FSB) pods — the one whose backed-up template `≡ T`.
pub fn correct_replicaset(
    engine: &VeleroEngine,
    rules: &Rules,
    replicaset: &Value,
    change: &TemplateChange,
    current: &str,
) -> Result<ReplicaSetDecision> {
    let equal_after_rules = |rs: &Value| -> Result<bool> {
        Ok(engine.templates_equal(&final_template(engine, rules, rs)?, &change.target))
    };
    if name_of(replicaset) != current {
        if !equal_after_rules(replicaset)? {
            return Ok(ReplicaSetDecision::Unchanged);
        }
        let mut item = replicaset.clone();
        set_path(
            &mut item,
            &[
                "spec",
                "template",
                "metadata",
                "annotations",
                ANNOTATION_SUPERSEDED_BY,
            ],
            json!(current),
        );
        return Ok(ReplicaSetDecision::PastRevisionSetApart { item });
    }
    if equal_after_rules(replicaset)? {
        return Ok(ReplicaSetDecision::Unchanged);
    }
    let mut item = replicaset.clone();
    set_path(
        &mut item,
        &["spec", "template"],
        with_own_hash(&change.target, replicaset),
    );
    annotate(&mut item, ANNOTATION_RE_EMITTED, json_list(&change.paths));
    annotate(
        &mut item,
        ANNOTATION_TEMPLATE_DIGEST,
        json!(template_digest(&change.target)),
    );
    let rules_change_it_after = !equal_after_rules(&item)?;
    if rules_change_it_after {
        annotate(&mut item, ANNOTATION_RULES_CHANGE_TEMPLATE, json!("true"));
    }
    Ok(ReplicaSetDecision::Retemplated {
        item,
        rules_change_it_after,
    })
}

/// The Deployment's current ReplicaSet among `replicasets` (backed-up objects): owned by
/// `deployment` (same namespace, controller reference) with a template `≡ template`; the oldest
/// (creationTimestamp, then name) if several, as the controller picks.
pub fn current_replicaset<'a>(
    engine: &VeleroEngine,
    deployment: &Value,
    template: &Value,
    replicasets: impl IntoIterator<Item = &'a Value>,
) -> Option<&'a Value> {
    let namespace = namespace_of(deployment);
    let name = name_of(deployment);
    replicasets
        .into_iter()
        .filter(|rs| namespace_of(rs) == namespace)
        .filter(|rs| replicaset_owner(rs) == Some(name))
        .filter(|rs| {
            rs.pointer("/spec/template")
                .is_some_and(|t| engine.templates_equal(t, template))
        })
        .min_by(|a, b| {
            created_at(a)
                .cmp(created_at(b))
                .then_with(|| name_of(a).cmp(name_of(b)))
        })
}

fn created_at(object: &Value) -> &str {
    str_at(object, "/metadata/creationTimestamp").unwrap_or_default()
}
