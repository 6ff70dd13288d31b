//! Status: the conditions and fields of a policy's status, computed purely from what validate
//! found and what the cluster shows, merged with the previous status so that
//! `lastTransitionTime` moves only on a transition, plus the events a transition deserves.
//!
//! `Ready` means: the spec resolves, the router Deployment is available, and the routers serve
//! the current config. Routers report the config hash they serve in `<policy>-router-status`.
//! While no router has reported at all (an older router, or none started yet), `Ready` follows
//! Deployment availability alone with reason `Available` and a message saying the served
//! config is not confirmed; once reports exist, `Ready` needs at least as many reports of the
//! current hash as there are ready replicas (reason `ConfigServed`), else it is `False` with
//! reason `ConfigPending`. Reports of other hashes (old pods, dead pods) neither block nor
//! count.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::ResourceExt;
use kube::runtime::events::EventType;
use switchyard_crds::RoutingPolicy;
use switchyard_crds::policy::RoutingPolicyStatus;
use switchyard_crds::resolve::Severity;

use crate::names;
use crate::reports::Reports;
use crate::validate::Validated;

/// Condition type: routers serve the current config.
pub const READY: &str = "Ready";
/// Condition type: every reference resolved.
pub const RESOLVED: &str = "Resolved";
/// Condition type: serving, but with something missing or on a fallback.
pub const DEGRADED: &str = "Degraded";
/// Longest condition message written (the API allows 32 KiB; status stays readable).
pub const MAX_MESSAGE: usize = 1024;

/// What the cluster shows about a policy's routers after apply.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Observed {
    /// Ready router pods (Deployment status).
    pub ready_replicas: i32,
    /// Whether the Deployment counts as available (≥ 1 ready pod, `Available` not `False`).
    pub available: bool,
    /// Reports written by the routers.
    pub reports: Reports,
}

/// A transition worth an Event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notice {
    /// Normal or Warning.
    pub type_: EventType,
    /// Event reason (bounded set).
    pub reason: &'static str,
    /// Human-readable note.
    pub note: String,
}

