//! Which pod volumes carry file-system-backup (FSB) data, decided the way Velero decides it at
//! restore time (`pkg/podvolume` `GetVolumeBackupsForPod` / `getVolumeBackupInfoForPod`):
//!
//! 1. A PodVolumeBackup belongs to a pod iff `spec.pod.name` equals the pod's name **and**
//!    `spec.pod.namespace` equals the pod's *original* (pre-remap) namespace. UIDs are not compared.
//! 2. PodVolumeBackups with an empty `status.snapshotID` are skipped (failed or empty volumes).
//! 3. A PodVolumeBackup whose volume is, in the pod, a `projected` or `downwardAPI` volume is skipped.
//!    A volume the pod does not have is *not* skipped.
//! 4. Key = `spec.volume`; a later PodVolumeBackup for the same volume replaces an earlier one.
//! 5. Only when no PodVolumeBackup matched: the legacy pod annotations
//!    `snapshot.velero.io/<volume>: <snapshotID>`.
//!
//! Pure functions over `serde_json::Value`; no I/O. The plugin feeds it PVBs listed from the cluster,
//! the offline check PVBs read from the bucket file; both ask through [`FsbIndex`].

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::Value;

/// Annotation prefix of the pre-PodVolumeBackup era (still honoured by Velero as a fallback).
pub const LEGACY_SNAPSHOT_ANNOTATION_PREFIX: &str = "snapshot.velero.io/";

/// One pod volume with FSB data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FsbVolume {
    pub snapshot_id: String,
    /// `spec.uploaderType` of the PodVolumeBackup (`kopia`, `restic`); `None` for annotations.
    pub uploader_type: Option<String>,
    pub source: FsbSource,
}

/// Where the knowledge about an FSB volume came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FsbSource {
    /// A PodVolumeBackup object (its `metadata.name`).
    PodVolumeBackup { name: String },
    /// A `snapshot.velero.io/<volume>` pod annotation.
    LegacyAnnotation,
}

fn str_at<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

/// What the rules read of a PodVolumeBackup: the object itself ([`Value`]), or the record a
/// restore keeps of it ([`PvbRecord`]). Absent fields read as empty.
pub trait PvbFields {
    fn name(&self) -> &str;
    fn pod_namespace(&self) -> &str;
    fn pod_name(&self) -> &str;
    fn volume(&self) -> &str;
    fn uploader_type(&self) -> Option<&str>;
    fn snapshot_id(&self) -> &str;
}

impl PvbFields for Value {
    fn name(&self) -> &str {
        str_at(self, "/metadata/name")
    }
    fn pod_namespace(&self) -> &str {
        str_at(self, "/spec/pod/namespace")
    }
    fn pod_name(&self) -> &str {
        str_at(self, "/spec/pod/name")
    }
    fn volume(&self) -> &str {
        str_at(self, "/spec/volume")
    }
    fn uploader_type(&self) -> Option<&str> {
        self.pointer("/spec/uploaderType").and_then(Value::as_str)
    }
    fn snapshot_id(&self) -> &str {
        str_at(self, "/status/snapshotID")
    }
}

/// What a restore keeps of one PodVolumeBackup: the fields the rules read, a few hundred bytes
/// instead of the listed object's tree (5,000 PodVolumeBackups as trees: ~60 MiB).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PvbRecord {
    name: String,
    pod_namespace: String,
    pod_name: String,
    volume: String,
    uploader_type: Option<String>,
    snapshot_id: String,
}

impl PvbRecord {
    pub fn of(pvb: &impl PvbFields) -> Self {
        Self {
            name: pvb.name().to_owned(),
            pod_namespace: pvb.pod_namespace().to_owned(),
            pod_name: pvb.pod_name().to_owned(),
            volume: pvb.volume().to_owned(),
            uploader_type: pvb.uploader_type().map(str::to_owned),
            snapshot_id: pvb.snapshot_id().to_owned(),
        }
    }
}

impl PvbFields for PvbRecord {
    fn name(&self) -> &str {
        &self.name
    }
    fn pod_namespace(&self) -> &str {
        &self.pod_namespace
    }
    fn pod_name(&self) -> &str {
        &self.pod_name
    }
    fn volume(&self) -> &str {
        &self.volume
    }
    fn uploader_type(&self) -> Option<&str> {
        self.uploader_type.as_deref()
    }
    fn snapshot_id(&self) -> &str {
        &self.snapshot_id
    }
}

/// Rule 1: pod name and original namespace.
pub fn pvb_matches_pod(pvb: &impl PvbFields, pod_name: &str, source_namespace: &str) -> bool {
    pvb.pod_name() == pod_name && pvb.pod_namespace() == source_namespace
}

