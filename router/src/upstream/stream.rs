//! Relaying an upstream response body to the client chunk by chunk, as it arrives (SSE and
//! plain JSON alike), with the endpoint's idle and total timeouts. A failure after the first
//! byte ends an SSE stream with an error event (`data: {"error": {...}}`) and aborts a plain
//! body, so the client never mistakes a truncated answer for a complete one. Token usage is
//! picked out of the passing bytes for metrics.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::stream::BoxStream;
use futures::{Stream, StreamExt};
use serde_json::{Value, json};

use super::endpoint::{Admission, EndpointRuntime};
use crate::metrics::{EndpointKindLabels, EndpointLabels, Metrics};

/// Most bytes of a non-streamed body kept to read `usage` from.
const USAGE_SCAN_LIMIT: usize = 4 << 20;

/// Watches passing bytes for the upstream's `usage` object.
#[derive(Default)]
struct UsageScanner {
    sse: bool,
    buf: Vec<u8>,
    overflow: bool,
    usage: Option<(u64, u64)>,
}

impl UsageScanner {
    fn feed(&mut self, chunk: &[u8]) {
        if self.overflow {
            return;
        }
        self.buf.extend_from_slice(chunk);
        if self.sse {
            // Keep only the unfinished last line; inspect complete `data:` lines.
            while let Some(pos) = self.buf.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=pos).collect();
                if let Some(data) = line.strip_prefix(b"data:")
                    && let Some(u) = usage_in(data)
                {
                    self.usage = Some(u);
                }
            }
        }
        if self.buf.len() > USAGE_SCAN_LIMIT {
            self.overflow = true;
            self.buf = Vec::new();
        }
    }

    fn finish(&mut self) -> Option<(u64, u64)> {
        if !self.sse
            && !self.overflow
            && let Some(u) = usage_in(&self.buf)
        {
            self.usage = Some(u);
        }
        self.usage
    }
}

/// `(prompt_tokens, completion_tokens)` of the last `"usage": {...}` object in a JSON text,
/// parsing only that object (the rest of the body is not parsed again).
fn usage_in(json: &[u8]) -> Option<(u64, u64)> {
    const KEY: &[u8] = b"\"usage\"";
    let pos = json.windows(KEY.len()).rposition(|w| w == KEY)?;
    let rest = &json[pos + KEY.len()..];
    let colon = rest.iter().position(|b| *b == b':')?;
    let mut values = serde_json::Deserializer::from_slice(&rest[colon + 1..]).into_iter::<Value>();
    let u = values.next()?.ok()?;
    Some((
        u["prompt_tokens"].as_u64()?,
        u["completion_tokens"].as_u64()?,
    ))
}

/// State of one relayed body.
pub struct Relay {
    inner: BoxStream<'static, reqwest::Result<Bytes>>,
    first: Option<Bytes>,
    idle: Duration,
    deadline: Instant,
    started: Instant,
    done: bool,
    sse: bool,
    usage: UsageScanner,
    endpoint: Arc<EndpointRuntime>,
    metrics: Metrics,
    _admission: Admission,
}

impl Relay {
    /// Wraps an upstream body whose first chunk (if any) was already read.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        inner: BoxStream<'static, reqwest::Result<Bytes>>,
        first: Option<Bytes>,
        sse: bool,
        started: Instant,
        endpoint: Arc<EndpointRuntime>,
        metrics: Metrics,
        admission: Admission,
    ) -> Self {
        let t = endpoint.def.timeouts;
        Self {
            inner,
            done: first.is_none(),
            first,
            idle: Duration::from_millis(t.idle_ms),
            deadline: started + Duration::from_millis(t.total_ms),
            started,
            sse,
            usage: UsageScanner {
                sse,
                ..UsageScanner::default()
            },
            endpoint,
            metrics,
            _admission: admission,
        }
    }

    /// The body as a stream for `axum::body::Body::from_stream`.
    pub fn into_stream(self) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Send {
        futures::stream::unfold(self, |mut r| async move {
            if let Some(b) = r.first.take() {
                r.usage.feed(&b);
                return Some((Ok(b), r));
            }
            if r.done {
                return None;
            }
            let now = Instant::now();
            let wait = r.idle.min(r.deadline.saturating_duration_since(now));
            match tokio::time::timeout(wait, r.inner.next()).await {
                Ok(Some(Ok(b))) => {
                    r.usage.feed(&b);
                    Some((Ok(b), r))
                }
                Ok(None) => {
                    r.finish();
                    None
                }
                Ok(Some(Err(e))) => {
                    let msg = format!(
                        "the upstream {} failed mid-response: {e}",
                        r.endpoint.def.name
                    );
                    r.fail(msg)
                }
                Err(_) => {
                    let which = if Instant::now() >= r.deadline {
                        "total"
                    } else {
                        "idle"
                    };
                    let msg = format!(
                        "the upstream {} exceeded its {which} timeout mid-response",
                        r.endpoint.def.name
                    );
                    r.fail(msg)
                }
            }
        })
    }

    fn record_duration(&self) {
        self.metrics
            .upstream_seconds
            .get_or_create(&EndpointLabels {
                endpoint: self.endpoint.def.name.clone(),
            })
            .observe(self.started.elapsed().as_secs_f64());
    }

    fn finish(&mut self) {
        self.done = true;
        self.record_duration();
        if let Some((prompt, completion)) = self.usage.finish() {
            for (kind, n) in [("prompt", prompt), ("completion", completion)] {
                self.metrics
                    .tokens
                    .get_or_create(&EndpointKindLabels {
                        endpoint: self.endpoint.def.name.clone(),
                        kind: kind.to_owned(),
                    })
                    .inc_by(n);
            }
        }
    }

    fn fail(mut self, msg: String) -> Option<(Result<Bytes, std::io::Error>, Self)> {
        self.done = true;
        self.record_duration();
        self.endpoint.breaker.failure();
        self.metrics
            .attempt(&self.endpoint.def.name, "mid_stream_error");
        tracing::warn!(endpoint = %self.endpoint.def.name, error = %msg, "upstream failed mid-response");
        if self.sse {
            let event = json!({"error": {
                "message": msg,
                "type": "upstream_error",
                "code": "upstream_stream_error",
            }});
            Some((Ok(Bytes::from(format!("data: {event}\n\n"))), self))
        } else {
            Some((Err(std::io::Error::other(msg)), self))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_usage_in_sse_and_json() {
        let mut s = UsageScanner {
            sse: true,
            ..UsageScanner::default()
        };
        s.feed(b"data: {\"choices\":[]}\n\ndata: {\"usage\":{\"prompt_tok");
        s.feed(b"ens\":3,\"completion_tokens\":5}}\n\ndata: [DONE]\n\n");
        assert_eq!(s.finish(), Some((3, 5)));
        let mut j = UsageScanner::default();
        j.feed(b"{\"usage\":{\"prompt_tokens\":7,");
        j.feed(b"\"completion_tokens\":1}}");
        assert_eq!(j.finish(), Some((7, 1)));
        let mut none = UsageScanner {
            sse: true,
            ..UsageScanner::default()
        };
        none.feed(b"data: {\"usage\":null}\n\n");
        assert_eq!(none.finish(), None);
    }
}
