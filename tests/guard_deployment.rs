//! Deployment restores through the plugin shell (pods → ReplicaSets → Deployment) over the
//! in-memory API server: what is read once per restore, what the items become, the live
//! ReplicaSet's alignment and its one re-read on a conflict, dry-run, off and fail-open/closed.

mod guard_support;

use std::time::Duration;

use fsb_guard_core::fixtures::{
    App, SIDECAR_FOR_WEB_AND_ITS_PODS, a_deployment, a_restore, velero_prepares_pod,
};
use fsb_guard_core::{Resource, as_velero_hands_it, name_of};
use guard_support::{
    FakeCluster, Knobs, RestoreItem, TARGET, answered_before_decoding, execute_input,
    items_in_restore_order,
};
use serde_json::{Value, json};
use velero_fsb_guard::cluster::Cluster;
use velero_fsb_guard::guard::{self, KubeCluster, TemplateGuard};
use velero_plugin::{ActionError, ExecuteOutput, RestoreItemAction};

const RULES: &str = r#"
version: v1
resourceModifierRules:
- conditions: {groupResource: deployments.apps, resourceNameRegex: "^web$"}
  patches:
  - {operation: add, path: /spec/template/spec/hostname, value: restored}
"#;

fn web() -> App {
    a_deployment("shop", "web").with_fsb_volume("data")
}

/// The stand-in serving `app`'s backup, with [`RULES`] unless `knobs` says otherwise.
fn serving(app: &App, knobs: impl FnOnce(&mut Knobs)) -> FakeCluster {
    FakeCluster::serving(app.backup(), app.pod_volume_backups(), RULES, knobs)
}

/// Runs pods → ReplicaSets → Deployment through the shell; returns the outputs in order.
async fn run_restore(
    cluster: &FakeCluster,
    app: &App,
    restore: &Value,
) -> Vec<Result<ExecuteOutput, ActionError>> {
    run_restore_by(&cluster.guard(), cluster, app, restore).await
}

/// [`run_restore`] through `guard`.
async fn run_restore_by(
    guard: &TemplateGuard<FakeCluster, FakeCluster>,
    cluster: &FakeCluster,
    app: &App,
    restore: &Value,
) -> Vec<Result<ExecuteOutput, ActionError>> {
    let fsb = app.fsb_index();
    let mut outputs = Vec::new();
    for pod in app.pods() {
        let item = velero_prepares_pod(&pod, &fsb.volumes_of(&pod));
        outputs.push(guard.restore_item(execute_input(item, &pod, restore)).await);
    }
    for rs in app.replicasets() {
        let out = guard
            .restore_item(execute_input(as_velero_hands_it(&rs), &rs, restore))
            .await;
        if let Ok(o) = &out {
            // What Velero creates becomes the live object (in the mapped namespace).
            let mut created = o.item.clone();
            created["metadata"]["resourceVersion"] = json!("500");
            cluster.put(Resource::REPLICA_SETS, TARGET, name_of(&rs), created);
        }
        outputs.push(out);
    }
    let d = app.deployment();
    outputs.push(
        guard
            .restore_item(execute_input(as_velero_hands_it(&d), &d, restore))
            .await,
    );
    outputs
}

/// The live current ReplicaSet of `web()`.
fn live_replicaset(cluster: &FakeCluster) -> Value {
    cluster
        .live(Resource::REPLICA_SETS, TARGET, "web-5d894cc6b7")
        .expect("live ReplicaSet")
}

#[tokio::test]
async fn enforce_corrects_pod_and_replicaset_and_leaves_the_deployment_item_alone() {
    let cluster = serving(&web(), |_| {});
    let restore = a_restore(json!({}));
    let outputs = run_restore(&cluster, &web(), &restore).await;
    let pod = outputs[0].as_ref().unwrap();
    assert_eq!(pod.item["spec"]["hostname"], "restored");
    let rs = outputs[1].as_ref().unwrap();
    assert_eq!(rs.item["spec"]["template"]["spec"]["hostname"], "restored");
    let deployment = outputs[2].as_ref().unwrap();
    assert_eq!(deployment.item, as_velero_hands_it(&web().deployment()));
    // Inputs were read once per restore (the FSB pod's Deployment: not in the target); the live
    // ReplicaSet was read in the mapped namespace and, carrying the template already, not
    // patched.
    assert_eq!(
        cluster.calls(),
        [
            "list configmaps velero",
            "get configmap velero/mods",
            "get deployment shop-dr/web",
            "list podvolumebackups velero nightly",
            "download nightly",
            "get replicaset shop-dr/web-5d894cc6b7",
        ]
    );
}

