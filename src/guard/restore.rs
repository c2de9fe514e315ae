//! One restore's inputs as the guard holds them: settings, rules, the FSB index and the backed-up
//! objects, each read once and shared by every item of the restore, and the plans the core
//! computes once per workload. A plugin process serves one restore; the state is keyed by the
//! restore's UID anyway.
//!
//! What is read, and when (so restores that cannot need the guard cost nothing):
//!
//! - without resource modifiers (no `spec.resourceModifier`, and no server-wide default
//!   ConfigMap or `spec.skipDefaultResourceModifier: true`): nothing at all;
//! - the plugin-config ConfigMap, then the rules — only rules that can change a field in
//!   [`GUARDED_FIELDS`] are kept;
//! - the PodVolumeBackups, then (only if FSB data can exist) the backup contents, one download.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use fsb_guard_core::fsb::has_legacy_snapshot_annotations;
use fsb_guard_core::plans::Plans;
use fsb_guard_core::{
    BackupObjects, FsbIndex, FsbWorkloads, Mode, Resource, RestoreInputs, Rules, Scope, Selection,
    Settings, VeleroEngine, Workload, namespace_of,
};
use serde_json::Value;
use tokio::sync::OnceCell;
use velero_plugin::ExecuteInput;

use super::error::{Error, Result};
use super::existing::LiveWorkloads;
use super::ports::RestoreSource;
use super::velero_server::{ServerRelease, VeleroServer};
use crate::backup::download::millis;

/// The workload fields whose change by a rule puts restored FSB pods at risk: `(resource, JSON
/// pointer)`. A restore whose rules touch none of them needs no API call at all.
pub const GUARDED_FIELDS: [(Resource, &str); 6] = [
    (Resource::DEPLOYMENTS, "/spec/template"),
    (Resource::DEPLOYMENTS, "/spec/replicas"),
    (Resource::STATEFUL_SETS, "/spec/template"),
    (Resource::STATEFUL_SETS, "/spec/replicas"),
    (Resource::DAEMON_SETS, "/spec/template"),
    // Restored pods count as current by this generation; a rule that changes or removes it alone
    // makes them outdated.
    (
        Resource::DAEMON_SETS,
        "/metadata/annotations/deprecated.daemonset.template.generation",
    ),
];

type Shared<T> = OnceCell<Result<Arc<T>, Arc<Error>>>;

/// Per-restore inputs, read once.
pub struct RestoreState {
    uid: String,
    pub settings: Settings,
    /// The settings the existing-workload guard follows: set with `settings` in restores with
    /// resource modifiers, else read when the first restored FSB pod needs them
    /// ([`Self::settings_for_existing`]).
    existing_settings: OnceCell<Settings>,
    /// The live workloads of restored FSB pods, read once each.
    pub live_workloads: LiveWorkloads,
    /// `None`: the restore has no rules that can change a guarded field.
    rules: Option<Arc<Rules>>,
    /// Set when reading settings or rules failed (every item reports it).
    failure: Option<Arc<Error>>,
    fsb: Shared<FsbIndex>,
    backup: Shared<BackupObjects>,
    fsb_workloads: OnceCell<Arc<FsbWorkloads>>,
    pub plans: Plans,
    /// A restored pod carried legacy `snapshot.velero.io/<volume>` annotations: FSB data exists
    /// even though the cluster holds no PodVolumeBackup for the backup.
    legacy_fsb_seen: AtomicBool,
    /// How long reading the settings and the rules took (the first item's cost, logged once the
    /// backup contents are read too).
    settings_read_in: Duration,
    rules_read_in: Duration,
    pvbs_read_in: std::sync::Mutex<Duration>,
}

/// Everything an item's decision reads, held for the length of one Execute.
pub struct Loaded {
    rules: Arc<Rules>,
    fsb: Arc<FsbIndex>,
    backup: Arc<BackupObjects>,
    fsb_workloads: Arc<FsbWorkloads>,
}

impl RestoreState {
    fn new(uid: String, settings: Settings) -> Self {
        Self {
            uid,
            settings,
            existing_settings: OnceCell::new(),
            live_workloads: LiveWorkloads::default(),
            rules: None,
            failure: None,
            fsb: OnceCell::new(),
            backup: OnceCell::new(),
            fsb_workloads: OnceCell::new(),
            plans: Plans::default(),
            legacy_fsb_seen: AtomicBool::new(false),
            settings_read_in: Duration::ZERO,
            rules_read_in: Duration::ZERO,
            pvbs_read_in: std::sync::Mutex::new(Duration::ZERO),
        }
    }

