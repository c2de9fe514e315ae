//! Fixtures for the `check` tests: Deployments with their ReplicaSets and pods as an API server
//! returns them, written as a Velero backup in each layout (tarball, directory, bucket folder).
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

/// A Deployment described for a backup.
#[derive(Debug, Clone)]
pub struct App {
    pub namespace: String,
    pub name: String,
    pub hash: String,
    pub replicas: u64,
    pub labels: Value,
    pub deployment_labels: Value,
    pub template_spec: Value,
    /// Containers injected into pods only (sidecars), in front of the template's.
    pub pod_sidecars: Vec<Value>,
    pub pod_annotations: Value,
    /// Volumes with FSB data (PodVolumeBackups are generated for them).
    pub fsb_volumes: Vec<String>,
    /// Past revisions (hash, template spec): ReplicaSets scaled to 0, created earlier.
    pub past: Vec<(String, Value)>,
    /// FSB volumes backed up through this pod only (a shared claim); `None`: every pod.
    pub backed_up_through: Option<usize>,
    /// Pods the first past revision still runs (a backup taken mid-rollout).
    pub past_running: u64,
}

pub fn app(namespace: &str, name: &str, hash: &str) -> App {
    App {
        namespace: namespace.into(),
        name: name.into(),
        hash: hash.into(),
        replicas: 1,
        labels: json!({"app": name}),
        deployment_labels: json!({"app": name}),
        template_spec: json!({"containers": [{"name": "app", "image": "registry.example/app:1.0"}]}),
        pod_sidecars: Vec::new(),
        pod_annotations: json!({}),
        fsb_volumes: Vec::new(),
        past: Vec::new(),
        backed_up_through: None,
        past_running: 0,
    }
}

impl App {
    pub fn volume(mut self, volume: Value, mount: &str) -> Self {
        let name = volume["name"].clone();
        push(&mut self.template_spec, "volumes", volume);
        push(
            &mut self.template_spec["containers"][0],
            "volumeMounts",
            json!({"name": name, "mountPath": mount}),
        );
        self
    }
    pub fn fsb_volume(mut self, name: &str) -> Self {
        self = self.volume(json!({"name": name, "emptyDir": {}}), &format!("/{name}"));
        self.fsb_volumes.push(name.into());
        self
    }
    /// A ReadWriteMany claim mounted by every pod, backed up once, through pod `index`.
    pub fn shared_fsb_claim(mut self, name: &str, index: usize) -> Self {
        self = self.volume(
            json!({"name": name, "persistentVolumeClaim": {"claimName": format!("{name}-claim")}}),
            &format!("/{name}"),
        );
        self.fsb_volumes.push(name.into());
        self.backed_up_through = Some(index);
        self
    }
    pub fn env(mut self, name: &str, value: &str) -> Self {
        push(
            &mut self.template_spec["containers"][0],
            "env",
            json!({"name": name, "value": value}),
        );
        self
    }
    pub fn sidecar(mut self, name: &str, image: &str) -> Self {
        self.pod_sidecars
            .push(json!({"name": name, "image": image}));
        self
    }
    pub fn deployment_label(mut self, k: &str, v: &str) -> Self {
        self.deployment_labels[k] = json!(v);
        self
    }
    pub fn pod_annotation(mut self, k: &str, v: &str) -> Self {
        self.pod_annotations[k] = json!(v);
        self
    }
    pub fn past_revision(mut self, hash: &str, template_spec: Value) -> Self {
        self.past.push((hash.into(), template_spec));
        self
    }

    /// The first past revision still runs `pods` pods (backup taken mid-rollout).
    pub fn past_running(mut self, pods: u64) -> Self {
        self.past_running = pods;
        self
    }

    /// Past revision `i` as an app of its own (its pods, PodVolumeBackups).
    pub fn past_app(&self, i: usize) -> App {
        let (hash, spec) = &self.past[i];
        let mut past = self.clone();
        past.hash = hash.clone();
        past.template_spec = spec.clone();
        past.replicas = if i == 0 { self.past_running } else { 0 };
        past.past = Vec::new();
        past.past_running = 0;
        past.backed_up_through = None;
        past
    }

