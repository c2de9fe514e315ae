//! Plugin settings: the optional plugin-config ConfigMap (Velero's convention: labels
//! `velero.io/plugin-config` and `fsb-guard.io/template-guard: RestoreItemAction`, in the Velero
//! namespace) and the per-restore `fsb-guard.io/mode` annotation.
//!
//! Invalid values never fail a restore: each one yields a warning and the default for that key.

use std::time::Duration;

use fsb_modifiers::Glob;
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
    /// Namespace globs (gobwas syntax as in Velero: `*`, `?`, `[...]`, `{a,b}`) on the backup's
    /// (original) namespace; empty = all.
    pub include_namespaces: NamespaceGlobs,
    /// Namespace globs excluded after inclusion.
    pub exclude_namespaces: NamespaceGlobs,
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
            include_namespaces: NamespaceGlobs::default(),
            exclude_namespaces: NamespaceGlobs::default(),
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
                "includeNamespaces" | "excludeNamespaces" => match NamespaceGlobs::parse(text) {
                    Ok((globs, inexact)) => {
                        for pattern in inexact {
                            warnings.push(format!(
                                "setting {key:?}: pattern {pattern:?} uses {{…}} in a shape Velero's glob library may match differently"
                            ));
                        }
                        if key == "includeNamespaces" {
                            settings.include_namespaces = globs;
                        } else {
                            settings.exclude_namespaces = globs;
                        }
                    }
                    Err(e) => invalid(&format!("namespace globs ({e})")),
                },
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
        (self.include_namespaces.is_empty() || self.include_namespaces.matches(namespace))
            && !self.exclude_namespaces.matches(namespace)
    }
}

/// Namespace patterns compiled once (gobwas globs without separators, as Velero matches
/// namespaces), compared by their text.
#[derive(Debug, Clone, Default)]
pub struct NamespaceGlobs {
    patterns: Vec<String>,
    globs: Vec<Glob>,
}

impl PartialEq for NamespaceGlobs {
    fn eq(&self, other: &Self) -> bool {
        self.patterns == other.patterns
    }
}

impl Eq for NamespaceGlobs {}

impl NamespaceGlobs {
    /// Patterns separated by commas, spaces or newlines. Returns the globs and the patterns whose
    /// `{…}` shape gobwas may compile differently; an invalid pattern is an error.
    pub fn parse(text: &str) -> Result<(Self, Vec<String>), String> {
        let mut out = Self::default();
        let mut inexact = Vec::new();
        for pattern in split_patterns(text) {
            let glob = Glob::compile(pattern, &[]).map_err(|e| format!("{pattern:?}: {e}"))?;
            if !glob.is_exact() {
                inexact.push(pattern.to_owned());
            }
            out.patterns.push(pattern.to_owned());
            out.globs.push(glob);
        }
        Ok((out, inexact))
    }

    /// The patterns as written.
    pub fn patterns(&self) -> &[String] {
        &self.patterns
    }

    pub fn is_empty(&self) -> bool {
        self.globs.is_empty()
    }

    /// Whether any pattern matches `namespace`.
    pub fn matches(&self, namespace: &str) -> bool {
        self.globs.iter().any(|g| g.is_match(namespace))
    }
}

/// Splits a pattern list on commas, spaces and newlines outside `{…}` and `[…]` (a comma inside
/// `{a,b}` separates alternatives) and not escaped by `\`.
fn split_patterns(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut braces, mut in_class, mut escaped, mut start) = (0usize, false, false, 0);
    for (i, c) in text.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' => escaped = true,
            '[' if !in_class => in_class = true,
            ']' if in_class => in_class = false,
            '{' if !in_class => braces += 1,
            '}' if !in_class && braces > 0 => braces -= 1,
            ',' | ' ' | '\n' | '\t' if braces == 0 && !in_class => {
                out.push(&text[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    out.push(&text[start..]);
    out.into_iter()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect()
}

/// Whether the gobwas glob `pattern` (no separators) matches `text`; an invalid pattern matches
/// nothing.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    Glob::compile(pattern, &[]).is_ok_and(|g| g.is_match(text))
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
        assert_eq!(s.include_namespaces.patterns(), ["team-*", "prod"]);
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

    #[test]
    fn namespace_globs_follow_gobwas_like_velero() {
        // gobwas syntax (Velero's namespace matching): classes, negated classes, alternatives.
        let data = json!({"includeNamespaces": "team-{a,b}, ns[0-9], app-[!x]?",
            "excludeNamespaces": "team-b"});
        let (s, w) = Settings::from_config_data(Some(&data));
        assert!(w.is_empty(), "{w:?}");
        assert!(s.namespace_in_scope("team-a"));
        assert!(!s.namespace_in_scope("team-b"), "excluded");
        assert!(!s.namespace_in_scope("team-c"));
        assert!(!s.namespace_in_scope("team-{a,b}"));
        assert!(s.namespace_in_scope("ns7"));
        assert!(!s.namespace_in_scope("nsx"));
        assert!(s.namespace_in_scope("app-yz"));
        assert!(!s.namespace_in_scope("app-xz"));
        // An invalid pattern: warning, default (all namespaces) kept.
        let (s, w) = Settings::from_config_data(Some(&json!({"includeNamespaces": "ns[a-"})));
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(s.include_namespaces.is_empty());
    }
}
