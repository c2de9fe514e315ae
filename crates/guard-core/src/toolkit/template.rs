//! What the restore's rules do to a pod template (`T → T'`), and how that change lands on a
//! restored pod without breaking its file-system restore — the same for every kind.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::delta::{
    broken_invariants, keep_restore_wait_first, patch_paths, withhold_unsafe_parts,
};
use super::later_rules::{
    Landing, LaterRules, duplicate_names, landings, pointer_of, touched_fields, velero_applies,
    without_fields,
};
use super::object::{annotate, json_list, name_of};
use crate::engine::{Rules, VeleroEngine};
use crate::error::Result;
use crate::fsb::FsbIndex;

/// Annotation (pods, ReplicaSets): JSON list of template paths the guard re-emitted.
pub const ANNOTATION_RE_EMITTED: &str = "fsb-guard.io/re-emitted";
/// Annotation (pods): JSON list of template paths withheld to keep FSB restores working.
pub const ANNOTATION_WITHHELD: &str = "fsb-guard.io/withheld";
/// Annotation (pods): JSON list of pod fields left to the restore's own pod rules, which set them
/// after the plugin (the change lands once), with the rules' numbers.
pub const ANNOTATION_LEFT_TO_RULES: &str = "fsb-guard.io/left-to-rules";

/// How the restore's rules change one workload's pod template.
#[derive(Debug, Clone, PartialEq)]
pub struct TemplateChange {
    /// `T`: the template as backed up (`null` once [`TemplateChange::without_template`] dropped
    /// it).
    pub template: Value,
    /// `T'`: the template after Velero's modifiers.
    pub target: Value,
    /// Two-way strategic merge patch `T → T'` (a `core/v1.PodTemplateSpec` patch).
    pub delta: Value,
    /// Template paths the delta touches (no values).
    pub paths: Vec<String>,
    /// Rules that matched the workload but failed (Velero leaves them out too).
    pub rule_errors: Vec<String>,
}

impl TemplateChange {
    /// The change without `T`, for a plan whose item steps read only `T'`, the delta and its
    /// paths (a Deployment's): a restore keeps one plan per guarded workload, and `T` as a tree
    /// is about 13 KB.
    pub fn without_template(self) -> Self {
        Self {
            template: Value::Null,
            ..self
        }
    }

    /// The change from pod template `template` (`T`) to `target` (`T'`); `None` when they are
    /// semantically equal (nothing would roll). `rule_errors` are recorded as they are.
    pub fn between(
        engine: &VeleroEngine,
        template: &Value,
        target: Value,
        rule_errors: Vec<String>,
    ) -> Result<Option<Self>> {
        if engine.templates_equal(template, &target) {
            return Ok(None);
        }
        let delta = engine.template_diff(template, &target)?;
        let paths = patch_paths(&delta);
        Ok(Some(Self {
            template: template.clone(),
            target,
            delta,
            paths,
            rule_errors,
        }))
    }
}

/// Template paths that differ between pod templates `from` and `to` (empty when they are
/// semantically equal): what pods corrected earlier in the restore lack when the workload item
/// changed since (another plugin).
pub fn changed_paths(engine: &VeleroEngine, from: &Value, to: &Value) -> Result<Vec<String>> {
    if engine.templates_equal(from, to) {
        return Ok(Vec::new());
    }
    Ok(patch_paths(&engine.template_diff(from, to)?))
}

/// The pods' decisions without the corrected pods ([`PodCorrection::without_item`]).
pub fn without_items(pods: Vec<(String, PodCorrection)>) -> Vec<(String, PodCorrection)> {
    pods.into_iter()
        .map(|(name, c)| (name, c.without_item()))
        .collect()
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
    /// The restore's own pod rules that patch, after the plugin, a field the change sets.
    pub later_rules: Vec<LaterRules>,
}

impl PodCorrection {
    /// `pod` as it is: nothing re-emitted, nothing withheld.
    pub fn none(pod: &Value) -> Self {
        Self {
            item: pod.clone(),
            re_emitted: Vec::new(),
            withheld: Vec::new(),
            broken: Vec::new(),
            later_rules: Vec::new(),
        }
    }

    /// The decision without the corrected pod: what a restore's plan keeps once the pod's own
    /// item step corrects the pod Velero hands over (the copy here is `check`'s).
    pub fn without_item(self) -> Self {
        Self {
            item: Value::Null,
            ..self
        }
    }

    /// The fields left to the restore's pod rules, so the change lands once.
    pub fn left_to_rules(&self) -> impl Iterator<Item = &LaterRules> {
        self.later_rules
            .iter()
            .filter(|l| matches!(l.landing, Landing::LeftToRules | Landing::LeftToRulesPartly))
    }
}

