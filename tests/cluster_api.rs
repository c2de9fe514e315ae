//! The kube adapter and the DownloadRequest flow against a scripted HTTP stand-in for the API server
//! and the object store (plain HTTP on loopback). Request shapes follow the Kubernetes REST
//! conventions and Velero's DownloadRequest API (shared/facts/velero.md §7.1); error texts follow
//! the adapter's contract (RBAC verb + resource + namespace).

#[path = "backup_support/mod.rs"]
mod support;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fsb_guard_core::{BackupObjects, FsbIndex, Kind, Resource, Selection, Workload};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use velero_fsb_guard::backup;
use velero_fsb_guard::backup::download::{
    DownloadError, DownloadOptions, ObjectStoreTls, download_backup_index,
};
use velero_fsb_guard::cluster::{Cluster, Error, valid_label_value};
use velero_fsb_guard::guard::{self, KubeCluster, RestoreSource};

#[derive(Debug, Clone)]
struct Req {
    method: String,
    path: String,
    content_type: String,
    body: Vec<u8>,
}

impl Req {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
    fn path_only(&self) -> &str {
        self.path.split('?').next().unwrap()
    }
    fn query(&self, key: &str) -> Option<String> {
        let url = reqwest::Url::parse(&format!("http://x{}", self.path)).unwrap();
        url.query_pairs()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.into_owned())
    }
}

struct Resp {
    status: u16,
    body: Vec<u8>,
    delay: Duration,
}

fn ok(v: Value) -> Resp {
    Resp {
        status: 200,
        body: serde_json::to_vec(&v).unwrap(),
        delay: Duration::ZERO,
    }
}

fn status(code: u16, reason: &str, message: &str) -> Resp {
    Resp {
        status: code,
        body: serde_json::to_vec(&json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code
        }))
        .unwrap(),
        delay: Duration::ZERO,
    }
}

type Handler = Arc<dyn Fn(&Req, SocketAddr) -> Resp + Send + Sync>;

/// One-request-per-connection HTTP/1.1 server; records every request.
struct Server {
    addr: SocketAddr,
    log: Arc<Mutex<Vec<Req>>>,
}

impl Server {
    async fn start(handler: impl Fn(&Req, SocketAddr) -> Resp + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let handler: Handler = Arc::new(handler);
        let log2 = log.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut sock, _)) = listener.accept().await else {
                    return;
                };
                let handler = handler.clone();
                let log = log2.clone();
                tokio::spawn(async move {
                    let Some(req) = read_request(&mut sock).await else {
                        return;
                    };
                    log.lock().unwrap().push(req.clone());
                    let resp = handler(&req, addr);
                    tokio::time::sleep(resp.delay).await;
                    let head = format!(
                        "HTTP/1.1 {} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        resp.status,
                        resp.body.len()
                    );
                    let _ = sock.write_all(head.as_bytes()).await;
                    let _ = sock.write_all(&resp.body).await;
                    let _ = sock.shutdown().await;
                });
            }
        });
        Self { addr, log }
    }

    fn requests(&self) -> Vec<Req> {
        self.log.lock().unwrap().clone()
    }

    fn cluster(&self) -> Cluster {
        let config = kube::Config::new(format!("http://{}", self.addr).parse().unwrap());
        Cluster::from_config(config, "velero").unwrap()
    }
}

async fn read_request(sock: &mut tokio::net::TcpStream) -> Option<Req> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        let n = sock.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let method = first.next()?.to_owned();
    let path = first.next()?.to_owned();
    let mut content_length = 0usize;
    let mut content_type = String::new();
    for line in lines {
        if let Some((k, v)) = line.split_once(':') {
            match k.trim().to_ascii_lowercase().as_str() {
                "content-length" => content_length = v.trim().parse().ok()?,
                "content-type" => content_type = v.trim().to_owned(),
                _ => {}
            }
        }
    }
    let mut body = buf[head_end..].to_vec();
    while body.len() < content_length {
        let n = sock.read(&mut chunk).await.ok()?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Some(Req {
        method,
        path,
        content_type,
        body,
    })
}

