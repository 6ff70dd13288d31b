//! Decision-only endpoints: `POST /v1/route` (Switchyard), `POST /route` (NVIDIA Model Router
//! Toolkit body and answer), and `POST /{policy}/chat/completions` (NVIDIA LLM Router v2: a
//! chat completion whose content is the chosen model's name).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use switchyard_crds::config::ResolvedStrategy;

use super::chat::POLICY_HEADER;
use super::{LimitedBody, routed_headers};
use crate::classify::ClassifyInput;
use crate::error::ApiError;
use crate::guard;
use crate::request::{
    Conversation, opt_str, opt_str_list, opt_unit, parse_chat, parse_messages, parse_object,
};
use crate::routing::{self, RouteOptions, Routed};
use crate::state::{AppState, PolicyRuntime, Snapshot};

/// Counts a decision answered by a decision-only endpoint in `switchyard_requests_total`, under
/// the endpoint it chose (`none` when nothing was eligible), as recommend-mode chat completions
/// are: the demo page's live panel and dashboards then show recommendations per model too.
fn count_decision(state: &AppState, policy: &str, routed: &Routed) {
    let endpoint = routed
        .decision
        .selected()
        .map_or("none", |c| c.endpoint.as_str());
    state
        .metrics()
        .request(policy, &routed.decision.route, endpoint, 200);
}

/// `?policy=` query of the decision endpoints.
#[derive(Debug, Default, Deserialize)]
pub(super) struct PolicyQuery {
    policy: Option<String>,
}

fn ready(state: &AppState) -> Result<std::sync::Arc<Snapshot>, ApiError> {
    state
        .snapshot()
        .ok_or_else(|| ApiError::Unavailable("the router has no config loaded yet".into()))
}

/// Picks the policy: the explicit one, else the only one, else the first `auto` policy (for the
/// toolkit, whose API has no policy), else an error listing them.
fn pick_policy<'a>(
    snap: &'a Snapshot,
    explicit: Option<&str>,
    prefer_auto: bool,
) -> Result<&'a PolicyRuntime, ApiError> {
    if let Some(name) = explicit {
        let name = name.strip_prefix("switchyard/").unwrap_or(name);
        return snap.policies.get(name).ok_or_else(|| {
            ApiError::UnknownPolicy(format!(
                "policy {name:?} does not exist; GET /v1/models lists them"
            ))
        });
    }
    if snap.policies.len() == 1
        && let Some(p) = snap.policies.values().next()
    {
        return Ok(p);
    }
    if prefer_auto
        && let Some(p) = snap
            .config
            .policies
            .iter()
            .find(|p| matches!(p.strategy, ResolvedStrategy::Auto(_)))
            .and_then(|p| snap.policies.get(&p.name))
    {
        return Ok(p);
    }
    let mut names: Vec<&str> = snap.policies.keys().map(String::as_str).collect();
    names.sort_unstable();
    Err(ApiError::BadRequest(format!(
        "policy is required when several are served: one of {}",
        names.join(", ")
    )))
}

/// Reads `messages` or a text field (`prompt`, `question`) as the conversation.
fn conversation(
    body: &Map<String, Value>,
    text_key: &str,
    snap: &Snapshot,
) -> Result<Conversation, ApiError> {
    if body.contains_key("messages") {
        return parse_messages(body.get("messages"), "messages", &snap.config.server.limits);
    }
    match opt_str(body, text_key, text_key)? {
        Some(t) if !t.trim().is_empty() => Ok(Conversation {
            est_tokens: (t.chars().count() as u64).div_ceil(4),
            input: ClassifyInput::from_prompt(&t),
            image_urls: Vec::new(),
        }),
        Some(_) => Err(ApiError::BadRequest(format!("{text_key} is empty"))),
        None => Err(ApiError::BadRequest(format!(
            "messages (chat messages) or {text_key} (text) is required"
        ))),
    }
}

/// The `/v1/route` answer for a decision.
pub fn decision_json(policy: &PolicyRuntime, routed: &Routed) -> Value {
    let d = &routed.decision;
    let selected = d.selected();
    let mut out = json!({
        "selected_model": selected.map(|c| c.model.clone()),
        "endpoint": selected.map(|c| c.endpoint.clone()),
        "policy": policy.policy.name,
        "strategy": d.strategy,
        "route": d.route,
        "candidates": d.candidates,
        "decision_ms": routed.decision_ms,
        "classifier": routed.engine,
    });
    if d.strategy == "intent" {
        out["intent"] = json!(d.route);
        out["confidence"] = json!(d.confidence);
    }
    if let Some(note) = d.note {
        out["note"] = json!(note);
    }
    out
}

fn with_headers(mut resp: Response, policy: &str, routed: &Routed) -> Response {
    let model = routed
        .decision
        .selected()
        .map(|c| c.model.as_str())
        .unwrap_or("");
    routed_headers(
        resp.headers_mut(),
        policy,
        model,
        &routed.decision.route,
        routed.decision_ms,
    );
    resp
}

/// `POST /v1/route`: `{messages | prompt, policy?, tolerance?, models?}` → the decision.
pub(super) async fn route(
    State(state): State<AppState>,
    Query(q): Query<PolicyQuery>,
    headers: HeaderMap,
    LimitedBody(bytes): LimitedBody,
) -> Result<Response, ApiError> {
    let snap = ready(&state)?;
    let body = parse_object(&bytes)?;
    let explicit = opt_str(&body, "policy", "policy")?
        .or(q.policy)
        .or_else(|| header_str(&headers, POLICY_HEADER));
    let policy = pick_policy(&snap, explicit.as_deref(), false)?;
    guard::authorize_policy(&state, &snap, &headers, &policy.policy.name)?;
    let conv = conversation(&body, "prompt", &snap)?;
    let opts = RouteOptions {
        tolerance: opt_unit(&body, "tolerance", "tolerance")?,
        models: opt_str_list(&body, "models", "models")?,
        est_tokens: conv.est_tokens,
        needs_tools: false,
    };
    let routed = routing::route(&state, &snap, policy, conv.input, &conv.image_urls, &opts).await?;
    count_decision(&state, &policy.policy.name, &routed);
    let body = decision_json(policy, &routed);
    Ok(with_headers(
        Json(body).into_response(),
        &policy.policy.name,
        &routed,
    ))
}

