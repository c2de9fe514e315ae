//! Errors of the resource-modifier engine.

/// Why a resource-modifier document cannot be used.
///
/// Messages name fields, rule indexes and YAML positions, never patch values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The ConfigMap does not have exactly one `data` entry holding a string.
    #[error("resource modifier ConfigMap must have exactly one data key, found {found}")]
    ConfigMapShape {
        /// number of usable `data` entries found
        found: usize,
    },
    /// The YAML text cannot be parsed (syntax, duplicate keys, bad tags…).
    #[error("failed to decode yaml data into resource modifiers: {0}")]
    Yaml(String),
    /// The document decodes but is invalid: every problem, with rule indexes and positions.
    #[error("invalid resource modifiers: {}", .0.join("; "))]
    Invalid(Vec<String>),
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
