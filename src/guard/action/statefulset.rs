//! The plugin shell for StatefulSets: asks the API server for the final template's defaulted form
//! (dry-run create), reads and repairs the live update revision, relabels pods when
//! ControllerRevisions are not part of the restore (a child of `action`, so it shares the guard's
//! per-restore state).
//!
//! Extra RBAC (beyond the table in [`super`]):
//!
//! | verb | resource | where | why |
//! |---|---|---|---|
//! | `create` (dry run) | `statefulsets.apps` | restore target namespaces | the API server's defaulting of the final template |
//! | `get` | `/version` (non-resource URL) | cluster | fallback form when the dry-run is refused |
//! | `get`, `delete`, `create` | `controllerrevisions.apps` | restore target namespaces | verify / re-create the update revision |
//! | `patch` | `pods` | restore target namespaces | relabel `controller-revision-hash` when revisions are not restored |

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;

use super::super::engine_impl::VeleroEngine;
use super::super::error::{Error, Result};
use super::super::revision::{
    REVISION_HASH_LABEL, encodes_null_creation_timestamp, go_canonical, template_for_version,
};
use super::super::statefulset::{
    FinalTemplate, StatefulSetChanges, StatefulSetDryRun, TemplateSource, VerifyDecision,
    revision_step, revision_target, statefulset_pod_step, verify_decision, verify_notes,
    verify_target,
};
use super::super::steps::{Level, Note, RestoreInputs};
use super::super::workload::str_at;
use super::{Answer, GuardCluster, TemplateGuard, log_notes};
use velero_plugin::ExecuteInput;

/// Pause before the one retry of a revision create that met the deleted object still in place.
const RECREATE_RETRY_AFTER: Duration = Duration::from_millis(300);

impl<C: GuardCluster> TemplateGuard<C> {
    /// A pod controlled by a StatefulSet.
    pub(super) fn decide_statefulset_pod(
        &self,
        inputs: &RestoreInputs<'_, VeleroEngine>,
        cache: &StatefulSetChanges,
        input: &ExecuteInput,
        dry_run: bool,
    ) -> Result<Answer> {
        let outcome =
            statefulset_pod_step(inputs, Some(cache), &input.item, &input.item_from_backup)?;
        Ok(Answer::from_outcome(outcome, dry_run))
    }

    /// A ControllerRevision controlled by a StatefulSet: `R` gets the final template.
    pub(super) async fn decide_statefulset_revision(
        &self,
        inputs: &RestoreInputs<'_, VeleroEngine>,
        cache: &StatefulSetChanges,
        input: &ExecuteInput,
        dry_run: bool,
    ) -> Result<Answer> {
        let target =
            match revision_target(inputs, Some(cache), &input.item_from_backup, &input.restore)? {
                Ok(target) => target,
                Err(outcome) => {
                    log_notes(&outcome.notes, dry_run);
                    return Ok(Answer::as_received());
                }
            };
        let Some(final_template) = self
            .final_template(
                &target.workload,
                &target.target_namespace,
                &target.dry_run_body,
                &target.offline_template,
                dry_run,
            )
            .await?
        else {
            return Ok(Answer::as_received());
        };
        let outcome = revision_step(&input.item, &target, &final_template);
        Ok(Answer::from_outcome(outcome, dry_run))
    }

