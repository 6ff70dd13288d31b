//! Every request and upstream limit, each with a test that fails if it is not enforced (the
//! table in docs/reliability.md names the test of each). Limits covered elsewhere: the body
//! limit with Content-Length and the image byte/count unit tests (`http.rs`,
//! `request_tests.rs`), in-flight and `maxConcurrency` with fallback (`http.rs`), the idle
//! timeout (`stream.rs`), the inference queue (`inference/tests/engine.rs`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::{Duration, Instant};

use axum::body::Body;
use base64::Engine as _;
use futures::StreamExt;
use http::Request;
use serde_json::{Value, json};
use support::{Fakes, Harness, chat, wait_for};
use switchyard_router::RuntimeOptions;
use switchyard_router::testing::{Behavior, FakeUpstream, RunningRouter, endpoint_yaml};
use tower::ServiceExt;

fn manual(model: &str, content: Value) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": content}]})
}

fn png(width: u32, height: u32) -> String {
    let mut bytes = Vec::new();
    image::RgbImage::from_pixel(width, height, image::Rgb([10, 20, 30]))
        .write_to(
            &mut std::io::Cursor::new(&mut bytes),
            image::ImageFormat::Png,
        )
        .unwrap();
    format!(
        "data:image/png;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    )
}

/// A one-message chat completion naming `model` (manual routing) through the harness.
async fn say(h: &Harness, model: &str, text: &str) -> support::Reply {
    h.call(
        "POST",
        "/v1/chat/completions",
        Some(manual(model, json!(text))),
    )
    .await
}

fn image_part(url: &str) -> Value {
    json!({"type": "image_url", "image_url": {"url": url}})
}

#[tokio::test]
async fn a_streamed_body_without_length_is_cut_at_the_limit() {
    let f = Fakes::start().await;
    let h = Harness::new(&f.yaml("  limits: {maxBodyBytes: 4096}\n", "")).await;
    // Chunked, no Content-Length: the limit applies while reading, not from the header.
    let chunks = futures::stream::iter(
        (0..64).map(|_| Ok::<_, std::io::Error>(bytes::Bytes::from(vec![b' '; 1024]))),
    );
    let req = Request::post("/v1/chat/completions")
        .header("content-type", "application/json")
        .body(Body::from_stream(chunks))
        .unwrap();
    let resp = switchyard_router::app(h.state.clone())
        .oneshot(req)
        .await
        .unwrap();
    assert_eq!(resp.status(), 413);
    // A body under the limit still works.
    let r = h
        .call("POST", "/v1/chat/completions", Some(chat("hello there")))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
}

#[tokio::test]
async fn messages_images_and_pixels_are_limited() {
    let f = Fakes::start().await;
    let h = Harness::new(&f.yaml(
        "  limits: {maxMessages: 2, maxImages: 1, maxImageBytes: 2048, maxImagePixels: 100}\n",
        "",
    ))
    .await;
    let three = json!({"model": "org/model-b", "messages": [
        {"role": "user", "content": "a"}, {"role": "assistant", "content": "b"},
        {"role": "user", "content": "c"}]});
    let r = h.call("POST", "/v1/chat/completions", Some(three)).await;
    r.assert_error(413, "limit is 2");

    let two = manual(
        "org/model-b",
        json!([image_part(&png(2, 2)), image_part(&png(2, 2))]),
    );
    let r = h.call("POST", "/v1/chat/completions", Some(two)).await;
    r.assert_error(413, "more than 1 images");

    let noise: Vec<u8> = (0..4096u32).map(|i| (i * 7919 % 251) as u8).collect();
    let big = format!(
        "data:image/png;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(noise)
    );
    let r = h
        .call(
            "POST",
            "/v1/chat/completions",
            Some(manual("org/model-b", json!([image_part(&big)]))),
        )
        .await;
    r.assert_error(413, "limit is 2048");

    // 20×20 = 400 pixels, announced in a PNG header of a few dozen bytes.
    let wide = manual("org/model-b", json!([image_part(&png(20, 20))]));
    let r = h.call("POST", "/v1/chat/completions", Some(wide)).await;
    r.assert_error(413, "20×20");
    assert_eq!(f.b.hits(), 0, "nothing over a limit reached the upstream");

    let ok = manual("org/model-b", json!([image_part(&png(10, 10))]));
    let r = h.call("POST", "/v1/chat/completions", Some(ok)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(f.b.hits(), 1);
}

#[tokio::test]
async fn oversized_headers_get_431() {
    let f = Fakes::start().await;
    let options = RuntimeOptions {
        max_header_bytes: 2048,
        factory: std::sync::Arc::new(switchyard_router::classify::KeywordFactory),
        ..RuntimeOptions::default()
    };
    let h = Harness::with_options(&f.yaml("", ""), options).await;
    let big = "x".repeat(3000);
    let r = h
        .call_raw(
            "POST",
            "/v1/chat/completions",
            Some(chat("hi").to_string().into_bytes()),
            &[("x-padding", big.as_str())],
        )
        .await;
    r.assert_error(431, "limit is 2048");
    let r = h
        .call_raw("GET", "/healthz", None, &[("x-padding", big.as_str())])
        .await;
    assert_eq!(r.status, 431);
    let small = "x".repeat(500);
    let r = h
        .call_raw(
            "POST",
            "/v1/chat/completions",
            Some(chat("hi").to_string().into_bytes()),
            &[("x-padding", small.as_str())],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(
        h.state
            .metrics()
            .encode()
            .contains(r#"switchyard_rejected_requests_total{reason="headers_too_large"} 2"#)
    );
}

/// A listening socket whose accept queue is full: further connection attempts get no answer,
/// so only the client's connect timeout ends them.
async fn unanswering_listener() -> (tokio::net::TcpListener, Vec<tokio::net::TcpStream>) {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = socket.listen(1).unwrap();
    let addr = listener.local_addr().unwrap();
    let mut held = Vec::new();
    // Fill the queue: connections complete until it is full, then one hangs.
    loop {
        match tokio::time::timeout(
            Duration::from_millis(300),
            tokio::net::TcpStream::connect(addr),
        )
        .await
        {
            Ok(Ok(s)) => held.push(s),
            Ok(Err(e)) => panic!("connect failed: {e}"),
            Err(_) => break,
        }
        assert!(held.len() < 64, "the accept queue never filled");
    }
    (listener, held)
}

#[tokio::test]
async fn the_connect_timeout_ends_a_connection_that_never_completes() {
    let (listener, _held) = unanswering_listener().await;
    let base = format!("http://{}/v1", listener.local_addr().unwrap());
    let h = Harness::new(&endpoint_yaml(
        "stuck",
        "org/stuck",
        &base,
        "timeouts: {connect: 300ms, firstByte: 30s}",
    ))
    .await;
    let started = Instant::now();
    let r = say(&h, "org/stuck", "hi").await;
    // reqwest reports a connect timeout as a timeout: 504, long before firstByte.
    assert!(
        r.status == 504 || r.status == 502,
        "{}: {}",
        r.status,
        r.text
    );
    assert!(r.text.contains("stuck"), "{}", r.text);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}: the connect timeout was not applied",
        started.elapsed()
    );
}

#[tokio::test]
async fn the_first_byte_timeout_ends_a_silent_upstream() {
    let up = FakeUpstream::start("slow").await.unwrap();
    up.set(Behavior::Hang);
    let h = Harness::new(&endpoint_yaml(
        "slow",
        "org/slow",
        &up.base_url(),
        "timeouts: {firstByte: 300ms}",
    ))
    .await;
    let started = Instant::now();
    let r = say(&h, "org/slow", "hi").await;
    r.assert_error(504, "firstByte timeout of 300 ms");
    assert!(started.elapsed() < Duration::from_secs(10));
}

async fn stream_text(router: &RunningRouter, model: &str) -> String {
    let resp = reqwest::Client::new()
        .post(format!("{}/v1/chat/completions", router.url()))
        .json(&json!({"model": model, "stream": true,
                      "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let mut text = String::new();
    let mut s = resp.bytes_stream();
    while let Some(Ok(b)) = s.next().await {
        text.push_str(&String::from_utf8_lossy(&b));
    }
    text
}

#[tokio::test]
async fn the_total_timeout_ends_a_stream_that_keeps_trickling() {
    let up = FakeUpstream::start("trickle").await.unwrap();
    // Six events 300 ms apart: each gap is within the idle timeout, the sum is not within total.
    up.set_chunk_delay(Duration::from_millis(300));
    let h = Harness::new(&endpoint_yaml(
        "trickle",
        "org/trickle",
        &up.base_url(),
        "timeouts: {firstByte: 5s, idle: 5s, total: 1s}",
    ))
    .await;
    let router = RunningRouter::start(h.state.clone()).await.unwrap();
    let text = stream_text(&router, "org/trickle").await;
    assert!(text.contains("total timeout"), "{text}");
    assert!(!text.contains("[DONE]"), "{text}");
}

#[tokio::test]
async fn endpoint_concurrency_and_rate_limits_answer_429_when_nothing_else_can_serve() {
    let up = FakeUpstream::start("one").await.unwrap();
    up.set(Behavior::Hang);
    let h = Harness::new(&endpoint_yaml(
        "one",
        "org/one",
        &up.base_url(),
        "limits: {maxConcurrency: 1}",
    ))
    .await;
    let state = h.state.clone();
    let hung = tokio::spawn(async move {
        let app = switchyard_router::app(state);
        let req = Request::post("/v1/chat/completions")
            .header("content-type", "application/json")
            .body(Body::from(manual("org/one", json!("hi")).to_string()))
            .unwrap();
        let _ = app.oneshot(req).await;
    });
    assert!(wait_for(Duration::from_secs(5), || async { up.hits() == 1 }).await);
    let r = say(&h, "org/one", "hi").await;
    r.assert_error(429, "maxConcurrency");
    assert_eq!(r.header("retry-after"), "1");
    assert_eq!(
        up.hits(),
        1,
        "the refused request never reached the upstream"
    );
    hung.abort();

    let up = FakeUpstream::start("rpm").await.unwrap();
    let h = Harness::new(&endpoint_yaml(
        "rpm",
        "org/rpm",
        &up.base_url(),
        "limits: {requestsPerMinute: 2}",
    ))
    .await;
    for _ in 0..2 {
        let r = say(&h, "org/rpm", "hi").await;
        assert_eq!(r.status, 200, "{}", r.text);
    }
    let r = say(&h, "org/rpm", "hi").await;
    r.assert_error(429, "requestsPerMinute");
    assert_eq!(up.hits(), 2);
}

#[tokio::test]
async fn the_inflight_limit_covers_streams_until_their_last_byte() {
    let f = Fakes::start().await;
    let h = Harness::new(&f.yaml("  limits: {maxInflight: 1}\n", "")).await;
    let router = RunningRouter::start(h.state.clone()).await.unwrap();
    f.b.set_chunk_delay(Duration::from_millis(200));
    let resp = reqwest::Client::new()
        .post(format!("{}/v1/chat/completions", router.url()))
        .json(&json!({"model": "org/model-b", "stream": true,
                      "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    // Headers are out, the body is still streaming: the slot is still taken.
    let r = say(&h, "org/model-b", "x").await;
    r.assert_error(429, "in flight");
    let _ = resp.bytes().await.unwrap();
    let freed = wait_for(Duration::from_secs(5), || async {
        say(&h, "org/model-b", "x").await.status == 200
    })
    .await;
    assert!(freed, "the slot was not released after the stream ended");
}
