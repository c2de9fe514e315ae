//! DaemonSet items. Pods are answered from the DaemonSet's plan; the revision the current pods
//! point to gets the final template as the API server stores it (a dry-run create of the modified
//! DaemonSet; refused = left as is); the DaemonSet item relabels live restored pods that lack the
//! restored DaemonSet's generation.

use fsb_guard_core::daemonset::{
    self as core, DaemonSetLive, POD_TEMPLATE_GENERATION, as_enforce_restores,
};
use fsb_guard_core::{Kind, Level, Resource};

use super::error::{Error, Result};
use super::executor::{Answer, LiveStep};
use super::item::Item;
use super::operations::{Operation, Relabel, RelabelFor};
use super::ports::{DryRun, LiveCluster};

/// A pod whose backed-up copy a DaemonSet controls.
pub(super) fn pod<C: LiveCluster>(item: &Item<'_, C>) -> Result<Answer> {
    let outcome = core::pod_step(&item.inputs, item.handed())?;
    Ok(item.executor.answer(outcome))
}

/// A ControllerRevision a DaemonSet controls: the one the current pods point to gets the final
/// template.
pub(super) async fn revision<C: LiveCluster>(item: &Item<'_, C>) -> Result<Answer> {
    let input = item.input;
    let Some(request) = core::revision_dry_run(&item.inputs, item.handed())? else {
        return Ok(Answer::as_received());
    };
    // Whatever the API server answers short of the object, the revision stays as backed up.
    let server = match item
        .cluster
        .dry_run_create(Resource::DAEMON_SETS, &request.namespace, &request.body)
        .await
    {
        Ok(DryRun::Created(object)) => Ok(object),
        Ok(DryRun::AlreadyExists(e) | DryRun::Refused(e)) => Err(Error::Cluster(e).to_string()),
        Err(e) => Err(e.to_string()),
    };
    let server = server.as_ref().map_err(String::as_str);
    let outcome = core::revision_step(&input.item, &input.item_from_backup, server);
    Ok(item.executor.answer(outcome))
}

/// The DaemonSet: returned as received; its restored pods verified and relabelled.
pub(super) async fn daemonset<C: LiveCluster>(item: &Item<'_, C>) -> Result<Answer> {
    let Some(target) = core::daemonset_target(&item.inputs, item.handed())? else {
        return Ok(item.not_guarded(Kind::DaemonSet));
    };
    let target = &target;
    item.executor
        .carry_out(move || async move {
            let cluster = item.cluster;
            let mut live = DaemonSetLive {
                daemonset: cluster
                    .get(Resource::DAEMON_SETS.named(&target.namespace, &target.name))
                    .await?,
                pods: cluster
                    .list(Resource::PODS, &target.namespace, &target.selector)
                    .await?,
            };
            if item.executor.dry_run() {
                // Dry-run left the pods' labels as backed up; judge them as enforce would have
                // restored them, so the summary says what enforce would do.
                live.pods = as_enforce_restores(target, live.pods);
            }
            let outcome = core::daemonset_step(&item.inputs, item.handed(), target, &live)?;
            let operations = match outcome.relabel.first() {
                Some(first) => vec![Operation::Relabel(Relabel {
                    namespace: target.namespace.clone(),
                    pods: outcome.relabel.iter().map(|r| r.pod.clone()).collect(),
                    label: POD_TEMPLATE_GENERATION,
                    value: first.to.clone(),
                    purpose: RelabelFor::Generation,
                })],
                None => Vec::new(),
            };
            // On failure the summary would claim the relabels: only the warnings are logged.
            let warnings = outcome
                .notes
                .iter()
                .filter(|n| n.level != Level::Info)
                .cloned()
                .collect();
            Ok(LiveStep {
                workload: target.workload.clone(),
                operations,
                notes: outcome.notes,
                notes_if_failed: warnings,
            })
        })
        .await?;
    Ok(Answer::as_received())
}
