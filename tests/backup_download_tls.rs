//! The object-store GET honours the BackupStorageLocation's TLS settings: a private CA given as
//! `caCert` is trusted, an unknown issuer is refused, and `insecureSkipTLSVerify` skips the check.
//! The store is a TLS stand-in on 127.0.0.1 with a test CA (tests/backup_support/tls/README.md).

#[path = "backup_support/mod.rs"]
mod support;

use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpListener;
use velero_fsb_guard::backup::download::{
    DownloadError, DownloadOptions, ObjectStoreTls, fetch_index,
};

const CA: &[u8] = include_bytes!("backup_support/tls/ca.pem");
const CERT: &[u8] = include_bytes!("backup_support/tls/server.pem");
const KEY: &[u8] = include_bytes!("backup_support/tls/server.key");

/// Serves `body` over HTTPS to every connection; returns the port.
async fn tls_store(body: Vec<u8>) -> u16 {
    velero_fsb_guard::cluster::install_crypto_provider();
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(CERT)
        .collect::<Result<_, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_slice(KEY).unwrap();
    let config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let body = Arc::new(body);
    tokio::spawn(async move {
        loop {
            let Ok((sock, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            let body = body.clone();
            tokio::spawn(async move {
                // Handshake failures (the client refusing our certificate) end here.
                let Ok(mut tls) = acceptor.accept(sock).await else {
                    return;
                };
                support::answer_get(&mut tls, &body).await;
            });
        }
    });
    port
}

fn url(port: u16) -> String {
    format!("https://localhost:{port}/bucket/backups/b1/b1.tar.gz?X-Amz-Signature=SECRET")
}

#[tokio::test]
async fn private_ca_from_the_storage_location_is_trusted() {
    let port = tls_store(support::sample().tar_gz()).await;
    let tls = ObjectStoreTls {
        ca_pem: Some(CA.to_vec()),
        insecure_skip_verify: false,
    };
    let index = fetch_index("b1", &url(port), &tls, &DownloadOptions::default())
        .await
        .unwrap();
    assert!(index.deployment("shop", "web").is_some());
}

#[tokio::test]
async fn unknown_issuer_is_refused_without_ca_or_skip() {
    let port = tls_store(support::sample().tar_gz()).await;
    let err = fetch_index(
        "b1",
        &url(port),
        &ObjectStoreTls::default(),
        &DownloadOptions::default(),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, DownloadError::Transfer { .. }), "{err:?}");
    assert!(!err.to_string().contains("SECRET"), "{err}");
}

#[tokio::test]
async fn insecure_skip_tls_verify_accepts_the_store() {
    let port = tls_store(support::sample().tar_gz()).await;
    let tls = ObjectStoreTls {
        ca_pem: None,
        insecure_skip_verify: true,
    };
    let index = fetch_index("b1", &url(port), &tls, &DownloadOptions::default())
        .await
        .unwrap();
    assert_eq!(index.len(), 2);
}

#[tokio::test]
async fn a_ca_cert_that_is_not_pem_is_reported() {
    let tls = ObjectStoreTls {
        ca_pem: Some(b"not a certificate".to_vec()),
        insecure_skip_verify: false,
    };
    let err = fetch_index("b1", &url(1), &tls, &DownloadOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(err, DownloadError::CaCert { .. }), "{err:?}");
}
