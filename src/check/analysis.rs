//! The analysis: the guard's own [`plan_workload`] over every backed-up Deployment, turned into a
//! report. No decision is re-implemented here; this module only gathers inputs and words results.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use super::error::{Error, Result};
use super::fsb::FsbSource;
use super::input::{LoadedBackup, LoadedRules};
use super::lint::{self, LintWarning};
use super::replicas::{ReplicaReport, deployment_replicas};
use super::workloads::{self, DaemonSetReport, StatefulSetReport};
use fsb_guard_core::daemonset::DaemonSetPlan;
use fsb_guard_core::deployment::{self, DeploymentInputs, DeploymentPlan, ReplicaSetDecision};
use fsb_guard_core::statefulset::StatefulSetPlan;
use fsb_guard_core::{Resource, Settings, VeleroEngine};

use crate::backup::BackupLayout;

/// Everything the check found.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Analysis {
    /// Report schema version (docs/check.md).
    pub schema_version: u32,
    pub backup: BackupInfo,
    pub resource_modifiers: RulesInfo,
    pub fsb_source: FsbSourceInfo,
    pub deployments: Vec<DeploymentReport>,
    pub stateful_sets: Vec<StatefulSetReport>,
    pub daemon_sets: Vec<DaemonSetReport>,
    pub lint: Vec<LintWarning>,
    pub summary: Summary,
    /// The guard's plans, for the output writers.
    #[serde(skip)]
    pub plans: Vec<DeploymentPlan>,
    #[serde(skip)]
    pub statefulset_plans: Vec<StatefulSetPlan>,
    #[serde(skip)]
    pub daemonset_plans: Vec<DaemonSetPlan>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BackupInfo {
    pub source: String,
    /// `archive`, `directory` or `bucket-folder`.
    pub layout: &'static str,
    pub format_version: String,
    pub deployments: usize,
    pub replica_sets: usize,
    pub pods: usize,
    pub stateful_sets: usize,
    pub daemon_sets: usize,
    pub controller_revisions: usize,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RulesInfo {
    pub source: String,
    pub rules: usize,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FsbSourceInfo {
    /// Stable identifier of the source (docs/check.md).
    pub kind: &'static str,
    pub description: String,
}

/// A pod and its FSB volumes.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct PodVolumes {
    pub pod: String,
    pub volumes: Vec<String>,
}

/// One pod as the plugin corrects it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PodAction {
    pub pod: String,
    pub re_emitted: Vec<String>,
    pub withheld: Vec<String>,
    /// Why the whole change was withheld from this pod (invariants it would break).
    pub broken: Vec<String>,
}

/// What happens to one ReplicaSet of a corrected Deployment.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReplicaSetAction {
    pub replica_set: String,
    /// `retemplated`, `past-revision-set-apart` or `unchanged`.
    pub action: &'static str,
    /// The restore's own ReplicaSet rules change the template after the plugin; the plugin aligns
    /// the live ReplicaSet at the Deployment step.
    pub rules_change_it_after: bool,
}

/// What velero-fsb-guard does for one Deployment.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PluginReport {
    /// `corrects`, `nothing-to-do` or `leaves-alone`.
    pub action: &'static str,
    /// Why the plugin leaves the Deployment alone.
    pub reason: Option<String>,
    pub current_replica_set: Option<String>,
    pub pods: Vec<PodAction>,
    pub replica_sets: Vec<ReplicaSetAction>,
    /// Template paths withheld from at least one pod (to keep its FSB restore working).
    pub withheld: Vec<String>,
}

/// One Deployment of the backup.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentReport {
    pub namespace: String,
    pub name: String,
    pub fsb_pods: Vec<PodVolumes>,
    /// Without the plugin, the restore's rules change the pod template: the Deployment rolls out.
    pub rollout_without_plugin: bool,
    /// Template paths the rules change (no values).
    pub template_paths: Vec<String>,
    /// Rules that matched the Deployment but fail (Velero restores it without their patch).
    pub rule_errors: Vec<String>,
    /// Pods and volumes whose FSB restore the rollout would break (empty when not at risk).
    pub at_risk: Vec<PodVolumes>,
    pub plugin: PluginReport,
    /// With the plugin, the Deployment still rolls out.
    pub rollout_with_plugin: bool,
    /// The replica count before and after the rules, pods kept and skipped.
    pub replicas: ReplicaReport,
    pub verdict: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub deployments: usize,
    pub deployments_with_fsb: usize,
    /// Deployments whose rollout without the plugin deletes pods holding FSB data.
    pub deployments_at_risk: usize,
    /// Deployments without FSB data that roll out (reported, not counted as a risk).
    pub rollouts_without_fsb: usize,
    pub fsb_pods_at_risk: usize,
    /// Deployments with FSB data that roll out even with the plugin.
    pub at_risk_with_plugin: usize,
    pub stateful_sets: usize,
    pub stateful_sets_at_risk: usize,
    pub daemon_sets: usize,
    pub daemon_sets_at_risk: usize,
    /// Workloads of every kind whose rollout or scale-down deletes pods holding FSB data.
    pub workloads_at_risk: usize,
    /// Workloads of every kind whose replica count the rules change.
    pub replica_changes: usize,
    /// Pod volumes whose FSB data is not restored even with the plugin (the final replica count
    /// is below the pods holding their own data).
    pub fsb_volumes_not_restored: usize,
    /// `true` when `--exit-code` exits 3.
    pub fsb_data_at_risk: bool,
    pub verdict: String,
}

