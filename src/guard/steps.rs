//! One decision per restored item, as the plugin makes it: pure functions over the item, its
//! backed-up copy and the restore's inputs. The plugin shell gathers the inputs and performs the
//! API calls; tests drive these to simulate a whole restore.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use super::decide::{
    DeploymentDecision, PodCorrection, ReplicaSetDecision, TemplateChange, check_deployment,
    correct_pod, correct_replicaset, current_replicaset,
};
use super::engine::Engine;
use super::error::Result;
use super::replicas::{
    ReplicaPlan, Replicas, align_desired_replicas, live_replica_ops, lower_replicaset,
    replica_plan, template_and_replicas_after_rules,
};
use super::settings::{Scope, Settings};
use super::workload::{
    FsbIndex, as_velero_hands_it, name_of, namespace_of, pod_lineage, replicaset_owner, str_at,
};
use super::{FsbPod, WorkloadInputs, WorkloadPlan, fsb_pods_of, plan_workload};

/// Backed-up workload objects the decisions need (from the backup contents).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BackupObjects {
    pub deployments: Vec<Value>,
    pub replicasets: Vec<Value>,
    pub pods: Vec<Value>,
    pub statefulsets: Vec<Value>,
    pub daemonsets: Vec<Value>,
    /// StatefulSet and DaemonSet history.
    pub controllerrevisions: Vec<Value>,
}

impl BackupObjects {
    /// The backed-up Deployment `namespace/name`.
    pub fn deployment(&self, namespace: &str, name: &str) -> Option<&Value> {
        self.deployments
            .iter()
            .find(|d| namespace_of(d) == namespace && name_of(d) == name)
    }
}

/// Everything a decision reads about the restore.
pub struct RestoreInputs<'a, E: Engine> {
    pub engine: &'a E,
    pub rules: &'a E::Rules,
    pub settings: &'a Settings,
    pub backup: &'a BackupObjects,
    pub fsb: &'a FsbIndex,
    /// `(namespace, Deployment)` pairs with FSB pods, precomputed once per restore by
    /// [`fsb_workloads`]; `None` scans the backed-up pods on every call (fine for small inputs).
    pub fsb_workloads: Option<&'a BTreeSet<(String, String)>>,
    /// Per-Deployment template changes computed once per restore; `None` recomputes them for
    /// every item.
    pub changes: Option<&'a ChangeCache>,
}

/// What the rules do to one backed-up Deployment's template and replica count, and which
/// backed-up ReplicaSet holds its pods: the same for every pod and ReplicaSet of the Deployment
/// during one restore.
#[derive(Debug)]
pub struct DeploymentChange {
    /// `T`, `T'`, the delta and its paths; `None` when the rules leave the template equal.
    pub change: Option<TemplateChange>,
    /// Name of the backed-up ReplicaSet whose template `≡ T`.
    pub current: Option<String>,
    /// `R → R'` and, when `R'` is below the current ReplicaSet's restored pods, which pods stay.
    pub replicas: ReplicaPlan,
}

/// [`DeploymentChange`]s by backup namespace and Deployment name, filled on first use. Valid for
/// one restore (one set of rules and backed-up objects).
#[derive(Debug, Default)]
pub struct ChangeCache {
    by_namespace: Mutex<HashMap<String, HashMap<String, Arc<DeploymentChange>>>>,
}

impl ChangeCache {
    fn get(&self, namespace: &str, name: &str) -> Option<Arc<DeploymentChange>> {
        let map = self.by_namespace.lock().unwrap_or_else(|e| e.into_inner());
        map.get(namespace)?.get(name).cloned()
    }

    fn put(&self, namespace: &str, name: &str, change: Arc<DeploymentChange>) {
        let mut map = self.by_namespace.lock().unwrap_or_else(|e| e.into_inner());
        map.entry(namespace.to_owned())
            .or_default()
            .insert(name.to_owned(), change);
    }
}

