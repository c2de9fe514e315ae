//! Why the guard could not decide for an item. The action maps every error at the edge (fail
//! open: item unchanged + `warn`; fail closed: item error); the message is what the restore log
//! shows after `guard could not decide, item restored unchanged: `, so each variant names its
//! cause and carries its source.

use std::sync::Arc;
use std::time::Duration;

use crate::backup::download::DownloadError;
use crate::cluster;

/// Errors of the plugin shell.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A decision failed (rules, strategic merge patch, a workload without template).
    #[error(transparent)]
    Core(#[from] fsb_guard_core::Error),
    /// A Kubernetes API call failed (the message names verb and resource).
    #[error("kubernetes API: {0}")]
    Cluster(#[from] cluster::Error),
    /// A write was refused because the object changed since it was read (the cluster adapter
    /// says so from the HTTP status): re-read and decide again.
    #[error("kubernetes API: {0}: the object changed since it was read")]
    Conflict(cluster::Error),
    /// No client configuration or connection for the API server (made on first use).
    #[error("kubernetes API: no Kubernetes connection: {0}")]
    NoConnection(Arc<cluster::Error>),
    /// A live call came before any call that connects (a restore always reads its inputs first).
    #[error("kubernetes API: no Kubernetes connection yet")]
    NotConnected,
    /// The restore names a resource-modifier ConfigMap that does not exist.
    #[error("resource modifiers: resource-modifier ConfigMap {namespace}/{name} not found")]
    NoModifierConfigMap { namespace: String, name: String },
    /// The backup contents could not be downloaded or indexed.
    #[error("backup contents: {0}")]
    Download(#[from] DownloadError),
    /// The plugin-config ConfigMap could not be read (or several match): the user may have
    /// switched the guard off, so nothing is done.
    #[error("plugin-config ConfigMap: {0}")]
    PluginConfig(#[source] Box<Error>),
    /// Reading the restore's settings or rules failed; every item of the restore reports it.
    #[error("resource modifiers: {0}")]
    RestoreInputs(#[source] Arc<Error>),
    /// Listing the backup's PodVolumeBackups failed; every item of the restore reports it (the
    /// source names the API and the call).
    #[error("the backup's PodVolumeBackups: {0}")]
    PodVolumeBackups(#[source] Arc<Error>),
    /// The backup contents could not be read; every item of the restore reports it.
    #[error("backup contents: {0}")]
    BackupContents(#[source] Arc<Error>),
    /// The download did not finish within the setting `downloadTimeout`.
    #[error("download of backup {backup} timed out after {after:?}")]
    DownloadTimedOut { backup: String, after: Duration },
    /// A dry-run create answered without the template it was asked to default.
    #[error("dry-run create of the StatefulSet returned no spec.template")]
    DryRunWithoutTemplate,
    /// `GET /version` answered something that is not a Kubernetes version.
    #[error("API server version {major}.{minor} not understood")]
    UnknownServerVersion { major: String, minor: String },
    /// The StatefulSet's update revision was deleted to be re-created and the create failed.
    #[error(
        "kubernetes API: ControllerRevision {namespace}/{name} was deleted but could not be created again (the StatefulSet will create a new revision and roll its restored pods): {source}"
    )]
    RevisionLost {
        namespace: String,
        name: String,
        #[source]
        source: Box<Error>,
    },
    /// Some restored pods could not be relabelled; the controller replaces them.
    #[error("kubernetes API: {0}")]
    Relabel(#[from] RelabelFailed),
}

/// Restored pods a relabel could not reach, and why.
#[derive(Debug, thiserror::Error)]
#[error("{}: {}", self.what(), self.failures())]
pub struct RelabelFailed {
    /// Label and value set.
    pub label: &'static str,
    pub value: String,
    /// What the value is (the StatefulSet's revision or the DaemonSet's generation).
    pub purpose: super::operations::RelabelFor,
    /// How many pods were to be relabelled.
    pub total: usize,
    /// `(pod, error)` for each pod that was not.
    pub failed: Vec<(String, Error)>,
}

impl RelabelFailed {
    /// The warning logged before the error, when the error alone does not count the pods.
    pub fn note(&self) -> Option<String> {
        use super::operations::RelabelFor;
        (self.purpose == RelabelFor::Revision).then(|| {
            format!(
                "could not relabel {} of {} restored pods to revision {}",
                self.failed.len(),
                self.total,
                self.value
            )
        })
    }

    fn what(&self) -> String {
        use super::operations::RelabelFor;
        match self.purpose {
            RelabelFor::Revision => format!(
                "relabel {}={} (the controller replaces these pods)",
                self.label, self.value
            ),
            RelabelFor::Generation => format!(
                "could not relabel {} of {} restored pods with {} (the controller replaces them)",
                self.failed.len(),
                self.total,
                self.label
            ),
        }
    }

    fn failures(&self) -> String {
        self.failed
            .iter()
            .map(|(pod, e)| format!("pod {pod}: {e}"))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// `Result` with the shell's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
