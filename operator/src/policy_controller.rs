//! The RoutingPolicy controller: dereference → validate → build → apply → status.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::api::{Api, Patch, PatchParams};
use kube::core::PartialObjectMeta;
use kube::runtime::controller::Action;
use kube::runtime::events::Event;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Resource, ResourceExt};
use switchyard_crds::{ModelEndpoint, RoutingPolicy};

use crate::apply::{apply, collect_garbage, status_merge_patch};
use crate::build::{Children, build};
use crate::context::Context;
use crate::error::{Error, ErrorCategory, Result};
use crate::index::Key;
use crate::lenient::{Lenient, Unreadable};
use crate::metrics::ControllerKind;
use crate::reports;
use crate::status::{
    DEGRADED, Notice, Observed, READY, RESOLVED, find, merge_conditions, notices, policy_status,
};
use crate::validate::{
    Inputs, referenced_endpoints, referenced_secrets, schema_violations, validate,
};

/// Status fields the operator owns; absent ones are cleared on write.
const STATUS_FIELDS: &[&str] = &[
    "conditions",
    "observedGeneration",
    "readyReplicas",
    "serviceURL",
    "endpoints",
    "configHash",
];

/// Current time, to the second (what the API server stores).
pub fn now() -> Time {
    let ts = k8s_openapi::jiff::Timestamp::now();
    Time(k8s_openapi::jiff::Timestamp::from_second(ts.as_second()).unwrap_or(ts))
}

fn key(policy: &RoutingPolicy) -> Key {
    (policy.namespace().unwrap_or_default(), policy.name_any())
}

/// Dereference: reads what the policy refers to from the caches (no API calls).
pub async fn dereference(policy: &RoutingPolicy, ctx: &Context) -> Result<Inputs> {
    let timeout = ctx.config.cache_timeout;
    ctx.gates.endpoints.wait(timeout).await?;
    ctx.gates.secrets.wait(timeout).await?;
    Ok(dereference_from(policy, &ctx.endpoints, &ctx.secrets))
}

/// Dereference against given caches.
pub fn dereference_from(
    policy: &RoutingPolicy,
    endpoints: &Store<Lenient<ModelEndpoint>>,
    secrets: &Store<PartialObjectMeta<Secret>>,
) -> Inputs {
    let ns = policy.namespace().unwrap_or_default();
    let mut found: Vec<ModelEndpoint> = Vec::new();
    let mut unreadable = BTreeMap::new();
    for name in referenced_endpoints(&policy.spec) {
        match endpoints.get(&ObjectRef::new(&name).within(&ns)).as_deref() {
            Some(Lenient::Parsed(e)) => {
                let violations = schema_violations(&e, "ModelEndpoint");
                if violations.is_empty() {
                    found.push(e.clone());
                } else {
                    unreadable.insert(name, violations.join("; "));
                }
            }
            Some(Lenient::Unreadable(u)) => {
                unreadable.insert(name, format!("cannot be decoded: {}", u.error));
            }
            None => {}
        }
    }
    let missing_secrets = referenced_secrets(&policy.spec, &found)
        .into_iter()
        .filter(|s| secrets.get(&ObjectRef::new(s).within(&ns)).is_none())
        .collect();
    let unreachable = found
        .iter()
        .filter_map(|e| {
            let c = e
                .status
                .as_ref()?
                .conditions
                .iter()
                .find(|c| c.type_ == "Reachable" && c.status == "False")?;
            Some((e.name_any(), c.message.clone()))
        })
        .collect::<BTreeMap<_, _>>();
    Inputs {
        endpoints: found,
        missing_secrets,
        unreachable,
        unreadable,
    }
}

