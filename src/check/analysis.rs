//! The analysis: the guard's own plans over every backed-up Deployment, StatefulSet and DaemonSet,
//! turned into a report. No decision is re-implemented here; this module only gathers inputs and
//! words results.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use super::error::{Error, Result};
use super::fsb::FsbSource;
use super::input::{LoadedBackup, LoadedRules};
use super::lint::{self, LintWarning};
use super::workload::{ReplicaReport, WorkloadReport};
use super::{daemonset, deployment, statefulset};
use fsb_guard_core::daemonset::DaemonSetPlan;
use fsb_guard_core::deployment::DeploymentPlan;
use fsb_guard_core::plans::WorkloadPlan;
use fsb_guard_core::statefulset::StatefulSetPlan;
use fsb_guard_core::toolkit::owners::statefulset_owner;
use fsb_guard_core::{
    BackedUp, BackupObjects, FsbIndex, Kind, Resource, Rules, Settings, VeleroEngine,
};

use crate::backup::{BackupIndex, BackupLayout};

/// Everything the check found.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Analysis {
    /// Report schema version (docs/check.md).
    pub schema_version: u32,
    pub backup: BackupInfo,
    pub resource_modifiers: RulesInfo,
    pub fsb_source: FsbSourceInfo,
    pub deployments: Vec<WorkloadReport>,
    pub stateful_sets: Vec<WorkloadReport>,
    pub daemon_sets: Vec<WorkloadReport>,
    pub lint: Vec<LintWarning>,
    pub summary: Summary,
    /// With `--target-workloads`: backed-up workloads with FSB pods that exist in the target.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub existing_workloads: Option<Vec<super::existing::ExistingWorkload>>,
    /// The guard's plans, for the output writers.
    #[serde(skip)]
    pub plans: Plans,
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

/// The guard's plans for every workload of the backup, kind by kind in the backup's order.
#[derive(Debug, Clone, Default)]
pub struct Plans {
    pub deployments: Vec<DeploymentPlan>,
    pub statefulsets: Vec<StatefulSetPlan>,
    pub daemonsets: Vec<DaemonSetPlan>,
}

/// The backed-up pods and histories by namespace, each grouped by owner: what a workload's plan
/// reads (its own).
fn by_namespace(index: &BackupIndex) -> BTreeMap<&str, BackupObjects> {
    let mut by_ns: BTreeMap<&str, BackupObjects> = BTreeMap::new();
    let mut add = |resource, pick: fn(&mut BackupObjects) -> &mut Vec<Value>| {
        for (key, object) in index.items_of(resource) {
            pick(by_ns.entry(&key.namespace).or_default()).push(object.clone());
        }
    };
    add(Resource::REPLICA_SETS, |ns| &mut ns.replicasets);
    add(Resource::PODS, |ns| &mut ns.pods);
    add(Resource::CONTROLLER_REVISIONS, |ns| {
        &mut ns.controllerrevisions
    });
    for objects in by_ns.values_mut() {
        objects.arrange_by_owner();
    }
    by_ns
}

/// Runs the guard's plan for every workload of the backup, as the plugin would during a restore
/// with `rules` (the default settings: a plan is what `enforce` would do).
pub fn plan_every_workload(index: &BackupIndex, rules: &Rules, fsb: &FsbIndex) -> Result<Plans> {
    let by_ns = by_namespace(index);
    let every = Every {
        index,
        rules,
        fsb,
        by_ns: &by_ns,
        settings: &Settings::default(),
    };
    Ok(Plans {
        deployments: every.plan(Resource::DEPLOYMENTS)?,
        statefulsets: every.plan(Resource::STATEFUL_SETS)?,
        daemonsets: every.plan(Resource::DAEMON_SETS)?,
    })
}

/// What every plan of the backup reads.
struct Every<'a> {
    index: &'a BackupIndex,
    rules: &'a Rules,
    fsb: &'a FsbIndex,
    by_ns: &'a BTreeMap<&'a str, BackupObjects>,
    settings: &'a Settings,
}

