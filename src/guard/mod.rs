//! The guard: keeps file-system-backup restores alive when the restore's resource modifiers change a
//! Deployment's pod template (design §1–§4).
//!
//! Velero restores pods, then ReplicaSets, then Deployments, and applies the resource modifiers
//! after every plugin ran. A rule that changes a Deployment's `spec.template` (`T → T'`) makes the
//! restored ReplicaSet (template `T`) stale: the controller rolls out and deletes the restored pods
//! before their PodVolumeRestores finish. The guard re-emits `T → T'` where it cannot roll:
//!
//! - **pods** ([`correct_pod`]): `diff(T, T')` applied by merge key, FSB volumes and `restore-wait`
//!   untouched (unsafe parts withheld and reported);
//! - **the current ReplicaSet** ([`correct_replicaset`]): template `T'` with its own hash label, so
//!   the controller adopts it for the modified Deployment; a past revision already equal to `T'` is
//!   set apart so it is not picked instead;
//! - **the Deployment** ([`check_deployment`]): returned unchanged; the live ReplicaSet is verified
//!   and, if needed, aligned with one patch.
//!
//! A rule that lowers `spec.replicas` below the current ReplicaSet's restored pods (issue 8,
//! `replicas`, docs/replicas.md) makes the guard restore only `R'` of them — those holding FSB data
//! first — answer `skipRestore` for the rest and give the ReplicaSet `R'` replicas, so the
//! controller deletes no pod while it restores. Both changes may apply to the same items.
//!
//! # Layout
//!
//! The decisions (`decide`, `delta`, `workload`, `settings`) are pure functions over
//! `serde_json::Value` behind an [`Engine`] (rules, strategic patch, semantic equality;
//! [`VeleroEngine`] is the production one). One pure function per restored item
//! ([`pod_step`], [`replicaset_step`], [`deployment_target`] + [`deployment_step`]) composes them as
//! the plugin does. The plugin shell ([`action::TemplateGuard`], over [`action::GuardCluster`];
//! [`kube::KubeCluster`] is the live implementation, [`kube::plugin_action`] what the binary serves)
//! gathers inputs per restore and maps errors at the edge.
//!
//! # For the offline `check`
//!
//! [`plan_workload`] runs all three steps for one Deployment over backed-up objects and returns a
//! [`WorkloadPlan`]: whether the rules change the template ([`WorkloadPlan::change`], with the
//! changed paths), the FSB pods, the corrected pod items and the ReplicaSet decisions. Rules come
//! from [`VeleroEngine::rules_from_yaml`] / [`VeleroEngine::rules_from_configmap`]; the FSB index
//! from [`FsbIndex::from_pod_volume_backups`]. Apply the rules to the plan's items
//! ([`Engine::apply_rules`]) to get the objects as Velero creates them.

pub mod action;
pub mod daemonset;
mod decide;
mod delta;
mod engine;
mod engine_impl;
mod error;
pub mod kube;
mod replicas;
pub mod revision;
mod settings;
pub mod statefulset;
mod steps;
mod workload;

#[cfg(test)]
mod scenarios;
#[cfg(test)]
mod testkit;

use std::collections::BTreeSet;

use serde_json::Value;

pub use daemonset::{
    DaemonSetInputs, DaemonSetPlan, DaemonSetPodCorrection, RestoredGeneration, plan_daemonset,
};
pub use decide::{
    ANNOTATION_RE_EMITTED, ANNOTATION_RULES_CHANGE_TEMPLATE, ANNOTATION_SUPERSEDED_BY,
    ANNOTATION_TEMPLATE_DIGEST, ANNOTATION_WITHHELD, DEPLOYMENTS, DeploymentDecision, PODS,
    PodCorrection, REPLICASETS, ReplicaSetDecision, TemplateChange, check_deployment, correct_pod,
    correct_replicaset, current_replicaset, template_after_rules, template_change,
};
pub use delta::{broken_invariants, patch_paths, template_digest, withhold_unsafe_parts};
pub use engine::{Engine, RulesOutcome};
pub use engine_impl::VeleroEngine;
pub use error::{Error, Result};
pub use replicas::{
    ANNOTATION_DESIRED_REPLICAS, ANNOTATION_REPLICAS_LOWERED, PodChoice, ReplicaPlan, Replicas,
    SkippedPod, align_desired_replicas, choose_pods, lower_replicaset, replica_plan,
    replicas_after_rules, replicas_of,
};
pub use settings::{
    FailurePolicy, MODE_ANNOTATION, Mode, NamespaceGlobs, Scope, Settings, glob_match,
};
pub use statefulset::{
    RevisionPlan, ScaledAwayPod, StatefulSetInputs, StatefulSetPlan, plan_statefulset,
};
pub use steps::{
    BackupObjects, ChangeCache, DeploymentChange, DeploymentOutcome, Level, Note, RestoreInputs,
    StepOutcome, deployment_change, deployment_step, deployment_target, fsb_workloads, pod_step,
    replicaset_step,
};
pub use workload::daemonset_owner;
pub use workload::{
    FsbIndex, PodLineage, RESTORE_WAIT_CONTAINERS, as_velero_hands_it,
    has_legacy_snapshot_annotations, name_of, namespace_of, pod_lineage, replicaset_owner,
};

