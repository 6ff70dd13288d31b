//! Engine behaviour: CUDA fallback, a full queue, batching under concurrency.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::task::Poll;

use switchyard_crds::config::{Device, ModelLocation};
use switchyard_inference::models::ModelRole;
use switchyard_inference::{Error, TextEncoder};

async fn minilm(engine: &switchyard_inference::Engine) -> TextEncoder {
    TextEncoder::load(
        engine,
        &ModelLocation::builtin("minilm-l6-v2-int8"),
        ModelRole::Text,
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn cuda_requested_without_gpu_serves_on_cpu_and_says_why() {
    let mut settings = common::settings();
    settings.device = Device::Cuda;
    let engine = common::engine_with(settings).await;
    let status = engine.status();
    assert!(status.ready);
    assert_eq!(status.requested, Device::Cuda);
    // This machine has no GPU (and the CPU wheel has no CUDA provider): CPU, with a reason.
    assert_eq!(status.device, Device::Cpu);
    let reason = status.cuda_unavailable.expect("a reason");
    assert!(reason.contains("CUDA"), "{reason}");
    // And it still serves.
    let v = minilm(&engine).await.embed("still works").await.unwrap();
    assert_eq!(v.len(), 384);
}

#[tokio::test]
async fn full_queue_is_refused_with_retry_after() {
    let mut settings = common::settings();
    settings.queue_depth = 1;
    settings.workers = 1;
    let engine = common::engine_with(settings).await;
    let enc = minilm(&engine).await;
    let hold = engine.hold_workers();
    // The first request is admitted and waits behind the held worker.
    let mut first = Box::pin(enc.embed("first"));
    assert!(matches!(futures::poll!(first.as_mut()), Poll::Pending));
    // The queue (depth 1) is full: the second is refused at once, without waiting.
    let err = enc.embed("second").await.unwrap_err();
    match &err {
        Error::Overloaded { retry_after } => assert!(!retry_after.is_zero()),
        other => panic!("expected Overloaded, got {other:?}"),
    }
    assert_eq!(err.category(), "overloaded");
    assert!(!err.is_client_error());
    drop(hold);
    let v = tokio::time::timeout(std::time::Duration::from_secs(30), first)
        .await
        .expect("the held request completes once released")
        .unwrap();
    assert_eq!(v.len(), 384);
    // Admission recovers once the queue drains.
    assert!(enc.embed("third").await.is_ok());
}

#[tokio::test]
async fn concurrent_requests_get_their_own_answers() {
    let engine = common::engine().await;
    let enc = Arc::new(minilm(&engine).await);
    let distinct = [
        "Write a Python function that merges two sorted lists.",
        "Good morning, how are you?",
        "The stock market fell sharply on Tuesday.",
        "Translate this sentence into French.",
        "What is the boiling point of water at sea level?",
        "My cat keeps knocking things off the table.",
        "Prove that there are infinitely many primes.",
        "Book a table for two at an Italian restaurant tonight.",
        "The sky was full of stars over the desert.",
        "How do I configure nginx as a reverse proxy?",
        "A short poem about autumn leaves, please.",
        "Explain the rules of cricket to a beginner.",
    ];
    // Reference: one at a time.
    let mut alone = Vec::new();
    for t in distinct {
        alone.push(enc.embed(t).await.unwrap());
    }
    // Concurrently: batched (padded) on the worker; each caller must get its own row. Dynamic
    // int8 quantization scales activations per batch, so rows match closely, not exactly.
    let handles: Vec<_> = (0..48)
        .map(|i| {
            let enc = Arc::clone(&enc);
            tokio::spawn(async move {
                (
                    i % distinct.len(),
                    enc.embed(distinct[i % distinct.len()]).await,
                )
            })
        })
        .collect();
    let cos = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>();
    for h in handles {
        let (own, got) = h.await.unwrap();
        let got = got.unwrap();
        let scores: Vec<f32> = alone.iter().map(|a| cos(a, &got)).collect();
        let best = (0..scores.len())
            .max_by(|&a, &b| scores[a].total_cmp(&scores[b]))
            .unwrap();
        assert_eq!(
            best, own,
            "a batched row is closest to another request's: {scores:?}"
        );
        assert!(
            scores[own] > 0.98,
            "batched result drifted: cosine {}",
            scores[own]
        );
    }
    assert_eq!(engine.loaded_models(), 1, "the same model is loaded once");
}
