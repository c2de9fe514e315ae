//! Hostile backup tarballs, as the backup download (or `check --backup`) could receive them:
//! path traversal, links, gzip bombs. The index never writes to disk; these tests show that such
//! entries can neither replace a kept item nor make the index follow a link, read without bound
//! or hold the inflated data. RELIABILITY.md lists these rows.

#[path = "backup_support/mod.rs"]
mod support;

use std::io::{self, Read as _, Write as _};

use flate2::Compression;
use flate2::write::GzEncoder;
use support::{deployment, gzip, sample};
use velero_fsb_guard::backup::index::{read_dir, read_tar_gz};
use velero_fsb_guard::backup::{Error, IndexOptions};

/// A tar entry header naming `path` verbatim: the tar crate's own path setter refuses `..`, a
/// hostile archive does not.
fn raw_header(path: &str, size: u64, kind: tar::EntryType) -> tar::Header {
    let mut header = tar::Header::new_gnu();
    let name = &mut header.as_gnu_mut().unwrap().name;
    assert!(path.len() < name.len(), "{path} fits the name field");
    name[..path.len()].copy_from_slice(path.as_bytes());
    header.set_size(size);
    header.set_mode(0o644);
    header.set_entry_type(kind);
    header.set_cksum();
    header
}

/// The sample backup, then `extra` entries (path, data) appended with verbatim names.
fn sample_with(extra: &[(&str, &[u8])]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    builder.append_data_raw(&sample().tar());
    for (path, data) in extra {
        let header = raw_header(path, data.len() as u64, tar::EntryType::Regular);
        builder.append(&header, *data).unwrap();
    }
    gzip(&builder.into_inner().unwrap(), Compression::default())
}

/// Appending another archive's entries (without its end-of-archive blocks).
trait AppendRaw {
    fn append_data_raw(&mut self, tar: &[u8]);
}

impl AppendRaw for tar::Builder<Vec<u8>> {
    fn append_data_raw(&mut self, tar: &[u8]) {
        let mut archive = tar::Archive::new(tar);
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            let mut header = entry.header().clone();
            let mut data = Vec::new();
            entry.read_to_end(&mut data).unwrap();
            header.set_cksum();
            self.append(&header, data.as_slice()).unwrap();
        }
    }
}

#[test]
fn traversal_entry_paths_never_replace_or_add_a_kept_item() {
    let evil = serde_json::to_vec(&deployment("shop", "web", "evil:1")).unwrap();
    let other = serde_json::to_vec(&deployment("shop", "other", "evil:1")).unwrap();
    let archive = sample_with(&[
        (
            "../resources/deployments.apps/namespaces/shop/web.json",
            &evil,
        ),
        (
            "resources/../resources/deployments.apps/namespaces/shop/web.json",
            &evil,
        ),
        (
            "resources/deployments.apps/namespaces/shop/../web.json",
            &evil,
        ),
        (
            "resources/deployments.apps/namespaces/../other.json",
            &other,
        ),
        ("resources/deployments.apps/namespaces/./other.json", &other),
        ("resources/deployments.apps/namespaces/shop/...json", &other),
    ]);
    let index = read_tar_gz(archive.as_slice(), &IndexOptions::workloads()).unwrap();
    assert_eq!(
        index.deployment("shop", "web").unwrap(),
        &deployment("shop", "web", "nginx:1")
    );
    // The kept items are exactly the sample's Deployment and ReplicaSet.
    assert_eq!(
        index.len(),
        2,
        "an entry outside resources/<gr>/namespaces/<ns>/ was kept"
    );
}

#[test]
fn link_entries_are_never_followed() {
    // web.json replaced by a symlink to a file outside, or a hard link to another entry.
    let mut builder = tar::Builder::new(Vec::new());
    builder.append_data_raw(&support::BackupBuilder::velero().tar());
    for (kind, target) in [
        (tar::EntryType::Symlink, "/etc/passwd"),
        (tar::EntryType::Link, "metadata/version"),
        (tar::EntryType::Symlink, "/dev/zero"),
    ] {
        let mut header = raw_header(
            "resources/deployments.apps/namespaces/shop/web.json",
            0,
            kind,
        );
        header.set_link_name(target).unwrap();
        header.set_cksum();
        builder.append(&header, io::empty()).unwrap();
    }
    let archive = gzip(&builder.into_inner().unwrap(), Compression::default());
    let index = read_tar_gz(archive.as_slice(), &IndexOptions::workloads()).unwrap();
    assert_eq!(index.len(), 0);
    assert!(index.deployment("shop", "web").is_none());
}

