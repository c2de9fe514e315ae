//! The plugin shell: implements [`velero_plugin::RestoreItemAction`] for the guard.
//!
//! Per Execute it gathers inputs lazily and once per restore (a plugin process serves one restore;
//! the cache is keyed by the restore UID anyway): settings, rules, the FSB index (PodVolumeBackups)
//! and the backed-up workload objects (one download, only when the restore's rules can change a
//! `deployments.apps` template and FSB pods exist). Then it calls the pure step for the item and
//! maps errors at the edge: fail open (item unchanged + `warn` naming the workload and the cause)
//! unless `failurePolicy: closed`.
//!
//! # Minimum RBAC
//!
//! The plugin runs inside the Velero server pod with Velero's service account (bound to
//! `cluster-admin` by `velero install`). If you narrow it, the guard needs:
//!
//! | verb | resource | where | why |
//! |---|---|---|---|
//! | `list` | `configmaps` | Velero namespace | plugin-config ConfigMap (label selector) |
//! | `get` | `configmaps` | restore's namespace | the restore's resource-modifier ConfigMap |
//! | `list` | `podvolumebackups.velero.io` | Velero namespace | which pods hold FSB data |
//! | `create`, `get`, `delete` | `downloadrequests.velero.io` | Velero namespace | backup contents |
//! | `get` | `backups.velero.io`, `backupstoragelocations.velero.io` | Velero namespace | object-store TLS settings |
//! | `get`, `patch` | `replicasets.apps` | restore target namespaces | verify/align the live ReplicaSet |
//! | `get` | `daemonsets.apps` | restore target namespaces | a DaemonSet that already exists is left alone |
//! | `list`, `patch` | `pods` | restore target namespaces | relabel restored DaemonSet pods (`pod-template-generation`) |
//! | `create` (dry run) | `daemonsets.apps` | restore target namespaces | the final DaemonSet template as the API server defaults it |
//! | `create` (dry run) | `statefulsets.apps` | restore target namespaces | the final StatefulSet template as the API server defaults it |
//! | `get`, `create`, `delete` | `controllerrevisions.apps` | restore target namespaces | verify the restored StatefulSet revision, re-create it with the final template |
//! | `patch` | `pods` | restore target namespaces | relabel restored StatefulSet pods (`controller-revision-hash`) when revisions were not restored |
//! | `get` | non-resource URL `/version` | cluster | revision form by Kubernetes version (granted to every authenticated user by default) |
//!
//! A denied call fails open like any other API error; the `warn` line names the verb and resource.
//! A restore without `spec.resourceModifier` makes no API call at all.

use std::collections::BTreeSet;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::{Mutex, OnceCell};

use super::decide::{
    CONTROLLERREVISIONS, DAEMONSETS, DEPLOYMENTS, DeploymentDecision, PODS, REPLICASETS,
    STATEFULSETS,
};
use super::engine_impl::VeleroEngine;
use super::error::{Error, Result};
use super::settings::{FailurePolicy, Mode, Scope, Settings};
use super::steps::{
    BackupObjects, ChangeCache, Level, Note, RestoreInputs, StepOutcome, deployment_step,
    deployment_target, fsb_workloads, pod_step, replicaset_step,
};
use super::workload::{FsbIndex, has_legacy_snapshot_annotations, name_of, namespace_of};
use velero_plugin::{
    ActionError, ExecuteInput, ExecuteOutput, ResourceSelector, RestoreItemAction,
};

mod daemonset;
mod statefulset;

