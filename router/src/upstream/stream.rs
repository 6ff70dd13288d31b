//! Relaying an upstream response body to the client chunk by chunk, as it arrives (SSE and
//! plain JSON alike), with the endpoint's idle and total timeouts. A failure after the first
//! byte ends an SSE stream with an error event (`data: {"error": {...}}`) and aborts a plain
//! body, so the client never mistakes a truncated answer for a complete one. Token usage is
//! picked out of the passing bytes for metrics.
//!
//! [`Relay`] is itself the response body (an [`http_body::Body`]): it reports its end as soon
//! as the upstream's body does, so a complete answer goes out in one write without another
//! poll, and it arms its timer only while it actually waits for the upstream.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame};
use http_body_util::BodyExt;
use serde_json::json;
use tokio::time::{Instant, Sleep};

use super::client::{BoxError, UpstreamBody, chain};
use super::endpoint::{Admission, EndpointRuntime};
use crate::state::AppState;

/// Most bytes of a non-streamed body kept to read `usage` from.
const USAGE_SCAN_LIMIT: usize = 4 << 20;

/// The next data chunk of a body (trailers are skipped), `None` at its end.
pub async fn next_chunk(body: &mut UpstreamBody) -> Option<Result<Bytes, BoxError>> {
    loop {
        match body.frame().await? {
            Ok(frame) => {
                if let Ok(data) = frame.into_data() {
                    return Some(Ok(data));
                }
            }
            Err(e) => return Some(Err(e)),
        }
    }
}

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

    /// Feeds a body's only chunk: read where it is rather than copied.
    fn feed_whole(&mut self, body: &[u8]) {
        if self.sse {
            self.feed(body);
        } else {
            self.usage = usage_in(body);
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

/// The `(prompt_tokens, completion_tokens)` the relay records for an upstream body arriving
/// in `chunks` (an SSE stream when `sse`). The relay feeds chunks as they pass; this entry
/// point exists for the fuzz target (`fuzz/fuzz_targets/sse_usage.rs`).
pub fn scan_usage<'a>(chunks: impl IntoIterator<Item = &'a [u8]>, sse: bool) -> Option<(u64, u64)> {
    let mut s = UsageScanner {
        sse,
        ..UsageScanner::default()
    };
    for c in chunks {
        s.feed(c);
    }
    s.finish()
}

/// `(prompt_tokens, completion_tokens)` of the last `"usage": {...}` object in a JSON text,
/// parsing only that object (the rest of the body is not parsed again).
fn usage_in(json: &[u8]) -> Option<(u64, u64)> {
    use serde::Deserialize;
    #[derive(Deserialize)]
    struct Usage {
        prompt_tokens: u64,
        completion_tokens: u64,
    }
    const KEY: &[u8] = b"\"usage\"";
    // Backwards from quote to quote: a byte comparison per byte, not a window per byte.
    let mut end = json.len();
    let pos = loop {
        let quote = json[..end].iter().rposition(|b| *b == b'"')?;
        if json[quote..].starts_with(KEY) {
            break quote;
        }
        end = quote;
    };
    let rest = &json[pos + KEY.len()..];
    let colon = rest.iter().position(|b| *b == b':')?;
    // Reads the one value after the colon; what follows it is not looked at.
    let mut de = serde_json::Deserializer::from_slice(&rest[colon + 1..]);
    let u = Option::<Usage>::deserialize(&mut de).ok()??;
    Some((u.prompt_tokens, u.completion_tokens))
}

/// One relayed body.
pub struct Relay {
    inner: UpstreamBody,
    first: Option<Bytes>,
    idle: Duration,
    deadline: Instant,
    started: Instant,
    /// Armed while waiting for the upstream; created on the first wait.
    timer: Option<Pin<Box<Sleep>>>,
    waiting: bool,
    done: bool,
    sse: bool,
    usage: UsageScanner,
    endpoint: Arc<EndpointRuntime>,
    state: AppState,
    _admission: Admission,
}

impl Relay {
    /// Wraps an upstream body whose first chunk (if any) was already read.
    pub fn new(
        inner: UpstreamBody,
        first: Option<Bytes>,
        sse: bool,
        started: std::time::Instant,
        endpoint: Arc<EndpointRuntime>,
        state: AppState,
        admission: Admission,
    ) -> Self {
        let t = endpoint.def.timeouts;
        let started = Instant::from_std(started);
        let mut relay = Self {
            inner,
            done: false,
            first,
            idle: Duration::from_millis(t.idle_ms),
            deadline: started + Duration::from_millis(t.total_ms),
            started,
            timer: None,
            waiting: false,
            sse,
            usage: UsageScanner {
                sse,
                ..UsageScanner::default()
            },
            endpoint,
            state,
            _admission: admission,
        };
        if relay.first.is_none() || relay.inner.is_end_stream() {
            if let Some(b) = &relay.first {
                relay.usage.feed_whole(b);
            }
            relay.finish();
        }
        relay
    }

    fn record_duration(&self) {
        self.endpoint
            .series
            .duration(self.state.metrics(), &self.endpoint.def.name)
            .observe(self.started.elapsed().as_secs_f64());
    }

    fn finish(&mut self) {
        self.done = true;
        self.record_duration();
        if let Some((prompt, completion)) = self.usage.finish() {
            let (p, c) = self
                .endpoint
                .series
                .tokens(self.state.metrics(), &self.endpoint.def.name);
            p.inc_by(prompt);
            c.inc_by(completion);
        }
    }

    /// Ends the body after a failure: an error event for SSE, an error otherwise.
    fn fail(&mut self, msg: String) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        self.done = true;
        self.record_duration();
        self.endpoint.breaker.failure();
        self.state
            .metrics()
            .attempt(&self.endpoint.def.name, "mid_stream_error");
        tracing::warn!(endpoint = %self.endpoint.def.name, error = %msg, "upstream failed mid-response");
        if self.sse {
            let event = json!({"error": {
                "message": msg,
                "type": "upstream_error",
                "code": "upstream_stream_error",
            }});
            Poll::Ready(Some(Ok(Frame::data(Bytes::from(format!(
                "data: {event}\n\n"
            ))))))
        } else {
            Poll::Ready(Some(Err(msg.into())))
        }
    }

    /// Polls the timer of the current wait, arming it when the wait begins.
    fn poll_timer(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if !self.waiting {
            self.waiting = true;
            let at = (Instant::now() + self.idle).min(self.deadline);
            match &mut self.timer {
                Some(t) => t.as_mut().reset(at),
                None => self.timer = Some(Box::pin(tokio::time::sleep_until(at))),
            }
        }
        match &mut self.timer {
            Some(t) => t.as_mut().poll(cx),
            None => Poll::Pending,
        }
    }
}

