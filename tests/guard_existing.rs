//! Restores into a cluster where the workload already exists (issue 20; Velero 9461, 5242, 7487),
//! through the plugin shell over the in-memory API server: restored FSB pods parked, the
//! backed-up ReplicaSets of a live Deployment skipped, Progress deleting a parked pod once its
//! volume restores finished — and nothing of it for workloads that do not exist live.

mod guard_support;

use fsb_guard_core::existing::{
    DETACHED_LABELS, PARKED_BY_RESTORE, PARKED_LABEL, PARKING_CONTAINER,
};
use fsb_guard_core::fixtures::{App, a_deployment, a_restore, velero_prepares_pod};
use fsb_guard_core::{Resource, as_velero_hands_it, name_of};
use guard_support::{
    FakeCluster, RestoreItem, TARGET, answered_before_decoding, execute_input,
    items_in_restore_order,
};
use serde_json::{Value, json};
use velero_plugin::{ExecuteOutput, RestoreItemAction};

/// A Deployment whose one pod keeps its data in a PersistentVolumeClaim (`data-claim`).
fn api() -> App {
    a_deployment("shop", "api").with_shared_fsb_claim("data", 0)
}

/// A restore without resource modifiers (Velero 9461 is a plain full restore), mapping `shop`
/// to [`TARGET`], with `existingResourcePolicy` `policy` when given.
fn a_plain_restore(policy: Option<&str>) -> Value {
    let mut restore = a_restore(json!({}));
    let spec = restore["spec"].as_object_mut().unwrap();
    spec.remove("resourceModifier");
    if let Some(policy) = policy {
        spec.insert("existingResourcePolicy".into(), json!(policy));
    }
    restore
}

/// The stand-in serving `app`'s backup; no rules.
fn serving(app: &App) -> FakeCluster {
    FakeCluster::serving(app.backup(), app.pod_volume_backups(), "", |_| {})
}

/// `app`'s Deployment as it runs in the target: changed since the backup by `change`.
fn live_deployment(cluster: &FakeCluster, app: &App, change: impl FnOnce(&mut Value)) {
    let mut live = app.deployment();
    live["metadata"]["namespace"] = json!(TARGET);
    change(&mut live);
    cluster.put(
        Resource::DEPLOYMENTS,
        TARGET,
        name_of(&live).to_owned().as_str(),
        live,
    );
}

fn newer_image(deployment: &mut Value) {
    deployment["spec"]["template"]["spec"]["containers"][0]["image"] = json!("app:v2");
}

/// Velero's order: pods, ReplicaSets, the Deployment; the outputs in that order.
async fn restore_items(cluster: &FakeCluster, app: &App, restore: &Value) -> Vec<ExecuteOutput> {
    let guard = cluster.guard();
    let mut outputs = Vec::new();
    for (item, from_backup) in items_in_restore_order(app) {
        let out = guard
            .restore_item(execute_input(item, &from_backup, restore))
            .await
            .expect("the guard never fails an item here");
        outputs.push(out);
    }
    outputs
}

/// Every item restored as Velero handed it: the pod as Velero's own actions prepared it, nothing
/// skipped, no operation.
fn restored_as_received(app: &App, outputs: &[ExecuteOutput]) {
    let fsb = app.fsb_index();
    let pod = &app.pods()[0];
    assert_eq!(
        outputs[0].item,
        velero_prepares_pod(pod, &fsb.volumes_of(pod))
    );
    assert!(
        outputs
            .iter()
            .all(|o| !o.skip_restore && o.operation_id.is_none())
    );
}

