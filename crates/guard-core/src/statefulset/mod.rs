//! StatefulSets: the same no-rollout guarantee as for Deployments, through ControllerRevisions
//! (facts: statefulsets-daemonsets §2, §4.2; docs/statefulsets.md).
//!
//! The StatefulSet controller calls a pod up to date when its `controller-revision-hash` label
//! names the update revision, and it finds that revision by comparing `ControllerRevision.data`
//! bytes with what it computes from the live StatefulSet. So the guard keeps the pods' label and
//! makes the revision they name say `T'`, one step per restored item, each looking up the
//! StatefulSet's [`StatefulSetPlan`] ([`plan`], computed once per restore):
//!
//! - **pods** ([`pod_step`]): pods at the backed-up update revision `R` get `diff(T, T')` exactly
//!   like Deployment pods; pods the final `spec.replicas` removes (ordinal ≥ `R'`) are not
//!   restored;
//! - **`R`** ([`revision_target`] + [`revision_step`]): `data` = `T'` in the form the target
//!   cluster's controller computes, highest `.revision`, stale hash label dropped, name kept;
//! - **the StatefulSet** ([`verify_target`] + [`verify_decision`] + [`verify_notes`]): returned
//!   unchanged; the live `R` is verified (re-created when an earlier plugin changed the template),
//!   or, when ControllerRevisions are not part of the restore, the pods are relabelled to the name
//!   the controller will give the revision of `T'`.
//!
//! The steps that need the API server's defaulting of `T'` are split in two: a pure `*_target`
//! that says what to ask, and a pure decision over the answer ([`FinalTemplate`]).

mod history;
mod live;
mod plan;
mod pod;
mod revision;

#[cfg(test)]
mod tests;

pub use history::{RevisionDecision, revision_number, revisions_of, rewrite_revision};
pub use live::{VerifyDecision, VerifyTarget, verify_decision, verify_notes, verify_target};
pub use plan::{
    RevisionPlan, RevisionSource, ScaledAwayPod, StatefulSetPlan, UpdateRevision, plan, pods_of,
    update_revision,
};
pub use pod::pod_step;
pub use revision::{
    FinalTemplate, FinalTemplateQuery, RevisionTarget, TemplateSource, revision_step,
    revision_target,
};
