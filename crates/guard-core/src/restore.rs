//! The inputs of one restore, as every decision reads them: the rules, the settings, the
//! backed-up objects and which pods hold file-system-backup data.

use serde_json::Value;

use crate::engine::{Rules, VeleroEngine};
use crate::fsb::FsbIndex;
use crate::settings::Settings;
use crate::toolkit::memo::Plans;
use crate::toolkit::object::{name_of, namespace_of};
use crate::toolkit::owners::{Kind, Workload};
use crate::toolkit::scope::{FsbWorkloads, OutOfScope};

/// Backed-up workload objects the decisions need (from the backup contents).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BackupObjects {
    pub deployments: Vec<Value>,
    pub replicasets: Vec<Value>,
    pub pods: Vec<Value>,
    pub statefulsets: Vec<Value>,
    pub daemonsets: Vec<Value>,
    /// StatefulSet and DaemonSet history.
    pub controllerrevisions: Vec<Value>,
}

impl BackupObjects {
    /// A kind's history: ReplicaSets (Deployments) or ControllerRevisions (StatefulSets,
    /// DaemonSets).
    pub fn history(&self, kind: Kind) -> &[Value] {
        match kind {
            Kind::Deployment => &self.replicasets,
            Kind::StatefulSet | Kind::DaemonSet => &self.controllerrevisions,
        }
    }

    /// The backed-up workloads of `kind`.
    pub fn workloads(&self, kind: Kind) -> &[Value] {
        match kind {
            Kind::Deployment => &self.deployments,
            Kind::StatefulSet => &self.statefulsets,
            Kind::DaemonSet => &self.daemonsets,
        }
    }

    /// The backed-up workload object (Deployment, StatefulSet or DaemonSet).
    pub fn workload(&self, workload: &Workload) -> Option<&Value> {
        self.workloads(workload.kind)
            .iter()
            .find(|o| namespace_of(o) == workload.namespace && name_of(o) == workload.name)
    }
}

/// Everything a decision reads about the restore.
#[derive(Clone, Copy)]
pub struct RestoreInputs<'a> {
    pub engine: &'a VeleroEngine,
    pub rules: &'a Rules,
    pub settings: &'a Settings,
    pub backup: &'a BackupObjects,
    pub fsb: &'a FsbIndex,
    /// The workloads with FSB pods, computed once per restore ([`FsbWorkloads::of`]).
    pub fsb_workloads: &'a FsbWorkloads,
    /// The workloads' plans, each computed by the first item of the restore that needs it.
    pub plans: &'a Plans,
}

/// One backed-up workload and what its plan reads. Any objects may be passed: a plan keeps those
/// of its workload (namespace and controller owner).
#[derive(Debug, Clone, Copy)]
pub struct BackedUp<'a> {
    /// The workload as backed up (with `status` and `ownerReferences`).
    pub workload: &'a Value,
    /// Its history: ReplicaSets (Deployment) or ControllerRevisions (StatefulSet, DaemonSet).
    pub history: &'a [Value],
    pub pods: &'a [Value],
    /// Which pods hold FSB data.
    pub fsb: &'a FsbIndex,
    /// Scope and namespace filters (the mode is ignored: a plan is what `enforce` would do).
    pub settings: &'a Settings,
}

/// One item as Velero hands it to the plugin's `Execute`.
#[derive(Debug, Clone, Copy)]
pub struct Item<'a> {
    /// As received: Velero's own actions ran (an FSB pod has `restore-wait`), earlier plugins may
    /// have changed it, the resource modifiers have not run yet.
    pub received: &'a Value,
    /// The backed-up copy (with `ownerReferences` and `status`).
    pub from_backup: &'a Value,
    /// The Restore (namespace mapping, annotations).
    pub restore: &'a Value,
}

impl RestoreInputs<'_> {
    /// Backed-up `workload` of `kind` with this restore's objects.
    pub fn backed_up<'a>(&'a self, kind: Kind, workload: &'a Value) -> BackedUp<'a> {
        BackedUp {
            workload,
            history: self.backup.history(kind),
            pods: &self.backup.pods,
            fsb: self.fsb,
            settings: self.settings,
        }
    }

    /// Why the guard leaves `workload` alone ([`OutOfScope::check`]), before any rule is applied.
    pub fn out_of_scope(&self, workload: &Workload) -> Option<OutOfScope> {
        OutOfScope::check(
            self.settings,
            &workload.namespace,
            self.fsb_workloads.contains(workload),
        )
    }
}