/// The Kubernetes reads and writes the guard needs. Each call is bounded by the implementation
/// (≤ 10 s per API call); errors name the verb and resource.
pub trait GuardCluster: Send + Sync + 'static {
    /// `data` of the plugin-config ConfigMap in `velero_namespace` (labels
    /// `velero.io/plugin-config` and `fsb-guard.io/template-guard=RestoreItemAction`); `None` if
    /// there is none; an error if more than one matches.
    fn plugin_settings(
        &self,
        velero_namespace: &str,
    ) -> impl Future<Output = Result<Option<Value>>> + Send;
    /// A ConfigMap object (the restore's resource modifiers).
    fn configmap(&self, namespace: &str, name: &str) -> impl Future<Output = Result<Value>> + Send;
    /// PodVolumeBackups labelled `velero.io/backup-name=<valid label value of backup_name>`.
    fn pod_volume_backups(
        &self,
        velero_namespace: &str,
        backup_name: &str,
    ) -> impl Future<Output = Result<Vec<Value>>> + Send;
    /// Backed-up Deployments, ReplicaSets and pods (DownloadRequest `BackupContents`).
    fn backup_objects(
        &self,
        velero_namespace: &str,
        backup_name: &str,
        timeout: Duration,
    ) -> impl Future<Output = Result<BackupObjects>> + Send;
    /// A live ReplicaSet, `None` if not found.
    fn get_replicaset(
        &self,
        namespace: &str,
        name: &str,
    ) -> impl Future<Output = Result<Option<Value>>> + Send;
    /// Applies an RFC 6902 JSON patch to a live ReplicaSet.
    fn patch_replicaset(
        &self,
        namespace: &str,
        name: &str,
        patch: &Value,
    ) -> impl Future<Output = Result<()>> + Send;
    /// A live DaemonSet, `None` if not found.
    fn get_daemonset(
        &self,
        namespace: &str,
        name: &str,
    ) -> impl Future<Output = Result<Option<Value>>> + Send {
        let call = format!("get daemonsets.apps {namespace}/{name}");
        async move { Err(Error::Cluster(format!("{call}: not supported"))) }
    }
    /// Live pods in `namespace` matching `label_selector` (`""` = all).
    fn list_pods(
        &self,
        namespace: &str,
        label_selector: &str,
    ) -> impl Future<Output = Result<Vec<Value>>> + Send {
        let call = format!("list pods {namespace} {label_selector}");
        async move { Err(Error::Cluster(format!("{call}: not supported"))) }
    }
    /// Sets (`Some`) or removes (`None`) labels on a live pod with one JSON merge patch; with
    /// `expected_resource_version` a concurrent change fails with [`Error::Conflict`]. Labels are
    /// mutable on a running pod: the patch never restarts it.
    fn patch_pod_labels(
        &self,
        namespace: &str,
        name: &str,
        labels: &crate::cluster::pods::LabelChanges,
        expected_resource_version: Option<&str>,
    ) -> impl Future<Output = Result<()>> + Send {
        let _ = (labels, expected_resource_version);
        let call = format!("patch pods {namespace}/{name}");
        async move { Err(Error::Cluster(format!("{call}: not supported"))) }
    }
    /// `POST daemonsets?dryRun=All` of `body` in `namespace`: the DaemonSet as the API server
    /// would store it (defaulted, admitted), nothing stored.
    fn dry_run_create_daemonset(
        &self,
        namespace: &str,
        body: &Value,
    ) -> impl Future<Output = Result<Value>> + Send {
        let _ = body;
        let call = format!("create daemonsets.apps {namespace} (dry run)");
        async move { Err(Error::Cluster(format!("{call}: not supported"))) }
    }
    /// `POST statefulsets?dryRun=All` of `body` in `namespace`: the StatefulSet as the API server
    /// would create it (defaulted, admitted), or why not.
    fn dry_run_create_statefulset(
        &self,
        namespace: &str,
        body: &Value,
    ) -> impl Future<Output = Result<super::statefulset::StatefulSetDryRun>> + Send {
        let _ = body;
        let call = format!("create statefulsets.apps {namespace} (dry run)");
        async move { Err(Error::Cluster(format!("{call}: not supported"))) }
    }
    /// `GET /version`: the API server's `(major, minor)`.
    fn server_version(&self) -> impl Future<Output = Result<(String, String)>> + Send {
        async move { Err(Error::Cluster("get /version: not supported".to_owned())) }
    }
    /// A live ControllerRevision, `None` if not found.
    fn get_controllerrevision(
        &self,
        namespace: &str,
        name: &str,
    ) -> impl Future<Output = Result<Option<Value>>> + Send {
        let call = format!("get controllerrevisions.apps {namespace}/{name}");
        async move { Err(Error::Cluster(format!("{call}: not supported"))) }
    }
    /// Deletes a live ControllerRevision if its `uid`/`resourceVersion` are still those read
    /// ([`Error::Conflict`] otherwise); a missing one is not an error.
    fn delete_controllerrevision(
        &self,
        namespace: &str,
        name: &str,
        uid: Option<&str>,
        resource_version: Option<&str>,
    ) -> impl Future<Output = Result<()>> + Send {
        let _ = (uid, resource_version);
        let call = format!("delete controllerrevisions.apps {namespace}/{name}");
        async move { Err(Error::Cluster(format!("{call}: not supported"))) }
    }
    /// Creates a ControllerRevision from `body`, sent byte for byte (the API server keeps `data`
    /// bytes verbatim). AlreadyExists is [`Error::Conflict`].
    fn create_controllerrevision(
        &self,
        namespace: &str,
        name: &str,
        body: Vec<u8>,
    ) -> impl Future<Output = Result<()>> + Send {
        let _ = body;
        let call = format!("create controllerrevisions.apps {namespace}/{name}");
        async move { Err(Error::Cluster(format!("{call}: not supported"))) }
    }
}

/// The workload fields whose change by a rule puts restored FSB pods at risk: `(group resource,
/// JSON pointer)`. A restore whose rules touch none of them needs no API call at all.
pub const GUARDED_FIELDS: [(&str, &str); 6] = [
    (DEPLOYMENTS, "/spec/template"),
    (DEPLOYMENTS, "/spec/replicas"),
    (STATEFULSETS, "/spec/template"),
    (STATEFULSETS, "/spec/replicas"),
    (DAEMONSETS, "/spec/template"),
    // Restored pods count as current by this generation; a rule that changes or removes it alone
    // makes them outdated.
    (
        DAEMONSETS,
        "/metadata/annotations/deprecated.daemonset.template.generation",
    ),
];

/// What the guard answers for one item.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Answer {
    /// `Some` when the item changes; `None` restores it as received.
    pub item: Option<Value>,
    /// Ask Velero not to create the item.
    pub skip_restore: bool,
}

impl Answer {
    /// Restore the item as received.
    pub fn as_received() -> Self {
        Self::default()
    }

    /// Logs a step outcome's notes; what enforce mode answers for it (dry-run only logs).
    fn from_outcome(outcome: StepOutcome, dry_run: bool) -> Self {
        log_notes(&outcome.notes, dry_run);
        if dry_run {
            return Self::default();
        }
        Self {
            item: outcome.item,
            skip_restore: outcome.skip_restore,
        }
    }
}

/// Per-restore inputs, read once.
struct RestoreState {
    uid: String,
    settings: Settings,
    /// `None`: the restore has no rules that can change a Deployment template.
    rules: Option<Arc<fsb_modifiers::ResourceModifiers>>,
    /// Set when reading settings or rules failed (every item reports it).
    failure: Option<String>,
    fsb: OnceCell<Result<Arc<FsbIndex>, String>>,
    backup: OnceCell<Result<Arc<BackupObjects>, String>>,
    /// Deployments with FSB pods, computed once from `fsb` and `backup`.
    fsb_workloads: OnceCell<Arc<BTreeSet<(String, String)>>>,
    /// Template changes per Deployment, computed once.
    changes: ChangeCache,
    /// DaemonSet changes, computed once per DaemonSet.
    daemonsets: super::daemonset::DaemonSetCache,
    /// StatefulSet changes, computed once per StatefulSet.
    statefulsets: super::statefulset::StatefulSetChanges,
    /// A restored pod carried legacy `snapshot.velero.io/<volume>` annotations: FSB data exists
    /// even though the cluster holds no PodVolumeBackup for the backup.
    legacy_fsb_seen: AtomicBool,
}

