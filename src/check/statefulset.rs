//! A StatefulSet in the report: its plan (the guard's own [`fsb_guard_core::statefulset::plan`]),
//! worded. No decision is re-implemented here.

use std::collections::BTreeSet;

use fsb_guard_core::statefulset::{RevisionDecision, RevisionSource, StatefulSetPlan};

use super::replicas::statefulset_replicas;
use super::workload::{KindFacts, PluginReport, PodAction, RevisionReport, WorkloadReport};

/// The report for one StatefulSet's plan; `pod_names` are its backed-up pods Velero restores.
pub fn report(plan: &StatefulSetPlan, pod_names: &[String]) -> WorkloadReport {
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
        plan.skipped.is_none(),
    );
    replicas
        .older_revision_pods
        .clone_from(&plan.older_revision_pods);
    let something_to_do = plan.change.is_some()
        || !replicas.at_risk_without_plugin.is_empty()
        || !replicas.skipped.is_empty();
    let plugin = PluginReport::deciding(plan.skipped.as_ref(), something_to_do)
        .with_pods(plan.pods.iter().map(|(n, c)| PodAction::of(n, c)).collect());
    let facts = KindFacts::StatefulSet {
        older_revision_pods: plan.older_revision_pods.clone(),
        revision: revision(plan),
    };
    let (summary, matters) = (replicas.summary.clone(), replicas.matters());
    let scales_down_at_risk =
        !plan.rolls_without_guard && !replicas.at_risk_without_plugin.is_empty();
    let mut w = WorkloadReport::new(
        &plan.namespace,
        &plan.statefulset,
        &plan.fsb_pods,
        plan.rolls_without_guard,
        plan.change.as_ref(),
        plugin,
        facts,
    )
    .with_replicas(replicas);
    w.at_risk.sort_by(|a, b| a.pod.cmp(&b.pod));
    w.verdict = match (matters, scales_down_at_risk) {
        (true, true) => format!("AT RISK without the plugin: {summary}"),
        (true, false) => format!("{}; {summary}", verdict(&w)),
        (false, _) => verdict(&w),
    };
    w
}

fn revision(plan: &StatefulSetPlan) -> Option<RevisionReport> {
    let r = plan.revision.as_ref()?;
    let (action, revision_number) = match &r.decision {
        Some(RevisionDecision::Rewritten { revision, .. }) => ("rewritten", Some(*revision)),
        Some(RevisionDecision::Unchanged) => ("unchanged", None),
        None => ("relabel-pods", None),
    };
    Some(RevisionReport {
        name: r.name.clone(),
        found_by: match plan.update_revision.as_ref().map(|u| u.source) {
            Some(RevisionSource::Status) => "status",
            Some(RevisionSource::TemplateData) => "template-data",
            Some(RevisionSource::Pods) | None => "pods",
        },
        in_backup: r.in_backup,
        action,
        revision_number,
        predicted_name_without_revisions: r.predicted_name_without_revisions.clone(),
    })
}

fn verdict(w: &WorkloadReport) -> String {
    if !w.rollout_without_plugin {
        return if w.fsb_pods.is_empty() {
            "no rollout; no file-system-backup data".to_owned()
        } else {
            "safe: the rules leave the pod template as it is; no rollout".to_owned()
        };
    }
    if w.fsb_pods.is_empty() {
        return "rolls out (pod template changes) but holds no file-system-backup data: not counted as a risk".to_owned();
    }
    if w.rollout_with_plugin {
        return format!(
            "AT RISK even with the plugin ({}): the rollout deletes pods holding file-system-backup data",
            w.plugin.reason.clone().unwrap_or_default()
        );
    }
    let KindFacts::StatefulSet { revision, .. } = &w.facts else {
        unreachable!("a StatefulSet's report")
    };
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
        w.fsb_pods.len()
    )
}
