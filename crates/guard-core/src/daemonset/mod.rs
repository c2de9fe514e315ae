//! DaemonSets: restored file-system-backup pods stay current when the restore's rules change the
//! DaemonSet's pod template (facts §3, §4.3; docs/daemonsets.md).
//!
//! The DaemonSet controller counts a pod as up to date when its `controller-revision-hash` label
//! matches the current ControllerRevision **or** its `pod-template-generation` label equals the
//! DaemonSet's `deprecated.daemonset.template.generation` annotation. The API server keeps that
//! annotation when Velero creates the DaemonSet, so restored pods stay current by generation
//! whatever the template — unless a rule changes the annotation. A current pod that no longer
//! counts as such and is not yet available (its `restore-wait` init container still runs) is
//! deleted at once by a RollingUpdate DaemonSet.
//!
//! The guard, in Velero's restore order, each step looking up the DaemonSet's [`DaemonSetPlan`]
//! ([`plan`], computed once per restore):
//!
//! - **pods** ([`pod_step`]): a pod at the backed-up generation gets `T → T'` exactly as a
//!   Deployment's pod, except the node pin the controller owns, and the generation the restored
//!   DaemonSet will have as its `pod-template-generation` label. Pods of past generations are left
//!   alone.
//! - **ControllerRevisions** ([`revision_dry_run`], [`revision_step`]): the revision the current
//!   pods point to gets the final template (as a dry-run create of the modified DaemonSet returns
//!   it) as its `data`, so the controller keeps it as current and the pods match by hash too. A
//!   second line only: the generation alone keeps the pods current.
//! - **the DaemonSet** ([`daemonset_target`] + [`daemonset_step`]): returned unchanged; the live
//!   restored pods still lacking the generation are relabelled, node eligibility changes reported.

mod generation;
mod live;
mod plan;
mod pod;
mod revision;

#[cfg(test)]
mod tests;

pub use generation::{
    CONTROLLER_NODE_PIN, DaemonSetChange, DaemonSetPodCorrection, DaemonSetPodDecision,
    POD_TEMPLATE_GENERATION, Relabel, RestoredGeneration, TEMPLATE_GENERATION_ANNOTATION,
    backed_up_generation, correct_daemonset_pod, daemonset_change, node_eligibility_paths,
    pod_generation, pods_to_relabel,
};
pub use live::{
    DaemonSetLive, DaemonSetOutcome, DaemonSetTarget, as_enforce_restores, daemonset_step,
    daemonset_target,
};
pub use plan::{DaemonSetPlan, plan, pods_of};
pub use pod::pod_step;
pub use revision::{RevisionDryRun, current_pod_hashes, revision_dry_run, revision_step};
