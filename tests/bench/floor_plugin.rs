//! Benchmark-only plugin (tests/bench/run.sh): the floor every Execute figure is compared with.
//!
//! Our transport as the plugin runs it (tonic server, the same go-plugin services, handshake and
//! unix socket, 2 runtime workers), with an Execute that does no work of its own:
//!
//! - by default it answers the request's `item` bytes as they came, never parsed: what the
//!   transport alone costs (gRPC, protobuf, Velero's host side) — the *transport floor*;
//! - with `FSB_BENCH_FLOOR=json` it parses the item with serde_json and writes it back: the
//!   transport floor plus the one JSON parse and write a plugin cannot avoid — the *JSON floor*.
//!
//! It registers under our plugin name, so the harness calls it like the real plugin.

use std::ffi::OsString;

use tokio_stream::wrappers::{TcpListenerStream, UnixListenerStream};
use tonic::transport::Server;
use tonic::{Request, Response, Status};
use tonic_health::ServingStatus;
use velero_fsb_guard::guard;
use velero_plugin::SHUTDOWN_GRACE;
use velero_plugin::controller::{Controller, Shutdown};
use velero_plugin::handshake;
use velero_plugin::listener::{self, ListenConfig, PluginListener};
use velero_plugin::lister::Lister;
use velero_plugin::proto::generated::ResourceSelector;
use velero_plugin::proto::generated::plugin_lister_server::PluginListerServer;
use velero_plugin::proto::goplugin::grpc_broker_server::GrpcBrokerServer;
use velero_plugin::proto::goplugin::grpc_controller_server::GrpcControllerServer;
use velero_plugin::proto::goplugin::grpc_stdio_server::GrpcStdioServer;
use velero_plugin::proto::v2::restore_item_action_server::{
    RestoreItemAction, RestoreItemActionServer,
};
use velero_plugin::proto::v2::{
    RestoreItemActionAppliesToRequest, RestoreItemActionAppliesToResponse,
    RestoreItemActionCancelRequest, RestoreItemActionExecuteRequest,
    RestoreItemActionExecuteResponse, RestoreItemActionItemsReadyRequest,
    RestoreItemActionItemsReadyResponse, RestoreItemActionProgressRequest,
    RestoreItemActionProgressResponse,
};
use velero_plugin::server::{HEALTH_SERVICE, MAX_DECODING_MESSAGE_BYTES};
use velero_plugin::stdio_broker::{Broker, Stdio};

/// What Execute does with the item.
#[derive(Clone, Copy)]
enum Floor {
    /// Answer the request bytes untouched.
    Transport,
    /// Parse them with serde_json and write the value back.
    Json,
}

#[tonic::async_trait]
impl RestoreItemAction for Floor {
    async fn applies_to(
        &self,
        _request: Request<RestoreItemActionAppliesToRequest>,
    ) -> Result<Response<RestoreItemActionAppliesToResponse>, Status> {
        Ok(Response::new(RestoreItemActionAppliesToResponse {
            resource_selector: Some(ResourceSelector {
                included_resources: guard::applies_to().included_resources,
                ..ResourceSelector::default()
            }),
        }))
    }

    async fn execute(
        &self,
        request: Request<RestoreItemActionExecuteRequest>,
    ) -> Result<Response<RestoreItemActionExecuteResponse>, Status> {
        let bytes = request.into_inner().item;
        let item = match self {
            Floor::Transport => bytes,
            Floor::Json => serde_json::from_slice::<serde_json::Value>(&bytes)
                .and_then(|item| serde_json::to_vec(&item))
                .map_err(|e| Status::invalid_argument(e.to_string()))?,
        };
        Ok(Response::new(RestoreItemActionExecuteResponse {
            item,
            ..RestoreItemActionExecuteResponse::default()
        }))
    }

    async fn progress(
        &self,
        _request: Request<RestoreItemActionProgressRequest>,
    ) -> Result<Response<RestoreItemActionProgressResponse>, Status> {
        Err(Status::unimplemented(
            "the floor plugin starts no operations",
        ))
    }

    async fn cancel(
        &self,
        _request: Request<RestoreItemActionCancelRequest>,
    ) -> Result<Response<()>, Status> {
        Ok(Response::new(()))
    }

    async fn are_additional_items_ready(
        &self,
        _request: Request<RestoreItemActionItemsReadyRequest>,
    ) -> Result<Response<RestoreItemActionItemsReadyResponse>, Status> {
        Ok(Response::new(RestoreItemActionItemsReadyResponse {
            ready: true,
        }))
    }
}

/// Serves until go-plugin's `Shutdown` call, then lets its reply out.
async fn serve(floor: Floor, command: String) -> Result<(), Box<dyn std::error::Error>> {
    let bound = listener::bind(&ListenConfig::from_env())?;
    let address = bound.address();
    let shutdown = Shutdown::new();
    let (reporter, health) = tonic_health::server::health_reporter();
    reporter
        .set_service_status(HEALTH_SERVICE, ServingStatus::Serving)
        .await;
    let services = Server::builder()
        .add_service(PluginListerServer::new(Lister::new(command, guard::NAME)))
        .add_service(
            RestoreItemActionServer::new(floor)
                .max_decoding_message_size(MAX_DECODING_MESSAGE_BYTES),
        )
        .add_service(GrpcControllerServer::new(Controller::new(shutdown.clone())))
        .add_service(GrpcStdioServer::new(Stdio::new(shutdown.clone())))
        .add_service(GrpcBrokerServer::new(Broker::new(shutdown.clone())));
    let services = services.add_service(health);
    let stop = {
        let shutdown = shutdown.clone();
        async move { shutdown.wait().await }
    };
    let server = tokio::spawn(async move {
        match bound {
            PluginListener::Unix { listener, .. } => {
                let incoming = UnixListenerStream::new(listener);
                services.serve_with_incoming_shutdown(incoming, stop).await
            }
            PluginListener::Tcp { listener, .. } => {
                let incoming = TcpListenerStream::new(listener);
                services.serve_with_incoming_shutdown(incoming, stop).await
            }
        }
    });
    tokio::task::yield_now().await;
    handshake::announce(&address)?;
    shutdown.wait().await;
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, server).await;
    address.cleanup();
    Ok(())
}

fn main() {
    let floor = match std::env::var("FSB_BENCH_FLOOR").as_deref() {
        Ok("json") => Floor::Json,
        _ => Floor::Transport,
    };
    let args: Vec<OsString> = std::env::args_os().collect();
    let command = args
        .first()
        .map(|arg0| arg0.to_string_lossy().into_owned())
        .unwrap_or_default();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    if let Err(error) = runtime.block_on(serve(floor, command)) {
        eprintln!("floor plugin: {error}");
        std::process::exit(1);
    }
    runtime.shutdown_background();
}
