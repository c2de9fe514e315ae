//! The pod step: a pod of the Deployment's current ReplicaSet gets `T → T'` by merge key (FSB
//! volumes and `restore-wait` untouched), or, beyond a lowered replica count, is not restored.

use std::collections::BTreeSet;

use super::plan::DeploymentPlan;
use super::replicas::ReplicaPlan;
use crate::error::Result;
use crate::plans::owner_plan;
use crate::restore::{Item, RestoreInputs};
use crate::toolkit::notes::{Level, Note, StepOutcome, corrected_pod_outcome};
use crate::toolkit::object::{name_of, namespace_of};
use crate::toolkit::owners::{PodLineage, pod_lineage};
use crate::toolkit::template::correct_pod;

/// Pod step: `item.received` as Velero's actions left it (`restore-wait` inserted).
pub fn pod_step(inputs: &RestoreInputs<'_>, item: Item<'_>) -> Result<StepOutcome> {
    let (received, from_backup) = (item.received, item.from_backup);
    let pod = format!("pod {}/{}", namespace_of(from_backup), name_of(from_backup));
    let unowned = "not managed by a Deployment";
    let lineage = pod_lineage(from_backup);
    let guarded =
        owner_plan::<DeploymentPlan, _>(inputs, &pod, unowned, lineage, PodLineage::workload)?;
    let owner = match guarded {
        Ok(owner) => owner,
        Err(outcome) => return Ok(outcome),
    };
    let (workload, plan) = (owner.workload, &owner.plan);
    let in_current = plan.current_replicaset.as_deref() == Some(owner.lineage.replicaset.as_str());
    if let Some(skipped) = plan
        .replicas
        .choice
        .as_ref()
        .filter(|_| in_current)
        .and_then(|c| c.skipped(name_of(from_backup)))
    {
        return Ok(skip_pod(
            &workload,
            &pod,
            &plan.replicas,
            &skipped.fsb_volumes,
        ));
    }
    let Some(change) = &plan.change else {
        return Ok(StepOutcome::unchanged(
            Level::Debug,
            workload,
            format!("{pod}: kept (template unchanged by the rules)"),
        ));
    };
    if !in_current {
        return Ok(StepOutcome::unchanged(
            Level::Debug,
            workload,
            format!("{pod} belongs to a past revision; left as is"),
        ));
    }
    let volumes = inputs.fsb.volumes_of(from_backup);
    let corrected = correct_pod(inputs.engine, inputs.rules, received, change, &volumes)?;
    Ok(corrected_pod_outcome(
        &pod, workload, received, corrected, &volumes,
    ))
}

/// A pod of the current ReplicaSet beyond the final replica count: not restored. One `warn` per
/// FSB volume whose data is dropped with it, else one `info`.
fn skip_pod(
    workload: &str,
    pod: &str,
    plan: &ReplicaPlan,
    fsb_volumes: &BTreeSet<String>,
) -> StepOutcome {
    let kept = plan.choice.as_ref().map_or(0, |c| c.kept.len());
    let head = format!(
        "{pod}: not restored (skipRestore): replicas lowered {}",
        plan.change_text()
    );
    if fsb_volumes.is_empty() {
        return StepOutcome::skipped(vec![Note::info(
            workload,
            format!("{head}, {kept} of {} pods kept", plan.pods),
        )]);
    }
    StepOutcome::skipped(
        fsb_volumes
            .iter()
            .map(|volume| {
                Note::warn(workload,
                    format!(
                        "{head}; file-system-backup data of volume {volume} will not be restored (more pods with their own FSB data than replicas)"
                    ),
                )
            })
            .collect(),
    )
}
