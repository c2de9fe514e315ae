//! The inputs of one restore, as every decision reads them: the rules, the settings, the
//! backed-up objects and which pods hold file-system-backup data.

use std::borrow::Cow;
use std::collections::HashMap;
use std::ops::Range;
use std::sync::{Mutex, MutexGuard, PoisonError};

use serde_json::Value;

use crate::engine::{Rules, VeleroEngine};
use crate::fsb::FsbIndex;
use crate::resources::Resource;
use crate::settings::Settings;
use crate::toolkit::memo::Plans;
use crate::toolkit::object::{name_of, namespace_of};
use crate::toolkit::owners::{
    Kind, Workload, daemonset_owner, replicaset_owner, statefulset_owner,
};
use crate::toolkit::scope::{FsbWorkloads, OutOfScope};

/// Backed-up workload objects the decisions need (from the backup contents).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BackupObjects {
    pub deployments: Vec<Value>,
    pub replicasets: Vec<Value>,
    pub pods: Vec<Value>,
    pub statefulsets: Vec<Value>,
    pub daemonsets: Vec<Value>,
    /// StatefulSet and DaemonSet history.
    pub controllerrevisions: Vec<Value>,
    /// Where each workload's pods and history lie, once [`BackupObjects::arrange_by_owner`] ran
    /// (empty before: every plan then reads every object).
    pub by_owner: ByOwner,
    /// Workloads, their pods and their history kept as JSON text, by workload
    /// ([`BackupObjects::push_packed`]): parsed when a step reads them.
    packed: HashMap<Workload, Packed>,
    /// The workloads with FSB pods, when whoever filled the objects knew them
    /// ([`BackupObjects::fsb_workloads`]).
    known_fsb_workloads: Option<FsbWorkloads>,
}

/// One workload, its pods and its history as JSON text, in the backup's order. A parsed object
/// takes about eleven times its text (`serde_json` with `preserve_order`: 3 KB of pod, 36 KB of
/// tree), so a restore keeps the text and parses a workload's objects only while a step reads
/// them: its pods and history once, for its plan; the workload itself for each of its items. The
/// pods are released once the plan is computed when no step of the kind reads them again
/// ([`BackupObjects::release_pods`]).
#[derive(Debug, Default)]
struct Packed {
    workload: Option<Box<str>>,
    pods: Mutex<Vec<Box<str>>>,
    history: Vec<Box<str>>,
}

impl Packed {
    fn parse(texts: &[Box<str>]) -> impl Iterator<Item = Value> + '_ {
        // Checked to be JSON objects when packed (see `push_packed`).
        texts.iter().filter_map(|t| serde_json::from_str(t).ok())
    }

    fn pods(&self) -> MutexGuard<'_, Vec<Box<str>>> {
        // Only cleared or cloned under the lock: a panic elsewhere leaves it whole.
        self.pods.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Clone for Packed {
    fn clone(&self) -> Self {
        Self {
            workload: self.workload.clone(),
            pods: Mutex::new(self.pods().clone()),
            history: self.history.clone(),
        }
    }
}

impl PartialEq for Packed {
    fn eq(&self, other: &Self) -> bool {
        self.workload == other.workload
            && *self.pods() == *other.pods()
            && self.history == other.history
    }
}

/// The backup's pods and history grouped by the workload that controls them: a workload's plan
/// reads its own objects instead of every object of the backup. Without it, planning every
/// workload of a restore is quadratic in its size (2,500 Deployments, each planned over all 7,500
/// pods and ReplicaSets: minutes).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ByOwner {
    arranged: bool,
    /// Workload → (its range in `pods`, its range in its kind's history).
    ranges: HashMap<Workload, (Range<usize>, Range<usize>)>,
    /// Workload → its position among the backed-up workloads of its kind.
    workloads: HashMap<Workload, usize>,
}

/// The workload controlling a backed-up history object (ReplicaSet or ControllerRevision).
pub(crate) fn history_owner(object: &Value) -> Option<Workload> {
    let (kind, owner) = if let Some(d) = replicaset_owner(object) {
        (Kind::Deployment, d)
    } else if let Some(s) = statefulset_owner(object) {
        (Kind::StatefulSet, s)
    } else {
        (Kind::DaemonSet, daemonset_owner(object)?)
    };
    Some(Workload::new(kind, namespace_of(object), owner))
}

