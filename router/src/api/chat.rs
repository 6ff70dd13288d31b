//! `POST /v1/chat/completions`: pick the policy (or a concrete model), route, then proxy or
//! recommend. Also serves NVIDIA's v1 `nim-llm-router` body extension with its error shape and
//! the `X-Chosen-Classifier` header.

use std::borrow::Cow;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use switchyard_crds::policy::Mode;
use tracing::Instrument;

use super::recommend::recommendation;
use super::{read_limited, routed_headers_for};
use crate::decide::decide_manual;
use crate::error::ApiError;
use crate::guard;
use crate::request::{ChatRequest, parse_chat};
use crate::routing::{self, RouteOptions, decide_error};
use crate::state::{AppState, Snapshot};
use crate::upstream::endpoint::EndpointRuntime;
use crate::upstream::proxy::{self, manual_fallback};

/// Header naming the policy, as an alternative to the `model` field.
pub const POLICY_HEADER: &str = "x-switchyard-policy";

/// What the request asks to be routed by.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Target {
    /// Route with this policy.
    Policy(String),
    /// Send to the endpoints serving this model id or endpoint name.
    Manual(String),
}

/// Labels for the request metric, filled in as the request progresses (`none` until then).
struct Labels {
    policy: Cow<'static, str>,
    route: Cow<'static, str>,
    /// The endpoint that answered, when one did ...
    endpoint: Option<Arc<EndpointRuntime>>,
    /// ... else the one chosen (recommendations), or `none`.
    model: Cow<'static, str>,
}

impl Default for Labels {
    fn default() -> Self {
        Self {
            policy: Cow::Borrowed("none"),
            route: Cow::Borrowed("none"),
            endpoint: None,
            model: Cow::Borrowed("none"),
        }
    }
}

impl Labels {
    fn model(&self) -> &str {
        self.endpoint.as_ref().map_or(&self.model, |e| &e.def.name)
    }
}

