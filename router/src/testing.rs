//! Test support (cargo feature `testing`): a fake OpenAI-compatible upstream and helpers to run
//! the router on 127.0.0.1 port 0. Used by this crate's tests and by the end-to-end suite.
//!
//! [`FakeUpstream`] answers `POST .../chat/completions` like vLLM would (JSON, or SSE when the
//! request says `stream: true`, with a final usage chunk when `stream_options.include_usage`),
//! and can misbehave on demand: error statuses, a slow first byte, hanging, dropping the
//! connection mid-stream, or closing it without any response. It records every request.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::state::AppState;

/// How the fake upstream answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Behavior {
    /// A normal answer: "Hello from <name>!" (JSON or SSE).
    Reply,
    /// A normal answer with this content (one piece when streamed).
    Say(String),
    /// This status with an OpenAI-shaped error body carrying `message`.
    Status(u16, String),
    /// Wait this long before the response headers, then reply normally.
    SlowFirstByte(Duration),
    /// Never answer.
    Hang,
    /// Stream this many content chunks, then drop the connection (SSE requests).
    DropAfter(usize),
    /// Close the connection without sending a response.
    Reset,
    /// This status with an error message that quotes the request's `Authorization` (or
    /// `api-key`) header, as some providers do with a rejected key.
    EchoKey(u16),
}

/// One request the fake upstream received.
#[derive(Clone, Debug)]
pub struct Recorded {
    /// Request path and query.
    pub path: String,
    /// Request headers.
    pub headers: HeaderMap,
    /// The JSON body (`Null` if it was not JSON).
    pub body: Value,
}

struct Shared {
    name: String,
    behavior: Mutex<Behavior>,
    chunk_delay: Mutex<Duration>,
    requests: Mutex<Vec<Recorded>>,
    hits: AtomicUsize,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

/// A fake OpenAI-compatible server on 127.0.0.1 (random port). Stops when dropped.
pub struct FakeUpstream {
    addr: SocketAddr,
    tls: bool,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl Drop for FakeUpstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

type Body = BoxBody<Bytes, std::io::Error>;

impl FakeUpstream {
    /// Starts a fake upstream whose replies mention `name`.
    pub async fn start(name: &str) -> std::io::Result<Self> {
        Self::start_with(name, None).await
    }

    /// Starts a fake upstream speaking HTTPS with `tls` (its base URL is `https://`).
    pub async fn start_tls(name: &str, tls: Arc<rustls::ServerConfig>) -> std::io::Result<Self> {
        // This server speaks HTTP/1.1 only: offer nothing else in ALPN.
        let mut tls = (*tls).clone();
        tls.alpn_protocols = vec![b"http/1.1".to_vec()];
        Self::start_with(name, Some(tokio_rustls::TlsAcceptor::from(Arc::new(tls)))).await
    }