#[tokio::test]
async fn enforce_aligns_a_live_replicaset_that_missed_the_correction() {
    let cluster = serving(&web(), |_| {});
    let guard = cluster.guard();
    let restore = a_restore(json!({}));
    let rs = web().replicasets()[0].clone();
    cluster.put(
        Resource::REPLICA_SETS,
        TARGET,
        "web-5d894cc6b7",
        as_velero_hands_it(&rs),
    );
    let d = web().deployment();
    let out = guard
        .restore_item(execute_input(as_velero_hands_it(&d), &d, &restore))
        .await
        .unwrap();
    assert_eq!(out.item, as_velero_hands_it(&d));
    assert!(
        cluster
            .calls()
            .contains(&"patch replicaset shop-dr/web-5d894cc6b7".to_owned())
    );
}

#[tokio::test]
async fn dry_run_changes_nothing_and_patches_nothing() {
    let app = web();
    let cluster = serving(&app, |_| {});
    let guard = cluster.guard();
    let restore = a_restore(json!({"fsb-guard.io/mode": "dry-run"}));
    let capture = guard_support::capturing_logs();
    // Live ReplicaSet without the correction, as dry-run lets Velero restore it.
    cluster.put(
        Resource::REPLICA_SETS,
        TARGET,
        "web-5d894cc6b7",
        as_velero_hands_it(&app.replicasets()[0]),
    );
    let fsb = app.fsb_index();
    let pod = &app.pods()[0];
    let item = velero_prepares_pod(pod, &fsb.volumes_of(pod));
    let out = guard
        .restore_item(execute_input(item.clone(), pod, &restore))
        .await
        .unwrap();
    assert_eq!(out.item, item);
    let rs = &app.replicasets()[0];
    let out = guard
        .restore_item(execute_input(as_velero_hands_it(rs), rs, &restore))
        .await
        .unwrap();
    assert_eq!(out.item, as_velero_hands_it(rs));
    let d = app.deployment();
    guard
        .restore_item(execute_input(as_velero_hands_it(&d), &d, &restore))
        .await
        .unwrap();
    assert!(!cluster.calls().iter().any(|c| c.starts_with("patch")));
    // The live ReplicaSet is judged as enforce would have restored it (its backed-up copy
    // corrected), so nothing is left to align: enforce would not patch it either.
    let lines = capture.logs.lines();
    assert!(
        lines.iter().any(|l| l.contains("dry-run")),
        "the dry-run lines are captured: {lines:#?}"
    );
    let deployment: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains("kind=Deployment") && l.contains("would apply"))
        .collect();
    assert_eq!(deployment.len(), 1, "{lines:#?}");
    assert!(!deployment[0].contains("aligned"), "{}", deployment[0]);
}

#[tokio::test]
async fn off_mode_makes_no_api_call_beyond_settings() {
    let cluster = serving(&web(), |_| {});
    let restore = a_restore(json!({"fsb-guard.io/mode": "off"}));
    for out in run_restore(&cluster, &web(), &restore).await {
        out.unwrap();
    }
    assert_eq!(cluster.calls(), ["list configmaps velero"]);
}

#[tokio::test]
async fn ambiguous_settings_leave_items_unchanged() {
    let cluster = serving(&web(), |k| k.settings_error = true);
    let app = web();
    let pod = &app.pods()[0];
    let item = velero_prepares_pod(pod, &app.fsb_index().volumes_of(pod));
    let out = cluster
        .guard()
        .restore_item(execute_input(item.clone(), pod, &a_restore(json!({}))))
        .await
        .unwrap();
    assert_eq!(out.item, item);
    assert_eq!(cluster.calls(), ["list configmaps velero"]);
}

#[tokio::test]
async fn a_restore_without_resource_modifiers_reads_only_settings_and_the_fsb_workload() {
    let cluster = serving(&web(), |_| {});
    let restore = a_restore_naming_no_modifiers();
    for out in run_restore(&cluster, &web(), &restore).await {
        out.unwrap();
    }
    // No rules to read and no download: only whether the FSB pod's Deployment exists in the
    // target (tests/guard_existing.rs), with the settings that may switch that off.
    assert_eq!(
        cluster.calls(),
        ["list configmaps velero", "get deployment shop-dr/web"]
    );
}

