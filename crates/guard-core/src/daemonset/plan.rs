//! A DaemonSet's plan: what the restore's rules do to it (template and generation) and what the
//! guard does about it — computed once per DaemonSet per restore (its pods, its
//! ControllerRevisions and the DaemonSet item look it up) and, over the same backed-up objects, the
//! offline `check`'s answer.

use serde_json::Value;

use super::generation::{
    DaemonSetChange, DaemonSetPodCorrection, DaemonSetPodDecision, RestoredGeneration,
    TEMPLATE_GENERATION_ANNOTATION, backed_up_generation, correct_daemonset_pod, daemonset_change,
    pod_generation,
};
use crate::engine::{Rules, VeleroEngine};
use crate::error::Result;
use crate::plans::WorkloadPlan;
use crate::restore::{BackedUp, RestoreInputs};
use crate::toolkit::object::{as_velero_hands_it, name_of, namespace_of, pod_template};
use crate::toolkit::owners::{Kind, Workload, daemonset_owner};
use crate::toolkit::scope::OutOfScope;
use crate::toolkit::template::FsbPod;

/// What the guard would do for one DaemonSet during a restore.
#[derive(Debug, Clone, PartialEq)]
pub struct DaemonSetPlan {
    /// Backup (original) namespace.
    pub namespace: String,
    pub daemonset: String,
    /// What the rules do to the backed-up DaemonSet: `T → T'` (`None` = the template stays), the
    /// generation the restored DaemonSet gets, the paths that change node eligibility.
    pub after_rules: DaemonSetChange,
    /// Pods with FSB data.
    pub fsb_pods: Vec<FsbPod>,
    /// Without the guard the current pods would no longer count as up to date (their label ≠ the
    /// restored generation, e.g. a rule changed or removed the annotation) and a RollingUpdate
    /// DaemonSet deletes them; the guard relabels them.
    pub rolls_without_guard: bool,
    /// Without the guard the pods keep the backed-up template `T` (they count as current by
    /// generation, so nothing replaces them until the next template change).
    pub pods_keep_old_template_without_guard: bool,
    /// Why the guard leaves the DaemonSet out before looking at its change (scope, namespaces).
    pub out_of_scope: Option<OutOfScope>,
    /// Why the guard leaves this DaemonSet alone (`None` = it corrects it when there is something
    /// to do).
    pub skipped: Option<String>,
    /// Current pods (at the backed-up generation), corrected (items as the plugin would return
    /// them; `restore-wait` is not simulated).
    pub pods: Vec<(String, DaemonSetPodCorrection)>,
    /// Pods of past generations, left as they are.
    pub past_generation_pods: Vec<String>,
}

impl WorkloadPlan for DaemonSetPlan {
    const KIND: Kind = Kind::DaemonSet;
    /// The pod and ControllerRevision steps read which pods ran the backed-up generation.
    const STEPS_READ_PODS: bool = true;

    fn plan(engine: &VeleroEngine, rules: &Rules, backed_up: BackedUp<'_>) -> Result<Self> {
        plan(engine, rules, backed_up)
    }

    /// What the rules do decides more than the scope: the plan comes first.
    fn left_alone_before(_: &RestoreInputs<'_>, _: &Workload, _: &Value) -> Option<&'static str> {
        None
    }

    fn left_alone(&self) -> Option<&'static str> {
        match self.out_of_scope {
            Some(why) => Some(why.as_str()),
            None => (self.after_rules.is_noop())
                .then_some("template and generation unchanged by the rules"),
        }
    }
}

/// Pods of `daemonset` (namespace + controller owner) among `pods`.
pub fn pods_of<'a>(daemonset: &Value, pods: &'a [Value]) -> impl Iterator<Item = &'a Value> {
    let namespace = namespace_of(daemonset).to_owned();
    let name = name_of(daemonset).to_owned();
    pods.iter()
        .filter(move |p| namespace_of(p) == namespace && daemonset_owner(p) == Some(&name))
}

/// Runs the guard's decisions for one DaemonSet over backed-up objects, as the plugin would during
/// a restore with `rules` — the plugin computes it once per DaemonSet, the offline `check` once per
/// backed-up DaemonSet.
///
/// Errors are those a restore would hit (a rule the engine cannot evaluate, a DaemonSet without
/// template).
pub fn plan(engine: &VeleroEngine, rules: &Rules, inputs: BackedUp<'_>) -> Result<DaemonSetPlan> {
    let daemonset = inputs.workload;
    let template = pod_template("DaemonSet", daemonset)?;
    let after_rules = daemonset_change(
        engine,
        rules,
        &as_velero_hands_it(daemonset),
        template,
        backed_up_generation(daemonset),
    )?;
    let mut mine: Vec<&Value> = pods_of(daemonset, inputs.pods).collect();
    mine.sort_by(|a, b| name_of(a).cmp(name_of(b)));
    let fsb_pods = FsbPod::among(mine, inputs.fsb);
    let has_current_pods = pods_of(daemonset, inputs.pods)
        .any(|p| pod_generation(p) == after_rules.backed_up_generation.as_deref());
    let out_of_scope = OutOfScope::check(
        inputs.settings,
        namespace_of(daemonset),
        !fsb_pods.is_empty(),
    );
    let mut plan = DaemonSetPlan {
        namespace: namespace_of(daemonset).to_owned(),
        daemonset: name_of(daemonset).to_owned(),
        rolls_without_guard: has_current_pods && after_rules.relabels(),
        pods_keep_old_template_without_guard: has_current_pods && after_rules.change.is_some(),
        skipped: out_of_scope.map(|why| why.as_str().to_owned()),
        out_of_scope,
        after_rules,
        fsb_pods,
        pods: Vec::new(),
        past_generation_pods: Vec::new(),
    };
    if plan.skipped.is_some() || plan.after_rules.is_noop() {
        return Ok(plan);
    }
    if plan.after_rules.restored_generation == RestoredGeneration::Unparseable {
        plan.skipped = Some(format!(
            "the rules make annotation {TEMPLATE_GENERATION_ANNOTATION} unparseable; the API server rejects the DaemonSet"
        ));
        return Ok(plan);
    }
    for pod in pods_of(daemonset, inputs.pods) {
        let volumes = inputs.fsb.volumes_of(pod);
        match correct_daemonset_pod(
            engine,
            rules,
            &as_velero_hands_it(pod),
            pod_generation(pod),
            &plan.after_rules,
            &volumes,
        )? {
            DaemonSetPodDecision::Corrected(c) => plan.pods.push((name_of(pod).to_owned(), *c)),
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