    /// The ReplicaSet of past revision `i` (older; 0 replicas unless it still runs pods).
    pub fn past_replicaset(&self, i: usize) -> Value {
        let past = self.past_app(i);
        let hash = &past.hash;
        let mut rs = past.replicaset();
        rs["spec"]["replicas"] = json!(past.replicas);
        rs["status"]["replicas"] = json!(past.replicas);
        rs["metadata"]["creationTimestamp"] = json!("2025-12-01T00:00:00Z");
        rs["metadata"]["uid"] = json!(format!("uid-rs-{}-{hash}", self.name));
        rs
    }

    pub fn replicas(mut self, n: u64) -> Self {
        self.replicas = n;
        self
    }

    pub fn template(&self) -> Value {
        json!({"metadata": {"creationTimestamp": null, "labels": self.labels}, "spec": self.template_spec})
    }

    pub fn rs_name(&self) -> String {
        format!("{}-{}", self.name, self.hash)
    }

    pub fn pod_names(&self) -> Vec<String> {
        (0..self.replicas)
            .map(|i| format!("{}-{}-p{i:04}", self.name, self.hash))
            .collect()
    }

    pub fn deployment(&self) -> Value {
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": self.name, "namespace": self.namespace, "uid": format!("uid-d-{}", self.name),
                "resourceVersion": "100", "generation": 2, "creationTimestamp": "2026-01-01T00:00:00Z",
                "labels": self.deployment_labels},
            "spec": {"replicas": self.replicas, "selector": {"matchLabels": self.labels},
                "strategy": {"type": "RollingUpdate"}, "template": self.template()},
            "status": {"replicas": self.replicas, "readyReplicas": self.replicas}
        })
    }

    pub fn replicaset(&self) -> Value {
        let mut template = self.template();
        template["metadata"]["labels"]["pod-template-hash"] = json!(self.hash);
        let mut labels = self.labels.clone();
        labels["pod-template-hash"] = json!(self.hash);
        json!({
            "apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": self.rs_name(), "namespace": self.namespace, "uid": format!("uid-rs-{}", self.name),
                "resourceVersion": "90", "creationTimestamp": "2026-01-01T00:00:01Z", "labels": labels,
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": self.name,
                    "uid": format!("uid-d-{}", self.name), "controller": true, "blockOwnerDeletion": true}]},
            "spec": {"replicas": self.replicas, "selector": {"matchLabels": labels}, "template": template},
            "status": {"replicas": self.replicas}
        })
    }

    pub fn pods(&self) -> Vec<Value> {
        let mut labels = self.labels.clone();
        labels["pod-template-hash"] = json!(self.hash);
        self.pod_names()
            .into_iter()
            .map(|name| {
                let mut spec = self.template_spec.clone();
                let mut containers = self.pod_sidecars.clone();
                containers.extend(spec["containers"].as_array().cloned().unwrap_or_default());
                spec["containers"] = Value::Array(containers);
                spec["nodeName"] = json!("worker-1");
                push(&mut spec, "volumes", json!({"name": "kube-api-access-x1", "projected": {"sources": []}}));
                json!({
                    "apiVersion": "v1", "kind": "Pod",
                    "metadata": {"name": name, "namespace": self.namespace, "uid": format!("uid-{name}"),
                        "labels": labels, "annotations": self.pod_annotations,
                        "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": self.rs_name(),
                            "uid": format!("uid-rs-{}", self.name), "controller": true, "blockOwnerDeletion": true}]},
                    "spec": spec,
                    "status": {"phase": "Running"}
                })
            })
            .collect()
    }

    pub fn pvbs(&self) -> Vec<Value> {
        let names = self.pod_names();
        let through: Vec<String> = match self.backed_up_through {
            Some(i) => vec![names[i].clone()],
            None => names,
        };
        let mut pvbs: Vec<Value> = through
            .iter()
            .flat_map(|pod| {
                self.fsb_volumes.iter().map(move |v| {
                    json!({"apiVersion": "velero.io/v1", "kind": "PodVolumeBackup",
                        "metadata": {"name": format!("bk-{pod}-{v}"), "namespace": "velero",
                            "labels": {"velero.io/backup-name": "bk"}},
                        "spec": {"node": "worker-1", "pod": {"kind": "Pod", "namespace": self.namespace, "name": pod},
                            "volume": v, "uploaderType": "kopia"},
                        "status": {"phase": "Completed", "snapshotID": format!("snap-{pod}-{v}")}})
                })
            })
            .collect();
        if self.past_running > 0 {
            pvbs.extend(self.past_app(0).pvbs());
        }
        pvbs
    }

    /// Every object of this app: (group-resource, namespace, name, object).
    pub fn objects(&self) -> Vec<(String, String, String, Value)> {
        let mut out = vec![
            (
                "deployments.apps".into(),
                self.namespace.clone(),
                self.name.clone(),
                self.deployment(),
            ),
            (
                "replicasets.apps".into(),
                self.namespace.clone(),
                self.rs_name(),
                self.replicaset(),
            ),
        ];
        for i in 0..self.past.len() {
            let rs = self.past_replicaset(i);
            let name = rs["metadata"]["name"].as_str().unwrap().to_owned();
            out.push(("replicasets.apps".into(), self.namespace.clone(), name, rs));
            for pod in self.past_app(i).pods() {
                let name = pod["metadata"]["name"].as_str().unwrap().to_owned();
                out.push(("pods".into(), self.namespace.clone(), name, pod));
            }
        }
        for pod in self.pods() {
            let name = pod["metadata"]["name"].as_str().unwrap().to_owned();
            out.push(("pods".into(), self.namespace.clone(), name, pod));
        }
        out
    }
}

