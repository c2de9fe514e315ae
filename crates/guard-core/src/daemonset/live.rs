//! The DaemonSet step. The item is returned unchanged; the generation is recomputed from the item
//! as it arrives (earlier plugins may have changed it), the live restored pods still lacking it
//! are relabelled (a label patch, no restart), and a template change that alters which nodes
//! qualify is reported — the controller deletes pods on nodes that no longer qualify and the guard
//! cannot prevent that.

use std::collections::BTreeSet;
use std::sync::Arc;

use serde_json::Value;

use super::generation::{
    DaemonSetChange, POD_TEMPLATE_GENERATION, Relabel, RestoredGeneration,
    TEMPLATE_GENERATION_ANNOTATION, backed_up_generation, daemonset_change, pod_generation,
    pods_to_relabel,
};
use super::plan::{DaemonSetPlan, pods_of};
use crate::error::Result;
use crate::plans::plan_of;
use crate::restore::{Item, RestoreInputs};
use crate::toolkit::notes::{Level, Note, kept_off_the_rollout_path, withheld_union};
use crate::toolkit::object::{match_labels_selector, name_of};
use crate::toolkit::owners::{Kind, Workload};
use crate::toolkit::scope::target_namespace;
use crate::toolkit::template::changed_paths;

/// What the DaemonSet step must read: the DaemonSet and its pods in the restore's target
/// namespace, and the plan it judges them by.
#[derive(Debug, Clone)]
pub struct DaemonSetTarget {
    /// `DaemonSet <ns>/<name>` (backup namespace).
    pub workload: String,
    /// Target namespace (after `restore.spec.namespaceMapping`).
    pub namespace: String,
    pub name: String,
    /// Label selector for listing its pods (`spec.selector.matchLabels`; `""` = all pods, then
    /// filtered by name).
    pub selector: String,
    /// Names of the backed-up pods at the backed-up generation (the ones the pod step corrected).
    pub current_pods: BTreeSet<String>,
    plan: Arc<DaemonSetPlan>,
}

/// The live objects the shell read for [`daemonset_step`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DaemonSetLive {
    /// The DaemonSet in the target namespace before Velero creates it (`Some`: it already exists).
    pub daemonset: Option<Value>,
    /// Pods listed with [`DaemonSetTarget::selector`] in the target namespace.
    pub pods: Vec<Value>,
}

/// DaemonSet step result: the label patches to make (the item itself is never changed) and notes.
#[derive(Debug, Clone, PartialEq)]
pub struct DaemonSetOutcome {
    /// Live pods to relabel with the restored DaemonSet's generation (label-only patch).
    pub relabel: Vec<Relabel>,
    pub notes: Vec<Note>,
}

/// Which live objects the DaemonSet step needs, or `None` when the DaemonSet needs no check (out
/// of scope, neither the backed-up nor the incoming DaemonSet changes under the rules, no current
/// pod in the backup). `item.received` maybe changed by earlier plugins.
pub fn daemonset_target(
    inputs: &RestoreInputs<'_>,
    item: Item<'_>,
) -> Result<Option<DaemonSetTarget>> {
    let from_backup = item.from_backup;
    let plan = plan_of::<DaemonSetPlan>(inputs, from_backup)?;
    if plan.out_of_scope.is_some() {
        return Ok(None);
    }
    let Some(template) = from_backup.pointer("/spec/template") else {
        return Ok(None);
    };
    let generation = backed_up_generation(from_backup);
    let now = daemonset_change(
        inputs.engine,
        inputs.rules,
        item.received,
        template,
        generation,
    )?;
    if plan.after_rules.is_noop() && now.is_noop() {
        return Ok(None);
    }
    let pods = inputs.backup.pods_owned_by(Kind::DaemonSet, from_backup);
    let current_pods: BTreeSet<String> = pods_of(from_backup, &pods)
        .filter(|p| generation.is_some() && pod_generation(p) == generation)
        .map(|p| name_of(p).to_owned())
        .collect();
    if current_pods.is_empty() {
        return Ok(None);
    }
    let workload = Workload::of(Kind::DaemonSet, from_backup);
    Ok(Some(DaemonSetTarget {
        namespace: target_namespace(item.restore, &workload.namespace).to_owned(),
        selector: from_backup
            .pointer("/spec/selector")
            .and_then(match_labels_selector)
            .unwrap_or_default(),
        workload: workload.label(),
        name: workload.name,
        current_pods,
        plan,
    }))
}

