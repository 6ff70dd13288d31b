//! Scenarios 4 and 5: invalid policies and deletions.
//! - An unknown endpoint or a bad threshold gives a condition whose message names the field
//!   and what to do, and an Event; the router keeps serving (what it can, or its last valid
//!   config); the operator does not loop (no writes and no reconciles over a quiet window).
//! - Deleting an endpoint degrades the policy and its routes skip it; deleting the policy
//!   garbage-collects every child and stops the routers.

use crate::support;

use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use serde_json::json;
use support::{CHAT, CODE, Fixture, POLICY, READY};
use switchyard_crds::{ModelEndpoint, RoutingPolicy};
use switchyard_e2e::fakeapi::{CounterSnapshot, Verb};
use switchyard_e2e::harness::client::{RouterClient, user};
use switchyard_e2e::harness::objects::{delete, get, merge_patch};
use switchyard_e2e::harness::observe::{
    children, event_count, events_about, observed, occurrences, policy_condition, poll_api,
    wait_event, wait_policy, wait_ready,
};
use switchyard_e2e::harness::{Cluster, HarnessError, HermeticOptions, metric_sum};

/// How long the operator may take to report a change in status.
const STATUS: Duration = Duration::from_secs(30);

/// The quiet window over which an operator must not write or reconcile.
const WINDOW: Duration = Duration::from_secs(3);

fn writes(c: &CounterSnapshot) -> u64 {
    c.requests
        .iter()
        .filter(|((verb, _), _)| {
            matches!(
                verb,
                Verb::Create | Verb::Update | Verb::Patch | Verb::Delete | Verb::DeleteCollection
            )
        })
        .map(|(_, n)| n)
        .sum()
}

async fn reconciles(c: &impl Cluster) -> Result<f64, HarnessError> {
    let Some(h) = c.hermetic() else {
        return Ok(0.0);
    };
    let mut total = 0.0;
    for op in h.operators() {
        let text = h.operator_metrics(&op.identity).await?;
        total += metric_sum(&text, "switchyard_operator_reconciles_total");
    }
    Ok(total)
}

/// Occurrences of every Event about the policy (a series counts its count).
async fn all_events(c: &impl Cluster) -> Result<u64, HarnessError> {
    let events = events_about(c, "RoutingPolicy", POLICY).await?;
    let mut reasons: Vec<String> = events.iter().filter_map(|e| e.reason.clone()).collect();
    reasons.sort();
    reasons.dedup();
    Ok(reasons.iter().map(|r| occurrences(&events, r)).sum())
}

/// No hot loop: once the operator has settled, nothing is written and nothing reconciled over
/// [`WINDOW`]. Hermetically every write request to the API is counted; on a real cluster the
/// policy's resourceVersion and its Events must not change.
async fn assert_quiet(c: &impl Cluster, what: &str) -> Result<(), HarnessError> {
    if let Some(fake) = c.fake() {
        // Settle: no write for a second (the last status write and its Event may be in flight).
        let mut last = writes(&fake.counters());
        let mut still = std::time::Instant::now();
        poll_api(STATUS, &format!("{what}: writes settle"), || {
            let now = writes(&fake.counters());
            if now != last {
                last = now;
                still = std::time::Instant::now();
            }
            let settled = still.elapsed() >= Duration::from_secs(1);
            async move { Ok(settled.then_some(())) }
        })
        .await?;
    }
    let before = (
        c.fake().map(|f| f.counters()),
        reconciles(c).await?,
        get::<RoutingPolicy>(c, POLICY)
            .await?
            .and_then(|p| p.resource_version()),
        all_events(c).await?,
    );
    // A measurement window, not synchronisation: the claim is that nothing happens in it.
    tokio::time::sleep(WINDOW).await;
    let after = (
        c.fake().map(|f| f.counters()),
        reconciles(c).await?,
        get::<RoutingPolicy>(c, POLICY)
            .await?
            .and_then(|p| p.resource_version()),
        all_events(c).await?,
    );
    if let (Some(b), Some(a)) = (&before.0, &after.0) {
        let n = writes(a) - writes(b);
        assert_eq!(
            n, 0,
            "{what}: {n} API writes in a quiet {WINDOW:?}: {:?}",
            a.requests
        );
    }
    let r = after.1 - before.1;
    assert!(r <= 1.0, "{what}: {r} reconciles in a quiet {WINDOW:?}");
    assert_eq!(
        before.2, after.2,
        "{what}: the policy changed in a quiet window"
    );
    assert_eq!(before.3, after.3, "{what}: new Events in a quiet window");
    Ok(())
}

