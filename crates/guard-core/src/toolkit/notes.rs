//! What a step tells the restore log, and the answer it gives for its item. Notes name template
//! paths and counts, never values (they can carry secrets, e.g. env values).

use std::collections::BTreeSet;

use serde_json::Value;

use super::later_rules::Landing;
use super::template::{FsbPod, PodCorrection, TemplateChange, pod_volumes};

/// Log level of a note.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Debug,
    Info,
    Warn,
}

/// What a step did, for the restore log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    pub level: Level,
    /// `Deployment <ns>/<name>` (or the item when no workload was found).
    pub workload: String,
    pub message: String,
}

impl Note {
    pub fn new(level: Level, workload: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            level,
            workload: workload.into(),
            message: message.into(),
        }
    }

    /// Something the operator must know: the guard could not protect everything.
    pub fn warn(workload: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(Level::Warn, workload, message)
    }

    /// What the guard did.
    pub fn info(workload: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(Level::Info, workload, message)
    }

    /// Why the guard did nothing, or details.
    pub fn debug(workload: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(Level::Debug, workload, message)
    }
}

/// The result of one item step: the item to return and notes for the log.
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
    pub fn unchanged(
        level: Level,
        workload: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            item: None,
            skip_restore: false,
            notes: vec![Note::new(level, workload, message)],
        }
    }

    /// Velero does not create the item.
    pub fn skipped(notes: Vec<Note>) -> Self {
        Self {
            item: None,
            skip_restore: true,
            notes,
        }
    }

    /// The item becomes `item` (when it differs from `received`).
    pub fn changed(item: Value, received: &Value, notes: Vec<Note>) -> Self {
        Self {
            item: (item != *received).then_some(item),
            skip_restore: false,
            notes,
        }
    }
}

/// The warning for a pod whose template change was partly or wholly withheld (`None` when all of
/// it was applied). Shared by every kind's pod step.
pub fn withheld_note(pod: &str, workload: &str, corrected: &PodCorrection) -> Option<Note> {
    if corrected.withheld.is_empty() {
        return None;
    }
    let broken = if corrected.broken.is_empty() {
        String::new()
    } else {
        format!(" ({})", corrected.broken.join("; "))
    };
    Some(Note::warn(
        workload,
        format!(
            "{pod}: withheld template paths {:?} to keep its file-system restore working{broken}",
            corrected.withheld,
        ),
    ))
}

/// One note per pod field the restore's own pod rules patch after the plugin carried the template
/// change there (fields and rule numbers, never values): `warn` when the field was left to them
/// (they would have applied the change a second time) or when they patch on top of it, `debug`
/// when they leave it as carried. Shared by every kind's pod step.
pub fn later_rules_notes(pod: &str, workload: &str, corrected: &PodCorrection) -> Vec<Note> {
    corrected
        .later_rules
        .iter()
        .map(|l| {
            let (field, rules) = (&l.field, &l.rules);
            match l.landing {
                Landing::LeftToRules => Note::warn(
                    workload,
                    format!(
                        "{pod}: resource-modifier rules {rules:?} select this pod and set {field} as the template change does; the plugin left {field} to them so the change lands once (drop those pod rules while the plugin is installed)"
                    ),
                ),
                Landing::LeftToRulesPartly => Note::warn(
                    workload,
                    format!(
                        "{pod}: resource-modifier rules {rules:?} select this pod and add to {field} what the template change adds there; carried by the plugin too, {field} would hold two members of one name and the API server would refuse the pod, so the plugin left {field} to them: the pod lacks the rest of the template change in {field} until the next rollout (drop those pod rules while the plugin is installed)"
                    ),
                ),
                Landing::OnTop => Note::warn(
                    workload,
                    format!(
                        "{pod}: resource-modifier rules {rules:?} select this pod and patch {field} again after the plugin carried the template change there: the pod's {field} will differ from the new template's (see `velero-fsb-guard check --output-dir`)"
                    ),
                ),
                Landing::Unchanged => Note::debug(
                    workload,
                    format!(
                        "{pod}: resource-modifier rules {rules:?} also patch {field}, which already holds their result"
                    ),
                ),
            }
        })
        .collect()
}

/// The pod step's answer for a pod [`correct_pod`](super::template::correct_pod) corrected
/// (`item` as received): the corrected item when it differs, the withheld warning and what was
/// re-emitted.
pub fn corrected_pod_outcome(
    pod: &str,
    workload: String,
    item: &Value,
    corrected: PodCorrection,
    volumes: &BTreeSet<String>,
) -> StepOutcome {
    let mut notes: Vec<Note> = withheld_note(pod, &workload, &corrected)
        .into_iter()
        .collect();
    notes.extend(later_rules_notes(pod, &workload, &corrected));
    notes.push(Note::debug(
        workload,
        format!(
            "{pod}: re-emitted template paths {:?} (FSB volumes {:?})",
            corrected.re_emitted, volumes
        ),
    ));
    StepOutcome::changed(corrected.item, item, notes)
}

/// Withheld paths of several corrected pods, once each, sorted.
/// A workload's summary line: `template change kept off the rollout path: …; {live_state}` —
/// how many pods got the change, their FSB volumes (`<pod>/<volume>`), the template paths
/// re-emitted and those withheld. Paths and names only, never values.
pub fn kept_off_the_rollout_path<'a>(
    pods: usize,
    fsb_pods: impl IntoIterator<Item = &'a FsbPod>,
    change: Option<&TemplateChange>,
    withheld: &dyn std::fmt::Debug,
    live_state: &str,
) -> String {
    let paths = change.map(|c| c.paths.as_slice()).unwrap_or_default();
    format!(
        "template change kept off the rollout path: {pods} pods, FSB volumes {:?}, template paths re-emitted {paths:?}, withheld {withheld:?}; {live_state}",
        pod_volumes(fsb_pods),
    )
}

pub fn withheld_union<'a>(corrections: impl IntoIterator<Item = &'a PodCorrection>) -> Vec<String> {
    corrections
        .into_iter()
        .flat_map(|c| c.withheld.iter().cloned())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}
