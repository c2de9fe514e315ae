//! The guard's decisions: pure functions over `serde_json::Value`, no I/O.
//!
//! One per restore step, in Velero's restore order:
//! [`template_change`] (does the restore's rules change a Deployment's pod template?),
//! [`correct_pod`], [`correct_replicaset`], [`check_deployment`].

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

use super::delta::{
    broken_invariants, keep_restore_wait_first, patch_paths, template_digest, withhold_unsafe_parts,
};
use super::engine::Engine;
use super::error::{Error, Result};
use super::workload::{POD_TEMPLATE_HASH, name_of, replicaset_hash, replicaset_owner};

/// Group-resource names as Velero passes them to the resource modifiers.
pub const DEPLOYMENTS: &str = "deployments.apps";
pub const REPLICASETS: &str = "replicasets.apps";
pub const PODS: &str = "pods";
pub const STATEFULSETS: &str = "statefulsets.apps";
pub const DAEMONSETS: &str = "daemonsets.apps";
pub const CONTROLLERREVISIONS: &str = "controllerrevisions.apps";

/// Annotation (pods, ReplicaSets): JSON list of template paths the guard re-emitted.
pub const ANNOTATION_RE_EMITTED: &str = "fsb-guard.io/re-emitted";
/// Annotation (pods): JSON list of template paths withheld to keep FSB restores working.
pub const ANNOTATION_WITHHELD: &str = "fsb-guard.io/withheld";
/// Annotation (ReplicaSets): fingerprint of the template the guard gave the ReplicaSet.
pub const ANNOTATION_TEMPLATE_DIGEST: &str = "fsb-guard.io/template-digest";
/// Annotation (ReplicaSets): the restore's own ReplicaSet rules will change the template after the
/// guard; the Deployment step must align the live object.
pub const ANNOTATION_RULES_CHANGE_TEMPLATE: &str = "fsb-guard.io/rules-change-template";
/// Template annotation on a past revision that would otherwise equal the new template and be
/// adopted instead of the ReplicaSet holding the FSB pods.
pub const ANNOTATION_SUPERSEDED_BY: &str = "fsb-guard.io/superseded-by";

/// How the restore's rules change one Deployment's pod template.
#[derive(Debug, Clone, PartialEq)]
pub struct TemplateChange {
    /// `T`: the template as backed up.
    pub template: Value,
    /// `T'`: the template after Velero's modifiers.
    pub target: Value,
    /// Two-way strategic merge patch `T → T'` (a `core/v1.PodTemplateSpec` patch).
    pub delta: Value,
    /// Template paths the delta touches (no values).
    pub paths: Vec<String>,
    /// Rules that matched the Deployment but failed (Velero leaves them out too).
    pub rule_errors: Vec<String>,
}

fn template_of(object: &Value) -> Result<&Value> {
    object.pointer("/spec/template").ok_or_else(|| {
        Error::Invalid(format!(
            "{} {} has no spec.template",
            kind_of(object),
            name_of(object)
        ))
    })
}

fn kind_of(object: &Value) -> &str {
    object
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or("object")
}

/// `T'` of `deployment` (the Deployment as Velero hands it to the modifiers, see
/// [`super::workload::as_velero_hands_it`]): its `spec.template` after the restore's rules.
/// Returns the template and the rule errors.
pub fn template_after_rules<E: Engine>(
    engine: &E,
    rules: &E::Rules,
    deployment: &Value,
) -> Result<(Value, Vec<String>)> {
    template_after_rules_for(engine, rules, DEPLOYMENTS, deployment)
}

/// [`template_after_rules`] for any workload that owns a pod template (`group_resource` as Velero
/// passes it to the modifiers: `deployments.apps`, `daemonsets.apps`, `statefulsets.apps`).
pub fn template_after_rules_for<E: Engine>(
    engine: &E,
    rules: &E::Rules,
    group_resource: &str,
    workload: &Value,
) -> Result<(Value, Vec<String>)> {
    let outcome = engine.apply_rules(rules, workload, group_resource)?;
    let target = template_of(&outcome.object)?.clone();
    Ok((target, outcome.rule_errors))
}

/// Whether the restore's rules change the pod template of `deployment` (as Velero hands it to the
/// modifiers) away from `template` (`T`, normally the backed-up `spec.template`). `None` when `T`
/// and `T'` are semantically equal: nothing would roll.
pub fn template_change<E: Engine>(
    engine: &E,
    rules: &E::Rules,
    deployment: &Value,
    template: &Value,
) -> Result<Option<TemplateChange>> {
    let (target, rule_errors) = template_after_rules(engine, rules, deployment)?;
    template_change_between(engine, template, target, rule_errors)
}