    /// The StatefulSet item: returned as received; the live `R` verified (re-created if it
    /// differs), or the restored pods relabelled when `R` was not restored.
    pub(super) async fn decide_statefulset(
        &self,
        inputs: &RestoreInputs<'_, VeleroEngine>,
        input: &ExecuteInput,
        dry_run: bool,
    ) -> Result<Answer> {
        let target =
            match verify_target(inputs, &input.item, &input.item_from_backup, &input.restore)? {
                Ok(target) => target,
                Err(notes) => {
                    log_notes(&notes, dry_run);
                    return Ok(Answer::as_received());
                }
            };
        let Some(final_template) = self
            .final_template(
                &target.workload,
                &target.target_namespace,
                &target.dry_run_body,
                &target.offline_template,
                dry_run,
            )
            .await?
        else {
            return Ok(Answer::as_received());
        };
        let namespace = target.target_namespace.as_str();
        let revision = target.revision.as_str();
        // One re-read and a second decision when the revision changed between our read and our
        // delete (the delete carries uid + resourceVersion preconditions).
        for attempt in 0..2 {
            let live = self
                .cluster
                .get_controllerrevision(namespace, revision)
                .await?;
            let decision = verify_decision(&target, &final_template, live.as_ref());
            let live_state = match &decision {
                VerifyDecision::AlreadyAligned => {
                    format!("ControllerRevision {revision} already carries the final template")
                }
                VerifyDecision::Recreate { body } => {
                    if !dry_run {
                        let live = live.as_ref();
                        let uid = live.and_then(|l| str_at(l, "/metadata/uid"));
                        let version = live.and_then(|l| str_at(l, "/metadata/resourceVersion"));
                        match self
                            .cluster
                            .delete_controllerrevision(namespace, revision, uid, version)
                            .await
                        {
                            Ok(()) => {}
                            Err(Error::Conflict(why)) if attempt == 0 => {
                                tracing::debug!(
                                    workload = %target.workload,
                                    "ControllerRevision {namespace}/{revision} changed while replacing it; reading it again: {why}"
                                );
                                continue;
                            }
                            Err(e) => return Err(e),
                        }
                        self.recreate_revision(namespace, revision, go_canonical(body))
                            .await?;
                    }
                    format!(
                        "ControllerRevision {revision} re-created with the final template (the live one differed)"
                    )
                }
                VerifyDecision::Relabel { predicted, pods } => {
                    if !dry_run {
                        self.relabel_pods(&target.workload, namespace, pods, predicted, dry_run)
                            .await?;
                    }
                    format!(
                        "ControllerRevision {revision} not in the cluster; {} restored pods relabelled to {predicted}",
                        pods.len()
                    )
                }
                VerifyDecision::CannotRelabel => {
                    format!(
                        "ControllerRevision {revision} not in the cluster; pods left as they are"
                    )
                }
            };
            log_notes(
                &verify_notes(&target, &final_template, &decision, &live_state),
                dry_run,
            );
            break;
        }
        Ok(Answer::as_received())
    }

    /// `T'` in the controller's form: the dry-run's `spec.template`; when the dry-run is refused,
    /// the rules' `T'` with `creationTimestamp` per the server version. `None` (logged as a
    /// warning for `workload`): the StatefulSet already exists in the target namespace.
    async fn final_template(
        &self,
        workload: &str,
        namespace: &str,
        dry_run_body: &Value,
        offline: &Value,
        dry_run: bool,
    ) -> Result<Option<FinalTemplate>> {
        match self
            .cluster
            .dry_run_create_statefulset(namespace, dry_run_body)
            .await?
        {
            StatefulSetDryRun::Created(object) => {
                let template = object.pointer("/spec/template").cloned().ok_or_else(|| {
                    Error::Invalid(
                        "dry-run create of the StatefulSet returned no spec.template".to_owned(),
                    )
                })?;
                Ok(Some(FinalTemplate {
                    template,
                    source: TemplateSource::DryRun,
                }))
            }
            StatefulSetDryRun::AlreadyExists => {
                log_notes(&[already_exists(workload, namespace)], dry_run);
                Ok(None)
            }
            StatefulSetDryRun::Refused(why) => {
                let (major, minor) = self.cluster.server_version().await?;
                let null = encodes_null_creation_timestamp(&major, &minor).ok_or_else(|| {
                    Error::Invalid(format!("API server version {major}.{minor} not understood"))
                })?;
                Ok(Some(FinalTemplate {
                    template: template_for_version(offline, null),
                    source: TemplateSource::WithoutDefaults {
                        why,
                        creation_timestamp_null: null,
                    },
                }))
            }
        }
    }

    /// Creates the revision again after its delete; one retry when the deleted object is still
    /// in place.
    async fn recreate_revision(&self, namespace: &str, name: &str, body: Vec<u8>) -> Result<()> {
        let first = self
            .cluster
            .create_controllerrevision(namespace, name, body.clone())
            .await;
        let result = match first {
            Err(Error::Conflict(_)) => {
                tokio::time::sleep(RECREATE_RETRY_AFTER).await;
                self.cluster
                    .create_controllerrevision(namespace, name, body)
                    .await
            }
            other => other,
        };
        result.map_err(|e| {
            Error::Cluster(format!(
                "ControllerRevision {namespace}/{name} was deleted but could not be created again (the StatefulSet will create a new revision and roll its restored pods): {e}"
            ))
        })
    }

