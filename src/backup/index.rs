//! One-pass index of the items a restore decision needs from a Velero backup.
//!
//! Memory stays flat in the backup size: entries are read one at a time from the stream, only the
//! unversioned copies of the requested group-resources are parsed and kept, and both a single entry and
//! the kept total are capped.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

use flate2::bufread::GzDecoder;
use serde_json::Value;

use fsb_guard_core::Resource;

use super::error::{Error, Result};

/// Format versions Velero has written to `metadata/version`: `1` up to v1.3, `1.1.0` since v1.4.
const KNOWN_FORMAT_VERSIONS: &[&str] = &["1", "1.1.0"];
const VERSION_ENTRY: &str = "metadata/version";
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// What to keep while indexing, and the caps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexOptions {
    /// Group-resources (as in backup paths: `deployments.apps`, `pods`) whose items are kept.
    pub resources: BTreeSet<String>,
    /// Largest single kept entry, in bytes (the JSON text).
    pub max_entry_bytes: u64,
    /// Largest sum of kept entries, in bytes (the JSON text).
    pub max_total_bytes: u64,
    /// Keep only pods controlled by a workload (a controller `ownerReference` of kind ReplicaSet,
    /// StatefulSet or DaemonSet in group `apps`): the only pods a restore decision reads. Other
    /// pods are still counted in [`BackupIndex::resource_counts`].
    pub controlled_pods_only: bool,
    /// Hand each kept item's JSON text, unparsed, to this sink as it is read instead of keeping it
    /// in the index ([`IndexOptions::handed_to`]): the plugin keeps only what its restore reads.
    /// `controlled_pods_only` does not apply (it needs the parsed pod); the receiver checks the
    /// JSON. Handed bytes count towards `max_total_bytes`.
    pub sink: Option<ItemSink>,
}

/// Where an index hands the items' JSON text, one at a time as the archive streams
/// ([`IndexOptions::handed_to`]): the receiver decides what to keep, so the whole backup's text is
/// never held at once. Bounded: the reader waits while the receiver is behind, and stops with an
/// error once the receiver is gone.
#[derive(Debug, Clone)]
pub struct ItemSink(tokio::sync::mpsc::Sender<(ItemKey, Vec<u8>)>);

impl ItemSink {
    /// A sink and its receiver, holding at most `capacity` items in between.
    pub fn channel(capacity: usize) -> (Self, tokio::sync::mpsc::Receiver<(ItemKey, Vec<u8>)>) {
        let (sender, receiver) = tokio::sync::mpsc::channel(capacity);
        (Self(sender), receiver)
    }
}

impl PartialEq for ItemSink {
    fn eq(&self, other: &Self) -> bool {
        self.0.same_channel(&other.0)
    }
}

impl Eq for ItemSink {}

impl IndexOptions {
    /// etcd refuses objects above ~1.5 MiB; 4 MiB leaves room for odd stores without letting one
    /// entry dominate memory.
    pub const DEFAULT_MAX_ENTRY_BYTES: u64 = 4 << 20;
    /// Deployments and ReplicaSets run to a few KiB each; 256 MiB of JSON covers tens of thousands.
    pub const DEFAULT_MAX_TOTAL_BYTES: u64 = 256 << 20;

    /// Deployments and ReplicaSets: what the plugin needs during a restore.
    pub fn workloads() -> Self {
        Self {
            resources: [Resource::DEPLOYMENTS, Resource::REPLICA_SETS]
                .map(|r| r.group_resource().to_owned())
                .into(),
            max_entry_bytes: Self::DEFAULT_MAX_ENTRY_BYTES,
            max_total_bytes: Self::DEFAULT_MAX_TOTAL_BYTES,
            controlled_pods_only: false,
            sink: None,
        }
    }

    /// Also keep pods (the offline check needs them).
    pub fn with_pods(self) -> Self {
        self.keep(Resource::PODS)
    }

    /// Also keep another resource.
    pub fn keep(mut self, resource: Resource) -> Self {
        self.resources.insert(resource.group_resource().to_owned());
        self
    }

