use serde_json::{Value, json};

use super::*;
use crate::fixtures::{UPDATE_REVISION, a_restore, a_statefulset, velero_prepares_pod};

/// A StatefulSet pod with its data in the claim of `volumeClaimTemplates` `data`, as Velero hands
/// it (restore-wait prepended).
fn db_pod() -> (Value, Value) {
    let db = a_statefulset("shop", "db");
    let mut pod = db.pods().remove(0);
    pod["spec"]["volumes"] =
        json!([{"name": "data", "persistentVolumeClaim": {"claimName": "data-db-0"}}]);
    let item = velero_prepares_pod(&pod, &["data".to_owned()].into());
    (item, pod)
}

fn live_db(replicas: u64, update_revision: &str) -> Value {
    let mut live = a_statefulset("shop", "db").statefulset();
    live["spec"]["replicas"] = json!(replicas);
    live["status"]["updateRevision"] = json!(update_revision);
    live
}

/// `item` parked beside the live `db` scaled to 0 at the pod's revision.
fn parked_beside_a_scaled_down_db(item: &Value, restore: &Value) -> (Presence, Parked) {
    let live = live_db(0, UPDATE_REVISION);
    let LiveClass::Present(presence) = classify(&db(), Some(&live), item, restore, false) else {
        panic!("the live db is present")
    };
    let parked = park(item, "shop-dr", &db(), &presence, &["data".into()], restore);
    (presence, parked)
}

fn db() -> Workload {
    Workload::new(Kind::StatefulSet, "shop", "db")
}

#[test]
fn fsb_volumes_are_those_restore_wait_mounts() {
    let (item, pod) = db_pod();
    assert_eq!(fsb_volumes(&item), Some(vec!["data".to_owned()]));
    assert_eq!(fsb_volumes(&pod), None, "no restore-wait: no FSB data");
}

#[test]
fn a_statefulset_scaled_to_zero_at_the_pods_revision() {
    let (_, pod) = db_pod();
    let live = live_db(0, UPDATE_REVISION);
    let class = classify(&db(), Some(&live), &pod, &a_restore(json!({})), false);
    let LiveClass::Present(presence) = class else {
        panic!("{class:?}")
    };
    assert!(presence.scaled_to_zero);
    assert_eq!(presence.template, TemplateDrift::Same);
    assert_eq!(presence.selector_keys, ["app"]);
}

#[test]
fn a_statefulset_rolled_since_the_backup_has_another_template() {
    let (_, pod) = db_pod();
    let live = live_db(2, "db-0000000");
    let LiveClass::Present(presence) =
        classify(&db(), Some(&live), &pod, &a_restore(json!({})), false)
    else {
        panic!()
    };
    assert!(!presence.scaled_to_zero);
    assert_eq!(presence.template, TemplateDrift::Other);
}

#[test]
fn absent_and_restored_here_are_not_present() {
    let (_, pod) = db_pod();
    let restore = a_restore(json!({}));
    assert_eq!(
        classify(&db(), None, &pod, &restore, false),
        LiveClass::Absent
    );
    let mut ours = live_db(1, UPDATE_REVISION);
    ours["metadata"]["labels"]["velero.io/restore-name"] = json!("r1");
    assert_eq!(
        classify(&db(), Some(&ours), &pod, &restore, false),
        LiveClass::RestoredHere
    );
    // Restored by another restore earlier: it existed before this one.
    ours["metadata"]["labels"]["velero.io/restore-name"] = json!("r0");
    assert!(matches!(
        classify(&db(), Some(&ours), &pod, &restore, false),
        LiveClass::Present(_)
    ));
}

#[test]
fn selector_keys_come_from_match_labels_and_match_expressions() {
    let live = json!({"spec": {"selector": {"matchLabels": {"app": "db", "tier": "data"},
        "matchExpressions": [{"key": "track", "operator": "In", "values": ["stable"]},
                             {"key": "app", "operator": "Exists"}]}}});
    assert_eq!(selector_keys(&live), ["app", "tier", "track"]);
}

#[test]
fn a_parked_statefulset_pod_keeps_its_name_revision_and_claim() {
    let (item, _) = db_pod();
    let restore = a_restore(json!({}));
    let (presence, parked) = parked_beside_a_scaled_down_db(&item, &restore);
    assert_eq!(parked.item["metadata"]["name"], "db-0");
    let labels = &parked.item["metadata"]["labels"];
    assert!(labels.get("app").is_none());
    assert_eq!(
        labels[crate::toolkit::owners::REVISION_HASH_LABEL],
        UPDATE_REVISION
    );
    assert_eq!(parked.claims, [("data".to_owned(), "data-db-0".to_owned())]);
    assert!(parked.pod_only.is_empty());
    assert_eq!(
        parked.operation_id.as_deref(),
        Some("fsb-guard/parked-pod/shop-dr/db-0")
    );
    let message = parked_message("db-0", &presence, Policy::of(&restore), &parked);
    assert!(
        message.contains("parked") && message.contains("scaled to 0"),
        "{message}"
    );
    assert!(message.contains("data-db-0"));
}

#[test]
fn operation_ids_round_trip_and_nothing_else_parses() {
    let id = operation_id("shop-dr", "db-0");
    assert_eq!(parked_pod_of(&id), Some(("shop-dr", "db-0")));
    for other in [
        "",
        "op-1",
        "fsb-guard/parked-pod/",
        "fsb-guard/parked-pod/ns",
        "fsb-guard/parked-pod/ns/a/b",
    ] {
        assert_eq!(parked_pod_of(other), None, "{other}");
    }
}

