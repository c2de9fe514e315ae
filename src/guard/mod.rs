//! The guard as a Velero RestoreItemAction: the edge between Velero and the decisions.
//!
//! Every Execute goes the same way (docs/architecture.md draws it):
//!
//! 1. [`TemplateGuard::execute`] (this file) reads the restore's inputs once per restore
//!    ([`restore`]) and never fails on its own: any error becomes the answer the failure policy
//!    asks for — the item unchanged and a `warn` line naming the workload and the cause (fail
//!    open), or an item error (fail closed);
//! 2. the [`router`] sends the item to its kind's file ([`deployment`], [`statefulset`],
//!    [`daemonset`]);
//! 3. the kind's file asks the core (`fsb_guard_core`), which looks up the workload's plan, and
//!    turns the decision into an answer or a list of live [`operations`];
//! 4. the [`executor`] carries them out (one conflict rule, dry-run handled there) and writes the
//!    notes to the restore log.
//!
//! The ports ([`ports`]) separate what the guard reads about the restore from the live cluster it
//! writes; [`kube::KubeCluster`] is the production adapter for both.
//!
//! # Minimum RBAC
//!
//! The plugin runs inside the Velero server pod with Velero's service account (bound to
//! `cluster-admin` by `velero install`). If you narrow it, the guard needs:
//!
//! | verb | resource | where | why |
//! |---|---|---|---|
//! | `list` | `configmaps` | Velero namespace | plugin-config ConfigMap (label selector) |
//! | `get` | `configmaps` | restore's namespace | the restore's resource-modifier ConfigMap, or the server's default one |
//! | `list` | `podvolumebackups.velero.io` | Velero namespace | which pods hold FSB data |
//! | `create`, `get`, `delete` | `downloadrequests.velero.io` | Velero namespace | backup contents |
//! | `get` | `backups.velero.io`, `backupstoragelocations.velero.io` | Velero namespace | object-store TLS settings |
//! | `list` | `podvolumerestores.velero.io` | Velero namespace | a parked pod's volume restores finished |
//! | `get` | `deployments.apps`, `statefulsets.apps`, `daemonsets.apps` | restore target namespaces | whether a restored FSB pod's workload already exists (once per workload per restore) |
//! | `get`, `delete` | `pods` | restore target namespaces | a pod of the restored pod's name exists; delete a parked pod once its data landed |
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
//! A restore without resource modifiers (no `spec.resourceModifier`, and no server default from
//! `--default-resource-modifier-configmap`) reads only the plugin settings and, once per workload,
//! whether the workload of a restored FSB pod already exists ([`existing`]); a restore without FSB
//! pods makes no API call at all.

mod daemonset;
mod deployment;
mod error;
mod executor;
mod existing;
mod item;
pub mod kube;
mod operations;
pub mod ports;
mod restore;
mod router;
mod statefulset;
mod velero_server;

use std::sync::Arc;

use fsb_guard_core::{FailurePolicy, Resource, namespace_of};
use serde_json::Value;
use tokio::sync::Mutex;
use velero_plugin::{
    ActionError, ExecuteInput, ExecuteOutput, OperationProgress, RawExecuteInput, ResourceSelector,
    RestoreItemAction,
};

pub use error::{Error, RelabelFailed, Result};
pub use executor::Answer;
pub use kube::KubeCluster;
pub use operations::RelabelFor;
pub use ports::{DryRun, LiveCluster, RestoreSource};
pub use restore::GUARDED_FIELDS;
pub use velero_server::{ServerRelease, VeleroServer};

use executor::Executor;
use item::Item;
use restore::RestoreState;

/// The name Velero lists the guard under (`<DNS-1123 subdomain>/<name>`); also the label key of
/// its plugin-config ConfigMap.
pub const NAME: &str = "fsb-guard.io/template-guard";

/// What the guard asks Velero for: the workloads it protects and the objects they own, in
/// Velero's restore order (pods, ReplicaSets and ControllerRevisions before their workloads).
pub fn applies_to() -> ResourceSelector {
    ResourceSelector::resources(
        [
            Resource::PODS,
            Resource::REPLICA_SETS,
            Resource::DEPLOYMENTS,
            Resource::CONTROLLER_REVISIONS,
            Resource::DAEMON_SETS,
            Resource::STATEFUL_SETS,
        ]
        .map(|r| r.group_resource()),
    )
}

/// The guard as a Velero RestoreItemAction, over the restore's inputs `S` and the live cluster
/// `C`.
pub struct TemplateGuard<S, C> {
    source: S,
    cluster: C,
    velero_namespace: Option<String>,
    server: VeleroServer,
    state: Mutex<Option<Arc<RestoreState>>>,
}

impl TemplateGuard<KubeCluster, KubeCluster> {
    /// The RestoreItemAction the plugin serves: the guard over the live cluster. The Velero
    /// namespace is `$VELERO_NAMESPACE` (set in Velero's own deployment and inherited by its
    /// plugins), else the restore's namespace; what Velero is, from the arguments it started the
    /// plugin with (`server_args`, without the program name).
    pub fn for_the_live_cluster(server_args: &[std::ffi::OsString]) -> Self {
        let velero_namespace = std::env::var("VELERO_NAMESPACE")
            .ok()
            .filter(|ns| !ns.is_empty());
        let cluster = KubeCluster::new(NAME);
        Self::new(cluster.clone(), cluster, velero_namespace)
            .with_server(VeleroServer::from_args(server_args))
    }
}

