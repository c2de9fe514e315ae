#![forbid(unsafe_code)]
//! Kubernetes strategic merge patch and semantic equality over `serde_json::Value`.
//!
//! A port of the parts of apimachinery Velero and the Deployment controller rely on:
//!
//! - [`apply`]: `StrategicMergeMapPatch` (what Velero's `strategicPatches` do), with directives;
//!   [`apply_owned`] does the same to a document the caller gives up, without copying it.
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
//!
//! Conformance: `tests/oracle/smp/run.sh` runs a corpus (`tests/corpus/smp`) through apimachinery
//! at the versions Velero v1.18.3 and v1.15.2 pin and through this crate; results must be identical
//! after canonical JSON. Numbers follow apimachinery's `util/json` (an integral literal is an int64,
//! anything else a float64, and the two never compare equal, e.g. as merge keys).
//!
//! Things callers must know:
//! - Only `StrategicMergeMapPatch` is here. Velero's wrapper also strict-decodes the patch and
//!   re-decodes the result as `Unstructured` (which needs `kind`); that glue is the caller's.
//! - When a merged list has no live position for a new member, apimachinery puts patch members
//!   before server-only ones: a delta that adds an init container places it *before* a pod's
//!   `restore-wait` container. Atomic lists (e.g. `tolerations`) are replaced whole.
//! - Known divergences from Go, all on invalid or pathological input: Go iterates patch maps in
//!   random order (only observable when `x` and `$deleteFromPrimitiveList/x` overlap); lists of more
//!   than 12 elements with repeated merge keys sort stably here; Go's in-place dedupe of a
//!   primitive list with duplicates can reorder the live list it later orders by.

mod apply;
mod diff;
mod directive;
mod equality;
mod error;
mod gojson;
mod gotype;
mod list;
mod meta;
pub mod quantity;
mod schema;
mod schema_table;
mod scoped;

pub use apply::{apply, apply_owned};
pub use diff::two_way_diff;
pub use equality::{POD_TEMPLATE_HASH_LABEL, pod_templates_semantically_equal, semantically_equal};
pub use error::{Error, Result};
pub use schema::Root;
pub use scoped::two_way_diff_member_scoped;
