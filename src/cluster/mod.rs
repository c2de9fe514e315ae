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

use std::path::Path;
use std::time::Duration;

use fsb_guard_core::fsb::read_of_pvb;
use fsb_guard_core::toolkit::object::LabelChanges;
use fsb_guard_core::{ObjectRef, Resource};
use kube::core::Request;
use kube::core::params::{DeleteParams, GetParams, ListParams, PostParams, Preconditions};
use serde_json::{Map, Value, json};

pub use error::{Call, Error, Result, from_kube};
pub use label::valid_label_value;

/// Upper bound for a single API call (design §4: no restore may hang on the plugin).
pub const MAX_CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// Label Velero puts on PodVolumeBackups (and restored objects) with the backup name.
pub const BACKUP_NAME_LABEL: &str = "velero.io/backup-name";
/// Label key that marks a plugin-config ConfigMap (any value).
pub const PLUGIN_CONFIG_LABEL: &str = "velero.io/plugin-config";
/// Value of the plugin's own label on its plugin-config ConfigMap (`<plugin name>: <kind>`).
const PLUGIN_CONFIG_KIND: &str = "RestoreItemAction";
/// Items per LIST page.
const LIST_PAGE: u32 = 500;
/// Field manager recorded on the objects the plugin patches.
pub const FIELD_MANAGER: &str = "velero-fsb-guard";

