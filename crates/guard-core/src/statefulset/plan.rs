//! A StatefulSet's plan: what the restore's rules do to it, its update revision `R`, and what the
//! guard does about it — computed once per StatefulSet per restore (its pods, its
//! ControllerRevisions and the StatefulSet item look it up) and, over the same backed-up objects,
//! the offline `check`'s answer.

use std::collections::{BTreeSet, HashMap};

use serde_json::{Value, json};

use super::history::{RevisionDecision, revision_number, revisions_of, rewrite_revision};
use crate::engine::{Rules, VeleroEngine};
use crate::error::{Error, Result};
use crate::plans::WorkloadPlan;
use crate::resources::Resource;
use crate::restore::BackedUp;
use crate::toolkit::object::{as_velero_hands_it, name_of, namespace_of, pod_template};
use crate::toolkit::owners::{
    Kind, REVISION_HASH_LABEL, StatefulPodLineage, statefulset_pod_lineage,
};
use crate::toolkit::replicas::Replicas;
use crate::toolkit::revision::{predicted_revision_name, revision_data, same_revision_data};
use crate::toolkit::scope::OutOfScope;
use crate::toolkit::template::{FsbPod, PodCorrection, TemplateChange, correct_pod, without_items};

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

/// A pod the final `spec.replicas` removes: not restored (`skipRestore`), because the
/// controller would delete it — mid-restore when it still waits in `restore-wait`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScaledAwayPod {
    pub name: String,
    pub ordinal: u64,
    /// FSB volumes whose data will not be restored (a PersistentVolumeClaim among them is still
    /// restored, but nothing fills it).
    pub fsb_volumes: BTreeSet<String>,
}

/// The ControllerRevision `R` as the guard would restore it.
#[derive(Debug, Clone, PartialEq)]
pub struct RevisionPlan {
    /// `R`'s name (kept: the pods' `controller-revision-hash` label names it).
    pub name: String,
    /// Whether `R` is in the backup. When it is not, only the relabel path can protect the pods.
    pub in_backup: bool,
    /// What the `controllerrevisions.apps` step does to `R` (when in the backup). **Offline:** its
    /// `data` is built from `T'` as the rules produce it, without the API server's defaulting
    /// (during a restore the guard asks the API server with a dry-run create) and with
    /// `metadata.creationTimestamp` as in the backup; it shows the shape, not the exact bytes.
    pub decision: Option<RevisionDecision>,
    /// The name the controller would give the revision of `T'` (offline form, see `decision`):
    /// what pods are relabelled to when ControllerRevisions are not part of the restore.
    pub predicted_name_without_revisions: String,
}

impl WorkloadPlan for StatefulSetPlan {
    const KIND: Kind = Kind::StatefulSet;

    fn plan(engine: &VeleroEngine, rules: &Rules, backed_up: BackedUp<'_>) -> Result<Self> {
        plan(engine, rules, backed_up)
    }
    /// Each pod's own item step corrects the pod Velero hands over (`restore-wait` included).
    fn kept_for_the_restore(self) -> Self {
        Self {
            pods: without_items(self.pods),
            ..self
        }
    }
}