impl RestoreState {
    fn new(uid: String, settings: Settings) -> Self {
        Self {
            uid,
            settings,
            rules: None,
            failure: None,
            fsb: OnceCell::new(),
            backup: OnceCell::new(),
            fsb_workloads: OnceCell::new(),
            changes: ChangeCache::default(),
            daemonsets: Default::default(),
            statefulsets: Default::default(),
            legacy_fsb_seen: AtomicBool::new(false),
        }
    }
}

/// The guard as a Velero RestoreItemAction.
pub struct TemplateGuard<C> {
    cluster: C,
    velero_namespace: Option<String>,
    state: Mutex<Option<Arc<RestoreState>>>,
}

impl<C: GuardCluster> TemplateGuard<C> {
    /// A guard over `cluster`. The Velero namespace is `$VELERO_NAMESPACE` when given, else the
    /// restore's namespace.
    pub fn new(cluster: C, velero_namespace: Option<String>) -> Self {
        Self {
            cluster,
            velero_namespace,
            state: Mutex::new(None),
        }
    }

    fn velero_namespace<'a>(&'a self, restore: &'a Value) -> &'a str {
        self.velero_namespace
            .as_deref()
            .unwrap_or_else(|| namespace_of(restore))
    }

    async fn restore_state(&self, restore: &Value) -> Arc<RestoreState> {
        let uid = restore
            .pointer("/metadata/uid")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let mut guard = self.state.lock().await;
        if let Some(state) = guard.as_ref().filter(|s| s.uid == uid) {
            return state.clone();
        }
        let state = Arc::new(self.read_restore_state(uid, restore).await);
        *guard = Some(state.clone());
        state
    }

    async fn read_restore_state(&self, uid: String, restore: &Value) -> RestoreState {
        if modifier_configmap(restore).is_none() {
            // No resource modifiers: no template can change, so no API call at all.
            return RestoreState::new(uid, Settings::default());
        }
        let mut failure = None;
        let data = match self
            .cluster
            .plugin_settings(self.velero_namespace(restore))
            .await
        {
            Ok(data) => data,
            Err(e) => {
                // Unknown settings (unreadable, or several ConfigMaps match): the user may have
                // switched the guard off, so doing nothing is the only safe reading.
                failure = Some(format!("plugin-config ConfigMap: {e}"));
                None
            }
        };
        let (settings, warnings) = Settings::from_config_data(data.as_ref());
        for w in warnings {
            tracing::warn!("{w}");
        }
        let (settings, warning) = settings.with_restore_override(restore);
        if let Some(w) = warning {
            tracing::warn!("{w}");
        }
        let mut rules = None;
        if settings.mode != Mode::Off && failure.is_none() {
            match self.read_rules(restore).await {
                Ok(r) => rules = r.map(Arc::new),
                Err(e) => failure = Some(e.to_string()),
            }
        }
        RestoreState {
            rules,
            failure,
            ..RestoreState::new(uid, settings)
        }
    }

    /// The restore's rules, `None` when none can change a field in [`GUARDED_FIELDS`].
    async fn read_rules(
        &self,
        restore: &Value,
    ) -> Result<Option<fsb_modifiers::ResourceModifiers>> {
        let Some(name) = modifier_configmap(restore) else {
            return Ok(None);
        };
        let configmap = self.cluster.configmap(namespace_of(restore), name).await?;
        let rules = VeleroEngine::rules_from_configmap(&configmap)?;
        let guarded = GUARDED_FIELDS
            .iter()
            .any(|(resource, path)| !rules.rules_touching(resource, path).is_empty());
        Ok(guarded.then_some(rules))
    }

    async fn fsb_index(&self, state: &RestoreState, restore: &Value) -> Result<Arc<FsbIndex>> {
        let backup_name = restore
            .pointer("/spec/backupName")
            .and_then(Value::as_str)
            .unwrap_or_default();
        state
            .fsb
            .get_or_init(|| async {
                self.cluster
                    .pod_volume_backups(self.velero_namespace(restore), backup_name)
                    .await
                    .map(|pvbs| Arc::new(FsbIndex::from_pod_volume_backups(&pvbs)))
                    .map_err(|e| e.to_string())
            })
            .await
            .clone()
            .map_err(Error::Cluster)
    }

    async fn backup_objects(
        &self,
        state: &RestoreState,
        restore: &Value,
    ) -> Result<Arc<BackupObjects>> {
        let backup_name = restore
            .pointer("/spec/backupName")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let timeout = state.settings.download_timeout;
        state
            .backup
            .get_or_init(|| async {
                let download = self.cluster.backup_objects(
                    self.velero_namespace(restore),
                    backup_name,
                    timeout,
                );
                match tokio::time::timeout(timeout, download).await {
                    Ok(Ok(objects)) => Ok(Arc::new(objects)),
                    Ok(Err(e)) => Err(e.to_string()),
                    Err(_) => Err(format!(
                        "download of backup {backup_name} timed out after {timeout:?}"
                    )),
                }
            })
            .await
            .clone()
            .map_err(Error::Backup)
    }