/// Scenario 4.
async fn invalid_policy(c: &impl Cluster) -> Result<(), HarnessError> {
    let f = Fixture::deploy(c, json!({})).await?;
    wait_ready(c, POLICY, READY).await?;
    let router = RouterClient::new(&c.router_url(POLICY).await?)?;
    let original = support::policy_spec();

    // An unknown endpoint: skipped, with a condition and an Event that name it.
    let mut intent = original["intent"].clone();
    intent["routes"][0]["endpoints"] = json!(["ghost", "a", "b"]);
    let degraded_events = event_count(c, "RoutingPolicy", POLICY, "Degraded").await?;
    merge_patch::<RoutingPolicy>(c, POLICY, json!({"spec": {"intent": intent}})).await?;
    let p = wait_policy(c, POLICY, STATUS, "Resolved=False EndpointNotFound", |p| {
        observed(p)
            && policy_condition(p, "Resolved").is_some_and(|c| c.reason == "EndpointNotFound")
    })
    .await?;
    let resolved = policy_condition(&p, "Resolved").unwrap();
    assert_eq!(resolved.status, "False");
    assert!(
        resolved
            .message
            .contains("spec.intent.routes[0].endpoints[0]")
            && resolved.message.contains("\"ghost\" does not exist"),
        "{resolved:?}"
    );
    let degraded = policy_condition(&p, "Degraded").unwrap();
    assert_eq!(
        (degraded.status.as_str(), degraded.reason.as_str()),
        ("True", "EndpointNotFound")
    );
    let status = p.status.clone().unwrap_or_default();
    let ghost = status.endpoints.iter().find(|e| e.name == "ghost").unwrap();
    assert!(!ghost.ready, "{ghost:?}");
    let ev = wait_event(
        c,
        "RoutingPolicy",
        POLICY,
        "Degraded",
        "ghost",
        degraded_events,
        STATUS,
    )
    .await?;
    assert_eq!(ev.type_.as_deref(), Some("Warning"));
    // Still serving, without the missing endpoint.
    let p = wait_ready(c, POLICY, READY).await?;
    let degraded_hash = p.status.and_then(|s| s.config_hash).unwrap();
    assert_eq!(
        router.readyz().await?["config_hash"],
        degraded_hash.as_str()
    );
    let r = router.chat(POLICY, user(CHAT)).await?;
    assert!(r.is_complete() && r.content == "Hello from a!", "{r:?}");
    assert_quiet(c, "unknown endpoint").await?;

    // A threshold out of range: refused by the API server's schema where it validates, else
    // reported by the operator while the routers keep their last valid config.
    let bad = json!({"spec": {"intent": {"classifier": {"confidenceFloor": 1.5}}}});
    let invalid_events = event_count(c, "RoutingPolicy", POLICY, "InvalidSpec").await?;
    match merge_patch::<RoutingPolicy>(c, POLICY, bad).await {
        Err(HarnessError::Kube(kube::Error::Api(s))) if s.code == 422 => {
            assert!(s.message.contains("confidenceFloor"), "{s:?}");
            eprintln!("the API server refused the bad threshold: {}", s.message);
        }
        Err(e) => return Err(e),
        Ok(_) => {
            let p = wait_policy(c, POLICY, STATUS, "Resolved=False InvalidPolicy", |p| {
                observed(p)
                    && policy_condition(p, "Resolved").is_some_and(|c| c.reason == "InvalidPolicy")
            })
            .await?;
            let resolved = policy_condition(&p, "Resolved").unwrap();
            assert!(
                resolved
                    .message
                    .contains("spec.intent.classifier.confidenceFloor")
                    && resolved.message.contains("1.5"),
                "{resolved:?}"
            );
            let ready = policy_condition(&p, "Ready").unwrap();
            assert_eq!(
                (ready.status.as_str(), ready.reason.as_str()),
                ("False", "InvalidSpec")
            );
            assert!(
                ready.message.contains("keep serving") && ready.message.contains(&degraded_hash),
                "{ready:?}"
            );
            let ev = wait_event(
                c,
                "RoutingPolicy",
                POLICY,
                "InvalidSpec",
                "confidenceFloor",
                invalid_events,
                STATUS,
            )
            .await?;
            assert_eq!(ev.type_.as_deref(), Some("Warning"));
            // The routers keep the last valid config.
            assert_eq!(
                router.readyz().await?["config_hash"],
                degraded_hash.as_str()
            );
            let r = router.chat(POLICY, user(CHAT)).await?;
            assert!(r.is_complete() && r.content == "Hello from a!", "{r:?}");
            assert_quiet(c, "invalid threshold").await?;
        }
    }

    // Fixed: Ready, resolved and not degraded again.
    merge_patch::<RoutingPolicy>(c, POLICY, json!({"spec": {"intent": original["intent"]}}))
        .await?;
    let p = wait_policy(c, POLICY, READY, "Ready again, nothing degraded", |p| {
        observed(p)
            && policy_condition(p, "Ready").is_some_and(|c| c.status == "True")
            && policy_condition(p, "Resolved").is_some_and(|c| c.status == "True")
            && policy_condition(p, "Degraded").is_some_and(|c| c.status == "False")
    })
    .await?;
    let hash = p.status.and_then(|s| s.config_hash).unwrap();
    // The unknown endpoint was skipped, so the degraded config was the original one.
    assert_eq!(hash, degraded_hash);
    poll_api(STATUS, "the router serves the fixed config", || async {
        Ok((router.readyz().await?["config_hash"] == hash.as_str()).then_some(()))
    })
    .await?;
    let r = router.chat(POLICY, user(CHAT)).await?;
    assert!(r.is_complete() && r.content == "Hello from a!", "{r:?}");
    assert!(f.up.a.hits() >= 2);
    Ok(())
}