#[tokio::test]
async fn rules_that_touch_no_guarded_field_cost_no_download() {
    let cluster = serving(&web(), |k| {
        k.rules = "version: v1\nresourceModifierRules:\n- conditions: {groupResource: deployments.apps}\n  patches:\n  - {operation: replace, path: /spec/revisionHistoryLimit, value: \"2\"}\n".to_owned();
    });
    for out in run_restore(&cluster, &web(), &a_restore(json!({}))).await {
        out.unwrap();
    }
    assert_eq!(
        cluster.calls(),
        [
            "list configmaps velero",
            "get configmap velero/mods",
            "get deployment shop-dr/web"
        ]
    );
}

#[tokio::test]
async fn fail_open_with_the_api_unreachable_restores_items_unchanged() {
    let cluster = serving(&web(), |k| k.unreachable = true);
    let app = web();
    let restore = a_restore(json!({}));
    let pod = &app.pods()[0];
    let item = velero_prepares_pod(pod, &app.fsb_index().volumes_of(pod));
    let out = cluster
        .guard()
        .restore_item(execute_input(item.clone(), pod, &restore))
        .await
        .unwrap();
    assert_eq!(out.item, item);
    assert!(!out.skip_restore);
}

#[tokio::test]
async fn fail_closed_fails_the_item_and_names_the_workload() {
    let cluster = serving(&web(), |k| {
        k.plugin_config = Some(json!({"failurePolicy": "closed"}));
        k.rules = "not: [valid".to_owned();
    });
    let app = web();
    let pod = &app.pods()[0];
    let err = cluster
        .guard()
        .restore_item(execute_input(
            as_velero_hands_it(pod),
            pod,
            &a_restore(json!({})),
        ))
        .await
        .unwrap_err();
    let ActionError::Failed(message) = err else {
        panic!("expected an item failure")
    };
    assert!(message.contains("Deployment shop/web"), "{message}");
}

/// A ReplicaSet as the API server holds it after Velero created it from `rs` (the backup copy)
/// without the guard's correction.
fn created_without_correction(rs: &Value) -> Value {
    let mut live = as_velero_hands_it(rs);
    live["metadata"]["resourceVersion"] = json!("500");
    live
}

#[tokio::test]
async fn the_alignment_patch_is_conditional_on_the_resource_version_read() {
    let cluster = serving(&web(), |_| {});
    let rs = web().replicasets()[0].clone();
    cluster.put(
        Resource::REPLICA_SETS,
        TARGET,
        "web-5d894cc6b7",
        created_without_correction(&rs),
    );
    cluster.beat_next_patches(1);
    let d = web().deployment();
    let out = cluster
        .guard()
        .restore_item(execute_input(
            as_velero_hands_it(&d),
            &d,
            &a_restore(json!({})),
        ))
        .await
        .unwrap();
    assert_eq!(out.item, as_velero_hands_it(&d));
    // The first PATCH met a newer ReplicaSet and was refused; the guard read it again and
    // aligned the version it had just read.
    let calls = cluster.calls();
    assert_eq!(
        calls[calls.len() - 4..],
        [
            "get replicaset shop-dr/web-5d894cc6b7",
            "patch replicaset shop-dr/web-5d894cc6b7",
            "get replicaset shop-dr/web-5d894cc6b7",
            "patch replicaset shop-dr/web-5d894cc6b7",
        ]
    );
    let live = live_replicaset(&cluster);
    assert_eq!(live["spec"]["template"]["spec"]["hostname"], "restored");
    assert_eq!(live["metadata"]["resourceVersion"], "501");
}

#[tokio::test]
async fn a_second_conflict_fails_open_without_a_blind_write() {
    let cluster = serving(&web(), |_| {});
    let rs = web().replicasets()[0].clone();
    cluster.put(
        Resource::REPLICA_SETS,
        TARGET,
        "web-5d894cc6b7",
        created_without_correction(&rs),
    );
    cluster.beat_next_patches(2);
    let d = web().deployment();
    let out = cluster
        .guard()
        .restore_item(execute_input(
            as_velero_hands_it(&d),
            &d,
            &a_restore(json!({})),
        ))
        .await
        .unwrap();
    assert_eq!(out.item, as_velero_hands_it(&d));
    let patches = cluster
        .calls()
        .iter()
        .filter(|c| c.starts_with("patch"))
        .count();
    assert_eq!(patches, 2, "one retry, no more");
    let live = live_replicaset(&cluster);
    assert!(live["spec"]["template"]["spec"].get("hostname").is_none());
    assert_eq!(
        live["spec"]["template"]["metadata"]["labels"]["touched"],
        "yes"
    );
}

