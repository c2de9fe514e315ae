//! The `statefulsets.apps` step. The item is returned unchanged; the live `R` is verified against
//! `T'` as the item arrives (earlier plugins may have changed it): re-created when it differs, or,
//! when ControllerRevisions were not part of the restore, the restored pods are relabelled to the
//! name the controller will give the revision of `T'`. One summary line.

use std::sync::Arc;

use serde_json::{Map, Value, json};

use super::history::revision_number;
use super::plan::StatefulSetPlan;
use super::revision::{FinalTemplate, FinalTemplateQuery};
use crate::error::Result;
use crate::plans::plan_of;
use crate::resources::Resource;
use crate::restore::{Item, RestoreInputs};
use crate::toolkit::gojson::go_canonical;
use crate::toolkit::notes::{Note, kept_off_the_rollout_path, withheld_union};
use crate::toolkit::object::pod_template;
use crate::toolkit::owners::{Kind, Workload};
use crate::toolkit::revision::{
    HASH_LABEL, predicted_revision_name, revision_data, revision_hash, same_revision_data,
};
use crate::toolkit::scope::target_namespace;

/// What the `statefulsets.apps` step verifies.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifyTarget {
    pub workload: String,
    pub statefulset: String,
    /// Namespace the StatefulSet is restored into (where `R` and the pods live).
    pub target_namespace: String,
    /// `R`'s name.
    pub revision: String,
    /// How to learn `T'` of the incoming item (earlier plugins included) after the rules.
    pub query: FinalTemplateQuery,
    /// Restored pods at `R` (below `R'`): relabelled when `R` is missing.
    pub pods_at_revision: Vec<String>,
    /// The plan over the backed-up objects (counts and paths for the summary).
    pub plan: Arc<StatefulSetPlan>,
}

/// `statefulsets.apps` step, part one: `item.received` maybe changed by earlier plugins.
/// `Err(notes)`: nothing to verify (the notes say why; pods skipped by the replica count are
/// summarised there).
pub fn verify_target(
    inputs: &RestoreInputs<'_>,
    item: Item<'_>,
) -> Result<Result<VerifyTarget, Vec<Note>>> {
    let from_backup = item.from_backup;
    let workload = Workload::of(Kind::StatefulSet, from_backup);
    let label = workload.label();
    let debug = |message: &str| Note::debug(label.as_str(), message);
    if let Some(why) = inputs.out_of_scope(&workload) {
        return Ok(Err(vec![debug(why.as_str())]));
    }
    let plan = plan_of::<StatefulSetPlan>(inputs, from_backup)?;
    let gr = Resource::STATEFUL_SETS.group_resource();
    let after = inputs
        .engine
        .apply_rules(inputs.rules, item.received, gr)
        .object;
    let final_spec = after.get("spec").cloned().unwrap_or(json!({}));
    let template = pod_template("StatefulSet", from_backup)?;
    let mut notes = Vec::new();
    if !plan.skipped_pods.is_empty() {
        notes.push(skipped_pods_note(&label, &plan));
    }
    let target = target_namespace(item.restore, &workload.namespace).to_owned();
    let query = FinalTemplateQuery::new(&workload.name, &target, &final_spec);
    if inputs.engine.templates_equal(template, &query.offline) {
        notes.push(debug("template unchanged by the rules; nothing to do"));
        return Ok(Err(notes));
    }
    let Some(revision) = plan.update_revision.clone() else {
        notes.push(Note::warn(label,
            "no update revision found (status.updateRevision, revision data, pod labels); the StatefulSet will roll its restored pods",
        ));
        return Ok(Err(notes));
    };
    Ok(Ok(VerifyTarget {
        query,
        workload: label,
        statefulset: workload.name,
        target_namespace: target,
        revision: revision.name,
        pods_at_revision: plan.pods.iter().map(|(n, _)| n.clone()).collect(),
        plan,
    }))
}

fn skipped_pods_note(workload: &str, plan: &StatefulSetPlan) -> Note {
    let lost: Vec<String> = plan
        .skipped_pods
        .iter()
        .flat_map(|p| p.fsb_volumes.iter().map(|v| format!("{}/{v}", p.name)))
        .collect();
    Note::info(
        workload,
        format!(
            "replica count lowered to {}: {} pods not restored (ordinals ≥ {}), FSB volumes not restored {:?}",
            plan.final_replicas.unwrap_or_default(),
            plan.skipped_pods.len(),
            plan.final_replicas.unwrap_or_default(),
            lost,
        ),
    )
}

/// What the `statefulsets.apps` step does about the live `R`.
#[derive(Debug, Clone, PartialEq)]
pub enum VerifyDecision {
    /// The live `R` holds the final template (and no stale hash label).
    AlreadyAligned,
    /// The live `R` differs (an earlier plugin changed the template, or the revision step did not
    /// run): delete it and create `body` (encode with [`go_canonical`]: the API server keeps
    /// `data` bytes verbatim).
    Recreate { body: Value },
    /// `R` is not in the cluster (ControllerRevisions not part of the restore): relabel `pods` to
    /// `predicted`, the name the controller will give the revision of the final template.
    Relabel {
        predicted: String,
        pods: Vec<String>,
    },
    /// `R` is not in the cluster and the final template is not exact (dry-run refused): the
    /// predicted name could be wrong; leave everything as it is.
    CannotRelabel,
}

