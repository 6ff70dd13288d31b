//! Forwarding a chat request to the decision's candidates in order. Before any byte reached
//! the client, a connect error, timeout, 429 or 5xx moves on to the next candidate (up to the
//! policy's `fallback.maxAttempts`, for the triggers in `fallback.on`); the first chunk of the
//! body is awaited before committing, so an upstream that fails right after its headers is
//! also retried. Afterwards the body is relayed as it arrives ([`super::stream`]).

use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, header};
use serde_json::Value;
use switchyard_crds::config::ResolvedFallback;
use switchyard_crds::policy::FallbackTrigger;

use super::client::{UpstreamBody, chain};
use super::endpoint::EndpointRuntime;
use super::stream::{Relay, next_chunk};
use super::{auth_header, breaker::Breaker};
use crate::decide::Decision;
use crate::error::{ApiError, UpstreamFailure};
use crate::metrics::ReasonLabels;
use crate::request::ChatRequest;
use crate::secrets::redact;
use crate::state::{AppState, Snapshot};

/// Most bytes of an upstream error body kept for the error message.
const ERROR_BODY_LIMIT: usize = 16 * 1024;

/// A successful upstream answer.
pub struct Proxied {
    /// The response to send (status, upstream headers, relayed body).
    pub response: Response,
    /// Endpoint that answered.
    pub endpoint: Arc<EndpointRuntime>,
    /// Attempts made.
    pub attempts: u32,
}

/// Fallback settings used for manual routing (no policy): three attempts on every trigger.
pub fn manual_fallback() -> &'static ResolvedFallback {
    static MANUAL: LazyLock<ResolvedFallback> = LazyLock::new(|| ResolvedFallback {
        max_attempts: 3,
        on: vec![
            FallbackTrigger::ConnectError,
            FallbackTrigger::Timeout,
            FallbackTrigger::RateLimited,
            FallbackTrigger::ServerError,
        ],
    });
    &MANUAL
}

/// Releases a half-open probe if the attempt ends without a verdict (e.g. cancelled).
struct ProbeGuard<'a> {
    breaker: &'a Breaker,
    settled: bool,
}

impl ProbeGuard<'_> {
    fn success(mut self) {
        self.breaker.success();
        self.settled = true;
    }
    fn failure(mut self) {
        self.breaker.failure();
        self.settled = true;
    }
}

impl Drop for ProbeGuard<'_> {
    fn drop(&mut self) {
        if !self.settled {
            self.breaker.release_probe();
        }
    }
}

struct Failure {
    failure: UpstreamFailure,
    status: Option<u16>,
    message: String,
}

fn trigger(f: UpstreamFailure) -> Option<FallbackTrigger> {
    match f {
        UpstreamFailure::Connect => Some(FallbackTrigger::ConnectError),
        UpstreamFailure::Timeout => Some(FallbackTrigger::Timeout),
        UpstreamFailure::RateLimited => Some(FallbackTrigger::RateLimited),
        UpstreamFailure::ServerError => Some(FallbackTrigger::ServerError),
        UpstreamFailure::Unauthorized | UpstreamFailure::BadResponse => None,
    }
}