fn push(target: &mut Value, key: &str, v: Value) {
    match target.get_mut(key).and_then(Value::as_array_mut) {
        Some(list) => list.push(v),
        None => target[key] = json!([v]),
    }
}

/// Objects beyond Deployments (StatefulSets, DaemonSets, their revisions and pods) and their
/// PodVolumeBackups.
#[derive(Debug, Clone, Default)]
pub struct Extra {
    /// (group-resource, namespace, name, object)
    pub objects: Vec<(String, String, String, Value)>,
    pub pvbs: Vec<Value>,
}

impl Extra {
    pub fn add(&mut self, gr: &str, obj: Value) {
        let ns = obj["metadata"]["namespace"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let name = obj["metadata"]["name"].as_str().unwrap().to_owned();
        self.objects.push((gr.into(), ns, name, obj));
    }
}

/// A PodVolumeBackup of `pod`'s `volume` as Velero creates it.
pub fn pvb(namespace: &str, pod: &str, volume: &str) -> Value {
    json!({"apiVersion": "velero.io/v1", "kind": "PodVolumeBackup",
        "metadata": {"name": format!("bk-{pod}-{volume}"), "namespace": "velero",
            "labels": {"velero.io/backup-name": "bk"}},
        "spec": {"node": "worker-1", "pod": {"kind": "Pod", "namespace": namespace, "name": pod},
            "volume": volume, "uploaderType": "kopia"},
        "status": {"phase": "Completed", "snapshotID": format!("snap-{pod}-{volume}")}})
}

/// The files of a backup tarball, in Velero's order: `metadata/version`, then each item at its
/// unversioned path and its `v1-preferredversion` copy.
pub fn backup_entries(apps: &[App], version: &str) -> Vec<(String, Vec<u8>)> {
    backup_entries_with(apps, &Extra::default(), version)
}

/// [`backup_entries`] with extra objects.
pub fn backup_entries_with(
    apps: &[App],
    extra_objects: &Extra,
    version: &str,
) -> Vec<(String, Vec<u8>)> {
    let mut entries = vec![(
        "metadata/version".to_owned(),
        format!("{version}\n").into_bytes(),
    )];
    let mut extra = vec![(
        "namespaces".to_owned(),
        String::new(),
        "shop".to_owned(),
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}}),
    )];
    extra.extend(apps.iter().flat_map(App::objects));
    extra.extend(extra_objects.objects.iter().cloned());
    for (gr, ns, name, obj) in extra {
        let body = serde_json::to_vec(&obj).unwrap();
        let scope = if ns.is_empty() {
            "cluster".to_owned()
        } else {
            format!("namespaces/{ns}")
        };
        entries.push((format!("resources/{gr}/{scope}/{name}.json"), body.clone()));
        entries.push((
            format!("resources/{gr}/v1-preferredversion/{scope}/{name}.json"),
            body,
        ));
    }
    entries
}