/// Collection path of `resource` in `namespace`.
pub fn url_path(resource: Resource, namespace: &str) -> String {
    if resource.group.is_empty() {
        format!(
            "/api/{}/namespaces/{namespace}/{}",
            resource.version, resource.plural
        )
    } else {
        format!(
            "/apis/{}/{}/namespaces/{namespace}/{}",
            resource.group, resource.version, resource.plural
        )
    }
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

    fn call_on(verb: &'static str, object: ObjectRef<'_>) -> Call {
        Self::call(verb, object.resource, object.namespace, Some(object.name))
    }

    fn call(verb: &'static str, resource: Resource, namespace: &str, name: Option<&str>) -> Call {
        Call {
            verb,
            resource: resource.group_resource().to_owned(),
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
    pub async fn get(&self, object: ObjectRef<'_>) -> Result<Option<Value>> {
        let call = Self::call_on("get", object);
        let request = Request::new(url_path(object.resource, object.namespace))
            .get(object.name, &GetParams::default())
            .map_err(|e| Self::build_err(call.clone(), e))?;
        match self.send(call, request).await {
            Err(e) if e.is_not_found() => Ok(None),
            other => other.map(Some),
        }
    }

    /// LIST with a label selector; returns the items (all pages of them).
    pub async fn list(
        &self,
        resource: Resource,
        namespace: &str,
        label_selector: &str,
    ) -> Result<Vec<Value>> {
        self.list_read(resource, namespace, label_selector, |item| item)
            .await
    }

    /// [`Cluster::list`], keeping of each item what `read` makes of it, page by page.
    async fn list_read(
        &self,
        resource: Resource,
        namespace: &str,
        label_selector: &str,
        read: impl Fn(Value) -> Value,
    ) -> Result<Vec<Value>> {
        let call = Self::call("list", resource, namespace, None);
        let mut items = Vec::new();
        let mut token: Option<String> = None;
        // In pages: a restore's PodVolumeBackups can number thousands, and a whole list's parsed
        // response is held at once (5,000 PodVolumeBackups: ~80 MiB).
        loop {
            let mut params = ListParams::default()
                .labels(label_selector)
                .limit(LIST_PAGE);
            if let Some(token) = token.take() {
                params = params.continue_token(&token);
            }
            let request = Request::new(url_path(resource, namespace))
                .list(&params)
                .map_err(|e| Self::build_err(call.clone(), e))?;
            let mut page = self.send(call.clone(), request).await?;
            match page.get_mut("items").map(Value::take) {
                Some(Value::Array(more)) => items.extend(more.into_iter().map(&read)),
                Some(Value::Null) | None => {}
                Some(_) => {
                    return Err(Error::Response {
                        call: Box::new(call),
                        message: "list without an items array".into(),
                    });
                }
            }
            token = page
                .pointer("/metadata/continue")
                .and_then(Value::as_str)
                .filter(|t| !t.is_empty())
                .map(str::to_owned);
            if token.is_none() {
                return Ok(items);
            }
        }
    }

    /// POST a new object; returns it as the server stored it ([`Create::Store`]) or would store
    /// it ([`Create::DryRun`]).
    pub async fn create(
        &self,
        resource: Resource,
        namespace: &str,
        object: &Value,
        how: Create,
    ) -> Result<Value> {
        let dry_run = how == Create::DryRun;
        let name = object.pointer("/metadata/name").and_then(Value::as_str);
        let call = Self::call("create", resource, namespace, name);
        let body = serde_json::to_vec(object).map_err(|e| Self::build_err(call.clone(), e))?;
        self.post_raw(call, resource, namespace, body, dry_run)
            .await
    }

    /// POST a new object whose JSON body is exactly `body` (no re-encoding: the API server keeps a
    /// ControllerRevision's `data` bytes verbatim). Returns the object as stored.
    pub async fn create_raw(&self, object: ObjectRef<'_>, body: Vec<u8>) -> Result<Value> {
        let call = Self::call_on("create", object);
        self.post_raw(call, object.resource, object.namespace, body, false)
            .await
    }

    async fn post_raw(
        &self,
        call: Call,
        resource: Resource,
        namespace: &str,
        body: Vec<u8>,
        dry_run: bool,
    ) -> Result<Value> {
        let params = PostParams {
            dry_run,
            field_manager: Some(FIELD_MANAGER.to_owned()),
        };
        let request = Request::new(url_path(resource, namespace))
            .create(&params, body)
            .map_err(|e| Self::build_err(call.clone(), e))?;
        self.send(call, request).await
    }

    /// DELETE one object; a missing object is not an error.
    pub async fn delete(&self, object: ObjectRef<'_>) -> Result<()> {
        self.delete_if_unchanged(object, None, None).await
    }

    /// DELETE one object only if it is still the version read (`uid` and `resource_version`
    /// preconditions: a changed object answers 409 Conflict). A missing object is not an error.
    pub async fn delete_if_unchanged(
        &self,
        object: ObjectRef<'_>,
        uid: Option<&str>,
        resource_version: Option<&str>,
    ) -> Result<()> {
        let call = Self::call_on("delete", object);
        let preconditions = (uid.is_some() || resource_version.is_some()).then(|| Preconditions {
            uid: uid.map(str::to_owned),
            resource_version: resource_version.map(str::to_owned),
        });
        let params = DeleteParams {
            preconditions,
            ..DeleteParams::background()
        };
        let request = Request::new(url_path(object.resource, object.namespace))
            .delete(object.name, &params)
            .map_err(|e| Self::build_err(call.clone(), e))?;
        match self.send(call, request).await {
            Err(e) if e.is_not_found() => Ok(()),
            other => other.map(|_| ()),
        }
    }

    /// PATCH with an RFC 6902 JSON patch document (`application/json-patch+json`). A patch that
    /// no longer applies to the object as it is now (its `test` of the `resourceVersion` read
    /// failed) is [`Error::Conflict`].
    pub async fn json_patch(&self, object: ObjectRef<'_>, patch: &Value) -> Result<Value> {
        self.patch(object, patch, "application/json-patch+json")
            .await
            .map_err(Error::into_conflict_if_unapplicable)
    }

    /// PATCH with a JSON merge patch (`application/merge-patch+json`).
    pub async fn merge_patch(&self, object: ObjectRef<'_>, patch: &Value) -> Result<Value> {
        self.patch(object, patch, "application/merge-patch+json")
            .await
    }

    /// PATCH `patch` (serialised as given) with the patch type `content_type`.
    async fn patch(
        &self,
        object: ObjectRef<'_>,
        patch: &Value,
        content_type: &str,
    ) -> Result<Value> {
        let call = Self::call_on("patch", object);
        let body = serde_json::to_vec(patch).map_err(|e| Self::build_err(call.clone(), e))?;
        let uri = format!(
            "{}/{}?fieldManager={FIELD_MANAGER}",
            url_path(object.resource, object.namespace),
            object.name
        );
        let request = http::Request::patch(uri)
            .header(http::header::CONTENT_TYPE, content_type)
            .header(http::header::ACCEPT, "application/json")
            .body(body)
            .map_err(|e| Self::build_err(call.clone(), e))?;
        self.send(call, request).await
    }

    /// PodVolumeBackups of `backup_name` in the Velero namespace, selected as Velero selects them
    /// (`velero.io/backup-name=<valid label value>`); of each, only the fields the decisions read
    /// ([`read_of_pvb`]).
    pub async fn list_pod_volume_backups(&self, backup_name: &str) -> Result<Vec<Value>> {
        let selector = format!("{BACKUP_NAME_LABEL}={}", valid_label_value(backup_name));
        self.list_read(
            Resource::POD_VOLUME_BACKUPS,
            &self.velero_namespace,
            &selector,
            |pvb| read_of_pvb(&pvb),
        )
        .await
    }

    /// The optional config ConfigMap of the plugin registered as `plugin_name`, in the Velero
    /// namespace (Velero's plugin-config convention: label `velero.io/plugin-config` present,
    /// `<plugin_name>: RestoreItemAction`). None when absent; more than one is an error, as in
    /// Velero.
    pub async fn find_plugin_config(&self, plugin_name: &str) -> Result<Option<Value>> {
        let selector = format!("{PLUGIN_CONFIG_LABEL},{plugin_name}={PLUGIN_CONFIG_KIND}");
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

    /// A Backup in the Velero namespace.
    pub async fn get_backup(&self, name: &str) -> Result<Option<Value>> {
        self.get(Resource::BACKUPS.named(&self.velero_namespace, name))
            .await
    }

    /// A BackupStorageLocation in the Velero namespace.
    pub async fn get_backup_storage_location(&self, name: &str) -> Result<Option<Value>> {
        let location = Resource::BACKUP_STORAGE_LOCATIONS.named(&self.velero_namespace, name);
        self.get(location).await
    }

    /// `GET /version` (`major`, `minor`, `gitVersion`…) of the API server.
    pub async fn server_version(&self) -> Result<Value> {
        let call = Call {
            verb: "get",
            resource: "/version".to_owned(),
            namespace: String::new(),
            name: None,
        };
        let request = http::Request::get("/version")
            .header(http::header::ACCEPT, "application/json")
            .body(Vec::new())
            .map_err(|e| Self::build_err(call.clone(), e))?;
        self.send(call, request).await
    }
}

/// Whether a create stores the object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Create {
    Store,
    /// `dryRun=All`: validation, defaulting and admission (mutating webhooks included) run,
    /// nothing is stored.
    DryRun,
}

/// The JSON merge patch (RFC 7386) that applies `labels` to an object's `metadata.labels`. With
/// `expected_resource_version` it also carries `metadata.resourceVersion`, which the API server
/// treats as a precondition: a concurrent change answers 409 Conflict instead of being overwritten.
pub fn label_merge_patch(labels: &LabelChanges, expected_resource_version: Option<&str>) -> Value {
    let labels: Map<String, Value> = labels
        .iter()
        .map(|(k, v)| (k.clone(), v.as_ref().map_or(Value::Null, |v| json!(v))))
        .collect();
    let mut metadata = Map::new();
    metadata.insert("labels".to_owned(), Value::Object(labels));
    if let Some(version) = expected_resource_version {
        metadata.insert("resourceVersion".to_owned(), json!(version));
    }
    json!({ "metadata": metadata })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_patch_sets_removes_and_preconditions() {
        let mut labels = LabelChanges::new();
        labels.insert("pod-template-generation".into(), Some("3".into()));
        labels.insert("stale".into(), None);
        // RFC 7386: null removes a member; resourceVersion in a merge patch is a precondition.
        assert_eq!(
            label_merge_patch(&labels, Some("42")),
            json!({"metadata": {"labels": {"pod-template-generation": "3", "stale": null},
                "resourceVersion": "42"}})
        );
        assert_eq!(
            label_merge_patch(&labels, None),
            json!({"metadata": {"labels": {"pod-template-generation": "3", "stale": null}}})
        );
    }

    #[test]
    fn resources_are_named_as_rbac_names_them() {
        assert_eq!(
            url_path(Resource::PODS, "shop"),
            "/api/v1/namespaces/shop/pods"
        );
        assert_eq!(
            url_path(Resource::DAEMON_SETS, "shop"),
            "/apis/apps/v1/namespaces/shop/daemonsets"
        );
    }
}
