//! Validate: the dereferenced inputs of one policy → the router config to serve and every
//! finding about it. Pure: no I/O, so it is unit-tested directly and benchmarked.

use std::collections::{BTreeMap, BTreeSet};

use kube::ResourceExt;
use switchyard_crds::config::RouterConfig;
use switchyard_crds::policy::{EndpointReadiness, RoutingPolicySpec};
use switchyard_crds::resolve::{
    MODEL_VOLUME_ROOT, Reason, ResolveOptions, Severity, resolve_policy_with, server_settings,
};
use switchyard_crds::{ModelEndpoint, RoutingPolicy};

use serde::Serialize;
use switchyard_crds::schema::validate_structure;

use crate::names;

/// Name of the scratch volume mounted at `/tmp`; model volumes may not use it.
pub const TMP_VOLUME: &str = "tmp";

/// What a finding is about: the condition reason, from a bounded set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Cause {
    /// A problem found by `switchyard_crds::resolve`.
    Resolve(Reason),
    /// A Secret referenced by an endpoint's `apiKeySecretRef` or by `spec.auth` is missing.
    SecretNotFound,
    /// A referenced endpoint's health probe fails.
    EndpointUnreachable,
}

impl Cause {
    /// CamelCase condition reason.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Resolve(r) => r.as_str(),
            Self::SecretNotFound => "SecretNotFound",
            Self::EndpointUnreachable => "EndpointUnreachable",
        }
    }

    /// True when the finding means a reference did not resolve.
    pub fn is_unresolved_reference(self) -> bool {
        matches!(
            self,
            Self::Resolve(Reason::EndpointNotFound | Reason::InvalidEndpoint)
                | Self::SecretNotFound
        )
    }
}

/// One thing wrong with a policy, with a message a user can act on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// Whether it blocks serving ([`Severity::Error`]) or only degrades it.
    pub severity: Severity,
    /// Why, as a condition reason.
    pub cause: Cause,
    /// What is wrong and where (`field: message`).
    pub message: String,
}

/// The dereferenced state a policy depends on, read from the caches.
#[derive(Clone, Debug, Default)]
pub struct Inputs {
    /// Referenced ModelEndpoints that exist (others are reported as missing by resolution).
    pub endpoints: Vec<ModelEndpoint>,
    /// Referenced Secrets that do not exist.
    pub missing_secrets: BTreeSet<String>,
    /// Referenced endpoints whose last health probe failed, with the probe's message.
    pub unreachable: BTreeMap<String, String>,
    /// Referenced endpoints that exist but could not be decoded, with the reason.
    pub unreadable: BTreeMap<String, String>,
}

/// The result of validating one policy.
#[derive(Clone, Debug, PartialEq)]
pub struct Validated {
    /// The config to serve; `None` when an error prevents serving.
    pub config: Option<RouterConfig>,
    /// `RouterConfig::hash()` of `config`.
    pub hash: Option<String>,
    /// Everything wrong, errors first.
    pub findings: Vec<Finding>,
    /// Secrets the routers need to read (endpoint API keys and client keys), sorted.
    pub secrets: BTreeSet<String>,
    /// Readiness of every referenced endpoint.
    pub endpoints: Vec<EndpointReadiness>,
}

impl Validated {
    /// True when an error prevents serving the policy.
    pub fn has_errors(&self) -> bool {
        self.findings.iter().any(|f| f.severity == Severity::Error)
    }
}

/// Names of every ModelEndpoint a policy spec mentions (routes, candidates, the classifier's
/// `endpointRef`, `visionEndpoint`).
pub fn referenced_endpoints(spec: &RoutingPolicySpec) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    if let Some(intent) = &spec.intent {
        out.extend(intent.classifier.endpoint_ref.iter().cloned());
        for route in &intent.routes {
            out.extend(route.endpoints.iter().cloned());
        }
    }
    if let Some(auto) = &spec.auto {
        out.extend(auto.candidates.iter().map(|c| c.endpoint.clone()));
        out.extend(auto.vision_endpoint.iter().cloned());
    }
    out
}

