//! StatefulSets and DaemonSets through `check`: the report and `--output-dir` (pods,
//! ControllerRevisions, the workload itself, after the plugin and the modifiers). Expected values
//! follow from the rules and the controllers' facts (a StatefulSet removes the highest ordinals; a
//! DaemonSet pod is up to date when its `pod-template-generation` equals the DaemonSet's
//! generation), never from running the check.

mod check_support;

use check_support::{Extra, Layout, daemonset, read_json, statefulset, write, write_backup_with};
use serde_json::{Value, json};
use velero_fsb_guard::check::{self, CheckArgs};

struct Run {
    json: Value,
    table: String,
    out: tempfile::TempDir,
}

fn run(extra: &Extra, rules: &str) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let backup = write_backup_with(dir.path(), &[], extra, Layout::Bucket);
    let rules = write(dir.path(), "rules.yaml", rules);
    let args = CheckArgs {
        backup: Some(backup),
        resource_modifiers: Some(rules),
        output_dir: Some(out.path().to_path_buf()),
        ..CheckArgs::default()
    };
    let outcome = check::check(&args, &mut |_, _| {}).unwrap();
    Run {
        json: serde_json::from_str(&check::report::render_json(&outcome.analysis)).unwrap(),
        table: check::report::render_table(&outcome.analysis),
        out,
    }
}

impl Run {
    fn path(&self, gr: &str, name: &str) -> std::path::PathBuf {
        self.out
            .path()
            .join(gr)
            .join("shop")
            .join(format!("{name}.json"))
    }
}

const ENV_AND_ONE_REPLICA: &str = r#"version: v1
resourceModifierRules:
- conditions: {groupResource: statefulsets.apps, resourceNameRegex: "^db$"}
  patches:
  - {operation: replace, path: /spec/replicas, value: "1"}
- conditions: {groupResource: statefulsets.apps, resourceNameRegex: "^db$"}
  strategicPatches:
  - patchData: |
      {"spec": {"template": {"spec": {"containers": [{"name": "db", "env": [{"name": "MODE", "value": "restored"}]}]}}}}
"#;

fn env_names(container: &Value) -> Vec<&str> {
    container["env"]
        .as_array()
        .map(|e| e.iter().map(|v| v["name"].as_str().unwrap()).collect())
        .unwrap_or_default()
}

#[test]
fn statefulset_with_a_template_change_and_fewer_replicas() {
    let r = run(&statefulset("db", 3), ENV_AND_ONE_REPLICA);
    assert_eq!(r.json["backup"]["statefulSets"], 1);
    assert_eq!(r.json["backup"]["controllerRevisions"], 1);
    let sts = &r.json["statefulSets"][0];
    assert_eq!(sts["name"], "db");
    assert_eq!(sts["rolloutWithoutPlugin"], true);
    assert_eq!(sts["rolloutWithPlugin"], false);
    assert_eq!(sts["plugin"]["action"], "corrects");
    // The rollout would delete every pod holding FSB data.
    assert_eq!(sts["atRisk"].as_array().unwrap().len(), 3);
    // The controller removes the highest ordinals: db-1 and db-2 are skipped, their data lost.
    let replicas = &sts["replicas"];
    assert_eq!(
        (replicas["from"].as_u64(), replicas["to"].as_u64()),
        (Some(3), Some(1))
    );
    assert_eq!(replicas["kept"], json!(["db-0"]));
    assert_eq!(
        replicas["skipped"],
        json!([{"pod": "db-1", "volumes": ["data"]}, {"pod": "db-2", "volumes": ["data"]}])
    );
    assert_eq!(replicas["fsbDataNotRestored"], replicas["skipped"]);
    let revision = &sts["plugin"]["revision"];
    assert_eq!(revision["name"], "db-6c9f7d8b5");
    assert_eq!(revision["foundBy"], "status");
    assert_eq!(revision["inBackup"], true);
    assert_eq!(revision["action"], "rewritten");
    assert_eq!(r.json["summary"]["statefulSetsAtRisk"], 1);
    assert_eq!(r.json["summary"]["fsbVolumesNotRestored"], 2);
    assert_eq!(r.json["summary"]["fsbDataAtRisk"], true);
    // --output-dir: db-0 carries the env var; db-1 and db-2 are not created; the revision the
    // pods name says T'; the StatefulSet as the modifiers leave it.
    let pod = read_json(&r.path("pods", "db-0"));
    assert_eq!(env_names(&pod["spec"]["containers"][0]), ["MODE"]);
    assert!(!r.path("pods", "db-1").exists() && !r.path("pods", "db-2").exists());
    let cr = read_json(&r.path("controllerrevisions.apps", "db-6c9f7d8b5"));
    assert_eq!(
        env_names(&cr["data"]["spec"]["template"]["spec"]["containers"][0]),
        ["MODE"]
    );
    assert!(cr["revision"].as_i64().unwrap() >= 2);
    let created = read_json(&r.path("statefulsets.apps", "db"));
    assert_eq!(created["spec"]["replicas"], 1);
    assert_eq!(
        env_names(&created["spec"]["template"]["spec"]["containers"][0]),
        ["MODE"]
    );
    assert!(r.table.contains("StatefulSet shop/db"), "{}", r.table);
    assert!(
        r.table.contains("pods skipped (skipRestore):  db-1, db-2"),
        "{}",
        r.table
    );
}

