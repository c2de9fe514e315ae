//! One test per StatefulSet decision.

use std::collections::BTreeSet;
use std::sync::LazyLock;

use serde_json::{Value, json};

use super::*;
use crate::fixtures::{
    Db, ENV_RULE, OLDER_REVISION, Restore, UPDATE_REVISION, a_restore, a_statefulset, item_of,
    offline, replicas_rule, velero_prepares_pod,
};
use crate::restore::Item;
use crate::settings::{Scope, Settings};
use crate::toolkit::delta::broken_invariants;
use crate::toolkit::gojson::go_canonical;
use crate::toolkit::notes::Level;
use crate::toolkit::notes::StepOutcome;
use crate::toolkit::object::{as_velero_hands_it, name_of};
use crate::toolkit::owners::REVISION_HASH_LABEL;
use crate::toolkit::revision::{HASH_LABEL, revision_data};

fn restore_object() -> Value {
    a_restore(json!({}))
}

/// The revision step's first part for backed-up revision `from_backup` in `restore`.
fn revision_of(
    restore: &Restore,
    from_backup: &Value,
) -> std::result::Result<RevisionTarget, StepOutcome> {
    revision_target(&restore.inputs(), restored(from_backup)).unwrap()
}

/// [`db3`]'s backed-up update revision and the revision step's target for it under
/// [`ENV_RULE`].
fn db3_update_revision() -> (Value, RevisionTarget) {
    let db = db3();
    let from_backup = db.revisions()[1].clone();
    let target = revision_of(&Restore::of(&db, ENV_RULE), &from_backup).unwrap();
    (from_backup, target)
}

/// `from_backup` handed to the guard as backed up, in a restore mapping `shop` to `shop-dr`.
fn restored(from_backup: &Value) -> Item<'_> {
    static RESTORE: LazyLock<Value> = LazyLock::new(restore_object);
    Item {
        received: from_backup,
        from_backup,
        restore: &RESTORE,
    }
}

fn env_of(pod: &Value) -> &Value {
    &pod["spec"]["containers"][0]["env"]
}

fn restored_env() -> Value {
    json!([{"name": "MODE", "value": "restored"}])
}

fn db3() -> Db {
    a_statefulset("shop", "db")
        .with_replicas(3)
        .with_fsb_volume("data")
}

/// The 1.33 upstream fixture's template (facts §2.1), whose revision is `test-c77f6d978`.
fn upstream_template_133() -> Value {
    json!({"metadata": {"annotations": {"test": "value"}, "creationTimestamp": null,
        "labels": {"app": "foo"}},
        "spec": {"containers": [{"image": "test", "imagePullPolicy": "Always", "name": "test",
            "resources": {}, "terminationMessagePath": "/dev/termination-log",
            "terminationMessagePolicy": "File"}],
        "dnsPolicy": "ClusterFirst", "restartPolicy": "Always", "schedulerName": "default-scheduler",
        "securityContext": {}, "terminationGracePeriodSeconds": 30}})
}

