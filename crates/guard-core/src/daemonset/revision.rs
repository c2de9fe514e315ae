//! The optional second line for DaemonSets: the restored ControllerRevision the current pods point
//! to gets the final template as its `data`, so the controller keeps it as its current revision
//! (`Match` compares `data` bytes with what it computes from the live DaemonSet) instead of
//! creating a new one; the pods then match by hash as well as by generation (facts §4.3.2).
//!
//! `data` must be the template as the API server stores it (defaults applied), so the shell gets it
//! from a dry-run create of the modified DaemonSet. Velero re-encodes the returned item with Go's
//! encoder, which produces the byte form the controller compares (facts §1). A wrong guess is
//! harmless: the controller then creates a new revision, exactly as without the rewrite, and the
//! pods stay current by generation. DaemonSet pods are never created from revision data.

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

use super::generation::{backed_up_generation, pod_generation};
use super::plan::{DaemonSetPlan, pods_of};
use crate::error::Result;
use crate::plans::owner_plan;
use crate::resources::Resource;
use crate::restore::{Item, RestoreInputs};
use crate::toolkit::notes::{Level, Note, StepOutcome};
use crate::toolkit::object::{as_velero_hands_it, name_of, namespace_of, str_at};
use crate::toolkit::owners::{Kind, Workload, daemonset_owner};
use crate::toolkit::revision::revision_data;
use crate::toolkit::scope::target_namespace;

/// The `controller-revision-hash` labels of the DaemonSet's current pods (at the backed-up
/// generation) among `pods`.
pub fn current_pod_hashes(daemonset: &Value, pods: &[Value]) -> BTreeSet<String> {
    let generation = backed_up_generation(daemonset);
    pods_of(daemonset, pods)
        .filter(|p| generation.is_some() && pod_generation(p) == generation)
        .filter_map(|p| str_at(p, "/metadata/labels/controller-revision-hash"))
        .map(str::to_owned)
        .collect()
}

/// What the shell must dry-run for a revision: `POST daemonsets?dryRun=All` of `body` in
/// `namespace`.
#[derive(Debug, Clone, PartialEq)]
pub struct RevisionDryRun {
    pub namespace: String,
    pub body: Value,
}

/// The dry-run that yields the final template for a revision item, or `None` when the revision
/// stays as it is: not a DaemonSet's, not the one the current pods point to, out of scope, or the
/// rules leave the template alone.
pub fn revision_dry_run(
    inputs: &RestoreInputs<'_>,
    item: Item<'_>,
) -> Result<Option<RevisionDryRun>> {
    let from_backup = item.from_backup;
    let namespace = namespace_of(from_backup);
    let owner = daemonset_owner(from_backup);
    // A revision left as is says nothing: the answer for the item is dropped.
    let Ok(owner) = owner_plan::<DaemonSetPlan, _>(inputs, "", "", owner, |d| {
        Workload::new(Kind::DaemonSet, namespace, d)
    })?
    else {
        return Ok(None);
    };
    let (daemonset, name) = (&*owner.object, owner.lineage);
    if owner.plan.after_rules.change.is_none() {
        return Ok(None);
    }
    let hash = str_at(from_backup, "/metadata/labels/controller-revision-hash");
    let pods = inputs.backup.pods_owned_by(Kind::DaemonSet, daemonset);
    if !hash.is_some_and(|h| current_pod_hashes(daemonset, &pods).contains(h)) {
        return Ok(None);
    }
    let gr = Resource::DAEMON_SETS.group_resource();
    let modified = inputs
        .engine
        .apply_rules(inputs.rules, &as_velero_hands_it(daemonset), gr)
        .object;
    let target = target_namespace(item.restore, namespace).to_owned();
    let mut metadata = Map::new();
    metadata.insert("name".to_owned(), json!(name));
    metadata.insert("namespace".to_owned(), json!(target));
    for key in ["labels", "annotations"] {
        if let Some(v) = modified.pointer(&format!("/metadata/{key}")) {
            metadata.insert(key.to_owned(), v.clone());
        }
    }
    Ok(Some(RevisionDryRun {
        namespace: target,
        body: json!({"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": metadata,
            "spec": modified.get("spec").cloned().unwrap_or_else(|| json!({}))}),
    }))
}

/// The revision step once the shell ran the dry-run: `server` is the DaemonSet the API server
/// would store (its `spec.template` is the final template), or why the dry-run failed.
pub fn revision_step(
    item: &Value,
    from_backup: &Value,
    server: std::result::Result<&Value, &str>,
) -> StepOutcome {
    let owner = daemonset_owner(from_backup).unwrap_or_default();
    let workload = format!("DaemonSet {}/{owner}", namespace_of(from_backup));
    let revision = format!("ControllerRevision {}", name_of(from_backup));
    let note = |level, message: String| Note {
        level,
        workload: workload.clone(),
        message,
    };
    let template = match server.map(|s| s.pointer("/spec/template")) {
        Ok(Some(t)) => t,
        Ok(None) | Err(_) => {
            let why = server.err().unwrap_or("no spec.template in the answer");
            return StepOutcome {
                item: None,
                skip_restore: false,
                notes: vec![note(
                    Level::Info,
                    format!(
                        "{revision} left as is (dry-run create of the DaemonSet refused: {why}); restored pods stay current by generation"
                    ),
                )],
            };
        }
    };
    let data = revision_data(template);
    if item.get("data") == Some(&data) {
        return StepOutcome {
            item: None,
            skip_restore: false,
            notes: vec![note(
                Level::Debug,
                format!("{revision} already holds the final template"),
            )],
        };
    }
    let mut out = item.clone();
    if let Some(map) = out.as_object_mut() {
        map.insert("data".to_owned(), data);
    }
    StepOutcome {
        item: Some(out),
        skip_restore: false,
        notes: vec![note(
            Level::Info,
            format!(
                "{revision}: data set to the final template so the controller keeps it as the current revision"
            ),
        )],
    }
}
