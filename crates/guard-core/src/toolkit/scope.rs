//! Which workloads the guard protects in a restore, and where their objects land.

use std::collections::BTreeSet;

use serde_json::Value;

use super::owners::{Kind, Workload};
use crate::fsb::FsbIndex;
use crate::resources::Resource;
use crate::restore::history_owner;
use crate::settings::{Scope, Settings};

/// Why the guard leaves a workload alone before looking at what the rules do to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutOfScope {
    /// `includeNamespaces` / `excludeNamespaces` leave its (backup) namespace out.
    Namespace,
    /// Scope `fsb-only` and none of its pods holds file-system-backup data.
    NoFsbData,
}

impl OutOfScope {
    /// The guard's rule, the same for every kind.
    pub fn check(settings: &Settings, namespace: &str, has_fsb_pods: bool) -> Option<Self> {
        if !settings.namespace_in_scope(namespace) {
            return Some(Self::Namespace);
        }
        (settings.scope == Scope::FsbOnly && !has_fsb_pods).then_some(Self::NoFsbData)
    }

    /// What the restore log says.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Namespace => "namespace out of scope",
            Self::NoFsbData => "no pod with file-system-backup data; nothing to protect",
        }
    }

    /// The cause alone (`check` reports a Deployment's reason so since schema version 1).
    pub fn cause(self) -> &'static str {
        match self {
            Self::Namespace => "namespace out of scope",
            Self::NoFsbData => "no pod with file-system-backup data",
        }
    }
}

/// The backed-up workloads with at least one pod holding FSB data, computed once per restore.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FsbWorkloads(BTreeSet<Workload>);

impl FsbWorkloads {
    /// From the backed-up pods and the restore's FSB index.
    pub fn of<'a>(pods: impl IntoIterator<Item = &'a Value>, fsb: &FsbIndex) -> Self {
        let mut workloads = Self::default();
        for pod in pods {
            workloads.add_pod(pod, fsb);
        }
        workloads
    }

    /// Counts the workload of the backed-up `pod` when the pod holds FSB data; returns the pod's
    /// workload, FSB data or not.
    pub fn add_pod(&mut self, pod: &Value, fsb: &FsbIndex) -> Option<Workload> {
        let workload = Workload::owning(pod)?;
        if !fsb.volumes_of(pod).is_empty() {
            self.0.insert(workload.clone());
        }
        Some(workload)
    }

    pub fn contains(&self, workload: &Workload) -> bool {
        self.0.contains(workload)
    }

    /// Whether the backed-up `object` of `resource` is one a plan of these workloads reads: the
    /// workload itself, its ReplicaSets or ControllerRevisions, or its pods.
    pub fn own(&self, resource: Resource, object: &Value) -> bool {
        let owner = match resource {
            r if r == Resource::PODS => Workload::owning(object),
            r if r == Resource::REPLICA_SETS || r == Resource::CONTROLLER_REVISIONS => {
                history_owner(object)
            }
            r if r == Resource::DEPLOYMENTS => Some(Workload::of(Kind::Deployment, object)),
            r if r == Resource::STATEFUL_SETS => Some(Workload::of(Kind::StatefulSet, object)),
            r if r == Resource::DAEMON_SETS => Some(Workload::of(Kind::DaemonSet, object)),
            _ => None,
        };
        owner.is_some_and(|w| self.contains(&w))
    }
}

/// Where the restore puts objects of backup namespace `namespace` (`spec.namespaceMapping`).
pub fn target_namespace<'a>(restore: &'a Value, namespace: &'a str) -> &'a str {
    restore
        .pointer("/spec/namespaceMapping")
        .and_then(|m| m.get(namespace))
        .and_then(Value::as_str)
        .unwrap_or(namespace)
}
