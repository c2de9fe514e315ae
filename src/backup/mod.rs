//! Reading Velero backups: the streaming item index, the PodVolumeBackup list, the FSB volume matcher
//! and the in-cluster `DownloadRequest` flow.
//!
//! Layout facts (Velero `pkg/archive`, `pkg/backup`): a backup tarball holds `metadata/version` and
//! items under `resources/<group-resource>/namespaces/<ns>/<name>.json`; items backed up in their
//! preferred version are written a second time under `resources/<gr>/<version>-preferredversion/…`.
//! Velero restores from the unversioned path, so that is the only copy we keep.
//!
//! Module map:
//! - [`index`]: one-pass streaming index over a `.tar.gz`/`.tar` reader or an extracted directory.
//! - [`local`]: opens what `velero-fsb-guard check --backup` is given (tarball, directory, bucket folder).
//! - [`pvb`]: reads a PodVolumeBackup list (`<backup>-podvolumebackups.json.gz` or plain JSON).
//! - [`fsb_volumes`]: pure, I/O-free matching of PodVolumeBackups to pods as Velero does it; the guard
//!   and the offline check share it.
//! - [`download`]: `DownloadRequest` of kind `BackupContents` → signed URL → streamed into the index,
//!   once per process.

pub mod download;
mod error;
pub mod fsb_volumes;
pub mod index;
pub mod local;
pub mod pvb;

pub use error::{Error, Result};
pub use index::{BackupIndex, IndexOptions, ItemKey};
pub use local::{BackupLayout, LocalBackup, open_local};

/// Group-resource of Deployments as written in backup paths and used by resource-modifier rules.
pub const DEPLOYMENTS: &str = "deployments.apps";
/// Group-resource of ReplicaSets.
pub const REPLICA_SETS: &str = "replicasets.apps";
/// Group-resource of pods (core group: no suffix).
pub const PODS: &str = "pods";
/// Group-resource of StatefulSets.
pub const STATEFUL_SETS: &str = "statefulsets.apps";
/// Group-resource of DaemonSets.
pub const DAEMON_SETS: &str = "daemonsets.apps";
/// Group-resource of ControllerRevisions (StatefulSet and DaemonSet history).
pub const CONTROLLER_REVISIONS: &str = "controllerrevisions.apps";
