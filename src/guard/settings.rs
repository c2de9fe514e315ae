//! Plugin settings: the optional plugin-config ConfigMap (Velero's convention: labels
//! `velero.io/plugin-config` and `fsb-guard.io/template-guard: RestoreItemAction`, in the Velero
//! namespace) and the per-restore `fsb-guard.io/mode` annotation.
//!
//! Invalid values never fail a restore: each one yields a warning and the default for that key.

use std::time::Duration;

use serde_json::Value;

/// Restore annotation that overrides [`Settings::mode`] for one restore.
pub const MODE_ANNOTATION: &str = "fsb-guard.io/mode";

/// What the guard does with its decisions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Correct pods and ReplicaSets, align the live ReplicaSet.
    #[default]
    Enforce,
    /// Log exactly what enforce would do; change nothing.
    DryRun,
    /// Do nothing at all (no API call either).
    Off,
}

impl Mode {
    fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "enforce" => Some(Self::Enforce),
            "dry-run" | "dryrun" => Some(Self::DryRun),
            "off" => Some(Self::Off),
            _ => None,
        }
    }

    /// The spelling used in settings and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Enforce => "enforce",
            Self::DryRun => "dry-run",
            Self::Off => "off",
        }
    }
}

/// What happens to an item when the guard fails internally.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FailurePolicy {
    /// Item unchanged, a `warn` line (default: a guard failure must not fail a restore).
    #[default]
    Open,
    /// The item fails (Velero: "error preparing …", restore PartiallyFailed).
    Closed,
}

/// Which workloads the guard corrects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Scope {
    /// Only Deployments whose pods have file-system-backup data.
    #[default]
    FsbOnly,
    /// Every Deployment whose template the rules change (avoids all restore-time rollouts).
    AllWorkloads,
}

/// Effective guard settings for one restore.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub mode: Mode,
    pub failure_policy: FailurePolicy,
    pub scope: Scope,
    /// Namespace globs (`*`, `?`) on the backup's (original) namespace; empty = all.
    pub include_namespaces: Vec<String>,
    /// Namespace globs excluded after inclusion.
    pub exclude_namespaces: Vec<String>,
    /// Bound on the whole backup-contents download.
    pub download_timeout: Duration,
}

/// Default bound on the backup-contents download.
pub const DEFAULT_DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(300);

impl Default for Settings {
    fn default() -> Self {
        Self {
            mode: Mode::Enforce,
            failure_policy: FailurePolicy::Open,
            scope: Scope::FsbOnly,
            include_namespaces: Vec::new(),
            exclude_namespaces: Vec::new(),
            download_timeout: DEFAULT_DOWNLOAD_TIMEOUT,
        }
    }
}

impl Settings {
    /// Reads the plugin-config ConfigMap's `data` (a JSON object of strings; `None` = no ConfigMap).
    /// Returns the settings and one warning per invalid or unknown key (that key keeps its default).
    pub fn from_config_data(data: Option<&Value>) -> (Self, Vec<String>) {
        let mut settings = Self::default();
        let mut warnings = Vec::new();
        let Some(map) = data.and_then(Value::as_object) else {
            return (settings, warnings);
        };
        for (key, value) in map {
            let Some(text) = value.as_str() else {
                warnings.push(format!("setting {key:?}: not a string, default kept"));
                continue;
            };
            let mut invalid = |expected: &str| {
                warnings.push(format!(
                    "setting {key:?}: invalid value, expected {expected}; default kept"
                ));
            };
            match key.as_str() {
                "mode" => match Mode::parse(text) {
                    Some(mode) => settings.mode = mode,
                    None => invalid("enforce|dry-run|off"),
                },
                "failurePolicy" => match text.trim().to_ascii_lowercase().as_str() {
                    "open" => settings.failure_policy = FailurePolicy::Open,
                    "closed" => settings.failure_policy = FailurePolicy::Closed,
                    _ => invalid("open|closed"),
                },
                "scope" => match text.trim().to_ascii_lowercase().as_str() {
                    "fsb-only" => settings.scope = Scope::FsbOnly,
                    "all-workloads" => settings.scope = Scope::AllWorkloads,
                    _ => invalid("fsb-only|all-workloads"),
                },
                "includeNamespaces" => settings.include_namespaces = glob_list(text),
                "excludeNamespaces" => settings.exclude_namespaces = glob_list(text),
                "downloadTimeout" => match parse_duration(text) {
                    Some(d) if !d.is_zero() => settings.download_timeout = d,
                    _ => invalid("a duration such as 90s, 5m or 1m30s"),
                },
                _ => warnings.push(format!("setting {key:?}: unknown key, ignored")),
            }
        }
        (settings, warnings)
    }

