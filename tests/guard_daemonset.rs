//! DaemonSet restores simulated in Velero's order (pods → ControllerRevisions → DaemonSet) through
//! the plugin shell over the in-memory API server. Expected values come from each scenario's
//! intent and the API server's generation rules (facts §3), never from running the guard.

mod guard_support;

use fsb_guard_core::daemonset::{POD_TEMPLATE_GENERATION, TEMPLATE_GENERATION_ANNOTATION};
use fsb_guard_core::fixtures::{
    ADD_ENV, DaemonSetApp, REMOVE_GENERATION, a_daemonset, a_restore, daemonset_rules_yaml,
    fsb_restore_intact, velero_prepares_pod,
};
use fsb_guard_core::{Resource, as_velero_hands_it, name_of};
use guard_support::{FakeCluster, Knobs, RestoreItem, TARGET, execute_input};
use serde_json::{Value, json};

fn agent() -> DaemonSetApp {
    a_daemonset("shop", "agent")
        .with_fsb_volume("data")
        .at_generation(3)
        .on_nodes(&["node-1", "node-2"])
}

/// The stand-in serving `app`'s backup to a restore whose one rule applies `patches` to
/// DaemonSets.
fn serving(app: &DaemonSetApp, patches: &[&str], knobs: impl FnOnce(&mut Knobs)) -> FakeCluster {
    let rules = daemonset_rules_yaml(patches);
    FakeCluster::serving(app.backup(), app.pod_volume_backups(), &rules, knobs)
}

/// The app's pods as Velero creates them without the guard (labels as backed up).
fn has_pods_restored_without_guard(cluster: &FakeCluster, app: &DaemonSetApp) {
    let fsb = app.fsb_index();
    for pod in app.pods() {
        let mut live = velero_prepares_pod(&pod, &fsb.volumes_of(&pod));
        live["metadata"]["namespace"] = json!(TARGET);
        cluster.put(Resource::PODS, TARGET, name_of(&pod), live);
    }
}

fn live_pod(cluster: &FakeCluster, name: &str) -> Value {
    cluster
        .live(Resource::PODS, TARGET, name)
        .expect("live pod")
}

fn generation_label(cluster: &FakeCluster, name: &str) -> Value {
    live_pod(cluster, name)["metadata"]["labels"][POD_TEMPLATE_GENERATION].clone()
}

/// The outputs of a whole restore in Velero's order; pods are created in the stand-in.
struct Run {
    /// `(prepared item, returned item)` per backed-up pod.
    pods: Vec<(Value, Value)>,
    revisions: Vec<Value>,
    daemonset: Value,
}

async fn run_restore(cluster: &FakeCluster, app: &DaemonSetApp, restore: &Value) -> Run {
    let guard = cluster.guard();
    let fsb = app.fsb_index();
    let mut pods = Vec::new();
    for pod in app.pods() {
        let item = velero_prepares_pod(&pod, &fsb.volumes_of(&pod));
        let out = guard
            .restore_item(execute_input(item.clone(), &pod, restore))
            .await
            .unwrap();
        let live = cluster.velero_creates(&out.item, "pods");
        cluster.put(Resource::PODS, TARGET, name_of(&pod), live);
        pods.push((item, out.item));
    }
    let mut revisions = Vec::new();
    for cr in app.backup().controllerrevisions {
        let out = guard
            .restore_item(execute_input(as_velero_hands_it(&cr), &cr, restore))
            .await
            .unwrap();
        revisions.push(out.item);
    }
    let ds = app.daemonset();
    let out = guard
        .restore_item(execute_input(as_velero_hands_it(&ds), &ds, restore))
        .await
        .unwrap();
    Run {
        pods,
        revisions,
        daemonset: out.item,
    }
}