#[tokio::test]
async fn legacy_annotation_pods_are_fsb_pods_without_any_pod_volume_backup() {
    // Velero restores `snapshot.velero.io/<volume>` annotated pods' data even when no
    // PodVolumeBackup exists for the backup: the guard must protect them too.
    let app = a_deployment("shop", "web").with_legacy_fsb_volume("data");
    assert!(app.pod_volume_backups().is_empty());
    let cluster = serving(&app, |_| {});
    let outputs = run_restore(&cluster, &app, &a_restore(json!({}))).await;
    let pod = outputs[0].as_ref().unwrap();
    assert_eq!(pod.item["spec"]["hostname"], "restored");
    assert_eq!(
        pod.item["spec"]["initContainers"][0]["name"],
        "restore-wait"
    );
    let rs = outputs[1].as_ref().unwrap();
    assert_eq!(rs.item["spec"]["template"]["spec"]["hostname"], "restored");
}

#[tokio::test]
async fn no_fsb_data_at_all_costs_no_download() {
    let app = a_deployment("shop", "web");
    let cluster = serving(&app, |_| {});
    for out in run_restore(&cluster, &app, &a_restore(json!({}))).await {
        out.unwrap();
    }
    assert!(
        !cluster.calls().iter().any(|c| c.starts_with("download")),
        "{:?}",
        cluster.calls()
    );
}

const LOWER_TO_ONE: &str = "version: v1\nresourceModifierRules:\n- conditions: {groupResource: deployments.apps}\n  patches:\n  - {operation: replace, path: /spec/replicas, value: \"1\"}\n";

#[tokio::test]
async fn lowered_replicas_skip_pods_in_enforce_and_only_log_in_dry_run() {
    let app = a_deployment("shop", "web")
        .with_fsb_volume("data")
        .with_replicas(3);
    let cluster = serving(&app, |k| k.rules = LOWER_TO_ONE.to_owned());
    let outputs = run_restore(&cluster, &app, &a_restore(json!({}))).await;
    let skipped: Vec<bool> = outputs[..3]
        .iter()
        .map(|o| o.as_ref().unwrap().skip_restore)
        .collect();
    // Every pod holds its own data: the first by name is kept, the other two skipped.
    assert_eq!(skipped, [false, true, true]);
    let rs = outputs[3].as_ref().unwrap();
    assert!(!rs.skip_restore);
    assert_eq!(rs.item["spec"]["replicas"], 1);
    // The live ReplicaSet holds 1 replica already: no patch.
    assert!(!cluster.calls().iter().any(|c| c.starts_with("patch")));

    let cluster = serving(&app, |k| k.rules = LOWER_TO_ONE.to_owned());
    let outputs = run_restore(
        &cluster,
        &app,
        &a_restore(json!({"fsb-guard.io/mode": "dry-run"})),
    )
    .await;
    assert!(outputs.iter().all(|o| !o.as_ref().unwrap().skip_restore));
    assert_eq!(outputs[3].as_ref().unwrap().item["spec"]["replicas"], 3);
    assert!(!cluster.calls().iter().any(|c| c.starts_with("patch")));
}

/// A kube client pointed at a loopback port nobody listens on: every call fails fast with a
/// connection error, as when the API server is unreachable.
fn unreachable_cluster() -> Cluster {
    let config = kube::Config::new("https://127.0.0.1:1".parse().unwrap());
    Cluster::from_config(config, "velero")
        .unwrap()
        .with_call_timeout(Duration::from_secs(2))
}

#[tokio::test]
async fn fail_open_when_the_api_server_is_unreachable() {
    let cluster = KubeCluster::from_cluster(unreachable_cluster(), guard::NAME);
    let guard = TemplateGuard::new(cluster.clone(), cluster, None);
    let app = a_deployment("shop", "web").with_fsb_volume("data");
    let pod = &app.pods()[0];
    let item = velero_prepares_pod(pod, &app.fsb_index().volumes_of(pod));
    let restore = json!({"metadata": {"name": "r", "namespace": "velero", "uid": "u"},
        "spec": {"backupName": "nightly", "resourceModifier": {"kind": "ConfigMap", "name": "mods"}}});
    let out = guard
        .restore_item(execute_input(item.clone(), pod, &restore))
        .await
        .expect("fail open: the item is restored");
    assert_eq!(out.item, item);
}

