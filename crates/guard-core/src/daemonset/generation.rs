//! What makes a DaemonSet pod current — its `pod-template-generation` label against the
//! DaemonSet's generation — and how a current pod carries the template change without losing that
//! (or the node pin the controller owns).

use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::engine::{Rules, VeleroEngine};
use crate::error::Result;
use crate::resources::Resource;
use crate::toolkit::delta::patch_paths;
use crate::toolkit::object::{name_of, set_label, str_at};
use crate::toolkit::template::{PodCorrection, TemplateChange, correct_pod};

/// Pod label the DaemonSet controller stamps with the DaemonSet's template generation.
pub const POD_TEMPLATE_GENERATION: &str = "pod-template-generation";
/// DaemonSet annotation holding the template generation (`spec.templateGeneration` inside the API
/// server).
pub const TEMPLATE_GENERATION_ANNOTATION: &str = "deprecated.daemonset.template.generation";

/// What the API server will hold as `deprecated.daemonset.template.generation` for the DaemonSet
/// Velero creates (the pods' `pod-template-generation` label must equal it to count as current).
///
/// On create the API server reads the annotation into `spec.templateGeneration` (a value that is
/// not an integer fails the conversion), raises anything below 1 to 1, and writes the value back
/// as the annotation (`pkg/registry/apps/daemonset/strategy.go` `PrepareForCreate`,
/// `pkg/apis/apps/v1/conversion.go`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RestoredGeneration {
    /// The annotation as the rules leave it (decimal, at least 1).
    Kept(i64),
    /// A rule removed the annotation: the API server starts the DaemonSet at generation 1.
    Removed,
    /// A rule made the annotation something other than an integer: the API server rejects the
    /// DaemonSet, nothing can be protected.
    Unparseable,
}

impl RestoredGeneration {
    /// The generation as read from a DaemonSet (after the restore's rules).
    pub fn of(daemonset: &Value) -> Self {
        let Some(value) = daemonset
            .pointer("/metadata/annotations")
            .and_then(|a| a.get(TEMPLATE_GENERATION_ANNOTATION))
        else {
            return Self::Removed;
        };
        // Go's strconv.ParseInt(s, 10, 64): optional sign, decimal digits, no spaces.
        match value.as_str().map(str::parse::<i64>) {
            Some(Ok(n)) => Self::Kept(n.max(1)),
            _ => Self::Unparseable,
        }
    }

    /// The label value pods need (`fmt.Sprint` of the generation), `None` when the DaemonSet will
    /// be rejected.
    pub fn label(&self) -> Option<String> {
        match self {
            Self::Kept(n) => Some(n.to_string()),
            Self::Removed => Some("1".to_owned()),
            Self::Unparseable => None,
        }
    }
}

/// Template paths that decide which nodes run a DaemonSet pod (the controller's `manage` deletes
/// pods on nodes that no longer qualify): node selector, node affinity, tolerations, node name.
const NODE_ELIGIBILITY_PATHS: [&str; 4] = [
    "spec.nodeSelector",
    "spec.affinity.nodeAffinity",
    "spec.tolerations",
    "spec.nodeName",
];

/// The paths among `paths` that change node eligibility. A whole `spec.affinity` (replaced or
/// removed) counts too.
pub fn node_eligibility_paths(paths: &[String]) -> Vec<String> {
    paths
        .iter()
        .filter(|p| {
            p.as_str() == "spec.affinity"
                || NODE_ELIGIBILITY_PATHS.iter().any(|n| {
                    p.strip_prefix(n)
                        .is_some_and(|rest| rest.is_empty() || rest.starts_with(['.', '[']))
                })
        })
        .cloned()
        .collect()
}

/// How the restore's rules change one DaemonSet: its template and its generation.
#[derive(Debug, Clone, PartialEq)]
pub struct DaemonSetChange {
    /// `T → T'`; `None` when the rules leave the template semantically equal.
    pub change: Option<TemplateChange>,
    /// The backed-up DaemonSet's `deprecated.daemonset.template.generation`: the
    /// `pod-template-generation` label of its current pods.
    pub backed_up_generation: Option<String>,
    /// What the restored DaemonSet's generation will be.
    pub restored_generation: RestoredGeneration,
    /// Paths of the change that decide which nodes qualify (see [`node_eligibility_paths`]).
    pub node_eligibility: Vec<String>,
}

impl DaemonSetChange {
    /// Nothing to do or report: same template, current pods keep matching the generation.
    pub fn is_noop(&self) -> bool {
        self.change.is_none()
            && !self.relabels()
            && self.restored_generation != RestoredGeneration::Unparseable
    }

