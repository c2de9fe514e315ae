//! One decision per restored item of a StatefulSet, in Velero's restore order: pods, then
//! ControllerRevisions, then the StatefulSet. Pure functions; the shell
//! (`action::statefulset`) performs the API calls they ask for.

use std::collections::BTreeSet;
use std::sync::Arc;

use serde_json::{Map, Value, json};

use super::super::FsbPod;
use super::super::decide::{TemplateChange, correct_pod};
use super::super::engine::Engine;
use super::super::error::Result;
use super::super::revision::{
    HASH_LABEL, go_canonical, predicted_revision_name, revision_data, revision_hash,
    same_revision_data,
};
use super::super::steps::{Level, Note, RestoreInputs, StepOutcome, corrected_pod_outcome};
use super::super::workload::{
    StatefulPodLineage, name_of, namespace_of, statefulset_owner, statefulset_pod_lineage,
};
use super::plan::{StatefulSetInputs, StatefulSetPlan, plan_statefulset};
use super::{
    StatefulSetChange, StatefulSetChanges, dry_run_body, out_of_scope, revision_number,
    target_namespace, workload_label,
};

/// What a pod of the StatefulSet gets.
pub(crate) enum PodFate<'a> {
    /// Ordinal ≥ `R'`: not restored.
    ScaledAway { final_replicas: u64 },
    /// At `R`: apply `T → T'`.
    Correct(&'a TemplateChange),
    /// At another revision: restored as is.
    OlderRevision,
    /// The rules leave the template alone.
    NoTemplateChange,
    /// Template change, but `R` is unknown.
    UnknownRevision,
}

pub(crate) fn pod_fate<'a>(
    computed: &'a StatefulSetChange,
    lineage: &StatefulPodLineage,
) -> PodFate<'a> {
    if let Some(final_replicas) = computed.final_replicas
        && lineage.ordinal >= final_replicas
    {
        return PodFate::ScaledAway { final_replicas };
    }
    let Some(change) = &computed.change else {
        return PodFate::NoTemplateChange;
    };
    let Some(revision) = &computed.update_revision else {
        return PodFate::UnknownRevision;
    };
    if lineage.revision.as_deref() == Some(revision.name.as_str()) {
        PodFate::Correct(change)
    } else {
        PodFate::OlderRevision
    }
}

/// The backed-up StatefulSet `namespace/name`, in scope, with its change — or why not.
fn guarded<E: Engine>(
    inputs: &RestoreInputs<'_, E>,
    changes: Option<&StatefulSetChanges>,
    namespace: &str,
    name: &str,
) -> Result<Result<(String, Arc<StatefulSetChange>), StepOutcome>> {
    let workload = workload_label(namespace, name);
    let backup = inputs.backup;
    let Some(statefulset) = backup
        .statefulsets
        .iter()
        .find(|s| namespace_of(s) == namespace && name_of(s) == name)
    else {
        return Ok(Err(StepOutcome::unchanged(
            Level::Debug,
            workload,
            "StatefulSet not in the backup",
        )));
    };
    let with_fsb = changes.map(|c| c.with_fsb(&backup.pods, inputs.fsb));
    if let Some(why) = out_of_scope(
        inputs.settings,
        statefulset,
        &backup.pods,
        inputs.fsb,
        with_fsb.as_deref(),
    ) {
        return Ok(Err(StepOutcome::unchanged(Level::Debug, workload, why)));
    }
    let computed = match changes {
        Some(cache) => cache.change_of(
            inputs.engine,
            inputs.rules,
            statefulset,
            &backup.controllerrevisions,
            &backup.pods,
        )?,
        None => Arc::new(super::statefulset_change(
            inputs.engine,
            inputs.rules,
            statefulset,
            &backup.controllerrevisions,
            &backup.pods,
        )?),
    };
    Ok(Ok((workload, computed)))
}

