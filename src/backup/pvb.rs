//! Reads a PodVolumeBackup list from a file or stream.
//!
//! Accepted shapes: the bucket's `<backup>-podvolumebackups.json.gz` (Velero gzips a JSON array of
//! PodVolumeBackup objects; an empty list may be encoded as `null`), the same uncompressed, a
//! `kubectl get podvolumebackups -o json` list (`{"items": [...]}`), or a single PodVolumeBackup.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use flate2::bufread::GzDecoder;
use serde_json::Value;

use super::error::{Error, Result};

/// PVB lists are small (one object per backed-up pod volume); this only stops a wrong file from
/// eating the memory.
pub const DEFAULT_MAX_PVB_LIST_BYTES: u64 = 256 << 20;

/// Reads a PodVolumeBackup list from a file (gzip or plain JSON, detected by content).
pub fn read_pod_volume_backups_file(path: &Path) -> Result<Vec<Value>> {
    let file = std::fs::File::open(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    read_pod_volume_backups(file, &path.display().to_string())
}

/// Reads a PodVolumeBackup list from a stream; `source_name` names it in errors.
pub fn read_pod_volume_backups<R: Read>(reader: R, source_name: &str) -> Result<Vec<Value>> {
    let bad = |reason: String| Error::BadPodVolumeBackups {
        source_name: source_name.to_owned(),
        reason,
    };
    let mut reader = BufReader::new(reader);
    let gzipped = reader
        .fill_buf()
        .map_err(|e| bad(e.to_string()))?
        .starts_with(&[0x1f, 0x8b]);
    let mut text = Vec::new();
    let limit = DEFAULT_MAX_PVB_LIST_BYTES;
    let read = if gzipped {
        GzDecoder::new(reader)
            .take(limit + 1)
            .read_to_end(&mut text)
    } else {
        reader.take(limit + 1).read_to_end(&mut text)
    };
    read.map_err(|e| {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            bad(format!("truncated gzip: {e}"))
        } else {
            bad(e.to_string())
        }
    })?;
    if text.len() as u64 > limit {
        return Err(bad(format!("larger than {limit} bytes")));
    }
    let value: Value =
        serde_json::from_slice(&text).map_err(|e| bad(format!("not valid JSON: {e}")))?;
    let items = match value {
        Value::Null => Vec::new(),
        Value::Array(items) => items,
        Value::Object(mut obj) => match obj.remove("items") {
            Some(Value::Array(items)) => items,
            Some(Value::Null) => Vec::new(),
            Some(_) => return Err(bad("\"items\" is not a list".into())),
            None if obj.get("kind").and_then(Value::as_str) == Some("PodVolumeBackup") => {
                vec![Value::Object(obj)]
            }
            None => {
                return Err(bad(
                    "expected a JSON list of PodVolumeBackups or an object with \"items\"".into(),
                ));
            }
        },
        _ => return Err(bad("expected a JSON list of PodVolumeBackups".into())),
    };
    for (i, item) in items.iter().enumerate() {
        if !item.is_object() {
            return Err(bad(format!("element {i} is not an object")));
        }
    }
    Ok(items)
}
