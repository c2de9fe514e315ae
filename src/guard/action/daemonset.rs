//! The plugin shell for DaemonSets: reads the live objects the DaemonSet step needs and makes its
//! label patches (a child of `action`, so it shares the guard's per-restore state).
//!
//! Extra RBAC (beyond the table in [`super`]):
//!
//! | verb | resource | where | why |
//! |---|---|---|---|
//! | `get` | `daemonsets.apps` | restore target namespaces | does the DaemonSet exist already |
//! | `list` | `pods` | restore target namespaces | the restored pods of the DaemonSet |
//! | `patch` | `pods` | restore target namespaces | relabel `pod-template-generation` |
//! | `create` (dry run) | `daemonsets.apps` | restore target namespaces | the final template as the API server stores it |

use std::collections::BTreeMap;

use super::super::daemonset::{
    DaemonSetCache, DaemonSetLive, POD_TEMPLATE_GENERATION, as_enforce_restores,
    daemonset_pod_step, daemonset_step, daemonset_target, revision_dry_run, revision_step,
};
use super::super::engine_impl::VeleroEngine;
use super::super::error::{Error, Result};
use super::super::steps::{Level, Note, RestoreInputs};
use super::super::workload::{name_of, namespace_of};
use super::{Answer, GuardCluster, TemplateGuard, log_notes};
use velero_plugin::ExecuteInput;

impl<C: GuardCluster> TemplateGuard<C> {
    /// A pod controlled by a DaemonSet.
    pub(super) fn decide_daemonset_pod(
        &self,
        inputs: &RestoreInputs<'_, VeleroEngine>,
        cache: &DaemonSetCache,
        input: &ExecuteInput,
        dry_run: bool,
    ) -> Result<Answer> {
        let outcome =
            daemonset_pod_step(inputs, Some(cache), &input.item, &input.item_from_backup)?;
        Ok(Answer::from_outcome(outcome, dry_run))
    }

    /// The DaemonSet item: returned as received; its restored pods verified and relabelled.
    pub(super) async fn decide_daemonset(
        &self,
        inputs: &RestoreInputs<'_, VeleroEngine>,
        cache: &DaemonSetCache,
        input: &ExecuteInput,
        dry_run: bool,
    ) -> Result<Answer> {
        let from_backup = &input.item_from_backup;
        let Some(target) = daemonset_target(
            inputs,
            Some(cache),
            &input.item,
            from_backup,
            &input.restore,
        )?
        else {
            tracing::debug!(
                workload = %format!("DaemonSet {}/{}", namespace_of(from_backup), name_of(from_backup)),
                "not guarded"
            );
            return Ok(Answer::as_received());
        };
        let live = DaemonSetLive {
            daemonset: self
                .cluster
                .get_daemonset(&target.namespace, &target.name)
                .await?,
            pods: self
                .cluster
                .list_pods(&target.namespace, &target.selector)
                .await?,
        };
        // Dry-run left the pods' labels as backed up; judge them as enforce would have restored
        // them, so the summary says what enforce would do.
        let live = if dry_run {
            DaemonSetLive {
                pods: as_enforce_restores(inputs, Some(cache), from_backup, live.pods)?,
                ..live
            }
        } else {
            live
        };
        let outcome = daemonset_step(inputs, &input.item, from_backup, &target, &live)?;
        if dry_run {
            log_notes(&outcome.notes, dry_run);
            return Ok(Answer::as_received());
        }
        let mut failures = Vec::new();
        for relabel in &outcome.relabel {
            let labels =
                BTreeMap::from([(POD_TEMPLATE_GENERATION.to_owned(), Some(relabel.to.clone()))]);
            // No resourceVersion precondition: the patch sets one label only, and the pod's
            // status moves on constantly while its volumes restore.
            if let Err(e) = self
                .cluster
                .patch_pod_labels(&target.namespace, &relabel.pod, &labels, None)
                .await
            {
                failures.push(format!("pod {}: {e}", relabel.pod));
            }
        }
        if failures.is_empty() {
            log_notes(&outcome.notes, dry_run);
            return Ok(Answer::as_received());
        }
        // The summary would claim the relabels; the edge reports the failure instead.
        let warnings: Vec<Note> = outcome
            .notes
            .into_iter()
            .filter(|n| n.level != Level::Info)
            .collect();
        log_notes(&warnings, dry_run);
        Err(Error::Cluster(format!(
            "could not relabel {} of {} restored pods with pod-template-generation (the controller replaces them): {}",
            failures.len(),
            outcome.relabel.len(),
            failures.join("; ")
        )))
    }

    /// A ControllerRevision a DaemonSet owns: the one the current pods point to gets the final
    /// template (from a dry-run create of the modified DaemonSet).
    pub(super) async fn decide_daemonset_revision(
        &self,
        inputs: &RestoreInputs<'_, VeleroEngine>,
        cache: &DaemonSetCache,
        input: &ExecuteInput,
        dry_run: bool,
    ) -> Result<Answer> {
        let from_backup = &input.item_from_backup;
        let Some(request) = revision_dry_run(inputs, Some(cache), from_backup, &input.restore)?
        else {
            return Ok(Answer::as_received());
        };
        let server = self
            .cluster
            .dry_run_create_daemonset(&request.namespace, &request.body)
            .await
            .map_err(|e| e.to_string());
        let outcome = revision_step(
            &input.item,
            from_backup,
            server.as_ref().map_err(String::as_str),
        );
        Ok(Answer::from_outcome(outcome, dry_run))
    }
}
