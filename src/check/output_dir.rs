//! `--output-dir`: every pod, ReplicaSet and Deployment, StatefulSet, DaemonSet and their
//! ControllerRevisions of the analysed workloads as they will be created — the plugin's output
//! (what the guard returns for the item), then Velero's resource modifiers applied to it — at
//! `DIR/<group-resource>/<namespace>/<name>.json`. Pods the plugin skips (`skipRestore`: the final
//! replica count removes them) are not written: Velero does not create them.
//!
//! Not simulated: the `restore-wait` init container Velero's own actions add to pods with FSB data,
//! the namespace mapping and the restore labels (both applied after the modifiers), and what the
//! plugin changes on live objects after they are created (alignment patches, pod relabelling when
//! ControllerRevisions are not part of the restore).

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::error::{Error, Result};
use fsb_guard_core::daemonset::DaemonSetPlan;
use fsb_guard_core::deployment::{
    DeploymentPlan, ReplicaSetDecision, align_desired_replicas, lower_replicaset,
};
use fsb_guard_core::statefulset::{RevisionDecision, StatefulSetPlan};
use fsb_guard_core::toolkit::owners::{pod_lineage, replicaset_owner};
use fsb_guard_core::{Resource, Rules, VeleroEngine, as_velero_hands_it};

use crate::backup::BackupIndex;

/// The plans of every kind, for [`write_objects`].
#[derive(Debug, Clone, Copy)]
pub struct Plans<'a> {
    pub deployments: &'a [DeploymentPlan],
    pub statefulsets: &'a [StatefulSetPlan],
    pub daemonsets: &'a [DaemonSetPlan],
}

/// The controller of `kind` named in an object's `ownerReferences`.
fn controlled_by(object: &Value, kind: &str, name: &str) -> bool {
    object
        .pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .is_some_and(|refs| {
            refs.iter().any(|r| {
                r.get("controller").and_then(Value::as_bool) == Some(true)
                    && r.get("kind").and_then(Value::as_str) == Some(kind)
                    && r.get("name").and_then(Value::as_str) == Some(name)
            })
        })
}

/// Writes the objects; returns the paths written.
pub fn write_objects(
    dir: &Path,
    index: &BackupIndex,
    rules: &Rules,
    plans: Plans<'_>,
) -> Result<Vec<PathBuf>> {
    // Per workload, in the order deployments, StatefulSets, DaemonSets: (namespace, objects).
    let deployments = plans
        .deployments
        .iter()
        .map(|plan| (&plan.namespace, deployment_objects(index, plan)));
    let statefulsets = plans
        .statefulsets
        .iter()
        .map(|plan| (&plan.namespace, statefulset_objects(index, plan)));
    let daemonsets = plans
        .daemonsets
        .iter()
        .map(|plan| (&plan.namespace, daemonset_objects(index, plan)));
    let mut written = Vec::new();
    for (namespace, objects) in deployments.chain(statefulsets).chain(daemonsets) {
        write(dir, rules, namespace, objects, &mut written)?;
    }
    Ok(written)
}

type Objects = Vec<(Resource, String, Value)>;

fn deployment_objects(index: &BackupIndex, plan: &DeploymentPlan) -> Objects {
    let mut objects: Objects = Vec::new();
    {
        let ns = plan.namespace.as_str();
        if let Some(d) = index.deployment(ns, &plan.deployment) {
            objects.push((
                Resource::DEPLOYMENTS,
                plan.deployment.clone(),
                as_velero_hands_it(d),
            ));
        }
        for (key, rs) in index.items_in(Resource::REPLICA_SETS, ns) {
            if replicaset_owner(rs) != Some(plan.deployment.as_str()) {
                continue;
            }
            let mut item = match plan.replicasets.iter().find(|(n, _)| *n == key.name) {
                Some((_, ReplicaSetDecision::Retemplated { item, .. }))
                | Some((_, ReplicaSetDecision::PastRevisionSetApart { item })) => item.clone(),
                _ => as_velero_hands_it(rs),
            };
            // The replica change lands on the same item (the ReplicaSet step does both).
            if let Some(lowered_to) = plan.replicas.lowered_to() {
                if plan.replicas.current_replicaset.as_deref() == Some(key.name.as_str()) {
                    item = lower_replicaset(&item, &plan.replicas, lowered_to);
                } else if plan.replicas.older_active.contains(&key.name) {
                    item = align_desired_replicas(&item, lowered_to);
                }
            }
            objects.push((Resource::REPLICA_SETS, key.name.clone(), item));
        }
        for (key, pod) in index.items_in(Resource::PODS, ns) {
            if pod_lineage(pod).is_none_or(|l| l.deployment != plan.deployment) {
                continue;
            }
            let skipped = plan.replicas.choice.as_ref();
            if skipped.is_some_and(|c| c.skipped(&key.name).is_some()) {
                continue;
            }
            let item = match plan.pods.iter().find(|(n, _)| *n == key.name) {
                Some((_, correction)) => correction.item.clone(),
                None => as_velero_hands_it(pod),
            };
            objects.push((Resource::PODS, key.name.clone(), item));
        }
    }
    objects
}