/// Dry-run: `live` pods as enforce mode would have restored them (the pod step's generation label
/// on current pods), so the DaemonSet step judges what enforce would do.
pub fn as_enforce_restores(target: &DaemonSetTarget, live: Vec<Value>) -> Vec<Value> {
    let change = &target.plan.after_rules;
    let (Some(backed_up), Some(restored)) = (
        change.backed_up_generation.as_deref(),
        change.restored_generation.label(),
    ) else {
        return live;
    };
    live.into_iter()
        .map(|mut pod| {
            if pod_generation(&pod) == Some(backed_up)
                && let Some(labels) = pod
                    .pointer_mut("/metadata/labels")
                    .and_then(Value::as_object_mut)
            {
                labels.insert(
                    POD_TEMPLATE_GENERATION.to_owned(),
                    Value::String(restored.clone()),
                );
            }
            pod
        })
        .collect()
}

/// DaemonSet step: `target` from [`daemonset_target`], `live` what the shell read.
pub fn daemonset_step(
    inputs: &RestoreInputs<'_>,
    item: Item<'_>,
    target: &DaemonSetTarget,
    live: &DaemonSetLive,
) -> Result<DaemonSetOutcome> {
    let from_backup = item.from_backup;
    let note = |level, message: String| Note::new(level, target.workload.as_str(), message);
    let only = |note: Note| DaemonSetOutcome {
        relabel: Vec::new(),
        notes: vec![note],
    };
    if live.daemonset.is_some() {
        return Ok(only(note(
            Level::Warn,
            format!(
                "DaemonSet already exists in namespace {}; Velero does not create it from the backup, so the live DaemonSet's generation decides which restored pods are current; not verified",
                target.namespace
            ),
        )));
    }
    let template = from_backup
        .pointer("/spec/template")
        .cloned()
        .unwrap_or_default();
    let now = daemonset_change(
        inputs.engine,
        inputs.rules,
        item.received,
        &template,
        backed_up_generation(from_backup),
    )?;
    let mut notes = Vec::new();
    let generation = match (&now.restored_generation, now.restored_generation.label()) {
        (_, None) => {
            return Ok(only(note(
                Level::Warn,
                format!(
                    "the restore's rules make annotation {TEMPLATE_GENERATION_ANNOTATION} unparseable: the API server will reject the DaemonSet; its restored pods cannot be protected"
                ),
            )));
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
    notes.extend(warnings(inputs, target, &now, &template)?);
    let relabel = pods_to_relabel(&live.pods, &target.current_pods, &generation);
    notes.push(summary(target, &now, live, &generation, relabel.len()));
    Ok(DaemonSetOutcome { relabel, notes })
}

/// What the guard cannot fix but must say: node eligibility changes, and template paths the pods
/// lack because the item changed after the pod step (an earlier plugin).
fn warnings(
    inputs: &RestoreInputs<'_>,
    target: &DaemonSetTarget,
    now: &DaemonSetChange,
    template: &Value,
) -> Result<Vec<Note>> {
    let mut notes = Vec::new();
    let workload = target.workload.as_str();
    if !now.node_eligibility.is_empty() {
        notes.push(Note::warn(workload,
            format!(
                "template change alters which nodes run the DaemonSet's pods (paths {:?}): the controller deletes restored pods on nodes that no longer qualify, file-system restore included; the guard cannot prevent that",
                now.node_eligibility
            ),
        ));
    }
    let pods_template = target
        .plan
        .after_rules
        .change
        .as_ref()
        .map_or(template, |c| &c.target);
    let final_template = now.change.as_ref().map_or(template, |c| &c.target);
    let lack = changed_paths(inputs.engine, pods_template, final_template)?;
    if !lack.is_empty() {
        notes.push(Note::warn(workload,
            format!(
                "restored pods lack template paths {lack:?} (changed after the pod step); they count as current by generation and get them when next replaced"
            ),
        ));
    }
    Ok(notes)
}

fn summary(
    target: &DaemonSetTarget,
    now: &DaemonSetChange,
    live: &DaemonSetLive,
    generation: &str,
    relabelled: usize,
) -> Note {
    let plan = &target.plan;
    let live_names: BTreeSet<&str> = live.pods.iter().map(name_of).collect();
    let missing = target
        .current_pods
        .iter()
        .filter(|p| !live_names.contains(p.as_str()))
        .count();
    let carrying = target.current_pods.len() - missing - relabelled;
    let withheld = withheld_union(plan.pods.iter().map(|(_, c)| &c.pod));
    let missing_text = if missing > 0 {
        format!(", {missing} not found")
    } else {
        String::new()
    };
    let live_state = format!(
        "pod-template-generation {generation}: {carrying} pods carry it, {relabelled} relabelled{missing_text}"
    );
    let summary = kept_off_the_rollout_path(
        target.current_pods.len(),
        &plan.fsb_pods,
        now.change.as_ref(),
        &withheld,
        &live_state,
    );
    Note::info(target.workload.as_str(), summary)
}
