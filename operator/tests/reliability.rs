//! The real controllers (`run_controllers`) against the in-process fake API server of
//! `switchyard-e2e`: hostile objects among good ones, API errors, hung calls and conflicts,
//! a restart, and the API calls the operator really makes against the ClusterRole it ships
//! with. The fake serves without schema validation (`validate_crs: false`), like an API
//! server running an older, looser CRD, so hostile objects reach the operator.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Resource;
use kube::api::Api;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use switchyard_crds::{ModelEndpoint, RoutingPolicy};
use switchyard_e2e::fakeapi::{FakeApiServer, Fault, Verb};
use switchyard_operator::OperatorConfig;
use switchyard_operator::error::ErrorCategory;
use switchyard_operator::http::Health;
use switchyard_operator::metrics::{ControllerKind, Metrics, Outcome};
use switchyard_operator::run::run_controllers;
use tokio::sync::watch;
use tokio::task::JoinHandle;

const NS: &str = "ai";
const WAIT: Duration = Duration::from_secs(20);

/// A running operator (both controllers) against the fake.
struct Operator {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
    metrics: Arc<Metrics>,
}

fn config() -> OperatorConfig {
    OperatorConfig {
        concurrency: 4,
        resync: Duration::from_secs(3600),
        cache_timeout: Duration::from_secs(10),
        reconcile_timeout: Duration::from_secs(1),
        backoff_base: Duration::from_millis(100),
        backoff_max: Duration::from_millis(400),
        ..OperatorConfig::default()
    }
}

fn start(server: &FakeApiServer) -> Operator {
    let (stop, rx) = watch::channel(false);
    let metrics = Arc::new(Metrics::new());
    let task = tokio::spawn(run_controllers(
        server.client().unwrap(),
        config(),
        metrics.clone(),
        Arc::new(Health::default()),
        Some("test".to_owned()),
        rx,
    ));
    Operator {
        stop,
        task,
        metrics,
    }
}

impl Operator {
    async fn shutdown(self) {
        self.stop.send(true).unwrap();
        tokio::time::timeout(WAIT, self.task)
            .await
            .expect("the controllers stop on shutdown")
            .expect("the controllers did not panic");
    }

    /// Waits until `f` holds for the metrics (they have no change notification: polled).
    async fn wait_metrics(&self, what: &str, f: impl Fn(&Metrics) -> bool) {
        let deadline = tokio::time::Instant::now() + WAIT;
        while !f(&self.metrics) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting for {what}: {}",
                self.metrics.encode()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn alive(&self) -> bool {
        !self.task.is_finished()
    }
}

/// Just metadata and status of a RoutingPolicy or ModelEndpoint: reads any of them,
/// decodable or not.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct View<const ENDPOINT: bool> {
    metadata: ObjectMeta,
    #[serde(default)]
    status: Option<Value>,
}

impl<const ENDPOINT: bool> Resource for View<ENDPOINT> {
    type DynamicType = ();
    type Scope = NamespaceResourceScope;

    fn kind(_: &()) -> std::borrow::Cow<'_, str> {
        if ENDPOINT {
            "ModelEndpoint".into()
        } else {
            "RoutingPolicy".into()
        }
    }
    fn group(_: &()) -> std::borrow::Cow<'_, str> {
        "switchyard.dev".into()
    }
    fn version(_: &()) -> std::borrow::Cow<'_, str> {
        "v1alpha1".into()
    }
    fn plural(_: &()) -> std::borrow::Cow<'_, str> {
        if ENDPOINT {
            "modelendpoints".into()
        } else {
            "routingpolicies".into()
        }
    }
    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }
    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

type PolicyView = View<false>;

fn condition<'a>(status: Option<&'a Value>, type_: &str) -> Option<&'a Value> {
    status?
        .get("conditions")?
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)
}

/// Waits until condition `type_` of the object has `reason` (and status `status`), for the
/// object's current generation. Returns the condition.
async fn wait_condition<const E: bool>(
    server: &FakeApiServer,
    name: &str,
    type_: &str,
    status: &str,
    reason: &str,
) -> Value {
    let found = server
        .wait_for::<View<E>>(Some(NS), name, WAIT, |o| {
            o.is_some_and(|o| {
                let c = condition(o.status.as_ref(), type_);
                c.is_some_and(|c| {
                    c["status"] == status
                        && c["reason"] == reason
                        && c["observedGeneration"] == json!(o.metadata.generation)
                })
            })
        })
        .await
        .unwrap_or_else(|e| {
            let now = server.get::<View<E>>(Some(NS), name).unwrap();
            panic!("{name}: {type_}={status}/{reason}: {e}; now {now:?}")
        })
        .unwrap();
    condition(found.status.as_ref(), type_).unwrap().clone()
}

