//! The guard as the plugin binary serves it: with no reachable cluster it fails open — the item
//! comes back unchanged and the restore log gets one `warn` line naming the workload.

mod plugin_support;

use std::time::Duration;

use serde_json::{Value, json};
use velero_plugin::proto::v2::RestoreItemActionExecuteRequest;
use velero_plugin::proto::v2::restore_item_action_client::RestoreItemActionClient;

use plugin_support::{PLUGIN_NAME, json_lines, start};

#[tokio::test]
async fn fails_open_with_a_warning_naming_the_workload_when_the_cluster_is_unreachable() {
    let home = tempfile::tempdir().unwrap();
    let home = home.path().to_str().unwrap();
    // No in-cluster environment and no kubeconfig: the guard cannot reach any API server.
    let plugin = start(
        &["--log-level", "info"],
        &[("HOME", home), ("KUBECONFIG", "/nonexistent/kubeconfig")],
    );
    let mut action = RestoreItemActionClient::new(plugin.channel().await);
    let restore = json!({
        "metadata": {"name": "r1", "namespace": "velero", "uid": "u-1"},
        "spec": {"backupName": "nightly", "resourceModifier": {"kind": "ConfigMap", "name": "mods"}}
    });
    let backed_up = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "web-5d894cc6b7-x1", "namespace": "shop",
            "labels": {"app": "web", "pod-template-hash": "5d894cc6b7"},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-5d894cc6b7",
                "uid": "rs", "controller": true}]},
        "spec": {"containers": [{"name": "app", "image": "app:1"}]}
    });
    let mut item = backed_up.clone();
    item["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("ownerReferences");
    let reply = tokio::time::timeout(
        Duration::from_secs(30),
        action.execute(RestoreItemActionExecuteRequest {
            plugin: PLUGIN_NAME.into(),
            item: serde_json::to_vec(&item).unwrap(),
            restore: serde_json::to_vec(&restore).unwrap(),
            item_from_backup: serde_json::to_vec(&backed_up).unwrap(),
        }),
    )
    .await
    .expect("Execute answers within the bound")
    .expect("fail open: no item error")
    .into_inner();
    assert_eq!(serde_json::from_slice::<Value>(&reply.item).unwrap(), item);
    assert!(!reply.skip_restore);

    let finished = plugin.kill();
    let lines = json_lines(&finished.stderr);
    assert!(
        lines.iter().any(|l| l["@level"] == "warn"
            && l.get("workload").and_then(Value::as_str) == Some("Deployment shop/web")
            && l["@message"]
                .as_str()
                .is_some_and(|m| m.contains("restored unchanged"))),
        "no warn line naming the workload; stderr: {}",
        finished.stderr
    );
}
