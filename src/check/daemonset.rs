//! A DaemonSet in the report: its plan (the guard's own [`fsb_guard_core::daemonset::plan`]),
//! worded. No decision is re-implemented here.

use fsb_guard_core::daemonset::{DaemonSetPlan, RestoredGeneration};

use super::workload::{KindFacts, PluginReport, PodAction, WorkloadReport};

/// The report for one DaemonSet's plan.
pub fn report(plan: &DaemonSetPlan) -> WorkloadReport {
    let change = &plan.after_rules;
    let rollout = plan.rolls_without_guard;
    let pods = plan
        .pods
        .iter()
        .map(|(n, c)| PodAction {
            generation_label: Some(c.generation_label.clone()),
            controller_owned: Some(c.controller_owned.clone()),
            ..PodAction::of(n, &c.pod)
        })
        .collect();
    let plugin = PluginReport::deciding(
        plan.skipped.as_ref(),
        rollout || plan.pods_keep_old_template_without_guard,
    )
    .with_pods(pods);
    let facts = KindFacts::DaemonSet {
        pods_keep_old_template_without_plugin: plan.pods_keep_old_template_without_guard,
        backed_up_generation: change.backed_up_generation.clone(),
        restored_generation: match &change.restored_generation {
            RestoredGeneration::Kept(n) => format!("kept:{n}"),
            RestoredGeneration::Removed => "removed".to_owned(),
            RestoredGeneration::Unparseable => "unparseable".to_owned(),
        },
        node_eligibility: change.node_eligibility.clone(),
        past_generation_pods: plan.past_generation_pods.clone(),
    };
    let mut w = WorkloadReport::new(
        &plan.namespace,
        &plan.daemonset,
        &plan.fsb_pods,
        rollout,
        change.change.as_ref(),
        plugin,
        facts,
    );
    if rollout {
        w.at_risk = w.fsb_pods.clone();
    }
    w.verdict = verdict(&w, plan);
    if !change.node_eligibility.is_empty() {
        w.verdict.push_str(&format!(
            "; the rules change which nodes qualify ({}): the controller deletes pods on nodes that no longer do",
            change.node_eligibility.join(", ")
        ));
    }
    w
}

fn verdict(w: &WorkloadReport, plan: &DaemonSetPlan) -> String {
    let rollout = w.rollout_without_plugin;
    if rollout && w.fsb_pods.is_empty() {
        "its pods stop counting as up to date and are replaced, but hold no file-system-backup data: not counted as a risk".to_owned()
    } else if w.rollout_with_plugin {
        format!(
            "AT RISK even with the plugin ({}): the controller replaces pods holding file-system-backup data",
            w.plugin.reason.clone().unwrap_or_default()
        )
    } else if rollout {
        format!(
            "AT RISK without the plugin: the controller replaces {} pods before the file-system restore finishes; with velero-fsb-guard: the pods carry the change and count as up to date",
            w.fsb_pods.len()
        )
    } else if plan.pods_keep_old_template_without_guard && w.plugin.corrects() {
        "no rollout; without the plugin the pods keep the backed-up template until the next change, with velero-fsb-guard they carry it".to_owned()
    } else if w.fsb_pods.is_empty() {
        "no rollout; no file-system-backup data".to_owned()
    } else {
        "safe: no rollout".to_owned()
    }
}
