//! Scenario 3: upstream faults through a real router. Before the first byte reaches the
//! client, 500s, 429s, a hang past the endpoint's `firstByte` timeout and a connection reset
//! all fall back to the next candidate; after it, a connection reset mid-stream ends the
//! stream with one clean error event (no fallback, no `[DONE]`). Repeated failures open the
//! endpoint's circuit (it is skipped), and once it answers again the circuit closes after
//! the cooldown.

use crate::support;

use std::time::Duration;

use serde_json::json;
use support::{CHAT, Fixture, POLICY, READY};
use switchyard_e2e::harness::client::{RouterClient, user};
use switchyard_e2e::harness::observe::{poll_api, wait_ready};
use switchyard_e2e::harness::{Cluster, HarnessError};
use switchyard_router::testing::{Behavior, FakeUpstream};

/// The router's default breaker: failures that open a circuit, and how long it stays open.
const BREAKER_FAILURES: usize = 5;
const BREAKER_COOLDOWN: Duration = Duration::from_secs(10);

/// Endpoint `a`'s first-byte timeout (see `support::endpoint_a`).
const FIRST_BYTE: Duration = Duration::from_secs(1);

/// A request that `a` answers normally (resets its consecutive-failure count).
async fn healthy(router: &RouterClient, a: &FakeUpstream) -> Result<(), HarnessError> {
    a.set(Behavior::Reply);
    let r = router.chat(POLICY, user(CHAT)).await?;
    assert!(r.is_complete(), "{r:?}");
    assert_eq!(r.content, "Hello from a!");
    Ok(())
}

/// `a` misbehaves as `behavior`; one plain and one streamed request must both be answered
/// completely by `b`, after exactly one attempt at `a` each.
async fn falls_back(
    router: &RouterClient,
    f: &Fixture,
    behavior: Behavior,
) -> Result<(), HarnessError> {
    let (a, b) = (&f.up.a, &f.up.b);
    for stream in [false, true] {
        healthy(router, a).await?;
        a.set(behavior.clone());
        let (a0, b0) = (a.hits(), b.hits());
        let (content, model, took) = if stream {
            let s = router.chat_stream(POLICY, user(CHAT)).await?;
            assert!(s.is_complete(), "{behavior:?} stream: {s:?}");
            (s.content(), s.model, s.took)
        } else {
            let r = router.chat(POLICY, user(CHAT)).await?;
            assert!(r.is_complete(), "{behavior:?}: {r:?}");
            (r.content, r.model, r.took)
        };
        assert_eq!(content, "Hello from b!", "{behavior:?} stream={stream}");
        assert_eq!(model, "org/model-b", "{behavior:?} stream={stream}");
        assert_eq!(a.hits(), a0 + 1, "{behavior:?}: one attempt at a");
        assert_eq!(b.hits(), b0 + 1, "{behavior:?}: one attempt at b");
        if behavior == Behavior::Hang {
            assert!(
                took >= FIRST_BYTE && took < FIRST_BYTE + Duration::from_secs(5),
                "a hang falls back after the firstByte timeout, took {took:?}"
            );
        }
    }
    Ok(())
}

async fn upstream_faults(c: &impl Cluster) -> Result<(), HarnessError> {
    let f = Fixture::deploy(c, json!({})).await?;
    wait_ready(c, POLICY, READY).await?;
    let router = RouterClient::new(&c.router_url(POLICY).await?)?;
    let (a, b) = (&f.up.a, &f.up.b);

    // Before the first byte: fall back to the next candidate.
    falls_back(&router, &f, Behavior::Status(500, "boom".into())).await?;
    falls_back(&router, &f, Behavior::Status(503, "overloaded".into())).await?;
    falls_back(&router, &f, Behavior::Status(429, "slow down".into())).await?;
    falls_back(&router, &f, Behavior::Hang).await?;
    falls_back(&router, &f, Behavior::Reset).await?;

    // After the first byte: the stream ends with one error event; no fallback.
    healthy(&router, a).await?;
    a.set(Behavior::DropAfter(1));
    a.set_chunk_delay(Duration::from_millis(50));
    let b0 = b.hits();
    let s = router.chat_stream(POLICY, user(CHAT)).await?;
    a.set_chunk_delay(Duration::ZERO);
    assert_eq!(s.status, 200, "{s:?}");
    assert_eq!(s.pieces, ["Hello"], "the first byte came from a: {s:?}");
    let error = s.error.clone().unwrap_or_default();
    assert!(error.contains("mid-response"), "{s:?}");
    assert!(
        !s.done && s.trailing == 0,
        "nothing after the error event: {s:?}"
    );
    assert!(s.broken.is_none(), "the stream ended cleanly: {s:?}");
    assert_eq!(b.hits(), b0, "no fallback after the first byte");

    // Circuit breaker: consecutive failures open a's circuit; requests then skip it.
    healthy(&router, a).await?;
    a.set(Behavior::Status(500, "down".into()));
    for i in 0..BREAKER_FAILURES {
        let ready = router.readyz().await?;
        assert_eq!(
            ready["open_circuits"],
            json!([]),
            "open after {i} failures: {ready}"
        );
        let r = router.chat(POLICY, user(CHAT)).await?;
        assert!(r.is_complete() && r.content == "Hello from b!", "{r:?}");
    }
    let opened = std::time::Instant::now();
    let ready = router.readyz().await?;
    assert_eq!(ready["open_circuits"], json!(["a"]), "{ready}");
    let a_open = a.hits();
    for _ in 0..5 {
        let r = router.chat(POLICY, user(CHAT)).await?;
        assert!(r.is_complete() && r.content == "Hello from b!", "{r:?}");
    }
    assert_eq!(a.hits(), a_open, "an open circuit is skipped");

    // Recovery: a answers again; after the cooldown a probe request closes the circuit.
    a.set(Behavior::Reply);
    let recovered = poll_api(BREAKER_COOLDOWN * 3, "a's circuit closes", || async {
        let r = router.chat(POLICY, user(CHAT)).await?;
        if !r.is_complete() {
            return Err(HarnessError::Other(format!("incomplete answer: {r:?}")));
        }
        Ok((r.content == "Hello from a!").then_some(opened.elapsed()))
    })
    .await?;
    assert!(
        recovered >= BREAKER_COOLDOWN - Duration::from_millis(500),
        "the circuit closed before its cooldown: {recovered:?}"
    );
    let ready = router.readyz().await?;
    assert_eq!(ready["open_circuits"], json!([]), "{ready}");
    let r = router.chat(POLICY, user(CHAT)).await?;
    assert_eq!(r.content, "Hello from a!", "{r:?}");
    eprintln!("circuit closed {recovered:?} after opening");
    Ok(())
}

scenario!(
    upstream_faults_hermetic,
    upstream_faults_real_cluster,
    upstream_faults
);
