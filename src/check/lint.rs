//! Lint: the resource-modifier mistakes operators make, read against the backup.
//!
//! Every rule is evaluated by the same engine the plugin uses (`fsb-modifiers`) on every
//! Deployment, ReplicaSet and pod of the backup, as Velero hands them to the modifiers. Other
//! resources are only counted by the backup index, so rules about them are checked for their
//! `groupResource` only.

use std::collections::{BTreeMap, BTreeSet};

use fsb_modifiers::{Glob, GoRegex, ResourceModifiers, Rule, RuleOutcome};
use serde::Serialize;
use serde_json::Value;

use crate::backup::BackupIndex;
use fsb_guard_core::deployment::DeploymentPlan;
use fsb_guard_core::toolkit::later_rules::{Landing, pointer_of, touched_fields};
use fsb_guard_core::toolkit::owners::pod_lineage;
use fsb_guard_core::{Resource, VeleroEngine, as_velero_hands_it, name_of};

/// One warning.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "camelCase")]
pub struct LintWarning {
    /// Rule index (0-based, in document order), when the warning is about one rule.
    pub rule: Option<usize>,
    /// Stable identifier (docs/check.md): `no-match`, `value-type`, `test-path-missing`,
    /// `index-path`, `lands-twice`, `rule-error`.
    pub code: &'static str,
    pub message: String,
}

const KEPT: [Resource; 3] = [
    Resource::DEPLOYMENTS,
    Resource::REPLICA_SETS,
    Resource::PODS,
];

/// Which objects each rule matched, and the errors it raised.
struct Matches {
    /// rule index → (resource, namespace, name) of matched objects.
    matched: Vec<Vec<(Resource, String, String)>>,
    errors: Vec<BTreeSet<String>>,
}

fn evaluate(rules: &ResourceModifiers, index: &BackupIndex) -> Matches {
    let n = rules.rules().len();
    let mut m = Matches {
        matched: vec![Vec::new(); n],
        errors: vec![BTreeSet::new(); n],
    };
    for gr in KEPT {
        for (key, item) in index.items_of(gr) {
            let outcome = rules.apply(&as_velero_hands_it(item), gr.group_resource());
            for (i, o) in outcome.rules.iter().enumerate() {
                if *o != RuleOutcome::NotMatched {
                    m.matched[i].push((gr, key.namespace.clone(), key.name.clone()));
                }
                if let RuleOutcome::Error(e) = o {
                    m.errors[i].insert(format!("{gr} {}/{}: {e}", key.namespace, key.name));
                }
            }
        }
    }
    m
}

fn selects(rule: &Rule, gr: &str) -> bool {
    Glob::compile(&rule.conditions.group_resource, &['.']).is_ok_and(|g| g.is_match(gr))
}

/// Runs every lint.
pub fn lint(
    _engine: &VeleroEngine,
    rules: &ResourceModifiers,
    index: &BackupIndex,
    plans: &[DeploymentPlan],
) -> Vec<LintWarning> {
    let matches = evaluate(rules, index);
    let mut out = Vec::new();
    for (i, rule) in rules.rules().iter().enumerate() {
        no_match(i, rule, index, &matches, &mut out);
        value_types(i, rule, &mut out);
        test_paths(i, rule, index, &mut out);
        index_paths(i, rule, index, &matches, plans, &mut out);
        lands_twice(i, rules, &matches, plans, &mut out);
        for e in matches.errors[i].iter().take(5) {
            out.push(LintWarning {
                rule: Some(i),
                code: "rule-error",
                message: format!(
                    "Velero will report a restore error and create the object without this rule's patch: {e}"
                ),
            });
        }
    }
    out
}