/// Pod step for a pod whose backed-up copy is owned by a StatefulSet. `item` as received
/// (`restore-wait` inserted), `from_backup` the backed-up pod. Pods the final replica count
/// removes are skipped (`skip_restore`) with one `warn` naming their FSB volumes; pods at `R` get
/// `T → T'`; other pods are restored as they are.
pub fn statefulset_pod_step<E: Engine>(
    inputs: &RestoreInputs<'_, E>,
    changes: Option<&StatefulSetChanges>,
    item: &Value,
    from_backup: &Value,
) -> Result<StepOutcome> {
    let pod = format!("pod {}/{}", namespace_of(from_backup), name_of(from_backup));
    let Some(lineage) = statefulset_pod_lineage(from_backup) else {
        return Ok(StepOutcome::unchanged(
            Level::Debug,
            pod,
            "not managed by a StatefulSet",
        ));
    };
    let (workload, computed) =
        match guarded(inputs, changes, &lineage.namespace, &lineage.statefulset)? {
            Ok(found) => found,
            Err(outcome) => return Ok(outcome),
        };
    let volumes = inputs.fsb.volumes_of(from_backup);
    match pod_fate(&computed, &lineage) {
        PodFate::ScaledAway { final_replicas } => {
            let message = if volumes.is_empty() {
                format!(
                    "{pod} not restored: ordinal {} ≥ final spec.replicas {final_replicas}, the StatefulSet controller would delete it",
                    lineage.ordinal
                )
            } else {
                format!(
                    "{pod} not restored: ordinal {} ≥ final spec.replicas {final_replicas}, the StatefulSet controller would delete it; data of FSB volumes {volumes:?} will not be restored (their PersistentVolumeClaims are restored but not filled)",
                    lineage.ordinal
                )
            };
            Ok(StepOutcome {
                item: None,
                skip_restore: true,
                notes: vec![Note {
                    level: if volumes.is_empty() {
                        Level::Info
                    } else {
                        Level::Warn
                    },
                    workload,
                    message,
                }],
            })
        }
        PodFate::NoTemplateChange => Ok(StepOutcome::unchanged(
            Level::Debug,
            workload,
            "template unchanged by the rules",
        )),
        PodFate::UnknownRevision => Ok(StepOutcome::unchanged(
            Level::Warn,
            workload,
            format!(
                "{pod}: no update revision found for the StatefulSet (status.updateRevision, revision data, pod labels); pod restored without the template change"
            ),
        )),
        PodFate::OlderRevision => Ok(StepOutcome::unchanged(
            Level::Debug,
            workload,
            format!(
                "{pod} belongs to an older revision ({}); left as is",
                lineage.revision.as_deref().unwrap_or("no revision label")
            ),
        )),
        PodFate::Correct(change) => {
            let corrected = correct_pod(inputs.engine, item, change, &volumes)?;
            Ok(corrected_pod_outcome(
                &pod, workload, item, corrected, &volumes,
            ))
        }
    }
}

/// How `T'` was put in the controller's form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplateSource {
    /// `spec.template` of a dry-run create of the StatefulSet in the target namespace: defaulted
    /// and admitted like the real one. Exact.
    DryRun,
    /// The dry-run was refused (`why`): `T'` as the rules produce it, with
    /// `metadata.creationTimestamp: null` present or not per the API server's version. Fields the
    /// API server would default are missing.
    WithoutDefaults {
        why: String,
        creation_timestamp_null: bool,
    },
}

/// `T'` as the StatefulSet controller of the target cluster will render it.
#[derive(Debug, Clone, PartialEq)]
pub struct FinalTemplate {
    pub template: Value,
    pub source: TemplateSource,
}

impl FinalTemplate {
    /// Whether the template is exactly what the controller computes (dry-run path).
    pub fn exact(&self) -> bool {
        self.source == TemplateSource::DryRun
    }

    fn describe(&self) -> &'static str {
        match self.source {
            TemplateSource::DryRun => "defaulted by a dry-run create",
            TemplateSource::WithoutDefaults { .. } => "without API server defaults",
        }
    }

    /// The `warn` line for the fallback path (`None` on the dry-run path).
    fn fallback_note(&self, workload: &str) -> Option<Note> {
        let TemplateSource::WithoutDefaults {
            why,
            creation_timestamp_null,
        } = &self.source
        else {
            return None;
        };
        Some(Note {
            level: Level::Warn,
            workload: workload.to_owned(),
            message: format!(
                "dry-run create of the StatefulSet refused ({why}); the revision uses the final template without API server defaults (creationTimestamp {}); fields the API server defaults can still roll the StatefulSet on kube-controller-manager before 1.34.2",
                if *creation_timestamp_null {
                    "null, Kubernetes ≤ 1.33"
                } else {
                    "omitted, Kubernetes ≥ 1.34"
                }
            ),
        })
    }
}

