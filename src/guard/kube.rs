//! [`GuardCluster`] over the project's Kubernetes adapter ([`crate::cluster`]) and the backup
//! download flow ([`crate::backup::download`]).
//!
//! The connection is made on first use, not when the plugin starts: Velero also starts the binary
//! just to list its plugins, and that must work without any cluster access.

use std::time::Duration;

use serde_json::Value;
use tokio::sync::OnceCell;

use super::action::{GuardCluster, TemplateGuard};
use super::error::{Error, Result};
use super::statefulset::StatefulSetDryRun;
use super::steps::BackupObjects;
use crate::backup::download::{DownloadOptions, process_backup_contents};
use crate::backup::{
    CONTROLLER_REVISIONS, DAEMON_SETS, DEPLOYMENTS, IndexOptions, PODS, REPLICA_SETS, STATEFUL_SETS,
};
use crate::cluster::{self, Cluster, Resource};

/// The live cluster, connected lazily (in-cluster config, else kubeconfig).
#[derive(Default)]
pub struct KubeCluster {
    connection: OnceCell<Result<Cluster, String>>,
}

impl KubeCluster {
    /// A cluster adapter that connects on first use.
    pub fn new() -> Self {
        Self::default()
    }

    /// An adapter over an existing connection (tests, tools).
    pub fn from_cluster(cluster: Cluster) -> Self {
        Self {
            connection: OnceCell::new_with(Some(Ok(cluster))),
        }
    }

    async fn cluster(&self, velero_namespace: &str) -> Result<&Cluster> {
        self.connection
            .get_or_init(|| async {
                Cluster::connect(velero_namespace.to_owned())
                    .await
                    .map_err(|e| e.to_string())
            })
            .await
            .as_ref()
            .map_err(|e| Error::Cluster(format!("no Kubernetes connection: {e}")))
    }
}

fn api(e: cluster::Error) -> Error {
    Error::Cluster(e.to_string())
}

impl GuardCluster for KubeCluster {
    async fn plugin_settings(&self, velero_namespace: &str) -> Result<Option<Value>> {
        let configmap = self
            .cluster(velero_namespace)
            .await?
            .find_plugin_config()
            .await
            .map_err(api)?;
        Ok(configmap.map(|cm| cm.get("data").cloned().unwrap_or(Value::Null)))
    }

    async fn configmap(&self, namespace: &str, name: &str) -> Result<Value> {
        self.cluster(namespace)
            .await?
            .get_config_map(namespace, name)
            .await
            .map_err(api)?
            .ok_or_else(|| {
                Error::Rules(format!(
                    "resource-modifier ConfigMap {namespace}/{name} not found"
                ))
            })
    }

    async fn pod_volume_backups(
        &self,
        velero_namespace: &str,
        backup_name: &str,
    ) -> Result<Vec<Value>> {
        self.cluster(velero_namespace)
            .await?
            .list_pod_volume_backups(backup_name)
            .await
            .map_err(api)
    }

    async fn backup_objects(
        &self,
        velero_namespace: &str,
        backup_name: &str,
        timeout: Duration,
    ) -> Result<BackupObjects> {
        let cluster = self.cluster(velero_namespace).await?;
        let options = DownloadOptions {
            transfer_timeout: timeout,
            // The guard needs the pods of workloads (which own FSB pods, which to keep); bare pods are
            // never guarded, so they are not held in memory.
            index: IndexOptions::workloads()
                .with_pods()
                .only_controlled_pods()
                .keep(STATEFUL_SETS)
                .keep(DAEMON_SETS)
                .keep(CONTROLLER_REVISIONS),
            ..DownloadOptions::default()
        };
        let index = process_backup_contents()
            .get(cluster, backup_name, &options)
            .await
            .map_err(|e| Error::Backup(e.to_string()))?;
        let collect = |gr: &str| index.items_of(gr).map(|(_, v)| v.clone()).collect();
        Ok(BackupObjects {
            deployments: collect(DEPLOYMENTS),
            replicasets: collect(REPLICA_SETS),
            pods: collect(PODS),
            statefulsets: collect(STATEFUL_SETS),
            daemonsets: collect(DAEMON_SETS),
            controllerrevisions: collect(CONTROLLER_REVISIONS),
        })
    }

    async fn get_replicaset(&self, namespace: &str, name: &str) -> Result<Option<Value>> {
        self.connected()?
            .get_replica_set(namespace, name)
            .await
            .map_err(api)
    }

    async fn patch_replicaset(&self, namespace: &str, name: &str, patch: &Value) -> Result<()> {
        self.connected()?
            .json_patch(Resource::REPLICA_SETS, namespace, name, patch)
            .await
            .map(|_| ())
            .map_err(|e| {
                if is_stale_write(&e) {
                    Error::Conflict(e.to_string())
                } else {
                    api(e)
                }
            })
    }

    async fn get_daemonset(&self, namespace: &str, name: &str) -> Result<Option<Value>> {
        self.connected()?
            .get_daemon_set(namespace, name)
            .await
            .map_err(api)
    }

    async fn list_pods(&self, namespace: &str, label_selector: &str) -> Result<Vec<Value>> {
        self.connected()?
            .list_pods(namespace, label_selector)
            .await
            .map_err(api)
    }

    async fn patch_pod_labels(
        &self,
        namespace: &str,
        name: &str,
        labels: &crate::cluster::pods::LabelChanges,
        expected_resource_version: Option<&str>,
    ) -> Result<()> {
        self.connected()?
            .patch_pod_labels(namespace, name, labels, expected_resource_version)
            .await
            .map(|_| ())
            .map_err(|e| {
                if is_stale_write(&e) {
                    Error::Conflict(e.to_string())
                } else {
                    api(e)
                }
            })
    }