/// Backed-up objects of one Deployment, for [`plan_workload`].
#[derive(Debug, Clone, Copy)]
pub struct WorkloadInputs<'a> {
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

/// A pod of the Deployment with FSB data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FsbPod {
    pub name: String,
    pub volumes: BTreeSet<String>,
}

impl FsbPod {
    /// Its volumes as `<pod>/<volume>`, the form the summary notes list them in.
    pub(crate) fn pod_volumes(&self) -> impl Iterator<Item = String> + '_ {
        self.volumes.iter().map(|v| format!("{}/{v}", self.name))
    }
}

/// What the guard would do for one Deployment during a restore.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkloadPlan {
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
    /// Skipped pods are not in [`WorkloadPlan::pods`].
    pub replicas: ReplicaPlan,
}

/// Pods of `deployment` (namespace + name) with FSB data, by name.
pub fn fsb_pods_of(deployment: &Value, pods: &[Value], fsb: &FsbIndex) -> Vec<FsbPod> {
    let (namespace, name) = (namespace_of(deployment), name_of(deployment));
    let mut out: Vec<FsbPod> = pods
        .iter()
        .filter(|p| {
            pod_lineage(p).is_some_and(|l| l.namespace == namespace && l.deployment == name)
        })
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

/// Runs the guard's three steps for one Deployment over backed-up objects, as the plugin would
/// during a restore with `rules` — the entry point of the offline `check`.
///
/// Each item is first reset the way Velero hands it to plugins ([`as_velero_hands_it`]). The pod
/// step corrects every pod of the current ReplicaSet; the FSB ones are listed in
/// [`WorkloadPlan::fsb_pods`]. Errors are those a restore would hit (a rule the engine cannot
/// evaluate, a Deployment without template).
pub fn plan_workload<E: Engine>(
    engine: &E,
    rules: &E::Rules,
    inputs: WorkloadInputs<'_>,
) -> Result<WorkloadPlan> {
    let deployment = inputs.deployment;
    let namespace = namespace_of(deployment).to_owned();
    let name = name_of(deployment).to_owned();
    let template = workload::pod_template("Deployment", deployment)?;
    let handed = as_velero_hands_it(deployment);
    let (change, to) =
        replicas::template_and_replicas_after_rules(engine, rules, &handed, template)?;
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
    let in_scope = inputs.settings.namespace_in_scope(&namespace)
        && !(inputs.settings.scope == Scope::FsbOnly && fsb_pods.is_empty());
    if !in_scope {
        replicas.choice = None;
    }
    let mut plan = WorkloadPlan {
        rolls_without_guard: change.is_some(),
        namespace,
        deployment: name,
        change,
        fsb_pods,
        current_replicaset: current,
        skipped: None,
        pods: Vec::new(),
        replicasets: Vec::new(),
        replicas,
    };
    let Some(change) = plan.change.clone() else {
        return Ok(plan);
    };
    if !inputs.settings.namespace_in_scope(&plan.namespace) {
        plan.skipped = Some("namespace out of scope".to_owned());
        return Ok(plan);
    }
    if inputs.settings.scope == Scope::FsbOnly && plan.fsb_pods.is_empty() {
        plan.skipped = Some("no pod with file-system-backup data".to_owned());
        return Ok(plan);
    }
    let Some(current) = plan.current_replicaset.clone() else {
        plan.skipped = Some("no backed-up ReplicaSet with the Deployment's template".to_owned());
        return Ok(plan);
    };
    for pod in inputs.pods {
        let Some(lineage) = pod_lineage(pod) else {
            continue;
        };
        if lineage.namespace != plan.namespace || lineage.replicaset != current {
            continue;
        }
        let skipped = plan.replicas.choice.as_ref();
        if skipped.is_some_and(|c| c.skipped(name_of(pod)).is_some()) {
            continue;
        }
        let volumes = inputs.fsb.volumes_of(pod);
        let correction = correct_pod(engine, &as_velero_hands_it(pod), &change, &volumes)?;
        plan.pods.push((name_of(pod).to_owned(), correction));
    }
    for rs in inputs.replicasets {
        if namespace_of(rs) != plan.namespace || replicaset_owner(rs) != Some(&plan.deployment) {
            continue;
        }
        let decision =
            correct_replicaset(engine, rules, &as_velero_hands_it(rs), &change, &current)?;
        plan.replicasets.push((name_of(rs).to_owned(), decision));
    }
    plan.pods.sort_by(|a, b| a.0.cmp(&b.0));
    plan.replicasets.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(plan)
}
