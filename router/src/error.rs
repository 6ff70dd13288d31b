//! The router's API error type and its one mapping to HTTP: an OpenAI-shaped body
//! (`{"error": {"message", "type", "code"}}`) with a fitting status, or NVIDIA's v1 router
//! shape (`{"error": {"message", "status"}}`) for requests that used its body extension.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// Why an upstream call failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpstreamFailure {
    /// Connection refused, reset, DNS or TLS failure.
    Connect,
    /// No answer within the first-byte, idle or total timeout.
    Timeout,
    /// The upstream answered 429.
    RateLimited,
    /// The upstream answered 5xx.
    ServerError,
    /// The upstream rejected our credentials (401/403).
    Unauthorized,
    /// The upstream answered something unusable.
    BadResponse,
}

impl UpstreamFailure {
    /// Bounded label for metrics and error codes.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Connect => "connect_error",
            Self::Timeout => "timeout",
            Self::RateLimited => "rate_limited",
            Self::ServerError => "server_error",
            Self::Unauthorized => "unauthorized",
            Self::BadResponse => "bad_response",
        }
    }
}

/// Everything a request can fail with. Client mistakes are 4xx, upstream trouble 502-504.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The body is not JSON, or a field has the wrong type or is missing.
    #[error("{0}")]
    BadRequest(String),
    /// A value is well-typed but out of range or otherwise unusable.
    #[error("{0}")]
    Unprocessable(String),
    /// The body, or a part of it (messages, images), exceeds a limit.
    #[error("{0}")]
    TooLarge(String),
    /// The request headers exceed the router's limit.
    #[error("{0}")]
    HeadersTooLarge(String),
    /// The client's API key is missing or not accepted.
    #[error("{0}")]
    Unauthorized(String),
    /// The named policy does not exist.
    #[error("{0}")]
    UnknownPolicy(String),
    /// The named model is neither a policy nor a served model id.
    #[error("{0}")]
    UnknownModel(String),
    /// No endpoint of the chosen route can serve this request (capabilities, allow-list).
    #[error("{0}")]
    NoEligibleEndpoint(String),
    /// The router is at its in-flight limit, or an endpoint's own limits are exhausted.
    #[error("{message}")]
    Overloaded {
        /// What is overloaded.
        message: String,
        /// Seconds the client should wait.
        retry_after_s: u64,
    },
    /// The chosen endpoint needs an API key that is not configured.
    #[error(
        "endpoint {endpoint:?} needs the API key in Secret {secret:?} key {key:?}, which is not \
         available{hint}"
    )]
    MissingApiKey {
        /// Endpoint name.
        endpoint: String,
        /// Secret name.
        secret: String,
        /// Key inside the secret.
        key: String,
        /// How to provide it (e.g. the environment variable in standalone mode).
        hint: String,
    },
    /// The route has no endpoint at all, or the router has no config yet.
    #[error("{0}")]
    Unavailable(String),
    /// The upstream failed (after all fallbacks).
    #[error("{message}")]
    Upstream {
        /// What went wrong.
        failure: UpstreamFailure,
        /// Endpoint that failed last.
        endpoint: String,
        /// The upstream's HTTP status, when it answered.
        status: Option<u16>,
        /// Human-readable message including the upstream's own message.
        message: String,
    },
    /// A bug: should never be returned for client input.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    /// HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) | Self::NoEligibleEndpoint(_) => StatusCode::BAD_REQUEST,
            Self::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::HeadersTooLarge(_) => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::UnknownPolicy(_) | Self::UnknownModel(_) => StatusCode::NOT_FOUND,
            Self::Overloaded { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::MissingApiKey { .. } | Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Upstream { failure, .. } => match failure {
                UpstreamFailure::Timeout => StatusCode::GATEWAY_TIMEOUT,
                UpstreamFailure::RateLimited => StatusCode::TOO_MANY_REQUESTS,
                _ => StatusCode::BAD_GATEWAY,
            },
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Bounded category, used as the error `code` and as a metric label.
    pub fn category(&self) -> &'static str {
        match self {
            Self::BadRequest(_) => "invalid_request",
            Self::Unprocessable(_) => "invalid_value",
            Self::TooLarge(_) => "request_too_large",
            Self::HeadersTooLarge(_) => "headers_too_large",
            Self::Unauthorized(_) => "invalid_api_key",
            Self::UnknownPolicy(_) => "policy_not_found",
            Self::UnknownModel(_) => "model_not_found",
            Self::NoEligibleEndpoint(_) => "no_eligible_endpoint",
            Self::Overloaded { .. } => "overloaded",
            Self::MissingApiKey { .. } => "missing_api_key",
            Self::Unavailable(_) => "unavailable",
            Self::Upstream { failure, .. } => match failure {
                UpstreamFailure::Connect => "upstream_connect_error",
                UpstreamFailure::Timeout => "upstream_timeout",
                UpstreamFailure::RateLimited => "upstream_rate_limited",
                UpstreamFailure::ServerError => "upstream_server_error",
                UpstreamFailure::Unauthorized => "upstream_unauthorized",
                UpstreamFailure::BadResponse => "upstream_bad_response",
            },
            Self::Internal(_) => "internal_error",
        }
    }

    fn error_type(&self) -> &'static str {
        match self.status().as_u16() {
            429 => "rate_limit_error",
            400..=499 => "invalid_request_error",
            502 | 504 => "upstream_error",
            503 => "service_unavailable",
            _ => "server_error",
        }
    }

    /// The OpenAI-shaped JSON body.
    pub fn body(&self) -> Value {
        let mut error = json!({
            "message": self.to_string(),
            "type": self.error_type(),
            "code": self.category(),
            "param": null,
        });
        if let Self::Upstream {
            endpoint, status, ..
        } = self
        {
            error["endpoint"] = json!(endpoint);
            error["upstream_status"] = json!(status);
        }
        json!({ "error": error })
    }

    /// The response in NVIDIA's v1 router shape: `{"error": {"message", "status"}}`.
    pub fn into_nvidia_v1(self) -> Response {
        let status = self.status();
        let body = json!({"error": {"message": self.to_string(), "status": status.as_u16()}});
        self.finish((status, Json(body)).into_response())
    }

    fn finish(&self, mut resp: Response) -> Response {
        if let Self::Overloaded { retry_after_s, .. } = self
            && let Ok(v) = HeaderValue::from_str(&retry_after_s.to_string())
        {
            resp.headers_mut().insert(header::RETRY_AFTER, v);
        }
        if let Self::Unauthorized(_) = self {
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"switchyard\""),
            );
        }
        resp
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let resp = (self.status(), Json(self.body())).into_response();
        self.finish(resp)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn statuses_and_shapes() {
        let e = ApiError::TooLarge("body exceeds 10 bytes".into());
        assert_eq!(e.status(), StatusCode::PAYLOAD_TOO_LARGE);
        let b = e.body();
        assert_eq!(b["error"]["code"], "request_too_large");
        assert_eq!(b["error"]["type"], "invalid_request_error");
        assert_eq!(b["error"]["message"], "body exceeds 10 bytes");
        let up = ApiError::Upstream {
            failure: UpstreamFailure::ServerError,
            endpoint: "a".into(),
            status: Some(503),
            message: "boom".into(),
        };
        assert_eq!(up.status(), StatusCode::BAD_GATEWAY);
        assert_eq!(up.body()["error"]["upstream_status"], 503);
        let t = ApiError::Upstream {
            failure: UpstreamFailure::Timeout,
            endpoint: "a".into(),
            status: None,
            message: "slow".into(),
        };
        assert_eq!(t.status(), StatusCode::GATEWAY_TIMEOUT);
    }

    #[test]
    fn overloaded_sets_retry_after() {
        let r = ApiError::Overloaded {
            message: "busy".into(),
            retry_after_s: 2,
        }
        .into_response();
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(r.headers()[header::RETRY_AFTER], "2");
    }
}
