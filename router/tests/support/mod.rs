//! Shared helpers of the router's integration tests.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use axum::body::Body;
use http::{HeaderMap, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use switchyard_router::config::{self, Source};
use switchyard_router::secrets::SecretStore;
use switchyard_router::testing::{FakeUpstream, endpoint_yaml};
use switchyard_router::upstream::breaker::BreakerSettings;
use switchyard_router::{AppState, RuntimeOptions};
use tempfile::TempDir;
use tower::ServiceExt;

/// A router state loaded from YAML written to a temporary file.
pub struct Harness {
    pub state: AppState,
    pub dir: TempDir,
    pub file: PathBuf,
}

impl Harness {
    pub async fn new(yaml: &str) -> Self {
        Self::with_breaker(yaml, BreakerSettings::default()).await
    }

    pub async fn with_breaker(yaml: &str, breaker: BreakerSettings) -> Self {
        let options = RuntimeOptions {
            breaker,
            // Tests here are about HTTP, proxying and reload, not models: keyword test double.
            factory: std::sync::Arc::new(switchyard_router::classify::KeywordFactory),
            ..RuntimeOptions::default()
        };
        Self::with_options(yaml, options).await
    }

    /// With the production ONNX classifiers and the built-in models of `scripts/setup.sh`.
    pub async fn with_models(yaml: &str) -> Self {
        let options = RuntimeOptions {
            models_dir: models_dir(),
            ..RuntimeOptions::default()
        };
        Self::with_options(yaml, options).await
    }

    pub async fn with_options(yaml: &str, options: RuntimeOptions) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("router.yaml");
        std::fs::write(&file, yaml).unwrap();
        let state = AppState::new(options, SecretStore::empty(true)).unwrap();
        config::reload(&state, &Source::Files(vec![file.clone()]))
            .await
            .unwrap();
        Self { state, dir, file }
    }

    pub fn source(&self) -> Source {
        Source::Files(vec![self.file.clone()])
    }

    /// One request through `app(state)` with `oneshot`.
    pub async fn call(&self, method: &str, uri: &str, body: Option<Value>) -> Reply {
        self.call_raw(method, uri, body.map(|b| b.to_string().into_bytes()), &[])
            .await
    }

    pub async fn call_raw(
        &self,
        method: &str,
        uri: &str,
        body: Option<Vec<u8>>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut req = Request::builder().method(method).uri(uri);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = req
            .header("content-type", "application/json")
            .body(body.map(Body::from).unwrap_or_else(Body::empty))
            .unwrap();
        let resp = switchyard_router::app(self.state.clone())
            .oneshot(req)
            .await
            .unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Reply {
            status,
            headers,
            text,
            json,
        }
    }
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub text: String,
    pub json: Value,
}

impl Reply {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// Asserts an OpenAI-shaped error with this status whose message contains `needle`.
    pub fn assert_error(&self, status: u16, needle: &str) {
        assert_eq!(self.status.as_u16(), status, "{}", self.text);
        let msg = self.json["error"]["message"].as_str().unwrap_or_default();
        assert!(msg.contains(needle), "{msg:?} lacks {needle:?}");
        assert!(self.json["error"]["type"].is_string(), "{}", self.text);
        assert!(self.json["error"]["code"].is_string(), "{}", self.text);
    }
}

/// Three fake upstreams: `a` (needs key sk-a), `b` (no key), `vl` (vision).
pub struct Fakes {
    pub a: FakeUpstream,
    pub b: FakeUpstream,
    pub vl: FakeUpstream,
}

impl Fakes {
    pub async fn start() -> Self {
        Self {
            a: FakeUpstream::start("a").await.unwrap(),
            b: FakeUpstream::start("b").await.unwrap(),
            vl: FakeUpstream::start("vl").await.unwrap(),
        }
    }

