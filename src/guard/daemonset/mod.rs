//! DaemonSets: restored file-system-backup pods stay current when the restore's rules change the
//! DaemonSet's pod template (facts §3, §4.3).
//!
//! The DaemonSet controller counts a pod as up to date when its `controller-revision-hash` label
//! matches the current ControllerRevision **or** its `pod-template-generation` label equals the
//! DaemonSet's `deprecated.daemonset.template.generation` annotation. The API server keeps that
//! annotation when Velero creates the DaemonSet, so restored pods stay current by generation
//! whatever the template — unless a rule changes the annotation. A current pod that no longer
//! counts as such and is not yet available (its `restore-wait` init container still runs) is
//! deleted at once by a RollingUpdate DaemonSet.
//!
//! The guard, in Velero's restore order:
//!
//! - **pods** ([`daemonset_pod_step`]): a pod at the backed-up generation gets `T → T'` exactly as
//!   a Deployment's pod ([`correct_pod`](super::correct_pod): FSB volumes and `restore-wait`
//!   intact, unsafe parts withheld), except the node pin the controller owns, and the generation
//!   the restored DaemonSet will have as its `pod-template-generation` label. Pods of past
//!   generations are left alone.
//! - **ControllerRevisions** ([`revision_dry_run`], [`revision_step`]): the revision the current
//!   pods point to gets the final template (as a dry-run create of the modified DaemonSet returns
//!   it) as its `data`, so the controller keeps it as current and the pods match by hash too. A
//!   second line only: the generation alone keeps the pods current.
//! - **the DaemonSet** ([`daemonset_step`]): returned unchanged; the generation is recomputed from
//!   the item as it arrives, the live restored pods still lacking it are relabelled (a label patch,
//!   no restart), and a template change that alters which nodes qualify is reported — the
//!   controller deletes pods on nodes that no longer qualify and the guard cannot prevent that.
//!
//! For the offline `check`, [`plan_daemonset`] runs the decisions for one DaemonSet over backed-up
//! objects.

mod decide;
mod history;
mod steps;

#[cfg(test)]
mod fixtures;
#[cfg(test)]
mod scenarios;
#[cfg(test)]
mod tests;

use serde_json::Value;

pub use decide::{
    CONTROLLER_NODE_PIN, DaemonSetChange, DaemonSetPodCorrection, DaemonSetPodDecision, Relabel,
    RestoredGeneration, backed_up_generation, correct_daemonset_pod, daemonset_change,
    node_eligibility_paths, pod_generation, pods_to_relabel,
};
pub use history::{
    CONTROLLER_REVISION_HASH, RevisionDryRun, current_pod_hashes, revision_dry_run, revision_step,
};
pub use steps::{
    DaemonSetCache, DaemonSetLive, DaemonSetOutcome, DaemonSetTarget, as_enforce_restores,
    daemonset_pod_step, daemonset_step, daemonset_target,
};

use super::FsbPod;
use super::decide::TemplateChange;
use super::engine::Engine;
use super::error::Result;
use super::settings::{Scope, Settings};
use super::workload::{
    FsbIndex, as_velero_hands_it, daemonset_owner, name_of, namespace_of, pod_template,
};

/// Pod label the DaemonSet controller stamps with the DaemonSet's template generation.
pub const POD_TEMPLATE_GENERATION: &str = "pod-template-generation";
/// DaemonSet annotation holding the template generation (`spec.templateGeneration` inside the API
/// server).
pub const TEMPLATE_GENERATION_ANNOTATION: &str = "deprecated.daemonset.template.generation";

/// Backed-up objects of one DaemonSet, for [`plan_daemonset`].
#[derive(Debug, Clone, Copy)]
pub struct DaemonSetInputs<'a> {
    /// The DaemonSet as backed up.
    pub daemonset: &'a Value,
    /// Backed-up pods; any may be passed, those not owned by the DaemonSet are ignored.
    pub pods: &'a [Value],
    /// Which pods hold FSB data.
    pub fsb: &'a FsbIndex,
    /// Scope and namespace filters (the mode is ignored: a plan is what `enforce` would do).
    pub settings: &'a Settings,
}

/// What the guard would do for one DaemonSet during a restore.
#[derive(Debug, Clone, PartialEq)]
pub struct DaemonSetPlan {
    /// Backup (original) namespace.
    pub namespace: String,
    pub daemonset: String,
    /// How the rules change the template (`T → T'`, changed paths in `paths`); `None` = the
    /// template stays.
    pub change: Option<TemplateChange>,
    /// The backed-up `deprecated.daemonset.template.generation` (= the label of current pods).
    pub backed_up_generation: Option<String>,
    /// The generation the restored DaemonSet will have; current pods are labelled with it.
    pub restored_generation: RestoredGeneration,
    /// Pods with FSB data.
    pub fsb_pods: Vec<FsbPod>,
    /// Template paths of `change` that alter which nodes run a pod (node selector, node affinity,
    /// tolerations, node name): the controller deletes restored pods on nodes that no longer
    /// qualify, the guard only reports it.
    pub node_eligibility: Vec<String>,
    /// Without the guard the current pods would no longer count as up to date (their label ≠ the
    /// restored generation, e.g. a rule changed or removed the annotation) and a RollingUpdate
    /// DaemonSet deletes them; the guard relabels them.
    pub rolls_without_guard: bool,
    /// Without the guard the pods keep the backed-up template `T` (they count as current by
    /// generation, so nothing replaces them until the next template change).
    pub pods_keep_old_template_without_guard: bool,
    /// Why the guard leaves this DaemonSet alone (`None` = it corrects it when there is something
    /// to do).
    pub skipped: Option<String>,
    /// Current pods (at the backed-up generation), corrected (items as the plugin would return
    /// them; `restore-wait` is not simulated).
    pub pods: Vec<(String, DaemonSetPodCorrection)>,
    /// Pods of past generations, left as they are.
    pub past_generation_pods: Vec<String>,
}

