//! Why a decision could not be made. The plugin shell adds what the live cluster and the backup
//! download can fail with, and maps every error at the edge (fail open: item unchanged + `warn`;
//! fail closed: item error). Messages are what the restore log shows after
//! `guard could not decide, item restored unchanged: `, so each variant names its cause.

/// Errors of the decisions.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The restore's resource-modifier rules could not be read.
    #[error("resource modifiers: {0}")]
    Rules(#[from] fsb_modifiers::Error),
    /// A strategic merge patch could not be computed or applied.
    #[error("strategic merge patch: {0}")]
    Patch(#[from] fsb_smp::Error),
    /// A workload (or what the rules make of it) has no pod template. `object` names it as the
    /// restore log does (`Deployment shop/web`).
    #[error("{object} has no spec.template{}", if *after_rules { " after the rules" } else { "" })]
    NoTemplate { object: String, after_rules: bool },
}

/// `Result` with the core's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
