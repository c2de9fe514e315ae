//! The StatefulSet's ControllerRevisions: which belong to it, their numbers, and what its update
//! revision `R` becomes when the rules change the template — `data` for `T'`, the highest
//! `.revision`, no stale hash label.

use serde_json::{Value, json};

use crate::toolkit::object::{name_of, namespace_of};
use crate::toolkit::owners::statefulset_owner;
use crate::toolkit::revision::{HASH_LABEL, revision_data, same_revision_data};

/// The backed-up ControllerRevisions of `statefulset` (same namespace, controller owner).
pub fn revisions_of<'a>(statefulset: &Value, revisions: &'a [Value]) -> Vec<&'a Value> {
    let (namespace, name) = (namespace_of(statefulset), name_of(statefulset));
    revisions
        .iter()
        .filter(|r| namespace_of(r) == namespace && statefulset_owner(r) == Some(name))
        .collect()
}

/// `.revision` of a ControllerRevision (0 when absent).
pub fn revision_number(revision: &Value) -> i64 {
    revision
        .get("revision")
        .and_then(Value::as_i64)
        .unwrap_or(0)
}

/// What the `controllerrevisions.apps` step does to `R`.
#[derive(Debug, Clone, PartialEq)]
pub enum RevisionDecision {
    /// `data` already equals the final template's.
    Unchanged,
    /// `data` set to the final template's, `.revision` raised, hash label dropped.
    Rewritten {
        item: Value,
        /// The new `.revision` (`max(own, highest + 1)`).
        revision: i64,
        /// A `controller.kubernetes.io/hash` label was removed: once stale, a numeric one vetoes
        /// the controller's equality check.
        hash_label_dropped: bool,
    },
}

/// `R` (as Velero hands it) with `data` for `final_template`: highest `.revision`
/// (`max(own, max_revision + 1)`), `controller.kubernetes.io/hash` dropped, name, other labels and
/// annotations kept. Unchanged when the data bytes already match.
pub fn rewrite_revision(
    revision: &Value,
    final_template: &Value,
    max_revision: i64,
) -> RevisionDecision {
    let data = revision_data(final_template);
    if revision
        .get("data")
        .is_some_and(|d| same_revision_data(d, &data))
    {
        return RevisionDecision::Unchanged;
    }
    let number = revision_number(revision).max(max_revision + 1);
    let mut item = revision.clone();
    let mut hash_label_dropped = false;
    if let Some(map) = item.as_object_mut() {
        map.insert("data".to_owned(), data);
        map.insert("revision".to_owned(), json!(number));
        if let Some(labels) = map
            .get_mut("metadata")
            .and_then(|m| m.get_mut("labels"))
            .and_then(Value::as_object_mut)
        {
            hash_label_dropped = labels.remove(HASH_LABEL).is_some();
        }
    }
    RevisionDecision::Rewritten {
        item,
        revision: number,
        hash_label_dropped,
    }
}
