//! StatefulSets: the same no-rollout guarantee as for Deployments, through ControllerRevisions
//! (facts: statefulsets-daemonsets §2, §4.2).
//!
//! The StatefulSet controller calls a pod up to date when its `controller-revision-hash` label
//! names the update revision, and it finds that revision by comparing `ControllerRevision.data`
//! bytes with what it computes from the live StatefulSet. So the guard keeps the pods' label and
//! makes the revision they name say `T'`:
//!
//! - **pods** ([`statefulset_pod_step`]): pods at the backed-up update revision `R` get
//!   `diff(T, T')` exactly like Deployment pods ([`super::correct_pod`]); pods the final
//!   `spec.replicas` removes (ordinal ≥ `R'`) are not restored (issue 8);
//! - **`R`** ([`revision_target`] + [`revision_step`]): `data` = `T'` in the form the target
//!   cluster's controller computes, highest `.revision`, stale hash label dropped, name kept;
//! - **the StatefulSet** ([`verify_target`] + [`verify_decision`]): returned unchanged; the live
//!   `R` is verified (re-created when an earlier plugin changed the template), or, when
//!   ControllerRevisions are not part of the restore, the pods are relabelled to the name the
//!   controller will give the revision of `T'`.
//!
//! The steps that need the API server's defaulting of `T'` are split in two: a pure `*_target`
//! that says what to ask, and a pure decision over the answer ([`FinalTemplate`]).

mod plan;
mod steps;

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use super::FsbPod;
use super::decide::{STATEFULSETS, TemplateChange, template_change_between};
use super::engine::Engine;
use super::error::{Error, Result};
use super::revision::{REVISION_HASH_LABEL, revision_data, same_revision_data};
use super::settings::{Scope, Settings};
use super::workload::{
    FsbIndex, as_velero_hands_it, name_of, namespace_of, pod_template, statefulset_owner,
    statefulset_pod_lineage,
};

pub use plan::{RevisionPlan, ScaledAwayPod, StatefulSetInputs, StatefulSetPlan, plan_statefulset};
pub use steps::{
    FinalTemplate, RevisionDecision, RevisionTarget, StatefulSetDryRun, TemplateSource,
    VerifyDecision, VerifyTarget, revision_step, revision_target, statefulset_pod_step,
    verify_decision, verify_notes, verify_target,
};

/// How the backed-up update revision `R` was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevisionSource {
    /// `status.updateRevision` of the backed-up StatefulSet.
    Status,
    /// The backed-up ControllerRevision whose data is the StatefulSet's template.
    TemplateData,
    /// The revision most backed-up pods carry.
    Pods,
}

/// The revision the backed-up StatefulSet's up-to-date pods point to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateRevision {
    pub name: String,
    pub source: RevisionSource,
}

/// What one restore does to one backed-up StatefulSet: computed once, the same for all its
/// pods and revisions.
#[derive(Debug, Clone, PartialEq)]
pub struct StatefulSetChange {
    /// Backup namespace.
    pub namespace: String,
    pub name: String,
    /// `T → T'` (rules applied to the StatefulSet as Velero hands it); `None`: no template change.
    pub change: Option<TemplateChange>,
    /// `T'` even when equal to `T`.
    pub final_template: Value,
    /// `S'.spec`: the StatefulSet's spec after the rules (what a dry-run create defaults).
    pub final_spec: Value,
    /// `R`; `None` when neither status, revisions nor pods name it.
    pub update_revision: Option<UpdateRevision>,
    /// Highest `.revision` among the backed-up ControllerRevisions of the StatefulSet (0: none).
    pub max_revision: i64,
    /// Backed-up `spec.replicas` (absent → 1).
    pub replicas: u64,
    /// `R'`: `spec.replicas` after the rules (absent → 1); `None` when not a non-negative integer
    /// (the API server would refuse the StatefulSet; nothing is skipped).
    pub final_replicas: Option<u64>,
}

impl StatefulSetChange {
    /// Whether a pod with `ordinal` is removed by the final replica count.
    pub fn scaled_away(&self, ordinal: u64) -> bool {
        self.final_replicas.is_some_and(|r| ordinal >= r)
    }
}

/// `spec.replicas` as the API server defaults it (absent → 1); `None` when not an integer ≥ 0.
fn replicas_of(spec: Option<&Value>) -> Option<u64> {
    match spec.and_then(|s| s.get("replicas")) {
        None | Some(Value::Null) => Some(1),
        Some(v) => v.as_u64(),
    }
}

