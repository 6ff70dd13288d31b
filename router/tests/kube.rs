//! In-cluster mode against a minimal fake Kubernetes API (list + watch of ConfigMaps and
//! Secrets): the config comes from the ConfigMap, keys from the referenced Secret, and edits to
//! either serve within 2 s without a restart. Watches use `metadata.name` field selectors.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};
use support::{Fakes, Harness, chat, wait_for};
use switchyard_router::config::kube::{KubeSource, run};
use switchyard_router::config::{self, Source};
use switchyard_router::secrets::SecretStore;
use switchyard_router::{AppState, RuntimeOptions};
use tokio::sync::broadcast;

#[derive(Clone)]
struct FakeApi {
    objects: Arc<Mutex<HashMap<(String, String), Value>>>,
    events: broadcast::Sender<(String, Value)>,
    queries: Arc<Mutex<Vec<String>>>,
}

impl FakeApi {
    fn put(&self, plural: &str, obj: Value) {
        let name = obj["metadata"]["name"].as_str().unwrap().to_owned();
        let existed = self
            .objects
            .lock()
            .unwrap()
            .insert((plural.to_owned(), name), obj.clone())
            .is_some();
        let kind = if existed { "MODIFIED" } else { "ADDED" };
        let _ = self
            .events
            .send((plural.to_owned(), json!({"type": kind, "object": obj})));
    }
}

fn name_from(query: &str) -> String {
    query
        .split('&')
        .find_map(|kv| kv.strip_prefix("fieldSelector="))
        .map(|v| v.replace("%3D", "=").replace("%3d", "="))
        .and_then(|v| v.strip_prefix("metadata.name=").map(str::to_owned))
        .unwrap_or_default()
}

async fn list_or_watch(
    State(api): State<FakeApi>,
    Path((_ns, plural)): Path<(String, String)>,
    RawQuery(q): RawQuery,
) -> Response {
    let q = q.unwrap_or_default();
    api.queries.lock().unwrap().push(format!("{plural}?{q}"));
    let name = name_from(&q);
    if q.contains("watch=true") || q.contains("watch=1") {
        let rx = api.events.subscribe();
        let stream =
            futures::stream::unfold((rx, plural, name), |(mut rx, plural, name)| async move {
                loop {
                    match rx.recv().await {
                        Ok((p, ev))
                            if p == plural && ev["object"]["metadata"]["name"] == name.as_str() =>
                        {
                            let line = format!("{ev}\n");
                            return Some((Ok::<_, std::io::Error>(line), (rx, plural, name)));
                        }
                        Ok(_) => continue,
                        Err(_) => return None,
                    }
                }
            });
        return Response::new(Body::from_stream(stream));
    }
    let items: Vec<Value> = api
        .objects
        .lock()
        .unwrap()
        .iter()
        .filter(|((p, n), _)| *p == plural && *n == name)
        .map(|(_, v)| v.clone())
        .collect();
    let kind = if plural == "secrets" {
        "SecretList"
    } else {
        "ConfigMapList"
    };
    axum::Json(json!({"apiVersion": "v1", "kind": kind, "metadata": {"resourceVersion": "1"}, "items": items}))
        .into_response()
}

fn configmap(config_yaml: &str, rv: u32) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap",
           "metadata": {"name": "router-p", "namespace": "default", "resourceVersion": rv.to_string()},
           "data": {"router.yaml": config_yaml}})
}

fn secret(key: &str, rv: u32) -> Value {
    json!({"apiVersion": "v1", "kind": "Secret",
           "metadata": {"name": "keys", "namespace": "default", "resourceVersion": rv.to_string()},
           "stringData": {"A_KEY": key}})
}

#[tokio::test]
async fn configmap_and_secret_changes_serve_without_a_restart() {
    let f = Fakes::start().await;
    // The resolved config the operator would write, from the same manifests.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("manifests.yaml");
    std::fs::write(&file, f.yaml("", "")).unwrap();
    let resolved = config::load(&Source::Files(vec![file])).unwrap().config;
    let v1 = resolved.to_yaml().unwrap();
    let mut renamed = resolved.clone();
    renamed.policies[0].name = "p2".into();
    let v2 = renamed.to_yaml().unwrap();

    let (events, _) = broadcast::channel(64);
    let api = FakeApi {
        objects: Arc::default(),
        events,
        queries: Arc::default(),
    };
    api.put("configmaps", configmap(&v1, 1));
    api.put("secrets", secret("sk-1", 1));
    let app = Router::new()
        .route("/api/v1/namespaces/{ns}/{plural}", get(list_or_watch))
        .with_state(api.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    let options = RuntimeOptions {
        factory: std::sync::Arc::new(switchyard_router::classify::KeywordFactory),
        ..RuntimeOptions::default()
    };
    let state = AppState::new(options, SecretStore::empty(false)).unwrap();
    let kcfg = kube::Config::new(format!("http://{addr}").parse().unwrap());
    let client = kube::Client::try_from(kcfg).unwrap();
    let watcher = tokio::spawn(run(
        state.clone(),
        client,
        KubeSource {
            configmap: "router-p".into(),
            namespace: "default".into(),
            reporter: None,
        },
    ));
    let h = Harness {
        state: state.clone(),
        dir: tempfile::tempdir().unwrap(),
        file: "unused".into(),
    };
    let key_seen = |expected: &'static str| {
        let state = state.clone();
        move || {
            let state = state.clone();
            async move {
                let r = switchyard_crds::SecretKeyRef {
                    name: "keys".into(),
                    key: "A_KEY".into(),
                };
                state.secrets().get("default", &r).ok().as_deref() == Some(expected)
            }
        }
    };
    assert!(
        wait_for(Duration::from_secs(5), || async {
            state.snapshot().is_some()
        })
        .await
    );
    assert!(wait_for(Duration::from_secs(5), key_seen("sk-1")).await);
    let r = h
        .call("POST", "/v1/chat/completions", Some(chat("hello there")))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        f.a.requests().last().unwrap().headers["authorization"],
        "Bearer sk-1"
    );

    api.put("secrets", secret("sk-2", 2));
    assert!(
        wait_for(Duration::from_secs(2), key_seen("sk-2")).await,
        "rotated key not served"
    );
    let r = h
        .call("POST", "/v1/chat/completions", Some(chat("hello there")))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        f.a.requests().last().unwrap().headers["authorization"],
        "Bearer sk-2"
    );

    api.put("configmaps", configmap(&v2, 2));
    let renamed_seen = wait_for(Duration::from_secs(2), || async {
        state
            .snapshot()
            .is_some_and(|s| s.policies.contains_key("p2"))
    })
    .await;
    assert!(renamed_seen, "ConfigMap change not served");

    api.put("configmaps", configmap("not: [a, config", 3));
    assert!(
        wait_for(Duration::from_secs(2), || async {
            state.metrics().reload_count(false) == 1
        })
        .await
    );
    assert!(
        state.snapshot().unwrap().policies.contains_key("p2"),
        "old config keeps serving"
    );

    let queries = api.queries.lock().unwrap().clone();
    assert!(
        queries
            .iter()
            .all(|q| q.contains("fieldSelector=metadata.name")),
        "{queries:?}"
    );
    assert!(
        queries
            .iter()
            .any(|q| q.starts_with("secrets?") && q.contains("watch=true")),
        "{queries:?}"
    );
    watcher.abort();
    server.abort();
}
