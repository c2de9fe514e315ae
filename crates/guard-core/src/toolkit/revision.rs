//! ControllerRevisions as the StatefulSet and DaemonSet controllers write and compare them: the
//! `data` a template gives, its hash and the revision name.
//!
//! The StatefulSet controller finds "its" revision by comparing `ControllerRevision.data` *bytes*
//! and names a new revision after an FNV-1 hash of those bytes (facts: statefulsets-daemonsets
//! §2.1–§2.3). To write a revision the controller accepts, or to predict the name it will create,
//! the guard produces the exact bytes Go's `encoding/json` emits ([`go_canonical`]).

use serde_json::{Map, Value};

use super::gojson::go_canonical;

/// Label the history package puts on every ControllerRevision: the hash in its name. When both
/// revisions compared carry a numeric one that differs, they are "not equal" whatever the data.
pub const HASH_LABEL: &str = "controller.kubernetes.io/hash";
/// Longest parent-name prefix a revision name keeps (`ControllerRevisionName`).
const MAX_NAME_PREFIX: usize = 223;
/// `rand.SafeEncodeString`'s alphabet: no vowels, no confusable characters.
const SAFE_ALPHABET: &[u8; 27] = b"bcdfghjklmnpqrstvwxz2456789";

/// FNV-1 (not FNV-1a) 32-bit: Go's `hash/fnv.New32`.
pub fn fnv1_32(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5_u32, |hash, b| {
        hash.wrapping_mul(0x0100_0193) ^ u32::from(*b)
    })
}

/// `rand.SafeEncodeString`: each byte `c` becomes `SAFE_ALPHABET[c % 27]`.
pub fn safe_encode(text: &str) -> String {
    text.bytes()
        .map(|c| char::from(SAFE_ALPHABET[usize::from(c) % SAFE_ALPHABET.len()]))
        .collect()
}

/// `HashControllerRevision`: FNV-1 over the revision's `data` bytes then the decimal collision
/// count, the decimal sum passed through [`safe_encode`].
pub fn revision_hash(data_bytes: &[u8], collision_count: i32) -> String {
    let mut input = Vec::with_capacity(data_bytes.len() + 11);
    input.extend_from_slice(data_bytes);
    input.extend_from_slice(collision_count.to_string().as_bytes());
    safe_encode(&fnv1_32(&input).to_string())
}

/// `ControllerRevisionName`: the parent's name cut to 223 bytes, `-`, the hash.
pub fn revision_name(parent: &str, hash: &str) -> String {
    let mut cut = parent.len().min(MAX_NAME_PREFIX);
    // Object names are ASCII; stay on a char boundary for anything else.
    while !parent.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}-{hash}", &parent[..cut])
}

/// The `data` value a StatefulSet's revision holds for pod template `template`
/// (`getPatch`): `{"spec":{"template": template + "$patch":"replace"}}`.
pub fn revision_data(template: &Value) -> Value {
    let mut template = template.clone();
    if let Some(map) = template.as_object_mut() {
        map.insert("$patch".to_owned(), Value::String("replace".to_owned()));
    }
    let mut spec = Map::new();
    spec.insert("template".to_owned(), template);
    let mut data = Map::new();
    data.insert("spec".to_owned(), Value::Object(spec));
    Value::Object(data)
}

/// The name the StatefulSet controller gives the revision whose data is `data`, with the
/// collision count a restored StatefulSet starts with (0: its status is not restored).
pub fn predicted_revision_name(statefulset: &str, data: &Value) -> String {
    revision_name(statefulset, &revision_hash(&go_canonical(data), 0))
}

/// Whether two revision `data` values are the same bytes once Go-encoded (what the controller
/// compares).
pub fn same_revision_data(a: &Value, b: &Value) -> bool {
    go_canonical(a) == go_canonical(b)
}

/// The pod template as a controller of the target cluster encodes it without server defaulting:
/// `metadata.creationTimestamp: null` present for Kubernetes ≤ 1.33, absent from 1.34 on (the
/// field became `omitzero`).
pub fn template_for_version(template: &Value, creation_timestamp_null: bool) -> Value {
    let mut template = template.clone();
    if let Some(map) = template.as_object_mut() {
        let meta = map
            .entry("metadata")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Some(meta) = meta.as_object_mut() {
            if creation_timestamp_null {
                meta.entry("creationTimestamp").or_insert(Value::Null);
            } else if meta.get("creationTimestamp") == Some(&Value::Null) {
                meta.remove("creationTimestamp");
            }
        }
    }
    template
}

