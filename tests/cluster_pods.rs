//! The live-pod calls of the kube adapter (`cluster`'s object API on pods and DaemonSets) against a scripted HTTP stand-in for
//! the API server (plain HTTP on loopback): request shapes per the Kubernetes REST conventions
//! (JSON merge patch, RFC 7386; label selectors), 404 handling and error naming.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use fsb_guard_core::Resource;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use velero_fsb_guard::cluster::{Cluster, label_merge_patch};

#[derive(Debug, Clone)]
struct Request {
    method: String,
    target: String,
    content_type: String,
    body: Vec<u8>,
}

/// Answers every request with `(status, body)` from `answer` and records it.
struct StandIn {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Request>>>,
}

impl StandIn {
    async fn start(answer: fn(&Request) -> (u16, Value)) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut socket, _)) = listener.accept().await else {
                    return;
                };
                let log = log.clone();
                tokio::spawn(async move {
                    loop {
                        let Some(request) = read_request(&mut socket).await else {
                            return;
                        };
                        let (status, body) = answer(&request);
                        log.lock().unwrap().push(request);
                        let body = serde_json::to_vec(&body).unwrap();
                        let head = format!(
                            "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
                            body.len()
                        );
                        if socket.write_all(head.as_bytes()).await.is_err()
                            || socket.write_all(&body).await.is_err()
                        {
                            return;
                        }
                    }
                });
            }
        });
        Self { addr, seen }
    }

    fn cluster(&self) -> Cluster {
        let config = kube::Config::new(format!("http://{}", self.addr).parse().unwrap());
        Cluster::from_config(config, "velero").unwrap()
    }

    fn seen(&self) -> Vec<Request> {
        self.seen.lock().unwrap().clone()
    }
}

async fn read_request(socket: &mut tokio::net::TcpStream) -> Option<Request> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = socket.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let mut lines = head.lines();
    let mut first = lines.next()?.split(' ');
    let (method, target) = (first.next()?.to_owned(), first.next()?.to_owned());
    let header = |name: &str| {
        head.lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
            })
            .unwrap_or_default()
    };
    let length: usize = header("content-length").parse().unwrap_or(0);
    let mut body = buf[head_end..].to_vec();
    while body.len() < length {
        let n = socket.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Some(Request {
        method,
        target,
        content_type: header("content-type"),
        body,
    })
}

fn not_found() -> (u16, Value) {
    (
        404,
        json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound",
            "code": 404, "message": "not found"}),
    )
}

#[tokio::test]
async fn label_patch_is_a_merge_patch_on_the_pod_with_null_for_removal() {
    let api = StandIn::start(|_| {
        (
            200,
            json!({"kind": "Pod", "metadata": {"name": "agent-1", "labels": {"pod-template-generation": "7"}}}),
        )
    })
    .await;
    let mut labels = BTreeMap::new();
    labels.insert("pod-template-generation".to_owned(), Some("7".to_owned()));
    labels.insert("stale".to_owned(), None);
    let out = api
        .cluster()
        .merge_patch(
            Resource::PODS.named("shop", "agent-1"),
            &label_merge_patch(&labels, Some("41")),
        )
        .await
        .unwrap();
    assert_eq!(out["metadata"]["labels"]["pod-template-generation"], "7");
    let seen = api.seen();
    assert_eq!(seen.len(), 1);
    let request = &seen[0];
    assert_eq!(request.method, "PATCH");
    assert_eq!(
        request.target,
        "/api/v1/namespaces/shop/pods/agent-1?fieldManager=velero-fsb-guard"
    );
    assert_eq!(request.content_type, "application/merge-patch+json");
    let body: Value = serde_json::from_slice(&request.body).unwrap();
    assert_eq!(
        body,
        json!({"metadata": {"labels": {"pod-template-generation": "7", "stale": null},
            "resourceVersion": "41"}})
    );
}

#[tokio::test]
async fn list_pods_sends_the_label_selector_and_get_maps_404_to_none() {
    let api = StandIn::start(|r| {
        if r.target.starts_with("/api/v1/namespaces/shop/pods?") {
            (
                200,
                json!({"kind": "PodList", "items": [{"metadata": {"name": "agent-1"}}]}),
            )
        } else {
            not_found()
        }
    })
    .await;
    let cluster = api.cluster();
    let pods = cluster
        .list(Resource::PODS, "shop", "app=agent,tier=node")
        .await
        .unwrap();
    assert_eq!(pods, [json!({"metadata": {"name": "agent-1"}})]);
    let gone = Resource::PODS.named("shop", "gone");
    assert!(cluster.get(gone).await.unwrap().is_none());
    assert!(
        cluster
            .get(Resource::DAEMON_SETS.named("shop", "agent"))
            .await
            .unwrap()
            .is_none()
    );
    let seen = api.seen();
    let list = &seen[0];
    assert_eq!(list.method, "GET");
    let url = reqwest::Url::parse(&format!("http://x{}", list.target)).unwrap();
    let selector = url
        .query_pairs()
        .find(|(k, _)| k == "labelSelector")
        .map(|(_, v)| v.into_owned());
    assert_eq!(selector.as_deref(), Some("app=agent,tier=node"));
    assert_eq!(seen[1].target, "/api/v1/namespaces/shop/pods/gone");
    assert_eq!(
        seen[2].target,
        "/apis/apps/v1/namespaces/shop/daemonsets/agent"
    );
}

#[tokio::test]
async fn a_refused_label_patch_names_verb_resource_and_namespace() {
    let api = StandIn::start(|_| {
        (
            403,
            json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "Forbidden",
                "code": 403, "message": "pods \"agent-1\" is forbidden"}),
        )
    })
    .await;
    let labels = BTreeMap::from([("pod-template-generation".to_owned(), Some("7".to_owned()))]);
    let err = api
        .cluster()
        .merge_patch(
            Resource::PODS.named("shop", "agent-1"),
            &label_merge_patch(&labels, None),
        )
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("patch") && err.contains("pods") && err.contains("shop"),
        "{err}"
    );
}