    /// Keep only pods owned by a ReplicaSet, StatefulSet or DaemonSet (see
    /// [`IndexOptions::controlled_pods_only`]).
    pub fn only_controlled_pods(mut self) -> Self {
        self.controlled_pods_only = true;
        self
    }

    /// Hand the items' text to `sink` instead of keeping it (see [`IndexOptions::sink`]). Must be
    /// read on a thread that may block (not an async task).
    pub fn handed_to(mut self, sink: ItemSink) -> Self {
        self.sink = Some(sink);
        self
    }

    /// Whether the filter drops this kept-resource item.
    fn drops(&self, group_resource: &str, item: &Value) -> bool {
        self.controlled_pods_only
            && group_resource == Resource::PODS.group_resource()
            && !controlled_by_workload(item)
    }

    pub fn with_max_entry_bytes(mut self, limit: u64) -> Self {
        self.max_entry_bytes = limit;
        self
    }

    pub fn with_max_total_bytes(mut self, limit: u64) -> Self {
        self.max_total_bytes = limit;
        self
    }
}

impl Default for IndexOptions {
    fn default() -> Self {
        Self::workloads()
    }
}

/// Kinds of the workload controllers whose pods a restore decision reads.
const POD_CONTROLLER_KINDS: [&str; 3] = ["ReplicaSet", "StatefulSet", "DaemonSet"];

/// `true` when `pod` has a controller `ownerReference` of a kind in [`POD_CONTROLLER_KINDS`] in
/// the `apps` group (any version).
pub fn controlled_by_workload(pod: &Value) -> bool {
    pod.pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .is_some_and(|refs| {
            refs.iter().any(|r| {
                r.get("controller").and_then(Value::as_bool) == Some(true)
                    && r.get("kind")
                        .and_then(Value::as_str)
                        .is_some_and(|k| POD_CONTROLLER_KINDS.contains(&k))
                    && r.get("apiVersion")
                        .and_then(Value::as_str)
                        .is_some_and(|v| v.starts_with("apps/"))
            })
        })
}

/// Identifies a namespaced item as the backup stores it (original namespace).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ItemKey {
    pub group_resource: String,
    pub namespace: String,
    pub name: String,
}

impl ItemKey {
    /// The item's path in the backup (its unversioned copy), as errors name it.
    pub fn entry(&self) -> String {
        format!(
            "resources/{}/namespaces/{}/{}.json",
            self.group_resource, self.namespace, self.name
        )
    }
}

/// The kept items of one backup.
#[derive(Debug, Clone, Default)]
pub struct BackupIndex {
    format_version: String,
    items: BTreeMap<ItemKey, Value>,
    resource_counts: BTreeMap<String, usize>,
    kept_bytes: u64,
}

impl BackupIndex {
    /// Content of `metadata/version`, trimmed (`1.1.0` for every Velero since v1.4).
    pub fn format_version(&self) -> &str {
        &self.format_version
    }

    pub fn get(&self, resource: Resource, namespace: &str, name: &str) -> Option<&Value> {
        // BTreeMap lookups need an owned key; items are few and this is not a hot path.
        self.items.get(&ItemKey {
            group_resource: resource.group_resource().to_owned(),
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        })
    }

    pub fn deployment(&self, namespace: &str, name: &str) -> Option<&Value> {
        self.get(Resource::DEPLOYMENTS, namespace, name)
    }

    pub fn replica_set(&self, namespace: &str, name: &str) -> Option<&Value> {
        self.get(Resource::REPLICA_SETS, namespace, name)
    }

    pub fn pod(&self, namespace: &str, name: &str) -> Option<&Value> {
        self.get(Resource::PODS, namespace, name)
    }

    /// Kept items of one resource, ordered by namespace then name.
    pub fn items_of(&self, resource: Resource) -> impl Iterator<Item = (&ItemKey, &Value)> {
        self.items
            .iter()
            .filter(move |(key, _)| key.group_resource == resource.group_resource())
    }