fn not_found() -> Resp {
    status(404, "NotFound", "not found")
}

#[tokio::test]
async fn lists_pod_volume_backups_by_valid_backup_label() {
    let long = "nightly-backup-of-the-production-namespace-with-fsb-volumes-2026-11-25";
    let server = Server::start(|req, _| {
        if req.method == "GET"
            && req.path_only() == "/apis/velero.io/v1/namespaces/velero/podvolumebackups"
        {
            // Two pages, as the API server cuts a list at its `limit`.
            match req.query("continue").as_deref() {
                None => ok(
                    json!({"kind": "PodVolumeBackupList", "metadata": {"continue": "page-2"},
                    "items": [support::pvb("p1", "shop", "web-1", "data", "s1")]}),
                ),
                Some("page-2") => ok(
                    json!({"kind": "PodVolumeBackupList", "metadata": {"continue": ""},
                    "items": [support::pvb("p2", "shop", "web-2", "data", "s2")]}),
                ),
                Some(_) => not_found(),
            }
        } else {
            not_found()
        }
    })
    .await;
    let pvbs = server
        .cluster()
        .list_pod_volume_backups(long)
        .await
        .unwrap();
    // Only what the decisions read of each.
    let p1 = json!({"metadata": {"name": "p1"}, "spec": {"pod": {"namespace": "shop", "name": "web-1"},
        "volume": "data", "uploaderType": "kopia"}, "status": {"snapshotID": "s1"}});
    assert_eq!(pvbs.len(), 2);
    assert_eq!(pvbs[0], p1);
    assert_eq!(pvbs[1]["spec"]["pod"]["name"], "web-2");
    assert_eq!(server.requests().len(), 2);
    assert_eq!(server.requests()[0].query("limit").as_deref(), Some("500"));
    assert_eq!(
        server.requests()[1].query("continue").as_deref(),
        Some("page-2")
    );
    let req = &server.requests()[0];
    assert_eq!(
        req.query("labelSelector").as_deref(),
        Some(format!("velero.io/backup-name={}", valid_label_value(long)).as_str())
    );
    // The selector carries the shortened value Velero wrote, not the raw name.
    assert!(!req.query("labelSelector").unwrap().contains(long));
}

#[tokio::test]
async fn forbidden_names_the_verb_resource_and_namespace() {
    let server = Server::start(|_, _| {
        status(
            403,
            "Forbidden",
            "podvolumebackups.velero.io is forbidden: User \"system:serviceaccount:velero:velero\" cannot list resource \"podvolumebackups\" in API group \"velero.io\" in the namespace \"velero\"",
        )
    })
    .await;
    let err = server
        .cluster()
        .list_pod_volume_backups("b1")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Forbidden { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "forbidden: the plugin's service account cannot list podvolumebackups.velero.io in namespace velero"
    );
    let err = server
        .cluster()
        .get(Resource::REPLICA_SETS.named("shop", "web-abc"))
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "forbidden: the plugin's service account cannot get replicasets.apps in namespace shop"
    );
}

#[tokio::test]
async fn missing_objects_are_none_and_other_failures_are_api_errors() {
    let server = Server::start(|req, _| {
        if req.path_only().ends_with("/configmaps/rules") {
            ok(json!({"kind": "ConfigMap", "metadata": {"name": "rules"}, "data": {"r.yaml": "x"}}))
        } else if req.path_only().ends_with("/backupstoragelocations/default") {
            status(500, "InternalError", "etcd is sad")
        } else {
            not_found()
        }
    })
    .await;
    let cluster = server.cluster();
    assert_eq!(
        cluster
            .get(Resource::CONFIG_MAPS.named("shop", "rules"))
            .await
            .unwrap()
            .unwrap()["data"]["r.yaml"],
        "x"
    );
    assert!(
        cluster
            .get(Resource::REPLICA_SETS.named("shop", "gone"))
            .await
            .unwrap()
            .is_none()
    );
    let err = cluster
        .get_backup_storage_location("default")
        .await
        .unwrap_err();
    match &err {
        Error::Api { code, reason, .. } => {
            assert_eq!(*code, 500);
            assert_eq!(reason, "InternalError");
        }
        other => panic!("expected Api, got {other:?}"),
    }
    assert!(
        err.to_string()
            .contains("get backupstoragelocations.velero.io default in namespace velero")
    );
}

