//! A plain-HTTP object store needs no CA certificates: the backup download must work where the
//! system has none (a Velero image without a CA bundle; found on the real node, tests/e2e/node).
//! The download runs in a child process of this test binary whose CA lookup (SSL_CERT_FILE /
//! SSL_CERT_DIR) points at empty places.

#[path = "backup_support/mod.rs"]
mod support;

use std::sync::Arc;

use tokio::net::TcpListener;
use velero_fsb_guard::backup::download::{DownloadOptions, ObjectStoreTls, fetch_index};

/// Serves `body` over plain HTTP to every connection; returns the port.
async fn http_store(body: Vec<u8>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let body = Arc::new(body);
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let body = body.clone();
            tokio::spawn(async move { support::answer_get(&mut sock, &body).await });
        }
    });
    port
}

#[test]
fn plain_http_download_works_without_system_ca_certificates() {
    let empty = std::env::temp_dir().join(format!("fsb-no-ca-{}", std::process::id()));
    std::fs::create_dir_all(&empty).unwrap();
    std::fs::write(empty.join("empty.pem"), b"").unwrap();
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--ignored", "--exact", "download_over_http", "--nocapture"])
        .env("SSL_CERT_FILE", empty.join("empty.pem"))
        .env("SSL_CERT_DIR", &empty)
        .output()
        .unwrap();
    std::fs::remove_dir_all(&empty).unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && text.contains("1 passed"), "{text}");
}

/// Run by the test above, in a process without CA certificates.
#[tokio::test]
#[ignore = "run by plain_http_download_works_without_system_ca_certificates"]
async fn download_over_http() {
    let port = http_store(support::sample().tar_gz()).await;
    let url = format!("http://127.0.0.1:{port}/velero/backups/b1/b1.tar.gz?X-Amz-Signature=SECRET");
    let index = fetch_index(
        "b1",
        &url,
        &ObjectStoreTls::default(),
        &DownloadOptions::default(),
    )
    .await
    .expect("plain HTTP needs no CA store");
    assert!(index.deployment("shop", "web").is_some());
}