#[test]
fn an_extracted_backup_with_a_link_to_an_endless_file_or_a_fifo_is_read_to_the_end() {
    let dir = tempfile::tempdir().unwrap();
    sample().extract_to(dir.path());
    let ns = dir
        .path()
        .join("resources/deployments.apps/namespaces/shop");
    std::os::unix::fs::symlink("/dev/zero", ns.join("zero.json")).unwrap();
    let fifo = ns.join("fifo.json");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let index = read_dir(dir.path(), &IndexOptions::workloads()).unwrap();
    assert_eq!(index.len(), 2);
}

/// A gzip stream of `entries` (path, bytes of zeros) after the sample's entries.
fn bomb(entries: &[(&str, u64)]) -> Vec<u8> {
    let mut builder = tar::Builder::new(GzEncoder::new(Vec::new(), Compression::best()));
    let sample = sample().tar();
    let mut archive = tar::Archive::new(sample.as_slice());
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let header = entry.header().clone();
        let mut data = Vec::new();
        entry.read_to_end(&mut data).unwrap();
        builder.append(&header, data.as_slice()).unwrap();
    }
    for (path, size) in entries {
        let header = raw_header(path, *size, tar::EntryType::Regular);
        builder
            .append(&header, io::repeat(b' ').take(*size))
            .unwrap();
    }
    let mut gz = builder.into_inner().unwrap();
    gz.flush().unwrap();
    gz.finish().unwrap()
}

const INFLATED: u64 = 64 << 20;

#[test]
fn a_gzip_bomb_in_a_kept_entry_is_refused_by_its_size_before_it_is_inflated() {
    let archive = bomb(&[(
        "resources/deployments.apps/namespaces/shop/bomb.json",
        INFLATED,
    )]);
    assert!(
        (archive.len() as u64) * 500 < INFLATED,
        "{} bytes is no bomb",
        archive.len()
    );
    let err = read_tar_gz(archive.as_slice(), &IndexOptions::workloads()).unwrap_err();
    match &err {
        Error::EntryTooLarge { entry, size, limit } => {
            assert_eq!(
                entry,
                "resources/deployments.apps/namespaces/shop/bomb.json"
            );
            assert_eq!(*size, INFLATED);
            assert_eq!(*limit, IndexOptions::DEFAULT_MAX_ENTRY_BYTES);
        }
        other => panic!("expected EntryTooLarge, got {other}"),
    }
    assert!(err.to_string().contains("bomb.json"), "{err}");
}

#[test]
fn a_gzip_bomb_in_an_entry_the_index_does_not_keep_is_streamed_past() {
    let archive = bomb(&[
        ("resources/pods/namespaces/shop/bomb.json", INFLATED),
        ("resources/secrets/namespaces/shop/bomb.json", INFLATED),
    ]);
    assert!((archive.len() as u64) * 500 < 2 * INFLATED);
    let index = read_tar_gz(archive.as_slice(), &IndexOptions::workloads()).unwrap();
    assert_eq!(index.len(), 2);
    assert!(index.kept_bytes() < 4096, "{}", index.kept_bytes());
    assert_eq!(index.resource_counts().get("secrets"), Some(&1));
}

#[test]
fn an_entry_cut_short_inside_a_complete_gzip_stream_is_an_error_naming_it() {
    // The header claims 1 KiB, the archive ends after 8 bytes of it (no end-of-archive blocks),
    // and the gzip stream around it is complete: only the entry itself shows the cut.
    let mut tar = sample().tar();
    tar.truncate(tar.len() - 1024); // drop the end-of-archive blocks
    let header = raw_header(
        "resources/deployments.apps/namespaces/shop/x.json",
        1024,
        tar::EntryType::Regular,
    );
    tar.extend_from_slice(header.as_bytes());
    tar.extend_from_slice(b"{\"kind\":");
    let archive = gzip(&tar, Compression::default());
    let err = read_tar_gz(archive.as_slice(), &IndexOptions::workloads()).unwrap_err();
    match &err {
        Error::BadJson { entry, .. } => {
            assert_eq!(entry, "resources/deployments.apps/namespaces/shop/x.json")
        }
        other => panic!("expected BadJson naming the entry, got {other}"),
    }
}

/// `len` bytes from a fixed-seed generator (xorshift): random, and the same on every run.
fn noise(len: usize, mut seed: u64) -> Vec<u8> {
    (0..len)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 32) as u8
        })
        .collect()
}

#[test]
fn random_bytes_are_refused_on_one_printable_line() {
    for seed in 1..=64u64 {
        let mut bytes = noise(64 * 1024, seed);
        if seed % 2 == 0 {
            // Half of them carry the gzip magic: the gzip layer refuses them instead.
            bytes[..2].copy_from_slice(&[0x1f, 0x8b]);
        }
        let err = velero_fsb_guard::backup::index::read_archive(
            bytes.as_slice(),
            &IndexOptions::workloads(),
        )
        .unwrap_err();
        let message = err.to_string();
        assert!(
            !message.chars().any(char::is_control),
            "seed {seed}: {message:?}"
        );
    }
}
