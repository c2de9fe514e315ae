//! The pod step: a current pod (at the backed-up generation) gets `T → T'` exactly as a
//! Deployment's pod does, minus the node pin the controller owns, and the restored DaemonSet's
//! generation as its `pod-template-generation` label. Pods of past generations are left alone.

use std::collections::BTreeSet;

use serde_json::Value;

use super::generation::{
    DaemonSetPodCorrection, DaemonSetPodDecision, TEMPLATE_GENERATION_ANNOTATION,
    correct_daemonset_pod, pod_generation,
};
use super::plan::DaemonSetPlan;
use crate::error::Result;
use crate::plans::owner_plan;
use crate::restore::{Item, RestoreInputs};
use crate::toolkit::notes::{Level, Note, StepOutcome, later_rules_notes, withheld_note};
use crate::toolkit::object::{name_of, namespace_of};
use crate::toolkit::owners::{Kind, Workload, daemonset_owner};

/// Pod step for a pod a DaemonSet controls (`item.received` with `restore-wait` inserted).
pub fn pod_step(inputs: &RestoreInputs<'_>, item: Item<'_>) -> Result<StepOutcome> {
    let (received, from_backup) = (item.received, item.from_backup);
    let namespace = namespace_of(from_backup);
    let pod = format!("pod {namespace}/{}", name_of(from_backup));
    let unowned = "not managed by a DaemonSet";
    let owner_of = |d: &&str| Workload::new(Kind::DaemonSet, namespace, d);
    let lineage = daemonset_owner(from_backup);
    let guarded = owner_plan::<DaemonSetPlan, _>(inputs, &pod, unowned, lineage, owner_of)?;
    let owner = match guarded {
        Ok(owner) => owner,
        Err(outcome) => return Ok(outcome),
    };
    let (workload, plan) = (owner.workload, owner.plan);
    let volumes = inputs.fsb.volumes_of(from_backup);
    let decision = correct_daemonset_pod(
        inputs.engine,
        inputs.rules,
        received,
        pod_generation(from_backup),
        &plan.after_rules,
        &volumes,
    )?;
    Ok(match decision {
        DaemonSetPodDecision::Corrected(corrected) => {
            corrected_outcome(&pod, workload, received, &corrected, &volumes)
        }
        left_alone => StepOutcome::unchanged(Level::Debug, workload, why_left(&pod, left_alone)),
    })
}

/// Why the pod step leaves `pod` as received.
fn why_left(pod: &str, decision: DaemonSetPodDecision) -> String {
    match decision {
        DaemonSetPodDecision::PastGeneration { label } => format!(
            "{pod} belongs to a past generation ({}); left as is",
            label
                .as_deref()
                .unwrap_or("no pod-template-generation label")
        ),
        DaemonSetPodDecision::Unprotectable => format!(
            "{pod}: left as is; the rules make annotation {TEMPLATE_GENERATION_ANNOTATION} unparseable"
        ),
        DaemonSetPodDecision::Unchanged | DaemonSetPodDecision::Corrected(_) => {
            format!("{pod}: unchanged")
        }
    }
}

/// The corrected pod, with what was withheld, its new generation label and what was re-emitted.
fn corrected_outcome(
    pod: &str,
    workload: String,
    item: &Value,
    corrected: &DaemonSetPodCorrection,
    volumes: &BTreeSet<String>,
) -> StepOutcome {
    let c = &corrected.pod;
    let mut notes: Vec<Note> = withheld_note(pod, &workload, c).into_iter().collect();
    notes.extend(later_rules_notes(pod, &workload, c));
    let (from, to) = &corrected.generation_label;
    if from.as_deref() != Some(to.as_str()) {
        notes.push(Note {
            level: Level::Info,
            workload: workload.clone(),
            message: format!(
                "{pod}: pod-template-generation {} -> {to} (the restored DaemonSet's generation)",
                from.as_deref().unwrap_or("none")
            ),
        });
    }
    notes.push(Note {
        level: Level::Debug,
        workload,
        message: format!(
            "{pod}: re-emitted template paths {:?} (FSB volumes {:?}; left to the controller {:?})",
            c.re_emitted, volumes, corrected.controller_owned
        ),
    });
    StepOutcome::changed(c.item.clone(), item, notes)
}