/// `a_restore`, naming no resource-modifier ConfigMap of its own.
fn a_restore_naming_no_modifiers() -> Value {
    let mut restore = a_restore(json!({}));
    restore["spec"]
        .as_object_mut()
        .unwrap()
        .remove("resourceModifier");
    restore
}

/// Restores `web()` with `rules` (knobs as given) through a guard started with `server_args`.
async fn restore_started_with(
    server_args: &[&str],
    rules: &str,
    knobs: impl FnOnce(&mut Knobs),
    restore: &Value,
) -> (FakeCluster, Vec<Result<ExecuteOutput, ActionError>>) {
    let cluster = FakeCluster::serving(web().backup(), web().pod_volume_backups(), rules, knobs);
    let guard = cluster.guard_started_with(server_args);
    let outputs = run_restore_by(&guard, &cluster, &web(), restore).await;
    (cluster, outputs)
}

/// The restored pod's `hostname`, which [`RULES`] set on the Deployment's template.
fn pod_hostname(outputs: &[Result<ExecuteOutput, ActionError>]) -> Option<&Value> {
    outputs[0].as_ref().unwrap().item["spec"].get("hostname")
}

/// A restore that names no modifiers, on a server with `--default-resource-modifier-configmap`
/// (Velero main): Velero applies the default ConfigMap, so the guard reads it and protects.
#[tokio::test]
async fn the_servers_default_modifiers_are_guarded_when_the_restore_names_none() {
    let site_default = [
        "--uploader-type=kopia",
        "--default-resource-modifier-configmap=site-mods",
    ];
    let (cluster, outputs) = restore_started_with(
        &site_default,
        RULES,
        |_| {},
        &a_restore_naming_no_modifiers(),
    )
    .await;
    assert_eq!(pod_hostname(&outputs), Some(&json!("restored")));
    assert_eq!(
        cluster.calls()[..2],
        ["list configmaps velero", "get configmap velero/site-mods"]
    );

    // The restore's own reference wins over the default, as in Velero's restore controller.
    let (cluster, _) =
        restore_started_with(&site_default, RULES, |_| {}, &a_restore(json!({}))).await;
    assert_eq!(cluster.calls()[1], "get configmap velero/mods");
}

#[tokio::test]
async fn a_restore_that_skips_the_default_modifiers_reads_no_rules() {
    let mut restore = a_restore_naming_no_modifiers();
    restore["spec"]["skipDefaultResourceModifier"] = json!(true);
    let (cluster, outputs) = restore_started_with(
        &["--default-resource-modifier-configmap=site-mods"],
        RULES,
        |_| {},
        &restore,
    )
    .await;
    for out in outputs {
        out.unwrap();
    }
    assert_eq!(
        cluster.calls(),
        ["list configmaps velero", "get deployment shop-dr/web"]
    );
}

/// Velero skips a default ConfigMap it cannot load and applies no modifiers: nothing to guard.
#[tokio::test]
async fn a_missing_default_modifier_configmap_leaves_the_restore_alone() {
    let (cluster, outputs) = restore_started_with(
        &["--default-resource-modifier-configmap=site-mods"],
        RULES,
        |k| k.no_modifier_configmap = true,
        &a_restore_naming_no_modifiers(),
    )
    .await;
    assert_eq!(pod_hostname(&outputs), None);
    assert_eq!(
        cluster.calls(),
        [
            "list configmaps velero",
            "get configmap velero/site-mods",
            "get deployment shop-dr/web"
        ]
    );
}

/// Velero ≤ 1.14 hands its plugins only `--log-level`: rules that older releases evaluate
/// differently are not predicted (the restore is left alone, with a warning), rules every
/// release evaluates alike are guarded as usual.
#[tokio::test]
async fn before_velero_1_15_only_rules_every_release_reads_alike_are_guarded() {
    let old_velero = ["--log-level", "info", "--features", "EnableCSI"];
    let restore = a_restore(json!({}));
    let (_, outputs) = restore_started_with(&old_velero, RULES, |_| {}, &restore).await;
    assert_eq!(pod_hostname(&outputs), Some(&json!("restored")));

    let matches_rules = r#"
version: v1
resourceModifierRules:
- conditions:
    groupResource: deployments.apps
    matches: [{path: /spec/strategy/type, value: RollingUpdate}]
  patches:
  - {operation: add, path: /spec/template/spec/hostname, value: restored}
"#;
    let (cluster, outputs) =
        restore_started_with(&old_velero, matches_rules, |_| {}, &restore).await;
    assert_eq!(pod_hostname(&outputs), None);
    assert_eq!(
        cluster.calls(),
        [
            "list configmaps velero",
            "get configmap velero/mods",
            "get deployment shop-dr/web"
        ]
    );

    // The same rules on Velero ≥ 1.15 are guarded.
    let newer = ["--log-level", "info", "--uploader-type=kopia"];
    let (_, outputs) = restore_started_with(&newer, matches_rules, |_| {}, &restore).await;
    assert_eq!(pod_hostname(&outputs), Some(&json!("restored")));
}

