//! Scenarios 1 and 2: a policy applied with its endpoints becomes a Ready router that the
//! official `openai` Python client gets answers from (plain and streamed, text and image);
//! then edits of a route's examples, an endpoint's URL and a Secret's key are served within
//! 2 s by the same router process while a client loop runs, every request getting exactly one
//! complete answer.

use crate::support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::ResourceExt;
use serde_json::json;
use support::{CHAT, CODE, Fixture, LIVE, POLICY, READY, last_auth, upstream};
use switchyard_crds::{ModelEndpoint, RoutingPolicy};
use switchyard_e2e::harness::client::{RouterClient, run_python, user};
use switchyard_e2e::harness::objects::{get, merge_patch};
use switchyard_e2e::harness::observe::{children, events_about, policy_condition, wait_ready};
use switchyard_e2e::harness::{Cluster, HarnessError, HermeticOptions, RouterPod, poll_until};

const PYTHON: &str = r#"
import base64, json, sys
from openai import OpenAI

c = OpenAI(base_url=sys.argv[1] + "/v1", api_key="unused", max_retries=0, timeout=60)
out = {}
raw = c.chat.completions.with_raw_response.create(
    model="switchyard/p", messages=[{"role": "user", "content": sys.argv[2]}])
r = raw.parse()
out["chat"] = r.choices[0].message.content
out["chat_model"] = r.model
out["chat_route"] = raw.headers.get("x-switchyard-route")
s = c.chat.completions.create(
    model="switchyard/p", messages=[{"role": "user", "content": sys.argv[3]}],
    stream=True, stream_options={"include_usage": True})
pieces, usage, finish = [], None, None
for ch in s:
    if ch.choices and ch.choices[0].delta.content:
        pieces.append(ch.choices[0].delta.content)
    if ch.choices and ch.choices[0].finish_reason:
        finish = ch.choices[0].finish_reason
    if ch.usage:
        usage = ch.usage.completion_tokens
out["stream"] = pieces
out["stream_finish"] = finish
out["stream_usage"] = usage
img = c.chat.completions.create(model="switchyard/p", messages=[{"role": "user", "content": [
    {"type": "text", "text": "What is in this picture?"},
    {"type": "image_url", "image_url": {"url": sys.argv[4]}}]}])
out["image"] = img.choices[0].message.content
out["image_model"] = img.model
print(json.dumps(out))
"#;

