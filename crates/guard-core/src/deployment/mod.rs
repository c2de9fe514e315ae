//! Deployments: keeps file-system-backup restores alive when the restore's resource modifiers
//! change a Deployment's pod template or lower its replica count (design §1–§4, docs/replicas.md).
//!
//! Velero restores pods, then ReplicaSets, then Deployments, and applies the resource modifiers
//! after every plugin ran. A rule that changes a Deployment's `spec.template` (`T → T'`) makes the
//! restored ReplicaSet (template `T`) stale: the controller rolls out and deletes the restored pods
//! before their PodVolumeRestores finish. The guard re-emits `T → T'` where it cannot roll, one
//! step per restored item, each looking up the Deployment's [`DeploymentPlan`] ([`plan`], computed
//! once per restore):
//!
//! - **pods** ([`pod_step`]): `diff(T, T')` applied by merge key, FSB volumes and `restore-wait`
//!   untouched (unsafe parts withheld and reported); beyond a lowered replica count `R'`, not
//!   restored (`skipRestore`), pods holding FSB data kept first;
//! - **ReplicaSets** ([`replicaset_step`]): the current one gets `T'` with its own hash label (and
//!   `R'`), so the controller adopts it for the modified Deployment; a past revision already equal
//!   to `T'` is set apart so it is not picked instead;
//! - **the Deployment** ([`live_target`] + [`deployment_step`]): returned unchanged; the live
//!   ReplicaSet is verified and, if needed, aligned with one patch.

mod history;
mod live;
mod plan;
mod pod;
mod replicas;
mod replicaset;

#[cfg(test)]
mod pod_rules_too;
#[cfg(test)]
mod scenarios;

pub use history::{
    ANNOTATION_RULES_CHANGE_TEMPLATE, ANNOTATION_SUPERSEDED_BY, ANNOTATION_TEMPLATE_DIGEST,
    ReplicaSetDecision, correct_replicaset, current_replicaset, replicaset_hash,
};
pub use live::{DeploymentDecision, DeploymentOutcome, LiveTarget, deployment_step, live_target};
pub use plan::{DeploymentPlan, fsb_pods_of, plan};
pub use pod::pod_step;
pub use replicas::{
    ANNOTATION_DESIRED_REPLICAS, ANNOTATION_REPLICAS_LOWERED, PodChoice, ReplicaPlan, SkippedPod,
    align_desired_replicas, choose_pods, live_replica_ops, lower_replicaset, replica_plan,
};
pub use replicaset::replicaset_step;
