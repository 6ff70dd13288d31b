//! CRUD semantics of the fake API server through a real kube-rs client: errors as
//! `kube::Error::Api` with the real reasons, server-side apply emulation, no-op writes,
//! the status subresource and generation, optimistic concurrency, garbage collection,
//! finalizers, optional CR validation and fault injection.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, DynamicObject};
use kube::{Resource, ResourceExt};
use serde_json::json;
use switchyard_crds::{ModelEndpoint, RoutingPolicy};
use switchyard_e2e::fakeapi::{EventType, FakeApiOptions, FakeApiServer, Fault, Verb};

fn cm(name: &str, data: &[(&str, &str)]) -> ConfigMap {
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(name.into()),
            labels: Some(BTreeMap::from([("app".into(), "switchyard".into())])),
            ..ObjectMeta::default()
        },
        data: Some(
            data.iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        ),
        ..ConfigMap::default()
    }
}

/// `(code, reason)` of an API error; anything else fails the test.
fn api_error<T: std::fmt::Debug>(r: Result<T, kube::Error>) -> (u16, String) {
    match r {
        Err(kube::Error::Api(s)) => (s.code, s.reason.clone()),
        other => panic!("expected an API error, got {other:?}"),
    }
}

fn policy(name: &str, route: &str) -> RoutingPolicy {
    serde_json::from_value(json!({
        "apiVersion": "switchyard.dev/v1alpha1", "kind": "RoutingPolicy",
        "metadata": {"name": name, "namespace": "ai"},
        "spec": {"strategy": "intent", "intent": {"defaultRoute": route, "routes": [
            {"name": route, "description": "anything", "examples": ["hello"], "endpoints": ["m"]}
        ]}},
        "status": {"observedGeneration": 99}
    }))
    .unwrap()
}

fn rv(meta: &ObjectMeta) -> u64 {
    meta.resource_version.as_deref().unwrap().parse().unwrap()
}

#[tokio::test]
async fn configmap_crud_maps_errors_like_the_real_server() {
    let server = FakeApiServer::start().await.unwrap();
    let client = server.client().unwrap();
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "ns1");
    let created = api
        .create(&PostParams::default(), &cm("a", &[("k", "v")]))
        .await
        .unwrap();
    assert!(created.metadata.uid.is_some());
    assert!(created.metadata.creation_timestamp.is_some());
    assert_eq!(created.metadata.namespace.as_deref(), Some("ns1"));
    assert_eq!(
        api_error(api.create(&PostParams::default(), &cm("a", &[])).await),
        (409, "AlreadyExists".into())
    );
    let got = api.get("a").await.unwrap();
    assert_eq!(got.data.unwrap()["k"], "v");
    api.create(&PostParams::default(), &cm("b", &[]))
        .await
        .unwrap();
    let other: Api<ConfigMap> = Api::namespaced(client.clone(), "ns2");
    other
        .create(&PostParams::default(), &cm("c", &[]))
        .await
        .unwrap();
    assert_eq!(
        api.list(&ListParams::default()).await.unwrap().items.len(),
        2
    );
    let all: Api<ConfigMap> = Api::all(client.clone());
    let listed = all.list(&ListParams::default()).await.unwrap();
    assert_eq!(listed.items.len(), 3);
    assert!(
        rv(&ObjectMeta {
            resource_version: listed.metadata.resource_version.clone(),
            ..ObjectMeta::default()
        }) >= rv(&created.metadata)
    );
    let by_name = all
        .list(&ListParams::default().fields("metadata.name=c"))
        .await
        .unwrap();
    assert_eq!(by_name.items[0].namespace().as_deref(), Some("ns2"));
    let none = all
        .list(&ListParams::default().labels("app notin (switchyard)"))
        .await
        .unwrap();
    assert!(none.items.is_empty());

    api.delete("a", &DeleteParams::default()).await.unwrap();
    assert_eq!(api_error(api.get("a").await), (404, "NotFound".into()));
    match api.delete("a", &DeleteParams::default()).await {
        Err(kube::Error::Api(s)) => {
            assert_eq!(s.message, "configmaps \"a\" not found");
            assert_eq!(s.details.unwrap().name, "a");
        }
        other => panic!("expected NotFound, got {other:?}"),
    }
    assert_eq!(
        server.counters().requests(Verb::Delete, "configmaps"),
        2,
        "both deletes are counted"
    );
}

