//! `velero-fsb-guard check` given file arguments that never end or hold no backup: each gets one
//! line naming the argument (and the bound, for a stream), exit code 1, never all the memory.
//! `--resource-modifiers` and `--target-workloads` on `/dev/zero` are in tests/check_cli.rs.
//! RELIABILITY.md lists these rows.

mod reliability_support;

use std::process::{Command, Output};

fn bin(args: &[&str], cwd: &std::path::Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_velero-fsb-guard"))
        .args(args)
        .current_dir(cwd)
        .env_remove("VELERO_PLUGIN")
        .output()
        .unwrap()
}

/// A valid rules file, so `check` gets as far as the argument under test.
fn rules(dir: &std::path::Path) -> String {
    let path = dir.join("rules.yaml");
    let rule = "- conditions: {groupResource: deployments.apps}\n  patches: [{operation: add, path: /spec/template/spec/hostname, value: x}]\n";
    std::fs::write(
        &path,
        format!("version: v1\nresourceModifierRules:\n{rule}"),
    )
    .unwrap();
    path.to_str().unwrap().to_owned()
}

/// The one error line of a refused run.
fn refused(out: &Output) -> String {
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stderr = String::from_utf8(out.stderr.clone()).expect("stderr is UTF-8");
    assert_eq!(stderr.lines().count(), 1, "{stderr:?}");
    assert!(
        !stderr.trim_end().chars().any(char::is_control),
        "{stderr:?}"
    );
    stderr
}

#[test]
fn backup_dev_zero_is_refused_as_no_backup() {
    let dir = tempfile::tempdir().unwrap();
    let rules = rules(dir.path());
    let out = bin(
        &[
            "check",
            "--backup",
            "/dev/zero",
            "--resource-modifiers",
            &rules,
        ],
        dir.path(),
    );
    let line = refused(&out);
    assert!(
        line.contains("/dev/zero is neither a backup tarball"),
        "{line}"
    );
}

#[test]
fn pod_volume_backups_dev_zero_is_refused_at_its_bound() {
    let dir = tempfile::tempdir().unwrap();
    let rules = rules(dir.path());
    let out = bin(
        &[
            "check",
            "--pod-volume-backups",
            "/dev/zero",
            "--resource-modifiers",
            &rules,
        ],
        dir.path(),
    );
    let line = refused(&out);
    assert!(
        line.contains("/dev/zero") && line.contains("larger than 268435456 bytes"),
        "{line}"
    );
}

#[test]
fn random_bytes_named_like_a_backup_get_one_printable_line() {
    let dir = tempfile::tempdir().unwrap();
    let rules = rules(dir.path());
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    let noise: Vec<u8> = (0..1 << 20)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 32) as u8
        })
        .collect();
    let backup = dir.path().join("nightly.tar.gz");
    std::fs::write(&backup, noise).unwrap();
    let out = bin(
        &[
            "check",
            "--backup",
            backup.to_str().unwrap(),
            "--resource-modifiers",
            &rules,
        ],
        dir.path(),
    );
    let line = refused(&out);
    assert!(line.contains("nightly.tar.gz"), "{line}");
}

#[test]
fn rules_velero_refuses_are_refused_by_check_naming_the_file_and_the_mistake() {
    let dir = tempfile::tempdir().unwrap();
    let expected = [
        ("not YAML", "line 2"),
        (
            "unsupported version",
            "unsupported resource modifier version",
        ),
        ("unknown field", "unknown field \"bogus\""),
        ("two kinds of patch in one rule", "only one of patches"),
        ("no groupResource", "groupResource cannot be empty"),
        ("unknown operation", "upsert"),
    ];
    for ((what, rules), (named, cause)) in reliability_support::REFUSED_RULES.iter().zip(expected) {
        assert_eq!(*what, named);
        let path = dir.path().join("mods.yaml");
        std::fs::write(&path, rules).unwrap();
        let out = bin(
            &["check", "--resource-modifiers", path.to_str().unwrap()],
            dir.path(),
        );
        let line = refused(&out);
        assert!(
            line.contains("mods.yaml") && line.contains(cause),
            "{what}: {line}"
        );
    }
}
