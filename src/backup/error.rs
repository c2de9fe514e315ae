use std::path::PathBuf;

/// Everything that can go wrong while reading a backup from a stream, a directory or a file.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the backup stream is not gzip-compressed data (expected a Velero .tar.gz)")]
    NotGzip,
    #[error("the backup's gzip stream is truncated (the download or copy is incomplete): {0}")]
    TruncatedGzip(String),
    #[error("the backup's gzip stream is corrupt: {0}")]
    CorruptGzip(String),
    #[error("the backup is not a tar archive: {0}")]
    NotTar(String),
    #[error("cannot read the backup stream: {0}")]
    Read(String),
    #[error("not a Velero backup: no metadata/version entry{0}")]
    NotVeleroBackup(String),
    #[error(
        "unsupported Velero backup format version {found:?} in metadata/version (known: 1, 1.1.0)"
    )]
    UnsupportedFormatVersion { found: String },
    #[error("backup entry {entry} is not valid JSON: {source}")]
    BadJson {
        entry: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("backup entry {entry} is not a JSON object")]
    NotAnObject { entry: String },
    #[error("backup entry {entry} is {size} bytes, above the {limit}-byte limit per entry")]
    EntryTooLarge {
        entry: String,
        size: u64,
        limit: u64,
    },
    #[error(
        "the kept backup items exceed the {limit}-byte limit (reached at entry {entry}); raise the limit or narrow the input"
    )]
    TooLarge { entry: String, limit: u64 },
    #[error(
        "{path} is neither a backup tarball, an extracted backup directory nor a bucket folder: {reason}"
    )]
    UnrecognisedInput { path: PathBuf, reason: String },
    #[error("PodVolumeBackup list {source_name}: {reason}")]
    BadPodVolumeBackups { source_name: String, reason: String },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