/// What the guard would do for one StatefulSet during a restore.
#[derive(Debug, Clone, PartialEq)]
pub struct StatefulSetPlan {
    /// Backup (original) namespace.
    pub namespace: String,
    pub statefulset: String,
    /// How the rules change the template; `None` = no rollout from the template.
    pub change: Option<TemplateChange>,
    /// `T'` even when equal to `T`.
    pub final_template: Value,
    /// `S'.spec`: the StatefulSet's spec after the rules (what a dry-run create defaults).
    pub final_spec: Value,
    /// Pods with FSB data (all ordinals, including skipped ones).
    pub fsb_pods: Vec<FsbPod>,
    /// `R`, the revision up-to-date pods point to, and how it was found.
    pub update_revision: Option<UpdateRevision>,
    /// Highest `.revision` among the backed-up ControllerRevisions of the StatefulSet (0: none).
    pub max_revision: i64,
    /// Backed-up `spec.replicas` (absent → 1).
    pub replicas: u64,
    /// `R'`: `spec.replicas` after the rules; `None` when the rules leave no replica count there
    /// (the API server would refuse the StatefulSet; nothing is skipped).
    pub final_replicas: Option<u64>,
    /// Without the guard, a template change would roll the StatefulSet.
    pub rolls_without_guard: bool,
    /// Why the guard leaves this StatefulSet alone (`None` = it acts on it).
    pub skipped: Option<String>,
    /// Pods at `R` below `R'`, corrected (items as the plugin would return them; `restore-wait`
    /// is not simulated).
    pub pods: Vec<(String, PodCorrection)>,
    /// Pods at an older revision (mid-rollout backup), restored as they are.
    pub older_revision_pods: Vec<String>,
    /// Pods with ordinal ≥ `R'`, not restored; raising the replica count needs nothing (the
    /// controller creates the new pods).
    pub skipped_pods: Vec<ScaledAwayPod>,
    /// `R` as the guard would restore it; `None` when there is no template change or no `R`.
    pub revision: Option<RevisionPlan>,
}

/// What a pod of the StatefulSet gets.
pub(crate) enum PodFate<'a> {
    /// Ordinal ≥ `R'`: not restored.
    ScaledAway { final_replicas: u64 },
    /// At `R`: apply `T → T'`.
    Correct(&'a TemplateChange),
    /// At another revision: restored as is.
    OlderRevision,
    /// The rules leave the template alone.
    NoTemplateChange,
    /// Template change, but `R` is unknown.
    UnknownRevision,
}

impl StatefulSetPlan {
    /// Whether the controller replaces a pod of ordinal `ordinal` that is not at the update
    /// revision: under `RollingUpdate` (the default) at or above `partition`; never under
    /// `OnDelete` (facts: statefulsets-daemonsets.md §2.4). Read from `S'.spec`.
    pub(crate) fn rolls_older_pod(&self, ordinal: u64) -> bool {
        let strategy = self.final_spec.get("updateStrategy");
        let kind = strategy
            .and_then(|s| s.get("type"))
            .and_then(Value::as_str)
            .unwrap_or("RollingUpdate");
        let partition = strategy
            .and_then(|s| s.pointer("/rollingUpdate/partition"))
            .and_then(Value::as_u64)
            .unwrap_or(0);
        kind != "OnDelete" && ordinal >= partition
    }

    /// What the pod of `lineage` gets.
    pub(crate) fn fate_of(&self, lineage: &StatefulPodLineage) -> PodFate<'_> {
        if let Some(final_replicas) = self.final_replicas
            && lineage.ordinal >= final_replicas
        {
            return PodFate::ScaledAway { final_replicas };
        }
        let Some(change) = &self.change else {
            return PodFate::NoTemplateChange;
        };
        let Some(revision) = &self.update_revision else {
            return PodFate::UnknownRevision;
        };
        if lineage.revision.as_deref() == Some(revision.name.as_str()) {
            PodFate::Correct(change)
        } else {
            PodFate::OlderRevision
        }
    }
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

