//! Who owns what — read from backed-up objects. Restored items have lost their `ownerReferences`
//! (Velero resets metadata before actions run), so ownership always comes from the backed-up copy
//! (`itemFromBackup`, or the backup contents).
//!
//! One notion serves the three kinds: a [`Workload`] owns a pod template and its pods, found from a
//! pod by [`Workload::owning`].

use serde_json::Value;

use super::object::{name_of, namespace_of, str_at};

/// Label the Deployment controller puts on its ReplicaSets and their pods.
pub const POD_TEMPLATE_HASH: &str = "pod-template-hash";
/// Pod label naming the ControllerRevision a StatefulSet (or DaemonSet) pod was created from.
pub const REVISION_HASH_LABEL: &str = "controller-revision-hash";

/// The kinds of workload the guard protects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Deployment,
    StatefulSet,
    DaemonSet,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Deployment => "Deployment",
            Self::StatefulSet => "StatefulSet",
            Self::DaemonSet => "DaemonSet",
        }
    }
}

/// A backed-up workload: kind, backup (original) namespace and name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Workload {
    pub kind: Kind,
    pub namespace: String,
    pub name: String,
}

impl Workload {
    pub fn new(kind: Kind, namespace: &str, name: &str) -> Self {
        Self {
            kind,
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        }
    }

    /// The workload `object` itself (a Deployment, StatefulSet or DaemonSet).
    pub fn of(kind: Kind, object: &Value) -> Self {
        Self::new(kind, namespace_of(object), name_of(object))
    }

    /// The workload whose pod `pod_from_backup` is: a Deployment through its ReplicaSet
    /// ([`pod_lineage`]), a StatefulSet through owner and ordinal ([`statefulset_pod_lineage`]), a
    /// DaemonSet through its controller reference.
    pub fn owning(pod_from_backup: &Value) -> Option<Self> {
        if let Some(lineage) = pod_lineage(pod_from_backup) {
            return Some(Self {
                kind: Kind::Deployment,
                namespace: lineage.namespace,
                name: lineage.deployment,
            });
        }
        if let Some(lineage) = statefulset_pod_lineage(pod_from_backup) {
            return Some(Self {
                kind: Kind::StatefulSet,
                namespace: lineage.namespace,
                name: lineage.statefulset,
            });
        }
        let owner = daemonset_owner(pod_from_backup)?;
        Some(Self::new(
            Kind::DaemonSet,
            namespace_of(pod_from_backup),
            owner,
        ))
    }

    /// The workload a backed-up object of `kind` belongs to: the workload itself, a Deployment's
    /// ReplicaSet, a StatefulSet's or DaemonSet's ControllerRevision, or a pod ([`Self::owning`]).
    /// `None` for other kinds and for objects no workload controls.
    pub fn of_backed_up(kind: &str, object: &Value) -> Option<Self> {
        let owned = |kind, name: &str| Self::new(kind, namespace_of(object), name);
        match kind {
            "Pod" => Self::owning(object),
            "ReplicaSet" => replicaset_owner(object).map(|d| owned(Kind::Deployment, d)),
            "Deployment" => Some(Self::of(Kind::Deployment, object)),
            "StatefulSet" => Some(Self::of(Kind::StatefulSet, object)),
            "DaemonSet" => Some(Self::of(Kind::DaemonSet, object)),
            "ControllerRevision" => statefulset_owner(object)
                .map(|s| owned(Kind::StatefulSet, s))
                .or_else(|| daemonset_owner(object).map(|d| owned(Kind::DaemonSet, d))),
            _ => None,
        }
    }

    /// `Deployment shop/web`: how notes and errors name it.
    pub fn label(&self) -> String {
        format!("{} {}/{}", self.kind.as_str(), self.namespace, self.name)
    }
}

fn controller_owner<'a>(object: &'a Value, kind: &str) -> Option<&'a str> {
    object
        .pointer("/metadata/ownerReferences")?
        .as_array()?
        .iter()
        .find(|r| {
            r.get("controller").and_then(Value::as_bool) == Some(true)
                && r.get("kind").and_then(Value::as_str) == Some(kind)
                && r.get("apiVersion")
                    .and_then(Value::as_str)
                    .is_some_and(|v| v.starts_with("apps/"))
        })?
        .get("name")?
        .as_str()
}

/// A Deployment-managed pod's lineage, as read from its backed-up copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodLineage {
    /// Original (backup) namespace.
    pub namespace: String,
    pub replicaset: String,
    pub deployment: String,
    pub pod_template_hash: String,
}

impl PodLineage {
    /// The Deployment.
    pub fn workload(&self) -> Workload {
        Workload::new(Kind::Deployment, &self.namespace, &self.deployment)
    }
}

/// The Deployment behind a pod: its controlling ReplicaSet (from `ownerReferences` of the backed-up
/// pod) whose name is `<deployment>-<pod-template-hash>`. `None` for pods not managed this way
/// (bare pods, StatefulSets, ReplicaSets without a Deployment-style name).
pub fn pod_lineage(pod_from_backup: &Value) -> Option<PodLineage> {
    let replicaset = controller_owner(pod_from_backup, "ReplicaSet")?;
    let hash = pod_from_backup
        .pointer("/metadata/labels")?
        .get(POD_TEMPLATE_HASH)?
        .as_str()?;
    let deployment = replicaset.strip_suffix(hash)?.strip_suffix('-')?;
    if deployment.is_empty() || hash.is_empty() {
        return None;
    }
    Some(PodLineage {
        namespace: namespace_of(pod_from_backup).to_owned(),
        replicaset: replicaset.to_owned(),
        deployment: deployment.to_owned(),
        pod_template_hash: hash.to_owned(),
    })
}