/// Sends the request to the decision's candidates ([`ChatRequest::upstream_body`]: the
/// client's own bytes when they already name the endpoint's model).
pub async fn forward(
    state: &AppState,
    snap: &Snapshot,
    policy: &str,
    fallback: &ResolvedFallback,
    decision: &Decision,
    req: &ChatRequest,
) -> Result<Proxied, ApiError> {
    let metrics = state.metrics();
    let secrets = state.secrets();
    let mut attempts = 0u32;
    let mut last: Option<ApiError> = None;
    for cand in decision.eligible() {
        if attempts >= fallback.max_attempts.max(1) {
            break;
        }
        let Some(rt) = snap.endpoints.get(&cand.endpoint) else {
            continue;
        };
        let key = match &rt.def.api_key {
            None => None,
            Some(r) => match secrets.get(&rt.def.namespace, r) {
                Ok(k) => Some(k),
                Err(miss) => {
                    metrics.attempt(&rt.def.name, "missing_api_key");
                    last = Some(ApiError::MissingApiKey {
                        endpoint: rt.def.name.clone(),
                        secret: miss.secret,
                        key: miss.key,
                        hint: miss.hint,
                    });
                    continue;
                }
            },
        };
        let admission = match rt.admit() {
            Ok(a) => a,
            Err(refusal) => {
                metrics.attempt(&rt.def.name, "refused");
                last = Some(ApiError::Overloaded {
                    message: format!(
                        "endpoint {:?} is at its limit ({})",
                        rt.def.name,
                        refusal.describe()
                    ),
                    retry_after_s: 1,
                });
                if fallback.on.contains(&FallbackTrigger::RateLimited) {
                    count_fallback(state, policy, "rate_limited");
                    continue;
                }
                break;
            }
        };
        let promoted = cand.reason.is_some();
        if !rt.breaker.try_acquire() && !promoted {
            continue;
        }
        let probe = ProbeGuard {
            breaker: &rt.breaker,
            settled: false,
        };
        attempts += 1;
        let payload = req.upstream_body(&rt.def.model)?;
        let started = Instant::now();
        match attempt(rt, key.as_deref(), payload).await {
            Ok(up) => {
                probe.success();
                let series = &rt.series;
                series.ok(metrics, &rt.def.name).inc();
                series
                    .ttfb(metrics, &rt.def.name)
                    .observe(started.elapsed().as_secs_f64());
                set_circuit(state, rt);
                let Upstream {
                    status,
                    mut headers,
                    body,
                    first,
                    sse,
                } = up;
                strip_hop_by_hop(&mut headers);
                let relay = Relay::new(
                    body,
                    first,
                    sse,
                    started,
                    Arc::clone(rt),
                    state.clone(),
                    admission,
                );
                let mut out = Response::new(Body::new(relay));
                *out.status_mut() = status;
                *out.headers_mut() = headers;
                return Ok(Proxied {
                    response: out,
                    endpoint: Arc::clone(rt),
                    attempts,
                });
            }
            Err(f) => {
                metrics.attempt(&rt.def.name, f.failure.as_str());
                match f.failure {
                    UpstreamFailure::Connect
                    | UpstreamFailure::Timeout
                    | UpstreamFailure::ServerError => probe.failure(),
                    _ => drop(probe),
                }
                set_circuit(state, rt);
                tracing::warn!(
                    endpoint = %rt.def.name,
                    failure = f.failure.as_str(),
                    status = ?f.status,
                    error = %f.message,
                    "upstream attempt failed"
                );
                let retry = trigger(f.failure).is_some_and(|t| fallback.on.contains(&t));
                last = Some(ApiError::Upstream {
                    failure: f.failure,
                    endpoint: rt.def.name.clone(),
                    status: f.status,
                    message: f.message,
                });
                if !retry {
                    break;
                }
                count_fallback(state, policy, f.failure.as_str());
            }
        }
    }
    Err(last.unwrap_or_else(|| {
        ApiError::Unavailable(format!(
            "no endpoint of route {:?} is available (all are cooling down after failures)",
            decision.route
        ))
    }))
}

fn count_fallback(state: &AppState, policy: &str, reason: &str) {
    state
        .metrics()
        .fallbacks
        .get_or_create(&ReasonLabels {
            policy: policy.to_owned(),
            reason: reason.to_owned(),
        })
        .inc();
}

fn set_circuit(state: &AppState, rt: &EndpointRuntime) {
    rt.series
        .circuit(state.metrics(), &rt.def.name)
        .set(rt.breaker.state().code());
}

/// An upstream answer whose first body chunk (if any) arrived.
struct Upstream {
    status: http::StatusCode,
    headers: HeaderMap,
    body: UpstreamBody,
    first: Option<Bytes>,
    sse: bool,
}

