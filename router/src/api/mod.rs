//! The HTTP API: `fn app(state) -> axum::Router` with the OpenAI-compatible, NVIDIA-compatible
//! and Switchyard endpoints. Handlers stay thin: extract, call the domain functions, format.

mod chat;
mod info;
mod recommend;
mod ui;

pub use info::degraded_reasons;
pub use recommend::{decision_json, recommendation};

use std::pin::Pin;
use std::task::{Context, Poll};

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, FromRequest, Request, State};
use axum::http::{HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use bytes::Bytes;
use http_body::{Frame, SizeHint};
use http_body_util::{BodyExt, LengthLimitError, Limited};

use crate::error::ApiError;
use crate::state::{AppState, InflightGuard};

/// Builds the router's HTTP application.
pub fn app(state: AppState) -> Router {
    let api = Router::new()
        .route("/v1/chat/completions", post(chat::chat_completions))
        .route("/v1/route", post(recommend::route))
        .route("/route", post(recommend::toolkit_route))
        .route("/{policy}/chat/completions", post(recommend::recommend))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            inflight_limit,
        ));
    let ui_routes = if state.ui_enabled() {
        Router::new()
            .route("/ui", get(ui::index))
            .route("/ui/", get(ui::index_slash))
            .route("/ui/{file}", get(ui::asset))
    } else {
        Router::new()
    };
    Router::new()
        .merge(api)
        .merge(ui_routes)
        .route("/v1/models", get(info::models))
        .route("/healthz", get(info::healthz))
        .route("/health", get(info::health_v1))
        .route("/readyz", get(info::readyz))
        .route("/metrics", get(info::metrics))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::disable())
        .with_state(state)
}

/// An app serving only `/metrics` (for `--metrics-listen`).
pub fn metrics_app(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(info::metrics))
        .fallback(not_found)
        .with_state(state)
}

async fn not_found(req: Request) -> ApiError {
    ApiError::UnknownModel(format!(
        "no route for {} {}: see /v1/chat/completions, /v1/route, /v1/models",
        req.method(),
        req.uri().path()
    ))
}

async fn method_not_allowed(req: Request) -> Response {
    let mut r = ApiError::BadRequest(format!(
        "method {} is not allowed on {}",
        req.method(),
        req.uri().path()
    ))
    .into_response();
    *r.status_mut() = http::StatusCode::METHOD_NOT_ALLOWED;
    r
}

/// The request body, read up to `server.limits.maxBodyBytes` (413 beyond it).
pub struct LimitedBody(pub Bytes);

impl FromRequest<AppState> for LimitedBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let limit = state
            .snapshot()
            .map(|s| s.config.server.limits.max_body_bytes)
            .unwrap_or(switchyard_crds::config::Limits::default().max_body_bytes);
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        let too_large =
            || ApiError::TooLarge(format!("request body exceeds the limit of {limit} bytes"));
        if let Some(len) = req
            .headers()
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
            && len > limit as u64
        {
            return Err(too_large());
        }
        match Limited::new(req.into_body(), limit).collect().await {
            Ok(c) => Ok(Self(c.to_bytes())),
            Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => Err(too_large()),
            Err(e) => Err(ApiError::BadRequest(format!(
                "could not read the request body: {e}"
            ))),
        }
    }
}

/// Global in-flight limit (`server.limits.maxInflight`): 429 with Retry-After beyond it. The
/// count covers streamed bodies until their last byte.
async fn inflight_limit(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let max = state
        .snapshot()
        .map(|s| u64::from(s.config.server.limits.max_inflight))
        .unwrap_or(u64::MAX);
    let Some(guard) = InflightGuard::try_new(&state, max) else {
        return ApiError::Overloaded {
            message: format!("the router has {max} requests in flight, its limit; retry shortly"),
            retry_after_s: 1,
        }
        .into_response();
    };
    let resp = next.run(req).await;
    let (parts, body) = resp.into_parts();
    Response::from_parts(
        parts,
        Body::new(Guarded {
            inner: body,
            _guard: guard,
        }),
    )
}

struct Guarded {
    inner: Body,
    _guard: InflightGuard,
}

impl http_body::Body for Guarded {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Adds the `x-switchyard-*` headers of a routed response.
pub(crate) fn routed_headers(
    headers: &mut HeaderMap,
    policy: &str,
    model: &str,
    route: &str,
    decision_ms: f64,
) {
    let mut set = |name: &'static str, value: &str| {
        if let Ok(v) = HeaderValue::from_str(value) {
            headers.insert(name, v);
        }
    };
    set("x-switchyard-policy", policy);
    set("x-switchyard-model", model);
    set("x-switchyard-route", route);
    set("x-switchyard-decision-ms", &format!("{decision_ms:.3}"));
}
