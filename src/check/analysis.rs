//! The analysis: the guard's own [`plan_workload`] over every backed-up Deployment, turned into a
//! report. No decision is re-implemented here; this module only gathers inputs and words results.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use super::error::{Error, Result};
use super::fsb::FsbSource;
use super::input::{LoadedBackup, LoadedRules};
use super::lint::{self, LintWarning};
use crate::backup::{BackupLayout, DEPLOYMENTS, PODS, REPLICA_SETS};
use crate::guard::{
    ReplicaSetDecision, Settings, VeleroEngine, WorkloadInputs, WorkloadPlan, plan_workload,
};

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
    pub lint: Vec<LintWarning>,
    pub summary: Summary,
    /// The guard's plans, for the output writers.
    #[serde(skip)]
    pub plans: Vec<WorkloadPlan>,
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
    for (key, rs) in index.items_of(REPLICA_SETS) {
        by_ns.entry(&key.namespace).or_default().0.push(rs.clone());
    }
    for (key, pod) in index.items_of(PODS) {
        by_ns.entry(&key.namespace).or_default().1.push(pod.clone());
    }
    let empty = (Vec::new(), Vec::new());
    let mut plans = Vec::new();
    let mut reports = Vec::new();
    for (key, deployment) in index.items_of(DEPLOYMENTS) {
        let (replicasets, pods) = by_ns.get(key.namespace.as_str()).unwrap_or(&empty);
        let plan = plan_workload(
            &engine,
            &rules.rules,
            WorkloadInputs {
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
    let lint = lint::lint(&engine, &rules.rules, index, &plans);
    let summary = summarise(&reports);
    Ok(Analysis {
        schema_version: 1,
        backup: BackupInfo {
            source: backup.label.clone(),
            layout: layout_id(backup.layout),
            format_version: index.format_version().to_owned(),
            deployments: index.items_of(DEPLOYMENTS).count(),
            replica_sets: index.items_of(REPLICA_SETS).count(),
            pods: index.items_of(PODS).count(),
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
        lint,
        summary,
        plans,
    })
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn report_for(plan: &WorkloadPlan) -> DeploymentReport {
    let fsb_pods: Vec<PodVolumes> = plan
        .fsb_pods
        .iter()
        .map(|p| PodVolumes {
            pod: p.name.clone(),
            volumes: p.volumes.iter().cloned().collect(),
        })
        .collect();
    let rollout = plan.rolls_without_guard;
    let at_risk = if rollout {
        fsb_pods.clone()
    } else {
        Vec::new()
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
        (None, _) => ("nothing-to-do", None),
        (Some(_), Some(why)) => ("leaves-alone", Some(why.clone())),
        (Some(_), None) => ("corrects", None),
    };
    let rollout_with_plugin = rollout && action != "corrects";
    let change = plan.change.as_ref();
    let n_fsb = fsb_pods.len();
    let verdict = if !rollout {
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
        verdict,
    }
}

fn summarise(reports: &[DeploymentReport]) -> Summary {
    let with_fsb = reports.iter().filter(|r| !r.fsb_pods.is_empty()).count();
    let at_risk: Vec<&DeploymentReport> =
        reports.iter().filter(|r| !r.at_risk.is_empty()).collect();
    let rollouts_without_fsb = reports
        .iter()
        .filter(|r| r.rollout_without_plugin && r.fsb_pods.is_empty())
        .count();
    let fsb_pods_at_risk: usize = at_risk.iter().map(|r| r.at_risk.len()).sum();
    let at_risk_with_plugin = at_risk.iter().filter(|r| r.rollout_with_plugin).count();
    let names = |rs: &[&DeploymentReport]| {
        rs.iter()
            .map(|r| format!("{}/{}", r.namespace, r.name))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let verdict = if at_risk.is_empty() {
        let mut v = format!(
            "OK: no rollout would delete pods holding file-system-backup data ({} with FSB data checked)",
            plural(with_fsb, "Deployment", "Deployments")
        );
        if rollouts_without_fsb > 0 {
            v.push_str(&format!(
                "; {} without FSB data would roll out",
                plural(rollouts_without_fsb, "Deployment", "Deployments")
            ));
        }
        v
    } else {
        let with_plugin = if at_risk_with_plugin == 0 {
            "with velero-fsb-guard installed none of them rolls out".to_owned()
        } else {
            let still: Vec<&DeploymentReport> = at_risk
                .iter()
                .copied()
                .filter(|r| r.rollout_with_plugin)
                .collect();
            format!(
                "even with velero-fsb-guard {} still roll out",
                names(&still)
            )
        };
        format!(
            "AT RISK: without the plugin, {} ({}) would roll out and delete {} holding file-system-backup data; {with_plugin}",
            plural(at_risk.len(), "Deployment", "Deployments"),
            names(&at_risk),
            plural(fsb_pods_at_risk, "pod", "pods"),
        )
    };
    Summary {
        deployments: reports.len(),
        deployments_with_fsb: with_fsb,
        deployments_at_risk: at_risk.len(),
        rollouts_without_fsb,
        fsb_pods_at_risk,
        at_risk_with_plugin,
        fsb_data_at_risk: !at_risk.is_empty(),
        verdict,
    }
}