impl Every<'_> {
    /// The plan of every backed-up `resource` (of kind `P::KIND`), with its namespace's objects.
    fn plan<P: WorkloadPlan>(&self, resource: Resource) -> Result<Vec<P>> {
        let empty = BackupObjects::default();
        // A Deployment is named `ns/name` after the error's own "Deployment " (schema 1 wording).
        let kind = match P::KIND {
            Kind::Deployment => String::new(),
            other => format!("{} ", other.as_str()),
        };
        self.index
            .items_of(resource)
            .map(|(key, workload)| {
                let ns = self.by_ns.get(key.namespace.as_str()).unwrap_or(&empty);
                let (pods, history) = ns.owned_by(P::KIND, workload);
                let backed_up = BackedUp {
                    workload,
                    history: &history,
                    pods: &pods,
                    fsb: self.fsb,
                    settings: self.settings,
                };
                P::plan(&VeleroEngine, self.rules, backed_up).map_err(|source| Error::Guard {
                    workload: format!("{kind}{}/{}", key.namespace, key.name),
                    source,
                })
            })
            .collect()
    }
}

/// Names of the backed-up pods of StatefulSet `namespace/name` that Velero restores (not those
/// that finished).
fn restored_pods_of(index: &BackupIndex, namespace: &str, name: &str) -> Vec<String> {
    index
        .items_in(Resource::PODS, namespace)
        .filter(|(_, p)| statefulset_owner(p) == Some(name))
        .filter(|(_, p)| {
            !matches!(
                p.pointer("/status/phase").and_then(Value::as_str),
                Some("Succeeded" | "Failed")
            )
        })
        .map(|(k, _)| k.name.clone())
        .collect()
}

