//! RFC 7386 merge patch as `jsonpatch.MergePatch` (evanphx v5) does it, including its null
//! pruning of values added under new keys (also inside objects nested in arrays).

use crate::gojson::Node;
use crate::tree::{Members, Tree, ViewMut, from_patch};

/// A patch number beyond float64, which the item cannot hold (patch data converted from YAML
/// never has one: its numbers are Go's text of an int64, uint64 or finite float64).
fn out_of_range() -> String {
    "number out of range".into()
}

/// `MergePatch(doc, patch)`, written into `doc`; `Err` when Go returns an error.
pub(crate) fn merge_patch<T: Tree>(doc: &mut T, patch: &Node) -> Result<(), String> {
    if doc.is_nil() || doc.is_inserted_null() {
        return Err("Invalid JSON Document".into());
    }
    match patch {
        Node::Null | Node::InsertedNull => *doc = T::null(),
        Node::Object(p) => match doc.view_mut() {
            ViewMut::Object(d) => merge_docs::<T>(d, p)?,
            // The document is not an object: the result is the (pruned) patch object.
            _ => *doc = prune(patch).ok_or_else(out_of_range)?,
        },
        Node::Array(_) => *doc = prune(patch).ok_or_else(out_of_range)?,
        scalar => *doc = T::scalar(scalar).ok_or_else(out_of_range)?,
    }
    Ok(())
}

fn merge_docs<T: Tree>(doc: &mut T::Members, patch: &[(String, Node)]) -> Result<(), String> {
    for (k, v) in patch {
        if matches!(v, Node::Null) {
            doc.remove(k);
            continue;
        }
        match doc.get_mut(k) {
            Some(cur) if !cur.is_nil() => merge_value(cur, v)?,
            Some(cur) => *cur = prune(v).ok_or_else(out_of_range)?,
            None => doc.set(k, prune(v).ok_or_else(out_of_range)?),
        }
    }
    Ok(())
}

/// evanphx `merge(cur, patch)`: objects merge; otherwise the patch value wins (pruned only when
/// the current value is not an object).
fn merge_value<T: Tree>(cur: &mut T, patch: &Node) -> Result<(), String> {
    match (cur.view_mut(), patch) {
        (ViewMut::Object(c), Node::Object(p)) => merge_docs::<T>(c, p)?,
        (ViewMut::Object(_), p) => *cur = from_patch(p).ok_or_else(out_of_range)?,
        (_, p) => *cur = prune(p).ok_or_else(out_of_range)?,
    }
    Ok(())
}

/// `pruneNulls`: drop null members of objects, recursively; arrays keep null elements but their
/// object elements are pruned.
fn prune<T: Tree>(n: &Node) -> Option<T> {
    Some(match n {
        Node::Object(entries) => {
            let mut members = T::Members::new();
            for (k, v) in entries {
                if !matches!(v, Node::Null) {
                    members.set(k, prune(v)?);
                }
            }
            T::object(members)
        }
        Node::Array(items) => T::array(
            items
                .iter()
                .map(|v| match v {
                    Node::Null => Some(T::null()),
                    v => prune(v),
                })
                .collect::<Option<_>>()?,
        ),
        other => T::scalar(other)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gojson;

    fn mp(doc: &str, patch: &str) -> String {
        let mut out = gojson::parse(doc).unwrap();
        merge_patch(&mut out, &gojson::parse(patch).unwrap()).unwrap();
        let mut s = String::new();
        gojson::to_text(&out, &mut s);
        s
    }

    // RFC 7386 appendix A examples plus evanphx's pruning (hand-derived from merge.go).
    #[test]
    fn rfc7386_and_pruning() {
        assert_eq!(mp(r#"{"a":"b"}"#, r#"{"a":"c"}"#), r#"{"a":"c"}"#);
        assert_eq!(mp(r#"{"a":"b"}"#, r#"{"a":null}"#), r#"{}"#);
        assert_eq!(mp(r#"{"a":[{"b":"c"}]}"#, r#"{"a":[1]}"#), r#"{"a":[1]}"#);
        assert_eq!(
            mp(r#"{}"#, r#"{"a":{"bb":{"ccc":null}}}"#),
            r#"{"a":{"bb":{}}}"#
        );
        assert_eq!(
            mp(r#"{}"#, r#"{"a":[{"x":null,"y":1},null]}"#),
            r#"{"a":[{"y":1},null]}"#
        );
        // Existing object replaced by an array: not pruned.
        assert_eq!(
            mp(r#"{"a":{"x":1}}"#, r#"{"a":[{"x":null}]}"#),
            r#"{"a":[{"x":null}]}"#
        );
    }
}
