//! The guard's tests' one stand-in for everything outside it: an in-memory API server holding
//! the restore's inputs (settings, rules, PodVolumeBackups, the backup contents) and the live
//! objects the restore creates, recording every call as `<verb> <kind> <namespace>/<name>`.
//! Clones share the state: a test keeps one, the guard gets another.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fsb_guard_core::fixtures::{App, try_apply_json_patch, velero_prepares_pod};
use fsb_guard_core::toolkit::object::LabelChanges;
use fsb_guard_core::toolkit::revision::revision_data;
use fsb_guard_core::{
    BackupObjects, ObjectRef, Resource, Selection, VeleroEngine, as_velero_hands_it,
};
use serde_json::{Value, json};
use velero_fsb_guard::backup::download::DownloadError;
use velero_fsb_guard::cluster::{self, Call};
use velero_fsb_guard::guard::{
    DryRun, Error, LiveCluster, RestoreSource, Result, TemplateGuard, VeleroServer,
};
use velero_plugin::restore_item_action::{Executed, execute_request};
use velero_plugin::{ActionError, ExecuteInput, ExecuteOutput, RawExecuteInput, RestoreItemAction};

/// Where the restore maps the backup namespace `shop` (see `fixtures::a_restore`).
pub const TARGET: &str = "shop-dr";

/// What the stand-in serves and how it misbehaves; set before the guard gets its handle.
pub struct Knobs {
    /// The restore's resource-modifier rules (the ConfigMap's `rules.yaml`).
    pub rules: String,
    /// `data` of the plugin-config ConfigMap, if there is one.
    pub plugin_config: Option<Value>,
    /// Several plugin-config ConfigMaps match.
    pub settings_error: bool,
    /// Every call fails like a refused connection.
    pub unreachable: bool,
    /// Dry-run creates are refused (a webhook without dry-run support).
    pub refuse_dry_run: bool,
    /// `GET /version` minor: ≤ 33 defaults templates with `creationTimestamp: null`.
    pub minor: u32,
    /// The resource-modifier ConfigMap does not exist.
    pub no_modifier_configmap: bool,
    /// Dry-run creates are refused as invalid (HTTP 422), the API server's message quoting this
    /// value, as a validation message does.
    pub dry_run_invalid_value: Option<&'static str>,
    /// Dry-run creates are denied by an admission webhook (HTTP 400), its reason quoting this value,
    /// as a policy webhook's often does.
    pub dry_run_denied_by_webhook: Option<&'static str>,
    /// How the backup download fails, if it does (the object store's answer for `backup`).
    pub download_fails: Option<fn(backup: &str) -> DownloadError>,
}

type Key = (String, String, String);

struct State {
    knobs: Knobs,
    backup: BackupObjects,
    pvbs: Vec<Value>,
    live: Mutex<BTreeMap<Key, Value>>,
    calls: Mutex<Vec<String>>,
    /// Bodies of raw creates, as sent.
    created: Mutex<Vec<Vec<u8>>>,
    /// How many of the next JSON patches another writer beats: it changes the object (new
    /// resourceVersion, one more template label) right before the guard's patch arrives.
    concurrent_writes: Mutex<usize>,
}

/// The in-memory API server.
#[derive(Clone)]
pub struct FakeCluster(Arc<State>);

impl FakeCluster {
    /// Serves `backup` (its FSB data recorded by `pvbs`) to a restore whose rules are `rules`;
    /// `knobs` adjusts the rest.
    pub fn serving(
        backup: BackupObjects,
        pvbs: Vec<Value>,
        rules: &str,
        knobs: impl FnOnce(&mut Knobs),
    ) -> Self {
        let mut all = Knobs {
            rules: rules.to_owned(),
            plugin_config: None,
            settings_error: false,
            unreachable: false,
            refuse_dry_run: false,
            minor: 34,
            no_modifier_configmap: false,
            download_fails: None,
            dry_run_invalid_value: None,
            dry_run_denied_by_webhook: None,
        };
        knobs(&mut all);
        Self(Arc::new(State {
            knobs: all,
            backup,
            pvbs,
            live: Mutex::default(),
            calls: Mutex::default(),
            created: Mutex::default(),
            concurrent_writes: Mutex::new(0),
        }))
    }

    /// The guard over this stand-in, the Velero namespace taken from the restore.
    pub fn guard(&self) -> TemplateGuard<FakeCluster, FakeCluster> {
        TemplateGuard::new(self.clone(), self.clone(), None)
    }