pub fn tar_gz(entries: &[(String, Vec<u8>)]) -> Vec<u8> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut tar = tar::Builder::new(gz);
    for (path, data) in entries {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o755);
        header.set_entry_type(tar::EntryType::Regular);
        header.set_cksum();
        tar.append_data(&mut header, path, data.as_slice()).unwrap();
    }
    tar.into_inner().unwrap().finish().unwrap()
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(data).unwrap();
    gz.finish().unwrap()
}

/// How a backup is laid out on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    Archive,
    Directory,
    /// With the PodVolumeBackup file beside the tarball.
    Bucket,
}

/// Writes the backup of `apps` under `dir` in `layout`; returns the path to pass to `--backup`.
pub fn write_backup(dir: &Path, apps: &[App], layout: Layout) -> PathBuf {
    write_backup_with(dir, apps, &Extra::default(), layout)
}

/// [`write_backup`] with extra objects and PodVolumeBackups.
pub fn write_backup_with(dir: &Path, apps: &[App], extra: &Extra, layout: Layout) -> PathBuf {
    let entries = backup_entries_with(apps, extra, "1.1.0");
    match layout {
        Layout::Archive => {
            let path = dir.join("bk-data.tar.gz");
            std::fs::write(&path, tar_gz(&entries)).unwrap();
            path
        }
        Layout::Directory => {
            let root = dir.join("extracted");
            for (p, data) in &entries {
                let file = root.join(p);
                std::fs::create_dir_all(file.parent().unwrap()).unwrap();
                std::fs::write(file, data).unwrap();
            }
            root
        }
        Layout::Bucket => {
            let folder = dir.join("backups").join("bk");
            std::fs::create_dir_all(&folder).unwrap();
            std::fs::write(folder.join("bk.tar.gz"), tar_gz(&entries)).unwrap();
            let mut pvbs: Vec<Value> = apps.iter().flat_map(App::pvbs).collect();
            pvbs.extend(extra.pvbs.iter().cloned());
            std::fs::write(
                folder.join("bk-podvolumebackups.json.gz"),
                gzip(&serde_json::to_vec(&pvbs).unwrap()),
            )
            .unwrap();
            std::fs::write(
                folder.join("velero-backup.json"),
                serde_json::to_vec_pretty(&json!({"apiVersion": "velero.io/v1", "kind": "Backup",
                    "metadata": {"name": "bk", "namespace": "velero"},
                    "status": {"formatVersion": "1.1.0", "phase": "Completed"}}))
                .unwrap(),
            )
            .unwrap();
            folder
        }
    }
}

/// Writes the PodVolumeBackups of `apps` as a plain JSON list; returns the path.
pub fn write_pvbs(dir: &Path, apps: &[App]) -> PathBuf {
    let path = dir.join("pvbs.json");
    let pvbs: Vec<Value> = apps.iter().flat_map(App::pvbs).collect();
    std::fs::write(&path, serde_json::to_vec(&pvbs).unwrap()).unwrap();
    path
}

/// Writes `text` to `dir/name`; returns the path.
pub fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// Reads a JSON file written by `--output-dir`.
pub fn read_json(path: &Path) -> Value {
    serde_json::from_slice(
        &std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
    )
    .unwrap()
}

/// Container `name` of a pod or template spec.
pub fn container<'a>(spec: &'a Value, name: &str) -> &'a Value {
    spec["containers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no container {name}"))
}

