//! The operator's error type, with a bounded category used as a metric label.

use prometheus_client::encoding::EncodeLabelValue;

/// Result with the operator's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can make a reconcile fail (and be retried with backoff).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A Kubernetes API call failed.
    #[error("{verb} {kind} {name}: {source}")]
    Kube {
        /// What was attempted (`apply`, `delete`, `patch status`, ...).
        verb: &'static str,
        /// Kind of the object.
        kind: &'static str,
        /// Name of the object.
        name: String,
        /// The API error.
        #[source]
        source: kube::Error,
    },
    /// An object could not be serialized (a bug; reported rather than panicking).
    #[error("serializing {what}: {source}")]
    Serialize {
        /// What was being serialized.
        what: &'static str,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
    /// The router config could not be rendered as YAML.
    #[error("rendering the router config: {0}")]
    RenderConfig(#[source] serde_saphyr::SerializeError),
    /// An object lacks a field the API server always sets (name, namespace, uid).
    #[error("{kind} is missing {field}")]
    MissingField {
        /// Kind of the object.
        kind: &'static str,
        /// The missing field.
        field: &'static str,
    },
    /// A cache did not sync in time.
    #[error("the {0} cache has not synced yet")]
    CacheNotReady(&'static str),
    /// The reconcile did not finish in time (an API call hung).
    #[error("the reconcile did not finish within {0:?}")]
    Timeout(std::time::Duration),
}

/// Bounded error category for metrics and logs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, EncodeLabelValue)]
pub enum ErrorCategory {
    /// 403 from the API server: the operator's RBAC is missing something.
    Forbidden,
    /// 409: someone else changed the object (or a field-manager conflict).
    Conflict,
    /// 404 where the object was expected.
    NotFound,
    /// 5xx from the API server.
    ServerError,
    /// 429 from the API server.
    Throttled,
    /// Transport errors: connection refused, timeouts, TLS.
    Transport,
    /// Anything else the API server rejected (4xx).
    Rejected,
    /// Serialization bugs and malformed objects.
    Internal,
    /// Caches not synced yet.
    NotSynced,
    /// A reconcile ran past its deadline.
    Timeout,
}

impl Error {
    /// The bounded category of this error.
    pub fn category(&self) -> ErrorCategory {
        match self {
            Self::Kube { source, .. } => kube_category(source),
            Self::Serialize { .. } | Self::RenderConfig(_) | Self::MissingField { .. } => {
                ErrorCategory::Internal
            }
            Self::CacheNotReady(_) => ErrorCategory::NotSynced,
            Self::Timeout(_) => ErrorCategory::Timeout,
        }
    }

    /// Shorthand for [`Error::Kube`].
    pub fn kube(verb: &'static str, kind: &'static str, name: &str, source: kube::Error) -> Self {
        Self::Kube {
            verb,
            kind,
            name: name.to_owned(),
            source,
        }
    }
}

/// Category of a kube client error.
pub fn kube_category(e: &kube::Error) -> ErrorCategory {
    match e {
        kube::Error::Api(status) => match status.code {
            403 => ErrorCategory::Forbidden,
            404 => ErrorCategory::NotFound,
            409 => ErrorCategory::Conflict,
            429 => ErrorCategory::Throttled,
            500..=599 => ErrorCategory::ServerError,
            _ => ErrorCategory::Rejected,
        },
        kube::Error::SerdeError(_) | kube::Error::BuildRequest(_) => ErrorCategory::Internal,
        _ => ErrorCategory::Transport,
    }
}

/// True when the error is the API server's 404.
pub fn is_not_found(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 404)
}

/// True when the error is the API server's 409.
pub fn is_conflict(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 409)
}