#[tokio::test]
async fn env_modifier_reaches_the_pods_which_stay_current_and_keep_their_fsb_restore() {
    let app = agent();
    let cluster = serving(&app, &[ADD_ENV], |_| {});
    let run = run_restore(&cluster, &app, &a_restore(json!({}))).await;
    let volumes = app.fsb_index();
    for (prepared, returned) in &run.pods {
        let fsb = volumes.volumes_of(&app.pods()[0]);
        assert_eq!(
            returned["spec"]["containers"][0]["env"],
            json!([{"name": "MODE", "value": "restored"}])
        );
        assert_eq!(
            returned["spec"]["initContainers"][0]["name"],
            "restore-wait"
        );
        assert!(fsb_restore_intact(prepared, returned, &fsb));
    }
    // The DaemonSet is restored as received.
    assert_eq!(run.daemonset, as_velero_hands_it(&app.daemonset()));
    // The annotation is kept, so the API server keeps generation 3: the controller counts every
    // restored pod as current (IsPodUpdated: pod-template-generation == "3").
    let ds = cluster.velero_creates(&run.daemonset, "daemonsets.apps");
    assert_eq!(
        ds["metadata"]["annotations"][TEMPLATE_GENERATION_ANNOTATION],
        "3"
    );
    for name in ["agent-node-1", "agent-node-2"] {
        assert_eq!(generation_label(&cluster, name), "3");
    }
    let calls = cluster.calls();
    assert!(calls.contains(&format!("get daemonset {TARGET}/agent")));
    assert!(calls.contains(&format!("list pods {TARGET} app=agent")));
    assert!(!calls.iter().any(|c| c.starts_with("patch")), "{calls:?}");
}

#[tokio::test]
async fn a_rule_removing_the_generation_annotation_moves_current_pods_to_generation_one() {
    let app = agent().with_past_generation_pod_on("node-3");
    let cluster = serving(&app, &[ADD_ENV, REMOVE_GENERATION], |_| {});
    let run = run_restore(&cluster, &app, &a_restore(json!({}))).await;
    // Without the annotation the API server creates the DaemonSet at generation 1
    // (PrepareForCreate), so current pods must say 1; the past-generation pod is left at 2.
    let ds = cluster.velero_creates(&run.daemonset, "daemonsets.apps");
    assert!(
        ds["metadata"]["annotations"]
            .get(TEMPLATE_GENERATION_ANNOTATION)
            .is_none()
    );
    assert_eq!(generation_label(&cluster, "agent-node-1"), "1");
    assert_eq!(generation_label(&cluster, "agent-node-2"), "1");
    assert_eq!(generation_label(&cluster, "agent-node-3"), "2");
    let (_, old) = &run.pods[2];
    assert!(old["spec"]["containers"][0].get("env").is_none());
}

#[tokio::test]
async fn the_daemonset_step_relabels_live_pods_the_pod_step_missed() {
    let app = agent();
    let cluster = serving(&app, &[ADD_ENV, REMOVE_GENERATION], |_| {});
    // The pods were created without the guard (e.g. restored by an earlier attempt).
    has_pods_restored_without_guard(&cluster, &app);
    let ds = app.daemonset();
    let restore = a_restore(json!({}));
    let out = cluster
        .guard()
        .restore_item(execute_input(as_velero_hands_it(&ds), &ds, &restore))
        .await
        .unwrap();
    assert_eq!(out.item, as_velero_hands_it(&ds));
    let calls = cluster.calls();
    assert!(calls.contains(&format!("patch pod {TARGET}/agent-node-1")));
    assert!(calls.contains(&format!("patch pod {TARGET}/agent-node-2")));
    for name in ["agent-node-1", "agent-node-2"] {
        assert_eq!(generation_label(&cluster, name), "1");
    }
}

#[tokio::test]
async fn dry_run_changes_no_item_and_patches_nothing() {
    let app = agent();
    let cluster = serving(&app, &[ADD_ENV, REMOVE_GENERATION], |_| {});
    let restore = a_restore(json!({"fsb-guard.io/mode": "dry-run"}));
    let run = run_restore(&cluster, &app, &restore).await;
    for (prepared, returned) in &run.pods {
        assert_eq!(prepared, returned);
    }
    assert_eq!(run.daemonset, as_velero_hands_it(&app.daemonset()));
    let calls = cluster.calls();
    // It read what enforce would read, and wrote nothing although the labels are stale.
    assert!(calls.contains(&format!("list pods {TARGET} app=agent")));
    assert!(!calls.iter().any(|c| c.starts_with("patch")), "{calls:?}");
    assert_eq!(generation_label(&cluster, "agent-node-1"), "3");
}