/// Sorts `objects` by their owner (stable: the backup's order within one owner) and records each
/// owner's range through `range`.
fn group_by(
    objects: &mut [Value],
    owner: impl Fn(&Value) -> Option<Workload>,
    mut range: impl FnMut(Workload, Range<usize>),
) {
    let mut keyed: Vec<(Option<Workload>, Value)> = objects
        .iter_mut()
        .map(|o| (owner(o), std::mem::take(o)))
        .collect();
    keyed.sort_by(|a, b| a.0.cmp(&b.0));
    let mut start = 0;
    for i in 0..keyed.len() {
        let last = i + 1 == keyed.len() || keyed[i + 1].0 != keyed[i].0;
        if last {
            if let Some(w) = keyed[i].0.clone() {
                range(w, start..i + 1);
            }
            start = i + 1;
        }
    }
    for (slot, (_, object)) in objects.iter_mut().zip(keyed) {
        *slot = object;
    }
}

/// Which backed-up objects a restore keeps for its decisions.
#[derive(Debug, Clone, Copy)]
pub enum Selection<'a> {
    /// Every workload, its history and its pods (scope `all`: a workload without FSB data is
    /// guarded too); the index still tells which of them have FSB pods.
    Everything(&'a FsbIndex),
    /// Only the workloads with a pod holding FSB data under this index, their history and their
    /// pods (scope `fsb-only`, the default): every other workload is out of scope, so its objects
    /// would only take memory. A restore of 10,000 items with 25 such workloads keeps 250 objects.
    FsbWorkloads(&'a FsbIndex),
}

impl BackupObjects {
    /// Adds a backed-up object of `resource` to its list; other resources are not kept.
    pub fn push(&mut self, resource: Resource, object: Value) {
        let list = match resource {
            r if r == Resource::DEPLOYMENTS => &mut self.deployments,
            r if r == Resource::REPLICA_SETS => &mut self.replicasets,
            r if r == Resource::PODS => &mut self.pods,
            r if r == Resource::STATEFUL_SETS => &mut self.statefulsets,
            r if r == Resource::DAEMON_SETS => &mut self.daemonsets,
            r if r == Resource::CONTROLLER_REVISIONS => &mut self.controllerrevisions,
            _ => return,
        };
        list.push(object);
    }

    /// Keeps `text`, the JSON object of backed-up workload `owner` (a Deployment, StatefulSet or
    /// DaemonSet) or of a pod or history object (ReplicaSet or ControllerRevision) it controls,
    /// as text: [`BackupObjects::workload`] and [`BackupObjects::owned_by`] parse it when a step
    /// reads it. The caller has checked that the text is a JSON object.
    pub fn push_packed(&mut self, resource: Resource, owner: Workload, text: Box<str>) {
        let packed = self.packed.entry(owner).or_default();
        match resource {
            r if r == Resource::PODS => packed.pods().push(text),
            r if r == Resource::REPLICA_SETS || r == Resource::CONTROLLER_REVISIONS => {
                packed.history.push(text)
            }
            _ => packed.workload = Some(text),
        }
    }

    /// The backed-up workloads: those parsed, then those kept as text.
    pub fn all_workloads(&self) -> Vec<Workload> {
        let parsed = [Kind::Deployment, Kind::StatefulSet, Kind::DaemonSet]
            .into_iter()
            .flat_map(|kind| {
                self.workloads(kind)
                    .iter()
                    .map(move |w| Workload::of(kind, w))
            });
        let packed = self
            .packed
            .iter()
            .filter(|(_, p)| p.workload.is_some())
            .map(|(w, _)| w.clone());
        parsed.chain(packed).collect()
    }

    /// Lets go of the pods of `workload` kept as text, once its plan has read them and no step
    /// of its kind reads them again: a restore then holds each workload's plan instead of its
    /// pods (5,000 FSB pods: ~15 MB of text). [`BackupObjects::owned_by`] returns no pod of it
    /// afterwards.
    pub fn release_pods(&self, workload: &Workload) {
        if let Some(packed) = self.packed.get(workload) {
            *packed.pods() = Vec::new();
        }
    }

    /// Keeps only the objects kept as text whose workload `keep` accepts.
    pub(crate) fn retain_packed(&mut self, keep: impl Fn(&Workload) -> bool) {
        self.packed.retain(|w, _| keep(w));
    }

    /// Records the workloads with FSB pods, known to whoever filled the objects (the pods kept
    /// as text are not read again to find them).
    pub fn with_fsb_workloads(mut self, workloads: FsbWorkloads) -> Self {
        self.known_fsb_workloads = Some(workloads);
        self
    }

    /// The backed-up workloads with at least one pod holding FSB data under `fsb`.
    pub fn fsb_workloads(&self, fsb: &FsbIndex) -> FsbWorkloads {
        match &self.known_fsb_workloads {
            Some(known) => known.clone(),
            None => FsbWorkloads::of(&self.pods, fsb),
        }
    }

    /// The objects `selection` keeps (call before [`BackupObjects::arrange_by_owner`]).
    pub fn selected(self, selection: Selection<'_>) -> Self {
        let Selection::FsbWorkloads(fsb) = selection else {
            // Everything.
            return self;
        };
        let guarded = FsbWorkloads::of(&self.pods, fsb);
        let keep = |resource: Resource, list: Vec<Value>| -> Vec<Value> {
            list.into_iter()
                .filter(|o| guarded.own(resource, o))
                .collect()
        };
        Self {
            deployments: keep(Resource::DEPLOYMENTS, self.deployments),
            replicasets: keep(Resource::REPLICA_SETS, self.replicasets),
            pods: keep(Resource::PODS, self.pods),
            statefulsets: keep(Resource::STATEFUL_SETS, self.statefulsets),
            daemonsets: keep(Resource::DAEMON_SETS, self.daemonsets),
            controllerrevisions: keep(Resource::CONTROLLER_REVISIONS, self.controllerrevisions),
            by_owner: ByOwner::default(),
            packed: self
                .packed
                .into_iter()
                .filter(|(w, _)| guarded.contains(w))
                .collect(),
            known_fsb_workloads: self.known_fsb_workloads,
        }
    }

    /// A kind's history: ReplicaSets (Deployments) or ControllerRevisions (StatefulSets,
    /// DaemonSets).
    pub fn history(&self, kind: Kind) -> &[Value] {
        match kind {
            Kind::Deployment => &self.replicasets,
            Kind::StatefulSet | Kind::DaemonSet => &self.controllerrevisions,
        }
    }

    /// The backed-up workloads of `kind`.
    pub fn workloads(&self, kind: Kind) -> &[Value] {
        match kind {
            Kind::Deployment => &self.deployments,
            Kind::StatefulSet => &self.statefulsets,
            Kind::DaemonSet => &self.daemonsets,
        }
    }

    /// Groups pods and history by the workload that controls them (reordering them) so each
    /// workload's plan reads only its own ([`BackupObjects::owned_by`]). Call once the objects are
    /// all in; objects added later are not indexed.
    pub fn arrange_by_owner(&mut self) {
        let mut ranges: HashMap<Workload, (Range<usize>, Range<usize>)> = HashMap::new();
        group_by(&mut self.pods, Workload::owning, |w, r| {
            ranges.entry(w).or_insert((0..0, 0..0)).0 = r;
        });
        let history = |w: Workload, r: Range<usize>, ranges: &mut HashMap<_, _>| {
            ranges.entry(w).or_insert((0..0, 0..0)).1 = r;
        };
        group_by(&mut self.replicasets, history_owner, |w, r| {
            history(w, r, &mut ranges)
        });
        group_by(&mut self.controllerrevisions, history_owner, |w, r| {
            history(w, r, &mut ranges)
        });
        let mut workloads = HashMap::new();
        for kind in [Kind::Deployment, Kind::StatefulSet, Kind::DaemonSet] {
            for (i, w) in self.workloads(kind).iter().enumerate() {
                workloads.entry(Workload::of(kind, w)).or_insert(i);
            }
        }
        self.by_owner = ByOwner {
            arranged: true,
            ranges,
            workloads,
        };
    }

    /// The pods and history (ReplicaSets, or ControllerRevisions) that `workload` of `kind` may
    /// own: its own once [`BackupObjects::arrange_by_owner`] ran, else all of them; those kept
    /// as text are parsed for the caller (always only the workload's own).
    pub fn owned_by(&self, kind: Kind, workload: &Value) -> (Cow<'_, [Value]>, Cow<'_, [Value]>) {
        (
            self.pods_owned_by(kind, workload),
            self.history_owned_by(kind, workload),
        )
    }

    /// The pods of [`BackupObjects::owned_by`] alone (its history kept as text is not parsed).
    pub fn pods_owned_by(&self, kind: Kind, workload: &Value) -> Cow<'_, [Value]> {
        let owner = Workload::of(kind, workload);
        let (pods, _) = self.parsed_owned_by(kind, &owner);
        match self.packed.get(&owner) {
            Some(packed) => Self::with_packed(pods, &packed.pods()),
            None => Cow::Borrowed(pods),
        }
    }

    /// The history of [`BackupObjects::owned_by`] alone (its pods kept as text are not parsed).
    pub fn history_owned_by(&self, kind: Kind, workload: &Value) -> Cow<'_, [Value]> {
        let owner = Workload::of(kind, workload);
        let (_, history) = self.parsed_owned_by(kind, &owner);
        match self.packed.get(&owner) {
            Some(packed) => Self::with_packed(history, &packed.history),
            None => Cow::Borrowed(history),
        }
    }

    /// The parsed pods and history `owner` may own (all of them before arranging).
    fn parsed_owned_by(&self, kind: Kind, owner: &Workload) -> (&[Value], &[Value]) {
        if !self.by_owner.arranged {
            return (&self.pods, self.history(kind));
        }
        match self.by_owner.ranges.get(owner) {
            Some((pods, history)) => (
                &self.pods[pods.clone()],
                &self.history(kind)[history.clone()],
            ),
            None => (&[], &[]),
        }
    }

    /// `parsed`, followed by `texts` parsed.
    fn with_packed<'a>(parsed: &[Value], texts: &[Box<str>]) -> Cow<'a, [Value]> {
        Cow::Owned(parsed.iter().cloned().chain(Packed::parse(texts)).collect())
    }

    /// The backed-up workload object (Deployment, StatefulSet or DaemonSet); parsed for the
    /// caller when it is kept as text.
    pub fn workload(&self, workload: &Workload) -> Option<Cow<'_, Value>> {
        let parsed = if self.by_owner.arranged {
            self.by_owner
                .workloads
                .get(workload)
                .and_then(|at| self.workloads(workload.kind).get(*at))
        } else {
            self.workloads(workload.kind)
                .iter()
                .find(|o| namespace_of(o) == workload.namespace && name_of(o) == workload.name)
        };
        if let Some(parsed) = parsed {
            return Some(Cow::Borrowed(parsed));
        }
        let text = self.packed.get(workload)?.workload.as_deref()?;
        // Checked to be a JSON object when packed.
        serde_json::from_str(text).ok().map(Cow::Owned)
    }
}

