//! Renders an [`Analysis`]: a table for operators, JSON for tools (schema in docs/check.md).

use std::fmt::Write as _;

use super::analysis::{Analysis, DeploymentReport, PodVolumes};
use super::replicas::ReplicaReport;
use super::workloads::{DaemonSetReport, StatefulSetReport};

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

fn with_plugin(d: &DeploymentReport) -> &'static str {
    match (d.rollout_without_plugin, d.rollout_with_plugin) {
        (false, _) => "-",
        (true, false) => "no rollout",
        (true, true) if d.fsb_pods.is_empty() => "rolls out (no FSB data)",
        (true, true) => "ROLLS OUT",
    }
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
    let _ = writeln!(
        out,
        "  resource modifiers: {} ({} rule{})",
        a.resource_modifiers.source,
        a.resource_modifiers.rules,
        if a.resource_modifiers.rules == 1 {
            ""
        } else {
            "s"
        }
    );
    let _ = writeln!(out, "  FSB volumes from:   {}", a.fsb_source.description);
    out.push('\n');
    let mut rows = vec![[
        "DEPLOYMENT".to_owned(),
        "PODS WITH FSB DATA (VOLUMES)".to_owned(),
        "ROLLOUT WITHOUT PLUGIN".to_owned(),
        "WITH velero-fsb-guard".to_owned(),
    ]];
    for d in &a.deployments {
        rows.push([
            format!("{}/{}", d.namespace, d.name),
            pod_volumes(&d.fsb_pods),
            if d.rollout_without_plugin {
                if d.at_risk.is_empty() {
                    "yes".into()
                } else {
                    "YES - deletes FSB pods".into()
                }
            } else if !d.at_risk.is_empty() {
                without_plugin(false, &d.at_risk, &d.replicas)
            } else {
                "no".into()
            },
            if !d.rollout_without_plugin && !d.replicas.skipped.is_empty() {
                format!(
                    "restores {} of {} pods",
                    d.replicas.kept.len(),
                    d.replicas.restored_pods
                )
            } else {
                with_plugin(d).into()
            },
        ]);
    }
    if a.deployments.is_empty() {
        out.push_str("(no Deployments in the backup)\n");
    } else {
        out.push_str(&table(&rows));
    }
    for d in a.deployments.iter().filter(|d| {
        !d.fsb_pods.is_empty() || d.rollout_without_plugin || replicas_matter(&d.replicas)
    }) {
        out.push('\n');
        let _ = writeln!(out, "Deployment {}/{}", d.namespace, d.name);
        let field = |out: &mut String, k: &str, v: &str| {
            let _ = writeln!(out, "  {k:<29}{v}");
        };
        field(
            &mut out,
            "rollout without the plugin:",
            if d.rollout_without_plugin {
                "yes: the restore's rules change the pod template"
            } else {
                "no: the pod template stays as backed up"
            },
        );
        if !d.template_paths.is_empty() {
            field(
                &mut out,
                "template paths that change:",
                &d.template_paths[0],
            );
            for p in &d.template_paths[1..] {
                field(&mut out, "", p);
            }
        }
        for e in &d.rule_errors {
            field(&mut out, "rule error (Velero skips it):", e);
        }
        field(&mut out, "pods/volumes at risk:", &pod_volumes(&d.at_risk));
        replica_fields(&mut out, &d.replicas);
        let plugin = match d.plugin.action {
            "corrects" if d.template_paths.is_empty() => replica_action(&d.replicas),
            "corrects" => {
                let pods = d.plugin.pods.len();
                let mut s = format!(
                    "re-emit the change onto {pods} {} before {} start{}",
                    if pods == 1 { "pod" } else { "pods" },
                    if pods == 1 { "it" } else { "they" },
                    if pods == 1 { "s" } else { "" }
                );
                for rs in &d.plugin.replica_sets {
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
                if !d.replicas.skipped.is_empty() {
                    let _ = write!(s, "; {}", replica_action(&d.replicas));
                }
                s
            }
            "leaves-alone" => format!(
                "leave it alone ({})",
                d.plugin.reason.clone().unwrap_or_default()
            ),
            _ => "nothing (no template change)".into(),
        };
        field(&mut out, "velero-fsb-guard will:", &plugin);
        if !d.plugin.withheld.is_empty() {
            field(
                &mut out,
                "withheld from pods:",
                &format!(
                    "{} (would break the FSB restore; the pods lack it until the next rollout)",
                    d.plugin.withheld.join(", ")
                ),
            );
        }
        field(&mut out, "verdict:", &d.verdict);
    }
    statefulsets(&mut out, &a.stateful_sets);
    daemonsets(&mut out, &a.daemon_sets);
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

/// Whether the replica count deserves lines in the report.
fn replicas_matter(r: &ReplicaReport) -> bool {
    r.change != "unchanged" || !r.skipped.is_empty()
}

fn field(out: &mut String, k: &str, v: &str) {
    let _ = writeln!(out, "  {k:<29}{v}");
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
    if !replicas_matter(r) {
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

fn plugin_words(action: &str, reason: Option<&String>) -> String {
    match action {
        "leaves-alone" => format!("leave it alone ({})", reason.cloned().unwrap_or_default()),
        "nothing-to-do" => "nothing".into(),
        _ => String::new(),
    }
}

fn statefulsets(out: &mut String, list: &[StatefulSetReport]) {
    if list.is_empty() {
        return;
    }
    out.push('\n');
    let mut rows = vec![[
        "STATEFULSET".to_owned(),
        "PODS WITH FSB DATA (VOLUMES)".to_owned(),
        "WITHOUT PLUGIN".to_owned(),
        "WITH velero-fsb-guard".to_owned(),
    ]];
    for d in list {
        rows.push([
            format!("{}/{}", d.namespace, d.name),
            pod_volumes(&d.fsb_pods),
            without_plugin(d.rollout_without_plugin, &d.at_risk, &d.replicas),
            with_plugin_kind(
                d.rollout_without_plugin,
                d.rollout_with_plugin,
                d.fsb_pods.is_empty(),
            ),
        ]);
    }
    out.push_str(&table(&rows));
    for d in list.iter().filter(|d| {
        !d.fsb_pods.is_empty() || d.rollout_without_plugin || replicas_matter(&d.replicas)
    }) {
        out.push('\n');
        let _ = writeln!(out, "StatefulSet {}/{}", d.namespace, d.name);
        detail_common(
            out,
            d.rollout_without_plugin,
            &d.template_paths,
            &d.rule_errors,
        );
        field(out, "pods/volumes at risk:", &pod_volumes(&d.at_risk));
        replica_fields(out, &d.replicas);
        let plugin = match d.plugin.action {
            "corrects" => {
                let mut parts = Vec::new();
                if !d.template_paths.is_empty() {
                    let n = d.plugin.pods.len();
                    parts.push(format!(
                        "re-emit the change onto {n} {}",
                        if n == 1 { "pod" } else { "pods" }
                    ));
                    if let Some(r) = &d.plugin.revision {
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
                if !d.replicas.skipped.is_empty() {
                    parts.push(format!(
                        "skip the pods the final replica count removes ({})",
                        d.replicas
                            .skipped
                            .iter()
                            .map(|p| p.pod.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ));
                }
                parts.join("; ")
            }
            other => plugin_words(other, d.plugin.reason.as_ref()),
        };
        field(out, "velero-fsb-guard will:", &plugin);
        if !d.plugin.older_revision_pods.is_empty() {
            field(
                out,
                "older revision pods:",
                &format!(
                    "{} (restored as they are)",
                    d.plugin.older_revision_pods.join(", ")
                ),
            );
        }
        if !d.plugin.withheld.is_empty() {
            field(out, "withheld from pods:", &d.plugin.withheld.join(", "));
        }
        field(out, "verdict:", &d.verdict);
    }
}

fn daemonsets(out: &mut String, list: &[DaemonSetReport]) {
    if list.is_empty() {
        return;
    }
    out.push('\n');
    let mut rows = vec![[
        "DAEMONSET".to_owned(),
        "PODS WITH FSB DATA (VOLUMES)".to_owned(),
        "WITHOUT PLUGIN".to_owned(),
        "WITH velero-fsb-guard".to_owned(),
    ]];
    for d in list {
        rows.push([
            format!("{}/{}", d.namespace, d.name),
            pod_volumes(&d.fsb_pods),
            if d.rollout_without_plugin {
                if d.at_risk.is_empty() {
                    "pods replaced".into()
                } else {
                    "YES - replaces FSB pods".into()
                }
            } else if d.pods_keep_old_template_without_plugin {
                "pods keep old template".into()
            } else {
                "no".into()
            },
            with_plugin_kind(
                d.rollout_without_plugin,
                d.rollout_with_plugin,
                d.fsb_pods.is_empty(),
            ),
        ]);
    }
    out.push_str(&table(&rows));
    for d in list.iter().filter(|d| {
        !d.fsb_pods.is_empty() || d.rollout_without_plugin || d.plugin.action != "nothing-to-do"
    }) {
        out.push('\n');
        let _ = writeln!(out, "DaemonSet {}/{}", d.namespace, d.name);
        detail_common(
            out,
            !d.template_paths.is_empty(),
            &d.template_paths,
            &d.rule_errors,
        );
        field(
            out,
            "template generation:",
            &format!(
                "backed up {}, restored {}",
                d.backed_up_generation.as_deref().unwrap_or("-"),
                d.restored_generation
            ),
        );
        field(out, "pods/volumes at risk:", &pod_volumes(&d.at_risk));
        let plugin = match d.plugin.action {
            "corrects" => format!(
                "re-emit the change onto {} pods and label them with the restored generation",
                d.plugin.pods.len()
            ),
            other => plugin_words(other, d.plugin.reason.as_ref()),
        };
        field(out, "velero-fsb-guard will:", &plugin);
        if !d.node_eligibility.is_empty() {
            field(
                out,
                "node eligibility changes:",
                &d.node_eligibility.join(", "),
            );
        }
        field(out, "verdict:", &d.verdict);
    }
}

fn detail_common(out: &mut String, changes: bool, paths: &[String], errors: &[String]) {
    field(
        out,
        "template change:",
        if changes {
            "yes: the restore's rules change the pod template"
        } else {
            "no: the pod template stays as backed up"
        },
    );
    if let Some((first, rest)) = paths.split_first() {
        field(out, "template paths that change:", first);
        for p in rest {
            field(out, "", p);
        }
    }
    for e in errors {
        field(out, "rule error (Velero skips it):", e);
    }
}

fn without_plugin(rollout: bool, at_risk: &[PodVolumes], replicas: &ReplicaReport) -> String {
    match (rollout, at_risk.is_empty()) {
        (true, false) => "ROLLS OUT - deletes FSB pods".into(),
        (true, true) => "rolls out".into(),
        (false, false) => format!(
            "SCALES DOWN {} -> {} - deletes FSB pods",
            replicas.from.map_or("?".to_owned(), |n| n.to_string()),
            replicas.to.map_or("?".to_owned(), |n| n.to_string())
        ),
        (false, true) => "no".into(),
    }
}

fn with_plugin_kind(rollout: bool, still: bool, no_fsb: bool) -> String {
    match (rollout, still) {
        (false, _) => "-".into(),
        (true, false) => "no rollout".into(),
        (true, true) if no_fsb => "rolls out (no FSB data)".into(),
        (true, true) => "ROLLS OUT".into(),
    }
}
