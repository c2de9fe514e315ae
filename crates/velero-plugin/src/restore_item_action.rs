//! Velero's `v2.RestoreItemAction` service: decodes requests, calls the decision boundary
//! ([`crate::RestoreItemAction`]) and maps its errors to gRPC statuses.
//!
//! Velero-side contract of each call (Velero v1.12 – v1.18):
//!
//! - `AppliesTo` is asked once per restore. Listed resources are resolved by Velero through API
//!   discovery (`deploy` → `deployments.apps`); empty lists and an empty selector mean "no
//!   restriction" — an empty `ResourceSelector` matches **everything**. The action says what it
//!   wants ([`crate::RestoreItemAction::applies_to`]).
//! - `Execute` must always answer a JSON object with `kind` in `item`; an error status fails this
//!   one item (the restore ends PartiallyFailed). Velero's Go framework answers code Unknown for
//!   errors and Aborted for panics; we keep that: Unknown for action failures, InvalidArgument for
//!   requests we cannot decode, Aborted for a panic.
//! - `Progress`/`Cancel` are only called for operation IDs an Execute returned
//!   ([`crate::ExecuteOutput::operation_id`]), after every item was restored and every pod volume
//!   restore finished. `Progress` must always carry a progress message (Velero dereferences it);
//!   an error status marks the operation failed. Progress calls arrive in fresh processes, so the
//!   operation ID and the restore are all an action can go by.
//! - `AreAdditionalItemsReady` is only polled when Execute asked to wait; we never do.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::SystemTime;

use futures::FutureExt as _;

use serde_json::Value;
use tonic::{Request, Response, Status};
use tracing::Instrument as _;

use crate::action::{ActionError, ExecuteInput, ExecuteOutput, RawExecuteInput, RestoreItemAction};
use crate::logging::panic_message;
use crate::proto::generated::{OperationProgress, ResourceIdentifier, ResourceSelector};
use crate::proto::v2::restore_item_action_server::RestoreItemAction as RestoreItemActionRpc;
use crate::proto::v2::{
    RestoreItemActionAppliesToRequest, RestoreItemActionAppliesToResponse,
    RestoreItemActionCancelRequest, RestoreItemActionExecuteRequest,
    RestoreItemActionExecuteResponse, RestoreItemActionItemsReadyRequest,
    RestoreItemActionItemsReadyResponse, RestoreItemActionProgressRequest,
    RestoreItemActionProgressResponse,
};

/// The v2 RestoreItemAction gRPC service around a decision boundary `A` registered as `name`.
pub struct RestoreItemActionService<A> {
    name: &'static str,
    action: Arc<A>,
}

impl<A> RestoreItemActionService<A> {
    pub fn new(name: &'static str, action: Arc<A>) -> Self {
        Self { name, action }
    }

    /// Velero sends the registered name in every request; another name means a mix-up on the
    /// host.
    fn check_plugin_name(&self, requested: &str) -> Result<(), Status> {
        if requested == self.name {
            Ok(())
        } else {
            Err(Status::not_found(format!(
                "this binary serves no RestoreItemActionV2 named {requested:?} (it serves {:?})",
                self.name
            )))
        }
    }
}

/// The error status Velero shows for an [`ActionError`] (the message ends up in the restore's
/// errors as `error preparing <item>: rpc error: code = … desc = <message>`).
pub fn status_from_action_error(error: &ActionError) -> Status {
    match error {
        ActionError::InvalidRequest(_) => Status::invalid_argument(error.to_string()),
        ActionError::Failed(_) => Status::unknown(error.to_string()),
    }
}

/// Decodes a request's JSON fields. `item` must be an object with a non-empty string `kind`
/// (Velero could not restore anything else); the other two may be absent (`Null`).
pub fn decode_execute_input(
    item: &[u8],
    item_from_backup: &[u8],
    restore: &[u8],
) -> Result<ExecuteInput, ActionError> {
    let item = decode_json("item", item)?;
    if !item.is_object() {
        return Err(ActionError::InvalidRequest(
            "item is not a JSON object".into(),
        ));
    }
    match item.get("kind") {
        Some(Value::String(kind)) if !kind.is_empty() => {}
        Some(_) => {
            return Err(ActionError::InvalidRequest(
                "item's kind is not a non-empty string".into(),
            ));
        }
        None => return Err(ActionError::InvalidRequest("item has no kind".into())),
    }
    Ok(ExecuteInput {
        item,
        item_from_backup: decode_optional_json("itemFromBackup", item_from_backup)?,
        restore: decode_optional_json("restore", restore)?,
    })
}

