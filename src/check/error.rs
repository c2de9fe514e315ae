//! Errors of the offline check. Each names what failed and where (file, entry, line and column).

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The backup could not be read (message from the backup reader names the entry).
    #[error("backup {path}: {source}")]
    Backup {
        path: String,
        #[source]
        source: crate::backup::Error,
    },
    /// The resource-modifier file is not usable.
    #[error("resource modifiers {path}: {message}")]
    Rules { path: String, message: String },
    /// The guard could not evaluate a workload.
    #[error("Deployment {workload}: {source}")]
    Guard {
        workload: String,
        #[source]
        source: fsb_guard_core::Error,
    },
    /// Writing an output failed.
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// An input file is larger than `check` reads for it (a device or FIFO never ends).
    #[error("{path}: more than {limit} bytes, the most `check` reads for {what}")]
    TooLarge {
        path: PathBuf,
        limit: u64,
        what: &'static str,
    },
    /// `--target-workloads` is neither JSON nor YAML.
    #[error("target workloads {path}: {message}")]
    Manifests { path: PathBuf, message: String },
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
