//! PodVolumeBackup list reading, Velero's PVB→pod matching rules, and Velero's label-value
//! shortening. Expected values come from Velero's rules (shared/facts/velero.md §5.1) and, for the
//! label vectors, from coreutils `sha256sum` of the full name.

#[path = "backup_support/mod.rs"]
mod support;

use std::collections::BTreeMap;

use flate2::Compression;
use fsb_guard_core::fsb::{
    FsbSource, FsbVolume, PodVolumeBackups, fsb_volumes_for_pod, legacy_snapshot_annotations,
    pvb_matches_pod,
};
use serde_json::{Value, json};
use support::{gzip, pod, pvb};
use velero_fsb_guard::backup::Error;
use velero_fsb_guard::backup::pvb::{read_pod_volume_backups, read_pod_volume_backups_file};
use velero_fsb_guard::cluster::valid_label_value;

fn snapshots(map: &BTreeMap<String, FsbVolume>) -> Vec<(&str, &str)> {
    map.iter()
        .map(|(k, v)| (k.as_str(), v.snapshot_id.as_str()))
        .collect()
}

#[test]
fn pvb_matches_by_pod_name_and_original_namespace_not_uid() {
    let p = pvb("b1-x", "shop", "web-1", "data", "snap1");
    assert!(pvb_matches_pod(&p, "web-1", "shop"));
    assert!(!pvb_matches_pod(&p, "web-1", "shop-restored"));
    assert!(!pvb_matches_pod(&p, "web-2", "shop"));
    // The UID in spec.pod differs from any restored pod's and is not compared.
    let pod = pod("shop", "web-1", json!([{"name": "data", "emptyDir": {}}]));
    let vols = fsb_volumes_for_pod(&pod, "shop", [&p]);
    assert_eq!(snapshots(&vols), vec![("data", "snap1")]);
    assert_eq!(
        vols["data"],
        FsbVolume {
            snapshot_id: "snap1".into(),
            uploader_type: Some("kopia".into()),
            source: FsbSource::PodVolumeBackup {
                name: "b1-x".into()
            },
        }
    );
    // Same pod, restored into another namespace: the original namespace is what counts.
    assert!(fsb_volumes_for_pod(&pod, "elsewhere", [&p]).is_empty());
}

#[test]
fn pvbs_without_snapshot_id_are_skipped() {
    let pod = pod(
        "shop",
        "web-1",
        json!([{"name": "a", "emptyDir": {}}, {"name": "b", "emptyDir": {}}]),
    );
    let mut failed = pvb("b1-f", "shop", "web-1", "b", "");
    failed["status"]["phase"] = json!("Failed");
    let mut no_status = pvb("b1-n", "shop", "web-1", "b", "x");
    no_status.as_object_mut().unwrap().remove("status");
    let ok = pvb("b1-a", "shop", "web-1", "a", "snapA");
    let vols = fsb_volumes_for_pod(&pod, "shop", [&failed, &ok, &no_status]);
    assert_eq!(snapshots(&vols), vec![("a", "snapA")]);
}

#[test]
fn projected_and_downward_api_volumes_are_skipped_but_unknown_volumes_are_not() {
    let pod = pod(
        "shop",
        "web-1",
        json!([
            {"name": "token", "projected": {"sources": []}},
            {"name": "info", "downwardAPI": {"items": []}},
            {"name": "data", "persistentVolumeClaim": {"claimName": "data"}},
            {"name": "nulled", "projected": null, "emptyDir": {}}
        ]),
    );
    let pvbs = [
        pvb("p1", "shop", "web-1", "token", "s1"),
        pvb("p2", "shop", "web-1", "info", "s2"),
        pvb("p3", "shop", "web-1", "data", "s3"),
        pvb("p4", "shop", "web-1", "gone", "s4"),
        pvb("p5", "shop", "web-1", "nulled", "s5"),
    ];
    let vols = fsb_volumes_for_pod(&pod, "shop", &pvbs);
    assert_eq!(
        snapshots(&vols),
        vec![("data", "s3"), ("gone", "s4"), ("nulled", "s5")]
    );
}

#[test]
fn a_later_pvb_for_the_same_volume_replaces_an_earlier_one() {
    let pod = pod("shop", "web-1", json!([{"name": "data", "emptyDir": {}}]));
    let pvbs = [
        pvb("p1", "shop", "web-1", "data", "old"),
        pvb("p2", "shop", "web-1", "data", "new"),
    ];
    assert_eq!(
        snapshots(&fsb_volumes_for_pod(&pod, "shop", &pvbs)),
        vec![("data", "new")]
    );
}

