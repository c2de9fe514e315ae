//! The pod step: pods at the update revision `R` get `T → T'` exactly as a Deployment's pods do;
//! pods the final replica count removes (ordinal ≥ `R'`) are not restored; pods at an older
//! revision (a partitioned or paused rollout in the backup) are left as they are, with a `warn`
//! where the controller will replace them.

use std::collections::BTreeSet;

use serde_json::Value;

use super::plan::{PodFate, StatefulSetPlan};
use crate::error::Result;
use crate::existing::fsb_volume_sources;
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
        PodFate::OlderRevision => Ok(older_revision(
            &pod,
            workload,
            &lineage,
            plan.rolls_older_pod(lineage.ordinal),
            received,
            &volumes,
        )),
        PodFate::Correct(change) => {
            let corrected = correct_pod(inputs.engine, inputs.rules, received, change, &volumes)?;
            Ok(corrected_pod_outcome(
                &pod, workload, received, corrected, &volumes,
            ))
        }
    }
}

/// A pod at an older revision than `R` (the backup was taken mid-rollout) is restored as it is.
/// Where the controller resumes the rollout it replaces the pod: `warn`, with what survives
/// (data in PersistentVolumeClaims; not that of other FSB volumes). Below the partition or under
/// `OnDelete` it stays: `debug`.
fn older_revision(
    pod: &str,
    workload: String,
    lineage: &StatefulPodLineage,
    rolled: bool,
    received: &Value,
    volumes: &BTreeSet<String>,
) -> StepOutcome {
    let revision = lineage.revision.as_deref().unwrap_or("no revision label");
    if !rolled {
        return StepOutcome::unchanged(
            Level::Debug,
            workload,
            format!(
                "{pod} belongs to an older revision ({revision}); left as is (below the partition or OnDelete: the controller keeps it)"
            ),
        );
    }
    let volumes: Vec<String> = volumes.iter().cloned().collect();
    let (claims, others) = fsb_volume_sources(received, &volumes);
    let data = match (claims.is_empty(), others.is_empty()) {
        (_, true) if volumes.is_empty() => String::new(),
        (_, true) => {
            "; its FSB data lives in PersistentVolumeClaims and survives the replacement".to_owned()
        }
        (true, false) => format!(
            "; FSB volumes {others:?} are not claims: their restored data goes with the pod"
        ),
        (false, false) => format!(
            "; FSB data in claims ({:?}) survives the replacement, FSB volumes {others:?} are not claims: their restored data goes with the pod",
            claims.iter().map(|(v, _)| v).collect::<Vec<_>>()
        ),
    };
    StepOutcome::unchanged(
        Level::Warn,
        workload,
        format!(
            "{pod} belongs to an older revision ({revision}; the backup was taken mid-rollout): restored as it is, without the template change. The StatefulSet controller resumes the rollout and replaces it with the update revision: after every restored pod is ready under podManagementPolicy OrderedReady or on Kubernetes 1.35+, possibly before its file-system restore completes under Parallel on 1.34 and older{data}"
        ),
    )
}