/// The controlling Deployment of a backed-up ReplicaSet, from its `ownerReferences`.
pub fn replicaset_owner(replicaset_from_backup: &Value) -> Option<&str> {
    controller_owner(replicaset_from_backup, "Deployment")
}

/// The controlling DaemonSet of a backed-up pod or ControllerRevision, from its `ownerReferences`.
pub fn daemonset_owner(object_from_backup: &Value) -> Option<&str> {
    controller_owner(object_from_backup, "DaemonSet")
}

/// The controlling StatefulSet of a backed-up pod or ControllerRevision, from its
/// `ownerReferences`.
pub fn statefulset_owner(object_from_backup: &Value) -> Option<&str> {
    controller_owner(object_from_backup, "StatefulSet")
}

/// A StatefulSet pod's lineage, as read from its backed-up copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatefulPodLineage {
    /// Original (backup) namespace.
    pub namespace: String,
    pub statefulset: String,
    /// `n` of the pod name `<statefulset>-<n>`: the controller removes the highest first.
    pub ordinal: u64,
    /// The pod's `controller-revision-hash` label: the name of the ControllerRevision it was
    /// created from.
    pub revision: Option<String>,
}

impl StatefulPodLineage {
    /// The StatefulSet.
    pub fn workload(&self) -> Workload {
        Workload::new(Kind::StatefulSet, &self.namespace, &self.statefulset)
    }
}

/// The StatefulSet behind a pod: its controlling owner (from `ownerReferences` of the backed-up
/// pod) and the ordinal from the pod name `<statefulset>-<n>`, as the controller's
/// `getParentNameAndOrdinal` reads it. `None` for other pods.
pub fn statefulset_pod_lineage(pod_from_backup: &Value) -> Option<StatefulPodLineage> {
    let statefulset = statefulset_owner(pod_from_backup)?;
    let ordinal = name_of(pod_from_backup)
        .strip_prefix(statefulset)?
        .strip_prefix('-')?;
    if ordinal.is_empty() || !ordinal.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(StatefulPodLineage {
        namespace: namespace_of(pod_from_backup).to_owned(),
        statefulset: statefulset.to_owned(),
        ordinal: ordinal.parse().ok()?,
        revision: str_at(pod_from_backup, "/metadata/labels/controller-revision-hash")
            .map(str::to_owned),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Backed-up pod `name` in `shop` with `labels`, controlled by `kind` `owner` (apps/v1).
    fn pod(name: &str, labels: Value, kind: &str, owner: &str) -> Value {
        let controller =
            json!({"apiVersion": "apps/v1", "kind": kind, "name": owner, "controller": true});
        json!({"metadata": {"name": name, "namespace": "shop", "labels": labels,
            "ownerReferences": [controller]}})
    }

    #[test]
    fn pod_lineage_from_owner_reference_and_hash() {
        let labels = json!({"pod-template-hash": "7d9f8b"});
        let pod = pod("web-7d9f8b-abcde", labels, "ReplicaSet", "web-7d9f8b");
        let lineage = pod_lineage(&pod).expect("a Deployment's pod");
        let PodLineage {
            namespace,
            replicaset,
            deployment,
            pod_template_hash,
        } = &lineage;
        assert_eq!(
            [namespace, replicaset, deployment, pod_template_hash],
            ["shop", "web-7d9f8b", "web", "7d9f8b"]
        );
        // Hash label that is not the RS name's suffix: not a Deployment-managed pod.
        let mut other = pod.clone();
        other["metadata"]["labels"]["pod-template-hash"] = json!("zzz");
        assert_eq!(pod_lineage(&other), None);
        // No controller owner (the restored item): no lineage.
        let mut bare = pod;
        bare["metadata"]
            .as_object_mut()
            .unwrap()
            .remove("ownerReferences");
        assert_eq!(pod_lineage(&bare), None);
    }

    #[test]
    fn statefulset_pod_lineage_from_owner_and_ordinal() {
        let labels = json!({"controller-revision-hash": "db-7b9c"});
        let pod = pod("db-12", labels, "StatefulSet", "db");
        let lineage = statefulset_pod_lineage(&pod).expect("a StatefulSet's pod");
        assert_eq!(
            (lineage.namespace.as_str(), lineage.statefulset.as_str()),
            ("shop", "db")
        );
        assert_eq!(lineage.ordinal, 12);
        assert_eq!(lineage.revision.as_deref(), Some("db-7b9c"));
        // A name that is not `<statefulset>-<n>`: not a member (the controller ignores it too).
        let mut stray = pod.clone();
        stray["metadata"]["name"] = json!("db-x1");
        assert_eq!(statefulset_pod_lineage(&stray), None);
        stray["metadata"]["name"] = json!("dbx-1");
        assert_eq!(statefulset_pod_lineage(&stray), None);
        // Owned by a ReplicaSet: not a StatefulSet pod.
        let mut rs = pod;
        rs["metadata"]["ownerReferences"][0]["kind"] = json!("ReplicaSet");
        assert_eq!(statefulset_pod_lineage(&rs), None);
    }
}
