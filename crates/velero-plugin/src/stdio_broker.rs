//! go-plugin's `plugin.GRPCStdio` and `plugin.GRPCBroker`: streams held open until shutdown.
//!
//! The host opens both right after connecting. Velero discards streamed stdio and never brokers
//! extra connections, so we send nothing; but answering (instead of Unimplemented) keeps the host's
//! logs free of "stdio service not available" noise. Both streams end when the shutdown latch
//! fires, so they never hold up the server's stop.

use std::pin::Pin;

use futures::{Stream, StreamExt as _};
use tonic::{Request, Response, Status, Streaming};

use crate::controller::Shutdown;
use crate::proto::goplugin::grpc_broker_server::GrpcBroker;
use crate::proto::goplugin::grpc_stdio_server::GrpcStdio;
use crate::proto::goplugin::{ConnInfo, StdioData};

type HeldStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

/// A stream that yields nothing and ends when `shutdown` fires.
fn held_open<T: Send + 'static>(shutdown: Shutdown) -> HeldStream<T> {
    Box::pin(
        futures::stream::once(async move { shutdown.wait().await })
            .filter_map(|()| futures::future::ready(None)),
    )
}

/// `plugin.GRPCStdio`: never forwards anything (we never write to stdout after the handshake).
#[derive(Debug, Clone)]
pub struct Stdio {
    shutdown: Shutdown,
}

impl Stdio {
    pub fn new(shutdown: Shutdown) -> Self {
        Self { shutdown }
    }
}

#[tonic::async_trait]
impl GrpcStdio for Stdio {
    type StreamStdioStream = HeldStream<StdioData>;

    async fn stream_stdio(
        &self,
        _request: Request<()>,
    ) -> Result<Response<Self::StreamStdioStream>, Status> {
        Ok(Response::new(held_open(self.shutdown.clone())))
    }
}

/// `plugin.GRPCBroker`: reads and ignores the host's messages, sends none.
#[derive(Debug, Clone)]
pub struct Broker {
    shutdown: Shutdown,
}

impl Broker {
    pub fn new(shutdown: Shutdown) -> Self {
        Self { shutdown }
    }
}

#[tonic::async_trait]
impl GrpcBroker for Broker {
    type StartStreamStream = HeldStream<ConnInfo>;

    async fn start_stream(
        &self,
        request: Request<Streaming<ConnInfo>>,
    ) -> Result<Response<Self::StartStreamStream>, Status> {
        let mut incoming = request.into_inner();
        let shutdown = self.shutdown.clone();
        // Drain the host's side so its sends never block; stop with the stream or the process.
        tokio::spawn(async move {
            tokio::select! {
                () = shutdown.wait() => {}
                () = async { while let Some(Ok(_)) = incoming.next().await {} } => {}
            }
        });
        Ok(Response::new(held_open(self.shutdown.clone())))
    }
}