/// One upstream call up to (and including) the first body chunk, within `firstByte`.
async fn attempt(
    rt: &EndpointRuntime,
    key: Option<&str>,
    payload: Bytes,
) -> Result<Upstream, Failure> {
    let mut req = http::Request::new(payload);
    *req.method_mut() = http::Method::POST;
    *req.uri_mut() = rt.target.uri.clone();
    let headers = req.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Some(host) = &rt.target.host {
        headers.insert(header::HOST, host.clone());
    }
    if let Some(basic) = &rt.target.basic_auth {
        headers.insert(header::AUTHORIZATION, basic.clone());
    }
    if let Some(k) = key
        && let Some((name, value)) = auth_header(&rt.def, k)
    {
        headers.insert(name, value);
    }
    let first_byte = Duration::from_millis(rt.def.timeouts.first_byte_ms);
    let timeout_failure = || Failure {
        failure: UpstreamFailure::Timeout,
        status: None,
        message: format!(
            "the upstream {} sent no response within its firstByte timeout of {} ms",
            rt.def.name, rt.def.timeouts.first_byte_ms
        ),
    };
    let started = tokio::time::Instant::now();
    let deadline = started + first_byte;
    let resp = match tokio::time::timeout_at(deadline, rt.client.send(req)).await {
        Err(_) => return Err(timeout_failure()),
        Ok(Err(e)) => {
            let failure = if e.timeout {
                UpstreamFailure::Timeout
            } else {
                UpstreamFailure::Connect
            };
            return Err(Failure {
                failure,
                status: None,
                message: format!(
                    "the upstream {} could not be reached: {}",
                    rt.def.name, e.message
                ),
            });
        }
        Ok(Ok(r)) => r,
    };
    let (parts, mut body) = resp.into_parts();
    let status = parts.status;
    if status.is_success()
        || (status.is_client_error() && !matches!(status.as_u16(), 401 | 403 | 429))
    {
        // Success, or the client's own mistake (e.g. an unknown parameter): relay as is.
        let sse = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/event-stream"));
        // A stream's first event is due within firstByte; a plain body may only come when the
        // whole answer is generated, so it gets the total timeout.
        let first_deadline = if sse {
            deadline
        } else {
            started + Duration::from_millis(rt.def.timeouts.total_ms)
        };
        let first = match tokio::time::timeout_at(first_deadline, next_chunk(&mut body)).await {
            Err(_) => return Err(timeout_failure()),
            Ok(None) => None,
            Ok(Some(Ok(b))) => Some(b),
            Ok(Some(Err(e))) => {
                return Err(Failure {
                    failure: UpstreamFailure::Connect,
                    status: Some(status.as_u16()),
                    message: format!(
                        "the upstream {} failed before its first byte: {}",
                        rt.def.name,
                        chain(e.as_ref())
                    ),
                });
            }
        };
        return Ok(Upstream {
            status,
            headers: parts.headers,
            body,
            first,
            sse,
        });
    }
    let failure = match status.as_u16() {
        429 => UpstreamFailure::RateLimited,
        401 | 403 => UpstreamFailure::Unauthorized,
        500..=599 => UpstreamFailure::ServerError,
        _ => UpstreamFailure::BadResponse,
    };
    let text = read_error_body(body, deadline).await;
    let mut message = upstream_message(&text);
    if let Some(k) = key {
        message = redact(&message, k);
    }
    Err(Failure {
        failure,
        status: Some(status.as_u16()),
        message: format!(
            "the upstream {} answered {}: {message}",
            rt.def.name,
            status.as_u16(),
        ),
    })
}

async fn read_error_body(mut body: UpstreamBody, deadline: tokio::time::Instant) -> String {
    let mut buf = Vec::new();
    while buf.len() < ERROR_BODY_LIMIT {
        match tokio::time::timeout_at(deadline, next_chunk(&mut body)).await {
            Ok(Some(Ok(b))) => buf.extend_from_slice(&b),
            _ => break,
        }
    }
    buf.truncate(ERROR_BODY_LIMIT);
    String::from_utf8_lossy(&buf).into_owned()
}

/// The upstream's own error message: `error.message` of an OpenAI-shaped body, `detail`,
/// `message`, else the text itself.
fn upstream_message(text: &str) -> String {
    if let Ok(v) = serde_json::from_str::<Value>(text) {
        for ptr in ["/error/message", "/detail", "/message", "/error"] {
            if let Some(s) = v.pointer(ptr).and_then(Value::as_str) {
                return s.to_owned();
            }
        }
    }
    let t = text.trim();
    if t.is_empty() {
        "(empty body)".to_owned()
    } else {
        t.to_owned()
    }
}

const HOP_BY_HOP_COUNT: usize = 10;
const HOP_BY_HOP: [HeaderName; HOP_BY_HOP_COUNT] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
    header::DATE,
    header::SERVER,
];

/// Removes the headers that describe the upstream connection rather than the answer; the
/// rest is relayed to the client as is.
fn strip_hop_by_hop(headers: &mut HeaderMap) {
    // Find them first: an upstream sends a few headers, and removing an absent name costs a
    // lookup each.
    let mut found: [Option<HeaderName>; HOP_BY_HOP_COUNT] = Default::default();
    for (slot, name) in found
        .iter_mut()
        .zip(headers.keys().filter(|k| HOP_BY_HOP.contains(k)))
    {
        *slot = Some(name.clone());
    }
    for name in found.iter().flatten() {
        headers.remove(name);
    }
    if !headers.contains_key(header::CONTENT_TYPE) {
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extracts_upstream_messages() {
        assert_eq!(
            upstream_message(r#"{"error":{"message":"slow down"}}"#),
            "slow down"
        );
        assert_eq!(upstream_message(r#"{"detail":"bad"}"#), "bad");
        assert_eq!(upstream_message("plain text\n"), "plain text");
        assert_eq!(upstream_message(""), "(empty body)");
    }
}
