//! Restores into a cluster where the workload already exists: the live reads (one per workload per
//! restore, only for workloads with restored FSB pods) and the parked pods' asynchronous
//! operations. What to do is decided in `fsb_guard_core::existing`; docs/existing-workloads.md
//! gives the reasoning.
//!
//! Runs before the resource-modifier guard and needs no rules: the problem exists without them
//! (Velero issue 9461 is a plain full restore). A restore without FSB pods makes no call here.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use fsb_guard_core::existing::{
    self as core, Glance, LiveClass, Policy, Presence, ProgressDecision, REPLICASET_SKIPPED,
};
use fsb_guard_core::toolkit::owners::pod_lineage;
use fsb_guard_core::toolkit::scope::target_namespace;
use fsb_guard_core::{
    Kind, Mode, Note, Resource, Settings, VeleroEngine, Workload, name_of, namespace_of,
};
use serde_json::Value;
use velero_plugin::{ExecuteInput, OperationProgress};

use super::error::Result;
use super::executor::{Answer, Executor, LiveStep};
use super::operations::Operation;
use super::ports::LiveCluster;

/// The live workloads of this restore's FSB pods, read once each.
#[derive(Default)]
pub struct LiveWorkloads {
    classes: Mutex<HashMap<Workload, LiveClass>>,
    /// Workloads with at least one restored pod parked (the others' pods all existed live).
    parked: Mutex<HashSet<Workload>>,
}

impl LiveWorkloads {
    fn known(&self, workload: &Workload) -> Option<LiveClass> {
        self.classes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(workload)
            .cloned()
    }

    /// Whether any workload of this restore's FSB pods existed before the restore.
    fn any_present(&self) -> bool {
        self.classes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .any(LiveClass::is_present)
    }

    /// Whether `workload` existed before the restore (as its pods found it).
    fn present(&self, workload: &Workload) -> bool {
        self.known(workload).is_some_and(|class| class.is_present())
    }

    fn record_parked(&self, workload: &Workload) {
        self.parked
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(workload.clone());
    }

    fn any_parked(&self, workload: &Workload) -> bool {
        self.parked
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(workload)
    }

    async fn class_of<C: LiveCluster>(
        &self,
        cluster: &C,
        workload: &Workload,
        input: &ExecuteInput,
    ) -> Result<LiveClass> {
        if let Some(class) = self.known(workload) {
            return Ok(class);
        }
        let class = read_class(cluster, workload, input).await?;
        self.classes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(workload.clone(), class.clone());
        Ok(class)
    }
}

/// Reads the live workload (in the restore's target namespace) and, for a Deployment, the
/// ReplicaSet the pod belonged to.
async fn read_class<C: LiveCluster>(
    cluster: &C,
    workload: &Workload,
    input: &ExecuteInput,
) -> Result<LiveClass> {
    let target = target_namespace(&input.restore, &workload.namespace);
    let resource = match workload.kind {
        Kind::Deployment => Resource::DEPLOYMENTS,
        Kind::StatefulSet => Resource::STATEFUL_SETS,
        Kind::DaemonSet => Resource::DAEMON_SETS,
    };
    let live = cluster.get(resource.named(target, &workload.name)).await?;
    let mut current_revision_live = false;
    if let (Some(live), Kind::Deployment) = (&live, workload.kind)
        && let Some(lineage) = pod_lineage(&input.item_from_backup)
    {
        let replicaset = cluster
            .get(Resource::REPLICA_SETS.named(target, &lineage.replicaset))
            .await?;
        current_revision_live = match (replicaset, live.pointer("/spec/template")) {
            (Some(rs), Some(template)) => rs
                .pointer("/spec/template")
                .is_some_and(|t| VeleroEngine.templates_equal(t, template)),
            _ => false,
        };
    }
    Ok(core::classify(
        workload,
        live.as_ref(),
        &input.item_from_backup,
        &input.restore,
        current_revision_live,
    ))
}

/// What an item is to this guard, read from the item alone (no call).
pub(super) enum Subject {
    /// A restored pod with FSB data (Velero gave it `restore-wait`, mounting `volumes`) and a
    /// controller.
    FsbPod {
        workload: Workload,
        volumes: Vec<String>,
    },
    /// A backed-up ReplicaSet of a Deployment.
    ReplicaSet(Workload),
    /// The workload item itself.
    Workload(Workload),
    /// A ControllerRevision of a StatefulSet or DaemonSet.
    Revision(Workload),
}

