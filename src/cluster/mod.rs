//! Thin kube API adapter: the few reads and writes the guard makes during a restore.
//!
//! Objects stay `serde_json::Value` (raw requests, no typed k8s-openapi structs: those drop unknown
//! fields). Every call is bounded by a timeout of at most [`MAX_CALL_TIMEOUT`], and every error names
//! the verb, resource and namespace (see [`Error`]).
//!
//! Connection: in a cluster (the plugin runs inside the Velero pod) the service-account config; else
//! `$KUBECONFIG` / `~/.kube/config`. [`Cluster::from_kubeconfig`] points it at an explicit kubeconfig
//! (the end-to-end tests use that).

mod error;
pub mod label;
pub mod pods;
pub mod statefulsets;

use std::path::Path;
use std::time::Duration;

use kube::core::Request;
use kube::core::params::{DeleteParams, GetParams, ListParams, PostParams};
use serde_json::{Value, json};

pub use error::{Call, Error, Result, from_kube};
pub use label::valid_label_value;

/// Upper bound for a single API call (design §4: no restore may hang on the plugin).
pub const MAX_CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// Label Velero puts on PodVolumeBackups (and restored objects) with the backup name.
pub const BACKUP_NAME_LABEL: &str = "velero.io/backup-name";
/// Label key that marks a plugin-config ConfigMap (any value).
pub const PLUGIN_CONFIG_LABEL: &str = "velero.io/plugin-config";
/// This plugin's name, used as label key on its config ConfigMap with value `RestoreItemAction`.
pub const PLUGIN_NAME: &str = "fsb-guard.io/template-guard";
const PLUGIN_KIND: &str = "RestoreItemAction";
/// Field manager recorded on the objects the plugin patches.
pub const FIELD_MANAGER: &str = "velero-fsb-guard";

/// A namespaced API resource addressed by group/version/plural.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resource {
    pub group: &'static str,
    pub version: &'static str,
    pub plural: &'static str,
}

impl Resource {
    pub const POD_VOLUME_BACKUPS: Self = Self::velero("podvolumebackups");
    pub const BACKUPS: Self = Self::velero("backups");
    pub const BACKUP_STORAGE_LOCATIONS: Self = Self::velero("backupstoragelocations");
    pub const DOWNLOAD_REQUESTS: Self = Self::velero("downloadrequests");
    pub const CONFIG_MAPS: Self = Self {
        group: "",
        version: "v1",
        plural: "configmaps",
    };
    pub const REPLICA_SETS: Self = Self {
        group: "apps",
        version: "v1",
        plural: "replicasets",
    };

    const fn velero(plural: &'static str) -> Self {
        Self {
            group: "velero.io",
            version: "v1",
            plural,
        }
    }

    /// `plural[.group]`, as RBAC rules and error messages name it.
    pub fn qualified(&self) -> String {
        if self.group.is_empty() {
            self.plural.to_owned()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    /// Collection path in `namespace`.
    pub fn url_path(&self, namespace: &str) -> String {
        if self.group.is_empty() {
            format!(
                "/api/{}/namespaces/{namespace}/{}",
                self.version, self.plural
            )
        } else {
            format!(
                "/apis/{}/{}/namespaces/{namespace}/{}",
                self.group, self.version, self.plural
            )
        }
    }
}

/// The Velero namespace: `$VELERO_NAMESPACE` (set in Velero's own deployment and inherited by its
/// plugins), else the restore's `metadata.namespace`.
pub fn velero_namespace(restore: &Value) -> Option<String> {
    std::env::var("VELERO_NAMESPACE")
        .ok()
        .filter(|ns| !ns.is_empty())
        .or_else(|| {
            restore
                .pointer("/metadata/namespace")
                .and_then(Value::as_str)
                .filter(|ns| !ns.is_empty())
                .map(str::to_owned)
        })
}

/// Makes sure rustls has a process-wide crypto provider (ring). kube and reqwest are built without
/// a default one so only ring is linked; installing twice is harmless.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A kube client bound to the Velero namespace, with a per-call timeout.
#[derive(Clone)]
pub struct Cluster {
    client: kube::Client,
    velero_namespace: String,
    call_timeout: Duration,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("velero_namespace", &self.velero_namespace)
            .field("call_timeout", &self.call_timeout)
            .finish_non_exhaustive()
    }
}

impl Cluster {
    /// In-cluster configuration, else the kubeconfig from `$KUBECONFIG` or `~/.kube/config`.
    pub async fn connect(velero_namespace: impl Into<String>) -> Result<Self> {
        install_crypto_provider();
        let config = match kube::Config::incluster() {
            Ok(config) => config,
            Err(in_cluster) => kube::Config::from_kubeconfig(&Default::default())
                .await
                .map_err(|kubeconfig| Error::Config {
                    in_cluster: in_cluster.to_string(),
                    kubeconfig: kubeconfig.to_string(),
                })?,
        };
        Self::from_config(config, velero_namespace)
    }

