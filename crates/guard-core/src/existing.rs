//! Restores into a cluster where the workload already exists (Velero issues 9461, 5242, 1717, 1919,
//! 6690, 7487): the decisions, as pure functions. The shell reads the live workload once per
//! workload per restore and carries out what is decided here (docs/existing-workloads.md).
//!
//! Why a restored FSB pod dies there, with or without resource modifiers: Velero restores pods
//! before workloads and keeps a workload that already exists (`existingResourcePolicy` none) or
//! patches it (`update`). The restored pod carries the backed-up labels, so the live workload's
//! controller adopts it by selector: a ReplicaSet (the live current one, or an old one kept at 0
//! replicas in revision history) deletes it as surplus, a StatefulSet scaled below its ordinal
//! deletes it, a DaemonSet with a pod on the node deletes the extra one. Its PodVolumeRestores stay
//! `New` and the restore waits for the pod-volume timeout (4 h by default).
//!
//! What the guard does instead — the pod is **parked**:
//! - the keys of the live workload's selector are removed from its labels (annotation
//!   [`DETACHED_LABELS`] keeps their names): no controller selects it, so none adopts or deletes
//!   it, and no Service that selects the workload's pods sends it traffic;
//! - when every FSB volume is a PersistentVolumeClaim (the data outlives the pod and the live
//!   workload mounts the claim by name), an init container [`PARKING_CONTAINER`] after
//!   `restore-wait` holds the app containers back for good (never two writers on the claim), and
//!   the pod is handed to Velero as an asynchronous operation: Velero calls Progress after every
//!   pod volume restore finished, and Progress deletes the pod ([`progress_decision`]);
//! - otherwise (an `emptyDir` holds restored data) no protection keeps the data where the live
//!   workload can read it: the pod is detached only, so its restore completes and its app runs
//!   with the data, outside the workload, until the operator deletes it (a `warn` line says so).
//!
//! A pod whose name already exists in the target is kept by Velero (AlreadyExists) and gets no
//! volume data: reported, nothing else can be done from a RestoreItemAction.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::Deserialize;

use serde_json::{Value, json};

use crate::toolkit::object::{name_of, str_at};
use crate::toolkit::owners::{Kind, POD_TEMPLATE_HASH, Workload};

/// Label on a parked pod (`kubectl get pods -l fsb-guard.io/parked`).
pub const PARKED_LABEL: &str = "fsb-guard.io/parked";
/// Annotation on a parked pod: `<Kind>/<name>` of the live workload it was detached from.
pub const PARKED_FROM: &str = "fsb-guard.io/parked-from";
/// Annotation on a parked pod: the UID of the restore that parked it (Progress deletes only the
/// pods its own restore parked).
pub const PARKED_BY_RESTORE: &str = "fsb-guard.io/parked-by-restore";
/// Annotation on a parked pod: the label keys removed from it, as a JSON list.
pub const DETACHED_LABELS: &str = "fsb-guard.io/detached-labels";
/// The init container that holds a parked pod's app containers back.
pub const PARKING_CONTAINER: &str = "fsb-guard-parked";
/// Velero's init container on pods with FSB data (`pod_volume_restore_action.go`).
pub const RESTORE_WAIT: &str = "restore-wait";
/// The argument the parking container waits for: `velero-restore-helper <uid>` waits until
/// `/restores/<volume>/.velero/<uid>` exists in every mounted volume, and nobody writes this one.
const PARKING_MARK: &str = "fsb-guard-parked-never-done";
/// Label Velero puts on everything a restore creates.
const RESTORE_NAME_LABEL: &str = "velero.io/restore-name";
/// Prefix of the operation IDs of parked pods: `fsb-guard/parked-pod/<namespace>/<name>`.
const OPERATION_PREFIX: &str = "fsb-guard/parked-pod/";

/// The restore's `spec.existingResourcePolicy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// Absent or `none`: Velero keeps the live object, with a warning.
    None,
    /// `update`: Velero patches the live object to the restored one (labels, and the spec where
    /// it differs).
    Update,
}

impl Policy {
    pub fn of(restore: &Value) -> Self {
        match str_at(restore, "/spec/existingResourcePolicy") {
            Some("update") => Self::Update,
            _ => Self::None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Update => "update",
        }
    }
}

/// The volumes Velero restores into a pod from FSB data: those its `restore-wait` init container
/// mounts (Velero's own action added it, before ours ran). `None`: no `restore-wait`, no FSB data.
pub fn fsb_volumes(received_pod: &Value) -> Option<Vec<String>> {
    let wait = init_containers(received_pod)
        .iter()
        .find(|c| c.get("name").and_then(Value::as_str) == Some(RESTORE_WAIT))?;
    Some(
        wait.get("volumeMounts")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|m| m.get("name").and_then(Value::as_str).map(str::to_owned))
            .collect(),
    )
}