impl Subject {
    fn of(input: &ExecuteInput) -> Option<Self> {
        let kind = input.item.get("kind").and_then(Value::as_str)?;
        let workload = Workload::of_backed_up(kind, &input.item_from_backup)?;
        Some(match kind {
            "Pod" => Self::FsbPod {
                volumes: core::fsb_volumes(&input.item)?,
                workload,
            },
            "ReplicaSet" => Self::ReplicaSet(workload),
            "ControllerRevision" => Self::Revision(workload),
            _ => Self::Workload(workload),
        })
    }
}

/// The item's subject when it can concern a workload that exists in the target, from what is
/// known without any call: a restored FSB pod (its workload is read next), or an item of a
/// workload its pods found live.
pub(super) fn concerns(live: &LiveWorkloads, input: &ExecuteInput) -> Option<Subject> {
    let subject = Subject::of(input)?;
    let relevant = match &subject {
        Subject::FsbPod { .. } => true,
        Subject::ReplicaSet(w) | Subject::Workload(w) | Subject::Revision(w) => live.present(w),
    };
    relevant.then_some(subject)
}

/// Whether an item, glanced at before it is decoded, can concern a workload that exists in the
/// target: what [`concerns`] and [`decide`] act on, or more. A pod with `restore-wait` does,
/// unless it has no workload or its workload was already found not to be live (then [`pod`]
/// leaves it alone); any other item does once a live workload was found.
/// `identity`: what [`core::identity_of`] read of the pod's backed-up copy, asked only when needed.
pub(super) fn may_concern<'a>(
    live: &LiveWorkloads,
    item: &Glance<'_>,
    identity: impl FnOnce() -> Option<&'a Value>,
) -> bool {
    match item.kind.as_ref() {
        "Pod" if !item.restore_wait => false,
        "Pod" => match identity() {
            Some(identity) => Workload::owning(identity)
                .is_some_and(|workload| live.known(&workload).is_none_or(|c| c.is_present())),
            None => true,
        },
        _ => live.any_present(),
    }
}

/// The guard's answer for an item of a workload that exists in the target (`subject` from
/// [`concerns`]), `None` when the resource-modifier guard decides it.
pub(super) async fn decide<C: LiveCluster>(
    cluster: &C,
    live: &LiveWorkloads,
    settings: &Settings,
    input: &ExecuteInput,
    subject: Subject,
) -> Result<Option<Answer>> {
    if settings.mode == Mode::Off
        || !settings.namespace_in_scope(namespace_of(&input.item_from_backup))
    {
        return Ok(None);
    }
    let executor = Executor::new(cluster, settings.mode == Mode::DryRun);
    match subject {
        Subject::FsbPod { workload, volumes } => {
            pod(cluster, live, &executor, input, workload, volumes).await
        }
        Subject::ReplicaSet(workload) => {
            executor.log(&[Note::info(workload.label(), REPLICASET_SKIPPED)]);
            Ok(Some(Answer {
                skip_restore: !executor.dry_run(),
                ..Answer::as_received()
            }))
        }
        Subject::Workload(workload) => {
            let message = core::workload_message(
                workload.kind,
                Policy::of(&input.restore),
                live.any_parked(&workload),
            );
            executor.log(&[Note::info(workload.label(), message)]);
            Ok(Some(Answer::as_received()))
        }
        Subject::Revision(_) => Ok(Some(Answer::as_received())),
    }
}