/// Scenario 1: children with owner references, `Ready`, `serviceURL`, and answers through the
/// router for the official client.
async fn apply_and_serve(c: &impl Cluster) -> Result<(), HarnessError> {
    let f = Fixture::deploy(c, json!({})).await?;
    let p = wait_ready(c, POLICY, READY).await?;
    // Applied together, the endpoints may reach the operator's caches after the policy: that
    // must not show as a (transient) warning.
    let warnings: Vec<_> = events_about(c, "RoutingPolicy", POLICY)
        .await?
        .into_iter()
        .filter(|e| e.type_.as_deref() == Some("Warning"))
        .map(|e| (e.reason, e.note))
        .collect();
    assert!(warnings.is_empty(), "{warnings:?}");
    let status = p.status.clone().unwrap_or_default();
    assert_eq!(
        status.service_url.as_deref(),
        Some(format!("http://p-router.{}.svc.cluster.local/v1", c.namespace()).as_str())
    );
    assert_eq!(status.ready_replicas, Some(1));
    let resolved = policy_condition(&p, "Resolved").unwrap();
    assert_eq!(resolved.status, "True", "{resolved:?}");
    let degraded = policy_condition(&p, "Degraded").unwrap();
    assert_eq!(degraded.status, "False", "{degraded:?}");
    let names: Vec<&str> = status.endpoints.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["a", "b", "vl"]);
    assert!(
        status.endpoints.iter().all(|e| e.ready),
        "{:?}",
        status.endpoints
    );

    // Every child, each owned (as controller) by the policy, and no others.
    let ch = children(c, POLICY).await?;
    assert_eq!(
        ch.names(),
        [
            "ConfigMap/p-router-config",
            "ConfigMap/p-router-status",
            "Deployment/p-router",
            "Role/p-router",
            "RoleBinding/p-router",
            "Service/p-router",
            "ServiceAccount/p-router",
        ]
    );
    for (child, owners) in ch.owners() {
        assert_eq!(owners.len(), 1, "{child}: {owners:?}");
        let o = &owners[0];
        assert_eq!(
            (
                o.kind.as_str(),
                o.name.as_str(),
                Some(o.uid.as_str()),
                o.controller
            ),
            ("RoutingPolicy", POLICY, p.uid().as_deref(), Some(true)),
            "{child}"
        );
    }
    // The config the operator wrote is the one status reports and the router serves.
    let cm = get::<ConfigMap>(c, "p-router-config").await?.unwrap();
    assert_eq!(
        cm.annotations().get("switchyard.dev/config-hash"),
        status.config_hash.as_ref()
    );
    let url = c.router_url(POLICY).await?;
    let router = RouterClient::new(&url)?;
    let ready = router.readyz().await?;
    assert_eq!(
        ready["config_hash"].as_str(),
        status.config_hash.as_deref(),
        "{ready}"
    );

    // The official client: plain chat (→ a, with the key from the Secret), a stream (→ b),
    // an image (→ vl).
    let out = run_python(
        PYTHON,
        &[&url, CHAT, CODE, switchyard_e2e::harness::client::TINY_PNG],
    )
    .await?;
    assert_eq!(out["chat"], "Hello from a!", "{out}");
    assert_eq!(out["chat_model"], "org/model-a", "{out}");
    assert_eq!(out["chat_route"], "chat", "{out}");
    assert_eq!(out["stream"], json!(["Hello", " from ", "b!"]), "{out}");
    assert_eq!(out["stream_finish"], "stop", "{out}");
    assert_eq!(out["stream_usage"], 3, "{out}");
    assert_eq!(out["image"], "Hello from vl!", "{out}");
    assert_eq!(out["image_model"], "org/model-vl", "{out}");
    assert_eq!(last_auth(&f.up.a).as_deref(), Some("Bearer sk-a"));
    assert_eq!(last_auth(&f.up.b), None, "b has no key");
    let vl = f.up.vl.requests();
    assert_eq!(vl.len(), 1);
    assert_eq!(vl[0].body["messages"][0]["content"][1]["type"], "image_url");
    Ok(())
}

scenario!(
    apply_and_serve_hermetic,
    apply_and_serve_real_cluster,
    apply_and_serve
);

/// What the client loop saw.
#[derive(Debug, Default)]
struct LoopReport {
    requests: usize,
    failures: Vec<String>,
    answers: std::collections::BTreeMap<String, usize>,
}

/// Sends requests back to back (alternating plain and streamed) until `stop`; every one must
/// be a single complete answer.
async fn client_loop(router: RouterClient, stop: Arc<AtomicBool>) -> LoopReport {
    let mut report = LoopReport::default();
    let mut stream = false;
    while !stop.load(Ordering::SeqCst) {
        report.requests += 1;
        let outcome = if stream {
            router.chat_stream(POLICY, user(CHAT)).await.map(|s| {
                if s.is_complete() {
                    Ok(s.content())
                } else {
                    Err(format!("incomplete stream: {s:?}"))
                }
            })
        } else {
            router.chat(POLICY, user(CHAT)).await.map(|r| {
                if r.is_complete() {
                    Ok(r.content)
                } else {
                    Err(format!("incomplete reply: {} {}", r.status, r.body))
                }
            })
        };
        match outcome {
            Ok(Ok(content)) => *report.answers.entry(content).or_default() += 1,
            Ok(Err(e)) => report.failures.push(e),
            Err(e) => report.failures.push(format!("request failed: {e}")),
        }
        stream = !stream;
    }
    report
}

/// Polls `check` until it holds and returns how long that took (at most `LIVE` + slack, so a
/// slow change is reported with its real duration).
async fn time_until<F, Fut>(what: &str, mut check: F) -> Result<Duration, HarnessError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<bool, HarnessError>>,
{
    let start = Instant::now();
    poll_until(LIVE * 5, what, || {
        let fut = check();
        async move { Ok(fut.await?.then_some(())) }
    })
    .await?;
    Ok(start.elapsed())
}

