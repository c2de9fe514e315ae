//! RFC 7386 merge patch as `jsonpatch.MergePatch` (evanphx v5) does it, including its null
//! pruning of values added under new keys (also inside objects nested in arrays).

use crate::gojson::Node;

/// `MergePatch(doc, patch)`; `Err` when Go returns an error.
pub(crate) fn merge_patch(doc: Node, patch: Node) -> Result<Node, String> {
    match (doc, patch) {
        (Node::Null | Node::InsertedNull, _) => Err("Invalid JSON Document".into()),
        (_, p @ (Node::Null | Node::InsertedNull)) => Ok(p),
        (Node::Object(mut d), Node::Object(p)) => {
            merge_docs(&mut d, p);
            Ok(Node::Object(d))
        }
        // The document is not an object: the result is the (pruned) patch object.
        (_, Node::Object(p)) => Ok(prune(Node::Object(p))),
        (_, Node::Array(a)) => Ok(prune(Node::Array(a))),
        (_, scalar) => Ok(scalar),
    }
}

fn merge_docs(doc: &mut Vec<(String, Node)>, patch: Vec<(String, Node)>) {
    for (k, v) in patch {
        if matches!(v, Node::Null) {
            if let Some(p) = doc.iter().position(|(dk, _)| *dk == k) {
                doc.remove(p);
            }
            continue;
        }
        match doc.iter_mut().find(|(dk, _)| *dk == k) {
            Some((_, cur)) if !matches!(cur, Node::Null) => {
                let old = std::mem::replace(cur, Node::Null);
                *cur = merge_value(old, v);
            }
            Some((_, cur)) => *cur = prune(v),
            None => doc.push((k, prune(v))),
        }
    }
}

/// evanphx `merge(cur, patch)`: objects merge; otherwise the patch value wins (pruned only when
/// the current value is not an object).
fn merge_value(cur: Node, patch: Node) -> Node {
    match (cur, patch) {
        (Node::Object(mut c), Node::Object(p)) => {
            merge_docs(&mut c, p);
            Node::Object(c)
        }
        (Node::Object(_), p) => p,
        (_, p) => prune(p),
    }
}

/// `pruneNulls`: drop null members of objects, recursively; arrays keep null elements but their
/// object elements are pruned.
fn prune(n: Node) -> Node {
    match n {
        Node::Object(entries) => Node::Object(
            entries
                .into_iter()
                .filter(|(_, v)| !matches!(v, Node::Null))
                .map(|(k, v)| (k, prune(v)))
                .collect(),
        ),
        Node::Array(items) => Node::Array(
            items
                .into_iter()
                .map(|v| if matches!(v, Node::Null) { v } else { prune(v) })
                .collect(),
        ),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gojson;

    fn mp(doc: &str, patch: &str) -> String {
        let out = merge_patch(gojson::parse(doc).unwrap(), gojson::parse(patch).unwrap()).unwrap();
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
