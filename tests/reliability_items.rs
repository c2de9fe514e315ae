//! Items Velero could hand the plugin's Execute that are not what a restore normally carries: bytes
//! that are not JSON, JSON of the wrong shape or kind, and items at and beyond Kubernetes' object
//! size limit. Each gets a clear answer — an `InvalidArgument` status for a request Velero could
//! not have restored anyway, otherwise the item back (corrected or unchanged) — and never a panic.
//! RELIABILITY.md lists these rows.

mod guard_support;
mod reliability_support;

use fsb_guard_core::as_velero_hands_it;
use fsb_guard_core::fixtures::{App, a_deployment, a_restore, velero_prepares_pod};
use guard_support::{FakeCluster, RestoreItem, capturing_logs, execute_input};
use serde_json::{Value, json};
use tonic::Code;
use velero_plugin::ActionError;
use velero_plugin::restore_item_action::{decode_execute_input, status_from_action_error};

/// A rule that changes the Deployment's pod template: the guard corrects its FSB pods.
const RULES: &str = r#"
version: v1
resourceModifierRules:
- conditions: {groupResource: deployments.apps, resourceNameRegex: "^web$"}
  patches:
  - {operation: add, path: /spec/template/spec/hostname, value: restored}
"#;

/// etcd's default request limit, which caps every Kubernetes object: 1.5 MiB.
const OBJECT_LIMIT: usize = 3 << 19;

fn web() -> App {
    a_deployment("shop", "web").with_fsb_volume("data")
}

fn serving(app: &App) -> FakeCluster {
    FakeCluster::serving(app.backup(), app.pod_volume_backups(), RULES, |_| {})
}

/// `pod` with an annotation of `bytes` bytes (what grows an object towards the limit).
fn with_blob(mut object: Value, bytes: usize) -> Value {
    object["metadata"]["annotations"]["example.com/blob"] = Value::from("b".repeat(bytes));
    object
}

fn refusal(item: &[u8], from_backup: &[u8]) -> (Code, String) {
    let error = decode_execute_input(item, from_backup, b"{}")
        .map(|_| ())
        .expect_err("the request must be refused");
    assert!(matches!(error, ActionError::InvalidRequest(_)), "{error}");
    let status = status_from_action_error(&error);
    (status.code(), status.message().to_owned())
}

#[test]
fn bytes_that_are_no_restorable_item_get_invalid_argument_naming_the_mistake() {
    let pod = br#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"}}"#;
    let cases: [(&[u8], &[u8], &str); 11] = [
        (b"", pod, "item is empty"),
        (b"\x00\xff\xfe garbage", pod, "item is not valid JSON"),
        (b"{\"kind\": \"Pod\"", pod, "item is not valid JSON"),
        (b"kind: Pod\n", pod, "item is not valid JSON"),
        (b"[{\"kind\": \"Pod\"}]", pod, "item is not a JSON object"),
        (b"\"Pod\"", pod, "item is not a JSON object"),
        (b"null", pod, "item is not a JSON object"),
        (b"{\"apiVersion\": \"v1\"}", pod, "item has no kind"),
        (
            b"{\"kind\": 7}",
            pod,
            "item's kind is not a non-empty string",
        ),
        (
            b"{\"kind\": \"\"}",
            pod,
            "item's kind is not a non-empty string",
        ),
        (pod, b"{not json", "itemFromBackup is not valid JSON"),
    ];
    for (item, from_backup, expected) in cases {
        let (code, message) = refusal(item, from_backup);
        assert_eq!(code, Code::InvalidArgument, "{message}");
        assert!(
            message.contains(expected),
            "{:?}: {message:?} lacks {expected:?}",
            String::from_utf8_lossy(item)
        );
    }
}

