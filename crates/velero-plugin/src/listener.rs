//! Where the plugin listens: a fresh unix socket, or 127.0.0.1 TCP if no socket can be made.
//!
//! go-plugin conventions: the socket lives in `$PLUGIN_UNIX_SOCKET_DIR` if set, else the temp dir
//! (`$TMPDIR`, else `/tmp`), named `plugin<random digits>`; the path must fit Linux's `sun_path`
//! (< 108 bytes) and must not contain `|` (the handshake separator). With
//! `PLUGIN_UNIX_SOCKET_GROUP` the socket is handed to that group with mode 0660. The TCP fallback
//! binds the first free port of `PLUGIN_MIN_PORT..=PLUGIN_MAX_PORT` (defaults 10000..=25000) on
//! 127.0.0.1, never on all interfaces. The listener accepts any number of connections: the host
//! redials after 30 idle minutes.

use std::hash::{BuildHasher as _, RandomState};
use std::io::ErrorKind;
use std::net::{Ipv4Addr, SocketAddr};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use tokio::net::{TcpListener, UnixListener};

use crate::error::{Error, Result};

/// Linux `sun_path` holds 108 bytes including the terminating NUL.
pub const MAX_SOCKET_PATH_BYTES: usize = 107;

/// Where to listen, read from go-plugin's environment variables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenConfig {
    pub socket_dir: PathBuf,
    pub socket_group: Option<String>,
    pub min_port: u16,
    pub max_port: u16,
}

impl ListenConfig {
    /// Reads `PLUGIN_UNIX_SOCKET_DIR`, `TMPDIR`, `PLUGIN_UNIX_SOCKET_GROUP`, `PLUGIN_MIN_PORT`,
    /// `PLUGIN_MAX_PORT`.
    pub fn from_env() -> Self {
        let var = |name: &str| std::env::var(name).ok().filter(|value| !value.is_empty());
        Self {
            socket_dir: std::env::var_os("PLUGIN_UNIX_SOCKET_DIR")
                .filter(|dir| !dir.is_empty())
                .map_or_else(std::env::temp_dir, PathBuf::from),
            socket_group: var("PLUGIN_UNIX_SOCKET_GROUP"),
            min_port: var("PLUGIN_MIN_PORT")
                .and_then(|port| port.parse().ok())
                .unwrap_or(10000),
            max_port: var("PLUGIN_MAX_PORT")
                .and_then(|port| port.parse().ok())
                .unwrap_or(25000),
        }
    }
}

/// The address announced in the handshake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListenAddress {
    Unix(PathBuf),
    Tcp(SocketAddr),
}

