//! The streaming backup index over generated Velero-layout backups.

#[path = "backup_support/mod.rs"]
mod support;

use flate2::Compression;
use fsb_guard_core::Resource;
use serde_json::json;
use support::{BackupBuilder, deployment, gzip, replica_set, sample};
use velero_fsb_guard::backup::index::{read_archive, read_dir, read_tar, read_tar_gz};
use velero_fsb_guard::backup::{BackupLayout, Error, IndexOptions, open_local};

#[test]
fn keeps_unversioned_deployments_and_replicasets_only() {
    let index = read_tar_gz(sample().tar_gz().as_slice(), &IndexOptions::workloads()).unwrap();
    assert_eq!(index.format_version(), "1.1.0");
    assert_eq!(index.len(), 2);
    assert_eq!(
        index.deployment("shop", "web").unwrap(),
        &deployment("shop", "web", "nginx:1")
    );
    assert_eq!(
        index.replica_set("shop", "web-5d4f8c7b9").unwrap(),
        &replica_set("shop", "web", "5d4f8c7b9", "nginx:1")
    );
    assert!(index.pod("shop", "web-5d4f8c7b9-abcde").is_none());
    // Every unversioned item is counted, kept or not; the preferred-version copies are not.
    let counts = index.resource_counts();
    assert_eq!(counts.get(Resource::DEPLOYMENTS.group_resource()), Some(&1));
    assert_eq!(counts.get(Resource::PODS.group_resource()), Some(&1));
    assert_eq!(counts.get("configmaps"), Some(&1));
    assert_eq!(counts.get("namespaces"), Some(&1));
    let kept: u64 = [
        serde_json::to_vec(&deployment("shop", "web", "nginx:1"))
            .unwrap()
            .len(),
        serde_json::to_vec(&replica_set("shop", "web", "5d4f8c7b9", "nginx:1"))
            .unwrap()
            .len(),
    ]
    .iter()
    .map(|n| *n as u64)
    .sum();
    assert_eq!(index.kept_bytes(), kept);
}

#[test]
fn pods_are_kept_when_asked() {
    let index = read_tar_gz(
        sample().tar_gz().as_slice(),
        &IndexOptions::workloads().with_pods(),
    )
    .unwrap();
    assert_eq!(index.len(), 3);
    assert!(index.pod("shop", "web-5d4f8c7b9-abcde").is_some());
    assert_eq!(index.items_of(Resource::PODS).count(), 1);
    assert_eq!(index.items_in(Resource::REPLICA_SETS, "shop").count(), 1);
    assert_eq!(index.items_in(Resource::REPLICA_SETS, "other").count(), 0);
}

#[test]
fn the_unversioned_copy_wins_over_versioned_ones() {
    // Velero restores from the unversioned path; a differing versioned copy must not leak in.
    let mut b = BackupBuilder::velero();
    b.raw(
        "resources/deployments.apps/v1-preferredversion/namespaces/shop/web.json",
        &serde_json::to_vec(&deployment("shop", "web", "preferred")).unwrap(),
    );
    b.raw(
        "resources/deployments.apps/v1beta2/namespaces/shop/web.json",
        &serde_json::to_vec(&deployment("shop", "web", "versioned")).unwrap(),
    );
    b.raw(
        "resources/deployments.apps/namespaces/shop/web.json",
        &serde_json::to_vec(&deployment("shop", "web", "unversioned")).unwrap(),
    );
    let index = read_tar_gz(b.tar_gz().as_slice(), &IndexOptions::default()).unwrap();
    assert_eq!(index.len(), 1);
    assert_eq!(
        index.deployment("shop", "web").unwrap()["spec"]["template"]["spec"]["containers"][0]["image"],
        "unversioned"
    );
}

#[test]
fn version_entry_may_come_last_and_old_format_1_is_known() {
    let mut b = BackupBuilder::default();
    b.item(
        "deployments.apps",
        "v1",
        "shop",
        &deployment("shop", "web", "x"),
    );
    b.raw("metadata/version", b"1\n");
    let index = read_tar_gz(b.tar_gz().as_slice(), &IndexOptions::default()).unwrap();
    assert_eq!(index.format_version(), "1");
    assert_eq!(index.len(), 1);
}

#[test]
fn unknown_format_version_is_refused() {
    let mut b = BackupBuilder::default();
    b.raw("metadata/version", b"2.0.0\n");
    let err = read_tar_gz(b.tar_gz().as_slice(), &IndexOptions::default()).unwrap_err();
    assert!(
        matches!(&err, Error::UnsupportedFormatVersion { found } if found == "2.0.0"),
        "{err}"
    );
    assert!(err.to_string().contains("2.0.0"));
}

