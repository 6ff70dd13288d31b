//! The HTTP front: parses Kubernetes API paths and query parameters, counts requests,
//! applies injected faults, and dispatches to the store. One fallback handler does the
//! routing because API paths (`/api/v1/namespaces/{ns}/{resource}/{name}/status` next to
//! `/api/v1/namespaces/{name}/status`) do not fit a static route table well.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::counters::Verb;
use super::delete::{DeleteOptions, Propagation};
use super::discovery;
use super::lock;
use super::patch::PatchBody;
use super::resources::ResourceInfo;
use super::selector::{FieldSelector, LabelSelector};
use super::server::Shared;
use super::status::ApiError;
use super::store::{ObjectKey, Store};
use super::watch::{self, WatchRequest};
use super::write::Target;

/// The axum app serving the fake API.
pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new().fallback(handle).with_state(shared)
}

fn json_response(code: u16, v: &Value) -> Response {
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        v.to_string(),
    )
        .into_response()
}

fn error_response(e: &ApiError) -> Response {
    json_response(e.code, &e.to_status())
}

fn ok_or_404(v: Option<Value>) -> Response {
    match v {
        Some(v) => json_response(200, &v),
        None => error_response(&ApiError::no_such_path()),
    }
}

/// A request's parameters, decoded.
struct Request {
    method: Method,
    query: HashMap<String, String>,
    headers: HeaderMap,
    body: Bytes,
}

