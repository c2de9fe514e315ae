//! The DaemonSet steps as the plugin runs them: pure functions over the item, its backed-up copy,
//! the restore's inputs and (DaemonSet step) the live objects the shell read.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use serde_json::Value;

use super::super::FsbPod;
use super::super::engine::Engine;
use super::super::error::Result;
use super::super::steps::{Level, Note, RestoreInputs, StepOutcome, withheld_note};
use super::super::workload::{as_velero_hands_it, daemonset_owner, name_of, namespace_of};
use super::decide::{
    DaemonSetChange, DaemonSetPodDecision, Relabel, RestoredGeneration, backed_up_generation,
    correct_daemonset_pod, daemonset_change, pod_generation, pods_to_relabel,
};
use super::{
    DaemonSetInputs, TEMPLATE_GENERATION_ANNOTATION, daemonset_fsb_pods, daemonset_out_of_scope,
    plan_daemonset, pods_of,
};
use crate::cluster::pods::match_labels_selector;

/// What the rules do to one backed-up DaemonSet, computed once per restore.
#[derive(Debug)]
pub struct CachedDaemonSet {
    pub change: DaemonSetChange,
    pub has_fsb_pods: bool,
}

/// [`CachedDaemonSet`]s by backup namespace and name, filled on first use; valid for one restore.
#[derive(Debug, Default)]
pub struct DaemonSetCache {
    by_name: Mutex<HashMap<(String, String), Arc<CachedDaemonSet>>>,
}

fn label(namespace: &str, name: &str) -> String {
    format!("DaemonSet {namespace}/{name}")
}

/// The change of the backed-up `daemonset` (cached when `cache` is given).
pub(super) fn cached_change<E: Engine>(
    inputs: &RestoreInputs<'_, E>,
    cache: Option<&DaemonSetCache>,
    daemonset: &Value,
) -> Result<Arc<CachedDaemonSet>> {
    let key = (
        namespace_of(daemonset).to_owned(),
        name_of(daemonset).to_owned(),
    );
    if let Some(hit) = cache.and_then(|c| {
        let map = c.by_name.lock().unwrap_or_else(|e| e.into_inner());
        map.get(&key).cloned()
    }) {
        return Ok(hit);
    }
    let template = daemonset
        .pointer("/spec/template")
        .cloned()
        .unwrap_or_default();
    let computed = Arc::new(CachedDaemonSet {
        change: daemonset_change(
            inputs.engine,
            inputs.rules,
            &as_velero_hands_it(daemonset),
            &template,
            backed_up_generation(daemonset),
        )?,
        has_fsb_pods: !daemonset_fsb_pods(daemonset, &inputs.backup.pods, inputs.fsb).is_empty(),
    });
    if let Some(cache) = cache {
        let mut map = cache.by_name.lock().unwrap_or_else(|e| e.into_inner());
        map.insert(key, computed.clone());
    }
    Ok(computed)
}

pub(super) fn backed_up_daemonset<'a, E: Engine>(
    inputs: &RestoreInputs<'a, E>,
    namespace: &str,
    name: &str,
) -> Option<&'a Value> {
    inputs
        .backup
        .daemonsets
        .iter()
        .find(|d| namespace_of(d) == namespace && name_of(d) == name)
}