#[test]
fn archive_without_version_is_not_a_velero_backup() {
    let mut b = BackupBuilder::default();
    b.item(
        "deployments.apps",
        "v1",
        "shop",
        &deployment("shop", "web", "x"),
    );
    let err = read_tar_gz(b.tar_gz().as_slice(), &IndexOptions::default()).unwrap_err();
    assert!(matches!(err, Error::NotVeleroBackup(_)), "{err}");
    assert!(err.to_string().contains("metadata/version"));
}

#[test]
fn truncated_gzip_is_reported_as_truncated() {
    let full = sample().tar_gz();
    for cut in [full.len() / 2, full.len() - 4, full.len() - 1] {
        let err = read_tar_gz(&full[..cut], &IndexOptions::default()).unwrap_err();
        assert!(
            matches!(err, Error::TruncatedGzip(_)),
            "cut at {cut}: {err}"
        );
        assert!(err.to_string().contains("truncated"));
    }
}

#[test]
fn checksum_mismatch_is_reported_as_corrupt_gzip() {
    // Stored (level 0) deflate blocks carry the tar bytes verbatim, so one byte of an entry we do
    // not parse can be flipped: tar and JSON stay valid and only the gzip CRC catches it.
    let mut b = sample();
    b.raw(
        "resources/secrets/namespaces/shop/s.json",
        b"{\"marker\":\"QQQQQQQQ\"}",
    );
    let mut gz = b.tar_gz_level(Compression::none());
    let at = gz
        .windows(8)
        .position(|w| w == b"QQQQQQQQ")
        .expect("marker in stored gzip");
    gz[at] = b'R';
    let err = read_tar_gz(gz.as_slice(), &IndexOptions::default()).unwrap_err();
    assert!(matches!(err, Error::CorruptGzip(_)), "{err}");
}

#[test]
fn non_gzip_input_is_refused_by_read_tar_gz() {
    let err = read_tar_gz(&b"PK\x03\x04 a zip file"[..], &IndexOptions::default()).unwrap_err();
    assert!(matches!(err, Error::NotGzip), "{err}");
}

#[test]
fn gzip_that_is_not_a_tar_is_refused() {
    let junk = gzip(&vec![b'x'; 4096], Compression::default());
    let err = read_archive(junk.as_slice(), &IndexOptions::default()).unwrap_err();
    assert!(matches!(err, Error::NotTar(_)), "{err}");
    let err = read_archive(&vec![b'x'; 4096][..], &IndexOptions::default()).unwrap_err();
    assert!(matches!(err, Error::NotTar(_)), "{err}");
}

#[test]
fn empty_input_is_not_a_velero_backup() {
    let err = read_archive(&b""[..], &IndexOptions::default()).unwrap_err();
    assert!(matches!(err, Error::NotVeleroBackup(_)), "{err}");
}

#[test]
fn plain_tar_is_accepted_by_read_archive() {
    let tar = sample().tar();
    let index = read_archive(tar.as_slice(), &IndexOptions::default()).unwrap();
    assert_eq!(index.len(), 2);
    let index = read_tar(tar.as_slice(), &IndexOptions::default()).unwrap();
    assert_eq!(index.len(), 2);
}

#[test]
fn bad_json_names_the_entry() {
    let mut b = sample();
    b.raw(
        "resources/deployments.apps/namespaces/shop/broken.json",
        b"{\"kind\": ",
    );
    let err = read_tar_gz(b.tar_gz().as_slice(), &IndexOptions::default()).unwrap_err();
    match &err {
        Error::BadJson { entry, .. } => {
            assert_eq!(
                entry,
                "resources/deployments.apps/namespaces/shop/broken.json"
            )
        }
        other => panic!("expected BadJson, got {other}"),
    }
    assert!(err.to_string().contains("broken.json"));
}

#[test]
fn bad_json_in_an_entry_we_do_not_keep_is_ignored() {
    let mut b = sample();
    b.raw(
        "resources/configmaps/namespaces/shop/broken.json",
        b"{not json",
    );
    b.raw("resources/pods/namespaces/shop/broken.json", b"{not json");
    let index = read_tar_gz(b.tar_gz().as_slice(), &IndexOptions::default()).unwrap();
    assert_eq!(index.len(), 2);
}

#[test]
fn json_that_is_not_an_object_is_refused() {
    let mut b = sample();
    b.raw(
        "resources/replicasets.apps/namespaces/shop/list.json",
        b"[1,2]",
    );
    let err = read_tar_gz(b.tar_gz().as_slice(), &IndexOptions::default()).unwrap_err();
    assert!(matches!(err, Error::NotAnObject { .. }), "{err}");
}