fn endpoint(name: &str, extra: Value) -> ModelEndpoint {
    let mut spec = json!({"model": format!("m/{name}"),
                          "baseURL": format!("http://{name}.ai.svc:8000/v1")});
    if let (Value::Object(s), Value::Object(e)) = (&mut spec, extra) {
        s.extend(e);
    }
    serde_json::from_value(json!({
        "apiVersion": "switchyard.dev/v1alpha1", "kind": "ModelEndpoint",
        "metadata": {"name": name, "namespace": NS}, "spec": spec
    }))
    .unwrap()
}

fn policy_json(name: &str, endpoints: &[&str]) -> Value {
    json!({
        "apiVersion": "switchyard.dev/v1alpha1", "kind": "RoutingPolicy",
        "metadata": {"name": name, "namespace": NS},
        "spec": {"strategy": "intent", "intent": {"routes": [
            {"name": "general", "description": "Anything.", "endpoints": endpoints}
        ]}}
    })
}

fn policy(name: &str, endpoints: &[&str]) -> RoutingPolicy {
    serde_json::from_value(policy_json(name, endpoints)).unwrap()
}

async fn wait_config_map(server: &FakeApiServer, policy: &str) -> ConfigMap {
    server
        .wait_for::<ConfigMap>(Some(NS), &format!("{policy}-router-config"), WAIT, |c| {
            c.is_some()
        })
        .await
        .unwrap_or_else(|e| panic!("{policy}: no router ConfigMap: {e}"))
        .unwrap()
}

fn seed_endpoints(server: &FakeApiServer) {
    server.create(&endpoint("small", json!({}))).unwrap();
    server.create(&endpoint("big", json!({}))).unwrap();
}

fn writes(c: &switchyard_e2e::fakeapi::CounterSnapshot) -> u64 {
    c.requests
        .iter()
        .filter(|((v, _), _)| !matches!(v, Verb::Get | Verb::List | Verb::Watch))
        .map(|(_, n)| n)
        .sum()
}