/// Pod step for a pod a DaemonSet controls. `item` as received (Velero's actions ran:
/// `restore-wait` inserted), `from_backup` the backed-up pod.
pub fn daemonset_pod_step<E: Engine>(
    inputs: &RestoreInputs<'_, E>,
    cache: Option<&DaemonSetCache>,
    item: &Value,
    from_backup: &Value,
) -> Result<StepOutcome> {
    let namespace = namespace_of(from_backup);
    let pod = format!("pod {namespace}/{}", name_of(from_backup));
    let Some(owner) = daemonset_owner(from_backup) else {
        return Ok(StepOutcome::unchanged(
            Level::Debug,
            pod,
            "not managed by a DaemonSet",
        ));
    };
    let workload = label(namespace, owner);
    let Some(daemonset) = backed_up_daemonset(inputs, namespace, owner) else {
        return Ok(StepOutcome::unchanged(
            Level::Debug,
            workload,
            "DaemonSet not in the backup",
        ));
    };
    let cached = cached_change(inputs, cache, daemonset)?;
    if let Some(why) = daemonset_out_of_scope(inputs.settings, daemonset, cached.has_fsb_pods) {
        return Ok(StepOutcome::unchanged(Level::Debug, workload, why));
    }
    if cached.change.is_noop() {
        return Ok(StepOutcome::unchanged(
            Level::Debug,
            workload,
            "template and generation unchanged by the rules",
        ));
    }
    let volumes = inputs.fsb.volumes_of(from_backup);
    let decision = correct_daemonset_pod(
        inputs.engine,
        item,
        pod_generation(from_backup),
        &cached.change,
        &volumes,
    )?;
    let corrected = match decision {
        DaemonSetPodDecision::PastGeneration { label } => {
            return Ok(StepOutcome::unchanged(
                Level::Debug,
                workload,
                format!(
                    "{pod} belongs to a past generation ({}); left as is",
                    label
                        .as_deref()
                        .unwrap_or("no pod-template-generation label")
                ),
            ));
        }
        DaemonSetPodDecision::Unprotectable => {
            return Ok(StepOutcome::unchanged(
                Level::Debug,
                workload,
                format!(
                    "{pod}: left as is; the rules make annotation {TEMPLATE_GENERATION_ANNOTATION} unparseable"
                ),
            ));
        }
        DaemonSetPodDecision::Unchanged => {
            return Ok(StepOutcome::unchanged(
                Level::Debug,
                workload,
                format!("{pod}: unchanged"),
            ));
        }
        DaemonSetPodDecision::Corrected(c) => c,
    };
    let c = &corrected.pod;
    let mut notes: Vec<Note> = withheld_note(&pod, &workload, c).into_iter().collect();
    let (from, to) = &corrected.generation_label;
    if from.as_deref() != Some(to.as_str()) {
        notes.push(Note {
            level: Level::Info,
            workload: workload.clone(),
            message: format!(
                "{pod}: pod-template-generation {} -> {to} (the restored DaemonSet's generation)",
                from.as_deref().unwrap_or("none")
            ),
        });
    }
    notes.push(Note {
        level: Level::Debug,
        workload,
        message: format!(
            "{pod}: re-emitted template paths {:?} (FSB volumes {:?}; left to the controller {:?})",
            c.re_emitted, volumes, corrected.controller_owned
        ),
    });
    Ok(StepOutcome {
        item: (c.item != *item).then(|| c.item.clone()),
        skip_restore: false,
        notes,
    })
}

/// What the DaemonSet step must read: the DaemonSet and its pods in the restore's target namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaemonSetTarget {
    /// Target namespace (after `restore.spec.namespaceMapping`).
    pub namespace: String,
    pub name: String,
    /// Label selector for listing its pods (`spec.selector.matchLabels`; `""` = all pods, then
    /// filtered by name).
    pub selector: String,
    /// Names of the backed-up pods at the backed-up generation (the ones the pod step corrected).
    pub current_pods: BTreeSet<String>,
}