/// The change from pod template `template` (`T`) to `target` (`T'`) of any workload; `None` when
/// they are semantically equal. `rule_errors` are recorded as they are.
pub fn template_change_between<E: Engine>(
    engine: &E,
    template: &Value,
    target: Value,
    rule_errors: Vec<String>,
) -> Result<Option<TemplateChange>> {
    if engine.templates_equal(template, &target) {
        return Ok(None);
    }
    let delta = engine.template_diff(template, &target)?;
    let paths = patch_paths(&delta);
    Ok(Some(TemplateChange {
        template: template.clone(),
        target,
        delta,
        paths,
        rule_errors,
    }))
}

/// A pod carrying the template change.
#[derive(Debug, Clone, PartialEq)]
pub struct PodCorrection {
    /// The pod to restore (annotated under `fsb-guard.io/`).
    pub item: Value,
    /// Template paths applied to the pod.
    pub re_emitted: Vec<String>,
    /// Template paths left out to keep the FSB restore working.
    pub withheld: Vec<String>,
    /// Why the whole delta was withheld (empty when it was applied).
    pub broken: Vec<String>,
}

/// Pod step: applies `T → T'` to `pod` (the item as the plugin receives it: `restore-wait` already
/// inserted) by merge key, keeping the pod's name, namespace, `fsb_volumes` and `restore-wait`
/// container. Unsafe parts are withheld; if the result would still break an invariant the whole
/// delta is withheld.
pub fn correct_pod<E: Engine>(
    engine: &E,
    pod: &Value,
    change: &TemplateChange,
    fsb_volumes: &BTreeSet<String>,
) -> Result<PodCorrection> {
    let before = json!({
        "metadata": pod.get("metadata").cloned().unwrap_or_else(|| json!({})),
        "spec": pod.get("spec").cloned().unwrap_or_else(|| json!({})),
    });
    let mut delta = change.delta.clone();
    let mut withheld = withhold_unsafe_parts(&mut delta, fsb_volumes);
    let mut re_emitted = patch_paths(&delta);
    let after = if re_emitted.is_empty() {
        before.clone()
    } else {
        let mut after = engine.apply_to_pod(&before, &delta)?;
        keep_restore_wait_first(&before, &mut after);
        after
    };
    let broken = broken_invariants(&before, &after, fsb_volumes);
    let after = if broken.is_empty() {
        after
    } else {
        withheld = change.paths.clone();
        re_emitted.clear();
        before
    };
    let mut item = pod.clone();
    if let Some(map) = item.as_object_mut() {
        for key in ["metadata", "spec"] {
            if let Some(v) = after.get(key) {
                map.insert(key.to_owned(), v.clone());
            }
        }
    }
    if !re_emitted.is_empty() {
        annotate(&mut item, ANNOTATION_RE_EMITTED, json_list(&re_emitted));
    }
    if !withheld.is_empty() {
        annotate(&mut item, ANNOTATION_WITHHELD, json_list(&withheld));
    }
    Ok(PodCorrection {
        item,
        re_emitted,
        withheld,
        broken,
    })
}

/// What the ReplicaSet step did to one ReplicaSet of a corrected Deployment.
#[derive(Debug, Clone, PartialEq)]
pub enum ReplicaSetDecision {
    /// Restore as is (not this Deployment's current ReplicaSet, or the rules already make it equal).
    Unchanged,
    /// The current ReplicaSet (template `≡ T`) now carries `T'` with its own hash label.
    Retemplated {
        item: Value,
        /// The restore's ReplicaSet rules will change the template again after the guard; the
        /// Deployment step aligns the live object.
        rules_change_it_after: bool,
    },
    /// A past revision whose template already equals `T'`: set apart by a template annotation so
    /// the controller adopts the ReplicaSet holding the FSB pods instead.
    PastRevisionSetApart { item: Value },
}

/// The template a ReplicaSet will be created with: its template after the restore's
/// `replicasets.apps` rules (if any select ReplicaSets).
fn replicaset_final_template<E: Engine>(
    engine: &E,
    rules: &E::Rules,
    replicaset: &Value,
) -> Result<Value> {
    if !engine.rules_select(rules, REPLICASETS) {
        return Ok(template_of(replicaset)?.clone());
    }
    let outcome = engine.apply_rules(rules, replicaset, REPLICASETS)?;
    Ok(template_of(&outcome.object)?.clone())
}

