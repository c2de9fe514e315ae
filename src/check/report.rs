//! Renders an [`Analysis`]: a table for operators, JSON for tools (schema in docs/check.md).

use std::fmt::Write as _;

use super::analysis::{Analysis, DeploymentReport, PodVolumes};

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
    let _ = writeln!(
        out,
        "  backup:             {} [{}, format {}: {} Deployments, {} ReplicaSets, {} pods]",
        b.source, b.layout, b.format_version, b.deployments, b.replica_sets, b.pods
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
            } else {
                "no".into()
            },
            with_plugin(d).into(),
        ]);
    }
    if a.deployments.is_empty() {
        out.push_str("(no Deployments in the backup)\n");
    } else {
        out.push_str(&table(&rows));
    }
    for d in a
        .deployments
        .iter()
        .filter(|d| !d.fsb_pods.is_empty() || d.rollout_without_plugin)
    {
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
        let plugin = match d.plugin.action {
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