/// Which live objects the DaemonSet step needs, or `None` when the DaemonSet needs no check (out
/// of scope, neither the backed-up nor the incoming DaemonSet changes under the rules, no current
/// pod in the backup). `item` as received (earlier plugins may have changed it).
pub fn daemonset_target<E: Engine>(
    inputs: &RestoreInputs<'_, E>,
    cache: Option<&DaemonSetCache>,
    item: &Value,
    from_backup: &Value,
    restore: &Value,
) -> Result<Option<DaemonSetTarget>> {
    let cached = cached_change(inputs, cache, from_backup)?;
    if daemonset_out_of_scope(inputs.settings, from_backup, cached.has_fsb_pods).is_some() {
        return Ok(None);
    }
    let Some(template) = from_backup.pointer("/spec/template") else {
        return Ok(None);
    };
    let generation = backed_up_generation(from_backup);
    let now = daemonset_change(inputs.engine, inputs.rules, item, template, generation)?;
    if cached.change.is_noop() && now.is_noop() {
        return Ok(None);
    }
    let current_pods: BTreeSet<String> = pods_of(from_backup, &inputs.backup.pods)
        .filter(|p| generation.is_some() && pod_generation(p) == generation)
        .map(|p| name_of(p).to_owned())
        .collect();
    if current_pods.is_empty() {
        return Ok(None);
    }
    Ok(Some(DaemonSetTarget {
        namespace: target_namespace(namespace_of(from_backup), restore),
        name: name_of(from_backup).to_owned(),
        selector: from_backup
            .pointer("/spec/selector")
            .and_then(match_labels_selector)
            .unwrap_or_default(),
        current_pods,
    }))
}

/// Where the restore puts objects of backup namespace `namespace` (`spec.namespaceMapping`).
pub(super) fn target_namespace(namespace: &str, restore: &Value) -> String {
    restore
        .pointer("/spec/namespaceMapping")
        .and_then(|m| m.get(namespace))
        .and_then(Value::as_str)
        .unwrap_or(namespace)
        .to_owned()
}

/// The live objects the shell read for [`daemonset_step`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DaemonSetLive {
    /// The DaemonSet in the target namespace before Velero creates it (`Some`: it already exists).
    pub daemonset: Option<Value>,
    /// Pods listed with [`DaemonSetTarget::selector`] in the target namespace.
    pub pods: Vec<Value>,
}

/// Dry-run: `live` pods of the backed-up `daemonset` as enforce mode would have restored them (the
/// pod step's generation label on current pods), so the DaemonSet step judges what enforce would
/// do.
pub fn as_enforce_restores<E: Engine>(
    inputs: &RestoreInputs<'_, E>,
    cache: Option<&DaemonSetCache>,
    daemonset: &Value,
    live: Vec<Value>,
) -> Result<Vec<Value>> {
    let cached = cached_change(inputs, cache, daemonset)?;
    let change = &cached.change;
    let (Some(backed_up), Some(restored)) = (
        change.backed_up_generation.as_deref(),
        change.restored_generation.label(),
    ) else {
        return Ok(live);
    };
    Ok(live
        .into_iter()
        .map(|mut pod| {
            if pod_generation(&pod) == Some(backed_up)
                && let Some(labels) = pod
                    .pointer_mut("/metadata/labels")
                    .and_then(Value::as_object_mut)
            {
                labels.insert(
                    super::POD_TEMPLATE_GENERATION.to_owned(),
                    Value::String(restored.clone()),
                );
            }
            pod
        })
        .collect())
}

/// DaemonSet step result: the label patches to make (the item itself is never changed) and notes.
#[derive(Debug, Clone, PartialEq)]
pub struct DaemonSetOutcome {
    /// Live pods to relabel with the restored DaemonSet's generation (label-only patch).
    pub relabel: Vec<Relabel>,
    pub notes: Vec<Note>,
}