    /// Whether FSB data can exist for this item when the cluster holds no PodVolumeBackup: only
    /// legacy pod annotations can name FSB volumes then. Pods come first in a restore, so a pod
    /// item decides from its own backed-up annotations (and records what it saw); ReplicaSets and
    /// Deployments follow the pods. Keeps restores without any FSB data free of downloads.
    fn legacy_fsb_possible(state: &RestoreState, input: &ExecuteInput) -> bool {
        if input.item.get("kind").and_then(Value::as_str) == Some("Pod")
            && has_legacy_snapshot_annotations(&input.item_from_backup)
        {
            state.legacy_fsb_seen.store(true, Ordering::Relaxed);
        }
        state.legacy_fsb_seen.load(Ordering::Relaxed)
    }

    /// Decides for one item.
    async fn decide(&self, input: &ExecuteInput, state: &RestoreState) -> Result<Answer> {
        if state.settings.mode == Mode::Off {
            return Ok(Answer::as_received());
        }
        if let Some(failure) = &state.failure {
            return Err(Error::Rules(failure.clone()));
        }
        let Some(rules) = state.rules.as_deref() else {
            return Ok(Answer::as_received());
        };
        let fsb = self.fsb_index(state, &input.restore).await?;
        if fsb.is_empty()
            && state.settings.scope == Scope::FsbOnly
            && !Self::legacy_fsb_possible(state, input)
        {
            return Ok(Answer::as_received());
        }
        let backup = self.backup_objects(state, &input.restore).await?;
        let engine = VeleroEngine;
        let workloads = state
            .fsb_workloads
            .get_or_init(|| async { Arc::new(fsb_workloads(&backup, &fsb)) })
            .await
            .clone();
        let inputs = RestoreInputs {
            engine: &engine,
            rules,
            settings: &state.settings,
            backup: &backup,
            fsb: &fsb,
            fsb_workloads: Some(&workloads),
            changes: Some(&state.changes),
        };
        let dry_run = state.settings.mode == Mode::DryRun;
        let kind = input
            .item
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let from_backup = &input.item_from_backup;
        match kind {
            "Pod" if super::workload::daemonset_owner(from_backup).is_some() => {
                self.decide_daemonset_pod(&inputs, &state.daemonsets, input, dry_run)
            }
            "DaemonSet" => {
                self.decide_daemonset(&inputs, &state.daemonsets, input, dry_run)
                    .await
            }
            "ControllerRevision" if super::workload::daemonset_owner(from_backup).is_some() => {
                self.decide_daemonset_revision(&inputs, &state.daemonsets, input, dry_run)
                    .await
            }
            "Pod" if super::workload::statefulset_owner(from_backup).is_some() => {
                self.decide_statefulset_pod(&inputs, &state.statefulsets, input, dry_run)
            }
            "ControllerRevision" if super::workload::statefulset_owner(from_backup).is_some() => {
                self.decide_statefulset_revision(&inputs, &state.statefulsets, input, dry_run)
                    .await
            }
            "StatefulSet" => self.decide_statefulset(&inputs, input, dry_run).await,
            "Pod" | "ReplicaSet" => {
                let outcome = if kind == "Pod" {
                    pod_step(&inputs, &input.item, from_backup)?
                } else {
                    replicaset_step(&inputs, &input.item, from_backup)?
                };
                Ok(Answer::from_outcome(outcome, dry_run))
            }
            "Deployment" => {
                let Some((namespace, name)) =
                    deployment_target(&inputs, from_backup, &input.restore)
                else {
                    tracing::debug!(
                        workload = %format!("Deployment {}/{}", namespace_of(from_backup), name_of(from_backup)),
                        "not guarded"
                    );
                    return Ok(Answer::as_received());
                };
                // One re-read and a second decision when the ReplicaSet changed between our read
                // and our patch (the patch carries a resourceVersion precondition).
                for attempt in 0..2 {
                    let live = self
                        .live_replicaset(&inputs, &backup, from_backup, &namespace, &name)
                        .await?;
                    let outcome =
                        deployment_step(&inputs, &input.item, from_backup, live.as_ref())?;
                    let DeploymentDecision::Align { patch, .. } = &outcome.decision else {
                        log_notes(&outcome.notes, dry_run);
                        break;
                    };
                    if dry_run {
                        log_notes(&outcome.notes, dry_run);
                        break;
                    }
                    match self
                        .cluster
                        .patch_replicaset(&namespace, &name, patch)
                        .await
                    {
                        Ok(()) => {
                            log_notes(&outcome.notes, dry_run);
                            break;
                        }
                        Err(Error::Conflict(why)) if attempt == 0 => {
                            tracing::debug!(
                                workload = %format!("Deployment {}/{}", namespace_of(from_backup), name_of(from_backup)),
                                "ReplicaSet {namespace}/{name} changed while aligning it; reading it again: {why}"
                            );
                        }
                        Err(e) => return Err(e),
                    }
                }
                Ok(Answer::as_received())
            }
            _ => Ok(Answer::as_received()),
        }
    }

    /// The live current ReplicaSet; in dry-run judged as enforce would have restored it.
    async fn live_replicaset(
        &self,
        inputs: &RestoreInputs<'_, VeleroEngine>,
        backup: &BackupObjects,
        from_backup: &Value,
        namespace: &str,
        name: &str,
    ) -> Result<Option<Value>> {
        let live = self.cluster.get_replicaset(namespace, name).await?;
        if inputs.settings.mode != Mode::DryRun {
            return Ok(live);
        }
        let Some(current) = live else {
            return Ok(None);
        };
        // Dry-run left the ReplicaSet as backed up; judge it as enforce would have restored it,
        // so the summary says exactly what enforce would do.
        let backed_up = backup
            .replicasets
            .iter()
            .find(|rs| namespace_of(rs) == namespace_of(from_backup) && name_of(rs) == name);
        Ok(Some(match backed_up {
            Some(rs) => replicaset_step(inputs, &current, rs)?
                .item
                .unwrap_or(current),
            None => current,
        }))
    }
}

