//! What the guard learns about the Velero server from the arguments the server started the plugin
//! with.
//!
//! Velero's contract (`pkg/plugin/clientmgmt/process/client_builder.go`, `newClientBuilder`):
//! up to 1.14 a plugin process gets `--log-level <level> [--features <list>]`; from 1.15 (#8166) it
//! gets every flag of `velero server` (`os.Args[2:]`). So
//!
//! - a flag other than `--log-level`/`--features` means Velero ≥ 1.15, and one of those flags may
//!   be `--default-resource-modifier-configmap` (Velero main, #10098): the ConfigMap Velero applies
//!   to a restore that names none, unless the restore sets `spec.skipDefaultResourceModifier`;
//! - only `--log-level`/`--features` means Velero ≤ 1.14 — or a newer server started with no other
//!   flag (`velero install` and the Helm chart always add `--uploader-type`, so that is rare).
//!
//! Parsing follows the plugin's argv rule ([`velero_plugin::args`]): nothing here ever fails, no
//! flag is rejected, parsing stops at `--`.

use std::ffi::OsStr;

/// The flag naming the server-wide default resource-modifier ConfigMap.
const DEFAULT_MODIFIER_FLAG: &str = "default-resource-modifier-configmap";

/// The flags Velero ≤ 1.14 passes to its plugins; nothing else reaches them before 1.15.
const FLAGS_BEFORE_1_15: [&str; 2] = ["log-level", "features"];

/// Which Velero releases the server's arguments allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ServerRelease {
    /// 1.15 or newer (a server flag reached the plugin), or nothing to tell (no flag at all: not
    /// started by a Velero server).
    #[default]
    From1_15,
    /// Only `--log-level`/`--features`: Velero 1.12–1.14 (or a newer server with no other flag).
    Before1_15,
}

/// What the plugin knows about the Velero server that started it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VeleroServer {
    /// `--default-resource-modifier-configmap` (a ConfigMap in Velero's namespace), if set.
    pub default_modifier_configmap: Option<String>,
    pub release: ServerRelease,
}

impl VeleroServer {
    /// Reads the plugin's arguments (without the program name).
    pub fn from_args<I, S>(args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let args: Vec<String> = args
            .into_iter()
            .map(|a| a.as_ref().to_string_lossy().into_owned())
            .take_while(|a| a != "--")
            .collect();
        let mut server = VeleroServer::default();
        let mut names = Vec::new();
        for (i, arg) in args.iter().enumerate() {
            let Some(flag) = arg.strip_prefix("--").or_else(|| arg.strip_prefix('-')) else {
                continue;
            };
            let (name, inline) = match flag.split_once('=') {
                Some((name, value)) => (name, Some(value)),
                None => (flag, None),
            };
            if name == DEFAULT_MODIFIER_FLAG {
                let value = inline.or_else(|| {
                    args.get(i + 1)
                        .map(String::as_str)
                        .filter(|v| !v.starts_with('-'))
                });
                // pflag: the last occurrence wins; an empty value unsets it.
                server.default_modifier_configmap =
                    value.filter(|v| !v.is_empty()).map(str::to_owned);
            }
            names.push(name.to_owned());
        }
        if !names.is_empty()
            && names
                .iter()
                .all(|n| FLAGS_BEFORE_1_15.contains(&n.as_str()))
        {
            server.release = ServerRelease::Before1_15;
        }
        server
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn velero_1_14_passes_only_the_log_level_and_features() {
        for args in [
            &["--log-level", "info"][..],
            &["--log-level", "debug", "--features", "EnableCSI"],
            &["--log-level=info", "--features="],
        ] {
            let server = VeleroServer::from_args(args);
            assert_eq!(server.release, ServerRelease::Before1_15, "{args:?}");
            assert_eq!(server.default_modifier_configmap, None);
        }
    }

    #[test]
    fn velero_1_15_passes_every_server_flag() {
        let server = VeleroServer::from_args([
            "--uploader-type=kopia",
            "--log-level",
            "info",
            "--features=",
        ]);
        assert_eq!(server.release, ServerRelease::From1_15);
        assert_eq!(server.default_modifier_configmap, None);
    }

    #[test]
    fn the_default_modifier_configmap_in_either_spelling_last_one_wins() {
        let server = VeleroServer::from_args([
            "--default-resource-modifier-configmap",
            "first",
            "--log-level",
            "info",
            "--default-resource-modifier-configmap=site-defaults",
        ]);
        assert_eq!(server.release, ServerRelease::From1_15);
        assert_eq!(
            server.default_modifier_configmap.as_deref(),
            Some("site-defaults")
        );
        let unset = VeleroServer::from_args(["--default-resource-modifier-configmap="]);
        assert_eq!(unset.default_modifier_configmap, None);
        let after_terminator = VeleroServer::from_args([
            "--uploader-type=kopia",
            "--",
            "--default-resource-modifier-configmap=x",
        ]);
        assert_eq!(after_terminator.default_modifier_configmap, None);
    }

    #[test]
    fn no_flag_at_all_is_not_taken_for_an_old_velero() {
        assert_eq!(
            VeleroServer::from_args(Vec::<String>::new()).release,
            ServerRelease::From1_15
        );
    }
}