scenario!(
    invalid_policy_hermetic,
    invalid_policy_real_cluster,
    invalid_policy,
    // Without schema validation the bad threshold reaches the operator, whose report is what
    // this scenario is about (a real API server refuses it earlier; both paths are checked).
    |o: HermeticOptions| HermeticOptions {
        validate_crs: false,
        ..o
    }
);

/// Scenario 5.
async fn delete_endpoint_then_policy(c: &impl Cluster) -> Result<(), HarnessError> {
    let f = Fixture::deploy(c, json!({})).await?;
    wait_ready(c, POLICY, READY).await?;
    let router = RouterClient::new(&c.router_url(POLICY).await?)?;
    let pods = c.router_pods(POLICY).await?;
    let r = router.chat(POLICY, user(CHAT)).await?;
    assert_eq!(r.content, "Hello from a!", "{r:?}");

    // Delete endpoint a: the policy degrades and its routes skip a.
    let degraded_events = event_count(c, "RoutingPolicy", POLICY, "Degraded").await?;
    delete::<ModelEndpoint>(c, "a").await?;
    let p = wait_policy(c, POLICY, STATUS, "degraded without a", |p| {
        observed(p)
            && policy_condition(p, "Resolved").is_some_and(|c| c.reason == "EndpointNotFound")
            && policy_condition(p, "Degraded").is_some_and(|c| c.status == "True")
    })
    .await?;
    let resolved = policy_condition(&p, "Resolved").unwrap();
    assert!(
        resolved.message.contains("\"a\" does not exist"),
        "{resolved:?}"
    );
    let status = p.status.clone().unwrap_or_default();
    assert!(
        status.endpoints.iter().any(|e| e.name == "a" && !e.ready),
        "{:?}",
        status.endpoints
    );
    wait_event(
        c,
        "RoutingPolicy",
        POLICY,
        "Degraded",
        "\"a\"",
        degraded_events,
        STATUS,
    )
    .await?;
    poll_api(STATUS, "chat is answered by b", || async {
        let r = router.chat(POLICY, user(CHAT)).await?;
        if !r.is_complete() {
            return Err(HarnessError::Other(format!("incomplete answer: {r:?}")));
        }
        Ok((r.content == "Hello from b!").then_some(()))
    })
    .await?;
    let a_hits = f.up.a.hits();
    for prompt in [CHAT, CODE, CHAT] {
        let r = router.chat(POLICY, user(prompt)).await?;
        assert!(r.is_complete() && r.content == "Hello from b!", "{r:?}");
    }
    assert_eq!(f.up.a.hits(), a_hits, "a is skipped");
    assert_eq!(c.router_pods(POLICY).await?, pods, "same router");

    // Delete the policy: every child goes, and the routers with them.
    let before = children(c, POLICY).await?;
    assert_eq!(before.names().len(), 7, "{:?}", before.names());
    delete::<RoutingPolicy>(c, POLICY).await?;
    poll_api(READY, "children garbage-collected", || async {
        let left = children(c, POLICY).await?;
        let pods = c.router_pods(POLICY).await?;
        Ok((left.is_empty() && pods.is_empty()).then_some(()))
    })
    .await?;
    if let Some(h) = c.hermetic() {
        assert_eq!(h.kubelet().running(), 0, "router processes stopped");
    }
    // What the policy did not own stays.
    assert!(get::<ModelEndpoint>(c, "b").await?.is_some());
    assert!(get::<ModelEndpoint>(c, "vl").await?.is_some());
    assert!(get::<Secret>(c, "keys").await?.is_some());
    Ok(())
}

scenario!(
    delete_endpoint_then_policy_hermetic,
    delete_endpoint_then_policy_real_cluster,
    delete_endpoint_then_policy
);
