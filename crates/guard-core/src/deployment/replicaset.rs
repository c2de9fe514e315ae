//! The ReplicaSet step: the Deployment's current ReplicaSet (template `≡ T`) gets `T'` with its own
//! `pod-template-hash`, so the controller adopts it for the modified Deployment; a past revision
//! that already equals `T'` is set apart so it is not picked instead. A lowered replica count lands
//! on the same item.

use serde_json::Value;

use super::history::{ReplicaSetDecision, correct_replicaset};
use super::plan::DeploymentPlan;
use super::replicas::{align_desired_replicas, lower_replicaset};
use crate::error::Result;
use crate::plans::owner_plan;
use crate::restore::{Item, RestoreInputs};
use crate::toolkit::notes::{Level, Note, StepOutcome};
use crate::toolkit::object::{name_of, namespace_of};
use crate::toolkit::owners::{Kind, Workload, replicaset_owner};
use crate::toolkit::template::TemplateChange;

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