#[tokio::test]
async fn server_side_apply_creates_then_merges_and_a_noop_apply_changes_nothing() {
    let server = FakeApiServer::start().await.unwrap();
    let api: Api<ConfigMap> = Api::namespaced(server.client().unwrap(), "default");
    let pp = PatchParams::apply("switchyard-test").force();
    let first = api
        .patch(
            "cfg",
            &pp,
            &Patch::Apply(json!({
                "apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "cfg", "labels": {"a": "1"}},
                "data": {"k1": "v1"}
            })),
        )
        .await
        .unwrap();
    let second_cfg = json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "cfg", "labels": {"b": "2"}},
        "data": {"k2": "v2"}
    });
    let second = api
        .patch("cfg", &pp, &Patch::Apply(&second_cfg))
        .await
        .unwrap();
    // Merged, not replaced (real SSA would drop fields this manager stopped applying).
    let data = second.data.clone().unwrap();
    assert_eq!((data["k1"].as_str(), data["k2"].as_str()), ("v1", "v2"));
    assert_eq!(second.labels().len(), 2);
    assert!(rv(&second.metadata) > rv(&first.metadata));
    assert_eq!(second.metadata.uid, first.metadata.uid);

    let before = server.counters();
    let third = api
        .patch("cfg", &pp, &Patch::Apply(&second_cfg))
        .await
        .unwrap();
    let merge_noop = api
        .patch(
            "cfg",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"k1": "v1"}})),
        )
        .await
        .unwrap();
    let after = server.counters();
    assert_eq!(
        third.metadata.resource_version,
        second.metadata.resource_version
    );
    assert_eq!(
        merge_noop.metadata.resource_version,
        second.metadata.resource_version
    );
    assert_eq!(after.changes("configmaps"), before.changes("configmaps"));
    assert_eq!(
        after.noop_writes("configmaps"),
        before.noop_writes("configmaps") + 2
    );
    assert_eq!(after.requests(Verb::Patch, "configmaps"), 4);
    assert_eq!(server.resource_version(), rv(&second.metadata));
}

#[tokio::test]
async fn status_subresource_is_isolated_and_generation_follows_the_spec() {
    let server = FakeApiServer::start().await.unwrap();
    let api: Api<RoutingPolicy> = Api::namespaced(server.client().unwrap(), "ai");
    let created = api
        .create(&PostParams::default(), &policy("p", "general"))
        .await
        .unwrap();
    assert!(created.status.is_none(), "status is dropped on create");
    assert_eq!(created.metadata.generation, Some(1));

    let with_status = api
        .patch_status(
            "p",
            &PatchParams::apply("op").force(),
            &Patch::Apply(json!({
                "apiVersion": "switchyard.dev/v1alpha1", "kind": "RoutingPolicy",
                "status": {"observedGeneration": 1, "readyReplicas": 2},
                "spec": {"strategy": "auto"}
            })),
        )
        .await
        .unwrap();
    let status = with_status.status.clone().unwrap();
    assert_eq!(status.observed_generation, Some(1));
    assert_eq!(
        with_status.spec, created.spec,
        "a status write leaves the spec alone"
    );
    assert_eq!(with_status.metadata.generation, Some(1));
    assert!(rv(&with_status.metadata) > rv(&created.metadata));

    // A main-resource write that only touches status is a no-op.
    let ignored = api
        .patch(
            "p",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"readyReplicas": 7}})),
        )
        .await
        .unwrap();
    assert_eq!(ignored.status.unwrap().ready_replicas, Some(2));
    assert_eq!(
        ignored.metadata.resource_version,
        with_status.metadata.resource_version
    );

    let labelled = api
        .patch(
            "p",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"team": "a"}}})),
        )
        .await
        .unwrap();
    assert_eq!(
        labelled.metadata.generation,
        Some(1),
        "metadata-only change"
    );
    assert!(rv(&labelled.metadata) > rv(&with_status.metadata));

    let mut changed = labelled.clone();
    changed.spec.intent.as_mut().unwrap().default_route = None;
    let replaced = api
        .replace("p", &PostParams::default(), &changed)
        .await
        .unwrap();
    assert_eq!(replaced.metadata.generation, Some(2));
    assert_eq!(replaced.status.unwrap().ready_replicas, Some(2));

    let counted = server.counters();
    assert_eq!(counted.requests(Verb::Patch, "routingpolicies/status"), 1);
    assert_eq!(counted.events("routingpolicies", EventType::Modified), 3);
}