/// The restore's resource-modifier ConfigMap name (`spec.resourceModifier`, kind ConfigMap
/// case-insensitively, as Velero reads it).
fn modifier_configmap(restore: &Value) -> Option<&str> {
    let reference = restore.pointer("/spec/resourceModifier")?;
    let kind = reference.get("kind").and_then(Value::as_str)?;
    let name = reference.get("name").and_then(Value::as_str)?;
    (kind.eq_ignore_ascii_case("configmap") && !name.is_empty()).then_some(name)
}

fn log_notes(notes: &[Note], dry_run: bool) {
    let prefix = if dry_run {
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

/// The workload an item belongs to, for error lines.
fn workload_of(input: &ExecuteInput) -> String {
    let from = &input.item_from_backup;
    let kind = input
        .item
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or("item");
    match kind {
        "Pod" | "ControllerRevision" if super::workload::daemonset_owner(from).is_some() => {
            format!(
                "DaemonSet {}/{}",
                namespace_of(from),
                super::workload::daemonset_owner(from).unwrap_or_default()
            )
        }
        "Pod" | "ControllerRevision" if super::workload::statefulset_owner(from).is_some() => {
            format!(
                "StatefulSet {}/{}",
                namespace_of(from),
                super::workload::statefulset_owner(from).unwrap_or_default()
            )
        }
        "Pod" => super::workload::pod_lineage(from).map_or_else(
            || format!("pod {}/{}", namespace_of(from), name_of(from)),
            |l| format!("Deployment {}/{}", l.namespace, l.deployment),
        ),
        "ReplicaSet" => super::workload::replicaset_owner(from).map_or_else(
            || format!("ReplicaSet {}/{}", namespace_of(from), name_of(from)),
            |d| format!("Deployment {}/{d}", namespace_of(from)),
        ),
        _ => format!("{kind} {}/{}", namespace_of(from), name_of(from)),
    }
}

impl<C: GuardCluster> RestoreItemAction for TemplateGuard<C> {
    fn applies_to(&self) -> ResourceSelector {
        applies_to()
    }

    async fn execute(&self, input: ExecuteInput) -> Result<ExecuteOutput, ActionError> {
        let state = self.restore_state(&input.restore).await;
        match self.decide(&input, &state).await {
            Ok(answer) => Ok(ExecuteOutput {
                skip_restore: answer.skip_restore,
                ..ExecuteOutput::unchanged(answer.item.unwrap_or(input.item))
            }),
            Err(error) => {
                let workload = workload_of(&input);
                match state.settings.failure_policy {
                    FailurePolicy::Open => {
                        tracing::warn!(
                            workload = %workload,
                            "guard could not decide, item restored unchanged: {error}"
                        );
                        Ok(ExecuteOutput::unchanged(input.item))
                    }
                    FailurePolicy::Closed => Err(ActionError::Failed(format!(
                        "fsb-guard ({workload}): {error}"
                    ))),
                }
            }
        }
    }
}

/// The name Velero lists the guard under (`<DNS-1123 subdomain>/<name>`); also the label key of
/// its plugin-config ConfigMap.
pub const NAME: &str = "fsb-guard.io/template-guard";

/// What the guard asks Velero for: the workloads it protects and the objects they own.
pub fn applies_to() -> ResourceSelector {
    ResourceSelector::resources(APPLIES_TO)
}

/// The group resources the guard acts on (what the plugin registers in `AppliesTo`).
const APPLIES_TO: [&str; 6] = [
    PODS,
    REPLICASETS,
    DEPLOYMENTS,
    CONTROLLERREVISIONS,
    DAEMONSETS,
    STATEFULSETS,
];

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::Mutex as StdMutex;

    use serde_json::json;

    use super::*;
    use crate::guard::testkit::{
        App, a_deployment, a_restore, execute_input, try_apply_json_patch, velero_prepares_pod,
    };
    use crate::guard::workload::as_velero_hands_it;

    const RULES: &str = r#"
version: v1
resourceModifierRules:
- conditions: {groupResource: deployments.apps, resourceNameRegex: "^web$"}
  patches:
  - {operation: add, path: /spec/template/spec/hostname, value: restored}
"#;

    /// An in-memory cluster: records every call; `unreachable` makes every call fail like a
    /// connection refused.
    struct FakeCluster {
        unreachable: bool,
        settings_error: bool,
        plugin_config: Option<Value>,
        rules: &'static str,
        app: App,
        live: StdMutex<HashMap<(String, String), Value>>,
        calls: StdMutex<Vec<String>>,
        /// How many of the next PATCHes another writer beats: it changes the ReplicaSet (new
        /// resourceVersion, one more template label) right before the guard's PATCH arrives.
        concurrent_writes: StdMutex<usize>,
    }

    impl FakeCluster {
        fn new(app: App) -> Self {
            Self {
                unreachable: false,
                settings_error: false,
                plugin_config: None,
                rules: RULES,
                app,
                live: StdMutex::new(HashMap::new()),
                calls: StdMutex::new(Vec::new()),
                concurrent_writes: StdMutex::new(0),
            }
        }

        fn record(&self, call: String) -> Result<()> {
            self.calls.lock().unwrap().push(call.clone());
            if self.unreachable {
                return Err(Error::Cluster(format!("{call}: connection refused")));
            }
            Ok(())
        }

        fn calls(&self) -> Vec<String> {
            self.calls.lock().unwrap().clone()
        }
    }

    impl GuardCluster for FakeCluster {
        async fn plugin_settings(&self, ns: &str) -> Result<Option<Value>> {
            self.record(format!("list configmaps {ns}"))?;
            if self.settings_error {
                return Err(Error::Cluster(
                    "found more than one ConfigMap matching label selector".to_owned(),
                ));
            }
            Ok(self.plugin_config.clone())
        }
        async fn configmap(&self, ns: &str, name: &str) -> Result<Value> {
            self.record(format!("get configmap {ns}/{name}"))?;
            Ok(json!({"data": {"rules.yaml": self.rules}}))
        }
        async fn pod_volume_backups(&self, ns: &str, backup: &str) -> Result<Vec<Value>> {
            self.record(format!("list podvolumebackups {ns} {backup}"))?;
            Ok(self.app.pod_volume_backups())
        }
        async fn backup_objects(
            &self,
            _: &str,
            backup: &str,
            _: Duration,
        ) -> Result<BackupObjects> {
            self.record(format!("download {backup}"))?;
            Ok(self.app.backup())
        }
        async fn get_replicaset(&self, ns: &str, name: &str) -> Result<Option<Value>> {
            self.record(format!("get replicaset {ns}/{name}"))?;
            Ok(self
                .live
                .lock()
                .unwrap()
                .get(&(ns.to_owned(), name.to_owned()))
                .cloned())
        }
        async fn patch_replicaset(&self, ns: &str, name: &str, patch: &Value) -> Result<()> {
            self.record(format!("patch replicaset {ns}/{name}"))?;
            let mut live = self.live.lock().unwrap();
            let Some(object) = live.get_mut(&(ns.to_owned(), name.to_owned())) else {
                return Err(Error::Cluster("patch replicaset: HTTP 404".to_owned()));
            };
            let mut writes = self.concurrent_writes.lock().unwrap();
            if *writes > 0 {
                *writes -= 1;
                let version: u64 = object["metadata"]["resourceVersion"]
                    .as_str()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                object["metadata"]["resourceVersion"] = json!((version + 1).to_string());
                object["spec"]["template"]["metadata"]["labels"]["touched"] = json!("yes");
            }
            // As the API server: the patch applies atomically or not at all (422 on a failed test).
            match try_apply_json_patch(object, patch) {
                Ok(patched) => {
                    *object = patched;
                    Ok(())
                }
                Err(e) => Err(Error::Conflict(format!("patch replicaset: HTTP 422: {e}"))),
            }
        }
    }

    fn web() -> App {
        a_deployment("shop", "web").with_fsb_volume("data")
    }

    /// Runs pods → ReplicaSets → Deployment through the shell; returns the outputs in order.
    async fn run_restore(
        guard: &TemplateGuard<FakeCluster>,
        restore: &Value,
    ) -> Vec<Result<ExecuteOutput, ActionError>> {
        let app = guard.cluster.app.clone();
        let fsb = app.fsb_index();
        let mut outputs = Vec::new();
        for pod in app.pods() {
            let item = velero_prepares_pod(&pod, &fsb.volumes_of(&pod));
            outputs.push(guard.execute(execute_input(item, &pod, restore)).await);
        }
        for rs in app.replicasets() {
            let out = guard
                .execute(execute_input(as_velero_hands_it(&rs), &rs, restore))
                .await;
            if let Ok(o) = &out {
                // What Velero creates becomes the live object (in the mapped namespace).
                let mut created = o.item.clone();
                created["metadata"]["resourceVersion"] = json!("500");
                guard.cluster.live.lock().unwrap().insert(
                    ("shop-dr".to_owned(), crate::guard::name_of(&rs).to_owned()),
                    created,
                );
            }
            outputs.push(out);
        }
        let d = app.deployment();
        outputs.push(
            guard
                .execute(execute_input(as_velero_hands_it(&d), &d, restore))
                .await,
        );
        outputs
    }

    #[tokio::test]
    async fn enforce_corrects_pod_and_replicaset_and_leaves_the_deployment_item_alone() {
        let guard = TemplateGuard::new(FakeCluster::new(web()), None);
        let restore = a_restore(json!({}));
        let outputs = run_restore(&guard, &restore).await;
        let pod = outputs[0].as_ref().unwrap();
        assert_eq!(pod.item["spec"]["hostname"], "restored");
        let rs = outputs[1].as_ref().unwrap();
        assert_eq!(rs.item["spec"]["template"]["spec"]["hostname"], "restored");
        let deployment = outputs[2].as_ref().unwrap();
        assert_eq!(deployment.item, as_velero_hands_it(&web().deployment()));
        // Inputs were read once per restore; the live ReplicaSet was read in the mapped namespace
        // and, carrying the template already, not patched.
        assert_eq!(
            guard.cluster.calls(),
            [
                "list configmaps velero",
                "get configmap velero/mods",
                "list podvolumebackups velero nightly",
                "download nightly",
                "get replicaset shop-dr/web-5d894cc6b7",
            ]
        );
    }

    #[tokio::test]
    async fn enforce_aligns_a_live_replicaset_that_missed_the_correction() {
        let guard = TemplateGuard::new(FakeCluster::new(web()), None);
        let restore = a_restore(json!({}));
        let rs = web().replicasets()[0].clone();
        guard.cluster.live.lock().unwrap().insert(
            ("shop-dr".to_owned(), "web-5d894cc6b7".to_owned()),
            as_velero_hands_it(&rs),
        );
        let d = web().deployment();
        let out = guard
            .execute(execute_input(as_velero_hands_it(&d), &d, &restore))
            .await
            .unwrap();
        assert_eq!(out.item, as_velero_hands_it(&d));
        assert!(
            guard
                .cluster
                .calls()
                .contains(&"patch replicaset shop-dr/web-5d894cc6b7".to_owned())
        );
    }

    #[tokio::test]
    async fn dry_run_changes_nothing_and_patches_nothing() {
        let guard = TemplateGuard::new(FakeCluster::new(web()), None);
        let restore = a_restore(json!({"fsb-guard.io/mode": "dry-run"}));
        let app = web();
        // Live ReplicaSet without the correction: enforce would patch it.
        guard.cluster.live.lock().unwrap().insert(
            ("shop-dr".to_owned(), "web-5d894cc6b7".to_owned()),
            as_velero_hands_it(&app.replicasets()[0]),
        );
        let fsb = app.fsb_index();
        let pod = &app.pods()[0];
        let item = velero_prepares_pod(pod, &fsb.volumes_of(pod));
        let out = guard
            .execute(execute_input(item.clone(), pod, &restore))
            .await
            .unwrap();
        assert_eq!(out.item, item);
        let rs = &app.replicasets()[0];
        let out = guard
            .execute(execute_input(as_velero_hands_it(rs), rs, &restore))
            .await
            .unwrap();
        assert_eq!(out.item, as_velero_hands_it(rs));
        let d = app.deployment();
        guard
            .execute(execute_input(as_velero_hands_it(&d), &d, &restore))
            .await
            .unwrap();
        assert!(!guard.cluster.calls().iter().any(|c| c.starts_with("patch")));
    }

    #[tokio::test]
    async fn off_mode_makes_no_api_call_beyond_settings() {
        let guard = TemplateGuard::new(FakeCluster::new(web()), None);
        let restore = a_restore(json!({"fsb-guard.io/mode": "off"}));
        for out in run_restore(&guard, &restore).await {
            out.unwrap();
        }
        assert_eq!(guard.cluster.calls(), ["list configmaps velero"]);
    }

    #[tokio::test]
    async fn ambiguous_settings_leave_items_unchanged() {
        let mut cluster = FakeCluster::new(web());
        cluster.settings_error = true;
        let guard = TemplateGuard::new(cluster, None);
        let app = web();
        let pod = &app.pods()[0];
        let item = velero_prepares_pod(pod, &app.fsb_index().volumes_of(pod));
        let out = guard
            .execute(execute_input(item.clone(), pod, &a_restore(json!({}))))
            .await
            .unwrap();
        assert_eq!(out.item, item);
        assert_eq!(guard.cluster.calls(), ["list configmaps velero"]);
    }

    #[tokio::test]
    async fn a_restore_without_resource_modifiers_makes_no_api_call() {
        let guard = TemplateGuard::new(FakeCluster::new(web()), None);
        let mut restore = a_restore(json!({}));
        restore["spec"]
            .as_object_mut()
            .unwrap()
            .remove("resourceModifier");
        for out in run_restore(&guard, &restore).await {
            out.unwrap();
        }
        assert!(guard.cluster.calls().is_empty());
    }

    #[tokio::test]
    async fn rules_that_touch_no_guarded_field_cost_no_download() {
        let mut cluster = FakeCluster::new(web());
        cluster.rules = "version: v1\nresourceModifierRules:\n- conditions: {groupResource: deployments.apps}\n  patches:\n  - {operation: replace, path: /spec/revisionHistoryLimit, value: \"2\"}\n";
        let guard = TemplateGuard::new(cluster, None);
        for out in run_restore(&guard, &a_restore(json!({}))).await {
            out.unwrap();
        }
        assert_eq!(
            guard.cluster.calls(),
            ["list configmaps velero", "get configmap velero/mods"]
        );
    }

    #[tokio::test]
    async fn fail_open_with_the_api_unreachable_restores_items_unchanged() {
        let mut cluster = FakeCluster::new(web());
        cluster.unreachable = true;
        let guard = TemplateGuard::new(cluster, None);
        let app = web();
        let restore = a_restore(json!({}));
        let pod = &app.pods()[0];
        let item = velero_prepares_pod(pod, &app.fsb_index().volumes_of(pod));
        let out = guard
            .execute(execute_input(item.clone(), pod, &restore))
            .await
            .unwrap();
        assert_eq!(out.item, item);
        assert!(!out.skip_restore);
    }

    #[tokio::test]
    async fn fail_closed_fails_the_item_and_names_the_workload() {
        let mut cluster = FakeCluster::new(web());
        cluster.plugin_config = Some(json!({"failurePolicy": "closed"}));
        cluster.rules = "not: [valid";
        let guard = TemplateGuard::new(cluster, None);
        let app = web();
        let pod = &app.pods()[0];
        let err = guard
            .execute(execute_input(
                as_velero_hands_it(pod),
                pod,
                &a_restore(json!({})),
            ))
            .await
            .unwrap_err();
        let ActionError::Failed(message) = err else {
            panic!("expected an item failure")
        };
        assert!(message.contains("Deployment shop/web"), "{message}");
    }

    /// A ReplicaSet as the API server holds it after Velero created it from `rs` (the backup copy)
    /// without the guard's correction.
    fn created_without_correction(rs: &Value) -> Value {
        let mut live = as_velero_hands_it(rs);
        live["metadata"]["resourceVersion"] = json!("500");
        live
    }

    #[tokio::test]
    async fn the_alignment_patch_is_conditional_on_the_resource_version_read() {
        let guard = TemplateGuard::new(FakeCluster::new(web()), None);
        let rs = web().replicasets()[0].clone();
        guard.cluster.live.lock().unwrap().insert(
            ("shop-dr".to_owned(), "web-5d894cc6b7".to_owned()),
            created_without_correction(&rs),
        );
        *guard.cluster.concurrent_writes.lock().unwrap() = 1;
        let d = web().deployment();
        let out = guard
            .execute(execute_input(
                as_velero_hands_it(&d),
                &d,
                &a_restore(json!({})),
            ))
            .await
            .unwrap();
        assert_eq!(out.item, as_velero_hands_it(&d));
        // The first PATCH met a newer ReplicaSet and was refused; the guard read it again and
        // aligned the version it had just read.
        let calls = guard.cluster.calls();
        assert_eq!(
            calls[calls.len() - 4..],
            [
                "get replicaset shop-dr/web-5d894cc6b7",
                "patch replicaset shop-dr/web-5d894cc6b7",
                "get replicaset shop-dr/web-5d894cc6b7",
                "patch replicaset shop-dr/web-5d894cc6b7",
            ]
        );
        let live = guard.cluster.live.lock().unwrap()
            [&("shop-dr".to_owned(), "web-5d894cc6b7".to_owned())]
            .clone();
        assert_eq!(live["spec"]["template"]["spec"]["hostname"], "restored");
        assert_eq!(live["metadata"]["resourceVersion"], "501");
    }

    #[tokio::test]
    async fn a_second_conflict_fails_open_without_a_blind_write() {
        let guard = TemplateGuard::new(FakeCluster::new(web()), None);
        let rs = web().replicasets()[0].clone();
        guard.cluster.live.lock().unwrap().insert(
            ("shop-dr".to_owned(), "web-5d894cc6b7".to_owned()),
            created_without_correction(&rs),
        );
        *guard.cluster.concurrent_writes.lock().unwrap() = 2;
        let d = web().deployment();
        let out = guard
            .execute(execute_input(
                as_velero_hands_it(&d),
                &d,
                &a_restore(json!({})),
            ))
            .await
            .unwrap();
        assert_eq!(out.item, as_velero_hands_it(&d));
        let patches = guard
            .cluster
            .calls()
            .iter()
            .filter(|c| c.starts_with("patch"))
            .count();
        assert_eq!(patches, 2, "one retry, no more");
        let live = guard.cluster.live.lock().unwrap()
            [&("shop-dr".to_owned(), "web-5d894cc6b7".to_owned())]
            .clone();
        assert!(live["spec"]["template"]["spec"].get("hostname").is_none());
        assert_eq!(
            live["spec"]["template"]["metadata"]["labels"]["touched"],
            "yes"
        );
    }

    #[tokio::test]
    async fn legacy_annotation_pods_are_fsb_pods_without_any_pod_volume_backup() {
        // Velero restores `snapshot.velero.io/<volume>` annotated pods' data even when no
        // PodVolumeBackup exists for the backup: the guard must protect them too.
        let app = a_deployment("shop", "web").with_legacy_fsb_volume("data");
        assert!(app.pod_volume_backups().is_empty());
        let guard = TemplateGuard::new(FakeCluster::new(app), None);
        let outputs = run_restore(&guard, &a_restore(json!({}))).await;
        let pod = outputs[0].as_ref().unwrap();
        assert_eq!(pod.item["spec"]["hostname"], "restored");
        assert_eq!(
            pod.item["spec"]["initContainers"][0]["name"],
            "restore-wait"
        );
        let rs = outputs[1].as_ref().unwrap();
        assert_eq!(rs.item["spec"]["template"]["spec"]["hostname"], "restored");
    }

    #[tokio::test]
    async fn no_fsb_data_at_all_costs_no_download() {
        let guard = TemplateGuard::new(FakeCluster::new(a_deployment("shop", "web")), None);
        for out in run_restore(&guard, &a_restore(json!({}))).await {
            out.unwrap();
        }
        assert!(
            !guard
                .cluster
                .calls()
                .iter()
                .any(|c| c.starts_with("download")),
            "{:?}",
            guard.cluster.calls()
        );
    }

    const LOWER_TO_ONE: &str = "version: v1\nresourceModifierRules:\n- conditions: {groupResource: deployments.apps}\n  patches:\n  - {operation: replace, path: /spec/replicas, value: \"1\"}\n";

    #[tokio::test]
    async fn lowered_replicas_skip_pods_in_enforce_and_only_log_in_dry_run() {
        let app = a_deployment("shop", "web")
            .with_fsb_volume("data")
            .with_replicas(3);
        let mut cluster = FakeCluster::new(app.clone());
        cluster.rules = LOWER_TO_ONE;
        let guard = TemplateGuard::new(cluster, None);
        let outputs = run_restore(&guard, &a_restore(json!({}))).await;
        let skipped: Vec<bool> = outputs[..3]
            .iter()
            .map(|o| o.as_ref().unwrap().skip_restore)
            .collect();
        // Every pod holds its own data: the first by name is kept, the other two skipped.
        assert_eq!(skipped, [false, true, true]);
        let rs = outputs[3].as_ref().unwrap();
        assert!(!rs.skip_restore);
        assert_eq!(rs.item["spec"]["replicas"], 1);
        // The live ReplicaSet holds 1 replica already: no patch.
        assert!(!guard.cluster.calls().iter().any(|c| c.starts_with("patch")));

        let mut cluster = FakeCluster::new(app);
        cluster.rules = LOWER_TO_ONE;
        let guard = TemplateGuard::new(cluster, None);
        let outputs =
            run_restore(&guard, &a_restore(json!({"fsb-guard.io/mode": "dry-run"}))).await;
        assert!(outputs.iter().all(|o| !o.as_ref().unwrap().skip_restore));
        assert_eq!(outputs[3].as_ref().unwrap().item["spec"]["replicas"], 3);
        assert!(!guard.cluster.calls().iter().any(|c| c.starts_with("patch")));
    }
}
