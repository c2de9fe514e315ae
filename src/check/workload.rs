//! One workload in the report, whatever its kind: what the rules do to it, what that does without
//! the plugin, what the plugin does about it, and one verdict. The facts only one kind has (a
//! Deployment's ReplicaSets, a StatefulSet's update revision, a DaemonSet's generation) sit in
//! [`KindFacts`].
//!
//! The JSON is written by hand so each kind keeps the field order docs/check.md documents.

use serde::Serialize;
use serde::ser::{SerializeStruct, Serializer};

use fsb_guard_core::{FsbPod, Kind, PodCorrection, TemplateChange};

/// A pod and its FSB volumes.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct PodVolumes {
    pub pod: String,
    pub volumes: Vec<String>,
}

impl PodVolumes {
    /// The pods holding FSB data, as the plan lists them.
    pub fn of(fsb: &[FsbPod]) -> Vec<Self> {
        fsb.iter()
            .map(|p| Self {
                pod: p.name.clone(),
                volumes: p.volumes.iter().cloned().collect(),
            })
            .collect()
    }
}

/// One pod as the plugin corrects it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PodAction {
    pub pod: String,
    pub re_emitted: Vec<String>,
    pub withheld: Vec<String>,
    /// Why the whole change was withheld from this pod (invariants it would break).
    pub broken: Vec<String>,
    /// DaemonSet pods: `pod-template-generation` before and after.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generation_label: Option<(Option<String>, String)>,
    /// DaemonSet pods: template paths the controller owns, left as restored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub controller_owned: Option<Vec<String>>,
}

impl PodAction {
    pub fn of(name: &str, c: &PodCorrection) -> Self {
        Self {
            pod: name.to_owned(),
            re_emitted: c.re_emitted.clone(),
            withheld: c.withheld.clone(),
            broken: c.broken.clone(),
            generation_label: None,
            controller_owned: None,
        }
    }
}

/// What happens to one ReplicaSet of a corrected Deployment.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReplicaSetAction {
    pub replica_set: String,
    /// `retemplated`, `past-revision-set-apart` or `unchanged`.
    pub action: &'static str,
    /// The restore's own ReplicaSet rules change the template after the plugin; the plugin aligns
    /// the live ReplicaSet at the Deployment step.
    pub rules_change_it_after: bool,
}

/// The ControllerRevision a StatefulSet's pods point to, as the plugin restores it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RevisionReport {
    pub name: String,
    /// `status`, `template-data` or `pods`: where the update revision was read.
    pub found_by: &'static str,
    pub in_backup: bool,
    /// `rewritten` (data = the final template, highest revision number), `unchanged`, or
    /// `relabel-pods` (not in the backup: the plugin relabels the pods to the revision the
    /// controller will create).
    pub action: &'static str,
    /// The revision number it gets when rewritten.
    pub revision_number: Option<i64>,
    /// The name the controller gives the final template's revision (offline form).
    pub predicted_name_without_revisions: String,
}

/// What the restore does to a workload's replica count.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ReplicaReport {
    /// `R`: `spec.replicas` as backed up (`null`: not a count).
    pub from: Option<u64>,
    /// `R'`: after the restore's rules (`null`: not a count; the API server rejects the object).
    pub to: Option<u64>,
    /// `unchanged`, `lowered`, `raised` or `unparseable`.
    pub change: &'static str,
    /// Backed-up pods Velero would restore for the workload's current revision (Deployment: the
    /// current ReplicaSet's pods; StatefulSet: every ordinal).
    pub restored_pods: usize,
    /// With the plugin: the pods restored when it skips some (empty when it skips none).
    pub kept: Vec<String>,
    /// With the plugin: pods not restored (`skipRestore`); `volumes` = their FSB data that is not
    /// restored (empty when they hold none).
    pub skipped: Vec<PodVolumes>,
    /// With the plugin: pods and volumes whose FSB data will not be restored.
    pub fsb_data_not_restored: Vec<PodVolumes>,
    /// Without the plugin: pods with FSB data the controller may delete while they restore.
    pub at_risk_without_plugin: Vec<PodVolumes>,
    /// Pods of older revisions (a backup taken mid-rollout): restored as they are; the resumed
    /// rollout replaces them.
    pub older_revision_pods: Vec<String>,
    /// One sentence for people.
    pub summary: String,
}