#[test]
fn legacy_annotations_are_the_fallback_only() {
    let mut annotated = pod(
        "shop",
        "web-1",
        json!([{"name": "data", "emptyDir": {}}, {"name": "logs", "emptyDir": {}}]),
    );
    annotated["metadata"]["annotations"] = json!({
        "snapshot.velero.io/logs": "legacy-logs",
        "snapshot.velero.io/data": "legacy-data",
        "backup.velero.io/backup-volumes": "data,logs"
    });
    // No PVB: annotations decide.
    let vols = fsb_volumes_for_pod(&annotated, "shop", std::iter::empty::<&Value>());
    assert_eq!(
        snapshots(&vols),
        vec![("data", "legacy-data"), ("logs", "legacy-logs")]
    );
    assert!(
        vols.values()
            .all(|v| v.source == FsbSource::LegacyAnnotation && v.uploader_type.is_none())
    );
    assert_eq!(legacy_snapshot_annotations(&annotated), vols);
    // A matching PVB: annotations are ignored entirely.
    let p = pvb("p1", "shop", "web-1", "data", "from-pvb");
    assert_eq!(
        snapshots(&fsb_volumes_for_pod(&annotated, "shop", [&p])),
        vec![("data", "from-pvb")]
    );
    // A PVB that matched but was skipped (no snapshot ID) leaves the fallback in place.
    let empty = pvb("p2", "shop", "web-1", "data", "");
    assert_eq!(fsb_volumes_for_pod(&annotated, "shop", [&empty]).len(), 2);
}

#[test]
fn grouped_lookup_agrees_with_the_flat_rule() {
    let pvbs = vec![
        pvb("p1", "shop", "web-1", "data", "s1"),
        pvb("p2", "shop", "web-2", "data", "s2"),
        pvb("p3", "other", "web-1", "data", "s3"),
        pvb("p4", "shop", "web-1", "cache", "s4"),
    ];
    let grouped = PodVolumeBackups::new(&pvbs);
    assert_eq!(grouped.len(), 4);
    assert_eq!(grouped.for_pod("shop", "web-1").len(), 2);
    assert_eq!(grouped.pods().count(), 3);
    for (ns, name) in [
        ("shop", "web-1"),
        ("shop", "web-2"),
        ("other", "web-1"),
        ("shop", "none"),
    ] {
        let p = pod(ns, name, json!([{"name": "data", "emptyDir": {}}]));
        assert_eq!(
            grouped.fsb_volumes_for_pod(&p, ns),
            fsb_volumes_for_pod(&p, ns, &pvbs),
            "{ns}/{name}"
        );
    }
}

#[test]
fn label_values_follow_velero_get_valid_name() {
    // Up to 63 bytes: unchanged.
    let exactly_63 = "a".repeat(63);
    assert_eq!(valid_label_value(&exactly_63), exactly_63);
    assert_eq!(valid_label_value("nightly"), "nightly");
    // Longer: first 57 bytes + first 6 hex digits of sha256(full name).
    // Vector from Velero's own label test (pkg/label/label_test.go), confirmed with sha256sum.
    assert_eq!(
        valid_label_value("this_is_a_very_long_label_value_that_will_be_rejected_by_Kubernetes"),
        "this_is_a_very_long_label_value_that_will_be_rejected_by_8d0722"
    );
    // printf %s <name> | sha256sum → 5ea7ae…
    assert_eq!(
        valid_label_value("nightly-backup-of-the-production-namespace-with-fsb-volumes-2026-11-25"),
        "nightly-backup-of-the-production-namespace-with-fsb-volum5ea7ae"
    );
    // 64 × 'a' → ffe054…
    let long = valid_label_value(&"a".repeat(64));
    assert_eq!(long, format!("{}ffe054", "a".repeat(57)));
    assert_eq!(long.len(), 63);
}

fn pvb_list() -> Vec<Value> {
    vec![
        pvb("p1", "shop", "web-1", "data", "s1"),
        pvb("p2", "shop", "web-2", "data", "s2"),
    ]
}

