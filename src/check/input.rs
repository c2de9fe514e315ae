//! Loads what the check reads: the backup (file, directory, bucket folder, or the embedded sample),
//! the PodVolumeBackup list, and the resource-modifier rules (ConfigMap manifest or bare document).

use std::path::Path;

use fsb_modifiers::ResourceModifiers;
use serde_json::Value;

use super::error::{Error, Result};
use fsb_guard_core::Resource;

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

/// What the index keeps: the workload resources the guard reasons about (Deployments,
/// ReplicaSets, StatefulSets, DaemonSets, ControllerRevisions) and pods.
pub fn index_options() -> IndexOptions {
    IndexOptions::workloads()
        .with_pods()
        .keep(Resource::STATEFUL_SETS)
        .keep(Resource::DAEMON_SETS)
        .keep(Resource::CONTROLLER_REVISIONS)
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

/// The most `--resource-modifiers` may hold. Velero reads the rules from one ConfigMap, and a
/// ConfigMap holds at most 1 MiB; twice that leaves room for a manifest's own lines. Reading stops
/// there, so `/dev/zero` or a FIFO gets an error instead of all the memory.
pub const RULES_FILE_LIMIT: u64 = 2 << 20;

/// Reads `--resource-modifiers` from a file.
pub fn read_rules_file(path: &Path) -> Result<LoadedRules> {
    let what = "resource modifiers (a ConfigMap holds at most 1 MiB)";
    let text = read_text_bounded(path, RULES_FILE_LIMIT, what)?;
    parse_rules(&text, &path.display().to_string())
}

/// Reads a UTF-8 text file of at most `limit` bytes. Reading stops at the bound, so a device or a
/// FIFO gets an error naming the bound and `what` the file is, instead of all the memory.
pub fn read_text_bounded(path: &Path, limit: u64, what: &'static str) -> Result<String> {
    use std::io::Read;
    let read_error = |source| Error::Read {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(read_error)?;
    let mut bytes = Vec::new();
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(read_error)?;
    if bytes.len() as u64 > limit {
        return Err(Error::TooLarge {
            path: path.to_path_buf(),
            limit,
            what,
        });
    }
    String::from_utf8(bytes).map_err(|e| {
        read_error(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            e.utf8_error(),
        ))
    })
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
            match block_scalar_start(text, key) {
                Some((lines, indent)) => bad(format!(
                    "in data key {key:?}: {}",
                    shift_positions(&e.to_string(), lines, indent)
                )),
                None => bad(format!(
                    "in data key {key:?} (line numbers count from the first line of that value): {e}"
                )),
            }
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

/// Where the block scalar holding data key `key` starts in a ConfigMap manifest: (lines before its
/// first content line, indentation of its content), so positions inside the rules document can be
/// reported as positions in the file. `None` when the value is not a `|`/`>` block.
fn block_scalar_start(text: &str, key: &str) -> Option<(usize, usize)> {
    let lines: Vec<&str> = text.lines().collect();
    let header = lines.iter().position(|l| {
        let t = l.trim_start();
        [
            format!("{key}:"),
            format!("\"{key}\":"),
            format!("'{key}':"),
        ]
        .iter()
        .any(|k| t.starts_with(k.as_str()))
            && t.split(':').nth(1).is_some_and(|rest| {
                let rest = rest.trim();
                rest.starts_with('|') || rest.starts_with('>')
            })
    })?;
    let first = lines[header + 1..].iter().find(|l| !l.trim().is_empty())?;
    Some((header + 1, first.len() - first.trim_start().len()))
}

/// Rewrites `line N, column M` / `line N column M` by adding `lines` and `indent`.
fn shift_positions(message: &str, lines: usize, indent: usize) -> String {
    let mut out = String::new();
    let mut rest = message;
    while let Some(at) = rest.find("line ") {
        out.push_str(&rest[..at + 5]);
        rest = &rest[at + 5..];
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        let Ok(line) = rest[..digits].parse::<usize>() else {
            continue;
        };
        out.push_str(&(line + lines).to_string());
        rest = &rest[digits..];
        for sep in [", column ", " column "] {
            if let Some(after) = rest.strip_prefix(sep) {
                let digits = after.bytes().take_while(u8::is_ascii_digit).count();
                if let Ok(col) = after[..digits].parse::<usize>() {
                    out.push_str(sep);
                    out.push_str(&(col + indent).to_string());
                    rest = &after[digits..];
                }
                break;
            }
        }
    }
    out.push_str(rest);
    out
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configmap_yaml_errors_point_into_the_file() {
        let text = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: r\ndata:\n  rules.yaml: |\n    version: v1\n    resourceModifierRules:\n    - conditions: {groupResource: pods\n";
        let e = parse_rules(text, "r.yaml").unwrap_err().to_string();
        // The unclosed `{` sits on file line 9; its column in the file is 4 more than in the value.
        assert!(e.contains("line 9"), "{e}");
        assert!(e.contains("r.yaml") && e.contains("rules.yaml"), "{e}");
        assert_eq!(
            shift_positions("yaml: line 3, column 15: x at line 3 column 15", 6, 4),
            "yaml: line 9, column 19: x at line 9 column 19"
        );
    }
}