/// The template change of the backed-up `deployment` (cached per restore when `inputs.changes`).
pub fn deployment_change<E: Engine>(
    inputs: &RestoreInputs<'_, E>,
    deployment: &Value,
    template: &Value,
) -> Result<Arc<DeploymentChange>> {
    let (namespace, name) = (namespace_of(deployment), name_of(deployment));
    if let Some(cached) = inputs.changes.and_then(|c| c.get(namespace, name)) {
        return Ok(cached);
    }
    let engine = inputs.engine;
    let handed = as_velero_hands_it(deployment);
    let (change, to) = template_and_replicas_after_rules(engine, inputs.rules, &handed, template)?;
    // The current ReplicaSet is needed for replica changes too, template change or not.
    let current = current_replicaset(engine, deployment, template, &inputs.backup.replicasets)
        .map(|rs| name_of(rs).to_owned());
    let replicas = replica_plan(
        deployment,
        to,
        current.as_deref(),
        &inputs.backup.replicasets,
        &inputs.backup.pods,
        inputs.fsb,
    );
    let computed = Arc::new(DeploymentChange {
        change,
        current,
        replicas,
    });
    if let Some(cache) = inputs.changes {
        cache.put(namespace, name, computed.clone());
    }
    Ok(computed)
}

/// Every backed-up Deployment (`(namespace, name)`) that has a pod with FSB data.
pub fn fsb_workloads(backup: &BackupObjects, fsb: &FsbIndex) -> BTreeSet<(String, String)> {
    backup
        .pods
        .iter()
        .filter_map(|pod| {
            let lineage = pod_lineage(pod)?;
            (!fsb.volumes_of(pod).is_empty()).then_some((lineage.namespace, lineage.deployment))
        })
        .collect()
}

/// Log level of a step note.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Debug,
    Info,
    Warn,
}

/// What a step did, for the restore log (paths and counts only, never values).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    pub level: Level,
    /// `Deployment <ns>/<name>` (or the item when no workload was found).
    pub workload: String,
    pub message: String,
}

/// The result of one step: the item to return and notes for the log.
#[derive(Debug, Clone, PartialEq)]
pub struct StepOutcome {
    /// `Some` when the item changes (enforce mode returns it, dry-run logs and drops it).
    pub item: Option<Value>,
    /// Ask Velero not to create the item (enforce mode only).
    pub skip_restore: bool,
    pub notes: Vec<Note>,
}

impl StepOutcome {
    /// The item restored as received, with one note.
    pub(crate) fn unchanged(level: Level, workload: String, message: impl Into<String>) -> Self {
        Self {
            item: None,
            skip_restore: false,
            notes: vec![Note {
                level,
                workload,
                message: message.into(),
            }],
        }
    }
}

/// The warning for a pod whose template change was partly or wholly withheld (`None` when all of
/// it was applied). Shared by every workload kind's pod step.
pub(crate) fn withheld_note(pod: &str, workload: &str, corrected: &PodCorrection) -> Option<Note> {
    if corrected.withheld.is_empty() {
        return None;
    }
    let broken = if corrected.broken.is_empty() {
        String::new()
    } else {
        format!(" ({})", corrected.broken.join("; "))
    };
    Some(Note {
        level: Level::Warn,
        workload: workload.to_owned(),
        message: format!(
            "{pod}: withheld template paths {:?} to keep its file-system restore working{broken}",
            corrected.withheld,
        ),
    })
}

/// The pod step's answer for a pod [`correct_pod`] corrected (`item` as received): the corrected
/// item when it differs, the withheld warning and what was re-emitted.
pub(crate) fn corrected_pod_outcome(
    pod: &str,
    workload: String,
    item: &Value,
    corrected: PodCorrection,
    volumes: &BTreeSet<String>,
) -> StepOutcome {
    let mut notes: Vec<Note> = withheld_note(pod, &workload, &corrected)
        .into_iter()
        .collect();
    notes.push(Note {
        level: Level::Debug,
        workload,
        message: format!(
            "{pod}: re-emitted template paths {:?} (FSB volumes {:?})",
            corrected.re_emitted, volumes
        ),
    });
    StepOutcome {
        item: (corrected.item != *item).then_some(corrected.item),
        skip_restore: false,
        notes,
    }
}

fn workload_label(namespace: &str, name: &str) -> String {
    format!("Deployment {namespace}/{name}")
}

