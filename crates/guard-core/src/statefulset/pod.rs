//! The pod step: pods at the update revision `R` get `T → T'` exactly as a Deployment's pods do;
//! pods the final replica count removes (ordinal ≥ `R'`) are not restored; pods at an older
//! revision (a partitioned or paused rollout in the backup) are left as they are.

use super::plan::{PodFate, StatefulSetPlan};
use crate::error::Result;
use crate::plans::owner_plan;
use crate::restore::{Item, RestoreInputs};
use crate::toolkit::notes::{Level, Note, StepOutcome, corrected_pod_outcome};
use crate::toolkit::object::{name_of, namespace_of};
use crate::toolkit::owners::{StatefulPodLineage, statefulset_pod_lineage};
use crate::toolkit::template::correct_pod;

/// Pod step for a pod whose backed-up copy is owned by a StatefulSet (`item.received` with
/// `restore-wait` inserted). Pods the final replica count removes are skipped (`skip_restore`)
/// with one `warn` naming their FSB volumes; pods at `R` get `T → T'`; other pods are restored as
/// they are.
pub fn pod_step(inputs: &RestoreInputs<'_>, item: Item<'_>) -> Result<StepOutcome> {
    let (received, from_backup) = (item.received, item.from_backup);
    let pod = format!("pod {}/{}", namespace_of(from_backup), name_of(from_backup));
    let unowned = "not managed by a StatefulSet";
    let lineage = statefulset_pod_lineage(from_backup);
    let owner_of = StatefulPodLineage::workload;
    let guarded = owner_plan::<StatefulSetPlan, _>(inputs, &pod, unowned, lineage, owner_of)?;
    let owner = match guarded {
        Ok(owner) => owner,
        Err(outcome) => return Ok(outcome),
    };
    let (workload, plan, lineage) = (owner.workload, owner.plan, owner.lineage);
    let volumes = inputs.fsb.volumes_of(from_backup);
    match plan.fate_of(&lineage) {
        PodFate::ScaledAway { final_replicas } => {
            let message = if volumes.is_empty() {
                format!(
                    "{pod} not restored: ordinal {} ≥ final spec.replicas {final_replicas}, the StatefulSet controller would delete it",
                    lineage.ordinal
                )
            } else {
                format!(
                    "{pod} not restored: ordinal {} ≥ final spec.replicas {final_replicas}, the StatefulSet controller would delete it; data of FSB volumes {volumes:?} will not be restored (their PersistentVolumeClaims are restored but not filled)",
                    lineage.ordinal
                )
            };
            let level = if volumes.is_empty() {
                Level::Info
            } else {
                Level::Warn
            };
            Ok(StepOutcome::skipped(vec![Note::new(
                level, workload, message,
            )]))
        }
        PodFate::NoTemplateChange => Ok(StepOutcome::unchanged(
            Level::Debug,
            workload,
            "template unchanged by the rules",
        )),
        PodFate::UnknownRevision => Ok(StepOutcome::unchanged(
            Level::Warn,
            workload,
            format!(
                "{pod}: no update revision found for the StatefulSet (status.updateRevision, revision data, pod labels); pod restored without the template change"
            ),
        )),
        PodFate::OlderRevision => Ok(StepOutcome::unchanged(
            Level::Debug,
            workload,
            format!(
                "{pod} belongs to an older revision ({}); left as is",
                lineage.revision.as_deref().unwrap_or("no revision label")
            ),
        )),
        PodFate::Correct(change) => {
            let corrected = correct_pod(inputs.engine, received, change, &volumes)?;
            Ok(corrected_pod_outcome(
                &pod, workload, received, corrected, &volumes,
            ))
        }
    }
}
