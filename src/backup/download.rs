//! Fetching a backup's contents during a restore, the way `velero backup download` does:
//! create a `DownloadRequest` (velero.io/v1) of kind `BackupContents` in the Velero namespace, wait
//! for Velero to fill `status.downloadURL` with a signed object-store URL, GET it (the body is the
//! backup `.tar.gz` as stored) and stream it into the [`BackupIndex`]. The request is deleted
//! afterwards, also on failure (Velero would otherwise expire it ~10 minutes later).
//!
//! TLS to the object store honours the BackupStorageLocation of the backup:
//! `spec.objectStorage.caCert` (base64 of a PEM bundle) and `spec.config.insecureSkipTLSVerify`.
//!
//! Each plugin process serves one restore, so [`BackupContents`] caches the result (success or
//! failure) per backup name for the life of the process: one download at most.

use std::io::{self, Read};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use base64::Engine;
use futures::TryStreamExt;
use serde_json::{Value, json};

use super::index::{self, BackupIndex, IndexOptions};
use fsb_guard_core::Resource;

use crate::cluster::{self, Cluster, Create};

/// Settings of the download flow.
#[derive(Debug, Clone)]
pub struct DownloadOptions {
    /// How long to wait for Velero to publish the signed URL.
    pub url_timeout: Duration,
    /// Longest pause between polls of the DownloadRequest: the first pause is
    /// [`FIRST_POLL_PAUSE`], each next one twice the last, up to this.
    pub poll_interval: Duration,
    /// Bound on the whole transfer (GET + indexing).
    pub transfer_timeout: Duration,
    /// Connecting to the object store.
    pub connect_timeout: Duration,
    /// Longest stall between two reads of the body.
    pub read_timeout: Duration,
    pub index: IndexOptions,
}

impl Default for DownloadOptions {
    fn default() -> Self {
        Self {
            url_timeout: Duration::from_secs(60),
            poll_interval: Duration::from_millis(250),
            transfer_timeout: Duration::from_secs(300),
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(30),
            index: IndexOptions::workloads(),
        }
    }
}

/// The first pause before asking the DownloadRequest again. Velero's controller publishes the
/// URL within milliseconds (it signs it with the object-store plugin), and the restore's first
/// guarded item waits for it: a full `poll_interval` first made that item ~250 ms.
pub const FIRST_POLL_PAUSE: Duration = Duration::from_millis(10);

/// Failures of the download flow.
#[derive(Debug, thiserror::Error)]
pub enum DownloadError {
    #[error("kubernetes API: {0}")]
    Cluster(#[from] cluster::Error),
    #[error(
        "Velero published no download URL for backup {backup} within {after:?} (DownloadRequest {request} in namespace {namespace}); is the backup and its storage location present?"
    )]
    NoUrl {
        backup: String,
        request: String,
        namespace: String,
        after: Duration,
    },
    #[error("backup {backup}: contents not found in object storage (HTTP 404 from {host})")]
    NotFound { backup: String, host: String },
    #[error("backup {backup}: object storage {host} answered HTTP {status}")]
    Http {
        backup: String,
        host: String,
        status: u16,
    },
    #[error("backup {backup}: invalid caCert on BackupStorageLocation {location}: {reason}")]
    CaCert {
        backup: String,
        location: String,
        reason: String,
    },
    #[error("backup {backup}: cannot download from {host}: {reason}")]
    Transfer {
        backup: String,
        host: String,
        reason: String,
    },
    #[error("backup {backup}: download from {host} did not finish within {after:?}")]
    TransferTimeout {
        backup: String,
        host: String,
        after: Duration,
    },
    #[error("backup {backup}: {source}")]
    Index {
        backup: String,
        #[source]
        source: super::error::Error,
    },
}

/// TLS settings taken from a BackupStorageLocation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObjectStoreTls {
    /// PEM bundle (already base64-decoded).
    pub ca_pem: Option<Vec<u8>>,
    pub insecure_skip_verify: bool,
}

impl ObjectStoreTls {
    /// Reads `spec.objectStorage.caCert` (base64 PEM, a `[]byte` field in Velero's API) and
    /// `spec.config.insecureSkipTLSVerify` (a string; parsed like Go's `strconv.ParseBool`).
    pub fn from_location(bsl: &Value) -> Result<Self, String> {
        let ca_pem = match bsl
            .pointer("/spec/objectStorage/caCert")
            .and_then(Value::as_str)
        {
            Some(b64) if !b64.trim().is_empty() => Some(
                base64::engine::general_purpose::STANDARD
                    .decode(b64.trim())
                    .map_err(|e| format!("not base64: {e}"))?,
            ),
            _ => None,
        };
        let insecure_skip_verify = bsl
            .pointer("/spec/config/insecureSkipTLSVerify")
            .and_then(Value::as_str)
            .is_some_and(|v| matches!(v, "1" | "t" | "T" | "true" | "TRUE" | "True"));
        Ok(Self {
            ca_pem,
            insecure_skip_verify,
        })
    }
}

