//! The ModelEndpoint controller: validates each endpoint (`Ready`) and, when asked, probes
//! the upstream (`Reachable`, `lastProbeTime`, `lastProbeLatencyMs`), requeued at the
//! probe interval. A reconcile caused by its own status write does not probe again before
//! the interval is up.

use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::ResourceExt;
use kube::api::{Api, Patch};
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use switchyard_crds::ModelEndpoint;
use switchyard_crds::config::ResolvedEndpoint;
use switchyard_crds::endpoint::{ModelEndpointStatus, Provider};
use switchyard_crds::resolve::resolve_endpoint;

use crate::apply::status_merge_patch;
use crate::context::Context;
use crate::error::{Error, Result, is_not_found};
use crate::index::Key;
use crate::lenient::{Lenient, Unreadable};
use crate::metrics::ControllerKind;
use crate::policy_controller::{
    UNREADABLE, now, old_conditions, publish, status_params, with_deadline, write_unreadable_status,
};
use crate::probe::{Credential, ProbeResult, probe};
use crate::status::{Notice, find, merge_conditions, truncate};
use crate::validate::schema_violations;

/// Condition type: the last probe succeeded.
pub const REACHABLE: &str = "Reachable";
/// Default probe interval when the spec's does not parse.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
/// Longest a probe may take.
pub const MAX_PROBE_TIMEOUT: Duration = Duration::from_secs(10);

const STATUS_FIELDS: &[&str] = &[
    "conditions",
    "observedGeneration",
    "lastProbeTime",
    "lastProbeLatencyMs",
];

fn cond(
    type_: &str,
    ok: bool,
    reason: &str,
    message: String,
    generation: Option<i64>,
) -> Condition {
    Condition {
        type_: type_.to_owned(),
        status: if ok { "True" } else { "False" }.to_owned(),
        reason: reason.to_owned(),
        message: truncate(message),
        observed_generation: generation,
        last_transition_time: Time(k8s_openapi::jiff::Timestamp::UNIX_EPOCH),
    }
}

/// The `Ready` condition of an endpoint from its validation.
pub fn ready_condition(ep: &ModelEndpoint) -> (Condition, Option<ResolvedEndpoint>) {
    let generation = ep.metadata.generation;
    let violations = schema_violations(ep, "ModelEndpoint");
    if !violations.is_empty() {
        return (
            cond(
                "Ready",
                false,
                "InvalidEndpoint",
                violations.join("; "),
                generation,
            ),
            None,
        );
    }
    match resolve_endpoint(ep) {
        Ok(resolved) => (
            cond(
                "Ready",
                true,
                "Valid",
                format!("routes to {} at {}", resolved.model, resolved.base_url),
                generation,
            ),
            Some(resolved),
        ),
        Err(problems) => (
            cond(
                "Ready",
                false,
                "InvalidEndpoint",
                problems
                    .iter()
                    .map(|p| format!("{}: {}", p.field, p.message))
                    .collect::<Vec<_>>()
                    .join("; "),
                generation,
            ),
            None,
        ),
    }
}

/// When a probe is due: never probed, spec changed since, or the interval has passed.
/// Returns `None` when due now, else the time left.
pub fn probe_due_in(ep: &ModelEndpoint, interval: Duration, now: &Time) -> Option<Duration> {
    let status = ep.status.as_ref()?;
    if status.observed_generation != ep.metadata.generation
        || find(&status.conditions, REACHABLE).is_none()
    {
        return None;
    }
    let last = status.last_probe_time.as_ref()?;
    let elapsed = now.0.duration_since(last.0);
    let elapsed = Duration::try_from(elapsed).unwrap_or(Duration::ZERO);
    interval.checked_sub(elapsed).filter(|d| !d.is_zero())
}

async fn credential(
    ctx: &Context,
    ep: &ResolvedEndpoint,
) -> Result<Option<Credential>, ProbeResult> {
    let Some(r) = &ep.api_key else {
        return Ok(None);
    };
    let api: Api<Secret> = Api::namespaced(ctx.client.clone(), &ep.namespace);
    let missing = |why: String| ProbeResult {
        ok: false,
        reason: "SecretNotFound",
        message: why,
        latency_ms: 0,
    };
    let secret = match api.get(&r.name).await {
        Ok(s) => s,
        Err(e) if is_not_found(&e) => {
            return Err(missing(format!(
                "Secret {:?} does not exist in namespace {:?}; not probed",
                r.name, ep.namespace
            )));
        }
        Err(e) => {
            return Err(missing(format!("reading Secret {:?}: {e}", r.name)));
        }
    };
    let value = secret
        .data
        .as_ref()
        .and_then(|d| d.get(&r.key))
        .and_then(|v| String::from_utf8(v.0.clone()).ok())
        .or_else(|| {
            secret
                .string_data
                .as_ref()
                .and_then(|d| d.get(&r.key))
                .cloned()
        });
    let Some(value) = value else {
        return Err(missing(format!(
            "Secret {:?} has no key {:?}; not probed",
            r.name, r.key
        )));
    };
    let value = value.trim().to_owned();
    Ok(Some(if ep.provider == Provider::AzureOpenai {
        Credential::AzureKey(value)
    } else {
        Credential::Bearer(value)
    }))
}

