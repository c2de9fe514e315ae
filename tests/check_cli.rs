//! The binary: `velero-fsb-guard check` on the embedded sample from any directory, exit codes,
//! JSON output, usage errors, and `install --to`.

mod check_support;

use std::process::{Command, Output};

use check_support::{Layout, app, write, write_backup};
use serde_json::Value;

fn bin(args: &[&str], cwd: &std::path::Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_velero-fsb-guard"))
        .args(args)
        .current_dir(cwd)
        .env_remove("VELERO_PLUGIN")
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn embedded_default_from_any_directory() {
    let cwd = tempfile::tempdir().unwrap();
    let out = bin(&["check"], cwd.path());
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    // The sample (examples/README.md): growi and elasticsearch have FSB data and the 8578 rules
    // change their templates; web has no FSB data and no matching rule.
    assert!(stdout.contains("shop-20260302"), "{stdout}");
    assert!(stdout.contains("growi-5d894cc6b7-5cv99 (data)"), "{stdout}");
    assert!(
        stdout.contains("elasticsearch-75fd944486-jkbl2 (data)"),
        "{stdout}"
    );
    let verdict = stdout.lines().find(|l| l.starts_with("VERDICT:")).unwrap();
    assert!(
        verdict.contains("AT RISK")
            && verdict.contains("shop/growi")
            && verdict.contains("shop/elasticsearch"),
        "{verdict}"
    );
    assert!(!verdict.contains("shop/web"), "{verdict}");
    assert!(
        stdout.contains("FSB volumes from:   PodVolumeBackups"),
        "{stdout}"
    );
}

#[test]
fn exit_code_three_only_when_fsb_pods_would_be_deleted() {
    let cwd = tempfile::tempdir().unwrap();
    assert_eq!(
        bin(&["check", "--exit-code"], cwd.path()).status.code(),
        Some(3)
    );
    // Rules that only roll a Deployment without FSB data: reported, exit 0.
    let dir = tempfile::tempdir().unwrap();
    let backup = write_backup(
        dir.path(),
        &[
            app("shop", "growi", "5d894cc6b7").fsb_volume("data"),
            app("shop", "web", "6d4cf56db6"),
        ],
        Layout::Bucket,
    );
    let rules = write(
        dir.path(),
        "r.yaml",
        "version: v1\nresourceModifierRules:\n- conditions: {groupResource: deployments.apps, resourceNameRegex: ^web$}\n  patches:\n  - {operation: replace, path: /spec/template/spec/containers/0/image, value: x:2}\n",
    );
    let args = [
        "check",
        "--backup",
        backup.to_str().unwrap(),
        "--resource-modifiers",
        rules.to_str().unwrap(),
        "--exit-code",
    ];
    let out = bin(&args, cwd.path());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    assert!(text(&out.stdout).contains("shop/web"));
}

#[test]
fn json_output_follows_the_documented_schema() {
    let cwd = tempfile::tempdir().unwrap();
    let out = bin(&["check", "--format", "json"], cwd.path());
    assert_eq!(out.status.code(), Some(0));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["schemaVersion"], 1);
    assert_eq!(v["backup"]["layout"], "bucket-folder");
    assert_eq!(v["fsbSource"]["kind"], "bucket-pod-volume-backups");
    assert_eq!(v["summary"]["deploymentsAtRisk"], 2);
    assert_eq!(v["summary"]["fsbDataAtRisk"], true);
    let growi = v["deployments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"] == "growi")
        .unwrap();
    for key in [
        "namespace",
        "fsbPods",
        "rolloutWithoutPlugin",
        "templatePaths",
        "ruleErrors",
        "atRisk",
        "plugin",
        "rolloutWithPlugin",
        "verdict",
    ] {
        assert!(growi.get(key).is_some(), "missing {key}");
    }
    assert_eq!(growi["plugin"]["action"], "corrects");
    assert_eq!(growi["plugin"]["currentReplicaSet"], "growi-5d894cc6b7");
    let rs: Vec<&str> = growi["plugin"]["replicaSets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["action"] == "retemplated")
        .map(|r| r["replicaSet"].as_str().unwrap())
        .collect();
    assert_eq!(rs, ["growi-5d894cc6b7"]);
    // Every key named in docs/check.md appears in the output (and the doc names the codes).
    let doc = include_str!("../docs/check.md");
    for key in [
        "schemaVersion",
        "fsbSource",
        "rolloutWithoutPlugin",
        "atRisk",
        "rolloutWithPlugin",
        "fsbDataAtRisk",
        "lint",
    ] {
        assert!(doc.contains(key), "docs/check.md does not document {key}");
    }
}