fn no_match(
    i: usize,
    rule: &Rule,
    index: &BackupIndex,
    matches: &Matches,
    out: &mut Vec<LintWarning>,
) {
    let gr = &rule.conditions.group_resource;
    let resources: Vec<&String> = index
        .resource_counts()
        .keys()
        .filter(|r| selects(rule, r))
        .collect();
    if resources.is_empty() {
        let hint = index
            .resource_counts()
            .keys()
            .find(|r| r.split('.').next() == Some(gr.as_str()) && r.contains('.'))
            .map(|r| format!("; Velero compares group-qualified names: write groupResource: {r}"))
            .unwrap_or_default();
        out.push(LintWarning {
            rule: Some(i),
            code: "no-match",
            message: format!("groupResource {gr:?} matches no resource in the backup{hint}"),
        });
        return;
    }
    // Only judge the other conditions when every selected resource is one we evaluated.
    let kept: Vec<Resource> = KEPT
        .into_iter()
        .filter(|k| resources.iter().any(|r| r.as_str() == k.group_resource()))
        .collect();
    if kept.len() != resources.len() || !matches.matched[i].is_empty() {
        return;
    }
    let objects: Vec<(&str, &str)> = kept
        .iter()
        .flat_map(|r| index.items_of(*r))
        .map(|(k, _)| (k.namespace.as_str(), k.name.as_str()))
        .collect();
    let c = &rule.conditions;
    let mut why = Vec::new();
    if !c.namespaces.is_empty() {
        let globs: Vec<Glob> = c
            .namespaces
            .iter()
            .filter_map(|n| Glob::compile(n, &[]).ok())
            .collect();
        if !objects
            .iter()
            .any(|(ns, _)| globs.iter().any(|g| g.is_match(ns)))
        {
            let known: BTreeSet<&str> = objects.iter().map(|(ns, _)| *ns).collect();
            why.push(format!(
                "namespaces {:?} match no namespace of these objects (the backup has {:?}; Velero compares the original namespace, before namespaceMapping)",
                c.namespaces, known
            ));
        }
    }
    if !c.resource_name_regex.is_empty()
        && let Ok(re) = GoRegex::new(&c.resource_name_regex)
        && !objects.iter().any(|(_, n)| re.is_match(n))
    {
        why.push(format!(
            "resourceNameRegex {:?} matches no {} name",
            c.resource_name_regex,
            resources
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join("/")
        ));
    }
    if why.is_empty() {
        why.push("its labelSelector or matches conditions hold for no object".to_owned());
    }
    out.push(LintWarning {
        rule: Some(i),
        code: "no-match",
        message: format!(
            "matches no object in the backup ({} {}): {}",
            objects.len(),
            resources
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            why.join("; ")
        ),
    });
}

/// How Velero turns a patch `value` string into JSON (`addQuotes`, resource modifiers v1.13+).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueKind {
    String,
    ForcedString,
    Null,
    Bool,
    RawJson,
    Number,
}

/// Velero's value rule: `""` string; `"…"` forced string; `null`; true/false (any case) boolean;
/// `{`/`[` raw JSON; anything `strconv.ParseFloat` accepts a number; else a string.
pub fn velero_value_kind(value: &str) -> ValueKind {
    if value.is_empty() {
        ValueKind::String
    } else if value.len() >= 2 && value.starts_with('"') && value.ends_with('"') {
        ValueKind::ForcedString
    } else if value == "null" {
        ValueKind::Null
    } else if value.eq_ignore_ascii_case("true") || value.eq_ignore_ascii_case("false") {
        ValueKind::Bool
    } else if value.starts_with('{') || value.starts_with('[') {
        ValueKind::RawJson
    } else if value.parse::<f64>().is_ok() {
        ValueKind::Number
    } else {
        ValueKind::String
    }
}

const STRING_MAPS: [&str; 3] = ["labels", "annotations", "nodeSelector"];
const STRING_FIELDS: [&str; 14] = [
    "image",
    "value",
    "key",
    "operator",
    "effect",
    "mountPath",
    "name",
    "serviceAccountName",
    "priorityClassName",
    "schedulerName",
    "storageClassName",
    "imagePullPolicy",
    "restartPolicy",
    "claimName",
];
const INT_FIELDS: [&str; 10] = [
    "replicas",
    "containerPort",
    "terminationGracePeriodSeconds",
    "revisionHistoryLimit",
    "minReadySeconds",
    "progressDeadlineSeconds",
    "runAsUser",
    "runAsGroup",
    "fsGroup",
    "activeDeadlineSeconds",
];

fn value_types(i: usize, rule: &Rule, out: &mut Vec<LintWarning>) {
    let checks = rule
        .patches
        .iter()
        .filter(|op| {
            ["add", "replace", "test"]
                .iter()
                .any(|k| op.operation.eq_ignore_ascii_case(k))
        })
        .map(|op| (op.path.as_str(), op.value.as_str(), "patch"))
        .chain(
            rule.conditions
                .matches
                .iter()
                .map(|m| (m.path.as_str(), m.value.as_str(), "matches")),
        );
    for (path, value, place) in checks {
        let segments: Vec<&str> = path.split('/').collect();
        let last = segments.last().copied().unwrap_or_default();
        let parent = segments.len().checked_sub(2).map_or("", |p| segments[p]);
        let wants_string = STRING_MAPS.contains(&parent)
            || (STRING_FIELDS.contains(&last) && !STRING_MAPS.contains(&last));
        let kind = velero_value_kind(value);
        let message = match kind {
            ValueKind::Number | ValueKind::Bool if wants_string => Some(format!(
                "{place} {path}: Velero sends the value as a JSON {} but the field holds a string (the object is rejected or the test never holds); write value: '\"{value}\"' to send a string",
                if kind == ValueKind::Bool {
                    "boolean"
                } else {
                    "number"
                }
            )),
            ValueKind::ForcedString if INT_FIELDS.contains(&last) => Some(format!(
                "{place} {path}: the value is wrapped in double quotes, so Velero sends a JSON string, but the field is a number; drop the inner quotes"
            )),
            _ => None,
        };
        if let Some(message) = message {
            out.push(LintWarning {
                rule: Some(i),
                code: "value-type",
                message,
            });
        }
    }
}