#[test]
fn update_revision_from_status_then_data_then_pods() {
    let db = db3();
    let backup = db.backup();
    let owned = revisions_of(&backup.statefulsets[0], &backup.controllerrevisions);
    assert_eq!(owned.len(), 2);
    let from_status = update_revision(&backup.statefulsets[0], &owned, &backup.pods).unwrap();
    assert_eq!(
        (from_status.name.as_str(), from_status.source),
        (UPDATE_REVISION, RevisionSource::Status)
    );
    // Without status: the revision whose data is the template (even when the backed-up data was
    // written without creationTimestamp, by a 1.34 controller).
    let bare = db.clone().without_status();
    let sts = bare.statefulset();
    let mut revisions = bare.revisions();
    revisions[1]["data"]["spec"]["template"]["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("creationTimestamp");
    let owned: Vec<&Value> = revisions.iter().collect();
    let by_data = update_revision(&sts, &owned, &[]).unwrap();
    assert_eq!(
        (by_data.name.as_str(), by_data.source),
        (UPDATE_REVISION, RevisionSource::TemplateData)
    );
    // Neither: the label most pods carry.
    let by_pods = update_revision(&sts, &[], &bare.mid_rollout_below(1).pods()).unwrap();
    assert_eq!(
        (by_pods.name.as_str(), by_pods.source),
        (UPDATE_REVISION, RevisionSource::Pods)
    );
}

#[test]
fn pods_at_the_update_revision_get_the_new_template_with_fsb_restore_intact() {
    let db = db3();
    let restore = Restore::of(&db, ENV_RULE);
    let pod = &db.pods()[1];
    let volumes = restore.fsb.volumes_of(pod);
    let item = velero_prepares_pod(pod, &volumes);
    let out = pod_step(&restore.inputs(), item_of(&item, pod)).unwrap();
    let corrected = out.item.expect("pod corrected");
    assert!(!out.skip_restore);
    assert_eq!(env_of(&corrected), &restored_env());
    assert_eq!(
        corrected["spec"]["initContainers"][0]["name"],
        "restore-wait"
    );
    assert!(broken_invariants(&item, &corrected, &volumes).is_empty());
    // The revision label is never touched: it names R, whose data becomes T'.
    assert_eq!(
        corrected["metadata"]["labels"][REVISION_HASH_LABEL],
        UPDATE_REVISION
    );
}

#[test]
fn pods_at_an_older_revision_are_restored_as_they_are_with_a_warning_when_they_will_roll() {
    // Partition 0 (the fixture): the resumed rollout replaces ordinal 0 with the update revision.
    let db = db3().mid_rollout_below(1);
    let restore = Restore::of(&db, ENV_RULE);
    let pod = &db.pods()[0];
    assert_eq!(
        pod["metadata"]["labels"][REVISION_HASH_LABEL],
        OLDER_REVISION
    );
    let item = velero_prepares_pod(pod, &restore.fsb.volumes_of(pod));
    let out = pod_step(&restore.inputs(), item_of(&item, pod)).unwrap();
    assert_eq!(out.item, None);
    assert!(!out.skip_restore);
    assert_eq!(out.notes.len(), 1);
    assert_eq!(out.notes[0].level, Level::Warn);
    let message = &out.notes[0].message;
    assert!(message.contains("older revision") && message.contains(OLDER_REVISION));
    assert!(message.contains("replaces it"), "{message}");
    // The fixture's FSB volume is not a claim: its restored data goes with the pod.
    assert!(
        message.contains("\"data\"") && message.contains("not claims"),
        "{message}"
    );

    // The same pod below a partition the rules set: the controller keeps it (debug only).
    let partitioned = format!(
        "{ENV_RULE}  - {{operation: replace, path: /spec/updateStrategy/rollingUpdate/partition, value: \"1\"}}\n"
    );
    let restore = Restore::of(&db, &partitioned);
    let out = pod_step(&restore.inputs(), item_of(&item, pod)).unwrap();
    assert_eq!(out.item, None);
    assert_eq!(out.notes[0].level, Level::Debug);
    assert!(out.notes[0].message.contains("below the partition"));
}

#[test]
fn ordinals_at_or_above_the_final_replica_count_are_not_restored() {
    let db = db3();
    let restore = Restore::of(&db, &replicas_rule(1));
    let decisions: Vec<(bool, Vec<Level>)> = db
        .pods()
        .iter()
        .map(|pod| {
            let item = velero_prepares_pod(pod, &restore.fsb.volumes_of(pod));
            let out = pod_step(&restore.inputs(), item_of(&item, pod)).unwrap();
            (
                out.skip_restore,
                out.notes.iter().map(|n| n.level).collect(),
            )
        })
        .collect();
    // Ordinal 0 stays (no template change: untouched); 1 and 2 are skipped with one warn each.
    assert_eq!(
        decisions,
        [
            (false, vec![Level::Debug]),
            (true, vec![Level::Warn]),
            (true, vec![Level::Warn])
        ]
    );
    let pod = &db.pods()[2];
    let out = pod_step(&restore.inputs(), item_of(&as_velero_hands_it(pod), pod)).unwrap();
    let message = &out.notes[0].message;
    assert!(message.contains("pod shop/db-2 not restored"), "{message}");
    assert!(message.contains("\"data\""), "{message}");
}

#[test]
fn replicas_lowered_to_zero_skip_every_pod_and_pods_without_fsb_data_get_an_info_line() {
    let db = a_statefulset("shop", "db").with_replicas(2);
    let mut restore = Restore::of(&db, &replicas_rule(0));
    restore.settings.scope = Scope::AllWorkloads;
    for pod in db.pods() {
        let out = pod_step(&restore.inputs(), item_of(&as_velero_hands_it(&pod), &pod)).unwrap();
        assert!(out.skip_restore, "{}", name_of(&pod));
        assert_eq!(out.notes[0].level, Level::Info);
    }
}

#[test]
fn fsb_only_scope_leaves_statefulsets_without_fsb_data_alone() {
    let db = a_statefulset("shop", "db").with_replicas(2);
    let restore = Restore::of(&db, &replicas_rule(0));
    let pod = &db.pods()[1];
    let out = pod_step(&restore.inputs(), item_of(&as_velero_hands_it(pod), pod)).unwrap();
    assert!(!out.skip_restore);
    assert!(out.notes[0].message.contains("nothing to protect"));
    // Out-of-scope namespace: same.
    let mut restore = Restore::of(&db3(), ENV_RULE);
    restore.settings = Settings::from_config_data(Some(&json!({"excludeNamespaces": "shop"}))).0;
    let pod = &db3().pods()[0];
    let out = pod_step(&restore.inputs(), item_of(&as_velero_hands_it(pod), pod)).unwrap();
    assert_eq!(out.item, None);
    assert!(out.notes[0].message.contains("out of scope"));
}

#[test]
fn only_the_update_revision_is_rewritten() {
    let db = db3();
    let restore = Restore::of(&db, ENV_RULE);
    let revisions = db.revisions();
    let older = revision_of(&restore, &revisions[0]).unwrap_err();
    assert_eq!(older.item, None);
    let target = revision_of(&restore, &revisions[1]).unwrap();
    assert_eq!(target.revision, UPDATE_REVISION);
    assert_eq!(target.target_namespace, "shop-dr");
    assert_eq!(target.max_revision, 2);
    assert_eq!(
        target.query.body["metadata"],
        json!({"name": "db", "namespace": "shop-dr"})
    );
    assert_eq!(
        target.query.body["spec"]["template"]["spec"]["containers"][0]["env"],
        restored_env()
    );
}

#[test]
fn the_update_revision_gets_the_server_template_the_highest_number_and_no_stale_hash() {
    let (from_backup, target) = db3_update_revision();
    let mut item = as_velero_hands_it(&from_backup);
    item["metadata"]["annotations"] = json!({"keep": "me"});
    // What a dry-run create would return: defaulted, without creationTimestamp (≥ 1.34).
    let mut server = target.query.offline.clone();
    server["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("creationTimestamp");
    server["spec"]["dnsPolicy"] = json!("ClusterFirst");
    let out = revision_step(
        &item,
        &target,
        &FinalTemplate {
            template: server.clone(),
            source: TemplateSource::DryRun,
        },
    );
    let rewritten = out.item.expect("revision rewritten");
    // data = {"spec":{"template": T'_server + $patch}} — compared as the bytes Go stores.
    let expected = json!({"spec": {"template": {
        "$patch": "replace",
        "metadata": {"labels": {"app": "db"}},
        "spec": server["spec"].clone()}}});
    assert_eq!(go_canonical(&rewritten["data"]), go_canonical(&expected));
    assert_eq!(rewritten["revision"], 3);
    assert_eq!(rewritten["metadata"]["name"], UPDATE_REVISION);
    assert_eq!(rewritten["metadata"]["labels"], json!({"app": "db"}));
    assert_eq!(rewritten["metadata"]["annotations"], json!({"keep": "me"}));
    assert!(out.notes.iter().any(|n| {
        n.level == Level::Info
            && n.message
                .contains("stale controller.kubernetes.io/hash label dropped")
    }));
    // Again over its own output: nothing more to do.
    let again = revision_step(
        &rewritten,
        &target,
        &FinalTemplate {
            template: server,
            source: TemplateSource::DryRun,
        },
    );
    assert_eq!(again.item, None);
}

#[test]
fn the_fallback_template_warns() {
    let (from_backup, target) = db3_update_revision();
    let out = revision_step(
        &as_velero_hands_it(&from_backup),
        &target,
        &FinalTemplate {
            template: target.query.offline.clone(),
            source: TemplateSource::WithoutDefaults {
                why: "HTTP 403".into(),
                creation_timestamp_null: true,
            },
        },
    );
    assert!(out.item.is_some());
    assert_eq!(out.notes[0].level, Level::Warn);
    assert!(
        out.notes[0]
            .message
            .contains("dry-run create of the StatefulSet refused")
    );
}

#[test]
fn revisions_of_unchanged_or_foreign_workloads_pass_through() {
    let db = db3();
    let restore = Restore::of(&db, &replicas_rule(3));
    let out = revision_of(&restore, &db.revisions()[1]).unwrap_err();
    assert_eq!(out.item, None);
    let mut orphan = db.revisions()[1].clone();
    orphan["metadata"]["ownerReferences"][0]["kind"] = json!("DaemonSet");
    let restore = Restore::of(&db, ENV_RULE);
    let out = revision_of(&restore, &orphan).unwrap_err();
    assert_eq!(out.notes[0].message, "not owned by a StatefulSet");
}

fn verify(db: &Db, rules: &str, item: &Value) -> VerifyTarget {
    let restore = Restore::of(db, rules);
    verify_target(
        &restore.inputs(),
        Item {
            received: item,
            from_backup: &db.statefulset(),
            restore: &restore_object(),
        },
    )
    .unwrap()
    .unwrap()
}

fn live_revision(data: Value, hash: Option<&str>) -> Value {
    let mut labels = json!({"app": "db", "velero.io/restore-name": "r1"});
    if let Some(h) = hash {
        labels[HASH_LABEL] = json!(h);
    }
    json!({"apiVersion": "apps/v1", "kind": "ControllerRevision",
        "metadata": {"name": UPDATE_REVISION, "namespace": "shop-dr", "uid": "live",
            "resourceVersion": "900", "labels": labels, "annotations": {"a": "b"}},
        "data": data, "revision": 3})
}

#[test]
fn verify_keeps_an_aligned_revision_and_recreates_a_stale_one() {
    let db = db3();
    let sts = as_velero_hands_it(&db.statefulset());
    let target = verify(&db, ENV_RULE, &sts);
    assert_eq!(target.revision, UPDATE_REVISION);
    assert_eq!(target.pods_at_revision, ["db-0", "db-1", "db-2"]);
    let final_template = FinalTemplate {
        template: target.query.offline.clone(),
        source: TemplateSource::DryRun,
    };
    let data = revision_data(&target.query.offline);
    let aligned = live_revision(data.clone(), None);
    assert_eq!(
        verify_decision(&target, &final_template, Some(&aligned)),
        VerifyDecision::AlreadyAligned
    );
    // Same data but a numeric hash label of other data: it would veto the controller's match.
    let vetoed = live_revision(data.clone(), Some("55555"));
    let VerifyDecision::Recreate { body } =
        verify_decision(&target, &final_template, Some(&vetoed))
    else {
        panic!("expected a re-create")
    };
    assert_eq!(
        body["metadata"]["labels"],
        json!({"app": "db", "velero.io/restore-name": "r1"})
    );
    assert_eq!(body["metadata"]["name"], UPDATE_REVISION);
    assert_eq!(body["metadata"]["namespace"], "shop-dr");
    assert_eq!(body["metadata"]["annotations"], json!({"a": "b"}));
    assert_eq!(body["revision"], 3);
    assert!(body["metadata"].get("uid").is_none());
    // The backed-up data (T): re-created with T'.
    let stale = live_revision(revision_data(&db.template()), None);
    let VerifyDecision::Recreate { body } = verify_decision(&target, &final_template, Some(&stale))
    else {
        panic!("expected a re-create")
    };
    assert_eq!(go_canonical(&body["data"]), go_canonical(&data));
}

#[test]
fn verify_covers_what_an_earlier_plugin_changed() {
    // ChangeImageNameAction rewrote the image in the StatefulSet item: T' follows the item.
    let db = db3();
    let mut item = as_velero_hands_it(&db.statefulset());
    item["spec"]["template"]["spec"]["containers"][0]["image"] = json!("mirror.example/db:1.0");
    let target = verify(&db, ENV_RULE, &item);
    assert_eq!(
        target.query.offline["spec"]["containers"][0]["image"],
        "mirror.example/db:1.0"
    );
    assert_eq!(
        target.query.body["spec"]["template"]["spec"]["containers"][0]["image"],
        "mirror.example/db:1.0"
    );
}

#[test]
fn without_revisions_in_the_restore_pods_are_relabelled_to_the_predicted_name() {
    // A StatefulSet named `test` whose final template is the upstream 1.33 fixture's: the
    // controller names its revision `test-c77f6d978` (facts §2.2).
    let target = VerifyTarget {
        statefulset: "test".into(),
        pods_at_revision: vec!["test-0".into()],
        ..verify(&db3(), ENV_RULE, &as_velero_hands_it(&db3().statefulset()))
    };
    let exact = FinalTemplate {
        template: upstream_template_133(),
        source: TemplateSource::DryRun,
    };
    assert_eq!(
        verify_decision(&target, &exact, None),
        VerifyDecision::Relabel {
            predicted: "test-c77f6d978".into(),
            pods: vec!["test-0".into()]
        }
    );
    let inexact = FinalTemplate {
        source: TemplateSource::WithoutDefaults {
            why: "refused".into(),
            creation_timestamp_null: true,
        },
        ..exact
    };
    let decision = verify_decision(&target, &inexact, None);
    assert_eq!(decision, VerifyDecision::CannotRelabel);
    let notes = verify_notes(&target, &inexact, &decision);
    assert!(notes.iter().any(|n| {
        n.level == Level::Warn
            && n.message
                .starts_with("ControllerRevisions were not in the restore")
    }));
}

#[test]
fn the_plan_reports_change_pods_skips_and_the_revision() {
    let db = db3().mid_rollout_below(1);
    let rules = format!(
        "{}\n  - {{operation: replace, path: /spec/replicas, value: \"2\"}}\n",
        ENV_RULE.trim_end()
    );
    let restore = Restore::of(&db, &rules);
    let plan: StatefulSetPlan = offline(
        &restore.backup,
        &restore.fsb,
        &restore.rules,
        &restore.settings,
    );
    assert_eq!((plan.replicas, plan.final_replicas), (3, Some(2)));
    assert!(plan.rolls_without_guard);
    assert_eq!(plan.skipped, None);
    assert_eq!(
        plan.change.as_ref().unwrap().paths,
        ["spec.containers[name=db].env[name=MODE].value"]
    );
    assert_eq!(plan.fsb_pods.len(), 3);
    assert_eq!(
        plan.pods
            .iter()
            .map(|(n, _)| n.as_str())
            .collect::<Vec<_>>(),
        ["db-1"]
    );
    assert_eq!(plan.older_revision_pods, ["db-0"]);
    assert_eq!(
        plan.skipped_pods,
        [ScaledAwayPod {
            name: "db-2".into(),
            ordinal: 2,
            fsb_volumes: BTreeSet::from(["data".to_owned()])
        }]
    );
    let revision = plan.revision.unwrap();
    assert_eq!(revision.name, UPDATE_REVISION);
    assert!(revision.in_backup);
    let Some(RevisionDecision::Rewritten { revision: n, .. }) = revision.decision else {
        panic!("expected a rewrite")
    };
    assert_eq!(n, 3);
    assert!(revision.predicted_name_without_revisions.starts_with("db-"));
}
