//! StatefulSets and DaemonSets in the report: the guard's own [`plan_statefulset`] and
//! [`plan_daemonset`] over every backed-up StatefulSet and DaemonSet, worded. No decision is
//! re-implemented here.

use std::collections::BTreeSet;

use serde::Serialize;
use serde_json::Value;

use super::analysis::{PodAction, PodVolumes};
use super::error::{Error, Result};
use super::replicas::{ReplicaReport, statefulset_replicas};
use fsb_guard_core::daemonset::{self, DaemonSetInputs, DaemonSetPlan, RestoredGeneration};
use fsb_guard_core::statefulset::{
    self, RevisionDecision, RevisionSource, StatefulSetInputs, StatefulSetPlan,
};
use fsb_guard_core::{FsbIndex, FsbPod, PodCorrection, Resource, Rules, Settings, VeleroEngine};

use crate::backup::BackupIndex;

/// The ControllerRevision the StatefulSet's pods point to, as the plugin restores it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RevisionReport {
    pub name: String,
    /// `status`, `template-data` or `pods`: where the update revision was read.
    pub found_by: &'static str,
    pub in_backup: bool,
    /// `rewritten` (data = the final template, highest revision number), `unchanged`, or
    /// `relabel-pods` (not in the backup: the plugin relabels the pods to the revision the
    /// controller will create).
    pub action: &'static str,
    /// The revision number it gets when rewritten.
    pub revision_number: Option<i64>,
    /// The name the controller gives the final template's revision (offline form).
    pub predicted_name_without_revisions: String,
}

/// What velero-fsb-guard does for one StatefulSet.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StatefulSetPluginReport {
    /// `corrects`, `nothing-to-do` or `leaves-alone`.
    pub action: &'static str,
    pub reason: Option<String>,
    pub pods: Vec<PodAction>,
    /// Pods of an older revision (backup taken mid-rollout), restored as they are.
    pub older_revision_pods: Vec<String>,
    pub revision: Option<RevisionReport>,
    pub withheld: Vec<String>,
}

/// One StatefulSet of the backup.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StatefulSetReport {
    pub namespace: String,
    pub name: String,
    pub fsb_pods: Vec<PodVolumes>,
    /// The rules change the pod template: the controller rolls the pods without the plugin.
    pub rollout_without_plugin: bool,
    pub template_paths: Vec<String>,
    pub rule_errors: Vec<String>,
    pub replicas: ReplicaReport,
    /// Pods and volumes whose FSB restore the rollout or the scale-down would break without the
    /// plugin.
    pub at_risk: Vec<PodVolumes>,
    pub plugin: StatefulSetPluginReport,
    pub rollout_with_plugin: bool,
    pub verdict: String,
}

/// What velero-fsb-guard does for one DaemonSet.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DaemonSetPluginReport {
    /// `corrects`, `nothing-to-do` or `leaves-alone`.
    pub action: &'static str,
    pub reason: Option<String>,
    /// Current pods corrected; `generationLabel` = `[before, after]` of `pod-template-generation`.
    pub pods: Vec<DaemonSetPodAction>,
    /// Pods of past generations, restored as they are.
    pub past_generation_pods: Vec<String>,
    pub withheld: Vec<String>,
}

/// One pod of a DaemonSet as the plugin corrects it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DaemonSetPodAction {
    #[serde(flatten)]
    pub pod: PodAction,
    pub generation_label: (Option<String>, String),
    /// Template paths the controller owns on DaemonSet pods, left as restored.
    pub controller_owned: Vec<String>,
}

/// One DaemonSet of the backup.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DaemonSetReport {
    pub namespace: String,
    pub name: String,
    pub fsb_pods: Vec<PodVolumes>,
    /// Without the plugin the current pods stop counting as up to date and are replaced.
    pub rollout_without_plugin: bool,
    /// Without the plugin the pods keep the backed-up template (nothing replaces them).
    pub pods_keep_old_template_without_plugin: bool,
    pub template_paths: Vec<String>,
    pub rule_errors: Vec<String>,
    pub backed_up_generation: Option<String>,
    /// `kept:<n>`, `removed` (the API server starts at 1) or `unparseable`.
    pub restored_generation: String,
    /// Template paths that change which nodes run a pod (the controller deletes pods on nodes
    /// that no longer qualify; reported only).
    pub node_eligibility: Vec<String>,
    pub at_risk: Vec<PodVolumes>,
    pub plugin: DaemonSetPluginReport,
    pub rollout_with_plugin: bool,
    pub verdict: String,
}

