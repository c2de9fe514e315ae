//! What the three kinds share, so each rule is written once: reading and writing items
//! ([`object`]), who owns what ([`owners`]), which workloads are in scope and where their objects
//! land ([`scope`]), the template change and how it lands on a pod ([`template`], [`delta`])
//! beside the restore's own pod rules ([`later_rules`]), the replica count ([`replicas`]),
//! ControllerRevision bytes ([`revision`], [`gojson`]), the notes a step writes ([`notes`]), and
//! the memo that keeps each plan once per restore ([`memo`]).

pub mod delta;
pub mod gojson;
pub mod later_rules;
pub mod memo;
pub mod notes;
pub mod object;
pub mod owners;
pub mod replicas;
pub mod revision;
pub mod scope;
pub mod template;
