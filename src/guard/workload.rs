//! Who owns what, and which pods hold file-system-backup data — read from backed-up objects.
//!
//! Restored items have lost their `ownerReferences` (Velero resets metadata before actions run), so
//! ownership always comes from the backed-up copy (`itemFromBackup`, or the backup contents).

use std::collections::BTreeSet;

use serde_json::Value;

use super::error::{Error, Result};
pub use crate::backup::fsb_volumes::LEGACY_SNAPSHOT_ANNOTATION_PREFIX;
use crate::backup::fsb_volumes::PodVolumeBackups;

/// Label the Deployment controller puts on its ReplicaSets and their pods.
pub const POD_TEMPLATE_HASH: &str = "pod-template-hash";
/// Init containers Velero inserts into pods with FSB data (current and legacy name).
pub const RESTORE_WAIT_CONTAINERS: [&str; 2] = ["restore-wait", "restic-wait"];

/// Metadata fields Velero's `resetMetadataAndStatus` deletes before actions and modifiers run.
const RESET_METADATA_FIELDS: [&str; 9] = [
    "generateName",
    "selfLink",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "ownerReferences",
];

/// The object as Velero hands it to restore item actions and resource modifiers: metadata reset
/// (see `RESET_METADATA_FIELDS`), `status` removed, namespace and labels untouched (the namespace
/// mapping and restore labels are applied after the modifiers).
pub fn as_velero_hands_it(object: &Value) -> Value {
    let mut object = object.clone();
    if let Some(map) = object.as_object_mut() {
        map.remove("status");
        if let Some(meta) = map.get_mut("metadata").and_then(Value::as_object_mut) {
            for field in RESET_METADATA_FIELDS {
                meta.remove(field);
            }
        }
    }
    object
}

pub(crate) fn str_at<'a>(object: &'a Value, pointer: &str) -> Option<&'a str> {
    object.pointer(pointer).and_then(Value::as_str)
}

/// `metadata.name` or `""`.
pub fn name_of(object: &Value) -> &str {
    str_at(object, "/metadata/name").unwrap_or_default()
}

/// `metadata.namespace` or `""`.
pub fn namespace_of(object: &Value) -> &str {
    str_at(object, "/metadata/namespace").unwrap_or_default()
}

/// `spec.template` of a `kind` workload (Deployment, StatefulSet, DaemonSet); an error naming it
/// when missing.
pub fn pod_template<'a>(kind: &str, object: &'a Value) -> Result<&'a Value> {
    object.pointer("/spec/template").ok_or_else(|| {
        Error::Invalid(format!(
            "{kind} {}/{} has no spec.template",
            namespace_of(object),
            name_of(object)
        ))
    })
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

/// The `pod-template-hash` a ReplicaSet carries (template label, else object label).
pub fn replicaset_hash(replicaset: &Value) -> Option<&str> {
    str_at(
        replicaset,
        "/spec/template/metadata/labels/pod-template-hash",
    )
    .or_else(|| str_at(replicaset, "/metadata/labels/pod-template-hash"))
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

/// Volumes with file-system-backup data, per pod, decided by the shared implementation of Velero's
/// restore-time rules ([`crate::backup::fsb_volumes`]): PodVolumeBackup `spec.pod.name` + original
/// namespace (no UID), non-empty `status.snapshotID`, projected/downwardAPI pod volumes skipped
/// (`"projected": null` is not projected), the legacy `snapshot.velero.io/<volume>` pod annotations
/// when no PodVolumeBackup matches the pod.
#[derive(Debug, Clone, Default)]
pub struct FsbIndex {
    pvbs: PodVolumeBackups,
}

impl FsbIndex {
    /// Index of PodVolumeBackup objects (as listed from the cluster or read from the backup's
    /// `<backup>-podvolumebackups.json.gz`).
    pub fn from_pod_volume_backups<'a>(pvbs: impl IntoIterator<Item = &'a Value>) -> Self {
        Self {
            pvbs: PodVolumeBackups::new(pvbs.into_iter().cloned()),
        }
    }

    /// No PodVolumeBackup at all: only legacy pod annotations can name FSB volumes (see
    /// [`has_legacy_snapshot_annotations`]).
    pub fn is_empty(&self) -> bool {
        self.pvbs.is_empty()
    }

    /// The FSB volumes Velero will restore into `pod` (a backed-up pod; its namespace is the
    /// original one).
    pub fn volumes_of(&self, pod: &Value) -> BTreeSet<String> {
        self.pvbs
            .fsb_volumes_for_pod(pod, namespace_of(pod))
            .into_keys()
            .collect()
    }
}