impl<S: RestoreSource, C: LiveCluster> TemplateGuard<S, C> {
    /// A guard reading the restore's inputs from `source` and writing to `cluster`. The Velero
    /// namespace is `velero_namespace` when given, else the restore's namespace.
    pub fn new(source: S, cluster: C, velero_namespace: Option<String>) -> Self {
        Self {
            source,
            cluster,
            velero_namespace,
            server: VeleroServer::default(),
            state: Mutex::new(None),
        }
    }

    /// The same guard, told what the Velero server that started it is (default: 1.15 or newer,
    /// no server-wide default resource modifiers).
    pub fn with_server(self, server: VeleroServer) -> Self {
        Self { server, ..self }
    }

    fn velero_namespace<'a>(&'a self, restore: &'a Value) -> &'a str {
        self.velero_namespace
            .as_deref()
            .unwrap_or_else(|| namespace_of(restore))
    }

    /// The restore's inputs, read by the first item of the restore.
    async fn restore_state(&self, restore: &Value) -> Arc<RestoreState> {
        let uid = restore
            .pointer("/metadata/uid")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let mut state = self.state.lock().await;
        if let Some(current) = state.as_ref().filter(|s| s.uid() == uid) {
            return Arc::clone(current);
        }
        let read = RestoreState::read(
            &self.source,
            uid,
            restore,
            self.velero_namespace(restore),
            &self.server,
        );
        let current = Arc::new(read.await);
        *state = Some(Arc::clone(&current));
        current
    }

    /// Decides for one item: first whether its workload exists in the target (no rules needed),
    /// then what the restore's resource modifiers ask.
    async fn decide(&self, input: &ExecuteInput, state: &RestoreState) -> Result<Answer> {
        let velero_namespace = self.velero_namespace(&input.restore);
        if let Some(subject) = existing::concerns(&state.live_workloads, input) {
            let settings = state
                .settings_for_existing(&self.source, &input.restore, velero_namespace)
                .await;
            let live = &state.live_workloads;
            if let Some(answer) =
                existing::decide(&self.cluster, live, settings, input, subject).await?
            {
                return Ok(answer);
            }
        }
        let Some(loaded) = state.load(&self.source, input, velero_namespace).await? else {
            return Ok(Answer::as_received());
        };
        let dry_run = state.settings.mode == fsb_guard_core::Mode::DryRun;
        let item = Item {
            inputs: loaded.inputs(&state.settings, &state.plans),
            input,
            cluster: &self.cluster,
            executor: Executor::new(&self.cluster, dry_run),
        };
        router::route(&item).await
    }
}

impl<S: RestoreSource, C: LiveCluster> RestoreItemAction for TemplateGuard<S, C> {
    fn applies_to(&self) -> ResourceSelector {
        applies_to()
    }

    /// Most items of most restores are answered as sent, decoding only the restore and a glance
    /// at the item (its kind; for a pod, `restore-wait` and its backed-up owner): those the
    /// existing-workload guard cannot concern (only a pod with `restore-wait` of a workload not
    /// yet found absent, or any item once a live workload was found, can), and that the
    /// resource-modifier guard leaves alone — every item when the modifiers cannot change a
    /// guarded field (or there are none), else, once the backup contents were read, the items of
    /// workloads without FSB pods under scope `fsb-only`.
    async fn leaves_unchanged(&self, request: RawExecuteInput<'_>) -> bool {
        let Ok(restore) = serde_json::from_slice::<Value>(request.restore) else {
            return false;
        };
        let state = self.restore_state(&restore).await;
        let Some(item) = fsb_guard_core::existing::Glance::of(request.item) else {
            return false;
        };
        // The backed-up copy's identity, read at most once, and only if a test needs it.
        let identity = std::cell::OnceCell::new();
        let identity = || {
            identity
                .get_or_init(|| fsb_guard_core::existing::identity_of(request.item_from_backup))
                .as_ref()
        };
        if existing::may_concern(&state.live_workloads, &item, identity) {
            return false;
        }
        state.modifiers_need_no_item() || state.has_no_fsb_workload(&item.kind, identity)
    }

    /// Never fails on its own: a guard failure becomes the failure policy's answer.
    async fn execute(&self, input: ExecuteInput) -> Result<ExecuteOutput, ActionError> {
        let state = self.restore_state(&input.restore).await;
        match self.decide(&input, &state).await {
            Ok(answer) => Ok(ExecuteOutput {
                skip_restore: answer.skip_restore,
                operation_id: answer.operation_id,
                ..ExecuteOutput::unchanged(answer.item.unwrap_or(input.item))
            }),
            Err(error) => {
                let workload = router::workload_of(&input);
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

    /// Progress of a parked pod's operation: its deletion once its volume restores finished. An
    /// API error fails the operation (the restore ends PartiallyFailed naming the pod, which
    /// stays parked with its data in place).
    async fn progress(
        &self,
        operation_id: String,
        restore: Value,
    ) -> Result<OperationProgress, ActionError> {
        let velero_namespace = self.velero_namespace(&restore);
        existing::progress(&self.cluster, velero_namespace, &operation_id, &restore)
            .await
            .map_err(|error| {
                ActionError::Failed(format!(
                    "fsb-guard: operation {operation_id} (delete the parked pod by hand): {error}"
                ))
            })
    }
}
