//! Serving on dedicated worker threads (`serve --workers`, `server::serve_workers`): requests on
//! many connections spread over the workers all come back right (plain and streamed, through a
//! policy and by model id), and shutdown stops accepting, lets streams finish and stops every
//! worker.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::{Fakes, Harness, Served};
use switchyard_router::RuntimeOptions;

const WORKERS: usize = 3;

fn body(model: &str, stream: bool) -> Value {
    json!({"model": model, "stream": stream, "messages": [{"role": "user", "content": "hello there"}]})
}

#[tokio::test]
async fn workers_serve_every_connection_and_drain_on_shutdown() {
    let f = Fakes::start().await;
    let options = RuntimeOptions {
        workers: WORKERS,
        factory: std::sync::Arc::new(switchyard_router::classify::KeywordFactory),
        ..RuntimeOptions::default()
    };
    let h = Harness::with_options(&f.yaml("", ""), options).await;
    let served = Served::start(h.state.clone(), WORKERS, Duration::from_secs(30)).await;
    let addr = served.addr;

    // Several clients, so several connections, handed to the workers in turn; each connection
    // carries a few requests.
    let url = format!("http://{addr}/v1/chat/completions");
    let mut calls = Vec::new();
    for c in 0..(2 * WORKERS) {
        let url = url.clone();
        calls.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            let mut seen = Vec::new();
            for i in 0..4 {
                let model = if (c + i) % 2 == 0 {
                    "org/model-b"
                } else {
                    "switchyard/p"
                };
                let r = client
                    .post(&url)
                    .json(&body(model, false))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 200);
                let routed = r.headers()["x-switchyard-model"]
                    .to_str()
                    .unwrap()
                    .to_owned();
                let v: Value = r.json().await.unwrap();
                assert_eq!(v["object"], "chat.completion", "{v}");
                seen.push(routed);
            }
            seen
        }));
    }
    let mut answered = 0;
    for call in calls {
        for model in call.await.unwrap() {
            assert!(model.starts_with("org/model-"), "{model}");
            answered += 1;
        }
    }
    assert_eq!(answered, 8 * WORKERS);
    assert_eq!(f.a.hits() + f.b.hits(), 8 * WORKERS);

    // A stream in progress when shutdown begins runs to its end.
    f.b.set_chunk_delay(Duration::from_millis(100));
    served
        .assert_shutdown_lets_a_stream_finish("org/model-b")
        .await;
}

/// A client that sends part of a request's headers and then nothing (or nothing at all) is
/// disconnected after `header_read_timeout`, on dedicated workers and on the shared runtime,
/// while a well-behaved client on another connection is served meanwhile.
#[tokio::test]
async fn silent_and_trickling_clients_are_disconnected_after_the_header_timeout() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let f = Fakes::start().await;
    for workers in [2, 0] {
        let options = RuntimeOptions {
            workers,
            header_read_timeout: Duration::from_millis(400),
            factory: std::sync::Arc::new(switchyard_router::classify::KeywordFactory),
            ..RuntimeOptions::default()
        };
        let h = Harness::with_options(&f.yaml("", ""), options).await;
        let served = Served::start(h.state.clone(), workers, Duration::from_secs(5)).await;
        let addr = served.addr;
        let mut partial = tokio::net::TcpStream::connect(addr).await.unwrap();
        partial
            .write_all(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        let mut silent = tokio::net::TcpStream::connect(addr).await.unwrap();
        let started = std::time::Instant::now();

        let ok = reqwest::Client::new()
            .post(format!("http://{addr}/v1/chat/completions"))
            .json(&body("org/model-b", false))
            .send()
            .await
            .unwrap();
        assert_eq!(ok.status(), 200, "workers {workers}");

        for (name, conn) in [("partial", &mut partial), ("silent", &mut silent)] {
            let mut buf = Vec::new();
            // EOF (possibly after a 408 the server sends) or a reset: either way, closed.
            let read = tokio::time::timeout(Duration::from_secs(10), conn.read_to_end(&mut buf))
                .await
                .unwrap_or_else(|_| {
                    panic!("workers {workers}: the {name} connection is still open")
                });
            assert!(
                read.is_ok() || buf.is_empty(),
                "workers {workers}, {name}: {read:?}"
            );
        }
        let waited = started.elapsed();
        assert!(
            waited >= Duration::from_millis(300),
            "workers {workers}: closed after {waited:?}, before the timeout"
        );
        served.stop.send(()).unwrap();
        tokio::time::timeout(Duration::from_secs(10), served.server)
            .await
            .expect("the server drains")
            .unwrap()
            .unwrap();
    }
}