    /// Current pods need another `pod-template-generation` label.
    pub fn relabels(&self) -> bool {
        matches!(
            (self.restored_generation.label(), &self.backed_up_generation),
            (Some(restored), Some(backed_up)) if &restored != backed_up
        )
    }
}

/// The change the restore's rules make to `daemonset` (as Velero hands it to the modifiers, or as
/// it arrives at the plugin), against `template` (`T`, the backed-up `spec.template`) and the
/// backed-up generation.
pub fn daemonset_change(
    engine: &VeleroEngine,
    rules: &Rules,
    daemonset: &Value,
    template: &Value,
    backed_up_generation: Option<&str>,
) -> Result<DaemonSetChange> {
    let gr = Resource::DAEMON_SETS.group_resource();
    let outcome = engine.apply_rules(rules, daemonset, gr);
    let target = outcome
        .object
        .pointer("/spec/template")
        .cloned()
        .unwrap_or_else(|| json!({}));
    let change = TemplateChange::between(engine, template, target, outcome.rule_errors)?;
    let node_eligibility = change
        .as_ref()
        .map(|c| node_eligibility_paths(&c.paths))
        .unwrap_or_default();
    Ok(DaemonSetChange {
        change,
        backed_up_generation: backed_up_generation.map(str::to_owned),
        restored_generation: RestoredGeneration::of(&outcome.object),
        node_eligibility,
    })
}

/// The backed-up generation of a DaemonSet (its annotation as stored).
pub fn backed_up_generation(daemonset: &Value) -> Option<&str> {
    daemonset
        .pointer("/metadata/annotations")?
        .get(TEMPLATE_GENERATION_ANNOTATION)?
        .as_str()
}

/// A pod's `pod-template-generation` label.
pub fn pod_generation(pod: &Value) -> Option<&str> {
    str_at(pod, "/metadata/labels/pod-template-generation")
}

/// Where the DaemonSet controller pins each of its pods to one node. The controller replaces this
/// on every pod it creates (`ReplaceDaemonSetPodNodeNameNodeAffinity`), so the template's value
/// never reaches a DaemonSet pod there; the restored pod keeps its pin.
pub const CONTROLLER_NODE_PIN: &str =
    "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution";

/// A current DaemonSet pod carrying the change.
#[derive(Debug, Clone, PartialEq)]
pub struct DaemonSetPodCorrection {
    /// The template delta applied as for a Deployment's pods (FSB volumes and `restore-wait`
    /// intact, unsafe parts withheld); the item also carries the new generation label.
    pub pod: PodCorrection,
    /// `pod-template-generation` before and after (before `None`: the pod had no label).
    pub generation_label: (Option<String>, String),
    /// Template paths the controller owns on DaemonSet pods (the node pin), left as restored.
    pub controller_owned: Vec<String>,
}

/// What the pod step decides for one pod of a DaemonSet.
#[derive(Debug, Clone, PartialEq)]
pub enum DaemonSetPodDecision {
    /// The pod is not at the backed-up DaemonSet's generation (it belongs to a past template):
    /// left as is, as the controller would have replaced it in the source cluster too.
    PastGeneration { label: Option<String> },
    /// The rules make the generation unparseable: the DaemonSet will be rejected; left as is.
    Unprotectable,
    /// Same template, same generation: nothing to change.
    Unchanged,
    /// Boxed: a correction holds the pod, the other answers nothing.
    Corrected(Box<DaemonSetPodCorrection>),
}

/// Removes the controller-owned node pin from a template delta (a strategic merge patch over
/// `{metadata, spec}`); a delta that drops `affinity` or `nodeAffinity` whole is narrowed so the
/// pin survives. Returns whether anything pin-related was taken out.
fn without_node_pin(delta: &mut Value) -> bool {
    let Some(spec) = delta.get_mut("spec").and_then(Value::as_object_mut) else {
        return false;
    };
    let Some(affinity) = spec.get_mut("affinity") else {
        return false;
    };
    if affinity.is_null() {
        // `affinity: null` would drop the pin too: drop every other part instead (a null for an
        // absent member is a no-op).
        *affinity = json!({"podAffinity": null, "podAntiAffinity": null,
            "nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": null}});
        return true;
    }
    let Some(node) = affinity.get_mut("nodeAffinity") else {
        return false;
    };
    if node.is_null() {
        *node = json!({"preferredDuringSchedulingIgnoredDuringExecution": null});
        return true;
    }
    let removed = node
        .as_object_mut()
        .and_then(|n| n.remove("requiredDuringSchedulingIgnoredDuringExecution"))
        .is_some();
    if node.as_object().is_some_and(|n| n.is_empty())
        && let Some(a) = affinity.as_object_mut()
    {
        a.remove("nodeAffinity");
    }
    if affinity.as_object().is_some_and(|a| a.is_empty()) {
        spec.remove("affinity");
    }
    removed
}

