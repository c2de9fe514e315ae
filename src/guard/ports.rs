//! What the guard needs from outside, split by what it is: the restore's inputs
//! ([`RestoreSource`]: Velero's objects and the backup, read once per restore) and the live cluster
//! the restore writes into ([`LiveCluster`]: read and written per item). `kube::KubeCluster` is
//! the production adapter for both; the tests' in-memory API server is the other.
//!
//! Every call is bounded by the implementation (≤ 10 s per API call); errors name the verb and
//! resource. A write refused because the object changed since it was read is
//! [`Error::Conflict`](super::Error::Conflict), decided by the adapter from the HTTP status.

use std::future::Future;
use std::time::Duration;

use fsb_guard_core::toolkit::object::LabelChanges;
use fsb_guard_core::{BackupObjects, ObjectRef, Resource, Selection};
use serde_json::Value;

use super::error::Result;
use crate::cluster;

/// The restore's inputs, read once per restore.
pub trait RestoreSource: Send + Sync + 'static {
    /// `data` of the plugin-config ConfigMap in `velero_namespace` (labels
    /// `velero.io/plugin-config` and `<plugin name>=RestoreItemAction`); `None` if there is none;
    /// an error if more than one matches.
    fn plugin_settings(
        &self,
        velero_namespace: &str,
    ) -> impl Future<Output = Result<Option<Value>>> + Send;

    /// The restore's resource-modifier ConfigMap.
    fn modifier_configmap(
        &self,
        namespace: &str,
        name: &str,
    ) -> impl Future<Output = Result<Value>> + Send;

    /// PodVolumeBackups labelled `velero.io/backup-name=<valid label value of backup_name>`.
    fn pod_volume_backups(
        &self,
        velero_namespace: &str,
        backup_name: &str,
    ) -> impl Future<Output = Result<Vec<Value>>> + Send;

    /// The backed-up workloads, their pods and history (DownloadRequest `BackupContents`), as far
    /// as `selection` keeps them.
    fn backup_objects(
        &self,
        velero_namespace: &str,
        backup_name: &str,
        timeout: Duration,
        selection: Selection<'_>,
    ) -> impl Future<Output = Result<BackupObjects>> + Send;
}

/// What a dry-run create answered.
#[derive(Debug)]
pub enum DryRun {
    /// The object as the API server would store it (defaulted, admitted).
    Created(Value),
    /// An object of that name already exists (HTTP 409).
    AlreadyExists(cluster::Error),
    /// The API server said no: RBAC, a webhook without dry-run support, validation.
    Refused(cluster::Error),
}

/// The live cluster the restore writes into.
pub trait LiveCluster: Send + Sync + 'static {
    /// A live object, `None` if not found.
    fn get(&self, object: ObjectRef<'_>) -> impl Future<Output = Result<Option<Value>>> + Send;

    /// Live objects in `namespace` matching `label_selector` (`""` = all).
    fn list(
        &self,
        resource: Resource,
        namespace: &str,
        label_selector: &str,
    ) -> impl Future<Output = Result<Vec<Value>>> + Send;

    /// `POST …?dryRun=All` of `body` in `namespace`: nothing is stored.
    fn dry_run_create(
        &self,
        resource: Resource,
        namespace: &str,
        body: &Value,
    ) -> impl Future<Output = Result<DryRun>> + Send;

    /// Applies an RFC 6902 JSON patch; a failed precondition (`test`) is a Conflict.
    fn json_patch(
        &self,
        object: ObjectRef<'_>,
        patch: &Value,
    ) -> impl Future<Output = Result<()>> + Send;

    /// Sets (`Some`) or removes (`None`) labels with one JSON merge patch.
    fn patch_labels(
        &self,
        object: ObjectRef<'_>,
        labels: &LabelChanges,
    ) -> impl Future<Output = Result<()>> + Send;

    /// Deletes an object if its `uid`/`resourceVersion` are still those read (Conflict
    /// otherwise); a missing object is not an error.
    fn delete_if_unchanged(
        &self,
        object: ObjectRef<'_>,
        uid: Option<&str>,
        resource_version: Option<&str>,
    ) -> impl Future<Output = Result<()>> + Send;

    /// Creates an object from `body`, sent byte for byte; AlreadyExists is a Conflict.
    fn create_raw(
        &self,
        object: ObjectRef<'_>,
        body: Vec<u8>,
    ) -> impl Future<Output = Result<()>> + Send;

    /// `GET /version`: the API server's `(major, minor)`.
    fn server_version(&self) -> impl Future<Output = Result<(String, String)>> + Send;
}
