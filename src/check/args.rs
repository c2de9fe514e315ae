//! `velero-fsb-guard check` arguments. Strict parsing: an unknown flag is a usage error (unlike plugin
//! mode, where Velero controls argv).

use std::collections::BTreeMap;
use std::ffi::OsString;

use fsb_guard_core::existing::Policy;
use std::path::PathBuf;

/// Output format of the report on stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    #[default]
    Table,
    Json,
}

/// Parsed `check` arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckArgs {
    /// `--backup`: `.tar.gz`, extracted directory or bucket folder; `None` = the embedded sample.
    pub backup: Option<PathBuf>,
    /// `--resource-modifiers`: ConfigMap manifest or bare rules document; `None` = the embedded
    /// issue-8578 rules (only allowed together with the embedded sample).
    pub resource_modifiers: Option<PathBuf>,
    /// `--pod-volume-backups`: `<backup>-podvolumebackups.json.gz` or a plain JSON list.
    pub pod_volume_backups: Option<PathBuf>,
    /// `--default-volumes-to-fs-backup`: the backup ran with Velero's opt-out approach.
    pub default_volumes_to_fs_backup: bool,
    pub format: Format,
    /// `--output-dir`: write the objects as they will be created.
    pub output_dir: Option<PathBuf>,
    /// `--emit-pod-rules`: write the equivalent pod/ReplicaSet-scoped ConfigMap.
    pub emit_pod_rules: Option<PathBuf>,
    /// `--exit-code`: exit 3 when a rollout would delete pods holding FSB data.
    pub exit_code: bool,
    /// `--target-workloads`: manifests of what the target cluster runs (issue 20).
    pub target_workloads: Option<PathBuf>,
    /// `--namespace-mappings old:new,…`, as `velero restore create` takes it.
    pub namespace_mappings: BTreeMap<String, String>,
    /// `--existing-resource-policy none|update`, as `velero restore create` takes it.
    pub existing_resource_policy: Policy,
    /// `-h`/`--help`.
    pub help: bool,
}

impl Default for CheckArgs {
    fn default() -> Self {
        Self {
            backup: None,
            resource_modifiers: None,
            pod_volume_backups: None,
            default_volumes_to_fs_backup: false,
            format: Format::Table,
            output_dir: None,
            emit_pod_rules: None,
            exit_code: false,
            target_workloads: None,
            namespace_mappings: BTreeMap::new(),
            existing_resource_policy: Policy::None,
            help: false,
        }
    }
}

/// Help text of `check`.
pub const CHECK_USAGE: &str = "\
Usage: velero-fsb-guard check [OPTIONS]

Reads a Velero backup and a resource-modifier file, offline, and reports which Deployments,
StatefulSets and DaemonSets the restore would roll out or scale down (deleting pods whose
file-system-backup data is being restored), what velero-fsb-guard does about it during the restore,
and mistakes in the rules.
Without --backup and --resource-modifiers it runs on the embedded sample backup (namespace shop)
and the Velero issue 8578 modifiers shipped in examples/.

Options:
  --backup <PATH>                 backup .tar.gz (velero backup download), extracted backup
                                  directory, or a copy of the bucket folder backups/<name>/
  --resource-modifiers <FILE>     resource-modifier ConfigMap manifest (YAML) or the bare rules document
  --pod-volume-backups <FILE>     <backup>-podvolumebackups.json.gz or a plain JSON list of PodVolumeBackups
  --default-volumes-to-fs-backup  the backup used defaultVolumesToFsBackup (opt-out); derive FSB volumes
                                  with Velero's eligibility rules when no PodVolumeBackups are available
  --format <table|json>           report format on stdout [default: table]
  --output-dir <DIR>              write every object of the analysed workloads (pods, ReplicaSets,
                                  Deployments, StatefulSets, DaemonSets, ControllerRevisions) as they will be
                                  created, to DIR/<group-resource>/<namespace>/<name>.json; pods the plugin
                                  skips (replica count lowered) are left out
  --emit-pod-rules <FILE>         write an equivalent ConfigMap with pod- and ReplicaSet-scoped rules for
                                  clusters without the plugin
  --exit-code                     exit 3 when, without the plugin, a rollout or scale-down would delete
                                  pods holding file-system-backup data
  --target-workloads <FILE>       what the target cluster runs (kubectl get deploy,sts,ds,pods -A -o yaml):
                                  report the backed-up workloads with FSB pods that already exist there,
                                  what the restore does to those pods without the plugin, and what the
                                  plugin does (parks them, or says why it cannot protect them)
  --namespace-mappings <MAP>      old1:new1,old2:new2, as given to velero restore create
  --existing-resource-policy <P>  none or update, as given to velero restore create [default: none]
  -h, --help                      print this text

