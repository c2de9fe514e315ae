//! Command-line entry point: plugin mode when Velero starts us, subcommands otherwise.
//!
//! Velero (through go-plugin) starts every binary in its plugin directory with the environment
//! variable `VELERO_PLUGIN=hello` and with argv it does not control for us: Velero ≥ 1.15 passes
//! all of its own `velero server` flags (`--features=EnableCSI --uploader-type=kopia …`, any flag
//! a future Velero adds), Velero ≤ 1.14 passes `--log-level <level> [--features <list>]`. Plugin
//! mode therefore never runs a strict argument parser: it only looks for `--log-level`
//! ([`parse_plugin_args`]) and ignores everything else.
//!
//! Without `VELERO_PLUGIN=hello` the binary is a normal command-line tool. New subcommands are
//! added as [`Command`] variants plus a match arm in [`Command::parse`] and [`run`].

use std::ffi::{OsStr, OsString};

use tracing::level_filters::LevelFilter;

use crate::{plugin, telemetry};

/// Environment variable and value go-plugin sets for Velero plugins (Velero's handshake cookie).
pub const PLUGIN_COOKIE_KEY: &str = "VELERO_PLUGIN";
/// See [`PLUGIN_COOKIE_KEY`].
pub const PLUGIN_COOKIE_VALUE: &str = "hello";

/// Exit code for "wrong usage" (no or unknown subcommand).
pub const EXIT_USAGE: i32 = 2;

/// Usage text shown when the binary is started by hand.
pub const USAGE: &str = "\
velero-fsb-guard is a Velero plugin (a RestoreItemAction named fsb-guard.io/template-guard).
Velero runs it itself; install it with:

    velero plugin add <image>

Usage: velero-fsb-guard <COMMAND>

Commands:
  check      Report, before a restore, which Deployments would roll out and kill file-system
             restores, and what the plugin does about it (check --help)
  install    install --to DIR: copy this binary into Velero's plugin directory
  help       Print this text
  version    Print the version

Options:
  -h, --help       Print this text
  -V, --version    Print the version
";

/// Runs the binary with the process's argv and environment; returns the exit code.
pub fn run() -> i32 {
    let args: Vec<OsString> = std::env::args_os().collect();
    if is_plugin_mode(std::env::var_os(PLUGIN_COOKIE_KEY).as_deref()) {
        return plugin::run(args, crate::guard::kube::plugin_action());
    }
    telemetry::init_cli();
    run_command(Command::parse(args.get(1..).unwrap_or_default()))
}

/// True when go-plugin's cookie says Velero started us.
pub fn is_plugin_mode(cookie: Option<&OsStr>) -> bool {
    cookie == Some(OsStr::new(PLUGIN_COOKIE_VALUE))
}

/// A command-line invocation outside plugin mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// No subcommand: explain that this is a Velero plugin, exit non-zero.
    Usage,
    /// `help`, `-h`, `--help`.
    Help,
    /// `version`, `-V`, `--version`.
    Version,
    /// `check …`: the offline check (arguments after `check`, parsed by [`crate::check::args`]).
    Check(Vec<OsString>),
    /// `install --to DIR`.
    Install(Option<std::path::PathBuf>),
    /// Anything we do not know.
    Unknown(String),
}

impl Command {
    /// Parses argv without the program name.
    pub fn parse(args: &[OsString]) -> Self {
        let Some(first) = args.first() else {
            return Self::Usage;
        };
        match first.to_string_lossy().as_ref() {
            "help" | "-h" | "--help" => Self::Help,
            "version" | "-V" | "--version" => Self::Version,
            "check" => Self::Check(args[1..].to_vec()),
            "install" => Self::Install(parse_install_dir(&args[1..])),
            other => Self::Unknown(other.to_owned()),
        }
    }
}

fn run_command(command: Command) -> i32 {
    use std::io::Write as _;
    // Outside plugin mode stdout is a terminal or a pipe the user owns; write errors are ignored
    // rather than panicking (print! would panic on EPIPE).
    let mut stdout = std::io::stdout().lock();
    let mut stderr = std::io::stderr().lock();
    match command {
        Command::Usage => {
            let _ = stderr.write_all(USAGE.as_bytes());
            EXIT_USAGE
        }
        Command::Help => {
            let _ = stdout.write_all(USAGE.as_bytes());
            0
        }
        Command::Version => {
            let _ = writeln!(stdout, "velero-fsb-guard {}", env!("CARGO_PKG_VERSION"));
            0
        }
        Command::Check(args) => crate::check::run(&args),
        Command::Install(Some(dir)) => match crate::install::install_to(&dir) {
            Ok(path) => {
                let _ = writeln!(stdout, "installed {}", path.display());
                0
            }
            Err(e) => {
                let _ = writeln!(stderr, "error: {e}");
                1
            }
        },
        Command::Install(None) => {
            let _ = writeln!(stderr, "usage: velero-fsb-guard install --to DIR");
            EXIT_USAGE
        }
        Command::Unknown(name) => {
            let _ = writeln!(stderr, "error: unknown command {name:?}\n");
            let _ = stderr.write_all(USAGE.as_bytes());
            EXIT_USAGE
        }
    }
}

/// `--to DIR` / `--to=DIR` of `install`; `None` when missing or anything else is given.
fn parse_install_dir(args: &[OsString]) -> Option<std::path::PathBuf> {
    match args {
        [flag, dir] if flag == "--to" => Some(dir.into()),
        [flag] => flag
            .to_str()
            .and_then(|f| f.strip_prefix("--to="))
            .filter(|d| !d.is_empty())
            .map(Into::into),
        _ => None,
    }
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
        match telemetry::level_from_velero(&value) {
            Some(level) => result.log_level = level,
            None => result.problems.push(format!(
                "unknown --log-level {value:?} (expected panic|fatal|error|warning|info|debug|trace); keeping {}",
                result.log_level
            )),
        }
    }
    result
}
