//! Replica-count changes in the report (issue 8): `R → R'`, the pods the plugin restores and
//! skips, FSB data that will not be restored, and what the controller deletes without the plugin.
//! The decisions come from the guard's plans (`DeploymentPlan::replicas`, `StatefulSetPlan`); this
//! module only words them.

use std::collections::BTreeSet;

use super::workload::{PodVolumes, ReplicaReport};
use fsb_guard_core::FsbPod;
use fsb_guard_core::deployment::DeploymentPlan;
use fsb_guard_core::toolkit::replicas::Replicas;

fn change_of(from: Option<u64>, to: Option<u64>) -> &'static str {
    match (from, to) {
        (_, None) => "unparseable",
        (Some(r), Some(r2)) if r2 < r => "lowered",
        (Some(r), Some(r2)) if r2 > r => "raised",
        _ => "unchanged",
    }
}

/// `R → R'` over `restored_pods` pods, before anything is decided or said about it.
fn unworded(from: Option<u64>, to: Option<u64>, restored_pods: usize) -> ReplicaReport {
    ReplicaReport {
        from,
        to,
        change: change_of(from, to),
        restored_pods,
        kept: Vec::new(),
        skipped: Vec::new(),
        fsb_data_not_restored: Vec::new(),
        at_risk_without_plugin: Vec::new(),
        older_revision_pods: Vec::new(),
        summary: String::new(),
    }
}

fn show(n: Option<u64>) -> String {
    n.map_or_else(|| "?".to_owned(), |n| n.to_string())
}

fn pods_word(n: usize) -> &'static str {
    if n == 1 { "pod" } else { "pods" }
}

fn with_volumes(name: &str, volumes: &BTreeSet<String>) -> PodVolumes {
    PodVolumes {
        pod: name.to_owned(),
        volumes: volumes.iter().cloned().collect(),
    }
}

/// The pods of `fsb` named in `names`, with their FSB volumes.
fn fsb_pods_among(fsb: &[FsbPod], names: &BTreeSet<&str>) -> Vec<PodVolumes> {
    fsb.iter()
        .filter(|p| names.contains(p.name.as_str()))
        .map(|p| with_volumes(&p.name, &p.volumes))
        .collect()
}

/// A sentence on what the plugin restores and what is lost.
fn kept_sentence(
    kept: &[String],
    skipped: &[PodVolumes],
    lost: &[PodVolumes],
    why_lost: &str,
) -> String {
    let mut s = format!(
        "with velero-fsb-guard: {} {} restored ({}), {} skipped",
        kept.len(),
        pods_word(kept.len()),
        if kept.is_empty() {
            "none".to_owned()
        } else {
            kept.join(", ")
        },
        skipped.len()
    );
    if lost.is_empty() {
        s.push_str(", no file-system-backup data lost");
    } else {
        let lost: Vec<String> = lost
            .iter()
            .flat_map(|p| p.volumes.iter().map(move |v| format!("{}/{v}", p.pod)))
            .collect();
        s.push_str(&format!(
            "; FSB data NOT restored: {} ({why_lost})",
            lost.join(", ")
        ));
    }
    s
}

