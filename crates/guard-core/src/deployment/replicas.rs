//! Replica-count changes (issue 8): a restore that lowers a Deployment's `spec.replicas` makes the
//! controller scale the restored ReplicaSet down, and it deletes not-ready pods first — exactly the
//! pods still waiting in `restore-wait`, whose PodVolumeRestores then die with them.
//!
//! The decision, pure and I/O-free: `R'` = the Deployment's `spec.replicas` after the restore's
//! rules, `N` = the backed-up pods of its current ReplicaSet (template `≡ T`) that Velero restores.
//! When `R' < N` only `R'` of them are restored — pods with file-system-backup data first, then by
//! name — the rest are skipped (`skipRestore`), and the restored ReplicaSet gets `spec.replicas = R'`
//! so the controller has nothing to delete. Raising the count needs nothing: new pods are created.
//!
//! Older ReplicaSets that still hold pods (a backup taken mid-rollout) keep their pods and replicas:
//! that is the rollout the backup interrupted, which the controller resumes. Their
//! `deployment.kubernetes.io/desired-replicas` annotation is set to `R'` (as is the current
//! ReplicaSet's) so the controller does not take the restore for a scaling event: a proportional
//! scale-down across the active ReplicaSets could otherwise delete kept pods of the current one.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::fsb::FsbIndex;
use crate::toolkit::object::{annotate, name_of, namespace_of, set_path, str_at};
use crate::toolkit::owners::{pod_lineage, replicaset_owner};
use crate::toolkit::replicas::Replicas;

/// Annotation the Deployment controller keeps on its ReplicaSets: the Deployment's replicas when it
/// last scaled them. Any active ReplicaSet whose value differs from the Deployment's makes the
/// controller's next pass a (proportional) scaling event.
pub const ANNOTATION_DESIRED_REPLICAS: &str = "deployment.kubernetes.io/desired-replicas";
/// Annotation (ReplicaSets): `"R -> R'"`, the replica change the guard applied.
pub const ANNOTATION_REPLICAS_LOWERED: &str = "fsb-guard.io/replicas-lowered";

/// A pod the guard does not restore.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedPod {
    pub name: String,
    /// Its volumes with file-system-backup data: not restored (the PodVolumeRestores are bound to
    /// this pod). Empty when the pod holds none.
    pub fsb_volumes: BTreeSet<String>,
}

/// Which of the current ReplicaSet's pods are restored when `R' < N`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodChoice {
    /// Restored, by name (`R'` of them).
    pub kept: Vec<String>,
    /// Not restored (`skipRestore`), by name.
    pub skipped: Vec<SkippedPod>,
}

impl PodChoice {
    /// The skipped pod `name`, if it is skipped.
    pub fn skipped(&self, name: &str) -> Option<&SkippedPod> {
        self.skipped.iter().find(|p| p.name == name)
    }

    /// Skipped pods whose FSB data is not restored.
    pub fn fsb_dropped(&self) -> impl Iterator<Item = &SkippedPod> {
        self.skipped.iter().filter(|p| !p.fsb_volumes.is_empty())
    }
}

/// Keeps `target` of `pods` (name, FSB volumes): pods with FSB data first, then by name, so every
/// volume with FSB data is restored whenever `target` is at least the number of pods holding such
/// data (a shared volume is backed up through one pod only: keeping that pod keeps the data).
/// `None` when `target ≥ pods.len()`: nothing to skip.
pub fn choose_pods(target: u64, pods: &[(String, BTreeSet<String>)]) -> Option<PodChoice> {
    let target = usize::try_from(target).unwrap_or(usize::MAX);
    if target >= pods.len() {
        return None;
    }
    let mut order: Vec<&(String, BTreeSet<String>)> = pods.iter().collect();
    order.sort_by(|a, b| {
        a.1.is_empty()
            .cmp(&b.1.is_empty())
            .then_with(|| a.0.cmp(&b.0))
    });
    let mut kept: Vec<String> = order[..target].iter().map(|p| p.0.clone()).collect();
    let mut skipped: Vec<SkippedPod> = order[target..]
        .iter()
        .map(|p| SkippedPod {
            name: p.0.clone(),
            fsb_volumes: p.1.clone(),
        })
        .collect();
    kept.sort();
    skipped.sort_by(|a, b| a.name.cmp(&b.name));
    Some(PodChoice { kept, skipped })
}