#[tokio::test]
async fn slow_api_is_a_timeout_and_closed_port_is_unreachable() {
    let server = Server::start(|_, _| Resp {
        delay: Duration::from_secs(5),
        ..ok(json!({}))
    })
    .await;
    let cluster = server
        .cluster()
        .with_call_timeout(Duration::from_millis(200));
    let started = std::time::Instant::now();
    let err = cluster.get_backup("b1").await.unwrap_err();
    assert!(
        matches!(err, Error::Timeout { after: Some(d), .. } if d == Duration::from_millis(200)),
        "{err:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(4));
    assert!(
        err.to_string()
            .starts_with("timed out after 200ms: get backups.velero.io b1")
    );

    // The call timeout can never exceed the 10 s bound.
    assert_eq!(
        server
            .cluster()
            .with_call_timeout(Duration::from_secs(60))
            .call_timeout(),
        Duration::from_secs(10)
    );

    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = closed.local_addr().unwrap();
    drop(closed);
    let config = kube::Config::new(format!("http://{addr}").parse().unwrap());
    let err = Cluster::from_config(config, "velero")
        .unwrap()
        .list_pod_volume_backups("b1")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Unreachable { .. }), "{err:?}");
    assert!(
        err.to_string().contains("list podvolumebackups.velero.io"),
        "{err}"
    );
}

fn config_map(name: &str) -> Value {
    json!({"kind": "ConfigMap", "metadata": {"name": name, "namespace": "velero",
        "labels": {"velero.io/plugin-config": "", "fsb-guard.io/template-guard": "RestoreItemAction"}},
        "data": {"mode": "dry-run"}})
}

#[tokio::test]
async fn plugin_config_is_found_by_labels_and_must_be_unique() {
    let count = Arc::new(Mutex::new(0usize));
    let c = count.clone();
    let server = Server::start(move |_, _| {
        let n = *c.lock().unwrap();
        ok(json!({"items": (0..n).map(|i| config_map(&format!("cfg-{i}"))).collect::<Vec<_>>()}))
    })
    .await;
    let cluster = server.cluster();
    assert!(
        cluster
            .find_plugin_config(velero_fsb_guard::guard::NAME)
            .await
            .unwrap()
            .is_none()
    );
    *count.lock().unwrap() = 1;
    assert_eq!(
        cluster
            .find_plugin_config(velero_fsb_guard::guard::NAME)
            .await
            .unwrap()
            .unwrap()["metadata"]["name"],
        "cfg-0"
    );
    *count.lock().unwrap() = 2;
    let err = cluster
        .find_plugin_config(velero_fsb_guard::guard::NAME)
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::AmbiguousPluginConfig { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("cfg-0, cfg-1"), "{err}");
    let req = &server.requests()[0];
    assert_eq!(req.path_only(), "/api/v1/namespaces/velero/configmaps");
    assert_eq!(
        req.query("labelSelector").as_deref(),
        Some("velero.io/plugin-config,fsb-guard.io/template-guard=RestoreItemAction")
    );
}