/// Runs the guard's StatefulSet decisions for one backed-up StatefulSet, as the plugin would
/// during a restore with `rules`. Errors are those a restore would hit (a rule the engine cannot
/// evaluate, a StatefulSet without template).
pub fn plan(engine: &VeleroEngine, rules: &Rules, inputs: BackedUp<'_>) -> Result<StatefulSetPlan> {
    let mut plan = after_rules(engine, rules, inputs)?;
    if let Some(why) =
        OutOfScope::check(inputs.settings, &plan.namespace, !plan.fsb_pods.is_empty())
    {
        plan.skipped = Some(why.as_str().to_owned());
        return Ok(plan);
    }
    for pod in pods_of(inputs.workload, inputs.pods) {
        let Some(lineage) = statefulset_pod_lineage(pod) else {
            continue;
        };
        let name = name_of(pod).to_owned();
        match plan.fate_of(&lineage) {
            PodFate::ScaledAway { .. } => plan.skipped_pods.push(ScaledAwayPod {
                name,
                ordinal: lineage.ordinal,
                fsb_volumes: inputs.fsb.volumes_of(pod),
            }),
            PodFate::Correct(change) => {
                let volumes = inputs.fsb.volumes_of(pod);
                let corrected =
                    correct_pod(engine, rules, &as_velero_hands_it(pod), change, &volumes)?;
                plan.pods.push((name, corrected));
            }
            PodFate::OlderRevision => plan.older_revision_pods.push(name),
            PodFate::NoTemplateChange | PodFate::UnknownRevision => {}
        }
    }
    if plan.change.is_some() && plan.update_revision.is_none() {
        plan.skipped = Some(
            "no update revision found (status.updateRevision, revision data, pod labels); pods and revisions are left as they are"
                .to_owned(),
        );
    }
    plan.revision = revision_plan(&plan, inputs.workload, inputs.history);
    Ok(plan)
}

/// The plan's part that only needs the rules: `T → T'`, `S'.spec`, `R`, `R → R'`.
fn after_rules(
    engine: &VeleroEngine,
    rules: &Rules,
    inputs: BackedUp<'_>,
) -> Result<StatefulSetPlan> {
    let statefulset = inputs.workload;
    let (namespace, name) = (namespace_of(statefulset), name_of(statefulset));
    let template = pod_template("StatefulSet", statefulset)?;
    let gr = Resource::STATEFUL_SETS.group_resource();
    let outcome = engine.apply_rules(rules, &as_velero_hands_it(statefulset), gr);
    let final_spec = outcome.object.get("spec").cloned().unwrap_or(json!({}));
    let final_template = final_spec
        .get("template")
        .cloned()
        .ok_or_else(|| Error::NoTemplate {
            object: format!("StatefulSet {namespace}/{name}"),
            after_rules: true,
        })?;
    let change = TemplateChange::between(
        engine,
        template,
        final_template.clone(),
        outcome.rule_errors,
    )?;
    let owned = revisions_of(statefulset, inputs.history);
    Ok(StatefulSetPlan {
        namespace: namespace.to_owned(),
        statefulset: name.to_owned(),
        rolls_without_guard: change.is_some(),
        change,
        final_template,
        fsb_pods: FsbPod::among(pods_of(statefulset, inputs.pods), inputs.fsb),
        update_revision: update_revision(statefulset, &owned, inputs.pods),
        max_revision: owned.iter().map(|r| revision_number(r)).max().unwrap_or(0),
        replicas: Replicas::of(statefulset).count().unwrap_or(1),
        final_replicas: Replicas::of(&outcome.object).count(),
        final_spec,
        skipped: None,
        pods: Vec::new(),
        older_revision_pods: Vec::new(),
        skipped_pods: Vec::new(),
        revision: None,
    })
}

fn revision_plan(
    plan: &StatefulSetPlan,
    statefulset: &Value,
    controllerrevisions: &[Value],
) -> Option<RevisionPlan> {
    plan.change.as_ref()?;
    let name = plan.update_revision.as_ref()?.name.clone();
    let owned = revisions_of(statefulset, controllerrevisions);
    let in_backup = owned.iter().find(|r| name_of(r) == name);
    Some(RevisionPlan {
        in_backup: in_backup.is_some(),
        decision: in_backup.map(|r| {
            rewrite_revision(
                &as_velero_hands_it(r),
                &plan.final_template,
                plan.max_revision,
            )
        }),
        predicted_name_without_revisions: predicted_revision_name(
            &plan.statefulset,
            &revision_data(&plan.final_template),
        ),
        name,
    })
}
