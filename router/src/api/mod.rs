//! The HTTP API: `fn app(state) -> axum::Router` with the OpenAI-compatible, NVIDIA-compatible
//! and Switchyard endpoints. Handlers stay thin: extract, call the domain functions, format.

mod chat;
mod info;
pub mod openapi;
mod recommend;
mod ui;

pub use info::degraded_reasons;
pub use recommend::{decision_json, recommendation};

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, FromRequest, Request, State};
use axum::handler::Handler;
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use bytes::Bytes;
use http_body::{Frame, SizeHint};
use http_body_util::{BodyExt, LengthLimitError, Limited};

use crate::error::ApiError;
use crate::state::{AppState, InflightGuard, Snapshot};

/// Builds the router's HTTP application.
pub fn app(state: AppState) -> Router {
    // Every API route is `admitted`: the admission checks (header size, client key, in-flight
    // limit) run in the handler itself rather than in middleware layers, which axum boxes and
    // clones on every request at a cost above that of the proxying itself. (No
    // `DefaultBodyLimit` either: these handlers read bodies with `read_limited`.)
    let api = Router::new()
        .route(
            "/v1/chat/completions",
            post(admitted(chat::chat_completions)),
        )
        .route("/v1/route", post(admitted(recommend::route)))
        .route("/route", post(admitted(recommend::toolkit_route)))
        .route(
            "/{policy}/chat/completions",
            post(admitted(recommend::recommend)),
        )
        .method_not_allowed_fallback(api_method_not_allowed);
    let ui_routes = if state.ui_enabled() {
        Router::new()
            .route("/ui", get(ui::index))
            .route("/ui/", get(ui::index_slash))
            .route("/ui/{file}", get(ui::asset))
    } else {
        Router::new()
    };
    let rest = Router::new()
        .merge(ui_routes)
        .route("/v1/models", get(info::models))
        .route("/openapi.json", get(openapi::serve))
        .route("/healthz", get(info::healthz))
        .route("/health", get(info::health_v1))
        .route("/readyz", get(info::readyz))
        .route("/metrics", get(info::metrics))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::disable())
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::guard::header_limit,
        ));
    Router::new().merge(api).merge(rest).with_state(state)
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

/// [`method_not_allowed`] on the API routes, after the header-size check the rest of the app
/// gets from its layer.
async fn api_method_not_allowed(State(state): State<AppState>, req: Request) -> Response {
    if let Err(refused) = crate::guard::check_header_size(&state, req.headers()) {
        return refused.into_response();
    }
    method_not_allowed(req).await
}

/// The request body, read up to `server.limits.maxBodyBytes` (413 beyond it).
pub struct LimitedBody(pub Bytes);

impl FromRequest<AppState> for LimitedBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let (parts, body) = req.into_parts();
        read_limited(state.snapshot().as_deref(), &parts.headers, body)
            .await
            .map(Self)
    }
}

/// Reads a request body up to the limit of `snap`'s config (the default limit without one).
pub(crate) async fn read_limited(
    snap: Option<&Snapshot>,
    headers: &HeaderMap,
    body: Body,
) -> Result<Bytes, ApiError> {
    let limit = snap
        .map(|s| s.config.server.limits.max_body_bytes)
        .unwrap_or(switchyard_crds::config::Limits::default().max_body_bytes);
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let too_large =
        || ApiError::TooLarge(format!("request body exceeds the limit of {limit} bytes"));
    if let Some(len) = headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        && len > limit as u64
    {
        return Err(too_large());
    }
    match Limited::new(body, limit).collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => Err(too_large()),
        Err(e) => Err(ApiError::BadRequest(format!(
            "could not read the request body: {e}"
        ))),
    }
}

/// `handler` behind the admission checks of every API request, in order: the size of its
/// headers ([`crate::guard::header_limit`]), its client key when every request needs one
/// ([`crate::guard::require_key`]), then the global in-flight limit
/// (`server.limits.maxInflight`): 429 with Retry-After beyond it. The in-flight count covers
/// streamed bodies until their last byte.
fn admitted<H, T>(
    handler: H,
) -> impl FnOnce(State<AppState>, Request) -> Pin<Box<dyn Future<Output = Response> + Send>>
+ Clone
+ Send
+ Sync
+ 'static
where
    H: Handler<T, AppState>,
    T: 'static,
{
    move |State(state): State<AppState>, req: Request| {
        Box::pin(async move {
            let guard = match admit(&state, req.headers()) {
                Ok(g) => g,
                Err(refused) => return refused.into_response(),
            };
            let (parts, body) = handler.call(req, state).await.into_parts();
            Response::from_parts(
                parts,
                Body::new(Guarded {
                    inner: body,
                    _guard: guard,
                }),
            )
        })
    }
}

fn admit(state: &AppState, headers: &HeaderMap) -> Result<InflightGuard, ApiError> {
    crate::guard::check_header_size(state, headers)?;
    crate::guard::check_any_key(state, headers)?;
    let max = state
        .snapshot()
        .map(|s| u64::from(s.config.server.limits.max_inflight))
        .unwrap_or(u64::MAX);
    InflightGuard::try_new(state, max).ok_or_else(|| {
        state.metrics().reject("overloaded");
        ApiError::Overloaded {
            message: format!("the router has {max} requests in flight, its limit; retry shortly"),
            retry_after_s: 1,
        }
    })
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

const POLICY: HeaderName = HeaderName::from_static("x-switchyard-policy");
const MODEL: HeaderName = HeaderName::from_static("x-switchyard-model");
const ROUTE: HeaderName = HeaderName::from_static("x-switchyard-route");
const DECISION_MS: HeaderName = HeaderName::from_static("x-switchyard-decision-ms");

/// Adds the `x-switchyard-*` headers of a routed response.
pub(crate) fn routed_headers(
    headers: &mut HeaderMap,
    policy: &str,
    model: &str,
    route: &str,
    decision_ms: f64,
) {
    let model = HeaderValue::from_str(model).ok();
    routed_headers_for(headers, policy, model, route, decision_ms);
}

/// [`routed_headers`] with the model's header value already made (endpoints keep theirs).
pub(crate) fn routed_headers_for(
    headers: &mut HeaderMap,
    policy: &str,
    model: Option<HeaderValue>,
    route: &str,
    decision_ms: f64,
) {
    // The common values need no allocation.
    let value = |v: &str| match v {
        "none" => Some(HeaderValue::from_static("none")),
        "manual" => Some(HeaderValue::from_static("manual")),
        _ => HeaderValue::from_str(v).ok(),
    };
    if let Some(v) = value(policy) {
        headers.insert(POLICY, v);
    }
    if let Some(v) = model {
        headers.insert(MODEL, v);
    }
    if let Some(v) = value(route) {
        headers.insert(ROUTE, v);
    }
    let ms = if decision_ms == 0.0 {
        Some(HeaderValue::from_static("0.000"))
    } else {
        HeaderValue::from_str(&format!("{decision_ms:.3}")).ok()
    };
    if let Some(v) = ms {
        headers.insert(DECISION_MS, v);
    }
}