#[tokio::test]
async fn lease_updates_are_conditional_on_the_resource_version() {
    let server = FakeApiServer::start().await.unwrap();
    let api: Api<Lease> = Api::namespaced(server.client().unwrap(), "ops");
    let lease: Lease = serde_json::from_value(json!({
        "metadata": {"name": "leader"},
        "spec": {"holderIdentity": "a", "leaseDurationSeconds": 15}
    }))
    .unwrap();
    let held = api.create(&PostParams::default(), &lease).await.unwrap();
    let mut by_b = held.clone();
    by_b.spec.as_mut().unwrap().holder_identity = Some("b".into());
    let taken = api
        .replace("leader", &PostParams::default(), &by_b)
        .await
        .unwrap();
    assert_eq!(taken.spec.unwrap().holder_identity.as_deref(), Some("b"));
    // `c` still holds the old resourceVersion: conflict, and nothing changes.
    let mut by_c = held.clone();
    by_c.spec.as_mut().unwrap().holder_identity = Some("c".into());
    assert_eq!(
        api_error(api.replace("leader", &PostParams::default(), &by_c).await),
        (409, "Conflict".into())
    );
    let stale_patch = api
        .patch(
            "leader",
            &PatchParams::default(),
            &Patch::Merge(
                json!({"metadata": {"resourceVersion": held.resource_version()},
                                 "spec": {"holderIdentity": "c"}}),
            ),
        )
        .await;
    assert_eq!(api_error(stale_patch), (409, "Conflict".into()));
    let now = server.get::<Lease>(Some("ops"), "leader").unwrap().unwrap();
    assert_eq!(now.spec.unwrap().holder_identity.as_deref(), Some("b"));
}

#[tokio::test]
async fn deleting_a_policy_collects_its_children_unless_orphaned() {
    let server = FakeApiServer::start().await.unwrap();
    let client = server.client().unwrap();
    let policies: Api<RoutingPolicy> = Api::namespaced(client.clone(), "ai");
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "ai");
    let owner = policies
        .create(&PostParams::default(), &policy("p", "general"))
        .await
        .unwrap();
    let owner_ref: OwnerReference = owner.controller_owner_ref(&()).unwrap();
    let mut child = cm("p-config", &[("config.json", "{}")]);
    child.metadata.owner_references = Some(vec![owner_ref.clone()]);
    cms.create(&PostParams::default(), &child).await.unwrap();
    let keep = policies
        .create(&PostParams::default(), &policy("q", "general"))
        .await
        .unwrap();
    let mut shared_child = cm("shared", &[]);
    shared_child.metadata.owner_references =
        Some(vec![owner_ref, keep.controller_owner_ref(&()).unwrap()]);
    cms.create(&PostParams::default(), &shared_child)
        .await
        .unwrap();

    policies
        .delete("p", &DeleteParams::default())
        .await
        .unwrap();
    assert_eq!(
        api_error(cms.get("p-config").await),
        (404, "NotFound".into())
    );
    let survivor = cms.get("shared").await.unwrap();
    assert_eq!(
        survivor.owner_references().len(),
        1,
        "dangling reference removed"
    );
    assert_eq!(
        server.counters().events("configmaps", EventType::Deleted),
        1
    );

    let mut orphan = cm("orphan", &[]);
    orphan.metadata.owner_references = Some(vec![keep.controller_owner_ref(&()).unwrap()]);
    cms.create(&PostParams::default(), &orphan).await.unwrap();
    policies.delete("q", &DeleteParams::orphan()).await.unwrap();
    let orphaned = cms.get("orphan").await.unwrap();
    assert!(orphaned.owner_references().is_empty());
    assert!(cms.get("shared").await.is_ok());
}