/// An item as Velero sent it, glanced at before it is decoded: its kind and whether it can be a
/// restored pod with FSB data. `None` when the bytes do not read as an object with a string
/// `kind` (the caller then decodes them and rejects them properly).
pub struct Glance<'a> {
    pub kind: Cow<'a, str>,
    /// `false` only when the item is certainly not a pod with `restore-wait` (the test
    /// [`fsb_volumes`] makes on the decoded pod).
    pub restore_wait: bool,
}

impl<'a> Glance<'a> {
    /// Reads only `kind` and the init containers' names; every other field is skipped, never
    /// built.
    pub fn of(received: &'a [u8]) -> Option<Self> {
        #[derive(Deserialize)]
        struct Item<'a> {
            #[serde(borrow)]
            kind: Cow<'a, str>,
            #[serde(default, borrow)]
            spec: Option<Spec<'a>>,
        }
        #[derive(Deserialize)]
        struct Spec<'a> {
            #[serde(default, borrow, rename = "initContainers")]
            init_containers: Option<Vec<Named<'a>>>,
        }
        #[derive(Deserialize)]
        struct Named<'a> {
            #[serde(default, borrow)]
            name: Option<Cow<'a, str>>,
        }
        let item: Item<'a> = serde_json::from_slice(received).ok()?;
        let restore_wait = item.kind == "Pod"
            && item
                .spec
                .and_then(|spec| spec.init_containers)
                .into_iter()
                .flatten()
                .any(|c| c.name.as_deref() == Some(RESTORE_WAIT));
        Some(Self {
            kind: item.kind,
            restore_wait,
        })
    }
}

/// What the owner functions ([`Workload::owning`] and the lineages) and the FSB rules
/// ([`crate::FsbIndex::volumes_of`]) read of an object, from its JSON bytes: `metadata.name`,
/// `namespace`, `labels`, `annotations`, `ownerReferences` and `spec.volumes`, as a document of
/// those fields alone; every other field (containers, status, managed fields: most of a pod) is
/// skipped, never built. `None` when they do not read.
pub fn identity_of(object: &[u8]) -> Option<Value> {
    identity_read(object).ok()
}

/// [`identity_of`], with why the bytes do not read: not JSON, or not an object. The whole text is
/// checked, the skipped fields too.
pub(crate) fn identity_read(object: &[u8]) -> serde_json::Result<Value> {
    #[derive(Deserialize)]
    struct Object {
        #[serde(default)]
        metadata: Metadata,
        #[serde(default)]
        spec: Spec,
    }
    #[derive(Deserialize, Default)]
    struct Metadata {
        #[serde(default)]
        name: Value,
        #[serde(default)]
        namespace: Value,
        #[serde(default)]
        labels: Value,
        #[serde(default)]
        annotations: Value,
        #[serde(default, rename = "ownerReferences")]
        owner_references: Value,
    }
    #[derive(Deserialize, Default)]
    struct Spec {
        #[serde(default)]
        volumes: Value,
    }
    let Object { metadata, spec } = serde_json::from_slice(object)?;
    let fields = [
        ("name", metadata.name),
        ("namespace", metadata.namespace),
        ("labels", metadata.labels),
        ("annotations", metadata.annotations),
        ("ownerReferences", metadata.owner_references),
    ];
    let metadata: serde_json::Map<String, Value> = fields
        .into_iter()
        .filter(|(_, value)| !value.is_null())
        .map(|(key, value)| (key.to_owned(), value))
        .collect();
    let mut read = json!({ "metadata": metadata });
    if !spec.volumes.is_null() {
        read["spec"] = json!({ "volumes": spec.volumes });
    }
    Ok(read)
}

fn init_containers(pod: &Value) -> &[Value] {
    pod.pointer("/spec/initContainers")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// How the workload of a restored FSB pod stands in the target cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LiveClass {
    /// Not there: the restore creates it (the guard's usual path).
    Absent,
    /// There, but created by this restore (custom restore priorities put workloads first).
    RestoredHere,
    /// There before the restore.
    Present(Presence),
}

impl LiveClass {
    /// The workload was there before the restore.
    pub fn is_present(&self) -> bool {
        matches!(self, Self::Present(_))
    }
}

/// A live workload that existed before the restore.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Presence {
    /// `spec.replicas` is 0 (Deployment, StatefulSet).
    pub scaled_to_zero: bool,
    pub template: TemplateDrift,
    /// The keys of its `spec.selector` (`matchLabels` and `matchExpressions`).
    pub selector_keys: Vec<String>,
}