/// What a dry-run create of the StatefulSet answered.
#[derive(Debug, Clone, PartialEq)]
pub enum StatefulSetDryRun {
    /// The object as the API server would store it.
    Created(Value),
    /// A StatefulSet of that name already exists in the target namespace (the restore will not
    /// create it; the live one decides).
    AlreadyExists,
    /// Refused (RBAC, a webhook without dry-run support, validation): why.
    Refused(String),
}

/// The backed-up update revision `R` of a guarded StatefulSet, and what the shell must ask the
/// API server to rewrite it.
#[derive(Debug, Clone, PartialEq)]
pub struct RevisionTarget {
    pub workload: String,
    /// `R`'s name (this item).
    pub revision: String,
    /// Namespace the StatefulSet is restored into.
    pub target_namespace: String,
    /// Body of the dry-run create (`S'` with only name and namespace as metadata).
    pub dry_run_body: Value,
    /// `T'` as the rules produce it (fallback input).
    pub offline_template: Value,
    /// Highest `.revision` among the StatefulSet's backed-up revisions.
    pub max_revision: i64,
    /// Template paths the change touches.
    pub paths: Vec<String>,
}

/// `controllerrevisions.apps` step, part one: whether this revision is `R` of a guarded
/// StatefulSet whose template the rules change. `Err(outcome)`: restore it as received.
pub fn revision_target<E: Engine>(
    inputs: &RestoreInputs<'_, E>,
    changes: Option<&StatefulSetChanges>,
    from_backup: &Value,
    restore: &Value,
) -> Result<Result<RevisionTarget, StepOutcome>> {
    let namespace = namespace_of(from_backup);
    let item = format!("ControllerRevision {namespace}/{}", name_of(from_backup));
    let Some(owner) = statefulset_owner(from_backup) else {
        return Ok(Err(StepOutcome::unchanged(
            Level::Debug,
            item,
            "not owned by a StatefulSet",
        )));
    };
    let (workload, computed) = match guarded(inputs, changes, namespace, owner)? {
        Ok(found) => found,
        Err(outcome) => return Ok(Err(outcome)),
    };
    let Some(change) = &computed.change else {
        return Ok(Err(StepOutcome::unchanged(
            Level::Debug,
            workload,
            format!("{item}: template unchanged by the rules"),
        )));
    };
    let Some(revision) = &computed.update_revision else {
        return Ok(Err(StepOutcome::unchanged(
            Level::Warn,
            workload,
            format!(
                "{item}: no update revision found for the StatefulSet; revisions restored as they are"
            ),
        )));
    };
    if revision.name != name_of(from_backup) {
        return Ok(Err(StepOutcome::unchanged(
            Level::Debug,
            workload,
            format!(
                "{item} is not the update revision {}; restored as is",
                revision.name
            ),
        )));
    }
    let target = target_namespace(restore, namespace);
    Ok(Ok(RevisionTarget {
        workload,
        revision: revision.name.clone(),
        target_namespace: target.to_owned(),
        dry_run_body: dry_run_body(&computed.name, target, &computed.final_spec),
        offline_template: computed.final_template.clone(),
        max_revision: computed.max_revision,
        paths: change.paths.clone(),
    }))
}

/// What the `controllerrevisions.apps` step does to `R`.
#[derive(Debug, Clone, PartialEq)]
pub enum RevisionDecision {
    /// `data` already equals the final template's.
    Unchanged,
    /// `data` set to the final template's, `.revision` raised, hash label dropped.
    Rewritten {
        item: Value,
        /// The new `.revision` (`max(own, highest + 1)`).
        revision: i64,
        /// A `controller.kubernetes.io/hash` label was removed: once stale, a numeric one vetoes
        /// the controller's equality check.
        hash_label_dropped: bool,
    },
}

