//! The ReplicaSet step: the Deployment's current ReplicaSet (template `≡ T`) gets `T'` with its own
//! `pod-template-hash`, so the controller adopts it for the modified Deployment; a past revision
//! that already equals `T'` is set apart so it is not picked instead. A lowered replica count lands
//! on the same item.

use serde_json::{Value, json};

use super::plan::DeploymentPlan;
use super::replicas::{align_desired_replicas, lower_replicaset};
use crate::engine::{Rules, VeleroEngine};
use crate::error::{Error, Result};
use crate::resources::Resource;
use crate::restore::{Item, RestoreInputs};
use crate::toolkit::delta::template_digest;
use crate::toolkit::notes::{Level, Note, StepOutcome};
use crate::toolkit::object::{annotate, json_list, name_of, namespace_of, set_path, str_at};
use crate::toolkit::owners::{Kind, POD_TEMPLATE_HASH, Workload, replicaset_owner};
use crate::toolkit::plans::owner_plan;
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

/// ReplicaSet step. `item` as received, `from_backup` the backed-up ReplicaSet. The template
/// correction and the replica change both apply to the same item when both are due.
pub fn replicaset_step(inputs: &RestoreInputs<'_>, item: Item<'_>) -> Result<StepOutcome> {
    let (received, from_backup) = (item.received, item.from_backup);
    let namespace = namespace_of(from_backup);
    let rs = format!("ReplicaSet {namespace}/{}", name_of(from_backup));
    let unowned = "not owned by a Deployment";
    let owner_of = |d: &&str| Workload::new(Kind::Deployment, namespace, d);
    let lineage = replicaset_owner(from_backup);
    let guarded = owner_plan::<DeploymentPlan, _>(inputs, &rs, unowned, lineage, owner_of)?;
    let owner = match guarded {
        Ok(owner) => owner,
        Err(outcome) => return Ok(outcome),
    };
    let (workload, plan) = (owner.workload, &owner.plan);
    let outcome = match &plan.change {
        Some(change) => retemplate(inputs, received, &rs, workload.clone(), change, plan)?,
        None => StepOutcome::unchanged(
            Level::Debug,
            workload.clone(),
            format!("{rs}: template unchanged by the rules"),
        ),
    };
    Ok(with_replica_change(
        outcome,
        received,
        name_of(from_backup),
        &rs,
        workload,
        plan,
    ))
}

/// The template part of the ReplicaSet step (the Deployment's template changes by `change`).
fn retemplate(
    inputs: &RestoreInputs<'_>,
    item: &Value,
    rs: &str,
    workload: String,
    change: &TemplateChange,
    plan: &DeploymentPlan,
) -> Result<StepOutcome> {
    let Some(current) = plan.current_replicaset.as_deref() else {
        return Ok(StepOutcome::unchanged(
            Level::Debug,
            workload,
            "no backed-up ReplicaSet carries the Deployment's template",
        ));
    };
    let decision = correct_replicaset(inputs.engine, inputs.rules, item, change, current)?;
    Ok(match decision {
        ReplicaSetDecision::Unchanged => {
            StepOutcome::unchanged(Level::Debug, workload, format!("{rs}: unchanged"))
        }
        ReplicaSetDecision::Retemplated {
            item,
            rules_change_it_after,
        } => {
            let mut notes = vec![Note::debug(
                workload.clone(),
                format!("{rs}: template re-emitted ({} paths)", change.paths.len()),
            )];
            if rules_change_it_after {
                notes.push(Note::warn(workload,
                    format!(
                        "{rs}: the restore's ReplicaSet rules change its template after the guard; the Deployment step will align the live ReplicaSet"
                    ),
                ));
            }
            StepOutcome {
                item: Some(item),
                skip_restore: false,
                notes,
            }
        }
        ReplicaSetDecision::PastRevisionSetApart { item } => StepOutcome {
            item: Some(item),
            skip_restore: false,
            notes: vec![Note::info(
                workload,
                format!(
                    "{rs}: past revision equal to the new template set apart so the controller keeps {current}"
                ),
            )],
        },
    })
}

/// The replica part of the ReplicaSet step, on top of the template part's `outcome`: the current
/// ReplicaSet gets `R'`, older active ones the desired-replicas annotation `R'`.
fn with_replica_change(
    mut outcome: StepOutcome,
    item: &Value,
    name: &str,
    rs: &str,
    workload: String,
    plan: &DeploymentPlan,
) -> StepOutcome {
    let replicas = &plan.replicas;
    let Some((lowered_to, choice)) = replicas.lowered_to().zip(replicas.choice.as_ref()) else {
        return outcome;
    };
    let base = outcome.item.take().unwrap_or_else(|| item.clone());
    if plan.current_replicaset.as_deref() == Some(name) {
        outcome.item = Some(lower_replicaset(&base, replicas, lowered_to));
        outcome.notes.push(Note::info(workload,
            format!(
                "{rs}: replicas set to {lowered_to} (replicas lowered {}); {} restored pods kept, {} skipped",
                replicas.change_text(),
                choice.kept.len(),
                choice.skipped.len()
            ),
        ));
    } else if replicas.older_active.iter().any(|n| n == name) {
        outcome.item = Some(align_desired_replicas(&base, lowered_to));
        outcome.notes.push(Note::info(workload,
            format!(
                "{rs}: older revision with pods (backup taken mid-rollout) restored with its pods; desired-replicas set to {lowered_to} so the controller resumes the rollout instead of scaling every ReplicaSet down"
            ),
        ));
    } else {
        outcome.item = (base != *item).then_some(base);
    }
    outcome
}