#[tokio::test]
async fn replica_set_template_is_replaced_with_one_json_patch() {
    let server =
        Server::start(|req, _| ok(json!({"kind": "ReplicaSet", "echo": req.json()}))).await;
    let template = json!({"metadata": {"labels": {"app": "web", "pod-template-hash": "abc"}},
                          "spec": {"containers": [{"name": "main", "image": "nginx:2"}]}});
    // The guard's alignment: the resourceVersion read is tested first, so a concurrent change
    // makes the patch fail instead of being overwritten.
    let expected = json!([
        {"op": "test", "path": "/metadata/resourceVersion", "value": "42"},
        {"op": "replace", "path": "/spec/template", "value": template}
    ]);
    let out = server
        .cluster()
        .json_patch(Resource::REPLICA_SETS.named("shop", "web-abc"), &expected)
        .await
        .unwrap();
    let reqs = server.requests();
    assert_eq!(reqs.len(), 1);
    let req = &reqs[0];
    assert_eq!(req.method, "PATCH");
    assert_eq!(
        req.path_only(),
        "/apis/apps/v1/namespaces/shop/replicasets/web-abc"
    );
    assert_eq!(
        req.query("fieldManager").as_deref(),
        Some("velero-fsb-guard")
    );
    assert_eq!(req.content_type, "application/json-patch+json");
    assert_eq!(req.json(), expected);
    assert_eq!(out["echo"], expected);
}

/// Scripted Velero: publishes the URL on the second poll, serves the tarball from "the bucket".
fn velero_and_bucket(
    tarball: Vec<u8>,
    store_status: u16,
    publish: bool,
) -> impl Fn(&Req, SocketAddr) -> Resp {
    let polls = Mutex::new(0usize);
    move |req, addr| {
        let dr = "/apis/velero.io/v1/namespaces/velero/downloadrequests";
        let path = req.path_only();
        match (req.method.as_str(), path) {
            ("POST", p) if p == dr => {
                let mut obj = req.json();
                obj["metadata"]["uid"] = json!("dr-uid");
                Resp {
                    status: 201,
                    ..ok(obj)
                }
            }
            ("GET", p) if p.starts_with(dr) => {
                let name = p.rsplit('/').next().unwrap();
                let mut n = polls.lock().unwrap();
                *n += 1;
                let mut obj = json!({"apiVersion": "velero.io/v1", "kind": "DownloadRequest",
                    "metadata": {"name": name, "namespace": "velero"},
                    "spec": {"target": {"kind": "BackupContents", "name": "b1"}}});
                if publish && *n >= 2 {
                    obj["status"] = json!({"phase": "Processed",
                        "downloadURL": format!("http://{addr}/bucket/backups/b1/b1.tar.gz?X-Amz-Signature=SECRET")});
                }
                ok(obj)
            }
            ("DELETE", p) if p.starts_with(dr) => {
                ok(json!({"kind": "Status", "status": "Success"}))
            }
            ("GET", "/apis/velero.io/v1/namespaces/velero/backups/b1") => {
                ok(json!({"kind": "Backup", "spec": {"storageLocation": "default"}}))
            }
            ("GET", "/apis/velero.io/v1/namespaces/velero/backupstoragelocations/default") => ok(
                json!({"kind": "BackupStorageLocation", "spec": {"objectStorage": {"bucket": "bucket"}, "config": {}}}),
            ),
            ("GET", "/bucket/backups/b1/b1.tar.gz") => Resp {
                status: store_status,
                body: tarball.clone(),
                delay: Duration::ZERO,
            },
            _ => not_found(),
        }
    }
}

fn fast_options() -> DownloadOptions {
    DownloadOptions {
        url_timeout: Duration::from_secs(5),
        poll_interval: Duration::from_millis(20),
        ..DownloadOptions::default()
    }
}

fn assert_request_created_and_deleted(reqs: &[Req]) {
    let post = reqs
        .iter()
        .find(|r| r.method == "POST")
        .expect("DownloadRequest created");
    let body = post.json();
    assert_eq!(body["apiVersion"], "velero.io/v1");
    assert_eq!(body["kind"], "DownloadRequest");
    assert_eq!(
        body["spec"]["target"],
        json!({"kind": "BackupContents", "name": "b1"})
    );
    let name = body["metadata"]["name"].as_str().unwrap();
    assert!(name.starts_with("b1-fsb-guard-"), "{name}");
    let delete = reqs
        .iter()
        .find(|r| r.method == "DELETE")
        .expect("DownloadRequest deleted");
    assert_eq!(
        delete.path_only(),
        format!("/apis/velero.io/v1/namespaces/velero/downloadrequests/{name}")
    );
}