impl ReplicaReport {
    /// Whether the replica count deserves lines in the report.
    pub fn matters(&self) -> bool {
        self.change != "unchanged" || !self.skipped.is_empty()
    }
}

/// What velero-fsb-guard does for one workload.
#[derive(Debug, Clone)]
pub struct PluginReport {
    /// `corrects` (template and/or replicas), `nothing-to-do` or `leaves-alone`.
    pub action: &'static str,
    /// Why the plugin leaves the workload alone.
    pub reason: Option<String>,
    pub pods: Vec<PodAction>,
    /// Template paths withheld from at least one pod (to keep its FSB restore working).
    pub withheld: Vec<String>,
}

impl PluginReport {
    /// The plugin's action: it leaves the workload alone when the plan skips it (`skipped`: why)
    /// and there is something to do, else it corrects what there is to correct.
    pub fn deciding(skipped: Option<&String>, something_to_do: bool) -> Self {
        let (action, reason) = match (skipped, something_to_do) {
            (_, false) => ("nothing-to-do", None),
            (Some(why), true) => ("leaves-alone", Some(why.clone())),
            (None, true) => ("corrects", None),
        };
        Self {
            action,
            reason,
            pods: Vec::new(),
            withheld: Vec::new(),
        }
    }

    /// The pods' corrections and the union of what was withheld from them.
    pub fn with_pods(mut self, pods: Vec<PodAction>) -> Self {
        let mut withheld: Vec<String> = pods.iter().flat_map(|p| p.withheld.clone()).collect();
        withheld.sort();
        withheld.dedup();
        self.pods = pods;
        self.withheld = withheld;
        self
    }

    pub fn corrects(&self) -> bool {
        self.action == "corrects"
    }
}

/// What only one kind of workload has.
#[derive(Debug, Clone)]
pub enum KindFacts {
    Deployment {
        /// The ReplicaSet whose template equals the Deployment's.
        current_replica_set: Option<String>,
        replica_sets: Vec<ReplicaSetAction>,
    },
    StatefulSet {
        /// Pods of an older revision (backup taken mid-rollout), restored as they are.
        older_revision_pods: Vec<String>,
        /// `None` without a template change.
        revision: Option<RevisionReport>,
    },
    DaemonSet {
        /// Without the plugin the pods keep the backed-up template (nothing replaces them).
        pods_keep_old_template_without_plugin: bool,
        backed_up_generation: Option<String>,
        /// `kept:<n>`, `removed` (the API server starts at 1) or `unparseable`.
        restored_generation: String,
        /// Template paths that change which nodes run a pod (the controller deletes pods on nodes
        /// that no longer qualify; reported only).
        node_eligibility: Vec<String>,
        /// Pods of past generations, restored as they are.
        past_generation_pods: Vec<String>,
    },
}

/// One workload of the backup.
#[derive(Debug, Clone)]
pub struct WorkloadReport {
    /// Original (backup) namespace.
    pub namespace: String,
    pub name: String,
    pub fsb_pods: Vec<PodVolumes>,
    /// Without the plugin the controller replaces the restored pods (a Deployment or StatefulSet
    /// rolls out; a DaemonSet's pods stop counting as up to date).
    pub rollout_without_plugin: bool,
    /// Template paths the rules change (no values).
    pub template_paths: Vec<String>,
    /// Rules that matched the workload but fail (Velero restores it without their patch).
    pub rule_errors: Vec<String>,
    /// Pods and volumes whose FSB restore the rollout or a scale-down would break without the
    /// plugin.
    pub at_risk: Vec<PodVolumes>,
    pub plugin: PluginReport,
    /// With the plugin, the workload still rolls out.
    pub rollout_with_plugin: bool,
    /// The replica count before and after the rules (DaemonSets have none).
    pub replicas: Option<ReplicaReport>,
    pub verdict: String,
    pub facts: KindFacts,
}

impl WorkloadReport {
    /// The common part of a report; `at_risk` and `verdict` are the kind's to fill.
    pub fn new(
        namespace: &str,
        name: &str,
        fsb: &[FsbPod],
        rollout_without_plugin: bool,
        change: Option<&TemplateChange>,
        plugin: PluginReport,
        facts: KindFacts,
    ) -> Self {
        Self {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            fsb_pods: PodVolumes::of(fsb),
            rollout_without_plugin,
            template_paths: change.map(|c| c.paths.clone()).unwrap_or_default(),
            rule_errors: change.map(|c| c.rule_errors.clone()).unwrap_or_default(),
            at_risk: Vec::new(),
            rollout_with_plugin: rollout_without_plugin && !plugin.corrects(),
            plugin,
            replicas: None,
            verdict: String::new(),
            facts,
        }
    }

