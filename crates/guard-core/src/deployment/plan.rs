//! A Deployment's plan: what the restore's rules do to it and what the guard does about it,
//! computed once per Deployment per restore (its pods, its ReplicaSets and the Deployment item look
//! it up) and, over the same backed-up objects, the offline `check`'s answer.

use std::collections::BTreeSet;

use serde_json::Value;

use super::history::{ReplicaSetDecision, correct_replicaset, current_replicaset};
use super::replicas::{ReplicaPlan, replica_plan};
use crate::engine::{Rules, VeleroEngine};
use crate::error::{Error, Result};
use crate::fsb::FsbIndex;
use crate::plans::WorkloadPlan;
use crate::resources::Resource;
use crate::restore::{BackedUp, RestoreInputs};
use crate::toolkit::object::{as_velero_hands_it, name_of, namespace_of, pod_template};
use crate::toolkit::owners::{Kind, Workload, pod_lineage, replicaset_owner};
use crate::toolkit::replicas::Replicas;
use crate::toolkit::scope::OutOfScope;
use crate::toolkit::template::{FsbPod, PodCorrection, TemplateChange, correct_pod, without_items};

/// What the guard would do for one Deployment during a restore.
#[derive(Debug, Clone, PartialEq)]
pub struct DeploymentPlan {
    /// Backup (original) namespace.
    pub namespace: String,
    pub deployment: String,
    /// How the rules change the template; `None` = no rollout, nothing to do.
    pub change: Option<TemplateChange>,
    /// Pods with FSB data (restored by PodVolumeRestores bound to these pods).
    pub fsb_pods: Vec<FsbPod>,
    /// Name of the ReplicaSet whose template equals the backed-up template (holds the pods).
    pub current_replicaset: Option<String>,
    /// Without the guard, a template change would roll the Deployment and delete its pods.
    pub rolls_without_guard: bool,
    /// Why the guard leaves this Deployment alone (`None` = it corrects it when `change` is set).
    pub skipped: Option<String>,
    /// Corrected pods (items as the plugin would return them; `restore-wait` is not simulated).
    pub pods: Vec<(String, PodCorrection)>,
    /// Decisions for each ReplicaSet of the Deployment.
    pub replicasets: Vec<(String, ReplicaSetDecision)>,
    /// The replica count before and after the rules, and the pods restored when it drops below the
    /// current ReplicaSet's pods (`choice` is `None` when the guard leaves the Deployment alone).
    /// Skipped pods are not in [`DeploymentPlan::pods`].
    pub replicas: ReplicaPlan,
}

impl WorkloadPlan for DeploymentPlan {
    const KIND: Kind = Kind::Deployment;

    fn plan(engine: &VeleroEngine, rules: &Rules, backed_up: BackedUp<'_>) -> Result<Self> {
        plan(engine, rules, backed_up)
    }

    fn left_alone_before(
        inputs: &RestoreInputs<'_>,
        workload: &Workload,
        deployment: &Value,
    ) -> Option<&'static str> {
        if let Some(why) = inputs.out_of_scope(workload) {
            return Some(why.as_str());
        }
        deployment
            .pointer("/spec/template")
            .is_none()
            .then_some("Deployment has no template")
    }

    fn left_alone(&self) -> Option<&'static str> {
        (self.change.is_none() && self.replicas.lowered_to().is_none())
            .then_some("template unchanged by the rules")
    }
    /// Each pod's own item step corrects the pod Velero hands over (`restore-wait` included),
    /// and each ReplicaSet's step decides again on the ReplicaSet Velero hands over: the plan's
    /// corrected copies are for `check` only (a ReplicaSet's copy is about 18 KB of tree). No
    /// Deployment step reads `T` once the change is known.
    fn kept_for_the_restore(self) -> Self {
        Self {
            pods: without_items(self.pods),
            replicasets: Vec::new(),
            change: self.change.map(TemplateChange::without_template),
            ..self
        }
    }
}

/// Pods of `deployment` (namespace + name) with FSB data, by name.
pub fn fsb_pods_of(deployment: &Value, pods: &[Value], fsb: &FsbIndex) -> Vec<FsbPod> {
    let (namespace, name) = (namespace_of(deployment), name_of(deployment));
    let mut mine: Vec<&Value> = pods
        .iter()
        .filter(|p| {
            pod_lineage(p).is_some_and(|l| l.namespace == namespace && l.deployment == name)
        })
        .collect();
    mine.sort_by(|a, b| name_of(a).cmp(name_of(b)));
    FsbPod::among(mine, fsb)
}

