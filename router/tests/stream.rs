//! Streaming over real HTTP: SSE relayed chunk by chunk, failures after the first byte ending in
//! an error event, the idle timeout, and graceful shutdown letting streams finish.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::{Value, json};
use support::{Fakes, Harness, Served, wait_for};
use switchyard_router::server::serve;
use switchyard_router::testing::{Behavior, RunningRouter};

fn streamed(model: &str) -> Value {
    json!({"model": model, "stream": true, "messages": [{"role": "user", "content": "hi"}]})
}

/// Reads a whole streamed body, noting when the first and last chunks arrived.
async fn read_all(resp: reqwest::Response) -> (String, Duration) {
    let mut stream = resp.bytes_stream();
    let mut text = String::new();
    let mut first: Option<Instant> = None;
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(b) => {
                first.get_or_insert_with(Instant::now);
                text.push_str(&String::from_utf8_lossy(&b));
            }
            Err(e) => {
                text.push_str(&format!("<transport error: {e}>"));
                break;
            }
        }
    }
    let spread = first.map(|t| t.elapsed()).unwrap_or_default();
    (text, spread)
}

#[tokio::test]
async fn sse_is_relayed_as_it_arrives() {
    let f = Fakes::start().await;
    let h = Harness::new(&f.yaml("", "")).await;
    let router = RunningRouter::start(h.state.clone()).await.unwrap();
    f.b.set_chunk_delay(Duration::from_millis(150));
    let resp = reqwest::Client::new()
        .post(format!("{}/v1/chat/completions", router.url()))
        .json(&streamed("org/model-b"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    assert_eq!(resp.headers()["x-switchyard-model"], "org/model-b");
    let (text, spread) = read_all(resp).await;
    // Six events 150 ms apart: a buffering proxy would deliver them all at once.
    assert!(
        spread >= Duration::from_millis(450),
        "first-to-last {spread:?}:\n{text}"
    );
    assert!(
        text.contains("\"Hello\"") && text.trim_end().ends_with("data: [DONE]"),
        "{text}"
    );
}

#[tokio::test]
async fn a_failure_after_the_first_byte_ends_with_an_error_event() {
    let f = Fakes::start().await;
    let h = Harness::new(&f.yaml("", "")).await;
    let router = RunningRouter::start(h.state.clone()).await.unwrap();
    f.b.set(Behavior::DropAfter(2));
    f.b.set_chunk_delay(Duration::from_millis(30));
    let resp = reqwest::Client::new()
        .post(format!("{}/v1/chat/completions", router.url()))
        .json(&streamed("org/model-b"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let (text, _) = read_all(resp).await;
    assert!(text.contains("\"Hello\""), "{text}");
    let last = text.trim_end().lines().last().unwrap_or_default();
    let event: Value = serde_json::from_str(last.trim_start_matches("data: ")).unwrap();
    assert_eq!(event["error"]["code"], "upstream_stream_error", "{text}");
    assert!(!text.contains("[DONE]"), "{text}");
    let m = h.state.metrics().encode();
    assert!(
        m.contains(r#"switchyard_upstream_attempts_total{endpoint="b",kind="mid_stream_error"} 1"#),
        "{m}"
    );
}

#[tokio::test]
async fn the_idle_timeout_ends_a_silent_stream() {
    let f = Fakes::start().await;
    let y = f.yaml("", "").replace(
        "cost: {inputPerMillionTokens: 1, outputPerMillionTokens: 1}",
        "timeouts: {idle: 200ms}",
    );
    let h = Harness::new(&y).await;
    let router = RunningRouter::start(h.state.clone()).await.unwrap();
    f.b.set_chunk_delay(Duration::from_millis(700));
    let resp = reqwest::Client::new()
        .post(format!("{}/v1/chat/completions", router.url()))
        .json(&streamed("org/model-b"))
        .send()
        .await
        .unwrap();
    let (text, _) = read_all(resp).await;
    assert!(text.contains("idle timeout"), "{text}");
}

#[tokio::test]
async fn shutdown_stops_accepting_and_lets_streams_finish() {
    let f = Fakes::start().await;
    let h = Harness::new(&f.yaml("", "")).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve(
        h.state.clone(),
        listener,
        None,
        Duration::from_secs(30),
        async move {
            let _ = rx.await;
        },
    ));
    f.b.set_chunk_delay(Duration::from_millis(100));
    Served {
        addr,
        stop: tx,
        server,
    }
    .assert_shutdown_lets_a_stream_finish("org/model-b")
    .await;
}

#[tokio::test]
async fn the_grace_period_bounds_shutdown() {
    let f = Fakes::start().await;
    let h = Harness::new(&f.yaml("", "")).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve(
        h.state.clone(),
        listener,
        None,
        Duration::from_millis(200),
        async move {
            let _ = rx.await;
        },
    ));
    f.b.set(Behavior::Hang);
    let hung = tokio::spawn(async move {
        reqwest::Client::new()
            .post(format!("http://{addr}/v1/chat/completions"))
            .json(&streamed("org/model-b"))
            .send()
            .await
    });
    assert!(wait_for(Duration::from_secs(5), || async { f.b.hits() == 1 }).await);
    tx.send(()).unwrap();
    let done = tokio::time::timeout(Duration::from_secs(5), server).await;
    assert!(matches!(done, Ok(Ok(Ok(())))), "{done:?}");
    hung.abort();
}
