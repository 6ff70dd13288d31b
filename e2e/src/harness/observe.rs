//! What scenarios read back from the cluster: a policy's conditions, its children (by the
//! operator's labels), the Events about an object, with waits that poll the API until a
//! condition holds or a deadline passes.

use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Service, ServiceAccount};
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, OwnerReference};
use kube::ResourceExt;
use kube::api::ListParams;
use switchyard_crds::RoutingPolicy;

use super::objects::{Namespaced, api};
use super::{Cluster, HarnessError};

/// How often waits on the API re-read (cheap enough for a real API server too).
pub const API_POLL: Duration = Duration::from_millis(100);

/// Label key naming the policy a child belongs to (the operator's contract).
pub const POLICY_LABEL: &str = "switchyard.dev/policy";

/// Waits until `check` returns `Some`, polling every [`API_POLL`], at most `timeout`.
pub async fn poll_api<T, F, Fut>(timeout: Duration, what: &str, check: F) -> Result<T, HarnessError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Option<T>, HarnessError>>,
{
    super::wait::poll_every(API_POLL, timeout, what, check).await
}

/// A condition of an object's conditions by type.
pub fn condition<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

/// A policy's condition by type.
pub fn policy_condition(p: &RoutingPolicy, type_: &str) -> Option<Condition> {
    p.status
        .as_ref()
        .and_then(|s| condition(&s.conditions, type_).cloned())
}

/// `type=status/reason: message` of every condition, for messages.
pub fn describe_conditions(p: &RoutingPolicy) -> String {
    p.status
        .as_ref()
        .map(|s| {
            s.conditions
                .iter()
                .map(|c| format!("{}={}/{}: {}", c.type_, c.status, c.reason, c.message))
                .collect::<Vec<_>>()
                .join("\n  ")
        })
        .unwrap_or_else(|| "no status".to_owned())
}

/// Waits until policy `name` exists and `pred` holds for it; returns it.
pub async fn wait_policy(
    cluster: &impl Cluster,
    name: &str,
    timeout: Duration,
    what: &str,
    pred: impl Fn(&RoutingPolicy) -> bool,
) -> Result<RoutingPolicy, HarnessError> {
    let api = api::<RoutingPolicy>(cluster);
    let last = std::cell::RefCell::new(String::new());
    let res = poll_api(timeout, what, || {
        let fut = api.get_opt(name);
        let (last, pred) = (&last, &pred);
        async move {
            Ok(fut.await?.and_then(|p| {
                *last.borrow_mut() = describe_conditions(&p);
                pred(&p).then_some(p)
            }))
        }
    })
    .await;
    res.map_err(|e| {
        HarnessError::Other(format!(
            "{e}; policy {name} conditions:\n  {}",
            last.borrow()
        ))
    })
}

/// True when the policy's status describes its current generation.
pub fn observed(p: &RoutingPolicy) -> bool {
    p.status.as_ref().and_then(|s| s.observed_generation) == p.metadata.generation
}

/// True when `Ready` is `True` for the current generation.
pub fn is_ready(p: &RoutingPolicy) -> bool {
    observed(p) && policy_condition(p, "Ready").is_some_and(|c| c.status == "True")
}

/// Waits until policy `name` is `Ready` for its current generation, with the routers
/// confirming they serve its config (`ConfigServed`).
pub async fn wait_ready(
    cluster: &impl Cluster,
    name: &str,
    timeout: Duration,
) -> Result<RoutingPolicy, HarnessError> {
    wait_policy(
        cluster,
        name,
        timeout,
        &format!("policy {name} Ready"),
        |p| is_ready(p) && policy_condition(p, "Ready").is_some_and(|c| c.reason == "ConfigServed"),
    )
    .await
}

/// The children of a policy, found by the operator's labels.
#[derive(Clone, Debug, Default)]
pub struct Children {
    /// ConfigMaps (config and router status).
    pub config_maps: Vec<ConfigMap>,
    /// Deployments.
    pub deployments: Vec<Deployment>,
    /// Services.
    pub services: Vec<Service>,
    /// ServiceAccounts.
    pub service_accounts: Vec<ServiceAccount>,
    /// Roles.
    pub roles: Vec<Role>,
    /// RoleBindings.
    pub role_bindings: Vec<RoleBinding>,
}

impl Children {
    /// Every child's `kind/name`, sorted.
    pub fn names(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        out.extend(
            self.config_maps
                .iter()
                .map(|o| format!("ConfigMap/{}", o.name_any())),
        );
        out.extend(
            self.deployments
                .iter()
                .map(|o| format!("Deployment/{}", o.name_any())),
        );
        out.extend(
            self.services
                .iter()
                .map(|o| format!("Service/{}", o.name_any())),
        );
        out.extend(
            self.service_accounts
                .iter()
                .map(|o| format!("ServiceAccount/{}", o.name_any())),
        );
        out.extend(self.roles.iter().map(|o| format!("Role/{}", o.name_any())));
        out.extend(
            self.role_bindings
                .iter()
                .map(|o| format!("RoleBinding/{}", o.name_any())),
        );
        out.sort();
        out
    }