#[tokio::test]
async fn an_existing_daemonset_is_left_alone() {
    let app = agent();
    let cluster = serving(&app, &[ADD_ENV, REMOVE_GENERATION], |_| {});
    has_pods_restored_without_guard(&cluster, &app);
    cluster.put(Resource::DAEMON_SETS, TARGET, "agent", app.daemonset());
    let ds = app.daemonset();
    let out = cluster
        .guard()
        .restore_item(execute_input(
            as_velero_hands_it(&ds),
            &ds,
            &a_restore(json!({})),
        ))
        .await
        .unwrap();
    assert_eq!(out.item, as_velero_hands_it(&ds));
    // Enforce would relabel these pods (see the test above) if the DaemonSet were new.
    let calls = cluster.calls();
    assert!(calls.contains(&format!("get daemonset {TARGET}/agent")));
    assert!(!calls.iter().any(|c| c.starts_with("patch")), "{calls:?}");
}

#[tokio::test]
async fn rules_that_leave_daemonsets_alone_cost_no_daemonset_call() {
    let app = agent();
    let rules = daemonset_rules_yaml(&[ADD_ENV]).replace("daemonsets.apps", "deployments.apps");
    let cluster = FakeCluster::serving(app.backup(), app.pod_volume_backups(), &rules, |_| {});
    let run = run_restore(&cluster, &app, &a_restore(json!({}))).await;
    for (prepared, returned) in &run.pods {
        assert_eq!(prepared, returned);
    }
    let calls = cluster.calls();
    // One read: whether the FSB pods' DaemonSet exists in the target (tests/guard_existing.rs).
    let daemonset_calls: Vec<&String> = calls.iter().filter(|c| c.contains("daemonset")).collect();
    assert_eq!(daemonset_calls, [&format!("get daemonset {TARGET}/agent")]);
    assert!(
        !calls.iter().any(|c| c.starts_with("list pods")),
        "{calls:?}"
    );
}

#[tokio::test]
async fn a_rule_that_only_removes_the_generation_still_gets_the_pods_relabelled() {
    // No template change at all: the rule must still be read (GUARDED_FIELDS), else the pods keep
    // generation 3 while the API server creates the DaemonSet at 1.
    let app = agent();
    let cluster = serving(&app, &[REMOVE_GENERATION], |_| {});
    run_restore(&cluster, &app, &a_restore(json!({}))).await;
    for name in ["agent-node-1", "agent-node-2"] {
        assert_eq!(generation_label(&cluster, name), "1");
    }
}

/// The revision `data` the controller computes for a DaemonSet with template `template` as the
/// API server stores it (facts §3: `{"spec":{"template": … + "$patch":"replace"}}`).
fn data_for(template: Value) -> Value {
    let mut template = template;
    template["$patch"] = json!("replace");
    json!({"spec": {"template": template}})
}

#[tokio::test]
async fn the_revision_of_the_current_pods_gets_the_final_template_as_the_server_stores_it() {
    let app = agent().with_past_generation_pod_on("node-3");
    let cluster = serving(&app, &[ADD_ENV], |_| {});
    let run = run_restore(&cluster, &app, &a_restore(json!({}))).await;
    // T' = T + env, with the server's defaults (the stand-in's defaulting).
    let mut expected = app.template();
    expected["spec"]["containers"][0]["env"] = json!([{"name": "MODE", "value": "restored"}]);
    assert_eq!(
        run.revisions[0]["data"],
        data_for(cluster.defaulted(&expected))
    );
    assert_eq!(
        run.revisions[0]["data"]["spec"]["template"]["spec"]["dnsPolicy"],
        "ClusterFirst"
    );
    // Name and labels kept: the pods' hash label still points at it.
    assert_eq!(
        run.revisions[0]["metadata"],
        as_velero_hands_it(&app.controller_revision())["metadata"]
    );
    assert!(
        cluster
            .calls()
            .contains(&format!("dry-run create daemonset {TARGET}"))
    );
}

#[tokio::test]
async fn a_refused_dry_run_or_dry_run_mode_leaves_the_revision_as_backed_up() {
    let app = agent();
    let refused = serving(&app, &[ADD_ENV], |k| k.refuse_dry_run = true);
    let run = run_restore(&refused, &app, &a_restore(json!({}))).await;
    assert_eq!(
        run.revisions,
        [as_velero_hands_it(&app.controller_revision())]
    );
    let dry = serving(&app, &[ADD_ENV], |_| {});
    let run = run_restore(
        &dry,
        &app,
        &a_restore(json!({"fsb-guard.io/mode": "dry-run"})),
    )
    .await;
    assert_eq!(
        run.revisions,
        [as_velero_hands_it(&app.controller_revision())]
    );
}
