//! `velero-fsb-guard check`: the guard's decisions over a downloaded backup and a resource-modifier
//! file, before anyone restores (design §5 "Offline check").
//!
//! Which Deployments, StatefulSets and DaemonSets would roll out or scale down and delete pods whose
//! file-system-backup data is being restored, what the plugin does about it, the objects as they
//! will be created, and the equivalent pod-scoped rules for clusters without the plugin. Every
//! decision comes from the plugin's own plans ([`fsb_guard_core::deployment::plan`],
//! [`fsb_guard_core::statefulset::plan`], [`fsb_guard_core::daemonset::plan`]); this module reads
//! inputs, words results and writes files.
//!
//! Module map: [`args`] (flags), `input` (backup, PodVolumeBackups, rules; the embedded sample),
//! `fsb` (which source says which volumes hold FSB data), [`analysis`] (every workload's plan and
//! the summary), [`workload`] (the one report type of a workload), `deployment`, `statefulset`,
//! `daemonset` (each kind's plan worded), `replicas` (replica changes worded), `lint`, `report`
//! (table/JSON), `output_dir`, `pod_rules`.

pub mod analysis;
pub mod args;
mod daemonset;
mod deployment;
mod error;
pub mod existing;
pub mod fsb;
pub mod input;
pub mod lint;
pub mod output_dir;
pub mod pod_rules;
pub mod replicas;
pub mod report;
mod statefulset;
pub mod workload;

use std::ffi::OsString;
use std::io::{IsTerminal, Write};
use std::path::Path;

pub use analysis::{Analysis, analyse};
pub use args::{CheckArgs, Format};
pub use error::{Error, Result};

/// Exit code: the analysis ran.
pub const EXIT_OK: i32 = 0;
/// Exit code: something could not be read or written.
pub const EXIT_ERROR: i32 = 1;
/// Exit code: usage error.
pub const EXIT_USAGE: i32 = 2;
/// Exit code with `--exit-code`: a rollout or scale-down would delete pods holding FSB data.
pub const EXIT_AT_RISK: i32 = 3;

/// Everything `check` produced.
#[derive(Debug)]
pub struct CheckOutcome {
    pub analysis: Analysis,
    /// The report as printed on stdout.
    pub rendered: String,
    /// Notes for stderr (files written).
    pub notes: Vec<String>,
}

/// Runs the check for parsed arguments (no printing), with an optional progress callback.
pub fn check(
    args: &CheckArgs,
    progress: crate::backup::local::Progress<'_>,
) -> Result<CheckOutcome> {
    let backup = match &args.backup {
        Some(path) => input::open_backup(path, progress)?,
        None => input::embedded_sample()?,
    };
    let rules = match &args.resource_modifiers {
        Some(path) => input::read_rules_file(path)?,
        None => input::embedded_rules()?,
    };
    let flag_pvbs = match &args.pod_volume_backups {
        Some(path) => Some((path.display().to_string(), input::read_pvb_file(path)?)),
        None => None,
    };
    let pods: Vec<&serde_json::Value> = backup
        .index
        .items_of(fsb_guard_core::Resource::PODS)
        .map(|(_, p)| p)
        .collect();
    let fsb = fsb::resolve(
        flag_pvbs,
        backup.bucket_pvbs.clone(),
        &pods,
        args.default_volumes_to_fs_backup,
    );
    let mut analysis = analyse(&backup, &rules, &fsb)?;
    if let Some(path) = &args.target_workloads {
        let targets = existing::read_target_workloads(path)?;
        analysis.existing_workloads = Some(existing::analyse(
            &backup.index,
            &fsb.index,
            &targets,
            &args.namespace_mappings,
            args.existing_resource_policy,
        ));
    }
    let mut notes = Vec::new();
    if let Some(dir) = &args.output_dir {
        let written = output_dir::write_objects(dir, &backup.index, &rules.rules, &analysis.plans)?;
        notes.push(format!(
            "wrote {} objects as they will be created to {}",
            written.len(),
            dir.display()
        ));
    }
    if let Some(file) = &args.emit_pod_rules {
        let text = pod_rules::emit(
            &rules.rules,
            rules.configmap_name.as_deref(),
            &analysis.plans.deployments,
        );
        write_file(file, &text)?;
        notes.push(format!(
            "wrote pod- and ReplicaSet-scoped rules for clusters without the plugin to {}",
            file.display()
        ));
    }
    let mut rendered = match args.format {
        Format::Table => report::render_table(&analysis),
        Format::Json => report::render_json(&analysis),
    };
    if let (Format::Table, Some(list), Some(path)) = (
        args.format,
        &analysis.existing_workloads,
        &args.target_workloads,
    ) {
        rendered.push_str(&existing::render_table(list, &path.display().to_string()));
    }
    Ok(CheckOutcome {
        analysis,
        rendered,
        notes,
    })
}

fn write_file(path: &Path, text: &str) -> Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|source| Error::Write {
            path: parent.to_path_buf(),
            source,
        })?;
    }
    std::fs::write(path, text).map_err(|source| Error::Write {
        path: path.to_path_buf(),
        source,
    })
}

/// The exit code for an outcome.
pub fn exit_code(args: &CheckArgs, analysis: &Analysis) -> i32 {
    if args.exit_code && analysis.summary.fsb_data_at_risk {
        EXIT_AT_RISK
    } else {
        EXIT_OK
    }
}

/// `velero-fsb-guard check ARGS…` (argv after `check`): prints the report, returns the exit code.
pub fn run(argv: &[OsString]) -> i32 {
    let mut stdout = std::io::stdout().lock();
    let mut stderr = std::io::stderr();
    let args = match args::parse(argv) {
        Ok(a) => a,
        Err(e) => {
            let _ = writeln!(stderr, "error: {e}\n\n{}", args::CHECK_USAGE);
            return EXIT_USAGE;
        }
    };
    if args.help {
        let _ = stdout.write_all(args::CHECK_USAGE.as_bytes());
        return EXIT_OK;
    }
    let terminal = std::io::stderr().is_terminal();
    let mut last_shown = u64::MAX;
    let mut progress = |read: u64, total: u64| {
        if !terminal || total == 0 {
            return;
        }
        let percent = read.saturating_mul(100) / total;
        if percent != last_shown {
            last_shown = percent;
            let _ = write!(
                std::io::stderr(),
                "\rreading backup: {} / {} MiB ({percent}%)",
                read >> 20,
                total >> 20
            );
        }
    };
    let outcome = check(&args, &mut progress);
    if terminal && last_shown != u64::MAX {
        let _ = write!(stderr, "\r\x1b[K");
    }
    match outcome {
        Ok(outcome) => {
            let _ = stdout.write_all(outcome.rendered.as_bytes());
            let _ = stdout.flush();
            for note in &outcome.notes {
                let _ = writeln!(stderr, "{note}");
            }
            exit_code(&args, &outcome.analysis)
        }
        Err(e) => {
            let _ = writeln!(stderr, "error: {e}");
            EXIT_ERROR
        }
    }
}
