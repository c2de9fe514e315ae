//! go-plugin handshake: protocol version negotiation and the one line on stdout.
//!
//! The host reads **only the first stdout line**, splits it on `|` and needs
//! `CORE|APP|NETWORK|ADDRESS|PROTOCOL`: core version `1`, an app version the host offered
//! (Velero offers `2`), network `unix` or `tcp`, and protocol exactly `grpc` (Velero allows gRPC
//! only). An optional sixth field longer than 50 characters would be read as an AutoMTLS
//! certificate; Velero does not use AutoMTLS, so it stays empty. The host dials right after
//! parsing, so the listener must already be bound. Anything else on stdout — before the line it
//! breaks the start, after it it is read and discarded — is never written.

use std::io::Write as _;

use crate::error::{Error, Result};
use crate::listener::ListenAddress;

/// go-plugin's core protocol version.
pub const CORE_PROTOCOL_VERSION: u32 = 1;
/// Velero's plugin protocol version (its handshake config), the only one we speak.
pub const APP_PROTOCOL_VERSION: u32 = 2;
/// Environment variable in which the host lists the app protocol versions it accepts.
pub const PROTOCOL_VERSIONS_ENV: &str = "PLUGIN_PROTOCOL_VERSIONS";

/// Checks the host's `PLUGIN_PROTOCOL_VERSIONS` (comma-separated, any order).
///
/// Unset means "no preference" (go-plugin then uses the server's version and lets the client
/// decide), so we accept it. Set but without `2` means the host cannot talk to us: fail with a
/// message naming the problem instead of printing a handshake the host will reject.
pub fn check_protocol_versions(offered: Option<&str>) -> Result<()> {
    let Some(offered) = offered else {
        return Ok(());
    };
    let speaks_ours = offered
        .split(',')
        .any(|version| version.trim().parse::<u32>() == Ok(APP_PROTOCOL_VERSION));
    if speaks_ours {
        Ok(())
    } else {
        Err(Error::UnsupportedProtocol {
            offered: offered.to_owned(),
        })
    }
}

/// The handshake line, without the trailing newline: `1|2|unix|/tmp/plugin123|grpc|`.
pub fn handshake_line(address: &ListenAddress) -> String {
    format!(
        "{CORE_PROTOCOL_VERSION}|{APP_PROTOCOL_VERSION}|{}|{}|grpc|",
        address.network(),
        address.address()
    )
}

/// Writes the handshake line plus `\n` to stdout and flushes. Call once, after the listener is
/// bound and the server is running.
pub fn announce(address: &ListenAddress) -> Result<()> {
    let mut line = handshake_line(address);
    line.push('\n');
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(line.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(Error::Handshake)
}
