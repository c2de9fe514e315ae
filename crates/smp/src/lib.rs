#![forbid(unsafe_code)]
//! Kubernetes strategic merge patch and semantic equality over `serde_json::Value`.
//!
//! A port of the parts of apimachinery Velero and the Deployment controller rely on:
//!
//! - [`apply`]: `StrategicMergeMapPatch` (what Velero's `strategicPatches` do), with directives.
//! - [`two_way_diff`]: `CreateTwoWayMergePatch`, to carry a template change onto pods whose lists
//!   hold extra members (lists are matched by merge key, never by index).
//! - [`two_way_diff_member_scoped`]: the same delta, but a list `modified` drops entirely is removed
//!   member by member, so extra members of the target survive (use this one for pods).
//! - [`semantically_equal`] / [`pod_templates_semantically_equal`]: `apiequality.Semantic.DeepEqual`
//!   on the typed objects, and the Deployment controller's `EqualIgnoreHash`.
//!
//! Patch strategies, merge keys and Go pointer-ness come from a table generated from the Go types
//! (`k8s.io/api` as pinned by Velero); [`Root`] picks the type a document is read as. Everything is
//! pure and does no I/O. Inputs are never modified.

mod apply;
mod diff;
mod directive;
mod equality;
mod error;
mod gojson;
mod list;
mod meta;
pub mod quantity;
mod schema;
mod schema_table;
mod scoped;

pub use apply::apply;
pub use diff::two_way_diff;
pub use equality::{POD_TEMPLATE_HASH_LABEL, pod_templates_semantically_equal, semantically_equal};
pub use error::{Error, Result};
pub use schema::Root;
pub use scoped::two_way_diff_member_scoped;
