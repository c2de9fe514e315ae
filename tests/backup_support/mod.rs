//! Writes Velero-layout backups for tests (layout facts: shared/facts/velero.md §7.2): the
//! `metadata/version` entry, items under `resources/<gr>/namespaces/<ns>/<name>.json`, and the
//! `resources/<gr>/<version>-preferredversion/…` copies Velero writes beside them.
#![allow(dead_code)]

use std::io::Write;
use std::path::Path;

use flate2::Compression;
use flate2::write::GzEncoder;
use serde_json::{Value, json};

pub struct Entry {
    pub path: String,
    pub data: Vec<u8>,
}

/// Builds the entries of one backup, in the order added.
#[derive(Default)]
pub struct BackupBuilder {
    pub entries: Vec<Entry>,
}

impl BackupBuilder {
    /// Starts with `metadata/version` = `1.1.0\n`, as Velero ≥ 1.4 writes it first.
    pub fn velero() -> Self {
        let mut b = Self::default();
        b.raw("metadata/version", b"1.1.0\n");
        b
    }

    pub fn raw(&mut self, path: &str, data: &[u8]) -> &mut Self {
        self.entries.push(Entry {
            path: path.to_owned(),
            data: data.to_vec(),
        });
        self
    }

    /// The unversioned item and its `<version>-preferredversion` copy (same JSON, as Velero writes).
    pub fn item(&mut self, gr: &str, version: &str, ns: &str, obj: &Value) -> &mut Self {
        let name = obj["metadata"]["name"].as_str().expect("name");
        let data = serde_json::to_vec(obj).unwrap();
        self.raw(
            &format!("resources/{gr}/namespaces/{ns}/{name}.json"),
            &data,
        );
        self.raw(
            &format!("resources/{gr}/{version}-preferredversion/namespaces/{ns}/{name}.json"),
            &data,
        );
        self
    }

    pub fn cluster_item(&mut self, gr: &str, version: &str, obj: &Value) -> &mut Self {
        let name = obj["metadata"]["name"].as_str().expect("name");
        let data = serde_json::to_vec(obj).unwrap();
        self.raw(&format!("resources/{gr}/cluster/{name}.json"), &data);
        self.raw(
            &format!("resources/{gr}/{version}-preferredversion/cluster/{name}.json"),
            &data,
        );
        self
    }

    pub fn tar(&self) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for e in &self.entries {
            let mut header = tar::Header::new_gnu();
            header.set_size(e.data.len() as u64);
            header.set_mode(0o755);
            header.set_entry_type(tar::EntryType::Regular);
            builder
                .append_data(&mut header, &e.path, e.data.as_slice())
                .unwrap();
        }
        builder.into_inner().unwrap()
    }

    pub fn tar_gz(&self) -> Vec<u8> {
        self.tar_gz_level(Compression::default())
    }

    pub fn tar_gz_level(&self, level: Compression) -> Vec<u8> {
        gzip(&self.tar(), level)
    }

    /// Writes the entries as an extracted directory under `root`.
    pub fn extract_to(&self, root: &Path) {
        for e in &self.entries {
            let path = root.join(&e.path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, &e.data).unwrap();
        }
    }
}

pub fn gzip(data: &[u8], level: Compression) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::new(), level);
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

pub fn deployment(ns: &str, name: &str, image: &str) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns, "labels": {"app": name}},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "main", "image": image}]}
            }
        },
        "status": {"replicas": 1}
    })
}

pub fn replica_set(ns: &str, deployment: &str, hash: &str, image: &str) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {
            "name": format!("{deployment}-{hash}"), "namespace": ns,
            "labels": {"app": deployment, "pod-template-hash": hash},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": deployment,
                                 "uid": "d-uid", "controller": true}]
        },
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": deployment, "pod-template-hash": hash}},
            "template": {
                "metadata": {"labels": {"app": deployment, "pod-template-hash": hash}},
                "spec": {"containers": [{"name": "main", "image": image}]}
            }
        }
    })
}

pub fn pod(ns: &str, name: &str, volumes: Value) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"containers": [{"name": "main", "image": "busybox"}], "volumes": volumes}
    })
}

/// A PodVolumeBackup as Velero creates it (`pkg/podvolume/backupper.go`), with the fields the
/// matcher reads.
pub fn pvb(name: &str, pod_ns: &str, pod_name: &str, volume: &str, snapshot_id: &str) -> Value {
    json!({
        "apiVersion": "velero.io/v1", "kind": "PodVolumeBackup",
        "metadata": {"name": name, "namespace": "velero",
                     "labels": {"velero.io/backup-name": "b1", "velero.io/backup-uid": "u1"}},
        "spec": {"node": "n1", "pod": {"kind": "Pod", "namespace": pod_ns, "name": pod_name, "uid": "p-uid"},
                 "volume": volume, "backupStorageLocation": "default", "uploaderType": "kopia",
                 "repoIdentifier": ""},
        "status": {"phase": "Completed", "snapshotID": snapshot_id}
    })
}

/// A typical backup: one Deployment with its ReplicaSet and pod, a ConfigMap, a Namespace.
pub fn sample() -> BackupBuilder {
    let mut b = BackupBuilder::velero();
    b.cluster_item(
        "namespaces",
        "v1",
        &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}}),
    );
    b.item(
        "deployments.apps",
        "v1",
        "shop",
        &deployment("shop", "web", "nginx:1"),
    );
    b.item(
        "replicasets.apps",
        "v1",
        "shop",
        &replica_set("shop", "web", "5d4f8c7b9", "nginx:1"),
    );
    b.item(
        "pods",
        "v1",
        "shop",
        &pod(
            "shop",
            "web-5d4f8c7b9-abcde",
            json!([{"name": "data", "emptyDir": {}}]),
        ),
    );
    b.item(
        "configmaps",
        "v1",
        "shop",
        &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg", "namespace": "shop"}, "data": {"k": "v"}}),
    );
    b
}

/// Answers one HTTP/1.1 request on `stream` with `body` (200, gzip), as an object store does a
/// signed GET; plain TCP or TLS alike.
pub async fn answer_get<S>(stream: &mut S, body: &[u8])
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = vec![0u8; 4096];
    let mut seen = Vec::new();
    while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => seen.extend_from_slice(&buf[..n]),
        }
    }
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/gzip\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(head.as_bytes()).await;
    let _ = stream.write_all(body).await;
    let _ = stream.shutdown().await;
}
