//! What a RestoreItemAction implements: the decision boundary between Velero's transport and the
//! plugin's logic.
//!
//! The gRPC layer ([`crate::restore_item_action`]) decodes and validates the request bytes, hands
//! an [`ExecuteInput`] to a [`RestoreItemAction`], and maps an [`ActionError`] to a gRPC status at
//! the edge. Implementations never see protobuf types, so an action can be written (and tested) as
//! a plain async function over `serde_json::Value`s.
//!
//! # What Velero asks first (`AppliesTo`)
//!
//! Velero asks once per restore which items the action wants ([`RestoreItemAction::applies_to`]).
//! Resources are named as `velero restore create --include-resources` names them (`pods`,
//! `deployments.apps`); Velero resolves short names through API discovery. An empty
//! [`ResourceSelector`] means **every** item of the restore.
//!
//! # What Velero does with the answer (v2 RestoreItemAction contract)
//!
//! - `item` replaces the object for the next action and for the create call. It must be a JSON object
//!   with a `kind`; Velero fails the item otherwise. The transport always answers with item bytes.
//! - An `Err` fails this item only (`error preparing <resource>/<ns>/<name>: <message>`): it is not
//!   restored, the remaining actions for it are skipped, the restore ends `PartiallyFailed`.
//! - `skip_restore = true` makes Velero skip creating the item.
//! - `additional_items` are restored (from the backup contents) before the item itself.
//! - Velero applies resource modifiers *after* all actions ran, so what we return is what the
//!   modifiers then see.

use std::future::Future;

use serde_json::Value;

/// Inputs of one Execute call, decoded from the request's JSON bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecuteInput {
    /// The item as it is about to be restored: earlier actions already ran on it, Velero already
    /// reset its metadata (no `ownerReferences`, `resourceVersion`, `uid`…) and dropped `status`.
    /// Guaranteed by the transport to be a JSON object with a string `kind`.
    pub item: Value,
    /// The item exactly as it was backed up (with `ownerReferences` and `status`); `Value::Null` if
    /// the request carried no bytes.
    pub item_from_backup: Value,
    /// The Velero `Restore` object (`metadata`, `spec`, `status`); `apiVersion`/`kind` may be empty.
    /// `Value::Null` if the request carried no bytes.
    pub restore: Value,
}

/// An Execute request before the transport decodes it: the JSON bytes Velero sent (each may be
/// empty). See [`RestoreItemAction::leaves_unchanged`].
#[derive(Debug, Clone, Copy)]
pub struct RawExecuteInput<'a> {
    pub item: &'a [u8],
    pub item_from_backup: &'a [u8],
    pub restore: &'a [u8],
}

/// An object Velero should restore in addition to the current item (v2 `additionalItems`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdditionalItem {
    /// API group, `""` for the core group.
    pub group: String,
    /// Plural resource name, e.g. `persistentvolumeclaims`.
    pub resource: String,
    /// Namespace in the backup (Velero applies the namespace mapping itself); empty if cluster-scoped.
    pub namespace: String,
    pub name: String,
}

/// Result of one Execute call.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecuteOutput {
    /// The item to restore (possibly modified). Must stay a JSON object with a `kind`.
    pub item: Value,
    /// Ask Velero not to create this item.
    pub skip_restore: bool,
    /// Objects to restore before this one.
    pub additional_items: Vec<AdditionalItem>,
    /// `Some`: the action started an asynchronous operation for this item. Velero records the ID
    /// and, once every item is restored and every pod volume restore finished, calls
    /// [`RestoreItemAction::progress`] with it (phase `WaitingForPluginOperations`) until the
    /// operation reports completed or `spec.itemOperationTimeout` (default 4 h) passes.
    pub operation_id: Option<String>,
}

impl ExecuteOutput {
    /// Restore `item` as given, nothing else.
    pub fn unchanged(item: Value) -> Self {
        Self {
            item,
            skip_restore: false,
            additional_items: Vec::new(),
            operation_id: None,
        }
    }
}

/// Where an asynchronous operation stands (Velero's `OperationProgress`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OperationProgress {
    /// Velero stops asking once this is true.
    pub completed: bool,
    /// Non-empty: the operation failed; Velero adds this to the restore's errors (the restore ends
    /// `PartiallyFailed`).
    pub error: String,
    pub n_completed: i64,
    pub n_total: i64,
    /// What `n_completed`/`n_total` count.
    pub units: String,
    /// Shown by `velero restore describe --details`.
    pub description: String,
}