/// `statefulsets.apps` step, part two: the live `R` (`None`: not found) against the final
/// template.
pub fn verify_decision(
    target: &VerifyTarget,
    final_template: &FinalTemplate,
    live: Option<&Value>,
) -> VerifyDecision {
    let data = revision_data(&final_template.template);
    let Some(live) = live else {
        if !final_template.exact() {
            return VerifyDecision::CannotRelabel;
        }
        let predicted = predicted_revision_name(&target.statefulset, &data);
        // The controller will create exactly the revision the pods name: nothing to relabel.
        let pods = if predicted == target.revision {
            Vec::new()
        } else {
            target.pods_at_revision.clone()
        };
        return VerifyDecision::Relabel { predicted, pods };
    };
    let labels = live.pointer("/metadata/labels").and_then(Value::as_object);
    let same_data = live
        .get("data")
        .is_some_and(|d| same_revision_data(d, &data));
    // A numeric hash label that is not this data's vetoes equality (facts §2.3).
    let hash_vetoes = labels
        .and_then(|l| l.get(HASH_LABEL))
        .and_then(Value::as_str)
        .is_some_and(|h| h.parse::<i32>().is_ok() && h != revision_hash(&go_canonical(&data), 0));
    if same_data && !hash_vetoes {
        return VerifyDecision::AlreadyAligned;
    }
    let mut metadata = Map::new();
    metadata.insert("name".to_owned(), json!(target.revision));
    metadata.insert("namespace".to_owned(), json!(target.target_namespace));
    if let Some(labels) = labels {
        let mut labels = labels.clone();
        labels.remove(HASH_LABEL);
        metadata.insert("labels".to_owned(), Value::Object(labels));
    }
    if let Some(annotations) = live.pointer("/metadata/annotations") {
        metadata.insert("annotations".to_owned(), annotations.clone());
    }
    VerifyDecision::Recreate {
        body: json!({
            "apiVersion": "apps/v1",
            "kind": "ControllerRevision",
            "metadata": metadata,
            "data": data,
            "revision": revision_number(live),
        }),
    }
}

/// The notes of the `statefulsets.apps` step once the decision is carried out: the fallback
/// warning, the missing-revisions line, the summary (saying what happened to `R`) and the replica
/// and older-revision lines.
pub fn verify_notes(
    target: &VerifyTarget,
    final_template: &FinalTemplate,
    decision: &VerifyDecision,
) -> Vec<Note> {
    let workload = target.workload.as_str();
    let revision = &target.revision;
    let mut notes: Vec<Note> = final_template.fallback_note(workload).into_iter().collect();
    let live_state = match decision {
        VerifyDecision::AlreadyAligned => {
            format!("ControllerRevision {revision} already carries the final template")
        }
        VerifyDecision::Recreate { .. } => format!(
            "ControllerRevision {revision} re-created with the final template (the live one differed)"
        ),
        VerifyDecision::Relabel { predicted, pods } => {
            notes.push(Note::info(workload,
                format!(
                    "ControllerRevisions were not in the restore (revision {revision} not found); restored pods relabelled to {predicted}, the name the controller gives the revision of the final template"
                ),
            ));
            format!(
                "ControllerRevision {revision} not in the cluster; {} restored pods relabelled to {predicted}",
                pods.len()
            )
        }
        VerifyDecision::CannotRelabel => {
            notes.push(Note::warn(workload,
                format!(
                    "ControllerRevisions were not in the restore (revision {revision} not found) and the final template could not be defaulted by the API server; the revision name cannot be predicted exactly, pods left as they are: the StatefulSet will roll its restored pods"
                ),
            ));
            format!("ControllerRevision {revision} not in the cluster; pods left as they are")
        }
    };
    notes.push(summary(target, &live_state));
    let plan = &target.plan;
    if !plan.skipped_pods.is_empty() {
        notes.push(skipped_pods_note(workload, plan));
    }
    if !plan.older_revision_pods.is_empty() {
        notes.push(Note::debug(
            workload,
            format!(
                "{} pods at an older revision restored as they are",
                plan.older_revision_pods.len()
            ),
        ));
    }
    notes
}

fn summary(target: &VerifyTarget, live_state: &str) -> Note {
    let plan = &target.plan;
    let restored = plan
        .fsb_pods
        .iter()
        .filter(|p| !plan.skipped_pods.iter().any(|s| s.name == p.name));
    let withheld = withheld_union(plan.pods.iter().map(|(_, c)| c));
    let summary = kept_off_the_rollout_path(
        plan.pods.len(),
        restored,
        plan.change.as_ref(),
        &withheld,
        live_state,
    );
    Note::info(target.workload.as_str(), summary)
}