#[tokio::test]
async fn a_pod_rule_repeating_the_template_change_is_left_to_land_once_and_named_in_a_warning() {
    // The Deployment and its pods each get a sidecar `shipper` (rules written for restores
    // without the plugin). Velero applies rule 1 to the pod after the plugin: carrying the
    // sidecar too would make two containers of one name, which the API server refuses.
    let rules = SIDECAR_FOR_WEB_AND_ITS_PODS;
    let cluster = FakeCluster::serving(web().backup(), web().pod_volume_backups(), rules, |_| {});
    let capture = guard_support::capturing_logs();
    let outputs = run_restore(&cluster, &web(), &a_restore(json!({}))).await;
    let pod = outputs[0].as_ref().unwrap();
    let containers: Vec<&str> = pod.item["spec"]["containers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(containers, ["app"], "the sidecar is left to rule 1");
    assert_eq!(
        pod.item["metadata"]["annotations"]["fsb-guard.io/left-to-rules"],
        r#"["spec.containers (rules [1])"]"#
    );
    // The ReplicaSet still carries the Deployment's new template (no rollout).
    let rs = outputs[1].as_ref().unwrap();
    assert_eq!(
        rs.item["spec"]["template"]["spec"]["containers"][1]["name"],
        "shipper"
    );
    let lines = capture.logs.lines();
    let warn: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains("WARN") && l.contains("left spec.containers"))
        .collect();
    assert_eq!(warn.len(), 1, "{lines:#?}");
    assert!(warn[0].contains("rules [1]"), "{}", warn[0]);
    assert!(
        lines
            .iter()
            .all(|l| !l.contains("registry.example/shipper")),
        "no value in the log"
    );
}

/// Once the restore read its backup contents (for the guarded workload's first item), the items of
/// a workload without FSB pods are answered before the transport decodes them (scope `fsb-only`:
/// out of scope, restored as received), and answered exactly as the full decision answers them;
/// the guarded workload's items are always decided; under scope `all-workloads`, every item is.
#[tokio::test]
async fn items_of_a_workload_without_fsb_pods_are_answered_before_decoding_once_the_backup_is_read()
{
    let (app, plain) = (web(), a_deployment("shop", "api"));
    let mut backup = app.backup();
    backup.push(Resource::DEPLOYMENTS, plain.deployment());
    plain
        .replicasets()
        .into_iter()
        .for_each(|rs| backup.push(Resource::REPLICA_SETS, rs));
    plain
        .pods()
        .into_iter()
        .for_each(|pod| backup.push(Resource::PODS, pod));
    let restore = a_restore(json!({}));
    for scope in ["fsb-only", "all-workloads"] {
        let cluster = FakeCluster::serving(backup.clone(), app.pod_volume_backups(), RULES, |k| {
            k.plugin_config = Some(json!({"scope": scope}));
        });
        let guard = cluster.guard();
        for (item, from_backup) in items_in_restore_order(&plain) {
            let glanced = answered_before_decoding(&guard, &item, &from_backup, &restore).await;
            assert!(!glanced, "nothing is known before the backup is read");
        }
        let outputs = run_restore_by(&guard, &cluster, &app, &restore).await;
        assert!(outputs.iter().all(Result::is_ok));
        for (item, from_backup) in items_in_restore_order(&plain) {
            let glanced = answered_before_decoding(&guard, &item, &from_backup, &restore).await;
            assert_eq!(
                glanced,
                scope == "fsb-only",
                "{} under {scope}",
                item["kind"]
            );
            let decided = guard
                .execute(execute_input(item.clone(), &from_backup, &restore))
                .await
                .unwrap();
            assert_eq!(decided, ExecuteOutput::unchanged(item), "the same answer");
        }
        for (item, from_backup) in items_in_restore_order(&app) {
            let glanced = answered_before_decoding(&guard, &item, &from_backup, &restore).await;
            assert!(!glanced, "{} of the guarded workload", item["kind"]);
        }
    }
}
