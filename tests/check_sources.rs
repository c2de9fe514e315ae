//! `check` inputs: the three backup layouts, each FSB volume source (and which one is reported),
//! rule files as ConfigMap or bare document, and the errors an operator must be able to act on.

mod check_support;

use std::collections::BTreeMap;

use check_support::{App, Layout, app, gzip, tar_gz, write, write_backup, write_pvbs};
use serde_json::json;
use velero_fsb_guard::check::{self, CheckArgs};

const IMAGE_RULE: &str = "version: v1\nresourceModifierRules:\n- conditions: {groupResource: deployments.apps}\n  patches:\n  - {operation: replace, path: /spec/template/spec/containers/0/image, value: registry.example/app:2.0}\n";

fn analyse(
    dir: &std::path::Path,
    backup: std::path::PathBuf,
    extra: impl FnOnce(&mut CheckArgs),
) -> check::Analysis {
    let mut args = CheckArgs {
        backup: Some(backup),
        resource_modifiers: Some(write(dir, "rules.yaml", IMAGE_RULE)),
        ..CheckArgs::default()
    };
    extra(&mut args);
    check::check(&args, &mut |_, _| {}).unwrap().analysis
}

/// Deployment name → FSB pods' volumes.
fn fsb_of(a: &check::Analysis) -> BTreeMap<String, Vec<Vec<String>>> {
    a.deployments
        .iter()
        .map(|d| {
            (
                d.name.clone(),
                d.fsb_pods.iter().map(|p| p.volumes.clone()).collect(),
            )
        })
        .collect()
}

fn apps() -> Vec<App> {
    vec![
        app("shop", "growi", "5d894cc6b7").fsb_volume("data"),
        app("shop", "web", "6d4cf56db6"),
    ]
}

#[test]
fn every_layout_gives_the_same_analysis() {
    for layout in [Layout::Archive, Layout::Directory, Layout::Bucket] {
        let dir = tempfile::tempdir().unwrap();
        let backup = write_backup(dir.path(), &apps(), layout);
        // Archive and directory carry no PodVolumeBackups: give them with the flag.
        let pvbs = write_pvbs(dir.path(), &apps());
        let a = analyse(dir.path(), backup, |args| {
            if layout != Layout::Bucket {
                args.pod_volume_backups = Some(pvbs);
            }
        });
        let expected_layout = match layout {
            Layout::Archive => "archive",
            Layout::Directory => "directory",
            Layout::Bucket => "bucket-folder",
        };
        assert_eq!(a.backup.layout, expected_layout);
        assert_eq!(a.backup.format_version, "1.1.0");
        assert_eq!(
            (a.backup.deployments, a.backup.replica_sets, a.backup.pods),
            (2, 2, 2)
        );
        assert_eq!(
            a.fsb_source.kind,
            if layout == Layout::Bucket {
                "bucket-pod-volume-backups"
            } else {
                "pod-volume-backups-file"
            }
        );
        assert_eq!(fsb_of(&a)["growi"], [vec!["data".to_owned()]]);
        assert!(fsb_of(&a)["web"].is_empty());
        assert_eq!(a.summary.deployments_at_risk, 1, "{layout:?}");
        assert_eq!(a.summary.rollouts_without_fsb, 1);
    }
}

#[test]
fn pod_volume_backups_flag_wins_over_the_bucket_file_and_accepts_gzip() {
    let dir = tempfile::tempdir().unwrap();
    let backup = write_backup(dir.path(), &apps(), Layout::Bucket);
    // A PVB list naming only web's pod volume "cache" (not growi's).
    let web = app("shop", "web", "6d4cf56db6");
    let pvb = json!([{"metadata": {"name": "x"}, "spec": {"pod": {"namespace": "shop", "name": web.pod_names()[0]}, "volume": "cache"}, "status": {"snapshotID": "s"}}]);
    let file = dir.path().join("other.json.gz");
    std::fs::write(&file, gzip(pvb.to_string().as_bytes())).unwrap();
    let a = analyse(dir.path(), backup, |args| {
        args.pod_volume_backups = Some(file)
    });
    assert_eq!(a.fsb_source.kind, "pod-volume-backups-file");
    assert!(fsb_of(&a)["growi"].is_empty());
    assert_eq!(fsb_of(&a)["web"], [vec!["cache".to_owned()]]);
}

#[test]
fn legacy_snapshot_annotations() {
    let dir = tempfile::tempdir().unwrap();
    let apps = [
        app("shop", "growi", "5d894cc6b7")
            .fsb_volume("data")
            .pod_annotation("snapshot.velero.io/data", "abc123"),
        app("shop", "web", "6d4cf56db6"),
    ];
    let a = analyse(
        dir.path(),
        write_backup(dir.path(), &apps, Layout::Archive),
        |_| {},
    );
    assert_eq!(a.fsb_source.kind, "legacy-snapshot-annotations");
    assert_eq!(fsb_of(&a)["growi"], [vec!["data".to_owned()]]);
    assert_eq!(a.summary.deployments_at_risk, 1);
}

#[test]
fn opt_in_backup_volumes_annotation() {
    let dir = tempfile::tempdir().unwrap();
    let apps = [
        app("shop", "growi", "5d894cc6b7")
            .fsb_volume("data")
            .volume(json!({"name": "cache", "emptyDir": {}}), "/cache")
            .pod_annotation("backup.velero.io/backup-volumes", "data"),
        app("shop", "web", "6d4cf56db6"),
    ];
    let a = analyse(
        dir.path(),
        write_backup(dir.path(), &apps, Layout::Directory),
        |_| {},
    );
    assert_eq!(a.fsb_source.kind, "backup-volumes-annotation");
    assert_eq!(
        fsb_of(&a)["growi"],
        [vec!["data".to_owned()]],
        "cache was not opted in"
    );
}

