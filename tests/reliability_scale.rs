//! Load (issue 19, RELIABILITY.md L4): one restore of 10,000 items through the plugin shell, in
//! Velero's order (pods, then ReplicaSets, then Deployments), over the in-memory API server: 1,000
//! Deployments, each with eight FSB pods and its ReplicaSet, all changed by the restore's rules. Every
//! item is answered (no panic, no item error), every pod and ReplicaSet corrected, the restore's
//! inputs read once, and the memory the restore adds stays bounded. Peak RSS (VmHWM) is read from
//! /proc: one test per binary keeps the figure clean.

mod guard_support;

use fsb_guard_core::fixtures::{App, a_deployment, a_restore, velero_prepares_pod};
use fsb_guard_core::restore::BackupObjects;
use fsb_guard_core::{Resource, as_velero_hands_it, name_of};
use guard_support::{FakeCluster, RestoreItem, TARGET, execute_input};
use serde_json::json;

const RULES: &str = r#"
version: v1
resourceModifierRules:
- conditions: {groupResource: deployments.apps, namespaces: [shop]}
  patches:
  - {operation: add, path: /spec/template/spec/hostname, value: restored}
"#;

const DEPLOYMENTS: usize = 1_000;
const REPLICAS: usize = 8;

fn app(i: usize) -> App {
    a_deployment("shop", &format!("web-{i}"))
        .with_fsb_volume("data")
        .with_replicas(REPLICAS as u64)
}

fn status_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

#[tokio::test]
async fn a_restore_of_ten_thousand_items_answers_every_one_with_bounded_memory() {
    let apps: Vec<App> = (0..DEPLOYMENTS).map(app).collect();
    let mut backup = BackupObjects::default();
    let mut pvbs = Vec::new();
    for a in &apps {
        backup.deployments.push(a.deployment());
        backup.replicasets.extend(a.replicasets());
        backup.pods.extend(a.pods());
        pvbs.extend(a.pod_volume_backups());
    }
    let items = backup.deployments.len() + backup.replicasets.len() + backup.pods.len();
    assert_eq!(items, 10_000);
    let cluster = FakeCluster::serving(backup.clone(), pvbs, RULES, |_| {});
    let guard = cluster.guard();
    let restore = a_restore(json!({}));
    let Some(rss_before) = status_kib("VmRSS:") else {
        eprintln!("no /proc/self/status: skipped");
        return;
    };

    let mut fsb_pods = 0;
    for a in &apps {
        let fsb = a.fsb_index();
        for pod in a.pods() {
            let prepared = velero_prepares_pod(&pod, &fsb.volumes_of(&pod));
            let out = guard
                .restore_item(execute_input(prepared, &pod, &restore))
                .await
                .unwrap_or_else(|e| panic!("pod {}: {e:?}", name_of(&pod)));
            assert_eq!(
                out.item["spec"]["hostname"],
                "restored",
                "{}",
                name_of(&pod)
            );
            assert_eq!(
                out.item["spec"]["initContainers"][0]["name"],
                "restore-wait"
            );
            fsb_pods += 1;
        }
    }
    let rss_after_pods = status_kib("VmRSS:").unwrap_or_default();
    for rs in &backup.replicasets {
        let out = guard
            .restore_item(execute_input(as_velero_hands_it(rs), rs, &restore))
            .await
            .unwrap_or_else(|e| panic!("ReplicaSet {}: {e:?}", name_of(rs)));
        assert_eq!(
            out.item["spec"]["template"]["spec"]["hostname"],
            "restored",
            "{}",
            name_of(rs)
        );
        // What Velero creates becomes the live object the Deployment step reads.
        let mut created = out.item;
        created["metadata"]["resourceVersion"] = json!("500");
        cluster.put(Resource::REPLICA_SETS, TARGET, name_of(rs), created);
    }
    for d in &backup.deployments {
        let out = guard
            .restore_item(execute_input(as_velero_hands_it(d), d, &restore))
            .await
            .unwrap_or_else(|e| panic!("Deployment {}: {e:?}", name_of(d)));
        assert_eq!(
            out.item,
            as_velero_hands_it(d),
            "Deployment item left alone"
        );
    }
    let rss_after = status_kib("VmRSS:").unwrap_or_default();
    let peak = status_kib("VmHWM:").unwrap_or_default();
    assert_eq!(fsb_pods, DEPLOYMENTS * REPLICAS);

    let calls = cluster.calls();
    let count = |prefix: &str| calls.iter().filter(|c| c.starts_with(prefix)).count();
    assert_eq!(count("list podvolumebackups"), 1);
    assert_eq!(count("download "), 1);
    assert_eq!(count("get configmap "), 1);
    // No blind writes: every live ReplicaSet already carried the template.
    assert_eq!(count("patch "), 0);

    let grown_mib = rss_after.saturating_sub(rss_before) / 1024;
    eprintln!(
        "10,000 items ({DEPLOYMENTS} Deployments of {REPLICAS} FSB pods): VmRSS {} MiB before the restore, {} MiB after the pods, {} MiB after all items (+{grown_mib} MiB), VmHWM {} MiB",
        rss_before / 1024,
        rss_after_pods / 1024,
        rss_after / 1024,
        peak / 1024
    );
    // The restore keeps one plan per workload (its corrected pods included) until Velero ends it:
    // memory grows with the restore's workloads, by a bounded amount per workload.
    assert!(
        grown_mib < 256,
        "a restore of 10,000 items added {grown_mib} MiB of resident memory (want < 256 MiB)"
    );
}
