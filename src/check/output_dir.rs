//! `--output-dir`: every pod, ReplicaSet and Deployment of the analysed workloads as they will be
//! created — the plugin's output (what the guard returns for the item), then Velero's resource
//! modifiers applied to it — at `DIR/<group-resource>/<namespace>/<name>.json`.
//!
//! Not simulated: the `restore-wait` init container Velero's own actions add to pods with FSB data,
//! the namespace mapping and the restore labels (both applied after the modifiers).

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::error::{Error, Result};
use crate::backup::{BackupIndex, DEPLOYMENTS, PODS, REPLICA_SETS};
use crate::guard::{
    Engine, ReplicaSetDecision, VeleroEngine, WorkloadPlan, as_velero_hands_it, pod_lineage,
    replicaset_owner,
};

/// Writes the objects; returns the paths written.
pub fn write_objects(
    dir: &Path,
    index: &BackupIndex,
    rules: &<VeleroEngine as Engine>::Rules,
    plans: &[WorkloadPlan],
) -> Result<Vec<PathBuf>> {
    let engine = VeleroEngine;
    let mut written = Vec::new();
    for plan in plans {
        let ns = plan.namespace.as_str();
        let mut objects: Vec<(&str, String, Value)> = Vec::new();
        if let Some(d) = index.deployment(ns, &plan.deployment) {
            objects.push((DEPLOYMENTS, plan.deployment.clone(), as_velero_hands_it(d)));
        }
        for (key, rs) in index.items_in(REPLICA_SETS, ns) {
            if replicaset_owner(rs) != Some(plan.deployment.as_str()) {
                continue;
            }
            let item = match plan.replicasets.iter().find(|(n, _)| *n == key.name) {
                Some((_, ReplicaSetDecision::Retemplated { item, .. }))
                | Some((_, ReplicaSetDecision::PastRevisionSetApart { item })) => item.clone(),
                _ => as_velero_hands_it(rs),
            };
            objects.push((REPLICA_SETS, key.name.clone(), item));
        }
        for (key, pod) in index.items_in(PODS, ns) {
            if pod_lineage(pod).is_none_or(|l| l.deployment != plan.deployment) {
                continue;
            }
            let item = match plan.pods.iter().find(|(n, _)| *n == key.name) {
                Some((_, correction)) => correction.item.clone(),
                None => as_velero_hands_it(pod),
            };
            objects.push((PODS, key.name.clone(), item));
        }
        for (gr, name, item) in objects {
            let created = engine
                .apply_rules(rules, &item, gr)
                .map_err(|source| Error::Guard {
                    workload: format!("{ns}/{}", plan.deployment),
                    source,
                })?
                .object;
            let folder = dir.join(gr).join(ns);
            std::fs::create_dir_all(&folder).map_err(|source| Error::Write {
                path: folder.clone(),
                source,
            })?;
            let path = folder.join(format!("{name}.json"));
            let mut text = serde_json::to_string_pretty(&created).unwrap_or_default();
            text.push('\n');
            std::fs::write(&path, text).map_err(|source| Error::Write {
                path: path.clone(),
                source,
            })?;
            written.push(path);
        }
    }
    Ok(written)
}