/// One pass for one endpoint.
pub async fn reconcile_endpoint(ep: &ModelEndpoint, ctx: &Context) -> Result<Action> {
    let now = now();
    let old = ep.status.clone().unwrap_or_default();
    let generation = ep.metadata.generation;
    let (ready, resolved) = ready_condition(ep);
    let mut conditions = vec![ready];
    let mut status = ModelEndpointStatus {
        conditions: Vec::new(),
        observed_generation: generation,
        last_probe_time: None,
        last_probe_latency_ms: None,
    };
    let mut action = Action::await_change();
    let check = ep.spec.health_check.as_ref().filter(|h| h.enabled);
    if let (Some(resolved), Some(check)) = (&resolved, check) {
        let interval = check
            .interval
            .parse()
            .filter(|d| !d.is_zero())
            .unwrap_or(DEFAULT_INTERVAL);
        match probe_due_in(ep, interval, &now) {
            Some(left) => {
                // Not due (e.g. woken by our own status write): keep the last result.
                conditions.extend(find(&old.conditions, REACHABLE).cloned());
                status.last_probe_time = old.last_probe_time.clone();
                status.last_probe_latency_ms = old.last_probe_latency_ms;
                action = Action::requeue(left);
            }
            None => {
                let result = match credential(ctx, resolved).await {
                    Ok(cred) => {
                        let url = format!("{}{}", resolved.base_url, check.path);
                        let timeout = Duration::from_millis(resolved.timeouts.first_byte_ms)
                            .min(MAX_PROBE_TIMEOUT);
                        probe(&ctx.http, &url, cred.as_ref(), timeout).await
                    }
                    Err(r) => r,
                };
                conditions.push(cond(
                    REACHABLE,
                    result.ok,
                    result.reason,
                    result.message,
                    generation,
                ));
                status.last_probe_time = Some(now.clone());
                status.last_probe_latency_ms = Some(result.latency_ms);
                action = Action::requeue(interval);
            }
        }
    }
    status.conditions = merge_conditions(&old.conditions, conditions, &now);

    if ep.status.as_ref() != Some(&status) {
        let api: Api<ModelEndpoint> =
            Api::namespaced(ctx.client.clone(), &ep.namespace().unwrap_or_default());
        let patch = status_merge_patch(&status, STATUS_FIELDS)?;
        api.patch_status(&ep.name_any(), &status_params(), &Patch::Merge(&patch))
            .await
            .map_err(|e| Error::kube("patch status", "ModelEndpoint", &ep.name_any(), e))?;
        ctx.metrics.status_patched(ControllerKind::ModelEndpoint);
        publish(
            ctx,
            ep,
            endpoint_notices(&old.conditions, &status.conditions),
        )
        .await;
    }
    Ok(action)
}

/// Events for endpoint transitions: became invalid, became unreachable, reachable again.
pub fn endpoint_notices(old: &[Condition], new: &[Condition]) -> Vec<Notice> {
    let mut out = Vec::new();
    let changed = |t: &str| {
        let n = find(new, t)?;
        match find(old, t) {
            Some(o) if o.status == n.status && o.reason == n.reason => None,
            _ => Some(n),
        }
    };
    if let Some(r) = changed("Ready").filter(|c| c.status == "False") {
        out.push(Notice {
            type_: EventType::Warning,
            reason: "InvalidSpec",
            note: r.message.clone(),
        });
    }
    if let Some(r) = changed(REACHABLE) {
        let was_known = find(old, REACHABLE).is_some();
        if r.status == "False" {
            out.push(Notice {
                type_: EventType::Warning,
                reason: "Unreachable",
                note: format!("{}: {}", r.reason, r.message),
            });
        } else if was_known {
            out.push(Notice {
                type_: EventType::Normal,
                reason: "Reachable",
                note: r.message.clone(),
            });
        }
    }
    out
}

fn key(ep: &ModelEndpoint) -> Key {
    (ep.namespace().unwrap_or_default(), ep.name_any())
}

/// The reconciler handed to the controller runtime.
pub async fn reconcile(ep: Arc<ModelEndpoint>, ctx: Arc<Context>) -> Result<Action> {
    let start = Instant::now();
    let result = with_deadline(&ctx, reconcile_endpoint(&ep, &ctx)).await;
    ctx.metrics
        .observe(ControllerKind::ModelEndpoint, &result, start.elapsed());
    if result.is_ok() {
        ctx.endpoint_backoff.reset(&key(&ep));
    }
    result
}

