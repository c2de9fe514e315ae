//! Errors of the plugin transport.

use std::path::PathBuf;

/// Why plugin mode could not start or keep serving.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The host offered protocol versions we do not speak.
    #[error(
        "PLUGIN_PROTOCOL_VERSIONS={offered:?} does not include protocol version 2, the only one this plugin speaks; this Velero is incompatible with velero-fsb-guard"
    )]
    UnsupportedProtocol { offered: String },
    /// No unix socket could be created (e.g. read-only filesystem).
    #[error("cannot create a unix socket at {path:?}: {reason}")]
    UnixSocket { path: PathBuf, reason: String },
    /// The TCP fallback found no free port either.
    #[error(
        "cannot listen on a unix socket ({unix}) nor on 127.0.0.1 ports {min_port}..={max_port} ({tcp})"
    )]
    NoListener {
        unix: Box<Error>,
        min_port: u16,
        max_port: u16,
        tcp: String,
    },
    /// Writing the handshake line to stdout failed (host gone?).
    #[error("cannot write the go-plugin handshake line to stdout: {0}")]
    Handshake(#[source] std::io::Error),
    /// The async runtime could not start.
    #[error("cannot start the async runtime: {0}")]
    Runtime(#[source] std::io::Error),
    /// The gRPC server stopped with an error.
    #[error("gRPC server failed: {0}")]
    Serve(#[from] tonic::transport::Error),
}

/// Result type of the plugin transport.
pub type Result<T, E = Error> = std::result::Result<T, E>;