    /// The guard over this stand-in, started by a Velero server with these plugin arguments.
    pub fn guard_started_with(
        &self,
        server_args: &[&str],
    ) -> TemplateGuard<FakeCluster, FakeCluster> {
        self.guard()
            .with_server(VeleroServer::from_args(server_args))
    }

    pub fn knobs(&self) -> &Knobs {
        &self.0.knobs
    }

    pub fn calls(&self) -> Vec<String> {
        self.0.calls.lock().unwrap().clone()
    }

    /// A live object.
    pub fn live(&self, resource: Resource, namespace: &str, name: &str) -> Option<Value> {
        self.0
            .live
            .lock()
            .unwrap()
            .get(&key(resource, namespace, name))
            .cloned()
    }

    /// Every live object of `resource` in `namespace`, by name.
    pub fn all_live(&self, resource: Resource, namespace: &str) -> BTreeMap<String, Value> {
        self.0
            .live
            .lock()
            .unwrap()
            .iter()
            .filter(|((r, ns, _), _)| r == resource.plural && ns == namespace)
            .map(|((_, _, name), v)| (name.clone(), v.clone()))
            .collect()
    }

    /// Makes `object` live, as Velero (or another writer) creates it.
    pub fn put(&self, resource: Resource, namespace: &str, name: &str, object: Value) {
        self.0
            .live
            .lock()
            .unwrap()
            .insert(key(resource, namespace, name), object);
    }

    /// Bodies of raw creates, as sent.
    pub fn created_bodies(&self) -> Vec<Vec<u8>> {
        self.0.created.lock().unwrap().clone()
    }

    /// Another writer beats the next `n` JSON patches.
    pub fn beat_next_patches(&self, n: usize) {
        *self.0.concurrent_writes.lock().unwrap() = n;
    }

    /// The API server's defaulting of a pod template (a few of its fields), in the form its JSON
    /// encoder writes it.
    pub fn defaulted(&self, template: &Value) -> Value {
        let mut t = template.clone();
        if self.0.knobs.minor <= 33 {
            t["metadata"]["creationTimestamp"] = Value::Null;
        } else if let Some(meta) = t["metadata"].as_object_mut() {
            meta.remove("creationTimestamp");
        }
        let spec = t["spec"].as_object_mut().unwrap();
        spec.entry("dnsPolicy").or_insert(json!("ClusterFirst"));
        spec.entry("restartPolicy").or_insert(json!("Always"));
        spec.entry("securityContext").or_insert(json!({}));
        for c in spec["containers"].as_array_mut().unwrap() {
            c.as_object_mut()
                .unwrap()
                .entry("resources")
                .or_insert(json!({}));
        }
        t
    }

    /// What the StatefulSet controller proposes for the StatefulSet created from `created`
    /// (after the rules): `getPatch` of the defaulted StatefulSet.
    pub fn controller_proposal(&self, created: &Value) -> Value {
        revision_data(&self.defaulted(&created["spec"]["template"]))
    }

    /// What Velero creates from an item the plugin returned: the restore's rules for
    /// `group_resource`, then the namespace mapping.
    pub fn velero_creates(&self, item: &Value, group_resource: &str) -> Value {
        let rules = VeleroEngine::rules_from_yaml(&self.0.knobs.rules).unwrap();
        let mut created = VeleroEngine
            .apply_rules(&rules, item, group_resource)
            .object;
        created["metadata"]["namespace"] = json!(TARGET);
        created
    }

    /// Records `call`; fails like a refused connection when the API is unreachable.
    fn record(&self, call: String) -> Result<()> {
        self.0.calls.lock().unwrap().push(call.clone());
        if !self.0.knobs.unreachable {
            return Ok(());
        }
        Err(Error::Cluster(cluster::Error::Unreachable {
            call: Box::new(Call {
                verb: "call",
                resource: call,
                namespace: String::new(),
                name: None,
            }),
            message: "connection refused".to_owned(),
        }))
    }
}

fn key(resource: Resource, namespace: &str, name: &str) -> Key {
    (
        resource.plural.to_owned(),
        namespace.to_owned(),
        name.to_owned(),
    )
}

/// `replicaset` for `replicasets`: how the call log names a kind.
fn singular(resource: Resource) -> &'static str {
    resource.plural.strip_suffix('s').unwrap_or(resource.plural)
}

