//! The guard's public planning API (what the offline `check` uses) on the sample backup in
//! `examples/` with the issue-8578 modifiers: expectations come from the sample's README (which
//! Deployments have FSB data, which the rules select) and the rules' intent.

use std::io::Read;
use std::path::Path;

use fsb_guard_core::BackedUp;
use fsb_guard_core::deployment::{self, ReplicaSetDecision};
use fsb_guard_core::{FsbIndex, Settings, VeleroEngine};
use serde_json::Value;

const BACKUP: &str = "examples/sample-backup/backups/shop-20260302";

struct Sample {
    deployments: Vec<Value>,
    replicasets: Vec<Value>,
    pods: Vec<Value>,
    fsb: FsbIndex,
}

/// Reads the items Velero restores (unversioned paths) of three group-resources.
fn sample() -> Sample {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join(BACKUP);
    let tarball = std::fs::File::open(root.join("shop-20260302.tar.gz")).unwrap();
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(tarball));
    let (mut deployments, mut replicasets, mut pods) = (Vec::new(), Vec::new(), Vec::new());
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let path = entry.path().unwrap().to_string_lossy().into_owned();
        let parts: Vec<&str> = path.split('/').collect();
        if parts.len() != 5 || parts[0] != "resources" || parts[2] != "namespaces" {
            continue;
        }
        let mut text = String::new();
        entry.read_to_string(&mut text).unwrap();
        let item: Value = serde_json::from_str(&text).unwrap();
        match parts[1] {
            "deployments.apps" => deployments.push(item),
            "replicasets.apps" => replicasets.push(item),
            "pods" => pods.push(item),
            _ => {}
        }
    }
    let pvbs = std::fs::File::open(root.join("shop-20260302-podvolumebackups.json.gz")).unwrap();
    let pvbs: Vec<Value> = serde_json::from_reader(flate2::read::GzDecoder::new(pvbs)).unwrap();
    Sample {
        deployments,
        replicasets,
        pods,
        fsb: FsbIndex::from_pod_volume_backups(&pvbs),
    }
}

/// The rules document inside `examples/modifiers-8578.yaml` (the ConfigMap's `rules.yaml` block).
fn rules_8578() -> fsb_guard_core::Rules {
    let manifest = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/modifiers-8578.yaml"),
    )
    .unwrap();
    let block: Vec<&str> = manifest
        .lines()
        .skip_while(|l| !l.trim_start().starts_with("rules.yaml: |"))
        .skip(1)
        .take_while(|l| l.starts_with("    ") || l.trim().is_empty())
        .map(|l| l.get(4..).unwrap_or(""))
        .collect();
    VeleroEngine::rules_from_yaml(&block.join("\n")).unwrap()
}

fn named<'a>(items: &'a [Value], name: &str) -> &'a Value {
    items
        .iter()
        .find(|i| i["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("{name} in the sample"))
}

#[test]
fn sample_backup_with_issue_8578_rules() {
    let sample = sample();
    let rules = rules_8578();
    let engine = VeleroEngine;
    let settings = Settings::default();
    let plan = |name: &str| {
        deployment::plan(
            &engine,
            &rules,
            BackedUp {
                workload: named(&sample.deployments, name),
                history: &sample.replicasets,
                pods: &sample.pods,
                fsb: &sample.fsb,
                settings: &settings,
            },
        )
        .unwrap()
    };

    // web: not selected by the name regex, no FSB data.
    let web = plan("web");
    assert!(web.change.is_none() && !web.rolls_without_guard && web.fsb_pods.is_empty());

    for (name, current, pod) in [
        ("growi", "growi-5d894cc6b7", "growi-5d894cc6b7-5cv99"),
        (
            "elasticsearch",
            "elasticsearch-75fd944486",
            "elasticsearch-75fd944486-jkbl2",
        ),
    ] {
        let plan = plan(name);
        assert!(plan.rolls_without_guard, "{name} rolls without the guard");
        assert_eq!(plan.skipped, None);
        assert_eq!(plan.current_replicaset.as_deref(), Some(current));
        assert_eq!(plan.fsb_pods.len(), 1);
        assert_eq!(plan.fsb_pods[0].name, pod);
        assert!(plan.fsb_pods[0].volumes.contains("data"));
        let change = plan.change.as_ref().unwrap();
        assert!(change.paths.iter().any(|p| p.starts_with("spec.affinity")));
        assert!(change.paths.iter().any(|p| p == "spec.tolerations"));

        // The pod carries the user's scheduling intent; its FSB volume is as backed up.
        let (pod_name, corrected) = &plan.pods[0];
        assert_eq!(pod_name, pod);
        assert!(corrected.withheld.is_empty());
        let spec = &corrected.item["spec"];
        assert_eq!(
            spec["tolerations"][0]["key"],
            "storage.example.com/dedicated"
        );
        assert_eq!(
            spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
                [0]["matchExpressions"][0]["key"],
            "storage.example.com/tier"
        );
        let backed_up_pod = named(&sample.pods, pod);
        let volume = |p: &Value| {
            p["spec"]["volumes"]
                .as_array()
                .unwrap()
                .iter()
                .find(|v| v["name"] == "data")
                .cloned()
        };
        assert_eq!(volume(&corrected.item), volume(backed_up_pod));

        // End to end: the ReplicaSet as Velero creates it (rules applied; none select
        // ReplicaSets) equals the Deployment as Velero creates it, so the controller adopts it.
        let (_, decision) = plan.replicasets.iter().find(|(n, _)| n == current).unwrap();
        let ReplicaSetDecision::Retemplated { item, .. } = decision else {
            panic!("{current} must carry the new template, got {decision:?}")
        };
        let final_rs = engine.apply_rules(&rules, item, "replicasets.apps").object;
        let deployment = fsb_guard_core::as_velero_hands_it(named(&sample.deployments, name));
        let final_deployment = engine
            .apply_rules(&rules, &deployment, "deployments.apps")
            .object;
        assert!(engine.templates_equal(
            &final_rs["spec"]["template"],
            &final_deployment["spec"]["template"]
        ));
        assert_eq!(
            final_rs["spec"]["template"]["metadata"]["labels"]["pod-template-hash"],
            current.rsplit('-').next().unwrap()
        );
    }

    // growi's old revision (other image) stays as it is.
    let growi = plan("growi");
    assert!(
        growi
            .replicasets
            .iter()
            .any(|(n, d)| n == "growi-b66956547" && *d == ReplicaSetDecision::Unchanged)
    );
}