fn test_paths(i: usize, rule: &Rule, index: &BackupIndex, out: &mut Vec<LintWarning>) {
    let resources: Vec<Resource> = KEPT
        .into_iter()
        .filter(|gr| selects(rule, gr.group_resource()))
        .collect();
    let names = resources
        .iter()
        .map(Resource::group_resource)
        .collect::<Vec<_>>()
        .join("/");
    if resources.is_empty()
        || resources
            .iter()
            .all(|gr| index.items_of(*gr).next().is_none())
    {
        return;
    }
    let exists = |path: &str| {
        resources.iter().any(|gr| {
            index
                .items_of(*gr)
                .any(|(_, item)| as_velero_hands_it(item).pointer(path).is_some())
        })
    };
    for op in rule
        .patches
        .iter()
        .filter(|op| op.operation.eq_ignore_ascii_case("test"))
    {
        if !exists(&op.path) {
            out.push(LintWarning {
                rule: Some(i),
                code: "test-path-missing",
                message: format!(
                    "test on {} : the path exists in no {} of the backup; Velero reports a restore error for every object this rule matches (a missing path is an error, not a failed test)",
                    op.path, names
                ),
            });
        }
    }
    for m in &rule.conditions.matches {
        if !exists(&m.path) {
            out.push(LintWarning {
                rule: Some(i),
                code: "test-path-missing",
                message: format!(
                    "matches {} : the path exists in no {} of the backup, so the rule never matches",
                    m.path, names
                ),
            });
        }
    }
}

/// `(list, index)` of an index-based JSON-patch path into a pod spec list.
fn indexed_list<'p>(path: &'p str, prefix: &str) -> Option<(&'p str, usize)> {
    let rest = path.strip_prefix(prefix)?;
    let mut parts = rest.split('/');
    let list = parts.next()?;
    if ![
        "containers",
        "initContainers",
        "volumes",
        "ephemeralContainers",
    ]
    .contains(&list)
    {
        return None;
    }
    let idx = parts.next()?.parse().ok()?;
    Some((list, idx))
}

fn names_at(object: &Value, pointer: &str) -> Vec<String> {
    object
        .pointer(pointer)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|c| name_of_entry(c).to_owned())
        .collect()
}

fn name_of_entry(v: &Value) -> &str {
    v.get("name").and_then(Value::as_str).unwrap_or_default()
}

fn index_paths(
    i: usize,
    rule: &Rule,
    index: &BackupIndex,
    matches: &Matches,
    plans: &[DeploymentPlan],
    out: &mut Vec<LintWarning>,
) {
    let mut seen = BTreeSet::new();
    for op in &rule.patches {
        for (gr, ns, name) in &matches.matched[i] {
            let (prefix, pointer_base) = match *gr {
                Resource::DEPLOYMENTS => ("/spec/template/spec/", "/spec/template/spec/"),
                Resource::PODS => ("/spec/", "/spec/"),
                _ => continue,
            };
            let Some((list, idx)) = indexed_list(&op.path, prefix) else {
                continue;
            };
            // Template list (Deployment) vs pods' lists.
            let (template_names, pods): (Vec<String>, Vec<&Value>) = match *gr {
                Resource::DEPLOYMENTS => {
                    let Some(d) = index.deployment(ns, name) else {
                        continue;
                    };
                    let pods = index
                        .items_in(Resource::PODS, ns)
                        .map(|(_, p)| p)
                        .filter(|p| pod_lineage(p).is_some_and(|l| l.deployment == *name))
                        .collect();
                    (names_at(d, &format!("{pointer_base}{list}")), pods)
                }
                _ => {
                    let Some(p) = index.pod(ns, name) else {
                        continue;
                    };
                    let Some(l) = pod_lineage(p) else { continue };
                    let Some(d) = index.deployment(ns, &l.deployment) else {
                        continue;
                    };
                    (names_at(d, &format!("/spec/template/spec/{list}")), vec![p])
                }
            };
            let fsb = |pod: &Value| {
                plans.iter().any(|p| {
                    p.namespace == *ns && p.fsb_pods.iter().any(|f| f.name == name_of(pod))
                })
            };
            for pod in pods {
                let mut pod_names = names_at(pod, &format!("/spec/{list}"));
                if list == "initContainers" && fsb(pod) {
                    // Velero prepends restore-wait to pods with FSB data before modifiers run.
                    pod_names.insert(0, "restore-wait".into());
                }
                let t = template_names.get(idx).map_or("(none)", String::as_str);
                let p = pod_names.get(idx).map_or("(none)", String::as_str);
                if t != p && seen.insert((op.path.clone(), name_of(pod).to_owned())) {
                    out.push(LintWarning {
                        rule: Some(i),
                        code: "index-path",
                        message: format!(
                            "{} uses an index into {list}: index {idx} is {t:?} in the template of {ns}/{} but {p:?} in restored pod {} (restore-wait is prepended to pods with FSB data; injected sidecars shift containers). The plugin carries the change by name; a hand-written pod rule with this path would hit the wrong element",
                            op.path,
                            if *gr == Resource::DEPLOYMENTS { name.as_str() } else { "(its Deployment)" },
                            name_of(pod)
                        ),
                    });
                }
            }
        }
    }
}