fn decode_json(what: &str, bytes: &[u8]) -> Result<Value, ActionError> {
    if bytes.is_empty() {
        return Err(ActionError::InvalidRequest(format!("{what} is empty")));
    }
    serde_json::from_slice(bytes)
        .map_err(|error| ActionError::InvalidRequest(format!("{what} is not valid JSON: {error}")))
}

fn decode_optional_json(what: &str, bytes: &[u8]) -> Result<Value, ActionError> {
    if bytes.is_empty() {
        Ok(Value::Null)
    } else {
        decode_json(what, bytes)
    }
}

/// Encodes an action's answer; refuses items Velero could not decode.
fn encode_execute_output(
    output: ExecuteOutput,
) -> Result<RestoreItemActionExecuteResponse, Status> {
    let has_kind = output
        .item
        .get("kind")
        .and_then(Value::as_str)
        .is_some_and(|kind| !kind.is_empty());
    if !has_kind {
        return Err(Status::internal(
            "the action returned an item without kind; refusing to hand it to Velero",
        ));
    }
    let item = serde_json::to_vec(&output.item)
        .map_err(|error| Status::internal(format!("cannot encode the item: {error}")))?;
    Ok(RestoreItemActionExecuteResponse {
        item,
        additional_items: output
            .additional_items
            .into_iter()
            .map(|extra| ResourceIdentifier {
                group: extra.group,
                resource: extra.resource,
                namespace: extra.namespace,
                name: extra.name,
            })
            .collect(),
        skip_restore: output.skip_restore,
        operation_id: output.operation_id.unwrap_or_default(),
        wait_for_additional_items: false,
        additional_items_ready_timeout: None,
    })
}

/// What the transport does with one Execute request's JSON bytes, short of catching a panic:
/// asks [`RestoreItemAction::leaves_unchanged`], else decodes the request and calls
/// [`RestoreItemAction::execute`] inside a span naming the item.
pub async fn execute_request<A: RestoreItemAction>(
    action: &A,
    item: Vec<u8>,
    item_from_backup: &[u8],
    restore: &[u8],
) -> Executed {
    let raw = RawExecuteInput {
        item: &item,
        item_from_backup,
        restore,
    };
    if action.leaves_unchanged(raw).await {
        return Executed::AsSent(item);
    }
    let input = match decode_execute_input(&item, item_from_backup, restore) {
        Ok(input) => input,
        Err(error) => return Executed::Rejected(error),
    };
    let (kind, namespace, name) = item_label(&input.item);
    let span = tracing::debug_span!("execute", kind = %kind, namespace = %namespace, name = %name);
    // A panic is caught here, where the item's span is known, so its error line names the item.
    match AssertUnwindSafe(action.execute(input))
        .catch_unwind()
        .instrument(span.clone())
        .await
    {
        Ok(outcome) => Executed::Decided(span, outcome),
        Err(payload) => Executed::Panicked(span, panic_message(payload.as_ref())),
    }
}

/// How an Execute request ended (short of a panic).
#[derive(Debug)]
pub enum Executed {
    /// The action left the item unchanged before decoding: these are the bytes Velero sent.
    AsSent(Vec<u8>),
    /// The request could not be decoded.
    Rejected(ActionError),
    /// The action's answer, with the span of the item it was for.
    Decided(tracing::Span, Result<ExecuteOutput, ActionError>),
    /// The action panicked with this message.
    Panicked(tracing::Span, String),
}

/// The status for a call whose task panicked (Velero's framework answers Aborted for panics); the
/// process keeps serving.
fn panicked(join_error: tokio::task::JoinError, call: &str) -> Status {
    let reason = if join_error.is_panic() {
        panic_message(join_error.into_panic().as_ref())
    } else {
        "the task was cancelled".to_owned()
    };
    panic_status(&reason, call)
}

/// The status for a call that panicked with `reason`, logged in the current span.
fn panic_status(reason: &str, call: &str) -> Status {
    tracing::error!(panic = %reason, "{call} panicked; answering with an error and serving on");
    Status::aborted(format!("plugin panicked: {reason}"))
}

/// The wire form of what the action applies to.
fn resource_selector(selector: crate::action::ResourceSelector) -> ResourceSelector {
    ResourceSelector {
        included_namespaces: selector.included_namespaces,
        excluded_namespaces: selector.excluded_namespaces,
        included_resources: selector.included_resources,
        excluded_resources: selector.excluded_resources,
        selector: selector.label_selector,
    }
}

/// `kind namespace/name` of an item, for logs (never values).
fn item_label(item: &Value) -> (String, String, String) {
    let text = |value: Option<&Value>| value.and_then(Value::as_str).unwrap_or("").to_owned();
    (
        text(item.get("kind")),
        text(item.pointer("/metadata/namespace")),
        text(item.pointer("/metadata/name")),
    )
}

