#![forbid(unsafe_code)]
//! The guard's decisions: what a restore's resource modifiers do to a workload's pod template and
//! replica count, and what to hand back to Velero so restored pods with file-system-backup (FSB)
//! data survive — for Deployments, StatefulSets and DaemonSets.
//!
//! Pure functions over `serde_json::Value`: this crate depends on JSON, error types and the two
//! engine crates only, so it cannot do I/O. The plugin shell (`velero-fsb-guard`'s `guard`
//! module) reads the restore's inputs and the live cluster, asks the functions here, and carries
//! out what they decide; the offline `check` runs the same [`deployment::plan`],
//! [`statefulset::plan`] and [`daemonset::plan`] over a downloaded backup.
//!
//! # Map
//!
//! - The restore's inputs: [`settings`] (the plugin-config ConfigMap and the per-restore mode),
//!   [`fsb`] (which pod volumes hold FSB data, as Velero decides it), [`engine`] (the rules,
//!   strategic merge patch and semantic equality), [`restore`] (all of it for one restore),
//!   [`sieve`] (which backed-up objects a restore keeps, judged as the backup streams in).
//! - One folder per kind, side by side: [`deployment`], [`statefulset`], [`daemonset`]. Each has a
//!   `plan` (computed once per workload per restore, looked up by every later item), its history
//!   (ReplicaSets or ControllerRevisions) and one step per item kind Velero restores for it, in
//!   Velero's order.
//! - [`plans`]: what the kinds' plans share — the [`plans::WorkloadPlan`] trait, computed once per
//!   restore ([`plans::plan_of`]), and where every item step starts ([`plans::owner_plan`]).
//! - [`toolkit`]: what the kinds share — scope, namespace mapping, owners, the template change and
//!   how it lands on a pod, ControllerRevision bytes, notes, the per-restore memo.
//! - [`resources`]: the one vocabulary of Kubernetes resources.

pub mod daemonset;
pub mod deployment;
pub mod engine;
pub mod error;
pub mod existing;
#[cfg(any(test, feature = "fixtures"))]
pub mod fixtures;
pub mod fsb;
pub mod plans;
pub mod resources;
pub mod restore;
pub mod settings;
pub mod sieve;
pub mod statefulset;
pub mod toolkit;

pub use engine::{Rules, RulesOutcome, VeleroEngine};
pub use error::{Error, Result};
pub use fsb::FsbIndex;
pub use resources::{ObjectRef, Resource};
pub use restore::{BackedUp, BackupObjects, Item, RestoreInputs, Selection};
pub use settings::{FailurePolicy, Mode, Scope, Settings};
pub use sieve::{BackupSieve, Sifted};
pub use toolkit::notes::{Level, Note, StepOutcome};
pub use toolkit::object::{as_velero_hands_it, name_of, namespace_of};
pub use toolkit::owners::{Kind, Workload};
pub use toolkit::scope::FsbWorkloads;
pub use toolkit::template::{FsbPod, PodCorrection, TemplateChange};
