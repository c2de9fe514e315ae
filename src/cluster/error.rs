use std::borrow::Cow;
use std::time::Duration;

/// What a kube API call was trying to do; every error names it so a log line says what failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// RBAC verb: get, list, create, delete, patch.
    pub verb: &'static str,
    /// `plural[.group]`, as RBAC and `kubectl auth can-i` spell it.
    pub resource: String,
    pub namespace: String,
    pub name: Option<String>,
}

impl std::fmt::Display for Call {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.verb, self.resource)?;
        if let Some(name) = &self.name {
            write!(f, " {name}")?;
        }
        write!(f, " in namespace {}", self.namespace)
    }
}

/// Failures of the kube adapter. Forbidden, timeout and unreachable are separate variants so the
/// guard can word its warning (and an operator can fix RBAC or networking).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "no Kubernetes client configuration: not in a cluster ({in_cluster}); kubeconfig: {kubeconfig}"
    )]
    Config {
        in_cluster: String,
        kubeconfig: String,
    },
    #[error(
        "forbidden: the plugin's service account cannot {verb} {resource} in namespace {namespace}",
        verb = .call.verb, resource = .call.resource, namespace = .call.namespace
    )]
    Forbidden { call: Box<Call>, message: String },
    #[error("unauthorized: the API server rejected the plugin's credentials ({call})")]
    Unauthorized { call: Box<Call>, message: String },
    #[error("timed out{}: {call}", after.map(|d| format!(" after {d:?}")).unwrap_or_default())]
    Timeout {
        call: Box<Call>,
        /// Our own deadline when it was ours; `None` when the server or transport gave up.
        after: Option<Duration>,
    },
    #[error("unreachable ({call}): {message}")]
    Unreachable { call: Box<Call>, message: String },
    /// Displayed without the message when the API server names fields (a validation error): its
    /// message quotes the refused values, and values never reach the logs.
    #[error("{call}: HTTP {code} {reason}: {}", api_detail(message, fields))]
    Api {
        call: Box<Call>,
        code: u16,
        reason: String,
        message: String,
        /// The fields the API server names as causes (a validation error names them; a JSON
        /// patch that no longer applies names none).
        fields: Vec<String>,
    },
    /// The object is not (or no longer) as the call required: HTTP 409 (a failed `resourceVersion`
    /// or `uid` precondition, or AlreadyExists), or a conditional JSON patch that no longer
    /// applies ([`Error::into_conflict_if_unapplicable`]).
    #[error("{call}: HTTP {code} {reason}: {}", conflict_detail(*code, message))]
    Conflict {
        call: Box<Call>,
        code: u16,
        reason: String,
        message: String,
    },
    #[error("{call}: unexpected response: {message}")]
    Response { call: Box<Call>, message: String },
    #[error(
        "found more than one ConfigMap in namespace {namespace} matching label selector {selector}: {}",
        names.join(", ")
    )]
    AmbiguousPluginConfig {
        namespace: String,
        selector: String,
        names: Vec<String>,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What an [`Error::Api`] says after its status: the fields the API server names, or, when it
/// names none, what [`value_free`] keeps of its message.
fn api_detail<'a>(message: &'a str, fields: &[String]) -> Cow<'a, str> {
    if fields.is_empty() {
        value_free(message)
    } else {
        format!(
            "refused field(s) {} (the API server's message is left out: it quotes the values)",
            fields.join(", ")
        )
        .into()
    }
}

/// What an [`Error::Conflict`] says after its status. A 409's message is built by the API server
/// from the resource, the name and fixed text (`Operation cannot be fulfilled on …: the object has
/// been modified`, `… already exists`), so it is quoted; a JSON patch that no longer applies (422)
/// is said in our words, since its text comes from the patch library.
fn conflict_detail(code: u16, message: &str) -> Cow<'_, str> {
    if code == 409 {
        message.into()
    } else {
        "the JSON patch no longer applies (one of its `test` operations failed)".into()
    }
}