/// Names of the Secrets a policy needs: its client-key Secret and the API-key Secrets of the
/// given endpoints.
pub fn referenced_secrets<'a>(
    spec: &RoutingPolicySpec,
    endpoints: impl IntoIterator<Item = &'a ModelEndpoint>,
) -> BTreeSet<String> {
    let mut out: BTreeSet<String> = endpoints
        .into_iter()
        .filter_map(|e| e.spec.api_key_secret_ref.as_ref().map(|r| r.name.clone()))
        .collect();
    if let Some(auth) = &spec.auth {
        out.insert(auth.api_keys_secret_ref.name.clone());
    }
    out
}

/// Resolves a policy against its inputs and checks what only the operator knows about
/// (child names, reserved volume names, missing Secrets, unreachable endpoints).
pub fn validate(policy: &RoutingPolicy, inputs: &Inputs) -> Validated {
    // A policy the installed CRD should have refused (a looser, older CRD, or an API server
    // that skipped validation) stops here, before any work proportional to its size.
    let violations = schema_violations(policy, "RoutingPolicy");
    if !violations.is_empty() {
        return Validated {
            config: None,
            hash: None,
            findings: violations
                .into_iter()
                .map(|message| Finding {
                    severity: Severity::Error,
                    cause: Cause::Resolve(Reason::InvalidPolicy),
                    message,
                })
                .collect(),
            secrets: BTreeSet::new(),
            endpoints: Vec::new(),
        };
    }
    let opts = ResolveOptions {
        model_volume_root: Some(MODEL_VOLUME_ROOT.to_owned()),
    };
    let res = resolve_policy_with(policy, &inputs.endpoints, &inputs.unreadable, &opts);
    let mut findings: Vec<Finding> = res
        .problems
        .iter()
        .map(|p| Finding {
            severity: p.severity,
            cause: Cause::Resolve(p.reason),
            message: format!("{}: {}", p.field, p.message),
        })
        .collect();
    let mut error = |field: &str, message: String| {
        findings.push(Finding {
            severity: Severity::Error,
            cause: Cause::Resolve(Reason::InvalidPolicy),
            message: format!("{field}: {message}"),
        });
    };
    let name = policy.name_any();
    if name.len() > names::MAX_POLICY_NAME {
        error(
            "metadata.name",
            format!(
                "{name:?} is {} characters; at most {} fit the router Service name \
                 \"<name>-router\" (63 characters)",
                name.len(),
                names::MAX_POLICY_NAME
            ),
        );
    }
    let mut volumes = BTreeSet::new();
    for (i, v) in policy.spec.router.model_volumes.iter().enumerate() {
        let field = format!("spec.router.modelVolumes[{i}].name");
        if v.name == TMP_VOLUME {
            error(
                &field,
                format!("{TMP_VOLUME:?} is reserved for the router's scratch volume"),
            );
        } else if !volumes.insert(v.name.as_str()) {
            error(&field, format!("{:?} is listed twice", v.name));
        }
        if v.persistent_volume_claim.is_some() == v.image.is_some() {
            error(
                &format!("spec.router.modelVolumes[{i}]"),
                "set exactly one of persistentVolumeClaim or image".to_owned(),
            );
        }
    }

    let mut secrets = BTreeSet::new();
    let config = res.policy.as_ref().map(|p| {
        let mut config = RouterConfig::empty();
        config.server = server_settings(policy);
        config.policies.push(p.clone());
        config.endpoints = res.endpoints.clone();
        config
    });
    if let Some(config) = &config {
        secrets.extend(
            config
                .endpoints
                .iter()
                .filter_map(|e| e.api_key.as_ref().map(|k| k.name.clone())),
        );
        secrets.extend(
            config
                .policies
                .iter()
                .filter_map(|p| p.auth.as_ref().map(|a| a.name.clone())),
        );
    }
    let readiness = &res.endpoint_readiness;
    for secret in &inputs.missing_secrets {
        let users: Vec<&str> = config
            .iter()
            .flat_map(|c| c.endpoints.iter())
            .filter(|e| e.api_key.as_ref().is_some_and(|k| &k.name == secret))
            .map(|e| e.name.as_str())
            .collect();
        let is_auth = policy
            .spec
            .auth
            .as_ref()
            .is_some_and(|a| &a.api_keys_secret_ref.name == secret);
        if users.is_empty() && !is_auth {
            continue;
        }
        let used_by = if users.is_empty() {
            "spec.auth.apiKeysSecretRef".to_owned()
        } else {
            format!("the API key of ModelEndpoint {}", quote_list(&users))
        };
        findings.push(Finding {
            severity: Severity::Degraded,
            cause: Cause::SecretNotFound,
            message: format!(
                "Secret {secret:?} ({used_by}) does not exist in namespace {:?}; requests \
                 needing it fail until it is created",
                policy.namespace().unwrap_or_default()
            ),
        });
    }
    for (endpoint, message) in &inputs.unreachable {
        if readiness.get(endpoint) == Some(&None) {
            findings.push(Finding {
                severity: Severity::Degraded,
                cause: Cause::EndpointUnreachable,
                message: format!("ModelEndpoint {endpoint:?} is unreachable: {message}"),
            });
        }
    }
    findings.sort_by_key(|f| std::cmp::Reverse(f.severity));

    let endpoints = readiness
        .iter()
        .map(|(name, reason)| {
            let secret_missing = config
                .iter()
                .flat_map(|c| c.endpoints.iter())
                .find(|e| &e.name == name)
                .and_then(|e| e.api_key.as_ref())
                .is_some_and(|k| inputs.missing_secrets.contains(&k.name));
            let reason = match reason {
                Some(r) => Some(r.as_str()),
                None if secret_missing => Some(Cause::SecretNotFound.as_str()),
                None if inputs.unreachable.contains_key(name) => {
                    Some(Cause::EndpointUnreachable.as_str())
                }
                None => None,
            };
            EndpointReadiness {
                name: name.clone(),
                ready: reason.is_none(),
                reason: reason.map(str::to_owned),
            }
        })
        .collect();
    let has_errors = findings.iter().any(|f| f.severity == Severity::Error);
    let config = config.filter(|_| !has_errors);
    Validated {
        hash: config.as_ref().map(RouterConfig::hash),
        config,
        findings,
        secrets: if has_errors { BTreeSet::new() } else { secrets },
        endpoints,
    }
}

