//! Which workloads the guard protects in a restore, and where their objects land.

use std::collections::BTreeSet;

use serde_json::Value;

use super::owners::Workload;
use crate::fsb::FsbIndex;
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
        Self(
            pods.into_iter()
                .filter_map(|pod| {
                    let workload = Workload::owning(pod)?;
                    (!fsb.volumes_of(pod).is_empty()).then_some(workload)
                })
                .collect(),
        )
    }

    pub fn contains(&self, workload: &Workload) -> bool {
        self.0.contains(workload)
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