/// The reconciler of the lenient watch: decoded endpoints go through [`reconcile`];
/// undecodable ones get `Ready=False` (reason `UnreadableSpec`), an event, and no retry
/// until they change. Policies referencing them report them as invalid.
pub async fn reconcile_watched(
    obj: Arc<Lenient<ModelEndpoint>>,
    ctx: Arc<Context>,
) -> Result<Action> {
    match obj.as_ref() {
        Lenient::Parsed(ep) => reconcile(Arc::new(ep.clone()), ctx).await,
        Lenient::Unreadable(u) => {
            let start = Instant::now();
            let result = with_deadline(&ctx, report_unreadable(&ctx, obj.as_ref(), u)).await;
            ctx.metrics
                .observe(ControllerKind::ModelEndpoint, &result, start.elapsed());
            if result.is_ok() {
                ctx.endpoint_backoff.reset(&lenient_key(obj.as_ref()));
            }
            result
        }
    }
}

async fn report_unreadable(
    ctx: &Context,
    obj: &Lenient<ModelEndpoint>,
    u: &Unreadable,
) -> Result<Action> {
    let old = old_conditions(u);
    let ready = cond(
        "Ready",
        false,
        UNREADABLE,
        format!("the operator cannot decode this ModelEndpoint: {}", u.error),
        u.metadata.generation,
    );
    let mut new = vec![ready];
    new.extend(find(&old, REACHABLE).cloned());
    let conditions = merge_conditions(&old, new, &now());
    let note = find(&conditions, "Ready")
        .map(|c| c.message.clone())
        .unwrap_or_default();
    let was_reported =
        find(&old, "Ready").is_some_and(|c| c.reason == UNREADABLE && c.message == note);
    if write_unreadable_status(ctx, obj, u, conditions).await? && !was_reported {
        let notice = Notice {
            type_: EventType::Warning,
            reason: "InvalidSpec",
            note,
        };
        publish(ctx, obj, vec![notice]).await;
    }
    Ok(Action::await_change())
}

fn lenient_key(obj: &Lenient<ModelEndpoint>) -> Key {
    (obj.namespace().unwrap_or_default(), obj.name_any())
}

/// Transient failures: requeue with per-object exponential backoff.
pub fn error_policy(ep: Arc<ModelEndpoint>, error: &Error, ctx: Arc<Context>) -> Action {
    retry_later(&ctx, &key(&ep), error)
}

/// [`error_policy`] of the lenient watch.
pub fn error_policy_watched(
    obj: Arc<Lenient<ModelEndpoint>>,
    error: &Error,
    ctx: Arc<Context>,
) -> Action {
    retry_later(&ctx, &lenient_key(obj.as_ref()), error)
}