#[test]
fn pvb_list_reader_accepts_velero_and_kubectl_shapes() {
    let array = serde_json::to_vec(&pvb_list()).unwrap();
    // The bucket file: gzip of a JSON array (Velero's encoder adds a newline).
    let mut with_newline = array.clone();
    with_newline.push(b'\n');
    let gz = gzip(&with_newline, Compression::default());
    assert_eq!(
        read_pod_volume_backups(gz.as_slice(), "bucket").unwrap(),
        pvb_list()
    );
    assert_eq!(
        read_pod_volume_backups(array.as_slice(), "plain").unwrap(),
        pvb_list()
    );
    let list =
        serde_json::to_vec(&json!({"apiVersion": "v1", "kind": "List", "items": pvb_list()}))
            .unwrap();
    assert_eq!(
        read_pod_volume_backups(list.as_slice(), "kubectl").unwrap(),
        pvb_list()
    );
    let single = serde_json::to_vec(&pvb_list()[0]).unwrap();
    assert_eq!(
        read_pod_volume_backups(single.as_slice(), "one").unwrap(),
        vec![pvb_list()[0].clone()]
    );
    // Go encodes an empty (nil) slice as null.
    let null = gzip(b"null\n", Compression::default());
    assert!(
        read_pod_volume_backups(null.as_slice(), "empty")
            .unwrap()
            .is_empty()
    );

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("b1-podvolumebackups.json.gz");
    std::fs::write(&path, &gz).unwrap();
    assert_eq!(read_pod_volume_backups_file(&path).unwrap(), pvb_list());
}

#[test]
fn pvb_list_reader_errors_name_the_source() {
    let gz = gzip(
        &serde_json::to_vec(&pvb_list()).unwrap(),
        Compression::default(),
    );
    let err =
        read_pod_volume_backups(&gz[..gz.len() / 2], "b1-podvolumebackups.json.gz").unwrap_err();
    assert!(matches!(err, Error::BadPodVolumeBackups { .. }), "{err}");
    assert!(
        err.to_string().contains("b1-podvolumebackups.json.gz"),
        "{err}"
    );
    assert!(err.to_string().contains("truncated"), "{err}");

    let err = read_pod_volume_backups(&b"{\"kind\":\"Backup\"}"[..], "x.json").unwrap_err();
    assert!(err.to_string().contains("x.json"), "{err}");
    let err = read_pod_volume_backups(&b"[1]"[..], "y.json").unwrap_err();
    assert!(err.to_string().contains("element 0"), "{err}");
    let err = read_pod_volume_backups(&b"not json"[..], "z.json").unwrap_err();
    assert!(err.to_string().contains("not valid JSON"), "{err}");
}

#[test]
fn backup_time_selection_follows_velero_opt_in_and_opt_out() {
    use fsb_guard_core::fsb::volumes_selected_for_fs_backup;
    let mut p = pod(
        "shop",
        "web-1",
        json!([
            {"name": "data", "persistentVolumeClaim": {"claimName": "data"}},
            {"name": "scratch", "emptyDir": {}},
            {"name": "host", "hostPath": {"path": "/var/log"}},
            {"name": "creds", "secret": {"secretName": "s"}},
            {"name": "cfg", "configMap": {"name": "c"}},
            {"name": "token", "projected": {"sources": []}},
            {"name": "info", "downwardAPI": {"items": []}},
            {"name": "default-token-abcde", "emptyDir": {}},
            {"name": "cache", "emptyDir": {}}
        ]),
    );
    // Opt-in mode without the annotation: nothing.
    assert!(volumes_selected_for_fs_backup(&p, false, false).is_empty());
    // Opt-out mode: every eligible volume.
    assert_eq!(
        volumes_selected_for_fs_backup(&p, true, false),
        vec!["data", "scratch", "cache"]
    );
    assert_eq!(
        volumes_selected_for_fs_backup(&p, true, true),
        vec!["scratch", "cache"]
    );
    p["metadata"]["annotations"] = json!({
        "backup.velero.io/backup-volumes": "data,missing",
        "backup.velero.io/backup-volumes-excludes": "cache"
    });
    // Opt-in names are taken verbatim; the excludes annotation only matters in opt-out mode.
    assert_eq!(
        volumes_selected_for_fs_backup(&p, false, false),
        vec!["data", "missing"]
    );
    assert_eq!(
        volumes_selected_for_fs_backup(&p, true, false),
        vec!["data", "scratch"]
    );
}
