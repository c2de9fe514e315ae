//! Opens a backup given on the command line: the `.tar.gz` from `velero backup download`, an
//! extracted backup directory, or a copy of the bucket folder `backups/<name>/` (Velero's object
//! layout, `pkg/persistence/object_store_layout.go`: `velero-backup.json`, `<name>.tar.gz`,
//! `<name>-podvolumebackups.json.gz`, …).

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::error::{Error, Result};
use super::index::{self, BackupIndex, IndexOptions};

/// Which kind of input was recognised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackupLayout {
    /// A `.tar.gz` (or plain `.tar`) file.
    Archive,
    /// An extracted tarball: `metadata/version` and `resources/` at its root.
    Directory,
    /// A copy of the object-store folder `backups/<name>/`.
    BucketFolder,
}

/// A backup read from the local file system.
#[derive(Debug, Clone)]
pub struct LocalBackup {
    pub layout: BackupLayout,
    /// Backup name, when known (bucket folder: `velero-backup.json` or the folder name).
    pub name: Option<String>,
    /// The Backup object from `velero-backup.json` (bucket folder only).
    pub backup: Option<Value>,
    pub index: BackupIndex,
    /// The bucket folder's `<name>-podvolumebackups.json.gz`, when present.
    pub pod_volume_backups_file: Option<PathBuf>,
}

/// Progress callback for long reads: (compressed bytes read so far, total bytes of the file).
pub type Progress<'a> = &'a mut dyn FnMut(u64, u64);

/// Opens `path` as whichever of the three layouts it is.
pub fn open_local(path: &Path, opts: &IndexOptions) -> Result<LocalBackup> {
    open_local_with_progress(path, opts, &mut |_, _| {})
}

/// Like [`open_local`], reporting progress while an archive is streamed.
pub fn open_local_with_progress(
    path: &Path,
    opts: &IndexOptions,
    progress: Progress<'_>,
) -> Result<LocalBackup> {
    let meta = std::fs::metadata(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    if meta.is_file() {
        return Ok(LocalBackup {
            layout: BackupLayout::Archive,
            name: None,
            backup: None,
            index: read_archive_file(path, opts, progress)?,
            pod_volume_backups_file: None,
        });
    }
    if path.join("metadata").join("version").is_file() || path.join("resources").is_dir() {
        return Ok(LocalBackup {
            layout: BackupLayout::Directory,
            name: None,
            backup: None,
            index: index::read_dir(path, opts)?,
            pod_volume_backups_file: None,
        });
    }
    open_bucket_folder(path, opts, progress)
}

fn open_bucket_folder(
    path: &Path,
    opts: &IndexOptions,
    progress: Progress<'_>,
) -> Result<LocalBackup> {
    let backup_json = path.join("velero-backup.json");
    let backup: Option<Value> = if backup_json.is_file() {
        let text = std::fs::read(&backup_json).map_err(|source| Error::Io {
            path: backup_json.clone(),
            source,
        })?;
        Some(
            serde_json::from_slice(&text).map_err(|source| Error::BadJson {
                entry: backup_json.display().to_string(),
                source,
            })?,
        )
    } else {
        None
    };
    let from_backup = backup
        .as_ref()
        .and_then(|b| b.pointer("/metadata/name"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    let from_folder = path.file_name().map(|n| n.to_string_lossy().into_owned());
    let name = from_backup
        .or(from_folder)
        .ok_or_else(|| Error::UnrecognisedInput {
            path: path.to_path_buf(),
            reason: "cannot tell the backup name".into(),
        })?;
    let tarball = path.join(format!("{name}.tar.gz"));
    if !tarball.is_file() {
        return Err(Error::UnrecognisedInput {
            path: path.to_path_buf(),
            reason: format!(
                "no metadata/version (extracted backup) and no {name}.tar.gz (bucket folder)"
            ),
        });
    }
    let pvbs = path.join(format!("{name}-podvolumebackups.json.gz"));
    Ok(LocalBackup {
        layout: BackupLayout::BucketFolder,
        index: read_archive_file(&tarball, opts, progress)?,
        name: Some(name),
        backup,
        pod_volume_backups_file: pvbs.is_file().then_some(pvbs),
    })
}

fn read_archive_file(
    path: &Path,
    opts: &IndexOptions,
    progress: Progress<'_>,
) -> Result<BackupIndex> {
    let io_err = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = File::open(path).map_err(io_err)?;
    let total = file.metadata().map_err(io_err)?.len();
    let counting = CountingReader {
        inner: file,
        read: 0,
        total,
        progress,
    };
    index::read_archive(counting, opts)
}

/// Reports bytes consumed from the underlying file.
struct CountingReader<'p, R> {
    inner: R,
    read: u64,
    total: u64,
    progress: Progress<'p>,
}

impl<R: Read> Read for CountingReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        (self.progress)(self.read, self.total);
        Ok(n)
    }
}