/// Items of a kind the guard handles, with a shape no API server would have stored. The backed-up
/// copy is the real FSB pod (so the guard finds its workload and has rules to apply).
fn misshapen_pods(prepared: &Value) -> Vec<(&'static str, Value)> {
    let mut cases = Vec::new();
    let mut spec_string = prepared.clone();
    spec_string["spec"] = json!("not a pod spec");
    cases.push(("spec is a string", spec_string));
    let mut containers_object = prepared.clone();
    containers_object["spec"]["containers"] = json!({"name": "app"});
    cases.push(("containers is an object", containers_object));
    let mut volumes_number = prepared.clone();
    volumes_number["spec"]["volumes"] = json!(3);
    cases.push(("volumes is a number", volumes_number));
    let mut inits_strings = prepared.clone();
    inits_strings["spec"]["initContainers"] = json!(["restore-wait"]);
    cases.push(("initContainers are strings", inits_strings));
    let mut no_spec = prepared.clone();
    no_spec.as_object_mut().unwrap().remove("spec");
    cases.push(("no spec", no_spec));
    let mut no_metadata = prepared.clone();
    no_metadata.as_object_mut().unwrap().remove("metadata");
    cases.push(("no metadata", no_metadata));
    let mut labels_list = prepared.clone();
    labels_list["metadata"]["labels"] = json!(["app", "web"]);
    cases.push(("labels is a list", labels_list));
    cases
}

/// `item` as the guard corrects it under [`RULES`]: the rule's field re-emitted on the pod and
/// named in the guard's annotation, nothing else touched. A spec that is no object cannot carry
/// the field and is replaced by one that does (the API server refuses both alike: no containers).
fn corrected(item: &Value) -> Value {
    let mut expected = item.clone();
    match expected.get_mut("spec").and_then(Value::as_object_mut) {
        Some(spec) => {
            spec.insert("hostname".into(), json!("restored"));
        }
        None => expected["spec"] = json!({"hostname": "restored"}),
    }
    if !expected["metadata"].is_object() {
        expected["metadata"] = json!({});
    }
    expected["metadata"]["annotations"]["fsb-guard.io/re-emitted"] = json!("[\"spec.hostname\"]");
    expected
}

#[tokio::test]
async fn misshapen_pods_of_a_guarded_workload_are_corrected_without_a_panic_or_an_item_error() {
    let app = web();
    let pod = &app.pods()[0];
    let prepared = velero_prepares_pod(pod, &app.fsb_index().volumes_of(pod));
    // The well-formed pod first: what the misshapen ones are measured against.
    let cases = [("well-formed", prepared.clone())]
        .into_iter()
        .chain(misshapen_pods(&prepared));
    for (what, item) in cases {
        let cluster = serving(&app);
        let out = cluster
            .guard()
            .restore_item(execute_input(item.clone(), pod, &a_restore(json!({}))))
            .await
            .unwrap_or_else(|e| panic!("{what}: fail open means no item error, got {e}"));
        assert!(!out.skip_restore, "{what}");
        assert_eq!(out.item, corrected(&item), "{what}");
    }
}

#[tokio::test]
async fn items_of_the_wrong_kind_for_their_backed_up_copy_are_restored_as_received() {
    let app = web();
    let pod = &app.pods()[0];
    let rs = &app.replicasets()[0];
    let d = app.deployment();
    let restore = a_restore(json!({}));
    // (item, backed-up copy): the kinds disagree (the ReplicaSet step finds no Deployment owner
    // on a pod copy; the Deployment step never changes its item), there is no backed-up copy, or
    // the kind is one the guard never asked for.
    let cases = [
        (
            "ReplicaSet item, pod backed up",
            as_velero_hands_it(rs),
            pod.clone(),
        ),
        (
            "Deployment item, ReplicaSet backed up",
            as_velero_hands_it(&d),
            rs.clone(),
        ),
        (
            "pod item, no backed-up copy",
            as_velero_hands_it(pod),
            Value::Null,
        ),
        (
            "ConfigMap",
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "web"}}),
            Value::Null,
        ),
        (
            "Pod with a foreign apiVersion",
            json!({"apiVersion": "example.com/v9", "kind": "Pod", "metadata": {"name": "x"}}),
            Value::Null,
        ),
    ];
    for (what, item, from_backup) in cases {
        let cluster = serving(&app);
        let out = cluster
            .guard()
            .restore_item(execute_input(item.clone(), &from_backup, &restore))
            .await
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(out.item, item, "{what}");
        assert!(!out.skip_restore, "{what}");
    }
}

