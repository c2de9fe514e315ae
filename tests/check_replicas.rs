//! Replica-count changes through `check` (issue 8): the report (R -> R', pods kept and skipped,
//! FSB data that will not be restored, "raising needs nothing") and `--output-dir` without the
//! skipped pods. Expected values follow from the rule and from which pods hold backup data.

mod check_support;

use std::process::Command;

use check_support::{App, Layout, app, read_json, write, write_backup};
use serde_json::Value;
use velero_fsb_guard::check::{self, CheckArgs};

struct Run {
    json: Value,
    table: String,
    out: tempfile::TempDir,
}

fn replicas_rule(name: &str, to: u64) -> String {
    format!(
        "version: v1\nresourceModifierRules:\n- conditions: {{groupResource: deployments.apps, resourceNameRegex: \"^{name}$\"}}\n  patches:\n  - {{operation: replace, path: /spec/replicas, value: \"{to}\"}}\n"
    )
}

fn run(apps: &[App], rules: &str) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let backup = write_backup(dir.path(), apps, Layout::Bucket);
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
    fn deployment(&self, name: &str) -> &Value {
        self.json["deployments"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["name"] == name)
            .unwrap()
    }
    fn path(&self, gr: &str, name: &str) -> std::path::PathBuf {
        self.out
            .path()
            .join(gr)
            .join("shop")
            .join(format!("{name}.json"))
    }
}

fn strings(v: &Value) -> Vec<&str> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect()
}

