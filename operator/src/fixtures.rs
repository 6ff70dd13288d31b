//! Test fixtures: sample objects, ready caches, and a mocked API server that hands each
//! request to the test so it can assert the exact method, URI, content type and body.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::Arc;
use std::time::Duration;

use http::{Request, Response};
use kube::client::Body;
use kube::runtime::reflector::{self, Store};
use kube::runtime::watcher;
use kube::{Client, Resource};
use serde_json::{Value, json};
use switchyard_crds::{ModelEndpoint, RoutingPolicy};

use crate::context::{Context, OperatorConfig, Stores};
use crate::index::RefIndex;
use crate::metrics::Metrics;

pub type Handle = tower_test::mock::Handle<Request<Body>, Response<Body>>;

pub fn mock_client() -> (Client, Handle) {
    let (svc, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    (Client::new(svc, "default"), handle)
}

pub fn store_of<K>(objs: Vec<K>) -> Store<K>
where
    K: Resource + Clone + std::fmt::Debug + Send + Sync + 'static,
    K::DynamicType: Default + Eq + std::hash::Hash + Clone,
{
    let (reader, mut writer) = reflector::store();
    writer.apply_watcher_event(&watcher::Event::Init);
    for o in objs {
        writer.apply_watcher_event(&watcher::Event::InitApply(o));
    }
    writer.apply_watcher_event(&watcher::Event::InitDone);
    reader
}

pub fn policy_yaml(name: &str, extra_router: &str) -> String {
    format!(
        r#"
apiVersion: switchyard.dev/v1alpha1
kind: RoutingPolicy
metadata: {{name: {name}, namespace: ai, uid: uid-{name}, generation: 1}}
spec:
  strategy: intent
  intent:
    routes:
      - name: hard
        description: Hard problems.
        endpoints: [big, small]
      - name: easy
        description: Chit-chat.
        endpoints: [small]
  router: {{{extra_router}}}
"#
    )
}

pub fn policy(name: &str, extra_router: &str) -> RoutingPolicy {
    serde_saphyr::from_str(&policy_yaml(name, extra_router)).expect("fixture policy")
}

pub fn endpoint(name: &str, secret: Option<&str>) -> ModelEndpoint {
    let key = secret
        .map(|s| format!("  apiKeySecretRef: {{name: {s}, key: KEY}}\n"))
        .unwrap_or_default();
    serde_saphyr::from_str(&format!(
        "apiVersion: switchyard.dev/v1alpha1\nkind: ModelEndpoint\nmetadata: {{name: {name}, namespace: ai, generation: 1}}\nspec:\n  model: m/{name}\n  baseURL: http://{name}.ai.svc:8000/v1\n{key}"
    ))
    .expect("fixture endpoint")
}

pub fn secret_meta(
    name: &str,
) -> kube::core::PartialObjectMeta<k8s_openapi::api::core::v1::Secret> {
    let mut m = kube::core::PartialObjectMeta::<k8s_openapi::api::core::v1::Secret>::default();
    m.metadata.name = Some(name.to_owned());
    m.metadata.namespace = Some("ai".to_owned());
    m
}

pub struct Caches {
    pub endpoints: Vec<ModelEndpoint>,
    pub secrets: Vec<&'static str>,
    pub pdbs: Vec<k8s_openapi::api::policy::v1::PodDisruptionBudget>,
    pub hpas: Vec<k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler>,
}

impl Default for Caches {
    fn default() -> Self {
        Self {
            endpoints: vec![endpoint("big", Some("keys")), endpoint("small", None)],
            secrets: vec!["keys"],
            pdbs: Vec::new(),
            hpas: Vec::new(),
        }
    }
}

pub fn context(client: Client, caches: Caches) -> Arc<Context> {
    let stores = Stores {
        endpoints: store_of(
            caches
                .endpoints
                .into_iter()
                .map(crate::lenient::Lenient::Parsed)
                .collect(),
        ),
        secrets: store_of(caches.secrets.into_iter().map(secret_meta).collect()),
        pdbs: store_of(caches.pdbs),
        hpas: store_of(caches.hpas),
        gates: Arc::new(crate::context::Gates::opened()),
    };
    let config = OperatorConfig {
        cache_timeout: Duration::from_secs(1),
        ..OperatorConfig::default()
    };
    Arc::new(Context::new(
        client,
        config,
        stores,
        Arc::new(RefIndex::default()),
        Arc::new(Metrics::new()),
        Some("test".to_owned()),
    ))
}

/// One request seen by the mocked API server.
pub struct Seen {
    pub method: String,
    pub uri: String,
    pub content_type: String,
    pub body: Value,
    send: tower_test::mock::SendResponse<Response<Body>>,
}

impl Seen {
    pub fn respond(self, status: u16, body: &Value) {
        self.send.send_response(
            Response::builder()
                .status(status)
                .header("content-type", "application/json")
                .body(Body::from(serde_json::to_vec(body).unwrap()))
                .unwrap(),
        );
    }

    /// Answers like the API server answers an apply: with the object (plus `extra` merged in).
    pub fn echo(self, extra: Value) {
        let mut obj = self.body.clone();
        merge(&mut obj, extra);
        self.respond(200, &obj);
    }

    /// Answers a status patch like the API server: the whole object with the patch applied.
    pub fn echo_onto<T: serde::Serialize>(self, obj: &T) {
        let mut full = serde_json::to_value(obj).unwrap();
        merge(&mut full, self.body.clone());
        self.respond(200, &full);
    }

    pub fn fail(self, code: u16, reason: &str) {
        self.respond(
            code,
            &json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                    "message": format!("fake {reason}"), "reason": reason, "code": code}),
        );
    }
}

/// JSON merge patch (RFC 7386): objects merge, `null` removes a field.
pub fn merge(a: &mut Value, b: Value) {
    match b {
        Value::Object(b) => {
            if !a.is_object() {
                *a = Value::Object(serde_json::Map::new());
            }
            if let Value::Object(a) = a {
                for (k, v) in b {
                    if v.is_null() {
                        a.remove(&k);
                    } else {
                        merge(a.entry(k).or_insert(Value::Null), v);
                    }
                }
            }
        }
        b => *a = b,
    }
}

pub async fn next(handle: &mut Handle) -> Seen {
    let (req, send) = tokio::time::timeout(Duration::from_secs(5), handle.next_request())
        .await
        .expect("timed out waiting for a request")
        .expect("client dropped");
    let method = req.method().to_string();
    let uri = req.uri().to_string();
    let content_type = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let bytes = req.into_body().collect_bytes().await.unwrap();
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or(Value::String(String::from_utf8_lossy(&bytes).into()))
    };
    Seen {
        method,
        uri,
        content_type,
        body,
        send,
    }
}

/// Asserts the next request is a server-side apply of `path` and returns it.
pub async fn expect_apply(handle: &mut Handle, path: &str) -> Seen {
    let seen = next(handle).await;
    assert_eq!(seen.method, "PATCH", "{}", seen.uri);
    assert_eq!(
        seen.uri,
        format!("{path}?&force=true&fieldManager=switchyard-operator"),
    );
    assert_eq!(seen.content_type, "application/apply-patch+yaml");
    seen
}