#[tokio::test]
async fn an_fsb_pod_at_the_object_size_limit_and_beyond_is_corrected_like_a_small_one() {
    let app = web();
    let pod = &app.pods()[0];
    let fsb = app.fsb_index().volumes_of(pod);
    for size in [OBJECT_LIMIT, 4 * OBJECT_LIMIT] {
        let backed_up = with_blob(pod.clone(), size);
        let prepared = velero_prepares_pod(&backed_up, &fsb);
        // The request as Velero sends it: bytes, decoded by the plugin edge.
        let bytes = serde_json::to_vec(&prepared).unwrap();
        assert!(bytes.len() > size);
        let input = decode_execute_input(
            &bytes,
            &serde_json::to_vec(&backed_up).unwrap(),
            &serde_json::to_vec(&a_restore(json!({}))).unwrap(),
        )
        .expect("a large item is a valid request");
        let cluster = serving(&app);
        let out = cluster
            .guard()
            .restore_item(input)
            .await
            .expect("no item error");
        // Compared without printing megabytes on a failure.
        assert!(
            out.item == corrected(&prepared),
            "{size} bytes: not corrected as a small pod"
        );
    }
}

#[tokio::test]
async fn a_backed_up_deployment_at_the_object_size_limit_still_drives_the_correction() {
    // The Deployment, its ReplicaSet and pod each carry 1.5 MiB of annotations (the backup
    // download keeps entries up to 4 MiB).
    let app = web();
    let mut backup = app.backup();
    for object in backup
        .deployments
        .iter_mut()
        .chain(backup.replicasets.iter_mut())
    {
        *object = with_blob(object.clone(), OBJECT_LIMIT);
    }
    let cluster = FakeCluster::serving(backup, app.pod_volume_backups(), RULES, |_| {});
    let pod = with_blob(app.pods()[0].clone(), OBJECT_LIMIT);
    let prepared = velero_prepares_pod(&pod, &app.fsb_index().volumes_of(&pod));
    let out = cluster
        .guard()
        .restore_item(execute_input(prepared.clone(), &pod, &a_restore(json!({}))))
        .await
        .expect("no item error");
    assert!(
        out.item == corrected(&prepared),
        "not corrected as a small pod"
    );
}

#[tokio::test]
async fn rules_velero_refuses_fail_open_with_a_warning_naming_the_workload() {
    let app = web();
    let pod = &app.pods()[0];
    let prepared = velero_prepares_pod(pod, &app.fsb_index().volumes_of(pod));
    for (what, rules) in reliability_support::REFUSED_RULES {
        let cluster = FakeCluster::serving(app.backup(), app.pod_volume_backups(), rules, |_| {});
        let capture = capturing_logs();
        let out = cluster
            .guard()
            .restore_item(execute_input(prepared.clone(), pod, &a_restore(json!({}))))
            .await
            .unwrap_or_else(|e| panic!("{what}: fail open means no item error, got {e}"));
        assert_eq!(
            out.item, prepared,
            "{what}: the item must come back unchanged"
        );
        let lines = capture.logs.lines();
        assert!(
            lines
                .iter()
                .any(|l| l.contains("WARN") && l.contains("Deployment shop/web")),
            "{what}: no warn line naming the workload: {lines:#?}"
        );
    }
}

#[tokio::test]
async fn a_rule_velero_fails_on_while_restoring_leaves_the_pods_as_backed_up() {
    // A name regex Go cannot compile passes Velero's validation; Velero then fails the matching
    // items (the Deployment is not restored, nothing can roll), and the guard sees no template
    // change: the FSB pod comes back as Velero prepared it.
    let rules = "version: v1\nresourceModifierRules:\n- conditions: {groupResource: deployments.apps, resourceNameRegex: \"(\"}\n  patches: [{operation: add, path: /spec/template/spec/hostname, value: x}]\n";
    let app = web();
    let pod = &app.pods()[0];
    let prepared = velero_prepares_pod(pod, &app.fsb_index().volumes_of(pod));
    let cluster = FakeCluster::serving(app.backup(), app.pod_volume_backups(), rules, |_| {});
    let out = cluster
        .guard()
        .restore_item(execute_input(prepared.clone(), pod, &a_restore(json!({}))))
        .await
        .expect("no item error");
    assert_eq!(out.item, prepared);
}