/// Applies every child in order, removes unwanted PDB/HPA, and reports what the cluster
/// shows afterwards (from the apply responses: no extra reads).
pub async fn apply_children(
    ctx: &Context,
    policy: &RoutingPolicy,
    children: &Children,
) -> Result<Observed> {
    let client = &ctx.client;
    apply(client, &children.config_map).await?;
    let status_map = apply(client, &children.status_map).await?;
    apply(client, &children.service_account).await?;
    apply(client, &children.role).await?;
    apply(client, &children.role_binding).await?;
    apply(client, &children.service).await?;
    let deployment: Deployment = apply(client, &children.deployment).await?;
    let timeout = ctx.config.cache_timeout;
    match &children.pdb {
        Some(pdb) => {
            apply(client, pdb).await?;
        }
        None => {
            ctx.gates.pdbs.wait(timeout).await?;
            collect_garbage(client, &ctx.pdbs, policy, None).await?;
        }
    }
    match &children.hpa {
        Some(hpa) => {
            apply(client, hpa).await?;
        }
        None => {
            ctx.gates.hpas.wait(timeout).await?;
            collect_garbage(client, &ctx.hpas, policy, None).await?;
        }
    }
    let reports = reports::parse(&status_map);
    if !reports.malformed.is_empty() {
        tracing::warn!(
            policy = %policy.name_any(),
            keys = ?reports.malformed,
            "ignoring malformed router reports"
        );
    }
    Ok(observe_deployment(&deployment, reports))
}

/// What a Deployment's status says about availability.
pub fn observe_deployment(deployment: &Deployment, reports: reports::Reports) -> Observed {
    let status = deployment.status.as_ref();
    let ready_replicas = status.and_then(|s| s.ready_replicas).unwrap_or(0);
    let available_false = status
        .and_then(|s| s.conditions.as_ref())
        .into_iter()
        .flatten()
        .any(|c| c.type_ == "Available" && c.status == "False");
    Observed {
        ready_replicas,
        available: ready_replicas >= 1 && !available_false,
        reports,
    }
}

/// Writes the status if it differs from the current one; returns whether it wrote.
pub async fn write_status(
    ctx: &Context,
    policy: &RoutingPolicy,
    status: &switchyard_crds::RoutingPolicyStatus,
) -> Result<bool> {
    if policy.status.as_ref() == Some(status) {
        return Ok(false);
    }
    let api: Api<RoutingPolicy> =
        Api::namespaced(ctx.client.clone(), &policy.namespace().unwrap_or_default());
    let patch = status_merge_patch(status, STATUS_FIELDS)?;
    api.patch_status(&policy.name_any(), &status_params(), &Patch::Merge(&patch))
        .await
        .map_err(|e| Error::kube("patch status", "RoutingPolicy", &policy.name_any(), e))?;
    ctx.metrics.status_patched(ControllerKind::RoutingPolicy);
    Ok(true)
}

/// Publishes events; failures are logged, never fail the reconcile.
pub async fn publish<K: Resource<DynamicType = ()>>(ctx: &Context, obj: &K, notices: Vec<Notice>) {
    let reference = obj.object_ref(&());
    for n in notices {
        let ev = Event {
            type_: n.type_,
            reason: n.reason.to_owned(),
            note: Some(crate::status::truncate(n.note)),
            action: "Reconcile".to_owned(),
            secondary: None,
        };
        if let Err(e) = ctx.recorder.publish(&ev, &reference).await {
            tracing::warn!(error = %e, reason = n.reason, "could not publish event");
        }
    }
}

/// Parameters of status writes: merge patches recorded under the operator's field manager.
pub fn status_params() -> PatchParams {
    PatchParams {
        field_manager: Some(crate::MANAGER.to_owned()),
        ..PatchParams::default()
    }
}

/// One pass of the pipeline for one policy.
pub async fn reconcile_policy(policy: &RoutingPolicy, ctx: &Context) -> Result<Action> {
    ctx.index.upsert_policy(policy);
    let inputs = dereference(policy, ctx).await?;
    crate::cache_check::ensure_caught_up(ctx, policy, &inputs).await?;
    let validated = validate(policy, &inputs);
    let observed = match &validated.config {
        Some(config) => {
            let children = build(policy, config, &validated.secrets, &ctx.config.build)?;
            match apply_children(ctx, policy, &children).await {
                Ok(observed) => Some(observed),
                Err(e) if e.category() == ErrorCategory::Rejected => {
                    report_rejection(ctx, policy, &validated, &e).await?;
                    return Err(e);
                }
                Err(e) => return Err(e),
            }
        }
        None => None,
    };
    let status = policy_status(policy, &validated, observed.as_ref(), &now());
    let old_conditions = policy
        .status
        .as_ref()
        .map(|s| s.conditions.clone())
        .unwrap_or_default();
    if write_status(ctx, policy, &status).await? {
        publish(ctx, policy, notices(&old_conditions, &status.conditions)).await;
    }
    Ok(if validated.has_errors() {
        // Nothing changes until the spec (or an endpoint it names) does.
        Action::await_change()
    } else {
        Action::requeue(ctx.config.resync)
    })
}