    /// Kept items of one resource in one namespace, ordered by name.
    pub fn items_in<'a>(
        &'a self,
        resource: Resource,
        namespace: &'a str,
    ) -> impl Iterator<Item = (&'a ItemKey, &'a Value)> + 'a {
        self.items_of(resource)
            .filter(move |(key, _)| key.namespace == namespace)
    }

    /// Every kept item.
    pub fn items(&self) -> impl Iterator<Item = (&ItemKey, &Value)> {
        self.items.iter()
    }

    /// Kept items (none when they were handed to a sink).
    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes of JSON text kept or handed to a sink (what the total cap counts).
    pub fn kept_bytes(&self) -> u64 {
        self.kept_bytes
    }

    /// Number of unversioned items per group-resource in the whole backup, kept or not (namespaced
    /// and cluster-scoped). Lets a caller tell "no such resource in the backup" from "not kept".
    pub fn resource_counts(&self) -> &BTreeMap<String, usize> {
        &self.resource_counts
    }
}

/// Where an entry path points, per Velero's layout.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum EntryPath<'a> {
    Version,
    /// `resources/<gr>/namespaces/<ns>/<name>.json`
    Namespaced {
        group_resource: &'a str,
        namespace: &'a str,
        name: &'a str,
    },
    /// `resources/<gr>/cluster/<name>.json`
    ClusterScoped {
        group_resource: &'a str,
    },
    /// Versioned copies (`<v>-preferredversion`, `<v>` with EnableAPIGroupVersions), directories and
    /// anything else.
    Other,
}

pub(crate) fn classify(path: &str) -> EntryPath<'_> {
    let path = path.trim_start_matches("./").trim_start_matches('/');
    if path == VERSION_ENTRY {
        return EntryPath::Version;
    }
    let parts: Vec<&str> = path.split('/').collect();
    // `.` and `..` are no Kubernetes name or namespace: an entry naming one is no item Velero
    // wrote (a traversal attempt), never kept or counted.
    let dot = |s: &str| s == "." || s == "..";
    if parts.iter().any(|p| dot(p))
        || parts
            .last()
            .and_then(|f| f.strip_suffix(".json"))
            .is_some_and(dot)
    {
        return EntryPath::Other;
    }
    match parts.as_slice() {
        ["resources", gr, "namespaces", ns, file]
            if !gr.is_empty() && !ns.is_empty() && file.len() > ".json".len() =>
        {
            match file.strip_suffix(".json") {
                Some(name) => EntryPath::Namespaced {
                    group_resource: gr,
                    namespace: ns,
                    name,
                },
                None => EntryPath::Other,
            }
        }
        ["resources", gr, "cluster", file] if !gr.is_empty() && file.ends_with(".json") => {
            EntryPath::ClusterScoped { group_resource: gr }
        }
        _ => EntryPath::Other,
    }
}

/// Accumulates entries from any source (tar stream, directory walk) under the caps.
pub(crate) struct IndexBuilder<'o> {
    opts: &'o IndexOptions,
    index: BackupIndex,
    saw_version: bool,
}

impl<'o> IndexBuilder<'o> {
    pub(crate) fn new(opts: &'o IndexOptions) -> Self {
        Self {
            opts,
            index: BackupIndex::default(),
            saw_version: false,
        }
    }

    /// Whether the content of this entry is needed (the caller may skip reading it otherwise).
    pub(crate) fn wants(&self, path: &str) -> bool {
        match classify(path) {
            EntryPath::Version => true,
            EntryPath::Namespaced { group_resource, .. } => {
                self.opts.resources.contains(group_resource)
            }
            _ => false,
        }
    }