impl Body for Relay {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        if let Some(b) = this.first.take() {
            if !this.done {
                this.usage.feed(&b);
            }
            return Poll::Ready(Some(Ok(Frame::data(b))));
        }
        loop {
            if this.done {
                return Poll::Ready(None);
            }
            match Pin::new(&mut this.inner).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => {
                    this.waiting = false;
                    let Ok(b) = frame.into_data() else {
                        continue; // trailers are not relayed
                    };
                    this.usage.feed(&b);
                    if this.inner.is_end_stream() {
                        this.finish();
                    }
                    return Poll::Ready(Some(Ok(Frame::data(b))));
                }
                Poll::Ready(None) => {
                    this.finish();
                    return Poll::Ready(None);
                }
                Poll::Ready(Some(Err(e))) => {
                    // Without the URL: a base URL may carry credentials (userinfo, query).
                    let msg = format!(
                        "the upstream {} failed mid-response: {}",
                        this.endpoint.def.name,
                        chain(e.as_ref())
                    );
                    return this.fail(msg);
                }
                Poll::Pending => {
                    ready!(this.poll_timer(cx));
                    let which = if Instant::now() >= this.deadline {
                        "total"
                    } else {
                        "idle"
                    };
                    let msg = format!(
                        "the upstream {} exceeded its {which} timeout mid-response",
                        this.endpoint.def.name
                    );
                    return this.fail(msg);
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.first.is_none() && self.done
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
        let mut whole = UsageScanner::default();
        whole.feed_whole(b"{\"usage\":{\"prompt_tokens\":2,\"completion_tokens\":4}}");
        assert_eq!(whole.finish(), Some((2, 4)));
        let mut none = UsageScanner {
            sse: true,
            ..UsageScanner::default()
        };
        none.feed(b"data: {\"usage\":null}\n\n");
        assert_eq!(none.finish(), None);
    }
}
