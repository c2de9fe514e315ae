//! Which backed-up objects a restore keeps, decided item by item while the backup streams in.
//!
//! A restore reads a few workloads of a backup that may hold tens of thousands: holding every
//! Deployment, ReplicaSet and pod until the end of the download, then parsing the kept ones into
//! trees, took ~500 MiB for a backup of 63,750 such items (issue 18's scale benchmark). The sieve
//! looks at each item once as it arrives and keeps the text of those a plan may read (see
//! [`BackupObjects::push_packed`]); the rest is dropped at once.
//!
//! Under scope `fsb-only`, whether a workload is guarded depends on its pods, which a backup may
//! hold before or after the workload and its history. The PodVolumeBackups name the FSB pods
//! before the download starts, and the controllers name what they create after their owner (a
//! Deployment's pod is `<deployment>-<hash>-<suffix>`, a StatefulSet's `<statefulset>-<n>`, a
//! DaemonSet's `<daemonset>-<suffix>`), so a workload named like a prefix of an FSB pod is kept
//! until the pods decide. What is dropped is remembered by workload; if the pods later show such
//! a workload guarded (objects named otherwise, or FSB data only in legacy annotations), the
//! sieve says so and the backup is read a second time, keeping exactly the guarded workloads.

use std::collections::{HashMap, HashSet};

use crate::existing::identity_read;
use crate::fsb::FsbIndex;
use crate::resources::Resource;
use crate::restore::{BackupObjects, Selection, history_owner};
use crate::toolkit::owners::{Kind, Workload};
use crate::toolkit::scope::FsbWorkloads;

/// Keeps, as the backup streams in, the backed-up objects of the workloads a restore guards.
#[derive(Debug)]
pub struct BackupSieve<'a> {
    fsb: &'a FsbIndex,
    keeps: Keeps,
    /// The workloads with an FSB pod among the pods seen so far (all of them at the end).
    fsb_workloads: FsbWorkloads,
    /// Workloads of which an object was dropped (scope `fsb-only`, first reading).
    dropped: HashSet<Workload>,
    /// The objects kept, as text.
    objects: BackupObjects,
}

#[derive(Debug)]
enum Keeps {
    /// Every workload's objects (scope `all`).
    Everything,
    /// The objects of the workloads with FSB pods: those known so far, and those whose name an
    /// FSB pod's name starts with (by backup namespace: each name its pods' names start with).
    FsbWorkloads {
        likely: HashMap<String, HashSet<String>>,
    },
    /// The objects of these workloads and no other (the second reading).
    Exactly(FsbWorkloads),
}

/// What the sieve kept once the backup was read.
#[derive(Debug)]
pub enum Sifted<'a> {
    /// The objects the restore's plans read.
    Kept(BackupObjects),
    /// An object of a guarded workload was dropped before its pods showed it guarded: read the
    /// backup again with this sieve, which keeps exactly the guarded workloads' objects.
    ReadAgain(BackupSieve<'a>),
}

impl<'a> BackupSieve<'a> {
    /// A sieve for `selection`.
    pub fn new(selection: Selection<'a>) -> Self {
        let (fsb, keeps) = match selection {
            Selection::Everything(fsb) => (fsb, Keeps::Everything),
            Selection::FsbWorkloads(fsb) => (
                fsb,
                Keeps::FsbWorkloads {
                    likely: likely_workload_names(fsb),
                },
            ),
        };
        Self::with(fsb, keeps)
    }

    fn with(fsb: &'a FsbIndex, keeps: Keeps) -> Self {
        Self {
            fsb,
            keeps,
            fsb_workloads: FsbWorkloads::default(),
            dropped: HashSet::new(),
            objects: BackupObjects::default(),
        }
    }

    /// Looks at one backed-up item of `resource`, `namespace`/`name` in the backup: its JSON text
    /// is kept when a plan may read it, else dropped. Items of other resources are ignored. Fails
    /// when the text is not a JSON object in UTF-8 (all of it is checked; only what
    /// [`identity_read`] reads is built).
    pub fn offer(
        &mut self,
        resource: Resource,
        namespace: &str,
        name: &str,
        text: Vec<u8>,
    ) -> serde_json::Result<()> {
        let workload_kind = match resource {
            r if r == Resource::DEPLOYMENTS => Some(Kind::Deployment),
            r if r == Resource::STATEFUL_SETS => Some(Kind::StatefulSet),
            r if r == Resource::DAEMON_SETS => Some(Kind::DaemonSet),
            _ => None,
        };
        let owner = if let Some(kind) = workload_kind {
            identity_read(&text)?;
            Some(Workload::new(kind, namespace, name))
        } else if resource == Resource::PODS {
            // Counts the pod's workload when the pod holds FSB data; bare pods are never guarded.
            self.fsb_workloads.add_pod(&identity_read(&text)?, self.fsb)
        } else if resource == Resource::REPLICA_SETS || resource == Resource::CONTROLLER_REVISIONS {
            history_owner(&identity_read(&text)?)
        } else {
            return Ok(());
        };
        let Some(owner) = owner else {
            return Ok(());
        };
        if !self.may_be_read(&owner) {
            if matches!(self.keeps, Keeps::FsbWorkloads { .. }) {
                self.dropped.insert(owner);
            }
            return Ok(());
        }
        // The skipped fields' strings were not decoded: a byte that is not UTF-8 is refused here,
        // as parsing the whole item would have.
        let text = String::from_utf8(text)
            .map_err(|_| <serde_json::Error as serde::de::Error>::custom("not UTF-8"))?;
        self.objects
            .push_packed(resource, owner, text.into_boxed_str());
        Ok(())
    }