/// Everything a decision reads about the restore.
#[derive(Clone, Copy)]
pub struct RestoreInputs<'a> {
    pub engine: &'a VeleroEngine,
    pub rules: &'a Rules,
    pub settings: &'a Settings,
    pub backup: &'a BackupObjects,
    pub fsb: &'a FsbIndex,
    /// The workloads with FSB pods, computed once per restore ([`FsbWorkloads::of`]).
    pub fsb_workloads: &'a FsbWorkloads,
    /// The workloads' plans, each computed by the first item of the restore that needs it.
    pub plans: &'a Plans,
}

/// One backed-up workload and what its plan reads. Any objects may be passed: a plan keeps those
/// of its workload (namespace and controller owner).
#[derive(Debug, Clone, Copy)]
pub struct BackedUp<'a> {
    /// The workload as backed up (with `status` and `ownerReferences`).
    pub workload: &'a Value,
    /// Its history: ReplicaSets (Deployment) or ControllerRevisions (StatefulSet, DaemonSet).
    pub history: &'a [Value],
    pub pods: &'a [Value],
    /// Which pods hold FSB data.
    pub fsb: &'a FsbIndex,
    /// Scope and namespace filters (the mode is ignored: a plan is what `enforce` would do).
    pub settings: &'a Settings,
}

