//! A kube-rs `Controller` (server-side apply of an owned ConfigMap, status patch) runs
//! against the fake API server and settles: because no-op writes emit no watch events, its
//! own idempotent writes do not wake it again.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::watcher;
use kube::{Resource, ResourceExt};
use serde_json::json;
use switchyard_crds::RoutingPolicy;
use switchyard_e2e::fakeapi::{FakeApiServer, Verb};

const WAIT: Duration = Duration::from_secs(10);

struct Ctx {
    client: kube::Client,
    reconciles: AtomicU64,
}

async fn reconcile(policy: Arc<RoutingPolicy>, ctx: Arc<Ctx>) -> Result<Action, kube::Error> {
    ctx.reconciles.fetch_add(1, Ordering::SeqCst);
    let ns = policy.namespace().unwrap();
    let route = policy
        .spec
        .intent
        .as_ref()
        .and_then(|i| i.default_route.clone())
        .unwrap_or_default();
    let cm = json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {
            "name": format!("{}-config", policy.name_any()),
            "ownerReferences": [policy.controller_owner_ref(&()).unwrap()],
        },
        "data": {"defaultRoute": route},
    });
    Api::<ConfigMap>::namespaced(ctx.client.clone(), &ns)
        .patch(
            &format!("{}-config", policy.name_any()),
            &PatchParams::apply("test-operator").force(),
            &Patch::Apply(cm),
        )
        .await?;
    Api::<RoutingPolicy>::namespaced(ctx.client.clone(), &ns)
        .patch_status(
            &policy.name_any(),
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"observedGeneration": policy.metadata.generation}})),
        )
        .await?;
    Ok(Action::await_change())
}

fn error_policy(_: Arc<RoutingPolicy>, _: &kube::Error, _: Arc<Ctx>) -> Action {
    Action::requeue(Duration::from_millis(50))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_controller_settles_and_reacts_to_spec_changes() {
    let server = FakeApiServer::start().await.unwrap();
    let client = server.client().unwrap();
    let policies: Api<RoutingPolicy> = Api::namespaced(client.clone(), "ai");
    let policy: RoutingPolicy = serde_json::from_value(json!({
        "apiVersion": "switchyard.dev/v1alpha1", "kind": "RoutingPolicy",
        "metadata": {"name": "p", "namespace": "ai"},
        "spec": {"strategy": "intent", "intent": {"defaultRoute": "general", "routes": [
            {"name": "general", "description": "anything", "examples": ["hi"], "endpoints": ["m"]}
        ]}}
    }))
    .unwrap();
    policies
        .create(&PostParams::default(), &policy)
        .await
        .unwrap();
    let ctx = Arc::new(Ctx {
        client: client.clone(),
        reconciles: AtomicU64::new(0),
    });
    let controller = Controller::new(policies.clone(), watcher::Config::default())
        .owns(
            Api::<ConfigMap>::all(client.clone()),
            watcher::Config::default(),
        )
        .run(reconcile, error_policy, ctx.clone())
        .for_each(|_| async {});
    let task = tokio::spawn(controller);

    let settled = server
        .wait_for::<RoutingPolicy>(Some("ai"), "p", WAIT, |p| {
            p.and_then(|p| p.status.as_ref())
                .is_some_and(|s| s.observed_generation == Some(1))
        })
        .await
        .unwrap();
    assert!(settled.is_some());
    let cm = server
        .get::<ConfigMap>(Some("ai"), "p-config")
        .unwrap()
        .unwrap();
    assert_eq!(cm.data.unwrap()["defaultRoute"], "general");

    // The reconciles its own writes triggered (the ConfigMap's event, the status's event) may
    // still be running: wait until the count has held for 200 ms before measuring.
    let mut last = ctx.reconciles.load(Ordering::SeqCst);
    let mut since = tokio::time::Instant::now();
    let deadline = since + WAIT;
    while since.elapsed() < Duration::from_millis(200) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "reconciles never settle"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
        let now = ctx.reconciles.load(Ordering::SeqCst);
        if now != last {
            last = now;
            since = tokio::time::Instant::now();
        }
    }

    // Measurement window: a controller that woke itself would keep writing in here.
    let before = server.counters();
    let reconciles = ctx.reconciles.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = server.counters();
    assert_eq!(
        after.total_changes(),
        before.total_changes(),
        "no writes while idle"
    );
    assert!(
        ctx.reconciles.load(Ordering::SeqCst) <= reconciles + 1,
        "controller keeps reconciling"
    );
    assert!(after.requests(Verb::Patch, "configmaps") <= 3);

    policies
        .patch(
            "p",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"intent": {"defaultRoute": "other"}}})),
        )
        .await
        .unwrap();
    server
        .wait_for::<ConfigMap>(Some("ai"), "p-config", WAIT, |cm| {
            cm.and_then(|c| c.data.as_ref())
                .is_some_and(|d| d["defaultRoute"] == "other")
        })
        .await
        .unwrap();
    server
        .wait_for::<RoutingPolicy>(Some("ai"), "p", WAIT, |p| {
            p.and_then(|p| p.status.as_ref())
                .is_some_and(|s| s.observed_generation == Some(2))
        })
        .await
        .unwrap();

    // Deleting the policy collects the ConfigMap it owns.
    server.delete::<RoutingPolicy>(Some("ai"), "p").unwrap();
    assert!(
        server
            .get::<ConfigMap>(Some("ai"), "p-config")
            .unwrap()
            .is_none()
    );
    task.abort();
}
