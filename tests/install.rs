//! `install --to DIR` behaviour: success, missing directory, unwritable directory.
//!
//! Unwritable directory while running as root: mode bits do not stop root, so the test makes the
//! directory immutable with `chattr +i` (ext4/xfs/btrfs; root gets EPERM on create). If chattr is not
//! usable (tmpfs, no CAP_LINUX_IMMUTABLE), it falls back to chmod 0555, which stops non-root users.
//! A second test uses /sys, which the kernel never lets anyone create files in (EACCES, or EROFS
//! where sysfs is mounted read-only), whatever the privileges.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use velero_fsb_guard::install::{BINARY_NAME, InstallError, install_file, install_to};

fn running_binary() -> PathBuf {
    std::env::current_exe().unwrap()
}

fn leftovers(dir: &Path) -> Vec<String> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != BINARY_NAME)
        .collect()
}

#[test]
fn installs_running_binary_with_mode_0755() {
    let tmp = tempfile::tempdir().unwrap();
    let installed = install_to(tmp.path()).unwrap();
    assert_eq!(installed, tmp.path().join(BINARY_NAME));
    let meta = fs::metadata(&installed).unwrap();
    assert!(meta.is_file());
    assert_eq!(meta.permissions().mode() & 0o7777, 0o755);
    assert_eq!(
        fs::read(&installed).unwrap(),
        fs::read(running_binary()).unwrap()
    );
    assert!(
        leftovers(tmp.path()).is_empty(),
        "temporary files left: {:?}",
        leftovers(tmp.path())
    );
}

#[test]
fn replaces_an_existing_binary() {
    let tmp = tempfile::tempdir().unwrap();
    let target = tmp.path().join(BINARY_NAME);
    fs::write(&target, b"old plugin").unwrap();
    fs::set_permissions(&target, fs::Permissions::from_mode(0o600)).unwrap();
    let source = tmp.path().join("new-build");
    fs::write(&source, b"\x7fELF new plugin").unwrap();

    install_file(&source, tmp.path()).unwrap();

    assert_eq!(fs::read(&target).unwrap(), b"\x7fELF new plugin");
    assert_eq!(
        fs::metadata(&target).unwrap().permissions().mode() & 0o7777,
        0o755
    );
    assert_eq!(leftovers(tmp.path()), vec!["new-build".to_string()]);
}

#[test]
fn missing_dir_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("plugins");
    let err = install_to(&dir).unwrap_err();
    assert!(matches!(err, InstallError::MissingDir { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains(&dir.display().to_string()) && msg.contains("does not exist"),
        "{msg}"
    );
    assert!(!dir.exists(), "install must not create the directory");
}

#[test]
fn file_instead_of_dir_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let not_dir = tmp.path().join("plugins");
    fs::write(&not_dir, b"").unwrap();
    let err = install_to(&not_dir).unwrap_err();
    assert!(matches!(err, InstallError::NotADirectory { .. }), "{err:?}");
    assert!(err.to_string().contains("not a directory"));
}

/// Makes a directory unwritable for the current user and undoes it on drop.
struct Unwritable {
    dir: PathBuf,
    immutable: bool,
}

impl Unwritable {
    fn new(dir: &Path) -> Self {
        let immutable = Command::new("chattr")
            .arg("+i")
            .arg(dir)
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
        if !immutable {
            fs::set_permissions(dir, fs::Permissions::from_mode(0o555)).unwrap();
        }
        Unwritable {
            dir: dir.to_owned(),
            immutable,
        }
    }

    /// True when creating a file in the directory really fails for this process.
    fn is_effective(&self) -> bool {
        let probe = self.dir.join("probe");
        match fs::write(&probe, b"") {
            Ok(()) => {
                let _ = fs::remove_file(&probe);
                false
            }
            Err(_) => true,
        }
    }
}

impl Drop for Unwritable {
    fn drop(&mut self) {
        if self.immutable {
            let _ = Command::new("chattr").arg("-i").arg(&self.dir).status();
        } else {
            let _ = fs::set_permissions(&self.dir, fs::Permissions::from_mode(0o755));
        }
    }
}

#[test]
fn read_only_dir_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("plugins");
    fs::create_dir(&dir).unwrap();
    let guard = Unwritable::new(&dir);
    if !guard.is_effective() {
        // Root on a filesystem without chattr support: nothing here can make the directory
        // unwritable; the /sys test below still covers the error path.
        eprintln!(
            "skipping: cannot make {} unwritable (immutable={})",
            dir.display(),
            guard.immutable
        );
        return;
    }
    eprintln!(
        "made {} unwritable with {}",
        dir.display(),
        if guard.immutable {
            "chattr +i"
        } else {
            "chmod 0555"
        }
    );
    let err = install_to(&dir).unwrap_err();
    assert!(matches!(err, InstallError::NotWritable { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains(&dir.display().to_string()) && msg.contains("not writable"),
        "{msg}"
    );
    drop(guard);
    assert!(leftovers(&dir).is_empty() && !dir.join(BINARY_NAME).exists());
}

#[test]
fn kernel_read_only_dir_is_a_clear_error() {
    let sys = Path::new("/sys");
    if !sys.is_dir() {
        eprintln!("skipping: no /sys");
        return;
    }
    let err = install_to(sys).unwrap_err();
    assert!(matches!(err, InstallError::NotWritable { .. }), "{err:?}");
    assert!(err.to_string().contains("/sys"));
}