/// Tolerations the pod had beyond the template's (the controller adds its daemon tolerations to
/// every pod, admission may add more) survive a delta that replaces the whole list — tolerations
/// are an atomic list, so the patch would otherwise drop them.
fn keep_extra_tolerations(before: &Value, template: &Value, item: &mut Value) {
    let own: Vec<&Value> = template
        .pointer("/spec/tolerations")
        .and_then(Value::as_array)
        .map(|t| t.iter().collect())
        .unwrap_or_default();
    let extras: Vec<Value> = before
        .pointer("/spec/tolerations")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|t| !own.contains(t))
        .cloned()
        .collect();
    if extras.is_empty() {
        return;
    }
    let Some(spec) = item.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    let list = spec
        .entry("tolerations")
        .or_insert_with(|| Value::Array(Vec::new()));
    if !list.is_array() {
        *list = Value::Array(Vec::new());
    }
    if let Some(list) = list.as_array_mut() {
        for extra in extras {
            if !list.contains(&extra) {
                list.push(extra);
            }
        }
    }
}

/// Pod step for one pod of a guarded DaemonSet: `pod` is the item as received (`restore-wait`
/// inserted), `label` its backed-up `pod-template-generation`. A current pod (label = the
/// backed-up generation) gets `T → T'` exactly as a Deployment's pod would ([`correct_pod`]),
/// minus the controller's node pin, and the restored DaemonSet's generation as its label.
pub fn correct_daemonset_pod(
    engine: &VeleroEngine,
    rules: &Rules,
    pod: &Value,
    label: Option<&str>,
    change: &DaemonSetChange,
    fsb_volumes: &BTreeSet<String>,
) -> Result<DaemonSetPodDecision> {
    if label.is_none() || label != change.backed_up_generation.as_deref() {
        return Ok(DaemonSetPodDecision::PastGeneration {
            label: label.map(str::to_owned),
        });
    }
    let Some(restored) = change.restored_generation.label() else {
        return Ok(DaemonSetPodDecision::Unprotectable);
    };
    if change.is_noop() {
        return Ok(DaemonSetPodDecision::Unchanged);
    }
    let mut controller_owned = Vec::new();
    let mut pod_change = change.change.clone();
    if let Some(c) = pod_change.as_mut()
        && without_node_pin(&mut c.delta)
    {
        controller_owned.push(CONTROLLER_NODE_PIN.to_owned());
        c.paths = patch_paths(&c.delta);
    }
    let mut corrected = match &pod_change {
        Some(c) if !c.paths.is_empty() => {
            let mut corrected = correct_pod(engine, rules, pod, c, fsb_volumes)?;
            if corrected
                .re_emitted
                .iter()
                .any(|p| p.starts_with("spec.tolerations"))
            {
                keep_extra_tolerations(pod, &c.template, &mut corrected.item);
            }
            corrected
        }
        _ => PodCorrection::none(pod),
    };
    set_label(&mut corrected.item, POD_TEMPLATE_GENERATION, &restored);
    Ok(DaemonSetPodDecision::Corrected(Box::new(
        DaemonSetPodCorrection {
            pod: corrected,
            generation_label: (label.map(str::to_owned), restored),
            controller_owned,
        },
    )))
}

/// A live restored pod whose `pod-template-generation` label must change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relabel {
    pub pod: String,
    pub from: Option<String>,
    pub to: String,
}

/// DaemonSet step: which live pods (`live`, read in the target namespace) among `current` (names
/// of the DaemonSet's pods at the backed-up generation) do not carry `generation` yet. Sorted by
/// pod name.
pub fn pods_to_relabel(
    live: &[Value],
    current: &BTreeSet<String>,
    generation: &str,
) -> Vec<Relabel> {
    let mut out: Vec<Relabel> = live
        .iter()
        .filter(|p| current.contains(name_of(p)))
        .filter(|p| pod_generation(p) != Some(generation))
        .map(|p| Relabel {
            pod: name_of(p).to_owned(),
            from: pod_generation(p).map(str::to_owned),
            to: generation.to_owned(),
        })
        .collect();
    out.sort_by(|a, b| a.pod.cmp(&b.pod));
    out
}
