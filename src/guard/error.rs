//! Why the guard could not decide. Every variant names its cause; the shell maps it at the edge
//! (fail open: item unchanged + `warn`; fail closed: item error).

/// Errors of the guard.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The restore's resource-modifier rules could not be read or evaluated.
    #[error("resource modifiers: {0}")]
    Rules(String),
    /// A strategic merge patch could not be computed or applied.
    #[error("strategic merge patch: {0}")]
    Patch(String),
    /// A Kubernetes API call failed (message names verb and resource).
    #[error("kubernetes API: {0}")]
    Cluster(String),
    /// A write was refused because the object changed since it was read (resourceVersion
    /// precondition failed, HTTP 409/422): re-read and decide again.
    #[error("kubernetes API: {0}: the object changed since it was read")]
    Conflict(String),
    /// The backup contents could not be downloaded or indexed.
    #[error("backup contents: {0}")]
    Backup(String),
    /// An input object lacks something the decision needs.
    #[error("{0}")]
    Invalid(String),
}

/// `Result` with the guard's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