/// Runs the guard's three steps for one Deployment over backed-up objects, as the plugin would
/// during a restore with `rules` — the plugin computes it once per Deployment, the offline `check`
/// once per backed-up Deployment.
///
/// Each item is first reset the way Velero hands it to plugins ([`as_velero_hands_it`]). The pod
/// step corrects every pod of the current ReplicaSet; the FSB ones are listed in
/// [`DeploymentPlan::fsb_pods`]. Errors are those a restore would hit (a rule the engine cannot
/// evaluate, a Deployment without template).
pub fn plan(engine: &VeleroEngine, rules: &Rules, inputs: BackedUp<'_>) -> Result<DeploymentPlan> {
    let deployment = inputs.workload;
    let template = pod_template("Deployment", deployment)?;
    let (change, to) = template_and_replicas_after_rules(engine, rules, deployment, template)?;
    let fsb_pods = fsb_pods_of(deployment, inputs.pods, inputs.fsb);
    let current = current_replicaset(engine, deployment, template, inputs.history)
        .map(|rs| name_of(rs).to_owned());
    let mut replicas = replica_plan(
        deployment,
        to,
        current.as_deref(),
        inputs.history,
        inputs.pods,
        inputs.fsb,
    );
    let out_of_scope = OutOfScope::check(
        inputs.settings,
        namespace_of(deployment),
        !fsb_pods.is_empty(),
    );
    if out_of_scope.is_some() {
        replicas.choice = None;
    }
    let mut plan = DeploymentPlan {
        namespace: namespace_of(deployment).to_owned(),
        deployment: name_of(deployment).to_owned(),
        rolls_without_guard: change.is_some(),
        change,
        fsb_pods,
        current_replicaset: current,
        skipped: None,
        pods: Vec::new(),
        replicasets: Vec::new(),
        replicas,
    };
    if plan.change.is_none() {
        return Ok(plan);
    }
    plan.skipped = match (out_of_scope, &plan.current_replicaset) {
        (Some(why), _) => Some(why.cause().to_owned()),
        (None, None) => Some("no backed-up ReplicaSet with the Deployment's template".to_owned()),
        (None, Some(_)) => None,
    };
    if plan.skipped.is_none() {
        correct_items(engine, rules, inputs, &mut plan)?;
    }
    Ok(plan)
}

/// `T → T'` and `R'` of `deployment` from one evaluation of the restore's rules on the
/// Deployment as Velero hands it to the modifiers; `template` is `T`.
fn template_and_replicas_after_rules(
    engine: &VeleroEngine,
    rules: &Rules,
    deployment: &Value,
    template: &Value,
) -> Result<(Option<TemplateChange>, Replicas)> {
    let handed = as_velero_hands_it(deployment);
    let gr = Resource::DEPLOYMENTS.group_resource();
    let outcome = engine.apply_rules(rules, &handed, gr);
    let replicas = Replicas::of(&outcome.object);
    let target = outcome
        .object
        .pointer("/spec/template")
        .ok_or_else(|| Error::NoTemplate {
            object: format!("Deployment {}", name_of(deployment)),
            after_rules: true,
        })?;
    let change = TemplateChange::between(engine, template, target.clone(), outcome.rule_errors)?;
    Ok((change, replicas))
}

/// The pods and ReplicaSets of a Deployment the guard corrects, as the plugin would answer for
/// them (skipped pods left out).
fn correct_items(
    engine: &VeleroEngine,
    rules: &Rules,
    inputs: BackedUp<'_>,
    plan: &mut DeploymentPlan,
) -> Result<()> {
    let (Some(change), Some(current)) = (&plan.change, &plan.current_replicaset) else {
        return Ok(());
    };
    let skipped: BTreeSet<&str> = plan
        .replicas
        .choice
        .iter()
        .flat_map(|c| c.skipped.iter().map(|p| p.name.as_str()))
        .collect();
    for pod in inputs.pods {
        let in_current = pod_lineage(pod)
            .is_some_and(|l| l.namespace == plan.namespace && l.replicaset == *current);
        if !in_current || skipped.contains(name_of(pod)) {
            continue;
        }
        let volumes = inputs.fsb.volumes_of(pod);
        let correction = correct_pod(engine, rules, &as_velero_hands_it(pod), change, &volumes)?;
        plan.pods.push((name_of(pod).to_owned(), correction));
    }
    for rs in inputs.history {
        if namespace_of(rs) != plan.namespace || replicaset_owner(rs) != Some(&plan.deployment) {
            continue;
        }
        let decision = correct_replicaset(engine, rules, &as_velero_hands_it(rs), change, current)?;
        plan.replicasets.push((name_of(rs).to_owned(), decision));
    }
    plan.pods.sort_by(|a, b| a.0.cmp(&b.0));
    plan.replicasets.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(())
}
