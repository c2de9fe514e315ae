//! Faults around one restore, in-process over the in-memory API server: the backup download
//! failing or returning garbage, and 64 Executes at once (Velero's parallel item restore). Each
//! ends with every item answered — corrected, or unchanged with a `warn` line naming the workload
//! — and the restore's inputs read once. RELIABILITY.md lists these rows.

mod guard_support;

use std::sync::Arc;
use std::time::Duration;

use fsb_guard_core::fixtures::{App, a_deployment, a_restore, velero_prepares_pod};
use guard_support::{FakeCluster, RestoreItem, capturing_logs, execute_input};
use serde_json::json;
use velero_fsb_guard::backup::Error as BackupError;
use velero_fsb_guard::backup::download::DownloadError;

const RULES: &str = r#"
version: v1
resourceModifierRules:
- conditions: {groupResource: deployments.apps, resourceNameRegex: "^web$"}
  patches:
  - {operation: add, path: /spec/template/spec/hostname, value: restored}
"#;

fn web(replicas: u64) -> App {
    a_deployment("shop", "web")
        .with_fsb_volume("data")
        .with_replicas(replicas)
}

/// How a download fails for a backup.
type Failure = fn(backup: &str) -> DownloadError;

/// The object store's failures, as the download reports them.
const DOWNLOAD_FAILURES: [(&str, Failure); 4] = [
    ("HTTP 500", |backup| DownloadError::Http {
        backup: backup.into(),
        host: "minio.velero.svc:9000".into(),
        status: 500,
    }),
    ("garbage instead of a tarball", |backup| {
        DownloadError::Index {
            backup: backup.into(),
            source: BackupError::NotGzip,
        }
    }),
    ("cut off", |backup| DownloadError::Index {
        backup: backup.into(),
        source: BackupError::TruncatedGzip("unexpected end of file".into()),
    }),
    ("too slow", |backup| DownloadError::TransferTimeout {
        backup: backup.into(),
        host: "minio.velero.svc:9000".into(),
        after: Duration::from_secs(120),
    }),
];

#[tokio::test]
async fn a_download_that_fails_or_returns_garbage_fails_open_once_per_restore() {
    let app = web(2);
    for (what, fails) in DOWNLOAD_FAILURES {
        let cluster = FakeCluster::serving(app.backup(), app.pod_volume_backups(), RULES, |k| {
            k.download_fails = Some(fails);
        });
        let guard = cluster.guard();
        let capture = capturing_logs();
        for pod in app.pods() {
            let prepared = velero_prepares_pod(&pod, &app.fsb_index().volumes_of(&pod));
            let out = guard
                .restore_item(execute_input(prepared.clone(), &pod, &a_restore(json!({}))))
                .await
                .unwrap_or_else(|e| panic!("{what}: fail open means no item error, got {e}"));
            assert_eq!(
                out.item, prepared,
                "{what}: the pod must come back unchanged"
            );
        }
        let downloads = cluster
            .calls()
            .iter()
            .filter(|c| c.starts_with("download "))
            .count();
        assert_eq!(
            downloads, 1,
            "{what}: one download per restore, failed or not"
        );
        let warnings: Vec<String> = capture
            .logs
            .lines()
            .into_iter()
            .filter(|l| l.contains("WARN"))
            .collect();
        assert_eq!(
            warnings.len(),
            2,
            "{what}: one warning per pod: {warnings:#?}"
        );
        for line in &warnings {
            assert!(
                line.contains("Deployment shop/web") && line.contains("backup contents"),
                "{what}: {line}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_four_concurrent_executes_are_all_corrected_from_one_read_of_the_inputs() {
    let app = web(64);
    let cluster = FakeCluster::serving(app.backup(), app.pod_volume_backups(), RULES, |_| {});
    let guard = Arc::new(cluster.guard());
    let restore = a_restore(json!({}));
    let fsb = app.fsb_index();
    let tasks: Vec<_> = app
        .pods()
        .into_iter()
        .map(|pod| {
            let prepared = velero_prepares_pod(&pod, &fsb.volumes_of(&pod));
            let guard = Arc::clone(&guard);
            let input = execute_input(prepared.clone(), &pod, &restore);
            tokio::spawn(async move { (prepared, guard.restore_item(input).await) })
        })
        .collect();
    assert_eq!(tasks.len(), 64);
    for task in tasks {
        let (prepared, out) = task.await.expect("no task panicked");
        let out = out.expect("no item error");
        let mut expected = prepared.clone();
        expected["spec"]["hostname"] = json!("restored");
        expected["metadata"]["annotations"]["fsb-guard.io/re-emitted"] =
            json!("[\"spec.hostname\"]");
        assert_eq!(out.item, expected);
    }
    let calls = cluster.calls();
    let count = |prefix: &str| calls.iter().filter(|c| c.starts_with(prefix)).count();
    assert_eq!(count("list configmaps"), 1, "{calls:#?}");
    assert_eq!(count("get configmap "), 1, "{calls:#?}");
    assert_eq!(count("list podvolumebackups"), 1, "{calls:#?}");
    assert_eq!(count("download "), 1, "{calls:#?}");
}
