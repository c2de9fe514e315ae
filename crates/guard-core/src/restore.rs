//! The inputs of one restore, as every decision reads them: the rules, the settings, the
//! backed-up objects and which pods hold file-system-backup data.

use serde_json::Value;

use crate::engine::{Rules, VeleroEngine};
use crate::fsb::FsbIndex;
use crate::settings::Settings;
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
    /// The backed-up workload object (Deployment, StatefulSet or DaemonSet).
    pub fn workload(&self, workload: &Workload) -> Option<&Value> {
        let objects = match workload.kind {
            Kind::Deployment => &self.deployments,
            Kind::StatefulSet => &self.statefulsets,
            Kind::DaemonSet => &self.daemonsets,
        };
        objects
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
}

impl RestoreInputs<'_> {
    /// Why the guard leaves `workload` alone ([`OutOfScope::check`]), before any rule is applied.
    pub fn out_of_scope(&self, workload: &Workload) -> Option<OutOfScope> {
        OutOfScope::check(
            self.settings,
            &workload.namespace,
            self.fsb_workloads.contains(workload),
        )
    }
}
