//! Velero's label-value shortening (`pkg/label` `GetValidName`), needed to select objects Velero
//! labelled with a backup or restore name.

use sha2::{Digest, Sha256};

/// DNS-1035 label maximum length, Velero's bound for label values.
const MAX_LABEL_LENGTH: usize = 63;
/// Hex characters of the name's SHA-256 that replace the tail of an over-long name.
const HASH_CHARS: usize = 6;

/// The label value Velero stores for `name`: unchanged up to 63 bytes; otherwise the first 57 bytes
/// followed by the first 6 hex digits of the SHA-256 of the whole name.
pub fn valid_label_value(name: &str) -> String {
    if name.len() <= MAX_LABEL_LENGTH {
        return name.to_owned();
    }
    let digest = Sha256::digest(name.as_bytes());
    let hex: String = digest
        .iter()
        .take(HASH_CHARS.div_ceil(2))
        .map(|b| format!("{b:02x}"))
        .collect();
    // Go slices bytes; names are DNS subdomains (ASCII), lossy only matters for invalid input.
    let head = String::from_utf8_lossy(&name.as_bytes()[..MAX_LABEL_LENGTH - HASH_CHARS]);
    format!("{head}{}", &hex[..HASH_CHARS])
}