/// The backed-up ControllerRevisions of `statefulset` (same namespace, controller owner).
pub fn revisions_of<'a>(statefulset: &Value, revisions: &'a [Value]) -> Vec<&'a Value> {
    let (namespace, name) = (namespace_of(statefulset), name_of(statefulset));
    revisions
        .iter()
        .filter(|r| namespace_of(r) == namespace && statefulset_owner(r) == Some(name))
        .collect()
}

/// `.revision` of a ControllerRevision (0 when absent).
pub fn revision_number(revision: &Value) -> i64 {
    revision
        .get("revision")
        .and_then(Value::as_i64)
        .unwrap_or(0)
}

/// Drops a `null` `metadata.creationTimestamp` inside a revision's template (≤ 1.33 writes it,
/// ≥ 1.34 does not), so data from either version compares by content.
fn without_null_timestamp(data: &Value) -> Value {
    let mut data = data.clone();
    if let Some(meta) = data
        .pointer_mut("/spec/template/metadata")
        .and_then(Value::as_object_mut)
        && meta.get("creationTimestamp") == Some(&Value::Null)
    {
        meta.remove("creationTimestamp");
    }
    data
}

/// `R`: the revision named by `status.updateRevision`; else the revision whose data is the
/// StatefulSet's own template; else the revision most of its pods carry (ties: by name).
pub fn update_revision(
    statefulset: &Value,
    revisions: &[&Value],
    pods: &[Value],
) -> Option<UpdateRevision> {
    if let Some(name) = statefulset
        .pointer("/status/updateRevision")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
    {
        return Some(UpdateRevision {
            name: name.to_owned(),
            source: RevisionSource::Status,
        });
    }
    if let Some(template) = statefulset.pointer("/spec/template") {
        let wanted = without_null_timestamp(&revision_data(template));
        if let Some(r) = revisions
            .iter()
            .filter(|r| {
                r.get("data")
                    .is_some_and(|d| same_revision_data(&without_null_timestamp(d), &wanted))
            })
            .max_by_key(|r| revision_number(r))
        {
            return Some(UpdateRevision {
                name: name_of(r).to_owned(),
                source: RevisionSource::TemplateData,
            });
        }
    }
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for pod in pods_of(statefulset, pods) {
        if let Some(label) = pod
            .pointer("/metadata/labels")
            .and_then(|l| l.get(REVISION_HASH_LABEL))
            .and_then(Value::as_str)
        {
            *counts.entry(label).or_default() += 1;
        }
    }
    counts
        .into_iter()
        .max_by(|a, b| a.1.cmp(&b.1).then_with(|| b.0.cmp(a.0)))
        .map(|(name, _)| UpdateRevision {
            name: name.to_owned(),
            source: RevisionSource::Pods,
        })
}

/// Backed-up pods of `statefulset` (controller owner, `<name>-<n>`), in ordinal order.
pub fn pods_of<'a>(statefulset: &Value, pods: &'a [Value]) -> Vec<&'a Value> {
    let (namespace, name) = (namespace_of(statefulset), name_of(statefulset));
    let mut out: Vec<(u64, &Value)> = pods
        .iter()
        .filter(|p| namespace_of(p) == namespace)
        .filter_map(|p| {
            let lineage = statefulset_pod_lineage(p)?;
            (lineage.statefulset == name).then_some((lineage.ordinal, p))
        })
        .collect();
    out.sort_by_key(|(ordinal, _)| *ordinal);
    out.into_iter().map(|(_, p)| p).collect()
}

/// Pods of `statefulset` with FSB data, in ordinal order.
pub fn fsb_pods_of_statefulset(statefulset: &Value, pods: &[Value], fsb: &FsbIndex) -> Vec<FsbPod> {
    pods_of(statefulset, pods)
        .into_iter()
        .filter_map(|p| {
            let volumes = fsb.volumes_of(p);
            (!volumes.is_empty()).then(|| FsbPod {
                name: name_of(p).to_owned(),
                volumes,
            })
        })
        .collect()
}

