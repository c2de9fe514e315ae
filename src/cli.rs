//! Command-line entry point (placeholder until the transport lands).

/// Runs the binary and returns the process exit code.
pub fn run() -> i32 {
    eprintln!("velero-fsb-guard is a Velero plugin: install it with `velero plugin add <image>`");
    2
}
