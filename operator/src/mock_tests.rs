//! Mocked-API-server tests of the policy controller: the exact requests of a reconcile, no
//! status write when nothing changed, garbage collection, error handling.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use kube::runtime::controller::Action;
use serde_json::{Value, json};
use switchyard_crds::RoutingPolicy;

use crate::error::ErrorCategory;
use crate::fixtures::{Caches, Handle, context, expect_apply, mock_client, next, policy};
use crate::metrics::ControllerKind;
use crate::policy_controller::{error_policy, reconcile};

const CORE: &str = "/api/v1/namespaces/ai";
const APPS: &str = "/apis/apps/v1/namespaces/ai";
const RBAC: &str = "/apis/rbac.authorization.k8s.io/v1/namespaces/ai";
const POLICY: &str = "/apis/switchyard.dev/v1alpha1/namespaces/ai/routingpolicies";

/// Serves the applies of one reconcile of policy `qs`, answering the Deployment with
/// `ready` ready replicas and the status ConfigMap with `reports`. Returns the bodies.
async fn serve_applies(h: &mut Handle, ready: i32, reports: Value) -> Vec<Value> {
    let mut bodies = Vec::new();
    let cm = expect_apply(h, &format!("{CORE}/configmaps/qs-router-config")).await;
    bodies.push(cm.body.clone());
    cm.echo(json!({}));
    let status_cm = expect_apply(h, &format!("{CORE}/configmaps/qs-router-status")).await;
    bodies.push(status_cm.body.clone());
    status_cm.echo(json!({ "data": reports }));
    for path in [
        format!("{CORE}/serviceaccounts/qs-router"),
        format!("{RBAC}/roles/qs-router"),
        format!("{RBAC}/rolebindings/qs-router"),
        format!("{CORE}/services/qs-router"),
    ] {
        let s = expect_apply(h, &path).await;
        bodies.push(s.body.clone());
        s.echo(json!({}));
    }
    let d = expect_apply(h, &format!("{APPS}/deployments/qs-router")).await;
    bodies.push(d.body.clone());
    d.echo(json!({ "status": { "replicas": ready, "readyReplicas": ready } }));
    bodies
}

async fn with_timeout<F: std::future::Future>(f: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(10), f)
        .await
        .expect("reconcile hung: it made a request the test did not expect")
}

