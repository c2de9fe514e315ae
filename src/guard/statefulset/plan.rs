//! [`plan_statefulset`]: what the guard would do for one StatefulSet during a restore, over
//! backed-up objects only — the entry point of the offline `check`.

use std::collections::BTreeSet;

use serde_json::Value;

use super::super::FsbPod;
use super::super::decide::{PodCorrection, TemplateChange, correct_pod};
use super::super::engine::Engine;
use super::super::error::Result;
use super::super::revision::{predicted_revision_name, revision_data};
use super::super::settings::Settings;
use super::super::workload::{
    FsbIndex, as_velero_hands_it, name_of, namespace_of, statefulset_pod_lineage,
};
use super::steps::{PodFate, RevisionDecision, pod_fate, rewrite_revision};
use super::{
    StatefulSetChange, UpdateRevision, fsb_pods_of_statefulset, out_of_scope, pods_of,
    revisions_of, statefulset_change,
};

/// Backed-up objects of one StatefulSet, for [`plan_statefulset`].
#[derive(Debug, Clone, Copy)]
pub struct StatefulSetInputs<'a> {
    /// The StatefulSet as backed up (with `status`, so `status.updateRevision` names `R`).
    pub statefulset: &'a Value,
    /// Backed-up ControllerRevisions; any may be passed, those not owned by the StatefulSet are
    /// ignored.
    pub controllerrevisions: &'a [Value],
    /// Backed-up pods; any may be passed, those not of the StatefulSet are ignored.
    pub pods: &'a [Value],
    /// Which pods hold FSB data.
    pub fsb: &'a FsbIndex,
    /// Scope and namespace filters (the mode is ignored: a plan is what `enforce` would do).
    pub settings: &'a Settings,
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

/// What the guard would do for one StatefulSet during a restore.
#[derive(Debug, Clone, PartialEq)]
pub struct StatefulSetPlan {
    /// Backup (original) namespace.
    pub namespace: String,
    pub statefulset: String,
    /// How the rules change the template; `None` = no rollout from the template.
    pub change: Option<TemplateChange>,
    /// Pods with FSB data (all ordinals, including skipped ones).
    pub fsb_pods: Vec<FsbPod>,
    /// `R`, the revision up-to-date pods point to, and how it was found.
    pub update_revision: Option<UpdateRevision>,
    /// Backed-up `spec.replicas` (absent → 1).
    pub replicas: u64,
    /// `R'`: `spec.replicas` after the rules; `None` when the rules leave no integer there.
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

/// Runs the guard's StatefulSet decisions for one backed-up StatefulSet, as the plugin would
/// during a restore with `rules`. Errors are those a restore would hit (a rule the engine cannot
/// evaluate, a StatefulSet without template).
pub fn plan_statefulset<E: Engine>(
    engine: &E,
    rules: &E::Rules,
    inputs: StatefulSetInputs<'_>,
) -> Result<StatefulSetPlan> {
    let statefulset = inputs.statefulset;
    let computed = statefulset_change(
        engine,
        rules,
        statefulset,
        inputs.controllerrevisions,
        inputs.pods,
    )?;
    let mut plan = StatefulSetPlan {
        namespace: namespace_of(statefulset).to_owned(),
        statefulset: name_of(statefulset).to_owned(),
        change: computed.change.clone(),
        fsb_pods: fsb_pods_of_statefulset(statefulset, inputs.pods, inputs.fsb),
        update_revision: computed.update_revision.clone(),
        replicas: computed.replicas,
        final_replicas: computed.final_replicas,
        rolls_without_guard: computed.change.is_some(),
        skipped: None,
        pods: Vec::new(),
        older_revision_pods: Vec::new(),
        skipped_pods: Vec::new(),
        revision: None,
    };
    if let Some(why) = out_of_scope(inputs.settings, statefulset, inputs.pods, inputs.fsb, None) {
        plan.skipped = Some(why);
        return Ok(plan);
    }
    for pod in pods_of(statefulset, inputs.pods) {
        let Some(lineage) = statefulset_pod_lineage(pod) else {
            continue;
        };
        match pod_fate(&computed, &lineage) {
            PodFate::ScaledAway { .. } => plan.skipped_pods.push(ScaledAwayPod {
                name: name_of(pod).to_owned(),
                ordinal: lineage.ordinal,
                fsb_volumes: inputs.fsb.volumes_of(pod),
            }),
            PodFate::Correct(change) => {
                let volumes = inputs.fsb.volumes_of(pod);
                let corrected = correct_pod(engine, &as_velero_hands_it(pod), change, &volumes)?;
                plan.pods.push((name_of(pod).to_owned(), corrected));
            }
            PodFate::OlderRevision => plan.older_revision_pods.push(name_of(pod).to_owned()),
            PodFate::NoTemplateChange | PodFate::UnknownRevision => {}
        }
    }
    if computed.change.is_some() && computed.update_revision.is_none() {
        plan.skipped = Some(
            "no update revision found (status.updateRevision, revision data, pod labels); pods and revisions are left as they are"
                .to_owned(),
        );
    }
    plan.revision = revision_plan(&computed, statefulset, inputs.controllerrevisions);
    Ok(plan)
}

fn revision_plan(
    computed: &StatefulSetChange,
    statefulset: &Value,
    controllerrevisions: &[Value],
) -> Option<RevisionPlan> {
    computed.change.as_ref()?;
    let name = computed.update_revision.as_ref()?.name.clone();
    let owned = revisions_of(statefulset, controllerrevisions);
    let in_backup = owned.iter().find(|r| name_of(r) == name);
    Some(RevisionPlan {
        in_backup: in_backup.is_some(),
        decision: in_backup.map(|r| {
            rewrite_revision(
                &as_velero_hands_it(r),
                &computed.final_template,
                computed.max_revision,
            )
        }),
        predicted_name_without_revisions: predicted_revision_name(
            &computed.name,
            &revision_data(&computed.final_template),
        ),
        name,
    })
}