/// Runs the guard's plan for every workload and words the result.
pub fn analyse(backup: &LoadedBackup, rules: &LoadedRules, fsb: &FsbSource) -> Result<Analysis> {
    let index = &backup.index;
    let plans = plan_every_workload(index, &rules.rules, &fsb.index)?;
    let deployments: Vec<WorkloadReport> =
        plans.deployments.iter().map(deployment::report).collect();
    let stateful_sets: Vec<WorkloadReport> = plans
        .statefulsets
        .iter()
        .map(|p| statefulset::report(p, &restored_pods_of(index, &p.namespace, &p.statefulset)))
        .collect();
    let daemon_sets: Vec<WorkloadReport> = plans.daemonsets.iter().map(daemonset::report).collect();
    let lint = lint::lint(&VeleroEngine, &rules.rules, index, &plans.deployments);
    let summary = summarise(&deployments, &stateful_sets, &daemon_sets);
    let count = |resource| index.items_of(resource).count();
    Ok(Analysis {
        schema_version: 1,
        backup: BackupInfo {
            source: backup.label.clone(),
            layout: layout_id(backup.layout),
            format_version: index.format_version().to_owned(),
            deployments: count(Resource::DEPLOYMENTS),
            replica_sets: count(Resource::REPLICA_SETS),
            pods: count(Resource::PODS),
            stateful_sets: count(Resource::STATEFUL_SETS),
            daemon_sets: count(Resource::DAEMON_SETS),
            controller_revisions: count(Resource::CONTROLLER_REVISIONS),
        },
        resource_modifiers: RulesInfo {
            source: rules.label.clone(),
            rules: rules.rules.rules().len(),
        },
        fsb_source: FsbSourceInfo {
            kind: fsb.kind.id(),
            description: fsb.description.clone(),
        },
        deployments,
        stateful_sets,
        daemon_sets,
        lint,
        summary,
        existing_workloads: None,
        plans,
    })
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// How many workloads the verdict names; the report lists every one above it.
const VERDICT_NAMES: usize = 10;

/// The workloads' labels, at most [`VERDICT_NAMES`] of them and then how many more: a backup of
/// thousands of workloads keeps a verdict of one readable line.
fn labels(workloads: &[&WorkloadReport]) -> String {
    let mut text = workloads
        .iter()
        .take(VERDICT_NAMES)
        .map(|w| w.label())
        .collect::<Vec<_>>()
        .join(", ");
    if workloads.len() > VERDICT_NAMES {
        text.push_str(&format!(
            " and {} more, each listed above",
            workloads.len() - VERDICT_NAMES
        ));
    }
    text
}

/// The verdict over every workload at risk (Deployments, then StatefulSets, then DaemonSets).
fn verdict(
    risks: &[&WorkloadReport],
    workloads_with_fsb: usize,
    rollouts_without_fsb: usize,
) -> String {
    if risks.is_empty() {
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
        return v;
    }
    let still: Vec<&WorkloadReport> = risks
        .iter()
        .copied()
        .filter(|w| w.rollout_with_plugin)
        .collect();
    let with_plugin = if still.is_empty() {
        "with velero-fsb-guard installed none of them deletes a pod while it restores".to_owned()
    } else {
        format!(
            "even with velero-fsb-guard {} still roll out",
            labels(&still)
        )
    };
    let verb = match (
        risks.iter().any(|w| w.rollout_without_plugin),
        risks.iter().any(|w| !w.rollout_without_plugin),
    ) {
        (true, false) => "roll out",
        (false, true) => "scale down",
        _ => "roll out or scale down",
    };
    let fsb_pods_at_risk: usize = risks.iter().map(|w| w.at_risk.len()).sum();
    format!(
        "AT RISK: without the plugin, {} ({}) would {verb}, deleting restoring pods ({} holding file-system-backup data at risk); {with_plugin}",
        plural(risks.len(), "workload", "workloads"),
        labels(risks),
        plural(fsb_pods_at_risk, "pod", "pods"),
    )
}

fn summarise(
    deployments: &[WorkloadReport],
    stateful_sets: &[WorkloadReport],
    daemon_sets: &[WorkloadReport],
) -> Summary {
    let at_risk = |list: &[WorkloadReport]| list.iter().filter(|w| !w.at_risk.is_empty()).count();
    let with_fsb = |list: &[WorkloadReport]| list.iter().filter(|w| !w.fsb_pods.is_empty()).count();
    let all = || deployments.iter().chain(stateful_sets).chain(daemon_sets);
    let risks: Vec<&WorkloadReport> = all().filter(|w| !w.at_risk.is_empty()).collect();
    let rollouts_without_fsb = deployments
        .iter()
        .filter(|w| w.rollout_without_plugin && w.fsb_pods.is_empty())
        .count();
    let replicas: Vec<&ReplicaReport> = all().filter_map(|w| w.replicas.as_ref()).collect();
    let not_restored: Vec<String> = replicas
        .iter()
        .flat_map(|r| &r.fsb_data_not_restored)
        .flat_map(|p| p.volumes.iter().map(|v| format!("{}/{v}", p.pod)))
        .collect();
    let workloads_with_fsb =
        with_fsb(deployments) + with_fsb(stateful_sets) + with_fsb(daemon_sets);
    let mut verdict = verdict(&risks, workloads_with_fsb, rollouts_without_fsb);
    if !not_restored.is_empty() {
        verdict.push_str(&format!(
            "; the final replica counts leave FSB data unrestored even with the plugin: {}",
            not_restored.join(", ")
        ));
    }
    Summary {
        deployments: deployments.len(),
        deployments_with_fsb: with_fsb(deployments),
        deployments_at_risk: at_risk(deployments),
        rollouts_without_fsb,
        fsb_pods_at_risk: risks.iter().map(|w| w.at_risk.len()).sum(),
        at_risk_with_plugin: deployments
            .iter()
            .filter(|w| !w.at_risk.is_empty() && w.rollout_with_plugin)
            .count(),
        stateful_sets: stateful_sets.len(),
        stateful_sets_at_risk: at_risk(stateful_sets),
        daemon_sets: daemon_sets.len(),
        daemon_sets_at_risk: at_risk(daemon_sets),
        workloads_at_risk: risks.len(),
        replica_changes: replicas.iter().filter(|r| r.change != "unchanged").count(),
        fsb_volumes_not_restored: not_restored.len(),
        fsb_data_at_risk: !risks.is_empty(),
        verdict,
    }
}