/// Most schema violations reported for one object.
pub const MAX_SCHEMA_VIOLATIONS: usize = 8;

/// Checks an object against the operator's own CRD schema (types, limits, patterns; the CEL
/// rules are mirrored by resolution, with better messages):
/// `field: message` for each violation, at most [`MAX_SCHEMA_VIOLATIONS`]. The API server
/// applies the same schema when the installed CRD matches this operator, so this only finds
/// something when it does not.
pub fn schema_violations<K: Serialize>(obj: &K, kind: &str) -> Vec<String> {
    let Ok(mut value) = serde_json::to_value(obj) else {
        return vec![format!(
            "the {kind} cannot be serialized for schema validation"
        )];
    };
    if let Some(map) = value.as_object_mut() {
        map.insert("kind".to_owned(), kind.into());
        map.insert(
            "apiVersion".to_owned(),
            format!("{}/{}", switchyard_crds::GROUP, switchyard_crds::VERSION).into(),
        );
        // The status is the operator's own output.
        map.remove("status");
    }
    let violations = validate_structure(&value).unwrap_or_default();
    let total = violations.len();
    let mut out: Vec<String> = violations
        .into_iter()
        .take(MAX_SCHEMA_VIOLATIONS)
        .map(|v| format!("{v} (the installed CRD should have refused this)"))
        .collect();
    if total > MAX_SCHEMA_VIOLATIONS {
        out.push(format!(
            "{} more schema violations",
            total - MAX_SCHEMA_VIOLATIONS
        ));
    }
    out
}