fn layout_id(layout: BackupLayout) -> &'static str {
    match layout {
        BackupLayout::Archive => "archive",
        BackupLayout::Directory => "directory",
        BackupLayout::BucketFolder => "bucket-folder",
    }
}

/// Runs the guard's plan for every Deployment and words the result.
pub fn analyse(backup: &LoadedBackup, rules: &LoadedRules, fsb: &FsbSource) -> Result<Analysis> {
    let engine = VeleroEngine;
    let settings = Settings::default();
    let index = &backup.index;
    // Group ReplicaSets and pods by namespace once: plan_workload filters its inputs.
    let mut by_ns: BTreeMap<&str, (Vec<Value>, Vec<Value>)> = BTreeMap::new();
    for (key, rs) in index.items_of(Resource::REPLICA_SETS) {
        by_ns.entry(&key.namespace).or_default().0.push(rs.clone());
    }
    for (key, pod) in index.items_of(Resource::PODS) {
        by_ns.entry(&key.namespace).or_default().1.push(pod.clone());
    }
    let empty = (Vec::new(), Vec::new());
    let mut plans = Vec::new();
    let mut reports = Vec::new();
    for (key, deployment) in index.items_of(Resource::DEPLOYMENTS) {
        let (replicasets, pods) = by_ns.get(key.namespace.as_str()).unwrap_or(&empty);
        let plan = deployment::plan(
            &engine,
            &rules.rules,
            DeploymentInputs {
                deployment,
                replicasets,
                pods,
                fsb: &fsb.index,
                settings: &settings,
            },
        )
        .map_err(|source| Error::Guard {
            workload: format!("{}/{}", key.namespace, key.name),
            source,
        })?;
        reports.push(report_for(&plan));
        plans.push(plan);
    }
    let (stateful_sets, statefulset_plans) =
        workloads::statefulsets(index, &rules.rules, &fsb.index)?;
    let (daemon_sets, daemonset_plans) = workloads::daemonsets(index, &rules.rules, &fsb.index)?;
    let lint = lint::lint(&engine, &rules.rules, index, &plans);
    let summary = summarise(&reports, &stateful_sets, &daemon_sets);
    Ok(Analysis {
        schema_version: 1,
        backup: BackupInfo {
            source: backup.label.clone(),
            layout: layout_id(backup.layout),
            format_version: index.format_version().to_owned(),
            deployments: index.items_of(Resource::DEPLOYMENTS).count(),
            replica_sets: index.items_of(Resource::REPLICA_SETS).count(),
            pods: index.items_of(Resource::PODS).count(),
            stateful_sets: index.items_of(Resource::STATEFUL_SETS).count(),
            daemon_sets: index.items_of(Resource::DAEMON_SETS).count(),
            controller_revisions: index.items_of(Resource::CONTROLLER_REVISIONS).count(),
        },
        resource_modifiers: RulesInfo {
            source: rules.label.clone(),
            rules: rules.rules.rules().len(),
        },
        fsb_source: FsbSourceInfo {
            kind: fsb.kind.id(),
            description: fsb.description.clone(),
        },
        deployments: reports,
        stateful_sets,
        daemon_sets,
        lint,
        summary,
        plans,
        statefulset_plans,
        daemonset_plans,
    })
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn report_for(plan: &DeploymentPlan) -> DeploymentReport {
    let fsb_pods: Vec<PodVolumes> = plan
        .fsb_pods
        .iter()
        .map(|p| PodVolumes {
            pod: p.name.clone(),
            volumes: p.volumes.iter().cloned().collect(),
        })
        .collect();
    let rollout = plan.rolls_without_guard;
    let replicas = deployment_replicas(plan);
    // A rollout deletes every restored pod; a scale-down below the restored pods deletes some,
    // not-ready (restoring) ones first.
    let at_risk = if rollout {
        fsb_pods.clone()
    } else {
        replicas.at_risk_without_plugin.clone()
    };
    let pods: Vec<PodAction> = plan
        .pods
        .iter()
        .map(|(name, c)| PodAction {
            pod: name.clone(),
            re_emitted: c.re_emitted.clone(),
            withheld: c.withheld.clone(),
            broken: c.broken.clone(),
        })
        .collect();
    let mut withheld: Vec<String> = pods.iter().flat_map(|p| p.withheld.clone()).collect();
    withheld.sort();
    withheld.dedup();
    let replica_sets: Vec<ReplicaSetAction> = plan
        .replicasets
        .iter()
        .map(|(name, d)| match d {
            ReplicaSetDecision::Unchanged => ReplicaSetAction {
                replica_set: name.clone(),
                action: "unchanged",
                rules_change_it_after: false,
            },
            ReplicaSetDecision::Retemplated {
                rules_change_it_after,
                ..
            } => ReplicaSetAction {
                replica_set: name.clone(),
                action: "retemplated",
                rules_change_it_after: *rules_change_it_after,
            },
            ReplicaSetDecision::PastRevisionSetApart { .. } => ReplicaSetAction {
                replica_set: name.clone(),
                action: "past-revision-set-apart",
                rules_change_it_after: false,
            },
        })
        .collect();
    let (action, reason) = match (&plan.change, &plan.skipped) {
        (None, _) if !replicas.skipped.is_empty() => ("corrects", None),
        (None, _) => ("nothing-to-do", None),
        (Some(_), Some(why)) => ("leaves-alone", Some(why.clone())),
        (Some(_), None) => ("corrects", None),
    };
    let rollout_with_plugin = rollout && action != "corrects";
    let change = plan.change.as_ref();
    let n_fsb = fsb_pods.len();
    let replicas_worded = replicas.change != "unchanged" || !replicas.skipped.is_empty();
    let mut verdict = if !rollout && !at_risk.is_empty() {
        format!("AT RISK without the plugin: {}", replicas.summary)
    } else if !rollout {
        if n_fsb > 0 {
            "safe: the rules leave the pod template as it is; no rollout".to_owned()
        } else {
            "no rollout; no file-system-backup data".to_owned()
        }
    } else if n_fsb == 0 {
        "rolls out (pod template changes) but holds no file-system-backup data: not counted as a risk"
            .to_owned()
    } else if rollout_with_plugin {
        format!(
            "AT RISK even with the plugin ({}): the rollout deletes {} holding file-system-backup data",
            reason.clone().unwrap_or_default(),
            plural(n_fsb, "pod", "pods")
        )
    } else {
        let rs = plan.current_replicaset.clone().unwrap_or_default();
        let mut v = format!(
            "AT RISK without the plugin: the rollout deletes {} before the file-system restore finishes; with velero-fsb-guard: no rollout (pods and ReplicaSet {rs} carry the change)",
            plural(n_fsb, "pod", "pods")
        );
        if !withheld.is_empty() {
            v.push_str(&format!(
                "; withheld from pods to keep their restore working: {}",
                withheld.join(", ")
            ));
        }
        v
    };
    if replicas_worded && !(!rollout && !at_risk.is_empty()) {
        verdict.push_str("; ");
        verdict.push_str(&replicas.summary);
    }
    DeploymentReport {
        namespace: plan.namespace.clone(),
        name: plan.deployment.clone(),
        fsb_pods,
        rollout_without_plugin: rollout,
        template_paths: change.map(|c| c.paths.clone()).unwrap_or_default(),
        rule_errors: change.map(|c| c.rule_errors.clone()).unwrap_or_default(),
        at_risk,
        plugin: PluginReport {
            action,
            reason,
            current_replica_set: plan.current_replicaset.clone(),
            pods,
            replica_sets,
            withheld,
        },
        rollout_with_plugin,
        replicas,
        verdict,
    }
}

/// One workload in the summary, whatever its kind.
struct Risk<'a> {
    label: String,
    at_risk: &'a [PodVolumes],
    with_plugin: bool,
    /// A rollout (else a scale-down) puts the pods at risk.
    rollout: bool,
}

