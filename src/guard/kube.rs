//! Both ports over the project's Kubernetes adapter ([`crate::cluster`]) and the backup download
//! flow ([`crate::backup::download`]).
//!
//! The connection is made on first use, not when the plugin starts: Velero also starts the binary
//! just to list its plugins, and that must work without any cluster access. Clones share it.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use fsb_guard_core::toolkit::object::LabelChanges;
use fsb_guard_core::{BackupObjects, FsbWorkloads, ObjectRef, Resource, Selection};
use serde_json::Value;
use tokio::sync::OnceCell;

use super::error::{Error, Result};
use super::ports::{DryRun, LiveCluster, RestoreSource};
use crate::backup::IndexOptions;
use crate::backup::download::{DownloadError, DownloadOptions, download_backup_index};
use crate::backup::index::{ItemKey, controlled_by_workload, parse_item};
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
        let index = Resource::BACKED_UP
            .into_iter()
            .fold(IndexOptions::workloads().unparsed(), IndexOptions::keep);
        let options = DownloadOptions {
            transfer_timeout: timeout,
            index,
            ..DownloadOptions::default()
        };
        // Once per restore: the restore state keeps the result (RestoreState::backup_objects).
        let index = download_backup_index(cluster, backup_name, &options).await?;
        let unparsable = |source| DownloadError::Index {
            backup: backup_name.to_owned(),
            source,
        };
        let is_pod = |key: &ItemKey| key.group_resource == Resource::PODS.group_resource();
        // The text is parsed for what the selection keeps. The pods are read once to find the
        // workloads with FSB pods and each pod's workload; a pod of another workload is then
        // skipped without parsing it again, and only the kept workloads' objects are parsed.
        let guarded = match selection {
            Selection::Everything => None,
            Selection::FsbWorkloads(fsb) => {
                let mut guarded = FsbWorkloads::default();
                let mut pod_owners = HashMap::new();
                for (key, text) in index.raw_items().filter(|(key, _)| is_pod(key)) {
                    let pod = parse_item(key, text).map_err(unparsable)?;
                    if let Some(owner) = guarded.add_pod(&pod, fsb) {
                        pod_owners.insert(key.clone(), owner);
                    }
                }
                Some((guarded, pod_owners))
            }
        };
        // The text is taken out of the index and each piece freed once judged: the parsed objects
        // kept reuse that memory instead of adding to it (a 63,750-item restore peaked ~500 MiB
        // holding both).
        let mut objects = BackupObjects::default();
        for (key, text) in index.into_raw_items() {
            let Some(resource) = Resource::backed_up(&key.group_resource) else {
                continue;
            };
            if let Some((guarded, pod_owners)) = &guarded
                && is_pod(&key)
                && !pod_owners.get(&key).is_some_and(|w| guarded.contains(w))
            {
                continue;
            }
            let object = parse_item(&key, &text).map_err(unparsable)?;
            drop(text);
            let kept = match &guarded {
                Some((guarded, _)) => guarded.own(resource, &object),
                // Bare pods are never guarded.
                None => resource != Resource::PODS || controlled_by_workload(&object),
            };
            if kept {
                objects.push(resource, object);
            }
        }
        Ok(objects)
    }
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
