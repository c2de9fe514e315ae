//! `check --target-workloads FILE`: which restored FSB pods belong to workloads that already exist
//! in the target cluster (Velero issues 9461, 5242, 7487), and what happens to them with and
//! without the plugin. The decisions are the plugin's own (`fsb_guard_core::existing`); the target
//! is read from manifests instead of the API server (`kubectl get deploy,sts,ds,pods -A -o yaml`).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use fsb_guard_core::existing::{self as core, LiveClass, Policy, TemplateDrift};
use fsb_guard_core::toolkit::owners::pod_lineage;
use fsb_guard_core::{FsbIndex, Kind, Resource, VeleroEngine, Workload, name_of, namespace_of};
use serde::Serialize;
use serde_json::{Value, json};

use super::error::{Error, Result};
use super::input::read_text_bounded;
use crate::backup::index::BackupIndex;

/// The most `--target-workloads` may hold: room for the workloads and pods of a large cluster,
/// bounded so `/dev/zero` or a FIFO gets an error instead of all the memory.
pub const TARGET_FILE_LIMIT: u64 = 64 << 20;

/// A backed-up workload with FSB pods that exists in the target.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExistingWorkload {
    /// `Deployment shop/api` (backup namespace).
    pub workload: String,
    pub target_namespace: String,
    pub scaled_to_zero: bool,
    /// `same` or `other`: the live template against the restored pods'.
    pub template: &'static str,
    pub existing_resource_policy: &'static str,
    pub pods: Vec<ExistingPod>,
    /// What happens to the FSB pods without the plugin.
    pub without_plugin: String,
}

/// One restored FSB pod of such a workload.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExistingPod {
    pub pod: String,
    /// `parked-then-deleted` (data in claims the live workload mounts), `detached` (data in the
    /// pod only: no protection can bring it to the live workload), `kept-by-velero` (a pod of
    /// that name exists: Velero restores no data into it).
    pub with_plugin: &'static str,
    pub claims: Vec<String>,
    pub pod_only_volumes: Vec<String>,
}

