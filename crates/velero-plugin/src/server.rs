//! Assembles and runs the gRPC server on a bound listener.
//!
//! Services: `generated.PluginLister`, `v2.RestoreItemAction`, `plugin.GRPCController`,
//! `plugin.GRPCStdio`, `plugin.GRPCBroker` and `grpc.health.v1.Health` (service `plugin` =
//! SERVING, what go-plugin's `Ping` checks). Plain h2c without TLS, no compression, any number of
//! connections, message limits raised on every service (Velero's client sends up to 2 GiB).

use std::sync::Arc;

use futures::StreamExt as _;
use tokio_stream::wrappers::{TcpListenerStream, UnixListenerStream};
use tonic::transport::Server;
use tonic_health::ServingStatus;

use crate::action::RestoreItemAction;
use crate::controller::{Controller, Shutdown};
use crate::error::Result;
use crate::listener::PluginListener;
use crate::lister::Lister;
use crate::proto::generated::plugin_lister_server::PluginListerServer;
use crate::proto::goplugin::grpc_broker_server::GrpcBrokerServer;
use crate::proto::goplugin::grpc_controller_server::GrpcControllerServer;
use crate::proto::goplugin::grpc_stdio_server::GrpcStdioServer;
use crate::proto::v2::restore_item_action_server::RestoreItemActionServer;
use crate::restore_item_action::RestoreItemActionService;
use crate::stdio_broker::{Broker, Stdio};

/// Largest request a service decodes (Execute items travel whole in one message).
pub const MAX_DECODING_MESSAGE_BYTES: usize = 256 * 1024 * 1024;
/// Largest response a service encodes.
pub const MAX_ENCODING_MESSAGE_BYTES: usize = usize::MAX;

/// Health service name go-plugin asks for.
pub const HEALTH_SERVICE: &str = "plugin";

/// Applies our message limits to a generated server.
macro_rules! limited {
    ($server:expr) => {
        $server
            .max_decoding_message_size(MAX_DECODING_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_ENCODING_MESSAGE_BYTES)
    };
}

/// Serves all plugin services on `listener` until `shutdown` fires, then stops gracefully
/// (callers bound that wait: see [`crate::SHUTDOWN_GRACE`]).
///
/// `name` is the RestoreItemActionV2 registered, `command` what `ListPlugins` reports (`argv[0]`);
/// `action` answers AppliesTo and decides every Execute.
pub async fn serve<A: RestoreItemAction>(
    listener: PluginListener,
    name: &'static str,
    action: A,
    command: String,
    shutdown: Shutdown,
) -> Result<()> {
    let (health_reporter, health) = tonic_health::server::health_reporter();
    health_reporter
        .set_service_status(HEALTH_SERVICE, ServingStatus::Serving)
        .await;

    let router = Server::builder()
        .add_service(limited!(PluginListerServer::new(Lister::new(
            command, name
        ))))
        .add_service(limited!(RestoreItemActionServer::new(
            RestoreItemActionService::new(name, Arc::new(action))
        )))
        .add_service(limited!(GrpcControllerServer::new(Controller::new(
            shutdown.clone()
        ))))
        .add_service(limited!(GrpcStdioServer::new(Stdio::new(shutdown.clone()))))
        .add_service(limited!(GrpcBrokerServer::new(Broker::new(
            shutdown.clone()
        ))))
        .add_service(limited!(health));

    let stop = {
        let shutdown = shutdown.clone();
        async move { shutdown.wait().await }
    };
    match listener {
        PluginListener::Unix { listener, .. } => {
            router
                .serve_with_incoming_shutdown(UnixListenerStream::new(listener), stop)
                .await?;
        }
        PluginListener::Tcp { listener, .. } => {
            let incoming = TcpListenerStream::new(listener).map(|stream| {
                stream.inspect(|stream| {
                    // Small unary calls: don't let Nagle delay replies.
                    let _ = stream.set_nodelay(true);
                })
            });
            router.serve_with_incoming_shutdown(incoming, stop).await?;
        }
    }
    Ok(())
}