fn pod_volumes(fsb: &[FsbPod]) -> Vec<PodVolumes> {
    fsb.iter()
        .map(|p| PodVolumes {
            pod: p.name.clone(),
            volumes: p.volumes.iter().cloned().collect(),
        })
        .collect()
}

fn pod_action(name: &str, c: &PodCorrection) -> PodAction {
    PodAction {
        pod: name.to_owned(),
        re_emitted: c.re_emitted.clone(),
        withheld: c.withheld.clone(),
        broken: c.broken.clone(),
    }
}

fn union_withheld<'a>(corrections: impl Iterator<Item = &'a PodCorrection>) -> Vec<String> {
    let set: BTreeSet<String> = corrections.flat_map(|c| c.withheld.clone()).collect();
    set.into_iter().collect()
}

/// A pod's controller of `kind` (apps group), from the backed-up copy.
fn controller_of<'a>(pod: &'a Value, kind: &str) -> Option<&'a str> {
    pod.pointer("/metadata/ownerReferences")?
        .as_array()?
        .iter()
        .find(|r| {
            r.get("controller").and_then(Value::as_bool) == Some(true)
                && r.get("kind").and_then(Value::as_str) == Some(kind)
        })?
        .get("name")?
        .as_str()
}

/// Names of the backed-up pods of StatefulSet `namespace/name` that Velero restores.
fn statefulset_pod_names(index: &BackupIndex, namespace: &str, name: &str) -> Vec<String> {
    index
        .items_in(Resource::PODS, namespace)
        .filter(|(_, p)| controller_of(p, "StatefulSet") == Some(name))
        .filter(|(_, p)| {
            !matches!(
                p.pointer("/status/phase").and_then(Value::as_str),
                Some("Succeeded" | "Failed")
            )
        })
        .map(|(k, _)| k.name.clone())
        .collect()
}

fn objects_in(index: &BackupIndex, gr: Resource, namespace: &str) -> Vec<Value> {
    index
        .items_in(gr, namespace)
        .map(|(_, v)| v.clone())
        .collect()
}

/// Plans and reports for every StatefulSet of the backup.
pub fn statefulsets(
    index: &BackupIndex,
    rules: &Rules,
    fsb: &FsbIndex,
) -> Result<(Vec<StatefulSetReport>, Vec<StatefulSetPlan>)> {
    let settings = Settings::default();
    let mut reports = Vec::new();
    let mut plans = Vec::new();
    for (key, sts) in index.items_of(Resource::STATEFUL_SETS) {
        let pods = objects_in(index, Resource::PODS, &key.namespace);
        let revisions = objects_in(index, Resource::CONTROLLER_REVISIONS, &key.namespace);
        let plan = statefulset::plan(
            &VeleroEngine,
            rules,
            StatefulSetInputs {
                statefulset: sts,
                controllerrevisions: &revisions,
                pods: &pods,
                fsb,
                settings: &settings,
            },
        )
        .map_err(|source| Error::Guard {
            workload: format!("StatefulSet {}/{}", key.namespace, key.name),
            source,
        })?;
        let names = statefulset_pod_names(index, &key.namespace, &key.name);
        reports.push(statefulset_report(&plan, &names));
        plans.push(plan);
    }
    Ok((reports, plans))
}