#[tokio::test]
async fn download_request_flow_streams_the_backup_into_the_index() {
    let server = Server::start(velero_and_bucket(support::sample().tar_gz(), 200, true)).await;
    let index = download_backup_index(&server.cluster(), "b1", &fast_options())
        .await
        .unwrap();
    assert_eq!(index.len(), 2);
    assert!(index.deployment("shop", "web").is_some());
    let reqs = server.requests();
    assert_request_created_and_deleted(&reqs);
    assert!(
        reqs.iter()
            .any(|r| r.path_only() == "/bucket/backups/b1/b1.tar.gz")
    );
    // The DownloadRequest is deleted only after the transfer.
    let get_at = reqs
        .iter()
        .position(|r| r.path_only().starts_with("/bucket/"))
        .unwrap();
    let del_at = reqs.iter().position(|r| r.method == "DELETE").unwrap();
    assert!(get_at < del_at);
}

#[tokio::test]
async fn no_url_in_time_fails_and_still_deletes_the_request() {
    let server = Server::start(velero_and_bucket(Vec::new(), 200, false)).await;
    let opts = DownloadOptions {
        url_timeout: Duration::from_millis(300),
        ..fast_options()
    };
    let err = download_backup_index(&server.cluster(), "b1", &opts)
        .await
        .unwrap_err();
    assert!(matches!(err, DownloadError::NoUrl { .. }), "{err:?}");
    assert_request_created_and_deleted(&server.requests());
}

