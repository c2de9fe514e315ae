//! Mapping of kube client errors into the adapter's taxonomy.

use std::io;

use kube::core::Status;
use velero_fsb_guard::cluster::{Call, Error, from_kube, velero_namespace};

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
    let other = from_kube(call(), api(422, "Invalid"));
    assert!(matches!(other, Error::Api { code: 422, .. }));
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
fn velero_namespace_prefers_the_environment() {
    // The crate forbids unsafe code, so the variable is only read here (set_var is unsafe in
    // edition 2024): whichever way the test runs, the rule is checked.
    let restore = serde_json::json!({"metadata": {"namespace": "backup-system"}});
    match std::env::var("VELERO_NAMESPACE") {
        Ok(ns) if !ns.is_empty() => {
            assert_eq!(velero_namespace(&restore).as_deref(), Some(ns.as_str()))
        }
        _ => {
            assert_eq!(velero_namespace(&restore).as_deref(), Some("backup-system"));
            assert_eq!(velero_namespace(&serde_json::json!({})), None);
        }
    }
}
