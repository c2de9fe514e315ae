//! A Deployment's plan: what the restore's rules do to it and what the guard does about it,
//! computed once per Deployment per restore (its pods, its ReplicaSets and the Deployment item look
//! it up) and, over the same backed-up objects, the offline `check`'s answer.

use std::collections::BTreeSet;
use std::sync::Arc;

use serde_json::Value;

use super::replicas::{ReplicaPlan, replica_plan};
use super::replicaset::{ReplicaSetDecision, correct_replicaset, current_replicaset};
use crate::engine::{Rules, VeleroEngine};
use crate::error::{Error, Result};
use crate::fsb::FsbIndex;
use crate::resources::Resource;
use crate::restore::RestoreInputs;
use crate::settings::Settings;
use crate::toolkit::memo::Memo;
use crate::toolkit::notes::{Level, StepOutcome};
use crate::toolkit::object::{as_velero_hands_it, name_of, namespace_of, pod_template};
use crate::toolkit::owners::{Kind, Workload, pod_lineage, replicaset_owner};
use crate::toolkit::replicas::Replicas;
use crate::toolkit::scope::OutOfScope;
use crate::toolkit::template::{FsbPod, PodCorrection, TemplateChange, correct_pod};

/// Backed-up objects of one Deployment, for [`plan`].
#[derive(Debug, Clone, Copy)]
pub struct DeploymentInputs<'a> {
    /// The Deployment as backed up (with `status`, `ownerReferences`…).
    pub deployment: &'a Value,
    /// Backed-up ReplicaSets; any may be passed, those not owned by the Deployment are ignored.
    pub replicasets: &'a [Value],
    /// Backed-up pods; any may be passed, those not of the Deployment are ignored.
    pub pods: &'a [Value],
    /// Which pods hold FSB data.
    pub fsb: &'a FsbIndex,
    /// Scope and namespace filters (the mode is ignored: a plan is what `enforce` would do).
    pub settings: &'a Settings,
}

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

/// Every Deployment's plan of one restore.
pub type Plans = Memo<Workload, DeploymentPlan>;

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
pub fn plan(
    engine: &VeleroEngine,
    rules: &Rules,
    inputs: DeploymentInputs<'_>,
) -> Result<DeploymentPlan> {
    let deployment = inputs.deployment;
    let template = pod_template("Deployment", deployment)?;
    let (change, to) = template_and_replicas_after_rules(engine, rules, deployment, template)?;
    let fsb_pods = fsb_pods_of(deployment, inputs.pods, inputs.fsb);
    let current = current_replicaset(engine, deployment, template, inputs.replicasets)
        .map(|rs| name_of(rs).to_owned());
    let mut replicas = replica_plan(
        deployment,
        to,
        current.as_deref(),
        inputs.replicasets,
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
    inputs: DeploymentInputs<'_>,
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
        let correction = correct_pod(engine, &as_velero_hands_it(pod), change, &volumes)?;
        plan.pods.push((name_of(pod).to_owned(), correction));
    }
    for rs in inputs.replicasets {
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

/// The plan of backed-up `deployment` in this restore, computed by the first item that asks.
pub fn plan_of(
    inputs: &RestoreInputs<'_>,
    plans: &Plans,
    deployment: &Value,
) -> Result<Arc<DeploymentPlan>> {
    plans.get_or_try_insert(Workload::of(Kind::Deployment, deployment), || {
        plan(
            inputs.engine,
            inputs.rules,
            DeploymentInputs {
                deployment,
                replicasets: &inputs.backup.replicasets,
                pods: &inputs.backup.pods,
                fsb: inputs.fsb,
                settings: inputs.settings,
            },
        )
    })
}

/// What the pod and ReplicaSet steps share: the backed-up Deployment `namespace/name`, in scope,
/// whose template the restore's rules change or whose final replica count leaves restored pods of
/// its current ReplicaSet to skip. `step` gets the workload label and the plan; any other case
/// leaves the item unchanged with a debug note saying why.
pub(super) fn for_guarded_plan(
    inputs: &RestoreInputs<'_>,
    plans: &Plans,
    namespace: &str,
    name: &str,
    step: impl FnOnce(String, &DeploymentPlan) -> Result<StepOutcome>,
) -> Result<StepOutcome> {
    let workload = Workload::new(Kind::Deployment, namespace, name);
    let label = workload.label();
    let Some(deployment) = inputs.backup.workload(&workload) else {
        return Ok(StepOutcome::unchanged(
            Level::Debug,
            label,
            "Deployment not in the backup",
        ));
    };
    if let Some(why) = inputs.out_of_scope(&workload) {
        return Ok(StepOutcome::unchanged(Level::Debug, label, why.as_str()));
    }
    if deployment.pointer("/spec/template").is_none() {
        return Ok(StepOutcome::unchanged(
            Level::Debug,
            label,
            "Deployment has no template",
        ));
    }
    let plan = plan_of(inputs, plans, deployment)?;
    if plan.change.is_none() && plan.replicas.lowered_to().is_none() {
        return Ok(StepOutcome::unchanged(
            Level::Debug,
            label,
            "template unchanged by the rules",
        ));
    }
    step(label, &plan)
}
