//! A Deployment in the report: its plan (the guard's own [`fsb_guard_core::deployment::plan`]),
//! worded. No decision is re-implemented here.

use fsb_guard_core::deployment::{DeploymentPlan, ReplicaSetDecision};

use super::replicas::deployment_replicas;
use super::workload::{KindFacts, PluginReport, PodAction, ReplicaSetAction, WorkloadReport};

/// The report for one Deployment's plan.
pub fn report(plan: &DeploymentPlan) -> WorkloadReport {
    let replicas = deployment_replicas(plan);
    let change = plan.change.as_ref();
    // Without a template change the plan's scope says nothing: only skipped pods are corrected.
    let skipped = plan.skipped.as_ref().filter(|_| change.is_some());
    let plugin = PluginReport::deciding(skipped, change.is_some() || !replicas.skipped.is_empty())
        .with_pods(plan.pods.iter().map(|(n, c)| PodAction::of(n, c)).collect());
    let facts = KindFacts::Deployment {
        current_replica_set: plan.current_replicaset.clone(),
        replica_sets: plan
            .replicasets
            .iter()
            .map(|(name, d)| replica_set_action(name, d))
            .collect(),
    };
    let summary = replicas.summary.clone();
    let matters = replicas.matters();
    let mut w = WorkloadReport::new(
        &plan.namespace,
        &plan.deployment,
        &plan.fsb_pods,
        plan.rolls_without_guard,
        change,
        plugin,
        facts,
    )
    .with_replicas(replicas);
    w.verdict = verdict(&w, plan, &summary);
    if matters && !scales_down_at_risk(&w) {
        w.verdict.push_str("; ");
        w.verdict.push_str(&summary);
    }
    w
}

fn replica_set_action(name: &str, decision: &ReplicaSetDecision) -> ReplicaSetAction {
    let (action, rules_change_it_after) = match decision {
        ReplicaSetDecision::Unchanged => ("unchanged", false),
        ReplicaSetDecision::Retemplated {
            rules_change_it_after,
            ..
        } => ("retemplated", *rules_change_it_after),
        ReplicaSetDecision::PastRevisionSetApart { .. } => ("past-revision-set-apart", false),
    };
    ReplicaSetAction {
        replica_set: name.to_owned(),
        action,
        rules_change_it_after,
    }
}

/// No rollout, but the lowered replica count deletes restoring pods.
fn scales_down_at_risk(w: &WorkloadReport) -> bool {
    !w.rollout_without_plugin && !w.at_risk.is_empty()
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn verdict(w: &WorkloadReport, plan: &DeploymentPlan, replicas: &str) -> String {
    let n_fsb = w.fsb_pods.len();
    if scales_down_at_risk(w) {
        return format!("AT RISK without the plugin: {replicas}");
    }
    if !w.rollout_without_plugin {
        return if n_fsb > 0 {
            "safe: the rules leave the pod template as it is; no rollout".to_owned()
        } else {
            "no rollout; no file-system-backup data".to_owned()
        };
    }
    if n_fsb == 0 {
        return "rolls out (pod template changes) but holds no file-system-backup data: not counted as a risk"
            .to_owned();
    }
    if w.rollout_with_plugin {
        return format!(
            "AT RISK even with the plugin ({}): the rollout deletes {} holding file-system-backup data",
            w.plugin.reason.clone().unwrap_or_default(),
            plural(n_fsb, "pod", "pods")
        );
    }
    let rs = plan.current_replicaset.clone().unwrap_or_default();
    let mut v = format!(
        "AT RISK without the plugin: the rollout deletes {} before the file-system restore finishes; with velero-fsb-guard: no rollout (pods and ReplicaSet {rs} carry the change)",
        plural(n_fsb, "pod", "pods")
    );
    if !w.plugin.withheld.is_empty() {
        v.push_str(&format!(
            "; withheld from pods to keep their restore working: {}",
            w.plugin.withheld.join(", ")
        ));
    }
    v
}
