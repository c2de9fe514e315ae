//! Renders an [`Analysis`]: a table for operators, JSON for tools (schema in docs/check.md).

use std::fmt::Write as _;

use fsb_guard_core::Kind;

use super::analysis::Analysis;
use super::workload::{KindFacts, PodVolumes, ReplicaReport, WorkloadReport};

/// The JSON report (pretty, one trailing newline).
pub fn render_json(analysis: &Analysis) -> String {
    let mut s = serde_json::to_string_pretty(analysis).unwrap_or_else(|e| {
        // Serialising plain structs of strings and numbers cannot fail; keep the output valid JSON.
        serde_json::json!({"error": e.to_string()}).to_string()
    });
    s.push('\n');
    s
}

fn pod_volumes(list: &[PodVolumes]) -> String {
    if list.is_empty() {
        return "-".into();
    }
    list.iter()
        .map(|p| format!("{} ({})", p.pod, p.volumes.join(", ")))
        .collect::<Vec<_>>()
        .join("; ")
}

fn table(rows: &[[String; 4]]) -> String {
    let mut widths = [0usize; 4];
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                let _ = write!(line, "{cell:<w$}  ", w = widths[i]);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// The human-readable report.
pub fn render_table(a: &Analysis) -> String {
    let mut out = String::new();
    header(&mut out, a);
    if a.deployments.is_empty() {
        out.push_str("(no Deployments in the backup)\n");
    } else {
        section(&mut out, Kind::Deployment, &a.deployments);
    }
    for (kind, list) in [
        (Kind::StatefulSet, &a.stateful_sets),
        (Kind::DaemonSet, &a.daemon_sets),
    ] {
        if !list.is_empty() {
            out.push('\n');
            section(&mut out, kind, list);
        }
    }
    out.push('\n');
    if a.lint.is_empty() {
        out.push_str("Lint: no warnings\n");
    } else {
        let _ = writeln!(out, "Lint ({} warnings):", a.lint.len());
        for w in &a.lint {
            let rule = w.rule.map(|r| format!("rule {r}")).unwrap_or_default();
            let _ = writeln!(out, "  {rule} [{}]: {}", w.code, w.message);
        }
    }
    out.push('\n');
    let _ = writeln!(out, "VERDICT: {}", a.summary.verdict);
    if a.summary.fsb_data_at_risk {
        out.push_str(
            "\nNext: install the plugin (velero plugin add <image>), or write equivalent pod and ReplicaSet\n\
             rules for a cluster without it with --emit-pod-rules FILE; see every object as it will be\n\
             created with --output-dir DIR; in CI use --exit-code (exits 3 when FSB data is at risk).\n",
        );
    }
    out
}

/// What was read: the backup, the rules and where the FSB volumes come from.
fn header(out: &mut String, a: &Analysis) {
    let b = &a.backup;
    let _ = writeln!(out, "velero-fsb-guard check");
    let mut kinds = format!(
        "{} Deployments, {} ReplicaSets, {} pods",
        b.deployments, b.replica_sets, b.pods
    );
    if b.stateful_sets + b.daemon_sets + b.controller_revisions > 0 {
        let _ = write!(
            kinds,
            ", {} StatefulSets, {} DaemonSets, {} ControllerRevisions",
            b.stateful_sets, b.daemon_sets, b.controller_revisions
        );
    }
    let _ = writeln!(
        out,
        "  backup:             {} [{}, format {}: {kinds}]",
        b.source, b.layout, b.format_version
    );
    let rules = a.resource_modifiers.rules;
    let _ = writeln!(
        out,
        "  resource modifiers: {} ({rules} rule{})",
        a.resource_modifiers.source,
        if rules == 1 { "" } else { "s" }
    );
    let _ = writeln!(out, "  FSB volumes from:   {}", a.fsb_source.description);
    out.push('\n');
}

/// One kind's table, then the details of the workloads worth them.
fn section(out: &mut String, kind: Kind, list: &[WorkloadReport]) {
    let mut rows = vec![[
        kind.as_str().to_uppercase(),
        "PODS WITH FSB DATA (VOLUMES)".to_owned(),
        if kind == Kind::Deployment {
            "ROLLOUT WITHOUT PLUGIN"
        } else {
            "WITHOUT PLUGIN"
        }
        .to_owned(),
        "WITH velero-fsb-guard".to_owned(),
    ]];
    rows.extend(list.iter().map(|w| {
        [
            format!("{}/{}", w.namespace, w.name),
            pod_volumes(&w.fsb_pods),
            without_plugin(w),
            with_plugin(w),
        ]
    }));
    out.push_str(&table(&rows));
    for w in list.iter().filter(|w| worth_details(w)) {
        out.push('\n');
        details(out, w);
    }
}

/// A workload with FSB data, a rollout, or a replica change (DaemonSets: anything the plugin does).
fn worth_details(w: &WorkloadReport) -> bool {
    !w.fsb_pods.is_empty()
        || w.rollout_without_plugin
        || match &w.replicas {
            Some(r) => r.matters(),
            None => w.plugin.action != "nothing-to-do",
        }
}

/// The table's "without the plugin" cell.
fn without_plugin(w: &WorkloadReport) -> String {
    let (rolls_deleting, rolls) = match w.kind() {
        Kind::Deployment => ("YES - deletes FSB pods", "yes"),
        Kind::StatefulSet => ("ROLLS OUT - deletes FSB pods", "rolls out"),
        Kind::DaemonSet => ("YES - replaces FSB pods", "pods replaced"),
    };
    if w.rollout_without_plugin {
        return if w.at_risk.is_empty() {
            rolls
        } else {
            rolls_deleting
        }
        .into();
    }
    if let (false, Some(r)) = (w.at_risk.is_empty(), &w.replicas) {
        let show = |n: Option<u64>| n.map_or("?".to_owned(), |n| n.to_string());
        return format!(
            "SCALES DOWN {} -> {} - deletes FSB pods",
            show(r.from),
            show(r.to)
        );
    }
    if let KindFacts::DaemonSet {
        pods_keep_old_template_without_plugin: true,
        ..
    } = w.facts
    {
        return "pods keep old template".into();
    }
    "no".into()
}

/// The table's "with velero-fsb-guard" cell.
fn with_plugin(w: &WorkloadReport) -> String {
    if let (Kind::Deployment, false, Some(r)) =
        (w.kind(), w.rollout_without_plugin, w.replicas.as_ref())
        && !r.skipped.is_empty()
    {
        return format!("restores {} of {} pods", r.kept.len(), r.restored_pods);
    }
    match (w.rollout_without_plugin, w.rollout_with_plugin) {
        (false, _) => "-",
        (true, false) => "no rollout",
        (true, true) if w.fsb_pods.is_empty() => "rolls out (no FSB data)",
        (true, true) => "ROLLS OUT",
    }
    .into()
}

fn field(out: &mut String, k: &str, v: &str) {
    let _ = writeln!(out, "  {k:<29}{v}");
}

/// A workload's lines below the tables.
fn details(out: &mut String, w: &WorkloadReport) {
    let _ = writeln!(out, "{}", w.label());
    let (label, changes) = match &w.facts {
        KindFacts::Deployment { .. } => ("rollout without the plugin:", w.rollout_without_plugin),
        KindFacts::StatefulSet { .. } => ("template change:", w.rollout_without_plugin),
        KindFacts::DaemonSet { .. } => ("template change:", !w.template_paths.is_empty()),
    };
    field(
        out,
        label,
        if changes {
            "yes: the restore's rules change the pod template"
        } else {
            "no: the pod template stays as backed up"
        },
    );
    if let Some((first, rest)) = w.template_paths.split_first() {
        field(out, "template paths that change:", first);
        for p in rest {
            field(out, "", p);
        }
    }
    for e in &w.rule_errors {
        field(out, "rule error (Velero skips it):", e);
    }
    if let KindFacts::DaemonSet {
        backed_up_generation,
        restored_generation,
        ..
    } = &w.facts
    {
        let backed_up = backed_up_generation.as_deref().unwrap_or("-");
        let generation = format!("backed up {backed_up}, restored {restored_generation}");
        field(out, "template generation:", &generation);
    }
    field(out, "pods/volumes at risk:", &pod_volumes(&w.at_risk));
    if let Some(r) = &w.replicas {
        replica_fields(out, r);
    }
    field(out, "velero-fsb-guard will:", &plugin_will(w));
    kind_fields(out, w);
    field(out, "verdict:", &w.verdict);
}

/// The lines only one kind has, after what the plugin will do.
fn kind_fields(out: &mut String, w: &WorkloadReport) {
    let withheld = w.plugin.withheld.join(", ");
    match &w.facts {
        KindFacts::Deployment { .. } if !withheld.is_empty() => field(
            out,
            "withheld from pods:",
            &format!(
                "{withheld} (would break the FSB restore; the pods lack it until the next rollout)"
            ),
        ),
        KindFacts::StatefulSet {
            older_revision_pods,
            ..
        } => {
            if !older_revision_pods.is_empty() {
                let pods = older_revision_pods.join(", ");
                field(
                    out,
                    "older revision pods:",
                    &format!("{pods} (restored as they are)"),
                );
            }
            if !withheld.is_empty() {
                field(out, "withheld from pods:", &withheld);
            }
        }
        KindFacts::DaemonSet {
            node_eligibility, ..
        } if !node_eligibility.is_empty() => {
            field(
                out,
                "node eligibility changes:",
                &node_eligibility.join(", "),
            );
        }
        _ => {}
    }
}

fn names_or_dash(list: &[String]) -> String {
    if list.is_empty() {
        "-".into()
    } else {
        list.join(", ")
    }
}

/// `replicas:`, `pods kept:`, `pods skipped:`, `FSB data not restored:` lines.
fn replica_fields(out: &mut String, r: &ReplicaReport) {
    if !r.matters() {
        return;
    }
    let show = |n: Option<u64>| n.map_or_else(|| "?".to_owned(), |n| n.to_string());
    field(
        out,
        "replicas:",
        &format!(
            "{} -> {} ({}; {} restored {} of the current revision)",
            show(r.from),
            show(r.to),
            r.change,
            r.restored_pods,
            if r.restored_pods == 1 { "pod" } else { "pods" }
        ),
    );
    if !r.skipped.is_empty() {
        field(out, "pods kept:", &names_or_dash(&r.kept));
        let skipped: Vec<String> = r.skipped.iter().map(|p| p.pod.clone()).collect();
        field(out, "pods skipped (skipRestore):", &skipped.join(", "));
        field(
            out,
            "FSB data not restored:",
            &pod_volumes(&r.fsb_data_not_restored),
        );
    }
}

/// What the plugin does about a replica change.
fn replica_action(r: &ReplicaReport) -> String {
    format!(
        "restore {} of the {} pods ({}) and skip the others, so the controller deletes none",
        r.kept.len(),
        r.restored_pods,
        names_or_dash(&r.kept)
    )
}

/// The `velero-fsb-guard will:` line.
fn plugin_will(w: &WorkloadReport) -> String {
    match (w.plugin.action, w.kind()) {
        ("corrects", Kind::Deployment) => deployment_corrections(w),
        ("corrects", Kind::StatefulSet) => statefulset_corrections(w),
        ("corrects", Kind::DaemonSet) => format!(
            "re-emit the change onto {} pods and label them with the restored generation",
            w.plugin.pods.len()
        ),
        ("leaves-alone", _) => format!(
            "leave it alone ({})",
            w.plugin.reason.clone().unwrap_or_default()
        ),
        (_, Kind::Deployment) => "nothing (no template change)".into(),
        _ => "nothing".into(),
    }
}

fn deployment_corrections(w: &WorkloadReport) -> String {
    let (Some(replicas), KindFacts::Deployment { replica_sets, .. }) = (&w.replicas, &w.facts)
    else {
        return String::new();
    };
    if w.template_paths.is_empty() {
        return replica_action(replicas);
    }
    let pods = w.plugin.pods.len();
    let mut s = format!(
        "re-emit the change onto {pods} {} before {} start{}",
        if pods == 1 { "pod" } else { "pods" },
        if pods == 1 { "it" } else { "they" },
        if pods == 1 { "s" } else { "" }
    );
    for rs in replica_sets {
        match rs.action {
            "retemplated" => {
                let _ = write!(
                    s,
                    "; give ReplicaSet {} the new template (the Deployment adopts it, no new ReplicaSet)",
                    rs.replica_set
                );
                if rs.rules_change_it_after {
                    s.push_str(
                        "; your ReplicaSet rules change it again, the plugin aligns the live ReplicaSet",
                    );
                }
            }
            "past-revision-set-apart" => {
                let _ = write!(
                    s,
                    "; set past revision {} apart so it is not adopted instead",
                    rs.replica_set
                );
            }
            _ => {}
        }
    }
    if !replicas.skipped.is_empty() {
        let _ = write!(s, "; {}", replica_action(replicas));
    }
    s
}

fn statefulset_corrections(w: &WorkloadReport) -> String {
    let mut parts = Vec::new();
    if !w.template_paths.is_empty() {
        let n = w.plugin.pods.len();
        parts.push(format!(
            "re-emit the change onto {n} {}",
            if n == 1 { "pod" } else { "pods" }
        ));
        if let KindFacts::StatefulSet {
            revision: Some(r), ..
        } = &w.facts
        {
            parts.push(match r.action {
                "rewritten" => format!(
                    "give ControllerRevision {} the new template (revision {})",
                    r.name,
                    r.revision_number.unwrap_or_default()
                ),
                "relabel-pods" => format!(
                    "ControllerRevision {} is not in the backup: relabel the pods to {}",
                    r.name, r.predicted_name_without_revisions
                ),
                _ => format!("ControllerRevision {} already carries it", r.name),
            });
        }
    }
    if let Some(r) = w.replicas.as_ref().filter(|r| !r.skipped.is_empty()) {
        let skipped: Vec<&str> = r.skipped.iter().map(|p| p.pod.as_str()).collect();
        parts.push(format!(
            "skip the pods the final replica count removes ({})",
            skipped.join(", ")
        ));
    }
    parts.join("; ")
}