/// Which items Velero hands the action (Velero's `velero.ResourceSelector`). Empty lists mean "no
/// restriction"; the label selector uses Kubernetes' selector syntax (`app=web,tier!=db`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResourceSelector {
    pub included_namespaces: Vec<String>,
    pub excluded_namespaces: Vec<String>,
    pub included_resources: Vec<String>,
    pub excluded_resources: Vec<String>,
    pub label_selector: String,
}

impl ResourceSelector {
    /// Items of exactly these resources (`resource.group` spelling), in every namespace.
    pub fn resources<'a>(resources: impl IntoIterator<Item = &'a str>) -> Self {
        Self {
            included_resources: resources.into_iter().map(str::to_owned).collect(),
            ..Self::default()
        }
    }
}

/// Why an action could not answer. The transport maps each variant to a gRPC status
/// (see [`crate::restore_item_action::status_from_action_error`]).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ActionError {
    /// The request itself is unusable (not JSON, no `kind`, not an object…).
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// The action ran and decided this item must fail (fail-closed mode, broken rule…).
    #[error("{0}")]
    Failed(String),
}

/// A Velero v2 RestoreItemAction's decision: what to restore for one item.
///
/// Implementations must be cheap to share (`Send + Sync`); the server calls `execute` concurrently
/// from several requests. A panic inside `execute` is caught by the transport and answered with an
/// error; the process keeps serving.
pub trait RestoreItemAction: Send + Sync + 'static {
    /// The items Velero hands this action (asked once per restore; see the module docs).
    fn applies_to(&self) -> ResourceSelector;

    /// Asked first for every Execute, before the transport decodes the request: `true` answers
    /// the item exactly as Velero sent it (the same bytes, never decoded or re-encoded, nothing
    /// else set) and [`Self::execute`] is not called. An action that can tell from the restore
    /// and a glance at the item that it has nothing to do saves the decoding of `item` and
    /// `itemFromBackup` and the encoding of the answer, most of an Execute's own cost. The bytes
    /// are answered unchecked: Velero sent them, and fails the item itself if they are not an
    /// object with a `kind`. Default: `false` (every item is decoded and handed to `execute`).
    fn leaves_unchanged(&self, request: RawExecuteInput<'_>) -> impl Future<Output = bool> + Send {
        let _ = request;
        async { false }
    }

    /// Decide what Velero restores for `input.item`.
    fn execute(
        &self,
        input: ExecuteInput,
    ) -> impl Future<Output = Result<ExecuteOutput, ActionError>> + Send;

    /// Where the operation `operation_id` (returned by an earlier Execute, possibly in another
    /// process: Velero starts a fresh plugin process for its operations controller) of `restore`
    /// stands. An `Err` marks the operation failed. Default: completed (an action that starts no
    /// operations is never asked).
    fn progress(
        &self,
        operation_id: String,
        restore: Value,
    ) -> impl Future<Output = Result<OperationProgress, ActionError>> + Send {
        let _ = (operation_id, restore);
        async {
            Ok(OperationProgress {
                completed: true,
                description: "this action starts no asynchronous operations".into(),
                ..OperationProgress::default()
            })
        }
    }

    /// Velero gave up on the operation (restore deleted, or `itemOperationTimeout` passed).
    /// Default: nothing to stop.
    fn cancel(
        &self,
        operation_id: String,
        restore: Value,
    ) -> impl Future<Output = Result<(), ActionError>> + Send {
        let _ = (operation_id, restore);
        async { Ok(()) }
    }
}

/// An action that restores every item as received: the smallest valid plugin, and a stand-in in
/// tests of the transport.
#[derive(Debug, Clone, Default)]
pub struct PassThrough {
    /// What Velero hands it.
    pub applies_to: ResourceSelector,
}

impl RestoreItemAction for PassThrough {
    fn applies_to(&self) -> ResourceSelector {
        self.applies_to.clone()
    }

    async fn execute(&self, input: ExecuteInput) -> Result<ExecuteOutput, ActionError> {
        Ok(ExecuteOutput::unchanged(input.item))
    }
}