/// ReplicaSet step for `replicaset` (the item as Velero hands it to the plugin) of a Deployment
/// whose template changes by `change`. `current` names the ReplicaSet that holds the Deployment's
/// (FSB) pods — the one whose backed-up template `≡ T`.
pub fn correct_replicaset<E: Engine>(
    engine: &E,
    rules: &E::Rules,
    replicaset: &Value,
    change: &TemplateChange,
    current: &str,
) -> Result<ReplicaSetDecision> {
    let name = name_of(replicaset);
    if name == current {
        if engine.templates_equal(
            &replicaset_final_template(engine, rules, replicaset)?,
            &change.target,
        ) {
            return Ok(ReplicaSetDecision::Unchanged);
        }
        let hash = replicaset_hash(replicaset).map(str::to_owned);
        let mut template = change.target.clone();
        if let Some(hash) = hash {
            set_path(
                &mut template,
                &["metadata", "labels", POD_TEMPLATE_HASH],
                json!(hash),
            );
        }
        let mut item = replicaset.clone();
        set_path(&mut item, &["spec", "template"], template);
        annotate(&mut item, ANNOTATION_RE_EMITTED, json_list(&change.paths));
        annotate(
            &mut item,
            ANNOTATION_TEMPLATE_DIGEST,
            json!(template_digest(&change.target)),
        );
        let rules_change_it_after = !engine.templates_equal(
            &replicaset_final_template(engine, rules, &item)?,
            &change.target,
        );
        if rules_change_it_after {
            annotate(&mut item, ANNOTATION_RULES_CHANGE_TEMPLATE, json!("true"));
        }
        return Ok(ReplicaSetDecision::Retemplated {
            item,
            rules_change_it_after,
        });
    }
    if engine.templates_equal(
        &replicaset_final_template(engine, rules, replicaset)?,
        &change.target,
    ) {
        let mut item = replicaset.clone();
        set_path(
            &mut item,
            &[
                "spec",
                "template",
                "metadata",
                "annotations",
                ANNOTATION_SUPERSEDED_BY,
            ],
            json!(current),
        );
        return Ok(ReplicaSetDecision::PastRevisionSetApart { item });
    }
    Ok(ReplicaSetDecision::Unchanged)
}

/// The Deployment's current ReplicaSet among `replicasets` (backed-up objects): owned by
/// `deployment` (same namespace, controller reference) with a template `≡ template`; the oldest
/// (creationTimestamp, then name) if several, as the controller picks.
pub fn current_replicaset<'a, E: Engine>(
    engine: &E,
    deployment: &Value,
    template: &Value,
    replicasets: impl IntoIterator<Item = &'a Value>,
) -> Option<&'a Value> {
    let namespace = super::workload::namespace_of(deployment);
    let name = name_of(deployment);
    replicasets
        .into_iter()
        .filter(|rs| super::workload::namespace_of(rs) == namespace)
        .filter(|rs| replicaset_owner(rs) == Some(name))
        .filter(|rs| {
            rs.pointer("/spec/template")
                .is_some_and(|t| engine.templates_equal(t, template))
        })
        .min_by(|a, b| {
            let created = |o: &Value| {
                super::workload::str_at(o, "/metadata/creationTimestamp")
                    .unwrap_or_default()
                    .to_owned()
            };
            created(a)
                .cmp(&created(b))
                .then_with(|| name_of(a).cmp(name_of(b)))
        })
}

/// What the Deployment step concluded.
#[derive(Debug, Clone, PartialEq)]
pub enum DeploymentDecision {
    /// The rules do not change the template and the guard changed nothing: no rollout.
    NothingToDo,
    /// The live ReplicaSet carries exactly the template this Deployment will be created with.
    AlreadyAligned,
    /// The current ReplicaSet is not in the cluster (not restored, or deleted): nothing to align.
    NoLiveReplicaSet,
    /// Patch the live ReplicaSet (JSON patch, one call) so no rollout can start.
    Align {
        /// RFC 6902 patch for the live ReplicaSet: tests `/metadata/resourceVersion` (the version
        /// read), replaces `/spec/template` (own hash label kept) and records the digest.
        patch: Value,
        /// Template paths the pods did not receive (they differ between what the pod step applied
        /// and the Deployment's final template).
        pods_lack: Vec<String>,
    },
}