/// `POST /route` (NVIDIA Model Router Toolkit): `{messages | question, model, models,
/// tolerance}` → `{selected_model, model_names, confidences, costs, metadata: {route_ms}}`.
/// The policy comes from `?policy=`, the `x-switchyard-policy` header, the only policy, or the
/// first `auto` policy.
pub(super) async fn toolkit_route(
    State(state): State<AppState>,
    Query(q): Query<PolicyQuery>,
    headers: HeaderMap,
    LimitedBody(bytes): LimitedBody,
) -> Result<Response, ApiError> {
    let snap = ready(&state)?;
    let body = parse_object(&bytes)?;
    let explicit = q.policy.or_else(|| header_str(&headers, POLICY_HEADER));
    let policy = pick_policy(&snap, explicit.as_deref(), true)?;
    guard::authorize_policy(&state, &snap, &headers, &policy.policy.name)?;
    if let Some(model) = opt_str(&body, "model", "model")?.filter(|m| !m.is_empty()) {
        // Bypass: the caller already chose.
        let Some(ep) = snap
            .config
            .endpoints
            .iter()
            .find(|e| e.model == model || e.name == model)
        else {
            return Err(ApiError::UnknownModel(format!(
                "model {model:?} is not served here"
            )));
        };
        return Ok(Json(json!({
            "selected_model": ep.model,
            "model_names": [ep.model],
            "confidences": [1.0],
            "costs": [ep.cost.blended()],
            "metadata": {"route_ms": 0.0, "bypass": true},
        }))
        .into_response());
    }
    let conv = conversation(&body, "question", &snap)?;
    let opts = RouteOptions {
        tolerance: opt_unit(&body, "tolerance", "tolerance")?,
        models: opt_str_list(&body, "models", "models")?,
        est_tokens: conv.est_tokens,
        needs_tools: false,
    };
    let routed = routing::route(&state, &snap, policy, conv.input, &conv.image_urls, &opts).await?;
    count_decision(&state, &policy.policy.name, &routed);
    let eligible: Vec<_> = routed.decision.eligible().collect();
    let out = json!({
        "selected_model": routed.decision.selected().map(|c| c.model.clone()),
        "model_names": eligible.iter().map(|c| c.model.clone()).collect::<Vec<_>>(),
        "confidences": eligible.iter().map(|c| c.score.unwrap_or(0.0)).collect::<Vec<_>>(),
        "costs": eligible.iter().map(|c| c.cost).collect::<Vec<_>>(),
        "metadata": {
            "route_ms": routed.decision_ms,
            "policy": policy.policy.name,
            "route": routed.decision.route,
        },
    });
    Ok(with_headers(
        Json(out).into_response(),
        &policy.policy.name,
        &routed,
    ))
}

/// `POST /{policy}/chat/completions` (NVIDIA LLM Router v2): the recommendation as a chat
/// completion.
pub(super) async fn recommend(
    State(state): State<AppState>,
    Path(policy): Path<String>,
    headers: HeaderMap,
    LimitedBody(bytes): LimitedBody,
) -> Result<Response, ApiError> {
    let snap = ready(&state)?;
    let Some(p) = snap.policies.get(&policy) else {
        return Err(ApiError::UnknownPolicy(format!(
            "policy {policy:?} does not exist; GET /v1/models lists them"
        )));
    };
    guard::authorize_policy(&state, &snap, &headers, &policy)?;
    let req = parse_chat(&bytes, &snap.config.server.limits)?;
    let opts = RouteOptions {
        tolerance: req.ext.tolerance,
        models: req.ext.models.clone(),
        est_tokens: req.conversation.est_tokens,
        needs_tools: req.has_tools,
    };
    let routed = routing::route(
        &state,
        &snap,
        p,
        req.conversation.input,
        &req.conversation.image_urls,
        &opts,
    )
    .await?;
    count_decision(&state, &policy, &routed);
    Ok(recommendation(&policy, &routed, req.stream))
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// A chat completion whose content is the chosen model id (`model` = the policy, usage zero);
/// as one SSE chunk plus `[DONE]` when the client asked to stream.
pub fn recommendation(policy: &str, routed: &Routed, stream: bool) -> Response {
    let model = routed
        .decision
        .selected()
        .map(|c| c.model.clone())
        .unwrap_or_default();
    let created = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let id = format!(
        "chatcmpl-switchyard-{}",
        NEXT_ID.fetch_add(1, Ordering::Relaxed)
    );
    let usage = json!({"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0});
    let resp = if stream {
        let chunk = json!({
            "id": id, "object": "chat.completion.chunk", "created": created, "model": policy,
            "choices": [{"index": 0, "delta": {"role": "assistant", "content": model},
                         "finish_reason": "stop"}],
            "usage": usage,
        });
        let mut r = format!("data: {chunk}\n\ndata: [DONE]\n\n").into_response();
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/event-stream"),
        );
        r
    } else {
        Json(json!({
            "id": id, "object": "chat.completion", "created": created, "model": policy,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": model},
                         "finish_reason": "stop", "logprobs": null}],
            "usage": usage,
        }))
        .into_response()
    };
    with_headers(resp, policy, routed)
}

fn header_str(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}
