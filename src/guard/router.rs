//! Which kind's file decides for an item: by its kind and, for pods and ControllerRevisions, by
//! the workload that controls its backed-up copy (restored items have lost their owners).

use fsb_guard_core::toolkit::owners::{
    daemonset_owner, pod_lineage, replicaset_owner, statefulset_owner,
};
use fsb_guard_core::{name_of, namespace_of};
use serde_json::Value;
use velero_plugin::ExecuteInput;

use super::error::Result;
use super::executor::Answer;
use super::item::Item;
use super::ports::LiveCluster;
use super::{daemonset, deployment, statefulset};

fn kind_of(item: &Value) -> &str {
    item.get("kind").and_then(Value::as_str).unwrap_or_default()
}

/// Decides for one item (everything Velero hands the guard, see [`super::applies_to`]).
pub(super) async fn route<C: LiveCluster>(item: &Item<'_, C>) -> Result<Answer> {
    let from_backup = &item.input.item_from_backup;
    let daemonset_owned = daemonset_owner(from_backup).is_some();
    let statefulset_owned = statefulset_owner(from_backup).is_some();
    match kind_of(&item.input.item) {
        "Pod" if daemonset_owned => daemonset::pod(item),
        "Pod" if statefulset_owned => statefulset::pod(item),
        "Pod" => deployment::pod(item),
        "ReplicaSet" => deployment::replicaset(item),
        "Deployment" => deployment::deployment(item).await,
        "ControllerRevision" if daemonset_owned => daemonset::revision(item).await,
        "ControllerRevision" if statefulset_owned => statefulset::revision(item).await,
        "StatefulSet" => statefulset::statefulset(item).await,
        "DaemonSet" => daemonset::daemonset(item).await,
        _ => Ok(Answer::as_received()),
    }
}

/// The workload an item belongs to, for the edge's error lines (`Deployment shop/web`), or the
/// item itself when it belongs to none.
pub(super) fn workload_of(input: &ExecuteInput) -> String {
    let from = &input.item_from_backup;
    let namespace = namespace_of(from);
    let kind = input
        .item
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or("item");
    let owned = match kind {
        "Pod" | "ControllerRevision" => daemonset_owner(from)
            .map(|d| format!("DaemonSet {namespace}/{d}"))
            .or_else(|| statefulset_owner(from).map(|s| format!("StatefulSet {namespace}/{s}"))),
        _ => None,
    };
    let owned = owned.or_else(|| match kind {
        "Pod" => pod_lineage(from).map(|l| format!("Deployment {}/{}", l.namespace, l.deployment)),
        "ReplicaSet" => replicaset_owner(from).map(|d| format!("Deployment {namespace}/{d}")),
        _ => None,
    });
    owned.unwrap_or_else(|| match kind {
        "Pod" => format!("pod {namespace}/{}", name_of(from)),
        _ => format!("{kind} {namespace}/{}", name_of(from)),
    })
}
