//! A whole StatefulSet restore through the plugin shell, in Velero's order (pods →
//! ControllerRevisions → StatefulSet), over the in-memory API server defaulting templates like a
//! 1.33 or 1.34 one.

mod guard_support;

use fsb_guard_core::fixtures::{
    Db, OLDER_REVISION, UPDATE_REVISION, a_restore, a_statefulset, velero_prepares_pod,
};
use fsb_guard_core::toolkit::delta::broken_invariants;
use fsb_guard_core::toolkit::gojson::go_canonical;
use fsb_guard_core::toolkit::revision::{
    HASH_LABEL, predicted_revision_name, revision_data, same_revision_data,
};
use fsb_guard_core::{Resource, as_velero_hands_it, name_of};
use guard_support::{FakeCluster, Knobs, RestoreItem, TARGET, capturing_logs, execute_input};
use serde_json::{Value, json};
use velero_plugin::ExecuteOutput;

/// Image change + env var + replicas 3 → 2, for the StatefulSet only.
const RULES: &str = r#"
version: v1
resourceModifierRules:
- conditions: {groupResource: statefulsets.apps, resourceNameRegex: "^db$"}
  patches:
  - {operation: replace, path: /spec/template/spec/containers/0/image, value: "registry.example/db:2.0"}
  - {operation: add, path: /spec/template/spec/containers/0/env, value: '[{"name":"MODE","value":"a<b&c"}]'}
  - {operation: replace, path: /spec/replicas, value: "2"}
"#;

fn db() -> Db {
    a_statefulset("shop", "db")
        .with_replicas(3)
        .with_fsb_volume("data")
}

/// The stand-in serving `db()`'s backup, its server at Kubernetes 1.`minor`.
fn serving(minor: u32, knobs: impl FnOnce(&mut Knobs)) -> FakeCluster {
    let db = db();
    FakeCluster::serving(db.backup(), db.pod_volume_backups(), RULES, |k| {
        k.minor = minor;
        knobs(k);
    })
}

struct Outcome {
    pods: Vec<(Value, ExecuteOutput)>,
    statefulset: ExecuteOutput,
    created_statefulset: Value,
}

/// Runs the restore; `with_revisions: false` leaves ControllerRevisions out;
/// `earlier_plugin` changes the StatefulSet item before the guard sees it.
async fn run(
    cluster: &FakeCluster,
    restore: &Value,
    with_revisions: bool,
    earlier_plugin: impl Fn(&mut Value),
) -> Outcome {
    let guard = cluster.guard();
    let db = db();
    let fsb = db.fsb_index();
    let mut pods = Vec::new();
    for pod in db.pods() {
        let item = velero_prepares_pod(&pod, &fsb.volumes_of(&pod));
        let out = guard
            .restore_item(execute_input(item.clone(), &pod, restore))
            .await
            .unwrap();
        if !out.skip_restore {
            let created = cluster.velero_creates(&out.item, "pods");
            cluster.put(Resource::PODS, TARGET, name_of(&pod), created);
        }
        pods.push((item, out));
    }
    if with_revisions {
        for (i, cr) in db.revisions().into_iter().enumerate() {
            let out = guard
                .restore_item(execute_input(as_velero_hands_it(&cr), &cr, restore))
                .await
                .unwrap();
            let mut created = cluster.velero_creates(&out.item, "controllerrevisions.apps");
            created["metadata"]["uid"] = json!(format!("live-{i}"));
            cluster.put(
                Resource::CONTROLLER_REVISIONS,
                TARGET,
                name_of(&cr),
                created,
            );
        }
    }
    let sts = db.statefulset();
    let mut item = as_velero_hands_it(&sts);
    earlier_plugin(&mut item);
    let statefulset = guard
        .restore_item(execute_input(item.clone(), &sts, restore))
        .await
        .unwrap();
    assert_eq!(
        statefulset.item, item,
        "the StatefulSet item is returned unchanged"
    );
    let created_statefulset = cluster.velero_creates(&statefulset.item, "statefulsets.apps");
    Outcome {
        pods,
        statefulset,
        created_statefulset,
    }
}

fn live_revision(cluster: &FakeCluster, name: &str) -> Option<Value> {
    cluster.live(Resource::CONTROLLER_REVISIONS, TARGET, name)
}