/// Deployment-level preconditions shared by every step: in scope, FSB pods (scope fsb-only).
fn out_of_scope<E: Engine>(inputs: &RestoreInputs<'_, E>, deployment: &Value) -> Option<String> {
    if !inputs.settings.namespace_in_scope(namespace_of(deployment)) {
        return Some("namespace out of scope".to_owned());
    }
    let has_fsb_pods = match inputs.fsb_workloads {
        Some(set) => set.contains(&(
            namespace_of(deployment).to_owned(),
            name_of(deployment).to_owned(),
        )),
        None => !fsb_pods_of(deployment, &inputs.backup.pods, inputs.fsb).is_empty(),
    };
    if inputs.settings.scope == Scope::FsbOnly && !has_fsb_pods {
        return Some("no pod with file-system-backup data; nothing to protect".to_owned());
    }
    None
}

/// What the pod and ReplicaSet steps share: the backed-up Deployment `namespace/name`, in scope,
/// whose template the restore's rules change or whose final replica count leaves restored pods of
/// its current ReplicaSet to skip (computed once per Deployment). `step` gets the workload label and
/// the [`DeploymentChange`]; any other case leaves the item unchanged with a debug note saying why.
fn for_guarded_change<E: Engine>(
    inputs: &RestoreInputs<'_, E>,
    namespace: &str,
    deployment_name: &str,
    step: impl FnOnce(String, &DeploymentChange) -> Result<StepOutcome>,
) -> Result<StepOutcome> {
    let workload = workload_label(namespace, deployment_name);
    let Some(deployment) = inputs.backup.deployment(namespace, deployment_name) else {
        return Ok(StepOutcome::unchanged(
            Level::Debug,
            workload,
            "Deployment not in the backup",
        ));
    };
    if let Some(why) = out_of_scope(inputs, deployment) {
        return Ok(StepOutcome::unchanged(Level::Debug, workload, why));
    }
    let Some(template) = deployment.pointer("/spec/template") else {
        return Ok(StepOutcome::unchanged(
            Level::Debug,
            workload,
            "Deployment has no template",
        ));
    };
    let computed = deployment_change(inputs, deployment, template)?;
    if computed.change.is_none() && computed.replicas.lowered_to().is_none() {
        return Ok(StepOutcome::unchanged(
            Level::Debug,
            workload,
            "template unchanged by the rules",
        ));
    }
    step(workload, &computed)
}

/// A pod of the current ReplicaSet beyond the final replica count: not restored. One `warn` per
/// FSB volume whose data is dropped with it, else one `info`.
fn skip_pod(
    workload: &str,
    pod: &str,
    plan: &ReplicaPlan,
    fsb_volumes: &BTreeSet<String>,
) -> StepOutcome {
    let kept = plan.choice.as_ref().map_or(0, |c| c.kept.len());
    let head = format!(
        "{pod}: not restored (skipRestore): replicas lowered {}",
        plan.change_text()
    );
    let notes = if fsb_volumes.is_empty() {
        vec![Note {
            level: Level::Info,
            workload: workload.to_owned(),
            message: format!("{head}, {kept} of {} pods kept", plan.pods),
        }]
    } else {
        fsb_volumes
            .iter()
            .map(|volume| Note {
                level: Level::Warn,
                workload: workload.to_owned(),
                message: format!(
                    "{head}; file-system-backup data of volume {volume} will not be restored (more pods with their own FSB data than replicas)"
                ),
            })
            .collect()
    };
    StepOutcome {
        item: None,
        skip_restore: true,
        notes,
    }
}