/// The API server's answer `code` to `verb` on `object`, as the cluster adapter types it.
fn api_error(
    verb: &'static str,
    object: ObjectRef<'_>,
    code: u16,
    message: &str,
) -> cluster::Error {
    let call = Box::new(Call {
        verb,
        resource: object.resource.group_resource().to_owned(),
        namespace: object.namespace.to_owned(),
        name: Some(object.name.to_owned()),
    });
    let (reason, message) = ("Stand-in".to_owned(), message.to_owned());
    match code {
        409 | 422 => cluster::Error::Conflict {
            call,
            code,
            reason,
            message,
        },
        _ => cluster::Error::Api {
            call,
            code,
            reason,
            message,
            fields: Vec::new(),
        },
    }
}

/// [`api_error`] as the port reports it: the object moved on, or the call failed.
fn api(verb: &'static str, object: ObjectRef<'_>, code: u16, message: &str) -> Error {
    match api_error(verb, object, code, message) {
        conflict @ cluster::Error::Conflict { .. } => Error::Conflict(conflict),
        other => Error::Cluster(other),
    }
}

fn key_of(object: ObjectRef<'_>) -> Key {
    key(object.resource, object.namespace, object.name)
}

/// `get replicaset shop-dr/web-abc`: how the call log names a call about one object.
fn said(verb: &str, object: ObjectRef<'_>) -> String {
    let kind = singular(object.resource);
    format!("{verb} {kind} {}/{}", object.namespace, object.name)
}

impl RestoreSource for FakeCluster {
    async fn plugin_settings(&self, ns: &str) -> Result<Option<Value>> {
        self.record(format!("list configmaps {ns}"))?;
        if self.0.knobs.settings_error {
            return Err(Error::Cluster(cluster::Error::AmbiguousPluginConfig {
                namespace: ns.to_owned(),
                selector: "velero.io/plugin-config".to_owned(),
                names: vec!["a".to_owned(), "b".to_owned()],
            }));
        }
        Ok(self.0.knobs.plugin_config.clone())
    }

    async fn modifier_configmap(&self, ns: &str, name: &str) -> Result<Value> {
        self.record(format!("get configmap {ns}/{name}"))?;
        if self.0.knobs.no_modifier_configmap {
            return Err(Error::NoModifierConfigMap {
                namespace: ns.to_owned(),
                name: name.to_owned(),
            });
        }
        Ok(json!({"data": {"rules.yaml": self.0.knobs.rules}}))
    }

    async fn pod_volume_backups(&self, ns: &str, backup: &str) -> Result<Vec<Value>> {
        self.record(format!("list podvolumebackups {ns} {backup}"))?;
        Ok(self.0.pvbs.clone())
    }

    async fn backup_objects(
        &self,
        _: &str,
        backup: &str,
        _: Duration,
        selection: Selection<'_>,
    ) -> Result<BackupObjects> {
        self.record(format!("download {backup}"))?;
        if let Some(fails) = self.0.knobs.download_fails {
            return Err(Error::Download(fails(backup)));
        }
        // What the kube adapter keeps of a download: the same sieve, over the objects as text.
        Ok(fsb_guard_core::fixtures::sifted(&self.0.backup, selection))
    }
}

impl LiveCluster for FakeCluster {
    async fn get(&self, object: ObjectRef<'_>) -> Result<Option<Value>> {
        self.record(said("get", object))?;
        Ok(self.live(object.resource, object.namespace, object.name))
    }

    async fn list(&self, resource: Resource, ns: &str, selector: &str) -> Result<Vec<Value>> {
        self.record(format!("list {} {ns} {selector}", resource.plural))?;
        let wanted: Vec<(&str, &str)> = selector
            .split(',')
            .filter_map(|s| s.split_once('='))
            .collect();
        Ok(self
            .all_live(resource, ns)
            .into_values()
            .filter(|o| {
                wanted
                    .iter()
                    .all(|(k, v)| o["metadata"]["labels"][*k].as_str() == Some(*v))
            })
            .collect())
    }