fn summarise(
    reports: &[DeploymentReport],
    stateful_sets: &[StatefulSetReport],
    daemon_sets: &[DaemonSetReport],
) -> Summary {
    let with_fsb = reports.iter().filter(|r| !r.fsb_pods.is_empty()).count();
    let at_risk: Vec<&DeploymentReport> =
        reports.iter().filter(|r| !r.at_risk.is_empty()).collect();
    let rollouts_without_fsb = reports
        .iter()
        .filter(|r| r.rollout_without_plugin && r.fsb_pods.is_empty())
        .count();
    let at_risk_with_plugin = at_risk.iter().filter(|r| r.rollout_with_plugin).count();
    let mut risks: Vec<Risk> = Vec::new();
    for r in &at_risk {
        risks.push(Risk {
            label: format!("Deployment {}/{}", r.namespace, r.name),
            at_risk: &r.at_risk,
            with_plugin: r.rollout_with_plugin,
            rollout: r.rollout_without_plugin,
        });
    }
    for r in stateful_sets.iter().filter(|r| !r.at_risk.is_empty()) {
        risks.push(Risk {
            label: format!("StatefulSet {}/{}", r.namespace, r.name),
            at_risk: &r.at_risk,
            with_plugin: r.rollout_with_plugin,
            rollout: r.rollout_without_plugin,
        });
    }
    for r in daemon_sets.iter().filter(|r| !r.at_risk.is_empty()) {
        risks.push(Risk {
            label: format!("DaemonSet {}/{}", r.namespace, r.name),
            at_risk: &r.at_risk,
            with_plugin: r.rollout_with_plugin,
            rollout: r.rollout_without_plugin,
        });
    }
    let fsb_pods_at_risk: usize = risks.iter().map(|r| r.at_risk.len()).sum();
    let replica_reports = reports
        .iter()
        .map(|r| &r.replicas)
        .chain(stateful_sets.iter().map(|r| &r.replicas));
    let mut replica_changes = 0;
    let mut not_restored: Vec<String> = Vec::new();
    for r in replica_reports {
        if r.change != "unchanged" {
            replica_changes += 1;
        }
        for p in &r.fsb_data_not_restored {
            not_restored.extend(p.volumes.iter().map(|v| format!("{}/{v}", p.pod)));
        }
    }
    let workloads_with_fsb = with_fsb
        + stateful_sets
            .iter()
            .filter(|r| !r.fsb_pods.is_empty())
            .count()
        + daemon_sets
            .iter()
            .filter(|r| !r.fsb_pods.is_empty())
            .count();
    let names = |rs: &[&Risk]| {
        rs.iter()
            .map(|r| r.label.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut verdict = if risks.is_empty() {
        let mut v = format!(
            "OK: no rollout or scale-down would delete pods holding file-system-backup data ({} with FSB data checked)",
            plural(workloads_with_fsb, "workload", "workloads")
        );
        if rollouts_without_fsb > 0 {
            v.push_str(&format!(
                "; {} without FSB data would roll out",
                plural(rollouts_without_fsb, "Deployment", "Deployments")
            ));
        }
        v
    } else {
        let still: Vec<&Risk> = risks.iter().filter(|r| r.with_plugin).collect();
        let with_plugin = if still.is_empty() {
            "with velero-fsb-guard installed none of them deletes a pod while it restores"
                .to_owned()
        } else {
            format!(
                "even with velero-fsb-guard {} still roll out",
                names(&still)
            )
        };
        let all: Vec<&Risk> = risks.iter().collect();
        let verb = match (
            risks.iter().any(|r| r.rollout),
            risks.iter().any(|r| !r.rollout),
        ) {
            (true, false) => "roll out",
            (false, true) => "scale down",
            _ => "roll out or scale down",
        };
        format!(
            "AT RISK: without the plugin, {} ({}) would {verb}, deleting restoring pods ({} holding file-system-backup data at risk); {with_plugin}",
            plural(risks.len(), "workload", "workloads"),
            names(&all),
            plural(fsb_pods_at_risk, "pod", "pods"),
        )
    };
    if !not_restored.is_empty() {
        verdict.push_str(&format!(
            "; the final replica counts leave FSB data unrestored even with the plugin: {}",
            not_restored.join(", ")
        ));
    }
    Summary {
        deployments: reports.len(),
        deployments_with_fsb: with_fsb,
        deployments_at_risk: at_risk.len(),
        rollouts_without_fsb,
        fsb_pods_at_risk,
        at_risk_with_plugin,
        stateful_sets: stateful_sets.len(),
        stateful_sets_at_risk: stateful_sets
            .iter()
            .filter(|r| !r.at_risk.is_empty())
            .count(),
        daemon_sets: daemon_sets.len(),
        daemon_sets_at_risk: daemon_sets.iter().filter(|r| !r.at_risk.is_empty()).count(),
        workloads_at_risk: risks.len(),
        replica_changes,
        fsb_volumes_not_restored: not_restored.len(),
        fsb_data_at_risk: !risks.is_empty(),
        verdict,
    }
}