#[test]
fn entry_cap_names_the_entry_and_limit() {
    let d = serde_json::to_vec(&deployment("shop", "web", "nginx:1")).unwrap();
    let opts = IndexOptions::default().with_max_entry_bytes(d.len() as u64 - 1);
    let err = read_tar_gz(sample().tar_gz().as_slice(), &opts).unwrap_err();
    match err {
        Error::EntryTooLarge { entry, size, limit } => {
            assert_eq!(entry, "resources/deployments.apps/namespaces/shop/web.json");
            assert_eq!(size, d.len() as u64);
            assert_eq!(limit, d.len() as u64 - 1);
        }
        other => panic!("expected EntryTooLarge, got {other}"),
    }
    // Exactly at the limit is fine.
    let opts = IndexOptions::default().with_max_entry_bytes(
        d.len().max(
            serde_json::to_vec(&replica_set("shop", "web", "5d4f8c7b9", "nginx:1"))
                .unwrap()
                .len(),
        ) as u64,
    );
    assert!(read_tar_gz(sample().tar_gz().as_slice(), &opts).is_ok());
}

#[test]
fn total_cap_counts_only_kept_entries() {
    // Lots of data in resources we do not keep must not count against the cap.
    let mut b = sample();
    let filler = vec![b' '; 256 * 1024];
    for i in 0..40 {
        b.raw(
            &format!("resources/pods/namespaces/shop/big-{i}.json"),
            &filler,
        );
    }
    let index = read_tar_gz(
        b.tar_gz().as_slice(),
        &IndexOptions::default().with_max_total_bytes(64 * 1024),
    )
    .unwrap();
    assert_eq!(index.len(), 2);
    assert!(index.kept_bytes() < 64 * 1024);
    assert_eq!(
        index.resource_counts().get(Resource::PODS.group_resource()),
        Some(&41)
    );

    let err = read_tar_gz(
        sample().tar_gz().as_slice(),
        &IndexOptions::default().with_max_total_bytes(100),
    )
    .unwrap_err();
    assert!(matches!(err, Error::TooLarge { limit: 100, .. }), "{err}");
}

#[test]
fn extracted_directory_reads_like_the_archive() {
    let dir = tempfile::tempdir().unwrap();
    sample().extract_to(dir.path());
    let opts = IndexOptions::workloads().with_pods();
    let from_dir = read_dir(dir.path(), &opts).unwrap();
    let from_tar = read_tar_gz(sample().tar_gz().as_slice(), &opts).unwrap();
    assert_eq!(from_dir.format_version(), "1.1.0");
    let a: Vec<_> = from_dir.items().collect();
    let b: Vec<_> = from_tar.items().collect();
    assert_eq!(a, b);
    assert_eq!(from_dir.resource_counts(), from_tar.resource_counts());

    let local = open_local(dir.path(), &opts).unwrap();
    assert_eq!(local.layout, BackupLayout::Directory);
    assert_eq!(local.index.len(), 3);
}

#[test]
fn directory_without_version_is_not_a_velero_backup() {
    let dir = tempfile::tempdir().unwrap();
    let mut b = BackupBuilder::default();
    b.item(
        "deployments.apps",
        "v1",
        "shop",
        &deployment("shop", "web", "x"),
    );
    b.extract_to(dir.path());
    let err = open_local(dir.path(), &IndexOptions::default()).unwrap_err();
    assert!(matches!(err, Error::NotVeleroBackup(_)), "{err}");
}

#[test]
fn tarball_file_and_bucket_folder_are_recognised() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("b1-data.tar.gz");
    std::fs::write(&file, sample().tar_gz()).unwrap();
    let mut seen = 0;
    let local = velero_fsb_guard::backup::local::open_local_with_progress(
        &file,
        &IndexOptions::default(),
        &mut |read, total| {
            assert!(read <= total);
            seen = read;
        },
    )
    .unwrap();
    assert_eq!(local.layout, BackupLayout::Archive);
    assert_eq!(local.index.len(), 2);
    assert_eq!(seen, std::fs::metadata(&file).unwrap().len());

    // backups/<name>/ as copied from the bucket.
    let bucket = dir.path().join("backups").join("nightly");
    std::fs::create_dir_all(&bucket).unwrap();
    std::fs::write(bucket.join("nightly.tar.gz"), sample().tar_gz()).unwrap();
    std::fs::write(
        bucket.join("velero-backup.json"),
        serde_json::to_vec(&json!({"apiVersion": "velero.io/v1", "kind": "Backup",
            "metadata": {"name": "nightly", "namespace": "velero"},
            "spec": {"storageLocation": "default"}}))
        .unwrap(),
    )
    .unwrap();
    std::fs::write(
        bucket.join("nightly-podvolumebackups.json.gz"),
        gzip(b"[]", Compression::default()),
    )
    .unwrap();
    let local = open_local(&bucket, &IndexOptions::default()).unwrap();
    assert_eq!(local.layout, BackupLayout::BucketFolder);
    assert_eq!(local.name.as_deref(), Some("nightly"));
    assert_eq!(
        local.backup.as_ref().unwrap()["spec"]["storageLocation"],
        "default"
    );
    assert_eq!(
        local.pod_volume_backups_file.as_deref(),
        Some(bucket.join("nightly-podvolumebackups.json.gz").as_path())
    );
    assert_eq!(local.index.len(), 2);
}