/// A restored pod: parked when it holds FSB data and its workload exists live.
async fn pod<C: LiveCluster>(
    cluster: &C,
    live: &LiveWorkloads,
    executor: &Executor<'_, C>,
    input: &ExecuteInput,
    workload: Workload,
    volumes: Vec<String>,
) -> Result<Option<Answer>> {
    // `may_concern` leaves a pod alone once its workload is known to be anything but present.
    let presence: Presence = match live.class_of(cluster, &workload, input).await? {
        LiveClass::Present(presence) => presence,
        class => {
            tracing::debug!(workload = %workload.label(), "live in the target: {class:?}");
            return Ok(None);
        }
    };
    let name = name_of(&input.item);
    let namespace = target_namespace(&input.restore, namespace_of(&input.item));
    if cluster
        .get(Resource::PODS.named(namespace, name))
        .await?
        .is_some()
    {
        executor.log(&[Note::warn(workload.label(), core::pod_exists_warning(name))]);
        return Ok(Some(Answer::as_received()));
    }
    let parked = core::park(
        &input.item,
        namespace,
        &workload,
        &presence,
        &volumes,
        &input.restore,
    );
    let policy = Policy::of(&input.restore);
    let mut notes = vec![Note::info(
        workload.label(),
        core::parked_message(name, &presence, policy, &parked),
    )];
    if !parked.pod_only.is_empty() {
        notes.push(Note::warn(
            workload.label(),
            core::pod_only_warning(name, &parked),
        ));
    }
    executor.log(&notes);
    live.record_parked(&workload);
    if executor.dry_run() {
        return Ok(Some(Answer::as_received()));
    }
    Ok(Some(Answer {
        item: Some(parked.item),
        skip_restore: false,
        operation_id: parked.operation_id,
    }))
}

/// Velero's Progress for a parked pod (`operation_id` from [`core::operation_id`]): waits for
/// the pod's PodVolumeRestores to finish, then deletes the pod through the executor (the only
/// writer; a pod replaced under the same name since the read is read again and left alone).
pub(super) async fn progress<C: LiveCluster>(
    cluster: &C,
    velero_namespace: &str,
    operation_id: &str,
    restore: &Value,
) -> Result<OperationProgress> {
    let Some((namespace, pod)) = core::parked_pod_of(operation_id) else {
        return Ok(done(format!(
            "operation {operation_id} is not one of this plugin's"
        )));
    };
    let decided = Mutex::new(None);
    let decided_ref = &decided;
    Executor::new(cluster, false)
        .carry_out(move || async move {
            let decision =
                progress_step(cluster, velero_namespace, namespace, pod, restore).await?;
            let label = format!("pod {namespace}/{pod}");
            let (operations, notes) = match &decision {
                ProgressDecision::Delete { uid, summary } => (
                    vec![Operation::DeletePod {
                        namespace: namespace.to_owned(),
                        name: pod.to_owned(),
                        uid: uid.clone(),
                    }],
                    vec![Note::info(label.as_str(), summary.as_str())],
                ),
                _ => (Vec::new(), Vec::new()),
            };
            *decided_ref.lock().unwrap_or_else(|e| e.into_inner()) = Some(decision);
            Ok(LiveStep {
                workload: label,
                operations,
                notes,
                notes_if_failed: Vec::new(),
            })
        })
        .await?;
    let decision = decided.into_inner().unwrap_or_else(|e| e.into_inner());
    Ok(match decision {
        Some(ProgressDecision::Waiting(finished, total)) => OperationProgress {
            completed: false,
            n_completed: finished as i64,
            n_total: total as i64,
            units: "volume restores".into(),
            description: format!(
                "parked pod {namespace}/{pod}: waiting for its volume restores ({finished} of {total} finished)"
            ),
            ..OperationProgress::default()
        },
        Some(ProgressDecision::Done(why)) => done(why),
        Some(ProgressDecision::Delete { summary, .. }) => done(summary),
        None => done(format!("parked pod {namespace}/{pod}: nothing decided")),
    })
}

/// Reads the parked pod and the restore's PodVolumeRestores, and decides.
async fn progress_step<C: LiveCluster>(
    cluster: &C,
    velero_namespace: &str,
    namespace: &str,
    pod: &str,
    restore: &Value,
) -> Result<ProgressDecision> {
    let live_pod = cluster.get(Resource::PODS.named(namespace, pod)).await?;
    let restores = match &live_pod {
        Some(_) => {
            let uid = restore
                .pointer("/metadata/uid")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let selector = format!("velero.io/restore-uid={uid}");
            cluster
                .list(Resource::POD_VOLUME_RESTORES, velero_namespace, &selector)
                .await?
        }
        None => Vec::new(),
    };
    Ok(core::progress_decision(
        namespace,
        pod,
        live_pod.as_ref(),
        &restores,
        restore,
    ))
}

fn done(description: String) -> OperationProgress {
    OperationProgress {
        completed: true,
        description,
        ..OperationProgress::default()
    }
}