fn statefulset_objects(index: &BackupIndex, plan: &StatefulSetPlan) -> Objects {
    let ns = plan.namespace.as_str();
    let name = plan.statefulset.as_str();
    let mut objects: Objects = Vec::new();
    if let Some(sts) = index.get(Resource::STATEFUL_SETS, ns, name) {
        objects.push((
            Resource::STATEFUL_SETS,
            name.to_owned(),
            as_velero_hands_it(sts),
        ));
    }
    for (key, rev) in index.items_in(Resource::CONTROLLER_REVISIONS, ns) {
        if !controlled_by(rev, "StatefulSet", name) {
            continue;
        }
        let rewritten = plan
            .revision
            .as_ref()
            .filter(|r| r.name == key.name)
            .and_then(|r| match &r.decision {
                Some(RevisionDecision::Rewritten { item, .. }) => Some(item.clone()),
                _ => None,
            });
        let item = rewritten.unwrap_or_else(|| as_velero_hands_it(rev));
        objects.push((Resource::CONTROLLER_REVISIONS, key.name.clone(), item));
    }
    for (key, pod) in index.items_in(Resource::PODS, ns) {
        if !controlled_by(pod, "StatefulSet", name)
            || plan.skipped_pods.iter().any(|p| p.name == key.name)
        {
            continue;
        }
        let item = match plan.pods.iter().find(|(n, _)| *n == key.name) {
            Some((_, c)) => c.item.clone(),
            None => as_velero_hands_it(pod),
        };
        objects.push((Resource::PODS, key.name.clone(), item));
    }
    objects
}

fn daemonset_objects(index: &BackupIndex, plan: &DaemonSetPlan) -> Objects {
    let ns = plan.namespace.as_str();
    let name = plan.daemonset.as_str();
    let mut objects: Objects = Vec::new();
    if let Some(ds) = index.get(Resource::DAEMON_SETS, ns, name) {
        objects.push((
            Resource::DAEMON_SETS,
            name.to_owned(),
            as_velero_hands_it(ds),
        ));
    }
    for (key, rev) in index.items_in(Resource::CONTROLLER_REVISIONS, ns) {
        if controlled_by(rev, "DaemonSet", name) {
            objects.push((
                Resource::CONTROLLER_REVISIONS,
                key.name.clone(),
                as_velero_hands_it(rev),
            ));
        }
    }
    for (key, pod) in index.items_in(Resource::PODS, ns) {
        if !controlled_by(pod, "DaemonSet", name) {
            continue;
        }
        let item = match plan.pods.iter().find(|(n, _)| *n == key.name) {
            Some((_, c)) => c.pod.item.clone(),
            None => as_velero_hands_it(pod),
        };
        objects.push((Resource::PODS, key.name.clone(), item));
    }
    objects
}

/// Applies the rules to each item as Velero does and writes it.
fn write(
    dir: &Path,
    rules: &Rules,
    ns: &str,
    objects: Objects,
    written: &mut Vec<PathBuf>,
) -> Result<()> {
    for (resource, name, item) in objects {
        let gr = resource.group_resource();
        let created = VeleroEngine.apply_rules(rules, &item, gr).object;
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
    Ok(())
}