#[tonic::async_trait]
impl<A: RestoreItemAction> RestoreItemActionRpc for RestoreItemActionService<A> {
    async fn applies_to(
        &self,
        request: Request<RestoreItemActionAppliesToRequest>,
    ) -> Result<Response<RestoreItemActionAppliesToResponse>, Status> {
        self.check_plugin_name(&request.get_ref().plugin)?;
        Ok(Response::new(RestoreItemActionAppliesToResponse {
            resource_selector: Some(resource_selector(self.action.applies_to())),
        }))
    }

    async fn execute(
        &self,
        request: Request<RestoreItemActionExecuteRequest>,
    ) -> Result<Response<RestoreItemActionExecuteResponse>, Status> {
        let request = request.into_inner();
        self.check_plugin_name(&request.plugin)?;
        let action = Arc::clone(&self.action);
        // A separate task turns a panic in the action into a JoinError instead of a dead
        // connection; the panic hook has already logged it as a JSON error line.
        let outcome = tokio::spawn(async move {
            execute_request(
                action.as_ref(),
                request.item,
                &request.item_from_backup,
                &request.restore,
            )
            .await
        })
        .await;
        match outcome {
            Ok(Executed::AsSent(item)) => Ok(Response::new(RestoreItemActionExecuteResponse {
                item,
                ..RestoreItemActionExecuteResponse::default()
            })),
            Ok(Executed::Rejected(error)) => {
                tracing::warn!(error = %error, "rejecting Execute request");
                Err(status_from_action_error(&error))
            }
            Ok(Executed::Decided(span, outcome)) => {
                let _entered = span.enter();
                match outcome {
                    Ok(output) => {
                        tracing::debug!(skip_restore = output.skip_restore, "execute done");
                        Ok(Response::new(encode_execute_output(output)?))
                    }
                    Err(error) => {
                        tracing::warn!(error = %error, "execute failed");
                        Err(status_from_action_error(&error))
                    }
                }
            }
            Ok(Executed::Panicked(span, reason)) => {
                let _entered = span.enter();
                Err(panic_status(&reason, "execute"))
            }
            Err(join_error) => Err(panicked(join_error, "execute")),
        }
    }

    async fn progress(
        &self,
        request: Request<RestoreItemActionProgressRequest>,
    ) -> Result<Response<RestoreItemActionProgressResponse>, Status> {
        let request = request.into_inner();
        self.check_plugin_name(&request.plugin)?;
        let restore = decode_optional_json("restore", &request.restore)
            .map_err(|error| status_from_action_error(&error))?;
        let span = tracing::debug_span!("progress", operation_id = %request.operation_id);
        let action = Arc::clone(&self.action);
        let operation_id = request.operation_id;
        let outcome = tokio::spawn(
            async move { action.progress(operation_id, restore).await }.instrument(span.clone()),
        )
        .await;
        let _entered = span.enter();
        let progress = match outcome {
            Ok(Ok(progress)) => progress,
            Ok(Err(error)) => {
                tracing::warn!(error = %error, "progress failed");
                return Err(status_from_action_error(&error));
            }
            Err(join_error) => return Err(panicked(join_error, "progress")),
        };
        let now = prost_types::Timestamp::from(SystemTime::now());
        Ok(Response::new(RestoreItemActionProgressResponse {
            progress: Some(OperationProgress {
                completed: progress.completed,
                err: progress.error,
                n_completed: progress.n_completed,
                n_total: progress.n_total,
                operation_units: progress.units,
                description: progress.description,
                started: Some(now),
                updated: Some(now),
            }),
        }))
    }

    async fn cancel(
        &self,
        request: Request<RestoreItemActionCancelRequest>,
    ) -> Result<Response<()>, Status> {
        let request = request.into_inner();
        self.check_plugin_name(&request.plugin)?;
        let restore = decode_optional_json("restore", &request.restore)
            .map_err(|error| status_from_action_error(&error))?;
        let action = Arc::clone(&self.action);
        let operation_id = request.operation_id;
        match tokio::spawn(async move { action.cancel(operation_id, restore).await }).await {
            Ok(Ok(())) => Ok(Response::new(())),
            Ok(Err(error)) => Err(status_from_action_error(&error)),
            Err(join_error) => Err(panicked(join_error, "cancel")),
        }
    }

    async fn are_additional_items_ready(
        &self,
        request: Request<RestoreItemActionItemsReadyRequest>,
    ) -> Result<Response<RestoreItemActionItemsReadyResponse>, Status> {
        self.check_plugin_name(&request.get_ref().plugin)?;
        Ok(Response::new(RestoreItemActionItemsReadyResponse {
            ready: true,
        }))
    }
}
