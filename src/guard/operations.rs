//! What the guard does to the live cluster, as data: each kind's file turns its plan into a list of
//! these, and the [`Executor`](super::executor::Executor) carries them out.

use serde_json::Value;

/// One write to the live cluster.
#[derive(Debug, Clone, PartialEq)]
pub enum Operation {
    /// An RFC 6902 patch of a live ReplicaSet whose first operation tests the `resourceVersion`
    /// read: a concurrent writer makes it fail (Conflict) instead of being overwritten.
    PatchReplicaSet {
        namespace: String,
        name: String,
        patch: Value,
    },
    /// Delete a live ControllerRevision if it is still the one read (`uid` and `resourceVersion`
    /// preconditions), then create it again from `body`, sent byte for byte (the API server keeps
    /// a revision's `data` bytes verbatim and the StatefulSet controller compares those bytes).
    RecreateRevision {
        namespace: String,
        name: String,
        uid: Option<String>,
        resource_version: Option<String>,
        body: Vec<u8>,
    },
    /// Set one label on restored pods.
    Relabel(Relabel),
    /// Delete a parked pod once its volume data landed, if it is still the pod read (`uid`
    /// precondition: a pod created since under the same name is not touched).
    DeletePod {
        namespace: String,
        name: String,
        uid: Option<String>,
    },
}

/// Set `label` = `value` on `pods` with a label-only merge patch each: labels are mutable on a
/// running pod, so nothing restarts. No `resourceVersion` precondition: one label is set, and a
/// pod's status moves on constantly while its volumes restore.
#[derive(Debug, Clone, PartialEq)]
pub struct Relabel {
    /// Namespace the pods were restored into.
    pub namespace: String,
    pub pods: Vec<String>,
    pub label: &'static str,
    pub value: String,
    pub purpose: RelabelFor,
}

/// What a relabel makes the pods count as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelabelFor {
    /// Pods of the StatefulSet revision the controller will create for `T'`.
    Revision,
    /// Pods of the generation the restored DaemonSet will have.
    Generation,
}

impl Operation {
    /// What the debug line says when the object changed under the operation (HTTP 409/422).
    pub fn changed_while(&self) -> String {
        match self {
            Self::PatchReplicaSet {
                namespace, name, ..
            } => format!("ReplicaSet {namespace}/{name} changed while aligning it"),
            Self::RecreateRevision {
                namespace, name, ..
            } => format!("ControllerRevision {namespace}/{name} changed while replacing it"),
            Self::Relabel(relabel) => format!("pods in {} changed", relabel.namespace),
            Self::DeletePod {
                namespace, name, ..
            } => format!("pod {namespace}/{name} was replaced since it was read"),
        }
    }
}