fn pvr(pod: &str, phase: Option<&str>) -> Value {
    let mut r = json!({"spec": {"pod": {"namespace": "shop-dr", "name": pod}}});
    if let Some(phase) = phase {
        r["status"] = json!({"phase": phase});
    }
    r
}

#[test]
fn progress_waits_for_every_volume_restore_of_the_pod_then_deletes() {
    let restore = a_restore(json!({}));
    let live = json!({"metadata": {"name": "db-0", "uid": "u1",
        "annotations": {PARKED_BY_RESTORE: "uid-1"}}});
    let decide =
        |restores: &[Value]| progress_decision("shop-dr", "db-0", Some(&live), restores, &restore);
    // A restore without a phase yet is New; another pod's restores do not count.
    let waiting = [
        pvr("db-0", Some("Completed")),
        pvr("db-0", None),
        pvr("db-1", Some("InProgress")),
    ];
    assert_eq!(decide(&waiting), ProgressDecision::Waiting(1, 2));
    let finished = [pvr("db-0", Some("Completed")), pvr("db-0", Some("Failed"))];
    match decide(&finished) {
        ProgressDecision::Delete { uid, summary } => {
            assert_eq!(uid.as_deref(), Some("u1"));
            assert!(summary.contains("1 of 2"), "{summary}");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        progress_decision("shop-dr", "db-0", None, &finished, &restore),
        ProgressDecision::Done(_)
    ));
}

#[test]
fn messages_name_no_values() {
    let (item, _) = db_pod();
    let mut item = item;
    item["metadata"]["labels"]["app"] = json!("secret-value-xyz");
    let restore = a_restore(json!({}));
    let (presence, parked) = parked_beside_a_scaled_down_db(&item, &restore);
    let lines = [
        parked_message("db-0", &presence, Policy::Update, &parked),
        pod_only_warning("db-0", &parked),
        workload_message(Kind::StatefulSet, Policy::Update, true),
        pod_exists_warning("db-0"),
    ];
    for line in lines {
        assert!(!line.contains("secret-value-xyz"), "{line}");
    }
}

#[test]
fn the_workload_line_says_parked_only_when_a_pod_was() {
    let parked = workload_message(Kind::StatefulSet, Policy::None, true);
    assert!(parked.contains("were parked"), "{parked}");
    let kept = workload_message(Kind::StatefulSet, Policy::None, false);
    assert!(
        !kept.contains("parked") && kept.contains("already exist"),
        "{kept}"
    );
}

/// The glance before decoding finds `restore-wait` exactly where `fsb_volumes` does, and says
/// "no" only when the bytes certainly hold none.
#[test]
fn a_glance_at_the_bytes_finds_restore_wait_where_fsb_volumes_does() {
    let (with_fsb, pod) = db_pod();
    let without_fsb = velero_prepares_pod(&pod, &Default::default());
    for item in [&with_fsb, &without_fsb] {
        let bytes = serde_json::to_vec(item).unwrap();
        let glance = Glance::of(&bytes).expect("a pod reads");
        assert_eq!(glance.kind, "Pod");
        assert_eq!(glance.restore_wait, fsb_volumes(item).is_some());
    }
    assert!(
        Glance::of(&serde_json::to_vec(&with_fsb).unwrap())
            .unwrap()
            .restore_wait
    );

    // Escaped in the JSON text, still the same name.
    let escaped = br#"{"kind":"Pod","spec":{"initContainers":[{"name":"restore\u002dwait"}]}}"#;
    assert!(Glance::of(escaped).unwrap().restore_wait);
    // Another kind never has it, whatever its spec holds.
    let rs = br#"{"kind":"ReplicaSet","spec":{"initContainers":[{"name":"restore-wait"}]}}"#;
    let glance = Glance::of(rs).unwrap();
    assert_eq!(
        (glance.kind.as_ref(), glance.restore_wait),
        ("ReplicaSet", false)
    );
    // What it cannot read is no answer: the caller decodes and decides (or rejects).
    for unreadable in [
        &br#"{"kind":"Pod","spec":{"initContainers":{"name":"restore-wait"}}}"#[..],
        br#"{"kind":"Pod","spec":{"initContainers":[{"name":7}]}}"#,
        br#"{"kind":3}"#,
        br#"{"metadata":{}}"#,
        b"[]",
        b"{not json",
        b"",
    ] {
        assert!(Glance::of(unreadable).is_none(), "{unreadable:?}");
    }
}

/// The owner functions read the same workload from the identity glanced at the bytes as from the
/// whole pod.
#[test]
fn the_identity_of_a_pod_names_the_workload_the_whole_pod_does() {
    let (_, sts_pod) = db_pod();
    let deployment_pod = crate::fixtures::a_deployment("shop", "web")
        .pods()
        .remove(0);
    for pod in [&sts_pod, &deployment_pod] {
        let identity = identity_of(&serde_json::to_vec(pod).unwrap()).expect("reads");
        assert!(identity["metadata"].get("managedFields").is_none());
        let owning = Workload::owning(&identity);
        assert!(owning.is_some());
        assert_eq!(owning, Workload::owning(pod));
    }
    assert_eq!(identity_of(b"{}"), Some(json!({"metadata": {}})));
    assert_eq!(identity_of(br#"{"metadata": "web"}"#), None);
    assert_eq!(identity_of(b"nope"), None);
}
