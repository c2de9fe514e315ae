//! Mapping of kube client errors into the adapter's taxonomy.

use std::io;

use kube::core::Status;
use velero_fsb_guard::cluster::{Call, Error, from_kube};

fn call() -> Call {
    Call {
        verb: "list",
        resource: "podvolumebackups.velero.io".into(),
        namespace: "velero".into(),
        name: None,
    }
}

fn api(code: u16, reason: &str) -> kube::Error {
    kube::Error::Api(
        Status::failure("server says no", reason)
            .with_code(code)
            .boxed(),
    )
}

#[test]
fn http_statuses_map_to_variants() {
    let e = from_kube(call(), api(403, "Forbidden"));
    assert!(matches!(e, Error::Forbidden { ref message, .. } if message == "server says no"));
    assert_eq!(
        e.to_string(),
        "forbidden: the plugin's service account cannot list podvolumebackups.velero.io in namespace velero"
    );
    assert!(matches!(
        from_kube(call(), api(401, "Unauthorized")),
        Error::Unauthorized { .. }
    ));
    let nf = from_kube(call(), api(404, "NotFound"));
    assert!(nf.is_not_found());
    assert!(matches!(
        from_kube(call(), api(504, "Timeout")),
        Error::Timeout { after: None, .. }
    ));
    // 409 (a failed uid/resourceVersion precondition, AlreadyExists) is a conflict by status.
    let conflict = from_kube(call(), api(409, "Conflict"));
    assert!(matches!(conflict, Error::Conflict { code: 409, .. }));
    assert_eq!(
        conflict.to_string(),
        "list podvolumebackups.velero.io in namespace velero: HTTP 409 Conflict: server says no"
    );
    let other = from_kube(call(), api(422, "Invalid"));
    assert!(matches!(other, Error::Api { code: 422, .. }));
    // A JSON patch the server could not apply names no field: the object changed since it was
    // read. A validation error names its fields and stays what it is.
    assert!(matches!(
        from_kube(call(), api(422, "Invalid")).into_conflict_if_unapplicable(),
        Error::Conflict { code: 422, .. }
    ));
    // As the API server writes a validation error (apimachinery `NewInvalid`).
    let invalid: Status = serde_json::from_value(serde_json::json!({
        "status": "Failure", "code": 422, "reason": "Invalid",
        "message": "ReplicaSet.apps \"web\" is invalid: spec.template: Invalid value",
        "details": {"name": "web", "kind": "ReplicaSet",
            "causes": [{"reason": "FieldValueInvalid", "message": "Invalid value",
                "field": "spec.template"}]}}))
    .unwrap();
    let validation = from_kube(call(), kube::Error::Api(invalid.boxed()));
    assert!(matches!(
        validation.into_conflict_if_unapplicable(),
        Error::Api { code: 422, .. }
    ));
    assert!(!other.is_not_found());
    assert_eq!(other.call(), Some(&call()));
}

#[test]
fn transport_failures_split_into_timeout_and_unreachable() {
    let timed_out = kube::Error::Service(Box::new(io::Error::new(
        io::ErrorKind::TimedOut,
        "deadline",
    )));
    assert!(matches!(
        from_kube(call(), timed_out),
        Error::Timeout { .. }
    ));
    let refused = kube::Error::Service(Box::new(io::Error::new(
        io::ErrorKind::ConnectionRefused,
        "refused",
    )));
    let e = from_kube(call(), refused);
    assert!(matches!(e, Error::Unreachable { .. }), "{e:?}");
    assert!(e.to_string().contains("refused"));
    assert!(
        e.to_string()
            .contains("list podvolumebackups.velero.io in namespace velero")
    );
}

#[test]
fn call_display_includes_the_name_when_there_is_one() {
    let c = Call {
        verb: "patch",
        resource: "replicasets.apps".into(),
        namespace: "shop".into(),
        name: Some("web-abc".into()),
    };
    assert_eq!(
        c.to_string(),
        "patch replicasets.apps web-abc in namespace shop"
    );
}

