//! Both ports over the project's Kubernetes adapter ([`crate::cluster`]) and the backup download
//! flow ([`crate::backup::download`]).
//!
//! The connection is made on first use, not when the plugin starts: Velero also starts the binary
//! just to list its plugins, and that must work without any cluster access. Clones share it.

use std::sync::Arc;
use std::time::Duration;

use fsb_guard_core::toolkit::object::LabelChanges;
use fsb_guard_core::{BackupObjects, BackupSieve, ObjectRef, Resource, Selection, Sifted};
use serde_json::Value;
use tokio::sync::OnceCell;

use super::error::{Error, Result};
use super::ports::{DryRun, LiveCluster, RestoreSource};
use crate::backup::IndexOptions;
use crate::backup::download::{DownloadError, DownloadOptions, download_backup_index};
use crate::backup::index::{ItemKey, ItemSink};
use crate::cluster::{self, Cluster, Create};

/// The live cluster, connected lazily (in-cluster config, else kubeconfig).
#[derive(Clone, Default)]
pub struct KubeCluster {
    connection: Arc<OnceCell<Result<Cluster, Arc<cluster::Error>>>>,
    /// Label key of the plugin-config ConfigMap (the plugin's registered name).
    plugin_name: &'static str,
}

impl KubeCluster {
    /// A cluster adapter that connects on first use; `plugin_name` finds the plugin-config
    /// ConfigMap.
    pub fn new(plugin_name: &'static str) -> Self {
        Self {
            connection: Arc::default(),
            plugin_name,
        }
    }

    /// An adapter over an existing connection (tests, tools).
    pub fn from_cluster(cluster: Cluster, plugin_name: &'static str) -> Self {
        Self {
            connection: Arc::new(OnceCell::new_with(Some(Ok(cluster)))),
            plugin_name,
        }
    }

    /// The connection, made by the first call of the restore.
    async fn cluster(&self, velero_namespace: &str) -> Result<&Cluster> {
        self.connection
            .get_or_init(|| async {
                Cluster::connect(velero_namespace.to_owned())
                    .await
                    .map_err(Arc::new)
            })
            .await
            .as_ref()
            .map_err(|e| Error::NoConnection(Arc::clone(e)))
    }

    /// The connection made by an earlier call of this restore (live calls always follow the reads
    /// of the restore's inputs, which connect).
    fn connected(&self) -> Result<&Cluster> {
        match self.connection.get() {
            Some(Ok(cluster)) => Ok(cluster),
            Some(Err(e)) => Err(Error::NoConnection(Arc::clone(e))),
            None => Err(Error::NotConnected),
        }
    }
}

/// The adapter's rule for writes: the object moved on since it was read.
fn refused_as_changed(e: cluster::Error) -> Error {
    match e {
        conflict @ cluster::Error::Conflict { .. } => Error::Conflict(conflict),
        other => Error::Cluster(other),
    }
}

impl RestoreSource for KubeCluster {
    async fn plugin_settings(&self, velero_namespace: &str) -> Result<Option<Value>> {
        let configmap = self
            .cluster(velero_namespace)
            .await?
            .find_plugin_config(self.plugin_name)
            .await?;
        Ok(configmap.map(|cm| cm.get("data").cloned().unwrap_or(Value::Null)))
    }

    async fn modifier_configmap(&self, namespace: &str, name: &str) -> Result<Value> {
        self.cluster(namespace)
            .await?
            .get(Resource::CONFIG_MAPS.named(namespace, name))
            .await?
            .ok_or_else(|| Error::NoModifierConfigMap {
                namespace: namespace.to_owned(),
                name: name.to_owned(),
            })
    }

    async fn pod_volume_backups(
        &self,
        velero_namespace: &str,
        backup_name: &str,
    ) -> Result<Vec<Value>> {
        Ok(self
            .cluster(velero_namespace)
            .await?
            .list_pod_volume_backups(backup_name)
            .await?)
    }

    async fn backup_objects(
        &self,
        velero_namespace: &str,
        backup_name: &str,
        timeout: Duration,
        selection: Selection<'_>,
    ) -> Result<BackupObjects> {
        let cluster = self.cluster(velero_namespace).await?;
        // Once per restore (the restore state keeps the result), twice only when the sieve asks.
        let mut sieve = BackupSieve::new(selection);
        loop {
            sieve = match sift_backup(cluster, backup_name, timeout, sieve)
                .await?
                .finish()
            {
                Sifted::Kept(objects) => return Ok(objects),
                Sifted::ReadAgain(again) => {
                    tracing::info!(
                        backup = backup_name,
                        "reading the backup contents a second time: objects of a workload with \
                         FSB pods came before its pods and were not named after them"
                    );
                    again
                }
            };
        }
    }
}