    async fn start_with(
        name: &str,
        tls: Option<tokio_rustls::TlsAcceptor>,
    ) -> std::io::Result<Self> {
        let is_tls = tls.is_some();
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            name: name.to_owned(),
            behavior: Mutex::new(Behavior::Reply),
            chunk_delay: Mutex::new(Duration::ZERO),
            requests: Mutex::new(Vec::new()),
            hits: AtomicUsize::new(0),
        });
        let s = Arc::clone(&shared);
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let shared = Arc::clone(&s);
                let tls = tls.clone();
                tokio::spawn(async move {
                    let kill = Arc::new(Notify::new());
                    let k = Arc::clone(&kill);
                    let svc = hyper::service::service_fn(move |req| {
                        handle(Arc::clone(&shared), Arc::clone(&k), req)
                    });
                    let builder = hyper::server::conn::http1::Builder::new();
                    match tls {
                        None => {
                            let conn = builder.serve_connection(TokioIo::new(stream), svc);
                            tokio::select! {
                                _ = conn => {}
                                () = kill.notified() => {}
                            }
                        }
                        Some(acceptor) => {
                            // A client that rejects our certificate ends here.
                            let Ok(stream) = acceptor.accept(stream).await else {
                                return;
                            };
                            let conn = builder.serve_connection(TokioIo::new(stream), svc);
                            tokio::select! {
                                _ = conn => {}
                                () = kill.notified() => {}
                            }
                        }
                    }
                });
            }
        });
        Ok(Self {
            addr,
            tls: is_tls,
            shared,
            task,
        })
    }

    /// Base URL to put in a ModelEndpoint: `http://127.0.0.1:<port>/v1` (`https://` for
    /// [`FakeUpstream::start_tls`]).
    pub fn base_url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}/v1", self.addr)
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Changes the behaviour for the following requests.
    pub fn set(&self, b: Behavior) {
        *lock(&self.shared.behavior) = b;
    }

    /// Delay between streamed chunks.
    pub fn set_chunk_delay(&self, d: Duration) {
        *lock(&self.shared.chunk_delay) = d;
    }

    /// Requests received so far.
    pub fn requests(&self) -> Vec<Recorded> {
        lock(&self.shared.requests).clone()
    }

    /// Number of requests received so far.
    pub fn hits(&self) -> usize {
        self.shared.hits.load(Ordering::SeqCst)
    }
}

fn full(status: StatusCode, content_type: &str, body: Vec<u8>) -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::from(body)).map_err(|n| match n {}).boxed());
    *r.status_mut() = status;
    if let Ok(v) = http::HeaderValue::from_str(content_type) {
        r.headers_mut().insert(http::header::CONTENT_TYPE, v);
    }
    r
}

async fn handle(
    shared: Arc<Shared>,
    kill: Arc<Notify>,
    req: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    let path = req
        .uri()
        .path_and_query()
        .map(ToString::to_string)
        .unwrap_or_default();
    let headers = req.headers().clone();
    let bytes = req
        .into_body()
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    shared.hits.fetch_add(1, Ordering::SeqCst);
    let sent_key = headers_key(&headers);
    lock(&shared.requests).push(Recorded {
        path,
        headers,
        body: body.clone(),
    });
    let behavior = lock(&shared.behavior).clone();
    let delay = *lock(&shared.chunk_delay);
    match behavior {
        Behavior::EchoKey(code) => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::UNAUTHORIZED);
            let err = json!({"error": {"message": format!("Incorrect API key provided: {sent_key}"),
                                       "type": "invalid_request_error", "code": "invalid_api_key"}});
            Ok(full(
                status,
                "application/json",
                err.to_string().into_bytes(),
            ))
        }
        Behavior::Status(code, message) => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let err = json!({"error": {"message": message, "type": "fake", "code": code}});
            Ok(full(
                status,
                "application/json",
                err.to_string().into_bytes(),
            ))
        }
        Behavior::Hang => {
            std::future::pending::<()>().await;
            Ok(full(StatusCode::OK, "text/plain", Vec::new()))
        }
        Behavior::Reset => {
            kill.notify_one();
            std::future::pending::<()>().await;
            Ok(full(StatusCode::OK, "text/plain", Vec::new()))
        }
        Behavior::SlowFirstByte(d) => {
            tokio::time::sleep(d).await;
            Ok(reply(reply_pieces(&shared.name), &body, delay, None))
        }
        Behavior::Reply => Ok(reply(reply_pieces(&shared.name), &body, delay, None)),
        Behavior::Say(text) => Ok(reply(vec![text], &body, delay, None)),
        Behavior::DropAfter(n) => Ok(reply(reply_pieces(&shared.name), &body, delay, Some(n))),
    }
}

