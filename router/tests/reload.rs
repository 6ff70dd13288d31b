//! Hot reload: file changes are applied within a second, invalid ones are rejected while the
//! old config keeps serving, in-flight streams finish on the config they started with, and
//! endpoint runtime state survives for unchanged endpoints.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use serde_json::json;
use support::{Fakes, Harness, chat, wait_for};
use switchyard_router::config::watch;
use switchyard_router::testing::RunningRouter;

fn policies(h: &Harness) -> Vec<String> {
    h.state
        .snapshot()
        .map(|s| s.config.policies.iter().map(|p| p.name.clone()).collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn file_changes_apply_and_invalid_ones_are_rejected() {
    let f = Fakes::start().await;
    let h = Harness::new(&f.yaml("", "")).await;
    let _w = watch::watch(h.state.clone(), h.source()).unwrap();
    let b_before = Arc::clone(&h.state.snapshot().unwrap().endpoints["b"]);
    let a_before = Arc::clone(&h.state.snapshot().unwrap().endpoints["a"]);

    // A plain rewrite: policy renamed, endpoint a changed, b unchanged.
    let v2 = f
        .yaml("", "timeouts: {firstByte: 3s}")
        .replace("metadata: {name: p}", "metadata: {name: p2}");
    std::fs::write(&h.file, &v2).unwrap();
    assert!(
        wait_for(Duration::from_secs(3), || async { policies(&h) == ["p2"] }).await,
        "reload not seen"
    );
    let snap = h.state.snapshot().unwrap();
    assert!(
        Arc::ptr_eq(&snap.endpoints["b"], &b_before),
        "unchanged endpoint keeps its runtime"
    );
    assert!(
        !Arc::ptr_eq(&snap.endpoints["a"], &a_before),
        "changed endpoint is rebuilt"
    );
    let r = h
        .call(
            "POST",
            "/v1/route",
            Some(json!({"prompt": "hi", "policy": "p2"})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);

    // An invalid write: rejected, counted, the old config keeps serving.
    let errors_before = h.state.metrics().reload_count(false);
    std::fs::write(&h.file, "apiVersion: switchyard.dev/v1alpha1\nkind: RoutingPolicy\nmetadata: {name: x}\nspec: {strategy: [\n").unwrap();
    let state = h.state.clone();
    assert!(
        wait_for(Duration::from_secs(3), || {
            let s = state.clone();
            async move { s.metrics().reload_count(false) > errors_before }
        })
        .await
    );
    assert_eq!(policies(&h), ["p2"]);
    let r = h
        .call(
            "POST",
            "/v1/route",
            Some(json!({"prompt": "hi", "policy": "p2"})),
        )
        .await;
    assert_eq!(r.status, 200);
    let m = h.state.metrics().encode();
    assert!(
        m.contains(r#"switchyard_config_reloads_total{result="error"}"#),
        "{m}"
    );

    // An editor-style write: temporary file renamed over the original.
    let tmp = h.dir.path().join(".router.yaml.tmp");
    std::fs::write(
        &tmp,
        v2.replace("metadata: {name: p2}", "metadata: {name: p3}"),
    )
    .unwrap();
    std::fs::rename(&tmp, &h.file).unwrap();
    assert!(wait_for(Duration::from_secs(3), || async { policies(&h) == ["p3"] }).await);
}

#[tokio::test]
async fn in_flight_streams_finish_on_their_config() {
    let f = Fakes::start().await;
    let h = Harness::new(&f.yaml("", "")).await;
    let _w = watch::watch(h.state.clone(), h.source()).unwrap();
    let router = RunningRouter::start(h.state.clone()).await.unwrap();
    f.a.set_chunk_delay(Duration::from_millis(150));
    let mut body = chat("hello there");
    body["stream"] = json!(true);
    let resp = reqwest::Client::new()
        .post(format!("{}/v1/chat/completions", router.url()))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let mut stream = resp.bytes_stream();
    let first = stream.next().await.unwrap().unwrap();
    assert!(!first.is_empty());
    // Point endpoint a somewhere dead and rename the policy while the stream runs.
    let v2 = f
        .yaml("", "")
        .replace(&f.a.base_url(), "http://127.0.0.1:9/v1")
        .replace("metadata: {name: p}", "metadata: {name: p2}");
    std::fs::write(&h.file, v2).unwrap();
    assert!(wait_for(Duration::from_secs(3), || async { policies(&h) == ["p2"] }).await);
    let mut text = String::from_utf8_lossy(&first).into_owned();
    while let Some(chunk) = stream.next().await {
        text.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
    }
    assert!(text.contains("from "), "{text}");
    assert!(text.contains("a!"), "{text}");
    assert!(text.trim_end().ends_with("data: [DONE]"), "{text}");
}