/// Rule 3: the pod's volume of that name (the first one, as Velero looks it up) is projected or
/// downwardAPI. A `null` source counts as absent, as it does after Go decoding.
fn volume_is_non_restorable(pod: &Value, volume: &str) -> bool {
    let Some(vol) = pod
        .pointer("/spec/volumes")
        .and_then(Value::as_array)
        .and_then(|vols| vols.iter().find(|v| str_at(v, "/name") == volume))
    else {
        return false;
    };
    ["projected", "downwardAPI"]
        .iter()
        .any(|k| vol.get(*k).is_some_and(|s| !s.is_null()))
}

/// Volume name → FSB data for `pod`, whose original namespace is `source_namespace`, from `pvbs`
/// (any PVBs of the backup; non-matching ones are ignored), falling back to legacy annotations.
pub fn fsb_volumes_for_pod<'a, P: PvbFields + 'a>(
    pod: &Value,
    source_namespace: &str,
    pvbs: impl IntoIterator<Item = &'a P>,
) -> BTreeMap<String, FsbVolume> {
    let pod_name = str_at(pod, "/metadata/name");
    let mut volumes = BTreeMap::new();
    for pvb in pvbs {
        if !pvb_matches_pod(pvb, pod_name, source_namespace) {
            continue;
        }
        let snapshot_id = pvb.snapshot_id();
        if snapshot_id.is_empty() {
            continue;
        }
        let volume = pvb.volume();
        if volume_is_non_restorable(pod, volume) {
            continue;
        }
        volumes.insert(
            volume.to_owned(),
            FsbVolume {
                snapshot_id: snapshot_id.to_owned(),
                uploader_type: pvb.uploader_type().map(str::to_owned),
                source: FsbSource::PodVolumeBackup {
                    name: pvb.name().to_owned(),
                },
            },
        );
    }
    if volumes.is_empty() {
        legacy_snapshot_annotations(pod)
    } else {
        volumes
    }
}

/// Rule 5: `snapshot.velero.io/<volume>: <snapshotID>` annotations of the pod.
pub fn legacy_snapshot_annotations(pod: &Value) -> BTreeMap<String, FsbVolume> {
    let Some(annotations) = pod
        .pointer("/metadata/annotations")
        .and_then(Value::as_object)
    else {
        return BTreeMap::new();
    };
    annotations
        .iter()
        .filter_map(|(key, value)| {
            let volume = key.strip_prefix(LEGACY_SNAPSHOT_ANNOTATION_PREFIX)?;
            Some((
                volume.to_owned(),
                FsbVolume {
                    snapshot_id: value.as_str().unwrap_or("").to_owned(),
                    uploader_type: None,
                    source: FsbSource::LegacyAnnotation,
                },
            ))
        })
        .collect()
}

/// The fields of a PodVolumeBackup the decisions read (name, pod, volume, uploader type, snapshot
/// ID), as a document of those alone. A listed PodVolumeBackup also carries labels, owner
/// references, managed fields and progress: about ten times as much, and a restore of 5,000 FSB
/// pods would hold ~60 MiB of it for nothing.
pub fn read_of_pvb(pvb: &Value) -> Value {
    // Absent fields read as null, as the readers treat them.
    let at = |pointer| pvb.pointer(pointer).cloned().unwrap_or(Value::Null);
    serde_json::json!({
        "metadata": {"name": at("/metadata/name")},
        "spec": {
            "pod": {"namespace": at("/spec/pod/namespace"), "name": at("/spec/pod/name")},
            "volume": at("/spec/volume"),
            "uploaderType": at("/spec/uploaderType"),
        },
        "status": {"snapshotID": at("/status/snapshotID")},
    })
}

/// The PodVolumeBackups of one backup, grouped by (original namespace, pod name) so each pod's
/// lookup does not scan the whole list.
#[derive(Debug, Clone, Default)]
pub struct PodVolumeBackups {
    by_pod: HashMap<(String, String), Vec<PvbRecord>>,
    total: usize,
}

impl PodVolumeBackups {
    /// Keeps of each PodVolumeBackup only what the decisions read ([`PvbRecord`]).
    pub fn new<'a>(pvbs: impl IntoIterator<Item = &'a Value>) -> Self {
        let mut by_pod: HashMap<(String, String), Vec<PvbRecord>> = HashMap::new();
        let mut total = 0;
        for pvb in pvbs {
            total += 1;
            let pvb = PvbRecord::of(pvb);
            let key = (pvb.pod_namespace.clone(), pvb.pod_name.clone());
            by_pod.entry(key).or_default().push(pvb);
        }
        Self { by_pod, total }
    }

    /// PVBs recorded for the pod `name` in original namespace `namespace`, in input order.
    pub fn for_pod(&self, namespace: &str, name: &str) -> &[PvbRecord] {
        self.by_pod
            .get(&(namespace.to_owned(), name.to_owned()))
            .map_or(&[], Vec::as_slice)
    }

    /// [`fsb_volumes_for_pod`] over this backup's PVBs.
    pub fn fsb_volumes_for_pod(
        &self,
        pod: &Value,
        source_namespace: &str,
    ) -> BTreeMap<String, FsbVolume> {
        let name = str_at(pod, "/metadata/name");
        fsb_volumes_for_pod(pod, source_namespace, self.for_pod(source_namespace, name))
    }

    /// (original namespace, pod name) of every pod with at least one PVB.
    pub fn pods(&self) -> impl Iterator<Item = (&str, &str)> {
        self.by_pod.keys().map(|(ns, n)| (ns.as_str(), n.as_str()))
    }

    pub fn len(&self) -> usize {
        self.total
    }

    pub fn is_empty(&self) -> bool {
        self.total == 0
    }
}