/// One item as Velero hands it to the plugin's `Execute`.
#[derive(Debug, Clone, Copy)]
pub struct Item<'a> {
    /// As received: Velero's own actions ran (an FSB pod has `restore-wait`), earlier plugins may
    /// have changed it, the resource modifiers have not run yet.
    pub received: &'a Value,
    /// The backed-up copy (with `ownerReferences` and `status`).
    pub from_backup: &'a Value,
    /// The Restore (namespace mapping, annotations).
    pub restore: &'a Value,
}

impl RestoreInputs<'_> {
    /// Backed-up `workload` with `pods` and `history`, this restore's objects it may own
    /// ([`BackupObjects::owned_by`]).
    pub fn backed_up<'a>(
        &'a self,
        workload: &'a Value,
        pods: &'a [Value],
        history: &'a [Value],
    ) -> BackedUp<'a> {
        BackedUp {
            workload,
            history,
            pods,
            fsb: self.fsb,
            settings: self.settings,
        }
    }

    /// Why the guard leaves `workload` alone ([`OutOfScope::check`]), before any rule is applied.
    pub fn out_of_scope(&self, workload: &Workload) -> Option<OutOfScope> {
        OutOfScope::check(
            self.settings,
            &workload.namespace,
            self.fsb_workloads.contains(workload),
        )
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::fixtures::{
        a_daemonset, a_deployment, a_statefulset, five_workloads_three_with_fsb,
    };

    fn names(objects: &[Value]) -> Vec<&str> {
        let mut n: Vec<&str> = objects.iter().map(name_of).collect();
        n.sort();
        n
    }

    #[test]
    fn a_selection_by_fsb_workloads_keeps_each_guarded_workload_whole_and_nothing_else() {
        // The three with FSB pods, as the fixture builds them.
        let web = a_deployment("shop", "web")
            .with_replicas(2)
            .with_fsb_volume("data");
        let db = a_statefulset("shop", "db").with_fsb_volume("data");
        let agent = a_daemonset("shop", "agent").with_fsb_volume("logs");
        let (items, pvbs) = five_workloads_three_with_fsb();
        let mut backup = BackupObjects::default();
        for (resource, object) in items {
            backup.push(resource, object);
        }
        backup.push(Resource::CONFIG_MAPS, json!({"metadata": {"name": "cfg"}}));
        let fsb = FsbIndex::from_pod_volume_backups(&pvbs);
        let everything = backup.clone().selected(Selection::Everything(&fsb));
        assert_eq!(everything, backup);

        let kept = backup.selected(Selection::FsbWorkloads(&fsb));
        assert_eq!(names(&kept.deployments), ["web"]);
        assert_eq!(names(&kept.replicasets), names(&web.replicasets()));
        let mut pods = [web.pods(), db.pods(), agent.pods()].concat();
        pods.sort_by(|a, b| name_of(a).cmp(name_of(b)));
        assert_eq!(names(&kept.pods), names(&pods));
        assert_eq!(names(&kept.statefulsets), ["db"]);
        assert_eq!(names(&kept.daemonsets), ["agent"]);
        let mut revisions = [db.revisions(), agent.backup().controllerrevisions].concat();
        revisions.sort_by(|a, b| name_of(a).cmp(name_of(b)));
        assert_eq!(names(&kept.controllerrevisions), names(&revisions));
    }

    #[test]
    fn each_workload_reads_its_own_pods_and_history_once_arranged() {
        let (web, api) = (
            a_deployment("shop", "web").with_replicas(2),
            a_deployment("shop", "api"),
        );
        let (db, agent) = (
            a_statefulset("shop", "db").with_replicas(2),
            a_daemonset("shop", "agent"),
        );
        let mut backup = BackupObjects::default();
        // Interleaved, as a backup's files come.
        for part in [api.backup(), db.backup(), agent.backup(), web.backup()] {
            backup.deployments.extend(part.deployments);
            backup.replicasets.extend(part.replicasets);
            backup.pods.extend(part.pods);
            backup.statefulsets.extend(part.statefulsets);
            backup.daemonsets.extend(part.daemonsets);
            backup.controllerrevisions.extend(part.controllerrevisions);
        }
        let bare = json!({"kind": "Pod", "metadata": {"name": "bare", "namespace": "shop"}});
        backup.pods.push(bare);
        let (all_pods, all_revisions) = (backup.pods.len(), backup.controllerrevisions.len());
        let web_d = web.deployment();
        // Not arranged: every object.
        let (pods, history) = backup.owned_by(Kind::Deployment, &web_d);
        assert_eq!(
            (pods.len(), history.len()),
            (all_pods, backup.replicasets.len())
        );

        backup.arrange_by_owner();
        assert_eq!(backup.pods.len(), all_pods, "nothing lost");
        assert_eq!(backup.controllerrevisions.len(), all_revisions);
        let (pods, history) = backup.owned_by(Kind::Deployment, &web_d);
        assert_eq!(names(&pods), names(&web.pods()));
        assert_eq!(names(&history), names(&web.replicasets()));
        let (pods, history) = backup.owned_by(Kind::StatefulSet, &db.statefulset());
        assert_eq!(names(&pods), names(&db.pods()));
        assert_eq!(names(&history), names(&db.revisions()));
        let (pods, history) = backup.owned_by(Kind::DaemonSet, &agent.daemonset());
        assert_eq!(names(&pods), names(&agent.pods()));
        assert_eq!(names(&history), names(&agent.backup().controllerrevisions));
        let unknown = a_deployment("shop", "gone").deployment();
        let (pods, history) = backup.owned_by(Kind::Deployment, &unknown);
        assert!(pods.is_empty() && history.is_empty());
        let w = Workload::new(Kind::StatefulSet, "shop", "db");
        assert_eq!(backup.workload(&w).as_deref().map(name_of), Some("db"));
        assert_eq!(
            backup.workload(&Workload::new(Kind::Deployment, "shop", "db")),
            None
        );
    }
}