#[test]
fn output_dir_and_pod_rules_from_the_binary() {
    let cwd = tempfile::tempdir().unwrap();
    let out_dir = cwd.path().join("out");
    let rules = cwd.path().join("pod-rules.yaml");
    let out = bin(
        &[
            "check",
            "--output-dir",
            out_dir.to_str().unwrap(),
            "--emit-pod-rules",
            rules.to_str().unwrap(),
        ],
        cwd.path(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    for p in [
        "pods/shop/growi-5d894cc6b7-5cv99.json",
        "replicasets.apps/shop/growi-5d894cc6b7.json",
        "deployments.apps/shop/growi.json",
        "pods/shop/web-66c9f47c67-5f86b.json",
    ] {
        assert!(out_dir.join(p).is_file(), "{p} missing");
    }
    let pod: Value = serde_json::from_slice(
        &std::fs::read(out_dir.join("pods/shop/growi-5d894cc6b7-5cv99.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        pod["spec"]["tolerations"][0]["key"],
        "storage.example.com/dedicated"
    );
    assert!(
        pod["metadata"].get("uid").is_none(),
        "metadata reset as Velero does"
    );
    assert!(pod.get("status").is_none());
    assert!(
        std::fs::read_to_string(rules)
            .unwrap()
            .contains("kind: ConfigMap")
    );
    // No rollout: each created current ReplicaSet carries its created Deployment's template.
    let read = |p: &str| -> Value {
        serde_json::from_slice(&std::fs::read(out_dir.join(p)).unwrap()).unwrap()
    };
    for (d, rs) in [
        ("growi", "growi-5d894cc6b7"),
        ("elasticsearch", "elasticsearch-75fd944486"),
    ] {
        let d = read(&format!("deployments.apps/shop/{d}.json"));
        let rs = read(&format!("replicasets.apps/shop/{rs}.json"));
        assert!(fsb_smp::pod_templates_semantically_equal(
            &d["spec"]["template"],
            &rs["spec"]["template"]
        ));
    }
}

#[test]
fn usage_and_input_errors() {
    let cwd = tempfile::tempdir().unwrap();
    let out = bin(&["check", "--bogus"], cwd.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("--bogus"));
    let out = bin(
        &[
            "check",
            "--backup",
            "/nonexistent/b.tar.gz",
            "--resource-modifiers",
            "/nonexistent/r.yaml",
        ],
        cwd.path(),
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("/nonexistent/b.tar.gz"),
        "{}",
        text(&out.stderr)
    );
    let out = bin(&["check", "--help"], cwd.path());
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stdout).contains("--emit-pod-rules"));
    // A file argument that never ends is read up to its bound, then refused by name.
    let out = bin(&["check", "--resource-modifiers", "/dev/zero"], cwd.path());
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("/dev/zero: more than 2097152 bytes"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn install_to_copies_the_binary() {
    let dir = tempfile::tempdir().unwrap();
    let out = bin(
        &["install", "--to", dir.path().to_str().unwrap()],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let installed = dir.path().join("velero-fsb-guard");
    assert_eq!(
        std::fs::read(installed).unwrap(),
        std::fs::read(env!("CARGO_BIN_EXE_velero-fsb-guard")).unwrap()
    );
    assert_eq!(bin(&["install"], dir.path()).status.code(), Some(2));
}

#[test]
fn no_progress_on_a_pipe_and_own_rules_against_the_sample() {
    let dir = tempfile::tempdir().unwrap();
    let backup = write_backup(
        dir.path(),
        &[app("shop", "growi", "5d894cc6b7").fsb_volume("data")],
        Layout::Archive,
    );
    let rules = write(
        dir.path(),
        "r.yaml",
        "version: v1\nresourceModifierRules:\n- conditions: {groupResource: deployments.apps, resourceNameRegex: ^growi$}\n  patches:\n  - {operation: replace, path: /spec/template/spec/containers/0/image, value: x:2}\n",
    );
    let out = bin(
        &[
            "check",
            "--backup",
            backup.to_str().unwrap(),
            "--resource-modifiers",
            rules.to_str().unwrap(),
        ],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(0));
    // stderr is a pipe here: no progress indicator, nothing at all.
    assert_eq!(text(&out.stderr), "");
    // --resource-modifiers alone: the user's rules against the embedded sample (growi only).
    let out = bin(
        &[
            "check",
            "--format",
            "json",
            "--resource-modifiers",
            rules.to_str().unwrap(),
        ],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        v["backup"]["source"]
            .as_str()
            .unwrap()
            .contains("shop-20260302")
    );
    let rolling: Vec<&str> = v["deployments"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["rolloutWithoutPlugin"] == true)
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    assert_eq!(rolling, ["growi"]);
}

/// The sample's backed-up Deployment `name`, as the target cluster would list it.
fn sample_deployment(name: &str) -> Value {
    let archive = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/sample-backup/backups/shop-20260302/shop-20260302.tar.gz"
    );
    let file = std::fs::File::open(archive).unwrap();
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let wanted = format!("resources/deployments.apps/namespaces/shop/{name}.json");
    for entry in tar.entries().unwrap() {
        let mut entry = entry.unwrap();
        if entry.path().unwrap().to_string_lossy() == wanted {
            return serde_json::from_reader(&mut entry).unwrap();
        }
    }
    panic!("{wanted} not in the sample")
}

/// Issue 20 offline: the sample restored into a cluster that still runs growi (image updated
/// since the backup; its data in a claim) and elasticsearch (scaled to 0; its data in an
/// emptyDir): both named, with what happens without the plugin and what the plugin does.
#[test]
fn target_workloads_name_the_existing_ones_and_what_happens_to_their_pods() {
    let dir = tempfile::tempdir().unwrap();
    let mut growi = sample_deployment("growi");
    growi["spec"]["template"]["spec"]["containers"][0]["image"] = serde_json::json!("growi:next");
    let mut elasticsearch = sample_deployment("elasticsearch");
    elasticsearch["spec"]["replicas"] = serde_json::json!(0);
    // Two YAML documents, as users concatenate `kubectl get … -o yaml` output; JSON and `List`s
    // are read too.
    let yaml = serde_saphyr::to_string_multiple(&[growi, elasticsearch]).unwrap();
    let target = dir.path().join("target.yaml");
    std::fs::write(&target, yaml).unwrap();
    let target = target.to_str().unwrap();

    let out = bin(
        &["check", "--format", "json", "--target-workloads", target],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let existing = report["existingWorkloads"].as_array().unwrap();
    assert_eq!(existing.len(), 2, "{existing:#?}");
    let es = &existing[0];
    assert_eq!(es["workload"], "Deployment shop/elasticsearch");
    assert_eq!(
        (es["scaledToZero"].as_bool(), es["template"].as_str()),
        (Some(true), Some("same"))
    );
    assert_eq!(es["pods"][0]["withPlugin"], "detached");
    assert_eq!(es["pods"][0]["podOnlyVolumes"], serde_json::json!(["data"]));
    let growi = &existing[1];
    assert_eq!(growi["workload"], "Deployment shop/growi");
    assert_eq!(growi["template"], "other");
    assert_eq!(growi["pods"][0]["pod"], "growi-5d894cc6b7-5cv99");
    assert_eq!(growi["pods"][0]["withPlugin"], "parked-then-deleted");
    assert!(
        growi["withoutPlugin"]
            .as_str()
            .unwrap()
            .contains("PartiallyFailed")
    );

    let table = bin(
        &[
            "check",
            "--target-workloads",
            target,
            "--namespace-mappings",
            "shop:shop",
            "--existing-resource-policy",
            "update",
        ],
        dir.path(),
    );
    let stdout = text(&table.stdout);
    assert!(
        stdout.contains("Existing workloads in the target"),
        "{stdout}"
    );
    assert!(
        stdout.contains("NOT PROTECTABLE: data in data lives in the pod only"),
        "{stdout}"
    );
    assert!(stdout.contains("existingResourcePolicy update"), "{stdout}");

    // Mapped elsewhere, the target's workloads are other ones.
    let mapped = bin(
        &[
            "check",
            "--format",
            "json",
            "--target-workloads",
            target,
            "--namespace-mappings",
            "shop:shop-dr",
        ],
        dir.path(),
    );
    let report: Value = serde_json::from_slice(&mapped.stdout).unwrap();
    assert_eq!(report["existingWorkloads"], serde_json::json!([]));

    // Bounded: a device that never ends gets an error naming the bound.
    let endless = bin(&["check", "--target-workloads", "/dev/zero"], dir.path());
    assert_eq!(endless.status.code(), Some(1));
    let stderr = text(&endless.stderr);
    assert!(
        stderr.contains("more than 67108864 bytes") && stderr.contains("target workload manifests"),
        "{stderr}"
    );

    let bad = bin(
        &["check", "--existing-resource-policy", "merge"],
        dir.path(),
    );
    assert_eq!(bad.status.code(), Some(2));
    let bad = bin(&["check", "--namespace-mappings", "shop"], dir.path());
    assert_eq!(bad.status.code(), Some(2));
}