    async fn dry_run_create(&self, resource: Resource, ns: &str, body: &Value) -> Result<DryRun> {
        self.record(format!("dry-run create {} {ns}", singular(resource)))?;
        let name = body["metadata"]["name"].as_str().unwrap_or_default();
        let object = resource.named(ns, name);
        if self.live(resource, ns, name).is_some() {
            return Ok(DryRun::AlreadyExists(api_error(
                "create",
                object,
                409,
                "already exists",
            )));
        }
        if let Some(value) = self.0.knobs.dry_run_invalid_value {
            let field = "spec.template.spec.containers[0].env[0].value";
            return Ok(DryRun::Refused(cluster::Error::Api {
                call: Box::new(Call {
                    verb: "create",
                    resource: resource.group_resource().to_owned(),
                    namespace: ns.to_owned(),
                    name: Some(name.to_owned()),
                }),
                code: 422,
                reason: "Invalid".to_owned(),
                message: format!(
                    "{} {name:?} is invalid: {field}: Invalid value: {value:?}: not allowed here",
                    resource.group_resource()
                ),
                fields: vec![field.to_owned()],
            }));
        }
        if let Some(value) = self.0.knobs.dry_run_denied_by_webhook {
            let denial = format!(
                "admission webhook \"policy.example.com\" denied the request: value {value:?} is not allowed"
            );
            return Ok(DryRun::Refused(api_error("create", object, 400, &denial)));
        }
        if self.0.knobs.refuse_dry_run {
            let refusal = "admission webhook does not support dry run";
            return Ok(DryRun::Refused(api_error("create", object, 400, refusal)));
        }
        let mut created = body.clone();
        created["spec"]["template"] = self.defaulted(&body["spec"]["template"]);
        Ok(DryRun::Created(created))
    }

    async fn json_patch(&self, target: ObjectRef<'_>, patch: &Value) -> Result<()> {
        self.patched(target, |object| {
            let mut writes = self.0.concurrent_writes.lock().unwrap();
            if *writes > 0 {
                *writes -= 1;
                let version: u64 = object["metadata"]["resourceVersion"]
                    .as_str()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                object["metadata"]["resourceVersion"] = json!((version + 1).to_string());
                object["spec"]["template"]["metadata"]["labels"]["touched"] = json!("yes");
            }
            // As the API server: the patch applies atomically or not at all (422 on a failed
            // test).
            *object =
                try_apply_json_patch(object, patch).map_err(|e| api("patch", target, 422, &e))?;
            Ok(())
        })
    }

    async fn patch_labels(&self, target: ObjectRef<'_>, labels: &LabelChanges) -> Result<()> {
        self.patched(target, |object| {
            for (k, v) in labels {
                match v {
                    Some(v) => object["metadata"]["labels"][k] = json!(v),
                    None => {
                        if let Some(l) = object["metadata"]["labels"].as_object_mut() {
                            l.remove(k);
                        }
                    }
                }
            }
            Ok(())
        })
    }

    async fn delete_if_unchanged(
        &self,
        target: ObjectRef<'_>,
        uid: Option<&str>,
        _: Option<&str>,
    ) -> Result<()> {
        self.record(said("delete", target))?;
        let mut live = self.0.live.lock().unwrap();
        let key = key_of(target);
        if live.get(&key).and_then(|o| o["metadata"]["uid"].as_str()) != uid {
            return Err(api("delete", target, 409, "uid precondition"));
        }
        live.remove(&key);
        Ok(())
    }

    async fn create_raw(&self, target: ObjectRef<'_>, body: Vec<u8>) -> Result<()> {
        self.record(said("create", target))?;
        let mut object: Value = serde_json::from_slice(&body).unwrap();
        object["metadata"]["uid"] = json!("recreated");
        self.0.created.lock().unwrap().push(body);
        self.put(target.resource, target.namespace, target.name, object);
        Ok(())
    }

    async fn server_version(&self) -> Result<(String, String)> {
        self.record("get /version".to_owned())?;
        Ok(("1".into(), format!("{}+", self.0.knobs.minor)))
    }
}

impl FakeCluster {
    /// A PATCH of live `target`: `change` applied in place (404 when it is not live).
    fn patched(
        &self,
        target: ObjectRef<'_>,
        change: impl FnOnce(&mut Value) -> Result<()>,
    ) -> Result<()> {
        self.record(said("patch", target))?;
        let mut live = self.0.live.lock().unwrap();
        let Some(object) = live.get_mut(&key_of(target)) else {
            return Err(api("patch", target, 404, "not found"));
        };
        change(object)
    }
}

/// What Velero hands the plugin's `Execute` for `item` (its backed-up copy `from_backup`).
pub fn execute_input(item: Value, from_backup: &Value, restore: &Value) -> ExecuteInput {
    ExecuteInput {
        item,
        item_from_backup: from_backup.clone(),
        restore: restore.clone(),
    }
}