/// Reads the target's manifests: YAML (several documents) or JSON, single objects or `List`s.
pub fn read_target_workloads(path: &Path) -> Result<Vec<Value>> {
    let text = read_text_bounded(path, TARGET_FILE_LIMIT, "target workload manifests")?;
    let documents: Vec<Value> = match serde_json::from_str::<Value>(&text) {
        Ok(doc) => vec![doc],
        Err(_) => serde_saphyr::from_multiple::<Value>(&text).map_err(|e| Error::Manifests {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?,
    };
    let mut objects = Vec::new();
    for doc in documents {
        match doc.get("items").and_then(Value::as_array) {
            Some(items) => objects.extend(items.iter().cloned()),
            None if doc.is_object() => objects.push(doc),
            None => {}
        }
    }
    Ok(objects)
}

/// The analysis: backed-up pods with FSB data whose workload is among `targets`, restored with
/// `mappings` (backup namespace → target namespace) and `policy`.
pub fn analyse(
    index: &BackupIndex,
    fsb: &FsbIndex,
    targets: &[Value],
    mappings: &BTreeMap<String, String>,
    policy: Policy,
) -> Vec<ExistingWorkload> {
    let restore = json!({
        "metadata": {"name": "velero-fsb-guard-check", "uid": "check"},
        "spec": {"namespaceMapping": mappings, "existingResourcePolicy": policy.as_str()},
    });
    // Indexed once: a cluster's manifests can hold tens of thousands of objects.
    let by_name: BTreeMap<(&str, &str, &str), &Value> = targets
        .iter()
        .filter_map(|o| Some(((o.get("kind")?.as_str()?, namespace_of(o), name_of(o)), o)))
        .collect();
    let live =
        |kind: &str, namespace: &str, name: &str| by_name.get(&(kind, namespace, name)).copied();
    let mut found: BTreeMap<Workload, ExistingWorkload> = BTreeMap::new();
    for (_, pod) in index.items_of(Resource::PODS) {
        let volumes: Vec<String> = fsb.volumes_of(pod).into_iter().collect();
        if volumes.is_empty() {
            continue;
        }
        let Some(workload) = Workload::owning(pod) else {
            continue;
        };
        let target = mappings
            .get(&workload.namespace)
            .cloned()
            .unwrap_or_else(|| workload.namespace.clone());
        let Some(live_workload) = live(workload.kind.as_str(), &target, &workload.name) else {
            continue;
        };
        let current_revision_live = same_deployment_template(index, pod, live_workload);
        let LiveClass::Present(presence) = core::classify(
            &workload,
            Some(live_workload),
            pod,
            &restore,
            current_revision_live,
        ) else {
            continue;
        };
        let (claims, pod_only) = core::fsb_volume_sources(pod, &volumes);
        let with_plugin = if live("Pod", &target, name_of(pod)).is_some() {
            "kept-by-velero"
        } else if pod_only.is_empty() && !claims.is_empty() {
            "parked-then-deleted"
        } else {
            "detached"
        };
        let entry = found
            .entry(workload.clone())
            .or_insert_with(|| ExistingWorkload {
                workload: workload.label(),
                target_namespace: target.clone(),
                scaled_to_zero: presence.scaled_to_zero,
                template: match presence.template {
                    TemplateDrift::Same => "same",
                    TemplateDrift::Other => "other",
                },
                existing_resource_policy: policy.as_str(),
                pods: Vec::new(),
                without_plugin: without_plugin(workload.kind),
            });
        entry.pods.push(ExistingPod {
            pod: name_of(pod).to_owned(),
            with_plugin,
            claims: claims.into_iter().map(|(_, claim)| claim).collect(),
            pod_only_volumes: pod_only,
        });
    }
    found.into_values().collect()
}

/// For a Deployment's pod: whether the ReplicaSet it belonged to (backed up) has the live
/// Deployment's template.
fn same_deployment_template(index: &BackupIndex, pod: &Value, live: &Value) -> bool {
    let Some(lineage) = pod_lineage(pod) else {
        return false;
    };
    let Some(template) = live.pointer("/spec/template") else {
        return false;
    };
    index
        .items_of(Resource::REPLICA_SETS)
        .find(|(_, rs)| namespace_of(rs) == lineage.namespace && name_of(rs) == lineage.replicaset)
        .and_then(|(_, rs)| rs.pointer("/spec/template"))
        .is_some_and(|t| VeleroEngine.templates_equal(t, template))
}

fn without_plugin(kind: Kind) -> String {
    let controller = match kind {
        Kind::Deployment => {
            "a ReplicaSet of the live Deployment (its current one, or an old one kept at 0 replicas) adopts the restored pod and deletes it"
        }
        Kind::StatefulSet => {
            "the live StatefulSet adopts the restored pod and deletes it when its ordinal is at or above spec.replicas, or replaces it when its revision is not the update revision"
        }
        Kind::DaemonSet => {
            "the live DaemonSet adopts the restored pod and deletes it when the node already runs one of its pods"
        }
    };
    format!(
        "{controller}; its PodVolumeRestores stay New and the restore waits for the pod-volume timeout (4 h by default), then ends PartiallyFailed"
    )
}

/// The table section.
pub fn render_table(list: &[ExistingWorkload], source: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "\nExisting workloads in the target ({source}):");
    if list.is_empty() {
        out.push_str("  none of the backed-up workloads with FSB data exists there\n");
        return out;
    }
    for w in list {
        let scaled = if w.scaled_to_zero {
            ", scaled to 0"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "  {} (in {}: {} template{scaled}; existingResourcePolicy {})",
            w.workload, w.target_namespace, w.template, w.existing_resource_policy
        );
        let _ = writeln!(out, "    without the plugin: {}", w.without_plugin);
        for p in &w.pods {
            let what = match p.with_plugin {
                "parked-then-deleted" => format!(
                    "parked (no controller adopts it, app containers held), data lands in {}, pod deleted once its volume restores finished",
                    p.claims.join(", ")
                ),
                "detached" => format!(
                    "NOT PROTECTABLE: data in {} lives in the pod only; the pod is detached so the restore completes, and keeps running outside the workload with the data",
                    p.pod_only_volumes.join(", ")
                ),
                _ => "NOT PROTECTABLE: a pod of that name exists; Velero keeps it and restores no data into it (scale the workload to 0 before restoring)".into(),
            };
            let _ = writeln!(out, "    with the plugin, pod {}: {what}", p.pod);
        }
    }
    out
}