    /// Every child's owner references, with its `kind/name`.
    pub fn owners(&self) -> Vec<(String, Vec<OwnerReference>)> {
        fn refs<K: kube::Resource>(kind: &str, items: &[K]) -> Vec<(String, Vec<OwnerReference>)> {
            items
                .iter()
                .map(|o| {
                    (
                        format!("{kind}/{}", o.name_any()),
                        o.owner_references().to_vec(),
                    )
                })
                .collect()
        }
        let mut out = refs("ConfigMap", &self.config_maps);
        out.extend(refs("Deployment", &self.deployments));
        out.extend(refs("Service", &self.services));
        out.extend(refs("ServiceAccount", &self.service_accounts));
        out.extend(refs("Role", &self.roles));
        out.extend(refs("RoleBinding", &self.role_bindings));
        out
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.names().is_empty()
    }
}

async fn labelled<K: Namespaced>(
    cluster: &impl Cluster,
    selector: &str,
) -> Result<Vec<K>, HarnessError> {
    Ok(api::<K>(cluster)
        .list(&ListParams::default().labels(selector))
        .await?
        .items
        .into_iter()
        .filter(|o| o.meta().deletion_timestamp.is_none())
        .collect())
}

/// The children of `policy` that exist now (not being deleted).
pub async fn children(cluster: &impl Cluster, policy: &str) -> Result<Children, HarnessError> {
    let sel = format!("{POLICY_LABEL}={policy}");
    Ok(Children {
        config_maps: labelled(cluster, &sel).await?,
        deployments: labelled(cluster, &sel).await?,
        services: labelled(cluster, &sel).await?,
        service_accounts: labelled(cluster, &sel).await?,
        roles: labelled(cluster, &sel).await?,
        role_bindings: labelled(cluster, &sel).await?,
    })
}

/// The events.k8s.io Events about the object `kind/name` in the cluster's namespace.
pub async fn events_about(
    cluster: &impl Cluster,
    kind: &str,
    name: &str,
) -> Result<Vec<Event>, HarnessError> {
    let all = api::<Event>(cluster).list(&ListParams::default()).await?;
    Ok(all
        .items
        .into_iter()
        .filter(|e| {
            e.regarding
                .as_ref()
                .is_some_and(|r| r.kind.as_deref() == Some(kind) && r.name.as_deref() == Some(name))
        })
        .collect())
}

/// How many times Events with `reason` about `kind/name` occurred: each Event counts once, or
/// its `series.count` when it is a series.
pub fn occurrences(events: &[Event], reason: &str) -> u64 {
    events
        .iter()
        .filter(|e| e.reason.as_deref() == Some(reason))
        .map(|e| {
            e.series
                .as_ref()
                .map_or(1, |s| u64::try_from(s.count).unwrap_or(1))
        })
        .sum()
}

/// The number of occurrences of Events with `reason` about `kind/name` now (see
/// [`occurrences`]); pass it to [`wait_event`] to wait for the next one.
pub async fn event_count(
    cluster: &impl Cluster,
    kind: &str,
    name: &str,
    reason: &str,
) -> Result<u64, HarnessError> {
    Ok(occurrences(
        &events_about(cluster, kind, name).await?,
        reason,
    ))
}

/// Waits until an Event with `reason` about `kind/name` occurs after `before` occurrences
/// ([`event_count`]) and checks it: a new Event must carry a note containing `needle`. An
/// occurrence that the recorder folded into an earlier Event's series (the events.k8s.io
/// rule: same object, reason, action and reporter within minutes are one series, whatever
/// the note) keeps that Event's first note, so only its count is checked. Returns the Event.
pub async fn wait_event(
    cluster: &impl Cluster,
    kind: &str,
    name: &str,
    reason: &str,
    needle: &str,
    before: u64,
    timeout: Duration,
) -> Result<Event, HarnessError> {
    let newest = poll_api(
        timeout,
        &format!("a new Event {reason} about {kind}/{name}"),
        || async {
            let events = events_about(cluster, kind, name).await?;
            if occurrences(&events, reason) <= before {
                return Ok(None);
            }
            Ok(events
                .into_iter()
                .filter(|e| e.reason.as_deref() == Some(reason))
                .max_by_key(|e| {
                    e.series
                        .as_ref()
                        .map(|s| s.last_observed_time.0)
                        .or_else(|| e.event_time.as_ref().map(|t| t.0))
                }))
        },
    )
    .await?;
    let note = newest.note.clone().unwrap_or_default();
    if newest.series.is_none() && !note.contains(needle) {
        return Err(HarnessError::Other(format!(
            "Event {reason} about {kind}/{name} does not mention {needle:?}: {note}"
        )));
    }
    Ok(newest)
}