    /// Endpoints a, b, vl plus an intent policy `p` (routes chat → [a, b], code → [b, a],
    /// image → [vl]) with the given extra policy spec lines.
    pub fn yaml(&self, policy_extra: &str, a_extra: &str) -> String {
        let a_spec = if a_extra.is_empty() {
            "apiKeySecretRef: {name: keys, key: A_KEY}, timeouts: {firstByte: 2s}".to_owned()
        } else {
            format!("apiKeySecretRef: {{name: keys, key: A_KEY}}, {a_extra}")
        };
        let mut y = String::new();
        y.push_str(&endpoint_yaml(
            "a",
            "org/model-a",
            &self.a.base_url(),
            &a_spec,
        ));
        y.push_str(&endpoint_yaml(
            "b",
            "org/model-b",
            &self.b.base_url(),
            "cost: {inputPerMillionTokens: 1, outputPerMillionTokens: 1}",
        ));
        y.push_str(&endpoint_yaml(
            "vl",
            "org/model-vl",
            &self.vl.base_url(),
            "capabilities: {vision: true}",
        ));
        y.push_str(
            "apiVersion: v1\nkind: Secret\nmetadata: {name: keys}\nstringData: {A_KEY: sk-a}\n---\n",
        );
        y.push_str(&format!(
            "apiVersion: switchyard.dev/v1alpha1\nkind: RoutingPolicy\nmetadata: {{name: p}}\n\
             spec:\n  strategy: intent\n  intent:\n    classifier: {{type: embedding, \
             confidenceFloor: 0.2}}\n    defaultRoute: chat\n    routes:\n\
             \x20     - {{name: chat, description: casual greetings and small talk, examples: \
             ['hello there', 'tell me a joke'], endpoints: [a, b]}}\n\
             \x20     - {{name: code, description: writing python or rust code functions, \
             endpoints: [b, a]}}\n\
             \x20     - {{name: image, description: pictures, images: true, endpoints: [vl]}}\n\
             {policy_extra}"
        ));
        y
    }
}

/// A chat body for policy `p`.
pub fn chat(text: &str) -> Value {
    serde_json::json!({"model": "switchyard/p", "messages": [{"role": "user", "content": text}]})
}

/// Waits until `f` is true, polling every 20 ms, for at most `within`.
pub async fn wait_for<F, Fut>(within: Duration, mut f: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + within;
    loop {
        if f().await {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A router served on a local port by `server::serve_workers` (0 workers: the shared runtime,
/// as `server::serve` does), until `stop` is sent.
pub struct Served {
    pub addr: SocketAddr,
    pub stop: tokio::sync::oneshot::Sender<()>,
    pub server: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Served {
    pub async fn start(state: AppState, workers: usize, grace: Duration) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(switchyard_router::server::serve_workers(
            state,
            listener,
            None,
            None,
            grace,
            workers,
            async move {
                let _ = rx.await;
            },
        ));
        Self { addr, stop, server }
    }

    /// Streams from `model` (whose upstream should be slow), begins shutdown once the first
    /// chunk arrived, and asserts that new connections are then refused, the stream still runs
    /// to `[DONE]`, and the server stops cleanly.
    pub async fn assert_shutdown_lets_a_stream_finish(self, model: &str) {
        use futures::StreamExt;
        let Self { addr, stop, server } = self;
        let resp = reqwest::Client::new()
            .post(format!("http://{addr}/v1/chat/completions"))
            .json(&serde_json::json!({"model": model, "stream": true,
                                      "messages": [{"role": "user", "content": "hi"}]}))
            .send()
            .await
            .unwrap();
        let mut stream = resp.bytes_stream();
        let mut text = String::from_utf8_lossy(&stream.next().await.unwrap().unwrap()).into_owned();
        stop.send(()).unwrap();
        let refused = wait_for(Duration::from_secs(5), || async {
            tokio::net::TcpStream::connect(addr).await.is_err()
        })
        .await;
        assert!(refused, "still accepting connections after shutdown");
        while let Some(chunk) = stream.next().await {
            text.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
        }
        assert!(text.trim_end().ends_with("data: [DONE]"), "{text}");
        let done = tokio::time::timeout(Duration::from_secs(5), server).await;
        assert!(
            matches!(done, Ok(Ok(Ok(())))),
            "the server did not stop cleanly: {done:?}"
        );
    }
}

/// The models directory (`SWITCHYARD_MODELS`, else `<repo>/models`); panics with the fix when
/// the built-in models are missing.
pub fn models_dir() -> PathBuf {
    let dir = std::env::var_os("SWITCHYARD_MODELS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../models"));
    assert!(
        dir.join("minilm-l6-v2-int8/model.onnx").is_file(),
        "built-in models missing in {}: run scripts/setup.sh and `source .tools/env.sh`",
        dir.display()
    );
    assert!(
        std::env::var_os("ORT_DYLIB_PATH").is_some(),
        "ORT_DYLIB_PATH is not set: run scripts/setup.sh and `source .tools/env.sh`"
    );
    dir
}

/// The text of a file of the repository.
pub fn repo_file(path: &str) -> String {
    std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join(path),
    )
    .unwrap()
}