#[test]
fn lowered_replicas_keep_the_pod_that_holds_a_shared_volume_backup() {
    // Three pods share one RWX claim, backed up through the third pod only.
    let web = app("shop", "web", "6d4cf56db6")
        .replicas(3)
        .shared_fsb_claim("shared", 2);
    let pods = web.pod_names();
    let r = run(std::slice::from_ref(&web), &replicas_rule("web", 1));
    let d = r.deployment("web");
    let replicas = &d["replicas"];
    assert_eq!(replicas["from"], 3);
    assert_eq!(replicas["to"], 1);
    assert_eq!(replicas["change"], "lowered");
    assert_eq!(replicas["restoredPods"], 3);
    assert_eq!(strings(&replicas["kept"]), [pods[2].as_str()]);
    let skipped: Vec<&str> = replicas["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["pod"].as_str().unwrap())
        .collect();
    assert_eq!(skipped, [pods[0].as_str(), pods[1].as_str()]);
    assert!(
        replicas["skipped"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["volumes"].as_array().unwrap().is_empty())
    );
    assert_eq!(replicas["fsbDataNotRestored"], serde_json::json!([]));
    // Without the plugin the scale-down may delete the pod restoring the shared volume.
    assert_eq!(
        replicas["atRiskWithoutPlugin"],
        serde_json::json!([{"pod": pods[2], "volumes": ["shared"]}])
    );
    assert_eq!(d["atRisk"], replicas["atRiskWithoutPlugin"]);
    assert_eq!(d["rolloutWithoutPlugin"], false);
    assert_eq!(d["plugin"]["action"], "corrects");
    assert!(
        d["verdict"]
            .as_str()
            .unwrap()
            .contains("no file-system-backup data lost")
    );
    let summary = &r.json["summary"];
    assert_eq!(summary["fsbDataAtRisk"], true);
    assert_eq!(summary["replicaChanges"], 1);
    assert_eq!(summary["fsbVolumesNotRestored"], 0);
    // --output-dir: the skipped pods are not created; the ReplicaSet and the Deployment agree on 1.
    assert!(!r.path("pods", &pods[0]).exists());
    assert!(!r.path("pods", &pods[1]).exists());
    assert!(r.path("pods", &pods[2]).exists());
    let rs = read_json(&r.path("replicasets.apps", &web.rs_name()));
    assert_eq!(rs["spec"]["replicas"], 1);
    assert_eq!(
        rs["metadata"]["annotations"]["deployment.kubernetes.io/desired-replicas"],
        "1"
    );
    let deployment = read_json(&r.path("deployments.apps", "web"));
    assert_eq!(deployment["spec"]["replicas"], 1);
    // The table names the change, the kept and the skipped pods.
    assert!(
        r.table.contains("SCALES DOWN 3 -> 1 - deletes FSB pods"),
        "{}",
        r.table
    );
    assert!(r.table.contains("restores 1 of 3 pods"), "{}", r.table);
    assert!(
        r.table.contains(&format!(
            "pods skipped (skipRestore):  {}, {}",
            pods[0], pods[1]
        )),
        "{}",
        r.table
    );
}

#[test]
fn per_pod_data_beyond_the_new_count_is_reported_as_not_restored() {
    let db = app("shop", "cache", "7f8b9c6d5")
        .replicas(3)
        .fsb_volume("data");
    let pods = db.pod_names();
    let r = run(std::slice::from_ref(&db), &replicas_rule("cache", 2));
    let replicas = &r.deployment("cache")["replicas"];
    assert_eq!(
        strings(&replicas["kept"]),
        [pods[0].as_str(), pods[1].as_str()]
    );
    assert_eq!(
        replicas["fsbDataNotRestored"],
        serde_json::json!([{"pod": pods[2], "volumes": ["data"]}])
    );
    // Any restoring pod may be the one the controller deletes: all three are at risk.
    assert_eq!(replicas["atRiskWithoutPlugin"].as_array().unwrap().len(), 3);
    assert_eq!(r.json["summary"]["fsbVolumesNotRestored"], 1);
    let expected = format!("FSB data NOT restored: {}/data", pods[2]);
    assert!(r.table.contains(&expected), "{}", r.table);
    assert!(
        r.json["summary"]["verdict"]
            .as_str()
            .unwrap()
            .contains(&format!(
                "leave FSB data unrestored even with the plugin: {}/data",
                pods[2]
            ))
    );
    assert!(!r.path("pods", &pods[2]).exists());
}

#[test]
fn lowering_to_zero_restores_no_pod() {
    let web = app("shop", "web", "6d4cf56db6")
        .replicas(2)
        .fsb_volume("data");
    let r = run(std::slice::from_ref(&web), &replicas_rule("web", 0));
    let replicas = &r.deployment("web")["replicas"];
    assert_eq!(replicas["kept"], serde_json::json!([]));
    assert_eq!(replicas["skipped"].as_array().unwrap().len(), 2);
    assert_eq!(replicas["fsbDataNotRestored"].as_array().unwrap().len(), 2);
    for pod in web.pod_names() {
        assert!(!r.path("pods", &pod).exists());
    }
    assert_eq!(
        read_json(&r.path("replicasets.apps", &web.rs_name()))["spec"]["replicas"],
        0
    );
}

#[test]
fn raising_replicas_needs_nothing() {
    let web = app("shop", "web", "6d4cf56db6").fsb_volume("data");
    let r = run(std::slice::from_ref(&web), &replicas_rule("web", 3));
    let d = r.deployment("web");
    assert_eq!(d["replicas"]["change"], "raised");
    assert_eq!(d["replicas"]["skipped"], serde_json::json!([]));
    assert_eq!(d["atRisk"], serde_json::json!([]));
    assert_eq!(d["plugin"]["action"], "nothing-to-do");
    assert!(
        d["replicas"]["summary"]
            .as_str()
            .unwrap()
            .contains("nothing to do (the controller creates the new pods)")
    );
    assert_eq!(r.json["summary"]["fsbDataAtRisk"], false);
    // The ReplicaSet is created as backed up.
    assert_eq!(
        read_json(&r.path("replicasets.apps", &web.rs_name()))["spec"]["replicas"],
        1
    );
    assert!(r.table.contains("replicas raised 1 -> 3"), "{}", r.table);
}

#[test]
fn exit_code_three_for_a_scale_down_that_deletes_fsb_pods() {
    let dir = tempfile::tempdir().unwrap();
    let web = app("shop", "web", "6d4cf56db6")
        .replicas(2)
        .fsb_volume("data");
    let backup = write_backup(dir.path(), &[web], Layout::Bucket);
    let rules = write(dir.path(), "r.yaml", &replicas_rule("web", 1));
    let out = Command::new(env!("CARGO_BIN_EXE_velero-fsb-guard"))
        .args(["check", "--backup"])
        .arg(&backup)
        .arg("--resource-modifiers")
        .arg(&rules)
        .arg("--exit-code")
        .env_remove("VELERO_PLUGIN")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn template_and_replica_changes_land_on_the_same_replicaset() {
    let es = app("shop", "elasticsearch", "75fd944486")
        .replicas(3)
        .fsb_volume("data");
    let pods = es.pod_names();
    let rules = r#"version: v1
resourceModifierRules:
- conditions: {groupResource: deployments.apps, resourceNameRegex: "^elasticsearch$"}
  patches:
  - operation: add
    path: /spec/template/spec/tolerations
    value: '[{"key":"storage.example.com/dedicated","operator":"Exists","effect":"NoSchedule"}]'
  - {operation: replace, path: /spec/replicas, value: "2"}
"#;
    let r = run(std::slice::from_ref(&es), rules);
    let d = r.deployment("elasticsearch");
    assert_eq!(d["rolloutWithoutPlugin"], true);
    assert_eq!(d["rolloutWithPlugin"], false);
    assert_eq!(d["replicas"]["change"], "lowered");
    assert_eq!(
        strings(&d["replicas"]["kept"]),
        [pods[0].as_str(), pods[1].as_str()]
    );
    // The rollout would delete every restored FSB pod.
    assert_eq!(d["atRisk"].as_array().unwrap().len(), 3);
    let rs = read_json(&r.path("replicasets.apps", &es.rs_name()));
    let deployment = read_json(&r.path("deployments.apps", "elasticsearch"));
    assert_eq!(rs["spec"]["replicas"], 2);
    assert_eq!(deployment["spec"]["replicas"], 2);
    assert!(
        fsb_smp::pod_templates_semantically_equal(
            &rs["spec"]["template"],
            &deployment["spec"]["template"]
        ),
        "the created ReplicaSet must carry the Deployment's final template"
    );
    let pod = read_json(&r.path("pods", &pods[0]));
    assert!(pod["spec"]["tolerations"].is_array());
    assert!(!r.path("pods", &pods[2]).exists());
}

#[test]
fn mid_rollout_backup_keeps_the_older_pods_and_aligns_desired_replicas() {
    // The backup caught a rollout: 2 current pods, 2 more at the older revision (other image).
    let older_spec = serde_json::json!({"containers": [{"name": "app", "image": "registry.example/app:0.9",
        "volumeMounts": [{"name": "data", "mountPath": "/data"}]}],
        "volumes": [{"name": "data", "emptyDir": {}}]});
    let web = app("shop", "web", "6d4cf56db6")
        .replicas(2)
        .fsb_volume("data")
        .past_revision("58c7d9f6b4", older_spec)
        .past_running(2);
    let current = web.pod_names();
    let older = web.past_app(0);
    let r = run(std::slice::from_ref(&web), &replicas_rule("web", 1));
    let replicas = &r.deployment("web")["replicas"];
    assert_eq!(replicas["restoredPods"], 2);
    assert_eq!(strings(&replicas["kept"]), [current[0].as_str()]);
    assert_eq!(
        strings(&replicas["olderRevisionPods"]),
        older
            .pod_names()
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
    );
    // --output-dir: the older ReplicaSet keeps its pods and replicas, with desired-replicas = R'.
    let older_rs = read_json(&r.path("replicasets.apps", &older.rs_name()));
    assert_eq!(older_rs["spec"]["replicas"], 2);
    assert_eq!(
        older_rs["metadata"]["annotations"]["deployment.kubernetes.io/desired-replicas"],
        "1"
    );
    for pod in older.pod_names() {
        assert!(r.path("pods", &pod).exists(), "{pod}");
    }
    assert!(!r.path("pods", &current[1]).exists());
    assert_eq!(
        read_json(&r.path("replicasets.apps", &web.rs_name()))["spec"]["replicas"],
        1
    );
}