/// Pod annotation opting volumes in to FSB (comma-separated volume names).
pub const VOLUMES_TO_BACKUP_ANNOTATION: &str = "backup.velero.io/backup-volumes";
/// Pod annotation opting volumes out when FSB is the default (comma-separated volume names).
pub const VOLUMES_TO_EXCLUDE_ANNOTATION: &str = "backup.velero.io/backup-volumes-excludes";

/// The pod volumes a backup would have sent to FSB, by Velero's backup-time selection
/// (`pkg/util/podvolume` `GetVolumesByPod`), for when no PodVolumeBackup list is at hand:
///
/// - FSB not the default: exactly the names in `backup.velero.io/backup-volumes` (split on `,`,
///   taken verbatim, even names the pod does not have).
/// - FSB the default (`--default-volumes-to-fs-backup`): every pod volume except hostPath, secret,
///   configMap, projected and downwardAPI volumes, PVC volumes when `exclude_pvc_volumes`, names in
///   `backup.velero.io/backup-volumes-excludes`, and names starting with `default-token`.
///
/// This is what the backup *selected*; whether data was actually stored is only known from the
/// PodVolumeBackups (a volume can fail or be empty).
pub fn volumes_selected_for_fs_backup(
    pod: &Value,
    default_volumes_to_fs_backup: bool,
    exclude_pvc_volumes: bool,
) -> Vec<String> {
    let annotation = |key: &str| {
        pod.pointer("/metadata/annotations")
            .and_then(|a| a.get(key))
            .and_then(Value::as_str)
            .unwrap_or("")
    };
    if !default_volumes_to_fs_backup {
        let opted_in = annotation(VOLUMES_TO_BACKUP_ANNOTATION);
        if opted_in.is_empty() {
            return Vec::new();
        }
        return opted_in.split(',').map(str::to_owned).collect();
    }
    let excluded: Vec<&str> = annotation(VOLUMES_TO_EXCLUDE_ANNOTATION)
        .split(',')
        .collect();
    let has = |vol: &Value, key: &str| vol.get(key).is_some_and(|s| !s.is_null());
    pod.pointer("/spec/volumes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|vol| {
            ![
                "hostPath",
                "secret",
                "configMap",
                "projected",
                "downwardAPI",
            ]
            .iter()
            .any(|k| has(vol, k))
        })
        .filter(|vol| !(exclude_pvc_volumes && has(vol, "persistentVolumeClaim")))
        .map(|vol| str_at(vol, "/name"))
        .filter(|name| !excluded.contains(name) && !name.starts_with("default-token"))
        .map(str::to_owned)
        .collect()
}

/// Volumes with file-system-backup data, per pod, decided by the rules above: PodVolumeBackup
/// `spec.pod.name` + original namespace (no UID), non-empty `status.snapshotID`,
/// projected/downwardAPI pod volumes skipped (`"projected": null` is not projected), the legacy
/// `snapshot.velero.io/<volume>` pod annotations when no PodVolumeBackup matches the pod.
#[derive(Debug, Clone, Default)]
pub struct FsbIndex {
    pvbs: PodVolumeBackups,
}

impl FsbIndex {
    /// Index of PodVolumeBackup objects (as listed from the cluster or read from the backup's
    /// `<backup>-podvolumebackups.json.gz`).
    pub fn from_pod_volume_backups<'a>(pvbs: impl IntoIterator<Item = &'a Value>) -> Self {
        Self {
            pvbs: PodVolumeBackups::new(pvbs),
        }
    }

    /// No PodVolumeBackup at all: only legacy pod annotations can name FSB volumes (see
    /// [`has_legacy_snapshot_annotations`]).
    pub fn is_empty(&self) -> bool {
        self.pvbs.is_empty()
    }

    /// (original namespace, pod name) of every pod with at least one PodVolumeBackup.
    pub fn pods(&self) -> impl Iterator<Item = (&str, &str)> {
        self.pvbs.pods()
    }

    /// The FSB volumes Velero will restore into `pod` (a backed-up pod; its namespace is the
    /// original one).
    pub fn volumes_of(&self, pod: &Value) -> BTreeSet<String> {
        let namespace = str_at(pod, "/metadata/namespace");
        self.pvbs
            .fsb_volumes_for_pod(pod, namespace)
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
