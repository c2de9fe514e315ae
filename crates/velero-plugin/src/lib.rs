#![forbid(unsafe_code)]
//! Serve a [Velero](https://velero.io) RestoreItemAction (v2) from a Rust binary.
//!
//! Velero loads plugins through HashiCorp's go-plugin: it starts every binary in its plugin
//! directory with `VELERO_PLUGIN=hello`, reads one handshake line from stdout, dials the announced
//! socket and speaks gRPC. This crate is that transport, so a plugin is one type implementing
//! [`RestoreItemAction`] and a `main` that hands it to [`run`]:
//!
//! ```no_run
//! use velero_plugin::{ActionError, ExecuteInput, ExecuteOutput, ResourceSelector, RestoreItemAction};
//!
//! struct KeepEverything;
//!
//! impl RestoreItemAction for KeepEverything {
//!     fn applies_to(&self) -> ResourceSelector {
//!         ResourceSelector::resources(["pods"])
//!     }
//!     async fn execute(&self, input: ExecuteInput) -> Result<ExecuteOutput, ActionError> {
//!         Ok(ExecuteOutput::unchanged(input.item))
//!     }
//! }
//!
//! fn main() {
//!     let args: Vec<_> = std::env::args_os().collect();
//!     std::process::exit(velero_plugin::run(args, "example.io/keep-everything", KeepEverything));
//! }
//! ```
//!
//! What the crate takes care of (each module states the Velero-side contract it follows):
//!
//! - [`args`]: go-plugin's cookie and the `--log-level` Velero passes (every other server flag is
//!   ignored);
//! - [`handshake`], [`listener`]: protocol version check, a unix socket (TCP on 127.0.0.1 as the
//!   fallback), the one stdout line;
//! - [`server`]: Velero's `PluginLister` and `v2.RestoreItemAction`, go-plugin's controller,
//!   stdio, broker and health services;
//! - [`restore_item_action`]: request decoding (after asking the action whether it leaves the
//!   item as sent, [`RestoreItemAction::leaves_unchanged`], which skips it), error-to-status
//!   mapping, panics answered instead of killing the process;
//! - [`logging`]: hclog JSON lines on stderr, the shape Velero parses into `velero restore logs`;
//! - [`run`]: the process from start to exit, Shutdown and signals included.
//!
//! `examples/add_annotation.rs` is a complete plugin in forty lines.

pub mod action;
pub mod args;
pub mod controller;
pub mod error;
pub mod handshake;
pub mod listener;
pub mod lister;
pub mod logging;
pub mod proto;
pub mod restore_item_action;
mod run;
pub mod server;
pub mod stdio_broker;

pub use action::{
    ActionError, AdditionalItem, ExecuteInput, ExecuteOutput, OperationProgress, PassThrough,
    RawExecuteInput, ResourceSelector, RestoreItemAction,
};
pub use run::{SHUTDOWN_GRACE, run};