/// What the restore does to one Deployment's replica count, and what the guard does about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaPlan {
    /// `R`: the backed-up Deployment's `spec.replicas`.
    pub from: Replicas,
    /// `R'`: after the restore's rules.
    pub to: Replicas,
    /// The current ReplicaSet (template `≡ T`), if backed up.
    pub current_replicaset: Option<String>,
    /// `N`: backed-up pods of the current ReplicaSet that Velero restores (completed pods excluded).
    pub pods: usize,
    /// `Some` when `R' < N`: the pods kept and skipped.
    pub choice: Option<PodChoice>,
    /// Older ReplicaSets of the Deployment with `spec.replicas > 0` (a backup taken mid-rollout):
    /// their pods are restored as backed up; they get the desired-replicas annotation `R'`.
    pub older_active: Vec<String>,
    /// Backed-up pods of those older ReplicaSets (restored as backed up).
    pub older_pods: Vec<String>,
}

impl ReplicaPlan {
    /// `R'`, when the guard restores only `R'` of the current ReplicaSet's pods.
    pub fn lowered_to(&self) -> Option<u64> {
        self.choice.as_ref().and(self.to.count())
    }

    /// `"R -> R'"` for notes and annotations (counts only).
    pub fn change_text(&self) -> String {
        let show = |r: Replicas| match r {
            Replicas::Count(n) => n.to_string(),
            Replicas::Unparseable(t) => format!("unparseable ({t})"),
        };
        format!("{} -> {}", show(self.from), show(self.to))
    }
}

/// Velero does not restore pods that completed (`Succeeded`/`Failed`).
fn restored_by_velero(pod: &Value) -> bool {
    !matches!(
        str_at(pod, "/status/phase"),
        Some("Succeeded") | Some("Failed")
    )
}

/// The replica plan of `deployment` (backed up), given `R'` (`to`), the name of its current
/// ReplicaSet and the backed-up ReplicaSets and pods (any; others are ignored).
pub fn replica_plan(
    deployment: &Value,
    to: Replicas,
    current: Option<&str>,
    replicasets: &[Value],
    pods: &[Value],
    fsb: &FsbIndex,
) -> ReplicaPlan {
    let (namespace, name) = (namespace_of(deployment), name_of(deployment));
    let of_deployment = |p: &&Value| {
        pod_lineage(p).is_some_and(|l| l.namespace == namespace && l.deployment == name)
            && restored_by_velero(p)
    };
    let candidates: Vec<(String, BTreeSet<String>)> = pods
        .iter()
        .filter(of_deployment)
        .filter(|p| pod_lineage(p).is_some_and(|l| Some(l.replicaset.as_str()) == current))
        .map(|p| (name_of(p).to_owned(), fsb.volumes_of(p)))
        .collect();
    let choice = match (to, current) {
        (Replicas::Count(target), Some(_)) => choose_pods(target, &candidates),
        _ => None,
    };
    let mut older_active: Vec<String> = replicasets
        .iter()
        .filter(|rs| namespace_of(rs) == namespace && replicaset_owner(rs) == Some(name))
        .filter(|rs| Some(name_of(rs)) != current)
        .filter(|rs| Replicas::of(rs).count().is_some_and(|n| n > 0))
        .map(|rs| name_of(rs).to_owned())
        .collect();
    older_active.sort();
    let mut older_pods: Vec<String> = pods
        .iter()
        .filter(of_deployment)
        .filter(|p| pod_lineage(p).is_some_and(|l| Some(l.replicaset.as_str()) != current))
        .map(|p| name_of(p).to_owned())
        .collect();
    older_pods.sort();
    ReplicaPlan {
        from: Replicas::of(deployment),
        to,
        current_replicaset: current.map(str::to_owned),
        pods: candidates.len(),
        choice,
        older_active,
        older_pods,
    }
}

/// The current ReplicaSet item (as the plugin returns it) with `spec.replicas = R'`, the
/// desired-replicas annotation `R'` and the guard's record of the change.
pub fn lower_replicaset(item: &Value, plan: &ReplicaPlan, lowered_to: u64) -> Value {
    let mut item = align_desired_replicas(item, lowered_to);
    set_path(&mut item, &["spec", "replicas"], json!(lowered_to));
    annotate(
        &mut item,
        ANNOTATION_REPLICAS_LOWERED,
        Value::String(plan.change_text()),
    );
    item
}

/// An older active ReplicaSet item with the desired-replicas annotation `R'` (replicas untouched).
pub fn align_desired_replicas(item: &Value, lowered_to: u64) -> Value {
    let mut item = item.clone();
    annotate(
        &mut item,
        ANNOTATION_DESIRED_REPLICAS,
        Value::String(lowered_to.to_string()),
    );
    item
}

