//! The Deployment step. The item is returned unchanged (Velero's modifiers change it; anything the
//! guard added could change which rules match); the live restored ReplicaSet is read and, if it
//! does not carry the template this Deployment will be created with (or `R'` replicas), aligned
//! with one JSON patch conditional on the `resourceVersion` read. One summary line per Deployment.

use std::sync::Arc;

use serde_json::{Value, json};

use super::history::{
    ANNOTATION_RULES_CHANGE_TEMPLATE, ANNOTATION_TEMPLATE_DIGEST, final_template, template_of,
    with_own_hash,
};
use super::plan::DeploymentPlan;
use super::replicas::live_replica_ops;
use crate::error::Result;
use crate::plans::{WorkloadPlan, plan_of};
use crate::resources::Resource;
use crate::restore::{Item, RestoreInputs};
use crate::toolkit::delta::template_digest;
use crate::toolkit::notes::{Note, kept_off_the_rollout_path};
use crate::toolkit::object::{as_velero_hands_it, name_of, namespace_of, str_at};
use crate::toolkit::owners::{Kind, Workload};
use crate::toolkit::replicas::Replicas;
use crate::toolkit::scope::target_namespace;
use crate::toolkit::template::changed_paths;

/// The live ReplicaSet the Deployment step reads, and the plan it judges it by.
#[derive(Debug, Clone)]
pub struct LiveTarget {
    /// `Deployment <ns>/<name>` (backup namespace).
    pub workload: String,
    /// Namespace the ReplicaSet was restored into (`spec.namespaceMapping` applied).
    pub namespace: String,
    /// The current ReplicaSet's name.
    pub replicaset: String,
    plan: Arc<DeploymentPlan>,
}

/// What the Deployment step concluded.
#[derive(Debug, Clone, PartialEq)]
pub enum DeploymentDecision {
    /// The rules do not change the template and the guard changed nothing: no rollout.
    NothingToDo,
    /// The live ReplicaSet carries exactly the template this Deployment will be created with.
    AlreadyAligned,
    /// The current ReplicaSet is not in the cluster (not restored, or deleted): nothing to align.
    NoLiveReplicaSet,
    /// Patch the live ReplicaSet (JSON patch, one call) so no rollout can start.
    Align {
        /// RFC 6902 patch for the live ReplicaSet: tests `/metadata/resourceVersion` (the version
        /// read), replaces `/spec/template` (own hash label kept) and records the digest, and/or
        /// replaces `/spec/replicas`.
        patch: Value,
        /// Template paths the pods did not receive (they differ between what the pod step applied
        /// and the Deployment's final template).
        pods_lack: Vec<String>,
    },
}

/// Deployment step result: the decision (the item itself is never changed) and the notes.
#[derive(Debug, Clone, PartialEq)]
pub struct DeploymentOutcome {
    pub decision: DeploymentDecision,
    pub notes: Vec<Note>,
}

/// Which live ReplicaSet the Deployment step must read, or `None` when the Deployment needs no
/// check (not guarded, no current ReplicaSet).
pub fn live_target(inputs: &RestoreInputs<'_>, item: Item<'_>) -> Result<Option<LiveTarget>> {
    let from_backup = item.from_backup;
    let workload = Workload::of(Kind::Deployment, from_backup);
    if DeploymentPlan::left_alone_before(inputs, &workload, from_backup).is_some() {
        return Ok(None);
    }
    let plan = plan_of::<DeploymentPlan>(inputs, from_backup)?;
    let Some(replicaset) = plan.current_replicaset.clone() else {
        return Ok(None);
    };
    Ok(Some(LiveTarget {
        namespace: target_namespace(item.restore, &workload.namespace).to_owned(),
        workload: workload.label(),
        replicaset,
        plan,
    }))
}