#[tokio::test]
async fn finalizers_hold_deletion_until_cleared() {
    let server = FakeApiServer::start().await.unwrap();
    let api: Api<ConfigMap> = Api::namespaced(server.client().unwrap(), "default");
    let mut obj = cm("held", &[]);
    obj.metadata.finalizers = Some(vec!["switchyard.dev/cleanup".into()]);
    api.create(&PostParams::default(), &obj).await.unwrap();
    api.delete("held", &DeleteParams::default()).await.unwrap();
    let marked = api.get("held").await.unwrap();
    assert!(marked.metadata.deletion_timestamp.is_some());
    let add = api
        .patch(
            "held",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"finalizers": ["switchyard.dev/cleanup", "x/y"]}})),
        )
        .await;
    assert_eq!(api_error(add), (422, "Invalid".into()));
    api.patch(
        "held",
        &PatchParams::default(),
        &Patch::Json::<()>(
            serde_json::from_value(json!([
                {"op": "remove", "path": "/metadata/finalizers"}
            ]))
            .unwrap(),
        ),
    )
    .await
    .unwrap();
    assert_eq!(api_error(api.get("held").await), (404, "NotFound".into()));
}

#[tokio::test]
async fn custom_resources_can_be_validated_against_their_schema() {
    let server = FakeApiServer::start_with(FakeApiOptions {
        validate_crs: true,
        ..FakeApiOptions::default()
    })
    .await
    .unwrap();
    let ar = ApiResource::erase::<ModelEndpoint>(&());
    let api: Api<DynamicObject> = Api::namespaced_with(server.client().unwrap(), "ai", &ar);
    let good: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "switchyard.dev/v1alpha1", "kind": "ModelEndpoint",
        "metadata": {"name": "good"},
        "spec": {"model": "m", "baseURL": "http://x:8000/v1"}
    }))
    .unwrap();
    api.create(&PostParams::default(), &good).await.unwrap();
    let bad: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "switchyard.dev/v1alpha1", "kind": "ModelEndpoint",
        "metadata": {"name": "bad"},
        "spec": {"model": "m", "baseURL": "http://x/v1", "colour": "blue", "provider": "anthropic"}
    }))
    .unwrap();
    match api.create(&PostParams::default(), &bad).await {
        Err(kube::Error::Api(s)) => {
            assert_eq!((s.code, s.reason.as_str()), (422, "Invalid"));
            assert!(
                s.message
                    .starts_with("ModelEndpoint.switchyard.dev \"bad\" is invalid"),
                "{}",
                s.message
            );
            let causes = s.details.unwrap().causes;
            assert!(
                causes.iter().any(|c| c.field == "spec.provider"),
                "{causes:?}"
            );
        }
        other => panic!("expected Invalid, got {other:?}"),
    }
    assert!(
        server
            .get_json(
                "switchyard.dev/v1alpha1",
                "modelendpoints",
                Some("ai"),
                "bad"
            )
            .is_none()
    );
}

#[tokio::test]
async fn injected_faults_answer_with_the_configured_status_then_stop() {
    let server = FakeApiServer::start().await.unwrap();
    let api: Api<ConfigMap> = Api::namespaced(server.client().unwrap(), "default");
    server.inject(Fault::status(500).on(Verb::Create, "configmaps").times(2));
    server.inject(Fault::status(403).on(Verb::Get, "configmaps"));
    for _ in 0..2 {
        assert_eq!(
            api_error(api.create(&PostParams::default(), &cm("f", &[])).await),
            (500, "InternalError".into())
        );
    }
    api.create(&PostParams::default(), &cm("f", &[]))
        .await
        .unwrap();
    assert_eq!(api_error(api.get("f").await), (403, "Forbidden".into()));
    assert!(api.get("f").await.is_ok());
    server.inject(
        Fault::delay(Duration::from_millis(200))
            .then_status(409)
            .on(Verb::Patch, "configmaps"),
    );
    let started = std::time::Instant::now();
    let conflict = api
        .patch(
            "f",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"a": "b"}})),
        )
        .await;
    assert_eq!(api_error(conflict), (409, "Conflict".into()));
    assert!(started.elapsed() >= Duration::from_millis(200));
    assert_eq!(server.faults_pending(), 0);
    assert_eq!(server.counters().faults_triggered, 4);
    assert!(
        server
            .get::<ConfigMap>(Some("default"), "f")
            .unwrap()
            .unwrap()
            .data
            .is_none_or(|d| d.is_empty())
    );
}