fn quote_list(items: &[&str]) -> String {
    items
        .iter()
        .map(|s| format!("{s:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::fixtures::{endpoint, policy};

    fn inputs(eps: Vec<ModelEndpoint>) -> Inputs {
        Inputs {
            endpoints: eps,
            ..Inputs::default()
        }
    }

    #[test]
    fn valid_policy_yields_config_hash_and_secrets() {
        let mut p = policy("qs", "");
        p.spec.auth = Some(switchyard_crds::policy::ClientAuth {
            api_keys_secret_ref: switchyard_crds::SecretKeyRef {
                name: "clients".into(),
                key: "k".into(),
            },
        });
        let v = validate(
            &p,
            &inputs(vec![endpoint("big", Some("keys")), endpoint("small", None)]),
        );
        assert!(v.findings.is_empty(), "{:?}", v.findings);
        let config = v.config.as_ref().unwrap();
        assert_eq!(v.hash.as_deref(), Some(config.hash().as_str()));
        assert_eq!(config.policies.len(), 1);
        assert_eq!(config.endpoints.len(), 2);
        assert_eq!(
            v.secrets.iter().map(String::as_str).collect::<Vec<_>>(),
            ["clients", "keys"]
        );
        assert!(v.endpoints.iter().all(|e| e.ready));
    }

    #[test]
    fn name_too_long_for_the_service_is_an_error() {
        let p = policy(&"a".repeat(names::MAX_POLICY_NAME + 1), "");
        let v = validate(
            &p,
            &inputs(vec![endpoint("big", None), endpoint("small", None)]),
        );
        assert!(v.has_errors());
        assert!(v.config.is_none());
        assert!(v.secrets.is_empty());
        assert!(
            v.findings[0].message.starts_with("metadata.name:"),
            "{:?}",
            v.findings
        );
    }

    #[test]
    fn reserved_and_duplicate_volume_names_are_errors() {
        let p = policy(
            "qs",
            "modelVolumes: [{name: tmp, persistentVolumeClaim: a}, {name: m, image: x}, {name: m, image: y}]",
        );
        let v = validate(
            &p,
            &inputs(vec![endpoint("big", None), endpoint("small", None)]),
        );
        let msgs: Vec<&str> = v.findings.iter().map(|f| f.message.as_str()).collect();
        assert!(
            msgs.iter()
                .any(|m| m.contains("modelVolumes[0].name") && m.contains("reserved")),
            "{msgs:?}"
        );
        assert!(
            msgs.iter()
                .any(|m| m.contains("modelVolumes[2].name") && m.contains("twice")),
            "{msgs:?}"
        );
    }

    #[test]
    fn missing_secret_and_unreachable_endpoint_degrade() {
        let mut i = inputs(vec![endpoint("big", Some("keys")), endpoint("small", None)]);
        i.missing_secrets.insert("keys".to_owned());
        i.unreachable
            .insert("small".to_owned(), "GET http://x answered 503".to_owned());
        let v = validate(&policy("qs", ""), &i);
        assert!(!v.has_errors());
        assert!(v.config.is_some());
        let causes: Vec<Cause> = v.findings.iter().map(|f| f.cause).collect();
        assert_eq!(causes, [Cause::SecretNotFound, Cause::EndpointUnreachable]);
        assert!(
            v.findings[0]
                .message
                .contains("does not exist in namespace \"ai\"")
        );
        let r: Vec<(&str, bool, Option<&str>)> = v
            .endpoints
            .iter()
            .map(|e| (e.name.as_str(), e.ready, e.reason.as_deref()))
            .collect();
        assert_eq!(
            r,
            [
                ("big", false, Some("SecretNotFound")),
                ("small", false, Some("EndpointUnreachable"))
            ]
        );
        // The Role keeps naming the missing Secret.
        assert!(v.secrets.contains("keys"));
    }

    #[test]
    fn referenced_endpoints_cover_routes() {
        let p = policy("qs", "");
        let r: Vec<String> = referenced_endpoints(&p.spec).into_iter().collect();
        assert_eq!(r, ["big", "small"]);
    }
}
