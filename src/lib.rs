#![forbid(unsafe_code)]
//! velero-fsb-guard: a Velero RestoreItemAction plugin that keeps file-system-backup restores alive
//! when resource modifiers change workload pod templates.

pub mod backup;
pub mod check;
pub mod cli;
pub mod cluster;
pub mod guard;
pub mod install;