Exit codes: 0 analysis ran, 1 error, 2 usage error, 3 FSB data at risk (with --exit-code).
";

/// Parses the arguments after `check`. Accepts `--flag value` and `--flag=value`.
pub fn parse(args: &[OsString]) -> Result<CheckArgs, String> {
    let mut out = CheckArgs::default();
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        let arg = arg.to_string_lossy();
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_owned(), Some(v.to_owned())),
            _ => (arg.to_string(), None),
        };
        let mut value = |name: &str| -> Result<String, String> {
            match &inline {
                Some(v) => Ok(v.clone()),
                None => iter
                    .next()
                    .map(|v| v.to_string_lossy().into_owned())
                    .ok_or_else(|| format!("{name} needs a value")),
            }
        };
        let no_value = |name: &str| -> Result<(), String> {
            match &inline {
                Some(_) => Err(format!("{name} takes no value")),
                None => Ok(()),
            }
        };
        match flag.as_str() {
            "--backup" => out.backup = Some(value("--backup")?.into()),
            "--resource-modifiers" => {
                out.resource_modifiers = Some(value("--resource-modifiers")?.into());
            }
            "--pod-volume-backups" => {
                out.pod_volume_backups = Some(value("--pod-volume-backups")?.into());
            }
            "--default-volumes-to-fs-backup" => {
                no_value(&flag)?;
                out.default_volumes_to_fs_backup = true;
            }
            "--format" => {
                out.format = match value("--format")?.as_str() {
                    "table" => Format::Table,
                    "json" => Format::Json,
                    other => return Err(format!("--format {other:?}: expected table or json")),
                }
            }
            "--output-dir" => out.output_dir = Some(value("--output-dir")?.into()),
            "--emit-pod-rules" => out.emit_pod_rules = Some(value("--emit-pod-rules")?.into()),
            "--exit-code" => {
                no_value(&flag)?;
                out.exit_code = true;
            }
            "--target-workloads" => {
                out.target_workloads = Some(value("--target-workloads")?.into());
            }
            "--namespace-mappings" => {
                for pair in value("--namespace-mappings")?.split(',') {
                    let Some((from, to)) = pair
                        .split_once(':')
                        .filter(|(f, t)| !f.is_empty() && !t.is_empty())
                    else {
                        return Err(format!(
                            "--namespace-mappings {pair:?}: expected old:new pairs separated by commas"
                        ));
                    };
                    out.namespace_mappings.insert(from.into(), to.into());
                }
            }
            "--existing-resource-policy" => {
                out.existing_resource_policy = match value("--existing-resource-policy")?.as_str() {
                    "none" => Policy::None,
                    "update" => Policy::Update,
                    other => {
                        return Err(format!(
                            "--existing-resource-policy {other:?}: expected none or update"
                        ));
                    }
                }
            }
            "-h" | "--help" => out.help = true,
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if out.backup.is_some() && out.resource_modifiers.is_none() {
        return Err(
            "--backup needs --resource-modifiers (the embedded issue-8578 rules only fit the embedded sample)"
                .into(),
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(args: &[&str]) -> Vec<OsString> {
        args.iter().map(OsString::from).collect()
    }

    #[test]
    fn both_spellings_and_defaults() {
        let a = parse(&os(&[
            "--backup=b.tar.gz",
            "--resource-modifiers",
            "r.yaml",
            "--format",
            "json",
            "--exit-code",
        ]))
        .unwrap();
        assert_eq!(a.backup, Some("b.tar.gz".into()));
        assert_eq!(a.resource_modifiers, Some("r.yaml".into()));
        assert_eq!(a.format, Format::Json);
        assert!(a.exit_code && !a.default_volumes_to_fs_backup);
        assert_eq!(parse(&[]).unwrap(), CheckArgs::default());
    }

    #[test]
    fn usage_errors_say_what() {
        assert!(
            parse(&os(&["--format", "xml"]))
                .unwrap_err()
                .contains("xml")
        );
        assert!(
            parse(&os(&["--backup"]))
                .unwrap_err()
                .contains("needs a value")
        );
        assert!(parse(&os(&["--bogus"])).unwrap_err().contains("--bogus"));
        assert!(
            parse(&os(&["--exit-code=yes"]))
                .unwrap_err()
                .contains("no value")
        );
        assert!(
            parse(&os(&["--backup", "x"]))
                .unwrap_err()
                .contains("--resource-modifiers")
        );
    }
}