/// Deployment step: `deployment` is the item as it arrives (earlier plugins may have changed it),
/// `template` the backed-up `T`, `backup_replicaset` the current ReplicaSet as backed up (to
/// predict the restore's ReplicaSet rules), `live` the restored ReplicaSet read from the cluster,
/// `pods_got` the change the pod step applied (if any).
pub fn check_deployment<E: Engine>(
    engine: &E,
    rules: &E::Rules,
    deployment: &Value,
    template: &Value,
    backup_replicaset: &Value,
    live: Option<&Value>,
    pods_got: Option<&TemplateChange>,
) -> Result<DeploymentDecision> {
    let (target, _) = template_after_rules(engine, rules, deployment)?;
    let Some(live) = live else {
        return Ok(DeploymentDecision::NoLiveReplicaSet);
    };
    let annotations = live.pointer("/metadata/annotations");
    let recorded = annotations
        .and_then(|a| a.get(ANNOTATION_TEMPLATE_DIGEST))
        .and_then(Value::as_str);
    let flagged = annotations
        .and_then(|a| a.get(ANNOTATION_RULES_CHANGE_TEMPLATE))
        .is_some();
    let digest = template_digest(&target);
    match recorded {
        Some(d) if d == digest && !flagged => return Ok(DeploymentDecision::AlreadyAligned),
        None => {
            // The guard did not re-template this ReplicaSet: it is created from the backup, then
            // the restore's own ReplicaSet rules (if any) apply. Equal to the Deployment's final
            // template already → nothing to patch.
            let reset = super::workload::as_velero_hands_it(backup_replicaset);
            let created = replicaset_final_template(engine, rules, &reset)?;
            if engine.templates_equal(&created, &target) {
                return Ok(if engine.templates_equal(&target, template) {
                    DeploymentDecision::NothingToDo
                } else {
                    DeploymentDecision::AlreadyAligned
                });
            }
        }
        _ => {}
    }
    let mut emitted = target.clone();
    if let Some(hash) = replicaset_hash(live) {
        set_path(
            &mut emitted,
            &["metadata", "labels", POD_TEMPLATE_HASH],
            json!(hash),
        );
    }
    let mut ops = Vec::with_capacity(4);
    if let Some(version) = super::workload::str_at(live, "/metadata/resourceVersion") {
        // Precondition: a concurrent change to the ReplicaSet since it was read makes the PATCH
        // fail instead of being overwritten; the caller re-reads and decides again.
        ops.push(json!({"op": "test", "path": "/metadata/resourceVersion", "value": version}));
    }
    ops.push(json!({"op": "replace", "path": "/spec/template", "value": emitted}));
    let key = |k: &str| {
        format!(
            "/metadata/annotations/{}",
            k.replace('~', "~0").replace('/', "~1")
        )
    };
    if annotations.and_then(Value::as_object).is_some() {
        ops.push(json!({"op": "add", "path": key(ANNOTATION_TEMPLATE_DIGEST), "value": digest}));
        if flagged {
            ops.push(json!({"op": "remove", "path": key(ANNOTATION_RULES_CHANGE_TEMPLATE)}));
        }
    } else {
        ops.push(json!({"op": "add", "path": "/metadata/annotations",
            "value": {ANNOTATION_TEMPLATE_DIGEST: digest}}));
    }
    let pods_template = pods_got.map_or(template, |c| &c.target);
    let pods_lack = if engine.templates_equal(pods_template, &target) {
        Vec::new()
    } else {
        patch_paths(&engine.template_diff(pods_template, &target)?)
    };
    Ok(DeploymentDecision::Align {
        patch: Value::Array(ops),
        pods_lack,
    })
}

fn json_list(paths: &[String]) -> Value {
    Value::String(Value::from(paths.to_vec()).to_string())
}

fn annotate(item: &mut Value, key: &str, value: Value) {
    set_path(item, &["metadata", "annotations", key], value);
}

/// Sets `value` at `path`, creating (or replacing non-object) intermediate maps.
fn set_path(target: &mut Value, path: &[&str], value: Value) {
    let Some((first, rest)) = path.split_first() else {
        *target = value;
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    if let Value::Object(map) = target {
        let child = map.entry((*first).to_owned()).or_insert(Value::Null);
        set_path(child, rest, value);
    }
}