fn lands_twice(
    i: usize,
    rules: &ResourceModifiers,
    matches: &Matches,
    plans: &[DeploymentPlan],
    out: &mut Vec<LintWarning>,
) {
    let corrected = || {
        plans
            .iter()
            .filter(|p| p.change.is_some() && p.skipped.is_none())
    };
    // Pods: the plan's pod step already ran Velero's rules after the correction (one place:
    // `toolkit::later_rules`); report what it found for this rule.
    for plan in corrected() {
        let ns = &plan.namespace;
        for (pod, correction) in &plan.pods {
            for later in correction
                .later_rules
                .iter()
                .filter(|l| l.rules.contains(&i))
            {
                let field = &later.field;
                let what = match later.landing {
                    Landing::Unchanged => continue,
                    Landing::LeftToRules => format!(
                        "also sets {field} on pod {ns}/{pod} as the template change of Deployment {ns}/{} does: the plugin leaves {field} to this rule so the change lands once (the rule is only needed for restores without the plugin)",
                        plan.deployment
                    ),
                    Landing::LeftToRulesPartly => format!(
                        "also adds to {field} of pod {ns}/{pod} what the template change of Deployment {ns}/{} adds: carried by the plugin too, the API server would refuse the pod (two members of one name), so the plugin leaves {field} to this rule and the pod lacks the rest of the change there (drop this rule when the plugin is installed)",
                        plan.deployment
                    ),
                    Landing::OnTop => format!(
                        "patches {field} of pod {ns}/{pod} again after the plugin carried the template change of Deployment {ns}/{} there: the pod's {field} will differ from the new template (check the result with --output-dir)",
                        plan.deployment
                    ),
                };
                out.push(LintWarning {
                    rule: Some(i),
                    code: "lands-twice",
                    message: what,
                });
            }
        }
    }
    // ReplicaSets: the rule patches the template the plugin gives the current ReplicaSet.
    let mut retemplated: BTreeMap<(&str, &str), &DeploymentPlan> = BTreeMap::new();
    for p in corrected() {
        for (n, _) in &p.replicasets {
            retemplated.insert((&p.namespace, n), p);
        }
    }
    for (gr, ns, name) in &matches.matched[i] {
        if *gr != Resource::REPLICA_SETS {
            continue;
        }
        let Some(plan) = retemplated.get(&(ns.as_str(), name.as_str())) else {
            continue;
        };
        let paths = plan
            .change
            .as_ref()
            .map(|c| c.paths.as_slice())
            .unwrap_or_default();
        let overlapping = touched_fields(paths).iter().any(|field| {
            let pointer = format!("/spec/template{}", pointer_of(field));
            rules
                .rules_touching(gr.group_resource(), &pointer)
                .contains(&i)
        });
        if overlapping {
            out.push(LintWarning {
                rule: Some(i),
                code: "lands-twice",
                message: format!(
                    "also patches {gr} {ns}/{name} of Deployment {ns}/{}, where the plugin already re-emits the Deployment's template change ({}): the change would land twice (drop this rule when the plugin is installed, or check the result with --output-dir)",
                    plan.deployment,
                    paths.join(", ")
                ),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Velero's `addQuotes` (resource modifiers, v1.13+), per facts/velero.md §6.4.
    #[test]
    fn value_kinds_follow_velero() {
        use ValueKind::*;
        for (value, kind) in [
            ("", String),
            ("\"1\"", ForcedString),
            ("null", Null),
            ("true", Bool),
            ("FALSE", Bool),
            ("{}", RawJson),
            ("[1]", RawJson),
            ("1", Number),
            ("1.5e3", Number),
            ("-2", Number),
            ("1.0.0", String),
            ("yes", String),
            ("ssd", String),
        ] {
            assert_eq!(velero_value_kind(value), kind, "{value:?}");
        }
    }
}