    /// Sets `controller-revision-hash` = `predicted` on each restored pod; failures end in an
    /// error (the summary would otherwise claim them).
    async fn relabel_pods(
        &self,
        workload: &str,
        namespace: &str,
        pods: &[String],
        predicted: &str,
        dry_run: bool,
    ) -> Result<()> {
        let labels = BTreeMap::from([(REVISION_HASH_LABEL.to_owned(), Some(predicted.to_owned()))]);
        let mut failures = Vec::new();
        for pod in pods {
            // No resourceVersion precondition: one label is set, and the pod's status moves on
            // constantly while its volumes restore.
            if let Err(e) = self
                .cluster
                .patch_pod_labels(namespace, pod, &labels, None)
                .await
            {
                failures.push(format!("pod {pod}: {e}"));
            }
        }
        if failures.is_empty() {
            return Ok(());
        }
        log_notes(
            &[Note {
                level: Level::Warn,
                workload: workload.to_owned(),
                message: format!(
                    "could not relabel {} of {} restored pods to revision {predicted}",
                    failures.len(),
                    pods.len()
                ),
            }],
            dry_run,
        );
        Err(Error::Cluster(format!(
            "relabel {REVISION_HASH_LABEL}={predicted} (the controller replaces these pods): {}",
            failures.join("; ")
        )))
    }
}

fn already_exists(workload: &str, namespace: &str) -> Note {
    Note {
        level: Level::Warn,
        workload: workload.to_owned(),
        message: format!(
            "a StatefulSet of that name already exists in namespace {namespace}; the restore will not create it, revisions and pods restored as they are"
        ),
    }
}