/// Deployment step. `item.received` maybe changed by earlier plugins, `target` from
/// [`live_target`], `live` the restored current ReplicaSet read from the cluster.
pub fn deployment_step(
    inputs: &RestoreInputs<'_>,
    item: Item<'_>,
    target: &LiveTarget,
    live: Option<&Value>,
) -> Result<DeploymentOutcome> {
    let (received, from_backup) = (item.received, item.from_backup);
    let plan = &target.plan;
    let history = inputs
        .backup
        .history_owned_by(Kind::Deployment, from_backup);
    let backed_up = history
        .iter()
        .find(|rs| namespace_of(rs) == plan.namespace && name_of(rs) == target.replicaset);
    let template = from_backup
        .pointer("/spec/template")
        .unwrap_or(&Value::Null);
    let template_decision = match backed_up {
        Some(rs) => template_decision(inputs, received, template, plan, rs, live)?,
        None => DeploymentDecision::NothingToDo,
    };
    let replica_ops = match (plan.replicas.lowered_to(), live) {
        (Some(r), Some(live)) if plan.replicas.choice.is_some() => live_replica_ops(live, r),
        _ => Vec::new(),
    };
    let notes = notes(target, &template_decision, !replica_ops.is_empty());
    Ok(DeploymentOutcome {
        decision: with_replica_ops(template_decision, replica_ops, live),
        notes,
    })
}

/// The template part: does the live ReplicaSet carry `T'` as this Deployment item will be created
/// with? `template` is the backed-up `T`; `backup_replicaset` predicts what the restore's own
/// ReplicaSet rules make of it.
fn template_decision(
    inputs: &RestoreInputs<'_>,
    item: &Value,
    template: &Value,
    plan: &DeploymentPlan,
    backup_replicaset: &Value,
    live: Option<&Value>,
) -> Result<DeploymentDecision> {
    let engine = inputs.engine;
    let gr = Resource::DEPLOYMENTS.group_resource();
    let target = template_of(&engine.apply_rules(inputs.rules, item, gr).object)?.clone();
    let Some(live) = live else {
        return Ok(DeploymentDecision::NoLiveReplicaSet);
    };
    let annotations = live.pointer("/metadata/annotations");
    let recorded = annotations
        .and_then(|a| a.get(ANNOTATION_TEMPLATE_DIGEST))
        .and_then(Value::as_str);
    let flagged = annotations
        .and_then(|a| a.get(ANNOTATION_RULES_CHANGE_TEMPLATE))
        .is_some();
    let digest = template_digest(&target);
    match recorded {
        Some(d) if d == digest && !flagged => return Ok(DeploymentDecision::AlreadyAligned),
        None => {
            // The guard did not re-template this ReplicaSet: it is created from the backup, then
            // the restore's own ReplicaSet rules (if any) apply. Equal to the Deployment's final
            // template already → nothing to patch.
            let created =
                final_template(engine, inputs.rules, &as_velero_hands_it(backup_replicaset))?;
            if engine.templates_equal(&created, &target) {
                return Ok(if engine.templates_equal(&target, template) {
                    DeploymentDecision::NothingToDo
                } else {
                    DeploymentDecision::AlreadyAligned
                });
            }
        }
        _ => {}
    }
    let pods_template = plan.change.as_ref().map_or(template, |c| &c.target);
    Ok(DeploymentDecision::Align {
        patch: align_template_patch(live, &target, &digest, flagged),
        pods_lack: changed_paths(engine, pods_template, &target)?,
    })
}

/// The JSON patch giving `live` the template `target` (its own hash label kept) and recording
/// `digest`, conditional on the `resourceVersion` read.
fn align_template_patch(live: &Value, target: &Value, digest: &str, flagged: bool) -> Value {
    let mut ops = precondition(live);
    ops.push(
        json!({"op": "replace", "path": "/spec/template", "value": with_own_hash(target, live)}),
    );
    let key = |k: &str| {
        format!(
            "/metadata/annotations/{}",
            k.replace('~', "~0").replace('/', "~1")
        )
    };
    if live
        .pointer("/metadata/annotations")
        .and_then(Value::as_object)
        .is_some()
    {
        ops.push(json!({"op": "add", "path": key(ANNOTATION_TEMPLATE_DIGEST), "value": digest}));
        if flagged {
            ops.push(json!({"op": "remove", "path": key(ANNOTATION_RULES_CHANGE_TEMPLATE)}));
        }
    } else {
        ops.push(json!({"op": "add", "path": "/metadata/annotations",
            "value": {ANNOTATION_TEMPLATE_DIGEST: digest}}));
    }
    Value::Array(ops)
}

/// Precondition of every alignment: a concurrent change to the ReplicaSet since it was read makes
/// the PATCH fail instead of being overwritten; the shell re-reads and decides again.
fn precondition(live: &Value) -> Vec<Value> {
    str_at(live, "/metadata/resourceVersion")
        .map(|version| json!({"op": "test", "path": "/metadata/resourceVersion", "value": version}))
        .into_iter()
        .collect()
}

