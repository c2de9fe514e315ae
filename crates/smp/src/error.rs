//! Errors of the strategic-merge-patch engine.

/// Everything that can go wrong while applying, diffing or resolving a schema.
///
/// Messages name paths and kinds, never patch values (they may carry secrets).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The kind is not one Velero can strategic-merge-patch (only core/v1, apps/v1, batch/v1 types are
    /// in its scheme; everything else, CRDs included, is rejected).
    #[error("strategic merge patch is not supported for {api_version}, Kind={kind}")]
    UnsupportedKind {
        /// apiVersion as given
        api_version: String,
        /// kind as given
        kind: String,
    },
    /// A document (original, patch or modified) is not a JSON object where one is needed.
    #[error("{what} must be a JSON object")]
    NotAnObject {
        /// which input
        what: &'static str,
    },
    /// A map or list value sits at a key the Go type does not have (Go: "unable to find api field").
    #[error("unable to find api field {field:?} at {path}")]
    UnknownField {
        /// JSON path of the parent object
        path: String,
        /// the unknown key
        field: String,
    },
    /// A patch directive is malformed or not allowed at this place.
    #[error("invalid patch directive at {path}: {reason}")]
    Directive {
        /// JSON path of the object carrying the directive
        path: String,
        /// what is wrong
        reason: String,
    },
    /// Patch and schema disagree in a way Go rejects (e.g. a list of maps without a merge key,
    /// mixed element types, a merge-key-less element).
    #[error("invalid patch at {path}: {reason}")]
    Invalid {
        /// JSON path
        path: String,
        /// what is wrong
        reason: String,
    },
}

impl Error {
    /// A list element without the merge key its list declares (Go: "map does not contain declared
    /// merge key").
    pub(crate) fn no_merge_key(path: &str, merge_key: &str) -> Self {
        Self::Invalid {
            path: path.to_owned(),
            reason: format!("map does not contain declared merge key: {merge_key}"),
        }
    }
}

/// Result with this crate's [`Error`] as default error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
