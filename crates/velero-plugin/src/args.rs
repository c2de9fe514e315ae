//! What a plugin process reads from its environment and argv before it serves.
//!
//! Velero (through go-plugin) starts every binary in its plugin directory with the environment
//! variable `VELERO_PLUGIN=hello` and with argv it does not control for us: Velero ≥ 1.15 passes
//! all of its own `velero server` flags (`--features=EnableCSI --uploader-type=kopia …`, any flag
//! a future Velero adds), Velero ≤ 1.14 passes `--log-level <level> [--features <list>]`. Plugin
//! mode therefore never runs a strict argument parser: it only looks for `--log-level`
//! ([`parse_plugin_args`]) and ignores everything else.

use std::ffi::OsStr;

use tracing::level_filters::LevelFilter;

use crate::logging;

/// Environment variable and value go-plugin sets for Velero plugins (Velero's handshake cookie).
pub const PLUGIN_COOKIE_KEY: &str = "VELERO_PLUGIN";
/// See [`PLUGIN_COOKIE_KEY`].
pub const PLUGIN_COOKIE_VALUE: &str = "hello";

/// True when go-plugin's cookie says Velero started us.
pub fn is_plugin_mode(cookie: Option<&OsStr>) -> bool {
    cookie == Some(OsStr::new(PLUGIN_COOKIE_VALUE))
}

/// What plugin mode takes from argv.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginArgs {
    /// Emit threshold from `--log-level` (default info).
    pub log_level: LevelFilter,
    /// Problems worth a warning once logging is up (e.g. an unknown level name).
    pub problems: Vec<String>,
}

/// Finds `--log-level` in argv (without the program name) the way Velero's flag parser would
/// read it, ignoring every other flag.
///
/// Accepted spellings: `--log-level X`, `--log-level=X` (and the single-dash forms Go flag
/// packages also accept). The last occurrence wins, like repeated flags in pflag. Parsing stops at
/// `--`. Unknown flags in any form (`--x=v`, `--x v`, bare `--x`) are skipped; because `--x v`
/// cannot be told apart from `--x` followed by a positional, only tokens that are exactly
/// `--log-level`/`-log-level` are ever treated as our flag.
pub fn parse_plugin_args<I, S>(args: I) -> PluginArgs
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut result = PluginArgs {
        log_level: LevelFilter::INFO,
        problems: Vec::new(),
    };
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let arg = arg.as_ref().to_string_lossy().into_owned();
        if arg == "--" {
            break;
        }
        let Some(flag) = arg.strip_prefix("--").or_else(|| arg.strip_prefix('-')) else {
            continue;
        };
        let value = if flag == "log-level" {
            match args.next() {
                Some(value) => value.as_ref().to_string_lossy().into_owned(),
                None => {
                    result
                        .problems
                        .push("--log-level given without a value; using info".into());
                    continue;
                }
            }
        } else if let Some(value) = flag.strip_prefix("log-level=") {
            value.to_owned()
        } else {
            continue;
        };
        match logging::level_from_velero(&value) {
            Some(level) => result.log_level = level,
            None => result.problems.push(format!(
                "unknown --log-level {value:?} (expected panic|fatal|error|warning|info|debug|trace); keeping {}",
                result.log_level
            )),
        }
    }
    result
}