/// Waits for the operator to settle: a `window` without any write request (the trailing
/// reconciles that its own child creations cause are allowed to finish first). A
/// controller in a hot loop never gets there and fails the test.
async fn assert_settles(server: &FakeApiServer, op: &Operator, window: Duration) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let before = server.counters();
        tokio::time::sleep(window).await;
        let after = server.counters();
        if writes(&after) == writes(&before) && after.total_changes() == before.total_changes() {
            return;
        }
        if tokio::time::Instant::now() > deadline {
            let grew: Vec<_> = after
                .requests
                .iter()
                .filter(|(k, n)| before.requests.get(*k) != Some(*n))
                .collect();
            panic!(
                "still writing after {WAIT:?}: {grew:?}\n{}",
                op.metrics.encode()
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_objects_do_not_stall_the_good_ones() {
    let server = FakeApiServer::start().await.unwrap();
    seed_endpoints(&server);
    server.create(&policy("good-1", &["big", "small"])).unwrap();

    // Does not decode: an unknown strategy, and a list given as a string.
    let mut telepathy = policy_json("telepathy", &["small"]);
    telepathy["spec"]["strategy"] = json!("telepathy");
    server.create_json(telepathy).unwrap();
    let mut wrong_type = policy_json("wrong-type", &["small"]);
    wrong_type["spec"]["intent"]["routes"] = json!("everything");
    server.create_json(wrong_type).unwrap();
    // Decodes, but breaks every limit: 5000 routes with unicode names and a megabyte of
    // description.
    let mut huge = policy_json("huge", &["small"]);
    huge["spec"]["intent"]["routes"] = (0..5000)
        .map(|i| {
            json!({"name": format!("ルート{i}"), "description": "x".repeat(200),
                        "endpoints": ["small", "big"]})
        })
        .collect();
    server.create_json(huge).unwrap();
    // An endpoint that does not decode, and a policy using it next to a good one.
    let mut pigeon = serde_json::to_value(endpoint("pigeon", json!({}))).unwrap();
    pigeon["spec"]["provider"] = json!("carrier-pigeon");
    server.create_json(pigeon).unwrap();
    server
        .create(&policy("uses-pigeon", &["pigeon", "small"]))
        .unwrap();
    server.create(&policy("good-2", &["small"])).unwrap();

    let op = start(&server);
    for good in ["good-1", "good-2"] {
        wait_config_map(&server, good).await;
        wait_condition::<false>(&server, good, "Resolved", "True", "Resolved").await;
    }
    for bad in ["telepathy", "wrong-type"] {
        let c = wait_condition::<false>(&server, bad, "Resolved", "False", "UnreadableSpec").await;
        assert!(
            c["message"]
                .as_str()
                .unwrap()
                .starts_with("the operator cannot decode this RoutingPolicy: spec."),
            "{c}"
        );
        wait_condition::<false>(&server, bad, "Ready", "False", "InvalidSpec").await;
    }
    let c = wait_condition::<false>(&server, "huge", "Resolved", "False", "InvalidPolicy").await;
    let message = c["message"].as_str().unwrap();
    assert!(message.contains("has more than 64 items"), "{message}");
    assert!(message.len() <= 1024, "{}", message.len());
    assert!(
        server
            .get::<ConfigMap>(Some(NS), "huge-router-config")
            .unwrap()
            .is_none(),
        "nothing is applied for a policy that breaks the schema"
    );
    let c = wait_condition::<true>(&server, "pigeon", "Ready", "False", "UnreadableSpec").await;
    assert!(
        c["message"].as_str().unwrap().contains("spec.provider"),
        "{c}"
    );
    // The policy using it serves with the good endpoint and says which one it skipped.
    let c = wait_condition::<false>(
        &server,
        "uses-pigeon",
        "Resolved",
        "False",
        "InvalidEndpoint",
    )
    .await;
    assert!(
        c["message"].as_str().unwrap().contains(
            "ModelEndpoint \"pigeon\" is invalid (spec: cannot be decoded: spec.provider"
        ),
        "{c}"
    );
    let cm = wait_config_map(&server, "uses-pigeon").await;
    let config = &cm.data.unwrap()["router.yaml"];
    assert!(
        config.contains("m/small") && !config.contains("m/pigeon"),
        "{config}"
    );

    // Each hostile object got one Warning event.
    let events = server
        .wait_for_list::<Event>(Some(NS), WAIT, |evs| {
            ["telepathy", "wrong-type", "huge", "pigeon"]
                .iter()
                .all(|n| {
                    evs.iter()
                        .any(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(*n))
                })
        })
        .await
        .unwrap();
    for e in &events {
        let name = e.regarding.as_ref().and_then(|r| r.name.clone()).unwrap();
        if ["telepathy", "wrong-type", "huge", "pigeon"].contains(&name.as_str()) {
            assert_eq!(e.reason.as_deref(), Some("InvalidSpec"), "{e:?}");
            assert_eq!(e.type_.as_deref(), Some("Warning"), "{e:?}");
        }
    }

    // The watch is live: a policy created now is reconciled too.
    server.create(&policy("good-3", &["big"])).unwrap();
    wait_config_map(&server, "good-3").await;
    wait_condition::<false>(&server, "good-3", "Resolved", "True", "Resolved").await;

    // Settled: no hot loop around the hostile objects.
    assert_settles(&server, &op, Duration::from_millis(1500)).await;
    assert!(op.alive());
    op.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_api_is_retried_with_bounded_backoff_and_recovers() {
    let server = FakeApiServer::start().await.unwrap();
    seed_endpoints(&server);
    server.create(&policy("p", &["small"])).unwrap();
    // Every apply of a ConfigMap fails, and the first policy lists too.
    server.inject(
        Fault::status(500)
            .on(Verb::Patch, "configmaps")
            .times(100_000),
    );
    server.inject(
        Fault::status(500)
            .on(Verb::List, "routingpolicies")
            .times(3),
    );
    let op = start(&server);
    op.wait_metrics("three failed reconciles", |m| {
        m.error_count(ControllerKind::RoutingPolicy, ErrorCategory::ServerError) >= 3
    })
    .await;

    // Over a 3 s window, backoff (0.1 s doubling, capped at 0.4 s) allows about 9 tries; a
    // controller without backoff would make hundreds.
    let before = server.counters().requests(Verb::Patch, "configmaps");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let tries = server.counters().requests(Verb::Patch, "configmaps") - before;
    assert!((3..=12).contains(&tries), "{tries} apply attempts in 3 s");
    assert!(op.alive(), "the operator survives a failing API");
    let status = server.get::<PolicyView>(Some(NS), "p").unwrap().unwrap();
    assert!(
        status.status.is_none(),
        "nothing claimed while failing: {status:?}"
    );

    // The API recovers: so does the policy, within the capped backoff.
    server.clear_faults();
    wait_config_map(&server, "p").await;
    wait_condition::<false>(&server, "p", "Resolved", "True", "Resolved").await;
    assert!(server.counters().faults_triggered >= 3 + 3);
    op.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hung_calls_and_conflicts_on_status_writes_are_retried() {
    let server = FakeApiServer::start().await.unwrap();
    seed_endpoints(&server);
    server.create(&policy("p", &["small"])).unwrap();
    // The first status write hangs past the reconcile deadline (1 s), the next two conflict.
    server.inject(
        Fault::delay(Duration::from_secs(30))
            .on(Verb::Patch, "routingpolicies/status")
            .times(1),
    );
    server.inject(
        Fault::status(409)
            .on(Verb::Patch, "routingpolicies/status")
            .times(2),
    );
    let op = start(&server);
    wait_condition::<false>(&server, "p", "Resolved", "True", "Resolved").await;
    let m = &op.metrics;
    assert_eq!(
        m.error_count(ControllerKind::RoutingPolicy, ErrorCategory::Timeout),
        1
    );
    assert_eq!(
        m.error_count(ControllerKind::RoutingPolicy, ErrorCategory::Conflict),
        2
    );
    assert_eq!(server.faults_pending(), 0);
    assert_settles(&server, &op, Duration::from_millis(1000)).await;
    op.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_operator_changes_nothing() {
    let server = FakeApiServer::start().await.unwrap();
    seed_endpoints(&server);
    server.create(&policy("a", &["big", "small"])).unwrap();
    server.create(&policy("b", &["small"])).unwrap();
    let mut telepathy = policy_json("telepathy", &["small"]);
    telepathy["spec"]["strategy"] = json!("telepathy");
    server.create_json(telepathy).unwrap();

    let first = start(&server);
    for p in ["a", "b"] {
        wait_config_map(&server, p).await;
        wait_condition::<false>(&server, p, "Resolved", "True", "Resolved").await;
    }
    wait_condition::<false>(&server, "telepathy", "Resolved", "False", "UnreadableSpec").await;
    for e in ["big", "small"] {
        wait_condition::<true>(&server, e, "Ready", "True", "Valid").await;
    }
    assert_settles(&server, &first, Duration::from_millis(500)).await;
    first.shutdown().await;

    let before = server.counters();
    let objects = |s: &FakeApiServer| {
        (
            s.list::<ConfigMap>(Some(NS)).unwrap().len(),
            s.list::<Event>(Some(NS)).unwrap().len(),
            s.list::<k8s_openapi::api::apps::v1::Deployment>(Some(NS))
                .unwrap()
                .len(),
        )
    };
    let objects_before = objects(&server);

    // A fresh operator, no memory of the first: everything it knows comes from the cluster.
    let second = start(&server);
    second
        .wait_metrics("every object reconciled once", |m| {
            m.reconcile_count(ControllerKind::RoutingPolicy, Outcome::Success) >= 3
                && m.reconcile_count(ControllerKind::ModelEndpoint, Outcome::Success) >= 2
        })
        .await;
    assert_settles(&server, &second, Duration::from_millis(500)).await;
    let after = server.counters();
    assert_eq!(
        after.total_changes(),
        before.total_changes(),
        "the restart changed objects: {:?} -> {:?}",
        before.events,
        after.events
    );
    assert_eq!(
        objects(&server),
        objects_before,
        "no duplicates, no new events"
    );
    assert_eq!(
        second
            .metrics
            .status_patch_count(ControllerKind::RoutingPolicy),
        0
    );
    // It did re-apply every child (server-side apply is idempotent: no-op writes).
    assert!(after.noop_writes("deployments") > before.noop_writes("deployments"));
    second.shutdown().await;
}

/// `(apiGroup, resource, verb)`.
type Permission = (String, String, String);

fn group_of(resource: &str) -> &'static str {
    match resource.split('/').next().unwrap_or_default() {
        "configmaps" | "services" | "serviceaccounts" | "secrets" => "",
        "deployments" => "apps",
        "poddisruptionbudgets" => "policy",
        "horizontalpodautoscalers" => "autoscaling",
        "roles" | "rolebindings" => "rbac.authorization.k8s.io",
        "routingpolicies" | "modelendpoints" => "switchyard.dev",
        // The operator's recorder writes events.k8s.io Events only.
        "events" => "events.k8s.io",
        "leases" => "coordination.k8s.io",
        other => panic!("the operator called an unexpected resource {other}"),
    }
}

fn verb_of(v: Verb) -> &'static str {
    match v {
        Verb::Get => "get",
        Verb::List => "list",
        Verb::Watch => "watch",
        Verb::Create => "create",
        Verb::Update => "update",
        Verb::Patch => "patch",
        Verb::Delete => "delete",
        Verb::DeleteCollection => "deletecollection",
    }
}

fn permission(group: &str, resource: &str, verb: &str) -> Permission {
    (group.to_owned(), resource.to_owned(), verb.to_owned())
}

/// What the operator's ClusterRole in `manifests/install.yaml` grants.
fn granted() -> BTreeSet<Permission> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../manifests/install.yaml");
    let text = std::fs::read_to_string(path).unwrap();
    let docs: Vec<Value> = serde_saphyr::from_multiple(&text).unwrap();
    let roles: Vec<&Value> = docs.iter().filter(|d| d["kind"] == "ClusterRole").collect();
    assert_eq!(roles.len(), 1, "one ClusterRole in {path}");
    let mut out = BTreeSet::new();
    for rule in roles[0]["rules"].as_array().unwrap() {
        assert!(rule.get("resourceNames").is_none(), "{rule}");
        let list = |k: &str| -> Vec<String> {
            rule[k]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap().to_owned())
                .collect()
        };
        for g in list("apiGroups") {
            for r in list("resources") {
                for v in list("verbs") {
                    out.insert((g.clone(), r.clone(), v));
                }
            }
        }
    }
    out
}

/// Runs the operator through everything it does (children with PDB and HPA and their
/// removal, an endpoint probe reading its API-key Secret, invalid and undecodable objects,
/// events) and compares the API calls it made with the ClusterRole: nothing missing, and
/// nothing granted that it does not need.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cluster_role_grants_exactly_what_the_operator_uses() {
    let server = FakeApiServer::start().await.unwrap();
    let secret: Secret = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "keys", "namespace": NS},
        "data": {"KEY": "czNjcmV0"}
    }))
    .unwrap();
    server.create(&secret).unwrap();
    server
        .create(&endpoint(
            "big",
            json!({"apiKeySecretRef": {"name": "keys", "key": "KEY"},
                   "baseURL": "http://127.0.0.1:1/v1",
                   "healthCheck": {"enabled": true, "path": "/models", "interval": "1h"}}),
        ))
        .unwrap();
    server.create(&endpoint("small", json!({}))).unwrap();
    let mut scaled = policy_json("scaled", &["big", "small"]);
    scaled["spec"]["router"] =
        json!({"replicas": 3, "autoscaling": {"minReplicas": 2, "maxReplicas": 4}});
    server.create_json(scaled).unwrap();
    let mut telepathy = policy_json("telepathy", &["small"]);
    telepathy["spec"]["strategy"] = json!("telepathy");
    server.create_json(telepathy).unwrap();

    let op = start(&server);
    wait_condition::<false>(&server, "scaled", "Resolved", "True", "Resolved").await;
    for (api_version, plural) in [
        ("policy/v1", "poddisruptionbudgets"),
        ("autoscaling/v2", "horizontalpodautoscalers"),
    ] {
        assert!(
            server
                .get_json(api_version, plural, Some(NS), "scaled-router")
                .is_some(),
            "{plural}"
        );
    }
    wait_condition::<true>(&server, "big", "Reachable", "False", "ConnectError").await;
    wait_condition::<false>(&server, "telepathy", "Resolved", "False", "UnreadableSpec").await;

    // Scale down: the PDB and HPA are no longer wanted and get deleted.
    // Directly in the store, so that only the operator's own requests are counted.
    server
        .merge_patch::<RoutingPolicy>(
            Some(NS),
            "scaled",
            &json!({"spec": {"router": {"replicas": 1, "autoscaling": null}}}),
            false,
        )
        .unwrap();
    server
        .wait_for_list::<k8s_openapi::api::policy::v1::PodDisruptionBudget>(Some(NS), WAIT, |l| {
            l.is_empty()
        })
        .await
        .unwrap();
    server
        .wait_for_list::<k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler>(
            Some(NS),
            WAIT,
            |l| l.is_empty(),
        )
        .await
        .unwrap();
    op.shutdown().await;

    let mut used: BTreeSet<Permission> = server
        .counters()
        .requests
        .keys()
        .map(|(v, r)| permission(group_of(r), r, verb_of(*v)))
        .collect();
    // Server-side apply of an object that does not exist yet is authorized as `create`.
    let applied: Vec<Permission> = used
        .iter()
        .filter(|(_, r, v)| v == "patch" && !r.contains('/') && r != "events")
        .map(|(g, r, _)| permission(g, r, "create"))
        .collect();
    used.extend(applied);
    let mut needed = used.clone();
    // RBAC escalation prevention: the operator may only create the routers' Roles
    // (operator/src/build/rbac.rs) if it holds what they grant itself.
    for (resource, verbs) in [
        ("configmaps", &["get", "list", "watch", "patch"][..]),
        ("secrets", &["get", "list", "watch"][..]),
    ] {
        for v in verbs {
            needed.insert(permission("", resource, v));
        }
    }
    // kube's event recorder patches an event instead of posting a new one when the same
    // event repeats within its series window; not exercised here.
    needed.insert(permission("events.k8s.io", "events", "patch"));

    let granted = granted();
    let missing: Vec<_> = needed.difference(&granted).collect();
    let unused: Vec<_> = granted.difference(&needed).collect();
    assert!(missing.is_empty(), "the ClusterRole lacks {missing:?}");
    assert!(
        unused.is_empty(),
        "the ClusterRole grants more than needed: {unused:?}"
    );
    // Secrets are only ever read.
    assert!(
        used.iter()
            .filter(|(_, r, _)| r == "secrets")
            .all(|(_, _, v)| ["get", "list", "watch"].contains(&v.as_str())),
        "{used:?}"
    );
}