/// Host of a URL for messages: the signed URL's query carries credentials and is never shown.
fn host_of(url: &str) -> String {
    reqwest::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_else(|| "<invalid URL>".into())
}

/// A name Kubernetes accepts and Velero's GC ignores until expiry: `<backup>-fsb-guard-<random>`.
pub fn download_request_name(backup: &str) -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default(),
    );
    hasher.write_u32(std::process::id());
    let mut n = hasher.finish();
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let suffix: String = (0..8)
        .map(|_| {
            let c = ALPHABET[(n % ALPHABET.len() as u64) as usize] as char;
            n /= ALPHABET.len() as u64;
            c
        })
        .collect();
    // Object names are DNS subdomains of at most 253 characters.
    let tail = format!("-fsb-guard-{suffix}");
    let head: String = backup.chars().take(253 - tail.len()).collect();
    format!("{head}{tail}")
}

/// Runs the whole flow for `backup` and returns its index.
pub async fn download_backup_index(
    cluster: &Cluster,
    backup: &str,
    opts: &DownloadOptions,
) -> Result<BackupIndex, DownloadError> {
    let namespace = cluster.velero_namespace().to_owned();
    let request_name = download_request_name(backup);
    let request = json!({
        "apiVersion": "velero.io/v1",
        "kind": "DownloadRequest",
        "metadata": {
            "name": request_name,
            "namespace": namespace,
            "labels": {"app.kubernetes.io/managed-by": "velero-fsb-guard"},
        },
        "spec": {"target": {"kind": "BackupContents", "name": backup}},
    });
    cluster
        .create(
            Resource::DOWNLOAD_REQUESTS,
            &namespace,
            &request,
            Create::Store,
        )
        .await?;
    let outcome = fetch_with_request(cluster, backup, &request_name, opts).await;
    if let Err(e) = cluster
        .delete(Resource::DOWNLOAD_REQUESTS.named(&namespace, &request_name))
        .await
    {
        tracing::warn!(request = %request_name, error = %e, "could not delete DownloadRequest; Velero removes it when it expires");
    }
    outcome
}

async fn fetch_with_request(
    cluster: &Cluster,
    backup: &str,
    request_name: &str,
    opts: &DownloadOptions,
) -> Result<BackupIndex, DownloadError> {
    let started = Instant::now();
    let url = wait_for_url(cluster, backup, request_name, opts).await?;
    let url_published = started.elapsed();
    let tls = location_tls(cluster, backup).await?;
    let index = fetch_index(backup, &url, &tls, opts).await?;
    // The first item's cost, in its parts (the restore state logs the rest).
    tracing::debug!(
        backup,
        download_url_ms = millis(url_published),
        download_index_ms = millis(started.elapsed() - url_published),
        "backup contents downloaded and indexed"
    );
    Ok(index)
}

/// Whole milliseconds, for log fields.
pub fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

async fn wait_for_url(
    cluster: &Cluster,
    backup: &str,
    request_name: &str,
    opts: &DownloadOptions,
) -> Result<String, DownloadError> {
    let namespace = cluster.velero_namespace().to_owned();
    let deadline = tokio::time::Instant::now() + opts.url_timeout;
    let mut pause = FIRST_POLL_PAUSE.min(opts.poll_interval);
    loop {
        let current = cluster
            .get(Resource::DOWNLOAD_REQUESTS.named(&namespace, request_name))
            .await?;
        if let Some(url) = current
            .as_ref()
            .and_then(|r| r.pointer("/status/downloadURL"))
            .and_then(Value::as_str)
            .filter(|u| !u.is_empty())
        {
            return Ok(url.to_owned());
        }
        if tokio::time::Instant::now() + pause > deadline {
            return Err(DownloadError::NoUrl {
                backup: backup.to_owned(),
                request: request_name.to_owned(),
                namespace,
                after: opts.url_timeout,
            });
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(opts.poll_interval);
    }
}

/// TLS settings of the backup's storage location. Not being allowed to read the Backup or its
/// location is not fatal: the download is tried with the system roots.
async fn location_tls(cluster: &Cluster, backup: &str) -> Result<ObjectStoreTls, DownloadError> {
    let location = match cluster.get_backup(backup).await {
        Ok(Some(b)) => b
            .pointer("/spec/storageLocation")
            .and_then(Value::as_str)
            .map(str::to_owned),
        Ok(None) => None,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the Backup; downloading with default TLS settings");
            None
        }
    };
    let Some(location) = location else {
        return Ok(ObjectStoreTls::default());
    };
    match cluster.get_backup_storage_location(&location).await {
        Ok(Some(bsl)) => {
            ObjectStoreTls::from_location(&bsl).map_err(|reason| DownloadError::CaCert {
                backup: backup.to_owned(),
                location,
                reason,
            })
        }
        Ok(None) => Ok(ObjectStoreTls::default()),
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the BackupStorageLocation; downloading with default TLS settings");
            Ok(ObjectStoreTls::default())
        }
    }
}