/// The live workload's pod template against the one the restored pod was created from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TemplateDrift {
    /// The live workload's current revision is the restored pod's.
    Same,
    /// The workload changed since the backup (image update, rollout…).
    Other,
}

impl TemplateDrift {
    fn as_str(self) -> &'static str {
        match self {
            Self::Same => "the same template as the restored pods",
            Self::Other => "another template than the restored pods",
        }
    }
}

/// Classifies the live copy of `workload` for a pod backed up as `pod_from_backup`.
/// `current_revision_live`: for a Deployment, whether the ReplicaSet the pod belonged to exists
/// live with the live Deployment's template (the shell reads it); ignored for other kinds.
pub fn classify(
    workload: &Workload,
    live: Option<&Value>,
    pod_from_backup: &Value,
    restore: &Value,
    current_revision_live: bool,
) -> LiveClass {
    let Some(live) = live else {
        return LiveClass::Absent;
    };
    let restore_name = str_at(restore, "/metadata/name").unwrap_or_default();
    let restored_here = live
        .pointer("/metadata/labels")
        .and_then(|l| l.get(RESTORE_NAME_LABEL))
        .and_then(Value::as_str)
        .is_some_and(|name| !restore_name.is_empty() && name == restore_name);
    if restored_here {
        return LiveClass::RestoredHere;
    }
    let scaled_to_zero = workload.kind != Kind::DaemonSet
        && live.pointer("/spec/replicas").and_then(Value::as_i64) == Some(0);
    let same = match workload.kind {
        Kind::Deployment => current_revision_live,
        Kind::StatefulSet => {
            let pod_revision = str_at(pod_from_backup, "/metadata/labels/controller-revision-hash");
            pod_revision.is_some() && pod_revision == str_at(live, "/status/updateRevision")
        }
        Kind::DaemonSet => {
            let pod_generation =
                str_at(pod_from_backup, "/metadata/labels/pod-template-generation");
            pod_generation.is_some()
                && pod_generation
                    == str_at(
                        live,
                        "/metadata/annotations/deprecated.daemonset.template.generation",
                    )
        }
    };
    LiveClass::Present(Presence {
        scaled_to_zero,
        template: if same {
            TemplateDrift::Same
        } else {
            TemplateDrift::Other
        },
        selector_keys: selector_keys(live),
    })
}

/// The label keys a workload's `spec.selector` reads.
fn selector_keys(live: &Value) -> Vec<String> {
    let mut keys: Vec<String> = live
        .pointer("/spec/selector/matchLabels")
        .and_then(Value::as_object)
        .into_iter()
        .flat_map(|m| m.keys().cloned())
        .collect();
    keys.extend(
        live.pointer("/spec/selector/matchExpressions")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|e| e.get("key").and_then(Value::as_str).map(str::to_owned)),
    );
    keys.sort();
    keys.dedup();
    keys
}

/// A restored pod, parked.
#[derive(Debug, Clone, PartialEq)]
pub struct Parked {
    /// The pod to restore.
    pub item: Value,
    /// The asynchronous operation that deletes it once its volume data landed (`None`: it keeps
    /// running detached, its data being in an `emptyDir`).
    pub operation_id: Option<String>,
    /// FSB volumes that are PersistentVolumeClaims: `(volume, claim)`.
    pub claims: Vec<(String, String)>,
    /// FSB volumes of another type (the data lives in the pod only).
    pub pod_only: Vec<String>,
    /// Label keys removed.
    pub removed_labels: Vec<String>,
}