    /// Records an entry. `content` is read only when the entry is wanted.
    pub(crate) fn add(&mut self, path: &str, size: u64, content: impl Read) -> Result<()> {
        match classify(path) {
            EntryPath::Version => self.add_version(content),
            EntryPath::ClusterScoped { group_resource } => {
                *self
                    .index
                    .resource_counts
                    .entry(group_resource.to_owned())
                    .or_default() += 1;
                Ok(())
            }
            EntryPath::Namespaced {
                group_resource,
                namespace,
                name,
            } => {
                *self
                    .index
                    .resource_counts
                    .entry(group_resource.to_owned())
                    .or_default() += 1;
                if !self.opts.resources.contains(group_resource) {
                    return Ok(());
                }
                let entry = || path.to_owned();
                if size > self.opts.max_entry_bytes {
                    return Err(Error::EntryTooLarge {
                        entry: entry(),
                        size,
                        limit: self.opts.max_entry_bytes,
                    });
                }
                // A filtered resource is read before it is known to be kept: only the kept
                // entries count, so its total is checked after the filter.
                let filtered = self.opts.controlled_pods_only
                    && group_resource == Resource::PODS.group_resource();
                if !filtered
                    && self.index.kept_bytes.saturating_add(size) > self.opts.max_total_bytes
                {
                    return Err(Error::TooLarge {
                        entry: entry(),
                        limit: self.opts.max_total_bytes,
                    });
                }
                // Read at most one byte past the limit so a lying size header cannot blow the cap.
                let mut buf = Vec::with_capacity(size as usize);
                content
                    .take(self.opts.max_entry_bytes + 1)
                    .read_to_end(&mut buf)
                    .map_err(|e| Error::Read(format!("{path}: {e}")))?;
                let read = buf.len() as u64;
                if read > self.opts.max_entry_bytes {
                    return Err(Error::EntryTooLarge {
                        entry: entry(),
                        size: read,
                        limit: self.opts.max_entry_bytes,
                    });
                }
                if !filtered && self.index.kept_bytes + read > self.opts.max_total_bytes {
                    return Err(Error::TooLarge {
                        entry: entry(),
                        limit: self.opts.max_total_bytes,
                    });
                }
                let key = || ItemKey {
                    group_resource: group_resource.to_owned(),
                    namespace: namespace.to_owned(),
                    name: name.to_owned(),
                };
                if let Some(ItemSink(sink)) = &self.opts.sink {
                    self.index.kept_bytes += read;
                    return sink
                        .blocking_send((key(), buf))
                        .map_err(|_| Error::Read(format!("{path}: its reader stopped")));
                }
                let value = parse_json(&buf, entry)?;
                if self.opts.drops(group_resource, &value) {
                    return Ok(());
                }
                if filtered && self.index.kept_bytes + read > self.opts.max_total_bytes {
                    return Err(Error::TooLarge {
                        entry: entry(),
                        limit: self.opts.max_total_bytes,
                    });
                }
                self.index.kept_bytes += read;
                self.index.items.insert(key(), value);
                Ok(())
            }
            EntryPath::Other => Ok(()),
        }
    }

    fn add_version(&mut self, content: impl Read) -> Result<()> {
        let mut raw = String::new();
        content
            .take(64)
            .read_to_string(&mut raw)
            .map_err(|e| Error::Read(format!("{VERSION_ENTRY}: {e}")))?;
        let found = raw.trim();
        if !KNOWN_FORMAT_VERSIONS.contains(&found) {
            return Err(Error::UnsupportedFormatVersion {
                found: found.to_owned(),
            });
        }
        self.index.format_version = found.to_owned();
        self.saw_version = true;
        Ok(())
    }

    pub(crate) fn finish(self, what: &str) -> Result<BackupIndex> {
        if !self.saw_version {
            return Err(Error::NotVeleroBackup(what.to_owned()));
        }
        Ok(self.index)
    }
}

/// An item's JSON text as an object, errors naming `entry()`.
fn parse_json(text: &[u8], entry: impl Fn() -> String) -> Result<Value> {
    let value: Value = serde_json::from_slice(text).map_err(|source| Error::BadJson {
        entry: entry(),
        source,
    })?;
    if !value.is_object() {
        return Err(Error::NotAnObject { entry: entry() });
    }
    Ok(value)
}

