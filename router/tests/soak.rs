//! Soak and overload tests of the real binary.
//!
//! `soak_under_faults_answers_every_request_once_without_leaks`: sustained closed-loop load
//! (plain and streamed, by model id and through an intent policy) against two fake upstreams
//! that inject faults (5xx, 429, hangs, resets, bodies cut after the first chunk). It samples
//! the router's RSS and open file descriptors every second, counts requests on the client, in
//! the router (`/metrics`) and at the upstreams, and fails on: a request without exactly one
//! answer, a 200 carrying another request's answer, a client answer that no upstream produced
//! (or an upstream answer delivered twice), memory growth beyond a bound, descriptors not
//! returning to their baseline, or a panic in the logs. 30 s by default (CI); `bench/soak/run.sh
//! --duration 10m` runs it longer with a release binary and keeps the report.
//!
//! `overload_sheds_the_excess_and_bounds_admitted_latency`: an open-loop client offers twice
//! the capacity `maxInflight` allows (upstream service time fixed); the excess is refused at
//! once with 429 + Retry-After, every admitted request succeeds, and the admitted requests'
//! latency percentiles are reported (measured from their scheduled send time, so a lagging
//! client cannot hide queueing).
//!
//! Environment: `SWITCHYARD_SOAK_SECS` (default 30), `SWITCHYARD_SOAK_REPORT` (write the JSON
//! report there), `SWITCHYARD_ROUTER_BIN` (binary to test; default: this build's),
//! `SWITCHYARD_SOAK_MAX_GROWTH_MIB` (default 16), `SWITCHYARD_OVERLOAD_SECS` (default 4),
//! `SWITCHYARD_OVERLOAD_REPORT`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt;
use http::{Request, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::Notify;

// ---------------------------------------------------------------------------------------
// The router process and what it uses.

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn router_bin() -> PathBuf {
    std::env::var_os("SWITCHYARD_ROUTER_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_switchyard-router")))
}

fn models_dir() -> PathBuf {
    std::env::var_os("SWITCHYARD_MODELS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../models"))
}

struct Router {
    child: Child,
    pid: u32,
    url: String,
    log: PathBuf,
}

impl Drop for Router {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Router {
    fn start(dir: &Path, config: &str) -> Self {
        let file = dir.join("router.yaml");
        std::fs::write(&file, config).unwrap();
        let log = dir.join("router.log");
        let mut child = Command::new(router_bin())
            .args(["serve", "--listen", "127.0.0.1:0", "--log-format", "json"])
            .args(["--no-watch", "--breaker-failures", "50", "--no-ui", "-f"])
            .arg(&file)
            .arg("--models")
            .arg(models_dir())
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(120);
        let addr = loop {
            assert!(
                child.try_wait().unwrap().is_none(),
                "the router exited:\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
            assert!(Instant::now() < deadline, "the router did not start");
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            if let Some(addr) = text.lines().find_map(|l| {
                serde_json::from_str::<Value>(l)
                    .ok()
                    .filter(|v| v["message"] == "serving")
                    .and_then(|v| v["addr"].as_str().map(str::to_owned))
            }) {
                break addr;
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let pid = child.id();
        Self {
            child,
            pid,
            url: format!("http://{addr}"),
            log,
        }
    }

    /// `(RSS KiB, open file descriptors)`.
    fn sample(&self) -> (u64, usize) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid)).unwrap();
        let rss = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap();
        let fds = std::fs::read_dir(format!("/proc/{}/fd", self.pid))
            .unwrap()
            .count();
        (rss, fds)
    }

    fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// Sum of `switchyard_requests_total` over all label sets.
fn requests_total(metrics: &str) -> u64 {
    metrics
        .lines()
        .filter(|l| l.starts_with("switchyard_requests_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .pool_max_idle_per_host(1024)
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

// ---------------------------------------------------------------------------------------
// A fault-injecting upstream: which request (by the `user` field the client sets) got which
// treatment, and which requests it answered successfully.

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Fault {
    Ok,
    ServerError,
    RateLimited,
    Hang,
    Reset,
    CutAfterFirstChunk,
}

impl Fault {
    /// Out of 100 attempts: 80 fine, the rest spread over the faults.
    fn pick(h: u64) -> Self {
        match h % 100 {
            0..80 => Self::Ok,
            80..85 => Self::ServerError,
            85..88 => Self::RateLimited,
            88..91 => Self::Hang,
            91..96 => Self::Reset,
            _ => Self::CutAfterFirstChunk,
        }
    }
}

fn mix(mut x: u64) -> u64 {
    // splitmix64: a deterministic spread of attempt numbers over faults.
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

#[derive(Default)]
struct Upstreams {
    attempts: AtomicU64,
    by_fault: Mutex<BTreeMap<String, u64>>,
    /// Request id → successful answers given for it.
    answered: Mutex<HashMap<String, u32>>,
    inflight: AtomicI64,
    max_inflight: AtomicI64,
    /// Fixed service time for the overload test (no faults then).
    service_ms: AtomicU64,
    faults: AtomicBool,
}

type UpBody = BoxBody<Bytes, std::io::Error>;

fn full(status: StatusCode, body: Value) -> Response<UpBody> {
    let mut r = Response::new(
        Full::new(Bytes::from(body.to_string()))
            .map_err(|n| match n {})
            .boxed(),
    );
    *r.status_mut() = status;
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    r
}

fn sse_event(v: &Value) -> Bytes {
    Bytes::from(format!("data: {v}\n\n"))
}

struct InflightGuard<'a>(&'a AtomicI64);

impl Drop for InflightGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn upstream_handle(
    up: Arc<Upstreams>,
    kill: Arc<Notify>,
    req: Request<Incoming>,
) -> Result<Response<UpBody>, Infallible> {
    let now = up.inflight.fetch_add(1, Ordering::SeqCst) + 1;
    up.max_inflight.fetch_max(now, Ordering::SeqCst);
    let _g = InflightGuard(&up.inflight);
    let body = req.into_body().collect().await.map(|c| c.to_bytes());
    let body: Value = body
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or(Value::Null);
    let id = body["user"].as_str().unwrap_or("?").to_owned();
    let stream = body["stream"].as_bool() == Some(true);
    let attempt = up.attempts.fetch_add(1, Ordering::SeqCst);
    let fault = if up.faults.load(Ordering::SeqCst) {
        Fault::pick(mix(attempt))
    } else {
        Fault::Ok
    };
    *up.by_fault
        .lock()
        .unwrap()
        .entry(format!("{fault:?}"))
        .or_default() += 1;
    let service = up.service_ms.load(Ordering::SeqCst);
    if service > 0 {
        tokio::time::sleep(Duration::from_millis(service)).await;
    }
    let err = |code: u16, msg: &str| {
        full(
            StatusCode::from_u16(code).unwrap(),
            json!({"error": {"message": msg, "type": "fake"}}),
        )
    };
    match fault {
        Fault::ServerError => return Ok(err(500, "injected server error")),
        Fault::RateLimited => return Ok(err(429, "injected rate limit")),
        Fault::Hang => {
            // Longer than the router's firstByte timeout; bounded so nothing piles up here.
            tokio::time::sleep(Duration::from_secs(5)).await;
            return Ok(err(503, "hung"));
        }
        Fault::Reset => {
            kill.notify_one();
            std::future::pending::<()>().await;
        }
        Fault::Ok | Fault::CutAfterFirstChunk => {}
    }
    let content = format!("echo {id}");
    let cut = fault == Fault::CutAfterFirstChunk;
    if !stream {
        if cut {
            // Announce more than is sent, then fail: the body breaks after its first bytes.
            let first = Bytes::from_static(b"{\"id\":\"chatcmpl-soak\",");
            let chunks: Vec<Result<Frame<Bytes>, std::io::Error>> = vec![
                Ok(Frame::data(first)),
                Err(std::io::Error::other("injected cut")),
            ];
            let s = futures::stream::iter(chunks).then(|c| async move {
                tokio::time::sleep(Duration::from_millis(5)).await;
                c
            });
            let mut r = Response::new(BodyExt::boxed(StreamBody::new(s)));
            r.headers_mut().insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static("application/json"),
            );
            return Ok(r);
        }
        *up.answered.lock().unwrap().entry(id).or_default() += 1;
        return Ok(full(
            StatusCode::OK,
            json!({"id": "chatcmpl-soak", "object": "chat.completion", "created": 0,
                   "model": body["model"],
                   "choices": [{"index": 0, "finish_reason": "stop",
                                "message": {"role": "assistant", "content": content}}],
                   "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}}),
        ));
    }
    let chunk = |delta: Value, finish: Value| {
        json!({"id": "chatcmpl-soak", "object": "chat.completion.chunk", "created": 0,
               "model": body["model"],
               "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
    };
    let mut events: Vec<Result<Bytes, std::io::Error>> = vec![Ok(sse_event(&chunk(
        json!({"role": "assistant", "content": ""}),
        Value::Null,
    )))];
    if cut {
        events.push(Err(std::io::Error::other("injected cut")));
    } else {
        *up.answered.lock().unwrap().entry(id).or_default() += 1;
        events.push(Ok(sse_event(&chunk(
            json!({"content": content}),
            Value::Null,
        ))));
        events.push(Ok(sse_event(&chunk(json!({}), json!("stop")))));
        events.push(Ok(Bytes::from_static(b"data: [DONE]\n\n")));
    }
    let s = futures::stream::iter(events)
        .then(|e| async move {
            tokio::time::sleep(Duration::from_millis(2)).await;
            e
        })
        .map(|e| e.map(Frame::data));
    let mut r = Response::new(BodyExt::boxed(StreamBody::new(s)));
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/event-stream"),
    );
    Ok(r)
}

/// One listener of the fake upstreams; stops (with its connections) when dropped.
struct UpstreamListener {
    addr: std::net::SocketAddr,
    stop: Arc<Notify>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for UpstreamListener {
    fn drop(&mut self) {
        self.stop.notify_waiters();
        self.task.abort();
    }
}

async fn listen(up: Arc<Upstreams>) -> UpstreamListener {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let stop = Arc::new(Notify::new());
    let stop2 = Arc::clone(&stop);
    let task = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let up = Arc::clone(&up);
            let stop = Arc::clone(&stop2);
            tokio::spawn(async move {
                let kill = Arc::new(Notify::new());
                let k = Arc::clone(&kill);
                let svc = hyper::service::service_fn(move |req| {
                    upstream_handle(Arc::clone(&up), Arc::clone(&k), req)
                });
                let conn = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc);
                tokio::select! {
                    _ = conn => {}
                    () = kill.notified() => {}
                    () = stop.notified() => {}
                }
            });
        }
    });
    UpstreamListener { addr, stop, task }
}

fn endpoints_yaml(a: &UpstreamListener, b: &UpstreamListener, timeouts: &str) -> String {
    let mut y = String::new();
    for (name, l) in [("u1", a), ("u2", b)] {
        y.push_str(&format!(
            "apiVersion: switchyard.dev/v1alpha1\nkind: ModelEndpoint\nmetadata: {{name: {name}}}\n\
             spec: {{model: soak-model, baseURL: 'http://{}/v1', timeouts: {{{timeouts}}}}}\n---\n",
            l.addr
        ));
    }
    y
}

// ---------------------------------------------------------------------------------------
// The soak.

#[derive(Default)]
struct ClientTally {
    sent: AtomicU64,
    outcomes: Mutex<BTreeMap<String, u64>>,
    ok_ids: Mutex<Vec<String>>,
    failures: Mutex<Vec<String>>,
}

impl ClientTally {
    fn count(&self, outcome: impl Into<String>) {
        *self
            .outcomes
            .lock()
            .unwrap()
            .entry(outcome.into())
            .or_default() += 1;
    }
    fn fail(&self, why: String) {
        let mut f = self.failures.lock().unwrap();
        if f.len() < 20 {
            f.push(why);
        }
        drop(f);
        self.count("FAILED");
    }
}

async fn one_request(http: &reqwest::Client, url: &str, n: u64, tally: &ClientTally) {
    let id = format!("soak-{n}");
    let stream = n.is_multiple_of(2);
    let model = if n.is_multiple_of(5) {
        "switchyard/soak"
    } else {
        "soak-model"
    };
    let body = json!({"model": model, "stream": stream, "user": id,
                      "messages": [{"role": "user", "content": format!("hello there, request {n}")}]});
    tally.sent.fetch_add(1, Ordering::SeqCst);
    let resp = match http
        .post(format!("{url}/v1/chat/completions"))
        .json(&body)
        .send()
        .await
    {
        Ok(r) => r,
        Err(e) => return tally.fail(format!("{id}: no answer: {e:?}")),
    };
    let status = resp.status().as_u16();
    if status != 200 {
        let text = resp.text().await.unwrap_or_default();
        let shaped =
            serde_json::from_str::<Value>(&text).is_ok_and(|v| v["error"]["message"].is_string());
        if !shaped {
            return tally.fail(format!("{id}: {status} without an error body: {text}"));
        }
        return tally.count(format!("http_{status}"));
    }
    let mut text = String::new();
    let mut bytes = resp.bytes_stream();
    let mut broken = false;
    while let Some(chunk) = bytes.next().await {
        match chunk {
            Ok(b) => text.push_str(&String::from_utf8_lossy(&b)),
            Err(_) => {
                broken = true;
                break;
            }
        }
    }
    let own = format!("echo {id}\"");
    if stream {
        if text.contains("\"upstream_stream_error\"") {
            return tally.count("200_stream_error_event");
        }
        if broken || !text.trim_end().ends_with("data: [DONE]") {
            return tally.fail(format!(
                "{id}: stream ended without [DONE] or error: {text}"
            ));
        }
    } else if broken {
        return tally.count("200_body_aborted");
    }
    if !text.contains(&own) {
        return tally.fail(format!("{id}: 200 without its own answer: {text}"));
    }
    tally.ok_ids.lock().unwrap().push(id);
    tally.count("200_ok");
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soak_under_faults_answers_every_request_once_without_leaks() {
    let secs = env_u64("SWITCHYARD_SOAK_SECS", 30);
    let max_growth_kib = env_u64("SWITCHYARD_SOAK_MAX_GROWTH_MIB", 16) * 1024;
    let concurrency = 16u64;
    let up = Arc::new(Upstreams::default());
    up.faults.store(true, Ordering::SeqCst);
    let (a, b) = (listen(Arc::clone(&up)).await, listen(Arc::clone(&up)).await);
    let mut config = endpoints_yaml(&a, &b, "connect: 1s, firstByte: 1s, idle: 2s, total: 10s");
    config.push_str(
        "apiVersion: switchyard.dev/v1alpha1\nkind: RoutingPolicy\nmetadata: {name: soak}\n\
         spec:\n  strategy: intent\n  limits: {maxInflight: 256}\n\
         \x20 fallback: {maxAttempts: 2}\n  intent:\n    routes:\n\
         \x20     - {name: chat, description: greetings and small talk, examples: [hello there], endpoints: [u1, u2]}\n\
         \x20     - {name: code, description: writing code, endpoints: [u2, u1]}\n",
    );
    let dir = tempfile::tempdir().unwrap();
    let router = Router::start(dir.path(), &config);
    let http = client();
    let (baseline_rss, baseline_fds) = router.sample();

    let tally = Arc::new(ClientTally::default());
    let next = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let (http, url, tally, next, stop) = (
            http.clone(),
            router.url.clone(),
            Arc::clone(&tally),
            Arc::clone(&next),
            Arc::clone(&stop),
        );
        workers.push(tokio::spawn(async move {
            while !stop.load(Ordering::SeqCst) {
                let n = next.fetch_add(1, Ordering::SeqCst);
                one_request(&http, &url, n, &tally).await;
            }
        }));
    }
    let started = Instant::now();
    let mut samples: Vec<(f64, u64, usize, u64)> = Vec::new();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    while started.elapsed() < Duration::from_secs(secs) {
        tick.tick().await;
        let (rss, fds) = router.sample();
        let sent = tally.sent.load(Ordering::SeqCst);
        samples.push((started.elapsed().as_secs_f64(), rss, fds, sent));
        if secs >= 120 && samples.len().is_multiple_of(30) {
            eprintln!(
                "soak: {:.0}s rss {} MiB, fds {fds}, sent {sent}",
                started.elapsed().as_secs_f64(),
                rss / 1024
            );
        }
    }
    stop.store(true, Ordering::SeqCst);
    for w in workers {
        tokio::time::timeout(Duration::from_secs(60), w)
            .await
            .expect("a client request never got an answer")
            .unwrap();
    }
    let elapsed = started.elapsed().as_secs_f64();
    let metrics = http
        .get(format!("{}/metrics", router.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let router_counted = requests_total(&metrics);
    let (loaded_rss, loaded_fds) = router.sample();

    // Descriptors return to the baseline once clients and upstreams are gone.
    drop(http);
    drop(a);
    drop(b);
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut final_fds = router.sample().1;
    while final_fds > baseline_fds + 2 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
        final_fds = router.sample().1;
    }
    let logs = router.logs();

    // Memory: the peak of the last third against the peak of the first third (after 10 % or
    // 3 s of warm-up).
    let warm = (samples.len() / 10).max(3).min(samples.len());
    let steady = &samples[warm..];
    let third = (steady.len() / 3).max(1);
    let early_peak = steady[..third].iter().map(|s| s.1).max().unwrap_or(0);
    let late_peak = steady[steady.len() - third..]
        .iter()
        .map(|s| s.1)
        .max()
        .unwrap_or(0);
    let growth = late_peak.saturating_sub(early_peak);
    let max_fds = samples.iter().map(|s| s.2).max().unwrap_or(0);

    let sent = tally.sent.load(Ordering::SeqCst);
    let outcomes = tally.outcomes.lock().unwrap().clone();
    let answered: u64 = outcomes
        .iter()
        .filter(|(k, _)| *k != "FAILED")
        .map(|(_, v)| v)
        .sum();
    let client_ok: Vec<String> = tally.ok_ids.lock().unwrap().clone();
    let upstream_answered = up.answered.lock().unwrap().clone();
    let twice: Vec<&String> = upstream_answered
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(k, _)| k)
        .collect();
    let mut client_sorted = client_ok.clone();
    client_sorted.sort();
    let mut upstream_sorted: Vec<String> = upstream_answered.keys().cloned().collect();
    upstream_sorted.sort();
    let report = json!({
        "duration_s": elapsed,
        "client": {"concurrency": concurrency, "sent": sent, "answered": answered,
                   "outcomes": outcomes, "requests_per_s": sent as f64 / elapsed},
        "router": {"requests_total": router_counted, "rss_baseline_kib": baseline_rss,
                   "rss_loaded_kib": loaded_rss, "rss_early_peak_kib": early_peak,
                   "rss_late_peak_kib": late_peak, "rss_growth_kib": growth,
                   "fds_baseline": baseline_fds, "fds_loaded": loaded_fds, "fds_max": max_fds,
                   "fds_after": final_fds,
                   "panics": logs.matches("panicked").count(),
                   "log_lines": logs.lines().count()},
        "upstream": {"attempts": up.attempts.load(Ordering::SeqCst),
                     "by_fault": *up.by_fault.lock().unwrap(),
                     "answered_ok": upstream_answered.len()},
        "samples": samples.iter().map(|(t, rss, fds, sent)| json!([t, rss, fds, sent])).collect::<Vec<_>>(),
    });
    if let Ok(path) = std::env::var("SWITCHYARD_SOAK_REPORT") {
        std::fs::write(&path, serde_json::to_string_pretty(&report).unwrap()).unwrap();
    }
    let mut summary = report.clone();
    summary["samples"] = json!(samples.len());
    eprintln!("{}", serde_json::to_string_pretty(&summary).unwrap());

    let failures = tally.failures.lock().unwrap().clone();
    assert!(
        failures.is_empty(),
        "requests not answered properly: {failures:#?}"
    );
    assert!(sent > 100, "too little load to mean anything: {sent}");
    assert_eq!(answered, sent, "every request sent got exactly one answer");
    assert_eq!(
        router_counted, sent,
        "the router counted every request once"
    );
    assert!(twice.is_empty(), "upstream answers given twice: {twice:?}");
    assert_eq!(
        client_sorted, upstream_sorted,
        "the 200s the client got are exactly the answers the upstreams gave"
    );
    for fault in [
        "ServerError",
        "RateLimited",
        "Hang",
        "Reset",
        "CutAfterFirstChunk",
    ] {
        assert!(
            report["upstream"]["by_fault"][fault].as_u64().unwrap_or(0) > 0,
            "fault {fault} was never injected"
        );
    }
    assert!(!logs.contains("panicked"), "panic in the router's log");
    assert!(
        growth <= max_growth_kib,
        "RSS grew by {growth} KiB under steady load (limit {max_growth_kib})"
    );
    assert!(
        final_fds <= baseline_fds + 2,
        "descriptors leaked: {baseline_fds} before, {final_fds} after"
    );
}

// ---------------------------------------------------------------------------------------
// Overload.

async fn open_loop(
    http: &reqwest::Client,
    url: &str,
    rate: f64,
    secs: f64,
) -> Vec<(u16, f64, bool)> {
    let n = (rate * secs) as u64;
    let start = tokio::time::Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for i in 0..n {
        let at = start + Duration::from_secs_f64(i as f64 / rate);
        tokio::time::sleep_until(at).await;
        let (http, url) = (http.clone(), url.to_owned());
        set.spawn(async move {
            let body = json!({"model": "soak-model", "user": format!("load-{i}"),
                              "messages": [{"role": "user", "content": "hi"}]});
            match http
                .post(format!("{url}/v1/chat/completions"))
                .json(&body)
                .send()
                .await
            {
                Ok(r) => {
                    let status = r.status().as_u16();
                    let retry_after = r.headers().contains_key("retry-after");
                    let _ = r.bytes().await;
                    (status, at.elapsed().as_secs_f64() * 1000.0, retry_after)
                }
                Err(_) => (0, at.elapsed().as_secs_f64() * 1000.0, false),
            }
        });
    }
    let mut out = Vec::new();
    while let Some(r) = set.join_next().await {
        out.push(r.unwrap());
    }
    out
}

fn summarize(results: &[(u16, f64, bool)], status: u16) -> Value {
    let mut ms: Vec<f64> = results
        .iter()
        .filter(|r| r.0 == status)
        .map(|r| r.1)
        .collect();
    ms.sort_by(f64::total_cmp);
    json!({"count": ms.len(), "p50_ms": percentile(&ms, 50.0), "p90_ms": percentile(&ms, 90.0),
           "p99_ms": percentile(&ms, 99.0), "max_ms": ms.last().copied().unwrap_or(f64::NAN)})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overload_sheds_the_excess_and_bounds_admitted_latency() {
    let secs = env_u64("SWITCHYARD_OVERLOAD_SECS", 4) as f64;
    let service_ms = env_u64("SWITCHYARD_OVERLOAD_SERVICE_MS", 100);
    let max_inflight = env_u64("SWITCHYARD_OVERLOAD_INFLIGHT", 8);
    let up = Arc::new(Upstreams::default());
    up.service_ms.store(service_ms, Ordering::SeqCst);
    let (a, b) = (listen(Arc::clone(&up)).await, listen(Arc::clone(&up)).await);
    let mut config = endpoints_yaml(&a, &b, "firstByte: 30s");
    // The in-flight limit is process-wide and lives in a policy's limits.
    config.push_str(&format!(
        "apiVersion: switchyard.dev/v1alpha1\nkind: RoutingPolicy\nmetadata: {{name: soak}}\n\
         spec:\n  strategy: intent\n  limits: {{maxInflight: {max_inflight}}}\n  intent:\n    routes:\n\
         \x20     - {{name: chat, description: anything, endpoints: [u1, u2]}}\n"
    ));
    let dir = tempfile::tempdir().unwrap();
    let router = Router::start(dir.path(), &config);
    let http = client();
    let capacity = max_inflight as f64 * 1000.0 / service_ms as f64;
    let mut runs = Vec::new();
    for factor in [0.5, 2.0] {
        let results = open_loop(&http, &router.url, capacity * factor, secs).await;
        let offered = results.len();
        let errors = results.iter().filter(|r| r.0 != 200 && r.0 != 429).count();
        let shed_without_retry_after = results.iter().filter(|r| r.0 == 429 && !r.2).count();
        let run = json!({
            "offered_factor": factor, "offered_rps": capacity * factor, "requests": offered,
            "admitted": summarize(&results, 200), "shed_429": summarize(&results, 429),
            "other": errors,
        });
        eprintln!("{}", serde_json::to_string(&run).unwrap());
        assert_eq!(errors, 0, "only 200 and 429 are expected: {run}");
        assert_eq!(shed_without_retry_after, 0, "every 429 carries Retry-After");
        runs.push(run);
    }
    let over = &runs[1];
    let admitted = over["admitted"]["count"].as_u64().unwrap() as f64;
    let shed = over["shed_429"]["count"].as_u64().unwrap() as f64;
    assert!(
        shed >= 0.25 * (admitted + shed),
        "at twice the capacity a good share must be shed: {over}"
    );
    assert!(
        up.max_inflight.load(Ordering::SeqCst) <= max_inflight as i64,
        "the upstreams saw more than maxInflight at once"
    );
    let report = json!({"service_ms": service_ms, "max_inflight": max_inflight,
                        "capacity_rps": capacity, "runs": runs});
    if let Ok(path) = std::env::var("SWITCHYARD_OVERLOAD_REPORT") {
        std::fs::write(&path, serde_json::to_string_pretty(&report).unwrap()).unwrap();
    }
    assert!(!router.logs().contains("panicked"));
}