#[test]
fn bucket_folder_name_comes_from_the_folder_without_backup_json() {
    let dir = tempfile::tempdir().unwrap();
    let bucket = dir.path().join("weekly");
    std::fs::create_dir_all(&bucket).unwrap();
    std::fs::write(bucket.join("weekly.tar.gz"), sample().tar_gz()).unwrap();
    let local = open_local(&bucket, &IndexOptions::default()).unwrap();
    assert_eq!(local.layout, BackupLayout::BucketFolder);
    assert_eq!(local.name.as_deref(), Some("weekly"));
    assert!(local.pod_volume_backups_file.is_none());
}

#[test]
fn unrelated_directory_is_refused_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("notes.txt"), "hi").unwrap();
    let err = open_local(dir.path(), &IndexOptions::default()).unwrap_err();
    assert!(matches!(err, Error::UnrecognisedInput { .. }), "{err}");
    let err = open_local(&dir.path().join("missing"), &IndexOptions::default()).unwrap_err();
    assert!(matches!(err, Error::Io { .. }), "{err}");
}

/// A pod with one `ownerReference` (`kind`, `apiVersion`, `controller`).
fn owned_pod(name: &str, owner: Option<(&str, &str, bool)>) -> serde_json::Value {
    let mut pod = json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "shop"},
        "spec": {"containers": [{"name": "main", "image": "busybox"}]}});
    if let Some((kind, api_version, controller)) = owner {
        pod["metadata"]["ownerReferences"] = json!([{"apiVersion": api_version, "kind": kind,
            "name": "owner", "uid": "u", "controller": controller}]);
    }
    pod
}

#[test]
fn only_pods_controlled_by_workloads_are_kept_when_asked() {
    let mut b = BackupBuilder::velero();
    let pods = [
        owned_pod("rs-pod", Some(("ReplicaSet", "apps/v1", true))),
        owned_pod("sts-pod", Some(("StatefulSet", "apps/v1", true))),
        owned_pod("ds-pod", Some(("DaemonSet", "apps/v1", true))),
        owned_pod("bare-pod", None),
        owned_pod("job-pod", Some(("Job", "batch/v1", true))),
        // Not the controller: the ReplicaSet does not manage it.
        owned_pod("adopted-pod", Some(("ReplicaSet", "apps/v1", false))),
        // Same kind name in another group: not a workload controller we read.
        owned_pod("crd-pod", Some(("StatefulSet", "example.com/v1", true))),
    ];
    for pod in &pods {
        b.item("pods", "v1", "shop", pod);
    }
    let opts = IndexOptions::workloads().with_pods().only_controlled_pods();
    let index = read_tar_gz(b.tar_gz().as_slice(), &opts).unwrap();
    let kept: Vec<&str> = index
        .items_of(Resource::PODS)
        .map(|(k, _)| k.name.as_str())
        .collect();
    assert_eq!(kept, ["ds-pod", "rs-pod", "sts-pod"]);
    // Every pod is still counted.
    assert_eq!(
        index.resource_counts().get(Resource::PODS.group_resource()),
        Some(&7)
    );
    // Only kept pods count against the total cap: three pods' bytes are enough.
    let three: u64 = pods[..3]
        .iter()
        .map(|p| serde_json::to_vec(p).unwrap().len() as u64)
        .sum();
    assert_eq!(index.kept_bytes(), three);
    let capped = read_tar_gz(
        b.tar_gz().as_slice(),
        &opts.clone().with_max_total_bytes(three),
    );
    assert!(capped.is_ok(), "{capped:?}");
    let err = read_tar_gz(
        b.tar_gz().as_slice(),
        &opts.clone().with_max_total_bytes(three - 1),
    )
    .unwrap_err();
    assert!(matches!(err, Error::TooLarge { .. }), "{err}");
    // Without the filter every pod is kept; the directory walk filters like the archive.
    let all = read_tar_gz(
        b.tar_gz().as_slice(),
        &IndexOptions::workloads().with_pods(),
    )
    .unwrap();
    assert_eq!(all.items_of(Resource::PODS).count(), 7);
    let dir = tempfile::tempdir().unwrap();
    b.extract_to(dir.path());
    let from_dir = read_dir(dir.path(), &opts).unwrap();
    assert_eq!(from_dir.items_of(Resource::PODS).count(), 3);
}
