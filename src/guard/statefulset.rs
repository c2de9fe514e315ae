//! StatefulSet items. Pods are answered from the StatefulSet's plan; the update revision `R` gets
//! `T'` in the form the target cluster's controller computes (the API server's defaulting, asked
//! with a dry-run create); the StatefulSet item verifies the live `R` — re-created when it differs,
//! or the restored pods relabelled when ControllerRevisions were not part of the restore.

use fsb_guard_core::statefulset::{
    self as core, FinalTemplate, FinalTemplateQuery, VerifyDecision, VerifyTarget, verify_decision,
    verify_notes,
};
use fsb_guard_core::toolkit::gojson::go_canonical;
use fsb_guard_core::toolkit::object::str_at;
use fsb_guard_core::toolkit::owners::REVISION_HASH_LABEL;
use fsb_guard_core::{Note, Resource};
use serde_json::Value;

use super::error::{Error, Result};
use super::executor::{Answer, LiveStep};
use super::item::Item;
use super::operations::{Operation, Relabel, RelabelFor};
use super::ports::{DryRun, LiveCluster};

/// A pod whose backed-up copy a StatefulSet controls.
pub(super) fn pod<C: LiveCluster>(item: &Item<'_, C>) -> Result<Answer> {
    let outcome = core::pod_step(&item.inputs, item.handed())?;
    Ok(item.executor.answer(outcome))
}

/// A ControllerRevision a StatefulSet controls: `R` gets the final template.
pub(super) async fn revision<C: LiveCluster>(item: &Item<'_, C>) -> Result<Answer> {
    let input = item.input;
    let target = match core::revision_target(&item.inputs, item.handed())? {
        Ok(target) => target,
        Err(outcome) => return Ok(item.executor.answer(outcome)),
    };
    let (workload, namespace) = (&target.workload, &target.target_namespace);
    let Some(final_template) = final_template(item, workload, namespace, &target.query).await?
    else {
        return Ok(Answer::as_received());
    };
    let outcome = core::revision_step(&input.item, &target, &final_template);
    Ok(item.executor.answer(outcome))
}

/// The StatefulSet: returned as received; the live `R` verified.
pub(super) async fn statefulset<C: LiveCluster>(item: &Item<'_, C>) -> Result<Answer> {
    let target = match core::verify_target(&item.inputs, item.handed())? {
        Ok(target) => target,
        Err(notes) => {
            item.executor.log(&notes);
            return Ok(Answer::as_received());
        }
    };
    let (workload, namespace) = (&target.workload, &target.target_namespace);
    let Some(final_template) = final_template(item, workload, namespace, &target.query).await?
    else {
        return Ok(Answer::as_received());
    };
    let (target, final_template) = (&target, &final_template);
    item.executor
        .carry_out(move || async move {
            let live = item
                .cluster
                .get(
                    Resource::CONTROLLER_REVISIONS
                        .named(&target.target_namespace, &target.revision),
                )
                .await?;
            let decision = verify_decision(target, final_template, live.as_ref());
            Ok(LiveStep {
                workload: target.workload.clone(),
                operations: operations(target, &decision, live.as_ref()),
                notes: verify_notes(target, final_template, &decision),
                notes_if_failed: Vec::new(),
            })
        })
        .await?;
    Ok(Answer::as_received())
}

/// What the decision about the live `R` asks of the cluster.
fn operations(
    target: &VerifyTarget,
    decision: &VerifyDecision,
    live: Option<&Value>,
) -> Vec<Operation> {
    match decision {
        VerifyDecision::Recreate { body } => vec![Operation::RecreateRevision {
            namespace: target.target_namespace.clone(),
            name: target.revision.clone(),
            uid: live
                .and_then(|l| str_at(l, "/metadata/uid"))
                .map(str::to_owned),
            resource_version: live
                .and_then(|l| str_at(l, "/metadata/resourceVersion"))
                .map(str::to_owned),
            body: go_canonical(body),
        }],
        VerifyDecision::Relabel { predicted, pods } if !pods.is_empty() => {
            vec![Operation::Relabel(Relabel {
                namespace: target.target_namespace.clone(),
                pods: pods.clone(),
                label: REVISION_HASH_LABEL,
                value: predicted.clone(),
                purpose: RelabelFor::Revision,
            })]
        }
        _ => Vec::new(),
    }
}

/// `T'` in the controller's form: the dry-run's `spec.template`; when the dry-run is refused, the
/// rules' `T'` with `creationTimestamp` per the server version. `None` (logged as a warning): the
/// StatefulSet `workload` already exists in the target `namespace`.
async fn final_template<C: LiveCluster>(
    item: &Item<'_, C>,
    workload: &str,
    namespace: &str,
    query: &FinalTemplateQuery,
) -> Result<Option<FinalTemplate>> {
    let answer = item
        .cluster
        .dry_run_create(Resource::STATEFUL_SETS, namespace, &query.body)
        .await?;
    match answer {
        DryRun::Created(object) => FinalTemplate::defaulted(&object)
            .map(Some)
            .ok_or(Error::DryRunWithoutTemplate),
        DryRun::AlreadyExists(_) => {
            item.executor.log(&[Note::warn(workload,
                format!(
                    "a StatefulSet of that name already exists in namespace {namespace}; the restore will not create it, revisions and pods restored as they are"
                ),
            )]);
            Ok(None)
        }
        DryRun::Refused(why) => {
            let (major, minor) = item.cluster.server_version().await?;
            FinalTemplate::without_defaults(&query.offline, why.to_string(), &major, &minor)
                .map(Some)
                .ok_or(Error::UnknownServerVersion { major, minor })
        }
    }
}