/// Pods of `daemonset` (namespace + controller owner) among `pods`.
pub fn pods_of<'a>(daemonset: &Value, pods: &'a [Value]) -> impl Iterator<Item = &'a Value> {
    let namespace = namespace_of(daemonset).to_owned();
    let name = name_of(daemonset).to_owned();
    pods.iter()
        .filter(move |p| namespace_of(p) == namespace && daemonset_owner(p) == Some(&name))
}

/// Pods of `daemonset` with FSB data, by name.
pub fn daemonset_fsb_pods(daemonset: &Value, pods: &[Value], fsb: &FsbIndex) -> Vec<FsbPod> {
    let mut out: Vec<FsbPod> = pods_of(daemonset, pods)
        .filter_map(|p| {
            let volumes = fsb.volumes_of(p);
            (!volumes.is_empty()).then(|| FsbPod {
                name: name_of(p).to_owned(),
                volumes,
            })
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// Why the guard leaves a DaemonSet alone, before looking at its change: out of scope, or no FSB
/// pod under scope `fsb-only`.
pub(crate) fn daemonset_out_of_scope(
    settings: &Settings,
    daemonset: &Value,
    has_fsb_pods: bool,
) -> Option<String> {
    if !settings.namespace_in_scope(namespace_of(daemonset)) {
        return Some("namespace out of scope".to_owned());
    }
    if settings.scope == Scope::FsbOnly && !has_fsb_pods {
        return Some("no pod with file-system-backup data; nothing to protect".to_owned());
    }
    None
}

/// Runs the guard's decisions for one DaemonSet over backed-up objects, as the plugin would during
/// a restore with `rules` — the DaemonSet entry point of the offline `check`.
///
/// Errors are those a restore would hit (a rule the engine cannot evaluate, a DaemonSet without
/// template).
pub fn plan_daemonset<E: Engine>(
    engine: &E,
    rules: &E::Rules,
    inputs: DaemonSetInputs<'_>,
) -> Result<DaemonSetPlan> {
    let daemonset = inputs.daemonset;
    let namespace = namespace_of(daemonset).to_owned();
    let name = name_of(daemonset).to_owned();
    let template = pod_template("DaemonSet", daemonset)?;
    let computed = daemonset_change(
        engine,
        rules,
        &as_velero_hands_it(daemonset),
        template,
        backed_up_generation(daemonset),
    )?;
    let fsb_pods = daemonset_fsb_pods(daemonset, inputs.pods, inputs.fsb);
    let has_current_pods = pods_of(daemonset, inputs.pods)
        .any(|p| pod_generation(p) == computed.backed_up_generation.as_deref());
    let mut plan = DaemonSetPlan {
        skipped: daemonset_out_of_scope(inputs.settings, daemonset, !fsb_pods.is_empty()),
        namespace,
        daemonset: name,
        rolls_without_guard: has_current_pods && computed.relabels(),
        pods_keep_old_template_without_guard: has_current_pods && computed.change.is_some(),
        change: computed.change.clone(),
        backed_up_generation: computed.backed_up_generation.clone(),
        restored_generation: computed.restored_generation.clone(),
        node_eligibility: computed.node_eligibility.clone(),
        fsb_pods,
        pods: Vec::new(),
        past_generation_pods: Vec::new(),
    };
    if plan.skipped.is_some() || computed.is_noop() {
        return Ok(plan);
    }
    if computed.restored_generation == RestoredGeneration::Unparseable {
        plan.skipped = Some(format!(
            "the rules make annotation {TEMPLATE_GENERATION_ANNOTATION} unparseable; the API server rejects the DaemonSet"
        ));
        return Ok(plan);
    }
    for pod in pods_of(daemonset, inputs.pods) {
        let volumes = inputs.fsb.volumes_of(pod);
        match correct_daemonset_pod(
            engine,
            &as_velero_hands_it(pod),
            pod_generation(pod),
            &computed,
            &volumes,
        )? {
            DaemonSetPodDecision::Corrected(c) => plan.pods.push((name_of(pod).to_owned(), c)),
            DaemonSetPodDecision::PastGeneration { .. } => {
                plan.past_generation_pods.push(name_of(pod).to_owned())
            }
            DaemonSetPodDecision::Unprotectable | DaemonSetPodDecision::Unchanged => {}
        }
    }
    plan.pods.sort_by(|a, b| a.0.cmp(&b.0));
    plan.past_generation_pods.sort();
    Ok(plan)
}
