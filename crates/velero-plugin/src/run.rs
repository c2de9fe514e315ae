//! The life of a plugin process: what [`run`] does from the first instruction to the exit code.
//!
//! One process per restore, plus short-lived ones for discovery and Progress:
//!
//! 1. logging goes to stderr as JSON lines from the first instruction ([`crate::logging`]);
//! 2. `PLUGIN_PROTOCOL_VERSIONS` is checked ([`handshake::check_protocol_versions`]);
//! 3. a unix socket (or 127.0.0.1 TCP port) is bound ([`crate::listener`]) and the gRPC server
//!    starts ([`server::serve`]);
//! 4. only then the handshake line goes to stdout ([`handshake::announce`]) — stdout is never
//!    written again;
//! 5. the process serves until `GRPCController.Shutdown`, SIGTERM or SIGINT, then exits 0 within
//!    [`SHUTDOWN_GRACE`], removing its socket. Stdin is never read: Velero's stdin may be
//!    `/dev/null`, and its EOF means nothing.
//!
//! SIGINT: go-plugin's Go servers ignore it (so Ctrl-C in the host's terminal does not kill plugins
//! before the host stops them); we exit 0 on it as our spec asks. Velero itself never sends
//! signals — it calls `Shutdown` and SIGKILLs after 2 s.

use std::ffi::OsString;
use std::time::Duration;

use tokio::signal::unix::{SignalKind, signal};

use crate::action::RestoreItemAction;
use crate::args::parse_plugin_args;
use crate::controller::Shutdown;
use crate::error::{Error, Result};
use crate::listener::{self, ListenConfig, PluginListener};
use crate::{handshake, logging, server};

/// How long in-flight calls (the Shutdown reply itself, an Execute) get to finish once a stop was
/// requested. The host waits 2 s before SIGKILL; we promise exit within 100 ms.
pub const SHUTDOWN_GRACE: Duration = Duration::from_millis(40);

/// Serves `action` as the RestoreItemActionV2 registered as `name` (`<DNS-1123 subdomain>/<name>`,
/// as Velero requires) with `args` (full argv); returns the exit code (0 after an orderly stop, 1
/// if serving was impossible). Call it from `main` when [`crate::args::is_plugin_mode`] says Velero
/// started the binary.
pub fn run<A: RestoreItemAction>(args: Vec<OsString>, name: &'static str, action: A) -> i32 {
    let parsed = parse_plugin_args(args.iter().skip(1));
    logging::init_plugin(parsed.log_level);
    for problem in &parsed.problems {
        tracing::warn!("{problem}");
    }
    let offered = std::env::var(handshake::PROTOCOL_VERSIONS_ENV).ok();
    if let Err(error) = handshake::check_protocol_versions(offered.as_deref()) {
        tracing::error!("{error}");
        return 1;
    }
    // Velero re-executes exactly this string later, so report it verbatim.
    let command = args
        .first()
        .map(|arg0| arg0.to_string_lossy().into_owned())
        .unwrap_or_default();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(Error::Runtime)
    {
        Ok(runtime) => runtime,
        Err(error) => {
            tracing::error!("{error}");
            return 1;
        }
    };
    let code = match runtime.block_on(serve_until_stopped(name, action, command)) {
        Ok(reason) => {
            tracing::debug!(reason, "plugin stopped");
            0
        }
        Err(error) => {
            tracing::error!("{error}");
            1
        }
    };
    // Don't wait for anything still parked in the runtime: we are done.
    runtime.shutdown_background();
    code
}

/// Binds, serves, announces, and waits for a stop; returns what stopped us.
async fn serve_until_stopped<A: RestoreItemAction>(
    name: &'static str,
    action: A,
    command: String,
) -> Result<&'static str> {
    // Signal handlers first, so a SIGTERM during startup still ends in an orderly exit 0.
    let mut sigterm = signal(SignalKind::terminate()).map_err(Error::Runtime)?;
    let mut sigint = signal(SignalKind::interrupt()).map_err(Error::Runtime)?;

    let listener: PluginListener = listener::bind(&ListenConfig::from_env())?;
    let address = listener.address();
    let shutdown = Shutdown::new();
    let mut server = tokio::spawn(server::serve(
        listener,
        name,
        action,
        command,
        shutdown.clone(),
    ));
    // The socket is already listening: connections made right after the handshake wait in the
    // backlog until the server task accepts them.
    tokio::task::yield_now().await;
    if let Err(error) = handshake::announce(&address) {
        address.cleanup();
        return Err(error);
    }
    tracing::debug!(network = address.network(), address = %address.address(), "plugin serving");

    let reason = tokio::select! {
        () = shutdown.wait() => "Shutdown call",
        _ = sigterm.recv() => "SIGTERM",
        _ = sigint.recv() => "SIGINT",
        result = &mut server => {
            address.cleanup();
            return match result {
                Ok(Ok(())) => Ok("server ended"),
                Ok(Err(error)) => Err(error),
                Err(join_error) => Err(Error::Runtime(std::io::Error::other(join_error))),
            };
        }
    };
    shutdown.trigger();
    // Let in-flight replies (Shutdown's own) reach the host, but never wait long: a client may
    // hold streams open indefinitely.
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, &mut server).await;
    address.cleanup();
    Ok(reason)
}
