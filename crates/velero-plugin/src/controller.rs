//! go-plugin's `plugin.GRPCController` and the process-wide shutdown signal.
//!
//! Velero tears a plugin down by calling `Shutdown` and then waiting (without a timeout!) for the
//! reply or the process exit, followed by 2 s for the process and its pipes to close before it
//! SIGKILLs and logs "plugin failed to exit gracefully". So `Shutdown` replies at once and only
//! *triggers* the stop; [`crate::run`] then exits the process within [`crate::SHUTDOWN_GRACE`].
//! Waiting for tonic's graceful shutdown inside the handler would deadlock on this very call and
//! on the long-lived stdio/broker streams.

use std::sync::Arc;

use tokio::sync::watch;
use tonic::{Request, Response, Status};

use crate::proto::goplugin::{Empty, grpc_controller_server::GrpcController};

/// A one-way latch: once triggered, every waiter (server, hold-open streams, main loop) wakes.
#[derive(Debug, Clone)]
pub struct Shutdown {
    sender: Arc<watch::Sender<bool>>,
}

impl Default for Shutdown {
    fn default() -> Self {
        Self::new()
    }
}

impl Shutdown {
    pub fn new() -> Self {
        Self {
            sender: Arc::new(watch::channel(false).0),
        }
    }

    /// Starts the shutdown; idempotent.
    pub fn trigger(&self) {
        self.sender.send_replace(true);
    }

    pub fn is_triggered(&self) -> bool {
        *self.sender.borrow()
    }

    /// Resolves once [`Shutdown::trigger`] was called (immediately if it already was).
    pub async fn wait(&self) {
        let mut receiver = self.sender.subscribe();
        // The sender lives in `self`, so the channel cannot close while we wait.
        let _ = receiver.wait_for(|triggered| *triggered).await;
    }
}

/// `plugin.GRPCController`: `Shutdown` answers immediately and triggers the stop.
#[derive(Debug, Clone)]
pub struct Controller {
    shutdown: Shutdown,
}

impl Controller {
    pub fn new(shutdown: Shutdown) -> Self {
        Self { shutdown }
    }
}

#[tonic::async_trait]
impl GrpcController for Controller {
    async fn shutdown(&self, _request: Request<Empty>) -> Result<Response<Empty>, Status> {
        tracing::debug!("shutdown requested by the host");
        self.shutdown.trigger();
        Ok(Response::new(Empty {}))
    }
}