/// The report for a Deployment's plan.
pub fn deployment_replicas(plan: &DeploymentPlan) -> ReplicaReport {
    let r = &plan.replicas;
    let (from, to) = (r.from.count(), r.to.count());
    let mut report = unworded(from, to, r.pods);
    let change = report.change;
    report.older_revision_pods.clone_from(&r.older_pods);
    let rs = r.current_replicaset.clone().unwrap_or_default();
    let lowered_below_pods = matches!(r.to, Replicas::Count(n) if (n as usize) < r.pods);
    if lowered_below_pods {
        // Which pods the guard would restore, whether or not it acts (scope): the controller
        // deletes `N - R'` pods, not-ready ones first — those waiting for their restore.
        let to = to.unwrap_or_default();
        let candidates: BTreeSet<&str> = match &r.choice {
            Some(c) => c
                .kept
                .iter()
                .map(String::as_str)
                .chain(c.skipped.iter().map(|p| p.name.as_str()))
                .collect(),
            None => BTreeSet::new(),
        };
        report.at_risk_without_plugin = fsb_pods_among(&plan.fsb_pods, &candidates);
        let without = format!(
            "without the plugin the controller scales ReplicaSet {rs} from {} to {to} restored pods and deletes {} of them, not-ready ones (waiting for their file-system restore) first",
            r.pods,
            r.pods - to as usize,
        );
        report.summary = match &r.choice {
            Some(choice) => {
                report.kept = choice.kept.clone();
                report.skipped = choice
                    .skipped
                    .iter()
                    .map(|p| with_volumes(&p.name, &p.fsb_volumes))
                    .collect();
                report.fsb_data_not_restored = choice
                    .fsb_dropped()
                    .map(|p| with_volumes(&p.name, &p.fsb_volumes))
                    .collect();
                let older = if r.older_active.is_empty() {
                    String::new()
                } else {
                    format!(
                        "; older ReplicaSets {} (backup taken mid-rollout) keep their pods, the rollout resumes",
                        r.older_active.join(", ")
                    )
                };
                format!(
                    "replicas {} -> {to}: {without}; {}, ReplicaSet {rs} restored with {to} replicas{older}",
                    show(from),
                    kept_sentence(
                        &report.kept,
                        &report.skipped,
                        &report.fsb_data_not_restored,
                        "more pods with their own data than replicas"
                    )
                )
            }
            None => format!(
                "replicas {} -> {to}: {without}; no pod holds file-system-backup data, the plugin leaves it to the controller",
                show(from)
            ),
        };
        return report;
    }
    report.summary = match change {
        "raised" => format!(
            "replicas raised {} -> {}: nothing to do (the controller creates the new pods)",
            show(from),
            show(to)
        ),
        "lowered" => format!(
            "replicas lowered {} -> {}: the {} restored {} of ReplicaSet {rs} fit; nothing to skip",
            show(from),
            show(to),
            r.pods,
            pods_word(r.pods)
        ),
        "unparseable" => format!(
            "spec.replicas after the rules is not a count ({}): the API server rejects the Deployment; the plugin leaves replicas alone",
            match r.to {
                Replicas::Unparseable(t) => t,
                Replicas::Count(_) => "",
            }
        ),
        _ => "replicas unchanged".to_owned(),
    };
    report
}

/// The report for a StatefulSet: `from`/`to` from its plan, `ordinals` its backed-up pods (names),
/// `skipped` the pods with ordinal ≥ `R'` (with their FSB volumes), `fsb` its FSB pods, `acts`
/// whether the plugin acts on it.
pub fn statefulset_replicas(
    from: u64,
    to: Option<u64>,
    pods: &[String],
    skipped: &[(String, BTreeSet<String>)],
    fsb: &[FsbPod],
    acts: bool,
) -> ReplicaReport {
    let mut report = unworded(Some(from), to, pods.len());
    let change = report.change;
    let Some(to) = to else {
        report.summary = "spec.replicas after the rules is not a count: the API server rejects the StatefulSet; the plugin leaves replicas alone".to_owned();
        return report;
    };
    if (to as usize) >= pods.len() {
        report.summary = match change {
            "raised" => format!(
                "replicas raised {from} -> {to}: nothing to do (the controller creates the new pods)"
            ),
            "lowered" => format!(
                "replicas lowered {from} -> {to}: the {} restored {} fit; nothing to skip",
                pods.len(),
                pods_word(pods.len())
            ),
            _ => "replicas unchanged".to_owned(),
        };
        return report;
    }
    let scaled_away: BTreeSet<&str> = skipped.iter().map(|(n, _)| n.as_str()).collect();
    report.at_risk_without_plugin = fsb_pods_among(fsb, &scaled_away);
    let without = format!(
        "without the plugin the controller deletes the pods with ordinal >= {to} ({}) while they restore",
        skipped
            .iter()
            .map(|(n, _)| n.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    if !acts {
        report.summary = format!(
            "replicas {from} -> {to}: {without}; no pod holds file-system-backup data, the plugin leaves it to the controller"
        );
        return report;
    }
    report.kept = pods
        .iter()
        .filter(|p| !scaled_away.contains(p.as_str()))
        .cloned()
        .collect();
    report.skipped = skipped.iter().map(|(n, v)| with_volumes(n, v)).collect();
    report.fsb_data_not_restored = report
        .skipped
        .iter()
        .filter(|p| !p.volumes.is_empty())
        .cloned()
        .collect();
    report.summary = format!(
        "replicas {from} -> {to}: {without}; {}",
        kept_sentence(
            &report.kept,
            &report.skipped,
            &report.fsb_data_not_restored,
            "their ordinals are removed; a PersistentVolumeClaim among them is restored but not filled"
        )
    );
    report
}