    async fn dry_run_create_daemonset(&self, namespace: &str, body: &Value) -> Result<Value> {
        self.connected()?
            .dry_run_create(Resource::DAEMON_SETS, namespace, body)
            .await
            .map_err(api)
    }

    async fn dry_run_create_statefulset(
        &self,
        namespace: &str,
        body: &Value,
    ) -> Result<StatefulSetDryRun> {
        match self
            .connected()?
            .dry_run_create(Resource::STATEFUL_SETS, namespace, body)
            .await
        {
            Ok(object) => Ok(StatefulSetDryRun::Created(object)),
            Err(cluster::Error::Api { code: 409, .. }) => Ok(StatefulSetDryRun::AlreadyExists),
            // The API server answered no: RBAC, a webhook without dry-run support, validation.
            Err(e @ (cluster::Error::Api { .. } | cluster::Error::Forbidden { .. })) => {
                Ok(StatefulSetDryRun::Refused(e.to_string()))
            }
            Err(e) => Err(api(e)),
        }
    }

    async fn server_version(&self) -> Result<(String, String)> {
        let version = self.connected()?.server_version().await.map_err(api)?;
        let field = |k: &str| {
            version
                .get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        Ok((field("major"), field("minor")))
    }

    async fn get_controllerrevision(&self, namespace: &str, name: &str) -> Result<Option<Value>> {
        self.connected()?
            .get_controller_revision(namespace, name)
            .await
            .map_err(api)
    }

    async fn delete_controllerrevision(
        &self,
        namespace: &str,
        name: &str,
        uid: Option<&str>,
        resource_version: Option<&str>,
    ) -> Result<()> {
        self.connected()?
            .delete_if_unchanged(
                Resource::CONTROLLER_REVISIONS,
                namespace,
                name,
                uid,
                resource_version,
            )
            .await
            .map_err(|e| {
                if is_stale_write(&e) {
                    Error::Conflict(e.to_string())
                } else {
                    api(e)
                }
            })
    }

    async fn create_controllerrevision(
        &self,
        namespace: &str,
        name: &str,
        body: Vec<u8>,
    ) -> Result<()> {
        self.connected()?
            .create_raw(Resource::CONTROLLER_REVISIONS, namespace, name, body)
            .await
            .map(|_| ())
            .map_err(|e| {
                if matches!(e, cluster::Error::Api { code: 409, .. }) {
                    Error::Conflict(e.to_string())
                } else {
                    api(e)
                }
            })
    }
}

/// A write refused because the object moved on: 409 Conflict, or 422 from a failed JSON-patch
/// `test` on `/metadata/resourceVersion` (the API server reports patch application errors as 422
/// with the failing path in the message).
fn is_stale_write(e: &cluster::Error) -> bool {
    match e {
        cluster::Error::Api { code: 409, .. } => true,
        cluster::Error::Api {
            code: 422, message, ..
        } => message.contains("/metadata/resourceVersion"),
        _ => false,
    }
}

impl KubeCluster {
    /// The connection made by an earlier call of this restore (the Deployment step always follows
    /// the reads that connect).
    fn connected(&self) -> Result<&Cluster> {
        match self.connection.get() {
            Some(Ok(cluster)) => Ok(cluster),
            Some(Err(e)) => Err(Error::Cluster(format!("no Kubernetes connection: {e}"))),
            None => Err(Error::Cluster("no Kubernetes connection yet".to_owned())),
        }
    }
}

impl TemplateGuard<KubeCluster> {
    /// The RestoreItemAction the plugin serves: the guard over the live cluster. The Velero
    /// namespace is `$VELERO_NAMESPACE`, else the restore's namespace.
    pub fn for_the_live_cluster() -> Self {
        let velero_namespace = std::env::var("VELERO_NAMESPACE")
            .ok()
            .filter(|ns| !ns.is_empty());
        TemplateGuard::new(KubeCluster::new(), velero_namespace)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::guard::testkit::{a_deployment, velero_prepares_pod};
    use velero_plugin::{ExecuteInput, RestoreItemAction};

    /// A kube client pointed at a loopback port nobody listens on: every call fails fast with a
    /// connection error, as when the API server is unreachable.
    fn unreachable_cluster() -> Cluster {
        let config = kube::Config::new("https://127.0.0.1:1".parse().unwrap());
        Cluster::from_config(config, "velero")
            .unwrap()
            .with_call_timeout(Duration::from_secs(2))
    }

    #[tokio::test]
    async fn fail_open_when_the_api_server_is_unreachable() {
        let guard = TemplateGuard::new(KubeCluster::from_cluster(unreachable_cluster()), None);
        let app = a_deployment("shop", "web").with_fsb_volume("data");
        let pod = &app.pods()[0];
        let item = velero_prepares_pod(pod, &app.fsb_index().volumes_of(pod));
        let restore = json!({"metadata": {"name": "r", "namespace": "velero", "uid": "u"},
            "spec": {"backupName": "nightly", "resourceModifier": {"kind": "ConfigMap", "name": "mods"}}});
        let out = guard
            .execute(ExecuteInput {
                item: item.clone(),
                item_from_backup: pod.clone(),
                restore,
            })
            .await
            .expect("fail open: the item is restored");
        assert_eq!(out.item, item);
    }
}