/// Computes [`StatefulSetChange`] for a backed-up StatefulSet.
pub fn statefulset_change<E: Engine>(
    engine: &E,
    rules: &E::Rules,
    statefulset: &Value,
    revisions: &[Value],
    pods: &[Value],
) -> Result<StatefulSetChange> {
    let (namespace, name) = (namespace_of(statefulset), name_of(statefulset));
    let template = pod_template("StatefulSet", statefulset)?;
    let outcome = engine.apply_rules(rules, &as_velero_hands_it(statefulset), STATEFULSETS)?;
    let final_spec = outcome.object.get("spec").cloned().unwrap_or(json!({}));
    let final_template = final_spec.get("template").cloned().ok_or_else(|| {
        Error::Invalid(format!(
            "StatefulSet {namespace}/{name} has no spec.template after the rules"
        ))
    })?;
    let change = template_change_between(
        engine,
        template,
        final_template.clone(),
        outcome.rule_errors,
    )?;
    let owned = revisions_of(statefulset, revisions);
    Ok(StatefulSetChange {
        namespace: namespace.to_owned(),
        name: name.to_owned(),
        change,
        final_template,
        update_revision: update_revision(statefulset, &owned, pods),
        max_revision: owned.iter().map(|r| revision_number(r)).max().unwrap_or(0),
        replicas: replicas_of(statefulset.get("spec")).unwrap_or(1),
        final_replicas: replicas_of(Some(&final_spec)),
        final_spec,
    })
}

/// `(backup namespace, name)` of StatefulSets.
type StatefulSetKeys = BTreeSet<(String, String)>;

/// [`StatefulSetChange`]s by backup namespace and name, filled on first use; valid for one
/// restore.
#[derive(Debug, Default)]
pub struct StatefulSetChanges {
    by_key: Mutex<HashMap<(String, String), Arc<StatefulSetChange>>>,
    /// StatefulSets with FSB pods, computed on first use.
    with_fsb: Mutex<Option<Arc<StatefulSetKeys>>>,
}

impl StatefulSetChanges {
    fn change_of<E: Engine>(
        &self,
        engine: &E,
        rules: &E::Rules,
        statefulset: &Value,
        revisions: &[Value],
        pods: &[Value],
    ) -> Result<Arc<StatefulSetChange>> {
        let key = (
            namespace_of(statefulset).to_owned(),
            name_of(statefulset).to_owned(),
        );
        if let Some(hit) = self.lock().get(&key) {
            return Ok(hit.clone());
        }
        let computed = Arc::new(statefulset_change(
            engine,
            rules,
            statefulset,
            revisions,
            pods,
        )?);
        self.lock().insert(key, computed.clone());
        Ok(computed)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), Arc<StatefulSetChange>>> {
        self.by_key.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn with_fsb(&self, pods: &[Value], fsb: &FsbIndex) -> Arc<StatefulSetKeys> {
        let mut cached = self.with_fsb.lock().unwrap_or_else(|e| e.into_inner());
        cached
            .get_or_insert_with(|| {
                Arc::new(
                    pods.iter()
                        .filter_map(|p| {
                            let lineage = statefulset_pod_lineage(p)?;
                            (!fsb.volumes_of(p).is_empty())
                                .then_some((lineage.namespace, lineage.statefulset))
                        })
                        .collect(),
                )
            })
            .clone()
    }
}

/// Why the guard leaves `statefulset` alone: namespace out of scope, or (scope `fsb-only`) no pod
/// with FSB data. `with_fsb` is the precomputed set of StatefulSets with FSB pods, if any.
pub(crate) fn out_of_scope(
    settings: &Settings,
    statefulset: &Value,
    pods: &[Value],
    fsb: &FsbIndex,
    with_fsb: Option<&StatefulSetKeys>,
) -> Option<String> {
    let (namespace, name) = (namespace_of(statefulset), name_of(statefulset));
    if !settings.namespace_in_scope(namespace) {
        return Some("namespace out of scope".to_owned());
    }
    if settings.scope == Scope::FsbOnly {
        let has_fsb = match with_fsb {
            Some(set) => set.contains(&(namespace.to_owned(), name.to_owned())),
            None => !fsb_pods_of_statefulset(statefulset, pods, fsb).is_empty(),
        };
        if !has_fsb {
            return Some("no pod with file-system-backup data; nothing to protect".to_owned());
        }
    }
    None
}

fn workload_label(namespace: &str, name: &str) -> String {
    format!("StatefulSet {namespace}/{name}")
}

/// The restore's namespace mapping for `namespace` (`restore.spec.namespaceMapping`).
fn target_namespace<'a>(restore: &'a Value, namespace: &'a str) -> &'a str {
    restore
        .pointer("/spec/namespaceMapping")
        .and_then(|m| m.get(namespace))
        .and_then(Value::as_str)
        .unwrap_or(namespace)
}

/// The body of a dry-run create that makes the API server default `spec` as it will the
/// restored StatefulSet's.
fn dry_run_body(name: &str, namespace: &str, spec: &Value) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    })
}

#[cfg(test)]
pub(crate) mod testkit;
#[cfg(test)]
mod tests;