impl ListenAddress {
    /// go-plugin's network name: `unix` or `tcp`.
    pub fn network(&self) -> &'static str {
        match self {
            Self::Unix(_) => "unix",
            Self::Tcp(_) => "tcp",
        }
    }

    /// The address as the handshake spells it.
    pub fn address(&self) -> String {
        match self {
            Self::Unix(path) => path.display().to_string(),
            Self::Tcp(addr) => addr.to_string(),
        }
    }

    /// Removes the socket file (best effort; nothing to do for TCP).
    pub fn cleanup(&self) {
        if let Self::Unix(path) = self {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// A bound listener, ready to be served.
#[derive(Debug)]
pub enum PluginListener {
    Unix {
        listener: UnixListener,
        path: PathBuf,
    },
    Tcp {
        listener: TcpListener,
        addr: SocketAddr,
    },
}

impl PluginListener {
    pub fn address(&self) -> ListenAddress {
        match self {
            Self::Unix { path, .. } => ListenAddress::Unix(path.clone()),
            Self::Tcp { addr, .. } => ListenAddress::Tcp(*addr),
        }
    }
}

/// Binds a unix socket in `config.socket_dir`, else a TCP port on 127.0.0.1.
/// Must run inside a tokio runtime.
pub fn bind(config: &ListenConfig) -> Result<PluginListener> {
    match bind_unix(&config.socket_dir, config.socket_group.as_deref()) {
        Ok(listener) => Ok(listener),
        Err(unix) => {
            tracing::warn!(error = %unix, "no unix socket; falling back to TCP on 127.0.0.1");
            bind_tcp(config.min_port, config.max_port).map_err(|tcp| Error::NoListener {
                unix: Box::new(unix),
                min_port: config.min_port,
                max_port: config.max_port,
                tcp,
            })
        }
    }
}

/// `plugin<digits>`: random like go-plugin's temp names, so parallel plugin processes never clash.
fn socket_name() -> String {
    let random = RandomState::new().hash_one(std::process::id());
    format!("plugin{}", random % 10_000_000_000)
}

/// Binds a fresh unix socket in `dir`.
pub fn bind_unix(dir: &Path, group: Option<&str>) -> Result<PluginListener> {
    let mut last_error = String::from("no attempt made");
    for _ in 0..8 {
        let path = dir.join(socket_name());
        let unusable = |reason: String| Error::UnixSocket {
            path: path.clone(),
            reason,
        };
        let Some(text) = path.to_str() else {
            return Err(unusable("path is not UTF-8".into()));
        };
        if text.len() > MAX_SOCKET_PATH_BYTES {
            return Err(unusable(format!(
                "path is {} bytes, the limit is {MAX_SOCKET_PATH_BYTES}",
                text.len()
            )));
        }
        if text.contains('|') {
            return Err(unusable(
                "path contains '|', the handshake separator".into(),
            ));
        }
        match UnixListener::bind(&path) {
            Ok(listener) => {
                if let Some(group) = group
                    && let Err(reason) = hand_to_group(&path, group)
                {
                    let _ = std::fs::remove_file(&path);
                    return Err(unusable(reason));
                }
                return Ok(PluginListener::Unix { listener, path });
            }
            // Name taken (another plugin, a stale file): draw another name.
            Err(error) if error.kind() == ErrorKind::AddrInUse => last_error = error.to_string(),
            Err(error) => return Err(unusable(error.to_string())),
        }
    }
    Err(Error::UnixSocket {
        path: dir.to_owned(),
        reason: last_error,
    })
}

/// chgrp + chmod 0660, as go-plugin does for `PLUGIN_UNIX_SOCKET_GROUP` (a name or a numeric gid).
fn hand_to_group(path: &Path, group: &str) -> Result<(), String> {
    let gid = match group.parse::<u32>() {
        Ok(gid) => gid,
        Err(_) => lookup_group(group)?,
    };
    std::os::unix::fs::chown(path, None, Some(gid))
        .map_err(|error| format!("chown to group {group}: {error}"))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))
        .map_err(|error| format!("chmod 0660: {error}"))
}

fn lookup_group(name: &str) -> Result<u32, String> {
    let groups = std::fs::read_to_string("/etc/group")
        .map_err(|error| format!("reading /etc/group: {error}"))?;
    groups
        .lines()
        .filter_map(|line| {
            let mut parts = line.split(':');
            let group = parts.next()?;
            let gid = parts.nth(1)?.parse::<u32>().ok()?;
            (group == name).then_some(gid)
        })
        .next()
        .ok_or_else(|| format!("no group named {name:?} in /etc/group"))
}

/// Binds the first free port of `min..=max` on 127.0.0.1.
pub fn bind_tcp(min_port: u16, max_port: u16) -> Result<PluginListener, String> {
    if min_port > max_port {
        return Err(format!("empty port range {min_port}..={max_port}"));
    }
    let mut last_error = String::new();
    for port in min_port..=max_port {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        match std::net::TcpListener::bind(addr)
            .and_then(|listener| listener.set_nonblocking(true).map(|()| listener))
            .and_then(TcpListener::from_std)
        {
            Ok(listener) => return Ok(PluginListener::Tcp { listener, addr }),
            Err(error) => last_error = error.to_string(),
        }
    }
    Err(format!("no free port: {last_error}"))
}
