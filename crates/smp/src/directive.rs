//! Patch directive names and key parsing.

use crate::error::{Error, Result};

pub(crate) const PATCH: &str = "$patch";
pub(crate) const RETAIN_KEYS: &str = "$retainKeys";
pub(crate) const SET_ELEMENT_ORDER: &str = "$setElementOrder";
pub(crate) const DELETE_FROM_PRIMITIVE_LIST: &str = "$deleteFromPrimitiveList";

/// `<prefix>/<field>` → `<field>`; the part before the first `/` must be exactly the prefix.
pub(crate) fn extract_key(key: &str, prefix: &str, path: &str) -> Result<String> {
    match key.split_once('/') {
        Some((p, rest)) if p == prefix => Ok(rest.to_owned()),
        _ => Err(Error::Directive {
            path: path.to_owned(),
            reason: format!("bad {prefix} key"),
        }),
    }
}