/// The controller's view: the live update revision holds exactly its proposal (bytes), has
/// the highest `.revision`, carries no hash label that could veto, and every restored pod
/// names it.
fn assert_controller_keeps_the_pods(cluster: &FakeCluster, outcome: &Outcome) {
    let proposal = cluster.controller_proposal(&outcome.created_statefulset);
    let live = live_revision(cluster, UPDATE_REVISION).expect("update revision live");
    assert!(
        same_revision_data(&live["data"], &proposal),
        "data = T'_server"
    );
    assert!(live["metadata"]["labels"].get(HASH_LABEL).is_none());
    let older = live_revision(cluster, OLDER_REVISION).unwrap();
    assert!(live["revision"].as_i64() > older["revision"].as_i64());
    for pod in cluster.all_live(Resource::PODS, TARGET).values() {
        assert_eq!(
            pod["metadata"]["labels"]["controller-revision-hash"],
            UPDATE_REVISION
        );
    }
}

fn assert_pods_corrected_and_skipped(outcome: &Outcome) {
    // Ordinals 0, 1 carry T' with restore-wait first and the FSB volume intact; ordinal 2 is
    // removed by replicas 2 and not restored.
    let skips: Vec<bool> = outcome.pods.iter().map(|(_, o)| o.skip_restore).collect();
    assert_eq!(skips, [false, false, true]);
    for (prepared, out) in &outcome.pods[..2] {
        let pod = &out.item;
        assert_eq!(
            pod["spec"]["containers"][0]["image"],
            "registry.example/db:2.0"
        );
        assert_eq!(
            pod["spec"]["containers"][0]["env"],
            json!([{"name": "MODE", "value": "a<b&c"}])
        );
        assert_eq!(pod["spec"]["initContainers"][0]["name"], "restore-wait");
        let volumes = ["data".to_owned()].into();
        assert!(
            broken_invariants(prepared, pod, &volumes).is_empty(),
            "FSB restore intact"
        );
        assert_eq!(
            pod["metadata"]["labels"]["controller-revision-hash"],
            UPDATE_REVISION
        );
    }
}

#[tokio::test]
async fn a_whole_restore_keeps_the_pods_on_1_33_and_1_34() {
    for minor in [33, 34] {
        let cluster = serving(minor, |_| {});
        let outcome = run(&cluster, &a_restore(json!({})), true, |_| {}).await;
        assert_pods_corrected_and_skipped(&outcome);
        let live = live_revision(&cluster, UPDATE_REVISION).unwrap();
        assert_eq!(live["revision"], 3, "max(own, highest + 1)");
        assert_eq!(
            live["data"]["spec"]["template"]["metadata"].get("creationTimestamp"),
            (minor <= 33).then_some(&Value::Null),
            "creationTimestamp as the {minor} server writes it"
        );
        assert_controller_keeps_the_pods(&cluster, &outcome);
        // The revision step did it all: the StatefulSet step found it aligned.
        let calls = cluster.calls();
        assert!(
            !calls
                .iter()
                .any(|c| c.starts_with("delete") || c.starts_with("patch"))
        );
        assert!(!outcome.statefulset.skip_restore);
    }
}

#[tokio::test]
async fn an_earlier_plugin_changing_the_statefulset_gets_the_revision_recreated() {
    let cluster = serving(34, |_| {});
    // Another plugin changes the template after our revision step (a field the rules leave
    // alone): the live revision no longer matches what the StatefulSet will compute.
    let outcome = run(&cluster, &a_restore(json!({})), true, |sts| {
        sts["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] = json!("IfNotPresent");
    })
    .await;
    let calls = cluster.calls();
    let at = calls
        .iter()
        .position(|c| c == "delete controllerrevision shop-dr/db-6c9f7d8b5")
        .expect("stale revision deleted");
    assert_eq!(
        calls[at + 1],
        "create controllerrevision shop-dr/db-6c9f7d8b5"
    );
    // The created body's bytes are Go's (the API server keeps `data` bytes verbatim).
    let body = cluster.created_bodies()[0].clone();
    let parsed: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body, go_canonical(&parsed));
    assert_eq!(parsed["metadata"]["name"], UPDATE_REVISION);
    assert_eq!(parsed["revision"], 3);
    assert_controller_keeps_the_pods(&cluster, &outcome);
}

#[tokio::test]
async fn without_revisions_in_the_restore_pods_are_relabelled_to_the_predicted_name() {
    let cluster = serving(34, |_| {});
    let outcome = run(&cluster, &a_restore(json!({})), false, |_| {}).await;
    let proposal = cluster.controller_proposal(&outcome.created_statefulset);
    let predicted = predicted_revision_name("db", &proposal);
    let pods = cluster.all_live(Resource::PODS, TARGET);
    assert_eq!(pods.len(), 2);
    for pod in pods.values() {
        assert_eq!(
            pod["metadata"]["labels"]["controller-revision-hash"],
            predicted
        );
    }
}