    /// Whether a plan may read the objects of `workload`, as far as the items seen so far tell.
    fn may_be_read(&self, workload: &Workload) -> bool {
        match &self.keeps {
            Keeps::Everything => true,
            Keeps::FsbWorkloads { likely } => {
                self.fsb_workloads.contains(workload)
                    || likely
                        .get(&workload.namespace)
                        .is_some_and(|names| names.contains(&workload.name))
            }
            Keeps::Exactly(guarded) => guarded.contains(workload),
        }
    }

    /// The kept objects, now that every item was offered; or the sieve to read the backup with
    /// again (see [`Sifted::ReadAgain`]).
    pub fn finish(self) -> Sifted<'a> {
        let Self {
            fsb,
            keeps,
            fsb_workloads,
            dropped,
            mut objects,
        } = self;
        let everything = match keeps {
            Keeps::Everything => true,
            Keeps::FsbWorkloads { .. } if dropped.iter().any(|w| fsb_workloads.contains(w)) => {
                return Sifted::ReadAgain(Self::with(fsb, Keeps::Exactly(fsb_workloads)));
            }
            Keeps::FsbWorkloads { .. } | Keeps::Exactly(_) => false,
        };
        objects.retain_packed(|w| everything || fsb_workloads.contains(w));
        Sifted::Kept(objects.with_fsb_workloads(fsb_workloads))
    }
}