/// Parks the restored pod `item` (as received, `restore-wait` in place; restored into
/// `target_namespace`) of `workload`, live as `presence`, for the restore `restore`.
pub fn park(
    item: &Value,
    target_namespace: &str,
    workload: &Workload,
    presence: &Presence,
    fsb_volumes: &[String],
    restore: &Value,
) -> Parked {
    let mut pod = item.clone();
    let (claims, pod_only) = fsb_volume_sources(item, fsb_volumes);
    let mut removed = Vec::new();
    if let Some(labels) = pod
        .pointer_mut("/metadata/labels")
        .and_then(Value::as_object_mut)
    {
        // Pods of a Deployment also carry the ReplicaSet's pod-template-hash; a StatefulSet's
        // and a DaemonSet's carry controller-revision-hash. Neither is in the workload's selector,
        // but a ReplicaSet's selector has the hash: removing it keeps an old ReplicaSet of the
        // same hash (revision history) from adopting the pod too.
        let extra: &[&str] = match workload.kind {
            Kind::Deployment => &[POD_TEMPLATE_HASH],
            Kind::StatefulSet | Kind::DaemonSet => &[],
        };
        for key in presence
            .selector_keys
            .iter()
            .map(String::as_str)
            .chain(extra.iter().copied())
        {
            if labels.remove(key).is_some() {
                removed.push(key.to_owned());
            }
        }
    }
    set_map_entry(&mut pod, "labels", PARKED_LABEL, json!("true"));
    set_map_entry(
        &mut pod,
        "annotations",
        PARKED_FROM,
        json!(format!("{}/{}", workload.kind.as_str(), workload.name)),
    );
    set_map_entry(
        &mut pod,
        "annotations",
        PARKED_BY_RESTORE,
        json!(str_at(restore, "/metadata/uid").unwrap_or_default()),
    );
    set_map_entry(
        &mut pod,
        "annotations",
        DETACHED_LABELS,
        json!(serde_json::to_string(&removed).unwrap_or_default()),
    );
    let hold = pod_only.is_empty() && !claims.is_empty();
    if hold {
        add_parking_container(&mut pod);
    }
    let operation_id = hold.then(|| operation_id(target_namespace, name_of(item)));
    Parked {
        item: pod,
        operation_id,
        claims,
        pod_only,
        removed_labels: removed,
    }
}

/// Splits the FSB volumes of `pod` into PersistentVolumeClaims `(volume, claim)` (the data
/// outlives the pod) and the rest (the data lives in the pod only).
pub fn fsb_volume_sources(
    pod: &Value,
    fsb_volumes: &[String],
) -> (Vec<(String, String)>, Vec<String>) {
    let volumes: BTreeMap<&str, &Value> = pod
        .pointer("/spec/volumes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|v| Some((v.get("name")?.as_str()?, v)))
        .collect();
    let mut claims = Vec::new();
    let mut others = Vec::new();
    for name in fsb_volumes {
        match volumes
            .get(name.as_str())
            .and_then(|v| str_at(v, "/persistentVolumeClaim/claimName"))
        {
            Some(claim) => claims.push((name.clone(), claim.to_owned())),
            None => others.push(name.clone()),
        }
    }
    (claims, others)
}

fn set_map_entry(pod: &mut Value, map: &str, key: &str, value: Value) {
    let metadata = &mut pod["metadata"];
    if !metadata.get(map).is_some_and(Value::is_object) {
        metadata[map] = json!({});
    }
    metadata[map][key] = value;
}

/// Appends the parking init container: a copy of `restore-wait` (the image, command and security
/// settings Velero chose for this cluster, so it runs wherever `restore-wait` runs) that waits for
/// a done file nobody writes. Init containers run in order, so it starts only after
/// `restore-wait` saw every volume restored, and the app containers never start.
fn add_parking_container(pod: &mut Value) {
    let Some(wait) = init_containers(pod)
        .iter()
        .find(|c| c.get("name").and_then(Value::as_str) == Some(RESTORE_WAIT))
        .cloned()
    else {
        return;
    };
    let mut parking = wait;
    parking["name"] = json!(PARKING_CONTAINER);
    parking["args"] = json!([PARKING_MARK]);
    if let Some(list) = pod
        .pointer_mut("/spec/initContainers")
        .and_then(Value::as_array_mut)
    {
        list.push(parking);
    }
}

/// The operation ID of a parked pod.
pub fn operation_id(namespace: &str, pod: &str) -> String {
    format!("{OPERATION_PREFIX}{namespace}/{pod}")
}

/// `(namespace, pod)` of a parked pod's operation ID; `None` for any other ID.
pub fn parked_pod_of(operation_id: &str) -> Option<(&str, &str)> {
    let rest = operation_id.strip_prefix(OPERATION_PREFIX)?;
    let (namespace, pod) = rest.split_once('/')?;
    (!namespace.is_empty() && !pod.is_empty() && !pod.contains('/')).then_some((namespace, pod))
}

/// What Progress does for a parked pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProgressDecision {
    /// Nothing left to do: the pod is gone, or it is not one this restore parked.
    Done(String),
    /// Volume restores of the pod still run: `(finished, total)`.
    Waiting(usize, usize),
    /// Delete the pod (`uid` as precondition): its volume data landed (or failed for good).
    Delete {
        uid: Option<String>,
        summary: String,
    },
}