/// RFC 6902 operations that bring a live current ReplicaSet to `R'` replicas (empty when it has
/// them already).
pub fn live_replica_ops(live: &Value, lowered_to: u64) -> Vec<Value> {
    if Replicas::of(live) == Replicas::Count(lowered_to) {
        return Vec::new();
    }
    vec![json!({"op": "replace", "path": "/spec/replicas", "value": lowered_to})]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vols(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|s| (*s).to_owned()).collect()
    }

    fn pods(list: &[(&str, &[&str])]) -> Vec<(String, BTreeSet<String>)> {
        list.iter()
            .map(|(n, v)| ((*n).to_owned(), vols(v)))
            .collect()
    }

    #[test]
    fn shared_volume_backed_up_through_one_pod_keeps_that_pod() {
        // An RWX claim mounted by all three pods: Velero backs it up once, through web-c.
        let list = pods(&[("web-a", &[]), ("web-b", &[]), ("web-c", &["shared"])]);
        let choice = choose_pods(1, &list).unwrap();
        assert_eq!(choice.kept, ["web-c"]);
        assert_eq!(
            choice.skipped,
            [
                SkippedPod {
                    name: "web-a".into(),
                    fsb_volumes: vols(&[])
                },
                SkippedPod {
                    name: "web-b".into(),
                    fsb_volumes: vols(&[])
                },
            ]
        );
        assert_eq!(choice.fsb_dropped().count(), 0, "no FSB data lost");
    }

    #[test]
    fn per_pod_data_beyond_the_new_count_is_dropped_and_named() {
        // emptyDir data in every pod: 3 pods with their own data, 2 kept (by name).
        let list = pods(&[
            ("db-c", &["data"]),
            ("db-a", &["data", "logs"]),
            ("db-b", &["data"]),
        ]);
        let choice = choose_pods(2, &list).unwrap();
        assert_eq!(choice.kept, ["db-a", "db-b"]);
        let dropped: Vec<(&str, Vec<&str>)> = choice
            .fsb_dropped()
            .map(|p| {
                (
                    p.name.as_str(),
                    p.fsb_volumes.iter().map(String::as_str).collect(),
                )
            })
            .collect();
        assert_eq!(dropped, [("db-c", vec!["data"])]);
    }

    #[test]
    fn fsb_pods_are_kept_before_pods_without_data_whatever_their_names() {
        let list = pods(&[("a", &[]), ("b", &["d"]), ("c", &[]), ("d", &["d"])]);
        let choice = choose_pods(2, &list).unwrap();
        assert_eq!(choice.kept, ["b", "d"]);
        assert_eq!(
            choice
                .skipped
                .iter()
                .map(|p| p.name.as_str())
                .collect::<Vec<_>>(),
            ["a", "c"]
        );
    }

    #[test]
    fn lowering_to_zero_skips_every_pod() {
        let list = pods(&[("web-a", &["data"]), ("web-b", &[])]);
        let choice = choose_pods(0, &list).unwrap();
        assert!(choice.kept.is_empty());
        assert_eq!(choice.skipped.len(), 2);
        assert_eq!(choice.fsb_dropped().count(), 1);
    }

    #[test]
    fn raising_or_keeping_the_count_needs_nothing() {
        let list = pods(&[("web-a", &["data"]), ("web-b", &[])]);
        assert_eq!(choose_pods(2, &list), None);
        assert_eq!(choose_pods(5, &list), None);
        assert_eq!(choose_pods(0, &[]), None);
    }

    /// Every mix of pods with and without data up to 8 pods, every target up to 10:
    /// `min(target, N)` pods kept, the rest skipped, no pod in both, pods with data kept before
    /// pods without, and data dropped only for the pods with data beyond the target.
    #[test]
    fn choice_keeps_fsb_pods_whenever_they_fit_exhaustively() {
        for n in 0..=8usize {
            for mask in 0u32..(1 << n) {
                let list: Vec<(String, BTreeSet<String>)> = (0..n)
                    .map(|i| {
                        let has = mask & (1 << i) != 0;
                        let volumes = if has { vols(&["data"]) } else { vols(&[]) };
                        (format!("pod-{i:02}"), volumes)
                    })
                    .collect();
                let with_data = mask.count_ones() as usize;
                for target in 0..=10u64 {
                    let t = target as usize;
                    let Some(choice) = choose_pods(target, &list) else {
                        assert!(t >= n, "n={n} mask={mask:b} target={target}");
                        continue;
                    };
                    assert_eq!(choice.kept.len(), t);
                    assert_eq!(choice.kept.len() + choice.skipped.len(), n);
                    assert!(
                        choice
                            .skipped
                            .iter()
                            .all(|p| !choice.kept.contains(&p.name))
                    );
                    assert_eq!(choice.fsb_dropped().count(), with_data.saturating_sub(t));
                    if t >= with_data {
                        // Every pod with data is kept.
                        assert!(choice.skipped.iter().all(|p| p.fsb_volumes.is_empty()));
                    }
                }
            }
        }
    }

    fn rs(name: &str, owner: &str, replicas: u64) -> Value {
        json!({"metadata": {"name": name, "namespace": "shop",
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": owner, "controller": true}]},
            "spec": {"replicas": replicas}})
    }

    fn pod(name: &str, rs: &str, hash: &str, phase: &str) -> Value {
        json!({"metadata": {"name": name, "namespace": "shop", "labels": {"pod-template-hash": hash},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": rs, "controller": true}]},
            "spec": {"volumes": [{"name": "data", "emptyDir": {}}]},
            "status": {"phase": phase}})
    }

    #[test]
    fn mid_rollout_backup_chooses_among_current_pods_and_names_older_active_replicasets() {
        let deployment =
            json!({"metadata": {"name": "web", "namespace": "shop"}, "spec": {"replicas": 4}});
        let replicasets = [
            rs("web-new", "web", 2),
            rs("web-old", "web", 2),
            rs("web-older", "web", 0),
            rs("api-x", "api", 3),
        ];
        let pods = [
            pod("web-new-1", "web-new", "new", "Running"),
            pod("web-new-2", "web-new", "new", "Pending"),
            pod("web-new-3", "web-new", "new", "Succeeded"),
            pod("web-old-1", "web-old", "old", "Running"),
            pod("web-old-2", "web-old", "old", "Running"),
        ];
        let pvbs = [
            json!({"spec": {"pod": {"namespace": "shop", "name": "web-new-2"}, "volume": "data"}, "status": {"snapshotID": "s"}}),
            json!({"spec": {"pod": {"namespace": "shop", "name": "web-old-1"}, "volume": "data"}, "status": {"snapshotID": "s"}}),
        ];
        let fsb = FsbIndex::from_pod_volume_backups(&pvbs);
        let plan = replica_plan(
            &deployment,
            Replicas::Count(1),
            Some("web-new"),
            &replicasets,
            &pods,
            &fsb,
        );
        assert_eq!(plan.from, Replicas::Count(4));
        // The completed pod is not restored by Velero: N = 2.
        assert_eq!(plan.pods, 2);
        let choice = plan.choice.as_ref().unwrap();
        assert_eq!(choice.kept, ["web-new-2"]);
        assert_eq!(choice.skipped[0].name, "web-new-1");
        assert_eq!(plan.older_active, ["web-old"]);
        assert_eq!(plan.older_pods, ["web-old-1", "web-old-2"]);
        assert_eq!(plan.lowered_to(), Some(1));
        assert_eq!(plan.change_text(), "4 -> 1");
        // Without a current ReplicaSet or with an unparseable count there is no choice.
        let none = replica_plan(
            &deployment,
            Replicas::Count(1),
            None,
            &replicasets,
            &pods,
            &fsb,
        );
        assert_eq!(none.choice, None);
        let bad = replica_plan(
            &deployment,
            Replicas::Unparseable("string"),
            Some("web-new"),
            &replicasets,
            &pods,
            &fsb,
        );
        assert_eq!(bad.choice, None);
        assert_eq!(bad.lowered_to(), None);
    }

    #[test]
    fn replicaset_items_and_live_ops() {
        let plan = ReplicaPlan {
            from: Replicas::Count(3),
            to: Replicas::Count(1),
            current_replicaset: Some("web-x".into()),
            pods: 3,
            choice: None,
            older_active: Vec::new(),
            older_pods: Vec::new(),
        };
        let item = json!({"metadata": {"name": "web-x"}, "spec": {"replicas": 3}});
        let lowered = lower_replicaset(&item, &plan, 1);
        assert_eq!(lowered["spec"]["replicas"], 1);
        assert_eq!(
            lowered["metadata"]["annotations"][ANNOTATION_DESIRED_REPLICAS],
            "1"
        );
        assert_eq!(
            lowered["metadata"]["annotations"][ANNOTATION_REPLICAS_LOWERED],
            "3 -> 1"
        );
        let older = align_desired_replicas(&item, 1);
        assert_eq!(older["spec"]["replicas"], 3);
        assert_eq!(
            older["metadata"]["annotations"][ANNOTATION_DESIRED_REPLICAS],
            "1"
        );
        assert!(live_replica_ops(&lowered, 1).is_empty());
        assert_eq!(
            live_replica_ops(&item, 1),
            [json!({"op": "replace", "path": "/spec/replicas", "value": 1})]
        );
    }
}