/// Remembers the first error the gzip layer produced, so a failure surfacing through the tar reader
/// can be attributed to the compression (truncated/corrupt) rather than to the archive format.
struct GzipWatch<R> {
    inner: GzDecoder<R>,
    error: Option<(io::ErrorKind, String)>,
}

impl<R: BufRead> Read for GzipWatch<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf).inspect_err(|e| {
            if self.error.is_none() {
                self.error = Some((e.kind(), e.to_string()));
            }
        })
    }
}

fn gzip_error(kind: io::ErrorKind, message: String) -> Error {
    if kind == io::ErrorKind::UnexpectedEof {
        Error::TruncatedGzip(message)
    } else {
        Error::CorruptGzip(message)
    }
}

/// Indexes a backup archive from a stream: gzip-compressed (what Velero stores and
/// `velero backup download` writes) or, if the stream does not start with the gzip magic, a plain tar.
pub fn read_archive<R: Read>(reader: R, opts: &IndexOptions) -> Result<BackupIndex> {
    let mut reader = BufReader::with_capacity(64 * 1024, reader);
    let head = reader.fill_buf().map_err(|e| Error::Read(e.to_string()))?;
    if head.is_empty() {
        return Err(Error::NotVeleroBackup(": the input is empty".into()));
    }
    if head.starts_with(&GZIP_MAGIC) {
        read_tar_gz(reader, opts)
    } else {
        read_tar(reader, opts)
    }
}

/// Indexes a gzip-compressed tar stream.
pub fn read_tar_gz<R: Read>(reader: R, opts: &IndexOptions) -> Result<BackupIndex> {
    let mut reader = BufReader::with_capacity(64 * 1024, reader);
    let head = reader.fill_buf().map_err(|e| Error::Read(e.to_string()))?;
    if !head.starts_with(&GZIP_MAGIC) {
        return Err(Error::NotGzip);
    }
    let mut gz = GzipWatch {
        inner: GzDecoder::new(reader),
        error: None,
    };
    let outcome = index_tar(&mut gz, opts);
    if let Some((kind, message)) = gz.error.take() {
        return Err(gzip_error(kind, message));
    }
    let index = outcome?;
    // tar stops at its end-of-archive blocks; drain the rest so the gzip trailer (CRC, length) is
    // checked and a cut-off download is reported instead of silently accepted.
    if let Err(e) = io::copy(&mut gz, &mut io::sink()) {
        return Err(gzip_error(e.kind(), e.to_string()));
    }
    Ok(index)
}

/// Indexes an uncompressed tar stream.
pub fn read_tar<R: Read>(reader: R, opts: &IndexOptions) -> Result<BackupIndex> {
    index_tar(reader, opts)
}

fn index_tar<R: Read>(reader: R, opts: &IndexOptions) -> Result<BackupIndex> {
    let mut archive = tar::Archive::new(reader);
    let mut builder = IndexBuilder::new(opts);
    let entries = archive.entries().map_err(|e| not_tar(&e))?;
    for entry in entries {
        let entry = entry.map_err(|e| not_tar(&e))?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let path = entry
            .path()
            .map_err(|e| not_tar(&e))?
            .to_string_lossy()
            .into_owned();
        let size = entry.size();
        // Unwanted entries are skipped by the tar reader itself (read and discarded in bounded
        // chunks) when the next entry is requested.
        if builder.wants(&path) {
            builder.add(&path, size, entry)?;
        } else {
            builder.add(&path, size, io::empty())?;
        }
    }
    builder.finish(" in the archive")
}

/// The tar reader's complaint, on one printable line: it quotes header bytes, which in random
/// input include newlines and control characters.
fn not_tar(error: &io::Error) -> Error {
    let message: String = error
        .to_string()
        .chars()
        .map(|c| {
            if c.is_control() || c == char::REPLACEMENT_CHARACTER {
                '?'
            } else {
                c
            }
        })
        .collect();
    Error::NotTar(message)
}