/// The replica part joins the template decision: one patch for both (the live ReplicaSet must
/// hold `R'`; an earlier plugin or a ReplicaSet rule may have changed it since the ReplicaSet
/// step).
fn with_replica_ops(
    decision: DeploymentDecision,
    replica_ops: Vec<Value>,
    live: Option<&Value>,
) -> DeploymentDecision {
    if replica_ops.is_empty() {
        return decision;
    }
    match decision {
        DeploymentDecision::Align {
            mut patch,
            pods_lack,
        } => {
            if let Some(ops) = patch.as_array_mut() {
                ops.extend(replica_ops);
            }
            DeploymentDecision::Align { patch, pods_lack }
        }
        _ => {
            let mut ops = live.map(precondition).unwrap_or_default();
            ops.extend(replica_ops);
            DeploymentDecision::Align {
                patch: Value::Array(ops),
                pods_lack: Vec::new(),
            }
        }
    }
}

/// The restore log's lines for the Deployment: the summary (template part, then replica part), or
/// why nothing was done.
fn notes(target: &LiveTarget, decision: &DeploymentDecision, scales: bool) -> Vec<Note> {
    let plan = &target.plan;
    let workload = target.workload.as_str();
    let current = &target.replicaset;
    let replica_text = replica_summary(plan, current, scales);
    let summary = |live_state: String| {
        let withheld: Vec<&String> = plan.pods.iter().flat_map(|(_, c)| &c.withheld).collect();
        let mut message = kept_off_the_rollout_path(
            plan.pods.len(),
            &plan.fsb_pods,
            plan.change.as_ref(),
            &withheld,
            &live_state,
        );
        if let Some(r) = &replica_text {
            message = format!("{message}; {r}");
        }
        Note::info(workload, message)
    };
    let mut notes = match decision {
        DeploymentDecision::NothingToDo => vec![match &replica_text {
            Some(text) => Note::info(
                workload,
                format!("replica change kept off the scale-down path: {text}"),
            ),
            None => Note::debug(workload, "template unchanged by the rules; nothing to do"),
        }],
        DeploymentDecision::AlreadyAligned => vec![summary(format!(
            "ReplicaSet {current} already carries the new template"
        ))],
        DeploymentDecision::NoLiveReplicaSet => vec![Note::warn(
            workload,
            format!(
                "ReplicaSet {current} not found in the cluster; the Deployment will create a new one"
            ),
        )],
        DeploymentDecision::Align { pods_lack, .. } => {
            let mut notes = vec![summary(format!(
                "ReplicaSet {current} aligned with the Deployment's final template"
            ))];
            if !pods_lack.is_empty() {
                notes.push(Note::warn(workload,
                    format!(
                        "restored pods lack template paths {pods_lack:?} (changed after the pod step); they get them on the next rollout"
                    ),
                ));
            }
            notes
        }
    };
    if let Replicas::Unparseable(kind) = plan.replicas.to {
        notes.push(Note::warn(workload,
            format!(
                "spec.replicas after the rules is not a replica count ({kind}); replica changes left to the controller"
            ),
        ));
    }
    notes
}

/// The replica part of the summary, when the guard lowered the count (`scales`: the live
/// ReplicaSet did not hold `R'` yet).
fn replica_summary(plan: &DeploymentPlan, current: &str, scales: bool) -> Option<String> {
    let replicas = &plan.replicas;
    let (r, choice) = replicas.lowered_to().zip(replicas.choice.as_ref())?;
    let dropped: Vec<String> = choice
        .fsb_dropped()
        .flat_map(|p| p.fsb_volumes.iter().map(|v| format!("{}/{v}", p.name)))
        .collect();
    let live_state = if scales {
        format!("ReplicaSet {current} scaled to {r} replicas")
    } else {
        format!("ReplicaSet {current} already at {r} replicas")
    };
    Some(format!(
        "replicas lowered {}: {} of {} pods restored, {} skipped (skipRestore), FSB volumes not restored {dropped:?}; {live_state}",
        replicas.change_text(),
        choice.kept.len(),
        replicas.pods,
        choice.skipped.len(),
    ))
}
