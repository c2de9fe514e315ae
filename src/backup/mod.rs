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
//! - [`download`]: `DownloadRequest` of kind `BackupContents` → signed URL → streamed into the index
//!   (once per restore: the guard's restore state keeps the objects).
//!
//! Which pod volumes hold FSB data is decided by `fsb_guard_core::fsb` (pure, shared by the plugin
//! and the offline check); resources are named by `fsb_guard_core::Resource`.

pub mod download;
mod error;
pub mod index;
pub mod local;
pub mod pvb;

pub use error::{Error, Result};
pub use index::{BackupIndex, IndexOptions, ItemKey};
pub use local::{BackupLayout, LocalBackup, open_local};