/// Leader election uses exactly the verbs its Role grants (charts/check_rendered.py holds
/// the same list and checks the rendered Role against it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leader_election_uses_get_create_and_update_on_its_lease() {
    use switchyard_operator::leader::{LeaderElector, LeaseConfig};
    let server = FakeApiServer::start().await.unwrap();
    let api = Api::namespaced(server.client().unwrap(), "switchyard-system");
    let mut elector = LeaderElector::new(api, LeaseConfig::new("switchyard-operator", "pod-a"));
    tokio::time::timeout(WAIT, elector.acquire()).await.unwrap();
    elector
        .try_acquire_or_renew(tokio::time::Instant::now())
        .await
        .unwrap();
    elector.release().await.unwrap();
    let used: BTreeSet<&str> = server
        .counters()
        .requests
        .keys()
        .filter(|(_, r)| r == "leases")
        .map(|(v, _)| verb_of(*v))
        .collect();
    assert_eq!(used, BTreeSet::from(["create", "get", "update"]));
}

/// Why the watches are lenient: with one undecodable object in the namespace, a plain typed
/// list fails as a whole (and a watcher would retry it for ever), while the lenient list
/// returns every object.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_undecodable_object_fails_a_typed_list_but_not_a_lenient_one() {
    use switchyard_operator::lenient::Lenient;
    let server = FakeApiServer::start().await.unwrap();
    server.create(&policy("good", &["small"])).unwrap();
    let mut telepathy = policy_json("telepathy", &["small"]);
    telepathy["spec"]["strategy"] = json!("telepathy");
    server.create_json(telepathy).unwrap();
    let client = server.client().unwrap();
    let typed = Api::<RoutingPolicy>::namespaced(client.clone(), NS)
        .list(&Default::default())
        .await;
    assert!(
        matches!(typed, Err(kube::Error::SerdeError(_))),
        "{typed:?}"
    );
    let lenient = Api::<Lenient<RoutingPolicy>>::namespaced(client, NS)
        .list(&Default::default())
        .await
        .unwrap();
    let parsed: Vec<bool> = lenient.items.iter().map(|o| o.parsed().is_some()).collect();
    assert_eq!(parsed, [true, false]);
}