/// By backup namespace, the names a workload with FSB pods may have: each prefix of an FSB pod's
/// name that ends before a `-`.
fn likely_workload_names(fsb: &FsbIndex) -> HashMap<String, HashSet<String>> {
    let mut likely: HashMap<String, HashSet<String>> = HashMap::new();
    for (namespace, pod) in fsb.pods() {
        let names = likely.entry(namespace.to_owned()).or_default();
        for (at, _) in pod.match_indices('-') {
            names.insert(pod[..at].to_owned());
        }
    }
    likely
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;
    use crate::fixtures::five_workloads_three_with_fsb;
    use crate::toolkit::object::{name_of, namespace_of};

    /// [`five_workloads_three_with_fsb`] and a bare pod.
    fn a_backup() -> (Vec<(Resource, Value)>, Vec<Value>) {
        let (mut items, pvbs) = five_workloads_three_with_fsb();
        let bare =
            serde_json::json!({"kind": "Pod", "metadata": {"name": "bare", "namespace": "shop"}});
        items.push((Resource::PODS, bare));
        (items, pvbs)
    }

    fn sifted(selection: Selection<'_>, items: &[(Resource, Value)]) -> (BackupObjects, usize) {
        let mut sieve = BackupSieve::new(selection);
        for readings in 1.. {
            for (resource, object) in items {
                let text = serde_json::to_vec(object).unwrap();
                sieve
                    .offer(*resource, namespace_of(object), name_of(object), text)
                    .unwrap();
            }
            sieve = match sieve.finish() {
                Sifted::Kept(objects) => return (objects, readings),
                Sifted::ReadAgain(again) => again,
            };
        }
        unreachable!()
    }

    /// Each workload's objects, by name, as a plan reads them.
    fn as_plans_read(backup: &BackupObjects) -> Vec<(String, Vec<String>, Vec<String>)> {
        let names = |objects: &[Value]| -> Vec<String> {
            let mut names: Vec<String> = objects.iter().map(|o| name_of(o).to_owned()).collect();
            names.sort();
            names
        };
        let mut read: Vec<_> = backup
            .all_workloads()
            .into_iter()
            .map(|w| {
                let object = backup.workload(&w).expect("each workload reads");
                assert_eq!(name_of(&object), w.name);
                let (pods, history) = backup.owned_by(w.kind, &object);
                (w.name, names(&pods), names(&history))
            })
            .collect();
        read.sort();
        read
    }

    #[test]
    fn the_sieve_keeps_what_the_selection_keeps_whatever_the_order_of_the_backup() {
        let (items, pvbs) = a_backup();
        let fsb = FsbIndex::from_pod_volume_backups(&pvbs);
        let mut all = BackupObjects::default();
        for (resource, object) in &items {
            all.push(*resource, object.clone());
        }
        let mut pods_first = items.clone();
        pods_first.sort_by_key(|(r, _)| *r != Resource::PODS);
        let mut pods_last = items.clone();
        pods_last.sort_by_key(|(r, _)| *r == Resource::PODS);
        for order in [&items, &pods_first, &pods_last] {
            for selection in [Selection::FsbWorkloads(&fsb), Selection::Everything(&fsb)] {
                let mut expected = all.clone().selected(selection);
                expected.arrange_by_owner();
                let (mut kept, readings) = sifted(selection, order);
                kept.arrange_by_owner();
                assert_eq!(as_plans_read(&kept), as_plans_read(&expected));
                assert_eq!(kept.fsb_workloads(&fsb), all.fsb_workloads(&fsb));
                assert!(
                    kept.pods.is_empty() && kept.deployments.is_empty(),
                    "kept as text"
                );
                // Named as the controllers name them: one reading, whatever the order.
                assert_eq!(readings, 1);
            }
        }
        let guarded = as_plans_read(&sifted(Selection::FsbWorkloads(&fsb), &items).0);
        let names: Vec<&str> = guarded.iter().map(|(n, _, _)| n.as_str()).collect();
        assert_eq!(names, ["agent", "db", "web"]);
    }

    #[test]
    fn a_workload_dropped_before_its_pods_showed_it_guarded_is_read_again() {
        let (items, pvbs) = a_backup();
        // The PodVolumeBackups name pods no workload name is a prefix of.
        let renamed: Vec<Value> = pvbs
            .into_iter()
            .map(|mut pvb| {
                let pod = pvb["spec"]["pod"]["name"]
                    .as_str()
                    .unwrap()
                    .replace('-', "_");
                pvb["spec"]["pod"]["name"] = pod.into();
                pvb
            })
            .collect();
        let items: Vec<(Resource, Value)> = items
            .into_iter()
            .map(|(resource, mut object)| {
                if resource == Resource::PODS {
                    let name = name_of(&object).replace('-', "_");
                    object["metadata"]["name"] = name.into();
                }
                (resource, object)
            })
            .collect();
        let fsb = FsbIndex::from_pod_volume_backups(&renamed);
        let mut pods_last = items.clone();
        pods_last.sort_by_key(|(r, _)| *r == Resource::PODS);
        let (kept, readings) = sifted(Selection::FsbWorkloads(&fsb), &pods_last);
        assert_eq!(readings, 2);
        // `db`'s pods are no longer `<statefulset>-<n>`: no workload owns them.
        let names: Vec<String> = as_plans_read(&kept)
            .into_iter()
            .map(|(n, _, _)| n)
            .collect();
        assert_eq!(names, ["agent", "web"]);
    }

    #[test]
    fn what_the_sieve_reads_of_a_pod_decides_as_the_whole_pod_does() {
        let (items, pvbs) = a_backup();
        let fsb = FsbIndex::from_pod_volume_backups(&pvbs);
        let mut pods: Vec<Value> = items
            .into_iter()
            .filter(|(r, _)| *r == Resource::PODS)
            .map(|(_, pod)| pod)
            .collect();
        // FSB data named only by legacy annotations; a PodVolumeBackup's volume that is projected.
        let mut legacy = pods[0].clone();
        legacy["metadata"]["name"] = "legacy-0".into();
        legacy["metadata"]["annotations"] = serde_json::json!({"snapshot.velero.io/data": "s9"});
        let mut projected = pods[0].clone();
        projected["spec"]["volumes"] = serde_json::json!([{"name": "data", "projected": {}}]);
        pods.extend([legacy, projected]);
        for pod in &pods {
            let read = identity_read(&serde_json::to_vec(pod).unwrap()).unwrap();
            assert_eq!(Workload::owning(&read), Workload::owning(pod), "{pod}");
            assert_eq!(fsb.volumes_of(&read), fsb.volumes_of(pod), "{pod}");
        }
        assert!(pods.iter().any(|p| !fsb.volumes_of(p).is_empty()));
        assert!(fsb.volumes_of(&pods[pods.len() - 2]).contains("data"));
        assert!(fsb.volumes_of(&pods[pods.len() - 1]).is_empty());
    }

    #[test]
    fn text_that_is_not_a_json_object_is_refused() {
        let fsb = FsbIndex::from_pod_volume_backups(&[]);
        for resource in [
            Resource::PODS,
            Resource::DEPLOYMENTS,
            Resource::REPLICA_SETS,
        ] {
            for text in [&b"{\"metadata\": "[..], b"[1, 2]", b"\"pod\""] {
                let mut sieve = BackupSieve::new(Selection::Everything(&fsb));
                assert!(sieve.offer(resource, "shop", "x", text.to_vec()).is_err());
            }
        }
        // A byte that is not UTF-8 in a field the sieve skips, in an object it keeps.
        let skipped = b"{\"metadata\": {\"name\": \"x\"}, \"status\": {\"message\": \"\xff\"}}";
        let mut sieve = BackupSieve::new(Selection::Everything(&fsb));
        assert!(
            sieve
                .offer(Resource::DEPLOYMENTS, "shop", "x", skipped.to_vec())
                .is_err()
        );
    }
}