/// GETs `url` and streams the body into the index, honouring `tls`. Public so tests (and tools)
/// can run the transfer part against any URL.
pub async fn fetch_index(
    backup: &str,
    url: &str,
    tls: &ObjectStoreTls,
    opts: &DownloadOptions,
) -> Result<BackupIndex, DownloadError> {
    cluster::install_crypto_provider();
    let host = host_of(url);
    let transfer = |reason: String| DownloadError::Transfer {
        backup: backup.to_owned(),
        host: host.clone(),
        reason,
    };
    let mut builder = reqwest::Client::builder()
        .connect_timeout(opts.connect_timeout)
        .read_timeout(opts.read_timeout);
    if reqwest::Url::parse(url).is_ok_and(|u| u.scheme() == "http") {
        // No TLS on this connection, so no root store: by default the client loads the system's
        // CA certificates and fails to build without any ("No CA certificates were loaded from
        // the system"), which is the case in a Velero image without a CA bundle.
        builder = builder.tls_certs_only([]);
    }
    if let Some(pem) = &tls.ca_pem {
        let certs =
            reqwest::Certificate::from_pem_bundle(pem).map_err(|e| DownloadError::CaCert {
                backup: backup.to_owned(),
                location: "of the backup".into(),
                reason: e.to_string(),
            })?;
        if certs.is_empty() {
            return Err(DownloadError::CaCert {
                backup: backup.to_owned(),
                location: "of the backup".into(),
                reason: "no PEM certificate in caCert".into(),
            });
        }
        for cert in certs {
            builder = builder.add_root_certificate(cert);
        }
    }
    if tls.insecure_skip_verify {
        builder = builder.tls_danger_accept_invalid_certs(true);
    }
    let client = builder.build().map_err(|e| transfer(error_chain(&e)))?;

    let cancelled = Arc::new(AtomicBool::new(false));
    let work = async {
        let response = client
            .get(url)
            .send()
            .await
            // The signed URL's query is a credential: drop it from the error text.
            .map_err(|e| transfer(error_chain(&e.without_url())))?;
        let status = response.status();
        if status == reqwest::StatusCode::NOT_FOUND {
            return Err(DownloadError::NotFound {
                backup: backup.to_owned(),
                host: host.clone(),
            });
        }
        if !status.is_success() {
            return Err(DownloadError::Http {
                backup: backup.to_owned(),
                host: host.clone(),
                status: status.as_u16(),
            });
        }
        let stream = response
            .bytes_stream()
            .map_err(|e| io::Error::other(error_chain(&e.without_url())));
        let reader = tokio_util::io::SyncIoBridge::new(tokio_util::io::StreamReader::new(stream));
        let reader = Cancellable {
            inner: reader,
            cancelled: cancelled.clone(),
        };
        let index_opts = opts.index.clone();
        tokio::task::spawn_blocking(move || index::read_archive(reader, &index_opts))
            .await
            .map_err(|e| transfer(format!("indexing task failed: {e}")))?
            .map_err(|source| DownloadError::Index {
                backup: backup.to_owned(),
                source,
            })
    };
    match tokio::time::timeout(opts.transfer_timeout, work).await {
        Ok(result) => result,
        Err(_) => {
            // The blocking reader notices on its next read and stops.
            cancelled.store(true, Ordering::Relaxed);
            Err(DownloadError::TransferTimeout {
                backup: backup.to_owned(),
                host,
                after: opts.transfer_timeout,
            })
        }
    }
}

fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut cur = err.source();
    while let Some(e) = cur {
        text.push_str(": ");
        text.push_str(&e.to_string());
        cur = e.source();
    }
    text
}

/// Stops a blocking reader once the async side gave up on it.
struct Cancellable<R> {
    inner: R,
    cancelled: Arc<AtomicBool>,
}

impl<R: Read> Read for Cancellable<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.cancelled.load(Ordering::Relaxed) {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "download cancelled",
            ));
        }
        self.inner.read(buf)
    }
}
