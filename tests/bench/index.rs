//! Benchmark-only timer for the backup index (tests/bench/run.sh): streams a Velero backup
//! tarball (`.tar.gz`) through `backup::index::read_tar_gz` with the plugin's options (keep
//! Deployments and ReplicaSets, stream past everything else) and prints one line
//! `index bytes=<file size> seconds=<wall> kept=<items> peak_rss_kib=<VmHWM>`.

use std::io::BufReader;
use std::time::Instant;

use velero_fsb_guard::backup::IndexOptions;
use velero_fsb_guard::backup::index::read_tar_gz;

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

fn main() {
    let path = std::env::args_os()
        .nth(1)
        .expect("usage: bench_index <backup.tar.gz>");
    let file = std::fs::File::open(&path).expect("opening the backup");
    let bytes = file.metadata().map(|m| m.len()).unwrap_or(0);
    let start = Instant::now();
    let index =
        read_tar_gz(BufReader::new(file), &IndexOptions::workloads()).expect("indexing the backup");
    let seconds = start.elapsed().as_secs_f64();
    println!(
        "index bytes={bytes} seconds={seconds:.4} kept={} peak_rss_kib={}",
        index.len(),
        peak_rss_kib()
    );
}
