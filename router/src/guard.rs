//! Checks made on a request before any work is spent on it, and the client-key checks the
//! handlers make once they know the policy or model a request is for ([`crate::auth`]).
//!
//! - [`header_limit`]: the total size of the request's header names and values
//!   (`--max-header-bytes`, default 64 KiB) → 431. hyper itself refuses a header block over
//!   about 400 KiB or with more than 100 fields before the router sees it, so memory per
//!   connection stays bounded whatever this limit is set to.
//! - [`require_key`]: when every API request needs a client key, one that is not accepted by
//!   any rule is refused with 401 before the body is read.
//!
//! Refusals are counted in `switchyard_rejected_requests_total{reason}`.

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::HeaderMap;

use crate::error::ApiError;
use crate::state::{AppState, Snapshot};

/// Total bytes of the header names and values of a request (what the limit counts).
pub fn header_bytes(headers: &HeaderMap) -> usize {
    headers
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len())
        .sum()
}

/// Refuses requests whose headers exceed the router's limit with 431.
pub async fn header_limit(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if let Err(refused) = check_header_size(&state, req.headers()) {
        return refused.into_response();
    }
    next.run(req).await
}

/// Refuses, before the body is read, requests without an accepted key when every API
/// request needs one.
pub async fn require_key(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if let Err(refused) = check_any_key(&state, req.headers()) {
        return refused.into_response();
    }
    next.run(req).await
}

/// The check of [`header_limit`], for callers that are not middleware: the 431 error when
/// the headers are too large (counted as refused).
pub fn check_header_size(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    let max = state.max_header_bytes();
    let size = header_bytes(headers);
    if size > max {
        state.metrics().reject("headers_too_large");
        return Err(ApiError::HeadersTooLarge(format!(
            "the request headers take {size} bytes; the limit is {max}"
        )));
    }
    Ok(())
}

/// The check of [`require_key`], for callers that are not middleware: the 401 error when
/// every API request needs a key and this one has no accepted key (counted as refused).
pub fn check_any_key(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    authorize_any(state, headers)
}

/// Checks the client key of a request for policy `policy`.
pub fn authorize_policy(
    state: &AppState,
    snap: &Snapshot,
    headers: &HeaderMap,
    policy: &str,
) -> Result<(), ApiError> {
    state
        .auth_for(snap)
        .authorize_policy(headers, policy)
        .inspect_err(|_| state.metrics().reject("unauthenticated"))
}

/// Checks the client key of a request sent straight to the endpoints serving `model`.
pub fn authorize_model(
    state: &AppState,
    snap: &Snapshot,
    headers: &HeaderMap,
    model: &str,
) -> Result<(), ApiError> {
    let endpoints = snap
        .config
        .endpoints
        .iter()
        .filter(|e| e.model == model || e.name == model)
        .map(|e| e.name.as_str());
    state
        .auth_for(snap)
        .authorize_endpoints(headers, endpoints)
        .inspect_err(|_| state.metrics().reject("unauthenticated"))
}

/// Checks a request that needs some accepted key when the whole surface is protected.
pub fn authorize_any(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    state
        .auth()
        .authorize_any(headers)
        .inspect_err(|_| state.metrics().reject("unauthenticated"))
}
