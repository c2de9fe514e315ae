//! Loads what the check reads: the backup (file, directory, bucket folder, or the embedded sample),
//! the PodVolumeBackup list, and the resource-modifier rules (ConfigMap manifest or bare document).

use std::path::Path;

use fsb_modifiers::ResourceModifiers;
use serde_json::Value;

use super::error::{Error, Result};
use crate::backup::{self, BackupIndex, BackupLayout, IndexOptions, index, pvb};

/// Name of the embedded sample backup.
pub const SAMPLE_BACKUP_NAME: &str = "shop-20260302";
const SAMPLE_TARBALL: &[u8] = include_bytes!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/examples/sample-backup/backups/shop-20260302/shop-20260302.tar.gz"
));
const SAMPLE_PVBS: &[u8] = include_bytes!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/examples/sample-backup/backups/shop-20260302/shop-20260302-podvolumebackups.json.gz"
));
/// The Velero issue 8578 modifiers (examples/modifiers-8578.yaml).
pub const SAMPLE_MODIFIERS: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/examples/modifiers-8578.yaml"
));

/// A loaded backup.
#[derive(Debug, Clone)]
pub struct LoadedBackup {
    /// How the backup is named in the report (path, or the embedded sample).
    pub label: String,
    pub layout: BackupLayout,
    pub index: BackupIndex,
    /// PodVolumeBackups that came with the backup (bucket folder file), with their source label.
    pub bucket_pvbs: Option<(String, Vec<Value>)>,
}

/// What the index keeps: the three workload resources the guard reasons about.
pub fn index_options() -> IndexOptions {
    IndexOptions::workloads().with_pods()
}

/// The embedded sample (a bucket folder copy: tarball + PodVolumeBackup file).
pub fn embedded_sample() -> Result<LoadedBackup> {
    let label = format!("embedded sample backup {SAMPLE_BACKUP_NAME} (examples/sample-backup)");
    let err = |source| Error::Backup {
        path: label.clone(),
        source,
    };
    let idx = index::read_archive(SAMPLE_TARBALL, &index_options()).map_err(err)?;
    let pvb_label = format!("{SAMPLE_BACKUP_NAME}-podvolumebackups.json.gz (embedded)");
    let pvbs = pvb::read_pod_volume_backups(SAMPLE_PVBS, &pvb_label).map_err(err)?;
    Ok(LoadedBackup {
        label,
        layout: BackupLayout::BucketFolder,
        index: idx,
        bucket_pvbs: Some((pvb_label, pvbs)),
    })
}

/// Opens `path` as a tarball, extracted directory or bucket folder; `progress` sees (bytes read,
/// total) while a tarball streams.
pub fn open_backup(path: &Path, progress: backup::local::Progress<'_>) -> Result<LoadedBackup> {
    let label = path.display().to_string();
    let err = |source| Error::Backup {
        path: label.clone(),
        source,
    };
    let local =
        backup::local::open_local_with_progress(path, &index_options(), progress).map_err(err)?;
    let bucket_pvbs = match &local.pod_volume_backups_file {
        Some(file) => Some((
            file.display().to_string(),
            pvb::read_pod_volume_backups_file(file).map_err(err)?,
        )),
        None => None,
    };
    Ok(LoadedBackup {
        label,
        layout: local.layout,
        index: local.index,
        bucket_pvbs,
    })
}

/// Reads a `--pod-volume-backups` file.
pub fn read_pvb_file(path: &Path) -> Result<Vec<Value>> {
    pvb::read_pod_volume_backups_file(path).map_err(|source| Error::Backup {
        path: path.display().to_string(),
        source,
    })
}

/// Loaded rules and the text they came from.
#[derive(Debug, Clone)]
pub struct LoadedRules {
    pub label: String,
    pub rules: ResourceModifiers,
    /// The rules document text (the ConfigMap's data entry, or the whole file).
    pub document: String,
    /// ConfigMap name (when given as a ConfigMap manifest).
    pub configmap_name: Option<String>,
}

/// Reads `--resource-modifiers` from a file.
pub fn read_rules_file(path: &Path) -> Result<LoadedRules> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse_rules(&text, &path.display().to_string())
}

/// Parses a ConfigMap manifest (YAML or JSON; exactly one data entry, as Velero requires) or a bare
/// rules document. YAML errors carry line and column; for a ConfigMap they are counted inside the
/// data entry, which the message names.
pub fn parse_rules(text: &str, label: &str) -> Result<LoadedRules> {
    let bad = |message: String| Error::Rules {
        path: label.to_owned(),
        message,
    };
    if let Some(configmap) = as_configmap(text) {
        let name = configmap
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let data = configmap.get("data").and_then(Value::as_object);
        let entries: Vec<(&String, &Value)> = data.into_iter().flatten().collect();
        let [(key, value)] = entries.as_slice() else {
            return Err(bad(format!(
                "a resource-modifier ConfigMap must have exactly one data key (Velero rejects it otherwise), found {}",
                entries.len()
            )));
        };
        let Some(document) = value.as_str() else {
            return Err(bad(format!("data key {key:?} is not a string")));
        };
        let rules = ResourceModifiers::from_yaml(document).map_err(|e| {
            bad(format!(
                "in data key {key:?} (line numbers count from the first line of that value): {e}"
            ))
        })?;
        return Ok(LoadedRules {
            label: label.to_owned(),
            rules,
            document: document.to_owned(),
            configmap_name: name,
        });
    }
    let rules = ResourceModifiers::from_yaml(text).map_err(|e| bad(e.to_string()))?;
    Ok(LoadedRules {
        label: label.to_owned(),
        rules,
        document: text.to_owned(),
        configmap_name: None,
    })
}

/// The text as a ConfigMap object, when it is one (`kind: ConfigMap`).
fn as_configmap(text: &str) -> Option<Value> {
    let value: Value = serde_json::from_str(text)
        .ok()
        .or_else(|| serde_saphyr::from_str::<Value>(text).ok())?;
    value
        .get("kind")
        .and_then(Value::as_str)
        .is_some_and(|k| k == "ConfigMap")
        .then_some(value)
}

/// The embedded issue-8578 rules.
pub fn embedded_rules() -> Result<LoadedRules> {
    parse_rules(
        SAMPLE_MODIFIERS,
        "embedded examples/modifiers-8578.yaml (ConfigMap storage-node-move)",
    )
}