    /// The given kubeconfig file and context (current context when `None`).
    pub async fn from_kubeconfig(
        path: &Path,
        context: Option<&str>,
        velero_namespace: impl Into<String>,
    ) -> Result<Self> {
        install_crypto_provider();
        let config_err = |e: kube::config::KubeconfigError| Error::Config {
            in_cluster: "not tried".into(),
            kubeconfig: format!("{}: {e}", path.display()),
        };
        let kubeconfig = kube::config::Kubeconfig::read_from(path).map_err(config_err)?;
        let options = kube::config::KubeConfigOptions {
            context: context.map(str::to_owned),
            ..Default::default()
        };
        let config = kube::Config::from_custom_kubeconfig(kubeconfig, &options)
            .await
            .map_err(config_err)?;
        Self::from_config(config, velero_namespace)
    }

    /// From a prepared client configuration (timeouts are tightened to the call bound).
    pub fn from_config(
        mut config: kube::Config,
        velero_namespace: impl Into<String>,
    ) -> Result<Self> {
        install_crypto_provider();
        config.connect_timeout = Some(MAX_CALL_TIMEOUT);
        config.read_timeout = Some(MAX_CALL_TIMEOUT);
        config.write_timeout = Some(MAX_CALL_TIMEOUT);
        // Count the read timeout from the request, not from when a pooled connection went idle.
        config.reset_reader_on_write = true;
        let client = kube::Client::try_from(config).map_err(|e| Error::Config {
            in_cluster: String::new(),
            kubeconfig: e.to_string(),
        })?;
        Ok(Self::from_client(client, velero_namespace))
    }

    pub fn from_client(client: kube::Client, velero_namespace: impl Into<String>) -> Self {
        Self {
            client,
            velero_namespace: velero_namespace.into(),
            call_timeout: MAX_CALL_TIMEOUT,
        }
    }

    /// Per-call timeout, capped at [`MAX_CALL_TIMEOUT`].
    pub fn with_call_timeout(mut self, timeout: Duration) -> Self {
        self.call_timeout = timeout.min(MAX_CALL_TIMEOUT);
        self
    }

    pub fn velero_namespace(&self) -> &str {
        &self.velero_namespace
    }

    pub fn call_timeout(&self) -> Duration {
        self.call_timeout
    }

    /// Sends one request with the call timeout, mapping errors for `call`.
    async fn send(&self, call: Call, request: http::Request<Vec<u8>>) -> Result<Value> {
        match tokio::time::timeout(self.call_timeout, self.client.request::<Value>(request)).await {
            Err(_) => Err(Error::Timeout {
                call: Box::new(call),
                after: Some(self.call_timeout),
            }),
            Ok(Err(e)) => Err(from_kube(call, e)),
            Ok(Ok(v)) => Ok(v),
        }
    }

    fn call(verb: &'static str, resource: Resource, namespace: &str, name: Option<&str>) -> Call {
        Call {
            verb,
            resource: resource.qualified(),
            namespace: namespace.to_owned(),
            name: name.map(str::to_owned),
        }
    }

    fn build_err(call: Call, e: impl std::fmt::Display) -> Error {
        Error::Response {
            call: Box::new(call),
            message: format!("cannot build request: {e}"),
        }
    }

    /// GET one object; `None` on 404.
    pub async fn get(
        &self,
        resource: Resource,
        namespace: &str,
        name: &str,
    ) -> Result<Option<Value>> {
        let call = Self::call("get", resource, namespace, Some(name));
        let request = Request::new(resource.url_path(namespace))
            .get(name, &GetParams::default())
            .map_err(|e| Self::build_err(call.clone(), e))?;
        match self.send(call, request).await {
            Err(e) if e.is_not_found() => Ok(None),
            other => other.map(Some),
        }
    }

    /// LIST with a label selector; returns the items.
    pub async fn list(
        &self,
        resource: Resource,
        namespace: &str,
        label_selector: &str,
    ) -> Result<Vec<Value>> {
        let call = Self::call("list", resource, namespace, None);
        let params = ListParams::default().labels(label_selector);
        let request = Request::new(resource.url_path(namespace))
            .list(&params)
            .map_err(|e| Self::build_err(call.clone(), e))?;
        let list = self.send(call.clone(), request).await?;
        match list.get("items") {
            Some(Value::Array(items)) => Ok(items.clone()),
            Some(Value::Null) | None => Ok(Vec::new()),
            Some(_) => Err(Error::Response {
                call: Box::new(call),
                message: "list without an items array".into(),
            }),
        }
    }

    /// POST a new object; returns it as the server stored it.
    pub async fn create(
        &self,
        resource: Resource,
        namespace: &str,
        object: &Value,
    ) -> Result<Value> {
        let name = object.pointer("/metadata/name").and_then(Value::as_str);
        let call = Self::call("create", resource, namespace, name);
        let body = serde_json::to_vec(object).map_err(|e| Self::build_err(call.clone(), e))?;
        let request = Request::new(resource.url_path(namespace))
            .create(&PostParams::default(), body)
            .map_err(|e| Self::build_err(call.clone(), e))?;
        self.send(call, request).await
    }