#[test]
fn a_validation_error_names_its_fields_never_the_values_it_quotes() {
    // The API server's message for a refused value quotes it; the error's text must not.
    let invalid: Status = serde_json::from_value(serde_json::json!({
        "status": "Failure", "code": 422, "reason": "Invalid",
        "message": "ReplicaSet.apps \"web\" is invalid: spec.template.spec.containers[0].env[0].value: Invalid value: \"s3cr3t-token\": too long",
        "details": {"name": "web", "kind": "ReplicaSet",
            "causes": [{"reason": "FieldValueInvalid",
                "message": "Invalid value: \"s3cr3t-token\": too long",
                "field": "spec.template.spec.containers[0].env[0].value"}]}}))
    .unwrap();
    let text = from_kube(call(), kube::Error::Api(invalid.boxed())).to_string();
    assert!(!text.contains("s3cr3t-token"), "{text}");
    assert!(
        text.contains("HTTP 422 Invalid")
            && text.contains("spec.template.spec.containers[0].env[0].value"),
        "{text}"
    );
    // Without named fields the message is left out too: it may quote values all the same.
    let text = from_kube(call(), api(500, "InternalError")).to_string();
    assert_eq!(
        text,
        "list podvolumebackups.velero.io in namespace velero: HTTP 500 InternalError: \
         the API server's message (14 bytes) is left out: it may quote values; the API server's log has it"
    );
}

fn status(code: u16, reason: &str, message: &str) -> kube::Error {
    kube::Error::Api(Status::failure(message, reason).with_code(code).boxed())
}

#[test]
fn messages_naming_no_field_never_reach_the_text_only_the_denying_webhook() {
    // apiserver's webhook error: `admission webhook %q denied the request: %s`, the reason being
    // the webhook author's text, here quoting the value it refused.
    let denied = status(
        400,
        "BadRequest",
        "admission webhook \"images.policy.example.com\" denied the request: image registry.example.com/app:s3cr3t is not allowed",
    );
    let text = from_kube(call(), denied).to_string();
    assert!(!text.contains("s3cr3t"), "{text}");
    assert!(
        text.ends_with(
            "HTTP 400 BadRequest: admission webhook \"images.policy.example.com\" denied the request \
             (its reason is left out: it may quote values)"
        ),
        "{text}"
    );
    // A ValidatingAdmissionPolicy's messageExpression, a 403 from a webhook, a 400 decoding error.
    for (code, reason, message) in [
        (
            422,
            "Invalid",
            "ValidatingAdmissionPolicy 'no-debug' with binding 'b' denied request: env DEBUG=s3cr3t",
        ),
        (
            400,
            "BadRequest",
            "json: cannot unmarshal string \"s3cr3t\" into Go value of type int32",
        ),
        (
            503,
            "ServiceUnavailable",
            "etcdserver: request timed out on key s3cr3t",
        ),
    ] {
        let e = from_kube(call(), status(code, reason, message));
        let text = e.to_string();
        assert!(!text.contains("s3cr3t"), "{text}");
        assert!(text.contains(&format!("HTTP {code} {reason}")), "{text}");
        assert!(
            text.contains(&format!("({} bytes) is left out", message.len())),
            "{text}"
        );
    }
    // A 409 is the API server's own sentence from the resource and the name: quoted.
    let conflict = from_kube(
        call(),
        status(
            409,
            "Conflict",
            "Operation cannot be fulfilled on replicasets.apps \"web-6d4cf56db6\": the object has been modified; please apply your changes to the latest version and try again",
        ),
    );
    assert!(
        conflict
            .to_string()
            .contains("the object has been modified"),
        "{conflict}"
    );
    // A JSON patch that no longer applies (422 naming no field) says so in our words.
    let stale = from_kube(
        call(),
        status(
            422,
            "Invalid",
            "testing value /metadata/labels/tier failed: s3cr3t",
        ),
    )
    .into_conflict_if_unapplicable();
    assert_eq!(
        stale.to_string(),
        "list podvolumebackups.velero.io in namespace velero: HTTP 422 Invalid: \
         the JSON patch no longer applies (one of its `test` operations failed)"
    );
}

#[test]
fn an_undecodable_response_is_described_by_position_never_by_its_text() {
    let bad = serde_json::from_str::<u32>("\"s3cr3t\"").unwrap_err();
    let text = from_kube(call(), kube::Error::SerdeError(bad)).to_string();
    assert!(!text.contains("s3cr3t"), "{text}");
    assert_eq!(
        text,
        "list podvolumebackups.velero.io in namespace velero: unexpected response: \
         response body is JSON of an unexpected shape (line 1, column 8)"
    );
}