/// Decides for a parked pod: `live_pod` as read now, `restores` the PodVolumeRestores of
/// `restore`.
pub fn progress_decision(
    namespace: &str,
    pod: &str,
    live_pod: Option<&Value>,
    restores: &[Value],
    restore: &Value,
) -> ProgressDecision {
    let Some(live) = live_pod else {
        return ProgressDecision::Done(format!("parked pod {namespace}/{pod} is gone"));
    };
    let restore_uid = str_at(restore, "/metadata/uid").unwrap_or_default();
    let parked_by = live
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(PARKED_BY_RESTORE))
        .and_then(Value::as_str);
    if restore_uid.is_empty() || parked_by != Some(restore_uid) {
        return ProgressDecision::Done(format!(
            "pod {namespace}/{pod} is not parked by this restore; left alone"
        ));
    }
    let mine: Vec<&Value> = restores
        .iter()
        .filter(|r| {
            str_at(r, "/spec/pod/namespace") == Some(namespace)
                && str_at(r, "/spec/pod/name") == Some(pod)
        })
        .collect();
    let phase = |r: &Value| str_at(r, "/status/phase").unwrap_or("New").to_owned();
    let finished = mine
        .iter()
        .filter(|r| matches!(phase(r).as_str(), "Completed" | "Failed" | "Canceled"))
        .count();
    if finished < mine.len() {
        return ProgressDecision::Waiting(finished, mine.len());
    }
    let completed = mine.iter().filter(|r| phase(r) == "Completed").count();
    ProgressDecision::Delete {
        uid: str_at(live, "/metadata/uid").map(str::to_owned),
        summary: format!(
            "parked pod {namespace}/{pod} deleted: {completed} of {} volume restores completed",
            mine.len()
        ),
    }
}

/// The restore-log line for a parked pod (names, never values).
pub fn parked_message(pod: &str, presence: &Presence, policy: Policy, parked: &Parked) -> String {
    let scaled = if presence.scaled_to_zero {
        ", scaled to 0"
    } else {
        ""
    };
    let keys = if parked.removed_labels.is_empty() {
        "no selector label to remove".to_owned()
    } else {
        format!("labels {} removed", parked.removed_labels.join(", "))
    };
    let mut message = format!(
        "exists in the target before this restore ({}{scaled}; existingResourcePolicy {}): restored pod {pod} parked so no controller adopts or deletes it ({keys})",
        presence.template.as_str(),
        policy.as_str(),
    );
    if parked.operation_id.is_some() {
        let claims: Vec<&str> = parked.claims.iter().map(|(_, c)| c.as_str()).collect();
        message.push_str(&format!(
            "; its app containers are held by init container {PARKING_CONTAINER}; its volume data lands in PersistentVolumeClaim {} the live workload reads by name, and the pod is deleted once its volume restores finished",
            claims.join(", ")
        ));
    }
    message
}

/// The `warn` line when a parked pod keeps data only in itself.
pub fn pod_only_warning(pod: &str, parked: &Parked) -> String {
    format!(
        "restored pod {pod} holds FSB data in volumes {} that are not PersistentVolumeClaims: the live workload's pods cannot read another pod's volumes, so no protection can bring the data to them; the pod is detached instead (its restore completes, it runs with the data outside the workload); copy what you need from it and delete it",
        parked.pod_only.join(", ")
    )
}

/// The workload item's line: what Velero does with the live workload, and what the guard did
/// (`parked`: at least one of its restored pods was parked; else they all existed live).
pub fn workload_message(kind: Kind, policy: Policy, parked: bool) -> String {
    let velero = match policy {
        Policy::None => "Velero keeps it (existingResourcePolicy none)",
        Policy::Update => {
            "Velero patches it to the backed-up spec (existingResourcePolicy update), which may roll its pods"
        }
    };
    let history = match kind {
        Kind::Deployment => "; its backed-up ReplicaSets are not restored",
        Kind::StatefulSet | Kind::DaemonSet => {
            "; its ControllerRevisions are restored as backed up"
        }
    };
    let pods = if parked {
        "its restored FSB pods were parked"
    } else {
        "its restored FSB pods already exist there, so Velero restores no volume data into them"
    };
    format!("exists in the target before this restore: {velero}; {pods}{history}")
}

/// The ReplicaSet item's line when its Deployment exists live.
pub const REPLICASET_SKIPPED: &str = "exists in the target before this restore: its backed-up ReplicaSet is not restored (the live Deployment owns its ReplicaSets; a restored old one would start pods of the backed-up template beside the parked ones)";

/// The line when a pod of the restored pod's name exists live.
pub fn pod_exists_warning(pod: &str) -> String {
    format!(
        "exists in the target and restored pod {pod} already exists there: Velero keeps the live pod and restores no volume data into it (scale the workload to 0 before the restore to have its data restored)"
    )
}

#[cfg(test)]
mod tests;