#[tokio::test]
async fn first_reconcile_applies_children_writes_status_and_emits_ready() {
    let (client, mut h) = mock_client();
    let ctx = context(client, Caches::default());
    let p = Arc::new(policy("qs", "replicas: 1"));
    let server = tokio::spawn(async move {
        let bodies = serve_applies(&mut h, 1, json!({})).await;
        let status = next(&mut h).await;
        assert_eq!(status.method, "PATCH");
        assert_eq!(
            status.uri,
            format!("{POLICY}/qs/status?&fieldManager=switchyard-operator")
        );
        assert_eq!(status.content_type, "application/merge-patch+json");
        let body = status.body.clone();
        status.echo_onto(&policy("qs", ""));
        let event = next(&mut h).await;
        assert_eq!(event.method, "POST");
        assert_eq!(event.uri, "/apis/events.k8s.io/v1/namespaces/ai/events?");
        let ev = event.body.clone();
        event.respond(201, &ev);
        (bodies, body, ev)
    });
    let action = with_timeout(reconcile(p, ctx.clone())).await.unwrap();
    assert_eq!(action, Action::requeue(ctx.config.resync));
    let (bodies, status, event) = server.await.unwrap();

    // The config ConfigMap holds the resolved config; the status ConfigMap carries no data
    // so the operator never owns the keys routers write.
    assert!(
        bodies[0]["data"]["router.yaml"]
            .as_str()
            .unwrap()
            .contains("kind: RouterConfig")
    );
    assert!(bodies[1].get("data").is_none(), "{}", bodies[1]);
    assert_eq!(bodies[1]["metadata"]["ownerReferences"][0]["uid"], "uid-qs");
    // The Role names exactly the referenced Secret.
    assert_eq!(bodies[3]["rules"][2]["resourceNames"], json!(["keys"]));

    let st = &status["status"];
    let cond = |t: &str| {
        st["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["type"] == t)
            .cloned()
            .unwrap()
    };
    assert_eq!(cond("Ready")["status"], "True");
    assert_eq!(cond("Ready")["reason"], "Available");
    assert_eq!(cond("Resolved")["status"], "True");
    assert_eq!(cond("Degraded")["status"], "False");
    assert_eq!(st["readyReplicas"], 1);
    assert_eq!(st["serviceURL"], "http://qs-router.ai.svc.cluster.local/v1");
    assert_eq!(st["observedGeneration"], 1);
    assert_eq!(st["configHash"].as_str().unwrap().len(), 16);
    assert_eq!(event["reason"], "Ready");
    assert_eq!(event["type"], "Normal");
}

/// The policy as the server would return it after the first reconcile's status write.
async fn reconciled_once() -> RoutingPolicy {
    let (client, mut h) = mock_client();
    let ctx = context(client, Caches::default());
    let p = policy("qs", "replicas: 1");
    let server = tokio::spawn(async move {
        serve_applies(&mut h, 1, json!({})).await;
        let status = next(&mut h).await;
        let body = status.body.clone();
        status.echo_onto(&policy("qs", ""));
        let event = next(&mut h).await;
        let ev = event.body.clone();
        event.respond(201, &ev);
        body
    });
    with_timeout(reconcile(Arc::new(p.clone()), ctx))
        .await
        .unwrap();
    let patch = server.await.unwrap();
    let mut p = p;
    p.status = Some(serde_json::from_value(patch["status"].clone()).unwrap());
    p
}

#[tokio::test]
async fn unchanged_status_is_not_written_again() {
    let p = reconciled_once().await;
    let (client, mut h) = mock_client();
    let ctx = context(client, Caches::default());
    let server = tokio::spawn(async move {
        serve_applies(&mut h, 1, json!({})).await;
        // Nothing else may arrive: dropping the handle fails any further request.
    });
    let action = with_timeout(reconcile(Arc::new(p), ctx.clone())).await;
    server.await.unwrap();
    assert!(action.is_ok(), "{action:?}");
    assert_eq!(
        ctx.metrics
            .status_patch_count(ControllerKind::RoutingPolicy),
        0
    );
}

#[tokio::test]
async fn router_reports_drive_ready_and_degraded() {
    let p = reconciled_once().await;
    let hash = p.status.as_ref().unwrap().config_hash.clone().unwrap();
    let (client, mut h) = mock_client();
    let ctx = context(client, Caches::default());
    let reports = json!({
        "qs-router-abc": json!({"configHash": hash, "device": "cpu",
                                 "degraded": ["model warm-up failed once"]}).to_string(),
        "qs-router-old": json!({"configHash": "0000000000000000", "device": "cpu"}).to_string(),
    });
    let server = tokio::spawn(async move {
        serve_applies(&mut h, 1, reports).await;
        let status = next(&mut h).await;
        let body = status.body.clone();
        status.echo_onto(&policy("qs", ""));
        let event = next(&mut h).await;
        let ev = event.body.clone();
        event.respond(201, &ev);
        (body, ev)
    });
    with_timeout(reconcile(Arc::new(p), ctx)).await.unwrap();
    let (status, event) = server.await.unwrap();
    let conds = status["status"]["conditions"].as_array().unwrap().clone();
    let ready = conds.iter().find(|c| c["type"] == "Ready").unwrap();
    assert_eq!(ready["reason"], "ConfigServed", "{ready}");
    let degraded = conds.iter().find(|c| c["type"] == "Degraded").unwrap();
    assert_eq!(degraded["status"], "True");
    assert_eq!(degraded["reason"], "RouterDegraded");
    assert_eq!(event["reason"], "Degraded");
    assert_eq!(event["type"], "Warning");
}

#[tokio::test]
async fn orphaned_pdb_is_deleted_when_replicas_drop_to_one() {
    let (client, mut h) = mock_client();
    let mut orphan_policy = policy("qs", "replicas: 3");
    orphan_policy.metadata.uid = Some("uid-qs".to_owned());
    let orphan = crate::build::pdb(&orphan_policy).unwrap().unwrap();
    let caches = Caches {
        pdbs: vec![orphan],
        ..Caches::default()
    };
    let ctx = context(client, caches);
    let p = Arc::new(policy("qs", "replicas: 1"));
    let server = tokio::spawn(async move {
        serve_applies(&mut h, 1, json!({})).await;
        let del = next(&mut h).await;
        assert_eq!(del.method, "DELETE");
        assert_eq!(
            del.uri,
            "/apis/policy/v1/namespaces/ai/poddisruptionbudgets/qs-router?"
        );
        assert_eq!(del.body["propagationPolicy"], "Background");
        del.respond(
            200,
            &json!({"kind": "Status", "apiVersion": "v1", "status": "Success"}),
        );
        let status = next(&mut h).await;
        status.echo_onto(&policy("qs", ""));
        let event = next(&mut h).await;
        let ev = event.body.clone();
        event.respond(201, &ev);
    });
    with_timeout(reconcile(p, ctx)).await.unwrap();
    server.await.unwrap();
}

#[tokio::test]
async fn pdb_of_another_policy_is_left_alone() {
    let (client, mut h) = mock_client();
    let other = crate::build::pdb(&policy("other", "replicas: 3"))
        .unwrap()
        .unwrap();
    let ctx = context(
        client,
        Caches {
            pdbs: vec![other],
            ..Caches::default()
        },
    );
    let p = reconciled_once().await;
    let server = tokio::spawn(async move {
        serve_applies(&mut h, 1, json!({})).await;
    });
    let res = with_timeout(reconcile(Arc::new(p), ctx)).await;
    server.await.unwrap();
    assert!(res.is_ok(), "{res:?}");
}

async fn fail_first_apply(code: u16, reason: &str) -> (crate::error::Error, Arc<crate::Context>) {
    let (client, mut h) = mock_client();
    let ctx = context(client, Caches::default());
    let p = Arc::new(policy("qs", ""));
    let reason = reason.to_owned();
    let server = tokio::spawn(async move {
        let s = expect_apply(&mut h, &format!("{CORE}/configmaps/qs-router-config")).await;
        s.fail(code, &reason);
    });
    let err = with_timeout(reconcile(p, ctx.clone())).await.unwrap_err();
    server.await.unwrap();
    (err, ctx)
}

#[tokio::test]
async fn api_errors_are_categorised_counted_and_backed_off() {
    for (code, reason, category) in [
        (403, "Forbidden", ErrorCategory::Forbidden),
        (409, "Conflict", ErrorCategory::Conflict),
        (500, "InternalError", ErrorCategory::ServerError),
    ] {
        let (err, ctx) = fail_first_apply(code, reason).await;
        assert_eq!(err.category(), category, "{err}");
        assert_eq!(
            ctx.metrics
                .error_count(ControllerKind::RoutingPolicy, category),
            1
        );
        let p = Arc::new(policy("qs", ""));
        let first = error_policy(p.clone(), &err, ctx.clone());
        let second = error_policy(p.clone(), &err, ctx.clone());
        assert_eq!(first, Action::requeue(Duration::from_millis(500)));
        assert_eq!(second, Action::requeue(Duration::from_millis(1000)));
        assert!(
            ctx.metrics
                .encode()
                .contains(&format!("category=\"{category:?}\""))
        );
    }
}

#[tokio::test]
async fn success_resets_the_backoff() {
    let p = reconciled_once().await;
    let (client, mut h) = mock_client();
    let ctx = context(client, Caches::default());
    let key = ("ai".to_owned(), "qs".to_owned());
    ctx.policy_backoff.next(&key);
    ctx.policy_backoff.next(&key);
    assert_eq!(ctx.policy_backoff.attempts(&key), 2);
    let server = tokio::spawn(async move {
        serve_applies(&mut h, 1, json!({})).await;
    });
    with_timeout(reconcile(Arc::new(p), ctx.clone()))
        .await
        .unwrap();
    server.await.unwrap();
    assert_eq!(ctx.policy_backoff.attempts(&key), 0);
}

#[tokio::test]
async fn invalid_spec_writes_resolved_false_warns_once_and_waits() {
    let (client, mut h) = mock_client();
    let ctx = context(client, Caches::default());
    let mut p = policy("qs", "");
    if let Some(intent) = p.spec.intent.as_mut() {
        intent.default_route = Some("missing".to_owned());
    }
    let p2 = p.clone();
    let server = tokio::spawn(async move {
        // No child is applied: the routers keep serving the last valid config.
        let status = next(&mut h).await;
        assert_eq!(
            status.uri,
            format!("{POLICY}/qs/status?&fieldManager=switchyard-operator")
        );
        let body = status.body.clone();
        status.echo_onto(&policy("qs", ""));
        let event = next(&mut h).await;
        let ev = event.body.clone();
        event.respond(201, &ev);
        (body, ev)
    });
    let action = with_timeout(reconcile(Arc::new(p), ctx.clone()))
        .await
        .unwrap();
    assert_eq!(action, Action::await_change());
    let (status, event) = server.await.unwrap();
    let conds = status["status"]["conditions"].as_array().unwrap().clone();
    let resolved = conds.iter().find(|c| c["type"] == "Resolved").unwrap();
    assert_eq!(resolved["status"], "False");
    assert_eq!(resolved["reason"], "InvalidPolicy");
    assert!(
        resolved["message"]
            .as_str()
            .unwrap()
            .contains("spec.intent.defaultRoute"),
        "{resolved}"
    );
    assert_eq!(event["reason"], "InvalidSpec");
    assert_eq!(event["type"], "Warning");

    // Reconciling the same invalid spec again writes nothing and warns no more.
    let mut again = p2;
    again.status = Some(serde_json::from_value(status["status"].clone()).unwrap());
    let (client, h) = mock_client();
    drop(h);
    let ctx = context(client, Caches::default());
    let action = with_timeout(reconcile(Arc::new(again), ctx)).await.unwrap();
    assert_eq!(action, Action::await_change());
}

#[tokio::test]
async fn missing_endpoint_and_secret_degrade_but_still_serve() {
    let (client, mut h) = mock_client();
    let caches = Caches {
        endpoints: vec![crate::fixtures::endpoint("big", Some("keys"))],
        secrets: vec![],
        ..Caches::default()
    };
    let ctx = context(client, caches);
    let p = Arc::new(policy("qs", ""));
    let server = tokio::spawn(async move {
        // Missing from the caches: the API server confirms they are missing (cache_check).
        for what in ["modelendpoints?", "secrets?"] {
            let list = next(&mut h).await;
            assert!(list.uri.contains(what), "{}", list.uri);
            list.respond(
                200,
                &json!({"apiVersion": "meta.k8s.io/v1",
                "kind": "PartialObjectMetadataList", "metadata": {}, "items": []}),
            );
        }
        let bodies = serve_applies(&mut h, 1, json!({})).await;
        let status = next(&mut h).await;
        let body = status.body.clone();
        status.echo_onto(&policy("qs", ""));
        let mut reasons = Vec::new();
        for _ in 0..2 {
            let event = next(&mut h).await;
            reasons.push(event.body["reason"].clone());
            let ev = event.body.clone();
            event.respond(201, &ev);
        }
        (bodies, body, reasons)
    });
    with_timeout(reconcile(p, ctx)).await.unwrap();
    let (bodies, status, reasons) = server.await.unwrap();
    // The Role still grants the missing Secret, so the routers see it once it is created.
    assert_eq!(bodies[3]["rules"][2]["resourceNames"], json!(["keys"]));
    let st = &status["status"];
    let conds = st["conditions"].as_array().unwrap();
    let resolved = conds.iter().find(|c| c["type"] == "Resolved").unwrap();
    assert_eq!(resolved["reason"], "EndpointNotFound");
    assert!(
        resolved["message"]
            .as_str()
            .unwrap()
            .contains("ModelEndpoint \"small\" does not exist in namespace \"ai\""),
        "{resolved}"
    );
    let degraded = conds.iter().find(|c| c["type"] == "Degraded").unwrap();
    assert_eq!(degraded["status"], "True");
    assert!(
        degraded["message"]
            .as_str()
            .unwrap()
            .contains("Secret \"keys\"")
    );
    assert_eq!(
        st["endpoints"],
        json!([
            {"name": "big", "ready": false, "reason": "SecretNotFound"},
            {"name": "small", "ready": false, "reason": "EndpointNotFound"},
        ])
    );
    assert_eq!(reasons, vec![json!("Ready"), json!("Degraded")]);
}

/// Serves the applies of one reconcile, then fails its status patch with `code`.
async fn fail_status_patch(code: u16, reason: &str) -> (crate::error::Error, Arc<crate::Context>) {
    let (client, mut h) = mock_client();
    let ctx = context(client, Caches::default());
    let reason = reason.to_owned();
    let server = tokio::spawn(async move {
        serve_applies(&mut h, 1, json!({})).await;
        let status = next(&mut h).await;
        assert_eq!(status.method, "PATCH");
        assert!(status.uri.starts_with(&format!("{POLICY}/qs/status")));
        status.fail(code, &reason);
        // No event: nothing was written.
    });
    let err = with_timeout(reconcile(
        Arc::new(policy("qs", "replicas: 1")),
        ctx.clone(),
    ))
    .await
    .unwrap_err();
    server.await.unwrap();
    (err, ctx)
}

#[tokio::test]
async fn status_patch_failures_are_errors_that_back_off() {
    for (code, reason, category) in [
        (500, "InternalError", ErrorCategory::ServerError),
        (409, "Conflict", ErrorCategory::Conflict),
        (429, "TooManyRequests", ErrorCategory::Throttled),
        (503, "ServiceUnavailable", ErrorCategory::ServerError),
    ] {
        let (err, ctx) = fail_status_patch(code, reason).await;
        assert_eq!(err.category(), category, "{err}");
        assert!(
            err.to_string().starts_with("patch status RoutingPolicy qs"),
            "{err}"
        );
        assert_eq!(
            ctx.metrics
                .error_count(ControllerKind::RoutingPolicy, category),
            1
        );
        let p = Arc::new(policy("qs", ""));
        let delays: Vec<Action> = (0..4)
            .map(|_| error_policy(p.clone(), &err, ctx.clone()))
            .collect();
        assert_eq!(
            delays,
            [500, 1000, 2000, 4000]
                .map(|ms| Action::requeue(Duration::from_millis(ms)))
                .to_vec()
        );
    }
}

/// Retries within a window are bounded: with the default backoff (0.5 s doubling, capped at
/// 5 minutes), a policy whose reconcile always fails is tried 8 times in its first 2 minutes
/// (at 0, 0.5, 1.5, 3.5, 7.5, 15.5, 31.5 and 63.5 s) and 11 times in its first 10 minutes.
#[test]
fn retries_per_window_are_bounded() {
    let backoff = crate::context::Backoff::default();
    let key = ("ai".to_owned(), "qs".to_owned());
    let attempts_within = |window: Duration| {
        backoff.reset(&key);
        let (mut t, mut n) = (Duration::ZERO, 1);
        loop {
            t += backoff.next(&key);
            if t > window {
                return n;
            }
            n += 1;
        }
    };
    assert_eq!(attempts_within(Duration::from_secs(120)), 8);
    assert_eq!(attempts_within(Duration::from_secs(600)), 11);
}

#[tokio::test]
async fn an_api_call_that_hangs_times_out_and_backs_off() {
    let (client, mut h) = mock_client();
    let mut caches_ctx = context(client, Caches::default());
    Arc::get_mut(&mut caches_ctx)
        .unwrap()
        .config
        .reconcile_timeout = Duration::from_millis(200);
    let ctx = caches_ctx;
    let (held_tx, held_rx) = tokio::sync::oneshot::channel();
    let server = tokio::spawn(async move {
        let first = expect_apply(&mut h, &format!("{CORE}/configmaps/qs-router-config")).await;
        // Never answered: the request hangs until the client gives up.
        let _ = held_rx.await;
        drop(first);
    });
    let started = std::time::Instant::now();
    let err = with_timeout(reconcile(Arc::new(policy("qs", "")), ctx.clone()))
        .await
        .unwrap_err();
    let took = started.elapsed();
    let _ = held_tx.send(());
    server.await.unwrap();
    assert_eq!(err.category(), ErrorCategory::Timeout, "{err}");
    assert!(
        took >= Duration::from_millis(200) && took < Duration::from_secs(5),
        "{took:?}"
    );
    assert_eq!(
        ctx.metrics
            .error_count(ControllerKind::RoutingPolicy, ErrorCategory::Timeout),
        1
    );
    let action = error_policy(Arc::new(policy("qs", "")), &err, ctx.clone());
    assert_eq!(action, Action::requeue(Duration::from_millis(500)));
}

#[tokio::test]
async fn a_child_the_api_server_rejects_is_reported_in_status_and_retried() {
    let (client, mut h) = mock_client();
    let ctx = context(client, Caches::default());
    let server = tokio::spawn(async move {
        for path in [
            format!("{CORE}/configmaps/qs-router-config"),
            format!("{CORE}/configmaps/qs-router-status"),
            format!("{CORE}/serviceaccounts/qs-router"),
            format!("{RBAC}/roles/qs-router"),
            format!("{RBAC}/rolebindings/qs-router"),
            format!("{CORE}/services/qs-router"),
        ] {
            expect_apply(&mut h, &path).await.echo(json!({}));
        }
        let d = expect_apply(&mut h, &format!("{APPS}/deployments/qs-router")).await;
        d.fail(422, "Invalid");
        let status = next(&mut h).await;
        let body = status.body.clone();
        status.echo_onto(&policy("qs", ""));
        let event = next(&mut h).await;
        let ev = event.body.clone();
        event.respond(201, &ev);
        (body, ev)
    });
    let err = with_timeout(reconcile(Arc::new(policy("qs", "")), ctx.clone()))
        .await
        .unwrap_err();
    let (status, event) = server.await.unwrap();
    assert_eq!(err.category(), ErrorCategory::Rejected, "{err}");
    let conds = status["status"]["conditions"].as_array().unwrap().clone();
    let ready = conds.iter().find(|c| c["type"] == "Ready").unwrap();
    assert_eq!(ready["status"], "False");
    assert_eq!(ready["reason"], "ChildRejected");
    assert!(
        ready["message"]
            .as_str()
            .unwrap()
            .contains("apply Deployment qs-router"),
        "{ready}"
    );
    // Nothing was served from this spec: no config hash is claimed.
    assert!(status["status"]["configHash"].is_null(), "{status}");
    assert_eq!(event["reason"], "ChildRejected");
    assert_eq!(event["type"], "Warning");
    let action = error_policy(Arc::new(policy("qs", "")), &err, ctx);
    assert_eq!(action, Action::requeue(Duration::from_millis(500)));
}

#[tokio::test]
async fn an_undecodable_policy_gets_a_status_and_an_event_once() {
    use crate::lenient::Lenient;
    use crate::policy_controller::reconcile_watched;

    let mut raw = serde_json::to_value(policy("qs", "")).unwrap();
    raw["spec"]["strategy"] = json!("telepathy");
    let obj: Lenient<RoutingPolicy> = serde_json::from_value(raw.clone()).unwrap();
    assert!(obj.parsed().is_none());
    let (client, mut h) = mock_client();
    let ctx = context(client, Caches::default());
    let server = tokio::spawn(async move {
        let status = next(&mut h).await;
        assert_eq!(status.method, "PATCH");
        assert_eq!(
            status.uri,
            format!("{POLICY}/qs/status?&fieldManager=switchyard-operator")
        );
        let body = status.body.clone();
        let mut full = raw.clone();
        crate::fixtures::merge(&mut full, body.clone());
        status.respond(200, &full);
        let event = next(&mut h).await;
        let ev = event.body.clone();
        event.respond(201, &ev);
        (body, ev, full)
    });
    let action = with_timeout(reconcile_watched(Arc::new(obj), ctx.clone()))
        .await
        .unwrap();
    assert_eq!(action, Action::await_change());
    let (patch, event, written) = server.await.unwrap();
    let conds = patch["status"]["conditions"].as_array().unwrap().clone();
    let resolved = conds.iter().find(|c| c["type"] == "Resolved").unwrap();
    assert_eq!(resolved["reason"], "UnreadableSpec");
    assert!(
        resolved["message"]
            .as_str()
            .unwrap()
            .contains("spec.strategy: unknown variant `telepathy`"),
        "{resolved}"
    );
    let ready = conds.iter().find(|c| c["type"] == "Ready").unwrap();
    assert_eq!(ready["status"], "False");
    assert_eq!(patch["status"]["observedGeneration"], 1);
    // Only conditions and observedGeneration: the last config hash etc. stay.
    assert_eq!(patch["status"].as_object().unwrap().len(), 2, "{patch}");
    assert_eq!(event["reason"], "InvalidSpec");
    assert_eq!(event["type"], "Warning");

    // Seen again with that status: nothing to write, nothing to announce.
    let again: Lenient<RoutingPolicy> = serde_json::from_value(written).unwrap();
    let (client, h) = mock_client();
    drop(h);
    let ctx = context(client, Caches::default());
    let action = with_timeout(reconcile_watched(Arc::new(again), ctx))
        .await
        .unwrap();
    assert_eq!(action, Action::await_change());
}

#[tokio::test]
async fn a_policy_breaking_the_schema_is_refused_before_any_work() {
    let (client, mut h) = mock_client();
    let ctx = context(client, Caches::default());
    let mut p = policy("qs", "");
    let route = p.spec.intent.as_ref().unwrap().routes[0].clone();
    p.spec.intent.as_mut().unwrap().routes = (0..5000)
        .map(|i| {
            let mut r = route.clone();
            r.name = format!("ルート{i}");
            r
        })
        .collect();
    let server = tokio::spawn(async move {
        // No child is applied; only the status says why.
        let status = next(&mut h).await;
        let body = status.body.clone();
        status.echo_onto(&policy("qs", ""));
        let event = next(&mut h).await;
        let ev = event.body.clone();
        event.respond(201, &ev);
        (body, ev)
    });
    let started = std::time::Instant::now();
    let action = with_timeout(reconcile(Arc::new(p), ctx)).await.unwrap();
    let took = started.elapsed();
    assert_eq!(action, Action::await_change());
    let (status, event) = server.await.unwrap();
    let conds = status["status"]["conditions"].as_array().unwrap().clone();
    let resolved = conds.iter().find(|c| c["type"] == "Resolved").unwrap();
    assert_eq!(resolved["reason"], "InvalidPolicy");
    let message = resolved["message"].as_str().unwrap();
    assert!(message.contains("spec.intent.routes: "), "{message}");
    assert!(message.contains("has more than 64 items"), "{message}");
    assert!(
        message.len() <= crate::status::MAX_MESSAGE,
        "{}",
        message.len()
    );
    assert_eq!(event["reason"], "InvalidSpec");
    assert!(took < Duration::from_secs(5), "{took:?}");
}