fn retry_later(ctx: &Context, key: &Key, error: &Error) -> Action {
    let delay = ctx.endpoint_backoff.next(key);
    tracing::warn!(
        endpoint = %key.1,
        namespace = %key.0,
        category = ?error.category(),
        error = %error,
        retry_in_ms = delay.as_millis() as u64,
        "reconcile failed"
    );
    Action::requeue(delay)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::fixtures::{Caches, context, endpoint, mock_client, next};
    use serde_json::json;
    use std::sync::atomic::{AtomicUsize, Ordering};

    const EPS: &str = "/apis/switchyard.dev/v1alpha1/namespaces/ai/modelendpoints";

    async fn upstream(hits: Arc<AtomicUsize>) -> String {
        let app = axum::Router::new().route(
            "/v1/models",
            axum::routing::get(move |h: axum::http::HeaderMap| {
                let hits = hits.clone();
                async move {
                    hits.fetch_add(1, Ordering::SeqCst);
                    if h.get("authorization").and_then(|v| v.to_str().ok()) == Some("Bearer s3cret")
                    {
                        axum::http::StatusCode::OK
                    } else {
                        axum::http::StatusCode::UNAUTHORIZED
                    }
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        format!("http://{addr}/v1")
    }

    #[test]
    fn an_endpoint_breaking_the_schema_is_not_ready() {
        let mut ep = endpoint("big", None);
        ep.spec.model = "m".repeat(1 << 20);
        let (ready, resolved) = ready_condition(&ep);
        assert!(resolved.is_none());
        assert_eq!(ready.status, "False");
        assert_eq!(ready.reason, "InvalidEndpoint");
        assert!(
            ready
                .message
                .starts_with("spec.model: the value is longer than 256 characters"),
            "{}",
            ready.message
        );
        assert!(ready.message.len() <= crate::status::MAX_MESSAGE);
    }

    #[test]
    fn policies_skip_an_endpoint_breaking_the_schema_as_invalid() {
        use crate::fixtures::{policy, secret_meta, store_of};
        let mut big = endpoint("big", None);
        big.spec.base_url = format!("http://{}/v1", "h".repeat(5000));
        let endpoints = store_of(
            [big, endpoint("small", None)]
                .into_iter()
                .map(Lenient::Parsed)
                .collect(),
        );
        let secrets = store_of(vec![secret_meta("keys")]);
        let p = policy("qs", "");
        let inputs = crate::policy_controller::dereference_from(&p, &endpoints, &secrets);
        assert_eq!(inputs.endpoints.len(), 1);
        assert!(
            inputs.unreadable["big"].contains("spec.baseURL"),
            "{:?}",
            inputs.unreadable
        );
        let v = crate::validate::validate(&p, &inputs);
        assert!(v.config.is_some(), "still serves with the other endpoint");
        let big = v.endpoints.iter().find(|e| e.name == "big").unwrap();
        assert_eq!(big.reason.as_deref(), Some("InvalidEndpoint"));
    }

    fn probed_endpoint(base: &str) -> ModelEndpoint {
        let mut ep = endpoint("big", Some("keys"));
        ep.spec.base_url = base.to_owned();
        ep.spec.health_check = Some(serde_json::from_value(json!({"interval": "45s"})).unwrap());
        ep
    }

    #[tokio::test]
    async fn probe_records_reachable_then_waits_for_the_interval() {
        let hits = Arc::new(AtomicUsize::new(0));
        let base = upstream(hits.clone()).await;
        let ep = probed_endpoint(&base);
        let (client, mut h) = mock_client();
        let ctx = context(client, Caches::default());
        let server = tokio::spawn(async move {
            let get = next(&mut h).await;
            assert_eq!(get.method, "GET");
            assert_eq!(get.uri, "/api/v1/namespaces/ai/secrets/keys");
            get.respond(
                200,
                &json!({"apiVersion": "v1", "kind": "Secret",
                "metadata": {"name": "keys", "namespace": "ai"},
                "data": {"KEY": "czNjcmV0"}}),
            );
            let patch = next(&mut h).await;
            assert_eq!(
                patch.uri,
                format!("{EPS}/big/status?&fieldManager=switchyard-operator")
            );
            assert_eq!(patch.content_type, "application/merge-patch+json");
            let body = patch.body.clone();
            patch.echo_onto(&endpoint("big", None));
            body
        });
        let action = reconcile(Arc::new(ep.clone()), ctx.clone()).await.unwrap();
        assert_eq!(action, Action::requeue(Duration::from_secs(45)));
        let body = server.await.unwrap();
        assert_eq!(hits.load(Ordering::SeqCst), 1);
        let status: ModelEndpointStatus = serde_json::from_value(body["status"].clone()).unwrap();
        let ready = find(&status.conditions, "Ready").unwrap();
        assert_eq!(
            (ready.status.as_str(), ready.reason.as_str()),
            ("True", "Valid")
        );
        let reach = find(&status.conditions, REACHABLE).unwrap();
        assert_eq!(
            (reach.status.as_str(), reach.reason.as_str()),
            ("True", "Reachable")
        );
        assert!(status.last_probe_time.is_some());
        assert!(status.last_probe_latency_ms.is_some());

        // Woken again by its own status write: no probe, no write, requeue for the rest.
        let mut again = ep;
        again.status = Some(status);
        let (client, h) = mock_client();
        drop(h);
        let ctx = context(client, Caches::default());
        let action = reconcile(Arc::new(again), ctx).await.unwrap();
        assert_eq!(hits.load(Ordering::SeqCst), 1);
        // Probe times are kept to the second: 44 or 45 s are left.
        assert!(
            action == Action::requeue(Duration::from_secs(45))
                || action == Action::requeue(Duration::from_secs(44)),
            "{action:?}"
        );
    }

    #[tokio::test]
    async fn invalid_endpoint_is_not_ready_and_warns() {
        let mut ep = endpoint("big", None);
        ep.spec.timeouts.connect = Some("soon".into());
        let (client, mut h) = mock_client();
        let ctx = context(client, Caches::default());
        let server = tokio::spawn(async move {
            let patch = next(&mut h).await;
            let body = patch.body.clone();
            patch.echo_onto(&endpoint("big", None));
            let ev = next(&mut h).await;
            let e = ev.body.clone();
            ev.respond(201, &e);
            (body, e)
        });
        let action = reconcile(Arc::new(ep), ctx).await.unwrap();
        assert_eq!(action, Action::await_change());
        let (body, event) = server.await.unwrap();
        let ready = &body["status"]["conditions"][0];
        assert_eq!(ready["reason"], "InvalidEndpoint");
        assert!(
            ready["message"]
                .as_str()
                .unwrap()
                .contains("spec.timeouts.connect")
        );
        assert_eq!(event["reason"], "InvalidSpec");
    }
}
