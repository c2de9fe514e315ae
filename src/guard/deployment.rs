//! Deployment items. Pods and ReplicaSets are answered from the Deployment's plan; the Deployment
//! item itself reads the live current ReplicaSet and, when it lacks the template the Deployment
//! will be created with (or `R'` replicas), patches it — one JSON patch, conditional on the
//! `resourceVersion` read.

use fsb_guard_core::deployment::{self as core, DeploymentDecision, LiveTarget};
use fsb_guard_core::{Kind, Resource, name_of, namespace_of};
use serde_json::Value;

use super::error::Result;
use super::executor::{Answer, LiveStep};
use super::item::Item;
use super::operations::Operation;
use super::ports::LiveCluster;

/// A pod whose backed-up copy a Deployment's ReplicaSet controls.
pub(super) fn pod<C: LiveCluster>(item: &Item<'_, C>) -> Result<Answer> {
    let outcome = core::pod_step(&item.inputs, item.handed())?;
    Ok(item.executor.answer(outcome))
}

/// A ReplicaSet (of a Deployment, or not).
pub(super) fn replicaset<C: LiveCluster>(item: &Item<'_, C>) -> Result<Answer> {
    let outcome = core::replicaset_step(&item.inputs, item.handed())?;
    Ok(item.executor.answer(outcome))
}

/// The Deployment: returned as received; its live current ReplicaSet verified and aligned.
pub(super) async fn deployment<C: LiveCluster>(item: &Item<'_, C>) -> Result<Answer> {
    let Some(target) = core::live_target(&item.inputs, item.handed())? else {
        return Ok(item.not_guarded(Kind::Deployment));
    };
    let target = &target;
    item.executor
        .carry_out(move || async move {
            let live = live_replicaset(item, target).await?;
            let outcome =
                core::deployment_step(&item.inputs, item.handed(), target, live.as_ref())?;
            let operations = match outcome.decision {
                DeploymentDecision::Align { patch, .. } => vec![Operation::PatchReplicaSet {
                    namespace: target.namespace.clone(),
                    name: target.replicaset.clone(),
                    patch,
                }],
                _ => Vec::new(),
            };
            Ok(LiveStep {
                workload: target.workload.clone(),
                operations,
                notes: outcome.notes,
                notes_if_failed: Vec::new(),
            })
        })
        .await?;
    Ok(Answer::as_received())
}

/// The live current ReplicaSet; in dry-run judged as enforce would have restored it (dry-run
/// left it as backed up), so the summary says exactly what enforce would do.
async fn live_replicaset<C: LiveCluster>(
    item: &Item<'_, C>,
    target: &LiveTarget,
) -> Result<Option<Value>> {
    let live = item
        .cluster
        .get(Resource::REPLICA_SETS.named(&target.namespace, &target.replicaset))
        .await?;
    if !item.executor.dry_run() {
        return Ok(live);
    }
    let Some(current) = live else {
        return Ok(None);
    };
    let namespace = namespace_of(&item.input.item_from_backup);
    let history = item
        .inputs
        .backup
        .history_owned_by(Kind::Deployment, &item.input.item_from_backup);
    let backed_up = history
        .iter()
        .find(|rs| namespace_of(rs) == namespace && name_of(rs) == target.replicaset);
    Ok(Some(match backed_up {
        Some(rs) => {
            let restored = fsb_guard_core::Item {
                received: &current,
                from_backup: rs,
                restore: &item.input.restore,
            };
            let step = core::replicaset_step(&item.inputs, restored)?;
            step.item.unwrap_or(current)
        }
        None => current,
    }))
}