/// Scenario 2: live edits, same router process, no failed request.
async fn live_edits(c: &impl Cluster) -> Result<(), HarnessError> {
    let f = Fixture::deploy(c, json!({})).await?;
    wait_ready(c, POLICY, READY).await?;
    let (a2, a2_url) = upstream(c, "a2").await?;
    let router = RouterClient::new(&c.router_url(POLICY).await?)?;
    let pods_before: Vec<RouterPod> = c.router_pods(POLICY).await?;
    assert_eq!(pods_before.len(), 1, "{pods_before:?}");
    let probe = "Will it rain in Paris tomorrow afternoon?";
    let before = router.route(POLICY, probe).await?;
    assert_ne!(before["intent"], "special", "{before}");

    let stop = Arc::new(AtomicBool::new(false));
    let loops: Vec<_> = (0..2)
        .map(|_| tokio::spawn(client_loop(router.clone(), Arc::clone(&stop))))
        .collect();
    // Let the loops get going before the first edit.
    poll_until(
        Duration::from_secs(30),
        "the client loop answered",
        || async { Ok((f.up.a.hits() >= 4).then_some(())) },
    )
    .await?;

    // 1. A route's examples: the probe moves to the edited route.
    let mut spec = support::policy_spec();
    spec["intent"]["routes"][2]["examples"] = json!([
        "What is the weather forecast for tomorrow?",
        "Will it rain this weekend?",
        "How hot will it be on Saturday?"
    ]);
    let t = Instant::now();
    merge_patch::<RoutingPolicy>(c, POLICY, json!({"spec": {"intent": spec["intent"]}})).await?;
    let took_examples = time_until("the edited examples route the probe", || {
        let r = router.route(POLICY, probe);
        async move { Ok(r.await?["intent"] == "special") }
    })
    .await?;
    eprintln!(
        "examples edit served after {took_examples:?} ({:?} since the write)",
        t.elapsed()
    );

    // 2. An endpoint's URL: chat answers come from the new upstream.
    merge_patch::<ModelEndpoint>(c, "a", json!({"spec": {"baseURL": a2_url}})).await?;
    let took_url = time_until("the new endpoint URL serves", || {
        let hits = a2.hits();
        async move { Ok(hits > 0) }
    })
    .await?;
    eprintln!("endpoint URL edit served after {took_url:?}");

    // 3. A Secret's key: the new key is sent.
    let rotated = switchyard_e2e::harness::objects::secret("keys", &[("A_KEY", "sk-a2")]);
    merge_patch::<Secret>(c, "keys", serde_json::to_value(&rotated)?).await?;
    let took_key = time_until("the rotated key is sent", || {
        let auth = last_auth(&a2);
        async move { Ok(auth.as_deref() == Some("Bearer sk-a2")) }
    })
    .await?;
    eprintln!("Secret rotation served after {took_key:?}");

    // A few more answers after the last edit, then stop the loops.
    let seen = a2.hits();
    poll_until(
        Duration::from_secs(30),
        "answers after the last edit",
        || async { Ok((a2.hits() >= seen + 4).then_some(())) },
    )
    .await?;
    stop.store(true, Ordering::SeqCst);
    let mut total = 0;
    for l in loops {
        let report = l.await.map_err(|e| HarnessError::Other(e.to_string()))?;
        assert!(report.failures.is_empty(), "{:#?}", report.failures);
        for answer in report.answers.keys() {
            assert!(
                ["Hello from a!", "Hello from a2!"].contains(&answer.as_str()),
                "unexpected answer {answer:?}: {report:?}"
            );
        }
        total += report.requests;
    }
    assert!(total >= 10, "only {total} requests during the edits");
    for (what, took) in [
        ("examples", took_examples),
        ("endpoint URL", took_url),
        ("Secret key", took_key),
    ] {
        assert!(took <= LIVE, "{what} edit took {took:?}");
    }
    // The same router process served throughout.
    let pods_after = c.router_pods(POLICY).await?;
    assert_eq!(pods_after, pods_before);
    assert!(pods_after.iter().all(|p| p.restarts == 0), "{pods_after:?}");
    if let Some(h) = c.hermetic() {
        assert_eq!(h.kubelet().started(), 1, "a router process was (re)started");
    }
    // And the policy reports the new config as served.
    let p = wait_ready(c, POLICY, READY).await?;
    let hash = p.status.and_then(|s| s.config_hash);
    assert_eq!(
        router.readyz().await?["config_hash"].as_str(),
        hash.as_deref()
    );
    eprintln!("{total} requests during the edits, none failed");
    Ok(())
}

scenario!(
    live_edits_hermetic,
    live_edits_real_cluster,
    live_edits,
    |o: HermeticOptions| o
);
