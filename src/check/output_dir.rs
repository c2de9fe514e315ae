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

use super::analysis::Plans;
use super::error::{Error, Result};
use fsb_guard_core::daemonset::DaemonSetPlan;
use fsb_guard_core::deployment::{
    DeploymentPlan, ReplicaSetDecision, align_desired_replicas, lower_replicaset,
};
use fsb_guard_core::statefulset::{RevisionDecision, StatefulSetPlan};
use fsb_guard_core::toolkit::owners::{
    daemonset_owner, pod_lineage, replicaset_owner, statefulset_owner,
};
use fsb_guard_core::{Resource, Rules, VeleroEngine, as_velero_hands_it};

use crate::backup::BackupIndex;

/// Writes the objects; returns the paths written.
pub fn write_objects(
    dir: &Path,
    index: &BackupIndex,
    rules: &Rules,
    plans: &Plans,
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

/// The workload `resource` `namespace/name` as Velero hands it to the plugin (which returns
/// workload items unchanged), then the objects of `children` it owns.
fn workload_and(
    index: &BackupIndex,
    resource: Resource,
    namespace: &str,
    name: &str,
    children: [Objects; 2],
) -> Objects {
    let workload = index
        .get(resource, namespace, name)
        .map(|w| (resource, name.to_owned(), as_velero_hands_it(w)));
    workload
        .into_iter()
        .chain(children.into_iter().flatten())
        .collect()
}

/// The `resource` objects of `namespace` that `owned` selects, each as the plugin returns it
/// (`returned`: `None` = not created).
fn owned(
    index: &BackupIndex,
    resource: Resource,
    namespace: &str,
    owned: impl Fn(&Value) -> bool,
    returned: impl Fn(&str, &Value) -> Option<Value>,
) -> Objects {
    index
        .items_in(resource, namespace)
        .filter(|(_, object)| owned(object))
        .filter_map(|(key, object)| {
            returned(&key.name, object).map(|item| (resource, key.name.clone(), item))
        })
        .collect()
}

/// The plan's corrected item for `name`, else `object` as Velero hands it to the plugin.
fn corrected<T>(
    corrections: &[(String, T)],
    item: impl Fn(&T) -> &Value,
    name: &str,
    object: &Value,
) -> Value {
    match corrections.iter().find(|(n, _)| n == name) {
        Some((_, c)) => item(c).clone(),
        None => as_velero_hands_it(object),
    }
}

fn deployment_objects(index: &BackupIndex, plan: &DeploymentPlan) -> Objects {
    let (ns, name) = (plan.namespace.as_str(), plan.deployment.as_str());
    let replicasets = owned(
        index,
        Resource::REPLICA_SETS,
        ns,
        |rs| replicaset_owner(rs) == Some(name),
        |rs_name, rs| Some(replicaset_item(plan, rs_name, rs)),
    );
    let pods = owned(
        index,
        Resource::PODS,
        ns,
        |pod| pod_lineage(pod).is_some_and(|l| l.deployment == name),
        |pod_name, pod| {
            let skipped = plan.replicas.choice.as_ref();
            skipped
                .is_none_or(|c| c.skipped(pod_name).is_none())
                .then(|| corrected(&plan.pods, |c| &c.item, pod_name, pod))
        },
    );
    workload_and(index, Resource::DEPLOYMENTS, ns, name, [replicasets, pods])
}

/// A ReplicaSet as the ReplicaSet step returns it: the template correction and the replica change
/// land on the same item.
fn replicaset_item(plan: &DeploymentPlan, name: &str, rs: &Value) -> Value {
    let mut item = match plan.replicasets.iter().find(|(n, _)| n == name) {
        Some((_, ReplicaSetDecision::Retemplated { item, .. }))
        | Some((_, ReplicaSetDecision::PastRevisionSetApart { item })) => item.clone(),
        _ => as_velero_hands_it(rs),
    };
    if let Some(lowered_to) = plan.replicas.lowered_to() {
        if plan.replicas.current_replicaset.as_deref() == Some(name) {
            item = lower_replicaset(&item, &plan.replicas, lowered_to);
        } else if plan.replicas.older_active.iter().any(|n| n == name) {
            item = align_desired_replicas(&item, lowered_to);
        }
    }
    item
}

fn statefulset_objects(index: &BackupIndex, plan: &StatefulSetPlan) -> Objects {
    let (ns, name) = (plan.namespace.as_str(), plan.statefulset.as_str());
    let revisions = owned(
        index,
        Resource::CONTROLLER_REVISIONS,
        ns,
        |rev| statefulset_owner(rev) == Some(name),
        |rev_name, rev| {
            let rewritten = plan
                .revision
                .as_ref()
                .filter(|r| r.name == rev_name)
                .and_then(|r| match &r.decision {
                    Some(RevisionDecision::Rewritten { item, .. }) => Some(item.clone()),
                    _ => None,
                });
            Some(rewritten.unwrap_or_else(|| as_velero_hands_it(rev)))
        },
    );
    let pods = owned(
        index,
        Resource::PODS,
        ns,
        |pod| statefulset_owner(pod) == Some(name),
        |pod_name, pod| {
            (!plan.skipped_pods.iter().any(|p| p.name == pod_name))
                .then(|| corrected(&plan.pods, |c| &c.item, pod_name, pod))
        },
    );
    workload_and(index, Resource::STATEFUL_SETS, ns, name, [revisions, pods])
}

fn daemonset_objects(index: &BackupIndex, plan: &DaemonSetPlan) -> Objects {
    let (ns, name) = (plan.namespace.as_str(), plan.daemonset.as_str());
    let mine = |object: &Value| daemonset_owner(object) == Some(name);
    let revisions = owned(index, Resource::CONTROLLER_REVISIONS, ns, mine, |_, rev| {
        Some(as_velero_hands_it(rev))
    });
    let pods = owned(index, Resource::PODS, ns, mine, |pod_name, pod| {
        Some(corrected(&plan.pods, |c| &c.pod.item, pod_name, pod))
    });
    workload_and(index, Resource::DAEMON_SETS, ns, name, [revisions, pods])
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
