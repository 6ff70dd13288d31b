//! Informational endpoints: `/v1/models` (needs a client key when every API request does),
//! `/healthz`, `/health` (NVIDIA v1), `/readyz` (ready
//! once a config is loaded and its classifiers are warm, with degraded reasons) and `/metrics`.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::state::{AppState, Snapshot};

/// `GET /v1/models`: policies as `switchyard/<name>`, then every served model id.
pub(super) async fn models(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Err(e) = crate::guard::authorize_any(&state, &headers) {
        return e.into_response();
    }
    let mut data = Vec::new();
    if let Some(snap) = state.snapshot() {
        for p in &snap.config.policies {
            data.push(json!({
                "id": format!("switchyard/{}", p.name),
                "object": "model",
                "created": 0,
                "owned_by": "switchyard",
            }));
        }
        let mut seen = std::collections::BTreeSet::new();
        for e in &snap.config.endpoints {
            if seen.insert(e.model.as_str()) {
                data.push(json!({
                    "id": e.model,
                    "object": "model",
                    "created": 0,
                    "owned_by": e.provider.as_str(),
                }));
            }
        }
    }
    Json(json!({"object": "list", "data": data})).into_response()
}

/// `GET /healthz`: the process is alive.
pub(super) async fn healthz() -> Response {
    Json(json!({"status": "ok"})).into_response()
}

/// `GET /health`: NVIDIA v1 router's liveness shape.
pub(super) async fn health_v1() -> Response {
    Json(json!({"status": "OK"})).into_response()
}

/// Problems worth reporting on `/readyz` for a loaded snapshot.
pub fn degraded_reasons(state: &AppState, snap: &Snapshot) -> Vec<String> {
    let mut out = snap.degraded.clone();
    for (name, p) in &snap.policies {
        if let Some(why) = p.classifier.degraded() {
            let line = format!("policy {name:?}: {why}");
            if !out.contains(&line) {
                out.push(line);
            }
        }
    }
    let secrets = state.secrets();
    for e in &snap.config.endpoints {
        if let Some(r) = &e.api_key
            && let Err(miss) = secrets.get(&e.namespace, r)
        {
            out.push(format!(
                "endpoint {:?}: API key Secret {:?} key {:?} is not available{}; proxying to \
                 it answers 503 (recommendations still work)",
                e.name, miss.secret, miss.key, miss.hint
            ));
        }
    }
    for p in state.auth_for(snap).problems() {
        out.push(p.clone());
    }
    let mut names: Vec<&String> = snap.policies.keys().collect();
    names.sort();
    for name in names {
        let engine = snap.policies[name].classifier.engine();
        if engine.starts_with("placeholder") {
            out.push(format!(
                "policy {name:?}: classifier engine {engine} is a placeholder until the ONNX \
                 engine lands"
            ));
        }
    }
    out
}

/// `GET /readyz`: 200 with details when serving, 503 before the first config is loaded.
pub(super) async fn readyz(State(state): State<AppState>) -> Response {
    let Some(snap) = state.snapshot() else {
        let body =
            json!({"ready": false, "reason": "no config loaded yet (or classifiers warming up)"});
        return (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response();
    };
    let mut policies: Vec<Value> = snap
        .config
        .policies
        .iter()
        .map(|p| {
            json!({
                "name": p.name,
                "strategy": p.strategy_name(),
                "mode": p.mode,
                "classifier": snap.policies.get(&p.name).map(|r| r.classifier.engine()),
            })
        })
        .collect();
    policies.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
    let circuits: Vec<Value> = {
        let mut names: Vec<&String> = snap.endpoints.keys().collect();
        names.sort();
        names
            .into_iter()
            .filter(|n| snap.is_open(n))
            .map(|n| json!(n))
            .collect()
    };
    let degraded = degraded_reasons(&state, &snap);
    Json(json!({
        "ready": true,
        "config_hash": snap.hash,
        "policies": policies,
        "endpoints": snap.config.endpoints.len(),
        "open_circuits": circuits,
        "degraded": degraded,
    }))
    .into_response()
}

/// `GET /metrics`: Prometheus text format.
pub(super) async fn metrics(State(state): State<AppState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics().encode(),
    )
        .into_response()
}