/// DaemonSet step. `item` as received, `from_backup` the backed-up DaemonSet, `target` from
/// [`daemonset_target`], `live` what the shell read.
pub fn daemonset_step<E: Engine>(
    inputs: &RestoreInputs<'_, E>,
    item: &Value,
    from_backup: &Value,
    target: &DaemonSetTarget,
    live: &DaemonSetLive,
) -> Result<DaemonSetOutcome> {
    let workload = label(namespace_of(from_backup), name_of(from_backup));
    let note = |level, message: String| Note {
        level,
        workload: workload.clone(),
        message,
    };
    if live.daemonset.is_some() {
        return Ok(DaemonSetOutcome {
            relabel: Vec::new(),
            notes: vec![note(
                Level::Warn,
                format!(
                    "DaemonSet already exists in namespace {}; Velero does not create it from the backup, so the live DaemonSet's generation decides which restored pods are current; not verified",
                    target.namespace
                ),
            )],
        });
    }
    let template = from_backup
        .pointer("/spec/template")
        .cloned()
        .unwrap_or_default();
    let now = daemonset_change(
        inputs.engine,
        inputs.rules,
        item,
        &template,
        backed_up_generation(from_backup),
    )?;
    let mut notes = Vec::new();
    let generation = match (&now.restored_generation, now.restored_generation.label()) {
        (_, None) => {
            return Ok(DaemonSetOutcome {
                relabel: Vec::new(),
                notes: vec![note(
                    Level::Warn,
                    format!(
                        "the restore's rules make annotation {TEMPLATE_GENERATION_ANNOTATION} unparseable: the API server will reject the DaemonSet; its restored pods cannot be protected"
                    ),
                )],
            });
        }
        (RestoredGeneration::Removed, Some(g)) => {
            notes.push(note(
                Level::Warn,
                format!(
                    "the restore's rules remove annotation {TEMPLATE_GENERATION_ANNOTATION}: the API server starts the DaemonSet at generation {g}; restored pods at the backed-up generation are relabelled to {g}"
                ),
            ));
            g
        }
        (_, Some(g)) => g,
    };
    let plan = plan_daemonset(
        inputs.engine,
        inputs.rules,
        DaemonSetInputs {
            daemonset: from_backup,
            pods: &inputs.backup.pods,
            fsb: inputs.fsb,
            settings: inputs.settings,
        },
    )?;
    let relabel = pods_to_relabel(&live.pods, &target.current_pods, &generation);
    let live_names: BTreeSet<&str> = live.pods.iter().map(name_of).collect();
    let missing = target
        .current_pods
        .iter()
        .filter(|p| !live_names.contains(p.as_str()))
        .count();
    let carrying = target.current_pods.len() - missing - relabel.len();
    if !now.node_eligibility.is_empty() {
        notes.push(note(
            Level::Warn,
            format!(
                "template change alters which nodes run the DaemonSet's pods (paths {:?}): the controller deletes restored pods on nodes that no longer qualify, file-system restore included; the guard cannot prevent that",
                now.node_eligibility
            ),
        ));
    }
    // What the pods received at the pod step vs the template the DaemonSet is created with (an
    // earlier plugin may have changed the item since).
    let pods_template = plan.change.as_ref().map_or(&template, |c| &c.target);
    let final_template = now.change.as_ref().map_or(&template, |c| &c.target);
    if !inputs.engine.templates_equal(pods_template, final_template) {
        let lack = super::super::delta::patch_paths(
            &inputs.engine.template_diff(pods_template, final_template)?,
        );
        notes.push(note(
            Level::Warn,
            format!(
                "restored pods lack template paths {lack:?} (changed after the pod step); they count as current by generation and get them when next replaced"
            ),
        ));
    }
    let volumes: Vec<String> = plan.fsb_pods.iter().flat_map(FsbPod::pod_volumes).collect();
    let withheld: Vec<&String> = plan
        .pods
        .iter()
        .flat_map(|(_, c)| c.pod.withheld.iter())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let missing_text = if missing > 0 {
        format!(", {missing} not found")
    } else {
        String::new()
    };
    notes.push(note(
        Level::Info,
        format!(
            "template change kept off the rollout path: {} pods, FSB volumes {:?}, template paths re-emitted {:?}, withheld {:?}; pod-template-generation {generation}: {carrying} pods carry it, {} relabelled{missing_text}",
            target.current_pods.len(),
            volumes,
            now.change.as_ref().map(|c| c.paths.clone()).unwrap_or_default(),
            withheld,
            relabel.len(),
        ),
    ));
    Ok(DaemonSetOutcome { relabel, notes })
}