/// `R` (as Velero hands it) with `data` for `final_template`: highest `.revision`
/// (`max(own, max_revision + 1)`), `controller.kubernetes.io/hash` dropped, name, other labels and
/// annotations kept. Unchanged when the data bytes already match.
pub fn rewrite_revision(
    revision: &Value,
    final_template: &Value,
    max_revision: i64,
) -> RevisionDecision {
    let data = revision_data(final_template);
    if revision
        .get("data")
        .is_some_and(|d| same_revision_data(d, &data))
    {
        return RevisionDecision::Unchanged;
    }
    let number = revision_number(revision).max(max_revision + 1);
    let mut item = revision.clone();
    let mut hash_label_dropped = false;
    if let Some(map) = item.as_object_mut() {
        map.insert("data".to_owned(), data);
        map.insert("revision".to_owned(), json!(number));
        if let Some(labels) = map
            .get_mut("metadata")
            .and_then(|m| m.get_mut("labels"))
            .and_then(Value::as_object_mut)
        {
            hash_label_dropped = labels.remove(HASH_LABEL).is_some();
        }
    }
    RevisionDecision::Rewritten {
        item,
        revision: number,
        hash_label_dropped,
    }
}

/// `controllerrevisions.apps` step, part two: `item` (as received) rewritten for `final_template`.
pub fn revision_step(
    item: &Value,
    target: &RevisionTarget,
    final_template: &FinalTemplate,
) -> StepOutcome {
    let mut notes: Vec<Note> = final_template
        .fallback_note(&target.workload)
        .into_iter()
        .collect();
    let decision = rewrite_revision(item, &final_template.template, target.max_revision);
    let item = match decision {
        RevisionDecision::Unchanged => {
            notes.push(Note {
                level: Level::Debug,
                workload: target.workload.clone(),
                message: format!(
                    "ControllerRevision {} already holds the final template",
                    target.revision
                ),
            });
            None
        }
        RevisionDecision::Rewritten {
            item,
            revision,
            hash_label_dropped,
        } => {
            notes.push(Note {
                level: Level::Info,
                workload: target.workload.clone(),
                message: format!(
                    "ControllerRevision {}: data set to the final template ({}; template paths {:?}), revision {revision}, name kept{}",
                    target.revision,
                    final_template.describe(),
                    target.paths,
                    if hash_label_dropped {
                        ", stale controller.kubernetes.io/hash label dropped"
                    } else {
                        ""
                    }
                ),
            });
            Some(item)
        }
    };
    StepOutcome {
        item,
        skip_restore: false,
        notes,
    }
}

/// What the `statefulsets.apps` step verifies.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifyTarget {
    pub workload: String,
    pub statefulset: String,
    /// Namespace the StatefulSet is restored into (where `R` and the pods live).
    pub target_namespace: String,
    /// `R`'s name.
    pub revision: String,
    /// Dry-run create body: the incoming item (earlier plugins included) after the rules.
    pub dry_run_body: Value,
    /// `T'` of the incoming item as the rules produce it (fallback input).
    pub offline_template: Value,
    /// Restored pods at `R` (below `R'`): relabelled when `R` is missing.
    pub pods_at_revision: Vec<String>,
    /// The plan over the backed-up objects (counts and paths for the summary).
    pub plan: StatefulSetPlan,
}

/// `statefulsets.apps` step, part one. `item` as received (maybe changed by earlier plugins),
/// `from_backup` the backed-up StatefulSet. `Err(notes)`: nothing to verify (the notes say why;
/// pods skipped by the replica count are summarised there).
pub fn verify_target<E: Engine>(
    inputs: &RestoreInputs<'_, E>,
    item: &Value,
    from_backup: &Value,
    restore: &Value,
) -> Result<Result<VerifyTarget, Vec<Note>>> {
    let (namespace, name) = (namespace_of(from_backup), name_of(from_backup));
    let workload = workload_label(namespace, name);
    let debug = |message: String| {
        vec![Note {
            level: Level::Debug,
            workload: workload.clone(),
            message,
        }]
    };
    let backup = inputs.backup;
    if let Some(why) = out_of_scope(inputs.settings, from_backup, &backup.pods, inputs.fsb, None) {
        return Ok(Err(debug(why)));
    }
    let plan = plan_statefulset(
        inputs.engine,
        inputs.rules,
        StatefulSetInputs {
            statefulset: from_backup,
            controllerrevisions: &backup.controllerrevisions,
            pods: &backup.pods,
            fsb: inputs.fsb,
            settings: inputs.settings,
        },
    )?;
    let engine = inputs.engine;
    let after = engine
        .apply_rules(inputs.rules, item, super::STATEFULSETS)?
        .object;
    let final_spec = after.get("spec").cloned().unwrap_or(json!({}));
    let Some(template) = from_backup.pointer("/spec/template") else {
        return Ok(Err(debug("StatefulSet has no template".to_owned())));
    };
    let offline_template = final_spec.get("template").cloned().unwrap_or(Value::Null);
    let changed = !engine.templates_equal(template, &offline_template);
    let mut notes = Vec::new();
    if !plan.skipped_pods.is_empty() {
        notes.push(skipped_pods_note(&workload, &plan));
    }
    if !changed {
        notes.extend(debug(
            "template unchanged by the rules; nothing to do".to_owned(),
        ));
        return Ok(Err(notes));
    }
    let Some(revision) = plan.update_revision.clone() else {
        notes.push(Note {
            level: Level::Warn,
            workload,
            message: "no update revision found (status.updateRevision, revision data, pod labels); the StatefulSet will roll its restored pods".to_owned(),
        });
        return Ok(Err(notes));
    };
    let target = target_namespace(restore, namespace).to_owned();
    let pods_at_revision = plan.pods.iter().map(|(n, _)| n.clone()).collect();
    Ok(Ok(VerifyTarget {
        dry_run_body: dry_run_body(name, &target, &final_spec),
        workload,
        statefulset: name.to_owned(),
        target_namespace: target,
        revision: revision.name,
        offline_template,
        pods_at_revision,
        plan,
    }))
}