/// When the API server refuses a child built from a valid spec (a 400/422, e.g. a node
/// selector key it does not accept, or an admission policy), says so in the `Ready`
/// condition and with a Warning event. The routers keep what they had; the caller retries
/// with backoff, since an admission policy may change its mind.
async fn report_rejection(
    ctx: &Context,
    policy: &RoutingPolicy,
    validated: &crate::validate::Validated,
    error: &Error,
) -> Result<()> {
    let mut status = policy_status(policy, validated, None, &now());
    let old = policy.status.clone().unwrap_or_default();
    // Nothing new was applied: the routers still serve the old config.
    status.config_hash = old.config_hash.clone();
    let message = crate::status::truncate(format!(
        "the API server rejected a child of this policy; the routers keep their last \
         config: {error}"
    ));
    if let Some(ready) = status.conditions.iter_mut().find(|c| c.type_ == READY) {
        ready.reason = "ChildRejected".to_owned();
        ready.message = message.clone();
    }
    let was_reported = find(&old.conditions, READY)
        .is_some_and(|c| c.reason == "ChildRejected" && c.message == message);
    if write_status(ctx, policy, &status).await? && !was_reported {
        let notice = Notice {
            type_: kube::runtime::events::EventType::Warning,
            reason: "ChildRejected",
            note: message,
        };
        publish(ctx, policy, vec![notice]).await;
    }
    Ok(())
}

/// Runs `work` under the reconcile deadline.
pub async fn with_deadline(
    ctx: &Context,
    work: impl std::future::Future<Output = Result<Action>>,
) -> Result<Action> {
    let limit = ctx.config.reconcile_timeout;
    tokio::time::timeout(limit, work)
        .await
        .unwrap_or(Err(Error::Timeout(limit)))
}

/// The reconciler handed to the controller runtime.
pub async fn reconcile(policy: Arc<RoutingPolicy>, ctx: Arc<Context>) -> Result<Action> {
    let start = Instant::now();
    let result = with_deadline(&ctx, reconcile_policy(&policy, &ctx)).await;
    ctx.metrics
        .observe(ControllerKind::RoutingPolicy, &result, start.elapsed());
    if result.is_ok() {
        ctx.policy_backoff.reset(&key(&policy));
    }
    result
}

/// The reconciler of the lenient watch: decoded policies go through [`reconcile`];
/// undecodable ones get a status saying why, an event, and no retry until they change.
pub async fn reconcile_watched(
    obj: Arc<Lenient<RoutingPolicy>>,
    ctx: Arc<Context>,
) -> Result<Action> {
    match obj.as_ref() {
        Lenient::Parsed(p) => reconcile(Arc::new(p.clone()), ctx).await,
        Lenient::Unreadable(u) => {
            let start = Instant::now();
            let result = with_deadline(&ctx, report_unreadable(&ctx, obj.as_ref(), u)).await;
            ctx.metrics
                .observe(ControllerKind::RoutingPolicy, &result, start.elapsed());
            if result.is_ok() {
                ctx.policy_backoff.reset(&key_of(obj.as_ref()));
            }
            result
        }
    }
}