/// One item through an action the way Velero's request reaches it: the transport's
/// [`execute_request`] over the input's JSON bytes, so the glance before decoding
/// (`leaves_unchanged`) decides first and `execute` runs only when it says no.
pub trait RestoreItem {
    fn restore_item(
        &self,
        input: ExecuteInput,
    ) -> impl Future<Output = Result<ExecuteOutput, ActionError>> + Send;
}

impl<A: RestoreItemAction> RestoreItem for A {
    async fn restore_item(&self, input: ExecuteInput) -> Result<ExecuteOutput, ActionError> {
        let bytes = |value: &Value| match value {
            Value::Null => Vec::new(),
            value => serde_json::to_vec(value).expect("a Value always encodes"),
        };
        let (from_backup, restore) = (bytes(&input.item_from_backup), bytes(&input.restore));
        match execute_request(self, bytes(&input.item), &from_backup, &restore).await {
            Executed::AsSent(item) => Ok(ExecuteOutput::unchanged(
                serde_json::from_slice(&item).expect("the item as sent"),
            )),
            Executed::Rejected(error) => Err(error),
            Executed::Decided(_, outcome) => outcome,
            Executed::Panicked(_, reason) => panic!("the action panicked: {reason}"),
        }
    }
}

/// A Deployment app's items in Velero's restore order (pods, ReplicaSets, the Deployment), each as
/// Velero hands it (pods prepared by Velero's own actions) with its backed-up copy.
pub fn items_in_restore_order(app: &App) -> Vec<(Value, Value)> {
    let fsb = app.fsb_index();
    let mut items: Vec<(Value, Value)> = app
        .pods()
        .into_iter()
        .map(|pod| (velero_prepares_pod(&pod, &fsb.volumes_of(&pod)), pod))
        .collect();
    items.extend(
        app.replicasets()
            .into_iter()
            .map(|rs| (as_velero_hands_it(&rs), rs)),
    );
    let d = app.deployment();
    items.push((as_velero_hands_it(&d), d));
    items
}

/// Whether `action` answers `item` as sent, before the transport decodes anything
/// (`leaves_unchanged` over the request's JSON bytes).
pub async fn answered_before_decoding(
    action: &impl RestoreItemAction,
    item: &Value,
    from_backup: &Value,
    restore: &Value,
) -> bool {
    let bytes = |v: &Value| serde_json::to_vec(v).expect("a Value always encodes");
    let (item, from_backup, restore) = (bytes(item), bytes(from_backup), bytes(restore));
    action
        .leaves_unchanged(RawExecuteInput {
            item: &item,
            item_from_backup: &from_backup,
            restore: &restore,
        })
        .await
}

/// Every log line the guard writes on this thread while a [`LogCapture`] is alive (plain text,
/// every level, every field), to check what the restore log would and would not carry.
#[derive(Clone, Default)]
pub struct Logs(Arc<Mutex<Vec<u8>>>);

impl Logs {
    /// The captured lines so far.
    pub fn lines(&self) -> Vec<String> {
        String::from_utf8_lossy(&self.0.lock().unwrap())
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

thread_local! {
    /// Where this thread's log lines go, while a capture is alive.
    static SINK: std::cell::RefCell<Option<Logs>> = const { std::cell::RefCell::new(None) };
}

/// The writer of the test binary's one subscriber: the current thread's capture, if any.
struct ThreadSink;

impl std::io::Write for ThreadSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        SINK.with(|sink| {
            if let Some(logs) = sink.borrow().as_ref() {
                logs.0.lock().unwrap().extend_from_slice(buf);
            }
        });
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Captures the log lines written on this thread until it is dropped.
pub struct LogCapture {
    pub logs: Logs,
}

impl Drop for LogCapture {
    fn drop(&mut self) {
        SINK.with(|sink| *sink.borrow_mut() = None);
    }
}

/// Starts capturing every log line (trace and up) written on this thread: a `#[tokio::test]`
/// (current-thread runtime) runs the guard on it. One global subscriber serves the whole test
/// binary, so no callsite is ever cached as uninteresting while another test runs without a
/// capture (a scoped subscriber per test loses events that way).
pub fn capturing_logs() -> LogCapture {
    static INSTALL: std::sync::Once = std::sync::Once::new();
    INSTALL.call_once(|| {
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(|| ThreadSink)
            .finish();
        tracing::subscriber::set_global_default(subscriber)
            .expect("no other global subscriber in a guard test binary");
    });
    let logs = Logs::default();
    SINK.with(|sink| *sink.borrow_mut() = Some(logs.clone()));
    LogCapture { logs }
}