    /// The pods at risk without the plugin: every FSB pod on a rollout, else those the lowered
    /// replica count deletes (not-ready, restoring ones first); then the replica report itself.
    pub fn with_replicas(mut self, replicas: ReplicaReport) -> Self {
        self.at_risk = if self.rollout_without_plugin {
            self.fsb_pods.clone()
        } else {
            replicas.at_risk_without_plugin.clone()
        };
        self.replicas = Some(replicas);
        self
    }

    pub fn kind(&self) -> Kind {
        match self.facts {
            KindFacts::Deployment { .. } => Kind::Deployment,
            KindFacts::StatefulSet { .. } => Kind::StatefulSet,
            KindFacts::DaemonSet { .. } => Kind::DaemonSet,
        }
    }

    /// `Deployment shop/web`.
    pub fn label(&self) -> String {
        format!("{} {}/{}", self.kind().as_str(), self.namespace, self.name)
    }
}

impl Serialize for WorkloadReport {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut o = serializer.serialize_struct("WorkloadReport", 14)?;
        o.serialize_field("namespace", &self.namespace)?;
        o.serialize_field("name", &self.name)?;
        o.serialize_field("fsbPods", &self.fsb_pods)?;
        o.serialize_field("rolloutWithoutPlugin", &self.rollout_without_plugin)?;
        if let KindFacts::DaemonSet {
            pods_keep_old_template_without_plugin,
            ..
        } = &self.facts
        {
            o.serialize_field(
                "podsKeepOldTemplateWithoutPlugin",
                pods_keep_old_template_without_plugin,
            )?;
        }
        o.serialize_field("templatePaths", &self.template_paths)?;
        o.serialize_field("ruleErrors", &self.rule_errors)?;
        match &self.facts {
            KindFacts::StatefulSet { .. } => o.serialize_field("replicas", &self.replicas)?,
            KindFacts::DaemonSet {
                backed_up_generation,
                restored_generation,
                node_eligibility,
                ..
            } => {
                o.serialize_field("backedUpGeneration", backed_up_generation)?;
                o.serialize_field("restoredGeneration", restored_generation)?;
                o.serialize_field("nodeEligibility", node_eligibility)?;
            }
            KindFacts::Deployment { .. } => {}
        }
        o.serialize_field("atRisk", &self.at_risk)?;
        o.serialize_field("plugin", &PluginJson(self))?;
        o.serialize_field("rolloutWithPlugin", &self.rollout_with_plugin)?;
        if let KindFacts::Deployment { .. } = &self.facts {
            o.serialize_field("replicas", &self.replicas)?;
        }
        o.serialize_field("verdict", &self.verdict)?;
        o.end()
    }
}

/// `plugin` of a workload's JSON: the common fields around the kind's own.
struct PluginJson<'a>(&'a WorkloadReport);

impl Serialize for PluginJson<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let (plugin, facts) = (&self.0.plugin, &self.0.facts);
        let mut o = serializer.serialize_struct("PluginReport", 6)?;
        o.serialize_field("action", plugin.action)?;
        o.serialize_field("reason", &plugin.reason)?;
        if let KindFacts::Deployment {
            current_replica_set,
            ..
        } = facts
        {
            o.serialize_field("currentReplicaSet", current_replica_set)?;
        }
        o.serialize_field("pods", &plugin.pods)?;
        match facts {
            KindFacts::Deployment { replica_sets, .. } => {
                o.serialize_field("replicaSets", replica_sets)?;
            }
            KindFacts::StatefulSet {
                older_revision_pods,
                revision,
            } => {
                o.serialize_field("olderRevisionPods", older_revision_pods)?;
                o.serialize_field("revision", revision)?;
            }
            KindFacts::DaemonSet {
                past_generation_pods,
                ..
            } => o.serialize_field("pastGenerationPods", past_generation_pods)?,
        }
        o.serialize_field("withheld", &plugin.withheld)?;
        o.end()
    }
}
