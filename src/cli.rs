//! Command-line entry point: plugin mode when Velero starts us (go-plugin's cookie, see
//! [`velero_plugin::args`]), subcommands otherwise.
//!
//! Without `VELERO_PLUGIN=hello` the binary is a normal command-line tool. New subcommands are
//! added as [`Command`] variants plus a match arm in [`Command::parse`] and [`run`].

use std::ffi::OsString;

use velero_plugin::args::{PLUGIN_COOKIE_KEY, is_plugin_mode};

use crate::guard::{self, TemplateGuard};

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
        let guard = TemplateGuard::for_the_live_cluster(args.get(1..).unwrap_or_default());
        return velero_plugin::run(args, guard::NAME, guard);
    }
    init_logging();
    run_command(Command::parse(args.get(1..).unwrap_or_default()))
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

/// Human-readable logging on stderr for command-line use (`RUST_LOG`, default info); plugin mode
/// logs hclog JSON lines instead ([`velero_plugin::logging`]).
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(filter)
        .try_init();
}