/// How many items the download reader may read ahead of the sieve.
const SIEVE_QUEUE: usize = 64;

/// Downloads `backup`'s contents and offers each backed-up workload, history object and pod to
/// `sieve` as the archive streams in (the reader decompresses on a blocking thread while the
/// sieve judges here).
async fn sift_backup<'a>(
    cluster: &Cluster,
    backup: &str,
    timeout: Duration,
    mut sieve: BackupSieve<'a>,
) -> Result<BackupSieve<'a>> {
    let (sink, mut items) = ItemSink::channel(SIEVE_QUEUE);
    let options = DownloadOptions {
        transfer_timeout: timeout,
        index: Resource::BACKED_UP.into_iter().fold(
            IndexOptions::workloads().handed_to(sink),
            IndexOptions::keep,
        ),
        ..DownloadOptions::default()
    };
    let mut offer = |(key, text): (ItemKey, Vec<u8>)| -> Result<()> {
        let Some(resource) = Resource::backed_up(&key.group_resource) else {
            return Ok(());
        };
        sieve
            .offer(resource, &key.namespace, &key.name, text)
            .map_err(|source| {
                Error::from(DownloadError::Index {
                    backup: backup.to_owned(),
                    source: crate::backup::Error::BadJson {
                        entry: key.entry(),
                        source,
                    },
                })
            })
    };
    let mut download = std::pin::pin!(download_backup_index(cluster, backup, &options));
    let mut refused = None;
    let downloaded = loop {
        tokio::select! {
            downloaded = &mut download => break downloaded,
            Some(item) = items.recv(), if refused.is_none() => {
                if let Err(e) = offer(item) {
                    // The reader stops at its next item; the download then ends (and removes its
                    // DownloadRequest) before the error is returned.
                    items.close();
                    refused = Some(e);
                }
            }
        }
    };
    if let Some(e) = refused {
        return Err(e);
    }
    downloaded?;
    // The reader has finished: what it queued last is still to be offered.
    while let Ok(item) = items.try_recv() {
        offer(item)?;
    }
    Ok(sieve)
}

impl LiveCluster for KubeCluster {
    async fn get(&self, object: ObjectRef<'_>) -> Result<Option<Value>> {
        Ok(self.connected()?.get(object).await?)
    }

    async fn list(
        &self,
        resource: Resource,
        namespace: &str,
        label_selector: &str,
    ) -> Result<Vec<Value>> {
        Ok(self
            .connected()?
            .list(resource, namespace, label_selector)
            .await?)
    }

    async fn dry_run_create(
        &self,
        resource: Resource,
        namespace: &str,
        body: &Value,
    ) -> Result<DryRun> {
        match self
            .connected()?
            .create(resource, namespace, body, Create::DryRun)
            .await
        {
            Ok(object) => Ok(DryRun::Created(object)),
            Err(e @ cluster::Error::Conflict { .. }) => Ok(DryRun::AlreadyExists(e)),
            // The API server answered no: RBAC, a webhook without dry-run support, validation.
            Err(e @ (cluster::Error::Api { .. } | cluster::Error::Forbidden { .. })) => {
                Ok(DryRun::Refused(e))
            }
            Err(e) => Err(e.into()),
        }
    }

    async fn json_patch(&self, object: ObjectRef<'_>, patch: &Value) -> Result<()> {
        let written = self.connected()?.json_patch(object, patch).await;
        written.map(drop).map_err(refused_as_changed)
    }

    async fn patch_labels(&self, object: ObjectRef<'_>, labels: &LabelChanges) -> Result<()> {
        let patch = cluster::label_merge_patch(labels, None);
        let written = self.connected()?.merge_patch(object, &patch).await;
        written.map(drop).map_err(refused_as_changed)
    }

    async fn delete_if_unchanged(
        &self,
        object: ObjectRef<'_>,
        uid: Option<&str>,
        resource_version: Option<&str>,
    ) -> Result<()> {
        let cluster = self.connected()?;
        let deleted = cluster.delete_if_unchanged(object, uid, resource_version);
        deleted.await.map_err(refused_as_changed)
    }

    async fn create_raw(&self, object: ObjectRef<'_>, body: Vec<u8>) -> Result<()> {
        let created = self.connected()?.create_raw(object, body).await;
        created.map(drop).map_err(refused_as_changed)
    }

    async fn server_version(&self) -> Result<(String, String)> {
        let version = self.connected()?.server_version().await?;
        let field = |k: &str| {
            version
                .get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        Ok((field("major"), field("minor")))
    }
}