/// Whether `pod` carries a legacy `snapshot.velero.io/<volume>` annotation — FSB data Velero
/// restores even when the cluster holds no PodVolumeBackup for the backup.
pub fn has_legacy_snapshot_annotations(pod: &Value) -> bool {
    pod.pointer("/metadata/annotations")
        .and_then(Value::as_object)
        .is_some_and(|a| {
            a.keys()
                .any(|k| k.starts_with(LEGACY_SNAPSHOT_ANNOTATION_PREFIX))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reset_removes_what_velero_removes_and_keeps_the_rest() {
        let obj = json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "shop", "uid": "u", "resourceVersion": "7",
                "generation": 3, "creationTimestamp": "2024-01-01T00:00:00Z", "selfLink": "/x",
                "generateName": "w-", "ownerReferences": [{}], "deletionTimestamp": "t",
                "deletionGracePeriodSeconds": 30, "labels": {"app": "web"},
                "annotations": {"a": "b"}, "finalizers": ["f"], "managedFields": [{}]},
            "spec": {"replicas": 1},
            "status": {"replicas": 1}
        });
        let reset = as_velero_hands_it(&obj);
        assert_eq!(
            reset,
            json!({
                "apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": "web", "namespace": "shop", "labels": {"app": "web"},
                    "annotations": {"a": "b"}, "finalizers": ["f"], "managedFields": [{}]},
                "spec": {"replicas": 1}
            })
        );
    }

    #[test]
    fn pod_lineage_from_owner_reference_and_hash() {
        let pod = json!({"metadata": {"name": "web-7d9f8b-abcde", "namespace": "shop",
            "labels": {"pod-template-hash": "7d9f8b"},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-7d9f8b", "controller": true}]}});
        assert_eq!(
            pod_lineage(&pod),
            Some(PodLineage {
                namespace: "shop".into(),
                replicaset: "web-7d9f8b".into(),
                deployment: "web".into(),
                pod_template_hash: "7d9f8b".into()
            })
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
        let pod = json!({"metadata": {"name": "db-12", "namespace": "shop",
            "labels": {"controller-revision-hash": "db-7b9c"},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "db", "controller": true}]}});
        assert_eq!(
            statefulset_pod_lineage(&pod),
            Some(StatefulPodLineage {
                namespace: "shop".into(),
                statefulset: "db".into(),
                ordinal: 12,
                revision: Some("db-7b9c".into()),
            })
        );
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

    #[test]
    fn a_null_projected_source_is_not_projected() {
        // Go decodes `"projected": null` as a nil pointer: Velero restores the volume.
        let pvbs = [
            json!({"spec": {"pod": {"namespace": "shop", "name": "web-1"}, "volume": "data"}, "status": {"snapshotID": "s1"}}),
        ];
        let index = FsbIndex::from_pod_volume_backups(&pvbs);
        let pod = json!({"metadata": {"name": "web-1", "namespace": "shop"},
            "spec": {"volumes": [{"name": "data", "projected": null, "emptyDir": {}}]}});
        assert_eq!(index.volumes_of(&pod), BTreeSet::from(["data".to_owned()]));
    }

    #[test]
    fn legacy_annotations_are_used_only_when_no_pvb_matches_and_even_without_any_pvb() {
        let pod = json!({"metadata": {"name": "web-1", "namespace": "shop",
            "annotations": {"snapshot.velero.io/data": "abc", "other": "x"}},
            "spec": {"volumes": [{"name": "data", "emptyDir": {}}, {"name": "cache", "emptyDir": {}}]}});
        assert!(has_legacy_snapshot_annotations(&pod));
        let none = FsbIndex::from_pod_volume_backups(&[]);
        assert!(none.is_empty());
        assert_eq!(none.volumes_of(&pod), BTreeSet::from(["data".to_owned()]));
        // A matching PVB wins over the annotations.
        let pvbs = [
            json!({"spec": {"pod": {"namespace": "shop", "name": "web-1"}, "volume": "cache"}, "status": {"snapshotID": "s1"}}),
        ];
        let index = FsbIndex::from_pod_volume_backups(&pvbs);
        assert_eq!(index.volumes_of(&pod), BTreeSet::from(["cache".to_owned()]));
    }

    #[test]
    fn fsb_index_matches_like_velero() {
        let pvbs = [
            json!({"spec": {"pod": {"namespace": "shop", "name": "web-1"}, "volume": "data"}, "status": {"snapshotID": "s1"}}),
            json!({"spec": {"pod": {"namespace": "shop", "name": "web-1"}, "volume": "empty"}, "status": {"snapshotID": ""}}),
            json!({"spec": {"pod": {"namespace": "shop", "name": "web-1"}, "volume": "info"}, "status": {"snapshotID": "s2"}}),
            json!({"spec": {"pod": {"namespace": "other", "name": "web-2"}, "volume": "data"}, "status": {"snapshotID": "s3"}}),
        ];
        let index = FsbIndex::from_pod_volume_backups(&pvbs);
        let pod = json!({"metadata": {"name": "web-1", "namespace": "shop"},
            "spec": {"volumes": [{"name": "data", "emptyDir": {}}, {"name": "info", "downwardAPI": {}}]}});
        assert_eq!(index.volumes_of(&pod), BTreeSet::from(["data".to_owned()]));
        // Same name in another namespace: no match; legacy annotation used instead.
        let legacy = json!({"metadata": {"name": "web-2", "namespace": "shop",
            "annotations": {"snapshot.velero.io/cache": "abc"}}});
        assert_eq!(
            index.volumes_of(&legacy),
            BTreeSet::from(["cache".to_owned()])
        );
    }
}