#[tokio::test]
async fn without_revisions_and_without_dry_run_the_guard_refuses_to_guess() {
    let cluster = serving(34, |k| k.refuse_dry_run = true);
    run(&cluster, &a_restore(json!({})), false, |_| {}).await;
    let calls = cluster.calls();
    assert!(calls.contains(&"get /version".to_owned()));
    assert!(!calls.iter().any(|c| c.starts_with("patch")));
    for pod in cluster.all_live(Resource::PODS, TARGET).values() {
        assert_eq!(
            pod["metadata"]["labels"]["controller-revision-hash"],
            UPDATE_REVISION
        );
    }
}

#[tokio::test]
async fn refused_dry_run_falls_back_to_the_version_form() {
    let cluster = serving(33, |k| k.refuse_dry_run = true);
    run(&cluster, &a_restore(json!({})), true, |_| {}).await;
    let live = live_revision(&cluster, UPDATE_REVISION).unwrap();
    // No defaults (no dnsPolicy), creationTimestamp null for 1.33.
    let template = &live["data"]["spec"]["template"];
    assert_eq!(template["metadata"]["creationTimestamp"], Value::Null);
    assert!(template["spec"].get("dnsPolicy").is_none());
    assert_eq!(live["revision"], 3);
}

#[tokio::test]
async fn dry_run_mode_changes_and_skips_nothing() {
    let cluster = serving(34, |_| {});
    let outcome = run(
        &cluster,
        &a_restore(json!({"fsb-guard.io/mode": "dry-run"})),
        false,
        |_| {},
    )
    .await;
    for (prepared, out) in &outcome.pods {
        assert_eq!(&out.item, prepared);
        assert!(!out.skip_restore);
    }
    let calls = cluster.calls();
    assert!(
        !calls
            .iter()
            .any(|c| c.starts_with("patch") || c.starts_with("delete") || c.starts_with("create"))
    );
}

#[tokio::test]
async fn an_existing_statefulset_leaves_revisions_as_restored() {
    let cluster = serving(34, |_| {});
    // The StatefulSet is live in the target namespace already (existing-resource policy).
    cluster.put(Resource::STATEFUL_SETS, TARGET, "db", db().statefulset());
    run(&cluster, &a_restore(json!({})), true, |_| {}).await;
    let live = live_revision(&cluster, UPDATE_REVISION).unwrap();
    assert_eq!(live["revision"], 2);
    assert!(same_revision_data(
        &live["data"],
        &revision_data(&db().template())
    ));
    let calls = cluster.calls();
    assert!(!calls.iter().any(|c| c.starts_with("delete")
        || c.starts_with("create controllerrevision")
        || c.starts_with("patch")));
}

/// Restores through `cluster`, whose dry-run create is refused with a message quoting `value`;
/// returns the fallback warnings, after checking there is one and that `value` is in no log line.
async fn dry_run_fallback_warnings(cluster: &FakeCluster, value: &str) -> Vec<String> {
    let capture = capturing_logs();
    run(cluster, &a_restore(json!({})), true, |_| {}).await;
    let lines = capture.logs.lines();
    let fallback: Vec<String> = lines
        .iter()
        .filter(|l| l.contains("WARN") && l.contains("dry-run create of the StatefulSet refused"))
        .cloned()
        .collect();
    assert!(!fallback.is_empty(), "no fallback warning: {lines:#?}");
    let quoting: Vec<&String> = lines.iter().filter(|l| l.contains(value)).collect();
    assert!(quoting.is_empty(), "a value reached the log: {quoting:#?}");
    fallback
}

#[tokio::test]
async fn a_dry_run_refused_as_invalid_warns_naming_the_field_never_the_value() {
    // The API server's validation message quotes the value the rule set (RULES' env value).
    let cluster = serving(33, |k| k.dry_run_invalid_value = Some("a<b&c"));
    let fallback = dry_run_fallback_warnings(&cluster, "a<b&c").await;
    assert!(
        fallback
            .iter()
            .all(|l| l.contains("spec.template.spec.containers[0].env[0].value")),
        "the refused field is not named: {fallback:#?}"
    );
}

#[tokio::test]
async fn a_dry_run_denied_by_a_webhook_warns_naming_the_webhook_never_its_reason() {
    // A policy webhook's reason is its author's text; this one quotes the value the rule set.
    let cluster = serving(33, |k| k.dry_run_denied_by_webhook = Some("a<b&c"));
    let fallback = dry_run_fallback_warnings(&cluster, "a<b&c").await;
    assert!(
        fallback.iter().all(|l| l.contains("HTTP 400")
            && l.contains("admission webhook \"policy.example.com\" denied the request")),
        "the webhook is not named: {fallback:#?}"
    );
}
