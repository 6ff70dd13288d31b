//! The RoutingPolicy controller: dereference → validate → build → apply → status.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
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
use crate::error::{Error, Result};
use crate::index::Key;
use crate::metrics::ControllerKind;
use crate::reports;
use crate::status::{Notice, Observed, notices, policy_status};
use crate::validate::{Inputs, referenced_endpoints, referenced_secrets, validate};

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
    endpoints: &Store<ModelEndpoint>,
    secrets: &Store<PartialObjectMeta<Secret>>,
) -> Inputs {
    let ns = policy.namespace().unwrap_or_default();
    let found: Vec<ModelEndpoint> = referenced_endpoints(&policy.spec)
        .iter()
        .filter_map(|name| endpoints.get(&ObjectRef::new(name).within(&ns)))
        .map(|e| e.as_ref().clone())
        .collect();
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
    let validated = validate(policy, &inputs);
    let observed = match &validated.config {
        Some(config) => {
            let children = build(policy, config, &validated.secrets, &ctx.config.build)?;
            Some(apply_children(ctx, policy, &children).await?)
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

/// The reconciler handed to the controller runtime.
pub async fn reconcile(policy: Arc<RoutingPolicy>, ctx: Arc<Context>) -> Result<Action> {
    let start = Instant::now();
    let result = reconcile_policy(&policy, &ctx).await;
    ctx.metrics
        .observe(ControllerKind::RoutingPolicy, &result, start.elapsed());
    if result.is_ok() {
        ctx.policy_backoff.reset(&key(&policy));
    }
    result
}

/// Transient failures: requeue with per-object exponential backoff.
pub fn error_policy(policy: Arc<RoutingPolicy>, error: &Error, ctx: Arc<Context>) -> Action {
    let delay = ctx.policy_backoff.next(&key(&policy));
    tracing::warn!(
        policy = %policy.name_any(),
        namespace = %policy.namespace().unwrap_or_default(),
        category = ?error.category(),
        error = %error,
        retry_in_ms = delay.as_millis() as u64,
        "reconcile failed"
    );
    Action::requeue(delay)
}