#[tokio::test]
async fn object_store_errors_name_the_host_not_the_signed_url() {
    let server = Server::start(velero_and_bucket(b"gone".to_vec(), 404, true)).await;
    let err = download_backup_index(&server.cluster(), "b1", &fast_options())
        .await
        .unwrap_err();
    assert!(matches!(err, DownloadError::NotFound { .. }), "{err:?}");
    assert!(err.to_string().contains("127.0.0.1"), "{err}");
    assert!(!err.to_string().contains("SECRET"), "{err}");
    assert_request_created_and_deleted(&server.requests());

    let server = Server::start(velero_and_bucket(b"denied".to_vec(), 403, true)).await;
    let err = download_backup_index(&server.cluster(), "b1", &fast_options())
        .await
        .unwrap_err();
    assert!(
        matches!(err, DownloadError::Http { status: 403, .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_truncated_download_is_an_index_error() {
    let gz = support::sample().tar_gz();
    let server = Server::start(velero_and_bucket(gz[..gz.len() / 2].to_vec(), 200, true)).await;
    let err = download_backup_index(&server.cluster(), "b1", &fast_options())
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            DownloadError::Index {
                source: backup::Error::TruncatedGzip(_),
                ..
            }
        ),
        "{err:?}"
    );
    assert_request_created_and_deleted(&server.requests());
}

#[test]
fn storage_location_tls_settings() {
    let pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(pem);
    let bsl = json!({"spec": {"objectStorage": {"bucket": "b", "caCert": b64},
                              "config": {"insecureSkipTLSVerify": "true"}}});
    let tls = ObjectStoreTls::from_location(&bsl).unwrap();
    assert_eq!(tls.ca_pem.as_deref(), Some(pem.as_bytes()));
    assert!(tls.insecure_skip_verify);
    for (value, expected) in [
        ("1", true),
        ("True", true),
        ("false", false),
        ("yes", false),
        ("0", false),
    ] {
        let bsl = json!({"spec": {"config": {"insecureSkipTLSVerify": value}}});
        assert_eq!(
            ObjectStoreTls::from_location(&bsl)
                .unwrap()
                .insecure_skip_verify,
            expected,
            "{value}"
        );
    }
    assert_eq!(
        ObjectStoreTls::from_location(&json!({})).unwrap(),
        ObjectStoreTls::default()
    );
    let bad = json!({"spec": {"objectStorage": {"caCert": "%%%"}}});
    assert!(ObjectStoreTls::from_location(&bad).is_err());
}

/// The names of `objects`, in order.
fn names(objects: &[Value]) -> Vec<&str> {
    objects
        .iter()
        .map(|o| o["metadata"]["name"].as_str().unwrap())
        .collect()
}

/// A pod of Deployment `deployment` (through its ReplicaSet `<deployment>-<hash>`), named `name`,
/// with an emptyDir volume `data`.
fn deployment_pod(deployment: &str, hash: &str, name: &str) -> Value {
    let mut pod = support::pod("shop", name, json!([{"name": "data", "emptyDir": {}}]));
    pod["metadata"]["labels"] = json!({"app": deployment, "pod-template-hash": hash});
    pod["metadata"]["ownerReferences"] = json!([{"apiVersion": "apps/v1",
        "kind": "ReplicaSet", "name": format!("{deployment}-{hash}"), "uid": "rs-uid",
        "controller": true}]);
    pod
}

/// `backup` served behind a DownloadRequest (the Velero side and bucket of
/// [`velero_and_bucket`]), the kube adapter over it, the FSB index of one PodVolumeBackup for pod
/// `shop/fsb_pod` (none when empty), and the count of the backup's downloads.
async fn serving_backup(
    backup: &support::BackupBuilder,
    fsb_pod: &str,
) -> (Server, KubeCluster, FsbIndex, Arc<Mutex<usize>>) {
    let serve = velero_and_bucket(backup.tar_gz(), 200, true);
    let downloads = Arc::new(Mutex::new(0usize));
    let counted = Arc::clone(&downloads);
    let server = Server::start(move |req: &Req, addr| {
        if req.path_only() == "/bucket/backups/b1/b1.tar.gz" {
            *counted.lock().unwrap() += 1;
        }
        serve(req, addr)
    })
    .await;
    let source = KubeCluster::from_cluster(server.cluster(), guard::NAME);
    let pvbs: Vec<Value> = [fsb_pod]
        .into_iter()
        .filter(|pod| !pod.is_empty())
        .map(|pod| support::pvb("b1-x", "shop", pod, "data", "s1"))
        .collect();
    (
        server,
        source,
        FsbIndex::from_pod_volume_backups(&pvbs),
        downloads,
    )
}

/// What the kube adapter keeps of backup `b1` for `selection`.
async fn read_backup(
    source: &KubeCluster,
    selection: Selection<'_>,
) -> Result<BackupObjects, guard::Error> {
    source
        .backup_objects("velero", "b1", Duration::from_secs(10), selection)
        .await
}

/// Names of the Deployments `backup` keeps, each read back whole.
fn deployments(backup: &BackupObjects) -> Vec<String> {
    let mut names: Vec<String> = backup
        .all_workloads()
        .into_iter()
        .filter(|w| w.kind == Kind::Deployment)
        .inspect(|w| assert_eq!(backup.workload(w).unwrap()["metadata"]["name"], w.name))
        .map(|w| w.name)
        .collect();
    names.sort();
    names
}

/// Names of the pods and history `backup` keeps for Deployment `shop/name`.
fn kept_for(backup: &BackupObjects, name: &str) -> (Vec<String>, Vec<String>) {
    let deployment = support::deployment("shop", name, "img:1");
    let (pods, history) = backup.owned_by(Kind::Deployment, &deployment);
    let owned = |objects: &[Value]| names(objects).into_iter().map(str::to_owned).collect();
    (owned(&pods), owned(&history))
}

#[tokio::test]
async fn a_restore_keeps_only_the_objects_of_workloads_with_fsb_pods() {
    let mut backup = support::BackupBuilder::velero();
    for (deployment, hash) in [("db", "5d4f8c7b9"), ("web", "6c7d8f9b4")] {
        backup.item(
            "deployments.apps",
            "v1",
            "shop",
            &support::deployment("shop", deployment, "img:1"),
        );
        backup.item(
            "replicasets.apps",
            "v1",
            "shop",
            &support::replica_set("shop", deployment, hash, "img:1"),
        );
        for i in 0..2 {
            let name = format!("{deployment}-{hash}-p{i}");
            backup.item(
                "pods",
                "v1",
                "shop",
                &deployment_pod(deployment, hash, &name),
            );
        }
    }
    backup.item(
        "pods",
        "v1",
        "shop",
        &support::pod("shop", "bare", json!([])),
    );
    // One pod of `db` holds FSB data; `web` has none.
    let (_server, source, fsb, downloads) = serving_backup(&backup, "db-5d4f8c7b9-p0").await;
    let kept = read_backup(&source, Selection::FsbWorkloads(&fsb))
        .await
        .unwrap();
    assert_eq!(deployments(&kept), ["db"]);
    assert_eq!(
        kept_for(&kept, "db"),
        (
            vec!["db-5d4f8c7b9-p0".to_owned(), "db-5d4f8c7b9-p1".to_owned()],
            vec!["db-5d4f8c7b9".to_owned()]
        ),
        "every pod of the guarded workload, FSB data or not, and its ReplicaSet"
    );
    assert_eq!(kept_for(&kept, "web"), (vec![], vec![]));
    let db = Workload::new(Kind::Deployment, "shop", "db");
    assert!(kept.fsb_workloads(&fsb).contains(&db));
    assert_eq!(
        *downloads.lock().unwrap(),
        1,
        "the workloads are named after their pods"
    );
    // Scope `all-workloads`: every workload, never a bare pod.
    let all = read_backup(&source, Selection::Everything(&fsb))
        .await
        .unwrap();
    assert_eq!(deployments(&all), ["db", "web"]);
    for (name, hash) in [("db", "5d4f8c7b9"), ("web", "6c7d8f9b4")] {
        let (pods, history) = kept_for(&all, name);
        assert_eq!((pods.len(), history), (2, vec![format!("{name}-{hash}")]));
    }
    assert!(all.pods.is_empty(), "the bare pod is not kept");
    assert!(all.fsb_workloads(&fsb).contains(&db));
}

#[tokio::test]
async fn a_workload_not_named_like_its_fsb_pods_is_kept_by_reading_the_backup_again() {
    // The Deployment and its ReplicaSet come before the pod, and nothing in the FSB pod's name
    // says it belongs to `db`.
    let mut backup = support::BackupBuilder::velero();
    backup.item(
        "deployments.apps",
        "v1",
        "shop",
        &support::deployment("shop", "db", "img:1"),
    );
    backup.item(
        "replicasets.apps",
        "v1",
        "shop",
        &support::replica_set("shop", "db", "5d4f8c7b9", "img:1"),
    );
    let pod = deployment_pod("db", "5d4f8c7b9", "adopted-0");
    backup.item("pods", "v1", "shop", &pod);
    let (_server, source, fsb, downloads) = serving_backup(&backup, "adopted-0").await;
    let kept = read_backup(&source, Selection::FsbWorkloads(&fsb))
        .await
        .unwrap();
    assert_eq!(deployments(&kept), ["db"]);
    assert_eq!(
        kept_for(&kept, "db"),
        (
            vec!["adopted-0".to_owned()],
            vec!["db-5d4f8c7b9".to_owned()]
        )
    );
    assert_eq!(*downloads.lock().unwrap(), 2, "read a second time");
}

#[tokio::test]
async fn an_item_that_is_not_json_fails_the_read_and_names_its_entry() {
    let mut backup = support::BackupBuilder::velero();
    backup.raw(
        "resources/pods/namespaces/shop/broken.json",
        b"{\"metadata\": ",
    );
    let (_server, source, fsb, _) = serving_backup(&backup, "").await;
    let err = read_backup(&source, Selection::FsbWorkloads(&fsb))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("resources/pods/namespaces/shop/broken.json")
            && err.contains("not valid JSON"),
        "{err}"
    );
}