fn statefulset_report(plan: &StatefulSetPlan, pod_names: &[String]) -> StatefulSetReport {
    let fsb_pods = pod_volumes(&plan.fsb_pods);
    let acts = plan.skipped.is_none();
    let skipped: Vec<(String, BTreeSet<String>)> = plan
        .skipped_pods
        .iter()
        .map(|p| (p.name.clone(), p.fsb_volumes.clone()))
        .collect();
    let mut replicas = statefulset_replicas(
        plan.replicas,
        plan.final_replicas,
        pod_names,
        &skipped,
        &plan.fsb_pods,
        acts,
    );
    replicas
        .older_revision_pods
        .clone_from(&plan.older_revision_pods);
    let rollout = plan.rolls_without_guard;
    let mut at_risk: Vec<PodVolumes> = if rollout {
        fsb_pods.clone()
    } else {
        replicas.at_risk_without_plugin.clone()
    };
    at_risk.sort_by(|a, b| a.pod.cmp(&b.pod));
    let pods: Vec<PodAction> = plan.pods.iter().map(|(n, c)| pod_action(n, c)).collect();
    let withheld = union_withheld(plan.pods.iter().map(|(_, c)| c));
    let revision = plan.revision.as_ref().map(|r| {
        let (action, number) = match &r.decision {
            Some(RevisionDecision::Rewritten { revision, .. }) => ("rewritten", Some(*revision)),
            Some(RevisionDecision::Unchanged) => ("unchanged", None),
            None => ("relabel-pods", None),
        };
        RevisionReport {
            name: r.name.clone(),
            found_by: match plan.update_revision.as_ref().map(|u| u.source) {
                Some(RevisionSource::Status) => "status",
                Some(RevisionSource::TemplateData) => "template-data",
                Some(RevisionSource::Pods) | None => "pods",
            },
            in_backup: r.in_backup,
            action,
            revision_number: number,
            predicted_name_without_revisions: r.predicted_name_without_revisions.clone(),
        }
    });
    let something_to_do = plan.change.is_some()
        || !replicas.at_risk_without_plugin.is_empty()
        || !replicas.skipped.is_empty();
    let action = match (&plan.skipped, something_to_do) {
        (_, false) => "nothing-to-do",
        (Some(_), true) => "leaves-alone",
        (None, true) => "corrects",
    };
    let reason = (action == "leaves-alone")
        .then(|| plan.skipped.clone())
        .flatten();
    let rollout_with_plugin = rollout && action != "corrects";
    let mut verdict = if !rollout {
        if fsb_pods.is_empty() {
            "no rollout; no file-system-backup data".to_owned()
        } else {
            "safe: the rules leave the pod template as it is; no rollout".to_owned()
        }
    } else if fsb_pods.is_empty() {
        "rolls out (pod template changes) but holds no file-system-backup data: not counted as a risk".to_owned()
    } else if rollout_with_plugin {
        format!(
            "AT RISK even with the plugin ({}): the rollout deletes pods holding file-system-backup data",
            reason.clone().unwrap_or_default()
        )
    } else {
        let rev = revision
            .as_ref()
            .map(|r| match r.action {
                "relabel-pods" => format!(
                    "ControllerRevision {} is not in the backup: pods relabelled to {}",
                    r.name, r.predicted_name_without_revisions
                ),
                _ => format!("ControllerRevision {} carry the change", r.name),
            })
            .unwrap_or_default();
        format!(
            "AT RISK without the plugin: the rollout deletes {} pods before the file-system restore finishes; with velero-fsb-guard: no rollout (pods and {rev})",
            fsb_pods.len()
        )
    };
    if replicas.change != "unchanged" || !replicas.skipped.is_empty() {
        if !rollout && !replicas.at_risk_without_plugin.is_empty() {
            verdict = format!("AT RISK without the plugin: {}", replicas.summary);
        } else {
            verdict.push_str("; ");
            verdict.push_str(&replicas.summary);
        }
    }
    StatefulSetReport {
        namespace: plan.namespace.clone(),
        name: plan.statefulset.clone(),
        fsb_pods,
        rollout_without_plugin: rollout,
        template_paths: plan
            .change
            .as_ref()
            .map(|c| c.paths.clone())
            .unwrap_or_default(),
        rule_errors: plan
            .change
            .as_ref()
            .map(|c| c.rule_errors.clone())
            .unwrap_or_default(),
        replicas,
        at_risk,
        plugin: StatefulSetPluginReport {
            action,
            reason,
            pods,
            older_revision_pods: plan.older_revision_pods.clone(),
            revision,
            withheld,
        },
        rollout_with_plugin,
        verdict,
    }
}

