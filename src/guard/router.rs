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

/// The workload controller of a backed-up pod or ControllerRevision other than a ReplicaSet:
/// what decides which kind's file handles it (restored items have lost their owners).
enum Controller<'a> {
    DaemonSet(&'a str),
    StatefulSet(&'a str),
    /// None of the two: a Deployment's pod (through its ReplicaSet), or no workload.
    Other,
}

fn controller_of(from_backup: &Value) -> Controller<'_> {
    if let Some(name) = daemonset_owner(from_backup) {
        Controller::DaemonSet(name)
    } else if let Some(name) = statefulset_owner(from_backup) {
        Controller::StatefulSet(name)
    } else {
        Controller::Other
    }
}

/// Decides for one item (everything Velero hands the guard, see [`super::applies_to`]).
pub(super) async fn route<C: LiveCluster>(item: &Item<'_, C>) -> Result<Answer> {
    let controller = controller_of(&item.input.item_from_backup);
    match (kind_of(&item.input.item), controller) {
        ("Pod", Controller::DaemonSet(_)) => daemonset::pod(item),
        ("Pod", Controller::StatefulSet(_)) => statefulset::pod(item),
        ("Pod", Controller::Other) => deployment::pod(item),
        ("ReplicaSet", _) => deployment::replicaset(item),
        ("Deployment", _) => deployment::deployment(item).await,
        ("ControllerRevision", Controller::DaemonSet(_)) => daemonset::revision(item).await,
        ("ControllerRevision", Controller::StatefulSet(_)) => statefulset::revision(item).await,
        ("StatefulSet", _) => statefulset::statefulset(item).await,
        ("DaemonSet", _) => daemonset::daemonset(item).await,
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
    let owned = match (kind, controller_of(from)) {
        ("Pod" | "ControllerRevision", Controller::DaemonSet(d)) => {
            Some(format!("DaemonSet {namespace}/{d}"))
        }
        ("Pod" | "ControllerRevision", Controller::StatefulSet(s)) => {
            Some(format!("StatefulSet {namespace}/{s}"))
        }
        ("Pod", Controller::Other) => {
            pod_lineage(from).map(|l| format!("Deployment {}/{}", l.namespace, l.deployment))
        }
        ("ReplicaSet", _) => replicaset_owner(from).map(|d| format!("Deployment {namespace}/{d}")),
        _ => None,
    };
    owned.unwrap_or_else(|| match kind {
        "Pod" => format!("pod {namespace}/{}", name_of(from)),
        _ => format!("{kind} {namespace}/{}", name_of(from)),
    })
}