    /// Applies the restore's `fsb-guard.io/mode` annotation, if any; an invalid value is a warning
    /// and leaves the mode as configured.
    pub fn with_restore_override(mut self, restore: &Value) -> (Self, Option<String>) {
        let annotation = restore
            .pointer("/metadata/annotations")
            .and_then(|a| a.get(MODE_ANNOTATION))
            .and_then(Value::as_str);
        let Some(text) = annotation else {
            return (self, None);
        };
        match Mode::parse(text) {
            Some(mode) => {
                self.mode = mode;
                (self, None)
            }
            None => {
                let warning = format!(
                    "restore annotation {MODE_ANNOTATION}: invalid value, expected enforce|dry-run|off; mode {} kept",
                    self.mode.as_str()
                );
                (self, Some(warning))
            }
        }
    }

    /// Whether objects of the backup namespace `namespace` are in scope.
    pub fn namespace_in_scope(&self, namespace: &str) -> bool {
        let included = self.include_namespaces.is_empty()
            || self
                .include_namespaces
                .iter()
                .any(|g| glob_match(g, namespace));
        included
            && !self
                .exclude_namespaces
                .iter()
                .any(|g| glob_match(g, namespace))
    }
}

fn glob_list(text: &str) -> Vec<String> {
    text.split([',', '\n', ' '])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// `*` = any run of characters, `?` = one character, everything else literal.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    // Iterative matcher with single backtrack point for the last `*`.
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// Go-style durations (`90s`, `5m`, `1m30s`, `1h`) or a bare number of seconds.
fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    if let Ok(secs) = text.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let mut total = 0f64;
    let mut rest = text;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number: f64 = rest[..num_len].parse().ok()?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let factor = match &rest[..unit_len] {
            "ms" => 0.001,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total += number * factor;
    }
    Some(Duration::from_secs_f64(total))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn no_configmap_means_defaults() {
        let (s, w) = Settings::from_config_data(None);
        assert_eq!(s, Settings::default());
        assert!(w.is_empty());
        assert_eq!(s.mode, Mode::Enforce);
        assert_eq!(s.failure_policy, FailurePolicy::Open);
        assert_eq!(s.scope, Scope::FsbOnly);
    }

    #[test]
    fn every_key_is_read() {
        let data = json!({
            "mode": "dry-run", "failurePolicy": "closed", "scope": "all-workloads",
            "includeNamespaces": "team-*, prod", "excludeNamespaces": "team-x",
            "downloadTimeout": "1m30s"
        });
        let (s, w) = Settings::from_config_data(Some(&data));
        assert!(w.is_empty(), "{w:?}");
        assert_eq!(s.mode, Mode::DryRun);
        assert_eq!(s.failure_policy, FailurePolicy::Closed);
        assert_eq!(s.scope, Scope::AllWorkloads);
        assert_eq!(s.include_namespaces, ["team-*", "prod"]);
        assert_eq!(s.download_timeout, Duration::from_secs(90));
        assert!(s.namespace_in_scope("team-a"));
        assert!(s.namespace_in_scope("prod"));
        assert!(!s.namespace_in_scope("team-x"));
        assert!(!s.namespace_in_scope("staging"));
    }

    #[test]
    fn invalid_values_warn_and_keep_defaults() {
        let data = json!({"mode": "yes", "failurePolicy": "sometimes", "downloadTimeout": "soon", "colour": "red"});
        let (s, w) = Settings::from_config_data(Some(&data));
        assert_eq!(s, Settings::default());
        assert_eq!(w.len(), 4, "{w:?}");
    }

    #[test]
    fn restore_annotation_overrides_mode() {
        let restore = json!({"metadata": {"annotations": {"fsb-guard.io/mode": "off"}}});
        let (s, w) = Settings::default().with_restore_override(&restore);
        assert_eq!(s.mode, Mode::Off);
        assert!(w.is_none());
        let restore = json!({"metadata": {"annotations": {"fsb-guard.io/mode": "maybe"}}});
        let (s, w) = Settings::default().with_restore_override(&restore);
        assert_eq!(s.mode, Mode::Enforce);
        assert!(w.is_some());
    }

    #[test]
    fn globs() {
        assert!(glob_match("*", "anything"));
        assert!(glob_match("team-*", "team-"));
        assert!(glob_match("a?c", "abc"));
        assert!(!glob_match("a?c", "ac"));
        assert!(glob_match("*-prod-*", "x-prod-y"));
        assert!(!glob_match("prod", "production"));
    }
}
