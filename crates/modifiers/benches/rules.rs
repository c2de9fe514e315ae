//! Velero resource-modifier rules on a ~50 KB Deployment: matching only, one JSON patch, one merge
//! patch, one strategic patch, and the 10 rules of the plugin benchmark (tests/bench/rules.yaml).
//! tests/bench/run.sh saves a baseline; tests/bench/instructions.sh counts instructions per call.

use fsb_modifiers::ResourceModifiers;
use serde_json::{Value, json};
use std::hint::black_box;

#[path = "../../../tests/bench/bench_cases.rs"]
mod bench_cases;

const TEN_RULES: &str = include_str!("../../../tests/bench/rules.yaml");

fn deployment() -> Value {
    let containers: Vec<Value> = ["web", "metrics", "cache", "proxy"]
        .iter()
        .map(|name| {
            let env: Vec<Value> = (0..200)
                .map(|i| json!({"name": format!("SETTING_{i:04}"), "value": format!("value-{i:04}-vvvvvvvvvvvvvvvvvvvvvvvv")}))
                .collect();
            json!({"name": name, "image": format!("{name}:1"), "env": env})
        })
        .collect();
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "shop", "labels": {"app": "web"}},
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": containers}},
        }
    })
}

fn rules(yaml: &str) -> ResourceModifiers {
    ResourceModifiers::from_yaml(yaml).expect("benchmark rules parse")
}

/// The named rule sets, applied to [`deployment`] as `deployments.apps`.
fn rule_sets() -> Vec<(&'static str, ResourceModifiers)> {
    vec![
        (
            "rules/match_10_none_apply",
            rules(&format!(
                "version: v1\nresourceModifierRules:\n{}",
                (0..10)
                    .map(|i| format!(
                        "- conditions: {{groupResource: deployments.apps, namespaces: [\"sh*\"], resourceNameRegex: \"^api-{i}$\", labelSelector: {{matchLabels: {{app: web}}}}}}\n  patches: [{{operation: remove, path: /spec/paused}}]\n"
                    ))
                    .collect::<String>()
            )),
        ),
        (
            "rules/json_patch",
            rules(
                "version: v1\nresourceModifierRules:\n- conditions: {groupResource: deployments.apps}\n  patches:\n  - {operation: replace, path: /spec/replicas, value: \"1\"}\n  - {operation: add, path: /spec/template/spec/nodeSelector, value: '{\"disk\":\"ssd\"}'}\n",
            ),
        ),
        (
            "rules/merge_patch",
            rules(
                "version: v1\nresourceModifierRules:\n- conditions: {groupResource: deployments.apps}\n  mergePatches:\n  - patchData: '{\"spec\":{\"template\":{\"metadata\":{\"annotations\":{\"a\":\"b\"}}}}}'\n",
            ),
        ),
        (
            "rules/strategic_patch",
            rules(
                "version: v1\nresourceModifierRules:\n- conditions: {groupResource: deployments.apps}\n  strategicPatches:\n  - patchData: '{\"spec\":{\"template\":{\"spec\":{\"containers\":[{\"name\":\"web\",\"image\":\"web:2\"}]}}}}'\n",
            ),
        ),
        ("rules/bench_10_rules", rules(TEN_RULES)),
    ]
}

fn main() {
    let item = deployment();
    let sets = rule_sets();
    let cases: Vec<bench_cases::Case<'_>> = sets
        .iter()
        .map(|(name, set)| -> bench_cases::Case<'_> {
            (
                name,
                Box::new(|| {
                    black_box(set.apply(black_box(&item), "deployments.apps"));
                }),
            )
        })
        .collect();
    bench_cases::run(&cases);
}