/// Status and event for a policy that did not decode. Its children are left alone, so the
/// routers keep serving the last valid config.
async fn report_unreadable(
    ctx: &Context,
    obj: &Lenient<RoutingPolicy>,
    u: &Unreadable,
) -> Result<Action> {
    let generation = u.metadata.generation;
    let old: Vec<Condition> = old_conditions(u);
    let resolved = Condition {
        type_: RESOLVED.to_owned(),
        status: "False".to_owned(),
        reason: UNREADABLE.to_owned(),
        message: crate::status::truncate(format!(
            "the operator cannot decode this RoutingPolicy: {}",
            u.error
        )),
        observed_generation: generation,
        last_transition_time: now(),
    };
    let ready = Condition {
        type_: READY.to_owned(),
        status: "False".to_owned(),
        reason: "InvalidSpec".to_owned(),
        message: "the spec cannot be served (see condition Resolved); the routers keep \
                  serving the last valid config"
            .to_owned(),
        observed_generation: generation,
        last_transition_time: now(),
    };
    let mut new = vec![ready, resolved];
    new.extend(find(&old, DEGRADED).cloned());
    let conditions = merge_conditions(&old, new, &now());
    let note = find(&conditions, RESOLVED)
        .map(|c| c.message.clone())
        .unwrap_or_default();
    let was_reported =
        find(&old, RESOLVED).is_some_and(|c| c.reason == UNREADABLE && c.message == note);
    if write_unreadable_status(ctx, obj, u, conditions).await? && !was_reported {
        let notice = Notice {
            type_: kube::runtime::events::EventType::Warning,
            reason: "InvalidSpec",
            note,
        };
        publish(ctx, obj, vec![notice]).await;
    }
    Ok(Action::await_change())
}

/// Condition reason for an object the operator cannot decode.
pub const UNREADABLE: &str = "UnreadableSpec";

/// The conditions of an undecodable object's status, where they decode.
pub fn old_conditions(u: &Unreadable) -> Vec<Condition> {
    u.status
        .as_ref()
        .and_then(|s| s.get("conditions"))
        .and_then(|c| serde_json::from_value(c.clone()).ok())
        .unwrap_or_default()
}

/// Writes `conditions` and `observedGeneration` into the status of an object that did not
/// decode, unless they are already there; other status fields are left as they are.
/// Returns whether it wrote.
pub async fn write_unreadable_status<K>(
    ctx: &Context,
    obj: &Lenient<K>,
    u: &Unreadable,
    conditions: Vec<Condition>,
) -> Result<bool>
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + std::fmt::Debug
        + serde::de::DeserializeOwned,
{
    let patch = serde_json::json!({
        "status": {
            "conditions": conditions,
            "observedGeneration": u.metadata.generation,
        }
    });
    let current = u.status.as_ref();
    let same = current.and_then(|s| s.get("conditions")) == Some(&patch["status"]["conditions"])
        && current.and_then(|s| s.get("observedGeneration"))
            == Some(&patch["status"]["observedGeneration"]);
    if same {
        return Ok(false);
    }
    let name = obj.name_any();
    let api: Api<Lenient<K>> =
        Api::namespaced(ctx.client.clone(), &obj.namespace().unwrap_or_default());
    api.patch_status(&name, &status_params(), &Patch::Merge(&patch))
        .await
        .map_err(|e| Error::kube("patch status", kind_label::<K>(), &name, e))?;
    Ok(true)
}

fn kind_label<K: Resource<DynamicType = ()>>() -> &'static str {
    if K::kind(&()) == "ModelEndpoint" {
        "ModelEndpoint"
    } else {
        "RoutingPolicy"
    }
}

fn key_of<K: Resource>(obj: &K) -> Key {
    (obj.namespace().unwrap_or_default(), obj.name_any())
}

/// Transient failures: requeue with per-object exponential backoff.
pub fn error_policy(policy: Arc<RoutingPolicy>, error: &Error, ctx: Arc<Context>) -> Action {
    retry_later(&ctx, &key(&policy), error)
}

/// [`error_policy`] of the lenient watch.
pub fn error_policy_watched(
    obj: Arc<Lenient<RoutingPolicy>>,
    error: &Error,
    ctx: Arc<Context>,
) -> Action {
    retry_later(&ctx, &key_of(obj.as_ref()), error)
}

fn retry_later(ctx: &Context, key: &Key, error: &Error) -> Action {
    let delay = ctx.policy_backoff.next(key);
    tracing::warn!(
        policy = %key.1,
        namespace = %key.0,
        category = ?error.category(),
        error = %error,
        retry_in_ms = delay.as_millis() as u64,
        "reconcile failed"
    );
    Action::requeue(delay)
}
