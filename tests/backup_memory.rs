//! The index streams: indexing a backup much larger than the memory growth we allow must work.
//! The tarball is produced on the fly by a writer thread through a pipe, so the test itself never
//! holds it; peak RSS (VmHWM) is read from /proc. One test per binary keeps the figure clean.

#[path = "backup_support/mod.rs"]
mod support;

use std::io::Write;

use flate2::Compression;
use flate2::write::GzEncoder;
use velero_fsb_guard::backup::IndexOptions;
use velero_fsb_guard::backup::index::read_tar_gz;

fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

#[test]
fn memory_stays_flat_in_backup_size() {
    const ENTRIES: usize = 512;
    const ENTRY_BYTES: usize = 256 * 1024; // 128 MiB of tar content in total
    let Some(before) = peak_rss_kib() else {
        eprintln!("no /proc/self/status: skipped");
        return;
    };
    let (reader, writer) = std::io::pipe().unwrap();
    let producer = std::thread::spawn(move || {
        let mut tar = tar::Builder::new(GzEncoder::new(writer, Compression::fast()));
        let mut append = |path: &str, data: &[u8]| {
            let mut header = tar::Header::new_gnu();
            header.set_size(data.len() as u64);
            header.set_mode(0o755);
            tar.append_data(&mut header, path, data).unwrap();
        };
        append("metadata/version", b"1.1.0\n");
        let web = serde_json::to_vec(&support::deployment("shop", "web", "nginx:1")).unwrap();
        append("resources/deployments.apps/namespaces/shop/web.json", &web);
        // Valid JSON, so only the filter (not a parse error) keeps it out of the index.
        let filler = format!("{{\"pad\":\"{}\"}}", " ".repeat(ENTRY_BYTES - 10)).into_bytes();
        for i in 0..ENTRIES {
            // Pods are not kept by the plugin's options: streamed past, never buffered.
            append(
                &format!("resources/pods/namespaces/shop/p-{i}.json"),
                &filler,
            );
        }
        tar.into_inner().unwrap().finish().unwrap().flush().unwrap();
    });
    let index = read_tar_gz(reader, &IndexOptions::workloads()).unwrap();
    producer.join().unwrap();
    assert_eq!(index.len(), 1);
    assert_eq!(index.resource_counts().get("pods"), Some(&ENTRIES));
    let after = peak_rss_kib().unwrap();
    let grown_mib = after.saturating_sub(before) / 1024;
    let total_mib = (ENTRIES * ENTRY_BYTES) >> 20;
    println!("indexed {total_mib} MiB of tar content; peak RSS grew by {grown_mib} MiB");
    assert!(
        grown_mib < 32,
        "peak RSS grew by {grown_mib} MiB while streaming {total_mib} MiB"
    );
}