/// A whole StatefulSet restore through the shell, in Velero's order (pods → ControllerRevisions →
/// StatefulSet), over an in-memory API server that defaults templates like a 1.33 or 1.34 one.
#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::Mutex as StdMutex;

    use serde_json::json;

    use super::super::super::revision::{
        HASH_LABEL, predicted_revision_name, revision_data, same_revision_data,
    };
    use super::super::super::statefulset::testkit::{
        Db, OLDER_REVISION, UPDATE_REVISION, a_statefulset,
    };
    use super::super::super::steps::BackupObjects;
    use super::super::super::testkit::{a_restore, execute_input, velero_prepares_pod};
    use super::super::super::workload::{as_velero_hands_it, name_of};
    use super::*;
    use velero_plugin::{ExecuteOutput, RestoreItemAction};

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

    type Key = (String, String);

    struct FakeApi {
        db: Db,
        /// `GET /version` minor: ≤ 33 defaults templates with `creationTimestamp: null`.
        minor: u32,
        refuse_dry_run: bool,
        /// The StatefulSet already exists in the target namespace.
        already_exists: bool,
        revisions: StdMutex<HashMap<Key, Value>>,
        pods: StdMutex<HashMap<Key, Value>>,
        /// Bodies of revision creates, as sent.
        created: StdMutex<Vec<Vec<u8>>>,
        calls: StdMutex<Vec<String>>,
    }

    impl FakeApi {
        fn new(db: Db, minor: u32) -> Self {
            Self {
                db,
                minor,
                refuse_dry_run: false,
                already_exists: false,
                revisions: StdMutex::default(),
                pods: StdMutex::default(),
                created: StdMutex::default(),
                calls: StdMutex::default(),
            }
        }

        fn record(&self, call: String) {
            self.calls.lock().unwrap().push(call);
        }

        fn calls(&self) -> Vec<String> {
            self.calls.lock().unwrap().clone()
        }

        /// The API server's defaulting of a pod template (a few of its fields), in the form its
        /// JSON encoder writes it.
        fn defaulted(&self, template: &Value) -> Value {
            let mut t = template.clone();
            if self.minor <= 33 {
                t["metadata"]["creationTimestamp"] = Value::Null;
            } else if let Some(meta) = t["metadata"].as_object_mut() {
                meta.remove("creationTimestamp");
            }
            let spec = t["spec"].as_object_mut().unwrap();
            spec.entry("dnsPolicy").or_insert(json!("ClusterFirst"));
            spec.entry("restartPolicy").or_insert(json!("Always"));
            spec.entry("securityContext").or_insert(json!({}));
            for c in spec["containers"].as_array_mut().unwrap() {
                c.as_object_mut()
                    .unwrap()
                    .entry("resources")
                    .or_insert(json!({}));
            }
            t
        }

        /// What the StatefulSet controller proposes for the StatefulSet created from `item`
        /// (after the rules): `getPatch` of the defaulted StatefulSet.
        fn controller_proposal(&self, created: &Value) -> Value {
            revision_data(&self.defaulted(&created["spec"]["template"]))
        }
    }

    impl GuardCluster for FakeApi {
        async fn plugin_settings(&self, _: &str) -> Result<Option<Value>> {
            Ok(None)
        }
        async fn configmap(&self, _: &str, _: &str) -> Result<Value> {
            Ok(json!({"data": {"rules.yaml": RULES}}))
        }
        async fn pod_volume_backups(&self, _: &str, _: &str) -> Result<Vec<Value>> {
            Ok(self.db.pod_volume_backups())
        }
        async fn backup_objects(&self, _: &str, _: &str, _: Duration) -> Result<BackupObjects> {
            Ok(self.db.backup())
        }
        async fn get_replicaset(&self, _: &str, _: &str) -> Result<Option<Value>> {
            Ok(None)
        }
        async fn patch_replicaset(&self, _: &str, _: &str, _: &Value) -> Result<()> {
            Err(Error::Cluster("unexpected".into()))
        }
        async fn patch_pod_labels(
            &self,
            namespace: &str,
            name: &str,
            labels: &crate::cluster::pods::LabelChanges,
            _: Option<&str>,
        ) -> Result<()> {
            self.record(format!("patch pod {namespace}/{name}"));
            let mut pods = self.pods.lock().unwrap();
            let pod = pods
                .get_mut(&(namespace.to_owned(), name.to_owned()))
                .ok_or_else(|| Error::Cluster("HTTP 404".into()))?;
            for (k, v) in labels {
                pod["metadata"]["labels"][k] = json!(v);
            }
            Ok(())
        }
        async fn dry_run_create_statefulset(
            &self,
            namespace: &str,
            body: &Value,
        ) -> Result<StatefulSetDryRun> {
            self.record(format!("dry-run create statefulset {namespace}"));
            if self.already_exists {
                return Ok(StatefulSetDryRun::AlreadyExists);
            }
            if self.refuse_dry_run {
                return Ok(StatefulSetDryRun::Refused(
                    "HTTP 400: admission webhook does not support dry run".into(),
                ));
            }
            let mut created = body.clone();
            created["spec"]["template"] = self.defaulted(&body["spec"]["template"]);
            Ok(StatefulSetDryRun::Created(created))
        }
        async fn server_version(&self) -> Result<(String, String)> {
            self.record("get /version".into());
            Ok(("1".into(), format!("{}+", self.minor)))
        }
        async fn get_controllerrevision(&self, ns: &str, name: &str) -> Result<Option<Value>> {
            self.record(format!("get controllerrevision {ns}/{name}"));
            Ok(self
                .revisions
                .lock()
                .unwrap()
                .get(&(ns.to_owned(), name.to_owned()))
                .cloned())
        }
        async fn delete_controllerrevision(
            &self,
            ns: &str,
            name: &str,
            uid: Option<&str>,
            _: Option<&str>,
        ) -> Result<()> {
            self.record(format!("delete controllerrevision {ns}/{name}"));
            let mut revisions = self.revisions.lock().unwrap();
            let key = (ns.to_owned(), name.to_owned());
            if revisions
                .get(&key)
                .and_then(|r| r["metadata"]["uid"].as_str())
                != uid
            {
                return Err(Error::Conflict("uid precondition".into()));
            }
            revisions.remove(&key);
            Ok(())
        }
        async fn create_controllerrevision(
            &self,
            ns: &str,
            name: &str,
            body: Vec<u8>,
        ) -> Result<()> {
            self.record(format!("create controllerrevision {ns}/{name}"));
            let mut object: Value = serde_json::from_slice(&body).unwrap();
            object["metadata"]["uid"] = json!("recreated");
            self.created.lock().unwrap().push(body);
            self.revisions
                .lock()
                .unwrap()
                .insert((ns.to_owned(), name.to_owned()), object);
            Ok(())
        }
    }

    fn db() -> Db {
        a_statefulset("shop", "db")
            .with_replicas(3)
            .with_fsb_volume("data")
    }

    /// What Velero creates from a plugin's answer: the item after the rules, in the mapped
    /// namespace; `None` when skipped.
    fn velero_creates(out: &ExecuteOutput, group_resource: &str) -> Option<Value> {
        if out.skip_restore {
            return None;
        }
        let rules = crate::guard::VeleroEngine::rules_from_yaml(RULES).unwrap();
        let mut created = rules.apply(&out.item, group_resource).object;
        created["metadata"]["namespace"] = json!("shop-dr");
        Some(created)
    }

    struct Outcome {
        pods: Vec<(Value, ExecuteOutput)>,
        statefulset: ExecuteOutput,
        created_statefulset: Value,
    }

    /// Runs the restore; `with_revisions: false` leaves ControllerRevisions out;
    /// `earlier_plugin` changes the StatefulSet item before the guard sees it.
    async fn run(
        guard: &TemplateGuard<FakeApi>,
        restore: &Value,
        with_revisions: bool,
        earlier_plugin: impl Fn(&mut Value),
    ) -> Outcome {
        let db = guard.cluster.db.clone();
        let fsb = db.fsb_index();
        let mut pods = Vec::new();
        for pod in db.pods() {
            let item = velero_prepares_pod(&pod, &fsb.volumes_of(&pod));
            let out = guard
                .execute(execute_input(item.clone(), &pod, restore))
                .await
                .unwrap();
            if let Some(created) = velero_creates(&out, "pods") {
                guard
                    .cluster
                    .pods
                    .lock()
                    .unwrap()
                    .insert(("shop-dr".into(), name_of(&pod).to_owned()), created);
            }
            pods.push((item, out));
        }
        if with_revisions {
            for (i, cr) in db.revisions().into_iter().enumerate() {
                let out = guard
                    .execute(execute_input(as_velero_hands_it(&cr), &cr, restore))
                    .await
                    .unwrap();
                let mut created = velero_creates(&out, "controllerrevisions.apps").unwrap();
                created["metadata"]["uid"] = json!(format!("live-{i}"));
                guard
                    .cluster
                    .revisions
                    .lock()
                    .unwrap()
                    .insert(("shop-dr".into(), name_of(&cr).to_owned()), created);
            }
        }
        let sts = db.statefulset();
        let mut item = as_velero_hands_it(&sts);
        earlier_plugin(&mut item);
        let statefulset = guard
            .execute(execute_input(item.clone(), &sts, restore))
            .await
            .unwrap();
        assert_eq!(
            statefulset.item, item,
            "the StatefulSet item is returned unchanged"
        );
        let created_statefulset = velero_creates(&statefulset, "statefulsets.apps").unwrap();
        Outcome {
            pods,
            statefulset,
            created_statefulset,
        }
    }

    fn live_revision(guard: &TemplateGuard<FakeApi>, name: &str) -> Option<Value> {
        guard
            .cluster
            .revisions
            .lock()
            .unwrap()
            .get(&("shop-dr".to_owned(), name.to_owned()))
            .cloned()
    }

    /// The controller's view: the live update revision holds exactly its proposal (bytes), has
    /// the highest `.revision`, carries no hash label that could veto, and every restored pod
    /// names it.
    fn assert_controller_keeps_the_pods(guard: &TemplateGuard<FakeApi>, outcome: &Outcome) {
        let proposal = guard
            .cluster
            .controller_proposal(&outcome.created_statefulset);
        let live = live_revision(guard, UPDATE_REVISION).expect("update revision live");
        assert!(
            same_revision_data(&live["data"], &proposal),
            "data = T'_server"
        );
        assert!(live["metadata"]["labels"].get(HASH_LABEL).is_none());
        let older = live_revision(guard, OLDER_REVISION).unwrap();
        assert!(live["revision"].as_i64() > older["revision"].as_i64());
        for pod in guard.cluster.pods.lock().unwrap().values() {
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
                crate::guard::broken_invariants(prepared, pod, &volumes).is_empty(),
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
            let guard = TemplateGuard::new(FakeApi::new(db(), minor), None);
            let outcome = run(&guard, &a_restore(json!({})), true, |_| {}).await;
            assert_pods_corrected_and_skipped(&outcome);
            let live = live_revision(&guard, UPDATE_REVISION).unwrap();
            assert_eq!(live["revision"], 3, "max(own, highest + 1)");
            assert_eq!(
                live["data"]["spec"]["template"]["metadata"].get("creationTimestamp"),
                (minor <= 33).then_some(&Value::Null),
                "creationTimestamp as the {minor} server writes it"
            );
            assert_controller_keeps_the_pods(&guard, &outcome);
            // The revision step did it all: the StatefulSet step found it aligned.
            let calls = guard.cluster.calls();
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
        let guard = TemplateGuard::new(FakeApi::new(db(), 34), None);
        // Another plugin changes the template after our revision step (a field the rules leave
        // alone): the live revision no longer matches what the StatefulSet will compute.
        let outcome = run(&guard, &a_restore(json!({})), true, |sts| {
            sts["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] =
                json!("IfNotPresent");
        })
        .await;
        let calls = guard.cluster.calls();
        let at = calls
            .iter()
            .position(|c| c == "delete controllerrevision shop-dr/db-6c9f7d8b5")
            .expect("stale revision deleted");
        assert_eq!(
            calls[at + 1],
            "create controllerrevision shop-dr/db-6c9f7d8b5"
        );
        // The created body's bytes are Go's (the API server keeps `data` bytes verbatim).
        let body = guard.cluster.created.lock().unwrap()[0].clone();
        let parsed: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body, go_canonical(&parsed));
        assert_eq!(parsed["metadata"]["name"], UPDATE_REVISION);
        assert_eq!(parsed["revision"], 3);
        assert_controller_keeps_the_pods(&guard, &outcome);
    }

    #[tokio::test]
    async fn without_revisions_in_the_restore_pods_are_relabelled_to_the_predicted_name() {
        let guard = TemplateGuard::new(FakeApi::new(db(), 34), None);
        let outcome = run(&guard, &a_restore(json!({})), false, |_| {}).await;
        let proposal = guard
            .cluster
            .controller_proposal(&outcome.created_statefulset);
        let predicted = predicted_revision_name("db", &proposal);
        let pods = guard.cluster.pods.lock().unwrap().clone();
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
        let mut api = FakeApi::new(db(), 34);
        api.refuse_dry_run = true;
        let guard = TemplateGuard::new(api, None);
        run(&guard, &a_restore(json!({})), false, |_| {}).await;
        let calls = guard.cluster.calls();
        assert!(calls.contains(&"get /version".to_owned()));
        assert!(!calls.iter().any(|c| c.starts_with("patch")));
        for pod in guard.cluster.pods.lock().unwrap().values() {
            assert_eq!(
                pod["metadata"]["labels"]["controller-revision-hash"],
                UPDATE_REVISION
            );
        }
    }

    #[tokio::test]
    async fn refused_dry_run_falls_back_to_the_version_form() {
        let mut api = FakeApi::new(db(), 33);
        api.refuse_dry_run = true;
        let guard = TemplateGuard::new(api, None);
        run(&guard, &a_restore(json!({})), true, |_| {}).await;
        let live = live_revision(&guard, UPDATE_REVISION).unwrap();
        // No defaults (no dnsPolicy), creationTimestamp null for 1.33.
        let template = &live["data"]["spec"]["template"];
        assert_eq!(template["metadata"]["creationTimestamp"], Value::Null);
        assert!(template["spec"].get("dnsPolicy").is_none());
        assert_eq!(live["revision"], 3);
    }

    #[tokio::test]
    async fn dry_run_mode_changes_and_skips_nothing() {
        let guard = TemplateGuard::new(FakeApi::new(db(), 34), None);
        let outcome = run(
            &guard,
            &a_restore(json!({"fsb-guard.io/mode": "dry-run"})),
            false,
            |_| {},
        )
        .await;
        for (prepared, out) in &outcome.pods {
            assert_eq!(&out.item, prepared);
            assert!(!out.skip_restore);
        }
        let calls = guard.cluster.calls();
        assert!(
            !calls.iter().any(|c| c.starts_with("patch")
                || c.starts_with("delete")
                || c.starts_with("create"))
        );
    }

    #[tokio::test]
    async fn an_existing_statefulset_leaves_revisions_as_restored() {
        let mut api = FakeApi::new(db(), 34);
        api.already_exists = true;
        let guard = TemplateGuard::new(api, None);
        run(&guard, &a_restore(json!({})), true, |_| {}).await;
        let live = live_revision(&guard, UPDATE_REVISION).unwrap();
        assert_eq!(live["revision"], 2);
        assert!(same_revision_data(
            &live["data"],
            &revision_data(&db().template())
        ));
        let calls = guard.cluster.calls();
        assert!(!calls.iter().any(|c| c.starts_with("delete")
            || c.starts_with("create controllerrevision")
            || c.starts_with("patch")));
    }
}
