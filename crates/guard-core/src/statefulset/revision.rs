//! The `controllerrevisions.apps` step: only `R` changes, and only when `T' ≢ T`: its `data`
//! becomes `T'` in the form the target cluster's controller computes (asked from the API server
//! with a dry-run create: the shell asks, [`FinalTemplate`] holds the answer), it becomes the
//! highest revision, and a stale `controller.kubernetes.io/hash` label is dropped; its name is kept
//! because the pods' `controller-revision-hash` label names it.

use serde_json::{Value, json};

use super::history::{RevisionDecision, rewrite_revision};
use super::plan::StatefulSetPlan;
use crate::error::Result;
use crate::plans::owner_plan;
use crate::restore::{Item, RestoreInputs};
use crate::toolkit::notes::{Level, Note, StepOutcome};
use crate::toolkit::object::{name_of, namespace_of};
use crate::toolkit::owners::{Kind, Workload, statefulset_owner};
use crate::toolkit::revision::{encodes_null_creation_timestamp, template_for_version};
use crate::toolkit::scope::target_namespace;

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
    /// `spec.template` of what a dry-run create of the StatefulSet returned; `None` when the
    /// answer has none.
    pub fn defaulted(created: &Value) -> Option<Self> {
        Some(Self {
            template: created.pointer("/spec/template")?.clone(),
            source: TemplateSource::DryRun,
        })
    }

    /// `offline` (`T'` as the rules produce it) in the form an API server reporting
    /// `major`/`minor` encodes it without defaulting, after the dry-run was refused (`why`);
    /// `None` when the version is not understood.
    pub fn without_defaults(
        offline: &Value,
        why: String,
        major: &str,
        minor: &str,
    ) -> Option<Self> {
        let null = encodes_null_creation_timestamp(major, minor)?;
        Some(Self {
            template: template_for_version(offline, null),
            source: TemplateSource::WithoutDefaults {
                why,
                creation_timestamp_null: null,
            },
        })
    }

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
    pub(super) fn fallback_note(&self, workload: &str) -> Option<Note> {
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

/// The backed-up update revision `R` of a guarded StatefulSet, and what the shell must ask the
/// API server to rewrite it.
#[derive(Debug, Clone, PartialEq)]
pub struct RevisionTarget {
    pub workload: String,
    /// `R`'s name (this item).
    pub revision: String,
    /// Namespace the StatefulSet is restored into.
    pub target_namespace: String,
    /// How to learn `T'` in the controller's form.
    pub query: FinalTemplateQuery,
    /// Highest `.revision` among the StatefulSet's backed-up revisions.
    pub max_revision: i64,
    /// Template paths the change touches.
    pub paths: Vec<String>,
}

/// `controllerrevisions.apps` step, part one: whether this revision is `R` of a guarded
/// StatefulSet whose template the rules change. `Err(outcome)`: restore it as received.
pub fn revision_target(
    inputs: &RestoreInputs<'_>,
    item: Item<'_>,
) -> Result<std::result::Result<RevisionTarget, StepOutcome>> {
    let from_backup = item.from_backup;
    let namespace = namespace_of(from_backup);
    let revision_item = format!("ControllerRevision {namespace}/{}", name_of(from_backup));
    let unowned = "not owned by a StatefulSet";
    let owner_of = |s: &&str| Workload::new(Kind::StatefulSet, namespace, s);
    let lineage = statefulset_owner(from_backup);
    let guarded =
        owner_plan::<StatefulSetPlan, _>(inputs, &revision_item, unowned, lineage, owner_of)?;
    let owner = match guarded {
        Ok(owner) => owner,
        Err(outcome) => return Ok(Err(outcome)),
    };
    let (workload, plan) = (owner.workload, owner.plan);
    let Some(change) = &plan.change else {
        return Ok(Err(StepOutcome::unchanged(
            Level::Debug,
            workload,
            format!("{revision_item}: template unchanged by the rules"),
        )));
    };
    let Some(revision) = &plan.update_revision else {
        return Ok(Err(StepOutcome::unchanged(
            Level::Warn,
            workload,
            format!(
                "{revision_item}: no update revision found for the StatefulSet; revisions restored as they are"
            ),
        )));
    };
    if revision.name != name_of(from_backup) {
        return Ok(Err(StepOutcome::unchanged(
            Level::Debug,
            workload,
            format!(
                "{revision_item} is not the update revision {}; restored as is",
                revision.name
            ),
        )));
    }
    let target = target_namespace(item.restore, namespace);
    Ok(Ok(RevisionTarget {
        workload,
        revision: revision.name.clone(),
        target_namespace: target.to_owned(),
        query: FinalTemplateQuery::new(&plan.statefulset, target, &plan.final_spec),
        max_revision: plan.max_revision,
        paths: change.paths.clone(),
    }))
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

/// How the shell learns `T'` in the controller's form: a dry-run create of `body` makes the API
/// server default it as it will the restored StatefulSet's; `offline` is the fallback's input.
#[derive(Debug, Clone, PartialEq)]
pub struct FinalTemplateQuery {
    /// `S'` (the StatefulSet after the rules) with only name and namespace as metadata.
    pub body: Value,
    /// `T'` as the rules produce it.
    pub offline: Value,
}

impl FinalTemplateQuery {
    /// For StatefulSet `name` restored into `namespace` with `spec` after the rules.
    pub fn new(name: &str, namespace: &str, spec: &Value) -> Self {
        Self {
            body: json!({
                "apiVersion": "apps/v1",
                "kind": "StatefulSet",
                "metadata": {"name": name, "namespace": namespace},
                "spec": spec,
            }),
            offline: spec.get("template").cloned().unwrap_or(Value::Null),
        }
    }
}