    /// The UID of the restore the state belongs to.
    pub fn uid(&self) -> &str {
        &self.uid
    }

    /// Reads the settings and the rules of `restore` (its UID `uid`).
    pub async fn read(
        source: &impl RestoreSource,
        uid: String,
        restore: &Value,
        velero_namespace: &str,
        server: &VeleroServer,
    ) -> Self {
        let Some(modifiers) = ModifierSource::of(restore, server) else {
            // No resource modifiers: no template can change, so no API call at all.
            return Self::new(uid, Settings::default());
        };
        let started = Instant::now();
        let (settings, mut failure) = read_settings(source, restore, velero_namespace).await;
        let settings_read_in = started.elapsed();
        let mut rules = None;
        if settings.mode != Mode::Off && failure.is_none() {
            match read_rules(source, namespace_of(restore), modifiers, server.release).await {
                Ok(r) => rules = r.map(Arc::new),
                Err(e) => failure = Some(e),
            }
        }
        let existing_settings = OnceCell::new_with(Some(for_existing(&settings, failure.as_ref())));
        Self {
            rules,
            failure: failure.map(Arc::new),
            existing_settings,
            settings_read_in,
            rules_read_in: started.elapsed() - settings_read_in,
            ..Self::new(uid, settings)
        }
    }

    /// The settings the existing-workload guard follows: those read for the rules, else read now
    /// (once per restore). Unreadable settings switch it off, with a warning: the user may have
    /// switched the guard off.
    pub async fn settings_for_existing(
        &self,
        source: &impl RestoreSource,
        restore: &Value,
        velero_namespace: &str,
    ) -> &Settings {
        self.existing_settings
            .get_or_init(|| async {
                let (settings, failure) = read_settings(source, restore, velero_namespace).await;
                if let Some(e) = &failure {
                    tracing::warn!("existing workloads not guarded in this restore: {e}");
                }
                for_existing(&settings, failure.as_ref())
            })
            .await
    }

    /// Whether the resource-modifier guard leaves every item of this restore as received, without
    /// reading it: mode off, or no rule can change a guarded field (and the settings and rules
    /// read fine; a failure is reported on every item).
    pub fn modifiers_need_no_item(&self) -> bool {
        self.settings.mode == Mode::Off || (self.failure.is_none() && self.rules.is_none())
    }