/// A StatefulSet `name` in `shop` with `replicas` pods `<name>-<n>`, each holding FSB data in
/// emptyDir volume `data`, its update revision `<name>-6c9f7d8b5` (revision 2) in the backup.
pub fn statefulset(name: &str, replicas: u64) -> Extra {
    let labels = json!({"app": name});
    let revision = format!("{name}-6c9f7d8b5");
    let template = json!({"metadata": {"creationTimestamp": null, "labels": labels},
        "spec": {"containers": [{"name": "db", "image": "registry.example/db:1.0",
            "volumeMounts": [{"name": "data", "mountPath": "/data"}]}],
            "volumes": [{"name": "data", "emptyDir": {}}]}});
    let owner = json!([{"apiVersion": "apps/v1", "kind": "StatefulSet", "name": name,
        "uid": format!("uid-sts-{name}"), "controller": true, "blockOwnerDeletion": true}]);
    let mut extra = Extra::default();
    extra.add(
        "statefulsets.apps",
        json!({"apiVersion": "apps/v1", "kind": "StatefulSet",
            "metadata": {"name": name, "namespace": "shop", "uid": format!("uid-sts-{name}"),
                "resourceVersion": "100", "generation": 2, "labels": labels},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels}, "serviceName": name,
                "podManagementPolicy": "OrderedReady",
                "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}},
                "template": template},
            "status": {"replicas": replicas, "updateRevision": revision,
                "currentRevision": revision, "collisionCount": 0}}),
    );
    // The controller stores the template as a strategic patch that replaces it whole.
    let mut data_template = template.clone();
    data_template["$patch"] = json!("replace");
    extra.add(
        "controllerrevisions.apps",
        json!({"apiVersion": "apps/v1", "kind": "ControllerRevision",
            "metadata": {"name": revision, "namespace": "shop", "uid": format!("uid-cr-{name}"),
                "labels": labels, "ownerReferences": owner},
            "data": {"spec": {"template": data_template}},
            "revision": 2}),
    );
    for i in 0..replicas {
        let pod = format!("{name}-{i}");
        let mut pod_labels = labels.clone();
        pod_labels["controller-revision-hash"] = json!(revision);
        pod_labels["statefulset.kubernetes.io/pod-name"] = json!(pod);
        let mut spec = template["spec"].clone();
        spec["hostname"] = json!(pod);
        spec["subdomain"] = json!(name);
        spec["nodeName"] = json!("worker-1");
        extra.add(
            "pods",
            json!({"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": pod, "namespace": "shop", "uid": format!("uid-{pod}"),
                    "labels": pod_labels, "ownerReferences": owner},
                "spec": spec, "status": {"phase": "Running"}}),
        );
        extra.pvbs.push(pvb("shop", &pod, "data"));
    }
    extra
}

/// A DaemonSet `name` in `shop` at template generation 3 with two pods (one per node), each
/// holding FSB data in emptyDir volume `cache`.
pub fn daemonset(name: &str) -> Extra {
    let labels = json!({"app": name});
    let template = json!({"metadata": {"creationTimestamp": null, "labels": labels},
        "spec": {"containers": [{"name": "agent", "image": "registry.example/agent:1.0",
            "volumeMounts": [{"name": "cache", "mountPath": "/cache"}]}],
            "volumes": [{"name": "cache", "emptyDir": {}}]}});
    let owner = json!([{"apiVersion": "apps/v1", "kind": "DaemonSet", "name": name,
        "uid": format!("uid-ds-{name}"), "controller": true, "blockOwnerDeletion": true}]);
    let mut extra = Extra::default();
    extra.add(
        "daemonsets.apps",
        json!({"apiVersion": "apps/v1", "kind": "DaemonSet",
            "metadata": {"name": name, "namespace": "shop", "uid": format!("uid-ds-{name}"),
                "generation": 3, "labels": labels,
                "annotations": {"deprecated.daemonset.template.generation": "3"}},
            "spec": {"selector": {"matchLabels": labels}, "template": template,
                "updateStrategy": {"type": "RollingUpdate"}},
            "status": {"desiredNumberScheduled": 2, "numberReady": 2}}),
    );
    for node in ["worker-1", "worker-2"] {
        let pod = format!("{name}-{node}");
        let mut pod_labels = labels.clone();
        pod_labels["pod-template-generation"] = json!("3");
        pod_labels["controller-revision-hash"] = json!("7b9c6d5f4");
        let mut spec = template["spec"].clone();
        spec["nodeName"] = json!(node);
        spec["affinity"] = json!({"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution":
            {"nodeSelectorTerms": [{"matchFields": [{"key": "metadata.name", "operator": "In", "values": [node]}]}]}}});
        extra.add(
            "pods",
            json!({"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": pod, "namespace": "shop", "uid": format!("uid-{pod}"),
                    "labels": pod_labels, "ownerReferences": owner},
                "spec": spec, "status": {"phase": "Running"}}),
        );
        extra.pvbs.push(pvb("shop", &pod, "cache"));
    }
    extra
}

impl Extra {
    /// Both sets of objects.
    pub fn and(mut self, other: Extra) -> Self {
        self.objects.extend(other.objects);
        self.pvbs.extend(other.pvbs);
        self
    }
}