/// Pod step of every kind: applies `T → T'` to `pod` (the item as the plugin receives it:
/// `restore-wait` already inserted) by merge key, keeping the pod's name, namespace, `fsb_volumes`
/// and `restore-wait` container. Unsafe parts are withheld; if the result would still break an
/// invariant the whole delta is withheld.
///
/// Velero applies the restore's `rules` to the pod after the plugin: a field that a pod rule sets
/// to the change's result on its own is left to that rule, so the change lands once
/// ([`later_rules`](super::later_rules)).
pub fn correct_pod(
    engine: &VeleroEngine,
    rules: &Rules,
    pod: &Value,
    change: &TemplateChange,
    fsb_volumes: &BTreeSet<String>,
) -> Result<PodCorrection> {
    let carried = carry(engine, pod, change, &change.delta, fsb_volumes)?;
    let fields = touched_fields(&carried.re_emitted);
    let Some(after) = (!fields.is_empty())
        .then(|| velero_applies(engine, rules, &carried.item))
        .flatten()
    else {
        return Ok(annotated(carried));
    };
    let mut later = landings(rules, &carried.item, &after, &fields);
    let on_top: BTreeSet<String> = later
        .iter()
        .filter(|l| l.landing == Landing::OnTop)
        .map(|l| l.field.clone())
        .collect();
    if on_top.is_empty() {
        return Ok(annotated(PodCorrection {
            later_rules: later,
            ..carried
        }));
    }
    // Leave those fields to the rules and see what the rules make of them alone.
    let trimmed = carry(
        engine,
        pod,
        change,
        &without_fields(&change.delta, &on_top),
        fsb_volumes,
    )?;
    let alone = velero_applies(engine, rules, &trimmed.item).unwrap_or_else(|| after.clone());
    // Left to the rules: fields they give the change's result alone, and fields where carrying the
    // change would make them add a member whose name is already there (the API server refuses
    // the pod; a pod lacking part of the change is restored, and its controller keeps it).
    let mut partly = BTreeSet::new();
    let left: BTreeSet<String> = on_top
        .iter()
        .filter(|f| {
            let pointer = pointer_of(f);
            if alone.object.pointer(&pointer) == carried.item.pointer(&pointer) {
                return true;
            }
            let refused = duplicate_names(&after.object, &pointer)
                && !duplicate_names(&alone.object, &pointer);
            if refused {
                partly.insert((*f).clone());
            }
            refused
        })
        .cloned()
        .collect();
    let chosen = if left.is_empty() {
        carried
    } else if left == on_top {
        trimmed
    } else {
        carry(
            engine,
            pod,
            change,
            &without_fields(&change.delta, &left),
            fsb_volumes,
        )?
    };
    for l in &mut later {
        if partly.contains(&l.field) {
            l.landing = Landing::LeftToRulesPartly;
        } else if left.contains(&l.field) {
            l.landing = Landing::LeftToRules;
        }
    }
    Ok(annotated(PodCorrection {
        later_rules: later,
        ..chosen
    }))
}

/// `delta` (the change, or part of it) applied to `pod` by merge key, unsafe parts withheld, the
/// whole delta withheld when the result would still break an invariant. Not annotated yet.
fn carry(
    engine: &VeleroEngine,
    pod: &Value,
    change: &TemplateChange,
    delta: &Value,
    fsb_volumes: &BTreeSet<String>,
) -> Result<PodCorrection> {
    let before = json!({
        "metadata": pod.get("metadata").cloned().unwrap_or_else(|| json!({})),
        "spec": pod.get("spec").cloned().unwrap_or_else(|| json!({})),
    });
    let mut delta = delta.clone();
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
    Ok(PodCorrection {
        item,
        re_emitted,
        withheld,
        broken,
        later_rules: Vec::new(),
    })
}

/// The correction with its `fsb-guard.io/` annotations: what was re-emitted, withheld, and left to
/// the restore's pod rules (fields and rule numbers, never values).
fn annotated(mut corrected: PodCorrection) -> PodCorrection {
    if !corrected.re_emitted.is_empty() {
        annotate(
            &mut corrected.item,
            ANNOTATION_RE_EMITTED,
            json_list(&corrected.re_emitted),
        );
    }
    if !corrected.withheld.is_empty() {
        annotate(
            &mut corrected.item,
            ANNOTATION_WITHHELD,
            json_list(&corrected.withheld),
        );
    }
    let left: Vec<String> = corrected
        .left_to_rules()
        .map(|l| format!("{} (rules {:?})", l.field, l.rules))
        .collect();
    if !left.is_empty() {
        annotate(
            &mut corrected.item,
            ANNOTATION_LEFT_TO_RULES,
            json_list(&left),
        );
    }
    corrected
}

/// A pod of a workload with FSB data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FsbPod {
    pub name: String,
    pub volumes: BTreeSet<String>,
}

impl FsbPod {
    /// The pods among `pods` with FSB data, in the order given.
    pub fn among<'a>(pods: impl IntoIterator<Item = &'a Value>, fsb: &FsbIndex) -> Vec<Self> {
        pods.into_iter()
            .filter_map(|p| {
                let volumes = fsb.volumes_of(p);
                (!volumes.is_empty()).then(|| Self {
                    name: name_of(p).to_owned(),
                    volumes,
                })
            })
            .collect()
    }

    /// Its volumes as `<pod>/<volume>`, the form the summary notes list them in.
    pub fn pod_volumes(&self) -> impl Iterator<Item = String> + '_ {
        self.volumes.iter().map(|v| format!("{}/{v}", self.name))
    }
}

/// Every FSB volume of `pods` as `<pod>/<volume>`.
pub fn pod_volumes<'a>(pods: impl IntoIterator<Item = &'a FsbPod>) -> Vec<String> {
    pods.into_iter().flat_map(FsbPod::pod_volumes).collect()
}