fn condition(
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

/// Cuts a message to [`MAX_MESSAGE`] bytes on a character boundary.
pub fn truncate(mut message: String) -> String {
    if message.len() > MAX_MESSAGE {
        let mut cut = MAX_MESSAGE - 3;
        while !message.is_char_boundary(cut) {
            cut -= 1;
        }
        message.truncate(cut);
        message.push_str("...");
    }
    message
}

/// Merges freshly computed conditions into the previous ones: a condition whose status did
/// not change keeps its `lastTransitionTime`; changed or new ones get `now`.
pub fn merge_conditions(old: &[Condition], new: Vec<Condition>, now: &Time) -> Vec<Condition> {
    new.into_iter()
        .map(|mut c| {
            c.last_transition_time = match old.iter().find(|o| o.type_ == c.type_) {
                Some(o) if o.status == c.status => o.last_transition_time.clone(),
                _ => now.clone(),
            };
            c
        })
        .collect()
}

/// Finds a condition by type.
pub fn find<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

/// The status a policy should have. `observed` is `None` when nothing was applied (the spec
/// is invalid): replica count and config hash then stay as they were, since the routers keep
/// serving the last valid config.
pub fn policy_status(
    policy: &RoutingPolicy,
    validated: &Validated,
    observed: Option<&Observed>,
    now: &Time,
) -> RoutingPolicyStatus {
    let old = policy.status.clone().unwrap_or_default();
    let generation = policy.metadata.generation;
    let name = policy.name_any();
    let namespace = policy.namespace().unwrap_or_default();

    let errors: Vec<_> = validated
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .collect();
    let unresolved: Vec<_> = validated
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Degraded && f.cause.is_unresolved_reference())
        .collect();
    let resolved = if let Some(first) = errors.first() {
        condition(
            RESOLVED,
            false,
            first.cause.as_str(),
            join(errors.iter().map(|f| f.message.as_str())),
            generation,
        )
    } else if let Some(first) = unresolved.first() {
        condition(
            RESOLVED,
            false,
            first.cause.as_str(),
            join(unresolved.iter().map(|f| f.message.as_str())),
            generation,
        )
    } else {
        condition(
            RESOLVED,
            true,
            "Resolved",
            format!(
                "all {} referenced ModelEndpoints and their Secrets resolved",
                validated.endpoints.len()
            ),
            generation,
        )
    };

    let mut degradations: Vec<(&str, String)> = validated
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Degraded)
        .map(|f| (f.cause.as_str(), f.message.clone()))
        .collect();
    let gpu_requested = policy.spec.router.gpu.is_some();
    if let (Some(obs), Some(hash)) = (observed, &validated.hash) {
        for (pod, report) in &obs.reports.by_pod {
            if &report.config_hash != hash {
                continue;
            }
            let on_cpu = gpu_requested && report.device == "cpu";
            if on_cpu {
                let why = if report.degraded.is_empty() {
                    "no reason given".to_owned()
                } else {
                    report.degraded.join("; ")
                };
                degradations.push((
                    "CudaFallback",
                    format!("router pod {pod:?} runs inference on CPU although a GPU was requested: {why}"),
                ));
            } else if !report.degraded.is_empty() {
                degradations.push((
                    "RouterDegraded",
                    format!("router pod {pod:?}: {}", report.degraded.join("; ")),
                ));
            }
        }
    }
    let degraded = match degradations.first() {
        Some((reason, _)) => condition(
            DEGRADED,
            true,
            reason,
            join(degradations.iter().map(|(_, m)| m.as_str())),
            generation,
        ),
        None => condition(
            DEGRADED,
            false,
            "AsExpected",
            "nothing is degraded".to_owned(),
            generation,
        ),
    };

    let desired = crate::build::min_replicas(policy);
    let ready = match (observed, &validated.hash) {
        (None, _) | (_, None) => condition(
            READY,
            false,
            "InvalidSpec",
            match &old.config_hash {
                Some(h) => format!(
                    "the spec cannot be served (see condition Resolved); the routers keep \
                     serving the last valid config {h}"
                ),
                None => "the spec cannot be served (see condition Resolved)".to_owned(),
            },
            generation,
        ),
        (Some(_), Some(_)) if desired == 0 => condition(
            READY,
            false,
            "ScaledToZero",
            "spec.router.replicas is 0".to_owned(),
            generation,
        ),
        (Some(obs), Some(_)) if !obs.available => condition(
            READY,
            false,
            "Progressing",
            format!(
                "{} of {desired} router replicas ready; waiting for the Deployment {:?}",
                obs.ready_replicas,
                names::router(&name)
            ),
            generation,
        ),
        (Some(obs), Some(hash)) => {
            let serving = obs
                .reports
                .by_pod
                .values()
                .filter(|r| &r.config_hash == hash)
                .count();
            let ready_pods = usize::try_from(obs.ready_replicas.max(1)).unwrap_or(1);
            if obs.reports.by_pod.is_empty() {
                condition(
                    READY,
                    true,
                    "Available",
                    format!(
                        "{} router replicas ready; no router has reported the config it \
                         serves yet (ConfigServed unknown)",
                        obs.ready_replicas
                    ),
                    generation,
                )
            } else if serving >= ready_pods {
                condition(
                    READY,
                    true,
                    "ConfigServed",
                    format!(
                        "{} router replicas ready, serving config {hash}",
                        obs.ready_replicas
                    ),
                    generation,
                )
            } else {
                condition(
                    READY,
                    false,
                    "ConfigPending",
                    format!(
                        "{serving} of {} ready routers report config {hash}; waiting for the \
                         others to reload",
                        obs.ready_replicas
                    ),
                    generation,
                )
            }
        }
    };

    RoutingPolicyStatus {
        conditions: merge_conditions(&old.conditions, vec![ready, resolved, degraded], now),
        observed_generation: generation,
        ready_replicas: match observed {
            Some(o) => Some(o.ready_replicas),
            None => old.ready_replicas,
        },
        service_url: Some(names::service_url(&name, &namespace)),
        endpoints: validated.endpoints.clone(),
        config_hash: validated.hash.clone().or(old.config_hash),
    }
}

fn join<'a>(messages: impl Iterator<Item = &'a str>) -> String {
    truncate(messages.collect::<Vec<_>>().join("; "))
}

fn is_true(c: Option<&Condition>) -> bool {
    c.is_some_and(|c| c.status == "True")
}

/// Events for the transitions between two condition sets: became Ready, became Degraded (or
/// degraded for a new reason), spec became invalid (or invalid for a new reason).
pub fn notices(old: &[Condition], new: &[Condition]) -> Vec<Notice> {
    let mut out = Vec::new();
    let (old_ready, new_ready) = (find(old, READY), find(new, READY));
    if is_true(new_ready) && !is_true(old_ready) {
        out.push(Notice {
            type_: EventType::Normal,
            reason: "Ready",
            note: new_ready.map(|c| c.message.clone()).unwrap_or_default(),
        });
    }
    let (old_deg, new_deg) = (find(old, DEGRADED), find(new, DEGRADED));
    if let Some(d) = new_deg.filter(|d| d.status == "True")
        && (!is_true(old_deg) || old_deg.is_some_and(|o| o.reason != d.reason))
    {
        out.push(Notice {
            type_: EventType::Warning,
            reason: "Degraded",
            note: format!("{}: {}", d.reason, d.message),
        });
    }
    let (old_res, new_res) = (find(old, RESOLVED), find(new, RESOLVED));
    if let Some(r) = new_res.filter(|r| r.status == "False" && r.reason == "InvalidPolicy")
        && !old_res
            .is_some_and(|o| o.status == "False" && o.reason == r.reason && o.message == r.message)
    {
        out.push(Notice {
            type_: EventType::Warning,
            reason: "InvalidSpec",
            note: r.message.clone(),
        });
    }
    out
}

#[cfg(test)]
#[path = "status_tests.rs"]
mod tests;