/// Plans and reports for every DaemonSet of the backup.
pub fn daemonsets(
    index: &BackupIndex,
    rules: &Rules,
    fsb: &FsbIndex,
) -> Result<(Vec<DaemonSetReport>, Vec<DaemonSetPlan>)> {
    let settings = Settings::default();
    let mut reports = Vec::new();
    let mut plans = Vec::new();
    for (key, ds) in index.items_of(Resource::DAEMON_SETS) {
        let pods = objects_in(index, Resource::PODS, &key.namespace);
        let plan = daemonset::plan(
            &VeleroEngine,
            rules,
            DaemonSetInputs {
                daemonset: ds,
                pods: &pods,
                fsb,
                settings: &settings,
            },
        )
        .map_err(|source| Error::Guard {
            workload: format!("DaemonSet {}/{}", key.namespace, key.name),
            source,
        })?;
        reports.push(daemonset_report(&plan));
        plans.push(plan);
    }
    Ok((reports, plans))
}

fn daemonset_report(plan: &DaemonSetPlan) -> DaemonSetReport {
    let fsb_pods = pod_volumes(&plan.fsb_pods);
    let rollout = plan.rolls_without_guard;
    let at_risk = if rollout {
        fsb_pods.clone()
    } else {
        Vec::new()
    };
    let pods: Vec<DaemonSetPodAction> = plan
        .pods
        .iter()
        .map(|(n, c)| DaemonSetPodAction {
            pod: pod_action(n, &c.pod),
            generation_label: c.generation_label.clone(),
            controller_owned: c.controller_owned.clone(),
        })
        .collect();
    let withheld = union_withheld(plan.pods.iter().map(|(_, c)| &c.pod));
    let something_to_do = rollout || plan.pods_keep_old_template_without_guard;
    let action = match (&plan.skipped, something_to_do) {
        (_, false) => "nothing-to-do",
        (Some(_), true) => "leaves-alone",
        (None, true) => "corrects",
    };
    let reason = (action == "leaves-alone")
        .then(|| plan.skipped.clone())
        .flatten();
    let rollout_with_plugin = rollout && action != "corrects";
    let mut verdict = if rollout && fsb_pods.is_empty() {
        "its pods stop counting as up to date and are replaced, but hold no file-system-backup data: not counted as a risk".to_owned()
    } else if rollout_with_plugin {
        format!(
            "AT RISK even with the plugin ({}): the controller replaces pods holding file-system-backup data",
            reason.clone().unwrap_or_default()
        )
    } else if rollout {
        format!(
            "AT RISK without the plugin: the controller replaces {} pods before the file-system restore finishes; with velero-fsb-guard: the pods carry the change and count as up to date",
            fsb_pods.len()
        )
    } else if plan.pods_keep_old_template_without_guard && action == "corrects" {
        "no rollout; without the plugin the pods keep the backed-up template until the next change, with velero-fsb-guard they carry it".to_owned()
    } else if fsb_pods.is_empty() {
        "no rollout; no file-system-backup data".to_owned()
    } else {
        "safe: no rollout".to_owned()
    };
    if !plan.after_rules.node_eligibility.is_empty() {
        verdict.push_str(&format!(
            "; the rules change which nodes qualify ({}): the controller deletes pods on nodes that no longer do",
            plan.after_rules.node_eligibility.join(", ")
        ));
    }
    DaemonSetReport {
        namespace: plan.namespace.clone(),
        name: plan.daemonset.clone(),
        fsb_pods,
        rollout_without_plugin: rollout,
        pods_keep_old_template_without_plugin: plan.pods_keep_old_template_without_guard,
        template_paths: plan
            .after_rules
            .change
            .as_ref()
            .map(|c| c.paths.clone())
            .unwrap_or_default(),
        rule_errors: plan
            .after_rules
            .change
            .as_ref()
            .map(|c| c.rule_errors.clone())
            .unwrap_or_default(),
        backed_up_generation: plan.after_rules.backed_up_generation.clone(),
        restored_generation: match &plan.after_rules.restored_generation {
            RestoredGeneration::Kept(n) => format!("kept:{n}"),
            RestoredGeneration::Removed => "removed".to_owned(),
            RestoredGeneration::Unparseable => "unparseable".to_owned(),
        },
        node_eligibility: plan.after_rules.node_eligibility.clone(),
        at_risk,
        plugin: DaemonSetPluginReport {
            action,
            reason,
            pods,
            past_generation_pods: plan.past_generation_pods.clone(),
            withheld,
        },
        rollout_with_plugin,
        verdict,
    }
}