/// Pod step. `item` as received (Velero's actions ran: `restore-wait` inserted), `from_backup` the
/// backed-up pod.
pub fn pod_step<E: Engine>(
    inputs: &RestoreInputs<'_, E>,
    item: &Value,
    from_backup: &Value,
) -> Result<StepOutcome> {
    let pod = format!("pod {}/{}", namespace_of(from_backup), name_of(from_backup));
    let Some(lineage) = pod_lineage(from_backup) else {
        return Ok(StepOutcome::unchanged(
            Level::Debug,
            pod,
            "not managed by a Deployment",
        ));
    };
    for_guarded_change(
        inputs,
        &lineage.namespace,
        &lineage.deployment,
        |workload, computed| {
            let in_current = computed.current.as_deref() == Some(lineage.replicaset.as_str());
            if let Some(skipped) = computed
                .replicas
                .choice
                .as_ref()
                .filter(|_| in_current)
                .and_then(|c| c.skipped(name_of(from_backup)))
            {
                return Ok(skip_pod(
                    &workload,
                    &pod,
                    &computed.replicas,
                    &skipped.fsb_volumes,
                ));
            }
            let Some(change) = &computed.change else {
                return Ok(StepOutcome::unchanged(
                    Level::Debug,
                    workload,
                    format!("{pod}: kept (template unchanged by the rules)"),
                ));
            };
            if !in_current {
                return Ok(StepOutcome::unchanged(
                    Level::Debug,
                    workload,
                    format!("{pod} belongs to a past revision; left as is"),
                ));
            }
            let volumes = inputs.fsb.volumes_of(from_backup);
            let corrected = correct_pod(inputs.engine, item, change, &volumes)?;
            Ok(corrected_pod_outcome(
                &pod, workload, item, corrected, &volumes,
            ))
        },
    )
}

/// The template part of the ReplicaSet step (the Deployment's template changes by `change`).
fn retemplate_replicaset<E: Engine>(
    inputs: &RestoreInputs<'_, E>,
    item: &Value,
    rs: &str,
    workload: String,
    change: &TemplateChange,
    current: Option<&str>,
) -> Result<StepOutcome> {
    let Some(current) = current else {
        return Ok(StepOutcome::unchanged(
            Level::Debug,
            workload,
            "no backed-up ReplicaSet carries the Deployment's template",
        ));
    };
    let decision = correct_replicaset(inputs.engine, inputs.rules, item, change, current)?;
    Ok(match decision {
        ReplicaSetDecision::Unchanged => {
            StepOutcome::unchanged(Level::Debug, workload, format!("{rs}: unchanged"))
        }
        ReplicaSetDecision::Retemplated {
            item,
            rules_change_it_after,
        } => {
            let mut notes = vec![Note {
                level: Level::Debug,
                workload: workload.clone(),
                message: format!("{rs}: template re-emitted ({} paths)", change.paths.len()),
            }];
            if rules_change_it_after {
                notes.push(Note {
                    level: Level::Warn,
                    workload,
                    message: format!(
                        "{rs}: the restore's ReplicaSet rules change its template after the guard; the Deployment step will align the live ReplicaSet"
                    ),
                });
            }
            StepOutcome {
                item: Some(item),
                skip_restore: false,
                notes,
            }
        }
        ReplicaSetDecision::PastRevisionSetApart { item } => StepOutcome {
            item: Some(item),
            skip_restore: false,
            notes: vec![Note {
                level: Level::Info,
                workload,
                message: format!(
                    "{rs}: past revision equal to the new template set apart so the controller keeps {current}"
                ),
            }],
        },
    })
}

/// ReplicaSet step. `item` as received, `from_backup` the backed-up ReplicaSet. The template
/// correction and the replica change both apply to the same item when both are due.
pub fn replicaset_step<E: Engine>(
    inputs: &RestoreInputs<'_, E>,
    item: &Value,
    from_backup: &Value,
) -> Result<StepOutcome> {
    let namespace = namespace_of(from_backup);
    let name = name_of(from_backup);
    let rs = format!("ReplicaSet {namespace}/{name}");
    let Some(owner) = replicaset_owner(from_backup) else {
        return Ok(StepOutcome::unchanged(
            Level::Debug,
            rs,
            "not owned by a Deployment",
        ));
    };
    for_guarded_change(inputs, namespace, owner, |workload, computed| {
        let current = computed.current.as_deref();
        let mut outcome = match &computed.change {
            Some(change) => {
                retemplate_replicaset(inputs, item, &rs, workload.clone(), change, current)?
            }
            None => StepOutcome::unchanged(
                Level::Debug,
                workload.clone(),
                format!("{rs}: template unchanged by the rules"),
            ),
        };
        let plan = &computed.replicas;
        let Some((lowered_to, choice)) = plan.lowered_to().zip(plan.choice.as_ref()) else {
            return Ok(outcome);
        };
        let base = outcome.item.take().unwrap_or_else(|| item.clone());
        if current == Some(name) {
            outcome.item = Some(lower_replicaset(&base, plan, lowered_to));
            outcome.notes.push(Note {
                level: Level::Info,
                workload,
                message: format!(
                    "{rs}: replicas set to {lowered_to} (replicas lowered {}); {} restored pods kept, {} skipped",
                    plan.change_text(),
                    choice.kept.len(),
                    choice.skipped.len()
                ),
            });
        } else if plan.older_active.iter().any(|n| n == name) {
            outcome.item = Some(align_desired_replicas(&base, lowered_to));
            outcome.notes.push(Note {
                level: Level::Info,
                workload,
                message: format!(
                    "{rs}: older revision with pods (backup taken mid-rollout) restored with its pods; desired-replicas set to {lowered_to} so the controller resumes the rollout instead of scaling every ReplicaSet down"
                ),
            });
        } else {
            outcome.item = (base != *item).then_some(base);
        }
        Ok(outcome)
    })
}

