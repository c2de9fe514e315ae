//! The one place that acts on decisions: it answers items, carries out live operations, writes
//! the notes to the restore log, re-reads once when an object changed under a write, and in
//! dry-run mode does nothing but log (each line prefixed `dry-run, would apply: `).

use std::future::Future;
use std::time::Duration;

use fsb_guard_core::toolkit::object::LabelChanges;
use fsb_guard_core::{Level, Note, Resource, StepOutcome};
use serde_json::Value;

use super::error::{Error, RelabelFailed, Result};
use super::operations::{Operation, Relabel};
use super::ports::LiveCluster;

/// Pause before the one retry of a revision create that met the deleted object still in place.
const RECREATE_RETRY_AFTER: Duration = Duration::from_millis(300);

/// What the guard answers Velero for one item.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Answer {
    /// `Some` when the item changes; `None` restores it as received.
    pub item: Option<Value>,
    /// Ask Velero not to create the item.
    pub skip_restore: bool,
    /// An asynchronous operation Velero follows with Progress (a parked pod's deletion).
    pub operation_id: Option<String>,
}

impl Answer {
    /// Restore the item as received.
    pub fn as_received() -> Self {
        Self::default()
    }
}

/// A live step a kind decided: the operations, and what to log once they are carried out.
#[derive(Debug, Clone, Default)]
pub struct LiveStep {
    /// `<Kind> <ns>/<name>`, for the lines the executor writes itself.
    pub workload: String,
    pub operations: Vec<Operation>,
    /// Logged once the operations succeeded (or instead of them, in dry-run).
    pub notes: Vec<Note>,
    /// Logged instead of `notes` when an operation failed (the summary would claim what did not
    /// happen); the error itself is reported at the edge.
    pub notes_if_failed: Vec<Note>,
}

/// Acts for one item, in enforce or dry-run mode.
pub struct Executor<'a, C> {
    cluster: &'a C,
    dry_run: bool,
}

impl<'a, C: LiveCluster> Executor<'a, C> {
    pub fn new(cluster: &'a C, dry_run: bool) -> Self {
        Self { cluster, dry_run }
    }

    pub fn dry_run(&self) -> bool {
        self.dry_run
    }

    /// Writes `notes` to the restore log.
    pub fn log(&self, notes: &[Note]) {
        let prefix = if self.dry_run {
            "dry-run, would apply: "
        } else {
            ""
        };
        for note in notes {
            let workload = note.workload.as_str();
            match note.level {
                Level::Debug => tracing::debug!(workload, "{prefix}{}", note.message),
                Level::Info => tracing::info!(workload, "{prefix}{}", note.message),
                Level::Warn => tracing::warn!(workload, "{prefix}{}", note.message),
            }
        }
    }

    /// The answer for an item step: its notes logged; in dry-run the item restored as received.
    pub fn answer(&self, outcome: StepOutcome) -> Answer {
        self.log(&outcome.notes);
        if self.dry_run {
            return Answer::as_received();
        }
        Answer {
            item: outcome.item,
            skip_restore: outcome.skip_restore,
            operation_id: None,
        }
    }

    /// Carries out the live step `decide` returns (it reads the live objects and decides). When an
    /// object changed between the read and the write (every write carries a precondition), reads
    /// and decides once more; a second conflict is an error, never a blind write.
    pub async fn carry_out<F, Fut>(&self, mut decide: F) -> Result<()>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<LiveStep>>,
    {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let step = decide().await?;
            if self.dry_run {
                self.log(&step.notes);
                return Ok(());
            }
            match self.perform(&step.operations).await {
                Ok(()) => {
                    self.log(&step.notes);
                    return Ok(());
                }
                Err((operation, Error::Conflict(why))) if attempt == 1 => {
                    tracing::debug!(
                        workload = %step.workload,
                        "{}; reading it again: {why}",
                        operation.changed_while()
                    );
                }
                Err((_, error)) => {
                    self.log(&step.notes_if_failed);
                    if let Error::Relabel(failed) = &error
                        && let Some(message) = failed.note()
                    {
                        self.log(&[Note::warn(step.workload.as_str(), message)]);
                    }
                    return Err(error);
                }
            }
        }
    }

    /// The operations in order; the first failure stops them (and names its operation).
    async fn perform<'o>(
        &self,
        operations: &'o [Operation],
    ) -> std::result::Result<(), (&'o Operation, Error)> {
        for operation in operations {
            self.apply(operation)
                .await
                .map_err(|error| (operation, error))?;
        }
        Ok(())
    }

    async fn apply(&self, operation: &Operation) -> Result<()> {
        match operation {
            Operation::PatchReplicaSet {
                namespace,
                name,
                patch,
            } => {
                let replicaset = Resource::REPLICA_SETS.named(namespace, name);
                self.cluster.json_patch(replicaset, patch).await
            }
            Operation::RecreateRevision {
                namespace,
                name,
                uid,
                resource_version,
                body,
            } => {
                let revision = Resource::CONTROLLER_REVISIONS.named(namespace, name);
                let (uid, version) = (uid.as_deref(), resource_version.as_deref());
                self.cluster
                    .delete_if_unchanged(revision, uid, version)
                    .await?;
                self.create_again(namespace, name, body).await
            }
            Operation::Relabel(relabel) => self.relabel(relabel).await,
            Operation::DeletePod {
                namespace,
                name,
                uid,
            } => {
                let pod = Resource::PODS.named(namespace, name);
                self.cluster
                    .delete_if_unchanged(pod, uid.as_deref(), None)
                    .await
            }
        }
    }

    /// Creates the revision again after its delete; one retry when the deleted object is still
    /// in place (AlreadyExists while the delete completes).
    async fn create_again(&self, namespace: &str, name: &str, body: &[u8]) -> Result<()> {
        let revision = Resource::CONTROLLER_REVISIONS.named(namespace, name);
        let create = || self.cluster.create_raw(revision, body.to_vec());
        let result = match create().await {
            Err(Error::Conflict(_)) => {
                tokio::time::sleep(RECREATE_RETRY_AFTER).await;
                create().await
            }
            other => other,
        };
        result.map_err(|e| Error::RevisionLost {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            source: Box::new(e),
        })
    }

    /// Sets the label on every pod; failures are collected, so each pod gets its chance.
    async fn relabel(&self, relabel: &Relabel) -> Result<()> {
        let labels = LabelChanges::from([(relabel.label.to_owned(), Some(relabel.value.clone()))]);
        let mut failed = Vec::new();
        for pod in &relabel.pods {
            if let Err(e) = self
                .cluster
                .patch_labels(Resource::PODS.named(&relabel.namespace, pod), &labels)
                .await
            {
                failed.push((pod.clone(), e));
            }
        }
        if failed.is_empty() {
            return Ok(());
        }
        Err(RelabelFailed {
            label: relabel.label,
            value: relabel.value.clone(),
            purpose: relabel.purpose,
            total: relabel.pods.len(),
            failed,
        }
        .into())
    }
}