    /// Whether an item of `kind`, from its backed-up copy's identity, belongs to no
    /// workload with a pod holding FSB data, under scope `fsb-only`: its decision is "restored as
    /// received" (the workload is out of scope, or the item belongs to no workload). Known once
    /// the restore's backup contents were read (by an earlier item); `false` before, and whenever
    /// the bytes do not read.
    /// `identity`: what [`fsb_guard_core::existing::identity_of`] read of the backed-up copy,
    /// asked only when needed.
    pub fn has_no_fsb_workload<'a>(
        &self,
        kind: &str,
        identity: impl FnOnce() -> Option<&'a Value>,
    ) -> bool {
        if self.settings.scope != Scope::FsbOnly || self.failure.is_some() {
            return false;
        }
        let Some(fsb_workloads) = self.fsb_workloads.get() else {
            return false;
        };
        identity().is_some_and(|identity| {
            Workload::of_backed_up(kind, identity).is_none_or(|w| !fsb_workloads.contains(&w))
        })
    }

    /// What the decisions for `input` read; `None` when the guard has nothing to do in this
    /// restore (mode off, no guarded rules, no FSB data at all under scope `fsb-only`).
    pub async fn load(
        &self,
        source: &impl RestoreSource,
        input: &ExecuteInput,
        velero_namespace: &str,
    ) -> Result<Option<Loaded>> {
        if self.modifiers_need_no_item() {
            return Ok(None);
        }
        let rules = match (&self.failure, &self.rules) {
            (Some(failure), _) => return Err(Error::RestoreInputs(Arc::clone(failure))),
            (None, Some(rules)) => rules,
            (None, None) => return Ok(None),
        };
        let backup_name = input
            .restore
            .pointer("/spec/backupName")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let fsb = self
            .fsb
            .get_or_init(|| async {
                let started = Instant::now();
                let pvbs = source
                    .pod_volume_backups(velero_namespace, backup_name)
                    .await;
                *self.pvbs_read_in.lock().unwrap_or_else(|e| e.into_inner()) = started.elapsed();
                pvbs.map(|pvbs| Arc::new(FsbIndex::from_pod_volume_backups(&pvbs)))
                    .map_err(Arc::new)
            })
            .await
            .clone()
            .map_err(Error::PodVolumeBackups)?;
        if fsb.is_empty()
            && self.settings.scope == Scope::FsbOnly
            && !self.legacy_fsb_possible(input)
        {
            return Ok(None);
        }
        let backup = self
            .backup_objects(source, velero_namespace, backup_name, &fsb)
            .await?;
        let fsb_workloads = self
            .fsb_workloads
            .get_or_init(|| async { Arc::new(backup.fsb_workloads(&fsb)) })
            .await
            .clone();
        Ok(Some(Loaded {
            rules: Arc::clone(rules),
            fsb,
            backup,
            fsb_workloads,
        }))
    }

    /// The backed-up objects, downloaded once, bounded by the setting `downloadTimeout`; under
    /// scope `fsb-only` only those of workloads with FSB pods (the others are out of scope).
    async fn backup_objects(
        &self,
        source: &impl RestoreSource,
        velero_namespace: &str,
        backup_name: &str,
        fsb: &FsbIndex,
    ) -> Result<Arc<BackupObjects>> {
        let timeout = self.settings.download_timeout;
        let selection = match self.settings.scope {
            Scope::FsbOnly => Selection::FsbWorkloads(fsb),
            Scope::AllWorkloads => Selection::Everything(fsb),
        };
        self.backup
            .get_or_init(|| async {
                let started = Instant::now();
                let download =
                    source.backup_objects(velero_namespace, backup_name, timeout, selection);
                match tokio::time::timeout(timeout, download).await {
                    Ok(Ok(mut objects)) => {
                        // Once per restore: each workload's plan then reads its own objects.
                        objects.arrange_by_owner();
                        let pvbs_read_in =
                            *self.pvbs_read_in.lock().unwrap_or_else(|e| e.into_inner());
                        tracing::debug!(
                            settings_ms = millis(self.settings_read_in),
                            rules_ms = millis(self.rules_read_in),
                            pvbs_ms = millis(pvbs_read_in),
                            backup_ms = millis(started.elapsed()),
                            "restore inputs read"
                        );
                        Ok(Arc::new(objects))
                    }
                    Ok(Err(e)) => Err(Arc::new(e)),
                    Err(_) => Err(Arc::new(Error::DownloadTimedOut {
                        backup: backup_name.to_owned(),
                        after: timeout,
                    })),
                }
            })
            .await
            .clone()
            .map_err(Error::BackupContents)
    }

    /// Whether FSB data can exist for this item when the cluster holds no PodVolumeBackup: only
    /// legacy pod annotations can name FSB volumes then. Pods come first in a restore, so a pod
    /// item decides from its own backed-up annotations (and records what it saw); ReplicaSets and
    /// Deployments follow the pods. Keeps restores without any FSB data free of downloads.
    fn legacy_fsb_possible(&self, input: &ExecuteInput) -> bool {
        if input.item.get("kind").and_then(Value::as_str) == Some("Pod")
            && has_legacy_snapshot_annotations(&input.item_from_backup)
        {
            self.legacy_fsb_seen.store(true, Ordering::Relaxed);
        }
        self.legacy_fsb_seen.load(Ordering::Relaxed)
    }
}

impl Loaded {
    /// The inputs every core decision takes.
    pub fn inputs<'a>(&'a self, settings: &'a Settings, plans: &'a Plans) -> RestoreInputs<'a> {
        RestoreInputs {
            engine: &VeleroEngine,
            rules: &self.rules,
            settings,
            backup: &self.backup,
            fsb: &self.fsb,
            fsb_workloads: &self.fsb_workloads,
            plans,
        }
    }
}

/// The existing-workload guard's settings: off when the plugin settings could not be read (the
/// user may have switched the guard off).
fn for_existing(settings: &Settings, failure: Option<&Error>) -> Settings {
    match failure {
        Some(Error::PluginConfig(_)) => Settings {
            mode: Mode::Off,
            ..settings.clone()
        },
        _ => settings.clone(),
    }
}