    /// DELETE one object; a missing object is not an error.
    pub async fn delete(&self, resource: Resource, namespace: &str, name: &str) -> Result<()> {
        let call = Self::call("delete", resource, namespace, Some(name));
        let request = Request::new(resource.url_path(namespace))
            .delete(name, &DeleteParams::background())
            .map_err(|e| Self::build_err(call.clone(), e))?;
        match self.send(call, request).await {
            Err(e) if e.is_not_found() => Ok(()),
            other => other.map(|_| ()),
        }
    }

    /// PATCH with an RFC 6902 JSON patch document (`application/json-patch+json`).
    pub async fn json_patch(
        &self,
        resource: Resource,
        namespace: &str,
        name: &str,
        patch: &Value,
    ) -> Result<Value> {
        self.patch(
            resource,
            namespace,
            name,
            patch,
            "application/json-patch+json",
        )
        .await
    }

    /// PATCH `patch` (serialised as given) with the patch type `content_type`.
    pub(crate) async fn patch(
        &self,
        resource: Resource,
        namespace: &str,
        name: &str,
        patch: &Value,
        content_type: &str,
    ) -> Result<Value> {
        let call = Self::call("patch", resource, namespace, Some(name));
        let body = serde_json::to_vec(patch).map_err(|e| Self::build_err(call.clone(), e))?;
        let uri = format!(
            "{}/{name}?fieldManager={FIELD_MANAGER}",
            resource.url_path(namespace)
        );
        let request = http::Request::patch(uri)
            .header(http::header::CONTENT_TYPE, content_type)
            .header(http::header::ACCEPT, "application/json")
            .body(body)
            .map_err(|e| Self::build_err(call.clone(), e))?;
        self.send(call, request).await
    }

    /// PodVolumeBackups of `backup_name` in the Velero namespace, selected as Velero selects them
    /// (`velero.io/backup-name=<valid label value>`).
    pub async fn list_pod_volume_backups(&self, backup_name: &str) -> Result<Vec<Value>> {
        let selector = format!("{BACKUP_NAME_LABEL}={}", valid_label_value(backup_name));
        self.list(
            Resource::POD_VOLUME_BACKUPS,
            &self.velero_namespace,
            &selector,
        )
        .await
    }

    pub async fn get_config_map(&self, namespace: &str, name: &str) -> Result<Option<Value>> {
        self.get(Resource::CONFIG_MAPS, namespace, name).await
    }

    /// This plugin's optional config ConfigMap in the Velero namespace (Velero's plugin-config
    /// convention: label `velero.io/plugin-config` present, `fsb-guard.io/template-guard:
    /// RestoreItemAction`). None when absent; more than one is an error, as in Velero.
    pub async fn find_plugin_config(&self) -> Result<Option<Value>> {
        let selector = format!("{PLUGIN_CONFIG_LABEL},{PLUGIN_NAME}={PLUGIN_KIND}");
        let mut items = self
            .list(Resource::CONFIG_MAPS, &self.velero_namespace, &selector)
            .await?;
        match items.len() {
            0 => Ok(None),
            1 => Ok(items.pop()),
            _ => Err(Error::AmbiguousPluginConfig {
                namespace: self.velero_namespace.clone(),
                selector,
                names: items
                    .iter()
                    .map(|cm| {
                        cm.pointer("/metadata/name")
                            .and_then(Value::as_str)
                            .unwrap_or("?")
                            .to_owned()
                    })
                    .collect(),
            }),
        }
    }

    pub async fn get_replica_set(&self, namespace: &str, name: &str) -> Result<Option<Value>> {
        self.get(Resource::REPLICA_SETS, namespace, name).await
    }

    /// Replaces a ReplicaSet's `spec.template` with `template` in one JSON-patch PATCH. With
    /// `expected_resource_version` the patch first tests `metadata.resourceVersion`, so a concurrent
    /// change makes it fail (HTTP 422) instead of being overwritten. The caller keeps the
    /// ReplicaSet's own `pod-template-hash` label in `template`.
    pub async fn replace_replica_set_template(
        &self,
        namespace: &str,
        name: &str,
        template: &Value,
        expected_resource_version: Option<&str>,
    ) -> Result<Value> {
        let mut ops = Vec::new();
        if let Some(rv) = expected_resource_version {
            ops.push(json!({"op": "test", "path": "/metadata/resourceVersion", "value": rv}));
        }
        ops.push(json!({"op": "replace", "path": "/spec/template", "value": template}));
        self.json_patch(Resource::REPLICA_SETS, namespace, name, &Value::Array(ops))
            .await
    }

    /// A Backup in the Velero namespace.
    pub async fn get_backup(&self, name: &str) -> Result<Option<Value>> {
        self.get(Resource::BACKUPS, &self.velero_namespace.clone(), name)
            .await
    }

    /// A BackupStorageLocation in the Velero namespace.
    pub async fn get_backup_storage_location(&self, name: &str) -> Result<Option<Value>> {
        self.get(
            Resource::BACKUP_STORAGE_LOCATIONS,
            &self.velero_namespace.clone(),
            name,
        )
        .await
    }
}
