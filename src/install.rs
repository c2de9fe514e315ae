//! `install --to DIR`: copy the running binary into Velero's plugin directory.
//!
//! The container image is `FROM scratch` (no shell, no `cp`), so the image's entrypoint is the
//! binary itself, run as an init container of the Velero Deployment with the shared plugins volume
//! mounted at DIR. Velero executes every file in its plugin directory, so a half-written binary must
//! never appear under the final name: we write a temporary file in DIR and rename it into place
//! (rename is atomic within one filesystem, which is why the temporary file lives in DIR too).

use std::fs::{self, File, OpenOptions};
use std::io::{self, ErrorKind, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// File name of the installed plugin binary inside the target directory.
pub const BINARY_NAME: &str = "velero-fsb-guard";

/// Mode of the installed binary: executable by Velero whatever user it runs as.
const BINARY_MODE: u32 = 0o755;

#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    #[error("cannot locate the running binary: {0}")]
    CurrentExe(#[source] io::Error),
    #[error("cannot read {path}: {source}")]
    ReadSource { path: PathBuf, source: io::Error },
    #[error("target directory {dir} does not exist (mount Velero's plugins volume there)")]
    MissingDir { dir: PathBuf },
    #[error("target {dir} is not a directory")]
    NotADirectory { dir: PathBuf },
    #[error("target directory {dir} is not writable: {source}")]
    NotWritable { dir: PathBuf, source: io::Error },
    #[error("cannot write {path}: {source}")]
    Write { path: PathBuf, source: io::Error },
    #[error("cannot copy {from} to {to}: {source}")]
    Copy {
        from: PathBuf,
        to: PathBuf,
        source: io::Error,
    },
}

pub type Result<T, E = InstallError> = std::result::Result<T, E>;

/// Copies the running binary to `dir/velero-fsb-guard` (mode 0755, atomically) and returns the
/// installed path.
pub fn install_to(dir: &Path) -> Result<PathBuf> {
    let exe = std::env::current_exe().map_err(InstallError::CurrentExe)?;
    install_file(&exe, dir)
}

/// Copies `source` to `dir/velero-fsb-guard` (mode 0755, atomically) and returns the installed path.
pub fn install_file(source: &Path, dir: &Path) -> Result<PathBuf> {
    check_dir(dir)?;
    let mut input = File::open(source).map_err(|e| InstallError::ReadSource {
        path: source.to_owned(),
        source: e,
    })?;
    let target = dir.join(BINARY_NAME);
    let (tmp_path, mut tmp) = create_temp(dir)?;
    // From here on every failure must remove the temporary file: Velero would try to run it.
    let written = (|| {
        let copy_error = |e| InstallError::Copy {
            from: source.to_owned(),
            to: tmp_path.clone(),
            source: e,
        };
        io::copy(&mut input, &mut tmp).map_err(copy_error)?;
        tmp.flush().map_err(copy_error)?;
        let write_error = |e| InstallError::Write {
            path: tmp_path.clone(),
            source: e,
        };
        // The mode given at creation is filtered by the umask; set it explicitly.
        tmp.set_permissions(fs::Permissions::from_mode(BINARY_MODE))
            .map_err(write_error)?;
        tmp.sync_all().map_err(write_error)?;
        drop(tmp);
        fs::rename(&tmp_path, &target).map_err(|e| InstallError::Write {
            path: target.clone(),
            source: e,
        })
    })();
    if let Err(err) = written {
        let _ = fs::remove_file(&tmp_path);
        return Err(err);
    }
    // Persist the rename itself; failure here does not undo a completed install.
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    tracing::info!(path = %target.display(), "installed plugin binary");
    Ok(target)
}

fn check_dir(dir: &Path) -> Result<()> {
    match fs::metadata(dir) {
        Ok(meta) if meta.is_dir() => Ok(()),
        Ok(_) => Err(InstallError::NotADirectory {
            dir: dir.to_owned(),
        }),
        Err(e) if e.kind() == ErrorKind::NotFound => Err(InstallError::MissingDir {
            dir: dir.to_owned(),
        }),
        Err(e) if e.kind() == ErrorKind::NotADirectory => Err(InstallError::NotADirectory {
            dir: dir.to_owned(),
        }),
        Err(e) => Err(InstallError::NotWritable {
            dir: dir.to_owned(),
            source: e,
        }),
    }
}

/// Creates a fresh temporary file in `dir`. Never reuses an existing file (a stale one might be
/// another installer's work in progress).
fn create_temp(dir: &Path) -> Result<(PathBuf, File)> {
    let pid = std::process::id();
    for attempt in 0..100u32 {
        let path = dir.join(format!(".{BINARY_NAME}.{pid}.{attempt}.tmp"));
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
        {
            Ok(file) => return Ok((path, file)),
            Err(e) if e.kind() == ErrorKind::AlreadyExists => continue,
            Err(e) if is_not_writable(&e) => {
                return Err(InstallError::NotWritable {
                    dir: dir.to_owned(),
                    source: e,
                });
            }
            Err(e) => return Err(InstallError::Write { path, source: e }),
        }
    }
    Err(InstallError::Write {
        path: dir.join(format!(".{BINARY_NAME}.{pid}.*.tmp")),
        source: io::Error::new(ErrorKind::AlreadyExists, "no free temporary file name"),
    })
}

fn is_not_writable(e: &io::Error) -> bool {
    // EACCES and EPERM (immutable directory) map to PermissionDenied, EROFS to ReadOnlyFilesystem.
    matches!(
        e.kind(),
        ErrorKind::PermissionDenied | ErrorKind::ReadOnlyFilesystem
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_dir_is_reported_by_name() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("nope");
        let err = install_file(Path::new("/proc/self/exe"), &dir).unwrap_err();
        assert!(matches!(err, InstallError::MissingDir { .. }), "{err:?}");
        assert!(err.to_string().contains("nope"));
    }
}