impl Request {
    fn q(&self, key: &str) -> Option<&str> {
        self.query
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    fn flag(&self, key: &str) -> bool {
        matches!(self.q(key), Some("true" | "1"))
    }

    fn dry_run(&self) -> bool {
        self.q("dryRun") == Some("All")
    }

    fn selectors(&self) -> Result<(LabelSelector, FieldSelector), ApiError> {
        Ok((
            LabelSelector::parse(self.q("labelSelector").unwrap_or_default())?,
            FieldSelector::parse(self.q("fieldSelector").unwrap_or_default())?,
        ))
    }

    fn json_body(&self) -> Result<Value, ApiError> {
        serde_json::from_slice(&self.body)
            .map_err(|e| ApiError::bad_request(format!("error decoding the request body: {e}")))
    }
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let query: HashMap<String, String> = Query::try_from_uri(&uri).map(|q| q.0).unwrap_or_default();
    let req = Request {
        method,
        query,
        headers,
        body,
    };
    let segs: Vec<&str> = uri.path().split('/').filter(|s| !s.is_empty()).collect();
    match segs.as_slice() {
        ["version"] => json_response(200, &discovery::version()),
        ["healthz" | "livez" | "readyz"] => (StatusCode::OK, "ok").into_response(),
        ["api"] => json_response(200, &discovery::core_versions(shared.addr)),
        ["api", v] => ok_or_404(discovery::resource_list(
            &lock(&shared.store).resources,
            "",
            v,
        )),
        ["apis"] => json_response(200, &discovery::group_list(&lock(&shared.store).resources)),
        ["apis", g] => ok_or_404(discovery::group(&lock(&shared.store).resources, g)),
        ["apis", g, v] => ok_or_404(discovery::resource_list(
            &lock(&shared.store).resources,
            g,
            v,
        )),
        ["api", v, rest @ ..] => resource(&shared, "", v, rest, req).await,
        ["apis", g, v, rest @ ..] => resource(&shared, g, v, rest, req).await,
        _ => error_response(&ApiError::no_such_path()),
    }
}

/// What a resource path addresses.
struct Addressed {
    info: ResourceInfo,
    namespace: Option<String>,
    name: Option<String>,
    status: bool,
}

fn address(
    store: &Store,
    group: &str,
    version: &str,
    rest: &[&str],
) -> Result<Addressed, ApiError> {
    let (namespace, res, tail) = match rest {
        ["namespaces", ns, res, tail @ ..]
            if !(tail.is_empty() && matches!(*res, "status" | "finalize")) =>
        {
            (Some((*ns).to_owned()), *res, tail)
        }
        [res, tail @ ..] => (None, *res, tail),
        [] => return Err(ApiError::no_such_path()),
    };
    let info = store
        .resources
        .find(group, version, res)
        .cloned()
        .ok_or_else(ApiError::no_such_path)?;
    if (namespace.is_some() && !info.namespaced)
        || (namespace.is_none() && info.namespaced && !tail.is_empty())
    {
        return Err(ApiError::no_such_path());
    }
    let (name, status) = match tail {
        [] => (None, false),
        [n] => (Some((*n).to_owned()), false),
        [n, "status"] if info.status_subresource => (Some((*n).to_owned()), true),
        _ => return Err(ApiError::no_such_path()),
    };
    Ok(Addressed {
        info,
        namespace,
        name,
        status,
    })
}

fn verb_of(req: &Request, a: &Addressed) -> Option<Verb> {
    Some(match (&req.method, a.name.is_some()) {
        (&Method::GET, false) if req.flag("watch") => Verb::Watch,
        (&Method::GET, false) => Verb::List,
        (&Method::GET, true) => Verb::Get,
        (&Method::POST, false) => Verb::Create,
        (&Method::PUT, true) => Verb::Update,
        (&Method::PATCH, true) => Verb::Patch,
        (&Method::DELETE, true) => Verb::Delete,
        (&Method::DELETE, false) => Verb::DeleteCollection,
        _ => return None,
    })
}

async fn resource(
    shared: &Arc<Shared>,
    group: &str,
    version: &str,
    rest: &[&str],
    req: Request,
) -> Response {
    let addressed = address(&lock(&shared.store), group, version, rest);
    let a = match addressed {
        Ok(a) => a,
        Err(e) => return error_response(&e),
    };
    let Some(verb) = verb_of(&req, &a) else {
        return error_response(&ApiError::method_not_allowed());
    };
    if a.status && !matches!(verb, Verb::Get | Verb::Update | Verb::Patch) {
        return error_response(&ApiError::method_not_allowed());
    }
    let counted = if a.status {
        format!("{}/status", a.info.plural)
    } else {
        a.info.plural.clone()
    };
    shared.counters.request(verb, &counted);
    if let Some(action) = shared.faults.take(verb, &counted) {
        if let Some(d) = action.delay {
            let mut stop = shared.shutdown.clone();
            tokio::select! {
                _ = tokio::time::sleep(d) => {}
                _ = async { let _ = stop.wait_for(|s| *s).await; } => {
                    return error_response(&ApiError::new(503, "the fake API server is shutting down"));
                }
            }
        }
        if let Some((code, message)) = action.status {
            return error_response(&ApiError::new(code, message));
        }
    }
    match serve(shared, verb, &a, &req) {
        Ok(r) => r,
        Err(e) => error_response(&e),
    }
}

fn delete_options(req: &Request) -> Result<DeleteOptions, ApiError> {
    let body = if req.body.iter().all(u8::is_ascii_whitespace) {
        Value::Null
    } else {
        req.json_body()?
    };
    let policy = body
        .get("propagationPolicy")
        .and_then(Value::as_str)
        .or(req.q("propagationPolicy"));
    let pre = |f: &str| {
        body.pointer(&format!("/preconditions/{f}"))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let dry_run = req.dry_run()
        || body
            .get("dryRun")
            .and_then(Value::as_array)
            .is_some_and(|a| a.iter().any(|v| v == "All"));
    Ok(DeleteOptions {
        propagation: match policy {
            Some("Orphan") => Propagation::Orphan,
            Some("Background" | "Foreground") | None => Propagation::Background,
            Some(other) => {
                return Err(ApiError::bad_request(format!(
                    "unknown propagationPolicy {other:?}"
                )));
            }
        },
        precondition_uid: pre("uid"),
        precondition_rv: pre("resourceVersion"),
        dry_run,
    })
}

fn serve(
    shared: &Arc<Shared>,
    verb: Verb,
    a: &Addressed,
    req: &Request,
) -> Result<Response, ApiError> {
    let info = &a.info;
    let ns = a.namespace.as_deref();
    let name = a.name.as_deref().unwrap_or_default();
    let target = if a.status {
        Target::Status
    } else {
        Target::Main
    };
    let created = |v: Value| json_response(201, &v);
    let ok = |v: Value| json_response(200, &v);
    match verb {
        Verb::Get => {
            let store = lock(&shared.store);
            let key = ObjectKey::new(info, ns, name);
            store
                .get(&key)
                .map(|o| ok(o.clone()))
                .ok_or_else(|| ApiError::not_found(info, name))
        }
        Verb::List => {
            let (labels, fields) = req.selectors()?;
            let limit = req.q("limit").and_then(|l| l.parse().ok());
            let store = lock(&shared.store);
            let page = store.list_page(info, ns, &labels, &fields, limit, req.q("continue"))?;
            Ok(ok(Store::list_body(info, page)))
        }
        Verb::Watch => watch_response(shared, a, req),
        Verb::Create => {
            let body = req.json_body()?;
            let obj = lock(&shared.store).create(info, ns, body, req.dry_run())?;
            Ok(created(obj))
        }
        Verb::Update => {
            let body = req.json_body()?;
            let obj = lock(&shared.store).update(info, ns, name, body, target, req.dry_run())?;
            Ok(ok(obj))
        }
        Verb::Patch => {
            let content_type = req
                .headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            let patch = PatchBody::parse(content_type, &req.body, req.q("fieldManager"))?;
            let w = lock(&shared.store).patch(info, ns, name, &patch, target, req.dry_run())?;
            Ok(if w.created {
                created(w.object)
            } else {
                ok(w.object)
            })
        }
        Verb::Delete => {
            let opts = delete_options(req)?;
            Ok(ok(lock(&shared.store).delete(info, ns, name, &opts)?))
        }
        Verb::DeleteCollection => {
            let (labels, fields) = req.selectors()?;
            let opts = delete_options(req)?;
            let mut store = lock(&shared.store);
            let items = store.delete_collection(info, ns, &labels, &fields, &opts);
            let rv = store.resource_version();
            Ok(ok(json!({
                "kind": info.list_kind(),
                "apiVersion": info.api_version(),
                "metadata": {"resourceVersion": rv.to_string()},
                "items": items,
            })))
        }
    }
}

fn watch_response(
    shared: &Arc<Shared>,
    a: &Addressed,
    req: &Request,
) -> Result<Response, ApiError> {
    let (labels, fields) = req.selectors()?;
    let from = match req.q("resourceVersion") {
        None => None,
        Some(rv) => Some(
            rv.parse::<u64>()
                .map_err(|_| ApiError::bad_request(format!("invalid resourceVersion {rv:?}")))?,
        ),
    };
    let timeout = req
        .q("timeoutSeconds")
        .and_then(|t| t.parse::<u64>().ok())
        .map(Duration::from_secs);
    let watch_req = WatchRequest {
        info: a.info.clone(),
        namespace: a.namespace.clone(),
        labels,
        fields,
        bookmarks: req.flag("allowWatchBookmarks"),
        send_initial_events: req.flag("sendInitialEvents"),
        timeout,
        bookmark_interval: shared.options.bookmark_interval,
    };
    let sub = lock(&shared.store).subscribe(&a.info, a.namespace.as_deref(), from);
    let body = match sub {
        Ok(sub) => Body::from_stream(watch::stream(
            watch_req,
            sub,
            shared.shutdown.clone(),
            shared.counters.clone(),
        )),
        // The real server answers 200 and reports the failure as the stream's only event;
        // clients (kube-rs' watcher) relist on that 410, but would retry an HTTP 410 forever.
        Err(e) => {
            shared.counters.watch_line(&a.info.plural);
            Body::from(watch::error_line(&e))
        }
    };
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response())
}