/// The key a request carried (`Authorization` or `api-key`), or "".
fn headers_key(headers: &HeaderMap) -> String {
    headers
        .get(http::header::AUTHORIZATION)
        .or_else(|| headers.get("api-key"))
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// The content pieces of a reply.
pub fn reply_pieces(name: &str) -> Vec<String> {
    vec!["Hello".into(), " from ".into(), format!("{name}!")]
}

fn reply(
    pieces: Vec<String>,
    req: &Value,
    delay: Duration,
    drop_after: Option<usize>,
) -> Response<Body> {
    let model = req["model"].as_str().unwrap_or("unknown").to_owned();
    let prompt_tokens = req["messages"].to_string().len() as u64 / 4;
    let completion_tokens = pieces.len() as u64;
    let usage = json!({"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                       "total_tokens": prompt_tokens + completion_tokens});
    if req["stream"].as_bool() != Some(true) {
        let body = json!({
            "id": "chatcmpl-fake", "object": "chat.completion", "created": 0, "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": pieces.concat()},
                         "finish_reason": "stop"}],
            "usage": usage,
        });
        return full(
            StatusCode::OK,
            "application/json",
            body.to_string().into_bytes(),
        );
    }
    let chunk = |delta: Value, finish: Value| {
        json!({"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 0,
               "model": model, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
    };
    let mut events: Vec<Result<Bytes, std::io::Error>> = Vec::new();
    events.push(Ok(sse(&chunk(
        json!({"role": "assistant", "content": ""}),
        Value::Null,
    ))));
    for (i, p) in pieces.iter().enumerate() {
        if drop_after == Some(i) {
            events.push(Err(std::io::Error::other(
                "fake upstream dropped the connection",
            )));
            break;
        }
        events.push(Ok(sse(&chunk(json!({"content": p}), Value::Null))));
    }
    if drop_after.is_none_or(|n| n >= pieces.len()) {
        events.push(Ok(sse(&chunk(json!({}), json!("stop")))));
        if req
            .pointer("/stream_options/include_usage")
            .and_then(Value::as_bool)
            == Some(true)
        {
            events.push(Ok(sse(
                &json!({"id": "chatcmpl-fake", "object": "chat.completion.chunk",
                "created": 0, "model": model, "choices": [], "usage": usage}),
            )));
        }
        events.push(Ok(Bytes::from_static(b"data: [DONE]\n\n")));
    }
    let stream = futures::stream::iter(events)
        .then(move |e| async move {
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            e
        })
        .map(|e| e.map(Frame::data));
    let mut r = Response::new(BodyExt::boxed(StreamBody::new(stream)));
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/event-stream"),
    );
    r
}

fn sse(v: &Value) -> Bytes {
    Bytes::from(format!("data: {v}\n\n"))
}

/// A ModelEndpoint document for a fake upstream; `extra_spec` is YAML flow-map content added
/// to `spec` (e.g. `"capabilities: {vision: true}"`).
pub fn endpoint_yaml(name: &str, model: &str, base_url: &str, extra_spec: &str) -> String {
    let extra = if extra_spec.is_empty() {
        String::new()
    } else {
        format!(", {extra_spec}")
    };
    format!(
        "apiVersion: switchyard.dev/v1alpha1\nkind: ModelEndpoint\nmetadata: {{name: {name}}}\n\
         spec: {{model: {model}, baseURL: '{base_url}'{extra}}}\n---\n"
    )
}

/// The router app served on 127.0.0.1 (random port). Stops when dropped.
pub struct RunningRouter {
    /// The listening address.
    pub addr: SocketAddr,
    task: JoinHandle<()>,
}

impl RunningRouter {
    /// Serves `state` on a fresh port.
    pub async fn start(state: AppState) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            use axum::serve::ListenerExt;
            let listener = listener.tap_io(|tcp| {
                let _ = tcp.set_nodelay(true);
            });
            let _ = axum::serve(listener, crate::api::app(state)).await;
        });
        Ok(Self { addr, task })
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for RunningRouter {
    fn drop(&mut self) {
        self.task.abort();
    }
}