#[test]
fn statefulset_raised_needs_nothing() {
    let rules = "version: v1\nresourceModifierRules:\n- conditions: {groupResource: statefulsets.apps}\n  patches:\n  - {operation: replace, path: /spec/replicas, value: \"5\"}\n";
    let r = run(&statefulset("db", 2), rules);
    let sts = &r.json["statefulSets"][0];
    assert_eq!(sts["replicas"]["change"], "raised");
    assert_eq!(sts["replicas"]["skipped"], json!([]));
    assert_eq!(sts["atRisk"], json!([]));
    assert!(r.path("pods", "db-0").exists() && r.path("pods", "db-1").exists());
    assert_eq!(r.json["summary"]["fsbDataAtRisk"], false);
}

#[test]
fn daemonset_with_an_env_change() {
    let rules = r#"version: v1
resourceModifierRules:
- conditions: {groupResource: daemonsets.apps}
  strategicPatches:
  - patchData: |
      {"spec": {"template": {"spec": {"containers": [{"name": "agent", "env": [{"name": "MODE", "value": "restored"}]}]}}}}
"#;
    let r = run(&daemonset("agent").and(statefulset("db", 1)), rules);
    assert_eq!(r.json["backup"]["daemonSets"], 1);
    let ds = &r.json["daemonSets"][0];
    assert_eq!(ds["name"], "agent");
    // The rules keep the generation annotation: the pods still count as up to date, so nothing
    // replaces them, but without the plugin they keep the old template.
    assert_eq!(ds["restoredGeneration"], "kept:3");
    assert_eq!(ds["rolloutWithoutPlugin"], false);
    assert_eq!(ds["podsKeepOldTemplateWithoutPlugin"], true);
    assert_eq!(ds["plugin"]["action"], "corrects");
    let pods: Vec<&str> = ds["plugin"]["pods"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["pod"].as_str().unwrap())
        .collect();
    assert_eq!(pods, ["agent-worker-1", "agent-worker-2"]);
    assert_eq!(ds["nodeEligibility"], json!([]));
    for pod in pods {
        let created = read_json(&r.path("pods", pod));
        assert_eq!(env_names(&created["spec"]["containers"][0]), ["MODE"]);
        assert_eq!(
            created["metadata"]["labels"]["pod-template-generation"],
            "3"
        );
        // The controller's node pin stays.
        assert!(
            created["spec"]["affinity"]["nodeAffinity"].is_object(),
            "{created}"
        );
    }
    assert!(r.path("daemonsets.apps", "agent").exists());
    assert!(r.table.contains("DaemonSet shop/agent"), "{}", r.table);
    // The StatefulSet beside it is untouched by these rules.
    assert_eq!(
        r.json["statefulSets"][0]["plugin"]["action"],
        "nothing-to-do"
    );
}

#[test]
fn daemonset_rule_that_moves_pods_to_other_nodes_is_reported() {
    let rules = r#"version: v1
resourceModifierRules:
- conditions: {groupResource: daemonsets.apps}
  mergePatches:
  - patchData: |
      {"spec": {"template": {"spec": {"nodeSelector": {"disk": "ssd"}}}}}
"#;
    let r = run(&daemonset("agent"), rules);
    let ds = &r.json["daemonSets"][0];
    // The node selector's new key is the path that changes which nodes qualify.
    assert_eq!(ds["nodeEligibility"], json!(["spec.nodeSelector.disk"]));
    assert!(
        ds["verdict"]
            .as_str()
            .unwrap()
            .contains("the controller deletes pods on nodes that no longer do")
    );
}
