//! Which pod volumes hold file-system-backup data, and where that knowledge came from.
//!
//! Sources, first one available wins (Velero's own order of evidence):
//! 1. `--pod-volume-backups` (the bucket's `<backup>-podvolumebackups.json.gz` or a JSON list);
//! 2. the bucket folder's PodVolumeBackup file;
//! 3. legacy `snapshot.velero.io/<volume>` pod annotations (what Velero's restore falls back to);
//! 4. the opt-in `backup.velero.io/backup-volumes` pod annotation (backup-time intent);
//! 5. `--default-volumes-to-fs-backup`: every pod volume Velero's opt-out approach backs up
//!    (`pkg/util/podvolume` `GetVolumesByPod`, via [`volumes_selected_for_fs_backup`]): not
//!    hostPath, secret, configMap, projected, downwardAPI, not a `default-token*` volume, not listed
//!    in `backup.velero.io/backup-volumes-excludes`.
//!
//! PodVolumeBackups are matched to pods exactly as during a restore ([`FsbIndex`], shared with the
//! plugin). Annotation-derived volumes are fed through the same index as synthetic PodVolumeBackups.

use serde_json::{Value, json};

use fsb_guard_core::fsb::{
    VOLUMES_TO_BACKUP_ANNOTATION as BACKUP_VOLUMES_ANNOTATION,
    VOLUMES_TO_EXCLUDE_ANNOTATION as BACKUP_VOLUMES_EXCLUDES_ANNOTATION,
    volumes_selected_for_fs_backup,
};
use fsb_guard_core::{FsbIndex, name_of, namespace_of};
const LEGACY_PREFIX: &str = "snapshot.velero.io/";

/// Where FSB volumes were read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FsbSourceKind {
    PodVolumeBackupsFlag,
    BucketPodVolumeBackups,
    LegacyAnnotations,
    OptInAnnotation,
    DefaultVolumesToFsBackup,
    None,
}

impl FsbSourceKind {
    /// Stable identifier (JSON output).
    pub fn id(&self) -> &'static str {
        match self {
            Self::PodVolumeBackupsFlag => "pod-volume-backups-file",
            Self::BucketPodVolumeBackups => "bucket-pod-volume-backups",
            Self::LegacyAnnotations => "legacy-snapshot-annotations",
            Self::OptInAnnotation => "backup-volumes-annotation",
            Self::DefaultVolumesToFsBackup => "default-volumes-to-fs-backup",
            Self::None => "none",
        }
    }
}

/// The FSB index and a sentence saying where it came from.
#[derive(Debug, Clone)]
pub struct FsbSource {
    pub kind: FsbSourceKind,
    pub description: String,
    pub index: FsbIndex,
}

/// Picks the source and builds the index. `pods` are the backed-up pods.
pub fn resolve(
    flag_pvbs: Option<(String, Vec<Value>)>,
    bucket_pvbs: Option<(String, Vec<Value>)>,
    pods: &[&Value],
    default_volumes_to_fs_backup: bool,
) -> FsbSource {
    if let Some((label, pvbs)) = flag_pvbs {
        return FsbSource {
            description: format!(
                "PodVolumeBackups from --pod-volume-backups {label} ({} objects)",
                pvbs.len()
            ),
            index: FsbIndex::from_pod_volume_backups(&pvbs),
            kind: FsbSourceKind::PodVolumeBackupsFlag,
        };
    }
    if let Some((label, pvbs)) = bucket_pvbs {
        return FsbSource {
            description: format!("PodVolumeBackups from {label} ({} objects)", pvbs.len()),
            index: FsbIndex::from_pod_volume_backups(&pvbs),
            kind: FsbSourceKind::BucketPodVolumeBackups,
        };
    }
    let legacy = pods.iter().any(|p| {
        annotations(p).any(|(k, _)| k.starts_with(LEGACY_PREFIX) && k.len() > LEGACY_PREFIX.len())
    });
    if legacy {
        return FsbSource {
            description:
                "legacy snapshot.velero.io/<volume> pod annotations (no PodVolumeBackup list given)"
                    .into(),
            // No PodVolumeBackups: the index falls back to the annotations, as Velero does.
            index: FsbIndex::from_pod_volume_backups(&[]),
            kind: FsbSourceKind::LegacyAnnotations,
        };
    }
    let opt_in: Vec<Value> = pods
        .iter()
        .flat_map(|&pod| {
            volumes_selected_for_fs_backup(pod, false, false)
                .into_iter()
                .map(move |v| synthetic_pvb(pod, &v, "opt-in"))
        })
        .collect();
    if !opt_in.is_empty() {
        return FsbSource {
            description: format!(
                "{BACKUP_VOLUMES_ANNOTATION} pod annotations ({} volumes; no PodVolumeBackup list given, assumed backed up)",
                opt_in.len()
            ),
            index: FsbIndex::from_pod_volume_backups(&opt_in),
            kind: FsbSourceKind::OptInAnnotation,
        };
    }
    if default_volumes_to_fs_backup {
        let all: Vec<Value> = pods
            .iter()
            .flat_map(|&pod| {
                volumes_selected_for_fs_backup(pod, true, false)
                    .into_iter()
                    .map(move |v| synthetic_pvb(pod, &v, "default"))
            })
            .collect();
        return FsbSource {
            description: format!(
                "--default-volumes-to-fs-backup: Velero's eligibility rules ({} volumes; hostPath, secret, configMap, projected, downwardAPI, default-token* and {BACKUP_VOLUMES_EXCLUDES_ANNOTATION} skipped)",
                all.len()
            ),
            index: FsbIndex::from_pod_volume_backups(&all),
            kind: FsbSourceKind::DefaultVolumesToFsBackup,
        };
    }
    FsbSource {
        description: "none found: no PodVolumeBackup list, no snapshot.velero.io or backup.velero.io/backup-volumes annotations; pass --pod-volume-backups or --default-volumes-to-fs-backup".into(),
        index: FsbIndex::from_pod_volume_backups(&[]),
        kind: FsbSourceKind::None,
    }
}

fn annotations(pod: &Value) -> impl Iterator<Item = (&String, &Value)> {
    pod.pointer("/metadata/annotations")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
}

fn synthetic_pvb(pod: &Value, volume: &str, why: &str) -> Value {
    json!({
        "metadata": {"name": format!("{}-{volume}-{why}", name_of(pod))},
        "spec": {"pod": {"namespace": namespace_of(pod), "name": name_of(pod)}, "volume": volume},
        "status": {"snapshotID": format!("({why})")}
    })
}