/// Whether an API server reporting `major`/`minor` (GET /version; minor may carry a `+`)
/// encodes a zero `creationTimestamp` as `null` (≤ 1.33).
pub fn encodes_null_creation_timestamp(major: &str, minor: &str) -> Option<bool> {
    let major: u32 = major.trim_end_matches('+').parse().ok()?;
    let minor: u32 = minor.trim_end_matches('+').parse().ok()?;
    Some(major < 1 || (major == 1 && minor <= 33))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::toolkit::gojson::go_canonical_string;
    use serde_json::json;

    /// The upstream 1.33 compatibility fixture (`stateful_set_compatibility_test.go`), facts §2.1.
    const FIXTURE_133: &str = r#"{"spec":{"template":{"$patch":"replace","metadata":{"annotations":{"test":"value"},"creationTimestamp":null,"labels":{"app":"foo"}},"spec":{"containers":[{"image":"test","imagePullPolicy":"Always","name":"test","resources":{},"terminationMessagePath":"/dev/termination-log","terminationMessagePolicy":"File"}],"dnsPolicy":"ClusterFirst","restartPolicy":"Always","schedulerName":"default-scheduler","securityContext":{},"terminationGracePeriodSeconds":30}}}}"#;

    fn fixture_134() -> String {
        FIXTURE_133.replace(r#""creationTimestamp":null,"#, "")
    }

    #[test]
    fn revision_hash_vectors_from_the_facts() {
        assert_eq!(revision_hash(FIXTURE_133.as_bytes(), 0), "c77f6d978");
        assert_eq!(revision_hash(fixture_134().as_bytes(), 0), "776999688b");
        assert_eq!(revision_name("test", "c77f6d978"), "test-c77f6d978");
    }

    #[test]
    fn canonical_bytes_of_the_fixture_values_are_the_fixtures() {
        // The fixtures are Go's own output: decoding and re-encoding must be the identity, even
        // from a differently ordered, indented document.
        for fixture in [FIXTURE_133.to_owned(), fixture_134()] {
            let value: Value = serde_json::from_str(&fixture).unwrap();
            assert_eq!(go_canonical_string(&value), fixture);
        }
        let shuffled = json!({"spec": {"template": {"spec": {"terminationGracePeriodSeconds": 30,
            "securityContext": {}, "schedulerName": "default-scheduler", "restartPolicy": "Always",
            "dnsPolicy": "ClusterFirst", "containers": [{"terminationMessagePolicy": "File",
            "terminationMessagePath": "/dev/termination-log", "resources": {}, "name": "test",
            "imagePullPolicy": "Always", "image": "test"}]},
            "metadata": {"labels": {"app": "foo"}, "creationTimestamp": null,
            "annotations": {"test": "value"}}, "$patch": "replace"}}});
        assert_eq!(go_canonical_string(&shuffled), FIXTURE_133);
    }

    #[test]
    fn revision_data_wraps_the_template_like_get_patch() {
        let template: Value =
            serde_json::from_str::<Value>(FIXTURE_133).unwrap()["spec"]["template"].clone();
        let mut bare = template.clone();
        bare.as_object_mut().unwrap().remove("$patch");
        assert_eq!(go_canonical_string(&revision_data(&bare)), FIXTURE_133);
        assert_eq!(
            predicted_revision_name("test", &revision_data(&bare)),
            "test-c77f6d978"
        );
        let without = template_for_version(&bare, false);
        assert_eq!(
            predicted_revision_name("test", &revision_data(&without)),
            "test-776999688b"
        );
        assert_eq!(template_for_version(&without, true), bare);
    }

    #[test]
    fn safe_encode_maps_digits_like_rand() {
        // '0' is byte 48: 48 % 27 = 21 → '4'; … '9' = 57 % 27 = 3 → 'f' (facts §2.2).
        assert_eq!(safe_encode("0123456789"), "456789bcdf");
        assert_eq!(fnv1_32(b""), 0x811c_9dc5);
        // FNV-1 of "a": (offset * prime) ^ 'a' — differs from FNV-1a's 0xe40c292c.
        assert_eq!(fnv1_32(b"a"), 0x050c_5d7e);
    }

    #[test]
    fn long_parent_names_are_cut_to_223_bytes() {
        let parent = "x".repeat(300);
        let name = revision_name(&parent, "abc");
        assert_eq!(name.len(), 223 + 4);
        assert!(name.ends_with("x-abc"));
    }

    #[test]
    fn creation_timestamp_rule_by_server_version() {
        assert_eq!(encodes_null_creation_timestamp("1", "33"), Some(true));
        assert_eq!(encodes_null_creation_timestamp("1", "33+"), Some(true));
        assert_eq!(encodes_null_creation_timestamp("1", "34"), Some(false));
        assert_eq!(encodes_null_creation_timestamp("1", "x"), None);
    }
}