/// An API server message naming no field, as a log line may show it. Values never reach the logs,
/// and such a message can quote them: an admission webhook's or a ValidatingAdmissionPolicy's
/// reason is the policy author's own text (often "value X is not allowed"), a 400 quotes what it
/// could not decode, a 500 wraps whatever failed. So only the denying webhook's name is kept
/// (`admission webhook "NAME" denied the request`, apiserver's webhook error format); every other
/// message is left out, with its length, and the operator reads it in the API server's log.
fn value_free(message: &str) -> Cow<'_, str> {
    const WEBHOOK: &str = "admission webhook \"";
    if let Some(rest) = message.strip_prefix(WEBHOOK)
        && let Some(end) = rest.find('"')
    {
        return format!(
            "admission webhook \"{}\" denied the request (its reason is left out: it may quote values)",
            &rest[..end]
        )
        .into();
    }
    if message.is_empty() {
        return "no message".into();
    }
    format!(
        "the API server's message ({} bytes) is left out: it may quote values; the API server's log has it",
        message.len()
    )
    .into()
}

/// A response body that could not be decoded: where, and what kind of error, never the text
/// (serde's messages quote the values they could not use).
fn decode_failure(e: &serde_json::Error) -> String {
    let category = match e.classify() {
        serde_json::error::Category::Io => "an I/O error",
        serde_json::error::Category::Syntax => "not JSON",
        serde_json::error::Category::Data => "JSON of an unexpected shape",
        serde_json::error::Category::Eof => "truncated JSON",
    };
    format!(
        "response body is {category} (line {}, column {})",
        e.line(),
        e.column()
    )
}

impl Error {
    /// True when the API server answered 404.
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::Api { code: 404, .. })
    }

    /// A JSON patch the API server could not apply to the object as it is now (HTTP 422 naming no
    /// field: the patch's `test` or a path it needs failed, not the patched object's validation)
    /// becomes [`Error::Conflict`]: the object changed since it was read.
    pub fn into_conflict_if_unapplicable(self) -> Self {
        match self {
            Error::Api {
                call,
                code: 422,
                reason,
                message,
                fields,
            } if fields.is_empty() => Error::Conflict {
                call,
                code: 422,
                reason,
                message,
            },
            other => other,
        }
    }

    /// The call that failed, when there was one.
    pub fn call(&self) -> Option<&Call> {
        match self {
            Error::Forbidden { call, .. }
            | Error::Unauthorized { call, .. }
            | Error::Timeout { call, .. }
            | Error::Unreachable { call, .. }
            | Error::Api { call, .. }
            | Error::Conflict { call, .. }
            | Error::Response { call, .. } => Some(call.as_ref()),
            Error::Config { .. } | Error::AmbiguousPluginConfig { .. } => None,
        }
    }
}

/// Whether an error chain bottoms out in a timeout (hyper-timeout and the connector report
/// `io::ErrorKind::TimedOut`).
fn chain_is_timeout(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cur {
        if let Some(io) = e.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::TimedOut
        {
            return true;
        }
        cur = e.source();
    }
    false
}

fn chain_text(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut cur = err.source();
    while let Some(e) = cur {
        let s = e.to_string();
        if !text.contains(&s) {
            text.push_str(": ");
            text.push_str(&s);
        }
        cur = e.source();
    }
    text
}

/// Maps a kube client error for `call` into our taxonomy.
pub fn from_kube(call: Call, err: kube::Error) -> Error {
    let call = Box::new(call);
    match err {
        kube::Error::Api(status) => {
            let code = status.code;
            let message = status.message.clone();
            let reason = status.reason.clone();
            match code {
                403 => Error::Forbidden { call, message },
                401 => Error::Unauthorized { call, message },
                504 => Error::Timeout { call, after: None },
                409 => Error::Conflict {
                    call,
                    code,
                    reason,
                    message,
                },
                _ => Error::Api {
                    call,
                    code,
                    reason,
                    message,
                    fields: status
                        .details
                        .iter()
                        .flat_map(|d| &d.causes)
                        .filter(|c| !c.field.is_empty())
                        .map(|c| c.field.clone())
                        .collect(),
                },
            }
        }
        kube::Error::SerdeError(e) => Error::Response {
            call,
            message: decode_failure(&e),
        },
        kube::Error::FromUtf8(e) => Error::Response {
            call,
            message: e.to_string(),
        },
        kube::Error::HyperError(e) if e.is_timeout() => Error::Timeout { call, after: None },
        other => {
            if chain_is_timeout(&other) {
                Error::Timeout { call, after: None }
            } else {
                Error::Unreachable {
                    call,
                    message: chain_text(&other),
                }
            }
        }
    }
}