pub(super) async fn chat_completions(State(state): State<AppState>, req: Request) -> Response {
    // The headers are taken from the request rather than extracted (which copies them).
    let (parts, body) = req.into_parts();
    let headers = parts.headers;
    let snap = state.snapshot();
    let bytes = match read_limited(snap.as_deref(), &headers, body).await {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    // At debug level: an enabled span per request costs more CPU than routing it does.
    let span = tracing::debug_span!(
        "chat",
        policy = tracing::field::Empty,
        route = tracing::field::Empty,
        model = tracing::field::Empty,
    );
    let mut labels = Labels::default();
    let resp = async {
        let Some(snap) = snap else {
            return ApiError::Unavailable("the router has no config loaded yet".into())
                .into_response();
        };
        let req = match parse_chat(&bytes, &snap.config.server.limits) {
            Ok(r) => r,
            Err(e) if has_nim_extension(&bytes) => return e.into_nvidia_v1(),
            Err(e) => return e.into_response(),
        };
        if req.nim.is_some() {
            return match nim_v1(&state, &snap, &headers, req, &mut labels).await {
                Ok(r) => r,
                Err(e) => e.into_nvidia_v1(),
            };
        }
        match native(&state, &snap, &headers, req, &mut labels).await {
            Ok(r) => r,
            Err(e) => e.into_response(),
        }
    }
    .instrument(span.clone())
    .await;
    span.record("policy", &*labels.policy);
    span.record("route", &*labels.route);
    span.record("model", labels.model());
    let status = resp.status().as_u16();
    match &labels.endpoint {
        // The endpoint keeps its series: no label lookup per request.
        Some(rt) => rt.series.request(
            state.metrics(),
            &labels.policy,
            &labels.route,
            &rt.def.name,
            status,
        ),
        None => state
            .metrics()
            .request(&labels.policy, &labels.route, &labels.model, status),
    }
    tracing::debug!(parent: &span, status, "chat request done");
    resp
}

fn has_nim_extension(bytes: &[u8]) -> bool {
    serde_json::from_slice::<Value>(bytes)
        .ok()
        .is_some_and(|v| v.get("nim-llm-router").is_some())
}

/// Chooses the policy or concrete model a native request asks for.
pub(crate) fn select_target(
    snap: &Snapshot,
    req: &ChatRequest,
    headers: &HeaderMap,
) -> Result<Target, ApiError> {
    let header_policy = headers
        .get(POLICY_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    if let Some(p) = req.ext.policy.clone().or(header_policy) {
        return policy_named(snap, &p);
    }
    match req.model.as_deref() {
        Some(m) => {
            if let Some(p) = m.strip_prefix("switchyard/") {
                policy_named(snap, p)
            } else if snap.policies.contains_key(m) {
                Ok(Target::Policy(m.to_owned()))
            } else if snap.serves_model(m) {
                Ok(Target::Manual(m.to_owned()))
            } else {
                Err(ApiError::UnknownModel(format!(
                    "model {m:?} is neither a policy (switchyard/<policy>) nor a model served \
                     here; GET /v1/models lists both"
                )))
            }
        }
        None if snap.policies.len() == 1 => Ok(Target::Policy(
            snap.policies.keys().next().cloned().unwrap_or_default(),
        )),
        None => Err(ApiError::BadRequest(
            "model is required: switchyard/<policy> or a served model id (GET /v1/models)".into(),
        )),
    }
}

fn policy_named(snap: &Snapshot, name: &str) -> Result<Target, ApiError> {
    if snap.policies.contains_key(name) {
        Ok(Target::Policy(name.to_owned()))
    } else {
        let mut known: Vec<&str> = snap.policies.keys().map(String::as_str).collect();
        known.sort_unstable();
        Err(ApiError::UnknownPolicy(format!(
            "policy {name:?} does not exist; served policies: {}",
            known.join(", ")
        )))
    }
}

async fn native(
    state: &AppState,
    snap: &Snapshot,
    headers: &HeaderMap,
    req: ChatRequest,
    labels: &mut Labels,
) -> Result<Response, ApiError> {
    match select_target(snap, &req, headers)? {
        Target::Manual(model) => {
            guard::authorize_model(state, snap, headers, &model)?;
            labels.route = Cow::Borrowed("manual");
            let decision =
                decide_manual(&snap.config, &model, &|e| snap.is_open(e)).map_err(decide_error)?;
            let p = proxy::forward(state, snap, "none", manual_fallback(), &decision, &req).await?;
            labels.endpoint = Some(Arc::clone(&p.endpoint));
            let mut resp = p.response;
            routed_headers_for(
                resp.headers_mut(),
                "none",
                p.endpoint.model_header.clone(),
                "manual",
                0.0,
            );
            Ok(resp)
        }
        Target::Policy(name) => {
            let Some(policy) = snap.policies.get(&name) else {
                return Err(ApiError::UnknownPolicy(format!(
                    "policy {name:?} does not exist"
                )));
            };
            guard::authorize_policy(state, snap, headers, &name)?;
            labels.policy = Cow::Owned(name.clone());
            let opts = RouteOptions {
                tolerance: req.ext.tolerance,
                models: req.ext.models.clone(),
                est_tokens: req.conversation.est_tokens,
                needs_tools: req.has_tools,
            };
            let routed = routing::route(
                state,
                snap,
                policy,
                req.conversation.input.clone(),
                &req.conversation.image_urls,
                &opts,
            )
            .await?;
            labels.route = Cow::Owned(routed.decision.route.clone());
            let mode = req.ext.mode.unwrap_or(policy.policy.mode);
            if mode == Mode::Recommend {
                labels.model = routed
                    .decision
                    .selected()
                    .map_or(Cow::Borrowed("none"), |c| Cow::Owned(c.endpoint.clone()));
                return Ok(recommendation(&name, &routed, req.stream));
            }
            let p = proxy::forward(
                state,
                snap,
                &name,
                &policy.policy.fallback,
                &routed.decision,
                &req,
            )
            .await?;
            labels.endpoint = Some(Arc::clone(&p.endpoint));
            let mut resp = p.response;
            routed_headers_for(
                resp.headers_mut(),
                &name,
                p.endpoint.model_header.clone(),
                &routed.decision.route,
                routed.decision_ms,
            );
            Ok(resp)
        }
    }
}

/// NVIDIA LLM Router v1: `"nim-llm-router": {"policy", "routing_strategy", "model"}`.
async fn nim_v1(
    state: &AppState,
    snap: &Snapshot,
    headers: &HeaderMap,
    mut req: ChatRequest,
    labels: &mut Labels,
) -> Result<Response, ApiError> {
    let ext = req.nim.take().unwrap_or(Value::Null);
    let Value::Object(ext) = ext else {
        return Err(ApiError::BadRequest(
            "nim-llm-router must be an object with policy and routing_strategy".into(),
        ));
    };
    let Some(name) = ext.get("policy").and_then(Value::as_str) else {
        return Err(ApiError::BadRequest(
            "nim-llm-router.policy is required (a string)".into(),
        ));
    };
    let Some(policy) = snap.policies.get(name) else {
        return Err(ApiError::UnknownPolicy(format!(
            "policy {name:?} not found"
        )));
    };
    guard::authorize_policy(state, snap, headers, name)?;
    labels.policy = Cow::Owned(name.to_owned());
    let strategy = ext
        .get("routing_strategy")
        .and_then(Value::as_str)
        .unwrap_or("triton");
    match strategy {
        "manual" => {
            let Some(model) = ext.get("model").and_then(Value::as_str) else {
                return Err(ApiError::BadRequest(
                    "nim-llm-router.model is required with routing_strategy manual".into(),
                ));
            };
            let names = policy.policy.endpoint_names();
            let known =
                snap.config.endpoints.iter().any(|e| {
                    names.contains(&e.name.as_str()) && (e.name == model || e.model == model)
                });
            if !known {
                return Err(ApiError::BadRequest(format!(
                    "nim-llm-router.model {model:?} is not an LLM of policy {name:?}"
                )));
            }
            labels.route = Cow::Borrowed("manual");
            let decision =
                decide_manual(&snap.config, model, &|e| snap.is_open(e)).map_err(decide_error)?;
            let p =
                proxy::forward(state, snap, name, &policy.policy.fallback, &decision, &req).await?;
            labels.endpoint = Some(Arc::clone(&p.endpoint));
            let mut resp = p.response;
            routed_headers_for(
                resp.headers_mut(),
                name,
                p.endpoint.model_header.clone(),
                "manual",
                0.0,
            );
            Ok(resp)
        }
        "triton" => {
            let opts = RouteOptions {
                est_tokens: req.conversation.est_tokens,
                needs_tools: req.has_tools,
                ..RouteOptions::default()
            };
            let routed = routing::route(
                state,
                snap,
                policy,
                req.conversation.input.clone(),
                &req.conversation.image_urls,
                &opts,
            )
            .await?;
            labels.route = Cow::Owned(routed.decision.route.clone());
            let p = proxy::forward(
                state,
                snap,
                name,
                &policy.policy.fallback,
                &routed.decision,
                &req,
            )
            .await?;
            labels.endpoint = Some(Arc::clone(&p.endpoint));
            let mut resp = p.response;
            routed_headers_for(
                resp.headers_mut(),
                name,
                p.endpoint.model_header.clone(),
                &routed.decision.route,
                routed.decision_ms,
            );
            if let Ok(v) = HeaderValue::from_str(&routed.decision.route) {
                resp.headers_mut().insert("x-chosen-classifier", v);
            }
            Ok(resp)
        }
        other => Err(ApiError::BadRequest(format!(
            "nim-llm-router.routing_strategy {other:?} is not supported: use triton or manual"
        ))),
    }
}