fn init_names(pod: &Value) -> Vec<&str> {
    pod["spec"]["initContainers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn a_pod_of_a_deployment_changed_since_the_backup_is_parked_and_its_replicasets_skipped() {
    let app = api();
    let cluster = serving(&app);
    live_deployment(&cluster, &app, newer_image);
    let outputs = restore_items(&cluster, &app, &a_plain_restore(None)).await;

    let pod = &outputs[0];
    let labels = pod.item["metadata"]["labels"].as_object().unwrap();
    assert!(
        !labels.contains_key("app"),
        "selector key removed: {labels:?}"
    );
    assert!(!labels.contains_key("pod-template-hash"));
    assert_eq!(labels[PARKED_LABEL], "true");
    let annotations = &pod.item["metadata"]["annotations"];
    assert_eq!(annotations["fsb-guard.io/parked-from"], "Deployment/api");
    assert_eq!(annotations[PARKED_BY_RESTORE], "uid-1");
    let removed: Vec<String> =
        serde_json::from_str(annotations[DETACHED_LABELS].as_str().unwrap()).unwrap();
    assert_eq!(removed, ["app", "pod-template-hash"]);
    // restore-wait first and untouched; the parking container after it, a copy waiting forever.
    assert_eq!(init_names(&pod.item), ["restore-wait", PARKING_CONTAINER]);
    let parking = &pod.item["spec"]["initContainers"][1];
    let wait = &pod.item["spec"]["initContainers"][0];
    assert_eq!(parking["image"], wait["image"]);
    assert_eq!(parking["volumeMounts"], wait["volumeMounts"]);
    assert_ne!(parking["args"], wait["args"]);
    // The app containers and volumes are as backed up.
    assert_eq!(
        pod.item["spec"]["containers"],
        app.pods()[0]["spec"]["containers"]
    );
    assert_eq!(
        pod.item["spec"]["volumes"],
        app.pods()[0]["spec"]["volumes"]
    );
    assert_eq!(
        pod.operation_id.as_deref(),
        Some(format!("fsb-guard/parked-pod/{TARGET}/{}", name_of(&app.pods()[0])).as_str())
    );

    let replicaset = &outputs[1];
    assert!(
        replicaset.skip_restore,
        "the live Deployment owns its ReplicaSets"
    );
    let deployment = outputs.last().unwrap();
    assert!(!deployment.skip_restore);
    assert_eq!(deployment.item, as_velero_hands_it(&app.deployment()));
    assert!(deployment.operation_id.is_none());
}

#[tokio::test]
async fn without_the_workload_in_the_target_nothing_changes() {
    let app = api();
    let cluster = serving(&app);
    let outputs = restore_items(&cluster, &app, &a_plain_restore(None)).await;
    restored_as_received(&app, &outputs);
    // The plugin settings and the Deployment the FSB pod belongs to, read once; nothing else.
    assert_eq!(
        cluster.calls(),
        [
            "list configmaps velero".to_owned(),
            format!("get deployment {TARGET}/api")
        ]
    );
}

#[tokio::test]
async fn a_restore_without_fsb_pods_makes_no_call() {
    let app = a_deployment("shop", "web");
    let cluster = serving(&app);
    live_deployment(&cluster, &app, newer_image);
    let outputs = restore_items(&cluster, &app, &a_plain_restore(None)).await;
    assert!(
        outputs
            .iter()
            .all(|o| !o.skip_restore && o.operation_id.is_none())
    );
    assert!(cluster.calls().is_empty(), "{:?}", cluster.calls());
}

#[tokio::test]
async fn a_workload_read_once_per_restore_for_all_its_pods() {
    let app = a_deployment("shop", "api")
        .with_replicas(3)
        .with_shared_fsb_claim("data", 0)
        .with_fsb_volume("cache");
    let cluster = serving(&app);
    live_deployment(&cluster, &app, |d| d["spec"]["replicas"] = json!(0));
    let outputs = restore_items(&cluster, &app, &a_plain_restore(Some("update"))).await;
    let deployment_reads = cluster
        .calls()
        .iter()
        .filter(|c| c.starts_with("get deployment"))
        .count();
    assert_eq!(deployment_reads, 1);
    for pod in &outputs[..3] {
        assert_eq!(pod.item["metadata"]["labels"][PARKED_LABEL], "true");
    }
}

#[tokio::test]
async fn data_in_an_emptydir_is_detached_not_held_and_not_deleted() {
    let app = a_deployment("shop", "web").with_fsb_volume("data");
    let cluster = serving(&app);
    live_deployment(&cluster, &app, newer_image);
    let outputs = restore_items(&cluster, &app, &a_plain_restore(None)).await;
    let pod = &outputs[0];
    assert_eq!(pod.item["metadata"]["labels"][PARKED_LABEL], "true");
    assert_eq!(
        init_names(&pod.item),
        ["restore-wait"],
        "no parking container"
    );
    assert!(
        pod.operation_id.is_none(),
        "its data lives in the pod only: never deleted"
    );
}

#[tokio::test]
async fn a_pod_whose_name_exists_live_is_left_to_velero() {
    let app = api();
    let cluster = serving(&app);
    live_deployment(&cluster, &app, |_| {});
    let pod = &app.pods()[0];
    cluster.put(Resource::PODS, TARGET, name_of(pod), pod.clone());
    let outputs = restore_items(&cluster, &app, &a_plain_restore(None)).await;
    let fsb = app.fsb_index();
    assert_eq!(
        outputs[0].item,
        velero_prepares_pod(pod, &fsb.volumes_of(pod))
    );
    assert!(outputs[0].operation_id.is_none());
}

#[tokio::test]
async fn dry_run_parks_nothing() {
    let app = api();
    let cluster = FakeCluster::serving(app.backup(), app.pod_volume_backups(), "", |k| {
        k.plugin_config = Some(json!({"mode": "dry-run"}));
    });
    live_deployment(&cluster, &app, newer_image);
    let outputs = restore_items(&cluster, &app, &a_plain_restore(None)).await;
    restored_as_received(&app, &outputs);
}

#[tokio::test]
async fn mode_off_parks_nothing() {
    let app = api();
    let cluster = FakeCluster::serving(app.backup(), app.pod_volume_backups(), "", |k| {
        k.plugin_config = Some(json!({"mode": "off"}));
    });
    live_deployment(&cluster, &app, newer_image);
    let outputs = restore_items(&cluster, &app, &a_plain_restore(None)).await;
    assert!(
        outputs
            .iter()
            .all(|o| !o.skip_restore && o.operation_id.is_none())
    );
    assert!(
        !cluster
            .calls()
            .iter()
            .any(|c| c.starts_with("get deployment"))
    );
}

#[tokio::test]
async fn a_workload_this_restore_created_is_not_an_existing_one() {
    let app = api();
    let cluster = serving(&app);
    live_deployment(&cluster, &app, |d| {
        d["metadata"]["labels"]["velero.io/restore-name"] = json!("r1");
    });
    let outputs = restore_items(&cluster, &app, &a_plain_restore(None)).await;
    assert!(
        outputs
            .iter()
            .all(|o| !o.skip_restore && o.operation_id.is_none())
    );
}

/// A parked pod as the API server holds it after the restore created it.
fn parked_pod_live(cluster: &FakeCluster, output: &ExecuteOutput, restore_uid: &str) -> String {
    let mut pod = output.item.clone();
    let name = name_of(&pod).to_owned();
    pod["metadata"]["namespace"] = json!(TARGET);
    pod["metadata"]["uid"] = json!("pod-uid-1");
    pod["metadata"]["annotations"][PARKED_BY_RESTORE] = json!(restore_uid);
    cluster.put(Resource::PODS, TARGET, &name, pod);
    name
}

fn a_pod_volume_restore(pod: &str, phase: &str) -> Value {
    json!({"apiVersion": "velero.io/v1", "kind": "PodVolumeRestore",
        "metadata": {"name": format!("r1-{pod}-{phase}"), "namespace": "velero",
            "labels": {"velero.io/restore-uid": "uid-1", "velero.io/restore-name": "r1"}},
        "spec": {"pod": {"kind": "Pod", "namespace": TARGET, "name": pod}, "volume": "data"},
        "status": {"phase": phase}})
}

#[tokio::test]
async fn progress_deletes_the_parked_pod_once_its_volume_restores_finished() {
    let app = api();
    let cluster = serving(&app);
    live_deployment(&cluster, &app, newer_image);
    let restore = a_plain_restore(None);
    let outputs = restore_items(&cluster, &app, &restore).await;
    let pod = parked_pod_live(&cluster, &outputs[0], "uid-1");
    let operation = outputs[0].operation_id.clone().unwrap();
    let guard = cluster.guard();

    let pvr = a_pod_volume_restore(&pod, "InProgress");
    cluster.put(
        Resource::POD_VOLUME_RESTORES,
        "velero",
        name_of(&pvr),
        pvr.clone(),
    );
    let progress = guard
        .progress(operation.clone(), restore.clone())
        .await
        .unwrap();
    assert!(!progress.completed);
    assert_eq!((progress.n_completed, progress.n_total), (0, 1));
    assert!(cluster.live(Resource::PODS, TARGET, &pod).is_some());

    let mut done = pvr;
    done["status"]["phase"] = json!("Completed");
    cluster.put(
        Resource::POD_VOLUME_RESTORES,
        "velero",
        name_of(&done),
        done.clone(),
    );
    let progress = guard
        .progress(operation.clone(), restore.clone())
        .await
        .unwrap();
    assert!(progress.completed, "{progress:?}");
    assert!(progress.error.is_empty());
    assert!(
        cluster.live(Resource::PODS, TARGET, &pod).is_none(),
        "deleted"
    );

    // Asked again (Velero may): the pod is gone, the operation stays completed.
    let again = guard.progress(operation, restore).await.unwrap();
    assert!(again.completed);
}

#[tokio::test]
async fn progress_leaves_a_pod_another_restore_parked() {
    let app = api();
    let cluster = serving(&app);
    live_deployment(&cluster, &app, newer_image);
    let restore = a_plain_restore(None);
    let outputs = restore_items(&cluster, &app, &restore).await;
    let pod = parked_pod_live(&cluster, &outputs[0], "another-restore");
    let progress = cluster
        .guard()
        .progress(outputs[0].operation_id.clone().unwrap(), restore)
        .await
        .unwrap();
    assert!(progress.completed);
    assert!(
        cluster.live(Resource::PODS, TARGET, &pod).is_some(),
        "not ours: kept"
    );
}

#[tokio::test]
async fn progress_of_an_unknown_operation_is_completed_and_touches_nothing() {
    let cluster = serving(&api());
    let progress = cluster
        .guard()
        .progress("something-else".into(), a_plain_restore(None))
        .await
        .unwrap();
    assert!(progress.completed);
    assert!(cluster.calls().is_empty());
}

/// The glance before decoding (the transport floor for most items): in a restore whose modifiers
/// cannot change a guarded field, an item is answered as sent unless it is a pod with
/// `restore-wait`, or a live workload was found (its ReplicaSets and the workload itself are then
/// decided); under guarded rules, every item is decided.
#[tokio::test]
async fn only_items_no_guard_can_concern_are_answered_before_decoding() {
    let app = api();
    let plain_pod = a_deployment("shop", "web").pods().remove(0);
    let (rs, d) = (app.replicasets().remove(0), app.deployment());
    let restore = a_plain_restore(None);
    for live in [false, true] {
        let cluster = serving(&app);
        if live {
            live_deployment(&cluster, &app, newer_image);
        }
        let guard = cluster.guard();
        let fsb_pod = &app.pods()[0];
        let fsb_item = velero_prepares_pod(fsb_pod, &app.fsb_index().volumes_of(fsb_pod));
        let plain_item = velero_prepares_pod(&plain_pod, &Default::default());
        assert!(answered_before_decoding(&guard, &plain_item, &plain_pod, &restore).await);
        assert!(!answered_before_decoding(&guard, &fsb_item, fsb_pod, &restore).await);
        // An FSB pod without a workload concerns no workload.
        let mut bare = fsb_pod.clone();
        bare["metadata"]
            .as_object_mut()
            .unwrap()
            .remove("ownerReferences");
        assert!(answered_before_decoding(&guard, &fsb_item, &bare, &restore).await);
        // The FSB pod restored: its workload was read, live or not.
        let out = guard
            .restore_item(execute_input(fsb_item, fsb_pod, &restore))
            .await
            .unwrap();
        assert_eq!(out.operation_id.is_some(), live);
        // Its workload known now: another FSB pod of it is glanced at only when it is live.
        let again = velero_prepares_pod(fsb_pod, &app.fsb_index().volumes_of(fsb_pod));
        assert_eq!(
            answered_before_decoding(&guard, &again, fsb_pod, &restore).await,
            !live
        );
        for later in [&rs, &d] {
            let item = as_velero_hands_it(later);
            let glanced = answered_before_decoding(&guard, &item, later, &restore).await;
            assert_eq!(glanced, !live, "{} with live={live}", later["kind"]);
        }
        assert!(answered_before_decoding(&guard, &plain_item, &plain_pod, &restore).await);
    }

    let guarded = FakeCluster::serving(
        app.backup(),
        app.pod_volume_backups(),
        TEMPLATE_RULE,
        |_| {},
    );
    let guard = guarded.guard();
    let plain_item = velero_prepares_pod(&plain_pod, &Default::default());
    let with_rules = a_restore(json!({}));
    assert!(!answered_before_decoding(&guard, &plain_item, &plain_pod, &with_rules).await);
}

const TEMPLATE_RULE: &str = "version: v1\nresourceModifierRules:\n- conditions: {groupResource: deployments.apps}\n  patches:\n  - {operation: add, path: /spec/template/spec/priorityClassName, value: \"\\\"high\\\"\"}\n";