/// Indexes an extracted backup directory (the tarball unpacked: `metadata/version`, `resources/…`).
pub fn read_dir(root: &Path, opts: &IndexOptions) -> Result<BackupIndex> {
    let mut builder = IndexBuilder::new(opts);
    let io_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| Error::Io { path, source }
    };
    let version = root.join(VERSION_ENTRY);
    if version.is_file() {
        let file = std::fs::File::open(&version).map_err(io_err(&version))?;
        builder.add(VERSION_ENTRY, 0, file)?;
    }
    let resources = root.join("resources");
    if resources.is_dir() {
        for gr_dir in sorted_dir(&resources)? {
            let Some(gr) = file_name(&gr_dir) else {
                continue;
            };
            let namespaced = gr_dir.join("namespaces");
            if namespaced.is_dir() {
                for ns_dir in sorted_dir(&namespaced)? {
                    let Some(ns) = file_name(&ns_dir) else {
                        continue;
                    };
                    for file in sorted_dir(&ns_dir)? {
                        let Some(fname) = file_name(&file) else {
                            continue;
                        };
                        if !file.is_file() {
                            continue;
                        }
                        let rel = format!("resources/{gr}/namespaces/{ns}/{fname}");
                        if builder.wants(&rel) {
                            let size = file.metadata().map_err(io_err(&file))?.len();
                            let content = std::fs::File::open(&file).map_err(io_err(&file))?;
                            builder.add(&rel, size, content)?;
                        } else {
                            builder.add(&rel, 0, io::empty())?;
                        }
                    }
                }
            }
            let cluster = gr_dir.join("cluster");
            if cluster.is_dir() {
                for file in sorted_dir(&cluster)? {
                    let Some(fname) = file_name(&file) else {
                        continue;
                    };
                    builder.add(&format!("resources/{gr}/cluster/{fname}"), 0, io::empty())?;
                }
            }
        }
    }
    builder.finish(&format!(" in directory {}", root.display()))
}

fn file_name(path: &Path) -> Option<String> {
    path.file_name().map(|n| n.to_string_lossy().into_owned())
}

fn sorted_dir(dir: &Path) -> Result<Vec<std::path::PathBuf>> {
    let err = |source| Error::Io {
        path: dir.to_path_buf(),
        source,
    };
    let mut paths = std::fs::read_dir(dir)
        .map_err(err)?
        .map(|e| e.map(|e| e.path()))
        .collect::<io::Result<Vec<_>>>()
        .map_err(err)?;
    paths.sort();
    Ok(paths)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_velero_paths() {
        assert_eq!(classify("metadata/version"), EntryPath::Version);
        assert_eq!(classify("./metadata/version"), EntryPath::Version);
        assert_eq!(
            classify("resources/deployments.apps/namespaces/shop/web.v2.json"),
            EntryPath::Namespaced {
                group_resource: "deployments.apps",
                namespace: "shop",
                name: "web.v2"
            }
        );
        assert_eq!(
            classify("resources/deployments.apps/v1-preferredversion/namespaces/shop/web.json"),
            EntryPath::Other
        );
        assert_eq!(
            classify("resources/deployments.apps/v1beta1/namespaces/shop/web.json"),
            EntryPath::Other
        );
        assert_eq!(
            classify("resources/namespaces/cluster/shop.json"),
            EntryPath::ClusterScoped {
                group_resource: "namespaces"
            }
        );
        assert_eq!(
            classify("resources/pods/namespaces/shop/"),
            EntryPath::Other
        );
        assert_eq!(
            classify("resources/pods/namespaces/shop/.json"),
            EntryPath::Other
        );
        assert_eq!(
            classify("resources/pods/namespaces/shop/x.yaml"),
            EntryPath::Other
        );
        for traversal in [
            "../resources/pods/namespaces/shop/x.json",
            "resources/pods/namespaces/../x.json",
            "resources/pods/namespaces/./x.json",
            "resources/pods/namespaces/shop/...json",
            "resources/../cluster/x.json",
        ] {
            assert_eq!(classify(traversal), EntryPath::Other, "{traversal}");
        }
    }
}