fn skipped_pods_note(workload: &str, plan: &StatefulSetPlan) -> Note {
    let lost: Vec<String> = plan
        .skipped_pods
        .iter()
        .flat_map(|p| p.fsb_volumes.iter().map(|v| format!("{}/{v}", p.name)))
        .collect();
    Note {
        level: Level::Info,
        workload: workload.to_owned(),
        message: format!(
            "replica count lowered to {}: {} pods not restored (ordinals ≥ {}), FSB volumes not restored {:?}",
            plan.final_replicas.unwrap_or_default(),
            plan.skipped_pods.len(),
            plan.final_replicas.unwrap_or_default(),
            lost,
        ),
    }
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

/// The notes of the `statefulsets.apps` step once the shell acted: the fallback warning, the
/// summary line (`live_state` says what happened to `R`), and the missing-revisions lines.
pub fn verify_notes(
    target: &VerifyTarget,
    final_template: &FinalTemplate,
    decision: &VerifyDecision,
    live_state: &str,
) -> Vec<Note> {
    let workload = &target.workload;
    let mut notes: Vec<Note> = final_template.fallback_note(workload).into_iter().collect();
    let plan = &target.plan;
    let volumes: Vec<String> = plan
        .fsb_pods
        .iter()
        .filter(|p| !plan.skipped_pods.iter().any(|s| s.name == p.name))
        .flat_map(FsbPod::pod_volumes)
        .collect();
    let withheld: Vec<&String> = plan
        .pods
        .iter()
        .flat_map(|(_, c)| c.withheld.iter())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let paths = plan
        .change
        .as_ref()
        .map(|c| c.paths.clone())
        .unwrap_or_default();
    match decision {
        VerifyDecision::Relabel { predicted, .. } => notes.push(Note {
            level: Level::Info,
            workload: workload.clone(),
            message: format!(
                "ControllerRevisions were not in the restore (revision {} not found); restored pods relabelled to {predicted}, the name the controller gives the revision of the final template",
                target.revision
            ),
        }),
        VerifyDecision::CannotRelabel => notes.push(Note {
            level: Level::Warn,
            workload: workload.clone(),
            message: format!(
                "ControllerRevisions were not in the restore (revision {} not found) and the final template could not be defaulted by the API server; the revision name cannot be predicted exactly, pods left as they are: the StatefulSet will roll its restored pods",
                target.revision
            ),
        }),
        _ => {}
    }
    notes.push(Note {
        level: Level::Info,
        workload: workload.clone(),
        message: format!(
            "template change kept off the rollout path: {} pods, FSB volumes {volumes:?}, template paths re-emitted {paths:?}, withheld {withheld:?}; {live_state}",
            plan.pods.len(),
        ),
    });
    if !plan.skipped_pods.is_empty() {
        notes.push(skipped_pods_note(workload, plan));
    }
    if !plan.older_revision_pods.is_empty() {
        notes.push(Note {
            level: Level::Debug,
            workload: workload.clone(),
            message: format!(
                "{} pods at an older revision restored as they are",
                plan.older_revision_pods.len()
            ),
        });
    }
    notes
}