/// Which live ReplicaSet the Deployment step must read: `(target namespace, name)`, or `None`
/// when the Deployment needs no check (not guarded, no current ReplicaSet).
pub fn deployment_target<E: Engine>(
    inputs: &RestoreInputs<'_, E>,
    from_backup: &Value,
    restore: &Value,
) -> Option<(String, String)> {
    out_of_scope(inputs, from_backup).is_none().then_some(())?;
    let template = from_backup.pointer("/spec/template")?;
    let current = current_replicaset(
        inputs.engine,
        from_backup,
        template,
        &inputs.backup.replicasets,
    )?;
    let namespace = namespace_of(from_backup);
    let target = restore
        .pointer("/spec/namespaceMapping")
        .and_then(|m| m.get(namespace))
        .and_then(Value::as_str)
        .unwrap_or(namespace);
    Some((target.to_owned(), name_of(current).to_owned()))
}

/// Deployment step result: the decision (the item itself is never changed) and the notes.
#[derive(Debug, Clone, PartialEq)]
pub struct DeploymentOutcome {
    pub decision: DeploymentDecision,
    pub notes: Vec<Note>,
}

/// Deployment step. `item` as received (maybe changed by earlier plugins), `from_backup` the
/// backed-up Deployment, `live` the restored current ReplicaSet read from the cluster.
pub fn deployment_step<E: Engine>(
    inputs: &RestoreInputs<'_, E>,
    item: &Value,
    from_backup: &Value,
    live: Option<&Value>,
) -> Result<DeploymentOutcome> {
    let workload = workload_label(namespace_of(from_backup), name_of(from_backup));
    let debug = |message: String| DeploymentOutcome {
        decision: DeploymentDecision::NothingToDo,
        notes: vec![Note {
            level: Level::Debug,
            workload: workload.clone(),
            message,
        }],
    };
    if let Some(why) = out_of_scope(inputs, from_backup) {
        return Ok(debug(why));
    }
    let Some(template) = from_backup.pointer("/spec/template") else {
        return Ok(debug("Deployment has no template".to_owned()));
    };
    let engine = inputs.engine;
    let Some(current) =
        current_replicaset(engine, from_backup, template, &inputs.backup.replicasets)
    else {
        return Ok(debug(
            "no backed-up ReplicaSet carries the Deployment's template".to_owned(),
        ));
    };
    let plan: WorkloadPlan = plan_workload(
        engine,
        inputs.rules,
        WorkloadInputs {
            deployment: from_backup,
            replicasets: &inputs.backup.replicasets,
            pods: &inputs.backup.pods,
            fsb: inputs.fsb,
            settings: inputs.settings,
        },
    )?;
    let template_decision = check_deployment(
        engine,
        inputs.rules,
        item,
        template,
        current,
        live,
        plan.change.as_ref(),
    )?;
    let current_name = name_of(current);
    // The replica change: the live ReplicaSet must hold `R'` replicas (the ReplicaSet step set
    // them; an earlier plugin or a ReplicaSet rule may have changed them since).
    let replicas = &plan.replicas;
    let lowered = replicas.lowered_to().zip(replicas.choice.as_ref());
    let replica_ops = match (lowered, live) {
        (Some((r, _)), Some(live)) => live_replica_ops(live, r),
        _ => Vec::new(),
    };
    let replica_text = lowered.map(|(r, choice)| {
        let dropped: Vec<String> = choice
            .fsb_dropped()
            .flat_map(|p| p.fsb_volumes.iter().map(|v| format!("{}/{v}", p.name)))
            .collect();
        let live_state = if replica_ops.is_empty() {
            format!("ReplicaSet {current_name} already at {r} replicas")
        } else {
            format!("ReplicaSet {current_name} scaled to {r} replicas")
        };
        format!(
            "replicas lowered {}: {} of {} pods restored, {} skipped (skipRestore), FSB volumes not restored {dropped:?}; {live_state}",
            replicas.change_text(),
            choice.kept.len(),
            replicas.pods,
            choice.skipped.len(),
        )
    });
    let volumes: Vec<String> = plan.fsb_pods.iter().flat_map(FsbPod::pod_volumes).collect();
    let withheld: Vec<&String> = plan
        .pods
        .iter()
        .flat_map(|(_, c)| c.withheld.iter())
        .collect();
    let with_replicas = |text: String| match &replica_text {
        Some(r) => format!("{text}; {r}"),
        None => text,
    };
    let summary = |live_state: String| Note {
        level: Level::Info,
        workload: workload.clone(),
        message: with_replicas(format!(
            "template change kept off the rollout path: {} pods, FSB volumes {:?}, template paths re-emitted {:?}, withheld {:?}; {live_state}",
            plan.pods.len(),
            volumes,
            plan.change
                .as_ref()
                .map(|c| c.paths.clone())
                .unwrap_or_default(),
            withheld,
        )),
    };
    let mut notes = match &template_decision {
        DeploymentDecision::NothingToDo => match &replica_text {
            Some(text) => vec![Note {
                level: Level::Info,
                workload: workload.clone(),
                message: format!("replica change kept off the scale-down path: {text}"),
            }],
            None => vec![Note {
                level: Level::Debug,
                workload: workload.clone(),
                message: "template unchanged by the rules; nothing to do".to_owned(),
            }],
        },
        DeploymentDecision::AlreadyAligned => {
            vec![summary(format!(
                "ReplicaSet {current_name} already carries the new template"
            ))]
        }
        DeploymentDecision::NoLiveReplicaSet => vec![Note {
            level: Level::Warn,
            workload: workload.clone(),
            message: format!(
                "ReplicaSet {current_name} not found in the cluster; the Deployment will create a new one"
            ),
        }],
        DeploymentDecision::Align { pods_lack, .. } => {
            let mut notes = vec![summary(format!(
                "ReplicaSet {current_name} aligned with the Deployment's final template"
            ))];
            if !pods_lack.is_empty() {
                notes.push(Note {
                    level: Level::Warn,
                    workload: workload.clone(),
                    message: format!(
                        "restored pods lack template paths {pods_lack:?} (changed after the pod step); they get them on the next rollout"
                    ),
                });
            }
            notes
        }
    };
    if let Replicas::Unparseable(kind) = replicas.to {
        notes.push(Note {
            level: Level::Warn,
            workload: workload.clone(),
            message: format!(
                "spec.replicas after the rules is not a replica count ({kind}); replica changes left to the controller"
            ),
        });
    }
    let decision = match template_decision {
        _ if replica_ops.is_empty() => template_decision,
        DeploymentDecision::Align {
            mut patch,
            pods_lack,
        } => {
            if let Some(ops) = patch.as_array_mut() {
                ops.extend(replica_ops);
            }
            DeploymentDecision::Align { patch, pods_lack }
        }
        _ => {
            let mut ops = Vec::with_capacity(2);
            if let Some(version) = live.and_then(|l| str_at(l, "/metadata/resourceVersion")) {
                // Same precondition as the template alignment: a concurrent change makes the
                // PATCH fail and the shell reads the ReplicaSet again.
                ops.push(
                    json!({"op": "test", "path": "/metadata/resourceVersion", "value": version}),
                );
            }
            ops.extend(replica_ops);
            DeploymentDecision::Align {
                patch: Value::Array(ops),
                pods_lack: Vec::new(),
            }
        }
    };
    Ok(DeploymentOutcome { decision, notes })
}