/// The plugin-config ConfigMap's settings with the restore's override; the error when it could
/// not be read (the settings are then the defaults).
async fn read_settings(
    source: &impl RestoreSource,
    restore: &Value,
    velero_namespace: &str,
) -> (Settings, Option<Error>) {
    let mut failure = None;
    let data = match source.plugin_settings(velero_namespace).await {
        Ok(data) => data,
        Err(e) => {
            // Unknown settings (unreadable, or several ConfigMaps match): the user may have
            // switched the guard off, so doing nothing is the only safe reading.
            failure = Some(Error::PluginConfig(Box::new(e)));
            None
        }
    };
    let (settings, warnings) = Settings::from_config_data(data.as_ref());
    for w in warnings {
        tracing::warn!("{w}");
    }
    let (settings, warning) = settings.with_restore_override(restore);
    if let Some(w) = warning {
        tracing::warn!("{w}");
    }
    (settings, failure)
}

/// The resource-modifier ConfigMap Velero applies to a restore, as its restore controller picks
/// it (`restore_controller.go validateAndComplete`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ModifierSource<'a> {
    /// `spec.resourceModifier` names it: Velero fails the restore if it cannot load it.
    PerRestore(&'a str),
    /// The server's `--default-resource-modifier-configmap` (Velero main): used when the
    /// restore names none and does not set `spec.skipDefaultResourceModifier`; Velero skips it
    /// with a warning when it is missing or invalid.
    ServerDefault(&'a str),
}

impl<'a> ModifierSource<'a> {
    fn of(restore: &'a Value, server: &'a VeleroServer) -> Option<Self> {
        match restore.pointer("/spec/resourceModifier") {
            // A reference of another kind: Velero warns and applies none (no default either).
            Some(reference) if !reference.is_null() => {
                modifier_configmap(reference).map(ModifierSource::PerRestore)
            }
            _ => {
                let skip = restore.pointer("/spec/skipDefaultResourceModifier")
                    == Some(&Value::Bool(true));
                let name = server.default_modifier_configmap.as_deref()?;
                (!skip).then_some(ModifierSource::ServerDefault(name))
            }
        }
    }
}

/// The restore's rules, `None` when none can change a field in [`GUARDED_FIELDS`], or when the
/// server is older than 1.15 and the rules use what older releases evaluate differently (a
/// prediction could be wrong, so the guard stays out and says so).
async fn read_rules(
    source: &impl RestoreSource,
    restore_namespace: &str,
    modifiers: ModifierSource<'_>,
    release: ServerRelease,
) -> Result<Option<Rules>> {
    let rules = match modifiers {
        ModifierSource::PerRestore(name) => {
            let configmap = source.modifier_configmap(restore_namespace, name).await?;
            VeleroEngine::rules_from_configmap(&configmap)?
        }
        ModifierSource::ServerDefault(name) => {
            let loaded = match source.modifier_configmap(restore_namespace, name).await {
                Ok(configmap) => {
                    VeleroEngine::rules_from_configmap(&configmap).map_err(Error::from)
                }
                Err(e) => Err(e),
            };
            match loaded {
                Ok(rules) => {
                    tracing::info!(
                        "default resource modifiers from ConfigMap {restore_namespace}/{name} (--default-resource-modifier-configmap)"
                    );
                    rules
                }
                // What Velero does with a default it cannot load: skips it, applies none.
                Err(e @ (Error::NoModifierConfigMap { .. } | Error::Core(_))) => {
                    tracing::warn!(
                        "default resource modifiers not applied (Velero skips a default ConfigMap it cannot load): {e}"
                    );
                    return Ok(None);
                }
                Err(e) => return Err(e),
            }
        }
    };
    let guarded = GUARDED_FIELDS.iter().any(|(resource, path)| {
        !rules
            .rules_touching(resource.group_resource(), path)
            .is_empty()
    });
    if !guarded {
        return Ok(None);
    }
    if release == ServerRelease::Before1_15 {
        let differences = rules.release_differences();
        if !differences.is_empty() {
            tracing::warn!(
                "Velero before 1.15 (the plugin received only --log-level/--features): the guard predicts resource modifiers as Velero 1.15-1.18 applies them, and these rules use what older releases apply differently: {}; the guard leaves this restore alone (restored FSB pods are not protected)",
                differences.join("; ")
            );
            return Ok(None);
        }
    }
    Ok(Some(rules))
}

/// The ConfigMap name of a `spec.resourceModifier` reference (kind ConfigMap case-insensitively,
/// as Velero reads it).
fn modifier_configmap(reference: &Value) -> Option<&str> {
    let kind = reference.get("kind").and_then(Value::as_str)?;
    let name = reference.get("name").and_then(Value::as_str)?;
    (kind.eq_ignore_ascii_case("configmap") && !name.is_empty()).then_some(name)
}