#[test]
fn default_volumes_to_fs_backup_uses_velero_eligibility() {
    let dir = tempfile::tempdir().unwrap();
    let growi = app("shop", "growi", "5d894cc6b7")
        .volume(
            json!({"name": "data", "persistentVolumeClaim": {"claimName": "growi-data"}}),
            "/data",
        )
        .volume(json!({"name": "scratch", "emptyDir": {}}), "/scratch")
        .volume(json!({"name": "logs", "emptyDir": {}}), "/logs")
        .volume(
            json!({"name": "host", "hostPath": {"path": "/var/log"}}),
            "/host",
        )
        .volume(json!({"name": "cfg", "configMap": {"name": "c"}}), "/cfg")
        .volume(
            json!({"name": "sec", "secret": {"secretName": "s"}}),
            "/sec",
        )
        .volume(
            json!({"name": "info", "downwardAPI": {"items": []}}),
            "/info",
        )
        .pod_annotation("backup.velero.io/backup-volumes-excludes", "logs");
    let apps = [growi, app("shop", "web", "6d4cf56db6")];
    let backup = write_backup(dir.path(), &apps, Layout::Archive);
    // Without the flag and without any other source: nothing is known, said so.
    let none = analyse(dir.path(), backup.clone(), |_| {});
    assert_eq!(none.fsb_source.kind, "none");
    assert!(
        none.fsb_source
            .description
            .contains("--default-volumes-to-fs-backup")
    );
    assert!(!none.summary.fsb_data_at_risk);
    let a = analyse(dir.path(), backup, |args| {
        args.default_volumes_to_fs_backup = true
    });
    assert_eq!(a.fsb_source.kind, "default-volumes-to-fs-backup");
    // PVC and emptyDir volumes; not excluded "logs", not hostPath/configMap/secret/downwardAPI,
    // not the projected service-account token volume.
    assert_eq!(
        fsb_of(&a)["growi"],
        [vec!["data".to_owned(), "scratch".to_owned()]]
    );
    assert!(
        fsb_of(&a)["web"].is_empty(),
        "web has only the projected token volume"
    );
}

#[test]
fn rules_as_configmap_manifest_or_bare_document() {
    let dir = tempfile::tempdir().unwrap();
    let backup = write_backup(dir.path(), &apps(), Layout::Bucket);
    let indented: String = IMAGE_RULE.lines().map(|l| format!("    {l}\n")).collect();
    let cm = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: my-rules\n  namespace: velero\ndata:\n  anything.yaml: |\n{indented}"
    );
    let rules = write(dir.path(), "cm.yaml", &cm);
    let args = CheckArgs {
        backup: Some(backup.clone()),
        resource_modifiers: Some(rules),
        ..CheckArgs::default()
    };
    let a = check::check(&args, &mut |_, _| {}).unwrap().analysis;
    assert_eq!(a.resource_modifiers.rules, 1);
    assert_eq!(a.summary.deployments_at_risk, 1);
    // Two data keys: Velero rejects the ConfigMap; so do we, naming the reason.
    let two = format!("{cm}  second: x\n");
    let args = CheckArgs {
        backup: Some(backup),
        resource_modifiers: Some(write(dir.path(), "two.yaml", &two)),
        ..CheckArgs::default()
    };
    let err = check::check(&args, &mut |_, _| {}).unwrap_err().to_string();
    assert!(
        err.contains("exactly one data key") && err.contains("two.yaml"),
        "{err}"
    );
}

#[test]
fn errors_name_what_and_where() {
    let dir = tempfile::tempdir().unwrap();
    let rules = write(dir.path(), "rules.yaml", IMAGE_RULE);
    let try_backup = |path: std::path::PathBuf| {
        let args = CheckArgs {
            backup: Some(path),
            resource_modifiers: Some(rules.clone()),
            ..CheckArgs::default()
        };
        check::check(&args, &mut |_, _| {}).unwrap_err().to_string()
    };
    // Truncated gzip.
    let full = tar_gz(&check_support::backup_entries(&apps(), "1.1.0"));
    let cut = dir.path().join("cut.tar.gz");
    std::fs::write(&cut, &full[..full.len() / 2]).unwrap();
    let e = try_backup(cut.clone());
    assert!(e.contains("truncated") && e.contains("cut.tar.gz"), "{e}");
    // A tarball that is not a Velero backup.
    let other = dir.path().join("other.tar.gz");
    std::fs::write(&other, tar_gz(&[("hello.txt".to_owned(), b"hi".to_vec())])).unwrap();
    let e = try_backup(other);
    assert!(e.contains("not a Velero backup"), "{e}");
    // Unknown format version.
    let future = dir.path().join("future.tar.gz");
    std::fs::write(
        &future,
        tar_gz(&check_support::backup_entries(&apps(), "9.0.0")),
    )
    .unwrap();
    let e = try_backup(future);
    assert!(e.contains("9.0.0") && e.contains("format version"), "{e}");
    // Missing path.
    let e = try_backup(dir.path().join("nope"));
    assert!(e.contains("nope"), "{e}");
    // YAML error with line and column.
    let backup = write_backup(dir.path(), &apps(), Layout::Archive);
    let bad = write(
        dir.path(),
        "bad.yaml",
        "version: v1\nresourceModifierRules:\n- conditions: {groupResource: pods\n",
    );
    let args = CheckArgs {
        backup: Some(backup),
        resource_modifiers: Some(bad),
        ..CheckArgs::default()
    };
    let e = check::check(&args, &mut |_, _| {}).unwrap_err().to_string();
    assert!(e.contains("bad.yaml") && e.contains("line"), "{e}");
}
