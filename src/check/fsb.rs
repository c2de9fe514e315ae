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

impl FsbSource {
    /// The source `kind` (`description` for people) of the FSB data `pvbs` record.
    fn of(kind: FsbSourceKind, description: String, pvbs: &[Value]) -> Self {
        Self {
            kind,
            description,
            index: FsbIndex::from_pod_volume_backups(pvbs),
        }
    }
}

/// Picks the source and builds the index. `pods` are the backed-up pods.
pub fn resolve(
    flag_pvbs: Option<(String, Vec<Value>)>,
    bucket_pvbs: Option<(String, Vec<Value>)>,
    pods: &[&Value],
    default_volumes_to_fs_backup: bool,
) -> FsbSource {
    if let Some((label, pvbs)) = flag_pvbs {
        let described = format!(
            "PodVolumeBackups from --pod-volume-backups {label} ({} objects)",
            pvbs.len()
        );
        return FsbSource::of(FsbSourceKind::PodVolumeBackupsFlag, described, &pvbs);
    }
    if let Some((label, pvbs)) = bucket_pvbs {
        let described = format!("PodVolumeBackups from {label} ({} objects)", pvbs.len());
        return FsbSource::of(FsbSourceKind::BucketPodVolumeBackups, described, &pvbs);
    }
    let legacy = pods.iter().any(|p| {
        annotations(p).any(|(k, _)| k.starts_with(LEGACY_PREFIX) && k.len() > LEGACY_PREFIX.len())
    });
    if legacy {
        let described =
            "legacy snapshot.velero.io/<volume> pod annotations (no PodVolumeBackup list given)";
        // No PodVolumeBackups: the index falls back to the annotations, as Velero does.
        return FsbSource::of(FsbSourceKind::LegacyAnnotations, described.into(), &[]);
    }
    let opt_in = synthetic_pvbs(pods, false, "opt-in");
    if !opt_in.is_empty() {
        let described = format!(
            "{BACKUP_VOLUMES_ANNOTATION} pod annotations ({} volumes; no PodVolumeBackup list given, assumed backed up)",
            opt_in.len()
        );
        return FsbSource::of(FsbSourceKind::OptInAnnotation, described, &opt_in);
    }
    if default_volumes_to_fs_backup {
        let all = synthetic_pvbs(pods, true, "default");
        let described = format!(
            "--default-volumes-to-fs-backup: Velero's eligibility rules ({} volumes; hostPath, secret, configMap, projected, downwardAPI, default-token* and {BACKUP_VOLUMES_EXCLUDES_ANNOTATION} skipped)",
            all.len()
        );
        return FsbSource::of(FsbSourceKind::DefaultVolumesToFsBackup, described, &all);
    }
    let described = "none found: no PodVolumeBackup list, no snapshot.velero.io or backup.velero.io/backup-volumes annotations; pass --pod-volume-backups or --default-volumes-to-fs-backup";
    FsbSource::of(FsbSourceKind::None, described.into(), &[])
}

fn annotations(pod: &Value) -> impl Iterator<Item = (&String, &Value)> {
    pod.pointer("/metadata/annotations")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
}

/// A PodVolumeBackup for every volume Velero selects for a file-system backup among `pods`
/// (`default_volumes`: the opt-out approach), marked `why`.
fn synthetic_pvbs(pods: &[&Value], default_volumes: bool, why: &str) -> Vec<Value> {
    pods.iter()
        .flat_map(|&pod| {
            volumes_selected_for_fs_backup(pod, default_volumes, false)
                .into_iter()
                .map(move |v| synthetic_pvb(pod, &v, why))
        })
        .collect()
}

fn synthetic_pvb(pod: &Value, volume: &str, why: &str) -> Value {
    json!({
        "metadata": {"name": format!("{}-{volume}-{why}", name_of(pod))},
        "spec": {"pod": {"namespace": namespace_of(pod), "name": name_of(pod)}, "volume": volume},
        "status": {"snapshotID": format!("({why})")}
    })
}
